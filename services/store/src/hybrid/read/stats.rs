//! Stats: each candidate block's matching rows counted into the Tantivy
//! store's [`Partial`] from the service, level, anomaly, timestamp and
//! response-time columns (only those the request needs), or from its
//! header's groups when they decide the filter: their counts, their
//! response times as the block keeps them per group and sketch bin, and
//! their histogram bucket when each group's rows lie in one (else the
//! timestamp, level and anomaly columns give each row's bucket); the open
//! block's from its records; all merged
//! by [`Merged`] as the Tantivy store merges its segments', so both give
//! the same answer, limits and errors included. A block the request's time
//! range covers keeps its partial in the Tantivy store's [`StatsCache`],
//! keyed by the block and its deleted rows.

use std::collections::BTreeMap;
use std::sync::Arc;

use loglens_core::{Level, LogRecord, Stats, StatsRequest};

use super::super::block::{BlockError, Column};
use super::super::postings::message_analyzer;
use super::super::snapshot::Snapshot;
use super::select::{BlockColumns, Candidate, Counted, Plan, block_error};
use crate::Result;
use crate::tantivy::backend;
use crate::tantivy::stats::partial::{
    Bucket, MEMORY_LIMIT, Merged, Partial, Service, TooBig, bucket_span, interval_ns, position,
};
use crate::tantivy::stats::times::{Keys, Times};
use crate::tantivy::stats::{CacheKey, Shape, StatsCache, Unit};

/// Aggregates the records of `snap` matching the request's filter; the
/// partials of blocks the time range covers are looked up in `cache` first
/// and kept there after.
pub(crate) fn stats(snap: &Snapshot, req: &StatsRequest, cache: &StatsCache) -> Result<Stats> {
    let mut analyzer = message_analyzer();
    let plan = Plan::new(snap, &mut analyzer, &req.filter)?;
    let shape = if cache.enabled() { Some(Shape::of(req)?) } else { None };
    let mut merged = Merged::default();
    // The blocks are counted on the postings' search threads (one per
    // core), a window at a time so that few partials wait to be merged;
    // they are merged in block order, as one thread would.
    let executor = snap.postings.index().search_executor();
    let candidates = plan.candidates();
    for window in candidates.chunks(WINDOW) {
        let partials = executor
            .map(|c| Ok(candidate_partial(&plan, c, req, shape.as_ref(), cache)), window.iter())
            .map_err(backend)?;
        for partial in partials {
            if let Some(p) = partial? {
                merged.add(&p)?;
            }
        }
    }
    let open = plan.open();
    if !open.is_empty() {
        merged.add(&open_partial(req, &open)?)?;
    }
    Ok(merged.into_stats(req.histogram_interval_ms)?)
}

/// Blocks counted side by side before their partials are merged.
const WINDOW: usize = 64;

/// A candidate block's matches: from its header's groups when they decide
/// the filter and the request needs no record's time, else from `cache` or
/// its columns (then kept in `cache` when the request's time range covers
/// the block). `None`: nothing to add.
fn candidate_partial(
    plan: &Plan<'_>,
    c: &Candidate<'_>,
    req: &StatsRequest,
    shape: Option<&Shape>,
    cache: &StatsCache,
) -> Result<Option<Arc<Partial>>> {
    let h = c.block.header();
    // A group's response times are all its rows': not those of a filter
    // that takes only its anomalous rows, or only the others.
    let groups =
        c.counted.as_ref().filter(|_| !req.include_percentiles || req.filter.anomaly.is_none());
    let rows = groups.is_some_and(|g| !each_in_one_bucket(req, g));
    if let (Some(groups), false) = (groups, rows) {
        if groups.is_empty() {
            return Ok(None);
        }
        return Ok(Some(Arc::new(groups_partial(plan, c, req, groups, false)?)));
    }
    let key = shape.filter(|_| c.covered()).map(|shape| {
        let unit = Unit::Block { first_seq: h.first_seq, checksum: c.block.checksum() };
        // A block has at most MAX_ROWS rows.
        let deleted = plan.deleted_count(h.seqs()) as u32;
        CacheKey::new(unit, deleted, shape.clone())
    });
    if let Some(hit) = key.as_ref().and_then(|k| cache.get(k)) {
        return Ok(Some(hit));
    }
    let partial = Arc::new(match groups {
        Some(groups) => groups_partial(plan, c, req, groups, true)?,
        None => block_partial(plan, c, req)?,
    });
    if let Some(key) = key {
        cache.put(key, Arc::clone(&partial), partial.bytes());
    }
    Ok(Some(partial))
}

