//! The engine below the processes: the mirror engine, the backup policy and transfers over the
//! in-memory store (`backend::memory`), with a real manifest in a temporary folder, and the
//! restore state machine crashed at each transition (its real drivers: the exec supervisor,
//! the REST double). No S3 server, no ferryd: these run in seconds and pin the engine's
//! contracts; the e2e suite runs the same behaviours through real servers and processes.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ferry_engine::backend::local::LocalStore;
use ferry_engine::backend::memory::MemoryStore;
use ferry_engine::backend::{MemoryBudget, ObjectStore, ObjectStoreExt, UploadConfig};
use ferry_engine::milvus::gate::Backups;
use ferry_engine::sync::mirror::{self, MirrorOptions};
use ferry_engine::sync::policy::{Policy, Run, RunPolicy};
use ferry_engine::sync::report::{Event, MirrorError, OnEvent, Summary};
use ferry_engine::sync::side::Side;
use ferry_engine::sync::transfer::{Method, TransferConfig, copy_object};
use ferry_state::Manifest;
use ferry_tests::data;
use ferry_tests::milvus::{Backup, Spec, Version};

fn side(store: &MemoryStore, prefix: &str) -> Side {
    Side {
        store: Arc::new(store.clone()),
        prefix: prefix.to_owned(),
    }
}

async fn run(
    manifest: &Manifest,
    src: &Side,
    dst: &Side,
    options: &MirrorOptions,
) -> (Summary, Vec<Event>) {
    let mut events = Vec::new();
    let summary = mirror::mirror(manifest, src, dst, options, &mut |e| events.push(e))
        .await
        .expect("mirror");
    (summary, events)
}

async fn same_objects(a: &MemoryStore, b: &MemoryStore) {
    assert_eq!(a.keys(), b.keys());
    for k in a.keys() {
        assert!(
            a.get_bytes(&k).await.expect("a") == b.get_bytes(&k).await.expect("b"),
            "{k}"
        );
    }
}

#[tokio::test]
async fn a_mirror_between_memory_stores_copies_once_then_only_changes() {
    let state = tempfile::tempdir().expect("tempdir");
    let manifest = Manifest::open(state.path()).expect("manifest");
    let (src, dst) = (MemoryStore::new("src"), MemoryStore::new("dst"));
    for i in 0..50u64 {
        src.put(&format!("d/{i:03}"), Bytes::from(data(i, 100 + i as usize)))
            .await
            .expect("put");
    }
    let (s, d) = (side(&src, ""), side(&dst, ""));
    let options = MirrorOptions {
        remove: true,
        ..MirrorOptions::default()
    };
    let (first, _) = run(&manifest, &s, &d, &options).await;
    assert_eq!((first.copied, first.failed), (50, 0), "{first:?}");
    same_objects(&src, &dst).await;

    let (again, events) = run(&manifest, &s, &d, &options).await;
    assert_eq!((again.copied, again.unchanged), (0, 50), "{again:?}");
    assert!(events.is_empty(), "{events:?}");

    src.put("d/007", Bytes::from_static(b"changed"))
        .await
        .expect("put");
    src.put("d/new", Bytes::from_static(b"new"))
        .await
        .expect("put");
    src.delete(&["d/010".to_owned()]).await.expect("delete");
    let (changes, _) = run(&manifest, &s, &d, &options).await;
    assert_eq!(
        (changes.copied, changes.deleted, changes.unchanged),
        (2, 1, 48),
        "{changes:?}"
    );
    assert!(changes.ok());
    same_objects(&src, &dst).await;
}

/// A policy that records what the engine tells it and holds `hold/` back: the engine's side
/// of the contract, with no backup in sight.
#[derive(Debug, Default)]
struct Recorder {
    seen: Mutex<Vec<(String, bool)>>,
    finished: Mutex<Vec<bool>>,
}

