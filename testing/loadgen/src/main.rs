//! `loadgen`: measures edge-chat under load, speaking protocol v1 over real WebSockets. Against
//! the local stack (Redis + redis-rest + the Worker under Miniflare, started here) by default,
//! or any deployed Worker with `--url`. Prints a table and writes the figures as JSON.
//!
//! All clocks are read in this one process: a message carries the time it was sent (since the
//! run's start), and each receiver subtracts it from the time it arrived. This file holds the
//! flags and the order the parts run in; `scenarios` measures, `report` prints.

use anyhow::{Result, bail};
use clap::{Parser, ValueEnum};
use numbers::round;
use scenarios::{Quiet, Target};
use serde::Serialize;
use stack::{ChatStack, WorkerOptions};
use std::time::Instant;

mod cpu;
mod direct;
mod numbers;
mod report;
mod scenarios;

#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// A deployed Worker (`https://…`) to measure instead of the local stack. Redis-side figures
    /// and recovery need the local stack and are skipped.
    #[arg(long)]
    url: Option<String>,
    /// How long a run takes.
    #[arg(long, value_enum, default_value = "quick")]
    profile: Profile,
    /// Where to write the JSON figures.
    #[arg(long, default_value = "docs/bench/latest.json")]
    out: String,
    /// Connect the clients straight to the user Worker's socket inside `wrangler dev`, past its
    /// dev proxy, with the runtime's network events off: the runtime without dev mode's extra
    /// work (local stack only; the restart test still goes through the proxy).
    #[arg(long)]
    direct: bool,
    /// Put Redis this many milliseconds away each way: a proxy between the Worker and
    /// redis-rest delays every byte, as a database in another region does (local stack only).
    #[arg(long, default_value_t = 0)]
    store_delay_ms: u64,
    /// Run only these parts (comma-separated); all of them when not given.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,
}

/// How much of each part a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Under two minutes.
    Quick,
    /// Bigger rooms, higher rates and longer runs: about four minutes.
    Full,
}

impl Profile {
    /// The name the flag takes and the report shows.
    pub fn name(self) -> &'static str {
        match self {
            Self::Quick => "quick",
            Self::Full => "full",
        }
    }
}

