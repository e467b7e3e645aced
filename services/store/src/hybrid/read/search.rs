//! Search: every candidate block's matches counted for the total (from its
//! header when its groups decide the filter, else from its columns), and
//! the page's sort keys gathered from the blocks that can still reach it,
//! best first; only the page's records are built.

use std::collections::BinaryHeap;
use std::collections::btree_map::{BTreeMap, Entry};

use loglens_core::{LogRecord, SearchRequest, SearchResult, Sort};
use tantivy::tokenizer::TextAnalyzer;

use std::ops::Range;

use super::super::block::Block;
use super::super::snapshot::Snapshot;
use super::select::{BlockColumns, Candidate, Plan, block_error, postings_decide};
use crate::shared::cursor::{Position, SortKey, filter_fingerprint};
use crate::{Error, Result};

/// A [`SortKey`] as one ascending tuple: smaller comes first in the
/// result. Descending parts are bitwise complements, which reverse the
/// order of an integer type exactly.
type Rank = (u8, i64, u64);

fn rank(sort: Sort, k: SortKey) -> Rank {
    match sort {
        Sort::NewestFirst => (0, !k.timestamp, !k.seq),
        Sort::OldestFirst => (0, k.timestamp, k.seq),
        Sort::Severity => (!k.severity, !k.timestamp, !k.seq),
    }
}

/// The best (smallest) and worst rank any match of a candidate can have:
/// from its header's time range, or its matching groups' when it has them.
fn bounds(sort: Sort, c: &Candidate<'_>) -> (Rank, Rank) {
    let h = c.block.header();
    let (min, max) = match &c.counted {
        Some(groups) if !groups.is_empty() => groups.iter().fold((i64::MAX, i64::MIN), |t, g| {
            (t.0.min(g.min_timestamp), t.1.max(g.max_timestamp))
        }),
        _ => (h.min_timestamp, h.max_timestamp),
    };
    span_bounds(sort, c.block, min, max)
}

/// The best and worst rank of a record of `block` whose timestamp lies in
/// `min..=max` (and whose severity in the block's range, when known).
fn span_bounds(sort: Sort, block: &Block, min: i64, max: i64) -> (Rank, Rank) {
    let seqs = block.header().seqs();
    let (first, last) = (seqs.start, seqs.end - 1);
    let key = |severity, timestamp, seq| rank(sort, SortKey { severity, timestamp, seq });
    match sort {
        Sort::NewestFirst => (key(0, max, last), key(0, min, first)),
        Sort::OldestFirst => (key(0, min, first), key(0, max, last)),
        Sort::Severity => {
            let (lo, hi) = block.severities().unwrap_or((0, u8::MAX));
            (key(hi, max, last), key(lo, min, first))
        }
    }
}

/// The first byte of this store's cursors ([`Position`]), "H": not the
/// Tantivy store's, whose seqs mean other records.
const CURSOR_VERSION: u8 = 0x48;

/// The best `limit` keys offered, after `after` when set.
struct Top {
    sort: Sort,
    limit: usize,
    after: Option<Rank>,
    /// A max-heap: the worst kept rank on top.
    heap: BinaryHeap<(Rank, SortKey)>,
}

impl Top {
    /// Whether a record of rank at best `best` and at worst `worst` could
    /// still be kept.
    fn reachable(&self, best: Rank, worst: Rank) -> bool {
        self.after.is_none_or(|a| worst > a)
            && (self.heap.len() < self.limit || self.heap.peek().is_some_and(|(r, _)| best < *r))
    }

    fn offer(&mut self, key: SortKey) {
        let r = rank(self.sort, key);
        if !self.reachable(r, r) {
            return;
        }
        self.heap.push((r, key));
        if self.heap.len() > self.limit {
            self.heap.pop();
        }
    }

    /// The kept keys, best first.
    fn into_sorted(self) -> Vec<SortKey> {
        self.heap.into_sorted_vec().into_iter().map(|(_, k)| k).collect()
    }
}

/// Blocks whose rows holding the words of a filter of words alone are
/// asked of the postings first: the best by their headers' time ranges.
/// When a block past them can still reach the page, every block's are.
const FIRST_BLOCKS: usize = 4;

/// Runs the request on `snap`: `total` counts every live match; the page
/// holds up to `size` records after the cursor (or after `offset`), in the
/// request's order, with a cursor to the next page when one follows.
/// `analyzer` is the postings' `message` tokenizer.
pub fn search(
    snap: &Snapshot,
    analyzer: &mut TextAnalyzer,
    req: &SearchRequest,
) -> Result<SearchResult> {
    let filter = filter_fingerprint(&req.filter);
    let cursor = req
        .cursor
        .as_deref()
        .map(|c| Position::decode(c, CURSOR_VERSION, req.sort, filter))
        .transpose()?;
    let size = req.size as usize;
    // One more than the page, to know whether another follows.
    let top = || Top {
        sort: req.sort,
        limit: req.offset() + size + 1,
        after: cursor.map(|c| rank(req.sort, c.key)),
        heap: BinaryHeap::new(),
    };
    let mut first = postings_decide(snap, &req.filter).then(|| first_blocks(snap, &top()));
    let (total, top) = loop {
        let plan = Plan::within(snap, analyzer, &req.filter, first.take())?;
        if let Some(found) = gather(&plan, req.sort, top())? {
            break found;
        }
    };
    let mut page: Vec<SortKey> = top.into_sorted().into_iter().skip(req.offset()).collect();
    let next_cursor = (page.len() > size).then(|| {
        page.truncate(size);
        Position { sort: req.sort, filter, key: page[size - 1] }.encode(CURSOR_VERSION)
    });
    Ok(SearchResult {
        total,
        page: req.page,
        size: req.size,
        logs: records(snap, &page)?,
        next_cursor,
    })
}

