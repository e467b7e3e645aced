//! The record as the doc store keeps it: a positional binary form
//! ([postcard]: varints, no field names) with hex and UUID ids as their raw
//! bytes, so a block of records compresses to what differs between them
//! rather than to the names of their fields (issue 13: JSON with its field
//! names was 124 of 190 MB of an index of 1M records).
//!
//! Every value round-trips exactly: an id is kept as bytes only when
//! printing the bytes gives back the very same text (lowercase hex of even
//! length, or a lowercase hyphenated UUID); anything else is kept as text.
//! The record id is not kept at all when the record's content gives it
//! (every record that came through `normalize` does): it is computed again
//! on read, which saves its 16 random bytes, a seventh of the stored bytes.
//! The first byte is the format's version, so a later format can be told
//! apart instead of misread.

use std::borrow::Cow;

use loglens_core::attributes::{AttrValue, Attributes};
use loglens_core::record::content_id;
use loglens_core::tenant::scoped_id;
use loglens_core::{Level, LogRecord, StatusCode};
use serde::{Deserialize, Serialize};

/// The format's version byte.
const VERSION: u8 = 1;
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

/// [`LogRecord`] in field order, borrowing its text.
#[derive(Serialize, Deserialize)]
struct Stored<'a> {
    #[serde(borrow)]
    id: Id<'a>,
    timestamp: i64,
    #[serde(borrow)]
    service_name: Cow<'a, str>,
    level: u8,
    #[serde(borrow)]
    message: Cow<'a, str>,
    status_code: Option<u16>,
    #[serde(borrow)]
    request_id: Option<Id<'a>>,
    #[serde(borrow)]
    user_id: Option<Cow<'a, str>>,
    response_time_ms: Option<Num>,
    #[serde(borrow)]
    error_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tags: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    host: Option<Cow<'a, str>>,
    #[serde(borrow)]
    trace_id: Option<Id<'a>>,
    #[serde(borrow)]
    span_id: Option<Id<'a>>,
    anomaly: bool,
    severity_score: u8,
    #[serde(borrow)]
    anomaly_reasons: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    attributes: Vec<(Cow<'a, str>, Attr<'a>)>,
    /// Milliseconds after `timestamp` (small, so a short varint).
    ingested_after: i64,
    #[serde(borrow)]
    tenant: Cow<'a, str>,
}

const LEVELS: [Level; 4] = [Level::Debug, Level::Info, Level::Warn, Level::Error];

fn id(text: &str) -> Id<'_> {
    let b = text.as_bytes();
    if b.len() == 36 && is_uuid(b) {
        let mut out = [0u8; 16];
        let hex: Vec<u8> = b.iter().copied().filter(|&c| c != b'-').collect();
        for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            *o = nibble(pair[0]) << 4 | nibble(pair[1]);
        }
        return Id::Uuid(out);
    }
    if !b.is_empty()
        && b.len().is_multiple_of(2)
        && b.len() <= 2 * MAX_HEX_BYTES
        && b.iter().all(|&c| is_lower_hex(c))
    {
        let bytes = b.chunks_exact(2).map(|p| nibble(p[0]) << 4 | nibble(p[1])).collect();
        return Id::Hex(Cow::Owned(bytes));
    }
    Id::Text(Cow::Borrowed(text))
}

fn is_lower_hex(c: u8) -> bool {
    c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
}

fn is_uuid(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, &c)| match i {
        8 | 13 | 18 | 23 => c == b'-',
        _ => is_lower_hex(c),
    })
}

fn nibble(c: u8) -> u8 {
    if c.is_ascii_digit() { c - b'0' } else { c - b'a' + 10 }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
}

