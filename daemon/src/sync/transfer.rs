//! Copying one object from one store to another.

use std::time::Duration;

use crate::backend::{Error, GetOptions, ObjectStore, ObjectStoreExt, UploadConfig};

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
                tracing::warn!(src = %src, src_key, dst = %dst, dst_key, attempt, error = %crate::backend::error::display_chain(&e), "retrying");
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
    let got = src.get(src_key, GetOptions::default()).await?;
    let moved = got.meta.size;
    dst.put_stream(dst_key, moved, got.body, &config.upload)
        .await?;
    Ok((Method::Streamed, moved))
}

/// A fraction in [0, 0.5) from the clock's low bits: enough to spread retries apart.
fn jitter_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 2000.0
}
