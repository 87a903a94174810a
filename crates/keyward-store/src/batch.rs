//! Events gathered by partition into Arrow record batches.
//!
//! A reader thread copies each event's values into one [`EventRows`]
//! buffer as it reads them, so events never cross threads as many small
//! allocations. The thread that receives the buffer converts it to Arrow
//! with an [`EventBatchBuilder`], and the store writer takes whole column
//! buffers as they are.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::interleave_record_batch;
use keyward_cloudtrail::{CompactString, Event, NameBinding, name_bindings};

use crate::error::{Result, StoreError};
use crate::partition::Partition;
use crate::schema::{
    ACCOUNT_TEXT, ColumnSizes, EventColumns, EventValues, REGION_TEXT, SOURCE_FILE_TEXT,
    TEXT_COLUMNS, text_values,
};

/// Index of the `time` column in [`crate::EVENT_SCHEMA`].
const TIME_COLUMN: usize = 0;

/// Index of the `event_key` column in [`crate::EVENT_SCHEMA`].
const KEY_COLUMN: usize = 1;

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;

/// Events of one partition as a record batch in [`crate::EVENT_SCHEMA`], in
/// the order read, with the names that the events bind.
#[derive(Debug)]
pub struct EventBatch {
    pub(crate) partition: Partition,
    pub(crate) batch: RecordBatch,
    pub(crate) names: Vec<NameBinding>,
}

impl EventBatch {
    /// Returns the number of events.
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// Reports whether the batch has no events.
    pub fn is_empty(&self) -> bool {
        self.batch.num_rows() == 0
    }
}

/// Minimum number of events that a new group reserves room for.
const MIN_ROWS: usize = 16;

/// Maximum number of bytes that a new group reserves for the values of one
/// column.
const MAX_RESERVED_BYTES: usize = 1 << 20;

/// Gathers events into one [`EventBatch`] per partition, copying each
/// event's values into Arrow builders as it is added.
pub struct EventBatchBuilder {
    groups: Vec<Group>,
    /// The day, account and Region of the last event added, with the index
    /// of its group. Consecutive events usually share a partition, so its
    /// path values are computed only when one of these changes.
    last: Option<(i64, Option<CompactString>, Option<CompactString>, usize)>,
    /// Events expected per batch, for sizing builders.
    rows: usize,
    /// Value sizes of every group finished, for sizing new groups.
    seen: ColumnSizes,
    /// Events in the groups finished.
    seen_events: usize,
    /// Number of groups finished.
    seen_groups: usize,
    len: usize,
}

/// Events of one partition being gathered.
struct Group {
    partition: Partition,
    columns: EventColumns,
    names: Vec<NameBinding>,
}

impl EventBatchBuilder {
    /// Returns a builder for batches of about `rows` events.
    pub fn new(rows: usize) -> Self {
        Self {
            groups: Vec::new(),
            last: None,
            rows: rows.max(1),
            seen: ColumnSizes::default(),
            seen_events: 0,
            seen_groups: 0,
            len: 0,
        }
    }

    /// Returns the number of events added since the last [`Self::finish`].
    pub fn len(&self) -> usize {
        self.len
    }

    /// Reports whether no event was added since the last [`Self::finish`].
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds an event read from `source_file`.
    pub fn push(&mut self, event: &Event, source_file: &str) {
        let values = EventValues {
            time: event.time,
            key: event.key,
            read_only: event.read_only,
            arns: event.resource_arns.iter().map(String::as_str),
            texts: text_values(event, source_file),
        };
        self.push_values(values, name_bindings(event));
    }

    /// Adds the events of `rows`, in order, and clears `rows`, which keeps
    /// its buffers for reuse.
    pub fn push_rows(&mut self, rows: &mut EventRows) {
        self.push_each_row(rows);
        rows.clear();
    }

