//! An Upstash-compatible REST front for a real Redis: the same requests and JSON replies as
//! Upstash's REST API, so the Worker (and Upstash's own SDKs) can run against a local Redis.
//!
//! The binary in `main.rs` parses flags and signals; everything else is here so tests can run
//! the server in-process on a free port.

mod command;
mod http;
mod reply;
mod store;

pub use http::{Config, router};

use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Serves requests on `listener` until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = router(config)?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// A server running on the current tokio runtime, stopped when this handle is dropped. Tests and
/// tools that embed redis-rest use this instead of the binary.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl Running {
    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Binds `127.0.0.1:0` and serves `config` there in a background task.
pub async fn spawn(config: Config) -> anyhow::Result<Running> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = router(config)?;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(err) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(%err, "redis-rest stopped with an error");
        }
    });
    Ok(Running { addr, _stop: stop })
}
