//! The local filesystem backend.
//!
//! A key maps to a path under the store's root, one path segment per `/`-separated part of
//! the key. Keys that could leave the root or that a filesystem cannot hold are refused with
//! [`Error::InvalidKey`]: empty keys, a leading `/`, `.` or `..` segments, empty segments
//! (`a//b`), NUL bytes, and names starting with [`TEMP_PREFIX`] (reserved for in-flight writes).
//! A trailing `/` names a directory marker (S3's zero-byte "folder" object).
//!
//! Writes go to a temporary file in the destination folder, are fsynced, renamed into place
//! and the folder is fsynced: a reader sees the old object or the whole new one, never half.
//!
//! Listing reads directory entries and file metadata only, never contents. The ETag is a
//! cheap fingerprint, `<size>-<mtime ns>-<inode>` in hex: it changes whenever the file is
//! rewritten, but it is **not** a content hash (content hashes come from the transfer pass).
//! Symbolic links are followed. Non-UTF-8 file names cannot be keys: listing reports them as
//! errors and goes on.

use std::any::Any;
use std::fs;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::error::msg;
pub use super::keys::{TEMP_PREFIX, check_key};
use super::{
    DeleteFailure, Error, GetOptions, GetResult, Limits, ListEntry, ListOptions, MultipartUpload,
    ObjectMeta, ObjectStore, PutResult, Result,
};

mod root;
mod walk;
mod write;

pub use root::LocalStore;
pub(crate) use root::io_error;
use root::{blocking, meta_of};
use walk::Walker;
use write::{LocalUpload, sync_dir, temp_file_for, temp_files_of, write_atomic};

const READ_CHUNK: usize = 256 * 1024;

impl LocalStore {
    /// Opens a whole regular file in one blocking call (open and metadata together, and for
    /// a file of up to [`READ_CHUNK`] the read too), instead of a hand-off to the blocking pool
    /// and back for each step. `None` for anything else, errors included: the general path
    /// then reads it, or says what is wrong.
    async fn open_whole(&self, key: &str) -> Option<Opened> {
        let path = self.path_of(key).ok()?;
        let opened = tokio::task::spawn_blocking(move || -> io::Result<Option<Opened>> {
            let f = fs::File::open(&path)?;
            let md = f.metadata()?;
            if !md.is_file() {
                return Ok(None);
            }
            if md.len() > READ_CHUNK as u64 {
                return Ok(Some(Opened::Large(md, f)));
            }
            let mut buf = Vec::with_capacity(md.len() as usize);
            // No more than the size the metadata reports: a file growing meanwhile is the
            // caller's length check's business, not a longer body.
            f.take(md.len()).read_to_end(&mut buf)?;
            Ok(Some(Opened::Small(md, buf)))
        });
        opened.await.ok()?.ok()?
    }

    /// `len` bytes of `file` from where it stands, as a stream of chunks.
    fn stream(&self, key: &str, file: tokio::fs::File, len: u64) -> super::ByteStream {
        let label = self.label(key);
        tokio_util::io::ReaderStream::with_capacity(file.take(len), READ_CHUNK)
            .map(move |r| r.map_err(|e| io_error(label.clone(), e)))
            .boxed()
    }
}

/// A whole file opened by [`LocalStore::open_whole`].
enum Opened {
    /// Read already.
    Small(fs::Metadata, Vec<u8>),
    /// Open, to be streamed.
    Large(fs::Metadata, fs::File),
}

