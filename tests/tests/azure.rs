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
