//! Zilliz Cloud migrations as restores, and row counts after restores, end to end: a real
//! ferryd replicating generated backups into an in-process S3 server, against doubles of Zilliz
//! Cloud's control plane (with an S3 volume whose keys expire) and of Milvus' REST API
//! (`ferry_tests::zilliz`): no Zilliz account is reachable from here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_tests::milvus::{Backup, Spec, Version};
use ferry_tests::s3s_server::S3sServer;
use ferry_tests::zilliz::{Behaviour, MilvusRest, VOLUME_NAME, ZillizCloud};
use ferry_tests::{Ferryd, free_port, wait_for};

const KEY: &str = "zilliz-api-key-0123456789";
const TOKEN: &str = "root:Milvus-test-token";
const CLUSTER: &str = "in01-ferrytest";

// Fields drop in order: ferryd first (its log lives in `dir`), the servers last.
struct Site {
    d: Ferryd,
    dir: tempfile::TempDir,
    src: PathBuf,
    _srv: S3sServer,
}

fn private(path: &Path, text: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path.display().to_string()
}

/// A ferryd with backup job `bk` (local source → `t/dst/backup/` on an S3 server) restoring
/// into Zilliz Cloud at `zilliz` with `extra` keys in `[jobs.restore]`, and a count check at
/// `milvus` when given.
fn site(zilliz: &ZillizCloud, key: &str, extra: &str, milvus: Option<(&MilvusRest, &str)>) -> Site {
    site_with(
        &format!(
            "kind = \"zilliz-cloud\"\ncluster_id = \"{CLUSTER}\"\napi_key_file = \"{{key_file}}\"\nendpoint = \"{}\"\npoll = \"1s\"\n{extra}",
            zilliz.url()
        ),
        key,
        milvus,
    )
}

/// The same with `restore` as the `[jobs.restore]` body (`{key_file}` names the API key file).
fn site_with(restore: &str, key: &str, milvus: Option<(&MilvusRest, &str)>) -> Site {
    let srv = S3sServer::start("AKIAZILLIZ1", "zilliz-site-secret");
    srv.create_bucket("dst");
    let dir = tempfile::tempdir().expect("dir");
    let src = dir.path().join("src/backup");
    std::fs::create_dir_all(&src).expect("src");
    let key_file = private(&dir.path().join("zilliz.key"), key);
    let verify = match milvus {
        Some((m, token)) => format!(
            "[jobs.restore.verify]\nurl = \"{}\"\ntoken_file = \"{}\"\n",
            m.url(),
            private(&dir.path().join("milvus.token"), token)
        ),
        None => String::new(),
    };
    let addr = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "state_dir = \"{state}\"\n[control]\nlisten = \"{addr}\"\n\n\
         [aliases.t]\nurl = \"{url}\"\naccess_key = \"AKIAZILLIZ1\"\nsecret_key = \"zilliz-site-secret\"\n\n\
         [[jobs]]\nname = \"bk\"\nsource = \"{src}/\"\ntarget = \"t/dst/backup/\"\ninterval = \"1h\"\n\
         [jobs.restore]\n{restore}\n{verify}",
        state = dir.path().join("state").display(),
        url = srv.url(),
        src = src.display(),
        restore = restore.replace("{key_file}", &key_file),
    );
    let d = Ferryd::start(dir.path(), &addr, &config);
    Site {
        _srv: srv,
        dir,
        src,
        d,
    }
}

impl Site {
    fn write(&self, name: &str, seed: u64) -> Backup {
        let b = Backup::generate(&Spec::small(name, Version::V0_5_12, seed));
        b.write(&self.src);
        b
    }
    fn wait_state(&self, backup: &str, state: &str) -> serde_json::Value {
        self.d.wait_restore(backup, state, 90)
    }
    fn ferry(&self, args: &[&str]) -> (i32, String, String) {
        self.d.ferry(args)
    }
}

