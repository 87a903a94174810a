//! Rules for ACM certificates.

use keyward_store::inventory::CertificateRecord;
use serde_json::json;

use crate::context::Context;
use crate::{Evaluation, Resource, ResourceType, Rule, Severity, Threshold};

pub static RULES: [Rule; 7] = [
    Rule {
        id: "acm-certificate-expiring",
        title: "ACM certificates do not expire within the next N days",
        severity: Severity::Medium,
        resource_type: ResourceType::Certificate,
        risk: "A certificate that expires breaks TLS for every client of the resources that use it.",
        remediation: "Renew or reimport the certificate; for an Amazon issued one, fix what blocks managed renewal.",
        remediation_cli: "aws acm renew-certificate --certificate-arn CERTIFICATE_ARN",
        references: &[
            "https://docs.aws.amazon.com/acm/latest/userguide/managed-renewal.html",
            "Security Hub ACM.1 (30 days); AWS Config acm-certificate-expiration-check (14 days); Prowler acm_certificates_expiration_check (7 days)",
        ],
        threshold: Some(Threshold {
            name: "threshold_days",
            default: 30,
            min: 1,
            max: 365,
        }),
        evaluate: expiring,
    },
    Rule {
        id: "acm-certificate-expired",
        title: "ACM certificates are not expired",
        severity: Severity::High,
        resource_type: ResourceType::Certificate,
        risk: "An expired certificate fails every TLS handshake; if still attached, the service is down for clients.",
        remediation: "Replace the certificate on the resources that use it, then delete it.",
        remediation_cli: "aws acm delete-certificate --certificate-arn CERTIFICATE_ARN",
        references: &[
            "https://docs.aws.amazon.com/acm/latest/userguide/troubleshooting-renewal.html",
        ],
        threshold: None,
        evaluate: expired,
    },
    Rule {
        id: "acm-certificate-weak-key",
        title: "ACM certificates use RSA keys of at least 2048 bits or NIST curves",
        severity: Severity::High,
        resource_type: ResourceType::Certificate,
        risk: "Short RSA keys can be factored; clients may also reject them.",
        remediation: "Request or import a replacement with RSA 2048 or longer, or an EC P-256 or P-384 key.",
        remediation_cli: "aws acm request-certificate --domain-name DOMAIN --key-algorithm EC_prime256v1",
        references: &[
            "https://docs.aws.amazon.com/acm/latest/userguide/acm-certificate.html#algorithms",
            "Security Hub ACM.2; Prowler acm_certificates_with_secure_key_algorithms",
        ],
        threshold: None,
        evaluate: weak_key,
    },
    Rule {
        id: "acm-certificate-pending-validation",
        title: "Requested ACM certificates are validated",
        severity: Severity::Medium,
        resource_type: ResourceType::Certificate,
        risk: "A certificate waiting for validation cannot be used, and ACM gives up after 72 hours.",
        remediation: "Create the DNS records (or answer the emails) that ACM asks for in each domain validation option.",
        remediation_cli: "aws acm describe-certificate --certificate-arn CERTIFICATE_ARN --query Certificate.DomainValidationOptions",
        references: &[
            "https://docs.aws.amazon.com/acm/latest/userguide/domain-ownership-validation.html",
            "AWS sample crypto-asset-monitoring pending-validation rule (fixed: every validation option and key type, and PASS once validated)",
        ],
        threshold: None,
        evaluate: pending_validation,
    },
    Rule {
        id: "acm-certificate-failed",
        title: "ACM certificates have not failed validation or been revoked",
        severity: Severity::Medium,
        resource_type: ResourceType::Certificate,
        risk: "A failed, timed-out or revoked certificate cannot secure traffic and may still be attached.",
        remediation: "Request a new certificate, move its users to it, and delete the failed one.",
        remediation_cli: "aws acm delete-certificate --certificate-arn CERTIFICATE_ARN",
        references: &["https://docs.aws.amazon.com/acm/latest/userguide/troubleshooting.html"],
        threshold: None,
        evaluate: failed,
    },
    Rule {
        id: "acm-certificate-renewal",
        title: "ACM certificates in use renew automatically",
        severity: Severity::Medium,
        resource_type: ResourceType::Certificate,
        risk: "A certificate that cannot renew will expire under the services that use it.",
        remediation: "Fix the renewal failure in the evidence, or replace an imported certificate before it expires.",
        remediation_cli: "aws acm describe-certificate --certificate-arn CERTIFICATE_ARN --query Certificate.RenewalSummary",
        references: &[
            "https://docs.aws.amazon.com/acm/latest/userguide/check-certificate-renewal-status.html",
        ],
        threshold: None,
        evaluate: renewal,
    },
    Rule {
        id: "acm-certificate-transparency-logging",
        title: "Amazon issued certificates are logged to Certificate Transparency",
        severity: Severity::Low,
        resource_type: ResourceType::Certificate,
        risk: "Browsers reject public certificates missing from the Certificate Transparency logs, and unlogged certificates escape domain owners' monitoring.",
        remediation: "Turn Certificate Transparency logging back on; AWS no longer lets new requests opt out.",
        remediation_cli: "aws acm update-certificate-options --certificate-arn CERTIFICATE_ARN --options CertificateTransparencyLoggingPreference=ENABLED",
        references: &[
            "https://docs.aws.amazon.com/acm/latest/userguide/acm-concepts.html#concept-transparency",
            "Prowler acm_certificates_transparency_logs_enabled",
        ],
        threshold: None,
        evaluate: transparency_logging,
    },
];

