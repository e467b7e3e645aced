//! OTLP logs (`ExportLogsServiceRequest`, OTLP/gRPC and OTLP/HTTP in
//! protobuf or JSON) into loglens records, by the OpenTelemetry semantic
//! conventions:
//!
//! | OTLP                                   | loglens                                 |
//! |----------------------------------------|-----------------------------------------|
//! | resource `service.name`                | `service_name` (`unknown_service` if missing or empty) |
//! | `severity_number` 1-8 / 9-12 / 13-16 / 17-24 | `DEBUG` / `INFO` / `WARN` / `ERROR`  |
//! | `severity_text`, when the number is 0  | its level (trace/debug, info/notice, warn, error/fatal/critical...); unknown text: `INFO`, the text kept as `otel.severity_text` |
//! | `body`                                 | `message`: a string as is, other values as text (arrays and maps as JSON, bytes as base64) |
//! | no body (or an empty one)              | `event_name` as the message; neither: the record is rejected |
//! | `time_unix_nano` (`observed_time_unix_nano` when 0; receive time when both are 0) | `timestamp` |
//! | `trace_id`, `span_id`                  | lowercase hex (all-zero ids are absent) |
//! | attribute `http.response.status_code` | `status_code`                           |
//! | attribute `host.name`                  | `host`                                  |
//! | resource, scope and record attributes  | `attributes`, unprefixed; on a clash the record's win over the scope's over the resource's |
//! | scope name / version                   | attributes `otel.scope.name` / `otel.scope.version` |
//! | `event_name` (with a body)             | attribute `event.name`                  |
//!
//! Attributes mapped to a field are not repeated in `attributes`. Attribute
//! values: strings, integers, doubles and booleans as they are, bytes as
//! base64, arrays and key/value lists as their JSON text. Timestamps are
//! nanoseconds since the epoch; loglens reads them by magnitude, so times
//! before 1973-03-03 (under 10^17 ns) are not told apart from microseconds.

use base64::Engine as _;
use loglens_core::timestamp::TimestampInput;
use loglens_core::{Error, RawLog};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message as _;
use serde_json::{Map, Value};

use crate::Decoded;

/// `service_name` of records whose resource has no `service.name`.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Most rejection reasons spelled out in a partial success' `error_message`.
const MAX_REASONS: usize = 5;

/// Reads an OTLP/protobuf `ExportLogsServiceRequest`; a body that is not one
/// is an error naming why.
pub fn decode_protobuf(body: &[u8]) -> Result<ExportLogsServiceRequest, Error> {
    ExportLogsServiceRequest::decode(body).map_err(|e| {
        Error::invalid("", format!("body is not a protobuf ExportLogsServiceRequest: {e}"))
    })
}

/// Reads an OTLP/JSON `ExportLogsServiceRequest` (lowerCamelCase fields,
/// hex trace and span ids, int64 as strings or numbers, enums as integers,
/// unknown fields ignored).
pub fn decode_json(body: &[u8]) -> Result<ExportLogsServiceRequest, Error> {
    // serde would read an array as the message's fields by position.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::invalid(
            "",
            "body is not an OTLP/JSON ExportLogsServiceRequest: it must be a JSON object",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        Error::invalid("", format!("body is not an OTLP/JSON ExportLogsServiceRequest: {e}"))
    })
}

/// Number of log records in a request.
pub fn count(request: &ExportLogsServiceRequest) -> usize {
    request.resource_logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len()).sum()
}

/// Maps every log record of `request` to a [`RawLog`]; positions count the
/// log records across all resources and scopes, in order.
pub fn decode(request: ExportLogsServiceRequest) -> Decoded {
    let mut out = Decoded::default();
    let mut position = 0;
    for resource_logs in request.resource_logs {
        let mut resource = Map::new();
        if let Some(r) = resource_logs.resource {
            insert_attributes(&mut resource, r.attributes);
        }
        for scope_logs in resource_logs.scope_logs {
            let mut scoped = resource.clone();
            if let Some(scope) = scope_logs.scope {
                if !scope.name.is_empty() {
                    scoped.insert("otel.scope.name".into(), Value::String(scope.name));
                }
                if !scope.version.is_empty() {
                    scoped.insert("otel.scope.version".into(), Value::String(scope.version));
                }
                insert_attributes(&mut scoped, scope.attributes);
            }
            for record in scope_logs.log_records {
                match map_record(record, scoped.clone()) {
                    Ok(raw) => out.records.push((position, raw)),
                    Err(e) => out.errors.push((position, e)),
                }
                position += 1;
            }
        }
    }
    out
}

