//! Copying one object from one store to another, hashing it on the way.
//!
//! Every streamed byte goes through SHA-256 in the same pass that uploads it (never a second
//! read): the hash is what makes "same content" true across providers whose ETags disagree.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

use super::progress::{Copying, InFlight};
use crate::backend::error::{display_chain, msg};
use crate::backend::{
    Error, GetOptions, ObjectStore, ObjectStoreExt, PartId, UploadConfig, join_part,
    read_exact_into,
};

/// How an object was copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The store copied it without the bytes passing through ferry.
    ServerSide,
    /// ferry read it from the source and wrote it to the target.
    Streamed,
}

impl Method {
    /// `server-side` or `stream`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::ServerSide => "server-side",
            Method::Streamed => "stream",
        }
    }
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// How.
    pub method: Method,
    /// Bytes in the object.
    pub size: u64,
    /// SHA-256 of the content (`None` after a server-side copy, where no byte passed through,
    /// and for large copies when [`TransferConfig::sha256`] is off).
    pub sha256: Option<[u8; 32]>,
    /// The target's ETag after the write.
    pub e_tag: Option<String>,
    /// The target's version after the write.
    pub version: Option<String>,
    /// Every request that wrote it carried its body's signed SHA-256 for the target to check
    /// ([`ObjectStore::signs_payloads`]), over the same buffers `sha256` was computed from.
    pub upload_checked: bool,
}

/// Told about multipart uploads so that a crash can be cleaned up later.
pub trait UploadJournal: Send + Sync {
    /// A multipart upload is about to be created (its id is not known yet).
    fn starting(&self, part_size: u64);
    /// A multipart upload with this id started at the target (before any part is sent).
    fn started(&self, upload_id: &str, part_size: u64);
    /// The upload completed or was aborted.
    fn finished(&self, upload_id: &str);
    /// An upload of this object that an earlier process left open (it died), with its part
    /// size, to go on with instead of starting over.
    fn resumable(&self) -> Option<(String, u64)> {
        None
    }
}

/// Transfer settings.
#[derive(Debug, Clone)]
pub struct TransferConfig {
    /// Upload cutting and the shared memory budget.
    pub upload: UploadConfig,
    /// Extra attempts for a transient failure (the SDK already retries single requests;
    /// this retries the whole object, e.g. after a body cut short).
    pub retries: u32,
    /// First backoff delay; doubles per attempt, with jitter.
    pub backoff: Duration,
    /// Hard stop (ferryd's shutdown after its grace period): multipart copies stop between
    /// parts and abort their upload, and nothing is retried.
    pub stop: Option<tokio_util::sync::CancellationToken>,
    /// Where copies show their bytes done while they run (a ferryd job's status).
    pub in_flight: Option<Arc<InFlight>>,
    /// Also compute each multipart copy's whole MD5 and hand it to the upload, for targets
    /// that keep one with the object (Azure: the blob's Content-MD5, set at its commit). Off
    /// by default: it costs a second hash over every byte. Single writes to Azure carry their
    /// MD5 anyway.
    pub content_md5: bool,
    /// Hash large copies with SHA-256 on the way (`Copied::sha256`): what the manifest keeps
    /// as an object's identity. `ferry cp`, which keeps no manifest, turns it off rather than
    /// compute a hash nobody reads (single-request writes are still hashed: S3 signs them with
    /// it).
    pub sha256: bool,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            upload: UploadConfig::default(),
            retries: 3,
            backoff: Duration::from_millis(200),
            stop: None,
            in_flight: None,
            content_md5: false,
            sha256: true,
        }
    }
}

