//! The walk: the source listing, the manifest rows of the pair and (optionally) the target
//! listing, merged in key byte order into one stream of planned actions.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_state::schema::{ObjectRecord, PairId};
use ferry_state::{Manifest, StateError};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use super::options::MirrorOptions;
use super::stale::Stale;
use crate::backend::{Error, ListEntry, ObjectMeta};
use crate::sync::plan::{Action, Entry, TargetState, plan};
use crate::sync::policy::RunPolicy;

/// Rows read from the manifest at a time during the walk.
pub(super) const PAGE: usize = 1000;

pub(super) type Listing = BoxStream<'static, Result<ListEntry, Error>>;

/// Relative key of a listed object worth mirroring: not a folder marker, selected. Objects
/// the include/exclude filters leave out are counted in `skipped`.
pub(super) fn relative(
    m: &ObjectMeta,
    prefix_len: usize,
    options: &MirrorOptions,
    skipped: Option<&AtomicU64>,
) -> Option<String> {
    let rel = m.key.get(prefix_len..)?;
    // A "folder marker" (key ending in /) carries no data worth mirroring.
    if rel.is_empty() || rel.ends_with('/') {
        return None;
    }
    if !options.selects(rel) {
        if let Some(s) = skipped {
            s.fetch_add(1, Ordering::Relaxed);
        }
        return None;
    }
    Some(rel.to_owned())
}

/// The next object of a listing, skipping what [`relative`] refuses (counted in `skipped`
/// when given: the source's listing).
pub(super) async fn next_object(
    listing: &mut Listing,
    prefix_len: usize,
    options: &MirrorOptions,
    skipped: Option<&AtomicU64>,
) -> Result<Option<(String, ObjectMeta)>, Error> {
    while let Some(e) = listing.try_next().await? {
        if let ListEntry::Object(m) = e
            && let Some(rel) = relative(&m, prefix_len, options, skipped)
        {
            return Ok(Some((rel, m)));
        }
    }
    Ok(None)
}

/// The merge-walk of a source listing, the manifest rows of a pair and (optionally) a target
/// listing. All three are in key byte order; the walk holds one head of each and a page of
/// rows.
pub(super) struct Walk<'a> {
    pub(super) source: Listing,
    pub(super) target: Option<Listing>,
    pub(super) manifest: &'a Manifest,
    pub(super) pair: PairId,
    pub(super) src_prefix_len: usize,
    pub(super) dst_prefix_len: usize,
    pub(super) options: &'a MirrorOptions,
    pub(super) rows: VecDeque<(String, ObjectRecord)>,
    pub(super) rows_after: Option<String>,
    pub(super) rows_done: bool,
    pub(super) src: Option<(String, ObjectMeta)>,
    pub(super) src_done: bool,
    pub(super) dst: Option<(String, ObjectMeta)>,
    pub(super) dst_done: bool,
    pub(super) listed: &'a AtomicU64,
    /// Source objects the include/exclude filters left out.
    pub(super) skipped: &'a AtomicU64,
}

impl Walk<'_> {
    pub(super) fn next_rows(&mut self) -> Result<(), StateError> {
        while self.rows.is_empty() && !self.rows_done {
            let page = self
                .manifest
                .objects_page(self.pair, self.rows_after.as_deref(), PAGE)?;
            self.rows_done = page.len() < PAGE;
            self.rows_after = page
                .last()
                .map(|(k, _)| k.clone())
                .or(self.rows_after.take());
            self.rows
                .extend(page.into_iter().filter(|(k, _)| self.options.selects(k)));
        }
        Ok(())
    }

    /// The next key, `None` at the end; an `Err` ends the walk.
    pub(super) async fn next(&mut self) -> Option<Result<Entry, WalkError>> {
        if self.options.cancelled() {
            return Some(Err(WalkError::Cancelled));
        }
        if self.src.is_none() && !self.src_done {
            match next_object(
                &mut self.source,
                self.src_prefix_len,
                self.options,
                Some(self.skipped),
            )
            .await
            {
                Ok(Some(o)) => {
                    self.listed.fetch_add(1, Ordering::Relaxed);
                    self.src = Some(o);
                }
                Ok(None) => self.src_done = true,
                Err(e) => return Some(Err(WalkError::Scan(e))),
            }
        }
        if self.dst.is_none()
            && !self.dst_done
            && let Some(listing) = self.target.as_mut()
        {
            match next_object(listing, self.dst_prefix_len, self.options, None).await {
                Ok(Some(o)) => self.dst = Some(o),
                Ok(None) => self.dst_done = true,
                Err(e) => return Some(Err(WalkError::TargetScan(e))),
            }
        }
        if let Err(e) = self.next_rows() {
            return Some(Err(WalkError::State(e)));
        }
        // The smallest key among the three heads (str order is byte order).
        let rel = [
            self.src.as_ref().map(|(k, _)| k),
            self.rows.front().map(|(k, _)| k),
            self.dst.as_ref().map(|(k, _)| k),
        ]
        .into_iter()
        .flatten()
        .min()?
        .clone();
        let source = if self.src.as_ref().is_some_and(|(k, _)| *k == rel) {
            self.src.take().map(|(_, m)| m)
        } else {
            None
        };
        let row = if self.rows.front().is_some_and(|(k, _)| *k == rel) {
            self.rows.pop_front().map(|(_, r)| r)
        } else {
            None
        };
        let target = if self.target.is_none() {
            TargetState::Unknown
        } else if self.dst.as_ref().is_some_and(|(k, _)| *k == rel) {
            self.dst
                .take()
                .map_or(TargetState::Absent, |(_, m)| TargetState::Present(m))
        } else {
            TargetState::Absent
        };
        Some(Ok(Entry {
            rel,
            source,
            row,
            target,
        }))
    }
}

pub(super) enum WalkError {
    Scan(Error),
    TargetScan(Error),
    State(StateError),
    Cancelled,
}

/// The walk's decisions as a stream; the first error is kept in `failure` and ends it.
pub(super) fn walk_actions<'a>(
    walk: Walk<'a>,
    failure: &'a Mutex<Option<WalkError>>,
    verify: bool,
    policy: &'a dyn RunPolicy,
    owned: (&'a Stale, &'a Mutex<std::collections::HashSet<String>>),
) -> BoxStream<'a, Action> {
    futures::stream::unfold(walk, move |mut w| async move {
        match w.next().await? {
            Ok(entry) => {
                // Keys an interrupted run was writing: note the ones the source still has.
                if !owned.0.owned.is_empty()
                    && entry.source.is_some()
                    && owned.0.owned.contains(&entry.rel)
                {
                    crate::lock::lock(owned.1).insert(entry.rel.clone());
                }
                policy.saw(&entry.rel, entry.source.is_some());
                let action = plan(entry, verify);
                if let Some(rel) = action.rel() {
                    policy.acts_on(rel);
                }
                Some((action, w))
            }
            Err(e) => {
                {
                    let mut f = crate::lock::lock(failure);
                    f.replace(e);
                }
                None
            }
        }
    })
    .boxed()
}
