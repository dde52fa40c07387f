//! `ferry status|sync|pause|resume|restore`: talking to ferryd's control API.

use anyhow::Context;
use ferry_engine::control::api::{
    BackupView, JobView, RestoreRequest, RestoreView, TargetCheckView,
};
use ferry_engine::control::client::ControlClient;

use crate::args::{DaemonArgs, JobArgs, RestoreArgs, RestoreCmd, StatusArgs};
use crate::{Ctx, Status, output};

fn client(a: &DaemonArgs) -> anyhow::Result<ControlClient> {
    if let Some(path) = &a.daemon_config {
        let cfg = ferry_engine::config::Config::load(path)?;
        let mut addr = cfg.control.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        return Ok(ControlClient::new(
            &format!("http://{addr}"),
            cfg.control.token,
        )?);
    }
    let token = match &a.token_file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("--token-file {}", f.display()))?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    Ok(ControlClient::new(&a.daemon, token)?)
}

fn ago(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "never".into();
    };
    let secs = (chrono::Utc::now().timestamp_millis() - ms).max(0) / 1000;
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86400),
    }
}

/// What the target answered the payload-hash probe, and what follows from it.
fn describe_check(c: &TargetCheckView) -> String {
    let verdict = if c.checks_sha256 {
        "checks signed SHA-256s: ferry's uploads are proven without reading them back"
    } else {
        "stores bodies that do not match their signed SHA-256: every object is read back"
    };
    format!(
        "{verdict} (probed {}, {}: {})",
        ago(Some(c.probed_ms)),
        c.identity,
        c.detail
    )
}

fn job_lines(j: &JobView, detail: bool) -> anyhow::Result<()> {
    output::line(&format!(
        "{}  {}  {} -> {}",
        j.name,
        j.state.as_str(),
        j.source,
        j.target
    ))?;
    let run = match &j.last_run {
        None => "no run yet".to_owned(),
        Some(last) => {
            let mut r = format!(
                "last {} run {}: {} copied ({}), {} unchanged, {} deleted, {} failed in {:.1}s",
                last.kind.as_str(),
                ago(Some(last.started_ms)),
                last.copied,
                output::human_size(last.bytes),
                last.unchanged,
                last.deleted,
                last.failed,
                last.seconds,
            );
            if last.adopted > 0 {
                r.push_str(&format!(
                    ", {} already at the target (recorded)",
                    output::count(last.adopted, "object")
                ));
            }
            if let Some(e) = &last.error {
                r.push_str(&format!("; error: {e}"));
            }
            r
        }
    };
    output::line(&format!("  {run}"))?;
    output::line(&format!(
        "  in sync: {} (last full scan {}), pending: {}{}, lag {:.1}s, copied since start: {} ({}), errors: {}",
        output::count(j.objects_in_sync, "object"),
        ago(j.last_scan_ms),
        output::count(j.pending_keys, "key"),
        if j.pending_full { " + full scan" } else { "" },
        j.lag_seconds,
        j.copied_total,
        output::human_size(j.bytes_total),
        j.errors_total,
    ))?;
    if j.adopted_total > 0 {
        output::line(&format!(
            "  already at the target when first seen (recorded, not copied): {}",
            output::count(j.adopted_total, "object")
        ))?;
    }
    for c in &j.copying {
        output::line(&format!(
            "  copying {}: {} of {}",
            c.key,
            output::human_size(c.done),
            output::human_size(c.size)
        ))?;
    }
    if j.skipped_last_scan > 0 {
        output::line(&format!(
            "  skipped by include/exclude in the last full scan: {}",
            output::count(j.skipped_last_scan, "source object")
        ))?;
    }
    if let Some(at) = j.next_retry_ms {
        let secs = ((at - chrono::Utc::now().timestamp_millis()).max(0) as f64) / 1000.0;
        output::line(&format!(
            "  retrying in {secs:.0}s ({} in a row)",
            output::count(j.consecutive_failures, "failed run")
        ))?;
    }
    if let Some(backups) = j.backups.as_ref().filter(|b| !b.is_empty()) {
        let verified = backups.iter().filter(|b| b.state == "verified").count();
        output::line(&format!(
            "  backups: {verified} of {} verified at the target",
            backups.len()
        ))?;
        if let Some(c) = &j.target_check {
            output::line(&format!("  target: {}", describe_check(c)))?;
        }
        // Newest first; without detail, the five newest and every one not verified.
        let mut shown: Vec<&BackupView> = backups.iter().collect();
        shown.sort_by_key(|b| std::cmp::Reverse(b.created_ms));
        for (i, b) in shown.into_iter().enumerate() {
            if !detail && i >= 5 && b.state == "verified" {
                continue;
            }
            // The latest restore, when it is of the backup id the target holds now.
            let restore = b.restore.as_ref().filter(|r| r.backup_id == b.backup_id);
            let state = match restore {
                Some(r) => format!("{}, {}", b.state, restore_state(&r.state)),
                None => b.state.clone(),
            };
            let mut line = format!(
                "    {}  {state}  {} ({}), {}, {}",
                b.name,
                output::count(b.objects, "object"),
                output::human_size(b.bytes),
                output::count(b.segments, "segment"),
                output::count(b.rows, "row"),
            );
            if b.state == "verified" && b.evidence != Default::default() {
                line.push_str(&format!(" [{}]", b.evidence.describe()));
            }
            if !b.detail.is_empty() {
                line.push_str(&format!(": {}", b.detail));
            } else if let Some(r) = restore.filter(|r| {
                matches!(
                    r.state.as_str(),
                    "restore-failed" | "count-mismatch" | "verify-failed"
                )
            }) {
                line.push_str(&format!(": {}", r.detail));
            }
            output::line(&line)?;
        }
    }
    if !j.failed.is_empty() {
        output::line(&format!("  {} failed objects:", j.failed.len()))?;
        let shown = if detail { j.failed.len() } else { 5 };
        for f in j.failed.iter().rev().take(shown) {
            output::line(&format!("    {}: {}", f.path, f.error))?;
        }
    }
    Ok(())
}

