//! The axum handlers: decode (the [`Params`] extractor, then `TryFrom` into
//! the gRPC request, see [`crate::convert`]), call the gRPC client, encode.
//! Each carries its OpenAPI description.

use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse};
use loglens_proto::ingest::IngestResponse;
use loglens_proto::query::query_service_client::QueryServiceClient;
use loglens_proto::query::{GetAnomaliesRequest, SearchRequest};
use loglens_proto::stats::stats_service_client::StatsServiceClient;
use loglens_proto::stats::{GetLedgerRequest, GetLedgerResponse, GetStatsRequest};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::convert::{HealthCheck, HealthReply, IngestBatch, LogsPage, StatsReply};
use crate::error::{ApiError, ErrorBody};
use crate::ingest::IngestPort;
use crate::params::{AnomaliesQuery, LogsQuery, NoQuery, Params, StatsQuery};
use crate::telemetry::{call, rpc};
use loglens_core::budget::{BudgetPermit, ByteBudget};

/// Name under which the gRPC health service reports the store.
pub const STORE_HEALTH_SERVICE: &str = "loglens.store";
/// How long `GET /health` waits for the gRPC health check.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

const REDOC_HTML: &str = include_str!("../assets/redoc.html");
const REDOC_JS: &[u8] = include_bytes!("../assets/redoc.standalone.js");

/// Clients of the gRPC services and the ingest port; cloning is cheap (one
/// shared channel).
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) query: QueryServiceClient<Channel>,
    pub(crate) ingest: IngestPort,
    /// Bytes of ingest bodies held at once, shared with the process's other
    /// ingest doors.
    pub(crate) budget: Arc<ByteBudget>,
    pub(crate) stats: StatsServiceClient<Channel>,
    pub(crate) health: HealthClient<Channel>,
    pub(crate) max_body_bytes: usize,
    /// The web UI's page, served to browsers at `GET /`.
    pub(crate) ui_index: Bytes,
}

/// Gateway and store health.
///
/// Asks the gRPC health service for `loglens.store`; 200 only when it is SERVING.
#[utoipa::path(get, path = "/health", tag = "health", responses(
    (status = 200, description = "Store serving", body = HealthReply,
        example = json!({"status": "healthy", "store": "healthy", "timestamp": 1714564800000_i64})),
    (status = 503, description = "Store not serving, or the gRPC side unreachable", body = HealthReply,
        example = json!({"status": "unhealthy", "store": "unreachable", "timestamp": 1714564800000_i64,
            "error": "grpc health check failed (Unavailable): tcp connect error"})),
))]
pub(crate) async fn health(State(s): State<AppState>) -> impl IntoResponse {
    let request = HealthCheckRequest { service: STORE_HEALTH_SERVICE.to_owned() };
    let mut client = s.health.clone();
    let checked = call(rpc::HEALTH_CHECK, tonic::Request::new(request), move |r| async move {
        client.check(r).await
    });
    let check = match tokio::time::timeout(HEALTH_TIMEOUT, checked).await {
        Err(_) => HealthCheck::Failed(format!(
            "grpc health check timed out after {}s",
            HEALTH_TIMEOUT.as_secs()
        )),
        Ok(Err(status)) if status.code() == tonic::Code::NotFound => {
            HealthCheck::UnknownService(STORE_HEALTH_SERVICE.to_owned())
        }
        Ok(Err(status)) => HealthCheck::Failed(format!(
            "grpc health check failed ({:?}): {}",
            status.code(),
            status.message()
        )),
        Ok(Ok(r)) => HealthCheck::Status(
            ServingStatus::try_from(r.into_inner().status).unwrap_or(ServingStatus::Unknown),
        ),
    };
    let reply = HealthReply::new(check, now_ms());
    let code = if reply.is_healthy() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, [(header::CACHE_CONTROL, "no-store")], Json(reply))
}

/// Search log records.
///
/// Every given filter must match. Newest first unless `sort` says otherwise.
/// Page with `page`, or (faster for deep pages) pass the reply's `next_cursor` as `cursor`.
#[utoipa::path(get, path = "/logs", tag = "logs", params(LogsQuery), responses(
    (status = 200, description = "One page of matching records", body = LogsPage),
    (status = 400, description = "A parameter is invalid or unknown", body = ErrorBody),
    (status = 429, description = "Overloaded; retry after `Retry-After` seconds", body = ErrorBody,
        headers(("Retry-After" = u64, description = "Seconds to wait"))),
    (status = 503, description = "The query service or the store is unavailable", body = ErrorBody),
))]
pub(crate) async fn search_logs(
    State(s): State<AppState>,
    Params(q): Params<LogsQuery>,
) -> Result<Json<LogsPage>, ApiError> {
    let request = SearchRequest::try_from(q)?;
    let mut client = s.query.clone();
    let reply =
        call(
            rpc::SEARCH,
            tonic::Request::new(request),
            move |r| async move { client.search(r).await },
        )
        .await?;
    Ok(Json(reply.into_inner().into()))
}