/// `ferryd --check-config --connect` on the site's config: exit code and stderr.
fn check_connect(s: &Site) -> (i32, String) {
    let config = s.dir.path().join("ferryd.toml");
    let out = std::process::Command::new(ferry_tests::bin_path("ferryd"))
        .args(["--check-config", "--connect", "--config"])
        .arg(&config)
        .output()
        .expect("ferryd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The backup's files relative to its folder, with sizes.
fn files_of(b: &Backup) -> std::collections::HashMap<String, u64> {
    let prefix = format!("{}/", b.spec.name);
    b.data
        .iter()
        .chain(b.meta.iter())
        .map(|(k, v)| {
            (
                k.strip_prefix(&prefix).unwrap_or(k).to_owned(),
                v.len() as u64,
            )
        })
        .collect()
}

#[test]
fn volume_mode_uploads_the_verified_backup_starts_one_migration_and_counts_rows() {
    // The volume's keys stop working after 7 requests: the upload renews them mid-way.
    let zilliz = ZillizCloud::start(
        KEY,
        CLUSTER,
        Behaviour {
            credential_uses: Some(7),
            odd_status: Some("VALIDATING".into()),
            ..Behaviour::default()
        },
    );
    let milvus = MilvusRest::start(TOKEN);
    let s = site(&zilliz, KEY, "mode = \"volume\"\n", Some((&milvus, TOKEN)));
    let b = s.write("nightly_1", 11);
    for (c, rows) in &b.collection_rows {
        milvus.set_rows("default", c, *rows);
    }
    let r = s.wait_state("nightly_1", "verified");
    let started = zilliz.started();
    assert_eq!(started.len(), 1, "exactly one migration: {started:?}");
    let id = r["id"].as_str().expect("id");
    assert_eq!(started[0].source["stageName"], VOLUME_NAME);
    assert_eq!(started[0].source["dataPath"], id);
    assert_eq!(started[0].cluster_id, CLUSTER);
    assert_eq!(r["job_ref"], started[0].job_id.as_str());
    assert_eq!(r["kind"], "zilliz-cloud");
    // The volume holds exactly the backup's files, with their sizes.
    assert_eq!(zilliz.volume_files(id), files_of(&b));
    assert!(zilliz.applies() >= 2, "credentials renewed mid-upload");
    // Counts: each collection with both numbers.
    let counts = r["counts"].as_array().expect("counts");
    assert_eq!(counts.len(), b.collection_rows.len());
    for c in counts {
        assert_eq!(c["expected"], c["actual"], "{c}");
    }
    assert!(
        r["detail"]
            .as_str()
            .is_some_and(|d| d.contains("row counts match")),
        "{r}"
    );
    assert!(
        s.d.log().contains("unknown Zilliz Cloud job status"),
        "an unknown status is logged"
    );
    let (code, out, err) = s.ferry(&["restore", "status"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("verified") && out.contains(&started[0].job_id),
        "{out}"
    );
    let (code, out, err) = s.ferry(&["status", "bk"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("nightly_1  verified, restored, rows verified"),
        "{out}"
    );
    assert!(
        !s.d.log().contains(KEY) && !s.d.log().contains(TOKEN),
        "no secret in the log"
    );
    // Migrations keep collection names: a suffix by hand is refused.
    let (code, _, err) = s.ferry(&["restore", "bk", "nightly_1", "-s", "_x", "--again"]);
    assert_ne!(code, 0);
    assert!(err.contains("keep collection names"), "{err}");
    ferry_tests::report(&format!(
        "Zilliz volume mode: {} files uploaded with {} volume applications, one migration, counts verified",
        files_of(&b).len(),
        zilliz.applies()
    ));
}

#[test]
fn remote_mode_reports_a_failed_job_with_its_reason_and_a_count_mismatch_after_a_retry() {
    let zilliz = ZillizCloud::start(
        KEY,
        CLUSTER,
        Behaviour {
            fail_reason: Some("collection coll_0 already exists in cluster".into()),
            ..Behaviour::default()
        },
    );
    let milvus = MilvusRest::start(TOKEN);
    let dir = tempfile::tempdir().expect("dir");
    let secret = private(&dir.path().join("s3.secret"), "remote-read-secret");
    let s = site(
        &zilliz,
        KEY,
        &format!(
            "mode = \"remote\"\nsource_url = \"s3://dst/backup/\"\naccess_key = \"AKIAREAD\"\nsecret_key_file = \"{secret}\"\n"
        ),
        Some((&milvus, TOKEN)),
    );
    ferry_tests::register_secret("remote-read-secret");
    let b = s.write("nightly_2", 12);
    let r = s.wait_state("nightly_2", "restore-failed");
    let started = zilliz.started();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].source["objectUrl"], "s3://dst/backup/nightly_2/");
    assert_eq!(started[0].source["accessKey"], "AKIAREAD");
    assert_eq!(started[0].source["secretKey"], "remote-read-secret");
    let detail = r["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("FAILED") && detail.contains("already exists"),
        "{detail}"
    );
    // Fixed by hand, retried by hand: a new job, whose counts then differ.
    zilliz.set(|b| b.fail_reason = None);
    let (c0, rows0) = b.collection_rows[0].clone();
    milvus.set_rows("default", &c0, rows0 - 5);
    let id = r["id"].as_str().expect("id").to_owned();
    let (code, out, err) = s.ferry(&["restore", "retry", &id]);
    assert_eq!(code, 0, "{out}{err}");
    let r = s.wait_state("nightly_2", "count-mismatch");
    assert_eq!(zilliz.started().len(), 2);
    let detail = r["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&format!(
            "default.{c0}: backup {rows0} rows, restored {}",
            rows0 - 5
        )),
        "{detail}"
    );
    let (c1, _) = &b.collection_rows[1];
    assert!(
        detail.contains(&format!("default.{c1}: backup")) && detail.contains("missing"),
        "{detail}"
    );
    let (code, out, _) = s.ferry(&["restore", "status"]);
    assert_eq!(
        code, 1,
        "a count mismatch fails `ferry restore status`: {out}"
    );
    let (_, out, _) = s.ferry(&["status", "bk"]);
    assert!(
        out.contains("nightly_2  verified, restored, row count mismatch  ")
            && out.contains(": row counts differ: default.coll_0: backup"),
        "{out}"
    );
    assert!(
        !s.d.log().contains("remote-read-secret"),
        "no secret in the log"
    );
}

