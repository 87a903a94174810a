//! The data behind the charts and key figures of each dashboard.
//!
//! Visuals of CloudTrail calls reuse the built-in questions of
//! `keyward query` and add up their `count` column, so a pie or bar shows
//! calls, not result rows. Visuals of findings read the latest check only,
//! which contains one finding per rule and resource, so a failure that a
//! later check resolved is not counted again.

use keyward_store::query::catalog::{self, question};
use serde_json::{Value, json};

use crate::data::{Data, Row};
use crate::error::Result;
use crate::filters::{Filters, timestamp};

/// Microseconds in a day.
const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

/// Days ahead in which the certificates dashboard counts a certificate as
/// expiring, as the reference dashboards of AWS's sample solution do.
pub const EXPIRY_HORIZON_DAYS: i64 = 60;

/// Rules whose failures mark an asset as unused.
const UNUSED_RULES: &str = "('kms-key-unused', 'secret-unused')";

/// Principals drawn in the charts of denied calls, the most denied first.
const TOP_PRINCIPALS: usize = 10;

/// Severities from the most to the least severe.
pub const SEVERITIES: [&str; 5] = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"];

/// Returns the SQL of a built-in question for the filters.
pub fn question_sql(name: &str, filters: &Filters) -> String {
    match question(name) {
        Some(question) => question.sql(&filters.question_filters()),
        None => unreachable_question(name),
    }
}

/// Logs a question name that the catalog lacks and returns a query without
/// rows. A unit test checks every name that the dashboards use.
fn unreachable_question(name: &str) -> String {
    tracing::error!(question = name, "dashboard names an unknown question");
    "SELECT NULL AS unknown_question WHERE FALSE".to_owned()
}

/// Describes the time window that a question covers for the filters, as
/// the pages print it above a chart.
pub fn window_label(name: &str, filters: &Filters) -> String {
    let Some(question) = question(name) else {
        return String::new();
    };
    let window = question.effective_window(&filters.question_filters());
    let day = |micros: i64| keyward_cloudtrail::format_day(micros);
    match (window.from, window.to) {
        (None | Some(0), None) => "all stored time".to_owned(),
        (None | Some(0), Some(to)) => format!("before {}", day(to)),
        (Some(from), None) => format!("{} to now", day(from)),
        (Some(from), Some(to)) => format!("{} to {}", day(from), day(to)),
    }
}

fn visual(rows: Vec<Row>, window: String) -> Value {
    json!({ "window": window, "rows": rows })
}

/// Builds the overview: assets by service and state, open findings by
/// severity, the trend over the stored checks and the savings.
pub async fn overview(data: &Data, filters: &Filters) -> Result<Value> {
    let place = filters.place_condition("account_id", "region");
    let assets = format!(
        "SELECT service, state, count(*) AS assets FROM (
            SELECT 'KMS keys' AS service, COALESCE(key_state, 'Unknown') AS state
            FROM keys WHERE {place}
            UNION ALL SELECT 'ACM certificates', COALESCE(status, 'Unknown')
            FROM certificates WHERE {place}
            UNION ALL SELECT 'Private CAs', COALESCE(status, 'Unknown')
            FROM certificate_authorities WHERE {place}
            UNION ALL SELECT 'Secrets', CASE WHEN deleted_at IS NULL THEN 'Active'
                                             ELSE 'PendingDeletion' END
            FROM secrets WHERE {place}
        ) AS assets GROUP BY service, state ORDER BY service, state"
    );
    // One pass over the latest findings feeds the severities, the savings
    // and the count of undecided findings.
    let findings = format!(
        "SELECT severity, verdict, resource_type,
                suppressed_by IS NULL AS open,
                rule_id IN {UNUSED_RULES} AS unused_rule,
                count(*) AS findings, sum(monthly_cost_usd) AS monthly_usd
         FROM findings WHERE {place}
         GROUP BY 1, 2, 3, 4, 5"
    );
    let (assets, findings, trend, status) = tokio::try_join!(
        data.rows(assets),
        data.rows(findings),
        data.rows(trend_sql(filters)),
        store_status(data, filters),
    )?;
    let mut status = status;
    status["unknown_findings"] = json!(sum_findings(&findings, |row| {
        text(row, "verdict") == "UNKNOWN"
    }));
    Ok(json!({
        "assets": assets,
        "severities": severity_counts(&findings),
        "trend": trend,
        "savings": savings(&findings),
        "status": status,
    }))
}

fn text<'a>(row: &'a Row, column: &str) -> &'a str {
    row.get(column).and_then(Value::as_str).unwrap_or("")
}

fn is_open_failure(row: &Row) -> bool {
    text(row, "verdict") == "FAIL" && row.get("open") == Some(&Value::Bool(true))
}

