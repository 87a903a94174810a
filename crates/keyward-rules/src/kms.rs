//! Rules for KMS keys.

use keyward_store::inventory::KeyRecord;
use serde_json::json;

use crate::context::{Context, days_between};
use crate::policy::analyze;
use crate::{Evaluation, Resource, ResourceType, Rule, Severity, Threshold};

pub static RULES: [Rule; 8] = [
    Rule {
        id: "kms-key-rotation",
        title: "Customer managed symmetric KMS keys rotate automatically",
        severity: Severity::Medium,
        resource_type: ResourceType::KmsKey,
        risk: "Key material that never rotates protects more data for longer, so a leak of it exposes more.",
        remediation: "KMS console > Customer managed keys > the key > Key rotation: enable automatic rotation.",
        remediation_cli: "aws kms enable-key-rotation --key-id KEY_ID --rotation-period-in-days 365",
        references: &[
            "https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html",
            "Security Hub KMS.4; AWS Config cmk-backing-key-rotation-enabled; Prowler kms_cmk_rotation_enabled",
        ],
        threshold: None,
        evaluate: rotation,
    },
    Rule {
        id: "kms-key-pending-deletion",
        title: "Customer managed KMS keys are not scheduled for deletion",
        severity: Severity::High,
        resource_type: ResourceType::KmsKey,
        risk: "Data encrypted under a deleted key can never be decrypted again.",
        remediation: "KMS console > the key > Key actions > Cancel key deletion, if anything still needs the key.",
        remediation_cli: "aws kms cancel-key-deletion --key-id KEY_ID",
        references: &[
            "https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html",
            "Security Hub KMS.3; Prowler kms_cmk_not_deleted_unintentionally",
        ],
        threshold: None,
        evaluate: pending_deletion,
    },
    Rule {
        id: "kms-key-unused",
        title: "Enabled customer managed KMS keys were used within the last N days",
        severity: Severity::Medium,
        resource_type: ResourceType::KmsKey,
        risk: "An unused key costs money every month and widens what an attacker with key permissions can reach.",
        remediation: "Confirm that nothing needs the key, disable it for a while, then schedule its deletion.",
        remediation_cli: "aws kms disable-key --key-id KEY_ID && aws kms schedule-key-deletion --key-id KEY_ID --pending-window-in-days 30",
        references: &[
            "https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyLastUsage.html",
            "AWS sample crypto-asset-monitoring unused-key rule (fixed: it read a field DescribeKey never returns); Cloud Custodian kms-key unused filter",
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
        id: "kms-key-inactive-in-use",
        title: "Disabled or pending-deletion KMS keys had no use within the last N days",
        severity: Severity::Critical,
        resource_type: ResourceType::KmsKey,
        risk: "A workload still calls the key: deleting it, or leaving it disabled, breaks that workload.",
        remediation: "Find the caller in the evidence; cancel the deletion or re-enable the key until the workload moves to another key.",
        remediation_cli: "aws kms cancel-key-deletion --key-id KEY_ID && aws kms enable-key --key-id KEY_ID",
        references: &[
            "https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys-determining-usage.html",
        ],
        threshold: Some(Threshold {
            name: "threshold_days",
            default: 30,
            min: 1,
            max: 365,
        }),
        evaluate: inactive_in_use,
    },
    Rule {
        id: "kms-key-policy-public",
        title: "KMS key policies do not allow anyone",
        severity: Severity::Critical,
        resource_type: ResourceType::KmsKey,
        risk: "A wildcard principal without a restricting condition lets any AWS account use or manage the key.",
        remediation: "Replace the wildcard principal, or add a condition on kms:CallerAccount or aws:PrincipalOrgID.",
        remediation_cli: "aws kms put-key-policy --key-id KEY_ID --policy-name default --policy file://policy.json",
        references: &[
            "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html",
            "Security Hub KMS.5; Prowler kms_key_not_publicly_accessible",
        ],
        threshold: None,
        evaluate: policy_public,
    },
    Rule {
        id: "kms-key-external-access",
        title: "KMS key policies and grants name no account outside the organization",
        severity: Severity::High,
        resource_type: ResourceType::KmsKey,
        risk: "Another account can use the key, and so read what it protects.",
        remediation: "Remove the external principals from the key policy and retire their grants, unless the access is intended.",
        remediation_cli: "aws kms retire-grant --key-id KEY_ID --grant-id GRANT_ID",
        references: &[
            "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html",
            "Cloud Custodian kms cross-account filter",
        ],
        threshold: None,
        evaluate: external_access,
    },
    Rule {
        id: "kms-key-used-by-other-account",
        title: "KMS keys are used only by principals of their own account",
        severity: Severity::Medium,
        resource_type: ResourceType::KmsKey,
        risk: "Use from another account means a dependency, or access, that the key owner may not know of.",
        remediation: "Check the calling accounts in the evidence; remove their access if it is not intended.",
        remediation_cli: "aws kms get-key-policy --key-id KEY_ID --policy-name default",
        references: &[
            "https://docs.aws.amazon.com/kms/latest/developerguide/logging-using-cloudtrail.html",
        ],
        threshold: None,
        evaluate: used_by_other_account,
    },
    Rule {
        id: "kms-key-multi-region",
        title: "KMS keys are single-Region",
        severity: Severity::Low,
        resource_type: ResourceType::KmsKey,
        risk: "The same key material in several Regions extends its reach; policies and grants must be kept consistent in each.",
        remediation: "Use single-Region keys unless data must move between Regions encrypted.",
        remediation_cli: "aws kms describe-key --key-id KEY_ID --query KeyMetadata.MultiRegionConfiguration",
        references: &[
            "https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html",
            "Prowler kms_key_not_multi_region",
        ],
        threshold: None,
        evaluate: multi_region,
    },
];

fn key<'a>(resource: &Resource<'a>) -> Option<&'a KeyRecord> {
    match resource {
        Resource::Key(key) => Some(key),
        _ => None,
    }
}

