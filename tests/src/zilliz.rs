//! Test doubles (real HTTP servers) of two services no account reaches from here, built to
//! their documented contracts (`../shared/zilliz-cloud.md`):
//!
//! - [`ZillizCloud`]: Zilliz Cloud's control plane, REST v2 with a bearer API key:
//!   `POST /v2/migrations/startByRemote`, `GET /v2/jobs/{jobId}` (PENDING, then IN_PROGRESS with
//!   a progress string, then SUCCESSFUL or FAILED with a reason), `POST /v2/volumes/apply`
//!   (temporary credentials for an S3 volume: an in-process s3s server whose keys expire).
//!   Answers are `{"code": 0, "data": …}` or `{"code": N, "message": …}`; a wrong key is HTTP
//!   401 with code 80001. What a real account would add (its own codes, rate limits, GCP
//!   volumes) is not modelled.
//! - [`MilvusRest`]: Milvus' RESTful API v2, `collections/list` and `collections/get_stats`,
//!   with a bearer token (a wrong one: code 1800, as Milvus answers).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::s3s_server::S3sServer;
use crate::server_thread::ServerThread;

/// How the control plane behaves.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Polls of a job before it ends.
    pub polls_to_finish: u32,
    /// `Some(reason)`: jobs end FAILED with it.
    pub fail_reason: Option<String>,
    /// How long a volume's credentials last.
    pub credential_ttl: Duration,
    /// `Some(n)`: a volume's credentials stop working after `n` requests, before their stated
    /// expiry (credentials that expire mid-upload, deterministically).
    pub credential_uses: Option<u32>,
    /// The start request is answered this late (a ferryd may be killed meanwhile: the job
    /// starts anyway, as a real service would).
    pub start_delay: Duration,
    /// Jobs report this unknown status on their first poll.
    pub odd_status: Option<String>,
    /// Every request is answered 503 (the API is down).
    pub down: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            polls_to_finish: 3,
            fail_reason: None,
            credential_ttl: Duration::from_secs(3600),
            credential_uses: None,
            start_delay: Duration::ZERO,
            odd_status: None,
            down: false,
        }
    }
}

/// One migration the double started.
#[derive(Debug, Clone)]
pub struct Started {
    pub job_id: String,
    /// The request's `source`.
    pub source: Value,
    pub cluster_id: String,
}

#[derive(Debug, Default)]
struct Inner {
    key: String,
    cluster: String,
    behaviour: Behaviour,
    started: Vec<Started>,
    polls: HashMap<String, u32>,
    applies: u32,
    /// Volume keys: access key → (secret, expiry, requests so far).
    volume_keys: HashMap<String, (String, Instant, u32)>,
    /// Requests refused for a wrong key.
    refused: u32,
    /// Volume path (as applied for) → its upload path in the bucket. Short upload paths:
    /// s3s-fs keeps each object's metadata in a file named after the base64 of its key, so
    /// keys longer than about 160 bytes do not fit a file name there.
    paths: HashMap<String, String>,
}

type Shared = Arc<Mutex<Inner>>;

/// Auth of the volume's S3 server: the keys the control plane handed out, until they expire.
struct VolumeAuth(Shared);

#[async_trait::async_trait]
impl s3s::auth::S3Auth for VolumeAuth {
    async fn get_secret_key(&self, access_key: &str) -> s3s::S3Result<s3s::auth::SecretKey> {
        let mut inner = self.0.lock().map_err(|_| s3s::s3_error!(InternalError))?;
        let limit = inner.behaviour.credential_uses;
        match inner.volume_keys.get_mut(access_key) {
            Some((secret, until, uses)) => {
                *uses += 1;
                if Instant::now() >= *until || limit.is_some_and(|l| *uses > l) {
                    Err(s3s::s3_error!(
                        ExpiredToken,
                        "the volume credentials expired"
                    ))
                } else {
                    Ok(secret.clone().into())
                }
            }
            None => Err(s3s::s3_error!(InvalidAccessKeyId)),
        }
    }
}

