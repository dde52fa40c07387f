//! Shared pieces of ferry's end-to-end tests: the store conformance suite, an in-process S3
//! server, and helpers to run the real binaries.

pub mod conformance;
pub mod s3s_server;

use sha2::Digest;

/// Deterministic pseudo-random bytes (so a failure reproduces).
pub fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut v = vec![0u8; len];
    rng.fill(&mut v);
    v
}

/// Hex SHA-256.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

use ferry_daemon::backend::s3::{S3Config, S3Credentials, S3Endpoint, S3Store};

/// An S3 store for `bucket` on a server at `url` with static keys (the bucket must exist).
pub async fn s3_store(url: &str, access_key: &str, secret_key: &str, bucket: &str) -> S3Store {
    let cfg = S3Config::for_endpoint(
        "test",
        url,
        S3Credentials::Static {
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            session_token: None,
        },
    );
    S3Endpoint::connect(&cfg)
        .await
        .expect("client")
        .bucket(bucket)
}

/// The path of a binary built from this workspace (`ferry`, `ferryd`), next to the test
/// executable's folder. `cargo test --workspace` builds them (their crates have integration
/// tests); after `cargo test -p ferry-tests` alone, run `cargo build --bins` first.
pub fn bin_path(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is not built: run `cargo build --bins` (or `cargo test --workspace`)",
        p.display()
    );
    p
}

/// Runs the real `ferry` binary with its own config folder and a clean environment.
#[derive(Debug)]
pub struct Ferry {
    home: tempfile::TempDir,
}

impl Default for Ferry {
    fn default() -> Self {
        Self::new()
    }
}

impl Ferry {
    /// A fresh config folder.
    pub fn new() -> Self {
        Ferry {
            home: tempfile::tempdir().expect("home"),
        }
    }

    /// The config folder.
    pub fn config_dir(&self) -> std::path::PathBuf {
        self.home.path().join(".ferry")
    }

    /// A `ferry` process builder with the same environment as [`Ferry::cmd`], for tests that
    /// kill the process.
    pub fn process(&self) -> std::process::Command {
        let mut c = std::process::Command::new(bin_path("ferry"));
        c.env_clear()
            .env("HOME", self.home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("FERRY_CONFIG_DIR", self.config_dir());
        c
    }

    /// A `ferry` command ready for arguments.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut c = assert_cmd::Command::new(bin_path("ferry"));
        c.env_clear()
            .env("HOME", self.home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("FERRY_CONFIG_DIR", self.config_dir())
            .timeout(std::time::Duration::from_secs(300));
        c
    }

    /// Runs `ferry ARGS` and returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().expect("run ferry");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs `ferry ARGS`, which must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(
            code, 0,
            "ferry {args:?} failed\nstdout:\n{out}\nstderr:\n{err}"
        );
        out
    }

    /// Runs `ferry ARGS`, which must fail with exactly one `ferry: <ERROR>` line containing
    /// every one of `needles`; returns stderr.
    pub fn fails(&self, args: &[&str], needles: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_ne!(
            code, 0,
            "ferry {args:?} should fail\nstdout:\n{out}\nstderr:\n{err}"
        );
        let errors: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("ferry: <ERROR>"))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "ferry {args:?}: want one error line, got stderr:\n{err}"
        );
        for n in needles {
            assert!(
                errors[0].contains(n),
                "ferry {args:?}: error line lacks {n:?}: {}",
                errors[0]
            );
        }
        assert!(!err.contains("panicked"), "ferry {args:?} panicked:\n{err}");
        err
    }
}

/// Every regular file under `root`, as (relative path, SHA-256), sorted.
pub fn tree_hashes(root: &std::path::Path) -> Vec<(String, String)> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).expect("read_dir") {
            let e = e.expect("entry");
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, sha256(&std::fs::read(&p).expect("read"))));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}
