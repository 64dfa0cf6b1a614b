//! The `ChatRoom` Durable Object: a thin adapter in the manner of quinn's driver. It decodes
//! socket events, calls the [`RoomCore`], and carries out the core's outputs on sockets, on its
//! write-ahead log in SQLite storage (`log.rs`) and on Redis, the log's mirror. It holds no chat
//! logic of its own.

use crate::fetch_store::Store;
use crate::log::{Log, Started};
use room::mirror::{MIRROR_BATCH, MirrorSchedule, Start};
use room::wal::WalLimits;
use room::{Config, ConfigError, ConnId, Connection, Output, RoomConfig, RoomCore, StoreFailure};
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
    /// Why the room cannot run, when a Worker variable is invalid: every request is refused
    /// with it rather than running on a guess.
    misconfigured: Option<ConfigError>,
    /// The room's log, or why its storage cannot hold one.
    log: std::result::Result<Log, String>,
    mirror: RefCell<MirrorSchedule>,
    core: RefCell<RoomCore>,
    /// Open sockets by connection id, rebuilt from their attachments after hibernation.
    sockets: RefCell<HashMap<ConnId, WebSocket>>,
    restored: Cell<bool>,
    /// The object's alarm as this instance last read or set it (`None` until then): the mirror
    /// checks it on every pass, and asking storage each time would cost a call per pass.
    alarm: Cell<Option<Option<i64>>>,
    /// Whether an event is waiting to start the next mirror pass (`Start::Soon`).
    mirror_soon: Cell<bool>,
}

impl DurableObject for ChatRoom {
    fn new(state: State, env: Env) -> Self {
        // A misconfigured chat answers every request with the error (see `fetch`); the room
        // is built from the defaults meanwhile and never runs.
        let (config, misconfigured) = match config_from_env(&env) {
            Ok(config) => (config, None),
            Err(err) => (
                Config {
                    room: RoomConfig::default(),
                    store: Err("the chat is misconfigured"),
                    allowed_origins: String::new(),
                },
                Some(err),
            ),
        };
        // Heartbeats are answered by the runtime itself, so they never wake a hibernating room.
        if let Ok(pair) = WebSocketRequestResponsePair::new(protocol::PING, protocol::PONG) {
            state.set_websocket_auto_response(&pair);
        }
        let limits = WalLimits {
            backlog_max: config.room.mirror_backlog_max,
            keep: config.room.tail_capacity,
            dedupe_window_ms: i64::try_from(config.room.dedupe_window_ms).unwrap_or(i64::MAX),
            ..WalLimits::default()
        };
        let log = Log::open(state.storage().sql(), limits);
        Self {
            store: Store::new(&config),
            history_limit: config.room.history_limit,
            misconfigured,
            log,
            mirror: RefCell::new(MirrorSchedule::default()),
            state,
            core: RefCell::new(RoomCore::new(config.room)),
            sockets: RefCell::new(HashMap::new()),
            restored: Cell::new(false),
            alarm: Cell::new(None),
            mirror_soon: Cell::new(false),
        }
    }

