//! `just bench-actions`: how long each kind of write takes to reach someone else in the room,
//! over the local stack (Redis, redis-rest, the Worker under Miniflare), through real
//! WebSockets. This is a benchmark, not a test: it asserts nothing about time.
//!
//! Alice sends a message, edits it, reacts to it, replies to it and deletes it, one at a time;
//! for each, the time from her frame leaving to Bob's frame arriving (`message` for a send or a
//! reply, `updated` for the others) and to her own confirmation (her `message` back, or
//! `applied`). Writes commit to the room's log, so Redis is off their path; the run is made with
//! Redis on loopback and again 40 ms away, to show it.

use anyhow::{Context, Result, bail};
use e2e::{Chat, ChatStack, WorkerOptions};
use protocol::{ClientFrame, ServerFrame};
use serde_json::json;
use std::time::{Duration, Instant};

/// Rounds per kind of write.
const ROUNDS: usize = 40;

/// One kind of write: its name and the frame Alice sends for round `n` on message `seq`.
type Write = (&'static str, fn(usize, i64) -> ClientFrame);

const WRITES: [Write; 5] = [
    ("send", |n, _| ClientFrame::Send {
        client_id: format!("send-{n:06}"),
        text: format!("message {n}"),
        reply_to: None,
    }),
    ("edit", |n, seq| ClientFrame::Edit {
        client_id: format!("edit-{n:06}"),
        seq,
        text: format!("message {n}, edited"),
    }),
    ("react", |n, seq| ClientFrame::React {
        client_id: format!("react-{n:06}"),
        seq,
        emoji: "👍".into(),
        on: true,
    }),
    ("reply", |n, seq| ClientFrame::Send {
        client_id: format!("reply-{n:06}"),
        text: format!("about message {n}"),
        reply_to: Some(seq),
    }),
    ("delete", |n, seq| ClientFrame::Delete {
        client_id: format!("delete-{n:06}"),
        seq,
    }),
];

/// Whether `frame` is what the other side gets for a write of kind `kind`, or the writer's
/// confirmation of it: a stored message, or a change.
fn seen(kind: &str, frame: &ServerFrame, confirmation: bool) -> bool {
    match (kind, frame) {
        ("send" | "reply", ServerFrame::Message { .. } | ServerFrame::Messages { .. }) => true,
        (_, ServerFrame::Applied { .. }) => confirmation,
        (_, ServerFrame::Updated { .. }) => !confirmation,
        _ => false,
    }
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let at = ((values.len() as f64 - 1.0) * p).round() as usize;
    values.get(at).copied().unwrap_or(f64::NAN)
}

async fn measure(options: WorkerOptions) -> Result<serde_json::Value> {
    let stack = ChatStack::start(options).await?;
    let url = stack.ws_url(&testkit::unique("actions"));
    let (mut alice, _) = Chat::join(&url, "alice", "alice-bench-1", None).await?;
    let (mut bob, _) = Chat::join(&url, "bob", "bob-bench-01", None).await?;
    let mut report = serde_json::Map::new();
    let mut times: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); WRITES.len()];
    for n in 0..ROUNDS {
        let mut seq = 0;
        for (kind, (name, frame)) in WRITES.iter().enumerate() {
            let started = Instant::now();
            alice.send(&frame(n, seq)).await?;
            let at_bob = bob
                .next_where(|f| seen(name, f, false).then_some(()))
                .await
                .with_context(|| format!("bob never saw the {name}"))
                .map(|()| started.elapsed());
            let stored = alice
                .next_where(|f| {
                    seen(name, f, true).then(|| f.stored_messages().first().map(|m| m.seq))
                })
                .await
                .with_context(|| format!("alice's {name} was never confirmed"))?;
            let confirmed = started.elapsed();
            if *name == "send" {
                seq = stored.context("the send's message")?;
            }
            times[kind].0.push(at_bob?.as_secs_f64() * 1000.0);
            times[kind].1.push(confirmed.as_secs_f64() * 1000.0);
        }
    }
    for ((name, _), (mut seen, mut confirmed)) in WRITES.iter().zip(times) {
        report.insert(
            (*name).to_owned(),
            json!({
                "to_the_other_p50_ms": percentile(&mut seen, 0.5),
                "to_the_other_p99_ms": percentile(&mut seen, 0.99),
                "confirmed_p50_ms": percentile(&mut confirmed, 0.5),
                "confirmed_p99_ms": percentile(&mut confirmed, 0.99),
            }),
        );
    }
    Ok(serde_json::Value::Object(report))
}

#[tokio::main]
async fn main() -> Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docs/bench/actions.json".to_owned());
    let near = measure(WorkerOptions::unlimited()).await?;
    let far =
        measure(WorkerOptions::unlimited().with_store_delay(Duration::from_millis(40))).await?;
    let report = json!({
        "rounds": ROUNDS,
        "redis_on_loopback": near,
        "redis_40ms_away": far,
    });
    println!(
        "write    to the other (p50 / p99)    confirmed (p50 / p99), ms; Redis near | 40 ms away"
    );
    for (name, _) in WRITES {
        let cell = |part: &str, what: &str| report[part][name][what].as_f64().unwrap_or(f64::NAN);
        println!(
            "{name:<8} {:>6.1} / {:>6.1} | {:>6.1} / {:>6.1}    {:>6.1} / {:>6.1} | {:>6.1} / {:>6.1}",
            cell("redis_on_loopback", "to_the_other_p50_ms"),
            cell("redis_on_loopback", "to_the_other_p99_ms"),
            cell("redis_40ms_away", "to_the_other_p50_ms"),
            cell("redis_40ms_away", "to_the_other_p99_ms"),
            cell("redis_on_loopback", "confirmed_p50_ms"),
            cell("redis_on_loopback", "confirmed_p99_ms"),
            cell("redis_40ms_away", "confirmed_p50_ms"),
            cell("redis_40ms_away", "confirmed_p99_ms"),
        );
    }
    if report["redis_on_loopback"]
        .as_object()
        .is_none_or(|r| r.is_empty())
    {
        bail!("nothing measured");
    }
    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
    println!("wrote {out}");
    Ok(())
}
