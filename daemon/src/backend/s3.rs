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
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use sha2::Digest;

use super::error::{display_chain, msg};
use super::{
    BoxError, DeleteFailure, Error, GetOptions, GetResult, Limits, ListEntry, ListOptions,
    MultipartUpload, ObjectMeta, ObjectStore, PartId, PutResult, Result,
};

const GIB: u64 = 1024 * 1024 * 1024;
/// Largest object a single CopyObject may copy.
const MAX_SINGLE_COPY: u64 = 5 * GIB;
/// Part size for server-side multipart copies.
const COPY_PART_SIZE: u64 = 512 * 1024 * 1024;
/// Concurrent UploadPartCopy requests for one object.
const COPY_CONCURRENCY: usize = 8;

/// How the client authenticates.
#[derive(Clone, PartialEq, Eq)]
pub enum S3Credentials {
    /// Static keys (and an optional session token).
    Static {
        /// Access key id.
        access_key: String,
        /// Secret key. Never printed.
        secret_key: String,
        /// Session token for temporary credentials. Never printed.
        session_token: Option<String>,
    },
    /// The AWS default chain: environment, shared profile, web identity, ECS/EC2 metadata.
    DefaultChain,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            S3Credentials::Static {
                access_key,
                session_token,
                ..
            } => f
                .debug_struct("Static")
                .field("access_key", access_key)
                .field("secret_key", &"<redacted>")
                .field(
                    "session_token",
                    &session_token.as_ref().map(|_| "<redacted>"),
                )
                .finish(),
            S3Credentials::DefaultChain => f.write_str("DefaultChain"),
        }
    }
}

/// SDK checksum behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMode {
    /// Only where an operation requires it (safe with every S3-compatible server).
    WhenRequired,
    /// The SDK default on AWS: CRC checksums on uploads, validation on downloads.
    WhenSupported,
}

/// Everything needed to talk to one S3 endpoint.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Name used in messages (the alias), never a credential.
    pub label: String,
    /// Endpoint URL (`https://host[:port]`); `None` uses AWS's endpoints for the region.
    pub endpoint: Option<String>,
    /// Signing region.
    pub region: String,
    /// Path-style (`host/bucket/key`) instead of virtual-host (`bucket.host/key`) addressing.
    pub path_style: bool,
    /// Credentials.
    pub credentials: S3Credentials,
    /// Extra PEM CA certificate(s) to trust besides the system roots.
    pub ca_cert: Option<PathBuf>,
    /// SDK checksums.
    pub checksums: ChecksumMode,
    /// Use ListObjects (v1) instead of ListObjectsV2.
    pub list_v1: bool,
}

impl S3Config {
    /// A config for a custom endpoint with static keys and the defaults ferry picks for it:
    /// region and addressing style derived from the host, checksums "when required" off AWS.
    pub fn for_endpoint(label: &str, url: &str, credentials: S3Credentials) -> Self {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        let is_aws = host.ends_with(".amazonaws.com");
        S3Config {
            label: label.to_owned(),
            endpoint: Some(url.trim_end_matches('/').to_owned()),
            region: region_from_host(&host).unwrap_or_else(|| "us-east-1".to_owned()),
            path_style: !virtual_host_by_default(&host),
            credentials,
            ca_cert: None,
            checksums: if is_aws {
                ChecksumMode::WhenSupported
            } else {
                ChecksumMode::WhenRequired
            },
            list_v1: false,
        }
    }
}

