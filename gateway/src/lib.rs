//! The loglens REST gateway: an axum app that transcodes JSON over HTTP to the
//! loglens gRPC services (`logs.ingest.v1.IngestService`,
//! `logs.query.v1.QueryService`, `logs.stats.v1.StatsService`,
//! `grpc.health.v1.Health`), plus the OpenAPI document, Swagger UI (`/docs`)
//! and ReDoc (`/redoc`), all served offline.
//!
//! - [`params`]: one query struct per route, parsed and documented (pure).
//! - [`convert`]: query structs -> gRPC requests, gRPC replies -> JSON,
//!   `POST /logs` bodies -> records (pure).
//! - [`error`]: gRPC status -> HTTP through [`loglens_core::ErrorCode`].
//! - `ingest`: the ingest port, `IngestService/Ingest` over gRPC or, when
//!   ingest runs in the same process, a direct call ([`LocalIngest`]).
//! - `tail`: `GET /logs/tail`, the gRPC `Tail` as Server-Sent Events that
//!   resume with `Last-Event-ID`; routed outside the timeout and compression.
//! - `telemetry`: a server span and HTTP metrics per request, a client span
//!   per gRPC call with its trace context in the metadata; `GET /metrics`
//!   serves the process's Prometheus metrics.
//! - `ui`: the built-in web UI at `/`, from `ui/dist` embedded at build time.
//! - `auth`: API keys on every route but `/health` and the static files
//!   ([`InProcess::auth`]), the caller's key forwarded on every gRPC call.
//!
//! The gRPC side must report the store's health as [`STORE_HEALTH_SERVICE`],
//! put the field of an `INVALID_ARGUMENT` in metadata
//! [`loglens_core::error::FIELD_METADATA_KEY`] and the seconds of a
//! `RESOURCE_EXHAUSTED` in [`loglens_core::error::RETRY_AFTER_METADATA_KEY`].

mod auth;
pub mod convert;
pub mod error;
mod handlers;
mod ingest;
pub mod openapi;
pub mod params;
mod receivers;
mod tail;
mod telemetry;
mod ui;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ingest::IngestPort;
use loglens_core::budget::{ByteBudget, DEFAULT_MAX_INFLIGHT_BYTES};
use loglens_proto::ingest::ingest_service_client::IngestServiceClient;
use loglens_proto::query::query_service_client::QueryServiceClient;
use loglens_proto::stats::stats_service_client::StatsServiceClient;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_client::HealthClient;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub use auth::current_principal;
pub use error::{ApiError, Error, Result};
pub use handlers::{HEALTH_TIMEOUT, STORE_HEALTH_SERVICE};
pub use ingest::LocalIngest;
pub use openapi::ApiDoc;

/// Largest gRPC reply the gateway decodes: a page of 1000 records of up to
/// 64 KiB message each, with room to spare.
pub const MAX_GRPC_REPLY_BYTES: usize = 128 * 1024 * 1024;
/// Upper bound on connecting to the gRPC side (within `request_timeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How to reach the gRPC services and the limits of the HTTP side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// The gRPC server, `http://host:port` or `https://host:port` (query,
    /// stats and health; also ingest unless `ingest_endpoint` is set).
    pub grpc_endpoint: String,
    /// Where `POST /logs` goes when ingest runs apart (the Kafka path's
    /// `loglens ingest` role), `http(s)://host:port`.
    pub ingest_endpoint: Option<String>,
    /// The CA and client certificate of `https://` endpoints (read when
    /// the app is built); without a CA the system's roots are trusted.
    pub grpc_tls: loglens_tls::ClientTlsFiles,
    /// Largest accepted request body, after gzip decoding; larger is a 413.
    pub max_body_bytes: usize,
    /// Whole-request deadline; past it the reply is a 503.
    pub request_timeout: Duration,
    /// Bytes of ingest request bodies held at once (when no budget is shared
    /// through [`InProcess`]); a body that does not fit is answered 429 with
    /// `Retry-After` instead of queueing.
    pub max_inflight_ingest_bytes: usize,
    /// Jaeger's base URL (`http(s)://host:port`); when set, the web UI links
    /// each `trace_id` to `<jaeger_url>/trace/<trace_id>`.
    pub jaeger_url: Option<String>,
}

