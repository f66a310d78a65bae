//! The web page in headless Chromium: two browsers sign in as one user, one presses "Logout from
//! all devices", the other shows "Signed out: this session was revoked" within 5 seconds, without
//! a reload; and three browsers of one user work the device list (sign one out, the others, then
//! log out). Screenshots go to `target/demo-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/install-browser`); without them the
//! test says it is skipped, unless `JWT_CUTOFF_REQUIRE_SERVERS=1`. WebDriver is spoken directly: a
//! few JSON requests over HTTP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Demo, Http, skip};
use tokio::process::{Child, Command};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_from_all_devices_in_two_browsers() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        return skip("chromium not installed (run scripts/install-browser)");
    }
    let dir = tempfile::tempdir().unwrap();
    // Access tokens of 2 s: the pages must refresh them while they poll.
    let demo = Demo::start(
        dir.path(),
        &["--database", "sqlite::memory:", "--access-ttl", "2s"],
        &[],
    )
    .await;
    let page = format!("http://{}/", demo.http_addr);
    let driver = Driver::start().await;

    let first = driver.session(&dir.path().join("profile-1")).await;
    let second = driver.session(&dir.path().join("profile-2")).await;
    let screenshots = screenshot_dir();

    // The first browser signs up (which logs in), the second logs in.
    for (browser, button) in [(&first, "#signup"), (&second, "#login")] {
        browser.navigate(&page).await;
        browser.type_into("#username", "heidi").await;
        browser.type_into("#password", "password1").await;
        browser.click(button).await;
        browser
            .wait_for_text("#status", "Signed in as heidi", Duration::from_secs(30))
            .await;
    }

    // Past the access token's lifetime (2 s plus 5 s of leeway) the pages are still signed in:
    // they refreshed the pair.
    tokio::time::sleep(Duration::from_secs(9)).await;
    for browser in [&first, &second] {
        let log = browser.text("#log").await;
        assert!(log.contains("POST /auth/refresh → 200"), "{log}");
        browser
            .wait_for_text("#status", "Signed in as heidi", Duration::from_secs(5))
            .await;
    }
    second
        .screenshot(&screenshots.join("2-second-signed-in.png"))
        .await;

    // The first page's access token stops working just before the click, as it does between its
    // expiry and the next poll: the logout must refresh the pair and go through, not give up.
    first
        .execute("tokens.access = tokens.access.slice(0, -4) + 'AAAA';")
        .await;
    // The first browser logs out from all devices; the button has exactly this label.
    let button = first
        .find(
            "xpath",
            "//button[normalize-space(.)='Logout from all devices']",
        )
        .await;
    first.click_element(&button).await;
    let clicked = Instant::now();
    let revoked = second
        .wait_for_text(
            "#status",
            "Signed out: this session was revoked",
            Duration::from_secs(5),
        )
        .await;
    println!(
        "the other browser showed the revoked state {:?} after the click",
        clicked.elapsed()
    );
    first
        .wait_for_text(
            "#status",
            "Signed out from all devices",
            Duration::from_secs(5),
        )
        .await;
    first
        .screenshot(&screenshots.join("1-first-clicked-logout-all.png"))
        .await;
    second
        .screenshot(&screenshots.join("2-second-revoked.png"))
        .await;
    assert!(revoked.contains("Signed out: this session was revoked"));
    // Both are back to the sign-in form, without a reload.
    assert!(second.displayed("#login").await);
    assert!(!second.displayed("#logout-all").await);

    first.close().await;
    second.close().await;
}

/// Three browsers sign in as one user: each lists the three devices, itself as "This device";
/// one signs another out with that row's button, another signs out the other devices, then logs
/// itself out; each device signed out shows so within 5 seconds, and the lists follow, without a
/// reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_list_in_three_browsers() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        return skip("chromium not installed (run scripts/install-browser)");
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path(), &["--database", "sqlite::memory:"], &[]).await;
    let page = format!("http://{}/", demo.http_addr);
    let driver = Driver::start().await;
    let screenshots = screenshot_dir();
    let mut browsers = Vec::new();
    for (n, button) in ["#signup", "#login", "#login"].into_iter().enumerate() {
        let browser = driver
            .session(&dir.path().join(format!("devices-{n}")))
            .await;
        browser.navigate(&page).await;
        browser.type_into("#username", "ivan").await;
        browser.type_into("#password", "password1").await;
        browser.click(button).await;
        browser
            .wait_for_text("#status", "Signed in as ivan", Duration::from_secs(30))
            .await;
        browsers.push(browser);
    }
    let [first, second, third] = <[Session; 3]>::try_from(browsers).ok().unwrap();
    const ROWS: &str = "#devices li[data-session-id]";
    for browser in [&first, &second, &third] {
        browser
            .wait_for_count(ROWS, 3, Duration::from_secs(5))
            .await;
        browser
            .wait_for_text("#devices", "This device", Duration::from_secs(5))
            .await;
        // Exactly one row is this device, and each other row has a "Sign out" button.
        assert_eq!(browser.count("#devices li button").await, 2);
    }
    first
        .screenshot(&screenshots.join("3-device-list.png"))
        .await;

    // The first browser signs the third out, by the third's row.
    let third_id = third
        .attribute(
            "//li[@data-session-id][.//*[normalize-space(.)='This device']]",
            "data-session-id",
        )
        .await;
    first
        .click(&format!("#devices li[data-session-id='{third_id}'] button"))
        .await;
    third
        .wait_for_text(
            "#status",
            "Signed out: this session was revoked",
            Duration::from_secs(5),
        )
        .await;
    for browser in [&first, &second] {
        browser
            .wait_for_count(ROWS, 2, Duration::from_secs(5))
            .await;
    }

    // The second signs out the other devices: the first goes, the second stays.
    let others = second
        .find(
            "xpath",
            "//button[normalize-space(.)='Sign out other devices']",
        )
        .await;
    second.click_element(&others).await;
    first
        .wait_for_text(
            "#status",
            "Signed out: this session was revoked",
            Duration::from_secs(5),
        )
        .await;
    second.wait_for_count(ROWS, 1, Duration::from_secs(5)).await;
    second
        .wait_for_text("#status", "Signed in as ivan", Duration::from_secs(5))
        .await;
    second
        .screenshot(&screenshots.join("4-others-signed-out.png"))
        .await;

    // "Log out" on the second: its session is revoked, the page back to the sign-in form.
    let logout = second
        .find("xpath", "//button[normalize-space(.)='Log out']")
        .await;
    second.click_element(&logout).await;
    second
        .wait_for_text(
            "#status",
            "Logged out on this device",
            Duration::from_secs(5),
        )
        .await;
    assert!(second.displayed("#login").await);
    for browser in [first, second, third] {
        browser.close().await;
    }
}