#[async_trait]
impl ObjectStore for LocalStore {
    fn list(&self, prefix: &str, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<ListEntry>>(512);
        let store = self.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || {
            let walker = Walker {
                store: &store,
                tx: &tx,
                delimiter: options.delimiter,
                start_after: options.start_after.as_deref(),
            };
            walker.run(&prefix);
        });
        futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .boxed()
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        let path = self.path_of(key)?;
        let md = tokio::fs::metadata(&path)
            .await
            .map_err(|e| self.io_err(key, e))?;
        if md.is_dir() != key.ends_with('/') {
            return Err(Error::NotFound {
                path: self.label(key),
                source: msg(if md.is_dir() {
                    "is a folder"
                } else {
                    "is a file"
                }),
            });
        }
        Ok(meta_of(key.to_owned(), &md))
    }

    async fn get(&self, key: &str, options: GetOptions) -> Result<GetResult> {
        if options.range.is_none() && !key.ends_with('/') {
            match self.open_whole(key).await {
                Some(Opened::Small(md, buf)) => {
                    let len = buf.len() as u64;
                    return Ok(GetResult {
                        meta: meta_of(key.to_owned(), &md),
                        range: 0..len,
                        body: futures::stream::once(async move { Ok(Bytes::from(buf)) }).boxed(),
                    });
                }
                Some(Opened::Large(md, f)) => {
                    let len = md.len();
                    return Ok(GetResult {
                        meta: meta_of(key.to_owned(), &md),
                        range: 0..len,
                        body: self.stream(key, tokio::fs::File::from_std(f), len),
                    });
                }
                None => {}
            }
        }
        let meta = self.head(key).await?;
        let path = self.path_of(key)?;
        let range = match options.range {
            Some(r) if r.start > r.end || r.end > meta.size => {
                return Err(Error::Generic {
                    path: self.label(key),
                    source: msg(format!("range {r:?} outside object of {} bytes", meta.size)),
                });
            }
            Some(r) => r,
            None => 0..meta.size,
        };
        if key.ends_with('/') {
            return Ok(GetResult {
                meta,
                range: 0..0,
                body: futures::stream::empty().boxed(),
            });
        }
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| self.io_err(key, e))?;
        if range.start > 0 {
            file.seek(io::SeekFrom::Start(range.start))
                .await
                .map_err(|e| self.io_err(key, e))?;
        }
        let body = self.stream(key, file, range.end - range.start);
        Ok(GetResult { meta, range, body })
    }

    async fn put(&self, key: &str, payload: Bytes) -> Result<PutResult> {
        let path = self.path_of(key)?;
        let label = self.label(key);
        let is_dir_marker = key.ends_with('/');
        let meta = blocking(label.clone(), move || {
            let r = if is_dir_marker {
                if !payload.is_empty() {
                    return Err(Error::InvalidKey {
                        path: label,
                        key: String::new(),
                        reason: "a key ending in `/` is a folder and cannot hold data here",
                    });
                }
                fs::create_dir_all(&path)
            } else {
                write_atomic(&path, &payload)
            };
            r.and_then(|()| fs::metadata(&path))
                .map_err(|e| io_error(label, e))
        })
        .await?;
        Ok(PutResult {
            e_tag: meta_of(String::new(), &meta).e_tag,
            version: None,
        })
    }

    async fn put_multipart(&self, key: &str) -> Result<Box<dyn MultipartUpload>> {
        if key.ends_with('/') {
            return Err(Error::InvalidKey {
                path: self.label(""),
                key: key.to_owned(),
                reason: "a key ending in `/` is a folder and cannot hold data here",
            });
        }
        let path = self.path_of(key)?;
        let label = self.label(key);
        let upload = blocking(label.clone(), move || {
            let tmp = temp_file_for(&path).map_err(|e| io_error(label.clone(), e))?;
            let (file, temp_path) = tmp.into_parts();
            let id = temp_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(LocalUpload {
                id,
                file: Arc::new(file),
                temp_path,
                path,
                label,
            })
        })
        .await?;
        Ok(Box::new(upload))
    }

    async fn copy_from(
        &self,
        src: &dyn ObjectStore,
        src_key: &str,
        _size: u64,
        dst_key: &str,
    ) -> Result<PutResult> {
        let src = super::same_kind::<LocalStore>(src, self.label(dst_key))?;
        if src_key.ends_with('/') || dst_key.ends_with('/') {
            return Err(Error::NotSupported {
                path: self.label(dst_key),
                operation: "copying a folder marker",
            });
        }
        let from = src.path_of(src_key)?;
        let to = self.path_of(dst_key)?;
        let src_label = src.label(src_key);
        let label = self.label(dst_key);
        let meta = blocking(label.clone(), move || {
            let src_md = fs::metadata(&from).map_err(|e| io_error(src_label.clone(), e))?;
            if !src_md.is_file() {
                return Err(Error::NotFound {
                    path: src_label,
                    source: msg("not a file"),
                });
            }
            let dir = to.parent().map(Path::to_path_buf).unwrap_or_default();
            let run = || -> io::Result<fs::Metadata> {
                let tmp = temp_file_for(&to)?;
                fs::copy(&from, tmp.path())?;
                tmp.as_file().sync_all()?;
                crate::pause::point_blocking("local-before-rename");
                tmp.persist(&to).map_err(|e| e.error)?;
                sync_dir(&dir)?;
                fs::metadata(&to)
            };
            run().map_err(|e| io_error(label, e))
        })
        .await?;
        Ok(PutResult {
            e_tag: meta_of(String::new(), &meta).e_tag,
            version: None,
        })
    }

    async fn delete(&self, keys: &[String]) -> Result<Vec<DeleteFailure>> {
        let store = self.clone();
        let keys = keys.to_vec();
        blocking(self.label(""), move || {
            let mut failures = Vec::new();
            for key in keys {
                let path = match store.path_of(&key) {
                    Ok(p) => p,
                    Err(error) => {
                        failures.push(DeleteFailure { key, error });
                        continue;
                    }
                };
                let r = if key.ends_with('/') {
                    fs::remove_dir(&path)
                } else {
                    fs::remove_file(&path)
                };
                match r {
                    Ok(()) => store.prune_empty_parents(&path),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        let error = store.io_err(&key, e);
                        failures.push(DeleteFailure { key, error });
                    }
                }
            }
            Ok(failures)
        })
        .await
    }

    fn signs_payloads(&self) -> bool {
        // Files are written by ferry itself: no server checks them (read back instead).
        false
    }

    fn limits(&self) -> Limits {
        Limits {
            min_part_size: 1,
            max_part_size: u64::MAX,
            max_parts: 10_000,
        }
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        if !upload_id.starts_with(TEMP_PREFIX) || upload_id.contains('/') {
            return Err(Error::InvalidKey {
                path: self.label(key),
                key: upload_id.to_owned(),
                reason: "not an upload id of the local backend",
            });
        }
        let path = self.path_of(key)?;
        let tmp = path.parent().unwrap_or(self.root.as_path()).join(upload_id);
        match tokio::fs::remove_file(&tmp).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io_err(key, e)),
        }
    }

    async fn list_multipart(&self, key: &str) -> Result<Vec<String>> {
        let path = self.path_of(key)?;
        blocking(self.label(key), move || Ok(temp_files_of(&path)))
            .await
            .map(|paths| {
                paths
                    .iter()
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect()
            })
    }

    async fn list_uploads(&self, prefix: &str) -> Result<Vec<super::Upload>> {
        // The folder the prefix names (or lies in); every temporary file below it.
        let dir_key = match prefix.rfind('/') {
            Some(i) => &prefix[..=i],
            None => "",
        };
        let start = if dir_key.is_empty() {
            self.root.as_path().to_path_buf()
        } else {
            self.path_of(dir_key)?
        };
        let root = self.root.as_path().to_path_buf();
        let prefix = prefix.to_owned();
        blocking(self.label(dir_key), move || {
            let mut out = Vec::new();
            let mut stack = vec![start];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = fs::read_dir(&dir) else {
                    continue;
                };
                for e in entries.flatten() {
                    let path = e.path();
                    let name = e.file_name().to_string_lossy().into_owned();
                    let Ok(ft) = e.file_type() else { continue };
                    if ft.is_dir() {
                        stack.push(path);
                        continue;
                    }
                    let Some(rest) = name.strip_prefix(TEMP_PREFIX) else {
                        continue;
                    };
                    // `<name, up to 40 bytes>-<8 hex>.<random>`: the key it was written for.
                    let target = rest
                        .rsplit_once('.')
                        .and_then(|(head, _)| head.rsplit_once('-'))
                        .map_or(rest, |(name, _)| name);
                    let folder = dir
                        .strip_prefix(&root)
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let key = if folder.is_empty() {
                        target.to_owned()
                    } else {
                        format!("{folder}/{target}")
                    };
                    if !key.starts_with(&prefix) {
                        continue;
                    }
                    let initiated = e
                        .metadata()
                        .ok()
                        .and_then(|m| m.modified().ok())
                        .map(chrono::DateTime::<chrono::Utc>::from);
                    out.push(super::Upload {
                        key,
                        upload_id: name,
                        initiated,
                    });
                }
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
    }

    async fn clean_interrupted(&self, key: &str) -> Result<()> {
        if key.ends_with('/') {
            return Ok(());
        }
        let path = self.path_of(key)?;
        let store = self.clone();
        let label = self.label(key);
        blocking(label.clone(), move || {
            for tmp in temp_files_of(&path) {
                match fs::remove_file(&tmp) {
                    Ok(()) => {
                        tracing::info!(file = %tmp.display(), "removed the temporary file of an interrupted write");
                        store.prune_empty_parents(&tmp);
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_error(label, e)),
                }
            }
            Ok(())
        })
        .await
    }

    fn url(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn canonical(&self, key: &str) -> String {
        format!("file://{}/{key}", self.root.display())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl LocalStore {
    /// Removes folders left empty by a delete, up to (not including) the root, as S3 prefixes
    /// vanish with their last object.
    fn prune_empty_parents(&self, path: &Path) {
        let mut cur = path.parent();
        while let Some(dir) = cur {
            if dir == self.root.as_path() || !dir.starts_with(self.root.as_path()) {
                break;
            }
            if fs::remove_dir(dir).is_err() {
                break;
            }
            cur = dir.parent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_escape_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a\0b",
            "/",
            ".ferry-tmp-x",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(check_key("a/b c/ü.bin"), Ok("a/b c/ü.bin"));
        assert_eq!(check_key("dir/"), Ok("dir"));
        assert_eq!(check_key("..a/b.."), Ok("..a/b.."));
    }

    #[tokio::test]
    async fn put_refuses_escaping_key_and_writes_nothing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("root");
        let store = LocalStore::new(&root).expect("store");
        let err = store
            .put("../outside", Bytes::from_static(b"x"))
            .await
            .expect_err("escaping key must be refused");
        assert!(matches!(err, Error::InvalidKey { .. }), "{err:?}");
        assert!(!tmp.path().join("outside").exists());
        assert!(!root.exists());
    }
}
