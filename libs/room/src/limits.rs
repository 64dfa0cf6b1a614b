//! The room's tunables, parsed strictly from Worker variables, and the token buckets that
//! rate-limit sends, typing and history per connection and requests per address.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A token bucket's shape: up to `burst` frames at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub burst: f64,
    pub per_second: f64,
}

impl RateLimit {
    /// Sends per connection: a burst of 10 (a reconnecting client flushing its outbox), then 5
    /// per second, far above what a person types.
    pub const SEND: RateLimit = RateLimit {
        burst: 10.0,
        per_second: 5.0,
    };
    /// Typing notifications per connection: clients send one when typing starts or stops and
    /// refresh it every few seconds.
    pub const TYPING: RateLimit = RateLimit {
        burst: 5.0,
        per_second: 1.0,
    };
    /// History requests per connection: scrolling back quickly through a few pages is fine; a
    /// loop that reads the whole room from the store is slowed to two pages a second.
    pub const HISTORY: RateLimit = RateLimit {
        burst: 10.0,
        per_second: 2.0,
    };
}

/// Everything about a room that is configured rather than decided.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomConfig {
    /// Messages kept in Redis per room (`HISTORY_LIMIT`); older ones are trimmed in each write.
    pub history_limit: usize,
    /// Newest messages kept in memory to serve welcomes, resumes, recent history and dedupe.
    pub tail_capacity: usize,
    /// The largest gap a resume sends; a larger one gets `reset: true` and the newest page.
    pub resume_max: usize,
    /// Most messages in one commit (bounds the statement's argument, see `wal::MAX_ARGS`, and
    /// the frame that delivers them).
    pub max_batch: usize,
    /// The longest a busy room gathers sends before it commits (group commit): a batch of `n`
    /// messages waits `n - 1` ms, up to this, so that the sends arriving meanwhile form one
    /// larger next batch. A lone message waits for nothing.
    pub commit_window_ms: u64,
    pub send_limit: RateLimit,
    pub typing_limit: RateLimit,
    /// `history` frames per connection.
    pub history_rate: RateLimit,
    /// Connections the room accepts at once (`MAX_CONNECTIONS`); more get `room_full`.
    pub max_connections: usize,
    /// Connections one address may hold in the room (`MAX_CONNECTIONS_PER_IP`).
    pub max_connections_per_ip: usize,
    /// New WebSockets per client address at the edge, across rooms (`SOCKET_BURST`,
    /// `SOCKET_PER_SECOND`).
    pub socket_rate: RateLimit,
    /// HTTP history pages per client address at the edge (`HTTP_HISTORY_BURST`,
    /// `HTTP_HISTORY_PER_SECOND`).
    pub http_history_rate: RateLimit,
    /// Rooms with at least this many members joined send typing notices in batches, one frame per
    /// member per tick (`TYPING_BATCH_MEMBERS`); smaller rooms send each notice at once.
    pub typing_batch_members: usize,
    /// How long a busy room gathers typing notices before it sends them.
    pub typing_tick_ms: i64,
    /// `retry_after_ms` given with `room_full`.
    pub full_retry_ms: u64,
    /// Frames held while the tail loads; more are refused with `rate_limited`.
    pub max_deferred: usize,
    /// `retry_after_ms` after the first store failure; doubled per consecutive failure.
    pub store_retry_ms: u64,
    /// The largest `retry_after_ms` for store failures.
    pub store_retry_max_ms: u64,
    /// How long one request to the store may take before it counts as unavailable
    /// (`STORE_TIMEOUT_MS`; tests shorten it).
    pub store_timeout_ms: u64,
    /// Messages committed to the room's log but not yet mirrored to Redis, at most
    /// (`MIRROR_BACKLOG_MAX`): past it, sends get `store_unavailable` until Redis catches up.
    pub mirror_backlog_max: usize,
    /// How long the room's log remembers a committed `client_id` (ms), told to clients in
    /// `welcome`: twice the web client's one-hour resend window.
    pub dedupe_window_ms: u64,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            history_limit: 10_000,
            tail_capacity: 1_000,
            resume_max: 500,
            max_batch: 50,
            commit_window_ms: 5,
            send_limit: RateLimit::SEND,
            typing_limit: RateLimit::TYPING,
            history_rate: RateLimit::HISTORY,
            max_connections: 1_000,
            max_connections_per_ip: 50,
            // A reconnecting client needs one socket; a script opening thousands is slowed at
            // the edge before it costs a room.
            socket_rate: RateLimit {
                burst: 20.0,
                per_second: 1.0,
            },
            // Each page may cost a store read: a loop must not exhaust the Upstash quota.
            http_history_rate: RateLimit {
                burst: 20.0,
                per_second: 5.0,
            },
            typing_batch_members: 50,
            typing_tick_ms: 500,
            full_retry_ms: 10_000,
            max_deferred: 1_000,
            store_retry_ms: 1_000,
            store_retry_max_ms: 8_000,
            store_timeout_ms: 10_000,
            mirror_backlog_max: 10_000,
            dedupe_window_ms: 2 * 60 * 60 * 1000,
        }
    }
}

