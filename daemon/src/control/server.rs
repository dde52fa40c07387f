//! The control API server (axum, HTTP/1).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Extension, FromRef, Path, Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::api::{
    ApiError, BackupView, CopyProgress, JobView, PauseAnswer, RestoreBrief, RestoreLog,
    RestoreRequest, RestoreView, Snapshot, StatusView, SyncAnswer, WebhookAnswer,
};
use super::page::{self, Sessions, same_secret};
use super::webhook::{self, Body};
use crate::jobs::{Daemon, Job};
use crate::location::Location;

/// Largest request body accepted (webhook batches are far smaller).
pub const MAX_BODY: usize = 1024 * 1024;

/// A failed request: its status and an [`ApiError`] body.
#[derive(Debug)]
pub struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(ApiError { error: self.1 })).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Failure {
    Failure(status, message.into())
}

/// What a handler answers.
type Answer<T> = Result<Json<T>, Failure>;
/// What a handler that queues work answers (202 Accepted).
type Accepted<T> = Result<(StatusCode, Json<T>), Failure>;

/// The server's state: the daemon, and the job center's signed-in browsers.
#[derive(Clone)]
pub struct Control {
    daemon: Arc<Daemon>,
    sessions: Arc<Sessions>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

impl FromRef<Control> for Arc<Daemon> {
    fn from_ref(c: &Control) -> Self {
        c.daemon.clone()
    }
}

impl FromRef<Control> for Arc<Sessions> {
    fn from_ref(c: &Control) -> Self {
        c.sessions.clone()
    }
}

/// How a request was let in (a request extension, for handlers that care).
#[derive(Debug, Clone)]
pub enum Via {
    /// No token is configured.
    Open,
    /// `Authorization: Bearer`.
    Bearer,
    /// The job center's session cookie (its id).
    Session(String),
}

/// Cross-site and DNS-rebinding checks for every request, then the credentials: a bearer
/// token, or the page's session cookie (with its CSRF header on state-changing requests).
async fn auth(State(c): State<Control>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD);
    if changes && let Some(why) = page::cross_site(headers) {
        return error(StatusCode::FORBIDDEN, why).into_response();
    }
    let token = c.daemon.config.control.token.as_deref();
    if token.is_none() && !page::local_host(headers) {
        return error(
            StatusCode::FORBIDDEN,
            "this ferryd has no token: it answers only requests addressed to localhost or a loopback address (set control.token_file to serve other names)",
        )
        .into_response();
    }
    if page::public(req.uri().path()) {
        return next.run(req).await;
    }
    let via = match token {
        None => Via::Open,
        Some(token) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            match (given, page::session_cookie(headers)) {
                (Some(g), _) if same_secret(g.as_bytes(), token.as_bytes()) => Via::Bearer,
                (Some(_), _) => {
                    return error(StatusCode::UNAUTHORIZED, "wrong bearer token").into_response();
                }
                (None, Some(id)) => {
                    let Some(csrf) = c.sessions.check(id) else {
                        return error(
                            StatusCode::UNAUTHORIZED,
                            "the job center's session ended (ferryd restarted, or it was idle): sign in again",
                        )
                        .into_response();
                    };
                    let sent = headers
                        .get(page::CSRF_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if changes && !same_secret(sent.as_bytes(), csrf.as_bytes()) {
                        return error(
                            StatusCode::FORBIDDEN,
                            "missing or wrong X-Ferry-CSRF header: a session's changes come from its page",
                        )
                        .into_response();
                    }
                    Via::Session(id.to_owned())
                }
                (None, None) => {
                    return error(
                        StatusCode::UNAUTHORIZED,
                        "this ferryd needs a token: Authorization: Bearer <token> (ferry --token-file)",
                    )
                    .into_response();
                }
            }
        }
    };
    req.extensions_mut().insert(via);
    next.run(req).await
}

