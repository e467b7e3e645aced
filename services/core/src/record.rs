//! The log record: raw input as services send it, and the validated,
//! normalised [`LogRecord`] loglens stores.
//!
//! Limits (also in the README): `service_name` 1-128 bytes; `message`
//! 1 byte to 64 KiB; `request_id`, `user_id`, `host`, `error_code`,
//! `trace_id`, `span_id` at most 256 bytes each; at most 64 `tags` of at most
//! 128 bytes each; `status_code` 100-599; `response_time_ms` finite and >= 0.
//! Unknown JSON fields become `attributes` (see [`crate::attributes`]).

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use crate::attributes::{self, AttrValue, Attributes};
use crate::error::{Error, Result};
use crate::level::Level;
use crate::rules::RuleSet;
use crate::status::StatusCode;
use crate::timestamp::{self, TimestampInput};

/// Largest accepted `message`, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Largest accepted `service_name`, in bytes.
pub const MAX_SERVICE_NAME_BYTES: usize = 128;
/// Largest accepted identifier-like field (`request_id`, `host`, ...), in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// Most tags on one record.
pub const MAX_TAGS: usize = 64;
/// Largest accepted tag, in bytes.
pub const MAX_TAG_BYTES: usize = 128;
/// Most records in one ingest request (an `Ingest` call, an `IngestStream`
/// message); senders with more split them into batches of this size.
pub const MAX_BATCH: usize = 10_000;

/// A record as a service sends it, before validation. Every field is optional
/// here; [`normalize`] decides what is required. Deserialised from a map by
/// hand: the known fields by name, every other key into `extra` (what
/// `#[serde(flatten)]` did, without buffering the whole record first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawLog {
    /// See [`crate::timestamp`] for the accepted forms; `None` means "now".
    pub timestamp: Option<TimestampInput>,
    /// Emitting service; required.
    pub service_name: Option<String>,
    /// DEBUG/INFO/WARN(ING)/ERROR, any case; `None` means INFO.
    pub level: Option<String>,
    /// Free text; required.
    pub message: Option<String>,
    /// HTTP status, 100-599.
    pub status_code: Option<i64>,
    /// Request correlation id.
    pub request_id: Option<String>,
    /// Acting user.
    pub user_id: Option<String>,
    /// Latency in milliseconds, >= 0.
    pub response_time_ms: Option<f64>,
    /// Application error code, e.g. `PAYMENT_DECLINED`.
    pub error_code: Option<String>,
    /// Free-form labels.
    pub tags: Option<Vec<String>>,
    /// Emitting host or pod.
    pub host: Option<String>,
    /// The application's own trace id (kept as sent).
    pub trace_id: Option<String>,
    /// The application's own span id (kept as sent).
    pub span_id: Option<String>,
    /// Attributes sent explicitly as `"attributes": {...}` (may nest).
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// Every other JSON field: kept as attributes, nested objects flattened
    /// to dotted keys (see [`crate::attributes`]).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A key of a record object: one of the known fields, or any other.
enum Key<'de> {
    Timestamp,
    ServiceName,
    Level,
    Message,
    StatusCode,
    RequestId,
    UserId,
    ResponseTimeMs,
    ErrorCode,
    Tags,
    Host,
    TraceId,
    SpanId,
    Attributes,
    Other(std::borrow::Cow<'de, str>),
}

