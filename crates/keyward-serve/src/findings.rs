//! The findings table: the latest check's results, filtered, sorted and
//! paged on the server, with each rule's remediation.

use keyward_store::query::catalog::quote;
use serde_json::{Value, json};

use crate::data::{Data, Page};
use crate::error::{Result, ServeError};
use crate::filters::{Filters, Paging, Params};

/// Filters of the findings table beyond accounts and Regions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FindingFilters {
    /// Rule ids to keep; empty keeps all.
    pub rules: Vec<String>,
    /// Severities to keep; empty keeps all.
    pub severities: Vec<String>,
    /// Verdicts to keep; empty keeps all.
    pub verdicts: Vec<String>,
    /// Resource types to keep; empty keeps all.
    pub resource_types: Vec<String>,
    /// Text that the resource ARN contains.
    pub resource: Option<String>,
    /// Whether findings under an exception are kept.
    pub include_suppressed: bool,
}

impl FindingFilters {
    /// Keeps failures that no exception suppresses.
    pub fn default_failures() -> Self {
        Self {
            verdicts: vec!["FAIL".to_owned()],
            ..Self::default()
        }
    }

    /// Reads `rule`, `severity`, `verdict` (default `FAIL`; `all` keeps
    /// every verdict), `resource_type`, `resource` and `suppressed`.
    pub fn parse(params: &Params) -> Result<Self> {
        let rules = params.list("rule");
        if let Some(unknown) = rules.iter().find(|id| keyward_rules::rule(id).is_none()) {
            return Err(ServeError::invalid(format!(
                "unknown rule {unknown:?}; /api/rules lists them"
            )));
        }

        let severities = upper_list(params, "severity");
        let known = crate::dashboards::SEVERITIES;
        if let Some(unknown) = severities.iter().find(|s| !known.contains(&s.as_str())) {
            return Err(ServeError::invalid(format!(
                "invalid severity {unknown:?}: use {}",
                known.join(", ")
            )));
        }

        let mut verdicts = upper_list(params, "verdict");
        if verdicts.is_empty() {
            verdicts.push("FAIL".to_owned());
        }
        if verdicts.iter().any(|verdict| verdict == "ALL") {
            verdicts.clear();
        }
        if let Some(unknown) = verdicts
            .iter()
            .find(|v| !["PASS", "FAIL", "UNKNOWN"].contains(&v.as_str()))
        {
            return Err(ServeError::invalid(format!(
                "invalid verdict {unknown:?}: use PASS, FAIL, UNKNOWN or all"
            )));
        }

        let resource_types = params.list("resource_type");
        let types = ["KmsKey", "Certificate", "Secret"];
        if let Some(unknown) = resource_types.iter().find(|t| !types.contains(&t.as_str())) {
            return Err(ServeError::invalid(format!(
                "invalid resource_type {unknown:?}: use KmsKey, Certificate or Secret"
            )));
        }

        Ok(Self {
            rules,
            severities,
            verdicts,
            resource_types,
            resource: params.get("resource").map(str::to_owned),
            include_suppressed: params.get("suppressed") == Some("include"),
        })
    }

    fn condition(&self, filters: &Filters) -> String {
        let mut condition = filters.place_condition("account_id", "region");
        for (column, values) in [
            ("rule_id", &self.rules),
            ("severity", &self.severities),
            ("verdict", &self.verdicts),
            ("resource_type", &self.resource_types),
        ] {
            if !values.is_empty() {
                let list: Vec<String> = values.iter().map(|value| quote(value)).collect();
                condition.push_str(&format!(" AND {column} IN ({})", list.join(", ")));
            }
        }
        if let Some(text) = &self.resource {
            condition.push_str(&format!(
                " AND strpos(lower(resource_arn), lower({})) > 0",
                quote(text)
            ));
        }
        if !self.include_suppressed {
            condition.push_str(" AND suppressed_by IS NULL");
        }
        condition
    }
}

fn upper_list(params: &Params, name: &str) -> Vec<String> {
    params
        .list(name)
        .into_iter()
        .map(|value| value.to_ascii_uppercase())
        .collect()
}

/// Builds the query of the findings table.
pub fn findings_sql(filters: &Filters, finding_filters: &FindingFilters) -> String {
    format!(
        "SELECT severity, rule_id, title, verdict, resource_type, resource_arn,
                account_id, region, first_seen, checked_at, cause, evidence,
                monthly_cost_usd, suppressed_by, workflow,
                CASE severity WHEN 'CRITICAL' THEN 5 WHEN 'HIGH' THEN 4 WHEN 'MEDIUM' THEN 3
                              WHEN 'LOW' THEN 2 ELSE 1 END AS severity_rank
         FROM findings WHERE {}",
        finding_filters.condition(filters)
    )
}

/// Returns one page of findings. Sorting by `severity` sorts by rank,
/// critical above high, and the default is the most severe first.
pub async fn findings_page(
    data: &Data,
    filters: &Filters,
    finding_filters: &FindingFilters,
    mut paging: Paging,
) -> Result<Page> {
    let requested = paging.sort.clone();
    match paging.sort.as_deref() {
        None => {
            paging.sort = Some("severity_rank".to_owned());
            paging.order = crate::filters::Order::Descending;
        }
        Some("severity") => paging.sort = Some("severity_rank".to_owned()),
        Some(_) => {}
    }
    let mut page = data
        .page(&findings_sql(filters, finding_filters), &paging)
        .await?;
    page.sort = requested.or(Some("severity".to_owned()));
    for row in &mut page.rows {
        let rule = row
            .get("rule_id")
            .and_then(Value::as_str)
            .and_then(keyward_rules::rule);
        if let Some(rule) = rule {
            row.insert("remediation".to_owned(), json!(rule.remediation));
        }
    }
    page.columns.push("remediation".to_owned());
    Ok(page)
}

/// Lists the rules of the catalog with their risk and remediation.
pub fn rules_json() -> Value {
    let rules: Vec<Value> = keyward_rules::catalog()
        .into_iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "title": rule.title,
                "severity": rule.severity.as_str(),
                "resource_type": format!("{:?}", rule.resource_type),
                "risk": rule.risk,
                "remediation": rule.remediation,
                "references": rule.references,
            })
        })
        .collect();
    json!(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<FindingFilters> {
        FindingFilters::parse(&Params::parse(Some(query)))
    }

    #[test]
    fn verdict_defaults_to_fail() {
        assert_eq!(parse("").unwrap().verdicts, ["FAIL"]);
        assert!(parse("verdict=all").unwrap().verdicts.is_empty());
        assert_eq!(parse("verdict=unknown").unwrap().verdicts, ["UNKNOWN"]);
    }

    #[test]
    fn unknown_values_rejected() {
        for query in [
            "rule=nope",
            "severity=urgent",
            "verdict=maybe",
            "resource_type=Key",
        ] {
            assert!(parse(query).is_err(), "{query}");
        }
    }

    #[test]
    fn resource_text_quoted() {
        let filters = parse("resource=o'brien").unwrap();
        let sql = findings_sql(&Filters::default(), &filters);
        assert!(sql.contains("lower('o''brien')"), "{sql}");
    }
}
