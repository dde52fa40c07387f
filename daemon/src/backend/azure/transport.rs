//! The HTTP client under the Blob SDK: hyper with rustls on ring, the same TLS stack as the S3
//! side (the SDK's default would pull reqwest and aws-lc), trusting the system's roots plus the
//! alias's `--ca-cert`.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::error::ErrorKind;
use azure_core::http::headers::Headers;
use azure_core::http::request::{Body, Request};
use azure_core::http::{AsyncRawResponse, HttpClient, StatusCode};
use bytes::Bytes;
use futures::TryStreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// hyper over rustls, as the SDK's [`HttpClient`].
#[derive(Clone)]
pub(crate) struct HyperTransport {
    client: Client<Https, Full<Bytes>>,
}

impl std::fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HyperTransport")
    }
}

/// Why a TLS setup failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    #[error("cannot read CA certificate {}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("CA certificate {}: no PEM certificate in it", path.display())]
    NoCertificate { path: std::path::PathBuf },
    #[error("TLS setup")]
    Rustls(#[source] rustls::Error),
}

impl HyperTransport {
    /// A client trusting the system's roots and, when given, the PEM certificates of `ca_cert`.
    pub(crate) fn new(ca_cert: Option<&Path>) -> Result<Self, TlsError> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            // A system root rustls cannot parse is skipped, as curl does.
            let _ = roots.add(cert);
        }
        if let Some(path) = ca_cert {
            let pem = std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_owned(),
                source,
            })?;
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
                roots.add(cert).map_err(TlsError::Rustls)?;
                added += 1;
            }
            if added == 0 {
                return Err(TlsError::NoCertificate {
                    path: path.to_owned(),
                });
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(std::time::Duration::from_secs(10)));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(std::time::Duration::from_secs(30))
            .build(https);
        Ok(HyperTransport { client })
    }
}

fn io_error(e: impl std::error::Error + Send + Sync + 'static) -> azure_core::Error {
    azure_core::Error::new(ErrorKind::Io, e)
}

#[async_trait]
impl HttpClient for HyperTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let body = match request.body() {
            Body::Bytes(b) => b.clone(),
            Body::SeekableStream(s) => {
                use futures::AsyncReadExt;
                let mut s = s.clone();
                s.reset().await?;
                let mut buf = Vec::new();
                s.read_to_end(&mut buf).await.map_err(io_error)?;
                Bytes::from(buf)
            }
        };
        let mut builder = hyper::Request::builder()
            .method(request.method().as_str())
            .uri(request.url().as_str());
        for (name, value) in request.headers().iter() {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let req = builder
            .body(Full::new(body))
            .map_err(|e| azure_core::Error::new(ErrorKind::DataConversion, e))?;
        let resp = self.client.request(req).await.map_err(|e| {
            let kind = if e.is_connect() {
                ErrorKind::Connection
            } else {
                ErrorKind::Io
            };
            azure_core::Error::new(kind, e)
        })?;
        let status = StatusCode::from(resp.status().as_u16());
        let mut headers = Headers::new();
        for (name, value) in resp.headers() {
            if let Ok(v) = value.to_str() {
                headers.insert(name.as_str().to_owned(), v.to_owned());
            }
        }
        let stream = resp.into_body().into_data_stream().map_err(io_error);
        Ok(AsyncRawResponse::new(status, headers, Box::pin(stream)))
    }
}