/// Hosts that want virtual-host addressing (mc's `--path auto` picks the same).
pub fn virtual_host_by_default(host: &str) -> bool {
    ["amazonaws.com", "aliyuncs.com", "myqcloud.com"]
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// The signing region encoded in well-known provider hosts.
pub fn region_from_host(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.split('.').collect();
    if host.ends_with(".amazonaws.com") {
        // s3.<region>.amazonaws.com, s3-<region>.amazonaws.com, bucket.s3.<region>.amazonaws.com
        for (i, l) in labels.iter().enumerate() {
            if let Some(r) = l.strip_prefix("s3-")
                && r.contains('-')
            {
                return Some(r.to_owned());
            }
            if *l == "s3"
                && let Some(next) = labels.get(i + 1)
                && *next != "amazonaws"
                && next.contains('-')
            {
                return Some((*next).to_owned());
            }
        }
        return None;
    }
    if host.ends_with(".aliyuncs.com") {
        return labels
            .iter()
            .find(|l| l.starts_with("oss-"))
            .map(|l| l.to_string());
    }
    if host.ends_with(".myqcloud.com") {
        return labels
            .iter()
            .position(|l| *l == "cos")
            .and_then(|i| labels.get(i + 1))
            .map(|l| l.to_string());
    }
    None
}

struct Inner {
    client: Client,
    label: String,
    /// Endpoint URL, or `aws:<region>` for AWS's own endpoints.
    endpoint: String,
    /// Endpoint + region + access key + secret fingerprint: two stores with equal identity can
    /// copy server-side.
    identity: String,
    list_v1: bool,
    /// Keys whose CreateMultipartUpload failed after a request went out: the server may have
    /// created an upload whose answer was lost (see [`S3Store::create_upload`]).
    suspect_uploads: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Endpoint")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// One S3 server with one set of credentials.
#[derive(Debug, Clone)]
pub struct S3Endpoint {
    inner: Arc<Inner>,
}

/// A bucket's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    /// Bucket name.
    pub name: String,
    /// Creation time, when reported.
    pub created: Option<DateTime<Utc>>,
}

impl S3Endpoint {
    /// Builds a client. No request is sent until the first operation.
    pub async fn connect(config: &S3Config) -> Result<Self> {
        use aws_smithy_http_client::tls;
        let label = config.label.clone();
        let mut trust = tls::TrustStore::default();
        if let Some(ca) = &config.ca_cert {
            let pem = std::fs::read(ca).map_err(|e| Error::Generic {
                path: format!("{label}: CA certificate {}", ca.display()),
                source: Box::new(e),
            })?;
            trust = trust.with_pem_certificate(pem);
        }
        let tls_context = tls::TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .map_err(|e| Error::Generic {
                path: label.clone(),
                source: Box::new(e),
            })?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .tls_context(tls_context)
            .build_https();
        let http = aws_smithy_runtime_api::client::http::SharedHttpClient::new(
            super::s3_quirks::QuirkFixingClient::new(http),
        );

        let timeouts = aws_smithy_types::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .build();
        let mut b = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .force_path_style(config.path_style)
            .http_client(http.clone())
            .timeout_config(timeouts)
            .retry_config(aws_smithy_types::retry::RetryConfig::standard().with_max_attempts(4))
            .retry_classifier(SkewedRefusal);
        if let Some(url) = &config.endpoint {
            b = b.endpoint_url(url.clone());
        }
        if config.checksums == ChecksumMode::WhenRequired {
            b = b
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        }
        let key_id = match &config.credentials {
            S3Credentials::Static {
                access_key,
                secret_key,
                session_token,
            } => {
                b = b.credentials_provider(Credentials::new(
                    access_key,
                    secret_key,
                    session_token.clone(),
                    None,
                    "ferry-alias",
                ));
                let fp = sha2::Sha256::digest(secret_key.as_bytes());
                format!("{access_key}:{}", hex::encode(&fp[..8]))
            }
            S3Credentials::DefaultChain => {
                let shared = aws_config::defaults(BehaviorVersion::latest())
                    .http_client(http)
                    .region(Region::new(config.region.clone()))
                    .load()
                    .await;
                if let Some(provider) = shared.credentials_provider() {
                    b = b.credentials_provider(provider);
                }
                "default-chain".to_owned()
            }
        };
        let identity = format!(
            "{}|{}|{}|{key_id}",
            config.endpoint.as_deref().unwrap_or("aws"),
            config.region,
            config.path_style
        );
        Ok(S3Endpoint {
            inner: Arc::new(Inner {
                client: Client::from_conf(b.build()),
                label,
                endpoint: config
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| format!("aws:{}", config.region)),
                identity,
                list_v1: config.list_v1,
                suspect_uploads: Default::default(),
            }),
        })
    }

    /// The alias name used in messages.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// A store for one bucket.
    pub fn bucket(&self, name: &str) -> S3Store {
        S3Store {
            inner: self.inner.clone(),
            bucket: name.to_owned(),
        }
    }

    /// Lists the buckets these credentials can see.
    pub async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let out = self
            .inner
            .client
            .list_buckets()
            .send()
            .await
            .map_err(|e| map_sdk(self.label().to_owned(), e))?;
        let mut buckets: Vec<BucketInfo> = out
            .buckets()
            .iter()
            .filter_map(|b| {
                Some(BucketInfo {
                    name: b.name()?.to_owned(),
                    created: b.creation_date().and_then(to_chrono),
                })
            })
            .collect();
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(buckets)
    }

    /// Creates a bucket.
    pub async fn create_bucket(&self, name: &str) -> Result<()> {
        self.inner
            .client
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .map_err(|e| map_sdk(format!("{}/{name}", self.label()), e))?;
        Ok(())
    }

    /// Deletes an (empty) bucket.
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        self.inner
            .client
            .delete_bucket()
            .bucket(name)
            .send()
            .await
            .map_err(|e| map_sdk(format!("{}/{name}", self.label()), e))?;
        Ok(())
    }

    /// Checks that a bucket exists and is reachable with these credentials.
    pub async fn head_bucket(&self, name: &str) -> Result<()> {
        let path = format!("{}/{name}", self.label());
        match self.inner.client.head_bucket().bucket(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if codeless(&e) => Err(explain(&self.inner.client, name, "", path, e).await),
            Err(e) => Err(map_sdk(path, e)),
        }
    }
}

