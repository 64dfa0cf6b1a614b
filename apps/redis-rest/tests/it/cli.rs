//! The binary as users run it: flags and environment variables, and a clean stop on SIGTERM or
//! SIGINT.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::{ChildGuard, TestRedis};

/// Starts the binary with `args` and `env`, and returns it with the address it printed.
fn start(args: &[&str], env: &[(&str, &str)]) -> Result<(ChildGuard, String)> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_redis-rest"));
    command
        .args(args)
        .env_remove("REDIS_REST_TOKEN")
        .envs(env.iter().copied())
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut guard = ChildGuard::spawn("redis-rest", command)?;
    let stdout = guard.take_stdout().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let Some(url) = line.trim().strip_prefix("listening on ") else {
        bail!("unexpected first line {line:?}");
    };
    Ok((guard, url.to_owned()))
}

/// A plain HTTP/1.1 GET of `/ping`, returning the body.
fn ping(url: &str, token: &str) -> Result<String> {
    use std::io::{Read, Write};
    let authority = url.strip_prefix("http://").context("not an http URL")?;
    let mut stream = std::net::TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET /ping HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (_, body) = response
        .split_once("\r\n\r\n")
        .context("no end of headers")?;
    Ok(body.to_owned())
}

#[test]
fn flags_configure_it_and_sigterm_stops_it_cleanly() -> Result<()> {
    let redis = TestRedis::start()?;
    let (mut server, url) = start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--redis-url",
            redis.url(),
            "--token",
            "flag-token",
        ],
        &[],
    )?;
    assert_eq!(ping(&url, "flag-token")?, r#"{"result":"PONG"}"#);
    let status = server.terminate(Duration::from_secs(10))?;
    assert!(status.success(), "exit status {status}");
    Ok(())
}

#[test]
fn environment_variables_configure_it_and_sigint_stops_it_cleanly() -> Result<()> {
    let redis = TestRedis::start()?;
    let (mut server, url) = start(
        &[],
        &[
            ("REDIS_REST_LISTEN", "127.0.0.1:0"),
            ("REDIS_URL", redis.url()),
            ("REDIS_REST_TOKEN", "env-token"),
        ],
    )?;
    assert_eq!(ping(&url, "env-token")?, r#"{"result":"PONG"}"#);
    let status = server.interrupt(Duration::from_secs(10))?;
    assert!(status.success(), "exit status {status}");
    Ok(())
}

#[test]
fn a_missing_token_is_a_clear_startup_error() -> Result<()> {
    let output = Command::new(env!("CARGO_BIN_EXE_redis-rest"))
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("REDIS_REST_TOKEN")
        .output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--token"), "{stderr}");
    Ok(())
}
