//! Whether a backup may change at the target in this run: hidden first when announced,
//! held when its source is not whole or a restore of it runs (rules 1–3).

use std::collections::BTreeMap;

use chrono::Utc;
use ferry_state::schema::{BackupState, BackupsSchema, ObjectsSchema};
use ferry_state::{Batch, ObjectKey};
use futures::TryStreamExt;

use crate::backend::{Error, ListEntry, ListOptions};
use crate::milvus::inspect::{self, Visible};
use crate::milvus::layout::{Generation, MetaFile, Part};
use crate::sync::policy::{Run, RunPolicy};
use crate::sync::report::ObjectError;
use crate::sync::report::{Event, OnEvent, Summary};

use super::run::*;

impl Gate<'_> {
    /// Before ferry writes `rel` at the target: decides (once per backup and run) whether its
    /// backup may be changed, hiding it first when the target announces it. `Err` is the
    /// object's event: held, or failed (the decision could not be made; tried again for the
    /// next object).
    pub(super) async fn open_for_write(&self, run: Run<'_>, rel: &str) -> Result<(), Event> {
        let Some(part) = Part::of(rel) else {
            return Ok(());
        };
        let name = part.name();
        let gone = !self.at_source(name);
        match self.decide(run, name, gone).await {
            Ok(Decision::Open) => Ok(()),
            Ok(Decision::Held(_)) => Err(Event::Held {
                path: run.dst().display(rel),
                unit: name.to_owned(),
            }),
            Err(error) => Err(Event::Failed {
                path: run.dst().display(rel),
                error,
            }),
        }
    }

    pub(super) async fn decide(
        &self,
        run: Run<'_>,
        name: &str,
        gone: bool,
    ) -> Result<Decision, ObjectError> {
        // The map's lock is held only to find the backup's cell; the decision itself (a HEAD,
        // maybe a hide) runs without it, so backups are decided in parallel. A failed decision
        // leaves the cell empty: the next write of the backup tries again.
        let cell = crate::lock::lock(&self.decisions)
            .entry(name.to_owned())
            .or_default()
            .clone();
        cell.get_or_try_init(|| decide(run, self, name, gone))
            .await
            .cloned()
    }
}

/// The id of a restore of backup `name` that is firing or running, if any.
pub(super) fn running_restore(
    run: Run<'_>,
    name: &str,
) -> Result<Option<String>, ferry_state::StateError> {
    Ok(run
        .manifest()
        .restores_of(run.pair(), name)?
        .into_iter()
        .find(|(_, r)| r.state.is_active())
        .map(|(_, r)| r.id))
}

/// Whether backup `name` may be changed at the target in this run (see the module docs).
pub(super) async fn decide(
    run: Run<'_>,
    gate: &Gate<'_>,
    name: &str,
    gone: bool,
) -> Result<Decision, ObjectError> {
    let announce = announce_rel(name);
    let err = |e| state_error(run, &announce, e);
    let row = run.manifest().object(run.pair(), &announce).map_err(err)?;
    let record = run
        .manifest()
        .get::<BackupsSchema>(&backup_key(run, name))
        .map_err(err)?;
    let known = row.is_some()
        || record
            .as_ref()
            .is_some_and(|r| matches!(r.state, BackupState::Synced | BackupState::Verified));
    let announced = known
        || match run.dst().store.head(&run.dst().key(&announce)).await {
            Ok(_) => true,
            Err(Error::NotFound { .. }) => false,
            Err(e) => return Err(e.into()),
        };
    if !announced {
        return Ok(Decision::Open);
    }
    if let Some(id) = running_restore(run, name).map_err(err)? {
        return Ok(Decision::Held(Hold::Restoring(id)));
    }
    if !gone && let Some(why) = source_not_whole(run, name).await? {
        return Ok(Decision::Held(Hold::SourceNotWhole(why)));
    }
    hide(run, gate, name).await
}

