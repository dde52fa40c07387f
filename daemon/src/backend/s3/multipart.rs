//! Multipart: uploads (created, parts, completed, lost ones cleaned up) and server-side
//! copies above 5 GiB with UploadPartCopy.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;

use super::errors::*;
use super::interceptors::*;
use super::store::*;
use crate::backend::error::{display_chain, msg};
use crate::backend::{Error, MultipartUpload, ObjectStore, PartId, PutResult, Result};

/// `bucket/key`, percent-encoded as CopyObject's `x-amz-copy-source` wants.
pub(super) fn copy_source(bucket: &str, key: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const SET: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(&format!("{bucket}/{key}"), SET).to_string()
}

pub(super) async fn complete_upload(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    parts: Vec<CompletedPart>,
    path: String,
) -> Result<PutResult> {
    let out = client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .map_err(|e| map_upload_sdk(path.clone(), e))?;
    let e_tag = unquote(out.e_tag()).filter(|e| !e.is_empty());
    if e_tag.is_some() {
        return Ok(PutResult {
            e_tag,
            version: out.version_id().map(str::to_owned),
        });
    }
    // Ceph RGW (16.x) answers an empty `<ETag></ETag>`: the object's ETag is the one a HEAD
    // reports. Without it, the manifest could not tell later whether the object changed at the
    // target.
    match client.head_object().bucket(bucket).key(key).send().await {
        Ok(head) => Ok(PutResult {
            e_tag: unquote(head.e_tag()).filter(|e| !e.is_empty()),
            version: head.version_id().or(out.version_id()).map(str::to_owned),
        }),
        Err(e) => {
            tracing::warn!(path, error = %display_chain(&map_sdk(path.clone(), e)), "the upload completed without an ETag, and a HEAD for it failed");
            Ok(PutResult {
                e_tag: None,
                version: out.version_id().map(str::to_owned),
            })
        }
    }
}

impl S3Store {
    pub(super) async fn copy_multipart(
        &self,
        src: &S3Store,
        src_key: &str,
        dst_key: &str,
        size: u64,
    ) -> Result<PutResult> {
        let path = self.path(dst_key);
        let upload_id = self.create_upload(dst_key).await?;
        let source = copy_source(&src.bucket, src_key);
        let ranges: Vec<(i32, u64, u64)> = (0..size.div_ceil(COPY_PART_SIZE))
            .map(|i| {
                let start = i * COPY_PART_SIZE;
                let end = (start + COPY_PART_SIZE).min(size) - 1;
                (i as i32 + 1, start, end)
            })
            .collect();
        let results: Vec<Result<CompletedPart>> = futures::stream::iter(ranges)
            .map(|(n, start, end)| {
                let req = self
                    .client()
                    .upload_part_copy()
                    .bucket(&self.bucket)
                    .key(dst_key)
                    .upload_id(&upload_id)
                    .part_number(n)
                    .copy_source(&source)
                    .copy_source_range(format!("bytes={start}-{end}"));
                let path = path.clone();
                async move {
                    let out = req.send().await.map_err(|e| {
                        map_sdk_not_supported(path, e, "multipart server-side copy")
                    })?;
                    let etag = out
                        .copy_part_result()
                        .and_then(|r| r.e_tag())
                        .unwrap_or_default();
                    Ok(CompletedPart::builder().part_number(n).e_tag(etag).build())
                }
            })
            .buffer_unordered(COPY_CONCURRENCY)
            .collect()
            .await;
        let parts: Result<Vec<CompletedPart>> = results.into_iter().collect();
        let mut parts = match parts {
            Ok(p) => p,
            Err(e) => {
                let _ = self
                    .client()
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(dst_key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                return Err(e);
            }
        };
        parts.sort_by_key(|p| p.part_number());
        complete_upload(
            self.client(),
            &self.bucket,
            dst_key,
            &upload_id,
            parts,
            path,
        )
        .await
    }

    /// Starts a multipart upload and returns its id.
    ///
    /// When the server created an upload but its answer was lost (connection reset, timeout),
    /// the retry creates a second one and the first stays open, invisible and billed, until a
    /// lifecycle rule removes it. So when this call needed more than one attempt, or an
    /// earlier call for the same key failed after sending, the key's other open uploads are
    /// listed and aborted. Servers that cannot list uploads are left as they are.
    pub(super) async fn create_upload(&self, key: &str) -> Result<String> {
        let attempts = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let sent = self
            .client()
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .customize()
            .interceptor(CountAttempts(attempts.clone()))
            .send()
            .await;
        let attempts = attempts.load(std::sync::atomic::Ordering::Relaxed);
        let suspect = {
            let mut suspects = crate::lock::lock(&self.inner.suspect_uploads);
            if sent.is_err() && attempts > 0 {
                suspects.insert(key.to_owned());
            }
            sent.is_ok() && (suspects.remove(key) || attempts > 1)
        };
        let out = sent.map_err(|e| map_sdk(self.path(key), e))?;
        let Some(upload_id) = out.upload_id() else {
            return Err(Error::Generic {
                path: self.path(key),
                source: msg("server returned no upload id"),
            });
        };
        if suspect {
            self.abort_lost_uploads(key, upload_id).await;
        }
        Ok(upload_id.to_owned())
    }

    /// Aborts the open uploads of `key` other than `keep` (see [`S3Store::create_upload`]).
    pub(super) async fn abort_lost_uploads(&self, key: &str, keep: &str) {
        let ids = match self.list_multipart(key).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::debug!(key, error = %e, "cannot list uploads to find lost ones");
                return;
            }
        };
        for id in ids.iter().filter(|id| *id != keep) {
            match self.abort_multipart(key, id).await {
                Ok(()) => tracing::info!(
                    path = %self.path(key),
                    "aborted a multipart upload whose creation answer was lost"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot abort a lost multipart upload"),
            }
        }
    }
}

