//! Findings as OCSF 1.1.0 Compliance Finding events (class 2003 of the
//! Findings category), one JSON object per line.
//!
//! OCSF 1.1.0 gives a Compliance Finding one `resource` object; the
//! `resources` array of later OCSF versions does not exist in this class
//! yet. The account of the resource is `resource.owner.account` and, for
//! the whole event, `cloud.account`. Free-form values (the evidence and the
//! inventory details) go to `unmapped` and `resource.data`.

use std::io::Write;

use keyward_store::findings::FindingRecord;
use serde_json::{Value, json};

use crate::asff::{FINDING_TYPE, details};
use crate::{
    Encoder, Export, Inventory, Result, Workflow, finding_hash, is_new_failure, is_resolved,
    names_an_arn, partition_of, reference_urls, rule_of,
};

/// OCSF version of the events.
pub const VERSION: &str = "1.1.0";
/// `category_uid` of the Findings category.
pub const CATEGORY_UID: u32 = 2;
/// `class_uid` of Compliance Finding.
pub const CLASS_UID: u32 = 2003;

/// Finding activity: what happened to the finding in this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    /// A failure seen for the first time.
    Create = 1,
    /// A finding that earlier runs reported too, or may have.
    Update = 2,
    /// A failure of the previous run that now passes.
    Close = 3,
}

impl Activity {
    /// Returns the activity of a finding.
    pub fn of(finding: &FindingRecord) -> Self {
        if is_resolved(finding) {
            Self::Close
        } else if is_new_failure(finding) {
            Self::Create
        } else {
            Self::Update
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Create => "Create",
            Self::Update => "Update",
            Self::Close => "Close",
        }
    }
}

/// OCSF events as JSON Lines.
pub struct OcsfLines;

impl Encoder for OcsfLines {
    fn encode(&self, export: &Export<'_>, out: &mut dyn Write) -> Result<()> {
        for event in events(export) {
            serde_json::to_writer(&mut *out, &event)?;
            writeln!(out)?;
        }
        Ok(())
    }
}

/// Converts every finding of an export.
pub fn events(export: &Export<'_>) -> Vec<Value> {
    export
        .findings
        .iter()
        .map(|finding| event(finding, export.inventory, export.keyward_version))
        .collect()
}

/// Converts one finding to a Compliance Finding event.
pub fn event(finding: &FindingRecord, inventory: &Inventory, keyward_version: &str) -> Value {
    let activity = Activity::of(finding);
    let (severity_id, severity) = severity(finding);
    let (status_id, status) = match Workflow::of(finding) {
        Workflow::New => (1, "New"),
        Workflow::Suppressed => (3, "Suppressed"),
        Workflow::Resolved => (4, "Resolved"),
    };
    let mut event = json!({
        "activity_id": activity as u32,
        "activity_name": activity.name(),
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Compliance Finding",
        "type_uid": CLASS_UID * 100 + activity as u32,
        "type_name": format!("Compliance Finding: {}", activity.name()),
        "time": finding.checked_at.timestamp_millis(),
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "message": finding.cause,
        "metadata": metadata(finding, keyward_version),
        "cloud": cloud(finding),
        "finding_info": finding_info(finding),
        "compliance": compliance(finding),
        "resource": resource(finding, inventory),
        "unmapped": unmapped(finding),
    });
    if let Some(remediation) = remediation(finding) {
        event["remediation"] = remediation;
    }
    event
}

/// Returns the severity id and caption: Informational for a pass, as in
/// ASFF, and the rule's severity otherwise.
fn severity(finding: &FindingRecord) -> (u32, &'static str) {
    if finding.verdict == "PASS" {
        return (1, "Informational");
    }
    match finding.severity.as_str() {
        "INFORMATIONAL" => (1, "Informational"),
        "LOW" => (2, "Low"),
        "MEDIUM" => (3, "Medium"),
        "HIGH" => (4, "High"),
        "CRITICAL" => (5, "Critical"),
        _ => (0, "Unknown"),
    }
}

