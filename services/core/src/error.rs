//! One error table: each [`ErrorCode`] maps to a gRPC code and an HTTP status.

/// gRPC metadata key carrying [`Error::field`] next to an `INVALID_ARGUMENT`
/// status, so the gateway can name the field in its JSON error body.
pub const FIELD_METADATA_KEY: &str = "loglens-field";

/// gRPC metadata key with the number of seconds to wait before retrying a
/// `RESOURCE_EXHAUSTED` call; the gateway turns it into `Retry-After`.
pub const RETRY_AFTER_METADATA_KEY: &str = "retry-after";

/// Coarse error classes shared by every API surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The caller sent something invalid; the message says what is accepted.
    InvalidArgument,
    /// The thing asked for does not exist.
    NotFound,
    /// Too much load; the caller should retry later.
    ResourceExhausted,
    /// A dependency (store, broker) is down.
    Unavailable,
    /// A bug or an unexpected failure on our side.
    Internal,
    /// No valid credential was presented (401 / UNAUTHENTICATED).
    Unauthenticated,
    /// The credential is valid but lacks the needed scope (403 /
    /// PERMISSION_DENIED).
    PermissionDenied,
}

impl ErrorCode {
    /// The gRPC status code number (as in `google.rpc.Code`).
    pub fn grpc_code(self) -> i32 {
        match self {
            ErrorCode::InvalidArgument => 3,
            ErrorCode::NotFound => 5,
            ErrorCode::ResourceExhausted => 8,
            ErrorCode::Internal => 13,
            ErrorCode::Unavailable => 14,
            ErrorCode::Unauthenticated => 16,
            ErrorCode::PermissionDenied => 7,
        }
    }

    /// The HTTP status for the same condition.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidArgument => 400,
            ErrorCode::NotFound => 404,
            ErrorCode::ResourceExhausted => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::PermissionDenied => 403,
        }
    }

    /// The code for a gRPC status number; unknown numbers are `Internal`.
    pub fn from_grpc_code(code: i32) -> ErrorCode {
        match code {
            3 | 9 | 11 => ErrorCode::InvalidArgument,
            5 => ErrorCode::NotFound,
            8 => ErrorCode::ResourceExhausted,
            4 | 14 => ErrorCode::Unavailable,
            16 => ErrorCode::Unauthenticated,
            7 => ErrorCode::PermissionDenied,
            _ => ErrorCode::Internal,
        }
    }

    /// Stable snake_case name used in JSON error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::NotFound => "not_found",
            ErrorCode::ResourceExhausted => "resource_exhausted",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::PermissionDenied => "permission_denied",
        }
    }
}

/// A domain error. Client errors name the field and what is accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// An argument was invalid.
    #[error("{message}")]
    InvalidArgument {
        /// The parameter or field at fault.
        field: String,
        /// What was wrong and what is accepted.
        message: String,
    },
    /// Something the caller asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Load shedding: retry later.
    #[error("{0}")]
    ResourceExhausted(String),
    /// A rate limit (e.g. a tenant's ingest rate) is spent: retry after
    /// `retry_after_secs`.
    #[error("{message}")]
    RateLimited {
        /// What limit, and for whom.
        message: String,
        /// Seconds until the limit admits again (at least 1).
        retry_after_secs: u64,
    },
    /// A dependency is down.
    #[error("{0}")]
    Unavailable(String),
    /// Unexpected internal failure.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// An [`Error::InvalidArgument`] for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::InvalidArgument { field: field.into(), message: message.into() }
    }

    /// The error's class.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::ResourceExhausted(_) | Error::RateLimited { .. } => ErrorCode::ResourceExhausted,
            Error::Unavailable(_) => ErrorCode::Unavailable,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The field at fault, for invalid arguments.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidArgument { field, .. } => Some(field),
            Error::NotFound(_)
            | Error::ResourceExhausted(_)
            | Error::RateLimited { .. }
            | Error::Unavailable(_)
            | Error::Internal(_) => None,
        }
    }

    /// Seconds to wait before retrying, for errors that say so: 1 for load
    /// shedding, the limit's own figure for [`Error::RateLimited`].
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Error::ResourceExhausted(_) => Some(1),
            Error::RateLimited { retry_after_secs, .. } => Some((*retry_after_secs).max(1)),
            _ => None,
        }
    }
}

/// Result with the domain [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_grpc_numbers() {
        for c in [
            ErrorCode::InvalidArgument,
            ErrorCode::NotFound,
            ErrorCode::ResourceExhausted,
            ErrorCode::Unavailable,
            ErrorCode::Internal,
            ErrorCode::Unauthenticated,
            ErrorCode::PermissionDenied,
        ] {
            assert_eq!(ErrorCode::from_grpc_code(c.grpc_code()), c);
        }
        assert_eq!(ErrorCode::InvalidArgument.http_status(), 400);
        assert_eq!(ErrorCode::ResourceExhausted.http_status(), 429);
    }
}
