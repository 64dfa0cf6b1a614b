//! Throughput: the send rate raised step by step, in one room of 10 (one sender, then every
//! member sending a tenth each, with what each message cost Redis) and in 20 rooms of 10 at
//! once, until the p99 latency passes 100 ms.

use super::fan_out::{busy_room_in, fan_out_room, fan_out_run, join_many};
use super::{FanOut, Percentiles, Target, percentiles, round};
use crate::cpu::Cpu;
use anyhow::Result;
use serde::Serialize;
use stack::ChatStack;
use std::collections::BTreeMap;
use std::time::Duration;

/// The throughput ramp in one room of 10.
#[derive(Debug, Serialize)]
pub struct Throughput {
    pub room_clients: usize,
    /// Who sends: one member at the whole rate, or every member at its share.
    pub senders: Senders,
    pub highest_sustained_rate_per_s: u32,
    /// Every step run, the last one the first that did not pass (if any did not).
    pub steps: Vec<ThroughputStep>,
}

/// One rate of the ramp in one room.
#[derive(Debug, Serialize)]
pub struct ThroughputStep {
    #[serde(flatten)]
    pub run: FanOut,
    /// What Redis did meanwhile; only the local stack's Redis can be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisCost>,
    /// What the room's log cost the Durable Object's storage meanwhile (local stack only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageCost>,
    pub within_100ms_p99: bool,
}

/// Redis commands over one step, from `INFO commandstats` before and after.
#[derive(Debug, Serialize)]
pub struct RedisCost {
    pub commands: u64,
    pub commands_per_message: f64,
    /// A room write is one EVAL of the write script (one MULTI/EXEC before it).
    #[serde(rename = "writes (EVAL or EXEC)")]
    pub writes: u64,
    pub messages_per_write: f64,
}

/// The room's log over one step, from its health endpoint before and after.
#[derive(Debug, Serialize)]
pub struct StorageCost {
    pub rows_written_per_message: f64,
    pub rows_read_per_message: f64,
    pub messages_per_commit: f64,
}

/// The room's storage usage, from `GET /api/rooms/{room}/health`; `Null` from a Worker that
/// does not report it (one from before the log, measured as a baseline).
async fn storage_usage(stack: &ChatStack, room: &str) -> serde_json::Value {
    match stack.get(&format!("/api/rooms/{room}/health")).await {
        Ok((200, health)) => health["storage"].clone(),
        _ => serde_json::Value::Null,
    }
}

/// What the log did between two readings of its usage, over `sent` messages.
fn storage_cost(
    before: &serde_json::Value,
    after: &serde_json::Value,
    sent: usize,
) -> Option<StorageCost> {
    let delta = |name: &str| Some(after[name].as_f64()? - before[name].as_f64()?);
    let sent = sent as f64;
    Some(StorageCost {
        rows_written_per_message: round(delta("rows_written")? / sent),
        rows_read_per_message: round(delta("rows_read")? / sent),
        messages_per_commit: round(delta("messages_committed")? / delta("commits")?.max(1.0)),
    })
}

/// The throughput ramp with many rooms at once.
#[derive(Debug, Serialize)]
pub struct MultiRoom {
    pub rooms: usize,
    pub room_clients: usize,
    pub highest_sustained_total_rate_per_s: usize,
    pub steps: Vec<RoomsStep>,
}

/// One rate of the ramp, sent into every room at once.
#[derive(Debug, Serialize)]
pub struct RoomsStep {
    pub rate_per_room_per_s: u32,
    pub total_rate_per_s: usize,
    /// Over every delivery in every room.
    pub latency: Option<Percentiles>,
    /// None (null in the JSON) when a room had no delivery at all.
    pub worst_room_p99_ms: Option<f64>,
    pub slowest_first_message_ms: f64,
    pub within_100ms_p99: bool,
    /// The first room's window; the rooms run side by side, so it stands for the step.
    pub cpu: Option<Cpu>,
    /// The Worker process's CPU per message sent, over the achieved send rate of all rooms.
    pub worker_cpu_ms_per_message: Option<f64>,
    /// The Worker's CPU (% of a core) over [`IDLE_WINDOW`] with every client of the step
    /// connected and nobody sending: what the open sockets cost by themselves.
    pub worker_idle_percent: f64,
    /// The Worker's CPU per message above that idle cost: what one more message costs.
    pub worker_cpu_ms_per_message_above_idle: Option<f64>,
}