impl Policy for Recorder {
    fn begin(&self) -> Box<dyn RunPolicy + '_> {
        Box::new(RecorderRun(self))
    }
}

struct RecorderRun<'a>(&'a Recorder);

#[async_trait::async_trait]
impl RunPolicy for RecorderRun<'_> {
    fn acts_on(&self, _rel: &str) {}
    fn saw(&self, rel: &str, at_source: bool) {
        self.0
            .seen
            .lock()
            .expect("lock")
            .push((rel.to_owned(), at_source));
    }
    fn holds_back(&self, rel: &str) -> bool {
        rel.starts_with("hold/")
    }
    fn replaces(&self, _rel: &str) -> bool {
        false
    }
    async fn before_write(&self, run: Run<'_>, rel: &str) -> Result<(), Event> {
        if rel.starts_with("refuse/") {
            return Err(Event::Held {
                path: run.dst().display(rel),
                unit: "refuse".into(),
            });
        }
        Ok(())
    }
    fn failed(&self, _rel: &str) {}
    async fn deletes(
        &self,
        _run: Run<'_>,
        rels: Vec<String>,
        _summary: &mut Summary,
        _on_event: &mut OnEvent<'_>,
    ) -> Vec<String> {
        rels
    }
    async fn finish(
        &self,
        _run: Run<'_>,
        full_scan: bool,
        _summary: &mut Summary,
        _on_event: &mut OnEvent<'_>,
    ) -> Result<(), MirrorError> {
        self.0.finished.lock().expect("lock").push(full_scan);
        Ok(())
    }
}

#[tokio::test]
async fn a_policy_is_told_every_key_and_decides_what_is_written() {
    let state = tempfile::tempdir().expect("tempdir");
    let manifest = Manifest::open(state.path()).expect("manifest");
    let (src, dst) = (MemoryStore::new("src"), MemoryStore::new("dst"));
    for k in ["a/1", "hold/2", "refuse/3"] {
        src.put(k, Bytes::from_static(b"x")).await.expect("put");
    }
    let recorder = Arc::new(Recorder::default());
    let options = MirrorOptions {
        policy: Some(recorder.clone() as Arc<dyn Policy>),
        ..MirrorOptions::default()
    };
    let (summary, events) = run(&manifest, &side(&src, ""), &side(&dst, ""), &options).await;
    assert_eq!(dst.keys(), ["a/1"], "{events:?}");
    assert_eq!((summary.copied, summary.held), (1, 1), "{summary:?}");
    let mut seen = recorder.seen.lock().expect("lock").clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("a/1".to_owned(), true),
            ("hold/2".to_owned(), true),
            ("refuse/3".to_owned(), true)
        ]
    );
    assert_eq!(*recorder.finished.lock().expect("lock"), [true]);
}

fn backups() -> MirrorOptions {
    MirrorOptions {
        remove: true,
        policy: Some(Arc::new(Backups::new(None)) as Arc<dyn Policy>),
        ..MirrorOptions::default()
    }
}

