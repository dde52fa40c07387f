//! ferry-state: the manifest. It owns every byte ferry keeps in RocksDB.
//!
//! One typed schema per column family ([`schema`]), big-endian keys with the grouping prefix
//! first, values that start with a format version, multi-row updates in one atomic
//! [`Batch`]. Raw bytes never leave this crate.

pub mod codec;
#[cfg(feature = "db")]
mod db;
pub mod schema;

#[cfg(feature = "db")]
pub use db::{Batch, FORMAT_VERSION, Manifest, Result, StateError};
pub use schema::{
    BackupKey, BackupRecord, BackupState, BackupsSchema, CollectionCount, Evidence, ObjectKey,
    ObjectRecord, ObjectsSchema, PairId, PairRecord, PairsSchema, RestoreKey, RestoreOrigin,
    RestoreRecord, RestoreState, RestoreStep, RestoresSchema, TargetCheck, UploadRecord,
    UploadState, UploadsSchema,
};
