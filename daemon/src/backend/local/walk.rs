//! Listing a folder tree in S3 key order: directory entries and metadata only, never contents.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::root::{LocalStore, meta_of};
use crate::backend::keys::TEMP_PREFIX;
use crate::backend::{Error, ListEntry, Result};

/// Walks a folder tree in S3 key order and sends entries down a channel.
pub(super) struct Walker<'a> {
    pub(super) store: &'a LocalStore,
    pub(super) tx: &'a tokio::sync::mpsc::Sender<Result<ListEntry>>,
    pub(super) delimiter: bool,
    pub(super) start_after: Option<&'a str>,
}

pub(super) struct DirEntryInfo {
    name: String,
    is_dir: bool,
    sort_key: String,
}

impl Walker<'_> {
    fn send(&self, item: Result<ListEntry>) -> bool {
        self.tx.blocking_send(item).is_ok()
    }

    pub(super) fn run(&self, prefix: &str) {
        let (dir_part, name_prefix) = match prefix.rfind('/') {
            Some(i) => (&prefix[..i], &prefix[i + 1..]),
            None => ("", prefix),
        };
        let dir = if dir_part.is_empty() {
            self.store.root.to_path_buf()
        } else {
            match self.store.path_of(dir_part) {
                Ok(p) => p,
                Err(e) => {
                    self.send(Err(e));
                    return;
                }
            }
        };
        let base = if dir_part.is_empty() {
            String::new()
        } else {
            format!("{dir_part}/")
        };
        // A missing folder is an empty listing, as on S3.
        if !dir.is_dir() {
            return;
        }
        let mut path = Vec::new();
        if let Ok(md) = fs::metadata(&dir) {
            path.push((md.dev(), md.ino()));
        }
        self.visit(&dir, &base, name_prefix, &mut path);
    }

    /// Visits one folder; returns false when the receiver is gone. `path` holds the device and
    /// inode of each folder from the listing's start down to `dir`: a folder met again below
    /// itself (a symbolic link to an ancestor) is refused, once, instead of followed forever.
    fn visit(&self, dir: &Path, base: &str, name_prefix: &str, path: &mut Vec<(u64, u64)>) -> bool {
        let entries = match self.read_sorted(dir, base, name_prefix) {
            Ok(e) => e,
            Err(e) => return self.send(Err(self.store.io_err(base, e))),
        };
        for entry in entries {
            let key = format!("{base}{}", entry.sort_key);
            if entry.is_dir {
                if let Some(after) = self.start_after
                    && key.as_str() <= after
                    && !after.starts_with(&key)
                {
                    continue;
                }
                let ok = if self.delimiter {
                    self.start_after.is_some_and(|a| key.as_str() <= a)
                        || self.send(Ok(ListEntry::Prefix(key)))
                } else {
                    let sub = dir.join(&entry.name);
                    match fs::metadata(&sub) {
                        Ok(md) if path.contains(&(md.dev(), md.ino())) => {
                            self.send(Err(Error::InvalidKey {
                                path: self.store.label(&key),
                                key: key.clone(),
                                reason: "a symbolic link loop: it leads back to a folder above it; not followed",
                            }))
                        }
                        Ok(md) => {
                            path.push((md.dev(), md.ino()));
                            let ok = self.visit(&sub, &key, "", path);
                            path.pop();
                            ok
                        }
                        // Gone since it was read: nothing to list.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
                        Err(e) => self.send(Err(self.store.io_err(&key, e))),
                    }
                };
                if !ok {
                    return false;
                }
            } else {
                if self.start_after.is_some_and(|a| key.as_str() <= a) {
                    continue;
                }
                let item = fs::metadata(dir.join(&entry.name))
                    .map(|md| ListEntry::Object(meta_of(key.clone(), &md)))
                    .map_err(|e| self.store.io_err(&key, e));
                // A file deleted between readdir and stat is simply gone.
                if matches!(&item, Err(Error::NotFound { .. })) {
                    continue;
                }
                if !self.send(item) {
                    return false;
                }
            }
        }
        true
    }

    fn read_sorted(
        &self,
        dir: &Path,
        base: &str,
        name_prefix: &str,
    ) -> io::Result<Vec<DirEntryInfo>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                let shown = entry.file_name().to_string_lossy().into_owned();
                let err = Error::InvalidKey {
                    path: self.store.label(base),
                    key: format!("{base}{shown}"),
                    reason: "file name is not valid UTF-8",
                };
                if !self.send(Err(err)) {
                    return Ok(Vec::new());
                }
                continue;
            };
            if name.starts_with(TEMP_PREFIX) || !name.starts_with(name_prefix) {
                continue;
            }
            // Follow symlinks to decide file vs folder; skip dangling links and sockets.
            let md = match fs::metadata(entry.path()) {
                Ok(md) => md,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if !md.is_dir() && !md.is_file() {
                continue;
            }
            let is_dir = md.is_dir();
            let sort_key = if is_dir {
                format!("{name}/")
            } else {
                name.clone()
            };
            out.push(DirEntryInfo {
                name,
                is_dir,
                sort_key,
            });
        }
        out.sort_unstable_by(|a, b| a.sort_key.as_bytes().cmp(b.sort_key.as_bytes()));
        Ok(out)
    }
}
