//! CloudTrail events in OCSF, as Amazon Security Lake stores them, mapped
//! back to the CloudTrail fields that keyward reads.
//!
//! Security Lake writes CloudTrail management events as OCSF API Activity:
//! class 6003 in OCSF 1.1.0 (source version 2) and class 3005 in OCSF
//! 1.0.0-rc.2 (source version 1). The two versions place the caller
//! differently:
//!
//! | CloudTrail | OCSF 1.1.0 | OCSF 1.0.0-rc.2 |
//! |---|---|---|
//! | `userIdentity.arn` | `actor.user.uid` | `actor.user.uuid` |
//! | `userIdentity.principalId` | `actor.user.uid_alt` | `actor.user.uid` |
//! | `userIdentity.accountId` | `actor.user.account.uid` | `actor.user.account_uid` |
//! | `requestParameters` | `api.request.data` (JSON) | `unmapped` keys `requestParameters.NAME` |
//! | `responseElements` | `api.response.data` (JSON) | `unmapped` keys `responseElements.NAME` |
//!
//! Both versions share `metadata.uid` (`eventID`), `time` (milliseconds),
//! `api.service.name`, `api.operation`, `api.response.error` and `message`,
//! `cloud.region`, `actor.session.issuer`, `actor.invoked_by`,
//! `src_endpoint.ip` or `domain`, `http_request.user_agent`, `resources[]`
//! (`uid` and `type`), and `unmapped.recipientAccountId`. The event then
//! goes through the same normalization as a CloudTrail record, so that its
//! event key is the key of the CloudTrail record it came from.

use std::borrow::Cow;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::event::{
    Classified, Event, Parsed, RawIdentity, RawRecord, RawResource, RawSessionContext,
    RawSessionIssuer, RecordError, classify, excerpt,
};

/// `class_uid` of API Activity in OCSF 1.0.0 and later.
pub const API_ACTIVITY_CLASS: i64 = 6003;

/// `class_uid` of API Activity in OCSF 1.0.0-rc.2, Security Lake's source
/// version 1.
pub const RC2_API_ACTIVITY_CLASS: i64 = 3005;

/// Classifies one OCSF event: an API Activity event of CloudTrail becomes a
/// CloudTrail record, any other event is not CloudTrail. An event of a kept
/// service is written into `into`.
pub fn classify_ocsf(event: &Value, into: &mut Event) -> Result<Classified, RecordError> {
    let class = event.get("class_uid").and_then(Value::as_i64);
    let version = text_at(event, "/metadata/version").unwrap_or_default();
    let rc2 = class == Some(RC2_API_ACTIVITY_CLASS) || version.starts_with("1.0.0-rc");
    if !matches!(class, Some(API_ACTIVITY_CLASS | RC2_API_ACTIVITY_CLASS)) {
        return Ok(Classified::NotCloudTrail);
    }
    let product = text_at(event, "/metadata/product/name");
    if product.is_some_and(|name| !name.eq_ignore_ascii_case("CloudTrail")) {
        return Ok(Classified::NotCloudTrail);
    }

    let payloads = Payloads::of(event)?;
    let mut raw = record_fields(event, rc2)?;
    raw.request_parameters = payloads.request.as_deref().map(RawValue::get);
    raw.response_elements = payloads.response.as_deref().map(RawValue::get);
    raw.additional_event_data = payloads.additional.as_deref().map(RawValue::get);
    raw.read_only = payloads.read_only.as_deref().map(RawValue::get);
    match classify(raw, into)? {
        Parsed::One(classified) => Ok(classified),
        Parsed::Records(_) => Ok(Classified::NotCloudTrail),
    }
}

/// The JSON values of an event that a [`RawRecord`] borrows.
struct Payloads {
    request: Option<Box<RawValue>>,
    response: Option<Box<RawValue>>,
    additional: Option<Box<RawValue>>,
    read_only: Option<Box<RawValue>>,
}

impl Payloads {
    fn of(event: &Value) -> Result<Self, RecordError> {
        let read_only = unmapped_value(event, "readOnly")
            .map(|value| raw_json(&Value::String(plain_text(&value))))
            .transpose()?;
        Ok(Self {
            request: payload(event, "/api/request/data", "requestParameters")?,
            response: payload(event, "/api/response/data", "responseElements")?,
            additional: payload(event, "", "additionalEventData")?,
            read_only,
        })
    }
}