    /// Only the Worker calls this, forwarding a checked WebSocket upgrade for one room.
    async fn fetch(&self, req: Request) -> Result<Response> {
        if let Some(err) = &self.misconfigured {
            worker::console_error!("refusing to run: {err}");
            return Response::error(format!("the chat is misconfigured: {err}"), 500);
        }
        self.restore();
        let url = req.url()?;
        let room = match protocol::http::route(url.path()) {
            protocol::http::Route::RoomSocket(room) => room.to_owned(),
            protocol::http::Route::RoomHealth(_) => return self.health(),
            _ => return Response::error("not a room socket", 400),
        };
        // The edge sets it; a client cannot (Cloudflare overwrites it), so it is the address to
        // count connections by.
        let ip = req.headers().get("CF-Connecting-IP")?;
        let WebSocketPair { client, server } = WebSocketPair::new()?;
        self.state.accept_web_socket(&server);
        let id = self
            .core
            .borrow_mut()
            .handle_open(now(), &room, ip.as_deref());
        self.sockets.borrow_mut().insert(id, server);
        // No mirror pass here: the upgrade answers at once, and the next event mirrors.
        self.drive_outputs().await;
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

    /// The alarm: asked for by the core (`Output::WakeAt`: a busy room's typing notices go out)
    /// or by the mirror (a retry after a failure, or the safety net of a pass under way);
    /// `drive` ends with a mirror pass either way.
    async fn alarm(&self) -> Result<Response> {
        // The runtime clears an alarm as it fires it.
        self.alarm.set(Some(None));
        self.restore();
        self.core.borrow_mut().handle_wake(now());
        self.drive().await;
        Response::ok("")
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

    /// Carries out the core's outputs until there are none, then mirrors what was committed to
    /// Redis (after the frames are out, so nobody waits for it).
    async fn drive(&self) {
        self.drive_outputs().await;
        self.mirror().await;
    }

    /// Carries out the core's outputs until there are none. Borrows of the core never span an
    /// `.await`: other socket events run while Redis answers, and they drive too.
    async fn drive_outputs(&self) {
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
                Output::WakeAt(at) => self.wake_at(at).await,
                Output::Persist(batch) => {
                    // Group commit: the core counts this batch as in flight, so sends that
                    // arrive meanwhile wait to form the next one, and a busy room asks to wait
                    // a few ms for them (`Batch::wait_ms`). A commit returns at once (the
                    // storage is local), so without at least this turn of the event loop every
                    // message would be a commit of its own.
                    let wait = std::time::Duration::from_millis(batch.wait_ms);
                    worker::Delay::from(wait).await;
                    // Committed before anything is delivered; Redis gets it from the mirror,
                    // after the frames are out.
                    let result = self.log().and_then(|log| log.commit(&batch, now()));
                    match &result {
                        Err(failure) => {
                            worker::console_warn!("room {}: commit failed: {failure}", batch.room);
                        }
                        Ok(room::store::WriteOutcome::Fenced { highest }) => {
                            worker::console_warn!(
                                "room {}: commit fenced (log at {highest}, room at {}); reloading",
                                batch.room,
                                batch.prev
                            );
                        }
                        Ok(_) => {}
                    }
                    self.core
                        .borrow_mut()
                        .handle_persisted(now(), batch.id, result);
                }
                Output::LoadTail { room, count } => {
                    let result = self.tail(&room, count).await;
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
                    let result = self.history(&room, before, limit).await;
                    if let Err(failure) = &result {
                        worker::console_warn!("room {room}: loading history failed: {failure}");
                    }
                    self.core.borrow_mut().handle_history_loaded(conn, result);
                }
            }
        }
    }

    /// The room's log and its mirror: 200 with the [`room::mirror::MirrorStatus`] when the
    /// mirror has caught up or is working through a backlog, 503 with it while writes fail.
    fn health(&self) -> Result<Response> {
        let failures = self.mirror.borrow().failures();
        let status = self.log().and_then(|log| log.status(now(), failures));
        match status {
            Ok(status) => {
                let code = if status.failures > 0 { 503 } else { 200 };
                Ok(Response::from_json(&status)?.with_status(code))
            }
            Err(err) => {
                worker::console_warn!("room health: {err}");
                Ok(Response::from_json(
                    &serde_json::json!({"error": "the room's log cannot be read"}),
                )?
                .with_status(503))
            }
        }
    }

    fn log(&self) -> std::result::Result<&Log, StoreFailure> {
        self.log
            .as_ref()
            .map_err(|reason| StoreFailure::Refused(reason.clone()))
    }

    /// The newest `count` messages from the log. A room whose log was never started may have
    /// lived in Redis before the log existed (or be new): its log starts from Redis's tail.
    async fn tail(
        &self,
        room: &str,
        count: usize,
    ) -> std::result::Result<room::Tail, StoreFailure> {
        if self.log()?.started()? == Started::No {
            let messages = self.store.tail(room, count).await?;
            let complete = messages.len() < count;
            self.log()?.start(room, &messages, complete, now())?;
            worker::console_log!(
                "room {room}: log started from Redis with {} messages",
                messages.len()
            );
        }
        self.log()?.tail(count)
    }

    /// A history page: from the log where it holds it, completed from Redis below that.
    async fn history(
        &self,
        room: &str,
        before: i64,
        limit: u32,
    ) -> std::result::Result<protocol::HistoryPage, StoreFailure> {
        let held = match self.log()?.history(before, limit)? {
            Ok(page) => return Ok(page),
            Err(held) => held,
        };
        // Everything older than the log's oldest message was mirrored before the log let it go.
        let below = held.first().map_or(before, |m| m.seq);
        let missing = limit - u32::try_from(held.len()).unwrap_or(limit);
        let mut page = self.store.history(room, below, missing).await?;
        page.messages.extend(held);
        Ok(page)
    }

