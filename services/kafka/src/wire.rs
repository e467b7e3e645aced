//! What travels through Kafka.
//!
//! - `logs_raw`: one JSON object per message, the same shape services send
//!   (read back with [`loglens_core::RawLog::from_json`]); or, with header
//!   [`FORMAT`] (`loglens.format`) set to `ndjson`, several such objects, one
//!   per line, all of one service and tenant. loglens's own producers (the
//!   ingest role, `loglens generate`) write the latter ([`batches`]): a
//!   message costs the producer, the broker and the consumer about as much
//!   as a record, so a message of a few hundred records costs each of
//!   them a few hundredths of that. Any other producer may keep writing one
//!   record per message. The key is the
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

use std::collections::HashMap;

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

/// Header naming the payload's format: absent for one JSON record, `ndjson`
/// ([`NDJSON`]) for several, one per line. Any other value is dead-lettered
/// (field `format`).
pub const FORMAT: &str = "loglens.format";
/// The [`FORMAT`] of a message of several records, one JSON object per line.
pub const NDJSON: &str = "ndjson";
/// DLQ header: the record's line in its message (from 0), for a record of a
/// message of several ([`NDJSON`]); absent for a message of one record.
pub const DLQ_SOURCE_LINE: &str = "loglens.dlq.source.line";

/// Largest record the processor reads (a whole message of one record, or
/// one line of a message of several); larger ones are dead-lettered.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;
/// Most bytes [`batches`] puts in one message (a record longer than that
/// travels alone); under librdkafka's default `message.max.bytes` of 1 MB.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;
/// Most records [`batches`] puts in one message.
pub const MAX_BATCH_RECORDS: usize = 1000;

/// What a message's payload holds, from its [`FORMAT`] header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON record (no header).
    Record,
    /// Records, one JSON object per line ([`NDJSON`]).
    Records,
}

/// The format of a message whose [`FORMAT`] header has this value (`None`
/// when it has no such header). The error (field `format`) names the
/// accepted values.
pub fn format(header: Option<&[u8]>) -> loglens_core::Result<Format> {
    match header {
        None => Ok(Format::Record),
        Some(v) if v == NDJSON.as_bytes() => Ok(Format::Records),
        Some(v) => Err(loglens_core::Error::invalid(
            "format",
            format!(
                "the {FORMAT} header must be {NDJSON} or absent, got {:?}",
                String::from_utf8_lossy(v)
            ),
        )),
    }
}

/// The records of an [`NDJSON`] payload: its lines, without a trailing
/// `\r`, empty ones skipped.
pub fn lines(payload: &[u8]) -> impl Iterator<Item = &[u8]> {
    loglens_core::record::lines(payload)
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
}

/// One message of [`batches`]: records of one tenant and key, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The records' tenant, as [`batches`] was told it.
    pub tenant: String,
    /// The message key: the records' `service_name`.
    pub key: String,
    /// The records, one JSON object per line ([`NDJSON`]).
    pub payload: Vec<u8>,
    /// How many records it holds.
    pub records: usize,
}

/// `items` as [`NDJSON`] messages: grouped by the `(tenant, key)` that
/// `group` gives each, in the order items come (so one key's records keep
/// their order), each message at most [`MAX_BATCH_RECORDS`] records and
/// [`MAX_BATCH_BYTES`] (a longer record alone). `write` appends one item's
/// JSON, with no newline in it. Messages come in the order they were
/// opened; sending them in that order keeps each key's records in order.
pub fn batches<T>(
    items: &[T],
    group: impl Fn(&T) -> (&str, &str),
    mut write: impl FnMut(&T, &mut Vec<u8>),
) -> Vec<Batch> {
    let mut out: Vec<Batch> = Vec::new();
    // The open message of each group, as an index into `out` (a map: a
    // request may hold records of many services).
    let mut open: HashMap<(&str, &str), usize> = HashMap::new();
    let mut line = Vec::new();
    for item in items {
        let (tenant, key) = group(item);
        line.clear();
        write(item, &mut line);
        let fits = |b: &Batch| {
            b.records < MAX_BATCH_RECORDS && b.payload.len() + 1 + line.len() <= MAX_BATCH_BYTES
        };
        let i = match open.get(&(tenant, key)) {
            Some(&i) if fits(&out[i]) => i,
            _ => {
                out.push(Batch {
                    tenant: tenant.to_owned(),
                    key: key.to_owned(),
                    payload: Vec::new(),
                    records: 0,
                });
                open.insert((tenant, key), out.len() - 1);
                out.len() - 1
            }
        };
        let batch = &mut out[i];
        if batch.records > 0 {
            batch.payload.push(b'\n');
        }
        batch.payload.extend_from_slice(&line);
        batch.records += 1;
    }
    out
}

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
    let mut out = Vec::new();
    encode_into(r, &mut out);
    out
}

