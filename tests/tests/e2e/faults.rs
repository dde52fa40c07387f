//! Network and server faults: a fault-injecting proxy in front of each of two real S3 servers
//! (500, 503 SlowDown, dropped connections, truncated bodies, stalls), `ferry mirror
//! --backups` between them until it converges, then everything compared by SHA-256.

use std::time::Duration;

use ferry_tests::fault_proxy::{FaultProxy, Faults};
use ferry_tests::milvus::{self, Backup, Spec, Version};
use ferry_tests::s3s_server::S3sServer;
use ferry_tests::{Ferry, Ferryd, data, free_port, open_uploads, tree_hashes, wait_for};

const MIB: usize = 1024 * 1024;

fn seed() -> u64 {
    let seed = std::env::var("FERRY_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("fault seed {seed} (FERRY_FAULT_SEED={seed} replays the same draws)");
    seed
}

fn summary(out: &str) -> Option<serde_json::Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["op"] == "summary")
}

/// Two S3 servers with buckets `src` and `dst` (aliases `src-direct`, `dst-direct`: no
/// faults), backups seeded into `src`, and a 5 % fault proxy in front of each server.
struct Run {
    seed: u64,
    src: S3sServer,
    dst: S3sServer,
    p_src: FaultProxy,
    p_dst: FaultProxy,
    ferry: Ferry,
    work: tempfile::TempDir,
    /// The backups as written, under `work/seed/backup`.
    local: std::path::PathBuf,
    /// The backups' names: `{prefix}0`, `{prefix}1`, ...
    names: Vec<String>,
}

impl Run {
    /// Backups of `versions` with `segments` segments each; the first gets an extra binlog of
    /// `big` bytes (sent in 5 MiB parts).
    fn new(tag: &str, prefix: &str, versions: &[Version], segments: u32, big: usize) -> Run {
        let seed = seed();
        let src = S3sServer::start(&format!("AKIA{tag}SRC"), &format!("{tag}-src-secret"));
        let dst = S3sServer::start(&format!("AKIA{tag}DST"), &format!("{tag}-dst-secret"));
        src.create_bucket("src");
        dst.create_bucket("dst");
        let work = tempfile::tempdir().expect("work");
        let local = work.path().join("seed/backup");
        let names: Vec<String> = (0..versions.len())
            .map(|i| format!("{prefix}{i}"))
            .collect();
        for (i, v) in versions.iter().enumerate() {
            let mut spec = Spec::small(&names[i], *v, seed ^ (i as u64) << 8);
            spec.segments = segments;
            Backup::generate(&spec).write(&local);
        }
        milvus::write_file(
            &local,
            &format!("{prefix}0/binlogs/insert_log/9/9/9/9/big"),
            &data(seed, big),
        );
        let ferry = Ferry::new();
        ferry.alias("src-direct", &src);
        ferry.alias("dst-direct", &dst);
        ferry.ok(&[
            "cp",
            "-r",
            "-q",
            "--part-size",
            "5",
            &format!("{}/", local.display()),
            "src-direct/src/backup/",
        ]);
        let p_src = FaultProxy::start(&src.url(), Faults::all(50, seed));
        let p_dst = FaultProxy::start(&dst.url(), Faults::all(50, seed.rotate_left(17)));
        Run {
            seed,
            src,
            dst,
            p_src,
            p_dst,
            ferry,
            work,
            local,
            names,
        }
    }

    /// With faults off, straight at the target server: it holds the source's objects byte
    /// for byte, and no upload is open (those whose create answer was lost included).
    /// Returns how many objects were compared.
    fn check_target(&self) -> usize {
        self.p_src.set_per_mille(0);
        self.p_dst.set_per_mille(0);
        let back = self.work.path().join("back");
        self.ferry.ok(&[
            "cp",
            "-r",
            "-q",
            "dst-direct/dst/backup/",
            &format!("{}/", back.display()),
        ]);
        let want = tree_hashes(&self.local);
        assert_eq!(
            want,
            tree_hashes(&back),
            "target differs from source (seed {})",
            self.seed
        );
        let open = open_uploads(self.dst.root());
        assert!(
            open.is_empty(),
            "{} uploads left open after {} lost create answers: {open:?}",
            open.len(),
            self.p_dst.counts().lost_creates
        );
        want.len()
    }
}

