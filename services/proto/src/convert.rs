//! The one home of every proto <-> domain conversion, as `From`/`TryFrom`
//! impls. Input from the wire is validated here, once, and becomes a
//! [`loglens_core::Error`] naming the field; output cannot fail.

use loglens_core::attributes;
use loglens_core::ledger::{PartitionLedger, TenantLedger};
use loglens_core::query::{HistogramBucket, Percentiles};
use loglens_core::{
    AttrValue, Error, Filter, Level, LogRecord, RawLog, Rejection, SearchRequest, SearchResult,
    Sort, Stats, StatsRequest, StatusCode, TimestampInput,
};

use crate::{ingest, query as pq, stats as ps};

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

fn zero_is_default(n: u32) -> Option<u32> {
    if n == 0 { None } else { Some(n) }
}

/// A proto record as raw input; empty strings mean "not sent".
impl From<ingest::LogRecord> for RawLog {
    fn from(p: ingest::LogRecord) -> RawLog {
        RawLog {
            timestamp: non_empty(p.timestamp).map(TimestampInput::Text),
            service_name: Some(p.service_name),
            level: non_empty(p.level),
            message: Some(p.message),
            status_code: p.status_code.map(i64::from),
            request_id: non_empty(p.request_id),
            user_id: non_empty(p.user_id),
            response_time_ms: p.response_time_ms,
            error_code: p.error_code,
            tags: Some(p.tags),
            host: non_empty(p.host),
            trace_id: p.trace_id,
            span_id: p.span_id,
            attributes: (!p.attributes.is_empty())
                .then(|| p.attributes.into_iter().map(|(k, v)| (k, attribute_json(v))).collect()),
            extra: serde_json::Map::new(),
        }
    }
}

/// A proto attribute value as JSON (an unset value is `null`, skipped later).
fn attribute_json(v: ingest::AttributeValue) -> serde_json::Value {
    use ingest::attribute_value::Value;
    match v.value {
        None => serde_json::Value::Null,
        Some(Value::StringValue(s)) => s.into(),
        Some(Value::IntValue(i)) => i.into(),
        Some(Value::DoubleValue(f)) => {
            serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into)
        }
        Some(Value::BoolValue(b)) => b.into(),
    }
}

impl From<AttrValue> for ingest::AttributeValue {
    fn from(v: AttrValue) -> ingest::AttributeValue {
        use ingest::attribute_value::Value;
        ingest::AttributeValue {
            value: Some(match v {
                AttrValue::Str(s) => Value::StringValue(s),
                AttrValue::Int(i) => Value::IntValue(i),
                AttrValue::Float(f) => Value::DoubleValue(f),
                AttrValue::Bool(b) => Value::BoolValue(b),
            }),
        }
    }
}

/// Raw input (e.g. parsed REST JSON) as the proto the ingest service
/// validates. Timestamps go as text (numbers as their decimal digits); only a
/// status too large for the proto's int32 is refused here.
impl TryFrom<RawLog> for ingest::LogRecord {
    type Error = Error;
    fn try_from(raw: RawLog) -> Result<ingest::LogRecord, Error> {
        Ok(ingest::LogRecord {
            timestamp: match raw.timestamp {
                None => String::new(),
                Some(TimestampInput::Text(s)) => s,
                Some(TimestampInput::Int(n)) => n.to_string(),
                Some(TimestampInput::Float(f)) => f.to_string(),
            },
            service_name: raw.service_name.unwrap_or_default(),
            level: raw.level.unwrap_or_default(),
            message: raw.message.unwrap_or_default(),
            // Only what the proto cannot carry is refused here; the range
            // check is the ingest service's, so its metrics count it.
            status_code: raw
                .status_code
                .map(|s| i32::try_from(s).map_err(|_| StatusCode::out_of_range(s)))
                .transpose()?,
            request_id: raw.request_id.unwrap_or_default(),
            user_id: raw.user_id.unwrap_or_default(),
            response_time_ms: raw.response_time_ms,
            error_code: raw.error_code,
            tags: raw.tags.unwrap_or_default(),
            host: raw.host.unwrap_or_default(),
            trace_id: raw.trace_id,
            span_id: raw.span_id,
            attributes: attributes::merge(raw.attributes, raw.extra)
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
        })
    }
}

