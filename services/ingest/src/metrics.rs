//! The ingest role's Prometheus metrics. Counted once per request message,
//! not per record.

use std::time::Duration;

use loglens_core::Rejection;

/// Counter: records received in ingest calls.
pub const RECORDS_RECEIVED: &str = "loglens_ingest_records_received_total";
/// Counter: records the sink took (Kafka acknowledged, or the store made durable).
pub const RECORDS_ACCEPTED: &str = "loglens_ingest_records_accepted_total";
/// Counter: records not taken, by `reason` (`invalid_argument` with the
/// `field` at fault, or the sink's failure: `resource_exhausted`, `unavailable`, ...).
pub const RECORDS_REJECTED: &str = "loglens_ingest_records_rejected_total";
/// Histogram: time for the sink to take one batch (Kafka: until every record
/// is acknowledged), by `sink` (`kafka`, `store`).
pub const PRODUCE_DURATION: &str = "loglens_ingest_produce_duration_seconds";
/// Gauge: records the Kafka producer holds not yet acknowledged.
pub const QUEUE_DEPTH: &str = "loglens_ingest_queue_depth";

/// Registers the descriptions (call once, after installing the recorder)
/// and the unlabelled series, so they show as 0 before any traffic.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(RECORDS_RECEIVED, "records received in ingest calls");
    describe_counter!(
        RECORDS_ACCEPTED,
        "records the sink took (Kafka acknowledged or the store durable)"
    );
    describe_counter!(RECORDS_REJECTED, "records not taken, by reason and field");
    describe_histogram!(
        PRODUCE_DURATION,
        Unit::Seconds,
        "time for the sink to take one batch, by sink"
    );
    describe_gauge!(QUEUE_DEPTH, "records the Kafka producer holds unacknowledged");
    describe_counter!(
        loglens_telemetry::metrics::INGEST_REQUESTS_SHED,
        "ingest requests refused for want of the ingest byte budget, by door"
    );
    metrics::counter!(RECORDS_RECEIVED).absolute(0);
    metrics::counter!(RECORDS_ACCEPTED).absolute(0);
}

/// Counts one validated request message.
pub(crate) fn validated(received: usize, rejected: &[Rejection]) {
    metrics::counter!(RECORDS_RECEIVED).increment(received as u64);
    // Rejections of one message usually share a field or two.
    let mut by_field: Vec<(&str, u64)> = Vec::new();
    for r in rejected {
        match by_field.iter_mut().find(|(f, _)| *f == r.field) {
            Some((_, n)) => *n += 1,
            None => by_field.push((&r.field, 1)),
        }
    }
    for (field, n) in by_field {
        metrics::counter!(RECORDS_REJECTED, "reason" => "invalid_argument", "field" => field.to_owned()).increment(n);
    }
}

/// Counts records the store refused for good (they are in the reply's
/// rejections, with the store's reason).
pub(crate) fn refused(rejected: &[Rejection]) {
    for r in rejected {
        metrics::counter!(RECORDS_REJECTED, "reason" => "store_refused", "field" => r.field.clone()).increment(1);
    }
}

/// Counts a batch the sink took or refused.
pub(crate) fn delivered(
    sink: &'static str,
    records: usize,
    took: Duration,
    error: Option<&loglens_core::Error>,
) {
    metrics::histogram!(PRODUCE_DURATION, "sink" => sink).record(took.as_secs_f64());
    match error {
        None => metrics::counter!(RECORDS_ACCEPTED).increment(records as u64),
        Some(e) => {
            metrics::counter!(RECORDS_REJECTED, "reason" => e.code().as_str(), "field" => "")
                .increment(records as u64)
        }
    }
}
