//! Tests of the router: headers, methods, the token, and the OpenAPI
//! document against the routes.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

use super::*;

async fn app() -> (tempfile::TempDir, App) {
    let directory = tempfile::tempdir().unwrap();
    let store = Store::create_or_open(directory.path()).unwrap();
    let app = App::open(&store).await.unwrap();
    (directory, app)
}

async fn send(router: &Router, request: Request<Body>) -> Response {
    router.clone().oneshot(request).await.unwrap()
}

fn get_request(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

async fn body_text(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Replaces path parameters with a name that exists.
fn example_uri(path: &str) -> String {
    match path {
        "/api/tables/{name}" => "/api/tables/kms-keys".to_owned(),
        "/api/questions/{name}" => "/api/questions/kms-access-denied".to_owned(),
        other => other.to_owned(),
    }
}

#[tokio::test]
async fn openapi_lists_every_route_and_each_answers() {
    let (_directory, app) = app().await;
    let router = router(app, None);
    let response = send(&router, get_request("/api/openapi.json")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let document: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    assert_eq!(paths.len(), api::ROUTES.len());
    for route in &api::ROUTES {
        assert!(
            paths.contains_key(route.path),
            "{} undocumented",
            route.path
        );
        let mut uri = example_uri(route.path);
        if route.path == "/api/asset" {
            // An empty store has no asset: the route returns 404 with JSON.
            uri.push_str("?arn=arn:aws:kms:us-east-1:111122223333:key/none");
            let response = send(&router, get_request(&uri)).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{uri}");
            continue;
        }
        let response = send(&router, get_request(&uri)).await;
        let status = response.status();
        assert_eq!(
            status,
            StatusCode::OK,
            "{uri}: {}",
            body_text(response).await
        );
    }
}

#[tokio::test]
async fn responses_carry_security_headers() {
    let (_directory, app) = app().await;
    let router = router(app, None);
    for uri in ["/", "/kms", "/api/overview", "/static/app.js", "/missing"] {
        let response = send(&router, get_request(uri)).await;
        let headers = response.headers();
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.contains("script-src 'self'"), "{uri}: {policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{uri}: {policy}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{uri}");
    }
}

#[tokio::test]
async fn only_get_and_head_allowed() {
    let (_directory, app) = app().await;
    let router = router(app, None);
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let request = Request::builder()
            .method(method)
            .uri("/api/overview")
            .body(Body::empty())
            .unwrap();
        let response = send(&router, request).await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
    }
    let head = Request::head("/").body(Body::empty()).unwrap();
    assert_eq!(send(&router, head).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn invalid_parameters_are_client_errors() {
    let (_directory, app) = app().await;
    let router = router(app, None);
    for uri in [
        "/api/overview?accounts=abc",
        "/api/tables/kms-keys?sort=nope",
        "/api/tables/kms-keys?sort=arn%22%3B%20DROP",
        "/api/findings?severity=urgent",
        "/api/asset",
    ] {
        let response = send(&router, get_request(uri)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        let body: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
        assert!(body["error"].is_string(), "{uri}");
    }
    let unknown = send(&router, get_request("/api/tables/nope")).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn token_required_by_header_cookie_or_link() {
    let (_directory, app) = app().await;
    let token = Token::new("0123456789abcdef0123").unwrap();
    let router = router(app, Some(token));

    let anonymous = send(&router, get_request("/api/overview")).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let wrong = Request::get("/api/overview")
        .header(header::AUTHORIZATION, "Bearer 0123456789abcdef0124")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send(&router, wrong).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let bearer = Request::get("/api/overview")
        .header(header::AUTHORIZATION, "Bearer 0123456789abcdef0123")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&router, bearer).await.status(), StatusCode::OK);

    let link = send(
        &router,
        get_request("/kms?accounts=111122223333&token=0123456789abcdef0123"),
    )
    .await;
    assert_eq!(link.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        link.headers()[header::LOCATION],
        "/kms?accounts=111122223333"
    );
    let cookie = link.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();

    let with_cookie = Request::get("/kms")
        .header(header::COOKIE, pair)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&router, with_cookie).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn token_link_redirects_only_to_this_server() {
    let (_directory, app) = app().await;
    let token = Token::new("0123456789abcdef0123").unwrap();
    let router = router(app, Some(token));
    let link = send(
        &router,
        get_request("//attacker.example/?token=0123456789abcdef0123"),
    )
    .await;
    assert_eq!(link.status(), StatusCode::SEE_OTHER);
    assert_eq!(link.headers()[header::LOCATION], "/");
}
