//! Per-protocol ingest metrics, each with a `protocol` label (`otlp_grpc`,
//! `otlp_http`, `es_bulk`, `loki`, `hec`, `syslog_udp`, `syslog_tcp`).

/// Counter: records a protocol received (read or not), by `protocol`.
pub const RECEIVED: &str = "loglens_receiver_records_received_total";
/// Counter: records accepted, by `protocol`.
pub const ACCEPTED: &str = "loglens_receiver_records_accepted_total";
/// Counter: records rejected, by `protocol` and `reason` (`undecodable`,
/// `invalid_argument`, `unavailable`, ...).
pub const REJECTED: &str = "loglens_receiver_records_rejected_total";

/// Registers the descriptions.
pub fn describe() {
    metrics::describe_counter!(RECEIVED, "Records received by a drop-in ingest protocol");
    metrics::describe_counter!(ACCEPTED, "Records accepted by a drop-in ingest protocol");
    metrics::describe_counter!(
        REJECTED,
        "Records rejected by a drop-in ingest protocol, by reason"
    );
}

/// Counts `n` records received over `protocol`.
pub fn received(protocol: &'static str, n: usize) {
    metrics::counter!(RECEIVED, "protocol" => protocol).increment(n as u64);
}

/// Counts `n` records accepted over `protocol`.
pub fn accepted(protocol: &'static str, n: usize) {
    metrics::counter!(ACCEPTED, "protocol" => protocol).increment(n as u64);
}

/// Counts `n` records of `protocol` rejected for `reason`.
pub fn rejected(protocol: &'static str, reason: &'static str, n: usize) {
    if n > 0 {
        metrics::counter!(REJECTED, "protocol" => protocol, "reason" => reason).increment(n as u64);
    }
}
