//! `ferry backups ls|verify`: milvus-backup backups in any bucket or folder.

use anyhow::bail;
use ferry_engine::milvus::inspect::{self, BackupView, Visible};
use ferry_engine::sync::side::Side;
use serde_json::json;

use crate::args::{BackupsCmd, BackupsLsArgs, BackupsVerifyArgs};
use crate::cmd_mirror::{side, verify_sides};
use crate::{Ctx, Status, output};

pub async fn run(ctx: &mut Ctx, c: BackupsCmd) -> anyhow::Result<Status> {
    match c {
        BackupsCmd::Ls(a) => ls(ctx, a).await,
        BackupsCmd::Verify(a) => verify(ctx, a).await,
    }
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
    let root = side(ctx, &a.target, true).await?;
    let views = inspect::list_backups(&root).await?;
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
    let src_root = side(ctx, &a.source, true).await?;
    let dst_root = side(ctx, &a.target, true).await?;
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
