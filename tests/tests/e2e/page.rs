//! The job center page in a real browser (headless Chromium through chromedriver) against a
//! real ferryd replicating generated backups to an in-process S3 server and firing an exec
//! restore trigger; and the page's security rules over plain HTTP.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_tests::browser::{Browser, screenshot_dir};
use ferry_tests::milvus::{Backup, Spec, Version};
use ferry_tests::s3s_server::S3sServer;
use ferry_tests::{Ferryd, Pause, free_port, wait_for};

const TOKEN: &str = "page-test-token-4f1d9c2a7b";

// Fields drop in order: the browser, then ferryd (its log lives in `dir`), the server last.
struct Site {
    b: Browser,
    d: Ferryd,
    _dir: tempfile::TempDir,
    src: PathBuf,
    _srv: S3sServer,
}

/// A ferryd with one backup job `bk` (local source → `t/dst/backup/`), a token, `restore` as
/// its `[jobs.restore]` body, `env` in its environment; and a browser on its page.
fn site(restore: &str, env: Vec<(String, String)>) -> Site {
    let srv = S3sServer::start("AKIAPAGE", "page-secret");
    srv.create_bucket("dst");
    let dir = tempfile::tempdir().expect("dir");
    let src = dir.path().join("src/backup");
    std::fs::create_dir_all(&src).expect("src");
    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).expect("token");
    ferry_tests::register_secret(TOKEN);
    chmod600(&token);
    let addr = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "state_dir = \"{state}\"\n[control]\nlisten = \"{addr}\"\ntoken_file = \"{token}\"\n\n\
         [aliases.t]\nurl = \"{url}\"\naccess_key = \"AKIAPAGE\"\nsecret_key = \"page-secret\"\n\n\
         [[jobs]]\nname = \"bk\"\nsource = \"{src}/\"\ntarget = \"t/dst/backup/\"\ninterval = \"1h\"\n\
         [jobs.restore]\n{restore}\n",
        state = dir.path().join("state").display(),
        token = token.display(),
        url = srv.url(),
        src = src.display(),
    );
    let d = Ferryd::start_with(dir.path(), &addr, &config, env);
    let b = Browser::start(1360, 1000);
    Site {
        b,
        d,
        _dir: dir,
        src,
        _srv: srv,
    }
}

