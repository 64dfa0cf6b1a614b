//! Real Chromium through chromedriver and fantoccini: chromedriver runs in its own process group
//! on a free port, each session gets a fresh profile, and everything is killed on Drop.

use anyhow::{Context, Result, bail};
use fantoccini::error::NewSessionError;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::{ChildGuard, free_port, wait_for_tcp};

/// Where a tool is: `$VAR` if set, else the first `name` on `PATH`, else Debian's path.
fn tool(var: &str, name: &str, debian: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| PathBuf::from(debian))
}

/// A chromedriver that sessions are opened on.
#[derive(Debug)]
pub struct Browser {
    url: String,
    chromium: PathBuf,
    profiles: Vec<PathBuf>,
    _driver: ChildGuard,
}

impl Browser {
    pub fn start() -> Result<Self> {
        let chromedriver = tool("CHROMEDRIVER", "chromedriver", "/usr/bin/chromedriver");
        let chromium = tool("CHROMIUM", "chromium", "/usr/bin/chromium");
        for path in [&chromedriver, &chromium] {
            if !path.exists() {
                bail!(
                    "{} is missing: run `just setup` (Debian's chromium and chromium-driver)",
                    path.display()
                );
            }
        }
        let port = free_port()?;
        let mut command = Command::new(&chromedriver);
        command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let driver = ChildGuard::spawn("chromedriver", command)?;
        wait_for_tcp(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(20),
        )?;
        Ok(Self {
            url: format!("http://127.0.0.1:{port}"),
            chromium,
            profiles: Vec::new(),
            _driver: driver,
        })
    }

    /// A new, independent browser (its own profile, so its own localStorage) with a window of
    /// `width` × `height` CSS pixels.
    pub async fn session(&mut self, width: u32, height: u32) -> Result<Client> {
        self.open(width, height, false).await
    }

    /// Like [`Browser::session`], emulating a phone's screen (headless windows cannot be
    /// narrower than 500 px, so the viewport is set by device emulation).
    pub async fn phone(&mut self, width: u32, height: u32) -> Result<Client> {
        self.open(width, height, true).await
    }

    async fn open(&mut self, width: u32, height: u32, phone: bool) -> Result<Client> {
        let profile = std::env::temp_dir().join(testkit::unique("e2e-chromium"));
        std::fs::create_dir_all(&profile)?;
        self.profiles.push(profile.clone());
        let capabilities = json!({
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--disable-crash-reporter",
                    "--disable-breakpad",
                    format!("--user-data-dir={}", profile.display()),
                    format!("--window-size={width},{height}"),
                    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                ],
            },
        });
        let mut capabilities = capabilities;
        if phone {
            capabilities["goog:chromeOptions"]["mobileEmulation"] = json!({
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 2, "touch": true},
            });
        }
        let serde_json::Value::Object(capabilities) = capabilities else {
            bail!("capabilities must be an object");
        };
        // chromedriver answers its port before it serves sessions, and on a loaded machine the
        // first request can be refused: a refused connection is tried again, briefly.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&self.url)
                .await
            {
                Ok(client) => return Ok(client),
                Err(e @ (NewSessionError::FailedC(_) | NewSessionError::Lost(_)))
                    if attempt < 5 =>
                {
                    eprintln!("chromedriver refused a session ({e}); trying again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e).context("opening a Chromium session"),
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        for profile in &self.profiles {
            let _ = std::fs::remove_dir_all(profile);
        }
    }
}

/// The page's console messages, through chromedriver's log endpoint.
pub async fn console_log(page: &Client) -> Result<Vec<String>> {
    let log = page
        .issue_cmd(ChromedriverPost {
            path: "se/log",
            body: json!({"type": "browser"}),
        })
        .await?;
    Ok(log
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    format!(
                        "{} {}",
                        e["level"].as_str().unwrap_or("?"),
                        e["message"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Runs the DevTools command `cmd` with `params` on `page`'s tab (throttling, scripts installed
/// before the page's own), through chromedriver's `goog/cdp/execute`.
pub async fn cdp(page: &Client, cmd: &'static str, params: serde_json::Value) -> Result<()> {
    page.issue_cmd(ChromedriverPost {
        path: "goog/cdp/execute",
        body: json!({"cmd": cmd, "params": params}),
    })
    .await
    .with_context(|| format!("DevTools command {cmd}"))?;
    Ok(())
}

/// A chromedriver extension that WebDriver does not have: `POST /session/{id}/{path}` with a
/// JSON body.
#[derive(Debug)]
struct ChromedriverPost {
    path: &'static str,
    body: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for ChromedriverPost {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> std::result::Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (hyper::Method, Option<String>) {
        (hyper::Method::POST, Some(self.body.to_string()))
    }
}

/// Collects the pages of one scenario, and when it fails saves each page's screenshot and
/// console log under `target/e2e-artifacts/`.
#[derive(Debug)]
pub struct Recorder {
    scenario: String,
    pages: Vec<(String, Client)>,
}

impl Recorder {
    pub fn new(scenario: &str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            pages: Vec::new(),
        }
    }

    /// Registers `page` under `name` and hands it back.
    pub fn add(&mut self, name: &str, page: Client) -> Client {
        self.pages.push((name.to_owned(), page.clone()));
        page
    }

    /// Passes `result` through; on failure, first saves the artifacts and says where.
    pub async fn finish(self, result: Result<()>) -> Result<()> {
        if let Err(error) = result {
            let dir = testkit::workspace_root().join("target/e2e-artifacts");
            let _ = std::fs::create_dir_all(&dir);
            for (name, page) in &self.pages {
                let stem = dir.join(format!("{}-{name}", self.scenario));
                if let Ok(png) = page.screenshot().await {
                    let _ = std::fs::write(stem.with_extension("png"), png);
                }
                let log = console_log(page).await.unwrap_or_default();
                let _ = std::fs::write(stem.with_extension("console.log"), log.join("\n"));
            }
            for (_, page) in self.pages {
                let _ = page.close().await;
            }
            return Err(error.context(format!(
                "scenario {} failed; screenshots and console logs in {}",
                self.scenario,
                dir.display()
            )));
        }
        for (_, page) in self.pages {
            let _ = page.close().await;
        }
        Ok(())
    }
}

/// Saves a PNG of the page under `target/e2e-artifacts/NAME.png`.
pub async fn screenshot(page: &Client, name: &str) -> Result<PathBuf> {
    let dir = testkit::workspace_root().join("target/e2e-artifacts");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, page.screenshot().await?)?;
    Ok(path)
}

/// Polls `probe` every `every` until it says done (`Ok(Ok(value))`) or `wait` has passed, and
/// then fails with the probe's last word on why not (`Ok(Err(why))`). A WebDriver error fails at
/// once, except a stale element: the page re-rendered it between finding and reading it, which
/// is the change a wait is for, so it looks again.
pub async fn eventually<T, F, Fut>(wait: Duration, every: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<std::result::Result<T, String>>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let why = match probe().await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(why)) => why,
            Err(e) if is_stale(&e) => format!("the page kept changing: {e:#}"),
            Err(e) => return Err(e),
        };
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "{why}");
        tokio::time::sleep(every).await;
    }
}

/// Whether `error` is WebDriver's "stale element reference".
fn is_stale(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<fantoccini::error::CmdError>()
        .is_some_and(fantoccini::error::CmdError::is_stale_element_reference)
}
