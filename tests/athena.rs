//! The Athena form of every built-in question: parsed as Trino SQL by
//! sqlglot and run on DuckDB over Parquet in the shape of Amazon Security
//! Lake's tables, built from the same events and findings as a store. The
//! rows must equal the results of `keyward query` on that store.
//!
//! `tests/security-lake/lake.py` builds the tables and runs the queries
//! (see [`common::lake`]).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, TimeZone, Utc};
use keyward_export::{Export, Inventory, Selection, ocsf, select};
use keyward_store::Store;
use keyward_store::findings::{CheckRecord, FindingRecord};
use keyward_store::query::athena::{LakeTables, athena_sql};
use keyward_store::query::catalog::{QUESTIONS, Question};
use keyward_store::query::{QuestionFilters, TimeWindow};
use serde_json::Value;

use common::{fixture, fixture_files, ingest_paths, lake, query_json};

/// The Region in the table names that `lake.py` registers.
const LAKE_REGION: &str = "us-east-1";

/// Runs the Athena SQL of the questions over the lake and returns each
/// question's rows, failing on a parse or DuckDB error.
fn run_athena(lake_root: &Path, questions: &[&Question], filters: &QuestionFilters) -> Value {
    let tables = LakeTables::new(LAKE_REGION, None).unwrap();
    let queries: Vec<Value> = questions
        .iter()
        .map(|question| {
            let sql = athena_sql(question, filters, &tables).unwrap();
            serde_json::json!({ "name": question.name, "sql": sql })
        })
        .collect();
    let output = lake(
        &["run", &lake_root.display().to_string()],
        &serde_json::to_string(&queries).unwrap(),
    );
    let results: Value = serde_json::from_str(&output).unwrap();
    for question in questions {
        let result = &results[question.name];
        assert!(
            result.get("error").is_none(),
            "{}: {}",
            question.name,
            serde_json::to_string_pretty(result).unwrap()
        );
    }
    results
}

/// Turns timestamps into microseconds, so that keyward's and DuckDB's text
/// forms of one time compare equal, and drops the columns in `skipped`.
fn normalize(rows: &[Value], skipped: &[&str]) -> Vec<Value> {
    rows.iter()
        .map(|row| {
            let fields = row.as_object().unwrap();
            let normalized = fields
                .iter()
                .filter(|(name, _)| !skipped.contains(&name.as_str()))
                .map(|(name, value)| {
                    let time = value
                        .as_str()
                        .filter(|_| {
                            matches!(name.as_str(), "last_used" | "last_denied" | "first_seen")
                        })
                        .and_then(keyward_cloudtrail::parse_event_time);
                    (
                        name.clone(),
                        time.map_or_else(|| value.clone(), Value::from),
                    )
                })
                .collect();
            Value::Object(normalized)
        })
        .collect()
}

/// Returns the differences between keyward's and Athena's rows of each
/// question, as text.
fn differences(
    store: &Store,
    results: &Value,
    questions: &[&Question],
    filters: &QuestionFilters,
    skipped: &[&str],
) -> Vec<String> {
    let mut failures = Vec::new();
    for question in questions {
        let expected = normalize(&query_json(store, &question.sql(filters)), skipped);
        let rows = results[question.name]["rows"].as_array().unwrap();
        let actual = normalize(rows, skipped);
        if expected != actual {
            failures.push(format!(
                "{}:\nkeyward {}\nathena  {}",
                question.name,
                serde_json::to_string_pretty(&expected).unwrap(),
                serde_json::to_string_pretty(&actual).unwrap()
            ));
        }
    }
    failures
}

fn window(from: &str, to: &str) -> QuestionFilters {
    QuestionFilters {
        window: TimeWindow {
            from: keyward_cloudtrail::parse_event_time(from),
            to: keyward_cloudtrail::parse_event_time(to),
        },
        ..QuestionFilters::default()
    }
}

fn cloudtrail_questions() -> Vec<&'static Question> {
    QUESTIONS.iter().filter(|q| !q.reads_findings()).collect()
}

fn finding_questions() -> Vec<&'static Question> {
    QUESTIONS.iter().filter(|q| q.reads_findings()).collect()
}

