//! Shared pieces of ferry's end-to-end tests: the store conformance suite, an in-process S3
//! server, and helpers to run the real binaries.

pub mod azurite;
pub mod browser;
pub mod conformance;
pub mod disk;
pub mod fault_proxy;
pub mod invariant;
pub mod milvus;
pub mod restore_server;
pub mod s3s_server;
pub mod server_thread;
pub mod zilliz;

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

use ferry_engine::backend::s3::{S3Config, S3Credentials, S3Endpoint, S3Store};

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

/// The environment that moves a process's clock by `offset` (faketime's syntax: `-1h`, `+2d`):
/// libfaketime preloaded directly. Not the `faketime` wrapper: it names a shared-memory
/// semaphore by its own PID and leaves it behind when killed, and a later wrapper that gets
/// the same PID then fails to start ("sem_open: File exists").
pub fn clock_env(offset: &str) -> Vec<(String, String)> {
    let lib = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| d.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("libfaketime is not installed: run scripts/setup.sh"));
    vec![
        ("LD_PRELOAD".to_owned(), lib.display().to_string()),
        ("FAKETIME".to_owned(), offset.to_owned()),
    ]
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

/// Keeps a copy of output the suite captured (a ferry run's stdout and stderr, ferryd's log, an
/// API answer) under `$FERRY_TEST_OUTPUT_DIR`, for `.ci/run`'s secrets check
/// (scripts/check-secrets.sh). Does nothing when the variable is unset.
pub fn keep_output(kind: &str, text: &[u8]) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let Some(dir) = std::env::var_os("FERRY_TEST_OUTPUT_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join(format!("{kind}-{}-{n}.out", std::process::id())),
        text,
    );
}

/// Prints a line of numbers a reliability test measured (kills, faults injected, objects
/// checked) and keeps it in `$FERRY_TEST_OUTPUT_DIR/numbers.txt`, which `.ci/run` prints at
/// the end (cargo test hides the output of tests that pass).
pub fn report(line: &str) {
    eprintln!("{line}");
    append_output("numbers.txt", line);
}

/// Records a secret the suite hands to ferry (an S3 secret key, an API token) in
/// `$FERRY_TEST_OUTPUT_DIR/secrets.txt`, so that the secrets check knows what must never
/// appear in any kept output.
pub fn register_secret(secret: &str) {
    append_output("secrets.txt", secret);
}

/// Appends `line` to `$FERRY_TEST_OUTPUT_DIR/file`; nothing when the variable is unset.
fn append_output(file: &str, line: &str) {
    use std::io::Write;
    let Some(dir) = std::env::var_os("FERRY_TEST_OUTPUT_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(file))
    {
        let _ = writeln!(f, "{line}");
    }
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
        self.cmd_of(assert_cmd::Command::new(bin_path("ferry")))
    }

    fn cmd_of(&self, mut c: assert_cmd::Command) -> assert_cmd::Command {
        c.env_clear()
            .env("HOME", self.home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("FERRY_CONFIG_DIR", self.config_dir())
            .timeout(std::time::Duration::from_secs(300));
        c
    }

    /// Runs `ferry ARGS` and returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_cmd(self.cmd(), args)
    }

    /// Like [`Ferry::run`], but file permissions bind ferry even when the tests run as root:
    /// then ferry runs under `setpriv` without any capability (so no CAP_DAC_OVERRIDE).
    pub fn run_bound_by_permissions(&self, args: &[&str]) -> (i32, String, String) {
        if !disk::is_root() {
            return self.run(args);
        }
        self.run_under(
            &[
                "setpriv",
                "--bounding-set",
                "-all",
                "--inh-caps",
                "-all",
                "--",
            ],
            args,
        )
    }

    /// Like [`Ferry::run`], with ferry's clock moved by `offset` (faketime's syntax: `-1h`,
    /// `+2d`); the servers keep the real time.
    pub fn run_with_clock(&self, offset: &str, args: &[&str]) -> (i32, String, String) {
        let mut c = self.cmd_of(assert_cmd::Command::new(bin_path("ferry")));
        c.envs(clock_env(offset));
        self.run_cmd(c, args)
    }

    /// Like [`Ferry::run`], with these environment variables set too.
    pub fn run_with_env(&self, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
        let mut c = self.cmd();
        for (k, v) in env {
            c.env(k, v);
        }
        self.run_cmd(c, args)
    }

    /// Runs `WRAPPER... ferry ARGS` (the wrapper must be installed: scripts/setup.sh).
    fn run_under(&self, wrapper: &[&str], args: &[&str]) -> (i32, String, String) {
        let program = std::env::var_os("PATH")
            .and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(wrapper[0]))
                    .find(|p| p.is_file())
            })
            .unwrap_or_else(|| panic!("{} is not installed: run scripts/setup.sh", wrapper[0]));
        let mut c = self.cmd_of(assert_cmd::Command::new(program));
        c.args(&wrapper[1..]).arg(bin_path("ferry"));
        self.run_cmd(c, args)
    }

    fn run_cmd(&self, mut cmd: assert_cmd::Command, args: &[&str]) -> (i32, String, String) {
        let positional: Vec<&str> = args
            .iter()
            .copied()
            .filter(|a| !a.starts_with("--"))
            .collect();
        if let ["alias", "set", _, _, _, secret, ..] = positional.as_slice() {
            register_secret(secret);
        }
        let out = cmd.args(args).output().expect("run ferry");
        // `alias export` to stdout is the one output meant to carry credentials.
        if args.get(..2) != Some(&["alias", "export"][..]) {
            keep_output("ferry", &out.stdout);
        }
        keep_output("ferry", &out.stderr);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Starts `ferry ARGS` and kill -9s it after a random wait in `wait_ms`; true when it was
    /// still running (killed mid-way), false when it had already finished.
    pub fn run_killed_at_random(
        &self,
        args: &[String],
        rng: &mut fastrand::Rng,
        wait_ms: std::ops::Range<u64>,
    ) -> bool {
        let mut child = self
            .process()
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn ferry");
        std::thread::sleep(std::time::Duration::from_millis(rng.u64(wait_ms)));
        let running = child.try_wait().ok().flatten().is_none();
        let _ = child.kill();
        let _ = child.wait();
        running
    }

    /// `ferry alias set NAME` for an in-process S3 server.
    pub fn alias(&self, name: &str, server: &s3s_server::S3sServer) {
        self.ok(&[
            "alias",
            "set",
            name,
            &server.url(),
            server.access_key(),
            server.secret_key(),
        ]);
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

/// Upload bookkeeping files s3s-fs keeps in its root while a multipart upload is open.
pub fn open_uploads(server_root: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(server_root)
        .expect("server root")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".upload"))
        .collect()
}

