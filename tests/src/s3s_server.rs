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
        Self::start_with_auth(
            root,
            bind,
            SimpleAuth::from_single(access_key, secret_key),
            access_key,
            secret_key,
        )
    }

    /// Starts a server over `root` whose keys `auth` decides (keys that come and go, as a
    /// service's temporary credentials do); `access_key`/`secret_key` are what
    /// [`S3sServer::access_key`] reports.
    pub fn start_with_auth(
        root: &Path,
        bind: &str,
        auth: impl s3s::auth::S3Auth,
        access_key: &str,
        secret_key: &str,
    ) -> S3sServer {
        let fs = s3s_fs::FileSystem::new(root).expect("s3s-fs root");
        let mut b = S3ServiceBuilder::new(fs);
        b.set_auth(auth);
        b.set_route(ListUploadsRoute {
            root: root.to_path_buf(),
        });
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
                                // Run each request to its end even when the client hangs
                                // up (a killed ferry), as real servers do: dropping s3s-fs's
                                // handler half-way leaves half-made uploads no S3 server has.
                                let handler = tokio::spawn(hyper::service::Service::call(&service, req));
                                async move {
                                    match handler.await {
                                        Ok(r) => r.map_err(|e| {
                                            let e: Box<dyn std::error::Error + Send + Sync> = e.into();
                                            std::io::Error::other(e)
                                        }),
                                        Err(e) => Err(std::io::Error::other(e)),
                                    }
                                }
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

/// ListMultipartUploads, which s3s-fs lacks, answered from the upload files s3s-fs keeps in
/// its root (`.bucket-B.object-K.upload-ID.metadata.json`, B and K in unpadded URL-safe
/// base64). With it ferry can find and abort uploads whose CreateMultipartUpload answer was
/// lost, as it does on servers that list uploads.
#[derive(Debug)]
struct ListUploadsRoute {
    root: PathBuf,
}

impl ListUploadsRoute {
    /// `(key, upload id)` of the open uploads in `bucket` whose key starts with `prefix`.
    fn uploads(&self, bucket: &str, prefix: &str) -> std::io::Result<Vec<(String, String)>> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let head = format!(".bucket-{}.object-", b64.encode(bucket));
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let name = entry?.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&head)) else {
                continue;
            };
            let Some(rest) = rest.strip_suffix(".metadata.json") else {
                continue;
            };
            let Some((key, id)) = rest.split_once(".upload-") else {
                continue;
            };
            let Some(key) = b64.decode(key).ok().and_then(|k| String::from_utf8(k).ok()) else {
                continue;
            };
            if key.starts_with(prefix) {
                out.push((key, id.to_owned()));
            }
        }
        out.sort();
        Ok(out)
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[async_trait::async_trait]
impl s3s::route::S3Route for ListUploadsRoute {
    fn is_match(
        &self,
        method: &hyper::Method,
        uri: &hyper::Uri,
        _headers: &hyper::HeaderMap,
        _extensions: &mut hyper::http::Extensions,
    ) -> bool {
        let bucket = uri.path().trim_matches('/');
        method == hyper::Method::GET
            && !bucket.is_empty()
            && !bucket.contains('/')
            && url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                .any(|(k, _)| k == "uploads")
    }

    async fn call(
        &self,
        req: s3s::S3Request<s3s::Body>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::Body>> {
        let bucket = req.uri.path().trim_matches('/').to_owned();
        let prefix = url::form_urlencoded::parse(req.uri.query().unwrap_or_default().as_bytes())
            .find(|(k, _)| k == "prefix")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if !self.root.join(&bucket).is_dir() {
            return Err(s3s::s3_error!(NoSuchBucket));
        }
        let uploads = self
            .uploads(&bucket, &prefix)
            .map_err(|e| s3s::s3_error!(e, InternalError))?;
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListMultipartUploadsResult \
             xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>{}</Bucket><Prefix>{}</Prefix>\
             <MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>",
            xml_escape(&bucket),
            xml_escape(&prefix)
        );
        for (key, id) in uploads {
            xml.push_str(&format!(
                "<Upload><Key>{}</Key><UploadId>{}</UploadId></Upload>",
                xml_escape(&key),
                xml_escape(&id)
            ));
        }
        xml.push_str("</ListMultipartUploadsResult>");
        let mut resp = s3s::S3Response::new(s3s::Body::from(xml));
        resp.headers.insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/xml"),
        );
        Ok(resp)
    }
}
