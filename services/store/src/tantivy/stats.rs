//! Stats on fast fields (no documents are loaded): counts, levels,
//! anomalies and the histogram in one pass of [`Counts`], and per-service
//! percentiles, when asked for, through Tantivy's aggregations.

use std::collections::{BTreeMap, HashMap};

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
use super::counts::{Counted, Counts};
use super::query::filter_query;
use super::schema::{ANOMALY, Fields, IS_ERROR};
use crate::shared::aggs::{self, Counters, MAX_SERVICES};
use crate::{Error, Result};

/// Most buckets one request may produce (histogram plus terms).
const BUCKET_LIMIT: u32 = 100_000;

/// The aggregation request for the per-service percentiles: only the
/// services terms of the shared request, with their percentile
/// sub-aggregations; every segment reports all its services.
fn percentiles_request() -> Result<Aggregations> {
    let counters = Counters {
        anomalies: json!({ "sum": { "field": ANOMALY } }),
        errors: json!({ "sum": { "field": IS_ERROR } }),
    };
    let req = StatsRequest { include_percentiles: true, ..StatsRequest::default() };
    let all = aggs::aggregations(&req, &counters);
    let mut services = all[aggs::SERVICES].clone();
    services["terms"]["segment_size"] = json!(MAX_SERVICES);
    serde_json::from_value(json!({ aggs::SERVICES: services }))
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
    let percentiles = match req.include_percentiles {
        true => Some(AggregationCollector::from_aggs(
            percentiles_request()?,
            AggContextParams::new(limits, TokenizerManager::default()),
        )),
        false => None,
    };
    let counts = Counts { interval_ms: req.histogram_interval_ms };
    let collectors = (Count, counts, percentiles);
    let (total, counted, results) = searcher.search(&*query, &collectors).map_err(|e| match e {
        TantivyError::AggregationError(AggregationError::BucketLimitExceeded { .. }) => {
            aggs::too_big(&format!("stats would have more than {BUCKET_LIMIT} buckets"))
        }
        TantivyError::AggregationError(AggregationError::MemoryExceeded { .. }) => {
            aggs::too_big("stats need too much memory")
        }
        other => backend(other),
    })?;
    if counted.histogram.len() > BUCKET_LIMIT as usize {
        return Err(aggs::too_big(&format!("stats would have more than {BUCKET_LIMIT} buckets")));
    }
    Ok(parse(total as u64, counted, results))
}

/// Turns the counts and the percentile results into [`Stats`].
fn parse(total: u64, counted: Counted, results: Option<AggregationResults>) -> Stats {
    let Counted { services, levels, anomalies, histogram } = counted;
    let mut stats = Stats { total_logs: total, anomaly_count: anomalies, ..Stats::default() };
    stats.services = largest(services, MAX_SERVICES as usize);
    stats.error_count = levels.get(loglens_core::Level::Error.as_str()).copied().unwrap_or(0);
    stats.levels = levels;
    stats.histogram = histogram
        .into_iter()
        .map(|(start, b)| HistogramBucket {
            start,
            count: b.count,
            anomaly_count: b.anomalies,
            error_count: b.errors,
            levels: b.levels,
        })
        .collect();
    if let Some(mut results) = results {
        for b in terms(results.0.remove(aggs::SERVICES)) {
            if let Some(p) = percentiles(&b.sub_aggregation) {
                stats.response_time_percentiles.insert(key_string(&b.key), p);
            }
        }
    }
    stats
}

/// The `n` services with the most records (all when there are fewer).
fn largest(services: HashMap<String, u64>, n: usize) -> BTreeMap<String, u64> {
    let mut all: Vec<(String, u64)> = services.into_iter().collect();
    if all.len() > n {
        all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
    }
    all.into_iter().collect()
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