/// One bucket.
#[derive(Clone)]
pub struct S3Store {
    inner: Arc<Inner>,
    bucket: String,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S3Store({}/{})", self.inner.label, self.bucket)
    }
}

impl fmt::Display for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.inner.label, self.bucket)
    }
}

impl S3Store {
    /// The bucket name.
    pub fn bucket_name(&self) -> &str {
        &self.bucket
    }

    fn path(&self, key: &str) -> String {
        format!("{}/{}/{key}", self.inner.label, self.bucket)
    }

    fn client(&self) -> &Client {
        &self.inner.client
    }

    async fn copy_multipart(
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

/// `bucket/key`, percent-encoded as CopyObject's `x-amz-copy-source` wants.
fn copy_source(bucket: &str, key: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const SET: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(&format!("{bucket}/{key}"), SET).to_string()
}

fn unquote(etag: Option<&str>) -> Option<String> {
    etag.map(|e| e.trim_matches('"').to_owned())
}

fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())
}

async fn complete_upload(
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

/// Signs a request with a payload hash computed earlier (lowercase hex SHA-256 of the body)
/// instead of letting the SDK hash the body again: the hash ferry computes anyway for its
/// manifest goes into `x-amz-content-sha256`, and the server verifies the body against it.
/// An override already chosen by the SDK (streaming checksum trailers) is left alone.
#[derive(Debug)]
struct PrecomputedPayloadHash(String);

impl aws_smithy_runtime_api::client::interceptors::Intercept for PrecomputedPayloadHash {
    fn name(&self) -> &'static str {
        "PrecomputedPayloadHash"
    }

    fn modify_before_signing(
        &self,
        _context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        use aws_runtime::auth::PayloadSigningOverride;
        if cfg.load::<PayloadSigningOverride>().is_none() {
            cfg.interceptor_state()
                .store_put(PayloadSigningOverride::Precomputed(self.0.clone()));
        }
        Ok(())
    }
}

/// How far the server's clock (its `Date` header) is from ours, when that is more than five
/// minutes (SigV4 allows fifteen): positive when the server is ahead.
fn clock_skew(response: &HttpResponse) -> Option<i64> {
    use aws_smithy_types::date_time::{DateTime as SmithyTime, Format};
    let date = response.headers().get("date")?;
    let server =
        std::time::SystemTime::try_from(SmithyTime::from_str(date, Format::HttpDate).ok()?).ok()?;
    let skew = match server.duration_since(std::time::SystemTime::now()) {
        Ok(ahead) => ahead.as_secs() as i64,
        Err(behind) => -(behind.duration().as_secs() as i64),
    };
    (skew.abs() > 300).then_some(skew)
}

