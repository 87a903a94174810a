//! Each rule on resources that pass and fail it, each threshold on both
//! sides of its boundary and on the boundary, and exceptions by name and
//! by organizational unit.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use keyward_rules::{AssetUsage, Config, Context, Finding, TrailWindow, Verdict, evaluate, rule};
use keyward_store::inventory::{
    AccountRecord, CertificateRecord, CoverageRecord, CoverageStatus, IamPolicyRecord, KeyRecord,
    PolicyType, PrincipalType, SecretRecord, Snapshot,
};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).unwrap()
}

fn days_ago(days: i64) -> DateTime<Utc> {
    now() - Duration::days(days)
}

fn coverage(service: &str, status: CoverageStatus) -> CoverageRecord {
    CoverageRecord {
        account_id: ACCOUNT.into(),
        region: REGION.into(),
        service: service.into(),
        status,
        ..CoverageRecord::default()
    }
}

fn key(id: &str) -> KeyRecord {
    KeyRecord {
        account_id: ACCOUNT.into(),
        region: REGION.into(),
        key_id: id.into(),
        arn: format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}"),
        key_manager: Some("CUSTOMER".into()),
        key_state: Some("Enabled".into()),
        enabled: Some(true),
        key_spec: Some("SYMMETRIC_DEFAULT".into()),
        key_usage: Some("ENCRYPT_DECRYPT".into()),
        origin: Some("AWS_KMS".into()),
        creation_date: Some(days_ago(400)),
        multi_region: Some(false),
        rotation_enabled: Some(true),
        rotation_period_days: Some(365),
        policy: Some(format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
        )),
        grant_count: Some(0),
        usage_known: true,
        usage_tracking_start: Some(days_ago(500)),
        ..KeyRecord::default()
    }
}

fn certificate(id: &str) -> CertificateRecord {
    CertificateRecord {
        account_id: ACCOUNT.into(),
        region: REGION.into(),
        arn: format!("arn:aws:acm:{REGION}:{ACCOUNT}:certificate/{id}"),
        domain_name: Some(format!("{id}.example.com")),
        status: Some("ISSUED".into()),
        certificate_type: Some("AMAZON_ISSUED".into()),
        key_algorithm: Some("RSA_2048".into()),
        not_after: Some(now() + Duration::days(200)),
        renewal_eligibility: Some("ELIGIBLE".into()),
        ..CertificateRecord::default()
    }
}

