//! `keyward scan`, `ingest` and `check` together on an account in the AWS
//! emulator whose assets and CloudTrail events were built so that every
//! failing verdict is known beforehand. A wrong verdict, a missing failure
//! or an unexpected one fails the test.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

#[path = "../crates/keyward-scan/tests/common/mod.rs"]
mod emulator;
mod emulator_cli;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use emulator::{Moto, make_certificate};
use emulator_cli::{REGION, keyward, sdk_config, text};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";
const PARTNER: &str = "999999999999";

/// Seconds after which the certificate labelled `certificate-expired`
/// expires.
const EXPIRED_AFTER_SECONDS: i64 = 3;

/// ARNs of the assets, by the label that the expected verdicts use.
type Assets = BTreeMap<&'static str, String>;

async fn create_key(kms: &aws_sdk_kms::Client, policy: Option<Value>) -> String {
    let mut request = kms.create_key();
    if let Some(policy) = policy {
        request = request.policy(policy.to_string());
    }
    request
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap()
}

fn wildcard_policy(condition: Option<Value>) -> Value {
    let mut statement = json!({
        "Sid": "Anyone",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": "kms:Decrypt",
        "Resource": "*",
    });
    if let Some(condition) = condition {
        statement["Condition"] = condition;
    }
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Owner",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
                "Action": "kms:*",
                "Resource": "*",
            },
            statement,
        ],
    })
}

async fn build_assets(endpoint: &str) -> Assets {
    let config = sdk_config(endpoint).await;
    let kms = aws_sdk_kms::Client::new(&config);
    let mut assets = Assets::new();

    for label in ["key-used", "key-no-rotation", "key-shared", "key-deleting"] {
        assets.insert(label, create_key(&kms, None).await);
    }
    for label in ["key-used", "key-shared", "key-deleting"] {
        kms.enable_key_rotation()
            .key_id(&assets[label])
            .send()
            .await
            .unwrap();
    }
    // moto fails ScheduleKeyDeletion with a server error when given an ARN,
    // so the request names the key by its id.
    let deleting_id = assets["key-deleting"].rsplit('/').next().unwrap();
    kms.schedule_key_deletion()
        .key_id(deleting_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let public = create_key(&kms, Some(wildcard_policy(None))).await;
    let restricted = wildcard_policy(Some(json!({
        "StringEquals": {"kms:CallerAccount": ACCOUNT}
    })));
    let restricted = create_key(&kms, Some(restricted)).await;
    for arn in [&public, &restricted] {
        kms.enable_key_rotation().key_id(arn).send().await.unwrap();
    }
    assets.insert("key-public", public);
    assets.insert("key-caller-account", restricted);

    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    for label in ["secret-read", "secret-public", "secret-rotation-failed"] {
        let arn = secrets
            .create_secret()
            .name(label)
            .secret_string("never-read-by-keyward")
            .send()
            .await
            .unwrap()
            .arn
            .unwrap();
        assets.insert(label, arn);
    }
    let public_policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "*",
        }],
    });
    secrets
        .put_resource_policy()
        .secret_id(&assets["secret-public"])
        .resource_policy(public_policy.to_string())
        .send()
        .await
        .unwrap();
    // moto turns rotation on, then fails because the function does not
    // exist; the secret keeps RotationEnabled and a NextRotationDate.
    let _ = secrets
        .rotate_secret()
        .secret_id(&assets["secret-rotation-failed"])
        .rotation_lambda_arn(format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT}:function:rotator"
        ))
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .rotate_immediately(false)
        .send()
        .await;

    let acm = aws_sdk_acm::Client::new(&config);
    let day = 86_400;
    for (label, seconds) in [
        ("certificate-expiring", 10 * day + 3600),
        ("certificate-fine", 200 * day),
        // ACM rejects an expired certificate, so this one expires a few
        // seconds after its import and the test waits for that.
        ("certificate-expired", EXPIRED_AFTER_SECONDS),
    ] {
        let (certificate, private_key) =
            make_certificate("rsa-2048", seconds, &format!("{label}.example.com"));
        let arn = acm
            .import_certificate()
            .certificate(aws_sdk_acm::primitives::Blob::new(certificate))
            .private_key(aws_sdk_acm::primitives::Blob::new(private_key))
            .send()
            .await
            .unwrap()
            .certificate_arn
            .unwrap();
        assets.insert(label, arn);
    }
    let pending = acm
        .request_certificate()
        .domain_name("pending.example.com")
        .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
        .send()
        .await
        .unwrap()
        .certificate_arn
        .unwrap();
    assets.insert("certificate-pending", pending);
    assets
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Builds a CloudTrail record of a call by `caller_account` on `resource`.
fn record(
    id: &str,
    at: DateTime<Utc>,
    (source, name): (&str, &str),
    caller_account: &str,
    resource: &str,
    error: Option<&str>,
) -> Value {
    let mut record = json!({
        "eventVersion": "1.10",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": format!("AROAEXAMPLE:{id}"),
            "arn": format!("arn:aws:sts::{caller_account}:assumed-role/App/{id}"),
            "accountId": caller_account,
        },
        "eventTime": time(at),
        "eventSource": source,
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-sdk-rust",
        "requestID": id,
        "eventID": id,
        "readOnly": true,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    });
    if source == "kms.amazonaws.com" {
        record["requestParameters"] = json!({"keyId": resource});
        record["resources"] = json!([{
            "accountId": ACCOUNT,
            "type": "AWS::KMS::Key",
            "ARN": resource,
        }]);
    } else {
        record["requestParameters"] = json!({"secretId": resource});
    }
    if let Some(code) = error {
        record["errorCode"] = json!(code);
        record["errorMessage"] = json!(format!("{resource} is pending deletion."));
    }
    record
}