impl From<Rejection> for ingest::Rejection {
    fn from(r: Rejection) -> ingest::Rejection {
        ingest::Rejection { index: r.index, field: r.field, reason: r.reason }
    }
}

/// A proto filter as a validated domain filter.
impl TryFrom<pq::LogFilter> for Filter {
    type Error = Error;
    fn try_from(f: pq::LogFilter) -> Result<Filter, Error> {
        let level = match f.level.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(l) => Some(Level::parse(l, "level")?),
        };
        Filter {
            service_name: f.service_name,
            level,
            status_code: f.status_code.map(StatusCode::try_from).transpose()?,
            anomaly: f.anomaly,
            from_timestamp: f.from_timestamp,
            to_timestamp: f.to_timestamp,
            query: f.query,
            trace_id: f.trace_id,
            request_id: f.request_id,
            host: f.host,
            user_id: f.user_id,
            error_code: f.error_code,
            tag: f.tag,
            anomaly_reason: f.anomaly_reason,
            attributes: f.attributes.into_iter().collect(),
            tenant: f.tenant,
        }
        .validated()
    }
}

/// An optional proto filter: absent means "match everything".
pub fn filter(f: Option<pq::LogFilter>) -> Result<Filter, Error> {
    f.map(Filter::try_from).unwrap_or_else(|| Ok(Filter::default()))
}

impl TryFrom<pq::SortOrder> for Sort {
    type Error = Error;
    fn try_from(order: pq::SortOrder) -> Result<Sort, Error> {
        Ok(match order {
            pq::SortOrder::Unspecified | pq::SortOrder::NewestFirst => Sort::NewestFirst,
            pq::SortOrder::OldestFirst => Sort::OldestFirst,
            pq::SortOrder::Severity => Sort::Severity,
        })
    }
}

fn sort(order: i32) -> Result<Sort, Error> {
    match pq::SortOrder::try_from(order) {
        Ok(o) => Sort::try_from(o),
        Err(_) => Err(Error::invalid(
            "sort",
            format!(
                "sort must be 0-3 (newest first, newest first, oldest first, severity), got {order}"
            ),
        )),
    }
}

/// A proto search as a validated domain search.
impl TryFrom<pq::SearchRequest> for SearchRequest {
    type Error = Error;
    fn try_from(r: pq::SearchRequest) -> Result<SearchRequest, Error> {
        SearchRequest::new(
            filter(r.filter)?,
            sort(r.sort)?,
            zero_is_default(r.page),
            zero_is_default(r.size),
            Some(r.cursor),
        )
    }
}

/// A proto anomaly query as a validated domain search (severity first).
impl TryFrom<pq::GetAnomaliesRequest> for SearchRequest {
    type Error = Error;
    fn try_from(r: pq::GetAnomaliesRequest) -> Result<SearchRequest, Error> {
        SearchRequest::anomalies(
            filter(r.filter)?,
            zero_is_default(r.page),
            zero_is_default(r.size),
            Some(r.cursor),
        )
    }
}

/// A stored record on the wire.
impl From<LogRecord> for pq::LogEntry {
    fn from(r: LogRecord) -> pq::LogEntry {
        pq::LogEntry {
            id: r.id,
            timestamp: r.timestamp,
            service_name: r.service_name,
            level: r.level.as_str().to_owned(),
            message: r.message,
            status_code: r.status_code.map(i32::from),
            request_id: r.request_id,
            user_id: r.user_id,
            response_time_ms: r.response_time_ms,
            error_code: r.error_code,
            tags: r.tags,
            host: r.host,
            trace_id: r.trace_id,
            span_id: r.span_id,
            anomaly: r.anomaly,
            severity_score: u32::from(r.severity_score),
            anomaly_reasons: r.anomaly_reasons,
            ingested_at: r.ingested_at,
            attributes: r.attributes.into_iter().map(|(k, v)| (k, v.into())).collect(),
            tail_position: String::new(),
            tenant: r.tenant,
        }
    }
}

/// A page of results on the wire.
impl From<SearchResult> for pq::SearchResponse {
    fn from(r: SearchResult) -> pq::SearchResponse {
        pq::SearchResponse {
            total: r.total,
            page: r.page,
            size: r.size,
            logs: r.logs.into_iter().map(pq::LogEntry::from).collect(),
            next_cursor: r.next_cursor.unwrap_or_default(),
        }
    }
}