fn secret(name: &str) -> SecretRecord {
    SecretRecord {
        account_id: ACCOUNT.into(),
        region: REGION.into(),
        arn: format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf"),
        name: name.into(),
        kms_key_id: Some(format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/k")),
        rotation_enabled: Some(true),
        rotation_interval_days: Some(30),
        last_rotated_at: Some(days_ago(10)),
        next_rotation_at: Some(now() + Duration::days(20)),
        last_accessed_at: Some(days_ago(1)),
        created_at: Some(days_ago(400)),
        ..SecretRecord::default()
    }
}

fn context(snapshot: Snapshot) -> Context {
    let mut snapshot = snapshot;
    for service in ["kms", "acm", "secretsmanager"] {
        snapshot
            .coverage
            .push(coverage(service, CoverageStatus::Ok));
    }
    Context {
        now: now(),
        snapshot,
        usage: HashMap::new(),
        trail: HashMap::new(),
        config: Config::default(),
    }
}

fn with_trail(mut context: Context, since_days: i64) -> Context {
    context.trail.insert(
        (ACCOUNT.into(), REGION.into()),
        TrailWindow {
            first: days_ago(since_days),
            last: now(),
        },
    );
    context
}

fn findings(context: &Context, rule_id: &str) -> Vec<Finding> {
    assert!(rule(rule_id).is_some(), "no rule {rule_id}");
    evaluate(context)
        .into_iter()
        .filter(|f| f.rule_id == rule_id)
        .collect()
}

fn verdict(context: &Context, rule_id: &str, arn: &str) -> (Verdict, String) {
    let found = findings(context, rule_id);
    let finding = found
        .iter()
        .find(|f| f.resource_arn == arn)
        .unwrap_or_else(|| panic!("{rule_id} made no finding for {arn}: {found:?}"));
    (finding.verdict, finding.cause.clone())
}

fn keys(keys: Vec<KeyRecord>) -> Context {
    context(Snapshot {
        keys,
        ..Snapshot::default()
    })
}

#[test]
fn key_rotation() {
    let mut off = key("off");
    off.rotation_enabled = Some(false);
    let mut unread = key("unread");
    unread.rotation_enabled = None;
    unread.read_errors = vec!["GetKeyRotationStatus: AccessDeniedException: no".into()];
    let mut asymmetric = key("asym");
    asymmetric.key_spec = Some("RSA_2048".into());
    let context = keys(vec![
        key("on"),
        off.clone(),
        unread.clone(),
        asymmetric.clone(),
    ]);
    assert_eq!(
        verdict(&context, "kms-key-rotation", &key("on").arn).0,
        Verdict::Pass
    );
    assert_eq!(
        verdict(&context, "kms-key-rotation", &off.arn).0,
        Verdict::Fail
    );
    let (unknown, cause) = verdict(&context, "kms-key-rotation", &unread.arn);
    assert_eq!(unknown, Verdict::Unknown);
    assert!(cause.contains("AccessDeniedException"), "{cause}");
    assert!(
        findings(&context, "kms-key-rotation")
            .iter()
            .all(|f| f.resource_arn != asymmetric.arn)
    );
}

#[test]
fn key_pending_deletion() {
    let mut pending = key("pending");
    pending.key_state = Some("PendingDeletion".into());
    pending.deletion_date = Some(now() + Duration::days(7));
    let context = keys(vec![key("live"), pending.clone()]);
    assert_eq!(
        verdict(&context, "kms-key-pending-deletion", &key("live").arn).0,
        Verdict::Pass
    );
    let (fail, cause) = verdict(&context, "kms-key-pending-deletion", &pending.arn);
    assert_eq!(fail, Verdict::Fail);
    assert!(cause.contains("7 days"), "{cause}");
}

/// Builds a key last used `days` days ago according to GetKeyLastUsage.
fn key_used(id: &str, days: i64) -> KeyRecord {
    let mut key = key(id);
    key.last_used_at = Some(days_ago(days));
    key.last_used_operation = Some("Decrypt".into());
    key
}

#[test]
fn key_unused_boundary() {
    let inside = key_used("inside", 89);
    let boundary = key_used("boundary", 90);
    let outside = key_used("outside", 91);
    let context = keys(vec![inside.clone(), boundary.clone(), outside.clone()]);
    assert_eq!(
        verdict(&context, "kms-key-unused", &inside.arn).0,
        Verdict::Pass
    );
    assert_eq!(
        verdict(&context, "kms-key-unused", &boundary.arn).0,
        Verdict::Pass
    );
    let (fail, cause) = verdict(&context, "kms-key-unused", &outside.arn);
    assert_eq!(fail, Verdict::Fail);
    assert!(cause.contains("unused since"), "{cause}");
    let failing = findings(&context, "kms-key-unused");
    let cost = failing
        .iter()
        .find(|f| f.resource_arn == outside.arn)
        .unwrap();
    assert_eq!(cost.monthly_cost_usd, Some(1.0));
}

#[test]
fn key_unused_threshold_from_config() {
    let context = Context {
        config: Config::parse("[rules.kms-key-unused]\nthreshold_days = 30\n").unwrap(),
        ..keys(vec![key_used("thirty", 30), key_used("thirty-one", 31)])
    };
    assert_eq!(
        verdict(&context, "kms-key-unused", &key("thirty").arn).0,
        Verdict::Pass
    );
    assert_eq!(
        verdict(&context, "kms-key-unused", &key("thirty-one").arn).0,
        Verdict::Fail
    );
}

#[test]
fn key_unused_sources() {
    // Never used, tracked since before creation: never used.
    let mut never = key("never");
    never.creation_date = Some(days_ago(200));
    never.usage_tracking_start = Some(days_ago(300));
    // Tracking began after the window began and the key is older: unknown.
    let mut late = key("late");
    late.usage_tracking_start = Some(days_ago(30));
    // GetKeyLastUsage returned no usage data and there is no CloudTrail:
    // unknown.
    let mut unanswered = key("unanswered");
    unanswered.usage_known = false;
    unanswered.usage_tracking_start = None;
    // Created within the window and never used: not yet unused.
    let mut new = key("new");
    new.creation_date = Some(days_ago(5));
    let context = keys(vec![
        never.clone(),
        late.clone(),
        unanswered.clone(),
        new.clone(),
    ]);
    let (fail, cause) = verdict(&context, "kms-key-unused", &never.arn);
    assert_eq!(fail, Verdict::Fail);
    assert!(cause.contains("never used since creation"), "{cause}");
    assert_eq!(
        verdict(&context, "kms-key-unused", &late.arn).0,
        Verdict::Unknown
    );
    assert_eq!(
        verdict(&context, "kms-key-unused", &unanswered.arn).0,
        Verdict::Unknown
    );
    assert_eq!(
        verdict(&context, "kms-key-unused", &new.arn).0,
        Verdict::Pass
    );

    // CloudTrail that covers the window decides the unknown key, both ways.
    let covered = with_trail(keys(vec![unanswered.clone()]), 120);
    assert_eq!(
        verdict(&covered, "kms-key-unused", &unanswered.arn).0,
        Verdict::Fail
    );
    let mut used = with_trail(keys(vec![unanswered.clone()]), 120);
    used.usage.insert(
        unanswered.arn.clone(),
        AssetUsage {
            last_used: Some(days_ago(3)),
            last_operation: Some("Encrypt".into()),
            last_principal: Some("arn:aws:iam::111122223333:role/app".into()),
            ..AssetUsage::default()
        },
    );
    let (pass, cause) = verdict(&used, "kms-key-unused", &unanswered.arn);
    assert_eq!(pass, Verdict::Pass);
    assert!(cause.contains("CloudTrail"), "{cause}");
}

#[test]
fn inactive_key_in_use_boundary() {
    let disabled = |id: &str| {
        let mut key = key(id);
        key.key_state = Some("Disabled".into());
        key.usage_known = false;
        key
    };
    let inside = disabled("inside");
    let boundary = disabled("boundary");
    let outside = disabled("outside");
    let mut context = with_trail(
        keys(vec![inside.clone(), boundary.clone(), outside.clone()]),
        60,
    );
    for (key, days) in [(&inside, 29), (&boundary, 30), (&outside, 31)] {
        context.usage.insert(
            key.arn.clone(),
            AssetUsage {
                last_denied: Some(days_ago(days)),
                last_denied_operation: Some("Decrypt".into()),
                last_denied_error: Some("DisabledException".into()),
                last_denied_principal: Some("arn:aws:iam::111122223333:role/app".into()),
                ..AssetUsage::default()
            },
        );
    }
    let (fail, cause) = verdict(&context, "kms-key-inactive-in-use", &inside.arn);
    assert_eq!(fail, Verdict::Fail);
    assert!(cause.contains("DisabledException"), "{cause}");
    assert_eq!(
        verdict(&context, "kms-key-inactive-in-use", &boundary.arn).0,
        Verdict::Fail
    );
    assert_eq!(
        verdict(&context, "kms-key-inactive-in-use", &outside.arn).0,
        Verdict::Pass
    );
    // No CloudTrail and no tracked usage: unknown.
    let unknown = keys(vec![disabled("dark")]);
    assert_eq!(
        verdict(&unknown, "kms-key-inactive-in-use", &key("dark").arn).0,
        Verdict::Unknown
    );
}

#[test]
fn key_policies() {
    let mut public = key("public");
    public.policy = Some(
        r#"{"Statement":[{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#
            .into(),
    );
    let mut restricted = key("restricted");
    restricted.policy = Some(format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"*"}},"Action":"kms:Decrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:CallerAccount":"{ACCOUNT}"}}}}}}]}}"#
    ));
    let mut shared = key("shared");
    shared.grantees = vec!["arn:aws:iam::999999999999:role/partner".into()];
    shared.grant_count = Some(1);
    let mut unread = key("unread");
    unread.policy = None;
    unread.read_errors = vec!["GetKeyPolicy: AccessDeniedException: no".into()];
    let context = keys(vec![
        public.clone(),
        restricted.clone(),
        shared.clone(),
        unread.clone(),
    ]);
    assert_eq!(
        verdict(&context, "kms-key-policy-public", &public.arn).0,
        Verdict::Fail
    );
    assert_eq!(
        verdict(&context, "kms-key-policy-public", &restricted.arn).0,
        Verdict::Pass
    );
    assert_eq!(
        verdict(&context, "kms-key-policy-public", &unread.arn).0,
        Verdict::Unknown
    );
    let (fail, cause) = verdict(&context, "kms-key-external-access", &shared.arn);
    assert_eq!(fail, Verdict::Fail);
    assert!(cause.contains("999999999999"), "{cause}");
    assert_eq!(
        verdict(&context, "kms-key-external-access", &restricted.arn).0,
        Verdict::Pass
    );
}

