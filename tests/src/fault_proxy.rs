//! A fault-injecting HTTP proxy for tests: sits between ferry and a real S3 server on
//! loopback and, for a chosen share of requests, answers `500 InternalError` or
//! `503 SlowDown` itself, drops the connection without an answer, forwards the request but
//! cuts the response body short (the headers still promise the full length), or stalls before
//! forwarding. Everything else passes through untouched (the `Host` header too, so SigV4
//! signatures made for the proxy's address still verify upstream).
//!
//! Faults are drawn from a seeded generator, so a failing run can be replayed with its seed.
//! The counts of what was injected are kept for the test to print and check.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;

use crate::server_thread::ServerThread;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = BoxBody<Bytes, BoxError>;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `500 InternalError`, answered by the proxy (the request never reaches the server).
    InternalError,
    /// `503 SlowDown`, answered by the proxy.
    SlowDown,
    /// The connection is dropped without an answer.
    Reset,
    /// Forwarded; the response's body is cut after half its bytes and the connection closed.
    Truncate,
    /// Forwarded after a pause.
    Stall,
}

impl Fault {
    /// Every kind, in the order the counters report them.
    pub const ALL: [Fault; 5] = [
        Fault::InternalError,
        Fault::SlowDown,
        Fault::Reset,
        Fault::Truncate,
        Fault::Stall,
    ];

    fn index(self) -> usize {
        match self {
            Fault::InternalError => 0,
            Fault::SlowDown => 1,
            Fault::Reset => 2,
            Fault::Truncate => 3,
            Fault::Stall => 4,
        }
    }

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Fault::InternalError => "500",
            Fault::SlowDown => "503-slowdown",
            Fault::Reset => "reset",
            Fault::Truncate => "truncated-body",
            Fault::Stall => "stall",
        }
    }
}

/// What to inject.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Share of requests that get a fault, in per mille (50 = 5 %).
    pub per_mille: u32,
    /// Kinds to choose from (uniformly).
    pub kinds: Vec<Fault>,
    /// How long a stall lasts.
    pub stall: Duration,
    /// Seed of the generator.
    pub seed: u64,
    /// The first this many CreateMultipartUpload answers are lost after the server created
    /// the upload (on top of the random faults): the case a client cannot see.
    pub lose_creates: u32,
    /// Requests signed with this session token (`x-amz-security-token`) are answered as AWS
    /// answers an expired one: `400 ExpiredToken` (no body to a HEAD).
    pub expired_token: Option<String>,
    /// The first this many PUT requests with a body reach the server with one byte of it
    /// changed (headers and signature untouched): what a flipped bit on the way looks like.
    pub corrupt_puts: u32,
}

impl Faults {
    /// Every kind at `per_mille`, 1.5 s stalls.
    pub fn all(per_mille: u32, seed: u64) -> Faults {
        Faults {
            per_mille,
            kinds: Fault::ALL.to_vec(),
            stall: Duration::from_millis(1500),
            seed,
            lose_creates: 0,
            expired_token: None,
            corrupt_puts: 0,
        }
    }
}

/// What the proxy saw and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Requests received.
    pub requests: u64,
    /// Faults injected, per kind, in [`Fault::ALL`] order.
    pub injected: [u64; 5],
    /// CreateMultipartUpload answers cut after the server created the upload: the client
    /// cannot know those uploads' ids, so they may stay open (see docs/reliability.md).
    pub lost_creates: u64,
    /// Requests whose body was sent `aws-chunked` (`Content-Encoding: aws-chunked`, or a
    /// `STREAMING-…` payload hash): some servers store such a body with its framing.
    pub aws_chunked: u64,
    /// PUT bodies forwarded with a byte changed.
    pub corrupted: u64,
    /// Object reads (GET of a key, not a listing), by path, in order.
    pub object_gets: Vec<String>,
}

impl Counts {
    /// All faults injected.
    pub fn faults(&self) -> u64 {
        self.injected.iter().sum()
    }

