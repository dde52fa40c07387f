//! `ferry mirror` end to end: the real binary, real S3 servers (with request counters), local
//! folders, and the manifest on disk.

use std::path::Path;

use ferry_tests::s3s_server::S3sServer;
use ferry_tests::{Ferry, data, open_uploads, tree_hashes};

const MIB: usize = 1024 * 1024;

fn write_tree(root: &Path, n: usize) {
    for i in 0..n {
        let rel = format!("backup/b1/binlogs/insert_log/1/2/{}/{i}", i % 3);
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, data(i as u64, 1000 + i * 37)).expect("write");
    }
    let meta = root.join("backup/b1/meta/backup_meta.json");
    std::fs::create_dir_all(meta.parent().expect("parent")).expect("mkdir");
    std::fs::write(&meta, data(999, 12 * MIB + 1)).expect("write big");
}

fn records(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn summary(out: &str) -> serde_json::Value {
    records(out)
        .into_iter()
        .find(|r| r["op"] == "summary")
        .expect("summary line")
}

struct Env {
    ferry: Ferry,
    work: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            ferry: Ferry::new(),
            work: tempfile::tempdir().expect("work"),
        }
    }
    fn path(&self, rel: &str) -> String {
        format!("{}/{rel}", self.work.path().display())
    }
    fn state(&self) -> String {
        self.path("state")
    }
    fn mirror(&self, extra: &[&str], src: &str, dst: &str) -> (i32, String, String) {
        let state = self.state();
        let mut args = vec![
            "mirror",
            "--json",
            "--part-size",
            "5",
            "--state-dir",
            state.as_str(),
        ];
        args.extend_from_slice(extra);
        args.push(src);
        args.push(dst);
        self.ferry.run(&args)
    }
    fn mirror_ok(&self, extra: &[&str], src: &str, dst: &str) -> serde_json::Value {
        let (code, out, err) = self.mirror(extra, src, dst);
        assert_eq!(code, 0, "mirror failed\nstdout:\n{out}\nstderr:\n{err}");
        summary(&out)
    }
}

/// An in-process S3 server with a bucket `dst`, and a ferry environment with alias `t` to it.
fn server_env(access_key: &str, secret_key: &str) -> (S3sServer, Env) {
    let srv = S3sServer::start(access_key, secret_key);
    let env = Env::new();
    env.ferry.alias("t", &srv);
    env.ferry.ok(&["mb", "t/dst"]);
    (srv, env)
}

