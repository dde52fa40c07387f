//! `diff` and `verify`: compare a source and a target tree.
//!
//! Both list both sides (in key byte order) and merge-walk the two listings. `diff` compares
//! sizes, then content where it can tell without reading the target:
//! - both ETags plain MD5s (S3 without SSE-KMS/C): equal or not;
//! - a manifest row: the source still the version ferry copied and the target's ETag no
//!   longer the one ferry wrote means the target changed behind ferry's back; the source
//!   changed since (same size) and the target still as written: the source is read and
//!   hashed, and differs when its SHA-256 is not the one copied;
//! - otherwise the pair is counted as not compared (`verify` reads both sides).
//!
//! `verify` reads both sides and compares SHA-256.

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use super::plan::{is_md5_etag, target_etag_changed, unchanged};
use super::side::Side;
use super::transfer::hash_object;
use crate::backend::{Error, ListEntry, ListOptions, ObjectMeta};
use ferry_state::{Manifest, PairId};

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// Only at the source (mc's `<`).
    OnlyInSource(String),
    /// Only at the target (mc's `>`).
    OnlyInTarget(String),
    /// At both, with other sizes (mc's `!`).
    Size {
        /// Relative key.
        key: String,
        /// Source size.
        source: u64,
        /// Target size.
        target: u64,
    },
    /// At both, same size, other content (known from the manifest or by hashing).
    Content(String),
}

impl Difference {
    /// The relative key.
    pub fn key(&self) -> &str {
        match self {
            Difference::OnlyInSource(k) | Difference::OnlyInTarget(k) | Difference::Content(k) => k,
            Difference::Size { key, .. } => key,
        }
    }
}

/// A pair of objects at the same relative key, or one side alone.
#[derive(Debug)]
pub enum Matched {
    /// Only at the source.
    Source(String, ObjectMeta),
    /// Only at the target.
    Target(String, ObjectMeta),
    /// At both.
    Both(String, ObjectMeta, ObjectMeta),
}

fn objects(side: &Side) -> BoxStream<'static, Result<(String, ObjectMeta), Error>> {
    let n = side.prefix.len();
    let listing = side.store.list(&side.prefix, ListOptions::default());
    let lost = super::pipeline::listing_lost(side.display(""));
    super::pipeline::prefetch(listing, super::pipeline::LIST_AHEAD, lost)
        .try_filter_map(move |e| {
            futures::future::ready(Ok(match e {
                ListEntry::Object(m) if m.key.len() > n && !m.key.ends_with('/') => {
                    Some((m.key[n..].to_owned(), m))
                }
                _ => None,
            }))
        })
        .boxed()
}

/// Merge-walks the listings of both sides.
pub fn matched(src: &Side, dst: &Side) -> BoxStream<'static, Result<Matched, Error>> {
    struct State {
        a: BoxStream<'static, Result<(String, ObjectMeta), Error>>,
        b: BoxStream<'static, Result<(String, ObjectMeta), Error>>,
        pa: Option<(String, ObjectMeta)>,
        pb: Option<(String, ObjectMeta)>,
        a_done: bool,
        b_done: bool,
    }
    let state = State {
        a: objects(src),
        b: objects(dst),
        pa: None,
        pb: None,
        a_done: false,
        b_done: false,
    };
    futures::stream::try_unfold(state, |mut s| async move {
        if s.pa.is_none() && !s.a_done {
            s.pa = s.a.try_next().await?;
            s.a_done = s.pa.is_none();
        }
        if s.pb.is_none() && !s.b_done {
            s.pb = s.b.try_next().await?;
            s.b_done = s.pb.is_none();
        }
        let out = match (s.pa.take(), s.pb.take()) {
            (None, None) => return Ok(None),
            (Some(a), None) => Matched::Source(a.0, a.1),
            (None, Some(b)) => Matched::Target(b.0, b.1),
            (Some(a), Some(b)) => match a.0.as_bytes().cmp(b.0.as_bytes()) {
                std::cmp::Ordering::Less => {
                    s.pb = Some(b);
                    Matched::Source(a.0, a.1)
                }
                std::cmp::Ordering::Greater => {
                    s.pa = Some(a);
                    Matched::Target(b.0, b.1)
                }
                std::cmp::Ordering::Equal => Matched::Both(a.0, a.1, b.1),
            },
        };
        Ok(Some((out, s)))
    })
    .boxed()
}

/// What the listings alone decide: presence and size. Objects at both ends with the same size
/// are handed back (`Ok`) for a content check.
fn by_listing(m: Matched) -> Result<(String, ObjectMeta, ObjectMeta), Difference> {
    match m {
        Matched::Source(k, _) => Err(Difference::OnlyInSource(k)),
        Matched::Target(k, _) => Err(Difference::OnlyInTarget(k)),
        Matched::Both(key, a, b) if a.size != b.size => Err(Difference::Size {
            key,
            source: a.size,
            target: b.size,
        }),
        Matched::Both(key, a, b) => Ok((key, a, b)),
    }
}

