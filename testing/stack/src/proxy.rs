//! A TCP proxy between the Worker and redis-rest that can hold one store write on the wire past
//! the Worker's timeout and then let it land (the late write that exactly-once must survive),
//! and can put Redis far away: a fixed delay each way, as a database in another region has.

use anyhow::{Context, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards every connection to `upstream`; see [`HoldProxy::hold_next_write`] and
/// [`HoldProxy::start_with_delay`].
#[derive(Debug)]
pub struct HoldProxy {
    pub url: String,
    /// Milliseconds to hold the next request that carries a write (`EVAL`); 0 = none armed.
    hold_ms: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

/// Bytes read at an instant, to be written `delay` after it.
type Timed = (tokio::time::Instant, Vec<u8>);

impl HoldProxy {
    /// Listens on a free port in front of `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Result<Self> {
        Self::start_with_delay(upstream, Duration::ZERO).await
    }

    /// Like [`HoldProxy::start`], and every byte reaches the other side `delay` after it was
    /// read, in each direction (a round trip costs twice `delay`), without slowing the stream
    /// down: what follows is not held up behind what is in flight, as on a long link.
    pub async fn start_with_delay(upstream: &str, delay: Duration) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let hold_ms = Arc::new(AtomicU64::new(0));
        let upstream = upstream.to_owned();
        let armed = hold_ms.clone();
        let accept = tokio::spawn(async move {
            let delay = delay;
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let armed = armed.clone();
                tokio::spawn(async move {
                    let _ = forward(client, &upstream, armed, delay).await;
                });
            }
        });
        Ok(Self {
            url,
            hold_ms,
            accept,
        })
    }

    /// The next request carrying a write waits `hold` before it is passed on, however the
    /// client (the Worker) gives up meanwhile; later requests pass at once.
    pub fn hold_next_write(&self, hold: Duration) {
        let ms = u64::try_from(hold.as_millis()).unwrap_or(u64::MAX).max(1);
        self.hold_ms.store(ms, Ordering::SeqCst);
    }
}

impl Drop for HoldProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copies both ways, each way through [`delayed`]. The halves come from `tokio::io::split`,
/// which does not shut the socket down when dropped: a request held after its client left must
/// still reach the server whole and be answered there, as a real network would deliver it.
async fn forward(
    client: TcpStream,
    upstream: &str,
    armed: Arc<AtomicU64>,
    delay: Duration,
) -> Result<()> {
    let server = TcpStream::connect(upstream)
        .await
        .with_context(|| format!("connecting to {upstream}"))?;
    let (mut client_read, client_write) = tokio::io::split(client);
    let (mut server_read, server_write) = tokio::io::split(server);
    let (to_server, server_writer) = delayed(server_write, delay);
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            if chunk.windows(6).any(|w| w == b"\"EVAL\"") {
                let ms = armed.swap(0, Ordering::SeqCst);
                if ms > 0 {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
            }
            if to_server
                .send((tokio::time::Instant::now(), chunk.to_vec()))
                .is_err()
            {
                break;
            }
        }
    });
    let (to_client, client_writer) = delayed(client_write, delay);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match server_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to_client
            .send((tokio::time::Instant::now(), buf[..n].to_vec()))
            .is_err()
        {
            break;
        }
    }
    // The server answered (or closed): the held request, if any, has been handled; what is
    // still on its way to the client gets there first.
    drop(to_client);
    let _ = client_writer.await;
    reader.abort();
    server_writer.abort();
    Ok(())
}

/// A writer that puts each chunk sent to it on `out` `delay` after the chunk's instant, in
/// order.
fn delayed<W>(
    mut out: W,
    delay: Duration,
) -> (tokio::sync::mpsc::UnboundedSender<Timed>, JoinHandle<()>)
where
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, mut chunks) = tokio::sync::mpsc::unbounded_channel::<Timed>();
    let writer = tokio::spawn(async move {
        while let Some((read_at, chunk)) = chunks.recv().await {
            tokio::time::sleep_until(read_at + delay).await;
            if out.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    (send, writer)
}
