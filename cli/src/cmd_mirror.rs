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
    ctx.stores.copy_from_url(a.transfer.from_url);
    let src = if a.backups {
        backup_root(ctx, &a.source, true).await?
    } else {
        side(ctx, &a.source, true).await?
    };
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
    let include = if a.backups && (!a.only.is_empty() || a.newest.is_some()) {
        let names = crate::cmd_backups::chosen(&src, &a.source, &a.only, a.newest).await?;
        if !quiet_or_json(ctx) {
            eprintln!(
                "{}: {}",
                output::count(names.len() as u64, "backup"),
                names.join(", ")
            );
        }
        let globs: Vec<String> = names
            .iter()
            .map(|n| format!("{}/**", globset::escape(n)))
            .collect();
        Some(glob_set(&globs).context("--backup")?)
    } else {
        None
    };
    let src = Side {
        store: a.transfer.throttled(src.store),
        prefix: src.prefix,
    };
    let options = MirrorOptions {
        remove: a.remove,
        dry_run: a.dry_run,
        exclude: globs(&a.exclude)?,
        max_delete: a.max_delete.as_deref().map(parse_max_delete).transpose()?,
        force: a.force,
        include,
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

    let (json, quiet) = (ctx.json, ctx.quiet);
    let once = Once {
        manifest: &manifest,
        src: &src,
        dst: &dst,
        options: &options,
        a: &a,
        json,
        quiet,
    };
    // Watching starts before the first run: what changes during it is not missed.
    let watching = if a.watch {
        Some(Watching::start(ctx, &a.source)?)
    } else {
        None
    };
    let status = once.run(None, false).await?;
    match watching {
        None => Ok(status),
        Some(w) => watch(ctx, &once, w).await,
    }
}

type Changed = Option<std::collections::BTreeSet<String>>;

/// The channel a watch hands its changes to, and the watch (local sources only).
struct Watching {
    _watch: Option<ferry_engine::watch::Watch>,
    tx: tokio::sync::mpsc::UnboundedSender<Changed>,
    rx: tokio::sync::mpsc::UnboundedReceiver<Changed>,
}

