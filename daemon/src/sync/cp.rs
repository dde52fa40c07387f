//! `cp`: what lands where (mc's rules), and the parallel runner.
//!
//! Destination rules, as in mc and `cp -r`:
//! - one object to a folder target (ends with `/`, is an existing local folder, is a bucket
//!   root, or there are several sources) lands as `target/<object name>`; to anything else it
//!   lands *as* the target;
//! - a tree whose source ends with `/` (`cp -r a/dir/ t/`) copies its **contents** into the
//!   target; without the slash (`cp -r a/dir t/`) it lands as `t/dir/...`.

use std::sync::Arc;

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use super::transfer::{self, Method, TransferConfig};
use crate::backend::{self, Error, ListOptions, ObjectStore};

/// What `cp` can refuse before copying anything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CpError {
    /// A folder given without `--recursive`.
    #[error("{0}: is a folder; copy it with --recursive (-r)")]
    IsFolder(String),
    /// Nothing at the source.
    #[error("{0}: no such object, file or folder")]
    NotFound(String),
    /// The target lies inside the source tree (or is the source object).
    #[error("cannot copy {src} into itself ({dst})")]
    IntoItself {
        /// Source as typed.
        src: String,
        /// Target as typed.
        dst: String,
    },
    /// A store failure while planning.
    #[error(transparent)]
    Store(#[from] backend::Error),
}

/// A source, resolved.
#[derive(Debug, Clone)]
pub struct Source {
    /// The store holding it.
    pub store: Arc<dyn ObjectStore>,
    /// As the user typed it.
    pub display: String,
    /// One object or a tree.
    pub kind: SourceKind,
}

