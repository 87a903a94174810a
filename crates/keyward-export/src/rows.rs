//! Findings as flat rows: a JSON array, JSON Lines and CSV.
//!
//! A row has every column of the `findings` table, then the rule's risk,
//! remediation and references. JSON keeps the evidence as a nested JSON
//! value; CSV writes it, and the list of references, as JSON text.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use keyward_store::findings::FindingRecord;
use serde::Serialize;

use crate::{Encoder, Export, Result, rule_of};

/// Column names of the CSV header, in row order.
pub const COLUMNS: [&str; 21] = [
    "run_id",
    "checked_at",
    "scan_id",
    "rule_id",
    "title",
    "severity",
    "verdict",
    "resource_type",
    "resource_arn",
    "account_id",
    "region",
    "cause",
    "evidence",
    "monthly_cost_usd",
    "suppressed_by",
    "workflow",
    "first_seen",
    "risk",
    "remediation",
    "remediation_cli",
    "references",
];

/// One finding with its rule's guidance.
#[derive(Debug, Serialize)]
pub struct Row<'a> {
    run_id: &'a str,
    checked_at: String,
    scan_id: &'a str,
    rule_id: &'a str,
    title: &'a str,
    severity: &'a str,
    verdict: &'a str,
    resource_type: &'a str,
    resource_arn: &'a str,
    account_id: &'a str,
    region: &'a str,
    cause: &'a str,
    evidence: serde_json::Value,
    monthly_cost_usd: Option<f64>,
    suppressed_by: Option<&'a str>,
    workflow: &'a str,
    first_seen: Option<String>,
    risk: Option<&'static str>,
    remediation: Option<&'static str>,
    remediation_cli: Option<&'static str>,
    references: Vec<&'static str>,
}

impl<'a> Row<'a> {
    /// Builds the row of a finding. Evidence that is not valid JSON is
    /// kept as a JSON string.
    pub fn of(finding: &'a FindingRecord) -> Self {
        let rule = rule_of(finding);
        let evidence = serde_json::from_str(&finding.evidence)
            .unwrap_or_else(|_| serde_json::Value::String(finding.evidence.clone()));
        Self {
            run_id: &finding.run_id,
            checked_at: micros(finding.checked_at),
            scan_id: &finding.scan_id,
            rule_id: &finding.rule_id,
            title: &finding.title,
            severity: &finding.severity,
            verdict: &finding.verdict,
            resource_type: &finding.resource_type,
            resource_arn: &finding.resource_arn,
            account_id: &finding.account_id,
            region: &finding.region,
            cause: &finding.cause,
            evidence,
            monthly_cost_usd: finding.monthly_cost_usd,
            suppressed_by: finding.suppressed_by.as_deref(),
            workflow: &finding.workflow,
            first_seen: finding.first_seen.map(micros),
            risk: rule.map(|rule| rule.risk),
            remediation: rule.map(|rule| rule.remediation),
            remediation_cli: rule.map(|rule| rule.remediation_cli),
            references: rule
                .map(|rule| rule.references.to_vec())
                .unwrap_or_default(),
        }
    }

    /// Returns the CSV cells, in the order of [`COLUMNS`].
    fn cells(&self) -> Vec<String> {
        let optional = |text: Option<&str>| text.unwrap_or_default().to_owned();
        vec![
            self.run_id.to_owned(),
            self.checked_at.clone(),
            self.scan_id.to_owned(),
            self.rule_id.to_owned(),
            self.title.to_owned(),
            self.severity.to_owned(),
            self.verdict.to_owned(),
            self.resource_type.to_owned(),
            self.resource_arn.to_owned(),
            self.account_id.to_owned(),
            self.region.to_owned(),
            self.cause.to_owned(),
            self.evidence.to_string(),
            self.monthly_cost_usd
                .map(|cost| cost.to_string())
                .unwrap_or_default(),
            optional(self.suppressed_by),
            self.workflow.to_owned(),
            optional(self.first_seen.as_deref()),
            optional(self.risk),
            optional(self.remediation),
            optional(self.remediation_cli),
            serde_json::Value::from(self.references.clone()).to_string(),
        ]
    }
}

