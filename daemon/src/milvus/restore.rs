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
//! Running → Restored | Failed, each step written durably *before* the side effect it
//! announces. After a crash:
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

use chrono::Utc;
use ferry_state::schema::{BackupKey, BackupState, RestoreOrigin, RestoreRecord, RestoreState};
use ferry_state::{Batch, Manifest, PairId, RestoresSchema, StateError};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How a job restores its backups.
#[derive(Debug, Clone)]
pub struct RestoreConfig {
    /// The trigger.
    pub trigger: Trigger,
    /// Backup name globs that trigger automatically (`None`: none do; only `ferry restore`).
    pub backups: Option<globset::GlobSet>,
    /// The same, as written (for status).
    pub backup_patterns: Vec<String>,
    /// Collection suffix (milvus-backup `-s`).
    pub suffix: Option<String>,
    /// Collection renames (milvus-backup `-r db1.c1:db2.c1_new`).
    pub renames: Vec<(String, String)>,
    /// How long one restore may take.
    pub timeout: Duration,
    /// Where the backup root is at the target, for `{bucket}` / `{path}` and the REST request.
    pub bucket: String,
    /// See `bucket`.
    pub path: String,
}

/// What runs a restore.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// A program.
    Exec {
        /// argv template.
        argv: Vec<String>,
    },
    /// milvus-backup's REST server.
    Rest {
        /// `http://host:port` (the `/api/v1` is added).
        url: String,
        /// Time between polls.
        poll: Duration,
    },
}

impl Trigger {
    /// Its kind, for status.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Exec { .. } => "exec",
            Trigger::Rest { .. } => "milvus-backup-rest",
        }
    }
}

/// The deterministic task id of a restore: readable, and unique per job, backup name, backup
/// id and manual retry.
pub fn restore_id(job: &str, backup: &str, backup_id: &str, retry: u32) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect()
    };
    let mut h = sha2::Sha256::new();
    for part in [job, backup, backup_id] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let hash = hex::encode(&h.finalize()[..4]);
    let mut id = format!("ferry-{}-{}-{hash}", clean(job), clean(backup));
    if retry > 0 {
        id.push_str(&format!("-r{retry}"));
    }
    id
}

/// The restore a backup that just became verified asks for, when `cfg`'s `backups` globs pick
/// it (the sync engine writes it with the backup's state, atomically). Backups verified before
/// a trigger was configured are not restored by themselves: `ferry restore` does that.
pub fn auto_request(
    job: &str,
    cfg: &RestoreConfig,
    name: &str,
    backup: &ferry_state::BackupRecord,
) -> Option<RestoreRecord> {
    if !cfg.backups.as_ref().is_some_and(|f| f.is_match(name)) {
        return None;
    }
    Some(requested(
        restore_id(job, name, &backup.backup_id, 0),
        backup.backup_id.clone(),
        RestoreOrigin::Config,
        cfg.suffix.clone(),
        cfg.renames.clone(),
        0,
    ))
}

/// A new restore request, not fired yet.
fn requested(
    id: String,
    backup_id: String,
    origin: RestoreOrigin,
    suffix: Option<String>,
    renames: Vec<(String, String)>,
    attempts: u32,
) -> RestoreRecord {
    RestoreRecord {
        id,
        backup_id,
        state: RestoreState::Requested,
        origin,
        suffix,
        renames,
        attempts,
        requested_ms: now_ms(),
        fired_ms: None,
        ended_ms: None,
        next_try_ms: None,
        pid: None,
        progress: 0,
        detail: String::new(),
    }
}

