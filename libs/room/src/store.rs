//! How a room lives in Redis: two sorted sets per room, scored by `seq`, and a hash.
//! - `chat:{room}:messages`: member = the message's JSON as it is now (edits and deletions
//!   applied), one per `seq`;
//! - `chat:{room}:ids`: member = `user_id:client_id`, the dedupe key of each stored message;
//! - `chat:{room}:reactions`: field = `seq`, value = the JSON array of the message's reactions
//!   (`[{"emoji":…,"user_ids":[…]}]`), for messages that have any.
//!
//! Redis is the mirror of the room's log ([`crate::wal`]): [`crate::mirror`] writes both sets;
//! readers here (the tail a room's log starts from, history pages older than the log) skip any
//! member that is not a message. The outcome types of a commit live here too, as the room core
//! has known them since Redis was its store. Keeping the layout here puts it next to the logic
//! that relies on it.

use protocol::{HistoryPage, Message};
use upstash::{Bound, ZRangeByScore};

/// The Redis key of a room's messages.
pub fn key(room: &str) -> String {
    format!("chat:{room}:messages")
}

/// The Redis key of a room's dedupe ids (`user_id:client_id`, scored by the message's `seq`).
pub fn ids_key(room: &str) -> String {
    format!("chat:{room}:ids")
}

/// The Redis key of a room's reactions (field `seq`, value the reactions' JSON array).
pub fn reactions_key(room: &str) -> String {
    format!("chat:{room}:reactions")
}

/// The dedupe key of a message: a `client_id` is unique per user, not per room, so two users
/// choosing the same `client_id` never hide each other's messages.
pub fn dedupe_id(user_id: &str, client_id: &str) -> String {
    format!("{user_id}:{client_id}")
}

/// What committing a batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The batch was considered, message by message, in order.
    Applied(Vec<Written>),
    /// Nothing was written: the log's highest revision is `highest`, not the batch's `prev`, or is
    /// not below the batch's first `seq`.
    Fenced { highest: i64 },
}

/// What became of one message of an applied batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Stored now, with the `seq` the room gave it.
    Stored,
    /// Already stored (same user and `client_id`) at `seq`; `message` is the stored copy, when
    /// it could be read back.
    Duplicate {
        seq: i64,
        message: Option<Box<Message>>,
    },
}

/// The query for the newest `count` messages (the tail loaded when a room wakes).
pub fn tail_query(count: usize) -> ZRangeByScore {
    ZRangeByScore {
        min: Bound::NegInf,
        max: Bound::PosInf,
        rev: true,
        limit: Some((0, count as u64)),
    }
}

/// The query for a history page: up to `limit` messages before `before`, newest first, plus
/// one more to learn whether older ones exist.
pub fn history_query(before: i64, limit: u32) -> ZRangeByScore {
    ZRangeByScore {
        min: Bound::NegInf,
        max: Bound::Exclusive(before),
        rev: true,
        limit: Some((0, u64::from(limit) + 1)),
    }
}

/// Parses members (newest first, as the queries above return them) into ascending messages.
/// Members that are not valid message JSON are skipped rather than failing the whole page: one
/// corrupt entry must not make a room unreadable.
pub fn parse_newest_first(members: Vec<Vec<u8>>) -> Vec<Message> {
    let mut messages: Vec<Message> = members
        .iter()
        .filter_map(|member| serde_json::from_slice(member).ok())
        .collect();
    messages.reverse();
    messages
}

/// Turns the reply to [`history_query`] into a page of at most `limit` messages.
pub fn history_page(members: Vec<Vec<u8>>, limit: u32) -> HistoryPage {
    let has_more = members.len() > limit as usize;
    let mut members = members;
    members.truncate(limit as usize);
    HistoryPage {
        messages: parse_newest_first(members),
        has_more,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn message(seq: i64) -> Message {
        Message {
            seq,
            client_id: format!("client-{seq:04}"),
            user_id: "user-0001".into(),
            name: "a".into(),
            text: "t".into(),
            ts: seq,
            ..Default::default()
        }
    }

    #[test]
    fn history_page_detects_more_and_skips_corrupt_members() {
        let members = vec![
            message(5).to_json().into_bytes(),
            b"not json".to_vec(),
            message(3).to_json().into_bytes(),
            message(2).to_json().into_bytes(),
        ];
        let page = history_page(members, 3);
        assert!(page.has_more);
        assert_eq!(page.messages, vec![message(3), message(5)]);
    }
}
