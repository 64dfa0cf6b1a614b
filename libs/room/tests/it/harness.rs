//! The harness: a [`RoomCore`], an in-memory store that behaves like the Redis sorted set, the
//! frames each client received, and controls to fail or hold the store's operations.

use protocol::{ClientFrame, ErrorCode, ErrorFrame, Message, ServerFrame, Welcome};
use room::{ConnId, Connection, Output, RoomConfig, RoomCore, StoreFailure, store};
use std::collections::{BTreeMap, HashMap, VecDeque};

pub const ROOM: &str = "lobby";
pub const T0: i64 = 1_732_700_000_000;

/// How the fake store answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    Up,
    /// Every operation fails and nothing is written.
    Down,
    /// Writes are applied but reported as failed (a timeout after Redis did the work).
    AppliesButTimesOut,
}

#[derive(Debug)]
pub struct Harness {
    pub room: RoomCore,
    pub now: i64,
    pub store: BTreeMap<i64, Message>,
    pub store_mode: StoreMode,
    /// When set, store operations wait in `held` until [`Harness::release`].
    pub hold_io: bool,
    pub held: VecDeque<Output>,
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
            store_mode: StoreMode::Up,
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
        let id = self.room.handle_open(self.now, ROOM);
        self.drive();
        id
    }

    /// A connection that sent `hello` and was welcomed; returns it and the welcome.
    pub fn join(&mut self, name: &str, user_id: &str, since: Option<i64>) -> (ConnId, Welcome) {
        let conn = self.connect();
        self.frame(
            conn,
            &ClientFrame::Hello {
                name: name.into(),
                user_id: user_id.into(),
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
            .into_iter()
            .filter_map(|f| match f {
                ServerFrame::Message { message } => Some(message),
                _ => None,
            })
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
        self.attachments.clear();
        self.held.clear();
    }

    /// The room hibernated and woke: memory is gone, sockets and their attachments remain.
    pub fn hibernate_and_wake(&mut self) {
        let config = self.room.config().clone();
        self.room = RoomCore::new(config);
        for connection in self.attachments.values() {
            self.room.restore(connection.clone());
        }
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
                io if self.hold_io => self.held.push_back(io),
                io => self.perform(io),
            }
        }
    }

    fn perform(&mut self, output: Output) {
        let now = self.now;
        let failure = || StoreFailure("store down".into());
        match output {
            Output::Persist(batch) => {
                self.writes += 1;
                let applies = self.store_mode != StoreMode::Down;
                if applies {
                    for message in &batch.messages {
                        self.store.insert(message.seq, message.clone());
                    }
                    let limit = self.room.config().history_limit;
                    while self.store.len() > limit {
                        self.store.pop_first();
                    }
                }
                let result = match self.store_mode {
                    StoreMode::Up => Ok(()),
                    _ => Err(failure()),
                };
                self.room.handle_persisted(now, batch.id, result);
            }
            Output::LoadTail { count, .. } => {
                let result = match self.store_mode {
                    StoreMode::Down => Err(failure()),
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
                let result = match self.store_mode {
                    StoreMode::Down => Err(failure()),
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