/// Builds a store and a lake from the CloudTrail fixtures.
fn cloudtrail_store_and_lake(work: &Path) -> Store {
    let store = Store::create_or_open(work.join("store")).unwrap();
    let paths: Vec<PathBuf> = common::CLOUDTRAIL_FIXTURES
        .iter()
        .map(|p| fixture(p))
        .collect();
    let (_, problems) = ingest_paths(&store, &paths);
    assert!(problems.is_empty(), "{problems:?}");
    let mut args = vec![
        "build-cloudtrail".to_owned(),
        work.join("lake").display().to_string(),
    ];
    args.extend(fixture_files(&common::CLOUDTRAIL_FIXTURES));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    lake(&args, "");
    store
}

#[test]
fn cloudtrail_questions_match_store() {
    let work = tempfile::tempdir().unwrap();
    let store = cloudtrail_store_and_lake(work.path());
    let questions = cloudtrail_questions();

    let cases = [
        (
            "hand-checked window",
            window("2026-05-01T00:00:00Z", "2026-05-31T00:00:00Z"),
        ),
        (
            "every event",
            window("2000-01-01T00:00:00Z", "2030-01-01T00:00:00Z"),
        ),
        (
            "one account and Region",
            QuestionFilters {
                accounts: vec!["111122223333".to_owned()],
                regions: vec!["us-east-1".to_owned()],
                ..window("2000-01-01T00:00:00Z", "2030-01-01T00:00:00Z")
            },
        ),
    ];
    for (case, filters) in cases {
        let results = run_athena(&work.path().join("lake"), &questions, &filters);
        let failures = differences(&store, &results, &questions, &filters, &[]);
        assert!(failures.is_empty(), "{case}:\n{}", failures.join("\n\n"));
    }
}

#[test]
fn cloudtrail_answers_not_empty() {
    let work = tempfile::tempdir().unwrap();
    cloudtrail_store_and_lake(work.path());
    let filters = window("2026-05-01T00:00:00Z", "2026-05-31T00:00:00Z");
    let results = run_athena(&work.path().join("lake"), &cloudtrail_questions(), &filters);
    for question in cloudtrail_questions() {
        let rows = results[question.name]["rows"].as_array().unwrap();
        assert!(!rows.is_empty(), "{} has no rows", question.name);
    }
}

fn time(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).unwrap()
}

fn finding(run: u32, rule: &str, verdict: &str, arn: &str) -> FindingRecord {
    let checked_at = time(1_780_000_000 + i64::from(run) * 86_400);
    let resource_type = match arn.split(':').nth(2) {
        Some("kms") => "KmsKey",
        Some("acm") => "Certificate",
        _ => "Secret",
    };
    FindingRecord {
        run_id: format!("run-{run}"),
        checked_at,
        scan_id: format!("scan-{run}"),
        rule_id: rule.to_owned(),
        title: rule.to_owned(),
        severity: "HIGH".to_owned(),
        verdict: verdict.to_owned(),
        resource_type: resource_type.to_owned(),
        resource_arn: arn.to_owned(),
        account_id: arn.split(':').nth(4).unwrap().to_owned(),
        region: arn.split(':').nth(3).unwrap().to_owned(),
        cause: format!("{rule} {verdict} on {arn} in run {run}"),
        evidence: "{}".to_owned(),
        workflow: if verdict == "FAIL" { "NEW" } else { "RESOLVED" }.to_owned(),
        first_seen: (verdict == "FAIL").then(|| time(1_780_000_000)),
        ..FindingRecord::default()
    }
}

const KEY_A: &str = "arn:aws:kms:us-east-1:111122223333:key/aaaa";
const KEY_B: &str = "arn:aws:kms:us-east-1:111122223333:key/bbbb";
const KEY_C: &str = "arn:aws:kms:eu-west-1:444455556666:key/cccc";
const KEY_D: &str = "arn:aws:kms:eu-west-1:444455556666:key/dddd";
const CERT_E: &str = "arn:aws:acm:us-east-1:111122223333:certificate/eeee";
const CERT_F: &str = "arn:aws:acm:us-east-1:111122223333:certificate/ffff";
const CERT_G: &str = "arn:aws:acm:eu-west-1:444455556666:certificate/gggg";
const SECRET_H: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:h-AbCdEf";
const SECRET_I: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:i-AbCdEf";

