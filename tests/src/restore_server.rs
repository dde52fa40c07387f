//! A test stand-in for milvus-backup's REST server (`milvus-backup server`), restore part, as
//! its swagger description has it: `POST /api/v1/restore` (async) and
//! `GET /api/v1/get_restore?id=`, HTTP 200 with a JSON `code` (0 success, 3 fail, 400
//! parameter error), task states 0 INITIAL, 1 EXECUTING, 2 SUCCESS, 3 FAIL, 4 TIMEOUT, and tasks
//! kept in memory only ([`RestoreServer::forget`] is a server restart).
//!
//! It runs on its own thread and runtime, like the S3 test server, and counts every request
//! so that tests can check that a restore was posted exactly once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::server_thread::ServerThread;

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Polls of a task before it ends.
    pub polls_to_finish: u32,
    /// How tasks end: 2 SUCCESS, 3 FAIL, 4 TIMEOUT.
    pub outcome: i64,
    /// Answer every POST with this failure code (HTTP 200), e.g. 3.
    pub post_code: Option<i64>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            polls_to_finish: 3,
            outcome: 2,
            post_code: None,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    behaviour: Behaviour,
    tasks: HashMap<String, u32>,
    posts: Vec<Value>,
    polls: u64,
}

/// A running server.
#[derive(Debug)]
pub struct RestoreServer {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    _server: ServerThread,
}

type Shared = Arc<Mutex<Inner>>;

async fn restore(State(s): State<Shared>, body: axum::body::Bytes) -> axum::Json<Value> {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return axum::Json(json!({"code": 400, "msg": "invalid JSON body"}));
    };
    let Ok(mut inner) = s.lock() else {
        return axum::Json(json!({"code": 3, "msg": "poisoned"}));
    };
    inner.posts.push(v.clone());
    if let Some(code) = inner.behaviour.post_code {
        return axum::Json(
            json!({"requestId": "r", "code": code, "msg": "restore failed: collection coll_0_bak already exists"}),
        );
    }
    let name = v["backup_name"].as_str().unwrap_or("");
    if name.is_empty() {
        return axum::Json(json!({"code": 400, "msg": "empty backup name"}));
    }
    let id = v["id"].as_str().unwrap_or("generated").to_owned();
    inner.tasks.insert(id.clone(), 0);
    axum::Json(json!({"requestId": "r", "code": 0, "msg": "success",
        "data": {"id": id, "state_code": 0, "progress": 0, "start_time": 1}}))
}

async fn get_restore(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::Json<Value> {
    let Ok(mut inner) = s.lock() else {
        return axum::Json(json!({"code": 3, "msg": "poisoned"}));
    };
    inner.polls += 1;
    let id = q.get("id").cloned().unwrap_or_default();
    let b = inner.behaviour.clone();
    let Some(polls) = inner.tasks.get_mut(&id) else {
        return axum::Json(
            json!({"requestId": "r", "code": 3, "msg": format!("restore task not found, id: {id}")}),
        );
    };
    *polls += 1;
    let (state, progress) = if *polls >= b.polls_to_finish {
        (b.outcome, 100)
    } else {
        (1, i64::from(*polls * 100 / b.polls_to_finish.max(1)))
    };
    let error = if state == 3 {
        "import failed: no binlog to import"
    } else {
        ""
    };
    axum::Json(json!({"requestId": "r", "code": 0, "msg": "success",
        "data": {"id": id, "state_code": state, "progress": progress, "errorMessage": error}}))
}

impl RestoreServer {
    /// Starts it on `127.0.0.1:0`.
    pub fn start(behaviour: Behaviour) -> RestoreServer {
        let inner = Arc::new(Mutex::new(Inner {
            behaviour,
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/api/v1/restore", post(restore))
            .route("/api/v1/get_restore", get(get_restore))
            .with_state(inner.clone());
        let server =
            ServerThread::start("restore-server", "127.0.0.1:0", move |l, stop| async move {
                let _ = axum::serve(l, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.await;
                    })
                    .await;
            });
        RestoreServer {
            addr: server.addr(),
            inner,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every POST body received.
    pub fn posts(&self) -> Vec<Value> {
        self.inner
            .lock()
            .map(|i| i.posts.clone())
            .unwrap_or_default()
    }

    /// GET polls received.
    pub fn polls(&self) -> u64 {
        self.inner.lock().map(|i| i.polls).unwrap_or(0)
    }

    /// Forgets every task, as a restarted server does.
    pub fn forget(&self) {
        if let Ok(mut i) = self.inner.lock() {
            i.tasks.clear();
        }
    }

    /// Changes how it behaves from now on.
    pub fn set(&self, b: Behaviour) {
        if let Ok(mut i) = self.inner.lock() {
            i.behaviour = b;
        }
    }
}
