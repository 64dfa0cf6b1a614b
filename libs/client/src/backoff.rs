//! When to reconnect, and when a silent connection counts as dead.

/// Exponential backoff with full jitter: the n-th retry waits a random time in
/// `[0, min(cap, base * 2^n))`. Reset once a connection has stayed up for `stable_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    pub base_ms: u64,
    pub cap_ms: u64,
    pub stable_ms: u64,
    attempt: u32,
    connected_at: Option<i64>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(250, 10_000, 10_000)
    }
}

impl Backoff {
    pub fn new(base_ms: u64, cap_ms: u64, stable_ms: u64) -> Self {
        Self {
            base_ms,
            cap_ms,
            stable_ms,
            attempt: 0,
            connected_at: None,
        }
    }

    /// How many reconnection attempts in a row have been made.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The delay before the next attempt; `random` is uniform in `[0, 1)`.
    pub fn next_delay(&mut self, random: f64) -> u64 {
        let ceiling = self
            .base_ms
            .saturating_mul(1u64 << self.attempt.min(20))
            .min(self.cap_ms);
        self.attempt = self.attempt.saturating_add(1);
        (ceiling as f64 * random.clamp(0.0, 1.0)) as u64
    }

    /// The connection opened at `now`.
    pub fn connected(&mut self, now: i64) {
        self.connected_at = Some(now);
    }

    /// The connection closed at `now`: the backoff starts over only if it had been stable.
    pub fn disconnected(&mut self, now: i64) {
        if let Some(at) = self.connected_at.take()
            && now - at >= self.stable_ms as i64
        {
            self.attempt = 0;
        }
    }

    /// Forget the history (the user asked to retry now, or the browser came back online).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Sends `ping` every `interval_ms`; a `pong` (or any frame) not arriving within `timeout_ms`
/// of a ping means a half-open connection, to be closed and reopened.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    pub interval_ms: i64,
    pub timeout_ms: i64,
    last_ping: Option<i64>,
    last_heard: i64,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self::new(20_000, 10_000)
    }
}

/// What the heartbeat wants done now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    Nothing,
    SendPing,
    Dead,
}

impl Heartbeat {
    pub fn new(interval_ms: i64, timeout_ms: i64) -> Self {
        Self {
            interval_ms,
            timeout_ms,
            last_ping: None,
            last_heard: 0,
        }
    }

    /// The connection opened (or anything arrived) at `now`.
    pub fn heard(&mut self, now: i64) {
        self.last_heard = now;
        self.last_ping = None;
    }

    /// Called on a timer.
    pub fn tick(&mut self, now: i64) -> Beat {
        match self.last_ping {
            Some(ping) if now - ping >= self.timeout_ms => Beat::Dead,
            Some(_) => Beat::Nothing,
            None if now - self.last_heard >= self.interval_ms => {
                self.last_ping = Some(now);
                Beat::SendPing
            }
            None => Beat::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_full_jitter_up_to_the_cap() {
        let mut backoff = Backoff::default();
        let ceilings: Vec<u64> = (0..8).map(|_| backoff.next_delay(0.999_999)).collect();
        assert_eq!(ceilings, [249, 499, 999, 1999, 3999, 7999, 9999, 9999]);
        assert_eq!(backoff.next_delay(0.0), 0, "full jitter reaches zero");
        assert_eq!(backoff.attempt(), 9);
    }

    #[test]
    fn backoff_resets_only_after_a_stable_connection() {
        let mut backoff = Backoff::default();
        backoff.next_delay(0.5);
        backoff.next_delay(0.5);
        backoff.connected(1_000);
        backoff.disconnected(2_000);
        assert_eq!(
            backoff.attempt(),
            2,
            "a flapping connection keeps backing off"
        );
        backoff.connected(3_000);
        backoff.disconnected(13_000);
        assert_eq!(backoff.attempt(), 0);
    }

    #[test]
    fn heartbeat_pings_when_quiet_and_declares_silence_dead() {
        let mut beat = Heartbeat::default();
        beat.heard(0);
        assert_eq!(beat.tick(19_999), Beat::Nothing);
        assert_eq!(beat.tick(20_000), Beat::SendPing);
        assert_eq!(beat.tick(25_000), Beat::Nothing);
        beat.heard(26_000);
        assert_eq!(beat.tick(30_000), Beat::Nothing);
        assert_eq!(beat.tick(46_000), Beat::SendPing);
        assert_eq!(beat.tick(56_000), Beat::Dead);
    }
}
