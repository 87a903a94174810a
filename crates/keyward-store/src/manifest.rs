//! The manifest: which source files are already in the store.
//!
//! Each entry records a source's fingerprint (size and modification time on
//! disk, ETag in S3). A later run skips a source whose fingerprint is
//! unchanged. Entries are appended in batches as Parquet segments, each
//! written only after the events of its sources are on disk. Once there are
//! more than [`MAX_SEGMENTS`], a finished write merges them into one that
//! keeps the latest entry of each source.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondBuilder,
    UInt64Builder,
};

use crate::error::{Result, StoreError};
use crate::files::{parquet_files, read_all_columns, read_columns, write_parquet_atomic};
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
    ///
    /// An ingest that merges the segments removes them while a reader
    /// without the store's lock, such as a dry run, may be reading them. A
    /// segment that is gone by the time it is opened makes the load start
    /// over, since the merged segment that replaced it was written first.
    pub fn load(dir: &Path) -> Result<Self> {
        let mut attempt = 1;
        loop {
            match Self::load_once(dir) {
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound
                        && attempt < MAX_LOAD_ATTEMPTS =>
                {
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    fn load_once(dir: &Path) -> Result<Self> {
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

/// Maximum number of times that [`Manifest::load`] reads the segments,
/// starting over when one is removed while it reads.
const MAX_LOAD_ATTEMPTS: usize = 5;

/// Number of segments beyond which [`compact`] merges the manifest.
pub const MAX_SEGMENTS: usize = 32;

/// Merges the segments in `dir` into one named `file_name`, with the latest
/// entry of each source, when there are more than [`MAX_SEGMENTS`]. Returns
/// whether it did.
///
/// The merged segment is in place before the others are removed, so a
/// failure in between leaves entries twice, which [`Manifest::load`] reads
/// as once.
pub(crate) fn compact(dir: &Path, temp_dir: &Path, file_name: &str) -> Result<bool> {
    let segments = parquet_files(dir)?;
    if segments.len() <= MAX_SEGMENTS {
        return Ok(false);
    }
    let mut latest: HashMap<String, ManifestEntry> = HashMap::new();
    for path in &segments {
        for batch in read_all_columns(path)? {
            for entry in batch_entries(&batch, path)? {
                match latest.get(&entry.source) {
                    Some(kept) if kept.ingested_at > entry.ingested_at => {}
                    _ => {
                        latest.insert(entry.source.clone(), entry);
                    }
                }
            }
        }
    }
    let mut entries: Vec<ManifestEntry> = latest.into_values().collect();
    entries.sort_by(|a, b| a.source.cmp(&b.source));
    let merged = dir.join(file_name);
    write_parquet_atomic(&entries_to_batch(&entries)?, &merged, temp_dir)?;
    for path in segments {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(StoreError::io("remove", &path, error)),
        }
    }
    Ok(true)
}

/// Reads the entries of a manifest segment's batch.
fn batch_entries(batch: &RecordBatch, path: &Path) -> Result<Vec<ManifestEntry>> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::{TimestampMicrosecondType, UInt64Type};
    let invalid = || {
        StoreError::Invalid(format!(
            "{}: a manifest column has the wrong type",
            path.display()
        ))
    };
    let sources = string_column(batch, 0, path)?;
    let fingerprints = string_column(batch, 1, path)?;
    let times = batch
        .column(2)
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(invalid)?;
    let records = batch
        .column(3)
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(invalid)?;
    let events = batch
        .column(4)
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(invalid)?;
    Ok((0..batch.num_rows())
        .map(|row| ManifestEntry {
            source: sources.value(row).to_owned(),
            fingerprint: fingerprints.value(row).to_owned(),
            ingested_at: times.value(row),
            records: records.value(row),
            events: events.value(row),
        })
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(source: &str, fingerprint: &str, ingested_at: i64) -> ManifestEntry {
        ManifestEntry {
            source: source.to_owned(),
            fingerprint: fingerprint.to_owned(),
            ingested_at,
            records: 1,
            events: 1,
        }
    }

    fn write_segment(dir: &Path, temp_dir: &Path, name: &str, entries: &[ManifestEntry]) {
        let batch = entries_to_batch(entries).unwrap();
        write_parquet_atomic(&batch, &dir.join(name), temp_dir).unwrap();
    }

    /// Creates the manifest folder and the temporary folder under `root`.
    fn manifest_folders(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let (dir, temp_dir) = (root.join("manifest"), root.join(".tmp"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&temp_dir).unwrap();
        (dir, temp_dir)
    }

    #[test]
    fn many_segments_merged_into_latest_entries() {
        let root = tempfile::tempdir().unwrap();
        let (dir, temp_dir) = manifest_folders(root.path());
        for run in 0..=MAX_SEGMENTS {
            let time = i64::try_from(run).unwrap();
            let entries = [
                entry("s3://trail/a.json.gz", &format!("etag-{run}"), time),
                entry(&format!("/logs/{run}.json.gz"), "size-1", time),
            ];
            write_segment(
                &dir,
                &temp_dir,
                &format!("manifest-{run:03}.parquet"),
                &entries,
            );
        }

        assert!(compact(&dir, &temp_dir, "manifest-merged.parquet").unwrap());

        assert_eq!(
            parquet_files(&dir).unwrap(),
            [dir.join("manifest-merged.parquet")]
        );
        let manifest = Manifest::load(&dir).unwrap();
        assert_eq!(manifest.len(), MAX_SEGMENTS + 2);
        assert!(manifest.contains("s3://trail/a.json.gz", &format!("etag-{MAX_SEGMENTS}")));
        assert!(manifest.contains("/logs/0.json.gz", "size-1"));
        let rows: usize = read_all_columns(&dir.join("manifest-merged.parquet"))
            .unwrap()
            .iter()
            .map(RecordBatch::num_rows)
            .sum();
        assert_eq!(rows, MAX_SEGMENTS + 2);
    }

    #[test]
    fn few_segments_left_alone() {
        let root = tempfile::tempdir().unwrap();
        let (dir, temp_dir) = manifest_folders(root.path());
        write_segment(&dir, &temp_dir, "manifest-1.parquet", &[entry("a", "1", 1)]);

        assert!(!compact(&dir, &temp_dir, "manifest-merged.parquet").unwrap());
        assert_eq!(
            parquet_files(&dir).unwrap(),
            [dir.join("manifest-1.parquet")]
        );
    }
}
