//! `loadgen`: measures edge-chat under load, speaking protocol v1 over real WebSockets. Against
//! the local stack (Redis + redis-rest + the Worker under Miniflare, started here) by default,
//! or any deployed Worker with `--url`. Prints a table and writes the figures as JSON.
//!
//! All clocks are read in this one process: a message carries the time it was sent (since the
//! run's start), and each receiver subtracts it from the time it arrived.

use anyhow::{Context, Result, bail};
use clap::Parser;
use e2e::{Chat, ChatStack, Incoming, WorkerOptions};
use protocol::{Message, ServerFrame};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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
}

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

/// Reads messages until `expected` arrived or `deadline`; returns each one's latency.
async fn receive(mut chat: Chat, start: Instant, expected: usize, deadline: Instant) -> Vec<f64> {
    let mut latencies = Vec::with_capacity(expected);
    while latencies.len() < expected {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match chat.next_within(left).await {
            Ok(Incoming::Frame(ServerFrame::Message { message })) => {
                if let Some(sent) = sent_at(&message) {
                    latencies.push(start.elapsed().as_secs_f64() * 1000.0 - sent);
                }
            }
            Ok(Incoming::Closed(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    latencies
}

/// The send time (ms since start) a benchmark message carries: "bench <ms>".
fn sent_at(message: &Message) -> Option<f64> {
    message.text.strip_prefix("bench ")?.parse().ok()
}

/// One sender at `rate` messages/s for `seconds` into a room of `clients`; latency from send to
/// each other client's receipt.
async fn fan_out(target: &Target, clients: usize, rate: u32, seconds: u32) -> Result<Json> {
    let room = format!("fanout-{clients}-{rate}-{}", std::process::id());
    let mut chats = join_many(target, &room, clients, "fo").await?;
    let mut sender = chats.remove(0);
    let total = (rate * seconds) as usize;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(u64::from(seconds) + 20);
    let receivers: Vec<_> = chats
        .into_iter()
        .map(|chat| tokio::spawn(receive(chat, start, total, deadline)))
        .collect();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    for n in 0..total {
        tick.tick().await;
        let sent = start.elapsed().as_secs_f64() * 1000.0;
        sender
            .say(
                &format!("bench-{n:08}-{}", std::process::id()),
                &format!("bench {sent:.3}"),
            )
            .await?;
    }
    let send_seconds = start.elapsed().as_secs_f64();
    let mut latencies = Vec::new();
    let mut incomplete = 0;
    for receiver in receivers {
        let got = receiver.await?;
        if got.len() < total {
            incomplete += 1;
        }
        latencies.extend(got);
    }
    Ok(json!({
        "clients": clients,
        "rate_per_s": rate,
        "seconds": seconds,
        "sent": total,
        "achieved_rate_per_s": round(total as f64 / send_seconds),
        "deliveries": latencies.len(),
        "receivers_missing_messages": incomplete,
        "latency": percentiles(latencies),
    }))
}

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
                "transactions (EXEC)": delta("exec"),
                "messages_per_transaction": round(sent / delta("exec").max(1) as f64),
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

/// `rooms` rooms of 10 clients, one sender each at `rate` messages/s (so `rooms × rate`
/// in all), stepping the rate up until some room's p99 passes 100 ms.
async fn multi_room(target: &Target, rooms: usize, rates: &[u32], seconds: u32) -> Result<Json> {
    let mut steps = Vec::new();
    let mut best = 0;
    for &rate in rates {
        let runs: Vec<_> = (0..rooms)
            .map(|_| {
                let ws_base = target.ws_base.clone();
                tokio::spawn(async move {
                    let target = Target {
                        ws_base,
                        stack: None,
                    };
                    fan_out(&target, 11, rate, seconds).await
                })
            })
            .collect();
        let mut worst_p99: f64 = 0.0;
        let mut complete = true;
        let mut samples = 0;
        for run in runs {
            let step = run.await??;
            worst_p99 = worst_p99.max(step["latency"]["p99_ms"].as_f64().unwrap_or(f64::MAX));
            complete &= step["receivers_missing_messages"] == json!(0);
            samples += step["deliveries"].as_u64().unwrap_or(0);
        }
        let ok = worst_p99 <= 100.0 && complete;
        steps.push(json!({
            "rate_per_room_per_s": rate,
            "total_rate_per_s": rate as usize * rooms,
            "deliveries": samples,
            "worst_room_p99_ms": round(worst_p99),
            "within_100ms_p99": ok,
        }));
        if !ok {
            break;
        }
        best = rate as usize * rooms;
    }
    Ok(
        json!({"rooms": rooms, "room_clients": 10, "highest_sustained_total_rate_per_s": best, "steps": steps}),
    )
}

/// Where a message's time goes, by component, each measured alone: a WebSocket round trip
/// that the runtime answers without running room code (`ping` → `pong`), and one room write
/// (`MULTI ZADD ZREMRANGEBYRANK EXEC`) through redis-rest to Redis.
async fn components(target: &Target, samples: usize) -> Result<Json> {
    let (mut chat, _) =
        Chat::join(&target.ws_url("components"), "probe", "probe-0001", None).await?;
    let mut ws_rtt = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        chat.send_raw(e2e::WsText::text(protocol::PING)).await?;
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
        for n in 0..samples {
            let message = format!("{{\"seq\":{n},\"text\":\"probe\"}}");
            let commands = [
                upstash::Command::zadd("chat:probe:messages", [(n as i64, message.as_str())]),
                upstash::Command::zremrangebyrank("chat:probe:messages", 0, -10001),
            ];
            let start = Instant::now();
            store.multi_exec(&commands).await?;
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
    let rss_mib = workerd_rss_kib().map(|kib| round(kib as f64 / 1024.0));
    Ok(json!({
        "sockets": all.len(),
        "rooms": rooms,
        "connect_all_s": round(elapsed.as_secs_f64()),
        "workerd_rss_mib": rss_mib,
    }))
}

/// Resident memory of every `workerd` process on the machine, in KiB (the local runtime).
fn workerd_rss_kib() -> Option<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let path = entry.path();
        let Ok(cmdline) = std::fs::read_to_string(path.join("cmdline")) else {
            continue;
        };
        if !cmdline.contains("workerd") || cmdline.contains("loadgen") {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).ok()?;
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
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
    let started = Instant::now();
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
            Target {
                ws_base: format!("ws://127.0.0.1:{}", stack.port),
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
    });

    let (sizes, latency_rooms, rate, seconds) = if full {
        (true, vec![10, 50, 200], 20, 10)
    } else {
        (true, vec![10, 50], 20, 5)
    };
    let mut fan = Vec::new();
    for clients in latency_rooms {
        eprintln!("fan-out: {clients} clients at {rate}/s for {seconds} s");
        fan.push(fan_out(&target, clients, rate, seconds).await?);
    }
    results["fan_out"] = json!(fan);

    let rates: &[u32] = if full {
        &[50, 100, 200, 400, 800, 1600]
    } else {
        &[50, 100, 200, 400]
    };
    eprintln!("throughput: one room of 10, rates {rates:?}");
    results["throughput"] = throughput(&target, rates, if full { 10 } else { 3 }).await?;

    eprintln!("throughput: 20 rooms of 10 at once");
    let per_room: &[u32] = if full {
        &[10, 20, 40, 80]
    } else {
        &[5, 10, 20]
    };
    results["throughput_20_rooms"] =
        multi_room(&target, 20, per_room, if full { 10 } else { 3 }).await?;

    eprintln!("components: ping/pong and room writes");
    results["components"] = components(&target, if full { 500 } else { 200 }).await?;

    eprintln!("connections");
    results["connections"] = if full {
        connections(&target, 1000, 50).await?
    } else {
        connections(&target, 200, 20).await?
    };

    if let Some(stack) = target.stack.as_mut() {
        eprintln!("recovery: 50 clients, Worker restart");
        results["recovery"] = recovery(stack, 50).await?;
    }
    if sizes {
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
        "edge-chat benchmark ({}) — {}",
        t(&r["profile"]),
        r["limits"].as_str().unwrap_or("")
    );
    println!("\nfan-out latency (send → each other client), ms");
    println!(
        "{:>8} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "clients", "rate", "samples", "p50", "p90", "p99", "max"
    );
    for f in r["fan_out"].as_array().into_iter().flatten() {
        let l = &f["latency"];
        println!(
            "{:>8} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8}",
            t(&f["clients"]),
            t(&f["rate_per_s"]),
            t(&l["samples"]),
            t(&l["p50_ms"]),
            t(&l["p90_ms"]),
            t(&l["p99_ms"]),
            t(&l["max_ms"])
        );
    }
    let tp = &r["throughput"];
    println!(
        "\nthroughput, one room of 10: highest sustained {} msg/s with p99 ≤ 100 ms",
        t(&tp["highest_sustained_rate_per_s"])
    );
    println!(
        "{:>6} {:>10} {:>8} {:>8} {:>12} {:>12}",
        "rate", "achieved", "p50", "p99", "cmds/msg", "msgs/EXEC"
    );
    for s in tp["steps"].as_array().into_iter().flatten() {
        println!(
            "{:>6} {:>10} {:>8} {:>8} {:>12} {:>12}",
            t(&s["rate_per_s"]),
            t(&s["achieved_rate_per_s"]),
            t(&s["latency"]["p50_ms"]),
            t(&s["latency"]["p99_ms"]),
            t(&s["redis"]["commands_per_message"]),
            t(&s["redis"]["messages_per_transaction"])
        );
    }
    let m = &r["throughput_20_rooms"];
    println!(
        "\nthroughput, 20 rooms of 10 at once: highest sustained {} msg/s in all with every room's p99 ≤ 100 ms",
        t(&m["highest_sustained_total_rate_per_s"])
    );
    println!(
        "{:>10} {:>10} {:>12} {:>16}",
        "per room", "in all", "deliveries", "worst room p99"
    );
    for s in m["steps"].as_array().into_iter().flatten() {
        println!(
            "{:>10} {:>10} {:>12} {:>16}",
            t(&s["rate_per_room_per_s"]),
            t(&s["total_rate_per_s"]),
            t(&s["deliveries"]),
            t(&s["worst_room_p99_ms"])
        );
    }
    let k = &r["components"];
    println!(
        "\ncomponents (p50 / p99 ms): websocket ping→pong {} / {}, one room write through redis-rest {} / {}",
        t(&k["websocket_ping_pong"]["p50_ms"]),
        t(&k["websocket_ping_pong"]["p99_ms"]),
        t(&k["room_write_through_redis_rest"]["p50_ms"]),
        t(&k["room_write_through_redis_rest"]["p99_ms"])
    );
    let c = &r["connections"];
    println!(
        "\nconnections: {} sockets in {} rooms, connected in {} s, workerd RSS {} MiB",
        t(&c["sockets"]),
        t(&c["rooms"]),
        t(&c["connect_all_s"]),
        t(&c["workerd_rss_mib"])
    );
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