#[test]
fn local_to_s3_mirror_is_incremental_and_a_no_op_sends_no_request_to_the_target() {
    let (srv, env) = server_env("AKIAMIRROR1", "mirror-secret-1");
    let src_dir = env.work.path().join("src");
    write_tree(&src_dir, 20);
    let src = format!("{}/", src_dir.display());

    let first = env.mirror_ok(&[], &src, "t/dst/mirror/");
    assert_eq!(first["copied"], 21, "{first}");
    assert_eq!(
        open_uploads(srv.root()),
        Vec::<String>::new(),
        "a completed mirror left uploads open"
    );
    let back = env.path("back/");
    env.ferry.ok(&["cp", "-r", "t/dst/mirror/", &back]);
    assert_eq!(tree_hashes(&src_dir), tree_hashes(Path::new(&back)));

    // Nothing changed: the source is listed, the target is not touched at all.
    let before = srv.requests();
    let second = env.mirror_ok(&[], &src, "t/dst/mirror/");
    assert_eq!(
        (second["copied"].as_u64(), second["unchanged"].as_u64()),
        (Some(0), Some(21)),
        "{second}"
    );
    assert_eq!(
        srv.requests(),
        before,
        "a no-op mirror sent requests to the target"
    );

    // One changed file: exactly one copy.
    std::fs::write(
        src_dir.join("backup/b1/binlogs/insert_log/1/2/0/3"),
        data(4242, 1111),
    )
    .expect("rewrite");
    let (code, out, err) = env.mirror(&[], &src, "t/dst/mirror/");
    assert_eq!(code, 0, "{err}");
    let copies: Vec<_> = records(&out)
        .into_iter()
        .filter(|r| r["op"] == "copy")
        .collect();
    assert_eq!(copies.len(), 1, "{out}");
    assert_eq!(copies[0]["reason"], "changed");
    assert!(
        copies[0]["target"]
            .as_str()
            .is_some_and(|t| t.ends_with("insert_log/1/2/0/3"))
    );

    // A deleted source object stays at the target without --remove...
    std::fs::remove_file(src_dir.join("backup/b1/binlogs/insert_log/1/2/1/4")).expect("rm");
    let s = env.mirror_ok(&[], &src, "t/dst/mirror/");
    assert_eq!(
        (s["deleted"].as_u64(), s["kept"].as_u64()),
        (Some(0), Some(1)),
        "{s}"
    );
    assert!(
        env.ferry
            .ok(&["ls", "-r", "t/dst/mirror/"])
            .contains("insert_log/1/2/1/4")
    );
    // ... and goes with it.
    let s = env.mirror_ok(&["--remove"], &src, "t/dst/mirror/");
    assert_eq!(s["deleted"], 1, "{s}");
    assert!(
        !env.ferry
            .ok(&["ls", "-r", "t/dst/mirror/"])
            .contains("insert_log/1/2/1/4")
    );

    // A dry run changes nothing, not even the manifest.
    std::fs::write(src_dir.join("backup/b1/new-file"), b"new").expect("write");
    let before = env.ferry.ok(&["ls", "-r", "t/dst/mirror/"]);
    let dry = env.mirror_ok(&["--dry-run"], &src, "t/dst/mirror/");
    assert_eq!(dry["copied"], 1);
    assert_eq!(env.ferry.ok(&["ls", "-r", "t/dst/mirror/"]), before);
    assert_eq!(env.mirror_ok(&[], &src, "t/dst/mirror/")["copied"], 1);

    // --exclude: matching keys are neither copied nor deleted.
    std::fs::write(src_dir.join("backup/b1/scratch.tmp"), b"tmp").expect("write");
    assert_eq!(
        env.mirror_ok(&["--exclude", "*.tmp"], &src, "t/dst/mirror/")["copied"],
        0
    );
}

#[test]
fn s3_to_other_s3_mirror_no_op_sends_nothing_to_the_target() {
    let a = S3sServer::start("AKIAMIRRORA", "mirror-secret-a");
    let b = S3sServer::start("AKIAMIRRORB", "mirror-secret-b");
    let env = Env::new();
    env.ferry.alias("a", &a);
    env.ferry.alias("b", &b);
    env.ferry.ok(&["mb", "a/src"]);
    env.ferry.ok(&["mb", "b/dst"]);
    let local = env.work.path().join("seed");
    write_tree(&local, 12);
    env.ferry.ok(&[
        "cp",
        "-r",
        "--part-size",
        "5",
        &format!("{}/", local.display()),
        "a/src/",
    ]);

    let first = env.mirror_ok(&[], "a/src/backup/", "b/dst/backup/");
    assert_eq!(first["copied"], 13);
    let (a_before, b_before) = (a.requests(), b.requests());
    let again = env.mirror_ok(&[], "a/src/backup/", "b/dst/backup/");
    assert_eq!(again["unchanged"], 13, "{again}");
    assert_eq!(b.requests(), b_before, "no-op mirror touched the target");
    assert!(a.requests() > a_before, "the source must have been listed");

    let back = env.path("back/");
    env.ferry.ok(&["cp", "-r", "b/dst/backup/", &back]);
    assert_eq!(
        tree_hashes(&local.join("backup")),
        tree_hashes(Path::new(&back))
    );
}

