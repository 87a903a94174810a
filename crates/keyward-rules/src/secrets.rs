//! Rules for Secrets Manager secrets. A replica is judged once, through
//! its primary secret.

use keyward_store::inventory::SecretRecord;
use serde_json::json;

use crate::context::Context;
use crate::kms::other_account_use;
use crate::policy::analyze;
use crate::{Evaluation, Resource, ResourceType, Rule, Severity, Threshold};

pub static RULES: [Rule; 8] = [
    Rule {
        id: "secret-rotation-enabled",
        title: "Secrets rotate automatically",
        severity: Severity::Medium,
        resource_type: ResourceType::Secret,
        risk: "A secret that never changes stays valid for as long as anyone who copied it keeps it.",
        remediation: "Secrets Manager console > the secret > Rotation: turn on automatic rotation with a rotation function.",
        remediation_cli: "aws secretsmanager rotate-secret --secret-id SECRET_ARN --rotation-lambda-arn FUNCTION_ARN --rotation-rules AutomaticallyAfterDays=30",
        references: &[
            "https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotating-secrets.html",
            "Security Hub SecretsManager.1; AWS Config secretsmanager-rotation-enabled-check; Prowler secretsmanager_automatic_rotation_enabled",
        ],
        threshold: None,
        evaluate: rotation_enabled,
    },
    Rule {
        id: "secret-rotation-failing",
        title: "Secret rotation runs as scheduled",
        severity: Severity::High,
        resource_type: ResourceType::Secret,
        risk: "Rotation that stops leaves an old secret in use while its owners believe it rotates.",
        remediation: "Check the rotation function's logs in CloudWatch and run the rotation again.",
        remediation_cli: "aws secretsmanager rotate-secret --secret-id SECRET_ARN",
        references: &[
            "https://docs.aws.amazon.com/secretsmanager/latest/userguide/troubleshoot_rotation.html",
            "Security Hub SecretsManager.2; AWS Config secretsmanager-scheduled-rotation-success-check",
        ],
        threshold: None,
        evaluate: rotation_failing,
    },
    Rule {
        id: "secret-rotated-recently",
        title: "Secrets were rotated within the last N days",
        severity: Severity::Medium,
        resource_type: ResourceType::Secret,
        risk: "An old secret has had more time to leak.",
        remediation: "Rotate the secret, and turn on automatic rotation.",
        remediation_cli: "aws secretsmanager rotate-secret --secret-id SECRET_ARN",
        references: &[
            "https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotating-secrets.html",
            "Security Hub SecretsManager.4; AWS Config secretsmanager-secret-periodic-rotation",
        ],
        threshold: Some(Threshold {
            name: "threshold_days",
            default: 90,
            min: 1,
            max: 365,
        }),
        evaluate: rotated_recently,
    },
    Rule {
        id: "secret-unused",
        title: "Secrets were read within the last N days",
        severity: Severity::Medium,
        resource_type: ResourceType::Secret,
        risk: "An unused secret costs money and is one more credential to leak.",
        remediation: "Confirm that nothing reads the secret, then delete it with a recovery window.",
        remediation_cli: "aws secretsmanager delete-secret --secret-id SECRET_ARN --recovery-window-in-days 30",
        references: &[
            "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html",
            "Security Hub SecretsManager.3; AWS Config secretsmanager-secret-unused; AWS sample crypto-asset-monitoring unused-secret rule (fixed)",
        ],
        threshold: Some(Threshold {
            name: "threshold_days",
            default: 90,
            min: 1,
            max: 365,
        }),
        evaluate: unused,
    },
    Rule {
        id: "secret-customer-managed-key",
        title: "Secrets are encrypted with a customer managed KMS key",
        severity: Severity::Low,
        resource_type: ResourceType::Secret,
        risk: "The AWS managed key's policy cannot be narrowed or shared, and its use cannot be separated per workload.",
        remediation: "Encrypt the secret with a customer managed key.",
        remediation_cli: "aws secretsmanager update-secret --secret-id SECRET_ARN --kms-key-id KEY_ARN",
        references: &[
            "https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html",
            "AWS Config secretsmanager-using-cmk",
        ],
        threshold: None,
        evaluate: customer_managed_key,
    },
    Rule {
        id: "secret-policy-public",
        title: "Secret resource policies do not allow anyone",
        severity: Severity::Critical,
        resource_type: ResourceType::Secret,
        risk: "A wildcard principal without a restricting condition lets any AWS account read the secret.",
        remediation: "Remove the statement, or add a condition on aws:PrincipalOrgID or aws:PrincipalAccount.",
        remediation_cli: "aws secretsmanager validate-resource-policy --secret-id SECRET_ARN --resource-policy file://policy.json",
        references: &[
            "https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_resource-policies.html",
            "Prowler secretsmanager_not_publicly_accessible",
        ],
        threshold: None,
        evaluate: policy_public,
    },
    Rule {
        id: "secret-external-access",
        title: "Secret resource policies name no account outside the organization",
        severity: Severity::High,
        resource_type: ResourceType::Secret,
        risk: "Another account can read the secret.",
        remediation: "Remove the external principals from the resource policy, unless the access is intended.",
        remediation_cli: "aws secretsmanager delete-resource-policy --secret-id SECRET_ARN",
        references: &[
            "https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_examples_cross.html",
        ],
        threshold: None,
        evaluate: external_access,
    },
    Rule {
        id: "secret-used-by-other-account",
        title: "Secrets are read only by principals of their own account",
        severity: Severity::Medium,
        resource_type: ResourceType::Secret,
        risk: "Reads from another account mean a dependency, or access, that the owner may not know of.",
        remediation: "Check the calling accounts in the evidence; remove their access if it is not intended.",
        remediation_cli: "aws secretsmanager get-resource-policy --secret-id SECRET_ARN",
        references: &[
            "https://docs.aws.amazon.com/secretsmanager/latest/userguide/monitoring-cloudtrail.html",
        ],
        threshold: None,
        evaluate: used_by_other_account,
    },
];

