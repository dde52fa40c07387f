//! Restore triggers: once a backup is verified at a job's target, restore it exactly once.
//!
//! Two kinds, per job (`[jobs.restore]` in ferryd's config) or asked for by hand
//! (`ferry restore JOB BACKUP`):
//!
//! - `exec`: a program with an argv template (`{backup}`, `{suffix}`, `{bucket}`, `{path}`,
//!   `{job}`, `{id}`), run without a shell; its exit code decides. It runs under a small
//!   supervisor (`ferryd --run-trigger SPEC`, its own process group) that waits for it,
//!   enforces the timeout, captures its output to a log file and writes the outcome to a result
//!   file: a ferryd killed mid-restore finds the outcome (or the still-running supervisor) when
//!   it starts again, instead of guessing.
//! - `milvus-backup-rest`: `POST /api/v1/restore` with `async: true` and a deterministic `id`,
//!   then `GET /api/v1/get_restore?id=` until SUCCESS, FAIL or TIMEOUT. HTTP 200 can carry a
//!   failure `code`: the JSON decides.
//!
//! **Exactly once.** A restore record (manifest, `restores` family) moves Requested → Firing →
//! Running → Restored | Failed by the transitions of [`machine`] (its table), each written
//! durably *before* the side effect it precedes; the drivers ([`driver`]: `exec_trigger`,
//! `rest_trigger`) fire and pick up, and never set a state themselves. After a crash:
//! - `exec`, Firing: a result file → its outcome; a supervisor still running (found by its spec
//!   path in /proc) → wait for it; no log file (the supervisor never started) → start it;
//!   otherwise the outcome is unknown → Failed, never re-run by itself.
//! - `exec`, Running: the same, by the recorded pid.
//! - REST, Firing: ask the server for the task id first; known → keep polling it; unknown →
//!   the POST never arrived → POST it.
//! - REST, Running (the server had accepted it) and the server now answers "task not found":
//!   it restarted and forgot its in-memory task, and the restore may have run partly. ferry
//!   does not POST again (that could restore twice): Failed, "outcome unknown", for a person to
//!   check Milvus and `ferry restore retry ID`.
//!
//! Transient failures (server unreachable, HTTP 5xx) are retried with backoff; a failed
//! restore stays failed until retried by hand.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferry_state::schema::{BackupKey, BackupState, RestoreOrigin, RestoreRecord, RestoreState};
use ferry_state::{Batch, Manifest, PairId, RestoreKey, RestoresSchema, StateError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;

mod check;
mod driver;
mod exec_trigger;
mod machine;
mod requests;
mod rest_trigger;
mod spec;
mod supervisor;
mod volume;
mod zilliz_trigger;

use driver::{Driver, Fired, Firing};
use exec_trigger::ExecTrigger;
pub use machine::{IllegalTransition, StepError};
use machine::{Outcome, Transition};
pub use requests::on_verified;
use requests::{next_seq, of_id, requested, shown_id};
use rest_trigger::RestTrigger;
pub use spec::{
    PLACEHOLDERS, RestoreConfig, Secret, Trigger, VerifyConfig, ZillizMode, ZillizTrigger,
    render_argv, restore_id,
};
pub use supervisor::{ExecResult, ExecSpec, supervise};

/// Why a restore request is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The manifest failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The job has no `[jobs.restore]`.
    #[error("job {0:?} has no restore trigger configured ([jobs.restore] in ferryd's config)")]
    NoTrigger(String),
    /// The backup is not verified at the target, and the caller did not ask to wait.
    #[error(
        "backup {name:?} of job {job:?} is {state} at the target, not verified (use --when-synced to restore it once it is)"
    )]
    NotReady {
        job: String,
        /// The backup.
        name: String,
        state: String,
    },
    /// A restore of it is in progress.
    #[error("a restore of backup {name:?} is already {state} (id {id})")]
    InProgress {
        /// The backup.
        name: String,
        state: &'static str,
        id: String,
    },
    /// No restore has that id.
    #[error("no restore with id {0:?} (see `ferry restore status`)")]
    UnknownId(String),
    /// The job's trigger cannot rename collections.
    #[error(
        "job {0:?} restores into Zilliz Cloud, whose migrations keep collection names: no suffix or renames"
    )]
    NoRenames(String),
    /// Only failed restores can be retried.
    #[error("restore {id} is {state}: only a failed restore can be retried")]
    NotFailed { id: String, state: &'static str },
    /// This backup id was restored already.
    #[error(
        "backup {name:?} (id {backup_id}) was restored already by {id}; use --again to restore it once more"
    )]
    AlreadyRestored {
        /// The backup.
        name: String,
        backup_id: String,
        /// The restore that did it.
        id: String,
    },
    /// The restore to retry was for a version of the backup the target no longer holds.
    #[error(
        "restore {id} was for backup id {was} of {name:?}, but the target now holds id {now}: it cannot be restored any more (request a restore of the backup as it is now with `ferry restore JOB {name}`)"
    )]
    Replaced {
        /// The restore.
        id: String,
        /// The backup.
        name: String,
        /// The id it was for.
        was: String,
        /// The id verified at the target now.
        now: String,
    },
}

