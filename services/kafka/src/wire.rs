//! What travels through Kafka.
//!
//! - `logs_raw`: one JSON object per message, the same shape services send
//!   (read back with [`loglens_core::RawLog::from_json`]). The key is the
//!   `service_name`, so one service's records stay in order in one
//!   partition. Header `traceparent` carries the producer's W3C trace context.
//!   Header [`TENANT`] (`loglens.tenant`) names the record's tenant, set by the
//!   ingest role on every message (the default tenant too) from the caller's
//!   API key. The tenant is never read from the JSON: a `"tenant"` key there
//!   is an attribute like any other unknown field. A message without the
//!   header (produced before tenants existed) is the default tenant's; one
//!   whose header is not a valid tenant name is dead-lettered (field
//!   `tenant`). See [`tenant`].
//! - `logs_dlq`: the original message bytes untouched, with headers naming
//!   the reason, the offending field and the source topic/partition/offset.

use loglens_core::tenant::{self, DEFAULT_TENANT};
use loglens_core::{Attributes, LogRecord};
use serde::Serialize;

/// Header with the W3C trace context of the producer.
pub const TRACEPARENT: &str = "traceparent";
/// Header with the record's tenant (see [`loglens_core::tenant`]); the
/// processor re-derives the record id from it, so it must be the tenant the
/// ingest role assigned.
pub const TENANT: &str = "loglens.tenant";
/// DLQ header: why the record was dead-lettered.
pub const DLQ_REASON: &str = "loglens.dlq.reason";
/// DLQ header: the offending field, empty when the record as a whole is bad.
pub const DLQ_FIELD: &str = "loglens.dlq.field";
/// DLQ header: the topic the record came from.
pub const DLQ_SOURCE_TOPIC: &str = "loglens.dlq.source.topic";
/// DLQ header: its partition (decimal).
pub const DLQ_SOURCE_PARTITION: &str = "loglens.dlq.source.partition";
/// DLQ header: its offset (decimal).
pub const DLQ_SOURCE_OFFSET: &str = "loglens.dlq.source.offset";

/// Largest raw message the processor reads; larger ones are dead-lettered.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

#[derive(Serialize)]
struct Wire<'a> {
    timestamp: String,
    service_name: &'a str,
    level: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_time_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    span_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Attributes::is_empty")]
    attributes: &'a Attributes,
}

/// A validated record as a `logs_raw` message: the fields a service sends,
/// timestamp as RFC 3339 with milliseconds (exact, and unambiguous for any
/// date). Normalising it again gives the same record and the same id.
pub fn encode(r: &LogRecord) -> Vec<u8> {
    let ts = chrono::DateTime::from_timestamp_millis(r.timestamp).unwrap_or_default();
    let wire = Wire {
        timestamp: ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        service_name: &r.service_name,
        level: r.level.as_str(),
        message: &r.message,
        status_code: r.status_code.map(u16::from),
        request_id: r.request_id.as_deref(),
        user_id: r.user_id.as_deref(),
        response_time_ms: r.response_time_ms,
        error_code: r.error_code.as_deref(),
        tags: &r.tags,
        host: r.host.as_deref(),
        trace_id: r.trace_id.as_deref(),
        span_id: r.span_id.as_deref(),
        attributes: &r.attributes,
    };
    serde_json::to_vec(&wire).expect("a record always serialises")
}

/// The tenant of a `logs_raw` message, from the value of its [`TENANT`]
/// header (`None` when the message has no such header): the default tenant
/// when absent, else the header's value when it is a valid tenant name. The
/// error (field `tenant`) says why it is not.
pub fn tenant(header: Option<&[u8]>) -> loglens_core::Result<&str> {
    let Some(bytes) = header else { return Ok(DEFAULT_TENANT) };
    let name = std::str::from_utf8(bytes).map_err(|_| {
        loglens_core::Error::invalid(
            "tenant",
            format!("the {TENANT} header must be UTF-8, got {} other bytes", bytes.len()),
        )
    })?;
    tenant::validate("tenant", name)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use loglens_core::record::normalize;
    use loglens_core::{RawLog, RuleSet};

    #[test]
    fn encoding_round_trips_to_the_same_record_and_id() {
        let raw = RawLog {
            timestamp: Some(loglens_core::TimestampInput::Int(1_714_564_800_123)),
            service_name: Some("pay".into()),
            message: Some("card declined".into()),
            level: Some("warning".into()),
            status_code: Some(402),
            response_time_ms: Some(0.1 + 0.2),
            tags: Some(vec!["eu".into()]),
            trace_id: Some("abc".into()),
            extra: serde_json::json!({"k8s": {"pod": "p-1"}, "retries": 2, "ok": true})
                .as_object()
                .cloned()
                .unwrap(),
            ..RawLog::default()
        };
        let a = normalize(raw, 5, &RuleSet::default()).unwrap();
        assert_eq!(a.attributes.len(), 3);
        let bytes = encode(&a);
        let b = normalize(RawLog::from_json(&bytes).unwrap(), 5, &RuleSet::default()).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains(r#""timestamp":"2024-05-01T12:00:00.123Z""#), "{text}");
        assert!(!text.contains("user_id"), "absent fields are left out: {text}");
    }

    #[test]
    fn tenant_header_absent_is_default_and_bad_is_refused() {
        assert_eq!(tenant(None).unwrap(), "default");
        assert_eq!(tenant(Some(b"payments")).unwrap(), "payments");
        assert_eq!(tenant(Some(b"default")).unwrap(), "default");
        for bad in [&b""[..], b"a b", b"a/b", "ü".as_bytes(), &[b'x'; 65]] {
            let e = tenant(Some(bad)).unwrap_err();
            assert_eq!(e.field(), Some("tenant"), "{bad:?}");
            assert!(e.to_string().starts_with("tenant must be 1 to 64"), "{e}");
        }
        let e = tenant(Some(&[0xff, 0xfe])).unwrap_err();
        assert_eq!(e.field(), Some("tenant"));
        assert_eq!(e.to_string(), "the loglens.tenant header must be UTF-8, got 2 other bytes");
    }

    #[test]
    fn the_tenant_is_not_written_to_the_payload() {
        let raw = RawLog {
            service_name: Some("pay".into()),
            message: Some("m".into()),
            ..RawLog::default()
        };
        let mut r = normalize(raw, 5, &RuleSet::default()).unwrap();
        r.assign_tenant("acme");
        let text = String::from_utf8(encode(&r)).unwrap();
        assert!(!text.contains("acme") && !text.contains("tenant"), "{text}");
    }
}
