//! Fixes for S3-compatible servers whose answers the SDK would refuse.
//!
//! aws-sdk-s3 checks the root element of every XML answer. Some servers that other S3 clients
//! (Go SDK, boto) accept name it differently:
//! - rclone serve s3 answers CreateMultipartUpload with `<InitiateMultipartUpload>`;
//! - moto answers CompleteMultipartUpload with `<CompleteMultipartUploadResponse>` and
//!   ListParts with `<ListPartsResponse>`.
//!
//! [`QuirkFixingClient`] wraps the HTTP client: for those requests only (small XML bodies:
//! the multipart POSTs and ListParts), it reads the answer and renames the root element to
//! what S3 sends. Every other request passes through untouched, bodies still streamed.
//!
//! It also names one mistake: an `http://` alias for a TLS port. Such servers cut the
//! connection (Go's answer races its reset), which reads like any network failure; when a
//! plain-HTTP request is cut without an answer, a TLS ClientHello asks the port whether it
//! speaks TLS, and the error then says so (and is not retried).

use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;

/// (root element sent by some servers, root element S3 sends)
const ROOT_RENAMES: &[(&str, &str)] = &[
    ("InitiateMultipartUpload", "InitiateMultipartUploadResult"),
    (
        "CompleteMultipartUploadResponse",
        "CompleteMultipartUploadResult",
    ),
    ("ListPartsResponse", "ListPartsResult"),
];

/// An HTTP client that repairs known non-standard answers.
#[derive(Debug, Clone)]
pub(crate) struct QuirkFixingClient {
    inner: SharedHttpClient,
}

impl QuirkFixingClient {
    pub(crate) fn new(inner: SharedHttpClient) -> Self {
        QuirkFixingClient { inner }
    }
}

impl HttpClient for QuirkFixingClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(QuirkFixingConnector {
            inner: self.inner.http_connector(settings, components),
        })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct QuirkFixingConnector {
    inner: SharedHttpConnector,
}

/// The multipart POSTs (create, complete) and ListParts (a GET with an upload id).
fn is_fixable(request: &HttpRequest) -> bool {
    let uri = request.uri();
    let query = uri.split_once('?').map_or("", |(_, q)| q);
    match request.method() {
        "POST" => query
            .split('&')
            .any(|p| p == "uploads" || p.starts_with("uploads=") || p.starts_with("uploadId=")),
        "GET" => query.split('&').any(|p| p.starts_with("uploadId=")),
        _ => false,
    }
}

/// `host:port` of a plain-HTTP request (`None` for https).
fn plain_http_authority(request: &HttpRequest) -> Option<String> {
    let rest = request.uri().strip_prefix("http://")?;
    let authority = rest.split(['/', '?']).next()?;
    if authority.is_empty() {
        return None;
    }
    Some(
        if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        },
    )
}

/// A connection cut without an HTTP answer (what a TLS server does with plain HTTP).
fn cut_without_answer(e: &ConnectorError) -> bool {
    let mut text = format!("{e:?}");
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = cur {
        text.push(' ');
        text.push_str(&x.to_string());
        cur = x.source();
    }
    let t = text.to_ascii_lowercase();
    [
        "connection reset",
        "connection closed before message completed",
        "unexpected eof",
        "broken pipe",
        "invalid http",
    ]
    .iter()
    .any(|m| t.contains(m))
}

/// A TLS 1.2 ClientHello without extensions (one cipher suite, a zero random): any TLS server
/// answers it with a handshake record or an alert; a plain-HTTP server does not.
fn client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0u8; 32]);
    body.extend_from_slice(&[0x00, 0x00, 0x02, 0xc0, 0x2f, 0x01, 0x00]);
    let mut hs = vec![0x01, 0x00, 0x00, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, hs.len() as u8];
    record.extend_from_slice(&hs);
    record
}

/// Whether `authority` speaks TLS: its first byte back to a ClientHello is a TLS handshake
/// (0x16) or alert (0x15) record.
async fn speaks_tls(authority: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(authority).await.ok()?;
        s.write_all(&client_hello()).await.ok()?;
        let mut first = [0u8; 1];
        s.read_exact(&mut first).await.ok()?;
        Some(matches!(first[0], 0x15 | 0x16))
    };
    tokio::time::timeout(std::time::Duration::from_secs(2), probe)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