/// `3d4h`, `1h0m`, `7m`.
fn human_secs(s: u64) -> String {
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else {
        format!("{m}m")
    }
}

/// Retries a `403` without an error code (a HEAD's answer has no body) when the server's
/// clock is far from ours: likely RequestTimeTooSkewed. The SDK has measured the skew from
/// that answer's `Date` and signs the retry with the server's time, as it does by itself
/// for errors that carry the code.
#[derive(Debug)]
struct SkewedRefusal;

impl aws_smithy_runtime_api::client::retries::classifiers::ClassifyRetry for SkewedRefusal {
    fn classify_retry(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::InterceptorContext,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryAction {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryAction;
        match ctx.response() {
            Some(r) if r.status().as_u16() == 403 && clock_skew(r).is_some() => {
                RetryAction::retryable_error(aws_smithy_types::retry::ErrorKind::ServerError)
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "SkewedRefusal"
    }
}

/// Counts the attempts of one request (the SDK retries inside `send`).
#[derive(Debug)]
struct CountAttempts(Arc<std::sync::atomic::AtomicU32>);

impl aws_smithy_runtime_api::client::interceptors::Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "CountAttempts"
    }

    fn read_before_attempt(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// Where a listing continues.
enum Cursor {
    Start(Option<String>),
    Token(String),
    Marker(String),
    Done,
}

impl S3Store {
    /// Starts a multipart upload and returns its id.
    ///
    /// When the server created an upload but its answer was lost (connection reset, timeout),
    /// the retry creates a second one and the first stays open, invisible and billed, until a
    /// lifecycle rule removes it. So when this call needed more than one attempt, or an
    /// earlier call for the same key failed after sending, the key's other open uploads are
    /// listed and aborted. Servers that cannot list uploads are left as they are.
    async fn create_upload(&self, key: &str) -> Result<String> {
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
            let mut suspects = self
                .inner
                .suspect_uploads
                .lock()
                .unwrap_or_else(|p| p.into_inner());
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
    async fn abort_lost_uploads(&self, key: &str, keep: &str) {
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

    async fn list_page(
        &self,
        prefix: &str,
        delimiter: bool,
        cursor: Cursor,
    ) -> Result<(Vec<ListEntry>, Cursor)> {
        let path = self.path(prefix);
        let entries;
        let next;
        if self.inner.list_v1 {
            let mut req = self
                .client()
                .list_objects()
                .bucket(&self.bucket)
                .prefix(prefix);
            if delimiter {
                req = req.delimiter("/");
            }
            match cursor {
                Cursor::Start(Some(a)) | Cursor::Marker(a) | Cursor::Token(a) => {
                    req = req.marker(a)
                }
                Cursor::Start(None) => {}
                Cursor::Done => return Ok((Vec::new(), Cursor::Done)),
            }
            let out = req.send().await.map_err(|e| map_sdk(path, e))?;
            entries = page_entries(out.contents(), out.common_prefixes());
            next = match (out.is_truncated(), out.next_marker(), entries.last()) {
                (Some(true), Some(m), _) => Cursor::Marker(m.to_owned()),
                (Some(true), None, Some(last)) => Cursor::Marker(last.key().to_owned()),
                _ => Cursor::Done,
            };
        } else {
            let mut req = self
                .client()
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix);
            if delimiter {
                req = req.delimiter("/");
            }
            match cursor {
                Cursor::Start(a) => req = req.set_start_after(a),
                Cursor::Token(t) => req = req.continuation_token(t),
                Cursor::Marker(m) => req = req.start_after(m),
                Cursor::Done => return Ok((Vec::new(), Cursor::Done)),
            }
            let out = req.send().await.map_err(|e| map_sdk(path, e))?;
            entries = page_entries(out.contents(), out.common_prefixes());
            next = match (
                out.is_truncated(),
                out.next_continuation_token(),
                entries.last(),
            ) {
                (Some(true), Some(t), _) => Cursor::Token(t.to_owned()),
                (Some(true), None, Some(last)) => Cursor::Marker(last.key().to_owned()),
                _ => Cursor::Done,
            };
        }
        Ok((entries, next))
    }
}

/// One page's objects and common prefixes, merged in key byte order.
fn page_entries(
    contents: &[aws_sdk_s3::types::Object],
    prefixes: &[aws_sdk_s3::types::CommonPrefix],
) -> Vec<ListEntry> {
    let mut entries: Vec<ListEntry> = contents
        .iter()
        .map(|o| ListEntry::Object(object_meta(o)))
        .chain(
            prefixes
                .iter()
                .filter_map(|p| p.prefix().map(|p| ListEntry::Prefix(p.to_owned()))),
        )
        .collect();
    entries.sort_by(|a, b| a.key().as_bytes().cmp(b.key().as_bytes()));
    entries
}

fn object_meta(o: &aws_sdk_s3::types::Object) -> ObjectMeta {
    ObjectMeta {
        key: o.key().unwrap_or_default().to_owned(),
        size: o.size().unwrap_or(0).max(0) as u64,
        last_modified: o.last_modified().and_then(to_chrono),
        e_tag: unquote(o.e_tag()),
        version: None,
        storage_class: Some(
            o.storage_class()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_else(|| "STANDARD".to_owned()),
        ),
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
        let Some(src) = src.as_any().downcast_ref::<S3Store>() else {
            return Err(Error::NotSupported {
                path: self.path(dst_key),
                operation: "server-side copy from another kind of store",
            });
        };
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

struct S3Upload {
    store: S3Store,
    key: String,
    upload_id: String,
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

/// What an S3 error response said.
#[derive(Debug)]
struct S3Detail {
    status: Option<u16>,
    code: Option<String>,
    message: Option<String>,
}

impl fmt::Display for S3Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(s) = self.status {
            parts.push(format!("HTTP {s}"));
        }
        if let Some(c) = &self.code {
            parts.push(c.clone());
        }
        if let Some(m) = self.message.as_ref().filter(|m| !m.is_empty()) {
            parts.push(m.clone());
        }
        if parts.is_empty() {
            parts.push("unknown S3 error".to_owned());
        }
        let clock = self.message.as_deref().is_some_and(|m| m.contains("clock"));
        if self.code.is_none() && self.status == Some(403) && !clock {
            parts.push("(wrong credentials, or no permission)".to_owned());
        }
        f.write_str(&parts.join(" "))
    }
}

impl std::error::Error for S3Detail {}

fn status_of<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// Maps an SDK error, turning "not implemented" answers into [`Error::NotSupported`].
fn map_sdk_not_supported<E>(
    path: String,
    err: SdkError<E, HttpResponse>,
    operation: &'static str,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if err.code() == Some("NotImplemented") || status_of(&err) == Some(501) {
        return Error::NotSupported { path, operation };
    }
    map_sdk(path, err)
}

/// [`map_sdk`] for the requests of a multipart upload in progress: a server that no longer
/// knows the upload (`NoSuchUpload`: it expired, was aborted, or the server lost it) makes the
/// copy start over with a new upload, so it is transient here (elsewhere, e.g. when aborting,
/// it means "already gone").
fn map_upload_sdk<E>(path: String, err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if err.code() == Some("NoSuchUpload") {
        return Error::Transient {
            path,
            source: msg(
                "the server no longer knows this multipart upload (NoSuchUpload); the object is sent again",
            ),
        };
    }
    map_sdk(path, err)
}

/// A 400 or 403 without an S3 error code: the answer to a HEAD, which has no body to say why.
fn codeless<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::ServiceError(se) => {
            se.err().code().is_none() && matches!(se.raw().status().as_u16(), 400 | 403)
        }
        _ => false,
    }
}

/// Explains a [`codeless`] refusal of a HEAD: asks the same server with a request whose error
/// has a body (a one-key listing) and reports that error (ExpiredToken, InvalidAccessKeyId,
/// AccessDenied, ...). The HEAD's own error when the listing works.
async fn explain<E>(
    client: &Client,
    bucket: &str,
    prefix: &str,
    path: String,
    head: SdkError<E, HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let listed = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .max_keys(1)
        .send()
        .await;
    match listed {
        Err(e) if e.code().is_some() => map_sdk(path, e),
        _ => map_sdk(path, head),
    }
}

/// Maps an SDK error into the public store error.
pub(crate) fn map_sdk<E>(path: String, err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().map(str::to_owned);
            // Without an S3 error code, the SDK's own text says what went wrong (e.g. a
            // response it could not parse).
            let status = se.raw().status().as_u16();
            let skew = (status == 403).then(|| clock_skew(se.raw())).flatten();
            let message = match (se.err().message(), &code, skew) {
                // Still refused after the SDK signed with the server's time.
                (_, _, Some(skew)) => Some(format!(
                    "this machine's clock is {} {} the server's (SigV4 allows 15 minutes): \
                     set the clock right (NTP)",
                    human_secs(skew.unsigned_abs()),
                    if skew > 0 { "behind" } else { "ahead of" }
                )),
                (Some(m), _, None) => Some(m.to_owned()),
                (None, None, None) => Some(DisplayErrorContext(se.err()).to_string()),
                (None, Some(_), None) => None,
            };
            let detail = S3Detail {
                status: Some(status),
                code,
                message,
            };
            classify(path, detail)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            let full = DisplayErrorContext(&err).to_string();
            // Not worth retrying: the same certificate comes back.
            if let Some(why) = untrusted_certificate(&full) {
                return Error::Generic {
                    path,
                    source: msg(format!(
                        "TLS certificate not trusted ({why}); to trust a private CA, give the \
                         alias its certificate (ferry alias set --ca-cert FILE; ca_cert in \
                         ferryd.toml)"
                    )),
                };
            }
            Error::Transient {
                path,
                source: msg(connection_message(&err)),
            }
        }
        _ => Error::Generic {
            path,
            source: msg(DisplayErrorContext(&err).to_string()),
        },
    }
}

