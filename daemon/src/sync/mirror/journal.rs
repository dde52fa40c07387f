//! Write intents and in-flight multipart uploads, recorded in the manifest before the write
//! they announce: what a killed run leaves is found by the next one (see `stale`).

use std::sync::atomic::Ordering;

use chrono::Utc;
use ferry_state::schema::{ObjectKey, UploadsSchema};
use ferry_state::{Batch, Manifest, UploadRecord, UploadState};

use crate::sync::transfer::UploadJournal;

/// Writes in-flight upload records for one object.
pub(super) struct Journal<'a> {
    pub(super) manifest: &'a Manifest,
    pub(super) key: ObjectKey,
    pub(super) target_key: String,
    pub(super) src_etag: Option<String>,
    /// An upload of this object a killed run left open: (its id, its part size).
    pub(super) resume: Option<(String, u64)>,
    /// Whether the transfer took `resume` (else it is aborted after the copy).
    pub(super) resume_taken: std::sync::atomic::AtomicBool,
}

impl Journal<'_> {
    pub(super) fn record(&self, state: UploadState) {
        let mut b = Batch::new();
        b.put::<UploadsSchema>(
            &self.key,
            &UploadRecord {
                state,
                target_key: self.target_key.clone(),
                src_etag: self.src_etag.clone(),
                started_ms: Utc::now().timestamp_millis(),
            },
        );
        if let Err(e) = self.manifest.write(b) {
            tracing::warn!(error = %e, "cannot record the write in the manifest");
        }
    }
}

impl UploadJournal for Journal<'_> {
    // Recorded before the upload exists, so that a crash between its creation and the
    // moment its id is known still leaves a trace to clean up by key.
    fn starting(&self, part_size: u64) {
        self.record(UploadState::Creating { part_size });
    }

    fn started(&self, upload_id: &str, part_size: u64) {
        self.record(UploadState::Open {
            upload_id: upload_id.to_owned(),
            part_size,
        });
    }

    // The upload is over (completed or aborted), but the object's row is not written yet:
    // keep a plain intent so that a crash before the row still marks the key as ferry's own.
    fn finished(&self, _upload_id: &str) {
        self.record(UploadState::Intent);
    }

    fn resumable(&self) -> Option<(String, u64)> {
        self.resume_taken.store(true, Ordering::Relaxed);
        self.resume.clone()
    }
}

impl Journal<'_> {
    /// Marks the key as being written by ferry (before any byte is sent): until its row is
    /// written, an object found there is ferry's own unfinished work, not someone else's.
    pub(super) fn intent(&self) {
        self.record(UploadState::Intent);
    }
}
