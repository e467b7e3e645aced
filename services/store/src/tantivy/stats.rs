//! Stats through Tantivy's aggregations on fast fields (no documents are
//! loaded), with each segment's partial result kept for the next request of
//! the same shape ([`StatsCache`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use loglens_core::query::{HistogramBucket, Percentiles};
use loglens_core::{Stats, StatsRequest};
use serde_json::json;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::agg_result::{
    AggregationResult, AggregationResults, BucketEntry, BucketResult, MetricResult,
};
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;
use tantivy::aggregation::{
    AggContextParams, AggregationCollector, AggregationError, AggregationLimitsGuard, Key,
};
use tantivy::collector::{Collector, Count, SegmentCollector};
use tantivy::index::SegmentId;
use tantivy::query::Weight;
use tantivy::tokenizer::{TextAnalyzer, TokenizerManager};
use tantivy::{Searcher, SegmentOrdinal, SegmentReader, TantivyError};

use super::backend;
use super::query::filter_query;
use super::schema::{ANOMALY, Fields, IS_ERROR, SERVICE, TIMESTAMP};
use crate::shared::aggs::{self, Counters, MAX_SERVICES};
use crate::{Error, Result};

/// Most buckets one request may produce (histogram plus terms).
const BUCKET_LIMIT: u32 = 100_000;

/// The aggregation request for `req`. Records of a kind are counted as the
/// `sum` of a 0/1 column; every segment reports all its services.
fn request(req: &StatsRequest) -> Result<Aggregations> {
    let counters = Counters {
        anomalies: json!({ "sum": { "field": ANOMALY } }),
        errors: json!({ "sum": { "field": IS_ERROR } }),
    };
    let mut aggs = aggs::aggregations(req, &counters);
    aggs[aggs::SERVICES]["terms"]["segment_size"] = json!(MAX_SERVICES);
    serde_json::from_value(aggs)
        .map_err(|e| Error::Backend(format!("stats request does not build: {e}")))
}

/// Aggregates the records matching the request's filter, selected by the
/// same query a search runs. Segments the request's time range covers whole
/// are answered from `cache` when it holds them.
pub(crate) fn stats(
    searcher: &Searcher,
    fields: &Fields,
    mut analyzer: TextAnalyzer,
    req: &StatsRequest,
    cache: &StatsCache,
) -> Result<Stats> {
    let query = filter_query(fields, &mut analyzer, &req.filter);
    let limits = AggregationLimitsGuard::new(None, Some(BUCKET_LIMIT));
    let aggs = AggregationCollector::from_aggs(
        request(req)?,
        AggContextParams::new(limits, TokenizerManager::default()),
    );
    let collector = Cached { inner: (Count, aggs), cache, shape: Shape::of(req)?, req };
    let (total, results) = searcher.search(&*query, &collector).map_err(|e| match e {
        TantivyError::AggregationError(AggregationError::BucketLimitExceeded { .. }) => {
            aggs::too_big(&format!("stats would have more than {BUCKET_LIMIT} buckets"))
        }
        TantivyError::AggregationError(AggregationError::MemoryExceeded { .. }) => {
            aggs::too_big("stats need too much memory")
        }
        other => backend(other),
    })?;
    Ok(parse(total as u64, results))
}

/// Segments with fewer live records than this are always aggregated afresh:
/// they are cheap, and the newest ones are merged away within seconds.
pub(crate) const MIN_CACHED_DOCS: u32 = 4_096;

/// Per-segment partial stats (record count and Tantivy's intermediate
/// aggregation results), kept for requests of the same shape.
///
/// A segment's partial result depends on its documents, its deletions and
/// the request. Segments are immutable and deletions only grow, so the key
/// is (segment id, deleted count, shape), where the shape is the request
/// without its time range: an entry is only used, and only stored, for a
/// segment whose every timestamp lies inside the request's range, where the
/// range selects all of it whatever its bounds. That is the case a
/// dashboard refreshing "the last 24 hours" meets on every segment but the
/// oldest, and the histogram's buckets are aligned to its interval, not to
/// the range, so the partial result is the same. Entries of merged-away
/// segments age out (least recently used first) within the byte bound,
/// which is an estimate of the results' heap size.
pub(crate) struct StatsCache {
    entries: parking_lot::Mutex<Entries>,
    max_bytes: usize,
    hits: AtomicU64,
}

