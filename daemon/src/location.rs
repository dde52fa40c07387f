//! Command-line targets: `ALIAS/bucket/prefix` or a local path, as in mc.
//!
//! An argument whose first `/`-separated part names an alias (from the environment or the
//! alias file) is remote; anything else is a local path. Arguments starting with `/`, `./`,
//! `../` or `~` are always local.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::alias::{AliasEntry, AliasError, ConfigDir};
use crate::backend::azure::AzureEndpoint;
use crate::backend::local::LocalStore;
use crate::backend::s3::{BucketInfo, S3Endpoint};
use crate::backend::{self, ObjectStore};

/// Errors turning an argument into a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocationError {
    /// The alias file or an override is broken.
    #[error(transparent)]
    Alias(#[from] AliasError),
    /// The store could not be set up.
    #[error(transparent)]
    Store(#[from] backend::Error),
    /// A target that needs a bucket has none.
    #[error("{target}: a bucket is needed here (ALIAS/BUCKET[/PREFIX])")]
    NoBucket { target: String },
    /// An invalid bucket name.
    #[error("{target}: invalid bucket name {bucket:?} ({reason})")]
    BadBucket {
        target: String,
        bucket: String,
        reason: &'static str,
    },
}

/// A parsed target.
#[derive(Debug, Clone)]
pub enum Location {
    /// A local path, as typed.
    Local {
        path: PathBuf,
        /// Whether the argument ended with `/`.
        trailing_slash: bool,
    },
    /// An S3 alias target.
    Remote {
        /// Alias name.
        alias: String,
        /// The alias settings.
        entry: Box<AliasEntry>,
        /// Bucket, when given.
        bucket: Option<String>,
        /// Key or prefix inside the bucket (may be empty; keeps a trailing `/`).
        key: String,
        /// Whether the argument ended with `/`.
        trailing_slash: bool,
    },
}

impl Location {
    /// How to show the target in messages (never with credentials).
    pub fn display(&self) -> String {
        match self {
            Location::Local {
                path,
                trailing_slash,
            } => {
                let mut s = path.display().to_string();
                if *trailing_slash && !s.ends_with('/') {
                    s.push('/');
                }
                s
            }
            Location::Remote {
                alias, bucket, key, ..
            } => match bucket {
                None => alias.clone(),
                Some(b) if key.is_empty() => format!("{alias}/{b}"),
                Some(b) => format!("{alias}/{b}/{key}"),
            },
        }
    }

    /// True for a remote target.
    pub fn is_remote(&self) -> bool {
        matches!(self, Location::Remote { .. })
    }

    /// Whether the argument ended with `/` (a folder).
    pub fn trailing_slash(&self) -> bool {
        match self {
            Location::Local { trailing_slash, .. } | Location::Remote { trailing_slash, .. } => {
                *trailing_slash
            }
        }
    }
}

/// Parses a target argument, resolving aliases from the environment and the alias file.
pub fn parse(arg: &str, config: &ConfigDir) -> Result<Location, LocationError> {
    parse_with(arg, &|name| config.resolve(name))
}

/// Parses a target argument with another alias lookup (ferryd: its config's aliases first).
pub fn parse_with(
    arg: &str,
    resolve: &dyn Fn(&str) -> Result<Option<AliasEntry>, AliasError>,
) -> Result<Location, LocationError> {
    let explicit_local = arg.starts_with('/')
        || arg.starts_with("./")
        || arg.starts_with("../")
        || arg.starts_with('~')
        || arg == "."
        || arg == "..";
    if !explicit_local {
        let (head, rest) = match arg.split_once('/') {
            Some((h, r)) => (h, r),
            None => (arg, ""),
        };
        if crate::alias::validate_name(head).is_ok()
            && let Some(entry) = resolve(head)?
        {
            let rest = rest.trim_start_matches('/');
            let (bucket, key) = match rest.split_once('/') {
                Some((b, k)) => (b, k),
                None => (rest, ""),
            };
            let bucket = (!bucket.is_empty()).then(|| bucket.to_owned());
            if let Some(b) = &bucket {
                check_bucket(arg, b)?;
            }
            return Ok(Location::Remote {
                alias: head.to_owned(),
                entry: Box::new(entry),
                bucket,
                key: key.to_owned(),
                trailing_slash: arg.ends_with('/'),
            });
        }
    }
    let expanded = match arg.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(arg),
    };
    Ok(Location::Local {
        path: expanded,
        trailing_slash: arg.ends_with('/'),
    })
}

