//! A CPU profile of the workerd processes from Linux `perf` (`perf record` on their pids for one
//! run, then `perf report` by symbol). It sees what the isolate's own profile cannot: the
//! runtime's C++ (KJ event loop, HTTP and WebSocket code, jsg bindings), V8 itself, memory
//! allocation and the kernel's side of loopback TCP.

use crate::percent;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Samples per second: odd, so sampling does not fall in step with the runtime's timers.
const FREQUENCY: u32 = 999;

/// What `perf` saw of the workerd processes in one run.
#[derive(Debug, Serialize)]
pub struct NativeProfile {
    pub samples: u64,
    pub frequency_hz: u32,
    /// Every category with its share of the samples, the largest first.
    pub by_category: Vec<CategoryShare>,
    /// The symbols with the most samples, the largest first.
    pub top_symbols: Vec<SymbolShare>,
}

/// The samples that fell in one category of code.
#[derive(Debug, PartialEq, Serialize)]
pub struct CategoryShare {
    pub category: &'static str,
    pub samples: u64,
    pub percent: f64,
}

/// The samples that fell in one symbol.
#[derive(Debug, Serialize)]
pub struct SymbolShare {
    pub symbol: String,
    pub dso: String,
    pub category: &'static str,
    pub percent: f64,
}

/// A `perf record` running against some processes.
#[derive(Debug)]
pub struct Recording {
    child: Child,
    data: PathBuf,
}

impl Recording {
    /// Starts sampling `pids` into a file under `dir`. Fails when `perf` is missing or may not
    /// watch these processes, so the caller can say why the native profile is absent.
    pub async fn start(pids: &[u32], dir: &Path) -> Result<Self> {
        if pids.is_empty() {
            bail!("no workerd process to profile");
        }
        let data = dir.join(testkit::unique("perf")).with_extension("data");
        let list: Vec<String> = pids.iter().map(u32::to_string).collect();
        let mut child = Command::new("perf")
            .args([
                "record",
                "-e",
                "cpu-clock",
                "-F",
                &FREQUENCY.to_string(),
                "-p",
            ])
            .arg(list.join(","))
            .arg("-o")
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting `perf record` (Debian's linux-perf; `just bench` installs it)")?;
        // perf fails at once when it may not watch the pids; give it a moment to say so.
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Some(status) = child.try_wait()? {
            let mut message = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                std::io::Read::read_to_string(&mut stderr, &mut message)?;
            }
            bail!("perf record stopped at once ({status}): {}", message.trim());
        }
        Ok(Self { child, data })
    }

