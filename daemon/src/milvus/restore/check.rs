//! The count check after a restore (`[jobs.restore.verify]`), for every kind of trigger: the
//! backup's rows per collection, read from its meta at the target while the restore fires (the
//! backup is held then), against the restored collections' row counts (`crate::milvus::counts`).

use ferry_state::{CollectionCount, RestoreRecord};

use super::machine::{CountOutcome, Transition};
use super::spec::VerifyConfig;
use crate::clock::now_ms;
use crate::milvus::counts::{self, CountError, MilvusClient};
use crate::sync::side::Side;

/// The counts to compare for backup `name` as `rec` restores it (its suffix and renames), from
/// its meta at the target; `Err` says why they cannot be read.
pub(super) async fn expected(
    target: Option<&Side>,
    name: &str,
    rec: &RestoreRecord,
) -> Result<Vec<CollectionCount>, String> {
    let Some(target) = target else {
        return Err("the job's target is not open".into());
    };
    let view = crate::milvus::inspect::inspect(target, name)
        .await
        .map_err(|e| format!("reading backup {name:?} at the target: {e}"))?;
    let Some(meta) = view.meta else {
        return Err(format!(
            "backup {name:?} at the target has no readable meta ({})",
            view.detail
        ));
    };
    if !rec.backup_id.is_empty() && meta.id != rec.backup_id {
        return Err(format!(
            "the target now holds backup id {} of {name:?}, not the restored {}: its counts are not the restored backup's",
            meta.id, rec.backup_id
        ));
    }
    Ok(counts::expected(
        &meta.collection_rows,
        rec.suffix.as_deref(),
        &rec.renames,
    ))
}

/// One attempt at the count check of a verifying `rec`: the transition it ends in.
pub(super) async fn check(
    cfg: &VerifyConfig,
    target: Option<&Side>,
    name: &str,
    rec: &RestoreRecord,
) -> Transition {
    let want = if rec.counts.is_empty() {
        match expected(target, name, rec).await {
            Ok(w) => w,
            Err(detail) => {
                return Transition::Counted {
                    outcome: CountOutcome::Failed,
                    counts: Vec::new(),
                    detail,
                };
            }
        }
    } else {
        rec.counts.clone()
    };
    let client = match MilvusClient::new(&cfg.url, cfg.token.as_ref().map(|t| t.expose())) {
        Ok(c) => c,
        Err(e) => {
            return Transition::Counted {
                outcome: CountOutcome::Failed,
                counts: want,
                detail: e.to_string(),
            };
        }
    };
    match counts::count(&client, &want).await {
        Ok(c) => Transition::Counted {
            outcome: if c.all_match {
                CountOutcome::Verified
            } else {
                CountOutcome::Mismatch
            },
            counts: c.counts,
            detail: c.detail,
        },
        Err(e) if e.is_transient() => {
            // Counted from the restore's end, by the wall clock: a check that cannot reach the
            // endpoint for `timeout` fails.
            let since = now_ms() - rec.ended_ms.unwrap_or_else(now_ms);
            let limit = i64::try_from(cfg.timeout.as_millis()).unwrap_or(i64::MAX);
            if since > limit {
                return Transition::Counted {
                    outcome: CountOutcome::Failed,
                    counts: want,
                    detail: format!(
                        "no counts after {}: {e}",
                        humantime::format_duration(cfg.timeout)
                    ),
                };
            }
            // Waits grow with the time spent: 2 s, then up to a minute.
            let wait = (since / 4).clamp(2_000, 60_000);
            Transition::CountLater {
                next_try_ms: now_ms() + wait,
                detail: format!("counting the restored collections: {e}; trying again"),
            }
        }
        Err(e @ (CountError::Refused { .. } | CountError::Api { .. } | CountError::Http(_))) => {
            Transition::Counted {
                outcome: CountOutcome::Failed,
                counts: want,
                detail: e.to_string(),
            }
        }
    }
}
