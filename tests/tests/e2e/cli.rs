//! The `ferry` binary end to end, against two real in-process S3 servers and local folders.

use std::path::Path;

use ferry_tests::s3s_server::S3sServer;
use ferry_tests::{Ferry, data, tree_hashes};

/// A small backup-like tree: nested folders, awkward names, an empty file, and one file large
/// enough to go multipart with 5 MiB parts.
fn make_tree(root: &Path) {
    let files: &[(&str, usize)] = &[
        ("meta/backup_meta.json", 300),
        ("meta/full_meta.json", 4_000),
        ("binlogs/insert_log/1/2/3/3/100/1001", 70_000),
        ("binlogs/insert_log/1/2/3/3/101/1002", 12 * 1024 * 1024 + 5),
        ("binlogs/delta_log/1/-1/9/1003", 0),
        ("odd names/ünïcödé file.txt", 1_234),
    ];
    for (i, (rel, len)) in files.iter().enumerate() {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, data(i as u64 + 100, *len)).expect("write");
    }
}

#[test]
fn cp_recursive_local_to_s3_to_other_s3_to_local_is_byte_identical() {
    let a_srv = S3sServer::start("AKIAAAAA", "secret-a-0123456789");
    let b_srv = S3sServer::start("AKIABBBB", "secret-b-9876543210");
    let ferry = Ferry::new();
    ferry.alias("a", &a_srv);
    ferry.alias("b", &b_srv);
    ferry.ok(&["mb", "a/bucket"]);
    ferry.ok(&["mb", "b/other"]);

    let work = tempfile::tempdir().expect("work");
    let src = work.path().join("dir");
    make_tree(&src);
    let src_arg = format!("{}/", src.display());
    ferry.ok(&["cp", "-r", "--part-size", "5", &src_arg, "a/bucket/backup/"]);

    let listing = ferry.ok(&["ls", "-r", "a/bucket/backup/"]);
    for key in [
        "meta/backup_meta.json",
        "binlogs/insert_log/1/2/3/3/101/1002",
        "odd names/ünïcödé file.txt",
    ] {
        assert!(
            listing.lines().any(|l| l.ends_with(&format!(" {key}"))),
            "ls lacks {key}:\n{listing}"
        );
    }
    // mc's line format: [date time UTC] size STANDARD key
    let line = listing
        .lines()
        .find(|l| l.ends_with("meta/backup_meta.json"))
        .expect("line");
    assert!(
        line.starts_with('[') && line.contains(" UTC]") && line.contains(" 300B STANDARD "),
        "{line}"
    );
    assert_eq!(listing.lines().count(), 6);

    // Across two different servers: streamed through ferry.
    let json = ferry.ok(&[
        "cp",
        "-r",
        "--json",
        "--part-size",
        "5",
        "a/bucket/backup/",
        "b/other/backup/",
    ]);
    let records: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(records.len(), 6);
    assert!(
        records
            .iter()
            .all(|r| r["status"] == "success" && r["method"] == "stream"),
        "{json}"
    );

    let out = work.path().join("out");
    ferry.ok(&[
        "cp",
        "-r",
        "b/other/backup/",
        &format!("{}/", out.display()),
    ]);
    assert_eq!(
        tree_hashes(&src),
        tree_hashes(&out),
        "trees differ after local -> a -> b -> local"
    );

    // Same server: server-side copy, and `cp -r x t/` (no slash) nests as t/x/.
    let json = ferry.ok(&["cp", "-r", "--json", "a/bucket/backup", "a/bucket/copies/"]);
    assert!(
        json.lines()
            .all(|l| l.contains("\"method\":\"server-side\"")),
        "{json}"
    );
    let nested = work.path().join("nested");
    ferry.ok(&[
        "cp",
        "-r",
        "a/bucket/copies/",
        &format!("{}/", nested.display()),
    ]);
    assert_eq!(tree_hashes(&src), tree_hashes(&nested.join("backup")));
}