/// The first path component of a local argument that does not exist, when that component
/// could have been meant as an alias (`nosuch/bucket/key`). Used to refuse typos before
/// writing into a new local folder.
pub fn missing_alias_like_head(arg: &str) -> Option<&str> {
    if arg.starts_with('/') || arg.starts_with('.') || arg.starts_with('~') {
        return None;
    }
    let (head, rest) = arg.split_once('/')?;
    if rest.is_empty() || crate::alias::validate_name(head).is_err() || Path::new(head).exists() {
        return None;
    }
    Some(head)
}

/// The file standing where a local target needs a folder: `path` itself when a folder is
/// needed there, or the first of its parents that exists and is not a folder. A copy into it
/// would fail once per object ("Not a directory"); callers refuse it once instead.
pub fn file_in_the_way(path: &Path, folder: bool) -> Option<PathBuf> {
    // Without a trailing `/`: `file.txt/` would not be found at all (ENOTDIR).
    let path: PathBuf = path.components().collect();
    let start = if folder {
        Some(path.as_path())
    } else {
        path.parent()
    };
    for p in start.into_iter().flat_map(Path::ancestors) {
        if p.as_os_str().is_empty() {
            break;
        }
        match std::fs::metadata(p) {
            Ok(md) if md.is_dir() => return None,
            Ok(_) => return Some(p.to_path_buf()),
            Err(_) => {}
        }
    }
    None
}

/// The alias a bare local name (no `/`, not there) was probably meant to be: one of
/// `aliases` at most two edits away (`sitB` for `siteB`). mc treats a bare name as a local
/// path too; copying into a new folder by a typo is what this catches.
pub fn mistyped_alias<'a>(
    arg: &str,
    aliases: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let name = arg.trim_end_matches('/');
    if name.len() < 3
        || name.contains('/')
        || arg.starts_with('.')
        || arg.starts_with('~')
        || Path::new(name).exists()
    {
        return None;
    }
    aliases
        .into_iter()
        .filter(|a| *a != name)
        .map(|a| {
            (
                strsim::damerau_levenshtein(&a.to_lowercase(), &name.to_lowercase()),
                a,
            )
        })
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn check_bucket(target: &str, bucket: &str) -> Result<(), LocationError> {
    let bad = |reason| LocationError::BadBucket {
        target: target.to_owned(),
        bucket: bucket.to_owned(),
        reason,
    };
    if bucket.len() < 3 || bucket.len() > 63 {
        return Err(bad("3 to 63 characters"));
    }
    if !bucket
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'_'))
    {
        return Err(bad("lowercase letters, digits, '.', '-' and '_' only"));
    }
    Ok(())
}

/// One alias's service: an S3 endpoint or an Azure Blob account.
#[derive(Debug, Clone)]
pub enum Endpoint {
    S3(S3Endpoint),
    Azure(AzureEndpoint),
}

impl Endpoint {
    /// Connects the client an alias stands for (no request is sent).
    pub async fn connect(alias: &str, entry: &AliasEntry) -> Result<Endpoint, LocationError> {
        entry.validate(alias)?;
        if entry.is_azure() {
            let cfg = entry.azure_config(alias)?;
            return Ok(Endpoint::Azure(AzureEndpoint::connect(&cfg)?));
        }
        Ok(Endpoint::S3(
            S3Endpoint::connect(&entry.s3_config(alias)).await?,
        ))
    }

    /// A bucket (an Azure container) as a store.
    pub fn bucket(&self, name: &str) -> Arc<dyn ObjectStore> {
        match self {
            Endpoint::S3(e) => Arc::new(e.bucket(name)),
            Endpoint::Azure(e) => Arc::new(e.container(name)),
        }
    }

    /// The buckets (containers), by name.
    pub async fn list_buckets(&self) -> crate::backend::Result<Vec<BucketInfo>> {
        match self {
            Endpoint::S3(e) => e.list_buckets().await,
            Endpoint::Azure(e) => Ok(e
                .list_containers()
                .await?
                .into_iter()
                .map(|name| BucketInfo {
                    name,
                    created: None,
                })
                .collect()),
        }
    }

    pub async fn create_bucket(&self, name: &str) -> crate::backend::Result<()> {
        match self {
            Endpoint::S3(e) => e.create_bucket(name).await,
            Endpoint::Azure(e) => e.create_container(name).await,
        }
    }

    pub async fn delete_bucket(&self, name: &str) -> crate::backend::Result<()> {
        match self {
            Endpoint::S3(e) => e.delete_bucket(name).await,
            Endpoint::Azure(e) => e.delete_container(name).await,
        }
    }

