//! Elasticsearch `_bulk`: NDJSON action/source pairs, as Filebeat, Logstash,
//! Vector, Fluent Bit and the official clients send them.
//!
//! Items are counted from 0 by action line. `create` and `index` take the
//! next line as the document; `update` (whose next line is its body, skipped)
//! and `delete` (no body) are item errors: loglens is append-only. An
//! unreadable action or document line is an item error, never the whole body;
//! only a body with no JSON object on any line is refused as a whole.
//!
//! ECS mapping (a key may come nested, `{"log":{"level":..}}`, or dotted,
//! `"log.level"`): `@timestamp` (else `timestamp`) -> timestamp, `message` ->
//! message, `log.level` (else `level`) -> level, `service.name` (else
//! `service_name`, else the `_index` of the action or of the path) ->
//! service_name, `host.name` (else a string `host`) -> host,
//! `http.response.status_code` -> status_code, `http.request.id` ->
//! request_id, `user.id` -> user_id, `trace.id`, `span.id`, `error.code`,
//! `event.duration` (ns) -> response_time_ms, `tags` (strings) -> tags.
//! Everything else becomes attributes, flattened to dotted keys.

use std::borrow::Cow;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};

use loglens_core::{Error, RawLog, TimestampInput};
use serde::de::value::SeqAccessDeserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::{Decoded, Key};

/// The `protocol` label of this receiver's metrics.
pub const PROTOCOL: &str = "es_bulk";

/// A bulk operation, as named on its action line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `create`: append a document (data streams use only this).
    Create,
    /// `index`: add or replace a document; appended here.
    Index,
    /// `update`: refused, with its body line skipped.
    Update,
    /// `delete`: refused (it has no body line).
    Delete,
}

impl Op {
    /// The name used in the action line and as the key of the reply item.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Index => "index",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }

    fn parse(name: &str) -> Option<Op> {
        match name {
            "create" => Some(Op::Create),
            "index" => Some(Op::Index),
            "update" => Some(Op::Update),
            "delete" => Some(Op::Delete),
            _ => None,
        }
    }
}

/// The Elasticsearch error `type` of a refused item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemErrorKind {
    /// The action line is unreadable, names no known operation, or the
    /// operation is one loglens does not do (`update`, `delete`).
    IllegalArgument,
    /// The document is not a JSON object, or a field of it is invalid.
    DocumentParsing,
}

impl ItemErrorKind {
    /// The `error.type` string Elasticsearch uses for this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemErrorKind::IllegalArgument => "illegal_argument_exception",
            ItemErrorKind::DocumentParsing => "document_parsing_exception",
        }
    }
}

/// One item of the reply, whatever became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The operation (`index` when the action line could not be read).
    pub op: Op,
    /// `_index` of the action, else the index of the path, else empty.
    pub index: String,
    /// `_id` of the action, else a hash of the document line.
    pub id: String,
    /// Set when the decoder refused the item (its reason is in
    /// [`Bulk::decoded`]`.errors`).
    pub error: Option<ItemErrorKind>,
}

/// A decoded `_bulk` body: one [`Item`] per action line, and the records and
/// errors by item position.
#[derive(Debug, Default)]
pub struct Bulk {
    /// Every item, in body order.
    pub items: Vec<Item>,
    /// Records and refusals, by position in `items`.
    pub decoded: Decoded,
}

