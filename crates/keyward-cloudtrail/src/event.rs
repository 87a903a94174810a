//! One CloudTrail event of a cryptographic service, normalized into the
//! columns that keyward stores.
//!
//! Parsing borrows from the record's bytes and copies only the fields that
//! are kept. Nested objects that queries read as JSON text
//! (`requestParameters`, `responseElements`, `additionalEventData`) are kept
//! as their original text.

use std::borrow::Cow;
use std::fmt;

use compact_str::CompactString;
use serde::Deserialize;
use serde_json::value::RawValue;
use xxhash_rust::xxh3::Xxh3;

use crate::service::CryptoService;
use crate::time::parse_event_time;

/// A CloudTrail event of one of the services keyward keeps.
///
/// Fields that are short in most CloudTrail records, such as the Region or
/// the error code, are `CompactString`s, which keep up to 24 bytes without
/// an allocation. An event is built on a reader thread and freed on the
/// store writer's, and each allocation freed across threads costs time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Event {
    /// Identity of the event for de-duplication: a hash of `eventID`, event
    /// time, source and name (of the whole record when `eventID` is absent).
    pub key: u128,
    /// `eventTime` in microseconds since the epoch, UTC.
    pub time: i64,
    /// `eventID`.
    pub event_id: Option<String>,
    /// `requestID`, part of the de-duplication key of records that have no `eventID`.
    pub request_id: Option<String>,
    /// `sharedEventID`: the same in the records that CloudTrail writes to
    /// each account taking part in a cross-account call.
    pub shared_event_id: Option<String>,
    /// `eventVersion`.
    pub event_version: Option<CompactString>,
    /// `eventSource`, such as `kms.amazonaws.com`.
    pub service: CompactString,
    /// `eventName`, such as `Decrypt`.
    pub operation: CompactString,
    /// `eventType`, such as `AwsApiCall` or `AwsServiceEvent`.
    pub event_type: Option<CompactString>,
    /// `eventCategory`, such as `Management` or `Data`.
    pub event_category: Option<CompactString>,
    /// The account the event belongs to: `recipientAccountId`, else the
    /// caller's account.
    pub account: Option<CompactString>,
    /// `awsRegion`.
    pub region: Option<CompactString>,
    /// `errorCode`; absent for a successful call.
    pub error_code: Option<CompactString>,
    /// `errorMessage`.
    pub error_message: Option<String>,
    /// `userIdentity.type`.
    pub actor_type: Option<CompactString>,
    /// `userIdentity.principalId`.
    pub actor_principal_id: Option<String>,
    /// `userIdentity.arn`.
    pub actor_arn: Option<String>,
    /// `userIdentity.accountId`.
    pub actor_account: Option<CompactString>,
    /// `userIdentity.sessionContext.sessionIssuer.arn`.
    pub actor_session_issuer: Option<String>,
    /// `userIdentity.invokedBy`: the AWS service that made the call.
    pub actor_invoked_by: Option<CompactString>,
    /// `sourceIPAddress`; an AWS service name for calls made by a service.
    pub source_ip: Option<CompactString>,
    /// `userAgent`.
    pub user_agent: Option<String>,
    /// `readOnly`.
    pub read_only: Option<bool>,
    /// `resources[].ARN`, in order.
    pub resource_arns: Vec<String>,
    /// The asset the event concerns, normalized: a key ARN, an alias ARN, a
    /// secret ARN or name, a certificate or certificate authority ARN.
    pub resource: Option<String>,
    /// The identifier the request named, as written: `keyId`, `secretId`,
    /// `certificateArn` and the like.
    pub request_resource_id: Option<String>,
    /// `requestParameters` as JSON text.
    pub request_parameters: Option<String>,
    /// `responseElements` as JSON text.
    pub response_elements: Option<String>,
    /// `additionalEventData` as JSON text.
    pub additional_event_data: Option<String>,
    /// `vpcEndpointId`.
    pub vpc_endpoint_id: Option<CompactString>,
}

impl Event {
    /// Reports whether the call succeeded: CloudTrail records `errorCode`
    /// only on failure.
    pub fn succeeded(&self) -> bool {
        self.error_code.is_none()
    }
}

/// Classification of one JSON object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Classified {
    /// An event of a kept service, written into the caller's [`Event`].
    Crypto,
    /// A valid CloudTrail record of another service.
    Other,
    /// A CloudTrail Insights event.
    Insight,
    /// A CloudTrail digest file's body.
    Digest,
    /// JSON that is not a CloudTrail record.
    NotCloudTrail,
}

/// A record that is JSON but not a usable CloudTrail record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The JSON text is invalid, or a field has the wrong type.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A field every record has is absent.
    #[error("record has no {0}")]
    Missing(&'static str),
    /// `eventTime` is not a date and time.
    #[error("invalid eventTime {0}")]
    InvalidTime(String),
}

/// Characters of a value that an error message repeats.
const MAX_EXCERPT_CHARS: usize = 64;

/// Returns a value to repeat in an error message, quoted: the whole value,
/// or its first [`MAX_EXCERPT_CHARS`] characters and its length.
pub(crate) fn excerpt(text: &str) -> String {
    match text.char_indices().nth(MAX_EXCERPT_CHARS) {
        None => format!("{text:?}"),
        Some((end, _)) => format!("{:?}... ({} bytes)", &text[..end], text.len()),
    }
}

/// The fields of a record that keyward reads. OCSF events are turned into
/// one as well, so that both go through the same normalization.
#[derive(Default, Deserialize)]
#[cfg_attr(test, derive(Debug))]
pub(crate) struct RawRecord<'a> {
    #[serde(
        rename = "eventVersion",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) event_version: Option<Cow<'a, str>>,
    #[serde(rename = "userIdentity", borrow, default)]
    pub(crate) user_identity: Option<RawIdentity<'a>>,
    #[serde(
        rename = "eventTime",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) event_time: Option<Cow<'a, str>>,
    /// The time a Logstash pipeline keeps when it moves `eventTime`.
    #[serde(
        rename = "@timestamp",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) logstash_time: Option<Cow<'a, str>>,
    #[serde(
        rename = "eventSource",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) event_source: Option<Cow<'a, str>>,
    #[serde(
        rename = "eventName",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) event_name: Option<Cow<'a, str>>,
    #[serde(
        rename = "awsRegion",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) aws_region: Option<Cow<'a, str>>,
    #[serde(
        rename = "sourceIPAddress",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) source_ip: Option<Cow<'a, str>>,
    #[serde(
        rename = "userAgent",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) user_agent: Option<Cow<'a, str>>,
    #[serde(
        rename = "errorCode",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) error_code: Option<Cow<'a, str>>,
    #[serde(
        rename = "errorMessage",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) error_message: Option<Cow<'a, str>>,
    #[serde(
        rename = "requestParameters",
        borrow,
        default,
        deserialize_with = "raw_text"
    )]
    pub(crate) request_parameters: Option<&'a str>,
    #[serde(
        rename = "responseElements",
        borrow,
        default,
        deserialize_with = "raw_text"
    )]
    pub(crate) response_elements: Option<&'a str>,
    #[serde(
        rename = "additionalEventData",
        borrow,
        default,
        deserialize_with = "raw_text"
    )]
    pub(crate) additional_event_data: Option<&'a str>,
    #[serde(
        rename = "eventID",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) event_id: Option<Cow<'a, str>>,
    #[serde(
        rename = "requestID",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) request_id: Option<Cow<'a, str>>,
    #[serde(
        rename = "sharedEventID",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) shared_event_id: Option<Cow<'a, str>>,
    #[serde(rename = "readOnly", borrow, default, deserialize_with = "raw_text")]
    pub(crate) read_only: Option<&'a str>,
    #[serde(borrow, default)]
    pub(crate) resources: Option<Vec<RawResource<'a>>>,
    #[serde(
        rename = "eventType",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) event_type: Option<Cow<'a, str>>,
    #[serde(
        rename = "eventCategory",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) event_category: Option<Cow<'a, str>>,
    #[serde(
        rename = "recipientAccountId",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) recipient_account_id: Option<Cow<'a, str>>,
    #[serde(
        rename = "vpcEndpointId",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) vpc_endpoint_id: Option<Cow<'a, str>>,
    #[serde(rename = "insightDetails", borrow, default)]
    pub(crate) insight_details: Option<&'a RawValue>,
    #[serde(
        rename = "detail-type",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) detail_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) detail: Option<&'a RawValue>,
    #[serde(rename = "digestPublicKeyFingerprint", borrow, default)]
    pub(crate) digest_fingerprint: Option<&'a RawValue>,
    #[serde(rename = "digestEndTime", borrow, default)]
    pub(crate) digest_end_time: Option<&'a RawValue>,
    #[serde(rename = "Records", borrow, default)]
    pub(crate) records: Option<&'a RawValue>,
    /// `class_uid` of an OCSF event.
    #[serde(borrow, default)]
    pub(crate) class_uid: Option<&'a RawValue>,
    /// The event time in microseconds, for a record built from OCSF, whose
    /// time is a number.
    #[serde(skip)]
    pub(crate) time_micros: Option<i64>,
}