/// `None` when the source's version of backup `name` is whole, else what is wrong.
pub(super) async fn source_not_whole(
    run: Run<'_>,
    name: &str,
) -> Result<Option<String>, ObjectError> {
    // Cheap first: a backup being written has no last-written meta file yet.
    let present: Vec<MetaFile> = run
        .src()
        .store
        .list(
            &run.src().key(&format!("{name}/meta/")),
            ListOptions::default(),
        )
        .try_filter_map(|e| async move {
            Ok(match e {
                ListEntry::Object(m) => m.key.rsplit('/').next().and_then(MetaFile::from_name),
                ListEntry::Prefix(_) => None,
            })
        })
        .try_collect()
        .await?;
    if let Err(missing) = Generation::detect(|f| present.contains(&f)) {
        return Ok(Some(format!("no {missing}")));
    }
    let view = inspect::inspect(run.src(), name).await?;
    Ok(match view.state {
        Visible::Complete => None,
        _ => Some(view.detail),
    })
}

/// Hides backup `name` at the target: its record leaves `verified` (durably, unless a restore
/// of it started meanwhile), then its `backup_meta.json` is deleted there, then its row.
pub(super) async fn hide(
    run: Run<'_>,
    gate: &Gate<'_>,
    name: &str,
) -> Result<Decision, ObjectError> {
    let announce = announce_rel(name);
    let err = |e| state_error(run, &announce, e);
    {
        let _lock = run.manifest().backup_lock();
        if let Some(id) = running_restore(run, name).map_err(err)? {
            return Ok(Decision::Held(Hold::Restoring(id)));
        }
        let key = backup_key(run, name);
        if let Some(mut r) = run.manifest().get::<BackupsSchema>(&key).map_err(err)?
            && r.state != BackupState::Syncing
        {
            r.state = BackupState::Syncing;
            r.detail = "changing at the target: hidden until whole again".into();
            r.updated_ms = Utc::now().timestamp_millis();
            let mut b = Batch::new();
            b.put::<BackupsSchema>(&key, &r);
            run.manifest().write_durable(b).map_err(err)?;
        }
    }
    tracing::info!(
        backup = name,
        target = %run.dst().display(name),
        "hiding the backup at the target until it is whole again"
    );
    let mut failures = run.dst().store.delete(&[run.dst().key(&announce)]).await?;
    if !failures.is_empty() {
        return Err(failures.remove(0).error.into());
    }
    let mut b = Batch::new();
    b.delete::<ObjectsSchema>(&ObjectKey {
        pair: run.pair(),
        key: announce.clone(),
    });
    run.manifest().write_durable(b).map_err(err)?;
    {
        let mut h = crate::lock::lock(&gate.hidden);
        h.push(announce);
    }
    Ok(Decision::Open)
}

/// Of the deletions a run planned, those that may go ahead now, each backup's announcement
/// first: a backup gone entirely at the source loses `backup_meta.json` (deleted at the target
/// even when the manifest does not know it) before its data; deletions under any other
/// backup follow [`Gate::before_write`]. Held and failed ones are reported and left out.
pub(super) async fn gate_deletes(
    run: Run<'_>,
    gate: &Gate<'_>,
    deletes: Vec<String>,
    summary: &mut Summary,
    on_event: &mut OnEvent<'_>,
) -> Vec<String> {
    let mut by_backup: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut out = Vec::new();
    for rel in deletes {
        match Part::of(&rel).map(|p| p.name().to_owned()) {
            Some(name) => by_backup.entry(name).or_default().push(rel),
            None => out.push(rel),
        }
    }
    for (name, rels) in by_backup {
        gate.touch(&rels[0]);
        let gone = !gate.at_source(&name);
        match gate.decide(run, &name, gone).await {
            Ok(Decision::Open) => {
                // `backup_meta.json` went first (hidden), or was not there.
                let announce = announce_rel(&name);
                out.extend(rels.into_iter().filter(|r| *r != announce));
            }
            Ok(Decision::Held(_)) => {
                for rel in rels {
                    summary.held += 1;
                    on_event(Event::Held {
                        path: run.dst().display(&rel),
                        unit: name.clone(),
                    });
                }
            }
            Err(error) => {
                summary.failed += rels.len() as u64;
                gate.failed(&rels[0]);
                on_event(Event::Failed {
                    path: run.dst().display(&name),
                    error,
                });
            }
        }
    }
    out
}
