//! The gateway's traces and metrics: a server span per REST request (child
//! of the caller's `traceparent`, OpenTelemetry HTTP attributes) with the
//! per-route request counter and latency histogram, and a client span per
//! gRPC call whose context travels on in the call's metadata.

use std::future::Future;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use loglens_telemetry::metrics::{HTTP_REQUEST_DURATION, HTTP_REQUESTS};
use loglens_telemetry::propagation;
use tracing::Instrument as _;

/// The gRPC methods the gateway calls, as `package.Service/Method`.
pub(crate) mod rpc {
    pub(crate) const SEARCH: &str = "logs.query.v1.QueryService/Search";
    pub(crate) const GET_ANOMALIES: &str = "logs.query.v1.QueryService/GetAnomalies";
    pub(crate) const TAIL: &str = "logs.query.v1.QueryService/Tail";
    pub(crate) const GET_STATS: &str = "logs.stats.v1.StatsService/GetStats";
    pub(crate) const GET_LEDGER: &str = "logs.stats.v1.StatsService/GetLedger";
    pub(crate) const INGEST: &str = "logs.ingest.v1.IngestService/Ingest";
    pub(crate) const HEALTH_CHECK: &str = "grpc.health.v1.Health/Check";
}

/// Middleware (inside the router, so the matched route is known): the
/// server span and the HTTP metrics of one request.
pub(crate) async fn observe(request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    // Unmatched paths share one label: clients must not mint series.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!(
        "http.server",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        http.route = %route,
        url.path = %request.uri().path(),
        url.scheme = "http",
        http.response.status_code = tracing::field::Empty,
    );
    propagation::set_parent_from_headers(&span, request.headers());
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The request method as a bounded label (`_OTHER` beyond the standard ones).
fn method_label(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        _ => "_OTHER",
    }
}

/// Runs one gRPC call `rpc` under a client span, with the span's trace
/// context in the call's `traceparent` metadata (replacing any already
/// there, which is left as is when tracing is off).
pub(crate) async fn call<T, R, F>(
    rpc: &'static str,
    mut request: tonic::Request<T>,
    send: impl FnOnce(tonic::Request<T>) -> F,
) -> Result<tonic::Response<R>, tonic::Status>
where
    F: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
{
    let (service, method) = rpc.split_once('/').unwrap_or((rpc, ""));
    let span = tracing::info_span!(
        "grpc.client",
        otel.name = rpc,
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = tracing::field::Empty,
    );
    if let Some(tp) = propagation::traceparent(&span)
        && let Ok(v) = tonic::metadata::MetadataValue::try_from(tp)
    {
        request.metadata_mut().insert(propagation::TRACEPARENT, v);
    }
    // The caller's key goes on to the gRPC side, which checks it too.
    if let Some(v) = crate::auth::forwarded()
        && let Ok(v) = tonic::metadata::MetadataValue::try_from(v.as_bytes())
    {
        request.metadata_mut().insert("authorization", v);
    }
    let result = send(request).instrument(span.clone()).await;
    let code = match &result {
        Ok(_) => 0,
        Err(status) => status.code() as i32,
    };
    span.record("rpc.grpc.status_code", code);
    if code != 0 {
        span.record("otel.status_code", "ERROR");
    }
    result
}