impl<'de> Key<'de> {
    fn known(k: &str) -> Option<Key<'de>> {
        Some(match k {
            "timestamp" => Key::Timestamp,
            "service_name" => Key::ServiceName,
            "level" => Key::Level,
            "message" => Key::Message,
            "status_code" => Key::StatusCode,
            "request_id" => Key::RequestId,
            "user_id" => Key::UserId,
            "response_time_ms" => Key::ResponseTimeMs,
            "error_code" => Key::ErrorCode,
            "tags" => Key::Tags,
            "host" => Key::Host,
            "trace_id" => Key::TraceId,
            "span_id" => Key::SpanId,
            "attributes" => Key::Attributes,
            _ => return None,
        })
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> std::result::Result<Key<'de>, E> {
                Ok(Key::known(v).unwrap_or(Key::Other(v.into())))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Key<'de>, E> {
                Ok(Key::known(v).unwrap_or_else(|| Key::Other(v.to_owned().into())))
            }
            fn visit_string<E: serde::de::Error>(
                self,
                v: String,
            ) -> std::result::Result<Key<'de>, E> {
                Ok(Key::known(&v).unwrap_or(Key::Other(v.into())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for RawLog {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawLog;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a log record object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<RawLog, A::Error> {
                use serde::de::Error as _;
                /// Sets a known field once; a second occurrence is an error,
                /// as with derived impls.
                fn once<'de, T: Deserialize<'de>, A: serde::de::MapAccess<'de>>(
                    map: &mut A,
                    slot: &mut Option<T>,
                    seen: &mut u16,
                    bit: u16,
                    name: &'static str,
                ) -> std::result::Result<(), A::Error> {
                    if *seen & bit != 0 {
                        return Err(A::Error::duplicate_field(name));
                    }
                    *seen |= bit;
                    *slot = map.next_value::<Option<T>>()?;
                    Ok(())
                }
                let mut r = RawLog::default();
                let mut seen = 0u16;
                let m = &mut map;
                while let Some(key) = m.next_key::<Key<'de>>()? {
                    match key {
                        Key::Timestamp => once(m, &mut r.timestamp, &mut seen, 1, "timestamp")?,
                        Key::ServiceName => {
                            once(m, &mut r.service_name, &mut seen, 1 << 1, "service_name")?
                        }
                        Key::Level => once(m, &mut r.level, &mut seen, 1 << 2, "level")?,
                        Key::Message => once(m, &mut r.message, &mut seen, 1 << 3, "message")?,
                        Key::StatusCode => {
                            once(m, &mut r.status_code, &mut seen, 1 << 4, "status_code")?
                        }
                        Key::RequestId => {
                            once(m, &mut r.request_id, &mut seen, 1 << 5, "request_id")?
                        }
                        Key::UserId => once(m, &mut r.user_id, &mut seen, 1 << 6, "user_id")?,
                        Key::ResponseTimeMs => {
                            once(m, &mut r.response_time_ms, &mut seen, 1 << 7, "response_time_ms")?
                        }
                        Key::ErrorCode => {
                            once(m, &mut r.error_code, &mut seen, 1 << 8, "error_code")?
                        }
                        Key::Tags => once(m, &mut r.tags, &mut seen, 1 << 9, "tags")?,
                        Key::Host => once(m, &mut r.host, &mut seen, 1 << 10, "host")?,
                        Key::TraceId => once(m, &mut r.trace_id, &mut seen, 1 << 11, "trace_id")?,
                        Key::SpanId => once(m, &mut r.span_id, &mut seen, 1 << 12, "span_id")?,
                        Key::Attributes => {
                            once(m, &mut r.attributes, &mut seen, 1 << 13, "attributes")?
                        }
                        Key::Other(k) => {
                            let v = m.next_value::<serde_json::Value>()?;
                            r.extra.insert(k.into_owned(), v);
                        }
                    }
                }
                Ok(r)
            }
        }
        d.deserialize_map(V)
    }
}

/// JSON type each known field must have, for naming the field in type errors.
const FIELD_TYPES: &[(&str, &str)] = &[
    ("timestamp", "a string or a number"),
    ("service_name", "a string"),
    ("level", "a string"),
    ("message", "a string"),
    ("status_code", "an integer"),
    ("request_id", "a string"),
    ("user_id", "a string"),
    ("response_time_ms", "a number"),
    ("error_code", "a string"),
    ("tags", "an array of strings"),
    ("host", "a string"),
    ("trace_id", "a string"),
    ("span_id", "a string"),
    ("attributes", "an object"),
];

