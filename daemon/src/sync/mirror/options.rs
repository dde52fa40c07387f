//! How to mirror: what may be deleted, read back, replaced, and how much runs at once.

use std::sync::Arc;

use crate::sync::filter::MaxDelete;
use crate::sync::policy::Policy;
use crate::sync::transfer::TransferConfig;

/// How to mirror.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// Delete target objects whose source is gone.
    pub remove: bool,
    /// Report, change nothing (neither stores nor manifest).
    pub dry_run: bool,
    /// When set, only relative keys matching one of these are mirrored (others are ignored:
    /// neither copied nor deleted).
    pub include: Option<globset::GlobSet>,
    /// Relative keys matching any of these are ignored (neither copied nor deleted).
    pub exclude: globset::GlobSet,
    /// Refuse deleting more than this without `force`.
    pub max_delete: Option<MaxDelete>,
    /// Override `max_delete` and the empty-source guard.
    pub force: bool,
    /// List the target too and repair drift (objects deleted or changed behind ferry's back).
    pub check_target: bool,
    /// Read back target objects (unchanged ones and fresh copies) and compare SHA-256.
    pub verify: bool,
    /// Replace target objects that ferry did not write and whose content differs.
    pub overwrite: bool,
    /// Objects copied at once.
    pub workers: usize,
    /// Shared by several mirrors (ferryd's jobs): one permit per object in flight.
    pub permits: Option<Arc<tokio::sync::Semaphore>>,
    /// Stops the run: nothing new starts, work in flight finishes, nothing is deleted.
    pub cancel: Option<tokio_util::sync::CancellationToken>,
    /// How units of keys are treated (a milvus-backup backup root: each backup reaches the
    /// target whole, meta last; see `milvus::gate`). `None`: a plain mirror.
    pub policy: Option<Arc<dyn Policy>>,
    /// Transfer settings.
    pub transfer: TransferConfig,
}

impl MirrorOptions {
    /// Whether a relative key takes part in the mirror.
    pub fn selects(&self, rel: &str) -> bool {
        self.include.as_ref().is_none_or(|i| i.is_match(rel)) && !self.exclude.is_match(rel)
    }

    /// The same options with a run-wide pool of `workers` object permits when none is shared
    /// (`None`: one is already): work the policy runs by itself (several backups settled at
    /// once, each reading back) then shares the run's bound instead of multiplying it.
    pub(crate) fn bounded(&self) -> Option<MirrorOptions> {
        self.permits.is_none().then(|| MirrorOptions {
            permits: Some(Arc::new(tokio::sync::Semaphore::new(self.workers.max(1)))),
            ..self.clone()
        })
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.is_cancelled())
    }
}

impl Default for MirrorOptions {
    /// A plain mirror: copies, deletes nothing, 8 objects at once, no filters.
    fn default() -> Self {
        MirrorOptions {
            remove: false,
            dry_run: false,
            include: None,
            exclude: globset::GlobSet::empty(),
            max_delete: None,
            force: false,
            check_target: false,
            verify: false,
            overwrite: false,
            workers: 8,
            permits: None,
            cancel: None,
            policy: None,
            transfer: TransferConfig::default(),
        }
    }
}
