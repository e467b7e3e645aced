//! Proto <-> domain conversions for ingest.

use loglens_core::{RawLog, Rejection, TimestampInput};
use loglens_proto::ingest;

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

/// A proto record as raw input; empty strings mean "not sent".
pub fn raw_from_proto(p: ingest::LogRecord) -> RawLog {
    RawLog {
        timestamp: non_empty(p.timestamp).map(TimestampInput::Text),
        service_name: Some(p.service_name),
        level: non_empty(p.level),
        message: Some(p.message),
        status_code: p.status_code.map(i64::from),
        request_id: non_empty(p.request_id),
        user_id: non_empty(p.user_id),
        response_time_ms: p.response_time_ms,
        error_code: p.error_code,
        tags: Some(p.tags),
        host: non_empty(p.host),
        trace_id: p.trace_id,
        span_id: p.span_id,
    }
}

/// A domain rejection on the wire.
pub fn rejection_to_proto(r: Rejection) -> ingest::Rejection {
    ingest::Rejection { index: r.index, field: r.field, reason: r.reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate_batch;
    use loglens_core::RuleSet;

    fn proto(service: &str, ts: &str, status: Option<i32>) -> ingest::LogRecord {
        ingest::LogRecord {
            timestamp: ts.into(),
            service_name: service.into(),
            level: "warning".into(),
            message: "hello".into(),
            status_code: status,
            ..Default::default()
        }
    }

    #[test]
    fn batch_splits_valid_and_rejected_with_indices() {
        let req = ingest::IngestRequest {
            records: vec![
                proto("a", "", Some(200)),
                proto("", "", None),
                proto("b", "not a time", None),
                proto("c", "1714564800", Some(700)),
                proto("d", "2024-05-01T12:00:00Z", Some(503)),
            ],
        };
        let (ok, bad) = validate_batch(req, 10, 1_000, &RuleSet::default());
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].timestamp, 1_000, "empty timestamp is the receive time");
        assert_eq!(ok[1].timestamp, 1_714_564_800_000);
        assert!(ok[1].anomaly);
        let got: Vec<(u32, &str)> = bad.iter().map(|r| (r.index, r.field.as_str())).collect();
        assert_eq!(got, vec![(11, "service_name"), (12, "timestamp"), (13, "status_code")]);
    }
}
