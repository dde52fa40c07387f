//! One container as an [`ObjectStore`].
//!
//! Multipart uploads are block uploads: each part is a Put Block whose id carries the upload's
//! id, the part number and the block's MD5 (`<16 hex>-<5 digits>-<32 hex>`, so every id of a
//! blob has the same length, as Azure requires), sent with that MD5 (the service checks it);
//! a part's id, as ferry's engine sees it, is that MD5, as an S3 part's ETag is. Completing is
//! a Put Block List. Nothing is visible before it. Azure has no abort: staged blocks that are never
//! committed are dropped by the service (after 7 days, or at the blob's next commit), and they
//! never become the blob. An upload is reopened from Get Block List's uncommitted blocks with
//! its id.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::http::{AsyncRawResponse, Method, Url};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use super::Account;
use super::errors::map;
use crate::backend::error::msg;
use crate::backend::{
    DeleteFailure, Error, GetOptions, GetResult, Limits, ListEntry, ListOptions, MultipartUpload,
    ObjectMeta, ObjectStore, PutResult, Result, StoredPart, same_kind,
};

pub(super) const MIB: u64 = 1024 * 1024;

/// Characters kept as they are in a blob's URL path: unreserved ones and `/`.
const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Azure's container name rule, checked before any request.
pub(crate) fn check_container_name(label: &str, name: &str) -> Result<()> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.as_bytes()[0] != b'-'
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidKey {
            path: label.to_owned(),
            key: name.to_owned(),
            reason: "Azure container names are 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit",
        })
    }
}

/// One container.
#[derive(Clone)]
pub struct AzureStore {
    account: Arc<Account>,
    container: String,
    /// Copy S3 sources server-side through presigned URLs (Put Blob From URL).
    from_url: bool,
    /// `https://acct.blob.core.windows.net/container` (no trailing slash).
    container_url: Url,
}

impl std::fmt::Debug for AzureStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureStore")
            .field("account", &self.account.label)
            .field("container", &self.container)
            .field("from_url", &self.from_url)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for AzureStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.account.label, self.container)
    }
}

