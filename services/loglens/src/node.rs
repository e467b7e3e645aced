//! One composed node: every serving role of the binary is a preset of the
//! components below, started from one validated [`NodeConfig`] and stopped in
//! one documented order.
//!
//! Components: the gRPC server (ingest, query/stats, health, reflection,
//! gRPC-web), the Kafka processor, the REST gateway, the syslog listener
//! (UDP and TCP) and the demo generator, over an optional store.
//! `standalone` runs all of them.
//!
//! With TLS (`--tls-cert`/`--tls-key`) the gRPC and REST listeners share one
//! certificate; the node's own clients (its gateway, `--demo`) then reach
//! its gRPC server in memory instead of over TCP.
//!
//! Shutdown order, once the shutdown future resolves (SIGTERM, Ctrl-C):
//! 1. stop intake: the sources stop first while ingest still takes their
//!    last batches (the syslog listener closes its sockets and hands over
//!    what it holds, the demo generator stops, the REST gateway stops
//!    accepting and finishes the requests it has); then ingest over gRPC
//!    answers UNAVAILABLE to new batches (batches already taken finish);
//! 2. flush the Kafka producer of the ingest sink;
//! 3. drain the processor: it stops polling, indexes what it read and
//!    commits those offsets;
//! 4. stop the gRPC server, awaiting the calls in flight (a few seconds'
//!    grace, then open connections are closed);
//! 5. close the store (the last commit; acknowledged records are durable
//!    before this, in the write-ahead log);
//! 6. the caller flushes telemetry.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use loglens_core::RuleSet;
use loglens_core::budget::ByteBudget;
use loglens_core::ledger::LedgerView;
use loglens_gateway::{GatewayConfig, InProcess, LocalIngest};
use loglens_ingest::{IngestApi, KafkaSink, RecordSink, StoreSink};
use loglens_kafka::KafkaOptions;
use loglens_processor::{Processor, ProcessorConfig};
use loglens_store::{LogStore, Refused, StoreOptions};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{grpc, obs, syslog};

/// How long the REST gateway may finish its requests at shutdown.
const GATEWAY_DRAIN: Duration = Duration::from_secs(10);
/// How long the syslog listener may hand its last batch to the sink.
const SYSLOG_DRAIN: Duration = Duration::from_secs(10);
/// How long the Kafka producer may deliver what it holds at shutdown.
const PRODUCER_FLUSH: Duration = Duration::from_secs(10);
/// How often the node checks the processor thread is alive.
const PROCESSOR_CHECK: Duration = Duration::from_secs(1);

/// Where a store lives and how it is tuned.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// A path, `tantivy:///dir` or `http(s)://[user:pass@]host:port`.
    pub url: String,
    /// Tuning shared by the backends.
    pub options: StoreOptions,
}

impl StoreConfig {
    /// The URL for messages, credentials masked.
    pub fn shown(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut u) if u.has_host() && (!u.username().is_empty() || u.password().is_some()) => {
                let _ = u.set_username("***");
                let _ = u.set_password(None);
                u.to_string()
            }
            _ => self.url.clone(),
        }
    }
}

/// Where accepted records go.
#[derive(Debug, Clone)]
pub enum IngestTo {
    /// Straight into the node's store (durable when acknowledged).
    Store,
    /// Produced to the raw topic (acknowledged once Kafka has them).
    Kafka(KafkaOptions),
}

/// The REST gateway component.
#[derive(Debug, Clone)]
pub struct GatewayComponent {
    /// Listen address.
    pub addr: SocketAddr,
    /// Its settings; with `grpc_endpoint: None` it talks to this node's
    /// gRPC server.
    pub config: GatewayConfig,
    /// The gRPC endpoint to transcode to; `None` means this node's.
    pub grpc_endpoint: Option<String>,
}

/// API keys on the node's entry points.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// The key file; `None` runs open.
    pub file: Option<PathBuf>,
    /// Rate limiting of failed attempts per client address.
    pub limits: loglens_auth::Limits,
}

/// How often the key file is checked for changes.
const AUTH_RELOAD_EVERY: Duration = Duration::from_secs(1);

