//! The columns of the store's tables and the conversion of events into
//! Arrow record batches. `docs/columns.md` describes each column.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, FixedSizeBinaryArray, ListBuilder, RecordBatch,
    StringBuilder, TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use keyward_cloudtrail::{CompactString, Event, NameBinding};

use crate::error::Result;

/// Time zone of every timestamp column.
pub const UTC: &str = "UTC";

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

/// Columns of the `events` table, without the partition columns.
pub static EVENT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("time", timestamp(), false),
        Field::new("event_key", DataType::FixedSizeBinary(16), false),
        text("metadata_uid"),
        text("event_version"),
        Field::new("api_service_name", DataType::Utf8, false),
        Field::new("api_operation", DataType::Utf8, false),
        text("event_type"),
        text("event_category"),
        Field::new("status", DataType::Utf8, false),
        text("api_response_error"),
        text("api_response_message"),
        text("cloud_account_uid"),
        text("cloud_region"),
        text("actor_user_type"),
        text("actor_user_uid_alt"),
        text("actor_user_uid"),
        text("actor_user_account_uid"),
        text("actor_session_issuer"),
        text("actor_invoked_by"),
        text("src_endpoint_ip"),
        text("http_request_user_agent"),
        Field::new("read_only", DataType::Boolean, true),
        Field::new(
            "resources_uid",
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            true,
        ),
        text("resource_uid"),
        text("request_resource_id"),
        text("api_request_data"),
        text("api_response_data"),
        text("additional_event_data"),
        text("vpc_endpoint_id"),
        text("shared_event_id"),
        text("source_file"),
    ]))
});

/// Columns of the `names` table: aliases and secret names seen in events.
pub static NAME_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("account", DataType::Utf8, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("reference", DataType::Utf8, false),
        Field::new("target", DataType::Utf8, false),
        Field::new("time", timestamp(), false),
    ]))
});

/// Columns of the `manifest` table: the source files already ingested.
pub static MANIFEST_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("fingerprint", DataType::Utf8, false),
        Field::new("ingested_at", timestamp(), false),
        Field::new("records", DataType::UInt64, false),
        Field::new("events", DataType::UInt64, false),
    ]))
});

/// An event with the file it came from.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    /// The event, boxed so that buffers move pointers rather than events.
    pub event: Box<Event>,
    /// The source file's path or URL.
    pub source_file: Arc<str>,
}

impl StoredEvent {
    /// Returns the approximate heap bytes of the event, for bounding
    /// buffers: the boxed event and each string allocated apart from it.
    pub fn approximate_size(&self) -> usize {
        // Every field is named, so that a new one is not left uncounted.
        let Event {
            key: _,
            time: _,
            event_id,
            request_id,
            shared_event_id,
            event_version,
            service,
            operation,
            event_type,
            event_category,
            account,
            region,
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
            read_only: _,
            resource_arns,
            resource,
            request_resource_id,
            request_parameters,
            response_elements,
            additional_event_data,
            vpc_endpoint_id,
        } = &*self.event;
        let long = [
            event_id,
            request_id,
            shared_event_id,
            error_message,
            actor_principal_id,
            actor_arn,
            actor_session_issuer,
            user_agent,
            resource,
            request_resource_id,
            request_parameters,
            response_elements,
            additional_event_data,
        ];
        let short = [
            event_version,
            event_type,
            event_category,
            account,
            region,
            error_code,
            actor_type,
            actor_account,
            actor_invoked_by,
            source_ip,
            vpc_endpoint_id,
        ];
        let long_texts: usize = long
            .iter()
            .filter_map(|field| field.as_ref())
            .chain(resource_arns)
            .map(allocated)
            .sum();
        let short_texts: usize = short
            .iter()
            .filter_map(|field| field.as_ref())
            .chain([service, operation])
            .map(allocated_compact)
            .sum();
        let texts = long_texts + short_texts;
        let arn_list = match resource_arns.capacity() {
            0 => 0,
            capacity => capacity * size_of::<String>() + ALLOCATION_OVERHEAD,
        };
        size_of::<Event>() + ALLOCATION_OVERHEAD + arn_list + texts
    }
}

