//! The store conformance suite: one set of behaviours every backend must show, run against
//! the local backend and the in-process S3 server under `cargo test`, and against external
//! servers (rclone serve s3, moto) by the interop suite.
//!
//! Every check works under its own key prefix of an empty store, so they can share one.
//! Keys are chosen to be valid on every backend (no key is both an object and a "folder").

use bytes::Bytes;
use ferry_engine::backend::{
    ByteStream, Error, GetOptions, ListEntry, ListOptions, MemoryBudget, ObjectStore,
    ObjectStoreExt, PartId, UploadConfig,
};
use futures::{StreamExt, TryStreamExt};

use crate::data;

const MIB: usize = 1024 * 1024;

/// Runs every check.
pub async fn run_all(store: &dyn ObjectStore) {
    put_get_head_overwrite(store).await;
    put_hashed_stores_the_bytes(store).await;
    ranged_get(store).await;
    list_order_delimiter_start_after(store).await;
    pagination(store, 1100).await;
    multipart_parts_out_of_order(store).await;
    multipart_abort(store).await;
    multipart_resume(store).await;
    put_stream_small_and_multipart(store).await;
    put_stream_refuses_wrong_length(store).await;
    copy_within_store(store).await;
    delete_batch(store).await;
    awkward_keys(store).await;
    zero_byte_objects(store).await;
    not_found(store).await;
}

/// Lists keys (objects and prefixes) under `prefix`.
pub async fn list_keys(store: &dyn ObjectStore, prefix: &str, options: ListOptions) -> Vec<String> {
    store
        .list(prefix, options)
        .map_ok(|e| match e {
            ListEntry::Object(m) => m.key,
            ListEntry::Prefix(p) => format!("{p} (prefix)"),
        })
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{store}: listing {prefix:?} failed: {e:?}"))
}

fn stream_of(bytes: Vec<u8>, chunk: usize) -> ByteStream {
    let chunks: Vec<Result<Bytes, Error>> = bytes
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(chunks).boxed()
}

fn small_parts() -> UploadConfig {
    UploadConfig {
        multipart_threshold: 5 * MIB as u64,
        part_size: 5 * MIB as u64,
        part_concurrency: 3,
        budget: MemoryBudget::new(64 * MIB as u64),
    }
}

/// put, head, get, overwrite.
pub async fn put_get_head_overwrite(store: &dyn ObjectStore) {
    let key = "basic/hello.bin";
    let body = data(1, 70_000);
    let put = store
        .put(key, Bytes::from(body.clone()))
        .await
        .expect("put");
    let head = store.head(key).await.expect("head");
    assert_eq!(head.key, key);
    assert_eq!(head.size, body.len() as u64);
    if let (Some(a), Some(b)) = (&put.e_tag, &head.e_tag) {
        assert_eq!(a, b, "{store}: PUT and HEAD disagree on the ETag");
    }
    assert!(
        !head.e_tag.as_deref().unwrap_or("x").contains('"'),
        "ETags are stored unquoted"
    );
    assert_eq!(store.get_bytes(key).await.expect("get"), body);

    let second = data(2, 1234);
    store
        .put(key, Bytes::from(second.clone()))
        .await
        .expect("overwrite");
    assert_eq!(
        store.get_bytes(key).await.expect("get after overwrite"),
        second
    );
    assert_eq!(store.head(key).await.expect("head").size, 1234);
}

/// A put with its SHA-256 supplied stores exactly those bytes (0 bytes too).
pub async fn put_hashed_stores_the_bytes(store: &dyn ObjectStore) {
    use sha2::Digest;
    for (key, body) in [
        ("hashed/one", data(3, 70_001)),
        ("hashed/empty", Vec::new()),
    ] {
        let sha: [u8; 32] = sha2::Sha256::digest(&body).into();
        store
            .put_hashed(key, Bytes::from(body.clone()), sha)
            .await
            .unwrap_or_else(|e| panic!("{store}: put_hashed {key}: {e}"));
        assert_eq!(store.get_bytes(key).await.expect("get"), body, "{key}");
    }
}

