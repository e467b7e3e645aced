//! The counting part of stats in one pass over fast columns: records per
//! service and per level, anomalies, and the time histogram with its
//! per-level counts. Tantivy's generic aggregations do the same work through
//! nested per-bucket collectors and cost several times more at 10M records
//! (a terms aggregation inside every histogram bucket); here a segment adds
//! into plain arrays indexed by its own term ordinals, and names are looked
//! up once per segment at harvest.

use std::collections::{BTreeMap, HashMap};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DateTime, DocId, Score, SegmentOrdinal, SegmentReader};

use super::schema::{ANOMALY, IS_ERROR, LEVEL, SERVICE, TIMESTAMP};

/// One histogram bucket's counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct BucketCounts {
    pub count: u64,
    pub anomalies: u64,
    pub errors: u64,
    /// Level name -> records; only levels with records.
    pub levels: BTreeMap<String, u64>,
}

/// What [`Counts`] collects.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Counted {
    pub services: HashMap<String, u64>,
    pub levels: BTreeMap<String, u64>,
    pub anomalies: u64,
    /// Bucket start (ms, a multiple of the interval) -> counts; only
    /// buckets with records.
    pub histogram: BTreeMap<i64, BucketCounts>,
}

/// Counts the matching records; with `interval_ms`, also per time bucket.
pub(crate) struct Counts {
    pub interval_ms: Option<i64>,
}

impl Collector for Counts {
    type Fruit = Counted;
    type Child = SegmentCounts;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let fast = reader.fast_fields();
        let services = fast.str(SERVICE)?;
        let levels = fast.str(LEVEL)?;
        let terms = |c: &Option<StrColumn>| c.as_ref().map_or(0, |c| c.num_terms());
        Ok(SegmentCounts {
            service_ords: services.as_ref().map(|c| c.ords().clone()),
            level_ords: levels.as_ref().map(|c| c.ords().clone()),
            per_service: vec![0; terms(&services)],
            per_level: vec![0; terms(&levels)],
            services,
            level_count: terms(&levels),
            levels,
            timestamps: match self.interval_ms {
                Some(_) => fast.column_opt::<DateTime>(TIMESTAMP)?,
                None => None,
            },
            anomaly: fast.column_opt::<u64>(ANOMALY)?,
            is_error: fast.column_opt::<u64>(IS_ERROR)?,
            interval_ms: self.interval_ms.unwrap_or(1).max(1),
            anomalies: 0,
            buckets: HashMap::new(),
            block: Block::default(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Counted>) -> tantivy::Result<Counted> {
        let mut all = Counted::default();
        for f in fruits {
            for (k, v) in f.services {
                *all.services.entry(k).or_default() += v;
            }
            for (k, v) in f.levels {
                *all.levels.entry(k).or_default() += v;
            }
            all.anomalies += f.anomalies;
            for (start, b) in f.histogram {
                let into = all.histogram.entry(start).or_default();
                into.count += b.count;
                into.anomalies += b.anomalies;
                into.errors += b.errors;
                for (k, v) in b.levels {
                    *into.levels.entry(k).or_default() += v;
                }
            }
        }
        Ok(all)
    }
}

/// One segment's tallies, by the segment's own term ordinals.
pub(crate) struct SegmentCounts {
    services: Option<StrColumn>,
    levels: Option<StrColumn>,
    service_ords: Option<Column<u64>>,
    level_ords: Option<Column<u64>>,
    timestamps: Option<Column<DateTime>>,
    anomaly: Option<Column<u64>>,
    is_error: Option<Column<u64>>,
    interval_ms: i64,
    level_count: usize,
    per_service: Vec<u64>,
    per_level: Vec<u64>,
    anomalies: u64,
    /// Bucket start -> [count, anomalies, errors, then one per level ordinal].
    buckets: HashMap<i64, Vec<u64>>,
    /// Buffers reused by [`SegmentCollector::collect_block`].
    block: Block,
}

/// One block's column values.
#[derive(Default)]
struct Block {
    services: Vec<Option<u64>>,
    levels: Vec<Option<u64>>,
    anomalies: Vec<Option<u64>>,
    errors: Vec<Option<u64>>,
    timestamps: Vec<Option<DateTime>>,
}

fn first_u64(column: &Option<Column<u64>>, doc: DocId) -> Option<u64> {
    column.as_ref().and_then(|c| c.first(doc))
}

/// Reads the first value of each doc of `docs` into `out` (None where the
/// doc has none, or the segment has no such column).
fn fill<T: PartialOrd + Copy + std::fmt::Debug + Send + Sync + 'static>(
    column: &Option<Column<T>>,
    docs: &[DocId],
    out: &mut Vec<Option<T>>,
) {
    out.clear();
    out.resize(docs.len(), None);
    if let Some(c) = column {
        c.first_vals(docs, out);
    }
}

impl SegmentCollector for SegmentCounts {
    type Fruit = Counted;

