//! Parsing of CloudTrail `eventTime` values into UTC microseconds.
//!
//! CloudTrail writes ISO 8601 with a `Z` suffix, with or without fractional
//! seconds. Exports seen in the field also use a space instead of `T`,
//! nanosecond fractions and numeric offsets, so the parser accepts
//! `YYYY-MM-DD[T| ]HH:MM:SS[.fraction][Z|±HH:MM|±HHMM]`, a missing zone
//! meaning UTC.

/// Microseconds in one second.
const MICROS_PER_SECOND: i64 = 1_000_000;

/// Parses a CloudTrail timestamp into microseconds since the Unix epoch, UTC.
///
/// Returns `None` for text that is not a valid date and time. Digits past
/// microsecond precision are truncated.
pub fn parse_event_time(text: &str) -> Option<i64> {
    let bytes = text.trim().as_bytes();
    if bytes.len() < 19 {
        return None;
    }
    let year = digits(bytes, 0, 4)?;
    let month = digits(bytes, 5, 2)?;
    let day = digits(bytes, 8, 2)?;
    let hour = digits(bytes, 11, 2)?;
    let minute = digits(bytes, 14, 2)?;
    let second = digits(bytes, 17, 2)?;
    if bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    if !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }

    let (fraction_micros, rest) = parse_fraction(&bytes[19..])?;
    let offset_seconds = parse_offset(rest)?;

    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_seconds;
    Some(seconds * MICROS_PER_SECOND + fraction_micros)
}

/// Formats microseconds since the epoch as `YYYY-MM-DD`, the UTC day.
pub fn format_day(micros: i64) -> String {
    let days = micros.div_euclid(MICROS_PER_SECOND * 86_400);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

fn digits(bytes: &[u8], start: usize, count: usize) -> Option<i64> {
    let mut value = 0i64;
    for &byte in bytes.get(start..start + count)? {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(byte - b'0');
    }
    Some(value)
}

/// Reads an optional `.digits` fraction; returns microseconds and the rest.
fn parse_fraction(bytes: &[u8]) -> Option<(i64, &[u8])> {
    if bytes.first() != Some(&b'.') {
        return Some((0, bytes));
    }
    let count = bytes[1..].iter().take_while(|b| b.is_ascii_digit()).count();
    if count == 0 {
        return None;
    }
    let mut micros = 0i64;
    for position in 0..6 {
        let digit = bytes.get(1 + position).filter(|_| position < count);
        micros = micros * 10 + digit.map_or(0, |d| i64::from(d - b'0'));
    }
    Some((micros, &bytes[1 + count..]))
}

/// Reads the zone suffix; returns the offset east of UTC in seconds.
fn parse_offset(bytes: &[u8]) -> Option<i64> {
    match bytes {
        [] | [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (hours, minutes) = match rest {
                [_, _, b':', _, _] => (digits(rest, 0, 2)?, digits(rest, 3, 2)?),
                [_, _, _, _] => (digits(rest, 0, 2)?, digits(rest, 2, 2)?),
                [_, _] => (digits(rest, 0, 2)?, 0),
                _ => return None,
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3_600 + minutes * 60;
            Some(if *sign == b'-' { -seconds } else { seconds })
        }
        _ => None,
    }
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Converts days since 1970-01-01 to a date, the inverse of
/// [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JULY_27_2020: i64 = 1_595_890_704 * MICROS_PER_SECOND;

    #[test]
    fn whole_seconds_with_z() {
        assert_eq!(parse_event_time("2020-07-27T22:58:24Z"), Some(JULY_27_2020));
    }

    #[test]
    fn fractional_seconds() {
        let parsed = parse_event_time("2020-07-27T22:58:24.123456Z");
        assert_eq!(parsed, Some(JULY_27_2020 + 123_456));
        let millis = parse_event_time("2020-07-27T22:58:24.5Z");
        assert_eq!(millis, Some(JULY_27_2020 + 500_000));
    }

    #[test]
    fn nanoseconds_with_space_and_no_zone() {
        let parsed = parse_event_time("2020-07-27 22:58:24.000000009");
        assert_eq!(parsed, Some(JULY_27_2020));
    }

    #[test]
    fn numeric_offsets() {
        assert_eq!(
            parse_event_time("2020-07-28T00:58:24+02:00"),
            Some(JULY_27_2020)
        );
        assert_eq!(
            parse_event_time("2020-07-27T21:58:24-0100"),
            Some(JULY_27_2020)
        );
    }

    #[test]
    fn invalid_dates_rejected() {
        for text in [
            "",
            "2020-07-27",
            "2020-13-01T00:00:00Z",
            "2021-02-29T00:00:00Z",
            "2020-07-27T24:00:00Z",
            "2020-07-27T22:58:24.Z",
            "2020-07-27T22:58:24 PM",
            "Oct 21, 2024, 2:25:29 PM",
        ] {
            assert_eq!(parse_event_time(text), None, "{text}");
        }
    }

    #[test]
    fn leap_day_accepted() {
        assert!(parse_event_time("2024-02-29T12:00:00Z").is_some());
    }

    #[test]
    fn day_formatting_round_trips() {
        assert_eq!(format_day(JULY_27_2020), "2020-07-27");
        assert_eq!(format_day(0), "1970-01-01");
        assert_eq!(format_day(-1), "1969-12-31");
        let leap = parse_event_time("2024-02-29T23:59:59.999Z").unwrap_or_default();
        assert_eq!(format_day(leap), "2024-02-29");
    }
}
