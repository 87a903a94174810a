//! A parser for records in the shape that CloudTrail itself writes: JSON
//! with no escape sequence and no control character, whose fields are those
//! of one event.
//!
//! With no escapes, every string is the text between two quotes, so each
//! value is a slice of the record and a string ends at the next quote. The
//! parser reads the same fields as the `Deserialize` of [`RawRecord`] and
//! checks the syntax of everything it skips. Anything it does not read the
//! way serde_json would (an escape, a repeated field, a value of another
//! type, an EventBridge envelope, a digest, invalid JSON) makes it give up,
//! and serde_json reads the record instead, reporting any error.

use std::borrow::Cow;

use wide::u8x16;

use crate::event::{
    MAX_FIELDS, RawIdentity, RawRecord, RawResource, RawSessionContext, RawSessionIssuer,
};

/// Deepest nesting read. serde_json stops at 128, and text nested deeper
/// than this is left to it.
const MAX_DEPTH: usize = 100;

/// Reads a record that is plain JSON text, or returns `None` when
/// serde_json must read it.
pub(crate) fn parse_plain(text: &str) -> Option<RawRecord<'_>> {
    let mut cursor = Cursor::new(text);
    cursor.skip_space();
    let raw = cursor.record()?;
    cursor.skip_space();
    (cursor.at == text.len()).then_some(raw)
}

/// Reads the string values of the first [`MAX_FIELDS`] `names` in a plain
/// JSON object, in the order of the names. As in a map, a repeated key
/// keeps its last value. A value that is not a string counts as absent.
/// Returns `None` when serde_json must read the text.
pub(crate) fn named_strings<'a>(
    text: &'a str,
    names: &[&str],
) -> Option<[Option<&'a str>; MAX_FIELDS]> {
    let mut cursor = Cursor::new(text);
    let mut values = [None; MAX_FIELDS];
    cursor.skip_space();
    cursor.object(|cursor, key| {
        let value = cursor.value(1)?;
        if let Some(slot) = names.iter().take(MAX_FIELDS).position(|name| *name == key) {
            values[slot] = value.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
        }
        Some(())
    })?;
    cursor.skip_space();
    (cursor.at == text.len()).then_some(values)
}

/// Bytes classified at once when looking for the end of a string.
const BLOCK: usize = 64;

/// Returns the mask of quotes in a block, one bit per byte with the lowest
/// bit first, or `None` when the block has a backslash or a byte below
/// 0x20. Text without those has no escape sequence, and its only whitespace
/// is the space.
fn block_quotes(block: &[u8; BLOCK]) -> Option<u64> {
    let mut quotes = 0u64;
    let mut other = 0u64;
    for (index, lane) in block.chunks_exact(16).enumerate() {
        let vector = u8x16::new(lane.try_into().ok()?);
        let shift = index * 16;
        quotes |= (vector.cmp_eq(u8x16::splat(b'"')).move_mask() as u64) << shift;
        let control = vector.min(u8x16::splat(0x1f)).cmp_eq(vector);
        let escape = vector.cmp_eq(u8x16::splat(b'\\'));
        other |= ((control | escape).move_mask() as u64) << shift;
    }
    (other == 0).then_some(quotes)
}

/// Fields of a record that the parser reads, each with a bit of the set of
/// fields seen. A field seen twice is an error for serde_json.
#[derive(Clone, Copy)]
enum Field {
    EventVersion,
    UserIdentity,
    EventTime,
    LogstashTime,
    EventSource,
    EventName,
    AwsRegion,
    SourceIp,
    UserAgent,
    ErrorCode,
    ErrorMessage,
    RequestParameters,
    ResponseElements,
    AdditionalEventData,
    EventId,
    RequestId,
    SharedEventId,
    ReadOnly,
    Resources,
    EventType,
    EventCategory,
    RecipientAccountId,
    VpcEndpointId,
    DetailType,
}

/// Keys that leave a record to serde_json, because they make the object an
/// envelope, a digest, an Insights event, a file of records or an OCSF event.
const LEFT_TO_SERDE: [&str; 6] = [
    "Records",
    "detail",
    "insightDetails",
    "digestPublicKeyFingerprint",
    "digestEndTime",
    "class_uid",
];