fn connection_message<E: std::error::Error + 'static>(err: &SdkError<E, HttpResponse>) -> String {
    let full = DisplayErrorContext(err).to_string();
    let lower = full.to_ascii_lowercase();
    if lower.contains("connection refused") {
        "cannot connect: connection refused (is the server running and the URL right?)".to_owned()
    } else if lower.contains("dns error") || lower.contains("failed to lookup") {
        "cannot resolve the endpoint's host name".to_owned()
    } else if matches!(err, SdkError::TimeoutError(_)) {
        "request timed out".to_owned()
    } else {
        full
    }
}

/// Why the server's TLS certificate was refused (`UnknownIssuer`, `Expired`, ...), if it was.
fn untrusted_certificate(full: &str) -> Option<String> {
    const MARK: &str = "invalid peer certificate: ";
    if let Some(at) = full.find(MARK) {
        // `UnknownIssuer`, or the innermost name of `Other(OtherError(CaUsedAsEndEntity))`.
        let token: String = full[at + MARK.len()..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != ',')
            .collect();
        return token
            .split(['(', ')'])
            .rfind(|s| !s.is_empty())
            .map(str::to_owned);
    }
    let lower = full.to_ascii_lowercase();
    (lower.contains("certificate") && (lower.contains("tls") || lower.contains("handshake")))
        .then(|| "the TLS handshake failed".to_owned())
}

