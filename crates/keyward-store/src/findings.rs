//! The results of `keyward check`: one row per rule and resource per run.
//!
//! Each run writes `findings/RUN_ID.parquet`, then `checks/RUN_ID.parquet`,
//! which makes the run visible. `docs/columns.md` describes the columns.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::error::{Result, StoreError};
use crate::files::write_parquet_atomic;
use crate::inventory::{arrow_error, fields_of, read_table};

/// One run of `keyward check`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// Identifier of the run, which sorts by time.
    pub run_id: String,
    /// When the run evaluated the rules.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub checked_at: DateTime<Utc>,
    /// Scan whose inventory was judged.
    pub scan_id: String,
    /// Findings written.
    pub findings: u32,
    /// Failing findings that no exception suppresses.
    pub failures: u32,
    /// Version of keyward that ran the check.
    pub keyward_version: String,
}

/// One rule's verdict on one resource in one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FindingRecord {
    /// Run.
    pub run_id: String,
    /// When the run evaluated the rules.
    #[serde(with = "chrono::serde::ts_microseconds")]
    pub checked_at: DateTime<Utc>,
    /// Scan whose inventory was judged.
    pub scan_id: String,
    /// Rule id.
    pub rule_id: String,
    /// Rule title.
    pub title: String,
    /// `INFORMATIONAL`, `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub severity: String,
    /// `PASS`, `FAIL` or `UNKNOWN`.
    pub verdict: String,
    /// `KmsKey`, `Certificate` or `Secret`.
    pub resource_type: String,
    /// ARN, or `ACCOUNT/REGION/SERVICE` for a service that was not read.
    pub resource_arn: String,
    /// Account.
    pub account_id: String,
    /// Region.
    pub region: String,
    /// Reason for the verdict.
    pub cause: String,
    /// Facts behind the verdict, as JSON text.
    pub evidence: String,
    /// Monthly cost that removing the resource would save, in USD.
    pub monthly_cost_usd: Option<f64>,
    /// Exception that suppresses the finding.
    pub suppressed_by: Option<String>,
    /// `NEW` for a failure, `RESOLVED` for a pass that failed in the
    /// previous run, `SUPPRESSED` for a failure under an exception, and
    /// empty otherwise.
    pub workflow: String,
    /// First run in which the resource failed the rule without a pass
    /// since.
    #[serde(with = "chrono::serde::ts_microseconds_option")]
    pub first_seen: Option<DateTime<Utc>>,
}

impl Store {
    /// Folder of the findings of every run.
    pub fn findings_dir(&self) -> PathBuf {
        self.root().join("findings")
    }

    /// Folder of the runs of `keyward check`.
    pub fn checks_dir(&self) -> PathBuf {
        self.root().join("checks")
    }

    /// Writes a run's findings, then its run row. The caller holds the
    /// store lock.
    pub fn write_check(&self, check: &CheckRecord, findings: &[FindingRecord]) -> Result<()> {
        let temp = self.temp_dir();
        std::fs::create_dir_all(&temp).map_err(|e| StoreError::io("create", &temp, e))?;
        let file_name = format!("{}.parquet", check.run_id);
        let batch = serde_arrow::to_record_batch(&fields_of::<FindingRecord>()?, &findings)
            .map_err(arrow_error)?;
        let directory = self.findings_dir();
        std::fs::create_dir_all(&directory).map_err(|e| StoreError::io("create", &directory, e))?;
        write_parquet_atomic(&batch, &directory.join(&file_name), &temp)?;
        let batch = serde_arrow::to_record_batch(
            &fields_of::<CheckRecord>()?,
            &std::slice::from_ref(check),
        )
        .map_err(arrow_error)?;
        let directory = self.checks_dir();
        std::fs::create_dir_all(&directory).map_err(|e| StoreError::io("create", &directory, e))?;
        write_parquet_atomic(&batch, &directory.join(&file_name), &temp)
    }

    /// Returns the runs of `keyward check` whose findings are complete,
    /// oldest first.
    pub fn checks(&self) -> Result<Vec<CheckRecord>> {
        let mut checks: Vec<CheckRecord> = read_table(&self.checks_dir())?;
        checks.sort_by(|a, b| {
            a.checked_at
                .cmp(&b.checked_at)
                .then(a.run_id.cmp(&b.run_id))
        });
        Ok(checks)
    }

    /// Returns the findings of one finished run.
    pub fn findings(&self, run_id: &str) -> Result<Vec<FindingRecord>> {
        let path = self.findings_dir().join(format!("{run_id}.parquet"));
        if !path.exists() {
            return Ok(Vec::new());
        }
        crate::inventory::from_batches(&crate::files::read_all_columns(&path)?)
    }

    /// Arrow fields of the findings table.
    pub fn finding_fields() -> Result<Vec<datafusion::arrow::datatypes::FieldRef>> {
        fields_of::<FindingRecord>()
    }

    /// Arrow fields of the checks table.
    pub fn check_fields() -> Result<Vec<datafusion::arrow::datatypes::FieldRef>> {
        fields_of::<CheckRecord>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_round_trips() {
        let directory = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(directory.path()).unwrap();
        let checked_at = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let check = CheckRecord {
            run_id: "r1".into(),
            checked_at,
            scan_id: "s1".into(),
            findings: 1,
            failures: 1,
            keyward_version: "0.1.0".into(),
        };
        let finding = FindingRecord {
            run_id: "r1".into(),
            checked_at,
            scan_id: "s1".into(),
            rule_id: "kms-key-unused".into(),
            severity: "MEDIUM".into(),
            verdict: "FAIL".into(),
            monthly_cost_usd: Some(1.0),
            workflow: "NEW".into(),
            first_seen: Some(checked_at),
            ..FindingRecord::default()
        };
        store
            .write_check(&check, std::slice::from_ref(&finding))
            .unwrap();
        assert_eq!(store.checks().unwrap(), [check]);
        assert_eq!(store.findings("r1").unwrap(), [finding]);
        assert!(store.findings("r2").unwrap().is_empty());
    }
}
