//! Loki push, `POST /loki/api/v1/push`: protobuf + snappy or JSON (gzip'd
//! JSON too, through the router's `Content-Encoding` decoding).
//!
//! Replies: 204 when every entry was stored. When some entries are bad the
//! valid ones are still stored and the reply is a 400 whose message names
//! the first few bad entries (by position across the body's streams):
//! Loki clients retry only on 429 and 5xx, so a 400 never makes them resend
//! the entries already stored. A body that cannot be read as a whole (bad
//! snappy, truncated protobuf, broken JSON) is a 400 naming it; a content
//! type other than protobuf or JSON a 415. Error bodies are the gateway's
//! usual JSON error (`{"error","message"}`), which Loki clients log as text.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use loglens_core::ErrorCode;
use loglens_receivers::loki::{self, Format};
use loglens_receivers::metrics;

use super::{send, traceparent};
use crate::error::{ApiError, UNSUPPORTED_MEDIA_TYPE};
use crate::handlers::{AppState, read_body};

/// How many bad entries a 400 message names.
const NAMED_ERRORS: usize = 5;

/// The routes of this protocol.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/loki/api/v1/push", post(push))
}

async fn push(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let Some(format) = Format::from_content_type(content_type) else {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            UNSUPPORTED_MEDIA_TYPE,
            format!(
                "content-type must be {}, got {:?}",
                loki::ACCEPTED_CONTENT_TYPES,
                content_type.unwrap_or_default()
            ),
        )
        .into_response();
    };
    let bytes = match read_body(body, &s, loki::PROTOCOL).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let decoded = match loki::decode(format, &bytes) {
        Ok(d) => d,
        Err(e) => {
            metrics::rejected(loki::PROTOCOL, "undecodable", 1);
            return ApiError::from(e).into_response();
        }
    };
    match send(&s, loki::PROTOCOL, decoded, traceparent(&headers)).await {
        Ok(outcome) if outcome.bad.is_empty() => StatusCode::NO_CONTENT.into_response(),
        Ok(outcome) => ApiError::from_code(
            ErrorCode::InvalidArgument,
            outcome.describe("entry", NAMED_ERRORS),
            None,
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}
