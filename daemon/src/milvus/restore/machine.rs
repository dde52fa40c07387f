//! The exactly-once state machine of one restore request. Each transition changes the record
//! and is written (durably, but for progress) **before** the side effect it precedes, so that
//! after a crash the record says what may have happened:
//!
//! | from | transition | to | written before |
//! |---|---|---|---|
//! | requested | [`Transition::Wait`] | requested | — (why it waits: its backup is not verified) |
//! | requested | [`Transition::Skip`] | skipped | — (its backup id left the target: never fires) |
//! | requested | [`Transition::Claim`] | firing | the driver starts anything (a supervisor, a POST) |
//! | firing | [`Transition::Expect`] | firing | the trigger fires (the backup's row counts, for the count check) |
//! | firing | [`Transition::Step`] | firing | the step's side effect (a volume upload; the start request) |
//! | firing | [`Transition::Started`] | running | waiting on it (the supervisor's pid; the server accepted it; its job id) |
//! | firing | [`Transition::PutOff`] | requested | — (nothing ran: safe to fire again later) |
//! | running | [`Transition::Progress`] | running | — (not durable: losing it costs nothing) |
//! | firing, running | [`Transition::End`] | restored, verifying, failed | the job may change the backup again |
//! | verifying | [`Transition::CountLater`] | verifying | — (the Milvus endpoint did not answer) |
//! | verifying | [`Transition::Counted`] | verified, count-mismatch, verify-failed | — |
//! | requested, firing, running | [`Transition::Unconfigured`] | failed | — (the trigger was removed) |
//! | verifying | [`Transition::Unconfigured`] | verify-failed | — (the count check was removed) |
//!
//! A driver (`exec`, `rest`) never sets a state itself: it returns what happened and the
//! restorer applies the transition. Any other move is an [`IllegalTransition`], an error,
//! never a silent change.

use ferry_state::{CollectionCount, RestoreRecord, RestoreState, RestoreStep, StateError};

use crate::clock::now_ms;

/// How a restore ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It ran and succeeded.
    Restored,
    /// It ran and succeeded; the row counts are compared next.
    Verify,
    /// It failed, or its outcome is unknown (a person checks Milvus and retries).
    Failed,
}

/// One move of a restore record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Transition {
    /// Still waiting for its backup.
    Wait {
        /// Why.
        detail: String,
    },
    /// It can never fire: the target holds another id of its backup now.
    Skip {
        /// Why.
        detail: String,
    },
    /// It fires now, for `backup_id` (its restore id `id`, given now when it had none).
    Claim {
        /// The restore id.
        id: String,
        /// The backup id verified at the target.
        backup_id: String,
    },
    /// The backup's row counts, read before the trigger fires, for the count check after it.
    Expect {
        /// Per restored collection, `actual` not known yet.
        counts: Vec<CollectionCount>,
    },
    /// A multi-step trigger moves on to `step`.
    Step {
        /// The next step.
        step: RestoreStep,
    },
    /// The driver started it (a supervisor's pid, or the server accepted it).
    Started {
        /// The supervisor's process id (exec triggers).
        pid: Option<i64>,
        /// The job the service started (a Zilliz Cloud job id).
        job_ref: Option<String>,
    },
    /// Polling: progress and time spent, by a monotonic clock added up across restarts.
    Progress {
        /// 0–100.
        progress: u8,
        /// Milliseconds polled so far.
        elapsed_ms: u64,
    },
    /// Nothing ran: fire again at `next_try_ms`.
    PutOff {
        /// When (ms since the epoch).
        next_try_ms: i64,
        /// Why.
        detail: String,
    },
    /// It ended.
    End {
        /// How.
        outcome: Outcome,
        /// What happened.
        detail: String,
    },
    /// The counts could not be read yet: try again at `next_try_ms`.
    CountLater {
        /// When (ms since the epoch).
        next_try_ms: i64,
        /// Why.
        detail: String,
    },
    /// The counts were compared.
    Counted {
        /// What the comparison found.
        outcome: CountOutcome,
        /// Each collection with both numbers.
        counts: Vec<CollectionCount>,
        /// What happened.
        detail: String,
    },
    /// The job no longer has a restore trigger.
    Unconfigured,
}

/// What a count check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CountOutcome {
    /// Every restored collection holds the backup's rows.
    Verified,
    /// A collection's count differs.
    Mismatch,
    /// The counts could not be compared.
    Failed,
}

/// A transition that is not one from the record's state: a bug, reported, never applied.
#[derive(Debug, thiserror::Error)]
#[error("restore {id}: {transition} is not a move from {from}")]
pub struct IllegalTransition {
    /// The restore.
    pub id: String,
    /// Its state.
    pub from: &'static str,
    /// The move asked for.
    pub transition: &'static str,
}

/// What can stop a restore step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The manifest failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A move the machine does not have.
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
}

