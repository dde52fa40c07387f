//! One job at run time: its pending requests (they coalesce), its status, pause and resume.

use crate::clock::now_ms;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ferry_state::Manifest;
use tokio::sync::Notify;

use crate::config::JobConfig;
use crate::control::api::{CopyingView, JobState, JobView};
use crate::milvus::restore::Restorer;
use crate::sync::progress::InFlight;

/// Failed objects kept in a job's status.
pub(super) const FAILED_KEPT: usize = 50;

/// What a job has been asked to do and not done yet.
#[derive(Debug, Default)]
pub struct Pending {
    /// A full scan of the source.
    pub full: bool,
    /// ... that also lists the target (reconcile).
    pub check_target: bool,
    /// Relative keys (and prefixes ending with `/`) that changed.
    pub keys: BTreeSet<String>,
    /// When the oldest of these requests arrived (ms since the epoch).
    pub since_ms: Option<i64>,
}

impl Pending {
    pub(super) fn is_empty(&self) -> bool {
        !self.full && self.keys.is_empty()
    }
}

/// A job's state at run time: what the API shows, and since when changes wait (from which
/// [`Job::view`] computes the lag).
#[derive(Debug, Clone, Default)]
pub(super) struct JobStatus {
    pub(super) view: JobView,
    /// Since when changes wait (ms since the epoch).
    pub(super) dirty_since_ms: Option<i64>,
}

/// A job at run time.
#[derive(Debug)]
pub struct Job {
    pub config: JobConfig,
    pub(super) pending: Mutex<Pending>,
    pub(super) wake: Notify,
    pub(super) paused: AtomicBool,
    pub(super) status: Mutex<JobStatus>,
    /// The job's pair in the manifest, once its stores were opened.
    pub(super) pair: std::sync::OnceLock<ferry_state::PairId>,
    /// Its restores (milvus-backup jobs), once its stores were opened.
    pub(super) restorer: std::sync::OnceLock<Arc<Restorer>>,
    /// Its copies in flight.
    pub(super) in_flight: Arc<InFlight>,
}

impl Job {
    /// A job that has not run yet.
    pub fn new(config: JobConfig) -> Job {
        let status = JobStatus {
            view: JobView {
                name: config.name.clone(),
                source: config.source.display(),
                target: config.target.display(),
                state: JobState::Starting,
                ..JobView::default()
            },
            dirty_since_ms: None,
        };
        let in_flight = Arc::new(if config.backups {
            InFlight::with_folders()
        } else {
            InFlight::default()
        });
        Job {
            config,
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            paused: AtomicBool::new(false),
            status: Mutex::new(status),
            pair: std::sync::OnceLock::new(),
            restorer: std::sync::OnceLock::new(),
            in_flight,
        }
    }

    /// Its restores (`None` until its stores were first opened, or for plain jobs).
    pub fn restorer(&self) -> Option<&Arc<Restorer>> {
        self.restorer.get()
    }

    /// The job's pair in the manifest (`None` until its stores were first opened).
    pub fn pair(&self) -> Option<ferry_state::PairId> {
        self.pair.get().copied()
    }

    /// The milvus-backup backups the job has seen, by name.
    pub fn backups(
        &self,
        manifest: &Manifest,
    ) -> Result<Vec<(String, ferry_state::BackupRecord)>, ferry_state::StateError> {
        match self.pair() {
            Some(p) => manifest.backups(p),
            None => Ok(Vec::new()),
        }
    }

    /// What the job's target answered the payload-hash probe, as recorded for its pair.
    pub fn target_check(
        &self,
        manifest: &Manifest,
    ) -> Result<Option<ferry_state::TargetCheck>, ferry_state::StateError> {
        let Some(p) = self.pair() else {
            return Ok(None);
        };
        Ok(manifest
            .get::<ferry_state::schema::PairsSchema>(&ferry_state::schema::PairKey(p))?
            .and_then(|r| r.target_check))
    }

    /// The running run's progress per backup (empty between runs and for plain jobs).
    pub fn folders_progress(
        &self,
    ) -> std::collections::BTreeMap<String, crate::sync::progress::FolderProgress> {
        self.in_flight
            .folders()
            .map(|f| f.snapshot())
            .unwrap_or_default()
    }

