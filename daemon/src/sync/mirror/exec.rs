//! The executor: runs planned actions `workers` at a time under the shared permits (copies,
//! read-backs, adoptions), asks the policy before writes, and counts the summary.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use ferry_state::schema::{ObjectKey, ObjectRecord, ObjectsSchema, PairId, UploadsSchema};
use ferry_state::{Batch, Manifest};
use futures::StreamExt;
use futures::stream::BoxStream;

use super::journal::Journal;
use super::options::MirrorOptions;
use super::stale::Stale;
use crate::backend::error::{display_chain, msg};
use crate::backend::{Error, ListEntry, ListOptions, ObjectMeta};
use crate::sync::plan::{Action, Reason, Work, ms, same_md5};
use crate::sync::policy::{Engine, RunPolicy};
use crate::sync::progress::folder_of;
use crate::sync::report::{Event, ObjectError, OnEvent, Summary, manifest_error};
use crate::sync::side::Side;
use crate::sync::transfer::{self};

/// What a unit of work needs.
#[derive(Clone, Copy)]
pub(super) struct Ctx<'a> {
    pub(super) manifest: &'a Manifest,
    pub(super) pair: PairId,
    pub(super) src: &'a Side,
    pub(super) dst: &'a Side,
    pub(super) options: &'a MirrorOptions,
    /// The run's policy.
    pub(super) policy: &'a dyn RunPolicy,
    /// Let the policy hold back the scan's work (not the work the policy plans itself).
    pub(super) hold: bool,
    /// What an earlier run left behind (uploads to go on with).
    pub(super) stale: Option<&'a Stale>,
}

impl<'a> Ctx<'a> {
    /// Runs planned actions, `options.workers` at a time: counts skips, runs copies, checks
    /// and adoptions, and hands back the keys to delete and the rows to forget.
    pub(super) async fn execute_planned(
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
            let mut v = crate::lock::lock(v);
            v.push(rel);
        };
        let (src, dst, options) = (self.src, self.dst, self.options);
        let (policy, hold) = (self.policy, self.hold);
        let work = actions
            .filter_map(|a| {
                let out = match a {
                    // Held back until the end of the run (a backup's meta waits for its data).
                    Action::Run(work) if hold && policy.holds_back(work.rel()) => None,
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
                            }.into(),
                        };
                    }
                    // One permit per object in flight, shared with other mirrors.
                    let _permit = match &options.permits {
                        Some(p) => p.clone().acquire_owned().await.ok(),
                        None => None,
                    };
                    let rel = work.rel().to_owned();
                    let event = self.run(work, owned).await;
                    if matches!(event, Event::Failed { .. }) {
                        policy.failed(&rel);
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
                Event::Verified { size, .. } => {
                    summary.verified += 1;
                    summary.read_back_bytes += size;
                    summary.unchanged += 1;
                }
                Event::Failed { .. } => summary.failed += 1,
                Event::Held { .. } => summary.held += 1,
                Event::Deleted { .. } | Event::Unit { .. } | Event::UnitHeld { .. } => {}
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
        let _ = ctx
            .execute_planned(actions, &stale, &mut part, on_event)
            .await;
        summary.add(&part);
    }

