//! Streaming uploads: one PUT for small objects, parallel multipart for large ones, all within
//! a shared memory budget.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::TryStreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::error::{display_chain, msg};
use super::{ByteStream, Error, Limits, ObjectStore, PartId, PutResult, Result};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// A cap on the bytes buffered by all uploads that share it (in whole KiB).
///
/// Every single-request body and every multipart part reserves its size before it is read
/// into memory and releases it once the store has acknowledged it. Shared by all workers of
/// a copy, so `--max-workers 64` cannot turn into 64 × part-size of RAM.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    sem: Arc<Semaphore>,
    total_kib: u32,
    pool: Arc<BufferPool>,
}

/// Large buffers (parts) kept for reuse, at most the budget's size in all. Without it every
/// freed part would go back to the allocator, whose per-thread arenas keep it: a 2 GiB copy
/// in 16 MiB parts grew to ~250 MiB of RSS with 64 MiB of parts in flight.
#[derive(Debug, Default)]
struct BufferPool {
    free: std::sync::Mutex<Vec<BytesMut>>,
}

/// Buffers below this are left to the allocator.
const POOLED: usize = MIB as usize;

impl MemoryBudget {
    /// A budget of `bytes` (at least 1 MiB).
    pub fn new(bytes: u64) -> Self {
        let kib = (bytes / KIB).clamp(1024, u64::from(u32::MAX >> 3));
        let total_kib = u32::try_from(kib).unwrap_or(u32::MAX >> 3);
        MemoryBudget {
            sem: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
            pool: Arc::new(BufferPool::default()),
        }
    }

    /// An empty buffer for `len` bytes: a kept one when one is large enough (the smallest
    /// such), else a new one.
    pub fn buffer(&self, len: usize) -> BytesMut {
        if len >= POOLED {
            let mut free = crate::lock::lock(&self.pool.free);
            let best = free
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= len)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            if let Some(i) = best {
                let mut b = free.swap_remove(i);
                b.clear();
                return b;
            }
        }
        BytesMut::with_capacity(len)
    }

    /// Takes back a buffer from [`MemoryBudget::buffer`] once nothing else holds it (a
    /// buffer still shared, or beyond the budget's size, goes to the allocator).
    pub fn recycle(&self, data: Bytes) {
        let Ok(mut b) = data.try_into_mut() else {
            return;
        };
        if b.capacity() < POOLED {
            return;
        }
        b.clear();
        let mut free = crate::lock::lock(&self.pool.free);
        let kept: usize = free.iter().map(BytesMut::capacity).sum();
        if (kept + b.capacity()) as u64 <= self.total() {
            free.push(b);
        }
    }

    /// Total size of the budget in bytes.
    pub fn total(&self) -> u64 {
        u64::from(self.total_kib) * KIB
    }

    /// Waits until `bytes` fit in the budget. A request larger than the whole budget waits for
    /// the whole budget (it then runs alone).
    pub async fn reserve(&self, bytes: u64) -> OwnedSemaphorePermit {
        let kib = bytes.div_ceil(KIB).clamp(1, u64::from(self.total_kib));
        let kib = u32::try_from(kib).unwrap_or(self.total_kib);
        // The semaphore is never closed, so acquiring cannot fail.
        match self.sem.clone().acquire_many_owned(kib).await {
            Ok(permit) => permit,
            Err(_) => unreachable_closed(),
        }
    }
}

#[cold]
fn unreachable_closed() -> ! {
    // The semaphore lives as long as any clone of the budget and is never closed.
    panic!("memory budget semaphore closed")
}

/// How uploads are cut.
#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// Objects larger than this use a multipart upload.
    pub multipart_threshold: u64,
    /// Preferred part size (raised when an object would need more parts than allowed).
    pub part_size: u64,
    /// Parts of one object in memory at once (being read or being uploaded).
    pub part_concurrency: usize,
    /// The shared memory cap.
    pub budget: MemoryBudget,
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig {
            // 5 parts of 6 MiB in memory per large copy: a 2 GiB copy S3 -> S3 peaks near
            // 60 MiB of RSS (docs/benchmarks.md) and is faster than 4 x 16 MiB was. Objects
            // up to 16 MiB still go in one request.
            multipart_threshold: 16 * MIB,
            part_size: 6 * MIB,
            part_concurrency: 5,
            budget: MemoryBudget::new(256 * MIB),
        }
    }
}