pub async fn status(ctx: &Ctx, a: StatusArgs) -> anyhow::Result<Status> {
    let c = client(&a.daemon)?;
    let jobs: Vec<JobView> = match &a.job {
        Some(name) => vec![c.job(name).await?],
        None => c.status().await?.jobs,
    };
    let healthy = jobs.iter().all(JobView::healthy);
    for j in &jobs {
        if ctx.json {
            output::json(&serde_json::to_value(j)?)?;
        } else {
            job_lines(j, a.job.is_some())?;
        }
    }
    Ok(if healthy { Status::Ok } else { Status::Failed })
}

pub async fn control(ctx: &Ctx, verb: &str, a: JobArgs) -> anyhow::Result<Status> {
    let c = client(&a.daemon)?;
    if a.wait && verb != "sync" {
        anyhow::bail!("--wait goes with `ferry sync`");
    }
    // The run that answers this request is the first full run started after it: counted by
    // ferryd itself, so that no clock of this machine is compared with ferryd's.
    let before = if a.wait {
        let j = c.job(&a.job).await?;
        (j.runs_full, j.errors_total)
    } else {
        (0, 0)
    };
    let (answer, msg) = if verb == "sync" {
        let v = c.sync(&a.job, a.check_target).await?;
        let msg = format!("{}: sync {}", a.job, v.sync);
        (serde_json::to_value(v)?, msg)
    } else {
        let v = if verb == "pause" {
            c.pause(&a.job).await?
        } else {
            c.resume(&a.job).await?
        };
        let msg = if v.paused {
            format!("{}: paused", a.job)
        } else {
            format!("{}: resumed", a.job)
        };
        (serde_json::to_value(v)?, msg)
    };
    if ctx.json {
        output::json(&answer)?;
    } else if !ctx.quiet {
        output::line(&msg)?;
    }
    if a.wait {
        return wait_for_run(ctx, &c, &a.job, before).await;
    }
    Ok(Status::Ok)
}

/// A restore's state next to its backup's: the count check's states say they are about rows.
fn restore_state(state: &str) -> String {
    match state {
        "verifying" => "restored, counting rows".into(),
        "verified" => "restored, rows verified".into(),
        "count-mismatch" => "restored, row count mismatch".into(),
        "verify-failed" => "restored, rows not verified".into(),
        other => other.to_owned(),
    }
}

/// Waits for restore request `asked` (job, backup, seq) to end: restored (0) or not (1).
async fn wait_for_restore(
    ctx: &Ctx,
    c: &ControlClient,
    asked: &RestoreView,
) -> anyhow::Result<Status> {
    let mut last_state = String::new();
    loop {
        let now = c
            .restores()
            .await?
            .into_iter()
            .find(|r| r.job == asked.job && r.backup == asked.backup && r.seq == asked.seq)
            .ok_or_else(|| anyhow::anyhow!("restore of `{}` is gone from ferryd", asked.backup))?;
        if now.state != last_state && !ctx.json && !ctx.quiet {
            output::line(&restore_line(&now))?;
        }
        last_state.clone_from(&now.state);
        match now.state.as_str() {
            "restored" | "verified" => {
                if ctx.json {
                    output::json(&serde_json::to_value(&now)?)?;
                }
                return Ok(Status::Ok);
            }
            "restore-failed" | "restore-skipped" | "count-mismatch" | "verify-failed" => {
                if ctx.json {
                    output::json(&serde_json::to_value(&now)?)?;
                }
                return Ok(Status::Failed);
            }
            _ => tokio::time::sleep(WAIT_POLL).await,
        }
    }
}

