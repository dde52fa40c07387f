//! The supervisor of an `exec` trigger (`ferryd --run-trigger SPEC`): runs the program in
//! its own process group, enforces the timeout, captures its output, writes the outcome to a
//! result file; and how a restarted ferryd finds a supervisor or its outcome again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

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

pub(super) fn read_result(path: &Path) -> Option<ExecResult> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub(super) fn log_tail(path: &Path, max: u64) -> String {
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
pub(super) fn process_runs(pid: u32, spec: &Path) -> bool {
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
pub(super) fn find_process(spec: &Path) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| process_runs(*pid, spec))
}

#[cfg(test)]
mod tests {
    use super::*;

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
