//! Copying one object from one store to another.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};

use crate::backend::error::{display_chain, msg};
use crate::backend::{
    ByteStream, Error, GetOptions, ObjectStore, ObjectStoreExt, PartId, UploadConfig,
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
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            upload: UploadConfig::default(),
            retries: 3,
            backoff: Duration::from_millis(200),
        }
    }
}

/// Copies `src_key` of `src` (`size` bytes, as listed) to `dst_key` of `dst`; returns how,
/// and how many bytes were moved.
pub async fn copy_object(
    src: &dyn ObjectStore,
    src_key: &str,
    size: u64,
    dst: &dyn ObjectStore,
    dst_key: &str,
    config: &TransferConfig,
) -> Result<(Method, u64), Error> {
    let mut attempt = 0;
    loop {
        match copy_once(src, src_key, size, dst, dst_key, config).await {
            Err(e) if e.is_transient() && attempt < config.retries => {
                let base = config.backoff.saturating_mul(1 << attempt.min(10));
                let jitter = base.mul_f64(jitter_fraction());
                tracing::warn!(src = %src, src_key, dst = %dst, dst_key, attempt, error = %display_chain(&e), "retrying");
                tokio::time::sleep(base + jitter).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

async fn copy_once(
    src: &dyn ObjectStore,
    src_key: &str,
    size: u64,
    dst: &dyn ObjectStore,
    dst_key: &str,
    config: &TransferConfig,
) -> Result<(Method, u64), Error> {
    match dst.copy_from(src, src_key, dst_key).await {
        Ok(_) => return Ok((Method::ServerSide, size)),
        Err(Error::NotSupported { .. }) => {}
        Err(e) => return Err(e),
    }
    if size > config.upload.multipart_threshold {
        return copy_ranged(src, src_key, size, dst, dst_key, config)
            .await
            .map(|n| (Method::Streamed, n));
    }
    let got = src.get(src_key, GetOptions::default()).await?;
    let moved = got.meta.size;
    dst.put_stream(dst_key, moved, got.body, &config.upload)
        .await?;
    Ok((Method::Streamed, moved))
}

/// A large object: every part is read with its own ranged GET and uploaded as soon as it
/// has arrived, `part_concurrency` parts at a time, so reads and writes both run in
/// parallel. Each part reserves its size from the memory budget before it is read. All
/// ranges must come from the same version of the source (same ETag and size): a source
/// rewritten during the copy fails the attempt (transient, so it is retried) and the upload
/// is aborted, never completed from mixed versions.
async fn copy_ranged(
    src: &dyn ObjectStore,
    src_key: &str,
    size: u64,
    dst: &dyn ObjectStore,
    dst_key: &str,
    config: &TransferConfig,
) -> Result<u64, Error> {
    let path = format!("{dst}/{dst_key}");
    let Some(part_size) = config.upload.part_size_for(size, &dst.limits()) else {
        return Err(Error::Generic {
            path,
            source: msg(format!(
                "object of {size} bytes needs parts larger than the target allows"
            )),
        });
    };
    let upload = dst.put_multipart(dst_key).await?;
    let version: OnceLock<(Option<String>, u64)> = OnceLock::new();
    let parts: Result<Vec<PartId>, Error> = futures::stream::iter(0..size.div_ceil(part_size))
        .map(|i| {
            let offset = i * part_size;
            let len = part_size.min(size - offset);
            let (upload, version, path) = (&upload, &version, &path);
            async move {
                let _permit = config.upload.budget.reserve(len).await;
                let got = src
                    .get(
                        src_key,
                        GetOptions {
                            range: Some(offset..offset + len),
                        },
                    )
                    .await?;
                let seen = (got.meta.e_tag.clone(), got.meta.size);
                if *version.get_or_init(|| seen.clone()) != seen || seen.1 != size {
                    return Err(Error::Transient {
                        path: format!("{src}/{src_key}"),
                        source: msg("the source object changed while it was being copied"),
                    });
                }
                let data = collect_exact(got.body, len, path).await?;
                let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
                // Spawned so that request signing and sending of parts use every core.
                match tokio::spawn(upload.put_part(number, offset, data)).await {
                    Ok(r) => r,
                    Err(e) => Err(Error::Generic {
                        path: path.clone(),
                        source: Box::new(e),
                    }),
                }
            }
        })
        .buffer_unordered(config.upload.part_concurrency.max(1))
        .try_collect()
        .await;
    match parts {
        Ok(mut parts) => {
            parts.sort_by_key(|p| p.number);
            upload.complete(parts).await?;
            Ok(size)
        }
        Err(e) => {
            if let Err(abort) = upload.abort().await {
                tracing::warn!(path, error = %display_chain(&abort), "aborting multipart upload failed");
            }
            Err(e)
        }
    }
}

/// Reads exactly `len` bytes of a body into one buffer.
async fn collect_exact(mut body: ByteStream, len: u64, path: &str) -> Result<Bytes, Error> {
    let mut buf = BytesMut::with_capacity(usize::try_from(len).unwrap_or(0));
    while let Some(chunk) = body.try_next().await? {
        buf.extend_from_slice(&chunk);
        if buf.len() as u64 > len {
            break;
        }
    }
    if buf.len() as u64 != len {
        return Err(Error::Transient {
            path: path.to_owned(),
            source: msg(format!("read {} bytes of a {len}-byte range", buf.len())),
        });
    }
    Ok(buf.freeze())
}

/// A fraction in [0, 0.5) from the clock's low bits: enough to spread retries apart.
fn jitter_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 2000.0
}
