//! The room's tunables and the per-connection token buckets that rate-limit sends and typing.

use serde::{Deserialize, Serialize};

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
    /// Most messages in one Redis write (bounds the request size: 50 × ~16 KiB < 1 MiB).
    pub max_batch: usize,
    pub send_limit: RateLimit,
    pub typing_limit: RateLimit,
    /// `retry_after_ms` after the first store failure; doubled per consecutive failure.
    pub store_retry_ms: u64,
    /// The largest `retry_after_ms` for store failures.
    pub store_retry_max_ms: u64,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            history_limit: 10_000,
            tail_capacity: 1_000,
            resume_max: 500,
            max_batch: 50,
            send_limit: RateLimit::SEND,
            typing_limit: RateLimit::TYPING,
            store_retry_ms: 1_000,
            store_retry_max_ms: 8_000,
        }
    }
}

/// A token bucket's state, kept in the connection's attachment so it survives hibernation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

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