/// The OTLP `partial_success` for `rejected` records out of a request,
/// each `(position, reason)`; `None` when nothing was rejected.
pub fn partial_success(rejected: &[(usize, String)]) -> Option<ExportLogsPartialSuccess> {
    if rejected.is_empty() {
        return None;
    }
    let mut message = rejected
        .iter()
        .take(MAX_REASONS)
        .map(|(i, reason)| format!("log record {i}: {reason}"))
        .collect::<Vec<_>>()
        .join("; ");
    if rejected.len() > MAX_REASONS {
        message.push_str(&format!(" (and {} more)", rejected.len() - MAX_REASONS));
    }
    Some(ExportLogsPartialSuccess {
        rejected_log_records: rejected.len() as i64,
        error_message: message,
    })
}

/// One log record, with the resource and scope attributes in `attributes`.
fn map_record(record: LogRecord, mut attributes: Map<String, Value>) -> Result<RawLog, Error> {
    insert_attributes(&mut attributes, record.attributes);
    let event_name = record.event_name;
    let message = match record.body.and_then(|b| b.value).and_then(body_text) {
        Some(text) if !text.is_empty() => {
            if !event_name.is_empty() {
                attributes.entry("event.name").or_insert(Value::String(event_name));
            }
            text
        }
        _ if !event_name.is_empty() => event_name,
        _ => {
            return Err(Error::invalid(
                "message",
                "log record has neither a body nor an event_name; loglens needs a message",
            ));
        }
    };
    let level = match severity(record.severity_number) {
        Some(level) => Some(level),
        None if record.severity_text.is_empty() => None,
        None => match severity_text(&record.severity_text) {
            Some(level) => Some(level),
            None => {
                attributes.insert("otel.severity_text".into(), Value::String(record.severity_text));
                None
            }
        },
    };
    let nanos = match record.time_unix_nano {
        0 => record.observed_time_unix_nano,
        t => t,
    };
    let timestamp = match nanos {
        0 => None,
        n => Some(
            i64::try_from(n)
                .map_or_else(|_| TimestampInput::Text(n.to_string()), TimestampInput::Int),
        ),
    };
    let service_name = match attributes.remove("service.name") {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(Value::String(_)) | None => UNKNOWN_SERVICE.to_owned(),
        Some(other) => other.to_string(),
    };
    let status_code = match attributes.get("http.response.status_code") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    if status_code.is_some() {
        attributes.remove("http.response.status_code");
    }
    let host = match attributes.remove("host.name") {
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            attributes.insert("host.name".into(), other);
            None
        }
        None => None,
    };
    Ok(RawLog {
        timestamp,
        service_name: Some(service_name),
        level: level.map(str::to_owned),
        message: Some(message),
        status_code,
        host,
        trace_id: id_hex(&record.trace_id),
        span_id: id_hex(&record.span_id),
        attributes: (!attributes.is_empty()).then_some(attributes),
        ..RawLog::default()
    })
}

/// The level of an OTLP `severity_number`; `None` for 0 (unspecified) and
/// numbers outside 1-24.
pub fn severity(number: i32) -> Option<&'static str> {
    match number {
        1..=8 => Some("DEBUG"),
        9..=12 => Some("INFO"),
        13..=16 => Some("WARN"),
        17..=24 => Some("ERROR"),
        _ => None,
    }
}