/// The API's routes over a running daemon, and the job center page.
pub fn router(daemon: Arc<Daemon>) -> Router {
    let control = Control {
        daemon,
        sessions: Arc::new(Sessions::default()),
    };
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/events", get(events))
        .route("/v1/jobs", get(jobs))
        .route("/v1/jobs/{name}", get(job))
        .route("/v1/jobs/{name}/backups", get(backups))
        .route("/v1/jobs/{name}/restores", post(restore_request))
        .route("/v1/restores", get(restores))
        .route("/v1/restores/{id}/retry", post(restore_retry))
        .route("/v1/restores/{id}/log", get(restore_log))
        .route("/v1/jobs/{name}/sync", post(sync))
        .route("/v1/jobs/{name}/pause", post(pause))
        .route("/v1/jobs/{name}/resume", post(resume))
        .route("/v1/webhook", post(webhook_all))
        .route("/v1/webhook/{name}", post(webhook_job))
        .route("/metrics", get(metrics))
        .merge(page::routes())
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint (see /v1/status)") })
        .layer(middleware::from_fn_with_state(control.clone(), auth))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(control)
}

fn find<'a>(d: &'a Daemon, name: &str) -> Result<&'a Arc<Job>, Failure> {
    d.job(name).ok_or_else(|| {
        let names: Vec<&str> = d.jobs.iter().map(|j| j.name()).collect();
        error(
            StatusCode::NOT_FOUND,
            format!("no job named {name:?} (jobs: {})", names.join(", ")),
        )
    })
}

/// A job's status, with its backups (for milvus-backup jobs).
fn job_view(d: &Daemon, j: &Job) -> Result<JobView, Failure> {
    let mut v = j.view();
    if j.config.backups {
        v.backups = Some(backup_list(d, j)?);
        v.target_check = j
            .target_check(&d.shared.manifest)
            .map_err(manifest_failure)?
            .map(Into::into);
    }
    Ok(v)
}

fn job_views(d: &Daemon) -> Result<Vec<JobView>, Failure> {
    d.jobs.iter().map(|j| job_view(d, j)).collect()
}

fn status_view(d: &Daemon) -> Result<StatusView, Failure> {
    Ok(StatusView {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_seconds: d.started.elapsed().as_secs_f64(),
        state_dir: d.config.state_dir.display().to_string(),
        jobs: job_views(d)?,
    })
}

async fn status(State(d): State<Arc<Daemon>>) -> Answer<StatusView> {
    status_view(&d).map(Json)
}

/// How often `/v1/events` looks for changes.
const EVENTS_EVERY: Duration = Duration::from_secs(1);