impl RawLog {
    /// Parses one JSON object. A type error names the field and the JSON
    /// type it must have.
    pub fn from_json(bytes: &[u8]) -> Result<RawLog> {
        // serde would read an array as the struct's fields by position.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(Error::invalid("", "record must be a JSON object"));
        }
        match serde_json::from_slice::<RawLog>(bytes) {
            Ok(raw) => Ok(raw),
            Err(e) => Err(explain_json_error(bytes, &e)),
        }
    }
}

/// Finds which field made typed parsing fail; slow path, errors only.
fn explain_json_error(bytes: &[u8], e: &serde_json::Error) -> Error {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(_) => return Error::invalid("", format!("record is not valid JSON: {e}")),
    };
    let Some(obj) = value.as_object() else {
        return Error::invalid("", "record must be a JSON object");
    };
    for (field, expected) in FIELD_TYPES {
        let Some(v) = obj.get(*field) else { continue };
        if v.is_null() {
            continue;
        }
        let single = serde_json::json!({ *field: v });
        if serde_json::from_value::<RawLog>(single).is_err() {
            return Error::invalid(
                *field,
                format!("{field} must be {expected}, got {}", json_type(v)),
            );
        }
    }
    Error::invalid("", format!("record could not be read: {e}"))
}

fn json_type(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(b) => format!("boolean {b}"),
        serde_json::Value::Number(n) => format!("number {n}"),
        serde_json::Value::String(s) => {
            format!("string {:?}", s.chars().take(40).collect::<String>())
        }
        serde_json::Value::Array(_) => "an array".into(),
        serde_json::Value::Object(_) => "an object".into(),
    }
}

/// A validated, normalised log record with what processing added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Deterministic id, the store's upsert key (see [`content_id`]).
    pub id: String,
    /// UTC milliseconds since the epoch.
    pub timestamp: i64,
    /// Emitting service.
    pub service_name: String,
    /// Severity level.
    pub level: Level,
    /// Free text, searchable word by word.
    pub message: String,
    /// HTTP status.
    pub status_code: Option<StatusCode>,
    /// Request correlation id.
    pub request_id: Option<String>,
    /// Acting user.
    pub user_id: Option<String>,
    /// Latency in milliseconds.
    pub response_time_ms: Option<f64>,
    /// Application error code.
    pub error_code: Option<String>,
    /// Free-form labels.
    pub tags: Vec<String>,
    /// Emitting host.
    pub host: Option<String>,
    /// The application's trace id.
    pub trace_id: Option<String>,
    /// The application's span id.
    pub span_id: Option<String>,
    /// Whether any anomaly rule fired.
    pub anomaly: bool,
    /// 0-100; 0 when no rule fired. See [`crate::rules`].
    pub severity_score: u8,
    /// Ids of the rules that fired.
    pub anomaly_reasons: Vec<String>,
    /// Everything beyond the known fields, flat dotted keys to scalars.
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
    /// When loglens received the record, UTC ms.
    pub ingested_at: i64,
    /// Whose record it is: the tenant of the key that sent it (see
    /// [`crate::tenant`]); never taken from the record's own fields.
    #[serde(default = "crate::tenant::default_name", skip_serializing_if = "is_default_tenant")]
    pub tenant: String,
}

fn is_default_tenant(t: &str) -> bool {
    crate::tenant::is_default(t)
}

impl LogRecord {
    /// Makes the record `tenant`'s: sets the tenant and derives the id from
    /// the content id ([`crate::tenant::scoped_id`]). Call once, on a record
    /// fresh from [`normalize`].
    pub fn assign_tenant(&mut self, tenant: &str) {
        if self.tenant != tenant {
            self.id = crate::tenant::scoped_id(tenant, &self.id);
            tenant.clone_into(&mut self.tenant);
        }
    }
}