impl Id<'_> {
    fn into_string(self) -> String {
        match self {
            // Only the record id is ever stored as derived (see `decode`).
            Id::Derived => String::new(),
            Id::Text(t) => t.into_owned(),
            Id::Hex(b) => {
                let mut s = String::with_capacity(b.len() * 2);
                push_hex(&mut s, &b);
                s
            }
            Id::Uuid(b) => {
                let mut s = String::with_capacity(36);
                for (i, part) in
                    [&b[0..4], &b[4..6], &b[6..8], &b[8..10], &b[10..16]].into_iter().enumerate()
                {
                    if i > 0 {
                        s.push('-');
                    }
                    push_hex(&mut s, part);
                }
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

/// `r` in the stored form.
pub fn encode(r: &LogRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(r.message.len() + 128);
    encode_into(r, &mut out);
    out
}

/// Appends `r` in the stored form to `out`.
pub fn encode_into(r: &LogRecord, out: &mut Vec<u8>) {
    fn borrowed(s: &Option<String>) -> Option<Cow<'_, str>> {
        s.as_deref().map(Cow::Borrowed)
    }
    let derived = r.id.len() == 32 && r.id == scoped_id(&r.tenant, &content_id(r));
    let stored = Stored {
        id: if derived { Id::Derived } else { id(&r.id) },
        timestamp: r.timestamp,
        service_name: Cow::Borrowed(&r.service_name),
        level: LEVELS.iter().position(|l| *l == r.level).unwrap_or(1) as u8,
        message: Cow::Borrowed(&r.message),
        status_code: r.status_code.map(u16::from),
        request_id: r.request_id.as_deref().map(id),
        user_id: borrowed(&r.user_id),
        response_time_ms: r.response_time_ms.map(num),
        error_code: borrowed(&r.error_code),
        tags: r.tags.iter().map(|t| Cow::Borrowed(t.as_str())).collect(),
        host: borrowed(&r.host),
        trace_id: r.trace_id.as_deref().map(id),
        span_id: r.span_id.as_deref().map(id),
        anomaly: r.anomaly,
        severity_score: r.severity_score,
        anomaly_reasons: r.anomaly_reasons.iter().map(|t| Cow::Borrowed(t.as_str())).collect(),
        attributes: r
            .attributes
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    AttrValue::Bool(b) => Attr::Bool(*b),
                    AttrValue::Int(i) => Attr::Int(*i),
                    AttrValue::Float(f) => Attr::Float(*f),
                    AttrValue::Str(s) => Attr::Str(Cow::Borrowed(s)),
                };
                (Cow::Borrowed(k.as_str()), v)
            })
            .collect(),
        ingested_after: r.ingested_at.wrapping_sub(r.timestamp),
        tenant: Cow::Borrowed(&r.tenant),
    };
    out.push(VERSION);
    // Serializing into a Vec cannot fail: every type here is supported.
    let taken = postcard::to_extend(&stored, std::mem::take(out));
    *out = taken.expect("a record always encodes");
}

/// An id other than the record's: never derived.
fn other_id(id: Option<Id<'_>>, field: &str) -> Result<Option<String>, String> {
    match id {
        Some(Id::Derived) => Err(format!("{field} is marked derived")),
        id => Ok(id.map(Id::into_string)),
    }
}

/// The record `bytes` hold, or why they do not hold one.
pub fn decode(bytes: &[u8]) -> Result<LogRecord, String> {
    let (&version, rest) = bytes.split_first().ok_or("empty")?;
    if version != VERSION {
        return Err(format!("format version {version}, this build reads {VERSION}"));
    }
    let s: Stored<'_> = postcard::from_bytes(rest).map_err(|e| e.to_string())?;
    let level = *LEVELS.get(usize::from(s.level)).ok_or_else(|| format!("level {}", s.level))?;
    let status_code = match s.status_code {
        None => None,
        Some(c) => {
            Some(StatusCode::try_from(i64::from(c)).map_err(|e| format!("status_code: {e}"))?)
        }
    };
    let text = |c: Option<Cow<'_, str>>| c.map(Cow::into_owned);
    let mut attributes = Attributes::new();
    for (k, v) in s.attributes {
        let v = match v {
            Attr::Bool(b) => AttrValue::Bool(b),
            Attr::Int(i) => AttrValue::Int(i),
            Attr::Float(f) => AttrValue::Float(f),
            Attr::Str(s) => AttrValue::Str(s.into_owned()),
        };
        attributes.insert(k.into_owned(), v);
    }
    let derived = matches!(s.id, Id::Derived);
    let mut r = LogRecord {
        id: s.id.into_string(),
        timestamp: s.timestamp,
        service_name: s.service_name.into_owned(),
        level,
        message: s.message.into_owned(),
        status_code,
        request_id: other_id(s.request_id, "request_id")?,
        user_id: text(s.user_id),
        response_time_ms: s.response_time_ms.map(|n| match n {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }),
        error_code: text(s.error_code),
        tags: s.tags.into_iter().map(Cow::into_owned).collect(),
        host: text(s.host),
        trace_id: other_id(s.trace_id, "trace_id")?,
        span_id: other_id(s.span_id, "span_id")?,
        anomaly: s.anomaly,
        severity_score: s.severity_score,
        anomaly_reasons: s.anomaly_reasons.into_iter().map(Cow::into_owned).collect(),
        attributes,
        ingested_at: s.timestamp.wrapping_add(s.ingested_after),
        tenant: s.tenant.into_owned(),
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
        bytes
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

    #[test]
    fn a_derived_id_is_not_kept() {
        let r = normalized(r#"{"service_name":"a","message":"m"}"#);
        let mut own = r.clone();
        own.id = "0123456789abcdef0123456789abcdef".into();
        let (derived, kept) = (round_trip(&r), round_trip(&own));
        assert_eq!(kept.len() - derived.len(), 17, "the id's 16 bytes and their length");
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        let good = encode(&normalized(r#"{"service_name":"a","message":"m","status_code":200}"#));
        assert!(decode(&[]).is_err());
        assert!(decode(&[2]).unwrap_err().contains("version 2"));
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
