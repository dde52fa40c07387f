//! What fires a restore: one [`Driver`] per kind of trigger (`exec`: a program under a
//! supervisor; `rest`: milvus-backup's REST server). A driver fires a claimed request, or picks
//! up one a killed ferryd left firing or running, and returns how it ended; it moves the
//! record only through [`Firing::advance`] (started, progress), the restorer does the rest.
//! `zilliz-cloud`: a Zilliz Cloud migration job (`zilliz_trigger`).

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
    /// The job's target (the backup's files, for an upload into a volume).
    pub(super) target: Option<&'a crate::sync::side::Side>,
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

/// The bookkeeping of a restore that is polled to its end: the time polled, by a monotonic
/// clock added up across restarts (`elapsed_ms`: a wall clock that jumps cannot fail a restore
/// that still runs), and the failed polls in a row (backoff).
pub(super) struct Polling {
    started: std::time::Instant,
    before: u64,
    limit: u64,
    /// Failed polls in a row.
    pub(super) failures: u32,
}

impl Polling {
    /// Starts counting for `rec` under the trigger's timeout.
    pub(super) fn new(f: &Firing<'_>, rec: &RestoreRecord) -> Polling {
        Polling {
            started: std::time::Instant::now(),
            before: rec.elapsed_ms,
            limit: u64::try_from(f.cfg.timeout.as_millis()).unwrap_or(u64::MAX),
            failures: 0,
        }
    }

    /// After a poll: records `progress` and the time polled; past the timeout, the restore
    /// fails with `timed_out(timeout)`; else waits `poll` (or the backoff after failures).
    /// `None`: poll again.
    pub(super) async fn next(
        &self,
        f: &Firing<'_>,
        rec: &mut RestoreRecord,
        progress: u8,
        poll: std::time::Duration,
        timed_out: impl FnOnce(String) -> String,
    ) -> Result<Option<Fired>, StepError> {
        let ran = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        f.advance(
            rec,
            Transition::Progress {
                progress,
                elapsed_ms: self.before.saturating_add(ran),
            },
        )?;
        if rec.elapsed_ms > self.limit {
            let limit = humantime::format_duration(f.cfg.timeout).to_string();
            return Ok(Some(Fired::Done(Outcome::Failed, timed_out(limit))));
        }
        let wait = if self.failures > 0 {
            crate::retry::daemon_delay(self.failures).min(std::time::Duration::from_secs(60))
        } else {
            poll
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => Ok(None),
            _ = f.shutdown().cancelled() => Ok(Some(Fired::Stopped)),
        }
    }
}