impl Default for GatewayConfig {
    fn default() -> GatewayConfig {
        GatewayConfig {
            grpc_endpoint: "http://127.0.0.1:50051".to_owned(),
            ingest_endpoint: None,
            grpc_tls: loglens_tls::ClientTlsFiles::default(),
            max_body_bytes: 16 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            max_inflight_ingest_bytes: DEFAULT_MAX_INFLIGHT_BYTES,
            jaeger_url: None,
        }
    }
}

/// What a process running the gateway beside other components shares with
/// it, beyond [`GatewayConfig`].
#[derive(Clone, Default)]
pub struct InProcess {
    /// The ingest service of this process: the ingest routes call it
    /// directly instead of `IngestService/Ingest` over gRPC (and
    /// `ingest_endpoint` is not used).
    pub ingest: Option<Arc<dyn LocalIngest>>,
    /// The process's ingest byte budget, shared with its gRPC ingest; by
    /// default the gateway has its own of `max_inflight_ingest_bytes`.
    pub budget: Option<Arc<ByteBudget>>,
    /// A channel to this process's gRPC server (in memory): query, stats
    /// and health go there instead of `grpc_endpoint`.
    pub grpc: Option<Channel>,
    /// API keys checked on every route but `/health` and the static files;
    /// `None` serves everyone (the caller's key is still forwarded to gRPC).
    pub auth: Option<Arc<loglens_auth::Authenticator>>,
}

/// The gateway's router. The gRPC channel connects lazily, so this succeeds
/// (and the routes answer 503) while the gRPC side is down. Must be called
/// inside a Tokio runtime.
pub fn app(cfg: &GatewayConfig) -> Result<Router> {
    app_with(cfg, InProcess::default())
}

/// [`app`] with what this process shares with the gateway.
pub fn app_with(cfg: &GatewayConfig, shared: InProcess) -> Result<Router> {
    if cfg.max_body_bytes == 0 {
        return Err(Error::Config("max_body_bytes must be > 0".into()));
    }
    if cfg.request_timeout.is_zero() {
        return Err(Error::Config("request_timeout must be > 0".into()));
    }
    if cfg.max_inflight_ingest_bytes == 0 {
        return Err(Error::Config("max_inflight_ingest_bytes must be > 0".into()));
    }
    if let Some(url) = &cfg.jaeger_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(Error::Config(format!(
            "jaeger_url must be an http(s)://host:port URL, got {url:?}"
        )));
    }
    let query_channel = match shared.grpc {
        Some(c) => c,
        None => channel(cfg, &cfg.grpc_endpoint)?,
    };
    let ingest = match (shared.ingest, &cfg.ingest_endpoint) {
        (Some(local), _) => IngestPort::Local(local),
        (None, Some(url)) => IngestPort::Remote(IngestServiceClient::new(channel(cfg, url)?)),
        (None, None) => IngestPort::Remote(IngestServiceClient::new(query_channel.clone())),
    };
    let channel = query_channel;
    let state = handlers::AppState {
        query: QueryServiceClient::new(channel.clone())
            .max_decoding_message_size(MAX_GRPC_REPLY_BYTES),
        ingest,
        budget: shared.budget.unwrap_or_else(|| ByteBudget::new(cfg.max_inflight_ingest_bytes)),
        stats: StatsServiceClient::new(channel.clone()),
        health: HealthClient::new(channel),
        max_body_bytes: cfg.max_body_bytes,
        ui_index: ui::index_html(cfg.jaeger_url.as_deref().map(|u| u.trim_end_matches('/'))),
    };
    let (max_body, timeout) = (cfg.max_body_bytes, cfg.request_timeout);
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(Any)
        .expose_headers([header::RETRY_AFTER]);
    Ok(Router::new()
        .route("/health", get(handlers::health))
        .route("/logs", get(handlers::search_logs).post(handlers::ingest_logs))
        .route("/logs/anomalies", get(handlers::anomalies))
        .route("/logs/stats", get(handlers::logs_stats))
        .route("/stats", get(handlers::stats))
        .route("/ledger", get(handlers::ledger))
        .route("/metrics", get(loglens_telemetry::metrics::metrics_handler))
        .route("/redoc", get(handlers::redoc))
        .route("/redoc/redoc.standalone.js", get(handlers::redoc_js))
        .merge(receivers::routes())
        .merge(ui::routes())
        .merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
        .fallback(handlers::not_found)
        // Innermost first: the limit counts decoded bytes.
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(RequestDecompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeout))
        .layer(axum::middleware::map_response(move |res: Response| async move {
            json_errors(res, max_body, timeout)
        }))
        .layer(CompressionLayer::new())
        // Outside the timeout and compression: a live stream never ends,
        // and compression would hold its events back.
        .merge(tail::routes())
        .layer(axum::middleware::from_fn_with_state(shared.auth, auth::guard))
        .layer(cors)
        .layer(axum::middleware::from_fn(telemetry::observe))
        .with_state(state))
}

