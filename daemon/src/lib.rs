//! ferry's engine, shared by the `ferryd` daemon and the `ferry` CLI.
//!
//! - [`backend`]: the store trait and its backends (S3, local folders).
//! - [`alias`]: the mc-compatible alias file and `MC_HOST_*` / `FERRY_HOST_*` overrides.
//! - [`location`]: `ALIAS/bucket/prefix` or local path → a store and a key.
//! - [`sync`]: copying objects between stores (the scan → plan → transfer engine).
//! - [`milvus`]: the milvus-backup layout (meta files, binlogs, completeness) and restores.
//! - [`config`], [`jobs`], [`watch`], [`control`]: the `ferryd` daemon: its TOML config, the
//!   job loops, local folder watching, and the HTTP control API (server and client).
//! - [`pause`]: test hooks at race points (inert unless `FERRY_PAUSE_AT` is set).

pub mod alias;
pub mod backend;
pub mod clock;
pub mod config;
pub mod control;
pub mod http;
pub mod jobs;
pub mod location;
pub mod lock;
pub mod milvus;
pub mod pause;
pub mod retry;
pub mod sync;
pub mod tls;
pub mod watch;
