//! The run's figures as one typed report: written as JSON by `main` and printed here as the
//! table that `docs/bench/*.txt` keeps.

use crate::Profile;
use crate::cpu::Cpu;
use crate::scenarios::{
    BigRoom, Breakdown, BreakdownOutcome, Components, Connections, FanOut, MultiRoom, Outcome,
    Percentiles, Recovery, Sizes, Throughput, WatchedRun,
};
use profiler::perf::NativeProfile;
use serde::Serialize;
use std::fmt::Display;

/// Everything one run measured. A part that was not run is left out of the JSON, as it was
/// before the results were typed.
#[derive(Debug, Serialize)]
pub struct Report {
    pub profile: Profile,
    pub target: String,
    pub limits: &'static str,
    pub path: &'static str,
    /// Milliseconds each way between the Worker and redis-rest (0: loopback).
    pub store_delay_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fan_out: Option<Vec<FanOut>>,
    /// Every member sends 1 message a second (the traffic of a busy room).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy_room: Option<Vec<FanOut>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub big_room: Option<BigRoom>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Vec<BreakdownOutcome>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput: Option<Throughput>,
    /// The same ramp with every member sending its share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput_every_member: Option<Throughput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput_20_rooms: Option<MultiRoom>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<Components>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<Connections>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sizes: Option<Sizes>,
    pub elapsed_s: f64,
}

impl Report {
    /// A report of a run that has measured nothing yet.
    pub fn new(profile: Profile, target: String, limits: &'static str, path: &'static str) -> Self {
        Self {
            profile,
            target,
            limits,
            path,
            store_delay_ms: 0,
            fan_out: None,
            busy_room: None,
            big_room: None,
            breakdown: None,
            throughput: None,
            throughput_every_member: None,
            throughput_20_rooms: None,
            components: None,
            connections: None,
            recovery: None,
            sizes: None,
            elapsed_s: 0.0,
        }
    }
}

/// A figure as the table shows it: as the JSON writes it, so the table and the file agree (a
/// whole number of milliseconds keeps its `.0`).
fn n(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.1}")
    } else if value.is_finite() {
        value.to_string()
    } else {
        // JSON has no infinity; the file says null where the table says the figure is missing.
        MISSING.to_owned()
    }
}

/// What the table shows for a figure that was not measured (null in the JSON).
const MISSING: &str = "-";

/// An optional figure, [`MISSING`] when absent.
fn opt<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or_else(|| MISSING.to_owned(), show)
}

/// One percentile of an optional set, [`MISSING`] when there were no samples.
fn pct(latency: Option<&Percentiles>, field: impl Fn(&Percentiles) -> f64) -> String {
    opt(latency, |l| n(field(l)))
}

/// A count or other exact figure.
fn int(value: impl Display) -> String {
    value.to_string()
}

/// A table's heading and rows: each cell right-aligned to its column's width, one space apart,
/// then the CPU columns. Heading and rows come from the one list of columns, so they cannot
/// drift apart.
fn print_rows<const N: usize>(
    columns: &[(&str, usize); N],
    rows: impl Iterator<Item = ([String; N], String)>,
) {
    let line = |cells: [&str; N], cpu: &str| {
        let cells: Vec<String> = columns
            .iter()
            .zip(cells)
            .map(|((_, width), cell)| format!("{cell:>width$}"))
            .collect();
        println!("{}  {cpu}", cells.join(" "));
    };
    line(columns.map(|(title, _)| title), CPU_HEADER);
    for (cells, cpu) in rows {
        line(cells.each_ref().map(String::as_str), &cpu);
    }
}

/// A table of fan-out runs under `title`.
fn print_fan_out(title: &str, runs: &[FanOut]) {
    println!("\n{title}");
    let columns = [
        ("clients", 8),
        ("rate", 6),
        ("samples", 8),
        ("p50", 8),
        ("p90", 8),
        ("p99", 8),
        ("max", 8),
        ("Worker ms/msg", 13),
        ("1st msg", 8),
    ];
    print_rows(
        &columns,
        runs.iter().map(|f| {
            let l = f.latency.as_ref();
            let cells = [
                int(f.clients),
                int(f.rate_per_s),
                opt(l, |l| int(l.samples)),
                pct(l, |l| l.p50_ms),
                pct(l, |l| l.p90_ms),
                pct(l, |l| l.p99_ms),
                pct(l, |l| l.max_ms),
                opt(f.worker_cpu_ms_per_message, n),
                n(f.first_message_in_fresh_room_ms),
            ];
            (cells, cpu_columns(Some(&f.cpu)))
        }),
    );
}

