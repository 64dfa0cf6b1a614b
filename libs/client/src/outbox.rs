//! The outbox: messages the user sent, and edits, deletions and reactions the user made, that the
//! room has not confirmed yet. Kept in localStorage (as JSON) so nothing typed is lost to a
//! reload or an outage; every retry reuses the entry's `client_id`, so the room applies it once.

use protocol::json::{Json, ObjectWriter};
use protocol::{ClientFrame, ErrorCode};

/// After this many attempts answered with an error, automatic retries stop and the user
/// decides (retry or discard).
pub const MAX_AUTOMATIC_ATTEMPTS: u32 = 8;

/// How long after a message was first sent the outbox may still resend it by itself.
///
/// The room recognises a resent `client_id` only while the first copy is among its newest
/// `HISTORY_LIMIT` messages (10 000 by default). A resend that arrives after the first copy
/// has left that window would be stored a second time, and the client cannot tell whether the
/// first send arrived. One hour rides out outages, reloads and a laptop lid closed over lunch,
/// while a room would have to carry close to three messages a second for a whole hour to push
/// 10 000 messages past the first copy. After that the user decides (retry or discard).
pub const CONFIRM_WINDOW_MS: i64 = 60 * 60 * 1000;

/// Why a message that was sent but never confirmed within [`CONFIRM_WINDOW_MS`] stopped.
pub const NOT_CONFIRMED_REASON: &str =
    "not confirmed within an hour: it may or may not have arrived";

/// Why a message the store refused for good (`store_refused`) stopped. The server's own text
/// is meant for operators, so the user sees this instead.
pub const STORE_REFUSED_REASON: &str = "the server could not store this message";

/// How fast the outbox sends by itself: a burst of this many, then [`SEND_PER_SECOND`]. It is
/// the room's default send limit, so a backlog (100 messages written offline) goes out at the
/// pace the room accepts instead of all at once; a room configured stricter answers
/// `rate_limited`, which pauses the outbox without using up a message's attempts.
pub const SEND_BURST: i64 = 10;
/// See [`SEND_BURST`].
pub const SEND_PER_SECOND: i64 = 5;

/// How long a message another tab wrote waits before this tab sends it too. The tab that wrote
/// it normally has it confirmed well within this, and then it leaves every tab's outbox unsent;
/// if that tab was closed or is offline, this one sends it. Sending it from both is harmless
/// (same identity, same `client_id`: the room stores it once), only wasteful.
pub const OTHER_TAB_GRACE_MS: i64 = 5_000;

/// The reason shown on a message another tab wrote while this tab waits for that one.
pub const OTHER_TAB_REASON: &str = "written in another tab; sending from there";

/// Why a message the room could not store for now (`store_unavailable`) waits. The server's
/// own text is meant for operators.
pub const STORE_UNAVAILABLE_REASON: &str = "the server can't store messages right now";

/// Why a message the room found too fast (`rate_limited`) waits.
pub const RATE_LIMITED_REASON: &str = "sending too fast";

/// A message neither refused nor confirmed shows Retry and Discard only after this long: before,
/// they are noise on every message just sent; after, the person may want to give up on one
/// written offline, or to retry one a slow network holds.
pub const PENDING_ACTIONS_AFTER_MS: i64 = 5_000;

/// What a message in the outbox shows: its state, the reason with when it is tried again, and
/// whether the person is offered Retry and Discard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingView {
    /// "Sending…", "Not sent yet", "Not sent" or "Not confirmed".
    pub label: &'static str,
    /// Why it is not sent yet, and when it is tried again: "the server can't store messages
    /// right now; retrying in 4 s".
    pub detail: Option<String>,
    /// Retry and Discard: offered once the room refused it, or it waited
    /// [`PENDING_ACTIONS_AFTER_MS`].
    pub actions: bool,
}

/// Where an unconfirmed message stands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OutboxState {
    /// To be sent as soon as the connection is live.
    Queued,
    /// Sent on the current connection; waiting for the room's `message`.
    Sent,
    /// Refused for now (store down, rate limit); sent again at `retry_at`.
    Waiting { retry_at: i64, reason: String },
    /// Refused for good, or too many times: the user retries or discards it.
    Failed { reason: String },
}

/// What an outbox entry asks of the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// A new message (`text`), answering message `reply_to` if any.
    Send { reply_to: Option<i64> },
    /// The own message `seq` gets `text` instead.
    Edit { seq: i64 },
    /// The own message `seq` is taken back.
    Delete { seq: i64 },
    /// The emoji `text` is put on (`on`) or taken off message `seq`.
    React { seq: i64, on: bool },
}

