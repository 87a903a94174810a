//! ACM certificates of every type, status and key algorithm, the AWS
//! Private CA authorities that issue the private ones, and the verdict
//! each rule must reach.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use keyward_store::inventory::{AuthorityRecord, CertificateRecord, Snapshot};
use serde_json::json;

use crate::activity::{Activity, Caller, PlannedEvent, Service, TrailAsset};
use crate::organization::Account;
use crate::random::Random;
use crate::truth::{ExpectedAsset, Verdict};
use crate::world::{Place, World, thresholds};
use crate::{Built, Planned, SCAN_ID};

/// The situations that certificates are built to show. Every
/// organization has each at least once, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Amazon issued, in use, renews by itself, far from expiry.
    Healthy,
    /// Imported, in use, expires within the month and cannot renew.
    ExpiringImported,
    /// Expired while a load balancer still uses it.
    ExpiredInUse,
    /// Expired and used by nothing.
    ExpiredUnused,
    /// Requested, and the DNS record for validation is missing.
    PendingValidation,
    /// Validation timed out after 72 hours.
    ValidationTimedOut,
    /// A private certificate, revoked.
    RevokedPrivate,
    /// Imported with an RSA 1024 key.
    WeakKey,
    /// Managed renewal failed on a CAA record, and expiry is near.
    RenewalFailed,
    /// Certificate Transparency logging turned off.
    TransparencyDisabled,
    /// A private certificate with an elliptic-curve key, in use.
    PrivateEcc,
    /// A private certificate with an ML-DSA key.
    PrivateMlDsa,
    /// Amazon issued and not attached to anything.
    NotInUse,
}

impl Scenario {
    /// Every scenario, in the order an organization first builds them.
    pub const ALL: [Self; 13] = [
        Self::Healthy,
        Self::ExpiringImported,
        Self::ExpiredInUse,
        Self::ExpiredUnused,
        Self::PendingValidation,
        Self::ValidationTimedOut,
        Self::RevokedPrivate,
        Self::WeakKey,
        Self::RenewalFailed,
        Self::TransparencyDisabled,
        Self::PrivateEcc,
        Self::PrivateMlDsa,
        Self::NotInUse,
    ];

    /// Returns the scenario's name in the ground truth.
    pub fn name(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::ExpiringImported => "expiring-imported",
            Self::ExpiredInUse => "expired-in-use",
            Self::ExpiredUnused => "expired-unused",
            Self::PendingValidation => "pending-validation",
            Self::ValidationTimedOut => "validation-timed-out",
            Self::RevokedPrivate => "revoked-private",
            Self::WeakKey => "weak-key",
            Self::RenewalFailed => "renewal-failed",
            Self::TransparencyDisabled => "transparency-disabled",
            Self::PrivateEcc => "private-ecc",
            Self::PrivateMlDsa => "private-ml-dsa",
            Self::NotInUse => "not-in-use",
        }
    }

    /// Draws a scenario for a certificate past the first round.
    pub fn draw(random: &mut Random) -> Self {
        if random.percent(60) {
            Self::Healthy
        } else {
            *random.pick(&Self::ALL)
        }
    }
}

/// The certificate authorities of the organization's Private CA, in the
/// security account.
pub struct Authorities {
    /// ARN of the subordinate CA that issues the private certificates.
    pub issuing_arn: Option<String>,
}

