//! Fan-out: one sender, every other client of the room receiving, latency from the send to each
//! receipt. The run itself is shared by the latency runs, the big room, the throughput ramps and
//! the breakdown.
//!
//! All clocks are read in this one process: a message carries the time it was sent (since the
//! run's start), and each receiver subtracts it from the time it arrived.

use super::{Percentiles, Target, percentiles, round, unix_now, workerd_rss_kib};
use crate::cpu::{self, Cpu};
use anyhow::{Context, Result};
use protocol::Message;
use serde::Serialize;
use stack::{Chat, Incoming};
use std::time::{Duration, Instant};

/// What one fan-out run measured, as the report shows it.
#[derive(Debug, Serialize)]
pub struct FanOut {
    pub clients: usize,
    pub rate_per_s: u32,
    pub seconds: u32,
    pub sent: usize,
    pub achieved_rate_per_s: f64,
    pub deliveries: usize,
    pub receivers_missing_messages: usize,
    pub latency: Option<Percentiles>,
    pub first_message_in_fresh_room_ms: f64,
    pub frames_queued_before_first_message: usize,
    pub cpu: Cpu,
    /// The Worker process's CPU per message sent, from `cpu` and the achieved send rate.
    pub worker_cpu_ms_per_message: Option<f64>,
}

/// A big room: the fan-out run after its members joined, and what the joining cost.
#[derive(Debug, Serialize)]
pub struct BigRoom {
    #[serde(flatten)]
    pub run: FanOut,
    pub join_all_s: f64,
    pub workerd_rss_mib_after_joins: f64,
    pub workerd_rss_growth_mib: f64,
}

