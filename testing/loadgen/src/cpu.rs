//! CPU time of the processes a run involves (workerd, wrangler's node, redis-server, this
//! process with its in-process redis-rest) and of the whole machine, read from `/proc` before
//! and after, so each figure can say which process was busy while it was measured.

use crate::numbers::percent;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;

/// The processes of the local stack, by role. `wrangler dev` runs two workerd processes: the
/// user Worker's runtime, which miniflare binds to a port of its choosing, and the dev proxy
/// Worker on the public port, which forwards every request and frame to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Group {
    Worker,
    DevProxy,
    Wrangler,
    Redis,
    Loadgen,
}

/// The CPU the stack's processes used over one window: percent of one core per role (100 = one
/// core busy all the time), and the machine's busy share of all its cores. The JSON keys are the
/// ones the earlier reports in `docs/bench` use, so old and new figures can be compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Cpu {
    #[serde(rename = "workerd (Worker) %")]
    pub worker: f64,
    #[serde(rename = "workerd (dev proxy) %")]
    pub dev_proxy: f64,
    #[serde(rename = "wrangler (node) %")]
    pub wrangler: f64,
    #[serde(rename = "redis-server %")]
    pub redis: f64,
    #[serde(rename = "loadgen + redis-rest %")]
    pub loadgen: f64,
    #[serde(rename = "machine busy % of all cores")]
    pub machine_busy: f64,
}

impl Cpu {
    /// Milliseconds of the Worker process's CPU per message, given the messages sent per second
    /// while this was measured: 100 % of one core is 1000 ms of CPU each second. Three decimals,
    /// since at high rates a message costs well under a millisecond. `None` when nothing was
    /// sent, as there is nothing to divide by.
    pub fn worker_ms_per_message(&self, messages_per_second: f64) -> Option<f64> {
        ms_per_message(self.worker, messages_per_second)
    }
}

/// Milliseconds of CPU per message from a share of one core (percent) and a message rate; see
/// [`Cpu::worker_ms_per_message`].
pub fn ms_per_message(percent_of_core: f64, messages_per_second: f64) -> Option<f64> {
    (messages_per_second > 0.0 && messages_per_second.is_finite())
        .then(|| (percent_of_core * 10.0 / messages_per_second * 1000.0).round() / 1000.0)
}

/// CPU ticks per process and for the machine at one instant.
#[derive(Debug)]
pub struct Snapshot {
    at: Instant,
    per_pid: HashMap<u32, (Group, u64)>,
    machine_busy: u64,
    machine_total: u64,
}

/// The role of a process from its command line, or `None` when it is not part of the stack.
fn group(pid: u32, cmdline: &str) -> Option<Group> {
    if pid == std::process::id() {
        Some(Group::Loadgen)
    } else if cmdline.contains("workerd") {
        if cmdline.contains("entry=127.0.0.1:0\0") {
            Some(Group::Worker)
        } else {
            Some(Group::DevProxy)
        }
    } else if cmdline.contains("wrangler") {
        Some(Group::Wrangler)
    } else if cmdline.contains("redis-server") {
        Some(Group::Redis)
    } else {
        None
    }
}

/// The pids of the stack's `workerd` processes (the Worker's and the dev proxy's).
pub fn workerd_pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read_to_string(entry.path().join("cmdline")).ok()?;
            group(pid, &cmdline)
                .is_some_and(|g| matches!(g, Group::Worker | Group::DevProxy))
                .then_some(pid)
        })
        .collect()
}

/// `utime + stime` from a `/proc/PID/stat` line. The command name may hold spaces and
/// parentheses, so fields are counted from the last `)`.
fn process_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Busy and total ticks from the `cpu` line of `/proc/stat` (idle and iowait are not busy).
fn machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4).unwrap_or(&0);
    Some((total - idle, total))
}

