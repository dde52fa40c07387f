//! The control API's requests and answers: one set of serde types, serialized by the server
//! and deserialized by the client (`ferry status|sync|pause|resume|restore`). A field renamed
//! on one side fails to compile or to decode on the other, instead of printing 0.

use serde::{Deserialize, Serialize};

/// What a job is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Opening its stores.
    #[default]
    Starting,
    /// Waiting for its next run.
    Idle,
    /// In a full scan.
    Scanning,
    /// Mirroring changed keys.
    Syncing,
    /// Waiting to retry after a failed run.
    Retrying,
    /// Paused by `ferry pause`.
    Paused,
    /// Stopped (shutdown, or it cannot start).
    Stopped,
}

impl JobState {
    /// The word the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Starting => "starting",
            JobState::Idle => "idle",
            JobState::Scanning => "scanning",
            JobState::Syncing => "syncing",
            JobState::Retrying => "retrying",
            JobState::Paused => "paused",
            JobState::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// A full scan of the source.
    Full,
    /// A full scan that also lists the target.
    Reconcile,
    /// Named keys (watch or bucket events).
    Keys,
}

impl RunKind {
    /// The word the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Full => "full",
            RunKind::Reconcile => "reconcile",
            RunKind::Keys => "keys",
        }
    }
}

/// One object that failed in the job's last runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedObject {
    /// The object.
    pub path: String,
    /// Why (one line, no secrets).
    pub error: String,
    /// Retried automatically (transient) or not.
    pub transient: bool,
    /// When (ms since the epoch).
    pub at_ms: i64,
}

/// The outcome of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub kind: RunKind,
    /// Start (ms since the epoch).
    pub started_ms: i64,
    /// Wall time.
    pub seconds: f64,
    /// Objects copied.
    pub copied: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Objects already in sync.
    pub unchanged: u64,
    /// Objects found already at the target with the same content, and recorded.
    #[serde(default)]
    pub adopted: u64,
    /// Objects deleted at the target.
    pub deleted: u64,
    /// Objects that failed.
    pub failed: u64,
    /// Objects listed (full runs) or looked at (key runs).
    pub source_objects: u64,
    /// Source objects the job's include/exclude filters left out.
    pub skipped: u64,
    /// Why the run as a whole failed, if it did.
    pub error: Option<String>,
}

/// A job as `GET /v1/jobs/{name}` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    pub name: String,
    /// Source, as configured.
    pub source: String,
    /// Target, as configured.
    pub target: String,
    /// What it is doing.
    pub state: JobState,
    /// Paused by `ferry pause`.
    pub paused: bool,
    /// Whether the source is watched (local sources).
    pub watching: bool,
    pub last_run: Option<RunInfo>,
    /// End of the last run that left the job in sync (ms since the epoch).
    pub last_success_ms: Option<i64>,
    /// End of the last complete full scan (ms since the epoch).
    pub last_scan_ms: Option<i64>,
    /// Objects at the source at the last complete scan.
    pub objects_in_sync: u64,
    /// Source objects the include/exclude filters left out in the last full scan: a filter
    /// that matches nothing (or everything) shows here.
    pub skipped_last_scan: u64,
    /// Keys waiting for the next run.
    pub pending_keys: u64,
    /// A full scan is waiting.
    pub pending_full: bool,
    /// Objects copied since ferryd started.
    pub copied_total: u64,
    /// Bytes copied since ferryd started.
    pub bytes_total: u64,
    /// Objects found already at the target with the same content (adopted) since ferryd
    /// started.
    #[serde(default)]
    pub adopted_total: u64,
    /// Objects deleted at the target since ferryd started.
    pub deleted_total: u64,
    /// Object failures and failed runs since ferryd started.
    pub errors_total: u64,
    /// Full runs since ferryd started.
    pub runs_full: u64,
    /// Key runs since ferryd started.
    pub runs_keys: u64,
    /// Objects that failed recently (newest last).
    pub failed: Vec<FailedObject>,
    /// Runs failed in a row.
    pub consecutive_failures: u32,
    /// When the next retry is due (ms since the epoch).
    pub next_retry_ms: Option<i64>,
    /// Seconds since the oldest change not yet replicated (0 when in sync).
    pub lag_seconds: f64,
    /// Objects being copied now, with bytes done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copying: Vec<CopyingView>,
    /// Its backups at the target (milvus-backup jobs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<Vec<BackupView>>,
    /// Whether its target checks signed payload hashes, as last probed (milvus-backup jobs,
    /// once a backup was settled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_check: Option<TargetCheckView>,
}

impl JobView {
    /// No failed run and no failed object.
    pub fn healthy(&self) -> bool {
        self.last_run.as_ref().is_none_or(|r| r.error.is_none()) && self.failed.is_empty()
    }
}

