//! Rules for IAM policies that allow KMS decryption with every key: AWS
//! Security Hub KMS.1 for customer managed policies and KMS.2 for inline
//! policies. `decryption` decides which statements grant it.

use std::collections::HashSet;

use keyward_store::inventory::{IamPolicyRecord, PolicyType};
use serde_json::{Value, json};

use crate::context::Context;
use crate::decryption::{DECRYPTION_ACTIONS, Decryption, Statement, analyze};
use crate::{Evaluation, Example, Resource, ResourceType, Rule, Severity, Verdict};

pub static RULES: [Rule; 2] = [
    Rule {
        id: "iam-policy-kms-decrypt-all-keys",
        title: "Customer managed IAM policies do not allow decryption with every KMS key",
        severity: Severity::Medium,
        resource_type: ResourceType::IamPolicy,
        risk: "Every principal that the policy is attached to, now or later, can decrypt data under any KMS key whose key policy lets IAM policies grant access, including keys made for other data.",
        remediation: "IAM console > Policies > the policy > Edit > JSON: in the statements that the evidence names, replace the Resource \"*\" or key/* pattern with the ARNs of the keys that the principals need, then save a new default version.",
        remediation_cli: "aws iam create-policy-version --policy-arn POLICY_ARN --policy-document file://policy.json --set-as-default",
        references: &[
            "https://docs.aws.amazon.com/securityhub/latest/userguide/kms-controls.html",
            "https://docs.aws.amazon.com/kms/latest/developerguide/iam-policies.html",
            "Security Hub KMS.1; AWS Config iam-customer-policy-blocked-kms-actions",
        ],
        threshold: None,
        evaluate: managed_policy,
    },
    Rule {
        id: "iam-inline-policy-kms-decrypt-all-keys",
        title: "Inline policies of IAM users, roles and groups do not allow decryption with every KMS key",
        severity: Severity::Medium,
        resource_type: ResourceType::IamPrincipal,
        risk: "The user, role or group can decrypt data under any KMS key whose key policy lets IAM policies grant access, including keys made for other data.",
        remediation: "IAM console > Users, Roles or User groups > the principal > Permissions > the inline policy that the evidence names > Edit > JSON: replace the Resource \"*\" or key/* pattern with the ARNs of the keys that the principal needs.",
        remediation_cli: "aws iam put-role-policy --role-name ROLE_NAME --policy-name POLICY_NAME --policy-document file://policy.json (put-user-policy or put-group-policy for a user or group)",
        references: &[
            "https://docs.aws.amazon.com/securityhub/latest/userguide/kms-controls.html",
            "https://docs.aws.amazon.com/kms/latest/developerguide/iam-policies.html",
            "Security Hub KMS.2; AWS Config iam-inline-policy-blocked-kms-actions",
        ],
        threshold: None,
        evaluate: inline_policies,
    },
];