/// Decodes a `_bulk` body; `path_index` is the `{index}` of `/{index}/_bulk`.
/// Fails only when the body holds no JSON object at all (empty, binary, not
/// NDJSON).
pub fn decode(body: &[u8], path_index: Option<&str>) -> Result<Bulk, Error> {
    let lines: Vec<&[u8]> =
        body.split(|b| *b == b'\n').map(trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        return Err(Error::invalid(
            "",
            "request body is empty; expected NDJSON action and document lines (the _bulk format)",
        ));
    }
    let mut actions: Vec<Option<Action>> = lines.iter().map(|l| action(l)).collect();
    // An action line is an object; without one, look for any object at all.
    if actions.iter().all(Option::is_none) && !lines.iter().any(|l| object(l).is_some()) {
        let what = if std::str::from_utf8(body).is_err() {
            "is not valid UTF-8"
        } else {
            "has no line that is a JSON object"
        };
        return Err(Error::invalid(
            "",
            format!(
                "request body {what}; expected NDJSON action and document lines (the _bulk format)"
            ),
        ));
    }
    let mut out = Bulk::default();
    let mut flat = Flat::default();
    let mut i = 0;
    while i < lines.len() {
        let pos = out.items.len();
        let this = actions[i].take();
        let next_is_action = actions.get(i + 1).is_some_and(Option::is_some);
        let Some(Action { op, index, id: given_id }) = this else {
            // Unreadable action: its document follows unless the next line
            // is itself an action.
            let reason = match object(lines[i]) {
                None => format!("action line is not a JSON object: {}", excerpt(lines[i])),
                Some(m) => format!(
                    "action line must be one of create, index, update or delete with an object, got keys {:?}",
                    m.keys().collect::<Vec<_>>()
                ),
            };
            out.refuse(
                pos,
                Op::Index,
                String::new(),
                id_of(lines[i]),
                ItemErrorKind::IllegalArgument,
                reason,
            );
            i += if next_is_action || i + 1 >= lines.len() { 1 } else { 2 };
            continue;
        };
        let index = index.or_else(|| path_index.map(str::to_owned)).unwrap_or_default();
        match op {
            Op::Delete | Op::Update => {
                let id = given_id.unwrap_or_default();
                let reason = format!(
                    "{} is not supported: loglens stores logs append-only; use create or index",
                    op.as_str()
                );
                out.refuse(pos, op, index, id, ItemErrorKind::IllegalArgument, reason);
                // update has a body line; delete has none.
                i += if op == Op::Update && !next_is_action && i + 1 < lines.len() { 2 } else { 1 };
            }
            Op::Create | Op::Index => {
                let Some(doc_line) = lines.get(i + 1) else {
                    let reason = format!("{} action has no document line after it", op.as_str());
                    out.refuse(
                        pos,
                        op,
                        index,
                        given_id.unwrap_or_default(),
                        ItemErrorKind::IllegalArgument,
                        reason,
                    );
                    i += 1;
                    continue;
                };
                let id = given_id.unwrap_or_else(|| id_of(doc_line));
                match flat.document(doc_line) {
                    None => {
                        let reason =
                            format!("document is not a JSON object: {}", excerpt(doc_line));
                        out.refuse(pos, op, index, id, ItemErrorKind::DocumentParsing, reason);
                    }
                    Some(fields) => {
                        out.decoded.records.push((pos, map_ecs(fields, &index)));
                        out.items.push(Item { op, index, id, error: None });
                    }
                }
                i += 2;
            }
        }
    }
    Ok(out)
}

