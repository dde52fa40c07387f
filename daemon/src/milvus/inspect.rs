//! Looking at backups in any store, without a manifest: what `ferry backups ls` shows, and
//! the meta reading the sync engine shares.

use std::collections::HashMap;

use futures::TryStreamExt;

use super::layout::{BackupMeta, Completeness, Generation, MetaError, MetaFile};
use crate::backend::{Error, ListEntry, ListOptions, ObjectStoreExt};
use crate::sync::side::Side;

/// The largest meta file read (a full_meta.json of a very large backup is tens of MiB).
pub const MAX_META: u64 = 1 << 30;

/// Why a backup's meta could not be read.
#[derive(Debug)]
pub enum ReadMeta {
    /// The store failed (path, error): worth trying again.
    Store(String, Error),
    /// The meta is not usable.
    Meta(MetaError),
}

impl std::fmt::Display for ReadMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadMeta::Store(path, e) => write!(f, "cannot read {path}: {e}"),
            ReadMeta::Meta(e) => write!(f, "{e}"),
        }
    }
}

/// Reads and parses backup `name`'s meta under `side` for its generation. `size_of` gives
/// each meta file's size from the listing the caller already made (no HEAD per file); the
/// files are read whole, so an absurd size is refused before reading.
pub async fn read_meta(
    side: &Side,
    name: &str,
    g: Generation,
    size_of: impl Fn(MetaFile) -> Option<u64>,
) -> Result<BackupMeta, ReadMeta> {
    let mut files: HashMap<MetaFile, bytes::Bytes> = HashMap::new();
    for &file in g.needs() {
        let size = size_of(file);
        if size.is_none() && !g.requires(file) {
            continue;
        }
        let rel = format!("{name}/{}", file.rel());
        check_meta_size(file, size).map_err(ReadMeta::Meta)?;
        let bytes = side
            .store
            .get_bytes(&side.key(&rel))
            .await
            .map_err(|e| ReadMeta::Store(side.display(&rel), e))?;
        files.insert(file, bytes);
    }
    super::layout::parse(g, |f| files.get(&f).cloned()).map_err(ReadMeta::Meta)
}

/// Refuses a meta file larger than any ferry reads (before reading it).
pub fn check_meta_size(file: MetaFile, size: Option<u64>) -> Result<(), MetaError> {
    match size {
        Some(s) if s > MAX_META => Err(MetaError::Invalid {
            file: file.rel(),
            what: format!("{s} bytes: larger than any meta file ferry reads"),
        }),
        _ => Ok(()),
    }
}

/// What a store shows of one backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visible {
    /// Whole: every binlog its meta names, with its size, and `meta/backup_meta.json`.
    Complete,
    /// Whole, but `meta/backup_meta.json` is missing: milvus-backup does not see it.
    NotAnnounced,
    /// Its last-written meta file, or data its meta names, is missing or of another size.
    Incomplete,
    /// Its meta cannot be read or used.
    Unreadable,
}

impl Visible {
    /// Its name in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Visible::Complete => "complete",
            Visible::NotAnnounced => "not-announced",
            Visible::Incomplete => "incomplete",
            Visible::Unreadable => "unreadable",
        }
    }
}

/// One backup as a store shows it.
#[derive(Debug, Clone)]
pub struct BackupView {
    /// Its folder name.
    pub name: String,
    /// What it looks like.
    pub state: Visible,
    /// Which milvus-backup wrote it, as the meta files present tell.
    pub generation: Option<Generation>,
    /// Its meta, when readable.
    pub meta: Option<BackupMeta>,
    /// Objects in its folder.
    pub objects: u64,
    /// Bytes in its folder.
    pub bytes: u64,
    /// What is missing or wrong.
    pub detail: String,
}

/// Every backup folder under `side` (a backup root), looked at one by one.
pub async fn list_backups(side: &Side) -> Result<Vec<BackupView>, Error> {
    let names = backup_names(side).await?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        out.push(inspect(side, &name).await?);
    }
    Ok(out)
}

/// The folders directly under `side` (its backups, and whatever else lies there), by name.
pub async fn backup_names(side: &Side) -> Result<Vec<String>, Error> {
    let prefixes: Vec<String> = side
        .store
        .list(
            &side.prefix,
            ListOptions {
                delimiter: true,
                ..ListOptions::default()
            },
        )
        .try_filter_map(|e| async move {
            Ok(match e {
                ListEntry::Prefix(p) => Some(p),
                ListEntry::Object(_) => None,
            })
        })
        .try_collect()
        .await?;
    Ok(prefixes
        .into_iter()
        .filter_map(|p| {
            let name = p.get(side.prefix.len()..)?.trim_end_matches('/');
            (!name.is_empty()).then(|| name.to_owned())
        })
        .collect())
}

/// Looks at backup `name` under `side`: its listing against its meta.
pub async fn inspect(side: &Side, name: &str) -> Result<BackupView, Error> {
    let base = side.key(&format!("{name}/"));
    let mut sizes: HashMap<String, u64> = HashMap::new();
    let mut present: Vec<MetaFile> = Vec::new();
    let mut view = BackupView {
        name: name.to_owned(),
        state: Visible::Incomplete,
        generation: None,
        meta: None,
        objects: 0,
        bytes: 0,
        detail: String::new(),
    };
    let mut listing = side.store.list(&base, ListOptions::default());
    while let Some(e) = listing.try_next().await? {
        let ListEntry::Object(m) = e else { continue };
        let Some(within) = m.key.get(base.len()..) else {
            continue;
        };
        if within.is_empty() || within.ends_with('/') {
            continue;
        }
        view.objects += 1;
        view.bytes += m.size;
        if let Some(file) = within.strip_prefix("meta/").and_then(MetaFile::from_name) {
            present.push(file);
        }
        sizes.insert(within.to_owned(), m.size);
    }
    let generation = match Generation::detect(|f| present.contains(&f)) {
        Ok(g) => g,
        Err(missing) => {
            view.detail = format!("no {missing}");
            return Ok(view);
        }
    };
    view.generation = Some(generation);
    let meta = match read_meta(side, name, generation, |f| sizes.get(&f.rel()).copied()).await {
        Ok(m) => m,
        Err(ReadMeta::Store(_, e)) => return Err(e),
        Err(e @ ReadMeta::Meta(_)) => {
            view.state = Visible::Unreadable;
            view.detail = e.to_string();
            return Ok(view);
        }
    };
    let complete = if meta.bundle {
        let n = sizes.keys().filter(|k| k.starts_with("bundle/")).count();
        let mut c = Completeness::default();
        if n == 0 {
            c.missing.push("bundle/ (empty)".into());
        }
        c
    } else {
        Completeness::check(&meta, |k| sizes.get(k).copied())
    };
    view.meta = Some(meta);
    if !complete.is_whole() {
        view.detail = complete.describe();
        return Ok(view);
    }
    if present.contains(&MetaFile::Backup) {
        view.state = Visible::Complete;
    } else {
        view.state = Visible::NotAnnounced;
        view.detail = format!(
            "{} is missing: milvus-backup does not see this backup",
            MetaFile::Backup.rel()
        );
    }
    Ok(view)
}