#[derive(Default, Deserialize)]
#[cfg_attr(test, derive(Debug))]
pub(crate) struct RawIdentity<'a> {
    #[serde(rename = "type", borrow, default, deserialize_with = "borrowed_text")]
    pub(crate) kind: Option<Cow<'a, str>>,
    #[serde(
        rename = "principalId",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) principal_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    pub(crate) arn: Option<Cow<'a, str>>,
    #[serde(
        rename = "accountId",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) account_id: Option<Cow<'a, str>>,
    #[serde(
        rename = "invokedBy",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) invoked_by: Option<Cow<'a, str>>,
    #[serde(rename = "sessionContext", borrow, default)]
    pub(crate) session_context: Option<RawSessionContext<'a>>,
}

#[derive(Default, Deserialize)]
#[cfg_attr(test, derive(Debug))]
pub(crate) struct RawSessionContext<'a> {
    #[serde(rename = "sessionIssuer", borrow, default)]
    pub(crate) session_issuer: Option<RawSessionIssuer<'a>>,
}

#[derive(Default, Deserialize)]
#[cfg_attr(test, derive(Debug))]
pub(crate) struct RawSessionIssuer<'a> {
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    pub(crate) arn: Option<Cow<'a, str>>,
}

#[derive(Default, Deserialize)]
#[cfg_attr(test, derive(Debug))]
pub(crate) struct RawResource<'a> {
    #[serde(
        rename = "ARN",
        alias = "arn",
        borrow,
        default,
        deserialize_with = "borrowed_text"
    )]
    pub(crate) arn: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow, default, deserialize_with = "borrowed_text")]
    pub(crate) kind: Option<Cow<'a, str>>,
}

/// Reads an optional string, borrowing it from the record unless it has
/// escapes. A field of type `Option<Cow<str>>` would always be copied:
/// serde borrows a `Cow<str>` only when it is the field's whole type.
fn borrowed_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    let text: Option<Text<'de>> = Deserialize::deserialize(deserializer)?;
    Ok(text.map(|Text(text)| text))
}

/// Reads an optional JSON value as its text, borrowed from the record.
fn raw_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<&'de str>, D::Error> {
    let value: Option<&'de RawValue> = Deserialize::deserialize(deserializer)?;
    Ok(value.map(RawValue::get))
}

/// The result of looking at one JSON value that may hold records.
#[derive(Debug)]
pub enum Parsed<'a> {
    /// One classified record.
    One(Classified),
    /// A `{"Records": [...]}` object found where a record was expected; the
    /// caller reads each element.
    Records(&'a RawValue),
}

/// Parses and classifies one JSON object from a CloudTrail file: a record,
/// an EventBridge envelope around one, a digest body, or something else.
/// An event of a kept service is written into `event`, reusing its strings.
/// Otherwise `event` is left in an unspecified state.
pub fn parse_record<'a>(bytes: &'a [u8], event: &mut Event) -> Result<Parsed<'a>, RecordError> {
    // Validating the whole record at once spares the parser a check of each
    // string. A record with invalid UTF-8 is parsed as bytes, which reports
    // where the invalid bytes are, or accepts them in values it skips.
    let raw: RawRecord<'_> = match std::str::from_utf8(bytes) {
        Ok(text) => match crate::plain::parse_plain(text) {
            Some(raw) => raw,
            None => serde_json::from_str(text)?,
        },
        Err(_) => serde_json::from_slice(bytes)?,
    };
    if raw.event_source.is_none() && raw.class_uid.is_some() {
        let value: serde_json::Value = serde_json::from_slice(bytes)?;
        return crate::ocsf::classify_ocsf(&value, event).map(Parsed::One);
    }
    classify(raw, event)
}

pub(crate) fn classify<'a>(
    raw: RawRecord<'a>,
    event: &mut Event,
) -> Result<Parsed<'a>, RecordError> {
    if let Some(records) = raw.records {
        return Ok(Parsed::Records(records));
    }
    if raw.digest_fingerprint.is_some() || raw.digest_end_time.is_some() {
        return Ok(Parsed::One(Classified::Digest));
    }
    // An EventBridge envelope has no `eventSource` of its own. Where a record
    // has one, it decides, as it does for the reader's filter.
    if let (None, Some(_), Some(detail)) = (&raw.event_source, &raw.detail_type, raw.detail) {
        let inner: RawRecord<'_> = serde_json::from_str(detail.get())?;
        return match classify(inner, event)? {
            Parsed::One(classified) => Ok(Parsed::One(classified)),
            Parsed::Records(_) => Ok(Parsed::One(Classified::NotCloudTrail)),
        };
    }
    let insight =
        raw.insight_details.is_some() || raw.event_type.as_deref() == Some("AwsCloudTrailInsight");
    if insight {
        return Ok(Parsed::One(Classified::Insight));
    }
    if raw.event_source.is_none() || raw.event_name.is_none() {
        return Ok(Parsed::One(Classified::NotCloudTrail));
    }
    let source = raw.event_source.as_deref().unwrap_or_default();
    let Some(service) = CryptoService::from_event_source(source) else {
        return Ok(Parsed::One(Classified::Other));
    };
    build_event(raw, service, event)?;
    Ok(Parsed::One(Classified::Crypto))
}

/// Fills `event` from a record, writing text into the strings that `event`
/// already has, so a reader that reuses one event allocates only when a
/// value is longer than any before it.
fn build_event(
    raw: RawRecord<'_>,
    service: CryptoService,
    event: &mut Event,
) -> Result<(), RecordError> {
    let time = match raw.time_micros {
        Some(micros) => micros,
        None => {
            let time_text = raw
                .event_time
                .as_deref()
                .or(raw.logstash_time.as_deref())
                .ok_or(RecordError::Missing("eventTime"))?;
            parse_event_time(time_text)
                .ok_or_else(|| RecordError::InvalidTime(excerpt(time_text)))?
        }
    };
    let source = raw
        .event_source
        .as_deref()
        .ok_or(RecordError::Missing("eventSource"))?;
    let name = raw
        .event_name
        .as_deref()
        .ok_or(RecordError::Missing("eventName"))?;
    let identity = raw.user_identity.as_ref();

    let account = text(&raw.recipient_account_id).or(identity.and_then(|i| text(&i.account_id)));
    let region = text(&raw.aws_region);
    let request_resource_id = request_identifier(service, raw.request_parameters)
        .or_else(|| request_identifier(service, raw.additional_event_data))
        .or_else(|| response_identifier(service, raw.response_elements));
    let resources: Vec<(Option<&str>, Option<&str>)> = raw
        .resources
        .iter()
        .flatten()
        .map(|resource| (resource.arn.as_deref(), resource.kind.as_deref()))
        .collect();
    let arns = || resources.iter().filter_map(|(arn, _)| *arn);
    let partition = partition_of(arns(), identity.and_then(|i| text(&i.arn)), region);
    let resource = crate::resource::primary_resource(
        service,
        &resources,
        request_resource_id.as_deref(),
        crate::resource::Scope {
            partition,
            region,
            account,
        },
    );

    // Every field is named, so that a field added later cannot keep the
    // value of the record read before.
    let Event {
        key: _,
        time: event_time,
        event_id,
        request_id,
        shared_event_id,
        event_version,
        service,
        operation,
        event_type,
        event_category,
        account: event_account,
        region: event_region,
        error_code,
        error_message,
        actor_type,
        actor_principal_id,
        actor_arn,
        actor_account,
        actor_session_issuer,
        actor_invoked_by,
        source_ip,
        user_agent,
        read_only,
        resource_arns,
        resource: event_resource,
        request_resource_id: event_request_id,
        request_parameters,
        response_elements,
        additional_event_data,
        vpc_endpoint_id,
    } = event;
    *event_time = time;
    set_text(event_id, text(&raw.event_id));
    set_text(request_id, text(&raw.request_id));
    set_text(
        shared_event_id,
        text(&raw.shared_event_id).filter(|id| !id.is_empty()),
    );
    *event_version = text(&raw.event_version).map(CompactString::from);
    *service = source.into();
    *operation = name.into();
    *event_type = text(&raw.event_type).map(CompactString::from);
    *event_category = text(&raw.event_category).map(CompactString::from);
    *event_account = account.map(CompactString::from);
    *event_region = region.map(CompactString::from);
    *error_code = text(&raw.error_code)
        .filter(|code| !code.is_empty())
        .map(CompactString::from);
    set_text(
        error_message,
        text(&raw.error_message).map(redacted_free_text).as_deref(),
    );
    *actor_type = identity
        .and_then(|i| text(&i.kind))
        .map(CompactString::from);
    set_text(
        actor_principal_id,
        identity.and_then(|i| text(&i.principal_id)),
    );
    set_text(actor_arn, identity.and_then(|i| text(&i.arn)));
    *actor_account = identity
        .and_then(|i| text(&i.account_id))
        .map(CompactString::from);
    let issuer = identity
        .and_then(|i| i.session_context.as_ref())
        .and_then(|c| c.session_issuer.as_ref())
        .and_then(|s| s.arn.as_deref());
    set_text(actor_session_issuer, issuer);
    *actor_invoked_by = identity
        .and_then(|i| text(&i.invoked_by))
        .map(CompactString::from);
    *source_ip = text(&raw.source_ip).map(CompactString::from);
    set_text(
        user_agent,
        text(&raw.user_agent).map(redacted_free_text).as_deref(),
    );
    *read_only = raw.read_only.and_then(lenient_bool);
    set_texts(resource_arns, arns());
    set_text(event_resource, resource.as_deref());
    set_text(event_request_id, request_resource_id.as_deref());
    set_text(
        request_parameters,
        json_text(raw.request_parameters).as_deref(),
    );
    set_text(
        response_elements,
        json_text(raw.response_elements).as_deref(),
    );
    set_text(
        additional_event_data,
        json_text(raw.additional_event_data).as_deref(),
    );
    *vpc_endpoint_id = text(&raw.vpc_endpoint_id).map(CompactString::from);
    event.key = event_key(event);
    Ok(())
}

