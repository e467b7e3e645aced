//! The stats aggregations, in the Elasticsearch aggregation JSON: the
//! request Elasticsearch is sent, the percentile values read back, and the
//! client error for a request too big to answer (both backends). Field
//! names are the record's, which both backends index under. The Tantivy
//! backend counts the same with a collector of its own (no aggregations);
//! its tests send this request to Tantivy's aggregations to check it gives
//! the same answers. How records of a kind are counted inside a bucket
//! differs (a `filter` aggregation on Elasticsearch, a `sum` of a 0/1
//! column on Tantivy), so each passes its own [`Counters`].

use loglens_core::StatsRequest;
use loglens_core::query::Percentiles;
use serde_json::{Value, json};

use crate::Error;

/// Most services a stats request counts; beyond that the smallest are left
/// out.
pub const MAX_SERVICES: u32 = 10_000;
/// The percentiles computed per service.
pub(crate) const PERCENTS: [f64; 3] = [50.0, 95.0, 99.0];

/// Terms aggregation: records per service (with the percentile
/// sub-aggregations when asked for).
pub(crate) const SERVICES: &str = "services";
/// Terms aggregation: records per level.
pub(crate) const LEVELS: &str = "levels";
/// Room for every level (there are four) in a terms aggregation.
const LEVEL_TERMS: usize = 16;
/// Anomalous records: over everything, and per histogram bucket.
pub(crate) const ANOMALIES: &str = "anomalies";
/// Records of level ERROR per histogram bucket.
pub(crate) const ERRORS: &str = "errors";
/// Terms aggregation: records per level in each histogram bucket.
pub(crate) const BUCKET_LEVELS: &str = "levels";
/// Date histogram with a fixed interval, empty buckets omitted.
pub(crate) const HISTOGRAM: &str = "histogram";
/// Percentiles of the response time, per service.
pub(crate) const RESPONSE_TIMES: &str = "rt";
/// Records with a response time, per service.
pub(crate) const RESPONSE_TIME_COUNT: &str = "rt_count";

/// A backend's aggregations that count records of one kind in a bucket.
pub(crate) struct Counters {
    /// Counts anomalous records.
    pub anomalies: Value,
    /// Counts records of level ERROR.
    pub errors: Value,
}

/// The `aggs` object of a stats request.
pub(crate) fn aggregations(req: &StatsRequest, counters: &Counters) -> Value {
    let mut aggs = json!({
        SERVICES: { "terms": { "field": "service_name", "size": MAX_SERVICES } },
        LEVELS: { "terms": { "field": "level", "size": LEVEL_TERMS } },
        ANOMALIES: counters.anomalies,
    });
    if req.include_percentiles {
        aggs[SERVICES]["aggs"] = json!({
            RESPONSE_TIMES: { "percentiles": { "field": "response_time_ms", "percents": PERCENTS, "keyed": false } },
            RESPONSE_TIME_COUNT: { "value_count": { "field": "response_time_ms" } },
        });
    }
    if let Some(interval) = req.histogram_interval_ms {
        aggs[HISTOGRAM] = json!({
            "date_histogram": { "field": "timestamp", "fixed_interval": format!("{interval}ms"), "min_doc_count": 1 },
            "aggs": {
                ANOMALIES: counters.anomalies,
                ERRORS: counters.errors,
                BUCKET_LEVELS: { "terms": { "field": "level", "size": LEVEL_TERMS } },
            },
        });
    }
    aggs
}

/// p50/p95/p99 of a service bucket from `count` (records with a response
/// time; `None` when 0) and the percentiles aggregation's `values`, in
/// either shape: `keyed: false`, `[{"key": 50.0, "value": 12.5}, ...]`, or
/// keyed, `{"50.0": 12.5, ...}`. A missing, null or non-finite value
/// reads as 0.
pub(crate) fn percentiles(count: u64, values: &Value) -> Option<Percentiles> {
    if count == 0 {
        return None;
    }
    let at = |pct: f64| -> f64 {
        let v = match values {
            Value::Array(entries) => entries
                .iter()
                .find(|e| e["key"].as_f64() == Some(pct))
                .and_then(|e| e["value"].as_f64()),
            Value::Object(map) => map
                .iter()
                .find(|(k, _)| k.parse::<f64>().ok() == Some(pct))
                .and_then(|(_, v)| v.as_f64()),
            _ => None,
        };
        v.filter(|v| v.is_finite()).unwrap_or(0.0)
    };
    let [p50, p95, p99] = PERCENTS.map(at);
    Some(Percentiles { p50, p95, p99, count })
}

