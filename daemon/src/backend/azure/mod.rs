//! Azure Blob Storage, through the official `azure_storage_blob` SDK on our own transport.
//!
//! - [`AzureEndpoint`]: one account (its service URL and credentials): containers.
//! - [`AzureStore`]: one container as an [`ObjectStore`](super::ObjectStore).
//!
//! The SDK builds and parses the block operations (Put Block with its MD5, Put Block List,
//! Get Block List) and the container calls. Plain reads, writes, deletes and listings go
//! through the same pipeline (same transport, signer and retries) as raw requests: the SDK's
//! download is a partitioned, buffering one, and its listing has no delimiter.
//!
//! Credentials: a Shared Key (signed by [`sharedkey`]), a SAS token (appended to every URL), or
//! none (public containers).

mod blocks;
pub mod connstr;
mod errors;
mod listing;
mod sharedkey;
mod store;
mod transport;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{ClientOptions, Context, Pipeline, Request, Transport, Url};
use azure_storage_blob::{BlobServiceClient, BlobServiceClientOptions};

pub use store::AzureStore;

use super::{Error, Result};

/// How requests are authorized.
#[derive(Clone)]
pub enum AzureCredentials {
    /// The account key (base64), for Shared Key signatures.
    SharedKey(String),
    /// A SAS token (the query string, with or without a leading `?`).
    Sas(String),
    /// No authorization (public read access).
    Anonymous,
}

impl std::fmt::Debug for AzureCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AzureCredentials::SharedKey(_) => "SharedKey(<redacted>)",
            AzureCredentials::Sas(_) => "Sas(<redacted>)",
            AzureCredentials::Anonymous => "Anonymous",
        })
    }
}

/// One storage account.
#[derive(Debug, Clone)]
pub struct AzureConfig {
    /// The alias (for messages).
    pub label: String,
    /// The blob service URL: `https://ACCOUNT.blob.core.windows.net` or Azurite's path style
    /// `http://127.0.0.1:10000/devstoreaccount1`.
    pub endpoint: Url,
    pub account: String,
    pub credentials: AzureCredentials,
    /// An extra CA certificate to trust.
    pub ca_cert: Option<PathBuf>,
}

/// Hands a request to the rest of the pipeline (the transport is always last, after our
/// policies).
pub(crate) async fn send_next(
    ctx: &Context<'_>,
    request: &mut Request,
    next: &[Arc<dyn Policy>],
) -> PolicyResult {
    match next.split_first() {
        Some((first, rest)) => first.send(ctx, request, rest).await,
        None => Err(azure_core::Error::with_message(
            azure_core::error::ErrorKind::Other,
            "no transport after ferry's policies",
        )),
    }
}

/// Appends a SAS token's parameters to every request URL.
#[derive(Clone)]
struct SasPolicy {
    pairs: Vec<(String, String)>,
}

impl std::fmt::Debug for SasPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SasPolicy(<redacted>)")
    }
}

#[async_trait]
impl Policy for SasPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        {
            let url = request.url_mut();
            let present: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
            let mut q = url.query_pairs_mut();
            for (k, v) in &self.pairs {
                if !present.contains(k) {
                    q.append_pair(k, v);
                }
            }
        }
        send_next(ctx, request, next).await
    }
}

/// The account's clients, shared by its containers.
pub(crate) struct Account {
    pub(crate) label: String,
    pub(crate) endpoint: Url,
    pub(crate) service: BlobServiceClient,
    /// For the raw requests.
    pub(crate) pipeline: Pipeline,
    /// The service version the SDK speaks, sent with raw requests too.
    pub(crate) version: String,
    /// A fingerprint of the credential (for [`super::ObjectStore::canonical`]).
    pub(crate) fingerprint: String,
}

