//! Scans of an organization built in the AWS emulator moto, through a
//! recording proxy.
//!
//! moto lacks two operations that the scanner calls, and the proxy replaces
//! each with the smallest answer of AWS's documented shape:
//! `account:ListRegions` (the Regions below) and `kms:GetKeyLastUsage`
//! (one key used for `Decrypt`, the others unused since tracking began).
//! moto also assumes any role, so the proxy refuses the role of one member
//! account, and it injects the other faults: a service that answers
//! AccessDenied in one Region, and throttling.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_acm::types::KeyAlgorithm as CertificateKeyAlgorithm;
use aws_sdk_acmpca::types::{
    Asn1Subject, CertificateAuthorityConfiguration, CertificateAuthorityType, KeyAlgorithm,
    SigningAlgorithm,
};
use aws_sdk_kms::types::{GrantOperation, KeySpec, KeyUsageType};
use aws_sdk_organizations::types::OrganizationFeatureSet;
use aws_sdk_secretsmanager::types::{ReplicaRegionType, RotationRulesType};
use keyward_scan::{NoProgress, ScanOptions, Service};
use keyward_store::inventory::{CoverageStatus, PolicyType, PrincipalType, Snapshot};

use common::{Action, Every, Moto, Proxy, Request, form_field, make_certificate};

const MANAGEMENT: &str = "123456789012";
const SCANNED_REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const PUBLIC_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#;
const GRANTEE: &str = "arn:aws:iam::999999999999:root";
/// Lifetime of the imported certificate that expires during the test: long
/// enough to make and import it on a loaded machine.
const SHORT_LIFETIME_SECONDS: i64 = 8;

/// Operations that return secret material; the scanner must never send
/// them.
const FORBIDDEN_OPERATIONS: [&str; 9] = [
    "GetSecretValue",
    "BatchGetSecretValue",
    "ExportCertificate",
    "Decrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GetCertificateAuthorityCsr",
];

fn credentials(access_key: &str, secret: &str, token: Option<&str>) -> Credentials {
    Credentials::new(access_key, secret, token.map(str::to_owned), None, "test")
}

async fn config(endpoint: &str, credentials: Credentials, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(credentials)
        .load()
        .await
}

fn management_credentials() -> Credentials {
    credentials("testing", "testing", None)
}

/// What the organization holds, to compare with what a scan finds.
#[derive(Debug, Default)]
struct Organization {
    member: String,
    locked_member: String,
    rotating_key: String,
    disabled_key: String,
    pending_key: String,
    signing_key: String,
    multi_region_key: String,
    public_key: String,
    member_keys: Vec<String>,
    certificates: Vec<String>,
    /// When the short-lived imported certificate has surely expired.
    expiring_at: Option<std::time::Instant>,
    /// Imported certificates, with the key algorithm and status expected.
    imported: Vec<(String, &'static str, &'static str)>,
    authority: String,
    secret_names: BTreeSet<String>,
}

async fn create_key(kms: &aws_sdk_kms::Client) -> String {
    kms.create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id
}

