//! `mirror`: scan → plan → transfer, driven by the manifest.
//!
//! Scan lists **only the source** and merge-walks it against the manifest rows of the pair
//! (both are in key byte order, so the walk needs no sorting and holds one page of rows). With
//! `check_target`, and always on a pair's first run, the target is listed too and joins the
//! walk: a three-way merge, still one pass, still no sorting. [`plan`] decides each key:
//!
//! | source | manifest row | target (when listed) | action |
//! |---|---|---|---|
//! | present | none | not listed / absent | copy (new) |
//! | present | none | present, same content | adopt: record the row, no copy |
//! | present | none | present, other content | copy only with `overwrite`, else a conflict |
//! | present | unchanged (size + ETag) | not listed | nothing: no request to the target (`verify`: read it back) |
//! | present | unchanged | absent | copy (missing at the target) |
//! | present | unchanged | present, changed since ferry wrote it | copy (changed at the target) |
//! | present | changed | any | copy (changed) |
//! | absent | present | absent | forget the row |
//! | absent | present | not listed / present | delete at the target, only with `remove` |
//! | absent | none | present | delete at the target, only with `remove` (mc's "extraneous") |
//!
//! "Same content" for an object ferry has no row for: equal plain (MD5) ETags, or, when the
//! sizes match, equal SHA-256 of both sides read back. Deletions happen only after a complete
//! scan of every listed side, and never when the source listed nothing (unless forced).
//!
//! A row is written only after the target confirmed the object, in one batch with the removal
//! of its in-flight upload record: a crash never leaves a row claiming an object the target
//! does not have. Multipart uploads recorded as in flight by a crashed run are aborted at the
//! start of the next one.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use ferry_state::schema::{
    ObjectKey, ObjectRecord, ObjectsSchema, PairId, PairKey, PairsSchema, UploadsSchema,
};
use ferry_state::{Batch, Manifest, StateError, UploadRecord};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use super::backups::{self, Gate};
use super::pipeline::{LIST_AHEAD, listing_lost, prefetch};
use super::transfer::{self, Method, TransferConfig, UploadJournal};
use crate::backend::error::{display_chain, msg};
use crate::backend::{Error, ListEntry, ListOptions, ObjectMeta, ObjectStore};
use crate::milvus::layout::Part;

/// Rows read from the manifest at a time during the walk.
const PAGE: usize = 1000;

/// One end of a mirror.
#[derive(Debug, Clone)]
pub struct Side {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// Prefix inside it: empty, or ending with `/`.
    pub prefix: String,
}

impl Side {
    /// `url/prefix`, the manifest's name for this end.
    pub fn url(&self) -> String {
        format!("{}/{}", self.store.url(), self.prefix)
    }

    /// A relative key as messages show it (`store/prefix/rel`).
    pub fn display(&self, rel: &str) -> String {
        format!("{}/{}{rel}", self.store, self.prefix)
    }

    /// The store key of a relative key.
    pub fn key(&self, rel: &str) -> String {
        format!("{}{rel}", self.prefix)
    }
}

/// A cap on deletions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxDelete {
    /// At most this many objects.
    Count(u64),
    /// At most this share (0–100) of the objects the target had.
    Percent(f64),
}

impl MaxDelete {
    /// Parses `N` (a count) or `P%` (a share of the target's objects).
    pub fn parse(v: &str) -> Result<MaxDelete, String> {
        let bad = || format!("{v:?}: expected a count (100) or a percentage (10%)");
        match v.trim().strip_suffix('%') {
            Some(p) => {
                let p: f64 = p.trim().parse().map_err(|_| bad())?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(bad());
                }
                Ok(MaxDelete::Percent(p))
            }
            None => v
                .trim()
                .parse::<u64>()
                .map(MaxDelete::Count)
                .map_err(|_| bad()),
        }
    }
}

/// Compiles include/exclude patterns, matched against keys relative to the mirrored prefix
/// (`*` also crosses `/`, as in mc and rclone filters).
pub fn glob_set(patterns: &[String]) -> Result<globset::GlobSet, globset::Error> {
    let mut b = globset::GlobSetBuilder::new();
    for p in patterns {
        b.add(
            globset::GlobBuilder::new(p)
                .literal_separator(false)
                .build()?,
        );
    }
    b.build()
}

/// How to mirror.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// Delete target objects whose source is gone.
    pub remove: bool,
    /// Report, change nothing (neither stores nor manifest).
    pub dry_run: bool,
    /// When set, only relative keys matching one of these are mirrored (others are ignored:
    /// neither copied nor deleted).
    pub include: Option<globset::GlobSet>,
    /// Relative keys matching any of these are ignored (neither copied nor deleted).
    pub exclude: globset::GlobSet,
    /// Refuse deleting more than this without `force`.
    pub max_delete: Option<MaxDelete>,
    /// Override `max_delete` and the empty-source guard.
    pub force: bool,
    /// List the target too and repair drift (objects deleted or changed behind ferry's back).
    pub check_target: bool,
    /// Read back target objects (unchanged ones and fresh copies) and compare SHA-256.
    pub verify: bool,
    /// Replace target objects that ferry did not write and whose content differs.
    pub overwrite: bool,
    /// Objects copied at once.
    pub workers: usize,
    /// Shared by several mirrors (ferryd's jobs): one permit per object in flight.
    pub permits: Option<Arc<tokio::sync::Semaphore>>,
    /// Stops the run: nothing new starts, work in flight finishes, nothing is deleted.
    pub cancel: Option<tokio_util::sync::CancellationToken>,
    /// The source is a milvus-backup backup root (`<name>/meta/`, `<name>/binlogs/`): hold
    /// each backup's meta files until its data is whole and verified at the target, and
    /// write `meta/backup_meta.json` last (see the `backups` module).
    pub backups: bool,
    /// With `backups`: asked when a backup becomes verified; the restore record it returns is
    /// written in the same atomic batch as the backup's state (ferryd's restore triggers).
    pub on_verified: Option<OnVerified>,
    /// Transfer settings.
    pub transfer: TransferConfig,
}

/// See [`MirrorOptions::on_verified`].
#[derive(Clone)]
pub struct OnVerified(pub Arc<VerifiedHook>);

/// Called with a backup's name, its record and its restore history (sequence number, request)
/// once a backup id becomes verified at the target: returns the requests to write with it
/// (new ones, or changed ones of the history), by sequence number.
pub type VerifiedHook = dyn Fn(
        &str,
        &ferry_state::BackupRecord,
        &[(u32, ferry_state::RestoreRecord)],
    ) -> Vec<(u32, ferry_state::RestoreRecord)>
    + Send
    + Sync;

impl std::fmt::Debug for OnVerified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnVerified(..)")
    }
}

impl MirrorOptions {
    /// Whether a relative key takes part in the mirror.
    pub fn selects(&self, rel: &str) -> bool {
        self.include.as_ref().is_none_or(|i| i.is_match(rel)) && !self.exclude.is_match(rel)
    }

    fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.is_cancelled())
    }
}

/// Why an object is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Not in the manifest.
    New,
    /// In the manifest with another size or ETag.
    Changed,
    /// In the manifest, gone at the target.
    Missing,
    /// In the manifest, changed at the target behind ferry's back.
    TargetChanged,
    /// Read back with another SHA-256 than the source's.
    Corrupt,
    /// At the target with other content, not written by ferry; replaced (`overwrite`).
    Overwrite,
}

impl Reason {
    /// A word for output.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::New => "new",
            Reason::Changed => "changed",
            Reason::Missing => "missing-at-target",
            Reason::TargetChanged => "changed-at-target",
            Reason::Corrupt => "corrupt-at-target",
            Reason::Overwrite => "overwrite",
        }
    }
}

