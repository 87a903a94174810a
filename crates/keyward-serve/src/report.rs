//! The HTML report: one self-contained file with the overview and every
//! failing finding of the latest check, for readers without a server.
//!
//! The file inlines the style sheet, Apache ECharts, the app's script and
//! the overview data, and loads nothing: its Content-Security-Policy allows
//! only those inline scripts and styles, by hash, and no network at all.
//! The findings table is rendered here with every value escaped.

use base64::Engine as _;
use keyward_store::Store;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::data::{Data, Row};
use crate::error::Result;
use crate::filters::Filters;
use crate::findings::{FindingFilters, findings_sql};
use crate::pages::escape;
use crate::static_files;

/// Columns of the findings table of the report, with their headings.
const FINDING_COLUMNS: [(&str, &str); 9] = [
    ("severity", "Severity"),
    ("rule_id", "Rule"),
    ("resource_arn", "Resource"),
    ("account_id", "Account"),
    ("region", "Region"),
    ("first_seen", "First seen"),
    ("cause", "Cause"),
    ("evidence", "Evidence"),
    ("remediation", "Remediation"),
];

/// Accounts and Regions of a report.
#[derive(Clone, Debug, Default)]
pub struct ReportScope {
    /// Accounts to keep; empty keeps all.
    pub accounts: Vec<String>,
    /// Regions to keep; empty keeps all.
    pub regions: Vec<String>,
}

/// Renders the report of a store: the overview of the latest scan and
/// check, and every failing finding that no exception suppresses.
pub async fn render(store: &Store, scope: &ReportScope, now_micros: i64) -> Result<String> {
    let data = Data::open(store).await?;
    let filters = Filters {
        accounts: scope.accounts.clone(),
        regions: scope.regions.clone(),
        now: now_micros,
        ..Filters::default()
    };
    let overview = crate::dashboards::overview(&data, &filters).await?;
    let failing = FindingFilters::default_failures();
    let mut findings = data
        .rows(&format!(
            "{} ORDER BY severity_rank DESC, rule_id, resource_arn",
            findings_sql(&filters, &failing)
        ))
        .await?;
    add_remediation(&mut findings);
    Ok(document(&overview, &findings, now_micros))
}

fn add_remediation(findings: &mut [Row]) {
    for row in findings {
        let remediation = row
            .get("rule_id")
            .and_then(Value::as_str)
            .and_then(keyward_rules::rule)
            .map(|rule| rule.remediation);
        if let Some(remediation) = remediation {
            row.insert("remediation".to_owned(), Value::from(remediation));
        }
    }
}

fn document(overview: &Value, findings: &[Row], now_micros: i64) -> String {
    let style = static_files::text("style.css");
    let library = static_files::text("vendor/echarts/echarts.min.js");
    let script = static_files::text("app.js");
    let data = json_for_script(overview);
    let policy = format!(
        "default-src 'none'; script-src {} {}; style-src {}; img-src data:",
        hash_source(&library),
        hash_source(&script),
        hash_source(&style)
    );
    let generated = chrono::DateTime::from_timestamp_micros(now_micros)
        .map(|time| time.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();

    let mut html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{policy}\">\n\
         <title>keyward report {generated}</title>\n<style>{style}</style>\n</head>\n\
         <body data-page=\"report\">\n<header><span class=\"brand\">keyward</span>\
         <span class=\"generated\">Report generated {generated}</span></header>\n<main>\n\
         <p id=\"message\" class=\"message\" hidden></p>\n"
    );
    for (id, title) in [
        ("status", "Store"),
        ("savings", "Estimated monthly savings"),
    ] {
        html.push_str(&format!(
            "<section class=\"panel figure-panel\" id=\"{id}\"><h2>{title}</h2>\
             <div class=\"figure\"></div></section>\n"
        ));
    }

    for (id, title) in [
        ("assets", "Assets by service and state"),
        ("severities", "Open findings by severity"),
        ("trend", "Failing findings and unused assets per check"),
    ] {
        html.push_str(&format!(
            "<section class=\"panel chart-panel\" id=\"{id}\"><h2>{title}</h2>\
             <p class=\"window\"></p><div class=\"chart\" role=\"img\" \
             aria-label=\"{title}\"></div></section>\n"
        ));
    }

    html.push_str(&findings_table(findings));
    html.push_str(&format!(
        "</main>\n<script type=\"application/json\" id=\"report-data\">{data}</script>\n\
         <script>{library}</script>\n<script>{script}</script>\n</body>\n</html>\n"
    ));
    html
}

/// Renders the failing findings as an HTML table, every value escaped.
fn findings_table(findings: &[Row]) -> String {
    let mut html = format!(
        "<section class=\"panel table-panel wide\" id=\"failing-findings\">\
         <h2>Failing findings ({})</h2>\n<div class=\"table-scroll\"><table>\n<thead><tr>",
        findings.len()
    );
    for (_, heading) in FINDING_COLUMNS {
        html.push_str(&format!("<th>{heading}</th>"));
    }
    html.push_str("</tr></thead>\n<tbody>\n");
    for row in findings {
        html.push_str("<tr>");
        for (column, _) in FINDING_COLUMNS {
            let text = match row.get(column) {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            let class = if column == "evidence" {
                " class=\"evidence\""
            } else {
                ""
            };
            html.push_str(&format!("<td{class}>{}</td>", escape(&text)));
        }
        html.push_str("</tr>\n");
    }
    if findings.is_empty() {
        html.push_str("<tr><td colspan=\"9\">No failing finding.</td></tr>\n");
    }
    html.push_str("</tbody></table></div></section>\n");
    html
}

/// Serializes JSON for a `<script type="application/json">` element:
/// `<`, `>` and `&` become Unicode escapes, so no value can close the
/// element or open a comment.
fn json_for_script(value: &Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Builds the CSP source that allows one inline script or style.
fn hash_source(content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_its_element() {
        let value = serde_json::json!({ "name": "</script><script>alert(1)</script><!--" });
        let text = json_for_script(&value);
        assert!(!text.contains('<'), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn findings_escaped() {
        let mut row = Row::new();
        row.insert(
            "resource_arn".into(),
            Value::from("<img src=x onerror=alert(1)>"),
        );
        let html = findings_table(&[row]);
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
        assert!(!html.contains("<img"), "{html}");
    }

    #[test]
    fn document_allows_only_its_inline_code() {
        let overview = serde_json::json!({});
        let html = document(&overview, &[], 0);
        assert!(html.contains("script-src 'sha256-"), "no hash source");
        assert!(!html.contains("src=\"http"), "loads something");
        assert!(!html.contains("<link"), "links a file");
    }
}