/// How often `--wait` asks ferryd.
const WAIT_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Waits for the job's first full run after `before` (full runs, errors) to end, or to fail
/// before it could start (stores that cannot be opened, a wrong backup root: retried by
/// ferryd), and prints the job.
async fn wait_for_run(
    ctx: &Ctx,
    c: &ControlClient,
    job: &str,
    (runs_before, errors_before): (u64, u64),
) -> anyhow::Result<Status> {
    use ferry_engine::control::api::JobState;
    loop {
        let j = c.job(job).await?;
        let ended = (j.runs_full > runs_before
            && !j.pending_full
            && !matches!(j.state, JobState::Scanning | JobState::Syncing))
            || (j.state == JobState::Retrying && j.errors_total > errors_before);
        if let Some(run) = j.last_run.as_ref().filter(|_| ended) {
            let ok = run.error.is_none() && run.failed == 0;
            if ctx.json {
                output::json(&serde_json::to_value(&j)?)?;
            } else if !ctx.quiet || !ok {
                job_lines(&j, false)?;
            }
            return Ok(if ok { Status::Ok } else { Status::Failed });
        }
        if j.state == JobState::Stopped {
            anyhow::bail!("job {job:?} stopped before its run ended (see `ferry status {job}`)");
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

fn restore_line(r: &RestoreView) -> String {
    let mut line = format!(
        "{}  {}/{}  {}  attempts {}",
        r.id, r.job, r.backup, r.state, r.attempts,
    );
    if !r.step.is_empty() {
        line.push_str(&format!(", {}", r.step));
    }
    if let Some(j) = &r.job_ref {
        line.push_str(&format!(", job {j}"));
    }
    if r.state == "restoring" {
        line.push_str(&format!(", {}%", r.progress));
    }
    if !r.detail.is_empty() {
        line.push_str(&format!(": {}", r.detail));
    }
    line
}

pub async fn restore(ctx: &Ctx, a: RestoreArgs) -> anyhow::Result<Status> {
    match a.cmd {
        Some(RestoreCmd::Status(s)) => {
            let c = client(&s.daemon)?;
            let list = c.restores().await?;
            // A failure counts while it is its backup's latest request (not after a retry).
            let mut latest: std::collections::HashMap<(&str, &str), &RestoreView> =
                std::collections::HashMap::new();
            for r in &list {
                latest.insert((r.job.as_str(), r.backup.as_str()), r);
            }
            let failed = latest.values().any(|r| {
                matches!(
                    r.state.as_str(),
                    "restore-failed" | "count-mismatch" | "verify-failed"
                )
            });
            for r in &list {
                if ctx.json {
                    output::json(&serde_json::to_value(r)?)?;
                } else {
                    output::line(&restore_line(r))?;
                }
            }
            if list.is_empty() && !ctx.json && !ctx.quiet {
                output::line("No restores.")?;
            }
            Ok(if failed { Status::Failed } else { Status::Ok })
        }
        Some(RestoreCmd::Log(r)) => {
            let c = client(&r.daemon)?;
            let l = c.restore_log(&r.id).await?;
            if ctx.json {
                output::json(&serde_json::to_value(&l)?)?;
            } else if l.log.is_empty() {
                eprintln!(
                    "restore {} of job {} has no log (REST triggers have none; an exec trigger's starts when it runs)",
                    l.id, l.job
                );
            } else {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                out.write_all(l.log.as_bytes())?;
                if !l.log.ends_with('\n') {
                    out.write_all(b"\n")?;
                }
            }
            Ok(Status::Ok)
        }
        Some(RestoreCmd::Retry(r)) => {
            let c = client(&r.daemon)?;
            let v = c.retry(&r.id).await?;
            if ctx.json {
                output::json(&serde_json::to_value(&v)?)?;
            } else if !ctx.quiet {
                output::line(&format!(
                    "Restore of `{}` queued again (id {}).",
                    v.backup, v.id
                ))?;
            }
            Ok(Status::Ok)
        }
        None => {
            let (Some(job), Some(backup)) = (a.job, a.backup) else {
                anyhow::bail!("usage: ferry restore JOB BACKUP (or `ferry restore status`)");
            };
            let c = client(&a.daemon)?;
            let body = RestoreRequest {
                backup: backup.clone(),
                suffix: a.suffix,
                renames: a.rename,
                when_synced: a.when_synced,
                again: a.again,
            };
            let v = c.restore(&job, &body).await?;
            if ctx.json {
                output::json(&serde_json::to_value(&v)?)?;
            } else if !ctx.quiet {
                let line = if v.id.is_empty() {
                    format!(
                        "Restore of `{backup}` requested: fires once the backup is verified at the target (its id is given then); see `ferry restore status`."
                    )
                } else {
                    format!(
                        "Restore of `{backup}` requested (id {}): fires now; see `ferry restore status`.",
                        v.id
                    )
                };
                output::line(&line)?;
            }
            if a.wait {
                return wait_for_restore(ctx, &c, &v).await;
            }
            Ok(Status::Ok)
        }
    }
}
