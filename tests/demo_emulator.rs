//! `keyward demo --emulator` against a moto server of the test's own: the
//! generated keys, secrets, certificates, certificate authorities and IAM
//! policies are loaded into moto and scanned there, and every finding must
//! equal the ground truth, which names moto's ids.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

#[path = "../crates/keyward-scan/tests/common/mod.rs"]
mod emulator;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use emulator::Moto;
use keyward_demo::truth::Truth;

/// moto's default account, which becomes the management account.
const MOTO_ACCOUNT: &str = "123456789012";

/// Runs keyward without the caller's store, profile or credentials.
fn keyward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .env_remove("KEYWARD_STORE")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .output()
        .expect("run keyward")
}

fn demo(out: &Path, endpoint: &str) -> Output {
    let out = out.to_str().unwrap();
    keyward(&[
        "demo",
        "--no-serve",
        "--out",
        out,
        "--emulator",
        endpoint,
        "--accounts",
        "3",
        "--regions",
        "us-east-1,eu-west-1",
        "--days",
        "95",
        "--events-per-day",
        "100",
        "--seed",
        "4",
    ])
}

/// Returns the rows of `keyward inventory KIND --format json`.
fn inventory(store: &Path, kind: &str) -> Vec<serde_json::Value> {
    let store = store.to_str().unwrap();
    let output = keyward(&["--store", store, "inventory", kind, "--format", "json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Returns the rows of an SQL query over the store.
fn sql(store: &Path, query: &str) -> Vec<serde_json::Value> {
    let store = store.to_str().unwrap();
    let output = keyward(&["--store", store, "sql", "--format", "json", query]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Returns the verdict of every finding of the latest check, by rule and
/// ARN.
fn findings(store: &Path) -> BTreeMap<(String, String), String> {
    sql(store, "SELECT rule_id, resource_arn, verdict FROM findings")
        .into_iter()
        .map(|row| {
            let field = |name: &str| row[name].as_str().expect(name).to_owned();
            ((field("rule_id"), field("resource_arn")), field("verdict"))
        })
        .collect()
}

#[test]
fn emulator_findings_equal_truth() {
    let moto = Moto::start();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("demo");

    let output = demo(&out, &moto.endpoint);
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
    assert!(stdout.contains("Scanning moto"), "{stdout}");

    let text = std::fs::read_to_string(out.join("truth.json")).unwrap();
    let truth: Truth = serde_json::from_str(&text).unwrap();
    let store = out.join("store");
    let expected: BTreeMap<(String, String), String> = truth
        .verdicts()
        .into_iter()
        .map(|(key, verdict)| (key, verdict.as_str().to_owned()))
        .collect();
    let found = findings(&store);
    let differences: Vec<String> = expected
        .keys()
        .chain(found.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|key| expected.get(*key) != found.get(*key))
        .map(|key| {
            format!(
                "{} on {}: expected {:?}, found {:?}",
                key.0,
                key.1,
                expected.get(key),
                found.get(key)
            )
        })
        .collect();
    assert!(differences.is_empty(), "{}", differences.join("\n"));

    let verdicts: BTreeSet<&str> = expected.values().map(String::as_str).collect();
    assert!(verdicts.contains("FAIL"), "{verdicts:?}");
    assert!(verdicts.contains("PASS"), "{verdicts:?}");
    assert_truth_names_scanned_assets(&truth, &store);
    assert_last_use_under_moto_arns(&truth, &store);

    // A second demo would find the first one's assets in the scan.
    let again = demo(&work.path().join("again"), &moto.endpoint);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("moto already has an organization"),
        "{stderr}"
    );
}

/// Asserts that the CloudTrail files name moto's ARNs: the usage index
/// has each asset's planned last use under the ARN of the truth.
fn assert_last_use_under_moto_arns(truth: &Truth, store: &Path) {
    let used: BTreeMap<String, Option<i64>> = sql(
        store,
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
    assert!(checked > 5, "only {checked} assets have a last use");
}

/// Asserts that the truth names exactly the keys, secrets, certificates
/// and certificate authorities that the scan of moto stored, in moto's
/// accounts and the demo's Regions.
fn assert_truth_names_scanned_assets(truth: &Truth, store: &Path) {
    let keys: BTreeSet<String> = inventory(store, "keys")
        .iter()
        .map(|row| row["arn"].as_str().unwrap().to_owned())
        .collect();
    let secrets: BTreeSet<String> = inventory(store, "secrets")
        .iter()
        .map(|row| row["arn"].as_str().unwrap().to_owned())
        .collect();
    let certificates: BTreeSet<String> = inventory(store, "certificates")
        .iter()
        .map(|row| row["arn"].as_str().unwrap().to_owned())
        .collect();
    assert!(!keys.is_empty());
    assert!(!secrets.is_empty());
    let authorities: BTreeSet<String> = inventory(store, "certificate-authorities")
        .iter()
        .map(|row| row["arn"].as_str().unwrap().to_owned())
        .collect();
    assert!(!certificates.is_empty());
    assert_eq!(authorities.len(), 2, "{authorities:?}");

    assert_eq!(truth.accounts.len(), 3);
    assert_eq!(truth.accounts[0], MOTO_ACCOUNT);
    let mut truth_keys = BTreeSet::new();
    let mut truth_secrets = BTreeSet::new();
    let mut truth_certificates = BTreeSet::new();
    let mut truth_authorities = BTreeSet::new();
    let mut truth_iam = BTreeSet::new();
    let mut owners = BTreeSet::new();
    for asset in &truth.assets {
        assert!(
            truth.accounts.contains(&asset.account_id),
            "{} of account {}",
            asset.arn,
            asset.account_id
        );
        owners.insert(asset.account_id.as_str());
        match asset.resource_type.as_str() {
            "AwsKmsKey" => truth_keys.insert(asset.arn.clone()),
            "AwsSecretsManagerSecret" => truth_secrets.insert(asset.arn.clone()),
            "AwsCertificateManagerCertificate" => truth_certificates.insert(asset.arn.clone()),
            "AwsAcmPcaCertificateAuthority" => truth_authorities.insert(asset.arn.clone()),
            // The demo fails by itself when the scan lacks a planned IAM
            // policy.
            "AwsIamPolicy" | "AwsIamRole" => truth_iam.insert(asset.arn.clone()),
            other => panic!("{other} asset {} in the truth", asset.arn),
        };
    }
    assert!(!truth_iam.is_empty());
    assert_eq!(owners.len(), 3, "{owners:?}");
    assert_eq!(truth_keys, keys);
    assert_eq!(truth_secrets, secrets);
    assert_eq!(truth_certificates, certificates);
    assert_eq!(truth_authorities, authorities);
    // IAM is global, and its assets have no Region.
    let regions: BTreeSet<&str> = truth.assets.iter().map(|a| a.region.as_str()).collect();
    assert_eq!(regions, BTreeSet::from(["", "eu-west-1", "us-east-1"]));
}