/// Estimated average bytes that an allocation costs beyond its requested
/// size, for rounding to the allocator's size classes and its bookkeeping.
const ALLOCATION_OVERHEAD: usize = 16;

/// Returns the heap bytes of a string.
fn allocated(text: &String) -> usize {
    match text.capacity() {
        0 => 0,
        capacity => capacity + ALLOCATION_OVERHEAD,
    }
}

/// Returns the heap bytes of a compact string, which has none when it is
/// short enough to be kept inline.
fn allocated_compact(text: &CompactString) -> usize {
    if text.is_heap_allocated() {
        text.capacity() + ALLOCATION_OVERHEAD
    } else {
        0
    }
}

/// Builds a record batch of events, in the given order.
pub fn events_to_batch(events: &[StoredEvent]) -> Result<RecordBatch> {
    let mut sizes = ColumnSizes::default();
    for stored in events {
        sizes.add(&stored.event, &stored.source_file);
    }
    let mut columns = EventColumns::with_capacity(events.len(), &sizes);
    for stored in events {
        columns.append(&stored.event, &stored.source_file);
    }
    columns.finish()
}

/// Number of text columns in [`EVENT_SCHEMA`]: those between `event_key`
/// and `read_only`, then those after `resources_uid`.
pub(crate) const TEXT_COLUMNS: usize = HEAD_TEXT_COLUMNS + TAIL_TEXT_COLUMNS;
/// Index of the account among the values of [`text_values`].
pub(crate) const ACCOUNT_TEXT: usize = 9;
/// Index of the Region among the values of [`text_values`].
pub(crate) const REGION_TEXT: usize = 10;
/// Index of the source file among the values of [`text_values`], the last.
pub(crate) const SOURCE_FILE_TEXT: usize = TEXT_COLUMNS - 1;
/// Number of text columns between `event_key` and `read_only`.
const HEAD_TEXT_COLUMNS: usize = 19;
/// Number of text columns after `resources_uid`.
const TAIL_TEXT_COLUMNS: usize = 8;

/// Bytes of values in each variable-length column, for sizing builders.
#[derive(Clone, Debug, Default)]
pub(crate) struct ColumnSizes {
    texts: [usize; TEXT_COLUMNS],
    arns: usize,
    arn_bytes: usize,
}

impl ColumnSizes {
    /// Adds the sizes of one event's values.
    fn add(&mut self, event: &Event, source_file: &str) {
        for (total, value) in self.texts.iter_mut().zip(text_values(event, source_file)) {
            *total += value.map_or(0, str::len);
        }
        self.arns += event.resource_arns.len();
        self.arn_bytes += event.resource_arns.iter().map(String::len).sum::<usize>();
    }

    /// Adds the sizes of other events.
    pub(crate) fn add_all(&mut self, other: &ColumnSizes) {
        for (total, bytes) in self.texts.iter_mut().zip(other.texts) {
            *total += bytes;
        }
        self.arns += other.arns;
        self.arn_bytes += other.arn_bytes;
    }

    /// Returns the sizes scaled from `from` events to `to` events, each at
    /// most `limit`, so that a few large events cannot make every later
    /// builder reserve a large buffer.
    pub(crate) fn scaled(&self, from: usize, to: usize, limit: usize) -> Self {
        let scale = |bytes: usize| (bytes.saturating_mul(to) / from.max(1)).min(limit);
        Self {
            texts: self.texts.map(scale),
            arns: scale(self.arns),
            arn_bytes: scale(self.arn_bytes),
        }
    }
}

/// Builders of the columns of [`EVENT_SCHEMA`], filled one event at a time.
pub(crate) struct EventColumns {
    times: Vec<i64>,
    keys: Vec<u8>,
    read_only: BooleanBuilder,
    arns: ListBuilder<StringBuilder>,
    texts: Vec<StringBuilder>,
}

