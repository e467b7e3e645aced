//! The processor role: a consumer in group `KAFKA_CONSUMER_GROUP` that reads
//! `logs_raw`, parses, validates, normalises and scores each message, indexes
//! the batch through [`LogStore`], and only then commits the offsets.
//!
//! Three parts, as in Quickwit's and Vector's Kafka sources:
//! - the **poll thread** (`consumer`) is the only one to poll the
//!   consumer (librdkafka runs the rebalance callbacks inside `poll`). It
//!   reads messages into the open batch (`batch`) and hands closed batches
//!   to the worker over a channel of one;
//! - the **worker** task (`worker`) dead-letters, indexes, dead-letters
//!   what the store refuses, then asks the committer to commit;
//! - the **committer** thread (`committer`) commits, one commit at a
//!   time, merging requests that pile up.
//!
//! Delivery:
//! - A batch is closed at `bulk_size` records, `bulk_timeout` after its
//!   first one, or as soon as a poll finds no message (50 ms with nothing
//!   fetched), so the last records of a burst wait no timeout. Bad
//!   messages (not JSON, invalid, larger than
//!   [`MAX_RECORD_BYTES`](loglens_kafka::wire::MAX_RECORD_BYTES), or with a
//!   [`TENANT`](loglens_kafka::wire::TENANT) header that is not a tenant
//!   name) go to the dead-letter topic with their original bytes, tenant
//!   and `traceparent` headers, the reason and the source partition/offset,
//!   and their delivery is awaited. Then the valid records
//!   are indexed (durable when `index` returns), then records the store
//!   refuses for good are dead-lettered the same way, then the offsets are
//!   committed. So a crash at any point re-delivers only what was not
//!   committed.
//! - Tenants: a record is the tenant's of its message's
//!   [`TENANT`](loglens_kafka::wire::TENANT) header (the default tenant's
//!   when it has none), never of its JSON; its id is derived from the
//!   tenant as the ingest role did, so both compute the same id.
//! - Duplicates: a record's id is the hash of its content (scoped by its
//!   tenant) and the store upserts by id, so re-delivered messages
//!   overwrite their earlier copy.
//! - A slow, failed or timed-out commit holds up neither fetching nor
//!   indexing: it is logged, and what piles up meanwhile goes out as one
//!   commit (the batch is re-delivered at worst, and upserted).
//! - Rebalance, and the commit rule: every assignment of a partition gets a
//!   new epoch (`ownership`), and each message carries the epoch it was
//!   read under. An offset is committed only while its partition's current
//!   epoch is the one its messages were read under; the committer checks
//!   that and commits (synchronously) under one gate, and a revocation
//!   forgets its partitions only under that gate, inside the rebalance
//!   callback, before librdkafka lets the partition go. So every commit of
//!   ours reaches the group before another member can own the partition,
//!   and a partition revoked and assigned back is never committed for
//!   messages read before (another member may have committed further in
//!   between). On revoke, the open batch's messages of the revoked
//!   partitions are dropped, the worker gives up the revoked partitions of
//!   batches it has not started (or is retrying), and the callback waits
//!   (10 s at most) for a batch already being indexed to be committed: the
//!   next owner starts right after it. Past that wait it is not committed
//!   and the next owner reads it again.
//! - Backpressure: at most two batches are in flight, the one the worker
//!   has and one waiting for it; meanwhile the poll thread leaves messages
//!   in librdkafka's fetch queue. When dead-lettering or indexing fails
//!   (store slow or down) the worker retries with capped exponential
//!   backoff (`backoff`, 100 ms doubling to 10 s), and the poll thread
//!   pauses every partition and keeps polling, so the group membership is
//!   kept; it does the same when a batch has waited a second for a busy
//!   worker.
//!
//! Telemetry: each batch is a consumer span linked to the producer span of
//! every distinct `traceparent` header in it (and its child when there is
//! just one, so a single ingest call stays one trace); the store call is a
//! span under it. Metrics are in [`metrics`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use loglens_core::RuleSet;
use loglens_kafka::KafkaOptions;
use loglens_store::LogStore;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureProducer;

use crate::batch::Accumulator;
use crate::committer::Committer;
use crate::consumer::{Context, Poller};
use crate::handoff::Handoff;
use crate::metrics::Metrics;
use crate::worker::Worker;

mod backoff;
mod batch;
mod committer;
mod consumer;
mod dead_letter;
mod decode;
mod handoff;
mod ledger;
pub mod metrics;
mod offsets;
mod ownership;
mod worker;

pub use ledger::Ledger;

/// What can stop the processor.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Kafka setup or a fatal client error.
    #[error(transparent)]
    Kafka(#[from] loglens_kafka::Error),
    /// The processor thread panicked or could not start.
    #[error("processor: {0}")]
    Internal(String),
}