/// The driver of a trigger: one per kind.
fn driver_of(trigger: &Trigger) -> Box<dyn Driver + '_> {
    match trigger {
        Trigger::Exec { argv } => Box::new(ExecTrigger { argv }),
        Trigger::Rest { url, poll } => Box::new(RestTrigger { url, poll: *poll }),
        Trigger::Zilliz(t) => Box::new(zilliz_trigger::ZillizDriver { t }),
    }
}

/// One job's restores: a task that fires them.
pub struct Restorer {
    job: String,
    pair: PairId,
    manifest: Arc<Manifest>,
    config: Option<RestoreConfig>,
    /// `<state_dir>/restores`: exec specs, logs, results.
    dir: PathBuf,
    /// This executable, to run the supervisor.
    exe: PathBuf,
    wake: Notify,
    shutdown: CancellationToken,
    /// Called when a restore ended (or was put off): the job may hold a new version of its
    /// backup until then.
    on_end: Option<Box<dyn Fn() + Send + Sync>>,
    /// Tests only: where to simulate a crash (see [`Restorer::crash_at`]).
    crash_at: Option<Box<CrashPoint>>,
    /// The job's target: uploads into a Zilliz Cloud volume read from it, and the count check
    /// reads the backup's meta there.
    target: Option<crate::sync::side::Side>,
}

/// Before or after a transition's write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// The side effects before it happened, its write did not.
    Before,
    /// Its write is durable, nothing after it happened.
    After,
}

/// Decides, from a transition's name (`claim`, `started`, `progress`, `end`, …) and the
/// moment, whether the restorer crashes there.
pub type CrashPoint = dyn Fn(&'static str, Moment) -> bool + Send + Sync;

impl std::fmt::Debug for Restorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Restorer")
            .field("job", &self.job)
            .field("pair", &self.pair)
            .finish_non_exhaustive()
    }
}

/// What [`Restorer::claim`] decided.
enum Claim {
    Fire,
    Wait,
}

/// The longest a request waits for its `next_try_ms` (the longest backoff).
const MAX_WAIT: Duration = Duration::from_secs(300);

impl Restorer {
    /// A restorer for `job` (pair `pair`); `exe` runs the exec supervisor.
    pub fn new(
        job: &str,
        pair: PairId,
        manifest: Arc<Manifest>,
        config: Option<RestoreConfig>,
        state_dir: &Path,
        exe: PathBuf,
        shutdown: CancellationToken,
    ) -> Restorer {
        Restorer {
            job: job.to_owned(),
            pair,
            manifest,
            config,
            dir: state_dir.join("restores"),
            exe,
            wake: Notify::new(),
            shutdown,
            on_end: None,
            crash_at: None,
            target: None,
        }
    }

