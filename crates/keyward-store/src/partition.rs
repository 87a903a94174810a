//! Hive-style partition paths: `eventday=YYYYMMDD/accountid=ID/region=NAME`,
//! the partition names that Amazon Security Lake uses, so that Athena,
//! Trino and Spark read the folder as it is.

use keyward_cloudtrail::Event;

/// The value Hive uses for a missing partition value.
pub const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// The partition of one event.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    /// UTC day as `YYYYMMDD`.
    pub day: String,
    /// Account id, escaped for a path.
    pub account: String,
    /// Region name, escaped for a path.
    pub region: String,
}

impl Partition {
    /// Returns the partition an event belongs to.
    pub fn of(event: &Event) -> Self {
        Self::new(
            event.time,
            event.account.as_deref(),
            event.region.as_deref(),
        )
    }

    /// Returns the partition of an event of `account` and `region` at
    /// `time`, in microseconds since the epoch.
    pub fn new(time: i64, account: Option<&str>, region: Option<&str>) -> Self {
        Self {
            day: keyward_cloudtrail::format_day(time).replace('-', ""),
            account: escape_value(account),
            region: escape_value(region),
        }
    }

    /// Returns the partition's folder, relative to the table's root.
    pub fn relative_path(&self) -> String {
        format!(
            "eventday={}/accountid={}/region={}",
            self.day, self.account, self.region
        )
    }
}

/// Escapes a partition value the way Hive does: every byte outside
/// `[A-Za-z0-9_.-]` becomes `%XX`. Real account ids and Region names need
/// no escaping; log files hold odd values such as `region` or ids with
/// slashes, which must not change the folder structure.
pub fn escape_value(value: Option<&str>) -> String {
    let Some(value) = value.filter(|value| !value.is_empty()) else {
        return DEFAULT_PARTITION.to_owned();
    };
    if value == "." || value == ".." {
        return value.replace('.', "%2E");
    }
    let mut escaped = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-') {
            escaped.push(char::from(byte));
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

/// Reports whether a value is stored unescaped, so that a filter on the
/// partition column can prune folders.
pub fn is_plain_value(value: &str) -> bool {
    !value.is_empty() && escape_value(Some(value)) == value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_values_unchanged() {
        assert_eq!(escape_value(Some("111122223333")), "111122223333");
        assert_eq!(escape_value(Some("us-gov-west-1")), "us-gov-west-1");
    }

    #[test]
    fn path_characters_escaped() {
        assert_eq!(escape_value(Some("a/b")), "a%2Fb");
        assert_eq!(escape_value(Some("..")), "%2E%2E");
        assert_eq!(escape_value(Some("x=y")), "x%3Dy");
    }

    #[test]
    fn missing_value_uses_hive_default() {
        assert_eq!(escape_value(None), DEFAULT_PARTITION);
        assert_eq!(escape_value(Some("")), DEFAULT_PARTITION);
    }

    #[test]
    fn event_partition_path() {
        let event = Event {
            time: 1_714_557_600_000_000,
            account: Some("111122223333".into()),
            region: Some("eu-west-1".into()),
            ..Event::default()
        };
        let path = Partition::of(&event).relative_path();
        assert_eq!(
            path,
            "eventday=20240501/accountid=111122223333/region=eu-west-1"
        );
    }
}