#[test]
fn mirror_refuses_bad_state_overlap_and_unsafe_deletes() {
    let (_srv, env) = server_env("AKIAMIRRORX", "mirror-secret-x");
    let src_dir = env.work.path().join("src");
    write_tree(&src_dir, 3);
    let src = format!("{}/", src_dir.display());
    let state = env.state();

    // Overlapping ends.
    env.ferry.fails(
        &["mirror", "--state-dir", &state, "t/dst/a/", "t/dst/a/b/"],
        &["overlap"],
    );
    env.ferry.fails(
        &["mirror", "--state-dir", &state, "t/dst/a/", "t/dst/a/"],
        &["overlap"],
    );
    env.ferry.fails(
        &[
            "mirror",
            "--state-dir",
            &state,
            &src,
            &format!("{src}inner/"),
        ],
        &["overlap"],
    );

    // A foreign folder as the state dir.
    let foreign = env.path("foreign");
    std::fs::create_dir_all(&foreign).expect("mkdir");
    std::fs::write(format!("{foreign}/notes.txt"), "mine").expect("write");
    env.ferry.fails(
        &["mirror", "--state-dir", &foreign, &src, "t/dst/m/"],
        &["is not a ferry manifest"],
    );
    assert_eq!(
        std::fs::read_to_string(format!("{foreign}/notes.txt")).expect("kept"),
        "mine"
    );

    // The manifest in use by another process.
    env.mirror_ok(&[], &src, "t/dst/m/");
    {
        let _held = ferry_state::Manifest::open(Path::new(&state)).expect("hold the manifest");
        env.ferry.fails(
            &["mirror", "--state-dir", &state, &src, "t/dst/m/"],
            &["in use"],
        );
    }

    // An unreachable source with --remove: error, nothing deleted.
    env.ferry.ok(&[
        "alias",
        "set",
        "--no-check",
        "gone",
        "http://127.0.0.1:9",
        "k",
        "s",
    ]);
    env.ferry.ok(&["mb", "--ignore-existing", "t/dst"]);
    let before = env.ferry.ok(&["ls", "-r", "t/dst/m/"]);
    let (code, out, err) = env.mirror(&["--remove"], "gone/bucket/", "t/dst/m/");
    assert_eq!(code, 1, "{err}");
    // With --json the error is mc's error object on stdout.
    let error = records(&out)
        .into_iter()
        .find(|r| r["status"] == "error")
        .unwrap_or_else(|| panic!("no error object: {out}{err}"));
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("cannot connect") || message.contains("listing the source"),
        "{message}"
    );
    assert_eq!(env.ferry.ok(&["ls", "-r", "t/dst/m/"]), before);

    // A source that lists nothing: deleting everything is refused without --force.
    for f in walk_files(&src_dir) {
        std::fs::remove_file(f).expect("rm");
    }
    let (code, out, err) = env.mirror(&["--remove"], &src, "t/dst/m/");
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("the source listed no objects"), "{out}{err}");
    assert_eq!(env.ferry.ok(&["ls", "-r", "t/dst/m/"]), before);

    // Above --max-delete: refused.
    write_tree(&src_dir, 1);
    let (code, out, err) = env.mirror(&["--remove", "--max-delete", "1"], &src, "t/dst/m/");
    assert_eq!(code, 1);
    assert!(out.contains("exceed --max-delete"), "{out}{err}");
    env.ferry.fails(
        &[
            "mirror",
            "--state-dir",
            &state,
            "--max-delete",
            "lots",
            &src,
            "t/dst/m/",
        ],
        &["--max-delete"],
    );
    // With --force it goes through.
    let s = env.mirror_ok(
        &["--remove", "--max-delete", "1", "--force"],
        &src,
        "t/dst/m/",
    );
    assert_eq!(s["deleted"], 2, "{s}");
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn diff_and_verify_report_what_differs() {
    let (_srv, env) = server_env("AKIADIFF", "diff-secret");
    let src_dir = env.work.path().join("src");
    write_tree(&src_dir, 4);
    let src = format!("{}/", src_dir.display());
    env.mirror_ok(&[], &src, "t/dst/m/");
    let state = env.state();
    env.ferry
        .ok(&["diff", "--state-dir", &state, &src, "t/dst/m/"]);
    env.ferry.ok(&["verify", &src, "t/dst/m/"]);

    let bin = "backup/b1/binlogs/insert_log/1/2";
    std::fs::write(src_dir.join("backup/b1/only-local"), b"x").expect("write");
    env.ferry.ok(&["rm", &format!("t/dst/m/{bin}/1/1")]);
    // Same size, other content: invisible to sizes, caught by SHA-256.
    let tampered = env.work.path().join("tampered");
    std::fs::write(&tampered, data(5555, 1000 + 2 * 37)).expect("write");
    env.ferry.ok(&[
        "cp",
        &tampered.display().to_string(),
        &format!("t/dst/m/{bin}/2/2"),
    ]);
    // Other size.
    std::fs::write(&tampered, b"short").expect("write");
    env.ferry.ok(&[
        "cp",
        &tampered.display().to_string(),
        &format!("t/dst/m/{bin}/0/0"),
    ]);

    let (code, out, err) = env
        .ferry
        .run(&["diff", "--state-dir", &state, &src, "t/dst/m/"]);
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("< ") && l.ends_with("backup/b1/only-local")),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("< ") && l.ends_with(&format!("{bin}/1/1"))),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("! ") && l.ends_with(&format!("{bin}/0/0"))),
        "{out}"
    );
    assert_eq!(lines.len(), 3, "{out}");

    let (code, out, err) = env.ferry.run(&["verify", "--json", &src, "t/dst/m/"]);
    assert_eq!(code, 1, "{out}{err}");
    let recs = records(&out);
    let content: Vec<_> = recs.iter().filter(|r| r["diff"] == "content").collect();
    assert_eq!(content.len(), 1, "{out}");
    assert!(
        content[0]["first"]
            .as_str()
            .is_some_and(|f| f.ends_with(&format!("{bin}/2/2")))
    );
    assert_eq!(
        recs.iter().find(|r| r["op"] == "summary").expect("summary")["mismatches"],
        4
    );
}

