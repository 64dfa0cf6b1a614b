//! `redis-rest`: serves Upstash's REST API in front of a real Redis, for local development.

use anyhow::Context;
use clap::Parser;
use std::net::SocketAddr;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// An Upstash-compatible REST server in front of a real Redis.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "REDIS_REST_LISTEN", default_value = "127.0.0.1:8079")]
    listen: SocketAddr,
    /// The Redis to serve.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Bearer token clients must send (`Authorization: Bearer TOKEN` or `?_token=TOKEN`).
    #[arg(long, env = "REDIS_REST_TOKEN", hide_env_values = true)]
    token: String,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "REDIS_REST_MAX_BODY_BYTES", default_value_t = redis_rest::Config::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Milliseconds a request may wait for Redis before it is answered with 503.
    #[arg(long, env = "REDIS_REST_TIMEOUT_MS", default_value_t = redis_rest::Config::DEFAULT_REDIS_TIMEOUT.as_millis() as u64)]
    redis_timeout_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    anyhow::ensure!(!args.token.is_empty(), "the token must not be empty");
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let local = listener.local_addr()?;
    tracing::info!(%local, redis = %args.redis_url, "redis-rest listening");
    // Printed on stdout so scripts and tests that ask for port 0 learn the real address.
    println!("listening on http://{local}");
    let config = redis_rest::Config {
        redis_url: args.redis_url,
        token: args.token,
        max_body_bytes: args.max_body_bytes,
        redis_timeout: Duration::from_millis(args.redis_timeout_ms),
    };
    redis_rest::serve(listener, config, shutdown_signal()).await?;
    tracing::info!("redis-rest stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM, whichever comes first.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            // Without a SIGTERM handler we still stop on SIGINT.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
