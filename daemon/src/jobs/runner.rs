//! A job's loop: waits for work, opens its stores, runs the mirror engine, retries failed
//! runs with backoff, and keeps the job's status.

use crate::clock::now_ms;
use std::sync::Arc;
use std::time::Instant;

use ferry_state::Manifest;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::job::*;
use crate::backend::error::display_chain;
use crate::config::JobConfig;
use crate::control::api::{FailedObject, JobState, RunInfo, RunKind};
use crate::location::{Location, Stores};
use crate::milvus::gate::{Backups, OnVerified, VerifiedHook};
use crate::milvus::restore::Restorer;
use crate::sync::filter::glob_set;
use crate::sync::mirror::{self, MirrorOptions};
use crate::sync::policy::Policy;
use crate::sync::report::{Event, MirrorError, Summary};
use crate::sync::side::Side;
use crate::sync::transfer::TransferConfig;

/// Everything the jobs share.
#[derive(Debug)]
pub struct Shared {
    pub manifest: Arc<Manifest>,
    /// One permit per object in flight, across all jobs.
    pub permits: Arc<Semaphore>,
    /// Set when ferryd shuts down.
    pub shutdown: CancellationToken,
    /// Transfer settings.
    pub transfer: TransferConfig,
    /// ferryd's state folder (the manifest, restore logs).
    pub state_dir: std::path::PathBuf,
    /// The ferryd executable (runs restore supervisors).
    pub exe: std::path::PathBuf,
}

/// A job's end could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{end} {location}")]
pub struct OpenError {
    /// `source` or `target`.
    pub end: &'static str,
    /// The end, as configured.
    pub location: String,
    /// Why.
    #[source]
    pub source: crate::location::LocationError,
}

/// Opens a job's two ends.
pub(super) async fn open_sides(config: &JobConfig) -> Result<(Side, Side), OpenError> {
    let mut stores = Stores::new();
    stores.copy_from_url(config.from_url);
    let mut open = async |loc: &Location, end: &'static str| -> Result<Side, OpenError> {
        let (store, key) = stores.open(loc, true).await.map_err(|source| OpenError {
            end,
            location: loc.display(),
            source,
        })?;
        let prefix = if key.is_empty() || key.ends_with('/') {
            key
        } else {
            format!("{key}/")
        };
        Ok(Side { store, prefix })
    };
    let mut src = open(&config.source, "source").await?;
    let dst = open(&config.target, "target").await?;
    if let Some(rate) = config.bandwidth {
        src.store = Arc::new(crate::backend::throttle::ThrottledStore::new(
            src.store, rate,
        ));
    }
    Ok((src, dst))
}

/// The mirror options of a job.
pub fn options(config: &JobConfig, shared: &Shared) -> Result<MirrorOptions, globset::Error> {
    Ok(MirrorOptions {
        remove: config.remove,
        dry_run: false,
        include: Some(glob_set(&config.include)?),
        exclude: glob_set(&config.exclude)?,
        max_delete: config.max_delete,
        force: false,
        check_target: false,
        verify: config.verify,
        overwrite: false,
        workers: config.workers,
        permits: Some(shared.permits.clone()),
        cancel: Some(shared.shutdown.clone()),
        policy: config.backups.then(|| {
            let hook = config.restore.clone().map(|r| {
                let job = config.name.clone();
                let hook: Arc<VerifiedHook> = Arc::new(
                    move |name: &str,
                          backup: &ferry_state::BackupRecord,
                          history: &[(u32, ferry_state::RestoreRecord)]| {
                        crate::milvus::restore::on_verified(&job, &r, name, backup, history)
                    },
                );
                OnVerified(hook)
            });
            Arc::new(Backups::new(hook)) as Arc<dyn Policy>
        }),
        transfer: shared.transfer.clone(),
    })
}