/// What is known of two objects of the same size at one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knowledge {
    /// The same content.
    Same,
    /// Other content.
    Differs,
    /// The source changed since ferry copied it (same size), the target is still what ferry
    /// wrote: the same when the source's SHA-256 is still this one.
    SourceChanged {
        /// The SHA-256 ferry copied.
        copied: [u8; 32],
    },
    /// Nothing beyond the size.
    Unknown,
}

/// What the manifest remembers of one object, for `diff`.
pub trait Known: Sync {
    /// What is known of `source` and `target` at `key` (same size).
    fn same_content(&self, key: &str, source: &ObjectMeta, target: &ObjectMeta) -> Knowledge;
}

/// Nothing is known beyond the listings.
#[derive(Debug)]
pub struct NothingKnown;

impl Known for NothingKnown {
    fn same_content(&self, _: &str, _: &ObjectMeta, _: &ObjectMeta) -> Knowledge {
        Knowledge::Unknown
    }
}

/// What the listings say of content: both plain MD5 ETags compare.
fn by_md5(source: &ObjectMeta, target: &ObjectMeta) -> Knowledge {
    match (&source.e_tag, &target.e_tag) {
        (Some(a), Some(b)) if is_md5_etag(a) && is_md5_etag(b) => {
            if a.eq_ignore_ascii_case(b) {
                Knowledge::Same
            } else {
                Knowledge::Differs
            }
        }
        _ => Knowledge::Unknown,
    }
}

/// One line of `diff`'s answer: a difference, or a pair of objects whose content could not be
/// compared without reading the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffItem {
    /// A difference.
    Difference(Difference),
    /// Same size at both ends, content not compared.
    NotCompared(String),
}

/// The differences between `src` and `dst`, by size and, where the listings or `known` can
/// tell, content (see the module's doc). `workers` sources are hashed at once.
pub fn diff<'a>(
    src: &Side,
    dst: &Side,
    known: &'a dyn Known,
    workers: usize,
) -> BoxStream<'a, Result<Option<DiffItem>, Error>> {
    let s = src.clone();
    matched(src, dst)
        .map(move |m| {
            let s = s.clone();
            async move {
                let (key, a, b) = match by_listing(m?) {
                    Err(d) => return Ok(Some(DiffItem::Difference(d))),
                    Ok(same_size) => same_size,
                };
                let knowledge = match by_md5(&a, &b) {
                    Knowledge::Unknown => known.same_content(&key, &a, &b),
                    k => k,
                };
                Ok(match knowledge {
                    Knowledge::Same => None,
                    Knowledge::Differs => Some(DiffItem::Difference(Difference::Content(key))),
                    Knowledge::SourceChanged { copied } => {
                        let now = hash_object(&*s.store, &a.key).await?;
                        (now != copied).then_some(DiffItem::Difference(Difference::Content(key)))
                    }
                    Knowledge::Unknown => Some(DiffItem::NotCompared(key)),
                })
            }
        })
        .buffered(workers.max(1))
        .boxed()
}

/// Reads every object present on both sides and compares SHA-256; reports missing objects,
/// size and content mismatches. `workers` objects are hashed at once.
pub fn verify(
    src: &Side,
    dst: &Side,
    workers: usize,
) -> BoxStream<'static, Result<Option<Difference>, Error>> {
    let (s, d) = (src.clone(), dst.clone());
    matched(src, dst)
        .map(move |m| {
            let (s, d) = (s.clone(), d.clone());
            async move {
                let (key, a, b) = match by_listing(m?) {
                    Err(d) => return Ok(Some(d)),
                    Ok(same_size) => same_size,
                };
                let (ha, hb) = futures::try_join!(
                    hash_object(&*s.store, &a.key),
                    hash_object(&*d.store, &b.key)
                )?;
                Ok((ha != hb).then_some(Difference::Content(key)))
            }
        })
        .buffered(workers.max(1))
        .boxed()
}

/// What the manifest knows of a pair's objects, for `diff`.
#[derive(Debug)]
pub struct ManifestKnown<'a> {
    pub manifest: &'a Manifest,
    pub pair: PairId,
}

impl Known for ManifestKnown<'_> {
    fn same_content(&self, key: &str, source: &ObjectMeta, target: &ObjectMeta) -> Knowledge {
        let Ok(Some(rec)) = self.manifest.object(self.pair, key) else {
            return Knowledge::Unknown;
        };
        let target_as_written =
            target_etag_changed(rec.dst_etag.as_deref(), target.e_tag.as_deref());
        if unchanged(source, &rec) {
            return match target_as_written {
                Some(false) => Knowledge::Same,
                Some(true) => Knowledge::Differs,
                None => Knowledge::Unknown,
            };
        }
        match (target_as_written, rec.sha256) {
            (Some(false), Some(copied)) => Knowledge::SourceChanged { copied },
            _ => Knowledge::Unknown,
        }
    }
}
