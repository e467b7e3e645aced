//! One segment's [`Partial`] from its fast columns: the matching documents
//! come in blocks, each column is read for a whole block at once, and
//! records are counted by term ordinal, turned into names once at the end.

use std::collections::HashMap;
use std::fmt::Debug;

use tantivy::columnar::{Column, ColumnIndex, StrColumn};
use tantivy::{DateTime, DocId, SegmentReader};

use super::partial::{
    BUCKET_LIMIT, Bucket, MEMORY_LIMIT, Partial, Service, TooBig, interval_ns, position,
};
use super::times::{Keys, Times};
use crate::tantivy::schema::{ANOMALY, LEVEL, RESPONSE_TIME, SERVICE, TIMESTAMP};

/// Documents read per block.
pub(super) const BLOCK: usize = 1024;
/// Most histogram buckets a segment keeps in an array spanning its time
/// range; a wider one keeps only the buckets it meets (in a map).
const DENSE_BUCKETS: i64 = 1 << 17;

/// A column read a block at a time: a whole run of documents straight from
/// the values when every document has one, else each document's first.
struct Reader<T> {
    column: Column<T>,
    full: bool,
    values: Vec<T>,
    some: Vec<Option<T>>,
}

impl<T: PartialOrd + Copy + Debug + Send + Sync + 'static> Reader<T> {
    fn new(column: Column<T>) -> Reader<T> {
        let full = matches!(column.index, ColumnIndex::Full);
        Reader { column, full, values: Vec::with_capacity(BLOCK), some: Vec::new() }
    }

    /// Each document's value (`missing` where it has none), in `values`.
    /// `run`: `docs` are consecutive.
    fn read(&mut self, docs: &[DocId], run: bool, missing: T) {
        self.values.clear();
        self.values.resize(docs.len(), missing);
        if docs.is_empty() {
            return;
        }
        if self.full && run {
            self.column.values.get_range(u64::from(docs[0]), &mut self.values);
        } else if self.full {
            self.column.values.get_vals(docs, &mut self.values);
        } else {
            self.some.clear();
            self.some.resize(docs.len(), None);
            self.column.first_vals(docs, &mut self.some);
            for (v, s) in self.values.iter_mut().zip(&self.some) {
                *v = s.unwrap_or(missing);
            }
        }
    }
}

/// A term ordinal no document has: the document has no value.
const NO_TERM: u64 = u64::MAX;

/// The histogram of one segment: per bucket its records, anomalies and
/// records per level ordinal, `stride` counters in a row. Buckets of the
/// dense span come first (slot = position - base); any other position gets
/// a slot of its own at the end.
struct Histogram {
    interval_ns: f64,
    base: i64,
    dense: usize,
    stride: usize,
    counts: Vec<u64>,
    other: HashMap<i64, usize>,
}

impl Histogram {
    fn new(interval_ms: i64, ts: &Column<DateTime>, levels: usize) -> Histogram {
        let interval_ns = interval_ns(interval_ms);
        let pos = |t: DateTime| position(t.into_timestamp_nanos(), interval_ns);
        let (base, top) = (pos(ts.min_value()), pos(ts.max_value()));
        let span = top.saturating_sub(base).saturating_add(1);
        let dense = if (1..=DENSE_BUCKETS).contains(&span) { span as usize } else { 0 };
        let stride = 2 + levels;
        Histogram {
            interval_ns,
            base,
            dense,
            stride,
            counts: vec![0; dense * stride],
            other: HashMap::new(),
        }
    }

    /// The first counter of the bucket at `pos` (see [`position`]).
    #[inline]
    fn row(&mut self, pos: i64) -> Result<usize, TooBig> {
        let slot = pos.wrapping_sub(self.base) as u64;
        if slot < self.dense as u64 {
            return Ok(slot as usize * self.stride);
        }
        if let Some(slot) = self.other.get(&pos) {
            return Ok(*slot * self.stride);
        }
        // Every non-empty bucket is one of the answer's.
        if self.other.len() >= BUCKET_LIMIT {
            return Err(TooBig::Buckets);
        }
        let slot = self.counts.len() / self.stride;
        self.other.insert(pos, slot);
        self.counts.resize(self.counts.len() + self.stride, 0);
        Ok(slot * self.stride)
    }

    /// The bucket position of a record at `ns`.
    #[inline]
    fn position(&self, ns: i64) -> i64 {
        position(ns, self.interval_ns)
    }

    /// Each bucket's records, anomalies and records per level ordinal,
    /// summed over the buckets: `stride` counters.
    fn totals(&self) -> Vec<u64> {
        let mut out = vec![0; self.stride];
        for row in self.counts.chunks_exact(self.stride) {
            for (o, n) in out.iter_mut().zip(row) {
                *o += n;
            }
        }
        out
    }