    /// Stops sampling (SIGINT, so perf writes its file) and sums the samples by symbol.
    pub async fn finish(mut self, top: usize) -> Result<NativeProfile> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait()?.is_none() {
            if Instant::now() >= deadline {
                self.child.kill()?;
                bail!("perf record did not stop within 30 s of SIGINT");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let output = Command::new("perf")
            .args([
                "report",
                "--stdio",
                "--no-children",
                "-q",
                "--percent-limit",
                "0",
            ])
            .args(["--sort", "dso,sym", "-F", "sample,dso,sym", "-i"])
            .arg(&self.data)
            .output()
            .context("running `perf report`")?;
        let _ = std::fs::remove_file(&self.data);
        if !output.status.success() {
            bail!(
                "perf report failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        summarize(&String::from_utf8_lossy(&output.stdout), top)
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.data);
    }
}

/// One row of `perf report -F sample,dso,sym`: sample count, shared object and symbol.
fn parse_row(line: &str) -> Option<(u64, String, String)> {
    let line = line.trim();
    let (count, rest) = line.split_once(char::is_whitespace)?;
    let count = count.parse().ok()?;
    let at = rest.find(" [.] ").or_else(|| rest.find(" [k] "))?;
    let dso = rest[..at].trim().to_owned();
    let symbol = rest[at + 5..].trim().to_owned();
    Some((count, dso, symbol))
}

/// Where a native sample fell.
fn category(dso: &str, symbol: &str) -> &'static str {
    if dso.starts_with("[kernel") {
        return "kernel (syscalls, loopback TCP, epoll)";
    }
    if dso.starts_with("[JIT]") || dso.starts_with("perf-") || dso == "[unknown]" {
        return "code V8 generated (the Worker's JS and wasm)";
    }
    if dso.starts_with("libc") || dso.starts_with("ld-linux") || dso.starts_with("libm") {
        return "libc";
    }
    if dso != "workerd" {
        return "other libraries";
    }
    let gc = [
        "Heap::",
        "Scaveng",
        "MarkCompact",
        "Sweeper",
        "Marking",
        "GCTracer",
    ];
    if symbol.starts_with("Builtins_") {
        "V8 built-ins (promises, JSON, strings, calls into wasm)"
    } else if symbol.contains("v8::") && gc.iter().any(|key| symbol.contains(key)) {
        "V8 garbage collector"
    } else if symbol.contains("v8::") {
        "V8 engine (API, runtime, compiler)"
    } else if symbol.contains("tcmalloc") || symbol.contains("TCMalloc") {
        "memory allocation (tcmalloc)"
    } else if symbol.starts_with("kj::") {
        "KJ event loop, promises and async I/O"
    } else if symbol.contains("workerd::") {
        "workerd runtime (fetch, WebSocket, Durable Objects, jsg)"
    } else if symbol.contains("capnp::") {
        "Cap'n Proto"
    } else {
        "workerd: other"
    }
}

/// Shares per category and the symbols with the most samples, from `perf report` text.
fn summarize(report: &str, top: usize) -> Result<NativeProfile> {
    let rows: Vec<_> = report.lines().filter_map(parse_row).collect();
    let total: u64 = rows.iter().map(|(count, _, _)| count).sum();
    if total == 0 {
        bail!("perf recorded no samples of workerd");
    }
    let share = |count: u64| percent(count as f64, total as f64);
    let mut categories: BTreeMap<&'static str, u64> = BTreeMap::new();
    for (count, dso, symbol) in &rows {
        *categories.entry(category(dso, symbol)).or_default() += count;
    }
    let mut categories: Vec<_> = categories.into_iter().collect();
    categories.sort_by_key(|c| std::cmp::Reverse(c.1));
    let mut symbols = rows.clone();
    symbols.sort_by_key(|s| std::cmp::Reverse(s.0));
    Ok(NativeProfile {
        samples: total,
        frequency_hz: FREQUENCY,
        by_category: categories
            .into_iter()
            .map(|(category, samples)| CategoryShare {
                category,
                samples,
                percent: share(samples),
            })
            .collect(),
        top_symbols: symbols
            .iter()
            .take(top)
            .map(|(count, dso, symbol)| SymbolShare {
                symbol: symbol.chars().take(160).collect(),
                dso: dso.clone(),
                category: category(dso, symbol),
                percent: share(*count),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "
            85  [kernel.kallsyms]  [k] tcp_sendmsg
            10  workerd            [.] kj::_::ChainPromiseNode::fire
             3  [JIT] tid 24103    [.] 0x000027840cb20c1e
             1  workerd            [.] v8::internal::Heap::Scavenge
             1  libc.so.6          [.] __memmove_avx_unaligned_erms
";

    #[test]
    fn rows_keep_shared_objects_with_spaces() {
        assert_eq!(
            parse_row("     3  [JIT] tid 24103    [.] 0x000027840cb20c1e"),
            Some((3, "[JIT] tid 24103".into(), "0x000027840cb20c1e".into()))
        );
        assert_eq!(parse_row("# comment"), None);
        assert_eq!(parse_row(""), None);
    }

    #[test]
    fn samples_are_summed_by_category() -> Result<()> {
        let summary = summarize(REPORT, 2)?;
        assert_eq!(summary.samples, 100);
        assert_eq!(
            summary.by_category[0],
            CategoryShare {
                category: "kernel (syscalls, loopback TCP, epoll)",
                samples: 85,
                percent: 85.0
            }
        );
        let categories: Vec<_> = summary.by_category.iter().map(|c| c.category).collect();
        assert!(categories.contains(&"V8 garbage collector"));
        assert!(categories.contains(&"code V8 generated (the Worker's JS and wasm)"));
        assert_eq!(
            summary.top_symbols[1].symbol,
            "kj::_::ChainPromiseNode::fire"
        );
        assert_eq!(summary.top_symbols.len(), 2);
        Ok(())
    }

    #[test]
    fn an_empty_report_is_an_error() {
        assert!(summarize("", 5).is_err());
    }
}
