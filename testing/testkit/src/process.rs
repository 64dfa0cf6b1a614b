//! Child processes that die with their guard, and the small network helpers tests need to start
//! services on free ports.

use anyhow::{Context, Result, bail};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A free TCP port on 127.0.0.1 for a service the caller is about to start.
///
/// The port is released before the service binds it, so something else could take it in between.
/// Ports the kernel hands out by itself (to `bind(0)`, to outgoing connections, and to the
/// get-port picks inside wrangler and Miniflare) come from the ephemeral range, and several
/// `wrangler dev` instances starting at once bind dozens of those. So this picks ports below that
/// range, where only an explicit bind can land, walking from a per-process random start so that
/// two calls in one test binary never return the same port. Passing listening sockets to the
/// child processes instead is not supported by the services we start.
pub fn free_port() -> Result<u16> {
    /// The range below the ephemeral one and the next offset into it, from a random start.
    static PORTS: OnceLock<Option<(u16, u16, AtomicU32)>> = OnceLock::new();
    let ports = PORTS.get_or_init(|| {
        let (low, high) = non_ephemeral_range()?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let start = (std::process::id().wrapping_mul(7919) ^ nanos) % u32::from(high - low);
        Some((low, high, AtomicU32::new(start)))
    });
    let Some((low, high, next)) = ports else {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
        return Ok(listener.local_addr()?.port());
    };
    let span = high - low;
    for _ in 0..span {
        let offset = next.fetch_add(1, Ordering::Relaxed) % u32::from(span);
        let port = low + offset as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port on 127.0.0.1 between {low} and {high}")
}

/// Ports from 10000 up to the start of the kernel's ephemeral range (`ip_local_port_range`), or
/// None when that range starts too low to leave a useful gap.
fn non_ephemeral_range() -> Option<(u16, u16)> {
    const LOW: u16 = 10_000;
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let first: u16 = text.split_whitespace().next()?.parse().ok()?;
    (first >= LOW + 1000).then_some((LOW, first))
}

/// Waits until something accepts TCP connections at `addr`, or fails after `timeout`.
pub fn wait_for_tcp(addr: SocketAddr, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("nothing listened on {addr} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running child process, started in a process group of its own so that everything it spawns
/// (workerd under wrangler, Chromium under chromedriver) is killed with it on Drop.
#[derive(Debug)]
pub struct ChildGuard {
    name: String,
    child: Option<Child>,
}

impl ChildGuard {
    /// Spawns `command` in a new process group. `name` appears in error messages.
    pub fn spawn(name: &str, mut command: Command) -> Result<Self> {
        command.process_group(0);
        let child = command
            .spawn()
            .with_context(|| format!("starting {name} ({command:?})"))?;
        Ok(Self {
            name: name.to_owned(),
            child: Some(child),
        })
    }

    /// Fails if the process has already exited, with its exit status in the message.
    pub fn check_running(&mut self) -> Result<()> {
        let name = self.name.clone();
        match self.child.as_mut() {
            None => bail!("{name} was stopped"),
            Some(child) => match child.try_wait()? {
                Some(status) => bail!("{name} exited early: {status}"),
                None => Ok(()),
            },
        }
    }

    /// The process id (0 once stopped), for signals a test sends itself.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Takes the child's standard output, when it was started with `Stdio::piped()`.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.as_mut().and_then(|child| child.stdout.take())
    }

    /// Sends SIGTERM to the process and waits up to `timeout` for it to exit by itself.
    /// Returns its exit status; the process is killed if it did not exit in time.
    pub fn terminate(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        self.stop_with("TERM", timeout)
    }

    /// Like [`ChildGuard::terminate`], with SIGINT (Ctrl-C).
    pub fn interrupt(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        self.stop_with("INT", timeout)
    }

    /// Sends SIG`name` once (a second one means "stop now, skip the cleanup" to many programs)
    /// and waits for the process to exit.
    fn stop_with(&mut self, name: &str, timeout: Duration) -> Result<std::process::ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("{} was already stopped", self.name);
        };
        signal(child.id(), name, false);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                signal(child.id(), "KILL", true);
                return Ok(status);
            }
            if Instant::now() >= deadline {
                signal(child.id(), "KILL", true);
                let _ = child.wait();
                bail!("{} did not exit within {timeout:?} of SIG{name}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the whole process group at once and reaps the process.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "KILL", true);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends a signal through kill(1): the workspace forbids `unsafe`, which libc's `kill` would need.
fn signal(pid: u32, signal: &str, whole_group: bool) {
    let target = if whole_group {
        format!("-{pid}")
    } else {
        pid.to_string()
    };
    let _ = Command::new("kill")
        .args([format!("-{signal}"), "--".to_owned(), target])
        .stderr(std::process::Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> Result<()> {
        let ports = (0..50).map(|_| free_port()).collect::<Result<Vec<_>>>()?;
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            ports.len(),
            "a port was handed out twice: {ports:?}"
        );
        if let Some((low, high)) = non_ephemeral_range() {
            assert!(ports.iter().all(|p| (low..high).contains(p)), "{ports:?}");
        }
        for port in ports {
            TcpListener::bind(("127.0.0.1", port)).with_context(|| format!("binding {port}"))?;
        }
        Ok(())
    }
}