/// Builds a `RotationFailed` service event, as Secrets Manager logs it.
fn rotation_failed(at: DateTime<Utc>, secret: &str) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"accountId": ACCOUNT, "invokedBy": "secretsmanager.amazonaws.com"},
        "eventTime": time(at),
        "eventSource": "secretsmanager.amazonaws.com",
        "eventName": "RotationFailed",
        "awsRegion": REGION,
        "sourceIPAddress": "secretsmanager.amazonaws.com",
        "userAgent": "secretsmanager.amazonaws.com",
        "errorMessage": "Error when executing lambda during createSecret step",
        "requestParameters": null,
        "responseElements": null,
        "additionalEventData": {"SecretId": secret},
        "eventID": "rotation-failed",
        "readOnly": false,
        "eventType": "AwsServiceEvent",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    })
}

fn write_trail(directory: &Path, assets: &Assets, now: DateTime<Utc>) {
    let kms = |name| ("kms.amazonaws.com", name);
    let secrets = |name| ("secretsmanager.amazonaws.com", name);
    let ago = |days| now - Duration::days(days);
    let records = vec![
        // The trail begins 120 days ago, so it covers every 90-day window.
        record("trail-start", ago(120), kms("ListKeys"), ACCOUNT, "", None),
        record(
            "used",
            ago(5),
            kms("Decrypt"),
            ACCOUNT,
            &assets["key-used"],
            None,
        ),
        record(
            "shared",
            ago(3),
            kms("Decrypt"),
            PARTNER,
            &assets["key-shared"],
            None,
        ),
        record(
            "after-deletion",
            ago(2),
            kms("Decrypt"),
            ACCOUNT,
            &assets["key-deleting"],
            Some("KMSInvalidStateException"),
        ),
        record(
            "secret-read",
            ago(3),
            secrets("GetSecretValue"),
            PARTNER,
            &assets["secret-read"],
            None,
        ),
        rotation_failed(ago(2), &assets["secret-rotation-failed"]),
    ];
    let day = ago(0).format("%Y/%m/%d").to_string();
    let folder = directory.join(format!("AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{day}"));
    std::fs::create_dir_all(&folder).unwrap();
    let body = json!({ "Records": records }).to_string();
    std::fs::write(
        folder.join(format!("{ACCOUNT}_CloudTrail_{REGION}_test.json")),
        body,
    )
    .unwrap();
}

/// Every failing verdict the account must produce, by asset label and
/// rule, with a fragment of the expected cause.
fn expected_failures() -> BTreeMap<(&'static str, &'static str), &'static str> {
    BTreeMap::from([
        (
            ("key-no-rotation", "kms-key-rotation"),
            "rotation is disabled",
        ),
        (("key-shared", "kms-key-used-by-other-account"), PARTNER),
        (("key-deleting", "kms-key-pending-deletion"), ""),
        (
            ("key-deleting", "kms-key-inactive-in-use"),
            "KMSInvalidStateException",
        ),
        (("key-public", "kms-key-policy-public"), ""),
        (("secret-read", "secret-used-by-other-account"), PARTNER),
        (("secret-public", "secret-policy-public"), ""),
        (
            ("secret-rotation-failed", "secret-rotation-failing"),
            "RotationFailed",
        ),
        (
            ("certificate-expiring", "acm-certificate-expiring"),
            "expires in 10 days",
        ),
        (
            ("certificate-expired", "acm-certificate-expired"),
            "expired 0 days ago",
        ),
        (
            ("certificate-pending", "acm-certificate-pending-validation"),
            "",
        ),
        // The imported and requested certificates have RSA 2048-bit keys;
        // the expired one is out of the rule's scope.
        (
            ("certificate-expiring", "acm-certificate-quantum-readiness"),
            "RSA-2048: quantum-vulnerable",
        ),
        (
            ("certificate-fine", "acm-certificate-quantum-readiness"),
            "RSA-2048: quantum-vulnerable",
        ),
        (
            ("certificate-pending", "acm-certificate-quantum-readiness"),
            "RSA-2048: quantum-vulnerable",
        ),
        // Rotation and customer managed keys are not set up for the other
        // secrets, and moto keeps no rotation history.
        (("secret-read", "secret-rotation-enabled"), ""),
        (("secret-public", "secret-rotation-enabled"), ""),
        (("secret-read", "secret-customer-managed-key"), ""),
        (("secret-public", "secret-customer-managed-key"), ""),
        (
            ("secret-rotation-failed", "secret-customer-managed-key"),
            "",
        ),
    ])
}