/// Returns the text of an optional record field.
fn text<'a>(value: &'a Option<Cow<'_, str>>) -> Option<&'a str> {
    value.as_deref()
}

/// Sets an optional string, reusing its allocation.
fn set_text(field: &mut Option<String>, value: Option<&str>) {
    match (field.as_mut(), value) {
        (Some(text), Some(value)) => {
            text.clear();
            text.push_str(value);
        }
        (None, Some(value)) => *field = Some(value.to_owned()),
        (_, None) => *field = None,
    }
}

/// Sets a list of strings, reusing their allocations.
fn set_texts<'a>(field: &mut Vec<String>, values: impl Iterator<Item = &'a str>) {
    let mut count = 0;
    for value in values {
        match field.get_mut(count) {
            Some(text) => {
                text.clear();
                text.push_str(value);
            }
            None => field.push(value.to_owned()),
        }
        count += 1;
    }
    field.truncate(count);
}

/// Keeps a nested object as JSON text, with secret material redacted; JSON
/// `null` counts as absent.
fn json_text(value: Option<&str>) -> Option<Cow<'_, str>> {
    let text = value.filter(|text| *text != "null")?;
    Some(redacted(text))
}

/// Request and response fields that carry secret material. CloudTrail
/// hides them itself; a log that was altered or exported by another tool
/// may not, and keyward never stores a secret.
const SECRET_FIELDS: [&str; 18] = [
    "secretstring",
    "secretbinary",
    "plaintext",
    "privatekey",
    "privatekeyplaintext",
    "privatekeypem",
    "passphrase",
    "password",
    "sessiontoken",
    "secretaccesskey",
    "keymaterial",
    "encryptedkeymaterial",
    "sharedsecret",
    "clientsecret",
    "apikey",
    "accesstoken",
    "refreshtoken",
    "authtoken",
];

/// For each byte, the [`SECRET_FIELDS`] that end in it, as bit masks.
const FIELDS_ENDING_IN: [u32; 256] = {
    let mut masks = [0u32; 256];
    let mut index = 0;
    while index < SECRET_FIELDS.len() {
        let field = SECRET_FIELDS[index].as_bytes();
        masks[field[field.len() - 1] as usize] |= 1 << index;
        index += 1;
    }
    masks
};

/// Labels inside the first and last lines of a private key's armor, which
/// is secret under any field name, on several lines or on one, each with the
/// text that may follow it: PEM armor reads
/// `-----BEGIN RSA PRIVATE KEY-----`, OpenPGP armor
/// `-----BEGIN PGP PRIVATE KEY BLOCK-----` or
/// `-----BEGIN PGP SECRET KEY BLOCK-----`, and SSH2 armor
/// `---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----`.
const PRIVATE_KEY_ARMOR: [(&[u8], &[&[u8]]); 2] = [
    (b"PRIVATE KEY", &[b"-----", b" BLOCK-----", b" ----"]),
    (b"SECRET KEY BLOCK", &[b"-----"]),
];

/// The start of the first line of a PuTTY private key file, a format of
/// PuTTY's own.
const PUTTY_PRIVATE_KEY: &[u8] = b"PuTTY-User-Key-File-";

/// Reports whether text has the first or last line of a private key's
/// armor, or the first line of a PuTTY private key file.
fn has_private_key(bytes: &[u8]) -> bool {
    let armored = PRIVATE_KEY_ARMOR
        .iter()
        .zip(FINDERS.armor_labels.iter())
        .any(|((label, ends), finder)| {
            finder.find_iter(bytes).any(|at| {
                let rest = &bytes[at + label.len()..];
                ends.iter().any(|end| rest.starts_with(end))
            })
        });
    armored || FINDERS.putty.find(bytes).is_some()
}

/// The value that replaces secret material.
pub const REDACTED: &str = "REDACTED_BY_KEYWARD";

/// Searchers for the fixed texts that redaction looks for in every JSON
/// text and free text of an event, built once. Building them for each text
/// took about 1.5% of an ingest's CPU samples on generated trees.
struct Finders {
    armor_labels: [memchr::memmem::Finder<'static>; 2],
    putty: memchr::memmem::Finder<'static>,
    pair_value_key_end: memchr::memmem::Finder<'static>,
    url_scheme_end: memchr::memmem::Finder<'static>,
}

static FINDERS: std::sync::LazyLock<Finders> = std::sync::LazyLock::new(|| Finders {
    armor_labels: PRIVATE_KEY_ARMOR.map(|(label, _)| memchr::memmem::Finder::new(label)),
    putty: memchr::memmem::Finder::new(PUTTY_PRIVATE_KEY),
    pair_value_key_end: memchr::memmem::Finder::new(PAIR_VALUE_KEY_END),
    url_scheme_end: memchr::memmem::Finder::new(b"://"),
});

/// Replaces the value of every [`SECRET_FIELDS`] key, at any depth, by
/// [`REDACTED`]. Text that names none of them is returned unchanged. A
/// string value of JSON text is redacted the same way, and one with other
/// secret material (see [`contains_secret`]) is replaced whole.
///
/// Text that may name one but that `serde_json::Value` cannot hold (a lone
/// surrogate escape, a number out of range, nesting past the parser's
/// limit, a key given twice in one object) is replaced whole by
/// [`REDACTED`] as a JSON string, because its secrets cannot be found.
pub fn redact_secrets(text: &str) -> String {
    redacted(text).into_owned()
}

/// Does what [`redact_secrets`] does, borrowing text that is unchanged.
fn redacted(text: &str) -> Cow<'_, str> {
    if !may_name_secret_field(text) {
        return Cow::Borrowed(text);
    }
    let Some(mut value) = parse_without_repeated_keys(text) else {
        return Cow::Owned(format!("\"{REDACTED}\""));
    };
    if redact_value(&mut value) {
        Cow::Owned(value.to_string())
    } else {
        Cow::Borrowed(text)
    }
}

/// Reports whether JSON text may give a [`SECRET_FIELDS`] field a value or
/// contain other secret material. That is so when [`contains_secret`] finds
/// some in it as plain text, or when it has a key of a name and value pair
/// (see [`PAIR_VALUE_KEYS`]). It is so too when the text has an escape
/// sequence, which could spell a name that a plain search misses, and when
/// it is a string rather than an object, because [`redact_text`] reads
/// strings.
fn may_name_secret_field(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr(b'\\', bytes).is_some()
        || bytes.first() == Some(&b'"')
        || FINDERS.pair_value_key_end.find(bytes).is_some()
        || contains_secret(text)
}

/// The end of every [`PAIR_VALUE_KEYS`] key as JSON writes it, in either
/// letter case of its `V`: text with one may contain a pair named secret.
const PAIR_VALUE_KEY_END: &[u8] = b"alue\"";

/// Parses JSON text, or returns `None` when it is invalid or an object in
/// it gives a key twice. `serde_json::Value` keeps only the last value of a
/// repeated key, so a secret given first and then `null` would otherwise be
/// judged by the `null` and stored.
fn parse_without_repeated_keys(text: &str) -> Option<serde_json::Value> {
    serde_json::from_str::<UniqueKeys>(text)
        .ok()
        .map(|parsed| parsed.0)
}

/// A JSON value whose objects give each key once.
struct UniqueKeys(serde_json::Value);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor).map(Self)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value whose objects give each key once")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Self::Value, E> {
        Ok(value.into())
    }

    fn visit_i64<E>(self, value: i64) -> Result<Self::Value, E> {
        Ok(value.into())
    }

    fn visit_u64<E>(self, value: u64) -> Result<Self::Value, E> {
        Ok(value.into())
    }

    fn visit_f64<E>(self, value: f64) -> Result<Self::Value, E> {
        Ok(value.into())
    }

    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(value.into())
    }

    fn visit_string<E>(self, value: String) -> Result<Self::Value, E> {
        Ok(value.into())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut items: A,
    ) -> Result<Self::Value, A::Error> {
        let mut values = Vec::new();
        while let Some(UniqueKeys(value)) = items.next_element()? {
            values.push(value);
        }
        Ok(values.into())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut fields: A,
    ) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(name) = fields.next_key::<String>()? {
            let UniqueKeys(value) = fields.next_value()?;
            if object.contains_key(&name) {
                return Err(serde::de::Error::custom(format!(
                    "the key {name:?} is given twice"
                )));
            }
            object.insert(name, value);
        }
        Ok(object.into())
    }
}