/// What happened, object by object.
#[derive(Debug)]
pub enum Event {
    /// Copied (or, in a dry run, would be).
    Copied {
        /// Source, for messages.
        source: String,
        /// Target, for messages.
        target: String,
        /// Bytes.
        size: u64,
        /// `None` in a dry run.
        method: Option<Method>,
        /// Why.
        reason: Reason,
    },
    /// Already at the target with the same content, not written by ferry: recorded, not copied.
    Adopted {
        /// Target, for messages.
        target: String,
    },
    /// Read back from the target: same SHA-256 as the source.
    Verified {
        /// Target, for messages.
        target: String,
    },
    /// Deleted at the target (or would be).
    Deleted {
        /// Target, for messages.
        target: String,
    },
    /// This object failed.
    Failed {
        /// Source or target, for messages.
        path: String,
        /// Why.
        error: Error,
    },
    /// Not written or deleted: its backup is held at the target (see the `backups` module);
    /// the backup is reported once with [`Event::BackupHeld`].
    Held {
        /// Target, for messages.
        path: String,
        /// The backup's folder name.
        backup: String,
    },
    /// A backup left as it is at the target in this run, and why.
    BackupHeld {
        /// Its folder name.
        name: String,
        /// Why.
        hold: super::backups::Hold,
    },
    /// A milvus-backup backup was settled (with [`MirrorOptions::backups`]).
    Backup {
        /// Its folder name.
        name: String,
        /// Where it stands.
        state: ferry_state::BackupState,
        /// What is missing or wrong; empty when verified.
        detail: String,
    },
}

/// Totals of a run.
#[derive(Debug, Default)]
pub struct Summary {
    /// Objects copied.
    pub copied: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Objects unchanged (no copy; no request at all unless the target was listed or verified).
    pub unchanged: u64,
    /// Objects found at the target with the source's content and recorded without a copy.
    pub adopted: u64,
    /// Objects read back from the target with the right SHA-256.
    pub verified: u64,
    /// Objects deleted at the target.
    pub deleted: u64,
    /// Objects gone at the source but kept at the target (no `remove`).
    pub kept: u64,
    /// Objects that failed.
    pub failed: u64,
    /// Objects listed at the source.
    pub source_objects: u64,
    /// Objects listed at the source that the include/exclude filters left out (neither copied
    /// nor deleted): a filter that matches nothing shows here.
    pub skipped: u64,
    /// The target was listed (`check_target`, or the pair's first run).
    pub target_listed: bool,
    /// Keys named to `mirror_keys` that are gone at the source (a full scan decides what to
    /// delete).
    pub gone: u64,
    /// The run was cancelled before the end: nothing was deleted.
    pub cancelled: bool,
    /// Listing the source failed: nothing was deleted.
    pub scan_error: Option<Error>,
    /// Listing the target failed: nothing was deleted.
    pub target_scan_error: Option<Error>,
    /// Deletions refused by a safety rule.
    pub delete_refused: Option<String>,
    /// Backups looked at in this run and not verified at the target (incomplete, failed, or
    /// still syncing): their meta is held back.
    pub backups_pending: u64,
    /// Objects not written or deleted because their backup is held at the target.
    pub held: u64,
    /// Backups left as they are at the target, and why (a source that is not whole under an
    /// announced backup, a running restore): the run is not a success.
    pub held_backups: Vec<(String, super::backups::Hold)>,
}

impl Summary {
    /// True when everything listed was mirrored.
    pub fn ok(&self) -> bool {
        self.failed == 0
            && !self.cancelled
            && self.scan_error.is_none()
            && self.target_scan_error.is_none()
            && self.delete_refused.is_none()
            && self.held_backups.is_empty()
    }
}

/// Failures that stop a mirror before it starts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MirrorError {
    /// The manifest failed.
    #[error(transparent)]
    State(#[from] StateError),
}

/// An object's manifest record could not be written: retried (transient) when the disk under
/// the manifest failed, since the manifest reopens once it is fixed.
pub(crate) fn manifest_error(path: String, e: StateError) -> Error {
    if e.is_io() {
        Error::Transient {
            path,
            source: Box::new(e),
        }
    } else {
        Error::Generic {
            path,
            source: Box::new(e),
        }
    }
}

/// What the target holds at a key, as far as this run knows.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetState {
    /// The target was not listed.
    Unknown,
    /// Listed, not there.
    Absent,
    /// Listed, there.
    Present(ObjectMeta),
}

/// One key of the walk: what the source, the manifest and the target say about it.
#[derive(Debug)]
pub struct Entry {
    /// Relative key.
    pub rel: String,
    /// The source object.
    pub source: Option<ObjectMeta>,
    /// The manifest row.
    pub row: Option<ObjectRecord>,
    /// The target object.
    pub target: TargetState,
}

/// What to do with one key.
// One per key, moved once into its task: boxing `Work` would add an allocation per key.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Requests to make for it.
    Run(Work),
    /// Nothing to do.
    Skip,
    /// Gone at the source: delete at the target with `remove`.
    Delete {
        /// Relative key.
        rel: String,
    },
    /// Gone at both ends: drop the row.
    Forget {
        /// Relative key.
        rel: String,
    },
}

impl Action {
    /// The key it concerns (`None` for a skip).
    pub fn rel(&self) -> Option<&str> {
        match self {
            Action::Run(w) => Some(w.rel()),
            Action::Delete { rel } | Action::Forget { rel } => Some(rel),
            Action::Skip => None,
        }
    }
}

fn ms(t: &DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn unchanged(meta: &ObjectMeta, rec: &ObjectRecord) -> bool {
    if meta.size != rec.size {
        return false;
    }
    if let (Some(a), Some(b)) = (&meta.e_tag, &rec.src_etag) {
        return a == b;
    }
    matches!((meta.last_modified.as_ref().map(ms), rec.src_mtime_ms), (Some(a), Some(b)) if a == b)
}

/// Whether the target's ETag now says the object changed since ferry wrote it (`then`):
/// `Some(false)` when equal, `Some(true)` when both are comparable and differ, `None` when it
/// cannot tell. Multipart ETags and local fingerprints (with '-') can differ between a write's
/// answer and later listings on some servers: not proof of a change.
fn target_etag_changed(then: Option<&str>, now: Option<&str>) -> Option<bool> {
    match (then, now) {
        (Some(then), Some(now)) if then == now => Some(false),
        (Some(then), Some(now)) if !then.contains('-') && !now.contains('-') => Some(true),
        _ => None,
    }
}

/// A plain S3 ETag: the MD5 of the content (32 hex digits), on every S3 without SSE-KMS/C.
fn is_md5_etag(e: &str) -> bool {
    e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Same content by ETag alone: both plain MD5 ETags, equal.
fn same_md5(a: &ObjectMeta, b: &ObjectMeta) -> bool {
    match (&a.e_tag, &b.e_tag) {
        (Some(x), Some(y)) => is_md5_etag(x) && x.eq_ignore_ascii_case(y),
        _ => false,
    }
}

/// The decision table (module docs) for one key.
pub fn plan(e: Entry, verify: bool) -> Action {
    let Entry {
        rel,
        source,
        row,
        target,
    } = e;
    match (source, row, target) {
        (Some(meta), None, TargetState::Present(t)) => Action::Run(Work::Compare {
            rel,
            meta,
            target: t,
        }),
        (Some(meta), None, _) => Action::Run(Work::Copy {
            rel,
            meta,
            reason: Reason::New,
        }),
        (Some(meta), Some(row), target) => {
            if !unchanged(&meta, &row) {
                return Action::Run(Work::Copy {
                    rel,
                    meta,
                    reason: Reason::Changed,
                });
            }
            match target {
                TargetState::Absent => Action::Run(Work::Copy {
                    rel,
                    meta,
                    reason: Reason::Missing,
                }),
                TargetState::Present(t)
                    if t.size != row.size
                        || target_etag_changed(row.dst_etag.as_deref(), t.e_tag.as_deref())
                            == Some(true) =>
                {
                    Action::Run(Work::Copy {
                        rel,
                        meta,
                        reason: Reason::TargetChanged,
                    })
                }
                _ if verify => Action::Run(Work::Verify {
                    rel,
                    meta,
                    row,
                    source: true,
                }),
                _ => Action::Skip,
            }
        }
        (None, Some(_), TargetState::Absent) => Action::Forget { rel },
        (None, _, TargetState::Present(_)) | (None, Some(_), TargetState::Unknown) => {
            Action::Delete { rel }
        }
        // Nothing anywhere: the walk never yields that.
        (None, None, _) => Action::Skip,
    }
}

/// What the manifest knows of a pair's objects, for `diff`.
#[derive(Debug)]
pub struct ManifestKnown<'a> {
    /// The manifest.
    pub manifest: &'a Manifest,
    /// The pair.
    pub pair: PairId,
}

impl super::diff::Known for ManifestKnown<'_> {
    fn same_content(&self, key: &str, source: &ObjectMeta, target: &ObjectMeta) -> Option<bool> {
        let rec = self.manifest.object(self.pair, key).ok()??;
        // Only when the source is still the version ferry copied does the row say anything.
        if !unchanged(source, &rec) {
            return None;
        }
        target_etag_changed(rec.dst_etag.as_deref(), target.e_tag.as_deref()).map(|c| !c)
    }
}

