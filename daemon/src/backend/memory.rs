//! An in-memory store: the [`ObjectStore`] contract with no I/O (object_store's `InMemory`
//! is the model). It runs the conformance suite like every backend, and lets the layers above
//! (transfer, cp, mirror, backup settling, ferryd's jobs) be unit-tested in milliseconds.
//!
//! It behaves as S3 does where the contract leaves room: plain MD5 ETags for single PUTs,
//! `md5(part md5s)-N` for multipart objects, parts of at least 5 MiB except the last,
//! uploads invisible until completed and listed by key until completed or aborted,
//! server-side copies between memory stores only. Clones share their objects.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use md5::{Digest, Md5};

use super::error::msg;
use super::{
    DeleteFailure, Error, GetOptions, GetResult, Limits, ListEntry, ListOptions, MultipartUpload,
    ObjectMeta, ObjectStore, PartId, PutResult, Result, StoredPart,
};

const MIB: u64 = 1024 * 1024;

/// A store in memory; clones share the same objects.
#[derive(Clone)]
pub struct MemoryStore {
    name: String,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Stored>,
    uploads: HashMap<String, Upload>,
    next_id: u64,
}

struct Stored {
    data: Bytes,
    e_tag: String,
    last_modified: chrono::DateTime<Utc>,
}

struct Upload {
    key: String,
    /// Part number → (bytes, ETag).
    parts: BTreeMap<u32, (Bytes, String)>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "memory://{}", self.name)
    }
}

fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

