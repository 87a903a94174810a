//! AWS IAM: the customer managed policies of an account and the inline
//! policies of its users, roles and groups, for the rules on KMS
//! decryption rights.
//!
//! One paginated `GetAccountAuthorizationDetails` call per account returns
//! them all, with each managed policy's versions and each identity's inline
//! policies. IAM is global, so an account has one IAM unit, whatever the
//! Regions scanned.

use aws_sdk_iam::Client;
use aws_sdk_iam::types::{
    EntityType, GroupDetail, ManagedPolicyDetail, PolicyDetail, RoleDetail, UserDetail,
};
use keyward_store::inventory::{IamPolicyRecord, PolicyType, PrincipalType, Tag};

use crate::context::{Unit, UnitRead, record_gap};
use crate::time::utc_opt;

/// Items per page: 1000 is the maximum in the AWS API model of IAM.
const PAGE_SIZE: i32 = 1000;

pub async fn read(unit: &Unit) -> UnitRead {
    let client = Client::new(&unit.config);
    let mut read = UnitRead {
        coverage: unit.coverage(),
        ..UnitRead::default()
    };
    let mut marker = None;
    loop {
        let page = unit
            .call(
                "GetAccountAuthorizationDetails",
                client
                    .get_account_authorization_details()
                    .filter(EntityType::LocalManagedPolicy)
                    .filter(EntityType::User)
                    .filter(EntityType::Role)
                    .filter(EntityType::Group)
                    .max_items(PAGE_SIZE)
                    .set_marker(marker)
                    .send(),
            )
            .await;
        // Policies of the pages read before a failure are kept, but the
        // coverage row marks the account's IAM as not read in full.
        let page = match page {
            Ok(page) => page,
            Err(error) => {
                record_gap(&mut read.coverage, &error);
                break;
            }
        };
        for policy in page.policies() {
            read.iam_policies.push(managed_policy(unit, policy));
        }
        for user in page.user_detail_list() {
            read.iam_policies.extend(user_policies(unit, user));
        }
        for role in page.role_detail_list() {
            read.iam_policies.extend(role_policies(unit, role));
        }
        for group in page.group_detail_list() {
            read.iam_policies.extend(group_policies(unit, group));
        }
        match page.marker() {
            Some(next) if page.is_truncated() => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    read.coverage.assets = read.iam_policies.len() as u32;
    read.coverage.partial_assets = read
        .iam_policies
        .iter()
        .filter(|policy| !policy.read_errors.is_empty())
        .count() as u32;
    read
}

/// Builds the record of a customer managed policy, with the document of
/// its default version.
fn managed_policy(unit: &Unit, policy: &ManagedPolicyDetail) -> IamPolicyRecord {
    let mut record = IamPolicyRecord {
        scan_id: unit.scan_id.clone(),
        account_id: unit.account_id.clone(),
        policy_type: PolicyType::Managed,
        policy_name: managed_policy_name(policy),
        arn: policy.arn().map(str::to_owned),
        policy_id: policy.policy_id().map(str::to_owned),
        path: policy.path().map(str::to_owned),
        default_version_id: policy.default_version_id().map(str::to_owned),
        attachment_count: policy.attachment_count().map(count),
        permissions_boundary_usage_count: policy.permissions_boundary_usage_count().map(count),
        created_at: utc_opt(policy.create_date()),
        updated_at: utc_opt(policy.update_date()),
        ..IamPolicyRecord::default()
    };
    let default_version = policy.policy_version_list().iter().find(|version| {
        version.is_default_version()
            || version.version_id().is_some() && version.version_id() == policy.default_version_id()
    });
    match default_version.and_then(|version| version.document()) {
        Some(encoded) => set_document(&mut record, encoded),
        None => record.read_errors.push(format!(
            "the response has no document for the default version {}",
            policy.default_version_id().unwrap_or("(none named)")
        )),
    }
    record
}

/// Returns the name of a managed policy, or the last segment of its ARN
/// when the response has no name, as moto 5.2.5's does not.
fn managed_policy_name(policy: &ManagedPolicyDetail) -> String {
    let from_arn = || policy.arn().and_then(|arn| arn.rsplit('/').next());
    policy
        .policy_name()
        .or_else(from_arn)
        .unwrap_or_default()
        .to_owned()
}

/// The identity that embeds inline policies.
struct Principal<'a> {
    principal_type: PrincipalType,
    name: Option<&'a str>,
    arn: Option<&'a str>,
    tags: Vec<Tag>,
}

fn user_policies(unit: &Unit, user: &UserDetail) -> Vec<IamPolicyRecord> {
    let principal = Principal {
        principal_type: PrincipalType::User,
        name: user.user_name(),
        arn: user.arn(),
        tags: tags(user.tags()),
    };
    inline_policies(unit, &principal, user.user_policy_list())
}

fn role_policies(unit: &Unit, role: &RoleDetail) -> Vec<IamPolicyRecord> {
    let principal = Principal {
        principal_type: PrincipalType::Role,
        name: role.role_name(),
        arn: role.arn(),
        tags: tags(role.tags()),
    };
    inline_policies(unit, &principal, role.role_policy_list())
}

fn group_policies(unit: &Unit, group: &GroupDetail) -> Vec<IamPolicyRecord> {
    let principal = Principal {
        principal_type: PrincipalType::Group,
        name: group.group_name(),
        arn: group.arn(),
        tags: Vec::new(),
    };
    inline_policies(unit, &principal, group.group_policy_list())
}

fn inline_policies(
    unit: &Unit,
    principal: &Principal<'_>,
    policies: &[PolicyDetail],
) -> Vec<IamPolicyRecord> {
    policies
        .iter()
        .map(|policy| {
            let mut record = IamPolicyRecord {
                scan_id: unit.scan_id.clone(),
                account_id: unit.account_id.clone(),
                policy_type: PolicyType::Inline,
                policy_name: policy.policy_name().unwrap_or_default().to_owned(),
                principal_type: Some(principal.principal_type),
                principal_name: principal.name.map(str::to_owned),
                principal_arn: principal.arn.map(str::to_owned),
                tags: principal.tags.clone(),
                ..IamPolicyRecord::default()
            };
            match policy.policy_document() {
                Some(encoded) => set_document(&mut record, encoded),
                None => record
                    .read_errors
                    .push("the response has no policy document".to_owned()),
            }
            record
        })
        .collect()
}

/// Stores a policy document, decoded, or the reason it could not be.
fn set_document(record: &mut IamPolicyRecord, encoded: &str) {
    match decode_document(encoded) {
        Ok(document) => record.document = Some(document),
        Err(error) => record.read_errors.push(error),
    }
}

/// Decodes a policy document that IAM returns URL-encoded as RFC 3986
/// describes. A `+` stays a `+`: the encoding writes a space as `%20`.
/// A document that already starts with `{` is returned as it is, because
/// its encoded form would start with `%7B`.
pub fn decode_document(encoded: &str) -> Result<String, String> {
    if encoded.trim_start().starts_with('{') {
        return Ok(encoded.to_owned());
    }
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|error| format!("the policy document is not URL-encoded UTF-8: {error}"))
}

