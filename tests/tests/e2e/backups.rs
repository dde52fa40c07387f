//! milvus-backup awareness end to end: `ferry mirror --backups` and ferryd's backup jobs over
//! generated backups of several layout versions, an in-process S3 target.

use std::collections::BTreeMap;
use std::path::Path;

use ferry_tests::milvus::{Backup, Spec, Version, write_file};
use ferry_tests::s3s_server::S3sServer;
use ferry_tests::{Ferry, Ferryd, free_port, wait_for};

fn records(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `op: backup` records by backup name.
fn backup_states(out: &str) -> BTreeMap<String, (String, String)> {
    records(out)
        .into_iter()
        .filter(|r| r["op"] == "backup")
        .map(|r| {
            (
                r["backup"].as_str().unwrap_or_default().to_owned(),
                (
                    r["state"].as_str().unwrap_or_default().to_owned(),
                    r["detail"].as_str().unwrap_or_default().to_owned(),
                ),
            )
        })
        .collect()
}

/// Files under `root/<name>/`, relative to `root`, with their sizes.
fn listing(root: &Path, name: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.join(name)];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(root) {
                let rel = rel.to_string_lossy().into_owned();
                // s3s-fs keeps its own bookkeeping next to objects.
                if !rel.contains(".tmp") && !rel.ends_with(".json.s3s") {
                    out.insert(rel, p.metadata().map(|m| m.len()).unwrap_or(0));
                }
            }
        }
    }
    out
}

/// Every file of `b` is at `root` with its size.
fn whole_at(root: &Path, b: &Backup) -> Result<(), String> {
    let have = listing(root, &b.spec.name);
    for (k, v) in b.files() {
        match have.get(&k) {
            Some(s) if *s == v.len() as u64 => {}
            Some(s) => return Err(format!("{k}: {s} bytes, want {}", v.len())),
            None => return Err(format!("{k}: missing")),
        }
    }
    Ok(())
}