/// Builds the record of an event, without its JSON payloads.
fn record_fields(event: &Value, rc2: bool) -> Result<RawRecord<'_>, RecordError> {
    let time_micros = match event.get("time") {
        Some(Value::Number(number)) => {
            let millis = number
                .as_i64()
                .ok_or_else(|| RecordError::InvalidTime(excerpt(&number.to_string())))?;
            Some(millis.saturating_mul(1000))
        }
        Some(Value::Null) | None => None,
        Some(other) => return Err(RecordError::InvalidTime(excerpt(&other.to_string()))),
    };
    let event_time = text_at(event, "/time_dt").map(Cow::Borrowed);
    if time_micros.is_none() && event_time.is_none() {
        return Err(RecordError::Missing("time"));
    }
    let service =
        text_at(event, "/api/service/name").ok_or(RecordError::Missing("api.service.name"))?;
    let operation =
        text_at(event, "/api/operation").ok_or(RecordError::Missing("api.operation"))?;

    let recipient = text_at(event, "/cloud/account/uid")
        .map(Cow::Borrowed)
        .or_else(|| {
            unmapped_value(event, "recipientAccountId").map(|v| Cow::Owned(plain_text(&v)))
        });
    let event_type = text_at(event, "/metadata/event_code")
        .map(Cow::Borrowed)
        .or_else(|| unmapped_value(event, "eventType").map(|v| Cow::Owned(plain_text(&v))));
    let source_ip =
        text_at(event, "/src_endpoint/ip").or_else(|| text_at(event, "/src_endpoint/domain"));
    let vpc_endpoint = text_at(event, "/src_endpoint/uid").filter(|uid| uid.starts_with("vpce-"));

    Ok(RawRecord {
        event_version: borrowed(text_at(event, "/metadata/product/version")),
        user_identity: Some(identity(event, rc2)),
        event_time,
        event_source: Some(Cow::Borrowed(service)),
        event_name: Some(Cow::Borrowed(operation)),
        aws_region: borrowed(text_at(event, "/cloud/region")),
        source_ip: borrowed(source_ip),
        user_agent: borrowed(text_at(event, "/http_request/user_agent")),
        error_code: borrowed(text_at(event, "/api/response/error")),
        error_message: borrowed(text_at(event, "/api/response/message")),
        event_id: borrowed(text_at(event, "/metadata/uid")),
        request_id: borrowed(text_at(event, "/api/request/uid")),
        shared_event_id: unmapped_value(event, "sharedEventID").map(|v| Cow::Owned(plain_text(&v))),
        resources: Some(resources(event)),
        event_type,
        event_category: unmapped_value(event, "eventCategory").map(|v| Cow::Owned(plain_text(&v))),
        recipient_account_id: recipient,
        vpc_endpoint_id: borrowed(vpc_endpoint),
        time_micros,
        ..RawRecord::default()
    })
}

/// Builds `userIdentity` from `actor`.
fn identity(event: &Value, rc2: bool) -> RawIdentity<'_> {
    let (arn, principal_id, account) = if rc2 {
        (
            "/actor/user/uuid",
            "/actor/user/uid",
            "/actor/user/account_uid",
        )
    } else {
        (
            "/actor/user/uid",
            "/actor/user/uid_alt",
            "/actor/user/account/uid",
        )
    };
    let issuer = text_at(event, "/actor/session/issuer").map(|arn| RawSessionContext {
        session_issuer: Some(RawSessionIssuer {
            arn: Some(Cow::Borrowed(arn)),
        }),
    });
    RawIdentity {
        kind: borrowed(text_at(event, "/actor/user/type")),
        principal_id: borrowed(text_at(event, principal_id)),
        arn: borrowed(text_at(event, arn)),
        account_id: borrowed(text_at(event, account)),
        invoked_by: borrowed(text_at(event, "/actor/invoked_by")),
        session_context: issuer,
    }
}

fn resources(event: &Value) -> Vec<RawResource<'_>> {
    let Some(Value::Array(items)) = event.get("resources") else {
        return Vec::new();
    };
    items
        .iter()
        .map(|item| RawResource {
            arn: borrowed(item.get("uid").and_then(Value::as_str)),
            kind: borrowed(item.get("type").and_then(Value::as_str)),
        })
        .collect()
}

