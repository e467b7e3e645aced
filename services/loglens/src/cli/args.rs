//! Argument groups several roles share (store, Kafka, consumer, anomaly
//! rules), each converted to its library config once, here. Defaults come
//! from the libraries' own `Default`s, so each is written once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use loglens_core::RuleSet;
use loglens_kafka::{Compression, KafkaOptions};
use loglens_store::StoreOptions;

use crate::node::StoreConfig;

fn kafka_defaults() -> KafkaOptions {
    KafkaOptions::new("")
}

/// Topics and producer settings of the Kafka path.
#[derive(Args, Debug, Clone)]
pub struct KafkaArgs {
    /// Topic of raw records.
    #[arg(long, env = "KAFKA_TOPIC", default_value_t = kafka_defaults().raw_topic)]
    kafka_topic: String,
    /// Dead-letter topic.
    #[arg(long, env = "KAFKA_DLQ_TOPIC", default_value_t = kafka_defaults().dlq_topic)]
    kafka_dlq_topic: String,
    /// Partitions of topics created at start (1-1000).
    #[arg(long, env = "KAFKA_PARTITIONS", default_value_t = kafka_defaults().partitions,
          value_parser = clap::value_parser!(i32).range(1..=1000))]
    kafka_partitions: i32,
    /// Producer compression: snappy, lz4, zstd or none.
    #[arg(long, env = "KAFKA_COMPRESSION", default_value_t = kafka_defaults().compression)]
    kafka_compression: Compression,
    /// Most messages per produce request (ingest and `generate` put up to
    /// 1,000 records in a message).
    #[arg(long, env = "KAFKA_LOG_BATCH_SIZE", default_value_t = kafka_defaults().batch_size)]
    kafka_batch_size: usize,
    /// How long the producer waits to fill a batch, ms.
    #[arg(long, env = "KAFKA_LOG_FLUSH_INTERVAL_MS",
          default_value_t = kafka_defaults().flush_interval_ms)]
    kafka_flush_interval_ms: u64,
    /// Records the producer may hold unacknowledged; beyond, ingest answers
    /// RESOURCE_EXHAUSTED (HTTP 429).
    #[arg(long, env = "KAFKA_QUEUE_MAX_MESSAGES",
          default_value_t = kafka_defaults().queue_max_messages)]
    kafka_queue_max_messages: usize,
}

impl KafkaArgs {
    /// The Kafka options for these brokers.
    pub fn options(&self, bootstrap: &str) -> KafkaOptions {
        KafkaOptions {
            raw_topic: self.kafka_topic.clone(),
            dlq_topic: self.kafka_dlq_topic.clone(),
            partitions: self.kafka_partitions,
            compression: self.kafka_compression,
            batch_size: self.kafka_batch_size,
            flush_interval_ms: self.kafka_flush_interval_ms,
            queue_max_messages: self.kafka_queue_max_messages,
            ..KafkaOptions::new(bootstrap)
        }
    }
}

/// How the processor reads the raw topic.
#[derive(Args, Debug, Clone)]
pub struct ConsumeArgs {
    /// Consumer group of the processors.
    #[arg(long, env = "KAFKA_CONSUMER_GROUP", default_value = "log_processor_group")]
    pub consumer_group: String,
    /// Most records indexed in one batch (1-100000).
    #[arg(long, env = "ELASTIC_BULK_SIZE", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    bulk_size: u64,
    /// Longest a record waits for its batch to fill while records keep
    /// coming, seconds (e.g. 0.5); a batch closes at once when the processor
    /// has read everything there is.
    #[arg(long, env = "ELASTIC_BULK_TIMEOUT_S", default_value_t = 0.5)]
    bulk_timeout_s: f64,
}

