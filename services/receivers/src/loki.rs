//! Loki push (`POST /loki/api/v1/push`): protobuf `logproto.PushRequest`
//! block-compressed with snappy (what Promtail, Grafana Alloy's `loki.write`
//! and most Loki clients send), or the JSON form
//! `{"streams":[{"stream":{labels},"values":[["<ns>","line",{metadata}?]]}]}`.
//!
//! Mapping, per entry (positions count entries across streams, from 0):
//! - `line` is the message; the timestamp keeps its nanoseconds until the
//!   ingest service normalises it to milliseconds.
//! - service: the `service_name` label, else `app`, else `job`, else
//!   [`UNKNOWN_SERVICE`].
//! - level: `level`, else `detected_level`, through [`level_from_word`]
//!   (`warn`, `err`, `fatal`, `trace`... ); an unknown word leaves INFO.
//! - labels and structured metadata (metadata wins on a clash) become
//!   attributes, except `service_name`, `host`, `trace_id` and `span_id`,
//!   which fill the record's own fields.
//!
//! A body that cannot be read as a whole (bad snappy, truncated protobuf,
//! JSON that does not parse) is an error; a bad stream or entry (labels that
//! do not parse, invalid UTF-8, a bad timestamp) is a per-entry error and
//! its neighbours are still read.

use std::borrow::Cow;

use loglens_core::{Error, RawLog, Result, TimestampInput};
use prost::Message;

use crate::Decoded;

/// The `protocol` label of this receiver's metrics.
pub const PROTOCOL: &str = "loki";
/// Service of a stream without `service_name`, `app` or `job` label.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Loki's wire messages (`pkg/push/push.proto`, package `logproto`).
/// Strings are read as bytes so that one entry's invalid UTF-8 fails that
/// entry only, not the whole body as prost's `string` would.
pub mod proto {
    /// `logproto.PushRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PushRequest {
        /// The streams pushed.
        #[prost(message, repeated, tag = "1")]
        pub streams: Vec<StreamAdapter>,
    }

    /// `logproto.StreamAdapter`: one label set and its entries.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StreamAdapter {
        /// Labels in Prometheus text form, `{a="b", c="d"}`.
        #[prost(bytes = "vec", tag = "1")]
        pub labels: Vec<u8>,
        /// The stream's entries.
        #[prost(message, repeated, tag = "2")]
        pub entries: Vec<EntryAdapter>,
        /// Hash of the labels (unused here).
        #[prost(uint64, tag = "3")]
        pub hash: u64,
    }

    /// `logproto.EntryAdapter`: one log line.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EntryAdapter {
        /// When the line was logged.
        #[prost(message, optional, tag = "1")]
        pub timestamp: Option<Timestamp>,
        /// The line.
        #[prost(bytes = "vec", tag = "2")]
        pub line: Vec<u8>,
        /// Per-entry key/values (Loki 3 structured metadata).
        #[prost(message, repeated, tag = "3")]
        pub structured_metadata: Vec<LabelPairAdapter>,
    }

    /// `logproto.LabelPairAdapter`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelPairAdapter {
        /// Key.
        #[prost(bytes = "vec", tag = "1")]
        pub name: Vec<u8>,
        /// Value.
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }

    /// `google.protobuf.Timestamp`.
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Timestamp {
        /// Seconds since the epoch.
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        /// Nanoseconds within the second, 0..1e9.
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }
}

/// The two body formats of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/x-protobuf`, snappy block compressed.
    Protobuf,
    /// `application/json`.
    Json,
}

/// What the accepted content types are, for the 415 message.
pub const ACCEPTED_CONTENT_TYPES: &str =
    "application/x-protobuf (snappy-compressed logproto.PushRequest) or application/json";