/// Builds the organization: the management account with keys in every
/// state, certificates, a CA and secrets; a member account with a few
/// assets in two Regions; and a member whose role the proxy refuses.
async fn build_organization(endpoint: &str) -> Organization {
    let mut org = Organization::default();
    let management = config(endpoint, management_credentials(), "us-east-1").await;
    let organizations = aws_sdk_organizations::Client::new(&management);
    organizations
        .create_organization()
        .feature_set(OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let mut members = Vec::new();
    for name in ["workloads", "locked"] {
        let status = organizations
            .create_account()
            .account_name(name)
            .email(format!("{name}@example.com"))
            .send()
            .await
            .unwrap()
            .create_account_status
            .unwrap();
        members.push(status.account_id.unwrap());
    }
    org.member = members[0].clone();
    org.locked_member = members[1].clone();

    let kms = aws_sdk_kms::Client::new(&management);
    org.rotating_key = create_key(&kms).await;
    kms.enable_key_rotation()
        .key_id(&org.rotating_key)
        .send()
        .await
        .unwrap();
    kms.create_alias()
        .alias_name("alias/payments")
        .target_key_id(&org.rotating_key)
        .send()
        .await
        .unwrap();
    kms.tag_resource()
        .key_id(&org.rotating_key)
        .tags(
            aws_sdk_kms::types::Tag::builder()
                .tag_key("team")
                .tag_value("payments")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    kms.create_grant()
        .key_id(&org.rotating_key)
        .grantee_principal(GRANTEE)
        .operations(GrantOperation::Decrypt)
        .send()
        .await
        .unwrap();

    org.disabled_key = create_key(&kms).await;
    kms.disable_key()
        .key_id(&org.disabled_key)
        .send()
        .await
        .unwrap();
    org.pending_key = create_key(&kms).await;
    kms.schedule_key_deletion()
        .key_id(&org.pending_key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    org.signing_key = kms
        .create_key()
        .key_spec(KeySpec::Rsa2048)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    org.multi_region_key = kms
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    kms.replicate_key()
        .key_id(&org.multi_region_key)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap();
    org.public_key = kms
        .create_key()
        .policy(PUBLIC_POLICY)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;

    let acm = aws_sdk_acm::Client::new(&management);
    for (domain, algorithm) in [
        ("rsa.example.com", CertificateKeyAlgorithm::Rsa2048),
        ("p256.example.com", CertificateKeyAlgorithm::EcPrime256v1),
        ("p384.example.com", CertificateKeyAlgorithm::EcSecp384r1),
    ] {
        let arn = acm
            .request_certificate()
            .domain_name(domain)
            .key_algorithm(algorithm)
            .send()
            .await
            .unwrap()
            .certificate_arn
            .unwrap();
        org.certificates.push(arn);
    }

    // Imported certificates carry their own keys, so their key types are
    // real in moto. AWS and moto reject an expired certificate on import,
    // so one expires a few seconds after it is made. The tests that check
    // it wait for `expiring_at`.
    let days = 24 * 3600;
    for (key, seconds, algorithm, status) in [
        ("rsa-1024", 200 * days, "RSA_1024", "ISSUED"),
        ("ec-secp384r1", 200 * days, "EC_secp384r1", "ISSUED"),
        ("ec-secp521r1", 200 * days, "EC_secp521r1", "ISSUED"),
        ("rsa-2048", SHORT_LIFETIME_SECONDS, "RSA_2048", "EXPIRED"),
    ] {
        if seconds == SHORT_LIFETIME_SECONDS {
            org.expiring_at = Some(
                std::time::Instant::now()
                    + std::time::Duration::from_secs(SHORT_LIFETIME_SECONDS as u64 + 1),
            );
        }
        let (certificate, private_key) =
            make_certificate(key, seconds, &format!("{key}.example.com"));
        let arn = acm
            .import_certificate()
            .certificate(aws_sdk_acm::primitives::Blob::new(certificate))
            .private_key(aws_sdk_acm::primitives::Blob::new(private_key))
            .send()
            .await
            .unwrap()
            .certificate_arn
            .unwrap();
        org.certificates.push(arn.clone());
        org.imported.push((arn, algorithm, status));
    }

    let pca = aws_sdk_acmpca::Client::new(&management);
    org.authority = pca
        .create_certificate_authority()
        .certificate_authority_type(CertificateAuthorityType::Root)
        .certificate_authority_configuration(
            CertificateAuthorityConfiguration::builder()
                .key_algorithm(KeyAlgorithm::Rsa2048)
                .signing_algorithm(SigningAlgorithm::Sha256Withrsa)
                .subject(Asn1Subject::builder().common_name("Example Root").build())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .certificate_authority_arn
        .unwrap();

    let secrets = aws_sdk_secretsmanager::Client::new(&management);
    for name in ["plain", "rotating", "replicated", "shared"] {
        let mut request = secrets.create_secret().name(name).secret_string("not-read");
        if name == "replicated" {
            request = request
                .add_replica_regions(ReplicaRegionType::builder().region("eu-west-1").build());
        }
        request.send().await.unwrap();
        org.secret_names.insert(name.to_owned());
    }
    secrets
        .rotate_secret()
        .secret_id("rotating")
        .rotation_rules(
            RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .send()
        .await
        .unwrap();
    secrets
        .put_resource_policy()
        .secret_id("shared")
        .resource_policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();

    // The member account, through a role session of moto's.
    let sts = aws_sdk_sts::Client::new(&management);
    let assumed = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{}:role/KeywardAudit", org.member))
        .role_session_name("setup")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let member_credentials = credentials(
        assumed.access_key_id(),
        assumed.secret_access_key(),
        Some(assumed.session_token()),
    );
    for region in ["us-east-1", "eu-west-1"] {
        let member = config(endpoint, member_credentials.clone(), region).await;
        let kms = aws_sdk_kms::Client::new(&member);
        org.member_keys.push(create_key(&kms).await);
    }
    let member = config(endpoint, member_credentials, "us-east-1").await;
    aws_sdk_secretsmanager::Client::new(&member)
        .create_secret()
        .name("member-secret")
        .secret_string("not-read")
        .send()
        .await
        .unwrap();
    org
}

/// Builds an `account:ListRegions` response as AWS returns it: the scanned Regions enabled
/// and one opt-in Region not enabled.
fn list_regions_answer() -> Action {
    let mut regions: Vec<String> = SCANNED_REGIONS
        .iter()
        .map(|name| format!(r#"{{"RegionName":"{name}","RegionOptStatus":"ENABLED_BY_DEFAULT"}}"#))
        .collect();
    regions.push(r#"{"RegionName":"af-south-1","RegionOptStatus":"DISABLED"}"#.to_owned());
    Action::Respond {
        status: 200,
        content_type: "application/json",
        body: format!(r#"{{"Regions":[{}]}}"#, regions.join(",")),
    }
}

/// Builds a `kms:GetKeyLastUsage` response in the shape that AWS documents.
fn last_usage_answer(request: &Request, used_key: &str) -> Action {
    let key_id = serde_json_field(&request.body, "KeyId");
    let usage = if key_id.contains(used_key) {
        r#","KeyLastUsage":{"Operation":"Decrypt","Timestamp":1780000000,"CloudTrailEventId":"0b2e3f4a-1111-2222-3333-444455556666","KmsRequestId":"r-1"}"#
    } else {
        ""
    };
    Action::Respond {
        status: 200,
        content_type: "application/x-amz-json-1.1",
        body: format!(
            r#"{{"KeyId":"{key_id}","TrackingStartDate":1775000000,"KeyCreationDate":1770000000{usage}}}"#
        ),
    }
}

/// Returns a string field of a flat JSON request body.
fn serde_json_field(body: &str, name: &str) -> String {
    let marker = format!("\"{name}\":\"");
    body.split(&marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

/// Starts a proxy that applies `faults`, then the stand-ins, then forwards
/// to moto.
fn proxy(
    moto: &Moto,
    used_key: String,
    faults: impl Fn(&Request) -> Option<Action> + Send + Sync + 'static,
) -> Proxy {
    Proxy::start(&moto.endpoint, move |request| {
        if let Some(action) = faults(request) {
            return action;
        }
        match (request.service.as_str(), request.operation.as_str()) {
            ("account", "/listRegions") => list_regions_answer(),
            ("kms", "GetKeyLastUsage") => last_usage_answer(request, &used_key),
            _ => Action::Forward,
        }
    })
}

async fn run_scan(endpoint: &str, options: ScanOptions) -> Snapshot {
    let options = ScanOptions {
        endpoint_url: Some(endpoint.to_owned()),
        ..options
    };
    let base = config(endpoint, management_credentials(), "us-east-1").await;
    let mut builder = base.to_builder();
    builder.set_retry_config(Some(
        aws_config::retry::RetryConfig::adaptive().with_max_attempts(options.max_attempts),
    ));
    keyward_scan::scan(&builder.build(), &options, &NoProgress)
        .await
        .unwrap()
}

fn organization_options() -> ScanOptions {
    ScanOptions {
        organization: true,
        ..ScanOptions::default()
    }
}

fn key<'a>(snapshot: &'a Snapshot, key_id: &str) -> &'a keyward_store::inventory::KeyRecord {
    snapshot
        .keys
        .iter()
        .find(|key| key.key_id == key_id && key.region == "us-east-1")
        .unwrap_or_else(|| panic!("key {key_id} not scanned"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_scan_finds_every_asset_and_names_every_gap() {
    let moto = Moto::start();
    let org = build_organization(&moto.endpoint).await;
    let locked = org.locked_member.clone();
    let refused = locked.clone();
    let proxy = proxy(&moto, org.rotating_key.clone(), move |request| {
        let locked_role = request.operation == "AssumeRole"
            && form_field(&request.body, "RoleArn").is_some_and(|arn| arn.contains(&refused));
        if locked_role {
            return Some(Action::xml_error(
                403,
                "AccessDenied",
                "not authorized to perform sts:AssumeRole",
            ));
        }
        (request.service == "acm" && request.region == "ap-southeast-2").then(|| {
            Action::json_error(
                400,
                "AccessDeniedException",
                "denied by a service control policy",
            )
        })
    });
    // Waits for the certificate imported to expire.
    if let Some(deadline) = org.expiring_at {
        std::thread::sleep(deadline.saturating_duration_since(std::time::Instant::now()));
    }
    let snapshot = run_scan(&proxy.endpoint, organization_options()).await;

    // Keys of every kind, with what the calls after DescribeKey add.
    let rotating = key(&snapshot, &org.rotating_key);
    assert_eq!(rotating.key_state.as_deref(), Some("Enabled"));
    assert_eq!(rotating.key_manager.as_deref(), Some("CUSTOMER"));
    assert_eq!(rotating.rotation_enabled, Some(true));
    assert_eq!(rotating.aliases, ["alias/payments"]);
    assert_eq!(rotating.tags.len(), 1);
    assert_eq!(rotating.tags[0].value, "payments");
    assert_eq!(rotating.grant_count, Some(1));
    assert_eq!(rotating.grantees, [GRANTEE]);
    assert!(rotating.usage_known);
    assert_eq!(rotating.last_used_operation.as_deref(), Some("Decrypt"));
    assert_eq!(
        rotating.last_used_event_id.as_deref(),
        Some("0b2e3f4a-1111-2222-3333-444455556666")
    );
    assert!(
        rotating.read_errors.is_empty(),
        "{:?}",
        rotating.read_errors
    );

    let disabled = key(&snapshot, &org.disabled_key);
    assert_eq!(disabled.key_state.as_deref(), Some("Disabled"));
    assert_eq!(disabled.enabled, Some(false));
    assert_eq!(disabled.rotation_enabled, Some(false));
    assert!(disabled.usage_known);
    assert_eq!(disabled.last_used_at, None);

    let pending = key(&snapshot, &org.pending_key);
    assert_eq!(pending.key_state.as_deref(), Some("PendingDeletion"));
    assert!(pending.deletion_date.is_some());

    let signing = key(&snapshot, &org.signing_key);
    assert_eq!(signing.key_spec.as_deref(), Some("RSA_2048"));
    assert_eq!(signing.key_usage.as_deref(), Some("SIGN_VERIFY"));
    assert_eq!(
        signing.rotation_enabled, None,
        "asymmetric keys do not rotate"
    );

    let multi_region = key(&snapshot, &org.multi_region_key);
    assert_eq!(multi_region.multi_region, Some(true));
    assert_eq!(multi_region.replica_regions, ["eu-west-1"]);
    let replica = snapshot
        .keys
        .iter()
        .find(|k| k.key_id == org.multi_region_key && k.region == "eu-west-1");
    assert!(replica.is_some(), "the replica key in eu-west-1 is scanned");

    let public = key(&snapshot, &org.public_key);
    assert!(
        public
            .policy
            .as_deref()
            .unwrap_or_default()
            .contains(r#""Principal":"*""#)
    );

    for member_key in &org.member_keys {
        let found = snapshot
            .keys
            .iter()
            .find(|k| &k.key_id == member_key)
            .unwrap();
        assert_eq!(found.account_id, org.member);
    }
    let management_keys = snapshot
        .keys
        .iter()
        .filter(|k| k.account_id == MANAGEMENT)
        .count();
    assert_eq!(management_keys, 7, "six keys and one replica");

    // Certificates of every key type. moto issues every requested
    // certificate as RSA 2048, so the key type filter, without which
    // ListCertificates returns RSA 2048 certificates only, is checked in
    // the request.
    let found: BTreeSet<&str> = snapshot
        .certificates
        .iter()
        .map(|c| c.arn.as_str())
        .collect();
    let created: BTreeSet<&str> = org.certificates.iter().map(String::as_str).collect();
    assert_eq!(found, created);
    let listing = proxy
        .requests()
        .into_iter()
        .find(|r| r.operation == "ListCertificates")
        .unwrap();
    for key_type in ["RSA_1024", "RSA_4096", "EC_secp521r1"] {
        assert!(listing.body.contains(key_type), "{}", listing.body);
    }

    assert_eq!(snapshot.authorities.len(), 1);
    assert_eq!(snapshot.authorities[0].arn, org.authority);
    assert_eq!(
        snapshot.authorities[0].common_name.as_deref(),
        Some("Example Root")
    );

    let secret = |name: &str, region: &str| {
        snapshot
            .secrets
            .iter()
            .find(|s| s.name == name && s.region == region && s.account_id == MANAGEMENT)
            .unwrap_or_else(|| panic!("secret {name} in {region} not scanned"))
    };
    for name in &org.secret_names {
        secret(name, "us-east-1");
    }
    let rotating = secret("rotating", "us-east-1");
    assert_eq!(rotating.rotation_enabled, Some(true));
    assert_eq!(rotating.rotation_interval_days, Some(30));
    let shared = secret("shared", "us-east-1");
    assert!(
        shared
            .policy
            .as_deref()
            .unwrap_or_default()
            .contains("999999999999")
    );
    assert_eq!(secret("plain", "us-east-1").policy, None);
    let replica = secret("replicated", "eu-west-1");
    assert_eq!(replica.primary_region.as_deref(), Some("us-east-1"));
    assert!(
        snapshot
            .secrets
            .iter()
            .any(|s| s.name == "member-secret" && s.account_id == org.member)
    );

    // Coverage: the refused role and the denied service, nothing else.
    assert!(!snapshot.scan.complete);
    let gaps: BTreeSet<(String, String, String, CoverageStatus)> = snapshot
        .coverage
        .iter()
        .filter(|row| row.status != CoverageStatus::Ok)
        .map(|row| {
            (
                row.account_id.clone(),
                row.region.clone(),
                row.service.clone(),
                row.status,
            )
        })
        .collect();
    let expected: BTreeSet<_> = [
        (
            locked.clone(),
            String::new(),
            "sts".to_owned(),
            CoverageStatus::AccessDenied,
        ),
        (
            MANAGEMENT.to_owned(),
            "ap-southeast-2".to_owned(),
            "acm".to_owned(),
            CoverageStatus::AccessDenied,
        ),
        (
            org.member.clone(),
            "ap-southeast-2".to_owned(),
            "acm".to_owned(),
            CoverageStatus::AccessDenied,
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(gaps, expected);
    let denied = snapshot
        .coverage
        .iter()
        .find(|row| row.account_id == locked)
        .unwrap();
    assert_eq!(denied.operation.as_deref(), Some("AssumeRole"));
    assert_eq!(denied.error_code.as_deref(), Some("AccessDenied"));
    // Every Regional service of both readable accounts, in each enabled
    // Region, and IAM once per account.
    let units = snapshot
        .coverage
        .iter()
        .filter(|row| !row.region.is_empty())
        .count();
    let regional = Service::ALL.iter().filter(|s| !s.is_global()).count();
    assert_eq!(units, 2 * SCANNED_REGIONS.len() * regional);
    let iam_accounts: BTreeSet<&str> = snapshot
        .coverage
        .iter()
        .filter(|row| row.service == "iam")
        .map(|row| row.account_id.as_str())
        .collect();
    assert_eq!(
        iam_accounts,
        BTreeSet::from([MANAGEMENT, org.member.as_str()])
    );
    assert!(
        snapshot
            .coverage
            .iter()
            .all(|row| row.region != "af-south-1"),
        "a Region that is not enabled is not scanned"
    );

    // Nothing that returns secret material was ever sent.
    for request in proxy.requests() {
        assert!(
            !FORBIDDEN_OPERATIONS.contains(&request.operation.as_str()),
            "the scan sent {}",
            request.operation
        );
    }

    // The snapshot survives the store.
    let directory = tempfile::tempdir().unwrap();
    let store = keyward_store::Store::create_or_open(directory.path()).unwrap();
    store.write_snapshot(&snapshot).unwrap();
    assert_eq!(store.snapshot(None).unwrap().as_ref(), Some(&snapshot));
}

/// Asset identities of a snapshot, to compare scans.
fn assets(snapshot: &Snapshot) -> BTreeSet<String> {
    let keys = snapshot
        .keys
        .iter()
        .map(|k| format!("{} {:?} {:?}", k.arn, k.key_state, k.rotation_enabled));
    let certificates = snapshot.certificates.iter().map(|c| c.arn.clone());
    let authorities = snapshot.authorities.iter().map(|a| a.arn.clone());
    let secrets = snapshot
        .secrets
        .iter()
        .map(|s| format!("{} {:?}", s.arn, s.policy));
    let aliases = snapshot
        .aliases
        .iter()
        .map(|a| format!("{} {} {}", a.account_id, a.region, a.alias_name));
    keys.chain(certificates)
        .chain(authorities)
        .chain(secrets)
        .chain(aliases)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_and_loses_nothing() {
    let moto = Moto::start();
    let org = build_organization(&moto.endpoint).await;
    let options = ScanOptions {
        max_attempts: 8,
        ..organization_options()
    };
    let clean = proxy(&moto, org.rotating_key.clone(), |_| None);
    let expected = run_scan(&clean.endpoint, options.clone()).await;

    let every = Arc::new(Every::default());
    let throttled = proxy(&moto, org.rotating_key.clone(), move |request| {
        let asset_service =
            ["kms", "acm", "acm-pca", "secretsmanager"].contains(&request.service.as_str());
        (asset_service && every.nth(10))
            .then(|| Action::json_error(400, "ThrottlingException", "Rate exceeded"))
    });
    let snapshot = run_scan(&throttled.endpoint, options).await;
    let throttles = throttled.requests().len() - clean.requests().len();
    assert!(throttles > 10, "only {throttles} extra requests");
    assert_eq!(assets(&snapshot), assets(&expected));
    assert_eq!(snapshot.coverage.len(), expected.coverage.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_past_retries_is_a_gap_not_an_empty_service() {
    let moto = Moto::start();
    let org = build_organization(&moto.endpoint).await;
    let options = ScanOptions {
        max_attempts: 2,
        regions: vec!["us-east-1".into()],
        ..ScanOptions::default()
    };
    let proxy = proxy(&moto, org.rotating_key.clone(), |request| {
        (request.service == "secretsmanager")
            .then(|| Action::json_error(400, "ThrottlingException", "Rate exceeded"))
    });
    let snapshot = run_scan(&proxy.endpoint, options).await;
    let row = snapshot
        .coverage
        .iter()
        .find(|row| row.service == "secretsmanager")
        .unwrap();
    assert_eq!(row.status, CoverageStatus::Throttled);
    assert_eq!(row.operation.as_deref(), Some("ListSecrets"));
    assert!(snapshot.secrets.is_empty());
    assert!(!snapshot.scan.complete);
    assert!(!snapshot.keys.is_empty(), "the other services are read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_without_last_usage_leaves_usage_unknown() {
    let moto = Moto::start();
    let org = build_organization(&moto.endpoint).await;
    // moto itself returns a server error for GetKeyLastUsage.
    let proxy = Proxy::start(&moto.endpoint, |request| {
        if request.operation == "/listRegions" {
            list_regions_answer()
        } else {
            Action::Forward
        }
    });
    let options = ScanOptions {
        regions: vec!["us-east-1".into()],
        services: vec![Service::Kms],
        ..ScanOptions::default()
    };
    let snapshot = run_scan(&proxy.endpoint, options).await;
    let rotating = key(&snapshot, &org.rotating_key);
    assert!(!rotating.usage_known);
    assert_eq!(rotating.last_used_at, None);
    assert!(
        rotating
            .read_errors
            .iter()
            .any(|error| error.starts_with("GetKeyLastUsage")),
        "{:?}",
        rotating.read_errors
    );
    // The coverage of the service is whole: the keys were read.
    assert!(snapshot.scan.complete, "{:?}", snapshot.coverage);
    let asked = proxy
        .requests()
        .iter()
        .filter(|r| r.operation == "GetKeyLastUsage")
        .count();
    assert!(
        asked <= 2 * 8,
        "asked {asked} times after the first failure"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_failing_part_way_is_a_gap() {
    let moto = Moto::start();
    let org = build_organization(&moto.endpoint).await;
    let options = ScanOptions {
        max_attempts: 2,
        regions: vec!["us-east-1".into()],
        services: vec![Service::Kms],
        ..ScanOptions::default()
    };
    let broken_key = org.disabled_key.clone();
    let proxy = proxy(&moto, org.rotating_key.clone(), move |request| {
        (request.operation == "DescribeKey" && request.body.contains(&broken_key))
            .then_some(Action::Drop)
    });
    let snapshot = run_scan(&proxy.endpoint, options).await;
    let row = snapshot
        .coverage
        .iter()
        .find(|row| row.service == "kms")
        .unwrap();
    assert_eq!(row.status, CoverageStatus::Failed);
    assert_eq!(row.operation.as_deref(), Some("DescribeKey"));
    assert!(!snapshot.scan.complete);
    // The keys read before and after the failure are kept.
    assert_eq!(
        key(&snapshot, &org.rotating_key).key_state.as_deref(),
        Some("Enabled")
    );
    let broken = key(&snapshot, &org.disabled_key);
    assert_eq!(broken.key_state, None);
    assert!(
        broken.read_errors[0].starts_with("DescribeKey"),
        "{:?}",
        broken.read_errors
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_certificate_response_is_read_whole() {
    let moto = Moto::start();
    let management = config(&moto.endpoint, management_credentials(), "us-east-1").await;
    let arn = aws_sdk_acm::Client::new(&management)
        .request_certificate()
        .domain_name("www.example.com")
        .send()
        .await
        .unwrap()
        .certificate_arn
        .unwrap();
    // AWS's documented DescribeCertificate response stands in for moto's.
    let documented = include_str!("fixtures/acm/describe-certificate.json").replace(
        "arn:aws:acm:region:account:certificate/12345678-1234-1234-1234-123456789012",
        &arn,
    );
    let proxy = proxy(&moto, String::new(), move |request| {
        (request.operation == "DescribeCertificate").then(|| Action::Respond {
            status: 200,
            content_type: "application/x-amz-json-1.1",
            body: documented.clone(),
        })
    });
    let options = ScanOptions {
        regions: vec!["us-east-1".into()],
        services: vec![Service::Acm],
        ..ScanOptions::default()
    };
    let snapshot = run_scan(&proxy.endpoint, options).await;
    let certificate = &snapshot.certificates[0];
    assert_eq!(certificate.arn, arn);
    assert_eq!(certificate.key_algorithm.as_deref(), Some("RSA-2048"));
    assert_eq!(certificate.status.as_deref(), Some("ISSUED"));
    assert_eq!(certificate.subject.as_deref(), Some("CN=www.example.com"));
    assert_eq!(
        certificate.subject_alternative_names,
        ["www.example.com", "www.example.net"]
    );
    assert_eq!(
        certificate.not_after.map(|t| t.to_rfc3339()).as_deref(),
        Some("2016-11-06T12:00:00+00:00")
    );
    assert!(
        certificate.read_errors.is_empty(),
        "{:?}",
        certificate.read_errors
    );
}

const DECRYPT_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"DecryptAll","Effect":"Allow","Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"*"}]}"#;
const DECRYPT_ONE: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Decrypt one key","Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}]}"#;
const RE_ENCRYPT: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Re*","Resource":"arn:aws:kms:*:*:key/*","Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}}"#;

/// Parses a policy document, so that documents compare whatever their
/// spacing.
fn json(document: Option<&str>) -> serde_json::Value {
    serde_json::from_str(document.unwrap_or("null")).unwrap()
}

/// Creates customer managed policies and users, roles and groups with
/// inline policies in moto's default account.
async fn create_iam_policies(endpoint: &str) -> aws_sdk_iam::Client {
    let management = config(endpoint, management_credentials(), "us-east-1").await;
    let iam = aws_sdk_iam::Client::new(&management);
    let decrypt_all = iam
        .create_policy()
        .policy_name("decrypt-all")
        .policy_document(DECRYPT_ONE)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap();
    // The second version is the default, and the scan reads it.
    iam.create_policy_version()
        .policy_arn(&decrypt_all)
        .policy_document(DECRYPT_ALL)
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    iam.create_policy()
        .policy_name("decrypt-one")
        .policy_document(DECRYPT_ONE)
        .send()
        .await
        .unwrap();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name("app")
        .assume_role_policy_document(trust)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("team")
                .value("payments")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name("app")
        .policy_arn(&decrypt_all)
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("app")
        .policy_name("re-encrypt")
        .policy_document(RE_ENCRYPT)
        .send()
        .await
        .unwrap();
    iam.create_user().user_name("alice").send().await.unwrap();
    iam.put_user_policy()
        .user_name("alice")
        .policy_name("decrypt-one")
        .policy_document(DECRYPT_ONE)
        .send()
        .await
        .unwrap();
    iam.create_group().group_name("ops").send().await.unwrap();
    iam.put_group_policy()
        .group_name("ops")
        .policy_name("decrypt-all")
        .policy_document(DECRYPT_ALL)
        .send()
        .await
        .unwrap();
    iam
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_policies_are_read_and_decoded() {
    let moto = Moto::start();
    create_iam_policies(&moto.endpoint).await;
    let proxy = proxy(&moto, String::new(), |_| None);
    let options = ScanOptions {
        services: vec![Service::Iam],
        ..ScanOptions::default()
    };
    let snapshot = run_scan(&proxy.endpoint, options).await;

    // One account-wide IAM unit, and no Region listing for it.
    assert!(snapshot.scan.complete, "{:?}", snapshot.coverage);
    assert_eq!(snapshot.coverage.len(), 1, "{:?}", snapshot.coverage);
    let row = &snapshot.coverage[0];
    assert_eq!(row.service, "iam");
    assert_eq!(row.region, "");
    assert_eq!(row.assets, 5);
    assert_eq!(snapshot.scan.account_regions, 0);
    let operations: Vec<String> = proxy.requests().into_iter().map(|r| r.operation).collect();
    assert!(
        !operations
            .iter()
            .any(|operation| operation == "/listRegions"),
        "{operations:?}"
    );
    let details = proxy
        .requests()
        .into_iter()
        .find(|r| r.operation == "GetAccountAuthorizationDetails")
        .unwrap();
    for filter in ["LocalManagedPolicy", "User", "Role", "Group"] {
        assert!(details.body.contains(filter), "{}", details.body);
    }

    let managed = |name: &str| {
        snapshot
            .iam_policies
            .iter()
            .find(|p| p.policy_type == PolicyType::Managed && p.policy_name == name)
            .unwrap_or_else(|| panic!("managed policy {name} not scanned"))
    };
    let decrypt_all = managed("decrypt-all");
    assert_eq!(
        decrypt_all.arn.as_deref(),
        Some("arn:aws:iam::123456789012:policy/decrypt-all")
    );
    assert_eq!(decrypt_all.default_version_id.as_deref(), Some("v2"));
    assert_eq!(decrypt_all.attachment_count, Some(1));
    assert_eq!(
        json(decrypt_all.document.as_deref()),
        json(Some(DECRYPT_ALL))
    );
    assert!(
        decrypt_all.read_errors.is_empty(),
        "{:?}",
        decrypt_all.read_errors
    );
    let decrypt_one = managed("decrypt-one");
    assert_eq!(decrypt_one.attachment_count, Some(0));
    assert_eq!(
        json(decrypt_one.document.as_deref()),
        json(Some(DECRYPT_ONE))
    );

    let inline = |principal: &str| {
        snapshot
            .iam_policies
            .iter()
            .find(|p| {
                p.policy_type == PolicyType::Inline
                    && p.principal_arn.as_deref()
                        == Some(&format!("arn:aws:iam::123456789012:{principal}"))
            })
            .unwrap_or_else(|| panic!("inline policy of {principal} not scanned"))
    };
    let role = inline("role/app");
    assert_eq!(role.policy_name, "re-encrypt");
    assert_eq!(role.principal_type, Some(PrincipalType::Role));
    assert_eq!(role.principal_name.as_deref(), Some("app"));
    assert_eq!(role.arn, None);
    assert_eq!(json(role.document.as_deref()), json(Some(RE_ENCRYPT)));
    assert_eq!(role.tags.len(), 1);
    assert_eq!(role.tags[0].key, "team");
    let user = inline("user/alice");
    assert_eq!(user.principal_type, Some(PrincipalType::User));
    // The Sid contains spaces, which the URL encoding writes as %20.
    assert_eq!(json(user.document.as_deref()), json(Some(DECRYPT_ONE)));
    let group = inline("group/ops");
    assert_eq!(group.principal_type, Some(PrincipalType::Group));
    assert_eq!(json(group.document.as_deref()), json(Some(DECRYPT_ALL)));
    assert!(
        snapshot
            .iam_policies
            .iter()
            .all(|p| p.account_id == MANAGEMENT),
        "only customer managed policies are read, not AWS managed ones"
    );

    // Without --org, the account is recorded with no organizational unit.
    assert_eq!(snapshot.accounts.len(), 1);
    let account = &snapshot.accounts[0];
    assert_eq!(account.account_id, MANAGEMENT);
    assert!(account.scanned);
    assert!(account.ou_path_ids.is_empty());
    assert_eq!(account.org_path, None);

    let directory = tempfile::tempdir().unwrap();
    let store = keyward_store::Store::create_or_open(directory.path()).unwrap();
    store.write_snapshot(&snapshot).unwrap();
    assert_eq!(store.snapshot(None).unwrap().as_ref(), Some(&snapshot));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_denied_is_a_gap() {
    let moto = Moto::start();
    create_iam_policies(&moto.endpoint).await;
    let proxy = proxy(&moto, String::new(), |request| {
        (request.operation == "GetAccountAuthorizationDetails").then(|| {
            Action::xml_error(
                403,
                "AccessDenied",
                "not authorized to perform iam:GetAccountAuthorizationDetails",
            )
        })
    });
    let options = ScanOptions {
        services: vec![Service::Iam],
        ..ScanOptions::default()
    };
    let snapshot = run_scan(&proxy.endpoint, options).await;
    let row = &snapshot.coverage[0];
    assert_eq!(row.service, "iam");
    assert_eq!(row.status, CoverageStatus::AccessDenied);
    assert_eq!(
        row.operation.as_deref(),
        Some("GetAccountAuthorizationDetails")
    );
    assert!(snapshot.iam_policies.is_empty());
    assert!(!snapshot.scan.complete);
}

/// Ids of the organization built for the OU tests.
struct OrganizationUnits {
    root: String,
    workloads: String,
    prod: String,
    nested_member: String,
    root_member: String,
}

/// Builds root → Workloads → Prod → one member account, and a member
/// account directly under the root.
async fn build_organizational_units(endpoint: &str) -> OrganizationUnits {
    let management = config(endpoint, management_credentials(), "us-east-1").await;
    let organizations = aws_sdk_organizations::Client::new(&management);
    organizations
        .create_organization()
        .feature_set(OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let root = organizations.list_roots().send().await.unwrap().roots()[0]
        .id()
        .unwrap()
        .to_owned();
    let create_unit = |parent: String, name: &'static str| {
        let organizations = organizations.clone();
        async move {
            organizations
                .create_organizational_unit()
                .parent_id(parent)
                .name(name)
                .send()
                .await
                .unwrap()
                .organizational_unit
                .unwrap()
                .id
                .unwrap()
        }
    };
    let workloads = create_unit(root.clone(), "Workloads").await;
    let prod = create_unit(workloads.clone(), "Prod").await;
    let mut members = Vec::new();
    for name in ["payments", "sandbox"] {
        let status = organizations
            .create_account()
            .account_name(name)
            .email(format!("{name}@example.com"))
            .send()
            .await
            .unwrap()
            .create_account_status
            .unwrap();
        members.push(status.account_id.unwrap());
    }
    organizations
        .move_account()
        .account_id(&members[0])
        .source_parent_id(&root)
        .destination_parent_id(&prod)
        .send()
        .await
        .unwrap();
    OrganizationUnits {
        root,
        workloads,
        prod,
        nested_member: members[0].clone(),
        root_member: members[1].clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_scan_records_ou_paths() {
    let moto = Moto::start();
    let units = build_organizational_units(&moto.endpoint).await;
    let proxy = proxy(&moto, String::new(), |_| None);
    let options = ScanOptions {
        services: vec![Service::Iam],
        ..organization_options()
    };
    let snapshot = run_scan(&proxy.endpoint, options).await;

    let account = |id: &str| {
        snapshot
            .accounts
            .iter()
            .find(|a| a.account_id == id)
            .unwrap_or_else(|| panic!("account {id} not recorded"))
    };
    let nested = account(&units.nested_member);
    assert_eq!(
        nested.ou_path_ids,
        [
            units.root.clone(),
            units.workloads.clone(),
            units.prod.clone()
        ]
    );
    assert_eq!(nested.ou_path_names, ["Root", "Workloads", "Prod"]);
    assert_eq!(nested.name.as_deref(), Some("payments"));
    assert_eq!(nested.status.as_deref(), Some("ACTIVE"));
    assert!(nested.scanned);
    let organization_id = nested.organization_id.clone().unwrap();
    assert!(organization_id.starts_with("o-"), "{organization_id}");
    assert_eq!(
        nested.org_path.as_deref(),
        Some(
            format!(
                "{organization_id}/{}/{}/{}/",
                units.root, units.workloads, units.prod
            )
            .as_str()
        )
    );
    assert_eq!(
        account(&units.root_member).ou_path_ids,
        [units.root.as_str()]
    );
    assert_eq!(account(MANAGEMENT).ou_path_ids, [units.root.as_str()]);
    assert_eq!(snapshot.accounts.len(), 3);

    let row = snapshot
        .coverage
        .iter()
        .find(|row| row.service == "organizations")
        .unwrap();
    assert_eq!(row.status, CoverageStatus::Ok);
    assert_eq!(row.account_id, MANAGEMENT);
    assert_eq!(row.assets, 3);
    assert!(snapshot.scan.complete, "{:?}", snapshot.coverage);
    let walked: BTreeSet<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.service == "organizations")
        .map(|r| r.operation)
        .collect();
    assert!(
        walked.contains("ListOrganizationalUnitsForParent"),
        "{walked:?}"
    );
    assert!(!walked.contains("ListParents"), "{walked:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_walk_denied_leaves_paths_unknown() {
    let moto = Moto::start();
    let units = build_organizational_units(&moto.endpoint).await;
    let proxy = proxy(&moto, String::new(), |request| {
        (request.operation == "ListOrganizationalUnitsForParent").then(|| {
            Action::json_error(
                400,
                "AccessDeniedException",
                "not authorized to perform organizations:ListOrganizationalUnitsForParent",
            )
        })
    });
    let options = ScanOptions {
        services: vec![Service::Iam],
        ..organization_options()
    };
    let snapshot = run_scan(&proxy.endpoint, options).await;
    let row = snapshot
        .coverage
        .iter()
        .find(|row| row.service == "organizations")
        .unwrap();
    assert_eq!(row.status, CoverageStatus::AccessDenied);
    assert_eq!(
        row.operation.as_deref(),
        Some("ListOrganizationalUnitsForParent")
    );
    assert!(!snapshot.scan.complete);
    // The accounts are still listed and scanned, without a path.
    assert_eq!(snapshot.accounts.len(), 3);
    for account in &snapshot.accounts {
        assert!(account.ou_path_ids.is_empty(), "{account:?}");
        assert!(account.scanned);
    }
    assert!(
        snapshot
            .coverage
            .iter()
            .any(|row| row.service == "iam" && row.account_id == units.nested_member)
    );
}
