//! A CPU profile of the Worker's isolate: V8's sampling profiler driven over the DevTools
//! protocol through wrangler's inspector proxy, and the samples summed by where they fell.
//!
//! The Worker's wasm keeps its `name` section, so samples inside it carry Rust function names
//! (`room::core::RoomCore::handle_text::h…`); samples outside JavaScript are V8's `(program)` (the
//! runtime's own C++: sockets, HTTP, timers), `(garbage collector)` and `(idle)`.

use crate::percent;
use anyhow::{Context, Result, bail};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One DevTools session with the Worker's isolate.
pub struct Inspector {
    sink: SplitSink<Socket, WsMessage>,
    replies: mpsc::UnboundedReceiver<Json>,
    reader: JoinHandle<()>,
    next_id: u64,
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector")
            .field("next_id", &self.next_id)
            .finish_non_exhaustive()
    }
}

impl Drop for Inspector {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Inspector {
    /// Connects to wrangler's inspector proxy on `port` (`wrangler dev --inspector-port`).
    pub async fn connect(port: u16) -> Result<Self> {
        let url = format!("ws://127.0.0.1:{port}/ws");
        // wrangler's node process relays the inspector; after a heavy run it may still be
        // working through the runtime's events, so it gets a while to answer.
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(60),
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await
        .with_context(|| format!("no answer from the inspector at {url} within 60 s"))?
        .with_context(|| format!("connecting to the inspector at {url}"))?;
        let (sink, mut stream) = ws.split();
        // The runtime sends events all the time (every fetch is a Network event). They are read
        // as they come, so nothing backs up in the proxy while a run is being profiled; only
        // answers to commands are kept.
        let (tx, replies) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                if let WsMessage::Text(text) = message
                    && let Ok(reply) = serde_json::from_str::<Json>(&text)
                    && reply.get("id").is_some()
                    && tx.send(reply).is_err()
                {
                    break;
                }
            }
        });
        Ok(Self {
            sink,
            replies,
            reader,
            next_id: 0,
        })
    }

    /// Sends one command and waits for its answer, skipping the proxy's own traffic.
    async fn call(&mut self, method: &str, params: Json) -> Result<Json> {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({"id": id, "method": method, "params": params});
        self.sink
            .send(WsMessage::text(request.to_string()))
            .await
            .with_context(|| format!("sending {method} to the inspector"))?;
        loop {
            let reply = tokio::time::timeout(Duration::from_secs(60), self.replies.recv())
                .await
                .with_context(|| format!("the inspector did not answer {method} within 60 s"))?
                .with_context(|| format!("the inspector closed the connection during {method}"))?;
            if reply["id"] != json!(id) {
                continue;
            }
            if let Some(error) = reply.get("error") {
                bail!("the inspector refused {method}: {error}");
            }
            return Ok(reply["result"].clone());
        }
    }

    /// Turns the runtime's network events on or off. `wrangler dev` keeps them on: every fetch
    /// the Worker makes is reported through the dev proxy's inspector relay to wrangler's node
    /// process, which costs CPU no deployed Worker pays.
    pub async fn network_events(&mut self, on: bool) -> Result<()> {
        let method = if on {
            "Network.enable"
        } else {
            "Network.disable"
        };
        self.call(method, json!({})).await?;
        Ok(())
    }

    /// Starts sampling every `interval_us` microseconds.
    pub async fn start(&mut self, interval_us: u32) -> Result<()> {
        self.call("Profiler.enable", json!({})).await?;
        self.call(
            "Profiler.setSamplingInterval",
            json!({ "interval": interval_us }),
        )
        .await?;
        self.call("Profiler.start", json!({})).await?;
        Ok(())
    }

    /// Stops sampling and returns V8's profile (`Profiler.Profile`).
    pub async fn stop(&mut self) -> Result<Json> {
        let result = self.call("Profiler.stop", json!({})).await?;
        Ok(result["profile"].clone())
    }
}