impl HttpConnector for QuirkFixingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let fixable = is_fixable(&request);
        let plain = plain_http_authority(&request);
        let fut = self.inner.call(request);
        if !fixable && plain.is_none() {
            return fut;
        }
        HttpConnectorFuture::new(async move {
            let mut resp = match fut.await {
                Err(e) if cut_without_answer(&e) => {
                    if let Some(authority) = &plain
                        && speaks_tls(authority).await
                    {
                        return Err(ConnectorError::io(crate::backend::error::msg(format!(
                            "plain HTTP request was sent to HTTPS port {authority} (it answered in TLS)"
                        ))));
                    }
                    return Err(e);
                }
                other => other?,
            };
            // Go's TLS servers answer plain HTTP with a bare 400 and reset the connection,
            // often before its body can be read: read it here, and ask the port when it is cut.
            if let Some(authority) = plain.as_ref().filter(|_| resp.status().as_u16() == 400) {
                match ByteStream::new(resp.take_body()).collect().await {
                    Ok(body) => *resp.body_mut() = SdkBody::from(body.into_bytes()),
                    Err(e) => {
                        if speaks_tls(authority).await {
                            return Err(ConnectorError::io(crate::backend::error::msg(format!(
                                "plain HTTP request was sent to HTTPS port {authority} (it answered in TLS)"
                            ))));
                        }
                        return Err(ConnectorError::io(Box::new(e)));
                    }
                }
            }
            if !fixable {
                return Ok(resp);
            }
            if resp.status().as_u16() != 200 {
                return Ok(resp);
            }
            let body = ByteStream::new(resp.take_body())
                .collect()
                .await
                .map_err(|e| ConnectorError::io(Box::new(e)))?
                .into_bytes();
            let fixed = fix_root(&body).map_or(body, bytes::Bytes::from);
            resp.headers_mut()
                .insert("content-length", fixed.len().to_string());
            *resp.body_mut() = SdkBody::from(fixed);
            Ok(resp)
        })
    }
}

/// Renames a known-wrong XML root element; `None` when nothing needs fixing.
fn fix_root(xml: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(xml).ok()?;
    // The first element: skip the declaration, comments and whitespace.
    let mut start = 0;
    loop {
        let i = start + text[start..].find('<')?;
        match text[i + 1..].chars().next()? {
            '?' | '!' => start = i + 1,
            _ => {
                start = i + 1;
                break;
            }
        }
    }
    let name_len = text[start..].find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
    let name = &text[start..start + name_len];
    let (_, good) = ROOT_RENAMES.iter().find(|(bad, _)| *bad == name)?;
    let close = format!("</{name}>");
    let close_at = text.rfind(&close)?;
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..start]);
    out.push_str(good);
    out.push_str(&text[start + name_len..close_at]);
    out.push_str(&format!("</{good}>"));
    out.push_str(&text[close_at + close.len()..]);
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::fix_root;

    #[test]
    fn renames_known_roots_only() {
        let rclone = br#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUpload><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId></InitiateMultipartUpload>"#;
        let fixed = String::from_utf8(fix_root(rclone).expect("fixed")).expect("utf8");
        assert!(
            fixed.contains("<InitiateMultipartUploadResult><Bucket>b</Bucket>"),
            "{fixed}"
        );
        assert!(
            fixed.ends_with("</InitiateMultipartUploadResult>"),
            "{fixed}"
        );

        let moto = br#"<CompleteMultipartUploadResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ETag>"e-2"</ETag></CompleteMultipartUploadResponse>"#;
        let fixed = String::from_utf8(fix_root(moto).expect("fixed")).expect("utf8");
        assert!(
            fixed.starts_with(r#"<CompleteMultipartUploadResult xmlns="#),
            "{fixed}"
        );

        let parts = br#"<ListPartsResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>1</PartNumber></Part></ListPartsResponse>"#;
        let fixed = String::from_utf8(fix_root(parts).expect("fixed")).expect("utf8");
        assert!(
            fixed.starts_with(r#"<ListPartsResult xmlns="#)
                && fixed.ends_with("</ListPartsResult>"),
            "{fixed}"
        );

        assert!(fix_root(b"<InitiateMultipartUploadResult><UploadId>u</UploadId></InitiateMultipartUploadResult>").is_none());
        assert!(fix_root(b"<Error><Code>X</Code></Error>").is_none());
        assert!(fix_root(b"not xml").is_none());
    }
}
