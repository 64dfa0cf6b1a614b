//! A real Redis for tests: `REDIS_URL` when set, else a Docker container (feature `containers`,
//! when an engine answers), else a `redis-server` child process on a free port.

use crate::process::{ChildGuard, free_port};
use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A Redis server that lives as long as this value.
#[derive(Debug)]
pub struct TestRedis {
    url: String,
    source: Source,
}

#[derive(Debug)]
enum Source {
    /// Given by `REDIS_URL`; shared, so it is never stopped by a test.
    External,
    /// A `redis-server` child process that tests may stop and start again to simulate an outage.
    /// With `data_dir`, it keeps its data on disk across such a restart.
    Local {
        port: u16,
        data_dir: Option<std::path::PathBuf>,
        child: Option<ChildGuard>,
    },
    #[cfg(feature = "containers")]
    Container(
        #[allow(dead_code)] // Held only so the container is removed on Drop.
        Box<testcontainers::Container<testcontainers::GenericImage>>,
    ),
}

impl TestRedis {
    /// The Redis the environment offers, in the order `REDIS_URL`, Docker container, local
    /// `redis-server`.
    pub fn start() -> Result<Self> {
        if let Ok(url) = std::env::var("REDIS_URL")
            && !url.is_empty()
        {
            return Ok(Self {
                url,
                source: Source::External,
            });
        }
        #[cfg(feature = "containers")]
        if docker_engine_answers() {
            return start_container();
        }
        Self::local()
    }

    /// Always a local `redis-server` child process, which [`TestRedis::stop`] and
    /// [`TestRedis::resume`] can take down and bring back on the same port. Outage tests use this.
    pub fn local() -> Result<Self> {
        Self::local_with(None)
    }

    /// Like [`TestRedis::local`], but its data survives [`TestRedis::stop`] and
    /// [`TestRedis::resume`] (an append-only file, synced on every write, in a fresh directory
    /// removed on Drop), as a production Redis keeps its data across an outage.
    pub fn local_persistent() -> Result<Self> {
        let dir = std::env::temp_dir().join(crate::unique("testkit-redis"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Self::local_with(Some(dir))
    }

    fn local_with(data_dir: Option<std::path::PathBuf>) -> Result<Self> {
        let port = free_port()?;
        let child = spawn_redis_server(port, data_dir.as_deref())?;
        Ok(Self {
            url: format!("redis://127.0.0.1:{port}"),
            source: Source::Local {
                port,
                data_dir,
                child: Some(child),
            },
        })
    }

    /// The `redis://` URL to connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the server, as an outage would. Only a local server can be stopped.
    pub fn stop(&mut self) -> Result<()> {
        match &mut self.source {
            Source::Local {
                child, data_dir, ..
            } => {
                if let Some(mut running) = child.take() {
                    if data_dir.is_some() {
                        // A clean stop, so the data on disk is complete.
                        running.terminate(Duration::from_secs(10))?;
                    } else {
                        running.kill();
                    }
                }
                Ok(())
            }
            _ => bail!("only a local redis-server (TestRedis::local) can be stopped"),
        }
    }

    /// Starts a stopped local server again on the same port (with an empty data set, as a
    /// restarted Redis without persistence has).
    pub fn resume(&mut self) -> Result<()> {
        match &mut self.source {
            Source::Local {
                port,
                data_dir,
                child,
            } => {
                if child.is_none() {
                    *child = Some(spawn_redis_server(*port, data_dir.as_deref())?);
                }
                Ok(())
            }
            _ => bail!("only a local redis-server (TestRedis::local) can be resumed"),
        }
    }

    /// Runs one command through a plain RESP connection and returns the raw reply, so tests can
    /// look at Redis directly without going through the code under test.
    pub fn raw_command(&self, args: &[&str]) -> Result<String> {
        let addr = self.socket_addr()?;
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes())?;
        read_reply(&mut stream)
    }

    fn socket_addr(&self) -> Result<SocketAddr> {
        let rest = self
            .url
            .strip_prefix("redis://")
            .context("REDIS_URL must start with redis://")?;
        let host_port = rest.rsplit('@').next().unwrap_or(rest);
        let host_port = host_port.split('/').next().unwrap_or(host_port);
        use std::net::ToSocketAddrs;
        host_port
            .to_socket_addrs()?
            .next()
            .with_context(|| format!("cannot resolve {host_port}"))
    }
}

fn spawn_redis_server(port: u16, data_dir: Option<&std::path::Path>) -> Result<ChildGuard> {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(["--loglevel", "warning"])
        .stdout(Stdio::null());
    match data_dir {
        Some(dir) => {
            command
                .args(["--appendonly", "yes", "--appendfsync", "always"])
                .arg("--dir")
                .arg(dir);
        }
        None => {
            command.args(["--appendonly", "no"]);
        }
    }
    let mut child = ChildGuard::spawn("redis-server", command).context(
        "redis-server is needed for tests: run `just setup` (it installs Debian's redis-server) \
         or set REDIS_URL",
    )?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        child.check_running()?;
        if ping(addr).is_ok() {
            return Ok(child);
        }
        if Instant::now() >= deadline {
            bail!("redis-server on port {port} did not answer PING within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ping(addr: SocketAddr) -> Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.write_all(b"PING\r\n")?;
    let reply = read_reply(&mut stream)?;
    if reply == "PONG" {
        Ok(())
    } else {
        bail!("unexpected PING reply {reply:?}")
    }
}

/// Reads one RESP reply and renders it as text: enough for the checks tests make (status, error,
/// integer, bulk string, and arrays of those joined by newlines).
fn read_reply(stream: &mut TcpStream) -> Result<String> {
    let line = read_line(stream)?;
    let (kind, rest) = line.split_at(1.min(line.len()));
    match kind {
        "+" | ":" => Ok(rest.to_owned()),
        "-" => bail!("redis error: {rest}"),
        "$" => {
            let len: i64 = rest.parse()?;
            if len < 0 {
                return Ok("(nil)".to_owned());
            }
            let len = usize::try_from(len)?;
            let mut buf = vec![0; len + 2];
            stream.read_exact(&mut buf)?;
            buf.truncate(len);
            Ok(String::from_utf8_lossy(&buf).into_owned())
        }
        "*" => {
            let len: i64 = rest.parse()?;
            let mut items = Vec::new();
            for _ in 0..len.max(0) {
                items.push(read_reply(stream)?);
            }
            Ok(items.join("\n"))
        }
        _ => bail!("unexpected RESP line {line:?}"),
    }
}

fn read_line(stream: &mut TcpStream) -> Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        stream.read_exact(&mut byte)?;
        if byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(String::from_utf8(line)?)
}

#[cfg(feature = "containers")]
fn docker_engine_answers() -> bool {
    Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(feature = "containers")]
fn start_container() -> Result<TestRedis> {
    use testcontainers::core::{IntoContainerPort, WaitFor};
    use testcontainers::runners::SyncRunner;
    let container = testcontainers::GenericImage::new("redis", "7-alpine")
        .with_exposed_port(6379.tcp())
        .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
        .start()
        .context("starting a redis:7-alpine container")?;
    let port = container.get_host_port_ipv4(6379)?;
    Ok(TestRedis {
        url: format!("redis://127.0.0.1:{port}"),
        source: Source::Container(Box::new(container)),
    })
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        if let Source::Local {
            child, data_dir, ..
        } = &mut self.source
        {
            if let Some(mut running) = child.take() {
                running.kill();
            }
            if let Some(dir) = data_dir {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}
