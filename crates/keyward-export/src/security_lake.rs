//! OCSF events as Parquet in the layout of an Amazon Security Lake custom
//! source: `DIR/ext/keyward/region=REGION/accountId=ACCOUNT/eventDay=YYYYMMDD/`.
//!
//! Every file of one export has the same Arrow schema, traced from all of
//! its events. The free-form attributes `unmapped` and `resource.data` are
//! stored as JSON text, because their members differ between resource
//! types. Partition values are escaped as Hive escapes them, so that no
//! value read from AWS can change the folder structure.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::{DataType, Field, FieldRef};
use keyward_store::escape_value;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_arrow::schema::{SchemaLike, TracingOptions};
use serde_json::Value;

use crate::{DEFAULT_REGION, Export, ExportError, Result, ocsf, region_or};

/// Name of the custom source, the folder under `ext/`.
pub const SOURCE_NAME: &str = "keyward";

/// Writes the events of an export under `root` and returns the files
/// written. `region` is the partition of findings without a Region, such
/// as a whole account that could not be read; [`DEFAULT_REGION`] when
/// `None`. An export without findings writes no file.
pub fn write(export: &Export<'_>, root: &Path, region: Option<&str>) -> Result<Vec<PathBuf>> {
    if export.findings.is_empty() {
        return Ok(Vec::new());
    }
    let fallback = region.unwrap_or(DEFAULT_REGION);
    let mut partitions: BTreeMap<PathBuf, Vec<Value>> = BTreeMap::new();
    for finding in export.findings {
        let event = ocsf::event(finding, export.inventory, export.keyward_version);
        let folder = root
            .join("ext")
            .join(SOURCE_NAME)
            .join(format!(
                "region={}",
                escape_value(Some(region_or(finding, fallback)))
            ))
            .join(format!(
                "accountId={}",
                escape_value(Some(&finding.account_id))
            ))
            .join(format!("eventDay={}", finding.checked_at.format("%Y%m%d")));
        partitions.entry(folder).or_default().push(flatten(event));
    }
    let all: Vec<&Value> = partitions.values().flatten().collect();
    let fields = trace(&all)?;
    let file_name = format!("{}.parquet", escape_value(Some(&export.findings[0].run_id)));
    let mut written = Vec::new();
    for (folder, rows) in &partitions {
        fs::create_dir_all(folder).map_err(|e| ExportError::file("create", folder, e))?;
        let path = folder.join(&file_name);
        write_file(&fields, rows, &path, export.keyward_version)?;
        written.push(path);
    }
    Ok(written)
}

/// Replaces the free-form attributes with their JSON text.
fn flatten(mut event: Value) -> Value {
    if let Some(unmapped) = event.get_mut("unmapped") {
        *unmapped = Value::String(unmapped.to_string());
    }
    if let Some(data) = event["resource"].get_mut("data") {
        *data = Value::String(data.to_string());
    }
    event
}

/// Traces the Arrow fields of the events. An attribute that is null in
/// every event is stored as nullable text.
fn trace(rows: &[&Value]) -> Result<Vec<FieldRef>> {
    let options = TracingOptions::default()
        .allow_null_fields(true)
        .map_as_struct(true);
    let fields = Vec::<FieldRef>::from_samples(rows, options).map_err(parquet_error)?;
    Ok(fields
        .into_iter()
        .map(|field| nulls_as_text(&field))
        .collect())
}

fn nulls_as_text(field: &FieldRef) -> FieldRef {
    let data_type = match field.data_type() {
        DataType::Null => DataType::Utf8,
        DataType::Struct(children) => {
            DataType::Struct(children.iter().map(nulls_as_text).collect())
        }
        DataType::List(item) => DataType::List(nulls_as_text(item)),
        DataType::LargeList(item) => DataType::LargeList(nulls_as_text(item)),
        other => other.clone(),
    };
    Arc::new(Field::new(field.name(), data_type, true))
}

/// Writes one file through a hidden partial file that is renamed into
/// place, so that readers never see half a file.
fn write_file(fields: &[FieldRef], rows: &[Value], path: &Path, version: &str) -> Result<()> {
    let batch = serde_arrow::to_record_batch(fields, &rows).map_err(parquet_error)?;
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = path.with_file_name(format!(".{name}.partial"));
    let file = File::create(&partial).map_err(|e| ExportError::file("create", &partial, e))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("keyward {version}"))
        .build();
    let mut writer =
        ArrowWriter::try_new(file, batch.schema(), Some(properties)).map_err(parquet_error)?;
    writer.write(&batch).map_err(parquet_error)?;
    let file = writer.into_inner().map_err(parquet_error)?;
    file.sync_all()
        .map_err(|e| ExportError::file("write", &partial, e))?;
    fs::rename(&partial, path).map_err(|e| ExportError::file("write", path, e))?;
    Ok(())
}

fn parquet_error(error: impl std::fmt::Display) -> ExportError {
    ExportError::Parquet(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{coverage_gap, findings, inventory};
    use keyward_store::findings::FindingRecord;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn write_findings(findings: &[FindingRecord], root: &Path) -> Vec<PathBuf> {
        let inventory = inventory();
        let export = Export {
            findings,
            inventory: &inventory,
            keyward_version: "0.1.0",
        };
        write(&export, root, None).unwrap()
    }

    #[test]
    fn files_follow_the_security_lake_layout() {
        let directory = tempfile::tempdir().unwrap();
        let files = write_findings(&findings(), directory.path());
        let relative: Vec<String> = files
            .iter()
            .map(|path| {
                path.strip_prefix(directory.path())
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            relative,
            [
                "ext/keyward/region=eu-west-1/accountId=111122223333/eventDay=20260528/20260528T201320.000000Z-1f.parquet",
                "ext/keyward/region=us-east-2/accountId=111122223333/eventDay=20260528/20260528T201320.000000Z-1f.parquet",
            ]
        );
        let mut rows = 0;
        for file in &files {
            let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(file).unwrap())
                .unwrap()
                .build()
                .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                rows += batch.num_rows();
                let schema = batch.schema();
                for column in [
                    "class_uid",
                    "finding_info",
                    "compliance",
                    "resource",
                    "unmapped",
                ] {
                    assert!(schema.field_with_name(column).is_ok(), "{column} missing");
                }
            }
        }
        assert_eq!(rows, 6);
    }

    #[test]
    fn partition_values_cannot_leave_the_folder() {
        let directory = tempfile::tempdir().unwrap();
        let finding = FindingRecord {
            account_id: "../../etc".into(),
            region: String::new(),
            ..coverage_gap()
        };
        let files = write_findings(&[finding], directory.path());
        let path = files[0].strip_prefix(directory.path()).unwrap();
        assert!(
            path.starts_with("ext/keyward/region=us-east-1/accountId=..%2F..%2Fetc"),
            "{}",
            path.display()
        );
    }

    #[test]
    fn no_findings_write_no_file() {
        let directory = tempfile::tempdir().unwrap();
        assert!(write_findings(&[], directory.path()).is_empty());
        assert!(!directory.path().join("ext").exists());
    }
}
