//! The milvus-backup layout: which keys of a backup root belong to which backup, which are
//! meta files, and which data objects a backup's meta says it must hold.
//!
//! Keys here are relative to the backup root (`backup/` in milvus-backup's default config),
//! so a backup `b1` is everything under `b1/`:
//!
//! ```text
//! b1/meta/backup_meta.json          level files: backup, collection, partition, segment
//! b1/meta/collection_meta.json
//! b1/meta/partition_meta.json
//! b1/meta/segment_meta.json
//! b1/meta/full_meta.json            the whole tree (v0.3.1 and later)
//! b1/meta/channel_cp_meta.json      v0.4.13 – v0.5.9 only, written last
//! b1/binlogs/insert_log/<coll>/<part>/<group>/<seg>/<field>/<log>
//! b1/binlogs/delta_log/<coll>/<part>/<group>/<seg>/<log>
//! b1/binlogs/delta_log/<coll>/-1/<seg>/<log>          L0 deltas of the whole collection
//! b1/bundle/...                     the snapshot format (Milvus >= 3.0)
//! ```
//!
//! The `<group>` level is absent in old backups; a binlog is expected under either form and
//! found under the one that exists.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// A backup's meta files, in the order milvus-backup writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetaFile {
    /// `meta/backup_meta.json`: what milvus-backup looks for to decide a backup exists.
    Backup,
    /// `meta/collection_meta.json`.
    Collection,
    /// `meta/partition_meta.json`.
    Partition,
    /// `meta/segment_meta.json`: the last file written up to v0.3.0.
    Segment,
    /// `meta/full_meta.json`: the whole tree, the last file written in v0.3.1 – v0.4.12 and
    /// since v0.5.10.
    Full,
    /// `meta/channel_cp_meta.json`: the last file written in v0.4.13 – v0.5.9.
    ChannelCp,
}

impl MetaFile {
    /// Every meta file.
    pub const ALL: [MetaFile; 6] = [
        MetaFile::Backup,
        MetaFile::Collection,
        MetaFile::Partition,
        MetaFile::Segment,
        MetaFile::Full,
        MetaFile::ChannelCp,
    ];

    /// The file's name in `meta/`.
    pub fn file_name(self) -> &'static str {
        match self {
            MetaFile::Backup => "backup_meta.json",
            MetaFile::Collection => "collection_meta.json",
            MetaFile::Partition => "partition_meta.json",
            MetaFile::Segment => "segment_meta.json",
            MetaFile::Full => "full_meta.json",
            MetaFile::ChannelCp => "channel_cp_meta.json",
        }
    }

    /// The file's key relative to its backup's folder.
    pub fn rel(self) -> String {
        format!("meta/{}", self.file_name())
    }

    /// The meta file with this name in `meta/`.
    pub fn from_name(name: &str) -> Option<MetaFile> {
        MetaFile::ALL.into_iter().find(|m| m.file_name() == name)
    }
}

/// What a key of the backup root is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    /// One of the known meta files of backup `name`.
    Meta {
        /// The backup.
        name: &'a str,
        /// Which file.
        file: MetaFile,
    },
    /// Another file under `meta/` (a newer milvus-backup's): held back with the meta files.
    OtherMeta {
        /// The backup.
        name: &'a str,
    },
    /// A data object (`binlogs/`, `bundle/`, anything else in the backup's folder).
    Data {
        /// The backup.
        name: &'a str,
    },
}

impl<'a> Part<'a> {
    /// Classifies a key relative to the backup root; `None` for keys directly in the root
    /// (not inside a backup's folder).
    pub fn of(rel: &'a str) -> Option<Part<'a>> {
        let (name, rest) = rel.split_once('/')?;
        if name.is_empty() || rest.is_empty() {
            return None;
        }
        Some(match rest.strip_prefix("meta/") {
            Some(file) => match MetaFile::from_name(file) {
                Some(file) => Part::Meta { name, file },
                None => Part::OtherMeta { name },
            },
            None => Part::Data { name },
        })
    }

    /// The backup's name.
    pub fn name(&self) -> &'a str {
        match *self {
            Part::Meta { name, .. } | Part::OtherMeta { name } | Part::Data { name } => name,
        }
    }

