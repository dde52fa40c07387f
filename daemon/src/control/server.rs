//! The control API server (axum, HTTP/1).

// Handlers return their error response by value (axum turns either side into a response);
// boxing it would only add an allocation per failed request.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::webhook::{self, Body};
use crate::jobs::{Daemon, Job};
use crate::location::Location;

/// Largest request body accepted (webhook batches are far smaller).
pub const MAX_BODY: usize = 1024 * 1024;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// Compares without stopping at the first differing byte.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn auth(
    State(d): State<Arc<Daemon>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    if let Some(token) = &d.config.control.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match given {
            Some(g) if same_secret(g.as_bytes(), token.as_bytes()) => {}
            Some(_) => return error(StatusCode::UNAUTHORIZED, "wrong bearer token"),
            None => {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "this ferryd needs a token: Authorization: Bearer <token> (ferry --token-file)",
                );
            }
        }
    }
    next.run(req).await
}

/// The API's routes over a running daemon.
pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/jobs", get(jobs))
        .route("/v1/jobs/{name}", get(job))
        .route("/v1/jobs/{name}/backups", get(backups))
        .route("/v1/jobs/{name}/restores", post(restore_request))
        .route("/v1/restores", get(restores))
        .route("/v1/restores/{id}/retry", post(restore_retry))
        .route("/v1/jobs/{name}/sync", post(sync))
        .route("/v1/jobs/{name}/pause", post(pause))
        .route("/v1/jobs/{name}/resume", post(resume))
        .route("/v1/webhook", post(webhook_all))
        .route("/v1/webhook/{name}", post(webhook_job))
        .route("/metrics", get(metrics))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint (see /v1/status)") })
        .layer(middleware::from_fn_with_state(daemon.clone(), auth))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(daemon)
}

fn find<'a>(d: &'a Daemon, name: &str) -> Result<&'a Arc<Job>, Response> {
    d.job(name).ok_or_else(|| {
        let names: Vec<&str> = d.jobs.iter().map(|j| j.name()).collect();
        error(
            StatusCode::NOT_FOUND,
            format!("no job named {name:?} (jobs: {})", names.join(", ")),
        )
    })
}

/// A job's status, with its backups (for milvus-backup jobs).
fn job_json(d: &Daemon, j: &crate::jobs::Job) -> Result<serde_json::Value, Response> {
    let mut v = serde_json::to_value(j.status()).unwrap_or_default();
    if j.config.backups {
        v["backups"] = backup_list(d, j)?;
    }
    Ok(v)
}

fn jobs_json(d: &Daemon) -> Result<Vec<serde_json::Value>, Response> {
    d.jobs.iter().map(|j| job_json(d, j)).collect()
}

async fn status(State(d): State<Arc<Daemon>>) -> Response {
    let jobs = match jobs_json(&d) {
        Ok(j) => j,
        Err(r) => return r,
    };
    axum::Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": d.started.elapsed().as_secs_f64(),
        "state_dir": d.config.state_dir.display().to_string(),
        "jobs": jobs,
    }))
    .into_response()
}

async fn jobs(State(d): State<Arc<Daemon>>) -> Response {
    match jobs_json(&d) {
        Ok(j) => axum::Json(j).into_response(),
        Err(r) => r,
    }
}

async fn job(State(d): State<Arc<Daemon>>, Path(name): Path<String>) -> Response {
    match find(&d, &name).and_then(|j| job_json(&d, j)) {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => r,
    }
}

/// One backup's record as the API shows it.
pub fn backup_json(name: &str, r: &ferry_state::BackupRecord) -> serde_json::Value {
    json!({
        "name": name,
        "state": r.state.as_str(),
        "backup_id": r.backup_id,
        "objects": r.objects,
        "bytes": r.bytes,
        "segments": r.segments,
        "rows": r.rows,
        "collections": r.collections,
        "created_ms": r.created_ms,
        "discovered_ms": r.discovered_ms,
        "updated_ms": r.updated_ms,
        "synced_ms": r.synced_ms,
        "verified_ms": r.verified_ms,
        "detail": r.detail,
    })
}