/// Builds a root and a subordinate CA in the security account's first
/// Region.
pub fn build_authorities(
    world: &World,
    random: &mut Random,
    snapshot: &mut Snapshot,
    built: &mut Vec<Built>,
) -> Authorities {
    let account = world.organization.security_account();
    let Some(region) = world.organization.regions.first() else {
        return Authorities { issuing_arn: None };
    };
    let mut issuing_arn = None;
    for (kind, algorithm, signing, name) in [
        (
            "ROOT",
            "RSA_4096",
            "SHA512WITHRSA",
            "Example Corp Root CA G1",
        ),
        (
            "SUBORDINATE",
            "EC_prime256v1",
            "SHA256WITHECDSA",
            "Example Corp Issuing CA G1",
        ),
    ] {
        let arn = format!(
            "arn:aws:acm-pca:{region}:{}:certificate-authority/{}",
            account.id,
            random.uuid()
        );
        let created = world.days_ago(i64::from(random.between(400, 900)));
        let record = AuthorityRecord {
            scan_id: SCAN_ID.to_owned(),
            account_id: account.id.clone(),
            region: region.clone(),
            arn: arn.clone(),
            authority_type: Some(kind.to_owned()),
            status: Some("ACTIVE".to_owned()),
            usage_mode: Some("GENERAL_PURPOSE".to_owned()),
            key_algorithm: Some(algorithm.to_owned()),
            signing_algorithm: Some(signing.to_owned()),
            key_storage_security_standard: Some("FIPS_140_2_LEVEL_3_OR_HIGHER".to_owned()),
            common_name: Some(name.to_owned()),
            not_before: Some(created),
            not_after: Some(created + Duration::days(if kind == "ROOT" { 3650 } else { 1825 })),
            created_at: Some(created),
            crl_enabled: Some(true),
            ocsp_enabled: Some(kind == "SUBORDINATE"),
            ..AuthorityRecord::default()
        };
        snapshot.authorities.push(record.clone());
        let activity = Activity {
            callers: vec![Caller {
                account: account.id.clone(),
                role: account.app_role.clone(),
                via_service: Some("acm.amazonaws.com"),
            }],
            operations: if kind == "ROOT" {
                &["GetCertificate"]
            } else {
                &["IssueCertificate", "GetCertificate"]
            },
            first_use: Some(world.start),
            last_use: Some(world.hours_ago(i64::from(random.between(1, 72)))),
            weight: 1,
            described: true,
            ..Activity::default()
        };
        built.push(Built {
            expected: ExpectedAsset {
                arn: arn.clone(),
                resource_type: "AwsAcmPcaCertificateAuthority".to_owned(),
                account_id: account.id.clone(),
                region: region.clone(),
                scenario: format!("{}-authority", kind.to_ascii_lowercase()),
                last_use: activity.last_use,
                verdicts: BTreeMap::new(),
            },
            trail: Some(TrailAsset {
                service: Service::AcmPca,
                arn: arn.clone(),
                account: account.id.clone(),
                region: region.clone(),
                resource_type: "AWS::ACMPCA::CertificateAuthority",
                activity,
            }),
            planned: Planned::Authority(Box::new(record)),
        });
        issuing_arn = Some(arn);
    }
    Authorities { issuing_arn }
}

/// Builds the certificates of one account and Region into the snapshot.
pub fn build(
    world: &World,
    random: &mut Random,
    place: Place<'_>,
    authorities: &Authorities,
    scenarios: &mut dyn Iterator<Item = Scenario>,
    count: u32,
    snapshot: &mut Snapshot,
) -> Vec<Built> {
    let Place { account, region } = place;
    let mut built = Vec::new();
    for _ in 0..count {
        let scenario = scenarios.next().unwrap_or_else(|| Scenario::draw(random));
        let record = certificate(world, random, account, region, authorities, scenario);
        let verdicts = verdicts(world, &record);
        let activity = activity(world, random, account, &record, scenario);
        built.push(Built {
            expected: ExpectedAsset {
                arn: record.arn.clone(),
                resource_type: "AwsCertificateManagerCertificate".to_owned(),
                account_id: account.id.clone(),
                region: region.to_owned(),
                scenario: scenario.name().to_owned(),
                last_use: activity.last_use,
                verdicts,
            },
            trail: Some(TrailAsset {
                service: Service::Acm,
                arn: record.arn.clone(),
                account: account.id.clone(),
                region: region.to_owned(),
                resource_type: "AWS::ACM::Certificate",
                activity,
            }),
            planned: Planned::Certificate(Box::new(record.clone())),
        });
        snapshot.certificates.push(record);
    }
    built
}

