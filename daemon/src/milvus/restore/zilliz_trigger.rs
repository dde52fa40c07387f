//! The `zilliz-cloud` trigger's driver: a Zilliz Cloud migration job from the backup's files,
//! followed to its end.
//!
//! Steps of a firing request, each recorded before its side effect:
//! - `preparing` (volume mode): apply for a volume and upload the verified backup folder into it
//!   (`volume`); safe to do again, and done again after a crash, sending only what is missing.
//! - `starting`: `POST /v2/migrations/startByRemote`. Its answer carries the job id, recorded as
//!   the request goes `restoring`. Zilliz Cloud has no idempotency key and no job list, so a
//!   ferryd that finds a request still `starting` (it stopped between sending the start and
//!   recording the id) cannot tell whether a job started: it fails the request, "outcome
//!   unknown", for a person to look in the console's Job center and `ferry restore retry ID`.
//!   Never a second start by itself. A start that was refused (an answer with a failure code)
//!   or never sent (no connection; 429/503) is an answer: nothing started.
//! - `restoring`: `GET /v2/jobs/{jobId}` until SUCCESSFUL, FAILED or CANCELED, with backoff when
//!   the API does not answer; other statuses count as running (unknown ones are logged).

use async_trait::async_trait;
use ferry_state::{RestoreRecord, RestoreState, RestoreStep};

use super::driver::{Driver, Fired, Firing, Polling};
use super::machine::{Outcome, StepError, Transition};
use super::spec::{ZillizMode, ZillizTrigger};
use super::volume;
use crate::milvus::zilliz::{JobStatus, MigrationSource, ZillizClient, ZillizError};

/// Fires Zilliz Cloud migrations.
pub(super) struct ZillizDriver<'a> {
    pub(super) t: &'a ZillizTrigger,
}

#[async_trait]
impl Driver for ZillizDriver<'_> {
    async fn drive(&self, f: &Firing<'_>, rec: &mut RestoreRecord) -> Result<Fired, StepError> {
        let t = self.t;
        let client = match ZillizClient::new(&t.endpoint, t.api_key.expose()) {
            Ok(c) => c,
            Err(e) => return Ok(Fired::Done(Outcome::Failed, e.to_string())),
        };
        if rec.state == RestoreState::Firing
            && let Some(fired) = self.start(f, rec, &client).await?
        {
            return Ok(fired);
        }
        self.follow(f, rec, &client).await
    }
}