fn copies(out: &str) -> Vec<(String, String)> {
    records(out)
        .into_iter()
        .filter(|r| r["op"] == "copy")
        .map(|r| {
            let target = r["target"].as_str().expect("target");
            let tail = target.rsplitn(3, '/').collect::<Vec<_>>();
            (
                format!("{}/{}", tail[1], tail[0]),
                r["reason"].as_str().expect("reason").to_owned(),
            )
        })
        .collect()
}

#[test]
fn check_target_repairs_drift_and_verify_catches_same_size_corruption() {
    let (srv, env) = server_env("AKIADRIFT", "drift-secret");
    let src_dir = env.work.path().join("src");
    write_tree(&src_dir, 6);
    let src = format!("{}/", src_dir.display());
    assert_eq!(env.mirror_ok(&[], &src, "t/dst/m/")["copied"], 7);

    // Behind ferry's back: one object deleted, one resized, one rewritten with the same size.
    let bin = "t/dst/m/backup/b1/binlogs/insert_log/1/2";
    env.ferry.ok(&["rm", &format!("{bin}/1/1")]);
    let other = env.work.path().join("other");
    std::fs::write(&other, b"short").expect("write");
    env.ferry
        .ok(&["cp", &other.display().to_string(), &format!("{bin}/0/3")]);
    std::fs::write(&other, data(5555, 1000 + 2 * 37)).expect("write");
    env.ferry
        .ok(&["cp", &other.display().to_string(), &format!("{bin}/2/2")]);

    // A plain mirror trusts the manifest: nothing to do, no request to the target.
    let before = srv.requests();
    assert_eq!(env.mirror_ok(&[], &src, "t/dst/m/")["copied"], 0);
    assert_eq!(srv.requests(), before);

    // --check-target lists the target: the missing and the resized objects come back.
    let (code, out, err) = env.mirror(&["--check-target"], &src, "t/dst/m/");
    assert_eq!(code, 0, "{out}{err}");
    let mut got = copies(&out);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("0/3".to_owned(), "changed-at-target".to_owned()),
            ("1/1".to_owned(), "missing-at-target".to_owned()),
        ],
        "{out}"
    );
    assert_eq!(summary(&out)["targetListed"], true);

    // Same size, other bytes: only reading it back shows it. --verify repairs it.
    let (code, out, err) = env.mirror(&["--verify"], &src, "t/dst/m/");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        copies(&out),
        vec![("2/2".to_owned(), "corrupt-at-target".to_owned())],
        "{out}"
    );
    assert_eq!(summary(&out)["verified"], 6, "{out}");
    env.ferry.ok(&["verify", &src, "t/dst/m/"]);
    // And a verify run over a healthy target copies nothing.
    let s = env.mirror_ok(&["--verify"], &src, "t/dst/m/");
    assert_eq!(
        (s["copied"].as_u64(), s["verified"].as_u64()),
        (Some(0), Some(7)),
        "{s}"
    );
}