/// The count check after another kind of trigger: an exec program that "restores".
#[test]
fn counts_are_checked_after_an_exec_restore_too() {
    let milvus = MilvusRest::start(TOKEN);
    let s = site_with(
        "kind = \"exec\"\ncommand = [\"true\"]\nsuffix = \"_bak\"\nrenames = [\"coll_1:renamed\"]\n",
        KEY,
        Some((&milvus, TOKEN)),
    );
    let b = s.write("nightly_8", 18);
    let (c0, r0) = &b.collection_rows[0];
    milvus.set_rows("default", &format!("{c0}_bak"), *r0);
    milvus.set_rows("default", "renamed", b.collection_rows[1].1);
    let r = s.wait_state("nightly_8", "verified");
    let names: Vec<&str> = r["counts"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["collection"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        [format!("default.{c0}_bak").as_str(), "default.renamed"]
    );
    assert!(milvus.calls() >= 3, "listed and counted");
}

#[test]
fn a_wrong_api_key_or_token_is_a_clear_state_and_nothing_starts() {
    let zilliz = ZillizCloud::start(KEY, CLUSTER, Behaviour::default());
    let milvus = MilvusRest::start(TOKEN);
    let s = site(&zilliz, "not-the-key-0000", "", Some((&milvus, TOKEN)));
    s.write("nightly_3", 13);
    let r = s.wait_state("nightly_3", "restore-failed");
    assert!(
        r["detail"]
            .as_str()
            .is_some_and(|d| d.contains("refused the API key")),
        "{r}"
    );
    assert!(zilliz.started().is_empty() && zilliz.refused() >= 1);
    // `ferryd --check-config --connect` says so before anything runs.
    let (code, err) = check_connect(&s);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.lines().any(|l| l.contains("jobs.restore.api_key_file: ") && l.contains("refused the API key")),
        "{err}"
    );
    drop(s);
    // A Milvus endpoint that refuses the token: restored, not verified.
    let s = site(&zilliz, KEY, "", Some((&milvus, "root:wrong")));
    ferry_tests::register_secret("root:wrong");
    s.write("nightly_4", 14);
    let (code, err) = check_connect(&s);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("jobs.restore.verify.url: ") && l.contains("refused the token")),
        "{err}"
    );
    let r = s.wait_state("nightly_4", "verify-failed");
    assert!(
        r["detail"]
            .as_str()
            .is_some_and(|d| d.contains("refused the token")),
        "{r}"
    );
    assert_eq!(zilliz.started().len(), 1);
    drop(s);
    // A cluster Zilliz does not know: the API's answer, nothing started.
    let s = site_with(
        &format!(
            "kind = \"zilliz-cloud\"\ncluster_id = \"in01-nosuch\"\napi_key_file = \"{{key_file}}\"\nendpoint = \"{}\"\nmode = \"remote\"\nsource_url = \"s3://dst/backup/\"\n",
            zilliz.url()
        ),
        KEY,
        None,
    );
    s.write("nightly_9", 19);
    let r = s.wait_state("nightly_9", "restore-failed");
    assert!(
        r["detail"]
            .as_str()
            .is_some_and(|d| d.contains("cluster not found")),
        "{r}"
    );
    assert_eq!(zilliz.started().len(), 1);
}