/// A free TCP port on loopback (bound then released: the caller binds it next).
///
/// Taken below Linux's ephemeral range (32768–60999), so that the in-process servers other
/// tests start on port 0 meanwhile can never be handed the same port (a port meant to be dead
/// must stay dead, a port meant for ferryd must stay free).
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let p = fastrand::u16(20_000..32_000);
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
    panic!("no free port in 20000..32000")
}

/// A loopback port that refuses connections and that nothing else can take: bound, never
/// listening, until [`DeadPort::revive`] hands it over (a port from [`free_port`] is only
/// free when drawn, and a parallel test may start a server on it).
#[derive(Debug)]
pub struct DeadPort {
    socket: tokio::net::TcpSocket,
    port: u16,
}

impl DeadPort {
    /// Binds a fresh one.
    pub fn new() -> DeadPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let port = socket.local_addr().expect("local addr").port();
        DeadPort { socket, port }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Releases the port for a server about to bind it.
    pub fn revive(self) -> u16 {
        drop(self.socket);
        self.port
    }
}

impl Default for DeadPort {
    fn default() -> Self {
        Self::new()
    }
}

/// Polls `f` every 50 ms until it holds; panics with `what` after `timeout`.
pub fn wait_for(timeout: std::time::Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// One HTTP/1.1 request over a plain socket: (status, body). Enough for ferryd's API.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    use std::io::{Read, Write};
    if let Some(t) = token {
        register_secret(t);
    }
    let mut s = std::net::TcpStream::connect(addr).expect("connect to ferryd");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("send");
    // The server may answer (413) before reading a large body: ignore a reset while sending.
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    keep_output("api", &out);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// A running `ferryd` with a config written by the test; SIGKILLed on drop.
#[derive(Debug)]
pub struct Ferryd {
    child: Option<std::process::Child>,
    /// The config file.
    pub config: std::path::PathBuf,
    /// `127.0.0.1:PORT` of its control API.
    pub addr: String,
    log: std::path::PathBuf,
    home: std::path::PathBuf,
    /// Extra arguments for the next (re)start.
    pub args: Vec<String>,
    /// Extra environment for the next (re)start (pause points).
    pub env: Vec<(String, String)>,
    /// A program (and its arguments) to start ferryd under at the next (re)start, e.g.
    /// `faketime -f +2d`.
    pub wrapper: Vec<String>,
}

impl Ferryd {
    /// Writes `config` (which must listen on `addr`) to `dir/ferryd.toml` (mode 0600) and
    /// starts ferryd on it; waits until its API answers.
    pub fn start(dir: &std::path::Path, addr: &str, config: &str) -> Ferryd {
        Ferryd::start_with(dir, addr, config, Vec::new())
    }

    /// [`Ferryd::start`] with `env` in its environment (pause points).
    pub fn start_with(
        dir: &std::path::Path,
        addr: &str,
        config: &str,
        env: Vec<(String, String)>,
    ) -> Ferryd {
        let path = dir.join("ferryd.toml");
        std::fs::write(&path, config).expect("write config");
        for line in config.lines() {
            if let Some((key, value)) = line.split_once('=')
                && ["secret_key", "session_token", "token"].contains(&key.trim())
            {
                register_secret(value.trim().trim_matches('"'));
            }
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let mut d = Ferryd {
            child: None,
            config: path,
            addr: addr.to_owned(),
            log: dir.join("ferryd.log"),
            home: dir.join("home"),
            args: Vec::new(),
            env,
            wrapper: Vec::new(),
        };
        d.restart();
        d
    }

    /// Starts the process again (after [`Ferryd::sigterm`] or a kill).
    pub fn restart(&mut self) {
        std::fs::create_dir_all(&self.home).expect("home");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log");
        let mut cmd = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = std::process::Command::new(program);
                c.args(rest).arg(bin_path("ferryd"));
                c
            }
            None => std::process::Command::new(bin_path("ferryd")),
        };
        // Its own process group, so that a kill reaches ferryd under a wrapper (faketime forks
        // it and waits) too.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .arg("--config")
            .arg(&self.config)
            .arg("--log-level")
            .arg("info")
            .args(&self.args)
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn ferryd");
        self.child = Some(child);
        let addr = self.addr.clone();
        let log = self.log.clone();
        let mut tries = 0;
        wait_for(
            std::time::Duration::from_secs(20),
            "ferryd to listen",
            || {
                tries += 1;
                if let Some(c) = self.child.as_mut()
                    && let Ok(Some(status)) = c.try_wait()
                {
                    panic!(
                        "ferryd exited with {status} at start:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                std::net::TcpStream::connect(&addr).is_ok()
            },
        );
    }

    /// GET a JSON document from the API (with `token`).
    pub fn get(&self, path: &str, token: Option<&str>) -> serde_json::Value {
        let (status, body) = http(&self.addr, "GET", path, token, b"");
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).expect("json")
    }

    /// One job's status.
    /// The latest restore request of `backup` (`GET /v1/restores`).
    pub fn restore_of(&self, backup: &str) -> Option<serde_json::Value> {
        self.get("/v1/restores", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .rev()
            .find(|r| r["backup"] == backup)
    }

    /// Waits (up to `secs`) until `backup`'s latest restore request is in `state`; returns it.
    pub fn wait_restore(&self, backup: &str, state: &str, secs: u64) -> serde_json::Value {
        let mut last = None;
        wait_for(
            std::time::Duration::from_secs(secs),
            &format!("{backup} {state}"),
            || {
                last = self.restore_of(backup);
                last.as_ref().is_some_and(|r| r["state"] == state)
            },
        );
        last.expect("record")
    }

    /// Runs `ferry ARGS --daemon URL` against this ferryd.
    pub fn ferry(&self, args: &[&str]) -> (i32, String, String) {
        // --daemon belongs to the subcommand: it goes last.
        let url = format!("http://{}", self.addr);
        let mut v: Vec<&str> = args.to_vec();
        v.extend(["--daemon", url.as_str()]);
        Ferry::new().run(&v)
    }

    pub fn job(&self, name: &str, token: Option<&str>) -> serde_json::Value {
        self.get(&format!("/v1/jobs/{name}"), token)
    }

    /// Sends SIGTERM and waits for the exit; returns the exit code.
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn sigterm(&mut self) -> Option<i32> {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let start = std::time::Instant::now();
        loop {
            if let Ok(Some(s)) = child.try_wait() {
                return s.code();
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "ferryd did not stop within 60 s of SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// SIGKILLs the process (a crash: no shutdown work at all) and reaps it; with a wrapper,
    /// ferryd under it too (its process group; restore supervisors have their own).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_group(&mut c);
        }
    }

    /// Everything ferryd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Ferryd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_group(&mut c);
        }
        keep_output("ferryd", self.log().as_bytes());
    }
}

/// Pause points of a process under test (see `ferry_engine::pause`): the environment that
/// arms them, and waiting for and releasing each one.
#[derive(Debug)]
pub struct Pause {
    dir: tempfile::TempDir,
    points: String,
}

impl Pause {
    /// Arms `points` (comma-separated names).
    pub fn at(points: &str) -> Pause {
        Pause {
            dir: tempfile::tempdir().expect("pause dir"),
            points: points.to_owned(),
        }
    }

    /// The environment that arms the points in a child process.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("FERRY_PAUSE_AT".into(), self.points.clone()),
            (
                "FERRY_PAUSE_DIR".into(),
                self.dir.path().display().to_string(),
            ),
        ]
    }

    /// Whether the process stands at `point` now (or went past it).
    pub fn reached(&self, point: &str) -> bool {
        self.dir.path().join(format!("{point}.reached")).exists()
    }

    /// Waits until the process stands at `point`.
    pub fn wait(&self, point: &str) {
        wait_for(
            std::time::Duration::from_secs(60),
            &format!("pause point {point}"),
            || self.reached(point),
        );
    }

    /// Lets the process go on from `point`.
    pub fn go(&self, point: &str) {
        std::fs::write(self.dir.path().join(format!("{point}.go")), b"go").expect("go");
    }
}

/// SIGKILLs a child started in its own process group (`process_group(0)`) and everything in
/// that group (a wrapper such as faketime forks the real process), then reaps the child.
pub fn kill_group(child: &mut std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(std::process::Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// The lines of a text file (none when it does not exist yet).
pub fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}