fn tags(tags: &[aws_sdk_iam::types::Tag]) -> Vec<Tag> {
    tags.iter()
        .map(|tag| Tag {
            key: tag.key().to_owned(),
            value: tag.value().to_owned(),
        })
        .collect()
}

/// Converts a count that IAM returns as a signed integer.
fn count(value: i32) -> u32 {
    u32::try_from(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_decoded() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Sid%22%3A%22Read%20keys%22%2C%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22kms%3A*%22%2C%22Resource%22%3A%22*%22%7D%7D";
        assert_eq!(
            decode_document(encoded).as_deref(),
            Ok(
                r#"{"Version":"2012-10-17","Statement":{"Sid":"Read keys","Effect":"Allow","Action":"kms:*","Resource":"*"}}"#
            )
        );
    }

    #[test]
    fn plus_sign_is_kept() {
        assert_eq!(
            decode_document("%7B%22Sid%22%3A%22a+b%22%7D").as_deref(),
            Ok(r#"{"Sid":"a+b"}"#)
        );
    }

    #[test]
    fn plain_json_is_kept() {
        let plain = r#"{"Statement":[{"Condition":{"StringLike":{"aws:userid":"AIDA%"}}}]}"#;
        assert_eq!(decode_document(plain).as_deref(), Ok(plain));
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let error = decode_document("%7B%FF%7D").unwrap_err();
        assert!(error.contains("UTF-8"), "{error}");
    }
}