/// Everything a node runs, validated once by [`NodeConfig::validate`].
#[derive(Debug)]
pub struct NodeConfig {
    /// The CLI role, for logs.
    pub role: &'static str,
    /// Anomaly rules for ingest and the processor.
    pub rules: Arc<RuleSet>,
    /// The store, for query, direct ingest and the processor.
    pub store: Option<StoreConfig>,
    /// The gRPC server's address, when it runs.
    pub grpc_addr: Option<SocketAddr>,
    /// The ingest service and its sink.
    pub ingest: Option<IngestTo>,
    /// Query and stats services over the store.
    pub query: bool,
    /// The Kafka processor indexing into the store.
    pub processor: Option<ProcessorConfig>,
    /// The REST gateway.
    pub gateway: Option<GatewayComponent>,
    /// The syslog listener's address (UDP and TCP), into the ingest sink.
    pub syslog: Option<SocketAddr>,
    /// Demo generator rate (records/s), sending to this node's gRPC ingest.
    pub demo_rate: Option<u64>,
    /// Print the standalone banner on stderr.
    pub banner: bool,
    /// Written once serving: the bound addresses as JSON.
    pub ready_file: Option<PathBuf>,
    /// Bytes of ingest requests the node holds at once, over every door
    /// (REST, drop-in, gRPC); beyond, ingest answers 429 /
    /// RESOURCE_EXHAUSTED with a retry-after.
    pub max_inflight_ingest_bytes: usize,
    /// API keys; open without a key file.
    pub auth: AuthSettings,
    /// TLS on the gRPC and REST listeners (one certificate for both);
    /// plaintext when `None`.
    pub tls: Option<loglens_tls::ServerTlsFiles>,
}

impl NodeConfig {
    /// Checks the components fit together; the message says what is missing.
    pub fn validate(self) -> anyhow::Result<NodeConfig> {
        let needs_store =
            self.query || self.processor.is_some() || matches!(self.ingest, Some(IngestTo::Store));
        if needs_store && self.store.is_none() {
            bail!("the {} role needs a store (--data-dir or --store)", self.role);
        }
        if (self.query || self.ingest.is_some()) && self.grpc_addr.is_none() {
            bail!("the {} role serves gRPC but has no --grpc-addr", self.role);
        }
        if let Some(g) = &self.gateway
            && g.grpc_endpoint.is_none()
            && self.grpc_addr.is_none()
        {
            bail!("the gateway needs --grpc-endpoint when this node serves no gRPC");
        }
        if self.syslog.is_some() && self.ingest.is_none() {
            bail!("--syslog-addr needs this node to ingest");
        }
        if self.demo_rate.is_some() && self.ingest.is_none() {
            bail!("--demo needs this node to ingest");
        }
        if self.tls.is_some() && self.grpc_addr.is_none() && self.gateway.is_none() {
            bail!(
                "--tls-cert is given but the {} role serves nothing (the processor serves with --serve)",
                self.role
            );
        }
        if let Some(t) = &self.tls
            && t.client_ca.is_some()
            && self.grpc_addr.is_none()
        {
            bail!(
                "--tls-client-ca applies to gRPC clients, but the {} role serves no gRPC",
                self.role
            );
        }
        if self.demo_rate.is_some() && self.auth.file.is_some() {
            bail!("--demo cannot be combined with --auth-file: the demo generator sends no key");
        }
        Ok(self)
    }
}

/// Refuses new batches once intake stops; batches already taken finish.
struct Intake {
    sink: Arc<dyn RecordSink>,
    stopped: CancellationToken,
}

