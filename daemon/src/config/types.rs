//! What a config is once checked: the daemon's settings, its jobs, and the error that names
//! the file and line when it is not.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::location::Location;
use crate::sync::filter::MaxDelete;

/// A config error, pointing at the file and (when known) the line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Syntax, type, unknown key or bad value.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// The control API's settings.
#[derive(Clone)]
pub struct ControlConfig {
    /// Where it listens (`127.0.0.1:7870` unless set).
    pub listen: SocketAddr,
    /// Bearer token required on every request except `/metrics` when set (mandatory when
    /// listening on a non-loopback address).
    pub token: Option<String>,
}

impl std::fmt::Debug for ControlConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// One replication job.
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// Unique name (letters, digits, `-`, `_`).
    pub name: String,
    /// Where objects come from.
    pub source: Location,
    /// Where they go.
    pub target: Location,
    /// Relative keys that are mirrored (matching any); default: the milvus-backup layout.
    pub include: Vec<String>,
    /// Relative keys that are skipped.
    pub exclude: Vec<String>,
    /// Delete target objects whose source is gone.
    pub remove: bool,
    /// Cap on deletions per run.
    pub max_delete: Option<MaxDelete>,
    /// Time between polling scans (every source; the only change feed for S3 without webhooks).
    pub interval: Duration,
    /// Watch a local source for changes (inotify).
    pub watch: bool,
    /// Time between full reconciles that also list the target (`None`: never).
    pub reconcile: Option<Duration>,
    /// Objects copied at once by this job.
    pub workers: usize,
    /// Bytes per second this job may read from its source (`None`: unlimited).
    pub bandwidth: Option<u64>,
    /// S3 source, Azure target: Azure reads objects through presigned URLs (`from_url`).
    pub from_url: bool,
    /// Each multipart copy's whole MD5 stored with the object where the target keeps one
    /// (Azure's Content-MD5), `md5 = true`.
    pub md5: bool,
    /// `verify = true`: read every object of a backup back from the target before announcing
    /// it, even what the target proved by checking its upload's signed SHA-256.
    pub verify: bool,
    /// `layout = "milvus-backup"` (the default): the source is a backup root; each backup
    /// reaches the target whole, verified, `meta/backup_meta.json` last. `"plain"`: objects
    /// are mirrored one by one in any order.
    pub backups: bool,
    /// `[jobs.restore]`: restore verified backups at the target.
    pub restore: Option<crate::milvus::restore::RestoreConfig>,
}

/// The whole config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// Folder of the alias file ferryd reads (`alias_dir`).
    pub alias_dir: PathBuf,
    /// Folder of the manifest.
    pub state_dir: PathBuf,
    /// Control API.
    pub control: ControlConfig,
    /// Objects copied at once by all jobs together.
    pub max_transfers: usize,
    pub jobs: Vec<JobConfig>,
}

/// Default include globs: the milvus-backup layout below a backup root (`<name>/meta/...`,
/// `<name>/binlogs/...`, `<name>/bundle/...`).
pub const BACKUP_LAYOUT: &[&str] = &["*/meta/**", "*/binlogs/**", "*/bundle/**"];
