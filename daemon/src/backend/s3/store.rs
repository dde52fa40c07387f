//! One bucket of an endpoint: the [`S3Store`] the other parts of the backend work on.

use std::fmt;
use std::sync::Arc;

use aws_sdk_s3::Client;
use chrono::{DateTime, Utc};

pub(super) const GIB: u64 = 1024 * 1024 * 1024;
/// Largest object a single CopyObject may copy.
pub(super) const MAX_SINGLE_COPY: u64 = 5 * GIB;
/// Part size for server-side multipart copies.
pub(super) const COPY_PART_SIZE: u64 = 512 * 1024 * 1024;
/// Concurrent UploadPartCopy requests for one object.
pub(super) const COPY_CONCURRENCY: usize = 8;

/// An endpoint's client and what it knows, shared by its buckets.
pub(super) struct Inner {
    pub(super) client: Client,
    pub(super) label: String,
    /// Endpoint URL, or `aws:<region>` for AWS's own endpoints.
    pub(super) endpoint: String,
    /// Endpoint + region + access key + secret fingerprint: two stores with equal identity can
    /// copy server-side.
    pub(super) identity: String,
    pub(super) list_v1: bool,
    /// Requests are signed with their body's SHA-256 (SDK checksums only when required: no
    /// streaming checksum trailer takes the place of the payload hash).
    pub(super) signs_payloads: bool,
    /// Keys whose CreateMultipartUpload failed after a request went out: the server may have
    /// created an upload whose answer was lost (see [`S3Store::create_upload`]).
    pub(super) suspect_uploads: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Endpoint")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// One bucket.
#[derive(Clone)]
pub struct S3Store {
    pub(super) inner: Arc<Inner>,
    pub(super) bucket: String,
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
    pub fn bucket_name(&self) -> &str {
        &self.bucket
    }

    pub(super) fn path(&self, key: &str) -> String {
        format!("{}/{}/{key}", self.inner.label, self.bucket)
    }

    pub(super) fn client(&self) -> &Client {
        &self.inner.client
    }

    /// A presigned GET URL for `key`, valid for `expires`: how another service (Azure's Put
    /// Blob From URL) reads the object without the bytes passing through ferry. A secret: the
    /// URL carries a signature, so it is never logged or shown.
    pub async fn presign_get(
        &self,
        key: &str,
        expires: std::time::Duration,
    ) -> crate::backend::Result<String> {
        let path = self.path(key);
        let config =
            aws_sdk_s3::presigning::PresigningConfig::expires_in(expires).map_err(|e| {
                crate::backend::Error::Generic {
                    path: path.clone(),
                    source: Box::new(e),
                }
            })?;
        let req = self
            .inner
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| super::errors::map_sdk(path, e))?;
        Ok(req.uri().to_owned())
    }
}

pub(super) fn unquote(etag: Option<&str>) -> Option<String> {
    etag.map(|e| e.trim_matches('"').to_owned())
}

pub(super) fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())
}
