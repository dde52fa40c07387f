//! Listing: v2 (continuation tokens) by default, v1 (markers) when asked; a page at a time.

use super::errors::*;
use super::store::*;
use crate::backend::{ListEntry, ObjectMeta, Result};

/// Where a listing continues.
pub(super) enum Cursor {
    Start(Option<String>),
    Token(String),
    Marker(String),
    Done,
}

impl S3Store {
    pub(super) async fn list_page(
        &self,
        prefix: &str,
        delimiter: bool,
        cursor: Cursor,
    ) -> Result<(Vec<ListEntry>, Cursor)> {
        let path = self.path(prefix);
        let entries;
        let next;
        if self.inner.list_v1 {
            let mut req = self
                .client()
                .list_objects()
                .bucket(&self.bucket)
                .prefix(prefix);
            if delimiter {
                req = req.delimiter("/");
            }
            match cursor {
                Cursor::Start(Some(a)) | Cursor::Marker(a) | Cursor::Token(a) => {
                    req = req.marker(a)
                }
                Cursor::Start(None) => {}
                Cursor::Done => return Ok((Vec::new(), Cursor::Done)),
            }
            let out = req.send().await.map_err(|e| map_sdk(path, e))?;
            entries = page_entries(out.contents(), out.common_prefixes());
            next = match (out.is_truncated(), out.next_marker(), entries.last()) {
                (Some(true), Some(m), _) => Cursor::Marker(m.to_owned()),
                (Some(true), None, Some(last)) => Cursor::Marker(last.key().to_owned()),
                _ => Cursor::Done,
            };
        } else {
            let mut req = self
                .client()
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix);
            if delimiter {
                req = req.delimiter("/");
            }
            match cursor {
                Cursor::Start(a) => req = req.set_start_after(a),
                Cursor::Token(t) => req = req.continuation_token(t),
                Cursor::Marker(m) => req = req.start_after(m),
                Cursor::Done => return Ok((Vec::new(), Cursor::Done)),
            }
            let out = req.send().await.map_err(|e| map_sdk(path, e))?;
            entries = page_entries(out.contents(), out.common_prefixes());
            next = match (
                out.is_truncated(),
                out.next_continuation_token(),
                entries.last(),
            ) {
                (Some(true), Some(t), _) => Cursor::Token(t.to_owned()),
                (Some(true), None, Some(last)) => Cursor::Marker(last.key().to_owned()),
                _ => Cursor::Done,
            };
        }
        Ok((entries, next))
    }
}

/// One page's objects and common prefixes, merged in key byte order.
pub(super) fn page_entries(
    contents: &[aws_sdk_s3::types::Object],
    prefixes: &[aws_sdk_s3::types::CommonPrefix],
) -> Vec<ListEntry> {
    let mut entries: Vec<ListEntry> = contents
        .iter()
        .map(|o| ListEntry::Object(object_meta(o)))
        .chain(
            prefixes
                .iter()
                .filter_map(|p| p.prefix().map(|p| ListEntry::Prefix(p.to_owned()))),
        )
        .collect();
    entries.sort_by(|a, b| a.key().as_bytes().cmp(b.key().as_bytes()));
    entries
}

pub(super) fn object_meta(o: &aws_sdk_s3::types::Object) -> ObjectMeta {
    ObjectMeta {
        key: o.key().unwrap_or_default().to_owned(),
        size: o.size().unwrap_or(0).max(0) as u64,
        last_modified: o.last_modified().and_then(to_chrono),
        e_tag: unquote(o.e_tag()),
        version: None,
        storage_class: Some(
            o.storage_class()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_else(|| "STANDARD".to_owned()),
        ),
    }
}
