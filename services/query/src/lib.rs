//! The query role: `logs.query.v1.QueryService` and `logs.stats.v1.StatsService`
//! over a [`LogStore`], plus the reporter that publishes the store's health
//! on `grpc.health.v1` under [`STORE_HEALTH_SERVICE`].
//!
//! Each call's span is the gRPC server span of `loglens_telemetry::grpc`;
//! store calls get a child span with the query, the backend and the hit count.
//! `Tail` reads the [`tail`] replay ring, so clients can resume.
//!
//! Tenants: every call reads only the caller's tenant (the tenant of the API
//! key in the request's extensions), whatever its filter says; naming another
//! tenant is PERMISSION_DENIED. An `admin` key reads the tenant its filter
//! names, or every tenant. With keys off there is no caller and the filter's
//! `tenant` is taken as asked.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use loglens_auth::{Principal, Scope};
use loglens_core::Filter;
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

/// The tenant a call may read, given its caller and the tenant its filter
/// asks for (`None`: every tenant the caller may see).
pub fn readable_tenant(
    caller: Option<&Principal>,
    asked: Option<String>,
) -> Result<Option<String>, Status> {
    match caller {
        None => Ok(asked),
        Some(p) if p.has(Scope::Admin) => Ok(asked),
        Some(p) => match asked {
            Some(t) if t != p.tenant => Err(Status::permission_denied(format!(
                "this API key reads only tenant {:?}; naming another tenant (here {t:?}) needs \
                 the admin scope",
                p.tenant
            ))),
            _ => Ok(Some(p.tenant.clone())),
        },
    }
}

/// The caller of a call: the key the auth layer accepted, if keys are checked.
fn caller<T>(request: &Request<T>) -> Option<Principal> {
    request.extensions().get::<Principal>().cloned()
}

/// [`readable_tenant`] applied to `filter`.
fn scope_filter(caller: Option<&Principal>, filter: &mut Filter) -> Result<(), Status> {
    filter.tenant = readable_tenant(caller, filter.tenant.take())?;
    Ok(())
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
        let caller = caller(&request);
        let mut req = loglens_core::SearchRequest::try_from(request.into_inner()).map_err(err)?;
        scope_filter(caller.as_ref(), &mut req.filter)?;
        let result = traced_search(self.store.as_ref(), "search", &req).await?;
        Ok(Response::new(result.into()))
    }

    async fn get_anomalies(
        &self,
        request: Request<GetAnomaliesRequest>,
    ) -> Result<Response<SearchResponse>, Status> {
        let caller = caller(&request);
        let mut req = loglens_core::SearchRequest::try_from(request.into_inner()).map_err(err)?;
        scope_filter(caller.as_ref(), &mut req.filter)?;
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
        let caller = caller(&request);
        let TailRequest { filter, resume_after } = request.into_inner();
        let mut filter = loglens_proto::convert::filter(filter).map_err(err)?;
        scope_filter(caller.as_ref(), &mut filter)?;
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
        let caller = caller(&request);
        let mut req = loglens_core::StatsRequest::try_from(request.into_inner()).map_err(err)?;
        scope_filter(caller.as_ref(), &mut req.filter)?;
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

    /// The processor's counters. A tenant's key sees its own tenant's row
    /// only, with totals from that row and no partitions (partitions are
    /// shared by every tenant); admins and open nodes see everything.
    #[tracing::instrument(skip_all)]
    async fn get_ledger(
        &self,
        request: Request<GetLedgerRequest>,
    ) -> Result<Response<GetLedgerResponse>, Status> {
        let mut reply: GetLedgerResponse = match &self.ledger {
            Some(l) => (l.snapshot(), l.tenants()).into(),
            None => GetLedgerResponse { mode: "direct".into(), ..Default::default() },
        };
        if let Some(tenant) = readable_tenant(caller(&request).as_ref(), None)? {
            reply.partitions.clear();
            reply.tenants.retain(|t| t.tenant == tenant);
            let own = reply.tenants.first();
            reply.received = own.map_or(0, |t| t.received);
            reply.indexed = own.map_or(0, |t| t.indexed);
            reply.dead_lettered = own.map_or(0, |t| t.dead_lettered);
            reply.lag = 0;
        }
        Ok(Response::new(reply))
    }
}

/// Publishes the store's health under [`STORE_HEALTH_SERVICE`] and the
/// overall (`""`) service when it differs from `last`; returns it. Call it
/// once before serving, so the first health check finds a status.
pub async fn publish_store_health(
    store: &dyn LogStore,
    reporter: &tonic_health::server::HealthReporter,
    last: Option<bool>,
) -> bool {
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
    }
    health.healthy
}

/// Publishes the store's health every `every` (see
/// [`publish_store_health`]), starting from `last`, until the reporter's
/// task is dropped.
pub async fn report_store_health(
    store: Arc<dyn LogStore>,
    reporter: tonic_health::server::HealthReporter,
    every: Duration,
    mut last: Option<bool>,
) {
    loop {
        tokio::time::sleep(every).await;
        last = Some(publish_store_health(store.as_ref(), &reporter, last).await);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(tenant: &str, scopes: &[Scope]) -> Principal {
        Principal { name: format!("{tenant}-key"), tenant: tenant.into(), scopes: scopes.to_vec() }
    }

    #[test]
    fn a_tenant_key_reads_its_own_tenant_whatever_it_asks() {
        let alpha = key("alpha", &[Scope::Query]);
        assert_eq!(readable_tenant(Some(&alpha), None).unwrap().as_deref(), Some("alpha"));
        assert_eq!(
            readable_tenant(Some(&alpha), Some("alpha".into())).unwrap().as_deref(),
            Some("alpha")
        );
        let denied = readable_tenant(Some(&alpha), Some("beta".into())).unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert!(denied.message().contains("admin"), "{}", denied.message());
        // Ingest and query together are still one tenant's.
        let both = key("alpha", &[Scope::Ingest, Scope::Query]);
        assert!(readable_tenant(Some(&both), Some("beta".into())).is_err());
    }

    #[test]
    fn admins_and_open_nodes_read_what_they_ask() {
        let admin = key("ops", &[Scope::Admin]);
        assert_eq!(readable_tenant(Some(&admin), None).unwrap(), None, "every tenant");
        assert_eq!(
            readable_tenant(Some(&admin), Some("beta".into())).unwrap().as_deref(),
            Some("beta")
        );
        assert_eq!(readable_tenant(None, None).unwrap(), None);
        assert_eq!(readable_tenant(None, Some("b".into())).unwrap().as_deref(), Some("b"));
    }
}
