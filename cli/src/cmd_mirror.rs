//! `ferry mirror`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use ferry_engine::location::Location;
use ferry_engine::milvus::gate::Backups;
use ferry_engine::sync::filter::{MaxDelete, glob_set};
use ferry_engine::sync::mirror::{self, MirrorOptions};
use ferry_engine::sync::policy::Policy;
use ferry_engine::sync::report::Event;
use ferry_engine::sync::side::Side;
use ferry_state::Manifest;
use serde_json::json;

use crate::args::{DiffArgs, MirrorArgs, VerifyArgs};
use crate::{Ctx, Status, output};

pub async fn run(ctx: &mut Ctx, a: MirrorArgs) -> anyhow::Result<Status> {
    let src = side(ctx, &a.source, true).await?;
    let dst = side(ctx, &a.target, false).await?;
    let (s, d) = (
        src.store.canonical(&src.prefix),
        dst.store.canonical(&dst.prefix),
    );
    let (s, d) = (with_slash(s), with_slash(d));
    if d.starts_with(&s) || s.starts_with(&d) {
        bail!(
            "{} and {} overlap: the target must not be inside the source, nor the source inside the target",
            a.source,
            a.target
        );
    }
    let options = MirrorOptions {
        remove: a.remove,
        dry_run: a.dry_run,
        exclude: globs(&a.exclude)?,
        max_delete: a.max_delete.as_deref().map(parse_max_delete).transpose()?,
        force: a.force,
        include: None,
        permits: None,
        cancel: None,
        check_target: a.check_target,
        verify: a.verify,
        overwrite: a.overwrite,
        workers: a.transfer.workers(),
        policy: a
            .backups
            .then(|| Arc::new(Backups::new(None)) as Arc<dyn Policy>),
        transfer: a.transfer.config(),
    };
    let state_dir = a
        .state_dir
        .clone()
        .unwrap_or_else(|| ctx.config.dir().join("state"));
    let manifest = Manifest::open(&state_dir)?;

    let started = Instant::now();
    let (json, quiet) = (ctx.json, ctx.quiet);
    let mut print_failed = None;
    let mut on_event = |e: Event| {
        if let Err(err) = print_event(json, quiet, a.dry_run, e) {
            print_failed.get_or_insert(err);
        }
    };
    let summary = mirror::mirror(&manifest, &src, &dst, &options, &mut on_event).await?;
    if let Some(e) = print_failed {
        return Err(e);
    }
    let secs = started.elapsed().as_secs_f64();
    if let Some(e) = &summary.scan_error {
        let err =
            anyhow::Error::msg(ferry_engine::backend::error::display_chain(e)).context(format!(
                "listing the source {} failed; nothing was deleted",
                a.source
            ));
        output::print_error(&err);
    }
    if let Some(e) = &summary.target_scan_error {
        let err =
            anyhow::Error::msg(ferry_engine::backend::error::display_chain(e)).context(format!(
                "listing the target {} failed; nothing was deleted",
                a.target
            ));
        output::print_error(&err);
    }
    if let Some(why) = &summary.delete_refused {
        output::print_error(&anyhow::anyhow!("{why}"));
    }
    if json {
        output::json(&json!({
            "status": if summary.ok() { "success" } else { "error" }, "op": "summary",
            "copied": summary.copied, "bytes": summary.bytes, "unchanged": summary.unchanged,
            "deleted": summary.deleted, "kept": summary.kept,
            "adopted": summary.adopted, "verified": summary.verified, "targetListed": summary.target_listed, "failed": summary.failed,
            "sourceObjects": summary.source_objects, "backupsPending": summary.units_pending,
            "held": summary.held, "backupsHeld": summary.held_units.len(), "skipped": summary.skipped,
            "dryRun": a.dry_run, "seconds": secs,
        }))?;
    } else if !quiet {
        let rate = if secs > 0.0 {
            (summary.bytes as f64 / secs) as u64
        } else {
            0
        };
        let verb = if a.dry_run { "Would copy" } else { "Copied" };
        let mut line = format!(
            "{verb} {} objects ({}), {} unchanged, {} removed",
            summary.copied,
            output::human_size(summary.bytes),
            summary.unchanged,
            summary.deleted
        );
        if summary.adopted > 0 {
            line.push_str(&format!(
                ", {} already at the target (recorded)",
                summary.adopted
            ));
        }
        if a.verify {
            line.push_str(&format!(", {} verified by SHA-256", summary.verified));
        }
        if summary.skipped > 0 {
            line.push_str(&format!(", {} excluded", summary.skipped));
        }
        if summary.kept > 0 {
            line.push_str(&format!(
                ", {} gone at the source kept at the target (use --remove)",
                summary.kept
            ));
        }
        if summary.failed > 0 {
            line.push_str(&format!("; {} failed", summary.failed));
        }
        if !summary.held_units.is_empty() {
            line.push_str(&format!(
                "; {} backups held as they are at the target",
                summary.held_units.len()
            ));
        }
        line.push_str(&format!(" in {secs:.1}s, {}/s", output::human_size(rate)));
        eprintln!("{line}");
    }
    Ok(if summary.ok() {
        Status::Ok
    } else {
        Status::Failed
    })
}

