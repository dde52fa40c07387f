//! SDK errors → ferry's error kinds: status and code classified, what the server said kept,
//! connection and TLS failures explained.

use std::fmt;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;

use super::interceptors::*;
use crate::backend::error::msg;
use crate::backend::{BoxError, Error};

/// What an S3 error response said.
#[derive(Debug)]
pub(super) struct S3Detail {
    pub(super) status: Option<u16>,
    pub(super) code: Option<String>,
    pub(super) message: Option<String>,
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
        // Some servers repeat the code as the message (`BucketAlreadyExists`).
        let repeats = |m: &str| {
            self.code
                .as_deref()
                .is_some_and(|c| m.trim().trim_end_matches('.').eq_ignore_ascii_case(c))
        };
        if let Some(m) = self
            .message
            .as_ref()
            .filter(|m| !m.is_empty() && !repeats(m))
        {
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

pub(super) fn status_of<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// Maps an SDK error, turning "not implemented" answers into [`Error::NotSupported`].
pub(super) fn map_sdk_not_supported<E>(
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
pub(super) fn map_upload_sdk<E>(path: String, err: SdkError<E, HttpResponse>) -> Error
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
pub(super) fn codeless<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
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
pub(super) async fn explain<E>(
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
            // Go's TLS servers (rclone, MinIO) answer plain HTTP with a plain-text 400.
            if let Some(why) = se
                .raw()
                .body()
                .bytes()
                .and_then(|b| protocol_mismatch(&String::from_utf8_lossy(b)))
            {
                return Error::Generic {
                    path,
                    source: msg(why),
                };
            }
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
            if let Some(why) = protocol_mismatch(&full) {
                return Error::Generic {
                    path,
                    source: msg(why),
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

pub(super) fn connection_message<E: std::error::Error + 'static>(
    err: &SdkError<E, HttpResponse>,
) -> String {
    let full = DisplayErrorContext(err).to_string();
    let lower = full.to_ascii_lowercase();
    if lower.contains("connection refused") {
        "cannot connect: connection refused (is the server running and the URL right?)".to_owned()
    } else if lower.contains("dns error") || lower.contains("failed to lookup") {
        "cannot resolve the endpoint's host name".to_owned()
    } else if matches!(err, SdkError::TimeoutError(_)) {
        "request timed out".to_owned()
    } else {
        format!("cannot reach the server: {}", innermost(err))
    }
}

/// The innermost cause's own words (the SDK's outer layers print themselves with `Debug`).
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let text = cur.to_string();
    if text.is_empty() {
        "the connection failed".to_owned()
    } else {
        text
    }
}

/// Why the server's TLS certificate was refused (`UnknownIssuer`, `Expired`, ...), if it was.
pub(super) fn untrusted_certificate(full: &str) -> Option<String> {
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

pub(super) fn classify(path: String, detail: S3Detail) -> Error {
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
        // The body did not match its signed hash or checksum: damaged on the way; sent again.
        (
            "XAmzContentSHA256Mismatch"
            | "BadDigest"
            | "InvalidDigest"
            | "XAmzContentChecksumMismatch",
            _,
        ) => Error::Transient { path, source },
        (_, s) if s >= 500 && s != 501 => Error::Transient { path, source },
        _ => Error::Generic { path, source },
    }
}

pub(super) fn detail_owned(d: &S3Detail) -> S3Detail {
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
    fn a_code_repeated_as_the_message_is_said_once() {
        let d = S3Detail {
            status: Some(409),
            code: Some("BucketAlreadyExists".into()),
            message: Some("BucketAlreadyExists".into()),
        };
        assert_eq!(d.to_string(), "HTTP 409 BucketAlreadyExists");
        let d = S3Detail {
            status: Some(409),
            code: Some("BucketAlreadyExists".into()),
            message: Some("The requested bucket name is not available.".into()),
        };
        assert_eq!(
            d.to_string(),
            "HTTP 409 BucketAlreadyExists The requested bucket name is not available."
        );
    }

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
