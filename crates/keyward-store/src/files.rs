//! Atomic Parquet file writes and reads of single columns.
//!
//! A file is written under the store's `.tmp` folder, synced, then renamed
//! into place, so that a crash or kill leaves either no file or a whole one.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, RecordBatch};
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
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned());
    let temp = temp_dir.join(format!(".{}.partial", name.unwrap_or_default()));
    write_parquet(batch, &temp)?;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| StoreError::io("create", parent, e))?;
    }
    fs::rename(&temp, path).map_err(|e| StoreError::io("rename into place", path, e))?;
    Ok(())
}

fn write_parquet(batch: &RecordBatch, path: &Path) -> Result<()> {
    let file = File::create(path).map_err(|e| StoreError::io("create", path, e))?;
    let mut properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("keyward {}", env!("CARGO_PKG_VERSION")));
    for field in batch.schema().fields() {
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
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties))
        .map_err(|e| StoreError::parquet(path, e))?;
    writer
        .write(batch)
        .map_err(|e| StoreError::parquet(path, e))?;
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
    use datafusion::arrow::array::FixedSizeBinaryArray;
    for batch in read_columns(path, &["event_key"])? {
        let column = batch.column(0);
        let Some(keys) = column.as_any().downcast_ref::<FixedSizeBinaryArray>() else {
            return Err(StoreError::Invalid(format!(
                "{}: event_key is not a 16-byte binary column",
                path.display()
            )));
        };
        for index in 0..keys.len() {
            let bytes: [u8; 16] = keys.value(index).try_into().unwrap_or_default();
            into.insert(u128::from_le_bytes(bytes));
        }
    }
    Ok(())
}
