//! The processor's Prometheus metrics. Hot-path counters are handles
//! registered once (`Metrics`), so counting a message is one atomic add.
//!
//! Accounting: every consumed record ends up indexed, dead-lettered, or
//! dropped (its partition was revoked before it was indexed; the new owner
//! reads it again), so `consumed == indexed + dead_lettered + dropped` once
//! the processor is idle.

use std::time::Duration;

/// Counter: records read from the raw topic (each of a message of several).
pub const CONSUMED: &str = "loglens_processor_records_consumed_total";
/// Counter: records durably indexed.
pub const INDEXED: &str = "loglens_processor_records_indexed_total";
/// Counter: records written to the dead-letter topic.
pub const DEAD_LETTERED: &str = "loglens_processor_records_dead_lettered_total";
/// Counter: records dropped unindexed because their partition was revoked.
pub const DROPPED: &str = "loglens_processor_records_dropped_total";
/// Histogram: records per batch.
pub const BATCH_SIZE: &str = "loglens_processor_batch_size";
/// Histogram: time to dead-letter, index and commit one batch.
pub const FLUSH_DURATION: &str = "loglens_processor_flush_duration_seconds";
/// Histogram: time of one offset commit.
pub const COMMIT_DURATION: &str = "loglens_processor_commit_duration_seconds";
/// Histogram: from a record's timestamp to the store acknowledging it
/// (searchable at most one refresh interval later).
pub const INDEXING_DELAY: &str = "loglens_processor_indexing_delay_seconds";
/// Gauge: end offset minus committed offset, by `topic` and `partition`.
pub const CONSUMER_LAG: &str = "loglens_processor_consumer_lag";

/// Histograms whose buckets are not latencies, for the recorder.
pub const HISTOGRAM_BUCKETS: &[(&str, &[f64])] = &[
    (BATCH_SIZE, loglens_telemetry::metrics::SIZE_BUCKETS),
    (INDEXING_DELAY, loglens_telemetry::metrics::AGE_BUCKETS),
];

/// Registers the descriptions (call once, after installing the recorder).
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(CONSUMED, "records read from the raw topic");
    describe_counter!(INDEXED, "records durably indexed");
    describe_counter!(DEAD_LETTERED, "records written to the dead-letter topic");
    describe_counter!(DROPPED, "records dropped unindexed because their partition was revoked");
    describe_histogram!(BATCH_SIZE, Unit::Count, "messages per batch");
    describe_histogram!(
        FLUSH_DURATION,
        Unit::Seconds,
        "time to dead-letter, index and commit one batch"
    );
    describe_histogram!(COMMIT_DURATION, Unit::Seconds, "time of one offset commit");
    describe_histogram!(
        INDEXING_DELAY,
        Unit::Seconds,
        "from a record's timestamp to the store acknowledging it"
    );
    describe_gauge!(CONSUMER_LAG, "end offset minus committed offset, by topic and partition");
}

/// Handles of the processor's unlabelled metrics.
#[derive(Clone)]
pub(crate) struct Metrics {
    pub(crate) consumed: metrics::Counter,
    pub(crate) indexed: metrics::Counter,
    pub(crate) dead_lettered: metrics::Counter,
    pub(crate) dropped: metrics::Counter,
    pub(crate) batch_size: metrics::Histogram,
    pub(crate) flush: metrics::Histogram,
    pub(crate) commit: metrics::Histogram,
    pub(crate) delay: metrics::Histogram,
}

impl Metrics {
    /// Registers the handles; every counter shows (as 0) from the start.
    pub(crate) fn new() -> Metrics {
        let m = Metrics {
            consumed: metrics::counter!(CONSUMED),
            indexed: metrics::counter!(INDEXED),
            dead_lettered: metrics::counter!(DEAD_LETTERED),
            dropped: metrics::counter!(DROPPED),
            batch_size: metrics::histogram!(BATCH_SIZE),
            flush: metrics::histogram!(FLUSH_DURATION),
            commit: metrics::histogram!(COMMIT_DURATION),
            delay: metrics::histogram!(INDEXING_DELAY),
        };
        for c in [&m.consumed, &m.indexed, &m.dead_lettered, &m.dropped] {
            c.increment(0);
        }
        m
    }

    /// Records how old each of a batch's records (ms timestamps) was when
    /// the store acknowledged it, at `now_ms`.
    pub(crate) fn indexing_delays(&self, now_ms: i64, timestamps: impl Iterator<Item = i64>) {
        for ts in timestamps {
            self.delay.record(
                Duration::from_millis(now_ms.saturating_sub(ts).max(0) as u64).as_secs_f64(),
            );
        }
    }
}

/// Publishes a partition's lag.
pub(crate) fn lag(topic: &str, partition: i32, lag: i64) {
    metrics::gauge!(CONSUMER_LAG, "topic" => topic.to_owned(), "partition" => partition.to_string()).set(lag as f64);
}