fn customer_managed(key: &KeyRecord) -> bool {
    key.key_manager.as_deref() == Some("CUSTOMER")
}

/// Returns the read error of an operation, if the scan recorded one.
fn read_error<'a>(key: &'a KeyRecord, operation: &str) -> Option<&'a str> {
    key.read_errors
        .iter()
        .find(|error| error.starts_with(operation))
        .map(String::as_str)
}

/// Returns the key policy, or an UNKNOWN evaluation that names why it could
/// not be read.
fn key_policy(key: &KeyRecord) -> Result<&str, Evaluation> {
    key.policy.as_deref().ok_or_else(|| {
        Evaluation::unknown(
            format!(
                "the key policy could not be read: {}",
                read_error(key, "GetKeyPolicy").unwrap_or("not read")
            ),
            json!({"source": "GetKeyPolicy"}),
        )
    })
}

fn rotation(_context: &Context, resource: &Resource<'_>, _threshold: u32) -> Option<Evaluation> {
    let key = key(resource)?;
    let applies = customer_managed(key)
        && key.key_spec.as_deref() == Some("SYMMETRIC_DEFAULT")
        && key.origin.as_deref() == Some("AWS_KMS")
        && key.key_state.as_deref() != Some("PendingDeletion");
    if !applies {
        return None;
    }
    let evidence = json!({
        "source": "GetKeyRotationStatus",
        "rotation_enabled": key.rotation_enabled,
        "rotation_period_days": key.rotation_period_days,
        "next_rotation_date": key.next_rotation_date,
        "last_rotation_date": key.last_rotation_date,
    });
    Some(match key.rotation_enabled {
        Some(true) => Evaluation::pass(
            format!(
                "automatic rotation is enabled, every {} days",
                key.rotation_period_days.unwrap_or(365)
            ),
            evidence,
        ),
        Some(false) => Evaluation::fail("automatic rotation is disabled", evidence),
        None => Evaluation::unknown(
            format!(
                "the rotation status could not be read: {}",
                read_error(key, "GetKeyRotationStatus").unwrap_or("not read")
            ),
            evidence,
        ),
    })
}

