//! Atomic Parquet file writes and reads of single columns.
//!
//! A file is written under the store's `.tmp` folder, synced, then renamed
//! into place, so that a crash or kill leaves either no file or a whole one.
//! The files of one store write are synced together before any is renamed.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
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

/// Columns whose minimum and maximum take time to compute but let no query
/// skip a file, because one file's values span nearly their whole range:
/// values unique per row (keys, random ids), free text and JSON text.
const NO_STATISTICS_COLUMNS: [&str; 7] = [
    "event_key",
    "metadata_uid",
    "api_response_message",
    "http_request_user_agent",
    "api_request_data",
    "api_response_data",
    "additional_event_data",
];

/// Columns of JSON text, which are long and mostly unique.
const JSON_TEXT_COLUMNS: [&str; 3] = [
    "api_request_data",
    "api_response_data",
    "additional_event_data",
];

/// Writes a batch to `path` atomically, through `temp_dir`.
pub fn write_parquet_atomic(batch: &RecordBatch, path: &Path, temp_dir: &Path) -> Result<()> {
    let batches = std::iter::once(Ok(batch.clone()));
    let pending = write_pending(batch.schema(), batches, path, temp_dir)?;
    commit_files(vec![pending], temp_dir)
}

/// A Parquet file written under the store's temp folder, neither synced to
/// disk nor renamed into place yet. [`commit_files`] does both.
#[derive(Debug)]
pub struct PendingFile {
    temp: PathBuf,
    path: PathBuf,
}

impl PendingFile {
    /// Removes the written file, which is of no use once a write fails.
    /// One that cannot be removed is still ignored, because its name is
    /// hidden.
    pub fn discard(self) {
        let _ = fs::remove_file(&self.temp);
    }
}

/// Writes batches of `schema`, in order, to a file under `temp_dir` that
/// [`commit_files`] later moves to `path`.
pub fn write_pending(
    schema: SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch>>,
    path: &Path,
    temp_dir: &Path,
) -> Result<PendingFile> {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned());
    let pending = PendingFile {
        temp: temp_dir.join(format!(".{}.partial", name.unwrap_or_default())),
        path: path.to_owned(),
    };
    if let Err(error) = write_parquet(schema, batches, &pending.temp) {
        pending.discard();
        return Err(error);
    }
    Ok(pending)
}

/// Syncs `files` to disk, then renames each into place, so that a crash
/// leaves each either missing or whole. On failure, the files not yet in
/// place are removed.
///
/// Where the platform can sync a whole file system (Linux), several files
/// are synced by one such call. On ext4, syncing each file commits the
/// journal once per file, and with a file per partition that took more
/// time than encoding the files. The call also writes out what other
/// programs left pending on the same file system.
pub fn commit_files(files: Vec<PendingFile>, temp_dir: &Path) -> Result<()> {
    if let Err(error) = sync_files(&files, temp_dir) {
        files.into_iter().for_each(PendingFile::discard);
        return Err(error);
    }
    let mut files = files.into_iter();
    while let Some(file) = files.next() {
        if let Err(error) = move_into_place(&file) {
            file.discard();
            files.for_each(PendingFile::discard);
            return Err(error);
        }
    }
    Ok(())
}

fn move_into_place(file: &PendingFile) -> Result<()> {
    if let Some(parent) = file.path.parent() {
        fs::create_dir_all(parent).map_err(|e| StoreError::io("create", parent, e))?;
    }
    fs::rename(&file.temp, &file.path)
        .map_err(|e| StoreError::io("rename into place", &file.path, e))
}

#[cfg(target_os = "linux")]
fn sync_files(files: &[PendingFile], temp_dir: &Path) -> Result<()> {
    if files.len() > 1 {
        let folder = File::open(temp_dir).map_err(|e| StoreError::io("open", temp_dir, e))?;
        return rustix::fs::syncfs(&folder)
            .map_err(|e| StoreError::io("sync the file system of", temp_dir, e.into()));
    }
    sync_each(files)
}

#[cfg(not(target_os = "linux"))]
fn sync_files(files: &[PendingFile], _temp_dir: &Path) -> Result<()> {
    sync_each(files)
}

fn sync_each(files: &[PendingFile]) -> Result<()> {
    for file in files {
        File::open(&file.temp)
            .and_then(|opened| opened.sync_all())
            .map_err(|e| StoreError::io("sync", &file.temp, e))?;
    }
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
        if NO_STATISTICS_COLUMNS.contains(&name) {
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
    writer
        .into_inner()
        .map_err(|e| StoreError::parquet(path, e))?;
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

/// Returns each Parquet file under `dir`, at any depth, whose footer cannot
/// be read, with the reason. Hidden files and folders are skipped, as the
/// store's tables skip them.
pub fn unreadable_parquet_files(dir: &Path) -> Vec<(PathBuf, String)> {
    check_parquet_files(dir, read_footer)
}

/// Returns each Parquet file under `dir`, at any depth, whose footer or
/// data cannot be read, with the reason. Every file is read whole, so this
/// takes as long as reading the whole store.
pub fn damaged_parquet_files(dir: &Path) -> Vec<(PathBuf, String)> {
    check_parquet_files(dir, read_data)
}

/// Returns each Parquet file under `dir`, at any depth, that lacks a column
/// that `schema` requires: one that is not nullable. A query of the table
/// fails on such a file, for example a file of another table copied into
/// this one's folder.
pub fn files_missing_columns(dir: &Path, schema: &Schema) -> Vec<(PathBuf, String)> {
    check_parquet_files(dir, |path| {
        let file = File::open(path).map_err(|error| error.to_string())?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|error| error.to_string())?;
        let file_schema = builder.schema();
        let missing: Vec<&str> = schema
            .fields()
            .iter()
            .filter(|field| !field.is_nullable())
            .map(|field| field.name().as_str())
            .filter(|name| file_schema.field_with_name(name).is_err())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "lacks the columns {} that this table requires",
                missing.join(", ")
            ))
        }
    })
}

