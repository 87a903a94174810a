//! The data of one asset's page: its metadata from the latest scan, a
//! summary of its policy, its findings, and its CloudTrail record.

use std::collections::BTreeSet;

use keyward_store::query::catalog::{filter_condition, quote};
use serde_json::{Value, json};

use crate::data::{Data, Row};
use crate::error::{Result, ServeError};
use crate::filters::Filters;

/// Inventory tables that hold assets, with the kind of asset each holds.
const ASSET_TABLES: [(&str, &str); 4] = [
    ("keys", "KMS key"),
    ("certificates", "ACM certificate"),
    ("certificate_authorities", "Private CA"),
    ("secrets", "Secret"),
];

/// Principals listed on an asset page, the most active first.
const MAX_PRINCIPALS: usize = 100;

/// Builds the page data of the asset with this ARN (or, for a secret known
/// only from CloudTrail, this name).
pub async fn asset(data: &Data, filters: &Filters, arn: &str) -> Result<Value> {
    let quoted = quote(arn);
    let (metadata, findings, usage, timeline, principals) = tokio::try_join!(
        metadata(data, &quoted),
        data.rows(format!(
            "SELECT rule_id, title, severity, verdict, cause, evidence, first_seen,
                    checked_at, monthly_cost_usd, suppressed_by, workflow
             FROM findings WHERE resource_arn = {quoted}
             ORDER BY CASE verdict WHEN 'FAIL' THEN 0 WHEN 'UNKNOWN' THEN 1 ELSE 2 END,
                      rule_id"
        )),
        data.rows(format!("SELECT * FROM usage WHERE asset = {quoted}")),
        data.rows(timeline_sql(filters, &quoted)),
        data.rows(principals_sql(filters, &quoted)),
    )?;
    if metadata.is_none() && findings.is_empty() && usage.is_empty() {
        return Err(ServeError::NotFound(format!(
            "no asset {arn:?} in the latest scan, the latest check or CloudTrail"
        )));
    }
    let (kind, row) = metadata.unwrap_or(("Unknown", Row::new()));
    let policy = row
        .get("policy")
        .and_then(Value::as_str)
        .map(|document| summarize_policy(document, row.get("account_id")));
    Ok(json!({
        "arn": arn,
        "kind": kind,
        "metadata": row,
        "policy": policy,
        "findings": findings,
        "usage": usage.into_iter().next(),
        "timeline": timeline,
        "principals": principals,
    }))
}

/// Finds the asset in the latest scan's inventory tables.
async fn metadata(data: &Data, quoted: &str) -> Result<Option<(&'static str, Row)>> {
    for (table, kind) in ASSET_TABLES {
        let rows = data
            .rows(format!(
                "SELECT * FROM {table} WHERE arn = {quoted} LIMIT 1"
            ))
            .await?;
        if let Some(row) = rows.into_iter().next() {
            return Ok(Some((kind, row)));
        }
    }
    Ok(None)
}

/// Counts successful and failed calls naming the asset, per day.
fn timeline_sql(filters: &Filters, quoted: &str) -> String {
    let window = filter_condition(filters.window, &[], &[]);
    format!(
        "SELECT to_char(time, '%Y-%m-%d') AS day,
                count(CASE WHEN status = 'Success' THEN 1 END) AS successes,
                count(CASE WHEN status = 'Failure' THEN 1 END) AS failures
         FROM crypto_events WHERE asset = {quoted} AND {window}
         GROUP BY 1 ORDER BY day"
    )
}

/// Lists the principals that called the asset, with their operations.
fn principals_sql(filters: &Filters, quoted: &str) -> String {
    let window = filter_condition(filters.window, &[], &[]);
    format!(
        "SELECT principal, count(*) AS calls,
                count(CASE WHEN status = 'Success' THEN 1 END) AS successes,
                count(CASE WHEN status = 'Failure' THEN 1 END) AS failures,
                max(time) AS last_call,
                array_to_string(array_sort(array_agg(DISTINCT api_operation)), ', ')
                    AS operations
         FROM crypto_events WHERE asset = {quoted} AND {window}
         GROUP BY principal ORDER BY calls DESC, principal LIMIT {MAX_PRINCIPALS}"
    )
}

/// Summarizes a key policy or resource policy: each statement's effect,
/// principals, actions and condition keys, and the statements that allow
/// anyone or accounts other than the owner.
pub fn summarize_policy(document: &str, owner: Option<&Value>) -> Value {
    let parsed: Value = match serde_json::from_str(document) {
        Ok(value) => value,
        Err(error) => return json!({ "error": format!("policy is not JSON: {error}") }),
    };
    let statements = match &parsed["Statement"] {
        Value::Array(list) => list.clone(),
        statement @ Value::Object(_) => vec![statement.clone()],
        _ => Vec::new(),
    };
    let summaries: Vec<Value> = statements
        .iter()
        .enumerate()
        .map(|(index, statement)| summarize_statement(index, statement))
        .collect();
    let known: BTreeSet<&str> = owner.and_then(Value::as_str).into_iter().collect();
    let access = keyward_rules::policy::analyze(document, &known);
    let (public, external, error) = match access {
        Ok(access) => (access.public_statements, access.external_accounts, None),
        Err(error) => (Vec::new(), BTreeSet::new(), Some(error)),
    };
    json!({
        "statements": summaries,
        "public_statements": public,
        "external_accounts": external,
        "error": error,
    })
}

fn summarize_statement(index: usize, statement: &Value) -> Value {
    let sid = statement["Sid"]
        .as_str()
        .filter(|sid| !sid.is_empty())
        .map_or_else(|| format!("statement {}", index + 1), str::to_owned);
    let principals = match &statement["Principal"] {
        Value::String(text) => vec![text.clone()],
        Value::Object(map) => map.values().flat_map(strings).collect(),
        _ => Vec::new(),
    };
    let conditions: Vec<String> = statement["Condition"]
        .as_object()
        .into_iter()
        .flat_map(|operators| operators.iter())
        .flat_map(|(operator, keys)| {
            keys.as_object()
                .into_iter()
                .flat_map(|keys| keys.keys())
                .map(move |key| format!("{operator} {key}"))
        })
        .collect();
    json!({
        "sid": sid,
        "effect": statement["Effect"].as_str().unwrap_or(""),
        "principals": principals,
        "not_principal": !statement["NotPrincipal"].is_null(),
        "actions": strings(&statement["Action"]),
        "conditions": conditions,
    })
}

/// Returns a policy value that is text or a list of text as a list.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_summary_lists_statements_and_outsiders() {
        let policy = r#"{"Statement": [
            {"Sid": "Root", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::999988887777:root"]},
             "Action": ["kms:Decrypt"], "Resource": "*",
             "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}
        ]}"#;
        let summary = summarize_policy(policy, Some(&json!("111122223333")));
        assert_eq!(summary["statements"][0]["sid"], "Root");
        assert_eq!(summary["statements"][1]["sid"], "statement 2");
        assert_eq!(summary["statements"][1]["actions"], json!(["kms:Decrypt"]));
        assert_eq!(
            summary["statements"][1]["conditions"],
            json!(["StringEquals kms:ViaService"])
        );
        assert_eq!(summary["external_accounts"], json!(["999988887777"]));
        assert_eq!(summary["public_statements"], json!([]));
    }

    #[test]
    fn invalid_policy_reported() {
        let summary = summarize_policy("{not json", None);
        assert!(summary["error"].as_str().unwrap().contains("not JSON"));
    }
}