impl Transition {
    /// Its name, for errors.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Transition::Wait { .. } => "wait",
            Transition::Skip { .. } => "skip",
            Transition::Claim { .. } => "claim",
            Transition::Expect { .. } => "expect",
            Transition::Step { .. } => "step",
            Transition::Started { .. } => "started",
            Transition::Progress { .. } => "progress",
            Transition::PutOff { .. } => "put off",
            Transition::End { .. } => "end",
            Transition::CountLater { .. } => "count later",
            Transition::Counted { .. } => "counted",
            Transition::Unconfigured => "unconfigured",
        }
    }

    /// Whether the record must be on disk before the side effect that follows.
    pub(crate) fn durable(&self) -> bool {
        !matches!(
            self,
            Transition::Progress { .. } | Transition::CountLater { .. }
        )
    }

    /// Applies it to `rec`, or refuses it (`rec` unchanged).
    pub(crate) fn apply(self, rec: &mut RestoreRecord) -> Result<(), IllegalTransition> {
        use RestoreState as S;
        let allowed = match (&self, rec.state) {
            (
                Transition::Wait { .. } | Transition::Skip { .. } | Transition::Claim { .. },
                S::Requested,
            ) => true,
            (
                Transition::Expect { .. }
                | Transition::Step { .. }
                | Transition::Started { .. }
                | Transition::PutOff { .. },
                S::Firing,
            ) => true,
            (Transition::CountLater { .. } | Transition::Counted { .. }, S::Verifying) => true,
            (Transition::Progress { .. }, S::Running) => true,
            (Transition::End { .. }, S::Firing | S::Running) => true,
            (Transition::Unconfigured, s) => !s.is_terminal(),
            _ => false,
        };
        if !allowed {
            return Err(IllegalTransition {
                id: rec.id.clone(),
                from: rec.state.as_str(),
                transition: self.name(),
            });
        }
        match self {
            Transition::Wait { detail } => rec.detail = detail,
            Transition::Skip { detail } => {
                rec.state = S::Skipped;
                rec.ended_ms = Some(now_ms());
                rec.detail = detail;
            }
            Transition::Claim { id, backup_id } => {
                rec.id = id;
                rec.backup_id = backup_id;
                rec.attempts += 1;
                rec.state = S::Firing;
                rec.fired_ms = Some(now_ms());
                rec.pid = None;
                rec.detail = String::new();
            }
            Transition::Expect { counts } => rec.counts = counts,
            Transition::Step { step } => rec.step = step,
            Transition::Started { pid, job_ref } => {
                rec.state = S::Running;
                if pid.is_some() {
                    rec.pid = pid;
                }
                if job_ref.is_some() {
                    rec.job_ref = job_ref;
                }
            }
            Transition::Progress {
                progress,
                elapsed_ms,
            } => {
                rec.progress = progress.min(100);
                rec.elapsed_ms = elapsed_ms;
            }
            Transition::PutOff {
                next_try_ms,
                detail,
            } => {
                rec.state = S::Requested;
                rec.step = RestoreStep::None;
                rec.next_try_ms = Some(next_try_ms);
                rec.detail = detail;
            }
            Transition::End { outcome, detail } => {
                rec.state = match outcome {
                    Outcome::Restored => S::Restored,
                    Outcome::Verify => S::Verifying,
                    Outcome::Failed => S::Failed,
                };
                rec.detail = detail;
                rec.ended_ms = Some(now_ms());
                rec.next_try_ms = None;
            }
            Transition::CountLater {
                next_try_ms,
                detail,
            } => {
                rec.next_try_ms = Some(next_try_ms);
                rec.detail = detail;
            }
            Transition::Counted {
                outcome,
                counts,
                detail,
            } => {
                rec.state = match outcome {
                    CountOutcome::Verified => S::Verified,
                    CountOutcome::Mismatch => S::CountMismatch,
                    CountOutcome::Failed => S::VerifyFailed,
                };
                rec.counts = counts;
                rec.detail = detail;
                rec.next_try_ms = None;
            }
            Transition::Unconfigured => {
                rec.ended_ms.get_or_insert_with(now_ms);
                if rec.state == S::Verifying {
                    rec.state = S::VerifyFailed;
                    rec.detail = "the job no longer has a count check configured".into();
                } else {
                    rec.state = S::Failed;
                    rec.detail = "the job no longer has a restore trigger configured".into();
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_state::RestoreOrigin;

    fn requested() -> RestoreRecord {
        RestoreRecord {
            id: String::new(),
            backup_id: String::new(),
            state: RestoreState::Requested,
            origin: RestoreOrigin::Config,
            suffix: None,
            renames: Vec::new(),
            attempts: 0,
            requested_ms: 1,
            fired_ms: None,
            ended_ms: None,
            next_try_ms: None,
            pid: None,
            progress: 0,
            detail: String::new(),
            elapsed_ms: 0,
            step: ferry_state::RestoreStep::None,
            job_ref: None,
            counts: Vec::new(),
        }
    }

    fn claim() -> Transition {
        Transition::Claim {
            id: "r1".into(),
            backup_id: "b1".into(),
        }
    }

    #[test]
    fn a_restore_goes_requested_firing_running_restored() {
        let mut r = requested();
        claim().apply(&mut r).expect("claim");
        assert_eq!(
            (r.state, r.attempts, r.id.as_str()),
            (RestoreState::Firing, 1, "r1")
        );
        Transition::Started {
            pid: Some(42),
            job_ref: None,
        }
        .apply(&mut r)
        .expect("started");
        assert_eq!((r.state, r.pid), (RestoreState::Running, Some(42)));
        Transition::Progress {
            progress: 250,
            elapsed_ms: 10,
        }
        .apply(&mut r)
        .expect("progress");
        assert_eq!(r.progress, 100);
        Transition::End {
            outcome: Outcome::Restored,
            detail: "SUCCESS".into(),
        }
        .apply(&mut r)
        .expect("end");
        assert_eq!(r.state, RestoreState::Restored);
        assert!(r.ended_ms.is_some());
    }

    #[test]
    fn a_counted_restore_goes_verifying_then_verified_or_count_mismatch() {
        for (outcome, state) in [
            (CountOutcome::Verified, RestoreState::Verified),
            (CountOutcome::Mismatch, RestoreState::CountMismatch),
            (CountOutcome::Failed, RestoreState::VerifyFailed),
        ] {
            let mut r = requested();
            claim().apply(&mut r).expect("claim");
            let counts = vec![CollectionCount {
                collection: "default.c1_bak".into(),
                expected: 10,
                actual: None,
            }];
            Transition::Expect {
                counts: counts.clone(),
            }
            .apply(&mut r)
            .expect("expect");
            Transition::End {
                outcome: Outcome::Verify,
                detail: "ok".into(),
            }
            .apply(&mut r)
            .expect("end");
            assert_eq!((r.state, r.counts.len()), (RestoreState::Verifying, 1));
            assert!(!r.state.is_terminal() && r.state.restored() && !r.state.is_active());
            Transition::CountLater {
                next_try_ms: 5,
                detail: "unreachable".into(),
            }
            .apply(&mut r)
            .expect("later");
            Transition::Counted {
                outcome,
                counts: vec![CollectionCount {
                    actual: Some(9),
                    ..counts[0].clone()
                }],
                detail: "d".into(),
            }
            .apply(&mut r)
            .expect("counted");
            assert_eq!((r.state, r.counts[0].actual), (state, Some(9)));
            assert!(r.state.is_terminal() && r.state.restored());
        }
    }

    #[test]
    fn put_off_goes_back_to_requested_and_fires_again_with_another_attempt() {
        let mut r = requested();
        claim().apply(&mut r).expect("claim");
        Transition::PutOff {
            next_try_ms: 99,
            detail: "unreachable".into(),
        }
        .apply(&mut r)
        .expect("put off");
        assert_eq!(
            (r.state, r.next_try_ms),
            (RestoreState::Requested, Some(99))
        );
        claim().apply(&mut r).expect("claim again");
        assert_eq!(r.attempts, 2);
    }

    #[test]
    fn every_other_move_is_refused_and_changes_nothing() {
        let all = |outcome| {
            vec![
                Transition::Wait { detail: "w".into() },
                Transition::Skip { detail: "s".into() },
                claim(),
                Transition::Expect { counts: Vec::new() },
                Transition::Step {
                    step: RestoreStep::Preparing,
                },
                Transition::Started {
                    pid: None,
                    job_ref: None,
                },
                Transition::Progress {
                    progress: 1,
                    elapsed_ms: 1,
                },
                Transition::PutOff {
                    next_try_ms: 1,
                    detail: "p".into(),
                },
                Transition::End {
                    outcome,
                    detail: "e".into(),
                },
                Transition::CountLater {
                    next_try_ms: 1,
                    detail: "l".into(),
                },
                Transition::Counted {
                    outcome: CountOutcome::Mismatch,
                    counts: Vec::new(),
                    detail: "c".into(),
                },
                Transition::Unconfigured,
            ]
        };
        let legal: &[(RestoreState, &[&str])] = &[
            (
                RestoreState::Requested,
                &["wait", "skip", "claim", "unconfigured"],
            ),
            (
                RestoreState::Firing,
                &[
                    "expect",
                    "step",
                    "started",
                    "put off",
                    "end",
                    "unconfigured",
                ],
            ),
            (RestoreState::Running, &["progress", "end", "unconfigured"]),
            (RestoreState::Restored, &[]),
            (RestoreState::Failed, &[]),
            (RestoreState::Skipped, &[]),
            (
                RestoreState::Verifying,
                &["count later", "counted", "unconfigured"],
            ),
            (RestoreState::Verified, &[]),
            (RestoreState::CountMismatch, &[]),
            (RestoreState::VerifyFailed, &[]),
        ];
        for (state, ok) in legal {
            for t in all(Outcome::Failed) {
                let mut r = requested();
                r.state = *state;
                let before = r.clone();
                let name = t.name();
                match t.apply(&mut r) {
                    Ok(()) => assert!(ok.contains(&name), "{name} from {state:?} was applied"),
                    Err(e) => {
                        assert!(!ok.contains(&name), "{name} from {state:?} refused: {e}");
                        assert_eq!(r, before, "a refused move changed the record");
                    }
                }
            }
        }
    }
}