fn micros(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A JSON array of rows, indented.
pub struct JsonArray;

/// One JSON row per line.
pub struct JsonLines;

/// CSV with a header row.
///
/// A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
/// gets a leading `'`, so that a spreadsheet shows a resource description
/// such as `=HYPERLINK(...)` as text instead of running it as a formula.
pub struct Csv;

impl Encoder for JsonArray {
    fn encode(&self, export: &Export<'_>, out: &mut dyn Write) -> Result<()> {
        let rows: Vec<Row<'_>> = export.findings.iter().map(Row::of).collect();
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        writeln!(out)?;
        Ok(())
    }
}

impl Encoder for JsonLines {
    fn encode(&self, export: &Export<'_>, out: &mut dyn Write) -> Result<()> {
        for finding in export.findings {
            serde_json::to_writer(&mut *out, &Row::of(finding))?;
            writeln!(out)?;
        }
        Ok(())
    }
}

impl Encoder for Csv {
    fn encode(&self, export: &Export<'_>, out: &mut dyn Write) -> Result<()> {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(COLUMNS)?;
        for finding in export.findings {
            let cells = Row::of(finding).cells();
            writer.write_record(cells.iter().map(|cell| neutralize_formula(cell)))?;
        }
        writer.flush()?;
        Ok(())
    }
}

/// Prefixes a cell that a spreadsheet would read as a formula with `'`.
fn neutralize_formula(cell: &str) -> String {
    let start = cell.trim_start_matches(|c: char| {
        c.is_whitespace() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}' | '\u{feff}')
    });
    if cell.starts_with(['\t', '\r']) || start.starts_with(['=', '+', '-', '@']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{findings, inventory, new_failure};

    fn render(encoder: &dyn Encoder, findings: &[FindingRecord]) -> String {
        let inventory = inventory();
        let export = Export {
            findings,
            inventory: &inventory,
            keyward_version: "0.1.0",
        };
        let mut out = Vec::new();
        encoder.encode(&export, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_array_nests_evidence_and_adds_guidance() {
        let text = render(&JsonArray, &findings());
        let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(rows.len(), 6);
        let first = &rows[0];
        assert_eq!(first["rule_id"], "kms-key-rotation");
        assert_eq!(first["evidence"]["rotation_enabled"], false);
        assert_eq!(first["checked_at"], "2026-05-28T20:26:40.000000Z");
        assert_eq!(first["first_seen"], first["checked_at"]);
        assert!(first["risk"].as_str().unwrap().contains("rotates"));
        assert!(
            first["remediation_cli"]
                .as_str()
                .unwrap()
                .starts_with("aws kms enable-key-rotation")
        );
        assert!(
            first["references"][0]
                .as_str()
                .unwrap()
                .starts_with("https://")
        );
        assert_eq!(rows[1]["monthly_cost_usd"], 0.4);
        assert!(rows[0]["monthly_cost_usd"].is_null());
    }

    #[test]
    fn json_lines_has_every_column() {
        let text = render(&JsonLines, &findings());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6);
        for line in lines {
            let row: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(line).unwrap();
            assert_eq!(row.len(), COLUMNS.len());
            for column in COLUMNS {
                assert!(row.contains_key(column), "{column} missing");
            }
        }
    }

    #[test]
    fn invalid_evidence_is_kept_as_text() {
        let finding = FindingRecord {
            evidence: "not json".into(),
            ..new_failure()
        };
        let text = render(&JsonLines, &[finding]);
        let row: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(row["evidence"], "not json");
    }

    #[test]
    fn csv_has_header_and_rows() {
        let text = render(&Csv, &findings());
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(header, COLUMNS);
        let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), 6);
        let evidence: serde_json::Value = serde_json::from_str(&records[0][12]).unwrap();
        assert_eq!(evidence["source"], "DescribeKey");
        let references: Vec<String> = serde_json::from_str(&records[0][20]).unwrap();
        assert!(!references.is_empty());
        assert_eq!(&records[1][13], "0.4");
        assert_eq!(&records[0][13], "");
    }

    #[test]
    fn csv_of_no_findings_is_the_header() {
        let text = render(&Csv, &[]);
        assert_eq!(text.trim_end(), COLUMNS.join(","));
    }

    #[test]
    fn csv_cells_never_start_a_formula() {
        let finding = FindingRecord {
            cause: "\u{feff}=HYPERLINK(\"http://example.invalid\",\"x\")".into(),
            suppressed_by: Some(" @SUM(1)".into()),
            ..new_failure()
        };
        let text = render(&Csv, &[finding]);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(
            &record[11],
            "'\u{feff}=HYPERLINK(\"http://example.invalid\",\"x\")"
        );
        assert_eq!(&record[14], "' @SUM(1)");
    }
}