/// A Worker variable that is set but not valid: the room refuses to run with it rather than
/// guess (a `HISTORY_LIMIT` of `0.5` once trimmed every message away).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} must be {expected}, got {value:?}")]
pub struct ConfigError {
    pub name: &'static str,
    pub expected: &'static str,
    pub value: String,
}

/// Every Worker variable the chat reads, as the README's table lists them (a test keeps the
/// two equal): the one list, which [`Config::from_vars`] reads and no other code does.
pub const VARIABLES: [Variable; 19] = [
    Variable::new(
        "UPSTASH_REDIS_REST_URL",
        "URL",
        "none",
        "the Upstash REST endpoint (required)",
    ),
    Variable::new(
        "UPSTASH_REDIS_REST_TOKEN",
        "secret",
        "none",
        "its token (required; a secret: `.dev.vars` locally, `wrangler secret put` in production)",
    ),
    Variable::new(
        "HISTORY_LIMIT",
        "integer ≥ 1",
        "10000",
        "messages kept per room in Redis",
    ),
    Variable::new(
        "ALLOWED_ORIGINS",
        "origins, comma-separated, or `*`",
        "none",
        "browser origins besides the Worker's own host that may open chat sockets",
    ),
    Variable::new(
        "MAX_CONNECTIONS",
        "integer ≥ 1",
        "1000",
        "connections per room",
    ),
    Variable::new(
        "MAX_CONNECTIONS_PER_IP",
        "integer ≥ 1",
        "50",
        "connections per address in one room",
    ),
    Variable::new(
        "TYPING_BATCH_MEMBERS",
        "integer ≥ 1",
        "50",
        "rooms this big send typing notices in batches, every half second",
    ),
    Variable::new(
        "MIRROR_BACKLOG_MAX",
        "integer ≥ 1",
        "10000",
        "messages committed but not yet in Redis before sends wait",
    ),
    Variable::new(
        "STORE_TIMEOUT_MS",
        "integer ≥ 1",
        "10000",
        "how long one Redis request may take",
    ),
    Variable::new(
        "SEND_BURST",
        "number ≥ 1",
        "10",
        "sends per connection at once",
    ),
    Variable::new("SEND_PER_SECOND", "number > 0", "5", "then per second"),
    Variable::new(
        "TYPING_BURST",
        "number ≥ 1",
        "5",
        "typing notices per connection at once",
    ),
    Variable::new("TYPING_PER_SECOND", "number > 0", "1", "then per second"),
    Variable::new(
        "HISTORY_BURST",
        "number ≥ 1",
        "10",
        "history pages per connection at once",
    ),
    Variable::new("HISTORY_PER_SECOND", "number > 0", "2", "then per second"),
    Variable::new(
        "SOCKET_BURST",
        "number ≥ 1",
        "20",
        "new sockets per address at the edge, at once",
    ),
    Variable::new("SOCKET_PER_SECOND", "number > 0", "1", "then per second"),
    Variable::new(
        "HTTP_HISTORY_BURST",
        "number ≥ 1",
        "20",
        "history pages and store health checks per address at the edge, at once",
    ),
    Variable::new(
        "HTTP_HISTORY_PER_SECOND",
        "number > 0",
        "5",
        "then per second",
    ),
];

/// One Worker variable: its name, what it must be, its default, and what it sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    pub name: &'static str,
    pub value: &'static str,
    pub default: &'static str,
    pub sets: &'static str,
}

