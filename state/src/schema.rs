//! The column families and their typed records.
//!
//! ```text
//! meta     | name bytes                  | -> | u8 version | u64 value |
//! pairs    | pair_id u32 BE              | -> | u8 version | source | target | created ms | last scan ms? | objects | bytes |
//! objects  | pair_id u32 BE | key bytes  | -> | u8 version | size u64 | src etag? | src mtime ms? | sha256? | dst etag? | dst version? | synced ms |
//! uploads  | pair_id u32 BE | key bytes  | -> | u8 version | upload id | src etag? | part size u64 | started ms |
//! backups  | pair_id u32 BE | name bytes | -> | u8 version | state u8 | backup id | objects | bytes | segments | rows |
//!                                               collections | created ms | discovered ms | updated ms | synced ms? |
//!                                               verified ms? | detail |
//! restores | pair_id u32 BE | name bytes | 0x00 | seq u32 BE | -> | u8 version | id | backup id | state u8 | origin u8 |
//!                                               suffix? | renames (u32 count, pairs of strings) | attempts u32 |
//!                                               requested ms | fired ms? | ended ms? | next try ms? | pid? | progress u8 |
//!                                               detail | elapsed ms u64 (v2) |
//! ```
//! `restores` keeps every request of a backup (its history), `seq` counting from 0 per backup.
//! Format 1 keyed restores by `pair_id | name` alone (one request per backup) and wrote v1
//! values; opening such a manifest rewrites those keys with `seq` 0 (see `db.rs`).
//! `?` marks an optional field (tag byte 0/1). Strings are `u32 BE length ‖ UTF-8 bytes`.
//! Object keys are stored as raw bytes after the pair id, so one pair's rows sort exactly like an
//! S3 listing of its source and a merge-walk between the two needs no sorting.

use crate::codec::{DecodeError, KeyCodec, Reader, Schema, ValueCodec, Writer};

/// Declares a column family's schema: a unit type naming the family, its key and its value.
macro_rules! schema {
    ($(#[$doc:meta])* $name:ident: $cf:literal, $key:ty => $value:ty) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl Schema for $name {
            const CF: &'static str = $cf;
            type Key = $key;
            type Value = $value;
        }
    };
}

/// Identifies a mirror pair (source → target).
pub type PairId = u32;

const V1: u8 = 1;
const V2: u8 = 2;
const V3: u8 = 3;

fn check_version(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    match r.u8()? {
        V1 => Ok(()),
        v => Err(DecodeError::UnknownVersion(v)),
    }
}

/// A small named counter or setting (`format`, `next_pair`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaValue(pub u64);

/// Key of [`MetaSchema`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaKey(pub &'static str);

impl KeyCodec for MetaKey {
    fn encode_key(&self) -> Vec<u8> {
        self.0.as_bytes().to_vec()
    }
    fn decode_key(bytes: &[u8]) -> Result<Self, DecodeError> {
        match bytes {
            b"format" => Ok(MetaKey("format")),
            b"next_pair" => Ok(MetaKey("next_pair")),
            _ => Err(DecodeError::InvalidTag(bytes.first().copied().unwrap_or(0))),
        }
    }
}

impl ValueCodec for MetaValue {
    fn encode_value(&self) -> Vec<u8> {
        let mut w = Writer::with_version(V1);
        w.u64(self.0);
        w.finish()
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        check_version(&mut r)?;
        let v = r.u64()?;
        r.end()?;
        Ok(MetaValue(v))
    }
}

schema!(
    /// `meta`: format version and counters.
    MetaSchema: "meta", MetaKey => MetaValue
);

/// Key of pair-scoped families: a pair id alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PairKey(pub PairId);

impl KeyCodec for PairKey {
    fn encode_key(&self) -> Vec<u8> {
        self.0.to_be_bytes().to_vec()
    }
    fn decode_key(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let id = r.u32()?;
        r.end()?;
        Ok(PairKey(id))
    }
}

/// A registered source → target pair and its last scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairRecord {
    /// Normalised source URL.
    pub source: String,
    /// Normalised target URL.
    pub target: String,
    /// When the pair was registered (ms since the epoch).
    pub created_ms: i64,
    /// When the last complete scan without failures ended (`None`: the target was never
    /// seen whole, so the next mirror lists it).
    pub last_scan_ms: Option<i64>,
    /// Objects at the source at the last complete scan.
    pub objects: u64,
    /// Bytes at the source at the last complete scan.
    pub bytes: u64,
    /// What a probe of the target found: whether it refuses a body that does not match its
    /// signed SHA-256 (since v2; `None`: not probed).
    pub target_check: Option<TargetCheck>,
}

/// The answer of a target to a deliberately wrong payload hash, and who answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetCheck {
    /// It refused the body (so it checks every signed body it stores).
    pub checks_sha256: bool,
    /// When it was probed (ms since the epoch).
    pub probed_ms: i64,
    /// The endpoint's identity when probed (its URL and `Server` header): a different one
    /// at the same URL is probed again.
    pub identity: String,
    /// What it answered, for `ferry status`.
    pub detail: String,
}

