//! Disk faults at a local target and under the manifest: full (a small tmpfs), read-only (the
//! tmpfs remounted), permission denied. Each must give a clear error naming the path, a
//! non-zero exit (or a `retrying` job), nothing torn at the target, a consistent manifest, and
//! a resume once the disk is fixed.

use std::path::Path;
use std::time::Duration;

use ferry_tests::disk::Tmpfs;
use ferry_tests::milvus::write_file;
use ferry_tests::{Ferry, Ferryd, data, free_port, tree_hashes, wait_for};

const MIB: usize = 1024 * 1024;

/// Six 1 MiB binlogs and three small files under `root/backup/b1/`.
fn source(root: &Path) {
    for i in 0..6 {
        write_file(
            root,
            &format!("backup/b1/binlogs/insert_log/1/2/3/4/{i}"),
            &data(i, MIB),
        );
    }
    for name in ["meta/backup_meta.json", "meta/collection_meta.json", "x/y"] {
        write_file(root, &format!("backup/b1/{name}"), name.as_bytes());
    }
}

fn summary(out: &str) -> serde_json::Value {
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["op"] == "summary")
        .unwrap_or_else(|| panic!("no summary in:\n{out}"))
}

/// Every file at the target is whole (equal to its source) and no temporary file is left.
fn nothing_torn(src: &Path, dst: &Path) {
    let want: std::collections::BTreeMap<_, _> = tree_hashes(src).into_iter().collect();
    for (rel, hash) in tree_hashes(dst) {
        assert!(
            !rel.contains(".ferry-tmp"),
            "temporary file left at the target: {rel}"
        );
        assert_eq!(want.get(&rel), Some(&hash), "{rel} at the target is torn");
    }
}

/// A work folder with a source holding [`source`]'s files, a target and a state folder.
struct Case {
    _work: tempfile::TempDir,
    src: std::path::PathBuf,
    dst: std::path::PathBuf,
    state: std::path::PathBuf,
    ferry: Ferry,
}

impl Case {
    fn new() -> Case {
        let work = tempfile::tempdir().expect("work");
        let (src, dst, state) = (
            work.path().join("src"),
            work.path().join("dst"),
            work.path().join("state"),
        );
        source(&src);
        Case {
            _work: work,
            src,
            dst,
            state,
            ferry: Ferry::new(),
        }
    }

    /// Runs `ferry mirror [--json] --state-dir STATE SRC/ DST/`: (exit code, stdout, stderr).
    /// `bound`: with file permissions binding ferry (see [`Ferry::run_bound_by_permissions`]).
    fn run(&self, json: bool, bound: bool) -> (i32, String, String) {
        let (state, src, dst) = (
            self.state.display().to_string(),
            format!("{}/", self.src.display()),
            format!("{}/", self.dst.display()),
        );
        let mut args = vec!["mirror", "--state-dir", &state, &src, &dst];
        if json {
            args.insert(1, "--json");
        }
        if bound {
            self.ferry.run_bound_by_permissions(&args)
        } else {
            self.ferry.run(&args)
        }
    }

    /// The mirror, errors as `ferry: <ERROR>` lines on stderr.
    fn mirror(&self) -> (i32, String, String) {
        self.run(false, false)
    }

    /// Runs the mirror, which must succeed; returns its summary.
    fn mirror_ok(&self) -> serde_json::Value {
        let (code, out, err) = self.run(true, false);
        assert_eq!(code, 0, "{out}\n{err}");
        summary(&out)
    }
}

/// Whether one of stderr's `ferry: <ERROR>` lines names `path` and `cause`.
fn error_names(err: &str, path: &Path, cause: &str) -> bool {
    err.lines().any(|l| {
        l.starts_with("ferry: <ERROR>") && l.contains(&*path.to_string_lossy()) && l.contains(cause)
    })
}

#[test]
fn a_full_local_target_fails_clearly_then_resumes() {
    let c = Case::new();
    let (src, dst) = (&c.src, &c.dst);
    let Some(fs) = Tmpfs::mount(dst, "3m") else {
        return;
    };
    let (code, out, err) = c.run(true, false);
    assert_ne!(code, 0, "a full disk must fail the run:\n{out}\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        out.lines()
            .chain(err.lines())
            .any(|l| l.contains("No space left on device") && l.contains(&*dst.to_string_lossy())),
        "no error naming a target path and the cause:\n{out}\n{err}"
    );
    let first = summary(&out);
    assert!(first["failed"].as_u64() > Some(0), "{first}");
    nothing_torn(src, dst);

    // Room again: the next run copies what is missing, and only that.
    fs.remount("size=64m");
    let second = c.mirror_ok();
    assert_eq!(
        second["copied"].as_u64().expect("copied") + first["copied"].as_u64().expect("copied"),
        9,
        "each object copied once over both runs: {first} {second}"
    );
    assert_eq!(tree_hashes(src), tree_hashes(dst));
    let third = c.mirror_ok();
    assert_eq!(third["copied"], 0, "{third}");
}

