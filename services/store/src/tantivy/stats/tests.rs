//! The direct collector against Tantivy's aggregations (how stats were
//! computed before it), on random records in several segments with
//! deletions: every filter, interval and percentile must come out the same.

use std::collections::BTreeMap;

use loglens_core::query::HistogramBucket;
use loglens_core::record::normalize;
use loglens_core::{Level, LogRecord, RawLog, RuleSet, StatusCode, TimestampInput};
use serde_json::json;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::agg_result::{
    AggregationResult, AggregationResults, BucketResult, MetricResult,
};
use tantivy::aggregation::{AggContextParams, AggregationCollector, AggregationLimitsGuard, Key};
use tantivy::collector::Count;
use tantivy::indexer::NoMergePolicy;
use tantivy::query::RangeQuery;
use tantivy::tokenizer::TokenizerManager;
use tantivy::{DateTime, Index, Term};

use super::partial::BUCKET_LIMIT;
use super::*;
use crate::shared::aggs::{self, Counters, MAX_SERVICES};
use crate::tantivy::schema::{ANOMALY, IS_ERROR, id_key};

/// 2024-05-01T12:00:00Z.
const T0: i64 = 1_714_564_800_000;

/// A small deterministic generator (xorshift*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `n` random records over about six hours; some exactly on, or 1 ms off,
/// minute and hour boundaries.
fn records(rng: &mut Rng, n: usize) -> Vec<LogRecord> {
    let services = ["api-gateway", "auth", "payment-service", "search", "a"];
    let levels = ["DEBUG", "INFO", "WARN", "ERROR"];
    let words = ["timeout", "failed", "user", "payment", "ok"];
    (0..n)
        .map(|i| {
            let at = match rng.below(4) {
                0 => T0 + rng.below(360) as i64 * 60_000 + rng.below(3) as i64 - 1,
                _ => T0 + rng.below(6 * 3_600_000) as i64,
            };
            let rt = match rng.below(5) {
                0 => None,
                1 => Some(0.0),
                _ => Some(rng.below(50_000) as f64 / 10.0),
            };
            let raw = RawLog {
                timestamp: Some(TimestampInput::Int(at)),
                service_name: Some(services[rng.below(5) as usize].into()),
                level: Some(levels[rng.below(4) as usize].into()),
                message: Some(format!(
                    "{} {} {i}",
                    words[rng.below(5) as usize],
                    words[rng.below(5) as usize]
                )),
                status_code: [None, Some(200), Some(503), Some(404)][rng.below(4) as usize],
                response_time_ms: rt,
                ..RawLog::default()
            };
            normalize(raw, T0 + 86_400_000, &RuleSet::default()).expect("valid record")
        })
        .collect()
}

/// An index of `records` in segments of `per_segment`, some records
/// deleted (by time range and by id bucket) after they were committed.
fn index(records: &[LogRecord], per_segment: usize) -> (Index, Fields) {
    let (schema, fields) = Fields::build();
    let index = Index::create_in_ram(schema);
    let mut w = index.writer_with_num_threads(1, 15_000_000).unwrap();
    w.set_merge_policy(Box::new(NoMergePolicy));
    for (seq, chunk) in records.chunks(per_segment).enumerate() {
        for (i, r) in chunk.iter().enumerate() {
            w.add_document(fields.document(r, (seq * per_segment + i) as u64, id_key(&r.id)))
                .unwrap();
        }
        w.commit().unwrap();
    }
    let ms = |t: i64| Term::from_field_date(fields.timestamp, DateTime::from_timestamp_millis(t));
    w.delete_query(Box::new(RangeQuery::new(
        std::ops::Bound::Included(ms(T0 + 3_600_000)),
        std::ops::Bound::Excluded(ms(T0 + 3_700_000)),
    )))
    .unwrap();
    for bucket in [0, 7, 19, 40_000, 65_000] {
        w.delete_term(Term::from_field_u64(fields.id_bucket, bucket));
    }
    for r in records.iter().step_by(17) {
        w.delete_term(Term::from_field_u64(fields.id_bucket, id_key(&r.id).bucket));
    }
    w.commit().unwrap();
    (index, fields)
}

