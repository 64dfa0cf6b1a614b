//! The harness: a [`RoomCore`], an in-memory store that behaves like the Redis sorted set, the
//! frames each client received, and controls to fail or hold the store's operations.

use protocol::{ClientFrame, ErrorCode, ErrorFrame, Message, ServerFrame, Welcome};
use room::store::{self, WriteOutcome, Written};
use room::{ConnId, Connection, Output, RoomConfig, RoomCore, StoreFailure};
use std::collections::{BTreeMap, HashMap, VecDeque};

pub const ROOM: &str = "lobby";
/// The secrets Alice's and Bob's browsers keep; the room derives their user ids.
pub const ALICE: &str = "alice-secret-000000000001";
pub const BOB: &str = "bob-secret-00000000000001";

/// A config without rate limits getting in the way of bulk sends, and without a cap per address:
/// the harness's clients connect without one, which the room counts as one shared address.
pub fn unlimited() -> RoomConfig {
    let lots = room::RateLimit {
        burst: 1e9,
        per_second: 1e9,
    };
    RoomConfig {
        send_limit: lots,
        typing_limit: lots,
        history_rate: lots,
        max_connections_per_ip: usize::MAX,
        ..RoomConfig::default()
    }
}

/// The texts of `messages`, in order.
pub fn texts(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.text.as_str()).collect()
}
pub const T0: i64 = 1_732_700_000_000;

/// How the fake store answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    Up,
    /// Every operation fails and nothing is written.
    Down,
    /// Writes are applied but reported as failed (a timeout after Redis did the work).
    AppliesButTimesOut,
    /// The store answers but refuses everything (a bad token, say).
    Refuses,
}