#[test]
fn mirror_announces_only_whole_backups_with_backup_meta_last() {
    let srv = S3sServer::start("AKIABACKUPS1", "backups-secret-1");
    let ferry = Ferry::new();
    ferry.alias("t", &srv);
    ferry.ok(&["mb", "t/dst"]);
    let work = tempfile::tempdir().expect("work");
    let src = work.path().join("src/backup");
    let target_root = srv.root().join("dst/backup");
    let state = work.path().join("state");

    let whole: Vec<Backup> = [
        ("b_v030", Version::V0_3_0),
        ("b_v045", Version::V0_4_5),
        ("b_v053", Version::V0_5_3),
        ("b_v0512", Version::V0_5_12),
        ("b_snap", Version::Snapshot),
    ]
    .iter()
    .enumerate()
    .map(|(i, (n, v))| Backup::generate(&Spec::small(n, *v, i as u64 + 1)))
    .collect();
    for b in &whole {
        b.write(&src);
    }
    // A failed create: binlogs, no meta.
    let failed_create = Backup::generate(&Spec::small("no_meta", Version::V0_5_12, 20));
    for (k, v) in &failed_create.data {
        write_file(&src, k, v);
    }
    // Meta, but one binlog missing.
    let missing = Backup::generate(&Spec::small("missing_binlog", Version::V0_5_12, 21));
    let (gone_key, gone_bytes) = missing.data[3].clone();
    for (k, v) in missing.files() {
        if k != gone_key {
            write_file(&src, &k, &v);
        }
    }
    // Meta, but one binlog shorter than the meta says.
    let short = Backup::generate(&Spec::small("short_binlog", Version::V0_4_5, 22));
    for (i, (k, v)) in short.files().into_iter().enumerate() {
        let v = if i == 0 { v[..v.len() - 1].to_vec() } else { v };
        write_file(&src, &k, &v);
    }
    // Malformed full_meta.json.
    let broken = Backup::generate(&Spec::small("bad meta!", Version::V0_5_12, 23));
    for (k, v) in broken.files() {
        let v = if k.ends_with("full_meta.json") {
            v[..v.len() / 2].to_vec()
        } else {
            v
        };
        write_file(&src, &k, &v);
    }

    // A format this ferry does not know.
    let unknown = Backup::generate(&Spec::small("future", Version::V0_5_12, 24));
    for (k, v) in unknown.files() {
        let v = if k.ends_with("full_meta.json") {
            let mut j: serde_json::Value = serde_json::from_slice(&v).expect("json");
            j["format"] = serde_json::json!("columnar-v9");
            serde_json::to_vec(&j).expect("json")
        } else {
            v
        };
        write_file(&src, &k, &v);
    }

    let mirror = |extra: &[&str]| {
        let state = state.display().to_string();
        let src = format!("{}/", src.display());
        let mut args = vec![
            "mirror",
            "--json",
            "--backups",
            "--state-dir",
            state.as_str(),
        ];
        args.extend_from_slice(extra);
        args.push(src.as_str());
        args.push("t/dst/backup/");
        ferry.run(&args)
    };
    let (code, out, err) = mirror(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let states = backup_states(&out);
    for b in &whole {
        assert_eq!(
            states.get(&b.spec.name).map(|s| s.0.as_str()),
            Some("verified"),
            "{}: {states:?}",
            b.spec.name
        );
        whole_at(&target_root, b).unwrap_or_else(|e| panic!("{}: {e}", b.spec.name));
    }
    let (st, detail) = &states["no_meta"];
    assert_eq!(st, "incomplete");
    assert!(detail.contains("no meta file yet"), "{detail}");
    let (st, detail) = &states["missing_binlog"];
    assert_eq!(st, "incomplete");
    let gone_rel = gone_key.trim_start_matches("missing_binlog/");
    assert!(
        detail.contains("1 of") && detail.contains(gone_rel),
        "{detail}"
    );
    let (st, detail) = &states["short_binlog"];
    assert_eq!(st, "incomplete");
    assert!(detail.contains("wrong size"), "{detail}");
    let (st, detail) = &states["bad meta!"];
    assert_eq!(st, "failed");
    assert!(
        detail.contains("meta/full_meta.json: not a milvus-backup meta file"),
        "{detail}"
    );
    let (st, detail) = &states["future"];
    assert_eq!(st, "failed");
    assert!(
        detail.contains("unknown backup format \"columnar-v9\""),
        "{detail}"
    );
    // Nothing of their meta reached the target; their data did.
    for name in [
        "no_meta",
        "missing_binlog",
        "short_binlog",
        "bad meta!",
        "future",
    ] {
        let at = listing(&target_root, name);
        assert!(!at.is_empty(), "{name}: its data should be at the target");
        assert!(
            at.keys().all(|k| !k.contains("/meta/")),
            "{name}: meta at the target: {at:?}"
        );
    }

    // Within a backup, backup_meta.json is written after every other object, and after every
    // read-back.
    let recs = records(&out);
    for b in &whole {
        let announce = format!("t/dst/backup/{}", b.announce_key());
        let pos = |pred: &dyn Fn(&serde_json::Value) -> bool| -> Vec<usize> {
            recs.iter()
                .enumerate()
                .filter(|(_, r)| pred(r))
                .map(|(i, _)| i)
                .collect()
        };
        let prefix = format!("t/dst/backup/{}/", b.spec.name);
        let last = pos(&|r| r["op"] == "copy" && r["target"] == announce.as_str());
        assert_eq!(last.len(), 1, "{announce}");
        let others = pos(&|r| {
            (r["op"] == "copy" || r["op"] == "verify")
                && r["target"].as_str().is_some_and(|t| t.starts_with(&prefix))
                && r["target"] != announce.as_str()
        });
        // Every other object copied, and nothing read back: s3s refuses a body that does not
        // match its signed SHA-256 (probed), so the uploads prove data and meta files alike.
        assert_eq!(others.len(), b.files().len() - 1, "{}", b.spec.name);
        assert!(others.iter().all(|i| *i < last[0]), "{}", b.spec.name);
    }

    // `ferry backups ls` on both ends: what milvus-backup would see, and what is missing.
    let ls = |root: &str| {
        let (code, out, err) = ferry.run(&["backups", "ls", "--json", root]);
        let by_name: BTreeMap<String, serde_json::Value> = records(&out)
            .into_iter()
            .map(|r| (r["name"].as_str().unwrap_or_default().to_owned(), r))
            .collect();
        (code, by_name, err)
    };
    let (code, at_source, _) = ls(&format!("{}/", src.display()));
    assert_eq!(code, 1, "not every backup at the source is complete");
    for b in &whole {
        let r = &at_source[&b.spec.name];
        assert_eq!(r["state"], "complete", "{r}");
        assert_eq!(
            (r["backupId"].as_str(), r["rows"].as_u64()),
            (Some(b.id.as_str()), Some(b.rows))
        );
    }
    assert_eq!(at_source["no_meta"]["state"], "incomplete");
    assert!(
        at_source["missing_binlog"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains(gone_rel))
    );
    assert!(
        at_source["short_binlog"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("wrong size"))
    );
    assert_eq!(at_source["bad meta!"]["state"], "unreadable");
    let (_, at_target, _) = ls("t/dst/backup/");
    for b in &whole {
        assert_eq!(at_target[&b.spec.name]["state"], "complete");
    }
    assert_eq!(at_target["missing_binlog"]["state"], "incomplete");
    let (code, out, err) = ferry.run(&["backups", "ls", "t/dst/backup/"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.lines()
            .any(|l| l.contains("complete") && l.ends_with("b_v0512")),
        "{out}"
    );

    // `ferry backups verify`: by SHA-256 both sides, and the target against its meta.
    let src_root = format!("{}/", src.display());
    let verify = |name: &str| ferry.run(&["backups", "verify", &src_root, "t/dst/backup/", name]);
    let (code, out, err) = verify("b_v045");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("against its meta: complete"), "{out}");
    let (first_key, first) = &whole[1].data[0];
    let mut flipped = first.clone();
    flipped[0] ^= 0xff;
    std::fs::write(target_root.join(first_key), &flipped).expect("corrupt the target");
    let (code, out, _) = verify("b_v045");
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!("! {}", src_root)) && out.contains(first_key.as_str()),
        "{out}"
    );
    std::fs::write(target_root.join(first_key), first).expect("repair");
    std::fs::remove_file(target_root.join(whole[1].announce_key())).expect("hide");
    let (code, out, _) = verify("b_v045");
    assert_eq!(code, 1);
    assert!(out.contains("not-announced"), "{out}");
    let (code, _, err) = verify("no_such_backup");
    assert_ne!(code, 0);
    assert!(err.contains("no backup named \"no_such_backup\""), "{err}");
    // Put it back for what follows (the manifest still has its row: --check-target repairs).
    let (code, out, err) = mirror(&["--check-target"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(backup_states(&out)["b_v045"].0, "verified", "{out}");
    assert!(target_root.join(whole[1].announce_key()).exists());

    // A no-op run settles nothing already verified, and the incomplete ones stay so.
    let (code, out, _) = mirror(&[]);
    assert_eq!(code, 0);
    let states = backup_states(&out);
    assert!(
        whole.iter().all(|b| !states.contains_key(&b.spec.name)),
        "{states:?}"
    );
    assert_eq!(states["missing_binlog"].0, "incomplete");

    // The missing binlog arrives: the backup is announced.
    write_file(&src, &gone_key, &gone_bytes);
    let (code, out, _) = mirror(&[]);
    assert_eq!(code, 0);
    assert_eq!(backup_states(&out)["missing_binlog"].0, "verified");
    whole_at(&target_root, &missing).expect("missing_binlog whole");

    // A verified backup rewritten under the same name: hidden, re-synced, announced again.
    let rewritten = Backup::generate(&Spec::small("b_v0512", Version::V0_5_12, 99));
    std::fs::remove_dir_all(src.join("b_v0512")).expect("rm");
    rewritten.write(&src);
    let (code, out, err) = mirror(&["--remove"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(backup_states(&out)["b_v0512"].0, "verified");
    whole_at(&target_root, &rewritten).expect("rewritten whole");
    let stale = listing(&target_root, "b_v0512");
    assert_eq!(
        stale.len(),
        rewritten.files().len(),
        "old files removed: {stale:?}"
    );

    // Removing a backup at the source removes it at the target with --remove.
    std::fs::remove_dir_all(src.join("b_v030")).expect("rm");
    let (code, out, _) = mirror(&["--remove"]);
    assert_eq!(code, 0, "{out}");
    assert!(listing(&target_root, "b_v030").is_empty());
}

fn daemon_config(dir: &Path, addr: &str, srv: &S3sServer, src: &Path) -> String {
    format!(
        "state_dir = \"{state}\"\n[control]\nlisten = \"{addr}\"\n\n\
         [aliases.t]\nurl = \"{url}\"\naccess_key = \"{ak}\"\nsecret_key = \"{sk}\"\n\n\
         [[jobs]]\nname = \"backups\"\nsource = \"{src}/\"\ntarget = \"t/dst/backup/\"\ninterval = \"1h\"\n",
        state = dir.join("state").display(),
        url = srv.url(),
        ak = srv.access_key(),
        sk = srv.secret_key(),
        src = src.display(),
    )
}

#[test]
fn ferryd_never_shows_backup_meta_at_the_target_before_the_backup_is_whole() {
    let srv = S3sServer::start("AKIABACKUPS2", "backups-secret-2");
    srv.create_bucket("dst");
    let dir = tempfile::tempdir().expect("dir");
    let src = dir.path().join("src/backup");
    std::fs::create_dir_all(&src).expect("src");
    let target_root = srv.root().join("dst/backup");
    let addr = format!("127.0.0.1:{}", free_port());
    let d = Ferryd::start(
        dir.path(),
        &addr,
        &daemon_config(dir.path(), &addr, &srv, &src),
    );

    let mut spec = Spec::small("nightly_1", Version::V0_5_12, 5);
    spec.segments = 6;
    let b = Backup::generate(&spec);
    let announce = target_root.join(b.announce_key());

    // Watch the target while the backup is written at the source in a random order (its meta
    // files may come first), with pauses so that ferryd's watch sees it in several pieces.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (stop, root, b, announce) = (
            stop.clone(),
            target_root.clone(),
            b.clone(),
            announce.clone(),
        );
        std::thread::spawn(move || {
            let mut looks = 0u64;
            let mut seen_announced = false;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if announce.exists() {
                    seen_announced = true;
                    if let Err(e) = whole_at(&root, &b) {
                        // backup_meta.json is written last: the rest must already be there.
                        return Err(format!("backup_meta.json at the target while {e}"));
                    }
                }
                looks += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Ok((looks, seen_announced))
        })
    };
    for (i, (k, v)) in b.shuffled(7).into_iter().enumerate() {
        write_file(&src, &k, &v);
        if i % 5 == 4 {
            std::thread::sleep(std::time::Duration::from_millis(150));
        }
    }
    wait_for(
        std::time::Duration::from_secs(60),
        "the backup verified",
        || {
            let j = d.job("backups", None);
            j["backups"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["name"] == "nightly_1"))
                .is_some_and(|x| x["state"] == "verified")
        },
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (looks, seen) = watcher.join().expect("watcher").expect("ordering held");
    assert!(seen && looks > 10, "the watcher looked {looks} times");
    whole_at(&target_root, &b).expect("whole");
    let j = d.job("backups", None);
    let rec = j["backups"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "nightly_1"))
        .cloned()
        .expect("record");
    assert_eq!(rec["backup_id"], b.id.as_str());
    assert_eq!(rec["rows"], b.rows);
    assert_eq!(
        rec["segments"],
        u64::from(spec.collections * (spec.segments + 1))
    );
    assert_eq!(rec["objects"], b.files().len());

    // An incomplete backup shows what is missing.
    let half = Backup::generate(&Spec::small("half", Version::V0_5_12, 6));
    for (k, v) in half.files().into_iter().skip(2) {
        write_file(&src, &k, &v);
    }
    wait_for(std::time::Duration::from_secs(30), "half reported", || {
        let j = d.job("backups", None);
        j["backups"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == "half"))
            .is_some_and(|x| {
                x["state"] == "incomplete"
                    && x["detail"].as_str().is_some_and(|s| s.contains("2 of"))
            })
    });
    assert!(!target_root.join(half.announce_key()).exists());
}

