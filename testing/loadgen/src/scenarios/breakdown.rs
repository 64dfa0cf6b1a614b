//! The breakdown: where a fan-out message's time goes, from Redis's `MONITOR` timestamps, Linux
//! `perf` on the workerd processes and V8's sampling profiler in the Worker's isolate.

use super::fan_out::{FanOutRun, fan_out_room, fan_out_run};
use super::{FanOut, Outcome, Percentiles, Target, percentiles};
use crate::{cpu, direct};
use anyhow::{Result, bail};
use profiler::monitor;
use profiler::perf::{self, NativeProfile};
use profiler::profile::{self, IsolateProfile};
use serde::Serialize;
use stack::ChatStack;
use std::collections::BTreeMap;
use std::time::Duration;

/// The send rate of the breakdown runs, as in the fan-out latency runs.
const BREAKDOWN_RATE: u32 = 20;

/// V8's sampling interval for the isolate profile: fine enough to see a 1 ms handler in detail.
const PROFILE_INTERVAL_US: u32 = 250;

/// One room size's breakdown, or why it could not be taken. The profilers depend on tools
/// outside this repository, so a failure is reported in place of the figures rather than
/// ending the run.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum BreakdownOutcome {
    // Boxed: the figures are far larger than the reason they are missing.
    Ran(Box<Breakdown>),
    Skipped { clients: usize, skipped: String },
}

impl BreakdownOutcome {
    /// The figures, or why they are missing, as [`Outcome::from_result`] does, keeping the room
    /// size a skipped breakdown was for.
    pub fn from_result(clients: usize, result: Result<Breakdown>) -> Self {
        match Outcome::from_result(result) {
            Outcome::Ran(figures) => Self::Ran(Box::new(figures)),
            Outcome::Skipped { skipped } => Self::Skipped { clients, skipped },
        }
    }
}

/// The three runs of one breakdown. The first run's figures are at the top level, as in the
/// reports before typed results.
#[derive(Debug, Serialize)]
pub struct Breakdown {
    /// Through wrangler's dev proxy, as users connect.
    #[serde(flatten)]
    pub proxied: WatchedRun,
    /// Straight to the user Worker's socket, the runtime's network events off.
    pub direct_to_user_worker: Outcome<DirectRun>,
    pub isolate_profile: IsolateRun,
}

/// A fan-out run with the latency split at the store and `perf` on workerd.
#[derive(Debug, Serialize)]
pub struct WatchedRun {
    #[serde(flatten)]
    pub run: FanOut,
    pub send_to_stored_in_redis: Option<Percentiles>,
    pub stored_in_redis_to_received: Option<Percentiles>,
    pub deliveries_without_a_redis_timestamp: usize,
    /// A machine without a usable `perf` still gets every other figure, and says why not this.
    pub workerd_native_profile: Outcome<NativeProfile>,
}

/// The watched run straight to the user Worker, and where that was.
#[derive(Debug, Serialize)]
pub struct DirectRun {
    #[serde(flatten)]
    pub run: WatchedRun,
    pub ws_base: String,
}

/// The Worker's isolate under V8's profiler for one run.
#[derive(Debug, Serialize)]
pub struct IsolateRun {
    #[serde(flatten)]
    pub profile: IsolateProfile,
    pub sampling_interval_us: u32,
    /// The profiler signals the isolate thousands of times a second, so this latency shows
    /// what profiling cost rather than standing for the Worker's.
    pub latency_while_profiled: Option<Percentiles>,
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
///    wasm ran). The profiler signals the isolate thousands of times a second, so no process
///    figure comes from this run, and its latency is kept only to show what profiling cost.
pub async fn breakdown(target: &Target, clients: usize, seconds: u32) -> Result<Breakdown> {
    let Some(stack) = &target.stack else {
        bail!("the breakdown needs the local stack (Redis MONITOR and the inspector)");
    };
    let proxied = watched_run(stack, target, clients, seconds).await?;
    let (direct, direct_to_user_worker) = match direct::user_worker_port(stack.port).await {
        Ok(port) => {
            let direct = Target {
                ws_base: format!("ws://127.0.0.1:{port}"),
                stack: None,
            };
            let quiet = Quiet::start(stack).await?;
            let run = watched_run(stack, &direct, clients, seconds).await;
            quiet.end().await?;
            let run = DirectRun {
                run: run?,
                ws_base: direct.ws_base.clone(),
            };
            (Some(direct), Outcome::Ran(run))
        }
        Err(e) => (None, Outcome::from_result(Err(e))),
    };

    let chats = fan_out_room(direct.as_ref().unwrap_or(target), clients, BREAKDOWN_RATE).await?;
    let mut inspector = profile::Inspector::connect(stack.inspector_port).await?;
    inspector.start(PROFILE_INTERVAL_US).await?;
    let run = fan_out_run(chats, BREAKDOWN_RATE, seconds, Duration::ZERO).await;
    let cpu_profile = inspector.stop().await;
    drop(inspector);
    let run = run?;
    let isolate = IsolateRun {
        profile: profile::summarize(&cpu_profile?, f64::from(PROFILE_INTERVAL_US), run.sent, 15)?,
        sampling_interval_us: PROFILE_INTERVAL_US,
        latency_while_profiled: percentiles(run.latencies()),
    };
    Ok(Breakdown {
        proxied,
        direct_to_user_worker,
        isolate_profile: isolate,
    })
}

/// A DevTools session that keeps the runtime's network events off while it lasts. `wrangler dev`
/// has them on, so every outbound fetch is relayed to its node process; a deployed Worker does
/// no such work.
#[derive(Debug)]
pub struct Quiet {
    inspector: profile::Inspector,
}

impl Quiet {
    pub async fn start(stack: &ChatStack) -> Result<Self> {
        let mut inspector = profile::Inspector::connect(stack.inspector_port).await?;
        inspector.network_events(false).await?;
        Ok(Self { inspector })
    }

    /// Turns the events back on, leaving the stack as `wrangler dev` set it up.
    pub async fn end(mut self) -> Result<()> {
        self.inspector.network_events(true).await
    }
}

/// A fan-out run with Redis's `MONITOR` (latency split at the store) and `perf` on workerd.
async fn watched_run(
    stack: &ChatStack,
    target: &Target,
    clients: usize,
    seconds: u32,
) -> Result<WatchedRun> {
    let chats = fan_out_room(target, clients, BREAKDOWN_RATE).await?;
    let monitor = monitor::Monitor::start(stack.rest.redis.url()).await?;
    let native = perf::Recording::start(&cpu::workerd_pids(), &std::env::temp_dir()).await;
    let run = fan_out_run(chats, BREAKDOWN_RATE, seconds, Duration::ZERO).await;
    let stored = monitor.finish();
    let native = match native {
        Ok(recording) => recording.finish(15).await,
        Err(e) => Err(e),
    };
    let run = run?;
    let (to_store, from_store, unmatched) = split_at_store(&run, &stored);
    Ok(WatchedRun {
        run: run.result(),
        send_to_stored_in_redis: percentiles(to_store),
        stored_in_redis_to_received: percentiles(from_store),
        deliveries_without_a_redis_timestamp: unmatched,
        workerd_native_profile: Outcome::from_result(native),
    })
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
