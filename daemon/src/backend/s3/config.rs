//! An S3 alias's settings: credentials, checksums, addressing, and what a host name says
//! about its region and addressing style.

use std::fmt;
use std::path::PathBuf;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
