//! Deletions at the target: only after a complete scan, within `max_delete`, never of
//! everything when the source listed nothing, and as the policy allows.

use ferry_state::Batch;
use ferry_state::schema::{ObjectKey, ObjectsSchema, UploadsSchema};

use super::exec::Ctx;
use crate::sync::filter::MaxDelete;
use crate::sync::report::{Event, MirrorError, OnEvent, Summary};

pub(super) async fn apply_deletes(
    ctx: Ctx<'_>,
    deletes: Vec<String>,
    summary: &mut Summary,
    on_event: &mut OnEvent<'_>,
) -> Result<(), MirrorError> {
    let (manifest, pair, dst, options) = (ctx.manifest, ctx.pair, ctx.dst, ctx.options);
    let n = deletes.len() as u64;
    // What the target holds before the deletions: unchanged and copied objects, and these.
    let target_total = summary.unchanged + summary.copied + n;
    if !options.force {
        if summary.source_objects == 0 {
            summary.delete_refused = Some(format!(
                "the source listed no objects: refusing to delete all {n} objects at {} (use --force if that is really wanted)",
                dst.display("")
            ));
            return Ok(());
        }
        let over = match options.max_delete {
            Some(MaxDelete::Count(max)) => n > max,
            Some(MaxDelete::Percent(p)) => (n as f64) * 100.0 > p * (target_total.max(1) as f64),
            None => false,
        };
        if over {
            summary.delete_refused = Some(format!(
                "{n} deletions at {} exceed --max-delete; nothing deleted (use --force to allow)",
                dst.display("")
            ));
            return Ok(());
        }
    }
    if options.dry_run {
        for rel in deletes {
            summary.deleted += 1;
            on_event(Event::Deleted {
                target: dst.display(&rel),
            });
        }
        return Ok(());
    }
    // Deletions under a unit follow its policy (a backup: an announced one is hidden first,
    // its `backup_meta.json` in a request of its own before its data; one whose source is
    // not whole, or whose restore runs, keeps everything).
    let deletes = ctx.policy.deletes(&ctx, deletes, summary, on_event).await;
    for chunk in deletes.chunks(1000) {
        let keys: Vec<String> = chunk.iter().map(|rel| dst.key(rel)).collect();
        let failures = match dst.store.delete(&keys).await {
            Ok(f) => f,
            Err(error) => {
                summary.failed += chunk.len() as u64;
                on_event(Event::Failed {
                    path: dst.display(""),
                    error: error.into(),
                });
                continue;
            }
        };
        let failed: std::collections::HashSet<String> =
            failures.iter().map(|f| f.key.clone()).collect();
        let mut b = Batch::new();
        for (rel, key) in chunk.iter().zip(&keys) {
            if !failed.contains(key) {
                let k = ObjectKey {
                    pair,
                    key: rel.clone(),
                };
                b.delete::<ObjectsSchema>(&k).delete::<UploadsSchema>(&k);
                summary.deleted += 1;
                on_event(Event::Deleted {
                    target: dst.display(rel),
                });
            }
        }
        manifest.write(b)?;
        for f in failures {
            summary.failed += 1;
            on_event(Event::Failed {
                path: f.key,
                error: f.error.into(),
            });
        }
    }
    Ok(())
}
