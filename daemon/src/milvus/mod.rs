//! What ferry knows about milvus-backup.
//!
//! - [`layout`]: a backup root's folders, meta files and their generations, the binlogs a
//!   backup's meta names, and whether they are all there.

pub mod layout;
