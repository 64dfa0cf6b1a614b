//! The benchmark's scenarios, each returning its figures as a typed result that serializes to
//! the JSON report, and what they share: the target, latency percentiles, skipped outcomes.

use serde::Serialize;
use stack::ChatStack;

mod breakdown;
mod fan_out;
mod probes;
mod recovery;
mod throughput;

pub use breakdown::{Breakdown, BreakdownOutcome, Quiet, WatchedRun, breakdown};
pub use fan_out::{BigRoom, FanOut, big_room, busy_room, fan_out};
pub use probes::{Components, Connections, Sizes, components, connections, sizes};
pub use recovery::{Recovery, recovery};
pub use throughput::{MultiRoom, Senders, Throughput, multi_room, throughput};

/// Where the clients connect: the local stack (which the scenarios that need Redis or a restart
/// also reach into) or a deployed Worker.
#[derive(Debug)]
pub struct Target {
    pub ws_base: String,
    pub stack: Option<ChatStack>,
}

impl Target {
    fn ws_url(&self, room: &str) -> String {
        format!("{}{}", self.ws_base, protocol::ws_path(room))
    }
}

/// Latency percentiles in milliseconds, computed exactly from every sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub samples: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The percentiles of `samples`, or `None` (null in the JSON) when there are none.
pub fn percentiles(mut samples: Vec<f64>) -> Option<Percentiles> {
    samples.sort_by(f64::total_cmp);
    let last = samples.len().checked_sub(1)?;
    // The nearest rank: with every sample kept, no interpolation is needed.
    let at = |q: f64| round(samples[(last as f64 * q).round() as usize]);
    Some(Percentiles {
        samples: samples.len(),
        p50_ms: at(0.50),
        p90_ms: at(0.90),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    })
}

/// A part of the report that may not have been measured. Untagged, so the JSON holds either the
/// figures themselves or `{"skipped": "why"}`, as the reports before typed results did.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Outcome<T> {
    Ran(T),
    Skipped { skipped: String },
}

impl<T> Outcome<T> {
    /// The figures, or why they are missing, from a result whose error is worth reporting
    /// rather than failing the run for.
    fn from_result(result: anyhow::Result<T>) -> Self {
        match result {
            Ok(figures) => Self::Ran(figures),
            Err(e) => Self::Skipped {
                skipped: format!("{e:#}"),
            },
        }
    }
}

pub use crate::numbers::round;

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Resident memory of the stack's `workerd` processes (the Worker's and the dev proxy's), in KiB.
fn workerd_rss_kib() -> u64 {
    let mut total = 0;
    for pid in crate::cpu::workerd_pids() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_ranks_of_every_sample() {
        let samples = (1..=100).map(f64::from).rev().collect();
        assert_eq!(
            percentiles(samples),
            Some(Percentiles {
                samples: 100,
                p50_ms: 51.0,
                p90_ms: 90.0,
                p99_ms: 99.0,
                max_ms: 100.0,
            })
        );
        assert_eq!(percentiles(Vec::new()), None);
    }

    #[test]
    fn a_skipped_part_says_why_and_a_measured_one_is_its_figures() {
        let skipped: Outcome<Percentiles> = Outcome::from_result(Err(anyhow::anyhow!("no perf")));
        assert_eq!(
            serde_json::to_value(&skipped).unwrap(),
            serde_json::json!({"skipped": "no perf"})
        );
        let ran = Outcome::Ran(probes::Size {
            raw_bytes: 10,
            gzip9_bytes: 5,
        });
        assert_eq!(
            serde_json::to_value(&ran).unwrap(),
            serde_json::json!({"raw_bytes": 10, "gzip9_bytes": 5})
        );
    }
}