/// The level of a `severity_text` as common loggers spell it (any case,
/// trailing digits as in `INFO2` ignored); `None` for anything else.
fn severity_text(text: &str) -> Option<&'static str> {
    let word = text.trim().trim_end_matches(|c: char| c.is_ascii_digit()).to_ascii_lowercase();
    match word.as_str() {
        "trace" | "debug" | "fine" | "finer" | "finest" | "verbose" => Some("DEBUG"),
        "info" | "information" | "informational" | "notice" => Some("INFO"),
        "warn" | "warning" => Some("WARN"),
        "error" | "err" | "fatal" | "critical" | "crit" | "alert" | "emerg" | "emergency"
        | "panic" | "severe" => Some("ERROR"),
        _ => None,
    }
}

/// Lowercase hex of a trace or span id; empty and all-zero ids (invalid by
/// the spec) are absent.
fn id_hex(id: &[u8]) -> Option<String> {
    if id.iter().all(|b| *b == 0) {
        return None;
    }
    Some(hex::encode(id))
}

/// Adds `kvs` to `map`, later keys replacing earlier ones; empty values are
/// skipped.
fn insert_attributes(map: &mut Map<String, Value>, kvs: Vec<KeyValue>) {
    for kv in kvs {
        if let Some(v) = kv.value.and_then(|v| v.value).and_then(attribute_value) {
            map.insert(kv.key, v);
        }
    }
}

/// An attribute value: scalars as they are, bytes as base64, arrays and
/// key/value lists as their JSON text.
fn attribute_value(value: Any) -> Option<Value> {
    Some(match value {
        Any::ArrayValue(_) | Any::KvlistValue(_) => Value::String(to_json(value)?.to_string()),
        other => to_json(other)?,
    })
}

/// A body as text: strings as they are, bytes as base64, numbers and
/// booleans as JSON writes them, arrays and key/value lists as JSON text.
fn body_text(value: Any) -> Option<String> {
    Some(match value {
        Any::StringValue(s) => s,
        Any::BytesValue(b) => base64::engine::general_purpose::STANDARD.encode(b),
        other => to_json(other)?.to_string(),
    })
}