/// `GET /v1/events`: server-sent events, a `snapshot` (every job, every restore) at once and
/// again whenever it changes (looked at every second; the uptime does not count as a change).
/// The stream ends when ferryd stops or the page's session ends.
async fn events(
    State(d): State<Arc<Daemon>>,
    State(sessions): State<Arc<Sessions>>,
    via: Option<Extension<Via>>,
) -> Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let session = match via.map(|Extension(v)| v) {
        Some(Via::Session(id)) => Some(id),
        _ => None,
    };
    let state = (d, String::new(), true);
    let stream = futures::stream::unfold(state, move |(d, last, first)| {
        let (sessions, session) = (sessions.clone(), session.clone());
        async move {
            let mut last = last;
            let mut first = first;
            loop {
                if !first {
                    tokio::select! {
                        () = tokio::time::sleep(EVENTS_EVERY) => {}
                        () = d.shared.shutdown.cancelled() => return None,
                    }
                }
                first = false;
                if session.as_deref().is_some_and(|id| !sessions.alive(id)) {
                    return None;
                }
                let event = match snapshot(&d) {
                    Ok(mut snap) => {
                        let uptime = std::mem::take(&mut snap.status.uptime_seconds);
                        let same = serde_json::to_string(&snap).unwrap_or_default();
                        if same == last {
                            continue;
                        }
                        last = same;
                        snap.status.uptime_seconds = uptime;
                        Event::default()
                            .event("snapshot")
                            .json_data(&snap)
                            .unwrap_or_default()
                    }
                    Err(Failure(_, why)) => {
                        last.clear();
                        Event::default().event("problem").data(why)
                    }
                };
                return Some((Ok(event), (d, last, first)));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// What `/v1/events` sends.
fn snapshot(d: &Daemon) -> Result<Snapshot, Failure> {
    Ok(Snapshot {
        status: status_view(d)?,
        restores: restore_views(d)?,
    })
}

async fn jobs(State(d): State<Arc<Daemon>>) -> Answer<Vec<JobView>> {
    job_views(&d).map(Json)
}

async fn job(State(d): State<Arc<Daemon>>, Path(name): Path<String>) -> Answer<JobView> {
    job_view(&d, find(&d, &name)?).map(Json)
}

fn manifest_failure(e: impl std::fmt::Display) -> Failure {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("reading the manifest: {e}"),
    )
}

/// A job's backups, each with its restore (state, id, detail) when it has one.
fn backup_list(d: &Daemon, j: &Job) -> Result<Vec<BackupView>, Failure> {
    let list = j.backups(&d.shared.manifest).map_err(manifest_failure)?;
    // Each backup's latest request (the list is in request order).
    let restores: std::collections::HashMap<String, ferry_state::RestoreRecord> = j
        .restorer()
        .and_then(|r| r.list().ok())
        .unwrap_or_default()
        .into_iter()
        .map(|(name, _, r)| (name, r))
        .collect();
    let copying = j.folders_progress();
    let mut out: Vec<BackupView> = list
        .iter()
        .map(|(n, r)| {
            let mut v = BackupView::of(n, r);
            v.restore = restores.get(n).map(|rec| RestoreBrief {
                id: rec.id.clone(),
                backup_id: rec.backup_id.clone(),
                state: rec.state.as_str().to_owned(),
                detail: rec.detail.clone(),
            });
            v
        })
        .collect();
    // Backups the running run copies into: progress for known ones, and new ones shown as
    // syncing before their first record (written when the run settles them).
    for (name, p) in copying {
        let copy = Some(CopyProgress {
            done: p.done,
            total: p.total,
        });
        match out.iter_mut().find(|v| v.name == name) {
            Some(v) => v.copy = copy,
            None => out.push(BackupView {
                copy,
                ..BackupView::copying(&name)
            }),
        }
    }
    Ok(out)
}

async fn backups(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
) -> Answer<Vec<BackupView>> {
    backup_list(&d, find(&d, &name)?).map(Json)
}

#[derive(Deserialize)]
struct SyncQuery {
    #[serde(default)]
    check_target: bool,
}

async fn sync(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    Query(q): Query<SyncQuery>,
) -> Accepted<SyncAnswer> {
    let j = find(&d, &name)?;
    j.request_full(q.check_target);
    let note = if j.is_paused() {
        "queued; the job is paused"
    } else {
        "queued"
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(SyncAnswer {
            job: name,
            sync: note.to_owned(),
        }),
    ))
}

async fn pause(State(d): State<Arc<Daemon>>, Path(name): Path<String>) -> Answer<PauseAnswer> {
    find(&d, &name)?.pause();
    Ok(Json(PauseAnswer {
        job: name,
        paused: true,
    }))
}

async fn resume(State(d): State<Arc<Daemon>>, Path(name): Path<String>) -> Answer<PauseAnswer> {
    find(&d, &name)?.resume();
    Ok(Json(PauseAnswer {
        job: name,
        paused: false,
    }))
}

async fn metrics(State(d): State<Arc<Daemon>>) -> Response {
    use ferry_state::{BackupState, RestoreState};
    let jobs: Vec<_> = d.jobs.iter().map(|j| j.view()).collect();
    let mut text = super::metrics::render(&jobs, d.started.elapsed().as_secs_f64());
    let (mut backups, mut restores, mut running) = (Vec::new(), Vec::new(), Vec::new());
    for j in d.jobs.iter().filter(|j| j.config.backups) {
        let b = j.backups(&d.shared.manifest).unwrap_or_default();
        backups.push((
            j.name().to_owned(),
            b.iter().map(|(_, r)| r.state.as_str()).collect(),
        ));
        let r = j.restorer().and_then(|r| r.list().ok()).unwrap_or_default();
        running.extend(
            r.iter()
                .filter(|(_, _, r)| r.state == RestoreState::Running)
                .map(|(b, _, r)| (j.name().to_owned(), b.clone(), r.id.clone(), r.progress)),
        );
        restores.push((
            j.name().to_owned(),
            r.iter().map(|(_, _, r)| r.state.as_str()).collect(),
        ));
    }
    if !backups.is_empty() {
        let states: Vec<&str> = BackupState::ALL.iter().map(|s| s.as_str()).collect();
        text.push_str(&super::metrics::render_states(
            "ferry_backups",
            "milvus-backup backups by state at the job's target.",
            &states,
            &backups,
        ));
        let states: Vec<&str> = RestoreState::ALL.iter().map(|s| s.as_str()).collect();
        text.push_str(&super::metrics::render_states(
            "ferry_restores",
            "Restores by state.",
            &states,
            &restores,
        ));
        text.push_str(&super::metrics::render_progress(&running));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn webhook_all(State(d): State<Arc<Daemon>>, body: Bytes) -> Answer<WebhookAnswer> {
    webhook(&d, None, &body)
}

async fn webhook_job(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Answer<WebhookAnswer> {
    find(&d, &name)?;
    webhook(&d, Some(&name), &body)
}

/// Routes each event to the jobs whose S3 source holds its key: created objects become keys
/// to mirror; removals ask for a full scan (deletions only ever follow a complete listing).
fn webhook(d: &Daemon, only: Option<&str>, body: &[u8]) -> Answer<WebhookAnswer> {
    let events = match webhook::parse(body) {
        Ok(Body::Events(e)) => e,
        Ok(Body::Test) => {
            return Ok(Json(WebhookAnswer {
                accepted: 0,
                confirm: None,
            }));
        }
        Ok(Body::SubscriptionConfirmation(url)) => {
            tracing::warn!(url = %url, "SNS subscription waiting for confirmation: open this URL once to confirm it");
            return Ok(Json(WebhookAnswer {
                accepted: 0,
                confirm: Some("logged".to_owned()),
            }));
        }
        Err(e) => return Err(error(StatusCode::BAD_REQUEST, e.to_string())),
    };
    let mut accepted = 0u64;
    for job in d.jobs.iter().filter(|j| only.is_none_or(|n| j.name() == n)) {
        let Location::Remote {
            bucket: Some(bucket),
            key: prefix,
            ..
        } = &job.config.source
        else {
            continue;
        };
        let mut keys = Vec::new();
        let mut removed = false;
        for e in &events {
            if &e.bucket != bucket {
                continue;
            }
            let Some(rel) = e.key.strip_prefix(prefix.as_str()) else {
                continue;
            };
            if rel.is_empty() {
                continue;
            }
            accepted += 1;
            if e.name.contains("ObjectRemoved") {
                removed = true;
            } else {
                keys.push(rel.to_owned());
            }
        }
        if removed {
            job.request_full(false);
        }
        if !keys.is_empty() {
            job.request_keys(keys);
        }
    }
    Ok(Json(WebhookAnswer {
        accepted,
        confirm: None,
    }))
}

fn restorer_of(j: &Job) -> Result<&Arc<crate::milvus::restore::Restorer>, Failure> {
    j.restorer().ok_or_else(|| {
        if j.config.backups {
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "job {:?} has not opened its stores yet; try again",
                    j.name()
                ),
            )
        } else {
            error(
                StatusCode::BAD_REQUEST,
                format!(
                    "job {:?} has layout = \"plain\": it knows no backups",
                    j.name()
                ),
            )
        }
    })
}

async fn restores(State(d): State<Arc<Daemon>>) -> Answer<Vec<RestoreView>> {
    restore_views(&d).map(Json)
}

fn restore_views(d: &Daemon) -> Result<Vec<RestoreView>, Failure> {
    let mut out = Vec::new();
    for j in &d.jobs {
        let Some(r) = j.restorer() else { continue };
        let list = r.list().map_err(manifest_failure)?;
        out.extend(
            list.iter()
                .map(|(b, seq, rec)| RestoreView::of(j.name(), b, *seq, rec).with_kind(r.kind())),
        );
    }
    Ok(out)
}

async fn restore_request(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Accepted<RestoreView> {
    use crate::milvus::restore::RestoreError;
    let b: RestoreRequest = serde_json::from_slice(&body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("restore request: {e}")))?;
    let mut renames = Vec::new();
    for r in &b.renames {
        match r.split_once(':') {
            Some((a, c)) if !a.is_empty() && !c.is_empty() => {
                renames.push((a.to_owned(), c.to_owned()));
            }
            _ => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!("rename {r:?} is not OLD:NEW (e.g. db1.c1:db2.c1_new)"),
                ));
            }
        }
    }
    let r = restorer_of(find(&d, &name)?)?;
    match r.request(&b.backup, b.suffix, renames, b.when_synced, b.again) {
        Ok((seq, rec)) => Ok((
            StatusCode::ACCEPTED,
            Json(RestoreView::of(&name, &b.backup, seq, &rec).with_kind(r.kind())),
        )),
        Err(e @ RestoreError::State(_)) => {
            Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
        }
        Err(e @ (RestoreError::InProgress { .. } | RestoreError::AlreadyRestored { .. })) => {
            Err(error(StatusCode::CONFLICT, e.to_string()))
        }
        Err(e) => Err(error(StatusCode::BAD_REQUEST, e.to_string())),
    }
}

