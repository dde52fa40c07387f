//! Bad input: each a one-line `ferry: <ERROR>` naming what is wrong, a non-zero exit, and
//! nothing written.

use ferry_tests::fault_proxy::{FaultProxy, Faults};
use ferry_tests::s3s_server::S3sServer;
use ferry_tests::{Ferry, data, register_secret};

struct Setup {
    srv: S3sServer,
    ferry: Ferry,
    work: tempfile::TempDir,
}

fn setup() -> Setup {
    let srv = S3sServer::start("AKIABADINPUT", "bad-input-secret");
    let ferry = Ferry::new();
    ferry.ok(&[
        "alias",
        "set",
        "a",
        &srv.url(),
        srv.access_key(),
        srv.secret_key(),
    ]);
    ferry.ok(&["mb", "a/bucket"]);
    let work = tempfile::tempdir().expect("work");
    let dir = work.path().join("dir");
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    std::fs::write(dir.join("a.txt"), data(1, 100)).expect("write");
    std::fs::write(dir.join("sub/b.txt"), data(2, 100)).expect("write");
    Setup { srv, ferry, work }
}

fn bucket_is_empty(s: &Setup) -> bool {
    std::fs::read_dir(s.srv.root().join("bucket"))
        .expect("bucket dir")
        .next()
        .is_none()
}

#[test]
fn unknown_alias_as_source_and_as_target() {
    let s = setup();
    let dir = s.work.path().join("dir").display().to_string();
    s.ferry
        .fails(&["ls", "nosuch/bucket/x"], &["\"nosuch\" is not an alias"]);
    s.ferry.fails(
        &["cp", "nosuch/bucket/x", &dir],
        &["\"nosuch\" is not an alias"],
    );
    // As a target it would silently create ./nosuch/...; refused instead.
    let cwd = s.work.path();
    let out = s
        .ferry
        .cmd()
        .current_dir(cwd)
        .args(["cp", "-r", "dir/", "nosuch/bucket/"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"nosuch\" is neither an alias nor an existing folder"),
        "{err}"
    );
    assert!(!cwd.join("nosuch").exists());
}

#[test]
fn malformed_url_is_refused_and_nothing_is_saved() {
    let s = setup();
    let before = std::fs::read(s.ferry.config_dir().join("config.json")).expect("config");
    for bad in [
        "htp//127.0.0.1:9000",
        "ftp://127.0.0.1",
        "http://127.0.0.1:9000/some/path",
        "127.0.0.1:9000",
    ] {
        s.ferry
            .fails(&["alias", "set", "x", bad, "k", "s"], &["invalid URL", bad]);
    }
    s.ferry.fails(
        &["alias", "set", "x", "http://127.0.0.1:1", "only-access-key"],
        &["secret key"],
    );
    assert_eq!(
        before,
        std::fs::read(s.ferry.config_dir().join("config.json")).expect("config")
    );
}

#[test]
fn wrong_secret_is_an_authentication_error_and_writes_nothing() {
    let s = setup();
    s.ferry.ok(&[
        "alias",
        "set",
        "--no-check",
        "w",
        &s.srv.url(),
        s.srv.access_key(),
        "not-the-secret",
    ]);
    let err = s.ferry.fails(
        &["ls", "w/bucket"],
        &["w/bucket", "authentication failed", "SignatureDoesNotMatch"],
    );
    assert!(!err.contains("not-the-secret"), "secret leaked: {err}");
    let dir = format!("{}/", s.work.path().join("dir").display());
    s.ferry
        .fails(&["cp", "-r", &dir, "w/bucket/x/"], &["w/bucket"]);
    assert!(bucket_is_empty(&s));
}

#[test]
fn missing_bucket_is_named() {
    let s = setup();
    let file = s.work.path().join("dir/a.txt").display().to_string();
    s.ferry
        .fails(&["cp", &file, "a/nobucket/"], &["a/nobucket", "not found"]);
    s.ferry
        .fails(&["ls", "a/nobucket"], &["a/nobucket", "not found"]);
    s.ferry
        .fails(&["cp", "a/nobucket/x", &file], &["a/nobucket"]);
    assert!(!s.srv.root().join("nobucket").exists());
}

