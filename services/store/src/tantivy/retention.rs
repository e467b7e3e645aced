//! Retention: which records are past the window, and how a pass removes
//! them a whole UTC day at a time.
//!
//! A pass is a range delete on the `timestamp` fast field, from the
//! beginning of time up to the first kept day's midnight, per window: one
//! for each tenant with its own retention (intersected with the tenant's
//! term) and one for everybody else (the store-wide window, without those
//! tenants), all committed together like any other change. Tantivy drops
//! a segment whose documents are all deleted at that commit and deletes its
//! files, so days that sit in their own segments (records mostly arrive in
//! time order, and every commit starts new segments) free their disk at
//! once. Segments left more than half
//! deleted, where a merge mixed days, are rewritten without the deleted
//! documents by a background merge.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tantivy::collector::Count;
use tantivy::index::SegmentId;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DateTime, Searcher, Term};

use super::backend;
use super::schema::Fields;
use crate::Result;
#[cfg(test)]
use crate::shared::DAY_MS;
pub(crate) use crate::shared::cutoff_ms;
use crate::tenants::Windows;

/// How often the indexer runs a retention pass (besides one at open).
pub(crate) const PASS_EVERY: Duration = Duration::from_secs(3600);

/// The wall clock, ms since the epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What a retention pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionReport {
    /// Records of tenants without an override with a timestamp before this
    /// (UTC midnight, ms since the epoch) were removed, later ones kept;
    /// `None` when `retention_days` is unset (they are kept forever).
    pub cutoff_ms: Option<i64>,
    /// The same cutoff for each tenant with a retention override.
    pub tenant_cutoffs: BTreeMap<String, i64>,
    /// Searchable records removed, over every tenant (records added but not
    /// yet committed when the pass ran are removed too, uncounted).
    pub removed: u64,
    /// Partly deleted segments rewritten to free their space.
    pub merged_segments: usize,
}

/// Every record before `cutoff_ms`.
fn before(fields: &Fields, cutoff_ms: i64) -> Box<dyn Query> {
    let cutoff =
        Term::from_field_date(fields.timestamp, DateTime::from_timestamp_millis(cutoff_ms));
    Box::new(RangeQuery::new(Bound::Unbounded, Bound::Excluded(cutoff)))
}

/// Every record of `tenant`.
fn of_tenant(fields: &Fields, tenant: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(fields.tenant_term(tenant), IndexRecordOption::Basic))
}

/// The deletes of one pass at `now_ms`, with the report's cutoffs: for each
/// tenant with an override, its records before its cutoff; with a global
/// window, every other tenant's records before the global cutoff. The
/// queries select disjoint records.
pub(crate) fn expired(
    fields: &Fields,
    windows: &Windows,
    now_ms: i64,
) -> (Vec<Box<dyn Query>>, RetentionReport) {
    let mut queries: Vec<Box<dyn Query>> = Vec::new();
    let mut report = RetentionReport {
        cutoff_ms: None,
        tenant_cutoffs: BTreeMap::new(),
        removed: 0,
        merged_segments: 0,
    };
    for (tenant, days) in &windows.tenants {
        let cutoff = cutoff_ms(now_ms, *days);
        report.tenant_cutoffs.insert(tenant.clone(), cutoff);
        queries.push(Box::new(BooleanQuery::intersection(vec![
            of_tenant(fields, tenant),
            before(fields, cutoff),
        ])));
    }
    if let Some(days) = windows.global {
        let cutoff = cutoff_ms(now_ms, days);
        report.cutoff_ms = Some(cutoff);
        let mut clauses = vec![(Occur::Must, before(fields, cutoff))];
        clauses.extend(windows.tenants.keys().map(|t| (Occur::MustNot, of_tenant(fields, t))));
        queries.push(Box::new(BooleanQuery::new(clauses)));
    }
    (queries, report)
}

/// How many searchable records `queries` select (they are disjoint).
pub(crate) fn count(searcher: &Searcher, queries: &[Box<dyn Query>]) -> Result<u64> {
    let mut n = 0;
    for q in queries {
        n += searcher.search(q.as_ref(), &Count).map_err(backend)? as u64;
    }
    Ok(n)
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
