//! What one run saw of each backup, and what it decided: the gate's bookkeeping.

use std::sync::Arc;

use ferry_state::{BackupRecord, RestoreRecord};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use ferry_state::schema::BackupKey;

use crate::milvus::layout::{MetaFile, Part};
use crate::sync::policy::Run;
use crate::sync::report::ObjectError;

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
pub(super) enum Decision {
    /// Writes and deletions may go ahead (not announced, or hidden in this run).
    Open,
    /// Left as it is.
    Held(Hold),
}

/// What one run saw of each backup.
#[derive(Debug, Default)]
pub(super) struct Gate<'p> {
    /// The policy's hook.
    pub(super) on_verified: Option<&'p OnVerified>,
    pub(super) seen: Mutex<BTreeMap<String, Seen>>,
    /// Per backup, whether it may be changed in this run (decided at its first change, once:
    /// later writers of the same backup wait for that decision; other backups do not).
    pub(super) decisions: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Decision>>>>,
    /// Announcements deleted at the target in this run (relative keys), reported at the end.
    pub(super) hidden: Mutex<Vec<String>>,
    /// Whether the target refuses bodies that do not match their signed SHA-256 (looked up
    /// in the manifest, or probed, once per run when a backup is verified).
    pub(super) target_checks: tokio::sync::OnceCell<bool>,
}

#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Seen {
    /// Something of it was copied, held, or failed in this run.
    pub(super) dirty: bool,
    /// A copy into it failed in this run.
    pub(super) failed: bool,
    /// Some object of it is at the source.
    pub(super) at_source: bool,
}

impl Gate<'_> {
    /// Updates the backup `rel` belongs to (no allocation once the backup is known: keys of
    /// one backup come one after the other, and this runs for every key of the walk).
    pub(super) fn mark(&self, rel: &str, f: impl FnOnce(&mut Seen)) {
        let Some(part) = Part::of(rel) else { return };
        let mut seen = crate::lock::lock(&self.seen);
        match seen.get_mut(part.name()) {
            Some(s) => f(s),
            None => f(seen.entry(part.name().to_owned()).or_default()),
        }
    }

    /// Notes a key of the walk; `at_source` when the source has it.
    pub(super) fn see(&self, rel: &str, at_source: bool) {
        self.mark(rel, |s| s.at_source |= at_source);
    }

    /// Notes a key something is done for (a copy, a check, a held meta file, a deletion).
    pub(super) fn touch(&self, rel: &str) {
        self.mark(rel, |s| s.dirty = true);
    }

    /// Whether the walk's work for `rel` is held back until its backup is settled.
    pub(super) fn holds(rel: &str) -> bool {
        Part::of(rel).is_some_and(|p| p.is_meta())
    }

    /// Notes a failed object.
    pub(super) fn note_failed(&self, rel: &str) {
        self.mark(rel, |s| {
            s.dirty = true;
            s.failed = true;
        });
    }

    pub(super) fn snapshot(&self) -> BTreeMap<String, Seen> {
        crate::lock::lock(&self.seen).clone()
    }

    pub(super) fn at_source(&self, name: &str) -> bool {
        crate::lock::lock(&self.seen)
            .get(name)
            .is_some_and(|s| s.at_source)
    }

    /// The backups held in this run, by name.
    pub(super) fn held(&self) -> BTreeMap<String, Hold> {
        crate::lock::lock(&self.decisions)
            .iter()
            .filter_map(|(n, d)| match d.get() {
                Some(Decision::Held(h)) => Some((n.clone(), h.clone())),
                Some(Decision::Open) | None => None,
            })
            .collect()
    }

    /// The decision made for backup `name` in this run, if one was.
    pub(super) fn decision(&self, name: &str) -> Option<Decision> {
        crate::lock::lock(&self.decisions)
            .get(name)
            .and_then(|d| d.get().cloned())
    }
}

pub(super) fn announce_rel(name: &str) -> String {
    format!("{name}/{}", MetaFile::Backup.rel())
}

pub(super) fn backup_key(run: Run<'_>, name: &str) -> BackupKey {
    BackupKey {
        pair: run.pair(),
        key: name.to_owned(),
    }
}

pub(super) fn state_error(run: Run<'_>, rel: &str, e: ferry_state::StateError) -> ObjectError {
    run.manifest_error(rel, e)
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