/// The isolate's profile of one run, summed by category and by function.
#[derive(Debug, Serialize)]
pub struct IsolateProfile {
    pub samples: usize,
    pub wall_ms: f64,
    pub busy_ms: f64,
    pub busy_percent_of_wall: f64,
    /// The isolate's busy time divided by the messages sent, in whole microseconds.
    pub busy_us_per_message: f64,
    /// Self time per category, the largest first; idle is listed but has no share of busy time.
    pub self_by_category: Vec<SelfTime>,
    /// Time per category including what it called, by category name.
    pub inclusive_by_category: Vec<CategoryTime>,
    /// The functions with the most self time (idle left out), the largest first.
    pub top_self: Vec<FunctionTime>,
}

/// One category's self time. Idle has no `percent_of_busy` (null in the JSON): it is not busy.
#[derive(Debug, Serialize)]
pub struct SelfTime {
    pub category: &'static str,
    pub ms: f64,
    pub percent_of_busy: Option<f64>,
}

/// One category's inclusive time.
#[derive(Debug, Serialize)]
pub struct CategoryTime {
    pub category: &'static str,
    pub ms: f64,
    pub percent_of_busy: f64,
}

/// One function's self time.
#[derive(Debug, Serialize)]
pub struct FunctionTime {
    pub function: String,
    pub category: &'static str,
    pub ms: f64,
    pub percent_of_busy: f64,
}

/// Where a sample fell, coarse enough to read at a glance.
fn category(name: &str, url: &str) -> &'static str {
    match name {
        "(idle)" => return "idle (waiting on I/O)",
        "(program)" | "(root)" => return "runtime outside JS (workerd and V8 C++)",
        "(garbage collector)" => return "garbage collector",
        _ => {}
    }
    if name.starts_with("js-to-wasm") || name.starts_with("wasm-to-js") {
        return "wasm-bindgen glue";
    }
    if url.contains(".wasm") {
        // Order matters: `drop_in_place<serde_json::Value>` is JSON work, wherever it was called.
        let crates: [(&str, &'static str); 9] = [
            ("serde_json", "wasm: JSON (serde_json)"),
            ("serde::", "wasm: JSON (serde_json)"),
            ("room::", "wasm: room core (libs/room)"),
            ("protocol::", "wasm: protocol (libs/protocol)"),
            ("upstash::", "wasm: store client (libs/upstash)"),
            ("chat_worker::", "wasm: Worker adapter (apps/chat-worker)"),
            ("worker::", "wasm: workers-rs"),
            ("wasm_bindgen", "wasm-bindgen glue"),
            ("js_sys", "wasm-bindgen glue"),
        ];
        if let Some((_, category)) = crates.iter().find(|(key, _)| name.contains(key)) {
            return category;
        }
        if ["dlmalloc", "alloc::", "memcpy", "memmove", "memset"]
            .iter()
            .any(|key| name.contains(key))
        {
            return "wasm: allocation and copies";
        }
        return "wasm: other (core, std, web_sys)";
    }
    if url.is_empty() {
        // Named frames without a script are the runtime's built-ins called from JS: a socket's
        // send, fetch, JSON.parse, queueMicrotask.
        return "runtime built-ins called from JS";
    }
    "JS (wasm-bindgen and worker-build glue)"
}

/// A Rust symbol without its `::h0123456789abcdef` hash.
fn clean(name: &str) -> String {
    match name.rfind("::h") {
        Some(at)
            if name[at + 3..]
                .chars()
                .take_while(char::is_ascii_hexdigit)
                .count()
                == 16 =>
        {
            format!("{}{}", &name[..at], &name[at + 19..])
        }
        _ => name.to_owned(),
    }
}

/// Milliseconds, two decimals.
fn ms(us: f64) -> f64 {
    (us / 10.0).round() / 100.0
}

