//! Disk faults for tests: a small tmpfs mounted over a folder (to fill it up or remount it
//! read-only), and whether the tests run as root.
//!
//! Mounting needs root. Without it the tests that need a mount say so on stderr and return;
//! `.ci/run` runs as root and sets `FERRY_REQUIRE_MOUNT=1`, which turns that skip into a
//! failure, so CI cannot pass without running them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether this process runs as root (then file permissions do not bind it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// A tmpfs mounted at a folder; unmounted on drop.
#[derive(Debug)]
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount`'s syntax: `4m`) at `dir`, creating `dir`. `None`
    /// (after saying so) when mounting is not allowed here and not required.
    pub fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("mount point");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs {
                dir: dir.to_path_buf(),
            }),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var_os("FERRY_REQUIRE_MOUNT").is_none(),
                    "cannot mount a tmpfs at {} ({why}) and FERRY_REQUIRE_MOUNT is set",
                    dir.display()
                );
                eprintln!(
                    "SKIPPED: this test mounts a tmpfs, which needs root ({why}); CI runs it"
                );
                None
            }
        }
    }

    /// `mount -o remount,OPTIONS`, e.g. `ro`, `rw`, `size=64m`.
    pub fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {options} {}", self.dir.display());
    }

    /// Fills the free space with one file (returned, to delete later).
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let block = vec![0u8; 64 * 1024];
        loop {
            match f.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        let _ = f.sync_all();
        path
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}
