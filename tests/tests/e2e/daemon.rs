//! `ferryd` end to end: the real daemon process with a real config, real S3 servers (s3s-fs
//! in-process), local folders, the control API over HTTP and the `ferry` CLI against it.

use std::path::Path;
use std::time::Duration;

use ferry_tests::s3s_server::S3sServer;
use ferry_tests::{
    DeadPort, Ferry, Ferryd, data, free_port, http, open_uploads, tree_hashes, wait_for,
};

const MIB: usize = 1024 * 1024;

fn alias_toml(name: &str, srv: &S3sServer) -> String {
    format!(
        "[aliases.{name}]\nurl = \"{}\"\naccess_key = \"{}\"\nsecret_key = \"{}\"\n",
        srv.url(),
        srv.access_key(),
        srv.secret_key()
    )
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

fn header(dir: &Path, addr: &str) -> String {
    format!(
        "state_dir = \"{}\"\nalias_dir = \"{}\"\n[control]\nlisten = \"{addr}\"\n",
        dir.join("state").display(),
        dir.join("aliases").display()
    )
}

#[test]
fn watched_local_source_reaches_the_s3_target_and_status_shows_it() {
    let srv = S3sServer::start("AKIAWATCH", "watch-secret");
    srv.create_bucket("dst");
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("src");
    write(&src.join("b0/meta/backup_meta.json"), b"{}");
    let addr = format!("127.0.0.1:{}", free_port());
    // interval 1h: after the first scan, only the watch can bring changes over.
    let config = format!(
        "{}{}[[jobs]]\nname = \"w\"\nlayout = \"plain\"\nsource = \"{}/\"\ntarget = \"s/dst/backup/\"\ninterval = \"1h\"\ninclude = [\"*/meta/**\", \"*/binlogs/**\"]\n",
        header(dir.path(), &addr),
        alias_toml("s", &srv),
        src.display()
    );
    let d = Ferryd::start(dir.path(), &addr, &config);
    let at_target = |rel: &str| srv.root().join("dst/backup").join(rel);
    wait_for(Duration::from_secs(20), "the first scan", || {
        at_target("b0/meta/backup_meta.json").exists()
    });

    // A new backup appears: new folders, then files in them.
    let bin = "b1/binlogs/insert_log/1/2/3/4/100";
    write(&src.join(bin), &data(1, 300_000));
    write(&src.join("b1/meta/backup_meta.json"), b"{\"name\":\"b1\"}");
    // Not in the job's include: never copied.
    write(&src.join("b1/scratch.tmp"), b"x");
    wait_for(
        Duration::from_secs(10),
        "watched files at the target",
        || at_target(bin).exists() && at_target("b1/meta/backup_meta.json").exists(),
    );
    assert_eq!(
        std::fs::read(at_target(bin)).expect("read"),
        data(1, 300_000)
    );

    let ferry = Ferry::new();
    let daemon = format!("http://{addr}");
    let settled = std::time::Instant::now();
    loop {
        let last = d.job("w", None);
        if last["copied_total"] == 3 && last["pending_keys"] == 0 && last["state"] == "idle" {
            break;
        }
        assert!(
            settled.elapsed() < Duration::from_secs(10),
            "status did not settle: {last}\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = ferry.ok(&["status", "--json", "--daemon", &daemon, "w"]);
    let j: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(j["copied_total"], 3, "{j}");
    assert_eq!(j["watching"], true, "{j}");
    assert_eq!(j["failed"], serde_json::json!([]), "{j}");
    assert!(j["last_run"]["error"].is_null(), "{j}");
    assert!(!at_target("b1/scratch.tmp").exists());
    let human = ferry.ok(&["status", "--daemon", &daemon]);
    assert!(human.starts_with("w  idle  "), "{human}");
    assert!(human.contains("copied since start: 3"), "{human}");
    let metrics = http(&addr, "GET", "/metrics", None, b"").1;
    assert!(
        metrics.contains("ferry_objects_copied_total{job=\"w\"} 3"),
        "{metrics}"
    );
}

#[test]
fn s3_source_reaches_a_local_target_by_polling_and_by_webhook() {
    let srv = S3sServer::start("AKIAPOLL", "poll-secret");
    srv.create_bucket("src");
    let dir = tempfile::tempdir().expect("tmp");
    let addr = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "{}{}[[jobs]]\nname = \"poll\"\nlayout = \"plain\"\nsource = \"s/src/poll/\"\ntarget = \"./poll-out/\"\ninterval = \"1s\"\n\
         [[jobs]]\nname = \"hook\"\nlayout = \"plain\"\nsource = \"s/src/hook\"\ntarget = \"./hook-out/\"\ninterval = \"1h\"\n",
        header(dir.path(), &addr),
        alias_toml("s", &srv),
    );
    let d = Ferryd::start(dir.path(), &addr, &config);
    let ferry = Ferry::new();
    ferry.ok(&[
        "alias",
        "set",
        "s",
        &srv.url(),
        srv.access_key(),
        srv.secret_key(),
    ]);
    let file = dir.path().join("payload");
    std::fs::write(&file, data(7, 70_000)).expect("write");
    let file = file.display().to_string();

    ferry.ok(&["cp", &file, "s/src/poll/b1/meta/full_meta.json"]);
    wait_for(Duration::from_secs(10), "the poll to copy", || {
        dir.path().join("poll-out/b1/meta/full_meta.json").exists()
    });

    // The hook job polls hourly: after its first scan only a bucket event brings this over.
    wait_for(Duration::from_secs(10), "the hook job's first scan", || {
        !d.job("hook", None)["last_run"].is_null()
    });
    ferry.ok(&["cp", &file, "s/src/hook/b9/meta/backup_meta.json"]);
    std::thread::sleep(Duration::from_millis(1500));
    let hooked = dir.path().join("hook-out/b9/meta/backup_meta.json");
    assert!(!hooked.exists(), "copied without an event");
    // As MinIO posts it (keys URL-encoded).
    let event = serde_json::json!({
        "EventName": "s3:ObjectCreated:Put",
        "Key": "src/hook/b9/meta/backup_meta.json",
        "Records": [{
            "eventName": "s3:ObjectCreated:Put",
            "s3": {"bucket": {"name": "src"}, "object": {"key": "hook%2Fb9%2Fmeta%2Fbackup_meta.json", "size": 70000}}
        }]
    });
    let (status, body) = http(
        &addr,
        "POST",
        "/v1/webhook",
        None,
        event.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"accepted\":1"), "{body}");
    wait_for(Duration::from_secs(3), "the webhook to copy", || {
        hooked.exists()
    });
    assert_eq!(std::fs::read(&hooked).expect("read"), data(7, 70_000));
    let j = d.job("hook", None);
    assert!(j["runs_keys"].as_u64() >= Some(1), "{j}");
}

#[test]
fn a_job_whose_target_is_down_keeps_retrying_while_another_keeps_working() {
    let dir = tempfile::tempdir().expect("tmp");
    let dead = DeadPort::new();
    let addr = format!("127.0.0.1:{}", free_port());
    write(&dir.path().join("src1/b1/meta/backup_meta.json"), b"one");
    write(&dir.path().join("src2/b2/meta/backup_meta.json"), b"two");
    let config = format!(
        "{}[aliases.down]\nurl = \"http://127.0.0.1:{}\"\naccess_key = \"AKIADOWN\"\nsecret_key = \"down-secret\"\n\
         [[jobs]]\nname = \"down\"\nlayout = \"plain\"\nsource = \"./src1/\"\ntarget = \"down/bkt/x/\"\ninterval = \"1h\"\n\
         [[jobs]]\nname = \"up\"\nlayout = \"plain\"\nsource = \"./src2/\"\ntarget = \"./out2/\"\ninterval = \"1h\"\n",
        header(dir.path(), &addr),
        dead.port()
    );
    let mut d = Ferryd::start(dir.path(), &addr, &config);
    wait_for(Duration::from_secs(10), "the working job", || {
        dir.path().join("out2/b2/meta/backup_meta.json").exists()
    });
    wait_for(Duration::from_secs(60), "the failing job to retry", || {
        let j = d.job("down", None);
        j["consecutive_failures"].as_u64() >= Some(2) && j["state"] == "retrying"
    });
    // The other job is unaffected.
    write(&dir.path().join("src2/b3/meta/backup_meta.json"), b"three");
    wait_for(Duration::from_secs(10), "the working job again", || {
        dir.path().join("out2/b3/meta/backup_meta.json").exists()
    });
    let j = d.job("down", None);
    assert!(j["last_run"]["error"].as_str().is_some(), "{j}");
    assert!(
        !j["last_run"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("down-secret")
    );

    // The target comes up: the retries get through (the backoff may have grown to ~30 s by
    // now on a loaded machine, hence the generous wait).
    let root = dir.path().join("server");
    std::fs::create_dir_all(root.join("bkt")).expect("bucket");
    let _srv = S3sServer::start_at(
        &root,
        &format!("127.0.0.1:{}", dead.revive()),
        "AKIADOWN",
        "down-secret",
    );
    wait_for(
        Duration::from_secs(120),
        "the failing job to recover",
        || root.join("bkt/x/b1/meta/backup_meta.json").exists(),
    );
    assert!(d.alive());
}

#[test]
fn sigterm_mid_transfer_then_restart_converges_with_nothing_lost() {
    let srv = S3sServer::start("AKIATERM", "term-secret");
    srv.create_bucket("dst");
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("src");
    for i in 0..6 {
        // Multipart-sized (parts of 16 MiB): an interrupted run leaves uploads to clean up.
        write(
            &src.join(format!("b1/binlogs/insert_log/1/2/3/{i}/1")),
            &data(i, 40 * MIB + i as usize),
        );
    }
    for i in 0..20 {
        write(
            &src.join(format!("b1/binlogs/delta_log/1/2/3/{i}")),
            &data(100 + i, 1000 + i as usize),
        );
    }
    write(&src.join("b1/meta/backup_meta.json"), b"{}");
    let addr = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "{}{}[[jobs]]\nname = \"t\"\nlayout = \"plain\"\nsource = \"{}/\"\ntarget = \"s/dst/m/\"\nworkers = 3\n",
        header(dir.path(), &addr),
        alias_toml("s", &srv),
        src.display()
    );
    let mut d = Ferryd::start(dir.path(), &addr, &config);
    // No grace: transfers in flight are cut, as a slow shutdown would be.
    d.args = vec!["--shutdown-grace".into(), "0".into()];
    d.sigterm();
    d.restart();
    wait_for(Duration::from_secs(5), "uploads to start", || {
        !open_uploads(srv.root()).is_empty()
    });
    assert_eq!(
        d.sigterm(),
        Some(0),
        "ferryd did not exit cleanly:\n{}",
        d.log()
    );
    assert!(d.log().contains("ferryd stopped"), "{}", d.log());

    d.args.clear();
    d.restart();
    wait_for(
        Duration::from_secs(90),
        "the restarted ferryd to converge",
        || {
            let j = d.job("t", None);
            j["objects_in_sync"] == 27 && j["pending_keys"] == 0 && j["last_run"]["error"].is_null()
        },
    );
    let ferry = Ferry::new();
    ferry.ok(&[
        "alias",
        "set",
        "s",
        &srv.url(),
        srv.access_key(),
        srv.secret_key(),
    ]);
    ferry.ok(&["verify", &format!("{}/", src.display()), "s/dst/m/"]);
    let back = dir.path().join("back");
    ferry.ok(&["cp", "-r", "s/dst/m/", &format!("{}/", back.display())]);
    assert_eq!(tree_hashes(&src), tree_hashes(&back));
    assert_eq!(
        open_uploads(srv.root()),
        Vec::<String>::new(),
        "orphan multipart uploads; log:\n{}",
        d.log()
    );
}

#[test]
fn the_api_refuses_bad_requests_and_the_daemon_keeps_running() {
    let dir = tempfile::tempdir().expect("tmp");
    let addr = format!("127.0.0.1:{}", free_port());
    let token = "t0ken-for-the-api-0123456789";
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).expect("token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }
    write(&dir.path().join("src/b/meta/backup_meta.json"), b"{}");
    let config = format!(
        "{}token_file = \"{}\"\n[[jobs]]\nname = \"j\"\nlayout = \"plain\"\nsource = \"./src/\"\ntarget = \"./dst/\"\n",
        header(dir.path(), &addr),
        token_file.display()
    );
    let mut d = Ferryd::start(dir.path(), &addr, &config);
    let t = Some(token);
    assert_eq!(http(&addr, "GET", "/v1/status", None, b"").0, 401);
    assert_eq!(
        http(
            &addr,
            "GET",
            "/v1/status",
            Some("wrong-token-wrong-token"),
            b""
        )
        .0,
        401
    );
    assert_eq!(http(&addr, "GET", "/metrics", None, b"").0, 401);
    assert_eq!(http(&addr, "GET", "/v1/status", t, b"").0, 200);
    let (s, body) = http(&addr, "POST", "/v1/webhook", t, b"\x00not json");
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("not an S3 event notification"), "{body}");
    assert_eq!(
        http(&addr, "POST", "/v1/webhook", t, b"{\"Records\":[{}]}").0,
        400
    );
    let big = vec![b' '; 2 * 1024 * 1024];
    assert_eq!(http(&addr, "POST", "/v1/webhook", t, &big).0, 413);
    let (s, body) = http(&addr, "POST", "/v1/jobs/nosuch/sync", t, b"");
    assert_eq!(s, 404);
    assert!(body.contains("no job named \\\"nosuch\\\""), "{body}");
    assert_eq!(http(&addr, "GET", "/v1/nope", t, b"").0, 404);

    let ferry = Ferry::new();
    let daemon = format!("http://{addr}");
    ferry.fails(&["status", "--daemon", &daemon], &["401", "token"]);
    let tf = token_file.display().to_string();
    ferry.ok(&["pause", "j", "--daemon", &daemon, "--token-file", &tf]);
    assert_eq!(d.job("j", t)["paused"], true);
    ferry.ok(&["resume", "j", "--daemon", &daemon, "--token-file", &tf]);
    ferry.ok(&[
        "sync",
        "j",
        "--check-target",
        "--daemon",
        &daemon,
        "--token-file",
        &tf,
    ]);
    let cfg = d.config.display().to_string();
    ferry.ok(&["status", "--daemon-config", &cfg]);
    ferry.fails(
        &["status", "--daemon", "http://127.0.0.1:1"],
        &["cannot reach ferryd"],
    );
    assert!(d.alive(), "{}", d.log());
    assert!(!d.log().contains(token), "the token was logged");
}

