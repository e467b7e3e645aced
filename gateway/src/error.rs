//! Errors: the crate's own [`Error`] (building and serving the gateway) and
//! [`ApiError`], the JSON error reply every route uses.
//!
//! gRPC statuses and domain errors reach HTTP through the one table,
//! [`loglens_core::ErrorCode`]; only conditions that never cross gRPC (body too
//! large, unknown route, wrong method, timeout) are named here.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use loglens_core::ErrorCode;
use loglens_core::error::{FIELD_METADATA_KEY, RETRY_AFTER_METADATA_KEY};
use serde::Serialize;
use utoipa::ToSchema;

/// Why the gateway could not be built or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A [`crate::GatewayConfig`] value is unusable.
    #[error("invalid gateway config: {0}")]
    Config(String),
    /// The gRPC endpoint is not a valid URI.
    #[error("invalid grpc endpoint {endpoint:?}: {source}")]
    Endpoint {
        /// The endpoint as configured.
        endpoint: String,
        /// Why tonic refused it.
        source: tonic::transport::Error,
    },
    /// The HTTP server failed.
    #[error("http server failed: {0}")]
    Serve(#[from] std::io::Error),
    /// A TLS file of the gRPC client is unusable.
    #[error(transparent)]
    Tls(#[from] loglens_tls::Error),
}

/// Result with the gateway [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `error` of a 413 reply (no gRPC equivalent).
pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
/// `error` of a 405 reply (no gRPC equivalent).
pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
/// `error` of a 415 reply (no gRPC equivalent).
pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";

/// The JSON body of every error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"error": "invalid_argument", "message": "size must be between 1 and 1000, got 5000", "field": "size"}))]
pub struct ErrorBody {
    /// Stable error class: `invalid_argument`, `not_found`, `resource_exhausted`,
    /// `unavailable`, `internal`, `payload_too_large`, `method_not_allowed`,
    /// `unsupported_media_type`.
    pub error: String,
    /// What was wrong and, for client errors, what is accepted.
    pub message: String,
    /// The parameter or record field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error reply: status, JSON body and, for 429, `Retry-After` seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body.
    pub body: ErrorBody,
    /// Seconds for the `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with an explicit status and class.
    pub fn new(status: StatusCode, error: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody { error: error.to_owned(), message: message.into(), field: None },
            retry_after: None,
        }
    }

    /// An error of class `code`, its HTTP status taken from the table.
    pub fn from_code(
        code: ErrorCode,
        message: impl Into<String>,
        field: Option<String>,
    ) -> ApiError {
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut e = ApiError::new(status, code.as_str(), message);
        e.body.field = field.filter(|f| !f.is_empty());
        if code == ErrorCode::ResourceExhausted {
            e.retry_after = Some(1);
        }
        e
    }

    /// The reply for a gRPC status: class through the table, message as sent,
    /// `field` and `Retry-After` from the status metadata.
    pub fn from_status(status: &tonic::Status) -> ApiError {
        let code = ErrorCode::from_grpc_code(status.code() as i32);
        let meta =
            |key: &str| status.metadata().get(key).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut e = ApiError::from_code(code, status.message(), meta(FIELD_METADATA_KEY));
        if code == ErrorCode::ResourceExhausted {
            e.retry_after = Some(
                meta(RETRY_AFTER_METADATA_KEY).and_then(|v| v.trim().parse().ok()).unwrap_or(1),
            );
        }
        e
    }

    /// 413 for a body over `max_bytes`.
    pub fn payload_too_large(max_bytes: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            PAYLOAD_TOO_LARGE,
            format!("request body must be at most {max_bytes} bytes"),
        )
    }

    /// The JSON reply standing in for a bodiless or plain-text error response
    /// that a layer or the router produced with `status`.
    pub fn for_layer_status(
        status: StatusCode,
        max_body_bytes: usize,
        timeout: Duration,
    ) -> ApiError {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::payload_too_large(max_body_bytes),
            StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
                status,
                METHOD_NOT_ALLOWED,
                "method not allowed; see the Allow header and /docs",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                status,
                UNSUPPORTED_MEDIA_TYPE,
                "content-encoding must be gzip or absent",
            ),
            StatusCode::NOT_FOUND => {
                ApiError::from_code(ErrorCode::NotFound, "not found; see /docs", None)
            }
            StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::REQUEST_TIMEOUT
            | StatusCode::GATEWAY_TIMEOUT => ApiError::from_code(
                ErrorCode::Unavailable,
                format!("request did not complete within {}", humanize(timeout)),
                None,
            ),
            s if s.is_client_error() => {
                ApiError::from_code(ErrorCode::InvalidArgument, canonical(s), None).with_status(s)
            }
            s => ApiError::from_code(ErrorCode::Internal, canonical(s), None).with_status(s),
        }
    }

    fn with_status(mut self, status: StatusCode) -> ApiError {
        self.status = status;
        self
    }
}