/// Anomalous log records, highest severity first.
///
/// Same filters as `GET /logs`; `anomaly` is always true here.
#[utoipa::path(get, path = "/logs/anomalies", tag = "logs", params(AnomaliesQuery), responses(
    (status = 200, description = "One page of anomalous records", body = LogsPage),
    (status = 400, description = "A parameter is invalid or unknown", body = ErrorBody),
    (status = 429, description = "Overloaded; retry after `Retry-After` seconds", body = ErrorBody,
        headers(("Retry-After" = u64, description = "Seconds to wait"))),
    (status = 503, description = "The query service or the store is unavailable", body = ErrorBody),
))]
pub(crate) async fn anomalies(
    State(s): State<AppState>,
    Params(q): Params<AnomaliesQuery>,
) -> Result<Json<LogsPage>, ApiError> {
    let request = GetAnomaliesRequest::try_from(q)?;
    let mut client = s.query.clone();
    let reply = call(rpc::GET_ANOMALIES, tonic::Request::new(request), move |r| async move {
        client.get_anomalies(r).await
    })
    .await?;
    Ok(Json(reply.into_inner().into()))
}

/// Aggregate statistics (same as `GET /stats`).
///
/// Counts the records `GET /logs` would find with the same filters.
/// `histogram` is present only when `interval` is given (each bucket with
/// its count per level), `response_time_percentiles` only with
/// `percentiles=true`.
#[utoipa::path(get, path = "/logs/stats", tag = "stats", params(StatsQuery), responses(
    (status = 200, description = "Counts over the matching records", body = StatsReply),
    (status = 400, description = "A parameter is invalid or unknown", body = ErrorBody),
    (status = 429, description = "Overloaded; retry after `Retry-After` seconds", body = ErrorBody,
        headers(("Retry-After" = u64, description = "Seconds to wait"))),
    (status = 503, description = "The stats service or the store is unavailable", body = ErrorBody),
))]
pub(crate) async fn logs_stats(
    s: State<AppState>,
    q: Params<StatsQuery>,
) -> Result<Json<StatsReply>, ApiError> {
    stats(s, q).await
}

/// Aggregate statistics.
///
/// Counts the records `GET /logs` would find with the same filters.
/// `histogram` is present only when `interval` is given (each bucket with
/// its count per level), `response_time_percentiles` only with
/// `percentiles=true`.
#[utoipa::path(get, path = "/stats", tag = "stats", params(StatsQuery), responses(
    (status = 200, description = "Counts over the matching records", body = StatsReply),
    (status = 400, description = "A parameter is invalid or unknown", body = ErrorBody),
    (status = 429, description = "Overloaded; retry after `Retry-After` seconds", body = ErrorBody,
        headers(("Retry-After" = u64, description = "Seconds to wait"))),
    (status = 503, description = "The stats service or the store is unavailable", body = ErrorBody),
))]
pub(crate) async fn stats(
    State(s): State<AppState>,
    Params(q): Params<StatsQuery>,
) -> Result<Json<StatsReply>, ApiError> {
    let request = GetStatsRequest::try_from(q)?;
    let mut client = s.stats.clone();
    let message = tonic::Request::new(request.clone());
    let reply =
        call(rpc::GET_STATS, message, move |r| async move { client.get_stats(r).await }).await?;
    Ok(Json(StatsReply::new(reply.into_inner(), &request)))
}

/// The Kafka path's ledger.
///
/// Per source partition: messages received, records indexed, messages
/// dead-lettered, the committed offset, the end offset and the lag, with
/// totals, so nothing vanishes unseen. `mode` is `direct` when records go
/// straight into the store (standalone without Kafka) and the list is empty.
#[utoipa::path(get, path = "/ledger", tag = "stats", responses(
    (status = 200, description = "Per-partition counters and totals", body = GetLedgerResponse),
    (status = 400, description = "A parameter was given (none are accepted)", body = ErrorBody),
    (status = 503, description = "The stats service is unavailable", body = ErrorBody),
))]
pub(crate) async fn ledger(
    State(s): State<AppState>,
    Params(NoQuery {}): Params<NoQuery>,
) -> Result<Json<GetLedgerResponse>, ApiError> {
    let request = GetLedgerRequest {};
    let mut client = s.stats.clone();
    let reply = call(rpc::GET_LEDGER, tonic::Request::new(request), move |r| async move {
        client.get_ledger(r).await
    })
    .await?;
    Ok(Json(reply.into_inner()))
}