/// A proto stats request as a validated domain one: `filter` converted as a
/// search's, with the older top-level `from_timestamp`, `to_timestamp` and
/// `service_name` merged in (an empty one counts as unset; one set to a
/// value other than the filter's is refused, naming the field).
impl TryFrom<ps::GetStatsRequest> for StatsRequest {
    type Error = Error;
    fn try_from(r: ps::GetStatsRequest) -> Result<StatsRequest, Error> {
        let histogram_interval_ms = match r.histogram_interval_ms {
            0 => None,
            i => Some(i),
        };
        let mut filter = filter(r.filter)?;
        merge_legacy("from_timestamp", &mut filter.from_timestamp, r.from_timestamp)?;
        merge_legacy("to_timestamp", &mut filter.to_timestamp, r.to_timestamp)?;
        let service_name = r.service_name.filter(|s| !s.trim().is_empty());
        merge_legacy("service_name", &mut filter.service_name, service_name)?;
        StatsRequest { filter, histogram_interval_ms, include_percentiles: r.include_percentiles }
            .validated()
    }
}

/// Puts a top-level stats field into the filter's `slot`; both set and
/// different is an error naming `field`.
fn merge_legacy<T: PartialEq + std::fmt::Debug>(
    field: &str,
    slot: &mut Option<T>,
    legacy: Option<T>,
) -> Result<(), Error> {
    match (slot.as_ref(), legacy) {
        (_, None) => Ok(()),
        (None, Some(v)) => {
            *slot = Some(v);
            Ok(())
        }
        (Some(a), Some(b)) if *a == b => Ok(()),
        (Some(a), Some(b)) => Err(Error::invalid(
            field,
            format!(
                "{field} is set both in the request ({b:?}) and in its filter ({a:?}); give it once, in the filter"
            ),
        )),
    }
}

/// Stats on the wire.
impl From<Stats> for ps::GetStatsResponse {
    fn from(s: Stats) -> ps::GetStatsResponse {
        ps::GetStatsResponse {
            total_logs: s.total_logs,
            services: s.services.into_iter().collect(),
            levels: s.levels.into_iter().collect(),
            anomaly_count: s.anomaly_count,
            error_count: s.error_count,
            histogram: s
                .histogram
                .into_iter()
                .map(|HistogramBucket { start, count, anomaly_count, error_count, levels }| {
                    ps::HistogramBucket {
                        start,
                        count,
                        anomaly_count,
                        error_count,
                        levels: levels.into_iter().collect(),
                    }
                })
                .collect(),
            response_time_percentiles: s
                .response_time_percentiles
                .into_iter()
                .map(|(k, Percentiles { p50, p95, p99, count })| {
                    (k, ps::Percentiles { p50, p95, p99, count })
                })
                .collect(),
        }
    }
}

impl From<PartitionLedger> for ps::PartitionLedger {
    fn from(p: PartitionLedger) -> ps::PartitionLedger {
        ps::PartitionLedger {
            lag: p.lag(),
            topic: p.topic,
            partition: p.partition,
            assigned: p.assigned,
            received: p.received,
            indexed: p.indexed,
            dead_lettered: p.dead_lettered,
            committed_offset: p.committed_offset,
            high_watermark: p.high_watermark,
        }
    }
}

impl From<TenantLedger> for ps::TenantLedger {
    fn from(t: TenantLedger) -> ps::TenantLedger {
        ps::TenantLedger {
            tenant: t.tenant,
            received: t.received,
            indexed: t.indexed,
            dead_lettered: t.dead_lettered,
        }
    }
}

/// The processor's ledger on the wire, with totals (no per-tenant rows).
impl From<Vec<PartitionLedger>> for ps::GetLedgerResponse {
    fn from(partitions: Vec<PartitionLedger>) -> ps::GetLedgerResponse {
        (partitions, Vec::new()).into()
    }
}