#[test]
fn a_backup_with_a_binlog_beyond_the_part_size_goes_multipart_and_verifies() {
    let srv = S3sServer::start("AKIABACKUPS3", "backups-secret-3");
    let ferry = Ferry::new();
    ferry.alias("t", &srv);
    ferry.ok(&["mb", "t/dst"]);
    let work = tempfile::tempdir().expect("work");
    let src = work.path().join("backup");
    let mut spec = Spec::small("big_one", Version::V0_5_12, 31);
    // 96 MiB of sparse zeros: 12 parts of 8 MiB (the generator makes multi-GiB ones the same
    // way, for scripts).
    spec.big = Some(96 << 20);
    let b = Backup::generate(&spec);
    b.write(&src);
    let state = work.path().join("state").display().to_string();
    let root = format!("{}/", src.display());
    let (code, out, err) = ferry.run(&[
        "mirror",
        "--json",
        "--backups",
        "--part-size",
        "8",
        "--state-dir",
        &state,
        &root,
        "t/dst/backup/",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(backup_states(&out)["big_one"].0, "verified", "{out}");
    let (big_key, big_size) = &b.sparse[0];
    let copied = records(&out)
        .into_iter()
        .find(|r| {
            r["op"] == "copy"
                && r["target"]
                    .as_str()
                    .is_some_and(|t| t.ends_with(big_key.as_str()))
        })
        .expect("the big binlog copied");
    assert_eq!(copied["size"], *big_size, "{copied}");
    // A multipart upload leaves an ETag with the part count.
    let stat = ferry.ok(&["stat", "--json", &format!("t/dst/backup/{big_key}")]);
    let stat: serde_json::Value = serde_json::from_str(stat.trim()).expect("stat json");
    assert!(
        stat["etag"].as_str().is_some_and(|e| e.ends_with("-12")),
        "{stat}"
    );
    assert_eq!(
        std::fs::metadata(srv.root().join("dst/backup").join(big_key))
            .map(|m| m.len())
            .ok(),
        Some(*big_size)
    );
    assert!(ferry_tests::open_uploads(srv.root()).is_empty());
    let (code, out, err) = ferry.run(&["backups", "verify", &root, "t/dst/backup/", "big_one"]);
    assert_eq!(code, 0, "{out}\n{err}");
}

#[test]
fn backups_go_whole_from_one_s3_server_to_another() {
    let a = S3sServer::start("AKIABACKUPSA", "backups-secret-a");
    let b = S3sServer::start("AKIABACKUPSB", "backups-secret-b");
    let ferry = Ferry::new();
    ferry.alias("a", &a);
    ferry.alias("b", &b);
    ferry.ok(&["mb", "a/milvus"]);
    ferry.ok(&["mb", "b/copy"]);
    let work = tempfile::tempdir().expect("work");
    let local = work.path().join("backup");
    let whole = Backup::generate(&Spec::small("nightly_1", Version::V0_5_3, 41));
    whole.write(&local);
    let partial = Backup::generate(&Spec::small("nightly_2", Version::V0_4_5, 42));
    for (k, v) in partial.files().into_iter().skip(1) {
        write_file(&local, &k, &v);
    }
    ferry.ok(&[
        "cp",
        "-r",
        &format!("{}/", local.display()),
        "a/milvus/backup/",
    ]);
    let state = work.path().join("state").display().to_string();
    let (code, out, err) = ferry.run(&[
        "mirror",
        "--json",
        "--backups",
        "--state-dir",
        &state,
        "a/milvus/backup/",
        "b/copy/backup/",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let states = backup_states(&out);
    assert_eq!(states["nightly_1"].0, "verified", "{states:?}");
    assert_eq!(states["nightly_2"].0, "incomplete", "{states:?}");
    whole_at(&b.root().join("copy/backup"), &whole).expect("whole at b");
    assert!(
        !b.root()
            .join("copy/backup")
            .join(partial.announce_key())
            .exists()
    );
    let (code, out, err) = ferry.run(&[
        "backups",
        "verify",
        "a/milvus/backup/",
        "b/copy/backup/",
        "nightly_1",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
}