/// Keys that name the other member of a name and value pair.
const PAIR_NAME_KEYS: [&str; 5] = ["key", "name", "tagkey", "parameterkey", "parametername"];

/// Keys that contain the value of a name and value pair.
const PAIR_VALUE_KEYS: [&str; 3] = ["value", "tagvalue", "parametervalue"];

/// Redacts in place; returns whether anything was replaced.
fn redact_value(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Object(fields) => {
            // A key cannot be redacted alone, so an object with secret
            // material in a key is replaced whole.
            if fields.keys().any(|name| contains_secret(name)) {
                *value = Value::String(REDACTED.to_owned());
                return true;
            }
            // A pair such as {"Key": "password", "Value": "..."}, as tags and
            // parameters are written, gives its value a secret name.
            let pair_named_secret = fields.iter().any(|(name, field)| {
                PAIR_NAME_KEYS
                    .iter()
                    .any(|key| name.eq_ignore_ascii_case(key))
                    && field.as_str().is_some_and(is_secret_name)
            });
            let mut changed = false;
            for (name, field) in fields.iter_mut() {
                let secret = is_secret_name(name)
                    || (pair_named_secret
                        && PAIR_VALUE_KEYS
                            .iter()
                            .any(|key| name.eq_ignore_ascii_case(key)));
                if secret && !field.is_null() && field.as_str() != Some(REDACTED) {
                    *field = Value::String(REDACTED.to_owned());
                    changed = true;
                } else {
                    changed |= redact_value(field);
                }
            }
            changed
        }
        Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= redact_value(item);
            }
            changed
        }
        Value::String(text) => redact_text(text),
        _ => false,
    }
}

/// Redacts a string value. JSON text inside it is redacted as JSON, at any
/// depth. Other text that assigns a [`SECRET_FIELDS`] field a value is
/// replaced whole. Returns whether anything was replaced.
fn redact_text(text: &mut String) -> bool {
    let trimmed = text.trim_start();
    let json = trimmed.starts_with('{') || trimmed.starts_with('[');
    if json {
        match parse_without_repeated_keys(text) {
            Some(mut nested) => {
                if !redact_value(&mut nested) {
                    return false;
                }
                *text = nested.to_string();
                return true;
            }
            // Its keys may be spelled with escapes that the checks of plain
            // text do not read, so it is replaced whole.
            None if text.contains('\\') => {
                *text = REDACTED.to_owned();
                return true;
            }
            None => {}
        }
    }
    if !contains_secret(text) {
        return false;
    }
    *text = REDACTED.to_owned();
    true
}

/// Returns free text, such as an error message or a user agent, or
/// [`REDACTED`] in its place when it contains secret material (see
/// [`contains_secret`]).
fn redacted_free_text(text: &str) -> Cow<'_, str> {
    if contains_secret(text) {
        Cow::Borrowed(REDACTED)
    } else {
        Cow::Borrowed(text)
    }
}

/// Reports whether text that is not JSON contains secret material: a private
/// key's armor, a [`SECRET_FIELDS`] field given a value (see
/// [`assigns_secret_field`]), as an XML element (`<password>`) or as a
/// command-line option (`--password value`), or a URL with a password
/// (`postgres://user:password@host`).
fn contains_secret(text: &str) -> bool {
    has_private_key(text.as_bytes())
        || assigns_secret_field(text)
        || opens_secret_element(text)
        || passes_secret_option(text)
        || has_url_password(text)
}

/// Reports whether text opens an XML element named by a [`SECRET_FIELDS`]
/// name, such as `<password>`, `<db:masterUserPassword>` or
/// `<Password type="plain">`.
fn opens_secret_element(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'<', bytes).any(|at| {
        let start = at + 1;
        let name_len = bytes[start..]
            .iter()
            .take(MAX_NAME_LEN + 1)
            .take_while(|byte| is_name_byte(**byte) || matches!(byte, b':' | b'.'))
            .count();
        let end = start + name_len;
        (1..=MAX_NAME_LEN).contains(&name_len)
            && bytes
                .get(end)
                .is_some_and(|byte| *byte == b'>' || byte.is_ascii_whitespace())
            && is_secret_name(&text[start..end])
    })
}

/// Maximum length of the names that [`opens_secret_element`] and
/// [`passes_secret_option`] read, so that text of many `>` or `-` takes
/// time in proportion to its length.
const MAX_NAME_LEN: usize = 128;

/// Reports whether a byte may be part of a field name in free text: an
/// ASCII letter or digit, an underscore or a hyphen.
fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-')
}

/// Reports whether text passes a value to a command-line option named by a
/// [`SECRET_FIELDS`] name, as `--password value` and `-Password value` do.
/// The form `--password=value` is found by [`assigns_secret_field`].
fn passes_secret_option(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'-', bytes).any(|at| {
        // An option starts a word: `non-password` names none.
        if at > 0 && is_name_byte(bytes[at - 1]) {
            return false;
        }
        let start = if bytes.get(at + 1) == Some(&b'-') {
            at + 2
        } else {
            at + 1
        };
        let name_len = bytes[start..]
            .iter()
            .take(MAX_NAME_LEN + 1)
            .take_while(|byte| is_name_byte(**byte))
            .count();
        let end = start + name_len;
        let after = &text[end..];
        let value = after.trim_start();
        (1..=MAX_NAME_LEN).contains(&name_len)
            && value.len() < after.len()
            && !value.is_empty()
            && !value.starts_with('-')
            && is_secret_name(&text[start..end])
    })
}

/// Reports whether text contains a URL whose authority has a password:
/// `scheme://user:password@host`.
fn has_url_password(text: &str) -> bool {
    FINDERS.url_scheme_end.find_iter(text.as_bytes()).any(|at| {
        let rest = &text[at + 3..];
        let authority_end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '/' | '"' | '\'' | '<' | '>'))
            .unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        authority.rfind('@').is_some_and(|user_end| {
            authority[..user_end]
                .split_once(':')
                .is_some_and(|(_, password)| !password.is_empty())
        })
    })
}

/// Reports whether text gives a value to a field whose name ends in a
/// [`SECRET_FIELDS`] name (see [`is_secret_name`]): the name, then only
/// separators, then a colon or an equals sign. That is a key of JSON, of JSON
/// inside a string, or of `name=value` text. Separators are spaces of any
/// kind, control and invisible characters, quotes, backslashes, `+`, `;`,
/// `,` and `.`. Full-width and other lookalike colons and equals signs
/// count, and so do escaped ones (see [`escapes_decoded`]) and text that is
/// URL-encoded, even several times (`SecretString%253Dvalue`). A colon
/// inside an ARN does not count, and neither does a name that is only
/// mentioned. Text still URL-encoded after [`MAX_PERCENT_DECODES`] rounds
/// counts, because it cannot be checked.
fn assigns_secret_field(text: &str) -> bool {
    let assigns = |text: &str| {
        assigns_unencoded(text)
            || escapes_decoded(text).is_some_and(|decoded| assigns_unencoded(&decoded))
    };
    let mut decoded = Cow::Borrowed(text);
    for _ in 0..MAX_PERCENT_DECODES {
        if assigns(&decoded) {
            return true;
        }
        match percent_decoded(&decoded) {
            Some(text) => decoded = Cow::Owned(text),
            None => return false,
        }
    }
    // Text still URL-encoded after that many rounds cannot be checked.
    assigns(&decoded) || percent_decoded(&decoded).is_some()
}

/// Times that [`assigns_secret_field`] decodes URL-encoded text.
const MAX_PERCENT_DECODES: usize = 8;

/// Decodes the escapes of single characters in text: JSON and JavaScript
/// escapes written out as text (`\u003d`, `\x3d`), JavaScript's `%u`
/// escapes (`%u003d`), and HTML character references (`&#61;`, `&#x3d;`,
/// `&equals;`, `&colon;`, the `;` optional for numbers). Returns `None`
/// when text has none.
fn escapes_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = String::new();
    let mut copied = 0;
    for at in memchr::memchr3_iter(b'\\', b'%', b'&', bytes) {
        if at < copied {
            continue;
        }
        if let Some((character, len)) = escape_at(&bytes[at..]) {
            decoded.push_str(&text[copied..at]);
            decoded.push(character);
            copied = at + len;
        }
    }
    if copied == 0 {
        return None;
    }
    decoded.push_str(&text[copied..]);
    Some(decoded)
}