impl Bulk {
    fn refuse(
        &mut self,
        pos: usize,
        op: Op,
        index: String,
        id: String,
        kind: ItemErrorKind,
        reason: String,
    ) {
        self.decoded.errors.push((pos, Error::invalid("", reason)));
        self.items.push(Item { op, index, id, error: Some(kind) });
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let start = line.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(line.len());
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &line[start..end.max(start)]
}

/// The line as a JSON object; the slow path (error reasons, and documents
/// [`Flat`] cannot take in one pass).
fn object(line: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(line) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// A readable action line, `{"<op>": {...}}`: exactly one distinct key, an
/// operation name, whose (last) value is an object.
struct Action {
    op: Op,
    /// `_index`, when a string.
    index: Option<String>,
    /// `_id`, when a string or a number (as its JSON text).
    id: Option<String>,
}

/// Reads an action line without building a `Value`; `None` for any line
/// that is not one, as soon as that is certain (a document's first key).
fn action(line: &[u8]) -> Option<Action> {
    let mut de = serde_json::Deserializer::from_slice(line);
    let a = de.deserialize_map(ActionVisitor).ok()?;
    de.end().ok()?;
    a
}

struct ActionVisitor;

impl<'de> Visitor<'de> for ActionVisitor {
    type Value = Option<Action>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an action object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Action>, A::Error> {
        // A repeated key keeps its last value, as in a `Map`.
        let mut found: Option<(Op, Key<'de>, Option<Meta>)> = None;
        while let Some(k) = map.next_key::<Key<'de>>()? {
            let op = match &found {
                None => Op::parse(&k.0),
                Some((op, first, _)) => Some(*op).filter(|_| first.0 == k.0),
            };
            let Some(op) = op else {
                return Err(de::Error::custom("not an action line"));
            };
            let meta = map.next_value_seed(MetaSeed)?;
            found = Some((op, k, meta));
        }
        Ok(found.and_then(|(op, _, meta)| {
            let Meta { index, id } = meta?;
            let index = match index {
                Some(Value::String(s)) => Some(s),
                _ => None,
            };
            let id = match id {
                Some(Value::String(s)) => Some(s),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            Some(Action { op, index, id })
        }))
    }
}

/// `_index` and `_id` of an action's object, last occurrence winning.
struct Meta {
    index: Option<Value>,
    id: Option<Value>,
}

/// Reads an action's value: `Some` for an object, `None` for anything else.
/// Every value is read as a `Value` would be, so the same lines are refused.
struct MetaSeed;

impl<'de> DeserializeSeed<'de> for MetaSeed {
    type Value = Option<Meta>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Meta>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MetaSeed {
    type Value = Option<Meta>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Meta>, A::Error> {
        let mut meta = Meta { index: None, id: None };
        while let Some(k) = map.next_key::<Key<'de>>()? {
            let v = map.next_value::<Value>()?;
            match &*k.0 {
                "_index" => meta.index = Some(v),
                "_id" => meta.id = Some(v),
                _ => {}
            }
        }
        Ok(Some(meta))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<Meta>, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq))?;
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<Meta>, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<Meta>, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<Meta>, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<Meta>, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Option<Meta>, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<Meta>, E> {
        Ok(None)
    }
}

/// Why a line is not JSON, with its start (lossy: it may not be UTF-8).
fn excerpt(line: &[u8]) -> String {
    let why = match serde_json::from_slice::<Value>(line) {
        Ok(_) => "not an object".to_owned(),
        Err(e) => e.to_string(),
    };
    let text = String::from_utf8_lossy(&line[..line.len().min(60)]).into_owned();
    format!("{why} (line starts {text:?})")
}

/// A stable id for a document that came without `_id`.
fn id_of(line: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    line.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// The flattened keys [`map_ecs`] reads, by slot.
const KNOWN: [&str; 17] = [
    "@timestamp",
    "timestamp",
    "service.name",
    "service_name",
    "http.response.status_code",
    "event.duration",
    "tags",
    "log.level",
    "level",
    "message",
    "http.request.id",
    "user.id",
    "error.code",
    "host.name",
    "host",
    "trace.id",
    "span.id",
];
const AT_TIMESTAMP: usize = 0;
const TIMESTAMP: usize = 1;
const SERVICE_DOT_NAME: usize = 2;
const SERVICE_NAME: usize = 3;
const STATUS_CODE: usize = 4;
const EVENT_DURATION: usize = 5;
const TAGS: usize = 6;
const LOG_LEVEL: usize = 7;
const LEVEL: usize = 8;
const MESSAGE: usize = 9;
const REQUEST_ID: usize = 10;
const USER_ID: usize = 11;
const ERROR_CODE: usize = 12;
const HOST_NAME: usize = 13;
const HOST: usize = 14;
const TRACE_ID: usize = 15;
const SPAN_ID: usize = 16;

fn slot(key: &str) -> Option<usize> {
    KNOWN.iter().position(|k| *k == key)
}

/// A document flattened to dotted keys: the [`KNOWN`] ones by slot, the
/// rest as attributes. Nested objects are flattened, empty objects and
/// nulls dropped, arrays and scalars kept.
#[derive(Default)]
struct Fields {
    known: [Option<Value>; KNOWN.len()],
    attrs: Map<String, Value>,
}

/// Flattens a document while parsing it. Exact only when no key repeats
/// within an object and no two paths flatten to the same dotted key; on
/// either it gives up and the document goes through [`object`] and
/// [`flatten`], where the later key in sorted order wins. Its buffers are
/// reused from one document to the next.
#[derive(Default)]
struct Flat<'de> {
    fields: Fields,
    /// The dotted key being read.
    path: String,
    /// Keys of the objects being read, innermost last.
    keys: Vec<Cow<'de, str>>,
    clash: bool,
}

impl<'de> Flat<'de> {
    /// The document on `line` flattened, `None` when it is not a JSON object.
    fn document(&mut self, line: &'de [u8]) -> Option<Fields> {
        self.path.clear();
        self.keys.clear();
        self.clash = false;
        let mut de = serde_json::Deserializer::from_slice(line);
        let read = de.deserialize_map(Level(self)).and_then(|()| de.end());
        let fields = std::mem::take(&mut self.fields);
        match read {
            Ok(()) => Some(fields),
            Err(_) if self.clash => {
                let mut fields = Fields::default();
                flatten(&mut fields.attrs, "", object(line)?);
                for (k, name) in KNOWN.iter().enumerate() {
                    fields.known[k] = fields.attrs.remove(*name);
                }
                Some(fields)
            }
            Err(_) => None,
        }
    }

    /// Stores the value at the current path; `false` on a clash.
    fn leaf(&mut self, v: Value) -> bool {
        if v.is_null() {
            return true;
        }
        let taken = match slot(&self.path) {
            Some(k) => self.fields.known[k].replace(v).is_some(),
            None => self.fields.attrs.insert(self.path.clone(), v).is_some(),
        };
        self.clash |= taken;
        !taken
    }
}

/// One object of a document, its keys appended to the current path.
struct Level<'f, 'de>(&'f mut Flat<'de>);

impl<'de> Visitor<'de> for Level<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let flat = self.0;
        let start = flat.keys.len();
        while let Some(Key(k)) = map.next_key()? {
            if flat.keys[start..].contains(&k) {
                flat.clash = true;
                return Err(de::Error::custom("repeated key"));
            }
            let len = flat.path.len();
            if len > 0 {
                flat.path.push('.');
            }
            flat.path.push_str(&k);
            flat.keys.push(k);
            map.next_value_seed(Node(&mut *flat))?;
            flat.path.truncate(len);
        }
        flat.keys.truncate(start);
        Ok(())
    }
}