impl Intake {
    /// Whether a new batch may still come in.
    fn open(&self) -> loglens_core::Result<()> {
        if self.stopped.is_cancelled() {
            return Err(loglens_core::Error::Unavailable(
                "loglens is shutting down; retry against another instance or after restart".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl RecordSink for Intake {
    async fn send(
        &self,
        records: Vec<loglens_core::LogRecord>,
        traceparent: Option<&str>,
    ) -> loglens_core::Result<Vec<Refused>> {
        self.open()?;
        self.sink.send(records, traceparent).await
    }

    async fn send_normalized(
        &self,
        batch: loglens_core::Normalized,
        traceparent: Option<&str>,
    ) -> loglens_core::Result<Vec<Refused>> {
        self.open()?;
        self.sink.send_normalized(batch, traceparent).await
    }

    fn name(&self) -> &'static str {
        self.sink.name()
    }
}

/// The gateway's door to this node's ingest service: the same rules,
/// metrics, gate and sink as gRPC `Ingest`, called directly.
struct InProcessIngest(IngestApi);

#[async_trait]
impl LocalIngest for InProcessIngest {
    async fn ingest(
        &self,
        records: Vec<loglens_core::RawLog>,
        traceparent: Option<&str>,
    ) -> loglens_core::Result<(u32, Vec<loglens_core::Rejection>)> {
        // The gateway's key check ran in this task: the records are its
        // caller's tenant's.
        let tenant = loglens_ingest::caller_tenant(loglens_gateway::current_principal().as_ref());
        self.0.ingest_local(records, traceparent, &tenant).await
    }
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| format!("binding the {what} address {addr}"))
}

fn write_ready(path: &Option<PathBuf>, mut body: serde_json::Value) -> anyhow::Result<()> {
    if let (Some(addr), Some(fields)) = (obs::metrics_addr(), body.as_object_mut()) {
        fields.insert("metrics".into(), addr.to_string().into());
    }
    if let Some(path) = path {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, body.to_string())
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Runs the node until `shutdown` resolves, then stops it in the order of
/// the module docs. An error from any component stops the node too.
pub async fn run(
    config: NodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = config.validate()?;
    // Read the certificate files before anything else: a bad file fails at once.
    let tls = config.tls.as_ref().map(loglens_tls::ServerTlsFiles::load).transpose()?;
    // Bind first: a taken port fails before anything is opened.
    let grpc_listener = match config.grpc_addr {
        Some(addr) => Some(bind(addr, "gRPC").await?),
        None => None,
    };
    let http_listener = match &config.gateway {
        Some(g) => Some(bind(g.addr, "HTTP").await?),
        None => None,
    };
    let syslog_sockets = match config.syslog {
        Some(addr) => Some(syslog::Sockets::bind(addr).await?),
        None => None,
    };
    let syslog_addr = syslog_sockets.as_ref().map(syslog::Sockets::local_addr).transpose()?;
    let grpc_addr = grpc_listener.as_ref().map(TcpListener::local_addr).transpose()?;
    let http_addr = http_listener.as_ref().map(TcpListener::local_addr).transpose()?;

    let auth = match &config.auth.file {
        Some(file) => {
            let auth = loglens_auth::Authenticator::load(file, config.auth.limits)
                .context("loading the auth key file (--auth-file)")?;
            auth.spawn_watch(AUTH_RELOAD_EVERY);
            Some(auth)
        }
        None => None,
    };
    // One bucket per tenant for every ingest door of this node.
    let tenant_limit = auth.as_ref().map(|a| {
        Arc::new(loglens_auth::IngestLimiter::new(a.clone()))
            as Arc<dyn loglens_ingest::TenantLimit>
    });
    // The key file's per-tenant retention reaches the store now and after
    // every reload.
    if let (Some(auth), Some(s)) = (&auth, &config.store) {
        let handle = s.options.tenant_retention.clone();
        handle.set(auth.retention_overrides());
        let mut changes = auth.subscribe();
        let auth = Arc::downgrade(auth);
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let Some(auth) = auth.upgrade() else { break };
                handle.set(auth.retention_overrides());
            }
        });
    }

    let store: Option<Arc<dyn LogStore>> = match &config.store {
        Some(s) => {
            let store = loglens_store::open(&s.url, s.options.clone())
                .await
                .with_context(|| format!("opening the store {}", s.shown()))?;
            obs::watch_store(&store);
            Some(store)
        }
        None => None,
    };

    let processor = match (&config.processor, &store) {
        (Some(p), Some(store)) => Some(
            Processor::start(p.clone(), store.clone()).await.context("starting the processor")?,
        ),
        _ => None,
    };

    // Sources (gateway, generator, syslog) stop before the intake gate closes.
    let sources = CancellationToken::new();
    let intake = CancellationToken::new();
    let servers = CancellationToken::new();
    let mut producer: Option<Arc<KafkaSink>> = None;
    let sink: Option<Arc<dyn RecordSink>> = match &config.ingest {
        None => None,
        Some(IngestTo::Store) => {
            let store = store.clone().context("direct ingest needs a store")?;
            Some(Arc::new(StoreSink(store)))
        }
        Some(IngestTo::Kafka(kafka)) => {
            loglens_kafka::topics::ensure_topics(kafka)
                .await
                .context("creating the Kafka topics")?;
            let k = Arc::new(KafkaSink::new(kafka).context("creating the Kafka producer")?);
            producer = Some(k.clone());
            Some(k)
        }
    };
    let sink =
        sink.map(|sink| Arc::new(Intake { sink, stopped: intake.clone() }) as Arc<dyn RecordSink>);
    // One load-shedding budget for every ingest door of the node.
    let budget = ByteBudget::new(config.max_inflight_ingest_bytes);

    let grpc_incoming = grpc_listener
        .map(|l| loglens_tls::Incoming::accept(l, tls.as_ref().map(|t| t.grpc.clone())));
    // Over TLS, this node's own clients (the gateway, the demo generator)
    // reach its gRPC server in memory: no certificate to match, no client
    // certificate to present.
    let own_grpc = match (&grpc_incoming, &tls) {
        (Some(incoming), Some(_)) => Some(in_process_channel(incoming.pipe())),
        _ => None,
    };
    let grpc_task: Option<JoinHandle<anyhow::Result<()>>> = grpc_incoming.map(|listener| {
        let services = grpc::Services {
            store: if config.query { store.clone() } else { None },
            sink: sink.clone(),
            rules: config.rules.clone(),
            ledger: processor.as_ref().map(|p| p.ledger() as Arc<dyn LedgerView>),
            budget: budget.clone(),
            auth: auth.clone(),
            tenant_limit: tenant_limit.clone(),
        };
        tokio::spawn(grpc::serve(listener, services, servers.clone().cancelled_owned()))
    });

    let http_task: Option<JoinHandle<anyhow::Result<()>>> = match (http_listener, &config.gateway) {
        (Some(listener), Some(g)) => {
            let mut cfg = g.config.clone();
            cfg.grpc_endpoint = match (&g.grpc_endpoint, grpc_addr) {
                (Some(e), _) => e.clone(),
                (None, Some(a)) if tls.is_some() => format!("https://{a}"),
                (None, Some(a)) => format!("http://{a}"),
                (None, None) => unreachable!("validated: the gateway has an endpoint"),
            };
            // A gateway transcoding to this node's own ingest calls it in
            // process: no proto conversion, no gRPC round trip.
            let ingest = match (&g.grpc_endpoint, &cfg.ingest_endpoint, &sink) {
                (None, None, Some(sink)) => Some(Arc::new(InProcessIngest(grpc::ingest_api(
                    sink.clone(),
                    config.rules.clone(),
                    tenant_limit.as_ref(),
                ))) as Arc<dyn LocalIngest>),
                _ => None,
            };
            let shared = InProcess { ingest, budget: Some(budget.clone()), ..InProcess::default() };
            let shared = InProcess { auth: auth.clone(), ..shared };
            let own = if g.grpc_endpoint.is_none() { own_grpc.clone() } else { None };
            let shared = InProcess { grpc: own, ..shared };
            let stop = sources.clone().cancelled_owned();
            let rest_tls = tls.as_ref().map(|t| t.rest.clone());
            Some(tokio::spawn(async move {
                loglens_gateway::serve_tls(listener, rest_tls, cfg, shared, stop)
                    .await
                    .map_err(anyhow::Error::from)
            }))
        }
        _ => None,
    };

    let syslog_task = match (syslog_sockets, &sink) {
        (Some(sockets), Some(sink)) => Some(syslog::spawn(
            sockets,
            sink.clone(),
            config.rules.clone(),
            budget.clone(),
            sources.clone(),
        )),
        _ => None,
    };

    let mut ready = serde_json::Map::new();
    if let Some(a) = grpc_addr {
        ready.insert("grpc".into(), a.to_string().into());
    }
    if let Some(a) = http_addr {
        ready.insert("http".into(), a.to_string().into());
    }
    if let Some(a) = syslog_addr {
        ready.insert("syslog".into(), a.to_string().into());
    }
    if tls.is_some() {
        ready.insert("tls".into(), true.into());
    }
    let backend = store.as_ref().map(|s| s.backend());
    announce(&config, backend, grpc_addr, http_addr, syslog_addr);
    announce_auth(&config, auth.as_deref(), grpc_addr, http_addr, syslog_addr);
    write_ready(&config.ready_file, ready.into())?;

    let demo_task = match (config.demo_rate, grpc_addr) {
        (Some(rate), Some(addr)) => {
            Some(start_demo(rate, addr, own_grpc.clone(), http_addr, &sources))
        }
        _ => None,
    };

    // Run until asked to stop, or until a component fails.
    let mut grpc_task = grpc_task;
    let mut http_task = http_task;
    let failure: Option<anyhow::Error> = tokio::select! {
        _ = shutdown => {
            tracing::info!(role = config.role, "shutting down");
            None
        }
        r = join_opt(&mut grpc_task) => {
            grpc_task = None;
            Some(r.err().unwrap_or_else(|| anyhow::anyhow!("the gRPC server stopped unexpectedly")))
        }
        r = join_opt(&mut http_task) => {
            http_task = None;
            Some(r.err().unwrap_or_else(|| anyhow::anyhow!("the REST gateway stopped unexpectedly")))
        }
        _ = processor_died(processor.as_ref()) => {
            Some(anyhow::anyhow!("the processor stopped unexpectedly"))
        }
    };
    if let Some(e) = &failure {
        tracing::error!(error = %e, "a component failed; stopping the node");
    }

    // 1. Stop intake: the sources stop and hand over what they hold while
    // ingest still takes it; then the gate closes.
    sources.cancel();
    if let Some(t) = syslog_task
        && tokio::time::timeout(SYSLOG_DRAIN, t).await.is_err()
    {
        tracing::warn!("syslog listener still busy {SYSLOG_DRAIN:?} after shutdown began");
    }
    if let Some(t) = demo_task {
        let _ = t.await;
    }
    if let Some(t) = http_task.take() {
        match tokio::time::timeout(GATEWAY_DRAIN, t).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "gateway stopped with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "gateway task failed"),
            Err(_) => tracing::warn!("gateway still busy {GATEWAY_DRAIN:?} after shutdown began"),
        }
    }
    intake.cancel();
    // 2. Flush the producer.
    if let Some(p) = producer {
        let flushed = tokio::task::spawn_blocking(move || p.flush(PRODUCER_FLUSH)).await;
        if let Ok(Err(e)) = flushed {
            tracing::warn!(error = %e, "flushing the Kafka producer at shutdown");
        }
    }
    // 3. Drain the processor.
    let mut result: anyhow::Result<()> = Ok(());
    if let Some(p) = processor {
        tracing::info!("draining the processor: indexing and committing what was read");
        if let Err(e) = p.stop().await {
            result = Err(anyhow::Error::from(e).context("stopping the processor"));
        }
    }
    // 4. Stop the gRPC server, awaiting its calls in flight.
    servers.cancel();
    if let Some(t) = grpc_task.take() {
        match t.await {
            Ok(Ok(())) => tracing::info!("grpc server drained"),
            Ok(Err(e)) => tracing::warn!(error = %e, "grpc server stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "grpc server task failed"),
        }
    }
    // 5. Close the store.
    if let Some(store) = store {
        store.close().await.context("closing the store")?;
        tracing::info!("store closed");
    }
    tracing::info!(role = config.role, "stopped");
    match failure {
        Some(e) => Err(e),
        None => result,
    }
}

/// Awaits the task if there is one; pending for ever otherwise.
async fn join_opt(task: &mut Option<JoinHandle<anyhow::Result<()>>>) -> anyhow::Result<()> {
    match task {
        Some(t) => match t.await {
            Ok(r) => r,
            Err(e) => Err(anyhow::Error::from(e)),
        },
        None => std::future::pending().await,
    }
}

/// Resolves when the processor thread ended by itself; pending without one.
async fn processor_died(processor: Option<&Processor>) {
    let Some(p) = processor else { return std::future::pending().await };
    let mut tick = tokio::time::interval(PROCESSOR_CHECK);
    loop {
        tick.tick().await;
        if p.is_finished() {
            return;
        }
    }
}

/// A gRPC channel to this node's own server through `pipe`, in memory.
fn in_process_channel(pipe: loglens_tls::Pipe) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_static("http://in-process.loglens")
        .connect_with_connector_lazy(tower::service_fn(move |_: http::Uri| {
            let pipe = pipe.clone();
            async move { pipe.connect().await.map(hyper_util::rt::TokioIo::new) }
        }))
}

