//! Redis and redis-rest, the store half of every stack the tests start.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::time::Duration;
use testkit::TestRedis;
use upstash::native::NativeTransport;

/// Redis and `redis-rest` (in this process), torn down on Drop.
#[derive(Debug)]
pub struct RestStack {
    pub redis: TestRedis,
    pub url: String,
    pub token: String,
    _running: redis_rest::Running,
}

impl RestStack {
    /// Starts `redis-rest` on a free port in front of `redis`. Needs a tokio runtime.
    pub async fn start(redis: TestRedis) -> Result<Self> {
        let token = testkit::unique("token");
        let running = redis_rest::spawn(redis_rest::Config::new(redis.url(), &token)).await?;
        Ok(Self {
            redis,
            url: running.url(),
            token,
            _running: running,
        })
    }

    /// An Upstash client of this redis-rest, for checks that go past the Worker.
    pub fn store(&self) -> upstash::Client<NativeTransport> {
        upstash::Client::new(
            &self.url,
            &self.token,
            NativeTransport::new(Duration::from_secs(5)),
        )
    }
}

/// The repository's `node_modules`, or a clear error saying how to get it.
pub fn node_modules() -> Result<PathBuf> {
    let dir = testkit::workspace_root().join("node_modules");
    if !dir.join("@upstash/redis").is_dir() {
        bail!(
            "{} lacks the npm packages: run `just setup` (npm ci) first",
            dir.display()
        );
    }
    Ok(dir)
}

/// The `node` binary, checked to exist.
pub fn node() -> Result<PathBuf> {
    let status = std::process::Command::new("node")
        .arg("--version")
        .output()
        .context("node (Node.js 20 or newer) is needed: run `just setup` or install Node.js")?;
    if !status.status.success() {
        bail!("`node --version` failed");
    }
    Ok(PathBuf::from("node"))
}
