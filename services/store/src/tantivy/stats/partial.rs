//! Stats before they become [`Stats`]: one segment's ([`Partial`]) and the
//! sum of several ([`Merged`]). Pure, no index access. Records are counted
//! by name, histogram buckets are kept by position (see [`position`]) and
//! each service's response times are counted per bin of the sketch
//! Tantivy's percentiles aggregation uses ([`Times`]), with its
//! configuration, so merging is exact and the numbers are the ones the
//! aggregations gave. The sketch itself is made once per service, for the
//! answer: making one per segment or block cost a logarithm and an
//! exponential per bin, as much as counting the records themselves.

use std::collections::{BTreeMap, HashMap};

use loglens_core::Stats;
use loglens_core::query::{HistogramBucket, Percentiles};
use sketches_ddsketch::{Config, DDSketch};

use super::times::Times;
use crate::shared::aggs::{self, MAX_SERVICES, PERCENTS};

/// Most buckets one request may produce, counted as Tantivy's aggregations
/// counted them: one per service, per level, per histogram bucket and per
/// level within each histogram bucket.
pub(crate) const BUCKET_LIMIT: usize = 100_000;
/// Most bytes one request's partial stats may take (the limit Tantivy's
/// aggregations had).
pub(crate) const MEMORY_LIMIT: usize = 500_000_000;
/// The level whose records are a histogram bucket's errors.
const ERROR: &str = "ERROR";

/// Why a stats request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TooBig {
    /// It would have more than [`BUCKET_LIMIT`] buckets.
    Buckets,
    /// Its partial stats would take more than [`MEMORY_LIMIT`] bytes.
    Memory,
}

impl From<TooBig> for crate::Error {
    /// The client error the request gets (the same on both backends that
    /// count with [`Merged`]).
    fn from(e: TooBig) -> crate::Error {
        match e {
            TooBig::Buckets => {
                aggs::too_big(&format!("stats would have more than {BUCKET_LIMIT} buckets"))
            }
            TooBig::Memory => aggs::too_big("stats need too much memory"),
        }
    }
}

/// A new, empty response-time sketch.
pub(crate) fn sketch() -> DDSketch {
    DDSketch::new(Config::defaults())
}

/// A timestamp's histogram bucket: `floor(ns / interval_ns)`, in `f64` as
/// Tantivy's date histogram computes it (nanoseconds, interval in ms times
/// 1e6). Monotone in `ns`.
#[inline]
pub(crate) fn position(ns: i64, interval_ns: f64) -> i64 {
    floor(ns as f64 / interval_ns)
}

/// Timestamps (ms) that share the bucket `pos` of `ts` (which [`position`]
/// gave): `lo..hi`, holding `ts`. Both ends are checked with [`position`]
/// itself, so every timestamp between them is in `pos` (positions are
/// monotone); where an estimated end is off, the span shrinks to `ts`.
pub(crate) fn bucket_span(ts: i64, pos: i64, interval_ns: f64) -> (i64, i64) {
    let at = |ms: i64| position(ms.saturating_mul(1_000_000), interval_ns);
    let ms = interval_ns / 1_000_000.0;
    let first = (pos as f64 * ms) as i64;
    let lo = [first, first.saturating_add(1)]
        .into_iter()
        .find(|&t| t <= ts && at(t) == pos)
        .unwrap_or(ts);
    let last = ((pos + 1) as f64 * ms) as i64;
    let hi = [last, last.saturating_sub(1), last.saturating_sub(2)]
        .into_iter()
        .find(|&t| t >= ts && at(t) == pos)
        .unwrap_or(ts);
    (lo, hi.saturating_add(1))
}

/// `x.floor() as i64` for `x` within the range of `i64`, inlined: without
/// SSE4.1 `floor` is a call into libm, a tenth of the collector's time.
#[inline]
pub(crate) fn floor(x: f64) -> i64 {
    let t = x as i64;
    if (t as f64) > x { t - 1 } else { t }
}

/// The start, ms, Tantivy reported for the bucket at `pos`: computed in
/// `f64` and truncated, which is `pos * interval_ms` except that, far from
/// the epoch, an interval of an odd number of ms can come out 1 ms early.
pub(crate) fn bucket_start_ms(pos: i64, interval_ms: i64) -> i64 {
    (pos as f64 * (interval_ms as f64 * 1_000_000.0) / 1_000_000.0) as i64
}

/// The bucket width in ns, as [`position`] takes it.
pub(crate) fn interval_ns(interval_ms: i64) -> f64 {
    interval_ms as f64 * 1_000_000.0
}

/// One service's records and response times.
#[derive(Clone)]
pub(crate) struct Service {
    pub name: String,
    /// Its records.
    pub count: u64,
    /// Its records with a response time, all in `times`.
    pub timed: u64,
    /// Present when percentiles were asked for and a record had a
    /// response time; made a sketch once, for the answer.
    pub times: Option<Times>,
}

