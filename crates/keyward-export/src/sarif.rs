//! Findings as one SARIF 2.1.0 run.
//!
//! The rules of the catalog become `tool.driver.rules`, and each finding a
//! result whose location is the resource's ARN as a logical location.
//! A FAIL is a result of kind `fail` with the level of its severity. An
//! UNKNOWN is of kind `open` and a PASS of kind `pass`, both with level
//! `none`, because neither is a problem to fix.

use std::collections::BTreeMap;
use std::io::Write;

use keyward_rules::{Rule, Severity};
use keyward_store::findings::FindingRecord;
use serde_json::{Value, json};

use crate::{
    Encoder, Export, Result, finding_hash, is_new_failure, is_resolved, reference_urls,
    rfc3339_millis, rule_of,
};

/// Address of the SARIF 2.1.0 JSON schema, as published by OASIS.
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// Key of the fingerprint that identifies a rule's finding on a resource.
pub const FINGERPRINT_KEY: &str = "keywardRuleResource/v1";

/// A SARIF 2.1.0 log with one run, indented.
pub struct Sarif;

impl Encoder for Sarif {
    fn encode(&self, export: &Export<'_>, out: &mut dyn Write) -> Result<()> {
        serde_json::to_writer_pretty(&mut *out, &log(export))?;
        writeln!(out)?;
        Ok(())
    }
}

/// Builds the SARIF log of an export.
pub fn log(export: &Export<'_>) -> Value {
    let rules = keyward_rules::catalog();
    let indexes: BTreeMap<&str, usize> = rules
        .iter()
        .enumerate()
        .map(|(index, rule)| (rule.id, index))
        .collect();
    let results: Vec<Value> = export
        .findings
        .iter()
        .map(|finding| result(finding, indexes.get(finding.rule_id.as_str()).copied()))
        .collect();
    let mut run = json!({
        "tool": {
            "driver": {
                "name": "keyward",
                "version": export.keyward_version,
                "semanticVersion": export.keyward_version,
                "rules": rules.iter().map(|rule| descriptor(rule)).collect::<Vec<_>>(),
            }
        },
        "columnKind": "unicodeCodePoints",
        "results": results,
    });
    if let Some(first) = export.findings.first() {
        run["automationDetails"] = json!({ "id": format!("keyward/check/{}", first.run_id) });
        run["invocations"] = json!([{
            "executionSuccessful": true,
            "endTimeUtc": rfc3339_millis(first.checked_at),
        }]);
        run["properties"] = json!({ "runId": first.run_id, "scanId": first.scan_id });
    }
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [run],
    })
}

/// Builds the reporting descriptor of a rule.
fn descriptor(rule: &Rule) -> Value {
    let mut help = format!(
        "{}\n\nConsole: {}\n\nAWS CLI: {}",
        rule.risk, rule.remediation, rule.remediation_cli
    );
    let mut markdown = format!(
        "{}\n\n**Console:** {}\n\n**AWS CLI:**\n\n```sh\n{}\n```",
        rule.risk, rule.remediation, rule.remediation_cli
    );
    help.push_str("\n\nReferences:");
    markdown.push_str("\n\n**References:**\n");
    for reference in rule.references {
        help.push_str(&format!("\n- {reference}"));
        markdown.push_str(&format!("\n- {reference}"));
    }
    let mut descriptor = json!({
        "id": rule.id,
        "name": pascal_case(rule.id),
        "shortDescription": { "text": rule.title },
        "fullDescription": { "text": rule.risk },
        "help": { "text": help, "markdown": markdown },
        "defaultConfiguration": { "level": level(rule.severity) },
        "properties": {
            "security-severity": security_severity(rule.severity),
            "severity": rule.severity.as_str(),
            "resourceType": rule.resource_type.asff_name(),
            "tags": ["security", "aws", rule.resource_type.asff_name()],
        },
    });
    if let Some(url) = reference_urls(rule).first() {
        descriptor["helpUri"] = json!(url);
    }
    descriptor
}

/// Builds the result of a finding. `rule_index` is the rule's position in
/// `tool.driver.rules`, if the catalog still has the rule.
fn result(finding: &FindingRecord, rule_index: Option<usize>) -> Value {
    let severity = Severity::parse(&finding.severity).unwrap_or(Severity::Informational);
    let (kind, level) = match finding.verdict.as_str() {
        "FAIL" => ("fail", level(severity)),
        "PASS" => ("pass", "none"),
        _ => ("open", "none"),
    };
    let mut result = json!({
        "ruleId": finding.rule_id,
        "kind": kind,
        "level": level,
        "message": { "text": finding.cause },
        "locations": [location(finding)],
        "partialFingerprints": {
            FINGERPRINT_KEY: finding_hash(&finding.rule_id, &finding.resource_arn),
        },
        "baselineState": baseline_state(finding),
        "properties": properties(finding),
    });
    if let Some(index) = rule_index {
        result["ruleIndex"] = json!(index);
    }
    if let Some(exception) = &finding.suppressed_by {
        result["suppressions"] = json!([{
            "kind": "external",
            "status": "accepted",
            "justification": exception,
        }]);
    }
    result
}