#[test]
fn key_used_by_other_account() {
    let mut context = with_trail(keys(vec![key("k")]), 10);
    assert_eq!(
        verdict(&context, "kms-key-used-by-other-account", &key("k").arn).0,
        Verdict::Pass
    );
    context.usage.insert(
        key("k").arn,
        AssetUsage {
            principal_accounts: vec![ACCOUNT.into(), "444455556666".into()],
            ..AssetUsage::default()
        },
    );
    let (fail, cause) = verdict(&context, "kms-key-used-by-other-account", &key("k").arn);
    assert_eq!(fail, Verdict::Fail);
    assert!(cause.contains("444455556666"), "{cause}");
    let dark = keys(vec![key("k")]);
    assert_eq!(
        verdict(&dark, "kms-key-used-by-other-account", &key("k").arn).0,
        Verdict::Unknown
    );
}

#[test]
fn multi_region_key() {
    let mut multi = key("mrk");
    multi.multi_region = Some(true);
    multi.multi_region_key_type = Some("PRIMARY".into());
    let context = keys(vec![multi.clone(), key("single")]);
    assert_eq!(
        verdict(&context, "kms-key-multi-region", &multi.arn).0,
        Verdict::Fail
    );
    assert_eq!(
        verdict(&context, "kms-key-multi-region", &key("single").arn).0,
        Verdict::Pass
    );
}

fn certificates(certificates: Vec<CertificateRecord>) -> Context {
    context(Snapshot {
        certificates,
        ..Snapshot::default()
    })
}

fn expiring_in(id: &str, days: i64) -> CertificateRecord {
    CertificateRecord {
        not_after: Some(now() + Duration::days(days) + Duration::hours(1)),
        ..certificate(id)
    }
}

#[test]
fn certificate_expiry_boundary() {
    let inside = expiring_in("inside", 29);
    let boundary = expiring_in("boundary", 30);
    let outside = expiring_in("outside", 31);
    let mut expired = certificate("expired");
    expired.not_after = Some(days_ago(3));
    let context = certificates(vec![
        inside.clone(),
        boundary.clone(),
        outside.clone(),
        expired.clone(),
    ]);
    let (fail, cause) = verdict(&context, "acm-certificate-expiring", &inside.arn);
    assert_eq!(fail, Verdict::Fail);
    assert!(cause.contains("29 days"), "{cause}");
    assert_eq!(
        verdict(&context, "acm-certificate-expiring", &boundary.arn).0,
        Verdict::Fail
    );
    assert_eq!(
        verdict(&context, "acm-certificate-expiring", &outside.arn).0,
        Verdict::Pass
    );
    // An expired certificate is judged by the expired rule only.
    assert!(
        findings(&context, "acm-certificate-expiring")
            .iter()
            .all(|f| f.resource_arn != expired.arn)
    );
    let (fail, cause) = verdict(&context, "acm-certificate-expired", &expired.arn);
    assert_eq!(fail, Verdict::Fail);
    assert!(cause.contains("3 days ago"), "{cause}");
    assert_eq!(
        verdict(&context, "acm-certificate-expired", &outside.arn).0,
        Verdict::Pass
    );
}

#[test]
fn certificate_expiry_skip_options() {
    let mut in_use = expiring_in("in-use", 10);
    in_use.in_use_by = vec!["arn:aws:elasticloadbalancing:lb".into()];
    let idle = expiring_in("idle", 10);
    let mut imported = expiring_in("imported", 10);
    imported.in_use_by = vec!["arn:aws:elasticloadbalancing:lb".into()];
    imported.certificate_type = Some("IMPORTED".into());
    imported.renewal_eligibility = Some("INELIGIBLE".into());
    let mut expired_idle = certificate("expired-idle");
    expired_idle.not_after = Some(days_ago(3));
    let mut unread = certificate("unread");
    unread.status = None;
    let all = vec![
        in_use.clone(),
        idle.clone(),
        imported.clone(),
        expired_idle.clone(),
        unread.clone(),
    ];
    let judged = |config: &str, rule: &str| -> Vec<String> {
        let context = Context {
            config: Config::parse(config).unwrap(),
            ..certificates(all.clone())
        };
        findings(&context, rule)
            .into_iter()
            .map(|finding| finding.resource_arn)
            .collect()
    };

    let expiring = judged("", "acm-certificate-expiring");
    assert!(expiring.contains(&idle.arn));
    assert!(expiring.contains(&imported.arn));

    let expiring = judged(
        "[rules.acm-certificate-expiring]\nskip_not_in_use = true\n",
        "acm-certificate-expiring",
    );
    assert!(expiring.contains(&in_use.arn));
    assert!(!expiring.contains(&idle.arn));
    assert!(expiring.contains(&imported.arn));
    // A certificate that could not be read stays UNKNOWN whatever the options.
    assert!(expiring.contains(&unread.arn));

    let expiring = judged(
        "[rules.acm-certificate-expiring]\nskip_not_eligible_for_renewal = true\n",
        "acm-certificate-expiring",
    );
    assert!(expiring.contains(&idle.arn));
    assert!(!expiring.contains(&imported.arn));

    let expired = judged(
        "[rules.acm-certificate-expired]\nskip_not_in_use = true\n",
        "acm-certificate-expired",
    );
    assert!(!expired.contains(&expired_idle.arn));
    assert!(judged("", "acm-certificate-expired").contains(&expired_idle.arn));
}

#[test]
fn certificate_options_rejected_elsewhere() {
    let error = Config::parse("[rules.kms-key-unused]\nskip_not_in_use = true\n").unwrap_err();
    assert!(error.to_string().contains("apply only to"), "{error}");
}