fn certificate<'a>(resource: &Resource<'a>) -> Option<&'a CertificateRecord> {
    match resource {
        Resource::Certificate(certificate) => Some(certificate),
        _ => None,
    }
}

fn evidence(certificate: &CertificateRecord) -> serde_json::Value {
    json!({
        "source": "DescribeCertificate",
        "domain_name": certificate.domain_name,
        "status": certificate.status,
        "type": certificate.certificate_type,
        "key_algorithm": certificate.key_algorithm,
        "not_after": certificate.not_after,
        "in_use_by": certificate.in_use_by,
        "renewal_eligibility": certificate.renewal_eligibility,
        "renewal_status": certificate.renewal_status,
    })
}

fn unread(certificate: &CertificateRecord) -> Option<Evaluation> {
    certificate.status.is_none().then(|| {
        Evaluation::unknown(
            format!(
                "the certificate could not be described: {}",
                certificate
                    .read_errors
                    .first()
                    .map_or("not read", String::as_str)
            ),
            evidence(certificate),
        )
    })
}

/// Reports whether the rule's settings leave the certificate out.
fn skipped(context: &Context, rule_id: &str, certificate: &CertificateRecord) -> bool {
    let skips = context.config.certificate_skips(rule_id);
    let not_in_use = certificate.in_use_by.is_empty();
    let not_eligible = certificate.renewal_eligibility.as_deref() != Some("ELIGIBLE");
    (skips.not_in_use && not_in_use) || (skips.not_eligible_for_renewal && not_eligible)
}

fn expiring(context: &Context, resource: &Resource<'_>, days: u32) -> Option<Evaluation> {
    let certificate = certificate(resource)?;
    // An unread certificate stays UNKNOWN, because its use and renewal are unknown too.
    if let Some(unknown) = unread(certificate) {
        return Some(unknown);
    }
    if skipped(context, "acm-certificate-expiring", certificate) {
        return None;
    }
    if certificate.status.as_deref() != Some("ISSUED") {
        return None;
    }
    let not_after = certificate.not_after?;
    if not_after <= context.now {
        return None;
    }
    let left = (not_after - context.now).num_days();
    let mut evidence = evidence(certificate);
    evidence["days_left"] = json!(left);
    Some(if left <= i64::from(days) {
        Evaluation::fail(
            format!("expires in {left} days, on {}", not_after.date_naive()),
            evidence,
        )
    } else {
        Evaluation::pass(
            format!("expires in {left} days, on {}", not_after.date_naive()),
            evidence,
        )
    })
}

fn expired(context: &Context, resource: &Resource<'_>, _threshold: u32) -> Option<Evaluation> {
    let certificate = certificate(resource)?;
    // An unread certificate stays UNKNOWN, because its use and renewal are unknown too.
    if let Some(unknown) = unread(certificate) {
        return Some(unknown);
    }
    if skipped(context, "acm-certificate-expired", certificate) {
        return None;
    }
    let mut evidence = evidence(certificate);
    let is_expired = certificate.status.as_deref() == Some("EXPIRED")
        || certificate.not_after.is_some_and(|t| t <= context.now);
    if !is_expired {
        let issued = certificate.status.as_deref() == Some("ISSUED");
        return (issued && certificate.not_after.is_some())
            .then(|| Evaluation::pass("not expired", evidence));
    }
    let ago = certificate.not_after.map(|t| (context.now - t).num_days());
    evidence["days_since_expiry"] = json!(ago);
    let users = if certificate.in_use_by.is_empty() {
        "no resource uses it".to_owned()
    } else {
        format!("{} resources still use it", certificate.in_use_by.len())
    };
    let cause = match ago {
        Some(days) => format!("expired {days} days ago; {users}"),
        None => format!("expired; {users}"),
    };
    Some(Evaluation::fail(cause, evidence))
}

/// Reports whether a key algorithm is weak. ACM spells them `RSA_2048` in
/// the API and `RSA-2048` in some tools, and both spellings are accepted.
fn is_weak(algorithm: &str) -> bool {
    let normalized = algorithm.replace('-', "_").to_ascii_uppercase();
    if let Some(bits) = normalized.strip_prefix("RSA_") {
        return bits.parse::<u32>().is_ok_and(|bits| bits < 2048);
    }
    if let Some(curve) = normalized.strip_prefix("EC_") {
        return !matches!(curve, "PRIME256V1" | "SECP384R1" | "SECP521R1");
    }
    false
}

