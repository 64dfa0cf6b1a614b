//! The whole backend on free ports: Redis, redis-rest, and the Worker with its Durable Objects
//! under Miniflare (`wrangler dev`, with the repository's wrangler.toml), all stopped on Drop.

use crate::proxy::HoldProxy;
use crate::rest::{RestStack, node_modules};
use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value as Json;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::{ChildGuard, TestRedis, free_port, workspace_root};
use upstash::native::NativeTransport;

/// How a test starts the Worker: variables on top of wrangler.toml's, and whether a proxy
/// stands between it and the store.
#[derive(Debug, Clone, Default)]
pub struct WorkerOptions {
    pub vars: Vec<(String, String)>,
    /// Put a [`HoldProxy`] between the Worker and redis-rest (`ChatStack::proxy`).
    pub proxy: bool,
    /// With the proxy: how long each byte takes each way between the Worker and redis-rest
    /// (Redis in another region; zero on loopback).
    pub store_delay: Duration,
}

impl WorkerOptions {
    /// Rate limits and connection caps high enough not to matter, for tests and benchmarks that
    /// send in bulk or open many sockets from one address.
    pub fn unlimited() -> Self {
        let mut options = Self::default();
        for name in [
            "SEND_BURST",
            "SEND_PER_SECOND",
            "TYPING_BURST",
            "TYPING_PER_SECOND",
            "HISTORY_BURST",
            "HISTORY_PER_SECOND",
            "SOCKET_BURST",
            "SOCKET_PER_SECOND",
            "HTTP_HISTORY_BURST",
            "HTTP_HISTORY_PER_SECOND",
            "MAX_CONNECTIONS",
            "MAX_CONNECTIONS_PER_IP",
        ] {
            options = options.var(name, "1000000");
        }
        options
    }

    /// Route the Worker's store requests through a [`HoldProxy`].
    /// Redis `delay` away each way (a round trip costs twice that), through the proxy.
    pub fn with_store_delay(mut self, delay: Duration) -> Self {
        self.proxy = true;
        self.store_delay = delay;
        self
    }

