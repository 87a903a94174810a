//! Analysis of the principals that a key policy or secret resource policy
//! allows.
//!
//! A statement is public when it allows a wildcard principal (or uses
//! `NotPrincipal`) and no condition narrows the caller: a condition on
//! `kms:CallerAccount`, `aws:PrincipalAccount`, `aws:PrincipalOrgID`,
//! `aws:PrincipalOrgPaths`, `aws:PrincipalArn`, `aws:SourceAccount`,
//! `aws:SourceArn`, `aws:SourceOrgID`, `aws:SourceVpc` or `aws:SourceVpce`
//! with a positive operator. CloudTrail's default key policy, a wildcard
//! principal restricted by `kms:CallerAccount`, is therefore not public.

use std::collections::BTreeSet;

use serde_json::Value;

/// Condition keys that narrow a wildcard principal.
const RESTRICTING_KEYS: [&str; 10] = [
    "kms:calleraccount",
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalarn",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceorgid",
    "aws:sourcevpc",
    "aws:sourcevpce",
];

/// Condition keys whose values are account ids.
const ACCOUNT_KEYS: [&str; 3] = [
    "kms:calleraccount",
    "aws:principalaccount",
    "aws:sourceaccount",
];

/// Access that a policy grants outside the owner.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyAccess {
    /// Statements (by `Sid`, or by position) that allow anyone.
    pub public_statements: Vec<String>,
    /// Accounts other than `known` that a statement names, as a principal
    /// or in an account condition.
    pub external_accounts: BTreeSet<String>,
    /// Whether some statement limits callers to an organization, so that
    /// accounts of that organization are in.
    pub organization_condition: bool,
}

/// Reads a policy document. `known` are the accounts that count as inside:
/// the owner and the other accounts of the scan. Returns an error text for
/// a policy that is not JSON of the policy grammar.
pub fn analyze(document: &str, known: &BTreeSet<&str>) -> Result<PolicyAccess, String> {
    let policy: Value =
        serde_json::from_str(document).map_err(|error| format!("policy is not JSON: {error}"))?;
    let statements = match &policy["Statement"] {
        Value::Array(list) => list.clone(),
        statement @ Value::Object(_) => vec![statement.clone()],
        _ => return Err("policy has no Statement".to_owned()),
    };
    let mut access = PolicyAccess::default();
    for (index, statement) in statements.iter().enumerate() {
        if statement["Effect"].as_str() != Some("Allow") {
            continue;
        }
        let name = statement["Sid"]
            .as_str()
            .filter(|sid| !sid.is_empty())
            .map_or_else(|| format!("statement {}", index + 1), str::to_owned);
        let conditions = condition_keys(&statement["Condition"]);
        let restricted = conditions
            .iter()
            .any(|(key, _)| RESTRICTING_KEYS.contains(&key.as_str()));
        if conditions
            .iter()
            .any(|(key, _)| key == "aws:principalorgid" || key == "aws:principalorgpaths")
        {
            access.organization_condition = true;
        }
        for (key, values) in &conditions {
            if ACCOUNT_KEYS.contains(&key.as_str()) {
                for account in values {
                    if !known.contains(account.as_str()) {
                        access.external_accounts.insert(account.clone());
                    }
                }
            }
        }

        let wildcard = !statement["NotPrincipal"].is_null()
            || principals(&statement["Principal"])
                .iter()
                .any(|principal| principal == "*");
        if wildcard && !restricted {
            access.public_statements.push(name);
        }
        for principal in principals(&statement["Principal"]) {
            if let Some(account) = account_of(&principal)
                && !known.contains(account.as_str())
            {
                access.external_accounts.insert(account);
            }
        }
    }
    Ok(access)
}

/// Returns the AWS principals of a `Principal` element: `"*"`, account ids and
/// ARNs. Service and federated principals are left out.
fn principals(element: &Value) -> Vec<String> {
    match element {
        Value::String(text) => vec![text.clone()],
        Value::Object(map) => match map.get("AWS") {
            Some(Value::String(text)) => vec![text.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Returns the account of a principal: a bare account id or the account field of
/// an ARN.
fn account_of(principal: &str) -> Option<String> {
    if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        return Some(principal.to_owned());
    }
    let account = principal.strip_prefix("arn:")?.split(':').nth(3)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then(|| account.to_owned())
}

/// Condition keys under positive operators, lower-cased, with their
/// values. `StringNotEquals` and other negated operators do not narrow who
/// may call, so their keys are left out.
fn condition_keys(condition: &Value) -> Vec<(String, Vec<String>)> {
    let Value::Object(operators) = condition else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    for (operator, entries) in operators {
        let positive = !operator.contains("Not") && !operator.starts_with("Null");
        let Value::Object(entries) = entries else {
            continue;
        };
        if !positive {
            continue;
        }
        for (key, value) in entries {
            let values = match value {
                Value::String(text) => vec![text.clone()],
                Value::Array(list) => list
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            };
            keys.push((key.to_ascii_lowercase(), values));
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> BTreeSet<&'static str> {
        BTreeSet::from(["111122223333"])
    }

    #[test]
    fn wildcard_principal_is_public() {
        let policy = r#"{"Statement":[{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#;
        let access = analyze(policy, &known()).unwrap();
        assert_eq!(access.public_statements, ["Open"]);
        let policy = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":"kms:Decrypt","Resource":"*"}}"#;
        assert_eq!(
            analyze(policy, &known()).unwrap().public_statements,
            ["statement 1"]
        );
    }

    #[test]
    fn caller_account_condition_is_not_public() {
        // The shape of CloudTrail's default key policy.
        let policy = r#"{"Statement":[{"Sid":"Allow CloudTrail to describe key","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:DescribeKey","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"111122223333"}}}]}"#;
        let access = analyze(policy, &known()).unwrap();
        assert!(access.public_statements.is_empty());
        assert!(access.external_accounts.is_empty());
    }

    #[test]
    fn negated_condition_does_not_restrict() {
        let policy = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-abc"}}}]}"#;
        assert_eq!(
            analyze(policy, &known()).unwrap().public_statements.len(),
            1
        );
    }

    #[test]
    fn organization_condition_restricts() {
        let policy = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}}]}"#;
        let access = analyze(policy, &known()).unwrap();
        assert!(access.public_statements.is_empty());
        assert!(access.organization_condition);
    }

    #[test]
    fn external_principals_found() {
        let policy = r#"{"Statement":[
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
            {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::999999999999:role/app","444455556666"]},"Action":"kms:Decrypt","Resource":"*"},
            {"Effect":"Allow","Principal":{"Service":"logs.amazonaws.com"},"Action":"kms:Encrypt","Resource":"*"},
            {"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::777777777777:root"},"Action":"kms:*","Resource":"*"}]}"#;
        let access = analyze(policy, &known()).unwrap();
        let external: Vec<&str> = access
            .external_accounts
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(external, ["444455556666", "999999999999"]);
        assert!(access.public_statements.is_empty());
    }

    #[test]
    fn malformed_policy_is_an_error() {
        assert!(analyze("not json", &known()).is_err());
        assert!(analyze("{}", &known()).is_err());
    }
}
