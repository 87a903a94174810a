//! A store for the dashboard tests: the hand-checked query events, two
//! scans whose inventory is written directly, and a `keyward check` after
//! each, so that the findings, the trend and the assets are known.
//!
//! Values that must stay text are planted in it: a tag value, a key
//! description and a Private CA key algorithm with HTML markup, and an
//! alias with quotes.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use keyward_store::Store;
use keyward_store::inventory::{
    AliasRecord, AuthorityRecord, CertificateRecord, CoverageRecord, KeyRecord, ScanRecord,
    SecretRecord, Snapshot, Tag,
};

/// Accounts of the query events, which the inventory reuses.
pub const ACCOUNT_A: &str = "111122223333";
/// The second account.
pub const ACCOUNT_B: &str = "444455556666";

/// Key of account A in us-east-1 that the events use most.
pub const KEY_A: &str =
    "arn:aws:kms:us-east-1:111122223333:key/1111aaaa-1111-4111-8111-111111111111";
/// Key of account A in eu-west-1.
pub const KEY_A_EU: &str =
    "arn:aws:kms:eu-west-1:111122223333:key/2222bbbb-2222-4222-8222-222222222222";
/// Key of account B in us-east-1.
pub const KEY_B: &str =
    "arn:aws:kms:us-east-1:444455556666:key/3333cccc-3333-4333-8333-333333333333";
/// The signing key of account B in eu-west-1.
pub const KEY_B_SIGNING: &str =
    "arn:aws:kms:eu-west-1:444455556666:key/5555eeee-5555-4555-8555-555555555555";

/// A tag value that would run if a page parsed it as HTML.
pub const SCRIPT_TAG_VALUE: &str = "<script>window.keywardInjected = 1</script>";
/// A key description with an HTML event handler.
pub const MARKUP_DESCRIPTION: &str = "<img src=x onerror=\"window.keywardInjected = 2\">";
/// A Private CA key algorithm that keyward does not know, with markup.
pub const MARKUP_KEY_ALGORITHM: &str = "<svg onload=\"window.keywardInjected = 3\">";
/// An alias whose name contains both kinds of quotes.
pub const QUOTED_ALIAS: &str = "alias/o'brien-\"quoted\"";

/// Secret of account A that is unused and does not rotate.
pub const SECRET_A: &str =
    "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db/password-a1B2c3";
/// Certificate of account A that expires in 20 days.
pub const CERT_EXPIRING: &str =
    "arn:aws:acm:us-east-1:111122223333:certificate/0a0a0a0a-0000-4000-8000-000000000001";
/// Certificate of account A in eu-west-1 that expires in 45 days.
pub const CERT_LATER: &str =
    "arn:aws:acm:eu-west-1:111122223333:certificate/0a0a0a0a-0000-4000-8000-000000000002";
/// Certificate of account B waiting for validation.
pub const CERT_PENDING: &str =
    "arn:aws:acm:eu-west-1:444455556666:certificate/0a0a0a0a-0000-4000-8000-000000000003";