    /// Whether the key is held back until its backup's data is whole.
    pub fn is_meta(&self) -> bool {
        !matches!(self, Part::Data { .. })
    }
}

/// Which generation of milvus-backup wrote a backup, as far as the meta files present tell,
/// and so which meta file it writes last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// v0.3.0 and earlier: the four level files only; `segment_meta.json` last.
    Levels,
    /// v0.3.1 – v0.4.12 and v0.5.10 onwards: `full_meta.json` last.
    Full,
    /// v0.4.13 – v0.5.9: `channel_cp_meta.json` last.
    ChannelCp,
}

impl Generation {
    /// Decides from the meta files present whether the backup's last-written meta file is
    /// there: `Ok(generation)` when it is, `Err(what is missing)` when the backup is still
    /// being written (or its create failed).
    ///
    /// `full_meta.json` without `channel_cp_meta.json` is taken as complete: v0.5.10 and
    /// later write nothing after it, and a v0.4.13 – v0.5.9 backup caught in the moment
    /// between the two gets its `channel_cp_meta.json` on the next pass (its data is whole by
    /// then: full_meta.json is written after every binlog).
    pub fn detect(present: impl Fn(MetaFile) -> bool) -> Result<Generation, MissingMeta> {
        if present(MetaFile::ChannelCp) {
            if present(MetaFile::Full) {
                return Ok(Generation::ChannelCp);
            }
            return Err(MissingMeta::FullAfterChannelCp);
        }
        if present(MetaFile::Full) {
            return Ok(Generation::Full);
        }
        let levels = [
            MetaFile::Backup,
            MetaFile::Collection,
            MetaFile::Partition,
            MetaFile::Segment,
        ];
        let missing: Vec<_> = levels.into_iter().filter(|m| !present(*m)).collect();
        match missing.len() {
            0 => Ok(Generation::Levels),
            n if n == levels.len() => Err(MissingMeta::Nothing),
            _ => Err(MissingMeta::Levels(missing)),
        }
    }

    /// The meta files its meta is parsed from (those [`Generation::requires`] and those
    /// checked when present).
    pub fn needs(self) -> &'static [MetaFile] {
        match self {
            Generation::Full | Generation::ChannelCp => &[MetaFile::Full, MetaFile::Backup],
            Generation::Levels => &[
                MetaFile::Backup,
                MetaFile::Collection,
                MetaFile::Partition,
                MetaFile::Segment,
            ],
        }
    }

    /// Whether parsing its meta needs `file`.
    pub fn requires(self, file: MetaFile) -> bool {
        match self {
            Generation::Full | Generation::ChannelCp => file == MetaFile::Full,
            Generation::Levels => file != MetaFile::Full && file != MetaFile::ChannelCp,
        }
    }

    /// A short name for status output.
    pub fn as_str(self) -> &'static str {
        match self {
            Generation::Levels => "levels (<= v0.3.0)",
            Generation::Full => "full_meta",
            Generation::ChannelCp => "channel_cp (v0.4.13 - v0.5.9)",
        }
    }
}

/// What a backup still lacks before its last-written meta file is there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MissingMeta {
    /// `channel_cp_meta.json` is there, but not `full_meta.json`, which is written before it.
    #[error("meta/full_meta.json (channel_cp_meta.json is there without it)")]
    FullAfterChannelCp,
    /// No meta file at all.
    #[error("meta/ (no meta file yet: still being written, or its create failed)")]
    Nothing,
    /// Some of the four level files (and no `full_meta.json`).
    #[error("{} (and no meta/full_meta.json)", rels(.0))]
    Levels(Vec<MetaFile>),
}

