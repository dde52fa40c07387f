//! Watching a local source folder (inotify through `notify`) and turning events into work.
//!
//! - A file closed after writing, or renamed into place, becomes a key to mirror.
//! - A new folder becomes a prefix to list (files may land in it before the watch on it is
//!   set up).
//! - A removal or a rename away asks for a full scan: deletions only ever come from a complete
//!   listing, with its safety guards.
//! - A watcher error or a kernel queue overflow asks for a full scan too: nothing is silently
//!   missed, and the periodic poll backs everything up.
//!
//! Events are debounced: keys are handed to the job once no new event arrived for
//! [`QUIET`], or at the latest after [`MAX_DELAY`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::jobs::Job;

/// Where a watch hands its changes: a ferryd job, or `ferry mirror --watch`.
pub trait Changes: Send + Sync + 'static {
    /// These relative keys (and prefixes ending with `/`) changed.
    fn keys(&self, keys: BTreeSet<String>);
    /// Something went that only a full scan finds (a removal, a rename away, an overflow).
    fn rescan(&self);
}

impl Changes for Job {
    fn keys(&self, keys: BTreeSet<String>) {
        tracing::debug!(job = %self.name(), keys = keys.len(), "changes seen");
        self.request_keys(keys);
    }

    fn rescan(&self) {
        self.request_full(false);
    }
}

/// Quiet time before a batch of events is handed over.
pub const QUIET: Duration = Duration::from_millis(100);
/// Longest time an event waits in a batch.
pub const MAX_DELAY: Duration = Duration::from_millis(500);

enum Change {
    Key(String),
    Rescan,
}

/// A running watch; dropping it stops watching.
#[derive(Debug)]
pub struct Watch {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The key of `path` relative to `root`, with `/` separators; `None` outside the root or not
/// valid UTF-8 (such names cannot be keys).
fn relative_key(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            std::path::Component::Normal(s) => parts.push(s.to_str()?),
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Starts watching `root` (recursively) for `job`.
pub fn start<C: Changes>(root: &Path, job: Arc<C>) -> Result<Watch, notify::Error> {
    let root: PathBuf = std::fs::canonicalize(root).map_err(notify::Error::io)?;
    let (tx, rx) = mpsc::unbounded_channel::<Change>();
    let cb_root = root.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let changes = match res {
            Ok(ev) => classify(&cb_root, &ev),
            Err(e) => {
                tracing::warn!(error = %e, "watcher error: rescanning");
                vec![Change::Rescan]
            }
        };
        for c in changes {
            let _ = tx.send(c);
        }
    })?;
    watcher.watch(&root, RecursiveMode::Recursive)?;
    let task = tokio::spawn(debounce(rx, job));
    Ok(Watch {
        _watcher: watcher,
        task,
    })
}

fn classify(root: &Path, ev: &notify::Event) -> Vec<Change> {
    if ev.need_rescan() {
        return vec![Change::Rescan];
    }
    let keys = |suffix: &str| -> Vec<Change> {
        ev.paths
            .iter()
            .filter_map(|p| relative_key(root, p))
            .map(|k| Change::Key(format!("{k}{suffix}")))
            .collect()
    };
    match ev.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => keys(""),
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
            // A file or a whole folder moved in: list it as a prefix when it is a folder.
            ev.paths
                .iter()
                .filter_map(|p| {
                    let k = relative_key(root, p)?;
                    Some(Change::Key(if p.is_dir() { format!("{k}/") } else { k }))
                })
                .collect()
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            // [from, to]: the old name is gone (scan), the new one arrived.
            let mut v = vec![Change::Rescan];
            if let Some(to) = ev.paths.get(1).and_then(|p| {
                let k = relative_key(root, p)?;
                Some(if p.is_dir() { format!("{k}/") } else { k })
            }) {
                v.push(Change::Key(to));
            }
            v
        }
        EventKind::Create(CreateKind::Folder) => keys("/"),
        EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
            vec![Change::Rescan]
        }
        _ => Vec::new(),
    }
}

async fn debounce<C: Changes>(mut rx: mpsc::UnboundedReceiver<Change>, job: Arc<C>) {
    loop {
        let Some(first) = rx.recv().await else { return };
        let mut keys = BTreeSet::new();
        let mut rescan = false;
        let mut add = |c: Change, keys: &mut BTreeSet<String>| match c {
            Change::Key(k) => {
                keys.insert(k);
            }
            Change::Rescan => rescan = true,
        };
        add(first, &mut keys);
        let deadline = tokio::time::Instant::now() + MAX_DELAY;
        loop {
            let quiet = tokio::time::sleep(QUIET);
            tokio::select! {
                c = rx.recv() => match c {
                    Some(c) => add(c, &mut keys),
                    None => break,
                },
                _ = quiet => break,
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        if rescan {
            job.rescan();
        }
        if !keys.is_empty() {
            job.keys(keys);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_relative_with_slashes_and_stay_inside() {
        let root = Path::new("/data/backup");
        assert_eq!(
            relative_key(root, Path::new("/data/backup/b1/meta/x.json")).as_deref(),
            Some("b1/meta/x.json")
        );
        assert_eq!(relative_key(root, Path::new("/data/other")), None);
        assert_eq!(relative_key(root, Path::new("/data/backup")), None);
    }
}