/// The pieces of `body` between newlines, as `split` on `b'\n'` gives
/// them (a body without one is one piece; the callers trim and skip empty
/// ones by their own rules). The newlines are found by memchr's SIMD
/// search: splitting an NDJSON body byte at a time cost 0.4 µs of a
/// record's 1.8 µs of parsing (2026-12-04, examples/ingest_stages).
pub fn lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', body).chain([body.len()]).map(move |end| {
        let line = &body[start..end];
        start = end + 1;
        line
    })
}

/// Records fresh from [`normalize`], each holding the id its content gives
/// (`scoped_id(tenant, content_id)`), which nothing can change while they
/// are held here: the fields are private and only [`Normalized::assign_tenant`]
/// touches them, deriving the id again. A store may take that id as
/// vouched for instead of hashing each record's content once more (issue
/// 13: the hybrid store's seal did, 2.5% of an HTTP ingest's CPU).
/// [`Normalized::into_records`] gives the records up, and the promise with
/// them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Normalized {
    records: Vec<LogRecord>,
}

impl Normalized {
    /// `raws` normalised with `rules`, `received_at` as in [`normalize`];
    /// the rejections count from `first`.
    pub fn of(
        raws: Vec<RawLog>,
        first: u32,
        received_at: i64,
        rules: &RuleSet,
    ) -> (Normalized, Vec<Rejection>) {
        let mut batch = Normalized::with_capacity(raws.len());
        let mut rejected = Vec::new();
        for (i, raw) in raws.into_iter().enumerate() {
            if let Err(e) = batch.push(raw, received_at, rules, crate::tenant::DEFAULT_TENANT) {
                rejected.push(Rejection::new(first + i as u32, &e));
            }
        }
        (batch, rejected)
    }

    /// An empty batch with room for `n` records.
    pub fn with_capacity(n: usize) -> Normalized {
        Normalized { records: Vec::with_capacity(n) }
    }

    /// Adds `raw` normalised with `rules` ([`normalize`]) as `tenant`'s
    /// record, or says why it is not one.
    pub fn push(
        &mut self,
        raw: RawLog,
        received_at: i64,
        rules: &RuleSet,
        tenant: &str,
    ) -> Result<()> {
        let mut record = normalize(raw, received_at, rules)?;
        record.assign_tenant(tenant);
        self.records.push(record);
        Ok(())
    }

    /// Makes every record `tenant`'s, its id derived for `tenant`
    /// ([`LogRecord::assign_tenant`]; from the content again for a record
    /// some other tenant's already).
    pub fn assign_tenant(&mut self, tenant: &str) {
        for r in &mut self.records {
            if crate::tenant::is_default(&r.tenant) {
                r.assign_tenant(tenant);
            } else if r.tenant != tenant {
                r.id = crate::tenant::scoped_id(tenant, &content_id(r));
                tenant.clone_into(&mut r.tenant);
            }
        }
    }

    /// The records.
    pub fn records(&self) -> &[LogRecord] {
        &self.records
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records, free to change (the ids no longer vouched for).
    pub fn into_records(self) -> Vec<LogRecord> {
        self.records
    }
}

/// Why one record of a batch was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// Position in the batch (or stream).
    pub index: u32,
    /// The offending field; empty when the record as a whole is bad.
    pub field: String,
    /// What was wrong and what is accepted.
    pub reason: String,
}

impl Rejection {
    /// The rejection of record `index` for `error`.
    pub fn new(index: u32, error: &Error) -> Rejection {
        Rejection {
            index,
            field: error.field().unwrap_or_default().to_owned(),
            reason: error.to_string(),
        }
    }
}

fn required(field: &str, v: Option<String>, max: usize) -> Result<String> {
    match optional(field, v, max)? {
        Some(s) => Ok(s),
        None => Err(Error::invalid(field, format!("{field} is required and must not be empty"))),
    }
}

