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
//!    each file the version the listing named), checks the data against that meta, verifies
//!    the data at the target, and then writes *those bytes* (not whatever the source holds
//!    by then), `backup_meta.json` last, each verified too.
//!
//! Settling, after the walk, for each backup that changed (or is not verified yet):
//!
//! 1. its `meta/` folder is listed at the source: the last-written meta file for its generation
//!    must be there ([`Generation::detect`]), else it is *incomplete*;
//! 2. every meta file is read (the version listed, or it waits) and parsed; every binlog the
//!    meta names must have a manifest row (the target confirmed it) with the meta's size; a
//!    binlog missing at the source, or of another size, makes it *incomplete*; one not copied
//!    yet (a failed copy) keeps it *syncing*;
//! 3. every data object of the backup is verified at the target against the SHA-256 recorded
//!    while copying: proven by a target that refuses bodies not matching their signed
//!    SHA-256 (probed once per pair and day), else read back;
//! 4. the meta files other than `backup_meta.json` are written at once from the validated
//!    bytes (or found identical at the target), each verified the same way;
//! 5. `meta/backup_meta.json` is written **last** from the validated bytes and verified: the
//!    backup is *verified*.

use crate::milvus::layout::Part;
use crate::sync::policy::{Policy, Run, RunPolicy};
use crate::sync::report::{Event, MirrorError, OnEvent, Summary};

mod decide;
mod meta;
mod rows;
mod run;
mod settle;
mod verify;

use decide::*;
use run::*;
pub use run::{Hold, OnVerified, VerifiedHook};
use settle::*;

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
    fn saw(&self, rel: &str, at_source: bool) {
        self.see(rel, at_source);
    }

    fn acts_on(&self, rel: &str) {
        self.touch(rel);
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