impl Act {
    /// The message an action is about (`None` for a new message).
    pub fn target(&self) -> Option<i64> {
        match *self {
            Act::Send { .. } => None,
            Act::Edit { seq } | Act::Delete { seq } | Act::React { seq, .. } => Some(seq),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub client_id: String,
    /// The message's text, an edit's new text, a reaction's emoji; empty for a deletion.
    pub text: String,
    pub act: Act,
    /// When the user sent it (milliseconds since the epoch), for display.
    pub created_ts: i64,
    pub state: OutboxState,
    pub attempts: u32,
    /// When it was first sent (since the user last asked to retry it), which starts the
    /// [`CONFIRM_WINDOW_MS`]. `None` while it was never sent; also `None` in entries stored by
    /// versions that did not record it (see [`OutboxEntry::sent_since`]).
    pub first_sent_at: Option<i64>,
}

impl OutboxEntry {
    /// The reason to show next to the message, if any.
    pub fn reason(&self) -> Option<&str> {
        match &self.state {
            OutboxState::Waiting { reason, .. } | OutboxState::Failed { reason } => Some(reason),
            _ => None,
        }
    }

    /// What the entry shows at `now`.
    pub fn view(&self, now: i64) -> PendingView {
        // Counted from the first send since the last Retry (or from writing it, if never sent).
        let long = now - self.first_sent_at.unwrap_or(self.created_ts) >= PENDING_ACTIONS_AFTER_MS;
        match &self.state {
            OutboxState::Queued | OutboxState::Sent => PendingView {
                label: "Sending…",
                detail: None,
                actions: long,
            },
            OutboxState::Waiting { retry_at, reason } => {
                let seconds = crate::seconds_until(*retry_at, now);
                PendingView {
                    label: "Not sent yet",
                    detail: Some(if seconds > 0 {
                        format!("{reason}; retrying in {seconds} s")
                    } else {
                        format!("{reason}; retrying")
                    }),
                    // Another tab's message is that tab's to send; a short pause for the
                    // room's rate limit is no failure.
                    actions: long
                        || !matches!(reason.as_str(), OTHER_TAB_REASON | RATE_LIMITED_REASON),
                }
            }
            OutboxState::Failed { reason } => PendingView {
                // A message unconfirmed for too long may well have arrived, so "Not sent"
                // would be wrong.
                label: if reason == NOT_CONFIRMED_REASON {
                    "Not confirmed"
                } else {
                    "Not sent"
                },
                detail: Some(reason.clone()),
                actions: true,
            },
        }
    }

    /// When the confirmation window of this entry started: `None` if it was never sent, so
    /// cannot have reached the room and is safe to send at any time. Entries saved by older
    /// versions carry attempts but no `first_sent_at`; their creation time stands in for it,
    /// which can only be earlier than the real first send, so they give up sooner, never later.
    pub fn sent_since(&self) -> Option<i64> {
        self.first_sent_at
            .or((self.attempts > 0).then_some(self.created_ts))
    }
}

/// Unconfirmed messages in the order they were written.
///
/// Every tab of a room shares one stored outbox (localStorage): each tab keeps its own copy,
/// merges the stored one into it before it writes ([`Outbox::merge_stored`]) and when another
/// tab wrote, so no tab erases what another wrote, and a message written in a tab that closed
/// is sent by a tab still open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbox {
    entries: Vec<OutboxEntry>,
    /// The `client_id`s this outbox has seen in storage (read there, or written there by this
    /// tab). One it holds that storage lost was removed by another tab (confirmed or
    /// discarded); one storage holds that it lacks was removed here, unless it is not known,
    /// then another tab wrote it. A plain list: outboxes are short, and a set type would cost
    /// the web client kilobytes of wasm.
    known: Vec<String>,
    pace: Pace,
    /// How long after its first send a message may be resent by itself, when the room said
    /// (half its dedupe window, never more than [`CONFIRM_WINDOW_MS`]); `None` until it did.
    confirm_window_ms: Option<i64>,
}

/// The outbox's own send limit ([`SEND_BURST`], [`SEND_PER_SECOND`]), in thousandths of a
/// send so that it stays exact, and a pause after the room said `rate_limited`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Pace {
    /// Sends taken and not yet refilled, ×1000 (0: a full burst is available).
    spent_milli: i64,
    updated_at: i64,
    paused_until: i64,
}

impl Pace {
    /// How many sends may go at `now`.
    fn available(&mut self, now: i64) -> usize {
        let elapsed = (now - self.updated_at).max(0);
        self.spent_milli = (self.spent_milli - elapsed * SEND_PER_SECOND).max(0);
        self.updated_at = self.updated_at.max(now);
        if now < self.paused_until {
            return 0;
        }
        usize::try_from((SEND_BURST * 1000 - self.spent_milli) / 1000).unwrap_or(0)
    }

    fn take(&mut self) {
        self.spent_milli += 1000;
    }
}

impl Outbox {
    pub fn entries(&self) -> &[OutboxEntry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a message the user just wrote.
    pub fn add(&mut self, client_id: String, text: String, now: i64) {
        self.push(client_id, Act::Send { reply_to: None }, text, now);
    }

    /// Adds what the user just did: a message or an action (see [`Act`] for `text`).
    pub fn push(&mut self, client_id: String, act: Act, text: String, now: i64) {
        self.entries.push(OutboxEntry {
            client_id,
            text,
            act,
            created_ts: now,
            state: OutboxState::Queued,
            attempts: 0,
            first_sent_at: None,
        });
    }

    /// The room stored the message: it leaves the outbox. `false` if it was not here.
    pub fn confirm(&mut self, client_id: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.client_id != client_id);
        self.entries.len() != before
    }

    /// The `send` frames due now (queued, or waiting and due), oldest first and no faster than
    /// [`SEND_BURST`] and [`SEND_PER_SECOND`] allow, marking them sent. Only call while the
    /// connection is live. Entries past their confirmation window fail first, so nothing is
    /// ever resent after it.
    pub fn due(&mut self, now: i64) -> Vec<ClientFrame> {
        self.expire(now);
        let mut frames = Vec::new();
        let mut available = self.pace.available(now);
        for entry in &mut self.entries {
            if available == 0 {
                break;
            }
            let due = match &entry.state {
                OutboxState::Queued => true,
                OutboxState::Waiting { retry_at, .. } => *retry_at <= now,
                OutboxState::Sent | OutboxState::Failed { .. } => false,
            };
            if due {
                entry.state = OutboxState::Sent;
                entry.attempts += 1;
                entry.first_sent_at.get_or_insert(now);
                available -= 1;
                self.pace.take();
                frames.push(entry.frame());
            }
        }
        frames
    }

    /// The earliest time a waiting entry becomes due (it may wait longer for the pace).
    pub fn next_retry(&self) -> Option<i64> {
        self.entries
            .iter()
            .filter_map(|e| match e.state {
                OutboxState::Waiting { retry_at, .. } => Some(retry_at),
                _ => None,
            })
            .min()
    }

    /// Entries sent at least once and still unconfirmed [`CONFIRM_WINDOW_MS`] after their first
    /// send fail: resending them could store them twice (see [`CONFIRM_WINDOW_MS`]), so only
    /// the user may. Returns whether any entry changed.
    pub fn expire(&mut self, now: i64) -> bool {
        let mut changed = false;
        let window = self.confirm_window_ms();
        for entry in &mut self.entries {
            let expired = entry
                .sent_since()
                .is_some_and(|since| now - since >= window);
            if expired && !matches!(entry.state, OutboxState::Failed { .. }) {
                entry.state = OutboxState::Failed {
                    reason: NOT_CONFIRMED_REASON.to_owned(),
                };
                changed = true;
            }
        }
        changed
    }

