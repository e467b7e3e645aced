//! The OpenAPI document. Query parameters are documented by the structs that
//! parse them ([`crate::params`]); bodies by the reply types.

use utoipa::OpenApi;

use crate::handlers;

/// The loglens REST API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "loglens REST API",
        description = "Real-time log analytics. This REST gateway transcodes to the loglens gRPC services \
            (`logs.ingest.v1`, `logs.query.v1`, `logs.stats.v1`). Errors are JSON \
            `{\"error\", \"message\", \"field\"}`; unknown query parameters are rejected."
    ),
    paths(
        handlers::health,
        handlers::search_logs,
        crate::tail::tail,
        handlers::ingest_logs,
        crate::receivers::otlp::export,
        crate::receivers::doc::bulk,
        crate::receivers::doc::info,
        crate::receivers::doc::loki_push,
        crate::receivers::doc::hec_event,
        crate::receivers::doc::hec_raw,
        handlers::anomalies,
        handlers::logs_stats,
        handlers::stats,
        handlers::ledger,
        handlers::openapi_json,
        handlers::swagger_ui,
        handlers::redoc,
        handlers::redoc_js,
    ),
    tags(
        (name = "logs", description = "Search and ingest log records"),
        (name = "ingest (drop-in)", description = "What log shippers already send: OTLP/HTTP, Elasticsearch _bulk, Loki push, Splunk HEC"),
        (name = "stats", description = "Aggregates over log records"),
        (name = "health", description = "Liveness of the gateway and the store"),
        (name = "docs", description = "This document, Swagger UI and ReDoc"),
    )
)]
pub struct ApiDoc;