impl ValueCodec for PairRecord {
    fn encode_value(&self) -> Vec<u8> {
        let mut w = Writer::with_version(V2);
        w.str(&self.source)
            .str(&self.target)
            .i64(self.created_ms)
            .opt_i64(self.last_scan_ms)
            .u64(self.objects)
            .u64(self.bytes);
        match &self.target_check {
            None => {
                w.u8(0);
            }
            Some(c) => {
                w.u8(1)
                    .u8(u8::from(c.checks_sha256))
                    .i64(c.probed_ms)
                    .str(&c.identity)
                    .str(&c.detail);
            }
        }
        w.finish()
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = match r.u8()? {
            v @ (V1 | V2) => v,
            v => return Err(DecodeError::UnknownVersion(v)),
        };
        let mut rec = PairRecord {
            source: r.string()?,
            target: r.string()?,
            created_ms: r.i64()?,
            last_scan_ms: r.opt_i64()?,
            objects: r.u64()?,
            bytes: r.u64()?,
            target_check: None,
        };
        if version >= V2 {
            rec.target_check = match r.u8()? {
                0 => None,
                1 => Some(TargetCheck {
                    checks_sha256: match r.u8()? {
                        0 => false,
                        1 => true,
                        t => return Err(DecodeError::InvalidTag(t)),
                    },
                    probed_ms: r.i64()?,
                    identity: r.string()?,
                    detail: r.string()?,
                }),
                t => return Err(DecodeError::InvalidTag(t)),
            };
        }
        r.end()?;
        Ok(rec)
    }
}

schema!(
    /// `pairs`: registered mirror pairs.
    PairsSchema: "pairs", PairKey => PairRecord
);

/// Key of per-object families: pair id, then the object's key relative to the pair's source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectKey {
    pub pair: PairId,
    /// Key relative to the source prefix.
    pub key: String,
}

impl KeyCodec for ObjectKey {
    fn encode_key(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(4 + self.key.len());
        v.extend_from_slice(&self.pair.to_be_bytes());
        v.extend_from_slice(self.key.as_bytes());
        v
    }
    fn decode_key(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let pair = r.u32()?;
        let key = std::str::from_utf8(r.rest())
            .map_err(|_| DecodeError::InvalidUtf8)?
            .to_owned();
        Ok(ObjectKey { pair, key })
    }
}

/// What ferry knows of one object it mirrored: the source version it copied, the content hash
/// and what the target answered. A row exists only once the target confirmed the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    /// Size in bytes.
    pub size: u64,
    /// Source ETag when copied (a fingerprint on local sources).
    pub src_etag: Option<String>,
    /// Source last-modified when copied (ms since the epoch).
    pub src_mtime_ms: Option<i64>,
    /// SHA-256 of the content, computed while streaming it.
    pub sha256: Option<[u8; 32]>,
    /// Target ETag after the write.
    pub dst_etag: Option<String>,
    /// Target version after the write (versioned buckets).
    pub dst_version: Option<String>,
    /// When the target confirmed the write (ms since the epoch).
    pub synced_ms: i64,
    /// Every request that wrote it carried the SHA-256 of its bytes for the target to check
    /// (one PUT signed with it, or each part signed with its own), hashed from the very
    /// buffers sent, and the whole object's SHA-256 above was computed over the same buffers.
    /// On a target that refuses a body not matching its signed hash (the pair's
    /// [`TargetCheck`]), that is proof it holds these bytes without reading them back.
    /// `false` (since v2; v1 values read as `false`): adopted, copied server-side, written
    /// to a local folder or Azure, or unknown.
    pub upload_checked: bool,
}

impl ValueCodec for ObjectRecord {
    fn encode_value(&self) -> Vec<u8> {
        let mut w = Writer::with_version(V2);
        w.u64(self.size)
            .opt_str(self.src_etag.as_deref())
            .opt_i64(self.src_mtime_ms)
            .opt_arr32(self.sha256.as_ref())
            .opt_str(self.dst_etag.as_deref())
            .opt_str(self.dst_version.as_deref())
            .i64(self.synced_ms)
            .u8(u8::from(self.upload_checked));
        w.finish()
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = match r.u8()? {
            v @ (V1 | V2) => v,
            v => return Err(DecodeError::UnknownVersion(v)),
        };
        let mut rec = ObjectRecord {
            size: r.u64()?,
            src_etag: r.opt_string()?,
            src_mtime_ms: r.opt_i64()?,
            sha256: r.opt_arr32()?,
            dst_etag: r.opt_string()?,
            dst_version: r.opt_string()?,
            synced_ms: r.i64()?,
            upload_checked: false,
        };
        if version >= V2 {
            rec.upload_checked = match r.u8()? {
                0 => false,
                1 => true,
                t => return Err(DecodeError::InvalidTag(t)),
            };
        }
        r.end()?;
        Ok(rec)
    }
}

