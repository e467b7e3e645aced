//! Drop-in ingest routes: the wire formats that log shippers already send
//! (OTLP/HTTP, Elasticsearch `_bulk`, Loki push, Splunk HEC), on their
//! standard paths. Each decodes with `loglens-receivers` and sends the
//! records through the same `Ingest` call as `POST /logs`, so validation,
//! scoring and the sink (store or Kafka) are the same for every door.

use loglens_proto::ingest::{IngestRequest, IngestResponse, LogRecord};

use crate::error::ApiError;
use crate::handlers::AppState;
use crate::telemetry::{call, rpc};

pub(crate) mod doc;
pub(crate) mod es;
pub(crate) mod hec;
pub(crate) mod loki;
pub(crate) mod otlp;

/// Every drop-in route, merged into the gateway's router.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .merge(otlp::routes())
        .merge(es::routes())
        .merge(loki::routes())
        .merge(hec::routes())
}

/// Sends `records` through the gateway's `Ingest` call (the caller's W3C
/// `traceparent` carried on), returning the ingest service's reply: the
/// accepted count and a rejection per refused record, by position in
/// `records`.
pub(crate) async fn ingest(
    state: &AppState,
    records: Vec<LogRecord>,
    traceparent: Option<&str>,
) -> Result<IngestResponse, ApiError> {
    if records.is_empty() {
        return Ok(IngestResponse::default());
    }
    let mut request = tonic::Request::new(IngestRequest { records });
    if let Some(tp) = traceparent
        && let Ok(v) = tonic::metadata::MetadataValue::try_from(tp)
    {
        request.metadata_mut().insert("traceparent", v);
    }
    let mut client = state.ingest.clone();
    let reply = call(rpc::INGEST, request, move |r| async move { client.ingest(r).await }).await?;
    Ok(reply.into_inner())
}