/// Builds the store under `directory` and returns its path. `keyward` is
/// the binary under test.
pub fn dashboard_store(keyward: &Path, directory: &Path) -> PathBuf {
    let store_path = directory.join("store");
    let events = super::fixture("queries/events.json");
    run(keyward, &store_path, &["ingest", events.to_str().unwrap()]);

    let store = Store::open(&store_path).unwrap();
    let now = Utc::now();
    for (index, age_days) in [(1, 2), (2, 0)] {
        let scan_time = now - Duration::days(age_days) - Duration::minutes(5);
        let snapshot = snapshot(index, scan_time, now);
        {
            let _lock = store.lock().unwrap();
            store.write_snapshot(&snapshot).unwrap();
        }
        // `keyward check` exits with 1 when a failure is found, which this
        // store is made to have.
        let status = Command::new(keyward)
            .arg("--store")
            .arg(&store_path)
            .args(["check", "--fail-on", "critical"])
            .env_remove("KEYWARD_STORE")
            .output()
            .unwrap();
        assert!(
            status.status.code() == Some(0) || status.status.code() == Some(1),
            "keyward check failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    }
    store_path
}

fn run(keyward: &Path, store: &Path, args: &[&str]) {
    let output = Command::new(keyward)
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("KEYWARD_STORE")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "keyward {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Builds scan number `index`. The first scan has one more key without
/// rotation than the second, so the trend falls.
fn snapshot(index: u32, started: DateTime<Utc>, now: DateTime<Utc>) -> Snapshot {
    let scan_id = format!("20260101T000000Z-scan{index}");
    let mut snapshot = Snapshot {
        scan: ScanRecord {
            scan_id: scan_id.clone(),
            started_at: started,
            finished_at: started + Duration::minutes(1),
            caller_account: Some(ACCOUNT_A.to_owned()),
            accounts: 2,
            account_regions: 4,
            complete: true,
            keyward_version: "test".to_owned(),
        },
        ..Snapshot::default()
    };
    for account in [ACCOUNT_A, ACCOUNT_B] {
        for region in ["us-east-1", "eu-west-1"] {
            for service in ["kms", "acm", "acm-pca", "secretsmanager"] {
                snapshot.coverage.push(CoverageRecord {
                    scan_id: scan_id.clone(),
                    account_id: account.to_owned(),
                    region: region.to_owned(),
                    service: service.to_owned(),
                    ..CoverageRecord::default()
                });
            }
        }
    }
    snapshot.keys = keys(&scan_id, index, now);
    snapshot.aliases = vec![
        alias(&scan_id, "alias/app-data", KEY_A),
        alias(&scan_id, QUOTED_ALIAS, KEY_A),
    ];
    snapshot.certificates = certificates(&scan_id, now);
    snapshot.authorities = vec![AuthorityRecord {
        scan_id: scan_id.clone(),
        account_id: ACCOUNT_A.to_owned(),
        region: "us-east-1".to_owned(),
        arn: "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/0b0b0b0b-0000-4000-8000-000000000001".to_owned(),
        authority_type: Some("ROOT".to_owned()),
        status: Some("ACTIVE".to_owned()),
        common_name: Some("Example Root CA".to_owned()),
        key_algorithm: Some(MARKUP_KEY_ALGORITHM.to_owned()),
        not_after: Some(now + Duration::days(3650)),
        ..AuthorityRecord::default()
    }];
    snapshot.secrets = secrets(&scan_id, now);
    snapshot
}

fn place(arn: &str) -> (String, String) {
    let parts: Vec<&str> = arn.split(':').collect();
    (parts[4].to_owned(), parts[3].to_owned())
}

fn keys(scan_id: &str, index: u32, now: DateTime<Utc>) -> Vec<KeyRecord> {
    let key = |arn: &str, rotation: Option<bool>, last_used: DateTime<Utc>| {
        let (account_id, region) = place(arn);
        KeyRecord {
            scan_id: scan_id.to_owned(),
            account_id,
            region,
            key_id: arn.rsplit('/').next().unwrap().to_owned(),
            arn: arn.to_owned(),
            key_manager: Some("CUSTOMER".to_owned()),
            key_state: Some("Enabled".to_owned()),
            enabled: Some(true),
            key_spec: Some("SYMMETRIC_DEFAULT".to_owned()),
            key_usage: Some("ENCRYPT_DECRYPT".to_owned()),
            origin: Some("AWS_KMS".to_owned()),
            creation_date: Some(now - Duration::days(400)),
            rotation_enabled: rotation,
            policy: Some(key_policy(arn)),
            usage_known: true,
            last_used_at: Some(last_used),
            usage_tracking_start: Some(now - Duration::days(400)),
            ..KeyRecord::default()
        }
    };
    let mut first = key(KEY_A, Some(false), now - Duration::days(200));
    first.aliases = vec!["alias/app-data".to_owned(), QUOTED_ALIAS.to_owned()];
    first.tags = vec![Tag {
        key: "owner".to_owned(),
        value: SCRIPT_TAG_VALUE.to_owned(),
    }];
    first.description = Some(MARKUP_DESCRIPTION.to_owned());
    let second = key(KEY_A_EU, Some(false), now - Duration::days(3));
    let third = key(KEY_B, Some(index == 2), now - Duration::days(1));
    let mut signing = key(KEY_B_SIGNING, None, now - Duration::days(1));
    signing.key_spec = Some("RSA_2048".to_owned());
    signing.key_usage = Some("SIGN_VERIFY".to_owned());
    vec![first, second, third, signing]
}

fn key_policy(arn: &str) -> String {
    let (account, _) = place(arn);
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Enable IAM policies", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "<b>Partner</b> decrypt", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
             "Action": ["kms:Decrypt"], "Resource": "*"}
        ]
    })
    .to_string()
}