/// [`encode`], appended to `out` (one line: JSON has no raw newline).
pub fn encode_into(r: &LogRecord, out: &mut Vec<u8>) {
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
    serde_json::to_writer(out, &wire).expect("a record always serialises")
}

/// Validated records as `logs_raw` messages of several records each
/// ([`batches`] of [`encode_into`]), grouped by tenant and `service_name`.
pub fn encode_batches(records: &[LogRecord]) -> Vec<Batch> {
    batches(records, |r| (r.tenant.as_str(), r.service_name.as_str()), encode_into)
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

    fn record(service: &str, tenant: &str, message: &str) -> LogRecord {
        let raw = RawLog {
            timestamp: Some(loglens_core::TimestampInput::Int(1_714_564_800_123)),
            service_name: Some(service.into()),
            message: Some(message.into()),
            ..RawLog::default()
        };
        let mut r = normalize(raw, 5, &RuleSet::default()).unwrap();
        r.assign_tenant(tenant);
        r
    }

    #[test]
    fn batches_group_by_tenant_and_service_and_keep_order() {
        let records = [
            record("pay", "default", "1"),
            record("auth", "default", "2"),
            record("pay", "acme", "3"),
            record("pay", "default", "4"),
        ];
        let batches = encode_batches(&records);
        let got: Vec<(&str, &str, usize)> =
            batches.iter().map(|b| (b.tenant.as_str(), b.key.as_str(), b.records)).collect();
        assert_eq!(got, [("default", "pay", 2), ("default", "auth", 1), ("acme", "pay", 1)]);
        // Each line reads back as its record, with its id.
        let first: Vec<&[u8]> = lines(&batches[0].payload).collect();
        assert_eq!(first.len(), 2);
        for (line, want) in first.iter().zip([&records[0], &records[3]]) {
            let mut back =
                normalize(RawLog::from_json(line).unwrap(), 5, &RuleSet::default()).unwrap();
            back.assign_tenant("default");
            assert_eq!(&back, want);
        }
        assert!(!batches[0].payload.ends_with(b"\n"), "lines are separated, not ended");
    }

    #[test]
    fn batches_are_cut_at_the_record_and_byte_limits() {
        let many: Vec<LogRecord> =
            (0..MAX_BATCH_RECORDS + 5).map(|i| record("pay", "default", &i.to_string())).collect();
        let batches = encode_batches(&many);
        let sizes: Vec<usize> = batches.iter().map(|b| b.records).collect();
        assert_eq!(sizes, [MAX_BATCH_RECORDS, 5]);
        let all: Vec<String> = batches
            .iter()
            .flat_map(|b| lines(&b.payload))
            .map(|l| RawLog::from_json(l).unwrap().message.unwrap())
            .collect();
        let want: Vec<String> = (0..MAX_BATCH_RECORDS + 5).map(|i| i.to_string()).collect();
        assert_eq!(all, want, "every record once, in order, across the cut");

        let long = "x".repeat(60_000);
        let big: Vec<LogRecord> = (0..10).map(|_| record("pay", "default", &long)).collect();
        let batches = encode_batches(&big);
        assert_eq!(batches.iter().map(|b| b.records).collect::<Vec<_>>(), [4, 4, 2]);
        assert!(batches.iter().all(|b| b.payload.len() <= MAX_BATCH_BYTES));

        // A line longer than the limit travels alone, the order kept.
        let items = ["a".repeat(10), "b".repeat(MAX_BATCH_BYTES + 1), "c".repeat(10)];
        let got = super::batches(
            &items,
            |_| ("t", "k"),
            |item: &String, out| {
                out.extend_from_slice(item.as_bytes());
            },
        );
        let sizes: Vec<(usize, usize)> = got.iter().map(|b| (b.records, b.payload.len())).collect();
        assert_eq!(sizes, [(1, 10), (1, MAX_BATCH_BYTES + 1), (1, 10)]);
    }

    #[test]
    fn format_header_and_lines() {
        assert_eq!(format(None).unwrap(), Format::Record);
        assert_eq!(format(Some(b"ndjson")).unwrap(), Format::Records);
        let e = format(Some(b"avro")).unwrap_err();
        assert_eq!(e.field(), Some("format"));
        assert_eq!(
            e.to_string(),
            r#"the loglens.format header must be ndjson or absent, got "avro""#
        );
        let got: Vec<&[u8]> = lines(b"{\"a\":1}\r\n\n{\"b\":2}\n").collect();
        assert_eq!(got, [&b"{\"a\":1}"[..], b"{\"b\":2}"]);
        assert_eq!(lines(b"").count(), 0);
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
