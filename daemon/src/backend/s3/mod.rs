//! The S3 backend, on aws-sdk-s3.
//!
//! An [`S3Endpoint`] is one server with one set of credentials (an alias); an [`S3Store`] is
//! one bucket on it and implements [`ObjectStore`]. Works with AWS S3, MinIO, Ceph RGW, GCS
//! (S3 interop), Alibaba OSS, Tencent COS, moto, rclone serve s3 and s3s; the settings each
//! needs are in `docs/providers.md`.
//!
//! Provider quirks absorbed here:
//! - SDK request/response checksums default to "when required" for non-AWS endpoints (many
//!   S3-compatible servers reject the SDK's default CRC trailers).
//! - ETags are stored without quotes and are never treated as content hashes.
//! - Listing with v2 by default, v1 (`marker`) when asked.
//! - Batch delete falls back to single deletes where DeleteObjects is not implemented (GCS).
//! - Server-side copy above 5 GiB uses UploadPartCopy; where that is not implemented
//!   (rclone serve s3, GCS) the copy reports NotSupported and the caller streams.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use super::error::{display_chain, msg};
use super::{
    DeleteFailure, Error, GetOptions, GetResult, Limits, ListEntry, ListOptions, MultipartUpload,
    ObjectMeta, ObjectStore, PayloadCheck, PutResult, Result,
};

mod config;
mod endpoint;
mod errors;
mod interceptors;
mod listing;
mod multipart;
mod quirks;
mod store;

pub use config::{
    ChecksumMode, S3Config, S3Credentials, region_from_host, virtual_host_by_default,
};
pub use endpoint::{BucketInfo, S3Endpoint};
pub(crate) use errors::map_sdk;
use errors::*;
use interceptors::*;
use listing::*;
use multipart::*;
pub use store::S3Store;
use store::*;

