//! `ferry du` and `ferry find`: one listing of a prefix, summed or filtered, as mc's.

use std::collections::BTreeMap;

use chrono::Utc;
use ferry_engine::backend::{ListEntry, ListOptions, ObjectMeta};
use futures::TryStreamExt;
use serde_json::json;

use crate::args::{DuArgs, FindArgs};
use crate::cmd_mirror::side;
use crate::{Ctx, Status, output};

/// Every object under `arg` (a folder or prefix), as (key relative to it, metadata).
async fn objects(
    ctx: &mut Ctx,
    arg: &str,
    each: &mut dyn FnMut(&str, &ObjectMeta) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let root = side(ctx, arg, true).await?;
    let mut listing = root.store.list(&root.prefix, ListOptions::default());
    while let Some(e) = listing.try_next().await? {
        if let ListEntry::Object(m) = e {
            let rel = m.key.get(root.prefix.len()..).unwrap_or(&m.key).to_owned();
            if !rel.is_empty() && !rel.ends_with('/') {
                each(&rel, &m)?;
            }
        }
    }
    Ok(())
}

pub async fn du(ctx: &mut Ctx, a: DuArgs) -> anyhow::Result<Status> {
    // Sizes by folder, down to --depth levels below the target (0: the target only).
    let mut by: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let depth = a.depth as usize;
    objects(ctx, &a.target, &mut |rel, m| {
        let parts: Vec<&str> = rel.split('/').collect();
        let folders = parts.len() - 1;
        for d in 0..=depth.min(folders) {
            let key = parts[..d]
                .iter()
                .map(|p| format!("{p}/"))
                .collect::<String>();
            let e = by.entry(key).or_default();
            e.0 += m.size;
            e.1 += 1;
        }
        Ok(())
    })
    .await?;
    by.entry(String::new()).or_default();
    let base = a.target.trim_end_matches('/');
    // Deepest first within each folder, the total last (as `du`).
    let mut rows: Vec<(&String, &(u64, u64))> = by.iter().collect();
    rows.sort_by(|x, y| y.0.cmp(x.0));
    for (prefix, (bytes, n)) in rows {
        let name = format!("{base}/{prefix}");
        if ctx.json {
            output::json(
                &json!({"status": "success", "prefix": name, "size": bytes, "objects": n}),
            )?;
        } else {
            output::line(&format!(
                "{:>8}\t{}\t{name}",
                output::human_size(*bytes),
                output::count(*n, "object")
            ))?;
        }
    }
    Ok(Status::Ok)
}

pub async fn find(ctx: &mut Ctx, a: FindArgs) -> anyhow::Result<Status> {
    let name = match &a.name {
        Some(p) => Some(
            globset::Glob::new(p)
                .map_err(|e| anyhow::anyhow!("--name {p:?}: {e}"))?
                .compile_matcher(),
        ),
        None => None,
    };
    let path = match &a.path {
        Some(p) => Some(
            globset::Glob::new(p)
                .map_err(|e| anyhow::anyhow!("--path {p:?}: {e}"))?
                .compile_matcher(),
        ),
        None => None,
    };
    let now = Utc::now();
    let base = a.target.trim_end_matches('/').to_owned();
    let (json, quiet) = (ctx.json, ctx.quiet);
    let mut found = 0u64;
    objects(ctx, &a.target, &mut |rel, m| {
        let file = rel.rsplit('/').next().unwrap_or(rel);
        let age = m.last_modified.map(|t| now - t);
        let keep = name.as_ref().is_none_or(|g| g.is_match(file))
            && path.as_ref().is_none_or(|g| g.is_match(rel))
            && a.larger.is_none_or(|n| m.size > n)
            && a.smaller.is_none_or(|n| m.size < n)
            && a.maxdepth
                .is_none_or(|d| rel.matches('/').count() < d as usize)
            && a.older_than
                .is_none_or(|d| age.is_some_and(|age| age.to_std().is_ok_and(|age| age > d)))
            && a.newer_than
                .is_none_or(|d| age.is_some_and(|age| age.to_std().map_or(true, |age| age < d)));
        if keep {
            found += 1;
            let full = format!("{base}/{rel}");
            if json {
                output::json(&json!({
                    "status": "success", "key": full, "size": m.size, "etag": m.e_tag,
                    "lastModified": m.last_modified.as_ref().map(output::json_time),
                }))?;
            } else if !quiet {
                output::line(&full)?;
            }
        }
        Ok(())
    })
    .await?;
    if found == 0 && !json && !quiet {
        eprintln!("Nothing found under {base}/.");
    }
    Ok(Status::Ok)
}