impl Field {
    fn of(key: &str) -> Option<Self> {
        Some(match key {
            "eventVersion" => Self::EventVersion,
            "userIdentity" => Self::UserIdentity,
            "eventTime" => Self::EventTime,
            "@timestamp" => Self::LogstashTime,
            "eventSource" => Self::EventSource,
            "eventName" => Self::EventName,
            "awsRegion" => Self::AwsRegion,
            "sourceIPAddress" => Self::SourceIp,
            "userAgent" => Self::UserAgent,
            "errorCode" => Self::ErrorCode,
            "errorMessage" => Self::ErrorMessage,
            "requestParameters" => Self::RequestParameters,
            "responseElements" => Self::ResponseElements,
            "additionalEventData" => Self::AdditionalEventData,
            "eventID" => Self::EventId,
            "requestID" => Self::RequestId,
            "sharedEventID" => Self::SharedEventId,
            "readOnly" => Self::ReadOnly,
            "resources" => Self::Resources,
            "eventType" => Self::EventType,
            "eventCategory" => Self::EventCategory,
            "recipientAccountId" => Self::RecipientAccountId,
            "vpcEndpointId" => Self::VpcEndpointId,
            "detail-type" => Self::DetailType,
            _ => return None,
        })
    }
}

/// The set of fields of one object already read, one bit per field.
#[derive(Default)]
struct Seen(u32);

impl Seen {
    /// Marks a field as read. Returns `None` when it already was.
    fn first(&mut self, bit: u32) -> Option<()> {
        let mask = 1 << bit;
        if self.0 & mask != 0 {
            return None;
        }
        self.0 |= mask;
        Some(())
    }
}

