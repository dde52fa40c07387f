//! How a kind of tree plugs into the mirror engine: a [`Policy`] groups keys into *units*
//! (for milvus-backup, a backup's folder) and decides, per run, what may change at the target
//! and what the run ends with. The engine asks it at five points and knows nothing more of it:
//!
//! | point | engine | policy |
//! |---|---|---|
//! | a key of the scan | [`RunPolicy::saw`] | notes what the run saw |
//! | a key something is done for | [`RunPolicy::acts_on`] | notes what the run does |
//! | the walk's work for a key | [`RunPolicy::holds_back`] | keeps it for the end of the run |
//! | a conflicting object at the target | [`RunPolicy::replaces`] | replaced without `overwrite` |
//! | before a write at the target | [`RunPolicy::before_write`] | lets it go, holds it, or fails it |
//! | a unit of work failed | [`RunPolicy::failed`] | notes it |
//! | the deletions of a complete scan | [`RunPolicy::deletes`] | the ones that may go ahead |
//! | the end of a run | [`RunPolicy::finish`] | finishes its units (writes what it held back) |
//!
//! [`Plain`] says yes to everything and holds nothing: a plain mirror.

use async_trait::async_trait;

use ferry_state::{Manifest, PairId, StateError};
use futures::stream::BoxStream;

use super::plan::Action;
use super::report::{Event, MirrorError, ObjectError, OnEvent, Summary, manifest_error};
use super::side::Side;

/// A kind of tree, configured once (`MirrorOptions::policy`); [`Policy::begin`] gives the
/// state of one run.
pub trait Policy: Send + Sync + std::fmt::Debug {
    /// A new run.
    fn begin(&self) -> Box<dyn RunPolicy + '_>;
}

/// One run's policy (see the module's table).
#[async_trait]
pub trait RunPolicy: Send + Sync {
    /// A key of the scan, before it is planned (`at_source`: the source lists it).
    fn saw(&self, rel: &str, at_source: bool);
    /// A key whose planned action does something (not a skip).
    fn acts_on(&self, rel: &str);
    /// The scan's work for `rel` waits for [`RunPolicy::finish`].
    fn holds_back(&self, rel: &str) -> bool;
    /// An object at the target that ferry has no row for and whose content differs is
    /// replaced even without `overwrite` (it belongs to a unit the policy replaces whole).
    fn replaces(&self, rel: &str) -> bool;
    /// Before `rel` is written at the target: `Err` is the object's event instead.
    async fn before_write(&self, run: Run<'_>, rel: &str) -> Result<(), Event>;
    /// Work for `rel` failed.
    fn failed(&self, rel: &str);
    /// The deletions a complete scan planned: returns those that may go ahead, after
    /// reporting the others.
    async fn deletes(
        &self,
        run: Run<'_>,
        rels: Vec<String>,
        summary: &mut Summary,
        on_event: &mut OnEvent<'_>,
    ) -> Vec<String>;
    /// The end of a run that was not a dry run (`full_scan`: the whole source was listed).
    async fn finish(
        &self,
        run: Run<'_>,
        full_scan: bool,
        summary: &mut Summary,
        on_event: &mut OnEvent<'_>,
    ) -> Result<(), MirrorError>;
}

/// No units: every key on its own, nothing held.
#[derive(Debug, Default, Clone, Copy)]
pub struct Plain;

impl Policy for Plain {
    fn begin(&self) -> Box<dyn RunPolicy + '_> {
        Box::new(Plain)
    }
}

#[async_trait]
impl RunPolicy for Plain {
    fn saw(&self, _rel: &str, _at_source: bool) {}
    fn acts_on(&self, _rel: &str) {}
    fn holds_back(&self, _rel: &str) -> bool {
        false
    }
    fn replaces(&self, _rel: &str) -> bool {
        false
    }
    async fn before_write(&self, _run: Run<'_>, _rel: &str) -> Result<(), Event> {
        Ok(())
    }
    fn failed(&self, _rel: &str) {}
    async fn deletes(
        &self,
        _run: Run<'_>,
        rels: Vec<String>,
        _summary: &mut Summary,
        _on_event: &mut OnEvent<'_>,
    ) -> Vec<String> {
        rels
    }
    async fn finish(
        &self,
        _run: Run<'_>,
        _full_scan: bool,
        _summary: &mut Summary,
        _on_event: &mut OnEvent<'_>,
    ) -> Result<(), MirrorError> {
        Ok(())
    }
}

/// What a policy may use of the run: its manifest, pair and ends, and the engine's executor
/// for actions it plans itself. The mirror engine implements it.
#[async_trait]
pub trait Engine: Send + Sync {
    fn manifest(&self) -> &Manifest;
    /// The pair mirrored.
    fn pair(&self) -> PairId;
    /// The source.
    fn src(&self) -> &Side;
    /// The target.
    fn dst(&self) -> &Side;
    /// Whether a relative key takes part in the run (include/exclude).
    fn selects(&self, rel: &str) -> bool;
    /// The run was cancelled: nothing new should start.
    fn cancelled(&self) -> bool;
    /// Objects the run works on at once (`--workers`, a job's `workers`).
    fn workers(&self) -> usize;
    /// A full read-back was asked for (`--verify`, a job's `verify = true`): no object counts
    /// as verified on the target's word.
    fn verify_all(&self) -> bool;
    /// Runs actions the policy planned (its held-back writes, its read-backs) with the
    /// engine's workers: nothing is held back, no deletion is planned; the counts go into
    /// `summary`.
    async fn execute(
        &self,
        actions: BoxStream<'_, Action>,
        summary: &mut Summary,
        on_event: &mut OnEvent<'_>,
    );

    /// A manifest write for `rel` failed: the object's error (see [`manifest_error`]).
    fn manifest_error(&self, rel: &str, e: StateError) -> ObjectError {
        manifest_error(self.dst().display(rel), e)
    }
}

/// A policy's handle on the run.
pub type Run<'a> = &'a dyn Engine;
