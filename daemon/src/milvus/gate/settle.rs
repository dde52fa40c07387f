//! Settling: after the walk, each backup that changed is validated, read back and announced
//! (meta last), or left pending with why; its record is written with its restore requests.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use ferry_state::Evidence;
use ferry_state::schema::{BackupRecord, BackupState, BackupsSchema};
use ferry_state::{Batch, RestoreKey, RestoresSchema};
use futures::{StreamExt, TryStreamExt};

use crate::backend::error::display_chain;
use crate::backend::{Error, ListEntry, ListOptions, ObjectMeta};
use crate::milvus::inspect::check_meta_size;
use crate::milvus::layout::{BackupMeta, Completeness, Generation, MetaFile};
use crate::sync::policy::Run;
use crate::sync::report::{Event, MirrorError, OnEvent, Summary};

use super::meta::*;
use super::rows::*;
use super::run::*;
use super::verify::*;

/// Keys of missing objects looked up at the source, to tell "missing at the source" from
/// "not copied yet".
pub(super) const PROBE: usize = 20;

/// How a backup came out of [`settle_one`].
pub(super) struct Outcome {
    pub(super) state: BackupState,
    pub(super) detail: String,
    pub(super) meta: Option<BackupMeta>,
    /// What a verification rested on (zeros unless verified).
    pub(super) evidence: Evidence,
}

impl Outcome {
    pub(super) fn new(state: BackupState, detail: impl Into<String>) -> Self {
        Outcome {
            state,
            detail: detail.into(),
            meta: None,
            evidence: Evidence::default(),
        }
    }

    pub(super) fn with(meta: &BackupMeta, state: BackupState, detail: impl Into<String>) -> Self {
        Outcome {
            state,
            detail: detail.into(),
            meta: Some(meta.clone()),
            evidence: Evidence::default(),
        }
    }
}

/// Settles the backups the run touched (and, after a full scan, every backup not verified
/// yet; records of backups gone from the source are dropped). Held backups keep their state
/// and are reported.
/// The detail of a backup gone from the source and kept at the target.
const GONE: &str = "gone from the source; kept at the target (with remove = true ferry deletes it)";