/// Byte ranges, including the last byte and an empty range.
pub async fn ranged_get(store: &dyn ObjectStore) {
    let key = "range/obj";
    let body = data(3, 10_000);
    store
        .put(key, Bytes::from(body.clone()))
        .await
        .expect("put");
    for range in [0..1, 100..2000, 9_999..10_000, 0..10_000, 5000..5000] {
        let got = store
            .get(
                key,
                GetOptions {
                    range: Some(range.clone()),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{store}: get {range:?}: {e:?}"));
        assert_eq!(got.meta.size, 10_000, "size is the whole object's");
        assert_eq!(got.range, range);
        let bytes: Vec<Bytes> = got.body.try_collect().await.expect("body");
        assert_eq!(
            bytes.concat(),
            body[range.start as usize..range.end as usize],
            "{store}: range {range:?}"
        );
    }
}

/// Byte order, prefix-as-string semantics, delimiter grouping, start_after.
pub async fn list_order_delimiter_start_after(store: &dyn ObjectStore) {
    // Byte order: '-' (2d) < '/' (2f) < '0' (30) < 'b' (62). A naive directory walk would put
    // "ord/a/x" before "ord/a-b".
    let keys = [
        "ord/b",
        "ord/a/y/z",
        "ord/a0",
        "ord/a-b",
        "ord/ab",
        "ord/a/x",
    ];
    for k in keys {
        store.put(k, Bytes::from_static(b"x")).await.expect("put");
    }
    let all = list_keys(store, "ord/", ListOptions::default()).await;
    assert_eq!(
        all,
        [
            "ord/a-b",
            "ord/a/x",
            "ord/a/y/z",
            "ord/a0",
            "ord/ab",
            "ord/b"
        ],
        "{store}: order"
    );

    let string_prefix = list_keys(store, "ord/a", ListOptions::default()).await;
    assert_eq!(
        string_prefix,
        ["ord/a-b", "ord/a/x", "ord/a/y/z", "ord/a0", "ord/ab"],
        "{store}: prefix"
    );

    let delimited = list_keys(
        store,
        "ord/",
        ListOptions {
            delimiter: true,
            start_after: None,
        },
    )
    .await;
    assert_eq!(
        delimited,
        ["ord/a-b", "ord/a/ (prefix)", "ord/a0", "ord/ab", "ord/b"],
        "{store}: delimiter"
    );

    let inner = list_keys(
        store,
        "ord/a/",
        ListOptions {
            delimiter: true,
            start_after: None,
        },
    )
    .await;
    assert_eq!(
        inner,
        ["ord/a/x", "ord/a/y/ (prefix)"],
        "{store}: nested delimiter"
    );

    let after = list_keys(
        store,
        "ord/",
        ListOptions {
            delimiter: false,
            start_after: Some("ord/a/x".into()),
        },
    )
    .await;
    assert_eq!(
        after,
        ["ord/a/y/z", "ord/a0", "ord/ab", "ord/b"],
        "{store}: start_after"
    );

    assert!(
        list_keys(store, "ord/nothing-here/", ListOptions::default())
            .await
            .is_empty()
    );
}

/// More keys than one S3 page (1000), listed completely, in order, without duplicates.
pub async fn pagination(store: &dyn ObjectStore, n: usize) {
    let keys: Vec<String> = (0..n)
        .map(|i| format!("page/{:02}/k{i:05}", i % 7))
        .collect();
    futures::stream::iter(keys.iter())
        .map(|k| async move { store.put(k, Bytes::from(k.clone().into_bytes())).await })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .expect("puts");
    let listed = list_keys(store, "page/", ListOptions::default()).await;
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(listed.len(), n, "{store}: listed {} of {n}", listed.len());
    assert_eq!(listed, expected, "{store}: full listing in byte order");
    let prefixes = list_keys(
        store,
        "page/",
        ListOptions {
            delimiter: true,
            start_after: None,
        },
    )
    .await;
    assert_eq!(prefixes.len(), 7);
    // Batch delete of more than one request's worth (1000 keys per S3 DeleteObjects).
    let failures = store.delete(&keys).await.expect("batch delete");
    assert!(failures.is_empty(), "{store}: {failures:?}");
    assert!(
        list_keys(store, "page/", ListOptions::default())
            .await
            .is_empty()
    );
}

/// Parts uploaded concurrently and out of order assemble in part-number order.
pub async fn multipart_parts_out_of_order(store: &dyn ObjectStore) {
    let key = "mpu/assembled.bin";
    let p1 = data(10, 5 * MIB);
    let p2 = data(11, 5 * MIB);
    let p3 = data(12, 1000);
    let upload = store.put_multipart(key).await.expect("create upload");
    let f3 = upload.put_part(3, (10 * MIB) as u64, Bytes::from(p3.clone()));
    let f1 = upload.put_part(1, 0, Bytes::from(p1.clone()));
    let f2 = upload.put_part(2, (5 * MIB) as u64, Bytes::from(p2.clone()));
    let (r3, r1, r2) = futures::join!(f3, f1, f2);
    let parts = vec![
        r1.expect("part 1"),
        r2.expect("part 2"),
        r3.expect("part 3"),
    ];
    // Not visible before completion.
    assert!(
        store.head(key).await.is_err(),
        "{store}: object visible before complete"
    );
    upload.complete(parts).await.expect("complete");
    let expected = [p1, p2, p3].concat();
    assert_eq!(
        store.head(key).await.expect("head").size,
        expected.len() as u64
    );
    assert!(
        store.get_bytes(key).await.expect("get") == expected,
        "{store}: multipart content"
    );
}

/// An aborted upload leaves no object; an open upload is listed by key where the store can
/// list uploads, and can be aborted by id alone (as after a crash).
pub async fn multipart_abort(store: &dyn ObjectStore) {
    let key = "mpu/aborted.bin";
    let crashed = store
        .put_multipart("mpu/crashed.bin")
        .await
        .expect("create upload");
    let id = crashed.id().to_owned();
    match store.list_multipart("mpu/crashed.bin").await {
        Ok(ids) => assert!(
            ids.contains(&id),
            "{store}: open upload {id} not listed: {ids:?}"
        ),
        Err(Error::NotSupported { .. }) => {}
        Err(e) => panic!("{store}: list_multipart: {e:?}"),
    }
    drop(crashed);
    store
        .abort_multipart("mpu/crashed.bin", &id)
        .await
        .expect("abort by id");
    if let Ok(ids) = store.list_multipart("mpu/crashed.bin").await {
        assert!(!ids.contains(&id), "{store}: aborted upload still listed");
    }
    let upload = store.put_multipart(key).await.expect("create upload");
    upload
        .put_part(1, 0, Bytes::from(data(13, 5 * MIB)))
        .await
        .expect("part");
    upload.abort().await.expect("abort");
    let err = store
        .head(key)
        .await
        .expect_err("aborted upload must leave nothing");
    assert!(err.is_not_found(), "{store}: {err:?}");
}

/// An upload left open by a process that died is reopened by its id with the parts it holds
/// (their sizes; their ids where the store lists them), completed from those parts and one
/// more; an aborted one is gone (`NotFound`), or lists nothing. Stores that cannot reopen an
/// upload say `NotSupported`.
pub async fn multipart_resume(store: &dyn ObjectStore) {
    let key = "mpu/resumed.bin";
    let (p1, p2, p3) = (data(31, 5 * MIB), data(32, 5 * MIB), data(33, 777));
    let upload = store.put_multipart(key).await.expect("create upload");
    let id = upload.id().to_owned();
    let first = upload
        .put_part(1, 0, Bytes::from(p1.clone()))
        .await
        .expect("part 1");
    upload
        .put_part(2, (5 * MIB) as u64, Bytes::from(p2.clone()))
        .await
        .expect("part 2");
    drop(upload);
    let (reopened, stored) = match store.resume_multipart(key, &id).await {
        Ok(r) => r,
        Err(Error::NotSupported { .. }) => {
            let _ = store.abort_multipart(key, &id).await;
            return;
        }
        Err(e) => panic!("{store}: resume_multipart: {e:?}"),
    };
    assert_eq!(reopened.id(), id);
    let mut sizes: Vec<(u32, u64)> = stored.iter().map(|p| (p.number, p.size)).collect();
    sizes.sort();
    assert_eq!(
        sizes,
        [(1, (5 * MIB) as u64), (2, (5 * MIB) as u64)],
        "{store}"
    );
    if stored.iter().all(|p| !p.content_id.is_empty()) {
        let listed_first = stored.iter().find(|p| p.number == 1).expect("part 1");
        assert_eq!(
            listed_first.content_id.trim_matches('"'),
            first.content_id.trim_matches('"'),
            "{store}: a listed part's id is the one its upload answered"
        );
        let third = reopened
            .put_part(3, (10 * MIB) as u64, Bytes::from(p3.clone()))
            .await
            .expect("part 3");
        let mut parts: Vec<PartId> = stored
            .iter()
            .map(|p| PartId {
                number: p.number,
                content_id: p.content_id.clone(),
            })
            .collect();
        parts.push(third);
        parts.sort_by_key(|p| p.number);
        reopened.complete(parts).await.expect("complete");
        assert!(
            store.get_bytes(key).await.expect("get") == [p1, p2, p3].concat(),
            "{store}: resumed upload's content"
        );
    } else {
        reopened.abort().await.expect("abort");
    }
    // Aborted: nothing to go on with.
    let upload = store.put_multipart(key).await.expect("create upload");
    let id = upload.id().to_owned();
    upload.abort().await.expect("abort");
    match store.resume_multipart(key, &id).await {
        Err(e) if e.is_not_found() => {}
        Ok((_, parts)) => assert!(parts.is_empty(), "{store}: parts of an aborted upload"),
        Err(e) => panic!("{store}: resuming an aborted upload: {e:?}"),
    }
}

/// put_stream: one request below the threshold, parallel multipart above.
pub async fn put_stream_small_and_multipart(store: &dyn ObjectStore) {
    let cfg = small_parts();
    let small = data(20, 100_000);
    store
        .put_stream(
            "stream/small",
            small.len() as u64,
            stream_of(small.clone(), 7000),
            &cfg,
        )
        .await
        .expect("small put_stream");
    assert!(store.get_bytes("stream/small").await.expect("get") == small);

    // 3 full parts and a short one, fed in chunks that straddle part boundaries.
    let big = data(21, 15 * MIB + 777);
    store
        .put_stream(
            "stream/big",
            big.len() as u64,
            stream_of(big.clone(), 1_000_003),
            &cfg,
        )
        .await
        .expect("multipart put_stream");
    assert_eq!(
        store.head("stream/big").await.expect("head").size,
        big.len() as u64
    );
    assert!(
        store.get_bytes("stream/big").await.expect("get") == big,
        "{store}: multipart stream content"
    );
}

/// A body that ends early or runs long is refused and nothing is written.
pub async fn put_stream_refuses_wrong_length(store: &dyn ObjectStore) {
    let cfg = small_parts();
    let short = store
        .put_stream("trunc/small", 1000, stream_of(data(30, 500), 100), &cfg)
        .await;
    assert!(short.is_err(), "{store}: short single-part body accepted");
    let long = store
        .put_stream("trunc/long", 10, stream_of(data(31, 11), 3), &cfg)
        .await;
    assert!(long.is_err(), "{store}: long body accepted");
    let short_mpu = store
        .put_stream(
            "trunc/big",
            (12 * MIB) as u64,
            stream_of(data(32, 11 * MIB), MIB),
            &cfg,
        )
        .await;
    assert!(short_mpu.is_err(), "{store}: short multipart body accepted");
    for k in ["trunc/small", "trunc/long", "trunc/big"] {
        assert!(
            store.head(k).await.expect_err(k).is_not_found(),
            "{store}: {k} written"
        );
    }
}

/// Same-store copy (server-side where the store can).
pub async fn copy_within_store(store: &dyn ObjectStore) {
    let body = data(40, 300_000);
    store
        .put("copy/src", Bytes::from(body.clone()))
        .await
        .expect("put");
    store
        .put("copy/dst", Bytes::from_static(b"old"))
        .await
        .expect("put old");
    store
        .copy_from(store, "copy/src", body.len() as u64, "copy/dst")
        .await
        .expect("copy");
    assert!(store.get_bytes("copy/dst").await.expect("get") == body);
    store
        .copy_from(store, "copy/src", body.len() as u64, "copy/deeper/new")
        .await
        .expect("copy to new path");
    assert_eq!(
        store.head("copy/deeper/new").await.expect("head").size,
        body.len() as u64
    );
    let missing = store
        .copy_from(store, "copy/missing", 10, "copy/x")
        .await
        .expect_err("copy of missing");
    assert!(missing.is_not_found(), "{store}: {missing:?}");
}

/// Batch delete; missing keys count as deleted.
pub async fn delete_batch(store: &dyn ObjectStore) {
    let keys: Vec<String> = (0..5).map(|i| format!("del/{i}")).collect();
    for k in &keys {
        store.put(k, Bytes::from_static(b"d")).await.expect("put");
    }
    let mut with_missing = keys.clone();
    with_missing.push("del/never-existed".into());
    let failures = store.delete(&with_missing).await.expect("delete");
    assert!(failures.is_empty(), "{store}: {failures:?}");
    assert!(
        list_keys(store, "del/", ListOptions::default())
            .await
            .is_empty()
    );
}

/// Spaces, unicode, URL-special characters.
pub async fn awkward_keys(store: &dyn ObjectStore) {
    let keys = [
        "odd/with space/file name.txt",
        "odd/ünïcödé/文件.bin",
        "odd/plus+equals=amp&semi;.txt",
        "odd/percent%20literal",
        "odd/emoji-🚀.dat",
        "odd/tilde~star*paren(1).txt",
    ];
    for (i, k) in keys.iter().enumerate() {
        let body = data(50 + i as u64, 1000 + i);
        store
            .put(k, Bytes::from(body.clone()))
            .await
            .unwrap_or_else(|e| panic!("{store}: put {k:?}: {e:?}"));
        assert_eq!(
            store.head(k).await.expect("head").size,
            body.len() as u64,
            "{k:?}"
        );
        assert!(
            store.get_bytes(k).await.expect("get") == body,
            "{store}: {k:?}"
        );
    }
    let copy_to = "odd/copied ü+%.txt";
    store
        .copy_from(store, keys[1], 1001, copy_to)
        .await
        .unwrap_or_else(|e| panic!("{store}: copy: {e:?}"));
    assert_eq!(store.head(copy_to).await.expect("head").size, 1001);
    let mut expected: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
    expected.push(copy_to.to_string());
    expected.sort();
    assert_eq!(
        list_keys(store, "odd/", ListOptions::default()).await,
        expected,
        "{store}"
    );
}

/// Zero-byte objects through every path.
pub async fn zero_byte_objects(store: &dyn ObjectStore) {
    store
        .put("zero/empty", Bytes::new())
        .await
        .expect("put empty");
    assert_eq!(store.head("zero/empty").await.expect("head").size, 0);
    assert!(store.get_bytes("zero/empty").await.expect("get").is_empty());
    store
        .put_stream(
            "zero/streamed",
            0,
            futures::stream::empty().boxed(),
            &small_parts(),
        )
        .await
        .expect("put_stream empty");
    assert_eq!(store.head("zero/streamed").await.expect("head").size, 0);
    store
        .copy_from(store, "zero/empty", 0, "zero/copied")
        .await
        .expect("copy empty");
    assert_eq!(store.head("zero/copied").await.expect("head").size, 0);
    let listed = list_keys(store, "zero/", ListOptions::default()).await;
    assert_eq!(listed, ["zero/copied", "zero/empty", "zero/streamed"]);
}

/// Missing objects are NotFound on every read path.
pub async fn not_found(store: &dyn ObjectStore) {
    let head = store
        .head("missing/nothing")
        .await
        .expect_err("head of missing");
    assert!(head.is_not_found(), "{store}: head: {head:?}");
    let get = store
        .get("missing/nothing", GetOptions::default())
        .await
        .expect_err("get of missing");
    assert!(get.is_not_found(), "{store}: get: {get:?}");
    let del = store
        .delete(&["missing/nothing".to_string()])
        .await
        .expect("delete missing");
    assert!(del.is_empty());
}