/// The API down: the start is tried again with backoff (a 503 was not acted on), and the job
/// starts once when the API is back.
#[test]
fn the_api_down_is_waited_out_and_the_job_starts_once() {
    let zilliz = ZillizCloud::start(
        KEY,
        CLUSTER,
        Behaviour {
            down: true,
            ..Behaviour::default()
        },
    );
    let s = site(
        &zilliz,
        KEY,
        "mode = \"remote\"\nsource_url = \"s3://dst/backup/\"\n",
        None,
    );
    s.write("nightly_10", 20);
    let r = s.wait_state("nightly_10", "restore-requested");
    wait_for(Duration::from_secs(60), "a put-off attempt", || {
        s.d.restore_of("nightly_10").is_some_and(|r| {
            r["attempts"].as_u64() >= Some(1)
                && r["detail"].as_str().is_some_and(|d| d.contains("503"))
        })
    });
    let _ = r;
    assert!(zilliz.started().is_empty());
    zilliz.set(|b| b.down = false);
    s.wait_state("nightly_10", "restored");
    assert_eq!(zilliz.started().len(), 1);
}

/// kill -9 of ferryd at each step of a volume-mode migration: during the upload (the next
/// ferryd sends only what the volume lacks), while the start request is in flight (the next
/// one cannot know whether a job started: "outcome unknown", never a second start by itself),
/// and while the job runs (the next one follows the same job).
#[test]
fn kill9_at_each_step_never_starts_a_migration_twice() {
    // 1. While the job runs.
    let zilliz = ZillizCloud::start(
        KEY,
        CLUSTER,
        Behaviour {
            polls_to_finish: 6,
            ..Behaviour::default()
        },
    );
    let mut s = site(&zilliz, KEY, "", None);
    s.write("nightly_5", 15);
    s.wait_state("nightly_5", "restoring");
    wait_for(Duration::from_secs(30), "progress in /metrics", || {
        let (_, m) = ferry_tests::http(&s.d.addr, "GET", "/metrics", None, b"");
        m.lines().any(|l| {
            l.starts_with(
                "ferry_restore_progress{job=\"bk\",backup=\"nightly_5\",id=\"ferry-bk-nightly_5-",
            ) && !l.ends_with(" 0")
        })
    });
    s.d.kill();
    s.d.restart();
    let r = s.wait_state("nightly_5", "restored");
    assert_eq!(
        zilliz.started().len(),
        1,
        "the restarted ferryd followed the same job"
    );
    assert_eq!(r["job_ref"], zilliz.started()[0].job_id.as_str());
    drop(s);

    // 2. While the start request is in flight.
    let zilliz = ZillizCloud::start(
        KEY,
        CLUSTER,
        Behaviour {
            start_delay: Duration::from_secs(30),
            ..Behaviour::default()
        },
    );
    let mut s = site(&zilliz, KEY, "", None);
    s.write("nightly_6", 16);
    wait_for(Duration::from_secs(60), "the start request", || {
        !zilliz.started().is_empty()
    });
    s.d.kill();
    s.d.restart();
    let r = s.wait_state("nightly_6", "restore-failed");
    let detail = r["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("outcome unknown") && detail.contains("Job center"),
        "{detail}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(zilliz.started().len(), 1, "never started again by itself");
    drop(s);

    // 3. During the upload: ferryd is killed once half the files are in the volume.
    let zilliz = ZillizCloud::start(KEY, CLUSTER, Behaviour::default());
    let mut s = site(&zilliz, KEY, "", None);
    let pause = ferry_tests::Pause::at("volume-half-uploaded");
    s.d.kill();
    s.d.env = pause.env();
    s.d.restart();
    let b = s.write("nightly_7", 17);
    let want = files_of(&b);
    pause.wait("volume-half-uploaded");
    s.d.kill();
    // Restore ids are deterministic (job, backup, backup id): the volume path is this one.
    let id = ferry_engine::milvus::restore::restore_id("bk", "nightly_7", &b.id, 0);
    let held = zilliz.volume_files(&id);
    assert!(
        held.len() * 2 >= want.len() && held.len() < want.len(),
        "{} of {}",
        held.len(),
        want.len()
    );
    let before = zilliz.volume_requests();
    s.d.env.clear();
    s.d.restart();
    s.wait_state("nightly_7", "restored");
    assert_eq!(zilliz.volume_files(&id), want);
    assert_eq!(zilliz.started().len(), 1);
    // One request per file not held yet (a PUT), plus listings: never the held files again.
    let sent = zilliz.volume_requests() - before;
    let missing = want.len() - held.iter().filter(|(k, v)| want.get(*k) == Some(v)).count();
    assert!(
        sent <= missing as u64 + 4,
        "{sent} requests for {missing} missing files ({} held)",
        held.len()
    );
    assert!(s.d.log().contains("kept"), "the log says what was kept");
}