schema!(
    /// `objects`: one row per mirrored object.
    ObjectsSchema: "objects", ObjectKey => ObjectRecord
);

/// A write in flight at the target, so a crash can clean it up (or resume it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    /// How far the write got.
    pub state: UploadState,
    /// The target key being written.
    pub target_key: String,
    /// Source ETag being copied.
    pub src_etag: Option<String>,
    /// When it started (ms since the epoch).
    pub started_ms: i64,
}

/// How far a recorded write got. Stored as (upload id, part size): `("", 0)`, `("", n)`,
/// `(id, n)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadState {
    /// About to write (or done writing, its row not yet recorded): no multipart upload is
    /// open, and the key is ferry's own until its row is written.
    Intent,
    /// A multipart upload with this part size is being created; its id is not known yet (a
    /// crash now leaves an upload to find by key).
    Creating { part_size: u64 },
    /// A multipart upload is open.
    Open {
        /// The target's upload id.
        upload_id: String,
        part_size: u64,
    },
}

impl UploadState {
    /// The upload id, when known.
    pub fn upload_id(&self) -> Option<&str> {
        match self {
            UploadState::Open { upload_id, .. } => Some(upload_id),
            _ => None,
        }
    }
}

impl ValueCodec for UploadRecord {
    fn encode_value(&self) -> Vec<u8> {
        let (upload_id, part_size) = match &self.state {
            UploadState::Intent => ("", 0),
            UploadState::Creating { part_size } => ("", *part_size),
            UploadState::Open {
                upload_id,
                part_size,
            } => (upload_id.as_str(), *part_size),
        };
        let mut w = Writer::with_version(V1);
        w.str(upload_id)
            .str(&self.target_key)
            .opt_str(self.src_etag.as_deref())
            .u64(part_size)
            .i64(self.started_ms);
        w.finish()
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        check_version(&mut r)?;
        let upload_id = r.string()?;
        let target_key = r.string()?;
        let src_etag = r.opt_string()?;
        let part_size = r.u64()?;
        let state = match (upload_id.is_empty(), part_size) {
            (true, 0) => UploadState::Intent,
            (true, part_size) => UploadState::Creating { part_size },
            (false, part_size) => UploadState::Open {
                upload_id,
                part_size,
            },
        };
        let rec = UploadRecord {
            state,
            target_key,
            src_etag,
            started_ms: r.i64()?,
        };
        r.end()?;
        Ok(rec)
    }
}

schema!(
    /// `uploads`: multipart uploads in flight.
    UploadsSchema: "uploads", ObjectKey => UploadRecord
);

/// Where a milvus-backup backup stands in its replication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BackupState {
    /// Seen at the source, not looked at yet.
    Discovered,
    /// At the source, but not whole: no last-written meta file yet, or data its meta names is
    /// missing or has another size. Never announced at the target.
    Incomplete,
    /// Whole at the source; its data is being copied (its meta is held back).
    Syncing,
    /// Every object at the target, meta last.
    Synced,
    /// Every object at the target read back and its SHA-256 and size compared.
    Verified,
    /// Its meta cannot be used (malformed JSON, an unknown format): see the detail.
    Failed,
}

impl BackupState {
    /// Every state, in order.
    pub const ALL: [BackupState; 6] = [
        BackupState::Discovered,
        BackupState::Incomplete,
        BackupState::Syncing,
        BackupState::Synced,
        BackupState::Verified,
        BackupState::Failed,
    ];

    /// Its name in status output.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupState::Discovered => "discovered",
            BackupState::Incomplete => "incomplete",
            BackupState::Syncing => "syncing",
            BackupState::Synced => "synced",
            BackupState::Verified => "verified",
            BackupState::Failed => "failed",
        }
    }

    fn tag(self) -> u8 {
        self as u8
    }

    fn from_tag(t: u8) -> Result<Self, DecodeError> {
        BackupState::ALL
            .get(usize::from(t))
            .copied()
            .ok_or(DecodeError::InvalidTag(t))
    }
}

/// Key of per-backup families: pair id, then the backup's folder name.
pub type BackupKey = ObjectKey;

/// One backup of a pair whose source is a milvus-backup backup root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRecord {
    pub state: BackupState,
    /// milvus-backup's id for it (from its meta; empty until the meta was read).
    pub backup_id: String,
    /// Objects (data and meta) it holds.
    pub objects: u64,
    /// Bytes it holds.
    pub bytes: u64,
    /// Segments its meta lists.
    pub segments: u64,
    /// Rows its meta lists (`num_of_rows` summed).
    pub rows: u64,
    /// Collections its meta lists.
    pub collections: u64,
    /// When milvus-backup took it (its `backup_timestamp`, ms).
    pub created_ms: i64,
    /// When ferry first saw it (ms).
    pub discovered_ms: i64,
    /// When this record last changed (ms).
    pub updated_ms: i64,
    /// When it was last whole at the target (ms).
    pub synced_ms: Option<i64>,
    /// When it was last verified at the target (ms).
    pub verified_ms: Option<i64>,
    /// What is missing, or why it failed; empty otherwise.
    pub detail: String,
    /// What its last verification rested on (since v2; zeros in v1 values).
    pub evidence: Evidence,
}