/// Trims; empty becomes `None`; longer than `max` bytes or containing control
/// characters (other than in `message`) is an error.
fn optional(field: &str, v: Option<String>, max: usize) -> Result<Option<String>> {
    let Some(s) = v else { return Ok(None) };
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if t.len() > max {
        return Err(Error::invalid(
            field,
            format!("{field} must be at most {max} bytes, got {}", t.len()),
        ));
    }
    if field != "message" && t.chars().any(char::is_control) {
        return Err(Error::invalid(field, format!("{field} must not contain control characters")));
    }
    Ok(Some(if t.len() == s.len() { s } else { t.to_owned() }))
}

/// Validates and normalises `raw`, scoring it with `rules`. `received_at` (UTC
/// ms) stands in for a missing timestamp and becomes `ingested_at`.
pub fn normalize(raw: RawLog, received_at: i64, rules: &RuleSet) -> Result<LogRecord> {
    let timestamp = match &raw.timestamp {
        None => received_at,
        Some(TimestampInput::Text(s)) if s.trim().is_empty() => received_at,
        Some(t) => timestamp::normalize(t)?,
    };
    let service_name = required("service_name", raw.service_name, MAX_SERVICE_NAME_BYTES)?;
    let message = required("message", raw.message, MAX_MESSAGE_BYTES)?;
    let level = match raw.level.as_deref().map(str::trim) {
        None | Some("") => Level::Info,
        Some(l) => Level::parse(l, "level")?,
    };
    let status_code = raw.status_code.map(StatusCode::new).transpose()?;
    let response_time_ms = match raw.response_time_ms {
        None => None,
        Some(t) if t.is_finite() && t >= 0.0 => Some(t),
        Some(t) => {
            return Err(Error::invalid(
                "response_time_ms",
                format!("response_time_ms must be a finite number >= 0, got {t}"),
            ));
        }
    };
    let tags = raw.tags.unwrap_or_default();
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid(
            "tags",
            format!("tags must have at most {MAX_TAGS} entries, got {}", tags.len()),
        ));
    }
    let tags = tags
        .into_iter()
        .map(|t| optional("tags", Some(t), MAX_TAG_BYTES))
        .filter_map(Result::transpose)
        .collect::<Result<Vec<_>>>()?;
    let mut record = LogRecord {
        id: String::new(),
        timestamp,
        service_name,
        level,
        message,
        status_code,
        request_id: optional("request_id", raw.request_id, MAX_ID_BYTES)?,
        user_id: optional("user_id", raw.user_id, MAX_ID_BYTES)?,
        response_time_ms,
        error_code: optional("error_code", raw.error_code, MAX_ID_BYTES)?,
        tags,
        host: optional("host", raw.host, MAX_ID_BYTES)?,
        trace_id: optional("trace_id", raw.trace_id, MAX_ID_BYTES)?,
        span_id: optional("span_id", raw.span_id, MAX_ID_BYTES)?,
        anomaly: false,
        severity_score: 0,
        anomaly_reasons: Vec::new(),
        attributes: {
            let a = attributes::merge(raw.attributes, raw.extra);
            attributes::validate(&a)?;
            a
        },
        ingested_at: received_at,
        tenant: crate::tenant::default_name(),
    };
    record.id = content_id(&record);
    rules.apply(&mut record);
    Ok(record)
}

