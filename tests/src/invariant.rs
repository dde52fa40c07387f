//! The backup invariant, checked from outside the process under test: **no
//! `meta/backup_meta.json` at a target over data its meta does not match**; and, once no
//! writer runs, no temporary file of an interrupted write left anywhere ([`leftovers`]).
//!
//! It reads the target's folders directly (a local target, or the bucket folder of the
//! in-process S3 server, whose objects are files), so it can run in a thread every few
//! milliseconds while ferry or ferryd write. A look is not a snapshot: the check reads
//! `backup_meta.json`, then the rest, then `backup_meta.json` again, and reports a violation
//! only when it was the same file before and after (else the backup changed during the look,
//! which says nothing).

use std::collections::HashMap;
use std::path::Path;

use bytes::Bytes;
use ferry_engine::milvus::layout::{Completeness, Generation, MetaFile, parse};

/// Files under `dir` by path relative to `dir`, with sizes; the in-process server's own
/// bookkeeping files left out.
fn files_under(dir: &Path) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(md) = std::fs::metadata(&p) else {
                continue;
            };
            if md.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                let rel = rel.to_string_lossy().into_owned();
                let name = rel.rsplit('/').next().unwrap_or_default();
                let server_own = name.ends_with(".s3s") || name.contains(".tmp");
                if name.starts_with(".ferry-tmp-") || !server_own {
                    out.insert(rel, md.len());
                }
            }
        }
    }
    out
}

/// One backup folder: `Ok(true)` when it is announced and matches its meta, `Ok(false)` when
/// not announced (or it changed during the look), `Err` on a violation.
pub fn check_backup(dir: &Path) -> Result<bool, String> {
    let announce = dir.join("meta/backup_meta.json");
    let Ok(before) = std::fs::read(&announce) else {
        return Ok(false);
    };
    let files = files_under(dir);
    let read = |f: MetaFile| std::fs::read(dir.join(f.rel())).ok().map(Bytes::from);
    let verdict = (|| -> Result<(), String> {
        let present = |f: MetaFile| files.contains_key(&f.rel());
        let g = Generation::detect(present).map_err(|m| format!("announced without {m}"))?;
        let meta = parse(g, read).map_err(|e| format!("announced over unusable meta: {e}"))?;
        if meta.bundle {
            if !files.keys().any(|k| k.starts_with("bundle/")) {
                return Err("announced with an empty bundle/".into());
            }
            return Ok(());
        }
        let c = Completeness::check(&meta, |k| files.get(k).copied());
        if !c.is_whole() {
            return Err(format!(
                "announced (backup id {}) over data its meta does not match: {}",
                meta.id,
                c.describe()
            ));
        }
        Ok(())
    })();
    let after = std::fs::read(&announce).ok();
    if after.as_deref() != Some(before.as_slice()) {
        return Ok(false);
    }
    verdict
        .map(|()| true)
        .map_err(|e| format!("{}: {e}", dir.display()))
}

/// The temporary files of local writes under `root` (relative paths): with no writer
/// running, any is a leftover of an interrupted write.
pub fn leftovers(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = files_under(root)
        .into_keys()
        .filter(|k| {
            k.rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with(".ferry-tmp-"))
        })
        .collect();
    out.sort();
    out
}

/// Every backup folder under `root` (a backup root): how many are announced, or the first
/// violation.
pub fn check_root(root: &Path) -> Result<usize, String> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Ok(0);
    };
    let mut announced = 0;
    for e in rd.flatten() {
        if e.path().is_dir() && check_backup(&e.path())? {
            announced += 1;
        }
    }
    Ok(announced)
}

/// A thread that checks `root` every `every` until stopped; [`Watch::stop`] returns how many
/// looks it made and how many announced backups it saw in all, or the first violation.
#[derive(Debug)]
pub struct Watch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<(u64, u64), String>>>,
}

impl Watch {
    /// Starts watching.
    pub fn start(root: &Path, every: std::time::Duration) -> Watch {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, root) = (stop.clone(), root.to_path_buf());
        let thread = std::thread::spawn(move || {
            let (mut looks, mut seen) = (0u64, 0u64);
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                seen += check_root(&root)? as u64;
                looks += 1;
                std::thread::sleep(every);
            }
            Ok((looks, seen))
        });
        Watch {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops; (looks, announced backups seen over all looks), or the first violation.
    pub fn stop(mut self) -> Result<(u64, u64), String> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err("the watch thread panicked".into()),
            None => Ok((0, 0)),
        }
    }

    /// Whether it already found a violation (and stopped).
    pub fn failed(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| t.is_finished())
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