/// Adds up the `findings` column of the grouped rows that `keep` accepts.
fn sum_findings(rows: &[Row], keep: impl Fn(&Row) -> bool) -> u64 {
    rows.iter()
        .filter(|row| keep(row))
        .filter_map(|row| row.get("findings").and_then(Value::as_u64))
        .sum()
}

/// Counts failing findings and unused assets in every stored check. Only
/// failures are grouped, and then joined to the checks, so that a check
/// without failures still has its point.
fn trend_sql(filters: &Filters) -> String {
    let place = filters.place_condition("account_id", "region");
    let window = filters.time_condition("c.checked_at");
    format!(
        "WITH failures AS (
            SELECT run_id, count(*) AS failing,
                   count(DISTINCT CASE WHEN rule_id IN {UNUSED_RULES}
                                       THEN resource_arn END) AS unused
            FROM findings_history
            WHERE verdict = 'FAIL' AND suppressed_by IS NULL AND {place}
            GROUP BY run_id
         )
         SELECT c.run_id, c.checked_at, COALESCE(f.failing, 0) AS failing,
                COALESCE(f.unused, 0) AS unused
         FROM checks c LEFT JOIN failures f ON f.run_id = c.run_id
         WHERE {window}
         ORDER BY c.checked_at, c.run_id"
    )
}

/// Counts open failures per severity, from critical down, with zeros for
/// severities without findings.
fn severity_counts(rows: &[Row]) -> Vec<Value> {
    SEVERITIES
        .iter()
        .map(|severity| {
            let count = sum_findings(rows, |row| {
                is_open_failure(row) && text(row, "severity") == *severity
            });
            json!({ "severity": severity, "findings": count })
        })
        .collect()
}

/// Adds up what removing the unused assets would save, per resource type.
fn savings(rows: &[Row]) -> Vec<Value> {
    let mut totals: std::collections::BTreeMap<&str, (u64, f64)> = Default::default();
    for row in rows {
        let unused = row.get("unused_rule") == Some(&Value::Bool(true));
        let cost = row.get("monthly_usd").and_then(Value::as_f64);
        let (true, Some(cost)) = (unused && is_open_failure(row), cost) else {
            continue;
        };
        let total = totals.entry(text(row, "resource_type")).or_default();
        total.0 += row.get("findings").and_then(Value::as_u64).unwrap_or(0);
        total.1 += cost;
    }
    totals
        .into_iter()
        .map(|(resource_type, (assets, monthly_usd))| {
            json!({ "resource_type": resource_type, "assets": assets, "monthly_usd": monthly_usd })
        })
        .collect()
}

/// Key figures of the store: the latest scan and check, and the coverage
/// gaps. Counting the stored events would read every event file's footer,
/// which takes seconds in a large store, so the overview leaves it out.
async fn store_status(data: &Data, filters: &Filters) -> Result<Value> {
    let place = filters.place_condition("account_id", "region");
    let (scan, check, gaps) = tokio::try_join!(
        data.rows(
            "SELECT scan_id, started_at, finished_at, complete FROM scans
             ORDER BY started_at DESC, scan_id DESC LIMIT 1"
        ),
        data.rows(
            "SELECT run_id, checked_at FROM checks ORDER BY checked_at DESC, run_id DESC LIMIT 1"
        ),
        data.count(format!(
            "SELECT count(*) FROM coverage WHERE status <> 'ok' AND {place}"
        )),
    )?;
    Ok(json!({
        "latest_scan": scan.into_iter().next(),
        "latest_check": check.into_iter().next(),
        "coverage_gaps": gaps,
    }))
}

/// Builds the KMS dashboard.
pub async fn kms(data: &Data, filters: &Filters) -> Result<Value> {
    let rotation = format!(
        "SELECT account, region, keys FROM ({}) AS q ORDER BY account, region",
        question_sql("kms-keys-without-autorotation", filters)
    );
    let operations = format!(
        "SELECT operation, sum(count) AS calls FROM ({}) AS q
         GROUP BY operation ORDER BY calls DESC, operation",
        question_sql("kms-operation", filters)
    );
    let denied = format!(
        "SELECT COALESCE(principal, '(unknown)') AS principal, operation,
                sum(count) AS denials
         FROM ({}) AS q GROUP BY 1, 2",
        question_sql("kms-access-denied", filters)
    );
    let unused = format!(
        "SELECT count(DISTINCT key) FROM ({}) AS q",
        question_sql("kms-unused-cmks", filters)
    );
    let (rotation, operations, denied, unused) = tokio::try_join!(
        data.rows(&rotation),
        data.rows(&operations),
        data.rows(&denied),
        data.count(&unused),
    )?;
    let denied = top_principals(denied, "denials");
    Ok(json!({
        "rotation": visual(rotation, "latest check".to_owned()),
        "operations": visual(operations, window_label("kms-operation", filters)),
        "denied": visual(denied, window_label("kms-access-denied", filters)),
        "unused_keys": unused,
    }))
}