impl ZillizDriver<'_> {
    /// Prepares and starts the job; `None` once it runs (its id recorded).
    async fn start(
        &self,
        f: &Firing<'_>,
        rec: &mut RestoreRecord,
        client: &ZillizClient,
    ) -> Result<Option<Fired>, StepError> {
        let t = self.t;
        if rec.step == RestoreStep::Starting {
            return Ok(Some(Fired::Done(
                Outcome::Failed,
                format!(
                    "outcome unknown: ferryd stopped after sending the request that starts the migration into cluster {} and before recording the job's id, and Zilliz Cloud's API cannot look a job up without it. Check the Job center of the Zilliz Cloud console for a MIGRATION job of that cluster; if none ran, `ferry restore retry {}`",
                    t.cluster_id, rec.id
                ),
            )));
        }
        let source = match &t.mode {
            ZillizMode::Remote {
                url,
                access_key,
                secret_key,
            } => MigrationSource::Remote {
                object_url: format!("{url}{}/", f.name),
                access_key: access_key.clone(),
                secret_key: secret_key.as_ref().map(|s| s.expose().to_owned()),
            },
            ZillizMode::Volume => {
                if rec.step == RestoreStep::None {
                    f.advance(
                        rec,
                        Transition::Step {
                            step: RestoreStep::Preparing,
                        },
                    )?;
                }
                let Some(target) = f.target else {
                    return Ok(Some(Fired::Done(
                        Outcome::Failed,
                        "the job's target is not open: nothing to upload".into(),
                    )));
                };
                // The volume path: one per restore (a retry uploads into its own).
                match volume::upload(client, &t.cluster_id, target, f.name, &rec.id, f.shutdown())
                    .await
                {
                    Ok(up) => {
                        tracing::info!(job = %f.job(), backup = %f.name, id = %rec.id, volume = %up.volume.volume_name, sent = up.sent, kept = up.kept, "backup uploaded into the Zilliz Cloud volume and checked by listing");
                        MigrationSource::Volume {
                            stage_name: up.volume.volume_name,
                            data_path: rec.id.clone(),
                        }
                    }
                    Err(volume::VolumeError::Stopped) => return Ok(Some(Fired::Stopped)),
                    Err(e) if e.is_transient() => return Ok(Some(Fired::Later(e.to_string()))),
                    Err(e) => return Ok(Some(Fired::Done(Outcome::Failed, e.to_string()))),
                }
            }
        };
        f.advance(
            rec,
            Transition::Step {
                step: RestoreStep::Starting,
            },
        )?;
        match client.start_migration(&source, &t.cluster_id).await {
            Ok(job) => {
                tracing::info!(job = %f.job(), backup = %f.name, id = %rec.id, zilliz_job = %job, source = %source.describe(), "Zilliz Cloud migration started");
                f.advance(
                    rec,
                    Transition::Started {
                        pid: None,
                        job_ref: Some(job),
                    },
                )?;
                Ok(None)
            }
            // Not acted on: safe to start again later (PutOff clears the step).
            Err(e) if e.not_acted_on() && e.is_transient() => {
                Ok(Some(Fired::Later(format!("starting the migration: {e}"))))
            }
            Err(e @ (ZillizError::Unauthorized { .. } | ZillizError::Api { .. })) => {
                Ok(Some(Fired::Done(
                    Outcome::Failed,
                    format!("Zilliz Cloud refused the migration: {e}"),
                )))
            }
            Err(e) => Ok(Some(Fired::Done(
                Outcome::Failed,
                format!(
                    "outcome unknown: the request that starts the migration got no answer ({e}). Check the Job center of the Zilliz Cloud console for a MIGRATION job of cluster {}; if none ran, `ferry restore retry {}`",
                    t.cluster_id, rec.id
                ),
            ))),
        }
    }

    /// Polls the recorded job to its end.
    async fn follow(
        &self,
        f: &Firing<'_>,
        rec: &mut RestoreRecord,
        client: &ZillizClient,
    ) -> Result<Fired, StepError> {
        let Some(job) = rec.job_ref.clone() else {
            return Ok(Fired::Done(
                Outcome::Failed,
                format!(
                    "outcome unknown: the restore runs but its Zilliz Cloud job id was not recorded; check the Job center, then `ferry restore retry {}`",
                    rec.id
                ),
            ));
        };
        let mut polling = Polling::new(f, rec);
        let mut progress = rec.progress;
        let mut unknown: Option<String> = None;
        loop {
            match client.job(&job).await {
                Ok(j) => {
                    polling.failures = 0;
                    let times = match (&j.start_time, &j.end_time) {
                        (Some(s), Some(e)) => format!(", {s} – {e}"),
                        (Some(s), None) => format!(", started {s}"),
                        _ => String::new(),
                    };
                    match j.state() {
                        JobStatus::Successful => {
                            return Ok(Fired::Done(
                                Outcome::Restored,
                                format!("Zilliz Cloud job {job} SUCCESSFUL{times}"),
                            ));
                        }
                        JobStatus::Failed => {
                            return Ok(Fired::Done(
                                Outcome::Failed,
                                format!(
                                    "Zilliz Cloud job {job} {}: {}{times}",
                                    j.status,
                                    j.reason.as_deref().unwrap_or("no reason given")
                                ),
                            ));
                        }
                        JobStatus::Canceled => {
                            return Ok(Fired::Done(
                                Outcome::Failed,
                                format!("Zilliz Cloud job {job} was canceled{times}"),
                            ));
                        }
                        JobStatus::Running => {
                            if !j.known_running() && unknown.as_deref() != Some(&j.status) {
                                tracing::warn!(job = %f.job(), id = %rec.id, zilliz_job = %job, status = %j.status, "unknown Zilliz Cloud job status; read as still running");
                                unknown = Some(j.status.clone());
                            }
                            progress = j.progress;
                        }
                    }
                }
                Err(e) => {
                    polling.failures += 1;
                    tracing::warn!(job = %f.job(), id = %rec.id, zilliz_job = %job, error = %e, "asking Zilliz Cloud for the job failed; asking again");
                }
            }
            let id = rec.id.clone();
            if let Some(fired) = polling
                .next(f, rec, progress, self.t.poll, |limit| {
                    format!(
                        "Zilliz Cloud job {job} did not end within {limit}; it may still run: check the Job center, then `ferry restore retry {id}`"
                    )
                })
                .await?
            {
                return Ok(fired);
            }
        }
    }
}
