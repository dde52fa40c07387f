//! What a backup's `verified` rests on: uploads a checking target proved (no read-back), the
//! read-back everywhere else, `--verify` forcing it, and a body damaged on the way refused by
//! the target and sent again. A real S3 server (s3s, which checks every signed body) behind
//! the fault proxy, which counts the reads and can damage bodies.

use std::collections::BTreeMap;

use ferry_tests::fault_proxy::{FaultProxy, Faults};
use ferry_tests::milvus::{Backup, Spec, Version};
use ferry_tests::s3s_server::S3sServer;
use ferry_tests::{Ferry, tree_hashes};

/// `op: backup` records: name → (state, checked by the target, read back).
fn verified(out: &str) -> BTreeMap<String, (String, u64, u64)> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["op"] == "backup")
        .map(|r| {
            (
                r["backup"].as_str().unwrap_or_default().to_owned(),
                (
                    r["state"].as_str().unwrap_or_default().to_owned(),
                    r["checkedByTarget"].as_u64().unwrap_or(0),
                    r["readBack"].as_u64().unwrap_or(0),
                ),
            )
        })
        .collect()
}

/// The summary's `readBackBytes`.
fn read_back_bytes(out: &str) -> u64 {
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["op"] == "summary")
        .and_then(|r| r["readBackBytes"].as_u64())
        .expect("the summary's readBackBytes")
}

struct Setup {
    srv: S3sServer,
    proxy: FaultProxy,
    ferry: Ferry,
    work: tempfile::TempDir,
    backup: Backup,
}

/// A backup with one multipart binlog (3 parts of 8 MiB) in a local folder; an s3s target
/// behind the proxy as alias `t`, bucket `dst`.
fn setup(ak: &str, faults: Faults) -> Setup {
    let srv = S3sServer::start(ak, "evidence-secret");
    srv.create_bucket("dst");
    let proxy = FaultProxy::start(&srv.url(), faults);
    let ferry = Ferry::new();
    ferry.ok(&[
        "alias",
        "set",
        "--no-check",
        "t",
        &proxy.url(),
        ak,
        "evidence-secret",
    ]);
    let work = tempfile::tempdir().expect("work");
    let mut spec = Spec::small("b1", Version::V0_5_12, 31);
    spec.big = Some(20 << 20);
    let backup = Backup::generate(&spec);
    backup.write(&work.path().join("backup"));
    Setup {
        srv,
        proxy,
        ferry,
        work,
        backup,
    }
}

impl Setup {
    fn mirror(&self, extra: &[&str], bucket: &str) -> (i32, String, String) {
        let state = self.work.path().join("state").display().to_string();
        let root = format!("{}/", self.work.path().join("backup").display());
        let target = format!("t/{bucket}/backup/");
        let mut args = vec![
            "mirror",
            "--json",
            "--backups",
            "--part-size",
            "8",
            "--state-dir",
            &state,
        ];
        args.extend_from_slice(extra);
        args.push(&root);
        args.push(&target);
        self.ferry.run(&args)
    }
    /// The backup's objects: data and meta files.
    fn objects(&self) -> u64 {
        (self.backup.files().len() + self.backup.sparse.len()) as u64
    }
    /// The backup's bytes, data and meta.
    fn backup_bytes(&self) -> u64 {
        self.backup
            .files()
            .iter()
            .map(|(_, v)| v.len() as u64)
            .sum::<u64>()
            + self.backup.sparse.iter().map(|(_, n)| n).sum::<u64>()
    }
    fn binlog_reads(&self) -> Vec<String> {
        self.proxy
            .counts()
            .object_gets
            .into_iter()
            .filter(|p| p.contains("/binlogs/"))
            .collect()
    }
    fn identical(&self, bucket: &str) {
        assert_eq!(
            tree_hashes(&self.work.path().join("backup")),
            tree_hashes(&self.srv.root().join(bucket).join("backup")),
            "the target holds the source's bytes"
        );
    }
}

#[test]
fn a_target_that_checks_signed_hashes_proves_uploads_and_nothing_is_read_back() {
    let s = setup("AKIAEVIDENCE1", Faults::all(0, 1));
    let (code, out, err) = s.mirror(&[], "dst");
    assert_eq!(code, 0, "{out}\n{err}");
    let n = s.objects();
    assert_eq!(
        verified(&out)["b1"],
        ("verified".to_owned(), n, 0),
        "every object, data and meta, proven by the target's check: {out}"
    );
    assert!(
        s.binlog_reads().is_empty(),
        "no data object read back: {:?}",
        s.binlog_reads()
    );
    assert_eq!(read_back_bytes(&out), 0, "nothing read back: {out}");
    s.identical("dst");
    // ferry status shows the same from the manifest (through the daemon it is the API's
    // `evidence`); here the mirror's own line, in words.
    let (code, human, _) = {
        s.srv.create_bucket("dst2");
        s.mirror(&[], "dst2")
    };
    assert_eq!(code, 0);
    assert!(human.contains("\"checkedByTarget\""), "{human}");

    // --verify reads everything back, whatever the target proved.
    s.srv.create_bucket("dst3");
    let before = s.binlog_reads().len();
    let (code, out, err) = s.mirror(&["--verify"], "dst3");
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(verified(&out)["b1"], ("verified".to_owned(), 0, n), "{out}");
    assert_eq!(read_back_bytes(&out), s.backup_bytes(), "{out}");
    assert!(
        s.binlog_reads().len() as u64 >= before as u64 + n,
        "each data object read back at least once"
    );
}

#[test]
fn a_body_damaged_on_the_way_is_refused_by_the_target_and_sent_again() {
    let s = setup(
        "AKIAEVIDENCE2",
        Faults {
            corrupt_puts: 3,
            ..Faults::all(0, 2)
        },
    );
    let (code, out, err) = s.mirror(&[], "dst");
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(s.proxy.counts().corrupted, 3, "three bodies damaged");
    assert_eq!(verified(&out)["b1"].0, "verified", "{out}");
    s.identical("dst");
}
