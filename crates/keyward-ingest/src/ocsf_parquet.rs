//! Reading the OCSF Parquet files of Amazon Security Lake's CloudTrail
//! source, row by row, into the same events as CloudTrail files.
//!
//! Each row of the Parquet record API becomes JSON, so that
//! [`classify_ocsf`] maps OCSF from Parquet and from JSON in one way.

use keyward_cloudtrail::{Classified, Event, FileSummary, Position, ReadError, classify_ocsf};
use parquet::file::reader::{ChunkReader, FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use serde_json::{Map, Value};

/// Error messages kept per file, as for CloudTrail files; further errors
/// are only counted.
const MAX_ERRORS_KEPT: usize = 20;

/// Reports whether a file name is a Parquet file's.
pub fn is_parquet(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".parquet")
}

/// Reads one OCSF Parquet file and passes each event of a kept service to
/// `sink`. `size` is the file's size in bytes.
///
/// Never fails as a whole: an unreadable file or row is counted in the
/// summary with its position, and the events read before it are kept.
pub fn read_ocsf_parquet<R: ChunkReader + 'static>(
    input: R,
    size: u64,
    sink: &mut dyn FnMut(&Event),
) -> FileSummary {
    let mut summary = FileSummary {
        bytes: size,
        ..FileSummary::default()
    };
    let reader = match SerializedFileReader::new(input) {
        Ok(reader) => reader,
        Err(error) => {
            push_error(&mut summary, None, format!("invalid Parquet file: {error}"));
            summary.stopped_early = true;
            return summary;
        }
    };
    let rows = match reader.get_row_iter(None) {
        Ok(rows) => rows,
        Err(error) => {
            let message = format!("failed to read Parquet rows: {error}");
            push_error(&mut summary, None, message);
            summary.stopped_early = true;
            return summary;
        }
    };
    let mut event = Event::default();
    for (index, row) in rows.enumerate() {
        let row = match row {
            Ok(row) => row,
            Err(error) => {
                let message = format!("failed to read Parquet row: {error}");
                push_error(&mut summary, Some(index as u64), message);
                summary.stopped_early = true;
                break;
            }
        };
        match classify_ocsf(&row_to_json(&row), &mut event) {
            Ok(classified) => tally(&mut summary, classified, &event, sink),
            Err(error) => push_error(&mut summary, Some(index as u64), error.to_string()),
        }
    }
    summary
}

/// Converts a row to a JSON object: groups become objects, lists arrays and
/// maps objects. Timestamps become milliseconds since the epoch.
fn row_to_json(row: &Row) -> Value {
    let fields: Map<String, Value> = row
        .get_column_iter()
        .map(|(name, field)| (name.clone(), field_to_json(field)))
        .collect();
    Value::Object(fields)
}

fn field_to_json(field: &Field) -> Value {
    match field {
        Field::Null => Value::Null,
        Field::Bool(value) => Value::from(*value),
        Field::Byte(value) => Value::from(*value),
        Field::Short(value) => Value::from(*value),
        Field::Int(value) => Value::from(*value),
        Field::Long(value) => Value::from(*value),
        Field::UByte(value) => Value::from(*value),
        Field::UShort(value) => Value::from(*value),
        Field::UInt(value) => Value::from(*value),
        Field::ULong(value) => Value::from(*value),
        Field::Float16(value) => Value::from(value.to_f64()),
        Field::Float(value) => Value::from(*value),
        Field::Double(value) => Value::from(*value),
        Field::Str(text) => Value::from(text.as_str()),
        Field::Bytes(bytes) => bytes.as_utf8().map_or(Value::Null, Value::from),
        Field::TimestampMillis(millis) => Value::from(*millis),
        Field::TimestampMicros(micros) => Value::from(micros.div_euclid(1000)),
        Field::Group(row) => row_to_json(row),
        Field::ListInternal(list) => {
            Value::Array(list.elements().iter().map(field_to_json).collect())
        }
        Field::MapInternal(map) => {
            let entries = map.entries().iter().map(|(key, value)| {
                let key = match key {
                    Field::Str(text) => text.clone(),
                    other => other.to_string(),
                };
                (key, field_to_json(value))
            });
            Value::Object(entries.collect())
        }
        other => Value::from(other.to_string()),
    }
}

/// Counts a classified row, passing `event` to `sink` when the row is an
/// event of a kept service.
fn tally(
    summary: &mut FileSummary,
    classified: Classified,
    event: &Event,
    sink: &mut dyn FnMut(&Event),
) {
    match classified {
        Classified::Crypto => {
            summary.records += 1;
            summary.crypto_events += 1;
            sink(event);
        }
        Classified::Other => {
            summary.records += 1;
            summary.other_events += 1;
        }
        Classified::Insight => {
            summary.records += 1;
            summary.insight_records += 1;
        }
        Classified::Digest => summary.digests += 1,
        Classified::NotCloudTrail => summary.not_cloudtrail += 1,
    }
}

fn push_error(summary: &mut FileSummary, row: Option<u64>, message: String) {
    summary.error_count += 1;
    if summary.errors.len() < MAX_ERRORS_KEPT {
        summary.errors.push(ReadError {
            position: Position {
                byte: 0,
                line: None,
                column: None,
                record: row,
            },
            message,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parquet_names_recognized() {
        assert!(is_parquet("eventDay=20260501/part-0.parquet"));
        assert!(is_parquet("x.PARQUET"));
        assert!(!is_parquet("x.parquet.json"));
    }

    #[test]
    fn truncated_file_reported() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("broken.parquet");
        std::fs::write(&path, b"PAR1 not a whole file").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let mut events = 0;
        let summary = read_ocsf_parquet(file, 21, &mut |_| events += 1);
        assert_eq!(events, 0);
        assert_eq!(summary.error_count, 1);
        assert!(
            summary.errors[0]
                .message
                .starts_with("invalid Parquet file"),
            "{}",
            summary.errors[0].message
        );
        assert!(summary.stopped_early);
    }
}