type Listing = BoxStream<'static, Result<ListEntry, Error>>;

/// Relative key of a listed object worth mirroring: not a folder marker, selected. Objects
/// the include/exclude filters leave out are counted in `skipped`.
fn relative(
    m: &ObjectMeta,
    prefix_len: usize,
    options: &MirrorOptions,
    skipped: Option<&AtomicU64>,
) -> Option<String> {
    let rel = m.key.get(prefix_len..)?;
    // A "folder marker" (key ending in /) carries no data worth mirroring.
    if rel.is_empty() || rel.ends_with('/') {
        return None;
    }
    if !options.selects(rel) {
        if let Some(s) = skipped {
            s.fetch_add(1, Ordering::Relaxed);
        }
        return None;
    }
    Some(rel.to_owned())
}

/// The next object of a listing, skipping what [`relative`] refuses (counted in `skipped`
/// when given: the source's listing).
async fn next_object(
    listing: &mut Listing,
    prefix_len: usize,
    options: &MirrorOptions,
    skipped: Option<&AtomicU64>,
) -> Result<Option<(String, ObjectMeta)>, Error> {
    while let Some(e) = listing.try_next().await? {
        if let ListEntry::Object(m) = e
            && let Some(rel) = relative(&m, prefix_len, options, skipped)
        {
            return Ok(Some((rel, m)));
        }
    }
    Ok(None)
}

/// The merge-walk of a source listing, the manifest rows of a pair and (optionally) a target
/// listing. All three are in key byte order; the walk holds one head of each and a page of
/// rows.
struct Walk<'a> {
    source: Listing,
    target: Option<Listing>,
    manifest: &'a Manifest,
    pair: PairId,
    src_prefix_len: usize,
    dst_prefix_len: usize,
    options: &'a MirrorOptions,
    rows: VecDeque<(String, ObjectRecord)>,
    rows_after: Option<String>,
    rows_done: bool,
    src: Option<(String, ObjectMeta)>,
    src_done: bool,
    dst: Option<(String, ObjectMeta)>,
    dst_done: bool,
    listed: &'a AtomicU64,
    /// Source objects the include/exclude filters left out.
    skipped: &'a AtomicU64,
}

impl Walk<'_> {
    fn next_rows(&mut self) -> Result<(), StateError> {
        while self.rows.is_empty() && !self.rows_done {
            let page = self
                .manifest
                .objects_page(self.pair, self.rows_after.as_deref(), PAGE)?;
            self.rows_done = page.len() < PAGE;
            self.rows_after = page
                .last()
                .map(|(k, _)| k.clone())
                .or(self.rows_after.take());
            self.rows
                .extend(page.into_iter().filter(|(k, _)| self.options.selects(k)));
        }
        Ok(())
    }

    /// The next key, `None` at the end; an `Err` ends the walk.
    async fn next(&mut self) -> Option<Result<Entry, WalkError>> {
        if self.options.cancelled() {
            return Some(Err(WalkError::Cancelled));
        }
        if self.src.is_none() && !self.src_done {
            match next_object(
                &mut self.source,
                self.src_prefix_len,
                self.options,
                Some(self.skipped),
            )
            .await
            {
                Ok(Some(o)) => {
                    self.listed.fetch_add(1, Ordering::Relaxed);
                    self.src = Some(o);
                }
                Ok(None) => self.src_done = true,
                Err(e) => return Some(Err(WalkError::Scan(e))),
            }
        }
        if self.dst.is_none()
            && !self.dst_done
            && let Some(listing) = self.target.as_mut()
        {
            match next_object(listing, self.dst_prefix_len, self.options, None).await {
                Ok(Some(o)) => self.dst = Some(o),
                Ok(None) => self.dst_done = true,
                Err(e) => return Some(Err(WalkError::TargetScan(e))),
            }
        }
        if let Err(e) = self.next_rows() {
            return Some(Err(WalkError::State(e)));
        }
        // The smallest key among the three heads (str order is byte order).
        let rel = [
            self.src.as_ref().map(|(k, _)| k),
            self.rows.front().map(|(k, _)| k),
            self.dst.as_ref().map(|(k, _)| k),
        ]
        .into_iter()
        .flatten()
        .min()?
        .clone();
        let source = if self.src.as_ref().is_some_and(|(k, _)| *k == rel) {
            self.src.take().map(|(_, m)| m)
        } else {
            None
        };
        let row = if self.rows.front().is_some_and(|(k, _)| *k == rel) {
            self.rows.pop_front().map(|(_, r)| r)
        } else {
            None
        };
        let target = if self.target.is_none() {
            TargetState::Unknown
        } else if self.dst.as_ref().is_some_and(|(k, _)| *k == rel) {
            self.dst
                .take()
                .map_or(TargetState::Absent, |(_, m)| TargetState::Present(m))
        } else {
            TargetState::Absent
        };
        Some(Ok(Entry {
            rel,
            source,
            row,
            target,
        }))
    }
}

enum WalkError {
    Scan(Error),
    TargetScan(Error),
    State(StateError),
    Cancelled,
}

/// Writes in-flight upload records for one object.
struct Journal<'a> {
    manifest: &'a Manifest,
    key: ObjectKey,
    target_key: String,
    src_etag: Option<String>,
    /// An upload of this object a killed run left open: (its id, its part size).
    resume: Option<(String, u64)>,
    /// Whether the transfer took `resume` (else it is aborted after the copy).
    resume_taken: std::sync::atomic::AtomicBool,
}

