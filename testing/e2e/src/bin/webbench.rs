//! `just bench-web`: the web client measured in headless Chromium, in two parts. This is a
//! benchmark, not a test: it asserts nothing about time.
//!
//! `load`: the cold load on a phone over a slow 4G connection. It starts the local stack, puts
//! one message in a room, and loads the room page several times, each time in a fresh browser
//! profile with the cache off, with the network and CPU throttled through the DevTools protocol
//! (chromedriver's `goog/cdp/execute`). Per load it reads the first contentful paint (the page's
//! own paint entry) and the time the message was on screen, both from navigation start by the
//! page's clock. The second figure is found by polling every 20 ms, so it is late by up to that
//! much plus one WebDriver round trip; the medians are what to compare. `paint` is the same
//! without waiting for the message, for a client that cannot join this Worker.
//!
//! `rows`: what one incoming message costs the page when the list is long. A script installed
//! before the page's own wraps `WebSocket` so that each marked frame is timed as it arrives,
//! before the app's handler runs; a `MutationObserver` times when its bubble is in the DOM, and
//! the next animation frame after that when the browser could paint it. Marks are sent with one
//! message in the list, then again after 5000 more messages have arrived.

use anyhow::{Context, Result, bail};
use e2e::{Browser, Chat, ChatStack, WorkerOptions, cdp, eventually};
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
/// How often the page is polled where a time is read when a poll sees something.
const POLL: Duration = Duration::from_millis(20);

/// What one cold load showed, in ms from navigation start.
#[derive(Debug, Clone, Copy)]
struct Load {
    first_contentful_paint: f64,
    /// `None` in the `paint` part, which does not wait for it.
    first_message: Option<f64>,
}

async fn cold_load(
    browser: &mut Browser,
    base: &str,
    room: &str,
    wait_for_message: bool,
) -> Result<Load> {
    let page = browser.phone(390, 844).await?;
    name_the_user(&page, base).await?;
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
    // Polled often: the message's time is read when a poll sees it.
    let found = eventually(Duration::from_secs(60), POLL, || async {
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
        let message = seen[0].as_f64();
        Ok(match seen[1].as_f64() {
            Some(paint) if message.is_some() || !wait_for_message => Ok(Load {
                first_contentful_paint: paint,
                first_message: message,
            }),
            _ => Err(format!("the message was not on screen within 60 s: {seen}")),
        })
    })
    .await?;
    page.close().await?;
    Ok(found)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A name is needed for the chat to join: it is set on a page of the same origin that loads
/// none of the client, so the cache holds nothing of it.
async fn name_the_user(page: &Client, base: &str) -> Result<()> {
    page.goto(&format!("{base}/api/health")).await?;
    page.execute(
        "localStorage.setItem('edge-chat.name', 'bench'); return true;",
        vec![],
    )
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let part = args.next().unwrap_or_default();
    let out = args.next();
    match part.as_str() {
        "load" => {
            let out = out.unwrap_or_else(|| "docs/bench/web-load.json".to_owned());
            load(&out, true).await
        }
        // The first paint alone, for a client that cannot join this Worker (an older protocol).
        "paint" => {
            let out = out.unwrap_or_else(|| "docs/bench/web-paint.json".to_owned());
            load(&out, false).await
        }
        "rows" => rows(&out.unwrap_or_else(|| "docs/bench/web-rows.json".to_owned())).await,
        _ => bail!("usage: webbench load|paint|rows [OUT.json]"),
    }
}

fn write_report(out: &str, report: &Value) -> Result<()> {
    if let Some(dir) = std::path::Path::new(out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, serde_json::to_string_pretty(report)?)?;
    println!("wrote {out}");
    Ok(())
}

/// Wraps `WebSocket` before the app runs: every frame that carries a mark is timed on arrival,
/// ahead of the app's own handler (listeners run in the order they were added).
const TIME_MARKS: &str = r#"
(() => {
  const Native = window.WebSocket;
  window.__marks = {};
  function Timed(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    ws.addEventListener('message', (e) => {
      if (typeof e.data !== 'string') return;
      let m = e.data.match(/bench-mark-(\d+)\./);
      if (m) window.__marks[m[1]] = { received: performance.now() };
      m = e.data.includes('"type":"typing"') && e.data.match(/typist-(\d+)"/);
      if (m) window.__marks['t' + m[1]] = { received: performance.now() };
    });
    return ws;
  }
  Timed.prototype = Native.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Timed[k] = Native[k];
  window.WebSocket = Timed;
  // A bubble's text may be added inside an element already in place, or as its own text
  // node, so every added node and every changed text is looked at. The mark ends with a dot:
  // a row's text runs on into its time ("…mark-013:24").
  const hit = (key) => {
    const mark = key && window.__marks[key];
    if (mark && mark.shown === undefined) {
      mark.shown = performance.now();
      requestAnimationFrame(() => { mark.frame = performance.now(); });
    }
  };
  const look = (text) => {
    if (!text) return;
    const m = text.match(/bench-mark-(\d+)\./);
    hit(m && m[1]);
    const t = text.match(/typist-(\d+) is typing/);
    hit(t && 't' + t[1]);
  };
  try { new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'characterData') look(r.target.data);
      for (const node of r.addedNodes) look(node.textContent);
    }
  }).observe(document, { childList: true, subtree: true, characterData: true }); } catch (e) { window.__err = String(e); }
})();
"#;

