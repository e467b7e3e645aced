//! Splunk HTTP Event Collector: `/services/collector/event` bodies
//! (concatenated JSON event objects, optionally whitespace separated) and
//! `/services/collector/raw` bodies (one event per line).
//!
//! Mapping of an event:
//! - `time` (epoch seconds, fraction allowed, number or string) is the
//!   timestamp; absent means now.
//! - `event`: a string is the message; an object gives its `message`, `msg`
//!   or `log` string as the message (else the object's JSON text), its
//!   `level`/`severity` word as the level, and every other key as an
//!   attribute; any other JSON value is the message as JSON text.
//! - `host` is the host; `source`, `sourcetype` and `index` are attributes;
//!   `fields` are attributes.
//! - service: `fields.service_name`, else the event object's `service_name`,
//!   else `sourcetype`, else `source`, else [`UNKNOWN_SERVICE`] (a
//!   sourcetype names the kind of data, usually one per application).
//!
//! Query parameters `host`, `source`, `sourcetype` and `index` are defaults
//! for every event of the body (an event's own value wins).

use std::fmt;

use loglens_core::{Error, RawLog, Result, TimestampInput};
use serde::de::value::SeqAccessDeserializer;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::loki::level_from_word;
use crate::{Decoded, Key};

/// The `protocol` label of this receiver's metrics.
pub const PROTOCOL: &str = "hec";
/// Service of an event without `fields.service_name`, sourcetype or source.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Per-request metadata from the query string, defaults for every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defaults {
    /// `host`.
    pub host: Option<String>,
    /// `source`.
    pub source: Option<String>,
    /// `sourcetype`.
    pub sourcetype: Option<String>,
    /// `index`.
    pub index: Option<String>,
}

impl Defaults {
    /// Reads `host`, `source`, `sourcetype` and `index` from query pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Defaults {
        let mut d = Defaults::default();
        for (k, v) in pairs {
            let slot = match k {
                "host" => &mut d.host,
                "source" => &mut d.source,
                "sourcetype" => &mut d.sourcetype,
                "index" => &mut d.index,
                _ => continue,
            };
            *slot = Some(v.to_owned()).filter(|v| !v.is_empty());
        }
        d
    }
}

/// Decodes an event-endpoint body. An event that is JSON but not a usable
/// event is an error at its position and decoding goes on; text that is not
/// JSON ends the body there (there is no telling where the next event
/// starts), with an error at that position.
pub fn decode_events(body: &[u8], defaults: &Defaults) -> Decoded {
    let mut out = Decoded::default();
    let stream = serde_json::Deserializer::from_slice(body).into_iter::<Event>();
    for (pos, item) in stream.enumerate() {
        match item {
            Ok(Event(Some(event))) => match event_to_raw(event, defaults) {
                Ok(r) => out.records.push((pos, r)),
                Err(e) => out.errors.push((pos, e)),
            },
            Ok(Event(None)) => {
                out.errors.push((pos, Error::invalid("", "an event must be a JSON object")))
            }
            Err(e) => {
                out.errors.push((pos, Error::invalid("", format!("event is not valid JSON: {e}"))));
                break;
            }
        }
    }
    out
}