/// Returns each Parquet file under `dir`, at any depth, that `check`
/// rejects, with its reason, sorted by path. Hidden files and folders are
/// skipped, as the store's tables skip them.
fn check_parquet_files(
    dir: &Path,
    check: impl Fn(&Path) -> std::result::Result<(), String>,
) -> Vec<(PathBuf, String)> {
    let mut unreadable = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                folders.push(path);
            } else if name.ends_with(".parquet")
                && let Err(reason) = check(&path)
            {
                unreadable.push((path, reason));
            }
        }
    }
    unreadable.sort();
    unreadable
}

/// Reads a Parquet file's footer, and its page index when the footer lists
/// one, which queries read before any data. Returns why either cannot be
/// read.
fn read_footer(path: &Path) -> std::result::Result<(), String> {
    use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
    use datafusion::parquet::file::metadata::PageIndexPolicy;

    let open = || File::open(path).map_err(|error| error.to_string());
    let builder = ParquetRecordBatchReaderBuilder::try_new(open()?).map_err(|e| e.to_string())?;
    let has_page_index = builder.metadata().row_groups().iter().any(|group| {
        group
            .columns()
            .iter()
            .any(|chunk| chunk.offset_index_offset().is_some())
    });
    if has_page_index {
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        ParquetRecordBatchReaderBuilder::try_new_with_options(open()?, options)
            .map_err(|error| error.to_string())?;
    }
    Ok(())
}

/// Reads every row of a Parquet file and drops it, or returns why the file
/// cannot be read.
fn read_data(path: &Path) -> std::result::Result<(), String> {
    let file = File::open(path).map_err(|error| error.to_string())?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|builder| builder.build())
        .map_err(|error| error.to_string())?;
    for batch in reader {
        batch.map_err(|error| error.to_string())?;
    }
    Ok(())
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
        batches.push(batch.map_err(|e| StoreError::parquet(path, e.into()))?);
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
        batches.push(batch.map_err(|e| StoreError::parquet(path, e.into()))?);
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

    fn numbers() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]))
    }

    fn read_numbers(path: &Path) -> Vec<i64> {
        let file = File::open(path).unwrap();
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
        values
    }

    fn pending(path: &Path, temp_dir: &Path, values: Vec<i64>) -> PendingFile {
        let batches = std::iter::once(batch(&numbers(), values));
        write_pending(numbers(), batches, path, temp_dir).unwrap()
    }

    fn entries(dir: &Path) -> Vec<PathBuf> {
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        entries.sort();
        entries
    }

    #[test]
    fn batches_go_to_one_file_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/n.parquet");
        let batches = vec![batch(&numbers(), vec![1, 2]), batch(&numbers(), vec![3])];
        let file = write_pending(numbers(), batches.into_iter(), &path, dir.path()).unwrap();
        assert!(!path.exists(), "a pending file is not in place yet");

        commit_files(vec![file], dir.path()).unwrap();

        assert_eq!(read_numbers(&path), [1, 2, 3]);
    }

    #[test]
    fn failed_batch_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.parquet");
        let failed = Err(StoreError::Invalid("no more rows".to_owned()));
        let batches = vec![batch(&numbers(), vec![1]), failed];

        let error = write_pending(numbers(), batches.into_iter(), &path, dir.path());

        assert!(error.unwrap_err().to_string().contains("no more rows"));
        assert_eq!(entries(dir.path()), Vec::<PathBuf>::new());
    }

    #[test]
    fn committed_files_all_go_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let temp = dir.path().join(".tmp");
        fs::create_dir(&temp).unwrap();
        let paths: Vec<PathBuf> = (0..3)
            .map(|n| dir.path().join(format!("day={n}/part-{n}.parquet")))
            .collect();
        let files = (0..3).map(|n| pending(&paths[n], &temp, vec![n as i64; n + 1]));

        commit_files(files.collect(), &temp).unwrap();

        for (n, path) in paths.iter().enumerate() {
            assert_eq!(read_numbers(path), vec![n as i64; n + 1]);
        }
        assert_eq!(entries(&temp), Vec::<PathBuf>::new());
    }

    #[test]
    fn failed_commit_removes_pending_files() {
        let dir = tempfile::tempdir().unwrap();
        let temp = dir.path().join(".tmp");
        fs::create_dir(&temp).unwrap();
        // A file where a partition folder should be makes the second file's
        // folder impossible to create.
        let blocked = dir.path().join("day=2");
        fs::write(&blocked, "not a folder").unwrap();
        let first = dir.path().join("day=1/part-1.parquet");
        let third = dir.path().join("day=3/part-3.parquet");
        let files = vec![
            pending(&first, &temp, vec![1]),
            pending(&blocked.join("part-2.parquet"), &temp, vec![2]),
            pending(&third, &temp, vec![3]),
        ];

        let error = commit_files(files, &temp).unwrap_err();

        assert!(error.to_string().contains("day=2"), "{error}");
        assert_eq!(read_numbers(&first), [1], "a file moved in place is whole");
        assert!(!third.exists());
        assert_eq!(entries(&temp), Vec::<PathBuf>::new());
    }
}
