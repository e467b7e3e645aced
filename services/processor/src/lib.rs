//! The processor role: a consumer in group `KAFKA_CONSUMER_GROUP` that reads
//! `logs_raw`, parses, validates, normalises and scores each message, indexes
//! the batch through [`LogStore`], and only then commits the offsets.
//!
//! Delivery:
//! - A batch is closed at `bulk_size` messages or `bulk_timeout` after its
//!   first one. Bad messages (not JSON, invalid, larger than
//!   [`wire::MAX_RECORD_BYTES`]) go to the dead-letter topic with their
//!   original bytes, the reason and the source partition/offset, and their
//!   delivery is awaited. Then the valid records are indexed (durable when
//!   `index` returns), then the offsets are committed. So a crash at any
//!   point re-delivers only what was not committed.
//! - Duplicates: a record's id is the hash of its content and the store
//!   upserts by id, so re-delivered messages overwrite their earlier copy.
//! - Rebalance: everything runs on one thread, and librdkafka calls the
//!   rebalance callback only from inside `poll`, which is never called between
//!   indexing a batch and committing it. So when partitions are revoked the
//!   only uncommitted work is messages not yet indexed; those are dropped and
//!   the new owner reads them from the committed offset.
//! - Backpressure: when indexing fails (store slow or down) the processor
//!   pauses its partitions and retries with capped exponential backoff
//!   (100 ms doubling to 10 s), polling meanwhile so it keeps its group
//!   membership; memory stays bounded by one batch.
//!
//! Telemetry: each batch is a consumer span linked to the producer span of
//! every distinct `traceparent` header in it (and its child when there is
//! just one, so a single ingest call stays one trace); the store call is a
//! span under it. Metrics are in [`metrics`].

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use loglens_core::ledger::{LedgerView, PartitionLedger};
use loglens_core::record::normalize;
use loglens_core::{Error as CoreError, LogRecord, RawLog, RuleSet};
use loglens_kafka::{KafkaOptions, wire};
use loglens_store::LogStore;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{Header, Headers as _, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{debug, error, info, warn};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::metrics::Metrics;

pub mod metrics;

/// Most links a batch span carries (one per distinct producer context).
const MAX_LINKS: usize = 128;

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
    /// `ELASTIC_BULK_TIMEOUT_S`: longest a message waits for its batch to close.
    pub bulk_timeout: Duration,
    /// Anomaly rules.
    pub rules: Arc<RuleSet>,
}

/// Shared per-partition counters; see [`PartitionLedger`].
#[derive(Default)]
pub struct Ledger {
    partitions: Mutex<BTreeMap<(String, i32), PartitionLedger>>,
}

impl Ledger {
    fn update(&self, topic: &str, partition: i32, f: impl FnOnce(&mut PartitionLedger)) {
        let mut map = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry((topic.to_owned(), partition)).or_insert_with(|| PartitionLedger {
            topic: topic.to_owned(),
            partition,
            committed_offset: -1,
            high_watermark: -1,
            ..PartitionLedger::default()
        });
        f(entry);
    }

    fn set_assigned(&self, assigned: &HashSet<(String, i32)>) {
        for (topic, partition) in assigned {
            self.update(topic, *partition, |_| {});
        }
        let mut map = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        for (key, entry) in map.iter_mut() {
            entry.assigned = assigned.contains(key);
        }
    }
}

impl LedgerView for Ledger {
    fn snapshot(&self) -> Vec<PartitionLedger> {
        self.partitions.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }
}

/// A consumed message waiting for its batch.
struct Pending {
    topic: String,
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    /// The producer's `traceparent` header.
    traceparent: Option<Vec<u8>>,
}