impl Journal<'_> {
    fn record(&self, upload_id: &str, part_size: u64) {
        let mut b = Batch::new();
        b.put::<UploadsSchema>(
            &self.key,
            &UploadRecord {
                upload_id: upload_id.to_owned(),
                target_key: self.target_key.clone(),
                src_etag: self.src_etag.clone(),
                part_size,
                started_ms: Utc::now().timestamp_millis(),
            },
        );
        if let Err(e) = self.manifest.write(b) {
            tracing::warn!(error = %e, "cannot record the multipart upload in the manifest");
        }
    }
}

impl UploadJournal for Journal<'_> {
    // Recorded before the upload exists, so that a crash between its creation and the
    // moment its id is known still leaves a trace to clean up by key.
    fn starting(&self, part_size: u64) {
        self.record("", part_size);
    }

    fn started(&self, upload_id: &str, part_size: u64) {
        self.record(upload_id, part_size);
    }

    // The upload is over (completed or aborted), but the object's row is not written yet:
    // keep a plain intent so that a crash before the row still marks the key as ferry's own.
    fn finished(&self, _upload_id: &str) {
        self.record("", 0);
    }

    fn resumable(&self) -> Option<(String, u64)> {
        self.resume_taken.store(true, Ordering::Relaxed);
        self.resume.clone()
    }
}

impl Journal<'_> {
    /// Marks the key as being written by ferry (before any byte is sent): until its row is
    /// written, an object found there is ferry's own unfinished work, not someone else's.
    fn intent(&self) {
        let mut b = Batch::new();
        b.put::<UploadsSchema>(
            &self.key,
            &UploadRecord {
                upload_id: String::new(),
                target_key: self.target_key.clone(),
                src_etag: self.src_etag.clone(),
                part_size: 0,
                started_ms: Utc::now().timestamp_millis(),
            },
        );
        if let Err(e) = self.manifest.write(b) {
            tracing::warn!(error = %e, "cannot record the write intent in the manifest");
        }
    }
}

/// The walk's decisions as a stream; the first error is kept in `failure` and ends it.
fn walk_actions<'a>(
    walk: Walk<'a>,
    failure: &'a Mutex<Option<WalkError>>,
    verify: bool,
    gate: Option<&'a Gate>,
    owned: (&'a Stale, &'a Mutex<std::collections::HashSet<String>>),
) -> BoxStream<'a, Action> {
    futures::stream::unfold(walk, move |mut w| async move {
        match w.next().await? {
            Ok(entry) => {
                // Keys an interrupted run was writing: note the ones the source still has.
                if !owned.0.owned.is_empty()
                    && entry.source.is_some()
                    && owned.0.owned.contains(&entry.rel)
                    && let Ok(mut seen) = owned.1.lock()
                {
                    seen.insert(entry.rel.clone());
                }
                let Some(gate) = gate else {
                    return Some((plan(entry, verify), w));
                };
                gate.see(&entry.rel, entry.source.is_some());
                let action = plan(entry, verify);
                if let Some(rel) = action.rel() {
                    gate.touch(rel);
                }
                Some((action, w))
            }
            Err(e) => {
                if let Ok(mut f) = failure.lock() {
                    f.replace(e);
                }
                None
            }
        }
    })
    .boxed()
}

/// Receives each object's outcome.
pub type OnEvent<'a> = dyn FnMut(Event) + Send + 'a;

/// Mirrors `src` into `dst`, reporting each object to `on_event`.
pub async fn mirror(
    manifest: &Manifest,
    src: &Side,
    dst: &Side,
    options: &MirrorOptions,
    on_event: &mut OnEvent<'_>,
) -> Result<Summary, MirrorError> {
    let pair = manifest.pair(&src.url(), &dst.url())?;
    let mut summary = Summary::default();
    // Until a first run completed, ferry does not know what the target held before it: look,
    // so that nothing there is overwritten unseen and what is already there is adopted.
    let first_run = manifest
        .get::<PairsSchema>(&PairKey(pair))?
        .is_none_or(|p| p.last_scan_ms.is_none());
    summary.target_listed = options.check_target || first_run;
    let stale = if options.dry_run {
        Stale::default()
    } else {
        abort_stale_uploads(manifest, pair, src, dst).await?
    };

    let listed = AtomicU64::new(0);
    let skipped = AtomicU64::new(0);
    let failure: Mutex<Option<WalkError>> = Mutex::new(None);
    let target = summary.target_listed.then(|| {
        prefetch(
            dst.store.list(&dst.prefix, ListOptions::default()),
            LIST_AHEAD,
            listing_lost(dst.display("")),
        )
    });
    let walk = Walk {
        source: prefetch(
            src.store.list(&src.prefix, ListOptions::default()),
            LIST_AHEAD,
            listing_lost(src.display("")),
        ),
        dst_done: target.is_none(),
        target,
        manifest,
        pair,
        src_prefix_len: src.prefix.len(),
        dst_prefix_len: dst.prefix.len(),
        options,
        rows: VecDeque::new(),
        rows_after: None,
        rows_done: false,
        src: None,
        src_done: false,
        dst: None,
        listed: &listed,
        skipped: &skipped,
    };
    // The walk ends at its first error, which is kept in `failure`: work already started
    // finishes, nothing more starts, and nothing is deleted.
    let gate = options.backups.then(Gate::default);
    let owned_at_source = Mutex::new(std::collections::HashSet::new());
    let actions = walk_actions(
        walk,
        &failure,
        options.verify,
        gate.as_ref(),
        (&stale, &owned_at_source),
    );
    let ctx = Ctx {
        manifest,
        pair,
        src,
        dst,
        options,
        gate: gate.as_ref(),
        hold: true,
        stale: Some(&stale),
    };
    let (deletes, forgets) = ctx.execute(actions, &stale, &mut summary, on_event).await;
    if !options.dry_run {
        stale.abort_unused(manifest, pair, dst).await?;
    }
    summary.source_objects = listed.load(Ordering::Relaxed);
    summary.skipped = skipped.load(Ordering::Relaxed);
    if !options.dry_run && !forgets.is_empty() {
        let mut b = Batch::new();
        for rel in forgets {
            b.delete::<ObjectsSchema>(&ObjectKey { pair, key: rel });
        }
        manifest.write(b)?;
    }
    let failure = failure.lock().ok().and_then(|mut f| f.take());
    match failure {
        Some(WalkError::Scan(e)) => {
            summary.scan_error = Some(e);
            return Ok(summary);
        }
        Some(WalkError::TargetScan(e)) => {
            summary.target_scan_error = Some(e);
            return Ok(summary);
        }
        Some(WalkError::Cancelled) => {
            summary.cancelled = true;
            return Ok(summary);
        }
        Some(WalkError::State(e)) => return Err(e.into()),
        None => {}
    }

    // ferry's own writes that a crash interrupted before their row was written, for keys the
    // source no longer has: objects only ferry put there, removed like any it recorded.
    let mut deletes = deletes;
    let at_source = owned_at_source.into_inner().unwrap_or_default();
    for rel in &stale.owned {
        if !at_source.contains(rel) && manifest.object(pair, rel)?.is_none() {
            deletes.push(rel.clone());
        }
    }
    deletes.sort();
    deletes.dedup();
    if !deletes.is_empty() {
        if options.remove {
            apply_deletes(ctx, deletes, &mut summary, on_event).await?;
        } else {
            summary.kept = deletes.len() as u64;
        }
    }
    if let Some(gate) = &gate
        && !options.dry_run
    {
        backups::settle(ctx, gate, true, &mut summary, on_event).await?;
    }
    // A clean run is the pair's reference point: from then on, the target holds what the
    // manifest says (until `check_target` looks again). After failures (say, a conflict at the
    // target), the next run looks again.
    if !options.dry_run && summary.ok() {
        let mut b = Batch::new();
        if let Some(mut rec) = manifest.get::<PairsSchema>(&PairKey(pair))? {
            rec.last_scan_ms = Some(Utc::now().timestamp_millis());
            rec.objects = summary.source_objects;
            b.put::<PairsSchema>(&PairKey(pair), &rec);
            // Every source object now has its row (which cleared its intent), and with
            // `remove` the interrupted writes of keys gone from the source were deleted (with
            // their intent). Intents left mark objects ferry wrote that are kept at the target
            // until a run with `remove`.
            manifest.write(b)?;
        }
    }
    Ok(summary)
}

