//! What a killed run left behind: multipart uploads to go on with or abort, and keys whose
//! write was interrupted before its row.

use std::sync::Mutex;

use ferry_state::schema::{ObjectKey, PairId, UploadsSchema};
use ferry_state::{Batch, Manifest, UploadRecord, UploadState};

use crate::backend::error::display_chain;
use crate::sync::report::MirrorError;
use crate::sync::side::Side;

/// Deals with the multipart uploads recorded as in flight by an earlier run (killed): one
/// whose source object is still the version it was for is kept to go on with (its parts are
/// not sent again, see `transfer`); the others are aborted. Returns the keys whose upload
/// could not be cleaned up: they are not copied in this run, so that their record (the only
/// trace of the open upload) is not replaced; the next run tries again.
pub(super) async fn abort_stale_uploads(
    manifest: &Manifest,
    pair: PairId,
    src: &Side,
    dst: &Side,
) -> Result<Stale, MirrorError> {
    let mut unresolved = std::collections::HashSet::new();
    let mut owned = std::collections::HashSet::new();
    let mut resumable = std::collections::HashMap::new();
    for (rel, rec) in manifest.uploads(pair)? {
        // What a killed write left beside the key (the local backend's temporary files, which
        // milvus-backup would read as part of a backup's folder).
        if let Err(e) = dst.store.clean_interrupted(&rec.target_key).await {
            tracing::warn!(key = %rec.target_key, error = %display_chain(&e), "cannot remove the leftovers of an interrupted write yet; the object waits for the next run");
            unresolved.insert(rel);
            continue;
        }
        if rec.state == UploadState::Intent {
            // A plain intent: nothing open at the target; the key stays marked as ferry's.
            owned.insert(rel);
            continue;
        }
        if let UploadState::Open {
            upload_id,
            part_size,
        } = &rec.state
            && rec.src_etag.is_some()
        {
            let same = match src.store.head(&src.key(&rel)).await {
                Ok(m) => m.e_tag == rec.src_etag,
                Err(_) => false,
            };
            if same {
                owned.insert(rel.clone());
                resumable.insert(
                    rel,
                    Resumable {
                        upload_id: upload_id.clone(),
                        part_size: *part_size,
                        src_etag: rec.src_etag.clone(),
                    },
                );
                continue;
            }
        }
        match abort_recorded(dst, &rec).await {
            Ok(()) => {
                downgrade(manifest, pair, &rel, rec)?;
                owned.insert(rel);
            }
            Err(_) => {
                unresolved.insert(rel);
            }
        }
    }
    Ok(Stale {
        unresolved,
        owned,
        resumable: Mutex::new(resumable),
    })
}

/// Aborts the upload an upload record names (found by key when its id was never learnt).
/// `Err` when it could not be dealt with yet (transient): the record stays for the next run.
pub(super) async fn abort_recorded(dst: &Side, rec: &UploadRecord) -> Result<(), ()> {
    let aborted = if let Some(upload_id) = rec.state.upload_id() {
        dst.store.abort_multipart(&rec.target_key, upload_id).await
    } else {
        // Killed before the upload's id was known: find the uploads open for that key.
        match dst.store.list_multipart(&rec.target_key).await {
            Ok(ids) => {
                let mut r = Ok(());
                for id in ids {
                    r = r.and(dst.store.abort_multipart(&rec.target_key, &id).await);
                }
                r
            }
            Err(e) => Err(e),
        }
    };
    match aborted {
        Ok(()) => {
            tracing::info!(key = %rec.target_key, "aborted an interrupted multipart upload");
            Ok(())
        }
        Err(e) if e.is_transient() => {
            tracing::warn!(key = %rec.target_key, error = %display_chain(&e), "cannot abort an interrupted upload yet; the object waits for the next run");
            Err(())
        }
        Err(e) => {
            // The server will not list or abort it (or no longer knows it): say so, once,
            // with the id, and stop tracking it.
            let id = rec.state.upload_id().unwrap_or("(id unknown)");
            tracing::warn!(key = %rec.target_key, upload_id = id, error = %display_chain(&e), "multipart upload may remain open at the target");
            Ok(())
        }
    }
}

/// An upload a killed run left open, to go on with.
#[derive(Debug, Clone)]
pub(super) struct Resumable {
    pub(super) upload_id: String,
    pub(super) part_size: u64,
    /// The source version it was for.
    pub(super) src_etag: Option<String>,
}

/// What an earlier run left behind.
#[derive(Debug, Default)]
pub(super) struct Stale {
    /// Keys whose interrupted upload could not be aborted yet: not copied this run.
    pub(super) unresolved: std::collections::HashSet<String>,
    /// Keys ferry was writing when it stopped (its own unfinished work at the target).
    pub(super) owned: std::collections::HashSet<String>,
    /// Uploads to go on with, by key; each taken by the copy of its key.
    pub(super) resumable: Mutex<std::collections::HashMap<String, Resumable>>,
}

impl Stale {
    pub(super) fn take_resumable(&self, rel: &str) -> Option<Resumable> {
        crate::lock::lock(&self.resumable).remove(rel)
    }

    /// Aborts the uploads no copy went on with (their key was not copied in this run).
    pub(super) async fn abort_unused(
        &self,
        manifest: &Manifest,
        pair: PairId,
        dst: &Side,
    ) -> Result<(), MirrorError> {
        let left: std::collections::HashMap<String, Resumable> =
            crate::lock::lock(&self.resumable).drain().collect();
        if left.is_empty() {
            return Ok(());
        }
        for (rel, rec) in manifest.uploads(pair)? {
            if left
                .get(&rel)
                .is_some_and(|r| Some(r.upload_id.as_str()) == rec.state.upload_id())
                && abort_recorded(dst, &rec).await.is_ok()
            {
                downgrade(manifest, pair, &rel, rec)?;
            }
        }
        Ok(())
    }
}

/// Replaces an upload record by a plain intent (the upload is dealt with; the key stays
/// marked as ferry's until its row is written).
pub(super) fn downgrade(
    manifest: &Manifest,
    pair: PairId,
    rel: &str,
    rec: UploadRecord,
) -> Result<(), MirrorError> {
    let mut b = Batch::new();
    b.put::<UploadsSchema>(
        &ObjectKey {
            pair,
            key: rel.to_owned(),
        },
        &UploadRecord {
            state: UploadState::Intent,
            ..rec
        },
    );
    manifest.write(b)?;
    Ok(())
}
