//! Zilliz Cloud's control plane (REST v2, `Authorization: Bearer <API key>`): start a migration
//! from backup files, follow its job, apply for an upload volume. Every answer is
//! `{"code": 0, "data": …}`; a failure is `{"code": N, "message": …}`, with HTTP 200 or an error
//! status. Built to the documented contract (no Zilliz account is reachable from where ferry is
//! tested; the tests run it against a double of that contract).

use serde::{Deserialize, Serialize};

use crate::http::{Client, ClientError, Coded};

/// What can go wrong talking to Zilliz Cloud.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZillizError {
    /// The HTTP exchange failed (unreachable, an error status, not JSON).
    #[error(transparent)]
    Http(#[from] ClientError),
    /// Zilliz refused the API key.
    #[error(
        "Zilliz Cloud at {url} refused the API key ({message}); check api_key_file / api_key_env"
    )]
    Unauthorized {
        url: String,
        /// Zilliz's message.
        message: String,
    },
    /// Zilliz answered with a failure code.
    #[error("Zilliz Cloud at {url} answered code {code}: {message}")]
    Api {
        url: String,
        code: i64,
        /// Zilliz's message.
        message: String,
    },
    /// A success without the data it must carry.
    #[error("Zilliz Cloud at {url} answered without {what}")]
    Missing { url: String, what: &'static str },
}

impl ZillizError {
    /// Worth asking again later (unreachable, 5xx, rate limited).
    pub fn is_transient(&self) -> bool {
        match self {
            ZillizError::Http(e) => e.is_transient(),
            ZillizError::Api { code, .. } => *code == 429,
            _ => false,
        }
    }

    /// The request cannot have been acted on (no connection; 429/503).
    pub fn not_acted_on(&self) -> bool {
        match self {
            ZillizError::Http(e) => e.not_acted_on(),
            ZillizError::Api { code, .. } => *code == 429,
            ZillizError::Unauthorized { .. } => true,
            ZillizError::Missing { .. } => false,
        }
    }
}

/// The source of `startByRemote`: object storage by URL, or an upload volume.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum MigrationSource {
    /// A backup folder Zilliz reads itself.
    Remote {
        #[serde(rename = "objectUrl")]
        object_url: String,
        #[serde(rename = "accessKey", skip_serializing_if = "Option::is_none")]
        access_key: Option<String>,
        #[serde(rename = "secretKey", skip_serializing_if = "Option::is_none")]
        secret_key: Option<String>,
    },
    /// The contents of a volume path (milvus-backup `migrate`'s form).
    Volume {
        #[serde(rename = "stageName")]
        stage_name: String,
        #[serde(rename = "dataPath")]
        data_path: String,
    },
}

impl MigrationSource {
    /// For logs: the URL or volume, never a secret.
    pub fn describe(&self) -> String {
        match self {
            MigrationSource::Remote { object_url, .. } => object_url.clone(),
            MigrationSource::Volume {
                stage_name,
                data_path,
            } => format!("volume {stage_name}, path {data_path}"),
        }
    }
}

/// A migration job as `GET /v2/jobs/{jobId}` reports it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct Job {
    pub job_id: String,
    /// `SUCCESSFUL`, `FAILED`, `CANCELED`, or one of the running ones (`PENDING`,
    /// `IN_PROGRESS`, …; spellings other than `SUCCESSFUL` are not documented).
    pub status: String,
    /// Percent, as a string (`"42"`).
    #[serde(deserialize_with = "progress")]
    pub progress: u8,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// Why it failed.
    pub reason: Option<String>,
}

fn progress<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum P {
        N(f64),
        S(String),
        Null(()),
    }
    let v = match P::deserialize(d)? {
        P::N(n) => n,
        P::S(s) => s.trim().trim_end_matches('%').parse().unwrap_or(0.0),
        P::Null(()) => 0.0,
    };
    Ok(v.clamp(0.0, 100.0) as u8)
}

/// Where a job stands, from its status string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Successful,
    Failed,
    Canceled,
    /// Pending, in progress, or a status this ferry does not know: still running.
    Running,
}

impl Job {
    /// Its status read.
    pub fn state(&self) -> JobStatus {
        match self.status.trim().to_ascii_uppercase().as_str() {
            "SUCCESSFUL" | "SUCCESS" | "SUCCEEDED" | "COMPLETED" => JobStatus::Successful,
            "FAILED" | "FAILURE" => JobStatus::Failed,
            "CANCELED" | "CANCELLED" => JobStatus::Canceled,
            _ => JobStatus::Running,
        }
    }

    /// Whether the status is one ferry reads as running on purpose (others are logged).
    pub fn known_running(&self) -> bool {
        matches!(
            self.status.trim().to_ascii_uppercase().as_str(),
            "PENDING" | "IN_PROGRESS" | "INPROGRESS" | "RUNNING" | "CREATING" | "QUEUED"
        )
    }
}

/// Temporary credentials of a volume.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VolumeCredentials {
    #[serde(rename = "tmpAK")]
    pub tmp_ak: String,
    #[serde(rename = "tmpSK")]
    pub tmp_sk: String,
    pub session_token: String,
    /// RFC 3339.
    pub expire_time: String,
}