impl Format {
    /// The format of a `Content-Type` (parameters ignored, any case). An
    /// absent type is protobuf, as Loki takes it; an unknown one is `None`.
    pub fn from_content_type(content_type: Option<&str>) -> Option<Format> {
        let Some(ct) = content_type else { return Some(Format::Protobuf) };
        let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match mime.as_str() {
            "application/x-protobuf" | "application/protobuf" | "" => Some(Format::Protobuf),
            "application/json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Decodes one push body. `Err` when the body cannot be read as a whole.
pub fn decode(format: Format, body: &[u8]) -> Result<Decoded> {
    match format {
        Format::Protobuf => decode_protobuf(body),
        Format::Json => decode_json(body),
    }
}

/// One entry before mapping: everything as text.
struct Entry<'a> {
    labels: &'a [(String, String)],
    metadata: Vec<(String, String)>,
    timestamp: Option<TimestampInput>,
    line: String,
}

fn decode_protobuf(body: &[u8]) -> Result<Decoded> {
    if body.is_empty() {
        return Ok(Decoded::default());
    }
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| {
        Error::invalid("body", format!("body is not snappy block-compressed protobuf: {e}"))
    })?;
    let push = proto::PushRequest::decode(raw.as_slice()).map_err(|e| {
        Error::invalid("body", format!("body is not a valid logproto.PushRequest: {e}"))
    })?;
    let mut out = Decoded::default();
    let mut pos = 0;
    for stream in push.streams {
        let labels = std::str::from_utf8(&stream.labels)
            .map_err(|_| Error::invalid("labels", "stream labels are not valid UTF-8"))
            .and_then(parse_labels);
        for entry in stream.entries {
            let read = labels.as_ref().map_err(Clone::clone).and_then(|labels| {
                let line = String::from_utf8(entry.line)
                    .map_err(|_| Error::invalid("line", "line is not valid UTF-8"))?;
                let metadata = entry
                    .structured_metadata
                    .into_iter()
                    .map(|p| match (String::from_utf8(p.name), String::from_utf8(p.value)) {
                        (Ok(k), Ok(v)) => Ok((k, v)),
                        _ => Err(Error::invalid(
                            "structured_metadata",
                            "structured metadata is not valid UTF-8",
                        )),
                    })
                    .collect::<Result<Vec<_>>>()?;
                let timestamp = entry.timestamp.map(proto_timestamp).transpose()?;
                Ok(to_raw(Entry { labels, metadata, timestamp, line }))
            });
            push_result(&mut out, pos, read);
            pos += 1;
        }
    }
    Ok(out)
}

fn push_result(out: &mut Decoded, pos: usize, read: Result<RawLog>) {
    match read {
        Ok(r) => out.records.push((pos, r)),
        Err(e) => out.errors.push((pos, e)),
    }
}

fn proto_timestamp(ts: proto::Timestamp) -> Result<TimestampInput> {
    rfc3339(ts.seconds, ts.nanos).ok_or_else(|| {
        Error::invalid(
            "timestamp",
            format!("timestamp {}s {}ns is out of range", ts.seconds, ts.nanos),
        )
    })
}

/// Epoch seconds and nanoseconds as RFC 3339 text (exact, any magnitude).
fn rfc3339(seconds: i64, nanos: i32) -> Option<TimestampInput> {
    let nanos = u32::try_from(nanos).ok().filter(|n| *n < 1_000_000_000)?;
    let t = chrono::DateTime::from_timestamp(seconds, nanos)?;
    Some(TimestampInput::Text(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
}

/// Nanoseconds since the epoch, as Loki's JSON sends them (a digit string).
fn ns_timestamp(ns: i128) -> Option<TimestampInput> {
    let seconds = i64::try_from(ns.div_euclid(1_000_000_000)).ok()?;
    rfc3339(seconds, i32::try_from(ns.rem_euclid(1_000_000_000)).ok()?)
}

fn decode_json(body: &[u8]) -> Result<Decoded> {
    use serde_json::Value;
    let push: Value = serde_json::from_slice(body)
        .map_err(|e| Error::invalid("body", format!("body is not valid JSON: {e}")))?;
    let Some(streams) = push.get("streams").and_then(Value::as_array) else {
        return Err(Error::invalid(
            "streams",
            "body must be {\"streams\":[{\"stream\":{labels},\"values\":[[\"<ns>\",\"line\"]]}]}",
        ));
    };
    let mut out = Decoded::default();
    let mut pos = 0;
    for stream in streams {
        let labels: Result<Vec<(String, String)>> = match stream.get("stream") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(Error::invalid("stream", format!("label {k:?} must be a string"))),
                })
                .collect(),
            Some(_) => Err(Error::invalid("stream", "stream must be an object of labels")),
        };
        let Some(values) = stream.get("values").and_then(Value::as_array) else {
            // A stream without values has no entries to count.
            continue;
        };
        for value in values {
            let read = labels.as_ref().map_err(Clone::clone).and_then(|labels| {
                let entry = json_entry(value)?;
                Ok(to_raw(Entry { labels, ..entry }))
            });
            push_result(&mut out, pos, read);
            pos += 1;
        }
    }
    Ok(out)
}

