//! The room's write-ahead log: its messages, with their dedupe ids, in the Durable Object's own
//! SQLite storage. A batch is committed there before anyone sees it; Redis is a mirror of it,
//! written off the delivery path ([`crate::mirror`]).
//!
//! The log keeps the write contract the room core was built on when Redis was its store: a batch
//! is refused whole (fenced) unless it follows exactly the highest revision committed, and a
//! message whose (`user_id`, `client_id`) is committed is answered with the committed copy
//! instead of being stored again. This module builds the SQL and decides; the
//! Durable Object runs the statements (synchronously: SQLite storage is local) and nothing else.
//!
//! One table holds everything, so that a message and its dedupe id are one row:
//! `messages (seq, id, at, json, rev, acts)`, `id` unique (`user_id:client_id`), `at` the commit
//! time, `json` the message as it is now, `rev` the room's revision of its last change (its
//! `seq` until it changes; the room's one counter: new messages take it as their `seq`, edits,
//! deletions, reactions and rewritten quotes take it as their `rev`) and `acts` the ids of the
//! actions applied to it ([`MIGRATION`]). A batch is one statement
//! that inserts its new rows and replaces its changed ones, passed as one JSON argument
//! (statements take at most [`MAX_ARGS`] arguments): one statement is one transaction, so a
//! commit that fails wrote nothing, which the room core relies on. A row leaves only when it is
//! mirrored to Redis, older than the dedupe window, and not among the newest `keep` (the hot
//! window that serves welcomes, resumes and recent history).

use crate::store::{WriteOutcome, Written, dedupe_id};
use crate::{Batch, StoreFailure};
use protocol::Message;
use std::collections::HashMap;

/// The statements that make the log's tables as they were first made; each is harmless when
/// they exist. [`MIGRATION`] brings them to [`SCHEMA_VERSION`].
pub const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, \
     at INTEGER NOT NULL, json TEXT NOT NULL)",
    // Values are integers but for [`ROOM`], a text: no declared type, so neither is converted.
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value NOT NULL)",
];

/// The `meta` key of the schema's version; absent in logs made before messages could change.
pub const SCHEMA_KEY: &str = "schema";
/// The version [`MIGRATION`] brings the log to.
pub const SCHEMA_VERSION: i64 = 3;
/// Rows without a revision take their `seq`: the rows written before revisions, and any an
/// older version writes after a rollback (the adapter runs it on every start).
pub const BACKFILL_REV: &str = "UPDATE messages SET rev = seq WHERE rev IS NULL";
/// The statements from the first schema to [`SCHEMA_VERSION`], run in order when the version is
/// below: each row gains its revision (indexed, since the mirror reads in revision order) and
/// `acts`, the actions applied to the message (`[[dedupe id, commit time], …]`, the newest
/// [`ACTS_KEPT`] within the dedupe window), so a retry is recognised across restarts. A column
/// is added by a statement of its own, which fails when a migration that stopped half way added
/// it already; the adapter reads that failure as done.
pub const MIGRATION: [&str; 4] = [
    "ALTER TABLE messages ADD COLUMN rev INTEGER",
    "ALTER TABLE messages ADD COLUMN acts TEXT",
    BACKFILL_REV,
    "CREATE INDEX IF NOT EXISTS messages_rev ON messages (rev)",
];

/// Actions remembered per message (the newest), within the dedupe window.
pub const ACTS_KEPT: usize = 16;

/// The `meta` key of the room's name, which the mirror needs when an alarm wakes the object with
/// nobody connected.
pub const ROOM: &str = "room";
/// The `meta` key of the highest revision the mirror has written to Redis, as last saved: at
/// most every [`crate::mirror::MARK_EVERY_MS`], so it may lag what Redis holds (the mirror then
/// writes some rows again, which changes nothing there). Logs before revisions saved a `seq`
/// here, which is the revision of every row they hold.
pub const MIRRORED: &str = "mirrored";
/// The `meta` key set once the log has been started: from Redis's tail (a room that lived in
/// Redis before the log existed) or empty. Its value is 1 when the log holds the room's whole
/// history, 0 when older messages are only in Redis.
pub const STARTED: &str = "started";

/// How big the log may grow and how long it remembers ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalLimits {
    /// Messages committed but not yet mirrored to Redis, at most (`MIRROR_BACKLOG_MAX`). Past
    /// it, sends are refused with `store_unavailable` (nothing is lost: the client retries)
    /// until the mirror catches up.
    pub backlog_max: usize,
    /// How long a committed id is remembered, so a retry of it is answered rather than stored
    /// again. It covers the client's confirmation window with room to spare.
    pub dedupe_window_ms: i64,
    /// Rows the log holds at most (ids within the window included). At the bound, sends are
    /// refused with `store_unavailable` rather than an id forgotten early: exactly-once holds
    /// over the whole window, and a flood slows to what the window can hold.
    pub rows_max: usize,
    /// The newest messages always kept (the hot window), mirrored or not.
    pub keep: usize,
}