/// A job's backups, each with its restore (state, id, detail) when it has one.
fn backup_list(d: &Daemon, j: &crate::jobs::Job) -> Result<serde_json::Value, Response> {
    let list = j.backups(&d.shared.manifest).map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading the manifest: {e}"),
        )
    })?;
    // Each backup's latest request (the list is in request order).
    let restores: std::collections::HashMap<String, ferry_state::RestoreRecord> = j
        .restorer()
        .and_then(|r| r.list().ok())
        .unwrap_or_default()
        .into_iter()
        .map(|(name, _, r)| (name, r))
        .collect();
    Ok(serde_json::Value::Array(
        list.iter()
            .map(|(n, r)| {
                let mut v = backup_json(n, r);
                if let Some(rec) = restores.get(n) {
                    v["restore"] = json!({"id": rec.id, "backup_id": rec.backup_id,
                        "state": rec.state.as_str(), "detail": rec.detail});
                }
                v
            })
            .collect(),
    ))
}

async fn backups(State(d): State<Arc<Daemon>>, Path(name): Path<String>) -> Response {
    match find(&d, &name).and_then(|j| backup_list(&d, j)) {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => r,
    }
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
) -> Response {
    match find(&d, &name) {
        Ok(j) => {
            j.request_full(q.check_target);
            let note = if j.is_paused() {
                "queued; the job is paused"
            } else {
                "queued"
            };
            (
                StatusCode::ACCEPTED,
                axum::Json(json!({"job": name, "sync": note})),
            )
                .into_response()
        }
        Err(r) => r,
    }
}

async fn pause(State(d): State<Arc<Daemon>>, Path(name): Path<String>) -> Response {
    match find(&d, &name) {
        Ok(j) => {
            j.pause();
            axum::Json(json!({"job": name, "paused": true})).into_response()
        }
        Err(r) => r,
    }
}

async fn resume(State(d): State<Arc<Daemon>>, Path(name): Path<String>) -> Response {
    match find(&d, &name) {
        Ok(j) => {
            j.resume();
            axum::Json(json!({"job": name, "paused": false})).into_response()
        }
        Err(r) => r,
    }
}