    /// The non-empty buckets by position, levels as `levels` maps them.
    fn buckets(&self, levels: &[usize], names: usize) -> Vec<Bucket> {
        let bucket = |pos: i64, row: &[u64]| Bucket {
            pos,
            count: row[0],
            anomalies: row[1],
            levels: {
                let mut out = vec![0; names];
                for (ord, n) in row[2..].iter().enumerate().filter(|(_, n)| **n > 0) {
                    out[levels[ord]] += n;
                }
                out
            },
        };
        let rows = self.counts.chunks_exact(self.stride);
        let mut out: Vec<Bucket> = rows
            .clone()
            .take(self.dense)
            .enumerate()
            .filter(|(_, row)| row[0] > 0)
            .map(|(slot, row)| bucket(self.base + slot as i64, row))
            .collect();
        out.extend(self.other.iter().map(|(pos, slot)| {
            let row = &self.counts[slot * self.stride..(slot + 1) * self.stride];
            bucket(*pos, row)
        }));
        out.sort_unstable_by_key(|b| b.pos);
        out
    }
}

/// Counts one segment's matching records; [`SegmentStats::collect`] takes
/// them a block at a time, [`SegmentStats::finish`] names what it counted.
pub(super) struct SegmentStats {
    ts: Reader<DateTime>,
    service: Option<(StrColumn, Reader<u64>)>,
    level: Option<(StrColumn, Reader<u64>)>,
    anomaly: Option<Reader<u64>>,
    /// Response times, when percentiles were asked for.
    rt: Option<Reader<f64>>,
    histogram: Option<Histogram>,
    count: u64,
    anomalies: u64,
    level_counts: Vec<u64>,
    service_counts: Vec<u64>,
    /// Per service ordinal, when percentiles were asked for.
    times: Vec<Option<Times>>,
    keys: Keys,
    /// Anomalies and records per level are summed from the histogram in
    /// [`SegmentStats::finish`], not counted apart: there is a histogram
    /// and every document has a timestamp, so every record is in it.
    totals_from_histogram: bool,
    /// Records per service are those of `times`, not counted apart: every
    /// document has a response time, so every record is in `times`.
    services_from_times: bool,
    /// The first error met; the block it was met in is not counted further.
    error: Option<TooBig>,
}

impl SegmentStats {
    pub fn new(
        reader: &SegmentReader,
        interval_ms: Option<i64>,
        percentiles: bool,
    ) -> tantivy::Result<SegmentStats> {
        let ff = reader.fast_fields();
        let ts = ff.date(TIMESTAMP)?;
        let terms = |name: &str| -> tantivy::Result<Option<(StrColumn, Reader<u64>)>> {
            Ok(ff.str(name)?.map(|c| {
                let ords = Reader::new(c.ords().clone());
                (c, ords)
            }))
        };
        let (service, level) = (terms(SERVICE)?, terms(LEVEL)?);
        let n_terms =
            |c: &Option<(StrColumn, Reader<u64>)>| c.as_ref().map_or(0, |c| c.0.num_terms());
        let (services, levels) = (n_terms(&service), n_terms(&level));
        let rt =
            if percentiles { ff.column_opt::<f64>(RESPONSE_TIME)?.map(Reader::new) } else { None };
        let histogram = interval_ms.map(|iv| Histogram::new(iv, &ts, levels));
        let ts = Reader::new(ts);
        Ok(SegmentStats {
            totals_from_histogram: histogram.is_some() && ts.full,
            services_from_times: rt.as_ref().is_some_and(|r| r.full),
            histogram,
            ts,
            service,
            level,
            anomaly: ff.column_opt::<u64>(ANOMALY)?.map(Reader::new),
            rt,
            count: 0,
            anomalies: 0,
            level_counts: vec![0; levels],
            service_counts: vec![0; services],
            times: if percentiles { (0..services).map(|_| None).collect() } else { Vec::new() },
            keys: Keys::new(),
            error: None,
        })
    }