    /// The room's dedupe window, from its `welcome`: a message is resent by itself only within
    /// half of it (the client's and the room's clocks differ, and a resend must land well
    /// inside it), and never longer than [`CONFIRM_WINDOW_MS`].
    pub fn set_dedupe_window(&mut self, window_ms: u64) {
        let half = i64::try_from(window_ms / 2).unwrap_or(i64::MAX);
        self.confirm_window_ms = Some(half.min(CONFIRM_WINDOW_MS));
    }

    /// How long after its first send a message may still be resent by itself.
    pub fn confirm_window_ms(&self) -> i64 {
        self.confirm_window_ms.unwrap_or(CONFIRM_WINDOW_MS)
    }

    /// The connection dropped: what was sent on it is sent again on the next one.
    pub fn disconnected(&mut self) {
        for entry in &mut self.entries {
            if entry.state == OutboxState::Sent {
                entry.state = OutboxState::Queued;
            }
        }
    }

    /// The room answered a send with an error.
    pub fn refused(
        &mut self,
        client_id: &str,
        code: ErrorCode,
        message: &str,
        retry_after_ms: Option<u64>,
        now: i64,
    ) {
        let Some(entry) = self.entries.iter_mut().find(|e| e.client_id == client_id) else {
            return;
        };
        let wait = retry_after_ms.unwrap_or(1_000).max(100) as i64;
        entry.state = match code {
            // Too fast is the pace's fault, not the message's: it costs no attempt, and nothing
            // more is sent until the room has a token again.
            ErrorCode::RateLimited => {
                entry.attempts = entry.attempts.saturating_sub(1);
                self.pace.paused_until = self.pace.paused_until.max(now + wait);
                OutboxState::Waiting {
                    retry_at: now + wait,
                    reason: RATE_LIMITED_REASON.to_owned(),
                }
            }
            ErrorCode::StoreUnavailable if entry.attempts < MAX_AUTOMATIC_ATTEMPTS => {
                OutboxState::Waiting {
                    retry_at: now + wait,
                    reason: STORE_UNAVAILABLE_REASON.to_owned(),
                }
            }
            ErrorCode::StoreUnavailable => OutboxState::Failed {
                reason: STORE_UNAVAILABLE_REASON.to_owned(),
            },
            // Sent before the hello was answered (a race on reconnect): send again.
            ErrorCode::NotJoined => OutboxState::Queued,
            // Nothing was stored and retrying cannot help until an operator steps in.
            ErrorCode::StoreRefused => OutboxState::Failed {
                reason: STORE_REFUSED_REASON.to_owned(),
            },
            _ => OutboxState::Failed {
                reason: message.to_owned(),
            },
        };
    }

    /// The user asked to try again. This is the user's decision to accept a possible
    /// duplicate, so the confirmation window starts over with the next send.
    pub fn retry(&mut self, client_id: &str) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.client_id == client_id) {
            entry.state = OutboxState::Queued;
            entry.attempts = 0;
            entry.first_sent_at = None;
        }
    }

    /// The user gave up on a message.
    pub fn discard(&mut self, client_id: &str) {
        self.entries.retain(|e| e.client_id != client_id);
    }

    /// The outbox's messages as stored in localStorage: `{"entries":[…]}`, each entry an object
    /// with its fields in declaration order and `state` an object tagged by its own `state`
    /// member. It is the layout serde's derives wrote before the client dropped serde, so what
    /// browsers saved then still loads (the `the_stored_format_is_unchanged` test).
    ///
    /// Its actions (edits, deletions, reactions) are stored apart, in [`Outbox::actions_json`]:
    /// a tab of a version before actions, still open, reads and rewrites the messages' value,
    /// and would take an action for a message to send (its `text`, an emoji) or, skipping it,
    /// write the value without it, which other tabs would take for a confirmation.
    pub fn to_json(&self) -> String {
        self.entries_json(false)
    }

    /// The outbox's actions as stored, in the messages' layout (see [`Outbox::to_json`]).
    pub fn actions_json(&self) -> String {
        self.entries_json(true)
    }

    fn entries_json(&self, actions: bool) -> String {
        let mut out = String::from("{\"entries\":[");
        let mut first = true;
        for entry in &self.entries {
            if entry.act.target().is_some() != actions {
                continue;
            }
            if !first {
                out.push(',');
            }
            first = false;
            entry.write(&mut out);
        }
        out.push_str("]}");
        out
    }

    /// An outbox of messages read back from localStorage at `now` ([`Outbox::from_stored`]).
    #[cfg(test)]
    fn from_json(json: &str, now: i64) -> Self {
        Self::from_stored([Some(json), None], now)
    }

    /// The outbox read back from localStorage at `now`: its messages' value and its actions'
    /// value ([`Outbox::to_json`]). What was in flight when the page went away is queued again,
    /// unless its confirmation window has passed (the page may have been closed for days).
    /// Entries are read one by one: one this version cannot read (written by a newer one,
    /// before a rollback) is skipped, not the whole outbox; a text that is not an outbox at all
    /// is an empty one rather than an error.
    pub fn from_stored(stored: [Option<&str>; 2], now: i64) -> Self {
        let mut outbox = Self {
            entries: Self::decode(stored),
            ..Self::default()
        };
        outbox.disconnected();
        outbox.expire(now);
        outbox.known = outbox.ids().map(str::to_owned).collect();
        outbox
    }

    /// The entries of the stored values, messages then actions (the order among each is the
    /// order they were written, and a message and an action never depend on each other's
    /// order), without those that do not read, nor the values that are not an object with an
    /// `entries` array.
    fn decode(stored: [Option<&str>; 2]) -> Vec<OutboxEntry> {
        let mut entries = Vec::new();
        for json in stored.into_iter().flatten() {
            let Ok(json) = Json::parse(json) else {
                continue;
            };
            if let Some(read) = json.get("entries").and_then(Json::as_array) {
                entries.extend(read.iter().filter_map(OutboxEntry::decode));
            }
        }
        entries
    }

    fn ids(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.client_id.as_str())
    }

    /// Brings what another tab may have written to storage (`stored`, the outbox's two values
    /// saved for the room, `None` when there is none) into this outbox at `now`:
    /// - an entry this outbox saw in storage before and storage no longer has was confirmed or
    ///   discarded in another tab: it leaves this outbox too;
    /// - an entry storage has that this outbox never saw was written in another tab: it joins,
    ///   waiting [`OTHER_TAB_GRACE_MS`] (that tab normally has it confirmed first), or failed as
    ///   it was;
    /// - an entry this outbox removed (known, not held) stays removed; what is held keeps this
    ///   tab's own state.
    ///
    /// Call it before every save, so the save writes the union and erases only what this tab
    /// removed, and whenever another tab saved. Returns whether this outbox changed.
    pub fn merge_stored(&mut self, stored: [Option<&str>; 2], now: i64) -> bool {
        let stored = Self::decode(stored);
        let stored_ids: Vec<String> = stored.iter().map(|e| e.client_id.clone()).collect();
        let before = self.entries.len();
        let known = &self.known;
        self.entries
            .retain(|e| stored_ids.contains(&e.client_id) || !known.contains(&e.client_id));
        let mut changed = self.entries.len() != before;
        for mut entry in stored {
            let held = self.entries.iter().any(|e| e.client_id == entry.client_id);
            if held || self.known.contains(&entry.client_id) {
                continue;
            }
            if !matches!(entry.state, OutboxState::Failed { .. }) {
                entry.state = OutboxState::Waiting {
                    retry_at: now + OTHER_TAB_GRACE_MS,
                    reason: OTHER_TAB_REASON.to_owned(),
                };
            }
            // Every tab keeps the messages in the order they were written: by creation time,
            // after those of the same time (an insertion, not a sort, which would cost the web
            // client kilobytes of wasm for a list this short).
            let at = self
                .entries
                .partition_point(|e| e.created_ts <= entry.created_ts);
            self.entries.insert(at, entry);
            changed = true;
        }
        // Everything in storage has now been seen here; what this tab added and has not saved
        // yet is not known until [`Outbox::saved`].
        self.known = stored_ids;
        changed
    }

    /// This outbox was written to storage as it is: storage holds exactly its entries now.
    pub fn saved(&mut self) {
        self.known = self.ids().map(str::to_owned).collect();
    }
}