/// Fills an argv template. Each element is substituted as a whole string: a backup name
/// with spaces or quotes stays one argument, and no shell ever sees it.
pub fn render_argv(template: &[String], vars: &[(&str, &str)]) -> Vec<String> {
    template
        .iter()
        .map(|t| {
            let mut out = String::with_capacity(t.len());
            let mut rest = t.as_str();
            while let Some(open) = rest.find('{') {
                out.push_str(&rest[..open]);
                let after = &rest[open + 1..];
                match after.find('}') {
                    Some(close) => {
                        let name = &after[..close];
                        match vars.iter().find(|(k, _)| *k == name) {
                            Some((_, v)) => out.push_str(v),
                            None => {
                                out.push('{');
                                out.push_str(name);
                                out.push('}');
                            }
                        }
                        rest = &after[close + 1..];
                    }
                    None => {
                        out.push_str(&rest[open..]);
                        rest = "";
                    }
                }
            }
            out.push_str(rest);
            out
        })
        .collect()
}

/// The placeholders an argv template may use.
pub const PLACEHOLDERS: &[&str] = &["backup", "suffix", "bucket", "path", "job", "id"];

/// What the supervisor of an `exec` trigger is asked to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecSpec {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Seconds before the program is killed.
    pub timeout_secs: u64,
    /// Where its output goes.
    pub log: PathBuf,
    /// Where the outcome is written (atomically).
    pub result: PathBuf,
}

/// What the supervisor writes when the program ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecResult {
    /// The exit code (`None`: killed by a signal, or never started).
    pub code: Option<i32>,
    /// Killed after the timeout.
    pub timed_out: bool,
    /// Why it could not start.
    pub error: Option<String>,
}

/// Runs an `exec` trigger's program (the `ferryd --run-trigger SPEC` process): waits for it,
/// kills it after the timeout, writes the result file. Returns the process exit code.
pub fn supervise(spec_path: &Path) -> i32 {
    let spec: ExecSpec = match std::fs::read(spec_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ferryd --run-trigger {}: {e}", spec_path.display());
            return 2;
        }
    };
    let result = run_spec(&spec);
    let write = || -> std::io::Result<()> {
        let tmp = spec.result.with_extension("tmp");
        let f = std::fs::File::create(&tmp)?;
        serde_json::to_writer(&f, &result)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &spec.result)?;
        if let Some(dir) = spec.result.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    if let Err(e) = write() {
        eprintln!(
            "ferryd --run-trigger: cannot write {}: {e}",
            spec.result.display()
        );
        return 1;
    }
    0
}

fn run_spec(spec: &ExecSpec) -> ExecResult {
    let failed = |e: String| ExecResult {
        code: None,
        timed_out: false,
        error: Some(e),
    };
    let log = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
    {
        Ok(f) => f,
        Err(e) => return failed(format!("cannot open {}: {e}", spec.log.display())),
    };
    let Some((program, args)) = spec.argv.split_first() else {
        return failed("the command is empty".into());
    };
    let err_log = match log.try_clone() {
        Ok(f) => f,
        Err(e) => return failed(e.to_string()),
    };
    let mut child = match std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(err_log)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot start {program:?}: {e}")),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(spec.timeout_secs);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return ExecResult {
                    code: status.code(),
                    timed_out: false,
                    error: None,
                };
            }
            Ok(None) if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return ExecResult {
                    code: None,
                    timed_out: true,
                    error: None,
                };
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return failed(format!("waiting for {program:?}: {e}")),
        }
    }
}

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
        /// The job.
        job: String,
        /// The backup.
        name: String,
        /// Its state.
        state: String,
    },
    /// A restore of it is in progress.
    #[error("a restore of backup {name:?} is already {state} (id {id})")]
    InProgress {
        /// The backup.
        name: String,
        /// Its state.
        state: &'static str,
        /// Its id.
        id: String,
    },
    /// No restore has that id.
    #[error("no restore with id {0:?} (see `ferry restore status`)")]
    UnknownId(String),
    /// Only failed restores can be retried.
    #[error("restore {id} is {state}: only a failed restore can be retried")]
    NotFailed {
        /// Its id.
        id: String,
        /// Its state.
        state: &'static str,
    },
}

