//! A backup's meta files: read once from the source and validated, then written from those
//! bytes at the target (rule 4).

use bytes::Bytes;
use chrono::Utc;
use ferry_state::schema::ObjectsSchema;
use ferry_state::{Batch, ObjectKey, ObjectRecord};
use futures::TryStreamExt;
use sha2::{Digest, Sha256};

use crate::backend::{Error, GetOptions, ObjectMeta};
use crate::milvus::inspect::MAX_META;
use crate::milvus::layout::{MetaFile, Part};
use crate::sync::plan::Reason;
use crate::sync::policy::{Run, RunPolicy};
use crate::sync::report::{Event, ObjectError, OnEvent, Summary};
use crate::sync::transfer::Method;

use super::run::*;
use super::verify::target_checks;

/// One meta file as read from the source for settling: the bytes checked are the bytes
/// written.
pub(super) struct MetaBytes {
    /// Relative key.
    pub(super) rel: String,
    /// Which meta file (`None`: another file under `meta/`).
    pub(super) file: Option<MetaFile>,
    /// As listed.
    pub(super) listed: ObjectMeta,
    pub(super) bytes: Bytes,
    pub(super) sha256: [u8; 32],
}

/// Why the listed meta files are not usable now; the backup is looked at again on the next
/// pass.
#[derive(Debug, thiserror::Error)]
pub(super) enum MetaUnusable {
    #[error("{path}: {size} bytes, larger than any meta file ferry reads")]
    TooLarge { path: String, size: u64 },
    #[error("cannot read {path} at the source")]
    Read {
        path: String,
        #[source]
        source: Error,
    },
    #[error("{path} changed while its meta was read (being written again?)")]
    Changed { path: String },
}

/// Reads every listed meta file; `Err` says why the set is not usable now (a file changed
/// or vanished since it was listed, a read failed, a file is too large).
pub(super) async fn read_meta_files(
    run: Run<'_>,
    listed: &[ObjectMeta],
) -> Result<Vec<MetaBytes>, MetaUnusable> {
    let mut out = Vec::with_capacity(listed.len());
    for m in listed {
        let Some(rel) = m.key.get(run.src().prefix.len()..) else {
            continue;
        };
        let file = Part::of(rel).and_then(|p| match p {
            Part::Meta { file, .. } => Some(file),
            _ => None,
        });
        let path = || run.src().display(rel);
        if m.size > MAX_META {
            return Err(MetaUnusable::TooLarge {
                path: path(),
                size: m.size,
            });
        }
        let read = |source| MetaUnusable::Read {
            path: path(),
            source,
        };
        let got = run
            .src()
            .store
            .get(&m.key, GetOptions::default())
            .await
            .map_err(read)?;
        let version = got.meta.clone();
        let len = got.range.end - got.range.start;
        let bytes = crate::backend::read_exact(got.body, len, &path())
            .await
            .map_err(read)?;
        if version.size != m.size || (m.e_tag.is_some() && version.e_tag != m.e_tag) {
            return Err(MetaUnusable::Changed { path: path() });
        }
        let sha256 = Sha256::digest(&bytes).into();
        if out.is_empty() {
            crate::pause::point("settle-meta-read").await;
        }
        out.push(MetaBytes {
            rel: rel.to_owned(),
            file,
            listed: m.clone(),
            bytes,
            sha256,
        });
    }
    Ok(out)
}

pub(super) enum MetaPut {
    /// The target holds the file's bytes; `read_back`: shown by reading them (found there,
    /// or written to a target that does not check signed hashes), else proven by the
    /// target's check of the upload.
    Done {
        read_back: bool,
    },
    Held,
    Failed(String),
}

