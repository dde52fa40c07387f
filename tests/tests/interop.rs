//! The interop suite: the conformance suite and the CLI against external real S3 servers
//! (rclone serve s3, moto). Ignored under plain `cargo test`; `tests/interop/run.sh` installs
//! and starts the servers, then runs these with `--ignored`.
//!
//! Each server is given as `FERRY_INTEROP_<NAME>=http://AK:SK@127.0.0.1:PORT` (`https` for
//! RCLONE_TLS, whose certificate comes from the private CA in `FERRY_INTEROP_CA`).

use ferry_engine::backend::s3::{S3Config, S3Credentials, S3Endpoint};
use ferry_tests::{Ferry, conformance, data, tree_hashes};

struct Server {
    url: String,
    access_key: String,
    secret_key: String,
}

fn server(name: &str) -> Server {
    let var = format!("FERRY_INTEROP_{name}");
    let value = std::env::var(&var)
        .unwrap_or_else(|_| panic!("{var} is not set: run tests/interop/run.sh"));
    let u = url::Url::parse(&value).unwrap_or_else(|e| panic!("{var}: {e}"));
    Server {
        url: format!(
            "{}://{}:{}",
            u.scheme(),
            u.host_str().expect("host"),
            u.port().expect("port")
        ),
        access_key: u.username().to_owned(),
        secret_key: u.password().unwrap_or_default().to_owned(),
    }
}

async fn endpoint(s: &Server) -> S3Endpoint {
    let creds = S3Credentials::Static {
        access_key: s.access_key.clone(),
        secret_key: s.secret_key.clone(),
        session_token: None,
    };
    S3Endpoint::connect(&S3Config::for_endpoint("interop", &s.url, creds))
        .await
        .expect("client")
}