    /// `500=3 503-slowdown=1 ...`
    pub fn summary(&self) -> String {
        Fault::ALL
            .iter()
            .map(|f| format!("{}={}", f.name(), self.injected[f.index()]))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

struct Shared {
    upstream: String,
    rng: Mutex<fastrand::Rng>,
    faults: Mutex<Faults>,
    requests: AtomicU64,
    injected: [AtomicU64; 5],
    lost_creates: AtomicU64,
    aws_chunked: AtomicU64,
    lose_creates_left: std::sync::atomic::AtomicU32,
    corrupt_left: std::sync::atomic::AtomicU32,
    corrupted: AtomicU64,
    object_gets: Mutex<Vec<String>>,
    client: Client<HttpConnector, Incoming>,
    /// For bodies the proxy rewrites.
    rewriting: Client<HttpConnector, http_body_util::Full<Bytes>>,
}

impl Shared {
    fn draw(&self) -> Option<(Fault, Duration)> {
        let faults = self.faults.lock().ok()?.clone();
        let mut rng = self.rng.lock().ok()?;
        if faults.kinds.is_empty() || rng.u32(0..1000) >= faults.per_mille {
            return None;
        }
        let kind = faults.kinds[rng.usize(0..faults.kinds.len())];
        Some((kind, faults.stall))
    }
}

/// A running proxy; dropping it stops it.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _server: ServerThread,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1:0` in front of `upstream` (`http://host:port`).
    pub fn start(upstream: &str, faults: Faults) -> FaultProxy {
        let client = Client::builder(TokioExecutor::new()).build_http();
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            rng: Mutex::new(fastrand::Rng::with_seed(faults.seed)),
            lose_creates_left: faults.lose_creates.into(),
            corrupt_left: faults.corrupt_puts.into(),
            corrupted: AtomicU64::new(0),
            object_gets: Mutex::new(Vec::new()),
            rewriting: Client::builder(TokioExecutor::new()).build_http(),
            faults: Mutex::new(faults),
            requests: AtomicU64::new(0),
            injected: Default::default(),
            lost_creates: AtomicU64::new(0),
            aws_chunked: AtomicU64::new(0),
            client,
        });
        let served = shared.clone();
        let server = ServerThread::start(
            "fault-proxy",
            "127.0.0.1:0",
            move |listener, mut stop| async move {
                let http = ConnBuilder::new(TokioExecutor::new());
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((socket, _)) = accepted else { continue };
                            let shared = served.clone();
                            let service = hyper::service::service_fn(move |req| {
                                let shared = shared.clone();
                                async move {
                                    handle(shared, req).await.map_err(|e| ProxyError(e.to_string()))
                                }
                            });
                            let conn = http.serve_connection(TokioIo::new(socket), service).into_owned();
                            tokio::spawn(async move { let _ = conn.await; });
                        }
                        _ = &mut stop => break,
                    }
                }
            },
        );
        FaultProxy {
            addr: server.addr(),
            shared,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes the fault rate (0 turns faults off, e.g. for a final check).
    pub fn set_per_mille(&self, per_mille: u32) {
        if let Ok(mut f) = self.shared.faults.lock() {
            f.per_mille = per_mille;
        }
    }

    /// What happened so far.
    pub fn counts(&self) -> Counts {
        let mut injected = [0; 5];
        for (i, c) in self.shared.injected.iter().enumerate() {
            injected[i] = c.load(Ordering::SeqCst);
        }
        Counts {
            requests: self.shared.requests.load(Ordering::SeqCst),
            injected,
            lost_creates: self.shared.lost_creates.load(Ordering::SeqCst),
            aws_chunked: self.shared.aws_chunked.load(Ordering::SeqCst),
            corrupted: self.shared.corrupted.load(Ordering::SeqCst),
            object_gets: self
                .shared
                .object_gets
                .lock()
                .map(|g| g.clone())
                .unwrap_or_default(),
        }
    }
}

fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into())
        .map_err(|e: Infallible| match e {})
        .boxed()
}

