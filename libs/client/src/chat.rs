//! The whole client state of one room and the transitions the transport drives: connect,
//! open, frames in, close, timers, user actions. Each returns the text frames to send.

use crate::attention::Attention;
use crate::backoff::{Backoff, Beat, Heartbeat};
use crate::messages::{MessageList, Row};
use crate::outbox::{Act, Outbox, OutboxEntry, OutboxState};
use crate::rooms::Rooms;
use crate::typing::Typing;
use protocol::{ClientFrame, ErrorCode, HistoryPage, Member, Message, Secret, ServerFrame};

/// While typing, the client repeats `typing: true` at most this often (the room's typing limit
/// is 1 per second with a burst of 5).
pub const TYPING_REFRESH_MS: i64 = 3_000;
/// Idle this long after the last keystroke and the client says it stopped typing.
pub const TYPING_IDLE_MS: i64 = 4_000;
/// How long to stay away from a full room whose `room_full` error did not say.
pub const ROOM_FULL_DEFAULT_WAIT_MS: u64 = 5_000;

/// What the connection indicator shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// A first visit: no name yet, so no connection. The room's recent messages show read-only
    /// until the person joins.
    Preview,
    /// Opening a connection (attempt 0 is the first).
    Connecting { attempt: u32 },
    /// Joined: messages flow.
    Live,
    /// Waiting to try again at `next_at`.
    Reconnecting { attempt: u32, next_at: i64 },
    /// The browser says it is offline; reconnects when it comes back.
    Offline,
    /// The server speaks protocol versions `oldest..=newest`, not this client's: no more
    /// reconnecting; the page reloads to get the client that matches (once per version) or
    /// asks the user to.
    Outdated { oldest: u32, newest: u32 },
}

/// A message from the server not tied to one of the user's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub code: ErrorCode,
    pub text: String,
}

/// A change the view makes to what it shows, not to the chat: one type, so the web client
/// updates its state through one function for all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewChange {
    /// The composer's next message answers this message (or none).
    ReplyTo(Option<i64>),
    /// This own message is edited in place (or none).
    Edit(Option<i64>),
    /// Scroll to this message, loading older pages until it is held (or stop).
    Seek(Option<i64>),
    /// Say why an edit, a deletion or a reaction was refused.
    Refused(String),
}

/// Everything the chat view shows for one room.
#[derive(Debug, Clone)]
pub struct ChatState {
    pub room: String,
    /// Who this client is. The name is the user's choice; the `user_id` is empty until the
    /// room's `welcome` says what it derived from the secret.
    pub me: Member,
    pub messages: MessageList,
    pub outbox: Outbox,
    pub typing: Typing,
    pub online: Vec<Member>,
    pub status: ConnectionStatus,
    pub notice: Option<Notice>,
    pub backoff: Backoff,
    pub heartbeat: Heartbeat,
    /// The unread count and notifications while the tab is hidden.
    pub attention: Attention,
    /// The rooms this browser has been in, with what was seen in each: this room is marked
    /// seen up to its newest message whenever that is shown on a visible page.
    pub rooms: Rooms,
    /// The outbox could not be saved (the browser's storage is full or refused): what is in it
    /// lasts only as long as the page, and the person is told so.
    pub outbox_unsaved: bool,
    /// This page saw messages since the rooms were last saved: the transport saves them at its
    /// next tick and when the page goes away (not on every message of a busy room).
    pub rooms_unsaved: bool,
    /// The room said it cannot store messages (`store_unavailable`) and has stored none since:
    /// the header says so while the connection itself is live.
    pub store_down: bool,
    /// The message the composer's next message answers (the "replying to …" bar).
    pub replying_to: Option<i64>,
    /// The own message being edited in place.
    pub editing: Option<i64>,
    /// A message to scroll to (a reply's quote was clicked): the view loads older pages until
    /// it holds it.
    pub seeking: Option<i64>,
    /// Why the room refused the person's last edit, deletion or reaction, until the next one.
    pub refusal: Option<String>,
    secret: Secret,
    joined: bool,
    /// The room's revision this client has everything up to (0 until a frame said): the
    /// `since` of the next hello, so a resume brings what is new and what changed.
    rev: i64,
    typing_sent_at: Option<i64>,
    last_keystroke: i64,
    /// The `retry_after_ms` of a `room_full` error, applied when the socket closes.
    room_full_retry_ms: Option<u64>,
    /// After a `room_full`, no reconnect before this time, whoever asks.
    room_full_until: Option<i64>,
}