fn rels(files: &[MetaFile]) -> String {
    files.iter().map(|f| f.rel()).collect::<Vec<_>>().join(", ")
}

/// Why a backup's meta cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// Not JSON, or not the shape milvus-backup writes.
    #[error("{file}: not a milvus-backup meta file: {source}")]
    Json {
        /// The meta file (relative to the backup).
        file: String,
        /// The parse error (with line and column).
        source: serde_json::Error,
    },
    /// A format this version of ferry does not know.
    #[error(
        "{file}: unknown backup format {format:?} (this ferry knows the binlog layout and the snapshot bundle/ layout)"
    )]
    UnknownFormat {
        /// The meta file.
        file: String,
        /// The `format` field.
        format: String,
    },
    /// The meta names something impossible (a negative size, a binlog without an id).
    #[error("{file}: {what}")]
    Invalid {
        /// The meta file.
        file: String,
        /// What is wrong.
        what: String,
    },
}

/// One object the backup's meta says it holds, relative to the backup's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Where milvus-backup writes it.
    pub key: String,
    /// The same object's key in layouts without the `<group>` level, when that differs.
    pub alt: Option<String>,
    /// Its size in bytes (`log_size`).
    pub size: u64,
}

/// What a backup's meta says about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupMeta {
    /// milvus-backup's backup id.
    pub id: String,
    /// The name stored in the meta (normally the folder's name).
    pub name: String,
    /// When it was taken (`backup_timestamp`, ms since the epoch as milvus-backup stores it).
    pub backup_timestamp: u64,
    /// The Milvus version it was taken from.
    pub milvus_version: String,
    /// The `format` field ("" for the binlog layout).
    pub format: String,
    /// The backup's data size as the meta states it.
    pub size: u64,
    pub collections: u32,
    /// Segments (L0 included).
    pub segments: u64,
    /// Rows (`num_of_rows` summed over segments).
    pub rows: u64,
    /// The data objects it must hold (empty for the bundle format, whose files the meta does
    /// not list).
    pub expected: Vec<Expected>,
    /// The snapshot format: data under `bundle/`, not listed in the meta.
    pub bundle: bool,
}