impl Watching {
    fn start(ctx: &Ctx, source: &str) -> anyhow::Result<Watching> {
        use std::collections::BTreeSet;
        use tokio::sync::mpsc;
        struct Sink(mpsc::UnboundedSender<Changed>);
        impl ferry_engine::watch::Changes for Sink {
            fn keys(&self, keys: BTreeSet<String>) {
                let _ = self.0.send(Some(keys));
            }
            fn rescan(&self) {
                let _ = self.0.send(None);
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let watch = match ctx.location(source)? {
            Location::Local { path, .. } => Some(
                ferry_engine::watch::start(&path, Arc::new(Sink(tx.clone())))
                    .with_context(|| format!("cannot watch {source}"))?,
            ),
            Location::Remote { .. } => None,
        };
        Ok(Watching {
            _watch: watch,
            tx,
            rx,
        })
    }
}

/// One run of a `mirror` command, and its report.
struct Once<'a> {
    manifest: &'a Manifest,
    src: &'a Side,
    dst: &'a Side,
    options: &'a MirrorOptions,
    a: &'a MirrorArgs,
    json: bool,
    quiet: bool,
}

impl Once<'_> {
    /// A full run, or a run over `keys`; with `only_changes`, the summary is printed only when
    /// something was copied, deleted or failed (`--watch`).
    async fn run(&self, keys: Option<Vec<String>>, only_changes: bool) -> anyhow::Result<Status> {
        let (a, json, quiet) = (self.a, self.json, self.quiet);
        let started = Instant::now();
        let mut print_failed = None;
        let mut on_event = |e: Event| {
            if let Err(err) = print_event(json, quiet, a.dry_run, e) {
                print_failed.get_or_insert(err);
            }
        };
        let summary = match keys {
            None => {
                mirror::mirror(
                    self.manifest,
                    self.src,
                    self.dst,
                    self.options,
                    &mut on_event,
                )
                .await?
            }
            Some(keys) => {
                mirror::mirror_keys(
                    self.manifest,
                    self.src,
                    self.dst,
                    self.options,
                    keys,
                    &mut on_event,
                )
                .await?
            }
        };
        if let Some(e) = print_failed {
            return Err(e);
        }
        if only_changes && summary.copied + summary.deleted + summary.failed == 0 && summary.ok() {
            return Ok(Status::Ok);
        }
        let secs = started.elapsed().as_secs_f64();
        if let Some(e) = &summary.scan_error {
            let err = anyhow::Error::msg(ferry_engine::backend::error::display_chain(e)).context(
                format!(
                    "listing the source {} failed; nothing was deleted",
                    a.source
                ),
            );
            output::print_error(&err, json);
        }
        if let Some(e) = &summary.target_scan_error {
            let err = anyhow::Error::msg(ferry_engine::backend::error::display_chain(e)).context(
                format!(
                    "listing the target {} failed; nothing was deleted",
                    a.target
                ),
            );
            output::print_error(&err, json);
        }
        if let Some(why) = &summary.delete_refused {
            output::print_error(&anyhow::anyhow!("{why}"), json);
        }
        if json {
            output::json(&json!({
                "status": if summary.ok() { "success" } else { "error" }, "op": "summary",
                "copied": summary.copied, "bytes": summary.bytes, "unchanged": summary.unchanged,
                "deleted": summary.deleted, "kept": summary.kept,
                "adopted": summary.adopted, "verified": summary.verified, "readBackBytes": summary.read_back_bytes, "targetListed": summary.target_listed, "failed": summary.failed,
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
                "{verb} {} ({}), {} unchanged, {} removed",
                output::count(summary.copied, "object"),
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
                    "; {} held as they are at the target",
                    output::count(summary.held_units.len() as u64, "backup")
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
}

/// `--watch` (mc's `-w`): after the first run, mirrors again what changes, until Ctrl-C. A local
/// source is watched (inotify) and its changed keys mirrored within a second; any source is
/// also scanned every `--interval` (the manifest makes a scan with nothing new cost one listing
/// of the source).
async fn watch(ctx: &Ctx, once: &Once<'_>, w: Watching) -> anyhow::Result<Status> {
    let Watching { _watch, tx, mut rx } = w;
    if !ctx.quiet && !ctx.json {
        eprintln!(
            "Watching {} for changes (a scan every {}s too); Ctrl-C stops.",
            once.a.source,
            once.a.interval.as_secs()
        );
    }
    let mut status = Status::Ok;
    loop {
        let work = tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            m = rx.recv() => m.flatten(),
            _ = tokio::time::sleep(once.a.interval) => None,
        };
        // What else arrived meanwhile joins this run; a rescan makes it a full one.
        let mut keys = work;
        while let Ok(more) = rx.try_recv() {
            keys = match (keys, more) {
                (Some(mut k), Some(m)) => {
                    k.extend(m);
                    Some(k)
                }
                _ => None,
            };
        }
        if once
            .run(keys.map(|k| k.into_iter().collect()), true)
            .await?
            == Status::Failed
        {
            status = Status::Failed;
        }
    }
    drop(tx);
    Ok(status)
}

fn quiet_or_json(ctx: &Ctx) -> bool {
    ctx.quiet || ctx.json
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
            if !is_source {
                ctx.refuse_mistyped_alias(arg)?;
                if let Some(file) = ferry_engine::location::file_in_the_way(path, true) {
                    bail!("{arg}: {} is a file, not a folder", file.display());
                }
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

/// Opens a milvus-backup backup root (`backup/` by default): refused, naming the root to use,
/// when the backups are a level above or below it, or it is one backup.
pub async fn backup_root(ctx: &mut Ctx, arg: &str, is_source: bool) -> anyhow::Result<Side> {
    let root = side(ctx, arg, is_source).await?;
    if let Err(wrong) = ferry_engine::milvus::root::check_root(&root).await? {
        match wrong.root_to_use(arg) {
            Some(to_use) => bail!(
                "{arg} is not a milvus-backup backup root: {}; use {to_use}",
                wrong.reason()
            ),
            None => bail!(
                "{arg} is not a milvus-backup backup root: {}",
                wrong.reason()
            ),
        }
    }
    Ok(root)
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
        Event::Verified { target, .. } => {
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
                output::json_error(json!({ "path": path }), &err)?;
            } else {
                output::print_error(&err, false);
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
                output::json_error(
                    json!({"op": "backup", "backup": name, "state": "held"}),
                    &err,
                )?;
            } else {
                output::print_error(&err, false);
            }
        }
        Event::Unit {
            unit: name,
            state,
            detail,
            evidence,
        } => {
            if json {
                output::json(
                    &json!({"status":"success","op":"backup","backup":name,"state":state,"detail":detail,
                        "checkedByTarget": evidence.upload_checked, "readBack": evidence.read_back}),
                )?;
            } else if !quiet {
                if detail.is_empty() && evidence != ferry_state::Evidence::default() {
                    let e = ferry_engine::control::api::EvidenceView {
                        upload_checked: evidence.upload_checked,
                        read_back: evidence.read_back,
                    };
                    output::line(&format!("Backup `{name}`: {state} ({}).", e.describe()))?;
                } else if detail.is_empty() {
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
    let mut diffs = diff::diff(&src, &dst, known, usize::from(a.max_workers));
    let (mut n, mut not_compared) = (0u64, 0u64);
    while let Some(item) = diffs.try_next().await? {
        match item {
            Some(diff::DiffItem::Difference(d)) => {
                n += 1;
                print_difference(ctx.json, &src, &dst, &d)?;
            }
            Some(diff::DiffItem::NotCompared(_)) => not_compared += 1,
            None => {}
        }
    }
    if not_compared > 0 {
        if ctx.json {
            output::json(&json!({
                "status": "success", "op": "summary", "differences": n,
                "notCompared": not_compared,
            }))?;
        } else if !ctx.quiet {
            eprintln!(
                "{} of the same size at both ends not compared by content (no MD5 ETags, no manifest row): `ferry verify {} {}` reads and compares them",
                output::count(not_compared, "object"),
                a.source,
                a.target
            );
        }
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
