//! `just deploy` refuses, clearly and without leaking the token, when the Upstash database is not
//! configured (offline: these paths stop before anything is uploaded), and `just dev` keeps the
//! token off every command line.

use anyhow::{Context, Result};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn deploy(env: &[(&str, &str)], args: &[&str]) -> Result<Output> {
    let root = testkit::workspace_root();
    let mut command = Command::new("bash");
    command
        .arg(root.join("scripts/deploy.sh"))
        .args(args)
        .current_dir(&root)
        .env_remove("UPSTASH_REDIS_REST_URL")
        .env_remove("UPSTASH_REDIS_REST_TOKEN")
        .env_remove("CLOUDFLARE_API_TOKEN")
        .envs(env.iter().copied());
    command.output().context("running scripts/deploy.sh")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn deploy_refuses_without_an_upstash_url() -> Result<()> {
    let output = deploy(&[], &[])?;
    let text = text(&output);
    anyhow::ensure!(!output.status.success(), "deploy went ahead: {text}");
    anyhow::ensure!(
        text.contains("UPSTASH_REDIS_REST_URL is not configured for deployment"),
        "{text}"
    );
    anyhow::ensure!(
        text.contains("wrangler.toml"),
        "says where to set it: {text}"
    );
    Ok(())
}

#[test]
fn deploy_refuses_without_the_token_secret_and_never_prints_it() -> Result<()> {
    let url = ("UPSTASH_REDIS_REST_URL", "https://example-db.upstash.io");
    let output = deploy(&[url], &["staging"])?;
    let without_token = text(&output);
    anyhow::ensure!(
        !output.status.success(),
        "deploy went ahead: {without_token}"
    );
    anyhow::ensure!(
        without_token.contains("wrangler login") || without_token.contains("secret put"),
        "says how to configure the secret: {without_token}"
    );

    let secret = "s3cr3t-token-value-never-printed";
    let output = deploy(&[url, ("UPSTASH_REDIS_REST_TOKEN", secret)], &[])?;
    let with_token = text(&output);
    anyhow::ensure!(
        !output.status.success(),
        "deploy went ahead without an account"
    );
    anyhow::ensure!(
        !with_token.contains(secret),
        "the token was printed: {with_token}"
    );
    Ok(())
}

/// The command line of every process, as `ps` shows them to any user of the machine.
fn command_lines() -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let raw = std::fs::read(entry.path().join("cmdline")).ok()?;
            Some((pid, String::from_utf8_lossy(&raw).replace('\0', " ")))
        })
        .collect()
}

#[test]
fn dev_keeps_the_token_off_the_command_line() -> Result<()> {
    let root = testkit::workspace_root();
    let ports = [
        testkit::free_port()?,
        testkit::free_port()?,
        testkit::free_port()?,
    ];
    let mut command = Command::new("bash");
    command
        .arg(root.join("scripts/dev.sh"))
        .args(ports.map(|p| p.to_string()))
        .current_dir(&root)
        .env("EDGE_CHAT_SKIP_BUILD", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut dev = testkit::ChildGuard::spawn("scripts/dev.sh", command)?;
    let listen = format!("127.0.0.1:{}", ports[1]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (pid, line) = loop {
        dev.check_running()?;
        if let Some(found) = command_lines()
            .into_iter()
            .find(|(_, line)| line.contains("redis-rest") && line.contains(&listen))
        {
            break found;
        }
        anyhow::ensure!(Instant::now() < deadline, "redis-rest never started");
        std::thread::sleep(Duration::from_millis(100));
    };
    let vars =
        std::fs::read_to_string(root.join(".dev.vars")).context("dev.sh writes .dev.vars")?;
    let token = vars
        .lines()
        .find_map(|l| l.strip_prefix("UPSTASH_REDIS_REST_TOKEN="))
        .context("a token in .dev.vars")?
        .trim()
        .to_owned();
    let leaked = !token.is_empty() && line.contains(&token);
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let given = String::from_utf8_lossy(&environ).contains(&format!("REDIS_REST_TOKEN={token}"));
    // SIGTERM lets dev.sh stop what it started (its trap), before any assertion can fail.
    dev.terminate(Duration::from_secs(10))
        .context("dev.sh stops on SIGTERM")?;
    let redis = format!("127.0.0.1:{}", ports[0]);
    let wrangler = format!("--port {}", ports[2]);
    let left: Vec<String> = command_lines()
        .into_iter()
        .map(|(_, line)| line)
        .filter(|line| line.contains(&listen) || line.contains(&redis) || line.contains(&wrangler))
        .collect();
    anyhow::ensure!(left.is_empty(), "dev.sh left these running: {left:?}");
    anyhow::ensure!(!leaked, "the token is on redis-rest's command line: {line}");
    anyhow::ensure!(given, "redis-rest got its token from the environment");
    Ok(())
}
