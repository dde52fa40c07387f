//! The store layer: one small async trait every backend implements, in the shape of
//! Apache Arrow's `object_store`, and an extension trait with the conveniences built on it.
//!
//! This module imports nothing of `sync`, `state` or the CLI: backends know objects, not
//! manifests.
//!
//! # Ordering
//! [`ObjectStore::list`] yields entries in **ascending byte order of their keys** on every
//! backend (S3 guarantees it for general-purpose buckets; the local backend sorts each
//! directory so that a directory `d` sorts as `d/`). With a delimiter, common prefixes are
//! interleaved with objects in that same order. The manifest's merge-walk relies on this.
//!
//! # Keys
//! Keys are UTF-8 strings relative to the store's root (a bucket, or a local folder), with `/`
//! as the separator, exactly as S3 spells them.

pub mod azure;
pub mod error;
pub mod keys;
pub mod local;
pub mod memory;
pub mod s3;
pub mod throttle;
mod upload;

use std::any::Any;
use std::fmt;
use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::BoxStream;

pub use error::{BoxError, Error, Result};
pub use upload::{MemoryBudget, UploadConfig};
pub(crate) use upload::{join_part, read_exact, read_exact_into};

/// What a store knows about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The key, relative to the store's root.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, when the store reports one.
    pub last_modified: Option<DateTime<Utc>>,
    /// The store's entity tag, without quotes. Not a content hash across providers: S3
    /// multipart ETags differ between servers, and the local backend's is a fingerprint of
    /// size, mtime and inode.
    pub e_tag: Option<String>,
    /// Object version, on versioned buckets.
    pub version: Option<String>,
    /// S3 storage class (`STANDARD` when S3 omits it); `None` for local files.
    pub storage_class: Option<String>,
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEntry {
    Object(ObjectMeta),
    /// A common prefix (only with a delimiter); ends with `/`.
    Prefix(String),
}

impl ListEntry {
    /// The entry's key or prefix.
    pub fn key(&self) -> &str {
        match self {
            ListEntry::Object(m) => &m.key,
            ListEntry::Prefix(p) => p,
        }
    }
}

/// How to list.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Group keys at the next `/` after the prefix into [`ListEntry::Prefix`] entries.
    pub delimiter: bool,
    /// Only keys strictly greater than this one (resuming a listing).
    pub start_after: Option<String>,
}

/// How to read.
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    /// Byte range to read (end exclusive); the whole object when `None`.
    pub range: Option<Range<u64>>,
}

/// A streaming body.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// The answer to a read: metadata and a body stream.
pub struct GetResult {
    /// The object's metadata (size is the whole object's).
    pub meta: ObjectMeta,
    /// The byte range the body covers.
    pub range: Range<u64>,
    /// The body, read lazily.
    pub body: ByteStream,
}

impl fmt::Debug for GetResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetResult")
            .field("meta", &self.meta)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// What a write reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutResult {
    /// The new object's ETag, when the store returns one.
    pub e_tag: Option<String>,
    /// The new object's version, on versioned buckets.
    pub version: Option<String>,
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartId {
    /// 1-based part number.
    pub number: u32,
    /// The store's id for the part (the ETag on S3).
    pub content_id: String,
}

/// A part an open multipart upload already holds, as the store lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPart {
    /// 1-based part number.
    pub number: u32,
    /// Its size in bytes.
    pub size: u64,
    /// The store's id for it, as [`MultipartUpload::complete`] wants it (the ETag on S3,
    /// without quotes: the MD5 of its bytes where no server-side encryption changes that).
    pub content_id: String,
}

/// A key that could not be deleted by a batch delete.
#[derive(Debug)]
pub struct DeleteFailure {
    pub key: String,
    /// Why.
    pub error: Error,
}

/// An upload that was started and never completed nor aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The key it was for.
    pub key: String,
    /// What [`ObjectStore::abort_multipart`] takes to remove it.
    pub upload_id: String,
    /// When it was started, where the store says.
    pub initiated: Option<DateTime<Utc>>,
}

/// Limits of a store that writers must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Smallest allowed part, except the last.
    pub min_part_size: u64,
    /// Largest allowed part.
    pub max_part_size: u64,
    /// Most parts in one upload.
    pub max_parts: u32,
}

