//! Argument handling of the `ferry` binary (no server needed). End-to-end tests over real
//! servers live in the ferry-tests crate.

use assert_cmd::Command;

fn ferry(home: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("ferry").expect("ferry binary");
    c.env_clear()
        .env("HOME", home)
        .env("FERRY_CONFIG_DIR", home.join("cfg"));
    c
}

#[test]
fn help_lists_the_commands() {
    let home = tempfile::tempdir().expect("tmp");
    let out = ferry(home.path()).arg("--help").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["alias", "ls", "cp", "stat", "cat", "rm", "mb", "rb"] {
        assert!(text.contains(cmd), "--help lacks {cmd}:\n{text}");
    }
}

#[test]
fn unknown_flag_is_a_usage_error_naming_it() {
    let home = tempfile::tempdir().expect("tmp");
    let out = ferry(home.path())
        .args(["cp", "--bogus", "a", "b"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));
}

#[test]
fn out_of_range_worker_count_is_refused() {
    let home = tempfile::tempdir().expect("tmp");
    let out = ferry(home.path())
        .args(["cp", "--max-workers", "0", "a", "b"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-workers"));
}

#[test]
fn invalid_alias_name_is_refused_and_nothing_is_written() {
    let home = tempfile::tempdir().expect("tmp");
    let out = ferry(home.path())
        .args(["alias", "set", "1bad", "http://127.0.0.1:9000", "k", "s"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("ferry: <ERROR> invalid alias name \"1bad\""),
        "{err}"
    );
    assert!(!home.path().join("cfg").exists());
}

#[test]
fn broken_alias_file_names_the_file() {
    let home = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(home.path().join("cfg")).expect("mkdir");
    std::fs::write(home.path().join("cfg/config.json"), "{ not json").expect("write");
    let out = ferry(home.path())
        .args(["alias", "ls"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config.json is not a valid alias file"),
        "{err}"
    );
}