impl Variable {
    const fn new(
        name: &'static str,
        value: &'static str,
        default: &'static str,
        sets: &'static str,
    ) -> Self {
        Self {
            name,
            value,
            default,
            sets,
        }
    }
}

/// [`VARIABLES`] as the README's Markdown table.
pub fn variables_table() -> String {
    let mut table = String::from("| Variable | Value | Default | Sets |\n|---|---|---|---|\n");
    for v in VARIABLES {
        table.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            v.name, v.value, v.default, v.sets
        ));
    }
    table
}

/// The chat's whole configuration: the room's tunables, the store's address and token, and the
/// origins that may open sockets. Read once per request by the Worker and per instance by the
/// room, from the same variables, by [`Config::from_vars`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub room: RoomConfig,
    /// The store's URL and token, or which of them is missing (then the chat answers that it is
    /// not configured, rather than refusing to parse).
    pub store: Result<StoreAccess, &'static str>,
    /// `ALLOWED_ORIGINS`, as `protocol::http::origin_allowed` reads it.
    pub allowed_origins: String,
}

/// Where the store is, and the token to it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreAccess {
    pub url: String,
    pub token: String,
}

impl std::fmt::Debug for StoreAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: logs and panics never show it.
        f.debug_struct("StoreAccess")
            .field("url", &self.url)
            .field("token", &"…")
            .finish()
    }
}

impl Config {
    /// The configuration from the variables `get` finds ([`VARIABLES`]; an empty one counts as
    /// unset). Anything set but invalid is an error that names it: the chat refuses to run with
    /// it rather than guess. A missing store URL or token is not an error here (health checks
    /// say which is missing).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let store = match (
            read("UPSTASH_REDIS_REST_URL"),
            read("UPSTASH_REDIS_REST_TOKEN"),
        ) {
            (Some(url), Some(token)) => Ok(StoreAccess { url, token }),
            // The URL is there, so the token is what is missing.
            (Some(_), None) => Err("the UPSTASH_REDIS_REST_TOKEN secret is not configured"),
            (None, _) => Err("UPSTASH_REDIS_REST_URL is not configured"),
        };
        let allowed_origins = read("ALLOWED_ORIGINS").unwrap_or_default();
        Ok(Self {
            room: RoomConfig::from_vars(read)?,
            store,
            allowed_origins,
        })
    }
}

impl RoomConfig {
    /// The defaults, overridden by the room's variables of [`VARIABLES`] that `get` finds, each
    /// checked as that list says. An empty variable counts as unset.
    fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = RoomConfig::default();
        let read = |name: &'static str| get(name).filter(|v| !v.trim().is_empty());
        let count = |name: &'static str, slot: &mut usize| -> Result<(), ConfigError> {
            if let Some(value) = read(name) {
                *slot = at_least_one(name, value)?;
            }
            Ok(())
        };
        let number = |name: &'static str,
                      min: f64,
                      expected: &'static str,
                      slot: &mut f64|
         -> Result<(), ConfigError> {
            if let Some(value) = read(name) {
                *slot = value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite() && *n >= min && *n > 0.0)
                    .ok_or(ConfigError {
                        name,
                        expected,
                        value,
                    })?;
            }
            Ok(())
        };
        count("HISTORY_LIMIT", &mut config.history_limit)?;
        count("MAX_CONNECTIONS", &mut config.max_connections)?;
        count("MAX_CONNECTIONS_PER_IP", &mut config.max_connections_per_ip)?;
        count("TYPING_BATCH_MEMBERS", &mut config.typing_batch_members)?;
        count("MIRROR_BACKLOG_MAX", &mut config.mirror_backlog_max)?;
        if let Some(value) = read("STORE_TIMEOUT_MS") {
            config.store_timeout_ms = at_least_one("STORE_TIMEOUT_MS", value)?;
        }
        // Each limit is two variables: a burst (≥ 1) and a rate per second (> 0).
        let limit = |burst: &'static str,
                     per_second: &'static str,
                     slot: &mut RateLimit|
         -> Result<(), ConfigError> {
            number(burst, 1.0, "a number ≥ 1", &mut slot.burst)?;
            number(per_second, 0.0, "a number > 0", &mut slot.per_second)
        };
        limit("SEND_BURST", "SEND_PER_SECOND", &mut config.send_limit)?;
        limit(
            "TYPING_BURST",
            "TYPING_PER_SECOND",
            &mut config.typing_limit,
        )?;
        limit(
            "HISTORY_BURST",
            "HISTORY_PER_SECOND",
            &mut config.history_rate,
        )?;
        limit("SOCKET_BURST", "SOCKET_PER_SECOND", &mut config.socket_rate)?;
        let http = &mut config.http_history_rate;
        limit("HTTP_HISTORY_BURST", "HTTP_HISTORY_PER_SECOND", http)?;
        Ok(config)
    }
}