impl Default for WalLimits {
    fn default() -> Self {
        Self {
            backlog_max: 10_000,
            // Twice the client's one-hour confirmation window.
            dedupe_window_ms: 2 * 60 * 60 * 1000,
            rows_max: 200_000,
            keep: 1_000,
        }
    }
}

/// What the room's log cost the Durable Object's storage since the instance started: rows read
/// and written are what Cloudflare bills, and messages per commit show the group commit at work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StorageUsage {
    /// Statements run.
    pub statements: u64,
    pub rows_read: u64,
    pub rows_written: u64,
    /// Batches committed, and the messages they held.
    pub commits: u64,
    pub messages_committed: u64,
    /// The object's whole SQLite database, in bytes.
    pub database_bytes: u64,
}

/// What the log holds that a commit decision needs, read in the same synchronous turn as the
/// write that follows, so nothing changes in between.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The highest committed revision (0 when empty).
    pub highest: i64,
    /// Committed rows whose id one of the batch's messages has: id → (`seq`, JSON).
    pub existing: HashMap<String, (i64, String)>,
    /// Rows above the mirrored mark.
    pub unmirrored: usize,
    /// Rows in all.
    pub rows: usize,
}

/// What to do with a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commit {
    /// Write these new messages and changed ones ([`write_statement`]), then answer the room
    /// `outcome`.
    Write {
        messages: Vec<Message>,
        changes: Vec<Message>,
        outcome: WriteOutcome,
    },
    /// Write nothing; answer the room this.
    Answer(Result<WriteOutcome, StoreFailure>),
}

/// Decides what becomes of `batch` given what the log holds.
pub fn decide(batch: &Batch, snapshot: &Snapshot, limits: &WalLimits) -> Commit {
    let first = batch.messages.first().map_or(i64::MAX, |m| m.seq);
    if snapshot.highest != batch.prev || first <= snapshot.highest {
        return Commit::Answer(Ok(WriteOutcome::Fenced {
            highest: snapshot.highest,
        }));
    }
    let mut fresh: Vec<Message> = Vec::new();
    let mut written = Vec::with_capacity(batch.messages.len());
    for message in &batch.messages {
        let id = dedupe_id(&message.user_id, &message.client_id);
        if let Some((seq, json)) = snapshot.existing.get(&id) {
            written.push(Written::Duplicate {
                seq: *seq,
                message: serde_json::from_str(json).ok().map(Box::new),
            });
        } else if let Some(earlier) = fresh
            .iter()
            .find(|m| m.user_id == message.user_id && m.client_id == message.client_id)
        {
            written.push(Written::Duplicate {
                seq: earlier.seq,
                message: Some(Box::new(earlier.clone())),
            });
        } else {
            fresh.push(message.clone());
            written.push(Written::Stored);
        }
    }
    let rows = fresh.len() + batch.changes.len() + batch.touched.len();
    if snapshot.unmirrored + rows > limits.backlog_max {
        return Commit::Answer(Err(StoreFailure::Unavailable(format!(
            "{} messages wait to be mirrored to Redis (at most {})",
            snapshot.unmirrored, limits.backlog_max
        ))));
    }
    if snapshot.rows + fresh.len() > limits.rows_max {
        return Commit::Answer(Err(StoreFailure::Unavailable(format!(
            "the log holds {} messages within the dedupe window (at most {})",
            snapshot.rows, limits.rows_max
        ))));
    }
    if rows == 0 {
        return Commit::Answer(Ok(WriteOutcome::Applied(written)));
    }
    Commit::Write {
        messages: fresh,
        changes: batch.changes.clone(),
        outcome: WriteOutcome::Applied(written),
    }
}

/// A SQL statement with its arguments, in the order of its `?`s.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub args: Vec<Arg>,
}

/// A SQL argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(i64),
    Text(String),
}

/// Bound arguments one statement may carry in Durable Object SQLite. A batch's rows travel as
/// one JSON argument instead, read back with `json_each`, so that a batch is one statement
/// however large. An argument may be up to 2 MB there; a batch is at most 50 messages of at most
/// 4 KB of text, under 1.5 MB even with every character escaped twice.
pub const MAX_ARGS: usize = 100;