/// How long the Worker's idle CPU is read before each step of the rooms ramp.
const IDLE_WINDOW: Duration = Duration::from_secs(3);

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

/// What Redis did between two `INFO commandstats` readings, over `sent` messages.
fn redis_cost(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    sent: usize,
) -> RedisCost {
    // Saturating, so a reset of Redis's counters mid-step cannot wrap around.
    let delta = |name: &str| {
        after
            .get(name)
            .unwrap_or(&0)
            .saturating_sub(*before.get(name).unwrap_or(&0))
    };
    let commands = after
        .values()
        .sum::<u64>()
        .saturating_sub(before.values().sum::<u64>());
    let sent = sent as f64;
    let writes = delta("eval") + delta("exec");
    RedisCost {
        commands,
        commands_per_message: round(commands as f64 / sent),
        writes,
        messages_per_write: round(sent / writes.max(1) as f64),
    }
}

/// How long the stack is left alone after a ramp's failed step.
const DRAIN: Duration = Duration::from_secs(20);

/// Who sends in a throughput ramp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Senders {
    /// One member sends at the whole rate to ten others (as before every member sent).
    One,
    /// Each of the ten members sends a tenth of the rate and reads the other nine: a room where
    /// everyone talks, which one sender flatters.
    EveryMember,
}

/// Redis's command counts and the room log's usage, when the stack is local.
type CostReading = Option<(BTreeMap<String, u64>, serde_json::Value)>;

async fn cost_reading(target: &Target, room: &str) -> Result<CostReading> {
    let Some(stack) = &target.stack else {
        return Ok(None);
    };
    Ok(Some((
        command_stats(stack)?,
        storage_usage(stack, room).await,
    )))
}

fn costs(
    before: CostReading,
    after: CostReading,
    sent: usize,
) -> (Option<RedisCost>, Option<StorageCost>) {
    match (before, after) {
        (Some((redis_before, log_before)), Some((redis_after, log_after))) => (
            Some(redis_cost(&redis_before, &redis_after, sent)),
            storage_cost(&log_before, &log_after, sent),
        ),
        _ => (None, None),
    }
}

/// Raises the rate in one room of 10 until p99 passes 100 ms (or messages go missing).
pub async fn throughput(
    target: &Target,
    senders: Senders,
    rates: &[u32],
    seconds: u32,
) -> Result<Throughput> {
    let mut steps = Vec::new();
    let mut best = 0;
    for &rate in rates {
        let room = format!("throughput-{rate}-{}", testkit::unique("r"));
        let (run, redis, storage) = match senders {
            Senders::One => {
                let chats = join_many(target, &room, 11, "fo").await?;
                let before = cost_reading(target, &room).await?;
                let run = fan_out_run(chats, rate, seconds, Duration::ZERO)
                    .await?
                    .result();
                let after = cost_reading(target, &room).await?;
                let (redis, storage) = costs(before, after, run.sent);
                (run, redis, storage)
            }
            Senders::EveryMember => {
                // The room is made and warmed inside; its log's usage is read from the start.
                let before = cost_reading(target, &room).await?;
                let run = busy_room_in(target, &room, 10, rate / 10, seconds).await?;
                let after = cost_reading(target, &room).await?;
                let (redis, storage) = costs(before, after, run.sent);
                (run, redis, storage)
            }
        };
        let fast = run.latency.is_some_and(|l| l.p99_ms <= 100.0);
        let complete = run.receivers_missing_messages == 0;
        let ok = fast && complete && run.achieved_rate_per_s >= f64::from(rate) * 0.95;
        steps.push(ThroughputStep {
            run,
            redis,
            storage,
            within_100ms_p99: ok,
        });
        if !ok {
            // The failed step may leave the stack busy delivering its backlog: let it drain
            // before whatever runs next joins a room.
            tokio::time::sleep(DRAIN).await;
            break;
        }
        best = rate;
    }
    Ok(Throughput {
        room_clients: 10,
        senders,
        highest_sustained_rate_per_s: best,
        steps,
    })
}