/// Joins `count` clients to `room`, 25 at a time.
pub(super) async fn join_many(
    target: &Target,
    room: &str,
    count: usize,
    tag: &str,
) -> Result<Vec<Chat>> {
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

/// What one fan-out run saw, every delivery included, before it is summed up as a [`FanOut`].
#[derive(Debug)]
pub(super) struct FanOutRun {
    clients: usize,
    rate: u32,
    seconds: u32,
    pub sent: usize,
    pub send_seconds: f64,
    /// The wall clock (Unix seconds) at the run's `start`, to line up with Redis's clock.
    pub start_unix: f64,
    /// Every delivery's (send, arrival) in ms since `start`.
    pub deliveries: Vec<(f64, f64)>,
    pub receivers_missing_messages: usize,
    pub cpu: Cpu,
    /// The warm-up message: from its send until the last client had it.
    pub first_message_ms: f64,
    /// Frames all receivers read before the warm-up message (presence updates from the joins).
    frames_before_first_message: usize,
}

impl FanOutRun {
    /// The messages sent per second, as the sender managed it.
    pub fn achieved_rate(&self) -> f64 {
        self.sent as f64 / self.send_seconds
    }

    pub fn latencies(&self) -> Vec<f64> {
        self.deliveries.iter().map(|(s, r)| r - s).collect()
    }

    pub fn result(&self) -> FanOut {
        FanOut {
            clients: self.clients,
            rate_per_s: self.rate,
            seconds: self.seconds,
            sent: self.sent,
            achieved_rate_per_s: round(self.achieved_rate()),
            deliveries: self.deliveries.len(),
            receivers_missing_messages: self.receivers_missing_messages,
            latency: percentiles(self.latencies()),
            first_message_in_fresh_room_ms: round(self.first_message_ms),
            frames_queued_before_first_message: self.frames_before_first_message,
            cpu: self.cpu,
            worker_cpu_ms_per_message: self.cpu.worker_ms_per_message(self.achieved_rate()),
        }
    }
}

/// Joins a fresh room of `clients` for a fan-out run.
pub(super) async fn fan_out_room(target: &Target, clients: usize, rate: u32) -> Result<Vec<Chat>> {
    let room = format!("fanout-{clients}-{rate}-{}", testkit::unique("r"));
    join_many(target, &room, clients, "fo").await
}

/// One sender (the first of `chats`) at `rate` messages/s for `seconds`, its first send `phase`
/// after the start; every other client receives. CPU use of the stack's processes is read
/// around the sending and receiving only.
pub(super) async fn fan_out_run(
    mut chats: Vec<Chat>,
    rate: u32,
    seconds: u32,
    phase: Duration,
) -> Result<FanOutRun> {
    let clients = chats.len();
    if chats.is_empty() {
        anyhow::bail!("a fan-out run needs at least a sender");
    }
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
pub async fn fan_out(target: &Target, clients: usize, rate: u32, seconds: u32) -> Result<FanOut> {
    let chats = fan_out_room(target, clients, rate).await?;
    Ok(fan_out_run(chats, rate, seconds, Duration::ZERO)
        .await?
        .result())
}

/// A big room: `members` join one room, 25 at a time (the time and the workerd memory
/// that takes), then one of them sends at `rate` for `seconds` and every other member's
/// latency is measured.
pub async fn big_room(target: &Target, members: usize, rate: u32, seconds: u32) -> Result<BigRoom> {
    let rss_before = workerd_rss_kib();
    let start = Instant::now();
    let chats = fan_out_room(target, members, rate).await?;
    let join_all_s = start.elapsed().as_secs_f64();
    let rss_after = workerd_rss_kib();
    let run = fan_out_run(chats, rate, seconds, Duration::ZERO).await?;
    Ok(BigRoom {
        run: run.result(),
        join_all_s: round(join_all_s),
        workerd_rss_mib_after_joins: round(rss_after as f64 / 1024.0),
        workerd_rss_growth_mib: round((rss_after as f64 - rss_before as f64) / 1024.0),
    })
}

/// A busy room: each of `clients` members sends `rate` messages a second for `seconds`, their
/// sends spread evenly over the period, and every member reads every other member's messages:
/// the traffic of a room where everyone talks, which a single sender flatters. Latency is from
/// each send to each other member's receipt.
pub async fn busy_room(target: &Target, clients: usize, rate: u32, seconds: u32) -> Result<FanOut> {
    let room = format!("busy-{clients}-{}", testkit::unique("r"));
    busy_room_in(target, &room, clients, rate, seconds).await
}

/// [`busy_room`] in the fresh room `room`.
pub(super) async fn busy_room_in(
    target: &Target,
    room: &str,
    clients: usize,
    rate: u32,
    seconds: u32,
) -> Result<FanOut> {
    let mut chats = join_many(target, room, clients, "bz").await?;
    let tag = testkit::unique("z");
    // The room's first message pays one-off costs: timed on its own, before the run.
    let warm_start = Instant::now();
    let warm_text = format!("warm-up {tag}");
    if let Some(first) = chats.first_mut() {
        first.say(&format!("warm-{tag}"), &warm_text).await?;
    }
    for chat in &mut chats {
        chat.next_where(|f| {
            f.stored_messages()
                .iter()
                .any(|m| m.text == warm_text)
                .then_some(())
        })
        .await?;
    }
    let first_message_ms = warm_start.elapsed().as_secs_f64() * 1000.0;
    let cpu_before = cpu::Snapshot::take();
    let start = Instant::now();
    let start_unix = unix_now();
    let each = (rate * seconds) as usize;
    let expected = (clients - 1) * each;
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let members: Vec<_> = chats
        .into_iter()
        .enumerate()
        .map(|(i, chat)| {
            let phase = period.mul_f64(i as f64 / clients as f64);
            let tag = tag.clone();
            let sends = Sends {
                period,
                count: each,
            };
            tokio::spawn(member(chat, i, phase, sends, expected, start, tag))
        })
        .collect();
    let mut deliveries = Vec::new();
    let mut incomplete = 0;
    let mut send_seconds: f64 = 0.0;
    for member in members {
        let (got, sent_for) = member.await??;
        if got.len() < expected {
            incomplete += 1;
        }
        send_seconds = send_seconds.max(sent_for);
        deliveries.extend(got);
    }
    let cpu = cpu::Snapshot::take().since(&cpu_before);
    Ok(FanOutRun {
        clients,
        rate: clients as u32 * rate,
        seconds,
        sent: clients * each,
        send_seconds,
        start_unix,
        deliveries,
        receivers_missing_messages: incomplete,
        cpu,
        first_message_ms,
        frames_before_first_message: 0,
    }
    .result())
}

/// How a member of a busy room sends: `count` messages, one per `period`.
#[derive(Debug, Clone, Copy)]
struct Sends {
    period: Duration,
    count: usize,
}

/// One member of a busy room: sends one message per period from `phase` on, and reads until
/// it has `expected` messages of the others (or a deadline). Returns each receipt's (send,
/// arrival) in ms since `start`, and how long its sending took.
async fn member(
    mut chat: Chat,
    index: usize,
    phase: Duration,
    sends: Sends,
    expected: usize,
    start: Instant,
    tag: String,
) -> Result<(Vec<(f64, f64)>, f64)> {
    let mine = format!("bz{index}-");
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, sends.period);
    let seconds = sends.period.mul_f64(sends.count as f64);
    let deadline = start + seconds + Duration::from_secs(20);
    let mut sent = 0;
    let mut send_seconds = 0.0;
    let mut got = Vec::with_capacity(expected);
    while got.len() < expected || sent < sends.count {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        tokio::select! {
            _ = tick.tick(), if sent < sends.count => {
                let at = start.elapsed().as_secs_f64() * 1000.0;
                chat.say(&format!("{mine}{sent:06}-{tag}"), &format!("bench {at:.3}")).await?;
                sent += 1;
                send_seconds = start.elapsed().as_secs_f64();
            }
            incoming = chat.next_within(left) => match incoming {
                Ok(Incoming::Frame(frame)) => {
                    let arrived = start.elapsed().as_secs_f64() * 1000.0;
                    for message in frame.stored_messages() {
                        if message.client_id.starts_with(&mine) {
                            continue;
                        }
                        if let Some(sent_at) = sent_at(message) {
                            got.push((sent_at, arrived));
                        }
                    }
                }
                Ok(Incoming::Closed(_)) | Err(_) => break,
                Ok(_) => {}
            },
        }
    }
    Ok((got, send_seconds))
}