fn chmod600(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// An exec trigger: prints its lines, fails (exit 3) for backups named `bad*`, and for
/// `wait*` waits until the file `release` exists.
fn hook(dir: &Path) -> String {
    let script = format!(
        "echo \"restoring $1 as $2\"; echo 'loading collections'; \
         case \"$1\" in bad*) echo 'collection exists: drop it or use a suffix' >&2; exit 3;; \
         wait*) while [ ! -e '{}' ]; do sleep 0.2; done;; esac; echo 'done'",
        dir.join("release").display()
    );
    format!(
        "kind = \"exec\"\ncommand = [\"sh\", \"-c\", {script:?}, \"hook\", \"{{backup}}\", \"{{suffix}}\"]\n"
    )
}

impl Site {
    fn url(&self) -> String {
        format!("http://{}/", self.d.addr)
    }
    fn write(&self, name: &str, seed: u64) -> Backup {
        let b = Backup::generate(&Spec::small(name, Version::V0_5_12, seed));
        b.write(&self.src);
        b
    }
    fn job(&self) -> serde_json::Value {
        self.d.job("bk", Some(TOKEN))
    }
    fn restores(&self) -> Vec<serde_json::Value> {
        self.d
            .get("/v1/restores", Some(TOKEN))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
    fn sign_in(&self, token: &str) {
        self.b.fill("#token", token);
        self.b.click("#login-form button[type=submit]");
    }
    /// Opens the page and signs in; waits for the job.
    fn open(&self) {
        self.b.goto(&self.url());
        self.b.find("#token");
        assert!(
            self.b.visible("#login"),
            "the page asks for the token first"
        );
        self.sign_in(TOKEN);
        self.b.wait_text("#main", &["bk", "Source → target"], 20);
    }
    /// Confirms the open dialog (after filling its fields).
    fn confirm(&self) {
        self.b.wait_until("the confirmation dialog opens", 10, |b| {
            b.eval("return document.getElementById('confirm').open;") == true
        });
        self.b.click("#confirm-ok");
        self.b.wait_until("the dialog closes", 20, |b| {
            b.eval("return document.getElementById('confirm').open;") == false
        });
    }
    fn shot(&self, name: &str) {
        self.b.screenshot(&screenshot_dir().join(name));
    }
}

#[test]
fn the_page_follows_a_backup_from_syncing_to_verified_and_its_restore_to_done() {
    let tmp = tempfile::tempdir().expect("tmp");
    let pause = Pause::at("copy-before-record");
    let s = site(&hook(tmp.path()), pause.env());
    s.open();
    assert!(
        s.b.text("#main").contains("No backups seen yet"),
        "{}",
        s.b.text("#main")
    );

    // A copy stands still before its row is written: the backup shows as syncing, with the
    // bytes at the target of the bytes at the source.
    s.write("wait_1", 1);
    pause.wait("copy-before-record");
    let row = "#backup-bk-wait_1";
    let t = s.b.wait_text(row, &["wait_1", "syncing", " of ", "%"], 30);
    assert!(!t.contains("verified"), "{t}");
    let job = s.job();
    let copy = &job["backups"][0]["copy"];
    assert!(
        copy["total"].as_u64() > copy["done"].as_u64(),
        "the page's numbers come from the API: {job}"
    );
    s.shot("job-center-syncing.png");
    pause.go("copy-before-record");

    // Whole and read back: verified; its restore fires and runs until released.
    s.b.wait_text(row, &["verified", "restoring"], 60);
    let restores = s.restores();
    let id = restores[0]["id"].as_str().expect("an id").to_owned();
    let restore_row = "#restore-row-bk-wait_1-0";
    s.b.wait_text(restore_row, &[&id, "exec", "restoring"], 20);
    // The tail of the trigger's log, on demand.
    s.b.click(&format!("#log-{id}"));
    s.b.wait_text(
        &format!("{restore_row} pre"),
        &["restoring wait_1", "loading collections"],
        20,
    );
    std::fs::write(tmp.path().join("release"), b"").expect("release");
    s.b.wait_text(restore_row, &["restored"], 30);
    s.b.wait_text(row, &["verified", "restored"], 20);
    s.b.wait_text(&format!("{restore_row} pre"), &["done"], 20);
    assert_eq!(s.b.text("#live"), "live");
    // Sizes as mc prints them, times in the viewer's zone (the browser's locale format).
    let t = s.b.text(row);
    assert!(
        t.contains("KiB") || t.contains("MiB"),
        "a human size in {t:?}"
    );
    assert!(s.b.has(&format!("{row} time[datetime]")), "{t}");
    // The target's answer to the payload-hash probe (s3s refuses a wrong body).
    let facts = s.b.text("section.job dl.facts");
    assert!(
        facts.contains("checks signed SHA-256s") && facts.contains("refused it"),
        "{facts}"
    );
    s.shot("job-center.png");

    // A narrow window: the tables stack, every cell labelled by its column.
    s.b.resize(420, 900);
    let stacked = s.b.eval(
        "return getComputedStyle(document.querySelector('thead')).position === 'absolute' && \
         getComputedStyle(document.querySelector('td[data-label=\"State\"]'), '::before').content.includes('State');",
    );
    assert_eq!(stacked, true, "the narrow layout labels each cell");
    let overflow =
        s.b.eval("return document.documentElement.scrollWidth <= window.innerWidth + 1;");
    assert_eq!(overflow, true, "nothing wider than a narrow window");
    s.shot("job-center-narrow.png");
}

#[test]
fn the_buttons_sync_pause_restore_and_retry_each_after_a_confirmation() {
    let s = site(
        &format!("{}backups = [\"bad*\"]\n", hook(Path::new("/nonexistent"))),
        Vec::new(),
    );
    s.open();
    s.write("bad_1", 2);
    s.write("good_1", 3);

    // A failed restore shows its reason; Retry fires it again (and it fails again).
    let failed = "#restore-row-bk-bad_1-0";
    s.b.wait_text(failed, &["restore-failed", "exit code 3", "Retry"], 60);
    s.b.wait_text("#backup-bk-good_1", &["verified"], 60);
    s.shot("job-center-failed-restore.png");
    let id = s.restores()[0]["id"].as_str().expect("id").to_owned();
    s.b.click(&format!("#retry-{id}"));
    assert!(s.b.text("#confirm-text").contains("collection exists"));
    s.confirm();
    s.b.wait_text("#notice", &["of bad_1"], 10);
    // A retry is a new request (a new id), the failed one kept in the history.
    wait_for(Duration::from_secs(30), "the retry to fail too", || {
        s.restores().iter().any(|r| {
            r["backup"] == "bad_1"
                && r["seq"] == 1
                && r["state"] == "restore-failed"
                && r["id"] != id.as_str()
        })
    });
    s.b.wait_text(
        "#restore-row-bk-bad_1-1",
        &["restore-failed", "exit code 3"],
        20,
    );
    s.b.wait_text(failed, &["restore-failed", &id], 20);

    // Sync now, with a target check: a full run starts.
    let runs = s.job()["runs_full"].as_u64().expect("runs_full");
    s.b.click("#sync-bk");
    // Cancel first: nothing happens.
    s.b.wait_until("the dialog opens", 10, |b| {
        b.eval("return document.getElementById('confirm').open;") == true
    });
    s.b.click("#confirm-cancel");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(s.job()["runs_full"].as_u64(), Some(runs), "cancelled");
    s.b.click("#sync-bk");
    s.b.click("#field-check");
    s.confirm();
    s.b.wait_text("#notice", &["bk: sync queued", "target check"], 10);
    wait_for(Duration::from_secs(30), "a full run", || {
        let j = s.job();
        j["runs_full"].as_u64() > Some(runs) && j["last_run"]["kind"] == "reconcile"
    });

    // Pause, then resume.
    s.b.click("#pause-bk");
    s.confirm();
    wait_for(Duration::from_secs(10), "paused", || {
        s.job()["paused"] == true
    });
    s.b.wait_text("#pause-bk", &["Resume"], 10);
    s.b.wait_text("#job-bk h2", &["paused"], 10);
    s.b.click("#pause-bk");
    s.confirm();
    wait_for(Duration::from_secs(10), "resumed", || {
        s.job()["paused"] == false
    });
    s.b.wait_text("#pause-bk", &["Pause"], 10);

    // Restore a verified backup by hand, with a suffix and a rename.
    s.b.click("#restore-bk-good_1");
    s.b.fill("#field-suffix", "_bak");
    s.b.fill("#field-renames", "db1.c1:db2.c1_new");
    s.confirm();
    let mut r = serde_json::Value::Null;
    wait_for(Duration::from_secs(30), "good_1 restored", || {
        r = s
            .restores()
            .into_iter()
            .find(|r| r["backup"] == "good_1")
            .unwrap_or_default();
        r["state"] == "restored"
    });
    assert_eq!(r["suffix"], "_bak");
    assert_eq!(r["renames"][0], "db1.c1:db2.c1_new");
    assert_eq!(r["origin"], "manual");
    s.b.wait_text("#backup-bk-good_1", &["restored"], 20);

    // A refused action keeps the dialog open with the reason: good_1 was restored already.
    s.b.click("#restore-bk-good_1");
    s.b.click("#confirm-ok");
    s.b.wait_text("#confirm-error", &["restored"], 10);
    s.b.click("#confirm-cancel");
}

#[test]
fn a_wrong_token_shows_the_login_again_and_the_token_is_never_kept() {
    let mut s = site(&hook(Path::new("/nonexistent")), Vec::new());
    s.b.goto(&s.url());
    s.b.find("#token");
    s.sign_in("not-the-token-at-all");
    s.b.wait_text("#login-error", &["Wrong token"], 10);
    assert!(s.b.visible("#login"));
    assert_eq!(s.b.text("#main"), "", "nothing shown without the token");

    s.sign_in(TOKEN);
    s.b.wait_text("#main", &["bk"], 20);
    assert!(!s.b.visible("#login"));
    // The session cookie is HttpOnly; the token is in no URL and no storage.
    let kept = s.b.eval(
        "return [document.cookie, location.href, JSON.stringify(localStorage), \
         JSON.stringify(sessionStorage), document.getElementById('token').value];",
    );
    let kept = kept.to_string();
    assert!(!kept.contains(TOKEN), "{kept}");
    assert!(!kept.contains("ferry_session"), "{kept}");
    // Every input is labelled, every button named.
    let unlabelled = s.b.eval(
        "return [...document.querySelectorAll('input, textarea, button')].filter(e => \
         !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim()).length;",
    );
    assert_eq!(unlabelled, 0);

    // A reload keeps the session; a ferryd restart ends it: the login comes back.
    s.b.goto(&s.url());
    s.b.wait_text("#main", &["bk"], 20);
    s.d.sigterm();
    s.d.restart();
    s.b.wait_until("the login form again", 30, |b| b.visible("#login"));
    s.b.wait_text("#login-error", &["sign in again"], 10);
    s.sign_in(TOKEN);
    s.b.wait_text("#main", &["bk"], 20);

    // Signing out ends the session at ferryd too.
    s.b.click("#signout");
    s.b.wait_until("the login form after signing out", 10, |b| {
        b.visible("#login")
    });
    let (code, _) = request(
        &s.d.addr,
        "GET /v1/status HTTP/1.1\r\nCookie: ferry_session=x\r\n",
    );
    assert_eq!(code, 401);
}

/// One raw HTTP/1.1 request (`head`: the request line and headers, each ending in CRLF; Host
/// is added unless given): (status, body).
fn request(addr: &str, head: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let host = if head.to_ascii_lowercase().contains("\r\nhost:") {
        String::new()
    } else {
        format!("Host: {addr}\r\n")
    };
    let (head, body) = head.split_once("\r\n\r\n").unwrap_or((head, ""));
    let head = head.trim_end_matches("\r\n");
    write!(
        s,
        "{head}\r\n{host}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    ferry_tests::keep_output("api", out.as_bytes());
    (code, out)
}

/// A session cookie and its CSRF token, signed in over HTTP like the page does.
fn sign_in(addr: &str) -> (String, String) {
    let body = format!("{{\"token\":\"{TOKEN}\"}}");
    let (code, out) = request(
        addr,
        &format!("POST /ui/login HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{body}"),
    );
    assert_eq!(code, 200, "{out}");
    let cookie = out
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .expect("a cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let id = cookie
        .split(';')
        .next()
        .and_then(|c| c.strip_prefix("ferry_session="))
        .expect("session id")
        .to_owned();
    let json = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let v: serde_json::Value = serde_json::from_str(json).expect("json");
    (id, v["csrf"].as_str().expect("csrf").to_owned())
}

#[test]
fn cross_site_requests_and_foreign_hosts_are_refused() {
    let srv = S3sServer::start("AKIAPAGE2", "page-secret-2");
    srv.create_bucket("dst");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(dir.path().join("src")).expect("src");
    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).expect("token");
    chmod600(&token);
    let addr = format!("127.0.0.1:{}", free_port());
    let jobs = format!(
        "[[jobs]]\nname = \"bk\"\nsource = \"{}/\"\ntarget = \"{}/\"\ninterval = \"1h\"\n",
        dir.path().join("src").display(),
        dir.path().join("dst").display()
    );
    let state = dir.path().join("state");
    let with_token = format!(
        "state_dir = \"{}\"\n[control]\nlisten = \"{addr}\"\ntoken_file = \"{}\"\n{jobs}",
        state.display(),
        token.display()
    );
    let mut d = Ferryd::start(dir.path(), &addr, &with_token);

    // The page and its files need no token; the API does.
    assert_eq!(request(&addr, "GET / HTTP/1.1\r\n").0, 200);
    let (_, page) = request(&addr, "GET / HTTP/1.1\r\n");
    assert!(
        page.contains("content-security-policy: default-src 'none'"),
        "{page}"
    );
    assert!(!page.contains(TOKEN));
    assert_eq!(request(&addr, "GET /ui/app.js HTTP/1.1\r\n").0, 200);
    assert_eq!(request(&addr, "GET /v1/status HTTP/1.1\r\n").0, 401);
    // A wrong token at the login form: 401, no cookie.
    let (code, out) = request(
        &addr,
        "POST /ui/login HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"token\":\"nope-nope-nope-nope\"}",
    );
    assert_eq!(code, 401);
    assert!(!out.to_ascii_lowercase().contains("set-cookie"), "{out}");

    let (id, csrf) = sign_in(&addr);
    let cookie = format!("Cookie: ferry_session={id}\r\n");
    // Reading with the cookie works; so do the events.
    assert_eq!(
        request(&addr, &format!("GET /v1/status HTTP/1.1\r\n{cookie}")).0,
        200
    );
    // A change needs the CSRF header...
    let pause = format!("POST /v1/jobs/bk/pause HTTP/1.1\r\n{cookie}");
    let (code, out) = request(&addr, &pause);
    assert_eq!(code, 403, "{out}");
    assert!(out.contains("X-Ferry-CSRF"), "{out}");
    assert_eq!(
        request(&addr, &format!("{pause}X-Ferry-CSRF: {id}\r\n")).0,
        403,
        "the session id is not the CSRF token"
    );
    // ...and must not come from another site, even with it.
    let (code, out) = request(
        &addr,
        &format!("{pause}X-Ferry-CSRF: {csrf}\r\nOrigin: http://evil.example\r\n"),
    );
    assert_eq!(code, 403, "{out}");
    assert!(out.contains("evil.example"), "{out}");
    let (code, _) = request(
        &addr,
        &format!("{pause}X-Ferry-CSRF: {csrf}\r\nSec-Fetch-Site: cross-site\r\n"),
    );
    assert_eq!(code, 403);
    // A login form posted from another site is refused too.
    let (code, _) = request(
        &addr,
        &format!(
            "POST /ui/login HTTP/1.1\r\nOrigin: http://evil.example\r\n\r\n{{\"token\":\"{TOKEN}\"}}"
        ),
    );
    assert_eq!(code, 403);
    assert_eq!(d.job("bk", Some(TOKEN))["paused"], false, "nothing changed");
    let (code, out) = request(
        &addr,
        &format!(
            "{pause}X-Ferry-CSRF: {csrf}\r\nOrigin: http://{addr}\r\nSec-Fetch-Site: same-origin\r\n"
        ),
    );
    assert_eq!(code, 200, "{out}");
    assert_eq!(d.job("bk", Some(TOKEN))["paused"], true);
    // The bearer token needs no CSRF header (a browser never adds it by itself).
    let (code, _) = ferry_tests::http(&addr, "POST", "/v1/jobs/bk/resume", Some(TOKEN), b"");
    assert_eq!(code, 200);
    // Signed out: the cookie is refused.
    let (code, _) = request(
        &addr,
        &format!("POST /ui/logout HTTP/1.1\r\n{cookie}X-Ferry-CSRF: {csrf}\r\n"),
    );
    assert_eq!(code, 204);
    let (code, out) = request(&addr, &format!("GET /v1/status HTTP/1.1\r\n{cookie}"));
    assert_eq!(code, 401);
    assert!(out.contains("sign in again"), "{out}");

    // Without a token (loopback only, as before): requests addressed to another name are
    // refused (a DNS-rebinding page), loopback names and addresses answer.
    d.sigterm();
    let open = format!(
        "state_dir = \"{}\"\n[control]\nlisten = \"{addr}\"\n{jobs}",
        state.display()
    );
    std::fs::write(&d.config, open).expect("config");
    d.restart();
    assert_eq!(request(&addr, "GET /v1/status HTTP/1.1\r\n").0, 200);
    assert_eq!(
        request(&addr, "GET /v1/status HTTP/1.1\r\nHost: localhost:7870\r\n").0,
        200
    );
    let (code, out) = request(
        &addr,
        "GET /v1/status HTTP/1.1\r\nHost: rebound.evil.example\r\n",
    );
    assert_eq!(code, 403, "{out}");
    assert!(out.contains("localhost"), "{out}");
    let (code, _) = request(
        &addr,
        "POST /v1/jobs/bk/pause HTTP/1.1\r\nOrigin: http://evil.example\r\n",
    );
    assert_eq!(code, 403);
    let (_, session) = request(&addr, "GET /ui/session HTTP/1.1\r\n");
    assert!(session.contains("\"token_required\":false"), "{session}");
    drop(srv);
}