/// An `AnyValue` as plain JSON; `None` when empty. Non-finite doubles become
/// the strings `NaN`, `Infinity`, `-Infinity`.
fn to_json(value: Any) -> Option<Value> {
    Some(match value {
        Any::StringValue(s) => Value::String(s),
        Any::BoolValue(b) => Value::Bool(b),
        Any::IntValue(i) => Value::from(i),
        Any::DoubleValue(d) => serde_json::Number::from_f64(d).map_or_else(
            || {
                Value::String(
                    if d.is_nan() {
                        "NaN"
                    } else if d > 0.0 {
                        "Infinity"
                    } else {
                        "-Infinity"
                    }
                    .into(),
                )
            },
            Value::Number,
        ),
        Any::BytesValue(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Any::ArrayValue(a) => Value::Array(
            a.values
                .into_iter()
                .map(|v| v.value.and_then(to_json).unwrap_or(Value::Null))
                .collect(),
        ),
        Any::KvlistValue(kvs) => Value::Object(
            kvs.values
                .into_iter()
                .map(|kv| {
                    (
                        kv.key,
                        kv.value
                            .and_then(|v: AnyValue| v.value)
                            .and_then(to_json)
                            .unwrap_or(Value::Null),
                    )
                })
                .collect(),
        ),
        // Profiling-only reference into a dictionary logs do not have.
        Any::StringValueStrindex(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, InstrumentationScope, KeyValueList};
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    const NS: u64 = 1_714_564_800_123_456_789;

    fn kv(key: &str, value: Any) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn s(v: &str) -> Any {
        Any::StringValue(v.into())
    }

    fn record(body: &str) -> LogRecord {
        LogRecord {
            time_unix_nano: NS,
            severity_number: 9,
            body: Some(AnyValue { value: Some(s(body)) }),
            ..Default::default()
        }
    }

    fn request(resource: Vec<KeyValue>, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource { attributes: resource, ..Default::default() }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "my.lib".into(),
                        version: "1.2.3".into(),
                        attributes: vec![kv("scope.attr", s("x")), kv("clash", s("scope"))],
                        ..Default::default()
                    }),
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn one(r: LogRecord) -> RawLog {
        let mut d = decode(request(vec![kv("service.name", s("checkout"))], vec![r]));
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        d.records.remove(0).1
    }

    #[test]
    fn maps_every_field() {
        let mut r = record("payment declined");
        r.trace_id = vec![0xAB; 16];
        r.span_id = vec![0x0C, 1, 2, 3, 4, 5, 6, 7];
        r.severity_number = 17;
        r.event_name = "payment.failed".into();
        r.attributes = vec![
            kv("http.response.status_code", Any::IntValue(502)),
            kv("host.name", s("pod-1")),
            kv("retries", Any::IntValue(3)),
            kv("ratio", Any::DoubleValue(0.5)),
            kv("ok", Any::BoolValue(false)),
            kv("raw", Any::BytesValue(vec![0, 255])),
            kv("clash", s("record")),
            kv(
                "list",
                Any::ArrayValue(ArrayValue {
                    values: vec![AnyValue { value: Some(Any::IntValue(1)) }],
                }),
            ),
            kv("map", Any::KvlistValue(KeyValueList { values: vec![kv("a", s("b"))] })),
        ];
        let mut d = decode(request(
            vec![
                kv("service.name", s("checkout")),
                kv("k8s.pod.name", s("p")),
                kv("clash", s("res")),
            ],
            vec![r],
        ));
        let raw = d.records.remove(0).1;
        assert_eq!(raw.service_name.as_deref(), Some("checkout"));
        assert_eq!(raw.level.as_deref(), Some("ERROR"));
        assert_eq!(raw.message.as_deref(), Some("payment declined"));
        assert_eq!(raw.timestamp, Some(TimestampInput::Int(NS as i64)));
        assert_eq!(raw.status_code, Some(502));
        assert_eq!(raw.host.as_deref(), Some("pod-1"));
        assert_eq!(raw.trace_id.as_deref(), Some("abababababababababababababababab"));
        assert_eq!(raw.span_id.as_deref(), Some("0c01020304050607"));
        let a = raw.attributes.unwrap();
        let expected = serde_json::json!({
            "k8s.pod.name": "p",
            "otel.scope.name": "my.lib",
            "otel.scope.version": "1.2.3",
            "scope.attr": "x",
            "clash": "record",
            "retries": 3,
            "ratio": 0.5,
            "ok": false,
            "raw": "AP8=",
            "list": "[1]",
            "map": "{\"a\":\"b\"}",
            "event.name": "payment.failed",
        });
        assert_eq!(Value::Object(a), expected);
    }

    #[test]
    fn scope_attributes_win_over_resource_ones() {
        let mut d = decode(request(vec![kv("clash", s("res"))], vec![record("m")]));
        let a = d.records.remove(0).1.attributes.unwrap();
        assert_eq!(a["clash"], "scope");
    }

    #[test]
    fn severity_table() {
        let cases = [
            (1, "DEBUG"),
            (5, "DEBUG"),
            (8, "DEBUG"),
            (9, "INFO"),
            (12, "INFO"),
            (13, "WARN"),
            (16, "WARN"),
            (17, "ERROR"),
            (21, "ERROR"),
            (24, "ERROR"),
        ];
        for (n, level) in cases {
            let mut r = record("m");
            r.severity_number = n;
            assert_eq!(one(r).level.as_deref(), Some(level), "severity_number {n}");
        }
        for n in [0, 25, -1] {
            assert_eq!(severity(n), None, "{n}");
        }
    }

    #[test]
    fn severity_text_is_used_when_the_number_is_zero() {
        for (text, level) in [
            ("Warning", Some("WARN")),
            ("FATAL", Some("ERROR")),
            ("trace", Some("DEBUG")),
            ("", None),
        ] {
            let mut r = record("m");
            r.severity_number = 0;
            r.severity_text = text.into();
            let raw = one(r);
            assert_eq!(raw.level.as_deref(), level, "{text:?}");
            assert!(raw.attributes.unwrap().get("otel.severity_text").is_none());
        }
        let mut r = record("m");
        r.severity_number = 0;
        r.severity_text = "Loud".into();
        let raw = one(r);
        assert_eq!(raw.level, None, "unknown text is INFO (the default)");
        assert_eq!(raw.attributes.unwrap()["otel.severity_text"], "Loud");
        // A number wins over the text.
        let mut r = record("m");
        r.severity_number = 13;
        r.severity_text = "error".into();
        assert_eq!(one(r).level.as_deref(), Some("WARN"));
    }

    #[test]
    fn missing_or_empty_service_name_is_unknown_service() {
        for resource in [vec![], vec![kv("service.name", s(""))]] {
            let mut d = decode(request(resource, vec![record("m")]));
            let raw = d.records.remove(0).1;
            assert_eq!(raw.service_name.as_deref(), Some(UNKNOWN_SERVICE));
        }
        // No resource at all.
        let mut req = request(vec![], vec![record("m")]);
        req.resource_logs[0].resource = None;
        assert_eq!(decode(req).records[0].1.service_name.as_deref(), Some(UNKNOWN_SERVICE));
    }

    #[test]
    fn non_string_bodies_become_text() {
        let cases = [
            (Any::IntValue(42), "42"),
            (Any::BoolValue(true), "true"),
            (Any::DoubleValue(1.5), "1.5"),
            (Any::BytesValue(b"hi".to_vec()), "aGk="),
            (
                Any::KvlistValue(KeyValueList {
                    values: vec![kv("user", s("u1")), kv("n", Any::IntValue(2))],
                }),
                r#"{"n":2,"user":"u1"}"#,
            ),
            (
                Any::ArrayValue(ArrayValue {
                    values: vec![AnyValue { value: Some(s("a")) }, AnyValue { value: None }],
                }),
                r#"["a",null]"#,
            ),
        ];
        for (body, text) in cases {
            let mut r = record("");
            r.body = Some(AnyValue { value: Some(body) });
            assert_eq!(one(r).message.as_deref(), Some(text));
        }
    }

    #[test]
    fn empty_body_takes_the_event_name_or_is_rejected() {
        let mut r = record("");
        r.event_name = "user.login".into();
        let raw = one(r);
        assert_eq!(raw.message.as_deref(), Some("user.login"));
        assert!(raw.attributes.unwrap().get("event.name").is_none());

        let mut r = record("");
        r.body = None;
        let d = decode(request(vec![], vec![record("ok"), r]));
        assert_eq!(d.records.len(), 1);
        assert_eq!(d.errors.len(), 1);
        assert_eq!(d.errors[0].0, 1, "position of the bad record");
        assert!(d.errors[0].1.to_string().contains("neither a body nor an event_name"));
    }

    #[test]
    fn observed_time_is_used_when_time_is_zero_and_none_means_now() {
        let mut r = record("m");
        r.time_unix_nano = 0;
        r.observed_time_unix_nano = NS + 1;
        assert_eq!(one(r).timestamp, Some(TimestampInput::Int(NS as i64 + 1)));
        let mut r = record("m");
        r.time_unix_nano = 0;
        assert_eq!(one(r).timestamp, None);
        let mut r = record("m");
        r.time_unix_nano = u64::MAX;
        assert_eq!(one(r).timestamp, Some(TimestampInput::Text(u64::MAX.to_string())));
    }

    #[test]
    fn nanosecond_timestamps_normalise_to_milliseconds() {
        let raw = one(record("m"));
        let ms = loglens_core::timestamp::normalize(&raw.timestamp.unwrap()).unwrap();
        assert_eq!(ms, 1_714_564_800_123);
    }

    #[test]
    fn ids_are_lowercase_hex_of_every_byte() {
        for id in [vec![0x00, 0x0a, 0xff], vec![0xAB; 16], vec![1], (0..=255).collect()] {
            let want: String = id.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(id_hex(&id), Some(want));
        }
        assert_eq!(id_hex(&[]), None);
    }

    #[test]
    fn zero_ids_are_absent() {
        let mut r = record("m");
        r.trace_id = vec![0; 16];
        let raw = one(r);
        assert_eq!(raw.trace_id, None);
        assert_eq!(raw.span_id, None);
    }

    #[test]
    fn positions_count_across_resources_and_scopes() {
        let mut req = request(vec![], vec![record("a"), record("b")]);
        let mut second = req.resource_logs[0].clone();
        second.scope_logs[0].log_records = vec![record(""), record("d")];
        second.scope_logs[0].log_records[0].body = None;
        req.resource_logs.push(second);
        assert_eq!(count(&req), 4);
        let d = decode(req);
        let ok: Vec<usize> = d.records.iter().map(|(i, _)| *i).collect();
        assert_eq!(ok, vec![0, 1, 3]);
        assert_eq!(d.errors[0].0, 2);
    }

    #[test]
    fn protobuf_round_trips_and_truncated_protobuf_is_an_error() {
        let req = request(vec![kv("service.name", s("svc"))], vec![record("hello")]);
        let bytes = req.encode_to_vec();
        assert_eq!(decode_protobuf(&bytes).unwrap(), req);
        let err = decode_protobuf(&bytes[..bytes.len() - 3]).unwrap_err();
        assert!(err.to_string().contains("not a protobuf ExportLogsServiceRequest"), "{err}");
        assert!(decode_protobuf(b"\xff\xff\xff\xff").is_err());
        assert_eq!(count(&decode_protobuf(b"").unwrap()), 0, "an empty body is an empty request");
    }

    #[test]
    fn otlp_json_as_the_spec_writes_it() {
        let body = br#"{"resourceLogs":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"cart"}}]},
          "scopeLogs":[{"scope":{"name":"s"},"logRecords":[{
            "timeUnixNano":"1714564800123456789","severityNumber":13,"severityText":"Warning",
            "body":{"stringValue":"low stock"},
            "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
            "attributes":[{"key":"http.response.status_code","value":{"intValue":"404"}},
                          {"key":"big","value":{"intValue":"9007199254740993"}}],
            "unknownField":{"x":1}}]}]}]}"#;
        let req = decode_json(body).unwrap();
        let mut d = decode(req);
        let raw = d.records.remove(0).1;
        assert_eq!(raw.service_name.as_deref(), Some("cart"));
        assert_eq!(raw.level.as_deref(), Some("WARN"));
        assert_eq!(raw.message.as_deref(), Some("low stock"));
        assert_eq!(raw.timestamp, Some(TimestampInput::Int(NS as i64)));
        assert_eq!(raw.trace_id.as_deref(), Some("5b8efff798038103d269b633813fc60c"));
        assert_eq!(raw.span_id.as_deref(), Some("eee19b7ec3c1b174"));
        assert_eq!(raw.status_code, Some(404));
        assert_eq!(raw.attributes.unwrap()["big"], 9_007_199_254_740_993_i64);
    }

    #[test]
    fn hostile_json_is_an_error_naming_why() {
        let bad: [&[u8]; 6] = [
            b"{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":{\"stringValue\":\"\xff\xfe\"}}]}]}]}",
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":true}]}]}]}"#,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"high"}]}]}]}"#,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"not hex"}]}]}]}"#,
            br#"{"resourceLogs":{}}"#,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}"#,
        ];
        for body in bad {
            let err = decode_json(body).unwrap_err();
            assert!(err.to_string().contains("not an OTLP/JSON ExportLogsServiceRequest"), "{err}");
        }
        assert!(decode_json(b"[]").is_err());
    }

    #[test]
    fn partial_success_counts_and_names_reasons() {
        assert_eq!(partial_success(&[]), None);
        let rejected: Vec<(usize, String)> = (0..7).map(|i| (i * 2, format!("bad {i}"))).collect();
        let p = partial_success(&rejected).unwrap();
        assert_eq!(p.rejected_log_records, 7);
        assert!(
            p.error_message.starts_with("log record 0: bad 0; log record 2: bad 1"),
            "{}",
            p.error_message
        );
        assert!(p.error_message.ends_with("(and 2 more)"), "{}", p.error_message);
    }
}
