//! Test harness shared by every crate's tests: real services on free loopback ports, each stopped
//! when its guard is dropped, so a failing or panicking test leaves no process behind.

mod process;
mod redis;

pub use process::{ChildGuard, free_port, wait_for_tcp};
pub use redis::TestRedis;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A name no other test in this run (or in a concurrent run sharing one Redis through
/// `REDIS_URL`) uses, so tests can share a Redis without seeing each other's keys.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}-{n}", std::process::id())
}

/// Where the workspace lives, for tests that need files outside their own crate
/// (`node_modules`, built bundles).
pub fn workspace_root() -> std::path::PathBuf {
    // This crate sits at `testing/testkit`, two levels below the root.
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| std::path::PathBuf::from("."))
}

/// The size of `path` compressed with `gzip -9`, as `scripts/size.sh` and the size figures
/// quote it (gzip's header names the file, as when a file is compressed by name).
pub fn gzip9_size(path: &str) -> anyhow::Result<u64> {
    use anyhow::Context;
    std::fs::metadata(path).with_context(|| format!("{path}: build it first"))?;
    let output = std::process::Command::new("gzip")
        .args(["-9", "-c", path])
        .output()
        .context("running gzip")?;
    anyhow::ensure!(output.status.success(), "gzip -9 {path} failed");
    Ok(output.stdout.len() as u64)
}
