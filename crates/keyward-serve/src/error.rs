//! The web app's error type, and how each error becomes an HTTP response.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A failure to serve a request or to start the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A parameter of the request is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The request names something that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] keyward_store::StoreError),
    /// A query result could not be turned into JSON.
    #[error("failed to convert query results to JSON: {0}")]
    Json(String),
    /// The listening socket or the connection failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ServeError {
    /// Builds an [`ServeError::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Store(_) | Self::Json(_) | Self::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ServeError {
    /// Sends the message of a client error. A server error is logged, and
    /// the client gets a generic message, because store paths and query
    /// text are no business of a browser.
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            "internal error; the server log has the details".to_owned()
        } else {
            self.to_string()
        };
        let body = serde_json::json!({ "error": message });
        (status, axum::Json(body)).into_response()
    }
}

/// The web app's result type.
pub type Result<T, E = ServeError> = std::result::Result<T, E>;