    /// The kind of the job's trigger (`""` when it has none).
    pub fn kind(&self) -> &'static str {
        self.config.as_ref().map_or("", |c| c.trigger.kind())
    }

    /// The job's target (see [`Restorer`]'s field).
    pub fn with_target(mut self, target: crate::sync::side::Side) -> Self {
        self.target = Some(target);
        self
    }

    /// Tests only: the restorer panics (its task dies, as a killed ferryd would: what was
    /// written is in the manifest, what was started keeps running, nothing else happens)
    /// before or after writing the first transition `at` picks. A new restorer over the same
    /// manifest then plays the restart.
    #[doc(hidden)]
    pub fn crash_at(
        mut self,
        at: impl Fn(&'static str, Moment) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.crash_at = Some(Box::new(at));
        self
    }

    fn maybe_crash(&self, t: &Transition, moment: Moment) {
        if let Some(at) = &self.crash_at
            && at(t.name(), moment)
        {
            panic!("simulated crash {moment:?} transition {}", t.name());
        }
    }

    /// Calls `f` whenever a restore ended or was put off (ferryd wakes the job then).
    pub fn on_end(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_end = Some(Box::new(f));
        self
    }

    /// Looks again (after a run settled backups, or a request).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn backup_key(&self, name: &str) -> BackupKey {
        BackupKey {
            pair: self.pair,
            key: name.to_owned(),
        }
    }

    fn key(&self, name: &str, seq: u32) -> RestoreKey {
        RestoreKey {
            pair: self.pair,
            name: name.to_owned(),
            seq,
        }
    }

    /// Writes a request durably (before the side effect it announces).
    fn save(&self, name: &str, seq: u32, rec: &RestoreRecord) -> Result<(), StateError> {
        let mut b = Batch::new();
        b.put::<RestoresSchema>(&self.key(name, seq), rec);
        self.manifest.write_durable(b)
    }

    /// Moves a request by `t` (see `machine`) and writes it: durably, but for progress,
    /// before the side effect that follows.
    fn advance(
        &self,
        name: &str,
        seq: u32,
        rec: &mut RestoreRecord,
        t: Transition,
    ) -> Result<(), StepError> {
        let durable = t.durable();
        self.maybe_crash(&t, Moment::Before);
        let after = self.crash_at.is_some().then(|| t.clone());
        t.apply(rec)?;
        let mut b = Batch::new();
        b.put::<RestoresSchema>(&self.key(name, seq), rec);
        if durable {
            self.manifest.write_durable(b)?;
        } else {
            self.manifest.write(b)?;
        }
        if let Some(t) = after {
            self.maybe_crash(&t, Moment::After);
        }
        Ok(())
    }

    /// Queues a restore of `name` (`ferry restore`): fires once the backup is verified. A
    /// backup id restored already needs `again`.
    pub fn request(
        &self,
        name: &str,
        suffix: Option<String>,
        renames: Vec<(String, String)>,
        when_synced: bool,
        again: bool,
    ) -> Result<(u32, RestoreRecord), RestoreError> {
        let Some(cfg) = &self.config else {
            return Err(RestoreError::NoTrigger(self.job.clone()));
        };
        if matches!(cfg.trigger, Trigger::Zilliz(_)) && (suffix.is_some() || !renames.is_empty()) {
            return Err(RestoreError::NoRenames(self.job.clone()));
        }
        let _lock = self.manifest.backup_lock();
        let backup = self
            .manifest
            .get::<ferry_state::BackupsSchema>(&self.backup_key(name))?;
        let verified = backup
            .as_ref()
            .filter(|b| b.state == BackupState::Verified)
            .map(|b| b.backup_id.clone());
        if verified.is_none() && !when_synced {
            return Err(RestoreError::NotReady {
                job: self.job.clone(),
                name: name.to_owned(),
                state: backup
                    .as_ref()
                    .map_or("not seen", |b| b.state.as_str())
                    .to_owned(),
            });
        }
        let history = self.manifest.restores_of(self.pair, name)?;
        if let Some((_, o)) = history.iter().find(|(_, r)| !r.state.is_terminal()) {
            return Err(RestoreError::InProgress {
                name: name.to_owned(),
                state: o.state.as_str(),
                id: shown_id(o),
            });
        }
        if let Some(id) = &verified
            && !again
            && let Some((_, done)) = history
                .iter()
                .rev()
                .find(|(_, r)| r.backup_id == *id && r.state.restored())
        {
            return Err(RestoreError::AlreadyRestored {
                name: name.to_owned(),
                backup_id: id.clone(),
                id: done.id.clone(),
            });
        }
        // Not verified yet: the id is the one it will be verified with (see `on_verified`).
        let backup_id = verified.clone().unwrap_or_default();
        let id = if backup_id.is_empty() {
            String::new()
        } else {
            restore_id(&self.job, name, &backup_id, of_id(&history, &backup_id))
        };
        let mut rec = requested(
            id,
            backup_id,
            RestoreOrigin::Manual,
            suffix.or_else(|| cfg.suffix.clone()),
            if renames.is_empty() {
                cfg.renames.clone()
            } else {
                renames
            },
        );
        if verified.is_none() {
            rec.detail = "waiting for the backup to be verified at the target".into();
        }
        let seq = next_seq(&history);
        self.save(name, seq, &rec)?;
        self.wake();
        Ok((seq, rec))
    }

    /// Queues a failed restore again as a new request with a new id (`ferry restore retry
    /// ID`), the failed one kept in the history; returns its backup's name and the new
    /// request, `None` when no restore of this job has that id.
    pub fn retry(&self, id: &str) -> Result<Option<(String, u32, RestoreRecord)>, RestoreError> {
        let _lock = self.manifest.backup_lock();
        let Some((key, old)) = self
            .manifest
            .restores(self.pair)?
            .into_iter()
            .find(|(_, r)| r.id == id)
        else {
            return Ok(None);
        };
        let name = key.name;
        if old.state != RestoreState::Failed {
            return Err(RestoreError::NotFailed {
                id: id.to_owned(),
                state: old.state.as_str(),
            });
        }
        let backup = self
            .manifest
            .get::<ferry_state::BackupsSchema>(&self.backup_key(&name))?;
        if let Some(b) = backup
            .as_ref()
            .filter(|b| b.state == BackupState::Verified && b.backup_id != old.backup_id)
        {
            return Err(RestoreError::Replaced {
                id: id.to_owned(),
                name,
                was: old.backup_id,
                now: b.backup_id.clone(),
            });
        }
        let history = self.manifest.restores_of(self.pair, &name)?;
        if let Some((_, o)) = history.iter().find(|(_, r)| !r.state.is_terminal()) {
            return Err(RestoreError::InProgress {
                name,
                state: o.state.as_str(),
                id: shown_id(o),
            });
        }
        let mut rec = requested(
            restore_id(
                &self.job,
                &name,
                &old.backup_id,
                of_id(&history, &old.backup_id),
            ),
            old.backup_id.clone(),
            RestoreOrigin::Manual,
            old.suffix.clone(),
            old.renames.clone(),
        );
        rec.detail = format!("retry of {id}");
        let seq = next_seq(&history);
        self.save(&name, seq, &rec)?;
        self.wake();
        Ok(Some((name, seq, rec)))
    }

    /// The end of restore `id`'s log (an exec trigger's output, up to `max` bytes): `None`
    /// when no restore of this job has that id; empty when it has no log (a REST trigger, or
    /// not started yet).
    pub fn log(&self, id: &str, max: u64) -> Result<Option<String>, StateError> {
        if !self
            .manifest
            .restores(self.pair)?
            .iter()
            .any(|(_, r)| r.id == id)
        {
            return Ok(None);
        }
        // Ids are made of safe characters (see `restore_id`): a file name, not a path.
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return Ok(None);
        }
        Ok(Some(supervisor::log_tail(
            &self.dir.join(format!("{id}.log")),
            max,
        )))
    }

    /// The job's restore requests (each backup's history, oldest first): backup name,
    /// sequence number, request.
    pub fn list(&self) -> Result<Vec<(String, u32, RestoreRecord)>, StateError> {
        Ok(self
            .manifest
            .restores(self.pair)?
            .into_iter()
            .map(|(k, r)| (k.name, k.seq, r))
            .collect())
    }

    /// Runs until shutdown: fires what is due, resumes what a previous ferryd left running.
    pub async fn run(self: Arc<Self>) {
        loop {
            let next = match self.pass().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(job = %self.job, error = %e, "restores: a step failed; trying again");
                    Some(Duration::from_secs(30))
                }
            };
            let wait = next.unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = self.shutdown.cancelled() => return,
            }
            if self.shutdown.is_cancelled() {
                return;
            }
        }
    }

    /// One pass over the job's requests not ended yet; returns when to look again.
    async fn pass(&self) -> Result<Option<Duration>, StepError> {
        let mut next: Option<Duration> = None;
        for (key, mut rec) in self.manifest.restores(self.pair)? {
            if self.shutdown.is_cancelled() {
                break;
            }
            if rec.state.is_terminal() {
                continue;
            }
            let (name, seq) = (key.name, key.seq);
            let Some(cfg) = &self.config else {
                self.advance(&name, seq, &mut rec, Transition::Unconfigured)?;
                continue;
            };
            if rec.state == RestoreState::Verifying {
                if let Some(wait) = self.count(cfg, &name, seq, &mut rec).await? {
                    next = Some(next.map_or(wait, |n| n.min(wait)));
                }
                continue;
            }
            if rec.state == RestoreState::Requested {
                if let Some(t) = rec.next_try_ms {
                    // Wall-clock time, so bounded: a clock set back cannot stall it for longer
                    // than the longest backoff.
                    let wait = (t - now_ms()).min(MAX_WAIT.as_millis() as i64);
                    if wait > 0 {
                        let d = Duration::from_millis(wait as u64);
                        next = Some(next.map_or(d, |n| n.min(d)));
                        continue;
                    }
                }
                match self.claim(&name, seq, &mut rec)? {
                    Claim::Fire => {}
                    Claim::Wait => continue,
                }
            }
            // The backup's row counts, read while the backup is held for this restore.
            if cfg.verify.is_some() && rec.state == RestoreState::Firing && rec.counts.is_empty() {
                match check::expected(self.target.as_ref(), &name, &rec).await {
                    Ok(counts) => {
                        self.advance(&name, seq, &mut rec, Transition::Expect { counts })?;
                    }
                    Err(e) => {
                        tracing::warn!(job = %self.job, backup = %name, id = %rec.id, error = %e, "cannot read the backup's row counts before the restore; they are read after it");
                    }
                }
            }
            let advance = |rec: &mut RestoreRecord, t| self.advance(&name, seq, rec, t);
            let firing = Firing {
                job: &self.job,
                cfg,
                name: &name,
                dir: &self.dir,
                exe: &self.exe,
                shutdown: &self.shutdown,
                advance: &advance,
                target: self.target.as_ref(),
            };
            match driver_of(&cfg.trigger).drive(&firing, &mut rec).await? {
                Fired::Done(outcome, detail) => {
                    let outcome = if outcome == Outcome::Restored && cfg.verify.is_some() {
                        Outcome::Verify
                    } else {
                        outcome
                    };
                    self.advance(&name, seq, &mut rec, Transition::End { outcome, detail })?;
                    if outcome != Outcome::Failed {
                        tracing::info!(job = %self.job, backup = %name, id = %rec.id, "restored");
                    } else {
                        tracing::warn!(job = %self.job, backup = %name, id = %rec.id, error = %rec.detail, "restore failed");
                    }
                    // The job may hold a new version of this backup until this restore ended.
                    if let Some(on_end) = &self.on_end {
                        on_end();
                    }
                }
                Fired::Later(detail) => {
                    let wait = crate::retry::daemon_delay(rec.attempts.max(1));
                    let next_try_ms = now_ms() + wait.as_millis() as i64;
                    self.advance(
                        &name,
                        seq,
                        &mut rec,
                        Transition::PutOff {
                            next_try_ms,
                            detail,
                        },
                    )?;
                    tracing::warn!(job = %self.job, backup = %name, id = %rec.id, retry_in = ?wait, error = %rec.detail, "restore not started; retried");
                    if let Some(on_end) = &self.on_end {
                        on_end();
                    }
                    next = Some(next.map_or(wait, |n| n.min(wait)));
                }
                Fired::Stopped => break,
            }
        }
        Ok(next)
    }

    /// One count check of a verifying request; `Some(wait)` when it is to be tried again.
    async fn count(
        &self,
        cfg: &RestoreConfig,
        name: &str,
        seq: u32,
        rec: &mut RestoreRecord,
    ) -> Result<Option<Duration>, StepError> {
        let Some(verify) = &cfg.verify else {
            self.advance(name, seq, rec, Transition::Unconfigured)?;
            return Ok(None);
        };
        if let Some(t) = rec.next_try_ms {
            let wait = (t - now_ms()).min(MAX_WAIT.as_millis() as i64);
            if wait > 0 {
                return Ok(Some(Duration::from_millis(wait as u64)));
            }
        }
        let t = check::check(verify, self.target.as_ref(), name, rec).await;
        let again = match &t {
            Transition::CountLater { next_try_ms, .. } => Some(Duration::from_millis(
                u64::try_from(next_try_ms - now_ms()).unwrap_or(0),
            )),
            _ => None,
        };
        self.advance(name, seq, rec, t)?;
        match rec.state {
            RestoreState::Verified => {
                tracing::info!(job = %self.job, backup = %name, id = %rec.id, detail = %rec.detail, "restore verified by row counts");
            }
            RestoreState::Verifying => {
                tracing::warn!(job = %self.job, backup = %name, id = %rec.id, detail = %rec.detail, "row counts not read yet");
            }
            _ => {
                tracing::warn!(job = %self.job, backup = %name, id = %rec.id, state = rec.state.as_str(), detail = %rec.detail, "restore not verified by row counts");
            }
        }
        Ok(again)
    }

    /// Decides, under the manifest's backup lock, whether a requested restore fires now: only
    /// while its backup id is the one verified at the target. Firing is recorded (durably)
    /// before the lock is released, so the sync engine, which hides a backup only under the
    /// same lock and only when none of its restores is firing, cannot change the backup
    /// under it.
    fn claim(&self, name: &str, seq: u32, rec: &mut RestoreRecord) -> Result<Claim, StepError> {
        let _lock = self.manifest.backup_lock();
        // The pass's copy may be stale (the sync engine skips a request whose backup id left
        // the target): the manifest's is the one to decide on.
        match self.manifest.get::<RestoresSchema>(&self.key(name, seq))? {
            Some(now) if now.state == RestoreState::Requested => *rec = now,
            _ => return Ok(Claim::Wait),
        }
        let backup = self
            .manifest
            .get::<ferry_state::BackupsSchema>(&self.backup_key(name))?;
        let Some(b) = backup.filter(|b| b.state == BackupState::Verified) else {
            let why = "waiting for the backup to be verified at the target";
            if rec.detail != why {
                self.advance(name, seq, rec, Transition::Wait { detail: why.into() })?;
            }
            return Ok(Claim::Wait);
        };
        let id = if rec.backup_id.is_empty() {
            let history = self.manifest.restores_of(self.pair, name)?;
            restore_id(&self.job, name, &b.backup_id, of_id(&history, &b.backup_id))
        } else if rec.backup_id != b.backup_id {
            let detail = format!(
                "not fired: the target now holds backup id {} of {name:?}, not {} (restored on its own)",
                b.backup_id, rec.backup_id
            );
            self.advance(name, seq, rec, Transition::Skip { detail })?;
            return Ok(Claim::Wait);
        } else {
            rec.id.clone()
        };
        self.advance(
            name,
            seq,
            rec,
            Transition::Claim {
                id,
                backup_id: b.backup_id,
            },
        )?;
        Ok(Claim::Fire)
    }
}
