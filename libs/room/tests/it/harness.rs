//! The harness: a [`RoomCore`] driven as the Durable Object drives it. Its log is a model of the
//! object's SQLite storage that commits through the real [`wal::decide`]; Redis is a model of
//! the two sorted sets that the mirror writes through the rules of [`MIRROR_SCRIPT`], with
//! [`MirrorSchedule`] deciding when. The frames each client received are kept, and controls
//! fail the log, fail Redis, or hold the object's awaits.
//!
//! [`MIRROR_SCRIPT`]: room::mirror::MIRROR_SCRIPT

use protocol::{ClientFrame, ErrorCode, ErrorFrame, HistoryPage, Message, ServerFrame, Welcome};
use room::mirror::{MIRROR_BATCH, MarkSchedule, MirrorRow, MirrorSchedule, Start};
use room::store::{self, WriteOutcome};
use room::wal::{self, Commit, Snapshot, WalLimits};
use room::{ConnId, Connection, Output, RoomConfig, RoomCore, StoreFailure};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

pub const ROOM: &str = "lobby";
/// The secrets Alice's and Bob's browsers keep; the room derives their user ids.
pub const ALICE: &str = "alice-secret-000000000001";
pub const BOB: &str = "bob-secret-00000000000001";
pub const CAROL: &str = "carol-secret-0000000000001";

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

/// What a client holds, built from the frames it received as a protocol-3 client applies them:
/// a welcome resets or merges, `message`/`messages` add, `updated` replaces what is held; with
/// the revision cursor for its next hello.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct View {
    pub messages: BTreeMap<i64, Message>,
    pub cursor: i64,
}

impl View {
    pub fn apply(&mut self, frames: &[ServerFrame]) {
        for frame in frames {
            match frame {
                ServerFrame::Welcome(welcome) => {
                    if welcome.reset {
                        self.messages.clear();
                    }
                    // As the web client does: what is newer than the newest held is added; an
                    // older message that changed replaces the one held, and is not added.
                    let newest = self
                        .messages
                        .keys()
                        .next_back()
                        .copied()
                        .unwrap_or(i64::MIN);
                    for message in &welcome.messages {
                        if message.seq > newest || self.messages.contains_key(&message.seq) {
                            self.messages.insert(message.seq, message.clone());
                        }
                    }
                    self.see(&welcome.messages);
                    self.cursor = self.cursor.max(welcome.rev.unwrap_or(0));
                }
                ServerFrame::Message { .. } | ServerFrame::Messages { .. } => {
                    for message in frame.stored_messages() {
                        self.messages.insert(message.seq, message.clone());
                    }
                    self.see(frame.stored_messages());
                }
                ServerFrame::Updated { messages } => {
                    for message in messages {
                        if let Some(held) = self.messages.get_mut(&message.seq) {
                            *held = message.clone();
                        }
                    }
                    self.see(messages);
                }
                _ => {}
            }
        }
    }

    fn see(&mut self, messages: &[Message]) {
        for message in messages {
            self.cursor = self.cursor.max(message.rev());
        }
    }

    pub fn list(&self) -> Vec<Message> {
        self.messages.values().cloned().collect()
    }
}

/// The texts of `messages`, in order.
pub fn texts(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.text.as_str()).collect()
}
pub const T0: i64 = 1_732_700_000_000;

/// How the room's log (the Durable Object's SQLite storage) answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    Up,
    /// Every statement fails and nothing is written (a storage error).
    Down,
    /// The storage cannot hold a log (a class without SQLite): refused, needs the operator.
    Refuses,
}

/// How Redis answers the mirror and the reads that go to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisMode {
    #[default]
    Up,
    /// Unreachable: nothing is applied.
    Down,
    /// Writes are applied but reported as failed (a timeout after Redis did the work).
    AppliesButTimesOut,
}

/// The room's two sorted sets in Redis, as the mirror script keeps them.
#[derive(Debug, Default)]
pub struct Redis {
    pub mode: RedisMode,
    /// `chat:{room}:messages`: (score, member).
    pub messages: BTreeSet<(i64, String)>,
    /// `chat:{room}:ids`: (score, dedupe id).
    pub ids: BTreeSet<(i64, String)>,
    /// `chat:{room}:reactions`: field (`seq`) → the reactions' JSON.
    pub reactions: BTreeMap<i64, String>,
    /// Mirror writes that reached Redis.
    pub writes: usize,
}