/// At 5 % faults on every request to either server, repeated `ferry mirror` runs converge:
/// every object arrives byte-identical (a truncated body is never taken for a whole one), each
/// backup is announced, and no multipart upload is left open.
#[test]
fn mirror_converges_through_five_percent_faults() {
    // Six backups of four layouts, one with a 24 MiB binlog (five 5 MiB parts).
    let versions = [
        Version::V0_5_12,
        Version::V0_4_5,
        Version::V0_3_0,
        Version::V0_5_3,
        Version::V0_5_12,
        Version::V0_4_5,
    ];
    let r = Run::new("FAULT", "b", &versions, 5, 24 * MIB + 17);
    let (seed, ferry, work) = (r.seed, &r.ferry, &r.work);
    let (src, dst, p_src, p_dst) = (&r.src, &r.dst, &r.p_src, &r.p_dst);
    for (name, proxy, server) in [("s", &p_src, &src), ("d", &p_dst, &dst)] {
        ferry.ok(&[
            "alias",
            "set",
            "--no-check",
            name,
            &proxy.url(),
            server.access_key(),
            server.secret_key(),
        ]);
    }

    let state = work.path().join("state");
    let state = state.to_str().expect("utf-8 path");
    let mirror = || {
        ferry.run(&[
            "mirror",
            "--json",
            "--backups",
            "--part-size",
            "5",
            "--state-dir",
            state,
            "s/src/backup/",
            "d/dst/backup/",
        ])
    };
    let watch = ferry_tests::invariant::Watch::start(
        &dst.root().join("dst/backup"),
        Duration::from_millis(3),
    );
    let mut runs = 0;
    let mut failed_objects = 0;
    loop {
        runs += 1;
        let (code, out, err) = mirror();
        assert!(!err.contains("panicked"), "run {runs} panicked:\n{err}");
        let s = summary(&out);
        failed_objects += s.as_ref().and_then(|s| s["failed"].as_u64()).unwrap_or(0);
        if code == 0 && s.as_ref().is_some_and(|s| s["backupsPending"] == 0) {
            break;
        }
        assert!(
            runs < 15,
            "no convergence after {runs} runs at 5 % faults (seed {seed});\nlast stdout:\n{out}\nstderr:\n{err}"
        );
    }

    let (looks, announced) = watch
        .stop()
        .unwrap_or_else(|e| panic!("invariant broken (seed {seed}): {e}"));
    assert!(
        looks > 10 && announced > 0,
        "{looks} looks, {announced} announced"
    );
    let objects = r.check_target();
    let (code, out, err) = ferry.run(&["backups", "ls", "--json", "dst-direct/dst/backup/"]);
    assert_eq!(
        code, 0,
        "every backup complete at the target:\n{out}\n{err}"
    );
    assert_eq!(
        out.lines().filter(|l| l.contains("\"complete\"")).count(),
        versions.len(),
        "{out}"
    );
    // A last run has nothing to do.
    let (code, out, _) = mirror();
    assert_eq!(code, 0);
    let last = summary(&out).expect("summary");
    assert_eq!(last["copied"], 0, "{last}");

    let (cs, cd) = (p_src.counts(), p_dst.counts());
    let truncated = cs.injected[3] + cd.injected[3];
    ferry_tests::report(&format!(
        "faults: {runs} runs to converge, {failed_objects} object failures reported on the way; \
         source proxy {} requests, {} faults ({}); target proxy {} requests, {} faults ({}); \
         {objects} objects checked by SHA-256, 0 lost, 0 corrupted; 0 uploads left open \
         after {} lost create answers",
        cs.requests,
        cs.faults(),
        cs.summary(),
        cd.requests,
        cd.faults(),
        cd.summary(),
        cd.lost_creates
    ));
    // ~5 % of ~800 requests: fewer than 2 % would mean the proxy is not doing its job.
    let (requests, faults) = (cs.requests + cd.requests, cs.faults() + cd.faults());
    assert!(
        requests >= 400 && faults * 50 >= requests,
        "{faults} faults in {requests} requests: too few to mean anything (seed {seed})"
    );
    assert!(
        truncated > 0,
        "no truncated body was injected (seed {seed})"
    );
}