fn borrowed(text: Option<&str>) -> Option<Cow<'_, str>> {
    text.map(Cow::Borrowed)
}

/// Returns the text at a JSON pointer, ignoring empty text.
fn text_at<'a>(event: &'a Value, pointer: &str) -> Option<&'a str> {
    event
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
}

/// Returns the value of an `unmapped` key that is not null.
fn unmapped_value(event: &Value, key: &str) -> Option<Value> {
    event
        .get("unmapped")
        .and_then(|unmapped| unmapped.get(key))
        .filter(|value| !value.is_null())
        .cloned()
}

/// Returns text as it is and any other value as JSON text.
fn plain_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Returns a CloudTrail payload such as `requestParameters` as JSON: the
/// OCSF attribute at `pointer`, else the `unmapped` value of that name,
/// else an object rebuilt from the `unmapped` keys `NAME.field`, which
/// OCSF 1.0.0-rc.2 writes with every value as text.
fn payload(event: &Value, pointer: &str, name: &str) -> Result<Option<Box<RawValue>>, RecordError> {
    let direct = (!pointer.is_empty())
        .then(|| event.pointer(pointer))
        .flatten()
        .filter(|value| !value.is_null())
        .cloned()
        .or_else(|| unmapped_value(event, name));
    if let Some(value) = direct {
        return json_payload(&value).map(Some);
    }
    let flattened = flattened_payload(event, name);
    flattened.map(|value| raw_json(&value)).transpose()
}

/// Turns a payload into JSON: text that is JSON is kept as written, other
/// text becomes a JSON string, and a JSON value is serialized.
fn json_payload(value: &Value) -> Result<Box<RawValue>, RecordError> {
    if let Value::String(text) = value
        && let Ok(raw) = RawValue::from_string(text.clone())
    {
        return Ok(raw);
    }
    raw_json(value)
}

fn raw_json(value: &Value) -> Result<Box<RawValue>, RecordError> {
    Ok(RawValue::from_string(value.to_string())?)
}

/// Rebuilds an object from the `unmapped` keys `NAME.a.b`. Keys with `[]`
/// flatten arrays into comma-separated text and are left out.
fn flattened_payload(event: &Value, name: &str) -> Option<Value> {
    let unmapped = event.get("unmapped")?.as_object()?;
    let prefix = format!("{name}.");
    let mut root = Map::new();
    for (key, value) in unmapped {
        let Some(path) = key.strip_prefix(&prefix) else {
            continue;
        };
        if path.contains("[]") || value.is_null() {
            continue;
        }
        insert_path(&mut root, path, value.clone());
    }
    (!root.is_empty()).then_some(Value::Object(root))
}