/// `GET /v1/restores/{id}/log`: the end of an exec trigger's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreLog {
    /// The restore.
    pub id: String,
    /// Its job.
    pub job: String,
    /// The last bytes of its log (empty: no log, as for REST triggers).
    pub log: String,
}

/// An object being copied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CopyingView {
    /// Its key at the target.
    pub key: String,
    /// Bytes stored so far.
    pub done: u64,
    /// Its size.
    pub size: u64,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// ferryd's version.
    pub version: String,
    /// Seconds since it started.
    pub uptime_seconds: f64,
    /// Its state folder.
    pub state_dir: String,
    /// Every job.
    pub jobs: Vec<JobView>,
}

/// `GET /v1/events`: one `snapshot` event's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// As `GET /v1/status`.
    pub status: StatusView,
    /// As `GET /v1/restores`.
    pub restores: Vec<RestoreView>,
}

/// One backup at a job's target (`GET /v1/jobs/{name}/backups`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupView {
    /// Its folder name.
    pub name: String,
    /// `discovered`, `syncing`, `verified`, `incomplete`, `failed`.
    pub state: String,
    /// The id in its meta.
    pub backup_id: String,
    pub objects: u64,
    pub bytes: u64,
    pub segments: u64,
    pub rows: u64,
    pub collections: u64,
    /// Created (by milvus-backup; ms since the epoch).
    pub created_ms: i64,
    /// First seen by ferry.
    pub discovered_ms: i64,
    /// Last change of its record.
    pub updated_ms: i64,
    /// Last synced.
    pub synced_ms: Option<i64>,
    /// Last verified at the target.
    pub verified_ms: Option<i64>,
    /// What is missing or wrong; empty when verified.
    pub detail: String,
    /// Its latest restore, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreBrief>,
    /// While a run copies into it: bytes at the target of the bytes at the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<CopyProgress>,
    /// What its last verification rested on, in data objects.
    #[serde(default)]
    pub evidence: EvidenceView,
}

/// What a backup's verification rested on, in objects (data and meta files).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceView {
    /// Uploaded by ferry with signed SHA-256s to a target that refuses bodies not matching
    /// them (probed): not read back.
    pub upload_checked: u64,
    /// Read back from the target and their SHA-256 compared.
    pub read_back: u64,
}

impl EvidenceView {
    /// `12 checked by the target on upload, 3 read back`.
    pub fn describe(&self) -> String {
        match (self.upload_checked, self.read_back) {
            (0, n) => format!("{n} read back"),
            (n, 0) => format!("{n} checked by the target on upload"),
            (c, r) => format!("{c} checked by the target on upload, {r} read back"),
        }
    }
}

/// What the job's target answered when ferry probed whether it refuses a body that does not
/// match its signed SHA-256 (milvus-backup jobs; once per day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetCheckView {
    /// It refused the wrong body: objects ferry uploads to it are proven without reading
    /// them back.
    pub checks_sha256: bool,
    /// When (ms since the epoch).
    pub probed_ms: i64,
    /// Its URL and `Server` header then.
    pub identity: String,
    /// What it answered.
    pub detail: String,
}

impl From<ferry_state::TargetCheck> for TargetCheckView {
    fn from(c: ferry_state::TargetCheck) -> Self {
        TargetCheckView {
            checks_sha256: c.checks_sha256,
            probed_ms: c.probed_ms,
            identity: c.identity,
            detail: c.detail,
        }
    }
}

/// A backup's copy in the running run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyProgress {
    /// Bytes at the target (held before the run, and copied in it).
    pub done: u64,
    /// Bytes at the source (`None` until its listing ends).
    pub total: Option<u64>,
}

impl BackupView {
    /// A backup a run is copying for the first time (no record yet).
    pub fn copying(name: &str) -> Self {
        let now = chrono::Utc::now().timestamp_millis();
        let mut r = ferry_state::BackupRecord::new(ferry_state::BackupState::Syncing, now);
        r.detail = "copying: first sync (its meta reaches the target last)".to_owned();
        BackupView::of(name, &r)
    }

    /// A backup's record as the API shows it.
    pub fn of(name: &str, r: &ferry_state::BackupRecord) -> Self {
        BackupView {
            name: name.to_owned(),
            state: r.state.as_str().to_owned(),
            backup_id: r.backup_id.clone(),
            objects: r.objects,
            bytes: r.bytes,
            segments: r.segments,
            rows: r.rows,
            collections: r.collections,
            created_ms: r.created_ms,
            discovered_ms: r.discovered_ms,
            updated_ms: r.updated_ms,
            synced_ms: r.synced_ms,
            verified_ms: r.verified_ms,
            detail: r.detail.clone(),
            restore: None,
            copy: None,
            evidence: EvidenceView {
                upload_checked: r.evidence.upload_checked,
                read_back: r.evidence.read_back,
            },
        }
    }
}

