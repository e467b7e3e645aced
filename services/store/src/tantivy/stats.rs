//! Stats through Tantivy's aggregations on fast fields (no documents are
//! loaded).

use std::collections::BTreeMap;

use loglens_core::query::{HistogramBucket, Percentiles};
use loglens_core::{Stats, StatsRequest};
use serde_json::json;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::agg_result::{
    AggregationResult, AggregationResults, BucketEntry, BucketResult, MetricResult,
};
use tantivy::aggregation::{
    AggContextParams, AggregationCollector, AggregationError, AggregationLimitsGuard, Key,
};
use tantivy::collector::Count;
use tantivy::tokenizer::{TextAnalyzer, TokenizerManager};
use tantivy::{Searcher, TantivyError};

use super::backend;
use super::query::filter_query;
use super::schema::{ANOMALY, Fields, IS_ERROR};
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
/// same query a search runs.
pub(crate) fn stats(
    searcher: &Searcher,
    fields: &Fields,
    mut analyzer: TextAnalyzer,
    req: &StatsRequest,
) -> Result<Stats> {
    let query = filter_query(fields, &mut analyzer, &req.filter);
    let limits = AggregationLimitsGuard::new(None, Some(BUCKET_LIMIT));
    let collector = AggregationCollector::from_aggs(
        request(req)?,
        AggContextParams::new(limits, TokenizerManager::default()),
    );
    let (total, results) = searcher.search(&*query, &(Count, collector)).map_err(|e| match e {
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
