//! `loglens generate`: simulated microservice logs (see [`model`]) sent to a
//! target at a steady rate, in batches, with retries so nothing generated is
//! silently dropped.
//!
//! Targets: `grpc://HOST:PORT` (the IngestService). The Kafka target comes
//! with the Kafka path.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use loglens_proto::ingest;
use loglens_proto::ingest::ingest_service_client::IngestServiceClient;
use tonic::transport::{Channel, Endpoint};

pub mod model;

pub use model::{GeneratedLog, Generator};

/// What went wrong while generating.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target URL is not understood.
    #[error("target {0:?} is not supported: use grpc://HOST:PORT")]
    Target(String),
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
        let rest = target
            .strip_prefix("grpc://")
            .or_else(|| target.strip_prefix("http://"))
            .ok_or_else(|| Error::Target(target.to_owned()))?;
        let endpoint =
            Endpoint::from_shared(format!("http://{rest}")).map_err(|_| Error::Target(target.to_owned()))?;
        let client = IngestServiceClient::new(endpoint.connect_lazy())
            .max_encoding_message_size(64 << 20)
            .max_decoding_message_size(64 << 20);
        Ok(GrpcTarget { url: target.to_owned(), client })
    }

    /// Sends one batch, retrying overload and unavailability with capped
    /// exponential backoff for up to about a minute. Returns (accepted, rejected).
    pub async fn send(&self, records: Vec<ingest::LogRecord>) -> Result<(u64, u64), Error> {
        let mut backoff = Duration::from_millis(50);
        let deadline = Instant::now() + Duration::from_secs(60);
        let request = ingest::IngestRequest { records };
        loop {
            match self.client.clone().ingest(request.clone()).await {
                Ok(reply) => {
                    let r = reply.into_inner();
                    return Ok((u64::from(r.accepted), r.rejected.len() as u64));
                }
                Err(s)
                    if matches!(s.code(), tonic::Code::Unavailable | tonic::Code::ResourceExhausted)
                        && Instant::now() < deadline =>
                {
                    tracing::debug!(code = ?s.code(), "target busy or down, retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(s) => return Err(Error::Send { target: self.url.clone(), message: s.message().to_owned() }),
            }
        }
    }
}

/// A generated record as an ingest message.
pub fn to_proto(g: GeneratedLog) -> ingest::LogRecord {
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
            ProgressStyle::with_template("{spinner} {pos} records, {per_sec}, {elapsed}").expect("valid progress template"),
        ),
    };
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

type Sending = std::pin::Pin<Box<dyn Future<Output = Result<(u64, u64), Error>> + Send>>;

fn send(target: GrpcTarget, records: Vec<ingest::LogRecord>) -> Sending {
    Box::pin(async move { target.send(records).await })
}

/// Generates and sends records until `count`, `duration` or `stop` ends the
/// run, pacing to `rate`. Every batch in flight is awaited before returning.
pub async fn run(cfg: RunConfig, target: GrpcTarget, stop: impl Future<Output = ()>) -> Result<Report, Error> {
    let bar = progress_bar(&cfg);
    let mut generator = Generator::new(cfg.seed);
    let started = Instant::now();
    let mut report = Report::default();
    let mut in_flight = FuturesUnordered::new();
    let mut batch = Vec::with_capacity(cfg.batch_size);
    let mut batch_started = Instant::now();
    let limit = cfg.count.unwrap_or(u64::MAX);
    tokio::pin!(stop);
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
            batch.push(to_proto(generator.next(chrono::Utc::now().timestamp_millis())));
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
            in_flight.push(send(target.clone(), records));
            batch_started = Instant::now();
            continue;
        }
        let pause = if cfg.rate == 0 || report.sent < due {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(1.0 / cfg.rate as f64).clamp(Duration::from_millis(1), Duration::from_millis(20))
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
        in_flight.push(send(target.clone(), std::mem::take(&mut batch)));
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
