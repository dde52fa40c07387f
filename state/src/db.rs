//! The manifest database: RocksDB behind typed schemas.
//!
//! Durability: every update is one atomic [`Batch`] written through RocksDB's WAL without an
//! fsync per batch. A killed process loses nothing that was written; an OS crash may lose the
//! last batches. That is safe by construction: a row only ever claims "the target has this
//! version of the object", so losing a row costs one re-copy, never a missing object.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rocksdb::{
    ColumnFamilyDescriptor, DB, IteratorMode, Options, ReadOptions, WriteBatch, WriteOptions,
};

use crate::codec::{DecodeError, KeyCodec, Schema, ValueCodec};
use crate::schema::{
    BackupRecord, BackupsSchema, COLUMN_FAMILIES, MetaKey, MetaSchema, MetaValue, ObjectKey,
    ObjectRecord, ObjectsSchema, PairId, PairKey, PairRecord, PairsSchema, RestoreKey,
    RestoreRecord, RestoresSchema, UploadRecord, UploadsSchema,
};

/// The manifest format this build writes. 2: `restores` keeps every request of a backup
/// (keyed by name and sequence number); format 1 kept one per backup and is migrated on open.
pub const FORMAT_VERSION: u64 = 2;

/// What can go wrong with the manifest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Another process (or another handle in this one) has the manifest open.
    #[error("manifest {} is in use by another ferry process", path.display())]
    InUse { path: PathBuf },
    /// The folder holds something that is not a ferry manifest.
    #[error("{} is not a ferry manifest ({reason}); point --state-dir at an empty or ferry folder", path.display())]
    Foreign { path: PathBuf, reason: String },
    /// Written by a newer ferry.
    #[error("manifest {} has format {found}, this ferry reads up to {supported}: upgrade ferry", path.display())]
    NewerFormat {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    /// RocksDB reported corruption.
    #[error("manifest {} is corrupt", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: rocksdb::Error,
    },
    /// A stored row did not decode.
    #[error("manifest {}: row in {cf} does not decode", path.display())]
    Decode {
        path: PathBuf,
        cf: &'static str,
        #[source]
        source: DecodeError,
    },
    /// Any other RocksDB or filesystem failure.
    #[error("manifest {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StateError {
    /// A failure of the disk under the manifest (full, read-only, I/O error): worth retrying
    /// once that is fixed, unlike a corrupt, foreign or newer manifest.
    pub fn is_io(&self) -> bool {
        matches!(self, StateError::Io { .. })
    }
}

/// Result alias.
pub type Result<T, E = StateError> = std::result::Result<T, E>;

/// An open manifest.
///
/// After a write fails with an I/O error (a full or read-only disk), RocksDB refuses every
/// further write until the database is opened again. So the handle then closes the database
/// and reopens it on its next use (at most once a second while that keeps failing): a daemon
/// resumes by itself once the disk is fixed. Reopening replays the write-ahead log, whose
/// records are checksummed, so the manifest comes back as of its last whole batch.
pub struct Manifest {
    db: RwLock<Option<DB>>,
    path: PathBuf,
    /// Set when a write failed with an I/O error: reopen before the next use.
    broken: AtomicBool,
    /// When the last reopen was tried, and why the database is closed if that failed.
    reopen: Mutex<(Option<Instant>, String)>,
    /// See [`Manifest::backup_lock`].
    backups: Mutex<()>,
}

impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manifest")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Several updates applied atomically.
#[derive(Default)]
pub struct Batch {
    ops: Vec<BatchOp>,
}

