//! One server with one set of credentials (an alias): connecting (TLS, signing, retries,
//! the quirk-fixing HTTP client) and bucket operations.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use chrono::{DateTime, Utc};
use sha2::Digest;

use super::config::*;
use super::errors::*;
use super::interceptors::*;
use super::store::*;
use crate::backend::{Error, Result};

/// One S3 server with one set of credentials.
#[derive(Debug, Clone)]
pub struct S3Endpoint {
    pub(super) inner: Arc<Inner>,
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
            super::quirks::QuirkFixingClient::new(http),
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
            .retry_classifier(SkewedRefusal)
            .retry_classifier(WrongScheme);
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
                signs_payloads: config.checksums == ChecksumMode::WhenRequired,
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