impl MemoryStore {
    /// An empty store named `name` (its URL is `memory://name`).
    pub fn new(name: &str) -> Self {
        MemoryStore {
            name: name.to_owned(),
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    fn path(&self, key: &str) -> String {
        format!("memory://{}/{key}", self.name)
    }

    /// The state; a panic elsewhere while it was held leaves it consistent (every change is
    /// one map operation), so a poisoned lock is taken over, not skipped.
    fn state(&self) -> MutexGuard<'_, State> {
        crate::lock::lock(&self.state)
    }

    /// The keys stored, in order (for tests).
    pub fn keys(&self) -> Vec<String> {
        self.state().objects.keys().cloned().collect()
    }

    /// Open multipart uploads (for tests).
    pub fn open_uploads(&self) -> usize {
        self.state().uploads.len()
    }

    fn not_found(&self, key: &str) -> Error {
        Error::NotFound {
            path: self.path(key),
            source: msg("no such object"),
        }
    }

    fn store(&self, key: &str, data: Bytes, e_tag: String) -> PutResult {
        let e_tag_out = e_tag.clone();
        self.state().objects.insert(
            key.to_owned(),
            Stored {
                data,
                e_tag,
                last_modified: Utc::now(),
            },
        );
        PutResult {
            e_tag: Some(e_tag_out),
            version: None,
        }
    }

    fn meta_of(key: &str, s: &Stored) -> ObjectMeta {
        ObjectMeta {
            key: key.to_owned(),
            size: s.data.len() as u64,
            last_modified: Some(s.last_modified),
            e_tag: Some(s.e_tag.clone()),
            version: None,
            storage_class: None,
        }
    }

    fn check_key(&self, key: &str) -> Result<()> {
        if key.is_empty() || key.len() > 1024 {
            return Err(Error::InvalidKey {
                path: self.path(key),
                key: key.to_owned(),
                reason: "a key is 1 to 1024 bytes long",
            });
        }
        Ok(())
    }

    fn upload(&self, key: &str, id: String) -> MemoryUpload {
        MemoryUpload {
            store: self.clone(),
            key: key.to_owned(),
            id,
        }
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    fn list(&self, prefix: &str, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        let state = self.state();
        let mut out: Vec<Result<ListEntry>> = Vec::new();
        let start = options.start_after.clone().unwrap_or_default();
        let mut last_prefix: Option<String> = None;
        for (key, stored) in state.objects.range(prefix.to_owned()..) {
            if !key.starts_with(prefix) {
                break;
            }
            if options.start_after.is_some() && key.as_str() <= start.as_str() {
                continue;
            }
            if options.delimiter
                && let Some(i) = key[prefix.len()..].find('/')
            {
                let common = &key[..prefix.len() + i + 1];
                if last_prefix.as_deref() != Some(common) {
                    last_prefix = Some(common.to_owned());
                    out.push(Ok(ListEntry::Prefix(common.to_owned())));
                }
                continue;
            }
            out.push(Ok(ListEntry::Object(MemoryStore::meta_of(key, stored))));
        }
        futures::stream::iter(out).boxed()
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        let state = self.state();
        let stored = state.objects.get(key).ok_or_else(|| self.not_found(key))?;
        Ok(MemoryStore::meta_of(key, stored))
    }

    async fn get(&self, key: &str, options: GetOptions) -> Result<GetResult> {
        let state = self.state();
        let stored = state.objects.get(key).ok_or_else(|| self.not_found(key))?;
        let size = stored.data.len() as u64;
        let range = options.range.unwrap_or(0..size);
        if range.start > range.end || range.end > size {
            return Err(Error::Generic {
                path: self.path(key),
                source: msg(format!("range {range:?} outside an object of {size} bytes")),
            });
        }
        let body = stored.data.slice(range.start as usize..range.end as usize);
        Ok(GetResult {
            meta: MemoryStore::meta_of(key, stored),
            range,
            body: futures::stream::once(async move { Ok(body) }).boxed(),
        })
    }

    async fn put(&self, key: &str, payload: Bytes) -> Result<PutResult> {
        self.check_key(key)?;
        let e_tag = md5_hex(&payload);
        Ok(self.store(key, payload, e_tag))
    }

    async fn put_multipart(&self, key: &str) -> Result<Box<dyn MultipartUpload>> {
        self.check_key(key)?;
        let id = {
            let mut state = self.state();
            state.next_id += 1;
            let id = format!("mem-upload-{}", state.next_id);
            state.uploads.insert(
                id.clone(),
                Upload {
                    key: key.to_owned(),
                    parts: BTreeMap::new(),
                },
            );
            id
        };
        Ok(Box::new(self.upload(key, id)))
    }

    async fn copy_from(
        &self,
        src: &dyn ObjectStore,
        src_key: &str,
        _size: u64,
        dst_key: &str,
    ) -> Result<PutResult> {
        let src = super::same_kind::<MemoryStore>(src, self.path(dst_key))?;
        self.check_key(dst_key)?;
        let (data, e_tag) = {
            let state = src.state();
            let stored = state
                .objects
                .get(src_key)
                .ok_or_else(|| src.not_found(src_key))?;
            (stored.data.clone(), stored.e_tag.clone())
        };
        Ok(self.store(dst_key, data, e_tag))
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        let mut state = self.state();
        match state.uploads.get(upload_id) {
            Some(u) if u.key == key => {
                state.uploads.remove(upload_id);
                Ok(())
            }
            _ => Err(Error::NotFound {
                path: self.path(key),
                source: msg(format!("no upload {upload_id}")),
            }),
        }
    }

    async fn resume_multipart(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<(Box<dyn MultipartUpload>, Vec<StoredPart>)> {
        let parts = {
            let state = self.state();
            let upload = state
                .uploads
                .get(upload_id)
                .filter(|u| u.key == key)
                .ok_or_else(|| Error::NotFound {
                    path: self.path(key),
                    source: msg(format!("no upload {upload_id}")),
                })?;
            upload
                .parts
                .iter()
                .map(|(n, (data, e_tag))| StoredPart {
                    number: *n,
                    size: data.len() as u64,
                    content_id: e_tag.clone(),
                })
                .collect()
        };
        Ok((Box::new(self.upload(key, upload_id.to_owned())), parts))
    }

    async fn list_multipart(&self, key: &str) -> Result<Vec<String>> {
        let state = self.state();
        let mut ids: Vec<String> = state
            .uploads
            .iter()
            .filter(|(_, u)| u.key == key)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        Ok(ids)
    }

    async fn delete(&self, keys: &[String]) -> Result<Vec<DeleteFailure>> {
        let mut state = self.state();
        for k in keys {
            state.objects.remove(k);
        }
        Ok(Vec::new())
    }

    fn signs_payloads(&self) -> bool {
        // In memory: nothing on the way to check.
        false
    }

    fn limits(&self) -> Limits {
        Limits {
            min_part_size: 5 * MIB,
            max_part_size: 5 * 1024 * MIB,
            max_parts: 10_000,
        }
    }

    fn url(&self) -> String {
        format!("memory://{}", self.name)
    }

    fn canonical(&self, key: &str) -> String {
        self.path(key)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An open upload of a [`MemoryStore`].
struct MemoryUpload {
    store: MemoryStore,
    key: String,
    id: String,
}

impl fmt::Debug for MemoryUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryUpload")
            .field("key", &self.key)
            .field("id", &self.id)
            .finish()
    }
}

impl MemoryUpload {
    fn gone(&self) -> Error {
        Error::NotFound {
            path: self.store.path(&self.key),
            source: msg(format!("upload {} was completed or aborted", self.id)),
        }
    }
}

#[async_trait]
impl MultipartUpload for MemoryUpload {
    fn id(&self) -> &str {
        &self.id
    }

    fn put_part(
        &self,
        number: u32,
        _offset: u64,
        data: Bytes,
    ) -> BoxFuture<'static, Result<PartId>> {
        let e_tag = md5_hex(&data);
        let result = {
            let mut state = self.store.state();
            match state.uploads.get_mut(&self.id) {
                Some(u) if (1..=10_000).contains(&number) => {
                    u.parts.insert(number, (data, e_tag.clone()));
                    Ok(PartId {
                        number,
                        content_id: e_tag,
                    })
                }
                Some(_) => Err(Error::Generic {
                    path: self.store.path(&self.key),
                    source: msg(format!("part number {number} outside 1..=10000")),
                }),
                None => Err(self.gone()),
            }
        };
        async move { result }.boxed()
    }

    async fn complete(self: Box<Self>, parts: Vec<PartId>) -> Result<PutResult> {
        let path = self.store.path(&self.key);
        let invalid = |why: String| Error::Generic {
            path: path.clone(),
            source: msg(why),
        };
        let (data, e_tag) = {
            let mut state = self.store.state();
            let upload = state.uploads.get(&self.id).ok_or_else(|| self.gone())?;
            if parts.is_empty() {
                return Err(invalid("a multipart upload needs at least one part".into()));
            }
            let mut body = Vec::new();
            let mut md5s = Vec::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 && parts[i - 1].number >= p.number {
                    return Err(invalid("parts must be in ascending order".into()));
                }
                let (data, e_tag) = upload
                    .parts
                    .get(&p.number)
                    .ok_or_else(|| invalid(format!("part {} was not uploaded", p.number)))?;
                if p.content_id.trim_matches('"') != e_tag {
                    return Err(invalid(format!("part {} has another ETag", p.number)));
                }
                if i + 1 < parts.len() && (data.len() as u64) < 5 * MIB {
                    return Err(invalid(format!(
                        "part {} is smaller than 5 MiB and not the last",
                        p.number
                    )));
                }
                body.extend_from_slice(data);
                md5s.extend_from_slice(&Md5::digest(data));
            }
            state.uploads.remove(&self.id);
            (
                Bytes::from(body),
                format!("{}-{}", md5_hex(&md5s), parts.len()),
            )
        };
        Ok(self.store.store(&self.key, data, e_tag))
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        self.store.state().uploads.remove(&self.id);
        Ok(())
    }
}