/// Mirrors only the named relative keys, and every object under the named relative prefixes
/// (ending with `/`): ferryd's path for change events (a watched file, a bucket notification).
/// It copies; it never deletes. A named key gone at the source is counted in
/// [`Summary::gone`], so that the caller runs a full scan, which has the delete guards.
pub async fn mirror_keys(
    manifest: &Manifest,
    src: &Side,
    dst: &Side,
    options: &MirrorOptions,
    keys: Vec<String>,
    on_event: &mut OnEvent<'_>,
) -> Result<Summary, MirrorError> {
    let pair = manifest.pair(&src.url(), &dst.url())?;
    let mut summary = Summary::default();
    let stale = if options.dry_run {
        Stale::default()
    } else {
        abort_stale_uploads(manifest, pair, src, dst).await?
    };
    let mut keys = keys;
    keys.sort();
    keys.dedup();
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let mut gone = 0u64;
    let skipped = AtomicU64::new(0);
    for key in keys {
        if options.cancelled() {
            summary.cancelled = true;
            break;
        }
        if key.is_empty() || key.ends_with('/') {
            let mut listing = src.store.list(&src.key(&key), ListOptions::default());
            loop {
                match next_object(&mut listing, src.prefix.len(), options, Some(&skipped)).await {
                    Ok(Some((rel, meta))) => entries.push((rel, meta)),
                    Ok(None) => break,
                    Err(error) => {
                        errors.push(Event::Failed {
                            path: src.display(&key),
                            error,
                        });
                        break;
                    }
                }
            }
            continue;
        }
        if !options.selects(&key) {
            skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        match src.store.head(&src.key(&key)).await {
            Ok(meta) => entries.push((key, meta)),
            Err(Error::NotFound { .. }) => gone += 1,
            Err(error) => errors.push(Event::Failed {
                path: src.display(&key),
                error,
            }),
        }
    }
    // A key can arrive both on its own and under a listed prefix: once is enough.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|a, b| a.0 == b.0);
    summary.gone = gone;
    summary.skipped = skipped.load(Ordering::Relaxed);
    summary.source_objects = entries.len() as u64;
    for e in errors {
        summary.failed += 1;
        on_event(e);
    }
    let gate = options.backups.then(Gate::default);
    let mut planned = Vec::with_capacity(entries.len());
    for (rel, meta) in entries {
        let row = manifest.object(pair, &rel)?;
        if let Some(gate) = &gate {
            gate.see(&rel, true);
        }
        let action = plan(
            Entry {
                rel,
                source: Some(meta),
                row,
                target: TargetState::Unknown,
            },
            false,
        );
        if let (Some(gate), Some(rel)) = (&gate, action.rel()) {
            gate.touch(rel);
        }
        planned.push(action);
    }
    let ctx = Ctx {
        manifest,
        pair,
        src,
        dst,
        options,
        gate: gate.as_ref(),
        hold: true,
        stale: Some(&stale),
    };
    ctx.execute(
        futures::stream::iter(planned),
        &stale,
        &mut summary,
        on_event,
    )
    .await;
    if let Some(gate) = &gate
        && !options.dry_run
        && !summary.cancelled
    {
        backups::settle(ctx, gate, false, &mut summary, on_event).await?;
    }
    Ok(summary)
}

/// The actions that make requests.
#[derive(Debug, PartialEq)]
pub enum Work {
    /// Copy the source object.
    Copy {
        /// Relative key.
        rel: String,
        /// The source object.
        meta: ObjectMeta,
        /// Why.
        reason: Reason,
    },
    /// Read the target back and compare with the row's SHA-256 (computing the source's when
    /// the row has none, or when `source`); copy again on a mismatch.
    Verify {
        /// Relative key.
        rel: String,
        /// The source object.
        meta: ObjectMeta,
        /// The row.
        row: ObjectRecord,
        /// Read the source too (`--verify`): the target must hold the source's bytes as they
        /// are now, not only the bytes recorded at copy time.
        source: bool,
    },
    /// At the target, no row: record it if the content is the same, else a conflict (or a copy
    /// with `overwrite`, or when it is ferry's own unfinished write).
    Compare {
        /// Relative key.
        rel: String,
        /// The source object.
        meta: ObjectMeta,
        /// The target object.
        target: ObjectMeta,
    },
}

impl Work {
    fn rel(&self) -> &str {
        match self {
            Work::Copy { rel, .. } | Work::Verify { rel, .. } | Work::Compare { rel, .. } => rel,
        }
    }
}

/// What a unit of work needs.
#[derive(Clone, Copy)]
pub(super) struct Ctx<'a> {
    pub(super) manifest: &'a Manifest,
    pub(super) pair: PairId,
    pub(super) src: &'a Side,
    pub(super) dst: &'a Side,
    pub(super) options: &'a MirrorOptions,
    /// With [`MirrorOptions::backups`]: what the run saw of each backup.
    pub(super) gate: Option<&'a Gate>,
    /// Hold back backups' meta files (the walk's work; not the settling's).
    hold: bool,
    /// What an earlier run left behind (uploads to go on with).
    stale: Option<&'a Stale>,
}

