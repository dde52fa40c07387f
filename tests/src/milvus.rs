//! Fixtures: milvus-backup-shaped backups of several layout versions, written into a folder
//! (which may be an s3s-fs bucket) in milvus-backup's order, in a random order, or partly.
//!
//! The meta JSON follows the shapes milvus-backup stores (`BackupInfo` and its nested
//! collection / partition / segment / binlog records, snake_case names, `fieldID`), with the
//! binlogs at `binlogs/insert_log/<coll>/<part>/<group>/<seg>/<field>/<log>` and L0 deltas at
//! `binlogs/delta_log/<coll>/-1/<seg>/<log>`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// Which milvus-backup wrote the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// v0.3.0: the four level files only, no `<group>` level, no `log_id` (in the path only).
    V0_3_0,
    /// v0.4.5: full_meta.json last; `<group>` is a small index.
    V0_4_5,
    /// v0.5.3: full_meta.json then channel_cp_meta.json last; `<group>` = segment id; L0.
    V0_5_3,
    /// v0.5.12: full_meta.json last; `<group>` = segment id; L0 deltas.
    V0_5_12,
    /// The snapshot format: data under `bundle/`, not listed in the meta.
    Snapshot,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The backup's folder name.
    pub name: String,
    /// The layout.
    pub version: Version,
    /// Collections.
    pub collections: u32,
    /// Segments per collection (one partition each).
    pub segments: u32,
    /// Fields per segment (each one binlog).
    pub fields: u32,
    /// Size of the binlogs: from `min` to `max` bytes.
    pub sizes: (usize, usize),
    /// Random seed (ids, sizes, content).
    pub seed: u64,
    /// One more insert binlog of this many bytes, written as a sparse file of zeros (so a
    /// multi-GiB binlog costs no disk and no time to generate).
    pub big: Option<u64>,
}

impl Spec {
    /// A small backup: 2 collections × 3 segments × 3 fields, 1–40 KiB binlogs.
    pub fn small(name: &str, version: Version, seed: u64) -> Spec {
        Spec {
            name: name.into(),
            version,
            collections: 2,
            segments: 3,
            fields: 3,
            sizes: (1024, 40 * 1024),
            seed,
            big: None,
        }
    }
}

/// A generated backup: its files relative to the backup root, in the order milvus-backup
/// writes them (data, then meta files, the last-written one last).
#[derive(Debug, Clone)]
pub struct Backup {
    /// The spec it came from.
    pub spec: Spec,
    /// Data files: (key relative to the backup root, content).
    pub data: Vec<(String, Vec<u8>)>,
    /// Sparse data files of zeros: (key, size).
    pub sparse: Vec<(String, u64)>,
    /// Meta files, in write order.
    pub meta: Vec<(String, Vec<u8>)>,
    /// Its id (in the meta).
    pub id: String,
    /// Rows (sum of `num_of_rows`).
    pub rows: u64,
    /// Each collection (`coll_<n>`, database `default`) with its rows.
    pub collection_rows: Vec<(String, u64)>,
}