/// One object or a tree.
#[derive(Debug, Clone)]
pub enum SourceKind {
    /// A single object.
    Object { key: String, size: u64 },
    /// Every object under `prefix` (empty, or ending with `/`).
    Tree {
        /// Listing prefix.
        prefix: String,
        /// Folder name to create at the target (`cp -r a/dir t/` → `dir`); `None` copies the
        /// contents (`cp -r a/dir/ t/`).
        base: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct Target {
    /// The store to write to.
    pub store: Arc<dyn ObjectStore>,
    /// Key (or prefix when `folder`) inside the store.
    pub key: String,
    /// Whether objects land *inside* the target.
    pub folder: bool,
    /// As the user typed it.
    pub display: String,
}

impl Target {
    fn folder_prefix(&self) -> String {
        if self.key.is_empty() || self.key.ends_with('/') {
            self.key.clone()
        } else {
            format!("{}/", self.key)
        }
    }
}

/// Decides whether `key` of `store` is an object or a folder. `base` is the folder name a tree
/// without a trailing `/` recreates at the target.
pub async fn resolve_source(
    store: Arc<dyn ObjectStore>,
    key: &str,
    display: &str,
    base: Option<String>,
    recursive: bool,
) -> Result<Source, CpError> {
    let tree = |prefix: String| Source {
        store: store.clone(),
        display: display.to_owned(),
        kind: SourceKind::Tree {
            prefix,
            base: base.clone(),
        },
    };
    let has_children = |prefix: String| {
        let store = store.clone();
        async move {
            let mut l = store.list(&prefix, ListOptions::default());
            l.try_next().await.map(|e| e.is_some())
        }
    };
    if key.is_empty() || key.ends_with('/') {
        if !recursive {
            return Err(CpError::IsFolder(display.to_owned()));
        }
        // A bucket or folder root may be empty; a named prefix with nothing under it is a typo.
        if !key.is_empty() && !has_children(key.to_owned()).await? {
            return Err(CpError::NotFound(display.to_owned()));
        }
        return Ok(tree(key.to_owned()));
    }
    let folder = format!("{key}/");
    let head = store.head(key).await;
    match head {
        Ok(meta) => {
            if recursive && has_children(folder.clone()).await? {
                return Ok(tree(folder));
            }
            Ok(Source {
                store: store.clone(),
                display: display.to_owned(),
                kind: SourceKind::Object {
                    key: key.to_owned(),
                    size: meta.size,
                },
            })
        }
        // Some servers answer HEAD of a "folder" key with an error other than 404.
        Err(e @ (Error::NotFound { .. } | Error::Transient { .. })) => {
            if has_children(folder.clone()).await? {
                if recursive {
                    Ok(tree(folder))
                } else {
                    Err(CpError::IsFolder(display.to_owned()))
                }
            } else if e.is_not_found() {
                Err(CpError::NotFound(display.to_owned()))
            } else {
                Err(e.into())
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Refuses a copy whose target lies inside its source.
pub fn check_not_into_itself(src: &Source, dst: &Target) -> Result<(), CpError> {
    let refuse = || CpError::IntoItself {
        src: src.display.clone(),
        dst: dst.display.clone(),
    };
    match &src.kind {
        SourceKind::Object { key, .. } => {
            let dst_key = target_key_for_object(key, dst);
            if src.store.canonical(key) == dst.store.canonical(&dst_key) {
                return Err(refuse());
            }
        }
        SourceKind::Tree { prefix, base } => {
            let src_root = src.store.canonical(prefix);
            let dst_root = dst
                .store
                .canonical(&tree_target_prefix(base.as_deref(), dst));
            let src_root = if src_root.ends_with('/') {
                src_root
            } else {
                format!("{src_root}/")
            };
            if dst_root.starts_with(&src_root) {
                return Err(refuse());
            }
        }
    }
    Ok(())
}

fn target_key_for_object(key: &str, dst: &Target) -> String {
    if dst.folder {
        let name = key.rsplit('/').next().unwrap_or(key);
        format!("{}{name}", dst.folder_prefix())
    } else {
        dst.key.clone()
    }
}

fn tree_target_prefix(base: Option<&str>, dst: &Target) -> String {
    match base {
        Some(b) if !b.is_empty() => format!("{}{b}/", dst.folder_prefix()),
        _ => dst.folder_prefix(),
    }
}

/// One object to copy.
#[derive(Debug, Clone)]
pub struct CopyJob {
    /// Source store.
    pub src: Arc<dyn ObjectStore>,
    /// Source key.
    pub src_key: String,
    /// Size as listed.
    pub size: u64,
    /// Target store.
    pub dst: Arc<dyn ObjectStore>,
    /// Target key.
    pub dst_key: String,
}

impl CopyJob {
    /// `store/key` of the source, for messages.
    pub fn source_display(&self) -> String {
        join_display(&self.src.to_string(), &self.src_key)
    }

    /// `store/key` of the target, for messages.
    pub fn target_display(&self) -> String {
        join_display(&self.dst.to_string(), &self.dst_key)
    }
}

fn join_display(store: &str, key: &str) -> String {
    if key.is_empty() {
        store.to_owned()
    } else {
        format!("{}/{key}", store.trim_end_matches('/'))
    }
}

/// The objects a source expands to, lazily (a tree is listed page by page as the copy runs).
pub fn jobs(src: &Source, dst: &Target) -> BoxStream<'static, Result<CopyJob, Error>> {
    match &src.kind {
        SourceKind::Object { key, size } => {
            let job = CopyJob {
                src: src.store.clone(),
                src_key: key.clone(),
                size: *size,
                dst: dst.store.clone(),
                dst_key: target_key_for_object(key, dst),
            };
            futures::stream::once(async move { Ok(job) }).boxed()
        }
        SourceKind::Tree { prefix, base } => {
            let target_prefix = tree_target_prefix(base.as_deref(), dst);
            let prefix_len = prefix.len();
            let src_store = src.store.clone();
            let dst_store = dst.store.clone();
            let listing = src.store.list(prefix, ListOptions::default());
            let lost = super::pipeline::listing_lost(join_display(&src.store.to_string(), prefix));
            super::pipeline::prefetch(listing, super::pipeline::LIST_AHEAD, lost)
                .try_filter_map(move |entry| {
                    let job = match entry {
                        backend::ListEntry::Object(meta) => Some(CopyJob {
                            src: src_store.clone(),
                            dst_key: format!("{target_prefix}{}", &meta.key[prefix_len..]),
                            src_key: meta.key,
                            size: meta.size,
                            dst: dst_store.clone(),
                        }),
                        backend::ListEntry::Prefix(_) => None,
                    };
                    futures::future::ready(Ok(job))
                })
                .boxed()
        }
    }
}

/// How the runner works.
#[derive(Debug, Clone)]
pub struct CpOptions {
    /// Objects copied at once.
    pub workers: usize,
    /// Report what would be copied; write nothing.
    pub dry_run: bool,
    /// Transfer settings.
    pub transfer: TransferConfig,
}

/// What happened to one object.
#[derive(Debug)]
pub struct CopyReport {
    /// Source, for messages.
    pub source: String,
    /// Target, for messages.
    pub target: String,
    /// Bytes (as listed, or as moved).
    pub size: u64,
    /// `Ok(Some(method))` copied, `Ok(None)` dry run, `Err` failed.
    pub result: Result<Option<Method>, Error>,
}

/// Copies every job, `workers` at a time, and reports each as it finishes. Listing goes on
/// while earlier objects are copied. Each copy runs as its own task, so hashing and request
/// signing spread over the runtime's threads.
pub fn run(
    jobs: BoxStream<'static, Result<CopyJob, Error>>,
    options: CpOptions,
) -> BoxStream<'static, CopyReport> {
    let workers = options.workers.max(1);
    let options = Arc::new(options);
    jobs.map(move |job| {
        let options = options.clone();
        async move {
            let job = match job {
                Ok(job) => job,
                Err(e) => {
                    return CopyReport {
                        source: e.path().to_owned(),
                        target: String::new(),
                        size: 0,
                        result: Err(e),
                    };
                }
            };
            let (source, target, size) = (job.source_display(), job.target_display(), job.size);
            if options.dry_run {
                return CopyReport {
                    source,
                    target,
                    size,
                    result: Ok(None),
                };
            }
            let copy = tokio::spawn(async move {
                transfer::copy_object(
                    &*job.src,
                    &job.src_key,
                    job.size,
                    &*job.dst,
                    &job.dst_key,
                    &options.transfer,
                    None,
                )
                .await
            });
            let (size, result) = match copy.await {
                Ok(Ok(transfer::Copied { method, size, .. })) => (size, Ok(Some(method))),
                Ok(Err(e)) => (size, Err(e)),
                Err(e) => (
                    size,
                    Err(Error::Generic {
                        path: source.clone(),
                        source: Box::new(e),
                    }),
                ),
            };
            CopyReport {
                source,
                target,
                size,
                result,
            }
        }
    })
    .buffer_unordered(workers)
    .boxed()
}
