//! `loglens`: real-time log analytics, one binary with a subcommand per role.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use loglens_core::RuleSet;
use loglens_core::ledger::LedgerView;
use loglens_ingest::{RecordSink, StoreSink};
use loglens_store::StoreOptions;
use tokio::net::TcpListener;
use tokio::sync::watch;

mod grpc;
mod obs;

/// Real-time log analytics: ingest structured JSON logs, score anomalies,
/// search and aggregate them over gRPC and REST.
///
/// Start with `loglens standalone --demo`: everything in one process, with
/// simulated traffic, REST on http://127.0.0.1:8000 (docs at /docs) and gRPC
/// on 127.0.0.1:50051.
#[derive(Parser, Debug)]
#[command(version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log filter, e.g. `info`, `loglens=debug,tower_http=debug`.
    #[arg(long, global = true, env = "RUST_LOG", default_value = "info")]
    log: String,
    /// Where serving roles answer `GET /metrics` (Prometheus text); port 0
    /// picks a free port.
    #[arg(long, global = true, env = "LOGLENS_METRICS_ADDR", default_value = "127.0.0.1:9464")]
    metrics_addr: SocketAddr,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Everything in one process: ingest, index, query, stats and the REST
    /// gateway, on a Tantivy index in --data-dir. No Kafka or Elasticsearch.
    Standalone(StandaloneArgs),
    /// The gRPC query role: search, anomalies, tail and stats over the index in
    /// --data-dir. With the embedded Tantivy store this role owns the index,
    /// so it also serves IngestService.
    Query(QueryArgs),
    /// The REST gateway: transcodes the JSON routes to a gRPC endpoint.
    Gateway(GatewayArgs),
    /// Simulated microservice logs, sent to a target at a set rate.
    Generate(GenerateArgs),
    /// The Kafka path's front door: the gRPC IngestService validates records
    /// and produces them to the raw topic, answering once Kafka acknowledged.
    Ingest(IngestArgs),
    /// Consumes the raw topic in a consumer group, indexes into --data-dir,
    /// dead-letters bad records, commits offsets after indexing. With
    /// --serve it also answers queries over the same index.
    Processor(ProcessorArgs),
    /// Benchmarks each speed figure beside a ceiling measured in the same
    /// run (parse, raw Tantivy vs the store, Kafka end to end vs raw
    /// rdkafka, time-to-search, queries, standalone peak RSS, index size)
    /// and prints a table and a JSON line. About 3.5 minutes with the
    /// defaults on 2 cores; see BENCHMARKS.md.
    Bench(loglens_bench::BenchArgs),
}

#[derive(Args, Debug, Clone)]
struct KafkaArgs {
    /// Topic of raw records.
    #[arg(long, env = "KAFKA_TOPIC", default_value = "logs_raw")]
    kafka_topic: String,
    /// Dead-letter topic.
    #[arg(long, env = "KAFKA_DLQ_TOPIC", default_value = "logs_dlq")]
    kafka_dlq_topic: String,
    /// Partitions of topics created at start (1-1000).
    #[arg(long, env = "KAFKA_PARTITIONS", default_value_t = 3,
          value_parser = clap::value_parser!(i32).range(1..=1000))]
    kafka_partitions: i32,
    /// Producer compression: snappy, lz4, zstd or none.
    #[arg(long, env = "KAFKA_COMPRESSION", default_value = "snappy")]
    kafka_compression: loglens_kafka::Compression,
    /// Most records per produce request.
    #[arg(long, env = "KAFKA_LOG_BATCH_SIZE", default_value_t = 10_000)]
    kafka_batch_size: usize,
    /// How long the producer waits to fill a batch, ms.
    #[arg(long, env = "KAFKA_LOG_FLUSH_INTERVAL_MS", default_value_t = 5)]
    kafka_flush_interval_ms: u64,
    /// Records the producer may hold unacknowledged; beyond, ingest answers
    /// RESOURCE_EXHAUSTED (HTTP 429).
    #[arg(long, env = "KAFKA_QUEUE_MAX_MESSAGES", default_value_t = 100_000)]
    kafka_queue_max_messages: usize,
}

