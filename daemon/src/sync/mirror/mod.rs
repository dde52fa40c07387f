//! `mirror`: scan → plan → transfer, driven by the manifest.
//!
//! | module | idea |
//! |---|---|
//! | [`crate::sync::plan`] | the decision per key (its table) |
//! | `walk` | the merge of the source listing, the manifest rows and the target listing |
//! | `exec` | the executor: permits, workers, copies, checks, adoptions, the summary |
//! | `journal` | write intents and in-flight multipart uploads in the manifest |
//! | `stale` | what a killed run left: uploads to go on with or abort |
//! | `deletes` | deletions and their guards |
//! | here | the two runs (a full scan, named keys), sharing one setup |
//!
//! A row is written only after the target confirmed the object, in one batch with the removal
//! of its in-flight upload record: a crash never leaves a row claiming an object the target
//! does not have. Multipart uploads recorded as in flight by a crashed run are aborted at the
//! start of the next one.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use ferry_state::schema::{ObjectKey, ObjectsSchema, PairKey, PairsSchema};
use ferry_state::{Batch, Manifest};

use crate::backend::{Error, ListOptions};
use crate::sync::pipeline::{LIST_AHEAD, listing_lost, prefetch};
use crate::sync::plan::{Entry, TargetState, plan};
use crate::sync::policy::{Plain, RunPolicy};
use crate::sync::report::{Event, MirrorError, OnEvent, Summary};
use crate::sync::side::Side;

mod deletes;
mod exec;
mod journal;
mod options;
mod stale;
mod walk;

use deletes::apply_deletes;
use exec::Ctx;
pub use options::MirrorOptions;
use stale::{Stale, abort_stale_uploads};
use walk::{Walk, WalkError, next_object, walk_actions};

/// Mirrors `src` into `dst`, reporting each object to `on_event`.
pub async fn mirror(
    manifest: &Manifest,
    src: &Side,
    dst: &Side,
    options: &MirrorOptions,
    on_event: &mut OnEvent<'_>,
) -> Result<Summary, MirrorError> {
    let bounded = options.bounded();
    let options = bounded.as_ref().unwrap_or(options);
    let pair = manifest.pair(&src.url(), &dst.url())?;
    let mut summary = Summary::default();
    // Until a first run completed, ferry does not know what the target held before it: look,
    // so that nothing there is overwritten unseen and what is already there is adopted.
    let first_run = manifest
        .get::<PairsSchema>(&PairKey(pair))?
        .is_none_or(|p| p.last_scan_ms.is_none());
    summary.target_listed = options.check_target || first_run;
    let stale = if options.dry_run {
        Stale::default()
    } else {
        abort_stale_uploads(manifest, pair, src, dst).await?
    };

    let listed = AtomicU64::new(0);
    let skipped = AtomicU64::new(0);
    let failure: Mutex<Option<WalkError>> = Mutex::new(None);
    let target = summary.target_listed.then(|| {
        prefetch(
            dst.store.list(&dst.prefix, ListOptions::default()),
            LIST_AHEAD,
            listing_lost(dst.display("")),
        )
    });
    let walk = Walk {
        source: prefetch(
            src.store.list(&src.prefix, ListOptions::default()),
            LIST_AHEAD,
            listing_lost(src.display("")),
        ),
        dst_done: target.is_none(),
        target,
        manifest,
        pair,
        src_prefix_len: src.prefix.len(),
        dst_prefix_len: dst.prefix.len(),
        options,
        rows: VecDeque::new(),
        rows_after: None,
        rows_done: false,
        src: None,
        src_done: false,
        dst: None,
        listed: &listed,
        skipped: &skipped,
    };
    // The walk ends at its first error, which is kept in `failure`: work already started
    // finishes, nothing more starts, and nothing is deleted.
    let run_policy = options.policy.as_ref().map(|p| p.begin());
    let policy: &dyn RunPolicy = run_policy.as_deref().unwrap_or(&Plain);
    let owned_at_source = Mutex::new(std::collections::HashSet::new());
    let actions = walk_actions(
        walk,
        &failure,
        options.verify,
        policy,
        (&stale, &owned_at_source),
    );
    let ctx = Ctx {
        manifest,
        pair,
        src,
        dst,
        options,
        policy,
        hold: true,
        stale: Some(&stale),
    };
    let (deletes, forgets) = ctx
        .execute_planned(actions, &stale, &mut summary, on_event)
        .await;
    if !options.dry_run {
        stale.abort_unused(manifest, pair, dst).await?;
    }
    summary.source_objects = listed.load(Ordering::Relaxed);
    summary.skipped = skipped.load(Ordering::Relaxed);
    if !options.dry_run && !forgets.is_empty() {
        let mut b = Batch::new();
        for rel in forgets {
            b.delete::<ObjectsSchema>(&ObjectKey { pair, key: rel });
        }
        manifest.write(b)?;
    }
    let failure = crate::lock::lock(&failure).take();
    match failure {
        Some(WalkError::Scan(e)) => {
            summary.scan_error = Some(e);
            return Ok(summary);
        }
        Some(WalkError::TargetScan(e)) => {
            summary.target_scan_error = Some(e);
            return Ok(summary);
        }
        Some(WalkError::Cancelled) => {
            summary.cancelled = true;
            return Ok(summary);
        }
        Some(WalkError::State(e)) => return Err(e.into()),
        None => {}
    }

    // ferry's own writes that a crash interrupted before their row was written, for keys the
    // source no longer has: objects only ferry put there, removed like any it recorded.
    let mut deletes = deletes;
    let at_source = owned_at_source.into_inner().unwrap_or_default();
    for rel in &stale.owned {
        if !at_source.contains(rel) && manifest.object(pair, rel)?.is_none() {
            deletes.push(rel.clone());
        }
    }
    deletes.sort();
    deletes.dedup();
    if !deletes.is_empty() {
        if options.remove {
            apply_deletes(ctx, deletes, &mut summary, on_event).await?;
        } else {
            summary.kept = deletes.len() as u64;
        }
    }
    if !options.dry_run {
        policy.finish(&ctx, true, &mut summary, on_event).await?;
    }
    // A clean run is the pair's reference point: from then on, the target holds what the
    // manifest says (until `check_target` looks again). After failures (say, a conflict at the
    // target), the next run looks again.
    if !options.dry_run && summary.ok() {
        let mut b = Batch::new();
        if let Some(mut rec) = manifest.get::<PairsSchema>(&PairKey(pair))? {
            rec.last_scan_ms = Some(Utc::now().timestamp_millis());
            rec.objects = summary.source_objects;
            b.put::<PairsSchema>(&PairKey(pair), &rec);
            // Every source object now has its row (which cleared its intent), and with
            // `remove` the interrupted writes of keys gone from the source were deleted (with
            // their intent). Intents left mark objects ferry wrote that are kept at the target
            // until a run with `remove`.
            manifest.write(b)?;
        }
    }
    Ok(summary)
}

