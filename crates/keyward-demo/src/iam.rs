//! IAM policies that grant the use of KMS keys: scoped ones, ones that
//! allow decryption with every key, and a permissions boundary, with the
//! verdict each rule must reach.

use std::collections::BTreeMap;

use keyward_store::inventory::{IamPolicyRecord, PolicyType, PrincipalType, Snapshot};
use serde_json::json;

use crate::organization::Account;
use crate::random::Random;
use crate::truth::{ExpectedAsset, Verdict};
use crate::world::World;
use crate::{Built, Planned, SCAN_ID};

/// Builds the IAM policies of one account into the snapshot. Account
/// positions decide which accounts have the policies that fail, so that
/// every organization of two accounts or more has each kind.
pub fn build(
    world: &World,
    random: &mut Random,
    position: usize,
    account: &Account,
    snapshot: &mut Snapshot,
) -> Vec<Built> {
    let region = world
        .organization
        .regions
        .first()
        .map_or("us-east-1", String::as_str);
    let scoped = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": format!("arn:aws:kms:{region}:{}:key/*", account.id),
            "Condition": {"StringEquals": {"aws:ResourceTag/team": account.name}},
        }, {
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": format!("arn:aws:secretsmanager:*:{}:secret:{}/*", account.id, account.name),
        }],
    });
    let every_key = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "LegacyDecrypt",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
        }],
    });
    let everything = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}],
    });

    let mut built = Vec::new();
    let mut push = |record: IamPolicyRecord, scenario: &str, verdict: Option<(&str, Verdict)>| {
        let (arn, resource_type) = match record.policy_type {
            PolicyType::Managed => (record.arn.clone().unwrap_or_default(), "AwsIamPolicy"),
            PolicyType::Inline => (
                record.principal_arn.clone().unwrap_or_default(),
                "AwsIamRole",
            ),
        };
        let verdicts = verdict
            .map(|(rule, verdict)| BTreeMap::from([(rule.to_owned(), verdict)]))
            .unwrap_or_default();
        built.push(Built {
            expected: ExpectedAsset {
                arn,
                resource_type: resource_type.to_owned(),
                account_id: account.id.clone(),
                region: String::new(),
                scenario: scenario.to_owned(),
                last_use: None,
                verdicts,
            },
            trail: None,
            planned: Planned::IamPolicy(Box::new(record.clone())),
        });
        snapshot.iam_policies.push(record);
    };

    const MANAGED: &str = "iam-policy-kms-decrypt-all-keys";
    const INLINE: &str = "iam-inline-policy-kms-decrypt-all-keys";
    push(
        managed(world, random, account, "AppDataAccess", &scoped, 1, 0),
        "scoped-managed-policy",
        Some((MANAGED, Verdict::Pass)),
    );
    push(
        managed(
            world,
            random,
            account,
            "DeveloperBoundary",
            &everything,
            0,
            4,
        ),
        "permissions-boundary",
        None,
    );
    if position.is_multiple_of(3) {
        push(
            managed(world, random, account, "LegacyDecryptAll", &every_key, 2, 0),
            "decrypt-all-managed-policy",
            Some((MANAGED, Verdict::Fail)),
        );
    }
    push(
        inline(account, &account.app_role, "ReadOwnData", &scoped),
        "scoped-inline-policy",
        Some((INLINE, Verdict::Pass)),
    );
    if position % 4 == 1 {
        push(
            inline(account, "ci-deployer", "DeployAnything", &everything),
            "decrypt-all-inline-policy",
            Some((INLINE, Verdict::Fail)),
        );
    }
    built
}

fn managed(
    world: &World,
    random: &mut Random,
    account: &Account,
    name: &str,
    document: &serde_json::Value,
    attachments: u32,
    boundaries: u32,
) -> IamPolicyRecord {
    let created = world.days_ago(i64::from(random.between(200, 1200)));
    IamPolicyRecord {
        scan_id: SCAN_ID.to_owned(),
        account_id: account.id.clone(),
        policy_type: PolicyType::Managed,
        policy_name: name.to_owned(),
        arn: Some(format!("arn:aws:iam::{}:policy/{name}", account.id)),
        policy_id: Some(format!(
            "ANPA{}",
            random.chars(17, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        )),
        path: Some("/".to_owned()),
        default_version_id: Some("v1".to_owned()),
        attachment_count: Some(attachments),
        permissions_boundary_usage_count: Some(boundaries),
        created_at: Some(created),
        updated_at: Some(created),
        document: Some(document.to_string()),
        ..IamPolicyRecord::default()
    }
}

fn inline(
    account: &Account,
    role: &str,
    name: &str,
    document: &serde_json::Value,
) -> IamPolicyRecord {
    IamPolicyRecord {
        scan_id: SCAN_ID.to_owned(),
        account_id: account.id.clone(),
        policy_type: PolicyType::Inline,
        policy_name: name.to_owned(),
        principal_type: Some(PrincipalType::Role),
        principal_name: Some(role.to_owned()),
        principal_arn: Some(format!("arn:aws:iam::{}:role/{role}", account.id)),
        document: Some(document.to_string()),
        ..IamPolicyRecord::default()
    }
}
