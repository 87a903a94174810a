//! Parsing of time options: `--since 30d`, `--from 2026-05-01`,
//! `--to 2026-05-31T12:00:00Z`.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use keyward_cloudtrail::parse_event_time;

/// Maximum duration accepted, in microseconds: 100 years of 365 days.
const MAX_DURATION: i64 = 36_500 * 86_400 * 1_000_000;

/// Microseconds since the epoch, now.
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Parses a date (`YYYY-MM-DD`, midnight UTC) or an RFC 3339 date and time
/// into microseconds since the epoch.
pub fn parse_instant(text: &str) -> anyhow::Result<i64> {
    let trimmed = text.trim();
    let full = if trimmed.len() == 10 {
        format!("{trimmed}T00:00:00Z")
    } else {
        trimmed.to_owned()
    };
    parse_event_time(&full).with_context(|| {
        format!("invalid time {text:?}; use a date such as 2026-05-01 or 2026-05-01T12:00:00Z")
    })
}

/// Parses a duration such as `90m`, `12h`, `30d` or `2w` into microseconds.
pub fn parse_duration(text: &str) -> anyhow::Result<i64> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let count: i64 = number.parse().with_context(|| {
        format!("invalid duration {text:?}; use a number and a unit, as in 30d")
    })?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => bail!("invalid duration unit in {text:?}; use s, m, h, d or w"),
    };
    let micros = count
        .checked_mul(seconds * 1_000_000)
        .filter(|micros| *micros <= MAX_DURATION);
    match micros {
        Some(0) => bail!("invalid duration {text:?}; use a length above zero"),
        Some(micros) => Ok(micros),
        None => bail!("invalid duration {text:?}; the longest is 100 years (36500d)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_is_midnight_utc() {
        assert_eq!(parse_instant("1970-01-02").unwrap(), 86_400 * 1_000_000);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d").unwrap(), 30 * 86_400 * 1_000_000);
        assert_eq!(parse_duration("2w").unwrap(), 14 * 86_400 * 1_000_000);
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("3y").is_err());
        assert!(parse_duration("0d").is_err());
        assert!(parse_duration("36501d").is_err());
        assert!(parse_duration("9223372036854775807s").is_err());
    }

    #[test]
    fn invalid_instant_rejected() {
        assert!(parse_instant("yesterday").is_err());
    }
}