pub fn print_table(r: &Report) {
    println!(
        "edge-chat benchmark ({}) — {}; clients connect {}",
        r.profile.name(),
        r.limits,
        r.path
    );
    if r.store_delay_ms > 0 {
        println!(
            "Redis is {} ms away each way (a proxy delays every byte)",
            r.store_delay_ms
        );
    }
    if let Some(fan_out) = &r.fan_out {
        print_fan_out(
            "fan-out latency (one sender → each other client), ms",
            fan_out,
        );
    }
    if let Some(busy) = &r.busy_room {
        print_fan_out(
            "busy room: every member sends 1 msg/s (send → each other member), ms",
            busy,
        );
    }
    if let Some(b) = &r.big_room {
        let l = b.run.latency.as_ref();
        println!(
            "\nbig room: {} members joined (25 at a time) in {} s (workerd RSS {} MiB, +{} MiB); \
             then {} msg/s: p50 {} ms, p99 {} ms over {} deliveries, {} receivers missing messages; \
             1st msg {} ms behind {} queued frames",
            b.run.clients,
            n(b.join_all_s),
            n(b.workerd_rss_mib_after_joins),
            n(b.workerd_rss_growth_mib),
            b.run.rate_per_s,
            pct(l, |l| l.p50_ms),
            pct(l, |l| l.p99_ms),
            opt(l, |l| int(l.samples)),
            b.run.receivers_missing_messages,
            n(b.run.first_message_in_fresh_room_ms),
            b.run.frames_queued_before_first_message,
        );
    }
    for b in r.breakdown.iter().flatten() {
        print_breakdown(b);
    }
    for tp in r.throughput.iter().chain(&r.throughput_every_member) {
        let who = match tp.senders {
            crate::scenarios::Senders::One => "one sender",
            crate::scenarios::Senders::EveryMember => "every member sends",
        };
        println!(
            "\nthroughput, one room of 10, {who}: highest sustained {} msg/s with p99 ≤ 100 ms",
            tp.highest_sustained_rate_per_s
        );
        let columns = [
            ("rate", 6),
            ("achieved", 10),
            ("p50", 8),
            ("p99", 8),
            ("Worker ms/msg", 13),
            ("cmds/msg", 10),
            ("msgs/write", 10),
            ("DO rows/msg", 11),
            ("msgs/commit", 11),
        ];
        print_rows(
            &columns,
            tp.steps.iter().map(|s| {
                let l = s.run.latency.as_ref();
                let redis = s.redis.as_ref();
                let log = s.storage.as_ref();
                let cells = [
                    int(s.run.rate_per_s),
                    n(s.run.achieved_rate_per_s),
                    pct(l, |l| l.p50_ms),
                    pct(l, |l| l.p99_ms),
                    opt(s.run.worker_cpu_ms_per_message, n),
                    opt(redis, |r| n(r.commands_per_message)),
                    opt(redis, |r| n(r.messages_per_write)),
                    opt(log, |l| n(l.rows_written_per_message)),
                    opt(log, |l| n(l.messages_per_commit)),
                ];
                (cells, cpu_columns(Some(&s.run.cpu)))
            }),
        );
    }
    if let Some(m) = &r.throughput_20_rooms {
        println!(
            "\nthroughput, 20 rooms of 10 at once: highest sustained {} msg/s in all with p99 ≤ 100 ms over all deliveries",
            m.highest_sustained_total_rate_per_s
        );
        let columns = [
            ("per room", 9),
            ("in all", 7),
            ("samples", 8),
            ("p50", 8),
            ("p99", 8),
            ("worst room", 11),
            ("Worker ms/msg", 13),
            ("idle Worker%", 12),
            ("above idle", 11),
            ("1st msg", 11),
        ];
        print_rows(
            &columns,
            m.steps.iter().map(|s| {
                let l = s.latency.as_ref();
                let cells = [
                    int(s.rate_per_room_per_s),
                    int(s.total_rate_per_s),
                    opt(l, |l| int(l.samples)),
                    pct(l, |l| l.p50_ms),
                    pct(l, |l| l.p99_ms),
                    opt(s.worst_room_p99_ms, n),
                    opt(s.worker_cpu_ms_per_message, n),
                    n(s.worker_idle_percent),
                    opt(s.worker_cpu_ms_per_message_above_idle, n),
                    n(s.slowest_first_message_ms),
                ];
                (cells, cpu_columns(s.cpu.as_ref()))
            }),
        );
    }
    if let Some(k) = &r.components {
        let ws = k.websocket_ping_pong.as_ref();
        let write = k.room_write_through_redis_rest.as_ref();
        println!(
            "\ncomponents (p50 / p99 ms): websocket ping→pong {} / {}, one room write through redis-rest {} / {}",
            pct(ws, |l| l.p50_ms),
            pct(ws, |l| l.p99_ms),
            pct(write, |l| l.p50_ms),
            pct(write, |l| l.p99_ms)
        );
    }
    if let Some(c) = &r.connections {
        println!(
            "\nconnections: {} sockets in {} rooms, connected in {} s, workerd RSS {} MiB",
            c.sockets,
            c.rooms,
            n(c.connect_all_s),
            n(c.workerd_rss_mib)
        );
    }
    if let Some(v) = &r.recovery {
        println!(
            "recovery: {} clients, Worker restart {} s, all back and caught up after {} s, lost {}, duplicated {}",
            v.clients,
            n(v.worker_restart_s),
            n(v.all_back_and_caught_up_s),
            v.lost,
            v.duplicated
        );
    }
    if let Some(sizes) = &r.sizes {
        println!("\nsizes (raw / gzip -9 bytes)");
        for (name, s) in sizes.by_name() {
            println!("{name:>12} {:>9} / {:>9}", s.raw_bytes, s.gzip9_bytes);
        }
    }
}

