//! The envelope of a cursor, the same on every backend: opaque bytes in
//! URL-safe base64, bound to the query that made it by a fingerprint, and
//! one client error (400 naming `cursor`) for any cursor that does not fit.
//! What the bytes hold is the backend's business.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use loglens_core::Filter;
#[cfg(feature = "tantivy")]
use loglens_core::Sort;
use serde::Serialize;
use xxhash_rust::xxh3::xxh3_64;

use crate::Error;

/// Why a cursor cannot continue this query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CursorError {
    /// Not something a search returned (garbled, truncated, another format).
    Unreadable,
    /// Made for another sort order.
    #[cfg_attr(not(feature = "tantivy"), allow(dead_code))]
    OtherSort,
    /// Made for other filters.
    #[cfg_attr(not(feature = "tantivy"), allow(dead_code))]
    OtherFilter,
    /// Made for another filter or sort (a backend that cannot tell which).
    #[cfg_attr(not(feature = "elasticsearch"), allow(dead_code))]
    OtherQuery,
}

impl CursorError {
    /// What the client is told, after "cursor is not valid for this query: ".
    fn why(self) -> &'static str {
        match self {
            CursorError::Unreadable => "not a cursor returned by a search",
            CursorError::OtherSort => "it was made for another sort order",
            CursorError::OtherFilter => "it was made for other filters",
            CursorError::OtherQuery => "it was made for another filter or sort",
        }
    }
}

impl From<CursorError> for Error {
    fn from(e: CursorError) -> Error {
        Error::Invalid(loglens_core::Error::invalid(
            "cursor",
            format!("cursor is not valid for this query: {}", e.why()),
        ))
    }
}

/// The cursor text of `bytes`.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The bytes of a cursor made by [`encode`]; surrounding whitespace is
/// ignored.
pub(crate) fn decode(text: &str) -> Result<Vec<u8>, CursorError> {
    URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| CursorError::Unreadable)
}

/// A hash of what a cursor was made for (its JSON), so that it is not used
/// with another query.
pub(crate) fn fingerprint(made_for: &impl Serialize) -> u64 {
    xxh3_64(&serde_json::to_vec(made_for).unwrap_or_default())
}

/// `filter` without its tenant, for fingerprints: a cursor holds only a
/// position in the sort order, and every page is read with the caller's own
/// tenant term, so a cursor some other tenant's search made continues the
/// caller's records from that position and never shows the other's. (The
/// tenant comes from the caller's key, not from the request, so it is no
/// query a client could mix up.) Fingerprints of filters without a tenant
/// are unchanged: earlier cursors stay valid.
pub(crate) fn tenant_neutral(filter: &Filter) -> std::borrow::Cow<'_, Filter> {
    if filter.tenant.is_none() {
        std::borrow::Cow::Borrowed(filter)
    } else {
        std::borrow::Cow::Owned(Filter { tenant: None, ..filter.clone() })
    }
}

/// Where a record sits in an embedded store's sort order: unique, since
/// `seq` is. Derived order is field order (severity, timestamp, seq).
#[cfg(feature = "tantivy")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SortKey {
    pub severity: u8,
    pub timestamp: i64,
    pub seq: u64,
}

/// An embedded store's continuation token: the sort, the filter it was made
/// for ([`filter_fingerprint`]) and the last record's key; 23 bytes in the
/// envelope, the first a version byte of the store's own, so one store's
/// cursor is unreadable to another whose seqs mean other records.
#[cfg(feature = "tantivy")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub sort: Sort,
    pub filter: u32,
    pub key: SortKey,
}

#[cfg(feature = "tantivy")]
const POSITION_LEN: usize = 23;

#[cfg(feature = "tantivy")]
fn sort_code(sort: Sort) -> u8 {
    match sort {
        Sort::NewestFirst => 0,
        Sort::OldestFirst => 1,
        Sort::Severity => 2,
    }
}

/// A short hash of the filter without its tenant ([`tenant_neutral`]), so a
/// cursor is not used with another query.
#[cfg(feature = "tantivy")]
pub(crate) fn filter_fingerprint(filter: &Filter) -> u32 {
    fingerprint(&tenant_neutral(filter)) as u32
}

#[cfg(feature = "tantivy")]
impl Position {
    /// The cursor text, tagged with the store's `version` byte.
    pub fn encode(&self, version: u8) -> String {
        let mut b = Vec::with_capacity(POSITION_LEN);
        b.push(version);
        b.push(sort_code(self.sort));
        b.extend_from_slice(&self.filter.to_le_bytes());
        b.push(self.key.severity);
        b.extend_from_slice(&self.key.timestamp.to_le_bytes());
        b.extend_from_slice(&self.key.seq.to_le_bytes());
        encode(&b)
    }

