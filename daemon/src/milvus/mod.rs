//! What ferry knows about milvus-backup.
//!
//! - [`layout`]: a backup root's folders, meta files and their generations, the binlogs a
//!   backup's meta names, and whether they are all there.
//! - [`root`]: whether a folder is a backup root, and which one to use when it is not.
//! - [`backup_yaml`]: milvus-backup's own config file, for where its storages are.
//! - [`inspect`]: a backup root in any store, looked at without a manifest.
//! - [`restore`]: restore triggers (a program, or milvus-backup's REST server) fired exactly
//!   once per verified backup; [`rest`]: the REST server's restore API.

pub mod backup_yaml;
pub mod counts;
pub mod gate;
pub mod inspect;
pub mod layout;
pub mod rest;
pub mod restore;
pub mod root;
pub mod zilliz;
