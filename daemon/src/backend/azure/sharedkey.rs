//! Shared Key authorization for the Blob service (the official SDK signs with Entra tokens or
//! SAS only): an HMAC-SHA256, keyed with the account key, over a canonical form of each
//! request, sent as `Authorization: SharedKey ACCOUNT:SIGNATURE`.
//!
//! The string to sign (service version 2015-02-21 and later) is the verb, eleven standard
//! headers in a fixed order (Content-Length empty when zero), the `x-ms-` headers sorted by
//! name, and the resource: `/ACCOUNT` + the URL's encoded path, then each query parameter
//! (name lower-cased, value decoded) on its own line, sorted by name.

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::Secret;
use azure_core::http::Context;
use azure_core::http::Request;
use azure_core::http::policies::{Policy, PolicyResult};

/// Signs every request it sees with an account key. Runs last before the transport, after
/// every header is set.
#[derive(Clone)]
pub(crate) struct SharedKeyPolicy {
    account: String,
    key: Secret,
}

impl std::fmt::Debug for SharedKeyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedKeyPolicy")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl SharedKeyPolicy {
    pub(crate) fn new(account: &str, key: &str) -> Self {
        SharedKeyPolicy {
            account: account.to_owned(),
            key: Secret::new(key.to_owned()),
        }
    }
}

/// RFC 1123 time, as `x-ms-date` wants it.
pub(crate) fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The string a request is signed over. `headers` are (lower-case name, value);
/// `content_length` is the body's.
pub(crate) fn string_to_sign(
    account: &str,
    method: &str,
    url: &url::Url,
    headers: &[(String, String)],
    content_length: u64,
) -> String {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let length = if content_length == 0 {
        String::new()
    } else {
        content_length.to_string()
    };
    let mut s = String::with_capacity(256);
    s.push_str(method);
    s.push('\n');
    for name in ["content-encoding", "content-language"] {
        s.push_str(header(name));
        s.push('\n');
    }
    s.push_str(&length);
    s.push('\n');
    for name in [
        "content-md5",
        "content-type",
        "date",
        "if-modified-since",
        "if-match",
        "if-none-match",
        "if-unmodified-since",
        "range",
    ] {
        s.push_str(header(name));
        s.push('\n');
    }
    let mut ms: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(n, _)| n.starts_with("x-ms-"))
        .map(|(n, v)| (n.as_str(), v.trim()))
        .collect();
    ms.sort();
    for (n, v) in ms {
        s.push_str(n);
        s.push(':');
        s.push_str(v);
        s.push('\n');
    }
    s.push('/');
    s.push_str(account);
    s.push_str(url.path());
    let mut params: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in url.query_pairs() {
        let k = k.to_lowercase();
        match params.iter_mut().find(|(n, _)| *n == k) {
            Some((_, vs)) => vs.push(v.into_owned()),
            None => params.push((k, vec![v.into_owned()])),
        }
    }
    params.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, mut vs) in params {
        vs.sort();
        s.push('\n');
        s.push_str(&k);
        s.push(':');
        s.push_str(&vs.join(","));
    }
    s
}

#[async_trait]
impl Policy for SharedKeyPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        request.insert_header("x-ms-date", http_date(chrono::Utc::now()));
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_ascii_lowercase(), v.as_str().to_owned()))
            .collect();
        let length = request.body().len().unwrap_or(0);
        let text = string_to_sign(
            &self.account,
            request.method().as_str(),
            request.url(),
            &headers,
            length,
        );
        let signature = azure_core::hmac::hmac_sha256(&text, &self.key)?;
        request.insert_header(
            "authorization",
            format!("SharedKey {}:{signature}", self.account),
        );
        super::send_next(ctx, request, next).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_form_orders_headers_and_query_and_empties_a_zero_length() {
        let url = url::Url::parse(
            "http://127.0.0.1:10000/devstoreaccount1/c/a%20b?restype=container&comp=list&Prefix=x%2Fy",
        )
        .expect("url");
        let headers = vec![
            ("x-ms-version".to_owned(), "2025-11-05".to_owned()),
            (
                "x-ms-date".to_owned(),
                "Sun, 29 Nov 2026 18:00:00 GMT".to_owned(),
            ),
            ("content-type".to_owned(), "application/xml".to_owned()),
        ];
        let s = string_to_sign("devstoreaccount1", "GET", &url, &headers, 0);
        assert_eq!(
            s,
            "GET\n\n\n\n\napplication/xml\n\n\n\n\n\n\n\
             x-ms-date:Sun, 29 Nov 2026 18:00:00 GMT\nx-ms-version:2025-11-05\n\
             /devstoreaccount1/devstoreaccount1/c/a%20b\ncomp:list\nprefix:x/y\nrestype:container"
        );
        let put = string_to_sign("acct", "PUT", &url, &[], 5);
        assert!(put.starts_with("PUT\n\n\n5\n"), "{put}");
    }

    #[test]
    fn dates_are_rfc_1123() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-29T08:05:09Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        assert_eq!(http_date(t), "Sun, 29 Nov 2026 08:05:09 GMT");
    }
}