/// The default record id: a 128-bit xxh3 hash of every field a service sent
/// (after normalisation), as 32 hex digits. The same record sent twice, e.g.
/// by a client retrying after a timeout, gets the same id and is stored once.
pub fn content_id(r: &LogRecord) -> String {
    // The fields are laid end to end in one buffer and hashed at once:
    // the same bytes, so the same hash, as feeding them to a streaming
    // hasher one by one, which copied each small piece into its own
    // buffer first (2% of an HTTP ingest's CPU). Numbers are hashed as
    // their decimal text, written by `itoa` without an allocation (this
    // runs for every record, and again to check a stored record's id:
    // `store::tantivy::stored`).
    let mut buf = Vec::with_capacity(r.message.len() + 512);
    let mut num = itoa::Buffer::new();
    let mut put = |s: &str| {
        buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
        buf.extend_from_slice(s.as_bytes());
    };
    put(num.format(r.timestamp));
    put(&r.service_name);
    put(r.level.as_str());
    put(&r.message);
    match r.status_code {
        Some(s) => put(num.format(u16::from(s))),
        None => put(""),
    }
    for o in [&r.request_id, &r.user_id, &r.error_code, &r.host, &r.trace_id, &r.span_id] {
        put(o.as_deref().unwrap_or("\u{0}"));
    }
    match r.response_time_ms {
        Some(t) => put(num.format(t.to_bits())),
        None => put(""),
    }
    put(num.format(r.tags.len()));
    for t in &r.tags {
        put(t);
    }
    // Records without attributes keep the ids they had before attributes.
    if !r.attributes.is_empty() {
        put(num.format(r.attributes.len()));
        for (k, v) in &r.attributes {
            put(k);
            match v {
                AttrValue::Str(s) => put(s),
                AttrValue::Int(i) => put(num.format(*i)),
                AttrValue::Bool(b) => put(if *b { "true" } else { "false" }),
                AttrValue::Float(_) => put(&v.to_string()),
            }
        }
    }
    hex32(xxh3_128(&buf))
}