/// The highest committed revision (0 when the log is empty).
pub fn highest_statement() -> Statement {
    Statement {
        sql: "SELECT COALESCE(MAX(rev), 0) FROM messages".into(),
        args: Vec::new(),
    }
}

/// The committed rows with one of the batch's ids (`seq`, `id`, `json`, `rev`), for its
/// [`Snapshot::existing`]: one statement, the ids as one JSON array.
pub fn existing_statement(batch: &Batch) -> Statement {
    let ids: Vec<String> = batch
        .messages
        .iter()
        .map(|m| dedupe_id(&m.user_id, &m.client_id))
        .collect();
    Statement {
        sql: "SELECT seq, id, json, rev FROM messages WHERE id IN \
              (SELECT value FROM json_each(?))"
            .into(),
        args: vec![Arg::Text(serde_json::Value::from(ids).to_string())],
    }
}

/// How many rows changed after revision `mirrored`.
pub fn unmirrored_count_statement(mirrored: i64) -> Statement {
    Statement {
        sql: "SELECT COUNT(*) FROM messages WHERE rev > ?".into(),
        args: vec![Arg::Int(mirrored)],
    }
}

/// How many rows the log holds.
pub fn row_count_statement() -> Statement {
    Statement {
        sql: "SELECT COUNT(*) FROM messages".into(),
        args: Vec::new(),
    }
}

/// The rows of `messages` as one JSON argument, `[[seq, id, json, rev, acts], ...]`
/// ([`MAX_ARGS`] says why); `acts` is the message's new list of actions (see [`MIGRATION`])
/// from `acts`, or `null` to leave it as it is.
fn rows_argument<'a>(
    messages: impl IntoIterator<Item = &'a Message>,
    acts: &[(i64, String)],
) -> Arg {
    let rows: Vec<serde_json::Value> = messages
        .into_iter()
        .map(|m| {
            let id = dedupe_id(&m.user_id, &m.client_id);
            let acts = acts.iter().find(|(seq, _)| *seq == m.seq).map(|(_, a)| a);
            serde_json::json!([m.seq, id, m.to_json(), m.rev(), acts])
        })
        .collect();
    Arg::Text(serde_json::Value::from(rows).to_string())
}

/// The columns a row is written with, from the rows argument.
const ROW_COLUMNS: &str = "(seq, id, at, json, rev, acts) SELECT json_extract(value, '$[0]'), \
     json_extract(value, '$[1]'), ?, json_extract(value, '$[2]'), json_extract(value, '$[3]'), \
     json_extract(value, '$[4]') FROM json_each(?)";

/// The one statement of a batch, committed `at`: its new messages inserted, its changed ones
/// replaced (their JSON, revision and commit time) by `seq`, and the actions each acted-on
/// message has seen (`batch.acts`; `touched` are messages written only for those).
pub fn write_statement(
    messages: &[Message],
    changes: &[Message],
    batch: &Batch,
    at: i64,
) -> Statement {
    let rows = messages.iter().chain(changes).chain(&batch.touched);
    Statement {
        // `WHERE true` tells SQLite's parser that `ON CONFLICT` is the upsert clause.
        sql: format!(
            "INSERT INTO messages {ROW_COLUMNS} WHERE true ON CONFLICT (seq) DO UPDATE SET \
             json = excluded.json, rev = excluded.rev, at = excluded.at, \
             acts = COALESCE(excluded.acts, acts)"
        ),
        args: vec![Arg::Int(at), rows_argument(rows, &batch.acts)],
    }
}

/// The actions remembered for the messages from `seq` on (the tail's first): `seq`, `acts`.
pub fn acts_statement(seq: i64) -> Statement {
    Statement {
        sql: "SELECT seq, acts FROM messages WHERE seq >= ? AND acts IS NOT NULL".into(),
        args: vec![Arg::Int(seq)],
    }
}

/// The newest `count` messages, newest first (JSON).
pub fn tail_statement(count: usize) -> Statement {
    Statement {
        sql: "SELECT json FROM messages ORDER BY seq DESC LIMIT ?".into(),
        args: vec![Arg::Int(i64::try_from(count).unwrap_or(i64::MAX))],
    }
}

/// Up to `limit + 1` messages before `before`, newest first (JSON): one more than a page, to
/// learn whether older ones exist in the log.
pub fn history_statement(before: i64, limit: u32) -> Statement {
    Statement {
        sql: "SELECT json FROM messages WHERE seq < ? ORDER BY seq DESC LIMIT ?".into(),
        args: vec![Arg::Int(before), Arg::Int(i64::from(limit) + 1)],
    }
}