/// Policy documents that each rule must judge as shown. The catalog test
/// runs every one as the document of a customer managed policy attached to
/// one role, or of one inline policy of a role.
pub static EXAMPLES: [Example; 12] = [
    Example {
        rule_id: "iam-policy-kms-decrypt-all-keys",
        shape: "kms:Decrypt on Resource *",
        document: r#"{"Version":"2012-10-17","Statement":[{"Sid":"DecryptAll","Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}"#,
        verdict: Verdict::Fail,
    },
    Example {
        rule_id: "iam-policy-kms-decrypt-all-keys",
        shape: "kms:Decrypt on one key",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}]}"#,
        verdict: Verdict::Pass,
    },
    Example {
        rule_id: "iam-policy-kms-decrypt-all-keys",
        shape: "kms:* on every key of every account",
        document: r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:*:key/*"}}"#,
        verdict: Verdict::Fail,
    },
    Example {
        rule_id: "iam-policy-kms-decrypt-all-keys",
        shape: "kms:* on the keys of one account and Region",
        document: r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:111122223333:key/*"}}"#,
        verdict: Verdict::Pass,
    },
    Example {
        rule_id: "iam-policy-kms-decrypt-all-keys",
        shape: "kms:Re* on every key, with a kms:ViaService condition",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Re*","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}]}"#,
        verdict: Verdict::Fail,
    },
    Example {
        rule_id: "iam-policy-kms-decrypt-all-keys",
        shape: "encryption only on every key",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:GenerateDataKey","kms:ReEncryptTo"],"Resource":"*"}]}"#,
        verdict: Verdict::Pass,
    },
    Example {
        rule_id: "iam-inline-policy-kms-decrypt-all-keys",
        shape: "NotAction without KMS on Resource *",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":["iam:*","organizations:*"],"Resource":"*"}]}"#,
        verdict: Verdict::Fail,
    },
    Example {
        rule_id: "iam-inline-policy-kms-decrypt-all-keys",
        shape: "NotAction that names the decryption actions",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":["kms:Decrypt","kms:ReEncrypt*"],"Resource":"*"}]}"#,
        verdict: Verdict::Pass,
    },
    Example {
        rule_id: "iam-inline-policy-kms-decrypt-all-keys",
        shape: "NotResource that leaves out one key",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","NotResource":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}]}"#,
        verdict: Verdict::Fail,
    },
    Example {
        rule_id: "iam-inline-policy-kms-decrypt-all-keys",
        shape: "NotResource that leaves out every key",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","NotResource":"arn:aws:kms:*:*:key/*"}]}"#,
        verdict: Verdict::Pass,
    },
    Example {
        rule_id: "iam-inline-policy-kms-decrypt-all-keys",
        shape: "Deny statement that takes kms:Decrypt back",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Decrypt","kms:ReEncryptFrom"],"Resource":"*"},{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"},{"Effect":"Deny","Action":"kms:ReEncryptFrom","Resource":"*"}]}"#,
        verdict: Verdict::Pass,
    },
    Example {
        rule_id: "iam-inline-policy-kms-decrypt-all-keys",
        shape: "Deny statement with a condition",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"},{"Effect":"Deny","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}]}"#,
        verdict: Verdict::Fail,
    },
];

fn managed<'a>(resource: &Resource<'a>) -> Option<&'a IamPolicyRecord> {
    match resource {
        Resource::IamPolicy(policy) => Some(policy),
        _ => None,
    }
}

fn principal<'a>(resource: &Resource<'a>) -> Option<&'a IamPolicyRecord> {
    match resource {
        Resource::IamPrincipal(first_policy) => Some(first_policy),
        _ => None,
    }
}

/// Returns the partition of an ARN, `aws` when there is none.
fn partition(arn: Option<&str>) -> &str {
    arn.and_then(|arn| arn.split(':').nth(1))
        .filter(|partition| !partition.is_empty())
        .unwrap_or("aws")
}

/// Reads the decryption that a policy allows, or returns why it cannot.
fn read(policy: &IamPolicyRecord, arn: Option<&str>) -> Result<Decryption, String> {
    let Some(document) = &policy.document else {
        let reason = policy
            .read_errors
            .first()
            .map_or("not read", String::as_str);
        return Err(format!(
            "the document of {} could not be read: {reason}",
            policy.policy_name
        ));
    };
    analyze(document, partition(arn))
        .map_err(|error| format!("the document of {} is invalid: {error}", policy.policy_name))
}

fn statements_json(statements: &[Statement]) -> Value {
    Value::Array(statements.iter().map(Statement::to_json).collect())
}

/// Describes the statements that allow decryption with every key, in one
/// sentence part such as `statement DecryptAll allows kms:Decrypt`.
fn grant_text(decryption: &Decryption) -> String {
    let names: Vec<String> = decryption
        .every_key_statements
        .iter()
        .map(|statement| statement.name.clone())
        .collect();
    let (noun, verb) = if names.len() == 1 {
        ("statement", "allows")
    } else {
        ("statements", "allow")
    };
    let mut text = format!(
        "{noun} {} {verb} {} on every KMS key",
        names.join(", "),
        decryption.every_key_actions.join(" and ")
    );
    let conditions: Vec<&str> = decryption
        .every_key_statements
        .iter()
        .flat_map(|statement| statement.condition_keys.iter().map(String::as_str))
        .collect();
    if !conditions.is_empty() {
        text.push_str(&format!(
            " (its condition on {} does not count, as in Security Hub)",
            conditions.join(", ")
        ));
    }
    text
}

fn no_grant_text() -> String {
    format!(
        "no statement allows {} on every KMS key",
        DECRYPTION_ACTIONS.join(" or ")
    )
}

fn managed_policy(
    _context: &Context,
    resource: &Resource<'_>,
    _threshold: u32,
) -> Option<Evaluation> {
    let policy = managed(resource)?;
    // Security Hub KMS.1 leaves out policies used as permissions
    // boundaries: a boundary only limits what other policies grant.
    if policy.permissions_boundary_usage_count.unwrap_or(0) > 0 {
        return None;
    }

    let mut evidence = json!({
        "source": "GetAccountAuthorizationDetails",
        "policy_arn": policy.arn,
        "default_version_id": policy.default_version_id,
        "attachment_count": policy.attachment_count,
    });
    let decryption = match read(policy, policy.arn.as_deref()) {
        Ok(decryption) => decryption,
        Err(reason) => return Some(Evaluation::unknown(reason, evidence)),
    };
    evidence["scoped_statements"] = statements_json(&decryption.scoped_statements);
    if !decryption.allows_every_key() {
        return Some(Evaluation::pass(no_grant_text(), evidence));
    }

    evidence["statements"] = statements_json(&decryption.every_key_statements);
    let mut cause = format!(
        "{} of version {}",
        grant_text(&decryption),
        policy.default_version_id.as_deref().unwrap_or("(unknown)")
    );
    if policy.attachment_count == Some(0) {
        cause.push_str(
            ". The policy is attached to nothing, and Security Hub KMS.1 fails unattached policies too",
        );
    }
    Some(Evaluation::fail(cause, evidence))
}

fn inline_policies(
    context: &Context,
    resource: &Resource<'_>,
    _threshold: u32,
) -> Option<Evaluation> {
    let first = principal(resource)?;
    let principal_arn = first.principal_arn.as_deref();
    let policies = context.inline_policies_of(&first.account_id, principal_arn);
    let mut failing = Vec::new();
    let mut unreadable = Vec::new();
    let mut judged = Vec::new();
    for policy in policies {
        match read(policy, principal_arn) {
            Ok(decryption) if decryption.allows_every_key() => {
                judged.push(json!({
                    "policy_name": policy.policy_name,
                    "statements": statements_json(&decryption.every_key_statements),
                }));
                failing.push(format!(
                    "inline policy {}: {}",
                    policy.policy_name,
                    grant_text(&decryption)
                ));
            }
            Ok(decryption) => judged.push(json!({
                "policy_name": policy.policy_name,
                "scoped_statements": statements_json(&decryption.scoped_statements),
            })),
            Err(reason) => unreadable.push(reason),
        }
    }
    let evidence = json!({
        "source": "GetAccountAuthorizationDetails",
        "principal_arn": principal_arn,
        "principal_type": first.principal_type.map(|t| t.as_str()),
        "policies": judged,
        "unreadable": unreadable,
    });
    Some(if !failing.is_empty() {
        Evaluation::fail(failing.join("; "), evidence)
    } else if !unreadable.is_empty() {
        Evaluation::unknown(unreadable.join("; "), evidence)
    } else {
        Evaluation::pass(
            format!("in {} inline policies, {}", judged.len(), no_grant_text()),
            evidence,
        )
    })
}

impl Context {
    /// Returns the IAM resources of a type: customer managed policies, or
    /// one entry per user, role or group with inline policies, through its
    /// first inline policy.
    pub(crate) fn iam_resources(&self, resource_type: ResourceType) -> Vec<Resource<'_>> {
        let policies = self.snapshot.iam_policies.iter();
        match resource_type {
            ResourceType::IamPolicy => policies
                .filter(|p| p.policy_type == PolicyType::Managed)
                .map(Resource::IamPolicy)
                .collect(),
            ResourceType::IamPrincipal => {
                let mut seen = HashSet::new();
                policies
                    .filter(|p| p.policy_type == PolicyType::Inline)
                    .filter(|p| seen.insert((&p.account_id, &p.principal_arn)))
                    .map(Resource::IamPrincipal)
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// Returns the inline policies of one user, role or group.
    fn inline_policies_of(
        &self,
        account_id: &str,
        principal_arn: Option<&str>,
    ) -> Vec<&IamPolicyRecord> {
        self.snapshot
            .iam_policies
            .iter()
            .filter(|p| p.policy_type == PolicyType::Inline)
            .filter(|p| p.account_id == account_id && p.principal_arn.as_deref() == principal_arn)
            .collect()
    }
}