#[test]
fn certificate_states() {
    let mut pending = certificate("pending");
    pending.status = Some("PENDING_VALIDATION".into());
    let mut weak = certificate("weak");
    weak.key_algorithm = Some("RSA-1024".into());
    let mut revoked = certificate("revoked");
    revoked.status = Some("REVOKED".into());
    revoked.revocation_reason = Some("KEY_COMPROMISE".into());
    let mut stuck = certificate("stuck");
    stuck.in_use_by = vec!["arn:aws:elasticloadbalancing:lb".into()];
    stuck.renewal_status = Some("FAILED".into());
    stuck.renewal_failure_reason = Some("CAA_ERROR".into());
    let context = certificates(vec![
        certificate("good"),
        pending.clone(),
        weak.clone(),
        revoked.clone(),
        stuck.clone(),
    ]);
    let good = certificate("good").arn;
    assert_eq!(
        verdict(&context, "acm-certificate-pending-validation", &pending.arn).0,
        Verdict::Fail
    );
    assert_eq!(
        verdict(&context, "acm-certificate-pending-validation", &good).0,
        Verdict::Pass
    );
    assert_eq!(
        verdict(&context, "acm-certificate-weak-key", &weak.arn).0,
        Verdict::Fail
    );
    assert_eq!(
        verdict(&context, "acm-certificate-weak-key", &good).0,
        Verdict::Pass
    );
    let (fail, cause) = verdict(&context, "acm-certificate-failed", &revoked.arn);
    assert_eq!(fail, Verdict::Fail);
    assert!(cause.contains("KEY_COMPROMISE"), "{cause}");
    let (fail, cause) = verdict(&context, "acm-certificate-renewal", &stuck.arn);
    assert_eq!(fail, Verdict::Fail);
    assert!(cause.contains("CAA_ERROR"), "{cause}");
}

fn secrets(secrets: Vec<SecretRecord>) -> Context {
    context(Snapshot {
        secrets,
        ..Snapshot::default()
    })
}

fn accessed(name: &str, days: i64) -> SecretRecord {
    SecretRecord {
        last_accessed_at: Some(days_ago(days)),
        ..secret(name)
    }
}

#[test]
fn secret_unused_boundary() {
    let inside = accessed("inside", 89);
    let boundary = accessed("boundary", 90);
    let outside = accessed("outside", 91);
    let mut never = secret("never");
    never.last_accessed_at = None;
    let context = secrets(vec![
        inside.clone(),
        boundary.clone(),
        outside.clone(),
        never.clone(),
    ]);
    assert_eq!(
        verdict(&context, "secret-unused", &inside.arn).0,
        Verdict::Pass
    );
    assert_eq!(
        verdict(&context, "secret-unused", &boundary.arn).0,
        Verdict::Pass
    );
    assert_eq!(
        verdict(&context, "secret-unused", &outside.arn).0,
        Verdict::Fail
    );
    let (fail, cause) = verdict(&context, "secret-unused", &never.arn);
    assert_eq!(fail, Verdict::Fail);
    assert!(cause.contains("never read"), "{cause}");
    let found = findings(&context, "secret-unused");
    let cost = found.iter().find(|f| f.resource_arn == never.arn).unwrap();
    assert_eq!(cost.monthly_cost_usd, Some(0.4));
}

#[test]
fn secret_read_in_cloudtrail_is_used() {
    let old = accessed("old", 200);
    let mut context = secrets(vec![old.clone()]);
    context.usage.insert(
        old.arn.clone(),
        AssetUsage {
            last_used: Some(days_ago(2)),
            ..AssetUsage::default()
        },
    );
    assert_eq!(
        verdict(&context, "secret-unused", &old.arn).0,
        Verdict::Pass
    );
}

#[test]
fn secret_rotation() {
    let rotated = |name: &str, days: i64| SecretRecord {
        last_rotated_at: Some(days_ago(days)),
        ..secret(name)
    };
    let mut off = secret("off");
    off.rotation_enabled = Some(false);
    let mut late = secret("late");
    late.next_rotation_at = Some(days_ago(4));
    let context = secrets(vec![
        rotated("inside", 89),
        rotated("boundary", 90),
        rotated("outside", 91),
        off.clone(),
        late.clone(),
    ]);
    let arn = |name: &str| secret(name).arn;
    assert_eq!(
        verdict(&context, "secret-rotated-recently", &arn("inside")).0,
        Verdict::Pass
    );
    assert_eq!(
        verdict(&context, "secret-rotated-recently", &arn("boundary")).0,
        Verdict::Pass
    );
    assert_eq!(
        verdict(&context, "secret-rotated-recently", &arn("outside")).0,
        Verdict::Fail
    );
    assert_eq!(
        verdict(&context, "secret-rotation-enabled", &off.arn).0,
        Verdict::Fail
    );
    assert_eq!(
        verdict(&context, "secret-rotation-enabled", &arn("inside")).0,
        Verdict::Pass
    );
    let (fail, cause) = verdict(&context, "secret-rotation-failing", &late.arn);
    assert_eq!(fail, Verdict::Fail);
    assert!(cause.contains("4 days late"), "{cause}");
    assert_eq!(
        verdict(&context, "secret-rotation-failing", &arn("inside")).0,
        Verdict::Pass
    );
}

#[test]
fn secret_rotation_failed_in_cloudtrail() {
    // Each secret was last rotated 10 days ago and is due in 20 days, so
    // only the CloudTrail events decide.
    let cases = [
        ("failed-after-success", Some(5), Some(8), Verdict::Fail),
        ("failed-never-succeeded", Some(5), None, Verdict::Fail),
        ("succeeded-after-failure", Some(5), Some(3), Verdict::Pass),
        ("failed-before-last-rotation", Some(12), None, Verdict::Pass),
        ("no-rotation-events", None, None, Verdict::Pass),
    ];
    let mut context = secrets(cases.iter().map(|(name, ..)| secret(name)).collect());
    for (name, failed, succeeded, _) in cases {
        context.usage.insert(
            secret(name).arn,
            AssetUsage {
                last_rotation_failed: failed.map(days_ago),
                last_rotation_failed_event_id: failed.map(|_| format!("event-{name}")),
                last_rotation_succeeded: succeeded.map(days_ago),
                ..AssetUsage::default()
            },
        );
    }
    for (name, _, _, expected) in cases {
        let (actual, cause) = verdict(&context, "secret-rotation-failing", &secret(name).arn);
        assert_eq!(actual, expected, "{name}: {cause}");
    }
    let finding = findings(&context, "secret-rotation-failing")
        .into_iter()
        .find(|finding| finding.resource_arn == secret("failed-never-succeeded").arn)
        .unwrap();
    assert!(
        finding.cause.contains("RotationFailed"),
        "{}",
        finding.cause
    );
    assert!(finding.evidence.contains("event-failed-never-succeeded"));
}

