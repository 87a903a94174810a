//! The OpenAPI 3.1 document of the API, built from the route table.

use serde_json::{Map, Value, json};

use crate::api::{ParameterGroup, ROUTES};
use crate::filters::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// Builds the OpenAPI document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in &ROUTES {
        let parameters: Vec<Value> = route
            .parameters
            .iter()
            .flat_map(|group| parameters(*group))
            .collect();
        let operation = json!({
            "operationId": route.operation_id,
            "summary": route.summary,
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": "The result",
                    "content": { "application/json": { "schema": {} } }
                },
                "400": { "$ref": "#/components/responses/Invalid" },
                "401": { "description": "A token is required and was not sent" },
                "404": { "$ref": "#/components/responses/NotFound" }
            }
        });
        paths.insert(route.path.to_owned(), json!({ "get": operation }));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "keyward",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Read-only access to a keyward store: the dashboards, their \
                            tables, the built-in questions of keyward query and the findings \
                            of the latest check. Every route answers GET only.",
        },
        "paths": paths,
        "components": components(),
        "security": [{}, { "bearer": [] }, { "cookie": [] }],
    })
}

fn components() -> Value {
    let error = json!({
        "type": "object",
        "properties": { "error": { "type": "string" } },
        "required": ["error"]
    });
    json!({
        "responses": {
            "Invalid": {
                "description": "A parameter is invalid",
                "content": { "application/json": { "schema": error.clone() } }
            },
            "NotFound": {
                "description": "The table, question or asset does not exist",
                "content": { "application/json": { "schema": error } }
            }
        },
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "Required when the server listens on a non-loopback address"
            },
            "cookie": {
                "type": "apiKey",
                "in": "cookie",
                "name": crate::auth::COOKIE_NAME,
                "description": "Set by opening a link with ?token=TOKEN"
            }
        }
    })
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "description": description, "schema": schema })
}

fn text() -> Value {
    json!({ "type": "string" })
}

fn parameters(group: ParameterGroup) -> Vec<Value> {
    match group {
        ParameterGroup::Filters => vec![
            query(
                "accounts",
                "Account ids to keep, comma-separated; all by default",
                text(),
            ),
            query(
                "regions",
                "Regions to keep, comma-separated; all by default",
                text(),
            ),
            query(
                "from",
                "Start of the event window, inclusive: a date (UTC) or RFC 3339 time",
                text(),
            ),
            query(
                "to",
                "End of the event window, exclusive: a date (UTC) or RFC 3339 time",
                text(),
            ),
            query(
                "since",
                "Window of this length before `to` or now, as in 30d, 12h or 2w, or `all`; \
                 excludes `from`. Without a window, a question covers its default period",
                text(),
            ),
        ],
        ParameterGroup::Paging => vec![
            query(
                "page",
                "Page number, from 1",
                json!({ "type": "integer", "minimum": 1, "default": 1 }),
            ),
            query(
                "page_size",
                "Rows per page",
                json!({ "type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
                        "default": DEFAULT_PAGE_SIZE }),
            ),
            query(
                "sort",
                "Column to sort by: one of the result's columns",
                text(),
            ),
            query(
                "order",
                "Sort direction",
                json!({ "type": "string", "enum": ["asc", "desc"], "default": "asc" }),
            ),
        ],
        ParameterGroup::Findings => vec![
            query("rule", "Rule ids, comma-separated", text()),
            query("severity", "Severities, comma-separated", text()),
            query(
                "verdict",
                "PASS, FAIL, UNKNOWN or all, comma-separated",
                json!({ "type": "string", "default": "FAIL" }),
            ),
            query("resource_type", "KmsKey, Certificate or Secret", text()),
            query("resource", "Text that the resource ARN contains", text()),
            query(
                "suppressed",
                "`include` keeps findings under an exception",
                text(),
            ),
        ],
        ParameterGroup::Arn => vec![json!({
            "name": "arn", "in": "query", "required": true,
            "description": "ARN of the key, certificate, authority or secret",
            "schema": text()
        })],
        ParameterGroup::Name => vec![json!({
            "name": "name", "in": "path", "required": true,
            "description": "Name from the matching list route",
            "schema": text()
        })],
    }
}