/// Accepts an integer as a JSON number or a string (protobuf JSON writes int64 as strings).
fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        I(i64),
        U(u64),
        S(String),
        Null(()),
    }
    match N::deserialize(d)? {
        N::I(i) => Ok(i),
        N::U(u) => i64::try_from(u).map_err(serde::de::Error::custom),
        N::S(s) if s.is_empty() => Ok(0),
        N::S(s) => s.trim().parse().map_err(serde::de::Error::custom),
        N::Null(()) => Ok(0),
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JBackup {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "int")]
    backup_timestamp: i64,
    #[serde(deserialize_with = "null_as_default")]
    milvus_version: String,
    #[serde(deserialize_with = "null_as_default")]
    format: String,
    #[serde(deserialize_with = "int")]
    size: i64,
    #[serde(deserialize_with = "null_as_default")]
    collection_backups: Vec<JCollection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JCollection {
    #[serde(deserialize_with = "int")]
    collection_id: i64,
    #[serde(deserialize_with = "null_as_default")]
    partition_backups: Vec<JPartition>,
    #[serde(deserialize_with = "null_as_default")]
    l0_segments: Vec<JSegment>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JPartition {
    #[serde(deserialize_with = "int")]
    partition_id: i64,
    #[serde(deserialize_with = "int")]
    collection_id: i64,
    #[serde(deserialize_with = "null_as_default")]
    segment_backups: Vec<JSegment>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JSegment {
    #[serde(deserialize_with = "int")]
    segment_id: i64,
    #[serde(deserialize_with = "int")]
    collection_id: i64,
    #[serde(deserialize_with = "int")]
    partition_id: i64,
    #[serde(deserialize_with = "int")]
    num_of_rows: i64,
    #[serde(deserialize_with = "null_as_default")]
    binlogs: Vec<JFieldBinlog>,
    #[serde(deserialize_with = "null_as_default")]
    deltalogs: Vec<JFieldBinlog>,
    #[serde(deserialize_with = "int")]
    group_id: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JFieldBinlog {
    #[serde(rename = "fieldID", deserialize_with = "int")]
    field_id: i64,
    #[serde(deserialize_with = "null_as_default")]
    binlogs: Vec<JBinlog>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JBinlog {
    #[serde(deserialize_with = "null_as_default")]
    log_path: String,
    #[serde(deserialize_with = "int")]
    log_size: i64,
    #[serde(deserialize_with = "int")]
    log_id: i64,
}

/// `{"infos": [...]}`: the collection, partition and segment level files.
#[derive(Debug, Deserialize)]
#[serde(default, bound(deserialize = "T: Deserialize<'de>"))]
struct JLevel<T> {
    #[serde(deserialize_with = "null_as_default")]
    infos: Vec<T>,
}

impl<T> Default for JLevel<T> {
    fn default() -> Self {
        JLevel { infos: Vec::new() }
    }
}

fn json<'a, T: Deserialize<'a>>(file: MetaFile, bytes: &'a [u8]) -> Result<T, MetaError> {
    serde_json::from_slice(bytes).map_err(|source| MetaError::Json {
        file: file.rel(),
        source,
    })
}

/// A segment's place, for building its binlogs' keys.
struct Seg<'a> {
    coll: i64,
    part: i64,
    s: &'a JSegment,
    /// A collection-level L0 segment: `delta_log/<coll>/-1/<seg>/<log>`, no group level.
    collection_l0: bool,
}

struct Builder {
    file: MetaFile,
    meta: BackupMeta,
}

impl Builder {
    fn invalid(&self, what: String) -> MetaError {
        MetaError::Invalid {
            file: self.file.rel(),
            what,
        }
    }

    fn segment(&mut self, seg: Seg<'_>) -> Result<(), MetaError> {
        let s = seg.s;
        let coll = if s.collection_id != 0 {
            s.collection_id
        } else {
            seg.coll
        };
        let part = if s.partition_id != 0 && !seg.collection_l0 {
            s.partition_id
        } else {
            seg.part
        };
        self.meta.segments += 1;
        self.meta.rows += u64::try_from(s.num_of_rows.max(0)).unwrap_or(0);
        for (kind, logs) in [("insert_log", &s.binlogs), ("delta_log", &s.deltalogs)] {
            for field in logs {
                for log in &field.binlogs {
                    let log_id = if log.log_id != 0 {
                        log.log_id
                    } else {
                        // Older metas leave log_id out: the log path ends with it.
                        log.log_path
                            .rsplit('/')
                            .next()
                            .and_then(|t| t.parse().ok())
                            .ok_or_else(|| {
                                self.invalid(format!(
                                    "segment {}: a {kind} entry has neither log_id nor a log_path ending in one ({:?})",
                                    s.segment_id, log.log_path
                                ))
                            })?
                    };
                    let size = u64::try_from(log.log_size).map_err(|_| {
                        self.invalid(format!(
                            "segment {}: log {log_id} has a negative log_size {}",
                            s.segment_id, log.log_size
                        ))
                    })?;
                    // insert logs carry the field level, delta logs do not.
                    let tail = if kind == "insert_log" {
                        format!("{}/{}/{log_id}", s.segment_id, field.field_id)
                    } else {
                        format!("{}/{log_id}", s.segment_id)
                    };
                    let flat = format!("binlogs/{kind}/{coll}/{part}/{tail}");
                    let (key, alt) = if seg.collection_l0 {
                        (flat, None)
                    } else {
                        let grouped = format!("binlogs/{kind}/{coll}/{part}/{}/{tail}", s.group_id);
                        (grouped, Some(flat))
                    };
                    self.meta.expected.push(Expected { key, alt, size });
                }
            }
        }
        Ok(())
    }

    fn finish(mut self, b: JBackup) -> Result<BackupMeta, MetaError> {
        self.meta.id = b.id;
        self.meta.name = b.name;
        self.meta.backup_timestamp = u64::try_from(b.backup_timestamp).unwrap_or(0);
        self.meta.milvus_version = b.milvus_version;
        self.meta.size = u64::try_from(b.size).unwrap_or(0);
        self.meta.bundle = is_bundle_format(&b.format).ok_or_else(|| MetaError::UnknownFormat {
            file: self.file.rel(),
            format: b.format.clone(),
        })?;
        self.meta.format = b.format;
        if self.meta.bundle {
            self.meta.expected.clear();
        }
        self.meta.expected.sort_by(|a, b| a.key.cmp(&b.key));
        self.meta.expected.dedup_by(|a, b| a.key == b.key);
        Ok(self.meta)
    }
}

/// `Some(true)` for the snapshot (bundle/) format, `Some(false)` for the binlog layout,
/// `None` for a format this ferry does not know.
fn is_bundle_format(format: &str) -> Option<bool> {
    let f = format.trim().to_ascii_lowercase();
    match f.as_str() {
        "" | "binlog" | "v1" | "default" => Some(false),
        f if f.contains("snapshot") || f.contains("bundle") => Some(true),
        _ => None,
    }
}

/// Parses `meta/full_meta.json`.
pub fn parse_full(bytes: &[u8]) -> Result<BackupMeta, MetaError> {
    let b: JBackup = json(MetaFile::Full, bytes)?;
    let mut builder = Builder {
        file: MetaFile::Full,
        meta: BackupMeta::default(),
    };
    for c in &b.collection_backups {
        builder.meta.collections += 1;
        for p in &c.partition_backups {
            let coll = if p.collection_id != 0 {
                p.collection_id
            } else {
                c.collection_id
            };
            for s in &p.segment_backups {
                builder.segment(Seg {
                    coll,
                    part: p.partition_id,
                    s,
                    collection_l0: false,
                })?;
            }
        }
        for s in &c.l0_segments {
            // Omitted (zero) or -1: an L0 segment of the whole collection.
            let part = if s.partition_id == 0 {
                -1
            } else {
                s.partition_id
            };
            builder.segment(Seg {
                coll: c.collection_id,
                part,
                s,
                collection_l0: part == -1,
            })?;
        }
    }
    builder.finish(b)
}

/// Parses a backup's meta for its generation from the files' bytes (`file` gives a meta
/// file's content, `None` when absent). For `full_meta.json` generations, the id in
/// `backup_meta.json` (when present) must be `full_meta.json`'s: two ids mean the files come
/// from two versions of the backup (re-created while they were read).
pub fn parse(
    g: Generation,
    file: impl Fn(MetaFile) -> Option<bytes::Bytes>,
) -> Result<BackupMeta, MetaError> {
    let need = |f: MetaFile| {
        file(f).ok_or_else(|| MetaError::Invalid {
            file: f.rel(),
            what: "missing".into(),
        })
    };
    match g {
        Generation::Full | Generation::ChannelCp => {
            let meta = parse_full(&need(MetaFile::Full)?)?;
            if let Some(b) = file(MetaFile::Backup) {
                let top: JBackup = json(MetaFile::Backup, &b)?;
                if top.id != meta.id {
                    return Err(MetaError::Invalid {
                        file: MetaFile::Backup.rel(),
                        what: format!(
                            "names backup id {:?} but meta/full_meta.json names {:?}: the meta files are of two versions of the backup",
                            top.id, meta.id
                        ),
                    });
                }
            }
            Ok(meta)
        }
        Generation::Levels => parse_levels(
            &need(MetaFile::Backup)?,
            &need(MetaFile::Collection)?,
            &need(MetaFile::Partition)?,
            &need(MetaFile::Segment)?,
        ),
    }
}

/// Parses the four level files of a backup without `full_meta.json` (v0.3.0 and earlier).
pub fn parse_levels(
    backup: &[u8],
    collection: &[u8],
    partition: &[u8],
    segment: &[u8],
) -> Result<BackupMeta, MetaError> {
    let b: JBackup = json(MetaFile::Backup, backup)?;
    let colls: JLevel<JCollection> = json(MetaFile::Collection, collection)?;
    let parts: JLevel<JPartition> = json(MetaFile::Partition, partition)?;
    let segs: JLevel<JSegment> = json(MetaFile::Segment, segment)?;
    let mut builder = Builder {
        file: MetaFile::Segment,
        meta: BackupMeta::default(),
    };
    builder.meta.collections = u32::try_from(colls.infos.len()).unwrap_or(u32::MAX);
    // Partition ids are unique within a collection: the level file links segments to them.
    let partitions: BTreeMap<i64, i64> = parts
        .infos
        .iter()
        .map(|p| (p.partition_id, p.collection_id))
        .collect();
    for s in &segs.infos {
        let coll = if s.collection_id != 0 {
            s.collection_id
        } else {
            partitions.get(&s.partition_id).copied().unwrap_or(0)
        };
        builder.segment(Seg {
            coll,
            part: s.partition_id,
            s,
            collection_l0: s.partition_id == -1,
        })?;
    }
    builder.finish(b)
}

/// What is wrong with a backup's data against its meta.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completeness {
    /// Expected objects: how many.
    pub expected: u64,
    pub expected_bytes: u64,
    /// Objects not there (backup-relative keys).
    pub missing: Vec<String>,
    /// Objects there with another size: (key, expected, actual).
    pub wrong_size: Vec<(String, u64, u64)>,
}

impl Completeness {
    /// Checks `meta`'s expectations against `size_of(backup-relative key)`.
    pub fn check(meta: &BackupMeta, size_of: impl Fn(&str) -> Option<u64>) -> Completeness {
        let mut c = Completeness::default();
        for e in &meta.expected {
            c.expected += 1;
            c.expected_bytes += e.size;
            let found = size_of(&e.key)
                .map(|s| (e.key.as_str(), s))
                .or_else(|| e.alt.as_deref().and_then(|a| size_of(a).map(|s| (a, s))));
            match found {
                None => c.missing.push(e.key.clone()),
                Some((_, s)) if s == e.size => {}
                Some((k, s)) => c.wrong_size.push((k.to_owned(), e.size, s)),
            }
        }
        c
    }

    /// Whether everything expected is there with its size.
    pub fn is_whole(&self) -> bool {
        self.missing.is_empty() && self.wrong_size.is_empty()
    }

    /// One line for status: counts and the first few keys.
    pub fn describe(&self) -> String {
        const SHOW: usize = 3;
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            let shown: Vec<_> = self.missing.iter().take(SHOW).map(String::as_str).collect();
            let more = self.missing.len().saturating_sub(SHOW);
            parts.push(format!(
                "{} of {} data objects missing: {}{}",
                self.missing.len(),
                self.expected,
                shown.join(", "),
                if more > 0 {
                    format!(" (+{more} more)")
                } else {
                    String::new()
                }
            ));
        }
        if !self.wrong_size.is_empty() {
            let shown: Vec<_> = self
                .wrong_size
                .iter()
                .take(SHOW)
                .map(|(k, want, got)| format!("{k} is {got} bytes, the meta says {want}"))
                .collect();
            let more = self.wrong_size.len().saturating_sub(SHOW);
            parts.push(format!(
                "{} with the wrong size: {}{}",
                self.wrong_size.len(),
                shown.join(", "),
                if more > 0 {
                    format!(" (+{more} more)")
                } else {
                    String::new()
                }
            ));
        }
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{
      "id": "c2d9a6f0", "name": "b1", "backup_timestamp": 1700000000000,
      "milvus_version": "v2.4.5", "size": 300,
      "collection_backups": [{
        "collection_id": 100, "db_name": "default", "collection_name": "c",
        "partition_backups": [{
          "partition_id": 200, "partition_name": "_default", "collection_id": 100,
          "segment_backups": [{
            "segment_id": 300, "collection_id": 100, "partition_id": 200, "num_of_rows": 1000,
            "group_id": 300,
            "binlogs": [{"fieldID": 0, "binlogs": [{"log_path": "files/insert_log/100/200/300/0/7", "log_size": 100, "log_id": 7}]},
                        {"fieldID": 101, "binlogs": [{"log_path": "files/insert_log/100/200/300/101/8", "log_size": 150}]}],
            "deltalogs": [{"binlogs": [{"log_path": "x", "log_size": 10, "log_id": 9}]}]
          }]
        }],
        "l0_segments": [{"segment_id": 400, "collection_id": 100, "partition_id": -1, "is_l0": true,
          "deltalogs": [{"binlogs": [{"log_size": 40, "log_id": 11}]}]}]
      }]
    }"#;

    #[test]
    fn full_meta_names_every_binlog() {
        let m = parse_full(FULL.as_bytes()).expect("test value");
        assert_eq!(
            (m.id.as_str(), m.collections, m.segments, m.rows),
            ("c2d9a6f0", 1, 2, 1000)
        );
        let keys: Vec<_> = m
            .expected
            .iter()
            .map(|e| (e.key.as_str(), e.size))
            .collect();
        assert_eq!(
            keys,
            [
                ("binlogs/delta_log/100/-1/400/11", 40),
                ("binlogs/delta_log/100/200/300/300/9", 10),
                ("binlogs/insert_log/100/200/300/300/0/7", 100),
                ("binlogs/insert_log/100/200/300/300/101/8", 150),
            ]
        );
        let alt = m
            .expected
            .iter()
            .find(|e| e.key.ends_with("/7"))
            .expect("test value");
        assert_eq!(
            alt.alt.as_deref(),
            Some("binlogs/insert_log/100/200/300/0/7")
        );
    }

    #[test]
    fn ids_as_strings_and_nulls_are_accepted() {
        let j = r#"{"id":"x","backup_timestamp":"17","collection_backups":[{"collection_id":"5",
            "partition_backups":[{"partition_id":"6","segment_backups":[{"segment_id":"7",
            "num_of_rows":"3","binlogs":[{"fieldID":"1","binlogs":[{"log_id":"2","log_size":"4"}]}],
            "deltalogs":null}]}],"l0_segments":null}]}"#;
        let m = parse_full(j.as_bytes()).expect("test value");
        assert_eq!(m.rows, 3);
        assert_eq!(m.expected[0].key, "binlogs/insert_log/5/6/0/7/1/2");
        assert_eq!(
            m.expected[0].alt.as_deref(),
            Some("binlogs/insert_log/5/6/7/1/2")
        );
    }

    #[test]
    fn level_files_without_full_meta() {
        let backup = br#"{"id":"old","name":"b0","backup_timestamp":5}"#;
        let colls = br#"{"infos":[{"collection_id":1}]}"#;
        let parts = br#"{"infos":[{"partition_id":2,"collection_id":1}]}"#;
        let segs = br#"{"infos":[{"segment_id":3,"partition_id":2,"num_of_rows":9,
            "binlogs":[{"fieldID":100,"binlogs":[{"log_path":"a/b/44","log_size":12}]}]}]}"#;
        let m = parse_levels(backup, colls, parts, segs).expect("test value");
        assert_eq!((m.collections, m.segments, m.rows), (1, 1, 9));
        let c = Completeness::check(&m, |k| {
            (k == "binlogs/insert_log/1/2/3/100/44").then_some(12)
        });
        assert!(c.is_whole(), "{c:?}");
    }

    #[test]
    fn bad_metas_say_what_is_wrong() {
        let e = parse_full(b"{\"collection_backups\": [")
            .expect_err("must fail")
            .to_string();
        assert!(
            e.starts_with("meta/full_meta.json: not a milvus-backup meta file"),
            "{e}"
        );
        let e = parse_full(br#"{"format":"columnar-v9"}"#)
            .expect_err("must fail")
            .to_string();
        assert!(e.contains("unknown backup format \"columnar-v9\""), "{e}");
        let neg =
            br#"{"collection_backups":[{"partition_backups":[{"segment_backups":[{"segment_id":1,
            "binlogs":[{"binlogs":[{"log_id":2,"log_size":-1}]}]}]}]}]}"#;
        assert!(
            parse_full(neg)
                .expect_err("must fail")
                .to_string()
                .contains("negative log_size")
        );
        let noid =
            br#"{"collection_backups":[{"partition_backups":[{"segment_backups":[{"segment_id":1,
            "binlogs":[{"binlogs":[{"log_path":"a/b","log_size":1}]}]}]}]}]}"#;
        assert!(
            parse_full(noid)
                .expect_err("must fail")
                .to_string()
                .contains("neither log_id")
        );
        let bundle = parse_full(br#"{"format":"snapshot"}"#).expect("test value");
        assert!(bundle.bundle && bundle.expected.is_empty());
    }

    #[test]
    fn completeness_reports_missing_and_wrong_sizes() {
        let m = parse_full(FULL.as_bytes()).expect("test value");
        let c = Completeness::check(&m, |k| match k {
            "binlogs/delta_log/100/-1/400/11" => Some(40),
            "binlogs/insert_log/100/200/300/300/0/7" => Some(99),
            "binlogs/delta_log/100/200/300/9" => Some(10),
            _ => None,
        });
        assert_eq!(c.missing, ["binlogs/insert_log/100/200/300/300/101/8"]);
        assert_eq!(c.wrong_size.len(), 1);
        let d = c.describe();
        assert!(
            d.contains("1 of 4 data objects missing")
                && d.contains("is 99 bytes, the meta says 100"),
            "{d}"
        );
    }

    #[test]
    fn generation_from_the_meta_files_present() {
        use MetaFile::*;
        let has = |s: &'static [MetaFile]| move |m| s.contains(&m);
        assert_eq!(Generation::detect(has(&[Full])), Ok(Generation::Full));
        assert_eq!(
            Generation::detect(has(&[Full, ChannelCp])),
            Ok(Generation::ChannelCp)
        );
        assert_eq!(
            Generation::detect(has(&[Backup, Collection, Partition, Segment])),
            Ok(Generation::Levels)
        );
        assert_eq!(Generation::detect(has(&[])), Err(MissingMeta::Nothing));
        let partial = Generation::detect(has(&[Backup, Collection])).expect_err("must fail");
        assert_eq!(partial, MissingMeta::Levels(vec![Partition, Segment]));
        assert!(partial.to_string().contains("segment_meta.json"));
        assert_eq!(
            Generation::detect(has(&[ChannelCp])),
            Err(MissingMeta::FullAfterChannelCp)
        );
    }

    #[test]
    fn keys_are_classified() {
        assert_eq!(
            Part::of("b1/meta/backup_meta.json"),
            Some(Part::Meta {
                name: "b1",
                file: MetaFile::Backup
            })
        );
        assert_eq!(
            Part::of("b1/meta/new.json"),
            Some(Part::OtherMeta { name: "b1" })
        );
        assert_eq!(
            Part::of("b1/binlogs/insert_log/1"),
            Some(Part::Data { name: "b1" })
        );
        assert_eq!(Part::of("README"), None);
        assert_eq!(Part::of("b1/"), None);
    }
}