#[test]
fn secret_policies_and_key() {
    let mut public = secret("public");
    public.policy = Some(
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#.into(),
    );
    let mut shared = secret("shared");
    shared.policy = Some(
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#.into(),
    );
    let mut default_key = secret("default-key");
    default_key.kms_key_id = None;
    let context = secrets(vec![public.clone(), shared.clone(), default_key.clone()]);
    assert_eq!(
        verdict(&context, "secret-policy-public", &public.arn).0,
        Verdict::Fail
    );
    assert_eq!(
        verdict(&context, "secret-policy-public", &shared.arn).0,
        Verdict::Pass
    );
    assert_eq!(
        verdict(&context, "secret-external-access", &shared.arn).0,
        Verdict::Fail
    );
    assert_eq!(
        verdict(&context, "secret-external-access", &default_key.arn).0,
        Verdict::Pass
    );
    assert_eq!(
        verdict(&context, "secret-customer-managed-key", &default_key.arn).0,
        Verdict::Fail
    );
    assert_eq!(
        verdict(&context, "secret-customer-managed-key", &public.arn).0,
        Verdict::Pass
    );
}

#[test]
fn replica_secret_judged_once() {
    let primary = secret("db");
    let replica = SecretRecord {
        region: "eu-west-1".into(),
        arn: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:db-AbCdEf".into(),
        primary_region: Some(REGION.into()),
        ..secret("db")
    };
    let context = secrets(vec![primary.clone(), replica.clone()]);
    let found = findings(&context, "secret-rotation-enabled");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].resource_arn, primary.arn);
}

#[test]
fn unread_service_is_unknown_never_pass() {
    let mut context = keys(Vec::new());
    context.snapshot.coverage = vec![
        coverage("kms", CoverageStatus::AccessDenied),
        coverage("acm", CoverageStatus::Ok),
        coverage("secretsmanager", CoverageStatus::Ok),
    ];
    let found = findings(&context, "kms-key-rotation");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].verdict, Verdict::Unknown);
    assert_eq!(found[0].resource_arn, format!("{ACCOUNT}/{REGION}/kms"));
    assert!(findings(&context, "secret-unused").is_empty());
}

#[test]
fn exceptions_suppress_until_they_expire() {
    let mut off = key("off");
    off.rotation_enabled = Some(false);
    off.aliases = vec!["alias/legacy-app".into()];
    let config = |expires: &str| {
        Config::parse(&format!(
            "[[exceptions]]\nrule = \"kms-key-rotation\"\nname = \"alias/legacy-*\"\nreason = \"migrating\"\nexpires = {expires}\n"
        ))
        .unwrap()
    };
    let current = Context {
        config: config("2026-12-31"),
        ..keys(vec![off.clone()])
    };
    let found = findings(&current, "kms-key-rotation");
    assert_eq!(found[0].verdict, Verdict::Fail);
    assert!(
        found[0]
            .suppressed_by
            .as_deref()
            .unwrap()
            .contains("migrating")
    );
    let expired = Context {
        config: config("2026-01-01"),
        ..keys(vec![off])
    };
    assert_eq!(
        findings(&expired, "kms-key-rotation")[0].suppressed_by,
        None
    );
}

#[test]
fn rules_can_be_turned_off_and_reweighted() {
    let mut off = key("off");
    off.rotation_enabled = Some(false);
    let disabled = Context {
        config: Config::parse("[rules.kms-key-rotation]\nenabled = false\n").unwrap(),
        ..keys(vec![off.clone()])
    };
    assert!(findings(&disabled, "kms-key-rotation").is_empty());
    let raised = Context {
        config: Config::parse("[rules.kms-key-rotation]\nseverity = \"critical\"\n").unwrap(),
        ..keys(vec![off])
    };
    assert_eq!(
        findings(&raised, "kms-key-rotation")[0].severity,
        keyward_rules::Severity::Critical
    );
}

#[test]
fn quantum_readiness_of_keys_and_certificates() {
    let mut signing = key("signing");
    signing.key_spec = Some("RSA_3072".into());
    signing.key_usage = Some("SIGN_VERIFY".into());
    let mut post_quantum = key("post-quantum");
    post_quantum.key_spec = Some("ML_DSA_65".into());
    post_quantum.key_usage = Some("SIGN_VERIFY".into());
    let mut short_mac = key("short-mac");
    short_mac.key_spec = Some("HMAC_224".into());
    short_mac.key_usage = Some("GENERATE_VERIFY_MAC".into());
    let mut symmetric = key("symmetric");
    symmetric.key_spec = Some("SYMMETRIC_DEFAULT".into());
    let context = keys(vec![
        signing.clone(),
        post_quantum.clone(),
        short_mac.clone(),
        symmetric.clone(),
    ]);
    let rule = "kms-key-quantum-readiness";
    let (verdict_of_rsa, cause) = verdict(&context, rule, &signing.arn);
    assert_eq!(verdict_of_rsa, Verdict::Fail);
    assert!(cause.contains("RSA-3072: quantum-vulnerable"), "{cause}");
    assert_eq!(verdict(&context, rule, &post_quantum.arn).0, Verdict::Pass);
    let (verdict_of_mac, cause) = verdict(&context, rule, &short_mac.arn);
    assert_eq!(verdict_of_mac, Verdict::Fail);
    assert!(cause.contains("weakened"), "{cause}");
    assert_eq!(verdict(&context, rule, &symmetric.arn).0, Verdict::Pass);

    let mut elliptic = certificate("elliptic");
    elliptic.key_algorithm = Some("EC_secp384r1".into());
    let mut expired = certificate("expired-rsa");
    expired.status = Some("EXPIRED".into());
    let context = certificates(vec![elliptic.clone(), expired.clone()]);
    let rule = "acm-certificate-quantum-readiness";
    let (verdict_of_ec, cause) = verdict(&context, rule, &elliptic.arn);
    assert_eq!(verdict_of_ec, Verdict::Fail);
    assert!(cause.contains("ECDSA-P384"), "{cause}");
    // An expired certificate protects nothing any more.
    assert!(
        findings(&context, rule)
            .iter()
            .all(|finding| finding.resource_arn != expired.arn)
    );
}