/// An integer ≥ 1 from the variable `name`, whatever its type: `0`, `-5`, `2.5` and `1e4` are
/// refused, not rounded or read as "unset".
fn at_least_one<T>(name: &'static str, value: String) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + From<u8>,
{
    value
        .trim()
        .parse::<T>()
        .ok()
        .filter(|n| *n >= T::from(1))
        .ok_or(ConfigError {
            name,
            expected: "an integer ≥ 1",
            value,
        })
}

/// A token bucket's state, kept in the connection's attachment so it survives hibernation.
/// The default is an empty bucket last filled at time 0, which any real clock refills at once
/// (attachments saved before a bucket existed get it full on first use).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenBucket {
    tokens: f64,
    updated_ms: i64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn full(limit: RateLimit, now: i64) -> Self {
        Self {
            tokens: limit.burst,
            updated_ms: now,
        }
    }

    /// Whether the bucket would be full at `now` (nothing to remember about it).
    pub fn is_full(&self, limit: RateLimit, now: i64) -> bool {
        let elapsed_ms = (now - self.updated_ms).max(0) as f64;
        self.tokens + elapsed_ms * limit.per_second / 1000.0 >= limit.burst
    }

    /// Takes one token, or says in how many milliseconds one will be there.
    pub fn take(&mut self, limit: RateLimit, now: i64) -> Result<(), u64> {
        // Time never runs backwards for the bucket, even if the clock does.
        let elapsed_ms = (now - self.updated_ms).max(0) as f64;
        self.tokens = (self.tokens + elapsed_ms * limit.per_second / 1000.0).min(limit.burst);
        self.updated_ms = self.updated_ms.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err((missing * 1000.0 / limit.per_second).ceil().max(1.0) as u64)
        }
    }
}

/// Token buckets per key (a client address, see `protocol::http::address_key`), for limits kept
/// in memory at the edge. Bounded: when it tracks `max_keys` keys, a new key evicts the least
/// recently used one. A flood of fresh addresses therefore only pushes out addresses that have
/// gone quiet; one that keeps sending stays remembered, drained bucket and all (clearing
/// everything once full, as it once did, let anyone reset everyone's limits).
#[derive(Debug, Clone)]
pub struct KeyedLimiter {
    limit: RateLimit,
    max_keys: usize,
    /// Each key's bucket and the tick of its last use.
    buckets: HashMap<String, (TokenBucket, u64)>,
    /// The keys by the tick of their last use, oldest first: the next to evict is the first.
    by_use: BTreeMap<u64, String>,
    /// Counts every `take`, so ticks are unique and ordered (the clock may stand still).
    tick: u64,
}

impl KeyedLimiter {
    pub fn new(limit: RateLimit, max_keys: usize) -> Self {
        Self {
            limit,
            max_keys: max_keys.max(1),
            buckets: HashMap::new(),
            by_use: BTreeMap::new(),
            tick: 0,
        }
    }

    /// Takes a token for `key`, or says in how many milliseconds one will be there. O(log n):
    /// one hash lookup and at most two index updates.
    pub fn take(&mut self, key: &str, now: i64) -> Result<(), u64> {
        self.tick += 1;
        let tick = self.tick;
        let limit = self.limit;
        if let Some((bucket, last_used)) = self.buckets.get_mut(key) {
            self.by_use.remove(last_used);
            *last_used = tick;
            self.by_use.insert(tick, key.to_owned());
            return bucket.take(limit, now);
        }
        while self.buckets.len() >= self.max_keys {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            self.buckets.remove(&oldest);
        }
        let mut bucket = TokenBucket::full(limit, now);
        let taken = bucket.take(limit, now);
        self.buckets.insert(key.to_owned(), (bucket, tick));
        self.by_use.insert(tick, key.to_owned());
        taken
    }

