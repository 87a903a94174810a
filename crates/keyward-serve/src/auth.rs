//! The access token that a server bound to a non-loopback address requires.
//!
//! A request is let in with `Authorization: Bearer TOKEN`, or with the
//! `keyward_token` cookie. A link with `?token=TOKEN` sets that cookie and
//! redirects to the same URL without the token, so the token leaves the
//! address bar and the browser history. Tokens are compared through their
//! SHA-256 digests in constant time, so neither the content nor the length
//! of the expected token shows in the time a rejection takes.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::filters::Params;

/// Name of the cookie that carries the token.
pub const COOKIE_NAME: &str = "keyward_token";

/// Minimum length of a token, in characters.
pub const MIN_TOKEN_LENGTH: usize = 16;

/// The expected token, kept as its digest.
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Token(..)")
    }
}

impl Token {
    /// Checks and keeps a token: at least [`MIN_TOKEN_LENGTH`] characters,
    /// visible ASCII only, so that it fits a header and a cookie unchanged.
    pub fn new(text: &str) -> Result<Self, String> {
        if text.len() < MIN_TOKEN_LENGTH {
            return Err(format!(
                "the token is too short: use at least {MIN_TOKEN_LENGTH} characters, \
                 such as the output of `openssl rand -hex 32`"
            ));
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
        {
            return Err(
                "the token contains a space, a control character, ';', ',' or non-ASCII \
                 text; use letters, digits and punctuation"
                    .to_owned(),
            );
        }
        Ok(Self {
            digest: Sha256::digest(text.as_bytes()).into(),
        })
    }

    /// Reports whether `candidate` is the token, in constant time.
    pub fn matches(&self, candidate: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        self.digest.ct_eq(&digest).into()
    }
}

/// Lets a request in when it carries the token; redirects a `?token=` link
/// after setting the cookie; rejects everything else with 401.
pub async fn require_token(State(token): State<Token>, request: Request, next: Next) -> Response {
    if presented_tokens(request.headers())
        .iter()
        .any(|candidate| token.matches(candidate))
    {
        return next.run(request).await;
    }
    let params = Params::parse(request.uri().query());
    if let Some(candidate) = params.get("token")
        && token.matches(candidate)
    {
        return login_redirect(&request, candidate);
    }
    tracing::debug!(path = request.uri().path(), "request without a valid token");
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "a valid token is required: send Authorization: Bearer TOKEN, or open the link \
         with ?token=TOKEN that keyward serve printed\n",
    )
        .into_response()
}

/// Collects the bearer token and the token cookies of a request.
fn presented_tokens(headers: &HeaderMap) -> Vec<String> {
    let mut tokens = Vec::new();
    for value in headers.get_all(header::AUTHORIZATION) {
        if let Some(bearer) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) {
            tokens.push(bearer.trim().to_owned());
        }
    }
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=')
                && name == COOKIE_NAME
            {
                tokens.push(value.to_owned());
            }
        }
    }
    tokens
}

/// Sets the token cookie and redirects to the URL without `token`.
fn login_redirect(request: &Request, token: &str) -> Response {
    let kept: Vec<(String, String)> =
        form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
            .filter(|(name, _)| name != "token")
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
    // A path that starts with `//` would be read as another host.
    let path = request.uri().path();
    let mut location = if path.starts_with("//") { "/" } else { path }.to_owned();
    if !kept.is_empty() {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .finish();
        location.push('?');
        location.push_str(&query);
    }
    let cookie = format!("{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict");
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let (Ok(location), Ok(cookie)) = (
        HeaderValue::from_str(&location),
        HeaderValue::from_str(&cookie),
    ) {
        headers.insert(header::LOCATION, location);
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_matches_only_itself() {
        let token = Token::new("correct-horse-battery-staple").unwrap();
        assert!(token.matches("correct-horse-battery-staple"));
        assert!(!token.matches("correct-horse-battery-stapl"));
        assert!(!token.matches(""));
    }

    #[test]
    fn weak_tokens_rejected() {
        assert!(Token::new("short").is_err());
        assert!(Token::new("has a space in it, sadly").is_err());
        assert!(Token::new("semicolon;semicolon;semicolon").is_err());
    }

    #[test]
    fn debug_hides_the_token() {
        let token = Token::new("correct-horse-battery-staple").unwrap();
        assert_eq!(format!("{token:?}"), "Token(..)");
    }

    #[test]
    fn cookie_and_bearer_read() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("other=1; keyward_token=def"),
        );
        assert_eq!(presented_tokens(&headers), ["abc", "def"]);
    }
}