impl KafkaArgs {
    fn options(&self, bootstrap: &str) -> loglens_kafka::KafkaOptions {
        loglens_kafka::KafkaOptions {
            raw_topic: self.kafka_topic.clone(),
            dlq_topic: self.kafka_dlq_topic.clone(),
            partitions: self.kafka_partitions,
            compression: self.kafka_compression,
            batch_size: self.kafka_batch_size,
            flush_interval_ms: self.kafka_flush_interval_ms,
            queue_max_messages: self.kafka_queue_max_messages,
            ..loglens_kafka::KafkaOptions::new(bootstrap)
        }
    }
}

#[derive(Args, Debug, Clone)]
struct ConsumeArgs {
    /// Consumer group of the processors.
    #[arg(long, env = "KAFKA_CONSUMER_GROUP", default_value = "log_processor_group")]
    consumer_group: String,
    /// Most records indexed in one batch (1-100000).
    #[arg(long, env = "ELASTIC_BULK_SIZE", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    bulk_size: u64,
    /// Longest a record waits for its batch to fill, seconds (e.g. 0.5).
    #[arg(long, env = "ELASTIC_BULK_TIMEOUT_S", default_value_t = 0.5)]
    bulk_timeout_s: f64,
}

impl ConsumeArgs {
    fn config(
        &self,
        kafka: loglens_kafka::KafkaOptions,
        rules: Arc<RuleSet>,
    ) -> anyhow::Result<loglens_processor::ProcessorConfig> {
        if !(self.bulk_timeout_s.is_finite()
            && self.bulk_timeout_s > 0.0
            && self.bulk_timeout_s <= 600.0)
        {
            bail!(
                "--bulk-timeout-s must be between 0 and 600 seconds, got {}",
                self.bulk_timeout_s
            );
        }
        Ok(loglens_processor::ProcessorConfig {
            kafka,
            group: self.consumer_group.clone(),
            bulk_size: self.bulk_size as usize,
            bulk_timeout: Duration::from_secs_f64(self.bulk_timeout_s),
            rules,
        })
    }
}