impl Redis {
    fn unavailable() -> StoreFailure {
        StoreFailure::Unavailable("Redis unreachable".into())
    }

    /// The mirror script: each row's message replaces the member at its `seq`, its reactions
    /// the hash's field; then the newest `keep` are kept, with their reactions.
    fn mirror(&mut self, rows: &[MirrorRow], keep: usize) -> Result<usize, StoreFailure> {
        if self.mode == RedisMode::Down {
            return Err(Self::unavailable());
        }
        self.writes += 1;
        for row in rows {
            self.messages.retain(|(score, _)| *score != row.seq);
            // A sorted set holds a member once: the same JSON at another score moves.
            self.messages.retain(|(_, member)| *member != row.json);
            self.messages.insert((row.seq, row.json.clone()));
            self.ids.retain(|(_, id)| *id != row.id);
            self.ids.insert((row.seq, row.id.clone()));
            match row.reactions() {
                none if none.is_empty() => self.reactions.remove(&row.seq),
                some => self.reactions.insert(row.seq, some),
            };
        }
        let added = rows.len();
        while self.messages.len() > keep {
            if let Some((score, _)) = self.messages.pop_first() {
                self.reactions.remove(&score);
            }
        }
        while self.ids.len() > keep {
            self.ids.pop_first();
        }
        match self.mode {
            RedisMode::AppliesButTimesOut => {
                Err(StoreFailure::Unavailable("no response within 10s".into()))
            }
            _ => Ok(added),
        }
    }

    /// A member that is not a message, `ZADD`ed above every other (a manual write, a schema
    /// change).
    pub fn add_junk(&mut self, member: &str) {
        let top = self.messages.last().map_or(0, |(score, _)| *score);
        self.messages.insert((top + 1, member.to_owned()));
    }

    /// Members newest first, at most `count`, below `before`.
    fn newest_first(&self, before: i64, count: usize) -> Vec<Vec<u8>> {
        self.messages
            .iter()
            .rev()
            .filter(|(score, _)| *score < before)
            .take(count)
            .map(|(_, member)| member.clone().into_bytes())
            .collect()
    }

    fn tail(&self, count: usize) -> Result<Vec<Message>, StoreFailure> {
        if self.mode == RedisMode::Down {
            return Err(Self::unavailable());
        }
        Ok(store::parse_newest_first(
            self.newest_first(i64::MAX, count),
        ))
    }

    fn history(&self, before: i64, limit: u32) -> Result<HistoryPage, StoreFailure> {
        if self.mode == RedisMode::Down {
            return Err(Self::unavailable());
        }
        Ok(store::history_page(
            self.newest_first(before, limit as usize + 1),
            limit,
        ))
    }

    /// The messages Redis holds, ascending, skipping members that are not messages; with the
    /// score each is held at.
    pub fn parsed(&self) -> Vec<(i64, Message)> {
        self.messages
            .iter()
            .filter_map(|(score, member)| Some((*score, serde_json::from_str(member).ok()?)))
            .collect()
    }
}

/// The room's log in the Durable Object's storage.
#[derive(Debug, Default)]
pub struct Log {
    pub messages: BTreeMap<i64, Message>,
    pub ids: HashMap<String, i64>,
    /// `None` until started; then whether it held the room's whole history.
    pub started: Option<bool>,
    /// The mirror's mark as last saved (at most every `MARK_EVERY_MS`).
    pub mirrored: i64,
    /// The `acts` column: the actions each message has seen (`room::Batch::acts`).
    pub acts: BTreeMap<i64, String>,
}

impl Log {
    pub fn highest(&self) -> i64 {
        self.messages.values().map(Message::rev).max().unwrap_or(0)
    }

    /// The next rows changed after `mirrored`, in revision order.
    fn unmirrored(&self, mirrored: i64) -> Vec<MirrorRow> {
        let mut rows: Vec<MirrorRow> = self
            .messages
            .values()
            .filter(|m| m.rev() > mirrored)
            .map(MirrorRow::from)
            .collect();
        rows.sort_by_key(|r| r.rev);
        rows.truncate(MIRROR_BATCH);
        rows
    }