pub(super) async fn settle(
    run: Run<'_>,
    gate: &Gate<'_>,
    full: bool,
    summary: &mut Summary,
    on_event: &mut OnEvent<'_>,
) -> Result<(), MirrorError> {
    let seen = gate.snapshot();
    let held = gate.held();
    let hidden = std::mem::take(&mut *crate::lock::lock(&gate.hidden));
    for rel in hidden {
        summary.deleted += 1;
        on_event(Event::Deleted {
            target: run.dst().display(&rel),
        });
    }
    let records: BTreeMap<String, BackupRecord> =
        run.manifest().backups(run.pair())?.into_iter().collect();
    // A backup gone at the source keeps its record while ferry still has objects of it at
    // the target (kept without `remove`); after that, its record goes too.
    let mut gone = Batch::new();
    for (name, record) in &records {
        let at_source = seen.get(name).is_some_and(|s| s.at_source);
        let unseen = full && !seen.contains_key(name);
        if unseen || (!at_source && seen.contains_key(name) && totals(run, name)?.0 == 0) {
            gone.delete::<BackupsSchema>(&backup_key(run, name));
        } else if !at_source && seen.contains_key(name) && record.detail != GONE {
            // Kept at the target (no `remove`): its state stays what the target holds.
            let mut r = record.clone();
            r.detail = GONE.into();
            r.updated_ms = Utc::now().timestamp_millis();
            gone.put::<BackupsSchema>(&backup_key(run, name), &r);
        }
    }
    if !gone.is_empty() {
        run.manifest().write(gone)?;
    }
    for (name, hold) in &held {
        if let Some(r) = records.get(name) {
            let mut r = r.clone();
            r.detail = hold.describe();
            let mut b = Batch::new();
            b.put::<BackupsSchema>(&backup_key(run, name), &r);
            run.manifest().write(b)?;
        }
        summary.held_units.push((name.clone(), hold.describe()));
        on_event(Event::UnitHeld {
            unit: name.clone(),
            why: hold.describe(),
        });
    }
    // Backups to settle; those already verified and untouched are done here.
    let mut todo = Vec::new();
    for (name, s) in seen {
        if held.contains_key(&name) || !s.at_source {
            continue;
        }
        let record = records.get(&name);
        let settled = record.is_some_and(|r| r.state == BackupState::Verified);
        if settled && !s.dirty {
            // Held in an earlier run, and nothing of it changed since: whatever held it is
            // over (a full scan saw all of it), the target still holds the verified version.
            if let Some(r) = record.filter(|r| full && !r.detail.is_empty()) {
                let mut r = r.clone();
                r.detail.clear();
                r.updated_ms = Utc::now().timestamp_millis();
                let mut b = Batch::new();
                b.put::<BackupsSchema>(&backup_key(run, &name), &r);
                run.manifest().write(b)?;
            }
            continue;
        }
        todo.push((name, s));
    }
    // Up to `workers` backups at once (their reads share the run's object permits). Each one
    // settles whole once started, even when the run is cancelled meanwhile: a backup's meta
    // and its record are never left half-way by the run itself. Everything that awaits
    // happens inside the backup's own future: the loop below only merges what each one
    // reports. (An await in the loop would stop the other futures from being polled, and
    // one of them may hold, or be next in line for, the lock the loop waits on: a tokio
    // Mutex hands the lock to the next waiter in line even while its future sleeps.)
    let mut settling = futures::stream::iter(todo)
        .map(|(name, s)| async move {
            if run.cancelled() {
                return Ok(None);
            }
            let mut part = Summary::default();
            let mut events = Vec::new();
            let out = settle_one(run, gate, &name, s, &mut part, &mut |e| events.push(e)).await?;
            let held = gate.decision(&name);
            if let Some(Decision::Held(hold)) = held {
                // Held while settling (a restore started meanwhile): reported, state kept.
                part.held_units.push((name.clone(), hold.describe()));
                events.push(Event::UnitHeld {
                    unit: name,
                    why: hold.describe(),
                });
                return Ok(Some((part, events)));
            }
            write_record(run, gate.on_verified, &name, &out)?;
            part.units_pending = u64::from(out.state != BackupState::Verified);
            events.push(Event::Unit {
                unit: name,
                state: out.state.as_str(),
                detail: out.detail,
                evidence: out.evidence,
            });
            Ok::<_, MirrorError>(Some((part, events)))
        })
        .buffer_unordered(run.workers());
    while let Some(done) = settling.next().await {
        let Some((part, events)) = done? else {
            summary.cancelled = true;
            continue;
        };
        summary.add(&part);
        for e in events {
            on_event(e);
        }
    }
    Ok(())
}

pub(super) fn write_record(
    run: Run<'_>,
    on_verified: Option<&OnVerified>,
    name: &str,
    out: &Outcome,
) -> Result<(), MirrorError> {
    let now = Utc::now().timestamp_millis();
    let key = backup_key(run, name);
    let (objects, bytes) = totals(run, name)?;
    // Under the lock: the restorer reads the backup's state and id to decide to fire.
    let _lock = run.manifest().backup_lock();
    let old = run.manifest().get::<BackupsSchema>(&key)?;
    let newly_verified = out.state == BackupState::Verified
        && old.as_ref().is_none_or(|o| {
            o.state != BackupState::Verified
                || out.meta.as_ref().is_some_and(|m| m.id != o.backup_id)
        });
    let mut r = old.unwrap_or_else(|| BackupRecord::new(BackupState::Discovered, now));
    if let Some(m) = &out.meta {
        r.backup_id = m.id.clone();
        r.segments = m.segments;
        r.rows = m.rows;
        r.collections = u64::from(m.collections);
        r.created_ms = i64::try_from(m.backup_timestamp).unwrap_or(0);
    }
    r.objects = objects;
    r.bytes = bytes;
    if r.state != out.state || r.detail != out.detail {
        r.updated_ms = now;
    }
    r.state = out.state;
    r.detail = out.detail.clone();
    if out.state == BackupState::Verified {
        r.synced_ms = Some(now);
        r.verified_ms = Some(now);
        r.evidence = out.evidence;
    }
    let mut b = Batch::new();
    b.put::<BackupsSchema>(&key, &r);
    // The restores a verified backup id asks for are recorded in the same atomic write: a
    // crash can neither lose them nor ask twice.
    if newly_verified && let Some(hook) = on_verified {
        let history = run.manifest().restores_of(run.pair(), name)?;
        for (seq, rec) in (hook.0)(name, &r, &history) {
            b.put::<RestoresSchema>(
                &RestoreKey {
                    pair: run.pair(),
                    name: name.to_owned(),
                    seq,
                },
                &rec,
            );
        }
    }
    run.manifest().write_durable(b)?;
    Ok(())
}

