//! How a room lives in Redis: two sorted sets per room, scored by `seq`.
//! - `chat:{room}:messages`: member = the message's JSON;
//! - `chat:{room}:ids`: member = `user_id:client_id`, the dedupe key of each stored message.
//!
//! Both are written and trimmed together by one Lua script ([`WRITE_SCRIPT`]), so Redis itself
//! enforces exactly-once within the newest `history_limit` messages and refuses writes that
//! would interleave with newer ones (fencing). These functions build the Upstash commands and
//! read their replies; the Worker sends them. Keeping them here puts the storage schema next to
//! the logic that relies on it.

use crate::Batch;
use protocol::{HistoryPage, Message};
use upstash::{Bound, Command, Value, ZRangeByScore};

/// The Redis key of a room's messages.
pub fn key(room: &str) -> String {
    format!("chat:{room}:messages")
}

/// The Redis key of a room's dedupe ids (`user_id:client_id`, scored by the message's `seq`).
pub fn ids_key(room: &str) -> String {
    format!("chat:{room}:ids")
}

/// The dedupe key of a message: a `client_id` is unique per user, not per room, so two users
/// choosing the same `client_id` never hide each other's messages.
pub fn dedupe_id(user_id: &str, client_id: &str) -> String {
    format!("{user_id}:{client_id}")
}

/// Stores one batch atomically. `KEYS[1]` = messages, `KEYS[2]` = ids; `ARGV[1]` = how many
/// messages to keep, `ARGV[2]` = the highest `seq` the room believes stored (`prev`); then three
/// arguments per message: `seq`, dedupe id, JSON.
///
/// - Fencing: unless the store's highest `seq` is exactly `prev` and the batch's first `seq` is
///   above it, nothing is written and the reply is `{"fenced", highest}`. So a write that
///   arrives late (after the room gave up on it and moved on) or one from a second instance of
///   the room can never interleave with, or slip under, messages the writer has not seen.
/// - Dedupe: a message whose dedupe id is stored is skipped; its reply entry is the stored JSON
///   (or its `seq`, should the JSON be gone), so the room can answer with what Redis holds.
/// - Otherwise the message is added (reply entry `0`), and both sets are trimmed to the newest
///   `keep`, so the dedupe window is exactly the history kept.
///
/// A batch costs Redis a fixed number of commands (one `ZMSCORE` for all its ids, one `ZADD` per
/// set), plus one lookup per duplicate: the cost per message falls as batches grow.
pub const WRITE_SCRIPT: &str = r#"
local keep = tonumber(ARGV[1])
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local highest = newest[2] or '0'
if tonumber(highest) ~= tonumber(ARGV[2]) or tonumber(ARGV[3]) <= tonumber(highest) then
  return {'fenced', highest}