/// Whether the histogram, if the request asks for one, has one bucket for
/// all the rows of each of `groups`.
fn each_in_one_bucket(req: &StatsRequest, groups: &[Counted]) -> bool {
    groups.iter().all(|g| in_one_bucket(req, (g.min_timestamp, g.max_timestamp)))
}

/// Whether the histogram, if the request asks for one, has one bucket for
/// every timestamp from `span.0` to `span.1` (ms).
fn in_one_bucket(req: &StatsRequest, span: (i64, i64)) -> bool {
    let Some(interval) = req.histogram_interval_ms.map(interval_ns) else { return true };
    let at = |ms: i64| position(ms.saturating_mul(1_000_000), interval);
    at(span.0) == at(span.1)
}

/// A candidate block's matches as its header's `groups` counted them (see
/// [`Candidate::counted`]), with each group's response times as the block
/// keeps them; the histogram from the groups when each lies in one bucket,
/// else (`rows`) from the timestamp, level and anomaly of each matching
/// row.
fn groups_partial(
    plan: &Plan<'_>,
    c: &Candidate<'_>,
    req: &StatsRequest,
    groups: &[Counted],
    rows: bool,
) -> Result<Partial> {
    let h = c.block.header();
    let err = |e: BlockError| block_error(c.block, e);
    let mut tally = Tally::new(req, h.services.clone(), (h.min_timestamp, h.max_timestamp));
    let times = match req.include_percentiles {
        true => Some(c.block.group_times().map_err(err)?),
        false => None,
    };
    for g in groups {
        let service = usize::from(g.service);
        tally.add_many(service, g.level, g.rows, g.anomalies);
        if let Some(t) = times.as_ref().map(|t| &t[g.group]).filter(|t| t.count > 0) {
            tally.add_times(service, t);
        }
        if !rows {
            tally.add_to_bucket(g.min_timestamp, g.level, g.rows, g.anomalies);
        }
    }
    if rows {
        let columns = BlockColumns::new(c.block);
        let selection = plan.select(c, &columns)?;
        let (timestamps, levels, anomalies) =
            (columns.timestamps()?, columns.levels()?, columns.anomalies()?);
        for row in selection.iter() {
            tally.add_to_bucket(timestamps[row], levels[row], 1, u64::from(anomalies[row].0));
        }
    }
    Ok(tally.finish()?)
}

/// A candidate block's matching rows counted from its columns.
fn block_partial(plan: &Plan<'_>, c: &Candidate<'_>, req: &StatsRequest) -> Result<Partial> {
    let h = c.block.header();
    let columns = BlockColumns::new(c.block);
    let selection = plan.select(c, &columns)?;
    if selection.is_empty() {
        return Ok(Partial::default());
    }
    let err = |e: BlockError| block_error(c.block, e);
    let span = (h.min_timestamp, h.max_timestamp);
    let mut tally = Tally::new(req, h.services.clone(), span);
    // One service: no codes to read.
    let services = match h.services.len() {
        1 => None,
        _ => Some(c.block.codes(Column::Service).map_err(err)?),
    };
    let levels = columns.levels()?;
    let anomalies = columns.anomalies()?;
    // A block whose rows all lie in one bucket needs no row's time.
    let timestamps = match req.histogram_interval_ms {
        Some(_) if !in_one_bucket(req, span) => Some(columns.timestamps()?),
        _ => None,
    };
    let times = match req.include_percentiles {
        true => Some(c.block.response_times().map_err(err)?),
        false => None,
    };
    for row in selection.iter() {
        tally.add(Row {
            service: services.as_ref().map_or(0, |s| usize::from(s[row])),
            level: levels[row],
            anomaly: anomalies[row].0,
            timestamp: timestamps.as_ref().map_or(h.min_timestamp, |t| t[row]),
            response_time: times.as_ref().and_then(|t| t[row]),
        });
    }
    Ok(tally.finish()?)
}