fn states(events: &[Event]) -> Vec<(String, &'static str)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Unit { unit, state, .. } => Some((unit.clone(), *state)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_backup_is_announced_only_when_whole_and_kept_when_its_source_is_damaged() {
    let state = tempfile::tempdir().expect("tempdir");
    let manifest = Manifest::open(state.path()).expect("manifest");
    let (src, dst) = (MemoryStore::new("src"), MemoryStore::new("dst"));
    let backup = Backup::generate(&Spec::small("b1", Version::V0_5_12, 7));
    let (missing, _) = backup.data[3].clone();
    for (k, v) in backup.files() {
        if k != missing {
            src.put(&format!("backup/{k}"), Bytes::from(v))
                .await
                .expect("put");
        }
    }
    let (s, d) = (side(&src, "backup/"), side(&dst, "backup/"));
    let announce = format!("backup/{}", backup.announce_key());

    // A binlog short: the data goes over, the announcement does not.
    let (summary, events) = run(&manifest, &s, &d, &backups()).await;
    assert_eq!(summary.units_pending, 1, "{summary:?}");
    assert_ne!(states(&events), [("b1".to_owned(), "verified")]);
    assert!(
        dst.head(&announce).await.is_err(),
        "announced while not whole"
    );

    // Whole: announced, every object as at the source.
    let bytes = backup
        .data
        .iter()
        .find(|(k, _)| *k == missing)
        .map(|(_, v)| v.clone())
        .expect("binlog");
    src.put(&format!("backup/{missing}"), Bytes::from(bytes))
        .await
        .expect("put");
    let (summary, events) = run(&manifest, &s, &d, &backups()).await;
    assert!(summary.ok(), "{summary:?}");
    assert_eq!(states(&events), [("b1".to_owned(), "verified")]);
    same_objects(&src, &dst).await;

    // The source loses a binlog: the target keeps the whole announced version.
    src.delete(&[format!("backup/{missing}")])
        .await
        .expect("delete");
    let before = dst.keys();
    let (summary, _) = run(&manifest, &s, &d, &backups()).await;
    assert!(!summary.ok(), "a held backup is not a success");
    assert_eq!(summary.held_units.len(), 1, "{summary:?}");
    assert_eq!(summary.held_units[0].0, "b1");
    assert_eq!(dst.keys(), before, "nothing under the held backup changed");
    assert!(dst.head(&announce).await.is_ok());
}

#[tokio::test]
async fn transfers_go_server_side_within_memory_and_stream_in_parts_elsewhere() {
    let src = MemoryStore::new("src");
    let body = data(99, 12 * 1024 * 1024 + 5);
    src.put("big", Bytes::from(body.clone()))
        .await
        .expect("put");
    let config = TransferConfig {
        upload: UploadConfig {
            multipart_threshold: 5 * 1024 * 1024,
            part_size: 5 * 1024 * 1024,
            part_concurrency: 2,
            budget: MemoryBudget::new(32 * 1024 * 1024),
        },
        ..TransferConfig::default()
    };
    let other = MemoryStore::new("other");
    let copied = copy_object(
        &src,
        "big",
        body.len() as u64,
        &other,
        "copy",
        &config,
        None,
    )
    .await
    .expect("server-side copy");
    assert_eq!(copied.method, Method::ServerSide);
    assert!(other.get_bytes("copy").await.expect("get") == body);

    let dir = tempfile::tempdir().expect("tempdir");
    let local = LocalStore::new(dir.path()).expect("local");
    let copied = copy_object(
        &src,
        "big",
        body.len() as u64,
        &local,
        "copy",
        &config,
        None,
    )
    .await
    .expect("streamed copy");
    assert_eq!(copied.method, Method::Streamed);
    assert_eq!(copied.size, body.len() as u64);
    assert!(local.get_bytes("copy").await.expect("get") == body);
    assert_eq!(src.open_uploads(), 0);
}

async fn cp(src: &MemoryStore, key: &str, recursive: bool, dst: &MemoryStore, target: &str) {
    use ferry_engine::sync::cp::{self, CpOptions, Target};
    use futures::StreamExt;
    let base = key
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|_| !key.ends_with('/'))
        .map(str::to_owned);
    let source = cp::resolve_source(Arc::new(src.clone()), key, key, base, recursive)
        .await
        .expect("source");
    let target = Target {
        store: Arc::new(dst.clone()),
        key: target.to_owned(),
        folder: target.is_empty() || target.ends_with('/'),
        display: target.to_owned(),
    };
    cp::check_not_into_itself(&source, &target).expect("not into itself");
    let reports: Vec<_> = cp::run(
        cp::jobs(&source, &target),
        CpOptions {
            workers: 4,
            dry_run: false,
            transfer: TransferConfig::default(),
        },
    )
    .collect()
    .await;
    for r in &reports {
        assert!(
            r.result.is_ok(),
            "{} -> {}: {:?}",
            r.source,
            r.target,
            r.result
        );
    }
}