fn metadata(finding: &FindingRecord, keyward_version: &str) -> Value {
    json!({
        "version": VERSION,
        "product": {
            "name": "keyward",
            "vendor_name": "keyward",
            "version": keyward_version,
        },
        "profiles": ["cloud"],
        "uid": format!("{}/{}", finding.run_id, finding_hash(&finding.rule_id, &finding.resource_arn)),
        "log_name": "findings",
    })
}

fn cloud(finding: &FindingRecord) -> Value {
    let mut cloud = json!({
        "provider": "AWS",
        "account": account(&finding.account_id),
    });
    if !finding.region.is_empty() {
        cloud["region"] = json!(finding.region);
    }
    cloud
}

fn account(account_id: &str) -> Value {
    json!({ "uid": account_id, "type_id": 10, "type": "AWS Account" })
}

fn finding_info(finding: &FindingRecord) -> Value {
    let first_seen = finding.first_seen.unwrap_or(finding.checked_at);
    let mut info = json!({
        "uid": crate::asff::finding_id(finding),
        "title": finding.title,
        "types": [FINDING_TYPE],
        "first_seen_time": first_seen.timestamp_millis(),
        "last_seen_time": finding.checked_at.timestamp_millis(),
        "created_time": first_seen.timestamp_millis(),
        "modified_time": finding.checked_at.timestamp_millis(),
    });
    if let Some(rule) = rule_of(finding) {
        info["desc"] = json!(rule.risk);
        if let Some(url) = reference_urls(rule).first() {
            info["src_url"] = json!(url);
        }
    }
    info
}

fn compliance(finding: &FindingRecord) -> Value {
    let (status_id, status) = match finding.verdict.as_str() {
        "PASS" => (1, "Pass"),
        "FAIL" => (3, "Fail"),
        _ => (2, "Warning"),
    };
    json!({
        "control": finding.rule_id,
        "standards": ["keyward"],
        "status_id": status_id,
        "status": status,
        "status_code": finding.verdict,
        "status_detail": finding.cause,
    })
}

fn remediation(finding: &FindingRecord) -> Option<Value> {
    let rule = rule_of(finding)?;
    Some(json!({
        "desc": format!("{} AWS CLI: {}", rule.remediation, rule.remediation_cli),
        "references": reference_urls(rule),
    }))
}

fn resource(finding: &FindingRecord, inventory: &Inventory) -> Value {
    let resource_type = if names_an_arn(finding) {
        crate::asff::asff_type(&finding.resource_type, &finding.resource_arn)
    } else {
        "Other"
    };
    let mut resource = json!({
        "uid": finding.resource_arn,
        "type": resource_type,
        "cloud_partition": partition_of(&finding.resource_arn),
        "owner": { "account": account(&finding.account_id) },
    });
    if !finding.region.is_empty() {
        resource["region"] = json!(finding.region);
    }
    if let Some(record) = inventory.get(&finding.resource_arn) {
        if let Some(name) = record.name() {
            resource["name"] = json!(name);
        }
        let labels: Vec<String> = record
            .tags()
            .iter()
            .map(|tag| format!("{}={}", tag.key, tag.value))
            .collect();
        if !labels.is_empty() {
            resource["labels"] = json!(labels);
        }
        resource["data"] = serde_json::to_value(details(record)).unwrap_or(Value::Null);
    }
    resource
}

