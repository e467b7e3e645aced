//! Records for the hybrid backend's unit tests.

use loglens_core::{Level, LogRecord};

/// An INFO record of service `svc` with only what every record has:
/// `id`, `timestamp` (also its ingest time), `message` and `tenant`; tests
/// set the other fields with struct update syntax.
pub(crate) fn bare(id: String, timestamp: i64, message: String, tenant: &str) -> LogRecord {
    LogRecord {
        id,
        timestamp,
        service_name: "svc".into(),
        level: Level::Info,
        message,
        status_code: None,
        request_id: None,
        user_id: None,
        response_time_ms: None,
        error_code: None,
        tags: Vec::new(),
        host: None,
        trace_id: None,
        span_id: None,
        anomaly: false,
        severity_score: 0,
        anomaly_reasons: Vec::new(),
        attributes: Default::default(),
        ingested_at: timestamp,
        tenant: tenant.into(),
    }
}
