//! A backup's meta files parsed into what ferry checks: its id, name, format, counts, and
//! every data object the meta says the backup holds (with its size). milvus-backup's JSON
//! changed across versions; the serde types here accept every form it wrote.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use super::{Generation, MetaFile};

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
    /// Each collection with the rows the backup holds for it, in the meta's order.
    pub collection_rows: Vec<CollectionRows>,
}

/// One collection of a backup and its rows: `num_of_rows` summed over its segments, L0
/// segments (which hold only deletes) excluded. Deleted rows are not subtracted: they live in
/// delta logs, which hold primary keys, not counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectionRows {
    /// Its database (`default` when the meta names none).
    pub db: String,
    /// Its name at backup time.
    pub name: String,
    /// Inserted rows.
    pub rows: u64,
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
    db_name: String,
    #[serde(deserialize_with = "null_as_default")]
    collection_name: String,
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
    #[serde(deserialize_with = "null_as_default")]
    is_l0: bool,
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
    /// An L0 segment (deletes only): its rows are not inserted rows.
    l0: bool,
}

struct Builder {
    file: MetaFile,
    meta: BackupMeta,
    /// Inserted rows per collection id (L0 segments excluded).
    rows: BTreeMap<i64, u64>,
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
        let rows = u64::try_from(s.num_of_rows.max(0)).unwrap_or(0);
        self.meta.rows += rows;
        if !seg.l0 && !s.is_l0 {
            *self.rows.entry(coll).or_default() += rows;
        }
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

    /// Names the collections and gives each its rows.
    fn collections<'a>(&mut self, colls: impl IntoIterator<Item = &'a JCollection>) {
        for c in colls {
            let db = if c.db_name.is_empty() {
                "default".to_owned()
            } else {
                c.db_name.clone()
            };
            self.meta.collection_rows.push(CollectionRows {
                db,
                name: c.collection_name.clone(),
                rows: self.rows.get(&c.collection_id).copied().unwrap_or(0),
            });
        }
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
        rows: BTreeMap::new(),
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
                    l0: false,
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
                l0: true,
            })?;
        }
    }
    builder.collections(&b.collection_backups);
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
        rows: BTreeMap::new(),
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
            l0: s.partition_id == -1,
        })?;
    }
    builder.collections(&colls.infos);
    builder.finish(b)
}