fn alias(scan_id: &str, name: &str, key_arn: &str) -> AliasRecord {
    let (account_id, region) = place(key_arn);
    AliasRecord {
        scan_id: scan_id.to_owned(),
        arn: Some(format!("arn:aws:kms:{region}:{account_id}:{name}")),
        account_id,
        region,
        alias_name: name.to_owned(),
        target_key_id: key_arn.rsplit('/').next().map(str::to_owned),
        creation_date: None,
    }
}

fn certificates(scan_id: &str, now: DateTime<Utc>) -> Vec<CertificateRecord> {
    let certificate = |arn: &str, status: &str, days_left: Option<i64>| {
        let (account_id, region) = place(arn);
        CertificateRecord {
            scan_id: scan_id.to_owned(),
            account_id,
            region,
            arn: arn.to_owned(),
            domain_name: Some("www.example.com".to_owned()),
            status: Some(status.to_owned()),
            certificate_type: Some("AMAZON_ISSUED".to_owned()),
            key_algorithm: Some("RSA-2048".to_owned()),
            not_before: days_left.map(|_| now - Duration::days(300)),
            not_after: days_left.map(|days| now + Duration::days(days)),
            in_use_by: vec![
                "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/1"
                    .to_owned(),
            ],
            renewal_eligibility: Some("INELIGIBLE".to_owned()),
            ..CertificateRecord::default()
        }
    };
    vec![
        certificate(CERT_EXPIRING, "ISSUED", Some(20)),
        certificate(CERT_LATER, "ISSUED", Some(45)),
        certificate(CERT_PENDING, "PENDING_VALIDATION", None),
    ]
}

fn secrets(scan_id: &str, now: DateTime<Utc>) -> Vec<SecretRecord> {
    let unused = SecretRecord {
        scan_id: scan_id.to_owned(),
        account_id: ACCOUNT_A.to_owned(),
        region: "us-east-1".to_owned(),
        arn: SECRET_A.to_owned(),
        name: "prod/db/password".to_owned(),
        rotation_enabled: Some(false),
        created_at: Some(now - Duration::days(500)),
        last_accessed_at: Some(now - Duration::days(200)),
        tags: vec![Tag {
            key: "note".to_owned(),
            value: SCRIPT_TAG_VALUE.to_owned(),
        }],
        ..SecretRecord::default()
    };
    let rotating = SecretRecord {
        scan_id: scan_id.to_owned(),
        account_id: ACCOUNT_B.to_owned(),
        region: "us-east-1".to_owned(),
        arn: "arn:aws:secretsmanager:us-east-1:444455556666:secret:ci/deploy-token-g7H8i9"
            .to_owned(),
        name: "ci/deploy-token".to_owned(),
        rotation_enabled: Some(true),
        rotation_interval_days: Some(30),
        last_rotated_at: Some(now - Duration::days(5)),
        next_rotation_at: Some(now + Duration::days(25)),
        created_at: Some(now - Duration::days(300)),
        last_accessed_at: Some(now - Duration::days(1)),
        ..SecretRecord::default()
    };
    vec![unused, rotating]
}