/// Rebalance hooks: drop unindexed messages of revoked partitions and keep
/// the ledger's view of the assignment.
struct Context {
    batch: Mutex<Vec<Pending>>,
    ledger: Arc<Ledger>,
}

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let revoked: HashSet<(String, i32)> =
                tpl.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect();
            let mut batch = self.batch.lock().unwrap_or_else(|p| p.into_inner());
            let before = batch.len();
            batch.retain(|m| !revoked.contains(&(m.topic.clone(), m.partition)));
            ::metrics::counter!(metrics::DROPPED).increment((before - batch.len()) as u64);
            info!(partitions = ?revoked, dropped = before - batch.len(), "partitions revoked; unindexed messages left to the next owner");
            let mut map = self.ledger.partitions.lock().unwrap_or_else(|p| p.into_inner());
            for key in &revoked {
                if let Some(e) = map.get_mut(key) {
                    e.assigned = false;
                }
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(_) = rebalance {
            let assigned = assignment(consumer);
            info!(partitions = ?assigned, "partitions assigned");
            self.ledger.set_assigned(&assigned);
        }
    }
}

fn assignment(consumer: &BaseConsumer<Context>) -> HashSet<(String, i32)> {
    consumer
        .assignment()
        .map(|tpl| tpl.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect())
        .unwrap_or_default()
}

/// A running processor; stop it with [`Processor::stop`].
pub struct Processor {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<()>>>,
    ledger: Arc<Ledger>,
}

impl Processor {
    /// Creates the topics if missing, joins the group and starts consuming on
    /// a thread of its own. Must be called inside a Tokio runtime (the store
    /// is driven on it).
    pub async fn start(config: ProcessorConfig, store: Arc<dyn LogStore>) -> Result<Processor> {
        if config.bulk_size == 0 || config.bulk_timeout.is_zero() {
            return Err(Error::Internal("bulk size and bulk timeout must be > 0".into()));
        }
        loglens_kafka::topics::ensure_topics(&config.kafka).await?;
        let ledger = Arc::new(Ledger::default());
        let context = Context { batch: Mutex::new(Vec::new()), ledger: ledger.clone() };
        let consumer: BaseConsumer<Context> =
            config.kafka.consumer_config(&config.group).create_with_context(context)?;
        consumer.subscribe(&[&config.kafka.raw_topic])?;
        let dlq: FutureProducer = config.kafka.producer_config().create()?;
        let stop = Arc::new(AtomicBool::new(false));
        let runtime = tokio::runtime::Handle::current();
        let metrics = Metrics::new();
        let worker = Worker {
            config,
            store,
            consumer,
            dlq,
            runtime,
            ledger: ledger.clone(),
            stop: stop.clone(),
            metrics,
        };
        let thread = std::thread::Builder::new()
            .name("loglens-processor".into())
            .spawn(move || worker.run())
            .map_err(|e| Error::Internal(format!("cannot start the processor thread: {e}")))?;
        Ok(Processor { stop, thread: Some(thread), ledger })
    }

    /// The per-partition counters.
    pub fn ledger(&self) -> Arc<Ledger> {
        self.ledger.clone()
    }

    /// Whether the processor thread has ended (it only ends on stop or a
    /// fatal error).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops polling, indexes and commits what was read, leaves the group.
    pub async fn stop(mut self) -> Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take() {
            Some(t) => tokio::task::spawn_blocking(move || t.join())
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
                .map_err(|_| Error::Internal("the processor thread panicked".into()))?,
            None => Ok(()),
        }
    }
}

struct Worker {
    config: ProcessorConfig,
    store: Arc<dyn LogStore>,
    consumer: BaseConsumer<Context>,
    dlq: FutureProducer,
    runtime: tokio::runtime::Handle,
    ledger: Arc<Ledger>,
    stop: Arc<AtomicBool>,
    metrics: Metrics,
}

/// A message that cannot become a record, and why.
struct DeadLetter<'a> {
    message: &'a Pending,
    field: String,
    reason: String,
}

const POLL: Duration = Duration::from_millis(50);
const WATERMARK_EVERY: Duration = Duration::from_secs(2);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