impl Backup {
    /// Generates it.
    pub fn generate(spec: &Spec) -> Backup {
        let mut rng = fastrand::Rng::with_seed(spec.seed);
        let name = &spec.name;
        let v = spec.version;
        let id = format!("{:016x}", rng.u64(..));
        let ts: u64 = 1_760_000_000_000 + rng.u64(..1_000_000_000);
        let mut data = Vec::new();
        let mut sparse = Vec::new();
        let mut rows_total = 0u64;
        let mut collection_rows = Vec::new();
        let mut size_total = 0u64;
        let mut collections = Vec::new();
        let mut seg_level = Vec::new();
        let mut part_level = Vec::new();
        let mut coll_level = Vec::new();
        let blob = |rng: &mut fastrand::Rng| {
            let len = rng.usize(spec.sizes.0..=spec.sizes.1);
            crate::data(rng.u64(..), len)
        };
        let mut log_id = 450_000_000_000_000_000u64 + rng.u64(..1_000_000);
        for c in 0..spec.collections {
            let coll: u64 = 449_000_000_000_000_000 + u64::from(c) * 1_000 + rng.u64(..1000);
            let part = coll + 1;
            let mut segments = Vec::new();
            let mut coll_rows = 0u64;
            for s in 0..spec.segments {
                let seg = coll + 10 + u64::from(s);
                let group = match v {
                    Version::V0_4_5 => u64::from(s),
                    _ => seg,
                };
                let rows = rng.u64(100..100_000);
                rows_total += rows;
                coll_rows += rows;
                // Where milvus-backup puts a log (`tail`: `<field>/<log>` or `<log>`) and the
                // meta entry naming it (log_path is the key in Milvus's own bucket).
                let key = |kind: &str, tail: &str| match v {
                    Version::V0_3_0 => format!("{name}/binlogs/{kind}/{coll}/{part}/{seg}/{tail}"),
                    _ => format!("{name}/binlogs/{kind}/{coll}/{part}/{group}/{seg}/{tail}"),
                };
                let entry = |kind: &str, tail: &str, size: u64, log_id: u64| {
                    let mut e = json!({"log_path": format!("files/{kind}/{coll}/{part}/{seg}/{tail}"),
                        "log_size": size});
                    if v != Version::V0_3_0 {
                        e["log_id"] = json!(log_id);
                    }
                    e
                };
                let mut binlogs = Vec::new();
                let mut seg_size = 0u64;
                for f in 0..spec.fields {
                    let field = if f == 0 { 0 } else { 100 + u64::from(f) };
                    log_id += 1;
                    let bytes = blob(&mut rng);
                    let size = bytes.len() as u64;
                    seg_size += size;
                    let tail = format!("{field}/{log_id}");
                    let path = match v {
                        Version::Snapshot => {
                            format!("{name}/bundle/{coll}/{seg}/{field}/{log_id}.parquet")
                        }
                        _ => key("insert_log", &tail),
                    };
                    data.push((path, bytes));
                    let mut e = entry("insert_log", &tail, size, log_id);
                    e["entries_num"] = json!(rows);
                    e["timestamp_from"] = json!(ts - 1000);
                    e["timestamp_to"] = json!(ts);
                    binlogs.push(json!({"fieldID": field, "binlogs": [e]}));
                }
                if let (Some(big), 0, 0, false) = (spec.big, c, s, v == Version::Snapshot) {
                    log_id += 1;
                    let tail = format!("199/{log_id}");
                    sparse.push((key("insert_log", &tail), big));
                    seg_size += big;
                    let e = entry("insert_log", &tail, big, log_id);
                    binlogs.push(json!({"fieldID": 199, "binlogs": [e]}));
                }
                // One delta log on every other segment.
                let mut deltalogs = Vec::new();
                if s % 2 == 1 && v != Version::Snapshot {
                    log_id += 1;
                    let bytes = blob(&mut rng);
                    let size = bytes.len() as u64;
                    seg_size += size;
                    let tail = log_id.to_string();
                    data.push((key("delta_log", &tail), bytes));
                    deltalogs.push(json!({"binlogs": [entry("delta_log", &tail, size, log_id)]}));
                }
                size_total += seg_size;
                let mut segment = json!({
                    "segment_id": seg, "collection_id": coll, "partition_id": part,
                    "num_of_rows": rows, "binlogs": binlogs, "deltalogs": deltalogs,
                    "size": seg_size, "backuped": true, "storage_version": 0,
                });
                if !matches!(v, Version::V0_3_0) {
                    segment["group_id"] = json!(group);
                }
                segments.push(segment);
            }
            collection_rows.push((format!("coll_{c}"), coll_rows));
            seg_level.extend(segments.iter().cloned());
            let partition = json!({
                "partition_id": part, "partition_name": "_default", "collection_id": coll,
                "segment_backups": segments, "size": 0, "load_state": "",
            });
            let mut p_level = partition.clone();
            p_level.as_object_mut().map(|o| o.remove("segment_backups"));
            part_level.push(p_level);
            // An L0 segment of the whole collection (v0.5 layouts).
            let mut l0 = Vec::new();
            if matches!(v, Version::V0_5_3 | Version::V0_5_12) {
                let seg = coll + 900;
                log_id += 1;
                let bytes = blob(&mut rng);
                let size = bytes.len() as u64;
                size_total += size;
                data.push((
                    format!("{name}/binlogs/delta_log/{coll}/-1/{seg}/{log_id}"),
                    bytes,
                ));
                l0.push(
                    json!({"segment_id": seg, "collection_id": coll, "partition_id": -1,
                    "is_l0": true, "num_of_rows": 0, "size": size, "group_id": seg,
                    "deltalogs": [{"fieldID": 0, "binlogs": [{"log_id": log_id, "log_size": size,
                        "log_path": format!("files/delta_log/{coll}/-1/{seg}/{log_id}")}]}]}),
                );
            }
            let collection = json!({
                "id": format!("{id}-{c}"), "state_code": 2, "collection_id": coll,
                "db_name": "default", "collection_name": format!("coll_{c}"),
                "schema": {"name": format!("coll_{c}"), "fields": [
                    {"fieldID": 100, "name": "id", "is_primary_key": true, "data_type": 5},
                    {"fieldID": 101, "name": "vec", "data_type": 101,
                     "type_params": [{"key": "dim", "value": "8"}]}]},
                "shards_num": 1, "consistency_level": 2,
                "backup_timestamp": ts, "backup_physical_timestamp": ts / 1000,
                "has_index": false, "load_state": "NotLoad",
                "partition_backups": [partition], "l0_segments": l0,
            });
            let mut c_level = collection.clone();
            if let Some(o) = c_level.as_object_mut() {
                o.remove("partition_backups");
                o.remove("l0_segments");
            }
            coll_level.push(c_level);
            collections.push(collection);
        }
        let mut info = json!({
            "id": id, "state_code": 2, "start_time": ts / 1000, "end_time": ts / 1000 + 5,
            "progress": 100, "name": name, "backup_timestamp": ts,
            "collection_backups": collections, "size": size_total,
            "milvus_version": "v2.5.4",
        });
        if v == Version::Snapshot {
            info["format"] = json!("snapshot");
        }
        let mut backup_level = info.clone();
        backup_level
            .as_object_mut()
            .map(|o| o.remove("collection_backups"));
        let enc = |v: &Value| serde_json::to_vec(v).unwrap_or_default();
        let mut meta = vec![
            (format!("{name}/meta/backup_meta.json"), enc(&backup_level)),
            (
                format!("{name}/meta/collection_meta.json"),
                enc(&json!({"infos": coll_level})),
            ),
            (
                format!("{name}/meta/partition_meta.json"),
                enc(&json!({"infos": part_level})),
            ),
            (
                format!("{name}/meta/segment_meta.json"),
                enc(&json!({"infos": seg_level})),
            ),
        ];
        if v != Version::V0_3_0 {
            meta.push((format!("{name}/meta/full_meta.json"), enc(&info)));
        }
        if v == Version::V0_5_3 {
            meta.push((
                format!("{name}/meta/channel_cp_meta.json"),
                enc(&json!({"by-dev-rootcoord-dml_0_v0": "AQID"})),
            ));
        }
        Backup {
            spec: spec.clone(),
            data,
            sparse,
            meta,
            id,
            rows: rows_total,
            collection_rows,
        }
    }

