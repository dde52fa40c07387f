//! What a run reports: an event per object (and per unit of a policy), the totals, and the
//! failures that stop a run.

use ferry_state::StateError;

use super::plan::Reason;
use super::transfer::Method;
use crate::backend::Error;

/// Receives each object's outcome.
pub type OnEvent<'a> = dyn FnMut(Event) + Send + 'a;

/// What happened, object by object.
#[derive(Debug)]
pub enum Event {
    /// Copied (or, in a dry run, would be).
    Copied {
        /// Source, for messages.
        source: String,
        /// Target, for messages.
        target: String,
        /// Bytes.
        size: u64,
        /// `None` in a dry run.
        method: Option<Method>,
        /// Why.
        reason: Reason,
    },
    /// Already at the target with the same content, not written by ferry: recorded, not copied.
    Adopted {
        /// Target, for messages.
        target: String,
    },
    /// Read back from the target: same SHA-256 as the source.
    Verified {
        /// Target, for messages.
        target: String,
        /// Bytes read back from the target to verify it.
        size: u64,
    },
    /// Deleted at the target (or would be).
    Deleted {
        /// Target, for messages.
        target: String,
    },
    /// This object failed.
    Failed {
        /// Source or target, for messages.
        path: String,
        /// Why.
        error: ObjectError,
    },
    /// Not written or deleted: the policy holds its unit at the target; the unit is reported
    /// once with [`Event::UnitHeld`].
    Held {
        /// Target, for messages.
        path: String,
        /// Its unit (a backup's folder name).
        unit: String,
    },
    /// A unit left as it is at the target in this run, and why.
    UnitHeld {
        /// Its name.
        unit: String,
        /// Why, one line.
        why: String,
    },
    /// The policy finished a unit (with [`MirrorOptions::policy`]).
    Unit {
        /// Its name.
        unit: String,
        /// Where it stands (a word: `verified`, `syncing` …).
        state: &'static str,
        /// What is missing or wrong; empty when done.
        detail: String,
        /// What its verification rested on (zeros unless verified in this run).
        evidence: ferry_state::Evidence,
    },
}

/// Totals of a run.
#[derive(Debug, Default)]
pub struct Summary {
    /// Objects copied.
    pub copied: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Objects unchanged (no copy; no request at all unless the target was listed or verified).
    pub unchanged: u64,
    /// Objects found at the target with the source's content and recorded without a copy.
    pub adopted: u64,
    /// Objects read back from the target with the right SHA-256.
    pub verified: u64,
    /// Bytes of those objects: what verifying read from the target.
    pub read_back_bytes: u64,
    /// Objects deleted at the target.
    pub deleted: u64,
    /// Objects gone at the source but kept at the target (no `remove`).
    pub kept: u64,
    /// Objects that failed.
    pub failed: u64,
    /// Objects listed at the source.
    pub source_objects: u64,
    /// Objects listed at the source that the include/exclude filters left out (neither copied
    /// nor deleted): a filter that matches nothing shows here.
    pub skipped: u64,
    /// The target was listed (`check_target`, or the pair's first run).
    pub target_listed: bool,
    /// Keys named to `mirror_keys` that are gone at the source (a full scan decides what to
    /// delete).
    pub gone: u64,
    /// The run was cancelled before the end: nothing was deleted.
    pub cancelled: bool,
    /// Listing the source failed: nothing was deleted.
    pub scan_error: Option<Error>,
    /// Listing the target failed: nothing was deleted.
    pub target_scan_error: Option<Error>,
    /// Deletions refused by a safety rule.
    pub delete_refused: Option<String>,
    /// Units looked at in this run and not finished at the target (a backup incomplete,
    /// failed, or still syncing): what the policy holds back stays back.
    pub units_pending: u64,
    /// Objects not written or deleted because their unit is held at the target.
    pub held: u64,
    /// Units left as they are at the target, and why (for a backup: a source that is not
    /// whole under an announced backup, a running restore): the run is not a success.
    pub held_units: Vec<(String, String)>,
}

impl Summary {
    /// Adds the counts of work run apart (a policy's own actions, one backup's settling):
    /// copies, adoptions, read-backs, failures, held objects, units pending or held.
    pub fn add(&mut self, part: &Summary) {
        self.copied += part.copied;
        self.bytes += part.bytes;
        self.adopted += part.adopted;
        self.verified += part.verified;
        self.read_back_bytes += part.read_back_bytes;
        self.failed += part.failed;
        self.held += part.held;
        self.units_pending += part.units_pending;
        self.held_units.extend(part.held_units.iter().cloned());
    }

    /// True when everything listed was mirrored.
    pub fn ok(&self) -> bool {
        self.failed == 0
            && !self.cancelled
            && self.scan_error.is_none()
            && self.target_scan_error.is_none()
            && self.delete_refused.is_none()
            && self.held_units.is_empty()
    }
}

/// Failures that stop a mirror before it starts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MirrorError {
    /// The manifest failed.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Why one object failed: the store, the manifest, or a conflict at the target.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] Error),
    /// Its manifest record could not be written: retried (transient) when the disk under the
    /// manifest failed, since the manifest reopens once it is fixed.
    #[error("{path}: cannot record it in the manifest")]
    Manifest {
        /// The object.
        path: String,
        /// Why.
        #[source]
        source: StateError,
    },
    /// At the target with other content, not written by ferry: left as it is.
    #[error(
        "{path}: already exists: it was not written by ferry and differs from the source; not overwritten (use --overwrite)"
    )]
    Conflict {
        /// The target object.
        path: String,
    },
}

impl ObjectError {
    /// Worth retrying later (by the next run).
    pub fn is_transient(&self) -> bool {
        match self {
            ObjectError::Store(e) => e.is_transient(),
            ObjectError::Manifest { source, .. } => source.is_io(),
            ObjectError::Conflict { .. } => false,
        }
    }
}

/// An object's manifest record could not be written.
pub(crate) fn manifest_error(path: String, e: StateError) -> ObjectError {
    ObjectError::Manifest { path, source: e }
}
