//! The record as the doc store keeps it: a positional binary form
//! ([postcard]: varints, no field names) with hex and UUID ids as their raw
//! bytes, so a block of records compresses to what differs between them
//! rather than to the names of their fields (issue 13: JSON with its field
//! names was 124 of 190 MB of an index of 1M records).
//!
//! Every value round-trips exactly: an id is kept as bytes only when
//! printing the bytes gives back the very same text (lowercase hex of even
//! length, or a lowercase hyphenated UUID); anything else is kept as text.
//!
//! In the doc store ([`encode_for_index`]):
//! - the record id is not kept when the record's content gives it (every
//!   record that came through `normalize` does): it is computed again on
//!   read, which saves its 16 random bytes;
//! - the fields the index also keeps in fast columns (times, service, level,
//!   status, response time, severity, anomaly) are left out and read back
//!   from the columns ([`decode_with`]): about 14 of 88 bytes a record;
//! - request and trace ids of the split forms keep only their high halves
//!   ([`split_id`]).
//!
//! The write-ahead log keeps records whole, every id as its text
//! ([`encode_for_log`]; [`decode`] reads both).
//! The first byte says which form follows, so a later format can be told
//! apart, not misread.

use std::borrow::Cow;

use loglens_core::attributes::{AttrValue, Attributes};
use loglens_core::record::{MAX_SERVICE_NAME_BYTES, content_id};
use loglens_core::tenant::scoped_id;
use loglens_core::timestamp::{MAX_MS, MIN_MS};
use loglens_core::{Level, LogRecord, StatusCode};
use serde::{Deserialize, Serialize};

/// First byte of a record stored whole.
const WHOLE: u8 = 1;
/// First byte of a record stored without the fields the index keeps in
/// fast columns ([`Columns`]).
const WITHOUT_COLUMNS: u8 = 2;
/// Longest hex id kept as bytes (longer ones stay text).
const MAX_HEX_BYTES: usize = 64;

/// An id-like text: raw bytes where that round-trips, else the text.
#[derive(Serialize, Deserialize)]
enum Id<'a> {
    /// The record id that the record's content gives (`content_id`, scoped
    /// to its tenant): computed again on read, so nothing is kept.
    Derived,
    /// Any other text.
    Text(#[serde(borrow)] Cow<'a, str>),
    /// Lowercase hex of even length, as its bytes.
    Hex(#[serde(borrow)] Cow<'a, [u8]>),
    /// A lowercase hyphenated UUID, as its 16 bytes.
    Uuid([u8; 16]),
    /// The high 8 bytes of a [`Id::Uuid`] whose low 8 are in a fast column
    /// ([`split_id`]).
    UuidHigh([u8; 8]),
    /// The high 8 bytes of a 32-digit [`Id::Hex`] whose low 8 are in a fast
    /// column ([`split_id`]).
    HexHigh([u8; 8]),
}

/// A number kept as a varint when it is a whole one.
#[derive(Serialize, Deserialize)]
enum Num {
    Int(i64),
    Float(f64),
}

#[derive(Serialize, Deserialize)]
enum Attr<'a> {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(#[serde(borrow)] Cow<'a, str>),
}

/// A record's attributes: the record's own when written (no copy), a list
/// when read. Either is a sequence of (key, [`Attr`]) pairs.
enum Attrs<'a> {
    Of(&'a Attributes),
    Read(Vec<(Cow<'a, str>, Attr<'a>)>),
}

impl Serialize for Attrs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Attrs::Of(a) => s.collect_seq(a.iter().map(|(k, v)| {
                let v = match v {
                    AttrValue::Bool(b) => Attr::Bool(*b),
                    AttrValue::Int(i) => Attr::Int(*i),
                    AttrValue::Float(f) => Attr::Float(*f),
                    AttrValue::Str(s) => Attr::Str(Cow::Borrowed(s)),
                };
                (k.as_str(), v)
            })),
            Attrs::Read(pairs) => pairs.serialize(s),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Attrs<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Attrs<'a>, D::Error> {
        Vec::deserialize(d).map(Attrs::Read)
    }
}