/// A server's answer to a write signed with a wrong payload SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadCheck {
    /// It refused the body.
    pub refused: bool,
    /// Who answered (its `Server` header, when it sends one).
    pub server: String,
    /// Its answer, in a few words.
    pub detail: String,
}

/// The store trait. Small on purpose: conveniences live in [`ObjectStoreExt`].
#[async_trait]
pub trait ObjectStore: fmt::Debug + fmt::Display + Send + Sync + 'static {
    /// Lists objects whose key starts with `prefix` (a plain string prefix, not a folder), in
    /// ascending byte order. Lazy and paginated: nothing is fetched until polled.
    fn list(&self, prefix: &str, options: ListOptions) -> BoxStream<'static, Result<ListEntry>>;

    /// Metadata of one object.
    async fn head(&self, key: &str) -> Result<ObjectMeta>;

    /// Reads an object (or a range of it) as a stream.
    async fn get(&self, key: &str, options: GetOptions) -> Result<GetResult>;

    /// Writes a whole object in one request. For large objects use [`ObjectStoreExt::put_stream`].
    async fn put(&self, key: &str, payload: Bytes) -> Result<PutResult>;

    /// [`ObjectStore::put`] of a payload whose SHA-256 the caller has already computed. A store
    /// that signs payloads (S3 SigV4) sends this hash instead of hashing the body again, and
    /// the server, which checks the body against it, then proves it received exactly these
    /// bytes. Others ignore it.
    async fn put_hashed(&self, key: &str, payload: Bytes, sha256: [u8; 32]) -> Result<PutResult> {
        let _ = sha256;
        self.put(key, payload).await
    }

    /// Starts a multipart upload. Parts may be uploaded concurrently; nothing is visible until
    /// [`MultipartUpload::complete`].
    async fn put_multipart(&self, key: &str) -> Result<Box<dyn MultipartUpload>>;

    /// Copies `src_key` of `src` (`size` bytes, as listed: it picks single or multipart copy
    /// without another request) to `dst_key` of this store **without moving the bytes through
    /// this process** when the store can (same S3 endpoint and credentials: CopyObject, or
    /// UploadPartCopy above 5 GiB; local to local: a file copy). Returns
    /// [`Error::NotSupported`] when it cannot: the caller then streams.
    async fn copy_from(
        &self,
        src: &dyn ObjectStore,
        src_key: &str,
        size: u64,
        dst_key: &str,
    ) -> Result<PutResult>;

    /// Aborts a multipart upload started earlier (possibly by a process that died), by the id
    /// [`MultipartUpload::id`] reported. An upload that no longer exists counts as aborted.
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()>;

    /// Reopens a multipart upload an earlier process started (one that died: ferry's journal
    /// has its id) to go on with it: the upload, and the parts it holds already.
    /// [`Error::NotFound`] when the store no longer knows the upload (aborted, expired or
    /// completed since); [`Error::NotSupported`] where an upload cannot be reopened.
    async fn resume_multipart(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<(Box<dyn MultipartUpload>, Vec<StoredPart>)> {
        let _ = upload_id;
        Err(Error::NotSupported {
            path: format!("{self}/{key}"),
            operation: "resuming a multipart upload",
        })
    }

    /// Ids of the multipart uploads open for exactly `key` (to clean up after a crash that
    /// happened before ferry learnt an upload's id). [`Error::NotSupported`] where the store
    /// cannot list uploads.
    async fn list_multipart(&self, key: &str) -> Result<Vec<String>>;

    /// Every unfinished upload under `prefix` (`ferry ls --incomplete`): S3's open multipart
    /// uploads, the local backend's temporary files of writes that never finished.
    /// [`Error::NotSupported`] where the store cannot list them.
    async fn list_uploads(&self, prefix: &str) -> Result<Vec<Upload>> {
        Err(Error::NotSupported {
            path: prefix.to_owned(),
            operation: "listing unfinished uploads",
        })
    }

    /// Removes what an interrupted write of `key` (a process killed mid-write) may have left
    /// beside it that [`ObjectStore::abort_multipart`] does not: the local backend's
    /// temporary files. Stores whose writes leave nothing visible do nothing.
    async fn clean_interrupted(&self, key: &str) -> Result<()> {
        let _ = key;
        Ok(())
    }

    /// Deletes many keys. Missing keys count as deleted (S3 semantics). The outer error is a
    /// failure of the whole request; the list holds per-key failures.
    async fn delete(&self, keys: &[String]) -> Result<Vec<DeleteFailure>>;

    /// The store's part-size limits.
    fn limits(&self) -> Limits;

    /// Whether every write it sends (a PUT, each part) carries its body's SHA-256, signed,
    /// for the server to check: S3 with SigV4 payload signing. Whether the server checks it
    /// is what [`ObjectStore::probe_payload_check`] finds out.
    fn signs_payloads(&self) -> bool;

    /// Writes a small object at `key` signed with a deliberately wrong SHA-256 and reports
    /// whether the server refused it (it checks what it stores) or took it (deleted again).
    /// `Ok(None)`: not a question for this store (it signs no payloads).
    async fn probe_payload_check(&self, key: &str) -> Result<Option<PayloadCheck>> {
        let _ = key;
        Ok(None)
    }

    /// Where this store is, without credentials: `file:///abs/root` or
    /// `s3+https://host:port/bucket`. Stable across runs (the manifest keys pairs by it).
    fn url(&self) -> String;

    /// A name for `key` that is equal for two stores exactly when they address the same
    /// object (used to refuse copying a tree into itself). May embed a credential
    /// fingerprint: compare it, never print it.
    fn canonical(&self, key: &str) -> String;

    /// For server-side copy between two stores of the same kind.
    fn as_any(&self) -> &dyn Any;
}

