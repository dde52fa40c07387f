//! Moving objects between stores.
//!
//! - [`transfer`]: one object from a store to another: server-side when the two ends allow
//!   it, else streamed through bounded memory; transient failures retried with backoff.
//! - [`cp`]: mc's `cp` rules (what lands where) and the parallel runner behind `ferry cp`.
//!
//! - [`diff`]: compare two trees (sizes, manifest-known content, or SHA-256 of both sides).
//! - [`mirror`]: the manifest-driven scan → plan → transfer engine of `ferry mirror` and
//!   `ferryd`.
//! - `backups`: with [`mirror::MirrorOptions::backups`], a milvus-backup backup reaches the
//!   target whole, verified, `meta/backup_meta.json` last.

mod backups;
pub mod cp;
pub mod diff;
pub mod mirror;
pub mod pipeline;
pub mod transfer;
