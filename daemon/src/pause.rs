//! Pause points: deterministic hooks at the engine's race points, for tests that must put a
//! change (a backup created again at the source, a `kill -9`) exactly between two steps.
//!
//! With `FERRY_PAUSE_AT=point[,point...]` and `FERRY_PAUSE_DIR=DIR` in its environment, a
//! process that reaches a named point creates `DIR/<point>.reached` and waits until
//! `DIR/<point>.go` exists, once per point and process. Without them (always, outside tests)
//! a point costs a look at a value read once. The points:
//!
//! | point | where |
//! |---|---|
//! | `copy-before-record` | an object is at the target, its manifest row not written yet |
//! | `multipart-part-uploaded` | a part of a multipart copy is stored, the upload not complete |
//! | `local-before-rename` | a local write's temporary file is complete, not renamed yet |
//! | `settle-meta-read` | settling read a backup's first meta file, not the others yet |
//! | `settle-validated` | settling validated a backup's meta and data, wrote nothing yet |
//! | `settle-before-announce` | settling wrote every meta file but `backup_meta.json` |

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

struct Config {
    points: HashSet<String>,
    dir: PathBuf,
    passed: Mutex<HashSet<String>>,
}

fn config() -> Option<&'static Config> {
    static CONFIG: OnceLock<Option<Config>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let points = std::env::var("FERRY_PAUSE_AT").ok()?;
            let dir = std::env::var_os("FERRY_PAUSE_DIR")?;
            Some(Config {
                points: points
                    .split(',')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect(),
                dir: PathBuf::from(dir),
                passed: Mutex::new(HashSet::new()),
            })
        })
        .as_ref()
}

/// The go-file to wait for at `name`, when this process pauses there now.
fn arm(name: &str) -> Option<PathBuf> {
    let c = config()?;
    if !c.points.contains(name) {
        return None;
    }
    let mut passed = crate::lock::lock(&c.passed);
    if !passed.insert(name.to_owned()) {
        return None;
    }
    let _ = std::fs::write(
        c.dir.join(format!("{name}.reached")),
        std::process::id().to_string(),
    );
    tracing::info!(point = name, "paused (test hook)");
    Some(c.dir.join(format!("{name}.go")))
}

/// Pauses at `name` (async callers).
pub async fn point(name: &str) {
    if let Some(go) = arm(name) {
        while !go.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Pauses at `name` (blocking callers).
pub fn point_blocking(name: &str) {
    if let Some(go) = arm(name) {
        while !go.exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