fn start_demo(
    rate: u64,
    grpc_addr: SocketAddr,
    own_grpc: Option<tonic::transport::Channel>,
    http_addr: Option<SocketAddr>,
    sources: &CancellationToken,
) -> JoinHandle<()> {
    let cfg = loglens_generator::RunConfig { rate, progress: false, ..Default::default() };
    let (target, scheme) = match own_grpc {
        Some(c) => (Ok(loglens_generator::GrpcTarget::from_channel("in-process", c)), "https"),
        None => (loglens_generator::GrpcTarget::new(&format!("grpc://{grpc_addr}")), "http"),
    };
    let stop = sources.clone().cancelled_owned();
    match http_addr {
        Some(h) => eprintln!(
            "  demo     generating {rate} records/s (try: curl '{scheme}://{h}/logs/anomalies?size=5')"
        ),
        None => eprintln!("  demo     generating {rate} records/s"),
    }
    tokio::spawn(async move {
        let run = match target {
            Ok(t) => loglens_generator::run(cfg, t, stop).await,
            Err(e) => Err(e),
        };
        match run {
            Ok(report) => {
                tracing::info!(
                    sent = report.sent,
                    accepted = report.accepted,
                    "demo generator stopped"
                )
            }
            Err(e) => tracing::error!(error = %e, "demo generator failed"),
        }
    })
}