fn weak_key(_context: &Context, resource: &Resource<'_>, _threshold: u32) -> Option<Evaluation> {
    let certificate = certificate(resource)?;
    if let Some(unknown) = unread(certificate) {
        return Some(unknown);
    }
    let algorithm = certificate.key_algorithm.as_deref()?;
    Some(if is_weak(algorithm) {
        Evaluation::fail(
            format!("the key algorithm {algorithm} is weak"),
            evidence(certificate),
        )
    } else {
        Evaluation::pass(
            format!("the key algorithm is {algorithm}"),
            evidence(certificate),
        )
    })
}

fn pending_validation(
    _context: &Context,
    resource: &Resource<'_>,
    _threshold: u32,
) -> Option<Evaluation> {
    let certificate = certificate(resource)?;
    if let Some(unknown) = unread(certificate) {
        return Some(unknown);
    }
    if certificate.certificate_type.as_deref() != Some("AMAZON_ISSUED") {
        return None;
    }
    Some(match certificate.status.as_deref() {
        Some("PENDING_VALIDATION") => Evaluation::fail(
            "the certificate waits for domain validation",
            evidence(certificate),
        ),
        Some(status) => Evaluation::pass(format!("the status is {status}"), evidence(certificate)),
        None => return None,
    })
}

fn failed(_context: &Context, resource: &Resource<'_>, _threshold: u32) -> Option<Evaluation> {
    let certificate = certificate(resource)?;
    if let Some(unknown) = unread(certificate) {
        return Some(unknown);
    }
    let status = certificate.status.as_deref()?;
    Some(match status {
        "VALIDATION_TIMED_OUT" | "FAILED" | "REVOKED" => {
            let reason = certificate
                .failure_reason
                .as_deref()
                .or(certificate.revocation_reason.as_deref())
                .map(|reason| format!(" ({reason})"))
                .unwrap_or_default();
            Evaluation::fail(
                format!("the status is {status}{reason}"),
                evidence(certificate),
            )
        }
        _ => Evaluation::pass(format!("the status is {status}"), evidence(certificate)),
    })
}

fn renewal(_context: &Context, resource: &Resource<'_>, _threshold: u32) -> Option<Evaluation> {
    let certificate = certificate(resource)?;
    if let Some(unknown) = unread(certificate) {
        return Some(unknown);
    }
    if certificate.status.as_deref() != Some("ISSUED") || certificate.in_use_by.is_empty() {
        return None;
    }
    if certificate.renewal_status.as_deref() == Some("FAILED") {
        return Some(Evaluation::fail(
            format!(
                "managed renewal failed ({})",
                certificate
                    .renewal_failure_reason
                    .as_deref()
                    .unwrap_or("no reason given")
            ),
            evidence(certificate),
        ));
    }
    Some(match certificate.renewal_eligibility.as_deref() {
        Some("INELIGIBLE") => Evaluation::fail(
            format!(
                "the certificate is in use but not eligible for managed renewal ({})",
                certificate
                    .certificate_type
                    .as_deref()
                    .unwrap_or("unknown type")
            ),
            evidence(certificate),
        ),
        _ => Evaluation::pass(
            "the certificate renews automatically",
            evidence(certificate),
        ),
    })
}

fn transparency_logging(
    _context: &Context,
    resource: &Resource<'_>,
    _threshold: u32,
) -> Option<Evaluation> {
    let certificate = certificate(resource)?;
    if let Some(unknown) = unread(certificate) {
        return Some(unknown);
    }
    // Imported and private certificates are never logged by ACM.
    if certificate.certificate_type.as_deref() != Some("AMAZON_ISSUED") {
        return None;
    }
    let mut evidence = evidence(certificate);
    evidence["transparency_logging"] = json!(certificate.transparency_logging);
    Some(match certificate.transparency_logging.as_deref() {
        Some("DISABLED") => {
            Evaluation::fail("Certificate Transparency logging is disabled", evidence)
        }
        Some(preference) => Evaluation::pass(
            format!(
                "Certificate Transparency logging is {}",
                preference.to_ascii_lowercase()
            ),
            evidence,
        ),
        None => Evaluation::pass(
            "no logging preference is set, and ACM logs to Certificate Transparency by default",
            evidence,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::is_weak;

    #[test]
    fn weak_algorithms_in_both_spellings() {
        for weak in ["RSA_1024", "RSA-1024", "rsa_1024", "EC_secp256k1"] {
            assert!(is_weak(weak), "{weak}");
        }
        for strong in [
            "RSA_2048",
            "RSA-4096",
            "EC_prime256v1",
            "EC-secp384r1",
            "EC_secp521r1",
        ] {
            assert!(!is_weak(strong), "{strong}");
        }
    }
}
