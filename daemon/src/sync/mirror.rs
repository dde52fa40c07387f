//! `mirror`: scan → plan → transfer, driven by the manifest.
//!
//! Scan lists **only the source** and merge-walks it against the manifest rows of the pair
//! (both are in key byte order, so the walk needs no sorting and holds one page of rows):
//!
//! | source | manifest row | action |
//! |---|---|---|
//! | present | none | copy (new) |
//! | present | same size and ETag (or same size and mtime when the listing has no ETag) | nothing: no request to the target |
//! | present | differs | copy (changed) |
//! | absent | present | delete at the target, only with `remove` and only if the scan completed |
//!
//! A row is written only after the target confirmed the object, in one batch with the removal
//! of its in-flight upload record: a crash never leaves a row claiming an object the target
//! does not have. Multipart uploads recorded as in flight by a crashed run are aborted at the
//! start of the next one.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ferry_state::schema::{
    ObjectKey, ObjectRecord, ObjectsSchema, PairId, PairKey, PairsSchema, UploadsSchema,
};
use ferry_state::{Batch, Manifest, StateError, UploadRecord};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use super::transfer::{self, Method, TransferConfig, UploadJournal};
use crate::backend::{Error, ListEntry, ListOptions, ObjectMeta, ObjectStore};

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

    fn display(&self, rel: &str) -> String {
        format!("{}/{}{rel}", self.store, self.prefix)
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

/// How to mirror.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// Delete target objects whose source is gone.
    pub remove: bool,
    /// Report, change nothing (neither stores nor manifest).
    pub dry_run: bool,
    /// Relative keys matching any of these are ignored (neither copied nor deleted).
    pub exclude: globset::GlobSet,
    /// Refuse deleting more than this without `force`.
    pub max_delete: Option<MaxDelete>,
    /// Override `max_delete` and the empty-source guard.
    pub force: bool,
    /// Objects copied at once.
    pub workers: usize,
    /// Transfer settings.
    pub transfer: TransferConfig,
}

/// Why an object is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Not in the manifest.
    New,
    /// In the manifest with another size or ETag.
    Changed,
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
}

/// Totals of a run.
#[derive(Debug, Default)]
pub struct Summary {
    /// Objects copied.
    pub copied: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Objects unchanged (no request made for them).
    pub unchanged: u64,
    /// Objects deleted at the target.
    pub deleted: u64,
    /// Objects gone at the source but kept at the target (no `remove`).
    pub kept: u64,
    /// Objects that failed.
    pub failed: u64,
    /// Objects listed at the source.
    pub source_objects: u64,
    /// The source listing failed: nothing was deleted.
    pub scan_error: Option<Error>,
    /// Deletions refused by a safety rule.
    pub delete_refused: Option<String>,
}

impl Summary {
    /// True when everything listed was mirrored.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.scan_error.is_none() && self.delete_refused.is_none()
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

enum Action {
    Copy {
        rel: String,
        meta: ObjectMeta,
        reason: Reason,
    },
    Skip,
    Delete {
        rel: String,
    },
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
        match (&target.e_tag, &rec.dst_etag) {
            (Some(now), Some(then)) if now == then => Some(true),
            // Multipart ETags and local fingerprints (with '-') differ between a write's answer
            // and later listings on some servers: not proof of a change.
            (Some(now), Some(then)) if !now.contains('-') && !then.contains('-') => Some(false),
            _ => None,
        }
    }
}

/// The merge-walk of a source listing against the manifest rows of a pair.
struct Walk<'a> {
    listing: BoxStream<'static, Result<ListEntry, Error>>,
    manifest: &'a Manifest,
    pair: PairId,
    prefix_len: usize,
    exclude: &'a globset::GlobSet,
    rows: VecDeque<(String, ObjectRecord)>,
    rows_after: Option<String>,
    rows_done: bool,
    src: Option<ObjectMeta>,
    src_done: bool,
    listed: &'a Cell<u64>,
    failure: &'a RefCell<Option<WalkError>>,
}

