//! `just bench-web`: the web client's cold load on a phone over a slow 4G connection, measured
//! in headless Chromium. It starts the local stack, puts one message in a room, and loads the
//! room page several times, each time in a fresh browser profile with the cache off, with the
//! network and CPU throttled through the DevTools protocol (chromedriver's `goog/cdp/execute`).
//! Per load it reads the first contentful paint (the page's own `PerformanceObserver` entry) and
//! the time the message was on screen, both from navigation start by the page's clock.
//!
//! The second figure is found by polling every 20 ms, so it is late by up to that much plus one
//! WebDriver round trip; the medians are what to compare. This is a benchmark, not a test:
//! it asserts nothing about time.

use anyhow::{Context, Result, bail};
use e2e::{Browser, Chat, ChatStack, WorkerOptions};
use fantoccini::Client;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Lighthouse's "slow 4G" mobile profile: 150 ms round trips, 1.6 Mbit/s down, 750 kbit/s up,
/// and a CPU four times slower than this machine's.
const LATENCY_MS: u32 = 150;
const DOWN_BYTES_PER_S: f64 = 1.6 * 1024.0 * 1024.0 / 8.0;
const UP_BYTES_PER_S: f64 = 750.0 * 1024.0 / 8.0;
const CPU_SLOWDOWN: u32 = 4;
/// Cold loads measured per run.
const LOADS: usize = 5;
const MESSAGE: &str = "Hello from the benchmark";

/// One DevTools command sent through chromedriver.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({"cmd": self.cmd, "params": self.params});
        (http::Method::POST, Some(body.to_string()))
    }
}

async fn cdp(page: &Client, cmd: &'static str, params: Value) -> Result<()> {
    page.issue_cmd(Cdp { cmd, params })
        .await
        .with_context(|| format!("DevTools command {cmd}"))?;
    Ok(())
}

/// What one cold load showed, in ms from navigation start.
#[derive(Debug, Clone, Copy)]
struct Load {
    first_contentful_paint: f64,
    first_message: f64,
}

async fn cold_load(browser: &mut Browser, base: &str, room: &str) -> Result<Load> {
    let page = browser.phone(390, 844).await?;
    // A name is needed for the chat to join; it is set on a page of the same origin that loads
    // none of the client, so the cache holds nothing of it (and is off anyway).
    page.goto(&format!("{base}/api/health")).await?;
    page.execute(
        "localStorage.setItem('edge-chat.name', 'bench'); return true;",
        vec![],
    )
    .await?;
    cdp(&page, "Network.enable", json!({})).await?;
    cdp(
        &page,
        "Network.setCacheDisabled",
        json!({"cacheDisabled": true}),
    )
    .await?;
    cdp(
        &page,
        "Network.emulateNetworkConditions",
        json!({
            "offline": false,
            "latency": LATENCY_MS,
            "downloadThroughput": DOWN_BYTES_PER_S,
            "uploadThroughput": UP_BYTES_PER_S,
        }),
    )
    .await?;
    cdp(
        &page,
        "Emulation.setCPUThrottlingRate",
        json!({"rate": CPU_SLOWDOWN}),
    )
    .await?;
    page.goto(&format!("{base}/r/{room}")).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let found = loop {
        let seen = page
            .execute(
                "const texts = [...document.querySelectorAll('.bubble .text')] \
                   .map((e) => e.textContent); \
                 const paint = performance.getEntriesByName('first-contentful-paint')[0]; \
                 return [texts.includes(arguments[0]) ? performance.now() : null, \
                         paint ? paint.startTime : null];",
                vec![json!(MESSAGE)],
            )
            .await?;
        if let (Some(message), Some(paint)) = (seen[0].as_f64(), seen[1].as_f64()) {
            break Load {
                first_contentful_paint: paint,
                first_message: message,
            };
        }
        if Instant::now() > deadline {
            bail!("the message was not on screen within 60 s: {seen}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    page.close().await?;
    Ok(found)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn gzip_size(path: &str) -> Result<u64> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -9 -c {path} | wc -c"))
        .output()
        .with_context(|| format!("compressing {path}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

#[tokio::main]
async fn main() -> Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docs/bench/web-load.json".to_owned());
    let stack = ChatStack::start(WorkerOptions::unlimited()).await?;
    let room = testkit::unique("load");
    let (mut chat, _) = Chat::join(&stack.ws_url(&room), "ada", "ada-000001", None).await?;
    chat.say(&testkit::unique("m"), MESSAGE).await?;
    let mut browser = Browser::start()?;
    let mut loads = Vec::new();
    for n in 1..=LOADS {
        let load = cold_load(&mut browser, &stack.base_url(), &room).await?;
        eprintln!(
            "load {n}: first contentful paint {:.0} ms, message on screen {:.0} ms",
            load.first_contentful_paint, load.first_message
        );
        loads.push(load);
    }
    let client_gzip =
        gzip_size("apps/web/dist/pkg/web_bg.wasm")? + gzip_size("apps/web/dist/pkg/web.js")?;
    let paint = median(loads.iter().map(|l| l.first_contentful_paint).collect());
    let message = median(loads.iter().map(|l| l.first_message).collect());
    println!(
        "cold load, phone on slow 4G ({LATENCY_MS} ms RTT, 1.6 Mbit/s down, CPU ×{CPU_SLOWDOWN}), \
         median of {LOADS}: first contentful paint {paint:.0} ms, first message on screen \
         {message:.0} ms; client {client_gzip} B gzip"
    );
    let report = json!({
        "network": {"latency_ms": LATENCY_MS, "down_bytes_per_s": DOWN_BYTES_PER_S,
                    "up_bytes_per_s": UP_BYTES_PER_S, "cpu_slowdown": CPU_SLOWDOWN},
        "client_gzip_bytes": client_gzip,
        "loads": loads.iter().map(|l| json!({
            "first_contentful_paint_ms": l.first_contentful_paint,
            "first_message_ms": l.first_message,
        })).collect::<Vec<_>>(),
        "median_first_contentful_paint_ms": paint,
        "median_first_message_ms": message,
    });
    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
    println!("wrote {out}");
    Ok(())
}