/// One mark's timings in ms from the frame's arrival.
#[derive(Debug, Clone, Copy)]
struct Mark {
    in_dom: f64,
    next_frame: f64,
}

/// Sends mark `n` from `chat` and waits until the page has timed it.
async fn mark(page: &Client, chat: &mut Chat, n: usize) -> Result<Mark> {
    chat.say(&testkit::unique("mark"), &format!("bench-mark-{n}."))
        .await?;
    timed(page, &n.to_string()).await
}

/// A new member `typist-n` starts typing; waits until the page has timed its notice, then
/// stops typing so the next typist is the only one.
async fn typing_mark(page: &Client, url: &str, n: usize) -> Result<Mark> {
    let name = format!("typist-{n}");
    let (mut typist, _) = Chat::join(url, &name, &format!("{name}-secret"), None).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    typist
        .send(&protocol::ClientFrame::Typing { active: true })
        .await?;
    let mark = timed(page, &format!("t{n}")).await?;
    typist
        .send(&protocol::ClientFrame::Typing { active: false })
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(mark)
}

/// Waits until the page has timed the mark `key`.
async fn timed(page: &Client, key: &str) -> Result<Mark> {
    eventually(Duration::from_secs(30), POLL, || async {
        let got = page
            .execute(
                "const m = window.__marks[arguments[0]]; \
                 return m && m.frame !== undefined ? [m.shown - m.received, m.frame - m.received] : null;",
                vec![json!(key)],
            )
            .await?;
        if let (Some(in_dom), Some(next_frame)) = (got[0].as_f64(), got[1].as_f64()) {
            return Ok(Ok(Mark { in_dom, next_frame }));
        }
        let state = page
            .execute("return JSON.stringify(window.__marks);", vec![])
            .await?;
        Ok(Err(format!("mark {key} was not timed within 30 s: {state}")))
    })
    .await
}

/// Rows in the page's message list.
async fn bubbles(page: &Client) -> Result<u64> {
    let count = page
        .execute(
            "return document.querySelectorAll('.message-list li.bubble').length;",
            vec![],
        )
        .await?;
    count.as_u64().context("a count")
}

const MARKS: usize = 7;
const FILL: usize = 5000;

/// Message marks and typing marks, [`MARKS`] of each.
async fn marks(
    page: &Client,
    chat: &mut Chat,
    url: &str,
    first: usize,
) -> Result<(Vec<Mark>, Vec<Mark>)> {
    let mut messages = Vec::new();
    let mut typing = Vec::new();
    for n in first..first + MARKS {
        messages.push(mark(page, chat, n).await?);
        tokio::time::sleep(Duration::from_millis(200)).await;
        typing.push(typing_mark(page, url, n).await?);
    }
    Ok((messages, typing))
}

