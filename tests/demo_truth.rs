//! `keyward demo` on generated organizations: every finding of the check
//! must equal the generator's ground truth, and so must every asset's last
//! use in the usage index.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use keyward_demo::truth::Truth;
use keyward_store::Store;

fn demo(out: &Path, sizes: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["demo", "--no-serve", "--out"])
        .arg(out)
        .args(sizes)
        .env("NO_COLOR", "1")
        .output()
        .expect("run keyward demo")
}

fn read_truth(out: &Path) -> Truth {
    let text = std::fs::read_to_string(out.join("truth.json")).expect("read truth.json");
    serde_json::from_str(&text).expect("truth.json parses")
}

/// Returns the verdict of every finding of the latest check, by rule and
/// ARN.
fn findings(store: &Store) -> BTreeMap<(String, String), String> {
    common::query_json(store, "SELECT rule_id, resource_arn, verdict FROM findings")
        .into_iter()
        .map(|row| {
            let field = |name: &str| row[name].as_str().expect(name).to_owned();
            ((field("rule_id"), field("resource_arn")), field("verdict"))
        })
        .collect()
}

/// Lists the differences between two verdict maps, at most 30.
fn differences(
    expected: &BTreeMap<(String, String), String>,
    found: &BTreeMap<(String, String), String>,
) -> Vec<String> {
    let keys: BTreeSet<&(String, String)> = expected.keys().chain(found.keys()).collect();
    keys.into_iter()
        .filter(|key| expected.get(*key) != found.get(*key))
        .take(30)
        .map(|(rule, arn)| {
            format!(
                "{rule} on {arn}: expected {:?}, found {:?}",
                expected.get(&(rule.clone(), arn.clone())),
                found.get(&(rule.clone(), arn.clone()))
            )
        })
        .collect()
}

fn expected_verdicts(truth: &Truth) -> BTreeMap<(String, String), String> {
    truth
        .verdicts()
        .into_iter()
        .map(|(key, verdict)| (key, verdict.as_str().to_owned()))
        .collect()
}

/// Checks the summary line of the demo's ingest against what the generator
/// wrote.
fn check_ingest_summary(stdout: &str, truth: &Truth) {
    let summary = stdout
        .lines()
        .find(|line| line.contains("crypto events stored"))
        .expect("ingest summary line");
    let counts = &truth.trail;
    let expected = [
        format!("{} files (", counts.files),
        format!(", {} skipped);", counts.skipped_files),
        format!("; {} records read:", counts.records),
        format!(": {} crypto events stored,", counts.crypto_events),
        format!(", {} duplicates,", counts.duplicates),
        "; 0 errors;".to_owned(),
    ];
    for part in expected {
        assert!(summary.contains(&part), "{part:?} not in {summary}");
    }
}

fn run_and_compare(sizes: &[&str]) -> (tempfile::TempDir, Truth, Store) {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("demo");
    let output = demo(&out, sizes);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("Every finding agrees with the ground truth"),
        "{stdout}"
    );

    let truth = read_truth(&out);
    let store = Store::open(out.join("store")).expect("open the demo store");
    let expected = expected_verdicts(&truth);
    let found = findings(&store);
    let differences = differences(&expected, &found);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    check_ingest_summary(&stdout, &truth);
    (work, truth, store)
}

#[test]
fn findings_equal_truth() {
    let (_work, truth, store) = run_and_compare(&[
        "--accounts",
        "5",
        "--regions",
        "us-east-1,eu-west-1",
        "--days",
        "100",
        "--events-per-day",
        "500",
        "--seed",
        "7",
    ]);
    let verdicts: BTreeSet<&str> = truth
        .assets
        .iter()
        .flat_map(|asset| asset.verdicts.values())
        .map(|verdict| verdict.as_str())
        .collect();
    assert_eq!(verdicts, BTreeSet::from(["FAIL", "PASS", "UNKNOWN"]));

    let stored = common::query_json(&store, "SELECT count(*) AS n FROM events");
    assert_eq!(stored[0]["n"].as_u64(), Some(truth.trail.crypto_events));
}

#[test]
fn last_use_equals_truth() {
    let (_work, truth, store) = run_and_compare(&[
        "--accounts",
        "4",
        "--regions",
        "us-east-1,ap-southeast-2",
        "--days",
        "95",
        "--events-per-day",
        "300",
        "--seed",
        "11",
    ]);
    let used: BTreeMap<String, Option<i64>> = common::query_json(
        &store,
        "SELECT asset, CAST(last_used AS BIGINT) AS last_used FROM usage",
    )
    .into_iter()
    .map(|row| {
        (
            row["asset"].as_str().unwrap_or_default().to_owned(),
            row["last_used"].as_i64().map(|micros| micros / 1_000_000),
        )
    })
    .collect();
    let mut checked = 0;
    for asset in &truth.assets {
        let found = used.get(&asset.arn).copied().flatten();
        let expected = asset.last_use.map(|time| time.timestamp());
        assert_eq!(
            found, expected,
            "last use of {} ({})",
            asset.arn, asset.scenario
        );
        checked += usize::from(expected.is_some());
    }
    assert!(checked > 20, "only {checked} assets have a last use");
}

#[test]
fn short_period_leaves_unused_unknown() {
    // Forty days of CloudTrail cannot show that a key went unused for 90.
    let (_work, truth, _store) = run_and_compare(&[
        "--accounts",
        "2",
        "--regions",
        "eu-west-1",
        "--days",
        "40",
        "--events-per-day",
        "300",
        "--seed",
        "3",
    ]);
    let unknown_unused = truth
        .assets
        .iter()
        .filter(|asset| asset.verdicts.get("kms-key-unused").map(|v| v.as_str()) == Some("UNKNOWN"))
        .count();
    assert!(unknown_unused > 0);
}

#[test]
fn truth_names_only_known_rules() {
    let work = tempfile::tempdir().unwrap();
    let options = keyward_demo::Options {
        accounts: 3,
        regions: vec!["us-east-1".to_owned()],
        days: 10,
        events_per_day: 50,
        ..keyward_demo::Options::default()
    };
    let generated = keyward_demo::generate(&options, work.path()).unwrap();
    let rules: BTreeSet<&str> = keyward_rules::catalog()
        .iter()
        .map(|rule| rule.id)
        .collect();
    for asset in &generated.truth.assets {
        for rule in asset.verdicts.keys() {
            assert!(rules.contains(rule.as_str()), "{rule} of {}", asset.arn);
        }
    }
}

#[test]
fn every_scenario_is_built() {
    let work = tempfile::tempdir().unwrap();
    let options = keyward_demo::Options {
        accounts: 2,
        regions: vec!["us-east-1".to_owned()],
        days: 10,
        events_per_day: 50,
        ..keyward_demo::Options::default()
    };
    let truth = keyward_demo::generate(&options, work.path()).unwrap().truth;
    let built: BTreeSet<(&str, &str)> = truth
        .assets
        .iter()
        .map(|asset| (asset.resource_type.as_str(), asset.scenario.as_str()))
        .collect();
    for scenario in keyward_demo::keys::Scenario::ALL {
        assert!(
            built.contains(&("AwsKmsKey", scenario.name())),
            "{scenario:?}"
        );
    }
    for scenario in keyward_demo::certificates::Scenario::ALL {
        assert!(
            built.contains(&("AwsCertificateManagerCertificate", scenario.name())),
            "{scenario:?}"
        );
    }
    for scenario in keyward_demo::secrets::Scenario::ALL {
        assert!(
            built.contains(&("AwsSecretsManagerSecret", scenario.name())),
            "{scenario:?}"
        );
    }
}
