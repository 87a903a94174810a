//! Atomic Parquet file writes and reads of single columns.
//!
//! A file is written under the store's `.tmp` folder, synced, then renamed
//! into place, so that a crash or kill leaves either no file or a whole one.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;

use crate::error::{Result, StoreError};

/// Columns whose values are unique per row, for which a dictionary is
/// wasted work.
const UNIQUE_COLUMNS: [&str; 2] = ["event_key", "metadata_uid"];

/// Columns of JSON text, which are long and mostly unique. Their minimum and
/// maximum take time to compute and let no query skip a file.
const JSON_TEXT_COLUMNS: [&str; 3] = [
    "api_request_data",
    "api_response_data",
    "additional_event_data",
];

/// Writes a batch to `path` atomically, through `temp_dir`.
pub fn write_parquet_atomic(batch: &RecordBatch, path: &Path, temp_dir: &Path) -> Result<()> {
    write_batches_atomic(
        batch.schema(),
        std::iter::once(Ok(batch.clone())),
        path,
        temp_dir,
    )
}

/// Writes batches of `schema`, in order, to `path` atomically, through
/// `temp_dir`. Each batch is dropped once encoded, so a caller that builds
/// them lazily keeps one in memory at a time.
pub fn write_batches_atomic(
    schema: SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch>>,
    path: &Path,
    temp_dir: &Path,
) -> Result<()> {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned());
    let temp = temp_dir.join(format!(".{}.partial", name.unwrap_or_default()));
    if let Err(error) = write_parquet(schema, batches, &temp) {
        // A partial file is of no use. One that cannot be removed is still
        // ignored, because its name is hidden.
        let _ = fs::remove_file(&temp);
        return Err(error);
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| StoreError::io("create", parent, e))?;
    }
    fs::rename(&temp, path).map_err(|e| StoreError::io("rename into place", path, e))?;
    Ok(())
}

fn write_parquet(
    schema: SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch>>,
    path: &Path,
) -> Result<()> {
    let file = File::create(path).map_err(|e| StoreError::io("create", path, e))?;
    let mut properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("keyward {}", env!("CARGO_PKG_VERSION")));
    for field in schema.fields() {
        let name = field.name().as_str();
        if UNIQUE_COLUMNS.contains(&name) || JSON_TEXT_COLUMNS.contains(&name) {
            let column = ColumnPath::from(name);
            properties = properties.set_column_dictionary_enabled(column, false);
        }
        if JSON_TEXT_COLUMNS.contains(&name) {
            let column = ColumnPath::from(name);
            properties = properties.set_column_statistics_enabled(column, EnabledStatistics::None);
        }
    }
    let properties = properties.build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties))
        .map_err(|e| StoreError::parquet(path, e))?;
    for batch in batches {
        writer
            .write(&batch?)
            .map_err(|e| StoreError::parquet(path, e))?;
    }
    let file = writer
        .into_inner()
        .map_err(|e| StoreError::parquet(path, e))?;
    file.sync_all()
        .map_err(|e| StoreError::io("sync", path, e))?;
    Ok(())
}

/// Lists the Parquet files directly in `dir`, skipping hidden and partial
/// files. A missing folder has none.
pub fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(StoreError::io("list", dir, error)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| StoreError::io("list", dir, e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.starts_with('.') && name.ends_with(".parquet") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads the named columns of a Parquet file as batches.
pub fn read_columns(path: &Path, columns: &[&str]) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).map_err(|e| StoreError::io("open", path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| StoreError::parquet(path, e))?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| StoreError::parquet(path, e))?;
    let mut batches = Vec::new();
    for batch in reader {
        batches.push(batch?);
    }
    Ok(batches)
}

/// Reads every column of a Parquet file as batches.
pub fn read_all_columns(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).map_err(|e| StoreError::io("open", path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|builder| builder.build())
        .map_err(|e| StoreError::parquet(path, e))?;
    let mut batches = Vec::new();
    for batch in reader {
        batches.push(batch?);
    }
    Ok(batches)
}

/// Reads the `event_key` column of an events file.
pub fn read_event_keys(path: &Path, into: &mut std::collections::HashSet<u128>) -> Result<()> {
    for batch in read_columns(path, &["event_key"])? {
        let Some(keys) = crate::batch::decode_keys(batch.column(0).as_ref()) else {
            return Err(StoreError::Invalid(format!(
                "{}: event_key is not a 16-byte binary column",
                path.display()
            )));
        };
        into.extend(keys);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(schema: &SchemaRef, values: Vec<i64>) -> Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(values))],
        )?)
    }

    #[test]
    fn batches_go_to_one_file_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let path = dir.path().join("out/n.parquet");
        let batches = vec![batch(&schema, vec![1, 2]), batch(&schema, vec![3])];
        write_batches_atomic(schema, batches.into_iter(), &path, dir.path()).unwrap();

        let file = File::open(&path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let mut values = Vec::new();
        for read in reader {
            let read = read.unwrap();
            let column = read.column(0).as_any().downcast_ref::<Int64Array>();
            values.extend(column.unwrap().values().iter().copied());
        }
        assert_eq!(values, [1, 2, 3]);
    }

    #[test]
    fn failed_batch_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let path = dir.path().join("n.parquet");
        let failed = Err(StoreError::Invalid("no more rows".to_owned()));
        let batches = vec![batch(&schema, vec![1]), failed];

        let error = write_batches_atomic(schema, batches.into_iter(), &path, dir.path());

        assert!(error.unwrap_err().to_string().contains("no more rows"));
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