fn secret<'a>(resource: &Resource<'a>) -> Option<&'a SecretRecord> {
    match resource {
        Resource::Secret(secret) => Some(secret),
        _ => None,
    }
}

fn evidence(secret: &SecretRecord) -> serde_json::Value {
    json!({
        "source": "ListSecrets",
        "name": secret.name,
        "rotation_enabled": secret.rotation_enabled,
        "rotation_interval_days": secret.rotation_interval_days,
        "last_rotated_at": secret.last_rotated_at,
        "next_rotation_at": secret.next_rotation_at,
        "last_accessed_at": secret.last_accessed_at,
        "created_at": secret.created_at,
        "owning_service": secret.owning_service,
    })
}

/// Secrets scheduled for deletion are on their way out; only the policy
/// rules still judge them.
fn live(secret: &SecretRecord) -> bool {
    secret.deleted_at.is_none()
}

fn rotation_enabled(
    _context: &Context,
    resource: &Resource<'_>,
    _threshold: u32,
) -> Option<Evaluation> {
    let secret = secret(resource).filter(|s| live(s))?;
    Some(match secret.rotation_enabled {
        Some(true) => Evaluation::pass("automatic rotation is enabled", evidence(secret)),
        _ => Evaluation::fail("automatic rotation is not enabled", evidence(secret)),
    })
}

fn rotation_failing(
    context: &Context,
    resource: &Resource<'_>,
    _threshold: u32,
) -> Option<Evaluation> {
    let secret = secret(resource).filter(|s| live(s))?;
    if secret.rotation_enabled != Some(true) {
        return None;
    }
    if let Some(failure) = failed_rotation(context, secret) {
        return Some(failure);
    }
    Some(match secret.next_rotation_at {
        Some(next) if next < context.now => Evaluation::fail(
            format!(
                "the rotation due on {} has not happened ({} days late)",
                next.date_naive(),
                (context.now - next).num_days()
            ),
            evidence(secret),
        ),
        Some(next) => Evaluation::pass(
            format!("the next rotation is due on {}", next.date_naive()),
            evidence(secret),
        ),
        None => Evaluation::unknown(
            "rotation is enabled but Secrets Manager gives no next rotation date",
            evidence(secret),
        ),
    })
}

/// Returns a failure when CloudTrail has a `RotationFailed` event for the
/// secret and neither a `RotationSucceeded` event nor the secret's last
/// rotation date comes after it.
fn failed_rotation(context: &Context, secret: &SecretRecord) -> Option<Evaluation> {
    let usage = context.usage_of(&secret.arn)?;
    let failed = usage.last_rotation_failed?;
    let succeeded = usage.last_rotation_succeeded.max(secret.last_rotated_at);
    if succeeded.is_some_and(|succeeded| succeeded >= failed) {
        return None;
    }
    let mut facts = evidence(secret);
    facts["rotation_failed_at"] = json!(failed);
    facts["rotation_failed_event_id"] = json!(usage.last_rotation_failed_event_id);
    facts["rotation_succeeded_at"] = json!(usage.last_rotation_succeeded);
    facts["rotation_source"] = json!("CloudTrail");
    Some(Evaluation::fail(
        format!(
            "rotation failed on {} (CloudTrail RotationFailed event) and has not succeeded since",
            failed.date_naive()
        ),
        facts,
    ))
}

fn rotated_recently(context: &Context, resource: &Resource<'_>, days: u32) -> Option<Evaluation> {
    let secret = secret(resource).filter(|s| live(s))?;
    let window_start = context.days_ago(days);
    let (since, what) = match (secret.last_rotated_at, secret.created_at) {
        (Some(rotated), _) => (rotated, "last rotated"),
        (None, Some(created)) => (created, "never rotated; created"),
        (None, None) => {
            return Some(Evaluation::unknown(
                "neither a rotation nor a creation date is known",
                evidence(secret),
            ));
        }
    };
    let age = (context.now - since).num_days();
    Some(if since < window_start {
        Evaluation::fail(
            format!("{what} {age} days ago, on {}", since.date_naive()),
            evidence(secret),
        )
    } else {
        Evaluation::pass(
            format!("{what} {age} days ago, on {}", since.date_naive()),
            evidence(secret),
        )
    })
}

