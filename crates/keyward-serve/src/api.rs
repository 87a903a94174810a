//! The JSON API under `/api/`. The router is built from [`ROUTES`], which
//! also feeds the OpenAPI document, so every route is documented.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{MethodRouter, get};
use keyward_store::query::QUESTIONS;
use serde_json::{Value, json};

use crate::App;
use crate::error::{Result, ServeError};
use crate::filters::{Filters, Paging, Params};
use crate::findings::{FindingFilters, findings_page, rules_json};
use crate::tables::{TABLES, table};
use crate::{asset, dashboards};

/// Groups of query parameters that routes take, as the OpenAPI document
/// lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParameterGroup {
    /// `accounts`, `regions`, `from`, `to` and `since`.
    Filters,
    /// `page`, `page_size`, `sort` and `order`.
    Paging,
    /// `rule`, `severity`, `verdict`, `resource_type`, `resource` and
    /// `suppressed`.
    Findings,
    /// `arn`, required.
    Arn,
    /// The `{name}` path segment.
    Name,
}

/// One route of the API.
pub struct Route {
    /// Path, with `{name}` for a path parameter.
    pub path: &'static str,
    /// Operation id in the OpenAPI document.
    pub operation_id: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Query and path parameters.
    pub parameters: &'static [ParameterGroup],
    /// Builds the GET handler.
    pub handler: fn() -> MethodRouter<App>,
}

use ParameterGroup as P;

/// Every route of the API.
pub static ROUTES: [Route; 15] = [
    Route {
        path: "/api/openapi.json",
        operation_id: "openapi",
        summary: "This API's OpenAPI 3.1 document",
        parameters: &[],
        handler: || get(openapi),
    },
    Route {
        path: "/api/filters",
        operation_id: "filters",
        summary: "Accounts and Regions found in the store, for the filter choices",
        parameters: &[],
        handler: || get(filter_choices),
    },
    Route {
        path: "/api/overview",
        operation_id: "overview",
        summary: "Assets by service and state, open findings by severity, the trend over \
                  the stored checks, estimated savings and the store's status",
        parameters: &[P::Filters],
        handler: || get(overview),
    },
    Route {
        path: "/api/kms",
        operation_id: "kms",
        summary: "The KMS dashboard: keys without rotation, operations, denied principals \
                  and unused keys",
        parameters: &[P::Filters],
        handler: || get(kms),
    },
    Route {
        path: "/api/certificates",
        operation_id: "certificates",
        summary: "The ACM and Private CA dashboard: operations, expiring certificates, \
                  issues and revocations per account, pending validations",
        parameters: &[P::Filters],
        handler: || get(certificates),
    },
    Route {
        path: "/api/secrets",
        operation_id: "secrets",
        summary: "The Secrets Manager dashboard: operations, denied principals, unused and \
                  deleted secrets",
        parameters: &[P::Filters],
        handler: || get(secrets),
    },
    Route {
        path: "/api/quantum",
        operation_id: "quantum",
        summary: "The quantum readiness dashboard: keys, certificates and Private CAs of \
                  the latest scan by quantum class per service and account, and the \
                  algorithms in use",
        parameters: &[P::Filters],
        handler: || get(quantum),
    },
    Route {
        path: "/api/quantum/assets",
        operation_id: "quantumAssets",
        summary: "One page of the latest scan's quantum-vulnerable and weakened keys, \
                  certificates and Private CAs, sorted on the server",
        parameters: &[P::Filters, P::Paging],
        handler: || get(quantum_assets),
    },
    Route {
        path: "/api/tables",
        operation_id: "tables",
        summary: "The dashboard tables",
        parameters: &[],
        handler: || get(list_tables),
    },
    Route {
        path: "/api/tables/{name}",
        operation_id: "table",
        summary: "One page of a dashboard table, sorted on the server",
        parameters: &[P::Name, P::Filters, P::Paging],
        handler: || get(table_page),
    },
    Route {
        path: "/api/questions",
        operation_id: "questions",
        summary: "The built-in questions of keyward query",
        parameters: &[],
        handler: || get(list_questions),
    },
    Route {
        path: "/api/questions/{name}",
        operation_id: "question",
        summary: "One page of a built-in question's answer, the rows of keyward query NAME",
        parameters: &[P::Name, P::Filters, P::Paging],
        handler: || get(question_page),
    },
    Route {
        path: "/api/findings",
        operation_id: "findings",
        summary: "One page of the latest check's findings, with each rule's remediation",
        parameters: &[P::Filters, P::Findings, P::Paging],
        handler: || get(findings),
    },
    Route {
        path: "/api/rules",
        operation_id: "rules",
        summary: "The rules, with risk and remediation",
        parameters: &[],
        handler: || get(rules),
    },
    Route {
        path: "/api/asset",
        operation_id: "asset",
        summary: "One asset: metadata, policy summary, findings, usage per day and the \
                  principals that called it",
        parameters: &[P::Arn, P::Filters],
        handler: || get(asset),
    },
];