    /// `NotFound` when the bucket does not exist.
    pub async fn head_bucket(&self, name: &str) -> crate::backend::Result<()> {
        match self {
            Endpoint::S3(e) => e.head_bucket(name).await,
            Endpoint::Azure(e) => e.head_container(name).await,
        }
    }
}

/// Opens stores, reusing one client per alias.
#[derive(Debug, Default)]
pub struct Stores {
    endpoints: HashMap<String, Endpoint>,
    /// Azure containers opened from here copy S3 sources through presigned URLs.
    azure_from_url: bool,
}

impl Stores {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Azure targets opened from now on have Azure read S3 sources itself (presigned URLs):
    /// `--from-url`, a job's `from_url = true`.
    pub fn copy_from_url(&mut self, on: bool) {
        self.azure_from_url = on;
    }

    /// The endpoint (client) for an alias.
    pub async fn endpoint(
        &mut self,
        alias: &str,
        entry: &AliasEntry,
    ) -> Result<Endpoint, LocationError> {
        if let Some(ep) = self.endpoints.get(alias) {
            return Ok(ep.clone());
        }
        let ep = Endpoint::connect(alias, entry).await?;
        self.endpoints.insert(alias.to_owned(), ep.clone());
        Ok(ep)
    }

    /// The bucket store of a remote location.
    pub async fn bucket(&mut self, loc: &Location) -> Result<Arc<dyn ObjectStore>, LocationError> {
        match loc {
            Location::Remote {
                alias,
                entry,
                bucket: Some(bucket),
                ..
            } => Ok(match self.endpoint(alias, entry).await? {
                Endpoint::Azure(a) => {
                    Arc::new(a.container(bucket).with_copy_from_url(self.azure_from_url))
                }
                other => other.bucket(bucket),
            }),
            other => Err(LocationError::NoBucket {
                target: other.display(),
            }),
        }
    }

    /// A store and a key inside it for `loc`: the bucket and key for remote targets; for
    /// local paths, the folder itself with an empty key when `as_folder`, else the parent
    /// folder and the file name.
    pub async fn open(
        &mut self,
        loc: &Location,
        as_folder: bool,
    ) -> Result<(Arc<dyn ObjectStore>, String), LocationError> {
        match loc {
            Location::Remote { key, .. } => {
                let store = self.bucket(loc).await?;
                Ok((store, key.clone()))
            }
            Location::Local { path, .. } => {
                if as_folder {
                    Ok((Arc::new(LocalStore::new(path)?), String::new()))
                } else {
                    let name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let parent = path
                        .parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .unwrap_or(Path::new("."));
                    Ok((Arc::new(LocalStore::new(parent)?), name))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_and_typos() {
        let tmp = tempfile::tempdir().expect("tmp");
        let cfg = ConfigDir::new(tmp.path());
        let loc = parse("./dir/", &cfg).expect("parse");
        assert!(matches!(
            loc,
            Location::Local {
                trailing_slash: true,
                ..
            }
        ));
        let loc = parse("nosuch/bucket/x", &cfg).expect("parse");
        assert!(!loc.is_remote());
        assert_eq!(missing_alias_like_head("nosuch/bucket/x"), Some("nosuch"));
        assert_eq!(missing_alias_like_head("./nosuch/bucket/x"), None);
        assert_eq!(missing_alias_like_head("file.txt"), None);
        let aliases = ["siteB", "local"];
        assert_eq!(mistyped_alias("sitB", aliases), Some("siteB"));
        assert_eq!(mistyped_alias("siteb/", aliases), Some("siteB"));
        assert_eq!(mistyped_alias("./sitB", aliases), None);
        assert_eq!(mistyped_alias("backups", aliases), None);
        assert_eq!(mistyped_alias("siteB", aliases), None);
    }

    #[test]
    fn remote_targets_split_bucket_and_key() {
        let tmp = tempfile::tempdir().expect("tmp");
        let cfg = ConfigDir::new(tmp.path());
        let mut f = crate::alias::AliasFile::default();
        f.aliases
            .insert("a".into(), AliasEntry::new("http://127.0.0.1:1", "k", "s"));
        cfg.save(&f).expect("save");
        match parse("a/bucket/backup/x/", &cfg).expect("parse") {
            Location::Remote {
                alias, bucket, key, ..
            } => {
                assert_eq!(
                    (alias.as_str(), bucket.as_deref(), key.as_str()),
                    ("a", Some("bucket"), "backup/x/")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse("a", &cfg).expect("alias only"),
            Location::Remote { bucket: None, .. }
        ));
        assert!(matches!(
            parse("a/B!", &cfg),
            Err(LocationError::BadBucket { .. })
        ));
    }
}