async fn rows(out: &str) -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::unlimited()).await?;
    let room = testkit::unique("rows");
    let url = stack.ws_url(&room);
    let (mut ada, _) = Chat::join(&url, "ada", "ada-000001", None).await?;
    ada.say(&testkit::unique("m"), MESSAGE).await?;
    let mut browser = Browser::start()?;
    let page = browser.session(1280, 900).await?;
    name_the_user(&page, &stack.base_url()).await?;
    cdp(
        &page,
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": TIME_MARKS}),
    )
    .await?;
    page.goto(&format!("{}/r/{room}", stack.base_url())).await?;
    eventually(Duration::from_secs(30), POLL, || async {
        Ok(match bubbles(&page).await? {
            0 => Err("the room did not show its message".to_owned()),
            _ => Ok(()),
        })
    })
    .await?;
    let (mut bob, _) = Chat::join(&url, "bob", "bob-0000001", None).await?;
    let (short, short_typing) = marks(&page, &mut bob, &url, 0).await?;
    eprintln!("filling the list with {FILL} messages");
    for i in 0..FILL {
        ada.say(
            &format!("fill-{i:05}-{}", testkit::unique("f")),
            &format!("fill {i}"),
        )
        .await?;
    }
    let started = Instant::now();
    eventually(
        Duration::from_secs(300),
        Duration::from_millis(200),
        || async {
            let shown = bubbles(&page).await?;
            Ok(match shown >= (FILL + MARKS + 1) as u64 {
                true => Ok(()),
                false => Err(format!("only {shown} rows after 300 s")),
            })
        },
    )
    .await?;
    let fill_s = started.elapsed().as_secs_f64();
    let rows_now = bubbles(&page).await?;
    let (long, long_typing) = marks(&page, &mut bob, &url, MARKS).await?;
    let summary = |marks: &[Mark]| {
        json!({
            "median_in_dom_ms": median(marks.iter().map(|m| m.in_dom).collect()),
            "median_next_frame_ms": median(marks.iter().map(|m| m.next_frame).collect()),
            "marks": marks.iter().map(|m| json!({"in_dom_ms": m.in_dom, "next_frame_ms": m.next_frame})).collect::<Vec<_>>(),
        })
    };
    let report = json!({
        "window": "1280 x 900, no throttling",
        "rows_short": 1 + MARKS,
        "rows_long": rows_now,
        "message_short": summary(&short),
        "message_long": summary(&long),
        "typing_short": summary(&short_typing),
        "typing_long": summary(&long_typing),
        "fill_seconds": fill_s,
    });
    let median_of = |part: &str, what: &str| report[part][what].as_f64().unwrap_or(f64::NAN);
    for (what, short, long) in [
        ("one incoming message", "message_short", "message_long"),
        ("one typing notice", "typing_short", "typing_long"),
    ] {
        println!(
            "{what}, from the frame's arrival to in the DOM / to the next frame: \
             {:.1} / {:.1} ms with {} rows, {:.1} / {:.1} ms with {rows_now} rows (medians of {MARKS})",
            median_of(short, "median_in_dom_ms"),
            median_of(short, "median_next_frame_ms"),
            1 + MARKS,
            median_of(long, "median_in_dom_ms"),
            median_of(long, "median_next_frame_ms"),
        );
    }
    println!("{FILL} messages arrived and were rendered in {fill_s:.1} s");
    drop(ada);
    drop(bob);
    write_report(out, &report)
}

async fn load(out: &str, wait_for_message: bool) -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::unlimited()).await?;
    let room = testkit::unique("load");
    let (mut chat, _) = Chat::join(&stack.ws_url(&room), "ada", "ada-000001", None).await?;
    chat.say(&testkit::unique("m"), MESSAGE).await?;
    let mut browser = Browser::start()?;
    let mut loads = Vec::new();
    for n in 1..=LOADS {
        let load = cold_load(&mut browser, &stack.base_url(), &room, wait_for_message).await?;
        eprintln!(
            "load {n}: first contentful paint {:.0} ms, message on screen {:?} ms",
            load.first_contentful_paint, load.first_message
        );
        loads.push(load);
    }
    let client_gzip = testkit::gzip9_size("apps/web/dist/pkg/web_bg.wasm")?
        + testkit::gzip9_size("apps/web/dist/pkg/web.js")?;
    let paint = median(loads.iter().map(|l| l.first_contentful_paint).collect());
    let message = median(loads.iter().filter_map(|l| l.first_message).collect());
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
    write_report(out, &report)
}