fn request_filters(app: &App, query: Option<&str>) -> Result<(Params, Filters)> {
    let params = Params::parse(query);
    let filters = Filters::parse(&params, (app.clock)())?;
    Ok((params, filters))
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

async fn filter_choices(State(app): State<App>) -> Result<Json<Value>> {
    let places = "SELECT account_id AS account, region FROM keys
        UNION SELECT account_id, region FROM certificates
        UNION SELECT account_id, region FROM certificate_authorities
        UNION SELECT account_id, region FROM secrets
        UNION SELECT account_id, region FROM findings";
    let ((mut accounts, mut regions), rows) =
        tokio::try_join!(app.data.event_places(), app.data.rows(places))?;
    for row in rows {
        let value = |name: &str| row.get(name).and_then(Value::as_str).map(str::to_owned);
        accounts.extend(value("account").filter(|account| !account.is_empty()));
        regions.extend(value("region").filter(|region| !region.is_empty()));
    }
    Ok(Json(json!({ "accounts": accounts, "regions": regions })))
}

async fn overview(State(app): State<App>, RawQuery(query): RawQuery) -> Result<Json<Value>> {
    let (_, filters) = request_filters(&app, query.as_deref())?;
    Ok(Json(dashboards::overview(&app.data, &filters).await?))
}

async fn kms(State(app): State<App>, RawQuery(query): RawQuery) -> Result<Json<Value>> {
    let (_, filters) = request_filters(&app, query.as_deref())?;
    Ok(Json(dashboards::kms(&app.data, &filters).await?))
}

async fn certificates(State(app): State<App>, RawQuery(query): RawQuery) -> Result<Json<Value>> {
    let (_, filters) = request_filters(&app, query.as_deref())?;
    Ok(Json(dashboards::certificates(&app.data, &filters).await?))
}

async fn secrets(State(app): State<App>, RawQuery(query): RawQuery) -> Result<Json<Value>> {
    let (_, filters) = request_filters(&app, query.as_deref())?;
    Ok(Json(dashboards::secrets(&app.data, &filters).await?))
}

async fn quantum(State(app): State<App>, RawQuery(query): RawQuery) -> Result<Json<Value>> {
    let (_, filters) = request_filters(&app, query.as_deref())?;
    Ok(Json(crate::quantum::quantum(&app.data, &filters).await?))
}

async fn quantum_assets(State(app): State<App>, RawQuery(query): RawQuery) -> Result<Json<Value>> {
    let (params, filters) = request_filters(&app, query.as_deref())?;
    let paging = Paging::parse(&params)?;
    let page = crate::quantum::at_risk_page(&app.data, &filters, &paging).await?;
    Ok(Json(json!(page)))
}

async fn list_tables() -> Json<Value> {
    let tables: Vec<Value> = TABLES
        .iter()
        .map(|table| json!({ "name": table.name, "description": table.description }))
        .collect();
    Json(json!(tables))
}

async fn table_page(
    State(app): State<App>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>> {
    let Some(table) = table(&name) else {
        return Err(ServeError::NotFound(format!(
            "unknown table {name:?}; /api/tables lists them"
        )));
    };
    let (params, filters) = request_filters(&app, query.as_deref())?;
    let paging = Paging::parse(&params)?;
    let page = app.data.page(&(table.sql)(&filters), &paging).await?;
    Ok(Json(json!(page)))
}

async fn list_questions() -> Json<Value> {
    let questions: Vec<Value> = QUESTIONS
        .iter()
        .map(|question| {
            json!({
                "name": question.name,
                "description": question.description,
                "default_days": question.default_days,
            })
        })
        .collect();
    Json(json!(questions))
}

async fn question_page(
    State(app): State<App>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>> {
    let Some(question) = keyward_store::query::catalog::question(&name) else {
        return Err(ServeError::NotFound(format!(
            "unknown question {name:?}; /api/questions lists them"
        )));
    };
    let (params, filters) = request_filters(&app, query.as_deref())?;
    let paging = Paging::parse(&params)?;
    let sql = question.sql(&filters.question_filters());
    let mut page = json!(app.data.page(&sql, &paging).await?);
    page["window"] = json!(dashboards::window_label(question.name, &filters));
    Ok(Json(page))
}

async fn findings(State(app): State<App>, RawQuery(query): RawQuery) -> Result<Json<Value>> {
    let (params, filters) = request_filters(&app, query.as_deref())?;
    let finding_filters = FindingFilters::parse(&params)?;
    let paging = Paging::parse(&params)?;
    let page = findings_page(&app.data, &filters, &finding_filters, paging).await?;
    Ok(Json(json!(page)))
}

async fn rules() -> Json<Value> {
    Json(rules_json())
}

async fn asset(State(app): State<App>, RawQuery(query): RawQuery) -> Result<Json<Value>> {
    let (params, filters) = request_filters(&app, query.as_deref())?;
    let Some(arn) = params.get("arn") else {
        return Err(ServeError::invalid("missing arn: pass ?arn=ARN"));
    };
    Ok(Json(asset::asset(&app.data, &filters, arn).await?))
}
