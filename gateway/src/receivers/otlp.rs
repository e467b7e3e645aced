//! OTLP/HTTP logs, `POST /v1/logs`: an `ExportLogsServiceRequest` in
//! protobuf (`application/x-protobuf`) or OTLP/JSON (`application/json`),
//! gzip'd too through the router's `Content-Encoding` decoding.
//!
//! The reply is an `ExportLogsServiceResponse` in the request's encoding,
//! with `partial_success` counting (and naming the first few of) the
//! records that were not stored; the others are stored. A body that cannot
//! be read as a whole is a 400 naming why, another content type a 415, both
//! with the gateway's usual JSON error body. A 429 or 503 (ingest
//! overloaded or down) is retried by OTLP exporters.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use loglens_receivers::metrics;
use loglens_receivers::otlp as decoder;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use prost::Message as _;

use super::{send, traceparent};
use crate::error::{ApiError, UNSUPPORTED_MEDIA_TYPE};
use crate::handlers::{AppState, read_body};

/// The `protocol` label of this door in the receiver metrics.
const PROTOCOL: &str = "otlp_http";
/// Content types accepted, for the 415 message.
const ACCEPTED: &str = "application/x-protobuf or application/json";

/// The routes of this protocol.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/v1/logs", post(export))
}

/// The two OTLP/HTTP encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// The encoding of a `Content-Type` (parameters and case ignored).
    fn of(content_type: Option<&str>) -> Option<Encoding> {
        let essence = content_type?.split(';').next()?.trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }
}

/// OTLP/HTTP logs export.
///
/// An OpenTelemetry `ExportLogsServiceRequest` as protobuf or OTLP/JSON
/// (`Content-Encoding: gzip` accepted). Each log record becomes a loglens
/// record (resource `service.name` -> `service_name`, `severity_number` ->
/// level, body -> message, resource/scope/record attributes -> attributes;
/// see the README) and takes the same path as `POST /logs`. The reply, in the
/// request's encoding, is an `ExportLogsServiceResponse` whose
/// `partialSuccess` counts and names rejected records.
#[utoipa::path(post, path = "/v1/logs", tag = "logs",
    request_body(description = "opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest", content(
        (Object = "application/x-protobuf"),
        (Object = "application/json"),
    )),
    responses(
        (status = 200, description = "Valid records stored; `partialSuccess` counts the others",
            content(
                (Object = "application/x-protobuf"),
                (Object = "application/json", example = json!({"partialSuccess": {
                    "rejectedLogRecords": "1",
                    "errorMessage": "log record 3: message must be at most 65536 bytes"}})),
            )),
        (status = 400, description = "The body is not an ExportLogsServiceRequest", body = crate::error::ErrorBody),
        (status = 413, description = "The body is larger than the configured limit", body = crate::error::ErrorBody),
        (status = 415, description = "Content-Type is neither protobuf nor JSON", body = crate::error::ErrorBody),
        (status = 429, description = "Overloaded; retry after `Retry-After` seconds", body = crate::error::ErrorBody),
        (status = 503, description = "The ingest service is unavailable", body = crate::error::ErrorBody),
    ))]
pub(crate) async fn export(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match handle(&s, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(s: &AppState, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let Some(encoding) = Encoding::of(content_type) else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            UNSUPPORTED_MEDIA_TYPE,
            format!("content-type must be {ACCEPTED}, got {:?}", content_type.unwrap_or_default()),
        ));
    };
    let bytes = read_body(body, s, PROTOCOL).await?;
    let request = match encoding {
        Encoding::Protobuf => decoder::decode_protobuf(&bytes),
        Encoding::Json => decoder::decode_json(&bytes),
    }
    .inspect_err(|_| metrics::rejected(PROTOCOL, "undecodable", 1))?;
    let outcome = send(s, PROTOCOL, decoder::decode(request), traceparent(headers)).await?;
    let reply =
        ExportLogsServiceResponse { partial_success: decoder::partial_success(&outcome.bad) };
    Ok(match encoding {
        Encoding::Protobuf => {
            ([(header::CONTENT_TYPE, "application/x-protobuf")], reply.encode_to_vec())
                .into_response()
        }
        Encoding::Json => axum::Json(json_reply(&reply)).into_response(),
    })
}

/// The reply in OTLP/JSON (int64 as a decimal string, as protobuf JSON
/// writes it).
fn json_reply(reply: &ExportLogsServiceResponse) -> serde_json::Value {
    match &reply.partial_success {
        None => serde_json::json!({}),
        Some(p) => serde_json::json!({"partialSuccess": {
            "rejectedLogRecords": p.rejected_log_records.to_string(),
            "errorMessage": p.error_message,
        }}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(Encoding::of(Some("application/x-protobuf")), Some(Encoding::Protobuf));
        assert_eq!(Encoding::of(Some("Application/JSON; charset=utf-8")), Some(Encoding::Json));
        assert_eq!(Encoding::of(Some("text/plain")), None);
        assert_eq!(Encoding::of(None), None);
    }

    #[test]
    fn json_reply_writes_int64_as_a_string() {
        let reply = ExportLogsServiceResponse {
            partial_success: decoder::partial_success(&[(2, "bad".into())]),
        };
        assert_eq!(
            json_reply(&reply),
            serde_json::json!({"partialSuccess": {"rejectedLogRecords": "1", "errorMessage": "log record 2: bad"}})
        );
        assert_eq!(json_reply(&ExportLogsServiceResponse::default()), serde_json::json!({}));
    }
}
