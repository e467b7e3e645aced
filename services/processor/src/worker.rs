//! The worker task: takes closed batches from the poll thread, dead-letters
//! what cannot be a record (delivery awaited), indexes the rest (retrying
//! with backoff until the store takes them), dead-letters what the store
//! refuses for good, then asks the committer to commit.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use loglens_core::{LogRecord, RuleSet};
use loglens_store::LogStore;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio::sync::mpsc::Receiver;
use tracing::{Instrument as _, debug, error, info, warn};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::backoff::{self, backoff};
use crate::batch::{Message, Pending};
use crate::dead_letter::{self, DeadLetter, Decoded};
use crate::handoff::Handoff;
use crate::ledger::{Ledger, TenantCount};
use crate::metrics::Metrics;
use crate::offsets::{self, Mark};
use crate::ownership::Partition;

/// Most links a batch span carries (one per distinct producer context).
const MAX_LINKS: usize = 128;

/// The worker and what it needs.
pub(crate) struct Worker {
    /// Where records go.
    pub(crate) store: Arc<dyn LogStore>,
    /// The dead-letter producer.
    pub(crate) dlq: FutureProducer,
    /// The dead-letter topic.
    pub(crate) dlq_topic: String,
    /// The raw topic (for the batch span).
    pub(crate) raw_topic: String,
    /// The consumer group (for the batch span).
    pub(crate) group: String,
    /// Anomaly rules.
    pub(crate) rules: Arc<RuleSet>,
    /// State shared with the poll thread.
    pub(crate) handoff: Arc<Handoff>,
    /// Per-partition counters.
    pub(crate) ledger: Arc<Ledger>,
    /// Metric handles.
    pub(crate) metrics: Metrics,
    /// Offsets to commit, to the committer.
    pub(crate) commits: Sender<Vec<Mark>>,
}

/// A batch in hand, and the partitions given up while it was worked on.
struct Flight {
    batch: Vec<Pending>,
    abandoned: Vec<Partition>,
}

impl Worker {
    /// Works through batches until the poll thread closes the channel.
    pub(crate) async fn run(self, mut batches: Receiver<Vec<Pending>>) {
        while let Some(batch) = batches.recv().await {
            // Room for the next batch.
            self.handoff.wake_poller();
            let span = self.batch_span(&batch);
            self.process(batch).instrument(span).await;
        }
        debug!("processor worker done");
    }

    /// Dead-letters, indexes and hands the commit of one batch over.
    async fn process(&self, mut batch: Vec<Pending>) {
        let started = Instant::now();
        let messages = batch.len();
        self.metrics.batch_size.record(messages as f64);
        // Like the partitions' `received`, before revoked partitions are
        // left out; a message whose tenant header is bad has no tenant.
        self.ledger
            .count_tenants(TenantCount::Received, batch.iter().filter_map(|m| m.tenant().ok()));
        // Messages of partitions revoked since they were read are left to
        // the next owner.
        let claimed = self.handoff.ownership.lock().claim(
            batch.iter().map(|m| (m.message.topic.as_str(), m.message.partition, m.message.epoch)),
        );
        batch.retain(|m| {
            let m = &m.message;
            claimed.iter().any(|(p, e)| p.is(&m.topic, m.partition) && *e == m.epoch)
        });
        let dropped = messages - batch.len();
        if dropped > 0 {
            self.metrics.dropped.increment(dropped as u64);
            info!(
                dropped,
                "partitions revoked before their batch was indexed; messages left to the next owner"
            );
        }
        let mut flight = Flight { batch, abandoned: Vec::new() };
        let now = chrono::Utc::now().timestamp_millis();
        let (records, letters) = dead_letter::sort(&flight.batch, now, &self.rules);
        let mut dead = self.dead_letter(&mut flight, letters).await;
        let refused = self.index(&mut flight, records, now).await;
        dead += self.dead_letter(&mut flight, refused).await;
        let marks =
            offsets::next_offsets(flight.batch.iter().filter(|m| !m.is_in(&flight.abandoned)));
        if !marks.is_empty() {
            self.handoff.commit_asked();
            // The committer is gone only when it panicked; then nothing commits.
            let _ = self.commits.send(marks);
        }
        // Let go only once the commit is asked for (a revocation waits on both).
        self.handoff.ownership.lock().release();
        self.handoff.wake_poller();
        self.metrics.flush.record(started.elapsed().as_secs_f64());
        debug!(messages, dead_lettered = dead, "batch done");
    }

