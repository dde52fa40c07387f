//! Reading a backup's data back from the target before it is announced.

use ferry_state::ObjectRecord;
use futures::StreamExt;

use crate::backend::ObjectMeta;
use crate::sync::plan::{Action, Reason, Work};
use crate::sync::policy::Run;
use crate::sync::report::{Event, MirrorError, OnEvent, Summary};

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

/// Reads back every data object of the backup written so far (its meta files are checked
/// when they are written).
pub(super) async fn verify_data(
    run: Run<'_>,
    name: &str,
    summary: &mut Summary,
    on_event: &mut OnEvent<'_>,
) -> Result<bool, MirrorError> {
    let mut rows = Rows::of(run, name);
    let mut ok = true;
    while let Some(page) = rows.next_page()? {
        let actions: Vec<Action> = page
            .into_iter()
            .filter(|(rel, _)| !Gate::holds(rel))
            .map(|(rel, row)| verify_action(run, rel, row))
            .collect();
        ok &= run_ok(run, actions, summary, on_event).await;
    }
    Ok(ok)
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