impl From<rdkafka::error::KafkaError> for Error {
    fn from(e: rdkafka::error::KafkaError) -> Self {
        Error::Kafka(e.into())
    }
}

/// Result with the processor [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the processor batches.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// Brokers and topics.
    pub kafka: KafkaOptions,
    /// `KAFKA_CONSUMER_GROUP`.
    pub group: String,
    /// `ELASTIC_BULK_SIZE`: most messages per indexed batch.
    pub bulk_size: usize,
    /// `ELASTIC_BULK_TIMEOUT_S`: longest a message waits for its batch to
    /// close while messages keep coming (a batch closes sooner when none
    /// come).
    pub bulk_timeout: Duration,
    /// Anomaly rules.
    pub rules: Arc<RuleSet>,
}

/// A running processor; stop it with [`Processor::stop`].
pub struct Processor {
    stop: Arc<AtomicBool>,
    poller: Option<std::thread::JoinHandle<Result<()>>>,
    worker: Option<tokio::task::JoinHandle<()>>,
    ledger: Arc<Ledger>,
}

impl Processor {
    /// Creates the topics if missing, joins the group and starts consuming:
    /// the consumer on a thread of its own, the worker as a task on the
    /// current Tokio runtime (so it must be called inside one).
    pub async fn start(config: ProcessorConfig, store: Arc<dyn LogStore>) -> Result<Processor> {
        if config.bulk_size == 0 || config.bulk_timeout.is_zero() {
            return Err(Error::Internal("bulk size and bulk timeout must be > 0".into()));
        }
        loglens_kafka::topics::ensure_topics(&config.kafka).await?;
        let ledger = Arc::new(Ledger::default());
        let handoff = Arc::new(Handoff::default());
        let metrics = Metrics::new();
        // One batch waits while the worker has another.
        let (batches, batches_rx) = tokio::sync::mpsc::channel(1);
        let (commits, commits_rx) = std::sync::mpsc::channel();
        let context = Context::new(
            Accumulator::new(config.bulk_size, config.bulk_timeout),
            handoff.clone(),
            ledger.clone(),
            metrics.clone(),
        );
        let consumer: Arc<BaseConsumer<Context>> = Arc::new(
            consumer::consumer_config(&config.kafka, &config.group).create_with_context(context)?,
        );
        consumer.subscribe(&[&config.kafka.raw_topic])?;
        let dlq: FutureProducer = config.kafka.producer_config().create()?;
        let committer = Committer {
            consumer: consumer.clone(),
            requests: commits_rx,
            handoff: handoff.clone(),
            ledger: ledger.clone(),
            metrics: metrics.clone(),
        };
        let committer = std::thread::Builder::new()
            .name("loglens-committer".into())
            .spawn(move || committer.run())
            .map_err(|e| Error::Internal(format!("cannot start the committer thread: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let poller = Poller::new(
            consumer,
            batches,
            committer,
            stop.clone(),
            config.group.clone(),
            config.kafka.raw_topic.clone(),
        );
        let poller = std::thread::Builder::new()
            .name("loglens-processor".into())
            .spawn(move || poller.run())
            .map_err(|e| Error::Internal(format!("cannot start the processor thread: {e}")))?;
        let worker = Worker {
            store,
            dlq,
            dlq_topic: config.kafka.dlq_topic.clone(),
            raw_topic: config.kafka.raw_topic.clone(),
            group: config.group.clone(),
            rules: config.rules.clone(),
            handoff,
            ledger: ledger.clone(),
            metrics,
            commits,
        };
        let worker = tokio::spawn(worker.run(batches_rx));
        Ok(Processor { stop, poller: Some(poller), worker: Some(worker), ledger })
    }

    /// The per-partition counters.
    pub fn ledger(&self) -> Arc<Ledger> {
        self.ledger.clone()
    }

    /// Whether the processor has ended (it only ends on stop or a fatal
    /// error).
    pub fn is_finished(&self) -> bool {
        self.poller.as_ref().is_none_or(std::thread::JoinHandle::is_finished)
            || self.worker.as_ref().is_none_or(tokio::task::JoinHandle::is_finished)
    }

    /// Stops reading, indexes and commits what was read (retrying until the
    /// store takes it), waits for the commits to be answered, and leaves the
    /// group (giving the broker 5 s to answer the leave).
    pub async fn stop(mut self) -> Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        let polled = match self.poller.take() {
            Some(t) => tokio::task::spawn_blocking(move || t.join())
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
                .map_err(|_| Error::Internal("the processor thread panicked".into()))?,
            None => Ok(()),
        };
        let worked = match self.worker.take() {
            Some(w) => w.await.map_err(|e| Error::Internal(format!("the processor worker: {e}"))),
            None => Ok(()),
        };
        polled.and(worked)
    }
}
