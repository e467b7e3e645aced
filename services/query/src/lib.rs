//! The query role: `logs.query.v1.QueryService` and `logs.stats.v1.StatsService`
//! over a [`LogStore`], plus the reporter that publishes the store's health
//! on `grpc.health.v1` under [`STORE_HEALTH_SERVICE`].
//!
//! Each call's span is the gRPC server span of `loglens_telemetry::grpc`;
//! store calls get a child span with the query, the backend and the hit count.
//! `Tail` reads the [`tail`] replay ring, so clients can resume.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use loglens_core::ledger::LedgerView;
use loglens_proto::query::query_service_server::QueryService;
use loglens_proto::query::{GetAnomaliesRequest, SearchRequest, SearchResponse, TailRequest};
use loglens_proto::stats::stats_service_server::StatsService;
use loglens_proto::stats::{
    GetLedgerRequest, GetLedgerResponse, GetStatsRequest, GetStatsResponse,
};
use loglens_proto::status::to_status;
use loglens_store::LogStore;
use tonic::{Request, Response, Status};
use tracing::Instrument as _;

pub mod tail;

pub use tail::TailConfig;

/// Health-service name under which the store's health is reported.
pub const STORE_HEALTH_SERVICE: &str = "loglens.store";

fn err(e: impl Into<loglens_core::Error>) -> Status {
    to_status(&e.into())
}

/// The gRPC `QueryService`.
pub struct QueryApi {
    store: Arc<dyn LogStore>,
    tail_config: TailConfig,
    /// Started by the first `Tail` call, then kept: nodes nobody tails pay
    /// nothing, and a client that reconnects finds what it missed.
    tail: OnceLock<Arc<tail::Ring>>,
}

impl QueryApi {
    /// A service reading from `store`.
    pub fn new(store: Arc<dyn LogStore>) -> QueryApi {
        QueryApi { store, tail_config: TailConfig::default(), tail: OnceLock::new() }
    }

    /// Sizes the replay ring of `Tail` (by default [`TailConfig::default`]).
    pub fn with_tail_config(mut self, config: TailConfig) -> QueryApi {
        self.tail_config = config;
        self
    }
}

/// A span around one store call, child of the RPC's server span (see
/// `loglens_telemetry::grpc`), with the OpenTelemetry database attributes:
/// the backend, the operation, the query as JSON, and (recorded after the
/// call) the hit count.
fn store_span(
    store: &dyn LogStore,
    operation: &'static str,
    query: &serde_json::Value,
) -> tracing::Span {
    let backend = store.backend();
    tracing::info_span!(
        "store",
        otel.name = %format_args!("{operation} {backend}"),
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        db.system.name = backend,
        db.operation.name = operation,
        db.query.text = %query,
        loglens.store.hits = tracing::field::Empty,
    )
}

/// The store's search, traced.
async fn traced_search(
    store: &dyn LogStore,
    operation: &'static str,
    req: &loglens_core::SearchRequest,
) -> Result<loglens_core::SearchResult, Status> {
    let query = serde_json::json!({
        "filter": &req.filter, "sort": req.sort, "page": req.page, "size": req.size, "cursor": req.cursor.is_some(),
    });
    let span = store_span(store, operation, &query);
    let result = store.search(req).instrument(span.clone()).await;
    match &result {
        Ok(r) => span.record("loglens.store.hits", r.total),
        Err(_) => span.record("otel.status_code", "ERROR"),
    };
    result.map_err(err)
}

#[async_trait]
impl QueryService for QueryApi {
    async fn search(
        &self,
        request: Request<SearchRequest>,
    ) -> Result<Response<SearchResponse>, Status> {
        let req = loglens_core::SearchRequest::try_from(request.into_inner()).map_err(err)?;
        let result = traced_search(self.store.as_ref(), "search", &req).await?;
        Ok(Response::new(result.into()))
    }

    async fn get_anomalies(
        &self,
        request: Request<GetAnomaliesRequest>,
    ) -> Result<Response<SearchResponse>, Status> {
        let req = loglens_core::SearchRequest::try_from(request.into_inner()).map_err(err)?;
        let result = traced_search(self.store.as_ref(), "search", &req).await?;
        Ok(Response::new(result.into()))
    }

    type TailStream = tail::TailStream;

    /// Streams records as they become searchable, from right after
    /// `resume_after` when given; see [`tail`] for a client that falls
    /// behind or resumes too late.
    #[tracing::instrument(skip_all)]
    async fn tail(
        &self,
        request: Request<TailRequest>,
    ) -> Result<Response<Self::TailStream>, Status> {
        let TailRequest { filter, resume_after } = request.into_inner();
        let filter = loglens_proto::convert::filter(filter).map_err(err)?;
        let ring =
            self.tail.get_or_init(|| tail::Ring::over(self.store.as_ref(), self.tail_config));
        Ok(Response::new(tail::follow(ring.clone(), filter, &resume_after)?))
    }
}

/// The gRPC `StatsService`.
pub struct StatsApi {
    store: Arc<dyn LogStore>,
    ledger: Option<Arc<dyn LedgerView>>,
}

impl StatsApi {
    /// A service aggregating over `store`.
    pub fn new(store: Arc<dyn LogStore>) -> StatsApi {
        StatsApi { store, ledger: None }
    }

    /// Also answers `GetLedger` from a processor in this process.
    pub fn with_ledger(mut self, ledger: Arc<dyn LedgerView>) -> StatsApi {
        self.ledger = Some(ledger);
        self
    }
}

#[async_trait]
impl StatsService for StatsApi {
    async fn get_stats(
        &self,
        request: Request<GetStatsRequest>,
    ) -> Result<Response<GetStatsResponse>, Status> {
        let req = loglens_core::StatsRequest::try_from(request.into_inner()).map_err(err)?;
        let query = serde_json::json!({
            "filter": &req.filter, "histogram_interval_ms": req.histogram_interval_ms,
            "include_percentiles": req.include_percentiles,
        });
        let span = store_span(self.store.as_ref(), "stats", &query);
        let stats = self.store.stats(&req).instrument(span.clone()).await.map_err(|e| {
            span.record("otel.status_code", "ERROR");
            err(e)
        })?;
        span.record("loglens.store.hits", stats.total_logs);
        Ok(Response::new(stats.into()))
    }

    #[tracing::instrument(skip_all)]
    async fn get_ledger(
        &self,
        _request: Request<GetLedgerRequest>,
    ) -> Result<Response<GetLedgerResponse>, Status> {
        let reply = match &self.ledger {
            Some(l) => l.snapshot().into(),
            None => GetLedgerResponse { mode: "direct".into(), ..Default::default() },
        };
        Ok(Response::new(reply))
    }
}

/// Publishes the store's health every `every` under [`STORE_HEALTH_SERVICE`]
/// and the overall (`""`) service, until the reporter's task is dropped.
pub async fn report_store_health(
    store: Arc<dyn LogStore>,
    reporter: tonic_health::server::HealthReporter,
    every: Duration,
) {
    let mut last = None;
    loop {
        let health = store.health().await;
        if last != Some(health.healthy) {
            let status = if health.healthy {
                tonic_health::ServingStatus::Serving
            } else {
                tracing::warn!(detail = %health.detail, "store unhealthy");
                tonic_health::ServingStatus::NotServing
            };
            reporter.set_service_status(STORE_HEALTH_SERVICE, status).await;
            reporter.set_service_status("", status).await;
            last = Some(health.healthy);
        }
        tokio::time::sleep(every).await;
    }
}