/// Sums a V8 profile taken every `interval_us`: milliseconds per category (self and inclusive)
/// and the functions with the most self time. `messages` divides the isolate's busy time into a
/// per-message cost.
pub fn summarize(
    profile: &Json,
    interval_us: f64,
    messages: usize,
    top: usize,
) -> Result<IsolateProfile> {
    let nodes = profile["nodes"]
        .as_array()
        .context("the profile has no nodes")?;
    let samples = profile["samples"]
        .as_array()
        .context("the profile has no samples")?;
    let deltas = profile["timeDeltas"]
        .as_array()
        .context("the profile has no timeDeltas")?;
    let mut frames = HashMap::new();
    let mut parent = HashMap::new();
    for node in nodes {
        let id = node["id"]
            .as_u64()
            .context("a profile node without an id")?;
        let name = node["callFrame"]["functionName"].as_str().unwrap_or("");
        let url = node["callFrame"]["url"].as_str().unwrap_or("");
        // Anonymous JS functions are told apart by where they are (1-based line:column).
        let name = if name.is_empty() && !url.is_empty() {
            let line = node["callFrame"]["lineNumber"].as_i64().unwrap_or(-1) + 1;
            let column = node["callFrame"]["columnNumber"].as_i64().unwrap_or(-1) + 1;
            format!("(anonymous {url}:{line}:{column})")
        } else {
            name.to_owned()
        };
        frames.insert(id, (name, url.to_owned()));
        for child in node["children"].as_array().into_iter().flatten() {
            if let Some(child) = child.as_u64() {
                parent.insert(child, id);
            }
        }
    }
    // workerd's V8 records a sample only while the isolate runs; the gaps between samples (its
    // `timeDeltas`) include the time it sat idle. So each sample stands for one interval of
    // running, and the wall time is the profile's own start and end.
    let wall_us = (profile["endTime"].as_f64().unwrap_or(0.0)
        - profile["startTime"].as_f64().unwrap_or(0.0))
    .max(0.0);
    if deltas.len() != samples.len() {
        bail!(
            "the profile has {} samples but {} time deltas",
            samples.len(),
            deltas.len()
        );
    }
    let mut self_us: BTreeMap<&'static str, f64> = BTreeMap::new();
    let mut inclusive_us: BTreeMap<&'static str, f64> = BTreeMap::new();
    let mut by_function: HashMap<String, (f64, &'static str)> = HashMap::new();
    for sample in samples {
        let id = sample.as_u64().context("a sample that is not a node id")?;
        let w = interval_us;
        let (name, url) = frames.get(&id).context("a sample of an unknown node")?;
        let own = category(name, url);
        *self_us.entry(own).or_default() += w;
        let shown = if name.is_empty() {
            "(anonymous)".to_owned()
        } else {
            clean(name)
        };
        let entry = by_function.entry(shown).or_insert((0.0, own));
        entry.0 += w;
        let mut seen = BTreeSet::new();
        let mut at = Some(id);
        while let Some(node) = at {
            if let Some((name, url)) = frames.get(&node)
                && name != "(root)"
            {
                seen.insert(category(name, url));
            }
            at = parent.get(&node).copied();
        }
        for category in seen {
            *inclusive_us.entry(category).or_default() += w;
        }
    }
    let idle = self_us.get("idle (waiting on I/O)").copied().unwrap_or(0.0);
    let busy = self_us.values().sum::<f64>() - idle;
    let mut categories: Vec<_> = self_us.iter().collect();
    categories.sort_by(|a, b| b.1.total_cmp(a.1));
    let mut functions: Vec<_> = by_function
        .into_iter()
        .filter(|(_, (_, category))| *category != "idle (waiting on I/O)")
        .collect();
    functions.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
    let share = |us: f64| percent(us, busy);
    Ok(IsolateProfile {
        samples: samples.len(),
        wall_ms: ms(wall_us),
        busy_ms: ms(busy),
        busy_percent_of_wall: percent(busy, wall_us),
        busy_us_per_message: if messages > 0 {
            (busy / messages as f64).round()
        } else {
            0.0
        },
        self_by_category: categories
            .iter()
            .map(|(category, us)| SelfTime {
                category,
                ms: ms(**us),
                percent_of_busy: (**category != "idle (waiting on I/O)").then(|| share(**us)),
            })
            .collect(),
        inclusive_by_category: inclusive_us
            .iter()
            .filter(|(category, _)| **category != "idle (waiting on I/O)")
            .map(|(category, us)| CategoryTime {
                category,
                ms: ms(*us),
                percent_of_busy: share(*us),
            })
            .collect(),
        top_self: functions
            .iter()
            .take(top)
            .map(|(name, (us, category))| FunctionTime {
                function: name.clone(),
                category,
                ms: ms(*us),
                percent_of_busy: share(*us),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: u64, name: &str, url: &str, children: &[u64]) -> Json {
        json!({"id": id, "callFrame": {"functionName": name, "url": url}, "children": children})
    }

    /// A hand-made profile: root → (idle), (program), and JS → wasm room code → serde_json.
    fn sample_profile() -> Json {
        json!({
            "nodes": [
                node(1, "(root)", "", &[2, 3, 4]),
                node(2, "(idle)", "", &[]),
                node(3, "(program)", "", &[]),
                node(4, "webSocketMessage", "index.js", &[5]),
                node(5, "room::core::RoomCore::handle_text::h0123456789abcdef", "wasm://wasm/chat_worker.wasm-1", &[6]),
                node(6, "serde_json::de::from_str::hfedcba9876543210", "wasm://wasm/chat_worker.wasm-1", &[]),
            ],
            // Every sample stands for one 100 µs interval; the deltas include idle gaps.
            "samples": [2, 3, 4, 5, 6, 6, 2],
            "timeDeltas": [0, 900, 100, 100, 100, 100, 100],
            "startTime": 1_000,
            "endTime": 3_000,
        })
    }

    #[test]
    fn sums_self_and_inclusive_time_by_category() -> Result<()> {
        let summary = summarize(&sample_profile(), 100.0, 2, 3)?;
        assert_eq!(summary.samples, 7);
        assert_eq!(summary.wall_ms, 2.0);
        assert_eq!(summary.busy_percent_of_wall, 25.0);
        assert_eq!(summary.busy_ms, 0.5);
        assert_eq!(summary.busy_us_per_message, 250.0);
        let self_ms = |category: &str| {
            summary
                .self_by_category
                .iter()
                .find(|c| c.category == category)
                .map(|c| c.ms)
        };
        assert_eq!(self_ms("wasm: JSON (serde_json)"), Some(0.2));
        assert_eq!(self_ms("wasm: room core (libs/room)"), Some(0.1));
        assert_eq!(self_ms("idle (waiting on I/O)"), Some(0.2));
        // Idle is no share of the busy time.
        assert!(
            summary
                .self_by_category
                .iter()
                .all(|c| c.percent_of_busy.is_none() == (c.category == "idle (waiting on I/O)"))
        );
        // The room's inclusive time holds the JSON it called; JS holds both.
        let inclusive = |category: &str| {
            summary
                .inclusive_by_category
                .iter()
                .find(|c| c.category == category)
                .map(|c| c.ms)
        };
        assert_eq!(inclusive("wasm: room core (libs/room)"), Some(0.3));
        assert_eq!(
            inclusive("JS (wasm-bindgen and worker-build glue)"),
            Some(0.4)
        );
        assert_eq!(summary.top_self[0].function, "serde_json::de::from_str");
        assert_eq!(summary.top_self[0].percent_of_busy, 40.0);
        Ok(())
    }

    #[test]
    fn a_profile_without_samples_is_an_error() {
        assert!(summarize(&json!({"nodes": []}), 100.0, 1, 5).is_err());
    }

    #[test]
    fn symbol_hashes_are_dropped_and_other_names_kept() {
        assert_eq!(clean("a::b::h0123456789abcdef"), "a::b");
        assert_eq!(
            clean("a::b::h0123456789abcdef externref shim"),
            "a::b externref shim"
        );
        assert_eq!(clean("a::hello"), "a::hello");
        assert_eq!(clean("(program)"), "(program)");
    }
}