impl EventColumns {
    /// Returns builders with room for `rows` events of the given sizes, so
    /// that none grows by copying while they fit.
    pub(crate) fn with_capacity(rows: usize, sizes: &ColumnSizes) -> Self {
        Self {
            times: Vec::with_capacity(rows),
            keys: Vec::with_capacity(rows * 16),
            read_only: BooleanBuilder::with_capacity(rows),
            arns: ListBuilder::with_capacity(
                StringBuilder::with_capacity(sizes.arns, sizes.arn_bytes),
                rows,
            ),
            texts: sizes
                .texts
                .iter()
                .map(|bytes| StringBuilder::with_capacity(rows, *bytes))
                .collect(),
        }
    }

    /// Appends one event.
    pub(crate) fn append(&mut self, event: &Event, source_file: &str) {
        self.append_values(EventValues {
            time: event.time,
            key: event.key,
            read_only: event.read_only,
            arns: event.resource_arns.iter().map(String::as_str),
            texts: text_values(event, source_file),
        });
    }

    /// Appends one event given by its values.
    pub(crate) fn append_values<'a>(
        &mut self,
        values: EventValues<'a, impl Iterator<Item = &'a str>>,
    ) {
        self.times.push(values.time);
        self.keys.extend_from_slice(&values.key.to_le_bytes());
        self.read_only.append_option(values.read_only);
        for arn in values.arns {
            self.arns.values().append_value(arn);
        }
        self.arns.append(true);
        for (builder, value) in self.texts.iter_mut().zip(values.texts) {
            builder.append_option(value);
        }
    }

    /// Returns the number of events appended.
    pub(crate) fn len(&self) -> usize {
        self.times.len()
    }

    /// Returns the sizes of the values appended so far.
    pub(crate) fn sizes(&self) -> ColumnSizes {
        let arn_values = self.arns.values_ref();
        ColumnSizes {
            texts: std::array::from_fn(|column| self.texts[column].values_slice().len()),
            arns: arn_values.len(),
            arn_bytes: arn_values.values_slice().len(),
        }
    }

    /// Builds the record batch of the events appended, in their order.
    pub(crate) fn finish(mut self) -> Result<RecordBatch> {
        let time = TimestampMicrosecondArray::new(self.times.into(), None).with_timezone(UTC);
        let key = FixedSizeBinaryArray::try_new(16, self.keys.into(), None)?;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(EVENT_SCHEMA.fields().len());
        columns.push(Arc::new(time));
        columns.push(Arc::new(key));
        let mut texts = self
            .texts
            .iter_mut()
            .map(|builder| Arc::new(builder.finish()) as ArrayRef);
        columns.extend(texts.by_ref().take(HEAD_TEXT_COLUMNS));
        columns.push(Arc::new(self.read_only.finish()));
        columns.push(Arc::new(self.arns.finish()));
        columns.extend(texts);
        Ok(RecordBatch::try_new(EVENT_SCHEMA.clone(), columns)?)
    }
}

/// One event's values in the columns of [`EVENT_SCHEMA`].
pub(crate) struct EventValues<'a, A> {
    pub(crate) time: i64,
    pub(crate) key: u128,
    pub(crate) read_only: Option<bool>,
    /// The values of `resources_uid`.
    pub(crate) arns: A,
    /// The values of the text columns, in the order of [`text_values`].
    pub(crate) texts: [Option<&'a str>; TEXT_COLUMNS],
}