    fn push_each_row(&mut self, rows: &mut EventRows) {
        let mut names = rows.names.drain(..).peekable();
        let mut values = ValueCursor {
            text: &rows.text,
            lengths: rows.lengths.iter(),
            offset: 0,
        };
        for (index, row) in rows.rows.iter().enumerate() {
            let mut texts = [None; TEXT_COLUMNS];
            for text in &mut texts[..SOURCE_FILE_TEXT] {
                *text = values.next_value();
            }
            texts[SOURCE_FILE_TEXT] = rows.sources.get(row.source).map(String::as_str);
            let row_names = std::iter::from_fn(|| names.next_if(|(at, _)| *at == index));
            let row_values = EventValues {
                time: row.time,
                key: row.key,
                read_only: row.read_only,
                arns: (0..row.arns).map(|_| values.next_value().unwrap_or_default()),
                texts,
            };
            self.push_values(row_values, row_names.map(|(_, name)| name));
        }
    }

    fn push_values<'a>(
        &mut self,
        values: EventValues<'a, impl Iterator<Item = &'a str>>,
        names: impl IntoIterator<Item = NameBinding>,
    ) {
        let day = values.time.div_euclid(DAY_MICROS);
        let account = values.texts[ACCOUNT_TEXT];
        let region = values.texts[REGION_TEXT];
        let group = match &self.last {
            Some((last_day, last_account, last_region, group))
                if *last_day == day
                    && last_account.as_deref() == account
                    && last_region.as_deref() == region =>
            {
                *group
            }
            _ => {
                let group = self.group_of(Partition::new(values.time, account, region));
                let (account, region) = (account.map(Into::into), region.map(Into::into));
                self.last = Some((day, account, region, group));
                group
            }
        };
        let group = &mut self.groups[group];
        group.columns.append_values(values);
        group.names.extend(names);
        self.len += 1;
    }

    /// Returns the index of a partition's group, adding it if it is new.
    fn group_of(&mut self, partition: Partition) -> usize {
        if let Some(group) = self.groups.iter().position(|g| g.partition == partition) {
            return group;
        }
        // A new group is sized for the average group so far, with values of
        // the average size so far.
        let average = self.seen_events / self.seen_groups.max(1);
        let expected = average.max(MIN_ROWS).min(self.rows);
        let sizes = self
            .seen
            .scaled(self.seen_events, expected, MAX_RESERVED_BYTES);
        self.groups.push(Group {
            partition,
            columns: EventColumns::with_capacity(expected, &sizes),
            names: Vec::new(),
        });
        self.groups.len() - 1
    }

    /// Returns the events added since the last call, one batch per
    /// partition, each in the order the events were added. The store writer
    /// sorts them by time when it merges a partition's batches.
    pub fn finish(&mut self) -> Result<Vec<EventBatch>> {
        self.last = None;
        self.len = 0;
        let groups = std::mem::take(&mut self.groups);
        let mut batches = Vec::with_capacity(groups.len());
        for group in groups {
            let events = group.columns.len();
            self.seen.add_all(&group.columns.sizes());
            self.seen_events += events;
            self.seen_groups += 1;
            let batch = group.columns.finish()?;
            batches.push(EventBatch {
                partition: group.partition,
                batch,
                names: group.names,
            });
        }
        Ok(batches)
    }
}

/// Events copied into one buffer, to be converted to Arrow on another
/// thread by [`EventBatchBuilder::push_rows`].
///
/// Copying an event's text into one buffer costs a reader thread less than
/// appending each value to the builder of its column. A buffer can also be
/// sent back and filled again, so a reader that reuses one stops
/// allocating once the buffer is large enough.
#[derive(Debug, Default)]
pub struct EventRows {
    rows: Vec<Row>,
    /// Length of each text value, then of each resource ARN, row after row.
    /// A missing value has the length [`MISSING`].
    lengths: Vec<usize>,
    /// Every value, one after another, in the order of `lengths`.
    text: String,
    /// The source file of each run of consecutive rows from one file. Rows
    /// name theirs by index.
    sources: Vec<String>,
    /// The names that the events bind, each with the index of its row.
    names: Vec<(usize, NameBinding)>,
}

/// The values of one row that are not text.
#[derive(Debug)]
struct Row {
    time: i64,
    key: u128,
    read_only: Option<bool>,
    /// Number of resource ARNs.
    arns: usize,
    /// Index of the source file in [`EventRows::sources`].
    source: usize,
}