impl BackupRecord {
    /// A backup first seen at `now_ms` (ms), in `state`, with nothing known of it yet.
    pub fn new(state: BackupState, now_ms: i64) -> Self {
        BackupRecord {
            state,
            backup_id: String::new(),
            objects: 0,
            bytes: 0,
            segments: 0,
            rows: 0,
            collections: 0,
            created_ms: 0,
            discovered_ms: now_ms,
            updated_ms: now_ms,
            synced_ms: None,
            verified_ms: None,
            detail: String::new(),
            evidence: Evidence::default(),
        }
    }
}

/// What a backup's verification rested on, in objects (data and meta files).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Uploaded by ferry with signed SHA-256s to a target that checks them: not read back.
    pub upload_checked: u64,
    /// Read back from the target and their SHA-256 compared.
    pub read_back: u64,
}

impl ValueCodec for BackupRecord {
    fn encode_value(&self) -> Vec<u8> {
        let mut w = Writer::with_version(V2);
        w.u8(self.state.tag())
            .str(&self.backup_id)
            .u64(self.objects)
            .u64(self.bytes)
            .u64(self.segments)
            .u64(self.rows)
            .u64(self.collections)
            .i64(self.created_ms)
            .i64(self.discovered_ms)
            .i64(self.updated_ms)
            .opt_i64(self.synced_ms)
            .opt_i64(self.verified_ms)
            .str(&self.detail)
            .u64(self.evidence.upload_checked)
            .u64(self.evidence.read_back);
        w.finish()
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = match r.u8()? {
            v @ (V1 | V2) => v,
            v => return Err(DecodeError::UnknownVersion(v)),
        };
        let mut rec = BackupRecord {
            state: BackupState::from_tag(r.u8()?)?,
            backup_id: r.string()?,
            objects: r.u64()?,
            bytes: r.u64()?,
            segments: r.u64()?,
            rows: r.u64()?,
            collections: r.u64()?,
            created_ms: r.i64()?,
            discovered_ms: r.i64()?,
            updated_ms: r.i64()?,
            synced_ms: r.opt_i64()?,
            verified_ms: r.opt_i64()?,
            detail: r.string()?,
            evidence: Evidence::default(),
        };
        if version >= V2 {
            rec.evidence = Evidence {
                upload_checked: r.u64()?,
                read_back: r.u64()?,
            };
        }
        r.end()?;
        Ok(rec)
    }
}

schema!(
    /// `backups`: one row per milvus-backup backup of a pair.
    BackupsSchema: "backups", BackupKey => BackupRecord
);

/// Where a restore trigger stands. `Firing` is written (and synced) before the trigger's side
/// effect starts, so that a crash never leads to firing twice unseen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RestoreState {
    /// Waiting for the backup to be verified at the target (or for `next_try_ms`).
    Requested,
    /// About to start the trigger (or started it, unconfirmed).
    Firing,
    /// The trigger runs: a process (`pid`) or a task accepted by a restore server.
    Running,
    /// Done: the trigger succeeded.
    Restored,
    /// Failed for good (or its outcome is unknown): see the detail; `ferry restore retry`.
    Failed,
    /// Never fired: the backup id it was for is no longer the one verified at the target (the
    /// backup was re-created before its turn came). The new id has its own restore.
    Skipped,
    /// The trigger succeeded; the restored collections' row counts are being compared with
    /// the backup's (a job with `[jobs.restore.verify]`).
    Verifying,
    /// The trigger succeeded and every restored collection holds the backup's row count.
    Verified,
    /// The trigger succeeded but a restored collection's row count differs from the backup's
    /// (`counts` names each with both numbers).
    CountMismatch,
    /// The trigger succeeded but the counts could not be compared (the Milvus endpoint
    /// refused the token, a collection is missing): see the detail.
    VerifyFailed,
}

impl RestoreState {
    /// Every state, in order (a state's tag is its index: new ones go last).
    pub const ALL: [RestoreState; 10] = [
        RestoreState::Requested,
        RestoreState::Firing,
        RestoreState::Running,
        RestoreState::Restored,
        RestoreState::Failed,
        RestoreState::Skipped,
        RestoreState::Verifying,
        RestoreState::Verified,
        RestoreState::CountMismatch,
        RestoreState::VerifyFailed,
    ];

