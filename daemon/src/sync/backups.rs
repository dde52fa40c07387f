//! Backup-aware mirroring of a milvus-backup backup root: a backup appears at the target only
//! when whole, and verified.
//!
//! During the walk, data objects (`binlogs/`, `bundle/`, ...) are copied as usual, and every
//! file under a backup's `meta/` is held back. After the walk, each backup that changed (or is
//! not verified yet) is settled, one at a time:
//!
//! 1. its `meta/` folder is listed at the source: the last-written meta file for its generation
//!    must be there ([`Generation::detect`]), else it is *incomplete*;
//! 2. its meta is read (`full_meta.json`, or the four level files) and every binlog it names
//!    must have a manifest row (the target confirmed it) with the meta's size; a binlog missing
//!    at the source, or of another size, makes it *incomplete*; one not copied yet (a failed
//!    copy) keeps it *syncing*;
//! 3. the meta files other than `backup_meta.json` are copied;
//! 4. every object of the backup is read back from the target and its SHA-256 compared with the
//!    source's (recorded while copying);
//! 5. `meta/backup_meta.json` is copied **last** and read back: the backup is *verified*.
//!
//! milvus-backup decides that a backup exists by `meta/backup_meta.json`, so a target never
//! shows a partial backup, whenever ferry is stopped. A backup that changes at the source after
//! it was announced (rewritten under the same name, or a late `channel_cp_meta.json`) is first
//! hidden: before the first write into it, its `backup_meta.json` is deleted at the target
//! (then its row); it is announced again when whole.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use chrono::Utc;
use ferry_state::schema::{
    BackupKey, BackupRecord, BackupState, BackupsSchema, ObjectsSchema, RestoreState,
    RestoresSchema,
};
use ferry_state::{Batch, ObjectKey, ObjectRecord};
use futures::TryStreamExt;

use super::mirror::{
    Action, Ctx, Entry, Event, MirrorError, OnEvent, Reason, Summary, TargetState, Work, plan,
};
use crate::backend::{Error, ListEntry, ListOptions, ObjectMeta};
use crate::milvus::inspect::{ReadMeta, read_meta};
use crate::milvus::layout::{BackupMeta, Completeness, Generation, MetaFile, Part};

/// Keys of missing objects looked up at the source, to tell "missing at the source" from
/// "not copied yet".
const PROBE: usize = 20;

/// What one run saw of each backup.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    seen: Mutex<BTreeMap<String, Seen>>,
    /// Backups hidden at the target in this run (or found not announced).
    hidden: tokio::sync::Mutex<HashSet<String>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    /// Something of it was copied, held, or failed in this run.
    dirty: bool,
    /// A copy into it failed in this run.
    failed: bool,
}

impl Gate {
    /// Updates the backup `rel` belongs to (no allocation once the backup is known: keys of
    /// one backup come one after the other, and this runs for every key of the walk).
    fn mark(&self, rel: &str, f: impl FnOnce(&mut Seen)) {
        let Some(part) = Part::of(rel) else { return };
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        match seen.get_mut(part.name()) {
            Some(s) => f(s),
            None => f(seen.entry(part.name().to_owned()).or_default()),
        }
    }

