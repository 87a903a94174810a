//! Failed API calls, sorted into the coverage statuses.

use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use keyward_store::inventory::CoverageStatus;

/// Error codes of a refused call.
const ACCESS_DENIED_CODES: [&str; 6] = [
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "AWSOrganizationsNotInUseException",
    "UnauthorizedException",
];

/// Error codes of a call made too often. The SDK retries these; they reach
/// keyward only when every retry was throttled.
const THROTTLING_CODES: [&str; 6] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
];

/// Error codes that AWS returns for a request signed for an opt-in Region
/// that the account has not enabled: the Region does not know the
/// account's credentials.
const REGION_DISABLED_CODES: [&str; 3] = [
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "OptInRequired",
];

/// Error codes that older endpoints and emulators return for an operation
/// they do not implement.
const UNKNOWN_OPERATION_CODES: [&str; 5] = [
    "UnknownOperationException",
    "UnknownOperation",
    "InvalidAction",
    "NotImplemented",
    "UnsupportedOperation",
];

/// A failed API call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallError {
    /// Operation, such as `ListKeys`.
    pub operation: &'static str,
    /// Error code that AWS returned, if it returned one.
    pub code: Option<String>,
    /// Error message, or the transport error.
    pub message: String,
    /// HTTP status of the response, if there was one.
    pub http_status: Option<u16>,
}

impl CallError {
    /// Reads the code and message of an SDK error.
    pub fn from_sdk<E, R>(operation: &'static str, error: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug + HttpStatus,
    {
        let http_status = error.raw_response().map(HttpStatus::http_status);
        let code = error.code().map(str::to_owned);
        let message = match (&error, error.message()) {
            (_, Some(message)) => message.to_owned(),
            (SdkError::ServiceError(_), None) => match http_status {
                Some(status) => format!("HTTP {status} with no error message"),
                None => "the service returned no message".to_owned(),
            },
            _ => keyward_store::error_chain_text(&error),
        };
        Self {
            operation,
            code,
            message,
            http_status,
        }
    }

    /// Coverage status that this failure gives a service.
    pub fn status(&self) -> CoverageStatus {
        let code = self.code.as_deref().unwrap_or_default();
        if ACCESS_DENIED_CODES.contains(&code) || self.http_status == Some(403) && code.is_empty() {
            CoverageStatus::AccessDenied
        } else if THROTTLING_CODES.contains(&code) || self.http_status == Some(429) {
            CoverageStatus::Throttled
        } else if REGION_DISABLED_CODES.contains(&code) {
            CoverageStatus::RegionDisabled
        } else {
            CoverageStatus::Failed
        }
    }

    /// Reports whether the endpoint does not implement the operation.
    pub fn is_unknown_operation(&self) -> bool {
        let code = self.code.as_deref().unwrap_or_default();
        UNKNOWN_OPERATION_CODES.contains(&code)
            || self.http_status == Some(404) && self.code.is_none()
            || self.message.contains("not yet implemented")
    }

    /// Reports whether the failure is not about one asset, so that the
    /// service as a whole was not read in full: no response (connection
    /// refused, timeout), a server error, or throttling on every retry.
    /// `GetKeyLastUsage` is left out, because endpoints that lack it
    /// return a server error.
    pub fn breaks_service(&self) -> bool {
        if self.operation == "GetKeyLastUsage" {
            return false;
        }
        self.http_status.is_none()
            || self.http_status.is_some_and(|status| status >= 500)
            || self.status() == CoverageStatus::Throttled
    }

    /// Reports whether the endpoint failed with a server error and no error
    /// code, as emulators do for operations they lack.
    pub fn is_server_error_without_code(&self) -> bool {
        self.code.is_none() && self.http_status.is_some_and(|status| status >= 500)
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{}: {code}: {}", self.operation, self.message),
            None => write!(f, "{}: {}", self.operation, self.message),
        }
    }
}

impl std::error::Error for CallError {}

/// The HTTP status of a raw response.
pub trait HttpStatus {
    /// Returns the status code.
    fn http_status(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn http_status(&self) -> u16 {
        self.status().as_u16()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: Option<&str>, http_status: Option<u16>) -> CallError {
        CallError {
            operation: "ListKeys",
            code: code.map(str::to_owned),
            message: "m".into(),
            http_status,
        }
    }

    #[test]
    fn statuses_follow_error_codes() {
        let cases = [
            (
                Some("AccessDeniedException"),
                Some(400),
                CoverageStatus::AccessDenied,
            ),
            (
                Some("AccessDenied"),
                Some(403),
                CoverageStatus::AccessDenied,
            ),
            (None, Some(403), CoverageStatus::AccessDenied),
            (
                Some("ThrottlingException"),
                Some(400),
                CoverageStatus::Throttled,
            ),
            (None, Some(429), CoverageStatus::Throttled),
            (
                Some("UnrecognizedClientException"),
                Some(400),
                CoverageStatus::RegionDisabled,
            ),
            (
                Some("KMSInternalException"),
                Some(500),
                CoverageStatus::Failed,
            ),
            (None, None, CoverageStatus::Failed),
        ];
        for (code, http_status, expected) in cases {
            assert_eq!(error(code, http_status).status(), expected, "{code:?}");
        }
    }

    #[test]
    fn display_names_operation_and_code() {
        assert_eq!(
            error(Some("AccessDeniedException"), None).to_string(),
            "ListKeys: AccessDeniedException: m"
        );
        assert_eq!(error(None, None).to_string(), "ListKeys: m");
    }

    #[test]
    fn unknown_operation_recognised() {
        assert!(error(Some("UnknownOperationException"), Some(400)).is_unknown_operation());
        assert!(error(None, Some(404)).is_unknown_operation());
        assert!(!error(Some("AccessDeniedException"), Some(400)).is_unknown_operation());
    }
}
