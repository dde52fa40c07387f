//! Azurite, Microsoft's Azure Storage emulator (its blob service), as an external process:
//! started on a free loopback port with its own folder, stopped by its PID when dropped.
//! Installed by scripts/setup.sh (npm `azurite@3.35.0`, the newest that runs on Node 20).

use std::process::{Child, Command, Stdio};

/// Azurite's well-known account and key (public, documented by Microsoft).
pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A running Azurite blob service.
#[derive(Debug)]
pub struct Azurite {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

/// Where `azurite-blob` is: on PATH, or where a non-root set-up installs it.
fn program() -> std::path::PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("azurite-blob"))
            .find(|p| p.is_file())
    });
    let local = std::env::var_os("HOME")
        .map(|h| std::path::PathBuf::from(h).join(".local/bin/azurite-blob"))
        .filter(|p| p.is_file());
    on_path
        .or(local)
        .unwrap_or_else(|| panic!("azurite-blob is not installed: run scripts/setup.sh"))
}

impl Azurite {
    /// Starts one and waits until it accepts connections.
    pub fn start() -> Azurite {
        let dir = tempfile::tempdir().expect("azurite dir");
        let port = crate::free_port();
        let log = std::fs::File::create(dir.path().join("azurite.log")).expect("log");
        let child = Command::new(program())
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &port.to_string(),
                "--location",
                &dir.path().display().to_string(),
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--loose",
                "--silent",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start azurite-blob");
        let mut a = Azurite {
            child,
            port,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = a.child.try_wait() {
                let log =
                    std::fs::read_to_string(a._dir.path().join("azurite.log")).unwrap_or_default();
                panic!("azurite-blob exited ({status}): {log}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "azurite-blob did not start in 60 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        a
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The blob service URL, path style: `http://127.0.0.1:PORT/devstoreaccount1`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// A client for the well-known account.
    pub fn endpoint(&self) -> ferry_engine::backend::azure::AzureEndpoint {
        use ferry_engine::backend::azure::{AzureConfig, AzureCredentials, AzureEndpoint};
        AzureEndpoint::connect(&AzureConfig {
            label: "azurite".into(),
            endpoint: url::Url::parse(&self.url()).expect("url"),
            account: ACCOUNT.into(),
            credentials: AzureCredentials::SharedKey(KEY.into()),
            ca_cert: None,
        })
        .expect("endpoint")
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
