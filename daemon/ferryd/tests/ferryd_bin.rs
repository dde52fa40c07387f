//! The `ferryd` binary's own flags (the daemon itself is tested end to end in tests/).

use assert_cmd::Command;

#[test]
fn version_default_config_and_check_config() {
    let out = Command::cargo_bin("ferryd")
        .expect("ferryd")
        .arg("--version")
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ferryd "));

    let out = Command::cargo_bin("ferryd")
        .expect("ferryd")
        .arg("--print-default-config")
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("source = \"./source/\""), "{text}");

    // The embedded default is valid as it stands.
    let dir = tempfile::tempdir().expect("tmp");
    let out = Command::cargo_bin("ferryd")
        .expect("ferryd")
        .arg("--check-config")
        .current_dir(dir.path())
        .env_remove("FERRYD_CONFIG")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid (1 job)"));

    let out = Command::cargo_bin("ferryd")
        .expect("ferryd")
        .args(["--check-config", "--config", "/nonexistent/ferryd.toml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("ferryd: <ERROR> cannot read /nonexistent/ferryd.toml"),
        "{err}"
    );
}