    /// Notes a key of the walk (its backup exists at the source).
    pub(crate) fn see(&self, rel: &str) {
        self.mark(rel, |_| {});
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
    pub(crate) fn failed(&self, rel: &str) {
        self.mark(rel, |s| {
            s.dirty = true;
            s.failed = true;
        });
    }

    fn snapshot(&self) -> BTreeMap<String, Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Before ferry writes into a backup's folder at the target: if the target may announce
    /// it (its `backup_meta.json` was written), delete that file first, then its row.
    pub(crate) async fn before_write(&self, ctx: Ctx<'_>, rel: &str) -> Result<(), Event> {
        let Some(part) = Part::of(rel) else {
            return Ok(());
        };
        let name = part.name();
        let mut hidden = self.hidden.lock().await;
        if hidden.contains(name) {
            return Ok(());
        }
        let announce_rel = format!("{name}/{}", MetaFile::Backup.rel());
        let fail = |e: ferry_state::StateError| Event::Failed {
            path: ctx.dst.display(rel),
            error: super::mirror::manifest_error(ctx.dst.display(rel), e),
        };
        let key = BackupKey {
            pair: ctx.pair,
            key: name.to_owned(),
        };
        let record = ctx.manifest.get::<BackupsSchema>(&key).map_err(fail)?;
        let row = ctx.manifest.object(ctx.pair, &announce_rel).map_err(fail)?;
        let announced = row.is_some()
            || record
                .as_ref()
                .is_some_and(|r| matches!(r.state, BackupState::Synced | BackupState::Verified));
        if announced {
            tracing::info!(
                backup = name,
                "backup changed at the source: hiding it at the target until it is whole again"
            );
            match ctx.dst.store.delete(&[ctx.dst.key(&announce_rel)]).await {
                Ok(failures) if failures.is_empty() => {}
                Ok(mut failures) => {
                    let f = failures.remove(0);
                    return Err(Event::Failed {
                        path: ctx.dst.display(&announce_rel),
                        error: f.error,
                    });
                }
                Err(error) => {
                    return Err(Event::Failed {
                        path: ctx.dst.display(&announce_rel),
                        error,
                    });
                }
            }
            let mut b = Batch::new();
            b.delete::<ObjectsSchema>(&ObjectKey {
                pair: ctx.pair,
                key: announce_rel,
            });
            if let Some(mut r) = record {
                r.state = BackupState::Syncing;
                r.detail = "changed at the source: hidden at the target until whole again".into();
                r.updated_ms = Utc::now().timestamp_millis();
                b.put::<BackupsSchema>(&key, &r);
            }
            ctx.manifest.write_durable(b).map_err(fail)?;
        }
        hidden.insert(name.to_owned());
        Ok(())
    }
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
}

/// Settles the backups the run touched (and, after a full scan, every backup not verified
/// yet; records of backups gone from the source are dropped).
pub(crate) async fn settle(
    ctx: Ctx<'_>,
    gate: &Gate,
    full: bool,
    summary: &mut Summary,
    on_event: &mut OnEvent<'_>,
) -> Result<(), MirrorError> {
    let seen = gate.snapshot();
    let records: BTreeMap<String, BackupRecord> =
        ctx.manifest.backups(ctx.pair)?.into_iter().collect();
    let mut gone = Batch::new();
    for name in records.keys() {
        if full && !seen.contains_key(name) {
            gone.delete::<BackupsSchema>(&BackupKey {
                pair: ctx.pair,
                key: name.clone(),
            });
        }
    }
    if !gone.is_empty() {
        ctx.manifest.write(gone)?;
    }
    for (name, s) in seen {
        if ctx
            .options
            .cancel
            .as_ref()
            .is_some_and(|c| c.is_cancelled())
        {
            summary.cancelled = true;
            break;
        }
        let record = records.get(&name);
        let settled = record.is_some_and(|r| r.state == BackupState::Verified);
        if settled && !s.dirty {
            continue;
        }
        let out = settle_one(ctx, &name, s, summary, on_event).await;
        let out = match out {
            Ok(o) => o,
            Err(e @ MirrorError::State(_)) => return Err(e),
        };
        write_record(ctx, &name, record, &out)?;
        if out.state != BackupState::Verified {
            summary.backups_pending += 1;
        }
        on_event(Event::Backup {
            name,
            state: out.state,
            detail: out.detail,
        });
    }
    Ok(())
}

fn write_record(
    ctx: Ctx<'_>,
    name: &str,
    old: Option<&BackupRecord>,
    out: &Outcome,
) -> Result<(), MirrorError> {
    let now = Utc::now().timestamp_millis();
    let newly_verified =
        out.state == BackupState::Verified && old.is_none_or(|o| o.state != BackupState::Verified);
    let mut r = old.cloned().unwrap_or(BackupRecord {
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
    let (objects, bytes) = totals(ctx, name)?;
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
    let key = BackupKey {
        pair: ctx.pair,
        key: name.to_owned(),
    };
    let mut b = Batch::new();
    b.put::<BackupsSchema>(&key, &r);
    // The restore a verified backup asks for is recorded in the same atomic write: a crash
    // can neither lose it nor ask twice.
    if newly_verified && let Some(hook) = &ctx.options.on_verified {
        let existing = ctx.manifest.get::<RestoresSchema>(&key)?;
        let replaceable = existing.as_ref().is_none_or(|e| {
            e.backup_id != r.backup_id
                && (e.state.is_terminal() || e.state == RestoreState::Requested)
        });
        if replaceable && let Some(rec) = (hook.0)(name, &r) {
            b.put::<RestoresSchema>(&key, &rec);
        }
    }
    ctx.manifest.write_durable(b)?;
    Ok(())
}

/// A backup's manifest rows, a page at a time (bounded memory on huge backups).
struct Rows<'a> {
    ctx: Ctx<'a>,
    prefix: String,
    after: Option<String>,
    done: bool,
}

impl<'a> Rows<'a> {
    fn of(ctx: Ctx<'a>, name: &str) -> Rows<'a> {
        Rows {
            ctx,
            prefix: format!("{name}/"),
            after: None,
            done: false,
        }
    }

    fn next_page(&mut self) -> Result<Option<Vec<(String, ObjectRecord)>>, MirrorError> {
        if self.done {
            return Ok(None);
        }
        let page = self.ctx.manifest.objects_under(
            self.ctx.pair,
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
fn totals(ctx: Ctx<'_>, name: &str) -> Result<(u64, u64), MirrorError> {
    let (mut n, mut bytes) = (0u64, 0u64);
    let mut rows = Rows::of(ctx, name);
    while let Some(page) = rows.next_page()? {
        n += page.len() as u64;
        bytes += page.iter().map(|(_, r)| r.size).sum::<u64>();
    }
    Ok((n, bytes))
}

/// The manifest rows of a backup's data objects: backup-relative key → size.
fn data_rows(ctx: Ctx<'_>, name: &str) -> Result<HashMap<String, u64>, MirrorError> {
    let mut out = HashMap::new();
    let mut rows = Rows::of(ctx, name);
    while let Some(page) = rows.next_page()? {
        for (rel, row) in page {
            if !Gate::holds(&rel) {
                out.insert(rel[name.len() + 1..].to_owned(), row.size);
            }
        }
    }
    Ok(out)
}

async fn settle_one(
    ctx: Ctx<'_>,
    name: &str,
    seen: Seen,
    summary: &mut Summary,
    on_event: &mut OnEvent<'_>,
) -> Result<Outcome, MirrorError> {
    let src = ctx.src;
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
    let listed = match listed {
        Ok(l) => l,
        Err(e) => {
            return Ok(Outcome::new(
                BackupState::Syncing,
                format!("cannot list its meta/ at the source: {e}"),
            ));
        }
    };
    let by_file: HashMap<MetaFile, &ObjectMeta> = listed
        .iter()
        .filter_map(|m| {
            let rel = m.key.get(src.prefix.len()..)?;
            match Part::of(rel)? {
                Part::Meta { file, .. } => Some((file, m)),
                _ => None,
            }
        })
        .collect();
    let generation = match Generation::detect(|f| by_file.contains_key(&f)) {
        Ok(g) => g,
        Err(missing) => {
            return Ok(Outcome::new(
                BackupState::Incomplete,
                format!("waiting for {missing}"),
            ));
        }
    };

    // 2. Its meta, and its data against the meta.
    let meta = match read_meta(ctx.src, name, generation, |f| {
        by_file.get(&f).map(|m| m.size)
    })
    .await
    {
        Ok(m) => m,
        Err(ReadMeta::Store(path, e)) => {
            return Ok(Outcome::new(
                BackupState::Syncing,
                format!("cannot read {path} at the source: {e}"),
            ));
        }
        Err(ReadMeta::Meta(e)) => {
            return Ok(Outcome::new(
                BackupState::Failed,
                format!("{e} (looked at again when it changes)"),
            ));
        }
    };
    let rows = data_rows(ctx, name)?;
    let mut missing = Vec::new();
    let complete = if meta.bundle {
        bundle_complete(ctx, name, &rows).await
    } else {
        let c = Completeness::check(&meta, |k| rows.get(k).copied());
        missing.clone_from(&c.missing);
        Ok(c)
    };
    let complete = match complete {
        Ok(c) => c,
        Err(e) => {
            return Ok(Outcome {
                meta: Some(meta),
                ..Outcome::new(BackupState::Syncing, e)
            });
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
        return Ok(Outcome {
            meta: Some(meta),
            ..Outcome::new(state, what)
        });
    }
    if seen.failed {
        return Ok(Outcome {
            meta: Some(meta),
            ..Outcome::new(
                BackupState::Syncing,
                "some of its objects failed to copy in this run; retried",
            )
        });
    }

    // 3. Meta files, backup_meta.json held for last.
    let announce = format!("{name}/{}", MetaFile::Backup.rel());
    let mut first = Vec::new();
    let mut last = None;
    for m in &listed {
        let Some(rel) = m.key.get(src.prefix.len()..) else {
            continue;
        };
        if rel.ends_with('/') || !ctx.options.selects(rel) {
            continue;
        }
        if rel == announce {
            last = Some(m.clone());
        } else {
            first.push(m.clone());
        }
    }
    let Some(last) = last else {
        return Ok(Outcome {
            meta: Some(meta),
            ..Outcome::new(
                BackupState::Incomplete,
                format!(
                    "{} is not at the source (or excluded)",
                    MetaFile::Backup.rel()
                ),
            )
        });
    };
    if !run_ok(ctx, plan_meta(ctx, first).await?, false, summary, on_event).await {
        return Ok(Outcome {
            meta: Some(meta),
            ..Outcome::new(
                BackupState::Syncing,
                "copying its meta files failed; retried",
            )
        });
    }

    // 4. Read back everything written so far.
    if !verify_all(ctx, name, summary, on_event).await? {
        return Ok(Outcome {
            meta: Some(meta),
            ..Outcome::new(
                BackupState::Syncing,
                "read back from the target: some objects differed or failed and are copied again",
            )
        });
    }

    // 5. Announce.
    if !run_ok(
        ctx,
        plan_meta(ctx, vec![last]).await?,
        false,
        summary,
        on_event,
    )
    .await
    {
        return Ok(Outcome {
            meta: Some(meta),
            ..Outcome::new(
                BackupState::Syncing,
                format!("copying {} failed; retried", MetaFile::Backup.rel()),
            )
        });
    }
    if let Some(row) = ctx.manifest.object(ctx.pair, &announce)? {
        let verify = verify_action(ctx, announce, row);
        if !run_ok(ctx, vec![verify], true, summary, on_event).await {
            return Ok(Outcome {
                meta: Some(meta),
                ..Outcome::new(
                    BackupState::Syncing,
                    format!(
                        "{} read back differently; copied again",
                        MetaFile::Backup.rel()
                    ),
                )
            });
        }
    }
    Ok(Outcome {
        meta: Some(meta),
        ..Outcome::new(BackupState::Verified, "")
    })
}

/// For the bundle format (no file list in the meta): every object under `bundle/` at the
/// source must have a row with its size.
async fn bundle_complete(
    ctx: Ctx<'_>,
    name: &str,
    rows: &HashMap<String, u64>,
) -> Result<Completeness, String> {
    let prefix = ctx.src.key(&format!("{name}/bundle/"));
    let base = ctx.src.key(&format!("{name}/"));
    let mut c = Completeness::default();
    let mut listing = ctx.src.store.list(&prefix, ListOptions::default());
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

/// Plans meta files like the walk would with the target listed: a HEAD of each (a handful per
/// backup settled) repairs meta files deleted or changed at the target and adopts what is
/// already there.
async fn plan_meta(ctx: Ctx<'_>, metas: Vec<ObjectMeta>) -> Result<Vec<Action>, MirrorError> {
    let mut out = Vec::new();
    for m in metas {
        let Some(rel) = m.key.get(ctx.src.prefix.len()..).map(str::to_owned) else {
            continue;
        };
        let row = ctx.manifest.object(ctx.pair, &rel)?;
        let target = match ctx.dst.store.head(&ctx.dst.key(&rel)).await {
            Ok(t) => TargetState::Present(t),
            Err(Error::NotFound { .. }) => TargetState::Absent,
            // Not known: planned from the row alone (a failure shows at the copy).
            Err(_) => TargetState::Unknown,
        };
        out.push(plan(
            Entry {
                rel,
                source: Some(m),
                row,
                target,
            },
            false,
        ));
    }
    Ok(out)
}

/// Runs actions; true when none failed (and, when `reading_back`, none had to be copied
/// again because the target differed or lacked it).
async fn run_ok(
    ctx: Ctx<'_>,
    actions: Vec<Action>,
    reading_back: bool,
    summary: &mut Summary,
    on_event: &mut OnEvent<'_>,
) -> bool {
    let mut ok = true;
    let mut track = |e: Event| {
        if matches!(e, Event::Failed { .. }) {
            ok = false;
        }
        if let Event::Copied { reason, .. } = &e
            && reading_back
            && matches!(reason, Reason::Corrupt | Reason::Missing)
        {
            ok = false;
        }
        on_event(e);
    };
    ctx.run_actions(futures::stream::iter(actions), summary, &mut track)
        .await;
    ok
}

/// Reads back every object of the backup written so far (all but `backup_meta.json`).
async fn verify_all(
    ctx: Ctx<'_>,
    name: &str,
    summary: &mut Summary,
    on_event: &mut OnEvent<'_>,
) -> Result<bool, MirrorError> {
    let announce = format!("{name}/{}", MetaFile::Backup.rel());
    let mut rows = Rows::of(ctx, name);
    let mut ok = true;
    while let Some(page) = rows.next_page()? {
        let actions: Vec<Action> = page
            .into_iter()
            .filter(|(rel, _)| *rel != announce)
            .map(|(rel, row)| verify_action(ctx, rel, row))
            .collect();
        ok &= run_ok(ctx, actions, true, summary, on_event).await;
    }
    Ok(ok)
}

/// Reads a recorded object back (copying it again on a mismatch).
fn verify_action(ctx: Ctx<'_>, rel: String, row: ObjectRecord) -> Action {
    let meta = ObjectMeta {
        key: ctx.src.key(&rel),
        size: row.size,
        last_modified: None,
        e_tag: row.src_etag.clone(),
        version: None,
        storage_class: None,
    };
    Action::Run(Work::Verify { rel, meta, row })
}