impl Worker {
    fn run(self) -> Result<()> {
        info!(group = %self.config.group, topic = %self.config.kafka.raw_topic, "processor consuming");
        let mut batch_started: Option<Instant> = None;
        let mut last_watermarks = Instant::now();
        while !self.stop.load(Ordering::SeqCst) {
            match self.consumer.poll(POLL) {
                Some(Ok(m)) => {
                    self.take(&m);
                    batch_started.get_or_insert_with(Instant::now);
                }
                Some(Err(e)) => warn!(error = %e, "consumer error"),
                None => {}
            }
            let len = self.batch().len();
            if len == 0 {
                batch_started = None;
            }
            let due = batch_started.is_some_and(|t| t.elapsed() >= self.config.bulk_timeout);
            if len >= self.config.bulk_size || (len > 0 && due) {
                self.flush();
                batch_started = None;
            }
            if last_watermarks.elapsed() >= WATERMARK_EVERY {
                self.refresh_watermarks();
                last_watermarks = Instant::now();
            }
        }
        info!("processor stopping: indexing and committing what was read");
        self.flush();
        // Closing leaves the group; some brokers (nisshi) never answer the
        // leave, and librdkafka would then wait for ever. Offsets are already
        // committed, so give it a few seconds and let the broker expire the
        // membership otherwise.
        let Worker { consumer, .. } = self;
        let (done, closed) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(consumer);
            let _ = done.send(());
        });
        if closed.recv_timeout(CLOSE_TIMEOUT).is_err() {
            warn!(
                "leaving the consumer group timed out after {CLOSE_TIMEOUT:?}; the broker expires the membership"
            );
        }
        Ok(())
    }

    /// Counts a consumed message and adds it to the open batch.
    fn take(&self, m: &rdkafka::message::BorrowedMessage<'_>) {
        let pending = Pending {
            topic: m.topic().to_owned(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            traceparent: m.headers().and_then(|h| {
                h.iter()
                    .find(|h| h.key == wire::TRACEPARENT)
                    .and_then(|h| h.value.map(<[u8]>::to_vec))
            }),
        };
        self.metrics.consumed.increment(1);
        self.ledger.update(&pending.topic, pending.partition, |l| l.received += 1);
        self.batch().push(pending);
    }

    fn batch(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        self.consumer.context().batch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Dead-letters, indexes and commits the current batch.
    fn flush(&self) {
        let batch = std::mem::take(&mut *self.batch());
        if batch.is_empty() {
            return;
        }
        let started = Instant::now();
        self.metrics.batch_size.record(batch.len() as f64);
        let span = self.batch_span(&batch);
        let _entered = span.enter();
        let now = chrono::Utc::now().timestamp_millis();
        let mut records: Vec<(usize, LogRecord)> = Vec::with_capacity(batch.len());
        let mut dead: Vec<(usize, String, String)> = Vec::new();
        for (i, m) in batch.iter().enumerate() {
            match decode(m, now, &self.config.rules) {
                Ok(r) => records.push((i, r)),
                Err(e) => dead.push((i, e.field().unwrap_or_default().to_owned(), e.to_string())),
            }
        }
        let letters: Vec<DeadLetter<'_>> = dead
            .into_iter()
            .map(|(i, field, reason)| DeadLetter { message: &batch[i], field, reason })
            .collect();
        self.dead_letter(&letters);
        let dead_count = letters.len();
        drop(letters);
        let refused = self.index(&batch, records);
        let letters: Vec<DeadLetter<'_>> = refused
            .into_iter()
            .map(|(i, field, reason)| DeadLetter { message: &batch[i], field, reason })
            .collect();
        self.dead_letter(&letters);
        let dead_count = dead_count + letters.len();
        drop(letters);
        self.commit(&batch);
        self.metrics.flush.record(started.elapsed().as_secs_f64());
        debug!(messages = batch.len(), dead_lettered = dead_count, "batch done");
    }

    /// The consumer span of a batch: linked to each distinct producer
    /// context, and the child of the only one when there is exactly one.
    fn batch_span(&self, batch: &[Pending]) -> tracing::Span {
        let topic = &self.config.kafka.raw_topic;
        let span = tracing::info_span!(
            "processor.batch",
            otel.name = %format_args!("process {topic}"),
            otel.kind = "consumer",
            messaging.system = "kafka",
            messaging.operation.name = "process",
            messaging.destination.name = %topic,
            messaging.consumer.group.name = %self.config.group,
            messaging.batch.message_count = batch.len(),
        );
        let mut distinct: Vec<&[u8]> = Vec::new();
        for tp in batch.iter().filter_map(|m| m.traceparent.as_deref()) {
            if distinct.len() < MAX_LINKS && !distinct.contains(&tp) {
                distinct.push(tp);
            }
        }
        let contexts: Vec<_> = distinct
            .iter()
            .filter_map(|tp| {
                std::str::from_utf8(tp)
                    .ok()
                    .and_then(loglens_telemetry::propagation::parse_traceparent)
            })
            .collect();
        if let [only] = contexts.as_slice() {
            use opentelemetry::trace::TraceContextExt as _;
            let _ = span
                .set_parent(opentelemetry::Context::new().with_remote_span_context(only.clone()));
        }
        for cx in contexts {
            span.add_link(cx);
        }
        span
    }

    /// Sends every letter to the DLQ and waits for Kafka to acknowledge them,
    /// retrying with backoff: offsets never move past an unsaved letter.
    fn dead_letter(&self, letters: &[DeadLetter<'_>]) {
        if letters.is_empty() {
            return;
        }
        let mut backoff = Backoff::new();
        let mut todo: Vec<&DeadLetter<'_>> = letters.iter().collect();
        while !todo.is_empty() {
            let deliveries: Vec<_> = todo
                .iter()
                .map(|l| {
                    let m = l.message;
                    let headers = OwnedHeaders::new()
                        .insert(Header { key: wire::DLQ_REASON, value: Some(l.reason.as_str()) })
                        .insert(Header { key: wire::DLQ_FIELD, value: Some(l.field.as_str()) })
                        .insert(Header {
                            key: wire::DLQ_SOURCE_TOPIC,
                            value: Some(m.topic.as_str()),
                        })
                        .insert(Header {
                            key: wire::DLQ_SOURCE_PARTITION,
                            value: Some(&m.partition.to_string()),
                        })
                        .insert(Header {
                            key: wire::DLQ_SOURCE_OFFSET,
                            value: Some(&m.offset.to_string()),
                        });
                    let mut record = FutureRecord::to(&self.config.kafka.dlq_topic)
                        .payload(&m.payload)
                        .headers(headers);
                    if let Some(k) = &m.key {
                        record = record.key(k);
                    }
                    self.dlq.send_result(record).map_err(|(e, _)| e)
                })
                .collect();
            let mut failed = Vec::new();
            for (letter, delivery) in todo.iter().zip(deliveries) {
                let ok = match delivery {
                    Ok(future) => matches!(futures::executor::block_on(future), Ok(Ok(_))),
                    Err(_) => false,
                };
                if ok {
                    let m = letter.message;
                    warn!(partition = m.partition, offset = m.offset, field = %letter.field, reason = %letter.reason, "record dead-lettered");
                    self.metrics.dead_lettered.increment(1);
                    self.ledger.update(&m.topic, m.partition, |l| l.dead_lettered += 1);
                } else {
                    failed.push(*letter);
                }
            }
            if !failed.is_empty() {
                warn!(
                    failed = failed.len(),
                    "dead-letter topic did not acknowledge; retrying in {:?}",
                    backoff.peek()
                );
                self.wait(&mut backoff);
            }
            todo = failed;
        }
    }

    /// Indexes the records, retrying with the partitions paused until the
    /// store takes them. Records of partitions revoked meanwhile are dropped
    /// (the new owner indexes them). Returns the records the store refused
    /// for good, as (batch position, field, reason), for the dead-letter topic.
    fn index(
        &self,
        batch: &[Pending],
        mut records: Vec<(usize, LogRecord)>,
    ) -> Vec<(usize, String, String)> {
        let mut backoff = Backoff::new();
        let mut paused: Option<TopicPartitionList> = None;
        let mut refused_letters = Vec::new();
        while !records.is_empty() {
            let attempt: Vec<LogRecord> = records.iter().map(|(_, r)| r.clone()).collect();
            let backend = self.store.backend();
            let span = tracing::info_span!(
                "store",
                otel.name = %format_args!("index {backend}"),
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                db.system.name = backend,
                db.operation.name = "index",
                db.operation.batch.size = attempt.len(),
            );
            let result = self
                .runtime
                .block_on(tracing::Instrument::instrument(self.store.index(attempt), span.clone()));
            if result.is_err() {
                span.record("otel.status_code", "ERROR");
            }
            match result {
                Ok(refused) => {
                    let refused: HashSet<usize> = refused
                        .into_iter()
                        .map(|r| {
                            let i = records[r.position].0;
                            refused_letters.push((
                                i,
                                r.field.unwrap_or_default(),
                                format!("store refused: {}", r.reason),
                            ));
                            i
                        })
                        .collect();
                    // Counted once, on success, over what the store kept.
                    let kept: Vec<&(usize, LogRecord)> =
                        records.iter().filter(|(i, _)| !refused.contains(i)).collect();
                    for (i, _) in &kept {
                        let m = &batch[*i];
                        self.ledger.update(&m.topic, m.partition, |l| l.indexed += 1);
                    }
                    self.metrics.indexed.increment(kept.len() as u64);
                    loglens_telemetry::metrics::ServiceCounts::of(kept.iter().map(|(_, r)| r))
                        .record();
                    let now = chrono::Utc::now().timestamp_millis();
                    self.metrics.indexing_delays(now, kept.iter().map(|(_, r)| r.timestamp));
                    break;
                }
                Err(e) => {
                    if paused.is_none()
                        && let Ok(tpl) = self.consumer.assignment()
                    {
                        let _ = self.consumer.pause(&tpl);
                        paused = Some(tpl);
                    }
                    error!(error = %e, records = records.len(), "indexing failed; partitions paused, retrying in {:?}", backoff.peek());
                    self.wait(&mut backoff);
                    let owned = assignment(&self.consumer);
                    // Positions into `batch` stay valid: it is not shrunk here
                    // (the commit skips partitions no longer assigned).
                    let before = records.len();
                    records.retain(|(i, _)| {
                        owned.contains(&(batch[*i].topic.clone(), batch[*i].partition))
                    });
                    self.metrics.dropped.increment((before - records.len()) as u64);
                }
            }
        }
        if let Some(tpl) = paused {
            // Resume only what is still ours.
            let owned = assignment(&self.consumer);
            let mut resume = TopicPartitionList::new();
            for e in tpl.elements() {
                if owned.contains(&(e.topic().to_owned(), e.partition())) {
                    resume.add_partition(e.topic(), e.partition());
                }
            }
            if let Err(e) = self.consumer.resume(&resume) {
                warn!(error = %e, "resuming partitions");
            }
            info!("store accepted the batch again; partitions resumed");
        }
        refused_letters
    }

    /// Commits the next offset of every partition in the batch that is still
    /// assigned. A failed commit only means re-delivery, which upserts.
    fn commit(&self, batch: &[Pending]) {
        let mut next: BTreeMap<(&str, i32), i64> = BTreeMap::new();
        for m in batch {
            let e = next.entry((m.topic.as_str(), m.partition)).or_insert(m.offset + 1);
            *e = (*e).max(m.offset + 1);
        }
        let owned = assignment(&self.consumer);
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in &next {
            if owned.contains(&((*topic).to_owned(), *partition))
                && let Err(e) = tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            {
                warn!(error = %e, "building the commit");
            }
        }
        if tpl.count() == 0 {
            return;
        }
        let started = Instant::now();
        let committed = self.consumer.commit(&tpl, CommitMode::Sync);
        self.metrics.commit.record(started.elapsed().as_secs_f64());
        match committed {
            Ok(()) => {
                for ((topic, partition), offset) in next {
                    let mut lag = 0;
                    self.ledger.update(topic, partition, |l| {
                        l.committed_offset = l.committed_offset.max(offset);
                        lag = l.lag();
                    });
                    metrics::lag(topic, partition, lag);
                }
            }
            Err(e) => {
                warn!(error = %e, "offset commit failed; the batch will be re-delivered and upserted")
            }
        }
    }

    fn refresh_watermarks(&self) {
        for (topic, partition) in assignment(&self.consumer) {
            if let Ok((_, high)) =
                self.consumer.fetch_watermarks(&topic, partition, Duration::from_millis(500))
            {
                let mut lag = 0;
                self.ledger.update(&topic, partition, |l| {
                    l.high_watermark = high;
                    lag = l.lag();
                });
                metrics::lag(&topic, partition, lag);
            }
        }
    }

    /// Sleeps one backoff step while still serving the group protocol.
    fn wait(&self, backoff: &mut Backoff) {
        let until = Instant::now() + backoff.next();
        while Instant::now() < until && !self.stop.load(Ordering::SeqCst) {
            // Partitions are paused (or the batch is being retried), so a
            // message here is one already fetched: keep it for the next batch.
            if let Some(Ok(m)) = self.consumer.poll(POLL) {
                self.take(&m);
            }
        }
    }
}

/// A message as a record, or why it cannot be one.
fn decode(m: &Pending, now: i64, rules: &RuleSet) -> Result<LogRecord, CoreError> {
    if m.payload.len() > wire::MAX_RECORD_BYTES {
        return Err(CoreError::invalid(
            "",
            format!(
                "record is {} bytes; at most {} are accepted",
                m.payload.len(),
                wire::MAX_RECORD_BYTES
            ),
        ));
    }
    normalize(RawLog::from_json(&m.payload)?, now, rules)
}

/// Capped exponential backoff: 100 ms doubling to 10 s.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(Duration::from_millis(100))
    }
    fn peek(&self) -> Duration {
        self.0
    }
    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(10));
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(payload: &[u8]) -> Pending {
        Pending {
            topic: "t".into(),
            partition: 0,
            offset: 0,
            key: None,
            payload: payload.to_vec(),
            traceparent: None,
        }
    }

    #[test]
    fn decode_accepts_valid_and_explains_bad() {
        let rules = RuleSet::default();
        let ok =
            decode(&pending(br#"{"service_name":"a","message":"m","status_code":503}"#), 1, &rules)
                .unwrap();
        assert!(ok.anomaly);
        let e = decode(&pending(b"not json"), 1, &rules).unwrap_err();
        assert!(e.to_string().starts_with("record is not valid JSON"), "{e}");
        let e =
            decode(&pending(br#"{"service_name":"a","message":"m","status_code":42}"#), 1, &rules)
                .unwrap_err();
        assert_eq!(e.field(), Some("status_code"));
        let big =
            format!(r#"{{"service_name":"a","message":"{}"}}"#, "x".repeat(wire::MAX_RECORD_BYTES));
        let e = decode(&pending(big.as_bytes()), 1, &rules).unwrap_err();
        assert!(e.to_string().contains("at most 262144"), "{e}");
        assert!(decode(&pending(b""), 1, &rules).is_err(), "an empty message is dead-lettered");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut b = Backoff::new();
        let steps: Vec<u128> = (0..9).map(|_| b.next().as_millis()).collect();
        assert_eq!(steps, [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
    }

    #[test]
    fn ledger_tracks_assignment() {
        let l = Ledger::default();
        l.update("t", 1, |p| p.received += 2);
        l.set_assigned(&HashSet::from([("t".to_owned(), 0)]));
        let s = l.snapshot();
        assert_eq!(s.len(), 2);
        assert!(s[0].assigned && !s[1].assigned);
        assert_eq!((s[1].received, s[1].committed_offset), (2, -1));
    }
}