impl ConsumeArgs {
    /// The processor's config over `kafka`, checked.
    pub fn config(
        &self,
        kafka: KafkaOptions,
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

fn store_defaults() -> StoreOptions {
    StoreOptions::default()
}

/// Where records live.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Directory of the embedded store (a hybrid store: columnar blocks and
    /// message postings, with its write-ahead log; a directory that already
    /// holds a Tantivy store's index/ is opened as that).
    #[arg(long, env = "LOGLENS_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Where records live instead of --data-dir: an Elasticsearch or
    /// OpenSearch cluster, http(s)://[USER:PASSWORD@]HOST:PORT,
    /// hybrid:///DIR (what --data-dir opens), or tantivy:///DIR (the store
    /// before it: one Tantivy index; README "Storage and durability").
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
    #[arg(long, env = "ELASTIC_INDEX_NAME", default_value_t = store_defaults().index_prefix)]
    elastic_index_name: String,
    /// How often newly ingested records become searchable, ms (100-60000).
    /// With the embedded store, the longest interval: the one used under
    /// heavy load (see --min-refresh-interval-ms).
    #[arg(long, env = "LOGLENS_REFRESH_INTERVAL_MS",
          default_value_t = store_defaults().refresh_interval_ms,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    refresh_interval_ms: u64,
    /// Embedded store: the refresh interval while the load is light, ms
    /// (0-60000). Records become searchable this often while a commit at
    /// this interval would carry at most 2,500 records, and every
    /// --refresh-interval-ms once it would carry 5,000 or more (about 6k
    /// and 12k records/s at the default 400 ms), so time-to-search is short at light
    /// load without small segments costing CPU at full rate. 0, or a value
    /// at or above --refresh-interval-ms, keeps the interval fixed.
    #[arg(long, env = "LOGLENS_MIN_REFRESH_INTERVAL_MS",
          default_value_t = store_defaults().min_refresh_interval_ms,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    min_refresh_interval_ms: u64,
    /// Indexing threads (1-8).
    #[arg(long, env = "LOGLENS_INDEXING_THREADS",
          default_value_t = store_defaults().indexing_threads as u64,
          value_parser = clap::value_parser!(u64).range(1..=8))]
    indexing_threads: u64,
    /// Embedded store: memory for the per-segment stats cache, MiB (0-4096;
    /// 0 turns it off). A stats request over a time range that covers a
    /// segment whole reuses that segment's counts from an earlier request
    /// of the same filter and histogram interval, so a dashboard refreshing
    /// "the last 24 hours" only counts the segments written since.
    #[arg(long, env = "LOGLENS_STATS_CACHE_MB",
          default_value_t = (store_defaults().stats_cache_bytes >> 20) as u64,
          value_parser = clap::value_parser!(u64).range(0..=4096))]
    stats_cache_mb: u64,
    /// Hybrid store: memory for decompressed column frames of sealed
    /// blocks, MiB (0-4096; 0 turns it off). A block keeps each column
    /// compressed, and a read needs a column's whole frame even for one
    /// row; kept frames let repeated pages and filters skip the
    /// decompression. The Tantivy store ignores it.
    #[arg(long, env = "LOGLENS_BLOCK_CACHE_MB",
          default_value_t = (store_defaults().block_cache_bytes >> 20) as u64,
          value_parser = clap::value_parser!(u64).range(0..=4096))]
    block_cache_mb: u64,
    /// Delete whole UTC days once they ended this many days ago (1-3650);
    /// unset keeps everything.
    #[arg(long, env = "LOGLENS_RETENTION_DAYS",
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    retention_days: Option<u32>,
}

impl StoreArgs {
    /// The store to open: --store, the ELASTIC_* parts, or --data-dir.
    pub fn config(&self) -> anyhow::Result<StoreConfig> {
        let url = match (&self.store, &self.elastic_host) {
            (Some(url), _) => url.clone(),
            (None, Some(host)) => {
                format!("{}://{host}:{}", self.elastic_scheme, self.elastic_port)
            }
            (None, None) => {
                self.data_dir.to_str().context("--data-dir must be valid UTF-8")?.to_owned()
            }
        };
        let options = StoreOptions {
            refresh_interval_ms: self.refresh_interval_ms,
            min_refresh_interval_ms: self.min_refresh_interval_ms,
            indexing_threads: self.indexing_threads as usize,
            retention_days: self.retention_days,
            index_prefix: self.elastic_index_name.clone(),
            stats_cache_bytes: (self.stats_cache_mb as usize) << 20,
            block_cache_bytes: (self.block_cache_mb as usize) << 20,
            ..StoreOptions::default()
        };
        Ok(StoreConfig { url, options })
    }
}

/// Re-tuning of the anomaly rules.
#[derive(Args, Debug, Clone)]
pub struct RuleArgs {
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
    /// The rule set: the file (or the defaults), then the overrides, checked.
    pub fn load(&self) -> anyhow::Result<Arc<RuleSet>> {
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
                    "--disable-rule must be one of error_level, http_status, slow_response, \
                     error_code, got {other:?}"
                ),
            }
        }
        rules.validate()?;
        Ok(Arc::new(rules))
    }
}

