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
use loglens_proto::ingest::LogRecord;
use loglens_receivers::loki::{self, Format};
use loglens_receivers::{Decoded, metrics};

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
    let bytes = match read_body(body, s.max_body_bytes).await {
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

/// The caller's W3C `traceparent`, if any.
pub(crate) fn traceparent(headers: &HeaderMap) -> Option<&str> {
    headers.get("traceparent").and_then(|v| v.to_str().ok())
}

/// What became of a decoded body: how many positions it had, how many
/// records were stored, and why each other position was not, by position.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Positions in the body (records read plus records not read).
    pub(crate) total: usize,
    /// Records stored.
    pub(crate) accepted: u32,
    /// Bad positions, ascending, with the reason.
    pub(crate) bad: Vec<(usize, String)>,
}

impl Outcome {
    /// `"2 of 5 entries rejected (3 stored): entry 1: ...; entry 4: ..."`,
    /// naming at most `named` of them.
    pub(crate) fn describe(&self, noun: &str, named: usize) -> String {
        let list: Vec<String> =
            self.bad.iter().take(named).map(|(p, why)| format!("{noun} {p}: {why}")).collect();
        let more = self.bad.len().saturating_sub(named);
        format!(
            "{} of {} {noun}s rejected ({} stored): {}{}",
            self.bad.len(),
            self.total,
            self.accepted,
            list.join("; "),
            if more > 0 { format!("; and {more} more") } else { String::new() }
        )
    }
}

/// Sends the readable records of `decoded` through `Ingest` and merges the
/// decoder's errors with the ingest service's rejections, mapped back to
/// body positions; counts the protocol's metrics. `Err` only when ingest
/// itself failed (then nothing is known to be stored).
pub(crate) async fn send(
    state: &AppState,
    protocol: &'static str,
    decoded: Decoded,
    traceparent: Option<&str>,
) -> Result<Outcome, ApiError> {
    let Decoded { records, errors } = decoded;
    let total = records.len() + errors.len();
    metrics::received(protocol, total);
    let mut bad: Vec<(usize, String)> = errors.into_iter().map(|(p, e)| (p, reason(&e))).collect();
    let mut positions = Vec::with_capacity(records.len());
    let mut protos = Vec::with_capacity(records.len());
    for (pos, raw) in records {
        match LogRecord::try_from(raw) {
            Ok(r) => {
                positions.push(pos);
                protos.push(r);
            }
            Err(e) => bad.push((pos, reason(&e))),
        }
    }
    metrics::rejected(protocol, "undecodable", bad.len());
    let reply = match super::ingest(state, protos, traceparent).await {
        Ok(r) => r,
        Err(e) => {
            let why = match e.status {
                StatusCode::TOO_MANY_REQUESTS => "resource_exhausted",
                StatusCode::SERVICE_UNAVAILABLE => "unavailable",
                s if s.is_client_error() => "invalid_argument",
                _ => "internal",
            };
            metrics::rejected(protocol, why, positions.len());
            return Err(e);
        }
    };
    metrics::accepted(protocol, reply.accepted as usize);
    metrics::rejected(protocol, "invalid_argument", reply.rejected.len());
    for r in reply.rejected {
        let pos = positions.get(r.index as usize).copied().unwrap_or(r.index as usize);
        bad.push((pos, r.reason));
    }
    bad.sort_by_key(|(p, _)| *p);
    Ok(Outcome { total, accepted: reply.accepted, bad })
}

fn reason(e: &loglens_core::Error) -> String {
    match e.field() {
        Some(f) if !f.is_empty() && !e.to_string().contains(f) => format!("{f}: {e}"),
        _ => e.to_string(),
    }
}
