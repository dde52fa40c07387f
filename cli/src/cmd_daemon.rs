//! `ferry status|sync|pause|resume|restore`: talking to ferryd's control API.

use anyhow::Context;
use ferry_daemon::control::client::Client;
use serde_json::Value;

use crate::args::{DaemonArgs, JobArgs, RestoreArgs, RestoreCmd, StatusArgs};
use crate::{Ctx, Status, output};

fn client(a: &DaemonArgs) -> anyhow::Result<Client> {
    if let Some(path) = &a.daemon_config {
        let cfg = ferry_daemon::config::Config::load(path)?;
        let mut addr = cfg.control.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        return Ok(Client::new(&format!("http://{addr}"), cfg.control.token)?);
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
    Ok(Client::new(&a.daemon, token)?)
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

fn job_lines(j: &Value, detail: bool) -> anyhow::Result<()> {
    let s = |k: &str| j[k].as_str().unwrap_or("").to_owned();
    let n = |k: &str| j[k].as_u64().unwrap_or(0);
    output::line(&format!(
        "{}  {}  {} -> {}",
        s("name"),
        s("state"),
        s("source"),
        s("target")
    ))?;
    let last = &j["last_run"];
    let run = if last.is_null() {
        "no run yet".to_owned()
    } else {
        let mut r = format!(
            "last {} run {}: {} copied ({}), {} unchanged, {} deleted, {} failed in {:.1}s",
            last["kind"].as_str().unwrap_or("?"),
            ago(last["started_ms"].as_i64()),
            last["copied"].as_u64().unwrap_or(0),
            output::human_size(last["bytes"].as_u64().unwrap_or(0)),
            last["unchanged"].as_u64().unwrap_or(0),
            last["deleted"].as_u64().unwrap_or(0),
            last["failed"].as_u64().unwrap_or(0),
            last["seconds"].as_f64().unwrap_or(0.0),
        );
        if let Some(e) = last["error"].as_str() {
            r.push_str(&format!("; error: {e}"));
        }
        r
    };
    output::line(&format!("  {run}"))?;
    output::line(&format!(
        "  in sync: {} objects (last full scan {}), pending: {} keys{}, lag {:.1}s, copied since start: {} ({}), errors: {}",
        n("objects_in_sync"),
        ago(j["last_scan_ms"].as_i64()),
        n("pending_keys"),
        if j["pending_full"].as_bool() == Some(true) {
            " + full scan"
        } else {
            ""
        },
        j["lag_seconds"].as_f64().unwrap_or(0.0),
        n("copied_total"),
        output::human_size(n("bytes_total")),
        n("errors_total"),
    ))?;
    if n("skipped_last_scan") > 0 {
        output::line(&format!(
            "  skipped by include/exclude in the last full scan: {} source objects",
            n("skipped_last_scan")
        ))?;
    }
    if let Some(at) = j["next_retry_ms"].as_i64() {
        let secs = ((at - chrono::Utc::now().timestamp_millis()).max(0) as f64) / 1000.0;
        output::line(&format!(
            "  retrying in {secs:.0}s ({} failed runs in a row)",
            n("consecutive_failures")
        ))?;
    }
    if let Some(backups) = j["backups"].as_array().filter(|b| !b.is_empty()) {
        let verified = backups.iter().filter(|b| b["state"] == "verified").count();
        output::line(&format!(
            "  backups: {verified} of {} verified at the target",
            backups.len()
        ))?;
        // Newest first; without detail, the five newest and every one not verified.
        let mut shown: Vec<&Value> = backups.iter().collect();
        shown.sort_by_key(|b| std::cmp::Reverse(b["created_ms"].as_i64().unwrap_or(0)));
        for (i, b) in shown.into_iter().enumerate() {
            if !detail && i >= 5 && b["state"] == "verified" {
                continue;
            }
            // The latest restore, when it is of the backup id the target holds now.
            let state = match b["restore"]["state"].as_str() {
                Some(r) if b["restore"]["backup_id"] == b["backup_id"] => {
                    format!("{}, {r}", b["state"].as_str().unwrap_or(""))
                }
                _ => b["state"].as_str().unwrap_or("").to_owned(),
            };
            let mut line = format!(
                "    {}  {state}  {} objects ({}), {} segments, {} rows",
                b["name"].as_str().unwrap_or(""),
                b["objects"].as_u64().unwrap_or(0),
                output::human_size(b["bytes"].as_u64().unwrap_or(0)),
                b["segments"].as_u64().unwrap_or(0),
                b["rows"].as_u64().unwrap_or(0),
            );
            if let Some(d) = b["detail"].as_str().filter(|d| !d.is_empty()) {
                line.push_str(&format!(": {d}"));
            }
            output::line(&line)?;
        }
    }
    let failed = j["failed"].as_array().cloned().unwrap_or_default();
    if !failed.is_empty() {
        output::line(&format!("  {} failed objects:", failed.len()))?;
        let shown = if detail { failed.len() } else { 5 };
        for f in failed.iter().rev().take(shown) {
            output::line(&format!(
                "    {}: {}",
                f["path"].as_str().unwrap_or(""),
                f["error"].as_str().unwrap_or("")
            ))?;
        }
    }
    Ok(())
}

pub async fn status(ctx: &Ctx, a: StatusArgs) -> anyhow::Result<Status> {
    let c = client(&a.daemon)?;
    let jobs: Vec<Value> = match &a.job {
        Some(name) => vec![c.get(&format!("/v1/jobs/{}", encode(name))).await?],
        None => {
            let v = c.get("/v1/status").await?;
            v["jobs"].as_array().cloned().unwrap_or_default()
        }
    };
    let healthy = jobs.iter().all(|j| {
        j["last_run"]["error"].is_null() && j["failed"].as_array().is_none_or(|f| f.is_empty())
    });
    if ctx.json {
        for j in &jobs {
            output::json(j)?;
        }
    } else {
        for j in &jobs {
            job_lines(j, a.job.is_some())?;
        }
    }
    Ok(if healthy { Status::Ok } else { Status::Failed })
}

/// Job names are letters, digits, `-`, `_`, `.`; anything else is escaped.
fn encode(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub async fn control(ctx: &Ctx, verb: &str, a: JobArgs) -> anyhow::Result<Status> {
    let c = client(&a.daemon)?;
    let mut path = format!("/v1/jobs/{}/{verb}", encode(&a.job));
    if verb == "sync" && a.check_target {
        path.push_str("?check_target=true");
    }
    let v = c.post(&path).await?;
    if ctx.json {
        output::json(&v)?;
    } else if !ctx.quiet {
        let msg = match verb {
            "sync" => format!("{}: sync {}", a.job, v["sync"].as_str().unwrap_or("queued")),
            "pause" => format!("{}: paused", a.job),
            _ => format!("{}: resumed", a.job),
        };
        output::line(&msg)?;
    }
    Ok(Status::Ok)
}

fn restore_line(r: &Value) -> String {
    let s = |k: &str| r[k].as_str().unwrap_or("").to_owned();
    let mut line = format!(
        "{}  {}/{}  {}  attempts {}",
        s("id"),
        s("job"),
        s("backup"),
        s("state"),
        r["attempts"].as_u64().unwrap_or(0),
    );
    if s("state") == "restoring" {
        line.push_str(&format!(", {}%", r["progress"].as_u64().unwrap_or(0)));
    }
    if !s("detail").is_empty() {
        line.push_str(&format!(": {}", s("detail")));
    }
    line
}

pub async fn restore(ctx: &Ctx, a: RestoreArgs) -> anyhow::Result<Status> {
    match a.cmd {
        Some(RestoreCmd::Status(s)) => {
            let c = client(&s.daemon)?;
            let list = c.get("/v1/restores").await?;
            let list = list.as_array().cloned().unwrap_or_default();
            // A failure counts while it is its backup's latest request (not after a retry).
            let mut latest: std::collections::HashMap<(String, String), &Value> =
                std::collections::HashMap::new();
            for r in &list {
                let k = (
                    r["job"].as_str().unwrap_or("").to_owned(),
                    r["backup"].as_str().unwrap_or("").to_owned(),
                );
                latest.insert(k, r);
            }
            let failed = latest.values().any(|r| r["state"] == "restore-failed");
            for r in &list {
                if ctx.json {
                    output::json(r)?;
                } else {
                    output::line(&restore_line(r))?;
                }
            }
            if list.is_empty() && !ctx.json && !ctx.quiet {
                output::line("No restores.")?;
            }
            Ok(if failed { Status::Failed } else { Status::Ok })
        }
        Some(RestoreCmd::Retry(r)) => {
            let c = client(&r.daemon)?;
            let v = c
                .post(&format!("/v1/restores/{}/retry", encode(&r.id)))
                .await?;
            if ctx.json {
                output::json(&v)?;
            } else if !ctx.quiet {
                output::line(&format!(
                    "Restore of `{}` queued again (id {}).",
                    v["backup"].as_str().unwrap_or(""),
                    v["id"].as_str().unwrap_or("")
                ))?;
            }
            Ok(Status::Ok)
        }
        None => {
            let (Some(job), Some(backup)) = (a.job, a.backup) else {
                anyhow::bail!("usage: ferry restore JOB BACKUP (or `ferry restore status`)");
            };
            let c = client(&a.daemon)?;
            let body = serde_json::json!({
                "backup": backup,
                "suffix": a.suffix,
                "renames": a.rename,
                "when_synced": a.when_synced,
                "again": a.again,
            });
            let v = c
                .post_json(&format!("/v1/jobs/{}/restores", encode(&job)), &body)
                .await?;
            if ctx.json {
                output::json(&v)?;
            } else if !ctx.quiet {
                let line = match v["id"].as_str().filter(|id| !id.is_empty()) {
                    Some(id) => format!(
                        "Restore of `{backup}` requested (id {id}): fires now; see `ferry restore status`."
                    ),
                    None => format!(
                        "Restore of `{backup}` requested: fires once the backup is verified at the target (its id is given then); see `ferry restore status`."
                    ),
                };
                output::line(&line)?;
            }
            Ok(Status::Ok)
        }
    }
}