/// Bytes of text room that [`EventRows::clear`] keeps, so that a buffer
/// that once held a very large event does not hold its memory while it is
/// reused.
const MAX_KEPT_TEXT: usize = 2 << 20;

/// Value lengths that [`EventRows::clear`] keeps room for: 64 values for
/// each event of a batch of 1024.
const MAX_KEPT_LENGTHS: usize = 1 << 16;

/// The length recorded for a missing value.
const MISSING: usize = usize::MAX;

impl EventRows {
    /// Returns the number of events.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Reports whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Copies an event read from `source_file`.
    pub fn push(&mut self, event: &Event, source_file: &str) {
        if self.sources.last().map(String::as_str) != Some(source_file) {
            self.sources.push(source_file.to_owned());
        }
        let texts = text_values(event, source_file);
        for text in &texts[..SOURCE_FILE_TEXT] {
            self.push_value(*text);
        }
        for arn in &event.resource_arns {
            self.push_value(Some(arn));
        }
        let index = self.rows.len();
        self.rows.push(Row {
            time: event.time,
            key: event.key,
            read_only: event.read_only,
            arns: event.resource_arns.len(),
            source: self.sources.len() - 1,
        });
        let names = name_bindings(event).into_iter().map(|name| (index, name));
        self.names.extend(names);
    }

    fn push_value(&mut self, value: Option<&str>) {
        match value {
            Some(value) => {
                self.lengths.push(value.len());
                self.text.push_str(value);
            }
            None => self.lengths.push(MISSING),
        }
    }

    /// Removes every event. The buffers are kept, except text room beyond
    /// [`MAX_KEPT_TEXT`] bytes and length room beyond [`MAX_KEPT_LENGTHS`].
    pub fn clear(&mut self) {
        self.rows.clear();
        self.lengths.clear();
        self.lengths.shrink_to(MAX_KEPT_LENGTHS);
        self.text.clear();
        self.text.shrink_to(MAX_KEPT_TEXT);
        self.sources.clear();
        self.names.clear();
    }
}

/// Reads the values of [`EventRows`] in order.
struct ValueCursor<'a> {
    text: &'a str,
    lengths: std::slice::Iter<'a, usize>,
    offset: usize,
}

impl<'a> ValueCursor<'a> {
    /// Returns the next value, or `None` when it is missing.
    fn next_value(&mut self) -> Option<&'a str> {
        let length = *self.lengths.next()?;
        if length == MISSING {
            return None;
        }
        let start = self.offset;
        self.offset += length;
        self.text.get(start..self.offset)
    }
}

/// Returns the event keys of a batch in [`crate::EVENT_SCHEMA`].
pub(crate) fn event_keys(batch: &RecordBatch) -> Result<Vec<u128>> {
    decode_keys(batch.column(KEY_COLUMN).as_ref())
        .ok_or_else(|| StoreError::Invalid("event_key is not a 16-byte binary column".to_owned()))
}

/// Decodes an `event_key` column, or returns `None` when the column is not
/// 16-byte binary.
pub(crate) fn decode_keys(column: &dyn Array) -> Option<Vec<u128>> {
    let keys = column
        .as_fixed_size_binary_opt()
        .filter(|keys| keys.value_length() == 16)?;
    let decoded = (0..keys.len())
        .map(|row| {
            let bytes: [u8; 16] = keys.value(row).try_into().unwrap_or_default();
            u128::from_le_bytes(bytes)
        })
        .collect();
    Some(decoded)
}

/// Returns the event times of a batch in [`crate::EVENT_SCHEMA`].
fn event_times(batch: &RecordBatch) -> Result<&[i64]> {
    use datafusion::arrow::datatypes::TimestampMicrosecondType;
    batch
        .column(TIME_COLUMN)
        .as_primitive_opt::<TimestampMicrosecondType>()
        .map(|times| times.values().as_ref())
        .ok_or_else(|| StoreError::Invalid("time is not a timestamp column".to_owned()))
}