impl UploadConfig {
    /// The part size used for an object of `size` bytes on a store with `limits`: the
    /// preferred size, raised to fit within the part-count limit, rounded up to a MiB.
    pub fn part_size_for(&self, size: u64, limits: &Limits) -> Option<u64> {
        let needed = size.div_ceil(u64::from(limits.max_parts.max(1)));
        let part = self
            .part_size
            .max(needed)
            .max(limits.min_part_size)
            .div_ceil(MIB)
            .saturating_mul(MIB);
        (part <= limits.max_part_size).then_some(part)
    }
}

pub(super) async fn put_stream<S: ObjectStore + ?Sized>(
    store: &S,
    key: &str,
    size: u64,
    body: ByteStream,
    config: &UploadConfig,
) -> Result<PutResult> {
    let path = format!("{store}/{key}");
    if size <= config.multipart_threshold {
        let _permit = config.budget.reserve(size).await;
        let buf = config
            .budget
            .buffer(usize::try_from(size).unwrap_or(usize::MAX));
        let data = read_exact_into(body, buf, size, &path).await?;
        let put = store.put(key, data.clone()).await;
        config.budget.recycle(data);
        return put;
    }
    let limits = store.limits();
    let Some(part_size) = config.part_size_for(size, &limits) else {
        return Err(Error::Generic {
            path,
            source: msg(format!(
                "object of {size} bytes needs parts larger than this store allows ({} bytes)",
                limits.max_part_size
            )),
        });
    };
    let upload = store.put_multipart(key).await?;
    let outcome = upload_parts(&*upload, body, size, part_size, config, &path).await;
    match outcome {
        Ok(parts) => upload.complete(parts).await,
        Err(e) => {
            if let Err(abort_err) = upload.abort().await {
                tracing::warn!(key, error = %display_chain(&abort_err), "aborting multipart upload failed");
            }
            Err(e)
        }
    }
}

/// Reads exactly `size` bytes of `body` into one buffer; a body that ends early or runs long
/// is a transient error about `path`.
pub(crate) async fn read_exact(body: ByteStream, size: u64, path: &str) -> Result<Bytes> {
    let cap = usize::try_from(size).map_err(|_| too_long(path, size))?;
    read_exact_into(body, BytesMut::with_capacity(cap), size, path).await
}

/// [`read_exact`] into `buf` (empty; a pooled buffer of the budget).
pub(crate) async fn read_exact_into(
    mut body: ByteStream,
    mut buf: BytesMut,
    size: u64,
    path: &str,
) -> Result<Bytes> {
    while let Some(chunk) = body.try_next().await? {
        if (buf.len() + chunk.len()) as u64 > size {
            return Err(too_long(path, size));
        }
        buf.extend_from_slice(&chunk);
    }
    if buf.len() as u64 != size {
        return Err(too_short(path, buf.len() as u64, size));
    }
    Ok(buf.freeze())
}

async fn upload_parts(
    upload: &dyn super::MultipartUpload,
    mut body: ByteStream,
    size: u64,
    part_size: u64,
    config: &UploadConfig,
    path: &str,
) -> Result<Vec<PartId>> {
    // Parts uploading at once, so that with the one being filled `part_concurrency` are in
    // memory (two at least: one uploads while the next fills).
    let uploading = config.part_concurrency.saturating_sub(1).max(1);
    let mut tasks: JoinSet<Result<PartId>> = JoinSet::new();
    let mut parts = Vec::with_capacity(usize::try_from(size.div_ceil(part_size)).unwrap_or(0));
    let mut offset = 0u64; // start of the part being filled
    let mut number = 1u32;
    let mut pending: Option<Bytes> = None; // bytes read but not yet placed in a part

    while offset < size {
        let this_len = part_size.min(size - offset);
        // At most `concurrency` parts in memory: the one being filled and those uploading.
        while tasks.len() >= uploading {
            parts.push(join_part(tasks.join_next().await, path)?);
        }
        let permit = config.budget.reserve(this_len).await;
        let mut buf = config.budget.buffer(this_len as usize);
        while (buf.len() as u64) < this_len {
            let mut chunk = match pending.take() {
                Some(c) => c,
                None => match body.try_next().await? {
                    Some(c) => c,
                    None => return Err(too_short(path, offset + buf.len() as u64, size)),
                },
            };
            let room = (this_len - buf.len() as u64) as usize;
            if chunk.len() > room {
                pending = Some(chunk.split_off(room));
            }
            buf.extend_from_slice(&chunk);
        }
        let data = buf.freeze();
        let fut = upload.put_part(number, offset, data.clone());
        let budget = config.budget.clone();
        tasks.spawn(async move {
            let r = fut.await;
            budget.recycle(data);
            drop(permit);
            r
        });
        offset += this_len;
        number += 1;
    }
    if pending.is_some_and(|p| !p.is_empty())
        || body.try_next().await?.is_some_and(|c| !c.is_empty())
    {
        return Err(too_long(path, size));
    }
    while let Some(joined) = tasks.join_next().await {
        parts.push(join_part(Some(joined), path)?);
    }
    parts.sort_by_key(|p| p.number);
    Ok(parts)
}

