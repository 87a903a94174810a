//! Conversion of the SDK's date-times.

use aws_smithy_types::DateTime as SdkDateTime;
use chrono::{DateTime, SubsecRound, Utc};

/// Converts the SDK's date-time to a UTC `chrono` one, to the microsecond
/// that the store keeps, or `None` if out of range.
pub fn utc(time: &SdkDateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(time.secs(), time.subsec_nanos()).map(|t| t.trunc_subsecs(6))
}

/// Returns the current time, to the microsecond that the store keeps.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Converts an optional date-time with [`utc`].
pub fn utc_opt(time: Option<&SdkDateTime>) -> Option<DateTime<Utc>> {
    time.and_then(utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_fractional_seconds() {
        let time = SdkDateTime::from_fractional_secs(1_700_000_000, 0.250_000_9);
        let converted = utc(&time).map(|t| t.to_rfc3339());
        assert_eq!(converted.as_deref(), Some("2023-11-14T22:13:20.250+00:00"));
    }
}
