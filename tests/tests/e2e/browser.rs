//! The real Chromium the page tests drive: Debian's `chromium` through
//! `chromedriver` (fantoccini), one fresh browser and profile per test, and
//! the waits and reads every page test needs.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use serde_json::{Value, json};

use crate::common::*;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const MOBILE_UA: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/126.0 Mobile Safari/537.36";
/// The longest any one step may take (recognition or a build on a busy 2-core machine included).
pub const WAIT: Duration = Duration::from_secs(45);

/// `target/screenshots/<page>/`, where tests save what a person can look at.
pub fn screenshot_dir(page: &str) -> PathBuf {
    let dir = workspace_root().join("target/screenshots").join(page);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether to run: chromedriver must be there (setup installs it), unless
/// `MUSEUM_SKIP_BROWSER=1` says to skip the browser tests on purpose.
pub fn chromedriver_present() -> bool {
    if std::env::var("MUSEUM_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: MUSEUM_SKIP_BROWSER=1");
        return false;
    }
    assert!(
        Path::new(CHROMEDRIVER).is_file(),
        "{CHROMEDRIVER} is not installed: run scripts/setup.sh (chromium, chromium-driver), or set MUSEUM_SKIP_BROWSER=1"
    );
    true
}

/// `chromedriver` on a free port, in a process group of its own so that
/// nothing it started outlives the test.
struct ChromeDriver {
    child: Child,
    port: u16,
}

impl ChromeDriver {
    fn start() -> Self {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and any browser a failed session left behind.
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The browser window a test runs in.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub width: u32,
    pub height: u32,
    /// Emulate a phone (touch, the mobile user agent, this pixel ratio).
    pub phone: Option<f64>,
}

/// A phone: the visitor page is designed for this viewport first (a phone's density, 780x1688 pixels).
pub const PHONE: Window = Window { width: 390, height: 844, phone: Some(2.0) };

/// A curator's desk: the museum console's first viewport.
pub const DESK: Window = Window { width: 1280, height: 900, phone: None };

/// Runs `body` with a fresh Chromium in `window`; the browser session is
/// closed and chromedriver stopped whether or not `body` panics.
/// `downloads` is where the browser saves what a page downloads.
pub async fn with_browser<F, Fut>(window: Window, downloads: Option<&Path>, body: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()>,
{
    let profile = tempfile::tempdir().unwrap();
    let driver = ChromeDriver::start();
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        format!("--user-data-dir={}", profile.path().display()),
        format!("--window-size={},{}", window.width, window.height),
        "--lang=en-US".to_owned(),
    ];
    let mut options = json!({ "binary": CHROMIUM, "args": args });
    if let Some(ratio) = window.phone {
        options["mobileEmulation"] = json!({
            "deviceMetrics": { "width": window.width, "height": window.height, "pixelRatio": ratio, "touch": true },
            "userAgent": MOBILE_UA,
        });
    }
    if let Some(dir) = downloads {
        options["prefs"] = json!({
            "download.default_directory": dir.display().to_string(),
            "download.prompt_for_download": false,
        });
    }
    let capabilities = json!({ "browserName": "chrome", "goog:chromeOptions": options });
    let Value::Object(capabilities) = capabilities else { unreachable!() };
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session");
    let outcome = AssertUnwindSafe(body(client.clone())).catch_unwind().await;
    if let Err(e) = client.close().await {
        eprintln!("closing the browser: {e}");
    }
    drop(driver);
    drop(profile);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `script` until it returns something other than null or false.
pub async fn wait_for(client: &Client, what: &str, script: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = client.execute(script, vec![]).await.unwrap();
        if !value.is_null() && value != Value::Bool(false) {
            return value;
        }
        if Instant::now() > deadline {
            let page = client.execute("return document.body.innerText", vec![]).await.unwrap_or_default();
            panic!("timed out after {WAIT:?} waiting for {what}; the page says:\n{}", page.as_str().unwrap_or(""));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn text_of(client: &Client, css: &str) -> String {
    client.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

pub async fn attr_of(client: &Client, css: &str, name: &str) -> String {
    let element = client.find(Locator::Css(css)).await.unwrap();
    element.attr(name).await.unwrap().unwrap_or_else(|| panic!("{css} has no {name} attribute"))
}
