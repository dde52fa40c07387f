//! The control API's client (`ferry status|sync|pause|resume|restore`): one typed method per
//! endpoint of [`super::server`], over the JSON client of [`crate::http`]. The request and
//! answer types are [`super::api`]'s, shared with the server, so a renamed field fails to
//! decode instead of printing zero.

use super::api::{
    JobView, PauseAnswer, RestoreLog, RestoreRequest, RestoreView, StatusView, SyncAnswer,
};
use crate::http::Client;
pub use crate::http::ClientError;

/// A client of one ferryd.
#[derive(Debug)]
pub struct ControlClient {
    http: Client,
}

impl ControlClient {
    /// A client for ferryd at `base` (`http://127.0.0.1:7870`), with its bearer token.
    pub fn new(base: &str, token: Option<String>) -> Result<ControlClient, ClientError> {
        Ok(ControlClient {
            http: Client::new(base, token, "ferryd", " (is it running? see --daemon)")?,
        })
    }

    /// `GET /v1/status`: every job.
    pub async fn status(&self) -> Result<StatusView, ClientError> {
        self.http.get_as("/v1/status").await
    }

    /// `GET /v1/jobs/{name}`.
    pub async fn job(&self, name: &str) -> Result<JobView, ClientError> {
        self.http
            .get_as(&format!("/v1/jobs/{}", encode(name)))
            .await
    }

    /// `POST /v1/jobs/{name}/sync`: a full run soon (one that also lists the target with
    /// `check_target`).
    pub async fn sync(&self, name: &str, check_target: bool) -> Result<SyncAnswer, ClientError> {
        let mut path = format!("/v1/jobs/{}/sync", encode(name));
        if check_target {
            path.push_str("?check_target=true");
        }
        self.http.post_as(&path).await
    }

    /// `POST /v1/jobs/{name}/pause`.
    pub async fn pause(&self, name: &str) -> Result<PauseAnswer, ClientError> {
        self.http
            .post_as(&format!("/v1/jobs/{}/pause", encode(name)))
            .await
    }

    /// `POST /v1/jobs/{name}/resume`.
    pub async fn resume(&self, name: &str) -> Result<PauseAnswer, ClientError> {
        self.http
            .post_as(&format!("/v1/jobs/{}/resume", encode(name)))
            .await
    }

    /// `POST /v1/jobs/{name}/restores`: asks for a restore of one of the job's backups.
    pub async fn restore(
        &self,
        job: &str,
        request: &RestoreRequest,
    ) -> Result<RestoreView, ClientError> {
        self.http
            .post_json_as(&format!("/v1/jobs/{}/restores", encode(job)), request)
            .await
    }

    /// `GET /v1/restores`: every restore of every job, oldest first.
    pub async fn restores(&self) -> Result<Vec<RestoreView>, ClientError> {
        self.http.get_as("/v1/restores").await
    }

    /// `POST /v1/restores/{id}/retry`.
    pub async fn retry(&self, id: &str) -> Result<RestoreView, ClientError> {
        self.http
            .post_as(&format!("/v1/restores/{}/retry", encode(id)))
            .await
    }

    /// `GET /v1/restores/{id}/log`.
    pub async fn restore_log(&self, id: &str) -> Result<RestoreLog, ClientError> {
        self.http
            .get_as(&format!("/v1/restores/{}/log", encode(id)))
            .await
    }

    /// The untyped client underneath, for requests the typed methods do not make (tests of
    /// bad requests).
    pub fn raw(&self) -> &Client {
        &self.http
    }
}

/// What a path segment escapes: all but letters, digits and `-_.~` (RFC 3986's unreserved
/// characters), so that `milvus-to-site-b` stays readable in URLs and in the server's
/// messages.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
}