impl Account {
    /// Sends a raw request through the account's pipeline (its transport, signer and
    /// retries); non-success statuses are errors, met at `path`.
    pub(crate) async fn send(
        &self,
        method: azure_core::http::Method,
        url: Url,
        headers: &[(&'static str, String)],
        body: bytes::Bytes,
        path: &str,
    ) -> Result<azure_core::http::AsyncRawResponse> {
        let mut req = Request::new(url, method);
        req.insert_header("x-ms-version", self.version.clone());
        for (k, v) in headers {
            req.insert_header(*k, v.clone());
        }
        if !body.is_empty() || matches!(method, azure_core::http::Method::Put) {
            req.insert_header("content-length", body.len().to_string());
            req.set_body(body);
        }
        self.pipeline
            .stream(&Context::new(), &mut req, None)
            .await
            .map_err(|e| errors::map(path, e))
    }
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("label", &self.label)
            .field("endpoint", &self.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

/// One storage account's service.
#[derive(Debug, Clone)]
pub struct AzureEndpoint {
    pub(crate) inner: Arc<Account>,
}

impl AzureEndpoint {
    /// Builds the clients. No request is sent until the first operation.
    pub fn connect(config: &AzureConfig) -> Result<Self> {
        let label = config.label.clone();
        let transport = transport::HyperTransport::new(config.ca_cert.as_deref()).map_err(|e| {
            Error::Generic {
                path: label.clone(),
                source: Box::new(e),
            }
        })?;
        let mut per_try: Vec<Arc<dyn Policy>> = Vec::new();
        let fingerprint = match &config.credentials {
            AzureCredentials::SharedKey(key) => {
                if azure_core::base64::decode(key).is_err() {
                    return Err(Error::Generic {
                        path: label,
                        source: super::error::msg(
                            "the account key is not base64 (copy it from the portal's Access keys)",
                        ),
                    });
                }
                per_try.push(Arc::new(sharedkey::SharedKeyPolicy::new(
                    &config.account,
                    key,
                )));
                fingerprint(key)
            }
            AzureCredentials::Sas(sas) => {
                let sas = sas.trim_start_matches('?');
                let pairs = url::form_urlencoded::parse(sas.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                // The SAS goes first: it must be on the URL before anything signs or logs it.
                per_try.insert(0, Arc::new(SasPolicy { pairs }));
                fingerprint(sas)
            }
            AzureCredentials::Anonymous => String::new(),
        };
        let client_options = ClientOptions {
            transport: Some(Transport::new(Arc::new(transport))),
            per_try_policies: per_try,
            ..ClientOptions::default()
        };
        let options = BlobServiceClientOptions {
            client_options: client_options.clone(),
            ..BlobServiceClientOptions::default()
        };
        let version = options.version.clone();
        let service = BlobServiceClient::new(config.endpoint.clone(), None, Some(options))
            .map_err(|e| Error::Generic {
                path: label.clone(),
                source: Box::new(e),
            })?;
        let pipeline = Pipeline::new(
            Some("ferry"),
            Some(env!("CARGO_PKG_VERSION")),
            client_options,
            Vec::new(),
            Vec::new(),
            None,
        );
        Ok(AzureEndpoint {
            inner: Arc::new(Account {
                label,
                endpoint: config.endpoint.clone(),
                service,
                pipeline,
                version,
                fingerprint,
            }),
        })
    }

    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// One container as a store.
    pub fn container(&self, name: &str) -> AzureStore {
        AzureStore::new(self.inner.clone(), name)
    }

    /// The account's containers, by name.
    pub async fn list_containers(&self) -> Result<Vec<String>> {
        use futures::TryStreamExt;
        let a = &self.inner;
        let pager = a
            .service
            .list_containers(None)
            .map_err(|e| errors::map(&a.label, e))?;
        let mut names = Vec::new();
        let mut pages = pager.into_pages();
        while let Some(page) = pages
            .try_next()
            .await
            .map_err(|e| errors::map(&a.label, e))?
        {
            let body = page.into_model().map_err(|e| errors::map(&a.label, e))?;
            for c in body.container_items {
                if let Some(n) = c.name {
                    names.push(n);
                }
            }
        }
        Ok(names)
    }

    /// Creates a container.
    pub async fn create_container(&self, name: &str) -> Result<()> {
        store::check_container_name(&self.inner.label, name)?;
        let c = self.inner.service.blob_container_client(name);
        c.create(None)
            .await
            .map(|_| ())
            .map_err(|e| errors::map(&format!("{}/{name}", self.inner.label), e))
    }

    /// Deletes an (empty or not) container.
    pub async fn delete_container(&self, name: &str) -> Result<()> {
        let c = self.inner.service.blob_container_client(name);
        c.delete(None)
            .await
            .map(|_| ())
            .map_err(|e| errors::map(&format!("{}/{name}", self.inner.label), e))
    }

    /// Whether the container exists and can be read: `NotFound` when it does not.
    pub async fn head_container(&self, name: &str) -> Result<()> {
        let c = self.inner.service.blob_container_client(name);
        c.get_properties(None)
            .await
            .map(|_| ())
            .map_err(|e| errors::map(&format!("{}/{name}", self.inner.label), e))
    }
}

/// A short stable fingerprint of a credential (never the credential).
fn fingerprint(secret: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(secret.as_bytes());
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}