/// Up to `limit` rows changed after revision `mirrored` (the mirror's mark, as the instance
/// knows it), in revision order (`seq`, `id`, `json`, `rev`).
pub fn unmirrored_statement(mirrored: i64, limit: usize) -> Statement {
    Statement {
        sql: "SELECT seq, id, json, rev FROM messages WHERE rev > ? ORDER BY rev LIMIT ?".into(),
        args: vec![
            Arg::Int(mirrored),
            Arg::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
        ],
    }
}

/// The oldest commit time of the rows changed after `mirrored` (no row, or NULL, when none).
pub fn oldest_unmirrored_statement(mirrored: i64) -> Statement {
    Statement {
        sql: "SELECT MIN(at) FROM messages WHERE rev > ?".into(),
        args: vec![Arg::Int(mirrored)],
    }
}

/// Sets a `meta` value.
pub fn set_meta_statement(key: &str, value: Arg) -> Statement {
    Statement {
        sql: "INSERT INTO meta (key, value) VALUES (?, ?) \
              ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            .into(),
        args: vec![Arg::Text(key.into()), value],
    }
}

/// Reads a `meta` value (no row when unset).
pub fn get_meta_statement(key: &str) -> Statement {
    Statement {
        sql: "SELECT value FROM meta WHERE key = ?".into(),
        args: vec![Arg::Text(key.into())],
    }
}

/// Removes the rows the log no longer needs at `now`: mirrored, committed before the dedupe
/// window, and older than the newest `keep`. Returns the statement; the log then no longer
/// holds the room's whole history, which the caller records ([`STARTED`] = 0) when it removed
/// any row.
pub fn trim_statement(now: i64, limits: &WalLimits) -> Statement {
    Statement {
        sql:
            "DELETE FROM messages WHERE rev <= COALESCE((SELECT value FROM meta WHERE key = ?), 0) \
              AND at < ? AND seq < COALESCE((SELECT seq FROM messages ORDER BY seq DESC \
              LIMIT 1 OFFSET ?), 0)"
                .into(),
        args: vec![
            Arg::Text(MIRRORED.into()),
            Arg::Int(now.saturating_sub(limits.dedupe_window_ms)),
            Arg::Int(i64::try_from(limits.keep.saturating_sub(1)).unwrap_or(i64::MAX)),
        ],
    }
}

