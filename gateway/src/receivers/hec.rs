//! Splunk HTTP Event Collector: `POST /services/collector/event` (also
//! `/services/collector` and `/services/collector/event/1.0`) with
//! concatenated JSON events, `POST /services/collector/raw` (and
//! `/raw/1.0`) with one event per line, `GET /services/collector/health`
//! (and `/health/1.0`, Vector's health check).
//!
//! Replies in HEC's shape: `{"text":"Success","code":0}`; `{"text":"No
//! data","code":5}` (400) for a body without events; `{"text":"Invalid data
//! format","code":6,"invalid-event-number":N}` (400) naming the first bad
//! event, the valid events of the body being stored all the same; `{"text":
//! "Server is busy","code":9}` (503, or 429 under load shedding) and
//! `{"text":"Internal server error","code":8}` when ingest failed, which
//! HEC clients retry. Any `Authorization: Splunk <token>` (or none) is
//! accepted for now.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use loglens_receivers::Decoded;
use loglens_receivers::hec::{self, Defaults};
use serde_json::json;

use super::{send, traceparent};
use crate::error::ApiError;
use crate::handlers::{AppState, read_body};

/// How a body becomes records: [`hec::decode_events`] or [`hec::decode_raw`].
type Decoder = fn(&[u8], &Defaults) -> Decoded;

/// The routes of this protocol.
pub(crate) fn routes() -> axum::Router<AppState> {
    let (event, raw) = (intake(hec::decode_events), intake(hec::decode_raw));
    axum::Router::new()
        .route("/services/collector", event.clone())
        .route("/services/collector/event", event.clone())
        .route("/services/collector/event/1.0", event)
        .route("/services/collector/raw", raw.clone())
        .route("/services/collector/raw/1.0", raw)
        .route("/services/collector/health", get(health).post(health))
        .route("/services/collector/health/1.0", get(health).post(health))
}

/// A `POST` route whose body `decode` reads.
fn intake(decode: Decoder) -> MethodRouter<AppState> {
    post(
        move |State(s): State<AppState>,
              RawQuery(query): RawQuery,
              headers: HeaderMap,
              body: Body| async move { handle(&s, query, &headers, body, decode).await },
    )
}

async fn health() -> Response {
    reply(StatusCode::OK, json!({"text": "HEC is healthy", "code": 17}))
}

async fn handle(
    s: &AppState,
    query: Option<String>,
    headers: &HeaderMap,
    body: Body,
    decode: Decoder,
) -> Response {
    let query = query.unwrap_or_default();
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let defaults = Defaults::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let bytes = match read_body(body, s, hec::PROTOCOL).await {
        Ok(b) => b,
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => return busy(e),
        Err(e) => return e.into_response(),
    };
    let decoded = decode(&bytes, &defaults);
    if decoded.records.is_empty() && decoded.errors.is_empty() {
        return reply(StatusCode::BAD_REQUEST, json!({"text": "No data", "code": 5}));
    }
    match send(s, hec::PROTOCOL, decoded, traceparent(headers)).await {
        Ok(outcome) => match outcome.bad.first() {
            None => reply(StatusCode::OK, json!({"text": "Success", "code": 0})),
            Some((first, _)) => {
                tracing::debug!(reasons = %outcome.describe("event", 5), "hec events rejected");
                reply(
                    StatusCode::BAD_REQUEST,
                    json!({"text": "Invalid data format", "code": 6, "invalid-event-number": first}),
                )
            }
        },
        Err(e)
            if e.status == StatusCode::SERVICE_UNAVAILABLE
                || e.status == StatusCode::TOO_MANY_REQUESTS =>
        {
            busy(e)
        }
        Err(e) => reply(e.status, json!({"text": "Internal server error", "code": 8})),
    }
}

/// HEC's "server is busy" (code 9), with the error's `Retry-After`.
fn busy(e: ApiError) -> Response {
    let mut res = reply(e.status, json!({"text": "Server is busy", "code": 9}));
    if let Some(secs) = e.retry_after {
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}