fn with_slash(s: String) -> String {
    if s.ends_with('/') { s } else { format!("{s}/") }
}

/// Opens one end as a folder: a local folder, or a bucket and prefix ending with `/`.
pub async fn side(ctx: &mut Ctx, arg: &str, is_source: bool) -> anyhow::Result<Side> {
    let loc = ctx.location(arg)?;
    match &loc {
        Location::Local { path, .. } => {
            if is_source && !path.is_dir() {
                if let Some(head) = ferry_engine::location::missing_alias_like_head(arg) {
                    bail!(
                        "{arg}: no such folder, and {head:?} is not an alias (see `ferry alias ls`)"
                    );
                }
                bail!("{arg}: no such folder");
            }
            if !is_source && let Some(head) = ferry_engine::location::missing_alias_like_head(arg) {
                bail!(
                    "{arg}: {head:?} is neither an alias nor an existing folder (see `ferry alias ls`; for a new local folder write ./{arg})"
                );
            }
        }
        Location::Remote { bucket: None, .. } => {
            bail!("{arg}: name a bucket (ALIAS/BUCKET[/PREFIX])")
        }
        Location::Remote { .. } => {}
    }
    let (store, key) = ctx.stores.open(&loc, true).await?;
    let prefix = if key.is_empty() || key.ends_with('/') {
        key
    } else {
        format!("{key}/")
    };
    Ok(Side { store, prefix })
}

fn globs(patterns: &[String]) -> anyhow::Result<globset::GlobSet> {
    glob_set(patterns).context("--exclude")
}

fn parse_max_delete(v: &str) -> anyhow::Result<MaxDelete> {
    MaxDelete::parse(v).map_err(|e| anyhow::anyhow!("--max-delete {e}"))
}

fn print_event(json: bool, quiet: bool, dry_run: bool, e: Event) -> anyhow::Result<()> {
    match e {
        Event::Copied {
            source,
            target,
            size,
            method,
            reason,
        } => {
            let reason = reason.as_str();
            if json {
                output::json(
                    &json!({"status":"success","op":"copy","source":source,"target":target,"size":size,
                    "method": method.map_or("dry-run", |m| m.as_str()), "reason": reason}),
                )?;
            } else if !quiet {
                output::line(&format!("`{source}` -> `{target}` ({reason})"))?;
            }
        }
        Event::Adopted { target } => {
            if json {
                output::json(&json!({"status":"success","op":"adopt","target":target}))?;
            } else if !quiet {
                output::line(&format!(
                    "`{target}` already has the source's content (recorded)"
                ))?;
            }
        }
        Event::Verified { target } => {
            if json {
                output::json(&json!({"status":"success","op":"verify","target":target}))?;
            }
        }
        Event::Deleted { target } => {
            if json {
                output::json(
                    &json!({"status":"success","op":"delete","target":target,"dryRun":dry_run}),
                )?;
            } else if !quiet {
                let verb = if dry_run { "Would remove" } else { "Removed" };
                output::line(&format!("{verb} `{target}`."))?;
            }
        }
        Event::Failed { path, error } => {
            let err = anyhow::Error::from(error);
            if json {
                output::json(
                    &json!({"status":"error","path":path,"error":output::error_line(&err)}),
                )?;
            } else {
                output::print_error(&err);
            }
        }
        Event::Held { path, unit: backup } => {
            if json {
                output::json(&json!({"status":"error","op":"held","target":path,"backup":backup}))?;
            }
        }
        Event::UnitHeld { unit: name, why } => {
            let err = anyhow::anyhow!("backup `{name}` left as it is at the target: {why}");
            if json {
                output::json(
                    &json!({"status":"error","op":"backup","backup":name,"state":"held","error":output::error_line(&err)}),
                )?;
            } else {
                output::print_error(&err);
            }
        }
        Event::Unit {
            unit: name,
            state,
            detail,
        } => {
            if json {
                output::json(
                    &json!({"status":"success","op":"backup","backup":name,"state":state,"detail":detail}),
                )?;
            } else if !quiet {
                if detail.is_empty() {
                    output::line(&format!("Backup `{name}`: {}.", state))?;
                } else {
                    output::line(&format!("Backup `{name}`: {}: {detail}", state))?;
                }
            }
        }
    }
    Ok(())
}