/// The open block's matching records as one [`Partial`].
fn open_partial(req: &StatsRequest, open: &[(u64, &LogRecord)]) -> Result<Partial, TooBig> {
    let mut names: Vec<String> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rows = Vec::with_capacity(open.len());
    for (_, r) in open {
        let service = *index.entry(&r.service_name).or_insert_with(|| {
            names.push(r.service_name.clone());
            names.len() - 1
        });
        rows.push(Row {
            service,
            level: r.level,
            anomaly: r.anomaly,
            timestamp: r.timestamp,
            response_time: r.response_time_ms,
        });
    }
    let span = rows
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), r| (lo.min(r.timestamp), hi.max(r.timestamp)));
    let mut tally = Tally::new(req, names, span);
    for row in rows {
        tally.add(row);
    }
    tally.finish()
}

/// What stats read of one record; `service` indexes [`Tally`]'s names.
struct Row {
    service: usize,
    level: Level,
    anomaly: bool,
    timestamp: i64,
    response_time: Option<f64>,
}

/// Per level, in [`Level::ALL`] order.
type PerLevel = [u64; Level::ALL.len()];

fn level_index(l: Level) -> usize {
    match l {
        Level::Debug => 0,
        Level::Info => 1,
        Level::Warn => 2,
        Level::Error => 3,
    }
}

/// One block's (or the open block's) counts, becoming its [`Partial`].
struct Tally {
    /// Histogram bucket width in ns, when asked for.
    interval_ns: Option<f64>,
    percentiles: bool,
    count: u64,
    anomalies: u64,
    levels: PerLevel,
    /// Service names; records and response times per name.
    names: Vec<String>,
    services: Vec<(u64, Option<Times>)>,
    keys: Keys,
    /// Per bucket from position `base` on, when the span of positions is
    /// at most [`DENSE_BUCKETS`]: records, anomalies, per level.
    dense: Vec<BucketCounts>,
    base: i64,
    /// Per bucket, by position, when it is wider.
    buckets: BTreeMap<i64, BucketCounts>,
    /// The last row's bucket and the timestamps (ms) known to share it,
    /// `lo..hi`: rows near each other in time skip the division.
    span: (i64, i64, i64),
}

/// Records, anomalies and records per level of a histogram bucket.
type BucketCounts = (u64, u64, PerLevel);

/// Most histogram buckets a block counts in an array spanning its time
/// range (a block's rows are near each other in time as a rule).
const DENSE_BUCKETS: i64 = 1 << 16;

impl Tally {
    /// Counts for the rows of a block whose timestamps lie in `span`
    /// (first to last, ms), with service names `names`.
    fn new(req: &StatsRequest, names: Vec<String>, span: (i64, i64)) -> Tally {
        let interval = req.histogram_interval_ms.map(interval_ns);
        let (base, dense) = match interval {
            Some(iv) if span.0 <= span.1 => {
                let pos = |ms: i64| position(ms.saturating_mul(1_000_000), iv);
                let (base, top) = (pos(span.0), pos(span.1));
                let n = top.saturating_sub(base).saturating_add(1);
                (base, if n <= DENSE_BUCKETS { n as usize } else { 0 })
            }
            _ => (0, 0),
        };
        Tally {
            interval_ns: interval,
            dense: vec![BucketCounts::default(); dense],
            base,
            percentiles: req.include_percentiles,
            count: 0,
            anomalies: 0,
            levels: PerLevel::default(),
            services: (0..names.len()).map(|_| (0, None)).collect(),
            keys: Keys::new(),
            names,
            buckets: BTreeMap::new(),
            span: (0, 0, 0),
        }
    }