const MANAGED_RULE: &str = "iam-policy-kms-decrypt-all-keys";
const INLINE_RULE: &str = "iam-inline-policy-kms-decrypt-all-keys";

/// Builds a customer managed policy attached to one role.
fn managed_policy(name: &str, document: &str) -> IamPolicyRecord {
    IamPolicyRecord {
        account_id: ACCOUNT.into(),
        policy_type: PolicyType::Managed,
        policy_name: name.into(),
        arn: Some(format!("arn:aws:iam::{ACCOUNT}:policy/{name}")),
        default_version_id: Some("v1".into()),
        attachment_count: Some(1),
        permissions_boundary_usage_count: Some(0),
        document: Some(document.into()),
        ..IamPolicyRecord::default()
    }
}

/// Builds an inline policy of a role.
fn inline_policy(role: &str, name: &str, document: &str) -> IamPolicyRecord {
    IamPolicyRecord {
        account_id: ACCOUNT.into(),
        policy_type: PolicyType::Inline,
        policy_name: name.into(),
        principal_type: Some(PrincipalType::Role),
        principal_name: Some(role.into()),
        principal_arn: Some(format!("arn:aws:iam::{ACCOUNT}:role/{role}")),
        document: Some(document.into()),
        ..IamPolicyRecord::default()
    }
}

fn iam(policies: Vec<IamPolicyRecord>) -> Context {
    let mut context = context(Snapshot {
        iam_policies: policies,
        ..Snapshot::default()
    });
    context.snapshot.coverage.push(CoverageRecord {
        account_id: ACCOUNT.into(),
        service: "iam".into(),
        ..CoverageRecord::default()
    });
    context
}

fn managed_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:policy/{name}")
}

fn role_arn(role: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{role}")
}

fn evidence(context: &Context, rule_id: &str, arn: &str) -> serde_json::Value {
    let found = findings(context, rule_id);
    let finding = found.iter().find(|f| f.resource_arn == arn).unwrap();
    serde_json::from_str(&finding.evidence).unwrap()
}

#[test]
fn catalog_examples_hold() {
    for example in keyward_rules::examples() {
        assert!(rule(example.rule_id).is_some(), "{}", example.shape);
        let (context, arn) = if example.rule_id == MANAGED_RULE {
            let policy = managed_policy("example", example.document);
            (iam(vec![policy]), managed_arn("example"))
        } else {
            let policy = inline_policy("app", "example", example.document);
            (iam(vec![policy]), role_arn("app"))
        };
        let (verdict, cause) = verdict(&context, example.rule_id, &arn);
        assert_eq!(
            verdict, example.verdict,
            "{}: {} ({cause})",
            example.rule_id, example.shape
        );
    }
    for rule_id in [MANAGED_RULE, INLINE_RULE] {
        let verdicts: Vec<Verdict> = keyward_rules::examples()
            .iter()
            .filter(|example| example.rule_id == rule_id)
            .map(|example| example.verdict)
            .collect();
        assert!(
            verdicts.contains(&Verdict::Pass),
            "{rule_id} has no passing example"
        );
        assert!(
            verdicts.contains(&Verdict::Fail),
            "{rule_id} has no failing example"
        );
    }
}