/// Passing verdicts that a wrong comparison would turn into failures.
fn expected_passes() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        ("key-used", "kms-key-unused", "last used"),
        ("key-used", "kms-key-used-by-other-account", ""),
        ("key-used", "kms-key-rotation", ""),
        (
            "key-used",
            "kms-key-quantum-readiness",
            "AES-256-GCM: quantum-safe",
        ),
        ("key-caller-account", "kms-key-policy-public", ""),
        ("secret-read", "secret-unused", ""),
        ("certificate-fine", "acm-certificate-expiring", "expires in"),
        ("certificate-fine", "acm-certificate-expired", ""),
    ]
}

#[test]
fn every_verdict_matches_the_known_answer() {
    let moto = Moto::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let assets = runtime.block_on(build_assets(&moto.endpoint));
    std::thread::sleep(std::time::Duration::from_secs(
        EXPIRED_AFTER_SECONDS.unsigned_abs() + 1,
    ));
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let trail = work.path().join("trail");
    write_trail(&trail, &assets, Utc::now());

    let scan = keyward(&store, &moto.endpoint, &["scan", "--regions", REGION]);
    assert_eq!(scan.status.code(), Some(0), "{}", text(&scan.stderr));
    let ingest = keyward(&store, &moto.endpoint, &["ingest", trail.to_str().unwrap()]);
    assert_eq!(ingest.status.code(), Some(0), "{}", text(&ingest.stderr));
    let check = keyward(&store, &moto.endpoint, &["check"]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check.stderr));
    let summary = text(&check.stdout);
    assert!(
        summary.contains(&format!(
            "Post-quantum readiness of keys and certificates by account:\n  {ACCOUNT}: 3 quantum-vulnerable, 0 weakened, "
        )),
        "{summary}"
    );

    let sql = "SELECT rule_id, resource_arn, verdict, severity, cause FROM findings";
    let output = keyward(&store, &moto.endpoint, &["sql", "--format", "json", sql]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let findings: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let label_of: BTreeMap<&str, &str> = assets
        .iter()
        .map(|(label, arn)| (arn.as_str(), *label))
        .collect();
    let verdict = |label: &str, rule: &str| -> Option<(String, String, String)> {
        findings
            .iter()
            .find(|f| f["rule_id"] == rule && f["resource_arn"] == assets[label].as_str())
            .map(|f| {
                let field = |name: &str| f[name].as_str().unwrap_or_default().to_owned();
                (field("verdict"), field("severity"), field("cause"))
            })
    };

    let failures: BTreeSet<(&str, &str)> = findings
        .iter()
        .filter(|f| f["verdict"] == "FAIL")
        .filter_map(|f| {
            let label = label_of.get(f["resource_arn"].as_str()?)?;
            Some((*label, f["rule_id"].as_str()?))
        })
        .collect();
    let expected = expected_failures();
    let expected_set: BTreeSet<(&str, &str)> = expected.keys().copied().collect();
    assert_eq!(
        failures.difference(&expected_set).collect::<Vec<_>>(),
        Vec::<&(&str, &str)>::new(),
        "unexpected failures"
    );
    assert_eq!(
        expected_set.difference(&failures).collect::<Vec<_>>(),
        Vec::<&(&str, &str)>::new(),
        "missing failures"
    );
    for ((label, rule), fragment) in expected {
        let (_, _, cause) = verdict(label, rule).unwrap();
        assert!(cause.contains(fragment), "{label} {rule}: {cause}");
    }
    let (_, severity, _) = verdict("key-deleting", "kms-key-inactive-in-use").unwrap();
    assert_eq!(severity, "CRITICAL");

    for (label, rule, fragment) in expected_passes() {
        let (verdict, _, cause) =
            verdict(label, rule).unwrap_or_else(|| panic!("no finding of {rule} for {label}"));
        assert_eq!(verdict, "PASS", "{label} {rule}: {cause}");
        assert!(cause.contains(fragment), "{label} {rule}: {cause}");
    }
    // No finding is UNKNOWN: the scan read everything and the trail covers
    // the windows. GetKeyLastUsage is not in moto, so CloudTrail decides.
    let unknown: Vec<&Value> = findings
        .iter()
        .filter(|f| f["verdict"] == "UNKNOWN")
        .filter(|f| label_of.contains_key(f["resource_arn"].as_str().unwrap_or_default()))
        .collect();
    assert!(unknown.is_empty(), "{unknown:#?}");
}