#[tokio::test]
async fn cp_follows_mc_rules_for_objects_folders_and_trailing_slashes() {
    let src = MemoryStore::new("src");
    for k in ["dir/a", "dir/sub/b", "one"] {
        src.put(k, Bytes::from(k.as_bytes().to_vec()))
            .await
            .expect("put");
    }
    // One object to a folder lands inside it; to a key, as that key.
    let dst = MemoryStore::new("dst");
    cp(&src, "one", false, &dst, "in/").await;
    cp(&src, "one", false, &dst, "renamed").await;
    // A tree without its trailing slash is recreated by name; with it, its contents.
    cp(&src, "dir", true, &dst, "t/").await;
    cp(&src, "dir/", true, &dst, "c/").await;
    assert_eq!(
        dst.keys(),
        [
            "c/a",
            "c/sub/b",
            "in/one",
            "renamed",
            "t/dir/a",
            "t/dir/sub/b"
        ]
    );
    assert!(dst.get_bytes("t/dir/sub/b").await.expect("get") == "dir/sub/b".as_bytes());

    // A folder without --recursive, a missing key: refused before anything is copied.
    use ferry_engine::sync::cp::{CpError, resolve_source};
    let folder = resolve_source(Arc::new(src.clone()), "dir", "dir", None, false).await;
    assert!(matches!(folder, Err(CpError::IsFolder(_))), "{folder:?}");
    let missing = resolve_source(Arc::new(src.clone()), "nope", "nope", None, true).await;
    assert!(matches!(missing, Err(CpError::NotFound(_))), "{missing:?}");
}

// ---- The restore state machine, crashed before and after each transition ----
//
// Each case runs a restore with a real driver (the `exec` trigger under its supervisor, the
// ferryd binary; the REST trigger against the milvus-backup double) and a restorer that dies
// before or after writing one transition, the way a killed ferryd does: what was written is in
// the manifest, a supervisor or a server task started keeps running, nothing else happens.
// A second restorer over the same manifest plays the restart. Every case must end restored,
// with the trigger fired exactly once.

use ferry_engine::milvus::restore::{Moment, RestoreConfig, Restorer, Trigger};
use ferry_state::schema::{BackupRecord, BackupState, RestoreState};
use ferry_state::{BackupsSchema, Batch, ObjectKey};
use tokio_util::sync::CancellationToken;

const TRANSITIONS: [&str; 4] = ["claim", "started", "progress", "end"];

fn restore_config(trigger: Trigger) -> RestoreConfig {
    RestoreConfig {
        trigger,
        backups: None,
        backup_patterns: Vec::new(),
        suffix: Some("_bak".into()),
        renames: Vec::new(),
        timeout: std::time::Duration::from_secs(60),
        bucket: "b".into(),
        path: "backup".into(),
        verify: None,
    }
}

