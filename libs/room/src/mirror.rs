//! The mirror: what the log ([`crate::wal`]) committed, written to Redis in revision order, in
//! batches, off the delivery path, so external readers and older history pages find it there in
//! the layout they always had (`chat:{room}:messages`, `chat:{room}:ids`, and the reactions in
//! `chat:{room}:reactions`, see [`crate::store`]).
//!
//! Passes start at most every [`MIRROR_EVERY_MS`], so a busy room writes many messages at once.
//! A batch is idempotent: the script puts each row's message at its `seq` in place of whatever
//! member was there, so Redis holds each message once, as it is now, and a batch replayed after
//! a timeout (that Redis may have applied) or by a restarted room changes nothing. The log holds
//! each message once, as it is now, so a replay never writes an older state over a newer one.
//! The mirror never reads a member back and never orders by what Redis holds, so a member it
//! cannot read (a manual write, a schema change) cannot wedge it. Failures back off
//! (1 s doubling to 30 s) and are retried by the Durable Object's alarm, so the mirror finishes
//! after everyone has left and across evictions and restarts.

use crate::store::{dedupe_id, ids_key, key, reactions_key};
use protocol::Message;
use serde::Serialize;
use upstash::{Command, Value};

/// Messages per mirror write (bounds the request: 50 × ~16 KiB < 1 MiB).
pub const MIRROR_BATCH: usize = 50;
/// The wait after the first failed mirror write; doubled per failure in a row.
pub const RETRY_FIRST_MS: i64 = 1_000;
/// The longest wait between mirror attempts.
pub const RETRY_MAX_MS: i64 = 30_000;
/// The mirror's mark (how far Redis has the log) is saved once this long (ms) has passed since
/// it was last saved, or once [`MARK_EVERY_ROWS`] rows were mirrored since, whichever comes
/// first. Saving is a storage write, which quiet rooms would otherwise pay once per message. An
/// instance that goes away loses at most that much of the mark, and its successor writes those
/// rows again, which changes nothing there.
pub const MARK_EVERY_MS: i64 = 10_000;
/// See [`MARK_EVERY_MS`]: a busy room's successor must not count more than this as a backlog to
/// replay, since the backlog cap (`MIRROR_BACKLOG_MAX`) refuses sends past it.
pub const MARK_EVERY_ROWS: usize = 1_000;
/// A pass starts at most this often (ms), so a busy room mirrors many messages per write
/// rather than one: Redis (Upstash bills per command) and the Worker (a `fetch` is its most
/// expensive call) see a write per this interval, and Redis is that much further behind.
pub const MIRROR_EVERY_MS: i64 = 200;

