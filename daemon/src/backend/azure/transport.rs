//! The HTTP client under the Blob SDK: hyper with rustls on ring, the same TLS stack as the S3
//! side (the SDK's default would pull reqwest and aws-lc), trusting the system's roots plus the
//! alias's `--ca-cert`.

use std::path::Path;

use async_trait::async_trait;
use azure_core::error::ErrorKind;
use azure_core::http::headers::Headers;
use azure_core::http::request::{Body, Request};
use azure_core::http::{AsyncRawResponse, HttpClient, StatusCode};
use bytes::Bytes;
use futures::TryStreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type Https = crate::tls::Https;

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

pub(crate) use crate::tls::TlsError;

impl HyperTransport {
    /// A client trusting the system's roots and, when given, the PEM certificates of `ca_cert`.
    pub(crate) fn new(ca_cert: Option<&Path>) -> Result<Self, TlsError> {
        let https = crate::tls::https_connector(ca_cert, std::time::Duration::from_secs(10))?;
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