/// Key algorithms of the certificates whose scenario does not fix one, RSA
/// 2048 most often, as in most accounts.
const KEY_ALGORITHMS: [&str; 7] = [
    "RSA_2048",
    "RSA_2048",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "EC_prime256v1",
    "EC_secp384r1",
];

const HOSTS: [&str; 8] = [
    "api", "www", "auth", "pay", "cdn", "admin", "status", "hooks",
];

/// Returns a time between `low` and `high` whole days from now, plus a few
/// hours so that the rules' day counts do not sit on a boundary.
fn days_from_now(world: &World, random: &mut Random, low: u32, high: u32) -> DateTime<Utc> {
    let days = i64::from(random.between(low, high));
    world.now + Duration::days(days) + Duration::hours(i64::from(random.between(2, 20)))
}

fn certificate(
    world: &World,
    random: &mut Random,
    account: &Account,
    region: &str,
    authorities: &Authorities,
    scenario: Scenario,
) -> CertificateRecord {
    let host = random.pick(&HOSTS);
    let domain = format!("{host}.{}.example.com", account.name);
    let arn = format!(
        "arn:aws:acm:{region}:{}:certificate/{}",
        account.id,
        random.uuid()
    );
    let load_balancer = format!(
        "arn:aws:elasticloadbalancing:{region}:{}:loadbalancer/app/{}-{host}/{}",
        account.id,
        account.name,
        random.hex(16)
    );
    let issued = world.days_ago(i64::from(random.between(20, 300)));
    let mut record = CertificateRecord {
        scan_id: SCAN_ID.to_owned(),
        account_id: account.id.clone(),
        region: region.to_owned(),
        arn,
        domain_name: Some(domain.clone()),
        subject_alternative_names: vec![domain.clone()],
        status: Some("ISSUED".to_owned()),
        certificate_type: Some("AMAZON_ISSUED".to_owned()),
        key_algorithm: Some((*random.pick(&KEY_ALGORITHMS)).to_owned()),
        signature_algorithm: Some("SHA256WITHRSA".to_owned()),
        subject: Some(format!("CN={domain}")),
        issuer: Some("Amazon".to_owned()),
        serial: Some(random.hex(32)),
        not_before: Some(issued),
        not_after: Some(issued + Duration::days(395)),
        created_at: Some(issued - Duration::minutes(10)),
        issued_at: Some(issued),
        in_use_by: vec![load_balancer],
        renewal_eligibility: Some("ELIGIBLE".to_owned()),
        transparency_logging: Some("ENABLED".to_owned()),
        export_option: Some("DISABLED".to_owned()),
        key_usages: vec![
            "DIGITAL_SIGNATURE".to_owned(),
            "KEY_ENCIPHERMENT".to_owned(),
        ],
        extended_key_usages: vec!["TLS_WEB_SERVER_AUTHENTICATION".to_owned()],
        ..CertificateRecord::default()
    };
    // Keep the healthy ones clear of the expiry window.
    let far = days_from_now(world, random, 60, 330);
    record.not_after = Some(far);

    match scenario {
        Scenario::Healthy => {}
        Scenario::ExpiringImported => {
            import(&mut record);
            record.not_after = Some(days_from_now(world, random, 3, 25));
        }
        Scenario::ExpiredInUse => {
            import(&mut record);
            record.status = Some("EXPIRED".to_owned());
            record.not_after = Some(world.days_ago(i64::from(random.between(2, 40))));
        }
        Scenario::ExpiredUnused => {
            record.status = Some("EXPIRED".to_owned());
            record.in_use_by.clear();
            record.renewal_eligibility = Some("INELIGIBLE".to_owned());
            record.not_after = Some(world.days_ago(i64::from(random.between(10, 200))));
        }
        Scenario::PendingValidation | Scenario::ValidationTimedOut => {
            record.status = Some(
                if scenario == Scenario::PendingValidation {
                    "PENDING_VALIDATION"
                } else {
                    "VALIDATION_TIMED_OUT"
                }
                .to_owned(),
            );
            record.in_use_by.clear();
            record.renewal_eligibility = Some("INELIGIBLE".to_owned());
            record.not_before = None;
            record.not_after = None;
            record.issued_at = None;
            record.serial = None;
            record.issuer = None;
            record.created_at = Some(world.hours_ago(i64::from(random.between(5, 60))));
            if scenario == Scenario::ValidationTimedOut {
                record.created_at = Some(world.days_ago(i64::from(random.between(5, 60))));
                record.failure_reason = Some("NO_AVAILABLE_CONTACTS".to_owned());
            }
        }
        Scenario::RevokedPrivate => {
            private(&mut record, authorities);
            record.status = Some("REVOKED".to_owned());
            record.revoked_at = Some(world.days_ago(i64::from(random.between(1, 60))));
            record.revocation_reason = Some("KEY_COMPROMISE".to_owned());
            record.in_use_by.clear();
        }
        Scenario::WeakKey => {
            import(&mut record);
            record.key_algorithm = Some("RSA_1024".to_owned());
            record.in_use_by.clear();
        }
        Scenario::RenewalFailed => {
            record.not_after = Some(days_from_now(world, random, 5, 25));
            record.renewal_status = Some("FAILED".to_owned());
            record.renewal_failure_reason = Some("CAA_ERROR".to_owned());
        }
        Scenario::TransparencyDisabled => {
            record.transparency_logging = Some("DISABLED".to_owned());
        }
        Scenario::PrivateEcc => {
            private(&mut record, authorities);
            record.key_algorithm = Some("EC_prime256v1".to_owned());
        }
        Scenario::PrivateMlDsa => {
            private(&mut record, authorities);
            record.key_algorithm = Some("ML_DSA_65".to_owned());
            record.signature_algorithm = Some("ML_DSA_65".to_owned());
        }
        Scenario::NotInUse => record.in_use_by.clear(),
    }
    // A certificate is valid for 395 days, so validity begins that long
    // before it ends.
    if let Some(not_after) = record.not_after {
        let not_before = not_after - Duration::days(395);
        record.not_before = Some(not_before);
        if record.imported_at.is_some() {
            record.imported_at = Some(not_before);
        } else {
            record.issued_at = Some(not_before);
        }
        record.created_at = Some(not_before - Duration::minutes(10));
    }
    record
}

