//! How a room lives in Redis: one sorted set per room, `chat:{room}:messages`, score = `seq`,
//! member = the message's JSON. These functions build the Upstash commands and read their
//! replies; the Worker sends them. Keeping them here puts the storage schema next to the logic
//! that relies on it.

use protocol::{HistoryPage, Message};
use upstash::{Bound, Command, ZRangeByScore};

/// The Redis key of a room's messages.
pub fn key(room: &str) -> String {
    format!("chat:{room}:messages")
}

/// The transaction that stores a batch and trims the room to `history_limit` messages.
pub fn write_commands(room: &str, messages: &[Message], history_limit: usize) -> Vec<Command> {
    let key = key(room);
    let members: Vec<(i64, String)> = messages.iter().map(|m| (m.seq, m.to_json())).collect();
    let keep = i64::try_from(history_limit).unwrap_or(i64::MAX);
    vec![
        Command::zadd(
            &key,
            members.iter().map(|(seq, json)| (*seq, json.as_str())),
        ),
        // Ranks 0 .. -(keep + 1) are everything but the newest `keep`.
        Command::zremrangebyrank(&key, 0, -(keep.saturating_add(1))),
    ]
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
        }
    }

    #[test]
    fn write_adds_and_trims_in_one_transaction() {
        let commands = write_commands("lobby", &[message(1), message(2)], 10_000);
        let parts: Vec<Vec<String>> = commands.iter().map(|c| c.parts().to_vec()).collect();
        assert_eq!(
            parts,
            vec![
                vec![
                    "ZADD".to_owned(),
                    "chat:lobby:messages".into(),
                    "1".into(),
                    message(1).to_json(),
                    "2".into(),
                    message(2).to_json(),
                ],
                vec![
                    "ZREMRANGEBYRANK".to_owned(),
                    "chat:lobby:messages".into(),
                    "0".into(),
                    "-10001".into(),
                ],
            ]
        );
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