    fn add(&mut self, r: Row) {
        let level = level_index(r.level);
        self.count += 1;
        self.anomalies += u64::from(r.anomaly);
        self.levels[level] += 1;
        let service = &mut self.services[r.service];
        service.0 += 1;
        if let (true, Some(v)) = (self.percentiles, r.response_time) {
            service.1.get_or_insert_with(Times::new).add(&mut self.keys, v);
        }
        self.add_to_bucket(r.timestamp, r.level, 1, u64::from(r.anomaly));
    }

    /// Adds `rows` records of `level` at `timestamp`, `anomalies` of them
    /// anomalous, to the histogram's bucket of `timestamp`, when the
    /// request asks for a histogram.
    #[inline]
    fn add_to_bucket(&mut self, timestamp: i64, level: Level, rows: u64, anomalies: u64) {
        let Some(interval) = self.interval_ns else { return };
        let (lo, hi, mut pos) = self.span;
        if !(lo..hi).contains(&timestamp) {
            // Nanoseconds, as Tantivy's date histogram takes them.
            pos = position(timestamp.saturating_mul(1_000_000), interval);
            let (lo, hi) = bucket_span(timestamp, pos, interval);
            self.span = (lo, hi, pos);
        }
        let slot = usize::try_from(pos.wrapping_sub(self.base) as u64).ok();
        let bucket = match slot.and_then(|s| self.dense.get_mut(s)) {
            Some(b) => b,
            None => self.buckets.entry(pos).or_default(),
        };
        bucket.0 += rows;
        bucket.1 += anomalies;
        bucket.2[level_index(level)] += rows;
    }

    /// Adds `rows` records of one service and level, `anomalies` of them
    /// anomalous, to the counts (not to the histogram or the response
    /// times: see [`Tally::add_to_bucket`] and [`Tally::add_times`]).
    fn add_many(&mut self, service: usize, level: Level, rows: u64, anomalies: u64) {
        self.count += rows;
        self.anomalies += anomalies;
        self.levels[level_index(level)] += rows;
        self.services[service].0 += rows;
    }

    /// Adds response times of one service, when the request asks for
    /// percentiles.
    fn add_times(&mut self, service: usize, times: &Times) {
        if self.percentiles {
            self.services[service].1.get_or_insert_with(Times::new).merge(times);
        }
    }