/// Returns the values of the text columns: those between `event_key` and
/// `read_only`, then those after `resources_uid`.
pub(crate) fn text_values<'a>(
    event: &'a Event,
    source_file: &'a str,
) -> [Option<&'a str>; TEXT_COLUMNS] {
    let status = if event.succeeded() {
        "Success"
    } else {
        "Failure"
    };
    [
        event.event_id.as_deref(),
        event.event_version.as_deref(),
        Some(&event.service),
        Some(&event.operation),
        event.event_type.as_deref(),
        event.event_category.as_deref(),
        Some(status),
        event.error_code.as_deref(),
        event.error_message.as_deref(),
        event.account.as_deref(),
        event.region.as_deref(),
        event.actor_type.as_deref(),
        event.actor_principal_id.as_deref(),
        event.actor_arn.as_deref(),
        event.actor_account.as_deref(),
        event.actor_session_issuer.as_deref(),
        event.actor_invoked_by.as_deref(),
        event.source_ip.as_deref(),
        event.user_agent.as_deref(),
        event.resource.as_deref(),
        event.request_resource_id.as_deref(),
        event.request_parameters.as_deref(),
        event.response_elements.as_deref(),
        event.additional_event_data.as_deref(),
        event.vpc_endpoint_id.as_deref(),
        event.shared_event_id.as_deref(),
        Some(source_file),
    ]
}

/// Builds a record batch of name bindings.
pub fn names_to_batch(bindings: &[NameBinding]) -> Result<RecordBatch> {
    let mut builders: Vec<StringBuilder> = (0..4).map(|_| StringBuilder::new()).collect();
    let mut time = TimestampMicrosecondBuilder::new().with_timezone(UTC);
    for binding in bindings {
        let values = [
            &binding.account,
            &binding.region,
            &binding.reference,
            &binding.target,
        ];
        for (builder, value) in builders.iter_mut().zip(values) {
            builder.append_value(value);
        }
        time.append_value(binding.time);
    }
    let mut columns: Vec<ArrayRef> = builders
        .iter_mut()
        .map(|b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    columns.push(Arc::new(time.finish()));
    Ok(RecordBatch::try_new(NAME_SCHEMA.clone(), columns)?)
}

/// Builds a KMS `Decrypt` event in `account` and `us-east-1`, for tests.
#[cfg(test)]
pub(crate) fn decrypt_event(key: u128, account: &str) -> StoredEvent {
    StoredEvent {
        event: Box::new(Event {
            key,
            time: 1_714_557_600_000_000,
            service: "kms.amazonaws.com".into(),
            operation: "Decrypt".into(),
            account: Some(account.into()),
            region: Some("us-east-1".into()),
            ..Event::default()
        }),
        source_file: Arc::from(format!("{account}.json")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_counts_heap_strings() {
        let bare = StoredEvent {
            event: Box::default(),
            source_file: Arc::from("f.json"),
        };
        let mut full = bare.clone();
        full.event.request_parameters = Some("x".repeat(10_000));
        full.event.resource_arns = vec!["arn:aws:kms:us-east-1:1:key/a".to_owned()];
        full.event.source_ip = Some("secretsmanager.amazonaws.com".into());
        let mut short = bare.clone();
        short.event.region = Some("us-east-1".into());

        assert!(bare.approximate_size() >= size_of::<Event>());
        let added = full.approximate_size() - bare.approximate_size();
        assert!(added >= 10_000 + 29 + 28, "{added}");
        // A compact string this short is kept inline.
        assert_eq!(short.approximate_size(), bare.approximate_size());
    }

    #[test]
    fn batch_matches_schema() {
        let event = Event {
            key: 7,
            time: 1,
            service: "kms.amazonaws.com".into(),
            operation: "Decrypt".into(),
            resource_arns: vec!["arn:aws:kms:us-east-1:1:key/a".to_owned()],
            error_code: Some("AccessDenied".into()),
            ..Event::default()
        };
        let stored = StoredEvent {
            event: Box::new(event),
            source_file: Arc::from("f.json"),
        };
        let batch = events_to_batch(&[stored]).unwrap();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.schema(), *EVENT_SCHEMA);
        let status = batch.column_by_name("status").unwrap();
        let status = status
            .as_any()
            .downcast_ref::<datafusion::arrow::array::StringArray>();
        assert_eq!(status.unwrap().value(0), "Failure");
    }
}