/// Decodes a raw-endpoint body: each non-blank line (`\n` or `\r\n`
/// separated) is one event's message, positions counting those lines.
pub fn decode_raw(body: &[u8], defaults: &Defaults) -> Decoded {
    let mut out = Decoded::default();
    let lines = body.split(|b| *b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    for (pos, line) in lines.filter(|l| !l.iter().all(u8::is_ascii_whitespace)).enumerate() {
        match std::str::from_utf8(line) {
            Ok(text) => {
                let mut raw = RawLog { message: Some(text.to_owned()), ..RawLog::default() };
                let mut attrs = Map::new();
                apply_meta(&mut raw, &mut attrs, None, None, None, None, defaults);
                raw.service_name = Some(service(None, None, &attrs));
                raw.attributes = Some(attrs).filter(|a| !a.is_empty());
                out.records.push((pos, raw));
            }
            Err(_) => out.errors.push((pos, Error::invalid("", "line is not valid UTF-8"))),
        }
    }
    out
}

/// One JSON value of an event body: the event object's keys, `None` for any
/// other JSON value. Read without a `Value` for the event object itself,
/// but every part is still read as a `Value` would read it, so the same
/// bodies are refused at the same place.
struct Event(Option<Envelope>);

/// The keys of an event object decoding uses, each its last occurrence;
/// other keys are read and dropped.
#[derive(Default)]
struct Envelope {
    time: Option<Value>,
    host: Option<Value>,
    source: Option<Value>,
    sourcetype: Option<Value>,
    index: Option<Value>,
    event: Option<Value>,
    fields: Option<Value>,
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Event, D::Error> {
        d.deserialize_any(EventVisitor)
    }
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Event;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Event, A::Error> {
        let mut e = Envelope::default();
        while let Some(k) = map.next_key::<Key<'de>>()? {
            let v = map.next_value::<Value>()?;
            let slot = match &*k.0 {
                "time" => &mut e.time,
                "host" => &mut e.host,
                "source" => &mut e.source,
                "sourcetype" => &mut e.sourcetype,
                "index" => &mut e.index,
                "event" => &mut e.event,
                "fields" => &mut e.fields,
                _ => continue,
            };
            *slot = Some(v);
        }
        Ok(Event(Some(e)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> std::result::Result<Event, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq))?;
        Ok(Event(None))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Event, E> {
        Ok(Event(None))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Event, E> {
        Ok(Event(None))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Event, E> {
        Ok(Event(None))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Event, E> {
        Ok(Event(None))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Event, E> {
        Ok(Event(None))
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Event, E> {
        Ok(Event(None))
    }
}

fn event_to_raw(mut ev: Envelope, defaults: &Defaults) -> Result<RawLog> {
    let mut raw = RawLog::default();
    let mut attrs = Map::new();
    let text = |v: Option<Value>, field: &str| -> Result<Option<String>> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => {
                Err(Error::invalid(field, format!("{field} must be a string, got {other}")))
            }
        }
    };
    if let Some(t) = ev.time.take().filter(|t| !t.is_null()) {
        raw.timestamp = Some(epoch_seconds(&t)?);
    }
    let host = text(ev.host.take(), "host")?;
    let source = text(ev.source.take(), "source")?;
    let sourcetype = text(ev.sourcetype.take(), "sourcetype")?;
    let index = text(ev.index.take(), "index")?;
    let mut event_service = None;
    match ev.event.take() {
        None | Some(Value::Null) => return Err(Error::invalid("event", "event field is required")),
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(Error::invalid("event", "event field cannot be blank"));
        }
        Some(Value::String(s)) => raw.message = Some(s),
        Some(Value::Object(mut obj)) => {
            let key = ["message", "msg", "log"]
                .into_iter()
                .find(|k| obj.get(*k).is_some_and(Value::is_string));
            raw.message = Some(match key.and_then(|k| obj.remove(k)) {
                Some(Value::String(m)) => m,
                // The object's JSON text; serialising a `Map` cannot fail.
                _ => serde_json::to_string(&obj).unwrap_or_default(),
            });
            for k in ["level", "severity"] {
                if let Some(l) = obj.get(k).and_then(Value::as_str).and_then(level_from_word) {
                    raw.level = Some(l.to_owned());
                    break;
                }
            }
            if let Some(Value::String(s)) = obj.remove("service_name") {
                event_service = Some(s);
            }
            attrs = obj;
        }
        Some(other) => raw.message = Some(other.to_string()),
    }
    let mut fields_service = None;
    match ev.fields.take() {
        None | Some(Value::Null) => {}
        Some(Value::Object(mut fields)) => {
            if let Some(Value::String(s)) = fields.remove("service_name") {
                fields_service = Some(s);
            }
            if raw.level.is_none()
                && let Some(l) =
                    fields.get("level").and_then(Value::as_str).and_then(level_from_word)
            {
                raw.level = Some(l.to_owned());
            }
            if attrs.is_empty() {
                attrs = fields;
            } else {
                attrs.extend(fields);
            }
        }
        Some(_) => return Err(Error::invalid("fields", "fields must be an object")),
    }
    apply_meta(&mut raw, &mut attrs, host, source, sourcetype, index, defaults);
    raw.service_name = Some(service(fields_service, event_service, &attrs));
    raw.attributes = Some(attrs).filter(|a| !a.is_empty());
    Ok(raw)
}

/// Sets host and the `source`/`sourcetype`/`index` attributes, an event's
/// own value before the request's default.
fn apply_meta(
    raw: &mut RawLog,
    attrs: &mut Map<String, Value>,
    host: Option<String>,
    source: Option<String>,
    sourcetype: Option<String>,
    index: Option<String>,
    d: &Defaults,
) {
    raw.host = host.or_else(|| d.host.clone());
    for (k, v) in [
        ("source", source.or_else(|| d.source.clone())),
        ("sourcetype", sourcetype.or_else(|| d.sourcetype.clone())),
        ("index", index.or_else(|| d.index.clone())),
    ] {
        if let Some(v) = v {
            attrs.insert(k.to_owned(), Value::String(v));
        }
    }
}

fn service(fields: Option<String>, event: Option<String>, attrs: &Map<String, Value>) -> String {
    let given = |s: &String| !s.is_empty();
    let attr = |k: &str| attrs.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    fields
        .filter(given)
        .or_else(|| event.filter(given))
        .or_else(|| attr("sourcetype").or_else(|| attr("source")).map(str::to_owned))
        .unwrap_or_else(|| UNKNOWN_SERVICE.to_owned())
}

/// HEC `time`: epoch seconds with an optional fraction, as a number or a
/// string; kept to the millisecond.
fn epoch_seconds(t: &Value) -> Result<TimestampInput> {
    let secs = match t {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let ms = secs.filter(|s| s.is_finite()).map(|s| (s * 1000.0).round());
    let time = ms
        .filter(|ms| (0.0..7_258_118_400_000.0).contains(ms))
        .and_then(|ms| chrono::DateTime::from_timestamp_millis(ms as i64));
    match time {
        Some(t) => Ok(TimestampInput::Text(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))),
        None => Err(Error::invalid(
            "time",
            format!(
                "time must be epoch seconds (e.g. 1714564800.123) between 1970 and 2199, got {t}"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &Option<TimestampInput>) -> &str {
        match t {
            Some(TimestampInput::Text(s)) => s,
            other => panic!("not text: {other:?}"),
        }
    }

    #[test]
    fn concatenated_events_map_fields_and_pick_the_service() {
        let body = br#"{"time":1714564800.25,"host":"web-1","source":"/var/log/app.log","sourcetype":"checkout","index":"main","event":"payment ok","fields":{"region":"eu","pod":"p-1"}}
            {"time":"1714564801","event":{"msg":"slow query","level":"warning","duration_ms":812,"db":{"name":"orders"}},"fields":{"service_name":"orders-db"}}{"event":{"a":1},"source":"/var/log/x.log"}
            {"event":42}"#;
        let d = decode_events(body, &Defaults::default());
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        let r: Vec<_> = d.records.iter().map(|(_, r)| r).collect();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].message.as_deref(), Some("payment ok"));
        assert_eq!(r[0].service_name.as_deref(), Some("checkout"));
        assert_eq!(r[0].host.as_deref(), Some("web-1"));
        assert_eq!(text(&r[0].timestamp), "2024-05-01T12:00:00.250Z");
        let a = r[0].attributes.as_ref().unwrap();
        assert_eq!((a["region"].as_str(), a["index"].as_str()), (Some("eu"), Some("main")));
        assert_eq!(a["source"], "/var/log/app.log");
        assert_eq!(r[1].service_name.as_deref(), Some("orders-db"));
        assert_eq!(r[1].message.as_deref(), Some("slow query"));
        assert_eq!(r[1].level.as_deref(), Some("WARN"));
        assert_eq!(text(&r[1].timestamp), "2024-05-01T12:00:01.000Z");
        let a = r[1].attributes.as_ref().unwrap();
        assert_eq!(a["duration_ms"], 812);
        assert_eq!(a["db"]["name"], "orders", "nested, flattened later by normalize");
        assert_eq!(r[2].message.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(r[2].service_name.as_deref(), Some("/var/log/x.log"));
        assert_eq!(r[3].message.as_deref(), Some("42"));
        assert_eq!(r[3].service_name.as_deref(), Some(UNKNOWN_SERVICE));
    }

    #[test]
    fn query_defaults_apply_and_events_win() {
        let d = Defaults::from_pairs([("host", "h0"), ("sourcetype", "st0"), ("channel", "x")]);
        let out =
            decode_events(br#"{"event":"a"}{"event":"b","host":"h1","sourcetype":"st1"}"#, &d);
        let r: Vec<_> = out.records.iter().map(|(_, r)| r).collect();
        assert_eq!((r[0].host.as_deref(), r[0].service_name.as_deref()), (Some("h0"), Some("st0")));
        assert_eq!((r[1].host.as_deref(), r[1].service_name.as_deref()), (Some("h1"), Some("st1")));
    }

    #[test]
    fn bad_events_are_numbered_and_syntax_errors_end_the_body() {
        let body = br#"{"event":"ok"} {"host":"no event"} {"event":"  "} [1] {"event":"x","time":"soon"} {"event":"fine"} {"event": nope} {"event":"lost"}"#;
        let d = decode_events(body, &Defaults::default());
        assert_eq!(d.records.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![0, 5]);
        let errs: Vec<_> =
            d.errors.iter().map(|(p, e)| (*p, e.field().unwrap().to_owned())).collect();
        assert_eq!(
            errs,
            vec![
                (1, "event".into()),
                (2, "event".into()),
                (3, String::new()),
                (4, "time".into()),
                (6, String::new())
            ]
        );
        let d = decode_events(b"{\"event\":\"bad \xff\"}", &Defaults::default());
        assert_eq!((d.records.len(), d.errors.len()), (0, 1));
        let d = decode_events(b"  \n ", &Defaults::default());
        assert_eq!((d.records.len(), d.errors.len()), (0, 0));
    }

    #[test]
    fn raw_lines_are_events_with_query_metadata() {
        let d = Defaults::from_pairs([
            ("host", "h"),
            ("source", "/var/log/syslog"),
            ("sourcetype", ""),
        ]);
        let out = decode_raw(b"first line\r\n\n  \nsecond \xff\nthird", &d);
        let r: Vec<_> =
            out.records.iter().map(|(p, r)| (*p, r.message.as_deref().unwrap())).collect();
        assert_eq!(r, vec![(0, "first line"), (2, "third")]);
        assert_eq!(out.errors.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![1]);
        let first = &out.records[0].1;
        assert_eq!(first.service_name.as_deref(), Some("/var/log/syslog"));
        assert_eq!(first.host.as_deref(), Some("h"));
        assert_eq!(first.timestamp, None);
    }
}