/// `target/demo-screenshots/`, created.
fn screenshot_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .to_path_buf();
    let dir = target.join("demo-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A chromedriver process on a free port; killed when dropped.
struct Driver {
    _child: Child,
    http: Http,
}

impl Driver {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let http = Http::new(([127, 0, 0, 1], port).into());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(answer) = http.try_get("/status").await
                && answer.json["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not get ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self {
            _child: child,
            http,
        }
    }

    /// A new browser with its own profile: its own storage, so a second "device".
    async fn session(&self, profile: &Path) -> Session {
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--window-size=900,1000",
                            format!("--user-data-dir={}", profile.display()),
                        ],
                    },
                },
            },
        });
        let answer = self.http.post("/session", None, &capabilities).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "new session: {}",
            answer.text
        );
        let id = answer.json["value"]["sessionId"].as_str().unwrap();
        Session {
            http: self.http.clone(),
            base: format!("/session/{id}"),
        }
    }
}

/// One browser, driven over WebDriver.
struct Session {
    http: Http,
    base: String,
}

impl Session {
    async fn command(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|body| body.to_string());
        let answer = self
            .http
            .send(
                method,
                &format!("{}{path}", self.base),
                None,
                body.as_deref(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text);
        answer.json["value"].clone()
    }

    async fn navigate(&self, url: &str) {
        self.command(Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn find(&self, using: &str, value: &str) -> String {
        let found = self
            .command(
                Method::POST,
                "/element",
                Some(json!({ "using": using, "value": value })),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    /// How many elements `selector` finds.
    async fn count(&self, selector: &str) -> usize {
        let found = self
            .command(
                Method::POST,
                "/elements",
                Some(json!({ "using": "css selector", "value": selector })),
            )
            .await;
        found.as_array().map_or(0, Vec::len)
    }

    /// Polls until `selector` finds exactly `count` elements.
    async fn wait_for_count(&self, selector: &str, count: usize, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let found = self.count(selector).await;
            if found == count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{selector} found {found} elements, not {count}, within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The attribute `name` of the element the XPath `xpath` finds.
    async fn attribute(&self, xpath: &str, name: &str) -> String {
        let element = self.find("xpath", xpath).await;
        let value = self
            .command(
                Method::GET,
                &format!("/element/{element}/attribute/{name}"),
                None,
            )
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    async fn css(&self, selector: &str) -> String {
        self.find("css selector", selector).await
    }

    async fn click(&self, selector: &str) {
        let element = self.css(selector).await;
        self.click_element(&element).await;
    }

    /// Runs `script` in the page, as a function body.
    async fn execute(&self, script: &str) {
        self.command(
            Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await;
    }

    async fn click_element(&self, element: &str) {
        self.command(
            Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn type_into(&self, selector: &str, text: &str) {
        let element = self.css(selector).await;
        self.command(
            Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn text(&self, selector: &str) -> String {
        let element = self.css(selector).await;
        let text = self
            .command(Method::GET, &format!("/element/{element}/text"), None)
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    async fn displayed(&self, selector: &str) -> bool {
        let element = self.css(selector).await;
        let shown = self
            .command(Method::GET, &format!("/element/{element}/displayed"), None)
            .await;
        shown == true
    }

    /// Polls the element's text until it contains `expected`; returns the text.
    async fn wait_for_text(&self, selector: &str, expected: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let text = self.text(selector).await;
            if text.contains(expected) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{selector} did not show {expected:?} within {within:?}; it shows {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn screenshot(&self, path: &Path) {
        let png = self.command(Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(path, bytes).unwrap();
        println!("screenshot: {}", path.display());
    }

    async fn close(self) {
        self.command(Method::DELETE, "", None).await;
    }
}