#[test]
fn bad_configs_are_refused_naming_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("ferryd.toml");
    let ferryd = ferry_tests::bin_path("ferryd");
    let check = |text: &str| -> (i32, String) {
        std::fs::write(&path, text).expect("write");
        let out = std::process::Command::new(&ferryd)
            .args(["--check-config", "--config"])
            .arg(&path)
            .env("HOME", dir.path())
            .output()
            .expect("run ferryd");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout),
        )
    };
    let job = "[[jobs]]\nname = \"a\"\nsource = \"/s/\"\ntarget = \"/d/\"\n";
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!("{job}intervall = \"1m\"\n"),
            vec![":5:", "unknown field `intervall`"],
        ),
        (
            format!("{job}interval = \"soon\"\n"),
            vec![":5:", "jobs.interval"],
        ),
        (
            "[[jobs]]\nname = \"a\"\nsource = \"nosuch/bkt/x/\"\ntarget = \"/d/\"\n".into(),
            vec![":3:", "\"nosuch\" is not an alias"],
        ),
        (
            "[[jobs]]\nname = \"a\"\nsource = \"/s/\"\ntarget = \"/s/\"\n".into(),
            vec![":4:", "overlap"],
        ),
        ("[contrl]\n".into(), vec![":1:", "unknown field `contrl`"]),
    ];
    for (text, needles) in cases {
        let (code, out) = check(&text);
        assert_ne!(code, 0, "accepted:\n{text}");
        assert!(out.starts_with("ferryd: <ERROR> "), "{out}");
        assert!(out.contains(&path.display().to_string()), "{out}");
        for n in needles {
            assert!(out.contains(n), "{out:?} lacks {n:?}");
        }
        assert!(!out.contains("panicked"), "{out}");
    }
    let (code, out) = check(job);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("valid (1 job)"), "{out}");
}