/// Reads the escape at the start of `bytes`, if there is one, as the
/// character it spells and its length.
fn escape_at(bytes: &[u8]) -> Option<(char, usize)> {
    let hex = |digits: &[u8]| -> Option<u32> {
        let digits = std::str::from_utf8(digits).ok()?;
        u32::from_str_radix(digits, 16).ok()
    };
    let lower = |start: usize, len: usize| -> Option<Vec<u8>> {
        Some(bytes.get(start..start + len)?.to_ascii_lowercase())
    };
    let (code, len) = match bytes.first()? {
        b'\\' => match bytes.get(1)?.to_ascii_lowercase() {
            b'u' => (hex(bytes.get(2..6)?)?, 6),
            b'x' => (hex(bytes.get(2..4)?)?, 4),
            _ => return None,
        },
        b'%' if bytes.get(1)?.eq_ignore_ascii_case(&b'u') => (hex(bytes.get(2..6)?)?, 6),
        b'&' if bytes.get(1) == Some(&b'#') => {
            let is_hex = bytes
                .get(2)
                .is_some_and(|byte| byte.eq_ignore_ascii_case(&b'x'));
            let start = if is_hex { 3 } else { 2 };
            let digits = bytes[start..]
                .iter()
                .take(8)
                .take_while(|byte| {
                    if is_hex {
                        byte.is_ascii_hexdigit()
                    } else {
                        byte.is_ascii_digit()
                    }
                })
                .count();
            let text = std::str::from_utf8(bytes.get(start..start + digits)?).ok()?;
            let code = u32::from_str_radix(text, if is_hex { 16 } else { 10 }).ok()?;
            let end = start + digits;
            (
                code,
                if bytes.get(end) == Some(&b';') {
                    end + 1
                } else {
                    end
                },
            )
        }
        b'&' if lower(0, 8).as_deref() == Some(b"&equals;") => (u32::from('='), 8),
        b'&' if lower(0, 7).as_deref() == Some(b"&colon;") => (u32::from(':'), 7),
        _ => return None,
    };
    Some((char::from_u32(code)?, len))
}

/// Colons and equals signs that are not ASCII: full-width, small, and other
/// lookalikes.
const LOOKALIKE_ASSIGNMENTS: [char; 14] = [
    '\u{ff1a}', '\u{ff1d}', '\u{fe55}', '\u{fe66}', '\u{fe13}', '\u{a789}', '\u{2236}', '\u{a78a}',
    '\u{207c}', '\u{208c}', '\u{2d0}', '\u{2f8}', '\u{2254}', '\u{5c3}',
];

/// Does what [`assigns_secret_field`] does, for text as it is.
fn assigns_unencoded(text: &str) -> bool {
    let bytes = text.as_bytes();
    let ascii = memchr::memchr2_iter(b':', b'=', bytes);
    let lookalikes = (!text.is_ascii())
        .then(|| text.match_indices(LOOKALIKE_ASSIGNMENTS).map(|(at, _)| at))
        .into_iter()
        .flatten();
    ascii
        .chain(lookalikes)
        .any(|at| ends_in_secret_field(&text[..at]) && !(bytes[at] == b':' && in_arn(bytes, at)))
}

/// Reports whether the byte at `at` is inside an ARN, whose parts are
/// separated by colons: `arn:aws:lambda:...:function:rotate-password:1`
/// names a function and gives no field a value.
fn in_arn(bytes: &[u8], at: usize) -> bool {
    let window = at.saturating_sub(MAX_ARN_LEN);
    let start = bytes[window..at]
        .iter()
        .rposition(|byte| {
            byte.is_ascii_whitespace()
                || matches!(
                    byte,
                    b'"' | b'\'' | b',' | b'(' | b'[' | b'{' | b'=' | b'<' | b'>'
                )
        })
        .map(|found| window + found + 1);
    match start {
        Some(start) => bytes[start..].starts_with(b"arn:"),
        None => window == 0 && bytes.starts_with(b"arn:"),
    }
}

/// Maximum length of an ARN.
const MAX_ARN_LEN: usize = 2048;

/// Decodes the `%` escapes of URL-encoded text, or returns `None` when it
/// has none. Bytes that do not form UTF-8 become U+FFFD.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    memchr::memchr(b'%', bytes)?;
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut changed = false;
    let mut at = 0;
    while at < bytes.len() {
        let escape = match bytes.get(at..at + 3) {
            Some(&[b'%', high, low]) => hex_digit(high)
                .zip(hex_digit(low))
                .map(|(high, low)| high * 16 + low),
            _ => None,
        };
        match escape {
            Some(byte) => {
                decoded.push(byte);
                changed = true;
                at += 3;
            }
            None => {
                decoded.push(bytes[at]);
                at += 1;
            }
        }
    }
    changed.then(|| String::from_utf8_lossy(&decoded).into_owned())
}

/// Returns the value of a hexadecimal digit.
fn hex_digit(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|digit| u8::try_from(digit).ok())
}

/// Reports whether `before`, the text before a colon or an equals sign,
/// ends with a secret field name and then only separators.
fn ends_in_secret_field(before: &str) -> bool {
    // Most JSON keys end, before their closing quote, in a letter that ends
    // no secret field name, so they are rejected here before the full check.
    let last = before
        .bytes()
        .rev()
        .find(|byte| !matches!(byte, b' ' | b'"' | b'\'' | b'\\' | b'+'));
    if last.is_some_and(|byte| {
        byte.is_ascii_alphabetic() && FIELDS_ENDING_IN[usize::from(byte.to_ascii_lowercase())] == 0
    }) {
        return false;
    }
    let rest = before.trim_end_matches(|c: char| {
        c.is_whitespace()
            || c.is_control()
            || is_invisible(c)
            || matches!(
                c,
                '"' | '\'' | '\\' | '+' | ';' | ',' | '.' | '[' | ']' | '(' | ')'
            )
    });
    // The name is the run of letters, digits, underscores, hyphens and
    // invisible characters before the separators, full-width letters read
    // as ASCII. It is read from its end only as far as a secret name could
    // still match.
    let name = rest
        .chars()
        .rev()
        .map(ascii_of_full_width)
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-') || is_invisible(*c))
        .filter_map(|c| u8::try_from(c).ok());
    ends_in_secret_name(name) && !names_operation(rest)
}

/// API operations whose names end in a [`SECRET_FIELDS`] name. Error
/// messages name them before a colon, as in
/// `GenerateDataKeyWithoutPlaintext: the key usage is not ENCRYPT_DECRYPT`.
const OPERATIONS_NAMED_LIKE_SECRETS: [&str; 10] = [
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPairWithoutPlaintext",
    "DeriveSharedSecret",
    "GetRandomPassword",
    "ChangePassword",
    "GetSessionToken",
    "CreateApiKey",
    "GetApiKey",
    "UpdateApiKey",
    "DeleteApiKey",
];

/// Reports whether text ends in the name of one of the
/// [`OPERATIONS_NAMED_LIKE_SECRETS`].
fn names_operation(text: &str) -> bool {
    let start = text
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric())
        .last()
        .map_or(text.len(), |(at, _)| at);
    OPERATIONS_NAMED_LIKE_SECRETS.contains(&&text[start..])
}

/// Returns the ASCII character that a full-width one (U+FF01 to U+FF5E)
/// stands for, or the character itself.
fn ascii_of_full_width(c: char) -> char {
    match c {
        '\u{ff01}'..='\u{ff5e}' => char::from_u32(u32::from(c) - 0xfee0).unwrap_or(c),
        _ => c,
    }
}

/// Reports whether a character is one that text shows as nothing: the soft
/// hyphen, zero-width spaces and joiners, and the like.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{34f}'
            | '\u{61c}'
            | '\u{115f}'
            | '\u{1160}'
            | '\u{17b4}'
            | '\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{e0000}'..='\u{e007f}'
    )
}

/// Reports whether a field name ends in a [`SECRET_FIELDS`] name, in any
/// case, once characters other than ASCII letters and digits and then
/// trailing digits are left out: `keyStorePassword`, `AWS_SECRET_ACCESS_KEY`
/// and `password1` do.
fn is_secret_name(name: &str) -> bool {
    ends_in_secret_name(name.bytes().rev())
}

/// Does what [`is_secret_name`] does, given the name's bytes from last to
/// first.
fn ends_in_secret_name(reversed: impl Iterator<Item = u8>) -> bool {
    // Bit i is set while the name's end matches the end of field i. The
    // name's last letter or digit gives the first candidates.
    let mut candidates: u32 = 0;
    let mut position = 0;
    for byte in reversed.filter(u8::is_ascii_alphanumeric) {
        if position == 0 && byte.is_ascii_digit() {
            continue;
        }
        let byte = byte.to_ascii_lowercase();
        if position == 0 {
            candidates = FIELDS_ENDING_IN[usize::from(byte)];
        }
        let mut remaining = candidates;
        while remaining != 0 {
            let index = remaining.trailing_zeros() as usize;
            remaining &= remaining - 1;
            // A field still a candidate is longer than `position`, because
            // one that matched whole has returned.
            let field = SECRET_FIELDS[index].as_bytes();
            if field[field.len() - 1 - position] != byte {
                candidates &= !(1 << index);
            } else if field.len() == position + 1 {
                return true;
            }
        }
        if candidates == 0 {
            return false;
        }
        position += 1;
    }
    false
}