/// The most of a log `GET /v1/restores/{id}/log` answers with.
const LOG_TAIL: u64 = 64 * 1024;

async fn restore_log(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> Answer<RestoreLog> {
    use crate::milvus::restore::RestoreError;
    for j in &d.jobs {
        let Some(r) = j.restorer() else { continue };
        match r.log(&id, LOG_TAIL) {
            Ok(Some(log)) => {
                return Ok(Json(RestoreLog {
                    id,
                    job: j.name().to_owned(),
                    log,
                }));
            }
            Ok(None) => {}
            Err(e) => return Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        }
    }
    Err(error(
        StatusCode::NOT_FOUND,
        RestoreError::UnknownId(id).to_string(),
    ))
}

async fn restore_retry(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> Accepted<RestoreView> {
    use crate::milvus::restore::RestoreError;
    for j in &d.jobs {
        let Some(r) = j.restorer() else { continue };
        match r.retry(&id) {
            Ok(Some((backup, seq, rec))) => {
                return Ok((
                    StatusCode::ACCEPTED,
                    Json(RestoreView::of(j.name(), &backup, seq, &rec).with_kind(r.kind())),
                ));
            }
            Ok(None) => {}
            Err(
                e @ (RestoreError::NotFailed { .. }
                | RestoreError::Replaced { .. }
                | RestoreError::InProgress { .. }),
            ) => {
                return Err(error(StatusCode::CONFLICT, e.to_string()));
            }
            Err(e) => return Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        }
    }
    Err(error(
        StatusCode::NOT_FOUND,
        RestoreError::UnknownId(id).to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Instant;

    use ferry_state::Manifest;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::config::Config;
    use crate::control::client::{ClientError, ControlClient};
    use crate::jobs::Shared;
    use crate::sync::transfer::TransferConfig;

    /// A daemon with a plain job and a backup job (not running: only the API) served on a
    /// loopback port.
    async fn api() -> (tempfile::TempDir, Arc<Daemon>, ControlClient) {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("ferryd.toml");
        let text = format!(
            "alias_dir = {:?}\nstate_dir = {:?}\n[[jobs]]\nname = \"j\"\nsource = \"/src/\"\ntarget = \"/dst/\"\nlayout = \"plain\"\n[[jobs]]\nname = \"b\"\nsource = \"/bsrc/\"\ntarget = \"/bdst/\"\n",
            dir.path().join("aliases"),
            dir.path().join("state")
        );
        let config = Config::parse(&path, &text).expect("config");
        let shared = Arc::new(Shared {
            manifest: Arc::new(Manifest::open(&config.state_dir).expect("manifest")),
            permits: Arc::new(tokio::sync::Semaphore::new(4)),
            shutdown: CancellationToken::new(),
            transfer: TransferConfig::default(),
            state_dir: config.state_dir.clone(),
            exe: PathBuf::from("ferryd"),
        });
        let jobs = config
            .jobs
            .iter()
            .cloned()
            .map(|j| Arc::new(Job::new(j)))
            .collect();
        let daemon = Arc::new(Daemon {
            config,
            shared,
            jobs,
            started: Instant::now(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(axum::serve(listener, router(daemon.clone())).into_future());
        let client = ControlClient::new(&format!("http://{addr}"), None).expect("client");
        (dir, daemon, client)
    }

    fn status_of(e: ClientError) -> (u16, String) {
        match e {
            ClientError::Status {
                status, message, ..
            } => (status, message),
            other => panic!("not an HTTP error: {other}"),
        }
    }

    #[tokio::test]
    async fn the_api_answers_in_its_types() {
        let (_dir, daemon, c) = api().await;
        let status = c.status().await.expect("status");
        assert_eq!(status.jobs.len(), 2);
        assert_eq!(status.jobs[0].name, "j");
        assert_eq!(
            status.jobs[0].state,
            crate::control::api::JobState::Starting
        );
        assert!(
            status.jobs[0].backups.is_none(),
            "a plain job has no backups"
        );
        assert_eq!(status.jobs[1].backups, Some(Vec::new()), "none seen yet");

        let sync = c.sync("j", true).await.expect("sync");
        assert_eq!(sync.sync, "queued");
        let job = c.job("j").await.expect("job");
        assert!(job.pending_full);

        let paused = c.pause("j").await.expect("pause");
        assert!(paused.paused && daemon.jobs[0].is_paused());
        let sync = c.sync("j", false).await.expect("sync");
        assert_eq!(sync.sync, "queued; the job is paused");
        let resumed = c.resume("j").await.expect("resume");
        assert!(!resumed.paused && !daemon.jobs[0].is_paused());

        assert!(c.restores().await.expect("restores").is_empty());
    }

    #[tokio::test]
    async fn bad_requests_get_a_status_and_a_message_naming_what_is_wrong() {
        let (_dir, _daemon, c) = api().await;
        let (code, msg) = status_of(c.job("no-pe").await.expect_err("unknown job"));
        assert_eq!(code, 404);
        assert!(
            msg.contains("no job named \"no-pe\"") && msg.contains("j"),
            "{msg}"
        );
        let c = c.raw();

        let (code, msg) = status_of(c.get("/v1/nothing").await.expect_err("no route"));
        assert_eq!(code, 404);
        assert!(msg.contains("no such endpoint"), "{msg}");

        let body = serde_json::json!({"backup": "b1", "surprise": 1});
        let (code, msg) = status_of(
            c.post_json("/v1/jobs/j/restores", &body)
                .await
                .expect_err("unknown field"),
        );
        assert_eq!(code, 400);
        assert!(msg.contains("surprise"), "{msg}");

        let body = serde_json::json!({"backup": "b1"});
        let (code, msg) = status_of(
            c.post_json("/v1/jobs/j/restores", &body)
                .await
                .expect_err("a plain job"),
        );
        assert_eq!(code, 400);
        assert!(msg.contains("layout = \"plain\""), "{msg}");
        let (code, msg) = status_of(
            c.post_json("/v1/jobs/b/restores", &body)
                .await
                .expect_err("stores not opened"),
        );
        assert_eq!(code, 503);
        assert!(msg.contains("try again"), "{msg}");

        let (code, _) = status_of(
            c.post_json("/v1/webhook", &serde_json::json!("garbage"))
                .await
                .expect_err("not an event"),
        );
        assert_eq!(code, 400);

        let (code, msg) = status_of(
            c.post("/v1/restores/ferry-nope/retry")
                .await
                .expect_err("unknown restore"),
        );
        assert_eq!(code, 404);
        assert!(msg.contains("ferry-nope"), "{msg}");
    }
}
