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

/// Longest escaped partition value kept whole. A folder name has at most
/// 255 bytes on common file systems, and it contains the partition's name too.
const MAX_ESCAPED_VALUE: usize = 200;

/// Escapes a partition value the way Hive does: every byte outside
/// `[A-Za-z0-9_.-]` becomes `%XX`. Real account ids and Region names need
/// no escaping; log files hold odd values such as `region` or ids with
/// slashes, which must not change the folder structure.
///
/// An escaped value longer than [`MAX_ESCAPED_VALUE`] bytes is shortened
/// to its start and a hash of the whole value, so that it still names a
/// folder and different values still name different folders.
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
    if escaped.len() > MAX_ESCAPED_VALUE {
        return shortened(&escaped, value);
    }
    escaped
}

/// Length of the hash that ends a shortened value, in hexadecimal digits.
const HASH_DIGITS: usize = 32;

/// Returns the start of an escaped value, cut before any escape it would
/// split, then a dot and the hash of the whole value.
fn shortened(escaped: &str, value: &str) -> String {
    let mut cut = MAX_ESCAPED_VALUE - 1 - HASH_DIGITS;
    // Only escapes contain `%`, and each is three bytes long.
    if let Some(percent) = escaped[..cut].rfind('%')
        && percent + 3 > cut
    {
        cut = percent;
    }
    let hash = xxhash_rust::xxh3::xxh3_128(value.as_bytes());
    format!("{}.{hash:0width$x}", &escaped[..cut], width = HASH_DIGITS)
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
    fn long_values_shortened_and_kept_apart() {
        let long = "a".repeat(300);
        let escaped = escape_value(Some(&long));
        assert_eq!(escaped.len(), MAX_ESCAPED_VALUE);
        assert!(escaped.starts_with(&"a".repeat(100)), "{escaped}");
        assert!(!is_plain_value(&long));

        let other = format!("{}b", "a".repeat(299));
        assert_ne!(escape_value(Some(&other)), escaped);

        // 67 two-byte letters escape to 402 bytes. No escape is split.
        let accented = "\u{e9}".repeat(67);
        let escaped = escape_value(Some(&accented));
        assert!(escaped.len() <= MAX_ESCAPED_VALUE, "{escaped}");
        let (start, hash) = escaped.rsplit_once('.').unwrap();
        assert_eq!(hash.len(), HASH_DIGITS);
        assert_eq!(start.len() % 3, 0, "{start}");
        assert!(start.starts_with("%C3%A9"), "{start}");

        let limit = "a".repeat(MAX_ESCAPED_VALUE);
        assert_eq!(escape_value(Some(&limit)), limit);
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
