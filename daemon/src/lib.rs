//! ferry's engine, shared by the `ferryd` daemon and the `ferry` CLI.
//!
//! - [`backend`]: the store trait and its backends (S3, local folders).
//! - [`alias`]: the mc-compatible alias file and `MC_HOST_*` / `FERRY_HOST_*` overrides.
//! - [`location`]: `ALIAS/bucket/prefix` or local path → a store and a key.
//! - [`sync`]: copying objects between stores (the scan → plan → transfer engine).

pub mod alias;
pub mod backend;
pub mod config;
pub mod location;
pub mod sync;
