//! Retention on the hybrid store: which rows are past their tenant's
//! window, decided from block headers where they can tell and from the
//! `timestamp` and `tenant` columns where they cannot, and the postings
//! delete of those rows.
//!
//! The windows and cut-offs are the Tantivy store's (`crate::tenants`,
//! `crate::shared::cutoff_ms`): a tenant with an override keeps its own
//! number of whole UTC days, every other tenant `retention_days`. How a pass
//! applies them, and in which order it writes, is in `super::indexer`
//! ([`Indexer::retain`](super::indexer::Indexer::retain)).

use std::collections::BTreeMap;
use std::sync::Arc;

use loglens_core::LogRecord;
use roaring::RoaringTreemap;
use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, Score, SegmentReader};

use super::block::{Block, BlockError, Column, Header};
use crate::shared::cutoff_ms;
use crate::tantivy::RetentionReport;
use crate::tantivy::id_query::Docs;
use crate::tantivy::schema::SEQ;
use crate::tenants::Windows;

/// The cut-offs of one pass: each row whose timestamp is before its
/// tenant's cut-off is expired.
#[derive(Debug, Clone)]
pub(crate) struct Cutoffs {
    /// For tenants without an override; `None`: kept forever.
    global: Option<i64>,
    /// For each tenant with an override.
    tenants: BTreeMap<String, i64>,
}

/// What a block's header says about its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// No row is expired.
    None,
    /// Every row is expired.
    All,
    /// Some may be: the columns tell.
    Some,
}

impl Cutoffs {
    /// The cut-offs of `windows` at `now_ms`, and the report of a pass
    /// that removed nothing yet.
    pub fn new(windows: &Windows, now_ms: i64) -> (Cutoffs, RetentionReport) {
        let global = windows.global.map(|days| cutoff_ms(now_ms, days));
        let tenants: BTreeMap<String, i64> = windows
            .tenants
            .iter()
            .map(|(tenant, days)| (tenant.clone(), cutoff_ms(now_ms, *days)))
            .collect();
        let report = RetentionReport {
            cutoff_ms: global,
            tenant_cutoffs: tenants.clone(),
            removed: 0,
            merged_segments: 0,
        };
        (Cutoffs { global, tenants }, report)
    }

    /// The cut-off of `tenant`'s records; `None` when they are kept.
    pub fn of(&self, tenant: &str) -> Option<i64> {
        self.tenants.get(tenant).copied().or(self.global)
    }

    /// Whether `record` is expired.
    pub fn expired(&self, record: &LogRecord) -> bool {
        self.of(&record.tenant).is_some_and(|cutoff| record.timestamp < cutoff)
    }

    /// What `header`'s time range and tenants say: every row expired when
    /// each of its tenants' cut-offs is after its newest record, none when
    /// none is after its oldest.
    pub fn verdict(&self, header: &Header) -> Verdict {
        let cutoffs = header.tenants.iter().map(|t| self.of(t));
        if cutoffs.clone().all(|c| c.is_some_and(|c| header.max_timestamp < c)) {
            Verdict::All
        } else if cutoffs.clone().any(|c| c.is_some_and(|c| header.min_timestamp < c)) {
            Verdict::Some
        } else {
            Verdict::None
        }
    }

    /// The rows of `block` that are expired, ascending: from the header
    /// alone when it can tell, else from its `timestamp` and `tenant`
    /// columns.
    pub fn expired_rows(&self, block: &Block) -> Result<Vec<usize>, BlockError> {
        let header = block.header();
        match self.verdict(header) {
            Verdict::None => Ok(Vec::new()),
            Verdict::All => Ok((0..header.rows).collect()),
            Verdict::Some => {
                let by_code: Vec<Option<i64>> = header.tenants.iter().map(|t| self.of(t)).collect();
                let (timestamps, tenants) = (block.timestamps()?, block.codes(Column::Tenant)?);
                let expired = |(ts, code): (&i64, &u16)| {
                    by_code.get(usize::from(*code)).copied().flatten().is_some_and(|c| *ts < c)
                };
                Ok(timestamps
                    .iter()
                    .zip(&tenants)
                    .enumerate()
                    .filter(|(_, row)| expired(*row))
                    .map(|(row, _)| row)
                    .collect())
            }
        }
    }
}

