//! The `ferryd` binary as it stands: version and an honest refusal to run.

use assert_cmd::Command;

#[test]
fn version_prints_and_running_says_not_implemented() {
    let out = Command::cargo_bin("ferryd")
        .expect("ferryd")
        .arg("--version")
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ferryd "));
    let out = Command::cargo_bin("ferryd")
        .expect("ferryd")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not implemented yet"));
}