/// The parts of a run, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    FanOut,
    Busy,
    BigRoom,
    Breakdown,
    Throughput,
    Rooms,
    Components,
    Connections,
    Recovery,
    Sizes,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let full = args.profile == Profile::Full;
    if args.direct && args.url.is_some() {
        bail!("--direct applies to the local stack only, not to --url");
    }
    let run = |part: Part| args.only.is_empty() || args.only.contains(&part);
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
            let mut options = WorkerOptions::unlimited();
            if args.store_delay_ms > 0 {
                options =
                    options.with_store_delay(std::time::Duration::from_millis(args.store_delay_ms));
            }
            let stack = ChatStack::start(options).await?;
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
    let path = match (&args.url, args.direct) {
        (Some(_), _) => "to the given URL",
        (None, true) => {
            "straight to the user Worker's socket inside wrangler dev, the runtime's network events off"
        }
        (None, false) => "through wrangler dev's proxy, as users connect",
    };
    let target_name = args
        .url
        .clone()
        .unwrap_or_else(|| "local: redis-server + redis-rest + wrangler dev (workerd)".into());
    let mut report = report::Report::new(args.profile, target_name, limits, path);
    report.store_delay_ms = args.store_delay_ms;

    let (latency_rooms, rate, seconds) = if full {
        (vec![10, 50, 200], 20, 10)
    } else {
        (vec![10, 50], 20, 5)
    };
    if run(Part::FanOut) {
        let mut fan = Vec::new();
        for clients in latency_rooms {
            eprintln!("fan-out: {clients} clients at {rate}/s for {seconds} s");
            fan.push(scenarios::fan_out(&target, clients, rate, seconds).await?);
        }
        report.fan_out = Some(fan);
    }

    if run(Part::Busy) {
        let seconds = if full { 20 } else { 10 };
        let mut busy = Vec::new();
        for clients in [10, 50] {
            eprintln!("busy room: {clients} members each sending 1 msg/s for {seconds} s");
            busy.push(scenarios::busy_room(&target, clients, 1, seconds).await?);
        }
        report.busy_room = Some(busy);
    }

    if run(Part::BigRoom) {
        let (members, seconds) = if full { (1000, 10) } else { (200, 5) };
        eprintln!("big room: {members} members join, then 5 msg/s for {seconds} s");
        report.big_room = Some(scenarios::big_room(&target, members, 5, seconds).await?);
    }

    if let Some(stack) = target.stack.as_ref()
        && run(Part::Breakdown)
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
            split.push(scenarios::BreakdownOutcome::from_result(
                clients,
                scenarios::breakdown(&target, clients, seconds).await,
            ));
        }
        report.breakdown = Some(split);
        if resume {
            quiet = Some(Quiet::start(stack).await?);
        }
    }

    let rates: &[u32] = if full {
        &[50, 100, 200, 400, 800, 1600, 2400, 3200, 4000, 4800]
    } else {
        &[50, 100, 200, 400]
    };
    if run(Part::Throughput) {
        let seconds = if full { 10 } else { 3 };
        eprintln!("throughput: one room of 10, one sender, rates {rates:?}");
        report.throughput =
            Some(scenarios::throughput(&target, scenarios::Senders::One, rates, seconds).await?);
        eprintln!("throughput: one room of 10, every member sends, rates {rates:?}");
        report.throughput_every_member = Some(
            scenarios::throughput(&target, scenarios::Senders::EveryMember, rates, seconds).await?,
        );
    }

    let per_room: &[u32] = if full {
        &[1, 2, 5, 10, 20, 40]
    } else {
        &[2, 5, 10]
    };
    if run(Part::Rooms) {
        eprintln!("throughput: 20 rooms of 10 at once");
        let seconds = if full { 10 } else { 3 };
        report.throughput_20_rooms =
            Some(scenarios::multi_room(&target, 20, per_room, seconds).await?);
    }

    if run(Part::Components) {
        eprintln!("components: ping/pong and room writes");
        let samples = if full { 500 } else { 200 };
        report.components = Some(scenarios::components(&target, samples).await?);
    }

    if run(Part::Connections) {
        eprintln!("connections");
        let (sockets, rooms) = if full { (1000, 50) } else { (200, 20) };
        report.connections = Some(scenarios::connections(&target, sockets, rooms).await?);
    }

    // The restart below starts a fresh runtime, which drops the quiet session anyway; it is
    // ended here so the stack is left as wrangler set it up.
    if let Some(quiet) = quiet.take() {
        quiet.end().await?;
    }
    if let Some(stack) = target.stack.as_mut()
        && run(Part::Recovery)
    {
        eprintln!("recovery: 50 clients, Worker restart");
        report.recovery = Some(scenarios::recovery(stack, 50).await?);
    }
    if run(Part::Sizes) {
        report.sizes = Some(scenarios::sizes()?);
    }
    report.elapsed_s = round(started.elapsed().as_secs_f64());
    let text = serde_json::to_string_pretty(&report)?;
    if let Some(dir) = std::path::Path::new(&args.out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &text)?;
    report::print_table(&report);
    println!("\nwrote {}", args.out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_profiles_take_the_names_they_always_had() {
        let args = Args::try_parse_from([
            "loadgen",
            "--profile",
            "full",
            "--only",
            "fan-out,busy,big-room,breakdown,throughput,rooms,components,connections,recovery,sizes",
        ])
        .unwrap();
        assert_eq!(args.profile, Profile::Full);
        assert_eq!(
            args.only,
            [
                Part::FanOut,
                Part::Busy,
                Part::BigRoom,
                Part::Breakdown,
                Part::Throughput,
                Part::Rooms,
                Part::Components,
                Part::Connections,
                Part::Recovery,
                Part::Sizes,
            ]
        );
        let quick = Args::try_parse_from(["loadgen"]).unwrap();
        assert_eq!(quick.profile, Profile::Quick);
        assert!(quick.only.is_empty());
        assert!(Args::try_parse_from(["loadgen", "--only", "fanout"]).is_err());
        assert!(Args::try_parse_from(["loadgen", "--profile", "slow"]).is_err());
        assert_eq!(
            serde_json::to_value(Profile::Quick).unwrap(),
            serde_json::json!("quick")
        );
    }
}