/// The rows of messages imported from Redis when the log starts in a room that lived there
/// before: they are mirrored already (they came from there), committed at `at`. Up to a
/// thousand messages, so in statements of 50 (each argument stays small); a start that fails
/// half way is done again, and rows already in are ignored.
pub fn import_statements(messages: &[Message], at: i64) -> Vec<Statement> {
    let mut statements: Vec<Statement> = messages
        .chunks(50)
        .map(|chunk| Statement {
            sql: format!("INSERT OR IGNORE INTO messages {ROW_COLUMNS}"),
            args: vec![Arg::Int(at), rows_argument(chunk, &[])],
        })
        .collect();
    let highest = messages.iter().map(Message::rev).max().unwrap_or(0);
    statements.push(set_meta_statement(MIRRORED, Arg::Int(highest)));
    statements
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn message(seq: i64, client_id: &str) -> Message {
        Message {
            seq,
            client_id: client_id.into(),
            user_id: "u1".into(),
            name: "alice".into(),
            text: format!("#{seq}"),
            ts: seq,
            ..Default::default()
        }
    }

    fn batch(prev: i64, messages: Vec<Message>) -> Batch {
        Batch {
            id: 1,
            room: "lobby".into(),
            prev,
            messages,
            changes: Vec::new(),
            touched: Vec::new(),
            acts: Vec::new(),
            wait_ms: 0,
        }
    }

    #[test]
    fn a_batch_follows_the_highest_seq_or_is_fenced() {
        let limits = WalLimits::default();
        let snapshot = Snapshot {
            highest: 10,
            ..Snapshot::default()
        };
        for prev in [9, 11] {
            assert_eq!(
                decide(&batch(prev, vec![message(12, "c1")]), &snapshot, &limits),
                Commit::Answer(Ok(WriteOutcome::Fenced { highest: 10 })),
                "prev {prev}"
            );
        }
        assert_eq!(
            decide(&batch(10, vec![message(10, "c1")]), &snapshot, &limits),
            Commit::Answer(Ok(WriteOutcome::Fenced { highest: 10 })),
            "a seq not above the highest"
        );
        assert_eq!(
            decide(&batch(10, vec![message(11, "c1")]), &snapshot, &limits),
            Commit::Write {
                messages: vec![message(11, "c1")],
                changes: Vec::new(),
                outcome: WriteOutcome::Applied(vec![Written::Stored]),
            }
        );
    }

    #[test]
    fn committed_ids_are_answered_with_the_committed_copy() {
        let limits = WalLimits::default();
        let old = message(5, "c1");
        let snapshot = Snapshot {
            highest: 10,
            existing: HashMap::from([("u1:c1".to_owned(), (5, old.to_json()))]),
            ..Snapshot::default()
        };
        let twice = batch(
            10,
            vec![message(11, "c1"), message(12, "c2"), message(13, "c2")],
        );
        assert_eq!(
            decide(&twice, &snapshot, &limits),
            Commit::Write {
                messages: vec![message(12, "c2")],
                changes: Vec::new(),
                outcome: WriteOutcome::Applied(vec![
                    Written::Duplicate {
                        seq: 5,
                        message: Some(Box::new(old))
                    },
                    Written::Stored,
                    Written::Duplicate {
                        seq: 12,
                        message: Some(Box::new(message(12, "c2")))
                    },
                ]),
            }
        );
    }

    #[test]
    fn the_backlog_and_the_row_bound_refuse_sends_and_lose_nothing() {
        let limits = WalLimits {
            backlog_max: 3,
            rows_max: 5,
            ..WalLimits::default()
        };
        let two = batch(10, vec![message(11, "a1"), message(12, "a2")]);
        let behind = Snapshot {
            highest: 10,
            unmirrored: 2,
            ..Snapshot::default()
        };
        assert!(matches!(
            decide(&two, &behind, &limits),
            Commit::Answer(Err(StoreFailure::Unavailable(_)))
        ));
        let full = Snapshot {
            highest: 10,
            rows: 4,
            ..Snapshot::default()
        };
        assert!(matches!(
            decide(&two, &full, &limits),
            Commit::Answer(Err(StoreFailure::Unavailable(_)))
        ));
        // Retries of committed messages are answered even at the bounds: they add no row.
        let retry = batch(10, vec![message(11, "old")]);
        let known = Snapshot {
            highest: 10,
            unmirrored: 3,
            rows: 5,
            existing: HashMap::from([("u1:old".to_owned(), (4, message(4, "old").to_json()))]),
        };
        assert!(matches!(
            decide(&retry, &known, &limits),
            Commit::Answer(Ok(WriteOutcome::Applied(_)))
        ));
    }

    #[test]
    fn a_batch_is_one_statement_whose_rows_are_one_json_argument() {
        let mut edited = message(5, "c0");
        edited.rev = Some(13);
        let mut acted = batch(10, Vec::new());
        acted.acts = vec![(5, r#"[["u2:a1",99]]"#.to_owned())];
        let insert = write_statement(
            &[message(11, "c1"), message(12, "c2")],
            std::slice::from_ref(&edited),
            &acted,
            99,
        );
        assert_eq!(insert.args.len(), 2);
        assert_eq!(insert.args[0], Arg::Int(99));
        let Arg::Text(rows) = &insert.args[1] else {
            panic!("the rows are not text: {:?}", insert.args[1]);
        };
        let rows: serde_json::Value = serde_json::from_str(rows).expect("rows are JSON");
        assert_eq!(
            rows,
            serde_json::json!([
                [11, "u1:c1", message(11, "c1").to_json(), 11, null],
                [12, "u1:c2", message(12, "c2").to_json(), 12, null],
                [5, "u1:c0", edited.to_json(), 13, r#"[["u2:a1",99]]"#],
            ])
        );
        let lookup = existing_statement(&batch(0, vec![message(11, "c1"), message(12, "c2")]));
        assert_eq!(lookup.args, vec![Arg::Text(r#"["u1:c1","u1:c2"]"#.into())]);
    }

    #[test]
    fn the_largest_batch_stays_under_the_storage_argument_bound() {
        // Fifty messages of the longest text, every byte one that JSON escapes, twice over.
        let worst = "\u{1}".repeat(protocol::TEXT_MAX_BYTES);
        let messages: Vec<Message> = (0..50)
            .map(|n| Message {
                text: worst.clone(),
                ..message(n, &format!("{n:0>64}"))
            })
            .collect();
        let insert = write_statement(&messages, &[], &batch(0, Vec::new()), 1);
        let Arg::Text(rows) = &insert.args[1] else {
            panic!("the rows are not text");
        };
        assert!(rows.len() < 2_000_000, "{} bytes", rows.len());
        let imports = import_statements(&messages, 1);
        assert!(imports.iter().all(|i| i.args.len() <= MAX_ARGS));
    }
}