pub(super) fn header(resp: &AsyncRawResponse, name: &'static str) -> Option<String> {
    resp.headers()
        .get_optional_str(&azure_core::http::headers::HeaderName::from_static(name))
        .map(str::to_owned)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl AzureStore {
    pub(crate) fn new(account: Arc<Account>, container: &str) -> Self {
        let mut container_url = account.endpoint.clone();
        if let Ok(mut segs) = container_url.path_segments_mut() {
            segs.pop_if_empty().push(container);
        }
        AzureStore {
            account,
            container: container.to_owned(),
            from_url: false,
            container_url,
        }
    }

    /// This store, copying objects of S3 sources server-side when `on`: Azure reads each
    /// through a presigned GET URL (Put Blob From URL, Put Block From URL above 4000 MiB), and
    /// the bytes never pass through ferry. The source must be reachable from Azure; a service
    /// that cannot do it (the emulator answers 501) makes ferry stream instead.
    pub fn with_copy_from_url(mut self, on: bool) -> Self {
        self.from_url = on;
        self
    }

    pub(crate) fn path(&self, key: &str) -> String {
        format!("{self}/{key}")
    }

    /// The blob's URL, or why Azure cannot hold this key.
    pub(super) fn blob_url(&self, key: &str) -> Result<Url> {
        let bad = |reason| Error::InvalidKey {
            path: self.to_string(),
            key: key.to_owned(),
            reason,
        };
        if key.is_empty() || key.len() > 1024 {
            return Err(bad("Azure blob names are 1 to 1024 characters"));
        }
        if key.split('/').any(|s| s == "." || s == "..") {
            return Err(bad(
                "Azure resolves `.` and `..` in blob URLs, so a name with such a segment cannot be stored as it is",
            ));
        }
        if key.ends_with('.') || key.ends_with('/') {
            return Err(bad("Azure drops a trailing dot or slash from blob names"));
        }
        let encoded = percent_encoding::utf8_percent_encode(key, PATH).to_string();
        let text = format!(
            "{}/{encoded}",
            self.container_url.as_str().trim_end_matches('/')
        );
        Url::parse(&text).map_err(|_| bad("not a valid URL path"))
    }

    /// Sends a raw request through the account's pipeline; non-success statuses are errors.
    pub(super) async fn raw(
        &self,
        method: Method,
        url: Url,
        headers: &[(&'static str, String)],
        body: Bytes,
        path: &str,
    ) -> Result<AsyncRawResponse> {
        self.account.send(method, url, headers, body, path).await
    }

    fn meta_from(&self, key: &str, resp: &AsyncRawResponse) -> ObjectMeta {
        let size = header(resp, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        ObjectMeta {
            key: key.to_owned(),
            size,
            last_modified: header(resp, "last-modified").and_then(|t| parse_time(&t)),
            e_tag: header(resp, "etag").map(|e| e.trim_matches('"').to_owned()),
            version: header(resp, "x-ms-version-id"),
            storage_class: header(resp, "x-ms-access-tier"),
        }
    }

    /// The blob's Content-MD5 property (base64), when it has one: what a single Put Blob
    /// carried, or what was set at a block list's commit (`--md5`).
    pub async fn content_md5(&self, key: &str) -> Result<Option<String>> {
        let path = self.path(key);
        let url = self.blob_url(key)?;
        let resp = self
            .raw(Method::Head, url, &[], Bytes::new(), &path)
            .await?;
        Ok(header(&resp, "content-md5"))
    }

    pub(super) fn block_client(&self, key: &str) -> azure_storage_blob::BlockBlobClient {
        self.account
            .service
            .blob_container_client(&self.container)
            .blob_client(key)
            .block_blob_client()
    }

    /// Waits for a Copy Blob that answered `pending`.
    async fn wait_copy(&self, url: &Url, path: &str) -> Result<()> {
        for _ in 0..600 {
            let resp = self
                .raw(Method::Head, url.clone(), &[], Bytes::new(), path)
                .await?;
            match header(&resp, "x-ms-copy-status").as_deref() {
                Some("pending") => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
                Some("success") | None => return Ok(()),
                Some(other) => {
                    return Err(Error::Generic {
                        path: path.to_owned(),
                        source: msg(format!(
                            "server-side copy {other}: {}",
                            header(&resp, "x-ms-copy-status-description").unwrap_or_default()
                        )),
                    });
                }
            }
        }
        Err(Error::Transient {
            path: path.to_owned(),
            source: msg("server-side copy still pending after 2 minutes"),
        })
    }
}

#[async_trait]
impl ObjectStore for AzureStore {
    fn list(&self, prefix: &str, options: ListOptions) -> BoxStream<'static, Result<ListEntry>> {
        super::listing::list(
            self.account.clone(),
            self.container_url.clone(),
            self.to_string(),
            prefix.to_owned(),
            options,
        )
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta> {
        let path = self.path(key);
        let url = self.blob_url(key)?;
        let resp = self
            .raw(Method::Head, url, &[], Bytes::new(), &path)
            .await?;
        Ok(self.meta_from(key, &resp))
    }

    async fn get(&self, key: &str, options: GetOptions) -> Result<GetResult> {
        let path = self.path(key);
        let url = self.blob_url(key)?;
        let mut headers = Vec::new();
        if let Some(r) = &options.range {
            if r.start >= r.end {
                let meta = self.head(key).await?;
                return Ok(GetResult {
                    meta,
                    range: r.start..r.start,
                    body: futures::stream::empty().boxed(),
                });
            }
            headers.push(("x-ms-range", format!("bytes={}-{}", r.start, r.end - 1)));
        }
        let resp = self
            .raw(Method::Get, url, &headers, Bytes::new(), &path)
            .await?;
        let mut meta = self.meta_from(key, &resp);
        let range = match &options.range {
            Some(r) => {
                // Content-Range: bytes a-b/total
                if let Some(total) = header(&resp, "content-range")
                    .and_then(|c| c.rsplit_once('/').and_then(|(_, t)| t.parse().ok()))
                {
                    meta.size = total;
                }
                r.start..r.end.min(meta.size)
            }
            None => 0..meta.size,
        };
        let p = path.clone();
        let body = resp.into_body().map_err(move |e| map(&p, e)).boxed();
        Ok(GetResult { meta, range, body })
    }

    async fn put(&self, key: &str, payload: Bytes) -> Result<PutResult> {
        use md5::Digest;
        // An S3 "folder marker" (an empty `dir/`): Azure's namespace is flat and would drop the
        // slash, so there is nothing to write (as rclone's azureblob does by default).
        if key.ends_with('/') && payload.is_empty() && !key.trim_end_matches('/').is_empty() {
            return Ok(PutResult::default());
        }
        let path = self.path(key);
        let url = self.blob_url(key)?;
        let md5 = azure_core::base64::encode(md5::Md5::digest(&payload));
        let resp = self
            .raw(
                Method::Put,
                url,
                &[
                    ("x-ms-blob-type", "BlockBlob".to_owned()),
                    ("content-md5", md5),
                ],
                payload,
                &path,
            )
            .await?;
        Ok(PutResult {
            e_tag: header(&resp, "etag").map(|e| e.trim_matches('"').to_owned()),
            version: header(&resp, "x-ms-version-id"),
        })
    }

    async fn put_multipart(&self, key: &str) -> Result<Box<dyn MultipartUpload>> {
        self.start_blocks(key)
    }

    async fn copy_from(
        &self,
        src: &dyn ObjectStore,
        src_key: &str,
        size: u64,
        dst_key: &str,
    ) -> Result<PutResult> {
        let path = self.path(dst_key);
        if let Some(s3) = src.as_any().downcast_ref::<crate::backend::s3::S3Store>() {
            if !self.from_url {
                return Err(Error::NotSupported {
                    path,
                    operation: "server-side copy from S3 without --from-url",
                });
            }
            let url = s3
                .presign_get(src_key, std::time::Duration::from_secs(6 * 3600))
                .await?;
            return self.put_from_url(dst_key, &url, size).await;
        }
        let src = same_kind::<AzureStore>(src, path.clone())?;
        if src.account.endpoint != self.account.endpoint
            || src.account.fingerprint != self.account.fingerprint
        {
            return Err(Error::NotSupported {
                path,
                operation: "server-side copy between two Azure accounts",
            });
        }
        let from = src.blob_url(src_key)?;
        let to = self.blob_url(dst_key)?;
        let resp = self
            .raw(
                Method::Put,
                to.clone(),
                &[("x-ms-copy-source", from.to_string())],
                Bytes::new(),
                &path,
            )
            .await?;
        if header(&resp, "x-ms-copy-status").as_deref() == Some("pending") {
            self.wait_copy(&to, &path).await?;
        }
        let meta = self.head(dst_key).await?;
        Ok(PutResult {
            e_tag: meta.e_tag,
            version: meta.version,
        })
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        // Azure has no abort: uncommitted blocks never become the blob and expire.
        let _ = (key, upload_id);
        Ok(())
    }

    async fn resume_multipart(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<(Box<dyn MultipartUpload>, Vec<StoredPart>)> {
        self.resume_blocks(key, upload_id).await
    }

    async fn list_multipart(&self, key: &str) -> Result<Vec<String>> {
        Err(Error::NotSupported {
            path: self.path(key),
            operation: "listing block uploads (an upload leaves nothing until its first block)",
        })
    }

    async fn delete(&self, keys: &[String]) -> Result<Vec<DeleteFailure>> {
        let results: Vec<(String, Result<()>)> = futures::stream::iter(keys.iter().cloned())
            .map(|key| async move {
                let path = self.path(&key);
                let r = match self.blob_url(&key) {
                    Ok(url) => match self
                        .raw(Method::Delete, url, &[], Bytes::new(), &path)
                        .await
                    {
                        Ok(_) => Ok(()),
                        Err(e) if e.is_not_found() => Ok(()),
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                };
                (key, r)
            })
            .buffer_unordered(16)
            .collect()
            .await;
        let mut failures = Vec::new();
        for (key, r) in results {
            if let Err(error) = r {
                if matches!(error, Error::Unauthenticated { .. }) {
                    return Err(error);
                }
                failures.push(DeleteFailure { key, error });
            }
        }
        Ok(failures)
    }

    fn signs_payloads(&self) -> bool {
        // Blocks carry no signed SHA-256 (Azure checks MD5s; not used as proof yet).
        false
    }

    fn limits(&self) -> Limits {
        Limits {
            min_part_size: 1,
            max_part_size: 4000 * MIB,
            max_parts: 50_000,
        }
    }

    fn url(&self) -> String {
        let scheme = self.container_url.scheme();
        let rest = self.container_url.as_str().trim_start_matches(scheme);
        format!("azure+{scheme}{rest}")
    }

    fn canonical(&self, key: &str) -> String {
        format!("{}#{}/{key}", self.url(), self.account.fingerprint)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
