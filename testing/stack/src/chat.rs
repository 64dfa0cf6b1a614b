//! A chat client for tests and benchmarks: a real WebSocket speaking the current protocol, with
//! waits that fail after a timeout instead of hanging.

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use protocol::{ClientFrame, Message, ServerFrame, Welcome};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single wait may take.
pub const WAIT: Duration = Duration::from_secs(15);

/// What arrived on the socket. A frame is much larger than the other variants, and boxing it
/// would only add indirection to every test's match: these are read one at a time.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Incoming {
    Frame(ServerFrame),
    /// A text frame that is not a protocol frame (`pong`).
    Text(String),
    /// The server closed the connection, with its close code.
    Closed(Option<u16>),
}

/// The secret a test client with `label` keeps: the label padded to the 22 characters
/// `hello` asks for, so tests can name their users briefly.
pub fn secret(label: &str) -> String {
    format!("{label:0<22}")
}

/// The public user id the room derives for `label`'s secret.
pub fn user_id(label: &str) -> String {
    room::identity::user_id(&secret(label))
}

/// One connection to a room.
#[derive(Debug)]
pub struct Chat {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Messages of a `messages` frame beyond what [`Chat::messages`] was asked for.
    unread: std::collections::VecDeque<Message>,
}

impl Chat {
    /// Opens a WebSocket to `url`, with an `Origin` header when given.
    pub async fn connect(url: &str, origin: Option<&str>) -> Result<Self> {
        let mut request = url.into_client_request()?;
        if let Some(origin) = origin {
            request.headers_mut().insert("origin", origin.parse()?);
        }
        Self::open(url, request).await
    }

    /// Opens a WebSocket to `url` as a client at `ip`: the `CF-Connecting-IP` header the edge
    /// would set, which `wrangler dev` passes through, so one machine can play many addresses.
    pub async fn connect_from(url: &str, ip: &str) -> Result<Self> {
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("cf-connecting-ip", ip.parse()?);
        Self::open(url, request).await
    }

    async fn open(url: &str, request: tungstenite::handshake::client::Request) -> Result<Self> {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .context("connect timed out")?
            .with_context(|| format!("connecting to {url}"))?;
        Ok(Self {
            ws,
            unread: Default::default(),
        })
    }

    /// Connects and says hello with the secret of `label` (see [`secret`]); returns the client
    /// and its welcome.
    pub async fn join(
        url: &str,
        name: &str,
        label: &str,
        since: Option<i64>,
    ) -> Result<(Self, Welcome)> {
        Self::connect(url, None)
            .await?
            .hello(name, label, since)
            .await
    }

    /// Says hello on a connection opened with [`Chat::connect`] or [`Chat::connect_from`], with
    /// the secret of `label`; returns the client and its welcome.
    pub async fn hello(
        self,
        name: &str,
        label: &str,
        since: Option<i64>,
    ) -> Result<(Self, Welcome)> {
        let mut chat = self;
        chat.send(&ClientFrame::Hello {
            protocol: protocol::PROTOCOL_VERSION,
            name: name.into(),
            secret: secret(label).into(),
            since,
        })
        .await?;
        let welcome = chat
            .next_where(|f| match f {
                ServerFrame::Welcome(w) => Some(w.clone()),
                _ => None,
            })
            .await
            .with_context(|| format!("{name} was not welcomed"))?;
        Ok((chat, welcome))
    }

    pub async fn send(&mut self, frame: &ClientFrame) -> Result<()> {
        self.send_raw(WsMessage::text(frame.to_json())).await
    }

    /// Sends a chat message.
    pub async fn say(&mut self, client_id: &str, text: &str) -> Result<()> {
        self.send(&ClientFrame::Send {
            client_id: client_id.into(),
            text: text.into(),
            reply_to: None,
        })
        .await
    }

    pub async fn send_raw(&mut self, message: WsMessage) -> Result<()> {
        self.ws.send(message).await.context("sending on the socket")
    }

    /// The next thing that arrives, or an error after [`WAIT`].
    pub async fn next(&mut self) -> Result<Incoming> {
        self.next_within(WAIT).await
    }

    pub async fn next_within(&mut self, wait: Duration) -> Result<Incoming> {
        loop {
            let item = tokio::time::timeout(wait, self.ws.next())
                .await
                .context("nothing arrived in time")?;
            return Ok(match item {
                None => Incoming::Closed(None),
                // A connection that dropped without a close frame (the server died) is closed too.
                Some(Err(
                    tungstenite::Error::ConnectionClosed
                    | tungstenite::Error::Io(_)
                    | tungstenite::Error::Protocol(
                        tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                    ),
                )) => Incoming::Closed(None),
                Some(Err(e)) => bail!("socket error: {e}"),
                Some(Ok(WsMessage::Text(text))) => match serde_json::from_str(&text) {
                    Ok(frame) => Incoming::Frame(frame),
                    Err(_) => Incoming::Text(text.to_string()),
                },
                Some(Ok(WsMessage::Close(frame))) => {
                    Incoming::Closed(frame.map(|f| u16::from(f.code)))
                }
                Some(Ok(_)) => continue,
            });
        }
    }

    /// Skips frames until `pick` returns something, failing if the socket closes first.
    pub async fn next_where<T>(&mut self, pick: impl Fn(&ServerFrame) -> Option<T>) -> Result<T> {
        loop {
            match self.next().await? {
                Incoming::Frame(frame) => {
                    if let Some(found) = pick(&frame) {
                        return Ok(found);
                    }
                }
                Incoming::Text(_) => {}
                Incoming::Closed(code) => bail!("closed ({code:?}) while waiting"),
            }
        }
    }

    /// The next `count` chat messages, from `message` and `messages` frames alike, skipping
    /// other frames.
    pub async fn messages(&mut self, count: usize) -> Result<Vec<Message>> {
        let mut messages = Vec::with_capacity(count);
        while messages.len() < count {
            if let Some(message) = self.unread.pop_front() {
                messages.push(message);
                continue;
            }
            let got = messages.len();
            let batch = self
                .next_where(|f| {
                    let stored = f.stored_messages();
                    (!stored.is_empty()).then(|| stored.to_vec())
                })
                .await
                .with_context(|| format!("got {got} of {count} messages"))?;
            self.unread.extend(batch);
        }
        Ok(messages)
    }

    /// Asserts that nothing but `pong`s, typing or presence arrives for `wait`.
    pub async fn expect_no_message(&mut self, wait: Duration) -> Result<()> {
        // A `messages` frame read by `messages` may have carried more than was asked for: those
        // arrived too.
        if let Some(message) = self.unread.front() {
            bail!("unexpected message {message:?}, in a batch already read");
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            match tokio::time::timeout(left, self.next_within(left)).await {
                Err(_) | Ok(Err(_)) => return Ok(()),
                Ok(Ok(Incoming::Frame(frame))) if !frame.stored_messages().is_empty() => {
                    bail!("unexpected message {frame:?}")
                }
                Ok(Ok(Incoming::Closed(code))) => bail!("closed ({code:?})"),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Closes the socket politely.
    pub async fn close(mut self) -> Result<()> {
        let _ = self.ws.close(None).await;
        Ok(())
    }
}
