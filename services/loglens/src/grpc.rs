//! The gRPC server every serving role shares: the loglens services, server
//! reflection (v1 and v1alpha), `grpc.health.v1`, and gRPC-web with CORS, on
//! one port, plaintext or TLS (optionally demanding client certificates).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use loglens_core::RuleSet;
use loglens_core::budget::ByteBudget;
use loglens_core::ledger::LedgerView;
use loglens_ingest::otlp::OtlpLogsApi;
use loglens_ingest::{IngestApi, RecordSink, TenantLimit};
use loglens_proto::ingest::ingest_service_server::IngestServiceServer;
use loglens_proto::query::query_service_server::QueryServiceServer;
use loglens_proto::stats::stats_service_server::StatsServiceServer;
use loglens_query::{QueryApi, StatsApi};
use loglens_store::LogStore;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::LogsServiceServer;
use tonic::transport::Server;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long open gRPC connections may finish their calls after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Largest gRPC message accepted or sent.
const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// What one gRPC server offers; roles leave out what they do not run.
pub struct Services {
    /// Query and stats over this store (the query, processor --serve and
    /// standalone roles).
    pub store: Option<Arc<dyn LogStore>>,
    /// Ingest into this sink (the store, or Kafka).
    pub sink: Option<Arc<dyn RecordSink>>,
    /// Anomaly rules for ingest.
    pub rules: Arc<RuleSet>,
    /// The processor's ledger, for `GetLedger`.
    pub ledger: Option<Arc<dyn LedgerView>>,
    /// The node's ingest byte budget: ingest requests that do not fit are
    /// answered RESOURCE_EXHAUSTED with `retry-after`.
    pub budget: Arc<ByteBudget>,
    /// API keys; `None` serves every call (auth off).
    pub auth: Option<Arc<loglens_auth::Authenticator>>,
    /// Per-tenant ingest rates, shared with the gateway's in-process door.
    pub tenant_limit: Option<Arc<dyn TenantLimit>>,
}

/// The node's ingest service over `sink`: its rules, byte budget and tenant
/// rates.
pub fn ingest_api(
    sink: Arc<dyn RecordSink>,
    rules: Arc<RuleSet>,
    tenant_limit: Option<&Arc<dyn TenantLimit>>,
) -> IngestApi {
    let api = IngestApi::new(sink, rules);
    match tenant_limit {
        Some(l) => api.with_tenant_limit(l.clone()),
        None => api,
    }
}

/// Serves `services` on the connections of `incoming` (TLS or plain TCP,
/// and in-process clients) until `shutdown` resolves.
pub async fn serve(
    incoming: loglens_tls::Incoming,
    services: Services,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Services { store, sink, rules, ledger, budget, auth, tenant_limit } = services;
    let (reporter, health) = tonic_health::server::health_reporter();
    let health_task = match &store {
        Some(store) => {
            reporter.set_serving::<QueryServiceServer<QueryApi>>().await;
            reporter.set_serving::<StatsServiceServer<StatsApi>>().await;
            // Published before this server accepts a call: a health check
            // made as soon as the node is ready finds the store's status.
            let first = loglens_query::publish_store_health(store.as_ref(), &reporter, None).await;
            Some(tokio::spawn(loglens_query::report_store_health(
                store.clone(),
                reporter.clone(),
                Duration::from_secs(1),
                Some(first),
            )))
        }
        None => None,
    };
    if sink.is_some() {
        reporter.set_serving::<IngestServiceServer<IngestApi>>().await;
        reporter.set_serving::<LogsServiceServer<OtlpLogsApi>>().await;
    }

    // The OpenTelemetry descriptor set holds every collector service; list
    // only those served (the loglens ones, health, OTLP logs, reflection).
    let reflection = |own: &str| {
        [
            "logs.ingest.v1.IngestService",
            "logs.query.v1.QueryService",
            "logs.stats.v1.StatsService",
            "grpc.health.v1.Health",
            "opentelemetry.proto.collector.logs.v1.LogsService",
            own,
        ]
        .into_iter()
        .fold(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(loglens_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(opentelemetry_proto::DESCRIPTORS),
            |b, name| b.with_service_name(name),
        )
    };
    let reflection_v1 = reflection("grpc.reflection.v1.ServerReflection")
        .build_v1()
        .context("building reflection v1")?;
    let reflection_v1alpha = reflection("grpc.reflection.v1alpha.ServerReflection")
        .build_v1alpha()
        .context("building reflection v1alpha")?;

    // OTLP/gRPC logs share the ingest path (rules, metrics, sink).
    let otlp_logs = sink.as_ref().map(|sink| {
        LogsServiceServer::new(OtlpLogsApi::new(
            ingest_api(sink.clone(), rules.clone(), tenant_limit.as_ref())
                .with_budget(budget.clone()),
        ))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
    });
    let ingest = sink.map(|sink| {
        IngestServiceServer::new(ingest_api(sink, rules, tenant_limit.as_ref()).with_budget(budget))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    });
    let query = store.as_ref().map(|store| {
        QueryServiceServer::new(QueryApi::new(store.clone()))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    });
    let stats = store.map(|store| {
        let api = StatsApi::new(store);
        StatsServiceServer::new(match ledger {
            Some(l) => api.with_ledger(l),
            None => api,
        })
    });

    // Browsers speak gRPC-web over HTTP/1.1; CORS must wrap the translation layer.
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([http::Method::POST, http::Method::OPTIONS])
        .allow_headers(tower_http::cors::Any)
        .expose_headers([
            http::HeaderName::from_static("grpc-status"),
            http::HeaderName::from_static("grpc-message"),
            http::HeaderName::from_static("grpc-status-details-bin"),
        ])
        .max_age(Duration::from_secs(86_400));
    // Graceful shutdown waits for clients to hang up; give them a few
    // seconds, then close what is still open.
    let (signalled, on_signal) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        let _ = signalled.send(());
    };
    let server = Server::builder()
        .accept_http1(true)
        .layer(cors)
        .layer(tonic_web::GrpcWebLayer::new())
        // Innermost, so it sees native gRPC responses (status in headers).
        .layer(loglens_telemetry::grpc::ServerLayer)
        // Inside telemetry, so refusals are counted by their code.
        .layer(crate::grpc_auth::AuthLayer(auth))
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_optional_service(ingest)
        .add_optional_service(otlp_logs)
        .add_optional_service(query)
        .add_optional_service(stats)
        .serve_with_incoming_shutdown(
            // TCP_NODELAY set and TLS handshakes done by `incoming`.
            incoming.into_stream(),
            shutdown,
        );
    let result = tokio::select! {
        r = server => r,
        _ = async {
            if on_signal.await.is_ok() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {
            tracing::info!("closing gRPC connections still open {SHUTDOWN_GRACE:?} after shutdown began");
            Ok(())
        }
    };
    if let Some(t) = health_task {
        t.abort();
    }
    result.context("gRPC server failed")
}