    /// Every file, in milvus-backup's write order.
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        self.data.iter().chain(&self.meta).cloned().collect()
    }

    /// Every file in a random order (meta files may come before data).
    pub fn shuffled(&self, seed: u64) -> Vec<(String, Vec<u8>)> {
        let mut files = self.files();
        fastrand::Rng::with_seed(seed).shuffle(&mut files);
        files
    }

    /// The key of the file milvus-backup looks for at restore.
    pub fn announce_key(&self) -> String {
        format!("{}/meta/backup_meta.json", self.spec.name)
    }

    /// Writes every file under `root` in milvus-backup's order (sparse binlogs first).
    pub fn write(&self, root: &Path) {
        for (k, size) in &self.sparse {
            write_sparse(root, k, *size);
        }
        for (k, v) in self.files() {
            write_file(root, &k, &v);
        }
    }
}

/// Writes a sparse file of `size` zero bytes (renamed into place).
pub fn write_sparse(root: &Path, key: &str, size: u64) -> PathBuf {
    let path = root.join(key);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create dir");
    }
    let tmp = path.with_extension(format!("tmp-{}", fastrand::u64(..)));
    std::fs::File::create(&tmp)
        .and_then(|f| f.set_len(size))
        .expect("sparse file");
    std::fs::rename(&tmp, &path).expect("rename into place");
    path
}