/// Serves [`app`] on `listener` until `shutdown` completes, then drains.
pub async fn serve(
    listener: tokio::net::TcpListener,
    cfg: GatewayConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    serve_with(listener, cfg, InProcess::default(), shutdown).await
}

/// [`serve`] with what this process shares with the gateway.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    cfg: GatewayConfig,
    shared: InProcess,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    serve_tls(listener, None, cfg, shared, shutdown).await
}

/// [`serve_with`] over TLS when `tls` is given (the same routes; plain
/// HTTP to that port fails the handshake).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    cfg: GatewayConfig,
    shared: InProcess,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let local = shared.ingest.is_some();
    let router = app_with(&cfg, shared)?;
    tracing::info!(
        addr = ?listener.local_addr().ok(),
        tls = tls.is_some(),
        grpc = %cfg.grpc_endpoint,
        ingest = if local { "in-process" } else { "grpc" },
        "rest gateway listening"
    );
    // TCP_NODELAY set and TLS handshakes done off the accept loop.
    let listener = Accepted(loglens_tls::Incoming::accept(listener, tls));
    // The peer address rate-limits failed authentication attempts.
    axum::serve(listener, router.into_make_service_with_connect_info::<auth::Peer>())
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("rest gateway stopped");
    Ok(())
}

/// The accepted connections of the REST listener, for axum.
struct Accepted(loglens_tls::Incoming);

impl axum::serve::Listener for Accepted {
    type Io = loglens_tls::Conn;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.0.next().await {
            Some(conn) => {
                // Only in-process connections lack an address; REST has none.
                let addr =
                    conn.remote_addr().unwrap_or(std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
                (conn, addr)
            }
            // Accepting ended (only when the listener is dropped).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

fn channel(cfg: &GatewayConfig, url: &str) -> Result<Channel> {
    let tls = match url.split_once("://").map(|(scheme, _)| scheme) {
        Some("http") => {
            if cfg.grpc_tls != loglens_tls::ClientTlsFiles::default() {
                return Err(Error::Config(format!(
                    "grpc CA or client certificate given, but the endpoint {url:?} is \
                     http://; use https://host:port"
                )));
            }
            None
        }
        Some("https") => {
            Some(cfg.grpc_tls.load(["--grpc-ca", "--grpc-client-cert", "--grpc-client-key"])?)
        }
        _ => {
            return Err(Error::Config(format!(
                "grpc endpoints must be http://host:port or https://host:port URLs, got {url:?}"
            )));
        }
    };
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|source| Error::Endpoint { endpoint: url.to_owned(), source })?
        .connect_timeout(cfg.request_timeout.min(CONNECT_TIMEOUT))
        .tcp_nodelay(true);
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|source| Error::Endpoint { endpoint: url.to_owned(), source })?;
    }
    Ok(endpoint.connect_lazy())
}

/// Gives error responses made by a layer or the router (413, 405, 415,
/// timeout) the same JSON body as the handlers' errors.
fn json_errors(res: Response, max_body: usize, timeout: Duration) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (parts, _) = res.into_parts();
    let mut json = ApiError::for_layer_status(status, max_body, timeout).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().append(name, value.clone());
        }
    }
    json
}
