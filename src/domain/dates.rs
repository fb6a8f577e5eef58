//! How far a day is from today, in words: "today", "in 6 days", "3 months ago".

use time::Date;

use super::UnixTime;

/// The UTC day of a Unix time (`None` out of range).
pub fn day_of(at: UnixTime) -> Option<Date> {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .map(|at| at.date())
}

/// `day` relative to `today`: "today", "tomorrow", "yesterday", "in 6 days", "6 days ago";
/// from 60 days in months, beyond two years in years (rounded down).
pub fn relative_day(day: Date, today: Date) -> String {
    let days = (day - today).whole_days();
    let distance = days.unsigned_abs();
    let amount = match distance {
        0 => return "today".into(),
        1 if days > 0 => return "tomorrow".into(),
        1 => return "yesterday".into(),
        2..=59 => format!("{distance} days"),
        60..=730 => format!("{} months", distance / 30),
        _ => format!("{} years", distance / 365),
    };
    if days > 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn near_days_have_names() {
        let today = date!(2026 - 11 - 30);
        assert_eq!(relative_day(today, today), "today");
        assert_eq!(relative_day(date!(2026 - 12 - 01), today), "tomorrow");
        assert_eq!(relative_day(date!(2026 - 11 - 29), today), "yesterday");
    }

    #[test]
    fn days_then_months_then_years() {
        let today = date!(2026 - 11 - 30);
        assert_eq!(relative_day(date!(2026 - 12 - 02), today), "in 2 days");
        assert_eq!(relative_day(date!(2026 - 12 - 06), today), "in 6 days");
        assert_eq!(relative_day(date!(2026 - 11 - 24), today), "6 days ago");
        assert_eq!(relative_day(date!(2027 - 01 - 28), today), "in 59 days");
        assert_eq!(relative_day(date!(2027 - 01 - 29), today), "in 2 months");
        assert_eq!(relative_day(date!(2027 - 03 - 31), today), "in 4 months");
        assert_eq!(relative_day(date!(2026 - 05 - 30), today), "6 months ago");
        assert_eq!(relative_day(date!(2030 - 01 - 01), today), "in 3 years");
        assert_eq!(relative_day(date!(2020 - 11 - 30), today), "6 years ago");
    }

    #[test]
    fn day_of_a_unix_time_is_its_utc_day() {
        assert_eq!(day_of(0), Some(date!(1970 - 01 - 01)));
        assert_eq!(day_of(86_399), Some(date!(1970 - 01 - 01)));
        assert_eq!(day_of(i64::MAX), None);
    }
}
