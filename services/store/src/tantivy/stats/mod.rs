//! Stats straight from the fast columns (no documents are loaded): a
//! collector of our own counts each segment's matching records into a
//! [`Partial`] ([`collect`]), kept for the next request of the same shape
//! ([`StatsCache`]), and the partials are merged into the answer
//! ([`partial`]). The answers are those Tantivy's aggregations gave (the
//! request both backends send is in `shared::aggs`); the aggregations took
//! 0.5-1.1 s at 10M records for a request of a new shape.

use std::sync::Arc;

use loglens_core::{Filter, Stats, StatsRequest};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::index::SegmentId;
use tantivy::query::Weight;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocId, Score, Searcher, SegmentOrdinal, SegmentReader, Term};

use self::collect::{BLOCK, SegmentStats};
use self::partial::{Merged, Partial, TooBig};
use super::backend;
use super::query::filter_query;
use super::schema::{Fields, TIMESTAMP};
use crate::shared::bounded::BoundedLru;
use crate::{Error, Result};

mod collect;
pub(crate) mod partial;
#[cfg(test)]
mod tests;
pub(crate) mod times;

/// Counts the records matching the request's filter, selected by the same
/// query a search runs. Segments the request's time range covers whole are
/// answered from `cache` when it holds them.
pub(crate) fn stats(
    searcher: &Searcher,
    fields: &Fields,
    mut analyzer: TextAnalyzer,
    req: &StatsRequest,
    cache: &StatsCache,
) -> Result<Stats> {
    let query = filter_query(fields, &mut analyzer, &req.filter);
    let tenant = req.filter.tenant.as_deref().map(|t| fields.tenant_term(t));
    let collector = Cached { cache, shape: Shape::of(req)?, req, tenant };
    let merged = searcher.search(&*query, &collector).map_err(backend)?;
    Ok(merged.and_then(|m| m.into_stats(req.histogram_interval_ms))?)
}

/// Segments with fewer live records than this are always counted afresh:
/// they are cheap, and the newest ones are merged away within seconds.
pub(crate) const MIN_CACHED_DOCS: u32 = 4_096;

/// Partial stats ([`Partial`]) per unit of records, a Tantivy segment or a
/// hybrid block ([`Unit`]), kept for requests of the same shape.
///
/// A unit's partial result depends on its records, its deletions and the
/// request. Units are immutable and deletions only grow, so the key is
/// (unit, deleted count, shape), where the shape is the request without
/// its time range: an entry is only used, and only stored, for a unit
/// whose every timestamp lies inside the request's range, where the range
/// selects all of it whatever its bounds. That is the case a dashboard
/// refreshing "the last 24 hours" meets on every unit but the oldest, and
/// the histogram's buckets are aligned to its interval, not to the range,
/// so the partial result is the same. Entries of merged-away segments age
/// out (least recently used first) within the byte bound, which is an
/// estimate of the partials' heap size.
pub(crate) type StatsCache = BoundedLru<CacheKey, Arc<Partial>>;

/// An entry's key: see [`StatsCache`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    unit: Unit,
    deleted: u32,
    shape: Shape,
}

impl CacheKey {
    /// The key of `unit`'s partial with `deleted` of its records deleted,
    /// for requests of `shape`.
    pub(crate) fn new(unit: Unit, deleted: u32, shape: Shape) -> CacheKey {
        CacheKey { unit, deleted, shape }
    }
}

/// What a cached partial counts: records that never change but for
/// deletions.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Unit {
    /// A segment of the Tantivy store.
    Segment(SegmentId),
    /// A block of the hybrid store, by its first sequence number and its
    /// checksum.
    Block {
        /// The block's first sequence number.
        first_seq: u64,
        /// The checksum of its bytes.
        checksum: u64,
    },
}

/// A stats request without its time range, as JSON.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Shape(Arc<str>);

impl Shape {
    /// The shape of `req`.
    pub(crate) fn of(req: &StatsRequest) -> Result<Shape> {
        let filter = Filter { from_timestamp: None, to_timestamp: None, ..req.filter.clone() };
        let filter = serde_json::to_string(&filter)
            .map_err(|e| Error::Backend(format!("stats filter does not serialize: {e}")))?;
        let shape = format!(
            "{filter} histogram={:?} percentiles={}",
            req.histogram_interval_ms, req.include_percentiles
        );
        Ok(Shape(shape.into()))
    }
}

/// Whether the filter has no condition but its time range and tenant.
fn time_range_only(f: &Filter) -> bool {
    // Destructured so that a new filter field does not go unnoticed here.
    let Filter {
        service_name,
        level,
        status_code,
        anomaly,
        from_timestamp: _,
        to_timestamp: _,
        query,
        trace_id,
        request_id,
        host,
        user_id,
        error_code,
        tag,
        anomaly_reason,
        attributes,
        tenant: _,
    } = f;
    service_name.is_none()
        && level.is_none()
        && status_code.is_none()
        && anomaly.is_none()
        && query.is_none()
        && trace_id.is_none()
        && request_id.is_none()
        && host.is_none()
        && user_id.is_none()
        && error_code.is_none()
        && tag.is_none()
        && anomaly_reason.is_none()
        && attributes.is_empty()
}

/// The stats collector: counts each segment into a [`Partial`], looking a
/// segment the request's time range covers whole up in the cache first and
/// storing it there after.
struct Cached<'a> {
    cache: &'a StatsCache,
    shape: Shape,
    req: &'a StatsRequest,
    /// The term of the tenant the filter names.
    tenant: Option<Term>,
}

/// A segment's stats, or why there are none.
type SegmentFruit = Result<Arc<Partial>, TooBig>;