/// The client error for stats too big to compute; `what` says why, e.g.
/// "stats would have too many buckets".
pub(crate) fn too_big(what: &str) -> Error {
    Error::Invalid(loglens_core::Error::invalid(
        "interval",
        format!("{what}: widen the histogram interval or narrow the time range"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters() -> Counters {
        Counters { anomalies: json!({ "sum": { "field": "a" } }), errors: json!({ "x": 1 }) }
    }

    #[test]
    fn the_request_has_only_what_was_asked_for() {
        let plain = aggregations(&StatsRequest::default(), &counters());
        assert_eq!(
            plain,
            json!({
                "services": { "terms": { "field": "service_name", "size": 10_000 } },
                "levels": { "terms": { "field": "level", "size": 16 } },
                "anomalies": { "sum": { "field": "a" } },
            })
        );
        let req = StatsRequest {
            histogram_interval_ms: Some(60_000),
            include_percentiles: true,
            ..StatsRequest::default()
        };
        let full = aggregations(&req, &counters());
        assert_eq!(
            full["services"]["aggs"]["rt"],
            json!({ "percentiles": { "field": "response_time_ms", "percents": [50.0, 95.0, 99.0], "keyed": false } })
        );
        assert_eq!(
            full["services"]["aggs"]["rt_count"],
            json!({ "value_count": { "field": "response_time_ms" } })
        );
        assert_eq!(
            full["histogram"],
            json!({
                "date_histogram": { "field": "timestamp", "fixed_interval": "60000ms", "min_doc_count": 1 },
                "aggs": {
                    "anomalies": { "sum": { "field": "a" } },
                    "errors": { "x": 1 },
                    "levels": { "terms": { "field": "level", "size": 16 } },
                },
            })
        );
    }

    #[test]
    fn percentiles_read_both_shapes() {
        let want = Some(Percentiles { p50: 21.0, p95: 180.25, p99: 204.05, count: 7 });
        let list = json!([
            { "key": 99.0, "value": 204.05 },
            { "key": 50.0, "value": 21.0 },
            { "key": 95.0, "value": 180.25 },
        ]);
        assert_eq!(percentiles(7, &list), want);
        let keyed = json!({ "50.0": 21.0, "95.0": 180.25, "99.0": 204.05 });
        assert_eq!(percentiles(7, &keyed), want);
    }

    #[test]
    fn percentiles_default_to_zero_and_need_a_count() {
        let gaps = json!([{ "key": 50.0, "value": null }, { "key": 95.0, "value": "NaN" }]);
        let zero = Some(Percentiles { p50: 0.0, p95: 0.0, p99: 0.0, count: 3 });
        assert_eq!(percentiles(3, &gaps), zero);
        assert_eq!(percentiles(3, &Value::Null), zero);
        assert_eq!(percentiles(3, &json!({ "fifty": 1.0 })), zero);
        assert_eq!(percentiles(0, &json!([{ "key": 50.0, "value": 1.0 }])), None);
        // Tantivy's NaN (no values) becomes null on the way to JSON.
        assert_eq!(serde_json::to_value(f64::NAN).unwrap(), Value::Null);
    }

    #[test]
    fn too_big_is_a_client_error_with_advice() {
        let e = too_big("stats would have too many buckets");
        assert_eq!(
            e.to_string(),
            "stats would have too many buckets: widen the histogram interval or narrow the time range"
        );
        assert!(matches!(e, Error::Invalid(ref c) if c.field() == Some("interval")));
    }
}