/// The stats as Tantivy's aggregations computed them (the code this
/// collector replaced).
fn reference(searcher: &Searcher, fields: &Fields, index: &Index, req: &StatsRequest) -> Stats {
    let counters = Counters {
        anomalies: json!({ "sum": { "field": ANOMALY } }),
        errors: json!({ "sum": { "field": IS_ERROR } }),
    };
    let mut aggs = aggs::aggregations(req, &counters);
    aggs[aggs::SERVICES]["terms"]["segment_size"] = json!(MAX_SERVICES);
    let aggs: Aggregations = serde_json::from_value(aggs).unwrap();
    let limits = AggregationLimitsGuard::new(None, Some(BUCKET_LIMIT as u32));
    let collector = AggregationCollector::from_aggs(
        aggs,
        AggContextParams::new(limits, TokenizerManager::default()),
    );
    let mut analyzer = index.tokenizer_for_field(fields.message).unwrap();
    let query = filter_query(fields, &mut analyzer, &req.filter);
    let (total, results) = searcher.search(&*query, &(Count, collector)).unwrap();
    parse(total as u64, results)
}

fn parse(total: u64, mut results: AggregationResults) -> Stats {
    let mut stats = Stats { total_logs: total, ..Stats::default() };
    if let Some(AggregationResult::BucketResult(BucketResult::Terms { buckets, .. })) =
        results.0.remove(aggs::SERVICES)
    {
        for b in buckets {
            let service = key_string(&b.key);
            let count = metric(&b.sub_aggregation, aggs::RESPONSE_TIME_COUNT) as u64;
            if let Some(AggregationResult::MetricResult(MetricResult::Percentiles(p))) =
                b.sub_aggregation.0.get(aggs::RESPONSE_TIMES)
                && let Some(p) = aggs::percentiles(count, &serde_json::to_value(&p.values).unwrap())
            {
                stats.response_time_percentiles.insert(service.clone(), p);
            }
            stats.services.insert(service, b.doc_count);
        }
    }
    stats.levels = level_counts(results.0.get(aggs::LEVELS));
    stats.error_count = stats.levels.get(Level::Error.as_str()).copied().unwrap_or(0);
    stats.anomaly_count = metric(&results, aggs::ANOMALIES) as u64;
    if let Some(AggregationResult::BucketResult(BucketResult::Histogram { buckets })) =
        results.0.remove(aggs::HISTOGRAM)
    {
        stats.histogram = buckets
            .iter()
            .map(|b| HistogramBucket {
                start: match b.key {
                    Key::F64(v) => v as i64,
                    ref other => panic!("histogram key {other:?}"),
                },
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

fn level_counts(result: Option<&AggregationResult>) -> BTreeMap<String, u64> {
    let Some(AggregationResult::BucketResult(BucketResult::Terms { buckets, .. })) = result else {
        return BTreeMap::new();
    };
    buckets.iter().filter(|b| b.doc_count > 0).map(|b| (key_string(&b.key), b.doc_count)).collect()
}

fn metric(results: &AggregationResults, name: &str) -> f64 {
    let value = match results.0.get(name) {
        Some(AggregationResult::MetricResult(MetricResult::Sum(m) | MetricResult::Count(m))) => {
            m.value
        }
        _ => None,
    };
    value.filter(|v| v.is_finite()).unwrap_or(0.0).round()
}

fn key_string(key: &Key) -> String {
    match key {
        Key::Str(s) => s.clone(),
        other => panic!("terms key {other:?}"),
    }
}

fn requests() -> Vec<StatsRequest> {
    let filters = [
        Filter::default(),
        // Covers every segment: read without running the query.
        Filter {
            from_timestamp: Some(T0 - 1),
            to_timestamp: Some(T0 + 7 * 3_600_000),
            ..Filter::default()
        },
        // Cuts segments: the range query selects.
        Filter {
            from_timestamp: Some(T0 + 1_800_000),
            to_timestamp: Some(T0 + 4 * 3_600_000 - 1),
            ..Filter::default()
        },
        Filter { service_name: Some("payment-service".into()), ..Filter::default() },
        Filter { level: Some(Level::Error), ..Filter::default() },
        Filter { anomaly: Some(true), from_timestamp: Some(T0 + 60_000), ..Filter::default() },
        Filter { status_code: StatusCode::new(503).ok(), ..Filter::default() },
        Filter { query: Some("timeout".into()), ..Filter::default() },
        Filter { service_name: Some("nope".into()), ..Filter::default() },
    ];
    let mut out = Vec::new();
    for (i, filter) in filters.into_iter().enumerate() {
        for interval in
            [None, Some(1000), Some(60_000), Some(60_001), Some(7_777), Some(86_400_000)]
        {
            out.push(StatsRequest {
                filter: filter.clone(),
                histogram_interval_ms: interval,
                include_percentiles: (i + interval.unwrap_or(0) as usize).is_multiple_of(2),
            });
        }
    }
    out
}

#[test]
fn the_collector_answers_as_tantivys_aggregations_did() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let records = records(&mut rng, 700);
    let (index, fields) = index(&records, 160);
    let searcher = index.reader().unwrap().searcher();
    assert!(searcher.segment_readers().len() >= 4);
    assert!(
        searcher.segment_readers().iter().all(|s| s.num_deleted_docs() > 0),
        "every segment has deletions"
    );
    let cache = StatsCache::new(0);
    let mut nonempty = 0;
    for req in requests() {
        let mut analyzer = index.tokenizer_for_field(fields.message).unwrap();
        let want = reference(&searcher, &fields, &index, &req);
        let got = stats(&searcher, &fields, analyzer.clone(), &req, &cache).unwrap();
        assert_eq!(got, want, "{req:?}");
        // The filter as a search selects it: the same records.
        let query = filter_query(&fields, &mut analyzer, &req.filter);
        assert_eq!(got.total_logs, searcher.search(&*query, &Count).unwrap() as u64);
        nonempty += usize::from(!got.histogram.is_empty());
        if req.include_percentiles && got.total_logs > 0 {
            assert!(!got.response_time_percentiles.is_empty(), "{req:?}");
        }
    }
    assert!(nonempty > 20);
}

/// Brute force over the records that survived the deletions: counts and
/// histogram buckets at interval boundaries.
#[test]
fn the_collector_counts_what_the_records_say() {
    let mut rng = Rng(7);
    let records = records(&mut rng, 400);
    let (index, fields) = index(&records, 90);
    let searcher = index.reader().unwrap().searcher();
    let deleted: std::collections::HashSet<u64> = [0, 7, 19, 40_000, 65_000]
        .into_iter()
        .chain(records.iter().step_by(17).map(|r| id_key(&r.id).bucket))
        .collect();
    let alive: Vec<&LogRecord> = records
        .iter()
        .filter(|r| !(T0 + 3_600_000..T0 + 3_700_000).contains(&r.timestamp))
        .filter(|r| !deleted.contains(&id_key(&r.id).bucket))
        .collect();
    assert_eq!(searcher.num_docs() as usize, alive.len());
    let analyzer = index.tokenizer_for_field(fields.message).unwrap();
    for filter in requests().into_iter().map(|r| r.filter) {
        let req = StatsRequest {
            filter: filter.clone(),
            histogram_interval_ms: Some(60_000),
            include_percentiles: true,
        };
        let got = stats(&searcher, &fields, analyzer.clone(), &req, &StatsCache::new(0)).unwrap();
        let matching: Vec<&&LogRecord> = alive.iter().filter(|r| filter.matches(r)).collect();
        assert_eq!(got.total_logs, matching.len() as u64, "{filter:?}");
        let mut by_minute: BTreeMap<i64, (u64, u64, u64)> = BTreeMap::new();
        let mut timed: BTreeMap<String, u64> = BTreeMap::new();
        for r in &matching {
            let b = by_minute.entry(r.timestamp.div_euclid(60_000) * 60_000).or_default();
            b.0 += 1;
            b.1 += u64::from(r.anomaly);
            b.2 += u64::from(r.level == Level::Error);
            if r.response_time_ms.is_some() {
                *timed.entry(r.service_name.clone()).or_default() += 1;
            }
        }
        let histogram: BTreeMap<i64, (u64, u64, u64)> = got
            .histogram
            .iter()
            .map(|b| (b.start, (b.count, b.anomaly_count, b.error_count)))
            .collect();
        assert_eq!(histogram, by_minute, "{filter:?}");
        let got_timed: BTreeMap<String, u64> =
            got.response_time_percentiles.iter().map(|(s, p)| (s.clone(), p.count)).collect();
        assert_eq!(got_timed, timed, "{filter:?}");
    }
}

/// A cached segment answers as a counted one, and the cache key changes
/// with a deletion.
#[test]
fn cached_segments_answer_the_same_and_deletions_are_seen() {
    let mut rng = Rng(99);
    let records = records(&mut rng, 2 * MIN_CACHED_DOCS as usize);
    let (schema, fields) = Fields::build();
    let index = Index::create_in_ram(schema);
    let mut w = index.writer_with_num_threads(1, 50_000_000).unwrap();
    for (seq, r) in records.iter().enumerate() {
        w.add_document(fields.document(r, seq as u64, id_key(&r.id))).unwrap();
    }
    w.commit().unwrap();
    let reader = index.reader().unwrap();
    let analyzer = index.tokenizer_for_field(fields.message).unwrap();
    let req = StatsRequest {
        filter: Filter { from_timestamp: Some(T0 - 1), ..Filter::default() },
        histogram_interval_ms: Some(60_000),
        include_percentiles: true,
    };
    let cache = StatsCache::new(64 << 20);
    let run = |cache: &StatsCache| {
        let searcher = reader.searcher();
        stats(&searcher, &fields, analyzer.clone(), &req, cache).unwrap()
    };
    let first = run(&cache);
    assert_eq!(cache.hits(), 0);
    assert_eq!(run(&cache), first);
    assert_eq!(cache.hits(), 1);
    w.delete_term(Term::from_field_text(fields.service_name, "auth"));
    w.commit().unwrap();
    reader.reload().unwrap();
    let after = run(&cache);
    assert_eq!(cache.hits(), 1, "a deletion changes the key");
    assert!(!after.services.contains_key("auth") && first.services.contains_key("auth"));
    assert_eq!(after, run(&StatsCache::new(0)));
}

/// The collector's shortcuts against the aggregations: segments where
/// every record has a response time (records per service come from the
/// response times) and whose blocks of 1,024 fall in one histogram bucket
/// (counted at once), response times that are and are not tenths of a ms
/// (keys from the table or computed), two tenants, deletions, and time
/// ranges that cut segments.
#[test]
fn the_collectors_shortcuts_answer_as_the_aggregations_did() {
    let mut rng = Rng(0x5eed);
    let mut records = records(&mut rng, 6_000);
    records.sort_by_key(|r| r.timestamp);
    for (i, r) in records.iter_mut().enumerate() {
        // Two segments of three with a response time on every record.
        if i < 4_000 {
            r.response_time_ms = Some(match i % 9 {
                0 => 0.0,
                1 => 1e-12,
                2 => rng.below(10_000_000) as f64 / 1_000.0,
                3 => 6_553.5 + rng.below(100) as f64 / 10.0,
                4 => f64::from(u32::MAX),
                _ => rng.below(20_000) as f64 / 10.0,
            });
        }
        // The first segment is the default tenant's alone (counted without
        // a query), the others mixed.
        if i >= 2_000 && i % 5 == 0 {
            r.tenant = "acme".into();
        }
    }
    let (index, fields) = index(&records, 2_000);
    let searcher = index.reader().unwrap().searcher();
    assert_eq!(searcher.segment_readers().len(), 3);
    let cache = StatsCache::new(0);
    let mut analyzer = index.tokenizer_for_field(fields.message).unwrap();
    let tenants = [None, Some("default"), Some("acme")];
    let ranges = [
        (None, None),
        (Some(T0 - 1), Some(T0 + 7 * 3_600_000)),
        (Some(T0 + 1_800_000), Some(T0 + 4 * 3_600_000 - 1)),
    ];
    for tenant in tenants {
        for (from, to) in ranges {
            for interval in [Some(60_000), Some(3_600_001), Some(86_400_000), None] {
                for include_percentiles in [true, false] {
                    let req = StatsRequest {
                        filter: Filter {
                            from_timestamp: from,
                            to_timestamp: to,
                            tenant: tenant.map(str::to_owned),
                            ..Filter::default()
                        },
                        histogram_interval_ms: interval,
                        include_percentiles,
                    };
                    let want = reference(&searcher, &fields, &index, &req);
                    let got = stats(&searcher, &fields, analyzer.clone(), &req, &cache).unwrap();
                    assert_eq!(got, want, "{req:?}");
                    let query = filter_query(&fields, &mut analyzer, &req.filter);
                    assert_eq!(got.total_logs, searcher.search(&*query, &Count).unwrap() as u64);
                }
            }
        }
    }
}
