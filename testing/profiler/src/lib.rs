//! What `loadgen --only breakdown` uses to see where a message's time goes, kept apart from the
//! benchmark because it leans on wrangler dev's internals (its inspector relay, its process
//! layout) and on Linux `perf`: [`perf`] profiles the workerd processes, [`profile`] the
//! Worker's isolate with V8's sampling profiler, and [`monitor`] timestamps Redis's writes.

pub mod monitor;
pub mod perf;
pub mod profile;

/// `part` as a percentage of `whole`, one decimal; 0 when there is no whole.
pub fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        (part / whole * 1000.0).round() / 10.0
    } else {
        0.0
    }
}