impl S3Store {
    async fn delete_one_by_one(&self, keys: &[String]) -> Vec<DeleteFailure> {
        let results: Vec<Option<DeleteFailure>> = futures::stream::iter(keys.iter().cloned())
            .map(|key| async move {
                let r = self
                    .client()
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(&key)
                    .send()
                    .await;
                match r {
                    Ok(_) => None,
                    Err(e) => {
                        let error = map_sdk(self.path(&key), e);
                        (!error.is_not_found()).then_some(DeleteFailure { key, error })
                    }
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        results.into_iter().flatten().collect()
    }
}

impl S3Store {
    /// [`ObjectStore::probe_payload_check`]: stores a control body under `key` (signed with
    /// its own SHA-256), then sends another body signed with the control's SHA-256, then reads
    /// `key` back. Still the control: the wrong body was refused (whatever the server said:
    /// s3s answers 500, AWS `XAmzContentSHA256Mismatch`, MinIO and Ceph `BadDigest`). The
    /// other body: the server stores what it was not promised. The key is deleted after.
    async fn probe(&self, key: &str) -> Result<Option<PayloadCheck>> {
        if !self.inner.signs_payloads {
            return Ok(None);
        }
        let control = Bytes::from_static(b"ferry's payload check: the control body\n");
        let other = Bytes::from_static(
            b"ferry's payload check: a body signed with another body's SHA-256\n",
        );
        let control_sha: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&control).into();
        self.put_object(key, control.clone(), Some(control_sha))
            .await?;
        let server = Arc::new(std::sync::Mutex::new(String::new()));
        let sent = self
            .client()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(other.len() as i64)
            .body(SdkByteStream::from(other.clone()))
            .customize()
            // A refusal is the expected answer: not retried (some servers refuse with a 500,
            // which the SDK would retry with backoff for seconds).
            .config_override(
                aws_sdk_s3::Config::builder()
                    .retry_config(aws_smithy_types::retry::RetryConfig::disabled()),
            )
            .interceptor(PrecomputedPayloadHash(hex::encode(control_sha)))
            .interceptor(ServerHeader(server.clone()))
            .send()
            .await;
        let answer = match &sent {
            Ok(_) => "stored it".to_owned(),
            Err(e) => match (e.code(), e.raw_response().map(|r| r.status().as_u16())) {
                (Some(code), _) => format!("refused it ({code})"),
                (None, Some(status)) => format!("refused it (HTTP {status})"),
                (None, None) => format!("did not answer ({})", connection_message(e)),
            },
        };
        let got = self.get(key, GetOptions::default()).await;
        let held = match got {
            Ok(g) => {
                let size = g.meta.size;
                Some(super::read_exact(g.body, size, &self.path(key)).await?)
            }
            Err(e) => {
                let _ = self.delete(&[key.to_owned()]).await;
                return Err(e);
            }
        };
        let failures = self.delete(&[key.to_owned()]).await?;
        if let Some(f) = failures.into_iter().next() {
            tracing::warn!(key, error = %display_chain(&f.error), "the payload-check probe object could not be removed");
        }
        let server = std::mem::take(&mut *crate::lock::lock(&server));
        let refused = match held {
            Some(b) if b == control && sent.is_err() => true,
            Some(b) if b == other => false,
            _ => {
                return Err(Error::Generic {
                    path: self.path(key),
                    source: msg(format!(
                        "payload check inconclusive: the server {answer}, and then held neither body"
                    )),
                });
            }
        };
        Ok(Some(PayloadCheck {
            refused,
            server,
            detail: format!("{answer}: a body that did not match its signed SHA-256"),
        }))
    }

    async fn put_object(
        &self,
        key: &str,
        payload: Bytes,
        sha256: Option<[u8; 32]>,
    ) -> Result<PutResult> {
        let len = payload.len() as i64;
        let req = self
            .client()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(len)
            .body(SdkByteStream::from(payload));
        let out = match sha256 {
            Some(h) => {
                req.customize()
                    .interceptor(PrecomputedPayloadHash(hex::encode(h)))
                    .send()
                    .await
            }
            None => req.send().await,
        }
        .map_err(|e| map_sdk(self.path(key), e))?;
        Ok(PutResult {
            e_tag: unquote(out.e_tag()),
            version: out.version_id().map(str::to_owned),
        })
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    fn list(&self, prefix: &str, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        let store = self.clone();
        let prefix = prefix.to_owned();
        let delimiter = options.delimiter;
        futures::stream::try_unfold(Cursor::Start(options.start_after), move |cursor| {
            let store = store.clone();
            let prefix = prefix.clone();
            async move {
                if matches!(cursor, Cursor::Done) {
                    return Ok(None);
                }
                let (entries, next) = store.list_page(&prefix, delimiter, cursor).await?;
                Ok(Some((
                    futures::stream::iter(entries.into_iter().map(Ok)),
                    next,
                )))
            }
        })
        .try_flatten()
        .boxed()
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        let sent = self
            .client()
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e) if codeless(&e) => {
                return Err(explain(self.client(), &self.bucket, key, self.path(key), e).await);
            }
            Err(e) => return Err(map_sdk(self.path(key), e)),
        };
        Ok(ObjectMeta {
            key: key.to_owned(),
            size: out.content_length().unwrap_or(0).max(0) as u64,
            last_modified: out.last_modified().and_then(to_chrono),
            e_tag: unquote(out.e_tag()),
            version: out.version_id().map(str::to_owned),
            storage_class: Some(
                out.storage_class()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_else(|| "STANDARD".to_owned()),
            ),
        })
    }

    async fn get(&self, key: &str, options: GetOptions) -> Result<GetResult> {
        let path = self.path(key);
        if let Some(r) = &options.range
            && r.start >= r.end
        {
            // S3 cannot express an empty range: answer from HEAD.
            let meta = self.head(key).await?;
            if r.start > meta.size || r.start > r.end {
                return Err(Error::Generic {
                    path,
                    source: msg(format!("range {r:?} outside object of {} bytes", meta.size)),
                });
            }
            return Ok(GetResult {
                meta,
                range: r.clone(),
                body: futures::stream::empty().boxed(),
            });
        }
        let mut req = self.client().get_object().bucket(&self.bucket).key(key);
        if let Some(r) = &options.range {
            req = req.range(format!("bytes={}-{}", r.start, r.end - 1));
        }
        let out = req.send().await.map_err(|e| map_sdk(path.clone(), e))?;
        let len = out.content_length().unwrap_or(0).max(0) as u64;
        let total = out
            .content_range()
            .and_then(|cr| cr.rsplit('/').next())
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(len);
        let start = options.range.as_ref().map_or(0, |r| r.start);
        let meta = ObjectMeta {
            key: key.to_owned(),
            size: total,
            last_modified: out.last_modified().and_then(to_chrono),
            e_tag: unquote(out.e_tag()),
            version: out.version_id().map(str::to_owned),
            storage_class: Some(
                out.storage_class()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_else(|| "STANDARD".to_owned()),
            ),
        };
        let body = checked_body(out.body, len, path);
        Ok(GetResult {
            meta,
            range: start..start + len,
            body,
        })
    }

    async fn put(&self, key: &str, payload: Bytes) -> Result<PutResult> {
        self.put_object(key, payload, None).await
    }

    async fn put_hashed(&self, key: &str, payload: Bytes, sha256: [u8; 32]) -> Result<PutResult> {
        self.put_object(key, payload, Some(sha256)).await
    }

    async fn put_multipart(&self, key: &str) -> Result<Box<dyn MultipartUpload>> {
        let upload_id = self.create_upload(key).await?;
        Ok(Box::new(S3Upload {
            store: self.clone(),
            key: key.to_owned(),
            upload_id,
        }))
    }

    async fn resume_multipart(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<(Box<dyn MultipartUpload>, Vec<super::StoredPart>)> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .client()
                .list_parts()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await
                .map_err(|e| match e.code() {
                    // Gone (aborted, expired, completed): AWS says NoSuchUpload, Ceph RGW
                    // (16.x) NoSuchKey.
                    Some("NoSuchUpload" | "NoSuchKey") => Error::NotFound {
                        path: self.path(key),
                        source: msg(format!(
                            "the server no longer knows multipart upload {upload_id} ({})",
                            e.code().unwrap_or_default()
                        )),
                    },
                    _ => map_sdk(self.path(key), e),
                })?;
            for p in out.parts() {
                let (Some(number), Some(size)) = (p.part_number(), p.size()) else {
                    continue;
                };
                parts.push(super::StoredPart {
                    number: u32::try_from(number).unwrap_or(0),
                    size: u64::try_from(size).unwrap_or(0),
                    content_id: unquote(p.e_tag()).unwrap_or_default(),
                });
            }
            match out.next_part_number_marker() {
                Some(next) if out.is_truncated() == Some(true) => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok((
            Box::new(S3Upload {
                store: self.clone(),
                key: key.to_owned(),
                upload_id: upload_id.to_owned(),
            }),
            parts,
        ))
    }

    async fn copy_from(
        &self,
        src: &dyn ObjectStore,
        src_key: &str,
        size: u64,
        dst_key: &str,
    ) -> Result<PutResult> {
        let src = super::same_kind::<S3Store>(src, self.path(dst_key))?;
        if src.inner.identity != self.inner.identity {
            return Err(Error::NotSupported {
                path: self.path(dst_key),
                operation: "server-side copy between different endpoints or credentials",
            });
        }
        if size > MAX_SINGLE_COPY {
            return self.copy_multipart(src, src_key, dst_key, size).await;
        }
        let out = self
            .client()
            .copy_object()
            .bucket(&self.bucket)
            .key(dst_key)
            .copy_source(copy_source(&src.bucket, src_key))
            .send()
            .await
            .map_err(|e| map_sdk_not_supported(self.path(dst_key), e, "server-side copy"))?;
        Ok(PutResult {
            e_tag: unquote(out.copy_object_result().and_then(|r| r.e_tag())),
            version: out.version_id().map(str::to_owned),
        })
    }

    async fn delete(&self, keys: &[String]) -> Result<Vec<DeleteFailure>> {
        let mut failures = Vec::new();
        for chunk in keys.chunks(1000) {
            let objects: Vec<ObjectIdentifier> = chunk
                .iter()
                .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
                .collect();
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| Error::Generic {
                    path: self.path(""),
                    source: Box::new(e),
                })?;
            let r = self
                .client()
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await;
            match r {
                Ok(out) => {
                    for e in out.errors() {
                        let key = e.key().unwrap_or_default().to_owned();
                        let detail = S3Detail {
                            status: None,
                            code: e.code().map(str::to_owned),
                            message: e.message().map(str::to_owned),
                        };
                        let error = classify(self.path(&key), detail);
                        if !error.is_not_found() {
                            failures.push(DeleteFailure { key, error });
                        }
                    }
                }
                Err(e) if e.code() == Some("NotImplemented") || status_of(&e) == Some(501) => {
                    failures.extend(self.delete_one_by_one(chunk).await);
                }
                Err(e) => return Err(map_sdk(self.path(""), e)),
            }
        }
        Ok(failures)
    }

    fn signs_payloads(&self) -> bool {
        self.inner.signs_payloads
    }

    async fn probe_payload_check(&self, key: &str) -> Result<Option<PayloadCheck>> {
        self.probe(key).await
    }

    fn limits(&self) -> Limits {
        Limits {
            min_part_size: 5 * 1024 * 1024,
            max_part_size: 5 * GIB,
            max_parts: 10_000,
        }
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        match self
            .client()
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match map_sdk(self.path(key), e) {
                Error::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn list_multipart(&self, key: &str) -> Result<Vec<String>> {
        let out = self
            .client()
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .prefix(key)
            .send()
            .await
            .map_err(|e| map_sdk_not_supported(self.path(key), e, "listing multipart uploads"))?;
        Ok(out
            .uploads()
            .iter()
            .filter(|u| u.key() == Some(key))
            .filter_map(|u| u.upload_id().map(str::to_owned))
            .collect())
    }

    async fn list_uploads(&self, prefix: &str) -> Result<Vec<super::Upload>> {
        let mut out = Vec::new();
        let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
        loop {
            let page = self
                .client()
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.clone())
                .set_upload_id_marker(id_marker.clone())
                .send()
                .await
                .map_err(|e| {
                    map_sdk_not_supported(self.path(prefix), e, "listing multipart uploads")
                })?;
            for u in page.uploads() {
                if let (Some(key), Some(id)) = (u.key(), u.upload_id()) {
                    out.push(super::Upload {
                        key: key.to_owned(),
                        upload_id: id.to_owned(),
                        initiated: u.initiated().and_then(|t| {
                            chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
                        }),
                    });
                }
            }
            if !page.is_truncated().unwrap_or(false) {
                break;
            }
            let next = (
                page.next_key_marker().map(str::to_owned),
                page.next_upload_id_marker().map(str::to_owned),
            );
            if next.0.is_none() || next == (key_marker.clone(), id_marker.clone()) {
                break;
            }
            (key_marker, id_marker) = next;
        }
        Ok(out)
    }

    fn url(&self) -> String {
        format!("s3+{}/{}", self.inner.endpoint, self.bucket)
    }

    fn canonical(&self, key: &str) -> String {
        format!("s3://{}/{}/{key}", self.inner.identity, self.bucket)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Wraps an SDK body: maps errors and refuses a body shorter or longer than announced.
fn checked_body(body: SdkByteStream, expected: u64, path: String) -> super::ByteStream {
    futures::stream::try_unfold(
        (body, 0u64, path),
        move |(mut body, seen, path)| async move {
            match body.try_next().await {
                Ok(Some(chunk)) => {
                    let seen = seen + chunk.len() as u64;
                    if seen > expected {
                        return Err(Error::Transient {
                            path,
                            source: msg(format!("body longer than the announced {expected} bytes")),
                        });
                    }
                    Ok(Some((chunk, (body, seen, path))))
                }
                Ok(None) if seen == expected => Ok(None),
                Ok(None) => Err(Error::Transient {
                    path,
                    source: msg(format!("body ended after {seen} of {expected} bytes")),
                }),
                Err(e) => Err(Error::Transient {
                    path,
                    source: Box::new(e),
                }),
            }
        },
    )
    .boxed()
}