/// Copies `src_key` of `src` (`size` bytes, as listed) to `dst_key` of `dst`.
pub async fn copy_object(
    src: &dyn ObjectStore,
    src_key: &str,
    size: u64,
    dst: &dyn ObjectStore,
    dst_key: &str,
    config: &TransferConfig,
    journal: Option<&dyn UploadJournal>,
) -> Result<Copied, Error> {
    let backoff = crate::retry::Backoff::transfer(config.backoff);
    let mut attempt = 0;
    loop {
        match copy_once(src, src_key, size, dst, dst_key, config, journal).await {
            Err(e) if e.is_transient() && attempt < config.retries && !stopped(config) => {
                tracing::warn!(src = %src, src_key, dst = %dst, dst_key, attempt, error = %display_chain(&e), "retrying");
                tokio::time::sleep(backoff.delay(attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn stopped(config: &TransferConfig) -> bool {
    config.stop.as_ref().is_some_and(|s| s.is_cancelled())
}

async fn copy_once(
    src: &dyn ObjectStore,
    src_key: &str,
    size: u64,
    dst: &dyn ObjectStore,
    dst_key: &str,
    config: &TransferConfig,
    journal: Option<&dyn UploadJournal>,
) -> Result<Copied, Error> {
    let copying = config
        .in_flight
        .as_ref()
        .map(|f| Arc::new(f.start(dst_key, size)));
    match dst.copy_from(src, src_key, size, dst_key).await {
        Ok(put) => {
            return Ok(Copied {
                method: Method::ServerSide,
                size,
                sha256: None,
                e_tag: put.e_tag,
                version: put.version,
                upload_checked: false,
            });
        }
        Err(Error::NotSupported { .. }) => {}
        Err(e) => return Err(e),
    }
    if size > config.upload.multipart_threshold {
        return copy_ranged(src, src_key, size, dst, dst_key, config, journal, copying).await;
    }
    let got = src.get(src_key, GetOptions::default()).await?;
    let moved = got.meta.size;
    if moved > config.upload.multipart_threshold {
        // Grew since it was listed: stream it through a multipart upload, hashing on the way.
        return copy_streamed(got.body, moved, dst, dst_key, config, copying).await;
    }
    // One request: read it whole (within the memory budget), hash it, and hand the hash to
    // the target so that the request is signed with it rather than hashed a second time.
    let budget = &config.upload.budget;
    let _permit = budget.reserve(moved).await;
    let buf = budget.buffer(usize::try_from(moved).unwrap_or(usize::MAX));
    let data = read_exact_into(got.body, buf, moved, &format!("{src}/{src_key}")).await?;
    let sha = sha256_of(&data, dst_key).await?;
    let put = dst.put_hashed(dst_key, data.clone(), sha).await;
    budget.recycle(data);
    let put = put?;
    Ok(Copied {
        method: Method::Streamed,
        size: moved,
        sha256: Some(sha),
        e_tag: put.e_tag,
        version: put.version,
        upload_checked: dst.signs_payloads(),
    })
}

/// SHA-256 of a buffer; past 1 MiB on a blocking thread, off the async workers.
async fn sha256_of(data: &bytes::Bytes, path: &str) -> Result<[u8; 32], Error> {
    if data.len() <= 1 << 20 {
        return Ok(Sha256::digest(data).into());
    }
    let data = data.clone();
    tokio::task::spawn_blocking(move || Sha256::digest(&data).into())
        .await
        .map_err(|e| Error::Generic {
            path: path.to_owned(),
            source: Box::new(e),
        })
}

/// A body cut into a multipart upload by [`ObjectStoreExt::put_stream`], hashed as it passes.
async fn copy_streamed(
    body: crate::backend::ByteStream,
    size: u64,
    dst: &dyn ObjectStore,
    dst_key: &str,
    config: &TransferConfig,
    copying: Option<Arc<Copying>>,
) -> Result<Copied, Error> {
    let hasher = Arc::new(Mutex::new(Sha256::new()));
    let h = hasher.clone();
    let body = body
        .map_ok(move |chunk| {
            {
                let mut h = crate::lock::lock(&h);
                h.update(&chunk);
            }
            if let Some(c) = &copying {
                c.add(chunk.len() as u64);
            }
            chunk
        })
        .boxed();
    let put = dst.put_stream(dst_key, size, body, &config.upload).await?;
    let sha = Some(crate::lock::lock(&hasher).clone().finalize().into());
    Ok(Copied {
        method: Method::Streamed,
        size,
        sha256: sha,
        e_tag: put.e_tag,
        version: put.version,
        upload_checked: dst.signs_payloads(),
    })
}

/// Reads an object once and returns its SHA-256 (for objects copied server-side).
pub async fn hash_object(store: &dyn ObjectStore, key: &str) -> Result<[u8; 32], Error> {
    let got = store.get(key, GetOptions::default()).await?;
    let mut body = got.body;
    let mut h = Sha256::new();
    while let Some(chunk) = body.try_next().await? {
        h.update(&chunk);
    }
    Ok(h.finalize().into())
}

/// The hashes of one copy, updated in order, each on request: SHA-256 (the manifest's
/// identity) and MD5 (a whole-object Content-MD5).
struct Hashers {
    sha256: Option<Sha256>,
    md5: Option<md5::Md5>,
}

impl Hashers {
    fn new(config: &TransferConfig) -> Self {
        Hashers {
            sha256: config.sha256.then(Sha256::new),
            md5: config.content_md5.then(md5::Md5::new),
        }
    }

    fn wanted(&self) -> bool {
        self.sha256.is_some() || self.md5.is_some()
    }

    fn update(&mut self, chunk: &[u8]) {
        if let Some(s) = &mut self.sha256 {
            s.update(chunk);
        }
        if let Some(m) = &mut self.md5 {
            m.update(chunk);
        }
    }
}

/// A large object, part by part: each part is read with its own ranged GET (up to
/// `part_concurrency` reads in flight, yielded in order), hashed in order, then uploaded by
/// its own task (up to `part_concurrency` uploads in flight). Every part reserves its size
/// from the memory budget before it is read and releases it once uploaded.
///
/// All ranges must come from one version of the source (same ETag and size): a source
/// rewritten during the copy fails the attempt (transient, so it is retried) and the upload
/// is aborted, never completed from mixed versions.
#[allow(clippy::too_many_arguments)]
async fn copy_ranged(
    src: &dyn ObjectStore,
    src_key: &str,
    size: u64,
    dst: &dyn ObjectStore,
    dst_key: &str,
    config: &TransferConfig,
    journal: Option<&dyn UploadJournal>,
    copying: Option<Arc<Copying>>,
) -> Result<Copied, Error> {
    let path = format!("{dst}/{dst_key}");
    let Some(part_size) = config.upload.part_size_for(size, &dst.limits()) else {
        return Err(Error::Generic {
            path,
            source: msg(format!(
                "object of {size} bytes needs parts larger than the target allows"
            )),
        });
    };
    let (mut upload, stored) = match resume(dst, dst_key, part_size, journal).await? {
        Some(resumed) => resumed,
        None => {
            if let Some(j) = journal {
                j.starting(part_size);
            }
            match dst.put_multipart(dst_key).await {
                Ok(u) => (u, std::collections::HashMap::new()),
                Err(e) => {
                    // A clear refusal created nothing: drop the intent. After a transport
                    // failure the upload may exist: the intent stays for the next run to look
                    // for it.
                    if !e.is_transient()
                        && let Some(j) = journal
                    {
                        j.finished("");
                    }
                    return Err(e);
                }
            }
        }
    };
    if let Some(j) = journal {
        j.started(upload.id(), part_size);
    }
    let mut reused = 0u32;
    let concurrency = config.upload.part_concurrency.max(1);
    let budget = &config.upload.budget;
    // Parts in memory at once, being read or being uploaded: each holds one of these from its
    // read until the target has it (and a share of the shared budget).
    let in_memory = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let src_path = format!("{src}/{src_key}");
    let mut reads = futures::stream::iter(0..size.div_ceil(part_size))
        .map(|i| {
            let offset = i * part_size;
            let len = part_size.min(size - offset);
            let src_path = &src_path;
            let in_memory = in_memory.clone();
            async move {
                let slot = in_memory
                    .acquire_owned()
                    .await
                    .map_err(|e| Error::Generic {
                        path: src_path.clone(),
                        source: Box::new(e),
                    })?;
                let permit = (budget.reserve(len).await, slot);
                let got = src
                    .get(
                        src_key,
                        GetOptions {
                            range: Some(offset..offset + len),
                        },
                    )
                    .await?;
                let version = (got.meta.e_tag.clone(), got.meta.size);
                let buf = budget.buffer(usize::try_from(len).unwrap_or(usize::MAX));
                let data = read_exact_into(got.body, buf, len, src_path).await?;
                Ok::<_, Error>((i, offset, data, version, permit))
            }
        })
        .buffered(concurrency);

    let mut uploads: JoinSet<Result<PartId, Error>> = JoinSet::new();
    let mut parts = Vec::new();
    let mut hasher = Some(Hashers::new(config));
    let mut expected: Option<(Option<String>, u64)> = None;
    let outcome: Result<(), Error> = async {
        loop {
            let read = match &config.stop {
                Some(stop) => tokio::select! {
                    r = reads.next() => r,
                    _ = stop.cancelled() => {
                        return Err(Error::Transient {
                            path: path.clone(),
                            source: msg("stopped: ferryd is shutting down"),
                        });
                    }
                },
                None => reads.next().await,
            };
            let Some(read) = read else { break };
            let (i, offset, data, version, permit) = read?;
            let expected = expected.get_or_insert_with(|| version.clone());
            if *expected != version || version.1 != size {
                return Err(Error::Transient {
                    path: src_path.clone(),
                    source: msg("the source object changed while it was being copied"),
                });
            }
            // Hash in order, off the async threads.
            if hasher.as_ref().is_some_and(Hashers::wanted) {
                let h = hasher.take();
                let chunk = data.clone();
                hasher = tokio::task::spawn_blocking(move || {
                    let mut h = h;
                    if let Some(h) = &mut h {
                        h.update(&chunk);
                    }
                    h
                })
                .await
                .map_err(|e| Error::Generic {
                    path: path.clone(),
                    source: Box::new(e),
                })?;
            }
            while uploads.len() >= concurrency {
                parts.push(join_part(uploads.join_next().await, &path)?);
            }
            let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
            // A part the resumed upload holds with these very bytes is not sent again.
            if let Some(p) = stored.get(&number)
                && p.size == data.len() as u64
                && p.content_id.eq_ignore_ascii_case(&md5_hex(&data))
            {
                parts.push(PartId {
                    number,
                    content_id: p.content_id.clone(),
                });
                reused += 1;
                budget.recycle(data);
                drop(permit);
                if let Some(c) = &copying {
                    c.add(p.size);
                }
                continue;
            }
            let len = data.len() as u64;
            let fut = upload.put_part(number, offset, data.clone());
            let copying = copying.clone();
            let budget = budget.clone();
            uploads.spawn(async move {
                let r = fut.await;
                budget.recycle(data);
                drop(permit);
                if r.is_ok() {
                    if let Some(c) = &copying {
                        c.add(len);
                    }
                    crate::pause::point("multipart-part-uploaded").await;
                }
                r
            });
        }
        while let Some(j) = uploads.join_next().await {
            parts.push(join_part(Some(j), &path)?);
        }
        Ok(())
    }
    .await;
    drop(reads);
    let upload_id = upload.id().to_owned();
    let result = match outcome {
        Ok(()) => {
            parts.sort_by_key(|p| p.number);
            if let Some(md5) = hasher.as_mut().and_then(|h| h.md5.take()) {
                upload.set_content_md5(md5.finalize().into());
            }
            upload.complete(parts).await
        }
        Err(e) => {
            uploads.shutdown().await;
            Err(e)
        }
    };
    let put = match result {
        Ok(put) => put,
        Err(e) => {
            // Abort what is left (after a failed complete the upload may still be open; a
            // server that no longer knows it has nothing open).
            match dst.abort_multipart(dst_key, &upload_id).await {
                Ok(()) | Err(Error::NotFound { .. }) => {}
                // The server will not abort it (refused, or it does not know the upload):
                // trying again at the next run would not change that.
                Err(abort) if !abort.is_transient() => {
                    tracing::warn!(path, upload_id, error = %display_chain(&abort), "multipart upload may remain open at the target");
                }
                Err(abort) => {
                    // Keep the journal record (it has the id) for the next run to abort, and
                    // do not retry now: a new upload would replace that record.
                    tracing::warn!(path, upload_id, error = %display_chain(&abort), "aborting multipart upload failed; retried at the next run");
                    return Err(Error::Generic {
                        path,
                        source: Box::new(UploadLeftOpen(e)),
                    });
                }
            }
            if let Some(j) = journal {
                j.finished(&upload_id);
            }
            return Err(e);
        }
    };
    if let Some(j) = journal {
        j.finished(&upload_id);
    }
    if reused > 0 {
        tracing::info!(
            path,
            upload_id,
            parts = reused,
            "resumed an interrupted multipart upload: parts already there were not sent again"
        );
    }
    Ok(Copied {
        method: Method::Streamed,
        size,
        sha256: hasher.and_then(|h| h.sha256).map(|h| h.finalize().into()),
        e_tag: put.e_tag,
        version: put.version,
        // Each part was signed with its own SHA-256 (parts taken over from an interrupted
        // upload were, when they were sent; their ETag matched these bytes' MD5).
        upload_checked: dst.signs_payloads(),
    })
}

/// Reopens the upload an earlier process left open for this object, when the journal has one
/// with the same part size and the store can reopen it: the upload and its stored parts by
/// number. `None` starts a new upload (an old one the store still has is aborted first).
async fn resume(
    dst: &dyn ObjectStore,
    dst_key: &str,
    part_size: u64,
    journal: Option<&dyn UploadJournal>,
) -> Result<
    Option<(
        Box<dyn crate::backend::MultipartUpload>,
        std::collections::HashMap<u32, crate::backend::StoredPart>,
    )>,
    Error,
> {
    let Some((upload_id, was)) = journal.and_then(|j| j.resumable()) else {
        return Ok(None);
    };
    let path = format!("{dst}/{dst_key}");
    if was == part_size {
        match dst.resume_multipart(dst_key, &upload_id).await {
            // Nothing stored yet is nothing to gain (and some servers list no parts for an
            // upload they do not know): start over.
            Ok((_, parts)) if parts.is_empty() => {}
            Ok((upload, parts)) => {
                tracing::info!(
                    path,
                    upload_id,
                    parts = parts.len(),
                    "going on with an interrupted multipart upload"
                );
                let parts = parts.into_iter().map(|p| (p.number, p)).collect();
                return Ok(Some((upload, parts)));
            }
            // Gone (aborted or expired meanwhile): start over.
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(Error::NotSupported { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    // Parts of another size (the settings changed), no parts, or a store that cannot reopen
    // it: it is of no use, and must not stay open.
    match dst.abort_multipart(dst_key, &upload_id).await {
        Err(e) if e.is_transient() => Err(e),
        Err(e) => {
            if !matches!(e, Error::NotFound { .. }) {
                tracing::warn!(path, upload_id, error = %display_chain(&e), "multipart upload may remain open at the target");
            }
            Ok(None)
        }
        Ok(()) => Ok(None),
    }
}

/// Lowercase hex MD5 of a part (what S3 stores as its ETag).
fn md5_hex(data: &[u8]) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(data))
}

/// A copy failed and its multipart upload could not be aborted yet.
#[derive(Debug, thiserror::Error)]
#[error("copy failed and its multipart upload is left for the next run to abort")]
struct UploadLeftOpen(#[source] Error);