/// `["<ns>", "line", {metadata}?]`; `labels` is filled by the caller.
fn json_entry(value: &serde_json::Value) -> Result<Entry<'static>> {
    use serde_json::Value;
    const SHAPE: &str = "each value must be [\"<unix epoch ns>\", \"line\"] or \
        [\"<unix epoch ns>\", \"line\", {structured metadata}]";
    let Some(items) = value.as_array().filter(|a| (2..=3).contains(&a.len())) else {
        return Err(Error::invalid("values", SHAPE));
    };
    let ns: Option<i128> = match &items[0] {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64().map(i128::from),
        _ => None,
    };
    let timestamp = ns.and_then(ns_timestamp).ok_or_else(|| {
        Error::invalid(
            "timestamp",
            format!("timestamp must be unix epoch nanoseconds as a string, got {}", items[0]),
        )
    })?;
    let Value::String(line) = &items[1] else {
        return Err(Error::invalid("line", "line must be a string"));
    };
    let metadata = match items.get(2) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k.clone(), s.clone()),
                other => (k.clone(), other.to_string()),
            })
            .collect(),
        Some(_) => {
            return Err(Error::invalid(
                "structured_metadata",
                "structured metadata must be an object of strings",
            ));
        }
    };
    Ok(Entry { labels: &[], metadata, timestamp: Some(timestamp), line: line.clone() })
}

fn to_raw(e: Entry<'_>) -> RawLog {
    let mut raw = RawLog { timestamp: e.timestamp, message: Some(e.line), ..RawLog::default() };
    let mut attrs = serde_json::Map::new();
    // Labels first, so that an entry's metadata wins over its stream's labels.
    // The stream's labels are shared by its entries and copied; the entry's
    // own metadata is moved.
    for (k, v) in e.labels {
        set(&mut raw, &mut attrs, Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str()));
    }
    for (k, v) in e.metadata {
        set(&mut raw, &mut attrs, Cow::Owned(k), Cow::Owned(v));
    }
    let attr = |k: &str| attrs.get(k).and_then(serde_json::Value::as_str).filter(|s| !s.is_empty());
    if raw.service_name.as_deref().is_none_or(str::is_empty) {
        raw.service_name = Some(attr("app").or(attr("job")).unwrap_or(UNKNOWN_SERVICE).to_owned());
    }
    raw.level = attr("level").or(attr("detected_level")).and_then(level_from_word).map(Into::into);
    if !attrs.is_empty() {
        raw.attributes = Some(attrs);
    }
    raw
}

/// Puts one label or metadata pair in its field, or in `attrs`.
fn set(
    raw: &mut RawLog,
    attrs: &mut serde_json::Map<String, serde_json::Value>,
    k: Cow<'_, str>,
    v: Cow<'_, str>,
) {
    let slot = match &*k {
        "service_name" => &mut raw.service_name,
        "host" => &mut raw.host,
        "trace_id" => &mut raw.trace_id,
        "span_id" => &mut raw.span_id,
        _ => {
            attrs.insert(k.into_owned(), serde_json::Value::String(v.into_owned()));
            return;
        }
    };
    *slot = Some(v.into_owned());
}

/// A level word as shippers write it, as a loglens level: `trace`/`debug`
/// DEBUG; `info`/`notice` INFO; `warn`/`warning` WARN; `err`/`error`/`fatal`/
/// `critical`/`panic`/`alert`/`emerg` ERROR (any case). `None` for anything
/// else (the record is then INFO).
pub fn level_from_word(word: &str) -> Option<&'static str> {
    let w = word.trim().to_ascii_lowercase();
    Some(match w.as_str() {
        "trace" | "debug" | "dbug" | "dbg" | "verbose" | "fine" | "finer" | "finest" => "DEBUG",
        "info" | "information" | "informational" | "notice" | "inf" => "INFO",
        "warn" | "warning" | "wrn" => "WARN",
        "err" | "error" | "eror" | "fatal" | "critical" | "crit" | "panic" | "alert" | "emerg"
        | "emergency" | "severe" => "ERROR",
        _ => return None,
    })
}