/// The fields the index also keeps in fast columns (`super::schema`).
#[derive(Serialize, Deserialize)]
struct Cols<'a> {
    timestamp: i64,
    #[serde(borrow)]
    service_name: Cow<'a, str>,
    level: u8,
    status_code: Option<u16>,
    response_time_ms: Option<Num>,
    anomaly: bool,
    severity_score: u8,
    /// Milliseconds after `timestamp` (small, so a short varint).
    ingested_after: i64,
}

/// The rest of [`LogRecord`], borrowing its text.
#[derive(Serialize, Deserialize)]
struct Rest<'a> {
    #[serde(borrow)]
    id: Id<'a>,
    #[serde(borrow)]
    message: Cow<'a, str>,
    #[serde(borrow)]
    request_id: Option<Id<'a>>,
    #[serde(borrow)]
    user_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    error_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tags: Cow<'a, [String]>,
    #[serde(borrow)]
    host: Option<Cow<'a, str>>,
    #[serde(borrow)]
    trace_id: Option<Id<'a>>,
    #[serde(borrow)]
    span_id: Option<Id<'a>>,
    #[serde(borrow)]
    anomaly_reasons: Cow<'a, [String]>,
    #[serde(borrow)]
    attributes: Attrs<'a>,
    #[serde(borrow)]
    tenant: Cow<'a, str>,
}

/// The fields of a record that the index keeps in fast columns, read back
/// from there for a record stored without them ([`encode_for_index`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Columns {
    /// `timestamp`, UTC ms.
    pub timestamp: i64,
    /// `ingested_at`, UTC ms.
    pub ingested_at: i64,
    /// `service_name`.
    pub service_name: String,
    /// `level`.
    pub level: Level,
    /// `status_code`.
    pub status_code: Option<StatusCode>,
    /// `response_time_ms`.
    pub response_time_ms: Option<f64>,
    /// `severity_score`.
    pub severity_score: u8,
    /// `anomaly`.
    pub anomaly: bool,
    /// The request id column: a split id's key ([`split_id`]).
    pub request_id_key: Option<u64>,
    /// The trace id column: a split id's key ([`split_id`]).
    pub trace_id_key: Option<u64>,
}

const LEVELS: [Level; 4] = [Level::Debug, Level::Info, Level::Warn, Level::Error];

fn id(text: &str) -> Id<'_> {
    let b = text.as_bytes();
    if let Some(v) = uuid_value(b) {
        return Id::Uuid(v.to_be_bytes());
    }
    if !b.is_empty() && b.len().is_multiple_of(2) && b.len() <= 2 * MAX_HEX_BYTES {
        // Sized once: collecting into an `Option<Vec>` grew it byte by byte.
        let mut bytes = Vec::with_capacity(b.len() / 2);
        let whole = b.chunks_exact(2).all(|p| match (nibble(p[0]), nibble(p[1])) {
            (Some(high), Some(low)) => {
                bytes.push(high << 4 | low);
                true
            }
            _ => false,
        });
        if whole {
            return Id::Hex(Cow::Owned(bytes));
        }
    }
    Id::Text(Cow::Borrowed(text))
}

/// A 32-digit lowercase hex id or a lowercase hyphenated UUID as its high
/// 64 bits and a column key: the low 64 bits mixed with a hash of the
/// high ones. The index keeps the key in the request and trace id columns
/// (`schema::id_hash`) and the doc store only the high half; the low half
/// is the key mixed again ([`low_half`]). The mixing makes the key depend
/// on all 128 bits: UUIDs of version 1 from one host share their low 64
/// bits (clock sequence and node), and without it a filter on one would
/// match them all.
pub fn split_id(text: &str) -> Option<(u64, u64)> {
    let b = text.as_bytes();
    let v = if b.len() == 32 { hex_value(b, 0)? } else { uuid_value(b)? };
    let high = (v >> 64) as u64;
    Some((high, low_half(high, v as u64)))
}