fn insert_path(object: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            object.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let child = object
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(child) = child {
                insert_path(child, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Parsed, parse_record};

    const CLOUDTRAIL: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:app","arn":"arn:aws:sts::111122223333:assumed-role/App/app","accountId":"111122223333","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::111122223333:role/App"}}},"eventTime":"2026-05-01T10:00:00Z","eventSource":"kms.amazonaws.com","eventName":"Decrypt","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli","requestParameters":{"keyId":"alias/app"},"responseElements":null,"eventID":"e-1","readOnly":true,"resources":[{"type":"AWS::KMS::Key","ARN":"arn:aws:kms:us-east-1:111122223333:key/k1"}],"eventType":"AwsApiCall","recipientAccountId":"111122223333","eventCategory":"Management"}"#;

    const OCSF_1_1: &str = r#"{"class_uid":6003,"time":1777629600000,"metadata":{"uid":"e-1","version":"1.1.0","event_code":"AwsApiCall","product":{"name":"CloudTrail","vendor_name":"AWS","version":"1.08"}},"cloud":{"provider":"AWS","region":"us-east-1"},"api":{"operation":"Decrypt","service":{"name":"kms.amazonaws.com"},"request":{"data":"{\"keyId\":\"alias/app\"}"},"response":{"error":null}},"actor":{"user":{"type":"AssumedRole","uid":"arn:aws:sts::111122223333:assumed-role/App/app","uid_alt":"AROAEXAMPLE:app","account":{"uid":"111122223333"}},"session":{"issuer":"arn:aws:iam::111122223333:role/App"}},"src_endpoint":{"ip":"198.51.100.7"},"http_request":{"user_agent":"aws-cli"},"resources":[{"uid":"arn:aws:kms:us-east-1:111122223333:key/k1","type":"AWS::KMS::Key"}],"unmapped":{"recipientAccountId":"111122223333","readOnly":"true","eventCategory":"Management"}}"#;

    fn crypto(bytes: &str) -> Event {
        let mut event = Event::default();
        match parse_record(bytes.as_bytes(), &mut event).unwrap() {
            Parsed::One(Classified::Crypto) => event,
            other => panic!("not a crypto event: {other:?}"),
        }
    }

    fn parse(bytes: &str) -> Result<Parsed<'_>, RecordError> {
        parse_record(bytes.as_bytes(), &mut Event::default())
    }

    #[test]
    fn ocsf_event_equals_its_record() {
        let from_cloudtrail = crypto(CLOUDTRAIL);
        let from_ocsf = crypto(OCSF_1_1);
        assert_eq!(from_ocsf.key, from_cloudtrail.key);
        assert_eq!(from_ocsf, from_cloudtrail);
    }

    #[test]
    fn rc2_caller_fields_read() {
        let event = r#"{"class_uid":3005,"time":1459524708000,"metadata":{"uid":"e-2","version":"1.0.0-rc.2","product":{"name":"CloudTrail"}},"cloud":{"region":"us-west-2"},"api":{"operation":"GetSecretValue","service":{"name":"secretsmanager.amazonaws.com"},"response":{"error":"AccessDeniedException","message":"denied"}},"actor":{"user":{"type":"IAMUser","uid":"AIDAEXAMPLE","uuid":"arn:aws:iam::123456789012:user/Alice","account_uid":"123456789012"}},"unmapped":{"recipientAccountId":"123456789012","requestParameters.secretId":"prod/db","eventType":"AwsApiCall"}}"#;
        let event = crypto(event);
        assert_eq!(event.actor_principal_id.as_deref(), Some("AIDAEXAMPLE"));
        assert_eq!(
            event.actor_arn.as_deref(),
            Some("arn:aws:iam::123456789012:user/Alice")
        );
        assert_eq!(event.account.as_deref(), Some("123456789012"));
        assert_eq!(event.error_code.as_deref(), Some("AccessDeniedException"));
        assert_eq!(event.request_resource_id.as_deref(), Some("prod/db"));
        assert_eq!(event.event_type.as_deref(), Some("AwsApiCall"));
        assert_eq!(event.time, 1_459_524_708_000_000);
    }

    #[test]
    fn other_service_counted_as_other() {
        let event = OCSF_1_1.replace("kms.amazonaws.com", "s3.amazonaws.com");
        let parsed = parse(&event).unwrap();
        assert!(
            matches!(parsed, Parsed::One(Classified::Other)),
            "{parsed:?}"
        );
    }

    #[test]
    fn other_classes_not_cloudtrail() {
        let finding =
            r#"{"class_uid":2003,"time":1,"metadata":{"product":{"name":"Security Hub"}}}"#;
        let parsed = parse(finding).unwrap();
        assert!(matches!(parsed, Parsed::One(Classified::NotCloudTrail)));
        let eks = OCSF_1_1.replace(r#""name":"CloudTrail""#, r#""name":"Amazon EKS""#);
        let parsed = parse(&eks).unwrap();
        assert!(matches!(parsed, Parsed::One(Classified::NotCloudTrail)));
    }

    #[test]
    fn event_without_time_rejected() {
        let event = OCSF_1_1.replace(r#""time":1777629600000,"#, "");
        let error = parse(&event).unwrap_err();
        assert_eq!(error.to_string(), "record has no time");
        let event = OCSF_1_1.replace("1777629600000", r#""yesterday""#);
        assert!(parse(&event).is_err());
    }

    #[test]
    fn event_without_operation_rejected() {
        let event = OCSF_1_1.replace(r#""operation":"Decrypt","#, "");
        let error = parse(&event).unwrap_err();
        assert_eq!(error.to_string(), "record has no api.operation");
    }
}
