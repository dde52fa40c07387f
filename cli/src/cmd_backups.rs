//! `ferry backups ls|verify`: milvus-backup backups in any bucket or folder.

use anyhow::bail;
use ferry_engine::milvus::inspect::{self, BackupView, Visible};
use ferry_engine::sync::side::Side;
use serde_json::json;

use crate::args::{BackupsCmd, BackupsLsArgs, BackupsRmArgs, BackupsVerifyArgs};
use crate::cmd_mirror::{backup_root, verify_sides};
use crate::{Ctx, Status, output};

pub async fn run(ctx: &mut Ctx, c: BackupsCmd) -> anyhow::Result<Status> {
    match c {
        BackupsCmd::Ls(a) => ls(ctx, a).await,
        BackupsCmd::Verify(a) => verify(ctx, a).await,
        BackupsCmd::Rm(a) => rm(ctx, a).await,
    }
}

/// The backups of `names` matching `patterns` (names or globs); each pattern must match one.
pub fn select(names: &[String], patterns: &[String], root: &str) -> anyhow::Result<Vec<String>> {
    let mut chosen = std::collections::BTreeSet::new();
    for p in patterns {
        let glob = globset::Glob::new(p)
            .map_err(|e| anyhow::anyhow!("backup {p:?}: {e}"))?
            .compile_matcher();
        let hits: Vec<&String> = names.iter().filter(|n| glob.is_match(n.as_str())).collect();
        if hits.is_empty() {
            bail!("{root}: no backup matches {p:?} (see `ferry backups ls {root}`)");
        }
        chosen.extend(hits.into_iter().cloned());
    }
    Ok(chosen.into_iter().collect())
}

/// The backups under `root` that `mirror --backups --backup … --newest N` takes: those
/// matching `only` (all without), then the newest `newest` of them by the time milvus-backup
/// took them (read from their meta).
pub async fn chosen(
    root: &Side,
    shown: &str,
    only: &[String],
    newest: Option<u32>,
) -> anyhow::Result<Vec<String>> {
    let mut names = inspect::backup_names(root).await?;
    if !only.is_empty() {
        names = select(&names, only, shown)?;
    }
    if let Some(n) = newest {
        let mut dated = Vec::with_capacity(names.len());
        for name in names {
            let view = inspect::inspect(root, &name).await?;
            let created = view.meta.map(|m| m.backup_timestamp).filter(|t| *t > 0);
            dated.push((created, name));
        }
        // Without a readable meta (still being written) it is not among the newest taken.
        dated.retain(|(c, _)| c.is_some());
        dated.sort();
        let skip = dated.len().saturating_sub(n as usize);
        names = dated.into_iter().skip(skip).map(|(_, n)| n).collect();
        names.sort();
    }
    Ok(names)
}

async fn rm(ctx: &mut Ctx, a: BackupsRmArgs) -> anyhow::Result<Status> {
    use ferry_engine::backend::{ListEntry, ListOptions};
    use futures::TryStreamExt;
    if !a.force && !a.dry_run {
        bail!("removing backups needs --force (or --dry-run to see what would go)");
    }
    let root = backup_root(ctx, &a.root, true).await?;
    let names = inspect::backup_names(&root).await?;
    let chosen = select(&names, &a.names, &a.root)?;
    for name in chosen {
        let mut keys: Vec<(String, u64)> = Vec::new();
        let mut listing = root
            .store
            .list(&root.key(&format!("{name}/")), ListOptions::default());
        while let Some(e) = listing.try_next().await? {
            if let ListEntry::Object(m) = e {
                keys.push((m.key, m.size));
            }
        }
        let bytes: u64 = keys.iter().map(|(_, s)| s).sum();
        // backup_meta.json first, the rest of meta/ next, the data last.
        let rank = |k: &str| {
            let within = k.get(root.prefix.len() + name.len() + 1..).unwrap_or(k);
            match within {
                "meta/backup_meta.json" => 0,
                w if w.starts_with("meta/") => 1,
                _ => 2,
            }
        };
        if !a.dry_run {
            for stage in 0..3 {
                let batch: Vec<String> = keys
                    .iter()
                    .filter(|(k, _)| rank(k) == stage)
                    .map(|(k, _)| k.clone())
                    .collect();
                for chunk in batch.chunks(1000) {
                    let failed = root.store.delete(chunk).await?;
                    let left = failed.len();
                    if let Some(f) = failed.into_iter().next() {
                        let shown = root.display(f.key.get(root.prefix.len()..).unwrap_or(&f.key));
                        return Err(anyhow::Error::from(f.error).context(format!(
                            "backup `{name}` only partly removed ({left} not removed, first {shown})"
                        )));
                    }
                }
            }
        }
        if ctx.json {
            output::json(&json!({
                "status": "success", "op": "rm", "backup": name, "objects": keys.len(),
                "size": bytes, "dryRun": a.dry_run,
            }))?;
        } else if !ctx.quiet {
            let verb = if a.dry_run { "Would remove" } else { "Removed" };
            output::line(&format!(
                "{verb} backup `{name}` ({}, {}).",
                output::count(keys.len() as u64, "object"),
                output::human_size(bytes)
            ))?;
        }
    }
    Ok(Status::Ok)
}