fn pending_deletion(
    context: &Context,
    resource: &Resource<'_>,
    _threshold: u32,
) -> Option<Evaluation> {
    let key = key(resource)?;
    if !customer_managed(key) {
        return None;
    }
    let evidence = json!({
        "source": "DescribeKey",
        "key_state": key.key_state,
        "deletion_date": key.deletion_date,
    });
    Some(match (key.key_state.as_deref(), key.deletion_date) {
        (Some("PendingDeletion"), Some(date)) => Evaluation::fail(
            format!(
                "the key is scheduled for deletion on {} ({} days from now)",
                date.date_naive(),
                days_between(context.now, date)
            ),
            evidence,
        ),
        (Some("PendingDeletion" | "PendingReplicaDeletion"), _) => {
            Evaluation::fail("the key is scheduled for deletion", evidence)
        }
        (Some(state), _) => Evaluation::pass(format!("the key is {state}"), evidence),
        (None, _) => Evaluation::unknown(
            format!(
                "the key state could not be read: {}",
                read_error(key, "DescribeKey").unwrap_or("not read")
            ),
            evidence,
        ),
    })
}

/// The latest known use of a key, from `GetKeyLastUsage` or CloudTrail.
struct LastUse {
    time: chrono::DateTime<chrono::Utc>,
    operation: Option<String>,
    event_id: Option<String>,
    principal: Option<String>,
    source: &'static str,
}