#[test]
fn first_mirror_adopts_identical_objects_and_overwrites_foreign_ones_only_when_asked() {
    let (srv, env) = server_env("AKIAADOPT", "adopt-secret");
    let src_dir = env.work.path().join("src");
    write_tree(&src_dir, 3);
    let src = format!("{}/", src_dir.display());
    // The target was seeded by hand (`mc cp --recursive` style), then one object replaced.
    env.ferry.ok(&["cp", "-r", &src, "t/dst/m/"]);
    let foreign = env.work.path().join("foreign");
    std::fs::write(&foreign, b"not from the source").expect("write");
    let key = "t/dst/m/backup/b1/binlogs/insert_log/1/2/1/1";
    env.ferry.ok(&["cp", &foreign.display().to_string(), key]);
    let extra = "t/dst/m/backup/b1/extra";
    env.ferry.ok(&["cp", &foreign.display().to_string(), extra]);

    // The first mirror looks at the target: identical objects are recorded without a copy,
    // the foreign one is reported and left alone.
    let (code, out, err) = env.mirror(&[], &src, "t/dst/m/");
    assert_eq!(code, 1, "{out}{err}");
    let s = summary(&out);
    assert_eq!(
        (
            s["adopted"].as_u64(),
            s["copied"].as_u64(),
            s["failed"].as_u64()
        ),
        (Some(3), Some(0), Some(1)),
        "{out}"
    );
    let failure = records(&out)
        .into_iter()
        .find(|r| r["status"] == "error")
        .expect("error line");
    assert!(
        failure["error"]["message"]
            .as_str()
            .is_some_and(|e| e.contains("--overwrite") && e.contains("insert_log/1/2/1/1")),
        "{failure}"
    );
    assert_eq!(
        env.ferry.ok(&["cat", key]).as_bytes(),
        b"not from the source"
    );
    assert_eq!(s["kept"], 1, "the extra object is reported kept: {out}");

    // Still unresolved, so the next run looks at the target again and still refuses.
    let (code, out, _) = env.mirror(&[], &src, "t/dst/m/");
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        env.ferry.ok(&["cat", key]).as_bytes(),
        b"not from the source"
    );

    // --overwrite replaces it; --remove drops the extraneous object (mc's meaning).
    let (code, out, err) = env.mirror(&["--overwrite", "--remove"], &src, "t/dst/m/");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        copies(&out),
        vec![("1/1".to_owned(), "overwrite".to_owned())],
        "{out}"
    );
    assert_eq!(summary(&out)["deleted"], 1, "{out}");
    env.ferry.ok(&["verify", &src, "t/dst/m/"]);
    // Now clean: the target is not listed any more.
    let before = srv.requests();
    let s = env.mirror_ok(&[], &src, "t/dst/m/");
    assert_eq!(
        (s["unchanged"].as_u64(), s["targetListed"].as_bool()),
        (Some(4), Some(false))
    );
    assert_eq!(srv.requests(), before);
}