fn import(record: &mut CertificateRecord) {
    record.certificate_type = Some("IMPORTED".to_owned());
    record.renewal_eligibility = Some("INELIGIBLE".to_owned());
    record.imported_at = record.issued_at;
    record.issued_at = None;
    record.transparency_logging = None;
    record.issuer = Some("CN=Example Legacy CA".to_owned());
}

fn private(record: &mut CertificateRecord, authorities: &Authorities) {
    record.certificate_type = Some("PRIVATE".to_owned());
    record.certificate_authority_arn = authorities.issuing_arn.clone();
    record.issuer = Some("CN=Example Corp Issuing CA G1".to_owned());
    record.signature_algorithm = Some("SHA256WITHECDSA".to_owned());
    record.transparency_logging = None;
    record.export_option = Some("ENABLED".to_owned());
}

fn activity(
    world: &World,
    random: &mut Random,
    account: &Account,
    record: &CertificateRecord,
    scenario: Scenario,
) -> Activity {
    let mut activity = Activity {
        callers: vec![Caller {
            account: account.id.clone(),
            role: account.admin_role.clone(),
            via_service: None,
        }],
        operations: &["GetCertificate"],
        described: true,
        ..Activity::default()
    };
    let in_use = !record.in_use_by.is_empty() && record.status.as_deref() == Some("ISSUED");
    if in_use {
        activity.first_use = Some(world.start);
        activity.last_use = Some(world.hours_ago(i64::from(random.between(2, 24 * 6))));
        activity.weight = 1;
    }
    if scenario == Scenario::PendingValidation
        && let Some(time) = record.created_at.and_then(|t| world.in_period(t))
    {
        activity.events.push(PlannedEvent {
            time,
            name: "RequestCertificate",
            caller: Some(activity.callers[0].clone()),
            request: json!({
                "domainName": record.domain_name,
                "validationMethod": "DNS",
                "keyAlgorithm": record.key_algorithm,
            }),
            additional: serde_json::Value::Null,
            read_only: false,
        });
    }
    activity
}

