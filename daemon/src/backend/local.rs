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
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::error::msg;
pub use super::keys::{TEMP_PREFIX, check_key};
use super::{
    DeleteFailure, Error, GetOptions, GetResult, Limits, ListEntry, ListOptions, MultipartUpload,
    ObjectMeta, ObjectStore, PartId, PutResult, Result,
};

const READ_CHUNK: usize = 256 * 1024;

/// A store rooted at a local folder.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: Arc<PathBuf>,
}

impl fmt::Display for LocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.root.display())
    }
}

impl LocalStore {
    /// A store rooted at `root` (made absolute; it need not exist yet: writes create it).
    pub fn new(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        let abs = std::path::absolute(root).map_err(|e| Error::Generic {
            path: root.display().to_string(),
            source: Box::new(e),
        })?;
        // Without `.` parts or a trailing `/`, also when the folder does not exist yet.
        let abs: PathBuf = abs.components().collect();
        let root = fs::canonicalize(&abs).unwrap_or(abs);
        Ok(LocalStore {
            root: Arc::new(root),
        })
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path a key maps to, after checking the key stays under the root.
    pub fn path_of(&self, key: &str) -> Result<PathBuf> {
        let rel = check_key(key).map_err(|reason| Error::InvalidKey {
            path: self.root.display().to_string(),
            key: key.to_owned(),
            reason,
        })?;
        Ok(self.root.join(rel))
    }

    fn label(&self, key: &str) -> String {
        if key.is_empty() {
            self.root.display().to_string()
        } else {
            format!("{}/{}", self.root.display(), key)
        }
    }

    fn io_err(&self, key: &str, e: io::Error) -> Error {
        io_error(self.label(key), e)
    }
}

pub(crate) fn io_error(path: String, e: io::Error) -> Error {
    use io::ErrorKind as K;
    match e.kind() {
        K::NotFound => Error::NotFound {
            path,
            source: Box::new(e),
        },
        K::PermissionDenied => Error::PermissionDenied {
            path,
            source: Box::new(e),
        },
        K::AlreadyExists => Error::AlreadyExists {
            path,
            source: Box::new(e),
        },
        K::Interrupted | K::TimedOut | K::WouldBlock => Error::Transient {
            path,
            source: Box::new(e),
        },
        _ => Error::Generic {
            path,
            source: Box::new(e),
        },
    }
}

fn meta_of(key: String, md: &fs::Metadata) -> ObjectMeta {
    let mtime_ns = md.mtime() as i128 * 1_000_000_000 + i128::from(md.mtime_nsec());
    let last_modified = DateTime::<Utc>::from_timestamp(md.mtime(), md.mtime_nsec() as u32);
    ObjectMeta {
        key,
        size: md.len(),
        last_modified,
        e_tag: Some(format!("{:x}-{:x}-{:x}", md.len(), mtime_ns, md.ino())),
        version: None,
        storage_class: None,
    }
}

/// Runs blocking filesystem work off the async executor.
async fn blocking<T: Send + 'static>(
    label: String,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(Error::Generic {
            path: label,
            source: Box::new(e),
        }),
    }
}

/// The name every temporary file of a write to `path` starts with:
/// `.ferry-tmp-<file name, up to 40 bytes>-<8 hex of its SHA-256>.`, so that a crashed write's
/// leftovers are found by the key alone (see [`ObjectStore::clean_interrupted`]).
fn temp_prefix(path: &Path) -> String {
    use sha2::Digest;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut cut = name.len().min(40);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let hash = sha2::Sha256::digest(name.as_bytes());
    format!("{TEMP_PREFIX}{}-{}.", &name[..cut], hex::encode(&hash[..4]))
}

/// A new temporary file for a write to `path`, in `path`'s folder (created if needed).
fn temp_file_for(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("no parent folder"))?;
    fs::create_dir_all(dir)?;
    tempfile::Builder::new()
        .prefix(&temp_prefix(path))
        .tempfile_in(dir)
}

/// Writes `data` to a temp file beside `path`, fsyncs, renames it into place, fsyncs the folder.
fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("no parent folder"))?;
    let mut tmp = temp_file_for(path)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    crate::pause::point_blocking("local-before-rename");
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

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

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
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

/// The temporary files of writes to `path` in its folder (none when it has no folder).
fn temp_files_of(path: &Path) -> Vec<PathBuf> {
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    let prefix = temp_prefix(path);
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
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

/// A multipart upload into a temp file: parts are written at their offsets, in any order.
struct LocalUpload {
    id: String,
    file: Arc<fs::File>,
    temp_path: tempfile::TempPath,
    path: PathBuf,
    label: String,
}

impl fmt::Debug for LocalUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalUpload")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl MultipartUpload for LocalUpload {
    fn id(&self) -> &str {
        &self.id
    }

    fn put_part(
        &self,
        number: u32,
        offset: u64,
        data: Bytes,
    ) -> BoxFuture<'static, Result<PartId>> {
        let file = self.file.clone();
        let label = self.label.clone();
        Box::pin(async move {
            let len = data.len();
            blocking(label.clone(), move || {
                file.write_all_at(&data, offset)
                    .map_err(|e| io_error(label, e))
            })
            .await?;
            Ok(PartId {
                number,
                content_id: format!("{offset}+{len}"),
            })
        })
    }

    async fn complete(self: Box<Self>, parts: Vec<PartId>) -> Result<PutResult> {
        let this = *self;
        let label = this.label.clone();
        let md = blocking(label.clone(), move || {
            let run = || -> io::Result<fs::Metadata> {
                let expected: u64 = parts
                    .iter()
                    .filter_map(|p| p.content_id.split_once('+'))
                    .filter_map(|(_, len)| len.parse::<u64>().ok())
                    .sum();
                this.file.set_len(expected)?;
                this.file.sync_all()?;
                crate::pause::point_blocking("local-before-rename");
                this.temp_path.persist(&this.path).map_err(|e| e.error)?;
                if let Some(dir) = this.path.parent() {
                    sync_dir(dir)?;
                }
                fs::metadata(&this.path)
            };
            run().map_err(|e| io_error(label, e))
        })
        .await?;
        Ok(PutResult {
            e_tag: meta_of(String::new(), &md).e_tag,
            version: None,
        })
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        let this = *self;
        let label = this.label.clone();
        blocking(label.clone(), move || {
            this.temp_path.close().map_err(|e| io_error(label, e))
        })
        .await
    }
}

/// Walks a folder tree in S3 key order and sends entries down a channel.
struct Walker<'a> {
    store: &'a LocalStore,
    tx: &'a tokio::sync::mpsc::Sender<Result<ListEntry>>,
    delimiter: bool,
    start_after: Option<&'a str>,
}

struct DirEntryInfo {
    name: String,
    is_dir: bool,
    sort_key: String,
}

impl Walker<'_> {
    fn send(&self, item: Result<ListEntry>) -> bool {
        self.tx.blocking_send(item).is_ok()
    }

    fn run(&self, prefix: &str) {
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
