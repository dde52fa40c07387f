//! Restore requests: which to write when a backup becomes verified at the target.

use crate::clock::now_ms;
use ferry_state::schema::{RestoreOrigin, RestoreRecord, RestoreState, RestoreStep};

use super::spec::{RestoreConfig, restore_id};

/// The restore requests to write when backup `name` becomes verified at the target with id
/// `backup.backup_id` (the sync engine writes them atomically with the backup's state), given
/// its history (sequence number, request), oldest first:
///
/// - a request waiting for an older id of the backup can never fire (that version is gone
///   from the target): it is `Skipped`, saying so;
/// - a request made before the backup had an id (`ferry restore --when-synced`) is for this id;
/// - otherwise, when `cfg`'s `backups` globs pick it and no request of this id exists yet, a
///   new one: every backup id gets its own restore, and the same id never restores twice by
///   itself. Backups verified before a trigger was configured are not restored by themselves
///   (`ferry restore` does that).
pub fn on_verified(
    job: &str,
    cfg: &RestoreConfig,
    name: &str,
    backup: &ferry_state::BackupRecord,
    history: &[(u32, RestoreRecord)],
) -> Vec<(u32, RestoreRecord)> {
    let id = &backup.backup_id;
    let mut out = Vec::new();
    let mut has_request = history.iter().any(|(_, r)| r.backup_id == *id);
    for (seq, r) in history {
        if r.state != RestoreState::Requested {
            continue;
        }
        let mut r = r.clone();
        if r.backup_id.is_empty() {
            r.id = restore_id(job, name, id, of_id(history, id));
            r.backup_id.clone_from(id);
            r.detail = String::new();
            has_request = true;
        } else if r.backup_id != *id {
            r.state = RestoreState::Skipped;
            r.ended_ms = Some(now_ms());
            r.detail = format!(
                "not fired: backup {name:?} was created again before its turn; the target now holds backup id {id} (restored on its own)"
            );
        } else {
            continue;
        }
        out.push((*seq, r));
    }
    if !has_request && cfg.backups.as_ref().is_some_and(|f| f.is_match(name)) {
        out.push((
            next_seq(history),
            requested(
                restore_id(job, name, id, of_id(history, id)),
                id.clone(),
                RestoreOrigin::Config,
                cfg.suffix.clone(),
                cfg.renames.clone(),
            ),
        ));
    }
    out
}

/// A request's id for messages (a request made before its backup was verified has none yet).
pub(super) fn shown_id(r: &RestoreRecord) -> String {
    if r.id.is_empty() {
        "given once the backup is verified".into()
    } else {
        r.id.clone()
    }
}

/// How many requests of backup id `id` the history holds (the next one's retry number).
pub(super) fn of_id(history: &[(u32, RestoreRecord)], id: &str) -> u32 {
    let n = history.iter().filter(|(_, r)| r.backup_id == id).count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The sequence number of a backup's next request.
pub(super) fn next_seq(history: &[(u32, RestoreRecord)]) -> u32 {
    history.last().map_or(0, |(s, _)| s.saturating_add(1))
}

/// A new restore request, not fired yet.
pub(super) fn requested(
    id: String,
    backup_id: String,
    origin: RestoreOrigin,
    suffix: Option<String>,
    renames: Vec<(String, String)>,
) -> RestoreRecord {
    RestoreRecord {
        id,
        backup_id,
        state: RestoreState::Requested,
        origin,
        suffix,
        renames,
        attempts: 0,
        requested_ms: now_ms(),
        fired_ms: None,
        ended_ms: None,
        next_try_ms: None,
        pid: None,
        progress: 0,
        detail: String::new(),
        elapsed_ms: 0,
        step: RestoreStep::None,
        job_ref: None,
        counts: Vec::new(),
    }
}
