//! Redis going away and coming back: 503 while it is gone, recovery without a restart.

use crate::harness::{Req, Server};
use anyhow::Result;
use pretty_assertions::assert_eq;
use serde_json::json;
use std::time::{Duration, Instant};
use testkit::TestRedis;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_503_and_the_server_recovers_by_itself() -> Result<()> {
    let mut server = Server::with(TestRedis::local()?, 1 << 20).await?;
    assert_eq!(
        server.command(json!(["SET", "k", "v"])).await?,
        (200, json!({"result": "OK"}))
    );

    server.redis.stop()?;
    for req in [
        Req::post("/", json!(["GET", "k"]).to_string()),
        Req::post("/pipeline", json!([["GET", "k"]]).to_string()),
        Req::post("/multi-exec", json!([["GET", "k"]]).to_string()),
        Req::get("/get/k"),
    ] {
        let label = req.path.clone();
        let (status, body) = server.send(req).await?;
        assert_eq!(status, 503, "{label}: {body}");
        assert!(body["error"].is_string(), "{label}: {body}");
    }

    server.redis.resume()?;
    // The first request after Redis returns reconnects; allow a short while for Redis to listen.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = server.command(json!(["SET", "k", "again"])).await?;
        if status == 200 {
            assert_eq!(body, json!({"result": "OK"}));
            break;
        }
        assert_eq!(status, 503, "{body}");
        anyhow::ensure!(Instant::now() < deadline, "no recovery within 10 s: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        server.command(json!(["GET", "k"])).await?,
        (200, json!({"result": "again"}))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_absent_at_start_is_503_not_a_crash() -> Result<()> {
    let mut redis = TestRedis::local()?;
    redis.stop()?;
    let mut server = Server::with(redis, 1 << 20).await?;
    let (status, _) = server.command(json!(["PING"])).await?;
    assert_eq!(status, 503);
    server.redis.resume()?;
    assert_eq!(
        server.command(json!(["PING"])).await?,
        (200, json!({"result": "PONG"}))
    );
    Ok(())
}