struct Entries {
    lru: lru::LruCache<CacheKey, Partial>,
    bytes: usize,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    segment: SegmentId,
    deleted: u32,
    shape: Shape,
}

/// A stats request without its time range, as JSON.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Shape(Arc<str>);

impl Shape {
    fn of(req: &StatsRequest) -> Result<Shape> {
        let filter =
            loglens_core::Filter { from_timestamp: None, to_timestamp: None, ..req.filter.clone() };
        let filter = serde_json::to_string(&filter)
            .map_err(|e| Error::Backend(format!("stats filter does not serialize: {e}")))?;
        let shape = format!(
            "{filter} histogram={:?} percentiles={}",
            req.histogram_interval_ms, req.include_percentiles
        );
        Ok(Shape(shape.into()))
    }
}

#[derive(Clone)]
struct Partial {
    count: usize,
    aggs: IntermediateAggregationResults,
    bytes: usize,
}

impl StatsCache {
    pub(crate) fn new(max_bytes: usize) -> StatsCache {
        StatsCache {
            entries: parking_lot::Mutex::new(Entries { lru: lru::LruCache::unbounded(), bytes: 0 }),
            max_bytes,
            hits: AtomicU64::new(0),
        }
    }

    /// Segments answered from the cache so far.
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    fn get(&self, key: &CacheKey) -> Option<Partial> {
        let hit = self.entries.lock().lru.get(key).cloned();
        if hit.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// Keeps `partial`, dropping the least recently used entries beyond the
    /// bound; an entry over a quarter of the bound is not kept at all.
    fn put(&self, key: CacheKey, partial: Partial) {
        if partial.bytes > self.max_bytes / 4 {
            return;
        }
        let mut e = self.entries.lock();
        e.bytes += partial.bytes;
        if let Some(old) = e.lru.put(key, partial) {
            e.bytes -= old.bytes;
        }
        while e.bytes > self.max_bytes {
            let Some((_, old)) = e.lru.pop_lru() else { break };
            e.bytes -= old.bytes;
        }
    }
}

/// Estimated heap size of one segment's partial result: per histogram
/// bucket (with its level terms and counters) about 1 KiB, per service 256
/// bytes, and 4 KiB more for its percentile sketch.
fn estimate_bytes(req: &StatsRequest, span_ms: i64, services: u64) -> usize {
    let buckets = req.histogram_interval_ms.map_or(0, |iv| span_ms / iv.max(1) + 1) as usize;
    let per_service = if req.include_percentiles { 256 + 4096 } else { 256 };
    1024 + buckets * 1024 + services as usize * per_service
}

/// Wraps the stats collector: a segment the request's time range covers
/// whole is looked up in the cache first and stored there after.
struct Cached<'a> {
    inner: (Count, AggregationCollector),
    cache: &'a StatsCache,
    shape: Shape,
    req: &'a StatsRequest,
}

type Child = <(Count, AggregationCollector) as Collector>::Child;
type SegmentFruit = <Child as SegmentCollector>::Fruit;