pub(super) async fn settle_one(
    run: Run<'_>,
    gate: &Gate<'_>,
    name: &str,
    seen: Seen,
    summary: &mut Summary,
    on_event: &mut OnEvent<'_>,
) -> Result<Outcome, MirrorError> {
    let src = run.src();
    // 1. The meta files at the source.
    let meta_prefix = src.key(&format!("{name}/meta/"));
    let listed: Result<Vec<ObjectMeta>, Error> = src
        .store
        .list(&meta_prefix, ListOptions::default())
        .try_filter_map(|e| async move {
            Ok(match e {
                ListEntry::Object(m) => Some(m),
                ListEntry::Prefix(_) => None,
            })
        })
        .try_collect()
        .await;
    let listed: Vec<ObjectMeta> = match listed {
        Ok(l) => l
            .into_iter()
            .filter(|m| {
                m.key
                    .get(src.prefix.len()..)
                    .is_some_and(|rel| !rel.ends_with('/') && run.selects(rel))
            })
            .collect(),
        Err(e) => {
            return Ok(Outcome::new(
                BackupState::Syncing,
                format!("cannot list its meta/ at the source: {e}"),
            ));
        }
    };
    let present = |f: MetaFile| {
        listed
            .iter()
            .any(|m| m.key.ends_with(&format!("/{}", f.rel())))
    };
    let generation = match Generation::detect(present) {
        Ok(g) => g,
        Err(missing) => {
            return Ok(Outcome::new(
                BackupState::Incomplete,
                format!("waiting for {missing}"),
            ));
        }
    };
    if !present(MetaFile::Backup) {
        return Ok(Outcome::new(
            BackupState::Incomplete,
            format!(
                "{} is not at the source (or excluded)",
                MetaFile::Backup.rel()
            ),
        ));
    }

    // 2. Its meta, read once, and its data against it.
    let files = match read_meta_files(run, &listed).await {
        Ok(f) => f,
        Err(why) => return Ok(Outcome::new(BackupState::Syncing, display_chain(&why))),
    };
    for f in &files {
        if let Some(file) = f.file
            && let Err(e) = check_meta_size(file, Some(f.listed.size))
        {
            return Ok(Outcome::new(BackupState::Failed, e.to_string()));
        }
    }
    let bytes_of = |file: MetaFile| {
        files
            .iter()
            .find(|f| f.file == Some(file))
            .map(|f| f.bytes.clone())
    };
    let meta = match crate::milvus::layout::parse(generation, bytes_of) {
        Ok(m) => m,
        Err(e) => {
            return Ok(Outcome::new(
                BackupState::Failed,
                format!("{e} (looked at again when it changes)"),
            ));
        }
    };
    let rows = data_rows(run, name)?;
    let mut missing = Vec::new();
    let complete = if meta.bundle {
        bundle_complete(run, name, &rows).await
    } else {
        let c = Completeness::check(&meta, |k| rows.get(k).copied());
        missing.clone_from(&c.missing);
        Ok(c)
    };
    let complete = match complete {
        Ok(c) => c,
        Err(e) => {
            let why = format!(
                "cannot list its bundle/ at the source: {}",
                display_chain(&e)
            );
            return Ok(Outcome::with(&meta, BackupState::Syncing, why));
        }
    };
    if !complete.is_whole() {
        // Not at the target: missing at the source too, or not copied yet?
        let mut at_source = 0usize;
        for key in missing.iter().take(PROBE) {
            if let Err(Error::NotFound { .. }) =
                src.store.head(&src.key(&format!("{name}/{key}"))).await
            {
                at_source += 1;
            }
        }
        let state = if !complete.wrong_size.is_empty() || at_source > 0 {
            BackupState::Incomplete
        } else {
            BackupState::Syncing
        };
        let what = if state == BackupState::Syncing {
            format!("not at the target yet: {}", complete.describe())
        } else {
            complete.describe()
        };
        return Ok(Outcome::with(&meta, state, what));
    }
    if seen.failed {
        return Ok(Outcome::with(
            &meta,
            BackupState::Syncing,
            "some of its objects failed to copy in this run; retried",
        ));
    }

    crate::pause::point("settle-validated").await;
    // 3. Verify every data object written so far: proven by the target's check of its
    //    upload, or read back.
    let (ok, evidence) = verify_data(run, gate, name, summary, on_event).await?;
    if !ok {
        return Ok(Outcome::with(
            &meta,
            BackupState::Syncing,
            "read back from the target: some objects differed or failed and are copied again",
        ));
    }

    // 4. The validated meta files, all at once, then 5. backup_meta.json, each proven at the
    //    target like the data.
    let (last, first): (Vec<&MetaBytes>, Vec<&MetaBytes>) =
        files.iter().partition(|f| f.file == Some(MetaFile::Backup));
    let written = futures::future::join_all(first.into_iter().map(|f| async move {
        let mut part = Summary::default();
        let mut events = Vec::new();
        let put = put_meta(run, gate, f, &mut part, &mut |e| events.push(e)).await;
        (put, part, events)
    }))
    .await;
    let mut evidence = evidence;
    let mut outcome = None;
    for (put, part, events) in written {
        summary.add(&part);
        events.into_iter().for_each(&mut *on_event);
        if let Some(o) = meta_outcome(put, &meta, &mut evidence) {
            outcome.get_or_insert(o);
        }
    }
    if let Some(o) = outcome {
        return Ok(o);
    }
    for f in last {
        crate::pause::point("settle-before-announce").await;
        let put = put_meta(run, gate, f, summary, on_event).await;
        if let Some(o) = meta_outcome(put, &meta, &mut evidence) {
            return Ok(o);
        }
    }
    let mut out = Outcome::with(&meta, BackupState::Verified, "");
    out.evidence = evidence;
    Ok(out)
}