/// Writes a batch to Redis. `KEYS[1]` = messages, `KEYS[2]` = ids, `KEYS[3]` = reactions;
/// `ARGV[1]` = how many messages to keep; then four arguments per message: `seq`, dedupe id,
/// JSON, and its reactions' JSON (empty when it has none). Each message replaces the member at
/// its `seq` (`ZREMRANGEBYSCORE`, then one `ZADD` per set for the batch); its reactions are the
/// field `seq` of the hash, removed when none are left, and with the messages trimmed away.
/// Returns how many rows it wrote.
pub const MIRROR_SCRIPT: &str = r#"
local keep = tonumber(ARGV[1])
local messages, members = {}, {}
for i = 2, #ARGV, 4 do
  local seq, reactions = ARGV[i], ARGV[i + 3]
  redis.call('ZREMRANGEBYSCORE', KEYS[1], seq, seq)
  messages[#messages + 1] = seq
  messages[#messages + 1] = ARGV[i + 2]
  members[#members + 1] = seq
  members[#members + 1] = ARGV[i + 1]
  if reactions == '' then
    redis.call('HDEL', KEYS[3], seq)
  else
    redis.call('HSET', KEYS[3], seq, reactions)
  end
end
if #messages == 0 then return 0 end
redis.call('ZADD', KEYS[1], unpack(messages))
redis.call('ZADD', KEYS[2], unpack(members))
local old = redis.call('ZRANGE', KEYS[1], 0, -(keep + 1), 'WITHSCORES')
for n = 2, #old, 2 do redis.call('HDEL', KEYS[3], old[n]) end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(keep + 1))
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(keep + 1))
return #messages / 2
"#;

/// A committed message as the log holds it and the mirror sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorRow {
    pub seq: i64,
    /// The dedupe id, `user_id:client_id`.
    pub id: String,
    /// The message's JSON, as it is now.
    pub json: String,
    /// The revision of its last change.
    pub rev: i64,
}

impl MirrorRow {
    /// The JSON array of the message's reactions as the reactions hash holds them, empty when
    /// it has none. Read from the JSON: a row that does not read has none (it cannot be one the
    /// log wrote, and it must not stop the mirror).
    pub fn reactions(&self) -> String {
        #[derive(serde::Deserialize)]
        struct Reactions {
            #[serde(default)]
            reactions: Vec<protocol::Reaction>,
        }
        match serde_json::from_str::<Reactions>(&self.json) {
            Ok(Reactions { reactions }) if !reactions.is_empty() => {
                serde_json::to_string(&reactions).unwrap_or_default()
            }
            _ => String::new(),
        }
    }
}

impl From<&Message> for MirrorRow {
    fn from(message: &Message) -> Self {
        Self {
            seq: message.seq,
            id: dedupe_id(&message.user_id, &message.client_id),
            json: message.to_json(),
            rev: message.rev(),
        }
    }
}

/// The `EVAL` that mirrors `rows` (in revision order) of `room`, keeping `history_limit` in
/// Redis.
pub fn mirror_command(room: &str, rows: &[MirrorRow], history_limit: usize) -> Command {
    let mut command = Command::new("EVAL")
        .arg(MIRROR_SCRIPT)
        .arg(3)
        .arg(key(room))
        .arg(ids_key(room))
        .arg(reactions_key(room))
        .arg(history_limit.max(1));
    for row in rows {
        command = command
            .arg(row.seq)
            .arg(&row.id)
            .arg(&row.json)
            .arg(row.reactions());
    }
    command
}

/// How many messages the script added, from its reply.
pub fn parse_mirror_reply(reply: &Value) -> Option<i64> {
    match reply {
        Value::Int(n) => Some(*n),
        _ => None,
    }
}

/// How far Redis is behind a room's log: what `GET /api/rooms/{room}/health` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MirrorStatus {
    /// Whether the room's log has been started (a room never used has none).
    pub started: bool,
    /// The highest revision committed to the log (the `seq` of the newest message, or the
    /// revision of a later change).
    pub committed_seq: i64,
    /// The highest revision written to Redis.
    pub mirrored_seq: i64,
    /// Messages committed and not yet in Redis.
    pub backlog: usize,
    /// How long the oldest of those has waited, in ms (0 when none waits).
    pub lag_ms: i64,
    /// Mirror writes that failed in a row (0 when the last one caught up).
    pub failures: u32,
    /// What the log cost the object's storage since this instance started.
    pub storage: crate::wal::StorageUsage,
}

/// When the mirror's mark is saved ([`MARK_EVERY_MS`], [`MARK_EVERY_ROWS`]): the instance's
/// memory, so a new instance saves on its first write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarkSchedule {
    saved_at: i64,
    unsaved: usize,
}

impl MarkSchedule {
    /// The mirror wrote `rows` more rows at `now`: whether to save the mark now. Once it says
    /// so, it counts the mark as saved.
    pub fn wrote(&mut self, now: i64, rows: usize) -> bool {
        self.unsaved += rows;
        let save = now - self.saved_at >= MARK_EVERY_MS || self.unsaved >= MARK_EVERY_ROWS;
        if save {
            self.saved_at = now;
            self.unsaved = 0;
        }
        save
    }
}

/// Whether a mirror pass starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Run it now.
    Run,
    /// One is under way; it takes what was committed meanwhile.
    Busy,
    /// Backing off after a failure until this time: make sure the alarm is set for it (an
    /// alarm may fire a little before its time, or have been lost with an instance).
    Wait(i64),
    /// The last pass started less than [`MIRROR_EVERY_MS`] ago: start one at this time.
    Soon(i64),
}

/// When the mirror writes: at most one write at a time, and after a failure not before the
/// backoff has passed. Time is an argument; the Durable Object runs the writes and the alarm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorSchedule {
    running: bool,
    failures: u32,
    retry_at: Option<i64>,
    started_at: Option<i64>,
}

impl MirrorSchedule {
    /// Whether a mirror pass may start at `now`; if so it counts as running until
    /// [`MirrorSchedule::finished`].
    pub fn start(&mut self, now: i64) -> Start {
        if self.running {
            return Start::Busy;
        }
        if let Some(at) = self.retry_at.filter(|at| now < *at) {
            return Start::Wait(at);
        }
        if let Some(at) = self
            .started_at
            .map(|started| started + MIRROR_EVERY_MS)
            .filter(|at| now < *at)
        {
            return Start::Soon(at);
        }
        self.running = true;
        self.started_at = Some(now);
        Start::Run
    }