/// A record batch in [`crate::EVENT_SCHEMA`] with the rows of it to write:
/// those marked `true`, or all when there is no mask.
pub(crate) type Selected = (RecordBatch, Option<Vec<bool>>);

/// Merges the selected rows of batches into batches of at most `rows`
/// events sorted by time. Events of equal time keep their order in the
/// batches. Batches that are wholly selected, each sorted, and in
/// order one after another are returned as they are, without a copy.
pub(crate) fn merge_by_time(
    batches: Vec<Selected>,
    rows: usize,
) -> Result<Box<dyn Iterator<Item = Result<RecordBatch>>>> {
    let mut in_order = true;
    let mut previous = i64::MIN;
    for (batch, keep) in &batches {
        let times = event_times(batch)?;
        in_order &= keep.is_none()
            && times.iter().all(|time| {
                let later = previous <= *time;
                previous = *time;
                later
            });
    }
    if in_order {
        return Ok(Box::new(batches.into_iter().map(|(batch, _)| Ok(batch))));
    }

    let mut order: Vec<(i64, usize, usize)> = Vec::new();
    for (index, (batch, keep)) in batches.iter().enumerate() {
        let times = event_times(batch)?;
        let kept = |row: &usize| keep.as_ref().is_none_or(|keep| keep[*row]);
        order.extend(
            (0..times.len())
                .filter(kept)
                .map(|row| (times[row], index, row)),
        );
    }
    order.sort_unstable();
    let rows_in_order: Vec<(usize, usize)> = order
        .into_iter()
        .map(|(_, index, row)| (index, row))
        .collect();
    let batches: Vec<RecordBatch> = batches.into_iter().map(|(batch, _)| batch).collect();
    let chunk_rows = rows.max(1);
    let mut start = 0;
    Ok(Box::new(std::iter::from_fn(move || {
        let end = (start + chunk_rows).min(rows_in_order.len());
        if start == end {
            return None;
        }
        let chunk = &rows_in_order[start..end];
        start = end;
        let sources: Vec<&RecordBatch> = batches.iter().collect();
        Some(interleave_record_batch(&sources, chunk).map_err(StoreError::from))
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{StoredEvent, decrypt_event, events_to_batch};

    fn event_at(key: u128, account: &str, time: i64) -> StoredEvent {
        let mut stored = decrypt_event(key, account);
        stored.event.time = time;
        stored
    }

    fn batches_of(builder: &mut EventBatchBuilder, events: &[StoredEvent]) -> Vec<EventBatch> {
        for stored in events {
            builder.push(&stored.event, &stored.source_file);
        }
        builder.finish().unwrap()
    }

    fn times(batch: &RecordBatch) -> Vec<i64> {
        event_times(batch).unwrap().to_vec()
    }

    #[test]
    fn events_grouped_by_partition_in_order() {
        let day = 1_714_521_600_000_000;
        let events = vec![
            event_at(1, "111111111111", day + 30),
            event_at(2, "222222222222", day + 10),
            event_at(3, "111111111111", day + 20),
            event_at(4, "111111111111", day + DAY_MICROS + 5),
            event_at(5, "111111111111", day + 20),
        ];
        let mut builder = EventBatchBuilder::new(4);
        let batches = batches_of(&mut builder, &events);

        let paths: Vec<String> = batches
            .iter()
            .map(|batch| batch.partition.relative_path())
            .collect();
        assert_eq!(
            paths,
            [
                "eventday=20240501/accountid=111111111111/region=us-east-1",
                "eventday=20240501/accountid=222222222222/region=us-east-1",
                "eventday=20240502/accountid=111111111111/region=us-east-1",
            ]
        );
        assert_eq!(times(&batches[0].batch), [day + 30, day + 20, day + 20]);
        assert_eq!(event_keys(&batches[0].batch).unwrap(), [1, 3, 5]);
        assert_eq!(batches[1].len(), 1);
        assert_eq!(batches[2].len(), 1);
    }

    #[test]
    fn builder_starts_over_after_finish() {
        let mut builder = EventBatchBuilder::new(2);
        let first = [event_at(1, "1", 10), event_at(2, "1", 20)];
        let mut stored = event_at(3, "1", 30);
        stored.event.request_parameters = Some(format!(r#"{{"keyId":"{}"}}"#, "k".repeat(500)));
        stored.event.resource_arns = vec!["arn:aws:kms:us-east-1:1:key/a".to_owned(); 3];
        let second = [stored, event_at(4, "1", 25)];

        let batches = batches_of(&mut builder, &first);
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].batch, events_to_batch(&first).unwrap());
        assert!(builder.is_empty());

        let batches = batches_of(&mut builder, &second);
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].batch, events_to_batch(&second).unwrap());
    }

    /// Events with every kind of value: missing and empty texts, several
    /// resource ARNs or none, a name binding, and two source files.
    fn varied_events() -> Vec<StoredEvent> {
        let mut alias = event_at(1, "111111111111", 10);
        alias.event.operation = "CreateAlias".into();
        alias.event.request_parameters =
            Some(r#"{"aliasName":"alias/app","targetKeyId":"1234abcd"}"#.to_owned());
        alias.event.resource_arns = vec![
            "arn:aws:kms:us-east-1:111111111111:alias/app".to_owned(),
            "arn:aws:kms:us-east-1:111111111111:key/1234abcd".to_owned(),
        ];
        alias.event.read_only = Some(false);
        let mut denied = event_at(2, "111111111111", 5);
        denied.event.error_code = Some("AccessDenied".into());
        denied.event.error_message = Some(String::new());
        denied.event.user_agent = Some("aws-cli/2 ü".to_owned());
        let mut other_file = event_at(3, "222222222222", DAY_MICROS + 1);
        other_file.event.region = None;
        other_file.event.read_only = Some(true);
        vec![alias, denied, other_file, event_at(4, "111111111111", 7)]
    }

    #[test]
    fn rows_match_event_batches() {
        let events = varied_events();
        let expected = batches_of(&mut EventBatchBuilder::new(4), &events);

        let mut rows = EventRows::default();
        for stored in &events {
            rows.push(&stored.event, &stored.source_file);
        }
        assert_eq!(rows.len(), 4);
        let mut builder = EventBatchBuilder::new(4);
        builder.push_rows(&mut rows);
        let batches = builder.finish().unwrap();

        assert!(rows.is_empty());
        assert_eq!(batches.len(), expected.len());
        for (batch, expected) in batches.iter().zip(&expected) {
            assert_eq!(batch.partition, expected.partition);
            assert_eq!(batch.batch, expected.batch);
            assert_eq!(batch.names, expected.names);
        }
        assert_eq!(batches[0].names.len(), 1);
    }

    #[test]
    fn cleared_rows_reused() {
        let events = varied_events();
        let mut rows = EventRows::default();
        let mut builder = EventBatchBuilder::new(4);
        for stored in &events[..2] {
            rows.push(&stored.event, &stored.source_file);
        }
        builder.push_rows(&mut rows);
        builder.finish().unwrap();

        for stored in &events[2..] {
            rows.push(&stored.event, &stored.source_file);
        }
        builder.push_rows(&mut rows);
        let batches = builder.finish().unwrap();
        let expected = batches_of(&mut EventBatchBuilder::new(4), &events[2..]);
        let keys: Vec<Vec<u128>> = batches
            .iter()
            .map(|b| event_keys(&b.batch).unwrap())
            .collect();
        assert_eq!(keys, [vec![3], vec![4]]);
        assert_eq!(batches[0].batch, expected[0].batch);
        assert!(batches.iter().all(|batch| batch.names.is_empty()));
    }

    #[test]
    fn clear_shrinks_large_text() {
        let mut large = event_at(1, "1", 10);
        large.event.request_parameters = Some("x".repeat(2 * MAX_KEPT_TEXT));
        let mut rows = EventRows::default();
        rows.push(&large.event, &large.source_file);
        rows.clear();
        assert!(rows.text.capacity() <= MAX_KEPT_TEXT);
        assert!(rows.lengths.capacity() <= MAX_KEPT_LENGTHS);
    }

    #[test]
    fn large_event_does_not_inflate_later_batches() {
        let mut builder = EventBatchBuilder::new(1024);
        let mut large = event_at(1, "1", 10);
        large.event.request_parameters = Some("x".repeat(4 << 20));
        batches_of(&mut builder, &[large]);

        let batches = batches_of(&mut builder, &[event_at(2, "1", 20)]);
        // Uncapped, the request column alone would reserve 16 events of 4 MiB.
        let reserved = batches[0].batch.get_array_memory_size();
        assert!(reserved < 32 << 20, "{reserved} bytes");
    }

    #[test]
    fn names_kept_with_their_batch() {
        let mut stored = decrypt_event(1, "111111111111");
        stored.event.operation = "CreateAlias".into();
        stored.event.request_parameters =
            Some(r#"{"aliasName":"alias/app","targetKeyId":"1234abcd"}"#.to_owned());
        let batches = batches_of(&mut EventBatchBuilder::new(1), &[stored.clone()]);
        let expected = name_bindings(&stored.event);
        assert!(!expected.is_empty());
        assert_eq!(batches[0].names, expected);
    }

    fn merge(batches: Vec<Selected>, rows: usize) -> Vec<RecordBatch> {
        merge_by_time(batches, rows)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap()
    }

    fn all_keys(batches: &[RecordBatch]) -> Vec<u128> {
        batches
            .iter()
            .flat_map(|batch| event_keys(batch).unwrap())
            .collect()
    }

    #[test]
    fn ordered_batches_merge_without_copy() {
        let first = events_to_batch(&[event_at(1, "1", 10), event_at(2, "1", 20)]).unwrap();
        let second = events_to_batch(&[event_at(3, "1", 20), event_at(4, "1", 30)]).unwrap();
        let merged = merge(vec![(first.clone(), None), (second.clone(), None)], 1);
        assert_eq!(merged, [first, second]);
    }

    #[test]
    fn overlapping_batches_interleaved_by_time() {
        let first = events_to_batch(&[event_at(1, "1", 10), event_at(2, "1", 30)]).unwrap();
        let second = events_to_batch(&[
            event_at(3, "1", 5),
            event_at(4, "1", 30),
            event_at(5, "1", 40),
        ])
        .unwrap();
        let merged = merge(vec![(first, None), (second, None)], 2);

        let sizes: Vec<usize> = merged.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sizes, [2, 2, 1]);
        let all_times: Vec<i64> = merged.iter().flat_map(times).collect();
        assert_eq!(all_times, [5, 10, 30, 30, 40]);
        assert_eq!(all_keys(&merged), [3, 1, 2, 4, 5]);
    }

    #[test]
    fn unsorted_batch_sorted_stably() {
        let batch = events_to_batch(&[
            event_at(1, "1", 30),
            event_at(2, "1", 10),
            event_at(3, "1", 30),
            event_at(4, "1", 20),
        ])
        .unwrap();
        let merged = merge(vec![(batch, None)], 10);
        assert_eq!(
            merged.iter().flat_map(times).collect::<Vec<_>>(),
            [10, 20, 30, 30]
        );
        assert_eq!(all_keys(&merged), [2, 4, 1, 3]);
    }

    #[test]
    fn unselected_rows_left_out() {
        let first = events_to_batch(&[event_at(1, "1", 10), event_at(2, "1", 20)]).unwrap();
        let second = events_to_batch(&[event_at(3, "1", 30), event_at(4, "1", 40)]).unwrap();
        let merged = merge(vec![(first, Some(vec![true, false])), (second, None)], 10);
        assert_eq!(all_keys(&merged), [1, 3, 4]);
    }

    #[test]
    fn empty_batches_are_in_order() {
        let empty = events_to_batch(&[]).unwrap();
        let single = events_to_batch(&[event_at(1, "1", 10)]).unwrap();
        let merged = merge(vec![(single.clone(), None), (empty.clone(), None)], 4);
        assert_eq!(merged, [single, empty]);
    }
}