/// Wraps statements in a policy document.
fn document(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

#[test]
fn decryption_statement_shapes() {
    let cases = [
        // Resource patterns.
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}"#,
            Verdict::Fail,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:*:key/*"}"#,
            Verdict::Fail,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*"}"#,
            Verdict::Fail,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:*:kms:*:*:*"}"#,
            Verdict::Fail,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:????????????:key/*"}"#,
            Verdict::Fail,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:*:alias/*"}"#,
            Verdict::Pass,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:*:key/mrk-*"}"#,
            Verdict::Pass,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:111122223333:key/*"}"#,
            Verdict::Pass,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:*:key/*"}"#,
            Verdict::Pass,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":["arn:aws:kms:us-east-1:*:key/*","arn:aws:kms:eu-west-1:*:key/*"]}"#,
            Verdict::Pass,
        ),
        // Two statements that together cover every Region.
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-*:*:key/*"},{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:*:key/*"}"#,
            Verdict::Fail,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-*:*:key/*"},{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:ap-*:*:key/*"}"#,
            Verdict::Fail,
        ),
        // Action patterns.
        (
            r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#,
            Verdict::Fail,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"}"#,
            Verdict::Fail,
        ),
        (
            r#"{"Effect":"Allow","Action":"KMS:DECRYPT","Resource":"*"}"#,
            Verdict::Fail,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:De*","Resource":"*"}"#,
            Verdict::Fail,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:ReEncrypt*","Resource":"*"}"#,
            Verdict::Fail,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:ReEncryptFrom","Resource":"*"}"#,
            Verdict::Fail,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:ReEncryptTo","Resource":"*"}"#,
            Verdict::Pass,
        ),
        (
            r#"{"Effect":"Allow","Action":["kms:Describe*","kms:List*","kms:Encrypt"],"Resource":"*"}"#,
            Verdict::Pass,
        ),
        (
            r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#,
            Verdict::Pass,
        ),
        // NotAction and NotResource.
        (
            r#"{"Effect":"Allow","NotAction":"s3:*","Resource":"*"}"#,
            Verdict::Fail,
        ),
        (
            r#"{"Effect":"Allow","NotAction":"kms:*","Resource":"*"}"#,
            Verdict::Pass,
        ),
        (
            r#"{"Effect":"Allow","NotAction":"kms:Decrypt","Resource":"*"}"#,
            Verdict::Fail,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","NotResource":"arn:aws:kms:us-east-1:*:key/*"}"#,
            Verdict::Pass,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","NotResource":"arn:aws:s3:::bucket/*"}"#,
            Verdict::Fail,
        ),
        // Conditions on Allow do not count, as in Security Hub.
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}"#,
            Verdict::Fail,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"111122223333"}}}"#,
            Verdict::Fail,
        ),
        // Deny statements.
        (
            r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":["kms:Decrypt","kms:ReEncrypt*"],"Resource":"*"}"#,
            Verdict::Pass,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}"#,
            Verdict::Fail,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","NotAction":"kms:Encrypt","Resource":"*"}"#,
            Verdict::Pass,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"},{"Effect":"Deny","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:*:key/*"}"#,
            Verdict::Pass,
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"},{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*","Condition":{"StringNotEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}"#,
            Verdict::Fail,
        ),
        (
            r#"{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}"#,
            Verdict::Pass,
        ),
    ];
    for (statements, expected) in cases {
        let context = iam(vec![managed_policy("p", &document(statements))]);
        let (verdict, cause) = verdict(&context, MANAGED_RULE, &managed_arn("p"));
        assert_eq!(verdict, expected, "{statements}: {cause}");
    }
}

#[test]
fn decryption_judged_in_the_policy_partition() {
    let statements =
        r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:*:key/*"}"#;
    let mut china = managed_policy("china", &document(statements));
    china.arn = Some(format!("arn:aws-cn:iam::{ACCOUNT}:policy/china"));
    let context = iam(vec![china.clone()]);
    let arn = china.arn.clone().unwrap();
    assert_eq!(verdict(&context, MANAGED_RULE, &arn).0, Verdict::Pass);
    let statements =
        r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws-cn:kms:*:*:key/*"}"#;
    china.document = Some(document(statements));
    let context = iam(vec![china]);
    assert_eq!(verdict(&context, MANAGED_RULE, &arn).0, Verdict::Fail);
}

#[test]
fn managed_policy_failure_names_statement() {
    let statements = r#"{"Sid":"ReadKeys","Effect":"Allow","Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"arn:aws:kms:us-east-1:111122223333:key/k"},{"Sid":"DecryptAll","Effect":"Allow","Action":"kms:Re*","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}"#;
    let context = iam(vec![managed_policy("broad", &document(statements))]);
    let arn = managed_arn("broad");
    let (fail, cause) = verdict(&context, MANAGED_RULE, &arn);
    assert_eq!(fail, Verdict::Fail);
    assert!(
        cause.contains("statement DecryptAll allows kms:ReEncryptFrom"),
        "{cause}"
    );
    assert!(cause.contains("kms:ViaService"), "{cause}");
    assert!(cause.contains("version v1"), "{cause}");
    assert!(!cause.contains("attached to nothing"), "{cause}");
    let evidence = evidence(&context, MANAGED_RULE, &arn);
    let statement = &evidence["statements"][0];
    assert_eq!(statement["statement"], "DecryptAll");
    assert_eq!(statement["index"], 2);
    assert_eq!(statement["Action"], serde_json::json!(["kms:Re*"]));
    assert_eq!(
        statement["decryption_actions"],
        serde_json::json!(["kms:ReEncryptFrom"])
    );
    assert_eq!(evidence["scoped_statements"][0]["statement"], "ReadKeys");
    let finding = &findings(&context, MANAGED_RULE)[0];
    assert_eq!(finding.region, "");
    assert_eq!(finding.account_id, ACCOUNT);
}

#[test]
fn unattached_managed_policy_still_fails() {
    let mut unattached = managed_policy(
        "spare",
        &document(r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}"#),
    );
    unattached.attachment_count = Some(0);
    let context = iam(vec![unattached]);
    let (fail, cause) = verdict(&context, MANAGED_RULE, &managed_arn("spare"));
    assert_eq!(fail, Verdict::Fail);
    assert!(cause.contains("attached to nothing"), "{cause}");
    assert!(cause.contains("statement 1 allows kms:Decrypt"), "{cause}");
}

#[test]
fn permissions_boundary_policy_is_left_out() {
    let mut boundary = managed_policy(
        "boundary",
        &document(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#),
    );
    boundary.permissions_boundary_usage_count = Some(2);
    let context = iam(vec![boundary]);
    assert!(findings(&context, MANAGED_RULE).is_empty());
}

#[test]
fn unreadable_policy_document_is_unknown() {
    let mut missing = managed_policy("missing", "");
    missing.document = None;
    missing.read_errors = vec!["the policy document is not URL-encoded UTF-8: invalid".into()];
    let invalid = managed_policy("invalid", "{not json");
    let context = iam(vec![missing, invalid]);
    let (unknown, cause) = verdict(&context, MANAGED_RULE, &managed_arn("missing"));
    assert_eq!(unknown, Verdict::Unknown);
    assert!(cause.contains("URL-encoded"), "{cause}");
    let (unknown, cause) = verdict(&context, MANAGED_RULE, &managed_arn("invalid"));
    assert_eq!(unknown, Verdict::Unknown);
    assert!(cause.contains("not JSON"), "{cause}");
}

#[test]
fn inline_policies_judged_per_principal() {
    let broad =
        document(r#"{"Sid":"Everything","Effect":"Allow","Action":"kms:*","Resource":"*"}"#);
    let scoped = document(
        r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/k"}"#,
    );
    let mut user = inline_policy("unused", "user-policy", &scoped);
    user.principal_type = Some(PrincipalType::User);
    user.principal_name = Some("alice".into());
    user.principal_arn = Some(format!("arn:aws:iam::{ACCOUNT}:user/alice"));
    let mut unreadable = inline_policy("dark", "unread", "");
    unreadable.document = None;
    let context = iam(vec![
        inline_policy("app", "scoped", &scoped),
        inline_policy("app", "broad", &broad),
        inline_policy("worker", "scoped", &scoped),
        user.clone(),
        unreadable,
    ]);
    let found = findings(&context, INLINE_RULE);
    assert_eq!(found.len(), 4, "one finding per principal: {found:?}");

    let (fail, cause) = verdict(&context, INLINE_RULE, &role_arn("app"));
    assert_eq!(fail, Verdict::Fail);
    assert!(cause.contains("inline policy broad"), "{cause}");
    assert!(
        cause.contains("statement Everything allows kms:Decrypt and kms:ReEncryptFrom"),
        "{cause}"
    );
    let evidence = evidence(&context, INLINE_RULE, &role_arn("app"));
    assert_eq!(evidence["principal_type"], "role");
    assert_eq!(evidence["policies"].as_array().unwrap().len(), 2);

    let (pass, cause) = verdict(&context, INLINE_RULE, &role_arn("worker"));
    assert_eq!(pass, Verdict::Pass);
    assert!(cause.contains("in 1 inline policies"), "{cause}");
    let user_arn = user.principal_arn.unwrap();
    assert_eq!(verdict(&context, INLINE_RULE, &user_arn).0, Verdict::Pass);
    assert_eq!(
        verdict(&context, INLINE_RULE, &role_arn("dark")).0,
        Verdict::Unknown
    );
    // Customer managed policies are judged by the other rule only.
    assert!(findings(&context, MANAGED_RULE).is_empty());
}

#[test]
fn unread_iam_is_unknown_per_account() {
    let mut context = iam(vec![managed_policy(
        "p",
        &document(r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}"#),
    )]);
    let denied = CoverageRecord {
        account_id: "444455556666".into(),
        service: "iam".into(),
        status: CoverageStatus::AccessDenied,
        operation: Some("GetAccountAuthorizationDetails".into()),
        error_message: Some("not authorized".into()),
        ..CoverageRecord::default()
    };
    let regions = CoverageRecord {
        account_id: ACCOUNT.into(),
        service: "account".into(),
        status: CoverageStatus::AccessDenied,
        operation: Some("ListRegions".into()),
        ..CoverageRecord::default()
    };
    context.snapshot.coverage.extend([denied, regions]);
    for rule_id in [MANAGED_RULE, INLINE_RULE] {
        let unknown: Vec<Finding> = findings(&context, rule_id)
            .into_iter()
            .filter(|f| f.verdict == Verdict::Unknown)
            .collect();
        // The Regions that could not be listed leave IAM known.
        assert_eq!(unknown.len(), 1, "{rule_id}: {unknown:?}");
        assert_eq!(unknown[0].resource_arn, "444455556666//iam");
        assert!(
            unknown[0].cause.contains("in this account: not authorized"),
            "{}",
            unknown[0].cause
        );
    }
}

fn account(id: &str, path: &[&str]) -> AccountRecord {
    AccountRecord {
        account_id: id.into(),
        scanned: true,
        ou_path_ids: path.iter().map(|ou| (*ou).to_owned()).collect(),
        ..AccountRecord::default()
    }
}

/// Builds keys that fail rotation in three accounts: one in a nested OU,
/// one in another OU, and one whose OU path is unknown.
fn keys_in_units(config: &str) -> Context {
    let placed = |id: &str, account_id: &str| {
        let mut key = key(id);
        key.account_id = account_id.into();
        key.arn = format!("arn:aws:kms:{REGION}:{account_id}:key/{id}");
        key.rotation_enabled = Some(false);
        key
    };
    let mut context = keys(vec![
        placed("nested", "111111111111"),
        placed("outside", "222222222222"),
        placed("unplaced", "333333333333"),
    ]);
    context.snapshot.accounts = vec![
        account(
            "111111111111",
            &["r-ab12", "ou-ab12-aaaaaaaa", "ou-ab12-bbbbbbbb"],
        ),
        account("222222222222", &["r-ab12", "ou-ab12-cccccccc"]),
        account("333333333333", &[]),
    ];
    for account_id in ["111111111111", "222222222222", "333333333333"] {
        context.snapshot.coverage.push(CoverageRecord {
            account_id: account_id.into(),
            region: REGION.into(),
            service: "kms".into(),
            ..CoverageRecord::default()
        });
    }
    context.config = Config::parse(config).unwrap();
    context
}

fn suppressed(context: &Context, key_id: &str, account_id: &str) -> bool {
    let arn = format!("arn:aws:kms:{REGION}:{account_id}:key/{key_id}");
    findings(context, "kms-key-rotation")
        .iter()
        .find(|f| f.resource_arn == arn)
        .unwrap()
        .suppressed_by
        .is_some()
}

#[test]
fn ou_exception_covers_nested_accounts_only() {
    let context = keys_in_units(
        "[[exceptions]]\nrule = \"kms-key-rotation\"\nou = \"ou-ab12-aaaaaaaa\"\nreason = \"workloads\"\nexpires = 2026-12-31\n",
    );
    assert!(suppressed(&context, "nested", "111111111111"));
    assert!(!suppressed(&context, "outside", "222222222222"));
    assert!(!suppressed(&context, "unplaced", "333333333333"));
    assert!(context.config.has_ou_exceptions());
    let unknown: Vec<&str> = context.accounts_without_ou_path().into_iter().collect();
    assert_eq!(unknown, [ACCOUNT, "333333333333"]);
}

#[test]
fn root_exception_covers_every_placed_account() {
    let context = keys_in_units(
        "[[exceptions]]\nrule = \"*\"\nou = \"r-ab12\"\nreason = \"whole organization\"\nexpires = 2026-12-31\n",
    );
    assert!(suppressed(&context, "nested", "111111111111"));
    assert!(suppressed(&context, "outside", "222222222222"));
    assert!(!suppressed(&context, "unplaced", "333333333333"));
}

#[test]
fn ou_exception_needs_every_selector() {
    let context = keys_in_units(
        "[[exceptions]]\nrule = \"kms-key-rotation\"\nou = \"ou-ab12-aaaaaaaa\"\naccount = \"222222222222\"\nreason = \"r\"\nexpires = 2026-12-31\n",
    );
    assert!(!suppressed(&context, "nested", "111111111111"));
    assert!(!suppressed(&context, "outside", "222222222222"));
}

#[test]
fn certificate_transparency_logging() {
    let mut disabled = certificate("disabled");
    disabled.transparency_logging = Some("DISABLED".into());
    let mut enabled = certificate("enabled");
    enabled.transparency_logging = Some("ENABLED".into());
    let unset = certificate("unset");
    let mut imported = certificate("imported");
    imported.certificate_type = Some("IMPORTED".into());
    imported.transparency_logging = Some("DISABLED".into());
    let context = certificates(vec![
        disabled.clone(),
        enabled.clone(),
        unset.clone(),
        imported.clone(),
    ]);
    let rule = "acm-certificate-transparency-logging";
    assert_eq!(verdict(&context, rule, &disabled.arn).0, Verdict::Fail);
    assert_eq!(verdict(&context, rule, &enabled.arn).0, Verdict::Pass);
    assert_eq!(verdict(&context, rule, &unset.arn).0, Verdict::Pass);
    assert!(
        findings(&context, rule)
            .iter()
            .all(|finding| finding.resource_arn != imported.arn)
    );
}