    /// The pass ended at `now`, having caught up (`ok`) or failed. After a failure, returns
    /// when to try again (for the alarm).
    pub fn finished(&mut self, now: i64, ok: bool) -> Option<i64> {
        self.running = false;
        if ok {
            self.failures = 0;
            self.retry_at = None;
            return None;
        }
        let doublings = self.failures.min(16);
        self.failures = self.failures.saturating_add(1);
        let wait = RETRY_FIRST_MS
            .saturating_mul(1_i64 << doublings)
            .min(RETRY_MAX_MS);
        let at = now + wait;
        self.retry_at = Some(at);
        Some(at)
    }

    /// Failed passes in a row (0 when the last one caught up).
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_is_saved_every_ten_seconds_or_thousand_rows() {
        let mut marks = MarkSchedule::default();
        assert!(marks.wrote(50_000, 1), "a new instance saves at once");
        assert!(!marks.wrote(50_200, 10));
        assert!(!marks.wrote(59_999, 10));
        assert!(marks.wrote(60_000, 1), "ten seconds on");
        assert!(!marks.wrote(60_100, 999));
        assert!(marks.wrote(60_200, 1), "a thousand rows on");
    }

    #[test]
    fn passes_start_at_most_every_200_ms() {
        let mut schedule = MirrorSchedule::default();
        assert_eq!(schedule.start(1_000), Start::Run);
        assert_eq!(schedule.finished(1_010, true), None);
        assert_eq!(schedule.start(1_050), Start::Soon(1_200));
        assert_eq!(schedule.start(1_199), Start::Soon(1_200));
        assert_eq!(schedule.start(1_200), Start::Run);
        assert_eq!(schedule.start(1_201), Start::Busy);
    }

    #[test]
    fn one_pass_at_a_time_and_failures_back_off_up_to_half_a_minute() {
        let mut schedule = MirrorSchedule::default();
        assert_eq!(schedule.start(0), Start::Run);
        assert_eq!(schedule.start(1), Start::Busy, "one pass at a time");
        assert_eq!(schedule.finished(10, false), Some(1_010));
        assert_eq!(
            schedule.start(1_009),
            Start::Wait(1_010),
            "not before the backoff"
        );
        assert_eq!(schedule.start(1_010), Start::Run);
        assert_eq!(schedule.finished(1_010, false), Some(3_010));
        let mut now = 3_010;
        for _ in 0..10 {
            assert_eq!(schedule.start(now), Start::Run);
            now = schedule.finished(now, false).unwrap_or(0);
        }
        assert_eq!(schedule.start(now), Start::Run);
        assert_eq!(schedule.finished(now, false), Some(now + RETRY_MAX_MS));
        assert_eq!(schedule.start(now + RETRY_MAX_MS), Start::Run);
        assert_eq!(schedule.finished(now + RETRY_MAX_MS, true), None);
        assert_eq!(schedule.failures(), 0);
        assert_eq!(
            schedule.start(now + RETRY_MAX_MS + MIRROR_EVERY_MS),
            Start::Run,
            "caught up: no backoff"
        );
    }

    #[test]
    fn the_mirror_write_is_one_eval_with_three_args_per_message() {
        let mut message = Message {
            seq: 7,
            client_id: "c1".into(),
            user_id: "u1".into(),
            name: "a".into(),
            text: "hi".into(),
            ts: 7,
            ..Default::default()
        };
        let plain = MirrorRow::from(&message);
        message.reactions = vec![protocol::Reaction {
            emoji: "👍".into(),
            user_ids: vec!["u2".into()],
        }];
        message.rev = Some(9);
        let reacted = MirrorRow::from(&message);
        let command = mirror_command("lobby", &[plain, reacted], 100);
        let parts = command.parts();
        assert_eq!(parts.len(), 15);
        assert_eq!(parts[0], "EVAL");
        assert_eq!(parts[2], "3");
        assert_eq!(parts[3], "chat:lobby:messages");
        assert_eq!(parts[5], "chat:lobby:reactions");
        assert_eq!(parts[6], "100");
        assert_eq!(parts[8], "u1:c1");
        assert_eq!(parts[10], "", "no reactions");
        assert_eq!(parts[14], r#"[{"emoji":"👍","user_ids":["u2"]}]"#);
    }
}
