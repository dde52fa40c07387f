//! Objects being copied now, with bytes done of their size: what `ferry status` shows while a
//! large object is on its way, instead of nothing until the run ends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The copies in flight of one job (or one command).
#[derive(Debug, Default)]
pub struct InFlight {
    copies: Mutex<BTreeMap<String, (u64, u64)>>,
    /// Per top-level folder progress, for jobs whose folders are units (backups).
    folders: Option<Folders>,
}

/// One copy in flight: adds bytes as they are stored; leaves the list when dropped.
#[derive(Debug)]
pub struct Copying {
    list: Arc<InFlight>,
    key: String,
}

impl InFlight {
    /// One that also follows each top-level folder's progress (a backup job's backups).
    pub fn with_folders() -> Self {
        InFlight {
            copies: Mutex::default(),
            folders: Some(Folders::default()),
        }
    }

    /// Its folders' progress, when it follows them.
    pub fn folders(&self) -> Option<&Folders> {
        self.folders.as_ref()
    }

    /// Starts showing a copy of `size` bytes to `key`.
    pub fn start(self: &Arc<Self>, key: &str, size: u64) -> Copying {
        crate::lock::lock(&self.copies).insert(key.to_owned(), (0, size));
        Copying {
            list: self.clone(),
            key: key.to_owned(),
        }
    }

    /// Each copy: key, bytes stored, size.
    pub fn snapshot(&self) -> Vec<(String, u64, u64)> {
        crate::lock::lock(&self.copies)
            .iter()
            .map(|(k, (done, size))| (k.clone(), *done, *size))
            .collect()
    }
}

impl Copying {
    /// `n` more bytes are stored.
    pub fn add(&self, n: u64) {
        if let Some(c) = crate::lock::lock(&self.list.copies).get_mut(&self.key) {
            c.0 = (c.0 + n).min(c.1);
        }
    }
}

impl Drop for Copying {
    fn drop(&mut self) {
        crate::lock::lock(&self.list.copies).remove(&self.key);
    }
}

/// One top-level folder's progress in a run (a backup job's backups): bytes the target holds
/// of the bytes the source holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FolderProgress {
    /// Bytes at the target: recorded before the run, plus copied in it.
    pub done: u64,
    /// Bytes under the folder at the source (`None` until its listing ends).
    pub total: Option<u64>,
}

/// The folders a run copies into, with their progress; cleared when the run ends.
#[derive(Debug, Default)]
pub struct Folders {
    inner: Mutex<FoldersInner>,
}

#[derive(Debug, Default)]
struct FoldersInner {
    run: u64,
    map: BTreeMap<String, FolderProgress>,
}

/// The top-level folder of a relative key (`None` for a key at the top).
pub fn folder_of(rel: &str) -> Option<&str> {
    rel.split_once('/')
        .map(|(f, _)| f)
        .filter(|f| !f.is_empty())
}

impl Folders {
    /// A run starts: forgets the last one's folders.
    pub fn begin_run(&self) {
        let mut i = crate::lock::lock(&self.inner);
        i.run += 1;
        i.map.clear();
    }

    /// The run ended.
    pub fn end_run(&self) {
        self.begin_run();
    }

    /// The first copy into `folder` in this run: `Some(run)` for the caller to measure it
    /// ([`Folders::measured`]); `None` when it is known already.
    pub fn claim(&self, folder: &str) -> Option<u64> {
        let mut i = crate::lock::lock(&self.inner);
        if i.map.contains_key(folder) {
            return None;
        }
        i.map.insert(folder.to_owned(), FolderProgress::default());
        Some(i.run)
    }

    /// What the target held of `folder` before run `run` copied into it.
    pub fn held(&self, run: u64, folder: &str, bytes: u64) {
        let mut i = crate::lock::lock(&self.inner);
        if i.run == run
            && let Some(p) = i.map.get_mut(folder)
        {
            p.done += bytes;
        }
    }

    /// The source's bytes under `folder`, measured for run `run` (ignored once it ended).
    pub fn measured(&self, run: u64, folder: &str, total: u64) {
        let mut i = crate::lock::lock(&self.inner);
        if i.run == run
            && let Some(p) = i.map.get_mut(folder)
        {
            p.total = Some(total);
        }
    }

    /// `bytes` more were copied to `rel`.
    pub fn copied(&self, rel: &str, bytes: u64) {
        let Some(folder) = folder_of(rel) else { return };
        if let Some(p) = crate::lock::lock(&self.inner).map.get_mut(folder) {
            p.done += bytes;
        }
    }

    /// Each folder of the running run, with its progress (done never above the total).
    pub fn snapshot(&self) -> BTreeMap<String, FolderProgress> {
        let i = crate::lock::lock(&self.inner);
        i.map
            .iter()
            .map(|(k, p)| {
                let done = p.total.map_or(p.done, |t| p.done.min(t));
                (k.clone(), FolderProgress { done, ..*p })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_show_bytes_done_until_dropped() {
        let list = Arc::new(InFlight::default());
        let c = list.start("a/b", 10);
        c.add(4);
        c.add(40);
        assert_eq!(list.snapshot(), vec![("a/b".to_owned(), 10, 10)]);
        drop(c);
        assert!(list.snapshot().is_empty());
    }

    #[test]
    fn folders_add_up_within_a_run_and_forget_it_after() {
        let f = Folders::default();
        f.begin_run();
        let run = f.claim("b1").expect("first copy into b1");
        assert_eq!(f.claim("b1"), None, "claimed once per run");
        f.held(run, "b1", 100);
        f.copied("b1/x/1", 50);
        f.copied("top-level-key", 7);
        assert_eq!(
            f.snapshot()["b1"],
            FolderProgress {
                done: 150,
                total: None
            }
        );
        f.measured(run, "b1", 120);
        assert_eq!(
            f.snapshot()["b1"],
            FolderProgress {
                done: 120,
                total: Some(120)
            },
            "never more than the total"
        );
        f.end_run();
        f.measured(run, "b1", 500);
        assert!(
            f.snapshot().is_empty(),
            "a late measurement of an ended run is dropped"
        );
        assert_eq!(folder_of("a/b/c"), Some("a"));
        assert_eq!(folder_of("a"), None);
    }
}
