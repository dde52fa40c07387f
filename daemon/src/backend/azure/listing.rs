//! List Blobs, with the delimiter the SDK's pager does not offer: pages of up to 5000 blobs and
//! prefixes, in key byte order, followed by `NextMarker`. Start-after is applied here (Azure's
//! `startFrom` is recent, and the emulator ignores it).

use azure_core::http::{Method, Url};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;

use super::Account;
use super::errors::map;
use crate::backend::error::msg;
use crate::backend::{Error, ListEntry, ListOptions, ObjectMeta, Result};

#[derive(Debug, Deserialize)]
struct EnumerationResults {
    #[serde(rename = "Blobs", default)]
    blobs: Blobs,
    #[serde(rename = "NextMarker", default)]
    next_marker: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
struct Blobs {
    #[serde(rename = "$value", default)]
    items: Vec<Item>,
}

#[derive(Debug, Deserialize)]
enum Item {
    Blob(BlobXml),
    BlobPrefix(PrefixXml),
}

#[derive(Debug, Deserialize)]
struct Name {
    #[serde(rename = "@Encoded", default)]
    encoded: Option<String>,
    #[serde(rename = "$text", default)]
    text: String,
}

impl Name {
    /// Names with characters XML cannot carry come percent-encoded, marked `Encoded="true"`.
    fn decoded(self) -> String {
        if self.encoded.as_deref() == Some("true") {
            percent_encoding::percent_decode_str(&self.text)
                .decode_utf8_lossy()
                .into_owned()
        } else {
            self.text
        }
    }
}

#[derive(Debug, Deserialize)]
struct BlobXml {
    #[serde(rename = "Name")]
    name: Name,
    #[serde(rename = "Properties")]
    properties: Properties,
}

#[derive(Debug, Deserialize)]
struct Properties {
    #[serde(rename = "Last-Modified", default)]
    last_modified: Option<String>,
    #[serde(rename = "Etag", default)]
    etag: Option<String>,
    #[serde(rename = "Content-Length", default)]
    content_length: Option<u64>,
    #[serde(rename = "AccessTier", default)]
    access_tier: Option<String>,
    #[serde(rename = "ResourceType", default)]
    resource_type: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PrefixXml {
    #[serde(rename = "Name")]
    name: Name,
}

struct State {
    account: std::sync::Arc<Account>,
    container_url: Url,
    /// `alias/container`, for messages.
    label: String,
    prefix: String,
    options: ListOptions,
    marker: Option<String>,
    done: bool,
}

/// The listing of `prefix` as a lazy stream.
pub(super) fn list(
    account: std::sync::Arc<Account>,
    container_url: Url,
    label: String,
    prefix: String,
    options: ListOptions,
) -> BoxStream<'static, Result<ListEntry>> {
    let state = State {
        account,
        container_url,
        label,
        prefix,
        options,
        marker: None,
        done: false,
    };
    futures::stream::try_unfold(state, |mut s| async move {
        if s.done {
            return Ok(None);
        }
        let page = page(&s).await?;
        s.marker = page.1.filter(|m| !m.is_empty());
        s.done = s.marker.is_none();
        Ok(Some((
            futures::stream::iter(page.0.into_iter().map(Ok::<_, Error>)),
            s,
        )))
    })
    .try_flatten()
    .boxed()
}

async fn page(s: &State) -> Result<(Vec<ListEntry>, Option<String>)> {
    let path = format!("{}/{}", s.label, s.prefix);
    let mut url: Url = s.container_url.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("restype", "container")
            .append_pair("comp", "list")
            .append_pair("maxresults", "5000");
        if !s.prefix.is_empty() {
            q.append_pair("prefix", &s.prefix);
        }
        if s.options.delimiter {
            q.append_pair("delimiter", "/");
        }
        if let Some(m) = &s.marker {
            q.append_pair("marker", m);
        }
    }
    let resp = s
        .account
        .send(Method::Get, url, &[], Bytes::new(), &path)
        .await?;
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| map(&path, e))?;
    let parsed: EnumerationResults =
        azure_core::xml::from_xml(&body).map_err(|e| Error::Generic {
            path: path.clone(),
            source: msg(format!("unreadable listing: {e}")),
        })?;
    let mut entries = Vec::with_capacity(parsed.blobs.items.len());
    for item in parsed.blobs.items {
        match item {
            Item::Blob(b) => {
                // Hierarchical-namespace accounts list their directories as blobs.
                if b.properties.resource_type.as_deref() == Some("directory") {
                    continue;
                }
                entries.push(ListEntry::Object(ObjectMeta {
                    key: b.name.decoded(),
                    size: b.properties.content_length.unwrap_or(0),
                    last_modified: b
                        .properties
                        .last_modified
                        .as_deref()
                        .and_then(|t| DateTime::parse_from_rfc2822(t).ok())
                        .map(|t| t.with_timezone(&Utc)),
                    e_tag: b.properties.etag.map(|e| e.trim_matches('"').to_owned()),
                    version: None,
                    storage_class: b.properties.access_tier,
                }));
            }
            Item::BlobPrefix(p) => entries.push(ListEntry::Prefix(p.name.decoded())),
        }
    }
    entries.sort_by(|a, b| a.key().as_bytes().cmp(b.key().as_bytes()));
    if let Some(after) = &s.options.start_after {
        entries.retain(|e| match e {
            ListEntry::Object(m) => m.key.as_str() > after.as_str(),
            ListEntry::Prefix(p) => p.as_str() > after.as_str() || after.starts_with(p.as_str()),
        });
    }
    Ok((entries, parsed.next_marker))
}