/// One non-empty histogram bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bucket {
    /// See [`position`].
    pub pos: i64,
    pub count: u64,
    pub anomalies: u64,
    /// Records per level, indexed like [`Partial::levels`].
    pub levels: Vec<u64>,
}

/// One segment's stats (cached per segment, see [`super::StatsCache`]).
#[derive(Clone, Default)]
pub(crate) struct Partial {
    /// Matching records.
    pub count: u64,
    pub anomalies: u64,
    /// Level names: the index of `level_counts` and of each bucket's levels.
    pub levels: Vec<String>,
    pub level_counts: Vec<u64>,
    /// Services with at least one record.
    pub services: Vec<Service>,
    /// Non-empty buckets, by position.
    pub buckets: Vec<Bucket>,
}

impl Partial {
    /// Estimated heap bytes.
    pub fn bytes(&self) -> usize {
        let levels: usize = self.levels.iter().map(|l| 32 + l.len()).sum();
        let services: usize = self
            .services
            .iter()
            .map(|s| 96 + s.name.len() + s.times.as_ref().map_or(0, Times::bytes))
            .sum();
        let buckets: usize = self.buckets.iter().map(|b| 64 + 8 * b.levels.len()).sum();
        128 + levels + services + buckets
    }
}

/// Partial stats summed; [`Merged::into_stats`] makes the answer.
#[derive(Default)]
pub(crate) struct Merged {
    count: u64,
    anomalies: u64,
    levels: Vec<String>,
    level_counts: Vec<u64>,
    services: HashMap<String, Service>,
    /// By position: records, anomalies, records per level.
    buckets: BTreeMap<i64, (u64, u64, Vec<u64>)>,
}

impl Merged {
    fn level(&mut self, name: &str) -> usize {
        match self.levels.iter().position(|l| l == name) {
            Some(i) => i,
            None => {
                self.levels.push(name.to_owned());
                self.level_counts.push(0);
                self.levels.len() - 1
            }
        }
    }

    /// Adds one segment's stats.
    pub fn add(&mut self, p: &Partial) -> Result<(), TooBig> {
        let to: Vec<usize> = p.levels.iter().map(|l| self.level(l)).collect();
        self.count += p.count;
        self.anomalies += p.anomalies;
        for (i, n) in p.level_counts.iter().enumerate() {
            self.level_counts[to[i]] += n;
        }
        for s in &p.services {
            let m = self.services.entry(s.name.clone()).or_insert_with(|| Service {
                name: s.name.clone(),
                count: 0,
                timed: 0,
                times: None,
            });
            m.count += s.count;
            m.timed += s.timed;
            match (&mut m.times, &s.times) {
                (Some(mine), Some(theirs)) => mine.merge(theirs),
                (mine @ None, Some(theirs)) => *mine = Some(theirs.clone()),
                (_, None) => {}
            }
        }
        for b in &p.buckets {
            let (count, anomalies, levels) = self.buckets.entry(b.pos).or_default();
            *count += b.count;
            *anomalies += b.anomalies;
            for (i, n) in b.levels.iter().enumerate().filter(|(_, n)| **n > 0) {
                if levels.len() <= to[i] {
                    levels.resize(to[i] + 1, 0);
                }
                levels[to[i]] += n;
            }
        }
        // Every non-empty bucket is one of the answer's.
        if self.buckets.len() > BUCKET_LIMIT {
            return Err(TooBig::Buckets);
        }
        Ok(())
    }

    /// The answer: the `MAX_SERVICES` services with the most records (ties
    /// by name), levels and buckets with records only, histogram oldest
    /// first, percentiles of the services that had response times.
    pub fn into_stats(self, interval_ms: Option<i64>) -> Result<Stats, TooBig> {
        let names = &self.levels;
        let by_level = |counts: &[u64]| -> BTreeMap<String, u64> {
            counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| (names[i].clone(), *n))
                .collect()
        };
        let mut services: Vec<Service> = self.services.into_values().collect();
        if services.len() > MAX_SERVICES as usize {
            services.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
            services.truncate(MAX_SERVICES as usize);
        }
        let levels = by_level(&self.level_counts);
        let mut buckets = services.len() + levels.len();
        let mut histogram = Vec::with_capacity(self.buckets.len());
        for (pos, (count, anomalies, counts)) in self.buckets {
            let levels = by_level(&counts);
            buckets += 1 + levels.len();
            histogram.push(HistogramBucket {
                start: bucket_start_ms(pos, interval_ms.unwrap_or(1)),
                count,
                anomaly_count: anomalies,
                error_count: levels.get(ERROR).copied().unwrap_or(0),
                levels,
            });
        }
        if buckets > BUCKET_LIMIT {
            return Err(TooBig::Buckets);
        }
        let mut stats = Stats {
            total_logs: self.count,
            anomaly_count: self.anomalies,
            error_count: levels.get(ERROR).copied().unwrap_or(0),
            levels,
            histogram,
            ..Stats::default()
        };
        for s in services {
            if let (Some(times), true) = (s.times, s.timed > 0) {
                let sketch = times.into_sketch(&Config::defaults());
                stats
                    .response_time_percentiles
                    .insert(s.name.clone(), percentiles(&sketch, s.timed));
            }
            stats.services.insert(s.name, s.count);
        }
        Ok(stats)
    }
}