impl<'a> Ctx<'a> {
    /// Runs planned actions, `options.workers` at a time: counts skips, runs copies, checks
    /// and adoptions, and hands back the keys to delete and the rows to forget.
    async fn execute(
        self,
        actions: impl futures::Stream<Item = Action> + Send + 'a,
        stale: &Stale,
        summary: &mut Summary,
        on_event: &mut OnEvent<'_>,
    ) -> (Vec<String>, Vec<String>) {
        let unchanged = AtomicU64::new(0);
        let deletes = Mutex::new(Vec::new());
        let forgets = Mutex::new(Vec::new());
        let push = |v: &Mutex<Vec<String>>, rel| {
            if let Ok(mut v) = v.lock() {
                v.push(rel);
            }
        };
        let (src, dst, options) = (self.src, self.dst, self.options);
        let (gate, hold) = (self.gate, self.hold);
        let work = actions
            .filter_map(|a| {
                let out = match a {
                    // A backup's meta waits for its data (settled after the walk).
                    Action::Run(work) if hold && gate.is_some() && Gate::holds(work.rel()) => None,
                    Action::Skip => {
                        unchanged.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                    Action::Delete { rel } => {
                        push(&deletes, rel);
                        None
                    }
                    Action::Forget { rel } => {
                        push(&forgets, rel);
                        None
                    }
                    Action::Run(work) => Some(work),
                };
                futures::future::ready(out)
            })
            .map(|work| {
                let blocked = stale.unresolved.contains(work.rel());
                let owned = stale.owned.contains(work.rel());
                async move {
                    if blocked {
                        let rel = work.rel();
                        return Event::Failed {
                            path: src.display(rel),
                            error: Error::Transient {
                                path: dst.display(rel),
                                source: msg(
                                    "an interrupted multipart upload of this object could not be aborted yet; retried next run",
                                ),
                            },
                        };
                    }
                    // One permit per object in flight, shared with other mirrors.
                    let _permit = match &options.permits {
                        Some(p) => p.clone().acquire_owned().await.ok(),
                        None => None,
                    };
                    let Some(gate) = gate else {
                        return self.run(work, owned).await;
                    };
                    let rel = work.rel().to_owned();
                    let event = self.run(work, owned).await;
                    if matches!(event, Event::Failed { .. }) {
                        gate.failed(&rel);
                    }
                    event
                }
            })
            .buffer_unordered(options.workers.max(1));
        let mut work = Box::pin(work);
        while let Some(event) = work.next().await {
            match &event {
                Event::Copied { size, .. } => {
                    summary.copied += 1;
                    summary.bytes += size;
                }
                Event::Adopted { .. } => summary.adopted += 1,
                Event::Verified { .. } => {
                    summary.verified += 1;
                    summary.unchanged += 1;
                }
                Event::Failed { .. } => summary.failed += 1,
                Event::Held { .. } => summary.held += 1,
                Event::Deleted { .. } | Event::Backup { .. } | Event::BackupHeld { .. } => {}
            }
            on_event(event);
        }
        drop(work);
        summary.unchanged += unchanged.load(Ordering::Relaxed);
        let take = |v: Mutex<Vec<String>>| v.into_inner().unwrap_or_default();
        (take(deletes), take(forgets))
    }

    /// Runs actions planned outside the walk (a backup's meta files, its read-back): nothing
    /// is held, deletions are not planned here; objects read back count as verified only.
    pub(super) async fn run_actions(
        self,
        actions: impl futures::Stream<Item = Action> + Send + 'a,
        summary: &mut Summary,
        on_event: &mut OnEvent<'_>,
    ) {
        let ctx = Ctx {
            hold: false,
            ..self
        };
        let mut part = Summary::default();
        let stale = Stale::default();
        let _ = ctx.execute(actions, &stale, &mut part, on_event).await;
        summary.copied += part.copied;
        summary.bytes += part.bytes;
        summary.adopted += part.adopted;
        summary.verified += part.verified;
        summary.failed += part.failed;
        summary.held += part.held;
    }

    async fn run(self, work: Work, owned: bool) -> Event {
        match work {
            Work::Copy { rel, meta, reason } => self.copy(rel, meta, reason).await,
            Work::Verify {
                rel,
                meta,
                row,
                source,
            } => self.verify(rel, meta, row, source).await,
            Work::Compare { rel, meta, target } => self.compare(rel, meta, target, owned).await,
        }
    }

    /// Hashes the source and target objects at once.
    async fn hash_both(&self, src_key: &str, dst_key: &str) -> Result<([u8; 32], [u8; 32]), Error> {
        futures::try_join!(
            transfer::hash_object(&*self.src.store, src_key),
            transfer::hash_object(&*self.dst.store, dst_key)
        )
    }

    /// An object at the target that ferry has no row for: the same content is adopted, other
    /// content is replaced only with `overwrite`.
    async fn compare(
        self,
        rel: String,
        meta: ObjectMeta,
        target: ObjectMeta,
        owned: bool,
    ) -> Event {
        let mut sha256 = None;
        let same = if same_md5(&meta, &target) {
            true
        } else if meta.size == target.size {
            match self.hash_both(&meta.key, &target.key).await {
                Ok((a, b)) => {
                    sha256 = Some(a);
                    a == b
                }
                Err(error) => {
                    return Event::Failed {
                        path: self.src.display(&rel),
                        error,
                    };
                }
            }
        } else {
            false
        };
        if !same {
            // ferry's own unfinished write (a run stopped before recording the row) is
            // replaced like any object ferry wrote. So is an object in a backup's folder: a
            // backup is one unit, replaced by the source's whole version (the gate holds it
            // while the source is not whole, and hides its announcement first).
            if owned || (self.gate.is_some() && Part::of(&rel).is_some()) {
                return self.copy(rel, meta, Reason::New).await;
            }
            if self.options.overwrite {
                return self.copy(rel, meta, Reason::Overwrite).await;
            }
            return Event::Failed {
                path: self.dst.display(&rel),
                error: Error::AlreadyExists {
                    path: self.dst.display(&rel),
                    source: msg(
                        "it was not written by ferry and differs from the source; not overwritten (use --overwrite)",
                    ),
                },
            };
        }
        let target_path = self.dst.display(&rel);
        if !self.options.dry_run {
            let record = ObjectRecord {
                size: meta.size,
                src_etag: meta.e_tag.clone(),
                src_mtime_ms: meta.last_modified.as_ref().map(ms),
                sha256,
                dst_etag: target.e_tag.clone(),
                dst_version: target.version.clone(),
                synced_ms: Utc::now().timestamp_millis(),
            };
            if let Err(e) = self.record(&rel, &record) {
                return e;
            }
        }
        Event::Adopted {
            target: target_path,
        }
    }

    /// Reads the target back; copies again when its SHA-256 is not the source's.
    async fn verify(self, rel: String, meta: ObjectMeta, row: ObjectRecord, source: bool) -> Event {
        let dst_key = self.dst.key(&rel);
        let hashes = match row.sha256 {
            Some(known) if !source => transfer::hash_object(&*self.dst.store, &dst_key)
                .await
                .map(|t| (known, t)),
            _ => self.hash_both(&meta.key, &dst_key).await,
        };
        match hashes {
            // The source no longer holds the bytes recorded at copy time (rewritten in place,
            // its size and mtime kept): what the target holds is not the source's any more.
            Ok((s, _)) if source && row.sha256.is_some_and(|r| r != s) => {
                self.copy(rel, meta, Reason::Changed).await
            }
            Ok((s, t)) if s == t => {
                if row.sha256.is_none() && !self.options.dry_run {
                    let record = ObjectRecord {
                        sha256: Some(s),
                        ..row
                    };
                    if let Err(e) = self.record(&rel, &record) {
                        return e;
                    }
                }
                Event::Verified {
                    target: self.dst.display(&rel),
                }
            }
            Ok(_) => self.copy(rel, meta, Reason::Corrupt).await,
            Err(Error::NotFound { .. }) => self.copy(rel, meta, Reason::Missing).await,
            Err(error) => Event::Failed {
                path: self.dst.display(&rel),
                error,
            },
        }
    }

    /// Writes one row; a failure becomes the object's event.
    fn record(&self, rel: &str, record: &ObjectRecord) -> Result<(), Event> {
        let key = ObjectKey {
            pair: self.pair,
            key: rel.to_owned(),
        };
        let mut b = Batch::new();
        b.put::<ObjectsSchema>(&key, record)
            .delete::<UploadsSchema>(&key);
        self.manifest.write(b).map_err(|e| {
            let path = self.dst.display(rel);
            Event::Failed {
                error: manifest_error(path.clone(), e),
                path,
            }
        })
    }

    async fn copy(self, rel: String, meta: ObjectMeta, reason: Reason) -> Event {
        let (manifest, src, dst, options) = (self.manifest, self.src, self.dst, self.options);
        let src_key = meta.key.clone();
        let dst_key = dst.key(&rel);
        let (source, target) = (src.display(&rel), dst.display(&rel));
        if options.dry_run {
            return Event::Copied {
                source,
                target,
                size: meta.size,
                method: None,
                reason,
            };
        }
        // Into a backup's folder: only once the backup may change at the target (hidden
        // first when announced; held when its source is not whole or a restore runs).
        if let Some(gate) = self.gate
            && let Err(e) = gate.before_write(self, &rel).await
        {
            return e;
        }
        let resume = self
            .stale
            .and_then(|s| s.take_resumable(&rel))
            .map(|r| (r.upload_id, r.part_size, r.src_etag == meta.e_tag));
        let journal = Journal {
            manifest,
            key: ObjectKey {
                pair: self.pair,
                key: rel.clone(),
            },
            target_key: dst_key.clone(),
            src_etag: meta.e_tag.clone(),
            resume: resume
                .clone()
                .filter(|r| r.2)
                .map(|(id, part_size, _)| (id, part_size)),
            resume_taken: std::sync::atomic::AtomicBool::new(false),
        };
        if journal.resume.is_none() {
            journal.intent();
        }
        let copied = transfer::copy_object(
            &*src.store,
            &src_key,
            meta.size,
            &*dst.store,
            &dst_key,
            &options.transfer,
            Some(&journal),
        )
        .await;
        // An upload left open by a killed run that this copy did not go on with (another
        // source version, a copy without parts) must not stay open.
        if let Some((id, _, _)) = &resume
            && !journal.resume_taken.load(Ordering::Relaxed)
            && let Err(e) = dst.store.abort_multipart(&dst_key, id).await
            && !matches!(e, Error::NotFound { .. })
        {
            tracing::warn!(key = %dst_key, upload_id = %id, error = %display_chain(&e), "multipart upload may remain open at the target");
        }
        let copied = match copied {
            Ok(c) => c,
            Err(error) => {
                return Event::Failed {
                    path: source,
                    error,
                };
            }
        };
        // Server-side copies moved no byte through ferry: read the source once for the hash.
        let sha256 = match copied.sha256 {
            Some(h) => Some(h),
            None => match transfer::hash_object(&*src.store, &src_key).await {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(key = %src_key, error = %display_chain(&e), "cannot hash the source after a server-side copy");
                    None
                }
            },
        };
        if options.verify {
            // Read back what the target stored; a mismatch leaves no row, so the next run
            // copies again.
            match transfer::hash_object(&*dst.store, &dst_key).await {
                Ok(h) if Some(h) == sha256 || sha256.is_none() => {}
                Ok(_) => {
                    return Event::Failed {
                        path: target.clone(),
                        error: Error::Transient {
                            path: target,
                            source: msg("read back with another SHA-256 than the source's"),
                        },
                    };
                }
                Err(error) => {
                    return Event::Failed {
                        path: target,
                        error,
                    };
                }
            }
        }
        crate::pause::point("copy-before-record").await;
        let record = ObjectRecord {
            size: copied.size,
            src_etag: meta.e_tag.clone(),
            src_mtime_ms: meta.last_modified.as_ref().map(ms),
            sha256,
            dst_etag: copied.e_tag.clone(),
            dst_version: copied.version.clone(),
            synced_ms: Utc::now().timestamp_millis(),
        };
        if let Err(e) = self.record(&rel, &record) {
            return e;
        }
        Event::Copied {
            source,
            target,
            size: copied.size,
            method: Some(copied.method),
            reason,
        }
    }
}

