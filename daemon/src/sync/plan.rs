//! The decision for one key: what the source, the manifest row and (when listed) the target
//! say about it → an [`Action`]. Pure: no I/O, tested against the table below.
//!
//! Scan lists **only the source** and merge-walks it against the manifest rows of the pair
//! (both are in key byte order, so the walk needs no sorting and holds one page of rows). With
//! `check_target`, and always on a pair's first run, the target is listed too and joins the
//! walk: a three-way merge, still one pass, still no sorting. [`plan`] decides each key:
//!
//! | source | manifest row | target (when listed) | action |
//! |---|---|---|---|
//! | present | none | not listed / absent | copy (new) |
//! | present | none | present, same content | adopt: record the row, no copy |
//! | present | none | present, other content | copy only with `overwrite`, else a conflict |
//! | present | unchanged (size + ETag) | not listed | nothing: no request to the target (`verify`: read it back) |
//! | present | unchanged | absent | copy (missing at the target) |
//! | present | unchanged | present, changed since ferry wrote it | copy (changed at the target) |
//! | present | changed | any | copy (changed) |
//! | absent | present | absent | forget the row |
//! | absent | present | not listed / present | delete at the target, only with `remove` |
//! | absent | none | present | delete at the target, only with `remove` (mc's "extraneous") |
//!
//! "Same content" for an object ferry has no row for: equal plain (MD5) ETags, or, when the
//! sizes match, equal SHA-256 of both sides read back. Deletions happen only after a complete
//! scan of every listed side, and never when the source listed nothing (unless forced).
//!

use chrono::{DateTime, Utc};
use ferry_state::ObjectRecord;

use crate::backend::ObjectMeta;

/// Why an object is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Not in the manifest.
    New,
    /// In the manifest with another size or ETag.
    Changed,
    /// In the manifest, gone at the target.
    Missing,
    /// In the manifest, changed at the target behind ferry's back.
    TargetChanged,
    /// Read back with another SHA-256 than the source's.
    Corrupt,
    /// At the target with other content, not written by ferry; replaced (`overwrite`).
    Overwrite,
}

impl Reason {
    /// A word for output.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::New => "new",
            Reason::Changed => "changed",
            Reason::Missing => "missing-at-target",
            Reason::TargetChanged => "changed-at-target",
            Reason::Corrupt => "corrupt-at-target",
            Reason::Overwrite => "overwrite",
        }
    }
}

/// What the target holds at a key, as far as this run knows.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetState {
    /// The target was not listed.
    Unknown,
    /// Listed, not there.
    Absent,
    /// Listed, there.
    Present(ObjectMeta),
}

/// One key of the walk: what the source, the manifest and the target say about it.
#[derive(Debug)]
pub struct Entry {
    /// Relative key.
    pub rel: String,
    /// The source object.
    pub source: Option<ObjectMeta>,
    /// The manifest row.
    pub row: Option<ObjectRecord>,
    /// The target object.
    pub target: TargetState,
}

/// What to do with one key.
// One per key, moved once into its task: boxing `Work` would add an allocation per key.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Requests to make for it.
    Run(Work),
    /// Nothing to do.
    Skip,
    /// Gone at the source: delete at the target with `remove`.
    Delete {
        /// Relative key.
        rel: String,
    },
    /// Gone at both ends: drop the row.
    Forget {
        /// Relative key.
        rel: String,
    },
}

impl Action {
    /// The key it concerns (`None` for a skip).
    pub fn rel(&self) -> Option<&str> {
        match self {
            Action::Run(w) => Some(w.rel()),
            Action::Delete { rel } | Action::Forget { rel } => Some(rel),
            Action::Skip => None,
        }
    }
}