#[test]
fn folder_without_recursive_is_refused() {
    let s = setup();
    let dir = s.work.path().join("dir").display().to_string();
    s.ferry
        .fails(&["cp", &dir, "a/bucket/"], &["is a folder", "--recursive"]);
    assert!(bucket_is_empty(&s));
    s.ferry.ok(&["cp", "-r", &dir, "a/bucket/"]);
    s.ferry.fails(
        &["cp", "a/bucket/dir", s.work.path().to_str().expect("utf8")],
        &["a/bucket/dir", "is a folder"],
    );
}

#[test]
fn copy_into_itself_is_refused() {
    let s = setup();
    let dir = s.work.path().join("dir");
    let into = format!("{}/", dir.join("sub/inner").display());
    s.ferry.fails(
        &["cp", "-r", &format!("{}/", dir.display()), &into],
        &["into itself"],
    );
    assert!(!dir.join("sub/inner").exists());
    s.ferry
        .ok(&["cp", "-r", &format!("{}/", dir.display()), "a/bucket/t/"]);
    s.ferry.fails(
        &["cp", "-r", "a/bucket/t/", "a/bucket/t/deeper/"],
        &["into itself"],
    );
    s.ferry.fails(
        &["cp", "a/bucket/t/a.txt", "a/bucket/t/a.txt"],
        &["into itself"],
    );
    let ls = s.ferry.ok(&["ls", "-r", "a/bucket/"]);
    assert_eq!(ls.lines().count(), 2, "{ls}");
}

#[test]
fn missing_source_is_named() {
    let s = setup();
    s.ferry.fails(
        &["cp", "a/bucket/nothing-here", "/tmp/"],
        &["a/bucket/nothing-here", "no such object"],
    );
    s.ferry.fails(
        &["cp", "-r", "a/bucket/nothing/", "/tmp/"],
        &["a/bucket/nothing/", "no such object"],
    );
    let missing = s.work.path().join("missing.txt").display().to_string();
    s.ferry
        .fails(&["cp", &missing, "a/bucket/"], &["missing.txt", "no such"]);
}

