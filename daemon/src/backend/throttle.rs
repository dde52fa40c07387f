//! A bandwidth cap for reads: a store wrapper whose `get` bodies draw from a shared token
//! bucket (ferryd's per-job `bandwidth`). Everything else passes straight through, including
//! server-side copies, which move no byte through ferry.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::time::Instant;

use super::{
    DeleteFailure, GetOptions, GetResult, Limits, ListEntry, ListOptions, MultipartUpload,
    ObjectMeta, ObjectStore, PutResult, Result,
};

/// A token bucket of `rate` bytes per second with one second of burst. A taker that finds
/// too few tokens goes into debt and sleeps it off, so concurrent readers share the rate.
#[derive(Debug)]
pub struct Throttle {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl Throttle {
    /// A bucket of `bytes_per_second`, full.
    pub fn new(bytes_per_second: u64) -> Throttle {
        let rate = bytes_per_second.max(1) as f64;
        Throttle {
            rate,
            state: Mutex::new((rate, Instant::now())),
        }
    }

    /// Takes `n` bytes' worth of tokens, waiting as long as the rate requires.
    pub async fn take(&self, n: usize) {
        let wait = {
            let mut s = crate::lock::lock(&self.state);
            let now = Instant::now();
            let (tokens, last) = *s;
            let refilled =
                (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.rate);
            let left = refilled - n as f64;
            *s = (left, now);
            if left >= 0.0 {
                return;
            }
            Duration::from_secs_f64(-left / self.rate)
        };
        tokio::time::sleep(wait).await;
    }
}

/// A store whose reads are capped by a [`Throttle`].
#[derive(Debug)]
pub struct ThrottledStore {
    inner: Arc<dyn ObjectStore>,
    throttle: Arc<Throttle>,
}

impl ThrottledStore {
    /// Wraps `inner`: its reads share `bytes_per_second`.
    pub fn new(inner: Arc<dyn ObjectStore>, bytes_per_second: u64) -> ThrottledStore {
        ThrottledStore {
            inner,
            throttle: Arc::new(Throttle::new(bytes_per_second)),
        }
    }
}

impl fmt::Display for ThrottledStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

#[async_trait]
impl ObjectStore for ThrottledStore {
    fn list(&self, prefix: &str, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        self.inner.list(prefix, options)
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        self.inner.head(key).await
    }

    async fn get(&self, key: &str, options: GetOptions) -> Result<GetResult> {
        let got = self.inner.get(key, options).await?;
        let throttle = self.throttle.clone();
        let body = got
            .body
            .then(move |chunk| {
                let throttle = throttle.clone();
                async move {
                    if let Ok(c) = &chunk {
                        throttle.take(c.len()).await;
                    }
                    chunk
                }
            })
            .boxed();
        Ok(GetResult { body, ..got })
    }

    async fn put(&self, key: &str, payload: Bytes) -> Result<PutResult> {
        self.inner.put(key, payload).await
    }

    async fn put_hashed(&self, key: &str, payload: Bytes, sha256: [u8; 32]) -> Result<PutResult> {
        self.inner.put_hashed(key, payload, sha256).await
    }

    async fn put_multipart(&self, key: &str) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart(key).await
    }

    async fn copy_from(
        &self,
        src: &dyn ObjectStore,
        src_key: &str,
        size: u64,
        dst_key: &str,
    ) -> Result<PutResult> {
        self.inner.copy_from(src, src_key, size, dst_key).await
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        self.inner.abort_multipart(key, upload_id).await
    }

    async fn list_multipart(&self, key: &str) -> Result<Vec<String>> {
        self.inner.list_multipart(key).await
    }

    async fn resume_multipart(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<(Box<dyn MultipartUpload>, Vec<super::StoredPart>)> {
        self.inner.resume_multipart(key, upload_id).await
    }

    async fn clean_interrupted(&self, key: &str) -> Result<()> {
        self.inner.clean_interrupted(key).await
    }

    async fn delete(&self, keys: &[String]) -> Result<Vec<DeleteFailure>> {
        self.inner.delete(keys).await
    }

    fn limits(&self) -> Limits {
        self.inner.limits()
    }

    fn signs_payloads(&self) -> bool {
        self.inner.signs_payloads()
    }

    async fn probe_payload_check(&self, key: &str) -> Result<Option<super::PayloadCheck>> {
        self.inner.probe_payload_check(key).await
    }

    fn url(&self) -> String {
        self.inner.url()
    }

    fn canonical(&self, key: &str) -> String {
        self.inner.canonical(key)
    }

    // The inner store: a server-side copy from a throttled source is still possible.
    fn as_any(&self) -> &dyn Any {
        self.inner.as_any()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real time, kept short: the bucket starts full (1 s of burst), so 200 kB at 100 kB/s
    // across two concurrent readers cannot finish before ~1 s.
    #[tokio::test]
    async fn readers_share_the_rate() {
        let t = Arc::new(Throttle::new(100_000));
        let start = std::time::Instant::now();
        let a = {
            let t = t.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    t.take(10_000).await;
                }
            })
        };
        for _ in 0..10 {
            t.take(10_000).await;
        }
        a.await.expect("reader");
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(900), "{took:?}");
        assert!(took <= Duration::from_secs(5), "{took:?}");
    }
}
