//! `keyward scan` and `keyward inventory` as a user runs them, against a
//! moto server of the test's own.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

#[path = "../crates/keyward-scan/tests/common/mod.rs"]
mod emulator;
mod emulator_cli;

use emulator::Moto;
use emulator_cli::{keyward, sdk_config, text};

async fn create_assets(endpoint: &str) -> String {
    let config = sdk_config(endpoint).await;
    let key = aws_sdk_kms::Client::new(&config)
        .create_key()
        .description("<script>alert(1)</script>")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name("db-password")
        .secret_string("never-read")
        .send()
        .await
        .unwrap();
    key
}

#[test]
fn scan_stores_an_inventory_that_inventory_prints() {
    let moto = Moto::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let key_id = runtime.block_on(create_assets(&moto.endpoint));
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");

    let scan = keyward(
        &store,
        &moto.endpoint,
        &["scan", "--regions", "us-east-1", "--summary", "json"],
    );
    assert_eq!(scan.status.code(), Some(0), "{}", text(&scan.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&scan.stdout).unwrap();
    assert_eq!(summary["keys"], 1);
    assert_eq!(summary["secrets"], 1);
    assert_eq!(summary["complete"], true);
    // moto lacks GetKeyLastUsage: the key is read in part, not dropped.
    assert_eq!(summary["assets_read_in_part"], 1);

    let keys = keyward(
        &store,
        &moto.endpoint,
        &["inventory", "keys", "--format", "json"],
    );
    assert!(keys.status.success(), "{}", text(&keys.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&keys.stdout).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["key_id"], key_id.as_str());
    assert_eq!(rows[0]["usage_known"], false);
    assert_eq!(rows[0]["description"], "<script>alert(1)</script>");

    let secrets = keyward(&store, &moto.endpoint, &["inventory", "secrets"]);
    assert!(text(&secrets.stdout).contains("db-password"));
    assert!(!text(&secrets.stdout).contains("never-read"));

    let coverage = keyward(
        &store,
        &moto.endpoint,
        &["inventory", "coverage", "--format", "csv"],
    );
    let coverage = text(&coverage.stdout);
    for service in ["kms", "acm", "acm-pca", "secretsmanager"] {
        assert!(
            coverage.contains(&format!(",us-east-1,{service},ok,")),
            "{coverage}"
        );
    }
    // IAM is global: one row for the account, with no Region.
    assert!(coverage.contains("123456789012,,iam,ok,"), "{coverage}");

    let accounts = keyward(
        &store,
        &moto.endpoint,
        &["inventory", "accounts", "--format", "json"],
    );
    assert!(accounts.status.success(), "{}", text(&accounts.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&accounts.stdout).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["account_id"], "123456789012");
    assert_eq!(rows[0]["scanned"], true);
    let policies = keyward(
        &store,
        &moto.endpoint,
        &["inventory", "iam-policies", "--region", "us-east-1"],
    );
    assert_eq!(policies.status.code(), Some(1));
    assert!(
        text(&policies.stderr).contains("--region does not apply to iam_policies"),
        "{}",
        text(&policies.stderr)
    );

    // A second scan is kept beside the first.
    let again = keyward(&store, &moto.endpoint, &["scan", "--regions", "us-east-1"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains("Coverage is complete."));
    let scans = keyward(
        &store,
        &moto.endpoint,
        &["inventory", "scans", "--format", "jsonl"],
    );
    assert_eq!(text(&scans.stdout).lines().count(), 2);
}

#[test]
fn scan_without_organization_fails_with_a_clear_error() {
    let moto = Moto::start();
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let scan = keyward(
        &store,
        &moto.endpoint,
        &["scan", "--org", "--regions", "us-east-1"],
    );
    assert_eq!(scan.status.code(), Some(1));
    let stderr = text(&scan.stderr);
    // moto lists no account for a management account without an
    // organization, where AWS returns AWSOrganizationsNotInUseException.
    assert!(stderr.contains("no account to scan"), "{stderr}");

    let inventory = keyward(&store, &moto.endpoint, &["inventory"]);
    assert_eq!(inventory.status.code(), Some(1));
    assert!(text(&inventory.stderr).contains("contains no finished scan"));
}

#[test]
fn invalid_values_are_rejected_before_any_call() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    // Nothing listens here: a value that reached the scan would fail
    // differently, with exit code 1.
    let endpoint = "http://127.0.0.1:9";
    for args in [
        &["scan", "--regions", "bad region"][..],
        &["scan", "--regions", "US-WEST-2"],
        &["scan", "--accounts", "abc"],
        &["scan", "--exclude-accounts", "12345"],
        &["scan", "--endpoint-url", "not a url"],
        &["scan", "--services", "ec2"],
    ] {
        let output = keyward(&store, endpoint, args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert!(
            text(&output.stderr).contains("invalid"),
            "{}",
            text(&output.stderr)
        );
    }
    assert!(
        !store.exists(),
        "no store is created for an invalid command line"
    );
}

#[test]
fn unknown_scan_id_is_an_error() {
    let moto = Moto::start();
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let scan = keyward(&store, &moto.endpoint, &["scan", "--regions", "us-east-1"]);
    assert_eq!(scan.status.code(), Some(0), "{}", text(&scan.stderr));
    let output = keyward(
        &store,
        &moto.endpoint,
        &["inventory", "keys", "--scan", "nope"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("scan \"nope\" not found"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn check_reports_failures_and_then_their_resolution() {
    let moto = Moto::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let key_id = runtime.block_on(create_assets(&moto.endpoint));
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let scan = keyward(&store, &moto.endpoint, &["scan", "--regions", "us-east-1"]);
    assert_eq!(scan.status.code(), Some(0), "{}", text(&scan.stderr));

    // The new key does not rotate: a MEDIUM failure.
    let check = keyward(&store, &moto.endpoint, &["check"]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check.stderr));
    let summary = text(&check.stdout);
    assert!(summary.contains("kms-key-rotation: 1"), "{summary}");
    let question = keyward(
        &store,
        &moto.endpoint,
        &["query", "kms-keys-without-autorotation", "--format", "csv"],
    );
    assert_eq!(
        text(&question.stdout),
        "account,region,keys\n123456789012,us-east-1,1\n",
        "{}",
        text(&question.stderr)
    );
    let lenient = keyward(&store, &moto.endpoint, &["check", "--fail-on", "critical"]);
    assert_eq!(lenient.status.code(), Some(0), "{}", text(&lenient.stdout));

    // Rotation turned on: the next check reports the finding resolved.
    runtime.block_on(async {
        let config = sdk_config(&moto.endpoint).await;
        aws_sdk_kms::Client::new(&config)
            .enable_key_rotation()
            .key_id(&key_id)
            .send()
            .await
            .unwrap();
    });
    let rescan = keyward(&store, &moto.endpoint, &["scan", "--regions", "us-east-1"]);
    assert_eq!(rescan.status.code(), Some(0), "{}", text(&rescan.stderr));
    let again = keyward(&store, &moto.endpoint, &["check", "--fail-on", "critical"]);
    assert!(
        text(&again.stdout).contains("1 resolved"),
        "{}",
        text(&again.stdout)
    );
    let resolved = keyward(
        &store,
        &moto.endpoint,
        &[
            "sql",
            "SELECT rule_id, verdict, workflow FROM findings WHERE workflow = 'RESOLVED'",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        text(&resolved.stdout),
        "rule_id,verdict,workflow\nkms-key-rotation,PASS,RESOLVED\n"
    );

    let bad = keyward(
        &store,
        &moto.endpoint,
        &["check", "--config", "/no/such/file"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("/no/such/file"));
}

#[test]
fn rules_list_snapshot() {
    let work = tempfile::tempdir().unwrap();
    let output = keyward(work.path(), "http://127.0.0.1:9", &["rules"]);
    assert!(output.status.success());
    insta::assert_snapshot!(text(&output.stdout));
}

#[test]
fn unreachable_endpoint_is_named() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    // Port 9 (discard) has no listener on a test machine.
    let endpoint = "http://127.0.0.1:9";
    let scan = keyward(&store, endpoint, &["scan", "--regions", "us-east-1"]);
    assert_eq!(scan.status.code(), Some(1));
    let stderr = text(&scan.stderr);
    assert!(
        stderr.contains("cannot reach http://127.0.0.1:9"),
        "{stderr}"
    );
    assert!(stderr.contains("GetCallerIdentity"), "{stderr}");
}

#[test]
fn ou_exception_without_org_scan_warns_once() {
    let moto = Moto::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(create_assets(&moto.endpoint));
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let scan = keyward(&store, &moto.endpoint, &["scan", "--regions", "us-east-1"]);
    assert_eq!(scan.status.code(), Some(0), "{}", text(&scan.stderr));

    let config = work.path().join("keyward.toml");
    std::fs::write(
        &config,
        "[[exceptions]]\nrule = \"*\"\nou = \"ou-ab12-11111111\"\nreason = \"sandbox\"\nexpires = 2099-12-31\n",
    )
    .unwrap();
    let check = keyward(
        &store,
        &moto.endpoint,
        &["check", "--config", config.to_str().unwrap()],
    );
    assert_eq!(check.status.code(), Some(1), "{}", text(&check.stderr));
    let stderr = text(&check.stderr);
    assert_eq!(
        stderr.matches("exceptions by ou match no resource").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("123456789012"), "{stderr}");
    // The exception suppresses nothing.
    assert!(
        text(&check.stdout).contains("0 suppressed by exceptions"),
        "{}",
        text(&check.stdout)
    );
}

const DECRYPT_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"DecryptAll","Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}"#;

/// Gives the role `app` of an account an inline policy that decrypts with
/// every key.
async fn put_decrypt_all_role(config: &aws_config::SdkConfig) {
    let iam = aws_sdk_iam::Client::new(config);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name("app")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("app")
        .policy_name("decrypt-all")
        .policy_document(DECRYPT_ALL)
        .send()
        .await
        .unwrap();
}

/// Builds an organization with a member account in the OU Sandbox, and
/// the same decrypting role in the management and the member account.
/// Returns the member account and the OU id.
async fn create_sandbox_organization(endpoint: &str) -> (String, String) {
    let config = sdk_config(endpoint).await;
    let organizations = aws_sdk_organizations::Client::new(&config);
    organizations
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let root = organizations.list_roots().send().await.unwrap().roots()[0]
        .id()
        .unwrap()
        .to_owned();
    let sandbox = organizations
        .create_organizational_unit()
        .parent_id(&root)
        .name("Sandbox")
        .send()
        .await
        .unwrap()
        .organizational_unit
        .unwrap()
        .id
        .unwrap();
    let member = organizations
        .create_account()
        .account_name("sandbox")
        .email("sandbox@example.com")
        .send()
        .await
        .unwrap()
        .create_account_status
        .unwrap()
        .account_id
        .unwrap();
    organizations
        .move_account()
        .account_id(&member)
        .source_parent_id(&root)
        .destination_parent_id(&sandbox)
        .send()
        .await
        .unwrap();

    put_decrypt_all_role(&config).await;
    let assumed = aws_sdk_sts::Client::new(&config)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{member}:role/KeywardAudit"))
        .role_session_name("setup")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let member_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            assumed.access_key_id(),
            assumed.secret_access_key(),
            Some(assumed.session_token().to_owned()),
            None,
            "test",
        ))
        .load()
        .await;
    put_decrypt_all_role(&member_config).await;
    (member, sandbox)
}

#[test]
fn ou_exception_suppresses_the_sandbox_finding() {
    let moto = Moto::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (member, sandbox) = runtime.block_on(create_sandbox_organization(&moto.endpoint));
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let scan = keyward(
        &store,
        &moto.endpoint,
        &[
            "scan",
            "--org",
            "--regions",
            "us-east-1",
            "--services",
            "iam",
        ],
    );
    assert_eq!(scan.status.code(), Some(0), "{}", text(&scan.stderr));

    let config = work.path().join("keyward.toml");
    std::fs::write(
        &config,
        format!(
            "[[exceptions]]\nrule = \"iam-inline-policy-kms-decrypt-all-keys\"\nou = \"{sandbox}\"\nreason = \"sandbox\"\nexpires = 2099-12-31\n"
        ),
    )
    .unwrap();
    let check = keyward(
        &store,
        &moto.endpoint,
        &["check", "--config", config.to_str().unwrap()],
    );
    assert_eq!(check.status.code(), Some(1), "{}", text(&check.stderr));
    assert!(
        !text(&check.stderr).contains("exceptions by ou match no resource"),
        "{}",
        text(&check.stderr)
    );
    let findings = keyward(
        &store,
        &moto.endpoint,
        &[
            "sql",
            "SELECT account_id, resource_arn, verdict, workflow FROM findings \
             WHERE rule_id = 'iam-inline-policy-kms-decrypt-all-keys'",
            "--format",
            "csv",
        ],
    );
    let csv = text(&findings.stdout);
    let mut rows: Vec<&str> = csv.lines().skip(1).collect();
    rows.sort_unstable();
    let mut expected = vec![
        "123456789012,arn:aws:iam::123456789012:role/app,FAIL,NEW".to_owned(),
        format!("{member},arn:aws:iam::{member}:role/app,FAIL,SUPPRESSED"),
    ];
    expected.sort_unstable();
    assert_eq!(rows, expected, "{}", text(&findings.stderr));
}
