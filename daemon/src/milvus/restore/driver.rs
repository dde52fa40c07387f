//! What fires a restore: one [`Driver`] per kind of trigger (`exec`: a program under a
//! supervisor; `rest`: milvus-backup's REST server). A driver fires a claimed request, or picks
//! up one a killed ferryd left firing or running, and returns how it ended; it moves the
//! record only through [`Firing::advance`] (started, progress), the restorer does the rest.
//! A new kind of trigger (a Zilliz Cloud migration job) is one more driver.

use std::path::Path;

use async_trait::async_trait;
use ferry_state::RestoreRecord;
use tokio_util::sync::CancellationToken;

use super::machine::{Outcome, StepError, Transition};
use super::spec::RestoreConfig;

/// How a firing ended, as far as this process knows.
#[derive(Debug)]
pub(super) enum Fired {
    /// It ended (or its outcome is unknown: failed, for a person to check).
    Done(Outcome, String),
    /// Nothing ran: try again later.
    Later(String),
    /// ferryd is stopping; the record stays as it is for the next one.
    Stopped,
}

/// Fires restores of one kind.
#[async_trait]
pub(super) trait Driver: Send + Sync {
    /// Fires `rec` (claimed: firing) or picks it up (firing or running after a restart), up to
    /// its outcome.
    async fn drive(&self, f: &Firing<'_>, rec: &mut RestoreRecord) -> Result<Fired, StepError>;
}

/// Moves a request's record and writes it (see `machine`).
pub(super) type Advance<'a> =
    dyn Fn(&mut RestoreRecord, Transition) -> Result<(), StepError> + Send + Sync + 'a;

/// One request being fired: what a driver may use.
pub(super) struct Firing<'a> {
    /// The job's name.
    pub(super) job: &'a str,
    /// Its restore settings.
    pub(super) cfg: &'a RestoreConfig,
    /// The backup's folder name.
    pub(super) name: &'a str,
    /// `<state_dir>/restores`: exec specs, logs, results.
    pub(super) dir: &'a Path,
    /// This executable (it runs the exec supervisor).
    pub(super) exe: &'a Path,
    /// ferryd's shutdown.
    pub(super) shutdown: &'a CancellationToken,
    /// The restorer's writer of transitions.
    pub(super) advance: &'a Advance<'a>,
}

impl Firing<'_> {
    /// Moves the record (written before what follows; see `machine`).
    pub(super) fn advance(&self, rec: &mut RestoreRecord, t: Transition) -> Result<(), StepError> {
        (self.advance)(rec, t)
    }

    /// The job's name.
    pub(super) fn job(&self) -> &str {
        self.job
    }

    /// ferryd's shutdown.
    pub(super) fn shutdown(&self) -> &CancellationToken {
        self.shutdown
    }

    /// `<state_dir>/restores`.
    pub(super) fn dir(&self) -> &Path {
        self.dir
    }

    /// This executable (it runs the exec supervisor).
    pub(super) fn exe(&self) -> &Path {
        self.exe
    }
}