/// Mirrors only the named relative keys, and every object under the named relative prefixes
/// (ending with `/`): ferryd's path for change events (a watched file, a bucket notification).
/// It copies; it never deletes. A named key gone at the source is counted in
/// [`Summary::gone`], so that the caller runs a full scan, which has the delete guards.
pub async fn mirror_keys(
    manifest: &Manifest,
    src: &Side,
    dst: &Side,
    options: &MirrorOptions,
    keys: Vec<String>,
    on_event: &mut OnEvent<'_>,
) -> Result<Summary, MirrorError> {
    let bounded = options.bounded();
    let options = bounded.as_ref().unwrap_or(options);
    let pair = manifest.pair(&src.url(), &dst.url())?;
    let mut summary = Summary::default();
    let stale = if options.dry_run {
        Stale::default()
    } else {
        abort_stale_uploads(manifest, pair, src, dst).await?
    };
    let mut keys = keys;
    keys.sort();
    keys.dedup();
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let mut gone = 0u64;
    let skipped = AtomicU64::new(0);
    for key in keys {
        if options.cancelled() {
            summary.cancelled = true;
            break;
        }
        if key.is_empty() || key.ends_with('/') {
            let mut listing = src.store.list(&src.key(&key), ListOptions::default());
            loop {
                match next_object(&mut listing, src.prefix.len(), options, Some(&skipped)).await {
                    Ok(Some((rel, meta))) => entries.push((rel, meta)),
                    Ok(None) => break,
                    Err(error) => {
                        errors.push(Event::Failed {
                            path: src.display(&key),
                            error: error.into(),
                        });
                        break;
                    }
                }
            }
            continue;
        }
        if !options.selects(&key) {
            skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        match src.store.head(&src.key(&key)).await {
            Ok(meta) => entries.push((key, meta)),
            Err(Error::NotFound { .. }) => gone += 1,
            Err(error) => errors.push(Event::Failed {
                path: src.display(&key),
                error: error.into(),
            }),
        }
    }
    // A key can arrive both on its own and under a listed prefix: once is enough.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|a, b| a.0 == b.0);
    summary.gone = gone;
    summary.skipped = skipped.load(Ordering::Relaxed);
    summary.source_objects = entries.len() as u64;
    for e in errors {
        summary.failed += 1;
        on_event(e);
    }
    let run_policy = options.policy.as_ref().map(|p| p.begin());
    let policy: &dyn RunPolicy = run_policy.as_deref().unwrap_or(&Plain);
    let mut planned = Vec::with_capacity(entries.len());
    for (rel, meta) in entries {
        let row = manifest.object(pair, &rel)?;
        policy.saw(&rel, true);
        let action = plan(
            Entry {
                rel,
                source: Some(meta),
                row,
                target: TargetState::Unknown,
            },
            false,
        );
        if let Some(rel) = action.rel() {
            policy.acts_on(rel);
        }
        planned.push(action);
    }
    let ctx = Ctx {
        manifest,
        pair,
        src,
        dst,
        options,
        policy,
        hold: true,
        stale: Some(&stale),
    };
    ctx.execute_planned(
        futures::stream::iter(planned),
        &stale,
        &mut summary,
        on_event,
    )
    .await;
    if !options.dry_run && !summary.cancelled {
        policy.finish(&ctx, false, &mut summary, on_event).await?;
    }
    Ok(summary)
}
