//! The room state machine: connections, the in-memory tail, the write pipeline and the outputs.

use crate::actions::{self, Change, NOT_FOUND};
use crate::identity;
use crate::limits::{RateLimit, RoomConfig, TokenBucket};
use crate::store::{WriteOutcome, Written, dedupe_id};
use protocol::{
    ClientFrame, ErrorCode, ErrorFrame, FRAME_MAX_BYTES, HistoryPage, Member, Message, PING, PONG,
    ServerFrame, TypingNotice, WELCOME_MESSAGES, Welcome,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// A connection's id within the room; the adapter maps it to its socket.
pub type ConnId = u64;

/// WebSocket close code "Try Again Later": the room is full or too busy to take the frame.
pub const CLOSE_TRY_AGAIN_LATER: u16 = 1013;

/// The protocol versions this room serves; a hello of any other gets `unsupported_protocol`.
const SPOKEN: std::ops::RangeInclusive<u64> =
    protocol::OLDEST_PROTOCOL as u64..=protocol::PROTOCOL_VERSION as u64;

/// Why the store could not do what was asked. The text is the adapter's description, for the
/// log only: clients get a fixed message per kind, so no detail of the deployment leaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreFailure {
    /// The store could not be reached, did not answer in time (network, timeout, 5xx) or could
    /// not take the write now (the log's backlog cap): trying again later may succeed. A commit
    /// that fails so wrote nothing.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store answered and refused (bad credentials, a Redis error, a reply of the wrong
    /// shape): retrying will not help until an operator acts.
    #[error("store refused: {0}")]
    Refused(String),
}

/// What clients are told when the store is unavailable; the detail goes to the log.
const UNAVAILABLE_TEXT: &str = "the message store is unavailable; nothing was lost, retry shortly";
/// What clients are told when the store refused; the detail goes to the log.
const REFUSED_TEXT: &str = "the message store refused the request; this needs the operator";

/// Per-connection state. The adapter keeps it with the socket (the WebSocket attachment), so a
/// room woken from hibernation is rebuilt exactly with [`RoomCore::restore`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub id: ConnId,
    pub room: String,
    /// Set by a valid `hello`.
    pub member: Option<Member>,
    /// The client's address as the edge saw it (`CF-Connecting-IP`), for the per-address cap.
    #[serde(default)]
    pub ip: Option<String>,
    pub send_bucket: TokenBucket,
    pub typing_bucket: TokenBucket,
    #[serde(default)]
    pub history_bucket: TokenBucket,
}

/// A batch of writes to commit to the room's log in one statement ([`crate::wal`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub id: u64,
    pub room: String,
    /// The highest revision the room knows to be committed: the log refuses the batch (fencing)
    /// unless its highest is exactly this.
    pub prev: i64,
    /// New messages, ascending; each is created at the revision that is its `seq`.
    pub messages: Vec<Message>,
    /// Messages already committed, as the batch's actions leave them (each with its new `rev`).
    pub changes: Vec<Message>,
    /// Messages an action left as they were, written again only for their `acts`.
    pub touched: Vec<Message>,
    /// The actions applied to each message acted on (`seq`, JSON `[[dedupe id, time], …]`), kept
    /// with its row so that a retry is recognised after a restart ([`crate::wal::MIGRATION`]).
    pub acts: Vec<(i64, String)>,
    /// How long to wait before committing (ms). The sends that arrive meanwhile form the next
    /// batch, so a busy room commits fewer, larger batches: each commit costs the storage a
    /// transaction and every socket a frame. 0 (one turn of the event loop) for a lone message.
    pub wait_ms: u64,
}

/// What [`Output::LoadTail`] loaded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tail {
    /// The newest messages, ascending.
    pub messages: Vec<Message>,
    /// The highest revision the log holds. It is normally in `messages` (messages change only
    /// in the window of change, the tail's newest), but not when the tail is shorter than it was
    /// when that change was made (`HISTORY_LIMIT` lowered): the next commit must follow it.
    pub highest: i64,
    /// The actions applied to the messages of the tail that have any (`seq`, the JSON
    /// [`Batch::acts`] wrote).
    pub acts: Vec<(i64, String)>,
}

/// What the room asks its caller to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send `frame` to each connection in `to`.
    Deliver { to: Vec<ConnId>, frame: ServerFrame },
    /// Send a bare text frame (the `pong` heartbeat answer).
    Text { to: ConnId, text: &'static str },
    /// Close the connection with `code` and `reason`.
    Close {
        to: ConnId,
        code: u16,
        reason: String,
    },
    /// Store this connection's new state with its socket.
    SaveConnection(Connection),
    /// Call [`RoomCore::handle_wake`] at this time (ms since the epoch) or soon after. A later
    /// request replaces an earlier one only if it is sooner; the room asks again if woken early.
    WakeAt(i64),
    /// Store the batch, then call [`RoomCore::handle_persisted`].
    Persist(Batch),
    /// Load the newest `count` messages of `room`, then call [`RoomCore::handle_tail_loaded`].
    LoadTail { room: String, count: usize },
    /// Load a history page from the store, then call [`RoomCore::handle_history_loaded`].
    LoadHistory {
        conn: ConnId,
        room: String,
        before: i64,
        limit: u32,
    },
}

/// Whether the in-memory tail reflects the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TailState {
    /// Not loaded (a fresh or woken room), or no longer trusted after a fenced commit.
    Unloaded,
    Loading,
    Loaded,
}

/// A send or an action waiting for a write, with every connection that asked for it (a retry on
/// another connection joins the first attempt instead of being applied twice).
#[derive(Debug, Clone)]
struct PendingSend {
    client_id: String,
    member: Member,
    change: Change,
    waiters: Vec<ConnId>,
}

impl PendingSend {
    fn dedupe_id(&self) -> String {
        dedupe_id(&self.member.user_id, &self.client_id)
    }
}

/// What one write of a batch in flight does once committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Planned {
    /// Stores the batch's new message at this index.
    New(usize),
    /// Acts on the message `seq` (confirmed with `applied`, whether it changed it or not).
    Acted(i64),
}

/// A batch whose commit is in flight.
#[derive(Debug)]
struct InFlight {
    id: u64,
    sends: Vec<PendingSend>,
    plan: Vec<Planned>,
    messages: Vec<Message>,
    changes: Vec<Message>,
    acts: Vec<(i64, Acts)>,
}

/// The actions applied to one message: (dedupe id, commit time), oldest first.
type Acts = Vec<(String, i64)>;