fn canonical(s: StatusCode) -> String {
    s.canonical_reason().unwrap_or("error").to_lowercase()
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl From<loglens_core::Error> for ApiError {
    fn from(e: loglens_core::Error) -> ApiError {
        let mut api = ApiError::from_code(e.code(), e.to_string(), e.field().map(str::to_owned));
        if let Some(secs) = e.retry_after_secs() {
            api.retry_after = Some(secs);
        }
        api
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> ApiError {
        let e = ApiError::from_status(&status);
        if e.status.is_server_error() {
            tracing::warn!(code = ?status.code(), message = status.message(), "grpc call failed");
        }
        e
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, axum::Json(self.body)).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::{Code, Status};

    fn status_with(code: Code, meta: &[(&'static str, &'static str)]) -> Status {
        let mut s = Status::new(code, "boom");
        for (k, v) in meta {
            s.metadata_mut().insert(*k, v.parse().unwrap());
        }
        s
    }

    #[test]
    fn grpc_statuses_map_through_the_table() {
        let e = ApiError::from_status(&status_with(
            Code::InvalidArgument,
            &[("loglens-field", "size")],
        ));
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            e.body,
            ErrorBody {
                error: "invalid_argument".into(),
                message: "boom".into(),
                field: Some("size".into())
            }
        );
        assert_eq!(e.retry_after, None);
        let e =
            ApiError::from_status(&status_with(Code::ResourceExhausted, &[("retry-after", "7")]));
        assert_eq!((e.status.as_u16(), e.retry_after), (429, Some(7)));
        let e = ApiError::from_status(&status_with(
            Code::ResourceExhausted,
            &[("retry-after", "soon")],
        ));
        assert_eq!(e.retry_after, Some(1), "unparsable retry-after falls back to 1");
        for (code, http) in [
            (Code::Unavailable, 503),
            (Code::DeadlineExceeded, 503),
            (Code::NotFound, 404),
            (Code::FailedPrecondition, 400),
            (Code::OutOfRange, 400),
            (Code::Internal, 500),
            (Code::Unknown, 500),
        ] {
            let e = ApiError::from_status(&Status::new(code, "x"));
            assert_eq!(e.status.as_u16(), http, "{code:?}");
            assert_eq!(e.body.field, None);
        }
    }

    #[test]
    fn domain_errors_keep_their_field_and_drop_an_empty_one() {
        let e = ApiError::from(loglens_core::Error::invalid(
            "size",
            "size must be between 1 and 1000, got 0",
        ));
        assert_eq!((e.status.as_u16(), e.body.field.as_deref()), (400, Some("size")));
        let e = ApiError::from(loglens_core::Error::invalid("", "body is empty"));
        assert_eq!(e.body.field, None);
    }

    #[test]
    fn layer_statuses_get_json_bodies() {
        let t = Duration::from_secs(30);
        let e = ApiError::for_layer_status(StatusCode::PAYLOAD_TOO_LARGE, 1024, t);
        assert_eq!(e.body.message, "request body must be at most 1024 bytes");
        let e = ApiError::for_layer_status(StatusCode::SERVICE_UNAVAILABLE, 1, t);
        assert_eq!((e.status.as_u16(), e.body.error.as_str()), (503, "unavailable"));
        assert_eq!(e.body.message, "request did not complete within 30s");
        let e = ApiError::for_layer_status(StatusCode::IM_A_TEAPOT, 1, t);
        assert_eq!((e.status.as_u16(), e.body.error.as_str()), (418, "invalid_argument"));
    }
}
