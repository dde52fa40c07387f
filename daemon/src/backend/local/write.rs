//! Writes that a reader never sees half done: a temporary file beside the target, named after
//! it so that a crashed write's leftovers are found by the key alone, fsynced and renamed into
//! place; and multipart uploads written into such a file at their parts' offsets.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;

use super::root::{blocking, io_error, meta_of};
use crate::backend::keys::TEMP_PREFIX;
use crate::backend::{MultipartUpload, PartId, PutResult, Result};

/// The name every temporary file of a write to `path` starts with:
/// `.ferry-tmp-<file name, up to 40 bytes>-<8 hex of its SHA-256>.`, so that a crashed write's
/// leftovers are found by the key alone (see [`ObjectStore::clean_interrupted`]).
pub(super) fn temp_prefix(path: &Path) -> String {
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

/// A new temporary file for a write to `path`, in `path`'s folder (created if needed). It is
/// created `0666` less the umask, as `cp` and `mc cp` create files (tempfile's default is
/// `0600`), and its errors do not name it: the caller names the object.
pub(super) fn temp_file_for(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("no parent folder"))?;
    fs::create_dir_all(dir)?;
    tempfile::Builder::new()
        .prefix(&temp_prefix(path))
        .permissions(fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(without_temp_path)
}

/// tempfile's errors end with ` at path "<the temporary file>"`: a name the user never gave.
fn without_temp_path(e: io::Error) -> io::Error {
    let text = e.to_string();
    match text.find(" at path ") {
        Some(i) => io::Error::new(e.kind(), text[..i].to_owned()),
        None => e,
    }
}

/// Writes `data` to a temp file beside `path`, fsyncs, renames it into place, fsyncs the folder.
pub(super) fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
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

pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// The temporary files of writes to `path` in its folder (none when it has no folder).
pub(super) fn temp_files_of(path: &Path) -> Vec<PathBuf> {
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

/// A multipart upload into a temp file: parts are written at their offsets, in any order.
pub(super) struct LocalUpload {
    pub(super) id: String,
    pub(super) file: Arc<fs::File>,
    pub(super) temp_path: tempfile::TempPath,
    pub(super) path: PathBuf,
    pub(super) label: String,
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