/// `rooms` rooms of 10 clients, one sender each at `rate` messages/s (so `rooms × rate` in
/// all), stepping the rate up until the p99 over every delivery in every room passes 100 ms.
/// (A per-room p99 over a few hundred deliveries is nearly that room's maximum, so the pooled
/// p99 is the criterion; the worst room's p99 is reported beside it.)
pub async fn multi_room(
    target: &Target,
    rooms: usize,
    rates: &[u32],
    seconds: u32,
) -> Result<MultiRoom> {
    let mut steps = Vec::new();
    let mut best = 0;
    for &rate in rates {
        let mut joined = Vec::with_capacity(rooms);
        for _ in 0..rooms {
            joined.push(fan_out_room(target, 11, rate).await?);
        }
        let idle_before = crate::cpu::Snapshot::take();
        tokio::time::sleep(IDLE_WINDOW).await;
        let idle = crate::cpu::Snapshot::take().since(&idle_before);
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
        let mut worst_p99 = Some(0.0_f64);
        let mut first_message_ms: f64 = 0.0;
        let mut complete = true;
        let mut cpu = None;
        let mut achieved_rate = 0.0;
        for run in runs {
            let run = run.await??;
            // The rooms run side by side, so the first one's window stands for the step.
            cpu.get_or_insert(run.cpu);
            let latencies = run.latencies();
            all.extend_from_slice(&latencies);
            let room_latency = percentiles(latencies);
            worst_p99 = worst_p99.zip(room_latency).map(|(w, l)| w.max(l.p99_ms));
            first_message_ms = first_message_ms.max(run.first_message_ms);
            complete &= run.receivers_missing_messages == 0;
            achieved_rate += run.achieved_rate();
        }
        let latency = percentiles(all);
        let ok = latency.is_some_and(|l| l.p99_ms <= 100.0) && complete;
        steps.push(RoomsStep {
            rate_per_room_per_s: rate,
            total_rate_per_s: rate as usize * rooms,
            latency,
            worst_room_p99_ms: worst_p99.map(round),
            slowest_first_message_ms: round(first_message_ms),
            within_100ms_p99: ok,
            cpu,
            worker_cpu_ms_per_message: cpu.and_then(|c| c.worker_ms_per_message(achieved_rate)),
            worker_idle_percent: idle.worker,
            worker_cpu_ms_per_message_above_idle: cpu.and_then(|c| {
                crate::cpu::ms_per_message((c.worker - idle.worker).max(0.0), achieved_rate)
            }),
        });
        if !ok {
            break;
        }
        best = rate as usize * rooms;
    }
    Ok(MultiRoom {
        rooms,
        room_clients: 10,
        highest_sustained_total_rate_per_s: best,
        steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_cost_is_the_difference_of_two_readings() {
        let reading = |eval, get| {
            BTreeMap::from([
                ("eval".to_owned(), eval),
                ("exec".to_owned(), 0),
                ("get".to_owned(), get),
            ])
        };
        let cost = redis_cost(&reading(10, 5), &reading(60, 105), 100);
        assert_eq!(cost.commands, 150);
        assert_eq!(cost.commands_per_message, 1.5);
        assert_eq!(cost.writes, 50);
        assert_eq!(cost.messages_per_write, 2.0);
        let json = serde_json::to_value(&cost).unwrap();
        assert_eq!(json["writes (EVAL or EXEC)"], 50);
    }
}
