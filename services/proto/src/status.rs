//! Domain errors as gRPC statuses, through the one [`ErrorCode`] table.

use loglens_core::error::{FIELD_METADATA_KEY, RETRY_AFTER_METADATA_KEY};
use loglens_core::{Error, ErrorCode};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

/// The gRPC code for an [`ErrorCode`].
pub fn grpc_code(code: ErrorCode) -> Code {
    Code::from_i32(code.grpc_code())
}

/// A `Status` for a domain error: the message is the error's text, the
/// offending field rides in `loglens-field` metadata, and a
/// `RESOURCE_EXHAUSTED` carries `retry-after` (seconds).
pub fn to_status(e: &Error) -> Status {
    let mut status = Status::new(grpc_code(e.code()), e.to_string());
    if let Some(field) = e.field().filter(|f| !f.is_empty())
        && let Ok(v) = MetadataValue::try_from(field)
    {
        status.metadata_mut().insert(FIELD_METADATA_KEY, v);
    }
    if let Some(secs) = e.retry_after_secs() {
        status.metadata_mut().insert(RETRY_AFTER_METADATA_KEY, MetadataValue::from(secs));
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_the_field() {
        let s = to_status(&Error::invalid("size", "size must be between 1 and 1000, got 0"));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "size must be between 1 and 1000, got 0");
        assert_eq!(s.metadata().get(FIELD_METADATA_KEY).unwrap(), "size");
        let s = to_status(&Error::ResourceExhausted("queue full".into()));
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(s.metadata().get(RETRY_AFTER_METADATA_KEY).unwrap(), "1");
        let s = to_status(&Error::RateLimited { message: "slow down".into(), retry_after_secs: 7 });
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(s.metadata().get(RETRY_AFTER_METADATA_KEY).unwrap(), "7");
        assert_eq!(to_status(&Error::Unavailable("x".into())).code(), Code::Unavailable);
    }
}
