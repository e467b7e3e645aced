//! Retention: which records are past the window, and how a pass removes
//! them a whole UTC day at a time.
//!
//! A pass is one range delete on the `timestamp` fast field, from the
//! beginning of time up to the first kept day's midnight, committed like any
//! other change. Tantivy drops a segment whose documents are all deleted at
//! that commit and deletes its files, so days that sit in their own
//! segments (records mostly arrive in time order, and every commit starts
//! new segments) free their disk at once. Segments left more than half
//! deleted, where a merge mixed days, are rewritten without the deleted
//! documents by a background merge.

use std::ops::Bound;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tantivy::collector::Count;
use tantivy::index::SegmentId;
use tantivy::query::{Query, RangeQuery};
use tantivy::{DateTime, Searcher, Term};

use super::backend;
use super::schema::Fields;
use crate::Result;
use crate::shared::DAY_MS;
/// How often the indexer runs a retention pass (besides one at open).
pub(crate) const PASS_EVERY: Duration = Duration::from_secs(3600);

/// The wall clock, ms since the epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What a retention pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionReport {
    /// Records with a timestamp before this (UTC midnight, ms since the
    /// epoch) were removed; later ones kept.
    pub cutoff_ms: i64,
    /// Searchable records removed (records added but not yet committed when
    /// the pass ran are removed too, uncounted).
    pub removed: u64,
    /// Partly deleted segments rewritten to free their space.
    pub merged_segments: usize,
}

/// The first kept instant for a window of `days` at `now_ms`: the UTC
/// midnight starting the day that was current `days` days ago. Every day
/// that ended at least `days` days before `now_ms` lies before it.
pub(crate) fn cutoff_ms(now_ms: i64, days: u32) -> i64 {
    let edge = now_ms.saturating_sub(i64::from(days).saturating_mul(DAY_MS));
    edge.div_euclid(DAY_MS).saturating_mul(DAY_MS)
}

/// Every record before `cutoff_ms`.
pub(crate) fn expired(fields: &Fields, cutoff_ms: i64) -> Box<dyn Query> {
    let cutoff =
        Term::from_field_date(fields.timestamp, DateTime::from_timestamp_millis(cutoff_ms));
    Box::new(RangeQuery::new(Bound::Unbounded, Bound::Excluded(cutoff)))
}

/// How many searchable records lie before `cutoff_ms`.
pub(crate) fn count_expired(searcher: &Searcher, fields: &Fields, cutoff_ms: i64) -> Result<u64> {
    searcher.search(expired(fields, cutoff_ms).as_ref(), &Count).map(|n| n as u64).map_err(backend)
}

/// Segments more than half made of deleted documents: worth rewriting.
/// (Fully deleted ones are already gone after the commit.)
pub(crate) fn mostly_deleted(searcher: &Searcher) -> Vec<SegmentId> {
    searcher
        .segment_readers()
        .iter()
        .filter(|s| {
            s.num_docs() > 0 && u64::from(s.num_deleted_docs()) * 2 > u64::from(s.max_doc())
        })
        .map(|s| s.segment_id())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-05-05T00:00:00Z.
    const MAY_5: i64 = 1_714_867_200_000;

    #[test]
    fn cutoff_is_the_midnight_starting_the_oldest_kept_day() {
        // Noon on May 5 with 2 days: May 3 ended less than 2 days ago
        // (36 h), May 2 more (60 h).
        assert_eq!(cutoff_ms(MAY_5 + DAY_MS / 2, 2), MAY_5 - 2 * DAY_MS);
        // At midnight May 2 ended exactly 2 days ago: removed; a
        // millisecond earlier it is still kept.
        assert_eq!(cutoff_ms(MAY_5, 2), MAY_5 - 2 * DAY_MS);
        assert_eq!(cutoff_ms(MAY_5 - 1, 2), MAY_5 - 3 * DAY_MS);
        // One day: yesterday is kept until today ends.
        assert_eq!(cutoff_ms(MAY_5 + 1, 1), MAY_5 - DAY_MS);
    }

    #[test]
    fn cutoff_handles_times_near_the_epoch() {
        assert_eq!(cutoff_ms(DAY_MS / 2, 3), -3 * DAY_MS);
        assert_eq!(cutoff_ms(i64::MIN, 3650), i64::MIN);
    }
}
