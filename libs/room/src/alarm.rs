//! The one alarm a Durable Object has, shared by every [`crate::Output::WakeAt`] request.

/// The alarm to set when the room asks to be woken at `wanted` and `current` is the alarm
/// already set (ms since the epoch), or `None` to leave it. A Durable Object has one alarm, and
/// [`crate::Output::WakeAt`] promises that a later request replaces an earlier one only if it is
/// sooner: overwriting a sooner alarm with a later one would make the room miss a wake-up it
/// asked for (the room asks again if woken early, never if woken late).
pub fn alarm_to_set(current: Option<i64>, wanted: i64) -> Option<i64> {
    match current {
        Some(current) if current <= wanted => None,
        _ => Some(wanted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_request_replaces_the_alarm_only_when_sooner() {
        assert_eq!(alarm_to_set(None, 1_500), Some(1_500), "no alarm yet");
        assert_eq!(alarm_to_set(Some(2_000), 1_500), Some(1_500), "sooner");
        assert_eq!(
            alarm_to_set(Some(1_000), 1_500),
            None,
            "a later request must not push back an alarm that is due sooner"
        );
        assert_eq!(alarm_to_set(Some(1_500), 1_500), None, "already set");
    }
}