/// `v` as 32 lowercase hex digits (as `format!("{v:032x}")` writes it, at a
/// fraction of the cost: ids are made and checked per record).
pub fn hex32(v: u128) -> String {
    let mut out = [0u8; 32];
    hex::encode_to_slice(v.to_be_bytes(), &mut out).expect("16 bytes are 32 digits");
    String::from_utf8(out.to_vec()).expect("hex digits are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn raw() -> RawLog {
        RawLog {
            service_name: Some("auth-service".into()),
            message: Some("user logged in".into()),
            ..RawLog::default()
        }
    }

    fn norm(r: RawLog) -> Result<LogRecord> {
        normalize(r, NOW, &RuleSet::default())
    }

    #[test]
    fn minimal_record_gets_defaults() {
        let r = norm(raw()).unwrap();
        assert_eq!(r.timestamp, NOW, "missing timestamp takes the receive time");
        assert_eq!(r.level, Level::Info);
        assert_eq!(r.ingested_at, NOW);
        assert!(!r.anomaly);
        assert_eq!(r.severity_score, 0);
        assert_eq!(r.id.len(), 32);
    }

    #[test]
    fn parses_a_full_json_record() {
        let json = br#"{"timestamp":"2024-05-01T12:00:00Z","service_name":"payment-service","level":"warning",
            "message":"card declined","status_code":402,"request_id":"req-1","user_id":"u-9",
            "response_time_ms":120.5,"error_code":"CARD_DECLINED","tags":["eu"," ", "beta"],"host":"pay-1",
            "trace_id":"abc","span_id":"def","extra":{"ignored":true}}"#;
        let r = norm(RawLog::from_json(json).unwrap()).unwrap();
        assert_eq!(r.timestamp, 1_714_564_800_000);
        assert_eq!(r.level, Level::Warn);
        assert_eq!(r.status_code.map(u16::from), Some(402));
        assert_eq!(r.tags, vec!["eu", "beta"], "blank tags are dropped");
        assert_eq!(r.error_code.as_deref(), Some("CARD_DECLINED"));
        assert_eq!(r.anomaly_reasons, vec!["http_status", "error_code"]);
        assert_eq!(r.attributes.len(), 1, "unknown fields are kept: {:?}", r.attributes);
        assert_eq!(r.attributes["extra.ignored"], AttrValue::Bool(true));
    }

    #[test]
    fn unknown_fields_and_explicit_attributes_become_attributes() {
        let json = br#"{"service_name":"s","message":"m","attributes":{"k8s":{"pod":"p-1"},"n":2},
            "log.file.path":"/var/log/x","n":3,"labels":["a","b"]}"#;
        let r = norm(RawLog::from_json(json).unwrap()).unwrap();
        let a = &r.attributes;
        assert_eq!(a["k8s.pod"], AttrValue::Str("p-1".into()));
        assert_eq!(a["log.file.path"], AttrValue::Str("/var/log/x".into()));
        assert_eq!(a["n"], AttrValue::Int(3), "a top-level field wins over attributes.n");
        assert_eq!(a["labels"], AttrValue::Str(r#"["a","b"]"#.into()));
        let plain = norm(RawLog::from_json(br#"{"service_name":"s","message":"m"}"#).unwrap());
        assert_ne!(plain.unwrap().id, r.id, "attributes are part of the content id");
        let big =
            format!(r#"{{"service_name":"s","message":"m","blob":"{}"}}"#, "x".repeat(40_000));
        let e = norm(RawLog::from_json(big.as_bytes()).unwrap()).unwrap_err();
        assert_eq!(e.field(), Some("attributes.blob"));
        let e = RawLog::from_json(br#"{"service_name":"s","message":"m","attributes":[1]}"#)
            .unwrap_err();
        assert_eq!(e.field(), Some("attributes"));
    }

    #[test]
    fn required_fields_are_named() {
        let e = norm(RawLog { service_name: None, ..raw() }).unwrap_err();
        assert_eq!(e.field(), Some("service_name"));
        let e = norm(RawLog { message: Some("   ".into()), ..raw() }).unwrap_err();
        assert_eq!(e.field(), Some("message"));
        assert!(e.to_string().contains("required"), "{e}");
    }

    #[test]
    fn ranges_and_sizes_are_enforced_with_the_accepted_range() {
        for (code, ok) in [(99, false), (100, true), (599, true), (600, false), (-1, false)] {
            let r = norm(RawLog { status_code: Some(code), ..raw() });
            assert_eq!(r.is_ok(), ok, "{code}");
            if let Err(e) = r {
                assert_eq!(
                    e.to_string(),
                    format!("status_code must be between 100 and 599, got {code}")
                );
            }
        }
        assert!(norm(RawLog { response_time_ms: Some(0.0), ..raw() }).is_ok());
        let e = norm(RawLog { response_time_ms: Some(-0.5), ..raw() }).unwrap_err();
        assert_eq!(e.field(), Some("response_time_ms"));
        assert!(norm(RawLog { response_time_ms: Some(f64::INFINITY), ..raw() }).is_err());
        let big = "x".repeat(MAX_MESSAGE_BYTES + 1);
        let e = norm(RawLog { message: Some(big), ..raw() }).unwrap_err();
        assert!(e.to_string().contains("at most 65536 bytes"), "{e}");
        assert!(norm(RawLog { message: Some("x".repeat(MAX_MESSAGE_BYTES)), ..raw() }).is_ok());
        let e = norm(RawLog { service_name: Some("s".repeat(129)), ..raw() }).unwrap_err();
        assert_eq!(e.field(), Some("service_name"));
        let e = norm(RawLog { tags: Some(vec!["t".into(); 65]), ..raw() }).unwrap_err();
        assert_eq!(e.field(), Some("tags"));
        let e = norm(RawLog { host: Some("a\nb".into()), ..raw() }).unwrap_err();
        assert_eq!(e.field(), Some("host"));
    }

    #[test]
    fn bad_level_and_timestamp_are_rejected() {
        let e = norm(RawLog { level: Some("fatal".into()), ..raw() }).unwrap_err();
        assert_eq!(e.field(), Some("level"));
        let e = norm(RawLog { timestamp: Some(TimestampInput::Text("soon".into())), ..raw() })
            .unwrap_err();
        assert_eq!(e.field(), Some("timestamp"));
    }

    #[test]
    fn json_type_errors_name_the_field() {
        let e = RawLog::from_json(br#"{"service_name":"a","message":"m","status_code":"200"}"#)
            .unwrap_err();
        assert_eq!(e.field(), Some("status_code"));
        assert_eq!(e.to_string(), "status_code must be an integer, got string \"200\"");
        let e = RawLog::from_json(br#"{"service_name":"a","message":"m","tags":"x"}"#).unwrap_err();
        assert_eq!(e.field(), Some("tags"));
        let e = RawLog::from_json(b"not json").unwrap_err();
        assert!(e.to_string().starts_with("record is not valid JSON"), "{e}");
        let e = RawLog::from_json(b"[1,2]").unwrap_err();
        assert_eq!(e.to_string(), "record must be a JSON object");
    }

    /// Ids are kept in stores and derived again on read: the same record
    /// must get the same id from every build.
    #[test]
    fn hex32_writes_what_format_writes() {
        for v in [0, 1, 0xbeef, u128::from(u64::MAX), u128::MAX, 0x00f0 << 112, 0x1234_5678 << 64] {
            assert_eq!(hex32(v), format!("{v:032x}"));
        }
    }

    #[test]
    fn content_ids_never_change() {
        let mut attributes = Attributes::new();
        attributes.insert("k8s.pod".into(), AttrValue::Str("api-0".into()));
        attributes.insert("retries".into(), AttrValue::Int(-3));
        attributes.insert("ratio".into(), AttrValue::Float(0.25));
        attributes.insert("canary".into(), AttrValue::Bool(true));
        let full = RawLog {
            level: Some("ERROR".into()),
            status_code: Some(503),
            request_id: Some("8fadc1a6-06cb-4fb3-9a1d-e644815ef6d1".into()),
            user_id: Some("u-1".into()),
            response_time_ms: Some(74.5),
            error_code: Some("E1".into()),
            tags: Some(vec!["a".into(), "b".into()]),
            host: Some("node-0".into()),
            trace_id: Some("6b65a6a48b8148f6b38a088ca65ed389".into()),
            span_id: Some("72ff5d2a386ecbe0".into()),
            attributes: Some(
                serde_json::to_value(&attributes).unwrap().as_object().unwrap().clone(),
            ),
            ..raw()
        };
        assert_eq!(norm(raw()).unwrap().id, "59230e7904e6bb4c493a723fbbcd9549");
        assert_eq!(norm(full).unwrap().id, "a3004427110cbe39dccebcdb5d66bad7");
    }

    #[test]
    fn content_id_is_deterministic_and_sensitive() {
        let a = norm(raw()).unwrap();
        let b = norm(raw()).unwrap();
        assert_eq!(a.id, b.id);
        let c = norm(RawLog { request_id: Some("r".into()), ..raw() }).unwrap();
        assert_ne!(a.id, c.id);
        let d = normalize(raw(), NOW + 1, &RuleSet::default()).unwrap();
        assert_ne!(a.id, d.id, "a different receive time is a different timestamp");
    }

    #[test]
    fn normalized_records_hold_the_ids_their_content_gives_in_every_tenant() {
        let raws = vec![
            raw(),
            RawLog { service_name: None, ..raw() },
            RawLog { message: Some("other".into()), ..raw() },
        ];
        let (mut batch, rejected) = Normalized::of(raws, 10, 1_000, &RuleSet::default());
        assert_eq!(batch.len(), 2);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].index, 11);
        let derived = |b: &Normalized| {
            b.records().iter().all(|r| r.id == crate::tenant::scoped_id(&r.tenant, &content_id(r)))
        };
        assert!(derived(&batch));
        batch.assign_tenant("acme");
        assert!(batch.records().iter().all(|r| r.tenant == "acme"));
        assert!(derived(&batch));
        // Moved again: derived from the content, not from acme's id.
        batch.assign_tenant("globex");
        assert!(batch.records().iter().all(|r| r.tenant == "globex"));
        assert!(derived(&batch));
    }

    #[test]
    fn lines_are_what_split_at_newlines_gives() {
        for body in [&b""[..], b"a", b"a\n", b"\na\n\nbc\r\n d", b"\n\n"] {
            let want: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
            assert_eq!(lines(body).collect::<Vec<_>>(), want, "{body:?}");
        }
    }
}