fn classify(path: String, detail: S3Detail) -> Error {
    let code = detail.code.as_deref().unwrap_or("");
    let status = detail.status.unwrap_or(0);
    let source: BoxError = Box::new(detail_owned(&detail));
    match (code, status) {
        ("NoSuchKey" | "NoSuchBucket" | "NoSuchUpload" | "NotFound", _) | (_, 404) => {
            Error::NotFound { path, source }
        }
        (
            "InvalidAccessKeyId"
            | "NotSignedUp"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "InvalidToken"
            | "TokenRefreshRequired"
            | "AuthorizationHeaderMalformed"
            | "InvalidSecurity"
            | "RequestTimeTooSkewed",
            _,
        )
        | (_, 401) => Error::Unauthenticated { path, source },
        ("AccessDenied" | "AllAccessDisabled" | "AccountProblem", _) | (_, 403) => {
            Error::PermissionDenied { path, source }
        }
        ("PreconditionFailed" | "ConditionalRequestConflict", _) | (_, 412) => {
            Error::Precondition { path, source }
        }
        ("BucketAlreadyExists" | "BucketAlreadyOwnedByYou", _) | (_, 409)
            if code != "BucketNotEmpty" =>
        {
            Error::AlreadyExists { path, source }
        }
        (
            "SlowDown" | "RequestTimeout" | "InternalError" | "ServiceUnavailable" | "Throttling",
            _,
        )
        | (_, 429) => Error::Transient { path, source },
        (_, s) if s >= 500 && s != 501 => Error::Transient { path, source },
        _ => Error::Generic { path, source },
    }
}