/// The value of one key: an object is flattened further, anything else is
/// a leaf read as a `Value`.
struct Node<'f, 'de>(&'f mut Flat<'de>);

impl<'de> DeserializeSeed<'de> for Node<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Node<'_, 'de> {
    fn leaf<E: de::Error>(self, v: Value) -> Result<(), E> {
        if self.0.leaf(v) { Ok(()) } else { Err(E::custom("repeated flattened key")) }
    }
}

impl<'de> Visitor<'de> for Node<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        Level(self.0).visit_map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let v = Value::deserialize(SeqAccessDeserializer::new(seq))?;
        self.leaf(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.leaf(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.leaf(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.leaf(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.leaf(Value::from(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.leaf(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.leaf(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Flattens nested objects to dotted keys; arrays and scalars kept.
fn flatten(out: &mut Map<String, Value>, prefix: &str, m: Map<String, Value>) {
    for (k, v) in m {
        let key = if prefix.is_empty() { k } else { format!("{prefix}.{k}") };
        match v {
            Value::Object(inner) if !inner.is_empty() => flatten(out, &key, inner),
            Value::Object(_) | Value::Null => {}
            v => {
                out.insert(key, v);
            }
        }
    }
}

/// Takes a scalar as text; anything else stays (as an attribute).
fn take_str(known: &mut [Option<Value>], k: usize) -> Option<String> {
    match known[k].take()? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => {
            known[k] = Some(other);
            None
        }
    }
}

fn take_first_str(known: &mut [Option<Value>], keys: &[usize]) -> Option<String> {
    keys.iter().find_map(|k| take_str(known, *k))
}

/// Lowers common syslog and framework levels onto loglens' four; anything
/// else is passed on for validation to refuse with the accepted list.
fn level(l: String) -> String {
    match l.trim().to_ascii_lowercase().as_str() {
        "trace" | "verbose" | "finest" | "finer" | "fine" => "DEBUG".to_owned(),
        "notice" | "informational" => "INFO".to_owned(),
        "err" | "fatal" | "critical" | "crit" | "alert" | "emerg" | "emergency" | "severe"
        | "panic" => "ERROR".to_owned(),
        _ => l,
    }
}

/// Maps one flattened ECS document onto a [`RawLog`]; `index` is the
/// fallback service. A known key whose value does not fit stays an attribute.
fn map_ecs(fields: Fields, index: &str) -> RawLog {
    let Fields { mut known, mut attrs } = fields;
    let k = &mut known;
    let timestamp = [AT_TIMESTAMP, TIMESTAMP].into_iter().find_map(|i| match k[i].take()? {
        Value::String(s) => Some(TimestampInput::Text(s)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => TimestampInput::Int(i),
            None => TimestampInput::Float(n.as_f64().unwrap_or_default()),
        }),
        other => {
            k[i] = Some(other);
            None
        }
    });
    let service_name = take_first_str(k, &[SERVICE_DOT_NAME, SERVICE_NAME])
        .or_else(|| (!index.is_empty()).then(|| index.to_owned()));
    let status_code = match k[STATUS_CODE].take() {
        Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
        Some(Value::String(s)) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok(),
        other => {
            k[STATUS_CODE] = other;
            None
        }
    };
    let response_time_ms = match k[EVENT_DURATION].take() {
        Some(Value::Number(n)) => n.as_f64().map(|ns| ns / 1e6),
        other => {
            k[EVENT_DURATION] = other;
            None
        }
    };
    let tags = match k[TAGS].take() {
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            Some(a.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        }
        Some(Value::String(s)) => Some(vec![s]),
        other => {
            k[TAGS] = other;
            None
        }
    };
    let mut raw = RawLog {
        timestamp,
        service_name,
        level: take_first_str(k, &[LOG_LEVEL, LEVEL]).map(level),
        message: take_str(k, MESSAGE),
        status_code,
        request_id: take_str(k, REQUEST_ID),
        user_id: take_str(k, USER_ID),
        response_time_ms,
        error_code: take_str(k, ERROR_CODE),
        tags,
        host: take_first_str(k, &[HOST_NAME, HOST]),
        trace_id: take_str(k, TRACE_ID),
        span_id: take_str(k, SPAN_ID),
        attributes: None,
        extra: Map::new(),
    };
    for (name, v) in KNOWN.iter().zip(known) {
        if let Some(v) = v {
            attrs.insert((*name).to_owned(), v);
        }
    }
    raw.attributes = (!attrs.is_empty()).then_some(attrs);
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Bulk {
        decode(body.as_bytes(), None).unwrap()
    }

    fn reason(b: &Bulk, pos: usize) -> String {
        b.decoded.errors.iter().find(|(p, _)| *p == pos).map(|(_, e)| e.to_string()).unwrap()
    }

    #[test]
    fn ecs_fields_map_and_the_rest_become_flat_attributes() {
        let b = ok(concat!(
            r#"{"create":{"_index":"logs-app-default"}}"#,
            "\n",
            r#"{"@timestamp":"2024-05-01T12:00:00.123Z","message":"GET /pay 502","log":{"level":"warning","file":{"path":"/var/log/app.log"}},"#,
            r#""service":{"name":"payment-service"},"host":{"name":"web-1","os":{"family":"debian"}},"#,
            r#""http":{"response":{"status_code":502},"request":{"id":"req-9"}},"trace.id":"t1","span":{"id":"s1"},"#,
            r#""error":{"code":"UPSTREAM"},"event":{"duration":1500000,"dataset":"app"},"user":{"id":"u1"},"#,
            r#""tags":["eu","canary"],"agent":{"type":"filebeat","version":"8.19.0"},"labels":{"ids":[1,2]}}"#,
            "\n"
        ));
        assert!(b.decoded.errors.is_empty(), "{:?}", b.decoded.errors);
        let (pos, r) = &b.decoded.records[0];
        assert_eq!(*pos, 0);
        assert_eq!(r.timestamp, Some(TimestampInput::Text("2024-05-01T12:00:00.123Z".into())));
        assert_eq!(r.message.as_deref(), Some("GET /pay 502"));
        assert_eq!(r.level.as_deref(), Some("warning"));
        assert_eq!(r.service_name.as_deref(), Some("payment-service"));
        assert_eq!(r.host.as_deref(), Some("web-1"));
        assert_eq!(r.status_code, Some(502));
        assert_eq!(r.request_id.as_deref(), Some("req-9"));
        assert_eq!(r.user_id.as_deref(), Some("u1"));
        assert_eq!((r.trace_id.as_deref(), r.span_id.as_deref()), (Some("t1"), Some("s1")));
        assert_eq!(r.error_code.as_deref(), Some("UPSTREAM"));
        assert_eq!(r.response_time_ms, Some(1.5), "event.duration is in nanoseconds");
        assert_eq!(r.tags, Some(vec!["eu".to_owned(), "canary".to_owned()]));
        let attrs = r.attributes.as_ref().unwrap();
        let keys: Vec<&str> = attrs.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "agent.type",
                "agent.version",
                "event.dataset",
                "host.os.family",
                "labels.ids",
                "log.file.path"
            ]
        );
        assert_eq!(attrs["log.file.path"], "/var/log/app.log");
        assert_eq!(
            b.items[0],
            Item {
                op: Op::Create,
                index: "logs-app-default".into(),
                id: b.items[0].id.clone(),
                error: None
            }
        );
        assert_eq!(b.items[0].id.len(), 16);
    }

    #[test]
    fn dotted_keys_and_plain_fields_work_and_the_index_names_the_service() {
        let body = concat!(
            r#"{"index":{"_id":"a1"}}"#,
            "\n",
            r#"{"log.level":"err","service.name":"api","message":"x","host":"h1","timestamp":1714564800000}"#,
            "\n",
            r#"{"index":{}}"#,
            "\n",
            r#"{"message":"no service","level":"trace"}"#,
            "\n",
        );
        let b = decode(body.as_bytes(), Some("checkout")).unwrap();
        let r = &b.decoded.records[0].1;
        assert_eq!(r.level.as_deref(), Some("ERROR"));
        assert_eq!(r.service_name.as_deref(), Some("api"));
        assert_eq!(r.host.as_deref(), Some("h1"));
        assert_eq!(r.timestamp, Some(TimestampInput::Int(1_714_564_800_000)));
        assert_eq!(b.items[0].id, "a1");
        assert_eq!(b.items[0].index, "checkout");
        let r = &b.decoded.records[1].1;
        assert_eq!(r.service_name.as_deref(), Some("checkout"), "falls back to the path index");
        assert_eq!(r.level.as_deref(), Some("DEBUG"));
        assert!(r.attributes.is_none());
    }

    #[test]
    fn update_and_delete_are_item_errors_and_update_bodies_are_skipped() {
        let b = ok(concat!(
            "{\"delete\":{\"_index\":\"a\",\"_id\":\"1\"}}\n",
            "{\"update\":{\"_index\":\"a\",\"_id\":\"2\"}}\n",
            "{\"doc\":{\"message\":\"changed\"}}\n",
            "{\"create\":{\"_index\":\"a\"}}\n",
            "{\"message\":\"kept\",\"service.name\":\"s\"}\n",
        ));
        assert_eq!(b.items.len(), 3);
        assert_eq!(
            b.items.iter().map(|i| (i.op, i.error)).collect::<Vec<_>>(),
            [
                (Op::Delete, Some(ItemErrorKind::IllegalArgument)),
                (Op::Update, Some(ItemErrorKind::IllegalArgument)),
                (Op::Create, None)
            ]
        );
        assert_eq!(b.items[1].id, "2");
        assert!(reason(&b, 0).starts_with("delete is not supported"), "{}", reason(&b, 0));
        assert!(reason(&b, 1).contains("use create or index"));
        assert_eq!(b.decoded.records.len(), 1);
        assert_eq!(b.decoded.records[0].0, 2);
        assert_eq!(b.decoded.records[0].1.message.as_deref(), Some("kept"));
    }

    #[test]
    fn a_malformed_line_is_one_item_error_among_valid_items() {
        let b = ok(concat!(
            "{\"create\":{}}\n",
            "{\"message\":\"one\",\"service.name\":\"s\"}\n",
            "{\"create\":{}}\n",
            "{\"message\":\"broken\n",
            "{\"create\":{}}\n",
            "[1,2]\n",
            "{\"create\":{}\n",
            "{\"message\":\"after a broken action\"}\n",
            "{\"create\":{}}\n",
            "{\"message\":\"three\",\"service.name\":\"s\"}\n",
            "{\"create\":{}}",
        ));
        let summary: Vec<_> = b.items.iter().map(|i| i.error).collect();
        assert_eq!(
            summary,
            [
                None,
                Some(ItemErrorKind::DocumentParsing),
                Some(ItemErrorKind::DocumentParsing),
                Some(ItemErrorKind::IllegalArgument),
                None,
                Some(ItemErrorKind::IllegalArgument),
            ]
        );
        assert!(
            reason(&b, 1).starts_with("document is not a JSON object: EOF"),
            "{}",
            reason(&b, 1)
        );
        assert!(reason(&b, 2).contains("not an object"));
        assert!(reason(&b, 3).starts_with("action line is not a JSON object"));
        assert_eq!(reason(&b, 5), "create action has no document line after it");
        let kept: Vec<_> =
            b.decoded.records.iter().map(|(p, r)| (*p, r.message.clone().unwrap())).collect();
        assert_eq!(kept, [(0, "one".to_owned()), (4, "three".to_owned())]);
    }

    #[test]
    fn invalid_utf8_in_a_document_is_an_item_error() {
        let mut body = b"{\"create\":{}}\n{\"message\":\"".to_vec();
        body.extend_from_slice(&[0xff, 0xfe]);
        body.extend_from_slice(b"\"}\n{\"create\":{}}\n{\"message\":\"ok\"}\n");
        let b = decode(&body, Some("svc")).unwrap();
        assert_eq!(b.items[0].error, Some(ItemErrorKind::DocumentParsing));
        assert!(reason(&b, 0).contains("invalid unicode"), "{}", reason(&b, 0));
        assert_eq!(b.decoded.records.len(), 1);
    }

    #[test]
    fn a_body_without_any_json_object_is_refused_whole() {
        for (body, want) in [
            (&b""[..], "request body is empty"),
            (&b" \n\n "[..], "request body is empty"),
            (&b"hello world\nfoo"[..], "has no line that is a JSON object"),
            (&b"{\"create\":{\"_ind"[..], "has no line that is a JSON object"),
            (&[0xff, 0xfe, 0x00, 0x7b][..], "is not valid UTF-8"),
        ] {
            let e = decode(body, None).unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
            assert!(e.to_string().contains("the _bulk format"));
        }
    }
}