    /// The consumer span of a batch: linked to each distinct producer
    /// context, and the child of the only one when there is exactly one.
    fn batch_span(&self, batch: &[Pending]) -> tracing::Span {
        let topic = &self.raw_topic;
        let span = tracing::info_span!(
            "processor.batch",
            otel.name = %format_args!("process {topic}"),
            otel.kind = "consumer",
            messaging.system = "kafka",
            messaging.operation.name = "process",
            messaging.destination.name = %topic,
            messaging.consumer.group.name = %self.group,
            messaging.batch.message_count = batch.len(),
        );
        let mut distinct: Vec<&[u8]> = Vec::new();
        for tp in batch.iter().filter_map(|m| m.message.traceparent.as_deref()) {
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
    /// Returns how many were delivered.
    async fn dead_letter(&self, flight: &mut Flight, mut letters: Vec<DeadLetter>) -> usize {
        self.give_up_abandoned(flight, &mut letters, |l| l.position, false);
        let mut delays = backoff();
        let mut delivered = 0;
        let mut tenants = Vec::new();
        let mut retried = false;
        while !letters.is_empty() {
            let deliveries: Vec<_> =
                letters.iter().map(|l| self.send(&flight.batch[l.position], l)).collect();
            let mut failed = Vec::new();
            for (letter, delivery) in letters.into_iter().zip(deliveries) {
                let ok = match delivery {
                    Ok(future) => matches!(future.await, Ok(Ok(_))),
                    Err(_) => false,
                };
                if ok {
                    let m = &flight.batch[letter.position];
                    warn!(partition = m.message.partition, offset = m.message.offset, field = %letter.field, reason = %letter.reason, "record dead-lettered");
                    self.metrics.dead_lettered.increment(1);
                    self.ledger.dead_lettered(&m.message.topic, m.message.partition);
                    tenants.extend(letter.tenant);
                    delivered += 1;
                } else {
                    failed.push(letter);
                }
            }
            letters = failed;
            if letters.is_empty() {
                break;
            }
            let delay = delays.next().unwrap_or(backoff::MAX);
            warn!(failed = letters.len(), retry_in = ?delay, "dead-letter topic did not acknowledge; retrying");
            retried = true;
            self.retry_after(delay).await;
            self.give_up_abandoned(flight, &mut letters, |l| l.position, true);
        }
        self.ledger.count_tenants(TenantCount::DeadLettered, tenants.iter().map(String::as_str));
        if retried {
            self.handoff.set_stalled(false);
        }
        delivered
    }

    /// Queues one letter on the DLQ producer.
    fn send(&self, m: &Pending, letter: &DeadLetter) -> Result<DeliveryFuture, KafkaError> {
        let headers =
            letter.headers(m).iter().fold(OwnedHeaders::new_with_capacity(7), |h, (key, value)| {
                h.insert(Header { key, value: Some(&**value) })
            });
        let mut record = FutureRecord::to(&self.dlq_topic).payload(m.payload()).headers(headers);
        if let Some(k) = &m.message.key {
            record = record.key(k);
        }
        self.dlq.send_result(record).map_err(|(e, _)| e)
    }

    /// Indexes the records (decoded at `now`), retrying with fetching
    /// paused until the store takes them. Records of partitions revoked
    /// meanwhile are given up (the new owner indexes them). Returns the
    /// records the store refused for good, for the dead-letter topic.
    ///
    /// The records go to the store as they are, not copied: a retry
    /// decodes them from their messages again ([`Decoded::again`]). Until
    /// 2026-12-04 every attempt sent a copy, kept for the next one (a clone
    /// of each record, with its dozen strings, on the Kafka path's every
    /// batch).
    async fn index(&self, flight: &mut Flight, decoded: Decoded, now: i64) -> Vec<DeadLetter> {
        let Decoded { mut positions, records } = decoded;
        let whole = positions.len();
        self.give_up_abandoned(flight, &mut positions, |p| *p, false);
        let mut next = (positions.len() == whole).then_some(records);
        let mut late = Vec::new();
        let mut delays = backoff();
        let mut retried = false;
        while !positions.is_empty() {
            let attempt = match next.take() {
                Some(records) => records,
                None => {
                    let (d, letters) = Decoded::again(&flight.batch, positions, now, &self.rules);
                    late.extend(letters);
                    positions = d.positions;
                    if positions.is_empty() {
                        break;
                    }
                    d.records
                }
            };
            // What the metrics need once the store has the records.
            let counts = loglens_telemetry::metrics::ServiceCounts::of(attempt.records());
            let kept_of = Kept::of(attempt.records());
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
            let result = self.store.index_normalized(attempt).instrument(span.clone()).await;
            match result {
                Ok(refused) => {
                    counts.record_less(refused.iter().map(|r| &r.record));
                    let mut letters = dead_letter::refused(&positions, refused);
                    let refused: HashSet<usize> = letters.iter().map(|l| l.position).collect();
                    // Counted once, on success, over what the store kept.
                    let kept: Vec<usize> = (0..positions.len())
                        .filter(|i| !refused.contains(&positions[*i]))
                        .collect();
                    self.count_indexed(&flight.batch, kept.iter().map(|i| positions[*i]));
                    self.ledger.count_tenants(
                        TenantCount::Indexed,
                        kept.iter().map(|i| kept_of.tenant(*i)),
                    );
                    self.metrics.indexed.increment(kept.len() as u64);
                    let now = chrono::Utc::now().timestamp_millis();
                    self.metrics.indexing_delays(now, kept.iter().map(|i| kept_of.timestamps[*i]));
                    if retried {
                        self.handoff.set_stalled(false);
                        info!("store accepted the batch again; partitions resumed");
                    }
                    letters.extend(late);
                    return letters;
                }
                Err(e) => {
                    span.record("otel.status_code", "ERROR");
                    let delay = delays.next().unwrap_or(backoff::MAX);
                    error!(error = %e, records = positions.len(), retry_in = ?delay, "indexing failed; partitions paused, retrying");
                    retried = true;
                    self.retry_after(delay).await;
                    self.give_up_abandoned(flight, &mut positions, |p| *p, true);
                }
            }
        }
        if retried {
            self.handoff.set_stalled(false);
        }
        late
    }

    /// Adds indexed records to the ledger, one update per run of a partition.
    fn count_indexed(&self, batch: &[Pending], positions: impl Iterator<Item = usize>) {
        let mut run: Option<(&Message, u64)> = None;
        for i in positions {
            let m = &*batch[i].message;
            match &mut run {
                Some((first, n)) if first.partition == m.partition && first.topic == m.topic => {
                    *n += 1;
                }
                _ => {
                    if let Some((first, n)) = run.replace((m, 1)) {
                        self.ledger.indexed(&first.topic, first.partition, n);
                    }
                }
            }
        }
        if let Some((first, n)) = run {
            self.ledger.indexed(&first.topic, first.partition, n);
        }
    }

    /// Waits one backoff step with fetching paused (the poll thread keeps
    /// polling), less when partitions are revoked meanwhile.
    async fn retry_after(&self, delay: Duration) {
        self.handoff.set_stalled(true);
        self.handoff.retry_delay(delay).await;
    }

    /// Removes from `items` those of partitions given up. With `now`, first
    /// gives up the partitions being revoked or gone since the batch was
    /// taken (done only after a failed attempt: a batch that goes through is
    /// finished and committed while the revocation waits for it).
    fn give_up_abandoned<T>(
        &self,
        flight: &mut Flight,
        items: &mut Vec<T>,
        position: impl Fn(&T) -> usize,
        now: bool,
    ) {
        if now {
            let gone = self.handoff.ownership.lock().abandon_unworkable();
            if !gone.is_empty() {
                info!(partitions = ?gone, "partitions revoked while their batch was retried; left to the next owner");
                flight.abandoned.extend(gone);
            }
        }
        if flight.abandoned.is_empty() {
            return;
        }
        let before = items.len();
        items.retain(|x| !flight.batch[position(x)].is_in(&flight.abandoned));
        self.metrics.dropped.increment((before - items.len()) as u64);
    }
}

/// Of each record handed to the store, what the metrics read once the
/// store has taken it: its tenant (an index into a few names) and time.
struct Kept {
    names: Vec<String>,
    tenants: Vec<u16>,
    timestamps: Vec<i64>,
}

impl Kept {
    fn of(records: &[LogRecord]) -> Kept {
        let mut kept = Kept {
            names: Vec::new(),
            tenants: Vec::with_capacity(records.len()),
            timestamps: Vec::with_capacity(records.len()),
        };
        for r in records {
            let at = match kept.names.iter().position(|n| *n == r.tenant) {
                Some(at) => at,
                None => {
                    kept.names.push(r.tenant.clone());
                    kept.names.len() - 1
                }
            };
            kept.tenants.push(u16::try_from(at).unwrap_or(u16::MAX));
            kept.timestamps.push(r.timestamp);
        }
        kept
    }

    /// The tenant of record `i`.
    fn tenant(&self, i: usize) -> &str {
        self.names.get(usize::from(self.tenants[i])).map_or("", String::as_str)
    }
}
