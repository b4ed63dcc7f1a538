//! Calendar arithmetic for validity periods.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};

/// The station's civil time zone, Asia/Shanghai, in seconds east of UTC.
/// It has been UTC+8 without daylight saving since 1991, so a fixed offset
/// is exact. This is the one place the offset is written.
pub const STATION_OFFSET_SECONDS: i32 = 8 * 3600;

/// The station's time zone as a chrono offset.
pub fn station_offset() -> FixedOffset {
    FixedOffset::east_opt(STATION_OFFSET_SECONDS).expect("UTC+8 is a valid offset")
}

/// The station's civil time at an instant.
pub fn local_time(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.with_timezone(&station_offset())
}

/// The station's civil date at an instant.
pub fn local_date(at: DateTime<Utc>) -> NaiveDate {
    local_time(at).date_naive()
}

/// The instant a station day begins (00:00:00 at the station).
pub fn day_start(date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    (midnight - chrono::Duration::seconds(STATION_OFFSET_SECONDS.into())).and_utc()
}

/// The last second of a station day (23:59:59 at the station).
pub fn day_end(date: NaiveDate) -> DateTime<Utc> {
    day_start(date) + chrono::Duration::seconds(86_399)
}

/// Adds whole calendar years. One year after 2027-03-01 is 2028-03-01; a
/// start on 29 February lands on 28 February when the target year has no
/// leap day.
pub fn add_years(date: NaiveDate, years: u32) -> NaiveDate {
    add_months(date, years.saturating_mul(12))
}

/// Adds whole calendar months, clamping the day to the end of a shorter month.
pub fn add_months(date: NaiveDate, months: u32) -> NaiveDate {
    let total = date.year() as i64 * 12 + date.month0() as i64 + months as i64;
    let year = (total.div_euclid(12)) as i32;
    let month = (total.rem_euclid(12)) as u32 + 1;
    let mut day = date.day();
    loop {
        if let Some(d) = NaiveDate::from_ymd_opt(year, month, day) {
            return d;
        }
        // Only days 29..31 can be missing, so this ends within three steps.
        day -= 1;
    }
}

/// Whole days from `from` to `to` (negative when `to` is earlier).
pub fn days_between(from: NaiveDate, to: NaiveDate) -> i64 {
    (to - from).num_days()
}

#[cfg(test)]
mod tests {
    #[test]
    fn station_days_begin_and_end_at_utc_plus_8() {
        use chrono::TimeZone;
        let d = super::NaiveDate::from_ymd_opt(2027, 11, 21).unwrap();
        let start = super::day_start(d);
        assert_eq!(
            start,
            super::Utc.with_ymd_and_hms(2027, 11, 20, 16, 0, 0).unwrap()
        );
        assert_eq!(
            super::day_end(d),
            super::Utc
                .with_ymd_and_hms(2027, 11, 21, 15, 59, 59)
                .unwrap()
        );
        assert_eq!(super::local_date(start), d);
        assert_eq!(super::local_date(super::day_end(d)), d);
        assert_eq!(
            super::local_date(super::day_end(d) + chrono::Duration::seconds(1)),
            d.succ_opt().unwrap()
        );
    }

    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn years_are_calendar_years() {
        let cases = [
            ("2027-03-01", 1, "2028-03-01"),
            ("2028-02-29", 1, "2029-02-28"),
            ("2028-02-29", 4, "2032-02-29"),
            ("2027-02-28", 1, "2028-02-28"),
            ("2026-12-31", 3, "2029-12-31"),
        ];
        for (start, years, end) in cases {
            assert_eq!(add_years(d(start), years), d(end), "{start} + {years}y");
        }
    }

    #[test]
    fn months_clamp_to_month_end() {
        assert_eq!(add_months(d("2027-01-31"), 1), d("2027-02-28"));
        assert_eq!(add_months(d("2027-08-31"), 6), d("2028-02-29"));
        assert_eq!(add_months(d("2027-11-15"), 2), d("2028-01-15"));
    }
}