/// Builds the location of a finding: its resource, as a logical location
/// with the account and Region in its properties.
fn location(finding: &FindingRecord) -> Value {
    let short_name = finding
        .resource_arn
        .rsplit(['/', ':'])
        .next()
        .unwrap_or(&finding.resource_arn);
    json!({
        "logicalLocations": [{
            "name": short_name,
            "fullyQualifiedName": finding.resource_arn,
            "kind": "resource",
        }],
        "properties": {
            "accountId": finding.account_id,
            "region": finding.region,
            "resourceType": finding.resource_type,
        },
    })
}

/// Returns the state of a result against the previous check: a failure of
/// this run is `new`, a resolved failure `absent`, and anything else
/// `unchanged`.
fn baseline_state(finding: &FindingRecord) -> &'static str {
    if is_new_failure(finding) {
        "new"
    } else if is_resolved(finding) {
        "absent"
    } else {
        "unchanged"
    }
}

fn properties(finding: &FindingRecord) -> Value {
    let evidence = serde_json::from_str(&finding.evidence)
        .unwrap_or_else(|_| Value::String(finding.evidence.clone()));
    let mut properties = json!({
        "verdict": finding.verdict,
        "severity": finding.severity,
        "workflow": finding.workflow,
        "evidence": evidence,
    });
    if let Some(first_seen) = finding.first_seen {
        properties["firstSeen"] = json!(rfc3339_millis(first_seen));
    }
    if let Some(cost) = finding.monthly_cost_usd {
        properties["monthlyCostUsd"] = json!(cost);
    }
    if rule_of(finding).is_none() {
        properties["title"] = json!(finding.title);
    }
    properties
}

/// Returns the SARIF level of a failure of this severity.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Informational => "note",
    }
}

/// Returns the score that GitHub code scanning reads from the
/// `security-severity` property: above 9.0 is critical, 7.0 to 8.9 high,
/// 4.0 to 6.9 medium and 0.1 to 3.9 low.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Informational => "0.0",
    }
}

/// Turns a rule id such as `kms-key-rotation` into `KmsKeyRotation`.
fn pascal_case(id: &str) -> String {
    id.split('-')
        .map(|word| {
            let mut characters = word.chars();
            match characters.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + characters.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{KEY_ARN, findings, inventory};

    fn sarif_of(findings: &[FindingRecord]) -> Value {
        let inventory = inventory();
        let export = Export {
            findings,
            inventory: &inventory,
            keyward_version: "0.1.0",
        };
        let mut out = Vec::new();
        Sarif.encode(&export, &mut out).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn driver_lists_every_rule_of_the_catalog() {
        let log = sarif_of(&findings());
        assert_eq!(log["version"], "2.1.0");
        assert_eq!(log["runs"].as_array().unwrap().len(), 1);
        let rules = log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap();
        assert_eq!(rules.len(), keyward_rules::catalog().len());
        let rotation = &rules[0];
        assert_eq!(rotation["id"], "kms-key-rotation");
        assert_eq!(rotation["name"], "KmsKeyRotation");
        assert_eq!(rotation["defaultConfiguration"]["level"], "warning");
        assert_eq!(rotation["properties"]["security-severity"], "5.5");
        assert!(
            rotation["helpUri"]
                .as_str()
                .unwrap()
                .starts_with("https://docs.aws.amazon.com/")
        );
        let help = rotation["help"]["text"].as_str().unwrap();
        assert!(help.contains("aws kms enable-key-rotation"), "{help}");
    }

    #[test]
    fn results_carry_kind_level_and_location() {
        let log = sarif_of(&findings());
        let results = log["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 6);
        let failure = &results[0];
        assert_eq!(failure["ruleId"], "kms-key-rotation");
        assert_eq!(failure["ruleIndex"], 0);
        assert_eq!(failure["kind"], "fail");
        assert_eq!(failure["level"], "warning");
        assert_eq!(failure["baselineState"], "new");
        let location = &failure["locations"][0];
        assert_eq!(
            location["logicalLocations"][0]["fullyQualifiedName"],
            KEY_ARN
        );
        assert_eq!(location["properties"]["accountId"], "111122223333");
        assert_eq!(location["properties"]["region"], "eu-west-1");

        assert_eq!(results[1]["baselineState"], "unchanged");
        assert_eq!(results[2]["suppressions"][0]["kind"], "external");
        assert_eq!(results[3]["kind"], "open");
        assert_eq!(results[3]["level"], "none");
        assert_eq!(results[4]["kind"], "pass");
        assert_eq!(results[4]["baselineState"], "absent");
        assert_eq!(results[5]["baselineState"], "unchanged");
    }

    #[test]
    fn fingerprints_depend_on_rule_and_resource_only() {
        let first = sarif_of(&findings());
        let mut later = findings();
        for finding in &mut later {
            finding.run_id = "another-run".into();
            finding.cause = "another cause".into();
        }
        let second = sarif_of(&later);
        let prints = |log: &Value| -> Vec<Value> {
            log["runs"][0]["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|result| result["partialFingerprints"].clone())
                .collect()
        };
        assert_eq!(prints(&first), prints(&second));
        // The same key judged by two rules gives two fingerprints.
        assert_ne!(prints(&first)[0], prints(&first)[2]);
    }

    #[test]
    fn empty_export_is_a_valid_run() {
        let log = sarif_of(&[]);
        assert_eq!(log["runs"][0]["results"], json!([]));
        assert!(log["runs"][0].get("automationDetails").is_none());
    }
}