/// Deals with the multipart uploads recorded as in flight by an earlier run (killed): one
/// whose source object is still the version it was for is kept to go on with (its parts are
/// not sent again, see `transfer`); the others are aborted. Returns the keys whose upload
/// could not be cleaned up: they are not copied in this run, so that their record (the only
/// trace of the open upload) is not replaced; the next run tries again.
async fn abort_stale_uploads(
    manifest: &Manifest,
    pair: PairId,
    src: &Side,
    dst: &Side,
) -> Result<Stale, MirrorError> {
    let mut unresolved = std::collections::HashSet::new();
    let mut owned = std::collections::HashSet::new();
    let mut resumable = std::collections::HashMap::new();
    for (rel, rec) in manifest.uploads(pair)? {
        // What a killed write left beside the key (the local backend's temporary files, which
        // milvus-backup would read as part of a backup's folder).
        if let Err(e) = dst.store.clean_interrupted(&rec.target_key).await {
            tracing::warn!(key = %rec.target_key, error = %display_chain(&e), "cannot remove the leftovers of an interrupted write yet; the object waits for the next run");
            unresolved.insert(rel);
            continue;
        }
        if rec.part_size == 0 {
            // A plain intent: nothing open at the target; the key stays marked as ferry's.
            owned.insert(rel);
            continue;
        }
        if !rec.upload_id.is_empty() && rec.src_etag.is_some() {
            let same = match src.store.head(&src.key(&rel)).await {
                Ok(m) => m.e_tag == rec.src_etag,
                Err(_) => false,
            };
            if same {
                owned.insert(rel.clone());
                resumable.insert(
                    rel,
                    Resumable {
                        upload_id: rec.upload_id.clone(),
                        part_size: rec.part_size,
                        src_etag: rec.src_etag.clone(),
                    },
                );
                continue;
            }
        }
        match abort_recorded(dst, &rec).await {
            Ok(()) => {
                downgrade(manifest, pair, &rel, rec)?;
                owned.insert(rel);
            }
            Err(_) => {
                unresolved.insert(rel);
            }
        }
    }
    Ok(Stale {
        unresolved,
        owned,
        resumable: Mutex::new(resumable),
    })
}

/// Aborts the upload an upload record names (found by key when its id was never learnt).
/// `Err` when it could not be dealt with yet (transient): the record stays for the next run.
async fn abort_recorded(dst: &Side, rec: &UploadRecord) -> Result<(), ()> {
    let aborted = if rec.upload_id.is_empty() {
        // Killed before the upload's id was known: find the uploads open for that key.
        match dst.store.list_multipart(&rec.target_key).await {
            Ok(ids) => {
                let mut r = Ok(());
                for id in ids {
                    r = r.and(dst.store.abort_multipart(&rec.target_key, &id).await);
                }
                r
            }
            Err(e) => Err(e),
        }
    } else {
        dst.store
            .abort_multipart(&rec.target_key, &rec.upload_id)
            .await
    };
    match aborted {
        Ok(()) => {
            tracing::info!(key = %rec.target_key, "aborted an interrupted multipart upload");
            Ok(())
        }
        Err(e) if e.is_transient() => {
            tracing::warn!(key = %rec.target_key, error = %display_chain(&e), "cannot abort an interrupted upload yet; the object waits for the next run");
            Err(())
        }
        Err(e) => {
            // The server will not list or abort it (or no longer knows it): say so, once,
            // with the id, and stop tracking it.
            let id = if rec.upload_id.is_empty() {
                "(id unknown)"
            } else {
                rec.upload_id.as_str()
            };
            tracing::warn!(key = %rec.target_key, upload_id = id, error = %display_chain(&e), "multipart upload may remain open at the target");
            Ok(())
        }
    }
}

/// An upload a killed run left open, to go on with.
#[derive(Debug, Clone)]
struct Resumable {
    upload_id: String,
    part_size: u64,
    /// The source version it was for.
    src_etag: Option<String>,
}

/// What an earlier run left behind.
#[derive(Debug, Default)]
struct Stale {
    /// Keys whose interrupted upload could not be aborted yet: not copied this run.
    unresolved: std::collections::HashSet<String>,
    /// Keys ferry was writing when it stopped (its own unfinished work at the target).
    owned: std::collections::HashSet<String>,
    /// Uploads to go on with, by key; each taken by the copy of its key.
    resumable: Mutex<std::collections::HashMap<String, Resumable>>,
}

impl Stale {
    fn take_resumable(&self, rel: &str) -> Option<Resumable> {
        self.resumable.lock().ok()?.remove(rel)
    }

