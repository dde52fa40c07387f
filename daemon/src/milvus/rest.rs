//! milvus-backup's REST server, the restore part: `POST /api/v1/restore` and
//! `GET /api/v1/get_restore?id=` (see the project's swagger description).
//!
//! The HTTP status is 200 even on failure: the JSON `code` decides (0 or absent: success; 1 not
//! supported, 2 no permission, 3 fail, 400 parameter error, 404 not found). Restore tasks live
//! in the server's memory only: after a restart, `get_restore` answers "not found".

use serde_json::{Value, json};

use crate::http::{Client, ClientError};

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestError {
    /// Transport or HTTP status.
    #[error(transparent)]
    Http(#[from] ClientError),
    /// The server answered with a failure code.
    #[error("milvus-backup at {url} refused the restore: code {code}: {msg}")]
    Code {
        /// The server.
        url: String,
        code: i64,
        msg: String,
    },
}

impl RestError {
    /// Worth trying again later (nothing happened at the server).
    pub fn is_transient(&self) -> bool {
        match self {
            RestError::Http(e) => e.is_transient(),
            RestError::Code { .. } => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// The deterministic task id.
    pub id: String,
    pub backup_name: String,
    /// `-s`.
    pub collection_suffix: Option<String>,
    /// `-r`: `db1.c1` → `db2.c1_new` (or `c1` → `c1_new`).
    pub collection_renames: Vec<(String, String)>,
    /// Where the backup is (overrides the server's configured bucket).
    pub bucket_name: String,
    /// The backup root in that bucket.
    pub path: String,
}

/// The answer's `code` (HTTP is 200 either way).
pub mod code {
    /// Success.
    pub const OK: i64 = 0;
    pub const NOT_SUPPORTED: i64 = 1;
    pub const NO_PERMISSION: i64 = 2;
    /// Failed (also "task not found" from `get_restore`).
    pub const FAIL: i64 = 3;
    /// A parameter is wrong.
    pub const PARAMETER_ERROR: i64 = 400;
    pub const NOT_FOUND: i64 = 404;
}

/// A restore task's `state_code` (`backuppb.RestoreTaskStateCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskCode {
    /// 0: accepted, not started.
    Initial,
    /// 1: running.
    Executing,
    /// 2: done.
    Success,
    /// 3: failed.
    Fail,
    /// 4: timed out at the server.
    Timeout,
    /// A code this version does not know (taken as still running).
    Other(i64),
}

impl TaskCode {
    /// The code's meaning.
    pub fn of(code: i64) -> TaskCode {
        match code {
            0 => TaskCode::Initial,
            1 => TaskCode::Executing,
            2 => TaskCode::Success,
            3 => TaskCode::Fail,
            4 => TaskCode::Timeout,
            other => TaskCode::Other(other),
        }
    }
}

/// A restore task as `get_restore` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    /// Where it stands.
    pub state: TaskCode,
    /// 0–100.
    pub progress: i64,
    /// `errorMessage`.
    pub error_message: String,
}

/// `get_restore`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// The server knows the task.
    Known(TaskState),
    /// It does not (never posted, or forgotten after a restart): the server's message.
    NotFound(String),
}

/// A client of one milvus-backup server.
#[derive(Debug)]
pub struct RestClient {
    http: Client,
}

fn code_of(v: &Value) -> i64 {
    v.get("code").and_then(Value::as_i64).unwrap_or(0)
}

fn msg_of(v: &Value) -> String {
    v.get("msg")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(500)
        .collect()
}

impl RestClient {
    /// A client for `url` (`http://host:port`).
    pub fn new(url: &str) -> Result<RestClient, ClientError> {
        Ok(RestClient {
            http: Client::new(url, None, "milvus-backup", " (is its server running?)")?,
        })
    }

    /// Submits an asynchronous restore.
    pub async fn restore(&self, r: &RestoreRequest) -> Result<(), RestError> {
        let mut body = json!({
            "async": true,
            "id": r.id,
            "requestId": r.id,
            "backup_name": r.backup_name,
        });
        if let Some(s) = &r.collection_suffix {
            body["collection_suffix"] = json!(s);
        }
        if !r.collection_renames.is_empty() {
            let map: serde_json::Map<String, Value> = r
                .collection_renames
                .iter()
                .map(|(a, b)| (a.clone(), json!(b)))
                .collect();
            body["collection_renames"] = Value::Object(map);
        }
        if !r.bucket_name.is_empty() {
            body["bucket_name"] = json!(r.bucket_name);
            body["path"] = json!(r.path);
        }
        let v = self.http.post_json("/api/v1/restore", &body).await?;
        match code_of(&v) {
            code::OK => Ok(()),
            code => Err(RestError::Code {
                url: self.http.base().to_owned(),
                code,
                msg: msg_of(&v),
            }),
        }
    }

    /// Asks for a task's state.
    pub async fn get_restore(&self, id: &str) -> Result<Task, RestError> {
        let q = percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC);
        let v = match self.http.get(&format!("/api/v1/get_restore?id={q}")).await {
            Ok(v) => v,
            Err(ClientError::Status {
                status: 404,
                message,
                ..
            }) => return Ok(Task::NotFound(message)),
            Err(e) => return Err(e.into()),
        };
        let code = code_of(&v);
        let msg = msg_of(&v);
        let data = v.get("data").filter(|d| !d.is_null());
        if code != code::OK {
            // "task not found" comes back as code 3 (or 404) with HTTP 200.
            if code == code::NOT_FOUND
                || msg.to_ascii_lowercase().contains("not found")
                || data.is_none()
            {
                return Ok(Task::NotFound(format!("code {code}: {msg}")));
            }
            return Err(RestError::Code {
                url: self.http.base().to_owned(),
                code,
                msg,
            });
        }
        let Some(d) = data else {
            return Ok(Task::NotFound(format!("code 0 without data: {msg}")));
        };
        Ok(Task::Known(TaskState {
            state: TaskCode::of(d.get("state_code").and_then(Value::as_i64).unwrap_or(0)),
            progress: d.get("progress").and_then(Value::as_i64).unwrap_or(0),
            error_message: d
                .get("errorMessage")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        }))
    }
}