/// Builds the certificates dashboard, for ACM and Private CA.
pub async fn certificates(data: &Data, filters: &Filters) -> Result<Value> {
    let breakdown = question_sql("cert-operation-brkdown", filters);
    let expiring = format!(
        "SELECT account_id AS account, region, count(*) AS certificates
         FROM certificates WHERE {}
         GROUP BY 1, 2 ORDER BY account, region",
        expiring_condition(filters)
    );
    let by_account = |name: &str| {
        format!(
            "SELECT account, sum(count) AS certificates FROM ({}) AS q
             GROUP BY account ORDER BY certificates DESC, account LIMIT 10",
            question_sql(name, filters)
        )
    };
    let pending = format!(
        "SELECT count(DISTINCT certificate) FROM ({}) AS q",
        question_sql("cert-dns-validation-pending", filters)
    );
    let pivot = format!(
        "SELECT account, region, operation, sum(count) AS calls FROM ({breakdown}) AS q
         GROUP BY 1, 2, 3 ORDER BY account, region, operation"
    );
    let (expiring, issued, revoked, pending, pivot) = tokio::try_join!(
        data.rows(&expiring),
        data.rows(by_account("certs-issued")),
        data.rows(by_account("certs-revoked")),
        data.count(&pending),
        data.rows(&pivot),
    )?;
    let operations = calls_by_operation(&pivot);
    let breakdown_window = window_label("cert-operation-brkdown", filters);
    Ok(json!({
        "operations": visual(operations, breakdown_window.clone()),
        "expiring": visual(expiring, format!("next {EXPIRY_HORIZON_DAYS} days")),
        "issued": visual(issued, window_label("certs-issued", filters)),
        "revoked": visual(revoked, window_label("certs-revoked", filters)),
        "pending_validation": pending,
        "pivot": visual(pivot, breakdown_window),
    }))
}

/// Builds the condition for certificates of the latest scan that expire
/// from now to the horizon, in the filtered accounts and Regions.
pub fn expiring_condition(filters: &Filters) -> String {
    let horizon = filters.now + EXPIRY_HORIZON_DAYS * MICROS_PER_DAY;
    format!(
        "not_after >= {} AND not_after < {} AND {}",
        filters.now_sql(),
        timestamp(horizon),
        filters.place_condition("account_id", "region")
    )
}

/// Builds the Secrets Manager dashboard.
pub async fn secrets(data: &Data, filters: &Filters) -> Result<Value> {
    let breakdown = question_sql("sm-operations-brkdwn", filters);
    let unused = format!(
        "SELECT count(DISTINCT secret) FROM ({}) AS q",
        question_sql("sm-unused-secrets", filters)
    );
    let deleted = format!(
        "SELECT account, sum(count) AS secrets FROM ({}) AS q
         GROUP BY account ORDER BY secrets DESC, account",
        question_sql("sm-deleted", filters)
    );
    let pivot = format!(
        "SELECT account, region, operation, sum(count) AS calls FROM ({breakdown}) AS q
         GROUP BY 1, 2, 3 ORDER BY account, region, operation"
    );
    let (denied, unused, deleted, pivot) = tokio::try_join!(
        data.rows(secret_denials_sql(filters)),
        data.count(&unused),
        data.rows(&deleted),
        data.rows(&pivot),
    )?;
    let operations = calls_by_operation(&pivot);
    let denied = top_principals(denied, "denials");
    let breakdown_window = window_label("sm-operations-brkdwn", filters);
    Ok(json!({
        "operations": visual(operations, breakdown_window.clone()),
        "denied": visual(denied, window_label("sm-access-denied", filters)),
        "unused_secrets": unused,
        "deleted": visual(deleted, window_label("sm-deleted", filters)),
        "pivot": visual(pivot, breakdown_window),
    }))
}

/// Adds up the calls of pivot rows per operation, the most called first,
/// so that the pie and the pivot come from one query.
fn calls_by_operation(pivot: &[Row]) -> Vec<Row> {
    let mut sums: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for row in pivot {
        let operation = row.get("operation").and_then(Value::as_str).unwrap_or("");
        let calls = row.get("calls").and_then(Value::as_u64).unwrap_or(0);
        *sums.entry(operation.to_owned()).or_insert(0) += calls;
    }
    let mut sums: Vec<(String, u64)> = sums.into_iter().collect();
    sums.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sums.into_iter()
        .map(|(operation, calls)| {
            let mut row = Row::new();
            row.insert("operation".to_owned(), json!(operation));
            row.insert("calls".to_owned(), json!(calls));
            row
        })
        .collect()
}