    /// Counts `docs` (matching, alive, ascending); `run`: they are
    /// consecutive.
    pub fn collect(&mut self, docs: &[DocId], run: bool) {
        if self.error.is_some() || docs.is_empty() {
            return;
        }
        self.count += docs.len() as u64;
        let none: &[u64] = &[];
        let service = self.service.as_mut().map(|(_, r)| {
            r.read(docs, run, NO_TERM);
            &r.values[..]
        });
        let level = self.level.as_mut().map(|(_, r)| {
            r.read(docs, run, NO_TERM);
            &r.values[..]
        });
        let anomaly = self.anomaly.as_mut().map(|r| {
            r.read(docs, run, 0);
            &r.values[..]
        });
        let (service, level, anomaly) =
            (service.unwrap_or(none), level.unwrap_or(none), anomaly.unwrap_or(none));
        if !self.services_from_times {
            for &ord in service {
                if let Some(n) = self.service_counts.get_mut(ord as usize) {
                    *n += 1;
                }
            }
        }
        if !self.totals_from_histogram {
            for &ord in level {
                if let Some(n) = self.level_counts.get_mut(ord as usize) {
                    *n += 1;
                }
            }
            self.anomalies += anomaly.iter().sum::<u64>();
        }
        if let Some(h) = &mut self.histogram {
            self.ts.read(docs, run, DateTime::MIN);
            let levels = h.stride - 2;
            // The whole block in one bucket (positions are monotone in
            // time): counted at once.
            let ns = |t: &DateTime| t.into_timestamp_nanos();
            let one = self.ts.full.then(|| {
                let (lo, hi) = self
                    .ts
                    .values
                    .iter()
                    .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(ns(t)), hi.max(ns(t))));
                (h.position(lo), h.position(hi))
            });
            if let Some((pos, last)) = one
                && pos == last
            {
                let row = match h.row(pos) {
                    Ok(row) => row,
                    Err(e) => {
                        self.error = Some(e);
                        return;
                    }
                };
                let counts = &mut h.counts[row..row + h.stride];
                counts[0] += docs.len() as u64;
                counts[1] += anomaly.iter().sum::<u64>();
                let per_level = &mut counts[2..];
                for &o in level {
                    if (o as usize) < levels {
                        per_level[o as usize] += 1;
                    }
                }
            } else {
                for (i, t) in self.ts.values.iter().enumerate() {
                    if *t == DateTime::MIN && self.ts.column.first(docs[i]).is_none() {
                        continue;
                    }
                    let row = match h.row(h.position(ns(t))) {
                        Ok(row) => row,
                        Err(e) => {
                            self.error = Some(e);
                            return;
                        }
                    };
                    let counts = &mut h.counts[row..row + h.stride];
                    counts[0] += 1;
                    counts[1] += anomaly.get(i).copied().unwrap_or(0);
                    if let Some(&o) = level.get(i)
                        && (o as usize) < levels
                    {
                        counts[2 + o as usize] += 1;
                    }
                }
            }
        }
        if let Some(rt) = &mut self.rt {
            rt.read(docs, run, f64::NAN);
            for (i, v) in rt.values.iter().enumerate() {
                if v.is_nan() && rt.column.first(docs[i]).is_none() {
                    continue;
                }
                let Some(&ord) = service.get(i) else { continue };
                if let Some(times) = self.times.get_mut(ord as usize) {
                    times.get_or_insert_with(Times::new).add(&mut self.keys, *v);
                }
            }
        }
    }

    /// What was counted, by name.
    pub fn finish(self) -> tantivy::Result<Result<Partial, TooBig>> {
        if let Some(e) = self.error {
            return Ok(Err(e));
        }
        let (mut anomalies, mut level_counts) = (self.anomalies, self.level_counts);
        if let (true, Some(h)) = (self.totals_from_histogram, &self.histogram) {
            let totals = h.totals();
            anomalies = totals[1];
            level_counts = totals[2..].to_vec();
        }
        let mut service_counts = self.service_counts;
        if self.services_from_times {
            for (n, t) in service_counts.iter_mut().zip(&self.times) {
                *n = t.as_ref().map_or(0, |t| t.count);
            }
        }
        let mut name = String::new();
        let mut names = |column: &StrColumn, ord: usize| -> tantivy::Result<String> {
            name.clear();
            column.ord_to_str(ord as u64, &mut name)?;
            Ok(name.clone())
        };
        // Levels with records, and each level ordinal's index among them.
        let mut levels = Vec::new();
        let mut counts = Vec::new();
        let mut level_index = vec![0; level_counts.len()];
        if let Some((column, _)) = &self.level {
            for (ord, n) in level_counts.iter().enumerate().filter(|(_, n)| **n > 0) {
                level_index[ord] = levels.len();
                levels.push(names(column, ord)?);
                counts.push(*n);
            }
        }
        let mut services = Vec::new();
        let mut times = self.times;
        if let Some((column, _)) = &self.service {
            for (ord, n) in service_counts.iter().enumerate().filter(|(_, n)| **n > 0) {
                let times = times.get_mut(ord).and_then(Option::take);
                services.push(Service {
                    name: names(column, ord)?,
                    count: *n,
                    timed: times.as_ref().map_or(0, |t| t.count),
                    times,
                });
            }
        }
        let buckets = self
            .histogram
            .as_ref()
            .map_or_else(Vec::new, |h| h.buckets(&level_index, levels.len()));
        let p = Partial {
            count: self.count,
            anomalies,
            levels,
            level_counts: counts,
            services,
            buckets,
        };
        if p.bytes() > MEMORY_LIMIT {
            return Ok(Err(TooBig::Memory));
        }
        Ok(Ok(p))
    }
}