fn unmapped(finding: &FindingRecord) -> Value {
    let evidence = serde_json::from_str(&finding.evidence)
        .unwrap_or_else(|_| Value::String(finding.evidence.clone()));
    json!({
        "run_id": finding.run_id,
        "scan_id": finding.scan_id,
        "verdict": finding.verdict,
        "workflow": finding.workflow,
        "evidence": evidence,
        "monthly_cost_usd": finding.monthly_cost_usd,
        "suppressed_by": finding.suppressed_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocsf_schema::Schema;
    use crate::tests::{KEY_ARN, coverage_gap, findings, inventory, new_failure, resolved};

    fn schema() -> Schema {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/ocsf/schema-1.1.0");
        Schema::load(&root).unwrap()
    }

    fn event_of(finding: &FindingRecord) -> Value {
        event(finding, &inventory(), "0.1.0")
    }

    #[test]
    fn every_event_passes_the_schema() {
        let schema = schema();
        for finding in findings() {
            let event = event_of(&finding);
            let errors = schema.validate(&event);
            assert!(errors.is_empty(), "{}: {errors:#?}", finding.rule_id);
        }
    }

    #[test]
    fn failure_is_a_created_compliance_failure() {
        let event = event_of(&new_failure());
        assert_eq!(event["class_uid"], 2003);
        assert_eq!(event["category_uid"], 2);
        assert_eq!(event["type_uid"], 200301);
        assert_eq!(event["severity_id"], 3);
        assert_eq!(event["status_id"], 1);
        assert_eq!(event["time"], 1_780_000_000_000_i64);
        assert_eq!(event["compliance"]["status_id"], 3);
        assert_eq!(event["compliance"]["control"], "kms-key-rotation");
        assert_eq!(event["resource"]["uid"], KEY_ARN);
        assert_eq!(event["resource"]["name"], "alias/payments");
        assert_eq!(event["resource"]["owner"]["account"]["uid"], "111122223333");
        assert_eq!(event["cloud"]["account"]["uid"], "111122223333");
        assert_eq!(event["cloud"]["region"], "eu-west-1");
        assert_eq!(event["metadata"]["version"], "1.1.0");
        assert_eq!(
            event["resource"]["data"]["AwsKmsKey"]["KeyRotationStatus"],
            false
        );
        assert_eq!(event["unmapped"]["evidence"]["source"], "DescribeKey");
    }

    #[test]
    fn resolved_pass_closes_the_finding() {
        let event = event_of(&resolved());
        assert_eq!(event["activity_id"], 3);
        assert_eq!(event["type_uid"], 200303);
        assert_eq!(event["status_id"], 4);
        assert_eq!(event["compliance"]["status"], "Pass");
    }

    #[test]
    fn unknown_is_a_warning() {
        let event = event_of(&coverage_gap());
        assert_eq!(event["compliance"]["status_id"], 2);
        assert_eq!(event["compliance"]["status_code"], "UNKNOWN");
        assert_eq!(event["resource"]["type"], "Other");
        assert!(event["resource"].get("data").is_none());
    }

    #[test]
    fn schema_rejects_broken_events() {
        let schema = schema();
        let mut missing = event_of(&new_failure());
        missing["finding_info"]
            .as_object_mut()
            .unwrap()
            .remove("uid");
        let errors = schema.validate(&missing);
        assert!(
            errors.iter().any(|e| e.contains("finding_info.uid")),
            "{errors:?}"
        );

        let mut bad_enum = event_of(&new_failure());
        bad_enum["compliance"]["status_id"] = json!(7);
        let errors = schema.validate(&bad_enum);
        assert!(
            errors.iter().any(|e| e.contains("compliance.status_id")),
            "{errors:?}"
        );

        let mut unknown = event_of(&new_failure());
        unknown["resources"] = json!([]);
        let errors = schema.validate(&unknown);
        assert!(errors.iter().any(|e| e.contains("resources")), "{errors:?}");

        let mut wrong_type = event_of(&new_failure());
        wrong_type["time"] = json!("yesterday");
        assert!(!schema.validate(&wrong_type).is_empty());
    }

    #[test]
    fn schema_accepts_security_hub_mapping() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "tests/fixtures/ocsf/aws-securityhub.v1.1.0.compliance_finding.sechub-pci.ocsf.json",
        );
        let example: Value = serde_json::from_str(&std::fs::read_to_string(root).unwrap()).unwrap();
        let errors = schema().validate(&example);
        assert!(errors.is_empty(), "{errors:#?}");
    }
}
