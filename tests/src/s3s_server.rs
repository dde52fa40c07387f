//! An in-process S3 server for tests: s3s + s3s-fs on `127.0.0.1:0`, real HTTP and SigV4.
//!
//! The server runs on its own thread and runtime, so a test may block on a child process
//! (the `ferry` binary) while the server keeps answering. Dropping the handle stops it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

use crate::server_thread::ServerThread;

/// A running server. Buckets are folders under [`S3sServer::root`].
#[derive(Debug)]
pub struct S3sServer {
    addr: SocketAddr,
    root: PathBuf,
    _owned_root: Option<tempfile::TempDir>,
    access_key: String,
    secret_key: String,
    requests: Arc<AtomicU64>,
    _server: ServerThread,
}

impl S3sServer {
    /// Starts a server on a fresh temporary folder that accepts only the given keys.
    pub fn start(access_key: &str, secret_key: &str) -> S3sServer {
        let tmp = tempfile::tempdir().expect("server root");
        let mut server = Self::start_at(tmp.path(), "127.0.0.1:0", access_key, secret_key);
        server._owned_root = Some(tmp);
        server
    }

    /// Starts a server serving the folder `root` on `bind` (e.g. `127.0.0.1:0`).
    pub fn start_at(root: &Path, bind: &str, access_key: &str, secret_key: &str) -> S3sServer {
        crate::register_secret(secret_key);
        let fs = s3s_fs::FileSystem::new(root).expect("s3s-fs root");
        let mut b = S3ServiceBuilder::new(fs);
        b.set_auth(SimpleAuth::from_single(access_key, secret_key));
        let service = b.build();
        let requests = Arc::new(AtomicU64::new(0));
        let counter = requests.clone();
        // For benchmarks: FERRY_TEST_S3_LOG=1 prints one line per connection and per request
        // (method and path) to stderr, so requests can be counted by kind.
        let log = std::env::var_os("FERRY_TEST_S3_LOG").is_some();
        let headers = std::env::var_os("FERRY_TEST_S3_LOG").is_some_and(|v| v == "headers");

        let server = ServerThread::start(
            "s3s-server",
            bind,
            move |listener, mut stop| async move {
                let http = ConnBuilder::new(TokioExecutor::new());
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((socket, peer)) = accepted else { continue };
                            if log {
                                eprintln!("CONN {peer}");
                            }
                            let (service, counter) = (service.clone(), counter.clone());
                            let counted = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                                counter.fetch_add(1, Ordering::SeqCst);
                                if log {
                                    eprintln!("{} {}", req.method(), req.uri());
                                    if headers {
                                        eprintln!("  {:?}", req.headers());
                                    }
                                }
                                hyper::service::Service::call(&service, req)
                            });
                            let conn = http.serve_connection(TokioIo::new(socket), counted).into_owned();
                            tokio::spawn(async move { let _ = conn.await; });
                        }
                        _ = &mut stop => break,
                    }
                }
            },
        );
        let addr = server.addr();
        S3sServer {
            addr,
            root: root.to_path_buf(),
            _owned_root: None,
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            requests,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The folder holding the buckets.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates a bucket directly on disk.
    pub fn create_bucket(&self, name: &str) -> PathBuf {
        let p = self.root.join(name);
        std::fs::create_dir_all(&p).expect("bucket dir");
        p
    }

    /// HTTP requests answered so far (to prove that a run sent none).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// The access key the server accepts.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The secret key the server accepts.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }
}