async fn metrics(State(d): State<Arc<Daemon>>) -> Response {
    use ferry_state::{BackupState, RestoreState};
    let jobs: Vec<_> = d.jobs.iter().map(|j| j.status()).collect();
    let mut text = super::metrics::render(&jobs, d.started.elapsed().as_secs_f64());
    let (mut backups, mut restores) = (Vec::new(), Vec::new());
    for j in d.jobs.iter().filter(|j| j.config.backups) {
        let b = j.backups(&d.shared.manifest).unwrap_or_default();
        backups.push((
            j.name().to_owned(),
            b.iter().map(|(_, r)| r.state.as_str()).collect(),
        ));
        let r = j.restorer().and_then(|r| r.list().ok()).unwrap_or_default();
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
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn webhook_all(State(d): State<Arc<Daemon>>, body: Bytes) -> Response {
    webhook(&d, None, &body)
}

async fn webhook_job(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = find(&d, &name) {
        return r;
    }
    webhook(&d, Some(&name), &body)
}

/// Routes each event to the jobs whose S3 source holds its key: created objects become keys
/// to mirror; removals ask for a full scan (deletions only ever follow a complete listing).
fn webhook(d: &Daemon, only: Option<&str>, body: &[u8]) -> Response {
    let events = match webhook::parse(body) {
        Ok(Body::Events(e)) => e,
        Ok(Body::Test) => return axum::Json(json!({"accepted": 0})).into_response(),
        Ok(Body::SubscriptionConfirmation(url)) => {
            tracing::warn!(url = %url, "SNS subscription waiting for confirmation: open this URL once to confirm it");
            return axum::Json(json!({"accepted": 0, "confirm": "logged"})).into_response();
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
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
    axum::Json(json!({"accepted": accepted})).into_response()
}

/// One restore record as the API shows it.
pub fn restore_json(
    job: &str,
    backup: &str,
    seq: u32,
    r: &ferry_state::RestoreRecord,
) -> serde_json::Value {
    json!({
        "job": job,
        "backup": backup,
        "seq": seq,
        "id": r.id,
        "backup_id": r.backup_id,
        "state": r.state.as_str(),
        "origin": match r.origin {
            ferry_state::RestoreOrigin::Config => "config",
            ferry_state::RestoreOrigin::Manual => "manual",
        },
        "suffix": r.suffix,
        "renames": r.renames.iter().map(|(a, b)| format!("{a}:{b}")).collect::<Vec<_>>(),
        "attempts": r.attempts,
        "requested_ms": r.requested_ms,
        "fired_ms": r.fired_ms,
        "ended_ms": r.ended_ms,
        "next_try_ms": r.next_try_ms,
        "progress": r.progress,
        "detail": r.detail,
    })
}

fn restorer_of(j: &Job) -> Result<&Arc<crate::milvus::restore::Restorer>, Response> {
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

async fn restores(State(d): State<Arc<Daemon>>) -> Response {
    let mut out = Vec::new();
    for j in &d.jobs {
        let Some(r) = j.restorer() else { continue };
        match r.list() {
            Ok(list) => out.extend(
                list.iter()
                    .map(|(b, seq, rec)| restore_json(j.name(), b, *seq, rec)),
            ),
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("reading the manifest: {e}"),
                );
            }
        }
    }
    axum::Json(out).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    backup: String,
    #[serde(default)]
    suffix: Option<String>,
    #[serde(default)]
    renames: Vec<String>,
    #[serde(default)]
    when_synced: bool,
    #[serde(default)]
    again: bool,
}

async fn restore_request(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    use crate::milvus::restore::RestoreError;
    let b: RestoreBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("restore request: {e}")),
    };
    let mut renames = Vec::new();
    for r in &b.renames {
        match r.split_once(':') {
            Some((a, c)) if !a.is_empty() && !c.is_empty() => {
                renames.push((a.to_owned(), c.to_owned()));
            }
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("rename {r:?} is not OLD:NEW (e.g. db1.c1:db2.c1_new)"),
                );
            }
        }
    }
    let j = match find(&d, &name) {
        Ok(j) => j,
        Err(r) => return r,
    };
    let r = match restorer_of(j) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match r.request(&b.backup, b.suffix, renames, b.when_synced, b.again) {
        Ok((seq, rec)) => (
            StatusCode::ACCEPTED,
            axum::Json(restore_json(&name, &b.backup, seq, &rec)),
        )
            .into_response(),
        Err(e @ RestoreError::State(_)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e @ (RestoreError::InProgress { .. } | RestoreError::AlreadyRestored { .. })) => {
            error(StatusCode::CONFLICT, e.to_string())
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn restore_retry(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> Response {
    use crate::milvus::restore::RestoreError;
    for j in &d.jobs {
        let Some(r) = j.restorer() else { continue };
        match r.retry(&id) {
            Ok(Some((backup, seq, rec))) => {
                return (
                    StatusCode::ACCEPTED,
                    axum::Json(restore_json(j.name(), &backup, seq, &rec)),
                )
                    .into_response();
            }
            Ok(None) => {}
            Err(
                e @ (RestoreError::NotFailed { .. }
                | RestoreError::Replaced { .. }
                | RestoreError::InProgress { .. }),
            ) => {
                return error(StatusCode::CONFLICT, e.to_string());
            }
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
    error(
        StatusCode::NOT_FOUND,
        RestoreError::UnknownId(id).to_string(),
    )
}