    /// Reads a cursor of the store's `version` made for `sort` and a filter
    /// of fingerprint `filter`.
    pub fn decode(s: &str, version: u8, sort: Sort, filter: u32) -> Result<Position, CursorError> {
        let b: [u8; POSITION_LEN] = decode(s)?.try_into().map_err(|_| CursorError::Unreadable)?;
        if b[0] != version {
            return Err(CursorError::Unreadable);
        }
        if b[1] != sort_code(sort) {
            return Err(CursorError::OtherSort);
        }
        let u64_at = |i: usize| u64::from_le_bytes(std::array::from_fn(|j| b[i + j]));
        if u32::from_le_bytes([b[2], b[3], b[4], b[5]]) != filter {
            return Err(CursorError::OtherFilter);
        }
        let key = SortKey { severity: b[6], timestamp: u64_at(7) as i64, seq: u64_at(15) };
        Ok(Position { sort, filter, key })
    }
}

#[cfg(test)]
mod tests {
    use loglens_core::Sort;

    use super::*;

    #[test]
    fn bytes_round_trip_and_garbage_is_unreadable() {
        let bytes = [0u8, 1, 2, 250, 251, 252, 253, 254, 255];
        let text = encode(&bytes);
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(decode(&text).unwrap(), bytes);
        assert_eq!(decode(&format!(" {text}\n")).unwrap(), bytes);
        for bad in ["not a cursor", "garbage!", "A", "AAAA=", "/+/+"] {
            assert_eq!(decode(bad), Err(CursorError::Unreadable), "{bad:?}");
        }
    }

    #[test]
    fn every_mismatch_is_a_400_naming_cursor() {
        for (e, why) in [
            (CursorError::Unreadable, "not a cursor returned by a search"),
            (CursorError::OtherSort, "it was made for another sort order"),
            (CursorError::OtherFilter, "it was made for other filters"),
            (CursorError::OtherQuery, "it was made for another filter or sort"),
        ] {
            let e = Error::from(e);
            assert_eq!(e.to_string(), format!("cursor is not valid for this query: {why}"));
            let Error::Invalid(core) = e else { panic!("not a client error: {e:?}") };
            assert_eq!(core.field(), Some("cursor"));
            assert_eq!(core.code(), loglens_core::ErrorCode::InvalidArgument);
        }
    }

    #[cfg(feature = "tantivy")]
    #[test]
    fn a_position_round_trips_and_rejects_mismatches() {
        let key = SortKey { severity: 87, timestamp: 1_714_564_800_123, seq: u64::MAX - 3 };
        let p = Position { sort: Sort::Severity, filter: 0xdead_beef, key };
        let s = p.encode(7);
        assert_eq!(Position::decode(&s, 7, Sort::Severity, 0xdead_beef).unwrap(), p);
        for (text, version, sort, filter, why) in [
            (s.as_str(), 7, Sort::NewestFirst, 0xdead_beef, "another sort order"),
            (s.as_str(), 7, Sort::Severity, 1, "other filters"),
            (s.as_str(), 8, Sort::Severity, 0xdead_beef, "not a cursor"),
            ("garbage!", 7, Sort::Severity, 0xdead_beef, "not a cursor"),
            ("AAAA", 7, Sort::Severity, 0xdead_beef, "not a cursor"),
        ] {
            let e = Error::from(Position::decode(text, version, sort, filter).unwrap_err());
            let msg = e.to_string();
            assert!(msg.starts_with("cursor is not valid for this query: "), "{msg}");
            assert!(msg.contains(why), "{msg}");
            assert!(matches!(e, Error::Invalid(ref c) if c.field() == Some("cursor")));
        }
        let a = Filter { service_name: Some("a".into()), ..Filter::default() };
        let b = Filter { service_name: Some("b".into()), ..Filter::default() };
        assert_eq!(filter_fingerprint(&a), filter_fingerprint(&a.clone()));
        assert_ne!(filter_fingerprint(&a), filter_fingerprint(&b));
    }

    #[test]
    fn fingerprint_tells_queries_apart() {
        let a = Filter { service_name: Some("a".into()), ..Filter::default() };
        let b = Filter { service_name: Some("b".into()), ..Filter::default() };
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&(&a, Sort::NewestFirst)), fingerprint(&(&a, Sort::Severity)));
        let of_tenant = Filter { tenant: Some("t".into()), ..a.clone() };
        assert_eq!(fingerprint(&tenant_neutral(&of_tenant)), fingerprint(&a));
        // Pinned: cursors handed out before this module existed stay valid.
        assert_eq!(
            fingerprint(&(&a, Sort::Severity)),
            xxh3_64(serde_json::to_string(&(&a, Sort::Severity)).unwrap().as_bytes())
        );
    }
}
