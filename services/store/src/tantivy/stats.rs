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
use tantivy::aggregation::metric::PercentileValues;
use tantivy::aggregation::{
    AggContextParams, AggregationCollector, AggregationError, AggregationLimitsGuard, Key,
};
use tantivy::collector::Count;
use tantivy::tokenizer::{TextAnalyzer, TokenizerManager};
use tantivy::{Searcher, TantivyError};

use super::backend;
use super::query::filter_query;
use super::schema::{ANOMALY, Fields, IS_ERROR, LEVEL, RESPONSE_TIME, SERVICE, TIMESTAMP};
use crate::{Error, Result};

/// Most services counted; beyond that the smallest are left out.
pub(crate) const MAX_SERVICES: u32 = 10_000;
/// Most buckets one request may produce (histogram plus terms).
const BUCKET_LIMIT: u32 = 100_000;

/// The aggregation request for `req`.
fn request(req: &StatsRequest) -> Result<Aggregations> {
    let mut aggs = json!({
        "services": { "terms": { "field": SERVICE, "size": MAX_SERVICES, "segment_size": MAX_SERVICES } },
        "levels": { "terms": { "field": LEVEL, "size": 16 } },
        "anomalies": { "sum": { "field": ANOMALY } },
    });
    if req.include_percentiles {
        aggs["services"]["aggs"] = json!({
            "rt": { "percentiles": { "field": RESPONSE_TIME, "percents": [50.0, 95.0, 99.0], "keyed": false } },
            "rt_count": { "value_count": { "field": RESPONSE_TIME } },
        });
    }
    if let Some(interval) = req.histogram_interval_ms {
        aggs["histogram"] = json!({
            "date_histogram": { "field": TIMESTAMP, "fixed_interval": format!("{interval}ms"), "min_doc_count": 1 },
            "aggs": {
                "anomalies": { "sum": { "field": ANOMALY } },
                "errors": { "sum": { "field": IS_ERROR } },
            },
        });
    }
    serde_json::from_value(aggs)
        .map_err(|e| Error::Backend(format!("stats request does not build: {e}")))
}

/// Aggregates the records in the request's time range and service.
pub(crate) fn stats(
    searcher: &Searcher,
    fields: &Fields,
    mut analyzer: TextAnalyzer,
    req: &StatsRequest,
) -> Result<Stats> {
    let query = filter_query(fields, &mut analyzer, &req.filter());
    let limits = AggregationLimitsGuard::new(None, Some(BUCKET_LIMIT));
    let collector = AggregationCollector::from_aggs(
        request(req)?,
        AggContextParams::new(limits, TokenizerManager::default()),
    );
    let (total, results) = searcher.search(&*query, &(Count, collector)).map_err(|e| match e {
        TantivyError::AggregationError(AggregationError::BucketLimitExceeded { .. }) => {
            Error::Invalid(loglens_core::Error::invalid(
                "interval",
                format!(
                    "stats would have more than {BUCKET_LIMIT} buckets: widen the histogram interval or narrow the time range"
                ),
            ))
        }
        TantivyError::AggregationError(AggregationError::MemoryExceeded { .. }) => {
            Error::Invalid(loglens_core::Error::invalid(
                "interval",
                "stats need too much memory: widen the histogram interval or narrow the time range",
            ))
        }
        other => backend(other),
    })?;
    Ok(parse(total as u64, results))
}

/// Turns the aggregation results into [`Stats`].
fn parse(total: u64, mut results: AggregationResults) -> Stats {
    let mut stats = Stats { total_logs: total, ..Stats::default() };
    for b in terms(results.0.remove("services")) {
        let service = key_string(&b.key);
        if let Some(p) = percentiles(&b.sub_aggregation) {
            stats.response_time_percentiles.insert(service.clone(), p);
        }
        stats.services.insert(service, b.doc_count);
    }
    stats.levels = terms(results.0.remove("levels"))
        .map(|b| (key_string(&b.key), b.doc_count))
        .collect::<BTreeMap<_, _>>();
    stats.error_count = stats.levels.get(loglens_core::Level::Error.as_str()).copied().unwrap_or(0);
    stats.anomaly_count = metric(&results, "anomalies") as u64;
    if let Some(AggregationResult::BucketResult(BucketResult::Histogram { buckets })) =
        results.0.remove("histogram")
    {
        stats.histogram = buckets
            .iter()
            .map(|b| HistogramBucket {
                start: key_f64(&b.key) as i64,
                count: b.doc_count,
                anomaly_count: metric(&b.sub_aggregation, "anomalies") as u64,
                error_count: metric(&b.sub_aggregation, "errors") as u64,
            })
            .collect();
        stats.histogram.sort_by_key(|b| b.start);
    }
    stats
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

/// p50/p95/p99 of a service bucket; `None` when no record had a response time.
fn percentiles(sub: &AggregationResults) -> Option<Percentiles> {
    let count = metric(sub, "rt_count") as u64;
    let Some(AggregationResult::MetricResult(MetricResult::Percentiles(p))) = sub.0.get("rt")
    else {
        return None;
    };
    if count == 0 {
        return None;
    }
    let at = |pct: f64| -> f64 {
        let v = match &p.values {
            PercentileValues::Vec(entries) => {
                entries.iter().find(|e| e.key == pct).map(|e| e.value)
            }
            PercentileValues::HashMap(map) => {
                map.iter().find(|(k, _)| k.parse::<f64>().ok() == Some(pct)).map(|(_, v)| *v)
            }
        };
        v.filter(|v| v.is_finite()).unwrap_or(0.0)
    };
    Some(Percentiles { p50: at(50.0), p95: at(95.0), p99: at(99.0), count })
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