fn created(v: &BackupView) -> String {
    v.meta
        .as_ref()
        .and_then(|m| i64::try_from(m.backup_timestamp).ok())
        .filter(|t| *t > 0)
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| output::human_time(&t))
        .unwrap_or_else(|| "-".into())
}

fn view_json(v: &BackupView) -> serde_json::Value {
    let m = v.meta.as_ref();
    json!({
        "status": "success",
        "name": v.name,
        "state": v.state.as_str(),
        "backupId": m.map(|m| m.id.clone()),
        "objects": v.objects,
        "size": v.bytes,
        "collections": m.map(|m| m.collections),
        "segments": m.map(|m| m.segments),
        "rows": m.map(|m| m.rows),
        "milvusVersion": m.map(|m| m.milvus_version.clone()),
        "created": m.map(|m| m.backup_timestamp),
        "generation": v.generation.map(|g| g.as_str()),
        "detail": v.detail,
    })
}

async fn ls(ctx: &mut Ctx, a: BackupsLsArgs) -> anyhow::Result<Status> {
    let root = backup_root(ctx, &a.target, true).await?;
    let mut views = inspect::list_backups(&root).await?;
    // Oldest first, newest last (as `ls -tr`); those without a readable meta at the end.
    views.sort_by_key(|v| {
        let created = v
            .meta
            .as_ref()
            .map(|m| m.backup_timestamp)
            .filter(|t| *t > 0);
        (created.is_none(), created, v.name.clone())
    });
    if ctx.json {
        for v in &views {
            output::json(&view_json(v))?;
        }
    } else {
        for v in &views {
            let m = v.meta.as_ref();
            let mut line = format!(
                "[{}] {:>8} {:<13} {:>5} segments {:>12} rows  {}",
                created(v),
                output::human_size(v.bytes),
                v.state.as_str(),
                m.map_or(0, |m| m.segments),
                m.map_or(0, |m| m.rows),
                v.name,
            );
            if !v.detail.is_empty() {
                line.push_str(&format!(": {}", v.detail));
            }
            output::line(&line)?;
        }
        if views.is_empty() && !ctx.quiet {
            eprintln!("No backups under {}.", root.display(""));
        }
    }
    let whole = views.iter().all(|v| v.state == Visible::Complete);
    Ok(if whole { Status::Ok } else { Status::Failed })
}

async fn verify(ctx: &mut Ctx, a: BackupsVerifyArgs) -> anyhow::Result<Status> {
    if a.name.is_empty() || a.name.contains('/') {
        bail!("backup name {:?}: one folder name, without '/'", a.name);
    }
    let src_root = backup_root(ctx, &a.source, true).await?;
    let dst_root = backup_root(ctx, &a.target, true).await?;
    let sub = |s: &Side| Side {
        store: s.store.clone(),
        prefix: format!("{}{}/", s.prefix, a.name),
    };
    let (src, dst) = (sub(&src_root), sub(&dst_root));
    let source_view = inspect::inspect(&src_root, &a.name).await?;
    if source_view.objects == 0 {
        bail!(
            "{}: no backup named {:?} there",
            src_root.display(""),
            a.name
        );
    }
    let target_view = inspect::inspect(&dst_root, &a.name).await?;
    let mut problems = 0u64;
    let same_id = match (&source_view.meta, &target_view.meta) {
        (Some(s), Some(t)) => s.id == t.id,
        _ => true,
    };
    if !same_id {
        problems += 1;
    }
    if target_view.state != Visible::Complete {
        problems += 1;
    }
    if ctx.json {
        let mut v = view_json(&target_view);
        v["op"] = json!("meta");
        v["target"] = json!(dst.display(""));
        v["sameBackupId"] = json!(same_id);
        output::json(&v)?;
    } else if !ctx.quiet || target_view.state != Visible::Complete {
        let detail = if target_view.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", target_view.detail)
        };
        output::line(&format!(
            "{} against its meta: {}{detail}",
            dst.display(""),
            target_view.state.as_str()
        ))?;
        if !same_id {
            output::line("the two sides hold different backups (their meta ids differ)")?;
        }
    }
    problems += verify_sides(ctx, &src, &dst, a.max_workers).await?;
    Ok(if problems == 0 {
        Status::Ok
    } else {
        Status::Failed
    })
}