    /// The job's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub(super) fn with_pending(&self, f: impl FnOnce(&mut Pending)) {
        {
            let mut p = crate::lock::lock(&self.pending);
            f(&mut p);
            p.since_ms.get_or_insert_with(now_ms);
        }
        self.wake.notify_one();
    }

    /// Asks for a full scan (and a target listing with `check_target`).
    pub fn request_full(&self, check_target: bool) {
        self.with_pending(|p| {
            p.full = true;
            p.check_target |= check_target;
        });
    }

    /// Asks for these relative keys (or prefixes ending with `/`) to be mirrored.
    pub fn request_keys(&self, keys: impl IntoIterator<Item = String>) {
        self.with_pending(|p| p.keys.extend(keys));
    }

    /// Stops starting runs until [`Job::resume`].
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        self.update(|s| {
            s.view.paused = true;
            if s.view.state == JobState::Idle || s.view.state == JobState::Retrying {
                s.view.state = JobState::Paused;
            }
        });
    }

    /// Lets runs start again.
    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
        self.update(|s| {
            s.view.paused = false;
            if s.view.state == JobState::Paused {
                s.view.state = JobState::Idle;
            }
        });
        self.wake.notify_one();
    }

    /// Whether runs are paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut JobStatus)) {
        {
            let mut s = crate::lock::lock(&self.status);
            f(&mut s);
        }
    }

    /// The job as the control API shows it (without its backups).
    pub fn view(&self) -> JobView {
        let JobStatus {
            mut view,
            mut dirty_since_ms,
        } = crate::lock::lock(&self.status).clone();
        {
            let p = crate::lock::lock(&self.pending);
            view.pending_keys = p.keys.len() as u64;
            view.pending_full = p.full;
            if let Some(since) = p.since_ms {
                dirty_since_ms = Some(dirty_since_ms.map_or(since, |d| d.min(since)));
            }
        }
        view.lag_seconds = dirty_since_ms.map_or(0.0, |d| ((now_ms() - d).max(0) as f64) / 1000.0);
        view.copying = self
            .in_flight
            .snapshot()
            .into_iter()
            .map(|(key, done, size)| CopyingView { key, done, size })
            .collect();
        view
    }

    /// Marks the watcher as running or not.
    pub fn set_watching(&self, on: bool) {
        self.update(|s| s.view.watching = on);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn job() -> Job {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("ferryd.toml");
        let text = format!(
            "alias_dir = {:?}\n[[jobs]]\nname = \"j\"\nsource = \"/src/\"\ntarget = \"/dst/\"\n",
            dir.path().join("aliases")
        );
        let cfg = Config::parse(&path, &text).expect("config");
        Job::new(cfg.jobs.into_iter().next().expect("a job"))
    }

    #[test]
    fn requests_coalesce_until_a_run_takes_them() {
        let j = job();
        j.request_keys(["a".to_owned(), "b/".to_owned()]);
        let first = crate::lock::lock(&j.pending).since_ms.expect("since");
        j.request_keys(["a".to_owned(), "c".to_owned()]);
        j.request_full(false);
        j.request_full(true);
        {
            let p = crate::lock::lock(&j.pending);
            assert_eq!(p.keys.iter().collect::<Vec<_>>(), ["a", "b/", "c"]);
            assert!(p.full && p.check_target);
            assert_eq!(p.since_ms, Some(first), "the oldest request's time is kept");
        }
        let v = j.view();
        assert_eq!((v.pending_keys, v.pending_full), (3, true));
        let taken = std::mem::take(&mut *crate::lock::lock(&j.pending));
        assert_eq!(taken.keys.len(), 3);
        assert!(crate::lock::lock(&j.pending).is_empty());
    }

    #[test]
    fn a_panic_while_holding_the_requests_loses_none() {
        let j = std::sync::Arc::new(job());
        j.request_keys(["before".to_owned()]);
        let holder = j.clone();
        let _ = std::thread::spawn(move || {
            let _guard = holder.pending.lock();
            panic!("a panic while the requests are locked");
        })
        .join();
        assert!(j.pending.is_poisoned());
        j.request_keys(["after".to_owned()]);
        let p = crate::lock::lock(&j.pending);
        assert_eq!(p.keys.iter().collect::<Vec<_>>(), ["after", "before"]);
    }

    #[test]
    fn pause_and_resume_move_an_idle_job() {
        let j = job();
        j.update(|s| s.view.state = JobState::Idle);
        j.pause();
        assert_eq!((j.view().state, j.is_paused()), (JobState::Paused, true));
        j.resume();
        assert_eq!((j.view().state, j.is_paused()), (JobState::Idle, false));
        // A job in a run keeps its state; it stops starting runs.
        j.update(|s| s.view.state = JobState::Scanning);
        j.pause();
        assert_eq!(j.view().state, JobState::Scanning);
        assert!(j.view().paused);
    }
}