#[derive(Args, Debug)]
struct IngestArgs {
    /// gRPC address (port 0 picks a free port).
    #[arg(long, env = "LOGLENS_GRPC_ADDR", default_value = "127.0.0.1:50052")]
    grpc_addr: SocketAddr,
    /// Kafka brokers, HOST:PORT[,HOST:PORT...].
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    kafka: String,
    #[command(flatten)]
    kafka_args: KafkaArgs,
    #[command(flatten)]
    rules: RuleArgs,
    /// Write {"grpc": "HOST:PORT"} here once serving.
    #[arg(long, env = "LOGLENS_READY_FILE")]
    ready_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ProcessorArgs {
    /// Kafka brokers, HOST:PORT[,HOST:PORT...].
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    kafka: String,
    #[command(flatten)]
    kafka_args: KafkaArgs,
    #[command(flatten)]
    consume: ConsumeArgs,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    rules: RuleArgs,
    /// Also serve gRPC query, stats and the ledger over this processor's index
    /// (the embedded index can only be opened by one process).
    #[arg(long, env = "LOGLENS_SERVE")]
    serve: bool,
    /// gRPC address with --serve (port 0 picks a free port).
    #[arg(long, env = "LOGLENS_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    grpc_addr: SocketAddr,
    /// Write {"grpc": "HOST:PORT"} (with --serve) here once consuming.
    #[arg(long, env = "LOGLENS_READY_FILE")]
    ready_file: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
struct StoreArgs {
    /// Directory of the embedded index and its write-ahead log.
    #[arg(long, env = "LOGLENS_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Where records live instead of --data-dir: an Elasticsearch or
    /// OpenSearch cluster, http(s)://[USER:PASSWORD@]HOST:PORT, or
    /// tantivy:///DIR.
    #[arg(long, env = "LOGLENS_STORE")]
    store: Option<String>,
    /// Elasticsearch host; with ELASTIC_SCHEME and ELASTIC_PORT an alternative
    /// to --store.
    #[arg(long, env = "ELASTIC_HOST", conflicts_with = "store")]
    elastic_host: Option<String>,
    /// Elasticsearch scheme, http or https (with --elastic-host).
    #[arg(long, env = "ELASTIC_SCHEME", default_value = "http", value_parser = ["http", "https"])]
    elastic_scheme: String,
    /// Elasticsearch port (with --elastic-host).
    #[arg(long, env = "ELASTIC_PORT", default_value_t = 9200)]
    elastic_port: u16,
    /// Elasticsearch index prefix: daily indices PREFIX-YYYY.MM.DD, read
    /// through PREFIX-* (the Kibana data view's pattern).
    #[arg(long, env = "ELASTIC_INDEX_NAME", default_value = "logs")]
    elastic_index_name: String,
    /// How often newly ingested records become searchable, ms (100-60000).
    #[arg(long, env = "LOGLENS_REFRESH_INTERVAL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    refresh_interval_ms: u64,
    /// Indexing threads (1-8).
    #[arg(long, env = "LOGLENS_INDEXING_THREADS", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=8))]
    indexing_threads: u64,
    /// Delete whole UTC days once they ended this many days ago (1-3650);
    /// unset keeps everything.
    #[arg(long, env = "LOGLENS_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
    retention_days: Option<u32>,
}

impl StoreArgs {
    async fn open(&self) -> anyhow::Result<Arc<dyn loglens_store::LogStore>> {
        let options = StoreOptions {
            refresh_interval_ms: self.refresh_interval_ms,
            indexing_threads: self.indexing_threads as usize,
            retention_days: self.retention_days,
            index_prefix: self.elastic_index_name.clone(),
            ..StoreOptions::default()
        };
        let url = self.url()?;
        loglens_store::open(&url, options)
            .await
            .with_context(|| format!("opening the store {}", self.shown()))
    }

    /// The store URL: --store, the ELASTIC_* parts, or --data-dir.
    fn url(&self) -> anyhow::Result<String> {
        Ok(match (&self.store, &self.elastic_host) {
            (Some(url), _) => url.clone(),
            (None, Some(host)) => format!("{}://{host}:{}", self.elastic_scheme, self.elastic_port),
            (None, None) => {
                self.data_dir.to_str().context("--data-dir must be valid UTF-8")?.to_owned()
            }
        })
    }

    /// The store URL for messages: credentials embedded in it are masked.
    fn shown(&self) -> String {
        let url = self.url().unwrap_or_else(|_| self.data_dir.display().to_string());
        match url
            .split_once("://")
            .and_then(|(scheme, rest)| rest.split_once('@').map(|(_, h)| (scheme, h)))
        {
            Some((scheme, host)) => format!("{scheme}://***@{host}"),
            None => url,
        }
    }
}

#[derive(Args, Debug, Clone)]
struct RuleArgs {
    /// TOML file re-tuning the anomaly rules (see README, "Anomaly rules").
    #[arg(long, env = "LOGLENS_RULES")]
    rules: Option<PathBuf>,
    /// Override: lowest HTTP status that is anomalous (100-599; default 400).
    #[arg(long, env = "LOGLENS_RULE_MIN_STATUS")]
    rule_min_status: Option<u16>,
    /// Override: response time above which a record is slow, ms (default 3000).
    #[arg(long, env = "LOGLENS_RULE_SLOW_MS")]
    rule_slow_ms: Option<f64>,
    /// Turn a rule off: error_level, http_status, slow_response, error_code.
    /// Repeatable, or comma-separated.
    #[arg(long, env = "LOGLENS_DISABLE_RULES", value_delimiter = ',')]
    disable_rule: Vec<String>,
}

impl RuleArgs {
    fn load(&self) -> anyhow::Result<Arc<RuleSet>> {
        let mut rules = match &self.rules {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading rules file {}", path.display()))?;
                RuleSet::from_toml(&text)
                    .with_context(|| format!("in rules file {}", path.display()))?
            }
            None => RuleSet::default(),
        };
        if let Some(s) = self.rule_min_status {
            rules.http_status.min_status = s;
        }
        if let Some(t) = self.rule_slow_ms {
            rules.slow_response.threshold_ms = t;
        }
        for id in &self.disable_rule {
            match id.trim() {
                loglens_core::rules::ERROR_LEVEL => rules.error_level.enabled = false,
                loglens_core::rules::HTTP_STATUS => rules.http_status.enabled = false,
                loglens_core::rules::SLOW_RESPONSE => rules.slow_response.enabled = false,
                loglens_core::rules::ERROR_CODE => rules.error_code.enabled = false,
                other => bail!(
                    "--disable-rule must be one of error_level, http_status, slow_response, error_code, got {other:?}"
                ),
            }
        }
        rules.validate()?;
        Ok(Arc::new(rules))
    }
}

#[derive(Args, Debug)]
struct StandaloneArgs {
    /// gRPC address (port 0 picks a free port).
    #[arg(long, env = "LOGLENS_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    grpc_addr: SocketAddr,
    /// REST gateway address (port 0 picks a free port).
    #[arg(long, env = "LOGLENS_HTTP_ADDR", default_value = "127.0.0.1:8000")]
    http_addr: SocketAddr,
    /// Overrides the port of --http-addr (the seed's variable name).
    #[arg(long, env = "API_PORT")]
    api_port: Option<u16>,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    rules: RuleArgs,
    /// Run the Kafka path in-process: ingest produces to these brokers
    /// (HOST:PORT) and a processor indexes from them. Without it, ingest
    /// writes straight into the store.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    kafka: Option<String>,
    #[command(flatten)]
    kafka_args: KafkaArgs,
    #[command(flatten)]
    consume: ConsumeArgs,
    /// Also run the generator in-process, so there is live data to look at.
    #[arg(long, env = "LOGLENS_DEMO")]
    demo: bool,
    /// Records per second the demo generator sends.
    #[arg(long, env = "LOGLENS_DEMO_RATE", default_value_t = 200)]
    demo_rate: u64,
    /// Write {"grpc": "HOST:PORT", "http": "HOST:PORT"} here once serving.
    #[arg(long, env = "LOGLENS_READY_FILE")]
    ready_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct QueryArgs {
    /// gRPC address (port 0 picks a free port).
    #[arg(long, env = "LOGLENS_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    grpc_addr: SocketAddr,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    rules: RuleArgs,
    /// Write {"grpc": "HOST:PORT"} here once serving.
    #[arg(long, env = "LOGLENS_READY_FILE")]
    ready_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct GatewayArgs {
    /// REST address (port 0 picks a free port).
    #[arg(long, env = "LOGLENS_HTTP_ADDR", default_value = "127.0.0.1:8000")]
    http_addr: SocketAddr,
    /// Overrides the port of --http-addr (the seed's variable name).
    #[arg(long, env = "API_PORT")]
    api_port: Option<u16>,
    /// The gRPC services to transcode to.
    #[arg(long, env = "LOGLENS_GRPC_ENDPOINT", default_value = "http://127.0.0.1:50051")]
    grpc_endpoint: String,
    /// Where POST /logs goes when `loglens ingest` runs apart; default: --grpc-endpoint.
    #[arg(long, env = "LOGLENS_INGEST_ENDPOINT")]
    ingest_endpoint: Option<String>,
    /// Largest accepted request body, bytes.
    #[arg(long, env = "LOGLENS_MAX_BODY_BYTES", default_value_t = 16 << 20)]
    max_body_bytes: usize,
    /// Write {"http": "HOST:PORT"} here once serving.
    #[arg(long, env = "LOGLENS_READY_FILE")]
    ready_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct GenerateArgs {
    /// Where to send: grpc://HOST:PORT or kafka://HOST:PORT/TOPIC.
    #[arg(long, env = "LOGLENS_TARGET", default_value = "grpc://127.0.0.1:50051")]
    target: String,
    /// Records per second; 0 sends as fast as the target accepts.
    #[arg(long, env = "LOG_RATE", default_value_t = 1000)]
    rate: u64,
    /// Stop after this many records.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this long, e.g. 30s, 5m.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Records per request (1-10000).
    #[arg(long, env = "LOG_BATCH_SIZE", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    batch_size: u64,
    /// Send a partial batch after this many ms.
    #[arg(long, env = "LOG_FLUSH_INTERVAL_MS", default_value_t = 200)]
    flush_interval_ms: u64,
    /// Seed for reproducible records.
    #[arg(long)]
    seed: Option<u64>,
    /// Requests in flight at once (1-64).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    concurrency: u64,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

fn with_port(mut addr: SocketAddr, port: Option<u16>) -> SocketAddr {
    if let Some(p) = port {
        addr.set_port(p);
    }
    addr
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

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// A shutdown signal that several tasks can wait on.
fn shutdown_channel()
-> (watch::Sender<bool>, impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) {
    let (tx, rx) = watch::channel(false);
    let wait = move || {
        let mut rx = rx.clone();
        Box::pin(async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }) as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>
    };
    (tx, wait)
}

async fn standalone(args: StandaloneArgs) -> anyhow::Result<()> {
    let rules = args.rules.load()?;
    let grpc_listener = bind(args.grpc_addr, "gRPC").await?;
    let http_listener = bind(with_port(args.http_addr, args.api_port), "HTTP").await?;
    let grpc_addr = grpc_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;
    let store = args.store.open().await?;
    obs::watch_store(&store);

    let (sink, processor): (Arc<dyn RecordSink>, _) = match &args.kafka {
        Some(bootstrap) => {
            let kafka = args.kafka_args.options(bootstrap);
            let processor = loglens_processor::Processor::start(
                args.consume.config(kafka.clone(), rules.clone())?,
                store.clone(),
            )
            .await
            .context("starting the processor")?;
            (
                Arc::new(
                    loglens_ingest::KafkaSink::new(&kafka)
                        .context("creating the Kafka producer")?,
                ),
                Some(processor),
            )
        }
        None => (Arc::new(StoreSink(store.clone())), None),
    };
    let services = grpc::Services {
        store: Some(store.clone()),
        sink: Some(sink),
        rules,
        ledger: processor.as_ref().map(|p| p.ledger() as Arc<dyn LedgerView>),
    };
    let (stop, stopped) = shutdown_channel();
    let grpc_task = tokio::spawn(grpc::serve(grpc_listener, services, stopped()));
    let gateway_cfg = loglens_gateway::GatewayConfig {
        grpc_endpoint: format!("http://{grpc_addr}"),
        ..loglens_gateway::GatewayConfig::default()
    };
    let http_task = tokio::spawn(loglens_gateway::serve(http_listener, gateway_cfg, stopped()));
    let store_shown = args.store.shown();
    tracing::info!(%grpc_addr, %http_addr, store = %store_shown, "loglens standalone serving");
    eprintln!(
        "loglens standalone\n  REST     http://{http_addr}  (docs: http://{http_addr}/docs)\n  gRPC     {grpc_addr}  (reflection on)\n  store    {store_shown}"
    );
    if let Some(metrics) = obs::metrics_addr() {
        eprintln!("  metrics  http://{metrics}/metrics");
    }
    write_ready(
        &args.ready_file,
        serde_json::json!({ "grpc": grpc_addr.to_string(), "http": http_addr.to_string() }),
    )?;

    if let Some(k) = &args.kafka {
        eprintln!(
            "  kafka    {k} (topic {}, group {})",
            args.kafka_args.kafka_topic, args.consume.consumer_group
        );
    }
    let demo_task = args.demo.then(|| {
        let cfg = loglens_generator::RunConfig { rate: args.demo_rate, progress: false, ..Default::default() };
        let target = loglens_generator::GrpcTarget::new(&format!("grpc://{grpc_addr}"));
        let stop = stopped();
        eprintln!("  demo     generating {} records/s (try: curl 'http://{http_addr}/logs/anomalies?size=5')", args.demo_rate);
        tokio::spawn(async move {
            match target {
                Ok(t) => match loglens_generator::run(cfg, t, stop).await {
                    Ok(report) => tracing::info!(sent = report.sent, accepted = report.accepted, "demo generator stopped"),
                    Err(e) => tracing::error!(error = %e, "demo generator failed"),
                },
                Err(e) => tracing::error!(error = %e, "demo generator failed"),
            }
        })
    });

    tokio::select! {
        _ = shutdown_signal() => tracing::info!("shutting down"),
        r = grpc_task => { r??; bail!("gRPC server stopped unexpectedly") }
    }
    let _ = stop.send(true);
    if let Some(t) = demo_task {
        let _ = t.await;
    }
    if let Some(p) = processor {
        p.stop().await.context("stopping the processor")?;
    }
    if let Err(e) = http_task.await? {
        tracing::warn!(error = %e, "gateway stopped with an error");
    }
    store.close().await.context("closing the store")?;
    tracing::info!("stopped");
    Ok(())
}

async fn query(args: QueryArgs) -> anyhow::Result<()> {
    let rules = args.rules.load()?;
    let listener = bind(args.grpc_addr, "gRPC").await?;
    let grpc_addr = listener.local_addr()?;
    let store = args.store.open().await?;
    obs::watch_store(&store);
    tracing::info!(%grpc_addr, data_dir = %args.store.data_dir.display(), "loglens query serving");
    write_ready(&args.ready_file, serde_json::json!({ "grpc": grpc_addr.to_string() }))?;
    let services = grpc::Services {
        store: Some(store.clone()),
        sink: Some(Arc::new(StoreSink(store.clone()))),
        rules,
        ledger: None,
    };
    grpc::serve(listener, services, shutdown_signal()).await?;
    store.close().await.context("closing the store")?;
    Ok(())
}

async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    let rules = args.rules.load()?;
    let kafka = args.kafka_args.options(&args.kafka);
    loglens_kafka::topics::ensure_topics(&kafka).await.context("creating the Kafka topics")?;
    let listener = bind(args.grpc_addr, "gRPC").await?;
    let grpc_addr = listener.local_addr()?;
    let sink =
        Arc::new(loglens_ingest::KafkaSink::new(&kafka).context("creating the Kafka producer")?);
    tracing::info!(%grpc_addr, kafka = %args.kafka, topic = %kafka.raw_topic, "loglens ingest serving");
    write_ready(&args.ready_file, serde_json::json!({ "grpc": grpc_addr.to_string() }))?;
    let services = grpc::Services { store: None, sink: Some(sink.clone()), rules, ledger: None };
    grpc::serve(listener, services, shutdown_signal()).await?;
    if let Err(e) = sink.flush(Duration::from_secs(10)) {
        tracing::warn!(error = %e, "flushing the Kafka producer at shutdown");
    }
    Ok(())
}

async fn processor(args: ProcessorArgs) -> anyhow::Result<()> {
    let rules = args.rules.load()?;
    let kafka = args.kafka_args.options(&args.kafka);
    let listener = if args.serve { Some(bind(args.grpc_addr, "gRPC").await?) } else { None };
    let store = args.store.open().await?;
    obs::watch_store(&store);
    let processor = loglens_processor::Processor::start(
        args.consume.config(kafka, rules.clone())?,
        store.clone(),
    )
    .await
    .context("starting the processor")?;
    let (stop, stopped) = shutdown_channel();
    let server = match listener {
        Some(listener) => {
            let addr = listener.local_addr()?;
            let services = grpc::Services {
                store: Some(store.clone()),
                sink: None,
                rules,
                ledger: Some(processor.ledger()),
            };
            write_ready(&args.ready_file, serde_json::json!({ "grpc": addr.to_string() }))?;
            tracing::info!(grpc_addr = %addr, group = %args.consume.consumer_group, "loglens processor consuming and serving");
            Some(tokio::spawn(grpc::serve(listener, services, stopped())))
        }
        None => {
            write_ready(&args.ready_file, serde_json::json!({}))?;
            tracing::info!(group = %args.consume.consumer_group, "loglens processor consuming");
            None
        }
    };
    shutdown_signal().await;
    tracing::info!("shutting down: flushing and committing");
    processor.stop().await.context("stopping the processor")?;
    let _ = stop.send(true);
    if let Some(s) = server {
        s.await??;
    }
    store.close().await.context("closing the store")?;
    Ok(())
}

async fn gateway(args: GatewayArgs) -> anyhow::Result<()> {
    let listener = bind(with_port(args.http_addr, args.api_port), "HTTP").await?;
    let http_addr = listener.local_addr()?;
    let cfg = loglens_gateway::GatewayConfig {
        grpc_endpoint: args.grpc_endpoint.clone(),
        ingest_endpoint: args.ingest_endpoint.clone(),
        max_body_bytes: args.max_body_bytes,
        ..loglens_gateway::GatewayConfig::default()
    };
    tracing::info!(%http_addr, grpc = %args.grpc_endpoint, "loglens gateway serving");
    write_ready(&args.ready_file, serde_json::json!({ "http": http_addr.to_string() }))?;
    loglens_gateway::serve(listener, cfg, shutdown_signal()).await?;
    Ok(())
}

async fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let target = loglens_generator::Target::parse(&args.target)?;
    let cfg = loglens_generator::RunConfig {
        rate: args.rate,
        count: args.count,
        duration: args.duration,
        batch_size: args.batch_size as usize,
        flush_interval: Duration::from_millis(args.flush_interval_ms),
        seed: args.seed,
        concurrency: args.concurrency as usize,
        progress: !args.no_progress,
    };
    if cfg.count.is_none() && cfg.duration.is_none() {
        eprintln!("generating until interrupted (Ctrl-C); --count or --duration stop earlier");
    }
    let report = loglens_generator::run(cfg, target, shutdown_signal()).await?;
    println!(
        "{}",
        serde_json::json!({
            "sent": report.sent,
            "accepted": report.accepted,
            "rejected": report.rejected,
            "elapsed_s": report.elapsed.as_secs_f64(),
            "records_per_s": report.rate().round(),
        })
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let role = match &cli.command {
        Command::Standalone(_) => "standalone",
        Command::Query(_) => "query",
        Command::Gateway(_) => "gateway",
        Command::Generate(_) => "generator",
        Command::Ingest(_) => "ingest",
        Command::Processor(_) => "processor",
        Command::Bench(_) => "bench",
    };
    // The benchmark's own roles would log over its progress bars: warnings
    // only, unless asked.
    let log = if role == "bench" && std::env::var_os("RUST_LOG").is_none() && cli.log == "info" {
        "warn".to_owned()
    } else {
        cli.log.clone()
    };
    let telemetry =
        loglens_telemetry::init(&log, &format!("loglens-{role}")).context("--log / RUST_LOG")?;
    if !matches!(cli.command, Command::Generate(_) | Command::Bench(_)) {
        obs::start_metrics(cli.metrics_addr).await?;
    }
    let result = match cli.command {
        Command::Standalone(a) => standalone(a).await,
        Command::Query(a) => query(a).await,
        Command::Gateway(a) => gateway(a).await,
        Command::Generate(a) => generate(a).await,
        Command::Ingest(a) => ingest(a).await,
        Command::Processor(a) => processor(a).await,
        Command::Bench(a) => loglens_bench::run(a).await,
    };
    // Send the last spans; on error too.
    telemetry.shutdown().await;
    result
}
