//! The findings of `keyward check` in the formats that other tools read.
//! They are JSON, JSON Lines and CSV rows, SARIF 2.1.0, and the AWS
//! Security Finding Format (ASFF) for Security Hub. OCSF 1.1.0 Compliance
//! Findings come as JSON Lines or as Parquet in the Amazon Security Lake
//! layout. [`cyclonedx`] writes the inventory itself as a CycloneDX
//! cryptographic bill of materials.
//!
//! Every format is a pure function of an [`Export`]: the findings of one
//! run, the rule catalog and the inventory records that the findings name.
//! The text formats implement [`Encoder`], so the command writes each of
//! them the same way. [`security_hub`] sends ASFF findings to Security Hub.
//!
//! Values read from AWS (names, descriptions, tags, policies) are copied as
//! data into JSON strings, CSV cells and Parquet columns. No format
//! evaluates or renders them, and no secret value is ever part of a
//! finding: the scanner never reads one.

#![deny(missing_docs)]

pub mod asff;
pub mod cyclonedx;
mod error;
mod inventory;
pub mod ocsf;
pub mod ocsf_schema;
pub mod rows;
pub mod sarif;
pub mod security_hub;
pub mod security_lake;
mod text;

use std::io::Write;

use chrono::{DateTime, Utc};
use keyward_rules::Rule;
use keyward_store::findings::FindingRecord;

pub use error::ExportError;
pub use inventory::{Inventory, InventoryResource};
pub use text::{finding_hash, truncate_chars};

/// Result of the export functions.
pub type Result<T> = std::result::Result<T, ExportError>;

/// Choice of the findings of a run to export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Selection {
    /// Failures and unknowns, and the passes that resolve a failure of the
    /// previous run, so that consumers can close them.
    #[default]
    Actionable,
    /// Every finding, passes included.
    All,
}

impl Selection {
    /// Reports whether a finding belongs to the selection.
    pub fn includes(self, finding: &FindingRecord) -> bool {
        match self {
            Self::All => true,
            Self::Actionable => finding.verdict != "PASS" || finding.workflow == "RESOLVED",
        }
    }
}

/// Returns the findings that a selection keeps, in their stored order.
pub fn select(findings: &[FindingRecord], selection: Selection) -> Vec<FindingRecord> {
    findings
        .iter()
        .filter(|finding| selection.includes(finding))
        .cloned()
        .collect()
}

/// Everything that the formats read: the findings of one run, the
/// inventory of the scan that they judged, and the version of keyward.
#[derive(Clone, Copy, Debug)]
pub struct Export<'a> {
    /// Findings to write, in output order.
    pub findings: &'a [FindingRecord],
    /// Inventory records by ARN, for resource details.
    pub inventory: &'a Inventory,
    /// Version of keyward that writes the export.
    pub keyward_version: &'a str,
}

impl Export<'_> {
    /// Time of the run, which every finding shares; the Unix epoch when
    /// there is no finding.
    pub fn checked_at(&self) -> DateTime<Utc> {
        self.findings
            .first()
            .map(|finding| finding.checked_at)
            .unwrap_or_default()
    }
}

/// A text format that writes every finding of an export to a stream.
pub trait Encoder {
    /// Writes the findings of `export` to `out`.
    fn encode(&self, export: &Export<'_>, out: &mut dyn Write) -> Result<()>;
}

/// Returns the catalog entry of a finding's rule, or `None` for a rule
/// that this build of keyward no longer has.
pub fn rule_of(finding: &FindingRecord) -> Option<&'static Rule> {
    keyward_rules::rule(&finding.rule_id)
}

/// Returns the references of a rule that are web addresses.
pub fn reference_urls(rule: &Rule) -> Vec<&'static str> {
    rule.references
        .iter()
        .copied()
        .filter(|reference| reference.starts_with("https://"))
        .collect()
}

/// State of a finding for the tools that track findings over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workflow {
    /// A failure or an unknown that needs attention.
    New,
    /// A failure or an unknown under an exception of the configuration.
    Suppressed,
    /// A pass: the resource meets the rule.
    Resolved,
}

impl Workflow {
    /// Returns the workflow state of a finding.
    pub fn of(finding: &FindingRecord) -> Self {
        if finding.verdict == "PASS" {
            Self::Resolved
        } else if finding.suppressed_by.is_some() {
            Self::Suppressed
        } else {
            Self::New
        }
    }

    /// Name in ASFF, which OCSF and SARIF consumers also recognize.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::Suppressed => "SUPPRESSED",
            Self::Resolved => "RESOLVED",
        }
    }
}

/// Reports whether a finding closes a failure of the previous run.
pub fn is_resolved(finding: &FindingRecord) -> bool {
    finding.verdict == "PASS" && finding.workflow == "RESOLVED"
}

/// Reports whether a finding failed for the first time in its run.
pub fn is_new_failure(finding: &FindingRecord) -> bool {
    finding.verdict == "FAIL" && finding.first_seen == Some(finding.checked_at)
}

/// Returns the partition of an ARN, such as `aws` or `aws-cn`; `aws` for
/// an identifier that is not an ARN.
pub fn partition_of(arn: &str) -> &str {
    let mut parts = arn.split(':');
    match (parts.next(), parts.next()) {
        (Some("arn"), Some(partition)) if !partition.is_empty() => partition,
        _ => "aws",
    }
}

/// Reports whether a finding names a resource by ARN. UNKNOWN findings for
/// a service that the scan could not read name `ACCOUNT/REGION/SERVICE`.
pub fn names_an_arn(finding: &FindingRecord) -> bool {
    finding.resource_arn.starts_with("arn:")
}

/// Region of a finding, or `fallback` for a finding that covers a whole
/// account, such as a role that could not be assumed.
pub fn region_or<'a>(finding: &'a FindingRecord, fallback: &'a str) -> &'a str {
    if finding.region.is_empty() {
        fallback
    } else {
        &finding.region
    }
}

/// Region for findings without one when the caller names none.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Formats a time as RFC 3339 UTC with milliseconds, as ASFF and SARIF
/// write times.
pub fn rfc3339_millis(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
pub(crate) mod tests;