#[test]
fn alias_file_others_can_read_is_refused_without_showing_its_secrets() {
    use std::os::unix::fs::PermissionsExt;
    let s = setup();
    let file = s.ferry.config_dir().join("config.json");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let before = std::fs::read(&file).expect("config");
    let err = s.ferry.fails(
        &["ls", "a/bucket/"],
        &[
            &file.display().to_string(),
            "others may read it",
            "chmod 600",
        ],
    );
    assert!(!err.contains("bad-input-secret"), "{err}");
    s.ferry.fails(&["alias", "ls"], &["chmod 600"]);
    assert_eq!(
        before,
        std::fs::read(&file).expect("config"),
        "file untouched"
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    s.ferry.ok(&["ls", "a/bucket/"]);
}

/// A clock hours or days off: the server refuses the signature (RequestTimeTooSkewed, or a
/// bare 403 to a HEAD, which has no body to say why). ferry re-signs with the server's time
/// (measured from its `Date` header), so the copy still works, as with the AWS CLI.
#[test]
fn a_clock_hours_or_days_off_still_copies() {
    let s = setup();
    let file = s.work.path().join("dir/a.txt");
    for offset in ["-1h", "+2h", "-3d"] {
        let dst = format!("a/bucket/clock{offset}");
        let (code, out, err) = s
            .ferry
            .run_with_clock(offset, &["cp", file.to_str().expect("utf-8"), &dst]);
        assert_eq!(code, 0, "clock {offset}: cp\n{out}\n{err}");
        let stored = s.srv.root().join(format!("bucket/clock{offset}"));
        assert_eq!(std::fs::read(stored).expect("stored"), data(1, 100));
        let (code, _, err) = s.ferry.run_with_clock(offset, &["stat", &dst]);
        assert_eq!(code, 0, "clock {offset}: stat\n{err}");
    }
    // The server did refuse requests: the skew was real.
    assert!(s.srv.requests() > 12, "{} requests", s.srv.requests());
}

/// Temporary credentials whose session token expired: every command fails at once with an
/// authentication error naming the alias and the expiry, nothing is written, the token is
/// never shown. The same keys with a valid token work (the proxy in front of the server
/// answers `ExpiredToken` for the one token, as AWS does).
#[test]
fn an_expired_session_token_is_an_authentication_error_and_writes_nothing() {
    let s = setup();
    let (expired, fresh) = ("expired-token-7f3e91c2d5", "fresh-token-0b8a44e6f1");
    register_secret(expired);
    register_secret(fresh);
    let proxy = FaultProxy::start(
        &s.srv.url(),
        Faults {
            expired_token: Some(expired.to_owned()),
            ..Faults::all(0, 0)
        },
    );
    for (name, token) in [("fresh", fresh), ("stale", expired)] {
        let json = s.work.path().join(format!("{name}.json"));
        let alias = serde_json::json!({
            "url": proxy.url(),
            "accessKey": s.srv.access_key(),
            "secretKey": s.srv.secret_key(),
            "sessionToken": token,
            "api": "S3v4",
            "path": "auto",
        });
        std::fs::write(&json, alias.to_string()).expect("write");
        s.ferry
            .ok(&["alias", "import", name, json.to_str().expect("utf-8")]);
    }
    let file = s.work.path().join("dir/a.txt");
    let file = file.to_str().expect("utf-8");
    s.ferry.ok(&["cp", file, "fresh/bucket/fresh"]);
    for args in [
        &["cp", file, "stale/bucket/stale"][..],
        &["ls", "stale/bucket"],
        &["stat", "stale/bucket/fresh"],
        &["rm", "stale/bucket/fresh"],
    ] {
        let err = s
            .ferry
            .fails(args, &["stale/bucket", "authentication failed"]);
        assert!(
            err.contains("ExpiredToken") || err.contains("expired"),
            "{args:?}: {err}"
        );
    }
    assert!(!s.srv.root().join("bucket/stale").exists());
    assert!(
        s.srv.root().join("bucket/fresh").exists(),
        "rm went through"
    );
}

/// Names a local file system allows but S3 keys need care with: NFC and NFD spellings of the
/// same word are two keys, kept apart byte for byte both ways; a file name that is not UTF-8
/// cannot be a key and is refused by name while the rest is copied; a key over S3's 1024
/// bytes is refused by the server (KeyTooLongError) and named.
#[test]
fn nfc_nfd_non_utf8_and_too_long_names_are_kept_apart_or_refused_by_name() {
    use std::os::unix::ffi::OsStrExt;
    let s = setup();
    let src = s.work.path().join("names");
    let (nfc, nfd) = ("n/caf\u{e9}", "n/cafe\u{301}");
    std::fs::create_dir_all(src.join("n")).expect("mkdir");
    std::fs::write(src.join(nfc), b"nfc").expect("write");
    std::fs::write(src.join(nfd), b"nfd").expect("write");
    let bad = std::ffi::OsStr::from_bytes(b"bad\xff\xfename");
    std::fs::write(src.join("n").join(bad), b"x").expect("write");
    // 1100 bytes: six 180-byte folders and a file name.
    let deep: String = (0..6).map(|_| format!("{}/", "d".repeat(180))).collect();
    let deep = format!("{deep}{}", "f".repeat(1100 - deep.len()));
    assert_eq!(deep.len(), 1100);
    std::fs::create_dir_all(src.join(&deep).parent().expect("parent")).expect("mkdir");
    std::fs::write(src.join(&deep), b"deep").expect("write");

    let (code, out, err) = s.ferry.run(&[
        "cp",
        "-r",
        &format!("{}/", src.display()),
        "a/bucket/names/",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("ferry: <ERROR>"))
        .collect();
    assert_eq!(errors.len(), 2, "{err}");
    assert!(
        errors
            .iter()
            .any(|l| l.contains("bad") && l.contains("not valid UTF-8")),
        "{err}"
    );
    assert!(
        errors
            .iter()
            .any(|l| l.contains(&deep[..180]) && l.contains("KeyTooLong")),
        "{err}"
    );
    let stored = s.srv.root().join("bucket/names");
    assert_eq!(std::fs::read(stored.join(nfc)).expect("nfc"), b"nfc");
    assert_eq!(std::fs::read(stored.join(nfd)).expect("nfd"), b"nfd");

    let back = s.work.path().join("back");
    s.ferry.ok(&[
        "cp",
        "-r",
        "a/bucket/names/",
        &format!("{}/", back.display()),
    ]);
    let mut names: Vec<Vec<u8>> = std::fs::read_dir(back.join("n"))
        .expect("back/n")
        .map(|e| e.expect("entry").file_name().as_bytes().to_vec())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![b"cafe\xcc\x81".to_vec(), b"caf\xc3\xa9".to_vec()]
    );
    assert_eq!(std::fs::read(back.join(nfd)).expect("nfd"), b"nfd");
}
