//! The deep health check's answer, kept per isolate, so that a loop of health requests costs the
//! store at most one command per isolate per [`HEALTH_CACHE_MS`] (Upstash bills per command).

use crate::StoreFailure;

/// How long a store check's answer is reused.
pub const HEALTH_CACHE_MS: i64 = 10_000;

/// What the deep health check should answer now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheck {
    /// Answer this, without asking the store.
    Cached(Result<(), StoreFailure>),
    /// Ask the store, then give the answer to [`HealthCache::record`].
    Ask,
}

/// The last answer of the store to a health check, and when it came.
#[derive(Debug, Clone, Default)]
pub struct HealthCache {
    ttl_ms: i64,
    /// When the last answer came (ms since the epoch), and what it was.
    last: Option<(i64, Result<(), StoreFailure>)>,
    /// When the check under way started, if one is: requests that arrive while the store is
    /// being asked get the previous answer instead of asking again.
    asking_since: Option<i64>,
}

impl HealthCache {
    pub fn new(ttl_ms: i64) -> Self {
        Self {
            ttl_ms,
            last: None,
            asking_since: None,
        }
    }

    /// The last answer if it is younger than the cache's lifetime at `now`. A clock that went
    /// back makes it stale rather than fresh for longer.
    pub fn fresh(&self, now: i64) -> Option<&Result<(), StoreFailure>> {
        self.last
            .as_ref()
            .filter(|(checked_at, _)| (0..self.ttl_ms).contains(&(now - checked_at)))
            .map(|(_, result)| result)
    }

    /// What to answer at `now`: a fresh answer; else, while another request is asking the store
    /// (for less than the lifetime, so a lost check cannot freeze the answer), the previous one;
    /// else [`HealthCheck::Ask`], remembering that a check is under way.
    pub fn check(&mut self, now: i64) -> HealthCheck {
        if let Some(result) = self.fresh(now) {
            return HealthCheck::Cached(result.clone());
        }
        let asking = self
            .asking_since
            .is_some_and(|since| (0..self.ttl_ms).contains(&(now - since)));
        match &self.last {
            Some((_, result)) if asking => HealthCheck::Cached(result.clone()),
            _ => {
                self.asking_since = Some(now);
                HealthCheck::Ask
            }
        }
    }

    /// The store's answer to the check, which arrived at `now`.
    pub fn record(&mut self, now: i64, result: Result<(), StoreFailure>) {
        self.last = Some((now, result));
        self.asking_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_asked_at_most_once_per_lifetime() {
        let mut cache = HealthCache::new(10_000);
        assert_eq!(cache.fresh(0), None);
        assert_eq!(cache.check(0), HealthCheck::Ask, "nothing known yet");
        cache.record(5, Ok(()));
        for now in [5, 6, 5_000, 10_004] {
            assert_eq!(cache.check(now), HealthCheck::Cached(Ok(())), "at {now}");
        }
        assert_eq!(cache.check(10_005), HealthCheck::Ask, "expired");
        let down = Err(StoreFailure::Unavailable("timeout".into()));
        cache.record(10_100, down.clone());
        assert_eq!(
            cache.check(10_200),
            HealthCheck::Cached(down.clone()),
            "failures are cached too: a loop must not hammer a store that is down"
        );
        assert_eq!(cache.fresh(10_099), None, "a clock that went back");
    }

    #[test]
    fn requests_during_a_check_get_the_previous_answer() {
        let mut cache = HealthCache::new(10_000);
        assert_eq!(cache.check(0), HealthCheck::Ask);
        // Nothing to answer with yet: a concurrent first request asks too.
        assert_eq!(cache.check(1), HealthCheck::Ask);
        cache.record(2, Ok(()));
        assert_eq!(cache.check(20_000), HealthCheck::Ask);
        for now in [20_001, 25_000, 29_999] {
            assert_eq!(cache.check(now), HealthCheck::Cached(Ok(())), "at {now}");
        }
        // A check that never came back does not hold the old answer for ever.
        assert_eq!(cache.check(30_000), HealthCheck::Ask);
    }
}