impl Cached<'_> {
    /// The segment's key and estimated entry size, when it may be cached.
    fn key(&self, reader: &SegmentReader) -> tantivy::Result<Option<(CacheKey, usize)>> {
        if self.cache.max_bytes == 0 || reader.num_docs() < MIN_CACHED_DOCS {
            return Ok(None);
        }
        let ts = reader.fast_fields().date(TIMESTAMP)?;
        let (lo, hi) =
            (ts.min_value().into_timestamp_millis(), ts.max_value().into_timestamp_millis());
        let f = &self.req.filter;
        let covered = f.from_timestamp.is_none_or(|from| from <= lo)
            && f.to_timestamp.is_none_or(|to| hi <= to);
        if !covered {
            return Ok(None);
        }
        let services = reader.fast_fields().str(SERVICE)?.map_or(0, |c| c.num_terms() as u64);
        let key = CacheKey {
            segment: reader.segment_id(),
            deleted: reader.num_deleted_docs(),
            shape: self.shape.clone(),
        };
        Ok(Some((key, estimate_bytes(self.req, hi - lo, services))))
    }
}

impl Collector for Cached<'_> {
    type Fruit = <(Count, AggregationCollector) as Collector>::Fruit;
    type Child = Child;

    fn for_segment(&self, ord: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<Child> {
        self.inner.for_segment(ord, reader)
    }

    fn requires_scoring(&self) -> bool {
        self.inner.requires_scoring()
    }

    fn merge_fruits(&self, fruits: Vec<SegmentFruit>) -> tantivy::Result<Self::Fruit> {
        self.inner.merge_fruits(fruits)
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentFruit> {
        let key = self.key(reader)?;
        if let Some(hit) = key.as_ref().and_then(|(k, _)| self.cache.get(k)) {
            return Ok((hit.count, Ok(hit.aggs)));
        }
        let (count, aggs) = self.inner.collect_segment(weight, ord, reader)?;
        if let (Some((key, bytes)), Ok(aggs)) = (key, &aggs) {
            self.cache.put(key, Partial { count, aggs: aggs.clone(), bytes });
        }
        Ok((count, aggs))
    }
}

/// Turns the aggregation results into [`Stats`].
fn parse(total: u64, mut results: AggregationResults) -> Stats {
    let mut stats = Stats { total_logs: total, ..Stats::default() };
    for b in terms(results.0.remove(aggs::SERVICES)) {
        let service = key_string(&b.key);
        if let Some(p) = percentiles(&b.sub_aggregation) {
            stats.response_time_percentiles.insert(service.clone(), p);
        }
        stats.services.insert(service, b.doc_count);
    }
    stats.levels = level_counts(results.0.get(aggs::LEVELS));
    stats.error_count = stats.levels.get(loglens_core::Level::Error.as_str()).copied().unwrap_or(0);
    stats.anomaly_count = metric(&results, aggs::ANOMALIES) as u64;
    if let Some(AggregationResult::BucketResult(BucketResult::Histogram { buckets })) =
        results.0.remove(aggs::HISTOGRAM)
    {
        stats.histogram = buckets
            .iter()
            .map(|b| HistogramBucket {
                start: key_f64(&b.key) as i64,
                count: b.doc_count,
                anomaly_count: metric(&b.sub_aggregation, aggs::ANOMALIES) as u64,
                error_count: metric(&b.sub_aggregation, aggs::ERRORS) as u64,
                levels: level_counts(b.sub_aggregation.0.get(aggs::BUCKET_LEVELS)),
            })
            .collect();
        stats.histogram.sort_by_key(|b| b.start);
    }
    stats
}

/// Records per level of a terms result on `level`; levels without records
/// are left out.
fn level_counts(result: Option<&AggregationResult>) -> BTreeMap<String, u64> {
    let Some(AggregationResult::BucketResult(BucketResult::Terms { buckets, .. })) = result else {
        return BTreeMap::new();
    };
    buckets.iter().filter(|b| b.doc_count > 0).map(|b| (key_string(&b.key), b.doc_count)).collect()
}

/// The buckets of a terms result (none if absent).
fn terms(result: Option<AggregationResult>) -> impl Iterator<Item = BucketEntry> {
    let buckets = match result {
        Some(AggregationResult::BucketResult(BucketResult::Terms { buckets, .. })) => buckets,
        _ => Vec::new(),
    };
    buckets.into_iter()
}

/// A single-value metric, rounded; 0 when missing or empty.
fn metric(results: &AggregationResults, name: &str) -> f64 {
    let value = match results.0.get(name) {
        Some(AggregationResult::MetricResult(
            MetricResult::Sum(m)
            | MetricResult::Count(m)
            | MetricResult::Average(m)
            | MetricResult::Max(m)
            | MetricResult::Min(m),
        )) => m.value,
        _ => None,
    };
    value.filter(|v| v.is_finite()).unwrap_or(0.0).round()
}

/// p50/p95/p99 of a service bucket; `None` when no record had a response
/// time. The values are read as the JSON they serialize to (NaN, for no
/// values, becomes null), the shape the shared reader knows.
fn percentiles(sub: &AggregationResults) -> Option<Percentiles> {
    let count = metric(sub, aggs::RESPONSE_TIME_COUNT) as u64;
    let Some(AggregationResult::MetricResult(MetricResult::Percentiles(p))) =
        sub.0.get(aggs::RESPONSE_TIMES)
    else {
        return None;
    };
    aggs::percentiles(count, &serde_json::to_value(&p.values).unwrap_or_default())
}

fn key_string(key: &Key) -> String {
    match key {
        Key::Str(s) => s.clone(),
        Key::I64(v) => v.to_string(),
        Key::U64(v) => v.to_string(),
        Key::F64(v) => v.to_string(),
    }
}

fn key_f64(key: &Key) -> f64 {
    match key {
        Key::F64(v) => *v,
        Key::I64(v) => *v as f64,
        Key::U64(v) => *v as f64,
        Key::Str(s) => s.parse().unwrap_or(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(shape: &str) -> CacheKey {
        CacheKey { segment: SegmentId::generate_random(), deleted: 0, shape: Shape(shape.into()) }
    }

    fn partial(bytes: usize) -> Partial {
        Partial { count: 1, aggs: IntermediateAggregationResults::default(), bytes }
    }

    #[test]
    fn the_cache_keeps_within_its_bound_dropping_the_least_recently_used() {
        let cache = StatsCache::new(10_000);
        let keys: Vec<CacheKey> = (0..4).map(|i| key(&format!("s{i}"))).collect();
        for k in &keys[..3] {
            cache.put(k.clone(), partial(2_500));
        }
        assert!(cache.get(&keys[0]).is_some(), "the first is used again");
        cache.put(keys[3].clone(), partial(2_500));
        cache.put(key("s4"), partial(2_500));
        assert!(cache.get(&keys[0]).is_some());
        assert!(cache.get(&keys[1]).is_none(), "the least recently used went first");
        assert_eq!(cache.entries.lock().bytes, 10_000);
        // More than a quarter of the bound is not kept at all.
        cache.put(key("big"), partial(2_501));
        assert_eq!(cache.entries.lock().lru.len(), 4);
        assert_eq!(cache.hits(), 2);
        // Off: nothing is kept.
        let off = StatsCache::new(0);
        off.put(keys[0].clone(), partial(1));
        assert!(off.get(&keys[0]).is_none());
    }

    #[test]
    fn the_shape_leaves_out_only_the_time_range() {
        let req = |from, service: &str, interval| StatsRequest {
            filter: loglens_core::Filter {
                from_timestamp: Some(from),
                to_timestamp: Some(from + 1000),
                service_name: Some(service.into()),
                ..loglens_core::Filter::default()
            },
            histogram_interval_ms: Some(interval),
            include_percentiles: false,
        };
        let shape = |r| Shape::of(&r).unwrap();
        assert!(shape(req(1, "a", 60_000)) == shape(req(99, "a", 60_000)));
        assert!(shape(req(1, "a", 60_000)) != shape(req(1, "b", 60_000)));
        assert!(shape(req(1, "a", 60_000)) != shape(req(1, "a", 60_001)));
        let with_pctl = StatsRequest { include_percentiles: true, ..req(1, "a", 60_000) };
        assert!(shape(req(1, "a", 60_000)) != shape(with_pctl));
    }
}
