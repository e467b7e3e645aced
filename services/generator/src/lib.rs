//! `loglens generate`: simulated microservice logs (see [`model`]) sent to a
//! target at a steady rate, in batches, with retries so nothing generated is
//! silently dropped.
//!
//! Targets, picked by [`Target::parse`]:
//! - `grpc://HOST:PORT` (or `http://`): the IngestService, which validates
//!   and scores; `accepted` and `rejected` are what it answered.
//!   `grpcs://HOST:PORT` (or `https://`) is the same over TLS, trusting the
//!   CA of [`Target::parse_with`] (the system's roots without one).
//! - `kafka://HOST:PORT[,HOST:PORT...]/TOPIC` (topic `logs_raw` when the path
//!   is empty): each record as the JSON a service would send, keyed by
//!   `service_name`, straight onto the raw topic the processor reads. The
//!   topics are created first when missing. `accepted` counts records the
//!   broker acknowledged (`acks=all`); nothing is rejected at this stage.

use std::future::Future;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder as _, ExponentialBuilder, Retryable as _};
use futures::stream::{FuturesUnordered, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use loglens_kafka::KafkaOptions;
use loglens_kafka::wire;
use loglens_proto::ingest;
use loglens_proto::ingest::ingest_service_client::IngestServiceClient;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tonic::transport::{Channel, Endpoint};

pub mod model;

pub use model::{GeneratedLog, Generator};

/// What went wrong while generating.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target URL's scheme is not understood.
    #[error(
        "target {0:?} is not supported: use grpc://HOST:PORT, grpcs://HOST:PORT or kafka://HOST:PORT/TOPIC"
    )]
    Target(String),
    /// A TLS file (CA, client certificate or key) is unusable.
    #[error(transparent)]
    Tls(#[from] loglens_tls::Error),
    /// The target URL has a known scheme but a bad address or topic.
    #[error("target {target:?} is invalid: {reason}")]
    InvalidTarget {
        /// The target.
        target: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// Setting up the Kafka producer or topics failed.
    #[error("{0}")]
    Kafka(#[from] loglens_kafka::Error),
    /// Sending failed for good after retries.
    #[error("sending to {target} failed: {message}")]
    Send {
        /// The target.
        target: String,
        /// The last failure.
        message: String,
    },
}

/// How much to send and how fast.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Records per second; 0 means as fast as the target takes them.
    pub rate: u64,
    /// Stop after this many records.
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Records per request.
    pub batch_size: usize,
    /// Send a partial batch after this long.
    pub flush_interval: Duration,
    /// Seed for reproducible records.
    pub seed: Option<u64>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Show a progress bar on stderr (hidden when it is not a terminal).
    pub progress: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            rate: 1000,
            count: None,
            duration: None,
            batch_size: 500,
            flush_interval: Duration::from_millis(200),
            seed: None,
            concurrency: 4,
            progress: true,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Records generated and sent.
    pub sent: u64,
    /// Records the target accepted.
    pub accepted: u64,
    /// Records the target rejected.
    pub rejected: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Report {
    /// Accepted records per second.
    pub fn rate(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The gRPC IngestService behind a `grpc://HOST:PORT` target.
#[derive(Clone)]
pub struct GrpcTarget {
    url: String,
    client: IngestServiceClient<Channel>,
}

impl GrpcTarget {
    /// Parses `grpc://HOST:PORT` (or `http://HOST:PORT`); connects lazily.
    pub fn new(target: &str) -> Result<GrpcTarget, Error> {
        GrpcTarget::with_tls(target, &loglens_tls::ClientTlsFiles::default())
    }

    /// Parses `grpc://` / `http://` (plaintext) or `grpcs://` / `https://`
    /// (TLS with `tls`: its CA, else the system's roots, and its client
    /// certificate when set); connects lazily.
    pub fn with_tls(target: &str, tls: &loglens_tls::ClientTlsFiles) -> Result<GrpcTarget, Error> {
        let (scheme, rest) =
            target.split_once("://").ok_or_else(|| Error::Target(target.to_owned()))?;
        let secure = match scheme {
            "grpc" | "http" => false,
            "grpcs" | "https" => true,
            _ => return Err(Error::Target(target.to_owned())),
        };
        if !secure && *tls != loglens_tls::ClientTlsFiles::default() {
            return Err(Error::InvalidTarget {
                target: target.to_owned(),
                reason: "a CA or client certificate is given but the target is plaintext; use grpcs://HOST:PORT".into(),
            });
        }
        let invalid = |e: tonic::transport::Error| Error::InvalidTarget {
            target: target.to_owned(),
            reason: e.to_string(),
        };
        let scheme = if secure { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{rest}")).map_err(invalid)?;
        if secure {
            endpoint = endpoint
                .tls_config(tls.load(["--ca", "--client-cert", "--client-key"])?)
                .map_err(invalid)?;
        }
        Ok(GrpcTarget::from_channel(target, endpoint.connect_lazy()))
    }

    /// Sends over `channel` (e.g. in memory, to a server of the same
    /// process); `url` names the target in messages.
    pub fn from_channel(url: &str, channel: Channel) -> GrpcTarget {
        let client = IngestServiceClient::new(channel)
            .max_encoding_message_size(64 << 20)
            .max_decoding_message_size(64 << 20);
        GrpcTarget { url: url.to_owned(), client }
    }

    /// Sends one batch, retrying overload and unavailability with capped
    /// exponential backoff for up to about a minute. Returns (accepted, rejected).
    pub async fn send(&self, records: Vec<ingest::LogRecord>) -> Result<(u64, u64), Error> {
        let request = ingest::IngestRequest { records };
        let backoff = ExponentialBuilder::new()
            .with_min_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_secs(2))
            .with_total_delay(Some(Duration::from_secs(60)))
            .without_max_times();
        let reply = (|| {
            let (mut client, request) = (self.client.clone(), request.clone());
            async move { client.ingest(request).await }
        })
            .retry(backoff)
            .when(|s| matches!(s.code(), tonic::Code::Unavailable | tonic::Code::ResourceExhausted))
            .notify(|s, wait| {
                tracing::debug!(code = ?s.code(), "target busy or down, retrying in {wait:?}")
            })
            .await
            .map_err(|s| Error::Send { target: self.url.clone(), message: s.message().to_owned() })?;
        let r = reply.into_inner();
        Ok((u64::from(r.accepted), r.rejected.len() as u64))
    }
}

/// A generated record as an ingest message.
impl From<GeneratedLog> for ingest::LogRecord {
    fn from(g: GeneratedLog) -> ingest::LogRecord {
        ingest::LogRecord {
            timestamp: g.timestamp,
            service_name: g.service_name,
            level: g.level.to_owned(),
            message: g.message,
            status_code: Some(i32::from(g.status_code)),
            request_id: g.request_id,
            user_id: g.user_id,
            response_time_ms: Some(g.response_time_ms),
            error_code: g.error_code,
            tags: g.tags,
            host: g.host,
            trace_id: Some(g.trace_id),
            span_id: Some(g.span_id),
            attributes: g
                .attributes
                .into_iter()
                .map(|(k, v)| {
                    let v = ingest::attribute_value::Value::StringValue(v);
                    (k.to_owned(), ingest::AttributeValue { value: Some(v) })
                })
                .collect(),
        }
    }
}

/// The raw Kafka topic behind a `kafka://HOST:PORT/TOPIC` target.
#[derive(Clone)]
pub struct KafkaTarget {
    url: String,
    options: KafkaOptions,
    producer: FutureProducer,
}

impl KafkaTarget {
    /// A durable producer ([`KafkaOptions::producer_config`]) to
    /// `options.raw_topic`; does not contact the broker yet.
    pub fn new(options: KafkaOptions) -> Result<KafkaTarget, Error> {
        let producer: FutureProducer =
            options.producer_config().create().map_err(loglens_kafka::Error::from)?;
        let url = format!("kafka://{}/{}", options.bootstrap, options.raw_topic);
        Ok(KafkaTarget { url, options, producer })
    }

    /// Parses `kafka://HOST:PORT[,HOST:PORT...]/TOPIC` into default options
    /// for those brokers with that raw topic (`logs_raw` when the path is
    /// empty). Pure: connects to nothing.
    pub fn options_from_url(url: &str) -> Result<KafkaOptions, Error> {
        let invalid = |reason: String| Error::InvalidTarget { target: url.to_owned(), reason };
        let rest = url.strip_prefix("kafka://").ok_or_else(|| Error::Target(url.to_owned()))?;
        let (brokers, topic) = rest.split_once('/').unwrap_or((rest, ""));
        for broker in brokers.split(',') {
            let valid = broker.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !valid {
                return Err(invalid(format!(
                    "brokers must be HOST:PORT[,HOST:PORT...], got {broker:?}"
                )));
            }
        }
        let mut options = KafkaOptions::new(brokers);
        if !topic.is_empty() {
            if !is_valid_topic(topic) {
                return Err(invalid(format!(
                    "topic must be 1 to 249 of a-z A-Z 0-9 . _ -, got {topic:?}"
                )));
            }
            options.raw_topic = topic.to_owned();
        }
        Ok(options)
    }

    /// Creates the raw and dead-letter topics unless they exist.
    pub async fn ensure_topics(&self) -> Result<(), Error> {
        Ok(loglens_kafka::topics::ensure_topics(&self.options).await?)
    }

    /// Sends one batch and waits until the broker acknowledged every record.
    /// Returns how many were acknowledged (all of them).
    pub async fn send(&self, records: &[GeneratedLog]) -> Result<u64, Error> {
        let deliveries = self.enqueue(records).await?;
        self.acknowledged(deliveries).await
    }

    /// Hands every record to the producer in order, as messages of several
    /// records of one service ([`wire::batches`]), waiting (never dropping)
    /// while its queue is full. Returns one delivery future per message and
    /// how many records it holds.
    async fn enqueue(
        &self,
        records: &[GeneratedLog],
    ) -> Result<Vec<(DeliveryFuture, usize)>, Error> {
        let batches = wire::batches(
            records,
            |r| ("", r.service_name.as_str()),
            |r, out| serde_json::to_writer(out, r).expect("a generated record always serialises"),
        );
        let mut deliveries = Vec::with_capacity(batches.len());
        for batch in &batches {
            let mut backoff = ExponentialBuilder::new()
                .with_min_delay(Duration::from_millis(5))
                .with_max_delay(Duration::from_millis(200))
                .without_max_times()
                .build();
            loop {
                let message = FutureRecord::to(&self.options.raw_topic)
                    .key(&batch.key)
                    .payload(&batch.payload)
                    .headers(
                        OwnedHeaders::new_with_capacity(1)
                            .insert(Header { key: wire::FORMAT, value: Some(wire::NDJSON) }),
                    );
                let full = match self.producer.send_result(message) {
                    Ok(delivery) => {
                        deliveries.push((delivery, batch.records));
                        false
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => true,
                    Err((e, _)) => {
                        return Err(self.failed(format!("kafka did not take a record: {e}")));
                    }
                };
                if !full {
                    break;
                }
                let wait = backoff.next().unwrap_or(Duration::from_millis(200));
                tracing::debug!("producer queue full, retrying in {wait:?}");
                tokio::time::sleep(wait).await;
            }
        }
        Ok(deliveries)
    }

    /// Waits for every delivery; librdkafka has already retried each one for
    /// up to `message.timeout.ms`, so a failure here is final.
    async fn acknowledged(&self, deliveries: Vec<(DeliveryFuture, usize)>) -> Result<u64, Error> {
        let n = deliveries.iter().map(|(_, records)| *records as u64).sum();
        for (delivery, _) in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    return Err(self.failed(format!("kafka did not acknowledge a record: {e}")));
                }
                Err(_cancelled) => {
                    return Err(self.failed(
                        "kafka did not acknowledge a record: the producer shut down".into(),
                    ));
                }
            }
        }
        Ok(n)
    }

    fn failed(&self, message: String) -> Error {
        Error::Send { target: self.url.clone(), message }
    }
}

/// Kafka's topic name rule: 1 to 249 of `a-z A-Z 0-9 . _ -`, not `.` or `..`.
fn is_valid_topic(topic: &str) -> bool {
    (1..=249).contains(&topic.len())
        && topic != "."
        && topic != ".."
        && topic.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Where generated records go.
#[derive(Clone)]
pub enum Target {
    /// The IngestService.
    Grpc(GrpcTarget),
    /// The raw Kafka topic.
    Kafka(KafkaTarget),
}

impl From<GrpcTarget> for Target {
    fn from(t: GrpcTarget) -> Target {
        Target::Grpc(t)
    }
}

impl From<KafkaTarget> for Target {
    fn from(t: KafkaTarget) -> Target {
        Target::Kafka(t)
    }
}

impl Target {
    /// Picks the target by scheme: `grpc://HOST:PORT` (or `http://`) or
    /// `kafka://HOST:PORT/TOPIC` (default options, topic `logs_raw` when the
    /// path is empty). Connects to nothing yet; needs a Tokio runtime.
    pub fn parse(url: &str) -> Result<Target, Error> {
        Target::parse_with(url, &loglens_tls::ClientTlsFiles::default())
    }

    /// [`Target::parse`], also taking `grpcs://HOST:PORT` (or `https://`)
    /// with the CA and client certificate of `tls`.
    pub fn parse_with(url: &str, tls: &loglens_tls::ClientTlsFiles) -> Result<Target, Error> {
        match url.split_once("://").map(|(scheme, _)| scheme) {
            Some("grpc" | "http" | "grpcs" | "https") => {
                Ok(Target::Grpc(GrpcTarget::with_tls(url, tls)?))
            }
            Some("kafka") => {
                Ok(Target::Kafka(KafkaTarget::new(KafkaTarget::options_from_url(url)?)?))
            }
            _ => Err(Error::Target(url.to_owned())),
        }
    }

    /// Setup before the first batch: for Kafka, creating missing topics.
    async fn prepare(&self) -> Result<(), Error> {
        match self {
            Target::Grpc(_) => Ok(()),
            Target::Kafka(k) => k.ensure_topics().await,
        }
    }

    /// Starts sending one batch. For Kafka the records are enqueued (in
    /// order, so one service's records keep it) before this returns; the
    /// returned future resolves to (accepted, rejected).
    async fn dispatch(&self, records: Vec<GeneratedLog>) -> Result<Sending, Error> {
        match self {
            Target::Grpc(t) => {
                let t = t.clone();
                let records: Vec<ingest::LogRecord> = records.into_iter().map(Into::into).collect();
                Ok(Box::pin(async move { t.send(records).await }))
            }
            Target::Kafka(t) => {
                let deliveries = t.enqueue(&records).await?;
                let t = t.clone();
                Ok(Box::pin(async move { t.acknowledged(deliveries).await.map(|n| (n, 0)) }))
            }
        }
    }
}

fn progress_bar(cfg: &RunConfig) -> ProgressBar {
    if !cfg.progress {
        return ProgressBar::hidden();
    }
    let bar = match cfg.count {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} records, {per_sec}, eta {eta}")
                .expect("valid progress template"),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {pos} records, {per_sec}, {elapsed}")
                .expect("valid progress template"),
        ),
    };
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

type Sending = std::pin::Pin<Box<dyn Future<Output = Result<(u64, u64), Error>> + Send>>;

/// Generates and sends records until `count`, `duration` or `stop` ends the
/// run, pacing to `rate`. Every batch in flight is awaited before returning.
/// Takes a [`Target`] or anything that converts into one (a [`GrpcTarget`]).
pub async fn run(
    cfg: RunConfig,
    target: impl Into<Target>,
    stop: impl Future<Output = ()>,
) -> Result<Report, Error> {
    let target = target.into();
    tokio::pin!(stop);
    tokio::select! {
        ready = target.prepare() => ready?,
        _ = &mut stop => return Ok(Report::default()),
    }
    let bar = progress_bar(&cfg);
    let mut generator = Generator::new(cfg.seed);
    let started = Instant::now();
    let mut report = Report::default();
    let mut in_flight = FuturesUnordered::new();
    let mut batch = Vec::with_capacity(cfg.batch_size);
    let mut batch_started = Instant::now();
    let limit = cfg.count.unwrap_or(u64::MAX);
    let mut stopped = false;
    while report.sent < limit && !stopped {
        if cfg.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        // Records due by now at the configured rate.
        let due = if cfg.rate == 0 {
            limit
        } else {
            ((started.elapsed().as_secs_f64() * cfg.rate as f64) as u64 + 1).min(limit)
        };
        while report.sent < due && batch.len() < cfg.batch_size {
            batch.push(generator.next(chrono::Utc::now().timestamp_millis()));
            report.sent += 1;
        }
        let full = batch.len() >= cfg.batch_size || report.sent >= limit;
        if !batch.is_empty() && (full || batch_started.elapsed() >= cfg.flush_interval) {
            while in_flight.len() >= cfg.concurrency.max(1) {
                let (a, r) = in_flight.next().await.expect("in-flight set is not empty")?;
                report.accepted += a;
                report.rejected += r;
                bar.inc(a + r);
            }
            let records = std::mem::replace(&mut batch, Vec::with_capacity(cfg.batch_size));
            let sending = target.dispatch(records).await?;
            in_flight.push(sending);
            batch_started = Instant::now();
            continue;
        }
        let pause = if cfg.rate == 0 || report.sent < due {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(1.0 / cfg.rate as f64)
                .clamp(Duration::from_millis(1), Duration::from_millis(20))
        };
        tokio::select! {
            _ = &mut stop => stopped = true,
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                let (a, r) = done?;
                report.accepted += a;
                report.rejected += r;
                bar.inc(a + r);
            }
            _ = tokio::time::sleep(pause) => {}
        }
    }
    if !batch.is_empty() {
        let sending = target.dispatch(std::mem::take(&mut batch)).await?;
        in_flight.push(sending);
    }
    while let Some(done) = in_flight.next().await {
        let (a, r) = done?;
        report.accepted += a;
        report.rejected += r;
        bar.inc(a + r);
    }
    bar.finish_and_clear();
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn grpc_urls_pick_the_ingest_service() {
        for url in ["grpc://127.0.0.1:50051", "http://localhost:50051"] {
            assert!(matches!(Target::parse(url), Ok(Target::Grpc(_))), "{url}");
        }
        let from: Target = GrpcTarget::new("grpc://127.0.0.1:1").unwrap().into();
        assert!(matches!(from, Target::Grpc(_)));
    }

    #[test]
    fn kafka_url_names_brokers_and_topic() {
        let o = KafkaTarget::options_from_url("kafka://127.0.0.1:9092/app_logs").unwrap();
        assert_eq!(o.bootstrap, "127.0.0.1:9092");
        assert_eq!(o.raw_topic, "app_logs");
        assert_eq!(o.partitions, 3);
        let o = KafkaTarget::options_from_url("kafka://a:9092,b:9093").unwrap();
        assert_eq!(o.bootstrap, "a:9092,b:9093");
        assert_eq!(o.raw_topic, "logs_raw");
        assert_eq!(KafkaTarget::options_from_url("kafka://a:9092/").unwrap().raw_topic, "logs_raw");
    }

    #[test]
    fn kafka_url_errors_say_what_is_accepted() {
        let e = KafkaTarget::options_from_url("kafka://localhost/logs").unwrap_err().to_string();
        assert_eq!(
            e,
            r#"target "kafka://localhost/logs" is invalid: brokers must be HOST:PORT[,HOST:PORT...], got "localhost""#
        );
        for url in ["kafka://", "kafka://:9092", "kafka://h:0", "kafka://h:x/t", "kafka://a:1,/t"] {
            assert!(
                matches!(KafkaTarget::options_from_url(url), Err(Error::InvalidTarget { .. })),
                "{url}"
            );
        }
        let e = KafkaTarget::options_from_url("kafka://h:1/a/b").unwrap_err().to_string();
        assert!(e.ends_with(r#"topic must be 1 to 249 of a-z A-Z 0-9 . _ -, got "a/b""#), "{e}");
        for url in
            ["kafka://h:1/..", "kafka://h:1/sp ace", &format!("kafka://h:1/{}", "t".repeat(250))]
        {
            assert!(
                matches!(KafkaTarget::options_from_url(url), Err(Error::InvalidTarget { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn kafka_url_builds_a_kafka_target() {
        match Target::parse("kafka://127.0.0.1:9/generated") {
            Ok(Target::Kafka(k)) => {
                assert_eq!(k.url, "kafka://127.0.0.1:9/generated");
                assert_eq!(k.options.raw_topic, "generated");
            }
            Ok(Target::Grpc(_)) => panic!("kafka:// gave a gRPC target"),
            Err(e) => panic!("{e}"),
        }
    }

    #[tokio::test]
    async fn grpcs_targets_are_tls_and_tls_files_need_them() {
        for url in ["grpcs://localhost:50051", "https://127.0.0.1:50051"] {
            assert!(matches!(Target::parse(url), Ok(Target::Grpc(_))), "{url}");
        }
        let ca = loglens_tls::ClientTlsFiles {
            ca: Some("/nowhere/ca.pem".into()),
            ..Default::default()
        };
        let e = Target::parse_with("grpc://h:1", &ca).err().expect("plaintext with a CA");
        assert!(e.to_string().contains("use grpcs://HOST:PORT"), "{e}");
        let e = Target::parse_with("grpcs://h:1", &ca).err().expect("missing CA file");
        assert!(e.to_string().starts_with("--ca /nowhere/ca.pem: cannot read it"), "{e}");
    }

    #[test]
    fn unknown_schemes_name_the_accepted_ones() {
        for url in ["nats://h:1", "127.0.0.1:50051", ""] {
            let e = Target::parse(url).err().expect("rejected");
            assert_eq!(
                e.to_string(),
                format!(
                    "target {url:?} is not supported: use grpc://HOST:PORT, grpcs://HOST:PORT or kafka://HOST:PORT/TOPIC"
                )
            );
        }
    }
}
