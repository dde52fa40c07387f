//! Azure Blob Storage against Azurite (a real server speaking the Blob REST API with Shared Key
//! signatures), started by each test: the store conformance suite, and what only Azure has.

use ferry_tests::azurite::Azurite;
use ferry_tests::conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_backend_conforms_on_azurite() {
    let azurite = Azurite::start();
    let ep = azurite.endpoint();
    ep.create_container("conformance").await.expect("container");
    conformance::run_all(&ep.container("conformance")).await;
}

/// A wrong account key is refused by the server, named as such, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_refused() {
    use ferry_engine::backend::azure::{AzureConfig, AzureCredentials, AzureEndpoint};
    use ferry_engine::backend::{Error, ObjectStore};
    let azurite = Azurite::start();
    azurite
        .endpoint()
        .create_container("cwrong")
        .await
        .expect("container");
    let wrong = AzureEndpoint::connect(&AzureConfig {
        label: "wrong".into(),
        endpoint: url::Url::parse(&azurite.url()).expect("url"),
        account: ferry_tests::azurite::ACCOUNT.into(),
        credentials: AzureCredentials::SharedKey(
            "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWs=".into(),
        ),
        ca_cert: None,
    })
    .expect("endpoint");
    let e = wrong
        .container("cwrong")
        .put("k", bytes::Bytes::from_static(b"x"))
        .await
        .expect_err("refused");
    // Azure says AuthenticationFailed; Azurite, AuthorizationFailure.
    assert!(
        matches!(
            e,
            Error::Unauthenticated { .. } | Error::PermissionDenied { .. }
        ),
        "{e:?}"
    );
    let shown = ferry_engine::backend::error::display_chain(&e);
    assert!(shown.contains("wrong account key"), "{shown}");
    let listed = ferry_tests::conformance::list_keys(
        &azurite.endpoint().container("cwrong"),
        "",
        Default::default(),
    )
    .await;
    assert!(listed.is_empty(), "{listed:?}");
}

/// The real binaries: local → Azure → S3 → local, byte-identical, with an Azure alias set the
/// way Azure users write it (account, key); mirror's second run copies nothing; a wrong key is
/// refused by `alias set` and nothing is saved.
#[test]
fn cli_copies_local_to_azure_to_s3_and_back_byte_identical() {
    use ferry_tests::s3s_server::S3sServer;
    use ferry_tests::{Ferry, data, tree_hashes};
    let azurite = Azurite::start();
    let s3 = S3sServer::start("AKIAAZURE1", "azure-test-secret-1");
    s3.create_bucket("s3dst");
    let work = tempfile::tempdir().expect("tmp");
    let src = work.path().join("src");
    std::fs::create_dir_all(src.join("sub dir")).expect("mkdir");
    std::fs::write(src.join("big.bin"), data(1, 40 * 1024 * 1024 + 123)).expect("write");
    std::fs::write(src.join("small.txt"), b"hello azure").expect("write");
    std::fs::write(src.join("sub dir/ü.bin"), data(2, 70_000)).expect("write");
    std::fs::write(src.join("empty"), b"").expect("write");
    let ferry = Ferry::new();
    let url = azurite.url();
    ferry.fails(
        &[
            "alias",
            "set",
            "azbad",
            &url,
            ferry_tests::azurite::ACCOUNT,
            "d3Jvbmcta2V5",
            "--api",
            "azure",
        ],
        &["alias \"azbad\" not saved"],
    );
    ferry.fails(&["alias", "ls", "azbad"], &["azbad"]);
    ferry.ok(&[
        "alias",
        "set",
        "az",
        &url,
        ferry_tests::azurite::ACCOUNT,
        ferry_tests::azurite::KEY,
        "--api",
        "azure",
    ]);
    ferry.alias("s3", &s3);
    ferry.ok(&["mb", "az/box"]);
    let s = |p: &std::path::Path| format!("{}/", p.display());
    ferry.ok(&["cp", "-r", &s(&src), "az/box/in/"]);
    ferry.ok(&["cp", "-r", "az/box/in/", "s3/s3dst/from-azure/"]);
    let back = work.path().join("back");
    ferry.ok(&["cp", "-r", "s3/s3dst/from-azure/", &s(&back)]);
    assert_eq!(tree_hashes(&src), tree_hashes(&back));
    let out = ferry.ok(&["mirror", &s(&src), "az/box/m/"]);
    let again = ferry.ok(&["mirror", &s(&src), "az/box/m/"]);
    assert!(
        !again.contains("->"),
        "a second mirror copies nothing: {again}"
    );
    let _ = out;
    let (code, out, err) = ferry.run(&["diff", &s(&src), "az/box/m/"]);
    assert_eq!(code, 0, "{out}{err}");
    let listed = ferry.ok(&["ls", "-r", "az/box/in/"]);
    assert_eq!(listed.lines().count(), 4, "{listed}");
    ferry.fails(&["mb", "az/Not_Valid"], &["Not_Valid"]);
}
