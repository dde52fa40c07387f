//! A small JSON-over-HTTP/1 client: ferry talks to ferryd's control API, milvus-backup's REST
//! server, Zilliz Cloud's control plane and Milvus' REST API with it. HTTP or HTTPS (the one TLS
//! configuration of [`crate::tls`]), a bearer token when configured, errors that name the
//! service and URL and never the token.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

/// What can go wrong talking to a service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The address is not `http(s)://host[:port]`.
    #[error("invalid address {0:?} (expected http://HOST:PORT or https://HOST)")]
    Address(String),
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// Nothing answered.
    #[error("cannot reach {service} at {url}{hint}")]
    Unreachable {
        /// Who was called (`ferryd`, `milvus-backup`).
        service: &'static str,
        /// What to check.
        hint: &'static str,
        url: String,
        /// Whether the request was never sent (no connection): a server cannot have acted on it.
        not_sent: bool,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server answered with an error.
    #[error("{service} at {url} answered {status}: {message}")]
    Status {
        /// Who was called.
        service: &'static str,
        url: String,
        /// HTTP status.
        status: u16,
        /// Its error message.
        message: String,
    },
    /// The answer was not the JSON expected.
    #[error("{service} at {url} sent an answer that is not the JSON expected")]
    Decode {
        /// Who was called.
        service: &'static str,
        url: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// A client of one service at one base URL.
pub struct Client {
    base: String,
    service: &'static str,
    hint: &'static str,
    token: Option<String>,
    http: HyperClient<crate::tls::Https, Full<Bytes>>,
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
    /// A client of `service` at `base` (`http://host:port`); errors name the service and
    /// add `hint` when it cannot be reached.
    pub fn new(
        base: &str,
        token: Option<String>,
        service: &'static str,
        hint: &'static str,
    ) -> Result<Client, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        let uri: hyper::Uri = base
            .parse()
            .map_err(|_| ClientError::Address(base.clone()))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(ClientError::Address(base));
        }
        let connector = crate::tls::https_connector(None, Duration::from_secs(5))?;
        let http = HyperClient::builder(TokioExecutor::new()).build(connector);
        Ok(Client {
            base,
            service,
            hint,
            token,
            http,
        })
    }

    /// The service's address.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: hyper::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = hyper::Request::builder().method(method).uri(&url);
        if let Some(t) = &self.token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let payload = match body {
            Some(b) => {
                req = req.header(hyper::header::CONTENT_TYPE, "application/json");
                Bytes::from(b)
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(payload))
            .map_err(|_| ClientError::Address(self.base.clone()))?;
        let unreachable = |e: Box<dyn std::error::Error + Send + Sync>, not_sent: bool| {
            ClientError::Unreachable {
                service: self.service,
                hint: self.hint,
                url: self.base.clone(),
                not_sent,
                source: e,
            }
        };
        let resp = tokio::time::timeout(Duration::from_secs(30), self.http.request(req))
            .await
            .map_err(|e| unreachable(Box::new(e), false))?
            .map_err(|e| {
                let not_sent = e.is_connect();
                unreachable(Box::new(e), not_sent)
            })?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(Box::new(e), false))?
            .to_bytes();
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    ["error", "message"]
                        .iter()
                        .find_map(|k| v.get(*k).and_then(|e| e.as_str()).map(str::to_owned))
                })
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
            return Err(ClientError::Status {
                service: self.service,
                url,
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice(&body).map_err(|source| ClientError::Decode {
            service: self.service,
            url,
            source,
        })
    }

    /// `GET path`, JSON back.
    pub async fn get(&self, path: &str) -> Result<serde_json::Value, ClientError> {
        self.call(hyper::Method::GET, path, None).await
    }

    /// `GET path`, decoded as `T`.
    pub async fn get_as<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, ClientError> {
        self.call(hyper::Method::GET, path, None).await
    }

    /// `POST path` with no body, JSON back.
    pub async fn post(&self, path: &str) -> Result<serde_json::Value, ClientError> {
        self.call(hyper::Method::POST, path, None).await
    }

    /// `POST path` with no body, decoded as `T`.
    pub async fn post_as<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, ClientError> {
        self.call(hyper::Method::POST, path, None).await
    }

    /// `POST path` with a JSON body, JSON back.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        self.post_json_as(path, body).await
    }

    /// `POST path` with `body` as JSON, the answer decoded as `T`.
    pub async fn post_json_as<B: serde::Serialize + ?Sized, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|source| ClientError::Decode {
            service: self.service,
            url: format!("{}{path}", self.base),
            source,
        })?;
        self.call(hyper::Method::POST, path, Some(bytes)).await
    }
}

impl ClientError {
    /// The request never reached the server (no connection, or a 429/503 refusal that says it
    /// was not acted on): sending it again cannot do anything twice.
    pub fn not_acted_on(&self) -> bool {
        match self {
            ClientError::Unreachable { not_sent, .. } => *not_sent,
            ClientError::Status { status, .. } => *status == 429 || *status == 503,
            _ => false,
        }
    }

    /// Worth asking again later: nothing answered, or a 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable { .. } => true,
            ClientError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// What a `{"code": 0, "data": …}` API (Zilliz Cloud's control plane, Milvus' REST v2) answered
/// other than data.
#[derive(Debug)]
pub enum Coded {
    /// The HTTP exchange failed.
    Http(ClientError),
    /// The credential was refused (HTTP 401/403, or one of the API's refusal codes).
    Refused { url: String, message: String },
    /// Another failure code.
    Code {
        url: String,
        code: i64,
        message: String,
    },
}

#[derive(serde::Deserialize)]
struct Envelope<T> {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
    data: Option<T>,
}

impl Client {
    /// `POST path` with `body` (`GET` without one) to a coded API: its `data` (`None` when the
    /// success carries none). `refused` are the API's codes for a refused credential.
    pub async fn coded<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&B>,
        refused: &[i64],
    ) -> Result<Option<T>, Coded> {
        let url = format!("{}{path}", self.base);
        let answer: Result<Envelope<T>, ClientError> = match body {
            Some(b) => self.post_json_as(path, b).await,
            None => self.get_as(path).await,
        };
        let env = match answer {
            Ok(env) => env,
            Err(ClientError::Status {
                status: 401 | 403,
                message,
                ..
            }) => return Err(Coded::Refused { url, message }),
            Err(e) => return Err(Coded::Http(e)),
        };
        match env.code {
            0 | 200 => Ok(env.data),
            c if refused.contains(&c) || c == 401 || c == 403 => Err(Coded::Refused {
                url,
                message: env.message,
            }),
            code => Err(Coded::Code {
                url,
                code,
                message: env.message,
            }),
        }
    }
}
