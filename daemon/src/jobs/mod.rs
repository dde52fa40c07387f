//! ferryd's jobs: each job runs the sync engine whenever something may have changed.
//!
//! Work reaches a job as [`Pending`] requests that coalesce: a full scan (polling `interval`,
//! the periodic reconcile that also lists the target, `ferry sync`, a watcher overflow), or a
//! set of keys and prefixes (a watched file, a bucket event). One run at a time per job, so a
//! key is never copied twice at once; jobs are independent tasks sharing one manifest and one
//! global transfer limit. A failed run (listing failed, transient errors) is retried with
//! exponential backoff and jitter; objects that fail permanently are listed in the status and
//! tried again on the next poll.

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;

mod job;
mod runner;

pub use job::{Job, Pending};
pub use runner::{Shared, options, run};

/// The daemon: its config, the shared state and the jobs.
#[derive(Debug)]
pub struct Daemon {
    /// The config it runs.
    pub config: Config,
    /// Shared by the jobs.
    pub shared: Arc<Shared>,
    /// The jobs, in config order.
    pub jobs: Vec<Arc<Job>>,
    /// When it started.
    pub started: Instant,
}

impl Daemon {
    /// A job by name.
    pub fn job(&self, name: &str) -> Option<&Arc<Job>> {
        self.jobs.iter().find(|j| j.name() == name)
    }
}