    /// Its name in status output.
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreState::Requested => "restore-requested",
            RestoreState::Firing => "restore-firing",
            RestoreState::Running => "restoring",
            RestoreState::Restored => "restored",
            RestoreState::Failed => "restore-failed",
            RestoreState::Skipped => "restore-skipped",
            RestoreState::Verifying => "verifying",
            RestoreState::Verified => "verified",
            RestoreState::CountMismatch => "count-mismatch",
            RestoreState::VerifyFailed => "verify-failed",
        }
    }

    /// Whether nothing more happens without a hand.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RestoreState::Restored
                | RestoreState::Failed
                | RestoreState::Skipped
                | RestoreState::Verified
                | RestoreState::CountMismatch
                | RestoreState::VerifyFailed
        )
    }

    /// Whether the trigger succeeded (whatever the count check found after it).
    pub fn restored(self) -> bool {
        matches!(
            self,
            RestoreState::Restored
                | RestoreState::Verifying
                | RestoreState::Verified
                | RestoreState::CountMismatch
                | RestoreState::VerifyFailed
        )
    }

    /// Whether the trigger may be running (fired, outcome not known yet).
    pub fn is_active(self) -> bool {
        matches!(self, RestoreState::Firing | RestoreState::Running)
    }

    fn from_tag(t: u8) -> Result<Self, DecodeError> {
        RestoreState::ALL
            .get(usize::from(t))
            .copied()
            .ok_or(DecodeError::InvalidTag(t))
    }
}

/// Where a multi-step trigger stands inside `Firing` (a Zilliz Cloud migration uploads into a
/// volume before it starts the job). Written before each step's side effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestoreStep {
    /// No step recorded: the trigger has one side effect (or has not begun).
    #[default]
    None,
    /// Preparing what the start needs (applying for a volume, uploading into it): safe to do
    /// again after a crash.
    Preparing,
    /// The start request is about to be sent: after a crash its outcome is unknown.
    Starting,
}

impl RestoreStep {
    fn from_tag(t: u8) -> Result<Self, DecodeError> {
        match t {
            0 => Ok(RestoreStep::None),
            1 => Ok(RestoreStep::Preparing),
            2 => Ok(RestoreStep::Starting),
            t => Err(DecodeError::InvalidTag(t)),
        }
    }

    fn tag(self) -> u8 {
        self as u8
    }

    /// Its name in status output (`""` for none).
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreStep::None => "",
            RestoreStep::Preparing => "preparing",
            RestoreStep::Starting => "starting",
        }
    }
}

/// One restored collection's row count against the backup's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionCount {
    /// `db.collection` as restored (after suffix and renames).
    pub collection: String,
    /// Rows the backup holds for it (`num_of_rows` of its segments, L0 excluded).
    pub expected: u64,
    /// Rows the restored collection reports (`None`: not counted yet).
    pub actual: Option<u64>,
}

/// Who asked for a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreOrigin {
    /// The job's configured trigger.
    Config,
    /// `ferry restore JOB BACKUP`.
    Manual,
}

/// One restore of one backup, fired at most once per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRecord {
    /// Deterministic id (also the restore server's task id).
    pub id: String,
    /// The backup id it restores (a backup rewritten under the same name is another backup).
    pub backup_id: String,
    pub state: RestoreState,
    /// Who asked.
    pub origin: RestoreOrigin,
    /// Collection suffix (`-s`).
    pub suffix: Option<String>,
    /// Collection renames (`-r old:new`).
    pub renames: Vec<(String, String)>,
    /// Times the trigger was started.
    pub attempts: u32,
    /// When it was asked for (ms).
    pub requested_ms: i64,
    /// When the trigger last started (ms).
    pub fired_ms: Option<i64>,
    /// When it ended (ms).
    pub ended_ms: Option<i64>,
    /// Not before (ms): the backoff after a transient failure.
    pub next_try_ms: Option<i64>,
    /// The process running an `exec` trigger.
    pub pid: Option<i64>,
    /// Progress in percent (restore server).
    pub progress: u8,
    /// The last error or outcome.
    pub detail: String,
    /// How long the trigger has run, as measured by a monotonic clock and added up across
    /// ferryd restarts (ms): deadlines count this, never wall-clock time (v2; 0 in v1 values).
    pub elapsed_ms: u64,
    /// The step inside `Firing` of a multi-step trigger (v3).
    pub step: RestoreStep,
    /// The job the trigger started at a service (a Zilliz Cloud job id) (v3).
    pub job_ref: Option<String>,
    /// The row counts compared after the restore (v3; empty until verifying).
    pub counts: Vec<CollectionCount>,
}