/// The low half of a split id from its high half and column key (and the
/// key from the halves: the mixing is its own inverse).
pub fn low_half(high: u64, key: u64) -> u64 {
    key ^ xxhash_rust::xxh3::xxh3_64(&high.to_be_bytes())
}

/// The value of a lowercase hyphenated UUID.
pub(crate) fn uuid_value(b: &[u8]) -> Option<u128> {
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let v = hex_value(&b[..8], 0)?;
    let v = hex_value(&b[9..13], v)?;
    let v = hex_value(&b[14..18], v)?;
    let v = hex_value(&b[19..23], v)?;
    hex_value(&b[24..], v)
}

/// `v` followed by the lowercase hex digits `b` (at most 32 in all).
pub(crate) fn hex_value(b: &[u8], v: u128) -> Option<u128> {
    b.iter().try_fold(v, |v, &c| Some(v << 4 | u128::from(nibble(c)?)))
}

/// The value of a lowercase hex digit.
fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `bytes` to `out` as lowercase hex.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
}

/// Appends `bytes` to `out` as a lowercase hyphenated UUID (the inverse of
/// [`uuid_value`]).
pub(crate) fn push_uuid(out: &mut String, bytes: &[u8; 16]) {
    for (i, part) in [&bytes[0..4], &bytes[4..6], &bytes[6..8], &bytes[8..10], &bytes[10..16]]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            out.push('-');
        }
        push_hex(out, part);
    }
}

impl Id<'_> {
    fn into_string(self) -> String {
        match self {
            // Only the record id is ever stored as derived (see `decode`),
            // and only ids with a column as high halves (see `other_id`).
            Id::Derived | Id::UuidHigh(_) | Id::HexHigh(_) => String::new(),
            Id::Text(t) => t.into_owned(),
            Id::Hex(b) => {
                let mut s = String::with_capacity(b.len() * 2);
                push_hex(&mut s, &b);
                s
            }
            Id::Uuid(b) => {
                let mut s = String::with_capacity(36);
                push_uuid(&mut s, &b);
                s
            }
        }
    }
}

fn num(v: f64) -> Num {
    // Whole numbers within 2^53 print and parse back to the same f64.
    if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 && !(v == 0.0 && v.is_sign_negative())
    {
        Num::Int(v as i64)
    } else {
        Num::Float(v)
    }
}

/// `r` whole, in the stored form (what the write-ahead log keeps).
pub fn encode(r: &LogRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(r.message.len() + 128);
    encode_into(r, &mut out);
    out
}

/// Appends `r` whole, in the stored form, to `out`.
pub fn encode_into(r: &LogRecord, out: &mut Vec<u8>) {
    out.push(WHOLE);
    let (request, trace) = (whole(r.request_id.as_deref()), whole(r.trace_id.as_deref()));
    extend(out, &(cols(r), rest(r, false, request, trace)));
}

/// Appends `r` whole to `out` as the write-ahead log keeps it: the stored
/// form ([`decode`] reads it) with every id as its text. The log's bytes
/// live until the next commit, so they are not worth parsing hex and UUID
/// ids into bytes (issue 13: that parse, and the buffer of each hex id,
/// were about half of the log's encoding CPU).
pub fn encode_for_log(r: &LogRecord, out: &mut Vec<u8>) {
    out.push(WHOLE);
    fn text(s: &Option<String>) -> Option<Cow<'_, str>> {
        s.as_deref().map(Cow::Borrowed)
    }
    fn id(s: &Option<String>) -> Option<Id<'_>> {
        s.as_deref().map(|t| Id::Text(Cow::Borrowed(t)))
    }
    let rest = Rest {
        id: Id::Text(Cow::Borrowed(&r.id)),
        message: Cow::Borrowed(&r.message),
        request_id: id(&r.request_id),
        user_id: text(&r.user_id),
        error_code: text(&r.error_code),
        tags: Cow::Borrowed(&r.tags),
        host: text(&r.host),
        trace_id: id(&r.trace_id),
        span_id: id(&r.span_id),
        anomaly_reasons: Cow::Borrowed(&r.anomaly_reasons),
        attributes: Attrs::Of(&r.attributes),
        tenant: Cow::Borrowed(&r.tenant),
    };
    extend(out, &(cols(r), rest));
}