/// The result of a spawned part upload (`None`: the set was empty).
pub(crate) fn join_part(
    joined: Option<std::result::Result<Result<PartId>, tokio::task::JoinError>>,
    path: &str,
) -> Result<PartId> {
    match joined {
        Some(Ok(r)) => r,
        Some(Err(e)) => Err(Error::Generic {
            path: path.to_owned(),
            source: Box::new(e),
        }),
        None => Err(Error::Generic {
            path: path.to_owned(),
            source: msg("part upload vanished"),
        }),
    }
}

fn too_short(path: &str, got: u64, want: u64) -> Error {
    Error::Transient {
        path: path.to_owned(),
        source: msg(format!("source body ended after {got} of {want} bytes")),
    }
}

fn too_long(path: &str, want: u64) -> Error {
    Error::Transient {
        path: path.to_owned(),
        source: msg(format!(
            "source body is longer than the expected {want} bytes"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_grows_to_fit_part_limit() {
        let cfg = UploadConfig::default();
        let limits = Limits {
            min_part_size: 5 * MIB,
            max_part_size: 5 * 1024 * MIB,
            max_parts: 10_000,
        };
        assert_eq!(cfg.part_size_for(2 * 1024 * MIB, &limits), Some(6 * MIB));
        // 1 TiB / 10_000 parts = 104.9 MiB, rounded up to 105 MiB.
        assert_eq!(
            cfg.part_size_for(1024 * 1024 * MIB, &limits),
            Some(105 * MIB)
        );
        // 5 TiB fits (525 MiB parts); 60 TiB would need parts over 5 GiB.
        assert!(cfg.part_size_for(5 * 1024 * 1024 * MIB, &limits).is_some());
        assert_eq!(cfg.part_size_for(60 * 1024 * 1024 * MIB, &limits), None);
    }

    #[test]
    fn part_buffers_are_reused_within_the_budget() {
        let budget = MemoryBudget::new(20 * MIB);
        let mut a = budget.buffer(8 * MIB as usize);
        a.extend_from_slice(&[7u8; 1000]);
        let a = a.freeze();
        let ptr = a.as_ptr();
        let shared = a.clone();
        budget.recycle(a);
        assert!(
            crate::lock::lock(&budget.pool.free).is_empty(),
            "a buffer still shared is not taken back"
        );
        budget.recycle(shared);
        let b = budget.buffer(5 * MIB as usize);
        assert_eq!(b.as_ptr(), ptr, "the kept buffer is handed out again");
        assert!(b.is_empty() && b.capacity() >= 8 * MIB as usize);
        // Never more kept than the budget: a third 8 MiB buffer goes to the allocator.
        let (x, y, z) = (
            budget.buffer(8 * MIB as usize),
            budget.buffer(8 * MIB as usize),
            budget.buffer(8 * MIB as usize),
        );
        for buf in [x, y, z] {
            budget.recycle(buf.freeze());
        }
        assert_eq!(crate::lock::lock(&budget.pool.free).len(), 2);
        // Small buffers are left to the allocator.
        budget.recycle(budget.buffer(1000).freeze());
        assert_eq!(crate::lock::lock(&budget.pool.free).len(), 2);
    }

    #[tokio::test]
    async fn budget_blocks_until_released() {
        let budget = MemoryBudget::new(2 * MIB);
        let a = budget.reserve(MIB + 1).await;
        // 2 MiB total, 1 MiB + 1 KiB held: another MiB must wait.
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), budget.reserve(MIB)).await;
        assert!(waiting.is_err());
        drop(a);
        let _b = tokio::time::timeout(std::time::Duration::from_secs(1), budget.reserve(MIB))
            .await
            .expect("released budget is reusable");
        // Larger than the whole budget: waits for all of it, does not deadlock.
        drop(_b);
        let _c = budget.reserve(10 * MIB).await;
    }
}
