//! The `exec` trigger's driver: a program run by the supervisor (`ferryd --run-trigger SPEC`,
//! its own process group), found again after a restart by its result file, its recorded pid
//! or its command line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use ferry_state::{RestoreRecord, RestoreState};

use super::driver::{Driver, Fired, Firing};
use super::machine::{Outcome, StepError, Transition};
use super::spec::render_argv;
use super::supervisor::{ExecResult, ExecSpec, find_process, log_tail, process_runs, read_result};

/// Runs a program (argv template) per restore.
pub(super) struct ExecTrigger<'a> {
    pub(super) argv: &'a [String],
}

/// A restore's spec, log and result files.
fn paths(dir: &Path, rec: &RestoreRecord) -> (PathBuf, PathBuf, PathBuf) {
    let base = dir.join(&rec.id);
    (
        base.with_extension("spec.json"),
        base.with_extension("log"),
        base.with_extension("result.json"),
    )
}

#[async_trait]
impl Driver for ExecTrigger<'_> {
    async fn drive(&self, f: &Firing<'_>, rec: &mut RestoreRecord) -> Result<Fired, StepError> {
        let (spec_path, log, result) = paths(f.dir(), rec);
        // Claimed (firing, recorded before anything started) or running: what happened?
        {
            if let Some(done) = read_result(&result) {
                return Ok(exec_outcome(f.job(), done, &log));
            }
            let pid = rec
                .pid
                .and_then(|p| u32::try_from(p).ok())
                .filter(|p| process_runs(*p, &spec_path))
                .or_else(|| find_process(&spec_path));
            match pid {
                Some(pid) => {
                    tracing::info!(job = %f.job(), backup = %f.name, id = %rec.id, pid, "waiting for a restore started before ferryd restarted");
                    return Ok(wait_exec(f, pid, &spec_path, &result, &log).await);
                }
                None if rec.state == RestoreState::Firing && !log.exists() => {
                    // Recorded as firing, but the supervisor never started: start it now.
                }
                None => {
                    return Ok(Fired::Done(
                        Outcome::Failed,
                        format!(
                            "interrupted: ferryd stopped while the restore ran and its outcome was not recorded (log: {}); check Milvus, then `ferry restore retry {}`",
                            log.display(),
                            rec.id
                        ),
                    ));
                }
            }
        }
        if let Err(e) = std::fs::create_dir_all(f.dir()) {
            return Ok(Fired::Later(format!(
                "cannot create {}: {e}",
                f.dir().display()
            )));
        }
        let suffix = rec.suffix.clone().unwrap_or_default();
        let vars = [
            ("backup", f.name),
            ("suffix", suffix.as_str()),
            ("bucket", f.cfg.bucket.as_str()),
            ("path", f.cfg.path.as_str()),
            ("job", f.job()),
            ("id", rec.id.as_str()),
        ];
        let spec = ExecSpec {
            argv: render_argv(self.argv, &vars),
            timeout_secs: f.cfg.timeout.as_secs().max(1),
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
        let mut cmd = tokio::process::Command::new(f.exe());
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
                    f.exe().display()
                )));
            }
        };
        let pid = child.id().unwrap_or(0);
        f.advance(
            rec,
            Transition::Started {
                pid: Some(i64::from(pid)),
                job_ref: None,
            },
        )?;
        tracing::info!(job = %f.job(), backup = %f.name, id = %rec.id, argv = ?spec.argv, "restore started");
        tokio::select! {
            status = child.wait() => {
                if let Err(e) = status {
                    tracing::warn!(job = %f.job(), error = %e, "waiting for the restore supervisor");
                }
            }
            _ = f.shutdown().cancelled() => {
                // The supervisor keeps running; the next ferryd picks up its result.
                return Ok(Fired::Stopped);
            }
        }
        match read_result(&result) {
            Some(done) => Ok(exec_outcome(f.job(), done, &log)),
            None => Ok(Fired::Done(
                Outcome::Failed,
                format!(
                    "the restore supervisor ended without an outcome (log: {}); check Milvus, then `ferry restore retry {}`",
                    log.display(),
                    rec.id
                ),
            )),
        }
    }
}

async fn wait_exec(f: &Firing<'_>, pid: u32, spec: &Path, result: &Path, log: &Path) -> Fired {
    loop {
        if let Some(done) = read_result(result) {
            return exec_outcome(f.job(), done, log);
        }
        if !process_runs(pid, spec) {
            // It may have written the result just before ending.
            if let Some(done) = read_result(result) {
                return exec_outcome(f.job(), done, log);
            }
            return Fired::Done(
                Outcome::Failed,
                format!(
                    "interrupted: the restore's supervisor ended without an outcome (log: {})",
                    log.display()
                ),
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = f.shutdown().cancelled() => return Fired::Stopped,
        }
    }
}

fn exec_outcome(job: &str, r: ExecResult, log: &Path) -> Fired {
    let tail = log_tail(log, 2000);
    for line in tail.lines() {
        tracing::info!(job = %job, output = %line, "restore output");
    }
    let last = tail.lines().last().unwrap_or("").to_owned();
    match r {
        ExecResult {
            code: Some(0),
            timed_out: false,
            error: None,
        } => Fired::Done(Outcome::Restored, "exit code 0".into()),
        ExecResult { error: Some(e), .. } => Fired::Done(Outcome::Failed, e),
        ExecResult {
            timed_out: true, ..
        } => Fired::Done(
            Outcome::Failed,
            format!("timed out and killed (log: {})", log.display()),
        ),
        ExecResult { code, .. } => Fired::Done(
            Outcome::Failed,
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