fn is_weak(algorithm: &str) -> bool {
    match algorithm.strip_prefix("RSA_") {
        Some(bits) => bits.parse::<u32>().is_ok_and(|bits| bits < 2048),
        None => {
            algorithm.starts_with("EC_")
                && !matches!(algorithm, "EC_prime256v1" | "EC_secp384r1" | "EC_secp521r1")
        }
    }
}

/// Works out the verdicts of a planned certificate from the record that a
/// scan read of it, for an emulator that cannot reproduce every planned
/// field.
pub(crate) fn verdicts_as_scanned(
    world: &World,
    scanned: &CertificateRecord,
) -> BTreeMap<String, Verdict> {
    verdicts(world, scanned)
}

/// Works out the verdict of every certificate rule from the record, by
/// the rules' definitions in plain terms.
fn verdicts(world: &World, record: &CertificateRecord) -> BTreeMap<String, Verdict> {
    let status = record.status.as_deref().unwrap_or_default();
    let amazon = record.certificate_type.as_deref() == Some("AMAZON_ISSUED");
    let in_use = !record.in_use_by.is_empty();
    let mut verdicts = BTreeMap::new();
    let mut set = |rule: &str, verdict: Verdict| {
        verdicts.insert(rule.to_owned(), verdict);
    };

    if status == "ISSUED"
        && let Some(not_after) = record.not_after.filter(|t| *t > world.now)
    {
        let left = (not_after - world.now).num_days();
        set(
            "acm-certificate-expiring",
            Verdict::from_ok(left > thresholds::CERTIFICATE_EXPIRING),
        );
    }
    let expired = status == "EXPIRED" || record.not_after.is_some_and(|t| t <= world.now);
    if expired {
        set("acm-certificate-expired", Verdict::Fail);
    } else if status == "ISSUED" && record.not_after.is_some() {
        set("acm-certificate-expired", Verdict::Pass);
    }
    if let Some(algorithm) = &record.key_algorithm {
        set(
            "acm-certificate-weak-key",
            Verdict::from_ok(!is_weak(algorithm)),
        );
    }
    if amazon {
        set(
            "acm-certificate-pending-validation",
            Verdict::from_ok(status != "PENDING_VALIDATION"),
        );
        set(
            "acm-certificate-transparency-logging",
            Verdict::from_ok(record.transparency_logging.as_deref() != Some("DISABLED")),
        );
    }
    set(
        "acm-certificate-failed",
        Verdict::from_ok(!matches!(
            status,
            "VALIDATION_TIMED_OUT" | "FAILED" | "REVOKED"
        )),
    );
    if status == "ISSUED" && in_use {
        let renews = record.renewal_status.as_deref() != Some("FAILED")
            && record.renewal_eligibility.as_deref() != Some("INELIGIBLE");
        set("acm-certificate-renewal", Verdict::from_ok(renews));
    }
    if !matches!(
        status,
        "EXPIRED" | "REVOKED" | "FAILED" | "VALIDATION_TIMED_OUT"
    ) && let Some(algorithm) = &record.key_algorithm
    {
        set(
            "acm-certificate-quantum-readiness",
            Verdict::from_ok(algorithm.starts_with("ML_DSA")),
        );
    }
    verdicts
}