impl Walk<'_> {
    async fn next_source(&mut self) -> Result<(), Error> {
        while self.src.is_none() && !self.src_done {
            match self.listing.try_next().await? {
                None => self.src_done = true,
                Some(ListEntry::Prefix(_)) => {}
                Some(ListEntry::Object(m)) => {
                    // A "folder marker" (key ending in /) carries no data worth mirroring.
                    let rel = &m.key[self.prefix_len.min(m.key.len())..];
                    if rel.is_empty() || rel.ends_with('/') || self.exclude.is_match(rel) {
                        continue;
                    }
                    self.listed.set(self.listed.get() + 1);
                    self.src = Some(m);
                }
            }
        }
        Ok(())
    }

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
                .extend(page.into_iter().filter(|(k, _)| !self.exclude.is_match(k)));
        }
        Ok(())
    }

    /// The next action, `None` at the end; an `Err` ends the walk.
    async fn next(&mut self) -> Option<Result<Action, WalkError>> {
        if let Err(e) = self.next_source().await {
            return Some(Err(WalkError::Scan(e)));
        }
        if let Err(e) = self.next_rows() {
            return Some(Err(WalkError::State(e)));
        }
        let src_rel = self
            .src
            .as_ref()
            .map(|m| m.key[self.prefix_len..].to_owned());
        let row_key = self.rows.front().map(|(k, _)| k.clone());
        match (src_rel, row_key) {
            (None, None) => None,
            (Some(rel), row) if row.as_ref().is_none_or(|r| rel.as_bytes() < r.as_bytes()) => {
                let meta = self.src.take()?;
                Some(Ok(Action::Copy {
                    rel,
                    meta,
                    reason: Reason::New,
                }))
            }
            (Some(rel), Some(row)) if rel == row => {
                let meta = self.src.take()?;
                let (_, rec) = self.rows.pop_front()?;
                if unchanged(&meta, &rec) {
                    Some(Ok(Action::Skip))
                } else {
                    Some(Ok(Action::Copy {
                        rel,
                        meta,
                        reason: Reason::Changed,
                    }))
                }
            }
            (_, Some(_)) => {
                let (rel, _) = self.rows.pop_front()?;
                Some(Ok(Action::Delete { rel }))
            }
            // Unreachable: the first guarded arm takes every source key when the rows are done.
            (Some(_), None) => None,
        }
    }
}

enum WalkError {
    Scan(Error),
    State(StateError),
}

/// Writes in-flight upload records for one object.
struct Journal<'a> {
    manifest: &'a Manifest,
    key: ObjectKey,
    target_key: String,
    src_etag: Option<String>,
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

    fn finished(&self, _upload_id: &str) {
        let mut b = Batch::new();
        b.delete::<UploadsSchema>(&self.key);
        if let Err(e) = self.manifest.write(b) {
            tracing::warn!(error = %e, "cannot clear the multipart upload record");
        }
    }
}

/// Mirrors `src` into `dst`, reporting each object to `on_event`.
pub async fn mirror(
    manifest: &Manifest,
    src: &Side,
    dst: &Side,
    options: &MirrorOptions,
    on_event: &mut dyn FnMut(Event),
) -> Result<Summary, MirrorError> {
    let pair = manifest.pair(&src.url(), &dst.url())?;
    let mut summary = Summary::default();
    let unresolved = if options.dry_run {
        Default::default()
    } else {
        abort_stale_uploads(manifest, pair, dst).await?
    };

    let listed = Cell::new(0u64);
    let unchanged_count = Cell::new(0u64);
    let deletes: RefCell<Vec<String>> = RefCell::new(Vec::new());
    let failure: RefCell<Option<WalkError>> = RefCell::new(None);
    let walk = Walk {
        listing: src.store.list(&src.prefix, ListOptions::default()),
        manifest,
        pair,
        prefix_len: src.prefix.len(),
        exclude: &options.exclude,
        rows: VecDeque::new(),
        rows_after: None,
        rows_done: false,
        src: None,
        src_done: false,
        listed: &listed,
        failure: &failure,
    };
    // The walk ends at its first error, which is kept in `failure`: copies already started
    // finish, nothing more starts, and nothing is deleted.
    let actions = futures::stream::unfold(walk, |mut w| async move {
        match w.next().await? {
            Ok(action) => Some((action, w)),
            Err(e) => {
                w.failure.borrow_mut().replace(e);
                None
            }
        }
    });
    let copies = actions
        .filter_map(|a| {
            let out = match a {
                Action::Copy { rel, meta, reason } => Some((rel, meta, reason)),
                Action::Skip => {
                    unchanged_count.set(unchanged_count.get() + 1);
                    None
                }
                Action::Delete { rel } => {
                    deletes.borrow_mut().push(rel);
                    None
                }
            };
            futures::future::ready(out)
        })
        .map(|(rel, meta, reason)| {
            let blocked = unresolved.contains(&rel);
            async move {
                if blocked {
                    return Event::Failed {
                        path: src.display(&rel),
                        error: Error::Transient {
                            path: dst.display(&rel),
                            source: crate::backend::error::msg(
                                "an interrupted multipart upload of this object could not be aborted yet; retried next run",
                            ),
                        },
                    };
                }
                copy_one(manifest, pair, src, dst, options, rel, meta, reason).await
            }
        })
        .buffer_unordered(options.workers.max(1));
    let mut copies = Box::pin(copies);
    while let Some(event) = copies.next().await {
        match &event {
            Event::Copied { size, .. } => {
                summary.copied += 1;
                summary.bytes += size;
            }
            Event::Failed { .. } => summary.failed += 1,
            Event::Deleted { .. } => {}
        }
        on_event(event);
    }
    drop(copies);
    summary.unchanged = unchanged_count.get();
    summary.source_objects = listed.get();
    let deletes = deletes.take();
    match failure.take() {
        Some(WalkError::Scan(e)) => {
            summary.scan_error = Some(e);
            return Ok(summary);
        }
        Some(WalkError::State(e)) => return Err(e.into()),
        None => {}
    }

    if !deletes.is_empty() {
        if options.remove {
            apply_deletes(
                manifest,
                pair,
                dst,
                options,
                deletes,
                &mut summary,
                on_event,
            )
            .await?;
        } else {
            summary.kept = deletes.len() as u64;
        }
    }
    if !options.dry_run {
        let mut b = Batch::new();
        if let Some(mut rec) = manifest.get::<PairsSchema>(&PairKey(pair))? {
            rec.last_scan_ms = Some(Utc::now().timestamp_millis());
            rec.objects = summary.source_objects;
            b.put::<PairsSchema>(&PairKey(pair), &rec);
            manifest.write(b)?;
        }
    }
    Ok(summary)
}