/// The postings documents of rows a pass removes: every `seq` below
/// `below` (the blocks dropped whole) and each `seq` of `rows` (rows marked
/// deleted). A scan of the `seq` column, once per segment at the commit
/// that applies it; no term query can do it, `seq` is not indexed.
#[derive(Debug, Clone)]
pub(crate) struct SeqQuery {
    pub below: u64,
    pub rows: Arc<RoaringTreemap>,
}

impl SeqQuery {
    fn docs(&self, reader: &SegmentReader) -> tantivy::Result<Vec<DocId>> {
        let column = reader.fast_fields().u64(SEQ)?;
        Ok((0..reader.max_doc())
            .filter(|doc| {
                column.first(*doc).is_some_and(|s| s < self.below || self.rows.contains(s))
            })
            .collect())
    }
}

impl Query for SeqQuery {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for SeqQuery {
    fn scorer(&self, reader: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(Docs::new(self.docs(reader)?)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if self.docs(reader)?.contains(&doc) {
            Ok(Explanation::new("expired row", 1.0))
        } else {
            Err(tantivy::TantivyError::InvalidArgument(format!("document {doc} is kept")))
        }
    }
}

#[cfg(test)]
mod tests {
    use tantivy::directory::OwnedBytes;

    use super::*;
    use crate::hybrid::testing::bare;
    use crate::shared::DAY_MS;

    /// 2026-01-10T00:00:00Z.
    const DAY10: i64 = 1_768_003_200_000;

    fn record(tenant: &str, timestamp: i64) -> LogRecord {
        bare(format!("{tenant}-{timestamp}"), timestamp, "m".into(), tenant)
    }

    fn block(records: &[LogRecord]) -> Block {
        Block::parse(OwnedBytes::new(super::super::block::encode(1, records).unwrap())).unwrap()
    }

    #[test]
    fn headers_decide_what_they_can_and_columns_the_rest() {
        // Noon on day 10: "short" keeps 1 day (from day 9), everyone else
        // 5 (from day 5), "forever" is not a tenant with an override.
        let windows =
            Windows { global: Some(5), tenants: BTreeMap::from([("short".to_owned(), 1)]) };
        let (cutoffs, report) = Cutoffs::new(&windows, DAY10 + DAY_MS / 2);
        assert_eq!(report.cutoff_ms, Some(DAY10 - 5 * DAY_MS));
        assert_eq!(report.tenant_cutoffs["short"], DAY10 - DAY_MS);
        let (old, mid, new) = (DAY10 - 7 * DAY_MS, DAY10 - 3 * DAY_MS, DAY10);

        let all_old = block(&[record("short", old), record("other", old + 1)]);
        assert_eq!(cutoffs.verdict(all_old.header()), Verdict::All);
        assert_eq!(cutoffs.expired_rows(&all_old).unwrap(), [0, 1]);

        let all_new = block(&[record("short", new), record("other", new - 1)]);
        assert_eq!(cutoffs.verdict(all_new.header()), Verdict::None);
        assert!(cutoffs.expired_rows(&all_new).unwrap().is_empty());
        // The header cannot tell that day 7 is "other"'s, not "short"'s.
        let kept = block(&[record("short", new), record("other", mid)]);
        assert_eq!(cutoffs.verdict(kept.header()), Verdict::Some);
        assert!(cutoffs.expired_rows(&kept).unwrap().is_empty());

        // Day 7 is past "short"'s window, not the others'.
        let mixed = block(&[
            record("other", mid),
            record("short", mid),
            record("other", old),
            record("short", new),
        ]);
        assert_eq!(cutoffs.verdict(mixed.header()), Verdict::Some);
        assert_eq!(cutoffs.expired_rows(&mixed).unwrap(), [1, 2]);

        // Without a global window only the overriding tenant expires.
        let windows = Windows { global: None, tenants: windows.tenants };
        let (cutoffs, _) = Cutoffs::new(&windows, DAY10 + DAY_MS / 2);
        assert_eq!(cutoffs.expired_rows(&mixed).unwrap(), [1]);
        assert!(cutoffs.expired(&record("short", old)));
        assert!(!cutoffs.expired(&record("other", old)));
        assert_eq!(cutoffs.verdict(all_old.header()), Verdict::Some);
    }
}
