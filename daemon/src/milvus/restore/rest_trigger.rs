//! The `milvus-backup-rest` trigger's driver: `POST /api/v1/restore` with a deterministic id,
//! then `GET /api/v1/get_restore?id=` until an outcome. A firing request asks the server for
//! its id before posting (an earlier POST may have arrived); a running one the server forgot
//! (it restarted) is failed, never posted again.

use std::time::Duration;

use async_trait::async_trait;
use ferry_state::{RestoreRecord, RestoreState};

use super::driver::{Driver, Fired, Firing, Polling};
use super::machine::{Outcome, StepError, Transition};
use crate::milvus::rest::TaskCode;

/// Restores through a milvus-backup REST server.
pub(super) struct RestTrigger<'a> {
    pub(super) url: &'a str,
    pub(super) poll: Duration,
}

#[async_trait]
impl Driver for RestTrigger<'_> {
    async fn drive(&self, f: &Firing<'_>, rec: &mut RestoreRecord) -> Result<Fired, StepError> {
        let client = match crate::milvus::rest::RestClient::new(self.url) {
            Ok(c) => c,
            Err(e) => return Ok(Fired::Done(Outcome::Failed, e.to_string())),
        };
        if rec.state == RestoreState::Firing {
            // Claimed: did a POST of this id arrive already (an earlier attempt whose answer
            // was lost, or a ferryd stopped after posting)? Ask before posting.
            match client.get_restore(&rec.id).await {
                Ok(crate::milvus::rest::Task::Known(_)) => {
                    tracing::info!(job = %f.job(), backup = %f.name, id = %rec.id, "the restore server already has this restore; polling it");
                    f.advance(
                        rec,
                        Transition::Started {
                            pid: None,
                            job_ref: None,
                        },
                    )?;
                }
                Ok(crate::milvus::rest::Task::NotFound(_)) => {}
                Err(e) => return Ok(Fired::Later(e.to_string())),
            }
        } else {
            tracing::info!(job = %f.job(), backup = %f.name, id = %rec.id, "polling a restore started before ferryd restarted");
        }
        if rec.state != RestoreState::Running {
            let request = crate::milvus::rest::RestoreRequest {
                id: rec.id.clone(),
                backup_name: f.name.to_owned(),
                collection_suffix: rec.suffix.clone(),
                collection_renames: rec.renames.clone(),
                bucket_name: f.cfg.bucket.clone(),
                path: f.cfg.path.clone(),
            };
            match client.restore(&request).await {
                Ok(()) => {
                    f.advance(
                        rec,
                        Transition::Started {
                            pid: None,
                            job_ref: None,
                        },
                    )?;
                    tracing::info!(job = %f.job(), backup = %f.name, id = %rec.id, "restore accepted by the server");
                }
                Err(e) if e.is_transient() => return Ok(Fired::Later(e.to_string())),
                Err(e) => return Ok(Fired::Done(Outcome::Failed, e.to_string())),
            }
        }
        // Running: poll until an outcome. The deadline counts the time this restore has been
        // polled, by a monotonic clock, added up across restarts (`elapsed_ms`): a wall clock
        // that jumps cannot fail a restore the server still runs.
        let mut polling = Polling::new(f, rec);
        let mut progress = rec.progress;
        loop {
            match client.get_restore(&rec.id).await {
                Ok(crate::milvus::rest::Task::Known(t)) => {
                    polling.failures = 0;
                    match t.state {
                        TaskCode::Success => {
                            return Ok(Fired::Done(Outcome::Restored, "SUCCESS".into()));
                        }
                        TaskCode::Fail => {
                            return Ok(Fired::Done(
                                Outcome::Failed,
                                format!("the server reports FAIL: {}", t.error_message),
                            ));
                        }
                        TaskCode::Timeout => {
                            return Ok(Fired::Done(
                                Outcome::Failed,
                                format!("the server reports TIMEOUT: {}", t.error_message),
                            ));
                        }
                        TaskCode::Initial | TaskCode::Executing | TaskCode::Other(_) => {
                            progress = u8::try_from(t.progress.clamp(0, 100)).unwrap_or(0);
                        }
                    }
                }
                Ok(crate::milvus::rest::Task::NotFound(msg)) => {
                    return Ok(Fired::Done(
                        Outcome::Failed,
                        format!(
                            "the restore server no longer knows task {} ({msg}): it restarted and forgot it; the restore's outcome is unknown. Check Milvus, then `ferry restore retry {}`",
                            rec.id, rec.id
                        ),
                    ));
                }
                Err(e) => {
                    polling.failures += 1;
                    tracing::warn!(job = %f.job(), id = %rec.id, error = %e, "polling the restore failed; polling on");
                }
            }
            let id = rec.id.clone();
            if let Some(fired) = polling
                .next(f, rec, progress, self.poll, |limit| {
                    format!(
                        "no outcome after {limit} of polling; the restore may still run on the server: check Milvus, then `ferry restore retry {id}`"
                    )
                })
                .await?
            {
                return Ok(fired);
            }
        }
    }
}