/// Two check runs. Key A fails the unused-key rule in the first run and
/// passes in the second, so only key B remains unused. Key D's rotation
/// failure is suppressed in the second run.
fn two_runs() -> [Vec<FindingRecord>; 2] {
    let first = vec![
        finding(1, "kms-key-unused", "FAIL", KEY_A),
        finding(1, "kms-key-unused", "FAIL", KEY_B),
        finding(1, "kms-key-rotation", "FAIL", KEY_C),
        finding(1, "kms-key-rotation", "FAIL", KEY_D),
        finding(1, "secret-rotation-enabled", "FAIL", SECRET_H),
    ];
    let suppressed = FindingRecord {
        suppressed_by: Some("ticket SEC-12".to_owned()),
        workflow: "SUPPRESSED".to_owned(),
        ..finding(2, "kms-key-rotation", "FAIL", KEY_D)
    };
    let second = vec![
        finding(2, "kms-key-unused", "PASS", KEY_A),
        finding(2, "kms-key-unused", "FAIL", KEY_B),
        finding(2, "kms-key-rotation", "FAIL", KEY_C),
        suppressed,
        finding(2, "acm-certificate-expiring", "FAIL", CERT_E),
        finding(2, "acm-certificate-expired", "FAIL", CERT_F),
        finding(2, "acm-certificate-pending-validation", "FAIL", CERT_G),
        finding(2, "secret-rotation-enabled", "FAIL", SECRET_H),
        FindingRecord {
            monthly_cost_usd: Some(0.4),
            ..finding(2, "secret-unused", "FAIL", SECRET_I)
        },
    ];
    [first, second]
}

/// Writes the runs into the store and their default export as OCSF JSON
/// Lines, one file per run, and returns the files.
fn store_and_export(store: &Store, runs: &[Vec<FindingRecord>], folder: &Path) -> Vec<String> {
    let inventory = Inventory::default();
    let mut files = Vec::new();
    for findings in runs {
        let check = CheckRecord {
            run_id: findings[0].run_id.clone(),
            checked_at: findings[0].checked_at,
            scan_id: findings[0].scan_id.clone(),
            findings: findings.len() as u32,
            keyward_version: "0.1.0".to_owned(),
            ..CheckRecord::default()
        };
        store.write_check(&check, findings).unwrap();
        let exported = select(findings, Selection::default());
        let export = Export {
            findings: &exported,
            inventory: &inventory,
            keyward_version: "0.1.0",
        };
        let lines: Vec<String> = ocsf::events(&export).iter().map(Value::to_string).collect();
        let path = folder.join(format!("{}.ocsf.jsonl", check.run_id));
        std::fs::write(&path, lines.join("\n")).unwrap();
        files.push(path.display().to_string());
    }
    files
}

