//! Backup-aware mirroring of a milvus-backup backup root: a backup appears at the target only
//! when whole and verified, and the target never shows a backup over data its meta does not
//! match, whatever the source, the local state, a race or a crash do.
//!
//! milvus-backup decides that a backup exists by its `meta/backup_meta.json` (its
//! *announcement*). The rules:
//!
//! 1. **The target is the truth for announcements.** Before ferry writes, replaces or deletes
//!    anything under a backup's folder at the target, it decides once per run whether the
//!    target announces that backup: the manifest says so (a row for `backup_meta.json`, or the
//!    backup verified), or, when it does not, a HEAD of `backup_meta.json` at the target does.
//!    An announced backup is *hidden* before the first change: its record leaves `verified`
//!    (durably, under [`Manifest::backup_lock`]), then `backup_meta.json` is deleted at the
//!    target, then its row (durably). A wiped or old state dir, or a second writer with its
//!    own state, cannot make ferry change data under an announcement.
//! 2. **An announced backup is never degraded by its source.** It is changed only when the
//!    source's version of it is whole (its last-written meta file present, every data object
//!    its meta names there with its size, `backup_meta.json` there). Otherwise it is *held*:
//!    nothing under it is written or deleted, the target keeps the announced version, and the
//!    run reports it (the CLI exits non-zero; ferryd shows it in the job's last run). A backup
//!    whose source is gone entirely is removed with `remove`, announcement first.
//! 3. **Nothing is changed under a running restore.** A backup whose restore is firing or
//!    running is held too ("waits for restore ID"); a restore fires only while its backup id
//!    is the one verified at the target. Both checks run under the same lock.
//! 4. **Announce only what was validated.** Settling reads the backup's meta files once, checks
//!    them (generation, JSON, one backup id across `backup_meta.json` and `full_meta.json`,
//!    each file the version the listing named), checks the data against that meta, reads the
//!    data back from the target, and then writes *those bytes* (not whatever the source holds
//!    by then), `backup_meta.json` last, each read back.
//!
//! Settling, after the walk, for each backup that changed (or is not verified yet):
//!
//! 1. its `meta/` folder is listed at the source: the last-written meta file for its generation
//!    must be there ([`Generation::detect`]), else it is *incomplete*;
//! 2. every meta file is read (the version listed, or it waits) and parsed; every binlog the
//!    meta names must have a manifest row (the target confirmed it) with the meta's size; a
//!    binlog missing at the source, or of another size, makes it *incomplete*; one not copied
//!    yet (a failed copy) keeps it *syncing*;
//! 3. every data object of the backup is read back from the target and its SHA-256 compared
//!    with the source's (recorded while copying);
//! 4. the meta files other than `backup_meta.json` are written from the validated bytes (or
//!    found identical at the target);
//! 5. `meta/backup_meta.json` is written **last** from the validated bytes and read back: the
//!    backup is *verified*.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::Utc;
use ferry_state::schema::{BackupKey, BackupRecord, BackupState, BackupsSchema, ObjectsSchema};
use ferry_state::{Batch, ObjectKey, ObjectRecord, RestoreKey, RestoreRecord, RestoresSchema};
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use super::inspect::{self, MAX_META, Visible, check_meta_size};
use super::layout::{BackupMeta, Completeness, Generation, MetaFile, Part};
use crate::backend::{Error, GetOptions, ListEntry, ListOptions, ObjectMeta};
use crate::sync::plan::{Action, Reason, Work};
use crate::sync::policy::{Policy, Run, RunPolicy};
use crate::sync::report::{Event, MirrorError, OnEvent, Summary};
use crate::sync::transfer::Method;

/// Keys of missing objects looked up at the source, to tell "missing at the source" from
/// "not copied yet".
const PROBE: usize = 20;

/// Why a backup at the target is left as it is in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// The target announces it, and the source's version is not whole (damaged, or being
    /// written again): the target keeps the announced version.
    SourceNotWhole(String),
    /// A restore of it is firing or running: the new version waits for it.
    Restoring(String),
}