/// The write protocol: what is committed, what waits, and the one batch being committed.
///
/// The room's log (Durable Object storage) is local, so a commit has exactly two outcomes the
/// room acts on: applied, or failed with nothing written (one statement, one transaction). There
/// is no write whose outcome is unknown, and so nothing to reconcile later. The invariants:
///
/// 1. `committed` is the highest revision in the log whenever the tail is loaded and no batch is
///    in flight: this instance is the log's only writer. A fence says otherwise (a second instance,
///    which storage would refuse), and the room reloads the tail from the log.
/// 2. Every message this instance committed was delivered to every joined connection in the step
///    its commit returned. The runtime's output gate holds those frames until the write is
///    durable; if it never becomes durable the object is reset and its sockets with it. So a
///    retry of a committed message is answered to whoever retried it, never broadcast again, and
///    `committed` is also the highest revision delivered.
/// 3. At most one batch is in flight. Its `prev` is `committed`, and its revisions (a new
///    message's is its `seq`) are above it and ascending; if its commit fails they are given out
///    again.
/// 4. A dedupe id is in at most one place: the tail's ids, the queue, or the batch in flight.
#[derive(Debug, Default)]
struct Writes {
    committed: i64,
    queue: VecDeque<PendingSend>,
    in_flight: Option<InFlight>,
    next_batch: u64,
    /// Set by a fence until the tail is loaded again: that load delivers what the other
    /// instance committed above `committed`.
    fenced: bool,
}

impl Writes {
    /// The queued or in-flight send of this dedupe id.
    fn waiting(&mut self, key: &str) -> Option<&mut PendingSend> {
        self.queue
            .iter_mut()
            .chain(self.in_flight.iter_mut().flat_map(|f| f.sends.iter_mut()))
            .find(|p| p.dedupe_id() == key)
    }
}

/// A chat room. See the crate documentation for what it guarantees.
#[derive(Debug)]
pub struct RoomCore {
    config: RoomConfig,
    room: Option<String>,
    connections: BTreeMap<ConnId, Connection>,
    next_conn: ConnId,
    /// The newest stored messages, ascending; at most `tail_capacity`.
    tail: VecDeque<Message>,
    /// Dedupe id (`user_id:client_id`) → `seq` of every message in `tail`.
    stored_ids: HashMap<String, i64>,
    /// Whether `tail` holds every message of the room (none older exist in the store).
    tail_complete: bool,
    tail_state: TailState,
    /// Frames that need the tail, held while it loads (at most `config.max_deferred`).
    deferred: Vec<(ConnId, ClientFrame)>,
    /// The actions applied to the tail's messages, by `seq`, as the log keeps them with each
    /// row ([`Batch::acts`]), and by dedupe id the message each acted on: a retry is confirmed,
    /// not applied again, across restarts too.
    acts: HashMap<i64, Acts>,
    actions_done: HashMap<String, i64>,
    writes: Writes,
    /// Typing notices a busy room gathers until `wake_at`, the latest per user. Lost with the
    /// room's memory, which is fine for notices that expire in seconds anyway.
    typing_pending: BTreeMap<String, TypingNotice>,
    wake_at: Option<i64>,
    consecutive_failures: u32,
    outputs: VecDeque<Output>,
}

