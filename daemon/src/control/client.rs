//! A small client for the control API (plain HTTP/1; the API listens on loopback unless
//! configured otherwise).

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// What can go wrong talking to ferryd.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The address is not `http://host:port`.
    #[error("invalid daemon address {0:?} (expected http://HOST:PORT)")]
    Address(String),
    /// Nothing answered.
    #[error("cannot reach ferryd at {url} (is it running? see --daemon)")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// ferryd answered with an error.
    #[error("ferryd at {url} answered {status}: {message}")]
    Status {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Its error message.
        message: String,
    },
    /// The answer was not the JSON expected.
    #[error("ferryd at {url} sent an answer that is not JSON")]
    Decode {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// A control API client.
pub struct Client {
    base: String,
    token: Option<String>,
    http: HyperClient<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Client {
    /// A client for `base` (`http://127.0.0.1:7870`).
    pub fn new(base: &str, token: Option<String>) -> Result<Client, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        let uri: hyper::Uri = base
            .parse()
            .map_err(|_| ClientError::Address(base.clone()))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(ClientError::Address(base));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let http = HyperClient::builder(TokioExecutor::new()).build(connector);
        Ok(Client { base, token, http })
    }

    /// The daemon's address.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        method: hyper::Method,
        path: &str,
    ) -> Result<serde_json::Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = hyper::Request::builder().method(method).uri(&url);
        if let Some(t) = &self.token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|_| ClientError::Address(self.base.clone()))?;
        let unreachable = |e: Box<dyn std::error::Error + Send + Sync>| ClientError::Unreachable {
            url: self.base.clone(),
            source: e,
        };
        let resp = tokio::time::timeout(Duration::from_secs(30), self.http.request(req))
            .await
            .map_err(|e| unreachable(Box::new(e)))?
            .map_err(|e| unreachable(Box::new(e)))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(Box::new(e)))?
            .to_bytes();
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
            return Err(ClientError::Status {
                url,
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice(&body).map_err(|source| ClientError::Decode { url, source })
    }

    /// `GET path`, JSON back.
    pub async fn get(&self, path: &str) -> Result<serde_json::Value, ClientError> {
        self.call(hyper::Method::GET, path).await
    }

    /// `POST path` with no body, JSON back.
    pub async fn post(&self, path: &str) -> Result<serde_json::Value, ClientError> {
        self.call(hyper::Method::POST, path).await
    }
}