/// One job's restores: a task that fires them.
#[derive(Debug)]
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
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// How a firing ended, as far as this process knows.
enum Fired {
    Done(RestoreState, String),
    /// Try again later (nothing fired, or it is safe to ask again).
    Later(String),
    /// ferryd is stopping; the record stays as it is.
    Stopped,
}

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
        }
    }

    /// Looks again (after a run settled backups, or a request).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn key(&self, name: &str) -> BackupKey {
        BackupKey {
            pair: self.pair,
            key: name.to_owned(),
        }
    }

    fn save(&self, name: &str, rec: &RestoreRecord) -> Result<(), StateError> {
        let mut b = Batch::new();
        b.put::<RestoresSchema>(&self.key(name), rec);
        self.manifest.write_durable(b)
    }

    /// Queues a restore of `name` (`ferry restore`): fires once the backup is verified.
    pub fn request(
        &self,
        name: &str,
        suffix: Option<String>,
        renames: Vec<(String, String)>,
        when_synced: bool,
    ) -> Result<RestoreRecord, RestoreError> {
        let Some(cfg) = &self.config else {
            return Err(RestoreError::NoTrigger(self.job.clone()));
        };
        let backup = self
            .manifest
            .get::<ferry_state::BackupsSchema>(&self.key(name))?;
        let verified = backup
            .as_ref()
            .is_some_and(|b| b.state == BackupState::Verified);
        if !verified && !when_synced {
            return Err(RestoreError::NotReady {
                job: self.job.clone(),
                name: name.to_owned(),
                state: backup
                    .as_ref()
                    .map_or("not seen", |b| b.state.as_str())
                    .to_owned(),
            });
        }
        let old = self.manifest.get::<RestoresSchema>(&self.key(name))?;
        if let Some(o) = &old
            && !o.state.is_terminal()
            && o.state != RestoreState::Requested
        {
            return Err(RestoreError::InProgress {
                name: name.to_owned(),
                state: o.state.as_str(),
                id: o.id.clone(),
            });
        }
        let backup_id = backup.map(|b| b.backup_id).unwrap_or_default();
        let retries = old.as_ref().map_or(0, |o| o.attempts);
        let mut rec = requested(
            restore_id(&self.job, name, &backup_id, retries),
            backup_id,
            RestoreOrigin::Manual,
            suffix.or_else(|| cfg.suffix.clone()),
            if renames.is_empty() {
                cfg.renames.clone()
            } else {
                renames
            },
            retries,
        );
        if !verified {
            rec.detail = "waiting for the backup to be verified at the target".into();
        }
        self.save(name, &rec)?;
        self.wake();
        Ok(rec)
    }

    /// Puts a failed restore back in the queue (`ferry restore retry ID`); returns its backup's
    /// name and the new record, `None` when no restore of this job has that id.
    pub fn retry(&self, id: &str) -> Result<Option<(String, RestoreRecord)>, RestoreError> {
        let Some((name, mut rec)) = self
            .manifest
            .restores(self.pair)?
            .into_iter()
            .find(|(_, r)| r.id == id)
        else {
            return Ok(None);
        };
        if rec.state != RestoreState::Failed {
            return Err(RestoreError::NotFailed {
                id: id.to_owned(),
                state: rec.state.as_str(),
            });
        }
        rec.id = restore_id(&self.job, &name, &rec.backup_id, rec.attempts);
        rec.state = RestoreState::Requested;
        rec.next_try_ms = None;
        rec.pid = None;
        rec.progress = 0;
        rec.detail = format!("retried by hand (was {id})");
        self.save(&name, &rec)?;
        self.wake();
        Ok(Some((name, rec)))
    }

    /// The job's restores, by backup name.
    pub fn list(&self) -> Result<Vec<(String, RestoreRecord)>, StateError> {
        self.manifest.restores(self.pair)
    }

    /// Runs until shutdown: fires what is due, resumes what a previous ferryd left running.
    pub async fn run(self: Arc<Self>) {
        loop {
            let next = match self.pass().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(job = %self.job, error = %e, "restores: manifest error");
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

    /// One pass over the job's backups and restores; returns when to look again.
    async fn pass(&self) -> Result<Option<Duration>, StateError> {
        let backups = self.manifest.backups(self.pair)?;
        let restores = self.manifest.restores(self.pair)?;
        let mut next: Option<Duration> = None;
        for (name, mut rec) in restores {
            if self.shutdown.is_cancelled() {
                break;
            }
            if rec.state.is_terminal() {
                continue;
            }
            let backup = backups.iter().find(|(n, _)| *n == name).map(|(_, b)| b);
            if rec.state == RestoreState::Requested {
                let Some(b) = backup.filter(|b| b.state == BackupState::Verified) else {
                    continue;
                };
                if rec.backup_id.is_empty() {
                    rec.backup_id = b.backup_id.clone();
                    rec.id = restore_id(&self.job, &name, &b.backup_id, rec.attempts);
                }
                if let Some(t) = rec.next_try_ms {
                    let wait = t - now_ms();
                    if wait > 0 {
                        let d = Duration::from_millis(wait as u64);
                        next = Some(next.map_or(d, |n| n.min(d)));
                        continue;
                    }
                }
            }
            let Some(cfg) = &self.config else {
                rec.state = RestoreState::Failed;
                rec.ended_ms = Some(now_ms());
                rec.detail = "the job no longer has a restore trigger configured".into();
                self.save(&name, &rec)?;
                continue;
            };
            match self.drive(cfg, &name, &mut rec).await? {
                Fired::Done(state, detail) => {
                    rec.state = state;
                    rec.detail = detail;
                    rec.ended_ms = Some(now_ms());
                    rec.next_try_ms = None;
                    self.save(&name, &rec)?;
                    if state == RestoreState::Restored {
                        tracing::info!(job = %self.job, backup = %name, id = %rec.id, "restored");
                    } else {
                        tracing::warn!(job = %self.job, backup = %name, id = %rec.id, error = %rec.detail, "restore failed");
                    }
                }
                Fired::Later(why) => {
                    let wait = crate::jobs::backoff(rec.attempts.max(1));
                    rec.state = RestoreState::Requested;
                    rec.next_try_ms = Some(now_ms() + wait.as_millis() as i64);
                    rec.detail = why;
                    self.save(&name, &rec)?;
                    tracing::warn!(job = %self.job, backup = %name, id = %rec.id, retry_in = ?wait, error = %rec.detail, "restore not started; retried");
                    next = Some(next.map_or(wait, |n| n.min(wait)));
                }
                Fired::Stopped => break,
            }
        }
        Ok(next)
    }

    /// Fires (or resumes) one restore, up to its outcome.
    async fn drive(
        &self,
        cfg: &RestoreConfig,
        name: &str,
        rec: &mut RestoreRecord,
    ) -> Result<Fired, StateError> {
        match &cfg.trigger {
            Trigger::Exec { argv } => self.drive_exec(cfg, argv, name, rec).await,
            Trigger::Rest { url, poll } => self.drive_rest(cfg, url, *poll, name, rec).await,
        }
    }

    fn paths(&self, rec: &RestoreRecord) -> (PathBuf, PathBuf, PathBuf) {
        let base = self.dir.join(&rec.id);
        (
            base.with_extension("spec.json"),
            base.with_extension("log"),
            base.with_extension("result.json"),
        )
    }

    async fn drive_exec(
        &self,
        cfg: &RestoreConfig,
        argv: &[String],
        name: &str,
        rec: &mut RestoreRecord,
    ) -> Result<Fired, StateError> {
        let (spec_path, log, result) = self.paths(rec);
        let resuming = rec.state != RestoreState::Requested;
        if resuming {
            if let Some(done) = read_result(&result) {
                return Ok(self.exec_outcome(done, &log));
            }
            let pid = rec
                .pid
                .and_then(|p| u32::try_from(p).ok())
                .filter(|p| process_runs(*p, &spec_path))
                .or_else(|| find_process(&spec_path));
            match pid {
                Some(pid) => {
                    tracing::info!(job = %self.job, backup = %name, id = %rec.id, pid, "waiting for a restore started before ferryd restarted");
                    return Ok(self.wait_exec(pid, &spec_path, &result, &log).await);
                }
                None if rec.state == RestoreState::Firing && !log.exists() => {
                    // Recorded as firing, but the supervisor never started: start it now.
                }
                None => {
                    return Ok(Fired::Done(
                        RestoreState::Failed,
                        format!(
                            "interrupted: ferryd stopped while the restore ran and its outcome was not recorded (log: {}); check Milvus, then `ferry restore retry {}`",
                            log.display(),
                            rec.id
                        ),
                    ));
                }
            }
        }
        if let Err(e) = std::fs::create_dir_all(&self.dir) {
            return Ok(Fired::Later(format!(
                "cannot create {}: {e}",
                self.dir.display()
            )));
        }
        let suffix = rec.suffix.clone().unwrap_or_default();
        let vars = [
            ("backup", name),
            ("suffix", suffix.as_str()),
            ("bucket", cfg.bucket.as_str()),
            ("path", cfg.path.as_str()),
            ("job", self.job.as_str()),
            ("id", rec.id.as_str()),
        ];
        let spec = ExecSpec {
            argv: render_argv(argv, &vars),
            timeout_secs: cfg.timeout.as_secs().max(1),
            log: log.clone(),
            result: result.clone(),
        };
        let written = serde_json::to_vec(&spec)
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(&spec_path, b));
        if let Err(e) = written {
            return Ok(Fired::Later(format!(
                "cannot write {}: {e}",
                spec_path.display()
            )));
        }
        // Durable before the side effect.
        if !resuming {
            rec.attempts += 1;
        }
        rec.state = RestoreState::Firing;
        rec.fired_ms = Some(now_ms());
        rec.pid = None;
        rec.detail = String::new();
        self.save(name, rec)?;
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.arg("--run-trigger")
            .arg(&spec_path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                // Nothing ran: safe to try again.
                return Ok(Fired::Later(format!(
                    "cannot start the restore supervisor {}: {e}",
                    self.exe.display()
                )));
            }
        };
        let pid = child.id().unwrap_or(0);
        rec.state = RestoreState::Running;
        rec.pid = Some(i64::from(pid));
        self.save(name, rec)?;
        tracing::info!(job = %self.job, backup = %name, id = %rec.id, argv = ?spec.argv, "restore started");
        tokio::select! {
            status = child.wait() => {
                if let Err(e) = status {
                    tracing::warn!(job = %self.job, error = %e, "waiting for the restore supervisor");
                }
            }
            _ = self.shutdown.cancelled() => {
                // The supervisor keeps running; the next ferryd picks up its result.
                return Ok(Fired::Stopped);
            }
        }
        match read_result(&result) {
            Some(done) => Ok(self.exec_outcome(done, &log)),
            None => Ok(Fired::Done(
                RestoreState::Failed,
                format!(
                    "the restore supervisor ended without an outcome (log: {}); check Milvus, then `ferry restore retry {}`",
                    log.display(),
                    rec.id
                ),
            )),
        }
    }

    async fn wait_exec(&self, pid: u32, spec: &Path, result: &Path, log: &Path) -> Fired {
        loop {
            if let Some(done) = read_result(result) {
                return self.exec_outcome(done, log);
            }
            if !process_runs(pid, spec) {
                // It may have written the result just before ending.
                if let Some(done) = read_result(result) {
                    return self.exec_outcome(done, log);
                }
                return Fired::Done(
                    RestoreState::Failed,
                    format!(
                        "interrupted: the restore's supervisor ended without an outcome (log: {})",
                        log.display()
                    ),
                );
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = self.shutdown.cancelled() => return Fired::Stopped,
            }
        }
    }

    fn exec_outcome(&self, r: ExecResult, log: &Path) -> Fired {
        let tail = log_tail(log, 2000);
        for line in tail.lines() {
            tracing::info!(job = %self.job, output = %line, "restore output");
        }
        let last = tail.lines().last().unwrap_or("").to_owned();
        match r {
            ExecResult {
                code: Some(0),
                timed_out: false,
                error: None,
            } => Fired::Done(RestoreState::Restored, "exit code 0".into()),
            ExecResult { error: Some(e), .. } => Fired::Done(RestoreState::Failed, e),
            ExecResult {
                timed_out: true, ..
            } => Fired::Done(
                RestoreState::Failed,
                format!("timed out and killed (log: {})", log.display()),
            ),
            ExecResult { code, .. } => Fired::Done(
                RestoreState::Failed,
                format!(
                    "exit code {}{}",
                    code.map_or("none (killed by a signal)".to_owned(), |c| c.to_string()),
                    if last.is_empty() {
                        String::new()
                    } else {
                        format!(": {last}")
                    }
                ),
            ),
        }
    }

    async fn drive_rest(
        &self,
        cfg: &RestoreConfig,
        url: &str,
        poll: Duration,
        name: &str,
        rec: &mut RestoreRecord,
    ) -> Result<Fired, StateError> {
        let client = match super::rest::RestClient::new(url) {
            Ok(c) => c,
            Err(e) => return Ok(Fired::Done(RestoreState::Failed, e.to_string())),
        };
        if matches!(rec.state, RestoreState::Firing | RestoreState::Running) {
            tracing::info!(job = %self.job, backup = %name, id = %rec.id, "polling a restore started before ferryd restarted");
        }
        if rec.state != RestoreState::Running {
            // Requested or Firing: did an earlier POST arrive? Ask before posting.
            if rec.state == RestoreState::Firing || rec.attempts > 0 {
                match client.get_restore(&rec.id).await {
                    Ok(super::rest::Task::Known(_)) => {
                        rec.state = RestoreState::Running;
                        self.save(name, rec)?;
                    }
                    Ok(super::rest::Task::NotFound(_)) => {}
                    Err(e) => return Ok(Fired::Later(e.to_string())),
                }
            }
            if rec.state != RestoreState::Running {
                rec.attempts += 1;
                rec.state = RestoreState::Firing;
                rec.fired_ms = Some(now_ms());
                rec.detail = String::new();
                self.save(name, rec)?;
                let request = super::rest::RestoreRequest {
                    id: rec.id.clone(),
                    backup_name: name.to_owned(),
                    collection_suffix: rec.suffix.clone(),
                    collection_renames: rec.renames.clone(),
                    bucket_name: cfg.bucket.clone(),
                    path: cfg.path.clone(),
                };
                match client.restore(&request).await {
                    Ok(()) => {
                        rec.state = RestoreState::Running;
                        self.save(name, rec)?;
                        tracing::info!(job = %self.job, backup = %name, id = %rec.id, "restore accepted by the server");
                    }
                    Err(e) if e.is_transient() => return Ok(Fired::Later(e.to_string())),
                    Err(e) => return Ok(Fired::Done(RestoreState::Failed, e.to_string())),
                }
            }
        }
        // Running: poll until an outcome.
        let deadline = rec.fired_ms.unwrap_or_else(now_ms) + cfg.timeout.as_millis() as i64;
        let mut failures = 0u32;
        loop {
            match client.get_restore(&rec.id).await {
                Ok(super::rest::Task::Known(t)) => {
                    failures = 0;
                    match t.state_code {
                        2 => return Ok(Fired::Done(RestoreState::Restored, "SUCCESS".into())),
                        3 => {
                            return Ok(Fired::Done(
                                RestoreState::Failed,
                                format!("the server reports FAIL: {}", t.error_message),
                            ));
                        }
                        4 => {
                            return Ok(Fired::Done(
                                RestoreState::Failed,
                                format!("the server reports TIMEOUT: {}", t.error_message),
                            ));
                        }
                        _ => {
                            let p = u8::try_from(t.progress.clamp(0, 100)).unwrap_or(0);
                            if p != rec.progress {
                                rec.progress = p;
                                let mut b = Batch::new();
                                b.put::<RestoresSchema>(&self.key(name), rec);
                                self.manifest.write(b)?;
                            }
                        }
                    }
                }
                Ok(super::rest::Task::NotFound(msg)) => {
                    return Ok(Fired::Done(
                        RestoreState::Failed,
                        format!(
                            "the restore server no longer knows task {} ({msg}): it restarted and forgot it; the restore's outcome is unknown. Check Milvus, then `ferry restore retry {}`",
                            rec.id, rec.id
                        ),
                    ));
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(job = %self.job, id = %rec.id, error = %e, "polling the restore failed; polling on");
                }
            }
            if now_ms() > deadline {
                return Ok(Fired::Done(
                    RestoreState::Failed,
                    format!(
                        "no outcome after {:?}; the restore may still run on the server",
                        cfg.timeout
                    ),
                ));
            }
            let wait = if failures > 0 {
                crate::jobs::backoff(failures).min(Duration::from_secs(60))
            } else {
                poll
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.shutdown.cancelled() => return Ok(Fired::Stopped),
            }
        }
    }
}