async fn conforms(name: &str) {
    let s = server(name);
    let ep = endpoint(&s).await;
    let bucket = format!("conf-{}", name.to_lowercase());
    ep.create_bucket(&bucket).await.expect("create bucket");
    conformance::run_all(&ep.bucket(&bucket)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs external servers: tests/interop/run.sh"]
async fn rclone_serve_s3_conforms() {
    conforms("RCLONE").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs external servers: tests/interop/run.sh"]
async fn moto_conforms() {
    conforms("MOTO").await;
}

#[test]
#[ignore = "needs external servers: tests/interop/run.sh"]
fn cli_copies_between_rclone_and_moto_byte_identical() {
    let (r, m) = (server("RCLONE"), server("MOTO"));
    let ferry = Ferry::new();
    ferry.ok(&["alias", "set", "r", &r.url, &r.access_key, &r.secret_key]);
    ferry.ok(&["alias", "set", "m", &m.url, &m.access_key, &m.secret_key]);
    ferry.ok(&["mb", "--ignore-existing", "r/cli-src"]);
    ferry.ok(&["mb", "--ignore-existing", "m/cli-dst"]);
    let work = tempfile::tempdir().expect("work");
    let src = work.path().join("src");
    for (i, (rel, len)) in [
        ("meta/backup_meta.json", 512),
        ("binlogs/a/b/1", 100_000),
        ("binlogs/a/b/2", 11 * 1024 * 1024 + 3),
        ("empty", 0),
    ]
    .iter()
    .enumerate()
    {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, data(i as u64, *len)).expect("write");
    }
    ferry.ok(&[
        "cp",
        "-r",
        "--part-size",
        "5",
        &format!("{}/", src.display()),
        "r/cli-src/backup/",
    ]);
    ferry.ok(&[
        "cp",
        "-r",
        "--part-size",
        "5",
        "r/cli-src/backup/",
        "m/cli-dst/backup/",
    ]);
    let out = work.path().join("out");
    ferry.ok(&[
        "cp",
        "-r",
        "m/cli-dst/backup/",
        &format!("{}/", out.display()),
    ]);
    assert_eq!(tree_hashes(&src), tree_hashes(&out));
    // Same-server copy on moto is server-side.
    let json = ferry.ok(&["cp", "-r", "--json", "m/cli-dst/backup/", "m/cli-dst/copy/"]);
    assert!(
        json.lines()
            .all(|l| l.contains("\"method\":\"server-side\"")),
        "{json}"
    );
}

/// Plain HTTP spoken to a TLS port (an alias written `http://` for an https server) is named as
/// such at once, not retried as a temporary failure, without a debug dump.
#[test]
#[ignore = "needs external servers: tests/interop/run.sh"]
fn plain_http_against_a_tls_server_is_named_as_such() {
    let t = server("RCLONE_TLS");
    let plain = t.url.replace("https://", "http://");
    let ferry = Ferry::new();
    ferry.ok(&[
        "alias",
        "set",
        "--no-check",
        "plain",
        &plain,
        &t.access_key,
        &t.secret_key,
    ]);
    let started = std::time::Instant::now();
    let err = ferry.fails(&["ls", "plain"], &["speaks https", "https://"]);
    assert!(
        !err.contains("DispatchFailure") && !err.contains("{"),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    ferry.fails(
        &[
            "alias",
            "set",
            "plain2",
            &plain,
            &t.access_key,
            &t.secret_key,
        ],
        &["speaks https"],
    );
}

/// TLS is verified by default: a certificate from an unknown CA is refused, clearly and
/// without retrying forever, and nothing is created; `--ca-cert` trusts that CA.
#[test]
#[ignore = "needs external servers: tests/interop/run.sh"]
fn tls_is_verified_by_default_and_ca_cert_trusts_a_private_ca() {
    let t = server("RCLONE_TLS");
    assert!(t.url.starts_with("https://"), "{}", t.url);
    let ca = std::env::var("FERRY_INTEROP_CA").expect("FERRY_INTEROP_CA: run tests/interop/run.sh");
    let ferry = Ferry::new();
    ferry.ok(&[
        "alias",
        "set",
        "--no-check",
        "untrusted",
        &t.url,
        &t.access_key,
        &t.secret_key,
    ]);
    for args in [&["ls", "untrusted"][..], &["mb", "untrusted/tls-refused"]] {
        ferry.fails(
            args,
            &["untrusted", "TLS certificate not trusted", "--ca-cert"],
        );
    }
    ferry.ok(&[
        "alias",
        "set",
        "trusted",
        &t.url,
        &t.access_key,
        &t.secret_key,
        "--ca-cert",
        &ca,
    ]);
    let buckets = ferry.ok(&["ls", "trusted"]);
    assert!(
        !buckets.contains("tls-refused"),
        "created over untrusted TLS: {buckets}"
    );
    ferry.ok(&["mb", "--ignore-existing", "trusted/tls"]);
    let work = tempfile::tempdir().expect("work");
    let file = work.path().join("f");
    std::fs::write(&file, data(5, 6 * 1024 * 1024)).expect("write");
    ferry.ok(&[
        "cp",
        "--part-size",
        "5",
        file.to_str().expect("utf-8"),
        "trusted/tls/f",
    ]);
    let back = work.path().join("back");
    ferry.ok(&["cp", "trusted/tls/f", back.to_str().expect("utf-8")]);
    assert_eq!(
        std::fs::read(&back).expect("read back"),
        data(5, 6 * 1024 * 1024)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs external servers: tests/interop/run.sh"]
async fn dotdot_key_from_s3_is_refused_at_a_local_target() {
    let m = server("MOTO");
    let ep = endpoint(&m).await;
    let _ = ep.create_bucket("evil").await;
    let store = ep.bucket("evil");
    use ferry_engine::backend::ObjectStore;
    store
        .put("x/../../escaped.txt", bytes::Bytes::from_static(b"owned"))
        .await
        .expect("moto accepts any key");
    let listed = conformance::list_keys(&store, "x/", Default::default()).await;
    assert_eq!(
        listed,
        ["x/../../escaped.txt"],
        "the server kept the key as given"
    );

    let ferry = Ferry::new();
    ferry.ok(&["alias", "set", "m", &m.url, &m.access_key, &m.secret_key]);
    let work = tempfile::tempdir().expect("work");
    let target = work.path().join("a/b/t");
    std::fs::create_dir_all(&target).expect("mkdir");
    let out = ferry
        .cmd()
        .args(["cp", "-r", "m/evil/x/", &format!("{}/", target.display())])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("`..` segment escapes the root"), "{err}");
    assert!(
        !work.path().join("a/escaped.txt").exists()
            && !work.path().join("a/b/escaped.txt").exists()
    );
    assert!(
        std::fs::read_dir(&target).expect("target").next().is_none(),
        "nothing written"
    );
}

#[test]
#[ignore = "needs external servers: tests/interop/run.sh"]
fn mirror_from_rclone_to_moto_is_incremental() {
    let (r, m) = (server("RCLONE"), server("MOTO"));
    let ferry = Ferry::new();
    ferry.ok(&["alias", "set", "r", &r.url, &r.access_key, &r.secret_key]);
    ferry.ok(&["alias", "set", "m", &m.url, &m.access_key, &m.secret_key]);
    ferry.ok(&["mb", "--ignore-existing", "r/mir-src"]);
    ferry.ok(&["mb", "--ignore-existing", "m/mir-dst"]);
    let work = tempfile::tempdir().expect("work");
    let src = work.path().join("src");
    for i in 0..8u64 {
        let p = src.join(format!("backup/b/binlogs/{i}"));
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        let len = if i == 0 {
            11 * 1024 * 1024
        } else {
            3000 + i as usize
        };
        std::fs::write(&p, data(i, len)).expect("write");
    }
    ferry.ok(&[
        "cp",
        "-r",
        "--part-size",
        "5",
        &format!("{}/", src.display()),
        "r/mir-src/",
    ]);
    let state = work.path().join("state").display().to_string();
    let mirror = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "mirror",
            "--json",
            "--part-size",
            "5",
            "--state-dir",
            state.as_str(),
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["r/mir-src/backup/", "m/mir-dst/backup/"]);
        let out = ferry.ok(&args);
        out.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
            .find(|v| v["op"] == "summary")
            .expect("summary")
    };
    assert_eq!(mirror(&[])["copied"], 8);
    let again = mirror(&[]);
    assert_eq!(
        (again["copied"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(8)),
        "{again}"
    );
    let changed = work.path().join("changed");
    std::fs::write(&changed, data(77, 5000)).expect("write");
    ferry.ok(&[
        "cp",
        &changed.display().to_string(),
        "r/mir-src/backup/b/binlogs/3",
    ]);
    assert_eq!(mirror(&[])["copied"], 1);
    ferry.ok(&["rm", "r/mir-src/backup/b/binlogs/5"]);
    assert_eq!(mirror(&["--remove"])["deleted"], 1);

    let out = work.path().join("out");
    ferry.ok(&[
        "cp",
        "-r",
        "m/mir-dst/backup/",
        &format!("{}/", out.display()),
    ]);
    std::fs::copy(&changed, src.join("backup/b/binlogs/3")).expect("mirror the change locally");
    std::fs::remove_file(src.join("backup/b/binlogs/5")).expect("and the removal");
    assert_eq!(tree_hashes(&src.join("backup")), tree_hashes(&out));
}

/// Keys s3s-fs cannot hold (it names files after them): a 1024-byte key (S3's limit) and a
/// 255-byte file name round-trip local -> moto -> local. Folder markers (`dir/`, zero bytes)
/// become folders with `cp`, are skipped by `mirror` (which then has nothing to redo), and
/// are copied as objects S3 -> S3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs external servers: tests/interop/run.sh"]
async fn long_keys_and_folder_markers_through_moto() {
    use ferry_engine::backend::ObjectStore;
    let m = server("MOTO");
    let ep = endpoint(&m).await;
    let _ = ep.create_bucket("keys").await;
    let ferry = Ferry::new();
    ferry.ok(&["alias", "set", "m", &m.url, &m.access_key, &m.secret_key]);
    let work = tempfile::tempdir().expect("work");

    let src = work.path().join("src");
    // The key at the server is `long/` + this: 1024 bytes.
    let deep: String = (0..5).map(|_| format!("{}/", "d".repeat(200))).collect();
    let deep = format!("{deep}{}", "f".repeat(1024 - "long/".len() - deep.len()));
    let name255 = format!("n/{}", "l".repeat(255));
    for (rel, body) in [(&deep, b"deep".as_slice()), (&name255, b"255")] {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    }
    ferry.ok(&["cp", "-r", &format!("{}/", src.display()), "m/keys/long/"]);
    let listed = conformance::list_keys(&ep.bucket("keys"), "long/", Default::default()).await;
    assert!(
        listed.iter().any(|k| k.len() == 1024),
        "a 1024-byte key: {:?}",
        listed.iter().map(String::len).collect::<Vec<_>>()
    );
    let back = work.path().join("back");
    ferry.ok(&["cp", "-r", "m/keys/long/", &format!("{}/", back.display())]);
    assert_eq!(tree_hashes(&src), tree_hashes(&back));

    let store = ep.bucket("keys");
    for key in ["markers/empty-dir/", "markers/dir/", "markers/dir/file"] {
        let body = if key.ends_with('/') { &b""[..] } else { b"f" };
        store
            .put(key, bytes::Bytes::copy_from_slice(body))
            .await
            .expect("put");
    }
    let copied = work.path().join("copied");
    ferry.ok(&[
        "cp",
        "-r",
        "m/keys/markers/",
        &format!("{}/", copied.display()),
    ]);
    assert!(copied.join("empty-dir").is_dir() && copied.join("dir").is_dir());
    assert_eq!(std::fs::read(copied.join("dir/file")).expect("file"), b"f");
    let mirrored = work.path().join("mirrored");
    let state = work.path().join("state");
    let mirror = [
        "mirror",
        "--json",
        "--state-dir",
        state.to_str().expect("utf-8"),
        "m/keys/markers/",
        mirrored.to_str().expect("utf-8"),
    ];
    for expected in [1, 0] {
        let out = ferry.ok(&mirror);
        assert!(
            out.contains(&format!("\"copied\":{expected},")),
            "mirror copies the file only, once: {out}"
        );
    }
    assert_eq!(
        std::fs::read(mirrored.join("dir/file")).expect("file"),
        b"f"
    );
    ferry.ok(&["cp", "-r", "m/keys/markers/", "m/keys/copy/"]);
    let mut copy = conformance::list_keys(&store, "copy/", Default::default()).await;
    copy.sort();
    assert_eq!(copy, ["copy/dir/", "copy/dir/file", "copy/empty-dir/"]);
}

/// `ls --incomplete` and `rm --incomplete` over a server that lists multipart uploads (moto):
/// uploads started and never completed are listed with their keys and removed, objects stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs external servers: tests/interop/run.sh"]
async fn unfinished_multipart_uploads_are_listed_and_removed() {
    use ferry_engine::backend::ObjectStore;
    let m = server("MOTO");
    let ep = endpoint(&m).await;
    ep.create_bucket("incomplete").await.expect("bucket");
    let store = ep.bucket("incomplete");
    store
        .put("dir/kept", bytes::Bytes::from_static(b"x"))
        .await
        .expect("put");
    let mut open = Vec::new();
    for key in ["dir/a", "dir/sub/b", "other"] {
        let u = store.put_multipart(key).await.expect("start upload");
        open.push(u);
    }
    let ferry = Ferry::new();
    ferry.ok(&["alias", "set", "m", &m.url, &m.access_key, &m.secret_key]);
    let out = ferry.ok(&["ls", "--incomplete", "-r", "m/incomplete/dir/"]);
    let keys: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(keys, ["a", "sub/b"], "{out}");
    ferry.fails(
        &["rm", "--incomplete", "m/incomplete/dir/nothing"],
        &["no unfinished upload"],
    );
    let out = ferry.ok(&["rm", "--incomplete", "-r", "--force", "m/incomplete/dir/"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let left = store.list_uploads("").await.expect("list");
    assert_eq!(
        left.iter().map(|u| u.key.as_str()).collect::<Vec<_>>(),
        ["other"]
    );
    ferry.ok(&["stat", "m/incomplete/dir/kept"]);
    drop(open);
}

/// S3 folder markers (empty `dir/` objects, as moto keeps them) copied into Azure (Azurite):
/// Azure's flat namespace has no folders, so a marker is skipped, not refused; the objects
/// under it arrive, and `cp -r` exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs external servers: tests/interop/run.sh"]
async fn folder_markers_from_moto_are_skipped_into_azure() {
    use ferry_engine::backend::ObjectStore;
    use ferry_tests::azurite::{ACCOUNT, Azurite, KEY};
    let m = server("MOTO");
    let ep = endpoint(&m).await;
    let _ = ep.create_bucket("markers-az").await;
    let store = ep.bucket("markers-az");
    for key in ["in/empty-dir/", "in/dir/", "in/dir/file"] {
        let body = if key.ends_with('/') { &b""[..] } else { b"f" };
        store
            .put(key, bytes::Bytes::copy_from_slice(body))
            .await
            .expect("put");
    }
    let azurite = Azurite::start();
    let ferry = Ferry::new();
    ferry.ok(&["alias", "set", "m", &m.url, &m.access_key, &m.secret_key]);
    ferry.ok(&[
        "alias",
        "set",
        "az",
        &azurite.url(),
        ACCOUNT,
        KEY,
        "--api",
        "azure",
    ]);
    ferry.ok(&["mb", "az/markers"]);
    ferry.ok(&["cp", "-r", "m/markers-az/in/", "az/markers/"]);
    let listed = conformance::list_keys(
        &azurite.endpoint().container("markers"),
        "",
        Default::default(),
    )
    .await;
    assert_eq!(listed, ["dir/file"]);
}

/// rclone serve s3 and moto store a body that does not match its signed SHA-256: ferry's probe
/// finds that out, and every object of a backup (data and meta) is read back before it is announced.
#[test]
#[ignore = "needs external servers: tests/interop/run.sh"]
fn targets_that_take_a_wrong_payload_hash_keep_the_read_back() {
    use ferry_tests::milvus::{Backup, Spec, Version};
    let work = tempfile::tempdir().expect("work");
    let b = Backup::generate(&Spec::small("b1", Version::V0_5_12, 7));
    b.write(&work.path().join("backup"));
    let objects = (b.files().len() + b.sparse.len()) as u64;
    for name in ["RCLONE", "MOTO"] {
        let s = server(name);
        let ferry = Ferry::new();
        ferry.ok(&["alias", "set", "t", &s.url, &s.access_key, &s.secret_key]);
        let bucket = format!("evidence-{}", name.to_lowercase());
        ferry.ok(&["mb", "--ignore-existing", &format!("t/{bucket}")]);
        let state = work
            .path()
            .join(format!("state-{name}"))
            .display()
            .to_string();
        let out = ferry.ok(&[
            "mirror",
            "--json",
            "--backups",
            "--state-dir",
            &state,
            &format!("{}/", work.path().join("backup").display()),
            &format!("t/{bucket}/backup/"),
        ]);
        let unit: serde_json::Value = out
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|r| r["op"] == "backup" && r["backup"] == "b1")
            .expect("the backup's line");
        assert_eq!(unit["state"], "verified", "{name}: {unit}");
        assert_eq!(unit["checkedByTarget"], 0, "{name}: {unit}");
        assert_eq!(unit["readBack"], objects, "{name}: {unit}");
    }
}