    /// A block at a time: each column is read for the whole block at once,
    /// which is what makes this cheaper than per-document reads.
    fn collect_block(&mut self, docs: &[DocId]) {
        let mut b = std::mem::take(&mut self.block);
        fill(&self.service_ords, docs, &mut b.services);
        fill(&self.level_ords, docs, &mut b.levels);
        fill(&self.anomaly, docs, &mut b.anomalies);
        for o in b.services.iter().flatten() {
            self.per_service[*o as usize] += 1;
        }
        for o in b.levels.iter().flatten() {
            self.per_level[*o as usize] += 1;
        }
        self.anomalies += b.anomalies.iter().flatten().sum::<u64>();
        if self.timestamps.is_some() {
            fill(&self.timestamps, docs, &mut b.timestamps);
            fill(&self.is_error, docs, &mut b.errors);
            let width = 3 + self.level_count;
            for i in 0..docs.len() {
                let Some(ts) = b.timestamps[i] else { continue };
                let start =
                    ts.into_timestamp_millis().div_euclid(self.interval_ms) * self.interval_ms;
                let bucket = self.buckets.entry(start).or_insert_with(|| vec![0; width]);
                bucket[0] += 1;
                bucket[1] += b.anomalies[i].unwrap_or(0);
                bucket[2] += b.errors[i].unwrap_or(0);
                if let Some(o) = b.levels[i] {
                    bucket[3 + o as usize] += 1;
                }
            }
        }
        self.block = b;
    }

    fn collect(&mut self, doc: DocId, _: Score) {
        if let Some(o) = first_u64(&self.service_ords, doc) {
            self.per_service[o as usize] += 1;
        }
        let level = first_u64(&self.level_ords, doc);
        if let Some(o) = level {
            self.per_level[o as usize] += 1;
        }
        let anomaly = first_u64(&self.anomaly, doc).unwrap_or(0);
        self.anomalies += anomaly;
        let Some(ts) = self.timestamps.as_ref().and_then(|c| c.first(doc)) else { return };
        let start = ts.into_timestamp_millis().div_euclid(self.interval_ms) * self.interval_ms;
        let width = 3 + self.level_count;
        let bucket = self.buckets.entry(start).or_insert_with(|| vec![0; width]);
        bucket[0] += 1;
        bucket[1] += anomaly;
        bucket[2] += first_u64(&self.is_error, doc).unwrap_or(0);
        if let Some(o) = level {
            bucket[3 + o as usize] += 1;
        }
    }

    fn harvest(self) -> Counted {
        let names = |column: &Option<StrColumn>, n: usize| -> Vec<String> {
            let mut out = Vec::with_capacity(n);
            for ord in 0..n as u64 {
                let mut s = String::new();
                if let Some(c) = column {
                    // An ordinal below num_terms always has a term.
                    let _ = c.ord_to_str(ord, &mut s);
                }
                out.push(s);
            }
            out
        };
        let service_names = names(&self.services, self.per_service.len());
        let level_names = names(&self.levels, self.level_count);
        let nonzero = |counts: &[u64], names: &[String]| {
            counts
                .iter()
                .zip(names)
                .filter(|(c, _)| **c > 0)
                .map(|(c, n)| (n.clone(), *c))
                .collect::<Vec<_>>()
        };
        let histogram = self
            .buckets
            .into_iter()
            .map(|(start, b)| {
                let levels = nonzero(&b[3..], &level_names).into_iter().collect();
                (start, BucketCounts { count: b[0], anomalies: b[1], errors: b[2], levels })
            })
            .collect();
        Counted {
            services: nonzero(&self.per_service, &service_names).into_iter().collect(),
            levels: nonzero(&self.per_level, &level_names).into_iter().collect(),
            anomalies: self.anomalies,
            histogram,
        }
    }
}
