//! A local store's root: how keys map to paths under it, how file metadata becomes object
//! metadata, and how I/O errors map to the store's errors.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::backend::keys::check_key;
use crate::backend::{Error, ObjectMeta, Result};

/// A store rooted at a local folder.
#[derive(Debug, Clone)]
pub struct LocalStore {
    pub(super) root: Arc<PathBuf>,
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

    pub(super) fn label(&self, key: &str) -> String {
        if key.is_empty() {
            self.root.display().to_string()
        } else {
            format!("{}/{}", self.root.display(), key)
        }
    }

    pub(super) fn io_err(&self, key: &str, e: io::Error) -> Error {
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

pub(super) fn meta_of(key: String, md: &fs::Metadata) -> ObjectMeta {
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
pub(super) async fn blocking<T: Send + 'static>(
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