/// A position in plain text.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
    /// Index of the last block classified, from the start of the text.
    block: usize,
    /// Quotes of that block.
    quotes: u64,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            at: 0,
            block: usize::MAX,
            quotes: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    /// Skips spaces, then `byte`. Returns `None` when another byte comes
    /// first.
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Returns the quotes of block `index`, or `None` when the block is not
    /// plain text.
    fn quotes_of(&mut self, index: usize) -> Option<u64> {
        if index != self.block {
            let bytes = self.text.as_bytes();
            let start = index * BLOCK;
            self.quotes = match bytes.get(start..start + BLOCK) {
                Some(block) => block_quotes(block.try_into().ok()?)?,
                None => {
                    // The text's last block is padded with spaces, which are
                    // neither quotes nor bytes that make text not plain.
                    let rest = bytes.get(start..)?;
                    let mut block = [b' '; BLOCK];
                    block[..rest.len()].copy_from_slice(rest);
                    block_quotes(&block)?
                }
            };
            self.block = index;
        }
        Some(self.quotes)
    }

    /// Reads a string at the cursor, which is at its opening quote, and
    /// returns its text.
    fn string(&mut self) -> Option<&'a str> {
        let start = self.at + 1;
        let mut index = start / BLOCK;
        // Quotes before the start are cleared.
        let mut quotes = self.quotes_of(index)? & (u64::MAX << (start % BLOCK));
        while quotes == 0 {
            index += 1;
            quotes = self.quotes_of(index)?;
        }
        let end = index * BLOCK + quotes.trailing_zeros() as usize;
        self.at = end + 1;
        self.text.get(start..end)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let rest = self.text.as_bytes().get(self.at..)?;
        rest.starts_with(word).then(|| self.at += word.len())
    }

    /// Reads a number as the JSON grammar defines it.
    fn number(&mut self) -> Option<()> {
        let bytes = self.text.as_bytes();
        let digits = |at: usize| {
            bytes.get(at..).map_or(0, |rest| {
                rest.iter().take_while(|b| b.is_ascii_digit()).count()
            })
        };
        let mut at = self.at;
        if bytes.get(at) == Some(&b'-') {
            at += 1;
        }
        match bytes.get(at)? {
            b'0' => at += 1,
            b'1'..=b'9' => at += digits(at),
            _ => return None,
        }
        if bytes.get(at) == Some(&b'.') {
            let count = digits(at + 1);
            if count == 0 {
                return None;
            }
            at += 1 + count;
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(bytes.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            let count = digits(at);
            if count == 0 {
                return None;
            }
            at += count;
        }
        self.at = at;
        Some(())
    }

    /// Reads any value after optional spaces and returns its text, checking
    /// its syntax. `depth` is the nesting of the value's container.
    fn value(&mut self, depth: usize) -> Option<&'a str> {
        self.skip_space();
        let start = self.at;
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' if depth < MAX_DEPTH => self.object(|cursor, _| cursor.skip(depth + 1))?,
            b'[' if depth < MAX_DEPTH => self.array(|cursor| cursor.skip(depth + 1))?,
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            b'-' | b'0'..=b'9' => self.number()?,
            _ => return None,
        }
        self.text.get(start..self.at)
    }

    fn skip(&mut self, depth: usize) -> Option<()> {
        self.value(depth).map(drop)
    }

    /// Reads an object, passing each key to `field`, which reads the value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.expect(b'{')?;
        self.skip_space();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.skip_space();
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            self.expect(b':')?;
            field(self, key)?;
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Reads an array, calling `element` to read each element.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.expect(b'[')?;
        self.skip_space();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            element(self)?;
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Reads `null` as `Some(None)`, or the value that `read` reads when the
    /// next byte is `first`.
    fn nullable<T>(
        &mut self,
        first: u8,
        read: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<Option<T>> {
        self.skip_space();
        match self.peek()? {
            b'n' => self.literal(b"null").map(|()| None),
            byte if byte == first => read(self).map(Some),
            _ => None,
        }
    }

    /// Reads a string or `null`.
    fn text(&mut self) -> Option<Option<Cow<'a, str>>> {
        self.nullable(b'"', |cursor| cursor.string().map(Cow::Borrowed))
    }

    /// Reads any value or `null`, as its text.
    fn raw(&mut self) -> Option<Option<&'a str>> {
        self.skip_space();
        if self.peek()? == b'n' {
            return self.literal(b"null").map(|()| None);
        }
        self.value(1).map(Some)
    }

    fn record(&mut self) -> Option<RawRecord<'a>> {
        let mut raw = RawRecord::default();
        let mut seen = Seen::default();
        self.object(|cursor, key| {
            let Some(field) = Field::of(key) else {
                if LEFT_TO_SERDE.contains(&key) {
                    return None;
                }
                return cursor.skip(1);
            };
            seen.first(field as u32)?;
            match field {
                Field::EventVersion => raw.event_version = cursor.text()?,
                Field::UserIdentity => raw.user_identity = cursor.nullable(b'{', Self::identity)?,
                Field::EventTime => raw.event_time = cursor.text()?,
                Field::LogstashTime => raw.logstash_time = cursor.text()?,
                Field::EventSource => raw.event_source = cursor.text()?,
                Field::EventName => raw.event_name = cursor.text()?,
                Field::AwsRegion => raw.aws_region = cursor.text()?,
                Field::SourceIp => raw.source_ip = cursor.text()?,
                Field::UserAgent => raw.user_agent = cursor.text()?,
                Field::ErrorCode => raw.error_code = cursor.text()?,
                Field::ErrorMessage => raw.error_message = cursor.text()?,
                Field::RequestParameters => raw.request_parameters = cursor.raw()?,
                Field::ResponseElements => raw.response_elements = cursor.raw()?,
                Field::AdditionalEventData => raw.additional_event_data = cursor.raw()?,
                Field::EventId => raw.event_id = cursor.text()?,
                Field::RequestId => raw.request_id = cursor.text()?,
                Field::SharedEventId => raw.shared_event_id = cursor.text()?,
                Field::ReadOnly => raw.read_only = cursor.raw()?,
                Field::Resources => raw.resources = cursor.nullable(b'[', Self::resources)?,
                Field::EventType => raw.event_type = cursor.text()?,
                Field::EventCategory => raw.event_category = cursor.text()?,
                Field::RecipientAccountId => raw.recipient_account_id = cursor.text()?,
                Field::VpcEndpointId => raw.vpc_endpoint_id = cursor.text()?,
                Field::DetailType => raw.detail_type = cursor.text()?,
            }
            Some(())
        })?;
        Some(raw)
    }

    fn identity(&mut self) -> Option<RawIdentity<'a>> {
        let mut identity = RawIdentity::default();
        let mut seen = Seen::default();
        self.object(|cursor, key| {
            let (bit, field) = match key {
                "type" => (0, &mut identity.kind),
                "principalId" => (1, &mut identity.principal_id),
                "arn" => (2, &mut identity.arn),
                "accountId" => (3, &mut identity.account_id),
                "invokedBy" => (4, &mut identity.invoked_by),
                "sessionContext" => {
                    seen.first(5)?;
                    identity.session_context = cursor.nullable(b'{', Self::session_context)?;
                    return Some(());
                }
                _ => return cursor.skip(2),
            };
            seen.first(bit)?;
            *field = cursor.text()?;
            Some(())
        })?;
        Some(identity)
    }

    fn session_context(&mut self) -> Option<RawSessionContext<'a>> {
        let mut context = RawSessionContext::default();
        let mut seen = Seen::default();
        self.object(|cursor, key| {
            if key != "sessionIssuer" {
                return cursor.skip(3);
            }
            seen.first(0)?;
            context.session_issuer = cursor.nullable(b'{', |cursor| {
                let mut issuer = RawSessionIssuer::default();
                let mut seen = Seen::default();
                cursor.object(|cursor, key| {
                    if key != "arn" {
                        return cursor.skip(4);
                    }
                    seen.first(0)?;
                    issuer.arn = cursor.text()?;
                    Some(())
                })?;
                Some(issuer)
            })?;
            Some(())
        })?;
        Some(context)
    }

    fn resources(&mut self) -> Option<Vec<RawResource<'a>>> {
        let mut resources = Vec::new();
        self.array(|cursor| {
            cursor.skip_space();
            if cursor.peek()? != b'{' {
                return None;
            }
            let mut resource = RawResource::default();
            let mut seen = Seen::default();
            cursor.object(|cursor, key| {
                // `arn` is another name of `ARN`, so one of each is a
                // repeated field too.
                let (bit, field) = match key {
                    "ARN" | "arn" => (0, &mut resource.arn),
                    "type" => (1, &mut resource.kind),
                    _ => return cursor.skip(3),
                };
                seen.first(bit)?;
                *field = cursor.text()?;
                Some(())
            })?;
            resources.push(resource);
            Some(())
        })?;
        Some(resources)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::path::Path;

    use serde_json::Value;

    use super::*;

    /// Checks that the plain parser, when it reads `text`, reads what
    /// serde_json reads. Returns whether it read it.
    fn read_alike(text: &str) -> bool {
        let Some(plain) = parse_plain(text) else {
            return false;
        };
        let parsed: RawRecord<'_> = serde_json::from_str(text).unwrap_or_else(|error| {
            panic!("serde_json rejects the text that was read ({error}): {text}")
        });
        assert_eq!(format!("{plain:?}"), format!("{parsed:?}"), "{text}");
        true
    }

    /// Every object of the fixture files that may be a record, as compact
    /// JSON text: elements of `Records` and of arrays, lines of JSON Lines,
    /// and EventBridge envelopes with their `detail`.
    fn fixture_objects() -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/cloudtrail");
        let mut folders = vec![root];
        let mut objects = Vec::new();
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                    continue;
                }
                let mut content = std::fs::read(&path).unwrap();
                if content.starts_with(&[0x1f, 0x8b]) {
                    let mut decoded = Vec::new();
                    let _ =
                        flate2::read::MultiGzDecoder::new(&content[..]).read_to_end(&mut decoded);
                    content = decoded;
                }
                let values: Vec<Value> = match serde_json::from_slice(&content) {
                    Ok(value) => vec![value],
                    Err(_) => content
                        .split(|byte| *byte == b'\n')
                        .filter_map(|line| serde_json::from_slice(line).ok())
                        .collect(),
                };
                for value in values {
                    collect_objects(value, &mut objects);
                }
            }
        }
        objects
    }

    fn collect_objects(value: Value, objects: &mut Vec<String>) {
        match value {
            Value::Array(items) => items
                .into_iter()
                .for_each(|item| collect_objects(item, objects)),
            Value::Object(mut fields) => {
                objects.push(Value::Object(fields.clone()).to_string());
                for key in ["Records", "detail"] {
                    if let Some(inner) = fields.remove(key) {
                        collect_objects(inner, objects);
                    }
                }
            }
            _ => {}
        }
    }

    #[test]
    fn fixture_records_match_serde_json() {
        let objects = fixture_objects();
        assert!(objects.len() > 300, "{} objects", objects.len());

        let read = objects.iter().filter(|text| read_alike(text)).count();
        // Records with escapes, such as policies stored as JSON strings, and
        // the envelopes and files of records are left to serde_json.
        assert!(read * 2 > objects.len(), "{read} of {} read", objects.len());
    }

    #[test]
    fn damaged_records_match_serde_json() {
        const BYTES: &[u8] = b"{}[],:\" 0-.et\\";
        let objects = fixture_objects();
        let plain: Vec<&String> = objects
            .iter()
            .filter(|text| text.len() < 1500 && parse_plain(text).is_some())
            .take(20)
            .collect();
        let mut variants = 0;
        for text in plain {
            let bytes = text.as_bytes();
            for at in (0..bytes.len()).step_by(3) {
                let mut damaged: Vec<Vec<u8>> = vec![[&bytes[..at], &bytes[at + 1..]].concat()];
                for &byte in BYTES {
                    damaged.push([&bytes[..at], &[byte], &bytes[at + 1..]].concat());
                    damaged.push([&bytes[..at], &[byte], &bytes[at..]].concat());
                }
                for variant in damaged {
                    if let Ok(variant) = std::str::from_utf8(&variant) {
                        read_alike(variant);
                        variants += 1;
                    }
                }
            }
        }
        assert!(variants > 50_000, "{variants} variants");
    }

    #[test]
    fn unusual_records_left_to_serde_json() {
        let cases = [
            // Repeated fields, an error for serde_json.
            r#"{"eventName":"A","eventName":"B"}"#,
            r#"{"userIdentity":{"arn":"a","arn":"b"}}"#,
            r#"{"resources":[{"ARN":"a","arn":"b"}]}"#,
            r#"{"userIdentity":{"sessionContext":{"sessionIssuer":{"arn":"a","arn":"b"}}}}"#,
            // Values of the wrong type.
            r#"{"eventVersion":1.08}"#,
            r#"{"userIdentity":["Root","p"]}"#,
            r#"{"resources":[null]}"#,
            r#"{"resources":{"ARN":"a"}}"#,
            // Escapes and control characters.
            r#"{"eventName":"D\u0065crypt"}"#,
            "{\"eventName\":\"Decrypt\",\n\"eventSource\":\"kms.amazonaws.com\"}",
            "{\"eventName\":\"De\tcrypt\"}",
            // Objects that are not one event.
            r#"{"Records":[]}"#,
            r#"{"detail-type":"AWS API Call via CloudTrail","detail":{}}"#,
            r#"{"digestEndTime":"2024-01-01T00:00:00Z"}"#,
            r#"{"insightDetails":{}}"#,
            r#"{"class_uid":6003}"#,
            // Invalid JSON.
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            r#"{"a":1e+}"#,
            r#"{"a":tru}"#,
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a" 1}"#,
            r#"{"a":1} x"#,
            r#"{"a":"b}"#,
        ];
        for case in cases {
            assert!(parse_plain(case).is_none(), "{case}");
        }
    }

    #[test]
    fn plain_values_read_whole() {
        let cases = [
            r#"{}"#,
            r#" { "a" : -0.5e+10 , "b" : [ ] , "c" : { } } "#,
            r#"{"readOnly":"true","requestParameters":{"keyId":"k","n":[1,2.5,{"x":null}]}}"#,
            r#"{"userIdentity":null,"resources":null,"responseElements":null}"#,
            r#"{"resources":[{"ARN":"a","type":"AWS::KMS::Key","accountId":"1"},{"arn":"b"}]}"#,
            // Strings that end in a later block than they start.
            &format!(
                r#"{{"userAgent":"{}","eventName":"{}"}}"#,
                "a".repeat(200),
                "b".repeat(62)
            ),
        ];
        for case in cases {
            assert!(read_alike(case), "{case}");
        }
    }

    #[test]
    fn named_strings_last_value_kept() {
        let names = ["keyId", "sourceKeyId", "targetKeyId"];
        let cases = [
            (
                r#"{"keyId":"a","keyId":"b"}"#,
                Some([Some("b"), None, None, None]),
            ),
            (
                r#"{"keyId":7,"targetKeyId":"t"}"#,
                Some([None, None, Some("t"), None]),
            ),
            (
                r#"{"keyId":"a","keyId":null}"#,
                Some([None, None, None, None]),
            ),
            (
                r#" { "sourceKeyId" : "s" , "x" : [1] } "#,
                Some([None, Some("s"), None, None]),
            ),
            (r#"{"keyId":"a\u0062"}"#, None),
            (r#"{"keyId":"a",}"#, None),
            (r#"{"keyId":"a"} x"#, None),
        ];
        for (text, expected) in cases {
            assert_eq!(named_strings(text, &names), expected, "{text}");
        }
    }

    #[test]
    fn deep_nesting_left_to_serde_json() {
        let nested = |depth: usize| {
            format!(
                r#"{{"requestParameters":{}1{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        assert!(read_alike(&nested(MAX_DEPTH - 2)));
        assert!(parse_plain(&nested(MAX_DEPTH)).is_none());
    }
}