#[derive(Debug)]
pub struct Harness {
    pub room: RoomCore,
    pub now: i64,
    /// The room's messages by `seq`, and its dedupe ids, as the write script keeps them.
    pub store: BTreeMap<i64, Message>,
    pub store_ids: HashMap<String, i64>,
    pub store_mode: StoreMode,
    /// What the adapter keeps in Durable Object storage (`SaveUndelivered`).
    pub durable_mark: Option<i64>,
    /// The times the room asked to be woken at (`WakeAt`), in order.
    pub wake_requests: Vec<i64>,
    pub fenced: usize,
    /// When set, store operations wait in `held` until [`Harness::release`].
    pub hold_io: bool,
    pub held: VecDeque<Output>,
    /// Writes the room gave up on that may still reach Redis (a timeout, or a room that was
    /// evicted while they were on the wire); [`Harness::land_late`] applies them.
    pub limbo: VecDeque<room::Batch>,
    pub writes: usize,
    pub history_loads: usize,
    pub inbox: HashMap<ConnId, Vec<ServerFrame>>,
    pub texts: HashMap<ConnId, Vec<&'static str>>,
    pub closed: HashMap<ConnId, (u16, String)>,
    /// What the adapter keeps with each socket (the hibernation attachment).
    pub attachments: HashMap<ConnId, Connection>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(RoomConfig::default())
    }

    pub fn with_config(config: RoomConfig) -> Self {
        Self {
            room: RoomCore::new(config),
            now: T0,
            store: BTreeMap::new(),
            store_ids: HashMap::new(),
            store_mode: StoreMode::Up,
            durable_mark: None,
            wake_requests: Vec::new(),
            fenced: 0,
            hold_io: false,
            held: VecDeque::new(),
            limbo: VecDeque::new(),
            writes: 0,
            history_loads: 0,
            inbox: HashMap::new(),
            texts: HashMap::new(),
            closed: HashMap::new(),
            attachments: HashMap::new(),
        }
    }

    /// A new connection, not yet joined.
    pub fn connect(&mut self) -> ConnId {
        self.connect_from(None)
    }

    /// A new connection from address `ip`, not yet joined.
    pub fn connect_from(&mut self, ip: Option<&str>) -> ConnId {
        let id = self.room.handle_open(self.now, ROOM, ip);
        // Ids are unique among live sockets only: a woken room may reuse the id of one that
        // closed before it slept.
        self.closed.remove(&id);
        self.inbox.remove(&id);
        self.drive();
        id
    }

    /// A connection that sent `hello` with `secret` and was welcomed; returns it and the
    /// welcome.
    pub fn join(&mut self, name: &str, secret: &str, since: Option<i64>) -> (ConnId, Welcome) {
        let conn = self.connect();
        self.frame(
            conn,
            &ClientFrame::Hello {
                protocol: protocol::PROTOCOL_VERSION,
                name: name.into(),
                secret: secret.into(),
                since,
            },
        );
        let welcome = self
            .take(conn)
            .into_iter()
            .find_map(|f| match f {
                ServerFrame::Welcome(w) => Some(w),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{name} was not welcomed"));
        (conn, welcome)
    }

    pub fn text(&mut self, conn: ConnId, text: &str) {
        self.room.handle_text(self.now, conn, text);
        self.drive();
    }

    pub fn frame(&mut self, conn: ConnId, frame: &ClientFrame) {
        self.text(conn, &frame.to_json());
    }

    pub fn send(&mut self, conn: ConnId, client_id: &str, text: &str) {
        self.frame(
            conn,
            &ClientFrame::Send {
                client_id: client_id.into(),
                text: text.into(),
            },
        );
    }

    pub fn close(&mut self, conn: ConnId) {
        self.room.handle_close(conn);
        self.attachments.remove(&conn);
        self.drive();
    }

    pub fn advance(&mut self, ms: i64) {
        self.now += ms;
    }

    /// Everything `conn` received since the last call.
    pub fn take(&mut self, conn: ConnId) -> Vec<ServerFrame> {
        self.inbox.remove(&conn).unwrap_or_default()
    }

    /// The messages `conn` received since the last call (other frames are dropped).
    pub fn take_messages(&mut self, conn: ConnId) -> Vec<Message> {
        self.take(conn)
            .iter()
            .flat_map(|f| f.stored_messages().to_vec())
            .collect()
    }

    /// The errors `conn` received since the last call.
    pub fn take_errors(&mut self, conn: ConnId) -> Vec<ErrorFrame> {
        self.take(conn)
            .into_iter()
            .filter_map(|f| match f {
                ServerFrame::Error(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    pub fn error_codes(&mut self, conn: ConnId) -> Vec<ErrorCode> {
        self.take_errors(conn).into_iter().map(|e| e.code).collect()
    }

    /// The stored messages, ascending.
    pub fn stored(&self) -> Vec<Message> {
        self.store.values().cloned().collect()
    }

    /// The Durable Object was evicted and started again: memory and sockets are gone, the store
    /// stays.
    pub fn restart(&mut self) {
        let config = self.room.config().clone();
        self.room = RoomCore::new(config);
        if let Some(seq) = self.durable_mark {
            self.room.restore_undelivered(seq);
        }
        // The sockets are gone with the instance; a new one numbers connections from 1 again.
        self.attachments.clear();
        self.closed.clear();
        self.inbox.clear();
        self.texts.clear();
        self.held_writes_to_limbo();
    }

    /// Held writes were already on their way to Redis: they may land later.
    fn held_writes_to_limbo(&mut self) {
        for output in self.held.drain(..) {
            if let Output::Persist(batch) = output {
                self.limbo.push_back(batch);
            }
        }
    }

    /// The first held write times out: the room hears of a failure, the request stays on the
    /// wire (in `limbo`) and may land later. Returns whether there was one.
    pub fn time_out_held_write(&mut self) -> bool {
        let Some(index) = self
            .held
            .iter()
            .position(|o| matches!(o, Output::Persist(_)))
        else {
            return false;
        };
        let Some(Output::Persist(batch)) = self.held.remove(index) else {
            return false;
        };
        self.room.handle_persisted(
            self.now,
            batch.id,
            Err(StoreFailure::Unavailable("no response within 10s".into())),
        );
        self.limbo.push_back(batch);
        self.drive();
        true
    }

    /// The oldest write in `limbo` reaches Redis now, long after the room gave up on it.
    pub fn land_late(&mut self) -> Option<WriteOutcome> {
        let batch = self.limbo.pop_front()?;
        let limit = self.room.config().history_limit;
        Some(apply_write(
            &mut self.store,
            &mut self.store_ids,
            &batch,
            limit,
        ))
    }

    /// The room hibernated and woke: memory is gone, sockets and their attachments remain, and
    /// so does Durable Object storage.
    pub fn hibernate_and_wake(&mut self) {
        let config = self.room.config().clone();
        self.room = RoomCore::new(config);
        if let Some(seq) = self.durable_mark {
            self.room.restore_undelivered(seq);
        }
        for connection in self.attachments.values() {
            self.room.restore(connection.clone());
        }
        // Store requests of the old instance were on the wire; their answers reach no one.
        self.held_writes_to_limbo();
    }

    /// The alarm fires now.
    pub fn wake(&mut self) {
        self.room.handle_wake(self.now);
        self.drive();
    }

    /// Completes every held store operation, in order.
    pub fn release(&mut self) {
        self.hold_io = false;
        while let Some(output) = self.held.pop_front() {
            self.perform(output);
            self.drive();
        }
    }

    /// Carries out the room's outputs until there are none.
    pub fn drive(&mut self) {
        while let Some(output) = self.room.poll_output() {
            match output {
                Output::Deliver { to, frame } => {
                    for conn in to {
                        self.inbox.entry(conn).or_default().push(frame.clone());
                    }
                }
                Output::Text { to, text } => self.texts.entry(to).or_default().push(text),
                Output::Close { to, code, reason } => {
                    self.closed.insert(to, (code, reason));
                    self.attachments.remove(&to);
                }
                Output::SaveConnection(connection) => {
                    self.attachments.insert(connection.id, connection);
                }
                Output::SaveUndelivered(mark) => self.durable_mark = mark,
                Output::WakeAt(at) => self.wake_requests.push(at),
                io if self.hold_io => self.held.push_back(io),
                io => self.perform(io),
            }
        }
    }

    fn perform(&mut self, output: Output) {
        let now = self.now;
        let mode = self.store_mode;
        let failure = move || match mode {
            StoreMode::Refuses => StoreFailure::Refused("WRONGPASS".into()),
            _ => StoreFailure::Unavailable("store down".into()),
        };
        let reads = matches!(mode, StoreMode::Up | StoreMode::AppliesButTimesOut);
        match output {
            Output::Persist(batch) => {
                self.writes += 1;
                let outcome = reads.then(|| {
                    let limit = self.room.config().history_limit;
                    apply_write(&mut self.store, &mut self.store_ids, &batch, limit)
                });
                if matches!(outcome, Some(WriteOutcome::Fenced { .. })) {
                    self.fenced += 1;
                }
                let result = match (mode, outcome) {
                    (StoreMode::Up, Some(outcome)) => Ok(outcome),
                    _ => Err(failure()),
                };
                self.room.handle_persisted(now, batch.id, result);
            }
            Output::LoadTail { count, .. } => {
                let result = match reads {
                    false => Err(failure()),
                    _ => {
                        let newest_first: Vec<Vec<u8>> = self
                            .store
                            .values()
                            .rev()
                            .take(count)
                            .map(|m| m.to_json().into_bytes())
                            .collect();
                        Ok(store::parse_newest_first(newest_first))
                    }
                };
                self.room.handle_tail_loaded(now, result);
            }
            Output::LoadHistory {
                conn,
                before,
                limit,
                ..
            } => {
                self.history_loads += 1;
                let result = match reads {
                    false => Err(failure()),
                    _ => {
                        let newest_first: Vec<Vec<u8>> = self
                            .store
                            .range(..before)
                            .rev()
                            .take(limit as usize + 1)
                            .map(|(_, m)| m.to_json().into_bytes())
                            .collect();
                        Ok(store::history_page(newest_first, limit))
                    }
                };
                self.room.handle_history_loaded(conn, result);
            }
            other => panic!("not a store operation: {other:?}"),
        }
    }
}

/// The room's store contract (`room::wal::decide` on the Durable Object's log), on the fake
/// store: fencing against `prev`, dedupe by `user_id:client_id`, then both trimmed to the newest
/// `limit`.
pub fn apply_write(
    messages: &mut BTreeMap<i64, Message>,
    ids: &mut HashMap<String, i64>,
    batch: &room::Batch,
    limit: usize,
) -> WriteOutcome {
    let highest = messages.keys().next_back().copied().unwrap_or(0);
    let first = batch.messages.first().map_or(i64::MAX, |m| m.seq);
    if highest != batch.prev || first <= highest {
        return WriteOutcome::Fenced { highest };
    }
    let mut written = Vec::new();
    for message in &batch.messages {
        let id = store::dedupe_id(&message.user_id, &message.client_id);
        match ids.get(&id) {
            Some(seq) => written.push(Written::Duplicate {
                seq: *seq,
                message: messages.get(seq).cloned(),
            }),
            None => {
                ids.insert(id, message.seq);
                messages.insert(message.seq, message.clone());
                written.push(Written::Stored);
            }
        }
    }
    while messages.len() > limit {
        messages.pop_first();
    }
    let mut by_seq: Vec<(i64, String)> = ids.iter().map(|(id, seq)| (*seq, id.clone())).collect();
    by_seq.sort();
    for (_, id) in by_seq.iter().take(by_seq.len().saturating_sub(limit)) {
        ids.remove(id);
    }
    WriteOutcome::Applied(written)
}