    /// Sets the object's one alarm for `at`, unless a sooner one is set (`room::alarm_to_set`).
    /// If it cannot be read, setting is the safer mistake: woken early, the room and the mirror
    /// ask again; never woken, they would strand their work.
    async fn wake_at(&self, at: i64) {
        let storage = self.state.storage();
        let current = match self.alarm.get() {
            Some(known) => known,
            None => {
                let read = storage.get_alarm().await.unwrap_or_else(|err| {
                    worker::console_warn!("reading the alarm failed: {err}");
                    None
                });
                // Another event may have set or fired the alarm while this one read it: what
                // that event knows is newer.
                match self.alarm.get() {
                    Some(known) => known,
                    None => read,
                }
            }
        };
        self.alarm.set(Some(current));
        if let Some(at) = room::alarm_to_set(current, at) {
            // An offset of 0 fires as soon as the runtime can.
            let offset = (at - now()).max(0);
            match storage.set_alarm(offset).await {
                Ok(()) => self.alarm.set(Some(Some(at))),
                Err(err) => {
                    self.alarm.set(None);
                    worker::console_warn!("setting the alarm failed: {err}");
                }
            }
        }
    }

    /// Mirrors what the log committed to Redis, in revision order and in batches, until it has
    /// caught up or a write fails; then the alarm retries with backoff. One pass at a time;
    /// events that arrive meanwhile commit, and the pass takes their messages too.
    async fn mirror(&self) {
        let Ok(log) = self.log() else { return };
        loop {
            let start = self.mirror.borrow_mut().start(now());
            match start {
                Start::Run => break,
                Start::Busy => return,
                Start::Wait(at) => return self.wake_at(at).await,
                Start::Soon(at) => {
                    // One event waits for the interval and runs the pass; the others leave it
                    // to that one. The alarm covers an instance that goes away meanwhile.
                    if self.mirror_soon.replace(true) {
                        return;
                    }
                    self.wake_at(at + SAFETY_ALARM_MS).await;
                    let wait = u64::try_from(at - now()).unwrap_or(0);
                    worker::Delay::from(std::time::Duration::from_millis(wait)).await;
                    self.mirror_soon.set(false);
                }
            }
        }
        let failed_before = self.mirror.borrow().failures();
        let caught_up = self.mirror_pass(log).await;
        if caught_up && failed_before > 0 {
            worker::console_log!("mirror: Redis caught up after {failed_before} failed writes");
        }
        let retry = self.mirror.borrow_mut().finished(now(), caught_up);
        if let Some(at) = retry {
            self.wake_at(at).await;
        }
    }

    async fn mirror_pass(&self, log: &Log) -> bool {
        let mut armed = false;
        loop {
            let batch = match log.unmirrored(MIRROR_BATCH) {
                Ok(batch) => batch,
                Err(err) => {
                    worker::console_error!("mirror: reading the log failed: {err}");
                    return false;
                }
            };
            let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
                return true;
            };
            let room = match log.room() {
                Ok(Some(room)) => room,
                _ => {
                    worker::console_error!("mirror: the log has no room name");
                    return false;
                }
            };
            if !armed {
                // Should the object go away mid-pass (a deploy, an eviction), the alarm
                // finishes the work.
                self.wake_at(now() + SAFETY_ALARM_MS).await;
                armed = true;
            }
            match self.store.mirror(&room, &batch, self.history_limit).await {
                Ok(_) => {
                    if let Err(err) = log.mirrored(last.rev, batch.len(), now()) {
                        worker::console_error!(
                            "mirror: marking {} mirrored failed: {err}",
                            last.rev
                        );
                        return false;
                    }
                }
                Err(failure) => {
                    let failures = self.mirror.borrow().failures() + 1;
                    worker::console_warn!(
                        "room {room}: mirroring rev {}..={} to Redis failed ({failures} in a row): {failure}",
                        first.rev,
                        last.rev
                    );
                    return false;
                }
            }
        }
    }
}

/// How long after a mirror pass starts the alarm checks that it finished.
const SAFETY_ALARM_MS: i64 = 30_000;

/// The room's configuration: defaults, overridden by Worker variables where set (so a benchmark
/// can lift the rate limits, or a small deployment keep less history), refused when invalid.
/// The chat's configuration from the Worker's variables ([`room::VARIABLES`]); the store's
/// token is a secret, or a variable for local `--var` use.
pub fn config_from_env(env: &Env) -> std::result::Result<Config, ConfigError> {
    Config::from_vars(|name| {
        let secret = (name == "UPSTASH_REDIS_REST_TOKEN")
            .then(|| env.secret(name).ok())
            .flatten();
        secret.or_else(|| env.var(name).ok()).map(|v| v.to_string())
    })
}

fn conn_id(ws: &WebSocket) -> Option<ConnId> {
    ws.deserialize_attachment::<Connection>()
        .ok()
        .flatten()
        .map(|c| c.id)
}

/// Milliseconds since the epoch (which the Workers runtime advances only after I/O).
pub(crate) fn now() -> i64 {
    i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX)
}
