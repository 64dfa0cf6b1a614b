//! Times and days in the viewer's locale and time zone.

/// Milliseconds east of UTC in the viewer's time zone at `ts`.
pub fn tz_offset_ms(ts: i64) -> i64 {
    let date = js_sys::Date::new(&(ts as f64).into());
    -(date.get_timezone_offset() * 60_000.0) as i64
}

/// "14:05" in the viewer's locale.
pub fn time(ts: i64) -> String {
    let date = js_sys::Date::new(&(ts as f64).into());
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}

/// "Today", "Yesterday", or "Wed, 27 Nov 2026".
pub fn day(ts: i64, now: i64) -> String {
    let day_of = |t: i64| (t + tz_offset_ms(t)).div_euclid(86_400_000);
    match day_of(now) - day_of(ts) {
        0 => "Today".to_owned(),
        1 => "Yesterday".to_owned(),
        _ => {
            let date = js_sys::Date::new(&(ts as f64).into());
            const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            format!(
                "{}, {} {} {}",
                DAYS[date.get_day() as usize % 7],
                date.get_date(),
                MONTHS[date.get_month() as usize % 12],
                date.get_full_year()
            )
        }
    }
}