/// The seq ranges of the [`FIRST_BLOCKS`] best blocks by their headers
/// that `top` can still take a record of (after its cursor).
fn first_blocks(snap: &Snapshot, top: &Top) -> Vec<Range<u64>> {
    let mut ranked: Vec<((Rank, Rank), Range<u64>)> = snap
        .blocks
        .iter()
        .map(|b| (b, b.header()))
        .map(|(b, h)| (span_bounds(top.sort, b, h.min_timestamp, h.max_timestamp), h.seqs()))
        .filter(|((best, worst), _)| top.reachable(*best, *worst))
        .collect();
    ranked.sort_by_key(|((best, _), _)| *best);
    ranked.into_iter().take(FIRST_BLOCKS).map(|(_, seqs)| seqs).collect()
}

/// The total and the best keys of the plan's matches; `None` when a block
/// whose rows holding the words the plan does not know could reach the
/// page (ask again with every block's).
fn gather(plan: &Plan<'_>, sort: Sort, mut top: Top) -> Result<Option<(u64, Top)>> {
    let mut total = plan.postings_total().unwrap_or(0);
    let open = plan.open();
    total += open.len() as u64;
    for (seq, r) in &open {
        top.offer(SortKey { severity: r.severity_score, timestamp: r.timestamp, seq: *seq });
    }
    // Best first, so that the page fills early and later blocks are
    // skipped by their bounds.
    let mut candidates: Vec<_> =
        plan.candidates().into_iter().map(|c| (bounds(sort, &c), c)).collect();
    candidates.sort_by_key(|((best, _), _)| *best);
    // The postings counted the sealed matches: blocks add only keys.
    let counted_all = plan.postings_total().is_some();
    for (range, c) in &candidates {
        let (mut best, mut worst) = *range;
        if c.words_unknown {
            if top.reachable(best, worst) {
                return Ok(None);
            }
            continue;
        }
        let by_header = c.total();
        if let Some(n) = by_header {
            total += n;
            if n == 0 {
                continue;
            }
        }
        // Counted already: its columns are read only for the page.
        let counted = by_header.is_some() || counted_all;
        if counted && !top.reachable(best, worst) {
            continue;
        }
        let columns = BlockColumns::new(c.block);
        let selection = plan.select(c, &columns)?;
        if !counted {
            total += selection.len() as u64;
        }
        let h = c.block.header();
        if selection.is_empty() || !top.reachable(best, worst) {
            continue;
        }
        let anomalies = match sort {
            Sort::Severity => Some(columns.anomalies()?),
            Sort::NewestFirst | Sort::OldestFirst => None,
        };
        if let Some(a) = anomalies {
            // The header says nothing of severities: bound them by the
            // selected rows' before reading their timestamps.
            let severities = selection.iter().map(|row| a[row].1);
            let (lo, hi) = severities.fold((u8::MAX, 0), |(lo, hi), s| (lo.min(s), hi.max(s)));
            best.0 = !hi;
            worst.0 = !lo;
            if !top.reachable(best, worst) {
                continue;
            }
        }
        let timestamps = columns.timestamps()?;
        for row in selection.iter() {
            top.offer(SortKey {
                severity: anomalies.as_ref().map_or(0, |a| a[row].1),
                timestamp: timestamps[row],
                seq: h.first_seq + row as u64,
            });
        }
    }
    Ok(Some((total, top)))
}

/// The records of `keys`, in that order: each block's rows built at once.
fn records(snap: &Snapshot, keys: &[SortKey]) -> Result<Vec<LogRecord>> {
    let missing = |seq: u64| Error::Backend(format!("seq {seq} is not in the snapshot"));
    let mut out: Vec<Option<LogRecord>> = vec![None; keys.len()];
    // Per block (by first seq): its rows and their places in `out`.
    let mut wanted: BTreeMap<u64, (usize, Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        if k.seq >= snap.open.first_seq {
            let r = snap.open.records.get((k.seq - snap.open.first_seq) as usize);
            out[i] = Some(r.ok_or_else(|| missing(k.seq))?.clone());
            continue;
        }
        let b = snap.blocks.partition_point(|b| b.header().first_seq <= k.seq);
        let block =
            b.checked_sub(1).and_then(|b| snap.blocks.get(b)).ok_or_else(|| missing(k.seq))?;
        let first = block.header().first_seq;
        let (_, rows, places) = match wanted.entry(first) {
            Entry::Vacant(v) => v.insert((b - 1, Vec::new(), Vec::new())),
            Entry::Occupied(o) => o.into_mut(),
        };
        rows.push((k.seq - first) as usize);
        places.push(i);
    }
    for (b, rows, places) in wanted.into_values() {
        let block = &snap.blocks[b];
        let built = block.records(&rows).map_err(|e| block_error(block, e))?;
        for (r, i) in built.into_iter().zip(places) {
            out[i] = Some(r);
        }
    }
    out.into_iter().zip(keys).map(|(r, k)| r.ok_or_else(|| missing(k.seq))).collect()
}
