//! The poll thread: the only thread that polls the consumer. It reads
//! messages into the open batch, hands closed batches to the worker, pauses
//! fetching while the worker cannot keep up, and serves the rebalance
//! callbacks and the statistics (which librdkafka runs only inside `poll`).
//!
//! The end offsets (for the lag) come from librdkafka's statistics, which
//! carry the high watermark of the latest fetch response: the processor
//! never asks the broker for them. (It used to send a ListOffsets with a
//! 500 ms timeout every 2 s; Kafka answers a connection's requests in
//! order, so on a slow broker that request waited behind the Fetch, timed
//! out, and librdkafka, at `socket.max.fails=1`, closed the connection and
//! the Fetch with it, every time: nothing was consumed for as long as
//! fetches took more than about half a second.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use loglens_kafka::wire;
use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{BorrowedMessage, Headers as _, Message};
use rdkafka::{ClientConfig, ClientContext, TopicPartitionList};
use serde::Deserialize;
use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::TrySendError;
use tracing::{debug, info, warn};

use crate::batch::{self, Accumulator, Pending};
use crate::handoff::Handoff;
use crate::ledger::Ledger;
use crate::metrics::{self, Metrics};
use crate::ownership::Partition;
use crate::{Error, Result};

/// Longest single wait in `poll`.
const POLL: Duration = Duration::from_millis(50);
/// How often librdkafka reports its statistics, which carry the end
/// offsets (for the lag) seen in fetch responses.
const STATS_EVERY: Duration = Duration::from_secs(2);
/// How long a batch may wait for a busy worker before fetching is paused
/// and polling resumes (to serve rebalances promptly).
const HOLD_AFTER: Duration = Duration::from_secs(1);
/// How long a revocation waits for the worker and the committer to be done
/// with the revoked partitions.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long leaving the group may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The consumer's context: state the rebalance callbacks need.
pub(crate) struct Context {
    accumulator: Mutex<Accumulator>,
    handoff: Arc<Handoff>,
    ledger: Arc<Ledger>,
    metrics: Metrics,
}

impl Context {
    /// A context around the open batch.
    pub(crate) fn new(
        accumulator: Accumulator,
        handoff: Arc<Handoff>,
        ledger: Arc<Ledger>,
        metrics: Metrics,
    ) -> Context {
        Context { accumulator: Mutex::new(accumulator), handoff, ledger, metrics }
    }

    /// Revocation: drop the open batch's messages of the revoked partitions,
    /// let the worker finish the batch it has in hand of them and the
    /// committer commit it, then forget them (under the commit gate).
    fn revoke(&self, consumer: &BaseConsumer<Context>, revoked: Vec<Partition>) {
        let dropped = self.accumulator.lock().revoke(&revoked);
        self.metrics.dropped.increment(dropped as u64);
        self.handoff.ownership.lock().begin_revoke(&revoked);
        self.handoff.notify_revoked();
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        // A lost assignment cannot be committed to any more: do not wait.
        let drained = consumer.assignment_lost() || self.drain(&revoked, deadline);
        let gate =
            self.handoff.gate.try_lock_for(deadline.saturating_duration_since(Instant::now()));
        self.handoff.ownership.lock().end_revoke(&revoked);
        drop(gate);
        self.ledger.revoked(&revoked);
        if !drained {
            warn!(partitions = ?revoked, "batch in hand not committed within {DRAIN_TIMEOUT:?} of the revocation; the next owner reads it again");
        }
        info!(partitions = ?revoked, dropped, "partitions revoked; unindexed messages left to the next owner");
    }

