//! Upstash's official TypeScript SDK works against redis-rest: strings, sorted sets, pipelines,
//! transactions and a script's array reply holding a status, with the SDK's default base64
//! encoding.

use anyhow::{Context, Result};
use e2e::{RestStack, node, node_modules};
use testkit::TestRedis;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstash_typescript_sdk_works_against_redis_rest() -> Result<()> {
    let modules = node_modules()?;
    let stack = RestStack::start(TestRedis::start()?).await?;
    let script = testkit::workspace_root().join("testing/e2e/sdk/upstash-sdk.mjs");
    let output = tokio::process::Command::new(node()?)
        .arg(&script)
        .current_dir(modules.parent().context("node_modules has a parent")?)
        .env("UPSTASH_REDIS_REST_URL", &stack.url)
        .env("UPSTASH_REDIS_REST_TOKEN", &stack.token)
        .env("KEY_PREFIX", testkit::unique("sdk"))
        .kill_on_drop(true)
        .output()
        .await
        .context("running node")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    anyhow::ensure!(
        output.status.success(),
        "the SDK checks failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    anyhow::ensure!(
        stdout.contains("sdk: 6 passed, 0 failed"),
        "unexpected output:\n{stdout}"
    );
    Ok(())
}