/// Aborts the multipart uploads recorded as in flight by an earlier run. Returns the keys whose
/// upload could not be cleaned up: they are not copied in this run, so that their record (the
/// only trace of the open upload) is not replaced; the next run tries again.
async fn abort_stale_uploads(
    manifest: &Manifest,
    pair: PairId,
    dst: &Side,
) -> Result<std::collections::HashSet<String>, MirrorError> {
    let mut unresolved = std::collections::HashSet::new();
    for (rel, rec) in manifest.uploads(pair)? {
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
                let mut b = Batch::new();
                b.delete::<UploadsSchema>(&ObjectKey { pair, key: rel });
                manifest.write(b)?;
            }
            Err(e) if e.is_transient() => {
                tracing::warn!(key = %rec.target_key, error = %crate::backend::error::display_chain(&e), "cannot abort an interrupted upload yet; the object waits for the next run");
                unresolved.insert(rel);
            }
            Err(e) => {
                // The server will not list or abort it (or no longer knows it): say so, once,
                // with the id, and stop tracking it.
                let id = if rec.upload_id.is_empty() {
                    "(id unknown)"
                } else {
                    rec.upload_id.as_str()
                };
                tracing::warn!(key = %rec.target_key, upload_id = id, error = %crate::backend::error::display_chain(&e), "multipart upload may remain open at the target");
                let mut b = Batch::new();
                b.delete::<UploadsSchema>(&ObjectKey { pair, key: rel });
                manifest.write(b)?;
            }
        }
    }
    Ok(unresolved)
}

#[allow(clippy::too_many_arguments)]
async fn copy_one(
    manifest: &Manifest,
    pair: PairId,
    src: &Side,
    dst: &Side,
    options: &MirrorOptions,
    rel: String,
    meta: ObjectMeta,
    reason: Reason,
) -> Event {
    let src_key = meta.key.clone();
    let dst_key = format!("{}{rel}", dst.prefix);
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
    let key = ObjectKey { pair, key: rel };
    let journal = Journal {
        manifest,
        key: key.clone(),
        target_key: dst_key.clone(),
        src_etag: meta.e_tag.clone(),
    };
    let copied = match transfer::copy_object(
        &*src.store,
        &src_key,
        meta.size,
        &*dst.store,
        &dst_key,
        &options.transfer,
        Some(&journal),
    )
    .await
    {
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
                tracing::warn!(key = %src_key, error = %crate::backend::error::display_chain(&e), "cannot hash the source after a server-side copy");
                None
            }
        },
    };
    let record = ObjectRecord {
        size: copied.size,
        src_etag: meta.e_tag.clone(),
        src_mtime_ms: meta.last_modified.as_ref().map(ms),
        sha256,
        dst_etag: copied.e_tag.clone(),
        dst_version: copied.version.clone(),
        synced_ms: Utc::now().timestamp_millis(),
    };
    let mut b = Batch::new();
    b.put::<ObjectsSchema>(&key, &record)
        .delete::<UploadsSchema>(&key);
    if let Err(e) = manifest.write(b) {
        return Event::Failed {
            path: target,
            error: Error::Generic {
                path: manifest.path().display().to_string(),
                source: Box::new(e),
            },
        };
    }
    Event::Copied {
        source,
        target,
        size: copied.size,
        method: Some(copied.method),
        reason,
    }
}

async fn apply_deletes(
    manifest: &Manifest,
    pair: PairId,
    dst: &Side,
    options: &MirrorOptions,
    deletes: Vec<String>,
    summary: &mut Summary,
    on_event: &mut dyn FnMut(Event),
) -> Result<(), MirrorError> {
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
    for chunk in deletes.chunks(1000) {
        let keys: Vec<String> = chunk
            .iter()
            .map(|rel| format!("{}{rel}", dst.prefix))
            .collect();
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
                b.delete::<ObjectsSchema>(&ObjectKey {
                    pair,
                    key: rel.clone(),
                });
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