/// Ingest log records.
///
/// The body is a JSON array of records, one JSON object, or NDJSON (one object
/// per line, blank lines skipped; objects back to back also work); the first
/// non-whitespace byte decides, so no content type is needed. Records are
/// validated one by one: the reply is 200 with the bad ones listed by their
/// position in the body (array index, or record number counting from 0).
/// `timestamp` may also be a JSON number (epoch s, ms, us or ns).
#[utoipa::path(post, path = "/logs", tag = "logs",
    request_body(description = "Records to ingest", content(
        (Vec<loglens_proto::ingest::LogRecord> = "application/json"),
        (loglens_proto::ingest::LogRecord = "application/x-ndjson"),
    )),
    responses(
        (status = 200, description = "Valid records stored; the others listed", body = IngestResponse,
            example = json!({"accepted": 2, "rejected": [{"index": 1, "field": "status_code",
                "reason": "status_code must be between 100 and 599, got 700"}]})),
        (status = 400, description = "The body as a whole is unreadable (empty, not JSON)", body = ErrorBody),
        (status = 413, description = "The body is larger than the configured limit", body = ErrorBody),
        (status = 429, description = "Overloaded; retry after `Retry-After` seconds", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The ingest service is unavailable", body = ErrorBody),
    ))]
pub(crate) async fn ingest_logs(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestResponse>, ApiError> {
    let bytes = read_body(body, &s, "rest").await?;
    let (records, pending) = IngestBatch::parse(&bytes)?.into_parts();
    if pending.nothing_sent() {
        return Ok(Json(pending.finish(IngestResponse::default())));
    }
    let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok());
    let reply = s.ingest.ingest(records, traceparent).await?;
    Ok(Json(pending.finish(reply)))
}

/// The OpenAPI document of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "docs", responses(
    (status = 200, description = "OpenAPI 3.1 document", content_type = "application/json", body = Object),
))]
#[allow(dead_code)] // Served by utoipa-swagger-ui; declared here for the document.
pub(crate) async fn openapi_json() {}

/// Swagger UI (works offline); `/docs` redirects to `/docs/`.
#[utoipa::path(get, path = "/docs", tag = "docs", responses(
    (status = 303, description = "Redirect to `/docs/`"),
    (status = 200, description = "Swagger UI page at `/docs/`", content_type = "text/html", body = String),
))]
#[allow(dead_code)] // Served by utoipa-swagger-ui; declared here for the document.
pub(crate) async fn swagger_ui() {}

/// ReDoc API reference (works offline).
#[utoipa::path(get, path = "/redoc", tag = "docs", responses(
    (status = 200, description = "ReDoc page", content_type = "text/html", body = String),
))]
pub(crate) async fn redoc() -> Html<&'static str> {
    Html(REDOC_HTML)
}

/// The vendored ReDoc bundle that `/redoc` loads.
#[utoipa::path(get, path = "/redoc/redoc.standalone.js", tag = "docs", responses(
    (status = 200, description = "ReDoc 2.5.4 standalone bundle", content_type = "application/javascript", body = String),
))]
pub(crate) async fn redoc_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        Bytes::from_static(REDOC_JS),
    )
}

/// Any other path.
pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::from_code(
        loglens_core::ErrorCode::NotFound,
        format!("no route for {}; see /docs for the API", uri.path()),
        None,
    )
}

/// An ingest request body, holding its share of the ingest byte budget
/// until dropped (once the request is answered).
pub(crate) struct IngestBody {
    bytes: Bytes,
    _permit: BudgetPermit,
}

impl Deref for IngestBody {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Reads the whole body of an ingest request of `door` and takes its size
/// from the ingest byte budget. Over the body limit (set by
/// `RequestBodyLimitLayer`) is a 413, a body that cannot be read (e.g. bad
/// gzip) a 400, and one that does not fit the budget now a 429 with
/// `Retry-After` (counted as shed): the sender retries instead of a queue
/// growing here.
pub(crate) async fn read_body(
    body: Body,
    s: &AppState,
    door: &'static str,
) -> Result<IngestBody, ApiError> {
    let max_bytes = s.max_body_bytes;
    let bytes = axum::body::to_bytes(body, usize::MAX).await.map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if err.is::<http_body_util::LengthLimitError>() {
                return ApiError::payload_too_large(max_bytes);
            }
            source = err.source();
        }
        ApiError::from(loglens_core::Error::invalid(
            "",
            format!("could not read the request body: {e}"),
        ))
    })?;
    match s.budget.try_take(bytes.len()) {
        Ok(permit) => Ok(IngestBody { bytes, _permit: permit }),
        Err(e) => {
            loglens_telemetry::metrics::ingest_shed(door);
            Err(ApiError::from(e))
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
