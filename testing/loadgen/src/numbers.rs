//! How the figures are rounded, shared by the scenarios and the CPU and profile readers (which
//! the scenarios use, so these cannot live in either without a circle).

/// Two decimals: finer than any of these clocks can tell apart.
pub fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

/// `part` as a percentage of `whole`, one decimal; 0 when there is no whole.
pub fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        (part / whole * 1000.0).round() / 10.0
    } else {
        0.0
    }
}