/// Load shedding of the ingest doors.
#[derive(Args, Debug, Clone)]
pub struct IngestLimitArgs {
    /// Bytes of ingest requests (REST bodies, gRPC messages) the process
    /// holds at once; a request that does not fit is answered 429 /
    /// RESOURCE_EXHAUSTED with Retry-After instead of queueing.
    #[arg(long, env = "LOGLENS_MAX_INFLIGHT_INGEST_BYTES",
          default_value_t = loglens_core::budget::DEFAULT_MAX_INFLIGHT_BYTES as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_inflight_ingest_bytes: u64,
}

impl IngestLimitArgs {
    /// The budget in bytes.
    pub fn bytes(&self) -> usize {
        usize::try_from(self.max_inflight_ingest_bytes).unwrap_or(usize::MAX)
    }
}

/// Replaces the port of `addr` with `port` when given (API_PORT).
pub fn with_port(mut addr: std::net::SocketAddr, port: Option<u16>) -> std::net::SocketAddr {
    if let Some(p) = port {
        addr.set_port(p);
    }
    addr
}

/// API keys on every entry point of a serving role.
#[derive(Args, Debug, Clone)]
pub struct AuthArgs {
    /// The key file (made with `loglens keys create`): every entry point
    /// except /health and grpc.health.v1 then needs a key with the right
    /// scope. Reloaded on change and on SIGHUP. Without it loglens is open.
    #[arg(long, env = "LOGLENS_AUTH_FILE")]
    auth_file: Option<PathBuf>,
    /// Failed authentication attempts one client address may make per 10 s;
    /// past that its requests are refused (429 / RESOURCE_EXHAUSTED) until
    /// the window ends.
    #[arg(long, env = "LOGLENS_AUTH_MAX_FAILURES", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    auth_max_failures: u32,
}

impl AuthArgs {
    /// The node's auth settings.
    pub fn settings(&self) -> crate::node::AuthSettings {
        crate::node::AuthSettings {
            file: self.auth_file.clone(),
            limits: loglens_auth::Limits {
                max_failures: self.auth_max_failures,
                ..loglens_auth::Limits::default()
            },
        }
    }
}

/// TLS on the node's listeners (gRPC and REST share the certificate).
#[derive(Args, Debug, Clone)]
pub struct TlsArgs {
    /// Serve TLS with this PEM certificate chain (server certificate
    /// first) on the gRPC and REST listeners; needs --tls-key.
    #[arg(long, env = "LOGLENS_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "LOGLENS_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// PEM CA certificates: gRPC clients must then present a certificate
    /// signed by one of them (mutual TLS; REST stays server-auth only).
    #[arg(long, env = "LOGLENS_TLS_CLIENT_CA")]
    tls_client_ca: Option<PathBuf>,
}

impl TlsArgs {
    /// The TLS files, or `None` for plaintext; the files are read when the
    /// node starts.
    pub fn files(&self) -> anyhow::Result<Option<loglens_tls::ServerTlsFiles>> {
        Ok(loglens_tls::ServerTlsFiles::from_flags(
            self.tls_cert.clone(),
            self.tls_key.clone(),
            self.tls_client_ca.clone(),
        )?)
    }
}

/// The TLS side of the gateway's gRPC clients (https:// endpoints).
#[derive(Args, Debug, Clone)]
pub struct GrpcClientTlsArgs {
    /// PEM CA certificates to trust for https:// gRPC endpoints instead of
    /// the system's roots (a private CA).
    #[arg(long, env = "LOGLENS_GRPC_CA")]
    grpc_ca: Option<PathBuf>,
    /// PEM client certificate presented to https:// gRPC endpoints (for a
    /// backend started with --tls-client-ca); needs --grpc-client-key.
    #[arg(long, env = "LOGLENS_GRPC_CLIENT_CERT")]
    grpc_client_cert: Option<PathBuf>,
    /// The PEM private key of --grpc-client-cert.
    #[arg(long, env = "LOGLENS_GRPC_CLIENT_KEY")]
    grpc_client_key: Option<PathBuf>,
}

impl GrpcClientTlsArgs {
    /// The files, read when the gateway starts.
    pub fn files(&self) -> loglens_tls::ClientTlsFiles {
        loglens_tls::ClientTlsFiles {
            ca: self.grpc_ca.clone(),
            cert: self.grpc_client_cert.clone(),
            key: self.grpc_client_key.clone(),
        }
    }
}