/// `r` for the doc store: without the fields the index keeps in fast
/// columns when those give them back exactly, else whole. With it, the
/// values of the request and trace id columns (`schema::id_hash`), which
/// share the work of splitting the ids.
pub fn encode_for_index<'a>(r: &'a LogRecord) -> (Vec<u8>, [Option<u64>; 2]) {
    let mut out = Vec::with_capacity(r.message.len() + 96);
    let split = |id: Option<&'a str>| id.map(|t| (t, split_id(t)));
    let (request, trace) = (split(r.request_id.as_deref()), split(r.trace_id.as_deref()));
    let key = |id: ColumnId<'_>| id.map(|(text, split)| column_key(text, split));
    let keys = [key(request), key(trace)];
    if columns_hold(r) {
        out.push(WITHOUT_COLUMNS);
        let derived = r.id.len() == 32 && r.id == scoped_id(&r.tenant, &content_id(r));
        extend(&mut out, &rest(r, derived, request, trace));
    } else {
        encode_into(r, &mut out);
    }
    (out, keys)
}

/// The request or trace id column's value of id `text` that splits as
/// `split` ([`split_id`]): the split's key, else the xxh3-64 hash of the
/// text (`schema::id_hash`).
pub fn column_key(text: &str, split: Option<(u64, u64)>) -> u64 {
    split.map_or_else(|| xxhash_rust::xxh3::xxh3_64(text.as_bytes()), |(_, key)| key)
}

/// A request or trace id as [`rest`] takes it: its text and, for the doc
/// store, its halves when it splits ([`split_id`]).
type ColumnId<'a> = Option<(&'a str, Option<(u64, u64)>)>;

/// An id kept whole.
fn whole(id: Option<&str>) -> ColumnId<'_> {
    id.map(|t| (t, None))
}

/// Whether the fast columns give back `r`'s column fields exactly: dates
/// within the range every ingest path accepts (Tantivy keeps dates as
/// nanoseconds in an i64) and a service name that is one short token.
fn columns_hold(r: &LogRecord) -> bool {
    let dates = MIN_MS..MAX_MS;
    dates.contains(&r.timestamp)
        && dates.contains(&r.ingested_at)
        && (1..=MAX_SERVICE_NAME_BYTES).contains(&r.service_name.len())
}

fn extend<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    // Serializing into a Vec cannot fail: every type here is supported.
    let taken = postcard::to_extend(value, std::mem::take(out));
    *out = taken.expect("a record always encodes");
}

fn cols(r: &LogRecord) -> Cols<'_> {
    Cols {
        timestamp: r.timestamp,
        service_name: Cow::Borrowed(&r.service_name),
        level: LEVELS.iter().position(|l| *l == r.level).unwrap_or(1) as u8,
        status_code: r.status_code.map(u16::from),
        response_time_ms: r.response_time_ms.map(num),
        anomaly: r.anomaly,
        severity_score: r.severity_score,
        ingested_after: r.ingested_at.wrapping_sub(r.timestamp),
    }
}

