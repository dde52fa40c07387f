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

/// ferryd with an Azure target: a job mirrors a milvus-backup root from a local folder into a
/// container (its alias written inline in ferryd.toml), the backups arrive whole and listed
/// as such, byte-identical, and each is restored exactly once by the job's exec trigger.
#[test]
fn ferryd_mirrors_backups_into_azure_and_restores_each_once() {
    use ferry_tests::milvus::{Backup, Spec, Version};
    use ferry_tests::{Ferry, tree_hashes};
    let azurite = Azurite::start();
    let ferry = Ferry::new();
    let url = azurite.url();
    let (account, key) = (ferry_tests::azurite::ACCOUNT, ferry_tests::azurite::KEY);
    ferry.ok(&["alias", "set", "az", &url, account, key, "--api", "azure"]);
    ferry.ok(&["mb", "az/milvus-copy"]);
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("bucket/backup");
    for (name, seed) in [("b1", 41), ("b2", 42)] {
        Backup::generate(&Spec::small(name, Version::V0_5_12, seed)).write(&root);
    }
    let calls = dir.path().join("calls.txt");
    let addr = format!("127.0.0.1:{}", ferry_tests::free_port());
    let config = format!(
        "state_dir = \"{}\"\nalias_dir = \"{}\"\n[control]\nlisten = \"{addr}\"\n\
         [aliases.azc]\nurl = \"{url}\"\napi = \"azure\"\naccess_key = \"{account}\"\nsecret_key = \"{key}\"\n\
         [[jobs]]\nname = \"to-azure\"\nsource = \"{}/\"\ntarget = \"azc/milvus-copy/backup/\"\n\
         [jobs.restore]\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"echo $0 >> {}\", \"{{backup}}\"]\n",
        dir.path().join("state").display(),
        dir.path().join("aliases").display(),
        root.display(),
        calls.display(),
    );
    let _d = ferry_tests::Ferryd::start(dir.path(), &addr, &config);
    ferry.ok(&[
        "sync",
        "--wait",
        "--daemon",
        &format!("http://{addr}"),
        "to-azure",
    ]);
    let listed = ferry.ok(&["backups", "ls", "az/milvus-copy/backup/"]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(!listed.contains("incomplete"), "{listed}");
    let back = dir.path().join("back");
    ferry.ok(&[
        "cp",
        "-r",
        "az/milvus-copy/backup/",
        &format!("{}/", back.display()),
    ]);
    assert_eq!(tree_hashes(&root), tree_hashes(&back));
    ferry_tests::wait_for(std::time::Duration::from_secs(30), "two restores", || {
        std::fs::read_to_string(&calls).is_ok_and(|c| c.lines().count() == 2)
    });
    let mut fired: Vec<String> = std::fs::read_to_string(&calls)
        .expect("calls")
        .lines()
        .map(str::to_owned)
        .collect();
    fired.sort();
    assert_eq!(fired, ["b1", "b2"]);
}
