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

mod complete;
mod meta;

pub use complete::Completeness;
pub use meta::{BackupMeta, CollectionRows, Expected, MetaError, parse, parse_full, parse_levels};

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
        // The L0 segment's deletes are not inserted rows.
        assert_eq!(
            m.collection_rows,
            [CollectionRows {
                db: "default".into(),
                name: "c".into(),
                rows: 1000
            }]
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
        let colls = br#"{"infos":[{"collection_id":1,"collection_name":"old_c"}]}"#;
        let parts = br#"{"infos":[{"partition_id":2,"collection_id":1}]}"#;
        let segs = br#"{"infos":[{"segment_id":3,"partition_id":2,"num_of_rows":9,
            "binlogs":[{"fieldID":100,"binlogs":[{"log_path":"a/b/44","log_size":12}]}]}]}"#;
        let m = parse_levels(backup, colls, parts, segs).expect("test value");
        assert_eq!((m.collections, m.segments, m.rows), (1, 1, 9));
        assert_eq!(
            (
                m.collection_rows[0].db.as_str(),
                m.collection_rows[0].name.as_str(),
                m.collection_rows[0].rows
            ),
            ("default", "old_c", 9)
        );
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
