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
    // Block uploads carry no whole-blob MD5 unless asked (`--md5`); single writes always do.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let store = azurite.endpoint().container("box");
    let md5_of = |key: &str| rt.block_on(store.content_md5(key)).expect("HEAD");
    let want = |p: &std::path::Path| {
        use md5::Digest;
        {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .encode(md5::Md5::digest(std::fs::read(p).expect("read")))
        }
    };
    assert_eq!(md5_of("in/big.bin"), None, "block upload without --md5");
    assert_eq!(
        md5_of("in/sub dir/ü.bin").as_deref(),
        Some(want(&src.join("sub dir/ü.bin")).as_str())
    );
    ferry.ok(&[
        "cp",
        "--md5",
        &src.join("big.bin").display().to_string(),
        "az/box/md5/big.bin",
    ]);
    ferry.ok(&[
        "cp",
        "--md5",
        "s3/s3dst/from-azure/big.bin",
        "az/box/md5/from-s3.bin",
    ]);
    for key in ["md5/big.bin", "md5/from-s3.bin"] {
        assert_eq!(
            md5_of(key).as_deref(),
            Some(want(&src.join("big.bin")).as_str()),
            "{key}: the whole blob's MD5 set at commit"
        );
    }
    ferry.fails(&["mb", "az/Not_Valid"], &["Not_Valid"]);
    ferry.fails(
        &["ls", "--incomplete", "az/box"],
        &["listing unfinished uploads is not supported here"],
    );
}