/// The rest of `r`, with the request and trace ids as given: split ones
/// (for the doc store) as their high halves, the columns holding the low
/// ones. `derived`: the content gives the record id, which is left out. The
/// log keeps ids as they are: checking that costs a content hash per
/// record, which the log's short-lived bytes are not worth.
fn rest<'a>(
    r: &'a LogRecord,
    derived: bool,
    request: ColumnId<'a>,
    trace: ColumnId<'a>,
) -> Rest<'a> {
    fn borrowed(s: &Option<String>) -> Option<Cow<'_, str>> {
        s.as_deref().map(Cow::Borrowed)
    }
    fn column_id(id: ColumnId<'_>) -> Option<Id<'_>> {
        let (text, split) = id?;
        Some(match split {
            Some((high, _)) if text.len() == 36 => Id::UuidHigh(high.to_be_bytes()),
            Some((high, _)) => Id::HexHigh(high.to_be_bytes()),
            None => self::id(text),
        })
    }
    Rest {
        id: if derived { Id::Derived } else { id(&r.id) },
        message: Cow::Borrowed(&r.message),
        request_id: column_id(request),
        user_id: borrowed(&r.user_id),
        error_code: borrowed(&r.error_code),
        tags: Cow::Borrowed(&r.tags),
        host: borrowed(&r.host),
        trace_id: column_id(trace),
        span_id: r.span_id.as_deref().map(id),
        anomaly_reasons: Cow::Borrowed(&r.anomaly_reasons),
        attributes: Attrs::Of(&r.attributes),
        tenant: Cow::Borrowed(&r.tenant),
    }
}

/// An id other than the record's: never derived; a high half is joined
/// with the low half its column key (`low`) gives.
fn other_id(id: Option<Id<'_>>, field: &str, low: Option<u64>) -> Result<Option<String>, String> {
    let join = |high: [u8; 8]| {
        let key = low.ok_or_else(|| format!("{field}'s column holds no key"))?;
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&high);
        bytes[8..].copy_from_slice(&low_half(u64::from_be_bytes(high), key).to_be_bytes());
        Ok::<_, String>(bytes)
    };
    match id {
        Some(Id::Derived) => Err(format!("{field} is marked derived")),
        Some(Id::UuidHigh(high)) => Ok(Some(Id::Uuid(join(high)?).into_string())),
        Some(Id::HexHigh(high)) => {
            Ok(Some(Id::Hex(Cow::Owned(join(high)?.to_vec())).into_string()))
        }
        id => Ok(id.map(Id::into_string)),
    }
}

/// The record `bytes` hold, or why they do not hold one. A record stored
/// without its column fields is an error here: use [`decode_with`].
pub fn decode(bytes: &[u8]) -> Result<LogRecord, String> {
    decode_with(bytes, || Err("the record's fast columns are not at hand".into()))
}