    pub(super) async fn run(self, work: Work, owned: bool) -> Event {
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
    pub(super) async fn hash_both(
        &self,
        src_key: &str,
        dst_key: &str,
    ) -> Result<([u8; 32], [u8; 32]), Error> {
        futures::try_join!(
            transfer::hash_object(&*self.src.store, src_key),
            transfer::hash_object(&*self.dst.store, dst_key)
        )
    }

    /// An object at the target that ferry has no row for: the same content is adopted, other
    /// content is replaced only with `overwrite`.
    pub(super) async fn compare(
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
                        error: error.into(),
                    };
                }
            }
        } else {
            false
        };
        if !same {
            // ferry's own unfinished write (a run stopped before recording the row) is
            // replaced like any object ferry wrote. So is an object of a unit the policy
            // replaces whole (a backup's folder: the gate holds it while the source is not
            // whole, and hides its announcement first).
            if owned || self.policy.replaces(&rel) {
                return self.copy(rel, meta, Reason::New).await;
            }
            if self.options.overwrite {
                return self.copy(rel, meta, Reason::Overwrite).await;
            }
            return Event::Failed {
                path: self.dst.display(&rel),
                error: ObjectError::Conflict {
                    path: self.dst.display(&rel),
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
                // Found there, not written by ferry: nothing proved its bytes on the way.
                upload_checked: false,
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
    pub(super) async fn verify(
        self,
        rel: String,
        meta: ObjectMeta,
        row: ObjectRecord,
        source: bool,
    ) -> Event {
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
                    size: row.size,
                }
            }
            Ok(_) => self.copy(rel, meta, Reason::Corrupt).await,
            Err(Error::NotFound { .. }) => self.copy(rel, meta, Reason::Missing).await,
            Err(error) => Event::Failed {
                path: self.dst.display(&rel),
                error: error.into(),
            },
        }
    }

    /// Writes one row; a failure becomes the object's event.
    pub(super) fn record(&self, rel: &str, record: &ObjectRecord) -> Result<(), Event> {
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

    /// The first copy into a top-level folder in this run, for a job that follows its folders'
    /// progress (a backup job's status: "copied 1.2GiB of 2.0GiB"): what the manifest says the
    /// target holds of it now, and (one listing, in the background) what the source holds.
    fn follow_folder(&self, rel: &str) {
        let Some(flight) = self.options.transfer.in_flight.as_ref() else {
            return;
        };
        let (Some(folders), Some(folder)) = (flight.folders(), folder_of(rel)) else {
            return;
        };
        let Some(run) = folders.claim(folder) else {
            return;
        };
        let prefix = format!("{folder}/");
        let (mut held, mut after) = (0u64, None::<String>);
        while let Ok(page) = self
            .manifest
            .objects_under(self.pair, &prefix, after.as_deref(), 1000)
        {
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            held += page.iter().map(|(_, r)| r.size).sum::<u64>();
        }
        folders.held(run, folder, held);
        let (store, key) = (self.src.store.clone(), self.src.key(&prefix));
        let (flight, folder) = (flight.clone(), folder.to_owned());
        tokio::spawn(async move {
            let mut total = 0u64;
            let mut listing = store.list(&key, ListOptions::default());
            loop {
                match listing.next().await {
                    Some(Ok(ListEntry::Object(m))) => total += m.size,
                    Some(Ok(ListEntry::Prefix(_))) => {}
                    Some(Err(e)) => {
                        tracing::debug!(prefix = %key, error = %display_chain(&e), "cannot measure the folder for its progress");
                        return;
                    }
                    None => break,
                }
            }
            if let Some(f) = flight.folders() {
                f.measured(run, &folder, total);
            }
        });
    }

    pub(super) async fn copy(self, rel: String, meta: ObjectMeta, reason: Reason) -> Event {
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
        // Into a unit: only once the policy lets it change at the target (a backup: hidden
        // first when announced; held when its source is not whole or a restore runs).
        if let Err(e) = self.policy.before_write(&self, &rel).await {
            return e;
        }
        self.follow_folder(&rel);
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
                    error: error.into(),
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
                        }
                        .into(),
                    };
                }
                Err(error) => {
                    return Event::Failed {
                        path: target,
                        error: error.into(),
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
            upload_checked: copied.upload_checked && sha256 == copied.sha256,
        };
        if let Err(e) = self.record(&rel, &record) {
            return e;
        }
        if let Some(f) = options
            .transfer
            .in_flight
            .as_ref()
            .and_then(|f| f.folders())
        {
            f.copied(&rel, copied.size);
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

#[async_trait::async_trait]
impl Engine for Ctx<'_> {
    fn manifest(&self) -> &Manifest {
        self.manifest
    }

    fn pair(&self) -> PairId {
        self.pair
    }

    fn src(&self) -> &Side {
        self.src
    }

    fn dst(&self) -> &Side {
        self.dst
    }

    fn selects(&self, rel: &str) -> bool {
        self.options.selects(rel)
    }

    fn cancelled(&self) -> bool {
        self.options.cancelled()
    }

    fn workers(&self) -> usize {
        self.options.workers.max(1)
    }

    fn verify_all(&self) -> bool {
        self.options.verify
    }

    async fn execute(
        &self,
        actions: BoxStream<'_, Action>,
        summary: &mut Summary,
        on_event: &mut OnEvent<'_>,
    ) {
        let ctx: Ctx<'_> = *self;
        ctx.run_actions(actions, summary, on_event).await;
    }
}
