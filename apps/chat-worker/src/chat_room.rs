//! The `ChatRoom` Durable Object: a thin adapter in the manner of quinn's driver. It decodes
//! socket events, calls the [`RoomCore`], and carries out the core's outputs on sockets and on
//! Redis. It holds no chat logic of its own.

use crate::fetch_store::Store;
use room::{ConnId, Connection, Output, RoomConfig, RoomCore};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use worker::{
    Date, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair, WebSocketRequestResponsePair, durable_object,
};

// `worker::State` has no Debug implementation, so neither can this.
#[allow(missing_debug_implementations)]
#[durable_object]
pub struct ChatRoom {
    state: State,
    store: Store,
    history_limit: usize,
    core: RefCell<RoomCore>,
    /// Open sockets by connection id, rebuilt from their attachments after hibernation.
    sockets: RefCell<HashMap<ConnId, WebSocket>>,
    restored: Cell<bool>,
}

impl DurableObject for ChatRoom {
    fn new(state: State, env: Env) -> Self {
        let config = config_from_env(&env);
        // Heartbeats are answered by the runtime itself, so they never wake a hibernating room.
        if let Ok(pair) = WebSocketRequestResponsePair::new(protocol::PING, protocol::PONG) {
            state.set_websocket_auto_response(&pair);
        }
        Self {
            state,
            store: Store::from_env(&env),
            history_limit: config.history_limit,
            core: RefCell::new(RoomCore::new(config)),
            sockets: RefCell::new(HashMap::new()),
            restored: Cell::new(false),
        }
    }

    /// Only the Worker calls this, forwarding a checked WebSocket upgrade for one room.
    async fn fetch(&self, req: Request) -> Result<Response> {
        self.restore();
        let url = req.url()?;
        let room = match protocol::http::route(url.path()) {
            protocol::http::Route::RoomSocket(room) => room.to_owned(),
            _ => return Response::error("not a room socket", 400),
        };
        let WebSocketPair { client, server } = WebSocketPair::new()?;
        self.state.accept_web_socket(&server);
        let id = self.core.borrow_mut().handle_open(now(), &room);
        self.sockets.borrow_mut().insert(id, server);
        self.drive().await;
        Response::from_websocket(client)
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        self.restore();
        let Some(conn) = conn_id(&ws) else {
            let _ = ws.close(Some(1011), Some("unknown connection"));
            return Ok(());
        };
        match message {
            WebSocketIncomingMessage::String(text) => {
                self.core.borrow_mut().handle_text(now(), conn, &text);
            }
            WebSocketIncomingMessage::Binary(_) => self.core.borrow_mut().handle_binary(conn),
        }
        self.drive().await;
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        _code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        self.closed(&ws).await;
        // Complete the closing handshake; the code the client sent may be one (1005, 1006)
        // that cannot be sent back.
        let _ = ws.close(Some(1000), Some("bye"));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.closed(&ws).await;
        Ok(())
    }
}

impl ChatRoom {
    /// After hibernation the object is new but its sockets are not: bring them back, with the
    /// per-connection state each carries in its attachment.
    fn restore(&self) {
        if self.restored.replace(true) {
            return;
        }
        for ws in self.state.get_websockets() {
            if let Ok(Some(connection)) = ws.deserialize_attachment::<Connection>() {
                let id = connection.id;
                self.core.borrow_mut().restore(connection);
                self.sockets.borrow_mut().insert(id, ws);
            }
        }
    }

    async fn closed(&self, ws: &WebSocket) {
        self.restore();
        if let Some(conn) = conn_id(ws) {
            self.sockets.borrow_mut().remove(&conn);
            self.core.borrow_mut().handle_close(conn);
            self.drive().await;
        }
    }

    /// Carries out the core's outputs until there are none. Borrows of the core never span an
    /// `.await`: other socket events run while Redis answers, and they drive too.
    async fn drive(&self) {
        loop {
            let output = self.core.borrow_mut().poll_output();
            let Some(output) = output else { break };
            match output {
                Output::Deliver { to, frame } => {
                    let json = frame.to_json();
                    let sockets = self.sockets.borrow();
                    for id in to {
                        if let Some(ws) = sockets.get(&id) {
                            // A socket closing at this moment refuses sends; its close event
                            // follows and cleans up.
                            let _ = ws.send_with_str(&json);
                        }
                    }
                }
                Output::Text { to, text } => {
                    if let Some(ws) = self.sockets.borrow().get(&to) {
                        let _ = ws.send_with_str(text);
                    }
                }
                Output::Close { to, code, reason } => {
                    if let Some(ws) = self.sockets.borrow_mut().remove(&to) {
                        let _ = ws.close(Some(code), Some(reason));
                    }
                }
                Output::SaveConnection(connection) => {
                    if let Some(ws) = self.sockets.borrow().get(&connection.id) {
                        let _ = ws.serialize_attachment(&connection);
                    }
                }
                Output::Persist(batch) => {
                    let result = self.store.write(&batch, self.history_limit).await;
                    if let Err(failure) = &result {
                        worker::console_warn!("room {}: write failed: {failure}", batch.room);
                    }
                    self.core
                        .borrow_mut()
                        .handle_persisted(now(), batch.id, result);
                }
                Output::LoadTail { room, count } => {
                    let result = self.store.tail(&room, count).await;
                    if let Err(failure) = &result {
                        worker::console_warn!("room {room}: loading the tail failed: {failure}");
                    }
                    self.core.borrow_mut().handle_tail_loaded(now(), result);
                }
                Output::LoadHistory {
                    conn,
                    room,
                    before,
                    limit,
                } => {
                    let result = self.store.history(&room, before, limit).await;
                    self.core.borrow_mut().handle_history_loaded(conn, result);
                }
            }
        }
    }
}

/// The room's configuration: defaults, overridden by Worker variables where set (so a benchmark
/// can lift the rate limits, or a small deployment keep less history).
fn config_from_env(env: &Env) -> RoomConfig {
    let number = |name: &str| -> Option<f64> {
        env.var(name)
            .ok()
            .and_then(|v| v.to_string().trim().parse::<f64>().ok())
            .filter(|n| n.is_finite() && *n > 0.0)
    };
    let mut config = RoomConfig::default();
    if let Some(limit) = number("HISTORY_LIMIT") {
        config.history_limit = limit as usize;
    }
    if let Some(burst) = number("SEND_BURST") {
        config.send_limit.burst = burst;
    }
    if let Some(rate) = number("SEND_PER_SECOND") {
        config.send_limit.per_second = rate;
    }
    if let Some(burst) = number("TYPING_BURST") {
        config.typing_limit.burst = burst;
    }
    if let Some(rate) = number("TYPING_PER_SECOND") {
        config.typing_limit.per_second = rate;
    }
    config
}

fn conn_id(ws: &WebSocket) -> Option<ConnId> {
    ws.deserialize_attachment::<Connection>()
        .ok()
        .flatten()
        .map(|c| c.id)
}

fn now() -> i64 {
    i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX)
}