/// Writes one file atomically (a temp file renamed into place, like milvus-backup's local
/// storage and s3s-fs).
pub fn write_file(root: &Path, key: &str, bytes: &[u8]) -> PathBuf {
    let path = root.join(key);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create dir");
    }
    let tmp = path.with_extension(format!("tmp-{}", fastrand::u64(..)));
    std::fs::write(&tmp, bytes).expect("write temp file");
    std::fs::rename(&tmp, &path).expect("rename into place");
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_engine::milvus::layout::{self, Completeness};
    use std::collections::HashMap;

    fn sizes(b: &Backup) -> HashMap<String, u64> {
        let prefix = format!("{}/", b.spec.name);
        b.data
            .iter()
            .map(|(k, v)| (k[prefix.len()..].to_owned(), v.len() as u64))
            .collect()
    }

    fn meta(b: &Backup, file: &str) -> Vec<u8> {
        let key = format!("{}/meta/{file}", b.spec.name);
        b.meta
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    #[test]
    fn every_version_parses_and_names_exactly_its_binlogs() {
        for v in [
            Version::V0_3_0,
            Version::V0_4_5,
            Version::V0_5_3,
            Version::V0_5_12,
        ] {
            let b = Backup::generate(&Spec::small("b", v, 7));
            let m = if v == Version::V0_3_0 {
                layout::parse_levels(
                    &meta(&b, "backup_meta.json"),
                    &meta(&b, "collection_meta.json"),
                    &meta(&b, "partition_meta.json"),
                    &meta(&b, "segment_meta.json"),
                )
            } else {
                layout::parse_full(&meta(&b, "full_meta.json"))
            }
            .unwrap_or_else(|e| panic!("{v:?}: {e}"));
            assert_eq!((m.id.as_str(), m.rows), (b.id.as_str(), b.rows), "{v:?}");
            assert_eq!(m.expected.len(), b.data.len(), "{v:?}");
            let have = sizes(&b);
            assert!(
                Completeness::check(&m, |k| have.get(k).copied()).is_whole(),
                "{v:?}"
            );
            // One byte short on one binlog, one binlog gone: both seen.
            let mut have = have;
            let first = m.expected[0].key.clone();
            let alt = m.expected[0].alt.clone().unwrap_or_default();
            for k in [&first, &alt] {
                if let Some(s) = have.get_mut(k.as_str()) {
                    *s -= 1;
                }
            }
            let second = &m.expected[1];
            have.remove(&second.key);
            if let Some(a) = &second.alt {
                have.remove(a);
            }
            let c = Completeness::check(&m, |k| have.get(k).copied());
            assert_eq!((c.missing.len(), c.wrong_size.len()), (1, 1), "{v:?}");
        }
        let snap = Backup::generate(&Spec::small("s", Version::Snapshot, 1));
        let m = layout::parse_full(&meta(&snap, "full_meta.json")).expect("parses");
        assert!(m.bundle && m.expected.is_empty());
    }
}
