//! ferryd's HTTP control API: status, per-job control, Prometheus metrics and the bucket-event
//! webhook ([`server`]), and the client `ferry status|sync|pause|resume` uses ([`client`]).
//!
//! | method and path | what |
//! |---|---|
//! | `GET /v1/status` | daemon version, uptime and every job's status |
//! | `GET /v1/jobs` | every job's status |
//! | `GET /v1/jobs/{name}` | one job's status, with its recent failures |
//! | `POST /v1/jobs/{name}/sync` | full scan now (`?check_target=true`: also list the target) |
//! | `POST /v1/jobs/{name}/pause`, `/resume` | stop / restart starting runs |
//! | `POST /v1/webhook`, `/v1/webhook/{name}` | S3 event notifications (MinIO, Ceph, AWS via SNS) |
//! | `GET /v1/events` | server-sent events: every job and restore, at once and on each change |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /` | the job center page ([`page`]) |
//!
//! With a token configured every request needs `Authorization: Bearer <token>` (or the job
//! center's session cookie). State-changing requests marked cross-site by the browser are
//! refused.

pub mod api;
pub mod client;
pub mod metrics;
pub mod page;
pub mod server;
pub mod webhook;