/// The running control plane with its volume server.
#[derive(Debug)]
pub struct ZillizCloud {
    addr: SocketAddr,
    inner: Shared,
    volume: S3sServer,
    _volume_root: tempfile::TempDir,
    _server: ServerThread,
}

/// The bucket every volume lives in.
pub const VOLUME_BUCKET: &str = "zilliz-volume";
/// The volume's name.
pub const VOLUME_NAME: &str = "vol-ferry-test";

fn answer(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

fn ok(data: Value) -> Response {
    answer(StatusCode::OK, json!({"code": 0, "data": data}))
}

/// The bearer check: `Err` is the answer to a wrong key.
fn authorized(s: &Shared, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let mut inner = s
        .lock()
        .map_err(|_| Box::new(answer(StatusCode::INTERNAL_SERVER_ERROR, json!({}))))?;
    if inner.behaviour.down {
        return Err(Box::new(answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"code": 503, "message": "service unavailable"}),
        )));
    }
    if given != inner.key {
        inner.refused += 1;
        return Err(Box::new(answer(
            StatusCode::UNAUTHORIZED,
            json!({"code": 80001, "message": "Invalid token: your token is not valid. Please double check your request parameters."}),
        )));
    }
    Ok(())
}

fn rfc3339(at: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn apply(
    State((s, vol)): State<(Shared, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authorized(&s, &headers) {
        return *r;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Ok(mut inner) = s.lock() else {
        return answer(StatusCode::INTERNAL_SERVER_ERROR, json!({}));
    };
    if v["clusterId"].as_str() != Some(inner.cluster.as_str()) {
        return ok_code(80020, "cluster not found");
    }
    let Some(path) = v["path"].as_str().filter(|p| !p.is_empty()) else {
        return ok_code(80000, "path is required");
    };
    inner.applies += 1;
    let n = inner.paths.len() + 1;
    let upload = inner
        .paths
        .entry(path.to_owned())
        .or_insert_with(|| format!("u{n}"))
        .clone();
    let ak = format!("TMPAK{}", inner.applies);
    let sk = format!("tmp-secret-{}-{}", inner.applies, fastrand::u64(..));
    crate::register_secret(&sk);
    let ttl = inner.behaviour.credential_ttl;
    inner
        .volume_keys
        .insert(ak.clone(), (sk.clone(), Instant::now() + ttl, 0));
    ok(json!({
        "bucketName": VOLUME_BUCKET, "cloud": "aws", "endpoint": vol, "region": "us-east-1",
        "uploadPath": format!("{upload}/"), "volumeName": VOLUME_NAME,
        "condition": {"maxContentLength": 5_i64 << 40},
        "credentials": {"tmpAK": ak, "tmpSK": sk, "sessionToken": "session-token",
            "expireTime": rfc3339(std::time::SystemTime::now() + ttl)},
    }))
}

fn ok_code(code: i64, message: &str) -> Response {
    answer(StatusCode::OK, json!({"code": code, "message": message}))
}

async fn start(
    State((s, root)): State<(Shared, PathBuf)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authorized(&s, &headers) {
        return *r;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let delay = {
        let Ok(mut inner) = s.lock() else {
            return answer(StatusCode::INTERNAL_SERVER_ERROR, json!({}));
        };
        let cluster = v["destination"]["clusterId"].as_str().unwrap_or("");
        if cluster != inner.cluster {
            return ok_code(80020, "cluster not found");
        }
        let src = &v["source"];
        // The volume form must name the volume and a path holding the backup's meta (else the
        // job would fail as Zilliz's does: "check dir is empty .../meta/").
        if let Some(stage) = src["stageName"].as_str() {
            let path = src["dataPath"].as_str().unwrap_or("");
            if stage != VOLUME_NAME || path.is_empty() {
                return ok_code(80000, "invalid stageName or dataPath");
            }
            let upload = inner.paths.get(path).cloned().unwrap_or_default();
            let meta = root
                .join(VOLUME_BUCKET)
                .join(upload)
                .join("meta/backup_meta.json");
            if !meta.is_file() {
                return ok_code(80000, &format!("check dir is empty {path}/meta/"));
            }
        } else {
            let url = src["objectUrl"].as_str().unwrap_or("");
            let known = ["s3://", "gs://", "https://"]
                .iter()
                .any(|p| url.starts_with(p));
            if !known || !url.ends_with('/') {
                return ok_code(80000, "objectUrl is not a supported URL");
            }
        }
        let job_id = format!("job-{:04}", inner.started.len() + 1);
        inner.started.push(Started {
            job_id,
            source: src.clone(),
            cluster_id: cluster.to_owned(),
        });
        inner.behaviour.start_delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let Ok(inner) = s.lock() else {
        return answer(StatusCode::INTERNAL_SERVER_ERROR, json!({}));
    };
    let id = inner
        .started
        .last()
        .map(|s| s.job_id.clone())
        .unwrap_or_default();
    ok(json!({"jobId": id}))
}

async fn job(
    State(s): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Response {
    if let Err(r) = authorized(&s, &headers) {
        return *r;
    }
    let Ok(mut inner) = s.lock() else {
        return answer(StatusCode::INTERNAL_SERVER_ERROR, json!({}));
    };
    if !inner.started.iter().any(|j| j.job_id == id) {
        return ok_code(80004, &format!("job {id} not found"));
    }
    let b = inner.behaviour.clone();
    let n = inner.polls.entry(id.clone()).or_insert(0);
    *n += 1;
    let n = *n;
    let start = "2026-11-29T10:00:00Z";
    let (status, progress, reason, end) = if n > b.polls_to_finish {
        match &b.fail_reason {
            Some(r) => (
                "FAILED".to_owned(),
                "40".to_owned(),
                Some(r.clone()),
                Some("2026-11-29T10:05:00Z"),
            ),
            None => (
                "SUCCESSFUL".to_owned(),
                "100".to_owned(),
                None,
                Some("2026-11-29T10:05:00Z"),
            ),
        }
    } else if n == 1 {
        (
            b.odd_status.clone().unwrap_or_else(|| "PENDING".into()),
            "0".to_owned(),
            None,
            None,
        )
    } else {
        (
            "IN_PROGRESS".to_owned(),
            (n * 100 / (b.polls_to_finish + 1)).to_string(),
            None,
            None,
        )
    };
    ok(
        json!({"jobId": id, "type": "MIGRATION", "status": status, "progress": progress,
        "startTime": start, "endTime": end, "reason": reason}),
    )
}

impl ZillizCloud {
    /// Starts the control plane for cluster `cluster`, accepting API key `key`.
    pub fn start(key: &str, cluster: &str, behaviour: Behaviour) -> ZillizCloud {
        crate::register_secret(key);
        let inner: Shared = Arc::new(Mutex::new(Inner {
            key: key.to_owned(),
            cluster: cluster.to_owned(),
            behaviour,
            ..Default::default()
        }));
        let root = tempfile::tempdir().expect("volume root");
        std::fs::create_dir_all(root.path().join(VOLUME_BUCKET)).expect("volume bucket");
        let volume = S3sServer::start_with_auth(
            root.path(),
            "127.0.0.1:0",
            VolumeAuth(inner.clone()),
            "",
            "",
        );
        let (s1, s2, s3) = (inner.clone(), inner.clone(), inner.clone());
        let vol_url = volume.url();
        let vol_root = root.path().to_path_buf();
        let server = ServerThread::start(
            "zilliz-cloud",
            "127.0.0.1:0",
            move |listener, stop| async move {
                let app = Router::new()
                    .route("/v2/volumes/apply", post(apply).with_state((s1, vol_url)))
                    .route(
                        "/v2/migrations/startByRemote",
                        post(start).with_state((s2, vol_root)),
                    )
                    .route("/v2/jobs/{id}", get(job).with_state(s3));
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.await;
                    })
                    .await;
            },
        );
        ZillizCloud {
            addr: server.addr(),
            inner,
            volume,
            _volume_root: root,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The migrations started, in order.
    pub fn started(&self) -> Vec<Started> {
        self.inner
            .lock()
            .map(|i| i.started.clone())
            .unwrap_or_default()
    }

    /// Volume applications so far.
    pub fn applies(&self) -> u32 {
        self.inner.lock().map(|i| i.applies).unwrap_or(0)
    }

    /// Requests refused for a wrong key.
    pub fn refused(&self) -> u32 {
        self.inner.lock().map(|i| i.refused).unwrap_or(0)
    }

    /// Requests the volume's S3 server answered.
    pub fn volume_requests(&self) -> u64 {
        self.volume.requests()
    }

    /// The files under a volume path: relative key → size.
    pub fn volume_files(&self, path: &str) -> HashMap<String, u64> {
        let Some(upload) = self
            .inner
            .lock()
            .ok()
            .and_then(|i| i.paths.get(path).cloned())
        else {
            return HashMap::new();
        };
        let base = self.volume.root().join(VOLUME_BUCKET).join(upload);
        let mut out = HashMap::new();
        let mut stack = vec![base.clone()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let (Ok(rel), Ok(m)) = (p.strip_prefix(&base), e.metadata()) {
                    out.insert(rel.to_string_lossy().into_owned(), m.len());
                }
            }
        }
        out
    }

    /// Changes the behaviour from now on.
    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        if let Ok(mut i) = self.inner.lock() {
            f(&mut i.behaviour);
        }
    }
}

#[derive(Debug, Default)]
struct MilvusInner {
    token: String,
    /// db → collection → rows.
    rows: HashMap<String, HashMap<String, u64>>,
    calls: u32,
}

/// A running Milvus REST double.
#[derive(Debug)]
pub struct MilvusRest {
    addr: SocketAddr,
    inner: Arc<Mutex<MilvusInner>>,
    _server: ServerThread,
}

async fn milvus(
    State(s): State<Arc<Mutex<MilvusInner>>>,
    UrlPath(op): UrlPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Ok(mut inner) = s.lock() else {
        return answer(StatusCode::INTERNAL_SERVER_ERROR, json!({}));
    };
    inner.calls += 1;
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if given != inner.token {
        return ok_code(1800, "user hasn't authenticated");
    }
    let db = v["dbName"].as_str().unwrap_or("default");
    let colls = inner.rows.get(db).cloned().unwrap_or_default();
    match op.as_str() {
        "list" => {
            let mut names: Vec<&String> = colls.keys().collect();
            names.sort();
            ok(json!(names))
        }
        "get_stats" => {
            let name = v["collectionName"].as_str().unwrap_or("");
            match colls.get(name) {
                Some(n) => ok(json!({"rowCount": n})),
                None => ok_code(
                    100,
                    &format!("can't find collection[database={db}][collection={name}]"),
                ),
            }
        }
        _ => ok_code(404, "unknown operation"),
    }
}

impl MilvusRest {
    /// Starts a Milvus REST double accepting `token`.
    pub fn start(token: &str) -> MilvusRest {
        crate::register_secret(token);
        let inner = Arc::new(Mutex::new(MilvusInner {
            token: token.to_owned(),
            ..Default::default()
        }));
        let s = inner.clone();
        let server = ServerThread::start(
            "milvus-rest",
            "127.0.0.1:0",
            move |listener, stop| async move {
                let app = Router::new()
                    .route("/v2/vectordb/collections/{op}", post(milvus))
                    .with_state(s);
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.await;
                    })
                    .await;
            },
        );
        MilvusRest {
            addr: server.addr(),
            inner,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets a collection's row count (creating it).
    pub fn set_rows(&self, db: &str, collection: &str, rows: u64) {
        if let Ok(mut i) = self.inner.lock() {
            i.rows
                .entry(db.to_owned())
                .or_default()
                .insert(collection.to_owned(), rows);
        }
    }

    /// Requests answered.
    pub fn calls(&self) -> u32 {
        self.inner.lock().map(|i| i.calls).unwrap_or(0)
    }
}