impl Hold {
    /// One line for output.
    pub fn describe(&self) -> String {
        match self {
            Hold::SourceNotWhole(why) => format!(
                "the source's version is not whole ({why}): the target keeps its announced version; nothing under it is changed until the source is whole again"
            ),
            Hold::Restoring(id) => format!(
                "restore {id} of it is running: its new version waits until the restore ends"
            ),
        }
    }
}

/// What this run decided about changing a backup at the target.
#[derive(Debug, Clone)]
enum Decision {
    /// Writes and deletions may go ahead (not announced, or hidden in this run).
    Open,
    /// Left as it is.
    Held(Hold),
}

/// The backup policy of a mirror whose source is a milvus-backup backup root
/// (`<name>/meta/`, `<name>/binlogs/`): each backup's meta waits until its data is whole and
/// verified at the target, `meta/backup_meta.json` last (see the module's rules).
#[derive(Debug, Clone, Default)]
pub struct Backups {
    on_verified: Option<OnVerified>,
}

impl Backups {
    /// The policy; `on_verified` is asked when a backup id becomes verified at the target:
    /// the restore requests it returns are written in the same atomic batch as the backup's
    /// state (ferryd's restore triggers).
    pub fn new(on_verified: Option<OnVerified>) -> Self {
        Backups { on_verified }
    }
}

/// See [`Backups::new`].
#[derive(Clone)]
pub struct OnVerified(pub Arc<VerifiedHook>);

/// Called with a backup's name, its record and its restore history (sequence number, request)
/// once a backup id becomes verified at the target: returns the requests to write with it
/// (new ones, or changed ones of the history), by sequence number.
pub type VerifiedHook =
    dyn Fn(&str, &BackupRecord, &[(u32, RestoreRecord)]) -> Vec<(u32, RestoreRecord)> + Send + Sync;

impl std::fmt::Debug for OnVerified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnVerified(..)")
    }
}

impl Policy for Backups {
    fn begin(&self) -> Box<dyn RunPolicy + '_> {
        Box::new(Gate {
            on_verified: self.on_verified.as_ref(),
            ..Gate::default()
        })
    }
}

#[async_trait::async_trait]
impl RunPolicy for Gate<'_> {
    fn observe(&self, rel: &str, at_source: bool, action: &Action) {
        self.see(rel, at_source);
        if action.rel().is_some() {
            self.touch(rel);
        }
    }

    fn holds_back(&self, rel: &str) -> bool {
        Gate::holds(rel)
    }

    /// A backup is one unit, replaced by the source's whole version.
    fn replaces(&self, rel: &str) -> bool {
        Part::of(rel).is_some()
    }

    async fn before_write(&self, run: Run<'_>, rel: &str) -> Result<(), Event> {
        self.open_for_write(run, rel).await
    }

    fn failed(&self, rel: &str) {
        self.note_failed(rel);
    }

    async fn deletes(
        &self,
        run: Run<'_>,
        rels: Vec<String>,
        summary: &mut Summary,
        on_event: &mut OnEvent<'_>,
    ) -> Vec<String> {
        gate_deletes(run, self, rels, summary, on_event).await
    }

    async fn finish(
        &self,
        run: Run<'_>,
        full_scan: bool,
        summary: &mut Summary,
        on_event: &mut OnEvent<'_>,
    ) -> Result<(), MirrorError> {
        settle(run, self, full_scan, summary, on_event).await
    }
}

/// What one run saw of each backup.
#[derive(Debug, Default)]
pub(crate) struct Gate<'p> {
    /// The policy's hook.
    on_verified: Option<&'p OnVerified>,
    seen: Mutex<BTreeMap<String, Seen>>,
    /// Per backup, whether it may be changed in this run (decided at its first change).
    decisions: tokio::sync::Mutex<HashMap<String, Decision>>,
    /// Announcements deleted at the target in this run (relative keys), reported at the end.
    hidden: Mutex<Vec<String>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    /// Something of it was copied, held, or failed in this run.
    dirty: bool,
    /// A copy into it failed in this run.
    failed: bool,
    /// Some object of it is at the source.
    at_source: bool,
}