fn last_use(context: &Context, key: &KeyRecord) -> Option<LastUse> {
    let tracked = key.last_used_at.map(|time| LastUse {
        time,
        operation: key.last_used_operation.clone(),
        event_id: key.last_used_event_id.clone(),
        principal: None,
        source: "GetKeyLastUsage",
    });
    let trail = context.usage_of(&key.arn).and_then(|usage| {
        usage.last_used.map(|time| LastUse {
            time,
            operation: usage.last_operation.clone(),
            event_id: usage.last_event_id.clone(),
            principal: usage.last_principal.clone(),
            source: "CloudTrail",
        })
    });
    match (tracked, trail) {
        (Some(a), Some(b)) => Some(if b.time > a.time { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn unused(context: &Context, resource: &Resource<'_>, days: u32) -> Option<Evaluation> {
    let key = key(resource)?;
    if !customer_managed(key) || key.key_state.as_deref() != Some("Enabled") {
        return None;
    }
    let window_start = context.days_ago(days);
    let last = last_use(context, key);
    let trail = context.trail_window(&key.account_id, &key.region);
    // KMS tracking covers the window when it began before the window, or
    // before the key existed, so an empty response means no use since.
    let tracking_covers = key.usage_known
        && match (key.usage_tracking_start, key.creation_date) {
            (Some(start), _) if start <= window_start => true,
            (Some(start), Some(created)) => created >= start,
            _ => false,
        };
    let trail_covers = trail.is_some_and(|window| window.first <= window_start);
    let mut evidence = json!({
        "window_days": days,
        "window_start": window_start,
        "key_creation_date": key.creation_date,
        "get_key_last_usage": {
            "answered": key.usage_known,
            "last_used_at": key.last_used_at,
            "operation": key.last_used_operation,
            "event_id": key.last_used_event_id,
            "tracking_start_date": key.usage_tracking_start,
        },
        "cloudtrail": trail.map(|w| json!({"first_event": w.first, "last_event": w.last})),
    });
    if let Some(last) = &last {
        evidence["last_use"] = json!({
            "time": last.time,
            "operation": last.operation,
            "event_id": last.event_id,
            "principal": last.principal,
            "source": last.source,
        });
        if last.time >= window_start {
            return Some(Evaluation::pass(
                format!(
                    "last used {} by {} ({})",
                    last.time.date_naive(),
                    last.operation.as_deref().unwrap_or("an operation"),
                    last.source
                ),
                evidence,
            ));
        }
    }
    if key
        .creation_date
        .is_some_and(|created| created >= window_start)
    {
        return Some(Evaluation::pass(
            format!("created within the last {days} days"),
            evidence,
        ));
    }
    if !tracking_covers && !trail_covers {
        let reason = if key.usage_known {
            "KMS began tracking its use after the window began"
        } else {
            "GetKeyLastUsage returned no usage data"
        };
        return Some(Evaluation::unknown(
            format!(
                "no source covers the last {days} days: {reason}, and the store has no CloudTrail for {} {} from before {}",
                key.account_id,
                key.region,
                window_start.date_naive()
            ),
            evidence,
        ));
    }
    let cause = match &last {
        Some(last) => format!("unused since {} ({})", last.time.date_naive(), last.source),
        None => match key.creation_date {
            Some(created) => format!("never used since creation on {}", created.date_naive()),
            None => format!("no use in the last {days} days"),
        },
    };
    let mut evaluation = Evaluation::fail(cause, evidence);
    evaluation.monthly_cost_usd = Some(context.config.prices().kms_key_month_usd);
    Some(evaluation)
}

fn inactive_in_use(context: &Context, resource: &Resource<'_>, days: u32) -> Option<Evaluation> {
    let key = key(resource)?;
    let state = key.key_state.as_deref()?;
    if !customer_managed(key) || !matches!(state, "Disabled" | "PendingDeletion") {
        return None;
    }
    let window_start = context.days_ago(days);
    let usage = context.usage_of(&key.arn);
    let evidence = json!({
        "key_state": state,
        "deletion_date": key.deletion_date,
        "window_days": days,
        "cloudtrail": usage.map(|u| json!({
            "last_used": u.last_used,
            "last_operation": u.last_operation,
            "last_principal": u.last_principal,
            "last_event_id": u.last_event_id,
            "last_denied": u.last_denied,
            "last_denied_operation": u.last_denied_operation,
            "last_denied_error": u.last_denied_error,
            "last_denied_principal": u.last_denied_principal,
        })),
        "get_key_last_usage": {"last_used_at": key.last_used_at, "operation": key.last_used_operation},
    });
    if let Some(usage) = usage {
        let refused = usage
            .last_denied
            .filter(|time| *time >= window_start)
            .filter(|_| {
                matches!(
                    usage.last_denied_error.as_deref(),
                    Some("DisabledException" | "KMSInvalidStateException")
                )
            });
        if let Some(time) = refused {
            return Some(Evaluation::fail(
                format!(
                    "the key is {state}, and {} called {} on {} and was refused with {}",
                    usage
                        .last_denied_principal
                        .as_deref()
                        .unwrap_or("a principal"),
                    usage.last_denied_operation.as_deref().unwrap_or("it"),
                    time.date_naive(),
                    usage.last_denied_error.as_deref().unwrap_or("an error")
                ),
                evidence,
            ));
        }
    }
    if let Some(last) = last_use(context, key).filter(|last| last.time >= window_start) {
        return Some(Evaluation::fail(
            format!(
                "the key is {state} but was used on {} by {} ({})",
                last.time.date_naive(),
                last.principal.as_deref().unwrap_or("a principal"),
                last.source
            ),
            evidence,
        ));
    }
    let trail_covers = context
        .trail_window(&key.account_id, &key.region)
        .is_some_and(|window| window.first <= window_start);
    Some(if trail_covers || key.usage_known {
        Evaluation::pass(
            format!("no use or attempt in the last {days} days"),
            evidence,
        )
    } else {
        Evaluation::unknown(
            format!(
                "no CloudTrail covers the last {days} days, and GetKeyLastUsage returned no usage data"
            ),
            evidence,
        )
    })
}

fn policy_public(
    context: &Context,
    resource: &Resource<'_>,
    _threshold: u32,
) -> Option<Evaluation> {
    let key = key(resource)?;
    let policy = match key_policy(key) {
        Ok(policy) => policy,
        Err(unknown) => return Some(unknown),
    };
    let known = context.known_accounts();
    Some(match analyze(policy, &known) {
        Ok(access) if access.public_statements.is_empty() => Evaluation::pass(
            "no statement allows a wildcard principal without a restricting condition",
            json!({"source": "GetKeyPolicy"}),
        ),
        Ok(access) => Evaluation::fail(
            format!(
                "{} allow any principal",
                access.public_statements.join(", ")
            ),
            json!({"source": "GetKeyPolicy", "public_statements": access.public_statements}),
        ),
        Err(error) => Evaluation::unknown(error, json!({"source": "GetKeyPolicy"})),
    })
}

fn external_access(
    context: &Context,
    resource: &Resource<'_>,
    _threshold: u32,
) -> Option<Evaluation> {
    let key = key(resource)?;
    let policy = match key_policy(key) {
        Ok(policy) => policy,
        Err(unknown) => return Some(unknown),
    };
    let known = context.known_accounts();
    let access = match analyze(policy, &known) {
        Ok(access) => access,
        Err(error) => {
            return Some(Evaluation::unknown(
                error,
                json!({"source": "GetKeyPolicy"}),
            ));
        }
    };
    let mut external = access.external_accounts.clone();
    for grantee in &key.grantees {
        if let Some(account) = grantee
            .strip_prefix("arn:")
            .and_then(|rest| rest.split(':').nth(3))
            && account.len() == 12
            && !known.contains(account)
        {
            external.insert(account.to_owned());
        }
    }
    let evidence = json!({
        "source": ["GetKeyPolicy", "ListGrants"],
        "external_accounts": external,
        "grantees": key.grantees,
        "organization_condition": access.organization_condition,
    });
    Some(if external.is_empty() {
        if key.grant_count.is_none() {
            Evaluation::unknown(
                format!(
                    "the policy names no outside account, but the grants could not be read: {}",
                    read_error(key, "ListGrants").unwrap_or("not read")
                ),
                evidence,
            )
        } else {
            Evaluation::pass(
                "the policy and grants name no account outside the scan",
                evidence,
            )
        }
    } else {
        let accounts: Vec<&str> = external.iter().map(String::as_str).collect();
        Evaluation::fail(
            format!(
                "accounts outside the scan have access: {}",
                accounts.join(", ")
            ),
            evidence,
        )
    })
}

fn used_by_other_account(
    context: &Context,
    resource: &Resource<'_>,
    _threshold: u32,
) -> Option<Evaluation> {
    let key = key(resource)?;
    if !customer_managed(key) {
        return None;
    }
    other_account_use(context, &key.arn, &key.account_id, &key.region)
}

/// Shared by keys and secrets: FAIL when CloudTrail shows principals of
/// another account using the asset.
pub(crate) fn other_account_use(
    context: &Context,
    arn: &str,
    owner: &str,
    region: &str,
) -> Option<Evaluation> {
    let usage = context.usage_of(arn);
    let others: Vec<&str> = usage
        .map(|u| {
            u.principal_accounts
                .iter()
                .map(String::as_str)
                .filter(|account| *account != owner)
                .collect()
        })
        .unwrap_or_default();
    let known = context.known_accounts();
    let evidence = json!({
        "source": "CloudTrail",
        "other_accounts": others,
        "outside_the_scan": others.iter().filter(|a| !known.contains(*a)).collect::<Vec<_>>(),
    });
    if !others.is_empty() {
        return Some(Evaluation::fail(
            format!("used by principals of {}", others.join(", ")),
            evidence,
        ));
    }
    Some(if context.trail_window(owner, region).is_some() {
        Evaluation::pass("CloudTrail shows no use by another account", evidence)
    } else {
        Evaluation::unknown(
            format!("the store has no CloudTrail for {owner} {region}"),
            evidence,
        )
    })
}

fn multi_region(
    _context: &Context,
    resource: &Resource<'_>,
    _threshold: u32,
) -> Option<Evaluation> {
    let key = key(resource)?;
    if !customer_managed(key) {
        return None;
    }
    let evidence = json!({
        "source": "DescribeKey",
        "multi_region": key.multi_region,
        "multi_region_key_type": key.multi_region_key_type,
        "replica_regions": key.replica_regions,
    });
    Some(match key.multi_region {
        Some(true) => Evaluation::fail(
            format!(
                "the key is a multi-Region {} key",
                key.multi_region_key_type.as_deref().unwrap_or("")
            )
            .replace("  ", " "),
            evidence,
        ),
        Some(false) | None if key.key_state.is_some() => {
            Evaluation::pass("the key is single-Region", evidence)
        }
        _ => Evaluation::unknown("the key could not be described", evidence),
    })
}
