//! `loadgen`: measures edge-chat under load, speaking protocol v1 over real WebSockets. Against
//! the local stack (Redis + redis-rest + the Worker under Miniflare, started here) by default,
//! or any deployed Worker with `--url`. Prints a table and writes the figures as JSON.
//!
//! All clocks are read in this one process: a message carries the time it was sent (since the
//! run's start), and each receiver subtracts it from the time it arrived.

use anyhow::{Context, Result, bail};
use clap::Parser;
use protocol::Message;
use serde_json::{Value as Json, json};
use stack::{Chat, ChatStack, Incoming, WorkerOptions};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod cpu;
mod direct;
mod monitor;
mod perf;
mod profile;

#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// A deployed Worker (`https://…`) to measure instead of the local stack. Redis-side figures
    /// and recovery need the local stack and are skipped.
    #[arg(long)]
    url: Option<String>,
    /// `quick` (under two minutes) or `full`.
    #[arg(long, default_value = "quick")]
    profile: String,
    /// Where to write the JSON figures.
    #[arg(long, default_value = "docs/bench/latest.json")]
    out: String,
    /// Connect the clients straight to the user Worker's socket inside `wrangler dev`, past its
    /// dev proxy, with the runtime's network events off: the runtime without dev mode's extra
    /// work (local stack only; the restart test still goes through the proxy).
    #[arg(long)]
    direct: bool,
    /// Run only these parts (comma-separated): fan-out, big-room, throughput, rooms,
    /// breakdown, components, connections, recovery, sizes.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// The parts of a run, in the order they run.
const PARTS: [&str; 9] = [
    "fan-out",
    "big-room",
    "breakdown",
    "throughput",
    "rooms",
    "components",
    "connections",
    "recovery",
    "sizes",
];