/// A plain job mirrors every object of an ordinary folder (not only the milvus-backup
/// layout), and what a job's filters leave out is counted in `ferry status --json` and in
/// `/metrics`, so that a filter matching nothing is visible.
#[test]
fn a_plain_job_mirrors_everything_and_filtered_objects_are_counted() {
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("src");
    let (all, some) = (dir.path().join("all"), dir.path().join("some"));
    let files = [
        "readme.txt",
        "photos/2026/a.jpg",
        "photos/2026/b.jpg",
        "logs/app.log",
        "logs/old/app.1.log",
    ];
    for (i, f) in files.iter().enumerate() {
        write(&src.join(f), &data(i as u64, 1000 + i));
    }
    let addr = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "{}[[jobs]]\nname = \"plain\"\nlayout = \"plain\"\nsource = \"{src}/\"\ntarget = \"{all}/\"\ninterval = \"1h\"\n\n\
         [[jobs]]\nname = \"filtered\"\nlayout = \"plain\"\nsource = \"{src}/\"\ntarget = \"{some}/\"\ninterval = \"1h\"\nexclude = [\"logs/**\"]\n",
        header(dir.path(), &addr),
        src = src.display(),
        all = all.display(),
        some = some.display(),
    );
    let d = Ferryd::start(dir.path(), &addr, &config);
    wait_for(Duration::from_secs(30), "both jobs' first scans", || {
        ["plain", "filtered"]
            .iter()
            .all(|j| d.job(j, None)["last_scan_ms"].is_i64())
    });
    assert_eq!(
        ferry_tests::tree_hashes(&src),
        ferry_tests::tree_hashes(&all)
    );
    let some_files: Vec<String> = ferry_tests::tree_hashes(&some)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        some_files,
        ["photos/2026/a.jpg", "photos/2026/b.jpg", "readme.txt"]
    );
    let url = format!("http://{addr}");
    let (code, out, err) =
        ferry_tests::Ferry::new().run(&["status", "--json", "filtered", "--daemon", &url]);
    assert_eq!(code, 0, "{out}{err}");
    let status: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(status["skipped_last_scan"], 2, "{status}");
    assert_eq!(status["last_run"]["skipped"], 2, "{status}");
    assert_eq!(d.job("plain", None)["skipped_last_scan"], 0);
    let (code, out, _) = ferry_tests::Ferry::new().run(&["status", "filtered", "--daemon", &url]);
    assert_eq!(code, 0);
    assert!(
        out.contains("skipped by include/exclude in the last full scan: 2 source objects"),
        "{out}"
    );
    let metrics = http(&addr, "GET", "/metrics", None, b"").1;
    assert!(
        metrics.contains("ferry_skipped_objects{job=\"filtered\"} 2")
            && metrics.contains("ferry_skipped_objects{job=\"plain\"} 0"),
        "{metrics}"
    );
}
