//! Events converted to Arrow on the thread that read them.
//!
//! An event is many small allocations. When a reader thread builds events
//! and the store writer's thread copies and frees them, every allocation
//! crosses between cores. A reader thread therefore turns its events into
//! record batches, whole column buffers that the writer takes as they are.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::interleave_record_batch;
use keyward_cloudtrail::{CompactString, NameBinding, name_bindings};

use crate::error::{Result, StoreError};
use crate::partition::Partition;
use crate::schema::{StoredEvent, events_to_batch};

/// Index of the `time` column in [`crate::EVENT_SCHEMA`].
const TIME_COLUMN: usize = 0;

/// Index of the `event_key` column in [`crate::EVENT_SCHEMA`].
const KEY_COLUMN: usize = 1;

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;

/// Events of one partition as a record batch in [`crate::EVENT_SCHEMA`],
/// sorted by time, with the names that the events bind.
#[derive(Debug)]
pub struct EventBatch {
    pub(crate) partition: Partition,
    pub(crate) batch: RecordBatch,
    pub(crate) names: Vec<NameBinding>,
}

impl EventBatch {
    /// Groups events by partition and converts each group, sorted by time.
    /// Events of equal time keep their order.
    pub fn from_events(events: Vec<StoredEvent>) -> Result<Vec<EventBatch>> {
        let mut groups: Vec<(Partition, Vec<StoredEvent>)> = Vec::new();
        // Consecutive events usually share a partition, so its path values
        // are computed only when the day, account or Region changes.
        let mut last: Option<(i64, Option<CompactString>, Option<CompactString>, usize)> = None;
        for stored in events {
            let event = &stored.event;
            let day = event.time.div_euclid(DAY_MICROS);
            let group = match &last {
                Some((last_day, account, region, group))
                    if *last_day == day && *account == event.account && *region == event.region =>
                {
                    *group
                }
                _ => {
                    let partition = Partition::of(event);
                    let group = match groups.iter().position(|(known, _)| *known == partition) {
                        Some(group) => group,
                        None => {
                            groups.push((partition, Vec::new()));
                            groups.len() - 1
                        }
                    };
                    last = Some((day, event.account.clone(), event.region.clone(), group));
                    group
                }
            };
            groups[group].1.push(stored);
        }

        let mut batches = Vec::with_capacity(groups.len());
        for (partition, mut events) in groups {
            events.sort_by_key(|stored| stored.event.time);
            let names = events
                .iter()
                .flat_map(|stored| name_bindings(&stored.event))
                .collect();
            let batch = events_to_batch(&events)?;
            batches.push(EventBatch {
                partition,
                batch,
                names,
            });
        }
        Ok(batches)
    }

    /// Returns the number of events.
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// Reports whether the batch has no events.
    pub fn is_empty(&self) -> bool {
        self.batch.num_rows() == 0
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

/// Merges batches that are each sorted by time into batches of at most
/// `rows` events sorted across all of them. Events of equal time keep the
/// order of their batches. Batches already in order are returned as they
/// are, without a copy.
pub(crate) fn merge_sorted(
    batches: Vec<RecordBatch>,
    rows: usize,
) -> Result<Box<dyn Iterator<Item = Result<RecordBatch>>>> {
    let mut in_order = true;
    let mut previous_last = i64::MIN;
    for batch in &batches {
        let times = event_times(batch)?;
        if let (Some(first), Some(last)) = (times.first(), times.last()) {
            in_order &= previous_last <= *first;
            previous_last = *last;
        }
    }
    if in_order {
        return Ok(Box::new(batches.into_iter().map(Ok)));
    }

    let mut order: Vec<(i64, usize, usize)> = Vec::new();
    for (index, batch) in batches.iter().enumerate() {
        let times = event_times(batch)?;
        order.extend(
            times
                .iter()
                .enumerate()
                .map(|(row, time)| (*time, index, row)),
        );
    }
    order.sort_unstable();
    let rows_in_order: Vec<(usize, usize)> = order
        .into_iter()
        .map(|(_, index, row)| (index, row))
        .collect();
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
    use crate::schema::decrypt_event;

    fn event_at(key: u128, account: &str, time: i64) -> StoredEvent {
        let mut stored = decrypt_event(key, account);
        stored.event.time = time;
        stored
    }

    fn times(batch: &RecordBatch) -> Vec<i64> {
        event_times(batch).unwrap().to_vec()
    }

    #[test]
    fn events_grouped_by_partition_and_sorted() {
        let day = 1_714_521_600_000_000;
        let events = vec![
            event_at(1, "111111111111", day + 30),
            event_at(2, "222222222222", day + 10),
            event_at(3, "111111111111", day + 20),
            event_at(4, "111111111111", day + DAY_MICROS + 5),
            event_at(5, "111111111111", day + 20),
        ];
        let batches = EventBatch::from_events(events).unwrap();

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
        assert_eq!(times(&batches[0].batch), [day + 20, day + 20, day + 30]);
        assert_eq!(event_keys(&batches[0].batch).unwrap(), [3, 5, 1]);
        assert_eq!(batches[1].len(), 1);
        assert_eq!(batches[2].len(), 1);
    }

    #[test]
    fn names_kept_with_their_batch() {
        let mut stored = decrypt_event(1, "111111111111");
        stored.event.operation = "CreateAlias".into();
        stored.event.request_parameters =
            Some(r#"{"aliasName":"alias/app","targetKeyId":"1234abcd"}"#.to_owned());
        let batches = EventBatch::from_events(vec![stored.clone()]).unwrap();
        let expected = name_bindings(&stored.event);
        assert!(!expected.is_empty());
        assert_eq!(batches[0].names, expected);
    }

    #[test]
    fn ordered_batches_merge_without_copy() {
        let first = events_to_batch(&[event_at(1, "1", 10), event_at(2, "1", 20)]).unwrap();
        let second = events_to_batch(&[event_at(3, "1", 20), event_at(4, "1", 30)]).unwrap();
        let merged: Vec<RecordBatch> = merge_sorted(vec![first.clone(), second.clone()], 1)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
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
        let merged: Vec<RecordBatch> = merge_sorted(vec![first, second], 2)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();

        let sizes: Vec<usize> = merged.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sizes, [2, 2, 1]);
        let all_times: Vec<i64> = merged.iter().flat_map(times).collect();
        assert_eq!(all_times, [5, 10, 30, 30, 40]);
        let all_keys: Vec<u128> = merged
            .iter()
            .flat_map(|batch| event_keys(batch).unwrap())
            .collect();
        assert_eq!(all_keys, [3, 1, 2, 4, 5]);
    }

    #[test]
    fn empty_batches_are_in_order() {
        let empty = events_to_batch(&[]).unwrap();
        let single = events_to_batch(&[event_at(1, "1", 10)]).unwrap();
        let merged: Vec<RecordBatch> = merge_sorted(vec![single.clone(), empty.clone()], 4)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(merged, [single, empty]);
    }
}