impl ValueCodec for RestoreRecord {
    fn encode_value(&self) -> Vec<u8> {
        let mut w = Writer::with_version(V3);
        w.str(&self.id)
            .str(&self.backup_id)
            .u8(self.state as u8)
            .u8(self.origin as u8)
            .opt_str(self.suffix.as_deref())
            .u32(u32::try_from(self.renames.len()).unwrap_or(u32::MAX));
        for (a, b) in self.renames.iter().take(u32::MAX as usize) {
            w.str(a).str(b);
        }
        w.u32(self.attempts)
            .i64(self.requested_ms)
            .opt_i64(self.fired_ms)
            .opt_i64(self.ended_ms)
            .opt_i64(self.next_try_ms)
            .opt_i64(self.pid)
            .u8(self.progress)
            .str(&self.detail)
            .u64(self.elapsed_ms)
            .u8(self.step.tag())
            .opt_str(self.job_ref.as_deref())
            .u32(u32::try_from(self.counts.len()).unwrap_or(u32::MAX));
        for c in self.counts.iter().take(u32::MAX as usize) {
            w.str(&c.collection).u64(c.expected);
            match c.actual {
                Some(n) => w.u8(1).u64(n),
                None => w.u8(0),
            };
        }
        w.finish()
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = match r.u8()? {
            v @ (V1 | V2 | V3) => v,
            v => return Err(DecodeError::UnknownVersion(v)),
        };
        let id = r.string()?;
        let backup_id = r.string()?;
        let state = RestoreState::from_tag(r.u8()?)?;
        let origin = match r.u8()? {
            0 => RestoreOrigin::Config,
            1 => RestoreOrigin::Manual,
            t => return Err(DecodeError::InvalidTag(t)),
        };
        let suffix = r.opt_string()?;
        let n = r.u32()?;
        // Each pair takes at least 8 bytes: a corrupt count cannot make us allocate much.
        let mut renames = Vec::with_capacity((n as usize).min(r.remaining() / 8));
        for _ in 0..n {
            renames.push((r.string()?, r.string()?));
        }
        let mut rec = RestoreRecord {
            id,
            backup_id,
            state,
            origin,
            suffix,
            renames,
            attempts: r.u32()?,
            requested_ms: r.i64()?,
            fired_ms: r.opt_i64()?,
            ended_ms: r.opt_i64()?,
            next_try_ms: r.opt_i64()?,
            pid: r.opt_i64()?,
            progress: r.u8()?,
            detail: r.string()?,
            elapsed_ms: if version >= V2 { r.u64()? } else { 0 },
            step: RestoreStep::None,
            job_ref: None,
            counts: Vec::new(),
        };
        if version >= V3 {
            rec.step = RestoreStep::from_tag(r.u8()?)?;
            rec.job_ref = r.opt_string()?;
            let n = r.u32()?;
            // Each count takes at least 13 bytes: a corrupt count cannot make us allocate much.
            let mut counts = Vec::with_capacity((n as usize).min(r.remaining() / 13));
            for _ in 0..n {
                let collection = r.string()?;
                let expected = r.u64()?;
                let actual = match r.u8()? {
                    0 => None,
                    1 => Some(r.u64()?),
                    t => return Err(DecodeError::InvalidTag(t)),
                };
                counts.push(CollectionCount {
                    collection,
                    expected,
                    actual,
                });
            }
            rec.counts = counts;
        }
        r.end()?;
        Ok(rec)
    }
}

/// Key of [`RestoresSchema`]: one backup's requests in order (`seq` from 0).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RestoreKey {
    pub pair: PairId,
    /// The backup's folder name.
    pub name: String,
    /// The request's number among this backup's requests.
    pub seq: u32,
}

impl RestoreKey {
    /// The key prefix of every request of backup `name` of `pair`.
    pub fn prefix_of(pair: PairId, name: &str) -> Vec<u8> {
        let mut v = Vec::with_capacity(5 + name.len());
        v.extend_from_slice(&pair.to_be_bytes());
        v.extend_from_slice(name.as_bytes());
        v.push(0);
        v
    }
}

impl KeyCodec for RestoreKey {
    fn encode_key(&self) -> Vec<u8> {
        let mut v = RestoreKey::prefix_of(self.pair, &self.name);
        v.extend_from_slice(&self.seq.to_be_bytes());
        v
    }
    fn decode_key(bytes: &[u8]) -> Result<Self, DecodeError> {
        // pair (4) | name | 0x00 | seq (4): the fixed tail decides where the name ends.
        if bytes.len() < 9 {
            return Err(DecodeError::Truncated {
                needed: 9 - bytes.len(),
            });
        }
        let (head, tail) = bytes.split_at(bytes.len() - 5);
        if tail[0] != 0 {
            return Err(DecodeError::InvalidTag(tail[0]));
        }
        let mut r = Reader::new(head);
        let pair = r.u32()?;
        let name = std::str::from_utf8(r.rest())
            .map_err(|_| DecodeError::InvalidUtf8)?
            .to_owned();
        let mut t = Reader::new(&tail[1..]);
        let seq = t.u32()?;
        t.end()?;
        Ok(RestoreKey { pair, name, seq })
    }
}

schema!(
    /// `restores`: every restore request of every backup of a pair, kept as history.
    RestoresSchema: "restores", RestoreKey => RestoreRecord
);