/// One update of a [`Batch`]: column family, encoded key, encoded value (`None`: delete).
type BatchOp = (&'static str, Vec<u8>, Option<Vec<u8>>);

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Batch({} ops)", self.ops.len())
    }
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts a typed row.
    pub fn put<S: Schema>(&mut self, key: &S::Key, value: &S::Value) -> &mut Self {
        self.ops
            .push((S::CF, key.encode_key(), Some(value.encode_value())));
        self
    }

    /// Deletes a typed row.
    pub fn delete<S: Schema>(&mut self, key: &S::Key) -> &mut Self {
        self.ops.push((S::CF, key.encode_key(), None));
        self
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Manifest {
    /// Opens (creating if needed) the manifest in `dir`.
    pub fn open(dir: &Path) -> Result<Manifest> {
        let path = dir.to_path_buf();
        let io = |source: Box<dyn std::error::Error + Send + Sync>| StateError::Io {
            path: path.clone(),
            source,
        };
        if dir.exists() {
            if !dir.is_dir() {
                return Err(StateError::Foreign {
                    path,
                    reason: "it is a file".into(),
                });
            }
            let non_empty = std::fs::read_dir(dir)
                .map_err(|e| io(Box::new(e)))?
                .next()
                .is_some();
            if non_empty && !dir.join("CURRENT").exists() {
                return Err(StateError::Foreign {
                    path,
                    reason: "not empty and no RocksDB database in it".into(),
                });
            }
        }
        std::fs::create_dir_all(dir).map_err(|e| io(Box::new(e)))?;
        let db = Self::open_db(&path)?;
        let m = Manifest {
            db: RwLock::new(Some(db)),
            path,
            broken: AtomicBool::new(false),
            reopen: Mutex::new((None, String::new())),
            backups: Mutex::new(()),
        };
        m.check_format()?;
        Ok(m)
    }

    fn open_db(path: &Path) -> Result<DB> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_open_files(256);
        opts.set_keep_log_file_num(4);
        let cfs = COLUMN_FAMILIES
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
        DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| Self::open_error(path, e))
    }

    /// Runs `f` on the open database, reopening it first after a failed write.
    fn with_db<T>(&self, f: impl FnOnce(&DB) -> Result<T>) -> Result<T> {
        if self.broken.load(Ordering::Acquire) {
            self.reopen()?;
        }
        let guard = self.db.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(db) = guard.as_ref() {
            return f(db);
        }
        // Not under the read lock: `closed` takes the reopen lock, which `reopen` holds
        // while it waits for the write lock.
        drop(guard);
        Err(self.closed())
    }

    /// The error while a reopen is held off, or the database is closed after a failed one.
    fn closed(&self) -> StateError {
        let why = self
            .reopen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .clone();
        let source = if why.is_empty() {
            "a write failed; the manifest is reopened in a moment".to_owned()
        } else {
            format!("closed after a failed write; reopening failed: {why}")
        };
        StateError::Io {
            path: self.path.clone(),
            source: source.into(),
        }
    }

    /// Closes and reopens the database (see [`Manifest`]), at most once a second.
    fn reopen(&self) -> Result<()> {
        let mut last = self.reopen.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.broken.load(Ordering::Acquire) {
            return Ok(()); // another thread reopened it meanwhile
        }
        if last.0.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            drop(last);
            return Err(self.closed());
        }
        last.0 = Some(Instant::now());
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        // Close first: RocksDB's lock file allows one open handle.
        drop(db.take());
        match Self::open_db(&self.path) {
            Ok(fresh) => {
                *db = Some(fresh);
                last.1.clear();
                self.broken.store(false, Ordering::Release);
                Ok(())
            }
            Err(e) => {
                last.1 = error_chain(&e);
                Err(e)
            }
        }
    }

    fn open_error(path: &Path, e: rocksdb::Error) -> StateError {
        let text = e.to_string();
        let lower = text.to_ascii_lowercase();
        if lower.contains("lock")
            && (lower.contains("unavailable")
                || lower.contains("hold")
                || lower.contains("no locks"))
        {
            StateError::InUse {
                path: path.to_owned(),
            }
        } else if lower.contains("column famil") && lower.contains("not opened") {
            StateError::Foreign {
                path: path.to_owned(),
                reason: format!("it has column families this ferry does not know ({text})"),
            }
        } else if e.kind() == rocksdb::ErrorKind::Corruption {
            StateError::Corrupt {
                path: path.to_owned(),
                source: e,
            }
        } else {
            StateError::Io {
                path: path.to_owned(),
                source: Box::new(e),
            }
        }
    }

    fn check_format(&self) -> Result<()> {
        match self.get::<MetaSchema>(&MetaKey("format"))? {
            Some(MetaValue(v)) if v > FORMAT_VERSION => Err(StateError::NewerFormat {
                path: self.path.clone(),
                found: v,
                supported: FORMAT_VERSION,
            }),
            Some(MetaValue(1)) => self.migrate_1_to_2(),
            Some(_) => Ok(()),
            None => {
                let mut b = Batch::new();
                b.put::<MetaSchema>(&MetaKey("format"), &MetaValue(FORMAT_VERSION));
                self.write(b)
            }
        }
    }

    /// Format 1 → 2: each backup's one restore row (`pair | name`) becomes its first request
    /// (`pair | name | 0x00 | seq 0`), value bytes unchanged (v1 values still decode). One
    /// atomic, synced batch with the new format number: a crash leaves format 1 or format 2.
    fn migrate_1_to_2(&self) -> Result<()> {
        let rows: Vec<(Vec<u8>, Vec<u8>)> = self.with_db(|db| {
            let cf = self.cf(db, RestoresSchema::CF)?;
            db.iterator_cf(cf, IteratorMode::Start)
                .map(|item| {
                    item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                        .map_err(|e| self.rocks(e))
                })
                .collect()
        })?;
        let mut b = Batch::new();
        for (key, value) in rows {
            let mut new_key = key.clone();
            new_key.push(0);
            new_key.extend_from_slice(&0u32.to_be_bytes());
            self.decode(RestoresSchema::CF, RestoreKey::decode_key(&new_key))?;
            self.decode(RestoresSchema::CF, RestoreRecord::decode_value(&value))?;
            b.ops.push((RestoresSchema::CF, key, None));
            b.ops.push((RestoresSchema::CF, new_key, Some(value)));
        }
        b.put::<MetaSchema>(&MetaKey("format"), &MetaValue(2));
        self.write_durable(b)
    }

    /// Serialises the read-check-write sequences that decide a backup's fate between the sync
    /// engine and the restorer of one process: hiding a backup at the target (only when no
    /// restore of it runs) and firing a restore (only while its backup id is the verified one).
    /// Hold it only around manifest reads and writes, never across a request to a store.
    /// RocksDB lets one process at a time open a manifest, so one process's lock covers all
    /// writers of it.
    pub fn backup_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.backups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cf<'a>(&self, db: &'a DB, name: &'static str) -> Result<&'a rocksdb::ColumnFamily> {
        db.cf_handle(name).ok_or_else(|| StateError::Io {
            path: self.path.clone(),
            source: format!("column family {name} missing").into(),
        })
    }

    fn rocks(&self, e: rocksdb::Error) -> StateError {
        if e.kind() == rocksdb::ErrorKind::Corruption {
            StateError::Corrupt {
                path: self.path.clone(),
                source: e,
            }
        } else {
            StateError::Io {
                path: self.path.clone(),
                source: Box::new(e),
            }
        }
    }

    /// A failed write: an I/O error leaves RocksDB refusing writes, so reopen before the next use.
    fn failed_write(&self, e: rocksdb::Error) -> StateError {
        if matches!(e.kind(), rocksdb::ErrorKind::IOError) {
            self.broken.store(true, Ordering::Release);
        }
        self.rocks(e)
    }

    fn decode<T>(&self, cf: &'static str, r: Result<T, DecodeError>) -> Result<T> {
        r.map_err(|source| StateError::Decode {
            path: self.path.clone(),
            cf,
            source,
        })
    }

    /// Reads one typed row.
    pub fn get<S: Schema>(&self, key: &S::Key) -> Result<Option<S::Value>> {
        self.with_db(|db| {
            let cf = self.cf(db, S::CF)?;
            match db
                .get_pinned_cf(cf, key.encode_key())
                .map_err(|e| self.rocks(e))?
            {
                Some(bytes) => Ok(Some(self.decode(S::CF, S::Value::decode_value(&bytes))?)),
                None => Ok(None),
            }
        })
    }

    /// Makes every write so far durable (fsyncs the write-ahead log): for a graceful shutdown.
    pub fn flush(&self) -> Result<()> {
        self.with_db(|db| db.flush_wal(true).map_err(|e| self.failed_write(e)))
    }

    /// Applies a batch atomically and waits until it is on disk: for records that must
    /// survive a power cut before a side effect starts (a restore trigger firing).
    pub fn write_durable(&self, batch: Batch) -> Result<()> {
        self.write_opts(batch, true)
    }

    /// Applies a batch atomically (in the WAL; synced by [`Manifest::flush`], by RocksDB, or
    /// by a durable write).
    pub fn write(&self, batch: Batch) -> Result<()> {
        self.write_opts(batch, false)
    }

    fn write_opts(&self, batch: Batch, sync: bool) -> Result<()> {
        self.with_db(|db| {
            let mut wb = WriteBatch::default();
            for (cf, key, value) in batch.ops {
                let cf = self.cf(db, cf)?;
                match value {
                    Some(v) => wb.put_cf(cf, key, v),
                    None => wb.delete_cf(cf, key),
                }
            }
            let mut wo = WriteOptions::default();
            wo.set_sync(sync);
            db.write_opt(wb, &wo).map_err(|e| self.failed_write(e))
        })
    }

    /// Up to `limit` rows of `S` whose key starts with `prefix`, strictly after `after` (an
    /// encoded key), in byte order.
    fn scan<S: Schema>(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(S::Key, S::Value)>> {
        self.with_db(|db| self.scan_in::<S>(db, prefix, after, limit))
    }

    fn scan_in<S: Schema>(
        &self,
        db: &DB,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(S::Key, S::Value)>> {
        let cf = self.cf(db, S::CF)?;
        let mut ro = ReadOptions::default();
        if let Some(upper) = prefix_upper_bound(prefix) {
            ro.set_iterate_upper_bound(upper);
        }
        let start: Vec<u8> = match after {
            Some(a) => a.to_vec(),
            None => prefix.to_vec(),
        };
        let mut out = Vec::new();
        for item in db.iterator_cf_opt(
            cf,
            ro,
            IteratorMode::From(&start, rocksdb::Direction::Forward),
        ) {
            let (k, v) = item.map_err(|e| self.rocks(e))?;
            if !k.starts_with(prefix) {
                break;
            }
            if after.is_some_and(|a| &*k == a) {
                continue;
            }
            let key = self.decode(S::CF, S::Key::decode_key(&k))?;
            let value = self.decode(S::CF, S::Value::decode_value(&v))?;
            out.push((key, value));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// The pair id for `source → target`, registering it if new.
    pub fn pair(&self, source: &str, target: &str) -> Result<PairId> {
        if let Some((id, _)) = self
            .pairs()?
            .into_iter()
            .find(|(_, p)| p.source == source && p.target == target)
        {
            return Ok(id);
        }
        let next = self
            .get::<MetaSchema>(&MetaKey("next_pair"))?
            .map_or(1, |v| v.0);
        let id = PairId::try_from(next).map_err(|_| StateError::Io {
            path: self.path.clone(),
            source: "too many pairs".into(),
        })?;
        let mut b = Batch::new();
        b.put::<PairsSchema>(
            &PairKey(id),
            &PairRecord {
                source: source.to_owned(),
                target: target.to_owned(),
                created_ms: now_ms(),
                last_scan_ms: None,
                objects: 0,
                bytes: 0,
                target_check: None,
            },
        );
        b.put::<MetaSchema>(&MetaKey("next_pair"), &MetaValue(next + 1));
        self.write(b)?;
        Ok(id)
    }

    /// The pair id for `source → target`, if registered.
    pub fn find_pair(&self, source: &str, target: &str) -> Result<Option<PairId>> {
        Ok(self
            .pairs()?
            .into_iter()
            .find(|(_, p)| p.source == source && p.target == target)
            .map(|(id, _)| id))
    }

    /// Every registered pair.
    pub fn pairs(&self) -> Result<Vec<(PairId, PairRecord)>> {
        Ok(self
            .scan::<PairsSchema>(&[], None, usize::MAX)?
            .into_iter()
            .map(|(k, v)| (k.0, v))
            .collect())
    }

    /// One object's row.
    pub fn object(&self, pair: PairId, key: &str) -> Result<Option<ObjectRecord>> {
        self.get::<ObjectsSchema>(&ObjectKey {
            pair,
            key: key.to_owned(),
        })
    }

    /// Up to `limit` object rows of `pair` after `after` (a relative key), in key byte order.
    pub fn objects_page(
        &self,
        pair: PairId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, ObjectRecord)>> {
        self.objects_under(pair, "", after, limit)
    }

    /// Every row of a per-pair family keyed by (pair, name), by name.
    fn pair_rows<S: Schema<Key = ObjectKey>>(
        &self,
        pair: PairId,
    ) -> Result<Vec<(String, S::Value)>> {
        Ok(self
            .scan::<S>(&pair.to_be_bytes(), None, usize::MAX)?
            .into_iter()
            .map(|(k, v)| (k.key, v))
            .collect())
    }

    /// The backups recorded for `pair`, by name.
    pub fn backups(&self, pair: PairId) -> Result<Vec<(String, BackupRecord)>> {
        self.pair_rows::<BackupsSchema>(pair)
    }

    /// Every restore request recorded for `pair` (each backup's history in order).
    pub fn restores(&self, pair: PairId) -> Result<Vec<(RestoreKey, RestoreRecord)>> {
        self.scan::<RestoresSchema>(&pair.to_be_bytes(), None, usize::MAX)
    }

    /// The restore requests of backup `name` of `pair`, oldest first.
    pub fn restores_of(&self, pair: PairId, name: &str) -> Result<Vec<(u32, RestoreRecord)>> {
        Ok(self
            .scan::<RestoresSchema>(&RestoreKey::prefix_of(pair, name), None, usize::MAX)?
            .into_iter()
            .filter(|(k, _)| k.name == name)
            .map(|(k, v)| (k.seq, v))
            .collect())
    }

    /// Up to `limit` object rows of `pair` whose relative key starts with `prefix`, after
    /// `after` (a relative key), in key byte order.
    pub fn objects_under(
        &self,
        pair: PairId,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, ObjectRecord)>> {
        let scan_prefix = ObjectKey {
            pair,
            key: prefix.to_owned(),
        }
        .encode_key();
        let after = after.map(|k| {
            ObjectKey {
                pair,
                key: k.to_owned(),
            }
            .encode_key()
        });
        Ok(self
            .scan::<ObjectsSchema>(&scan_prefix, after.as_deref(), limit)?
            .into_iter()
            .map(|(k, v)| (k.key, v))
            .collect())
    }

    /// Multipart uploads recorded as in flight for `pair`.
    pub fn uploads(&self, pair: PairId) -> Result<Vec<(String, UploadRecord)>> {
        self.pair_rows::<UploadsSchema>(pair)
    }
}

/// The smallest byte string greater than every string starting with `prefix`.
fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = prefix.to_vec();
    while let Some(last) = p.pop() {
        if last < u8::MAX {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}

/// `error: cause: cause` on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        text.push_str(": ");
        text.push_str(&s.to_string());
        next = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(size: u64) -> ObjectRecord {
        ObjectRecord {
            upload_checked: false,
            size,
            src_etag: Some(format!("e{size}")),
            src_mtime_ms: Some(1),
            sha256: Some([7; 32]),
            dst_etag: None,
            dst_version: None,
            synced_ms: 2,
        }
    }

    #[test]
    fn pairs_are_stable_and_objects_page_in_key_order() {
        let tmp = tempfile::tempdir().expect("tmp");
        let m = Manifest::open(&tmp.path().join("m")).expect("open");
        let p1 = m.pair("s3://a/b/", "file:///x/").expect("pair");
        let p2 = m.pair("s3://a/c/", "file:///x/").expect("pair");
        assert_ne!(p1, p2);
        assert_eq!(m.pair("s3://a/b/", "file:///x/").expect("pair"), p1);

        let keys = ["b", "a/x", "a-b", "a/y/z", "a0"];
        let mut batch = Batch::new();
        for (i, k) in keys.iter().enumerate() {
            batch.put::<ObjectsSchema>(
                &ObjectKey {
                    pair: p1,
                    key: k.to_string(),
                },
                &rec(i as u64),
            );
            batch.put::<ObjectsSchema>(
                &ObjectKey {
                    pair: p2,
                    key: k.to_string(),
                },
                &rec(100),
            );
        }
        m.write(batch).expect("write");
        let page: Vec<String> = m
            .objects_page(p1, None, 3)
            .expect("page")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(page, ["a-b", "a/x", "a/y/z"]);
        let rest: Vec<String> = m
            .objects_page(p1, Some("a/y/z"), 10)
            .expect("page")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(rest, ["a0", "b"]);
        assert_eq!(m.object(p1, "a0").expect("get"), Some(rec(4)));
        drop(m);

        // Reopen: everything is still there.
        let m = Manifest::open(&tmp.path().join("m")).expect("reopen");
        assert_eq!(m.objects_page(p2, None, 100).expect("page").len(), 5);
    }

    #[test]
    fn second_open_is_in_use() {
        let tmp = tempfile::tempdir().expect("tmp");
        let _m = Manifest::open(tmp.path()).expect("open");
        let err = Manifest::open(tmp.path()).expect_err("second open");
        assert!(matches!(err, StateError::InUse { .. }), "{err:?}");
    }

    #[test]
    fn foreign_and_newer_manifests_are_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::write(tmp.path().join("notes.txt"), "hello").expect("write");
        let err = Manifest::open(tmp.path()).expect_err("foreign");
        assert!(matches!(err, StateError::Foreign { .. }), "{err:?}");

        let dir = tmp.path().join("newer");
        {
            let m = Manifest::open(&dir).expect("open");
            let mut b = Batch::new();
            b.put::<MetaSchema>(&MetaKey("format"), &MetaValue(FORMAT_VERSION + 1));
            m.write(b).expect("write");
        }
        let err = Manifest::open(&dir).expect_err("newer");
        assert!(
            matches!(err, StateError::NewerFormat { found, .. } if found == FORMAT_VERSION + 1),
            "{err:?}"
        );
    }

    fn restore(id: &str) -> RestoreRecord {
        RestoreRecord {
            id: id.into(),
            backup_id: "b-id".into(),
            state: crate::schema::RestoreState::Restored,
            origin: crate::schema::RestoreOrigin::Config,
            suffix: Some("_bak".into()),
            renames: vec![],
            attempts: 1,
            requested_ms: 5,
            fired_ms: Some(6),
            ended_ms: Some(7),
            next_try_ms: None,
            pid: None,
            progress: 100,
            detail: "SUCCESS".into(),
            elapsed_ms: 0,
            step: crate::schema::RestoreStep::None,
            job_ref: None,
            counts: Vec::new(),
        }
    }

    /// A format 1 manifest (one restore row per backup, v1 values) opens as format 2 with each
    /// row as the backup's first request, and its history grows from there.
    #[test]
    fn format_1_restores_become_the_first_request_of_their_backup() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("m");
        let pair;
        {
            let m = Manifest::open(&dir).expect("open");
            pair = m.pair("s3://a/backup/", "file:///t/").expect("pair");
            let mut b = Batch::new();
            b.put::<MetaSchema>(&MetaKey("format"), &MetaValue(1));
            for name in ["b1", "b10"] {
                // A v3 value without its v3 fields (step, job, counts) and elapsed time.
                let mut v1 = restore(&format!("r-{name}")).encode_value();
                v1.truncate(v1.len() - 6 - 8);
                v1[0] = 1;
                let mut key = pair.to_be_bytes().to_vec();
                key.extend_from_slice(name.as_bytes());
                b.ops.push((RestoresSchema::CF, key, Some(v1)));
            }
            m.write(b).expect("write format 1 rows");
        }
        let m = Manifest::open(&dir).expect("migrates");
        assert_eq!(
            m.get::<MetaSchema>(&MetaKey("format")).expect("format"),
            Some(MetaValue(2))
        );
        let b1 = m.restores_of(pair, "b1").expect("b1");
        assert_eq!(b1, vec![(0, restore("r-b1"))]);
        assert_eq!(m.restores(pair).expect("all").len(), 2);
        let mut b = Batch::new();
        b.put::<RestoresSchema>(
            &RestoreKey {
                pair,
                name: "b1".into(),
                seq: 1,
            },
            &restore("r-b1-r1"),
        );
        m.write(b).expect("second request");
        let ids: Vec<String> = m
            .restores_of(pair, "b1")
            .expect("b1")
            .into_iter()
            .map(|(_, r)| r.id)
            .collect();
        assert_eq!(ids, ["r-b1", "r-b1-r1"]);
        assert_eq!(m.restores_of(pair, "b10").expect("b10").len(), 1);
        drop(m);
        // Opening again changes nothing.
        let m = Manifest::open(&dir).expect("reopen");
        assert_eq!(m.restores(pair).expect("all").len(), 3);
    }

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound(&[0, 0, 0, 1]), Some(vec![0, 0, 0, 2]));
        assert_eq!(prefix_upper_bound(&[0, 255]), Some(vec![1]));
        assert_eq!(prefix_upper_bound(&[255, 255]), None);
    }
}