/// p50/p95/p99 of a sketch of `count` values, as Tantivy's percentiles
/// aggregation read them; a value the sketch cannot give reads as 0.
fn percentiles(sketch: &DDSketch, count: u64) -> Percentiles {
    let [p50, p95, p99] = PERCENTS.map(|p| {
        sketch.quantile(p / 100.0).ok().flatten().filter(|v| v.is_finite()).unwrap_or(0.0)
    });
    Percentiles { p50, p95, p99, count }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial(levels: &[&str], buckets: Vec<Bucket>) -> Partial {
        Partial {
            count: buckets.iter().map(|b| b.count).sum(),
            levels: levels.iter().map(|l| l.to_string()).collect(),
            level_counts: (0..levels.len())
                .map(|i| buckets.iter().map(|b| b.levels.get(i).copied().unwrap_or(0)).sum())
                .collect(),
            buckets,
            ..Partial::default()
        }
    }

    fn bucket(pos: i64, levels: &[u64]) -> Bucket {
        Bucket { pos, count: levels.iter().sum(), anomalies: 1, levels: levels.to_vec() }
    }

    #[test]
    fn merging_matches_levels_by_name_and_buckets_by_position() {
        let a = partial(&["INFO", "ERROR"], vec![bucket(1, &[2, 1]), bucket(3, &[1, 0])]);
        let b = partial(&["ERROR", "WARN"], vec![bucket(1, &[1, 0]), bucket(2, &[0, 4])]);
        let mut m = Merged::default();
        m.add(&a).unwrap();
        m.add(&b).unwrap();
        let s = m.into_stats(Some(60_000)).unwrap();
        assert_eq!(s.total_logs, 9);
        assert_eq!(
            s.levels,
            BTreeMap::from([("INFO".into(), 3), ("ERROR".into(), 2), ("WARN".into(), 4)])
        );
        assert_eq!(s.error_count, 2);
        let got: Vec<_> = s
            .histogram
            .iter()
            .map(|b| (b.start, b.count, b.error_count, b.anomaly_count))
            .collect();
        assert_eq!(got, [(60_000, 4, 2, 2), (120_000, 4, 0, 1), (180_000, 1, 0, 1)]);
        assert_eq!(s.histogram[1].levels, BTreeMap::from([("WARN".into(), 4)]));
    }

    #[test]
    fn too_many_buckets_are_refused() {
        let many: Vec<Bucket> = (0..BUCKET_LIMIT as i64 / 2).map(|p| bucket(p, &[1])).collect();
        let mut m = Merged::default();
        m.add(&partial(&["INFO"], many)).unwrap();
        // Each bucket with its one level is two: one more level is too many.
        assert_eq!(m.into_stats(Some(1000)).unwrap_err(), TooBig::Buckets);
        let mut m = Merged::default();
        let over: Vec<Bucket> = (0..=BUCKET_LIMIT as i64).map(|p| bucket(p, &[])).collect();
        assert_eq!(m.add(&partial(&[], over)), Err(TooBig::Buckets));
    }

    #[test]
    fn the_services_with_most_records_are_kept() {
        let services = (0..=MAX_SERVICES as u64)
            .map(|i| Service { name: format!("s{i:05}"), count: 1 + i % 7, timed: 0, times: None })
            .collect();
        let mut m = Merged::default();
        m.add(&Partial { services, ..Partial::default() }).unwrap();
        let s = m.into_stats(None).unwrap();
        assert_eq!(s.services.len(), MAX_SERVICES as usize);
        // The one left out has the fewest records and the last name among them.
        let left_out = (0..=MAX_SERVICES as u64).rev().find(|i| i % 7 == 0).unwrap();
        assert!(!s.services.contains_key(&format!("s{left_out:05}")));
    }

    #[test]
    fn starts_are_tantivys_f64_keys() {
        assert_eq!(bucket_start_ms(28_576_080, 60_000), 1_714_564_800_000);
        let iv = 60_001;
        for pos in [28_575_604_i64, 28_575_605, 28_575_606] {
            let start = bucket_start_ms(pos, iv);
            assert!((start - pos * iv).abs() <= 1, "{start} vs {}", pos * iv);
            // A record at the start falls in the bucket, one before it does not.
            let ns = start * 1_000_000;
            assert!(position(ns + 1_000_000, interval_ns(iv)) == pos);
        }
        assert_eq!(position(-1, interval_ns(1000)), -1, "floor, not truncation");
        for x in [0.0, -0.0, 0.5, -0.5, -1.0, 1.0, 2.9999, -2.0001, 1e15 + 0.5, -1e15 - 0.5] {
            assert_eq!(floor(x), x.floor() as i64, "{x}");
        }
    }
}
