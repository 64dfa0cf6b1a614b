//! The outbox: messages the user sent that the room has not confirmed yet. Kept in
//! localStorage (as JSON) so nothing typed is lost to a reload or an outage; every retry reuses
//! the message's `client_id`, so the room stores it once.

use protocol::{ClientFrame, ErrorCode};
use serde::{Deserialize, Serialize};

/// After this many attempts answered with an error, automatic retries stop and the user
/// decides (retry or discard).
pub const MAX_AUTOMATIC_ATTEMPTS: u32 = 8;

/// Where an unconfirmed message stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub client_id: String,
    pub text: String,
    /// When the user sent it (milliseconds since the epoch), for display.
    pub created_ts: i64,
    pub state: OutboxState,
    pub attempts: u32,
}

impl OutboxEntry {
    /// The reason to show next to the message, if any.
    pub fn reason(&self) -> Option<&str> {
        match &self.state {
            OutboxState::Waiting { reason, .. } | OutboxState::Failed { reason } => Some(reason),
            _ => None,
        }
    }
}

/// Unconfirmed messages in the order they were written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbox {
    entries: Vec<OutboxEntry>,
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
        self.entries.push(OutboxEntry {
            client_id,
            text,
            created_ts: now,
            state: OutboxState::Queued,
            attempts: 0,
        });
    }

    /// The room stored the message: it leaves the outbox. `false` if it was not here.
    pub fn confirm(&mut self, client_id: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.client_id != client_id);
        self.entries.len() != before
    }

    /// The `send` frames due now (queued, or waiting and due), marking them sent. Only call
    /// while the connection is live.
    pub fn due(&mut self, now: i64) -> Vec<ClientFrame> {
        let mut frames = Vec::new();
        for entry in &mut self.entries {
            let due = match &entry.state {
                OutboxState::Queued => true,
                OutboxState::Waiting { retry_at, .. } => *retry_at <= now,
                OutboxState::Sent | OutboxState::Failed { .. } => false,
            };
            if due {
                entry.state = OutboxState::Sent;
                entry.attempts += 1;
                frames.push(ClientFrame::Send {
                    client_id: entry.client_id.clone(),
                    text: entry.text.clone(),
                });
            }
        }
        frames
    }

    /// The earliest time a waiting entry becomes due.
    pub fn next_retry(&self) -> Option<i64> {
        self.entries
            .iter()
            .filter_map(|e| match e.state {
                OutboxState::Waiting { retry_at, .. } => Some(retry_at),
                _ => None,
            })
            .min()
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
        entry.state = match code {
            ErrorCode::StoreUnavailable | ErrorCode::RateLimited
                if entry.attempts < MAX_AUTOMATIC_ATTEMPTS =>
            {
                let wait = retry_after_ms.unwrap_or(1_000).max(100) as i64;
                OutboxState::Waiting {
                    retry_at: now + wait,
                    reason: message.to_owned(),
                }
            }
            // Sent before the hello was answered (a race on reconnect): send again.
            ErrorCode::NotJoined => OutboxState::Queued,
            _ => OutboxState::Failed {
                reason: message.to_owned(),
            },
        };
    }

    /// The user asked to try again.
    pub fn retry(&mut self, client_id: &str) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.client_id == client_id) {
            entry.state = OutboxState::Queued;
            entry.attempts = 0;
        }
    }

    /// The user gave up on a message.
    pub fn discard(&mut self, client_id: &str) {
        self.entries.retain(|e| e.client_id != client_id);
    }

    /// The outbox as stored in localStorage.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The outbox read back from localStorage. What was in flight when the page went away is
    /// queued again; anything unreadable is an empty outbox rather than an error.
    pub fn from_json(json: &str) -> Self {
        let mut outbox: Self = serde_json::from_str(json).unwrap_or_default();
        outbox.disconnected();
        outbox
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn client_ids(frames: &[ClientFrame]) -> Vec<String> {
        frames
            .iter()
            .filter_map(|f| match f {
                ClientFrame::Send { client_id, .. } => Some(client_id.clone()),
                _ => None,
            })
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
        assert_eq!(outbox.entries()[0].reason(), Some("store down"));
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
    fn survives_a_reload_as_json() {
        let mut outbox = Outbox::default();
        outbox.add("m1-aaaaaa".into(), "typed offline ✈".into(), 7);
        outbox.due(7);
        let restored = Outbox::from_json(&outbox.to_json());
        assert_eq!(restored.entries()[0].state, OutboxState::Queued);
        assert_eq!(restored.entries()[0].text, "typed offline ✈");
        assert!(Outbox::from_json("garbage").is_empty());
    }
}