/// An upload in progress.
#[async_trait]
pub trait MultipartUpload: fmt::Debug + Send + Sync {
    /// The store's id for this upload, for [`ObjectStore::abort_multipart`] after a crash.
    fn id(&self) -> &str;

    /// Uploads part `number` (1-based), which starts at byte `offset` of the object. The
    /// returned future owns what it needs, so several may run at once.
    fn put_part(&self, number: u32, offset: u64, data: Bytes)
    -> BoxFuture<'static, Result<PartId>>;

    /// The whole object's MD5, for a store that keeps it with the object (Azure sets it as the
    /// blob's Content-MD5 at commit); others ignore it. Called before [`Self::complete`].
    fn set_content_md5(&mut self, _md5: [u8; 16]) {}

    /// Makes the object visible from these parts (in part-number order).
    async fn complete(self: Box<Self>, parts: Vec<PartId>) -> Result<PutResult>;

    /// Drops the upload and whatever parts it stored.
    async fn abort(self: Box<Self>) -> Result<()>;
}

/// Conveniences over any [`ObjectStore`].
/// `src` as a store of type `T` (the one copying): server-side copies stay within one kind of
/// store. Anything else is `NotSupported` at `dst_path`, and the caller streams instead.
pub(crate) fn same_kind<T: 'static>(src: &dyn ObjectStore, dst_path: String) -> Result<&T> {
    src.as_any().downcast_ref::<T>().ok_or(Error::NotSupported {
        path: dst_path,
        operation: "server-side copy from another kind of store",
    })
}

#[async_trait]
pub trait ObjectStoreExt: ObjectStore {
    /// Streams `body` (exactly `size` bytes) into `key`: one request up to the configured
    /// threshold, else a multipart upload with parts uploaded in parallel and aborted on any
    /// failure. Memory stays within the budget; a body that ends early or runs long is refused
    /// and nothing is written.
    async fn put_stream(
        &self,
        key: &str,
        size: u64,
        body: ByteStream,
        config: &UploadConfig,
    ) -> Result<PutResult> {
        upload::put_stream(self, key, size, body, config).await
    }

    /// Reads a whole object into memory. For small objects and tests only.
    async fn get_bytes(&self, key: &str) -> Result<Bytes> {
        use futures::TryStreamExt;
        let got = self.get(key, GetOptions::default()).await?;
        let capacity = usize::try_from(got.range.end - got.range.start).unwrap_or(0);
        let mut buf = Vec::with_capacity(capacity);
        let mut body = got.body;
        while let Some(chunk) = body.try_next().await? {
            buf.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(buf))
    }
}

impl<T: ObjectStore + ?Sized> ObjectStoreExt for T {}
