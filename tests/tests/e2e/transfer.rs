//! The transfer engine when the source changes while it is being copied.

use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use ferry_engine::backend::local::LocalStore;
use ferry_engine::backend::{
    DeleteFailure, Error, GetOptions, GetResult, Limits, ListEntry, ListOptions, MemoryBudget,
    MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt, PutResult, UploadConfig,
};
use ferry_engine::sync::transfer::{TransferConfig, copy_object};
use ferry_tests::data;
use futures::stream::BoxStream;

const MIB: usize = 1024 * 1024;

/// A real local store whose object is replaced (new inode, new content) just before the
/// second read of it: the situation of a backup rewritten while ferry copies it.
#[derive(Debug)]
struct RewrittenDuringCopy {
    inner: LocalStore,
    gets: AtomicUsize,
    replacement: Vec<u8>,
}

impl std::fmt::Display for RewrittenDuringCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl ObjectStore for RewrittenDuringCopy {
    fn list(
        &self,
        prefix: &str,
        options: ListOptions,
    ) -> BoxStream<'static, Result<ListEntry, Error>> {
        self.inner.list(prefix, options)
    }
    async fn head(&self, key: &str) -> Result<ObjectMeta, Error> {
        self.inner.head(key).await
    }
    async fn get(&self, key: &str, options: GetOptions) -> Result<GetResult, Error> {
        if self.gets.fetch_add(1, Ordering::SeqCst) == 1 {
            self.inner
                .put(key, Bytes::from(self.replacement.clone()))
                .await?;
        }
        self.inner.get(key, options).await
    }
    async fn put(&self, key: &str, payload: Bytes) -> Result<PutResult, Error> {
        self.inner.put(key, payload).await
    }
    async fn put_multipart(&self, key: &str) -> Result<Box<dyn MultipartUpload>, Error> {
        self.inner.put_multipart(key).await
    }
    async fn copy_from(
        &self,
        src: &dyn ObjectStore,
        src_key: &str,
        size: u64,
        dst_key: &str,
    ) -> Result<PutResult, Error> {
        self.inner.copy_from(src, src_key, size, dst_key).await
    }
    async fn delete(&self, keys: &[String]) -> Result<Vec<DeleteFailure>, Error> {
        self.inner.delete(keys).await
    }
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), Error> {
        self.inner.abort_multipart(key, upload_id).await
    }
    async fn list_multipart(&self, key: &str) -> Result<Vec<String>, Error> {
        self.inner.list_multipart(key).await
    }
    fn url(&self) -> String {
        self.inner.url()
    }
    fn limits(&self) -> Limits {
        self.inner.limits()
    }
    fn signs_payloads(&self) -> bool {
        self.inner.signs_payloads()
    }
    fn canonical(&self, key: &str) -> String {
        self.inner.canonical(key)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn config(retries: u32) -> TransferConfig {
    TransferConfig {
        upload: UploadConfig {
            multipart_threshold: (5 * MIB) as u64,
            part_size: (5 * MIB) as u64,
            part_concurrency: 2,
            budget: MemoryBudget::new((32 * MIB) as u64),
        },
        retries,
        backoff: std::time::Duration::from_millis(10),
        ..TransferConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_rewritten_mid_copy_is_never_completed_from_mixed_versions() {
    let tmp = tempfile::tempdir().expect("tmp");
    let original = data(1, 12 * MIB + 3);
    let replacement = data(2, 12 * MIB + 3);
    let src = RewrittenDuringCopy {
        inner: LocalStore::new(tmp.path().join("src")).expect("src"),
        gets: AtomicUsize::new(0),
        replacement: replacement.clone(),
    };
    src.inner
        .put("obj", Bytes::from(original))
        .await
        .expect("seed");
    let dst = LocalStore::new(tmp.path().join("dst")).expect("dst");
    let size = 12 * MIB as u64 + 3;

    let err = copy_object(&src, "obj", size, &dst, "copy", &config(0), None)
        .await
        .expect_err("torn copy accepted");
    assert!(err.is_transient(), "{err:?}");
    assert!(
        dst.head("copy")
            .await
            .expect_err("nothing written")
            .is_not_found()
    );

    // With retries, a later attempt reads one consistent version: the new one.
    src.gets.store(0, Ordering::SeqCst);
    let copied = copy_object(&src, "obj", size, &dst, "copy", &config(2), None)
        .await
        .expect("retried copy");
    assert!(dst.get_bytes("copy").await.expect("read") == replacement);
    // The hash computed in the same pass is the hash of what was written.
    assert_eq!(
        copied.sha256.map(hex::encode),
        Some(ferry_tests::sha256(&replacement))
    );
}