/// What one meta file's write means for its backup: counted in `evidence` when the target
/// holds it, else the outcome that keeps the backup syncing.
fn meta_outcome(put: MetaPut, meta: &BackupMeta, evidence: &mut Evidence) -> Option<Outcome> {
    match put {
        MetaPut::Done { read_back: true } => evidence.read_back += 1,
        MetaPut::Done { read_back: false } => evidence.upload_checked += 1,
        MetaPut::Held => return Some(Outcome::with(meta, BackupState::Syncing, "held")),
        MetaPut::Failed(what) => return Some(Outcome::with(meta, BackupState::Syncing, what)),
    }
    None
}

/// For the bundle format (no file list in the meta): every object under `bundle/` at the
/// source must have a row with its size.
pub(super) async fn bundle_complete(
    run: Run<'_>,
    name: &str,
    rows: &HashMap<String, u64>,
) -> Result<Completeness, Error> {
    let prefix = run.src().key(&format!("{name}/bundle/"));
    let base = run.src().key(&format!("{name}/"));
    let mut c = Completeness::default();
    let mut listing = run.src().store.list(&prefix, ListOptions::default());
    loop {
        match listing.try_next().await {
            Ok(Some(ListEntry::Object(m))) => {
                let Some(within) = m.key.get(base.len()..) else {
                    continue;
                };
                if within.ends_with('/') {
                    continue;
                }
                c.expected += 1;
                c.expected_bytes += m.size;
                match rows.get(within) {
                    None => c.missing.push(within.to_owned()),
                    Some(s) if *s == m.size => {}
                    Some(s) => c.wrong_size.push((within.to_owned(), m.size, *s)),
                }
            }
            Ok(Some(ListEntry::Prefix(_))) => {}
            Ok(None) => break,
            Err(e) => return Err(e),
        }
    }
    if c.expected == 0 {
        c.missing.push("bundle/ (empty)".into());
    }
    Ok(c)
}
