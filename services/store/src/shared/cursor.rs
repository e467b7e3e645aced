//! The envelope of a cursor, the same on every backend: opaque bytes in
//! URL-safe base64, bound to the query that made it by a fingerprint, and
//! one client error (400 naming `cursor`) for any cursor that does not fit.
//! What the bytes hold is the backend's business.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use loglens_core::Filter;
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