#[test]
fn single_objects_follow_mc_destination_rules() {
    let srv = S3sServer::start("AKIASINGLE", "single-secret-key");
    let ferry = Ferry::new();
    ferry.alias("s", &srv);
    ferry.ok(&["mb", "s/bkt"]);
    let work = tempfile::tempdir().expect("work");
    let f = work.path().join("f.bin");
    std::fs::write(&f, data(7, 5000)).expect("write");
    let f = f.display().to_string();

    ferry.ok(&["cp", &f, "s/bkt/folder/"]); // into a folder: keeps its name
    ferry.ok(&["cp", &f, "s/bkt/renamed.bin"]); // to a name: becomes that name
    ferry.ok(&["cp", &f, "s/bkt/folder"]); // existing prefix without slash: still a folder
    let ls = ferry.ok(&["ls", "-r", "s/bkt"]);
    let keys: Vec<&str> = ls.lines().filter_map(|l| l.rsplit(' ').next()).collect();
    assert_eq!(keys, ["folder/f.bin", "renamed.bin"], "{ls}");

    let cat = ferry
        .cmd()
        .args(["cat", "s/bkt/renamed.bin"])
        .output()
        .expect("cat");
    assert!(cat.status.success());
    assert!(cat.stdout == data(7, 5000), "cat output differs");
    let stat = ferry.ok(&["stat", "--json", "s/bkt/renamed.bin"]);
    let v: serde_json::Value = serde_json::from_str(stat.trim()).expect("json");
    assert_eq!(v["size"], 5000);

    // Non-recursive ls shows the folder as a prefix line.
    let top = ferry.ok(&["ls", "s/bkt/"]);
    assert!(top.lines().any(|l| l.ends_with(" 0B folder/")), "{top}");
    let summary = ferry.ok(&["ls", "-r", "--summarize", "s/bkt"]);
    assert!(summary.contains("Total Objects: 2"), "{summary}");

    ferry.ok(&["rm", "s/bkt/renamed.bin"]);
    ferry.fails(&["rm", "-r", "s/bkt/folder"], &["--force"]);
    ferry.ok(&["rm", "-r", "--force", "s/bkt/folder"]);
    assert_eq!(ferry.ok(&["ls", "-r", "s/bkt"]), "");
    ferry.ok(&["rb", "s/bkt"]);
    ferry.fails(&["ls", "s/bkt"], &["s/bkt", "not found"]);
}

#[test]
fn alias_file_is_mc_shaped_0600_and_secrets_are_masked() {
    use std::os::unix::fs::PermissionsExt;
    let ferry = Ferry::new();
    ferry.ok(&[
        "alias",
        "set",
        "--no-check",
        "prod",
        "https://s3.eu-west-1.amazonaws.com",
        "AKIAPRODKEY123",
        "prod-secret-value",
    ]);
    let file = ferry.config_dir().join("config.json");
    assert_eq!(
        std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777,
        0o600
    );
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    assert_eq!(v["version"], "10");
    assert_eq!(v["aliases"]["prod"]["accessKey"], "AKIAPRODKEY123");
    assert_eq!(v["aliases"]["prod"]["path"], "auto");

    let ls = ferry.ok(&["alias", "ls"]);
    assert!(
        ls.contains("prod") && ls.contains("https://s3.eu-west-1.amazonaws.com"),
        "{ls}"
    );
    assert!(
        !ls.contains("prod-secret-value") && !ls.contains("AKIAPRODKEY123"),
        "secrets shown:\n{ls}"
    );
    let js = ferry.ok(&["alias", "ls", "--json", "prod"]);
    assert!(!js.contains("prod-secret-value"));

    // export (to a pipe) | import under another name: same entry.
    let exported = ferry.ok(&["alias", "export", "prod"]);
    let out = ferry
        .cmd()
        .args(["alias", "import", "copy"])
        .write_stdin(exported)
        .output()
        .expect("import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    assert_eq!(v["aliases"]["copy"], v["aliases"]["prod"]);

    // An mc config.json imports by name.
    let mc = ferry.config_dir().join("mc.json");
    std::fs::write(&mc, r#"{"version":"10","aliases":{"play":{"url":"https://play.min.io","accessKey":"Q3AM","secretKey":"zuf+","api":"S3v4","path":"auto"}}}"#).expect("write");
    ferry.ok(&["alias", "import", "play", &mc.display().to_string()]);
    ferry.ok(&["alias", "rm", "play"]);
    ferry.fails(&["alias", "rm", "play"], &["\"play\" does not exist"]);
}

#[test]
fn mc_host_environment_overrides_the_file() {
    let srv = S3sServer::start("AKIAENVKEY", "env-secret-key");
    let ferry = Ferry::new();
    ferry.ok(&[
        "alias",
        "set",
        "--no-check",
        "e",
        &srv.url(),
        "wrong",
        "wrong-secret-overridden",
    ]);
    srv.create_bucket("envbucket");
    let url = srv.url().replace(
        "http://",
        &format!("http://{}:{}@", srv.access_key(), srv.secret_key()),
    );
    let out = ferry
        .cmd()
        .env("MC_HOST_e", &url)
        .args(["ls", "e"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("envbucket/"));
    // Without the override the wrong keys in the file are used and rejected.
    ferry.fails(&["ls", "e"], &["authentication failed"]);
}