fn s3_error(status: StatusCode, code: &str) -> Response<Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected by the fault proxy</Message></Error>"
    );
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/xml"),
    );
    r
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Injected(&'static str);

/// What the service fails with (hyper then drops the connection).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ProxyError(String);

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, BoxError> {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    if header("content-encoding").contains("aws-chunked")
        || header("x-amz-content-sha256").starts_with("STREAMING-")
    {
        shared.aws_chunked.fetch_add(1, Ordering::SeqCst);
    }
    let path = req.uri().path();
    if req.method() == hyper::Method::GET
        && path.trim_start_matches('/').contains('/')
        && !req.uri().query().is_some_and(|q| {
            q.contains("list-type") || q.contains("uploads") || q.contains("uploadId")
        })
        && let Ok(mut g) = shared.object_gets.lock()
    {
        g.push(path.to_owned());
    }
    let creates_upload = req.method() == hyper::Method::POST
        && req.uri().query().is_some_and(|q| {
            q.split('&')
                .any(|p| p == "uploads" || p.starts_with("uploads="))
        });
    let lose_create = creates_upload
        && shared
            .lose_creates_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let expired = shared
        .faults
        .lock()
        .ok()
        .and_then(|f| f.expired_token.clone());
    if let Some(token) = expired
        && req
            .headers()
            .get("x-amz-security-token")
            .is_some_and(|v| v.as_bytes() == token.as_bytes())
    {
        let mut resp = s3_error(StatusCode::BAD_REQUEST, "ExpiredToken");
        if req.method() == hyper::Method::HEAD {
            *resp.body_mut() = full(Bytes::new());
        }
        return Ok(resp);
    }
    let fault = if lose_create {
        Some((Fault::Truncate, Duration::ZERO))
    } else {
        shared.draw()
    };
    if let Some((kind, _)) = fault {
        shared.injected[kind.index()].fetch_add(1, Ordering::SeqCst);
    }
    match fault {
        Some((Fault::InternalError, _)) => {
            return Ok(s3_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError"));
        }
        Some((Fault::SlowDown, _)) => {
            return Ok(s3_error(StatusCode::SERVICE_UNAVAILABLE, "SlowDown"));
        }
        // An error from the service makes hyper drop the connection without answering.
        Some((Fault::Reset, _)) => return Err(Box::new(Injected("connection reset"))),
        Some((Fault::Stall, pause)) => tokio::time::sleep(pause).await,
        Some((Fault::Truncate, _)) | None => {}
    }
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    parts.uri = format!("{}{path}", shared.upstream).parse()?;
    let corrupt = parts.method == hyper::Method::PUT
        && parts
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|l| l != "0")
        && shared
            .corrupt_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let resp = if corrupt {
        let mut bytes = body.collect().await?.to_bytes().to_vec();
        let mid = bytes.len() / 2;
        if let Some(b) = bytes.get_mut(mid) {
            *b ^= 0x20;
        }
        shared.corrupted.fetch_add(1, Ordering::SeqCst);
        let body = http_body_util::Full::new(Bytes::from(bytes));
        shared
            .rewriting
            .request(Request::from_parts(parts, body))
            .await?
    } else {
        shared
            .client
            .request(Request::from_parts(parts, body))
            .await?
    };
    let (parts, body) = resp.into_parts();
    if matches!(fault, Some((Fault::Truncate, _))) {
        if creates_upload && parts.status.is_success() {
            shared.lost_creates.fetch_add(1, Ordering::SeqCst);
        }
        // Keep the promised Content-Length, send half the bytes, then fail the body: hyper
        // closes the connection, and the client sees a body that ends early.
        let bytes = body.collect().await?.to_bytes();
        if bytes.is_empty() {
            // Nothing to cut (a PUT's answer): the server did the work, the client never
            // hears of it, and must find out by retrying.
            return Err(Box::new(Injected(
                "connection reset after the server answered",
            )));
        }
        let half = bytes.slice(..bytes.len() / 2);
        let chunks: Vec<Result<hyper::body::Frame<Bytes>, BoxError>> = vec![
            Ok(hyper::body::Frame::data(half)),
            Err(Box::new(Injected("body truncated"))),
        ];
        let cut = http_body_util::StreamBody::new(futures::stream::iter(chunks));
        return Ok(Response::from_parts(parts, BodyExt::boxed(cut)));
    }
    Ok(Response::from_parts(
        parts,
        body.map_err(|e| Box::new(e) as BoxError).boxed(),
    ))
}