    /// Waits until the worker no longer has `revoked` in hand and the
    /// committer has done every request sent so far; false past `deadline`.
    fn drain(&self, revoked: &[Partition], deadline: Instant) -> bool {
        let until = |done: &dyn Fn() -> bool| loop {
            if done() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        // The worker asks for its commit before it lets go of its batch.
        until(&|| !self.handoff.ownership.lock().in_flight(revoked)) && {
            let asked = self.handoff.asked();
            until(&|| self.handoff.done() >= asked)
        }
    }
}

impl ClientContext for Context {
    /// Takes the end offsets of the partitions we own from the statistics
    /// (runs inside `poll`, on the poll thread).
    fn stats_raw(&self, statistics: &[u8]) {
        for (topic, partition, high) in high_watermarks(statistics) {
            if self.handoff.ownership.lock().epoch(&topic, partition).is_none() {
                continue;
            }
            let lag = self.ledger.high_watermark(&topic, partition, high);
            metrics::lag(&topic, partition, lag);
        }
    }
}

/// The consumer settings of the processor: `kafka`'s, plus the statistics
/// the end offsets come from.
pub(crate) fn consumer_config(kafka: &loglens_kafka::KafkaOptions, group: &str) -> ClientConfig {
    let mut config = kafka.consumer_config(group);
    config.set("statistics.interval.ms", STATS_EVERY.as_millis().to_string());
    config
}

/// The part of librdkafka's statistics JSON the lag needs.
#[derive(Deserialize)]
struct Stats {
    #[serde(default)]
    topics: std::collections::HashMap<String, TopicStats>,
}

#[derive(Deserialize)]
struct TopicStats {
    #[serde(default)]
    partitions: std::collections::HashMap<String, PartitionStats>,
}

#[derive(Deserialize)]
struct PartitionStats {
    partition: i32,
    hi_offset: i64,
}

/// `(topic, partition, high watermark)` of each partition librdkafka has a
/// fetched end offset for (not its internal partition -1, nor partitions
/// with no fetch response yet, whose `hi_offset` is negative).
fn high_watermarks(statistics: &[u8]) -> Vec<(String, i32, i64)> {
    let stats: Stats = match serde_json::from_slice(statistics) {
        Ok(s) => s,
        Err(e) => {
            debug!(error = %e, "unreadable librdkafka statistics");
            return Vec::new();
        }
    };
    let mut marks: Vec<(String, i32, i64)> = stats
        .topics
        .into_iter()
        .flat_map(|(topic, t)| {
            t.partitions
                .into_values()
                .filter(|p| p.partition >= 0 && p.hi_offset >= 0)
                .map(move |p| (topic.clone(), p.partition, p.hi_offset))
        })
        .collect();
    marks.sort();
    marks
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.revoke(consumer, partitions(tpl));
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(_) = rebalance {
            let assigned = consumer.assignment().map(|tpl| partitions(&tpl)).unwrap_or_default();
            info!(partitions = ?assigned, "partitions assigned");
            self.handoff.ownership.lock().assign(&assigned);
            self.ledger.assigned(&assigned);
        }
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<Partition> {
    tpl.elements().iter().map(|e| Partition::new(e.topic(), e.partition())).collect()
}

/// The poll loop and what it owns.
pub(crate) struct Poller {
    consumer: Arc<BaseConsumer<Context>>,
    /// Closed batches to the worker; `None` once stopping has handed over
    /// the last one.
    batches: Option<Sender<Vec<Pending>>>,
    /// The committer thread; it ends after the worker.
    committer: JoinHandle<()>,
    stop: Arc<AtomicBool>,
    group: String,
    topic: String,
    /// The ownership version at which fetching was paused, if it is.
    paused: Option<u64>,
}

impl Poller {
    /// A poll loop over a subscribed consumer.
    pub(crate) fn new(
        consumer: Arc<BaseConsumer<Context>>,
        batches: Sender<Vec<Pending>>,
        committer: JoinHandle<()>,
        stop: Arc<AtomicBool>,
        group: String,
        topic: String,
    ) -> Poller {
        Poller { consumer, batches: Some(batches), committer, stop, group, topic, paused: None }
    }

    fn context(&self) -> &Context {
        self.consumer.context()
    }

    /// Polls until stopped and the worker and the committer are done with
    /// what was read, then leaves the group.
    pub(crate) fn run(mut self) -> Result<()> {
        self.context().handoff.set_poller();
        info!(group = %self.group, topic = %self.topic, "processor consuming");
        let mut blocked_since: Option<Instant> = None;
        let result = loop {
            let stopping = self.stop.load(Ordering::SeqCst);
            if let Err(e) = self.hand_over(stopping) {
                break Err(e);
            }
            // The committer ends after the worker, when all is committed.
            if self.committer.is_finished() {
                break if stopping {
                    Ok(())
                } else {
                    Err(Error::Internal("the processor worker ended".into()))
                };
            }
            // A closed batch waits for the worker, which has one in hand.
            let blocked = self.batches.as_ref().is_some_and(|b| b.capacity() == 0);
            let now = Instant::now();
            let blocked_for = if blocked {
                Some(now - *blocked_since.get_or_insert(now))
            } else {
                blocked_since = None;
                None
            };
            let hold = stopping
                || self.context().handoff.stalled()
                || blocked_for.is_some_and(|d| d >= HOLD_AFTER);
            self.pause(hold);
            if blocked && !hold {
                // A healthy worker is busy: leave the next messages in
                // librdkafka's fetch queue until it takes the batch.
                std::thread::park_timeout(POLL);
                continue;
            }
            match self.consumer.poll(POLL) {
                // Once stopping, what is still fetched is left for the next owner.
                Some(Ok(m)) if !stopping => self.take(&m),
                Some(Ok(_)) => {}
                Some(Err(e)) => warn!(error = %e, "consumer error"),
                None => self.context().accumulator.lock().idle(),
            }
        };
        self.close();
        result
    }

    /// Counts a consumed message's records and adds them to the open batch.
    fn take(&self, m: &BorrowedMessage<'_>) {
        let context = self.context();
        let epoch = context.handoff.ownership.lock().epoch(m.topic(), m.partition()).unwrap_or(0);
        // The first of each header counts.
        let (mut traceparent, mut tenant, mut format) = (None, None, None);
        for h in m.headers().into_iter().flat_map(|h| h.iter()) {
            if h.key == wire::TRACEPARENT && traceparent.is_none() {
                traceparent = h.value.map(<[u8]>::to_vec);
            } else if h.key == wire::TENANT && tenant.is_none() {
                tenant = Some(h.value.map(<[u8]>::to_vec).unwrap_or_default());
            } else if h.key == wire::FORMAT && format.is_none() {
                format = Some(h.value.unwrap_or_default());
            }
        }
        let (format, bad_format) = match wire::format(format) {
            Ok(format) => (Some(format), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let message = Arc::new(batch::Message {
            topic: m.topic().to_owned(),
            partition: m.partition(),
            offset: m.offset(),
            epoch,
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().unwrap_or_default().to_vec(),
            bad_format,
            traceparent,
            tenant,
        });
        let records = message.records(format == Some(wire::Format::Records));
        context.metrics.consumed.increment(records.len() as u64);
        context.ledger.received(m.topic(), m.partition(), records.len() as u64);
        context.accumulator.lock().push_all(records, Instant::now());
    }

    /// Hands the open batch to the worker when it is closed (or, when
    /// stopping, whatever it holds) and the worker has room; when stopping
    /// and nothing is left, closes the channel so the worker ends.
    fn hand_over(&mut self, stopping: bool) -> Result<()> {
        let Some(batches) = &self.batches else { return Ok(()) };
        let mut accumulator = self.consumer.context().accumulator.lock();
        if !accumulator.is_empty() && (stopping || accumulator.is_due(Instant::now())) {
            match batches.try_reserve() {
                Ok(permit) => {
                    debug!(messages = accumulator.len(), "batch handed to the worker");
                    permit.send(accumulator.take());
                }
                Err(TrySendError::Full(())) => {}
                Err(TrySendError::Closed(())) => {
                    return Err(Error::Internal("the processor worker ended".into()));
                }
            }
        }
        if stopping && accumulator.is_empty() {
            drop(accumulator);
            self.batches = None;
        }
        Ok(())
    }

    /// Pauses fetching from every assigned partition while `hold`, resumes
    /// it after. Pausing again after a rebalance covers new partitions.
    fn pause(&mut self, hold: bool) {
        if hold {
            let version = self.context().handoff.ownership.lock().version();
            if self.paused == Some(version) {
                return;
            }
            match self.consumer.assignment() {
                Ok(tpl) => {
                    if let Err(e) = self.consumer.pause(&tpl) {
                        warn!(error = %e, "pausing partitions");
                    }
                }
                Err(e) => warn!(error = %e, "reading the assignment to pause it"),
            }
            debug!("fetching paused");
            self.paused = Some(version);
        } else if self.paused.take().is_some() {
            // Resuming a partition that is not paused does nothing.
            match self.consumer.assignment() {
                Ok(tpl) => {
                    if let Err(e) = self.consumer.resume(&tpl) {
                        warn!(error = %e, "resuming partitions");
                    }
                }
                Err(e) => warn!(error = %e, "reading the assignment to resume it"),
            }
            debug!("fetching resumed");
        }
    }

    /// Leaves the group. Some brokers (nisshi) never answer the leave, and
    /// librdkafka would then wait for ever; offsets are already committed,
    /// so give it a few seconds and let the broker expire the membership
    /// otherwise.
    fn close(self) {
        let Poller { consumer, batches, committer, .. } = self;
        // The worker ends once its channel closes, then the committer.
        drop(batches);
        let (done, closed) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // The committer holds the other reference to the consumer.
            let _ = committer.join();
            drop(consumer);
            let _ = done.send(());
        });
        if closed.recv_timeout(CLOSE_TIMEOUT).is_err() {
            warn!(
                "leaving the consumer group timed out after {CLOSE_TIMEOUT:?}; the broker expires the membership"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_reports_statistics_for_the_lag() {
        let kafka = loglens_kafka::KafkaOptions::new("h:1");
        let c = consumer_config(&kafka, "g");
        assert_eq!(c.get("statistics.interval.ms"), Some("2000"));
        // The rest is the shared consumer's.
        assert_eq!(c.get("group.id"), Some("g"));
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
    }

    #[test]
    fn high_watermarks_come_from_statistics_not_from_requests() {
        // Trimmed from librdkafka 2.12 statistics: the internal partition
        // -1, a partition with no fetch response yet (-1001) and two that
        // have one.
        let json = br#"{"name":"loglens#consumer-1","type":"consumer","topics":{
            "logs_raw":{"topic":"logs_raw","metadata_age":1200,"partitions":{
                "0":{"partition":0,"leader":111,"fetch_state":"active","hi_offset":24074,"ls_offset":24074,"consumer_lag":100},
                "1":{"partition":1,"leader":111,"fetch_state":"none","hi_offset":-1001,"ls_offset":-1001},
                "2":{"partition":2,"leader":111,"fetch_state":"active","hi_offset":48028,"ls_offset":48028},
                "-1":{"partition":-1,"leader":-1,"hi_offset":-1001}}}},
            "brokers":{}}"#;
        assert_eq!(
            high_watermarks(json),
            vec![("logs_raw".to_owned(), 0, 24074), ("logs_raw".to_owned(), 2, 48028)]
        );
        assert!(high_watermarks(br#"{"name":"x","topics":{}}"#).is_empty());
        assert!(high_watermarks(b"not json").is_empty());
    }
}
