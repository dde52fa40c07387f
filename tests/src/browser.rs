//! A real browser for the job center's tests: Debian's headless Chromium driven through
//! chromedriver (WebDriver, via fantoccini). Blocking methods over an owned runtime, so tests
//! read like the other end-to-end tests. Both programs come from `scripts/setup.sh`
//! (packages `chromium` and `chromium-driver`); without them the tests fail, never skip.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// One headless Chromium session; the driver is killed on drop.
pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").finish_non_exhaustive()
    }
}

/// What a test waits for went wrong.
fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    panic!("browser: {what}: {e}")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a window of `width` × `height`.
    pub fn start(width: u32, height: u32) -> Browser {
        for (bin, pkg) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: run scripts/setup.sh (Debian package {pkg})"
            );
        }
        let port = crate::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| fail("start chromedriver", e));
        let profile = tempfile::tempdir().expect("profile dir");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions",
                    "--lang=en-US", "--force-device-scale-factor=1",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = rt.block_on(async {
            loop {
                match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps.clone())
                    .connect(&url)
                    .await
                {
                    Ok(c) => break c,
                    Err(e) if Instant::now() > deadline => fail("connect to chromedriver", e),
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Browser {
            rt,
            client: Some(client),
            driver,
            _profile: profile,
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().expect("a session")
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.rt
            .block_on(self.c().goto(url))
            .unwrap_or_else(|e| fail(&format!("open {url}"), e));
    }

    /// Resizes the window.
    pub fn resize(&self, width: u32, height: u32) {
        self.rt
            .block_on(self.c().set_window_size(width, height))
            .unwrap_or_else(|e| fail("resize", e));
    }

    /// The first element matching `css`, waited for up to 20 s.
    pub fn find(&self, css: &str) -> Element {
        let c = self.c();
        self.rt
            .block_on(async {
                c.wait()
                    .at_most(Duration::from_secs(20))
                    .for_element(Locator::Css(css))
                    .await
            })
            .unwrap_or_else(|e| fail(&format!("find {css}"), e))
    }

    /// Whether an element matching `css` is there now.
    pub fn has(&self, css: &str) -> bool {
        self.rt
            .block_on(self.c().find_all(Locator::Css(css)))
            .is_ok_and(|v| !v.is_empty())
    }

    /// Clicks the element matching `css`.
    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.rt
            .block_on(e.click())
            .unwrap_or_else(|err| fail(&format!("click {css}"), err));
    }

    /// Types `text` into the element matching `css` (after clearing it).
    pub fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.rt
            .block_on(async {
                e.clear().await?;
                e.send_keys(text).await
            })
            .unwrap_or_else(|err| fail(&format!("type into {css}"), err));
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub fn eval(&self, script: &str) -> serde_json::Value {
        self.rt
            .block_on(self.c().execute(script, Vec::new()))
            .unwrap_or_else(|e| fail(&format!("run {script}"), e))
    }

    /// The rendered text of the element matching `css` ("" when there is none).
    pub fn text(&self, css: &str) -> String {
        let sel = serde_json::to_string(css).expect("json");
        self.eval(&format!(
            "const e = document.querySelector({sel}); return e ? e.innerText : '';"
        ))
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Whether the element matching `css` is shown (present, not hidden).
    pub fn visible(&self, css: &str) -> bool {
        let sel = serde_json::to_string(css).expect("json");
        self.eval(&format!(
            "const e = document.querySelector({sel}); return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0;"
        ))
        .as_bool()
        .unwrap_or(false)
    }

    /// Waits until the text of `css` contains every one of `needles`; panics with the text
    /// last seen.
    pub fn wait_text(&self, css: &str, needles: &[&str], secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let t = self.text(css);
            if needles.iter().all(|n| t.contains(n)) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "browser: {css} never showed {needles:?} in {secs} s; it shows:\n{t}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until `check()` holds.
    pub fn wait_until(&self, what: &str, secs: u64, mut check: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !check(self) {
            assert!(
                Instant::now() < deadline,
                "browser: {what} (waited {secs} s)"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A PNG of the window, saved to `path`.
    pub fn screenshot(&self, path: &Path) {
        let png = self
            .rt
            .block_on(self.c().screenshot())
            .unwrap_or_else(|e| fail("screenshot", e));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(10), c.close()).await });
        }
        crate::kill_group(&mut self.driver);
    }
}

/// Where a test keeps its screenshots: `FERRY_SCREENSHOTS` (to refresh docs/img), else the
/// test's output folder, else a temporary folder.
pub fn screenshot_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FERRY_SCREENSHOTS") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("FERRY_TEST_OUTPUT_DIR") {
        return PathBuf::from(d).join("screenshots");
    }
    std::env::temp_dir().join("ferry-screenshots")
}