/// Parses Prometheus text labels, `{a="b", c="d"}` (escapes `\\`, `\"`,
/// `\n`, `\t`), as Loki streams name them.
pub fn parse_labels(text: &str) -> Result<Vec<(String, String)>> {
    let bad = |why: &str| {
        Error::invalid(
            "labels",
            format!(
                "stream labels must look like {{name=\"value\", ...}}: {why} in {:?}",
                text.chars().take(80).collect::<String>()
            ),
        )
    };
    let s = text.trim();
    let inner = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(|| bad("missing braces"))?;
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.') {
            name.push(c);
        }
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(bad("a label name must start with a letter or _"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(bad(&format!("expected = after {name}")));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('"') {
            return Err(bad(&format!("the value of {name} must be quoted")));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                None => return Err(bad(&format!("unterminated value of {name}"))),
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some('t') => value.push('\t'),
                    Some(c @ ('\\' | '"')) => value.push(c),
                    Some(c) => {
                        value.push('\\');
                        value.push(c);
                    }
                    None => return Err(bad(&format!("unterminated value of {name}"))),
                },
                Some(c) => value.push(c),
            }
        }
        out.push((name, value));
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.next() {
            None => break,
            Some(',') => {}
            Some(c) => {
                return Err(bad(&format!("unexpected {c:?} after the value of {}", out.len())));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress(push: &proto::PushRequest) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(&push.encode_to_vec()).unwrap()
    }

    fn entry(seconds: i64, nanos: i32, line: &[u8]) -> proto::EntryAdapter {
        proto::EntryAdapter {
            timestamp: Some(proto::Timestamp { seconds, nanos }),
            line: line.to_vec(),
            structured_metadata: vec![],
        }
    }

    fn stream(labels: &str, entries: Vec<proto::EntryAdapter>) -> proto::StreamAdapter {
        proto::StreamAdapter { labels: labels.as_bytes().to_vec(), entries, hash: 0 }
    }

    fn text(t: &Option<TimestampInput>) -> &str {
        match t {
            Some(TimestampInput::Text(s)) => s,
            other => panic!("not text: {other:?}"),
        }
    }

    #[test]
    fn labels_parse_with_escapes_and_spacing() {
        let l = parse_labels(r#"{app="api", msg="say \"hi\"\\n", nl="a\nb",x_1 = "" }"#).unwrap();
        assert_eq!(
            l,
            vec![
                ("app".into(), "api".into()),
                ("msg".into(), "say \"hi\"\\n".into()),
                ("nl".into(), "a\nb".into()),
                ("x_1".into(), String::new()),
            ]
        );
        assert_eq!(parse_labels("{}").unwrap(), vec![]);
        for bad in
            ["app=\"x\"", "{app=x}", "{app=\"x}", "{=\"x\"}", "{a=\"1\" b=\"2\"}", "{1a=\"x\"}"]
        {
            let e = parse_labels(bad).unwrap_err();
            assert_eq!(e.field(), Some("labels"), "{bad}");
        }
    }

    #[test]
    fn level_words_map_to_loglens_levels() {
        for (w, l) in [
            ("warn", Some("WARN")),
            ("WARNING", Some("WARN")),
            ("err", Some("ERROR")),
            ("fatal", Some("ERROR")),
            ("Critical", Some("ERROR")),
            ("trace", Some("DEBUG")),
            ("debug", Some("DEBUG")),
            ("info", Some("INFO")),
            ("notice", Some("INFO")),
            ("unknown", None),
        ] {
            assert_eq!(level_from_word(w), l, "{w}");
        }
    }

    #[test]
    fn protobuf_push_maps_labels_metadata_level_and_ns_timestamp() {
        let mut e = entry(1_714_564_800, 123_456_789, b"payment declined");
        e.structured_metadata = vec![
            proto::LabelPairAdapter { name: b"trace_id".to_vec(), value: b"abc".to_vec() },
            proto::LabelPairAdapter { name: b"order".to_vec(), value: b"42".to_vec() },
            proto::LabelPairAdapter { name: b"env".to_vec(), value: b"canary".to_vec() },
        ];
        let push = proto::PushRequest {
            streams: vec![
                stream(r#"{service_name="payments", level="fatal", env="prod"}"#, vec![e]),
                stream(
                    r#"{app="web", job="ns/web", detected_level="warning"}"#,
                    vec![entry(1, 0, b"slow")],
                ),
                stream(r#"{job="varlogs"}"#, vec![entry(2, 0, b"x")]),
                stream("{}", vec![entry(3, 0, b"y")]),
            ],
        };
        let d = decode(Format::Protobuf, &compress(&push)).unwrap();
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        let r: Vec<_> = d.records.iter().map(|(_, r)| r).collect();
        assert_eq!(r[0].service_name.as_deref(), Some("payments"));
        assert_eq!(r[0].level.as_deref(), Some("ERROR"));
        assert_eq!(r[0].message.as_deref(), Some("payment declined"));
        assert_eq!(text(&r[0].timestamp), "2024-05-01T12:00:00.123456789Z");
        assert_eq!(r[0].trace_id.as_deref(), Some("abc"));
        let a = r[0].attributes.as_ref().unwrap();
        assert_eq!(a["env"], "canary", "metadata wins over the stream label");
        assert_eq!(a["order"], "42");
        assert_eq!(a["level"], "fatal");
        assert!(!a.contains_key("service_name"));
        assert_eq!(r[1].service_name.as_deref(), Some("web"));
        assert_eq!(r[1].level.as_deref(), Some("WARN"));
        assert_eq!(r[2].service_name.as_deref(), Some("varlogs"));
        assert_eq!(r[2].level, None);
        assert_eq!(r[3].service_name.as_deref(), Some(UNKNOWN_SERVICE));
        assert_eq!(d.records.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn bad_entries_are_named_and_neighbours_kept() {
        let push = proto::PushRequest {
            streams: vec![
                stream(r#"{app="a"}"#, vec![entry(1, 0, b"ok"), entry(1, 0, b"bad \xff utf8")]),
                stream("{app=unquoted}", vec![entry(1, 0, b"lost"), entry(1, 0, b"lost too")]),
                stream(r#"{app="b"}"#, vec![entry(1, 0, b"ok too")]),
            ],
        };
        let d = decode(Format::Protobuf, &compress(&push)).unwrap();
        assert_eq!(d.records.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![0, 4]);
        let errs: Vec<_> = d.errors.iter().map(|(p, e)| (*p, e.field().unwrap())).collect();
        assert_eq!(errs, vec![(1, "line"), (2, "labels"), (3, "labels")]);
    }

    #[test]
    fn hostile_bodies_fail_whole_naming_the_problem() {
        let e = decode(Format::Protobuf, b"not snappy at all \xff\xff\xff\xff").unwrap_err();
        assert!(e.to_string().contains("snappy"), "{e}");
        let push = proto::PushRequest {
            streams: vec![stream(r#"{app="a"}"#, vec![entry(1, 0, b"line")])],
        };
        let bytes = push.encode_to_vec();
        let truncated = snap::raw::Encoder::new().compress_vec(&bytes[..bytes.len() - 3]).unwrap();
        let e = decode(Format::Protobuf, &truncated).unwrap_err();
        assert!(e.to_string().contains("PushRequest"), "{e}");
        let e = decode(Format::Json, b"{\"streams\": [").unwrap_err();
        assert!(e.to_string().contains("JSON"), "{e}");
        let e = decode(Format::Json, b"{\"streams\": [{\"values\": [[\"1\", \"\xff\"]]}]}")
            .unwrap_err();
        assert_eq!(e.field(), Some("body"));
        assert!(decode(Format::Json, b"[]").is_err());
        assert_eq!(decode(Format::Protobuf, b"").unwrap().records.len(), 0);
    }

    #[test]
    fn content_types() {
        assert_eq!(Format::from_content_type(None), Some(Format::Protobuf));
        assert_eq!(
            Format::from_content_type(Some("application/x-protobuf")),
            Some(Format::Protobuf)
        );
        assert_eq!(
            Format::from_content_type(Some("Application/JSON; charset=utf-8")),
            Some(Format::Json)
        );
        assert_eq!(Format::from_content_type(Some("text/plain")), None);
        assert_eq!(Format::from_content_type(Some("application/x-ndjson")), None);
    }

    #[test]
    fn json_push_with_structured_metadata() {
        let body = br#"{"streams":[
            {"stream":{"service_name":"checkout","level":"error"},
             "values":[["1714564800123456789","card declined",{"order_id":"o-1"}],
                       ["1714564801000000000","retrying"],
                       ["yesterday","bad ts"],
                       ["1714564802000000000"]]},
            {"stream":{"job":"cron"},"values":[["1000000000","epoch+1s"]]}]}"#;
        let d = decode(Format::Json, body).unwrap();
        let r: Vec<_> = d.records.iter().map(|(_, r)| r).collect();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].service_name.as_deref(), Some("checkout"));
        assert_eq!(r[0].level.as_deref(), Some("ERROR"));
        assert_eq!(text(&r[0].timestamp), "2024-05-01T12:00:00.123456789Z");
        assert_eq!(r[0].attributes.as_ref().unwrap()["order_id"], "o-1");
        assert_eq!(r[1].message.as_deref(), Some("retrying"));
        assert_eq!(text(&r[2].timestamp), "1970-01-01T00:00:01Z", "ns, not guessed by size");
        assert_eq!(r[2].service_name.as_deref(), Some("cron"));
        let errs: Vec<_> = d.errors.iter().map(|(p, e)| (*p, e.field().unwrap())).collect();
        assert_eq!(errs, vec![(2, "timestamp"), (3, "values")]);
    }
}