/// ferryd with an Azure target: a job mirrors a milvus-backup root from an S3 bucket into a
/// container (its alias written inline in ferryd.toml), the backups arrive whole and listed
/// as such, byte-identical, and each is restored exactly once by the job's exec trigger.
#[test]
fn ferryd_mirrors_backups_into_azure_and_restores_each_once() {
    use ferry_tests::milvus::{Backup, Spec, Version};
    use ferry_tests::s3s_server::S3sServer;
    use ferry_tests::{Ferry, tree_hashes};
    let azurite = Azurite::start();
    let s3 = S3sServer::start("AKIAAZURE3", "azure-test-secret-3");
    s3.create_bucket("milvus-a");
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
    ferry.alias("s3", &s3);
    ferry.ok(&[
        "cp",
        "-r",
        &format!("{}/", root.display()),
        "s3/milvus-a/backup/",
    ]);
    let calls = dir.path().join("calls.txt");
    let addr = format!("127.0.0.1:{}", ferry_tests::free_port());
    let config = format!(
        "state_dir = \"{}\"\nalias_dir = \"{}\"\n[control]\nlisten = \"{addr}\"\n\
         [aliases.s3a]\nurl = \"{s3url}\"\naccess_key = \"{s3ak}\"\nsecret_key = \"{s3sk}\"\n\
         [aliases.azc]\nurl = \"{url}\"\napi = \"azure\"\naccess_key = \"{account}\"\nsecret_key = \"{key}\"\n\
         [[jobs]]\nname = \"to-azure\"\nsource = \"s3a/milvus-a/backup/\"\ntarget = \"azc/milvus-copy/backup/\"\n\
         [jobs.restore]\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"echo $0 >> {}\", \"{{backup}}\"]\n",
        dir.path().join("state").display(),
        dir.path().join("aliases").display(),
        calls.display(),
        s3url = s3.url(),
        s3ak = s3.access_key(),
        s3sk = s3.secret_key(),
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

/// Azure's own ways to hand over credentials: a connection string imported as an alias (from
/// a pipe, as `echo "$AZURE_STORAGE_CONNECTION_STRING" | ferry alias import NAME`), and an alias
/// without a key that takes it from `AZURE_STORAGE_ACCOUNT` / `AZURE_STORAGE_KEY`. The key is
/// never shown.
#[test]
fn connection_strings_and_azure_storage_variables_give_the_key() {
    use ferry_tests::Ferry;
    let azurite = Azurite::start();
    let (account, key) = (ferry_tests::azurite::ACCOUNT, ferry_tests::azurite::KEY);
    let ferry = Ferry::new();
    let conn = format!(
        "DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};BlobEndpoint={}/;",
        azurite.url()
    );
    let file = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(file.path(), &conn).expect("write");
    ferry.ok(&[
        "alias",
        "import",
        "fromconn",
        &file.path().display().to_string(),
    ]);
    ferry.ok(&["mb", "fromconn/cs-box"]);
    let shown = ferry.ok(&["alias", "ls", "fromconn"]);
    assert!(shown.contains("azure") && !shown.contains(key), "{shown}");

    // No key in the alias: the environment's, for the account it names.
    ferry.ok(&[
        "alias",
        "set",
        "fromenv",
        &azurite.url(),
        account,
        "--api",
        "azure",
        "--no-check",
    ]);
    let env = [
        ("AZURE_STORAGE_ACCOUNT", account),
        ("AZURE_STORAGE_KEY", key),
    ];
    let (code, out, err) = ferry.run_with_env(&env, &["ls", "fromenv"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("cs-box/"), "{out}");
    // Without it, anonymous: the emulator refuses to list containers.
    let (code, _, err) = ferry.run(&["ls", "fromenv"]);
    assert_ne!(code, 0);
    assert!(!err.contains(key));
    // A string that names no account is refused, naming the part at fault.
    std::fs::write(file.path(), "AccountKey=abc;BlobEndpoint=http://x").expect("write");
    ferry.fails(
        &[
            "alias",
            "import",
            "broken",
            &file.path().display().to_string(),
        ],
        &["not a usable Azure connection string", "no AccountName"],
    );
}

/// kill -9 during block uploads: `ferry mirror` of a changing folder (a 40 MiB blob among
/// smaller ones, 5 MiB blocks) into Azurite is killed at random moments, then run to the end:
/// the container is byte-identical to the source, and no blob keeps uncommitted blocks.
#[test]
fn kill9_during_block_uploads_converges_with_no_stray_blocks() {
    use ferry_tests::{Ferry, data, tree_hashes};
    const MIB: usize = 1024 * 1024;
    let azurite = Azurite::start();
    let ferry = Ferry::new();
    let (account, key) = (ferry_tests::azurite::ACCOUNT, ferry_tests::azurite::KEY);
    ferry.ok(&[
        "alias",
        "set",
        "az",
        &azurite.url(),
        account,
        key,
        "--api",
        "azure",
    ]);
    ferry.ok(&["mb", "az/crash"]);
    let work = tempfile::tempdir().expect("work");
    let src = work.path().join("src");
    let size = |i: u64| {
        if i == 0 {
            40 * MIB
        } else if i.is_multiple_of(2) {
            12 * MIB
        } else {
            150_000
        }
    };
    for i in 0..6u64 {
        ferry_tests::milvus::write_file(
            &src,
            &format!("f{i}"),
            &data(200 + i, size(i) + i as usize),
        );
    }
    let state = work.path().join("state");
    let args: Vec<String> = [
        "mirror",
        "--part-size",
        "5",
        "--state-dir",
        state.to_str().expect("utf-8"),
        &format!("{}/", src.display()),
        "az/crash/m/",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let cycles: usize = std::env::var("FERRY_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let mut rng = fastrand::Rng::with_seed(0xA2E);
    let mut killed = 0;
    for _ in 0..cycles {
        if ferry.run_killed_at_random(&args, &mut rng, 100..1200) {
            killed += 1;
        }
        // The source keeps changing, so each run has block uploads to be killed in.
        let i = 2 * rng.u64(0..3);
        ferry_tests::milvus::write_file(&src, &format!("f{i}"), &data(rng.u64(..), size(i)));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ferry.ok(&refs);
    let back = work.path().join("back");
    ferry.ok(&["cp", "-r", "az/crash/m/", &format!("{}/", back.display())]);
    assert_eq!(tree_hashes(&src), tree_hashes(&back));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let store = azurite.endpoint().container("crash");
    let stray: usize = (0..6)
        .map(|i| {
            rt.block_on(store.uncommitted_blocks(&format!("m/f{i}")))
                .expect("block list")
        })
        .sum();
    assert_eq!(stray, 0, "uncommitted blocks left");
    ferry_tests::report(&format!(
        "Azure crash loop: {cycles} runs, {killed} killed mid-way (block uploads of up to 40 MiB in 5 MiB blocks), converged, byte-identical, 0 uncommitted blocks left"
    ));
}

/// S3 → Azure with the manifest: the first mirror copies everything, a second one sends no
/// request at all to Azure (counted by a pass-through proxy in front of Azurite), and a change
/// at the source costs one upload. Then 5 % of Azure's answers are faults (500, 503, resets,
/// cut bodies, stalls) and the mirror still converges byte-identical.
#[test]
fn s3_to_azure_mirror_is_incremental_and_a_no_op_sends_no_request_to_azure() {
    use ferry_tests::fault_proxy::{FaultProxy, Faults};
    use ferry_tests::s3s_server::S3sServer;
    use ferry_tests::{Ferry, data, tree_hashes};
    let azurite = Azurite::start();
    let proxy = FaultProxy::start(
        &format!("http://127.0.0.1:{}", azurite.port()),
        Faults::all(0, 0xA2),
    );
    let s3 = S3sServer::start("AKIAAZURE2", "azure-test-secret-2");
    let src_root = s3.create_bucket("src");
    for i in 0..30u64 {
        let len = if i == 0 {
            9 * 1024 * 1024
        } else {
            1000 + i as usize * 37
        };
        ferry_tests::milvus::write_file(
            &src_root,
            &format!("d{}/f{i}", i % 3),
            &data(300 + i, len),
        );
    }
    let ferry = Ferry::new();
    ferry.alias("s3", &s3);
    let (account, key) = (ferry_tests::azurite::ACCOUNT, ferry_tests::azurite::KEY);
    let via_proxy = format!("{}/{account}", proxy.url());
    ferry.ok(&[
        "alias", "set", "az", &via_proxy, account, key, "--api", "azure",
    ]);
    ferry.ok(&["mb", "az/incr"]);
    let (code, out, err) = ferry.run(&["mirror", "s3/src/", "az/incr/m/"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("Copied 30 objects"),
        "{out}{err}"
    );
    let before = proxy.counts().requests;
    let again = ferry.ok(&["mirror", "s3/src/", "az/incr/m/"]);
    assert_eq!(
        proxy.counts().requests,
        before,
        "a no-op mirror sent requests to Azure: {again}"
    );
    ferry_tests::milvus::write_file(&src_root, "d1/f1", &data(999, 4321));
    let before = proxy.counts().requests;
    let changed = ferry.ok(&["mirror", "s3/src/", "az/incr/m/"]);
    assert!(changed.contains("d1/f1"), "{changed}");
    let sent = proxy.counts().requests - before;
    assert!(
        sent <= 2,
        "one changed object cost {sent} requests to Azure"
    );

    // Faults on the Azure side: the mirror retries and converges.
    for i in 0..150u64 {
        ferry_tests::milvus::write_file(&src_root, &format!("d2/new{i}"), &data(400 + i, 20_000));
    }
    proxy.set_per_mille(50);
    let mut runs = 0;
    loop {
        runs += 1;
        let (code, _, _) = ferry.run(&["mirror", "s3/src/", "az/incr/m/"]);
        if code == 0 || runs == 6 {
            break;
        }
    }
    proxy.set_per_mille(0);
    ferry.ok(&["mirror", "s3/src/", "az/incr/m/"]);
    assert!(proxy.counts().faults() > 0, "no fault was injected");
    let back = tempfile::tempdir().expect("back");
    ferry.ok(&[
        "cp",
        "-r",
        "az/incr/m/",
        &format!("{}/", back.path().display()),
    ]);
    assert_eq!(tree_hashes(&src_root), tree_hashes(back.path()));
    ferry_tests::report(&format!(
        "S3 -> Azure with 5 % faults on Azure's side: converged after {runs} runs, {}",
        proxy.counts().summary()
    ));
}

/// ferryd with an Azure source: polled every interval, new and changed blobs reach the local
/// target, and with `remove` a deleted blob goes too.
#[test]
fn ferryd_polls_an_azure_source() {
    use ferry_tests::{Ferry, data};
    let azurite = Azurite::start();
    let ferry = Ferry::new();
    let (account, key) = (ferry_tests::azurite::ACCOUNT, ferry_tests::azurite::KEY);
    let url = azurite.url();
    ferry.ok(&["alias", "set", "az", &url, account, key, "--api", "azure"]);
    ferry.ok(&["mb", "az/source"]);
    let dir = tempfile::tempdir().expect("tmp");
    let put = |name: &str, seed: u64| {
        let f = ferry_tests::milvus::write_file(&dir.path().join("work"), name, &data(seed, 5000));
        ferry.ok(&[
            "cp",
            f.to_str().expect("utf-8"),
            &format!("az/source/in/{name}"),
        ]);
    };
    put("a.bin", 1);
    let out = dir.path().join("out");
    let addr = format!("127.0.0.1:{}", ferry_tests::free_port());
    let config = format!(
        "state_dir = \"{}\"\nalias_dir = \"{}\"\n[control]\nlisten = \"{addr}\"\n\
         [aliases.azc]\nurl = \"{url}\"\napi = \"azure\"\naccess_key = \"{account}\"\nsecret_key = \"{key}\"\n\
         [[jobs]]\nname = \"from-azure\"\nlayout = \"plain\"\nsource = \"azc/source/in/\"\ntarget = \"{}/\"\n\
         interval = \"1s\"\nremove = true\n",
        dir.path().join("state").display(),
        dir.path().join("aliases").display(),
        out.display(),
    );
    let _d = ferry_tests::Ferryd::start(dir.path(), &addr, &config);
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        ferry_tests::wait_for(std::time::Duration::from_secs(30), what, f);
    };
    wait("the first blob", &|| out.join("a.bin").exists());
    put("b.bin", 2);
    put("a.bin", 3);
    wait("a new and a changed blob", &|| {
        std::fs::read(out.join("b.bin")).ok() == Some(data(2, 5000))
            && std::fs::read(out.join("a.bin")).ok() == Some(data(3, 5000))
    });
    ferry.ok(&["rm", "az/source/in/b.bin"]);
    wait("the deletion", &|| !out.join("b.bin").exists());
}

/// `--from-url`: for an S3 source, the Azure target is first asked to read each object itself
/// through a presigned GET URL (Put Blob From URL). Azurite answers 501 to that, so each copy
/// costs exactly one refused request more and then streams: the result is byte-identical. The
/// presigned URL itself is what another service would read: a plain GET of it returns the
/// object.
#[test]
fn from_url_asks_azure_to_read_s3_itself_and_streams_where_it_cannot() {
    use ferry_engine::backend::s3::{S3Config, S3Credentials, S3Endpoint};
    use ferry_tests::fault_proxy::{FaultProxy, Faults};
    use ferry_tests::s3s_server::S3sServer;
    use ferry_tests::{Ferry, data, tree_hashes};
    let azurite = Azurite::start();
    let proxy = FaultProxy::start(
        &format!("http://127.0.0.1:{}", azurite.port()),
        Faults::all(0, 1),
    );
    let s3 = S3sServer::start("AKIAAZURE4", "azure-test-secret-4");
    let src_root = s3.create_bucket("fromurl");
    for i in 0..12u64 {
        ferry_tests::milvus::write_file(
            &src_root,
            &format!("f{i}"),
            &data(500 + i, 3000 + i as usize),
        );
    }
    ferry_tests::milvus::write_file(&src_root, "hello.txt", b"read me through a presigned URL");
    let ferry = Ferry::new();
    ferry.alias("s3", &s3);
    let (account, key) = (ferry_tests::azurite::ACCOUNT, ferry_tests::azurite::KEY);
    ferry.ok(&[
        "alias",
        "set",
        "az",
        &format!("{}/{account}", proxy.url()),
        account,
        key,
        "--api",
        "azure",
    ]);
    ferry.ok(&["mb", "az/streamed"]);
    ferry.ok(&["mb", "az/fromurl"]);
    let before = proxy.counts().requests;
    ferry.ok(&["cp", "-r", "s3/fromurl/", "az/streamed/"]);
    let streamed = proxy.counts().requests - before;
    let before = proxy.counts().requests;
    ferry.ok(&["cp", "-r", "--from-url", "s3/fromurl/", "az/fromurl/"]);
    let asked = proxy.counts().requests - before;
    assert_eq!(
        asked,
        streamed + 13,
        "one Put Blob From URL per object, then the stream"
    );
    let back = tempfile::tempdir().expect("back");
    ferry.ok(&[
        "cp",
        "-r",
        "az/fromurl/",
        &format!("{}/", back.path().display()),
    ]);
    assert_eq!(tree_hashes(&src_root), tree_hashes(back.path()));

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let url = rt.block_on(async {
        let creds = S3Credentials::Static {
            access_key: s3.access_key().to_owned(),
            secret_key: s3.secret_key().to_owned(),
            session_token: None,
        };
        let ep = S3Endpoint::connect(&S3Config::for_endpoint("t", &s3.url(), creds))
            .await
            .expect("client");
        ep.bucket("fromurl")
            .presign_get("hello.txt", std::time::Duration::from_secs(300))
            .await
            .expect("presign")
    });
    let u = url::Url::parse(&url).expect("url");
    let addr = format!(
        "{}:{}",
        u.host_str().expect("host"),
        u.port().expect("port")
    );
    let path = format!("{}?{}", u.path(), u.query().unwrap_or_default());
    let (status, body) = ferry_tests::http(&addr, "GET", &path, None, b"");
    assert_eq!(status, 200, "{body}");
    assert!(body.ends_with("read me through a presigned URL"), "{body}");
}