impl Gate<'_> {
    /// Updates the backup `rel` belongs to (no allocation once the backup is known: keys of
    /// one backup come one after the other, and this runs for every key of the walk).
    fn mark(&self, rel: &str, f: impl FnOnce(&mut Seen)) {
        let Some(part) = Part::of(rel) else { return };
        let mut seen = crate::lock::lock(&self.seen);
        match seen.get_mut(part.name()) {
            Some(s) => f(s),
            None => f(seen.entry(part.name().to_owned()).or_default()),
        }
    }

    /// Notes a key of the walk; `at_source` when the source has it.
    pub(crate) fn see(&self, rel: &str, at_source: bool) {
        self.mark(rel, |s| s.at_source |= at_source);
    }

    /// Notes a key something is done for (a copy, a check, a held meta file, a deletion).
    pub(crate) fn touch(&self, rel: &str) {
        self.mark(rel, |s| s.dirty = true);
    }

    /// Whether the walk's work for `rel` is held back until its backup is settled.
    pub(crate) fn holds(rel: &str) -> bool {
        Part::of(rel).is_some_and(|p| p.is_meta())
    }

    /// Notes a failed object.
    fn note_failed(&self, rel: &str) {
        self.mark(rel, |s| {
            s.dirty = true;
            s.failed = true;
        });
    }

    fn snapshot(&self) -> BTreeMap<String, Seen> {
        crate::lock::lock(&self.seen).clone()
    }

    fn at_source(&self, name: &str) -> bool {
        crate::lock::lock(&self.seen)
            .get(name)
            .is_some_and(|s| s.at_source)
    }

    /// The backups held in this run, by name.
    async fn held(&self) -> BTreeMap<String, Hold> {
        self.decisions
            .lock()
            .await
            .iter()
            .filter_map(|(n, d)| match d {
                Decision::Held(h) => Some((n.clone(), h.clone())),
                Decision::Open => None,
            })
            .collect()
    }

    /// Before ferry writes `rel` at the target: decides (once per backup and run) whether its
    /// backup may be changed, hiding it first when the target announces it. `Err` is the
    /// object's event: held, or failed (the decision could not be made; tried again for the
    /// next object).
    async fn open_for_write(&self, run: Run<'_>, rel: &str) -> Result<(), Event> {
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

    async fn decide(&self, run: Run<'_>, name: &str, gone: bool) -> Result<Decision, Error> {
        let mut decisions = self.decisions.lock().await;
        if let Some(d) = decisions.get(name) {
            return Ok(d.clone());
        }
        let d = decide(run, self, name, gone).await?;
        decisions.insert(name.to_owned(), d.clone());
        Ok(d)
    }
}

fn announce_rel(name: &str) -> String {
    format!("{name}/{}", MetaFile::Backup.rel())
}

fn backup_key(run: Run<'_>, name: &str) -> BackupKey {
    BackupKey {
        pair: run.pair(),
        key: name.to_owned(),
    }
}

fn state_error(run: Run<'_>, rel: &str, e: ferry_state::StateError) -> Error {
    run.manifest_error(rel, e)
}

/// The id of a restore of backup `name` that is firing or running, if any.
fn running_restore(run: Run<'_>, name: &str) -> Result<Option<String>, ferry_state::StateError> {
    Ok(run
        .manifest()
        .restores_of(run.pair(), name)?
        .into_iter()
        .find(|(_, r)| r.state.is_active())
        .map(|(_, r)| r.id))
}

