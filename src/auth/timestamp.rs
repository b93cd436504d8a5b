//! The UTC ISO 8601 timestamp with milliseconds ("2014-06-22T16:36:25.448Z") that a WAMP-CRA challenge
//! carries (section 13.2). Formatted by hand from the Unix time, with the days-to-civil-date algorithm,
//! so no date crate is needed for one string.

use std::time::{SystemTime, UNIX_EPOCH};

/// `time` as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC). Times before 1970 are clamped to the epoch.
pub fn iso8601_utc_millis(time: SystemTime) -> String {
    let millis_total = time.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let millis = (millis_total % 1000) as u32;
    let secs_total = (millis_total / 1000) as i64;
    let days = secs_total.div_euclid(86_400);
    let secs_of_day = secs_total.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
}

/// (year, month 1-12, day 1-31) of the proleptic Gregorian calendar for a count of days since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // March = 0
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(millis: u64) -> String {
        iso8601_utc_millis(UNIX_EPOCH + Duration::from_millis(millis))
    }

    #[test]
    fn formats_like_python_datetime() {
        // Expected strings from Python's datetime.fromtimestamp(ms / 1000, timezone.utc).
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_403_454_985_448), "2014-06-22T16:36:25.448Z");
        assert_eq!(at(951_868_799_999), "2000-02-29T23:59:59.999Z");
        assert_eq!(at(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
        assert_eq!(at(1_709_164_800_123), "2024-02-29T00:00:00.123Z");
    }

    #[test]
    fn before_the_epoch_is_clamped() {
        assert_eq!(iso8601_utc_millis(UNIX_EPOCH - Duration::from_secs(5)), "1970-01-01T00:00:00.000Z");
    }
}