/// Counts Secrets Manager denials of the ten most denied principals, per
/// account. The question `sm-access-denied` stops at 20 rows of principal,
/// id, type, Region and account, which could leave out part of a
/// principal's denials, so the chart counts from the events with the same
/// conditions.
fn secret_denials_sql(filters: &Filters) -> String {
    let window = question("sm-access-denied")
        .map(|question| question.effective_window(&filters.question_filters()))
        .unwrap_or(filters.window);
    let condition = catalog::filter_condition(window, &filters.accounts, &filters.regions);
    format!(
        "SELECT COALESCE(principal, '(unknown)') AS principal,
                cloud_account_uid AS account, count(*) AS denials
         FROM crypto_events
         WHERE api_service_name = 'secretsmanager.amazonaws.com'
           AND api_response_error IN ('AccessDenied', 'AccessDeniedException')
           AND {condition}
         GROUP BY 1, 2"
    )
}

/// Keeps the rows of the [`TOP_PRINCIPALS`] principals with the largest sum
/// of `value`, the largest first, each row with its principal's `total`.
/// The ranking runs here rather than in SQL, where DataFusion would run the
/// grouped query a second time for it.
fn top_principals(rows: Vec<Row>, value: &str) -> Vec<Row> {
    let number = |row: &Row| row.get(value).and_then(Value::as_u64).unwrap_or(0);
    let mut totals: std::collections::BTreeMap<String, u64> = Default::default();
    for row in &rows {
        *totals.entry(text(row, "principal").to_owned()).or_default() += number(row);
    }
    let mut ranked: Vec<(String, u64)> = totals.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(TOP_PRINCIPALS);

    // Rows sort by their principal's rank, then by their JSON text, so the
    // order does not depend on the query's.
    let mut kept: Vec<(usize, String, Row)> = Vec::new();
    for mut row in rows {
        let principal = text(&row, "principal");
        let Some(rank) = ranked.iter().position(|(name, _)| name == principal) else {
            continue;
        };
        row.insert("total".to_owned(), json!(ranked[rank].1));
        let order = Value::Object(row.clone()).to_string();
        kept.push((rank, order, row));
    }
    kept.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    kept.into_iter().map(|(_, _, row)| row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_question_exists() {
        for name in [
            "kms-keys-without-autorotation",
            "kms-operation",
            "kms-access-denied",
            "kms-unused-cmks",
            "cert-operation-brkdown",
            "certs-issued",
            "certs-revoked",
            "cert-dns-validation-pending",
            "sm-operations-brkdwn",
            "sm-unused-secrets",
            "sm-deleted",
            "sm-access-denied",
        ] {
            assert!(question(name).is_some(), "{name}");
        }
    }

    #[test]
    fn pivot_rows_summed_per_operation() {
        let row = |operation: &str, calls: u64| {
            let mut row = Row::new();
            row.insert("operation".to_owned(), json!(operation));
            row.insert("calls".to_owned(), json!(calls));
            row
        };
        let pivot = [row("Decrypt", 2), row("Encrypt", 5), row("Decrypt", 4)];
        let sums = calls_by_operation(&pivot);
        assert_eq!(sums, [row("Decrypt", 6), row("Encrypt", 5)]);
    }

    #[test]
    fn top_principals_ranked_by_total() {
        let row = |principal: &str, operation: &str, denials: u64| {
            let mut row = Row::new();
            row.insert("principal".to_owned(), json!(principal));
            row.insert("operation".to_owned(), json!(operation));
            row.insert("denials".to_owned(), json!(denials));
            row
        };
        let mut rows = vec![row("alice", "Decrypt", 1), row("bob", "Encrypt", 3)];
        rows.push(row("alice", "Sign", 5));
        for index in 0..TOP_PRINCIPALS {
            rows.push(row(&format!("role-{index:02}"), "Decrypt", 2));
        }
        let top = top_principals(rows, "denials");
        let principals: Vec<&str> = top.iter().map(|row| text(row, "principal")).collect();
        assert_eq!(&principals[..3], ["alice", "alice", "bob"]);
        assert_eq!(top[0]["total"], 6);
        assert_eq!(top[0]["operation"], "Decrypt");
        let distinct: std::collections::BTreeSet<&str> = principals.into_iter().collect();
        assert_eq!(distinct.len(), TOP_PRINCIPALS);
        assert!(!distinct.contains("role-09"), "ties are broken by name");
    }

    #[test]
    fn window_labels() {
        let filters = Filters {
            now: 40 * MICROS_PER_DAY,
            ..Filters::default()
        };
        assert_eq!(window_label("kms-operation", &filters), "1970-01-11 to now");
        assert_eq!(
            window_label("kms-access-denied", &filters),
            "all stored time"
        );
    }
}