fn read_result(path: &Path) -> Option<ExecResult> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn log_tail(path: &Path, max: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Whether `pid` is a supervisor of `spec` (its command line names the spec file).
fn process_runs(pid: u32, spec: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let spec = spec.as_os_str().as_encoded_bytes();
    cmdline.split(|b| *b == 0).any(|arg| arg == spec) && !is_zombie(pid)
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st == "Z"))
        })
        .unwrap_or(false)
}

/// A running supervisor of `spec`, found by its command line.
fn find_process(spec: &Path) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| process_runs(*pid, spec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_safe() {
        let a = restore_id("job", "nightly 1/x", "abc", 0);
        assert_eq!(a, restore_id("job", "nightly 1/x", "abc", 0));
        assert!(a.starts_with("ferry-job-nightly_1_x-"), "{a}");
        assert_ne!(a, restore_id("job", "nightly 1/x", "abd", 0));
        assert!(restore_id("job", "n", "abc", 2).ends_with("-r2"));
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn argv_templates_substitute_whole_values_without_a_shell() {
        let t: Vec<String> = [
            "restore",
            "-n",
            "{backup}",
            "-s",
            "{suffix}",
            "--x={job}:{id}",
            "{nope}",
            "{",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let out = render_argv(
            &t,
            &[
                ("backup", "b; rm -rf / $(x)"),
                ("suffix", "_bak"),
                ("job", "j"),
                ("id", "i"),
            ],
        );
        assert_eq!(
            out,
            [
                "restore",
                "-n",
                "b; rm -rf / $(x)",
                "-s",
                "_bak",
                "--x=j:i",
                "{nope}",
                "{"
            ]
        );
    }

    #[test]
    fn the_supervisor_records_exit_codes_timeouts_and_start_failures() {
        let dir = tempfile::tempdir().expect("test value");
        let run = |argv: &[&str], timeout: u64| {
            let spec = ExecSpec {
                argv: argv.iter().map(|s| (*s).to_owned()).collect(),
                timeout_secs: timeout,
                log: dir.path().join("log"),
                result: dir.path().join("result.json"),
            };
            let p = dir.path().join("spec.json");
            std::fs::write(&p, serde_json::to_vec(&spec).expect("test value")).expect("test value");
            assert_eq!(supervise(&p), 0);
            read_result(&spec.result).expect("test value")
        };
        let ok = run(&["sh", "-c", "echo hello; exit 0"], 10);
        assert_eq!((ok.code, ok.timed_out), (Some(0), false));
        assert!(log_tail(&dir.path().join("log"), 100).contains("hello"));
        assert_eq!(run(&["sh", "-c", "exit 3"], 10).code, Some(3));
        assert!(run(&["sleep", "5"], 1).timed_out);
        let missing = run(&["/no/such/program"], 1);
        assert!(missing.error.expect("test value").contains("cannot start"));
    }
}