    /// What `log.rs` does: a snapshot, [`wal::decide`], one insert. `mirrored` is the mark as
    /// the instance knows it.
    pub fn commit(&mut self, batch: &room::Batch, limits: &WalLimits, mirrored: i64) -> Commit {
        let existing = batch
            .messages
            .iter()
            .filter_map(|m| {
                let id = store::dedupe_id(&m.user_id, &m.client_id);
                let seq = *self.ids.get(&id)?;
                Some((id, (seq, self.messages.get(&seq)?.to_json())))
            })
            .collect();
        let snapshot = Snapshot {
            highest: self.highest(),
            existing,
            unmirrored: self
                .messages
                .values()
                .filter(|m| m.rev() > mirrored)
                .count(),
            rows: self.messages.len(),
        };
        let commit = wal::decide(batch, &snapshot, limits);
        if matches!(commit, Commit::Write { .. }) {
            self.acts.extend(batch.acts.iter().cloned());
        }
        if let Commit::Write {
            messages, changes, ..
        } = &commit
        {
            for message in messages.iter().chain(changes) {
                self.ids.insert(
                    store::dedupe_id(&message.user_id, &message.client_id),
                    message.seq,
                );
                self.messages.insert(message.seq, message.clone());
            }
        }
        commit
    }
}

