//! Child processes that die with their guard, and the small network helpers tests need to start
//! services on free ports.

use anyhow::{Context, Result, bail};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 at the time of the call.
///
/// The port is released before the caller binds it, so another process could take it in between;
/// on a test machine that race is rare enough, and the alternative (passing listening sockets to
/// child processes) is not supported by the services we start.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
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