#[test]
fn finding_questions_match_latest_check() {
    let work = tempfile::tempdir().unwrap();
    let store = Store::create_or_open(work.path().join("store")).unwrap();
    let files = store_and_export(&store, &two_runs(), work.path());
    let lake_root = work.path().join("lake");
    let mut args = vec!["build-findings", lake_root.to_str().unwrap()];
    args.extend(files.iter().map(String::as_str));
    lake(&args, "");

    let filters = QuestionFilters::default();
    let questions = finding_questions();
    let results = run_athena(&lake_root, &questions, &filters);
    // The monthly cost is not an OCSF attribute that the table types.
    let failures = differences(
        &store,
        &results,
        &questions,
        &filters,
        &["monthly_cost_usd"],
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    let unused = &results["kms-unused-cmks"]["rows"];
    assert_eq!(unused.as_array().unwrap().len(), 1, "{unused}");
    assert_eq!(unused[0]["key"], KEY_B, "key A passed in the later run");
}

/// Security Hub's own findings, in the shape of the published OCSF 1.1.0
/// sample of a Security Hub control finding, for another control,
/// resource, status or time.
fn security_hub_finding(control: &str, resource: &str, status: &str, seconds: i64) -> Value {
    let path =
        fixture("security-lake/aws-securityhub.v1.1.0.compliance_finding.sechub-pci.ocsf.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["compliance"]["control"] = Value::from(control);
    event["compliance"]["status"] = Value::from(status);
    event["resource"]["uid"] = Value::from(resource);
    event["time"] = Value::from(seconds * 1000);
    event["finding_info"]["uid"] = Value::from(format!("arn:aws:securityhub:{control}:{resource}"));
    event["finding_info"]["first_seen_time"] = Value::from(seconds * 1000);
    event
}

#[test]
fn security_hub_findings_latest_only() {
    let work = tempfile::tempdir().unwrap();
    let key_x = "arn:aws:kms:us-east-2:111111111111:key/xxxx";
    let key_y = "arn:aws:kms:us-east-2:111111111111:key/yyyy";
    let secret_z = "arn:aws:secretsmanager:us-east-2:111111111111:secret:z-AbCdEf";
    let mut config_rule = security_hub_finding("", secret_z, "FAILED", 1_780_000_000);
    // A finding of an AWS Config rule names no control.
    config_rule["compliance"]["control"] = Value::Null;
    let product_fields = config_rule["unmapped"].as_object_mut().unwrap();
    product_fields.remove("ProductFields.ControlId");
    config_rule["unmapped"]["ProductFields.aws/config/ConfigRuleName"] =
        Value::from("secretsmanager-rotation-enabled-check");
    let mut suppressed =
        security_hub_finding("SecretsManager.3", secret_z, "FAILED", 1_780_000_000);
    suppressed["status"] = Value::from("Suppressed");
    let events = [
        security_hub_finding("KMS.4", key_x, "FAILED", 1_780_000_000),
        security_hub_finding("KMS.4", key_x, "PASSED", 1_780_086_400),
        security_hub_finding("KMS.4", key_y, "FAILED", 1_780_000_000),
        security_hub_finding(
            "ACM.1",
            "arn:aws:acm:us-east-2:111111111111:certificate/c",
            "FAILED",
            1_780_000_000,
        ),
        config_rule,
        suppressed,
    ];
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    let file = work.path().join("security-hub.ocsf.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let lake_root = work.path().join("lake");
    lake(
        &[
            "build-findings",
            lake_root.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
        "",
    );

    let results = run_athena(
        &lake_root,
        &finding_questions(),
        &QuestionFilters::default(),
    );
    let rotation = results["kms-keys-without-autorotation"]["rows"]
        .as_array()
        .unwrap();
    assert_eq!(rotation.len(), 1, "{rotation:?}");
    assert_eq!(rotation[0]["keys"], 1, "key X passed after it failed");
    assert_eq!(rotation[0]["account"], "111111111111");
    assert_eq!(rotation[0]["region"], "us-east-2");

    let expiring = results["cert-expiring-check"]["rows"].as_array().unwrap();
    assert_eq!(expiring.len(), 1, "{expiring:?}");
    assert_eq!(expiring[0]["rule"], "ACM.1");

    let rotation_disabled = results["sm-rotation-not-enabled"]["rows"]
        .as_array()
        .unwrap();
    assert_eq!(rotation_disabled.len(), 1, "{rotation_disabled:?}");
    assert_eq!(rotation_disabled[0]["secret"], secret_z);

    let unused = results["sm-unused-secrets"]["rows"].as_array().unwrap();
    assert!(
        unused.is_empty(),
        "the suppressed finding counts: {unused:?}"
    );
}

#[test]
fn cli_prints_library_sql() {
    let filters = window("2026-05-01T00:00:00Z", "2026-05-31T00:00:00Z");
    let tables = LakeTables::new("eu-west-1", None).unwrap();
    for question in &QUESTIONS {
        let output = Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args([
                "query",
                question.name,
                "--athena",
                "--lake-region",
                "eu-west-1",
            ])
            .args([
                "--from",
                "2026-05-01T00:00:00Z",
                "--to",
                "2026-05-31T00:00:00Z",
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let printed = String::from_utf8(output.stdout).unwrap();
        let expected = athena_sql(question, &filters, &tables).unwrap();
        assert_eq!(printed.trim_end(), expected, "{}", question.name);
    }
}

#[test]
fn cli_lists_tables_read() {
    let output = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["query", "--list", "--athena"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let listing = String::from_utf8(output.stdout).unwrap();
    for question in &QUESTIONS {
        let line = listing
            .lines()
            .find(|line| line.starts_with(&format!("{} ", question.name)))
            .unwrap_or_else(|| panic!("{} not listed:\n{listing}", question.name));
        let table = if question.reads_findings() {
            "sh_findings_2_0"
        } else {
            "cloud_trail_mgmt_2_0"
        };
        assert!(line.contains(table), "{line}");
    }
}
