//! keyward's web app: dashboards over a store, the JSON API behind them,
//! and a self-contained HTML report.
//!
//! The server only reads. It opens the store through a read-only session,
//! accepts GET and HEAD only, and has no route that writes. Pages are HTML
//! shells whose script (served from the binary, as is the vendored Apache
//! ECharts) fetches `/api/`. Every response carries a Content-Security-Policy
//! that allows scripts from the server alone.

#![deny(missing_docs)]

mod api;
mod asset;
mod auth;
mod dashboards;
mod data;
mod error;
mod filters;
mod findings;
mod openapi;
mod pages;
mod quantum;
pub mod report;
mod static_files;
mod tables;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use keyward_store::Store;

pub use auth::{MIN_TOKEN_LENGTH, Token};
pub use error::{Result, ServeError};

/// Content-Security-Policy of every response: scripts, styles, fonts and
/// API calls from this server only, no framing, no plugins. ECharts sets
/// element styles through the CSSOM, which `style-src` does not restrict.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// State shared by the handlers.
#[derive(Clone)]
pub struct App {
    data: data::Data,
    clock: fn() -> i64,
}

impl App {
    /// Opens the store read-only.
    pub async fn open(store: &Store) -> Result<Self> {
        Ok(Self {
            data: data::Data::open(store).await?,
            clock: now_micros,
        })
    }
}

/// Microseconds since the epoch, now.
fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Builds the router: pages, static files and the API, behind the
/// security headers and, when a token is set, the token check.
pub fn router(app: App, token: Option<Token>) -> Router {
    let mut routes = Router::new();
    for route in &api::ROUTES {
        routes = routes.route(route.path, (route.handler)());
    }
    for page in &pages::PAGES {
        routes = routes.route(page.path, get(page_handler));
    }
    let mut router = routes
        .route("/static/{*path}", get(static_files::serve))
        .fallback(not_found)
        .with_state(app);
    if let Some(token) = token {
        router = router.layer(middleware::from_fn_with_state(token, auth::require_token));
    }
    router
        .layer(middleware::from_fn(read_only))
        .layer(middleware::from_fn(security_headers))
}

async fn page_handler(request: Request) -> Response {
    match pages::page(request.uri().path()) {
        Some(page) => Html(pages::render(page)).into_response(),
        None => not_found().await.into_response(),
    }
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "not found\n")
}

/// Rejects every method but GET and HEAD, whatever the path.
async fn read_only(request: Request, next: Next) -> Response {
    if request.method() == Method::GET || request.method() == Method::HEAD {
        return next.run(request).await;
    }
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "GET, HEAD")],
        "keyward serve is read-only: only GET and HEAD are allowed\n",
    )
        .into_response()
}

async fn security_headers(request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, value);
    }
    if is_api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Serves the router on a bound listener until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let address: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?address, "serving");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("server stopped");
    Ok(())
}

#[cfg(test)]
mod tests;
