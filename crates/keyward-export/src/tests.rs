//! Findings and inventory records shared by the unit tests of each format.

use chrono::{DateTime, Utc};
use keyward_store::findings::FindingRecord;
use keyward_store::inventory::{CertificateRecord, KeyRecord, SecretRecord, Tag};

use crate::Inventory;

pub const ACCOUNT: &str = "111122223333";
pub const KEY_ARN: &str =
    "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
pub const CERTIFICATE_ARN: &str =
    "arn:aws:acm:eu-west-1:111122223333:certificate/0b5f3c1e-2d4a-4c6b-9e8f-7a6b5c4d3e2f";
pub const SECRET_ARN: &str = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:db-AbCdEf";
pub const GAP: &str = "111122223333/us-east-2/kms";

pub fn time(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

pub fn checked_at() -> DateTime<Utc> {
    time(1_780_000_000)
}

fn finding(rule_id: &str, verdict: &str, arn: &str, resource_type: &str) -> FindingRecord {
    let rule = keyward_rules::rule(rule_id).expect("rule in the catalog");
    FindingRecord {
        run_id: "20260528T201320.000000Z-1f".into(),
        checked_at: checked_at(),
        scan_id: "20260528T201000Z-1e".into(),
        rule_id: rule_id.into(),
        title: rule.title.into(),
        severity: rule.severity.as_str().into(),
        verdict: verdict.into(),
        resource_type: resource_type.into(),
        resource_arn: arn.into(),
        account_id: ACCOUNT.into(),
        region: "eu-west-1".into(),
        cause: format!("{rule_id} judged {verdict}"),
        evidence: r#"{"source":"DescribeKey","rotation_enabled":false}"#.into(),
        ..FindingRecord::default()
    }
}

/// Returns a failure first seen in this run.
pub fn new_failure() -> FindingRecord {
    FindingRecord {
        workflow: "NEW".into(),
        first_seen: Some(checked_at()),
        ..finding("kms-key-rotation", "FAIL", KEY_ARN, "KmsKey")
    }
}

/// Returns a failure that also failed in earlier runs, with a cost.
pub fn old_failure() -> FindingRecord {
    FindingRecord {
        workflow: "NEW".into(),
        first_seen: Some(time(1_770_000_000)),
        monthly_cost_usd: Some(0.4),
        ..finding("secret-rotation-enabled", "FAIL", SECRET_ARN, "Secret")
    }
}

/// Returns a failure under an exception.
pub fn suppressed_failure() -> FindingRecord {
    FindingRecord {
        workflow: "SUPPRESSED".into(),
        suppressed_by: Some("ticket SEC-12, expires 2026-12-31".into()),
        first_seen: Some(checked_at()),
        ..finding("kms-key-unused", "FAIL", KEY_ARN, "KmsKey")
    }
}

/// Returns an unknown for a service that the scan could not read.
pub fn coverage_gap() -> FindingRecord {
    FindingRecord {
        region: "us-east-2".into(),
        cause: "the scan could not read kms in this account and Region: denied".into(),
        evidence: r#"{"source":"scan coverage","status":"access_denied"}"#.into(),
        ..finding("kms-key-policy-public", "UNKNOWN", GAP, "KmsKey")
    }
}

/// Returns a pass that resolves a failure of the previous run.
pub fn resolved() -> FindingRecord {
    FindingRecord {
        workflow: "RESOLVED".into(),
        ..finding(
            "acm-certificate-expiring",
            "PASS",
            CERTIFICATE_ARN,
            "Certificate",
        )
    }
}

/// Returns a pass with no failure before it.
pub fn plain_pass() -> FindingRecord {
    finding("kms-key-pending-deletion", "PASS", KEY_ARN, "KmsKey")
}

/// Returns one finding of each kind, in that order.
pub fn findings() -> Vec<FindingRecord> {
    vec![
        new_failure(),
        old_failure(),
        suppressed_failure(),
        coverage_gap(),
        resolved(),
        plain_pass(),
    ]
}

/// Inventory records of the key, certificate and secret of the findings.
pub fn inventory() -> Inventory {
    let key = KeyRecord {
        account_id: ACCOUNT.into(),
        region: "eu-west-1".into(),
        key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        arn: KEY_ARN.into(),
        key_manager: Some("CUSTOMER".into()),
        key_state: Some("Enabled".into()),
        description: Some("=HYPERLINK(\"http://example.invalid\")".into()),
        origin: Some("AWS_KMS".into()),
        creation_date: Some(time(1_700_000_000)),
        rotation_enabled: Some(false),
        aliases: vec!["alias/payments".into()],
        tags: vec![Tag {
            key: "team".into(),
            value: "payments".into(),
        }],
        ..KeyRecord::default()
    };
    let certificate = CertificateRecord {
        account_id: ACCOUNT.into(),
        region: "eu-west-1".into(),
        arn: CERTIFICATE_ARN.into(),
        domain_name: Some("www.example.com".into()),
        subject_alternative_names: vec!["www.example.com".into(), "example.com".into()],
        status: Some("ISSUED".into()),
        certificate_type: Some("AMAZON_ISSUED".into()),
        key_algorithm: Some("RSA-2048".into()),
        not_before: Some(time(1_770_000_000)),
        not_after: Some(time(1_800_000_000)),
        in_use_by: vec![
            "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/web/1".into(),
        ],
        key_usages: vec!["DIGITAL_SIGNATURE".into()],
        extended_key_usages: vec!["TLS_WEB_SERVER_AUTHENTICATION".into()],
        renewal_eligibility: Some("ELIGIBLE".into()),
        ..CertificateRecord::default()
    };
    let secret = SecretRecord {
        account_id: ACCOUNT.into(),
        region: "eu-west-1".into(),
        arn: SECRET_ARN.into(),
        name: "db".into(),
        description: Some("database password".into()),
        rotation_enabled: Some(false),
        ..SecretRecord::default()
    };
    Inventory::from_records(vec![key], vec![certificate], vec![secret])
}