impl Snapshot {
    pub fn take() -> Self {
        let mut per_pid = HashMap::new();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                    continue;
                };
                let path = entry.path();
                let cmdline = std::fs::read_to_string(path.join("cmdline")).unwrap_or_default();
                let Some(group) = group(pid, &cmdline) else {
                    continue;
                };
                if let Some(ticks) = std::fs::read_to_string(path.join("stat"))
                    .ok()
                    .as_deref()
                    .and_then(process_ticks)
                {
                    per_pid.insert(pid, (group, ticks));
                }
            }
        }
        let (machine_busy, machine_total) = std::fs::read_to_string("/proc/stat")
            .ok()
            .as_deref()
            .and_then(machine_ticks)
            .unwrap_or((0, 0));
        Self {
            at: Instant::now(),
            per_pid,
            machine_busy,
            machine_total,
        }
    }

    /// Percent of one core each role used since `before` (100 = one core busy all the time),
    /// and the machine's busy share of all its cores.
    pub fn since(&self, before: &Snapshot) -> Cpu {
        let seconds = (self.at - before.at).as_secs_f64();
        let ticks_per_second = clock_ticks();
        let mut used: HashMap<Group, u64> = HashMap::new();
        for (pid, (group, ticks)) in &self.per_pid {
            // A process that started during the run counts from zero; one that ended is gone.
            let earlier = before.per_pid.get(pid).map_or(0, |(_, t)| *t);
            *used.entry(*group).or_default() += ticks.saturating_sub(earlier);
        }
        let core_share = |group: Group| {
            let ticks = used.get(&group).copied().unwrap_or(0) as f64;
            percent(ticks / ticks_per_second, seconds)
        };
        let total = self.machine_total.saturating_sub(before.machine_total) as f64;
        let busy = self.machine_busy.saturating_sub(before.machine_busy) as f64;
        let machine_busy = percent(busy, total);
        Cpu {
            worker: core_share(Group::Worker),
            dev_proxy: core_share(Group::DevProxy),
            wrangler: core_share(Group::Wrangler),
            redis: core_share(Group::Redis),
            loadgen: core_share(Group::Loadgen),
            machine_busy,
        }
    }
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless told otherwise),
/// asked once per run.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ticks_past_a_command_name_with_spaces_and_parentheses() {
        let stat =
            "4242 (work (er) d) S 1 4242 4242 0 -1 4194560 100 0 0 0 730 270 0 0 20 0 9 0 1 2 3";
        assert_eq!(process_ticks(stat), Some(1000));
        assert_eq!(process_ticks("garbage"), None);
    }

    #[test]
    fn machine_busy_excludes_idle_and_iowait() {
        let stat = "cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 1 2 3 4 5 6 7 8\n";
        assert_eq!(machine_ticks(stat), Some((160, 1000)));
    }

    #[test]
    fn worker_cpu_is_divided_into_milliseconds_per_message() {
        let cpu = Cpu {
            worker: 40.0,
            ..Cpu::default()
        };
        // 40 % of a core is 400 ms of CPU each second, over 200 messages.
        assert_eq!(cpu.worker_ms_per_message(200.0), Some(2.0));
        assert_eq!(cpu.worker_ms_per_message(3.0), Some(133.333));
        assert_eq!(cpu.worker_ms_per_message(0.0), None);
    }

    #[test]
    fn figures_keep_the_key_names_of_earlier_reports() {
        let json = serde_json::to_value(Cpu::default()).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .into_iter()
            .flat_map(|o| o.keys())
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "loadgen + redis-rest %",
                "machine busy % of all cores",
                "redis-server %",
                "workerd (Worker) %",
                "workerd (dev proxy) %",
                "wrangler (node) %",
            ]
        );
    }

    #[test]
    fn roles_come_from_the_command_line() {
        assert_eq!(
            group(
                1,
                "/x/bin/workerd\0serve\0--socket-addr=entry=127.0.0.1:0\0--experimental"
            ),
            Some(Group::Worker)
        );
        assert_eq!(
            group(
                1,
                "/x/bin/workerd\0serve\0--socket-addr=entry=127.0.0.1:42737\0"
            ),
            Some(Group::DevProxy)
        );
        assert_eq!(
            group(1, "node\0/x/wrangler/bin/wrangler.js\0dev"),
            Some(Group::Wrangler)
        );
        assert_eq!(group(1, "redis-server *:6379"), Some(Group::Redis));
        assert_eq!(group(1, "bash"), None);
        assert_eq!(group(std::process::id(), "anything"), Some(Group::Loadgen));
    }
}