impl std::fmt::Debug for VolumeCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeCredentials")
            .field("expire_time", &self.expire_time)
            .finish_non_exhaustive()
    }
}

/// An upload volume granted by `POST /v2/volumes/apply`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Volume {
    pub bucket_name: String,
    /// `aws` or `gcp`.
    pub cloud: String,
    /// The object store's host (`s3.us-west-2.amazonaws.com`), or a URL.
    pub endpoint: String,
    pub region: String,
    /// Where the files go in the bucket.
    pub upload_path: String,
    /// The volume's name (`stageName` when starting the migration).
    pub volume_name: String,
    pub credentials: VolumeCredentials,
}

/// A client of one Zilliz Cloud control plane.
#[derive(Debug)]
pub struct ZillizClient {
    http: Client,
}

impl ZillizClient {
    /// A client of `endpoint` with the API key `key`.
    pub fn new(endpoint: &str, key: &str) -> Result<ZillizClient, ClientError> {
        Ok(ZillizClient {
            http: Client::new(endpoint, Some(key.to_owned()), "Zilliz Cloud", "")?,
        })
    }

    async fn call<B: Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&B>,
        what: &'static str,
    ) -> Result<T, ZillizError> {
        match self.http.coded(path, body, &[80001]).await {
            Ok(Some(data)) => Ok(data),
            Ok(None) => Err(ZillizError::Missing {
                url: format!("{}{path}", self.http.base()),
                what,
            }),
            Err(Coded::Http(e)) => Err(e.into()),
            Err(Coded::Refused { url, message }) => Err(ZillizError::Unauthorized { url, message }),
            Err(Coded::Code { url, code, message }) => Err(ZillizError::Api { url, code, message }),
        }
    }

    /// `POST /v2/migrations/startByRemote`: the new job's id.
    pub async fn start_migration(
        &self,
        source: &MigrationSource,
        cluster_id: &str,
    ) -> Result<String, ZillizError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Started {
            job_id: String,
        }
        let body = serde_json::json!({
            "source": source,
            "destination": {"clusterId": cluster_id},
        });
        let s: Started = self
            .call("/v2/migrations/startByRemote", Some(&body), "a jobId")
            .await?;
        if s.job_id.is_empty() {
            return Err(ZillizError::Missing {
                url: format!("{}/v2/migrations/startByRemote", self.http.base()),
                what: "a jobId",
            });
        }
        Ok(s.job_id)
    }

    /// `GET /v2/jobs/{jobId}`.
    pub async fn job(&self, job_id: &str) -> Result<Job, ZillizError> {
        let id: String = url::form_urlencoded::byte_serialize(job_id.as_bytes()).collect();
        self.call::<(), Job>(&format!("/v2/jobs/{id}"), None, "the job")
            .await
    }

    /// `POST /v2/volumes/apply`: a volume path and temporary credentials to upload into it.
    pub async fn apply_volume(&self, cluster_id: &str, path: &str) -> Result<Volume, ZillizError> {
        let body = serde_json::json!({"clusterId": cluster_id, "path": path});
        self.call("/v2/volumes/apply", Some(&body), "a volume")
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_answers_are_read_whatever_the_progress_type() {
        let j: Job = serde_json::from_str(
            r#"{"jobId":"job-1","type":"MIGRATION","status":"IN_PROGRESS","progress":"42","startTime":"2026-01-01T00:00:00Z"}"#,
        )
        .expect("job");
        assert_eq!((j.state(), j.progress), (JobStatus::Running, 42));
        assert!(j.known_running());
        let j: Job =
            serde_json::from_str(r#"{"status":"SUCCESSFUL","progress":100}"#).expect("job");
        assert_eq!(j.state(), JobStatus::Successful);
        let j: Job = serde_json::from_str(r#"{"status":"Failed","progress":null,"reason":"bad"}"#)
            .expect("job");
        assert_eq!(
            (j.state(), j.reason.as_deref()),
            (JobStatus::Failed, Some("bad"))
        );
        let j: Job = serde_json::from_str(r#"{"status":"VALIDATING"}"#).expect("job");
        assert_eq!(j.state(), JobStatus::Running);
        assert!(!j.known_running(), "an unknown status is logged");
    }

    #[test]
    fn sources_serialize_to_the_documented_fields_and_describe_without_secrets() {
        let r = MigrationSource::Remote {
            object_url: "s3://b/backup/x/".into(),
            access_key: Some("AK".into()),
            secret_key: Some("SECRET".into()),
        };
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(v["objectUrl"], "s3://b/backup/x/");
        assert_eq!(v["secretKey"], "SECRET");
        assert!(!r.describe().contains("SECRET"));
        let v = serde_json::to_value(MigrationSource::Volume {
            stage_name: "vol".into(),
            data_path: "p".into(),
        })
        .expect("json");
        assert_eq!(
            (v["stageName"].as_str(), v["dataPath"].as_str()),
            (Some("vol"), Some("p"))
        );
        let c = VolumeCredentials {
            tmp_sk: "SK-SECRET".into(),
            ..Default::default()
        };
        assert!(!format!("{c:?}").contains("SK-SECRET"));
    }
}
