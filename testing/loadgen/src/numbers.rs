//! How the figures are rounded, shared by the scenarios and the CPU reader (which the scenarios
//! use, so these cannot live in either without a circle).

/// Two decimals: finer than any of these clocks can tell apart.
pub fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

pub use profiler::percent;
