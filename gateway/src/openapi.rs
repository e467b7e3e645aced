//! The OpenAPI document. The parameter structs here only describe the query
//! strings (with their ranges); [`crate::params`] parses them, and a test
//! checks both name the same parameters.
#![allow(dead_code)] // Fields are read by the derive macros only.

use utoipa::{IntoParams, OpenApi, ToSchema};

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
        handlers::ingest_logs,
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
        (name = "stats", description = "Aggregates over log records"),
        (name = "health", description = "Liveness of the gateway and the store"),
        (name = "docs", description = "This document, Swagger UI and ReDoc"),
    )
)]
pub struct ApiDoc;

/// Accepted `level` values (case-insensitive; WARNING is WARN).
#[derive(ToSchema)]
#[schema(rename_all = "UPPERCASE")]
pub enum LevelParam {
    Debug,
    Info,
    Warn,
    Warning,
    Error,
}

/// Accepted `sort` values.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SortParam {
    /// Newest first (default).
    Newest,
    /// Oldest first.
    Oldest,
    /// Highest severity first, then newest.
    Severity,
}

/// Query parameters of `GET /logs`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsParams {
    /// Exact service name.
    #[param(example = "auth-service")]
    service_name: Option<String>,
    /// Level; case-insensitive, WARNING is WARN.
    #[param(inline)]
    level: Option<LevelParam>,
    /// HTTP status code.
    #[param(minimum = 100, maximum = 599)]
    status_code: Option<i32>,
    /// Only anomalies (`true`) or only normal records (`false`).
    anomaly: Option<bool>,
    /// Inclusive lower bound, ms since the epoch.
    #[param(example = 1714564800000_i64)]
    from_timestamp: Option<i64>,
    /// Inclusive upper bound, ms since the epoch; must be >= `from_timestamp`.
    to_timestamp: Option<i64>,
    /// Full text on `message`: every word must occur (case-insensitive).
    #[param(example = "connection refused")]
    q: Option<String>,
    /// Exact trace id.
    trace_id: Option<String>,
    /// Exact request id.
    request_id: Option<String>,
    /// 1-based page; ignored when `cursor` is set.
    #[param(minimum = 1, maximum = 4294967295_i64, default = 1)]
    page: Option<u32>,
    /// Records per page.
    #[param(minimum = 1, maximum = 1000, default = 20)]
    size: Option<u32>,
    /// `next_cursor` of a previous reply with the same filters and sort.
    cursor: Option<String>,
    /// Order of the records; `newest` when absent.
    #[param(inline)]
    sort: Option<SortParam>,
}

/// Query parameters of `GET /logs/anomalies`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnomaliesParams {
    /// Exact service name.
    service_name: Option<String>,
    /// Level; case-insensitive, WARNING is WARN.
    #[param(inline)]
    level: Option<LevelParam>,
    /// HTTP status code.
    #[param(minimum = 100, maximum = 599)]
    status_code: Option<i32>,
    /// Only `true` is accepted (this route lists anomalies only).
    anomaly: Option<bool>,
    /// Inclusive lower bound, ms since the epoch.
    from_timestamp: Option<i64>,
    /// Inclusive upper bound, ms since the epoch; must be >= `from_timestamp`.
    to_timestamp: Option<i64>,
    /// Full text on `message`: every word must occur (case-insensitive).
    q: Option<String>,
    /// Exact trace id.
    trace_id: Option<String>,
    /// Exact request id.
    request_id: Option<String>,
    /// 1-based page; ignored when `cursor` is set.
    #[param(minimum = 1, maximum = 4294967295_i64, default = 1)]
    page: Option<u32>,
    /// Records per page.
    #[param(minimum = 1, maximum = 1000, default = 20)]
    size: Option<u32>,
    /// `next_cursor` of a previous reply with the same filters.
    cursor: Option<String>,
}

/// Query parameters of `GET /stats` and `GET /logs/stats`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// Inclusive lower bound, ms since the epoch.
    from_timestamp: Option<i64>,
    /// Inclusive upper bound, ms since the epoch; must be >= `from_timestamp`.
    to_timestamp: Option<i64>,
    /// Exact service name.
    service_name: Option<String>,
    /// Histogram bucket width, at least 1s: whole milliseconds (`60000`) or a
    /// number with a unit `ms`, `s`, `m`, `h`, `d` (`30s`, `5m`, `1h`, `1d`).
    /// Adds `histogram` to the reply.
    #[param(pattern = r"^[0-9]+(ms|s|m|h|d)?$", example = "5m")]
    interval: Option<String>,
    /// Add `response_time_percentiles` (p50/p95/p99 per service).
    #[param(default = false)]
    percentiles: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{ANOMALIES_PARAMS, LOGS_PARAMS, STATS_PARAMS};

    fn names<P: IntoParams>() -> Vec<String> {
        P::into_params(|| None).into_iter().map(|p| p.name).collect()
    }

    #[test]
    fn documented_parameters_are_the_parsed_ones() {
        assert_eq!(names::<LogsParams>(), LOGS_PARAMS);
        assert_eq!(names::<AnomaliesParams>(), ANOMALIES_PARAMS);
        assert_eq!(names::<StatsParams>(), STATS_PARAMS);
    }
}