/// The actions that make requests.
#[derive(Debug, PartialEq)]
pub enum Work {
    /// Copy the source object.
    Copy {
        /// Relative key.
        rel: String,
        /// The source object.
        meta: ObjectMeta,
        /// Why.
        reason: Reason,
    },
    /// Read the target back and compare with the row's SHA-256 (computing the source's when
    /// the row has none, or when `source`); copy again on a mismatch.
    Verify {
        /// Relative key.
        rel: String,
        /// The source object.
        meta: ObjectMeta,
        row: ObjectRecord,
        /// Read the source too (`--verify`): the target must hold the source's bytes as they
        /// are now, not only the bytes recorded at copy time.
        source: bool,
    },
    /// At the target, no row: record it if the content is the same, else a conflict (or a copy
    /// with `overwrite`, or when it is ferry's own unfinished write).
    Compare {
        /// Relative key.
        rel: String,
        /// The source object.
        meta: ObjectMeta,
        /// The target object.
        target: ObjectMeta,
    },
}

impl Work {
    pub fn rel(&self) -> &str {
        match self {
            Work::Copy { rel, .. } | Work::Verify { rel, .. } | Work::Compare { rel, .. } => rel,
        }
    }
}

pub(crate) fn ms(t: &DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn unchanged(meta: &ObjectMeta, rec: &ObjectRecord) -> bool {
    if meta.size != rec.size {
        return false;
    }
    if let (Some(a), Some(b)) = (&meta.e_tag, &rec.src_etag) {
        return a == b;
    }
    matches!((meta.last_modified.as_ref().map(ms), rec.src_mtime_ms), (Some(a), Some(b)) if a == b)
}

/// Whether the target's ETag now says the object changed since ferry wrote it (`then`):
/// `Some(false)` when equal, `Some(true)` when both are comparable and differ, `None` when it
/// cannot tell. Multipart ETags and local fingerprints (with '-') can differ between a write's
/// answer and later listings on some servers: not proof of a change.
pub(crate) fn target_etag_changed(then: Option<&str>, now: Option<&str>) -> Option<bool> {
    match (then, now) {
        (Some(then), Some(now)) if then == now => Some(false),
        (Some(then), Some(now)) if !then.contains('-') && !now.contains('-') => Some(true),
        _ => None,
    }
}

/// A plain S3 ETag: the MD5 of the content (32 hex digits), on every S3 without SSE-KMS/C.
pub(crate) fn is_md5_etag(e: &str) -> bool {
    e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Same content by ETag alone: both plain MD5 ETags, equal.
pub(crate) fn same_md5(a: &ObjectMeta, b: &ObjectMeta) -> bool {
    match (&a.e_tag, &b.e_tag) {
        (Some(x), Some(y)) => is_md5_etag(x) && x.eq_ignore_ascii_case(y),
        _ => false,
    }
}

/// The decision table (module docs) for one key.
pub fn plan(e: Entry, verify: bool) -> Action {
    let Entry {
        rel,
        source,
        row,
        target,
    } = e;
    match (source, row, target) {
        (Some(meta), None, TargetState::Present(t)) => Action::Run(Work::Compare {
            rel,
            meta,
            target: t,
        }),
        (Some(meta), None, _) => Action::Run(Work::Copy {
            rel,
            meta,
            reason: Reason::New,
        }),
        (Some(meta), Some(row), target) => {
            if !unchanged(&meta, &row) {
                return Action::Run(Work::Copy {
                    rel,
                    meta,
                    reason: Reason::Changed,
                });
            }
            match target {
                TargetState::Absent => Action::Run(Work::Copy {
                    rel,
                    meta,
                    reason: Reason::Missing,
                }),
                TargetState::Present(t)
                    if t.size != row.size
                        || target_etag_changed(row.dst_etag.as_deref(), t.e_tag.as_deref())
                            == Some(true) =>
                {
                    Action::Run(Work::Copy {
                        rel,
                        meta,
                        reason: Reason::TargetChanged,
                    })
                }
                _ if verify => Action::Run(Work::Verify {
                    rel,
                    meta,
                    row,
                    source: true,
                }),
                _ => Action::Skip,
            }
        }
        (None, Some(_), TargetState::Absent) => Action::Forget { rel },
        (None, _, TargetState::Present(_)) | (None, Some(_), TargetState::Unknown) => {
            Action::Delete { rel }
        }
        // Nothing anywhere: the walk never yields that.
        (None, None, _) => Action::Skip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64, e_tag: &str) -> ObjectMeta {
        ObjectMeta {
            key: "p/k".into(),
            size,
            last_modified: None,
            e_tag: Some(e_tag.into()),
            version: None,
            storage_class: None,
        }
    }

    fn row(size: u64, src_etag: &str, dst_etag: &str) -> ObjectRecord {
        ObjectRecord {
            size,
            src_etag: Some(src_etag.into()),
            src_mtime_ms: None,
            sha256: None,
            dst_etag: Some(dst_etag.into()),
            dst_version: None,
            synced_ms: 0,
            upload_checked: false,
        }
    }

    fn decide(
        source: Option<ObjectMeta>,
        row: Option<ObjectRecord>,
        target: TargetState,
        verify: bool,
    ) -> &'static str {
        let e = Entry {
            rel: "k".into(),
            source,
            row,
            target,
        };
        match plan(e, verify) {
            Action::Run(Work::Copy { reason, .. }) => reason.as_str(),
            Action::Skip => "skip",
            Action::Run(Work::Verify { .. }) => "verify",
            Action::Run(Work::Compare { .. }) => "compare",
            Action::Delete { .. } => "delete",
            Action::Forget { .. } => "forget",
        }
    }

    /// The decision table of the module docs, row by row.
    #[test]
    fn plan_follows_the_decision_table() {
        use TargetState::{Absent, Present, Unknown};
        let md5a = "0123456789abcdef0123456789abcdef";
        let md5b = "fedcba9876543210fedcba9876543210";
        let src = || Some(meta(10, "s1"));
        let same = || Some(row(10, "s1", md5a));
        let cases: Vec<(&str, &str)> = vec![
            (decide(src(), None, Unknown, false), "new"),
            (decide(src(), None, Absent, false), "new"),
            (
                decide(src(), None, Present(meta(10, md5a)), false),
                "compare",
            ),
            (decide(src(), same(), Unknown, false), "skip"),
            (decide(src(), same(), Unknown, true), "verify"),
            (decide(src(), same(), Absent, false), "missing-at-target"),
            (
                decide(src(), same(), Present(meta(10, md5a)), false),
                "skip",
            ),
            (
                decide(src(), same(), Present(meta(10, md5a)), true),
                "verify",
            ),
            (
                decide(src(), same(), Present(meta(11, md5a)), false),
                "changed-at-target",
            ),
            (
                decide(src(), same(), Present(meta(10, md5b)), false),
                "changed-at-target",
            ),
            // A multipart ETag that differs proves nothing: listings may disagree with the
            // write's answer.
            (
                decide(src(), same(), Present(meta(10, "abc-2")), false),
                "skip",
            ),
            (
                decide(Some(meta(10, "s2")), same(), Unknown, false),
                "changed",
            ),
            (
                decide(Some(meta(9, "s1")), same(), Absent, false),
                "changed",
            ),
            (decide(None, same(), Absent, false), "forget"),
            (decide(None, same(), Unknown, false), "delete"),
            (
                decide(None, same(), Present(meta(10, md5a)), false),
                "delete",
            ),
            (decide(None, None, Present(meta(10, md5a)), false), "delete"),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn only_plain_md5_etags_prove_the_same_content() {
        let a = "0123456789ABCDEF0123456789abcdef";
        assert!(same_md5(&meta(1, a), &meta(1, &a.to_lowercase())));
        assert!(!same_md5(&meta(1, "abc-2"), &meta(1, "abc-2")));
        assert!(!same_md5(&meta(1, "1-2-3"), &meta(1, "1-2-3")));
    }
}