/// Makes the target hold exactly `f`'s bytes: found identical (recorded), or written (after
/// hiding the backup when the target announces it), signed with the bytes' SHA-256, and read
/// back unless the target proved it by checking that hash (as for data objects).
pub(super) async fn put_meta(
    run: Run<'_>,
    gate: &Gate<'_>,
    f: &MetaBytes,
    summary: &mut Summary,
    on_event: &mut OnEvent<'_>,
) -> MetaPut {
    let dst_key = run.dst().key(&f.rel);
    let target = run.dst().display(&f.rel);
    let fail = |summary: &mut Summary, on_event: &mut OnEvent<'_>, error: ObjectError| {
        summary.failed += 1;
        let what = format!("writing {target} failed; retried: {error}");
        on_event(Event::Failed {
            path: target.clone(),
            error,
        });
        MetaPut::Failed(what)
    };
    let found = match read_target(run, &dst_key).await {
        Ok(found) => found,
        Err(e) => return fail(summary, on_event, e.into()),
    };
    let mut e_tag = found
        .as_ref()
        .filter(|(_, sha)| *sha == f.sha256)
        .map(|(m, _)| m.e_tag.clone());
    let copied = e_tag.is_none();
    // Written with its SHA-256 signed, to a target that refuses a body not matching it.
    let signed = copied && run.dst().store.signs_payloads();
    let mut proven = false;
    if copied {
        if let Err(ev) = gate.before_write(run, &f.rel).await {
            let held = matches!(ev, Event::Held { .. });
            on_event(ev);
            if held {
                summary.held += 1;
                return MetaPut::Held;
            }
            summary.failed += 1;
            return MetaPut::Failed(format!("writing {target} failed; retried"));
        }
        let put = match run
            .dst()
            .store
            .put_hashed(&dst_key, f.bytes.clone(), f.sha256)
            .await
        {
            Ok(p) => p,
            Err(e) => return fail(summary, on_event, e.into()),
        };
        // Proven by the target's check of the signed SHA-256, or read back.
        proven = signed && !run.verify_all() && target_checks(run, gate).await;
        if !proven {
            match read_target(run, &dst_key).await {
                Ok(Some((_, sha))) if sha == f.sha256 => {}
                Ok(_) => {
                    return fail(
                        summary,
                        on_event,
                        Error::Transient {
                            path: target.clone(),
                            source: crate::backend::error::msg(
                                "read back with another SHA-256 than the bytes written",
                            ),
                        }
                        .into(),
                    );
                }
                Err(e) => return fail(summary, on_event, e.into()),
            }
        }
        e_tag = Some(put.e_tag);
    }
    let record = ObjectRecord {
        size: f.bytes.len() as u64,
        src_etag: f.listed.e_tag.clone(),
        src_mtime_ms: f
            .listed
            .last_modified
            .as_ref()
            .map(|t| t.timestamp_millis()),
        sha256: Some(f.sha256),
        dst_etag: e_tag.flatten(),
        dst_version: None,
        synced_ms: Utc::now().timestamp_millis(),
        upload_checked: signed,
    };
    let mut b = Batch::new();
    b.put::<ObjectsSchema>(
        &ObjectKey {
            pair: run.pair(),
            key: f.rel.clone(),
        },
        &record,
    );
    if let Err(e) = run.manifest().write(b) {
        return fail(summary, on_event, state_error(run, &f.rel, e));
    }
    if copied {
        summary.copied += 1;
        summary.bytes += f.bytes.len() as u64;
        on_event(Event::Copied {
            source: run.src().display(&f.rel),
            target: target.clone(),
            size: f.bytes.len() as u64,
            method: Some(Method::Streamed),
            reason: Reason::New,
        });
    }
    // The target holds the validated bytes: read back (after the write, or found so), or
    // proven by its check of the upload.
    if !proven {
        summary.verified += 1;
        summary.read_back_bytes += f.bytes.len() as u64;
        on_event(Event::Verified {
            target,
            size: f.bytes.len() as u64,
        });
    }
    MetaPut::Done { read_back: !proven }
}

/// The target's object at `key` and its SHA-256; `None` when absent.
pub(super) async fn read_target(
    run: Run<'_>,
    key: &str,
) -> Result<Option<(ObjectMeta, [u8; 32])>, Error> {
    let got = match run.dst().store.get(key, GetOptions::default()).await {
        Ok(g) => g,
        Err(Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = got.meta.clone();
    let mut body = got.body;
    let mut h = Sha256::new();
    while let Some(chunk) = body.try_next().await? {
        h.update(&chunk);
    }
    Ok(Some((meta, h.finalize().into())))
}