    pub fn with_proxy(mut self) -> Self {
        self.proxy = true;
        self
    }

    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// Redis + redis-rest + the Worker.
#[derive(Debug)]
pub struct ChatStack {
    pub rest: RestStack,
    pub port: u16,
    /// wrangler's DevTools inspector proxy for the Worker's isolate (`ws://127.0.0.1:PORT/ws`),
    /// which the load generator uses to take CPU profiles.
    pub inspector_port: u16,
    /// Between the Worker and redis-rest, when the options asked for it.
    pub proxy: Option<HoldProxy>,
    options: WorkerOptions,
    state_dir: PathBuf,
    worker: Option<ChildGuard>,
    http: Client<HttpConnector, Empty<Bytes>>,
}

impl ChatStack {
    /// Starts everything with a Redis that keeps its data across [`TestRedis::stop`].
    pub async fn start(options: WorkerOptions) -> Result<Self> {
        let rest = RestStack::start(TestRedis::local_persistent()?).await?;
        let state_dir = std::env::temp_dir().join(testkit::unique("e2e-wrangler-state"));
        let proxy = match options.proxy {
            true => {
                let upstream = rest.url.trim_start_matches("http://").to_owned();
                Some(HoldProxy::start_with_delay(&upstream, options.store_delay).await?)
            }
            false => None,
        };
        let mut stack = Self {
            rest,
            port: free_port()?,
            inspector_port: free_port()?,
            proxy,
            options,
            state_dir,
            worker: None,
            http: Client::builder(TokioExecutor::new()).build_http(),
        };
        stack.start_worker().await?;
        Ok(stack)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The WebSocket URL of `room`.
    pub fn ws_url(&self, room: &str) -> String {
        format!("ws://127.0.0.1:{}{}", self.port, protocol::ws_path(room))
    }

    /// Starts the Worker (again) on the same port, with the same Durable Object state.
    pub async fn start_worker(&mut self) -> Result<()> {
        let root = workspace_root();
        let bundle = root.join("apps/chat-worker/build/index.js");
        if !bundle.is_file() {
            bail!(
                "{} is missing: build the Worker first with `just build-worker` (`just test` does)",
                bundle.display()
            );
        }
        let client = root.join("apps/web/dist/index.html");
        if !client.is_file() {
            bail!(
                "{} is missing: build the web client first with `just build-web` (`just test` does)",
                client.display()
            );
        }
        // workerd sometimes fails to start when several `wrangler dev` start at once: wrangler
        // and Miniflare pick their internal ports by checking that one is free and binding it
        // later, so two instances can pick the same one. Our own ports are outside the range
        // they pick from (`free_port`), so starting again with the same ports gets past that.
        // A real failure (a bad wrangler.toml, a broken bundle) fails every attempt, and the
        // error carries the end of wrangler's log.
        const ATTEMPTS: u32 = 3;
        for attempt in 1..=ATTEMPTS {
            match self.spawn_worker(attempt).await? {
                Started::Answering(guard) => {
                    self.worker = Some(guard);
                    return Ok(());
                }
                Started::Exited(error) if attempt < ATTEMPTS => {
                    eprintln!("wrangler dev failed to start (attempt {attempt}), again: {error:#}");
                }
                Started::Exited(error) => return Err(error),
            }
        }
        bail!("wrangler dev was never started")
    }

    /// Starts `wrangler dev` once and waits until the Worker answers, or the process exits.
    async fn spawn_worker(&self, attempt: u32) -> Result<Started> {
        let wrangler = node_modules()?.join(".bin/wrangler");
        let log = self.state_dir.join(format!("wrangler-{attempt}.log"));
        let mut command = Command::new(wrangler);
        command
            .current_dir(workspace_root())
            .args(["dev", "--ip", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--inspector-port", &self.inspector_port.to_string()])
            .arg("--persist-to")
            .arg(&self.state_dir)
            .args([
                "--log-level",
                "warn",
                "--show-interactive-dev-session=false",
            ])
            .args([
                "--var",
                &format!(
                    "UPSTASH_REDIS_REST_URL:{}",
                    self.proxy.as_ref().map_or(&self.rest.url, |p| &p.url)
                ),
                "--var",
                &format!("UPSTASH_REDIS_REST_TOKEN:{}", self.rest.token),
            ]);
        for (name, value) in &self.options.vars {
            command.args(["--var", &format!("{name}:{value}")]);
        }
        command
            .env("EDGE_CHAT_SKIP_BUILD", "1")
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            // A path ending in .log is the file itself, so a failure can quote it.
            .env("WRANGLER_LOG_PATH", &log)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let mut guard = ChildGuard::spawn("wrangler dev", command)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Err(error) = guard.check_running() {
                let tail = log_tail(&log, 40);
                return Ok(Started::Exited(error.context(format!(
                    "the end of wrangler's log ({}):\n{tail}",
                    log.display()
                ))));
            }
            // Liveness, not the store's health: it asks Redis nothing, so tests that count
            // Redis commands do not see the readiness polls.
            if self.get("/api/health").await.is_ok() {
                return Ok(Started::Answering(guard));
            }
            if Instant::now() >= deadline {
                bail!("wrangler dev did not answer within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the Worker process (and workerd with it), as a crash or deploy would.
    pub fn stop_worker(&mut self) {
        if let Some(mut worker) = self.worker.take() {
            worker.kill();
        }
    }

    /// Stops and starts the Worker; Durable Object state persists, memory does not.
    pub async fn restart_worker(&mut self) -> Result<()> {
        self.stop_worker();
        self.start_worker().await
    }

    pub fn redis(&mut self) -> &mut TestRedis {
        &mut self.rest.redis
    }

    /// `GET path` on the Worker: status and JSON body.
    pub async fn get(&self, path: &str) -> Result<(u16, Json)> {
        self.get_from(path, None).await
    }

    /// `GET path` on the Worker as a client at `ip`, when given: the `CF-Connecting-IP` header
    /// the edge would set, which `wrangler dev` passes through to the Worker.
    pub async fn get_from(&self, path: &str, ip: Option<&str>) -> Result<(u16, Json)> {
        let uri = format!("{}{path}", self.base_url());
        let mut request = hyper::Request::get(uri);
        if let Some(ip) = ip {
            request = request.header("CF-Connecting-IP", ip);
        }
        let request = request.body(Empty::new()).context("bad request")?;
        let response = tokio::time::timeout(Duration::from_secs(15), self.http.request(request))
            .await
            .context("GET timed out")??;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        let json = serde_json::from_slice(&body).with_context(|| {
            format!(
                "{path}: body is not JSON: {}",
                String::from_utf8_lossy(&body)
            )
        })?;
        Ok((status, json))
    }

    /// A client for the stack's Redis, through redis-rest, to check what was stored.
    pub fn store(&self) -> upstash::Client<NativeTransport> {
        self.rest.store()
    }

    /// Every member of the sorted set `key`, in score order.
    async fn sorted_set(&self, key: &str) -> Result<Vec<Vec<u8>>> {
        let all = upstash::Command::new("ZRANGE").arg(key).arg(0).arg(-1);
        Ok(self.store().command(&all).await?.into_bytes_list()?)
    }

    /// Every message stored for `room`, ascending by seq (the Redis order).
    pub async fn stored(&self, room: &str) -> Result<Vec<protocol::Message>> {
        // The key layout is the room crate's alone.
        self.sorted_set(&room::store::key(room))
            .await?
            .iter()
            .map(|m| serde_json::from_slice(m).context("stored member is not a message"))
            .collect()
    }
}

impl ChatStack {
    /// Every message Redis holds for `room` once it holds at least `count` (the mirror follows
    /// the room's log a moment behind, longer while Redis is away); fails after `wait`.
    pub async fn until_stored(
        &self,
        room: &str,
        count: usize,
        wait: Duration,
    ) -> Result<Vec<protocol::Message>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Just after Redis comes back, redis-rest's first command can still fail while it
            // remakes its connection: that is "not yet", as it is for the room's mirror.
            let held = match self.stored(room).await {
                Ok(stored) if stored.len() >= count => return Ok(stored),
                Ok(stored) => format!("Redis holds {} messages", stored.len()),
                Err(err) => format!("reading Redis failed: {err:#}"),
            };
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{room}: {held} after {wait:?}, not {count}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The texts of every message stored for `room`, in Redis order.
    pub async fn stored_texts(&self, room: &str) -> Result<Vec<String>> {
        Ok(self
            .stored(room)
            .await?
            .into_iter()
            .map(|m| m.text)
            .collect())
    }

    /// The dedupe ids Redis holds for `room` (one per stored message).
    pub async fn stored_ids(&self, room: &str) -> Result<Vec<String>> {
        Ok(self
            .sorted_set(&room::store::ids_key(room))
            .await?
            .into_iter()
            .map(|m| String::from_utf8_lossy(&m).into_owned())
            .collect())
    }
}

impl Drop for ChatStack {
    fn drop(&mut self) {
        self.stop_worker();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// How one start of `wrangler dev` ended.
enum Started {
    Answering(ChildGuard),
    Exited(anyhow::Error),
}

/// The last `lines` lines of the file at `path`, or why it could not be read.
fn log_tail(path: &std::path::Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(error) => format!("(unreadable: {error})"),
    }
}
