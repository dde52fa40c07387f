//! What a new user trips over (issue 18): one test per finding, named after it, through the
//! real binaries and the in-process S3 server.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ferry_tests::milvus::{Backup, Spec, Version};
use ferry_tests::s3s_server::S3sServer;
use ferry_tests::{Ferry, data};

fn records(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `work/bucket/backup/` holding two backups, written the way milvus-backup writes them.
fn local_backups(work: &Path) -> std::path::PathBuf {
    let root = work.join("bucket/backup");
    for (name, seed) in [("b1", 11), ("b2", 12)] {
        Backup::generate(&Spec::small(name, Version::V0_5_12, seed)).write(&root);
    }
    root
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn a_root_one_level_above_the_backups_is_refused_naming_the_root_to_use() {
    let work = tempfile::tempdir().expect("tmp");
    local_backups(work.path());
    let ferry = Ferry::new();
    let bucket = s(&work.path().join("bucket"));
    ferry.fails(
        &["backups", "ls", &bucket],
        &[
            "is not a milvus-backup backup root",
            "its backups are one level down, in backup/",
            &format!("use {bucket}/backup/"),
        ],
    );
    // The right root lists both.
    let out = ferry.ok(&["backups", "ls", &format!("{bucket}/backup/")]);
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn one_backup_given_as_the_root_is_refused_and_nothing_is_written() {
    let work = tempfile::tempdir().expect("tmp");
    let root = local_backups(work.path());
    let srv = S3sServer::start("AKIANEWUSER1", "newuser-secret-1");
    srv.create_bucket("dst");
    let ferry = Ferry::new();
    ferry.alias("t", &srv);
    let one = format!("{}/", s(&root.join("b1")));
    for quiet in [false, true] {
        let mut args = vec!["mirror", "--backups", &one, "t/dst/backup/"];
        if quiet {
            args.insert(0, "-q");
        }
        ferry.fails(
            &args,
            &["is not a milvus-backup backup root", "it is one backup"],
        );
    }
    let stored: Vec<_> = std::fs::read_dir(srv.root().join("dst"))
        .expect("bucket")
        .collect();
    assert!(stored.is_empty(), "written: {stored:?}");
    // A folder inside a backup points up to the root too.
    ferry.fails(
        &["backups", "ls", &s(&root.join("b1/binlogs"))],
        &["it is inside a backup", &format!("use {}/", s(&root))],
    );
}

#[test]
fn alias_set_checks_the_endpoint_and_credentials() {
    let srv = S3sServer::start("AKIANEWUSER2", "newuser-secret-2");
    let ferry = Ferry::new();
    let before = std::fs::read(ferry.config_dir().join("config.json")).unwrap_or_default();
    let err = ferry.fails(
        &[
            "alias",
            "set",
            "w",
            &srv.url(),
            srv.access_key(),
            "not-the-secret",
        ],
        &["alias \"w\" not saved", "--no-check"],
    );
    assert!(!err.contains("not-the-secret"), "{err}");
    let dead = ferry_tests::DeadPort::new();
    ferry.fails(
        &[
            "alias",
            "set",
            "d",
            &format!("http://127.0.0.1:{}", dead.port()),
            "k",
            "s",
        ],
        &["alias \"d\" not saved", "connection refused"],
    );
    assert_eq!(
        std::fs::read(ferry.config_dir().join("config.json")).unwrap_or_default(),
        before,
        "nothing saved"
    );
    ferry.ok(&[
        "alias",
        "set",
        "--no-check",
        "w",
        &srv.url(),
        srv.access_key(),
        "not-the-secret",
    ]);
    let out = ferry.ok(&[
        "alias",
        "set",
        "g",
        &srv.url(),
        srv.access_key(),
        srv.secret_key(),
    ]);
    assert!(out.contains("Added `g` successfully."), "{out}");
}

#[test]
fn copying_into_a_path_that_is_a_file_is_refused_once() {
    let work = tempfile::tempdir().expect("tmp");
    let dir = work.path().join("dir");
    for i in 0..20 {
        std::fs::create_dir_all(dir.join(format!("d{i}"))).expect("mkdir");
        std::fs::write(dir.join(format!("d{i}/f")), b"x").expect("write");
    }
    let file = work.path().join("file.txt");
    std::fs::write(&file, b"a file").expect("write");
    let ferry = Ferry::new();
    ferry.fails(
        &[
            "cp",
            "-r",
            &format!("{}/", s(&dir)),
            &format!("{}/sub/", s(&file)),
        ],
        &["is a file, not a folder", "nothing was copied"],
    );
    ferry.fails(
        &[
            "mirror",
            &format!("{}/", s(&dir)),
            &format!("{}/", s(&file)),
        ],
        &["is a file, not a folder"],
    );
    assert_eq!(std::fs::read(&file).expect("read"), b"a file");
}

#[test]
fn https_against_a_plain_http_server_is_named_as_such_without_debug_output() {
    let srv = S3sServer::start("AKIANEWUSER3", "newuser-secret-3");
    srv.create_bucket("bkt");
    let ferry = Ferry::new();
    let url = srv.url().replace("http://", "https://");
    ferry.ok(&[
        "alias",
        "set",
        "--no-check",
        "tls",
        &url,
        srv.access_key(),
        srv.secret_key(),
    ]);
    let started = std::time::Instant::now();
    let err = ferry.fails(&["ls", "tls/bkt"], &["does not speak TLS", "http://"]);
    assert!(
        !err.contains("DispatchFailure") && !err.contains("ConnectorError") && !err.contains("{"),
        "{err}"
    );
    assert!(!err.contains("temporary"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "not retried as a temporary failure: {:?}",
        started.elapsed()
    );
    // And the check at `alias set` says the same.
    ferry.fails(
        &[
            "alias",
            "set",
            "tls2",
            &url,
            srv.access_key(),
            srv.secret_key(),
        ],
        &["does not speak TLS"],
    );
}

#[test]
fn errors_name_no_temporary_file() {
    let work = tempfile::tempdir().expect("tmp");
    let src = work.path().join("f");
    std::fs::write(&src, b"x").expect("write");
    let ro = work.path().join("ro");
    std::fs::create_dir_all(&ro).expect("mkdir");
    // Not writable (as root too: /proc refuses new files).
    let target = if nix_is_root() {
        "/proc/ferry-newuser-target".to_owned()
    } else {
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        s(&ro.join("t"))
    };
    let (code, out, err) = Ferry::new().run(&["cp", &s(&src), &target]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(!err.contains(".ferry-tmp"), "{err}");
    assert!(err.contains("ferry: <ERROR>"), "{err}");
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

#[test]
fn errors_say_each_word_once() {
    let srv = S3sServer::start("AKIANEWUSER4", "newuser-secret-4");
    let ferry = Ferry::new();
    ferry.alias("siteB", &srv);
    ferry.ok(&["mb", "siteB/bucket"]);
    let err = ferry.fails(&["mb", "siteB/bucket"], &["siteB/bucket"]);
    assert!(
        !err.contains("BucketAlreadyExists BucketAlreadyExists")
            && !err.contains("BucketAlreadyOwnedByYou BucketAlreadyOwnedByYou"),
        "{err}"
    );
    let work = tempfile::tempdir().expect("tmp");
    let f = work.path().join("f");
    std::fs::write(&f, b"x").expect("write");
    for args in [
        vec!["ls", "siteB/nosuch"],
        vec!["cp", f.to_str().expect("utf-8"), "siteB/nosuch/f"],
        vec!["rb", "siteB/nosuch"],
    ] {
        let err = ferry.fails(&args, &["siteB/nosuch"]);
        assert_eq!(err.matches("siteB/nosuch").count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn jobs_written_as_a_table_is_explained() {
    let work = tempfile::tempdir().expect("tmp");
    let config = work.path().join("ferryd.toml");
    std::fs::write(
        &config,
        "[jobs]\nname = \"a\"\nsource = \"/tmp/x/\"\ntarget = \"/tmp/y/\"\n",
    )
    .expect("write");
    let out = std::process::Command::new(ferry_tests::bin_path("ferryd"))
        .args(["--check-config", "--config", &s(&config)])
        .output()
        .expect("ferryd");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ferryd.toml:1") && err.contains("[[jobs]]") && err.contains("not `[jobs]`"),
        "{err}"
    );
}

#[test]
fn rm_on_a_prefix_points_to_recursive_force() {
    let srv = S3sServer::start("AKIANEWUSER5", "newuser-secret-5");
    let ferry = Ferry::new();
    ferry.alias("a", &srv);
    ferry.ok(&["mb", "a/bkt"]);
    let work = tempfile::tempdir().expect("tmp");
    let f = work.path().join("f");
    std::fs::write(&f, b"x").expect("write");
    ferry.ok(&["cp", &s(&f), "a/bkt/dir/f"]);
    ferry.fails(
        &["rm", "a/bkt/dir"],
        &["a/bkt/dir", "is a prefix", "--recursive --force"],
    );
    ferry.fails(&["rm", "a/bkt/nothing"], &["no such object"]);
    ferry.ok(&["stat", "a/bkt/dir/f"]);
}

#[test]
fn a_mistyped_alias_without_a_slash_is_refused() {
    let srv = S3sServer::start("AKIANEWUSER6", "newuser-secret-6");
    srv.create_bucket("bkt");
    let ferry = Ferry::new();
    ferry.alias("siteB", &srv);
    let work = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(work.path().join("dir")).expect("mkdir");
    std::fs::write(work.path().join("dir/f"), b"x").expect("write");
    let out = ferry
        .cmd()
        .current_dir(work.path())
        .args(["cp", "-r", "dir/", "sitB"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("did you mean the alias \"siteB\"") && err.contains("./sitB"),
        "{err}"
    );
    assert!(!work.path().join("sitB").exists());
    // Written as a path, it is a local folder.
    let out = ferry
        .cmd()
        .current_dir(work.path())
        .args(["cp", "-r", "dir/", "./sitB"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(work.path().join("sitB/f").exists());
}

#[test]
fn json_errors_are_json_objects() {
    let ferry = Ferry::new();
    let (code, out, err) = ferry.run(&["--json", "ls", "nosuch/bucket"]);
    assert_eq!(code, 1, "{out}{err}");
    let recs = records(&out);
    assert_eq!(recs.len(), 1, "{out}{err}");
    assert_eq!(recs[0]["status"], "error");
    assert!(
        recs[0]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"nosuch\" is not an alias")),
        "{out}"
    );
    assert!(!err.contains("<ERROR>"), "{err}");
}

#[test]
fn ls_json_shows_the_etag() {
    let srv = S3sServer::start("AKIANEWUSER7", "newuser-secret-7");
    let ferry = Ferry::new();
    ferry.alias("a", &srv);
    ferry.ok(&["mb", "a/bkt"]);
    let work = tempfile::tempdir().expect("tmp");
    let f = work.path().join("f");
    std::fs::write(&f, b"hello").expect("write");
    ferry.ok(&["cp", &s(&f), "a/bkt/f"]);
    for target in ["a/bkt/", &format!("{}/", s(work.path()))] {
        let out = ferry.ok(&["--json", "ls", target]);
        let file = records(&out)
            .into_iter()
            .find(|r| r["key"] == "f")
            .expect("f listed");
        assert!(
            file["etag"].as_str().is_some_and(|e| !e.is_empty()),
            "{out}"
        );
    }
    let out = ferry.ok(&["--json", "ls", "a/bkt/"]);
    // S3's ETag of a single PUT is the MD5 of the content.
    assert!(out.contains("5d41402abc4b2a76b9719d911017c592"), "{out}");
}

#[test]
fn downloads_follow_the_umask() {
    let srv = S3sServer::start("AKIANEWUSER8", "newuser-secret-8");
    let ferry = Ferry::new();
    ferry.alias("a", &srv);
    ferry.ok(&["mb", "a/bkt"]);
    let work = tempfile::tempdir().expect("tmp");
    let f = work.path().join("f");
    std::fs::write(&f, data(1, 100)).expect("write");
    ferry.ok(&["cp", &s(&f), "a/bkt/f"]);
    for (umask, mode) in [("022", 0o644), ("077", 0o600), ("002", 0o664)] {
        let got = work.path().join(format!("got-{umask}"));
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
            .arg(ferry_tests::bin_path("ferry"))
            .args(["-q", "cp", "a/bkt/f", &s(&got)])
            .env("FERRY_CONFIG_DIR", ferry.config_dir())
            .status()
            .expect("run");
        assert!(status.success());
        let m = std::fs::metadata(&got).expect("meta").permissions().mode() & 0o777;
        assert_eq!(m, mode, "umask {umask}: {m:o}");
    }
}

#[test]
fn counts_say_one_object() {
    let work = tempfile::tempdir().expect("tmp");
    let f = work.path().join("f");
    std::fs::write(&f, b"x").expect("write");
    let (code, out, err) = Ferry::new().run(&["cp", &s(&f), &s(&work.path().join("g"))]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("Copied 1 object ("), "{err}");
}

#[test]
fn backups_are_listed_oldest_first() {
    let work = tempfile::tempdir().expect("tmp");
    let root = work.path().join("backup");
    let mut made = Vec::new();
    for (name, seed) in [("a", 3), ("b", 1), ("c", 7), ("d", 5)] {
        let b = Backup::generate(&Spec::small(name, Version::V0_5_12, seed));
        b.write(&root);
        made.push(name);
    }
    let out = Ferry::new().ok(&["--json", "backups", "ls", &s(&root)]);
    let listed: Vec<(String, u64)> = records(&out)
        .into_iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_owned(),
                r["created"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(listed.len(), 4, "{out}");
    assert!(
        listed.windows(2).all(|w| w[0].1 <= w[1].1),
        "not oldest first: {listed:?}"
    );
    let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    assert_ne!(
        names, made,
        "the seeds must give another order than the names'"
    );
}

#[test]
fn diff_finds_a_same_size_change_at_the_source() {
    let work = tempfile::tempdir().expect("tmp");
    let src = work.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("f"), data(1, 1000)).expect("write");
    std::fs::write(src.join("g"), data(2, 1000)).expect("write");
    let dst = format!("{}/", s(&work.path().join("dst")));
    let state = s(&work.path().join("state"));
    let srcs = format!("{}/", s(&src));
    let ferry = Ferry::new();
    ferry.ok(&["mirror", "--state-dir", &state, &srcs, &dst]);
    ferry.ok(&["diff", "--state-dir", &state, &srcs, &dst]);
    // Same size, other content, at the source.
    std::fs::write(src.join("f"), data(3, 1000)).expect("write");
    let (code, out, err) = ferry.run(&["diff", "--state-dir", &state, &srcs, &dst]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.lines().any(|l| l.ends_with("/f")), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    // Without a manifest nothing proves it: said, not hidden.
    let (code, out, err) = ferry.run(&["diff", &srcs, &dst]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("2 objects of the same size at both ends not compared"),
        "{err}"
    );
    assert!(err.contains("ferry verify"), "{err}");
}

#[test]
fn version_and_completions_come_from_the_same_definitions_as_help() {
    let ferry = Ferry::new();
    let out = ferry.ok(&["version"]);
    assert!(out.starts_with("ferry "), "{out}");
    let flag = ferry.ok(&["--version"]);
    assert_eq!(out.trim(), flag.trim());
    let bash = ferry.ok(&["completion", "bash"]);
    for word in ["mirror", "backups", "--remove", "--bandwidth", "completion"] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    let zsh = ferry.ok(&["completion", "zsh"]);
    assert!(zsh.contains("#compdef ferry"), "{zsh}");
}

// ---- ferryd ----

fn header(dir: &Path, addr: &str) -> String {
    format!(
        "state_dir = \"{}\"\nalias_dir = \"{}\"\n[control]\nlisten = \"{addr}\"\n",
        dir.join("state").display(),
        dir.join("aliases").display()
    )
}

fn alias_toml(name: &str, srv: &S3sServer, secret: &str) -> String {
    format!(
        "[aliases.{name}]\nurl = \"{}\"\naccess_key = \"{}\"\nsecret_key = \"{secret}\"\n",
        srv.url(),
        srv.access_key(),
    )
}

fn ferryd(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(ferry_tests::bin_path("ferryd"))
        .args(args)
        .output()
        .expect("ferryd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_connect_reports_each_unreachable_part_by_job_and_key() {
    let srv = S3sServer::start("AKIANEWUSER9", "newuser-secret-9");
    srv.create_bucket("src");
    let dir = tempfile::tempdir().expect("tmp");
    local_backups(dir.path());
    let addr = format!("127.0.0.1:{}", ferry_tests::free_port());
    let config = format!(
        "{}{}{}\
         [[jobs]]\nname = \"a\"\nsource = \"bad/src/backup/\"\ntarget = \"good/nosuch/\"\n\
         [jobs.restore]\nkind = \"exec\"\ncommand = [\"no-such-restore-program\", \"{{backup}}\"]\n\
         [[jobs]]\nname = \"b\"\nsource = \"{}/\"\ntarget = \"./out/\"\n",
        header(dir.path(), &addr),
        alias_toml("good", &srv, srv.secret_key()),
        alias_toml("bad", &srv, "not-the-secret"),
        dir.path().join("bucket").display(),
    );
    let path = dir.path().join("ferryd.toml");
    std::fs::write(&path, config).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let path = s(&path);
    let (code, out, err) = ferryd(&["--check-config", "--config", &path]);
    assert_eq!(code, 0, "the file itself is valid: {out}{err}");
    let (code, out, err) = ferryd(&["--check-config", "--connect", "--config", &path]);
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<&str> = err.lines().collect();
    let has = |job: &str, key: &str, what: &str| {
        lines
            .iter()
            .any(|l| l.contains(&format!("job \"{job}\": {key}: ")) && l.contains(what))
    };
    assert!(has("a", "jobs.source", "bad/src"), "{err}");
    assert!(has("a", "jobs.target", "good/nosuch"), "{err}");
    assert!(
        has("a", "jobs.restore.command", "no-such-restore-program"),
        "{err}"
    );
    assert!(has("b", "jobs.source", "set source = "), "{err}");
    assert_eq!(lines.len(), 4, "{err}");
    assert!(!err.contains("not-the-secret"), "{err}");
}

#[test]
fn status_shows_bytes_done_of_an_object_in_flight() {
    let srv = S3sServer::start("AKIANEWUSER10", "newuser-secret-10");
    srv.create_bucket("dst");
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    const MIB: usize = 1024 * 1024;
    // Six 16 MiB parts, four read at once under the cap: the first four are stored a few
    // seconds before the last two, a window in which the copy is part done.
    std::fs::write(src.join("big"), data(5, 96 * MIB)).expect("write");
    let addr = format!("127.0.0.1:{}", ferry_tests::free_port());
    let config = format!(
        "{}{}[[jobs]]\nname = \"j\"\nlayout = \"plain\"\nsource = \"{}/\"\ntarget = \"s/dst/\"\nbandwidth = \"16MiB\"\n",
        header(dir.path(), &addr),
        alias_toml("s", &srv, srv.secret_key()),
        src.display(),
    );
    let d = ferry_tests::Ferryd::start(dir.path(), &addr, &config);
    let mut seen = None;
    ferry_tests::wait_for(
        std::time::Duration::from_secs(60),
        "a copy half done",
        || {
            let j = d.job("j", None);
            let c = &j["copying"][0];
            let (done, size) = (
                c["done"].as_u64().unwrap_or(0),
                c["size"].as_u64().unwrap_or(0),
            );
            if done > 0 && done < size {
                seen = Some(j.clone());
                true
            } else {
                false
            }
        },
    );
    let j = seen.expect("seen");
    assert_eq!(j["copying"][0]["key"], "big", "{j}");
    assert_eq!(j["copying"][0]["size"], 96 * MIB, "{j}");
    let human = Ferry::new().ok(&["status", "--daemon", &format!("http://{addr}"), "j"]);
    assert!(
        human.contains("copying big: ") && human.contains(" of 96MiB"),
        "{human}"
    );
    ferry_tests::wait_for(std::time::Duration::from_secs(30), "the copy", || {
        let j = d.job("j", None);
        j["copied_total"] == 1 && j["copying"].as_array().is_none_or(|a| a.is_empty())
    });
}

#[test]
fn status_counts_objects_found_already_at_the_target() {
    let dir = tempfile::tempdir().expect("tmp");
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    for d in [&src, &dst] {
        std::fs::create_dir_all(d).expect("mkdir");
        for i in 0..5 {
            std::fs::write(d.join(format!("f{i}")), data(i, 1000)).expect("write");
        }
    }
    let addr = format!("127.0.0.1:{}", ferry_tests::free_port());
    let config = format!(
        "{}[[jobs]]\nname = \"j\"\nlayout = \"plain\"\nsource = \"{}/\"\ntarget = \"{}/\"\n",
        header(dir.path(), &addr),
        src.display(),
        dst.display(),
    );
    let d = ferry_tests::Ferryd::start(dir.path(), &addr, &config);
    ferry_tests::wait_for(std::time::Duration::from_secs(20), "the first run", || {
        d.job("j", None)["adopted_total"] == 5
    });
    let j = d.job("j", None);
    assert_eq!(j["copied_total"], 0, "{j}");
    let human = Ferry::new().ok(&["status", "--daemon", &format!("http://{addr}"), "j"]);
    assert!(
        human.contains("already at the target when first seen (recorded, not copied): 5 objects"),
        "{human}"
    );
}

#[test]
fn a_backup_job_over_the_wrong_root_fails_its_runs_saying_which_root_to_use() {
    let dir = tempfile::tempdir().expect("tmp");
    local_backups(dir.path());
    let addr = format!("127.0.0.1:{}", ferry_tests::free_port());
    let config = format!(
        "{}[[jobs]]\nname = \"j\"\nsource = \"{}/\"\ntarget = \"./out/\"\n",
        header(dir.path(), &addr),
        dir.path().join("bucket").display(),
    );
    let d = ferry_tests::Ferryd::start(dir.path(), &addr, &config);
    ferry_tests::wait_for(std::time::Duration::from_secs(20), "a failed run", || {
        d.job("j", None)["last_run"]["error"].is_string()
    });
    let j = d.job("j", None);
    let e = j["last_run"]["error"].as_str().unwrap_or_default();
    assert!(
        e.contains("not a milvus-backup backup root") && e.contains("/bucket/backup/"),
        "{j}"
    );
    assert!(!dir.path().join("out").exists(), "nothing copied");
}

#[test]
fn job_names_are_written_as_given() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("src")).expect("mkdir");
    let addr = format!("127.0.0.1:{}", ferry_tests::free_port());
    let config = format!(
        "{}[[jobs]]\nname = \"milvus-to-site-a\"\nlayout = \"plain\"\nsource = \"{}/\"\ntarget = \"./out/\"\n",
        header(dir.path(), &addr),
        dir.path().join("src").display(),
    );
    let _d = ferry_tests::Ferryd::start(dir.path(), &addr, &config);
    let err = Ferry::new().fails(
        &[
            "sync",
            "--daemon",
            &format!("http://{addr}"),
            "milvus-to-site-b",
        ],
        &["milvus-to-site-b"],
    );
    assert!(!err.contains("%2D"), "{err}");
}

#[test]
fn a_backup_gone_from_the_source_is_shown_as_such() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = local_backups(dir.path());
    let addr = format!("127.0.0.1:{}", ferry_tests::free_port());
    let config = format!(
        "{}[[jobs]]\nname = \"j\"\nsource = \"{}/\"\ntarget = \"./out/\"\nwatch = false\n",
        header(dir.path(), &addr),
        root.display(),
    );
    let d = ferry_tests::Ferryd::start(dir.path(), &addr, &config);
    let backups = |d: &ferry_tests::Ferryd| d.job("j", None)["backups"].clone();
    ferry_tests::wait_for(std::time::Duration::from_secs(30), "both verified", || {
        let b = backups(&d);
        b.as_array()
            .is_some_and(|a| a.len() == 2 && a.iter().all(|x| x["state"] == "verified"))
    });
    std::fs::remove_dir_all(root.join("b1")).expect("rm");
    let ferry = Ferry::new();
    let daemon = format!("http://{addr}");
    ferry.ok(&["sync", "--wait", "--daemon", &daemon, "j"]);
    ferry.ok(&["sync", "--wait", "--daemon", &daemon, "j"]);
    let b = backups(&d);
    let b1 = b
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "b1"))
        .cloned()
        .expect("b1 still listed: kept at the target");
    assert_eq!(b1["state"], "verified", "{b}");
    assert!(
        b1["detail"]
            .as_str()
            .is_some_and(|d| d.contains("gone from the source")),
        "{b}"
    );
    let human = ferry.ok(&["status", "--daemon", &daemon, "j"]);
    assert!(!human.contains("waiting for meta"), "{human}");
    assert!(dir.path().join("out/b1/meta/backup_meta.json").exists());
}

// ---- the commands users missed ----

#[test]
fn du_and_find_work_like_mc() {
    let work = tempfile::tempdir().expect("tmp");
    let root = local_backups(work.path());
    let ferry = Ferry::new();
    let r = s(&root);
    let out = ferry.ok(&["du", &r]);
    let total: u64 = walk_sizes(&root);
    let last = out.lines().last().expect("a total line");
    assert!(last.ends_with(&format!("{r}/")), "{out}");
    let out = ferry.ok(&["--json", "du", "--depth", "1", &r]);
    let recs = records(&out);
    assert_eq!(recs.len(), 3, "b1/, b2/ and the total: {out}");
    let sum: u64 = recs
        .iter()
        .filter(|x| x["prefix"] != format!("{r}/"))
        .map(|x| x["size"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(sum, total);
    assert_eq!(
        recs.iter()
            .find(|x| x["prefix"] == format!("{r}/"))
            .expect("total")["size"],
        total
    );
    let out = ferry.ok(&["find", &r, "--name", "backup_meta.json"]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            format!("{r}/b1/meta/backup_meta.json"),
            format!("{r}/b2/meta/backup_meta.json")
        ],
        "{out}"
    );
    let out = ferry.ok(&["find", &r, "--path", "b1/meta/*", "--larger", "10"]);
    assert!(
        out.lines().all(|l| l.contains("/b1/meta/")) && !out.is_empty(),
        "{out}"
    );
    assert_eq!(
        ferry.ok(&["find", &r, "--name", "*.nothing"]),
        "",
        "none: no line, exit 0"
    );
    ferry.ok(&[
        "find",
        &r,
        "--newer-than",
        "1h",
        "--maxdepth",
        "3",
        "--name",
        "*.json",
    ]);
    let (code, out, _) = ferry.run(&["find", &r, "--older-than", "1h"]);
    assert_eq!((code, out.as_str()), (0, ""), "all were just written");
}

fn walk_sizes(root: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                total += p.metadata().expect("meta").len();
            }
        }
    }
    total
}

#[test]
fn backups_rm_removes_backup_meta_first_and_only_what_is_named() {
    let srv = S3sServer::start("AKIANEWUSER11", "newuser-secret-11");
    srv.create_bucket("bkt");
    let work = tempfile::tempdir().expect("tmp");
    let root = local_backups(work.path());
    Backup::generate(&Spec::small("old_1", Version::V0_5_12, 21)).write(&root);
    let ferry = Ferry::new();
    ferry.alias("a", &srv);
    ferry.ok(&["cp", "-r", &format!("{}/", s(&root)), "a/bkt/backup/"]);
    ferry.fails(
        &["backups", "rm", "a/bkt/backup/", "old_*"],
        &["needs --force"],
    );
    ferry.fails(
        &["backups", "rm", "--force", "a/bkt/backup/", "nosuch"],
        &["no backup matches \"nosuch\""],
    );
    let out = ferry.ok(&["backups", "rm", "--dry-run", "a/bkt/backup/", "old_*"]);
    assert!(out.contains("Would remove backup `old_1`"), "{out}");
    assert!(
        srv.root()
            .join("bkt/backup/old_1/meta/backup_meta.json")
            .exists()
    );
    let out = ferry.ok(&["backups", "rm", "--force", "a/bkt/backup/", "old_*", "b2"]);
    assert!(
        out.contains("Removed backup `old_1`") && out.contains("Removed backup `b2`"),
        "{out}"
    );
    let left = ferry.ok(&["backups", "ls", "a/bkt/backup/"]);
    assert_eq!(left.lines().count(), 1, "{left}");
    assert!(left.contains("b1"), "{left}");
}

#[test]
fn mirror_backups_takes_named_and_newest_backups_only() {
    let work = tempfile::tempdir().expect("tmp");
    let root = work.path().join("backup");
    let mut dated = Vec::new();
    for (name, seed) in [("n1", 31), ("n2", 32), ("n3", 33), ("x1", 34)] {
        let b = Backup::generate(&Spec::small(name, Version::V0_5_12, seed));
        b.write(&root);
        dated.push(name);
    }
    let ferry = Ferry::new();
    let out_of = |d: &str| work.path().join(d);
    let listed = |d: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(out_of(d))
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let src = format!("{}/", s(&root));
    ferry.ok(&[
        "mirror",
        "--backups",
        "--backup",
        "n*",
        "--state-dir",
        &s(&out_of("s1")),
        &src,
        &format!("{}/", s(&out_of("one"))),
    ]);
    assert_eq!(listed("one"), ["n1", "n2", "n3"]);
    // The newest two of the n* backups, by their meta's time.
    let out = ferry.ok(&["--json", "backups", "ls", &src]);
    let order: Vec<String> = records(&out)
        .into_iter()
        .filter_map(|r| r["name"].as_str().map(str::to_owned))
        .filter(|n| n.starts_with('n'))
        .collect();
    let mut newest: Vec<String> = order[order.len() - 2..].to_vec();
    newest.sort();
    ferry.ok(&[
        "mirror",
        "--backups",
        "--backup",
        "n*",
        "--newest",
        "2",
        "--state-dir",
        &s(&out_of("s2")),
        &src,
        &format!("{}/", s(&out_of("two"))),
    ]);
    assert_eq!(listed("two"), newest);
    ferry.fails(
        &[
            "mirror",
            "--backups",
            "--backup",
            "zz*",
            &src,
            &format!("{}/", s(&out_of("three"))),
        ],
        &["no backup matches \"zz*\""],
    );
    // Not without --backups.
    let (code, _, err) = ferry.run(&["mirror", "--backup", "n1", &src, "/tmp/x/"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn mirror_watch_copies_what_changes_until_interrupted() {
    let work = tempfile::tempdir().expect("tmp");
    let src = work.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("first"), b"1").expect("write");
    let dst = work.path().join("dst");
    let ferry = Ferry::new();
    let child = ferry
        .process()
        .args([
            "mirror",
            "--watch",
            "--state-dir",
            &s(&work.path().join("state")),
            &format!("{}/", s(&src)),
            &format!("{}/", s(&dst)),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    ferry_tests::wait_for(std::time::Duration::from_secs(10), "the first run", || {
        dst.join("first").exists()
    });
    std::fs::create_dir_all(src.join("later")).expect("mkdir");
    std::fs::write(src.join("later/second"), b"2").expect("write");
    ferry_tests::wait_for(std::time::Duration::from_secs(20), "the watch", || {
        dst.join("later/second").exists()
    });
    // Ctrl-C ends it cleanly.
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Watching"), "{err}");
}

#[test]
fn sync_and_restore_wait_and_restore_log_serve_scripts() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = local_backups(dir.path());
    let addr = format!("127.0.0.1:{}", ferry_tests::free_port());
    let config = format!(
        "{}[[jobs]]\nname = \"j\"\nsource = \"{}/\"\ntarget = \"./out/\"\n\
         [jobs.restore]\nkind = \"exec\"\nbackups = []\ncommand = [\"sh\", \"-c\", \"echo restoring $0; test $0 = b1\", \"{{backup}}\"]\n",
        header(dir.path(), &addr),
        root.display(),
    );
    let _d = ferry_tests::Ferryd::start(dir.path(), &addr, &config);
    let ferry = Ferry::new();
    let daemon = format!("http://{addr}");
    ferry.ok(&["sync", "--wait", "--daemon", &daemon, "j"]);
    assert!(dir.path().join("out/b2/meta/backup_meta.json").exists());
    let out = ferry.ok(&["restore", "--wait", "--daemon", &daemon, "j", "b1"]);
    assert!(out.contains("restored"), "{out}");
    let (code, out, err) = ferry.run(&["restore", "--wait", "--daemon", &daemon, "j", "b2"]);
    assert_eq!(code, 1, "b2's program fails: {out}{err}");
    let id = records(
        &ferry
            .run(&["--json", "restore", "status", "--daemon", &daemon])
            .1,
    )
    .into_iter()
    .find(|r| r["backup"] == "b1")
    .and_then(|r| r["id"].as_str().map(str::to_owned))
    .expect("b1's restore");
    let log = ferry.ok(&["restore", "log", "--daemon", &daemon, &id]);
    assert!(log.contains("restoring b1"), "{log}");
    ferry.fails(
        &["restore", "log", "--daemon", &daemon, "ferry-nope"],
        &["ferry-nope"],
    );
}

#[test]
fn unfinished_local_writes_are_listed_and_removed_with_incomplete() {
    let work = tempfile::tempdir().expect("tmp");
    let dir = work.path().join("dst");
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    std::fs::write(dir.join("kept"), b"x").expect("write");
    // What a write killed mid-way leaves: `.ferry-tmp-<name>-<hash>.<random>` beside its key.
    std::fs::write(dir.join("sub/.ferry-tmp-big.bin-0a1b2c3d.Xy12"), b"partial").expect("write");
    let ferry = Ferry::new();
    let d = format!("{}/", s(&dir));
    let out = ferry.ok(&["ls", "--incomplete", "-r", &d]);
    assert!(out.trim_end().ends_with("sub/big.bin"), "{out}");
    let out = ferry.ok(&["--json", "ls", "--incomplete", "-r", &d]);
    assert_eq!(records(&out)[0]["type"], "upload", "{out}");
    ferry.ok(&["rm", "--incomplete", "-r", "--force", &d]);
    assert!(!dir.join("sub/.ferry-tmp-big.bin-0a1b2c3d.Xy12").exists());
    assert!(dir.join("kept").exists());
    assert!(ferry.ok(&["ls", "--incomplete", "-r", &d]).is_empty());
}

#[test]
fn sighup_reloads_a_valid_config_and_keeps_running_on_an_invalid_one() {
    let dir = tempfile::tempdir().expect("tmp");
    for d in ["a", "b"] {
        std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        std::fs::write(dir.path().join(d).join("f"), d).expect("write");
    }
    let addr = format!("127.0.0.1:{}", ferry_tests::free_port());
    let job = |name: &str| {
        format!(
            "[[jobs]]\nname = \"{name}\"\nlayout = \"plain\"\nsource = \"{}/\"\ntarget = \"./out-{name}/\"\n",
            dir.path().join(name).display()
        )
    };
    let d = ferry_tests::Ferryd::start(
        dir.path(),
        &addr,
        &format!("{}{}", header(dir.path(), &addr), job("a")),
    );
    ferry_tests::wait_for(std::time::Duration::from_secs(20), "job a", || {
        dir.path().join("out-a/f").exists()
    });
    let pid = d.pid();
    let hup = || {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok);
    };
    let config = dir.path().join("ferryd.toml");
    // An invalid config: logged, nothing changes.
    std::fs::write(&config, "[jobs]\nname = 1\n").expect("write");
    hup();
    ferry_tests::wait_for(std::time::Duration::from_secs(10), "the refusal", || {
        d.log().contains("config not reloaded")
    });
    assert_eq!(d.job("a", None)["name"], "a");
    // A valid one with a second job: the same process runs both.
    std::fs::write(
        &config,
        format!("{}{}{}", header(dir.path(), &addr), job("a"), job("b")),
    )
    .expect("write");
    hup();
    ferry_tests::wait_for(std::time::Duration::from_secs(30), "job b", || {
        dir.path().join("out-b/f").exists()
    });
    assert_eq!(d.pid(), pid, "the same process");
    assert_eq!(d.job("b", None)["name"], "b");
    let log = d.log();
    assert!(
        log.contains("reloading") && log.contains("starting again"),
        "{log}"
    );
}

/// milvus-backup's v1 backup.yaml whose backup storage is `srv`'s bucket `bucket` (root
/// `backup` unless `root` says otherwise), with `secret` as its secret key.
fn backup_yaml_v1(srv: &S3sServer, bucket: &str, root: Option<&str>, secret: &str) -> String {
    let (host, port) = srv
        .url()
        .trim_start_matches("http://")
        .rsplit_once(':')
        .map(|(h, p)| (h.to_owned(), p.to_owned()))
        .expect("host:port");
    let root = root
        .map(|r| format!("  backupRootPath: \"{r}\"\n"))
        .unwrap_or_default();
    format!(
        "# milvus-backup v1 config\nmilvus:\n  address: localhost\n  port: 19530\n\
         minio:\n  storageType: \"minio\"\n  address: milvus-minio\n  port: 9000\n  \
         accessKeyID: minioadmin\n  secretAccessKey: minioadmin\n  useSSL: false\n  \
         bucketName: \"a-bucket\"\n  rootPath: \"files\"\n  backupStorageType: \"minio\"\n  \
         backupAddress: {host}\n  backupPort: {port}\n  backupAccessKeyID: {}\n  \
         backupSecretAccessKey: \"{secret}\"\n  backupBucketName: \"{bucket}\"\n{root}  \
         backupUseSSL: false\n  crossStorage: \"false\"\nbackup:\n  parallelism:\n    copydata: 128\n",
        srv.access_key(),
    )
}

#[test]
fn backup_yaml_is_imported_as_an_alias_of_its_backup_storage() {
    let srv = S3sServer::start("AKIANEWUSER20", "newuser-secret-20");
    srv.create_bucket("bkt");
    for (name, seed) in [("b1", 21), ("b2", 22)] {
        Backup::generate(&Spec::small(name, Version::V0_5_12, seed))
            .write(&srv.root().join("bkt/milvus/backup"));
    }
    let dir = tempfile::tempdir().expect("tmp");
    let good = dir.path().join("backup.yaml");
    std::fs::write(
        &good,
        backup_yaml_v1(&srv, "bkt", Some("milvus/backup"), srv.secret_key()),
    )
    .expect("write");
    let ferry = Ferry::new();
    let out = ferry.ok(&["alias", "import", "siteA", &s(&good)]);
    assert!(
        out.contains("backup storage") && out.contains("siteA/bkt/milvus/backup/"),
        "{out}"
    );
    let out = ferry.ok(&["backups", "ls", "siteA/bkt/milvus/backup/"]);
    assert_eq!(out.lines().count(), 2, "{out}");

    // A secret the server refuses: nothing is saved, as with `alias set`.
    let wrong = dir.path().join("wrong.yaml");
    std::fs::write(&wrong, backup_yaml_v1(&srv, "bkt", None, "not-the-secret")).expect("write");
    ferry.fails(
        &["alias", "import", "siteB", &s(&wrong)],
        &["alias \"siteB\" not saved", &srv.url()],
    );
    ferry.fails(&["alias", "ls", "siteB"], &["siteB"]);
    // milvus-backup's environment variable wins over the file, here too; it is named, never shown.
    let (code, out, err) = ferry.run_with_env(
        &[("MINIO_BACKUP_SECRET_KEY", srv.secret_key())],
        &["alias", "import", "siteB", &s(&wrong)],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("$MINIO_BACKUP_SECRET_KEY"), "{out}");
    assert!(
        out.contains("siteB/bkt/backup/"),
        "the v1 default root: {out}"
    );
    assert!(!out.contains(srv.secret_key()) && !err.contains(srv.secret_key()));

    // The Milvus side on request; what ferry cannot reach is named by key.
    let out = ferry.ok(&[
        "alias",
        "import",
        "--side",
        "milvus",
        "--no-check",
        "milvus",
        &s(&good),
    ]);
    assert!(out.contains("milvus/a-bucket/files/"), "{out}");
    let azure = dir.path().join("azure.yaml");
    std::fs::write(
        &azure,
        "configVersion: v2\nbackup:\n  storage:\n    provider: azure\n    bucketName: c\n",
    )
    .expect("write");
    ferry.fails(
        &["alias", "import", "az", &s(&azure)],
        &["azure.yaml: backup.storage.provider", "Azure Blob Storage"],
    );
    let local = dir.path().join("local.yaml");
    std::fs::write(
        &local,
        "configVersion: v2\nbackup:\n  storage:\n    provider: local\n    rootPath: /srv/milvus-backup\n",
    )
    .expect("write");
    ferry.fails(
        &["alias", "import", "loc", &s(&local)],
        &["the local folder /srv/milvus-backup", "no alias is needed"],
    );
}

#[test]
fn backup_yaml_of_each_site_becomes_a_job_that_mirrors_and_restores() {
    let site_a = S3sServer::start("AKIANEWUSER21", "newuser-secret-21");
    let site_b = S3sServer::start("AKIANEWUSER22", "newuser-secret-22");
    site_a.create_bucket("a-bk");
    site_b.create_bucket("b-bk");
    for (name, seed) in [("b1", 31), ("b2", 32)] {
        Backup::generate(&Spec::small(name, Version::V0_5_12, seed))
            .write(&site_a.root().join("a-bk/backup"));
    }
    let dir = tempfile::tempdir().expect("tmp");
    let a_yaml = dir.path().join("site-a.yaml");
    std::fs::write(
        &a_yaml,
        backup_yaml_v1(&site_a, "a-bk", None, site_a.secret_key()),
    )
    .expect("write");
    // Site B writes the v2 layout: backup.storage inherits milvus.storage's endpoint and keys.
    let b_host = site_b.url().trim_start_matches("http://").to_owned();
    let (host, port) = b_host.rsplit_once(':').expect("host:port");
    let b_yaml = dir.path().join("site-b.yaml");
    std::fs::write(
        &b_yaml,
        format!(
            "configVersion: v2\nmilvus:\n  storage:\n    provider: minio\n    address: {host}\n    \
             port: {port}\n    bucketName: milvus-b\n    rootPath: files\n    auth:\n      \
             type: static\n      accessKeyID: {}\n      secretAccessKey: \"{}\"\n\
             backup:\n  storage:\n    bucketName: b-bk\n    rootPath: restored/backup\n",
            site_b.access_key(),
            site_b.secret_key()
        ),
    )
    .expect("write");
    // milvus-backup's stand-in: records how it was called.
    let calls = dir.path().join("calls.txt");
    let program = dir.path().join("milvus-backup");
    std::fs::write(
        &program,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", calls.display()),
    )
    .expect("write");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    // ferryd runs one job already; the new one is added to its file and picked up on SIGHUP.
    std::fs::create_dir_all(dir.path().join("other")).expect("mkdir");
    let addr = format!("127.0.0.1:{}", ferry_tests::free_port());
    let d = ferry_tests::Ferryd::start(
        dir.path(),
        &addr,
        &format!(
            "{}[[jobs]]\nname = \"other\"\nlayout = \"plain\"\nsource = \"{}/\"\ntarget = \"./out/\"\n",
            header(dir.path(), &addr),
            dir.path().join("other").display()
        ),
    );
    let config = s(&d.config);
    let ferry = Ferry::new();
    let before = std::fs::read_to_string(&d.config).expect("read");

    // A site whose keys are refused: nothing is written, and the key at fault is named.
    let wrong = dir.path().join("wrong.yaml");
    std::fs::write(
        &wrong,
        backup_yaml_v1(&site_a, "a-bk", None, "not-the-secret"),
    )
    .expect("write");
    let program_arg = s(&program);
    let add = |source: &str| {
        vec![
            "job".to_owned(),
            "add".into(),
            "a-to-b".into(),
            source.to_owned(),
            s(&b_yaml),
            "--config".into(),
            config.clone(),
            "--restore".into(),
            "--milvus-backup".into(),
            program_arg.clone(),
            "-s".into(),
            "_bak".into(),
        ]
    };
    let wrong_args = add(&s(&wrong));
    let wrong_args: Vec<&str> = wrong_args.iter().map(String::as_str).collect();
    ferry.fails(
        &wrong_args,
        &["job \"a-to-b\" not added, nothing was written"],
    );
    assert_eq!(std::fs::read_to_string(&d.config).expect("read"), before);
    assert!(!dir.path().join("aliases/config.json").exists());

    let args = add(&s(&a_yaml));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ferry.ok(&args);
    assert!(
        out.contains("source = \"a-to-b-source/a-bk/backup/\""),
        "{out}"
    );
    assert!(
        out.contains("target = \"a-to-b-target/b-bk/restored/backup/\""),
        "{out}"
    );
    assert!(
        out.contains("Saved alias a-to-b-source, a-to-b-target"),
        "{out}"
    );
    assert!(!out.contains(site_a.secret_key()) && !out.contains(site_b.secret_key()));
    let text = std::fs::read_to_string(&d.config).expect("read");
    assert!(text.starts_with(&before), "the file's own text is kept");
    let (code, out, err) = ferryd(&["--check-config", "--connect", "--config", &config]);
    assert_eq!(code, 0, "{out}{err}");
    // The same job twice is refused.
    ferry.fails(&args, &["\"a-to-b\" is used by two jobs"]);

    let ok = std::process::Command::new("kill")
        .args(["-HUP", &d.pid().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok);
    let daemon = format!("http://{addr}");
    ferry_tests::wait_for(std::time::Duration::from_secs(20), "the new job", || {
        ferry.run(&["status", "--daemon", &daemon, "a-to-b"]).0 == 0
    });
    ferry.ok(&["sync", "--wait", "--daemon", &daemon, "a-to-b"]);
    for b in ["b1", "b2"] {
        assert!(
            site_b
                .root()
                .join(format!("b-bk/restored/backup/{b}/meta/backup_meta.json"))
                .exists()
        );
    }
    ferry_tests::wait_for(std::time::Duration::from_secs(30), "two restores", || {
        std::fs::read_to_string(&calls).is_ok_and(|c| c.lines().count() == 2)
    });
    let calls = std::fs::read_to_string(&calls).expect("calls");
    for b in ["b1", "b2"] {
        let want = format!("--config {} restore -n {b} -s _bak", b_yaml.display());
        assert!(calls.lines().any(|l| l == want), "{calls}");
    }
}
