//! What every backend does the same way, written once: the live tail
//! ([`tail`]), the closed flag ([`closed`]), cursor encoding and its errors
//! ([`cursor`]), the stats aggregations ([`aggs`]), the bounded
//! least-recently-used map the caches use ([`bounded`]) and the embedded
//! stores' commit schedule ([`refresh`]). What a backend does its own way
//! (its cursor's contents, its query language, how it counts inside a
//! bucket) stays in the backend.

pub(crate) mod aggs;
pub(crate) mod bounded;
pub(crate) mod closed;
pub(crate) mod cursor;
pub(crate) mod refresh;
pub(crate) mod tail;

/// One UTC day, ms: both backends cut time into UTC days (Elasticsearch's
/// day indices, Tantivy's retention).
pub const DAY_MS: i64 = 86_400_000;

/// The first kept instant for a window of `days` at `now_ms`: the UTC
/// midnight starting the day that was current `days` days ago. Every day
/// that ended at least `days` days before `now_ms` lies before it.
pub(crate) fn cutoff_ms(now_ms: i64, days: u32) -> i64 {
    let edge = now_ms.saturating_sub(i64::from(days).saturating_mul(DAY_MS));
    edge.div_euclid(DAY_MS).saturating_mul(DAY_MS)
}