/// The processor's ledger on the wire: per partition, with totals (over the
/// partitions), and per tenant.
impl From<(Vec<PartitionLedger>, Vec<TenantLedger>)> for ps::GetLedgerResponse {
    fn from((partitions, tenants): (Vec<PartitionLedger>, Vec<TenantLedger>)) -> Self {
        let mut reply = ps::GetLedgerResponse { mode: "kafka".into(), ..Default::default() };
        for p in partitions {
            reply.received += p.received;
            reply.indexed += p.indexed;
            reply.dead_lettered += p.dead_lettered;
            reply.lag += p.lag();
            reply.partitions.push(p.into());
        }
        reply.tenants = tenants.into_iter().map(Into::into).collect();
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_conversion_validates() {
        let f = filter(Some(pq::LogFilter {
            level: Some("warning".into()),
            status_code: Some(404),
            service_name: Some(String::new()),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(
            (f.level, f.status_code.map(u16::from), f.service_name),
            (Some(Level::Warn), Some(404), None)
        );
        let e = filter(Some(pq::LogFilter { status_code: Some(70_000), ..Default::default() }))
            .unwrap_err();
        assert_eq!(e.field(), Some("status_code"));
        assert_eq!(e.to_string(), "status_code must be between 100 and 599, got 70000");
        let e = filter(Some(pq::LogFilter { level: Some("loud".into()), ..Default::default() }))
            .unwrap_err();
        assert_eq!(e.field(), Some("level"));
        let f = filter(Some(pq::LogFilter {
            host: Some("web-3".into()),
            user_id: Some("u-1".into()),
            error_code: Some("E_PAY".into()),
            tag: Some("canary".into()),
            anomaly_reason: Some("slow_response".into()),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(
            [f.host, f.user_id, f.error_code, f.tag, f.anomaly_reason],
            [Some("web-3"), Some("u-1"), Some("E_PAY"), Some("canary"), Some("slow_response")]
                .map(|v| v.map(String::from))
        );
        let f = filter(Some(pq::LogFilter { host: Some(" ".into()), ..Default::default() }));
        assert_eq!(f.unwrap().host, None, "a blank filter value is no filter");
    }

    #[test]
    fn search_defaults_and_errors() {
        let r = SearchRequest::try_from(pq::SearchRequest::default()).unwrap();
        assert_eq!((r.page, r.size, r.sort, r.cursor), (1, 20, Sort::NewestFirst, None));
        let e = SearchRequest::try_from(pq::SearchRequest { size: 1001, ..Default::default() })
            .unwrap_err();
        assert_eq!(e.to_string(), "size must be between 1 and 1000, got 1001");
        let e = SearchRequest::try_from(pq::SearchRequest { sort: 9, ..Default::default() })
            .unwrap_err();
        assert_eq!(e.field(), Some("sort"));
        let a = SearchRequest::try_from(pq::GetAnomaliesRequest::default()).unwrap();
        assert_eq!((a.sort, a.filter.anomaly), (Sort::Severity, Some(true)));
    }

    #[test]
    fn ledger_totals_add_up() {
        let p = |partition, indexed, committed_offset, high_watermark| PartitionLedger {
            topic: "logs_raw".into(),
            partition,
            received: indexed + 1,
            indexed,
            dead_lettered: 1,
            committed_offset,
            high_watermark,
            assigned: true,
        };
        let r = ps::GetLedgerResponse::from(vec![p(0, 10, 11, 15), p(1, 5, 6, 6)]);
        assert_eq!(
            (r.mode.as_str(), r.received, r.indexed, r.dead_lettered, r.lag),
            ("kafka", 17, 15, 2, 4)
        );
        assert_eq!(r.partitions[0].lag, 4);
        assert!(r.tenants.is_empty());
    }

    #[test]
    fn ledger_carries_tenant_rows() {
        let p = PartitionLedger {
            topic: "logs_raw".into(),
            received: 6,
            indexed: 4,
            dead_lettered: 2,
            ..Default::default()
        };
        let t = |tenant: &str, received, indexed, dead_lettered| TenantLedger {
            tenant: tenant.into(),
            received,
            indexed,
            dead_lettered,
        };
        let r =
            ps::GetLedgerResponse::from((vec![p], vec![t("acme", 3, 2, 1), t("default", 2, 2, 0)]));
        assert_eq!(
            (r.received, r.indexed, r.dead_lettered),
            (6, 4, 2),
            "totals are the partitions'"
        );
        let rows: Vec<(&str, u64, u64, u64)> = r
            .tenants
            .iter()
            .map(|t| (t.tenant.as_str(), t.received, t.indexed, t.dead_lettered))
            .collect();
        assert_eq!(rows, [("acme", 3, 2, 1), ("default", 2, 2, 0)]);
    }

    #[test]
    fn stats_interval_zero_means_none() {
        assert_eq!(
            StatsRequest::try_from(ps::GetStatsRequest::default()).unwrap().histogram_interval_ms,
            None
        );
        let e = StatsRequest::try_from(ps::GetStatsRequest {
            histogram_interval_ms: -5,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.field(), Some("interval"));
    }

    #[test]
    fn stats_take_a_full_filter_and_the_older_fields() {
        let r = StatsRequest::try_from(ps::GetStatsRequest {
            filter: Some(pq::LogFilter {
                level: Some("error".into()),
                query: Some("timeout".into()),
                attributes: [("region".to_owned(), "eu".to_owned())].into(),
                from_timestamp: Some(5),
                ..Default::default()
            }),
            to_timestamp: Some(10),
            service_name: Some("api".into()),
            from_timestamp: Some(5),
            ..Default::default()
        })
        .unwrap();
        let f = &r.filter;
        assert_eq!(
            (f.level, f.query.as_deref(), f.from_timestamp, f.to_timestamp),
            (Some(Level::Error), Some("timeout"), Some(5), Some(10))
        );
        assert_eq!(f.service_name.as_deref(), Some("api"));
        assert_eq!(f.attributes, [("region".to_owned(), "eu".to_owned())]);
        // The older fields alone still work; an empty service is unset.
        let r = StatsRequest::try_from(ps::GetStatsRequest {
            from_timestamp: Some(1),
            service_name: Some(String::new()),
            filter: Some(pq::LogFilter { service_name: Some("b".into()), ..Default::default() }),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (r.filter.from_timestamp, r.filter.service_name.as_deref()),
            (Some(1), Some("b"))
        );
        for (req, field) in [
            (
                ps::GetStatsRequest {
                    service_name: Some("a".into()),
                    filter: Some(pq::LogFilter {
                        service_name: Some("b".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                "service_name",
            ),
            (
                ps::GetStatsRequest {
                    to_timestamp: Some(1),
                    filter: Some(pq::LogFilter { to_timestamp: Some(2), ..Default::default() }),
                    ..Default::default()
                },
                "to_timestamp",
            ),
            (
                ps::GetStatsRequest {
                    from_timestamp: Some(9),
                    to_timestamp: Some(1),
                    ..Default::default()
                },
                "from_timestamp",
            ),
            (
                ps::GetStatsRequest {
                    filter: Some(pq::LogFilter {
                        level: Some("loud".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                "level",
            ),
        ] {
            let e = StatsRequest::try_from(req).unwrap_err();
            assert_eq!(e.field(), Some(field), "{e}");
            assert_eq!(e.code(), loglens_core::ErrorCode::InvalidArgument);
        }
        let e = StatsRequest::try_from(ps::GetStatsRequest {
            service_name: Some("a".into()),
            filter: Some(pq::LogFilter { service_name: Some("b".into()), ..Default::default() }),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "service_name is set both in the request (\"a\") and in its filter (\"b\"); give it once, in the filter"
        );
    }

    #[test]
    fn histogram_buckets_carry_levels() {
        let stats = Stats {
            histogram: vec![HistogramBucket {
                start: 60_000,
                count: 3,
                anomaly_count: 1,
                error_count: 1,
                levels: [("ERROR".to_owned(), 1), ("INFO".to_owned(), 2)].into(),
            }],
            ..Stats::default()
        };
        let wire = ps::GetStatsResponse::from(stats);
        assert_eq!(
            wire.histogram[0].levels,
            [("ERROR".to_owned(), 1), ("INFO".to_owned(), 2)].into()
        );
    }

    #[test]
    fn proto_record_empty_strings_are_not_sent() {
        let raw = RawLog::from(ingest::LogRecord {
            service_name: "a".into(),
            message: "m".into(),
            status_code: Some(503),
            ..Default::default()
        });
        assert_eq!(
            (raw.timestamp, raw.level, raw.host, raw.status_code),
            (None, None, None, Some(503))
        );
    }
}
