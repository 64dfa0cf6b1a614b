//! `just deploy` refuses, clearly and without leaking the token, when the Upstash database is not
//! configured. (Offline: these paths stop before anything is uploaded.)

use anyhow::{Context, Result};
use std::process::{Command, Output};

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
