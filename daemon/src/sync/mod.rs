//! Moving objects between stores.
//!
//! - [`transfer`]: one object from a store to another: server-side when the two ends allow
//!   it, else streamed through bounded memory; transient failures retried with backoff.
//! - [`cp`]: mc's `cp` rules (what lands where) and the parallel runner behind `ferry cp`.
//!
//! - [`side`]: one end (a store and a prefix); [`filter`]: include/exclude patterns and the
//!   cap on deletions.
//! - [`diff`]: compare two trees (sizes, manifest-known content, or SHA-256 of both sides).
//! - [`mirror`]: the manifest-driven scan → plan → transfer engine of `ferry mirror` and
//!   `ferryd`.
//! - [`policy`]: how a kind of tree (a milvus-backup backup root: `milvus::gate`) plugs into
//!   the mirror engine.

pub mod cp;
pub mod diff;
pub mod filter;
pub mod mirror;
pub mod pipeline;
pub mod plan;
pub mod policy;
pub mod progress;
pub mod report;
pub mod side;
pub mod transfer;