/// Reads `readOnly`, which some exporters write as the string `"true"`.
fn lenient_bool(value: &str) -> Option<bool> {
    match value.trim_matches('"') {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Returns the request fields that name the asset of each service, in order
/// of preference.
fn identifier_fields(service: CryptoService) -> &'static [&'static str] {
    match service {
        CryptoService::Kms => &["keyId", "destinationKeyId", "sourceKeyId", "targetKeyId"],
        CryptoService::SecretsManager => &["secretId", "SecretId", "name", "Name"],
        CryptoService::Acm => &["certificateArn", "CertificateArn"],
        CryptoService::AcmPca => &["certificateAuthorityArn", "CertificateAuthorityArn"],
        CryptoService::CloudHsm => &["clusterId", "ClusterId", "hsmId", "HsmId"],
    }
}

/// Reader of the named fields of a JSON object: their values in the order of
/// the names, with other keys skipped uncopied. A repeated key keeps its
/// last value, as in a map. Names past the first [`MAX_FIELDS`] are not
/// read.
struct FieldValues(&'static [&'static str]);

/// Maximum number of field names that a [`FieldValues`] reads.
pub(crate) const MAX_FIELDS: usize = 4;

impl<'de> serde::de::DeserializeSeed<'de> for FieldValues {
    type Value = [Option<&'de RawValue>; MAX_FIELDS];

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for FieldValues {
    type Value = [Option<&'de RawValue>; MAX_FIELDS];

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut values = [None; MAX_FIELDS];
        while let Some(field) = map.next_key_seed(FieldIndex(self.0))? {
            match field.and_then(|index| values.get_mut(index)) {
                Some(value) => *value = Some(map.next_value::<&'de RawValue>()?),
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(values)
    }
}

/// Reader of an object key as its index among the given field names.
struct FieldIndex(&'static [&'static str]);

impl<'de> serde::de::DeserializeSeed<'de> for FieldIndex {
    type Value = Option<usize>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for FieldIndex {
    type Value = Option<usize>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|field| *field == key))
    }
}

/// Returns the first non-empty string among the request fields that name
/// the asset of `service`.
fn request_identifier(service: CryptoService, parameters: Option<&str>) -> Option<Cow<'_, str>> {
    let text = parameters?;
    if !text.starts_with('{') {
        return None;
    }
    let names = identifier_fields(service);
    if let Some(values) = crate::plain::named_strings(text, names) {
        let id = values.into_iter().flatten().find(|id| !id.is_empty());
        return id.map(Cow::Borrowed);
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let values =
        serde::de::DeserializeSeed::deserialize(FieldValues(names), &mut deserializer).ok()?;
    deserializer.end().ok()?;
    values.into_iter().flatten().find_map(|value| {
        let mut deserializer = serde_json::Deserializer::from_str(value.get());
        borrowed_text(&mut deserializer)
            .ok()
            .flatten()
            .filter(|id| !id.is_empty())
    })
}

/// The asset a creating call returns: `CreateKey`, `CreateSecret`,
/// `RequestCertificate` and `CreateCertificateAuthority` name it only in
/// the response.
fn response_identifier(service: CryptoService, response: Option<&str>) -> Option<Cow<'_, str>> {
    let text = response?;
    if !text.starts_with('{') {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let pointers: &[&str] = match service {
        CryptoService::Kms => &["/keyMetadata/arn"],
        CryptoService::SecretsManager => &["/arn", "/aRN", "/ARN"],
        CryptoService::Acm => &["/certificateArn"],
        CryptoService::AcmPca => &["/certificateAuthorityArn"],
        CryptoService::CloudHsm => &["/cluster/clusterId"],
    };
    pointers
        .iter()
        .find_map(|pointer| value.pointer(pointer)?.as_str().map(str::to_owned))
        .map(Cow::Owned)
}

/// Returns the ARN partition of the event: from any of its resource ARNs or
/// the caller's ARN, else from the Region's name.
fn partition_of<'a>(
    resource_arns: impl Iterator<Item = &'a str>,
    actor_arn: Option<&'a str>,
    region: Option<&str>,
) -> &'a str {
    let from_arn = resource_arns.chain(actor_arn).find_map(|arn| {
        arn.strip_prefix("arn:")?
            .split(':')
            .next()
            .filter(|p| !p.is_empty())
    });
    if let Some(partition) = from_arn {
        return partition;
    }
    match region {
        Some(region) if region.starts_with("cn-") => "aws-cn",
        Some(region) if region.starts_with("us-gov-") => "aws-us-gov",
        _ => "aws",
    }
}

/// Computes the de-duplication key. A duplicate delivery repeats the whole
/// record, so `eventID` with time, source and name identifies it. Published
/// examples reuse ids such as `1` for different events, and the other
/// fields tell those apart.
fn event_key(event: &Event) -> u128 {
    let mut hasher = Xxh3::new();
    hasher.update(event.event_id.as_deref().unwrap_or_default().as_bytes());
    hasher.update(&[0]);
    hasher.update(&event.time.to_le_bytes());
    hasher.update(event.service.as_bytes());
    hasher.update(&[0]);
    hasher.update(event.operation.as_bytes());
    // A second delivery repeats these too; published examples that reuse
    // an eventID for a failed and a successful call differ here.
    for field in [&event.error_code, &event.account, &event.region] {
        hasher.update(&[0]);
        hasher.update(field.as_deref().unwrap_or_default().as_bytes());
    }
    if event.event_id.is_none() {
        hasher.update(&[0]);
        hash_optional_fields(&mut hasher, event);
    }
    hasher.digest128()
}