/// Latency percentiles in milliseconds, computed exactly from every sample.
fn percentiles(mut samples: Vec<f64>) -> Json {
    if samples.is_empty() {
        return json!(null);
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    json!({
        "samples": samples.len(),
        "p50_ms": round(at(0.50)),
        "p90_ms": round(at(0.90)),
        "p99_ms": round(at(0.99)),
        "max_ms": round(at(1.0)),
    })
}

fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

struct Target {
    ws_base: String,
    stack: Option<ChatStack>,
}

impl Target {
    fn ws_url(&self, room: &str) -> String {
        format!("{}{}", self.ws_base, protocol::ws_path(room))
    }
}

/// Joins `count` clients to `room`, `parallel` at a time.
async fn join_many(target: &Target, room: &str, count: usize, tag: &str) -> Result<Vec<Chat>> {
    let url = target.ws_url(room);
    let mut clients = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(25) {
        let mut joins = Vec::new();
        for i in chunk {
            let url = url.clone();
            let user = format!("{tag}-user-{i:05}");
            joins.push(tokio::spawn(async move {
                Chat::join(&url, &user, &user, None)
                    .await
                    .map(|(chat, _)| chat)
            }));
        }
        for join in joins {
            clients.push(join.await??);
        }
    }
    Ok(clients)
}

/// Reads messages until `expected` arrived or `deadline`; returns each one's send and arrival
/// times (ms since `start`).
async fn receive(
    mut chat: Chat,
    start: Instant,
    expected: usize,
    deadline: Instant,
) -> Vec<(f64, f64)> {
    let mut times = Vec::with_capacity(expected);
    while times.len() < expected {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match chat.next_within(left).await {
            Ok(Incoming::Frame(frame)) if !frame.stored_messages().is_empty() => {
                let arrived = start.elapsed().as_secs_f64() * 1000.0;
                for message in frame.stored_messages() {
                    if let Some(sent) = sent_at(message) {
                        times.push((sent, arrived));
                    }
                }
            }
            Ok(Incoming::Closed(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    times
}

/// The send time (ms since start) a benchmark message carries: "bench <ms>".
fn sent_at(message: &Message) -> Option<f64> {
    message.text.strip_prefix("bench ")?.parse().ok()
}

/// What one fan-out run saw.
struct FanOutRun {
    clients: usize,
    rate: u32,
    seconds: u32,
    sent: usize,
    send_seconds: f64,
    /// The wall clock (Unix seconds) at the run's `start`, to line up with Redis's clock.
    start_unix: f64,
    /// Every delivery's (send, arrival) in ms since `start`.
    deliveries: Vec<(f64, f64)>,
    receivers_missing_messages: usize,
    cpu: Json,
    /// The warm-up message: from its send until the last client had it.
    first_message_ms: f64,
    /// Frames all receivers read before the warm-up message (presence updates from the joins).
    frames_before_first_message: usize,
}

impl FanOutRun {
    fn to_json(&self) -> Json {
        let latencies = self.deliveries.iter().map(|(s, r)| r - s).collect();
        json!({
            "clients": self.clients,
            "rate_per_s": self.rate,
            "seconds": self.seconds,
            "sent": self.sent,
            "achieved_rate_per_s": round(self.sent as f64 / self.send_seconds),
            "deliveries": self.deliveries.len(),
            "receivers_missing_messages": self.receivers_missing_messages,
            "latency": percentiles(latencies),
            "first_message_in_fresh_room_ms": round(self.first_message_ms),
            "frames_queued_before_first_message": self.frames_before_first_message,
            "cpu": self.cpu,
        })
    }
}

/// Joins a fresh room of `clients` for a fan-out run.
async fn fan_out_room(target: &Target, clients: usize, rate: u32) -> Result<Vec<Chat>> {
    let room = format!("fanout-{clients}-{rate}-{}", testkit::unique("r"));
    join_many(target, &room, clients, "fo").await
}

/// One sender (the first of `chats`) at `rate` messages/s for `seconds`, its first send `phase`
/// after the start; every other client receives. CPU use of the stack's processes is read around the sending and receiving only.
async fn fan_out_run(
    mut chats: Vec<Chat>,
    rate: u32,
    seconds: u32,
    phase: Duration,
) -> Result<FanOutRun> {
    let clients = chats.len();
    let mut sender = chats.remove(0);
    let total = (rate * seconds) as usize;
    let tag = testkit::unique("b");
    // The first message in a fresh room pays one-off costs (the Durable Object's first write,
    // code the runtime compiles on first use). It is timed on its own; the clock for the run
    // starts once every client has it.
    let warm_text = format!("warm-up {tag}");
    let warm_start = Instant::now();
    sender.say(&format!("warm-{tag}"), &warm_text).await?;
    let waits: Vec<_> = chats
        .into_iter()
        .map(|mut chat| {
            let text = warm_text.clone();
            tokio::spawn(async move {
                // An atomic rather than a Cell only because the task must be Send.
                let before = std::sync::atomic::AtomicUsize::new(0);
                let got = tokio::time::timeout(
                    Duration::from_secs(30),
                    chat.next_where(|frame| match frame {
                        frame if frame.stored_messages().iter().any(|m| m.text == text) => Some(()),
                        _ => {
                            before.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            None
                        }
                    }),
                )
                .await;
                (chat, got, before.into_inner())
            })
        })
        .collect();
    let mut chats = Vec::with_capacity(waits.len());
    // Frames the clients still had to read before the warm-up message: mostly the presence
    // updates their own joins caused, which the first message queues behind.
    let mut frames_before_first_message = 0;
    for wait in waits {
        let (chat, got, before) = wait.await?;
        got.context("a client did not get the warm-up message within 30 s")??;
        frames_before_first_message += before;
        chats.push(chat);
    }
    let first_message_ms = warm_start.elapsed().as_secs_f64() * 1000.0;
    let cpu_before = cpu::Snapshot::take();
    let start = Instant::now();
    let start_unix = unix_now();
    let deadline = start + Duration::from_secs(u64::from(seconds) + 20);
    let receivers: Vec<_> = chats
        .into_iter()
        .map(|chat| tokio::spawn(receive(chat, start, total, deadline)))
        .collect();
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
    for n in 0..total {
        tick.tick().await;
        let sent = start.elapsed().as_secs_f64() * 1000.0;
        sender
            .say(&format!("bench-{n:08}-{tag}"), &format!("bench {sent:.3}"))
            .await?;
    }
    let send_seconds = start.elapsed().as_secs_f64();
    let mut deliveries = Vec::new();
    let mut incomplete = 0;
    for receiver in receivers {
        let got = receiver.await?;
        if got.len() < total {
            incomplete += 1;
        }
        deliveries.extend(got);
    }
    let cpu = cpu::Snapshot::take().since(&cpu_before);
    Ok(FanOutRun {
        clients,
        rate,
        seconds,
        sent: total,
        send_seconds,
        start_unix,
        deliveries,
        receivers_missing_messages: incomplete,
        cpu,
        first_message_ms,
        frames_before_first_message,
    })
}

/// One sender at `rate` messages/s for `seconds` into a room of `clients`; latency from send to
/// each other client's receipt.
async fn fan_out(target: &Target, clients: usize, rate: u32, seconds: u32) -> Result<Json> {
    let chats = fan_out_room(target, clients, rate).await?;
    Ok(fan_out_run(chats, rate, seconds, Duration::ZERO)
        .await?
        .to_json())
}

/// A big room: `members` join one room, 25 at a time (the time and the workerd memory
/// that takes), then one of them sends at `rate` for `seconds` and every other member's
/// latency is measured.
async fn big_room(target: &Target, members: usize, rate: u32, seconds: u32) -> Result<Json> {
    let rss_before = workerd_rss_kib();
    let start = Instant::now();
    let chats = fan_out_room(target, members, rate).await?;
    let join_all_s = start.elapsed().as_secs_f64();
    let rss_after = workerd_rss_kib();
    let mut run = fan_out_run(chats, rate, seconds, Duration::ZERO)
        .await?
        .to_json();
    run["join_all_s"] = json!(round(join_all_s));
    run["workerd_rss_mib_after_joins"] = json!(round(rss_after as f64 / 1024.0));
    run["workerd_rss_growth_mib"] = json!(round((rss_after as f64 - rss_before as f64) / 1024.0));
    Ok(run)
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Where a fan-out message's time goes, in three runs of the same room size.
///
/// 1. As users connect, through wrangler's dev proxy (a second workerd process that talks to
///    wrangler's node process), with Redis's `MONITOR` and Linux `perf` watching: `MONITOR`'s
///    timestamps split each delivery at the store into "send → Redis stored it" and "stored →
///    the client has it"; `perf` says what the workerd processes spent their CPU on.
/// 2. The same, with the clients connected straight to the user Worker's own socket and the
///    runtime's network events off ([`Quiet`]): the runtime without dev mode's extra work.
/// 3. Straight to the user Worker again, under V8's sampling profiler (what the Worker's JS and
///    wasm ran). The profiler signals the isolate thousands of times a second, so no latency or
///    process figure comes from this run.
async fn breakdown(target: &Target, clients: usize, seconds: u32) -> Result<Json> {
    let Some(stack) = &target.stack else {
        bail!("the breakdown needs the local stack (Redis MONITOR and the inspector)");
    };
    let mut result = watched_run(stack, target, clients, seconds).await?;
    let direct = match direct::user_worker_port(stack.port).await {
        Ok(port) => Some(Target {
            ws_base: format!("ws://127.0.0.1:{port}"),
            stack: None,
        }),
        Err(e) => {
            result["direct_to_user_worker"] = json!({"skipped": format!("{e:#}")});
            None
        }
    };
    if let Some(direct) = &direct {
        let quiet = Quiet::start(stack).await?;
        let run = watched_run(stack, direct, clients, seconds).await;
        quiet.end().await?;
        result["direct_to_user_worker"] = run?;
        result["direct_to_user_worker"]["ws_base"] = json!(direct.ws_base);
    }

    let chats = fan_out_room(direct.as_ref().unwrap_or(target), clients, BREAKDOWN_RATE).await?;
    let mut inspector = profile::Inspector::connect(stack.inspector_port).await?;
    inspector.start(PROFILE_INTERVAL_US).await?;
    let run = fan_out_run(chats, BREAKDOWN_RATE, seconds, Duration::ZERO).await;
    let cpu_profile = inspector.stop().await;
    drop(inspector);
    let run = run?;
    let mut isolate =
        profile::summarize(&cpu_profile?, f64::from(PROFILE_INTERVAL_US), run.sent, 15)?;
    isolate["sampling_interval_us"] = json!(PROFILE_INTERVAL_US);
    isolate["latency_while_profiled"] = run.to_json()["latency"].clone();
    result["isolate_profile"] = isolate;
    Ok(result)
}

/// A DevTools session that keeps the runtime's network events off while it lasts. `wrangler dev`
/// has them on, so every outbound fetch is relayed to its node process; a deployed Worker does
/// no such work.
struct Quiet {
    inspector: profile::Inspector,
}

impl Quiet {
    async fn start(stack: &ChatStack) -> Result<Self> {
        let mut inspector = profile::Inspector::connect(stack.inspector_port).await?;
        inspector.network_events(false).await?;
        Ok(Self { inspector })
    }

    /// Turns the events back on, leaving the stack as `wrangler dev` set it up.
    async fn end(mut self) -> Result<()> {
        self.inspector.network_events(true).await
    }
}

/// The send rate of the breakdown runs, as in the fan-out latency runs.
const BREAKDOWN_RATE: u32 = 20;

/// A fan-out run with Redis's `MONITOR` (latency split at the store) and `perf` on workerd.
async fn watched_run(
    stack: &ChatStack,
    target: &Target,
    clients: usize,
    seconds: u32,
) -> Result<Json> {
    let chats = fan_out_room(target, clients, BREAKDOWN_RATE).await?;
    let monitor = monitor::Monitor::start(stack.rest.redis.url()).await?;
    let native = perf::Recording::start(&cpu::workerd_pids(), &std::env::temp_dir()).await;
    let run = fan_out_run(chats, BREAKDOWN_RATE, seconds, Duration::ZERO).await;
    let stored = monitor.finish();
    // A machine without a usable `perf` still gets every other figure, and the JSON says why.
    let native = match native {
        Ok(recording) => recording.finish(15).await,
        Err(e) => Err(e),
    }
    .unwrap_or_else(|e| json!({"skipped": format!("{e:#}")}));
    let run = run?;
    let mut result = run.to_json();
    let (to_store, from_store, unmatched) = split_at_store(&run, &stored);
    result["send_to_stored_in_redis"] = percentiles(to_store);
    result["stored_in_redis_to_received"] = percentiles(from_store);
    result["deliveries_without_a_redis_timestamp"] = json!(unmatched);
    result["workerd_native_profile"] = native;
    Ok(result)
}

/// Each delivery's latency split at the moment Redis ran the `ZADD` that stored it: (send →
/// stored, stored → received, deliveries whose message `MONITOR` did not see).
fn split_at_store(run: &FanOutRun, stored: &[(f64, f64)]) -> (Vec<f64>, Vec<f64>, usize) {
    // The send time a message carries (ms since start, three decimals) is its key.
    let key = |ms: f64| (ms * 1000.0).round() as i64;
    let stored_at: BTreeMap<i64, f64> = stored
        .iter()
        .map(|(unix, sent)| (key(*sent), (unix - run.start_unix) * 1000.0))
        .collect();
    let mut to_store = Vec::new();
    let mut from_store = Vec::new();
    let mut unmatched = 0;
    for (sent, received) in &run.deliveries {
        match stored_at.get(&key(*sent)) {
            Some(at) => {
                to_store.push(at - sent);
                from_store.push(received - at);
            }
            None => unmatched += 1,
        }
    }
    (to_store, from_store, unmatched)
}

/// V8's sampling interval for the isolate profile: fine enough to see a 1 ms handler in detail.
const PROFILE_INTERVAL_US: u32 = 250;

/// Redis's per-command call counts (`INFO commandstats`).
fn command_stats(stack: &ChatStack) -> Result<BTreeMap<String, u64>> {
    let info = stack.rest.redis.raw_command(&["INFO", "commandstats"])?;
    let mut stats = BTreeMap::new();
    for line in info.lines() {
        if let Some((name, rest)) = line
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        {
            let calls = rest
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            stats.insert(name.to_owned(), calls);
        }
    }
    Ok(stats)
}

/// Raises the rate in one room of 10 until p99 passes 100 ms (or messages go missing).
async fn throughput(target: &Target, rates: &[u32], seconds: u32) -> Result<Json> {
    let mut steps = Vec::new();
    let mut best = 0;
    for &rate in rates {
        let before = target.stack.as_ref().map(command_stats).transpose()?;
        let step = fan_out(target, 11, rate, seconds).await?;
        let after = target.stack.as_ref().map(command_stats).transpose()?;
        let mut step = step;
        if let (Some(before), Some(after)) = (before, after) {
            let delta = |name: &str| after.get(name).unwrap_or(&0) - before.get(name).unwrap_or(&0);
            let total: u64 = after.values().sum::<u64>() - before.values().sum::<u64>();
            let sent = step["sent"].as_f64().unwrap_or(1.0);
            step["redis"] = json!({
                "commands": total,
                "commands_per_message": round(total as f64 / sent),
                // A room write is one EVAL of the write script (one MULTI/EXEC before it).
                "writes (EVAL or EXEC)": delta("eval") + delta("exec"),
                "messages_per_write": round(sent / (delta("eval") + delta("exec")).max(1) as f64),
            });
        }
        let p99 = step["latency"]["p99_ms"].as_f64().unwrap_or(f64::MAX);
        let complete = step["receivers_missing_messages"] == json!(0);
        let achieved = step["achieved_rate_per_s"].as_f64().unwrap_or(0.0);
        let ok = p99 <= 100.0 && complete && achieved >= f64::from(rate) * 0.95;
        step["within_100ms_p99"] = json!(ok);
        steps.push(step);
        if !ok {
            break;
        }
        best = rate;
    }
    Ok(json!({"room_clients": 10, "highest_sustained_rate_per_s": best, "steps": steps}))
}

/// 50 clients in a room, the Worker restarted: time until every client is back and caught up,
/// and how many messages any of them lost or got twice.
async fn recovery(stack: &mut ChatStack, clients: usize) -> Result<Json> {
    let room = format!("recovery-{}", std::process::id());
    let url = stack.ws_url(&room);
    let mut chats = Vec::new();
    for i in 0..clients {
        let user = format!("rc-user-{i:05}");
        chats.push((user.clone(), Chat::join(&url, &user, &user, None).await?.0));
    }
    // Ten messages everyone has before the restart.
    let (mut writer, _) = Chat::join(&url, "writer", "rc-writer-1", None).await?;
    for n in 0..10 {
        writer
            .say(&format!("rc-before-{n:04}"), &format!("before {n}"))
            .await?;
    }
    let mut held: Vec<(String, Vec<Message>)> = Vec::new();
    for (user, mut chat) in chats {
        let messages = chat.messages(10).await?;
        held.push((user, messages));
    }
    drop(writer);
    let start = Instant::now();
    stack.restart_worker().await?;
    let restarted = start.elapsed();
    // Ten more while the clients are still away; they must get them by resuming.
    let (mut writer, _) = Chat::join(&url, "writer", "rc-writer-1", None).await?;
    for n in 0..10 {
        writer
            .say(&format!("rc-after-{n:04}"), &format!("after {n}"))
            .await?;
    }
    writer.messages(10).await?;
    let mut tasks = Vec::new();
    for (user, messages) in held {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let since = messages.last().map(|m| m.seq);
            let (_, welcome) = Chat::join(&url, &user, &user, since).await?;
            let mut all = messages;
            all.extend(welcome.messages);
            anyhow::Ok((all, Instant::now()))
        }));
    }
    let mut lost = 0;
    let mut duplicated = 0;
    let mut last_back = start;
    let stored = stack.stored(&room).await?;
    for task in tasks {
        let (all, back) = task.await??;
        last_back = last_back.max(back);
        let mut seen = BTreeMap::new();
        for message in &all {
            *seen.entry(message.seq).or_insert(0) += 1;
        }
        duplicated += seen.values().filter(|n| **n > 1).count();
        lost += stored.iter().filter(|m| !seen.contains_key(&m.seq)).count();
    }
    Ok(json!({
        "clients": clients,
        "worker_restart_s": round(restarted.as_secs_f64()),
        "all_back_and_caught_up_s": round((last_back - start).as_secs_f64()),
        "messages_stored": stored.len(),
        "lost": lost,
        "duplicated": duplicated,
    }))
}

/// `rooms` rooms of 10 clients, one sender each at `rate` messages/s (so `rooms × rate` in
/// all), stepping the rate up until the p99 over every delivery in every room passes 100 ms.
/// (A per-room p99 over a few hundred deliveries is nearly that room's maximum, so the pooled
/// p99 is the criterion; the worst room's p99 is reported beside it.)
async fn multi_room(target: &Target, rooms: usize, rates: &[u32], seconds: u32) -> Result<Json> {
    let mut steps = Vec::new();
    let mut best = 0;
    for &rate in rates {
        let mut joined = Vec::with_capacity(rooms);
        for _ in 0..rooms {
            joined.push(fan_out_room(target, 11, rate).await?);
        }
        // Each room's sender starts at its own point in the period, as independent rooms
        // would; started together, all rooms would send at the same instant every time.
        let period = 1.0 / f64::from(rate);
        let runs: Vec<_> = joined
            .into_iter()
            .enumerate()
            .map(|(i, chats)| {
                let phase = Duration::from_secs_f64(period * i as f64 / rooms as f64);
                tokio::spawn(fan_out_run(chats, rate, seconds, phase))
            })
            .collect();
        let mut all = Vec::new();
        let mut worst_p99: f64 = 0.0;
        let mut first_message_ms: f64 = 0.0;
        let mut complete = true;
        let mut cpu = Json::Null;
        for run in runs {
            let run = run.await??;
            if cpu.is_null() {
                // The rooms run side by side, so the first one's window stands for the step.
                cpu = run.cpu.clone();
            }
            let step = run.to_json();
            worst_p99 = worst_p99.max(step["latency"]["p99_ms"].as_f64().unwrap_or(f64::MAX));
            first_message_ms = first_message_ms.max(run.first_message_ms);
            complete &= run.receivers_missing_messages == 0;
            all.extend(run.deliveries.iter().map(|(s, r)| r - s));
        }
        let latency = percentiles(all);
        let p99 = latency["p99_ms"].as_f64().unwrap_or(f64::MAX);
        let ok = p99 <= 100.0 && complete;
        steps.push(json!({
            "rate_per_room_per_s": rate,
            "total_rate_per_s": rate as usize * rooms,
            "latency": latency,
            "worst_room_p99_ms": round(worst_p99),
            "slowest_first_message_ms": round(first_message_ms),
            "within_100ms_p99": ok,
            "cpu": cpu,
        }));
        if !ok {
            break;
        }
        best = rate as usize * rooms;
    }
    Ok(json!({
        "rooms": rooms,
        "room_clients": 10,
        "highest_sustained_total_rate_per_s": best,
        "steps": steps,
    }))
}

/// Where a message's time goes, by component, each measured alone: a WebSocket round trip
/// that the runtime answers without running room code (`ping` → `pong`), and one room write
/// (the write script, as the room sends it, one message per batch) through redis-rest to Redis.
async fn components(target: &Target, samples: usize) -> Result<Json> {
    let (mut chat, _) =
        Chat::join(&target.ws_url("components"), "probe", "probe-0001", None).await?;
    let mut ws_rtt = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        chat.send_raw(stack::WsText::text(protocol::PING)).await?;
        loop {
            if let Incoming::Text(text) = chat.next().await?
                && text == protocol::PONG
            {
                break;
            }
        }
        ws_rtt.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let mut result = json!({"websocket_ping_pong": percentiles(ws_rtt)});
    if let Some(stack) = &target.stack {
        let store = stack.store();
        let mut writes = Vec::with_capacity(samples);
        let room = testkit::unique("probe");
        for n in 0..samples {
            let seq = n as i64 + 1;
            let batch = room::Batch {
                id: seq as u64,
                room: room.clone(),
                prev: seq - 1,
                messages: vec![protocol::Message {
                    seq,
                    client_id: format!("probe-{n:08}"),
                    user_id: "u-probe".into(),
                    name: "probe".into(),
                    text: "probe".into(),
                    ts: seq,
                }],
            };
            let command = room::store::write_command(&batch, 10_000);
            let start = Instant::now();
            store.command(&command).await?;
            writes.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        result["room_write_through_redis_rest"] = percentiles(writes);
    }
    Ok(result)
}

/// Opens `count` sockets across `rooms` rooms; time to connect them all, and the memory of the
/// local runtime's processes.
async fn connections(target: &Target, count: usize, rooms: usize) -> Result<Json> {
    let start = Instant::now();
    let mut all = Vec::new();
    for r in 0..rooms {
        let room = format!("conn-{r}-{}", std::process::id());
        all.extend(join_many(target, &room, count / rooms, &format!("c{r}")).await?);
    }
    let elapsed = start.elapsed();
    let rss_mib = round(workerd_rss_kib() as f64 / 1024.0);
    Ok(json!({
        "sockets": all.len(),
        "rooms": rooms,
        "connect_all_s": round(elapsed.as_secs_f64()),
        "workerd_rss_mib": rss_mib,
    }))
}

/// Resident memory of the stack's `workerd` processes (the Worker's and the dev proxy's), in KiB.
fn workerd_rss_kib() -> u64 {
    let mut total = 0;
    for pid in cpu::workerd_pids() {
        // A process that ended since it was listed no longer counts.
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

fn size(path: &str) -> Result<Json> {
    let raw = std::fs::metadata(path)
        .with_context(|| format!("{path}: build it first"))?
        .len();
    let output = std::process::Command::new("sh")
        .args(["-c", &format!("gzip -9 -c '{path}' | wc -c")])
        .output()?;
    let gzip: u64 = String::from_utf8_lossy(&output.stdout).trim().parse()?;
    Ok(json!({"raw_bytes": raw, "gzip9_bytes": gzip}))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let full = match args.profile.as_str() {
        "quick" => false,
        "full" => true,
        other => bail!("unknown profile {other}: quick or full"),
    };
    if let Some(unknown) = args.only.iter().find(|p| !PARTS.contains(&p.as_str())) {
        bail!("unknown part {unknown}: one of {}", PARTS.join(", "));
    }
    if args.direct && args.url.is_some() {
        bail!("--direct applies to the local stack only, not to --url");
    }
    let run = |part: &str| args.only.is_empty() || args.only.iter().any(|p| p == part);
    let started = Instant::now();
    let mut quiet = None;
    let mut target = match &args.url {
        Some(url) => Target {
            ws_base: url
                .replacen("http", "ws", 1)
                .trim_end_matches('/')
                .to_owned(),
            stack: None,
        },
        None => {
            let stack = ChatStack::start(WorkerOptions::unlimited()).await?;
            let port = if args.direct {
                quiet = Some(Quiet::start(&stack).await?);
                direct::user_worker_port(stack.port).await?
            } else {
                stack.port
            };
            Target {
                ws_base: format!("ws://127.0.0.1:{port}"),
                stack: Some(stack),
            }
        }
    };
    let limits = if target.stack.is_some() {
        "per-connection rate limits lifted (SEND_/TYPING_BURST and _PER_SECOND = 1000000)"
    } else {
        "the deployment's own limits"
    };
    let mut results = json!({
        "profile": args.profile,
        "target": args.url.clone().unwrap_or_else(|| "local: redis-server + redis-rest + wrangler dev (workerd)".into()),
        "limits": limits,
        "path": match (&args.url, args.direct) {
            (Some(_), _) => "to the given URL",
            (None, true) => "straight to the user Worker's socket inside wrangler dev, the runtime's network events off",
            (None, false) => "through wrangler dev's proxy, as users connect",
        },
    });

    let (latency_rooms, rate, seconds) = if full {
        (vec![10, 50, 200], 20, 10)
    } else {
        (vec![10, 50], 20, 5)
    };
    if run("fan-out") {
        let mut fan = Vec::new();
        for clients in latency_rooms {
            eprintln!("fan-out: {clients} clients at {rate}/s for {seconds} s");
            fan.push(fan_out(&target, clients, rate, seconds).await?);
        }
        results["fan_out"] = json!(fan);
    }

    if run("big-room") {
        let (members, seconds) = if full { (1000, 10) } else { (200, 5) };
        eprintln!("big room: {members} members join, then 5 msg/s for {seconds} s");
        results["big_room"] = big_room(&target, members, 5, seconds).await?;
    }

    if let Some(stack) = target.stack.as_ref()
        && run("breakdown")
    {
        // wrangler's inspector relay serves one DevTools session at a time, and the breakdown
        // opens its own; a --direct run's quiet session pauses meanwhile.
        let resume = match quiet.take() {
            Some(session) => {
                session.end().await?;
                true
            }
            None => false,
        };
        let rooms: &[usize] = if full { &[10, 200] } else { &[10] };
        let mut split = Vec::new();
        for &clients in rooms {
            eprintln!("breakdown: {clients} clients at 20/s, Redis MONITOR + isolate CPU profile");
            // The profilers depend on tools outside this repository (perf, wrangler's inspector
            // relay); if they fail, the rest of the run still counts.
            split.push(
                breakdown(&target, clients, seconds)
                    .await
                    .unwrap_or_else(|e| json!({"clients": clients, "skipped": format!("{e:#}")})),
            );
        }
        results["breakdown"] = json!(split);
        if resume {
            quiet = Some(Quiet::start(stack).await?);
        }
    }

    let rates: &[u32] = if full {
        &[50, 100, 200, 400, 800, 1600, 2400, 3200]
    } else {
        &[50, 100, 200, 400]
    };
    if run("throughput") {
        eprintln!("throughput: one room of 10, rates {rates:?}");
        results["throughput"] = throughput(&target, rates, if full { 10 } else { 3 }).await?;
    }

    let per_room: &[u32] = if full {
        &[1, 2, 5, 10, 20, 40]
    } else {
        &[2, 5, 10]
    };
    if run("rooms") {
        eprintln!("throughput: 20 rooms of 10 at once");
        results["throughput_20_rooms"] =
            multi_room(&target, 20, per_room, if full { 10 } else { 3 }).await?;
    }

    if run("components") {
        eprintln!("components: ping/pong and room writes");
        results["components"] = components(&target, if full { 500 } else { 200 }).await?;
    }

    if run("connections") {
        eprintln!("connections");
        results["connections"] = if full {
            connections(&target, 1000, 50).await?
        } else {
            connections(&target, 200, 20).await?
        };
    }

    // The restart below starts a fresh runtime, which drops the quiet session anyway; it is
    // ended here so the stack is left as wrangler set it up.
    if let Some(quiet) = quiet.take() {
        quiet.end().await?;
    }
    if let Some(stack) = target.stack.as_mut()
        && run("recovery")
    {
        eprintln!("recovery: 50 clients, Worker restart");
        results["recovery"] = recovery(stack, 50).await?;
    }
    if run("sizes") {
        results["sizes"] = json!({
            "worker_wasm": size("apps/chat-worker/build/index_bg.wasm")?,
            "worker_js": size("apps/chat-worker/build/index.js")?,
            "web_wasm": size("apps/web/dist/pkg/web_bg.wasm")?,
            "web_js": size("apps/web/dist/pkg/web.js")?,
        });
    }
    results["elapsed_s"] = json!(round(started.elapsed().as_secs_f64()));
    let text = serde_json::to_string_pretty(&results)?;
    if let Some(dir) = std::path::Path::new(&args.out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &text)?;
    print_table(&results);
    println!("\nwrote {}", args.out);
    Ok(())
}

/// A JSON value as table text (strings without quotes).
fn t(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print_table(r: &Json) {
    println!(
        "edge-chat benchmark ({}) — {}; clients connect {}",
        t(&r["profile"]),
        t(&r["limits"]),
        t(&r["path"])
    );
    if !r["fan_out"].is_null() {
        println!("\nfan-out latency (send → each other client), ms");
        println!(
            "{:>8} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  {}",
            "clients", "rate", "samples", "p50", "p90", "p99", "max", "1st msg", CPU_HEADER
        );
        for f in r["fan_out"].as_array().into_iter().flatten() {
            let l = &f["latency"];
            println!(
                "{:>8} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  {}",
                t(&f["clients"]),
                t(&f["rate_per_s"]),
                t(&l["samples"]),
                t(&l["p50_ms"]),
                t(&l["p90_ms"]),
                t(&l["p99_ms"]),
                t(&l["max_ms"]),
                t(&f["first_message_in_fresh_room_ms"]),
                cpu_columns(&f["cpu"])
            );
        }
    }
    if !r["big_room"].is_null() {
        let b = &r["big_room"];
        let l = &b["latency"];
        println!(
            "\nbig room: {} members joined (25 at a time) in {} s (workerd RSS {} MiB, +{} MiB); \
             then {} msg/s: p50 {} ms, p99 {} ms over {} deliveries, {} receivers missing messages; \
             1st msg {} ms behind {} queued frames",
            t(&b["clients"]),
            t(&b["join_all_s"]),
            t(&b["workerd_rss_mib_after_joins"]),
            t(&b["workerd_rss_growth_mib"]),
            t(&b["rate_per_s"]),
            t(&l["p50_ms"]),
            t(&l["p99_ms"]),
            t(&l["samples"]),
            t(&b["receivers_missing_messages"]),
            t(&b["first_message_in_fresh_room_ms"]),
            t(&b["frames_queued_before_first_message"]),
        );
    }
    for b in r["breakdown"].as_array().into_iter().flatten() {
        print_breakdown(b);
    }
    if !r["throughput"].is_null() {
        let tp = &r["throughput"];
        println!(
            "\nthroughput, one room of 10: highest sustained {} msg/s with p99 ≤ 100 ms",
            t(&tp["highest_sustained_rate_per_s"])
        );
        println!(
            "{:>6} {:>10} {:>8} {:>8} {:>10} {:>10}  {}",
            "rate", "achieved", "p50", "p99", "cmds/msg", "msgs/write", CPU_HEADER
        );
        for s in tp["steps"].as_array().into_iter().flatten() {
            println!(
                "{:>6} {:>10} {:>8} {:>8} {:>10} {:>10}  {}",
                t(&s["rate_per_s"]),
                t(&s["achieved_rate_per_s"]),
                t(&s["latency"]["p50_ms"]),
                t(&s["latency"]["p99_ms"]),
                t(&s["redis"]["commands_per_message"]),
                t(&s["redis"]["messages_per_write"]),
                cpu_columns(&s["cpu"])
            );
        }
    }
    if !r["throughput_20_rooms"].is_null() {
        let m = &r["throughput_20_rooms"];
        println!(
            "\nthroughput, 20 rooms of 10 at once: highest sustained {} msg/s in all with p99 ≤ 100 ms over all deliveries",
            t(&m["highest_sustained_total_rate_per_s"])
        );
        println!(
            "{:>9} {:>7} {:>8} {:>8} {:>8} {:>11} {:>11}  {}",
            "per room", "in all", "samples", "p50", "p99", "worst room", "1st msg", CPU_HEADER
        );
        for s in m["steps"].as_array().into_iter().flatten() {
            println!(
                "{:>9} {:>7} {:>8} {:>8} {:>8} {:>11} {:>11}  {}",
                t(&s["rate_per_room_per_s"]),
                t(&s["total_rate_per_s"]),
                t(&s["latency"]["samples"]),
                t(&s["latency"]["p50_ms"]),
                t(&s["latency"]["p99_ms"]),
                t(&s["worst_room_p99_ms"]),
                t(&s["slowest_first_message_ms"]),
                cpu_columns(&s["cpu"])
            );
        }
    }
    if !r["components"].is_null() {
        let k = &r["components"];
        println!(
            "\ncomponents (p50 / p99 ms): websocket ping→pong {} / {}, one room write through redis-rest {} / {}",
            t(&k["websocket_ping_pong"]["p50_ms"]),
            t(&k["websocket_ping_pong"]["p99_ms"]),
            t(&k["room_write_through_redis_rest"]["p50_ms"]),
            t(&k["room_write_through_redis_rest"]["p99_ms"])
        );
    }
    if !r["connections"].is_null() {
        let c = &r["connections"];
        println!(
            "\nconnections: {} sockets in {} rooms, connected in {} s, workerd RSS {} MiB",
            t(&c["sockets"]),
            t(&c["rooms"]),
            t(&c["connect_all_s"]),
            t(&c["workerd_rss_mib"])
        );
    }
    if !r["recovery"].is_null() {
        let v = &r["recovery"];
        println!(
            "recovery: {} clients, Worker restart {} s, all back and caught up after {} s, lost {}, duplicated {}",
            t(&v["clients"]),
            t(&v["worker_restart_s"]),
            t(&v["all_back_and_caught_up_s"]),
            t(&v["lost"]),
            t(&v["duplicated"])
        );
    }
    if !r["sizes"].is_null() {
        println!("\nsizes (raw / gzip -9 bytes)");
        for (name, s) in r["sizes"].as_object().into_iter().flatten() {
            println!(
                "{name:>12} {:>9} / {:>9}",
                t(&s["raw_bytes"]),
                t(&s["gzip9_bytes"])
            );
        }
    }
}

/// The CPU columns' heading: percent of one core per process, and the machine's busy share.
const CPU_HEADER: &str = "cpu %: Worker  proxy  wrangler  redis  loadgen  machine";

fn cpu_columns(cpu: &Json) -> String {
    format!(
        "       {:>6}  {:>5}  {:>8}  {:>5}  {:>7}  {:>7}",
        t(&cpu["workerd (Worker) %"]),
        t(&cpu["workerd (dev proxy) %"]),
        t(&cpu["wrangler (node) %"]),
        t(&cpu["redis-server %"]),
        t(&cpu["loadgen + redis-rest %"]),
        t(&cpu["machine busy % of all cores"])
    )
}

fn print_breakdown(b: &Json) {
    if !b["skipped"].is_null() {
        println!(
            "\nwhere the time goes, {} clients: skipped: {}",
            t(&b["clients"]),
            t(&b["skipped"])
        );
        return;
    }
    println!(
        "\nwhere the time goes: {} clients at {}/s (ms)",
        t(&b["clients"]),
        t(&b["rate_per_s"])
    );
    print_watched("through wrangler's dev proxy, as users connect", b);
    let direct = &b["direct_to_user_worker"];
    if direct["skipped"].is_null() {
        print_watched(
            "straight to the user Worker's socket, network events off",
            direct,
        );
    } else {
        println!("  direct run skipped: {}", t(&direct["skipped"]));
    }
    let p = &b["isolate_profile"];
    println!(
        "  the Worker's isolate under V8's profiler (p50 {} ms in that run): busy {} % of {} ms, {} µs of JS/wasm CPU per message",
        t(&p["latency_while_profiled"]["p50_ms"]),
        t(&p["busy_percent_of_wall"]),
        t(&p["wall_ms"]),
        t(&p["busy_us_per_message"])
    );
    println!("    busy time by category (self):");
    for c in p["self_by_category"].as_array().into_iter().flatten() {
        if c["percent_of_busy"].is_null() {
            continue;
        }
        println!(
            "      {:>5} %  {:>9} ms  {}",
            t(&c["percent_of_busy"]),
            t(&c["ms"]),
            t(&c["category"])
        );
    }
    println!("    top functions (self):");
    for f in p["top_self"].as_array().into_iter().flatten().take(10) {
        let name: String = t(&f["function"]).chars().take(110).collect();
        println!("      {:>5} %  {name}", t(&f["percent_of_busy"]));
    }
}

/// One watched run: the latency split at the store, CPU by process, workerd's `perf` profile.
fn print_watched(title: &str, w: &Json) {
    let stage = |name: &str, l: &Json| {
        println!(
            "    {name:<36} p50 {:>7}  p90 {:>7}  p99 {:>7}  max {:>7}",
            t(&l["p50_ms"]),
            t(&l["p90_ms"]),
            t(&l["p99_ms"]),
            t(&l["max_ms"])
        );
    };
    println!("  {title}:");
    stage("send → each client (whole)", &w["latency"]);
    stage("send → Redis ran the ZADD", &w["send_to_stored_in_redis"]);
    stage(
        "Redis ran the ZADD → client has it",
        &w["stored_in_redis_to_received"],
    );
    println!("    {CPU_HEADER}\n    {}", cpu_columns(&w["cpu"]));
    let n = &w["workerd_native_profile"];
    if !n["skipped"].is_null() {
        println!("    workerd perf profile skipped: {}", t(&n["skipped"]));
        return;
    }
    println!(
        "    workerd processes by perf ({} samples):",
        t(&n["samples"])
    );
    for c in n["by_category"].as_array().into_iter().flatten() {
        println!("      {:>5} %  {}", t(&c["percent"]), t(&c["category"]));
    }
    println!("    top symbols:");
    for f in n["top_symbols"].as_array().into_iter().flatten().take(8) {
        let name: String = t(&f["symbol"]).chars().take(100).collect();
        println!("      {:>5} %  {name}", t(&f["percent"]));
    }
}