fn unused(context: &Context, resource: &Resource<'_>, days: u32) -> Option<Evaluation> {
    let secret = secret(resource).filter(|s| live(s))?;
    // LastAccessedDate is a date: a read on the window's first day counts.
    let window_start_day = context.days_ago(days).date_naive();
    let trail_use = context
        .usage_of(&secret.arn)
        .and_then(|usage| usage.last_used);
    let mut evidence = evidence(secret);
    evidence["cloudtrail_last_read"] = json!(trail_use);
    evidence["window_days"] = json!(days);
    let last_day = match (secret.last_accessed_at, trail_use) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
    .map(|time| time.date_naive());
    if let Some(day) = last_day
        && day >= window_start_day
    {
        return Some(Evaluation::pass(format!("last read on {day}"), evidence));
    }
    if secret
        .created_at
        .is_some_and(|created| created.date_naive() >= window_start_day)
    {
        return Some(Evaluation::pass(
            format!("created within the last {days} days"),
            evidence,
        ));
    }
    let cause = match last_day {
        Some(day) => format!("not read since {day}"),
        None => match secret.created_at {
            Some(created) => format!("never read since creation on {}", created.date_naive()),
            None => format!("not read in the last {days} days"),
        },
    };
    let mut evaluation = Evaluation::fail(cause, evidence);
    evaluation.monthly_cost_usd = Some(context.config.prices().secret_month_usd);
    Some(evaluation)
}

fn customer_managed_key(
    _context: &Context,
    resource: &Resource<'_>,
    _threshold: u32,
) -> Option<Evaluation> {
    let secret = secret(resource)?;
    let key = secret.kms_key_id.as_deref();
    let aws_managed = key.is_none_or(|key| key.ends_with("alias/aws/secretsmanager"));
    let evidence = json!({"source": "ListSecrets", "kms_key_id": key});
    Some(if aws_managed {
        Evaluation::fail(
            "encrypted with the AWS managed key aws/secretsmanager",
            evidence,
        )
    } else {
        Evaluation::pass(
            format!("encrypted with {}", key.unwrap_or_default()),
            evidence,
        )
    })
}

/// Returns the resource policy, or the evaluation that its absence
/// decides: UNKNOWN when it could not be read, PASS when there is none.
fn resource_policy(secret: &SecretRecord) -> Result<&str, Evaluation> {
    let read_error = secret
        .read_errors
        .iter()
        .find(|error| error.starts_with("GetResourcePolicy"));
    if let Some(error) = read_error {
        return Err(Evaluation::unknown(
            format!("the resource policy could not be read: {error}"),
            json!({"source": "GetResourcePolicy"}),
        ));
    }
    secret.policy.as_deref().ok_or_else(|| {
        Evaluation::pass(
            "the secret has no resource policy",
            json!({"source": "GetResourcePolicy"}),
        )
    })
}

fn policy_public(
    context: &Context,
    resource: &Resource<'_>,
    _threshold: u32,
) -> Option<Evaluation> {
    let secret = secret(resource)?;
    let policy = match resource_policy(secret) {
        Ok(policy) => policy,
        Err(evaluation) => return Some(evaluation),
    };
    Some(match analyze(policy, &context.known_accounts()) {
        Ok(access) if access.public_statements.is_empty() => Evaluation::pass(
            "no statement allows a wildcard principal without a restricting condition",
            json!({"source": "GetResourcePolicy"}),
        ),
        Ok(access) => Evaluation::fail(
            format!(
                "{} allow any principal",
                access.public_statements.join(", ")
            ),
            json!({"source": "GetResourcePolicy", "public_statements": access.public_statements}),
        ),
        Err(error) => Evaluation::unknown(error, json!({"source": "GetResourcePolicy"})),
    })
}

fn external_access(
    context: &Context,
    resource: &Resource<'_>,
    _threshold: u32,
) -> Option<Evaluation> {
    let secret = secret(resource)?;
    let policy = match resource_policy(secret) {
        Ok(policy) => policy,
        Err(evaluation) => return Some(evaluation),
    };
    Some(match analyze(policy, &context.known_accounts()) {
        Ok(access) if access.external_accounts.is_empty() => Evaluation::pass(
            "the resource policy names no account outside the scan",
            json!({"source": "GetResourcePolicy"}),
        ),
        Ok(access) => {
            let accounts: Vec<&str> = access
                .external_accounts
                .iter()
                .map(String::as_str)
                .collect();
            Evaluation::fail(
                format!(
                    "accounts outside the scan have access: {}",
                    accounts.join(", ")
                ),
                json!({"source": "GetResourcePolicy", "external_accounts": accounts}),
            )
        }
        Err(error) => Evaluation::unknown(error, json!({"source": "GetResourcePolicy"})),
    })
}

fn used_by_other_account(
    context: &Context,
    resource: &Resource<'_>,
    _threshold: u32,
) -> Option<Evaluation> {
    let secret = secret(resource)?;
    other_account_use(context, &secret.arn, &secret.account_id, &secret.region)
}