pub(super) struct S3Upload {
    pub(super) store: S3Store,
    pub(super) key: String,
    pub(super) upload_id: String,
}

impl fmt::Debug for S3Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Upload")
            .field("store", &self.store)
            .field("key", &self.key)
            .field("upload_id", &self.upload_id)
            .finish()
    }
}

#[async_trait]
impl MultipartUpload for S3Upload {
    fn id(&self) -> &str {
        &self.upload_id
    }

    fn put_part(
        &self,
        number: u32,
        _offset: u64,
        data: Bytes,
    ) -> BoxFuture<'static, Result<PartId>> {
        let req = self
            .store
            .client()
            .upload_part()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .part_number(number as i32)
            .content_length(data.len() as i64)
            .body(SdkByteStream::from(data));
        let path = self.store.path(&self.key);
        Box::pin(async move {
            let out = req
                .send()
                .await
                .map_err(|e| map_upload_sdk(path.clone(), e))?;
            let Some(etag) = out.e_tag() else {
                return Err(Error::Generic {
                    path,
                    source: msg(format!("server returned no ETag for part {number}")),
                });
            };
            Ok(PartId {
                number,
                content_id: etag.to_owned(),
            })
        })
    }

    async fn complete(self: Box<Self>, parts: Vec<PartId>) -> Result<PutResult> {
        let parts = parts
            .into_iter()
            .map(|p| {
                CompletedPart::builder()
                    .part_number(p.number as i32)
                    .e_tag(p.content_id)
                    .build()
            })
            .collect();
        complete_upload(
            self.store.client(),
            &self.store.bucket,
            &self.key,
            &self.upload_id,
            parts,
            self.store.path(&self.key),
        )
        .await
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        self.store
            .client()
            .abort_multipart_upload()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .send()
            .await
            .map_err(|e| map_sdk(self.store.path(&self.key), e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_is_percent_encoded() {
        assert_eq!(
            copy_source("b", "dir/a b+ü.txt"),
            "b/dir/a%20b%2B%C3%BC.txt"
        );
    }
}