/// Adds the content of a record without `eventID` to its key, so that two
/// different id-less events at the same time are both kept. The request,
/// response and additional data count by their JSON values, so that two
/// deliveries of one event that differ only in spacing or key order share a
/// key.
fn hash_optional_fields(hasher: &mut Xxh3, event: &Event) {
    let canonical = |text: Option<&str>| -> Option<String> {
        let text = text?;
        let value = serde_json::from_str::<serde_json::Value>(text).ok();
        Some(value.map_or_else(|| text.to_owned(), |value| value.to_string()))
    };
    let request = canonical(event.request_parameters.as_deref());
    let response = canonical(event.response_elements.as_deref());
    let additional = canonical(event.additional_event_data.as_deref());
    let fields = [
        event.request_id.as_deref(),
        event.account.as_deref(),
        event.region.as_deref(),
        event.actor_arn.as_deref(),
        event.actor_principal_id.as_deref(),
        request.as_deref(),
        response.as_deref(),
        additional.as_deref(),
        event.error_code.as_deref(),
        event.error_message.as_deref(),
        event.source_ip.as_deref(),
        event.user_agent.as_deref(),
        event.vpc_endpoint_id.as_deref(),
        event.resource.as_deref(),
    ];
    for field in fields {
        hasher.update(field.unwrap_or_default().as_bytes());
        hasher.update(&[0]);
    }
    for arn in &event.resource_arns {
        hasher.update(arn.as_bytes());
        hasher.update(&[0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_borrowed_unless_escaped() {
        let record = r#"{"eventName":"Decrypt","awsRegion":"eu-\u0077est-1","userIdentity":{"arn":"arn:aws:iam::1:role/a"},"resources":[{"ARN":"k"}]}"#;
        let raw: RawRecord<'_> = serde_json::from_str(record).unwrap();
        assert!(matches!(raw.event_name, Some(Cow::Borrowed("Decrypt"))));
        assert!(matches!(raw.aws_region, Some(Cow::Owned(ref region)) if region == "eu-west-1"));
        let identity = raw.user_identity.unwrap();
        assert!(matches!(identity.arn, Some(Cow::Borrowed(_))));
        let resources = raw.resources.unwrap();
        assert!(matches!(resources[0].arn, Some(Cow::Borrowed("k"))));
        assert!(raw.error_code.is_none());
    }

    #[test]
    fn secret_fields_redacted_at_any_depth() {
        let text =
            r#"{"secretId":"prod/db","SecretString":"hunter2","nested":[{"plaintext":"AAAA"}]}"#;
        let redacted = redact_secrets(text);
        assert!(!redacted.contains("hunter2"), "{redacted}");
        assert!(!redacted.contains("AAAA"), "{redacted}");
        assert!(redacted.contains("prod/db"));
    }

    #[test]
    fn secret_inside_string_redacted() {
        let nested = r#"{"data":"{\"SecretString\": \"hunter2\"}","keyId":"k"}"#;
        let redacted = redact_secrets(nested);
        assert!(!redacted.contains("hunter2"), "{redacted}");
        assert!(redacted.contains(r#""keyId":"k""#), "{redacted}");

        let pairs = r#""SecretString=hunter2&VersionStage=AWSCURRENT""#;
        assert_eq!(redact_secrets(pairs), format!("\"{REDACTED}\""));
        let cut = r#""{\"Password\": \"hunter2"#;
        assert_eq!(redact_secrets(cut), format!("\"{REDACTED}\""));
    }

    #[test]
    fn secret_in_any_string_shape_redacted() {
        let inner = serde_json::json!({"SecretString": "hunter2"}).to_string();
        let twice = serde_json::json!({"inner": inner}).to_string();
        let cases = [
            r#"{"body":"SecretString=hunter2&VersionStage=AWSCURRENT"}"#.to_owned(),
            r#"{"note":"password: hunter2"}"#.to_owned(),
            r#"{"data":"{'SecretString': 'hunter2'}"}"#.to_owned(),
            r#"{"items":["a","Password=hunter2"]}"#.to_owned(),
            r#"{"data":"{\"Secret\u0053tring\": \"hunter2\"}"}"#.to_owned(),
            r#"{"note":"Password\n=hunter2"}"#.to_owned(),
            r#"{"note":"masterUserPassword=hunter2"}"#.to_owned(),
            serde_json::json!({"data": twice}).to_string(),
            serde_json::to_string(&twice).unwrap(),
        ];
        for text in cases {
            let redacted = redact_secrets(&text);
            assert!(!redacted.contains("hunter2"), "{text} gave {redacted}");
        }
    }

    #[test]
    fn secret_assigned_through_any_separator_redacted() {
        let cases = [
            "SecretString%3Dhunter2",
            "secretstring%3dhunter2",
            "%22SecretString%22%3A%22hunter2%22",
            "SecretString+%3D+hunter2",
            "password\u{a0}: hunter2",
            "password\u{3000}=hunter2",
            "password\u{ff1d}hunter2",
            "PASSWORD\u{ff1a} hunter2",
            "password\u{fe55}hunter2",
            "password\u{200b}=hunter2",
            "password%09%3Dhunter2",
            "password%C2%A0%3Dhunter2",
            "password%EF%BC%9Ahunter2",
            "SecretString%253Dhunter2",
            "AWS_SECRET_ACCESS_KEY=hunter2",
            "aws_session_token = hunter2",
            "password1=hunter2",
            "password&#61;hunter2",
            "password&#X3D;hunter2",
            "password\u{0}=hunter2",
            "password;=hunter2",
            "password.=hunter2",
            "password%u003dhunter2",
            "password\\u003dhunter2",
            "password\\u003Ahunter2",
        ];
        for case in cases {
            let text = serde_json::json!({ "note": case }).to_string();
            let redacted = redact_secrets(&text);
            assert!(!redacted.contains("hunter2"), "{text} gave {redacted}");
        }
    }

    #[test]
    fn secret_suffix_keys_redacted() {
        let text = serde_json::json!({
            "keyStorePassword": "hunter2",
            "xksProxyAuthenticationCredential": {"rawSecretAccessKey": "hunter2"},
            "randomPassword": "hunter2",
            "SharedSecret": "hunter2",
            "secret_access_key": "hunter2",
            "PasswordLength": 32,
            "secretId": "prod/db",
        })
        .to_string();
        let redacted = redact_secrets(&text);
        assert!(!redacted.contains("hunter2"), "{redacted}");
        assert!(redacted.contains(r#""PasswordLength":32"#), "{redacted}");
        assert!(redacted.contains(r#""secretId":"prod/db""#), "{redacted}");
    }

    #[test]
    fn private_key_block_redacted() {
        let text =
            r#"{"note":"-----BEGIN PRIVATE KEY-----\nhunter2\n-----END PRIVATE KEY-----\n"}"#;
        let redacted = redact_secrets(text);
        assert!(!redacted.contains("hunter2"), "{redacted}");
    }

    #[test]
    fn private_key_on_one_line_redacted() {
        let text =
            r#"{"note":"-----BEGIN EC PRIVATE KEY----- hunter2 -----END EC PRIVATE KEY-----"}"#;
        let redacted = redact_secrets(text);
        assert!(!redacted.contains("hunter2"), "{redacted}");
        assert_eq!(redacted, format!(r#"{{"note":"{REDACTED}"}}"#));
    }

    #[test]
    fn private_key_as_key_redacted() {
        let text = r#"{"a":{"-----BEGIN PRIVATE KEY----- hunter2 -----END PRIVATE KEY-----":1}}"#;
        let redacted = redact_secrets(text);
        assert_eq!(redacted, format!(r#"{{"a":"{REDACTED}"}}"#));
    }

    #[test]
    fn id_less_key_ignores_spacing() {
        let record = |parameters: &str| {
            format!(
                r#"{{"eventTime":"2024-05-01T10:00:00Z","eventSource":"kms.amazonaws.com","eventName":"Decrypt","awsRegion":"us-east-1","recipientAccountId":"111122223333","requestParameters":{parameters}}}"#
            )
        };
        let key = |text: &str| {
            let mut event = Event::default();
            parse_record(text.as_bytes(), &mut event).unwrap();
            event.key
        };
        let compact = key(&record(r#"{"keyId":"k","encryptionContext":{"a":"1"}}"#));
        let spaced = key(&record(
            r#"{ "encryptionContext": { "a": "1" }, "keyId": "k" }"#,
        ));
        let other = key(&record(r#"{"keyId":"other"}"#));
        assert_eq!(compact, spaced);
        assert_ne!(compact, other);

        let on_key = |arn: &str| key(&record(&format!(r#"{{}},"resources":[{{"ARN":"{arn}"}}]"#)));
        assert_ne!(on_key("key/a"), on_key("key/b"));
        let with_agent = |agent: &str| key(&record(&format!(r#"{{}},"userAgent":"{agent}""#)));
        assert_ne!(with_agent("aws-cli"), with_agent("boto3"));
    }

    #[test]
    fn id_less_key_includes_request_id() {
        let record = |request_id: &str| {
            format!(
                r#"{{"eventTime":"2024-05-01T10:00:00Z","eventSource":"kms.amazonaws.com","eventName":"Decrypt","requestID":"{request_id}"}}"#
            )
        };
        let key = |text: &str| {
            let mut event = Event::default();
            parse_record(text.as_bytes(), &mut event).unwrap();
            event.key
        };
        // The envelope is read by serde_json, the bare record by the plain
        // parser, so both parsers are checked.
        let in_envelope = |request_id: &str| {
            let detail = record(request_id);
            key(&format!(
                r#"{{"detail-type":"AWS API Call via CloudTrail","detail":{detail}}}"#
            ))
        };

        assert_ne!(key(&record("r-1")), key(&record("r-2")));
        assert_eq!(key(&record("r-1")), key(&record("r-1")));
        assert_ne!(in_envelope("r-1"), in_envelope("r-2"));
        assert_eq!(in_envelope("r-1"), key(&record("r-1")));
    }

    #[test]
    fn long_value_shortened_in_messages() {
        assert_eq!(excerpt("2026-13-01"), r#""2026-13-01""#);
        let long = "9".repeat(1000);
        assert_eq!(
            excerpt(&long),
            format!("{:?}... (1000 bytes)", "9".repeat(64))
        );
    }

    #[test]
    fn repeated_key_never_keeps_a_secret() {
        let cases = [
            r#"{"keyId":"k","password":"hunter2","password":null}"#,
            r#"{"password":"hunter2","password":"REDACTED_BY_KEYWARD"}"#,
            r#"{"a":{"SecretString":"hunter2","SecretString":null}}"#,
            r#"{"data":"{\"password\":\"hunter2\",\"password\":null}"}"#,
            r#"{"pass\u0077ord":"hunter2","password":null}"#,
        ];
        for text in cases {
            let redacted = redact_secrets(text);
            assert!(!redacted.contains("hunter2"), "{text} gave {redacted}");
        }
    }

    #[test]
    fn secret_in_a_key_replaces_its_object() {
        let cases = [
            r#"{"a":{"password=hunter2":1},"keyId":"k"}"#,
            r#"{"a":{"postgres://admin:hunter2@db/app":{}}}"#,
            r#"{"a":{"--password hunter2":true}}"#,
            r#"{"a":"{\"password=hunter2\":1}"}"#,
        ];
        for text in cases {
            let redacted = redact_secrets(text);
            assert!(!redacted.contains("hunter2"), "{text} gave {redacted}");
        }
    }

    #[test]
    fn value_of_pair_named_secret_redacted() {
        let text = serde_json::json!({
            "tags": [
                {"key": "password", "value": "hunter2"},
                {"TagKey": "team", "TagValue": "crypto"},
            ],
            "Parameters": [{"ParameterKey": "DbPassword", "ParameterValue": "hunter2"}],
        })
        .to_string();
        let redacted = redact_secrets(&text);
        assert!(!redacted.contains("hunter2"), "{redacted}");
        assert!(redacted.contains("crypto"), "{redacted}");
    }

    #[test]
    fn unparsable_escaped_json_replaced() {
        let cases = [
            r#"{"a":"{\"pass\\u0077ord\":\"hunter2\",\"pass\\u0077ord\":null}"}"#,
            r#"{"a":"{\"pass\\u0077ord\":\"hunter2\",}"}"#,
        ];
        for text in cases {
            let redacted = redact_secrets(text);
            assert!(!redacted.contains("hunter2"), "{text} gave {redacted}");
        }
    }

    #[test]
    fn repeated_key_without_secret_kept() {
        let text = r#"{"keyId":"a","keyId":"b"}"#;
        assert_eq!(redact_secrets(text), text);
    }

    #[test]
    fn pgp_private_key_redacted() {
        let text = r#"{"note":"-----BEGIN PGP PRIVATE KEY BLOCK----- hunter2 -----END PGP PRIVATE KEY BLOCK-----"}"#;
        assert_eq!(redact_secrets(text), format!(r#"{{"note":"{REDACTED}"}}"#));
        let text = r#"{"note":"the PRIVATE KEY of the signer"}"#;
        assert_eq!(redact_secrets(text), text);
    }

    #[test]
    fn token_and_api_key_fields_redacted() {
        let text = serde_json::json!({
            "apiKey": "hunter2",
            "clientSecret": "hunter2",
            "accessToken": "hunter2",
            "refresh_token": "hunter2",
            "privateKeyPem": "hunter2",
            "clientRequestToken": "token-1",
            "GrantTokens": ["grant-1"],
        })
        .to_string();
        let redacted = redact_secrets(&text);
        assert!(!redacted.contains("hunter2"), "{redacted}");
        assert!(redacted.contains("token-1"), "{redacted}");
        assert!(redacted.contains("grant-1"), "{redacted}");
    }

    #[test]
    fn secret_in_free_text_redacted() {
        let cases = [
            "password=hunter2 was rejected",
            "pass\u{ad}word=hunter2",
            "<db:masterUserPassword>hunter2</db:masterUserPassword>",
            "run with --password hunter2",
            "postgres://admin:hunter2@db.example.com:5432/app",
            "-----BEGIN PGP PRIVATE KEY BLOCK-----",
            "PuTTY-User-Key-File-3: ssh-rsa\nPrivate-Lines: 1\nhunter2",
            "-----BEGIN PGP SECRET KEY BLOCK----- hunter2",
            "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ---- hunter2",
            "<password type=\"plain\">hunter2</password>",
            "<Password >hunter2</Password>",
            "password&#061;hunter2",
            "password&#x03d;hunter2",
            "password&#61hunter2",
            "pass&#119;ord=hunter2",
            "password\u{2066}=hunter2",
            "pass\u{fe0f}word=hunter2",
            "password\u{a78a}hunter2",
            "password\u{2d0}hunter2",
            "login failed password&#61;hunter2 ref %25252525",
            "password%2525252525253Dhunter2",
            "mysqladmin -Password hunter2 -h db",
            "postgres://admin:hunter2#x@db.example.com/app",
            "form password[]=hunter2",
            "set(password)=hunter2",
            "\u{ff50}\u{ff41}\u{ff53}\u{ff53}\u{ff57}\u{ff4f}\u{ff52}\u{ff44}=hunter2",
        ];
        for case in cases {
            assert_eq!(redacted_free_text(case), REDACTED, "{case}");
            let json = serde_json::json!({ "note": case }).to_string();
            let redacted = redact_secrets(&json);
            assert!(!redacted.contains("hunter2"), "{json} gave {redacted}");
        }
    }

    #[test]
    fn free_text_without_secret_kept() {
        let cases = [
            "User: arn:aws:iam::111122223333:role/app is not authorized to perform: kms:Decrypt",
            "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.amzn.2 prompt/off command/kms.decrypt",
            "see https://docs.aws.amazon.com/kms/latest/developerguide/",
            "https://user@example.com/ has no password",
            "<password/> and </password> open no element",
            "--password --other-flag",
            "--password",
            "The secret's password rotation failed",
            "<password/> is empty",
            "arn:aws:lambda:us-east-1:111122223333:function:RotateApiKey:3",
            "Lambda arn:aws:lambda:us-east-1:111122223333:function:rotate-access-token:PROD failed",
            "100%25 done",
            "GenerateDataKeyWithoutPlaintext: the key usage is not ENCRYPT_DECRYPT",
            "KeyUsage must be KEY_AGREEMENT for DeriveSharedSecret: arn:aws:kms:us-east-1:1:key/k",
            "a non-password field",
            "- password rotation failed",
        ];
        for case in cases {
            assert_eq!(redacted_free_text(case), case);
        }
    }

    #[test]
    fn long_runs_of_markers_kept() {
        for marker in [">", "-", "<a", "://", "=", "<password"] {
            let text = marker.repeat(100_000);
            assert_eq!(redacted_free_text(&text), text, "{marker}");
        }
    }

    #[test]
    fn percent_sign_alone_assigns_nothing() {
        for text in [
            r#"{"note":"password rotation at 100%"}"#,
            r#"{"note":"password%zz"}"#,
            r#"{"note":"discount%3Dpassword"}"#,
        ] {
            assert_eq!(redact_secrets(text), text);
        }
    }

    #[test]
    fn secret_name_only_mentioned_kept() {
        let text = r#"{"description":"Rotates the database password","name":"passwords"}"#;
        assert_eq!(redact_secrets(text), text);
        let text = r#""password rotation""#;
        assert_eq!(redact_secrets(text), text);
    }

    #[test]
    fn escaped_secret_field_redacted() {
        let text = r#"{"Secret\u0053tring":"hunter2"}"#;
        let redacted = redact_secrets(text);
        assert!(!redacted.contains("hunter2"), "{redacted}");
    }

    #[test]
    fn secret_id_alone_is_not_parsed() {
        let text = r#"{"secretId":"prod/db","versionStage":"AWSCURRENT"}"#;
        assert!(!may_name_secret_field(text));
        assert!(may_name_secret_field(r#"{"PASSWORD":"x"}"#));
        assert!(may_name_secret_field(
            r#"{"a":"b","nested":{"Plaintext":1}}"#
        ));
        assert!(!may_name_secret_field(
            r#"{"passwordPolicy":"x","a":"token"}"#
        ));
        assert!(may_name_secret_field(r#"{"note":"password = x"}"#));
        assert_eq!(redact_secrets(text), text);
    }

    fn identifier(service: CryptoService, parameters: &str) -> Option<String> {
        let raw: Box<RawValue> = serde_json::from_str(parameters).unwrap();
        request_identifier(service, Some(raw.get())).map(Cow::into_owned)
    }

    #[test]
    fn identifier_fields_all_read() {
        use CryptoService::{Acm, AcmPca, CloudHsm, Kms, SecretsManager};
        for service in [Kms, SecretsManager, Acm, AcmPca, CloudHsm] {
            assert!(
                identifier_fields(service).len() <= MAX_FIELDS,
                "{service:?}"
            );
        }
    }

    #[test]
    fn request_identifier_follows_field_preference() {
        use CryptoService::{Acm, AcmPca, CloudHsm, Kms, SecretsManager};
        let cases = [
            (Kms, r#"{"sourceKeyId":"s","keyId":"k"}"#, Some("k")),
            (
                Kms,
                r#"{"targetKeyId":"t","destinationKeyId":"d"}"#,
                Some("d"),
            ),
            (Kms, r#"{"keyId":"","sourceKeyId":"s"}"#, Some("s")),
            (Kms, r#"{"keyId":7,"targetKeyId":"t"}"#, Some("t")),
            (Kms, r#"{"secretId":"x"}"#, None),
            (
                SecretsManager,
                r#"{"Name":"n","SecretId":"prod/db"}"#,
                Some("prod/db"),
            ),
            (SecretsManager, r#"{"name":"n"}"#, Some("n")),
            (Acm, r#"{"CertificateArn":"arn:c"}"#, Some("arn:c")),
            (
                AcmPca,
                r#"{"certificateAuthorityArn":"arn:ca"}"#,
                Some("arn:ca"),
            ),
            (CloudHsm, r#"{"HsmId":"hsm-1"}"#, Some("hsm-1")),
            (Kms, r#"{"key\u0049d":"escaped"}"#, Some("escaped")),
            (Kms, r#"["keyId"]"#, None),
            (
                Kms,
                r#"{"keyId":"alias/app","name":"x","Name":"y"}"#,
                Some("alias/app"),
            ),
            (Kms, r#"{"keyId":"first","keyId":"last"}"#, Some("last")),
            (
                SecretsManager,
                r#"{"secretId":"","SecretId":"prod/db"}"#,
                Some("prod/db"),
            ),
            (
                SecretsManager,
                r#"{"secretId":"a","SecretId":"b"}"#,
                Some("a"),
            ),
        ];
        for (service, parameters, expected) in cases {
            assert_eq!(
                identifier(service, parameters).as_deref(),
                expected,
                "{parameters}"
            );
        }
    }

    #[test]
    fn unparsable_text_naming_a_secret_redacted_whole() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        for other in [r#""\ud800""#, "1e999", deep.as_str()] {
            let text = format!(r#"{{"SecretString":"hunter2","x":{other}}}"#);
            assert_eq!(redact_secrets(&text), format!("\"{REDACTED}\""), "{text}");
        }
    }

    #[test]
    fn text_without_secrets_unchanged() {
        let text = r#"{"keyId": "alias/app", "encryptionContext": {"a": "b"}}"#;
        assert_eq!(redact_secrets(text), text);
    }
}