/// The CPU columns' heading: percent of one core per process, and the machine's busy share.
const CPU_HEADER: &str = "cpu %: Worker  proxy  wrangler  redis  loadgen  machine";

fn cpu_columns(cpu: Option<&Cpu>) -> String {
    let figure = |field: fn(&Cpu) -> f64| opt(cpu, |c| n(field(c)));
    format!(
        "       {:>6}  {:>5}  {:>8}  {:>5}  {:>7}  {:>7}",
        figure(|c| c.worker),
        figure(|c| c.dev_proxy),
        figure(|c| c.wrangler),
        figure(|c| c.redis),
        figure(|c| c.loadgen),
        figure(|c| c.machine_busy)
    )
}

fn print_breakdown(b: &BreakdownOutcome) {
    let b = match b {
        BreakdownOutcome::Ran(b) => b,
        BreakdownOutcome::Skipped { clients, skipped } => {
            println!("\nwhere the time goes, {clients} clients: skipped: {skipped}");
            return;
        }
    };
    let Breakdown {
        proxied,
        direct_to_user_worker,
        isolate_profile: p,
    } = b.as_ref();
    println!(
        "\nwhere the time goes: {} clients at {}/s (ms)",
        proxied.run.clients, proxied.run.rate_per_s
    );
    print_watched("through wrangler's dev proxy, as users connect", proxied);
    match direct_to_user_worker {
        Outcome::Ran(direct) => print_watched(
            "straight to the user Worker's socket, network events off",
            &direct.run,
        ),
        Outcome::Skipped { skipped } => println!("  direct run skipped: {skipped}"),
    }
    println!(
        "  the Worker's isolate under V8's profiler (p50 {} ms in that run): busy {} % of {} ms, {} µs of JS/wasm CPU per message",
        pct(p.latency_while_profiled.as_ref(), |l| l.p50_ms),
        n(p.profile.busy_percent_of_wall),
        n(p.profile.wall_ms),
        n(p.profile.busy_us_per_message)
    );
    println!("    busy time by category (self):");
    for c in &p.profile.self_by_category {
        // Idle has no share of the busy time, so it is left out here.
        let Some(percent) = c.percent_of_busy else {
            continue;
        };
        println!(
            "      {:>5} %  {:>9} ms  {}",
            n(percent),
            n(c.ms),
            c.category
        );
    }
    println!("    top functions (self):");
    for f in p.profile.top_self.iter().take(10) {
        let name: String = f.function.chars().take(110).collect();
        println!("      {:>5} %  {name}", n(f.percent_of_busy));
    }
}