impl ChatState {
    /// A fresh state for `room`, for the user called `name` holding `secret`, with the outbox
    /// kept from an earlier visit. An empty `name` is a first visit: a preview until
    /// [`ChatState::join`].
    pub fn new(room: &str, name: &str, secret: Secret, outbox: Outbox) -> Self {
        Self {
            room: room.to_owned(),
            me: Member {
                user_id: String::new(),
                name: name.to_owned(),
            },
            messages: MessageList::default(),
            outbox,
            typing: Typing::default(),
            online: Vec::new(),
            status: if name.is_empty() {
                ConnectionStatus::Preview
            } else {
                ConnectionStatus::Connecting { attempt: 0 }
            },
            notice: None,
            backoff: Backoff::default(),
            heartbeat: Heartbeat::default(),
            attention: Attention::default(),
            rooms: Rooms::default(),
            rooms_unsaved: false,
            outbox_unsaved: false,
            store_down: false,
            replying_to: None,
            editing: None,
            seeking: None,
            refusal: None,
            secret,
            joined: false,
            rev: 0,
            typing_sent_at: None,
            last_keystroke: 0,
            room_full_retry_ms: None,
            room_full_until: None,
        }
    }

    /// Whether messages can be sent now.
    pub fn is_live(&self) -> bool {
        self.joined
    }

    /// Whether the room refused the last connection because it is full (until the next
    /// `welcome`), so the status can say so instead of a bare "reconnecting".
    pub fn room_is_full(&self) -> bool {
        self.notice
            .as_ref()
            .is_some_and(|n| n.code == ErrorCode::RoomFull)
    }