/// The startup log line, and the banner for people.
fn announce(
    config: &NodeConfig,
    backend: Option<&'static str>,
    grpc: Option<SocketAddr>,
    http: Option<SocketAddr>,
    syslog: Option<SocketAddr>,
) {
    let store = config.store.as_ref().map(StoreConfig::shown);
    tracing::info!(
        role = config.role,
        grpc = ?grpc,
        http = ?http,
        syslog = ?syslog,
        store = ?store,
        backend = ?backend,
        ingest = ?config.ingest.as_ref().map(|i| match i { IngestTo::Store => "store", IngestTo::Kafka(_) => "kafka" }),
        processor = config.processor.is_some(),
        tls = config.tls.is_some(),
        "loglens {} serving", config.role
    );
    if !config.banner {
        return;
    }
    eprintln!("loglens {}", config.role);
    let (scheme, grpc_tls) = match &config.tls {
        Some(t) if t.client_ca.is_some() => ("https", ", TLS with client certificates"),
        Some(_) => ("https", ", TLS"),
        None => ("http", ""),
    };
    if let Some(h) = http {
        eprintln!(
            "  REST     {scheme}://{h}  (web UI: {scheme}://{h}/, docs: {scheme}://{h}/docs)"
        );
    }
    if let Some(g) = grpc {
        eprintln!("  gRPC     {g}  (reflection on{grpc_tls})");
    }
    if let Some(s) = syslog {
        eprintln!("  syslog   {s}  (UDP and TCP, RFC 5424 and 3164)");
    }
    if let Some(s) = &store {
        // Which store a plain path opened: a hybrid one, or the Tantivy
        // store a directory made before already holds.
        match backend {
            Some(b) => eprintln!("  store    {s}  ({b})"),
            None => eprintln!("  store    {s}"),
        }
    }
    if let Some(m) = obs::metrics_addr() {
        eprintln!("  metrics  http://{m}/metrics");
    }
    if let (Some(IngestTo::Kafka(k)), Some(p)) = (&config.ingest, &config.processor) {
        eprintln!("  kafka    {} (topic {}, group {})", k.bootstrap, k.raw_topic, p.group);
    }
}