/// When the server creates a multipart upload but its answer never arrives, the SDK's retry
/// creates another and the first is invisible to the client. ferry lists the key's uploads
/// after such a retry and aborts the others. Five lost answers: the first call's four attempts
/// all fail (the transfer retries the object), the fifth is lost inside the second call.
#[test]
fn lost_create_answers_leave_no_open_upload() {
    let server = S3sServer::start("AKIALOSTCREATE", "lost-create-secret");
    server.create_bucket("dst");
    let proxy = FaultProxy::start(
        &server.url(),
        Faults {
            lose_creates: 5,
            ..Faults::all(0, 0)
        },
    );
    let ferry = Ferry::new();
    ferry.ok(&[
        "alias",
        "set",
        "--no-check",
        "p",
        &proxy.url(),
        server.access_key(),
        server.secret_key(),
    ]);
    let work = tempfile::tempdir().expect("work");
    let file = work.path().join("big");
    let body = data(7, 11 * MIB);
    std::fs::write(&file, &body).expect("write");

    let (code, _, err) = ferry.run(&[
        "cp",
        "--part-size",
        "5",
        file.to_str().expect("utf-8"),
        "p/dst/big",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        proxy.counts().lost_creates,
        5,
        "every lost answer was injected"
    );
    assert_eq!(
        std::fs::read(server.root().join("dst/big")).expect("copied"),
        body
    );
    let open = open_uploads(server.root());
    assert!(open.is_empty(), "uploads left open: {open:?}\n{err}");
}

/// ferryd itself under 5 % faults: an S3 -> S3 backup job with an exec restore trigger, a
/// fault proxy in front of each server. Every backup arrives whole, is announced, and its
/// restore fires exactly once; nothing is left open.
#[test]
fn ferryd_replicates_and_restores_exactly_once_through_five_percent_faults() {
    let versions = [
        Version::V0_5_12,
        Version::V0_4_5,
        Version::V0_3_0,
        Version::V0_5_3,
    ];
    let r = Run::new("DFAULT", "d", &versions, 4, 20 * MIB + 5);
    let (seed, work, names) = (r.seed, &r.work, &r.names);
    let (src, dst, p_src, p_dst) = (&r.src, &r.dst, &r.p_src, &r.p_dst);
    let calls = work.path().join("calls");
    let addr = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "state_dir = \"{state}\"\n[control]\nlisten = \"{addr}\"\n\n\
         [aliases.s]\nurl = \"{su}\"\naccess_key = \"{sak}\"\nsecret_key = \"{ssk}\"\n\
         [aliases.d]\nurl = \"{du}\"\naccess_key = \"{dak}\"\nsecret_key = \"{dsk}\"\n\n\
         [[jobs]]\nname = \"f\"\nsource = \"s/src/backup/\"\ntarget = \"d/dst/backup/\"\n\
         interval = \"2s\"\n\
         [jobs.restore]\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"echo \\\"$1\\\" >> '{calls}'\", \"hook\", \"{{backup}}\"]\n",
        state = work.path().join("state").display(),
        su = p_src.url(),
        sak = src.access_key(),
        ssk = src.secret_key(),
        du = p_dst.url(),
        dak = dst.access_key(),
        dsk = dst.secret_key(),
        calls = calls.display(),
    );
    let watch = ferry_tests::invariant::Watch::start(
        &dst.root().join("dst/backup"),
        Duration::from_millis(3),
    );
    let mut d = Ferryd::start(work.path(), &addr, &config);
    let restored = |d: &Ferryd| {
        let all = d.get("/v1/restores", None);
        names.iter().all(|n| {
            all.as_array().is_some_and(|rs| {
                rs.iter()
                    .any(|r| r["backup"] == n.as_str() && r["state"] == "restored")
            })
        })
    };
    wait_for(
        Duration::from_secs(240),
        &format!("every backup restored through 5 % faults (seed {seed})"),
        || restored(&d),
    );
    assert!(d.alive(), "{}", d.log());
    assert_eq!(d.sigterm(), Some(0));
    watch
        .stop()
        .unwrap_or_else(|e| panic!("invariant broken (seed {seed}): {e}"));

    let objects = r.check_target();
    let mut fired: Vec<String> = std::fs::read_to_string(&calls)
        .expect("calls")
        .lines()
        .map(str::to_owned)
        .collect();
    fired.sort();
    assert_eq!(
        &fired, names,
        "each restore fired exactly once (seed {seed})"
    );
    let log = d.log();
    assert!(!log.contains("panicked"), "{log}");

    let (cs, cd) = (p_src.counts(), p_dst.counts());
    ferry_tests::report(&format!(
        "ferryd faults: source proxy {} requests, {} faults ({}); target proxy {} requests, {} \
         faults ({}); {} objects checked by SHA-256, 0 lost, 0 corrupted; {} restores, each \
         fired once; {} retries logged; 0 uploads left open after {} lost create answers",
        cs.requests,
        cs.faults(),
        cs.summary(),
        cd.requests,
        cd.faults(),
        cd.summary(),
        objects,
        fired.len(),
        log.matches("retrying").count(),
        cd.lost_creates
    ));
    let (requests, faults) = (cs.requests + cd.requests, cs.faults() + cd.faults());
    // ~5 % of ~460 requests; under 1 % would mean the proxy is not doing its job.
    assert!(
        requests >= 200 && faults * 100 >= requests,
        "{faults} faults in {requests} requests: too few to mean anything (seed {seed})"
    );
}