impl OutboxEntry {
    /// The frame that asks the room for it.
    pub fn frame(&self) -> ClientFrame {
        let client_id = self.client_id.clone();
        match self.act {
            Act::Send { reply_to } => ClientFrame::Send {
                client_id,
                text: self.text.clone(),
                reply_to,
            },
            Act::Edit { seq } => ClientFrame::Edit {
                client_id,
                seq,
                text: self.text.clone(),
            },
            Act::Delete { seq } => ClientFrame::Delete { client_id, seq },
            Act::React { seq, on } => ClientFrame::React {
                client_id,
                seq,
                emoji: self.text.clone(),
                on,
            },
        }
    }

    fn write(&self, out: &mut String) {
        let mut entry = ObjectWriter::new(out);
        entry
            .str("client_id", &self.client_id)
            .str("text", &self.text)
            .int("created_ts", self.created_ts);
        // Absent for a plain message, as stored before actions existed.
        match self.act {
            Act::Send { reply_to: None } => {}
            Act::Send {
                reply_to: Some(seq),
            } => {
                entry.int("reply_to", seq);
            }
            Act::Edit { seq } => {
                entry.str("act", "edit").int("seq", seq);
            }
            Act::Delete { seq } => {
                entry.str("act", "delete").int("seq", seq);
            }
            Act::React { seq, on } => {
                entry.str("act", "react").int("seq", seq).bool("on", on);
            }
        }
        let mut state = ObjectWriter::new(entry.raw("state"));
        match &self.state {
            OutboxState::Queued => {
                state.str("state", "queued");
            }
            OutboxState::Sent => {
                state.str("state", "sent");
            }
            OutboxState::Waiting { retry_at, reason } => {
                state
                    .str("state", "waiting")
                    .int("retry_at", *retry_at)
                    .str("reason", reason);
            }
            OutboxState::Failed { reason } => {
                state.str("state", "failed").str("reason", reason);
            }
        }
        state.end();
        entry.int("attempts", i64::from(self.attempts));
        if let Some(at) = self.first_sent_at {
            entry.int("first_sent_at", at);
        }
        entry.end();
    }