    /// The rows of the message list, own messages marked by the `user_id` the room gave us.
    pub fn rows(&self, tz_offset_ms: i64) -> Vec<Row<'_>> {
        self.messages.rows(&self.me.user_id, tz_offset_ms)
    }

    /// Whether this is a first visit that has not joined yet (no name, no connection).
    pub fn is_preview(&self) -> bool {
        self.status == ConnectionStatus::Preview
    }

    /// The room's newest page, fetched over HTTP while the page loads: shown at once (on a
    /// first visit, read-only), and the hello then asks only for what came after it. A welcome
    /// that came first wins.
    pub fn early_page(&mut self, page: HistoryPage) {
        if !self.joined && self.messages.is_empty() {
            self.messages.reset(page.messages, page.has_more);
        }
    }

    /// Who the room said we were on the last visit, until its welcome says it again: own
    /// messages of an early page are on the own side from the start.
    pub fn remember_me(&mut self, user_id: &str) {
        if self.me.user_id.is_empty() {
            self.me.user_id = user_id.to_owned();
        }
    }

    /// The person picked a name, on a first visit or to change it ([`ChatState::rename`]). A
    /// first visit's connection may then start (the caller connects), and its hello asks only
    /// for what came after the preview's messages.
    pub fn join(&mut self, name: &str) -> Result<(), String> {
        self.rename(name)?;
        if self.is_preview() {
            self.status = ConnectionStatus::Connecting { attempt: 0 };
        }
        Ok(())
    }

    /// The person chose a new display name: it is checked as the room checks it, and the next
    /// hello carries it (the caller reconnects), so the room tells everyone and stamps new
    /// messages with it. `Err` says why the name is refused.
    pub fn rename(&mut self, name: &str) -> Result<(), String> {
        let name = protocol::validate_name(name).map_err(|e| e.0)?;
        self.me.name = name.to_owned();
        Ok(())
    }

    /// The page was hidden or shown; shown, this room's messages are seen.
    pub fn set_hidden(&mut self, hidden: bool) {
        self.attention.set_hidden(hidden);
        self.mark_seen();
    }

    /// The newest page of another room arrived: its unread count, own messages aside.
    pub fn newest_page_of(&mut self, room: &str, page: &HistoryPage) {
        self.rooms.newest_page(room, page, &self.me.user_id);
    }

    /// The rooms whose unread counts are worth asking for: every other room of the list, once
    /// joined (the room said who we are, and own messages do not count) and while the page is
    /// visible.
    pub fn rooms_to_count(&self) -> Vec<String> {
        if !self.joined || self.attention.is_hidden() {
            return Vec::new();
        }
        self.rooms
            .entries()
            .iter()
            .map(|e| e.room.clone())
            .filter(|room| *room != self.room)
            .collect()
    }

    /// What a visible page shows of this room is seen.
    fn mark_seen(&mut self) {
        if let (false, Some(newest)) = (self.attention.is_hidden(), self.messages.newest_seq()) {
            self.rooms_unsaved |= self.rooms.saw(&self.room, newest);
        }
    }

    /// A connection attempt starts.
    pub fn connecting(&mut self) {
        self.status = ConnectionStatus::Connecting {
            attempt: self.backoff.attempt(),
        };
    }

    /// The socket opened: say hello with the secret (never a `user_id`: the room derives it),
    /// asking for what was missed since the room's revision last seen (or, before any, since
    /// the newest message held: an early page holds every change up to it).
    pub fn opened(&mut self, now: i64) -> Vec<String> {
        self.backoff.connected(now);
        self.heartbeat.heard(now);
        vec![
            ClientFrame::Hello {
                name: self.me.name.clone(),
                protocol: protocol::PROTOCOL_VERSION,
                secret: self.secret.clone(),
                since: self
                    .messages
                    .newest_seq()
                    .max((self.rev > 0).then_some(self.rev)),
            }
            .to_json(),
        ]
    }

    /// A text frame arrived. Returns frames to send in answer.
    pub fn received(&mut self, text: &str, now: i64) -> Vec<String> {
        let frames = self.receive(text, now);
        self.mark_seen();
        frames
    }

    fn receive(&mut self, text: &str, now: i64) -> Vec<String> {
        self.heartbeat.heard(now);
        let Ok(frame) = ServerFrame::decode(text) else {
            // `pong`, or a frame from a newer server this client does not know: nothing to do.
            return Vec::new();
        };
        match frame {
            ServerFrame::Welcome(welcome) => {
                self.joined = true;
                self.status = ConnectionStatus::Live;
                self.notice = None;
                self.room_full_retry_ms = None;
                self.room_full_until = None;
                // The room's word on who we are: the `user_id` it derived from the secret, which
                // marks our own messages.
                self.me = welcome.you;
                if let Some(window) = welcome.dedupe_window_ms {
                    self.outbox.set_dedupe_window(window);
                }
                if welcome.reset {
                    // The room's word on where it stands, even below what this client saw (a
                    // room whose log started over): a cursor above it would reset every resume.
                    self.rev = welcome.rev.unwrap_or(0);
                    self.see(&welcome.messages);
                    self.messages.reset(welcome.messages, welcome.has_more);
                } else {
                    self.see(&welcome.messages);
                    self.rev = self.rev.max(welcome.rev.unwrap_or(0));
                    // What is newer than the newest held is added; an older message that
                    // changed replaces the one held, and is not added if not held: the list
                    // holds an unbroken run of the room, and loading older pages starts below
                    // its oldest.
                    let newest = self.messages.newest_seq().unwrap_or(i64::MIN);
                    let (new, changed): (Vec<_>, Vec<_>) =
                        welcome.messages.into_iter().partition(|m| m.seq > newest);
                    self.messages.update(changed);
                    self.messages.merge(new);
                }
                // A resume may carry our own messages that were stored while we were away. The
                // room knows a message by who sent it and its `client_id`, and so does this:
                // someone else's message with the same `client_id` confirms nothing of ours.
                let me = &self.me.user_id;
                let confirmed: Vec<String> = self
                    .messages
                    .iter()
                    .filter(|m| m.user_id == *me)
                    .map(|m| m.client_id.clone())
                    .collect();
                for client_id in confirmed {
                    self.outbox.confirm(&client_id);
                }
                self.set_online(welcome.online);
                self.flush(now)
            }
            ServerFrame::Message { .. } | ServerFrame::Messages { .. } => {
                self.store_down = false;
                self.see(frame.stored_messages());
                for message in frame.stored_messages() {
                    if message.user_id == self.me.user_id {
                        self.outbox.confirm(&message.client_id);
                    }
                    self.typing.stop(&message.user_id);
                    if self.messages.insert(message.clone()) {
                        self.attention
                            .arrived(message, &self.me.user_id, &self.room);
                    }
                }
                Vec::new()
            }
            ServerFrame::Updated { messages } => {
                self.see(&messages);
                self.messages.update(messages);
                Vec::new()
            }
            ServerFrame::Applied { client_id, .. } => {
                self.store_down = false;
                self.outbox.confirm(&client_id);
                Vec::new()
            }
            ServerFrame::History(page) => {
                self.messages.merge(page.messages);
                self.messages.has_more = page.has_more;
                self.messages.loading_older = false;
                Vec::new()
            }
            ServerFrame::Typing {
                user_id,
                name,
                active,
            } => {
                if user_id != self.me.user_id {
                    self.typing.update(&user_id, &name, active, now);
                }
                Vec::new()
            }
            ServerFrame::TypingBatch { notices } => {
                for notice in notices {
                    if notice.user_id != self.me.user_id {
                        self.typing
                            .update(&notice.user_id, &notice.name, notice.active, now);
                    }
                }
                Vec::new()
            }
            ServerFrame::Joined { member } => {
                // A name change arrives as a `joined` of someone already online.
                match self.online.iter_mut().find(|m| m.user_id == member.user_id) {
                    Some(known) => *known = member,
                    None => self.online.push(member),
                }
                Vec::new()
            }
            ServerFrame::Left { user_id } => {
                self.online.retain(|m| m.user_id != user_id);
                // Their connection closed before they could say they stopped typing.
                self.typing.stop(&user_id);
                Vec::new()
            }
            ServerFrame::Error(error) => {
                // A refused send, not a failed history page: only a stored message clears it.
                if error.code == ErrorCode::StoreUnavailable && error.client_id.is_some() {
                    self.store_down = true;
                }
                match &error.client_id {
                    // The outbox decides what a refusal means; an action the room will never
                    // apply (refused for good: not its author's, no such message, …) then
                    // leaves it, and the person is told why.
                    Some(client_id) => {
                        self.outbox.refused(
                            client_id,
                            error.code,
                            &error.message,
                            error.retry_after_ms,
                            now,
                        );
                        self.drop_failed_actions();
                    }
                    None => {
                        match error.code {
                            // A history request the store could not answer: allow another.
                            ErrorCode::StoreUnavailable | ErrorCode::StoreRefused => {
                                self.messages.loading_older = false;
                            }
                            // The room closes the socket after this; `closed` waits at least
                            // this long before trying again.
                            ErrorCode::RoomFull => {
                                self.room_full_retry_ms =
                                    Some(error.retry_after_ms.unwrap_or(ROOM_FULL_DEFAULT_WAIT_MS));
                            }
                            _ => {}
                        }
                        self.notice = Some(Notice {
                            code: error.code,
                            text: error.message,
                        });
                    }
                }
                Vec::new()
            }
            ServerFrame::UnsupportedProtocol { oldest, newest, .. } => {
                self.status = ConnectionStatus::Outdated { oldest, newest };
                Vec::new()
            }
        }
    }

    /// Frames carry the room's revisions in order: the highest seen is where the next resume
    /// starts.
    fn see(&mut self, messages: &[Message]) {
        for message in messages {
            self.rev = self.rev.max(message.rev());
        }
    }

    /// Message `seq` as this person sees it: as the room last said, with what they did to it
    /// and the room has not confirmed yet (an edit, a deletion, a reaction) already applied.
    pub fn shown(&self, message: &Message) -> Message {
        let mut shown = message.clone();
        for entry in self.pending_on(message.seq) {
            apply_pending(&mut shown, entry, &self.me.user_id);
        }
        shown
    }

    /// The outbox's actions on message `seq` still on their way, oldest first.
    pub fn pending_on(&self, seq: i64) -> impl Iterator<Item = &OutboxEntry> {
        self.outbox.entries().iter().filter(move |e| {
            e.act.target() == Some(seq) && !matches!(e.state, OutboxState::Failed { .. })
        })
    }

    /// An action that failed for good (refused, too many attempts, or unconfirmed too long)
    /// leaves the outbox: the message shows as the room has it again, and why is said.
    fn drop_failed_actions(&mut self) {
        while let Some((client_id, reason)) =
            self.outbox.entries().iter().find_map(|e| match &e.state {
                OutboxState::Failed { reason } if e.act.target().is_some() => {
                    Some((e.client_id.clone(), reason.clone()))
                }
                _ => None,
            })
        {
            self.outbox.discard(&client_id);
            self.refusal = Some(reason);
        }
    }

    /// The newest message of this person that can still be edited (↑ in an empty composer).
    pub fn last_own(&self) -> Option<Message> {
        self.messages
            .iter()
            .rev()
            .filter(|m| m.user_id == self.me.user_id && !self.me.user_id.is_empty())
            .map(|m| self.shown(m))
            .find(|m| !m.deleted)
    }

    /// Whether this person has put `emoji` on message `seq`, pending changes included.
    pub fn reacted(&self, seq: i64, emoji: &str) -> bool {
        self.messages.get(seq).is_some_and(|m| {
            self.shown(m)
                .reactions
                .iter()
                .any(|r| r.emoji == emoji && r.user_ids.contains(&self.me.user_id))
        })
    }

    /// The person edits their message `seq` to `text` (checked as the room checks it), deletes
    /// it, or toggles `emoji` on any message. Each is an outbox entry of its own `client_id`,
    /// sent now if connected and retried like a message until the room confirms it.
    pub fn edit(
        &mut self,
        seq: i64,
        text: &str,
        client_id: String,
        now: i64,
    ) -> Result<Vec<String>, String> {
        let text = protocol::validate_text(text).map_err(|e| e.0)?.to_owned();
        Ok(self.act(client_id, Act::Edit { seq }, text, now))
    }

    /// See [`ChatState::edit`].
    pub fn delete(&mut self, seq: i64, client_id: String, now: i64) -> Vec<String> {
        self.act(client_id, Act::Delete { seq }, String::new(), now)
    }

    /// See [`ChatState::edit`]: puts `emoji` on the message, or takes it off if it is there.
    pub fn react(&mut self, seq: i64, emoji: &str, client_id: String, now: i64) -> Vec<String> {
        let on = !self.reacted(seq, emoji);
        self.act(client_id, Act::React { seq, on }, emoji.to_owned(), now)
    }

    fn act(&mut self, client_id: String, act: Act, text: String, now: i64) -> Vec<String> {
        self.refusal = None;
        self.outbox.push(client_id, act, text, now);
        self.flush(now)
    }

    /// The view changes what it shows.
    pub fn view(&mut self, change: ViewChange) {
        match change {
            ViewChange::ReplyTo(seq) => self.replying_to = seq,
            ViewChange::Edit(seq) => self.editing = seq,
            ViewChange::Seek(seq) => self.seeking = seq,
            ViewChange::Refused(why) => self.refusal = Some(why),
        }
    }

    /// The name `user_id` goes by here: online now, or on their newest message held.
    pub fn name_of(&self, user_id: &str) -> Option<&str> {
        if user_id == self.me.user_id {
            return Some(&self.me.name);
        }
        let online = self.online.iter().find(|m| m.user_id == user_id);
        online.map(|m| m.name.as_str()).or_else(|| {
            self.messages
                .iter()
                .rev()
                .find(|m| m.user_id == user_id)
                .map(|m| m.name.as_str())
        })
    }

    /// Whether the server said it does not speak this client's protocol: the versions it does.
    pub fn outdated(&self) -> Option<(u32, u32)> {
        match self.status {
            ConnectionStatus::Outdated { oldest, newest } => Some((oldest, newest)),
            _ => None,
        }
    }

    /// The socket closed (or was declared dead) at `now`; `random` in `[0, 1)` jitters the
    /// wait. Returns the delay before the next attempt, in milliseconds.
    pub fn closed(&mut self, now: i64, random: f64) -> u64 {
        self.socket_gone();
        self.backoff.disconnected(now);
        let attempt = self.backoff.attempt() + 1;
        let mut delay = self.backoff.next_delay(random);
        if let Some(wait) = self.room_full_retry_ms.take() {
            // The room asked for this wait. The jittered backoff comes on top so that the
            // clients it turned away together do not all come back at the same instant.
            delay = delay.saturating_add(wait);
            self.room_full_until = Some(now.saturating_add(delay as i64));
        }
        if self.outdated().is_some() {
            // Reconnecting cannot help: the server would answer the same.
            return u64::MAX;
        }
        if self.status != ConnectionStatus::Offline {
            self.status = ConnectionStatus::Reconnecting {
                attempt,
                next_at: now + delay as i64,
            };
        }
        delay
    }

    /// The socket is gone, closed or dropped: not joined, and what was sent on it goes again on
    /// the next one.
    fn socket_gone(&mut self) {
        self.joined = false;
        self.outbox.disconnected();
        self.messages.loading_older = false;
        self.typing = Typing::default();
    }

    /// The browser went offline. A preview stays one: it has no connection to lose.
    pub fn offline(&mut self) {
        if !self.is_preview() {
            self.status = ConnectionStatus::Offline;
        }
    }

    /// The user asked to reconnect now, or the browser came back online or to the foreground:
    /// no more waiting. Returns 0 to connect at once, or how many milliseconds are left of the
    /// wait a full room asked for, which stands whoever asks (it is the server's limit).
    pub fn retry_now(&mut self, now: i64) -> u64 {
        if self.is_preview() {
            // Nothing to reconnect: the connection starts with the join.
            return u64::MAX;
        }
        // The transport drops the socket it had (a rename drops a live one), and `closed` is not
        // called for a socket dropped on purpose.
        self.socket_gone();
        if let Some(until) = self.room_full_until.filter(|until| *until > now) {
            self.status = ConnectionStatus::Reconnecting {
                attempt: self.backoff.attempt(),
                next_at: until,
            };
            return (until - now) as u64;
        }
        self.room_full_until = None;
        self.backoff.reset();
        self.connecting();
        0
    }

    /// The user sends `text` as a new message with `client_id`, answering message `reply_to`
    /// if any. Returns the frames to send (none while disconnected: the message waits in the
    /// outbox), or why the text is refused.
    pub fn compose(
        &mut self,
        text: &str,
        reply_to: Option<i64>,
        client_id: String,
        now: i64,
    ) -> Result<Vec<String>, String> {
        let text = protocol::validate_text(text).map_err(|e| e.0)?.to_owned();
        self.outbox
            .push(client_id, Act::Send { reply_to }, text, now);
        let mut frames = Vec::new();
        if self.typing_sent_at.take().is_some() && self.joined {
            frames.push(ClientFrame::Typing { active: false }.to_json());
        }
        frames.extend(self.flush(now));
        Ok(frames)
    }

    /// A keystroke in the composer: maybe tell the room the user is typing.
    pub fn keystroke(&mut self, now: i64) -> Option<String> {
        self.last_keystroke = now;
        if !self.joined
            || self
                .typing_sent_at
                .is_some_and(|at| now - at < TYPING_REFRESH_MS)
        {
            return None;
        }
        self.typing_sent_at = Some(now);
        Some(ClientFrame::Typing { active: true }.to_json())
    }

    /// Asks for the page before the oldest message held, unless one is loading or none exist.
    pub fn load_older(&mut self) -> Option<String> {
        if !self.joined || self.messages.loading_older || !self.messages.has_more {
            return None;
        }
        let before = self.messages.oldest_seq()?;
        self.messages.loading_older = true;
        Some(
            ClientFrame::History {
                before,
                limit: protocol::WELCOME_MESSAGES as u32,
            }
            .to_json(),
        )
    }

    /// The user retries a message that stopped retrying.
    pub fn retry(&mut self, client_id: &str, now: i64) -> Vec<String> {
        self.outbox.retry(client_id);
        self.flush(now)
    }

    /// Timer tick: retries that are due, messages past their confirmation window (shown as
    /// failed even while disconnected), the heartbeat, the end of typing. Returns frames to
    /// send and whether the connection is dead (to be closed and reopened).
    pub fn tick(&mut self, now: i64) -> (Vec<String>, bool) {
        self.outbox.expire(now);
        self.drop_failed_actions();
        let mut frames = self.flush(now);
        if self.joined
            && self.typing_sent_at.is_some()
            && now - self.last_keystroke >= TYPING_IDLE_MS
        {
            self.typing_sent_at = None;
            frames.push(ClientFrame::Typing { active: false }.to_json());
        }
        let mut dead = false;
        if self.joined {
            match self.heartbeat.tick(now) {
                Beat::SendPing => frames.push(protocol::PING.to_owned()),
                Beat::Dead => dead = true,
                Beat::Nothing => {}
            }
        }
        (frames, dead)
    }

    fn flush(&mut self, now: i64) -> Vec<String> {
        if !self.joined {
            return Vec::new();
        }
        self.outbox
            .due(now)
            .iter()
            .map(ClientFrame::to_json)
            .collect()
    }

    fn set_online(&mut self, online: Vec<Member>) {
        self.typing
            .retain_online(online.iter().map(|m| m.user_id.as_str()));
        self.online = online;
    }
}