/// The record `bytes` hold, taking the column fields from `columns` when
/// they were left out ([`encode_for_index`]); `columns` is called only then.
pub fn decode_with(
    bytes: &[u8],
    columns: impl FnOnce() -> Result<Columns, String>,
) -> Result<LogRecord, String> {
    let (&version, body) = bytes.split_first().ok_or("empty")?;
    let (columns, rest) = match version {
        WHOLE => {
            let (c, rest): (Cols<'_>, Rest<'_>) =
                postcard::from_bytes(body).map_err(|e| e.to_string())?;
            let level =
                *LEVELS.get(usize::from(c.level)).ok_or_else(|| format!("level {}", c.level))?;
            let status_code = match c.status_code {
                None => None,
                Some(c) => Some(
                    StatusCode::try_from(i64::from(c)).map_err(|e| format!("status_code: {e}"))?,
                ),
            };
            let columns = Columns {
                timestamp: c.timestamp,
                ingested_at: c.timestamp.wrapping_add(c.ingested_after),
                service_name: c.service_name.into_owned(),
                level,
                status_code,
                response_time_ms: c.response_time_ms.map(|n| match n {
                    Num::Int(i) => i as f64,
                    Num::Float(f) => f,
                }),
                severity_score: c.severity_score,
                anomaly: c.anomaly,
                request_id_key: None,
                trace_id_key: None,
            };
            (columns, rest)
        }
        WITHOUT_COLUMNS => {
            let rest: Rest<'_> = postcard::from_bytes(body).map_err(|e| e.to_string())?;
            (columns()?, rest)
        }
        v => {
            return Err(format!(
                "format version {v}, this build reads {WHOLE} and {WITHOUT_COLUMNS}"
            ));
        }
    };
    let text = |c: Option<Cow<'_, str>>| c.map(Cow::into_owned);
    let attributes = match rest.attributes {
        Attrs::Of(a) => a.clone(),
        Attrs::Read(pairs) => pairs
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Attr::Bool(b) => AttrValue::Bool(b),
                    Attr::Int(i) => AttrValue::Int(i),
                    Attr::Float(f) => AttrValue::Float(f),
                    Attr::Str(s) => AttrValue::Str(s.into_owned()),
                };
                (k.into_owned(), v)
            })
            .collect(),
    };
    let derived = matches!(rest.id, Id::Derived);
    let mut r = LogRecord {
        id: rest.id.into_string(),
        timestamp: columns.timestamp,
        service_name: columns.service_name,
        level: columns.level,
        message: rest.message.into_owned(),
        status_code: columns.status_code,
        request_id: other_id(rest.request_id, "request_id", columns.request_id_key)?,
        user_id: text(rest.user_id),
        response_time_ms: columns.response_time_ms,
        error_code: text(rest.error_code),
        tags: rest.tags.into_owned(),
        host: text(rest.host),
        trace_id: other_id(rest.trace_id, "trace_id", columns.trace_id_key)?,
        span_id: other_id(rest.span_id, "span_id", None)?,
        anomaly: columns.anomaly,
        severity_score: columns.severity_score,
        anomaly_reasons: rest.anomaly_reasons.into_owned(),
        attributes,
        ingested_at: columns.ingested_at,
        tenant: rest.tenant.into_owned(),
    };
    if derived {
        r.id = scoped_id(&r.tenant, &content_id(&r));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use loglens_core::record::{RawLog, normalize};
    use loglens_core::{AttrValue, RuleSet};

    use crate::tantivy::schema::id_hash;

    use super::*;

    fn normalized(json: &str) -> LogRecord {
        let raw = RawLog::from_json(json.as_bytes()).unwrap();
        normalize(raw, 1_700_000_000_000, &RuleSet::default()).unwrap()
    }

    fn round_trip(r: &LogRecord) -> Vec<u8> {
        let bytes = encode(r);
        let back = decode(&bytes).unwrap();
        assert_eq!(&back, r, "{r:?}");
        // Bit for bit, signed zeros and all.
        assert_eq!(back.response_time_ms.map(f64::to_bits), r.response_time_ms.map(f64::to_bits));
        // The write-ahead log's form too.
        let mut log = vec![7];
        encode_for_log(r, &mut log);
        let back = decode(&log[1..]).unwrap();
        assert_eq!(&back, r, "{r:?}");
        assert_eq!(back.response_time_ms.map(f64::to_bits), r.response_time_ms.map(f64::to_bits));
        bytes
    }

    #[test]
    fn the_log_keeps_ids_as_their_text_and_the_store_as_bytes() {
        let r = normalized(
            r#"{"timestamp":1,"service_name":"s","level":"INFO","message":"m",
            "request_id":"8fadc1a6-06cb-4fb3-9a1d-e644815ef6d1",
            "trace_id":"6b65a6a48b8148f6b38a088ca65ed389","span_id":"72ff5d2a386ecbe0"}"#,
        );
        let mut log = Vec::new();
        encode_for_log(&r, &mut log);
        let has =
            |bytes: &[u8], text: &str| bytes.windows(text.len()).any(|w| w == text.as_bytes());
        let ids = [&r.id, r.request_id.as_ref().unwrap(), r.trace_id.as_ref().unwrap()];
        for id in ids.into_iter().chain(&r.span_id) {
            assert!(has(&log, id), "{id} as text in the log");
            assert!(!has(&encode(&r), id), "{id} as bytes in the stored form");
        }
    }

    #[test]
    fn every_field_round_trips() {
        let mut r = normalized(
            r#"{"timestamp":"2026-11-30T21:29:02.040Z","service_name":"api-gateway",
            "level":"WARN","message":"GET /x took 74 ms","status_code":503,
            "request_id":"8fadc1a6-06cb-4fb3-9a1d-e644815ef6d1",
            "trace_id":"6b65a6a48b8148f6b38a088ca65ed389","span_id":"72ff5d2a386ecbe0",
            "user_id":"u-1","response_time_ms":74,"error_code":"E1","host":"node-0",
            "tags":["a","b"],"k8s.pod":"p-1","retries":3,"ratio":0.25,"cached":true}"#,
        );
        r.anomaly = true;
        r.severity_score = 87;
        r.anomaly_reasons = vec!["slow".into(), "burst".into()];
        round_trip(&r);
        // Derived ids, in the default tenant and another.
        r.assign_tenant("acme");
        round_trip(&r);
        // Ids kept as text: a sender's own, upper case, odd length, not hex,
        // a UUID in capitals or without hyphens in the right places.
        for odd in [
            "a1",
            "6B65A6A48B8148F6",
            "abc",
            "",
            "zz",
            "8FADC1A6-06CB-4FB3-9A1D-E644815EF6D1",
            "8fadc1a606cb-4fb3-9a1d-e644815ef6d1-",
        ] {
            let mut o = r.clone();
            o.id = odd.into();
            o.request_id = Some(odd.into());
            o.trace_id = Some(odd.into());
            o.span_id = None;
            round_trip(&o);
        }
        // Numbers: fractions, signed zero, huge, and times before the epoch
        // or received before they happened.
        for t in [0.5, -0.0, 0.0, 1e300, -3.0, 9_007_199_254_740_993.0, f64::MIN_POSITIVE] {
            let mut o = r.clone();
            o.response_time_ms = Some(t);
            round_trip(&o);
        }
        let mut o = r.clone();
        (o.timestamp, o.ingested_at) = (i64::MAX, i64::MIN);
        round_trip(&o);
        o.attributes.insert("big".into(), AttrValue::Int(i64::MIN));
        o.attributes.insert("f".into(), AttrValue::Float(-1.5e-300));
        o.attributes.insert("s".into(), AttrValue::Str(String::new()));
        round_trip(&o);
    }

    fn columns_of(r: &LogRecord) -> Columns {
        Columns {
            timestamp: r.timestamp,
            ingested_at: r.ingested_at,
            service_name: r.service_name.clone(),
            level: r.level,
            status_code: r.status_code,
            response_time_ms: r.response_time_ms,
            severity_score: r.severity_score,
            anomaly: r.anomaly,
            request_id_key: r.request_id.as_deref().map(id_hash),
            trace_id_key: r.trace_id.as_deref().map(id_hash),
        }
    }

    #[test]
    fn the_doc_store_form_takes_its_column_fields_from_the_columns() {
        let mut r = normalized(
            r#"{"service_name":"api","level":"ERROR","message":"m","status_code":503,
            "response_time_ms":0.5,"host":"h","k":1}"#,
        );
        (r.anomaly, r.severity_score) = (true, 90);
        let slim = encode_for_index(&r).0;
        assert_eq!(slim[0], WITHOUT_COLUMNS);
        assert!(slim.len() < encode(&r).len());
        let mut asked = 0;
        let back = decode_with(&slim, || {
            asked += 1;
            Ok(columns_of(&r))
        })
        .unwrap();
        assert_eq!((back, asked), (r.clone(), 1));
        // What the columns say is what the record reads.
        let mut other = columns_of(&r);
        other.service_name = "billing".into();
        assert_eq!(decode_with(&slim, || Ok(other)).unwrap().service_name, "billing");
        // Whole records never ask.
        assert_eq!(decode_with(&encode(&r), || Err("asked".into())).unwrap(), r);
        // Values the columns could not give back keep the record whole.
        for odd in [
            |r: &mut LogRecord| r.timestamp = -1,
            |r: &mut LogRecord| r.ingested_at = i64::MAX,
            |r: &mut LogRecord| r.service_name.clear(),
        ] {
            let mut o = r.clone();
            odd(&mut o);
            let bytes = encode_for_index(&o).0;
            assert_eq!(bytes[0], WHOLE);
            assert_eq!(decode_with(&bytes, || Err("asked".into())).unwrap(), o);
        }
    }

    #[test]
    fn split_ids_keep_their_high_half_beside_the_column_key() {
        let r = normalized(
            r#"{"service_name":"a","message":"m",
            "request_id":"8fadc1a6-06cb-4fb3-9a1d-e644815ef6d1",
            "trace_id":"6b65a6a48b8148f6b38a088ca65ed389"}"#,
        );
        let slim = encode_for_index(&r).0;
        // The log's form: ids whole, the record id too (16 bytes, a length).
        let mut unsplit = vec![WITHOUT_COLUMNS];
        let (request, trace) = (whole(r.request_id.as_deref()), whole(r.trace_id.as_deref()));
        extend(&mut unsplit, &rest(&r, false, request, trace));
        assert_eq!(slim.len() + 17 + 17, unsplit.len(), "8 bytes of each id, and the hex length");
        assert_eq!(decode_with(&slim, || Ok(columns_of(&r))).unwrap(), r);
        let mut no_key = columns_of(&r);
        no_key.trace_id_key = None;
        assert!(decode_with(&slim, || Ok(no_key)).unwrap_err().contains("trace_id"));
        // Version 1 UUIDs of one host share their low 64 bits: the keys
        // still differ, and the halves come back.
        let (a, b) =
            ("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "6ba7b811-9dad-11d1-80b4-00c04fd430c8");
        let ((ha, ka), (hb, kb)) = (split_id(a).unwrap(), split_id(b).unwrap());
        assert_ne!(ka, kb);
        assert_eq!(low_half(ha, ka), low_half(hb, kb));
        assert_eq!(low_half(ha, ka), 0x80b4_00c0_4fd4_30c8);
        // Only the forms printed back exactly are split.
        for odd in ["6BA7B810-9DAD-11D1-80B4-00C04FD430C8", "6b65a6a48b8148f6b38a088ca65ed38", "x"]
        {
            assert_eq!(split_id(odd), None, "{odd}");
        }
        // The column values given beside the form are those filters look up.
        for (request, trace) in [(a, "6b65a6a48b8148f6b38a088ca65ed389"), (b, "x"), ("x", "y")] {
            let mut o = r.clone();
            (o.request_id, o.trace_id) = (Some(request.into()), Some(trace.into()));
            let keys = [Some(id_hash(request)), Some(id_hash(trace))];
            assert_eq!(encode_for_index(&o).1, keys, "{request} {trace}");
        }
        let mut none = r.clone();
        (none.request_id, none.trace_id) = (None, None);
        assert_eq!(encode_for_index(&none).1, [None, None]);
    }

    #[test]
    fn a_derived_id_is_not_kept() {
        let r = normalized(r#"{"service_name":"a","message":"m"}"#);
        let mut own = r.clone();
        own.id = "0123456789abcdef0123456789abcdef".into();
        let (derived, kept) = (encode_for_index(&r).0, encode_for_index(&own).0);
        assert_eq!(kept.len() - derived.len(), 17, "the id's 16 bytes and their length");
        for (bytes, r) in [(derived, &r), (kept, &own)] {
            assert_eq!(&decode_with(&bytes, || Ok(columns_of(r))).unwrap(), r);
        }
        // The log's whole form keeps the id as it is.
        assert_eq!(encode(&r).len(), encode(&own).len());
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        let good = encode(&normalized(r#"{"service_name":"a","message":"m","status_code":200}"#));
        assert!(decode(&[]).is_err());
        assert!(decode(&[3]).unwrap_err().contains("version 3"));
        let slim = encode_for_index(&normalized(r#"{"service_name":"a","message":"m"}"#)).0;
        assert!(decode(&slim).unwrap_err().contains("fast columns"));
        for cut in 1..good.len() {
            assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        // Every single-byte change decodes to a record or to an error.
        for i in 1..good.len() {
            for b in [0, 1, 0x7f, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] = b;
                let _ = decode(&bad);
            }
        }
    }
}