impl Cached<'_> {
    /// Whether every timestamp of the segment lies in the request's range.
    fn covers(&self, reader: &SegmentReader) -> tantivy::Result<bool> {
        let ts = reader.fast_fields().date(TIMESTAMP)?;
        let (lo, hi) =
            (ts.min_value().into_timestamp_millis(), ts.max_value().into_timestamp_millis());
        let f = &self.req.filter;
        Ok(f.from_timestamp.is_none_or(|from| from <= lo)
            && f.to_timestamp.is_none_or(|to| hi <= to))
    }

    /// The segment's cache key, when it may be cached.
    fn key(&self, reader: &SegmentReader, covered: bool) -> Option<CacheKey> {
        (self.cache.enabled() && reader.num_docs() >= MIN_CACHED_DOCS && covered).then(|| {
            CacheKey {
                unit: Unit::Segment(reader.segment_id()),
                deleted: reader.num_deleted_docs(),
                shape: self.shape.clone(),
            }
        })
    }

    /// Whether every document of the segment is the filter's tenant's (as
    /// every one is when the filter names none). Deleted documents keep
    /// their postings, so a term on all `max_doc` documents is on every
    /// live one.
    fn whole_tenant(&self, reader: &SegmentReader) -> tantivy::Result<bool> {
        let Some(term) = &self.tenant else { return Ok(true) };
        Ok(reader.inverted_index(term.field())?.doc_freq(term)? == reader.max_doc())
    }

    /// Counts the segment's matching records: all its live documents when
    /// the filter is a time range covering it and a tenant that has them all
    /// (the REST and gRPC reads always name one), no query to run; else those
    /// `weight` matches.
    fn count(
        &self,
        weight: &dyn Weight,
        reader: &SegmentReader,
        covered: bool,
    ) -> tantivy::Result<SegmentFruit> {
        let mut seg = SegmentStats::new(
            reader,
            self.req.histogram_interval_ms,
            self.req.include_percentiles,
        )?;
        let alive = reader.alive_bitset();
        let mut docs: Vec<DocId> = Vec::with_capacity(BLOCK);
        let has_timestamp = reader.fast_fields().date(TIMESTAMP)?.index.get_cardinality()
            == tantivy::columnar::Cardinality::Full;
        if covered
            && has_timestamp
            && time_range_only(&self.req.filter)
            && self.whole_tenant(reader)?
        {
            let max = reader.max_doc();
            let mut start = 0;
            while start < max {
                let end = max.min(start + BLOCK as DocId);
                docs.clear();
                match alive {
                    None => docs.extend(start..end),
                    Some(a) => docs.extend((start..end).filter(|d| a.is_alive(*d))),
                }
                seg.collect(&docs, docs.len() == (end - start) as usize);
                start = end;
            }
        } else {
            weight.for_each_no_score(reader, &mut |block| {
                match alive {
                    None => docs.extend_from_slice(block),
                    Some(a) => docs.extend(block.iter().filter(|d| a.is_alive(**d))),
                }
                if docs.len() >= BLOCK {
                    seg.collect(&docs, false);
                    docs.clear();
                }
            })?;
            seg.collect(&docs, false);
        }
        Ok(seg.finish()?.map(Arc::new))
    }
}

/// Unused: [`Cached`] counts each segment itself (`collect_segment`), a
/// block of documents at a time; Tantivy asks for a child all the same.
struct NoChild;

impl SegmentCollector for NoChild {
    type Fruit = SegmentFruit;

    fn collect(&mut self, _doc: DocId, _score: Score) {}

    fn harvest(self) -> SegmentFruit {
        Ok(Arc::new(Partial::default()))
    }
}

impl Collector for Cached<'_> {
    type Fruit = Result<Merged, TooBig>;
    type Child = NoChild;

    fn for_segment(&self, _: SegmentOrdinal, _: &SegmentReader) -> tantivy::Result<NoChild> {
        Ok(NoChild)
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<SegmentFruit>) -> tantivy::Result<Self::Fruit> {
        let mut merged = Merged::default();
        for fruit in fruits {
            match fruit {
                Ok(p) => {
                    if let Err(e) = merged.add(&p) {
                        return Ok(Err(e));
                    }
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Ok(merged))
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentFruit> {
        let covered = self.covers(reader)?;
        let key = self.key(reader, covered);
        if let Some(hit) = key.as_ref().and_then(|k| self.cache.get(k)) {
            return Ok(Ok(hit));
        }
        let fruit = self.count(weight, reader, covered)?;
        if let (Some(key), Ok(partial)) = (key, &fruit) {
            self.cache.put(key, Arc::clone(partial), partial.bytes());
        }
        Ok(fruit)
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    fn key(shape: &str) -> CacheKey {
        let unit = Unit::Segment(SegmentId::generate_random());
        CacheKey { unit, deleted: 0, shape: Shape(shape.into()) }
    }

    #[test]
    fn a_stats_request_finds_what_an_earlier_one_kept() {
        let cache = StatsCache::new(10_000);
        let (a, b) = (key("a"), key("b"));
        cache.put(a.clone(), Arc::new(Partial::default()), 100);
        assert!(cache.get(&a).is_some());
        assert!(cache.get(&b).is_none());
        assert_eq!(cache.hits(), 1);
        assert!(!StatsCache::new(0).enabled());
    }

    #[test]
    fn the_shape_leaves_out_only_the_time_range() {
        let req = |from, service: &str, interval| StatsRequest {
            filter: Filter {
                from_timestamp: Some(from),
                to_timestamp: Some(from + 1000),
                service_name: Some(service.into()),
                ..Filter::default()
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
        assert!(!time_range_only(&req(1, "a", 1).filter));
        let range = Filter { from_timestamp: Some(1), to_timestamp: Some(2), ..Filter::default() };
        assert!(time_range_only(&range));
    }
}