    /// How many keys it tracks.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn the_configuration_reads_exactly_the_listed_variables() {
        let asked = RefCell::new(Vec::new());
        let config = Config::from_vars(|name| {
            asked.borrow_mut().push(name.to_owned());
            None
        });
        assert!(config.is_ok());
        let mut asked = asked.into_inner();
        asked.sort();
        asked.dedup();
        let mut listed: Vec<String> = VARIABLES.iter().map(|v| v.name.to_owned()).collect();
        listed.sort();
        assert_eq!(asked, listed);
    }

    #[test]
    fn the_documented_defaults_are_the_defaults() {
        let defaults: HashMap<&str, &str> = VARIABLES
            .iter()
            .filter(|v| v.default != "none")
            .map(|v| (v.name, v.default))
            .collect();
        let documented = Config::from_vars(|name| defaults.get(name).map(|v| (*v).to_owned()));
        assert_eq!(
            documented.map(|c| c.room),
            Ok(RoomConfig::default()),
            "a default in VARIABLES differs from RoomConfig::default"
        );
    }

    /// The README's table of variables is `variables_table()`, between its two markers; on a
    /// change, paste what this prints.
    #[test]
    fn the_readme_lists_every_variable() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
                .unwrap_or_default();
        let table = readme
            .split_once("<!-- variables: begin -->\n")
            .and_then(|(_, rest)| rest.split_once("<!-- variables: end -->"))
            .map(|(table, _)| table);
        assert_eq!(
            table,
            Some(variables_table().as_str()),
            "\n{}",
            variables_table()
        );
    }

    #[test]
    fn the_store_is_configured_by_url_and_token_and_never_shows_the_token() {
        let vars = |pairs: &'static [(&str, &str)]| {
            Config::from_vars(move |name| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            })
        };
        let both = vars(&[
            ("UPSTASH_REDIS_REST_URL", "https://eu1.example"),
            ("UPSTASH_REDIS_REST_TOKEN", "t0ps3cret"),
        ]);
        assert!(both.as_ref().is_ok_and(|c| c.store.is_ok()));
        assert!(!format!("{both:?}").contains("t0ps3cret"));
        assert_eq!(
            vars(&[("UPSTASH_REDIS_REST_URL", "https://eu1.example")]).map(|c| c.store.err()),
            Ok(Some(
                "the UPSTASH_REDIS_REST_TOKEN secret is not configured"
            ))
        );
        assert_eq!(
            vars(&[("UPSTASH_REDIS_REST_TOKEN", " ")]).map(|c| c.store.err()),
            Ok(Some("UPSTASH_REDIS_REST_URL is not configured"))
        );
        assert_eq!(
            vars(&[("HISTORY_LIMIT", "0.5")]).map(|c| c.room.history_limit),
            Err(ConfigError {
                name: "HISTORY_LIMIT",
                expected: "an integer ≥ 1",
                value: "0.5".into()
            })
        );
    }

    #[test]
    fn variables_are_parsed_strictly() {
        let vars = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            RoomConfig::from_vars(move |name| map.get(name).cloned())
        };
        assert_eq!(vars(&[]), Ok(RoomConfig::default()));
        let config = vars(&[
            ("HISTORY_LIMIT", " 500 "),
            ("MAX_CONNECTIONS", "20"),
            ("SEND_PER_SECOND", "0.5"),
            ("TYPING_BURST", ""),
            ("STORE_TIMEOUT_MS", "400"),
        ]);
        let expected = RoomConfig {
            history_limit: 500,
            max_connections: 20,
            send_limit: RateLimit {
                burst: 10.0,
                per_second: 0.5,
            },
            store_timeout_ms: 400,
            ..RoomConfig::default()
        };
        assert_eq!(config, Ok(expected));
        for (name, value, expected) in [
            ("HISTORY_LIMIT", "0.5", "an integer ≥ 1"),
            ("HISTORY_LIMIT", "0", "an integer ≥ 1"),
            ("HISTORY_LIMIT", "-3", "an integer ≥ 1"),
            ("HISTORY_LIMIT", "1e4", "an integer ≥ 1"),
            ("HISTORY_LIMIT", "ten", "an integer ≥ 1"),
            ("MAX_CONNECTIONS_PER_IP", "0", "an integer ≥ 1"),
            ("SEND_BURST", "0.5", "a number ≥ 1"),
            ("SEND_PER_SECOND", "0", "a number > 0"),
            ("HISTORY_PER_SECOND", "inf", "a number > 0"),
            ("SOCKET_BURST", "0", "a number ≥ 1"),
            ("HTTP_HISTORY_PER_SECOND", "-1", "a number > 0"),
            ("TYPING_PER_SECOND", "NaN", "a number > 0"),
            ("STORE_TIMEOUT_MS", "0", "an integer ≥ 1"),
            ("STORE_TIMEOUT_MS", "-5", "an integer ≥ 1"),
            ("STORE_TIMEOUT_MS", "2.5", "an integer ≥ 1"),
            ("STORE_TIMEOUT_MS", "10s", "an integer ≥ 1"),
        ] {
            assert_eq!(
                vars(&[(name, value)]),
                Err(ConfigError {
                    name,
                    expected,
                    value: value.to_owned()
                }),
                "{name}={value}"
            );
        }
        assert_eq!(
            ConfigError {
                name: "HISTORY_LIMIT",
                expected: "an integer ≥ 1",
                value: "0.5".into()
            }
            .to_string(),
            "HISTORY_LIMIT must be an integer ≥ 1, got \"0.5\""
        );
    }

    #[test]
    fn keyed_limiter_limits_each_key_and_forgets_the_least_recently_used() {
        let limit = RateLimit {
            burst: 2.0,
            per_second: 1.0,
        };
        let mut limiter = KeyedLimiter::new(limit, 3);
        assert_eq!(limiter.take("a", 0), Ok(()));
        assert_eq!(limiter.take("a", 0), Ok(()));
        assert_eq!(limiter.take("a", 0), Err(1000));
        assert_eq!(
            limiter.take("b", 0),
            Ok(()),
            "another address has its own bucket"
        );
        assert_eq!(limiter.take("c", 0), Ok(()));
        // "a" knocks again, so "b" is now the least recently used: a fourth key evicts it alone.
        assert_eq!(limiter.take("a", 0), Err(1000));
        assert_eq!(limiter.take("d", 0), Ok(()));
        assert_eq!(limiter.len(), 3);
        assert_eq!(limiter.take("a", 0), Err(1000), "a was remembered");
        // "c" was the oldest when "e" came, so it starts again with a full bucket.
        assert_eq!(limiter.take("e", 0), Ok(()));
        assert_eq!(limiter.take("c", 0), Ok(()));
        assert_eq!(limiter.take("c", 0), Ok(()));
        assert_eq!(limiter.len(), 3);
    }

    #[test]
    fn fresh_keys_never_refill_a_drained_key_that_keeps_being_used() {
        // Refills one token in 1000 s: nothing the test does in its few seconds refills "victim".
        let limit = RateLimit {
            burst: 2.0,
            per_second: 0.001,
        };
        let mut limiter = KeyedLimiter::new(limit, 4);
        assert_eq!(limiter.take("victim", 0), Ok(()));
        assert_eq!(limiter.take("victim", 0), Ok(()));
        // An attacker cycles through far more fresh addresses than the limiter remembers, while
        // the drained address keeps knocking: it stays drained, and the limiter stays bounded.
        for i in 0..1_000 {
            let now = i;
            assert_eq!(limiter.take(&format!("attacker-{i}"), now), Ok(()));
            if i % 2 == 1 {
                assert!(
                    limiter.take("victim", now).is_err(),
                    "victim's bucket came back after {i} fresh keys"
                );
            }
            assert!(limiter.len() <= 4);
        }
    }

    #[test]
    fn bucket_allows_a_burst_then_refills() {
        let limit = RateLimit {
            burst: 2.0,
            per_second: 4.0,
        };
        let mut bucket = TokenBucket::full(limit, 0);
        assert_eq!(bucket.take(limit, 0), Ok(()));
        assert_eq!(bucket.take(limit, 0), Ok(()));
        assert_eq!(bucket.take(limit, 0), Err(250));
        assert_eq!(bucket.take(limit, 100), Err(150));
        assert_eq!(bucket.take(limit, 250), Ok(()));
        // A long pause refills only up to the burst.
        assert_eq!(bucket.take(limit, 60_000), Ok(()));
        assert_eq!(bucket.take(limit, 60_000), Ok(()));
        assert!(bucket.take(limit, 60_000).is_err());
    }
}