/// Applies one unconfirmed action of `me` to `message`, as the room will.
fn apply_pending(message: &mut Message, entry: &OutboxEntry, me: &str) {
    match entry.act {
        Act::Send { .. } => {}
        Act::Edit { .. } => {
            if !message.deleted {
                message.text.clone_from(&entry.text);
                message.edited_ts = Some(entry.created_ts);
            }
        }
        Act::Delete { .. } => {
            message.deleted = true;
            message.edited_ts = None;
            message.text.clear();
            message.reactions.clear();
            message.reply = None;
        }
        Act::React { on, .. } => {
            let at = message.reactions.iter().position(|r| r.emoji == entry.text);
            match (at, on) {
                (Some(at), true) => {
                    let users = &mut message.reactions[at].user_ids;
                    if !users.iter().any(|u| u == me) {
                        users.push(me.to_owned());
                    }
                }
                (None, true) => message.reactions.push(protocol::Reaction {
                    emoji: entry.text.clone(),
                    user_ids: vec![me.to_owned()],
                }),
                (Some(at), false) => {
                    message.reactions[at].user_ids.retain(|u| u != me);
                    if message.reactions[at].user_ids.is_empty() {
                        message.reactions.remove(at);
                    }
                }
                (None, false) => {}
            }
        }
    }
}