fn detail_owned(d: &S3Detail) -> S3Detail {
    S3Detail {
        status: d.status,
        code: d.code.clone(),
        message: d.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_certificates_are_named() {
        let rustls = "dispatch failure: io error: client error (Connect): TLS handshake failed: \
                      invalid peer certificate: UnknownIssuer (DispatchFailure(...))";
        assert_eq!(
            untrusted_certificate(rustls).as_deref(),
            Some("UnknownIssuer")
        );
        let nested = "TLS handshake failed: invalid peer certificate: \
                      Other(OtherError(CaUsedAsEndEntity)) (DispatchFailure";
        assert_eq!(
            untrusted_certificate(nested).as_deref(),
            Some("CaUsedAsEndEntity")
        );
        assert_eq!(
            untrusted_certificate("connection refused (os error 111)"),
            None
        );
    }

    #[test]
    fn regions_and_addressing_from_hosts() {
        assert_eq!(
            region_from_host("s3.eu-west-1.amazonaws.com").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region_from_host("s3-us-west-2.amazonaws.com").as_deref(),
            Some("us-west-2")
        );
        assert_eq!(region_from_host("s3.amazonaws.com"), None);
        assert_eq!(
            region_from_host("oss-cn-hangzhou.aliyuncs.com").as_deref(),
            Some("oss-cn-hangzhou")
        );
        assert_eq!(
            region_from_host("cos.ap-guangzhou.myqcloud.com").as_deref(),
            Some("ap-guangzhou")
        );
        assert_eq!(region_from_host("127.0.0.1"), None);
        assert!(virtual_host_by_default("s3.amazonaws.com"));
        assert!(virtual_host_by_default("cos.ap-guangzhou.myqcloud.com"));
        assert!(!virtual_host_by_default("minio.internal"));
        assert!(!virtual_host_by_default("storage.googleapis.com"));
    }

    #[test]
    fn copy_source_is_percent_encoded() {
        assert_eq!(
            copy_source("b", "dir/a b+ü.txt"),
            "b/dir/a%20b%2B%C3%BC.txt"
        );
    }

    #[test]
    fn credentials_debug_hides_secrets() {
        let c = S3Credentials::Static {
            access_key: "AKID".into(),
            secret_key: "very-secret".into(),
            session_token: Some("tok-secret".into()),
        };
        let shown = format!("{c:?}");
        assert!(
            shown.contains("AKID")
                && !shown.contains("very-secret")
                && !shown.contains("tok-secret")
        );
    }

    #[test]
    fn errors_are_classified() {
        let d = |status, code: &str| S3Detail {
            status: Some(status),
            code: Some(code.to_owned()),
            message: None,
        };
        assert!(matches!(
            classify("p".into(), d(404, "NoSuchBucket")),
            Error::NotFound { .. }
        ));
        assert!(matches!(
            classify("p".into(), d(403, "SignatureDoesNotMatch")),
            Error::Unauthenticated { .. }
        ));
        assert!(matches!(
            classify("p".into(), d(403, "AccessDenied")),
            Error::PermissionDenied { .. }
        ));
        assert!(matches!(
            classify("p".into(), d(503, "SlowDown")),
            Error::Transient { .. }
        ));
        assert!(matches!(
            classify("p".into(), d(412, "PreconditionFailed")),
            Error::Precondition { .. }
        ));
        assert!(matches!(
            classify("p".into(), d(409, "BucketNotEmpty")),
            Error::Generic { .. }
        ));
        assert!(matches!(
            classify("p".into(), d(409, "BucketAlreadyOwnedByYou")),
            Error::AlreadyExists { .. }
        ));
    }
}