/// A backup's latest restore, in its backup's view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreBrief {
    /// The restore's id.
    pub id: String,
    /// The backup id it restores.
    pub backup_id: String,
    pub state: String,
    /// What happened.
    pub detail: String,
}

/// One restore request (`GET /v1/restores`, and the answer to a request or a retry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreView {
    pub job: String,
    /// The backup's folder name.
    pub backup: String,
    /// Its sequence number among the backup's requests.
    pub seq: u32,
    /// The restore's id (empty until its backup is verified).
    pub id: String,
    /// The backup id it restores.
    pub backup_id: String,
    /// `restore-requested`, `restore-firing`, `restoring`, `restored`, `restore-failed`,
    /// `restore-skipped`, and after a count check `verifying`, `verified`, `count-mismatch`,
    /// `verify-failed`.
    pub state: String,
    /// `config` (a trigger) or `manual` (`ferry restore`).
    pub origin: String,
    /// Collection suffix.
    pub suffix: Option<String>,
    /// Collection renames, `OLD:NEW`.
    pub renames: Vec<String>,
    /// Attempts so far.
    pub attempts: u32,
    /// Requested (ms since the epoch).
    pub requested_ms: i64,
    pub fired_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    /// Next attempt.
    pub next_try_ms: Option<i64>,
    /// Progress, 0–100.
    pub progress: u8,
    /// What happened.
    pub detail: String,
    /// The trigger's kind (`exec`, `milvus-backup-rest`, `zilliz-cloud`; empty when the job
    /// has none any more).
    #[serde(default)]
    pub kind: String,
    /// The step of a firing multi-step trigger (`preparing`, `starting`), else empty.
    #[serde(default)]
    pub step: String,
    /// The job the trigger started at a service (a Zilliz Cloud job id).
    #[serde(default)]
    pub job_ref: Option<String>,
    /// Row counts compared after the restore.
    #[serde(default)]
    pub counts: Vec<CountView>,
}

/// One restored collection's row count against the backup's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountView {
    /// `db.collection` as restored.
    pub collection: String,
    /// Rows in the backup.
    pub expected: u64,
    /// Rows the restored collection reports (`None`: missing, or not counted yet).
    pub actual: Option<u64>,
}

impl RestoreView {
    /// A restore record as the API shows it.
    pub fn of(job: &str, backup: &str, seq: u32, r: &ferry_state::RestoreRecord) -> Self {
        RestoreView {
            job: job.to_owned(),
            backup: backup.to_owned(),
            seq,
            id: r.id.clone(),
            backup_id: r.backup_id.clone(),
            state: r.state.as_str().to_owned(),
            origin: match r.origin {
                ferry_state::RestoreOrigin::Config => "config",
                ferry_state::RestoreOrigin::Manual => "manual",
            }
            .to_owned(),
            suffix: r.suffix.clone(),
            renames: r.renames.iter().map(|(a, b)| format!("{a}:{b}")).collect(),
            attempts: r.attempts,
            requested_ms: r.requested_ms,
            fired_ms: r.fired_ms,
            ended_ms: r.ended_ms,
            next_try_ms: r.next_try_ms,
            progress: r.progress,
            detail: r.detail.clone(),
            kind: String::new(),
            step: r.step.as_str().to_owned(),
            job_ref: r.job_ref.clone(),
            counts: r
                .counts
                .iter()
                .map(|c| CountView {
                    collection: c.collection.clone(),
                    expected: c.expected,
                    actual: c.actual,
                })
                .collect(),
        }
    }

    /// The same, naming the trigger's kind.
    pub fn with_kind(mut self, kind: &str) -> Self {
        kind.clone_into(&mut self.kind);
        self
    }
}

/// `POST /v1/jobs/{name}/restores`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// The backup's folder name.
    pub backup: String,
    /// Collection suffix.
    #[serde(default)]
    pub suffix: Option<String>,
    /// Collection renames, `OLD:NEW`.
    #[serde(default)]
    pub renames: Vec<String>,
    /// Wait until the backup is verified at the target.
    #[serde(default)]
    pub when_synced: bool,
    /// Restore a backup id that was restored already.
    #[serde(default)]
    pub again: bool,
}

/// `POST /v1/jobs/{name}/sync`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncAnswer {
    pub job: String,
    /// `queued`, or why it waits.
    pub sync: String,
}

/// `POST /v1/jobs/{name}/pause` and `/resume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PauseAnswer {
    pub job: String,
    /// Paused now.
    pub paused: bool,
}

/// `POST /v1/webhook`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookAnswer {
    /// Events routed to a job.
    pub accepted: u64,
    /// Set when an SNS subscription waits for confirmation (its URL is in the log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
}

/// Every error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong, one line.
    pub error: String,
}
