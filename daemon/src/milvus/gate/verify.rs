//! Reading a backup's data back from the target before it is announced.

use chrono::Utc;
use ferry_state::schema::{PairKey, PairsSchema};
use ferry_state::{Batch, Evidence, ObjectRecord, TargetCheck};
use futures::StreamExt;

use crate::backend::error::display_chain;

use crate::backend::ObjectMeta;
use crate::sync::plan::{Action, Reason, Work};
use crate::sync::policy::Run;
use crate::sync::report::{Event, MirrorError, ObjectError, OnEvent, Summary};

use super::rows::*;
use super::run::*;

/// Runs actions; true when none failed or was held, and none had to be copied again because
/// the target differed or lacked it.
pub(super) async fn run_ok(
    run: Run<'_>,
    actions: Vec<Action>,
    summary: &mut Summary,
    on_event: &mut OnEvent<'_>,
) -> bool {
    let mut ok = true;
    let mut track = |e: Event| {
        if matches!(e, Event::Failed { .. } | Event::Held { .. }) {
            ok = false;
        }
        if let Event::Copied { reason, .. } = &e
            && matches!(reason, Reason::Corrupt | Reason::Missing)
        {
            ok = false;
        }
        on_event(e);
    };
    run.execute(futures::stream::iter(actions).boxed(), summary, &mut track)
        .await;
    ok
}

/// Verifies every data object of the backup written so far (its meta files are checked when
/// they are written): objects ferry uploaded with signed SHA-256s to a target that refuses
/// bodies not matching them are proven by that; every other one is read back. Returns
/// whether all held, and what the verification rested on.
pub(super) async fn verify_data(
    run: Run<'_>,
    gate: &Gate<'_>,
    name: &str,
    summary: &mut Summary,
    on_event: &mut OnEvent<'_>,
) -> Result<(bool, Evidence), MirrorError> {
    let mut rows = Rows::of(run, name);
    let mut ok = true;
    let mut evidence = Evidence::default();
    let mut trusted: Option<bool> = None;
    while let Some(page) = rows.next_page()? {
        let mut actions = Vec::new();
        for (rel, row) in page {
            if Gate::holds(&rel) {
                continue;
            }
            if row.upload_checked && row.sha256.is_some() && !run.verify_all() {
                let t = match trusted {
                    Some(t) => t,
                    None => *trusted.insert(target_checks(run, gate).await),
                };
                if t {
                    evidence.upload_checked += 1;
                    continue;
                }
            }
            evidence.read_back += 1;
            actions.push(verify_action(run, rel, row));
        }
        ok &= run_ok(run, actions, summary, on_event).await;
    }
    Ok((ok, evidence))
}

/// How long a probe's answer is used before the target is asked again.
const PROBE_VALID_MS: i64 = 24 * 3600 * 1000;
/// The probe's object, under the target's prefix (it exists only when the target takes it,
/// and is deleted at once).
const PROBE_KEY: &str = ".ferry-payload-check";

/// Whether the run's target refuses a body that does not match its signed SHA-256: the
/// pair's recorded answer when it is under a day old, else a probe (recorded). Once per run;
/// a probe that fails counts as "no" (everything is read back) and is tried again next run.
pub(super) async fn target_checks(run: Run<'_>, gate: &Gate<'_>) -> bool {
    *gate
        .target_checks
        .get_or_init(|| async {
            match probe(run).await {
                Ok(checks) => checks,
                Err(e) => {
                    tracing::warn!(target = %run.dst().url(), error = %display_chain(&e), "cannot probe whether the target checks payload hashes: reading everything back");
                    false
                }
            }
        })
        .await
}

async fn probe(run: Run<'_>) -> Result<bool, ObjectError> {
    let dst = run.dst();
    if !dst.store.signs_payloads() {
        return Ok(false);
    }
    let key = PairKey(run.pair());
    let url = dst.store.url();
    let now = Utc::now().timestamp_millis();
    let state = |e| run.manifest_error(PROBE_KEY, e);
    if let Some(c) = run
        .manifest()
        .get::<PairsSchema>(&key)
        .map_err(state)?
        .and_then(|r| r.target_check)
        .filter(|c| now - c.probed_ms < PROBE_VALID_MS && c.identity.starts_with(&url))
    {
        return Ok(c.checks_sha256);
    }
    let Some(answer) = dst.store.probe_payload_check(&dst.key(PROBE_KEY)).await? else {
        return Ok(false);
    };
    let server = if answer.server.is_empty() {
        "no Server header".to_owned()
    } else {
        answer.server.clone()
    };
    tracing::info!(target = %url, server = %server, checks = answer.refused, "probed the target: it {}", answer.detail);
    if let Some(mut rec) = run.manifest().get::<PairsSchema>(&key).map_err(state)? {
        rec.target_check = Some(TargetCheck {
            checks_sha256: answer.refused,
            probed_ms: now,
            identity: format!("{url} ({server})"),
            detail: answer.detail,
        });
        let mut b = Batch::new();
        b.put::<PairsSchema>(&key, &rec);
        run.manifest().write(b).map_err(state)?;
    }
    Ok(answer.refused)
}

/// Reads a recorded object back against the SHA-256 recorded at copy time (copying it again
/// on a mismatch).
pub(super) fn verify_action(run: Run<'_>, rel: String, row: ObjectRecord) -> Action {
    let meta = ObjectMeta {
        key: run.src().key(&rel),
        size: row.size,
        last_modified: None,
        e_tag: row.src_etag.clone(),
        version: None,
        storage_class: None,
    };
    Action::Run(Work::Verify {
        rel,
        meta,
        row,
        source: false,
    })
}