#[test]
fn a_read_only_local_target_fails_clearly_then_resumes() {
    let c = Case::new();
    let (src, dst) = (&c.src, &c.dst);
    let Some(fs) = Tmpfs::mount(dst, "16m") else {
        return;
    };
    c.mirror_ok();
    write_file(
        src,
        "backup/b1/binlogs/insert_log/1/2/3/4/new",
        &data(9, 1000),
    );
    fs.remount("ro");
    let (code, out, err) = c.mirror();
    assert_ne!(code, 0, "{out}\n{err}");
    let new_at_target = dst.join("backup/b1/binlogs/insert_log/1/2/3/4/new");
    assert!(
        error_names(&err, &new_at_target, "Read-only file system"),
        "{err}"
    );
    fs.remount("rw");
    c.mirror_ok();
    assert_eq!(tree_hashes(src), tree_hashes(dst));
}

/// Root ignores file permissions; ferry then runs without capabilities (setpriv), so this
/// test needs no mount and runs anywhere.
#[test]
fn a_target_folder_ferry_may_not_write_fails_clearly_then_resumes() {
    use std::os::unix::fs::PermissionsExt;
    let c = Case::new();
    let (src, dst) = (&c.src, &c.dst);
    let locked = dst.join("backup/b1/x");
    std::fs::create_dir_all(&locked).expect("mkdir");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let (code, out, err) = c.run(false, true);
    assert_ne!(code, 0, "{out}\n{err}");
    let denied: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("ferry: <ERROR>"))
        .collect();
    assert_eq!(denied.len(), 1, "one object fails, the others copy:\n{err}");
    assert!(
        denied[0].contains(&*locked.join("y").to_string_lossy())
            && denied[0].contains("Permission denied"),
        "{err}"
    );
    nothing_torn(src, dst);
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (code, out, err) = c.run(false, true);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(tree_hashes(src), tree_hashes(dst));
}

#[test]
fn ferry_mirror_with_its_manifest_on_a_full_or_read_only_disk_fails_clearly_then_resumes() {
    let c = Case::new();
    let (src, dst, state) = (&c.src, &c.dst, &c.state);
    let Some(fs) = Tmpfs::mount(state, "4m") else {
        return;
    };
    c.mirror_ok();
    for i in 0..50 {
        write_file(src, &format!("backup/b2/binlogs/o{i}"), &data(i, 100));
    }
    let filler = fs.fill();
    let (code, out, err) = c.mirror();
    assert_ne!(code, 0, "{out}\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        error_names(&err, state, "No space left on device"),
        "no error naming the manifest and the cause:\n{err}"
    );
    nothing_torn(src, dst);
    std::fs::remove_file(filler).expect("free the disk");
    c.mirror_ok();
    assert_eq!(tree_hashes(src), tree_hashes(dst));

    // A manifest on a read-only disk: refused at open, with the folder and the cause.
    write_file(src, "backup/b3/o", b"o");
    fs.remount("ro");
    let (code, out, err) = c.mirror();
    assert_ne!(code, 0, "{out}\n{err}");
    assert!(error_names(&err, state, "Read-only file system"), "{err}");
    assert!(
        !dst.join("backup/b3/o").exists(),
        "nothing copied without a manifest"
    );
    fs.remount("rw");
    c.mirror_ok();
    assert_eq!(tree_hashes(src), tree_hashes(dst));
}

#[test]
fn ferryd_with_its_manifest_on_a_full_disk_retries_and_resumes_by_itself() {
    let c = Case::new();
    let (src, dst, state) = (&c.src, &c.dst, &c.state);
    let Some(fs) = Tmpfs::mount(state, "4m") else {
        return;
    };
    let addr = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "state_dir = \"{}\"\n[control]\nlisten = \"{addr}\"\n[[jobs]]\nname = \"d\"\n\
         layout = \"plain\"\ninclude = [\"**\"]\nsource = \"{}/\"\ntarget = \"{}/\"\n\
         interval = \"1s\"\n",
        state.display(),
        src.display(),
        dst.display()
    );
    let mut d = Ferryd::start(c._work.path(), &addr, &config);
    let total = || tree_hashes(src).len() as u64;
    let settled = |d: &Ferryd| {
        let j = d.job("d", None);
        j["state"] == "idle" && j["objects_in_sync"].as_u64() == Some(total())
    };
    wait_for(Duration::from_secs(30), "the first sync", || settled(&d));

    // Twice: the second time the manifest has been reopened once already.
    for round in 0..2 {
        let filler = fs.fill();
        for i in 0..30 {
            write_file(src, &format!("backup/r{round}/o{i}"), &data(i, 100));
        }
        wait_for(
            Duration::from_secs(30),
            "the job to report the full disk",
            || {
                let j = d.job("d", None).to_string();
                j.contains("\"state\":\"retrying\"")
                    && j.contains("No space left on device")
                    && j.contains(&*state.to_string_lossy())
            },
        );
        assert!(d.alive(), "ferryd must keep running:\n{}", d.log());
        std::fs::remove_file(filler).expect("free the disk");
        wait_for(
            Duration::from_secs(60),
            "the job to resume after the disk is freed",
            || settled(&d),
        );
        assert_eq!(tree_hashes(src), tree_hashes(dst), "round {round}");
    }

    // The manifest is consistent: after a restart nothing needs copying.
    assert_eq!(d.sigterm(), Some(0));
    d.restart();
    wait_for(
        Duration::from_secs(30),
        "the restarted daemon's first run",
        || {
            let j = d.job("d", None);
            j["runs_full"].as_u64() >= Some(1) && settled(&d)
        },
    );
    let j = d.job("d", None);
    assert_eq!(j["copied_total"], 0, "{j}");
    assert!(!d.log().contains("panicked"), "{}", d.log());
}
