//! The manifest: which source files are already in the store.
//!
//! Each entry records a source's fingerprint (size and modification time on
//! disk, ETag in S3). A later run skips a source whose fingerprint is
//! unchanged. Entries are appended in batches as Parquet segments, each
//! written only after the events of its sources are on disk.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondBuilder,
    UInt64Builder,
};

use crate::error::{Result, StoreError};
use crate::files::{parquet_files, read_columns};
use crate::schema::{MANIFEST_SCHEMA, UTC};

/// One source file that was ingested in full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Path or URL of the source.
    pub source: String,
    /// Identity of this version of the source.
    pub fingerprint: String,
    /// When it was ingested, in microseconds since the epoch.
    pub ingested_at: i64,
    /// CloudTrail records it held.
    pub records: u64,
    /// Events of kept services it held.
    pub events: u64,
}

/// The fingerprints of every ingested source.
#[derive(Clone, Debug, Default)]
pub struct Manifest {
    fingerprints: HashMap<String, String>,
}

impl Manifest {
    /// Loads every segment in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let mut fingerprints = HashMap::new();
        for path in parquet_files(dir)? {
            for batch in read_columns(&path, &["source", "fingerprint"])? {
                let sources = string_column(&batch, 0, &path)?;
                let prints = string_column(&batch, 1, &path)?;
                for row in 0..batch.num_rows() {
                    fingerprints
                        .insert(sources.value(row).to_owned(), prints.value(row).to_owned());
                }
            }
        }
        Ok(Self { fingerprints })
    }

    /// Reports whether this version of a source is already ingested.
    pub fn contains(&self, source: &str, fingerprint: &str) -> bool {
        self.fingerprints
            .get(source)
            .is_some_and(|known| known == fingerprint)
    }

    /// Number of sources recorded.
    pub fn len(&self) -> usize {
        self.fingerprints.len()
    }

    /// Reports whether no source is recorded.
    pub fn is_empty(&self) -> bool {
        self.fingerprints.is_empty()
    }
}

fn string_column<'a>(batch: &'a RecordBatch, index: usize, path: &Path) -> Result<&'a StringArray> {
    batch
        .column(index)
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| {
            StoreError::Invalid(format!(
                "{}: manifest column {index} is not text",
                path.display()
            ))
        })
}

/// Builds a manifest segment.
pub fn entries_to_batch(entries: &[ManifestEntry]) -> Result<RecordBatch> {
    let mut source = StringBuilder::new();
    let mut fingerprint = StringBuilder::new();
    let mut ingested_at = TimestampMicrosecondBuilder::new().with_timezone(UTC);
    let mut records = UInt64Builder::new();
    let mut events = UInt64Builder::new();
    for entry in entries {
        source.append_value(&entry.source);
        fingerprint.append_value(&entry.fingerprint);
        ingested_at.append_value(entry.ingested_at);
        records.append_value(entry.records);
        events.append_value(entry.events);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(source.finish()),
        Arc::new(fingerprint.finish()),
        Arc::new(ingested_at.finish()),
        Arc::new(records.finish()),
        Arc::new(events.finish()),
    ];
    Ok(RecordBatch::try_new(MANIFEST_SCHEMA.clone(), columns)?)
}