fn print_difference(
    json: bool,
    src: &Side,
    dst: &Side,
    d: &ferry_engine::sync::diff::Difference,
) -> anyhow::Result<()> {
    use ferry_engine::sync::diff::Difference as D;
    let k = d.key();
    let (first, second) = (
        format!("{}/{}{k}", src.store, src.prefix),
        format!("{}/{}{k}", dst.store, dst.prefix),
    );
    let (mark, kind, url) = match d {
        D::OnlyInSource(_) => ("<", "only-in-first", &first),
        D::OnlyInTarget(_) => (">", "only-in-second", &second),
        D::Size { .. } => ("!", "size", &first),
        D::Content(_) => ("!", "content", &first),
    };
    if json {
        output::json(&json!({"status":"success","first":first,"second":second,"diff":kind}))?;
    } else {
        output::line(&format!("{mark} {url}"))?;
    }
    Ok(())
}

pub async fn diff(ctx: &mut Ctx, a: DiffArgs) -> anyhow::Result<Status> {
    use ferry_engine::sync::diff::{self, Known, NothingKnown};
    use futures::TryStreamExt;
    let src = side(ctx, &a.source, true).await?;
    let dst = side(ctx, &a.target, true).await?;
    let state_dir = a
        .state_dir
        .clone()
        .unwrap_or_else(|| ctx.config.dir().join("state"));
    let manifest = if state_dir.join("CURRENT").exists() {
        Some(Manifest::open(&state_dir)?)
    } else {
        None
    };
    let pair = match &manifest {
        Some(m) => m.find_pair(&src.url(), &dst.url())?,
        None => None,
    };
    let known_manifest = match (&manifest, pair) {
        (Some(m), Some(p)) => Some(ferry_engine::sync::diff::ManifestKnown {
            manifest: m,
            pair: p,
        }),
        _ => None,
    };
    let known: &dyn Known = match &known_manifest {
        Some(k) => k,
        None => &NothingKnown,
    };
    let mut diffs = diff::diff(&src, &dst, known);
    let mut n = 0u64;
    while let Some(d) = diffs.try_next().await? {
        n += 1;
        print_difference(ctx.json, &src, &dst, &d)?;
    }
    Ok(if n == 0 { Status::Ok } else { Status::Failed })
}

pub async fn verify(ctx: &mut Ctx, a: VerifyArgs) -> anyhow::Result<Status> {
    let src = side(ctx, &a.source, true).await?;
    let dst = side(ctx, &a.target, true).await?;
    let bad = verify_sides(ctx, &src, &dst, a.max_workers).await?;
    Ok(if bad == 0 { Status::Ok } else { Status::Failed })
}

/// Compares every object of two sides by SHA-256, printing differences and a summary;
/// returns how many differ or are missing.
pub async fn verify_sides(ctx: &Ctx, src: &Side, dst: &Side, workers: u16) -> anyhow::Result<u64> {
    use futures::TryStreamExt;
    let mut results = ferry_engine::sync::diff::verify(src, dst, usize::from(workers));
    let (mut checked, mut bad) = (0u64, 0u64);
    while let Some(r) = results.try_next().await? {
        checked += 1;
        if let Some(d) = r {
            bad += 1;
            print_difference(ctx.json, src, dst, &d)?;
        }
    }
    if ctx.json {
        output::json(
            &json!({"status": if bad == 0 {"success"} else {"error"}, "op":"summary","checked":checked,"mismatches":bad}),
        )?;
    } else if !ctx.quiet {
        eprintln!("Verified {checked} objects by SHA-256: {bad} mismatched or missing");
    }
    Ok(bad)
}