/// Says whether keys guard the entry points; warns loudly when an open node
/// listens beyond loopback, and that syslog carries no credentials.
fn announce_auth(
    config: &NodeConfig,
    auth: Option<&loglens_auth::Authenticator>,
    grpc: Option<SocketAddr>,
    http: Option<SocketAddr>,
    syslog: Option<SocketAddr>,
) {
    match auth {
        Some(a) => {
            let line = format!("auth: keys from {} ({} keys)", a.path().display(), a.active_keys());
            tracing::info!(file = %a.path().display(), keys = a.active_keys(), "{line}");
            if config.banner {
                eprintln!("  {line}");
            }
            if let Some(s) = syslog {
                tracing::warn!(
                    addr = %s,
                    "syslog is unauthenticated (it cannot carry keys); bind --syslog-addr to a trusted address"
                );
            }
        }
        None => {
            let line = "auth: OFF — anyone who can reach these ports can read and write";
            tracing::info!("{line}");
            if config.banner {
                eprintln!("  {line}");
            }
            let exposed: Vec<SocketAddr> =
                [grpc, http].into_iter().flatten().filter(|a| !a.ip().is_loopback()).collect();
            if !exposed.is_empty() {
                let list: Vec<String> = exposed.iter().map(ToString::to_string).collect();
                tracing::warn!(
                    addrs = %list.join(", "),
                    "AUTH IS OFF AND LOGLENS LISTENS BEYOND LOOPBACK: anyone on the network can read and write all logs; give --auth-file"
                );
                eprintln!(
                    "WARNING: auth is OFF and loglens listens on {} — anyone on the network can read and write all logs; create keys with `loglens keys create` and pass --auth-file",
                    list.join(", ")
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use loglens_core::{LogRecord, Normalized, RawLog, RuleSet};

    use super::*;

    /// Counts the batches each door of the sink was handed.
    #[derive(Default)]
    struct Doors {
        plain: AtomicUsize,
        normalized: AtomicUsize,
    }

    #[async_trait]
    impl RecordSink for Doors {
        async fn send(
            &self,
            _: Vec<LogRecord>,
            _: Option<&str>,
        ) -> loglens_core::Result<Vec<Refused>> {
            self.plain.fetch_add(1, Ordering::SeqCst);
            Ok(Vec::new())
        }

        async fn send_normalized(
            &self,
            _: Normalized,
            _: Option<&str>,
        ) -> loglens_core::Result<Vec<Refused>> {
            self.normalized.fetch_add(1, Ordering::SeqCst);
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn the_intake_gate_passes_normalised_batches_on_as_such_until_it_stops() {
        let doors = Arc::new(Doors::default());
        let intake = Intake { sink: doors.clone(), stopped: CancellationToken::new() };
        let raw = RawLog::from_json(br#"{"service_name":"s","message":"m"}"#).unwrap();
        let (batch, _) = Normalized::of(vec![raw], 0, 1, &RuleSet::default());
        intake.send_normalized(batch.clone(), None).await.unwrap();
        assert_eq!(doors.normalized.load(Ordering::SeqCst), 1);
        assert_eq!(doors.plain.load(Ordering::SeqCst), 0, "the promise is kept, not dropped");
        intake.stopped.cancel();
        let err = intake.send_normalized(batch, None).await.unwrap_err();
        assert!(err.to_string().contains("shutting down"), "{err}");
        assert_eq!(doors.normalized.load(Ordering::SeqCst), 1);
    }
}