/// One watched run: the latency split at the store, CPU by process, workerd's `perf` profile.
fn print_watched(title: &str, w: &WatchedRun) {
    let stage = |name: &str, l: Option<&Percentiles>| {
        println!(
            "    {name:<36} p50 {:>7}  p90 {:>7}  p99 {:>7}  max {:>7}",
            pct(l, |l| l.p50_ms),
            pct(l, |l| l.p90_ms),
            pct(l, |l| l.p99_ms),
            pct(l, |l| l.max_ms)
        );
    };
    println!("  {title}:");
    stage("send → each client (whole)", w.run.latency.as_ref());
    stage(
        "send → Redis ran the ZADD",
        w.send_to_stored_in_redis.as_ref(),
    );
    stage(
        "Redis ran the ZADD → client has it",
        w.stored_in_redis_to_received.as_ref(),
    );
    println!("    {CPU_HEADER}\n    {}", cpu_columns(Some(&w.run.cpu)));
    let native: &NativeProfile = match &w.workerd_native_profile {
        Outcome::Ran(native) => native,
        Outcome::Skipped { skipped } => {
            println!("    workerd perf profile skipped: {skipped}");
            return;
        }
    };
    println!(
        "    workerd processes by perf ({} samples):",
        native.samples
    );
    for c in &native.by_category {
        println!("      {:>5} %  {}", n(c.percent), c.category);
    }
    println!("    top symbols:");
    for f in native.top_symbols.iter().take(8) {
        let name: String = f.symbol.chars().take(100).collect();
        println!("      {:>5} %  {name}", n(f.percent));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::{FanOut, Percentiles};
    use serde_json::{Value as Json, json};

    fn keys(value: &Json) -> Vec<&str> {
        value
            .as_object()
            .into_iter()
            .flat_map(|o| o.keys())
            .map(String::as_str)
            .collect()
    }

    fn run() -> FanOut {
        FanOut {
            clients: 11,
            rate_per_s: 50,
            seconds: 3,
            sent: 150,
            achieved_rate_per_s: 50.33,
            deliveries: 1500,
            receivers_missing_messages: 0,
            latency: Some(Percentiles {
                samples: 1500,
                p50_ms: 8.17,
                p90_ms: 12.58,
                p99_ms: 22.45,
                max_ms: 27.29,
            }),
            first_message_in_fresh_room_ms: 11.52,
            frames_queued_before_first_message: 45,
            cpu: Cpu {
                worker: 24.1,
                ..Cpu::default()
            },
            worker_cpu_ms_per_message: Some(4.788),
        }
    }

    /// The keys a fan-out run had in the reports before typed results, and the new figure.
    const FAN_OUT_KEYS: [&str; 12] = [
        "achieved_rate_per_s",
        "clients",
        "cpu",
        "deliveries",
        "first_message_in_fresh_room_ms",
        "frames_queued_before_first_message",
        "latency",
        "rate_per_s",
        "receivers_missing_messages",
        "seconds",
        "sent",
        "worker_cpu_ms_per_message",
    ];

    #[test]
    fn the_json_keeps_the_shape_of_earlier_reports() {
        let mut report = Report::new(Profile::Quick, "local".into(), "lifted", "via the proxy");
        report.fan_out = Some(vec![run()]);
        report.breakdown = Some(vec![BreakdownOutcome::Skipped {
            clients: 10,
            skipped: "no stack".into(),
        }]);
        report.elapsed_s = 1.5;
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            keys(&json),
            [
                "breakdown",
                "elapsed_s",
                "fan_out",
                "limits",
                "path",
                "profile",
                "store_delay_ms",
                "target"
            ]
        );
        assert_eq!(json["profile"], "quick");
        assert_eq!(keys(&json["fan_out"][0]), FAN_OUT_KEYS);
        assert_eq!(json["fan_out"][0]["latency"]["p99_ms"], json!(22.45));
        assert_eq!(json["fan_out"][0]["cpu"]["workerd (Worker) %"], json!(24.1));
        assert_eq!(
            json["breakdown"][0],
            json!({"clients": 10, "skipped": "no stack"})
        );
    }

    #[test]
    fn a_watched_run_is_flattened_into_the_fan_out_figures() {
        let watched = WatchedRun {
            run: run(),
            send_to_stored_in_redis: None,
            stored_in_redis_to_received: None,
            deliveries_without_a_redis_timestamp: 3,
            workerd_native_profile: Outcome::Skipped {
                skipped: "no perf".into(),
            },
        };
        let json = serde_json::to_value(&watched).unwrap();
        let mut expected = FAN_OUT_KEYS.to_vec();
        expected.extend([
            "deliveries_without_a_redis_timestamp",
            "send_to_stored_in_redis",
            "stored_in_redis_to_received",
            "workerd_native_profile",
        ]);
        expected.sort_unstable();
        assert_eq!(keys(&json), expected);
        assert_eq!(json["send_to_stored_in_redis"], Json::Null);
        assert_eq!(
            json["workerd_native_profile"],
            json!({"skipped": "no perf"})
        );
    }

    #[test]
    fn figures_print_as_the_json_writes_them() {
        assert_eq!(n(138.0), "138.0");
        assert_eq!(n(0.99), "0.99");
        assert_eq!(n(8.32), "8.32");
        assert_eq!(n(f64::INFINITY), MISSING);
        assert_eq!(opt(None::<f64>, n), MISSING);
    }
}