    /// The counts as a [`Partial`]: levels and services with records only,
    /// each bucket's levels indexed like the partial's.
    fn finish(self) -> Result<Partial, TooBig> {
        let present: Vec<usize> = (0..Level::ALL.len()).filter(|&i| self.levels[i] > 0).collect();
        let mut buckets: Vec<Bucket> = (self.dense.into_iter().zip(self.base..))
            .map(|(counts, pos)| (pos, counts))
            .filter(|(_, (count, _, _))| *count > 0)
            .chain(self.buckets)
            .map(|(pos, (count, anomalies, levels))| Bucket {
                pos,
                count,
                anomalies,
                levels: present.iter().map(|&i| levels[i]).collect(),
            })
            .collect();
        buckets.sort_unstable_by_key(|b| b.pos);
        let p = Partial {
            count: self.count,
            anomalies: self.anomalies,
            levels: present.iter().map(|&i| Level::ALL[i].as_str().to_owned()).collect(),
            level_counts: present.iter().map(|&i| self.levels[i]).collect(),
            services: self
                .names
                .into_iter()
                .zip(self.services)
                .filter(|(_, (count, _))| *count > 0)
                .map(|(name, (count, times))| Service {
                    name,
                    count,
                    timed: times.as_ref().map_or(0, |t| t.count),
                    times,
                })
                .collect(),
            buckets,
        };
        if p.bytes() > MEMORY_LIMIT {
            return Err(TooBig::Memory);
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(interval: i64, span: (i64, i64), times: &[i64]) -> Vec<(i64, u64, Vec<u64>)> {
        let req = StatsRequest { histogram_interval_ms: Some(interval), ..StatsRequest::default() };
        let mut tally = Tally::new(&req, vec!["svc".into()], span);
        for (i, &timestamp) in times.iter().enumerate() {
            let level = if i % 2 == 0 { Level::Info } else { Level::Error };
            tally.add(Row { service: 0, level, anomaly: false, timestamp, response_time: None });
        }
        let p = tally.finish().unwrap();
        assert_eq!(p.levels, ["INFO", "ERROR"]);
        p.buckets.into_iter().map(|b| (b.pos, b.count, b.levels)).collect()
    }

    #[test]
    fn buckets_are_counted_alike_in_a_narrow_span_and_a_wide_one() {
        let times = [5_500, 0, 99_999_000, 5_000, -1];
        let want = vec![
            (-1, 1, vec![1, 0]),
            (0, 1, vec![0, 1]),
            (5, 2, vec![1, 1]),
            (99_999, 1, vec![1, 0]),
        ];
        // 100,000 buckets: past the array, counted in the map.
        assert_eq!(buckets(1000, (-1, 99_999_000), &times), want);
        // A row outside the span it was told (never from a block) still counts.
        assert_eq!(buckets(1000, (0, 6_000), &times), want);
        let wide = vec![(-1, 1, vec![1, 0]), (0, 4, vec![2, 2])];
        assert_eq!(buckets(100_000_000, (-1, 99_999_000), &times), wide);
    }

    #[test]
    fn a_bucket_span_holds_only_its_buckets_timestamps() {
        let day = 1_767_225_600_000;
        for interval in [1, 3, 999, 1_000, 60_000, 60_001, 3_600_007, 86_400_000] {
            let iv = interval_ns(interval);
            let at = |ms: i64| position(ms.saturating_mul(1_000_000), iv);
            for ts in
                (-5..5).chain(day - 5..day + 5).chain([i64::MIN, i64::MAX - 1, 9_223_372_036_854])
            {
                let pos = at(ts);
                let (lo, hi) = bucket_span(ts, pos, iv);
                assert!(lo <= ts && ts < hi, "{interval} {ts}: {lo}..{hi}");
                assert_eq!((at(lo), at(hi - 1)), (pos, pos), "{interval} {ts}: {lo}..{hi}");
            }
            // Away from the extremes the span of a bucket of a second or
            // more is the whole bucket (in f64 at today's nanoseconds, a
            // bucket of 1 ms can hold two ms, or none).
            if interval >= 1_000 {
                let (lo, hi) = bucket_span(day + 1, at(day + 1), iv);
                let pos = at(day + 1);
                assert_eq!((at(lo - 1), at(hi)), (pos - 1, pos + 1), "{interval}");
            }
        }
    }

    #[test]
    fn rows_in_any_order_land_in_positions_buckets() {
        let iv = 60_001;
        let mut x = 7u64;
        let times: Vec<i64> = (0..5_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                1_767_225_600_000 + (x % 3_600_000) as i64
            })
            .collect();
        let mut want: BTreeMap<i64, u64> = BTreeMap::new();
        for &t in &times {
            *want.entry(position(t * 1_000_000, interval_ns(iv))).or_default() += 1;
        }
        let mut sorted = times.clone();
        sorted.sort_unstable();
        for order in [times, sorted] {
            let span = (order.iter().min().copied().unwrap(), order.iter().max().copied().unwrap());
            let got: BTreeMap<i64, u64> =
                buckets(iv, span, &order).into_iter().map(|(pos, n, _)| (pos, n)).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn level_indices_follow_level_all() {
        for (i, l) in Level::ALL.into_iter().enumerate() {
            assert_eq!(level_index(l), i);
        }
    }
}