#[test]
fn mirror_killed_at_random_points_converges_with_nothing_lost() {
    let (srv, env) = server_env("AKIACRASH", "crash-secret");
    let src_dir = env.work.path().join("src");
    // Many small objects and several multipart ones (5 MiB parts), so kills land in listing,
    // mid-part, between parts and between the upload and the manifest write.
    for i in 0..40u64 {
        let p = src_dir.join(format!("backup/b/binlogs/{}/{i}", i % 4));
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        let len = if i % 8 == 0 {
            11 * MIB + i as usize
        } else {
            20_000 + i as usize
        };
        std::fs::write(&p, data(i, len)).expect("write");
    }
    let src = format!("{}/", src_dir.display());
    let state = env.state();
    let mut rng = fastrand::Rng::with_seed(20261121);
    let cycles = 24;
    let mut killed = 0;
    for cycle in 0..cycles {
        if cycle > 0 {
            // The source keeps changing between runs, as a backup folder does: every run has
            // work to be killed in the middle of (one rewritten object is multipart-sized).
            for n in 0..5u64 {
                let i = if n == 0 {
                    8 * rng.u64(0..5)
                } else {
                    rng.u64(0..40)
                };
                let p = src_dir.join(format!("backup/b/binlogs/{}/{i}", i % 4));
                let len = if i % 8 == 0 {
                    11 * MIB + cycle as usize
                } else {
                    20_000 + cycle as usize
                };
                std::fs::write(&p, data(1000 * cycle + n, len)).expect("rewrite");
            }
        }
        let mut child = env
            .ferry
            .process()
            .args([
                "mirror",
                "-q",
                "--part-size",
                "5",
                "--max-workers",
                "4",
                "--state-dir",
                &state,
                &src,
                "t/dst/m/",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(
                std::fs::File::create(env.work.path().join(format!("stderr-{cycle}")))
                    .expect("log"),
            )
            .spawn()
            .expect("spawn ferry");
        std::thread::sleep(std::time::Duration::from_millis(rng.u64(10..250)));
        if child.try_wait().expect("poll").is_none() {
            child.kill().expect("kill -9");
            killed += 1;
        }
        child.wait().expect("reap");
    }
    assert!(
        killed >= cycles / 2,
        "only {killed} of {cycles} runs were killed mid-way: make the tree bigger"
    );

    if std::env::var_os("FERRY_DEBUG_CRASH").is_some() {
        let m = ferry_state::Manifest::open(Path::new(&state)).expect("manifest");
        for (pair, _) in m.pairs().expect("pairs") {
            eprintln!(
                "rows before final run: {:?}",
                m.uploads(pair).expect("uploads")
            );
        }
        eprintln!(
            "open at server before final run: {:?}",
            open_uploads(srv.root())
        );
    }
    // A clean run converges: the target equals the source by SHA-256, nothing extra.
    let (code, out, final_log) = env.mirror(&["--remove"], &src, "t/dst/m/");
    assert_eq!(code, 0, "final mirror failed\n{out}\n{final_log}");
    assert_eq!(summary(&out)["failed"], 0, "{out}");
    env.ferry.ok(&["verify", &src, "t/dst/m/"]);
    env.ferry
        .ok(&["diff", "--state-dir", &state, &src, "t/dst/m/"]);
    // Interrupted multipart uploads were aborted by the following runs: none is left open.
    // (An abort the server refuses is reported with the key: s3s-fs answers 403 to aborting
    // an upload it no longer knows, e.g. one the killed run had completed.)
    let mut logs: Vec<String> = (0..cycles)
        .map(|c| {
            std::fs::read_to_string(env.work.path().join(format!("stderr-{c}"))).unwrap_or_default()
        })
        .collect();
    logs.push(final_log);
    let reported = logs
        .iter()
        .map(|l| l.matches("multipart upload may remain open").count())
        .sum::<usize>();
    let open = open_uploads(srv.root());
    if std::env::var_os("FERRY_DEBUG_CRASH").is_some() {
        eprintln!("open after final run: {open:?}\n{}", logs.join("\n"));
    }
    assert!(
        open.is_empty(),
        "{} uploads left open, {reported} reported: {open:?}",
        open.len()
    );
    let manifest = ferry_state::Manifest::open(Path::new(&state)).expect("manifest");
    for (pair, _) in manifest.pairs().expect("pairs") {
        assert!(
            manifest.uploads(pair).expect("uploads").is_empty(),
            "upload records left in the manifest"
        );
    }
    ferry_tests::report(&format!(
        "ferry mirror crash loop: {cycles} runs, {killed} killed mid-way, 40 objects verified by SHA-256, {} uploads left open ({reported} reported)",
        open.len()
    ));
}