#[derive(Debug)]
pub struct Harness {
    pub room: RoomCore,
    pub now: i64,
    /// The room's log, and how its storage answers.
    pub log: Log,
    pub store_mode: StoreMode,
    pub limits: WalLimits,
    pub redis: Redis,
    /// The mirror's schedule, its mark, and when the mark was last saved: the instance's
    /// memory, lost with it.
    pub mirror: MirrorSchedule,
    pub mark: Option<i64>,
    pub marks: MarkSchedule,
    /// The times the room asked to be woken at (`WakeAt`), in order.
    pub wake_requests: Vec<i64>,
    /// The times the mirror asked to run again at (a retry, or its next pass), in order.
    pub mirror_wakes: Vec<i64>,
    pub fenced: usize,
    /// When set, the object's awaits (commits yield first; loads may wait for Redis) stay in
    /// `held` until [`Harness::release`].
    pub hold_io: bool,
    pub held: VecDeque<Output>,
    /// Commits attempted.
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
        let limits = WalLimits {
            dedupe_window_ms: i64::try_from(config.dedupe_window_ms).unwrap_or(i64::MAX),
            ..WalLimits::default()
        };
        Self {
            room: RoomCore::new(config),
            now: T0,
            log: Log::default(),
            store_mode: StoreMode::Up,
            limits,
            redis: Redis::default(),
            mirror: MirrorSchedule::default(),
            mark: None,
            marks: MarkSchedule::default(),
            wake_requests: Vec::new(),
            mirror_wakes: Vec::new(),
            fenced: 0,
            hold_io: false,
            held: VecDeque::new(),
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
        self.hello(conn, name, secret, since);
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

    /// `conn` sends `hello` in the current protocol.
    pub fn hello(&mut self, conn: ConnId, name: &str, secret: &str, since: Option<i64>) {
        self.frame(
            conn,
            &ClientFrame::Hello {
                protocol: protocol::PROTOCOL_VERSION,
                name: name.into(),
                secret: secret.into(),
                since,
            },
        );
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
                reply_to: None,
            },
        );
    }

    /// `conn` sends a reply to message `to`.
    pub fn reply(&mut self, conn: ConnId, client_id: &str, text: &str, to: i64) {
        self.frame(
            conn,
            &ClientFrame::Send {
                client_id: client_id.into(),
                text: text.into(),
                reply_to: Some(to),
            },
        );
    }

    pub fn edit(&mut self, conn: ConnId, client_id: &str, seq: i64, text: &str) {
        self.frame(
            conn,
            &ClientFrame::Edit {
                client_id: client_id.into(),
                seq,
                text: text.into(),
            },
        );
    }

    pub fn delete(&mut self, conn: ConnId, client_id: &str, seq: i64) {
        self.frame(
            conn,
            &ClientFrame::Delete {
                client_id: client_id.into(),
                seq,
            },
        );
    }

    pub fn react(&mut self, conn: ConnId, client_id: &str, seq: i64, emoji: &str, on: bool) {
        self.frame(
            conn,
            &ClientFrame::React {
                client_id: client_id.into(),
                seq,
                emoji: emoji.into(),
                on,
            },
        );
    }

    /// The committed message `seq`, as the log holds it.
    pub fn stored_message(&self, seq: i64) -> Option<Message> {
        self.log.messages.get(&seq).cloned()
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

    /// The committed messages, ascending.
    pub fn stored(&self) -> Vec<Message> {
        self.log.messages.values().cloned().collect()
    }

    /// The Durable Object was evicted and started again: memory and sockets are gone, storage
    /// and the alarm stay. An await under way never returns (a commit waiting for its turn
    /// never ran).
    pub fn restart(&mut self) {
        let config = self.room.config().clone();
        self.room = RoomCore::new(config);
        self.mirror = MirrorSchedule::default();
        self.mark = None;
        self.marks = MarkSchedule::default();
        // The sockets are gone with the instance; a new one numbers connections from 1 again.
        self.attachments.clear();
        self.closed.clear();
        self.inbox.clear();
        self.texts.clear();
        self.held.clear();
    }

    /// The room hibernated and woke: memory is gone, sockets and their attachments remain, and
    /// so do storage and the alarm.
    pub fn hibernate_and_wake(&mut self) {
        assert!(
            self.held.is_empty(),
            "the runtime hibernates only an idle object"
        );
        let config = self.room.config().clone();
        self.room = RoomCore::new(config);
        self.mirror = MirrorSchedule::default();
        self.mark = None;
        self.marks = MarkSchedule::default();
        for connection in self.attachments.values() {
            self.room.restore(connection.clone());
        }
    }

    /// Time passes until the mirror may start its next pass, which it does: Redis catches up
    /// with the log unless it is failing.
    pub fn mirror_catches_up(&mut self) {
        self.advance(room::mirror::MIRROR_EVERY_MS);
        self.wake();
    }

    /// The alarm fires now: the room's wake, then (as every event) the mirror.
    pub fn wake(&mut self) {
        self.room.handle_wake(self.now);
        self.drive();
    }

    /// Completes the oldest held operation; later ones stay held.
    pub fn release_one(&mut self) {
        if let Some(output) = self.held.pop_front() {
            self.perform(output);
            self.drive();
        }
    }

    /// How long each held commit asks to wait before it runs.
    pub fn held_waits(&self) -> Vec<u64> {
        self.held
            .iter()
            .filter_map(|output| match output {
                Output::Persist(batch) => Some(batch.wait_ms),
                _ => None,
            })
            .collect()
    }

    /// Completes every held operation, in order.
    pub fn release(&mut self) {
        self.hold_io = false;
        while let Some(output) = self.held.pop_front() {
            self.perform(output);
            self.drive_outputs();
        }
        self.mirror_pass();
    }

    /// Carries out the room's outputs until there are none, then a mirror pass, as the
    /// object does after every event.
    pub fn drive(&mut self) {
        self.drive_outputs();
        self.mirror_pass();
    }

    fn drive_outputs(&mut self) {
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
                Output::WakeAt(at) => self.wake_requests.push(at),
                io if self.hold_io => self.held.push_back(io),
                io => self.perform(io),
            }
        }
    }

    /// What `chat_room.rs` does after each event: mirrors the log to Redis in batches, in
    /// `seq` order, until caught up or a write fails, which the alarm retries.
    pub fn mirror_pass(&mut self) {
        if self.log.started.is_none() || self.store_mode != StoreMode::Up {
            return;
        }
        match self.mirror.start(self.now) {
            Start::Run => {}
            Start::Busy => return,
            // The object waits for the time in an event; an alarm stands for it here.
            Start::Wait(at) | Start::Soon(at) => return self.mirror_wakes.push(at),
        }
        let keep = self.room.config().history_limit;
        let caught_up = loop {
            let rows = self.log.unmirrored(self.mirrored());
            let Some(last) = rows.last().map(|r| r.rev) else {
                break true;
            };
            match self.redis.mirror(&rows, keep) {
                Ok(_) => {
                    self.mark = Some(last);
                    if self.marks.wrote(self.now, rows.len()) {
                        self.log.mirrored = last;
                    }
                }
                Err(_) => break false,
            }
        };
        if let Some(at) = self.mirror.finished(self.now, caught_up) {
            self.mirror_wakes.push(at);
        }
    }

    /// How far Redis has the log, as the instance knows it.
    pub fn mirrored(&self) -> i64 {
        self.mark.unwrap_or(self.log.mirrored)
    }

    fn failure(&self) -> StoreFailure {
        match self.store_mode {
            StoreMode::Refuses => StoreFailure::Refused("no SQLite storage".into()),
            _ => StoreFailure::Unavailable("SQLite: storage error".into()),
        }
    }

    /// The newest `count` messages from the log, which starts from Redis's tail the first time.
    fn tail(&mut self, count: usize) -> Result<Vec<Message>, StoreFailure> {
        if self.store_mode != StoreMode::Up {
            return Err(self.failure());
        }
        if self.log.started.is_none() {
            let imported = self.redis.tail(count)?;
            let complete = imported.len() < count;
            for message in &imported {
                self.log.ids.insert(
                    store::dedupe_id(&message.user_id, &message.client_id),
                    message.seq,
                );
                self.log.messages.insert(message.seq, message.clone());
            }
            self.log.mirrored = self.log.highest();
            self.log.started = Some(complete);
        }
        Ok(self
            .log
            .messages
            .values()
            .rev()
            .take(count)
            .rev()
            .cloned()
            .collect())
    }

    /// A history page from the log where it holds one, completed from Redis below that.
    fn history(&mut self, before: i64, limit: u32) -> Result<HistoryPage, StoreFailure> {
        if self.store_mode != StoreMode::Up {
            return Err(self.failure());
        }
        let held: Vec<Message> = self
            .log
            .messages
            .range(..before)
            .rev()
            .take(limit as usize + 1)
            .map(|(_, m)| m.clone())
            .collect();
        if held.len() > limit as usize || self.log.started == Some(true) {
            let has_more = held.len() > limit as usize;
            let mut messages: Vec<Message> = held.into_iter().take(limit as usize).collect();
            messages.reverse();
            return Ok(HistoryPage { messages, has_more });
        }
        let below = held.last().map_or(before, |m| m.seq);
        let missing = limit - held.len() as u32;
        let mut page = self.redis.history(below, missing)?;
        page.messages.extend(held.into_iter().rev());
        Ok(page)
    }

    fn perform(&mut self, output: Output) {
        let now = self.now;
        match output {
            Output::Persist(batch) => {
                self.writes += 1;
                let result = match self.store_mode {
                    StoreMode::Up => match self.log.commit(&batch, &self.limits, self.mirrored()) {
                        Commit::Write { outcome, .. } => Ok(outcome),
                        Commit::Answer(answer) => answer,
                    },
                    _ => Err(self.failure()),
                };
                if matches!(result, Ok(WriteOutcome::Fenced { .. })) {
                    self.fenced += 1;
                    // A room that fences against its own log would loop here for ever.
                    assert!(self.fenced < 100, "fenced {} times: a loop", self.fenced);
                }
                self.room.handle_persisted(now, batch.id, result);
            }
            Output::LoadTail { count, .. } => {
                let result = self.tail(count).map(|messages| {
                    let first = messages.first().map_or(i64::MAX, |m| m.seq);
                    room::Tail {
                        acts: self
                            .log
                            .acts
                            .range(first..)
                            .map(|(seq, acts)| (*seq, acts.clone()))
                            .collect(),
                        messages,
                        highest: self.log.highest(),
                    }
                });
                self.room.handle_tail_loaded(now, result);
            }
            Output::LoadHistory {
                conn,
                before,
                limit,
                ..
            } => {
                self.history_loads += 1;
                let result = self.history(before, limit);
                self.room.handle_history_loaded(conn, result);
            }
            other => panic!("not a store operation: {other:?}"),
        }
    }
}