impl RoomCore {
    pub fn new(config: RoomConfig) -> Self {
        let mut config = config;
        // The tail never holds more than the store keeps, and a resume never more than the tail.
        config.tail_capacity = config.tail_capacity.clamp(1, config.history_limit.max(1));
        // A resume serves fewer missed messages than the tail holds, so that the newest
        // `tail_capacity - resume_max` messages, the window in which messages can change, still
        // hold every message that changed since any cursor a resume serves (see `welcome`).
        config.resume_max = config
            .resume_max
            .min(config.tail_capacity.saturating_sub(1));
        config.max_batch = config.max_batch.max(1);
        Self {
            config,
            room: None,
            connections: BTreeMap::new(),
            next_conn: 1,
            tail: VecDeque::new(),
            stored_ids: HashMap::new(),
            tail_complete: false,
            tail_state: TailState::Unloaded,
            deferred: Vec::new(),
            acts: HashMap::new(),
            actions_done: HashMap::new(),
            writes: Writes {
                next_batch: 1,
                ..Writes::default()
            },
            typing_pending: BTreeMap::new(),
            wake_at: None,
            consecutive_failures: 0,
            outputs: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &RoomConfig {
        &self.config
    }

    /// The next output to carry out, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Who is online: one entry per user, sorted by name then id.
    pub fn online(&self) -> Vec<Member> {
        let mut by_user: BTreeMap<&str, &Member> = BTreeMap::new();
        for member in self.connections.values().filter_map(|c| c.member.as_ref()) {
            by_user.insert(&member.user_id, member);
        }
        let mut online: Vec<Member> = by_user.into_values().cloned().collect();
        online.sort_by(|a, b| a.name.cmp(&b.name).then(a.user_id.cmp(&b.user_id)));
        online
    }

    /// How many connections the room holds (joined or not).
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// The roster entry of `user_id`: the member of its newest connection, as in [`online`].
    ///
    /// [`online`]: RoomCore::online
    fn roster_entry(&self, user_id: &str) -> Option<Member> {
        self.connections
            .values()
            .rev()
            .filter_map(|c| c.member.as_ref())
            .find(|m| m.user_id == user_id)
            .cloned()
    }

    // ---- connections -------------------------------------------------------------------------

    /// A new WebSocket to `room` was accepted from `ip`. Returns its id; its state is in a
    /// `SaveConnection` output. When the room, or `ip`'s address key within it
    /// ([`protocol::http::address_key`]), already has as many connections as allowed, the
    /// connection gets `room_full` and a close instead.
    pub fn handle_open(&mut self, now: i64, room: &str, ip: Option<&str>) -> ConnId {
        use protocol::http::address_key;
        self.room.get_or_insert_with(|| room.to_owned());
        let id = self.next_conn;
        self.next_conn += 1;
        // Counted by address key, not by the literal header: the addresses of one IPv6 /64 are
        // one address, and connections without a readable address share one key, so leaving the
        // header out does not switch the cap off. Keys are derived from the stored addresses
        // each time, so connections saved before keys existed count the same way.
        let key = address_key(ip);
        let from_ip = self
            .connections
            .values()
            .filter(|c| address_key(c.ip.as_deref()) == key)
            .count();
        let refusal = if self.connections.len() >= self.config.max_connections {
            Some(format!(
                "this room is full ({} connections); try again later",
                self.config.max_connections
            ))
        } else if from_ip >= self.config.max_connections_per_ip {
            Some(format!(
                "too many connections from your address to this room ({}); close some tabs",
                self.config.max_connections_per_ip
            ))
        } else {
            None
        };
        if let Some(message) = refusal {
            self.error_to(
                id,
                ErrorCode::RoomFull,
                message,
                None,
                Some(self.config.full_retry_ms),
            );
            self.outputs.push_back(Output::Close {
                to: id,
                code: CLOSE_TRY_AGAIN_LATER,
                reason: "room full".into(),
            });
            return id;
        }
        let connection = Connection {
            id,
            room: room.to_owned(),
            member: None,
            ip: ip.map(str::to_owned),
            send_bucket: TokenBucket::full(self.config.send_limit, now),
            typing_bucket: TokenBucket::full(self.config.typing_limit, now),
            history_bucket: TokenBucket::full(self.config.history_rate, now),
        };
        self.connections.insert(id, connection.clone());
        self.outputs.push_back(Output::SaveConnection(connection));
        id
    }

    /// Brings back a connection after the room woke from hibernation, as it was saved.
    pub fn restore(&mut self, connection: Connection) {
        self.room.get_or_insert_with(|| connection.room.clone());
        self.next_conn = self.next_conn.max(connection.id + 1);
        self.connections.insert(connection.id, connection);
    }

    /// The connection closed (or failed). Others learn if its user left or is now shown under
    /// another name.
    pub fn handle_close(&mut self, conn: ConnId) {
        let Some(connection) = self.connections.get(&conn) else {
            return;
        };
        let user_id = connection.member.as_ref().map(|m| m.user_id.clone());
        let before = user_id.as_deref().and_then(|u| self.roster_entry(u));
        self.connections.remove(&conn);
        self.deferred.retain(|(c, _)| *c != conn);
        if let Some(user_id) = user_id {
            match self.roster_entry(&user_id) {
                None => self.broadcast(None, ServerFrame::Left { user_id }),
                Some(after) if Some(&after) != before.as_ref() => {
                    self.broadcast(None, ServerFrame::Joined { member: after });
                }
                Some(_) => {}
            }
        }
    }

    // ---- frames ------------------------------------------------------------------------------

    /// A text frame arrived on `conn`.
    pub fn handle_text(&mut self, now: i64, conn: ConnId, text: &str) {
        if !self.connections.contains_key(&conn) {
            return;
        }
        if text.len() > FRAME_MAX_BYTES {
            self.outputs.push_back(Output::Close {
                to: conn,
                code: protocol::CLOSE_TOO_BIG,
                reason: format!("frame larger than {FRAME_MAX_BYTES} bytes"),
            });
            self.handle_close(conn);
            return;
        }
        if text == PING {
            self.outputs.push_back(Output::Text {
                to: conn,
                text: PONG,
            });
            return;
        }
        match ClientFrame::parse(text) {
            Ok(frame) => self.handle_frame(now, conn, frame),
            Err(message) => {
                // A hello this version cannot read, naming no version it speaks, comes from a
                // client of another version (a page left open across a deploy): it is told so,
                // which every client since protocol 2 acts on, instead of `bad_request`.
                let other_version = ClientFrame::unreadable_hello(text)
                    .is_some_and(|named| named.is_none_or(|v| !SPOKEN.contains(&v)))
                    && !self.is_joined(conn);
                if other_version {
                    self.unsupported_protocol(conn);
                } else {
                    self.error_to(conn, ErrorCode::BadRequest, message, None, None);
                }
            }
        }
        self.flush(now);
    }

    /// A binary frame arrived: the protocol has none, so it is refused and the connection stays.
    pub fn handle_binary(&mut self, conn: ConnId) {
        if self.connections.contains_key(&conn) {
            self.error_to(
                conn,
                ErrorCode::BadRequest,
                "binary frames are not supported; send JSON text frames".into(),
                None,
                None,
            );
        }
    }

    fn is_joined(&self, conn: ConnId) -> bool {
        self.connections
            .get(&conn)
            .is_some_and(|c| c.member.is_some())
    }

    /// Tells `conn` that its protocol version is not spoken here, and closes it: the client
    /// reloads to get the version that matches this server.
    fn unsupported_protocol(&mut self, conn: ConnId) {
        self.outputs.push_back(Output::Deliver {
            to: vec![conn],
            frame: ServerFrame::UnsupportedProtocol {
                oldest: protocol::OLDEST_PROTOCOL,
                newest: protocol::PROTOCOL_VERSION,
                message: "this page is out of date: reload it to keep chatting".into(),
            },
        });
        self.outputs.push_back(Output::Close {
            to: conn,
            code: protocol::CLOSE_UNSUPPORTED_PROTOCOL,
            reason: "unsupported protocol version".into(),
        });
        self.handle_close(conn);
    }

    fn handle_frame(&mut self, now: i64, conn: ConnId, frame: ClientFrame) {
        let joined = self.is_joined(conn);
        match (&frame, joined) {
            (ClientFrame::Hello { .. }, true) => self.error_to(
                conn,
                ErrorCode::BadRequest,
                "already joined: hello is sent once per connection".into(),
                None,
                None,
            ),
            (ClientFrame::Hello { .. }, false) => self.hello(conn, frame),
            (_, false) => {
                let client_id = frame.client_id().map(str::to_owned);
                self.error_to(
                    conn,
                    ErrorCode::NotJoined,
                    "send hello first".into(),
                    client_id,
                    None,
                );
            }
            (
                ClientFrame::Send { .. }
                | ClientFrame::Edit { .. }
                | ClientFrame::Delete { .. }
                | ClientFrame::React { .. },
                true,
            ) => self.write(now, conn, frame),
            (ClientFrame::Typing { active }, true) => self.typing(now, conn, *active),
            (ClientFrame::History { before, limit }, true) => {
                self.history(now, conn, *before, *limit, frame.clone())
            }
        }
    }

    fn hello(&mut self, conn: ConnId, frame: ClientFrame) {
        let ClientFrame::Hello {
            protocol: version,
            name,
            secret,
            since,
        } = &frame
        else {
            return;
        };
        if !SPOKEN.contains(&u64::from(*version)) {
            return self.unsupported_protocol(conn);
        }
        let name = match protocol::validate_name(name) {
            Ok(name) => name.to_owned(),
            Err(e) => return self.error_to(conn, ErrorCode::InvalidName, e.0, None, None),
        };
        if let Err(e) = protocol::validate_secret(secret.as_str()) {
            return self.error_to(conn, ErrorCode::BadRequest, e.0, None, None);
        }
        if self.tail_state != TailState::Loaded {
            return self.defer(conn, frame.clone());
        }
        // The public id is derived, never chosen: nobody can appear as someone else without
        // their secret, and the secret itself is neither stored nor echoed.
        let member = Member {
            user_id: identity::user_id(secret.as_str()),
            name,
        };
        let before = self.roster_entry(&member.user_id);
        let Some(connection) = self.connections.get_mut(&conn) else {
            return;
        };
        connection.member = Some(member.clone());
        let saved = connection.clone();
        self.outputs.push_back(Output::SaveConnection(saved));
        let welcome = self.welcome(member.clone(), *since, *version);
        self.outputs.push_back(Output::Deliver {
            to: vec![conn],
            frame: ServerFrame::Welcome(welcome),
        });
        // Others hear of a new user, or of a new name; another tab of someone already here
        // under the same name changes nothing for them.
        let after = self.roster_entry(&member.user_id);
        if let Some(after) = after.filter(|a| Some(a) != before.as_ref()) {
            self.broadcast(Some(conn), ServerFrame::Joined { member: after });
        }
    }

    /// The welcome of a client that holds what it had up to `since`. In protocol 3 `since` is
    /// the room's revision the client last saw, and a resume carries every message whose
    /// revision is above it: the new ones and the current state of those that changed. That is
    /// complete whenever the resume is served: a message changes only among the newest
    /// `tail_capacity - resume_max` (the window of change), so one that changed after `since`
    /// and has since left the tail had more than `resume_max` messages sent after it, and such a
    /// gap gets a reset. Protocols 1 and 2 resume after the `seq` they name, without changes.
    fn welcome(&self, you: Member, since: Option<i64>, version: u32) -> Welcome {
        let online = self.online();
        let changes = version >= 3;
        let rev = changes.then_some(self.writes.committed);
        if let Some(since) = since {
            let gap_in_tail = since <= self.writes.committed
                && (self.tail_complete || self.tail.front().is_some_and(|m| m.seq <= since));
            if gap_in_tail {
                let start = self.tail.partition_point(|m| m.seq <= since);
                let missed = self.tail.len() - start;
                let messages: Vec<Message> = if changes {
                    self.tail
                        .iter()
                        .filter(|m| m.rev() > since)
                        .cloned()
                        .collect()
                } else {
                    self.tail.range(start..).cloned().collect()
                };
                if missed <= self.config.resume_max && messages.len() <= self.config.resume_max {
                    return Welcome {
                        you,
                        online,
                        messages,
                        has_more: start > 0 || !self.tail_complete,
                        reset: false,
                        rev,
                        dedupe_window_ms: Some(self.config.dedupe_window_ms),
                    };
                }
            }
        }
        let start = self.tail.len().saturating_sub(WELCOME_MESSAGES);
        Welcome {
            you,
            online,
            messages: self.tail.range(start..).cloned().collect(),
            has_more: start > 0 || !self.tail_complete,
            reset: true,
            rev,
            dedupe_window_ms: Some(self.config.dedupe_window_ms),
        }
    }

    /// How many of the newest messages can change: the window of change (see `welcome`).
    fn change_window(&self) -> usize {
        self.config
            .tail_capacity
            .saturating_sub(self.config.resume_max)
            .max(1)
    }

    /// A send, edit, deletion or reaction: checked as far as it can be without the message
    /// (its id; its text, trimmed as it is stored), rate-limited (one send token each), then
    /// queued. Whether an action's message exists, who may change it and what it becomes are
    /// decided when its batch is formed, against the state the writes before it leave.
    fn write(&mut self, now: i64, conn: ConnId, frame: ClientFrame) {
        let mut frame = frame;
        let Some(client_id) = frame.client_id().map(str::to_owned) else {
            return;
        };
        if let Err(e) = protocol::validate_client_id(&client_id) {
            return self.error_to(conn, ErrorCode::BadRequest, e.0, None, None);
        }
        if let ClientFrame::Send { text, .. } | ClientFrame::Edit { text, .. } = &mut frame {
            match protocol::validate_text(text) {
                Ok(valid) => *text = valid.to_owned(),
                Err(e) => {
                    return self.error_to(conn, ErrorCode::InvalidText, e.0, Some(client_id), None);
                }
            }
        }
        let Some(member) = self.take_token(
            now,
            conn,
            |c| &mut c.send_bucket,
            self.config.send_limit,
            "too many messages; retry shortly",
            Some(&client_id),
        ) else {
            return;
        };
        if self.tail_state != TailState::Loaded {
            // Dedupe needs the stored ids; the frame is replayed once they are loaded (its token
            // is already taken, so the replay skips the limiter).
            return self.defer(conn, frame);
        }
        if let Some((client_id, change)) = write_of(frame) {
            self.accept_write(conn, client_id, member, change);
        }
    }

    /// Queues a validated, rate-checked write, unless it is a duplicate (same user and
    /// `client_id`) of a stored message, an applied action, or a queued or in-flight write.
    fn accept_write(&mut self, conn: ConnId, client_id: String, member: Member, change: Change) {
        let key = dedupe_id(&member.user_id, &client_id);
        if let Some(seq) = self.stored_ids.get(&key).copied() {
            if let Some(message) = self.tail_message(seq) {
                self.answer_duplicate(vec![conn], message);
            }
            return;
        }
        if let Some(seq) = self.actions_done.get(&key).copied() {
            return self.outputs.push_back(Output::Deliver {
                to: vec![conn],
                frame: ServerFrame::Applied { client_id, seq },
            });
        }
        if let Some(send) = self.writes.waiting(&key) {
            if !send.waiters.contains(&conn) {
                send.waiters.push(conn);
            }
            return;
        }
        self.writes.queue.push_back(PendingSend {
            client_id,
            member,
            change,
            waiters: vec![conn],
        });
    }

    fn typing(&mut self, now: i64, conn: ConnId, active: bool) {
        let Some(member) = self.take_token(
            now,
            conn,
            |c| &mut c.typing_bucket,
            self.config.typing_limit,
            "too many typing notifications",
            None,
        ) else {
            return;
        };
        if self.joined().count() >= self.config.typing_batch_members {
            // A busy room: one frame per member per tick however many people type, and a
            // start-stop-start within the tick is sent as where it ended.
            self.typing_pending.insert(
                member.user_id.clone(),
                TypingNotice {
                    user_id: member.user_id,
                    name: member.name,
                    active,
                },
            );
            if self.wake_at.is_none() {
                let at = now + self.config.typing_tick_ms;
                self.wake_at = Some(at);
                self.outputs.push_back(Output::WakeAt(at));
            }
            return;
        }
        let to = self
            .joined()
            .filter(|(_, m)| m.user_id != member.user_id)
            .map(|(id, _)| id)
            .collect::<Vec<_>>();
        if !to.is_empty() {
            self.outputs.push_back(Output::Deliver {
                to,
                frame: ServerFrame::Typing {
                    user_id: member.user_id,
                    name: member.name,
                    active,
                },
            });
        }
    }

    fn history(&mut self, now: i64, conn: ConnId, before: i64, limit: u32, frame: ClientFrame) {
        if !(1..=protocol::HISTORY_MAX_LIMIT).contains(&limit) {
            return self.error_to(
                conn,
                ErrorCode::BadRequest,
                format!("limit must be 1 to {}", protocol::HISTORY_MAX_LIMIT),
                None,
                None,
            );
        }
        // Pages beyond the tail cost a store read each: a loop of them must not exhaust the
        // store's quota, so they have a bucket of their own.
        if self
            .take_token(
                now,
                conn,
                |c| &mut c.history_bucket,
                self.config.history_rate,
                "too many history requests; retry shortly",
                None,
            )
            .is_some()
        {
            self.history_page(conn, before, limit, frame);
        }
    }

    /// Takes a token from one of `conn`'s buckets (`bucket` picks it) and saves the connection's
    /// new state, returning its member; or answers `rate_limited` with when to retry (and the
    /// `client_id` of a refused send) and returns `None`.
    fn take_token(
        &mut self,
        now: i64,
        conn: ConnId,
        bucket: fn(&mut Connection) -> &mut TokenBucket,
        limit: RateLimit,
        refusal: &str,
        client_id: Option<&String>,
    ) -> Option<Member> {
        let connection = self.connections.get_mut(&conn)?;
        if let Err(retry_after_ms) = bucket(connection).take(limit, now) {
            self.error_to(
                conn,
                ErrorCode::RateLimited,
                refusal.to_owned(),
                client_id.cloned(),
                Some(retry_after_ms),
            );
            return None;
        }
        let saved = connection.clone();
        let member = saved.member.clone();
        self.outputs.push_back(Output::SaveConnection(saved));
        member
    }

    /// Answers a rate-checked history request from the tail, or asks the store.
    fn history_page(&mut self, conn: ConnId, before: i64, limit: u32, frame: ClientFrame) {
        if self.tail_state != TailState::Loaded {
            return self.defer(conn, frame);
        }
        let available = self.tail.partition_point(|m| m.seq < before);
        let limit_usize = limit as usize;
        if available >= limit_usize || self.tail_complete {
            let start = available.saturating_sub(limit_usize);
            let page = HistoryPage {
                messages: self.tail.range(start..available).cloned().collect(),
                has_more: start > 0 || !self.tail_complete,
            };
            self.outputs.push_back(Output::Deliver {
                to: vec![conn],
                frame: ServerFrame::History(page),
            });
        } else if let Some(room) = self.room.clone() {
            self.outputs.push_back(Output::LoadHistory {
                conn,
                room,
                before,
                limit,
            });
        }
    }

    // ---- store results -----------------------------------------------------------------------

    /// The tail load finished.
    pub fn handle_tail_loaded(&mut self, now: i64, result: Result<Tail, StoreFailure>) {
        if self.tail_state != TailState::Loading {
            return;
        }
        match result {
            Ok(Tail {
                messages,
                highest,
                acts,
            }) => {
                self.tail_state = TailState::Loaded;
                self.consecutive_failures = 0;
                self.tail_complete = messages.len() < self.config.tail_capacity;
                let newest = messages.iter().map(Message::rev).fold(highest, i64::max);
                // A fresh instance delivers nothing here: whatever the log holds was delivered
                // by the instance that committed it (invariant 2 of `Writes`). A reload after a
                // fence is the exception: another writer committed past `committed`, and this
                // instance's clients must see that too.
                let fenced = std::mem::take(&mut self.writes.fenced);
                let seen = self.writes.committed;
                if fenced {
                    let unseen = messages
                        .iter()
                        .filter(|m| m.rev() > seen)
                        .map(|m| (m.seq > seen, m.clone()))
                        .collect();
                    self.deliver_rows(unseen);
                }
                self.tail = messages.into();
                self.stored_ids = self
                    .tail
                    .iter()
                    .map(|m| (dedupe_id(&m.user_id, &m.client_id), m.seq))
                    .collect();
                self.acts.clear();
                self.actions_done.clear();
                for (seq, json) in acts {
                    // A list that does not read is none: it only saves a retry from being
                    // applied again.
                    let list: Acts = serde_json::from_str(&json).unwrap_or_default();
                    self.remember_acts(seq, list);
                }
                // The log is the truth: the next commit must follow exactly what it holds.
                self.writes.committed = newest;
                // Queued sends that are now known to be committed are answered, not written;
                // those just delivered to everyone above need no second answer.
                let queue: Vec<PendingSend> = self.writes.queue.drain(..).collect();
                for send in queue {
                    let sent = matches!(send.change, Change::Send { .. });
                    match self
                        .stored_ids
                        .get(&send.dedupe_id())
                        .copied()
                        .filter(|_| sent)
                    {
                        Some(seq) if fenced && seq > seen => {}
                        Some(seq) => {
                            if let Some(message) = self.tail_message(seq) {
                                self.answer_duplicate(send.waiters, message);
                            }
                        }
                        None => self.writes.queue.push_back(send),
                    }
                }
                for (conn, frame) in std::mem::take(&mut self.deferred) {
                    self.replay(now, conn, frame);
                }
                self.flush(now);
            }
            Err(failure) => {
                self.tail_state = TailState::Unloaded;
                let retry = self.store_failed();
                let code = failure_code(&failure);
                for (conn, frame) in std::mem::take(&mut self.deferred) {
                    match frame {
                        ClientFrame::Hello { .. } => {
                            self.store_error_to(conn, &failure, None, retry);
                            // Without history there is no welcome; the client reconnects.
                            self.outputs.push_back(Output::Close {
                                to: conn,
                                code: 1011,
                                reason: "message store unavailable".into(),
                            });
                            self.handle_close(conn);
                        }
                        other => {
                            let client_id = other.client_id().map(str::to_owned);
                            self.store_error_to(conn, &failure, client_id, retry)
                        }
                    }
                }
                let queue: Vec<PendingSend> = self.writes.queue.drain(..).collect();
                self.fail_sends(queue, code, retry);
            }
        }
    }

    /// The commit of batch `id` finished.
    pub fn handle_persisted(
        &mut self,
        now: i64,
        id: u64,
        result: Result<WriteOutcome, StoreFailure>,
    ) {
        let Some(in_flight) = self.writes.in_flight.take_if(|f| f.id == id) else {
            return;
        };
        match result {
            Ok(WriteOutcome::Applied(written)) => {
                self.consecutive_failures = 0;
                self.applied(in_flight, written);
                self.flush(now);
            }
            Ok(WriteOutcome::Fenced { .. }) => {
                // The log moved on without this instance: only a second instance of the room
                // can do that. Nothing of this batch was committed, so its sends go back to the
                // front of the queue, and the room reloads the tail (delivering what the other
                // committed) before committing them with fresh seqs.
                for send in in_flight.sends.into_iter().rev() {
                    self.writes.queue.push_front(send);
                }
                self.writes.fenced = true;
                self.tail_state = TailState::Unloaded;
                self.load_tail();
            }
            Err(failure) => {
                // A failed commit wrote nothing (one statement, one transaction): the tail still
                // reflects the log, the batch's seqs are free again, and the sends that queued
                // meanwhile go on as the next batch.
                let retry = self.store_failed();
                self.fail_sends(in_flight.sends, failure_code(&failure), retry);
                self.flush(now);
            }
        }
    }

    /// Takes in an applied batch: committed messages join the tail, changed ones are replaced
    /// in it, and both go to everyone in the order of their revisions; duplicates are answered
    /// with what the log holds, and actions confirmed to whoever sent them.
    fn applied(&mut self, in_flight: InFlight, written: Vec<Written>) {
        let InFlight {
            sends,
            plan,
            messages,
            changes,
            acts,
            ..
        } = in_flight;
        for (seq, list) in acts {
            self.remember_acts(seq, list);
        }
        let mut rows = Vec::new();
        let mut confirmations = Vec::new();
        for (send, planned) in sends.into_iter().zip(plan) {
            match planned {
                Planned::New(index) => {
                    let Some(message) = messages.get(index).cloned() else {
                        continue;
                    };
                    match written.get(index) {
                        Some(Written::Duplicate { seq, message: copy }) => {
                            let copy = copy.as_deref().cloned().unwrap_or(Message {
                                seq: *seq,
                                ts: *seq,
                                ..message
                            });
                            self.answer_duplicate(send.waiters, copy);
                        }
                        _ => {
                            self.stored_ids.insert(send.dedupe_id(), message.seq);
                            self.tail.push_back(message.clone());
                            rows.push((true, message));
                        }
                    }
                }
                Planned::Acted(seq) => {
                    confirmations.push(Output::Deliver {
                        to: send.waiters,
                        frame: ServerFrame::Applied {
                            client_id: send.client_id,
                            seq,
                        },
                    });
                }
            }
        }
        for change in changes {
            let at = self.tail.partition_point(|m| m.seq < change.seq);
            if let Some(held) = self.tail.get_mut(at).filter(|m| m.seq == change.seq) {
                *held = change.clone();
            }
            rows.push((false, change));
        }
        if let Some(highest) = rows.iter().map(|(_, m)| m.rev()).max() {
            self.writes.committed = self.writes.committed.max(highest);
        }
        while self.tail.len() > self.config.tail_capacity {
            if let Some(old) = self.tail.pop_front() {
                self.stored_ids
                    .remove(&dedupe_id(&old.user_id, &old.client_id));
                self.remember_acts(old.seq, Vec::new());
                self.tail_complete = false;
            }
        }
        self.deliver_rows(rows);
        self.outputs.extend(confirmations);
    }

    /// Message `seq` has seen the actions `list` (none: it left the tail): a retry of one of
    /// them is confirmed, not applied again.
    fn remember_acts(&mut self, seq: i64, list: Acts) {
        for (id, _) in self.acts.remove(&seq).unwrap_or_default() {
            self.actions_done.remove(&id);
        }
        for (id, _) in &list {
            self.actions_done.insert(id.clone(), seq);
        }
        if !list.is_empty() {
            self.acts.insert(seq, list);
        }
    }

    /// Answers a retry of a committed message to the connections that retried it. Everyone
    /// else has it already: it was delivered when it was committed (invariant 2 of `Writes`),
    /// or came with their welcome.
    fn answer_duplicate(&mut self, waiters: Vec<ConnId>, message: Message) {
        self.outputs.push_back(Output::Deliver {
            to: waiters,
            frame: ServerFrame::Message { message },
        });
    }

    /// The time asked for with [`Output::WakeAt`] has come: the gathered typing notices go out,
    /// one `typing_batch` frame to every member (each client ignores its own user's notice).
    pub fn handle_wake(&mut self, now: i64) {
        match self.wake_at {
            Some(at) if now < at => {
                // Woken early (an alarm set for something sooner): ask again.
                self.outputs.push_back(Output::WakeAt(at));
                return;
            }
            Some(_) => self.wake_at = None,
            None => return,
        }
        let notices: Vec<TypingNotice> = std::mem::take(&mut self.typing_pending)
            .into_values()
            .collect();
        if !notices.is_empty() {
            self.broadcast(None, ServerFrame::TypingBatch { notices });
        }
    }

    /// A history page from the store arrived for `conn`.
    pub fn handle_history_loaded(
        &mut self,
        conn: ConnId,
        result: Result<HistoryPage, StoreFailure>,
    ) {
        if !self.connections.contains_key(&conn) {
            return;
        }
        match result {
            Ok(page) => self.outputs.push_back(Output::Deliver {
                to: vec![conn],
                frame: ServerFrame::History(page),
            }),
            Err(failure) => {
                let retry = self.retry_after();
                self.store_error_to(conn, &failure, None, retry);
            }
        }
    }

    // ---- internals ---------------------------------------------------------------------------

    /// Starts the next commit if none is in flight and sends are waiting.
    fn flush(&mut self, now: i64) {
        if self.writes.in_flight.is_some() || self.writes.queue.is_empty() {
            return;
        }
        if self.tail_state != TailState::Loaded {
            self.load_tail();
            return;
        }
        let Some(room) = self.room.clone() else {
            return;
        };
        loop {
            let count = self.writes.queue.len().min(self.config.max_batch);
            if count == 0 {
                return;
            }
            let sends: Vec<PendingSend> = self.writes.queue.drain(..count).collect();
            if let Some(batch) = self.plan(now, room.clone(), sends) {
                self.outputs.push_back(Output::Persist(batch));
                return;
            }
        }
    }

    /// Forms the next batch from `sends`, in order: each new message takes the next revision
    /// as its `seq`; each action is applied to the message as the writes before it leave it,
    /// taking the next revision if it changed it, and an edit or deletion rewrites the quotes of
    /// the replies to it. Writes refused here are answered at once; `None` when all were.
    fn plan(&mut self, now: i64, room: String, sends: Vec<PendingSend>) -> Option<Batch> {
        // Time-based revisions, strictly above what is committed: a new message's reads as its
        // send time, and they stay ordered when the clock does not.
        let mut rev = self.writes.committed;
        let mut next = || {
            rev = now.max(rev + 1);
            rev
        };
        let mut batch = Batch {
            id: self.writes.next_batch,
            room,
            prev: self.writes.committed,
            messages: Vec::new(),
            changes: Vec::new(),
            touched: Vec::new(),
            acts: Vec::new(),
            wait_ms: 0,
        };
        let mut acts: Vec<(i64, Acts)> = Vec::new();
        let mut plan = Vec::new();
        let mut kept = Vec::new();
        for send in sends {
            let target = match &send.change {
                Change::Send { text, reply_to } => {
                    let reply = match reply_to {
                        None => None,
                        Some(original) => match self.current(&batch, *original, 0) {
                            Some(original) if !original.deleted => Some(actions::quote(&original)),
                            _ => {
                                self.refuse(&send, NOT_FOUND);
                                continue;
                            }
                        },
                    };
                    plan.push(Planned::New(batch.messages.len()));
                    batch.messages.push(Message {
                        seq: next(),
                        client_id: send.client_id.clone(),
                        user_id: send.member.user_id.clone(),
                        name: send.member.name.clone(),
                        text: text.clone(),
                        ts: now,
                        reply,
                        ..Message::default()
                    });
                    kept.push(send);
                    continue;
                }
                change => change.target().unwrap_or_default(),
            };
            // The window counts the batch's own new messages: they are newer than the tail's.
            let window_start =
                (self.tail.len() + batch.messages.len()).saturating_sub(self.change_window());
            let Some(mut message) = self.current(&batch, target, window_start) else {
                self.refuse(&send, NOT_FOUND);
                continue;
            };
            let unchanged = message.clone();
            match actions::apply(&mut message, &send.change, &send.member.user_id, now) {
                Err(refusal) => {
                    self.refuse(&send, refusal);
                    continue;
                }
                Ok(false) => {
                    // Written again all the same, for the action's id (`Batch::acts`).
                    let held = batch.messages.iter().chain(&batch.changes);
                    if !held.chain(&batch.touched).any(|m| m.seq == target) {
                        batch.touched.push(unchanged);
                    }
                }
                Ok(true) => {
                    message.rev = Some(next());
                    let quoted = matches!(send.change, Change::Edit { .. } | Change::Delete { .. })
                        .then(|| actions::quote(&message));
                    Self::put(&mut batch, message);
                    if let Some(quoted) = quoted {
                        for reply in self.replies_to(&batch, target) {
                            if let Some(mut reply) = self.current(&batch, reply, 0) {
                                reply.reply = Some(quoted.clone());
                                reply.rev = Some(next());
                                Self::put(&mut batch, reply);
                            }
                        }
                    }
                }
            }
            self.act_on(&mut acts, target, send.dedupe_id(), now);
            plan.push(Planned::Acted(target));
            kept.push(send);
        }
        if kept.is_empty() {
            return None;
        }
        // A touched message that a later action of the batch changed is written as the change.
        let changed: Vec<i64> = batch.changes.iter().map(|m| m.seq).collect();
        batch.touched.retain(|m| !changed.contains(&m.seq));
        batch.acts = acts
            .iter()
            .map(|(seq, list)| (*seq, serde_json::to_string(list).unwrap_or_default()))
            .collect();
        batch.changes.sort_by_key(Message::rev);
        self.writes.next_batch += 1;
        // Group commit: the more writes this batch gathered, the busier the room, and the longer
        // the next batch may gather, up to the window. A quiet room pays nothing.
        let gathered = u64::try_from(kept.len()).unwrap_or(u64::MAX);
        batch.wait_ms = gathered.saturating_sub(1).min(self.config.commit_window_ms);
        self.writes.in_flight = Some(InFlight {
            id: batch.id,
            sends: kept,
            plan,
            messages: batch.messages.clone(),
            changes: batch.changes.clone(),
            acts,
        });
        Some(batch)
    }

    /// Adds the action `id` at `now` to what message `seq` has seen in this batch (starting from
    /// what it had): the newest [`crate::wal::ACTS_KEPT`] within the dedupe window.
    fn act_on(&self, acts: &mut Vec<(i64, Acts)>, seq: i64, id: String, now: i64) {
        let at = match acts.iter().position(|(s, _)| *s == seq) {
            Some(at) => at,
            None => {
                let held = self.acts.get(&seq).cloned().unwrap_or_default();
                acts.push((seq, held));
                acts.len() - 1
            }
        };
        let window = i64::try_from(self.config.dedupe_window_ms).unwrap_or(i64::MAX);
        let list = &mut acts[at].1;
        list.retain(|(_, when)| *when >= now.saturating_sub(window));
        list.push((id, now));
        let extra = list.len().saturating_sub(crate::wal::ACTS_KEPT);
        list.drain(..extra);
    }

    /// The message `seq` as the batch so far leaves it: one of its new messages, one it
    /// changed, or one of the tail's from index `from` on (`None` when it is not there).
    fn current(&self, batch: &Batch, seq: i64, from: usize) -> Option<Message> {
        // A message is in the batch once at most ([`RoomCore::put`]).
        let mut in_batch = batch.messages.iter().chain(&batch.changes);
        if let Some(message) = in_batch.find(|m| m.seq == seq) {
            return Some(message.clone());
        }
        let at = self.tail.partition_point(|m| m.seq < seq);
        self.tail
            .get(at)
            .filter(|m| m.seq == seq && at >= from)
            .cloned()
    }

    /// Puts a changed message in the batch: over its new message of the same `seq`, over an
    /// earlier change of it, or as a change of its own.
    fn put(batch: &mut Batch, message: Message) {
        let rows = batch.messages.iter_mut().chain(batch.changes.iter_mut());
        match rows.into_iter().find(|m| m.seq == message.seq) {
            Some(held) => *held = message,
            None => batch.changes.push(message),
        }
    }

    /// The `seq`s of the live replies to message `seq`, in the tail or new in the batch.
    fn replies_to(&self, batch: &Batch, seq: i64) -> Vec<i64> {
        let mut replies: Vec<i64> = self
            .tail
            .iter()
            .chain(&batch.messages)
            .filter(|m| m.reply.as_ref().is_some_and(|q| q.seq == seq))
            .map(|m| m.seq)
            .collect();
        replies.sort_unstable();
        replies.dedup();
        replies
    }

    /// Answers a write refused when its batch was formed.
    fn refuse(&mut self, send: &PendingSend, (code, message): actions::Refusal) {
        for conn in &send.waiters {
            self.error_to(
                *conn,
                code,
                message.into(),
                Some(send.client_id.clone()),
                None,
            );
        }
    }

    fn replay(&mut self, now: i64, conn: ConnId, frame: ClientFrame) {
        if !self.connections.contains_key(&conn) {
            return;
        }
        match frame {
            ClientFrame::Send { .. }
            | ClientFrame::Edit { .. }
            | ClientFrame::Delete { .. }
            | ClientFrame::React { .. } => {
                let member = self.connections.get(&conn).and_then(|c| c.member.clone());
                if let (Some(member), Some((client_id, change))) = (member, write_of(frame)) {
                    self.accept_write(conn, client_id, member, change);
                }
            }
            // Its token was taken when it first arrived.
            ClientFrame::History { before, limit } => {
                self.history_page(conn, before, limit, frame.clone())
            }
            other => self.handle_frame(now, conn, other),
        }
    }

    /// Holds `frame` until the tail is loaded. The queue is bounded: a flood of frames while the
    /// store is slow is refused (`rate_limited`), not buffered without end.
    fn defer(&mut self, conn: ConnId, frame: ClientFrame) {
        if self.deferred.len() >= self.config.max_deferred {
            let client_id = frame.client_id().map(str::to_owned);
            self.error_to(
                conn,
                ErrorCode::RateLimited,
                "the room is busy loading; retry shortly".into(),
                client_id,
                Some(self.config.store_retry_ms),
            );
            if matches!(frame, ClientFrame::Hello { .. }) {
                // A client waits for its welcome: tell it to come back rather than hang.
                self.outputs.push_back(Output::Close {
                    to: conn,
                    code: CLOSE_TRY_AGAIN_LATER,
                    reason: "room busy".into(),
                });
                self.handle_close(conn);
            }
            return;
        }
        self.deferred.push((conn, frame));
        self.load_tail();
    }

    fn load_tail(&mut self) {
        if self.tail_state != TailState::Unloaded {
            return;
        }
        let Some(room) = self.room.clone() else {
            return;
        };
        self.tail_state = TailState::Loading;
        self.outputs.push_back(Output::LoadTail {
            room,
            count: self.config.tail_capacity,
        });
    }

    /// Sends committed rows to everyone joined, in the order of their revisions: new messages
    /// (`true`) in `message`/`messages` frames, changed ones in `updated` frames, one frame per
    /// run of a kind (each frame costs the runtime a send per socket). In revision order, a
    /// client that got a prefix of the frames has every row up to the highest revision it got,
    /// so that revision is a complete cursor for its next hello.
    fn deliver_rows(&mut self, mut rows: Vec<(bool, Message)>) {
        let to: Vec<ConnId> = self.joined().map(|(id, _)| id).collect();
        if to.is_empty() || rows.is_empty() {
            return;
        }
        rows.sort_by_key(|(_, m)| m.rev());
        let mut rows = rows.into_iter().peekable();
        while let Some((new, first)) = rows.next() {
            let mut messages = vec![first];
            while let Some((_, next)) = rows.next_if(|(kind, _)| *kind == new) {
                messages.push(next);
            }
            let frame = match (new, messages.len()) {
                (false, _) => ServerFrame::Updated { messages },
                (true, 1) => ServerFrame::Message {
                    message: messages.remove(0),
                },
                (true, _) => ServerFrame::Messages { messages },
            };
            self.outputs.push_back(Output::Deliver {
                to: to.clone(),
                frame,
            });
        }
    }

    fn fail_sends(&mut self, sends: Vec<PendingSend>, code: ErrorCode, retry: u64) {
        for send in sends {
            for conn in send.waiters {
                if self.connections.contains_key(&conn) {
                    self.coded_store_error_to(conn, code, Some(send.client_id.clone()), retry);
                }
            }
        }
    }

    fn store_error_to(
        &mut self,
        conn: ConnId,
        failure: &StoreFailure,
        client_id: Option<String>,
        retry: u64,
    ) {
        self.coded_store_error_to(conn, failure_code(failure), client_id, retry);
    }

    /// The fixed error of a store failure: `store_unavailable` with when to retry, or
    /// `store_refused` without (retrying will not help).
    fn coded_store_error_to(
        &mut self,
        conn: ConnId,
        code: ErrorCode,
        client_id: Option<String>,
        retry: u64,
    ) {
        let (message, retry_after_ms) = if code == ErrorCode::StoreRefused {
            (REFUSED_TEXT, None)
        } else {
            (UNAVAILABLE_TEXT, Some(retry))
        };
        self.error_to(conn, code, message.into(), client_id, retry_after_ms);
    }

    /// Counts a store failure and returns the `retry_after_ms` to give clients.
    fn store_failed(&mut self) -> u64 {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.retry_after()
    }

    fn retry_after(&self) -> u64 {
        let doublings = self.consecutive_failures.saturating_sub(1).min(16);
        (self.config.store_retry_ms << doublings).min(self.config.store_retry_max_ms)
    }

    fn tail_message(&self, seq: i64) -> Option<Message> {
        let index = self.tail.partition_point(|m| m.seq < seq);
        self.tail.get(index).filter(|m| m.seq == seq).cloned()
    }

    fn joined(&self) -> impl Iterator<Item = (ConnId, &Member)> {
        self.connections
            .iter()
            .filter_map(|(id, c)| c.member.as_ref().map(|m| (*id, m)))
    }

    /// Sends `frame` to every joined connection but `except`.
    fn broadcast(&mut self, except: Option<ConnId>, frame: ServerFrame) {
        let to: Vec<ConnId> = self
            .joined()
            .map(|(id, _)| id)
            .filter(|id| Some(*id) != except)
            .collect();
        if !to.is_empty() {
            self.outputs.push_back(Output::Deliver { to, frame });
        }
    }

    fn error_to(
        &mut self,
        conn: ConnId,
        code: ErrorCode,
        message: String,
        client_id: Option<String>,
        retry_after_ms: Option<u64>,
    ) {
        self.outputs.push_back(Output::Deliver {
            to: vec![conn],
            frame: ServerFrame::Error(ErrorFrame {
                code,
                message,
                client_id,
                retry_after_ms,
            }),
        });
    }
}

/// The write a `send`, `edit`, `delete` or `react` frame asks for, with its `client_id`.
fn write_of(frame: ClientFrame) -> Option<(String, Change)> {
    Some(match frame {
        ClientFrame::Send {
            client_id,
            text,
            reply_to,
        } => (client_id, Change::Send { text, reply_to }),
        ClientFrame::Edit {
            client_id,
            seq,
            text,
        } => (client_id, Change::Edit { seq, text }),
        ClientFrame::Delete { client_id, seq } => (client_id, Change::Delete { seq }),
        ClientFrame::React {
            client_id,
            seq,
            emoji,
            on,
        } => (client_id, Change::React { seq, emoji, on }),
        _ => return None,
    })
}

/// The error code clients get for a store failure.
fn failure_code(failure: &StoreFailure) -> ErrorCode {
    match failure {
        StoreFailure::Unavailable(_) => ErrorCode::StoreUnavailable,
        StoreFailure::Refused(_) => ErrorCode::StoreRefused,
    }
}