/// Runs one job until shutdown.
pub async fn run(job: Arc<Job>, shared: Arc<Shared>) {
    let cfg = job.config.clone();
    let options = match options(&cfg, &shared) {
        Ok(mut o) => {
            o.transfer.in_flight = Some(job.in_flight.clone());
            o.transfer.content_md5 = cfg.md5;
            o
        }
        Err(e) => {
            tracing::error!(job = %cfg.name, error = %e, "job cannot start");
            job.update(|s| {
                s.view.state = JobState::Stopped;
                s.view.last_run = None;
            });
            return;
        }
    };
    let mut sides: Option<(Side, Side)> = None;
    let mut restorer_task: Option<tokio::task::JoinHandle<()>> = None;
    let start = Instant::now();
    let mut next_poll = start;
    let mut next_reconcile = cfg.reconcile.map(|r| start + r);
    let mut retry_at: Option<Instant> = None;
    let mut failures = 0u32;
    let mut root_checked = false;
    job.request_full(false);
    job.update(|s| s.view.state = JobState::Idle);

    loop {
        // Wait for work, a timer, or shutdown.
        let mut deadline = next_poll;
        if let Some(r) = next_reconcile {
            deadline = deadline.min(r);
        }
        if let Some(r) = retry_at {
            deadline = deadline.min(r);
        }
        let has_work = !crate::lock::lock(&job.pending).is_empty();
        let ready = has_work && retry_at.is_none() && !job.is_paused();
        if !ready {
            tokio::select! {
                _ = job.wake.notified() => {}
                _ = tokio::time::sleep_until(deadline.into()) => {}
                _ = shared.shutdown.cancelled() => break,
            }
        }
        if shared.shutdown.is_cancelled() {
            break;
        }
        let now = Instant::now();
        if now >= next_poll {
            job.request_full(false);
            next_poll = now + cfg.interval;
        }
        if let Some(r) = next_reconcile
            && now >= r
        {
            job.request_full(true);
            next_reconcile = cfg.reconcile.map(|d| now + d);
        }
        if retry_at.is_some_and(|r| now >= r) {
            retry_at = None;
        }
        if job.is_paused() || retry_at.is_some() {
            continue;
        }
        let work = {
            let mut p = crate::lock::lock(&job.pending);
            if p.is_empty() {
                continue;
            }
            std::mem::take(&mut *p)
        };

        if sides.is_none() {
            match open_sides(&cfg).await {
                Ok(s) => {
                    match shared.manifest.pair(&s.0.url(), &s.1.url()) {
                        Ok(p) => {
                            let _ = job.pair.set(p);
                            if cfg.backups && job.restorer.get().is_none() {
                                // A restore that ends may release a new version of its backup
                                // that the job held back meanwhile: look again then.
                                let weak = Arc::downgrade(&job);
                                let r = Arc::new(
                                    Restorer::new(
                                        &cfg.name,
                                        p,
                                        shared.manifest.clone(),
                                        cfg.restore.clone(),
                                        &shared.state_dir,
                                        shared.exe.clone(),
                                        shared.shutdown.clone(),
                                    )
                                    .with_target(s.1.clone())
                                    .on_end(move || {
                                        if let Some(j) = weak.upgrade() {
                                            j.request_full(false);
                                        }
                                    }),
                                );
                                let _ = job.restorer.set(r.clone());
                                restorer_task = Some(tokio::spawn(r.run()));
                            }
                        }
                        Err(e) if e.is_io() => {
                            failures += 1;
                            let e = display_chain(&e);
                            retry_at =
                                Some(retry_later(&job, work, failures, "manifest unusable", e));
                            continue;
                        }
                        Err(e) => {
                            tracing::error!(job = %cfg.name, error = %e, "manifest error: job stopped");
                            job.update(|s| s.view.state = JobState::Stopped);
                            return;
                        }
                    }
                    sides = Some(s);
                }
                Err(e) => {
                    failures += 1;
                    retry_at = Some(retry_later(
                        &job,
                        work,
                        failures,
                        "cannot open the job's stores",
                        display_chain(&e),
                    ));
                    continue;
                }
            }
        }
        let Some((src, dst)) = sides.as_ref() else {
            continue;
        };
        // A backup job's source must be a backup root: given the level above it, every
        // folder would be taken for an incomplete backup. Checked until it passes once (a
        // listing or two), not on every scan.
        if cfg.backups && work.full && !root_checked {
            let wrong = match crate::milvus::root::check_root(src).await {
                Ok(Ok(_)) => {
                    root_checked = true;
                    None
                }
                Ok(Err(wrong)) => {
                    let source = cfg.source.display();
                    let mut why = format!("{source}: {}", wrong.reason());
                    if let Some(root) = wrong.root_to_use(&source) {
                        why.push_str(&format!("; set source = {root:?}"));
                    }
                    Some(("the source is not a milvus-backup backup root", why))
                }
                Err(e) => Some(("cannot list the source", display_chain(&e))),
            };
            if let Some((what, error)) = wrong {
                failures += 1;
                retry_at = Some(retry_later(&job, work, failures, what, error));
                continue;
            }
        }

        let outcome = run_once(&job, &shared, src, dst, &options, &work).await;
        if let Some(r) = job.restorer() {
            r.wake();
        }
        match outcome {
            Outcome::Done { retry, gone } => {
                if gone {
                    job.request_full(false);
                }
                if retry {
                    failures += 1;
                    let wait = crate::retry::daemon_delay(failures);
                    retry_at = Some(Instant::now() + wait);
                    requeue(&job, work);
                    job.update(|s| {
                        s.view.state = JobState::Retrying;
                        s.view.consecutive_failures = failures;
                        s.view.next_retry_ms = Some(now_ms() + wait.as_millis() as i64);
                    });
                } else {
                    failures = 0;
                    job.update(|s| {
                        s.view.state = if job.is_paused() {
                            JobState::Paused
                        } else {
                            JobState::Idle
                        };
                        s.view.consecutive_failures = 0;
                        s.view.next_retry_ms = None;
                    });
                }
            }
            Outcome::Cancelled => {
                requeue(&job, work);
                break;
            }
            Outcome::ManifestDown(e) => {
                failures += 1;
                retry_at = Some(retry_later(&job, work, failures, "manifest unusable", e));
            }
            Outcome::Fatal(e) => {
                // The manifest failed: nothing can be recorded; stop this job loudly.
                tracing::error!(job = %cfg.name, error = %e, "manifest error: job stopped");
                job.update(|s| {
                    s.view.state = JobState::Stopped;
                    s.view.errors_total += 1;
                });
                return;
            }
        }
    }
    job.update(|s| s.view.state = JobState::Stopped);
    // The restorer stops at shutdown too (a restore in flight stays recorded as running).
    if let Some(t) = restorer_task {
        let _ = t.await;
    }
}