    /// Aborts the uploads no copy went on with (their key was not copied in this run).
    async fn abort_unused(
        &self,
        manifest: &Manifest,
        pair: PairId,
        dst: &Side,
    ) -> Result<(), MirrorError> {
        let left: std::collections::HashMap<String, Resumable> = match self.resumable.lock() {
            Ok(mut r) => r.drain().collect(),
            Err(_) => return Ok(()),
        };
        if left.is_empty() {
            return Ok(());
        }
        for (rel, rec) in manifest.uploads(pair)? {
            if left.get(&rel).is_some_and(|r| r.upload_id == rec.upload_id)
                && abort_recorded(dst, &rec).await.is_ok()
            {
                downgrade(manifest, pair, &rel, rec)?;
            }
        }
        Ok(())
    }
}

/// Replaces an upload record by a plain intent (the upload is dealt with; the key stays
/// marked as ferry's until its row is written).
fn downgrade(
    manifest: &Manifest,
    pair: PairId,
    rel: &str,
    rec: UploadRecord,
) -> Result<(), MirrorError> {
    let mut b = Batch::new();
    b.put::<UploadsSchema>(
        &ObjectKey {
            pair,
            key: rel.to_owned(),
        },
        &UploadRecord {
            upload_id: String::new(),
            part_size: 0,
            ..rec
        },
    );
    manifest.write(b)?;
    Ok(())
}

async fn apply_deletes(
    ctx: Ctx<'_>,
    deletes: Vec<String>,
    summary: &mut Summary,
    on_event: &mut OnEvent<'_>,
) -> Result<(), MirrorError> {
    let (manifest, pair, dst, options) = (ctx.manifest, ctx.pair, ctx.dst, ctx.options);
    let n = deletes.len() as u64;
    // What the target holds before the deletions: unchanged and copied objects, and these.
    let target_total = summary.unchanged + summary.copied + n;
    if !options.force {
        if summary.source_objects == 0 {
            summary.delete_refused = Some(format!(
                "the source listed no objects: refusing to delete all {n} objects at {} (use --force if that is really wanted)",
                dst.display("")
            ));
            return Ok(());
        }
        let over = match options.max_delete {
            Some(MaxDelete::Count(max)) => n > max,
            Some(MaxDelete::Percent(p)) => (n as f64) * 100.0 > p * (target_total.max(1) as f64),
            None => false,
        };
        if over {
            summary.delete_refused = Some(format!(
                "{n} deletions at {} exceed --max-delete; nothing deleted (use --force to allow)",
                dst.display("")
            ));
            return Ok(());
        }
    }
    if options.dry_run {
        for rel in deletes {
            summary.deleted += 1;
            on_event(Event::Deleted {
                target: dst.display(&rel),
            });
        }
        return Ok(());
    }
    // Under a backup's folder, deletions follow its gate: an announced backup is hidden
    // first (its `backup_meta.json` in a request of its own, before its data), and one whose
    // source is not whole, or whose restore runs, keeps everything.
    let deletes = match ctx.gate {
        Some(gate) => backups::gate_deletes(ctx, gate, deletes, summary, on_event).await,
        None => deletes,
    };
    for chunk in deletes.chunks(1000) {
        let keys: Vec<String> = chunk.iter().map(|rel| dst.key(rel)).collect();
        let failures = match dst.store.delete(&keys).await {
            Ok(f) => f,
            Err(error) => {
                summary.failed += chunk.len() as u64;
                on_event(Event::Failed {
                    path: dst.display(""),
                    error,
                });
                continue;
            }
        };
        let failed: std::collections::HashSet<String> =
            failures.iter().map(|f| f.key.clone()).collect();
        let mut b = Batch::new();
        for (rel, key) in chunk.iter().zip(&keys) {
            if !failed.contains(key) {
                let k = ObjectKey {
                    pair,
                    key: rel.clone(),
                };
                b.delete::<ObjectsSchema>(&k).delete::<UploadsSchema>(&k);
                summary.deleted += 1;
                on_event(Event::Deleted {
                    target: dst.display(rel),
                });
            }
        }
        manifest.write(b)?;
        for f in failures {
            summary.failed += 1;
            on_event(Event::Failed {
                path: f.key,
                error: f.error,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64, e_tag: &str) -> ObjectMeta {
        ObjectMeta {
            key: "p/k".into(),
            size,
            last_modified: None,
            e_tag: Some(e_tag.into()),
            version: None,
            storage_class: None,
        }
    }

    fn row(size: u64, src_etag: &str, dst_etag: &str) -> ObjectRecord {
        ObjectRecord {
            size,
            src_etag: Some(src_etag.into()),
            src_mtime_ms: None,
            sha256: None,
            dst_etag: Some(dst_etag.into()),
            dst_version: None,
            synced_ms: 0,
        }
    }

    fn decide(
        source: Option<ObjectMeta>,
        row: Option<ObjectRecord>,
        target: TargetState,
        verify: bool,
    ) -> &'static str {
        let e = Entry {
            rel: "k".into(),
            source,
            row,
            target,
        };
        match plan(e, verify) {
            Action::Run(Work::Copy { reason, .. }) => reason.as_str(),
            Action::Skip => "skip",
            Action::Run(Work::Verify { .. }) => "verify",
            Action::Run(Work::Compare { .. }) => "compare",
            Action::Delete { .. } => "delete",
            Action::Forget { .. } => "forget",
        }
    }

    /// The decision table of the module docs, row by row.
    #[test]
    fn plan_follows_the_decision_table() {
        use TargetState::{Absent, Present, Unknown};
        let md5a = "0123456789abcdef0123456789abcdef";
        let md5b = "fedcba9876543210fedcba9876543210";
        let src = || Some(meta(10, "s1"));
        let same = || Some(row(10, "s1", md5a));
        let cases: Vec<(&str, &str)> = vec![
            (decide(src(), None, Unknown, false), "new"),
            (decide(src(), None, Absent, false), "new"),
            (
                decide(src(), None, Present(meta(10, md5a)), false),
                "compare",
            ),
            (decide(src(), same(), Unknown, false), "skip"),
            (decide(src(), same(), Unknown, true), "verify"),
            (decide(src(), same(), Absent, false), "missing-at-target"),
            (
                decide(src(), same(), Present(meta(10, md5a)), false),
                "skip",
            ),
            (
                decide(src(), same(), Present(meta(10, md5a)), true),
                "verify",
            ),
            (
                decide(src(), same(), Present(meta(11, md5a)), false),
                "changed-at-target",
            ),
            (
                decide(src(), same(), Present(meta(10, md5b)), false),
                "changed-at-target",
            ),
            // A multipart ETag that differs proves nothing: listings may disagree with the
            // write's answer.
            (
                decide(src(), same(), Present(meta(10, "abc-2")), false),
                "skip",
            ),
            (
                decide(Some(meta(10, "s2")), same(), Unknown, false),
                "changed",
            ),
            (
                decide(Some(meta(9, "s1")), same(), Absent, false),
                "changed",
            ),
            (decide(None, same(), Absent, false), "forget"),
            (decide(None, same(), Unknown, false), "delete"),
            (
                decide(None, same(), Present(meta(10, md5a)), false),
                "delete",
            ),
            (decide(None, None, Present(meta(10, md5a)), false), "delete"),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn only_plain_md5_etags_prove_the_same_content() {
        let a = "0123456789ABCDEF0123456789abcdef";
        assert!(same_md5(&meta(1, a), &meta(1, &a.to_lowercase())));
        assert!(!same_md5(&meta(1, "abc-2"), &meta(1, "abc-2")));
        assert!(!same_md5(&meta(1, "1-2-3"), &meta(1, "1-2-3")));
    }
}