/// Whether backup `name` may be changed at the target in this run (see the module docs).
async fn decide(run: Run<'_>, gate: &Gate<'_>, name: &str, gone: bool) -> Result<Decision, Error> {
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
            Err(e) => return Err(e),
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
async fn source_not_whole(run: Run<'_>, name: &str) -> Result<Option<String>, Error> {
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
async fn hide(run: Run<'_>, gate: &Gate<'_>, name: &str) -> Result<Decision, Error> {
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
        return Err(failures.remove(0).error);
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
pub(crate) async fn gate_deletes(
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

/// How a backup came out of [`settle_one`].
struct Outcome {
    state: BackupState,
    detail: String,
    meta: Option<BackupMeta>,
}

impl Outcome {
    fn new(state: BackupState, detail: impl Into<String>) -> Self {
        Outcome {
            state,
            detail: detail.into(),
            meta: None,
        }
    }

    fn with(meta: &BackupMeta, state: BackupState, detail: impl Into<String>) -> Self {
        Outcome {
            state,
            detail: detail.into(),
            meta: Some(meta.clone()),
        }
    }
}

/// Settles the backups the run touched (and, after a full scan, every backup not verified
/// yet; records of backups gone from the source are dropped). Held backups keep their state
/// and are reported.
pub(crate) async fn settle(
    run: Run<'_>,
    gate: &Gate<'_>,
    full: bool,
    summary: &mut Summary,
    on_event: &mut OnEvent<'_>,
) -> Result<(), MirrorError> {
    let seen = gate.snapshot();
    let held = gate.held().await;
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
    for name in records.keys() {
        let at_source = seen.get(name).is_some_and(|s| s.at_source);
        let unseen = full && !seen.contains_key(name);
        if unseen || (!at_source && seen.contains_key(name) && totals(run, name)?.0 == 0) {
            gone.delete::<BackupsSchema>(&backup_key(run, name));
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
    for (name, s) in seen {
        if run.cancelled() {
            summary.cancelled = true;
            break;
        }
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
        let out = match settle_one(run, gate, &name, s, summary, on_event).await {
            Ok(o) => o,
            Err(e @ MirrorError::State(_)) => return Err(e),
        };
        if let Some(Decision::Held(hold)) = gate.decisions.lock().await.get(&name).cloned() {
            // Held while settling (a restore started meanwhile): reported, state kept.
            summary.held_units.push((name.clone(), hold.describe()));
            on_event(Event::UnitHeld {
                unit: name,
                why: hold.describe(),
            });
            continue;
        }
        write_record(run, gate.on_verified, &name, &out)?;
        if out.state != BackupState::Verified {
            summary.units_pending += 1;
        }
        on_event(Event::Unit {
            unit: name,
            state: out.state.as_str(),
            detail: out.detail,
        });
    }
    Ok(())
}

fn write_record(
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
    let mut r = old.unwrap_or(BackupRecord {
        state: BackupState::Discovered,
        backup_id: String::new(),
        objects: 0,
        bytes: 0,
        segments: 0,
        rows: 0,
        collections: 0,
        created_ms: 0,
        discovered_ms: now,
        updated_ms: now,
        synced_ms: None,
        verified_ms: None,
        detail: String::new(),
    });
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

/// A backup's manifest rows, a page at a time (bounded memory on huge backups).
struct Rows<'a> {
    run: Run<'a>,
    prefix: String,
    after: Option<String>,
    done: bool,
}

impl<'a> Rows<'a> {
    fn of(run: Run<'a>, name: &str) -> Rows<'a> {
        Rows {
            run,
            prefix: format!("{name}/"),
            after: None,
            done: false,
        }
    }

    fn next_page(&mut self) -> Result<Option<Vec<(String, ObjectRecord)>>, MirrorError> {
        if self.done {
            return Ok(None);
        }
        let page = self.run.manifest().objects_under(
            self.run.pair(),
            &self.prefix,
            self.after.as_deref(),
            1000,
        )?;
        match page.last() {
            Some((last, _)) => self.after = Some(last.clone()),
            None => {
                self.done = true;
                return Ok(None);
            }
        }
        Ok(Some(page))
    }
}

/// Objects and bytes the manifest holds for a backup.
fn totals(run: Run<'_>, name: &str) -> Result<(u64, u64), MirrorError> {
    let (mut n, mut bytes) = (0u64, 0u64);
    let mut rows = Rows::of(run, name);
    while let Some(page) = rows.next_page()? {
        n += page.len() as u64;
        bytes += page.iter().map(|(_, r)| r.size).sum::<u64>();
    }
    Ok((n, bytes))
}

/// The manifest rows of a backup's data objects: backup-relative key → size.
fn data_rows(run: Run<'_>, name: &str) -> Result<HashMap<String, u64>, MirrorError> {
    let mut out = HashMap::new();
    let mut rows = Rows::of(run, name);
    while let Some(page) = rows.next_page()? {
        for (rel, row) in page {
            if !Gate::holds(&rel) {
                out.insert(rel[name.len() + 1..].to_owned(), row.size);
            }
        }
    }
    Ok(out)
}

/// One meta file as read from the source for settling: the bytes checked are the bytes
/// written.
struct MetaBytes {
    /// Relative key.
    rel: String,
    /// Which meta file (`None`: another file under `meta/`).
    file: Option<MetaFile>,
    /// As listed.
    listed: ObjectMeta,
    bytes: Bytes,
    sha256: [u8; 32],
}

/// Reads every listed meta file; `Err` says why the set is not usable now (a file changed
/// or vanished since it was listed, a read failed, a file is too large).
async fn read_meta_files(run: Run<'_>, listed: &[ObjectMeta]) -> Result<Vec<MetaBytes>, String> {
    let mut out = Vec::with_capacity(listed.len());
    for m in listed {
        let Some(rel) = m.key.get(run.src().prefix.len()..) else {
            continue;
        };
        let file = Part::of(rel).and_then(|p| match p {
            Part::Meta { file, .. } => Some(file),
            _ => None,
        });
        if m.size > MAX_META {
            return Err(format!(
                "{}: {} bytes, larger than any meta file ferry reads",
                run.src().display(rel),
                m.size
            ));
        }
        let got = run
            .src()
            .store
            .get(&m.key, GetOptions::default())
            .await
            .map_err(|e| format!("cannot read {} at the source: {e}", run.src().display(rel)))?;
        let version = got.meta.clone();
        let len = got.range.end - got.range.start;
        let bytes = crate::backend::read_exact(got.body, len, &run.src().display(rel))
            .await
            .map_err(|e| format!("cannot read {} at the source: {e}", run.src().display(rel)))?;
        if version.size != m.size || (m.e_tag.is_some() && version.e_tag != m.e_tag) {
            return Err(format!(
                "{} changed while its meta was read (being written again?)",
                run.src().display(rel)
            ));
        }
        let sha256 = Sha256::digest(&bytes).into();
        if out.is_empty() {
            crate::pause::point("settle-meta-read").await;
        }
        out.push(MetaBytes {
            rel: rel.to_owned(),
            file,
            listed: m.clone(),
            bytes,
            sha256,
        });
    }
    Ok(out)
}

async fn settle_one(
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
        Err(why) => return Ok(Outcome::new(BackupState::Syncing, why)),
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
        Err(e) => return Ok(Outcome::with(&meta, BackupState::Syncing, e)),
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
    // 3. Read back every data object written so far.
    if !verify_data(run, name, summary, on_event).await? {
        return Ok(Outcome::with(
            &meta,
            BackupState::Syncing,
            "read back from the target: some objects differed or failed and are copied again",
        ));
    }

    // 4. The validated meta files, then 5. backup_meta.json, each checked at the target.
    let (last, first): (Vec<&MetaBytes>, Vec<&MetaBytes>) =
        files.iter().partition(|f| f.file == Some(MetaFile::Backup));
    for f in first.into_iter().chain(last) {
        if f.file == Some(MetaFile::Backup) {
            crate::pause::point("settle-before-announce").await;
        }
        match put_meta(run, gate, f, summary, on_event).await {
            MetaPut::Done => {}
            MetaPut::Held => {
                return Ok(Outcome::with(&meta, BackupState::Syncing, "held"));
            }
            MetaPut::Failed(what) => {
                return Ok(Outcome::with(&meta, BackupState::Syncing, what));
            }
        }
    }
    Ok(Outcome::with(&meta, BackupState::Verified, ""))
}

enum MetaPut {
    Done,
    Held,
    Failed(String),
}

/// Makes the target hold exactly `f`'s bytes: found identical (recorded), or written (after
/// hiding the backup when the target announces it) and read back.
async fn put_meta(
    run: Run<'_>,
    gate: &Gate<'_>,
    f: &MetaBytes,
    summary: &mut Summary,
    on_event: &mut OnEvent<'_>,
) -> MetaPut {
    let dst_key = run.dst().key(&f.rel);
    let target = run.dst().display(&f.rel);
    let fail = |summary: &mut Summary, on_event: &mut OnEvent<'_>, error: Error| {
        summary.failed += 1;
        let what = format!("writing {target} failed; retried: {error}");
        on_event(Event::Failed {
            path: target.clone(),
            error,
        });
        MetaPut::Failed(what)
    };
    let found = match read_target(run, &dst_key).await {
        Ok(found) => found,
        Err(e) => return fail(summary, on_event, e),
    };
    let mut e_tag = found
        .as_ref()
        .filter(|(_, sha)| *sha == f.sha256)
        .map(|(m, _)| m.e_tag.clone());
    let copied = e_tag.is_none();
    if copied {
        if let Err(ev) = gate.before_write(run, &f.rel).await {
            let held = matches!(ev, Event::Held { .. });
            on_event(ev);
            if held {
                summary.held += 1;
                return MetaPut::Held;
            }
            summary.failed += 1;
            return MetaPut::Failed(format!("writing {target} failed; retried"));
        }
        let put = match run
            .dst()
            .store
            .put_hashed(&dst_key, f.bytes.clone(), f.sha256)
            .await
        {
            Ok(p) => p,
            Err(e) => return fail(summary, on_event, e),
        };
        // Read back.
        match read_target(run, &dst_key).await {
            Ok(Some((_, sha))) if sha == f.sha256 => {}
            Ok(_) => {
                return fail(
                    summary,
                    on_event,
                    Error::Transient {
                        path: target.clone(),
                        source: crate::backend::error::msg(
                            "read back with another SHA-256 than the bytes written",
                        ),
                    },
                );
            }
            Err(e) => return fail(summary, on_event, e),
        }
        e_tag = Some(put.e_tag);
    }
    let record = ObjectRecord {
        size: f.bytes.len() as u64,
        src_etag: f.listed.e_tag.clone(),
        src_mtime_ms: f
            .listed
            .last_modified
            .as_ref()
            .map(|t| t.timestamp_millis()),
        sha256: Some(f.sha256),
        dst_etag: e_tag.flatten(),
        dst_version: None,
        synced_ms: Utc::now().timestamp_millis(),
    };
    let mut b = Batch::new();
    b.put::<ObjectsSchema>(
        &ObjectKey {
            pair: run.pair(),
            key: f.rel.clone(),
        },
        &record,
    );
    if let Err(e) = run.manifest().write(b) {
        return fail(summary, on_event, state_error(run, &f.rel, e));
    }
    if copied {
        summary.copied += 1;
        summary.bytes += f.bytes.len() as u64;
        on_event(Event::Copied {
            source: run.src().display(&f.rel),
            target: target.clone(),
            size: f.bytes.len() as u64,
            method: Some(Method::Streamed),
            reason: Reason::New,
        });
    }
    // Read back (after the write, or found so): the target holds the validated bytes.
    summary.verified += 1;
    on_event(Event::Verified { target });
    MetaPut::Done
}

/// The target's object at `key` and its SHA-256; `None` when absent.
async fn read_target(run: Run<'_>, key: &str) -> Result<Option<(ObjectMeta, [u8; 32])>, Error> {
    let got = match run.dst().store.get(key, GetOptions::default()).await {
        Ok(g) => g,
        Err(Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = got.meta.clone();
    let mut body = got.body;
    let mut h = Sha256::new();
    while let Some(chunk) = body.try_next().await? {
        h.update(&chunk);
    }
    Ok(Some((meta, h.finalize().into())))
}

/// For the bundle format (no file list in the meta): every object under `bundle/` at the
/// source must have a row with its size.
async fn bundle_complete(
    run: Run<'_>,
    name: &str,
    rows: &HashMap<String, u64>,
) -> Result<Completeness, String> {
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
            Err(e) => return Err(format!("cannot list its bundle/ at the source: {e}")),
        }
    }
    if c.expected == 0 {
        c.missing.push("bundle/ (empty)".into());
    }
    Ok(c)
}

/// Runs actions; true when none failed or was held, and none had to be copied again because
/// the target differed or lacked it.
async fn run_ok(
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
async fn verify_data(
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
fn verify_action(run: Run<'_>, rel: String, row: ObjectRecord) -> Action {
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