/// Every column family the manifest opens.
pub const COLUMN_FAMILIES: &[&str] = &[
    MetaSchema::CF,
    PairsSchema::CF,
    ObjectsSchema::CF,
    UploadsSchema::CF,
    BackupsSchema::CF,
    RestoresSchema::CF,
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn opt_str() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(".{0,40}")
    }

    prop_compose! {
        fn object_record()(size in any::<u64>(), src_etag in opt_str(), src_mtime_ms in any::<Option<i64>>(),
            sha256 in any::<Option<[u8; 32]>>(), dst_etag in opt_str(), dst_version in opt_str(), synced_ms in any::<i64>())
            -> ObjectRecord {
            ObjectRecord { size, src_etag, src_mtime_ms, sha256, dst_etag, dst_version, synced_ms, upload_checked: size % 2 == 0 }
        }
    }

    proptest! {
        #[test]
        fn object_key_round_trips_and_keeps_order(p1 in any::<u32>(), k1 in ".{0,60}", p2 in any::<u32>(), k2 in ".{0,60}") {
            let a = ObjectKey { pair: p1, key: k1 };
            let b = ObjectKey { pair: p2, key: k2 };
            prop_assert_eq!(ObjectKey::decode_key(&a.encode_key()).expect("decodes"), a.clone());
            // Byte order of encoded keys == (pair, key bytes) order == S3 listing order.
            let logical = (a.pair, a.key.as_bytes()).cmp(&(b.pair, b.key.as_bytes()));
            prop_assert_eq!(a.encode_key().cmp(&b.encode_key()), logical);
        }

        #[test]
        fn object_record_round_trips(rec in object_record()) {
            prop_assert_eq!(ObjectRecord::decode_value(&rec.encode_value()).expect("decodes"), rec.clone());
            // A v1 value (no upload_checked) reads as not checked.
            let mut v1 = rec.encode_value();
            v1.truncate(v1.len() - 1);
            v1[0] = 1;
            prop_assert_eq!(ObjectRecord::decode_value(&v1).expect("decodes v1"), ObjectRecord { upload_checked: false, ..rec });
        }

        #[test]
        fn pair_record_round_trips(source in ".{0,80}", target in ".{0,80}", created_ms in any::<i64>(),
            last_scan_ms in any::<Option<i64>>(), objects in any::<u64>(), bytes in any::<u64>()) {
            let target_check = (objects % 3 != 0).then(|| TargetCheck {
                checks_sha256: objects % 2 == 0, probed_ms: created_ms, identity: source.clone(), detail: target.clone(),
            });
            let rec = PairRecord { source, target, created_ms, last_scan_ms, objects, bytes, target_check };
            prop_assert_eq!(PairRecord::decode_value(&rec.encode_value()).expect("decodes"), rec.clone());
            // A v1 value: the same without the probe.
            let plain = PairRecord { target_check: None, ..rec };
            let mut v1 = plain.encode_value();
            v1.truncate(v1.len() - 1);
            v1[0] = 1;
            prop_assert_eq!(PairRecord::decode_value(&v1).expect("decodes v1"), plain);
            prop_assert_eq!(PairKey::decode_key(&PairKey(objects as u32).encode_key()).expect("decodes"), PairKey(objects as u32));
        }

        #[test]
        fn upload_record_round_trips(upload_id in ".{0,80}", target_key in ".{0,80}", src_etag in opt_str(),
            part_size in any::<u64>(), started_ms in any::<i64>()) {
            let state = match (upload_id.is_empty(), part_size) {
                (true, 0) => UploadState::Intent,
                (true, part_size) => UploadState::Creating { part_size },
                (false, part_size) => UploadState::Open { upload_id, part_size },
            };
            let rec = UploadRecord { state, target_key, src_etag, started_ms };
            prop_assert_eq!(UploadRecord::decode_value(&rec.encode_value()).expect("decodes"), rec);
        }

        #[test]
        fn backup_record_round_trips(state in 0u8..6, backup_id in ".{0,40}", n in any::<[u64; 5]>(),
            t in any::<[i64; 3]>(), synced_ms in any::<Option<i64>>(), verified_ms in any::<Option<i64>>(), detail in ".{0,80}") {
            let rec = BackupRecord {
                state: BackupState::ALL[state as usize], backup_id,
                objects: n[0], bytes: n[1], segments: n[2], rows: n[3], collections: n[4],
                created_ms: t[0], discovered_ms: t[1], updated_ms: t[2], synced_ms, verified_ms, detail,
                evidence: Evidence { upload_checked: n[0] / 2, read_back: n[1] / 3 },
            };
            prop_assert_eq!(BackupRecord::decode_value(&rec.encode_value()).expect("decodes"), rec.clone());
            // A v1 value: the same without its evidence.
            let plain = BackupRecord { evidence: Evidence::default(), ..rec };
            let mut v1 = plain.encode_value();
            v1.truncate(v1.len() - 16);
            v1[0] = 1;
            prop_assert_eq!(BackupRecord::decode_value(&v1).expect("decodes v1"), plain);
        }

        #[test]
        fn restore_record_round_trips(id in ".{0,40}", backup_id in ".{0,40}", state in 0u8..10, manual in any::<bool>(),
            suffix in opt_str(), renames in proptest::collection::vec((".{0,20}", ".{0,20}"), 0..4),
            attempts in any::<u32>(), t in any::<i64>(), o in any::<[Option<i64>; 4]>(), progress in any::<u8>(), detail in ".{0,80}",
            elapsed_ms in any::<u64>(), step in 0u8..3, job_ref in opt_str(),
            counts in proptest::collection::vec((".{0,30}", any::<u64>(), any::<Option<u64>>()), 0..4)) {
            let rec = RestoreRecord {
                id, backup_id, state: RestoreState::ALL[state as usize],
                origin: if manual { RestoreOrigin::Manual } else { RestoreOrigin::Config },
                suffix, renames, attempts, requested_ms: t,
                fired_ms: o[0], ended_ms: o[1], next_try_ms: o[2], pid: o[3], progress, detail, elapsed_ms,
                step: RestoreStep::from_tag(step).expect("tag"), job_ref,
                counts: counts.into_iter().map(|(collection, expected, actual)| CollectionCount { collection, expected, actual }).collect(),
            };
            let bytes = rec.encode_value();
            prop_assert_eq!(RestoreRecord::decode_value(&bytes).expect("decodes"), rec.clone());
            // A v2 value is the same without the v3 fields; a v1 value also without the
            // elapsed time.
            let plain = RestoreRecord { step: RestoreStep::None, job_ref: None, counts: Vec::new(), ..rec.clone() };
            let mut v2 = plain.encode_value();
            v2.truncate(v2.len() - 1 - 1 - 4);
            v2[0] = 2;
            prop_assert_eq!(RestoreRecord::decode_value(&v2).expect("decodes v2"), plain.clone());
            let mut v1 = v2.clone();
            v1.truncate(v1.len() - 8);
            v1[0] = 1;
            prop_assert_eq!(RestoreRecord::decode_value(&v1).expect("decodes v1"), RestoreRecord { elapsed_ms: 0, ..plain });
        }

        #[test]
        fn restore_key_round_trips_and_groups_by_backup(p1 in any::<u32>(), n1 in "[^\\x00]{0,40}", s1 in any::<u32>(),
            p2 in any::<u32>(), n2 in "[^\\x00]{0,40}", s2 in any::<u32>()) {
            let a = RestoreKey { pair: p1, name: n1, seq: s1 };
            let b = RestoreKey { pair: p2, name: n2, seq: s2 };
            prop_assert_eq!(RestoreKey::decode_key(&a.encode_key()).expect("decodes"), a.clone());
            // One backup's requests sort together, by seq; backups by name byte order.
            let logical = (a.pair, a.name.as_bytes(), a.seq).cmp(&(b.pair, b.name.as_bytes(), b.seq));
            prop_assert_eq!(a.encode_key().cmp(&b.encode_key()), logical);
            prop_assert!(a.encode_key().starts_with(&RestoreKey::prefix_of(a.pair, &a.name)));
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = BackupRecord::decode_value(&bytes);
            let _ = RestoreRecord::decode_value(&bytes);
            let _ = ObjectRecord::decode_value(&bytes);
            let _ = PairRecord::decode_value(&bytes);
            let _ = UploadRecord::decode_value(&bytes);
            let _ = MetaValue::decode_value(&bytes);
            let _ = ObjectKey::decode_key(&bytes);
            let _ = RestoreKey::decode_key(&bytes);
            let _ = PairKey::decode_key(&bytes);
            let _ = MetaKey::decode_key(&bytes);
        }

        #[test]
        fn truncated_or_extended_values_are_errors(rec in object_record(), cut in 0usize..64, extra in 1usize..4) {
            let bytes = rec.encode_value();
            let cut = cut.min(bytes.len() - 1);
            prop_assert!(ObjectRecord::decode_value(&bytes[..cut]).is_err());
            let mut longer = bytes.clone();
            longer.extend(std::iter::repeat_n(0u8, extra));
            prop_assert!(ObjectRecord::decode_value(&longer).is_err());
        }
    }

    #[test]
    fn newer_value_versions_are_refused() {
        let mut bytes = ObjectRecord {
            size: 1,
            src_etag: None,
            src_mtime_ms: None,
            sha256: None,
            dst_etag: None,
            dst_version: None,
            synced_ms: 0,
            upload_checked: true,
        }
        .encode_value();
        bytes[0] = 3;
        assert_eq!(
            ObjectRecord::decode_value(&bytes),
            Err(DecodeError::UnknownVersion(3))
        );
    }
}