end
local ids = {}
for i = 4, #ARGV, 3 do ids[#ids + 1] = ARGV[i] end
local stored = redis.call('ZMSCORE', KEYS[2], unpack(ids))
local out, messages, members, batch = {'ok'}, {}, {}, {}
for n = 1, #ids do
  local seq, id, json = ARGV[3 * n], ids[n], ARGV[3 * n + 2]
  if stored[n] then
    local found = redis.call('ZRANGEBYSCORE', KEYS[1], stored[n], stored[n])
    out[#out + 1] = found[1] or stored[n]
  elseif batch[id] then
    out[#out + 1] = batch[id]
  else
    batch[id] = json
    messages[#messages + 1] = seq
    messages[#messages + 1] = json
    members[#members + 1] = seq
    members[#members + 1] = id
    out[#out + 1] = 0
  end
end
if #messages > 0 then
  redis.call('ZADD', KEYS[1], unpack(messages))
  redis.call('ZADD', KEYS[2], unpack(members))
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(keep + 1))
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(keep + 1))
return out
"#;

/// What the write script did with a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The batch was considered, message by message, in order.
    Applied(Vec<Written>),
    /// Nothing was written: the store already holds `highest` ≥ the batch's first `seq`.
    Fenced { highest: i64 },
}

/// What became of one message of an applied batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Stored now, with the `seq` the room gave it.
    Stored,
    /// Already stored (same user and `client_id`) at `seq`; `message` is what Redis holds, when
    /// it could be read back.
    Duplicate { seq: i64, message: Option<Message> },
}

/// The reply of the write script was not what [`WRITE_SCRIPT`] returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected reply to the write script: {0}")]
pub struct BadReply(pub String);

/// The `EVAL` that stores a batch (see [`WRITE_SCRIPT`]).
pub fn write_command(batch: &Batch, history_limit: usize) -> Command {
    let mut command = Command::new("EVAL")
        .arg(WRITE_SCRIPT)
        .arg(2)
        .arg(key(&batch.room))
        .arg(ids_key(&batch.room))
        .arg(history_limit.max(1))
        .arg(batch.prev);
    for message in &batch.messages {
        command = command
            .arg(message.seq)
            .arg(dedupe_id(&message.user_id, &message.client_id))
            .arg(message.to_json());
    }
    command
}

/// Reads the reply of [`write_command`] for a batch of `count` messages.
pub fn parse_write_reply(reply: Value, count: usize) -> Result<WriteOutcome, BadReply> {
    let bad = |what: &str| BadReply(what.to_owned());
    let Value::Array(items) = reply else {
        return Err(bad("not an array"));
    };
    let mut items = items.into_iter();
    match items.next() {
        Some(Value::Bytes(status)) if status == b"fenced" => {
            let highest = items
                .next()
                .and_then(int)
                .ok_or_else(|| bad("fenced without a seq"))?;
            Ok(WriteOutcome::Fenced { highest })
        }
        Some(Value::Bytes(status)) if status == b"ok" => {
            let written = items
                .map(|item| match item {
                    Value::Int(0) => Ok(Written::Stored),
                    Value::Bytes(bytes) if bytes.first() == Some(&b'{') => {
                        let message: Message = serde_json::from_slice(&bytes)
                            .map_err(|e| BadReply(format!("stored message: {e}")))?;
                        Ok(Written::Duplicate {
                            seq: message.seq,
                            message: Some(message),
                        })
                    }
                    other => int(other)
                        .map(|seq| Written::Duplicate { seq, message: None })
                        .ok_or_else(|| bad("an entry is neither 0, JSON nor a seq")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            if written.len() == count {
                Ok(WriteOutcome::Applied(written))
            } else {
                Err(BadReply(format!(
                    "{} entries for {count} messages",
                    written.len()
                )))
            }
        }
        _ => Err(bad("no status")),
    }
}

/// An integer reply, or a score Redis returned as a string.
fn int(value: Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(n),
        Value::Bytes(bytes) => {
            let text = std::str::from_utf8(&bytes).ok()?;
            text.parse::<i64>()
                .ok()
                .or_else(|| text.parse::<f64>().ok().map(|f| f as i64))
        }
        _ => None,
    }
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
    fn write_is_one_eval_with_both_keys_and_three_args_per_message() {
        let batch = Batch {
            id: 1,
            room: "lobby".into(),
            prev: 0,
            messages: vec![message(1), message(2)],
        };
        let command = write_command(&batch, 10_000);
        let parts = command.parts();
        assert_eq!(parts[0], "EVAL");
        assert_eq!(parts[1], WRITE_SCRIPT);
        assert_eq!(
            parts[2..].to_vec(),
            vec![
                "2".to_owned(),
                "chat:lobby:messages".into(),
                "chat:lobby:ids".into(),
                "10000".into(),
                "0".into(),
                "1".into(),
                "user-0001:client-0001".into(),
                message(1).to_json(),
                "2".into(),
                "user-0001:client-0002".into(),
                message(2).to_json(),
            ]
        );
    }

    #[test]
    fn write_replies_are_read_strictly() {
        let bytes = |s: &str| Value::Bytes(s.as_bytes().to_vec());
        let reply = Value::Array(vec![
            bytes("ok"),
            Value::Int(0),
            bytes(&message(1).to_json()),
            bytes("7"),
        ]);
        assert_eq!(
            parse_write_reply(reply, 3),
            Ok(WriteOutcome::Applied(vec![
                Written::Stored,
                Written::Duplicate {
                    seq: 1,
                    message: Some(message(1))
                },
                Written::Duplicate {
                    seq: 7,
                    message: None
                },
            ]))
        );
        assert_eq!(
            parse_write_reply(Value::Array(vec![bytes("fenced"), bytes("42")]), 2),
            Ok(WriteOutcome::Fenced { highest: 42 })
        );
        for (bad, count) in [
            (Value::Int(1), 1),
            (Value::Array(vec![]), 1),
            (Value::Array(vec![bytes("ok"), Value::Int(0)]), 2),
            (Value::Array(vec![bytes("ok"), bytes("{not json")]), 1),
            (Value::Array(vec![bytes("fenced")]), 1),
        ] {
            assert!(parse_write_reply(bad.clone(), count).is_err(), "{bad:?}");
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
