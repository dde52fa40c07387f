//! The store conformance suite against the local backend and a real in-process S3 server.

use ferry_daemon::backend::local::LocalStore;
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
