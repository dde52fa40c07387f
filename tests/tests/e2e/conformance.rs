//! The store conformance suite against the local backend and a real in-process S3 server.

use ferry_engine::backend::local::LocalStore;
use ferry_tests::conformance;
use ferry_tests::s3s_server::S3sServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_backend_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalStore::new(dir.path().join("root")).expect("store");
    conformance::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backend_conforms_on_in_process_s3s() {
    let server = S3sServer::start("AKIAFERRYTEST", "ferry-test-secret-key");
    server.create_bucket("conformance");
    let store = ferry_tests::s3_store(
        &server.url(),
        server.access_key(),
        server.secret_key(),
        "conformance",
    )
    .await;
    conformance::run_all(&store).await;
}

/// The hash handed to `put_hashed` is the one the request is signed with: the server checks
/// the body against it, so a wrong hash is refused and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_put_hashed_is_checked_by_the_server() {
    use ferry_engine::backend::ObjectStore;
    let server = S3sServer::start("AKIAFERRYTEST", "ferry-test-secret-key");
    server.create_bucket("hashed");
    let store = ferry_tests::s3_store(
        &server.url(),
        server.access_key(),
        server.secret_key(),
        "hashed",
    )
    .await;
    let body = bytes::Bytes::from_static(b"the bytes ferry hashed");
    let wrong = [7u8; 32];
    let err = store
        .put_hashed("k", body.clone(), wrong)
        .await
        .expect_err("a body that does not match its signed SHA-256 is refused");
    // s3s answers 500 (other servers 400 XAmzContentSHA256Mismatch): either way the object is
    // not stored, and a retry (the bytes were damaged on the way) reads the source again.
    assert!(
        err.to_string().contains("hashed/k"),
        "names the object: {err}"
    );
    assert!(store.head("k").await.is_err(), "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_backend_conforms() {
    let store = ferry_engine::backend::memory::MemoryStore::new("conformance");
    conformance::run_all(&store).await;
    assert_eq!(store.open_uploads(), 0, "uploads left open");
}