/// Puts `work` back and schedules a retry after a failure before or around a run (stores
/// that cannot be opened, a manifest on a full or read-only disk); returns when.
pub(super) fn retry_later(
    job: &Job,
    work: Pending,
    failures: u32,
    what: &str,
    error: String,
) -> Instant {
    let wait = crate::retry::daemon_delay(failures);
    tracing::warn!(job = %job.name(), error = %error, retry_in = ?wait, "{what}");
    let kind = run_kind(&work);
    requeue(job, work);
    job.update(|s| {
        s.view.state = JobState::Retrying;
        s.view.consecutive_failures = failures;
        s.view.errors_total += 1;
        s.view.next_retry_ms = Some(now_ms() + wait.as_millis() as i64);
        s.view.last_run = Some(RunInfo::failed(
            kind,
            now_ms(),
            0.0,
            format!("{what}: {error}"),
        ));
    });
    Instant::now() + wait
}

/// The kind of run `work` makes, as status reports it.
pub(super) fn run_kind(work: &Pending) -> RunKind {
    match (work.full, work.check_target) {
        (true, true) => RunKind::Reconcile,
        (true, false) => RunKind::Full,
        (false, _) => RunKind::Keys,
    }
}

/// Puts back work a run did not complete.
pub(super) fn requeue(job: &Job, work: Pending) {
    {
        let mut p = crate::lock::lock(&job.pending);
        p.full |= work.full;
        p.check_target |= work.check_target;
        p.keys.extend(work.keys);
        p.since_ms = match (p.since_ms, work.since_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

pub(super) enum Outcome {
    /// The run ended; `retry` when it should be retried soon, `gone` when named keys vanished.
    Done {
        retry: bool,
        gone: bool,
    },
    Cancelled,
    /// The disk under the manifest failed (full, read-only): retried, since the manifest
    /// reopens once that is fixed.
    ManifestDown(String),
    /// The manifest itself is unusable (corrupt, newer format): the job stops.
    Fatal(String),
}

impl RunInfo {
    fn failed(kind: RunKind, started_ms: i64, seconds: f64, error: String) -> RunInfo {
        RunInfo {
            kind,
            started_ms,
            seconds,
            copied: 0,
            bytes: 0,
            unchanged: 0,
            adopted: 0,
            deleted: 0,
            failed: 0,
            source_objects: 0,
            skipped: 0,
            error: Some(error),
        }
    }
}

pub(super) async fn run_once(
    job: &Job,
    shared: &Shared,
    src: &Side,
    dst: &Side,
    base: &MirrorOptions,
    work: &Pending,
) -> Outcome {
    let started = Instant::now();
    let started_ms = now_ms();
    let kind = run_kind(work);
    job.update(|s| {
        s.view.state = if work.full {
            JobState::Scanning
        } else {
            JobState::Syncing
        };
        if work.full {
            s.view.runs_full += 1;
        } else {
            s.view.runs_keys += 1;
        }
        s.dirty_since_ms = match (s.dirty_since_ms, work.since_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    });
    let mut options = base.clone();
    options.check_target = work.check_target;
    let mut transient = false;
    let name = job.name().to_owned();
    let mut on_event = |e: Event| match e {
        Event::Copied {
            target,
            size,
            reason,
            ..
        } => {
            tracing::info!(job = %name, target = %target, size, reason = reason.as_str(), "copied");
            job.update(|s| {
                s.view.copied_total += 1;
                s.view.bytes_total += size;
            });
        }
        Event::Deleted { target } => {
            tracing::info!(job = %name, target = %target, "deleted");
            job.update(|s| s.view.deleted_total += 1);
        }
        Event::Adopted { target } => {
            tracing::info!(job = %name, target = %target, "already at the target (recorded)");
            job.update(|s| s.view.adopted_total += 1);
        }
        Event::Verified { .. } => {}
        Event::Held { path, unit: backup } => {
            tracing::debug!(job = %name, path = %path, backup = %backup, "left as it is: its backup is held");
        }
        Event::UnitHeld { unit: backup, why } => {
            tracing::warn!(job = %name, backup = %backup, "backup held at the target: {why}");
        }
        Event::Unit {
            unit: backup,
            state,
            detail,
            ..
        } => {
            tracing::info!(job = %name, backup = %backup, state, detail = %detail, "backup");
        }
        Event::Failed { path, error } => {
            let t = error.is_transient();
            transient |= t;
            let msg = display_chain(&error);
            tracing::warn!(job = %name, path = %path, error = %msg, transient = t, "object failed");
            job.update(|s| {
                s.view.errors_total += 1;
                s.view.failed.push(FailedObject {
                    path,
                    error: msg,
                    transient: t,
                    at_ms: now_ms(),
                });
                while s.view.failed.len() > FAILED_KEPT {
                    s.view.failed.remove(0);
                }
            });
        }
    };
    let folders = job.in_flight.folders();
    if let Some(f) = folders {
        f.begin_run();
    }
    let result = if work.full {
        mirror::mirror(&shared.manifest, src, dst, &options, &mut on_event).await
    } else {
        let keys: Vec<String> = work.keys.iter().cloned().collect();
        mirror::mirror_keys(&shared.manifest, src, dst, &options, keys, &mut on_event).await
    };
    if let Some(f) = folders {
        f.end_run();
    }
    let seconds = started.elapsed().as_secs_f64();
    let summary: Summary = match result {
        Ok(s) => s,
        Err(MirrorError::State(e)) if e.is_io() => return Outcome::ManifestDown(display_chain(&e)),
        Err(e) => return Outcome::Fatal(display_chain(&e)),
    };
    if summary.cancelled {
        return Outcome::Cancelled;
    }
    let run_error = summary
        .scan_error
        .as_ref()
        .map(|e| format!("listing the source failed: {}", display_chain(e)))
        .or_else(|| {
            summary
                .target_scan_error
                .as_ref()
                .map(|e| format!("listing the target failed: {}", display_chain(e)))
        })
        .or_else(|| summary.delete_refused.clone())
        .or_else(|| {
            let (first, why) = summary.held_units.first()?;
            let more = summary.held_units.len() - 1;
            Some(format!(
                "backup {first:?}: {}{}",
                why,
                if more > 0 {
                    format!(" (and {more} more backups held)")
                } else {
                    String::new()
                }
            ))
        });
    if let Some(e) = &run_error {
        tracing::warn!(job = %job.name(), error = %e, "run failed");
    }
    let in_sync = summary.ok();
    // A failed listing is worth retrying soon; so are transient object failures.
    let retry = transient || summary.scan_error.is_some() || summary.target_scan_error.is_some();
    let pair_state = if work.full && in_sync {
        shared
            .manifest
            .find_pair(&src.url(), &dst.url())
            .ok()
            .flatten()
            .and_then(|p| {
                shared
                    .manifest
                    .get::<ferry_state::schema::PairsSchema>(&ferry_state::schema::PairKey(p))
                    .ok()
                    .flatten()
            })
    } else {
        None
    };
    let more_pending = !crate::lock::lock(&job.pending).is_empty();
    job.update(|s| {
        if run_error.is_some() {
            s.view.errors_total += 1;
        }
        if in_sync {
            s.view.last_success_ms = Some(now_ms());
            if !more_pending {
                s.dirty_since_ms = None;
            }
            // Objects that failed before and went through now are no longer failing.
            if work.full {
                s.view.failed.clear();
            }
        }
        if let Some(p) = pair_state {
            s.view.last_scan_ms = p.last_scan_ms;
            s.view.objects_in_sync = p.objects;
        }
        if work.full && summary.scan_error.is_none() {
            s.view.skipped_last_scan = summary.skipped;
        }
        s.view.last_run = Some(RunInfo {
            kind,
            started_ms,
            seconds,
            copied: summary.copied,
            bytes: summary.bytes,
            unchanged: summary.unchanged,
            adopted: summary.adopted,
            deleted: summary.deleted,
            failed: summary.failed,
            source_objects: summary.source_objects,
            skipped: summary.skipped,
            error: run_error,
        });
    });
    Outcome::Done {
        retry,
        gone: summary.gone > 0,
    }
}