    fn decode(json: &Json) -> Option<Self> {
        let state = json.get("state")?;
        let state = match state.get("state")?.as_str()? {
            "queued" => OutboxState::Queued,
            "sent" => OutboxState::Sent,
            "waiting" => OutboxState::Waiting {
                retry_at: state.int_member("retry_at")?,
                reason: state.str_member("reason")?,
            },
            "failed" => OutboxState::Failed {
                reason: state.str_member("reason")?,
            },
            _ => return None,
        };
        let first_sent_at = json.optional_member("first_sent_at", Json::as_i64)?;
        let act = match json.get("act").and_then(Json::as_str) {
            None => Act::Send {
                reply_to: json.optional_member("reply_to", Json::as_i64)?,
            },
            Some("edit") => Act::Edit {
                seq: json.int_member("seq")?,
            },
            Some("delete") => Act::Delete {
                seq: json.int_member("seq")?,
            },
            Some("react") => Act::React {
                seq: json.int_member("seq")?,
                on: json.bool_member("on")?,
            },
            Some(_) => return None,
        };
        Some(Self {
            client_id: json.str_member("client_id")?,
            text: json.str_member("text")?,
            act,
            created_ts: json.int_member("created_ts")?,
            state,
            attempts: u32::try_from(json.int_member("attempts")?).ok()?,
            first_sent_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn client_ids(frames: &[ClientFrame]) -> Vec<String> {
        frames
            .iter()
            .filter_map(|f| f.client_id().map(str::to_owned))
            .collect()
    }

    #[test]
    fn queued_messages_are_sent_once_per_connection_and_confirmed() {
        let mut outbox = Outbox::default();
        outbox.add("m1-aaaaaa".into(), "one".into(), 0);
        outbox.add("m2-aaaaaa".into(), "two".into(), 0);
        assert_eq!(client_ids(&outbox.due(0)), ["m1-aaaaaa", "m2-aaaaaa"]);
        assert!(outbox.due(0).is_empty(), "sent entries are not sent again");
        assert!(outbox.confirm("m1-aaaaaa"));
        outbox.disconnected();
        assert_eq!(
            client_ids(&outbox.due(5)),
            ["m2-aaaaaa"],
            "same client_id on reconnect"
        );
    }

    #[test]
    fn refusals_wait_fail_or_requeue() {
        let mut outbox = Outbox::default();
        outbox.add("m1-aaaaaa".into(), "one".into(), 0);
        outbox.due(0);
        outbox.refused(
            "m1-aaaaaa",
            ErrorCode::StoreUnavailable,
            "store down",
            Some(1000),
            10,
        );
        assert_eq!(outbox.entries()[0].reason(), Some(STORE_UNAVAILABLE_REASON));
        assert_eq!(outbox.next_retry(), Some(1010));
        assert!(outbox.due(1009).is_empty());
        assert_eq!(client_ids(&outbox.due(1010)), ["m1-aaaaaa"]);
        outbox.refused("m1-aaaaaa", ErrorCode::InvalidText, "too long", None, 20);
        assert!(matches!(
            outbox.entries()[0].state,
            OutboxState::Failed { .. }
        ));
        assert!(
            outbox.due(99_999).is_empty(),
            "failed entries wait for the user"
        );
        outbox.retry("m1-aaaaaa");
        assert_eq!(client_ids(&outbox.due(30)), ["m1-aaaaaa"]);
        outbox.discard("m1-aaaaaa");
        assert!(outbox.is_empty());
    }

    #[test]
    fn automatic_retries_stop_after_a_while() {
        let mut outbox = Outbox::default();
        outbox.add("m1-aaaaaa".into(), "one".into(), 0);
        let mut now = 0;
        for _ in 0..MAX_AUTOMATIC_ATTEMPTS {
            now += 10_000;
            assert_eq!(outbox.due(now).len(), 1);
            outbox.refused(
                "m1-aaaaaa",
                ErrorCode::StoreUnavailable,
                "down",
                Some(1),
                now,
            );
        }
        assert!(matches!(
            outbox.entries()[0].state,
            OutboxState::Failed { .. }
        ));
    }

    #[test]
    fn actions_and_replies_are_entries_too_and_survive_a_reload() {
        let mut outbox = Outbox::default();
        outbox.push(
            "r1-aaaaaa".into(),
            Act::Send { reply_to: Some(5) },
            "re".into(),
            1,
        );
        outbox.push("e1-aaaaaa".into(), Act::Edit { seq: 5 }, "fixed".into(), 2);
        outbox.push("d1-aaaaaa".into(), Act::Delete { seq: 6 }, String::new(), 3);
        outbox.push(
            "x1-aaaaaa".into(),
            Act::React { seq: 7, on: false },
            "👍".into(),
            4,
        );
        let frames = outbox.due(10);
        assert_eq!(
            frames,
            [
                ClientFrame::Send {
                    client_id: "r1-aaaaaa".into(),
                    text: "re".into(),
                    reply_to: Some(5)
                },
                ClientFrame::Edit {
                    client_id: "e1-aaaaaa".into(),
                    seq: 5,
                    text: "fixed".into()
                },
                ClientFrame::Delete {
                    client_id: "d1-aaaaaa".into(),
                    seq: 6
                },
                ClientFrame::React {
                    client_id: "x1-aaaaaa".into(),
                    seq: 7,
                    emoji: "👍".into(),
                    on: false
                },
            ]
        );
        // Actions are stored apart from messages, which tabs of older versions read.
        let messages = outbox.to_json();
        assert!(messages.contains("r1-aaaaaa") && !messages.contains("e1-aaaaaa"));
        let actions = outbox.actions_json();
        assert!(!actions.contains("r1-aaaaaa") && actions.contains("x1-aaaaaa"));
        let mut restored = Outbox::from_stored([Some(&messages), Some(&actions)], 11);
        let acts: Vec<Act> = restored.entries().iter().map(|e| e.act).collect();
        let before: Vec<Act> = outbox.entries().iter().map(|e| e.act).collect();
        assert_eq!(acts, before);
        assert!(restored.confirm("e1-aaaaaa"), "confirmed by `applied`");
    }

    #[test]
    fn survives_a_reload_as_json() {
        let mut outbox = Outbox::default();
        outbox.add("m1-aaaaaa".into(), "typed offline ✈".into(), 7);
        outbox.due(7);
        let restored = Outbox::from_json(&outbox.to_json(), 8);
        assert_eq!(restored.entries()[0].state, OutboxState::Queued);
        assert_eq!(restored.entries()[0].text, "typed offline ✈");
        assert_eq!(restored.entries()[0].first_sent_at, Some(7));
        assert!(Outbox::from_json("garbage", 8).is_empty());
    }

    /// What browsers hold in localStorage today, written by the serde-derived encoding that came
    /// before: every state, an old entry without `first_sent_at`, and text that needs escapes.
    const STORED: &str = concat!(
        r#"{"entries":["#,
        r#"{"client_id":"m1-aaaaaa","text":"one \"q\" \\ \n é😀","created_ts":1,"state":{"state":"queued"},"attempts":0},"#,
        r#"{"client_id":"m2-aaaaaa","text":"two","created_ts":2,"state":{"state":"sent"},"attempts":1,"first_sent_at":3},"#,
        r#"{"client_id":"m3-aaaaaa","text":"three","created_ts":4,"state":{"state":"waiting","retry_at":9,"reason":"store down"},"attempts":2,"first_sent_at":5},"#,
        r#"{"client_id":"m4-aaaaaa","text":"four","created_ts":6,"state":{"state":"failed","reason":"too long"},"attempts":8}"#,
        r#"]}"#
    );

    fn stored_entries() -> Vec<OutboxEntry> {
        let entry =
            |id: &str, text: &str, created_ts, state, attempts, first_sent_at| OutboxEntry {
                client_id: id.into(),
                text: text.into(),
                act: Act::Send { reply_to: None },
                created_ts,
                state,
                attempts,
                first_sent_at,
            };
        vec![
            entry(
                "m1-aaaaaa",
                "one \"q\" \\ \n é😀",
                1,
                OutboxState::Queued,
                0,
                None,
            ),
            entry("m2-aaaaaa", "two", 2, OutboxState::Sent, 1, Some(3)),
            entry(
                "m3-aaaaaa",
                "three",
                4,
                OutboxState::Waiting {
                    retry_at: 9,
                    reason: "store down".into(),
                },
                2,
                Some(5),
            ),
            entry(
                "m4-aaaaaa",
                "four",
                6,
                OutboxState::Failed {
                    reason: "too long".into(),
                },
                8,
                None,
            ),
        ]
    }

    #[test]
    fn the_stored_format_is_unchanged() {
        let outbox = Outbox {
            entries: stored_entries(),
            ..Outbox::default()
        };
        assert_eq!(outbox.to_json(), STORED);
        assert_eq!(Outbox::decode([Some(STORED), None]), outbox.entries);
    }

    #[test]
    fn anything_unreadable_is_an_empty_outbox() {
        for bad in ["", "garbage", "{}", r#"{"entries":{}}"#, r#"[]"#] {
            assert!(Outbox::from_json(bad, 0).is_empty(), "{bad}");
        }
    }

    /// One entry this version cannot read (a newer version's, after a rollback) costs that entry,
    /// not the others.
    #[test]
    fn an_unreadable_entry_does_not_drop_the_others() {
        let good = |id: &str| {
            format!(
                r#"{{"client_id":"{id}","text":"x","created_ts":1,"state":{{"state":"queued"}},"attempts":0}}"#
            )
        };
        for bad in [
            r#"{"client_id":"m1-aaaaaa"}"#,
            r#"{"client_id":"m1-aaaaaa","text":"x","created_ts":1,"state":{"state":"lost"},"attempts":0}"#,
            r#"{"client_id":"m1-aaaaaa","text":"x","created_ts":1,"state":{"state":"queued"},"attempts":-1}"#,
            r#"{"client_id":"m1-aaaaaa","text":"x","created_ts":1.5,"state":{"state":"queued"},"attempts":0}"#,
            r#""not an entry""#,
        ] {
            let json = format!(
                r#"{{"entries":[{},{bad},{}]}}"#,
                good("m0-aaaaaa"),
                good("m2-aaaaaa")
            );
            let outbox = Outbox::from_json(&json, 0);
            let ids: Vec<&str> = outbox.ids().collect();
            assert_eq!(ids, ["m0-aaaaaa", "m2-aaaaaa"], "{bad}");
        }
    }

    /// Two tabs of one room, one stored outbox: each saves through `merge_stored`, as the web
    /// client does, and hears of the other's saves the same way.
    fn save(tab: &mut Outbox, storage: &mut Option<String>, now: i64) {
        tab.merge_stored([storage.as_deref(), None], now);
        *storage = (!tab.is_empty()).then(|| tab.to_json());
        tab.saved();
    }

    #[test]
    fn a_message_written_in_a_tab_that_closed_is_sent_by_another() {
        let mut storage = None;
        let mut a = Outbox::default();
        let mut b = Outbox::default();
        // Both tabs offline; A writes a message and closes.
        a.add("m1-aaaaaa".into(), "from A".into(), 100);
        save(&mut a, &mut storage, 100);
        assert!(
            b.merge_stored([storage.as_deref(), None], 101),
            "B hears of it"
        );
        drop(a);
        // B's own saves (its ticks, its own messages) keep A's message.
        b.add("m2-aaaaaa".into(), "from B".into(), 200);
        save(&mut b, &mut storage, 200);
        let kept = Outbox::from_json(storage.as_deref().unwrap_or_default(), 201);
        assert_eq!(kept.ids().collect::<Vec<_>>(), ["m1-aaaaaa", "m2-aaaaaa"]);
        // Online: B sends its own at once and A's after the grace, once each.
        assert_eq!(client_ids(&b.due(300)), ["m2-aaaaaa"]);
        assert_eq!(b.entries()[0].reason(), Some(OTHER_TAB_REASON));
        assert!(b.due(101 + OTHER_TAB_GRACE_MS - 1).is_empty());
        assert_eq!(client_ids(&b.due(101 + OTHER_TAB_GRACE_MS)), ["m1-aaaaaa"]);
        b.confirm("m1-aaaaaa");
        b.confirm("m2-aaaaaa");
        save(&mut b, &mut storage, 6_000);
        assert_eq!(storage, None, "confirmed everywhere, so stored nowhere");
    }

    #[test]
    fn what_one_tab_confirms_or_discards_leaves_the_other() {
        let mut storage = None;
        let mut a = Outbox::default();
        let mut b = Outbox::default();
        a.add("m1-aaaaaa".into(), "one".into(), 1);
        a.add("m2-aaaaaa".into(), "two".into(), 2);
        save(&mut a, &mut storage, 2);
        b.merge_stored([storage.as_deref(), None], 3);
        assert_eq!(b.entries().len(), 2);
        a.confirm("m1-aaaaaa");
        a.discard("m2-aaaaaa");
        save(&mut a, &mut storage, 4);
        assert!(b.merge_stored([storage.as_deref(), None], 5));
        assert!(b.is_empty());
        // A removed them: a later save of B's does not bring them back.
        b.add("m3-aaaaaa".into(), "three".into(), 6);
        save(&mut b, &mut storage, 6);
        a.merge_stored([storage.as_deref(), None], 7);
        assert_eq!(a.ids().collect::<Vec<_>>(), ["m3-aaaaaa"]);
    }

    #[test]
    fn a_tab_keeps_its_own_state_and_what_it_could_not_save() {
        let mut a = Outbox::default();
        a.add("m1-aaaaaa".into(), "one".into(), 1);
        assert_eq!(client_ids(&a.due(1)), ["m1-aaaaaa"]);
        // The save failed (storage full): nothing is known to be stored, so an empty storage
        // says nothing about the message, which stays.
        assert!(!a.merge_stored([None, None], 2));
        assert_eq!(a.entries()[0].state, OutboxState::Sent);
        // Stored by another tab in another state: this tab's own state stands.
        let mut other = a.clone();
        other.disconnected();
        assert!(!a.merge_stored([Some(&other.to_json()), None], 3));
        assert_eq!(a.entries()[0].state, OutboxState::Sent);
    }

    /// The user wrote 100 messages offline; the room takes a burst of 10, then 5 a second, and
    /// answers the rest `rate_limited`. Every one is sent and none fails.
    #[test]
    fn a_long_backlog_goes_out_at_the_rooms_pace_and_none_fails() {
        let room_limit = (10_000_i64, 5_i64); // burst ×1000, per second
        let mut room_spent = 0_i64;
        let mut room_at = 0_i64;
        let mut outbox = Outbox::default();
        for i in 0..100 {
            outbox.add(format!("m{i:03}-aaaaaa"), format!("#{i}"), 0);
        }
        let mut stored = Vec::new();
        let mut now = 1_000;
        let mut refusals = 0;
        while !outbox.is_empty() && now < 120_000 {
            for frame in outbox.due(now) {
                let Some(client_id) = frame.client_id().map(str::to_owned) else {
                    continue;
                };
                room_spent = (room_spent - (now - room_at) * room_limit.1).max(0);
                room_at = now;
                if room_spent + 1000 <= room_limit.0 {
                    room_spent += 1000;
                    stored.push(client_id.clone());
                    outbox.confirm(&client_id);
                } else {
                    refusals += 1;
                    let wait = (room_spent + 1000 - room_limit.0) / room_limit.1;
                    let wait = u64::try_from(wait).unwrap_or(1);
                    outbox.refused(&client_id, ErrorCode::RateLimited, "slow", Some(wait), now);
                }
            }
            // The web client's tick.
            now += 1_000;
        }
        assert!(outbox.is_empty(), "left: {:?}", outbox.entries());
        assert_eq!(stored.len(), 100);
        let unique: std::collections::BTreeSet<&String> = stored.iter().collect();
        assert_eq!(unique.len(), 100);
        assert_eq!(refusals, 0, "the outbox keeps to the room's default pace");
        assert!(now <= 21_000, "done after {now} ms");
    }

    /// A room stricter than the default pace refuses sends: they wait, pause the rest, and
    /// never run out of attempts.
    #[test]
    fn rate_limited_sends_wait_without_using_up_attempts() {
        let mut outbox = Outbox::default();
        outbox.add("m1-aaaaaa".into(), "one".into(), 0);
        outbox.add("m2-aaaaaa".into(), "two".into(), 0);
        let mut now = 0;
        for _ in 0..3 * MAX_AUTOMATIC_ATTEMPTS {
            let sent = client_ids(&outbox.due(now));
            assert!(sent.len() <= 2);
            for id in sent {
                outbox.refused(&id, ErrorCode::RateLimited, "slow", Some(500), now);
            }
            assert!(
                outbox.due(now + 499).is_empty(),
                "paused until the room has a token"
            );
            now += 500;
        }
        assert!(
            outbox
                .entries()
                .iter()
                .all(|e| matches!(e.state, OutboxState::Waiting { .. }) && e.attempts == 0),
            "{:?}",
            outbox.entries()
        );
    }

    fn is_failed_with(entry: &OutboxEntry, expected: &str) -> bool {
        entry.state
            == OutboxState::Failed {
                reason: expected.to_owned(),
            }
    }

    #[test]
    fn a_sent_message_is_not_resent_after_the_confirm_window() {
        let mut outbox = Outbox::default();
        outbox.add("m1-aaaaaa".into(), "one".into(), 0);
        assert_eq!(client_ids(&outbox.due(1_000)), ["m1-aaaaaa"]);
        assert_eq!(outbox.entries()[0].first_sent_at, Some(1_000));
        // Connections come and go; within the window the same client_id is resent…
        outbox.disconnected();
        let last_chance = 1_000 + CONFIRM_WINDOW_MS - 1;
        assert_eq!(client_ids(&outbox.due(last_chance)), ["m1-aaaaaa"]);
        assert_eq!(
            outbox.entries()[0].first_sent_at,
            Some(1_000),
            "the window runs from the first send, not the latest"
        );
        // …but once the window has passed it waits for the user, whatever happens.
        outbox.disconnected();
        assert!(outbox.due(1_000 + CONFIRM_WINDOW_MS).is_empty());
        assert!(is_failed_with(&outbox.entries()[0], NOT_CONFIRMED_REASON));
        outbox.disconnected();
        assert!(outbox.due(10 * CONFIRM_WINDOW_MS).is_empty());
    }

    #[test]
    fn waiting_and_in_flight_messages_expire_on_a_tick() {
        let mut outbox = Outbox::default();
        outbox.add("m1-aaaaaa".into(), "waits".into(), 0);
        outbox.add("m2-aaaaaa".into(), "in flight".into(), 0);
        outbox.due(0);
        outbox.refused("m1-aaaaaa", ErrorCode::RateLimited, "slow down", Some(1), 0);
        assert!(!outbox.expire(CONFIRM_WINDOW_MS - 1));
        assert!(outbox.expire(CONFIRM_WINDOW_MS));
        assert!(
            outbox
                .entries()
                .iter()
                .all(|e| is_failed_with(e, NOT_CONFIRMED_REASON))
        );
        assert!(!outbox.expire(CONFIRM_WINDOW_MS + 1), "already failed");
    }

    #[test]
    fn a_message_never_sent_is_safe_to_send_at_any_time() {
        let mut outbox = Outbox::default();
        outbox.add("m1-aaaaaa".into(), "written offline".into(), 0);
        let much_later = 30 * CONFIRM_WINDOW_MS;
        assert!(!outbox.expire(much_later));
        let restored = Outbox::from_json(&outbox.to_json(), much_later);
        assert_eq!(restored.entries()[0].state, OutboxState::Queued);
        let mut restored = restored;
        assert_eq!(client_ids(&restored.due(much_later)), ["m1-aaaaaa"]);
    }

    #[test]
    fn a_reload_after_the_window_shows_the_message_failed() {
        let mut outbox = Outbox::default();
        outbox.add("m1-aaaaaa".into(), "one".into(), 0);
        outbox.due(5);
        let restored = Outbox::from_json(&outbox.to_json(), 5 + CONFIRM_WINDOW_MS);
        assert!(is_failed_with(&restored.entries()[0], NOT_CONFIRMED_REASON));
    }

    #[test]
    fn entries_saved_by_older_versions_count_from_their_creation() {
        // Written before `first_sent_at` existed: sent twice, never confirmed.
        let old = r#"{"entries":[
            {"client_id":"old-sent-1","text":"a","created_ts":100,"state":{"state":"queued"},"attempts":2},
            {"client_id":"old-never1","text":"b","created_ts":100,"state":{"state":"queued"},"attempts":0}
        ]}"#;
        let within = Outbox::from_json(old, 100 + CONFIRM_WINDOW_MS - 1);
        assert_eq!(within.entries().len(), 2);
        assert_eq!(within.entries()[0].sent_since(), Some(100));
        assert_eq!(within.entries()[0].state, OutboxState::Queued);
        let after = Outbox::from_json(old, 100 + CONFIRM_WINDOW_MS);
        assert!(is_failed_with(&after.entries()[0], NOT_CONFIRMED_REASON));
        assert_eq!(
            after.entries()[1].state,
            OutboxState::Queued,
            "never sent, so never expires"
        );
    }

    #[test]
    fn a_user_retry_starts_a_new_window() {
        let mut outbox = Outbox::default();
        outbox.add("m1-aaaaaa".into(), "one".into(), 0);
        outbox.due(0);
        outbox.expire(CONFIRM_WINDOW_MS);
        outbox.retry("m1-aaaaaa");
        let retried_at = CONFIRM_WINDOW_MS + 500;
        assert_eq!(client_ids(&outbox.due(retried_at)), ["m1-aaaaaa"]);
        assert_eq!(outbox.entries()[0].first_sent_at, Some(retried_at));
        outbox.disconnected();
        assert_eq!(
            client_ids(&outbox.due(retried_at + CONFIRM_WINDOW_MS - 1)),
            ["m1-aaaaaa"]
        );
    }

    #[test]
    fn store_refused_fails_at_once_with_a_fixed_reason() {
        let mut outbox = Outbox::default();
        outbox.add("m1-aaaaaa".into(), "one".into(), 0);
        outbox.due(0);
        outbox.refused(
            "m1-aaaaaa",
            ErrorCode::StoreRefused,
            "WRONGTYPE Operation against a key holding the wrong kind of value",
            None,
            10,
        );
        assert!(is_failed_with(&outbox.entries()[0], STORE_REFUSED_REASON));
        assert_eq!(outbox.next_retry(), None);
        assert!(outbox.due(99_999).is_empty(), "no automatic retry");
    }

    #[test]
    fn retry_and_discard_are_offered_after_a_refusal_or_a_long_wait_with_the_reason() {
        let mut outbox = Outbox::default();
        outbox.add("m1-aaaaaa".into(), "one".into(), 1_000);
        let view = |outbox: &Outbox, now| outbox.entries()[0].view(now);
        // Just written, then just sent: nothing to decide yet.
        let fresh = PendingView {
            label: "Sending…",
            detail: None,
            actions: false,
        };
        assert_eq!(view(&outbox, 1_000), fresh);
        outbox.due(1_200);
        assert_eq!(view(&outbox, 1_200), fresh);
        // Unanswered for a while since it was sent (a slow network): the person may act.
        assert!(!view(&outbox, 1_200 + PENDING_ACTIONS_AFTER_MS - 1).actions);
        assert!(view(&outbox, 1_200 + PENDING_ACTIONS_AFTER_MS).actions);

        // Refused for now: the reason in the person's words, and a countdown.
        outbox.refused(
            "m1-aaaaaa",
            ErrorCode::StoreUnavailable,
            "the message store is unavailable",
            Some(3_500),
            1_300,
        );
        let waiting = view(&outbox, 1_300);
        assert_eq!(waiting.label, "Not sent yet");
        assert_eq!(
            waiting.detail.as_deref(),
            Some("the server can't store messages right now; retrying in 4 s")
        );
        assert!(waiting.actions, "a refusal is a failure worth showing");
        assert_eq!(
            view(&outbox, 4_000).detail.as_deref(),
            Some("the server can't store messages right now; retrying in 1 s")
        );
        assert_eq!(
            view(&outbox, 4_800).detail.as_deref(),
            Some("the server can't store messages right now; retrying")
        );

        // A pause for the room's rate limit is no failure, until it has lasted.
        outbox.add("m2-aaaaaa".into(), "two".into(), 2_000);
        outbox.due(2_000);
        outbox.refused(
            "m2-aaaaaa",
            ErrorCode::RateLimited,
            "slow down",
            Some(900),
            2_000,
        );
        let paused = outbox.entries()[1].view(2_000);
        assert_eq!(
            paused.detail.as_deref(),
            Some("sending too fast; retrying in 1 s")
        );
        assert!(!paused.actions);
        assert!(
            outbox.entries()[1]
                .view(2_000 + PENDING_ACTIONS_AFTER_MS)
                .actions
        );

        // Refused for good.
        outbox.refused("m1-aaaaaa", ErrorCode::InvalidText, "too long", None, 5_000);
        assert_eq!(
            view(&outbox, 5_000),
            PendingView {
                label: "Not sent",
                detail: Some("too long".into()),
                actions: true,
            }
        );
        outbox.expire(2_000 + CONFIRM_WINDOW_MS);
        assert_eq!(
            outbox.entries()[1].view(2_000 + CONFIRM_WINDOW_MS).label,
            "Not confirmed"
        );
    }
}
