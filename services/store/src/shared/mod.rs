//! What every backend does the same way, written once: the live tail
//! ([`tail`]), the closed flag ([`closed`]), cursor encoding and its errors
//! ([`cursor`]) and the stats aggregations ([`aggs`]). What a backend does
//! its own way (its cursor's contents, its query language, how it counts
//! inside a bucket) stays in the backend.

pub(crate) mod aggs;
pub(crate) mod closed;
pub(crate) mod cursor;
pub(crate) mod tail;

/// One UTC day, ms: both backends cut time into UTC days (Elasticsearch's
/// day indices, Tantivy's retention).
pub const DAY_MS: i64 = 86_400_000;