/// Runs one restore of a verified backup with a crash at `at`, then restarts; returns the
/// final record and whether the crash point was reached.
async fn crash_once(
    trigger: Trigger,
    at: (&'static str, Moment),
    dir: &std::path::Path,
) -> (ferry_state::RestoreRecord, bool) {
    let manifest = Arc::new(Manifest::open(&dir.join("state")).expect("manifest"));
    let pair = manifest.pair("src://", "dst://").expect("pair");
    let mut b = Batch::new();
    b.put::<BackupsSchema>(
        &ObjectKey {
            pair,
            key: "b1".into(),
        },
        &BackupRecord {
            state: BackupState::Verified,
            backup_id: "id-1".into(),
            objects: 1,
            bytes: 1,
            segments: 1,
            rows: 1,
            collections: 1,
            created_ms: 0,
            discovered_ms: 0,
            updated_ms: 0,
            synced_ms: Some(0),
            verified_ms: Some(0),
            detail: String::new(),
            evidence: ferry_state::Evidence::default(),
        },
    );
    manifest.write_durable(b).expect("backup record");
    let exe = ferry_tests::bin_path("ferryd");
    let state_dir = dir.join("state");
    let restorer = |crash: bool| {
        let r = Restorer::new(
            "job",
            pair,
            manifest.clone(),
            Some(restore_config(trigger.clone())),
            &state_dir,
            exe.clone(),
            CancellationToken::new(),
        );
        if crash {
            r.crash_at(move |name, moment| (name, moment) == at)
        } else {
            r
        }
    };
    let first = Arc::new(restorer(true));
    first
        .request("b1", None, Vec::new(), false, false)
        .expect("request");
    let rec = || first.list().expect("list").pop().expect("one restore").2;
    let done = |r: &ferry_state::RestoreRecord| r.state.is_terminal();
    // The first restorer runs until it crashes (or, when the point is never reached, ends).
    let task = tokio::spawn(first.clone().run());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let crashed = loop {
        if task.is_finished() {
            break task
                .await
                .expect_err("the restorer only ends by its crash")
                .is_panic();
        }
        if done(&rec()) {
            task.abort();
            break false;
        }
        assert!(tokio::time::Instant::now() < deadline, "stuck: {:?}", rec());
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    if crashed {
        let second = Arc::new(restorer(false));
        let shutdown = second.clone();
        let task = tokio::spawn(second.run());
        while !done(&rec()) {
            assert!(tokio::time::Instant::now() < deadline, "stuck: {:?}", rec());
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        drop(shutdown);
        task.abort();
    }
    (rec(), crashed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_restore_crashed_before_or_after_any_transition_runs_its_program_once() {
    let mut reached = Vec::new();
    for name in TRANSITIONS {
        for moment in [Moment::Before, Moment::After] {
            let dir = tempfile::tempdir().expect("tmp");
            let calls = dir.path().join("calls");
            let script = format!("echo \"$1\" >> '{}'; sleep 0.3", calls.display());
            let trigger = Trigger::Exec {
                argv: vec![
                    "sh".into(),
                    "-c".into(),
                    script,
                    "hook".into(),
                    "{backup}".into(),
                ],
            };
            let (rec, crashed) = crash_once(trigger, (name, moment), dir.path()).await;
            assert_eq!(
                rec.state,
                RestoreState::Restored,
                "{name} {moment:?}: {}",
                rec.detail
            );
            let ran = std::fs::read_to_string(&calls).unwrap_or_default();
            assert_eq!(ran, "b1\n", "{name} {moment:?}: the program ran {ran:?}");
            if crashed {
                reached.push(format!("{name} {moment:?}"));
            }
        }
    }
    // exec has no progress: every other point must have been crashed at.
    assert_eq!(reached.len(), 6, "{reached:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_restore_crashed_before_or_after_any_transition_posts_once() {
    use ferry_tests::restore_server::{Behaviour, RestoreServer};
    let mut reached = Vec::new();
    for name in TRANSITIONS {
        for moment in [Moment::Before, Moment::After] {
            let server = RestoreServer::start(Behaviour {
                polls_to_finish: 3,
                ..Behaviour::default()
            });
            let dir = tempfile::tempdir().expect("tmp");
            let trigger = Trigger::Rest {
                url: server.url(),
                poll: std::time::Duration::from_millis(20),
            };
            let (rec, crashed) = crash_once(trigger, (name, moment), dir.path()).await;
            assert_eq!(
                rec.state,
                RestoreState::Restored,
                "{name} {moment:?}: {}",
                rec.detail
            );
            let posts = server.posts();
            assert_eq!(posts.len(), 1, "{name} {moment:?}: {posts:?}");
            if crashed {
                reached.push(format!("{name} {moment:?}"));
            }
        }
    }
    assert_eq!(reached.len(), 8, "{reached:?}");
}
