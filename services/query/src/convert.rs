//! Proto <-> domain conversions for queries and stats; invalid input becomes
//! a domain error here, once.

use loglens_core::query::{HistogramBucket, Percentiles};
use loglens_core::{
    Error, Filter, Level, LogRecord, Result, SearchRequest, SearchResult, Sort, Stats, StatsRequest,
};
use loglens_proto::{query as pq, stats as ps};

/// A proto filter as a domain filter.
pub fn filter(f: Option<pq::LogFilter>) -> Result<Filter> {
    let Some(f) = f else { return Ok(Filter::default()) };
    let level = match f.level.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(l) => Some(Level::parse(l, "level")?),
    };
    let status_code = match f.status_code {
        None => None,
        Some(s) => {
            Some(u16::try_from(s).ok().filter(|s| (100..=599).contains(s)).ok_or_else(|| {
                Error::invalid(
                    "status_code",
                    format!("status_code must be between 100 and 599, got {s}"),
                )
            })?)
        }
    };
    Filter {
        service_name: f.service_name,
        level,
        status_code,
        anomaly: f.anomaly,
        from_timestamp: f.from_timestamp,
        to_timestamp: f.to_timestamp,
        query: f.query,
        trace_id: f.trace_id,
        request_id: f.request_id,
    }
    .validated()
}

fn sort(order: i32) -> Result<Sort> {
    match pq::SortOrder::try_from(order) {
        Ok(pq::SortOrder::Unspecified | pq::SortOrder::NewestFirst) => Ok(Sort::NewestFirst),
        Ok(pq::SortOrder::OldestFirst) => Ok(Sort::OldestFirst),
        Ok(pq::SortOrder::Severity) => Ok(Sort::Severity),
        Err(_) => Err(Error::invalid(
            "sort",
            format!(
                "sort must be 0-3 (newest first, newest first, oldest first, severity), got {order}"
            ),
        )),
    }
}

fn zero_is_default(n: u32) -> Option<u32> {
    if n == 0 { None } else { Some(n) }
}

/// A proto search as a validated domain search.
pub fn search_request(r: pq::SearchRequest) -> Result<SearchRequest> {
    SearchRequest::new(
        filter(r.filter)?,
        sort(r.sort)?,
        zero_is_default(r.page),
        zero_is_default(r.size),
        Some(r.cursor),
    )
}

/// A proto anomaly query as a validated domain search.
pub fn anomalies_request(r: pq::GetAnomaliesRequest) -> Result<SearchRequest> {
    SearchRequest::anomalies(
        filter(r.filter)?,
        zero_is_default(r.page),
        zero_is_default(r.size),
        Some(r.cursor),
    )
}

/// A stored record on the wire.
pub fn entry(r: LogRecord) -> pq::LogEntry {
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
    }
}

/// A page of results on the wire.
pub fn search_response(r: SearchResult) -> pq::SearchResponse {
    pq::SearchResponse {
        total: r.total,
        page: r.page,
        size: r.size,
        logs: r.logs.into_iter().map(entry).collect(),
        next_cursor: r.next_cursor.unwrap_or_default(),
    }
}

/// A proto stats request as a validated domain one.
pub fn stats_request(r: ps::GetStatsRequest) -> Result<StatsRequest> {
    let histogram_interval_ms = match r.histogram_interval_ms {
        0 => None,
        i => Some(i),
    };
    StatsRequest {
        from_timestamp: r.from_timestamp,
        to_timestamp: r.to_timestamp,
        service_name: r.service_name,
        histogram_interval_ms,
        include_percentiles: r.include_percentiles,
    }
    .validated()
}

/// Stats on the wire.
pub fn stats_response(s: Stats) -> ps::GetStatsResponse {
    ps::GetStatsResponse {
        total_logs: s.total_logs,
        services: s.services.into_iter().collect(),
        levels: s.levels.into_iter().collect(),
        anomaly_count: s.anomaly_count,
        error_count: s.error_count,
        histogram: s
            .histogram
            .into_iter()
            .map(|HistogramBucket { start, count, anomaly_count, error_count }| {
                ps::HistogramBucket { start, count, anomaly_count, error_count }
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

/// The processor's ledger on the wire, with totals.
pub fn ledger_response(
    partitions: Vec<loglens_core::ledger::PartitionLedger>,
) -> ps::GetLedgerResponse {
    let mut reply = ps::GetLedgerResponse { mode: "kafka".into(), ..Default::default() };
    for p in partitions {
        reply.received += p.received;
        reply.indexed += p.indexed;
        reply.dead_lettered += p.dead_lettered;
        reply.lag += p.lag();
        reply.partitions.push(ps::PartitionLedger {
            lag: p.lag(),
            topic: p.topic,
            partition: p.partition,
            assigned: p.assigned,
            received: p.received,
            indexed: p.indexed,
            dead_lettered: p.dead_lettered,
            committed_offset: p.committed_offset,
            high_watermark: p.high_watermark,
        });
    }
    reply
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
        assert_eq!((f.level, f.status_code, f.service_name), (Some(Level::Warn), Some(404), None));
        let e = filter(Some(pq::LogFilter { status_code: Some(70_000), ..Default::default() }))
            .unwrap_err();
        assert_eq!(e.field(), Some("status_code"));
        let e = filter(Some(pq::LogFilter { level: Some("loud".into()), ..Default::default() }))
            .unwrap_err();
        assert_eq!(e.field(), Some("level"));
    }

    #[test]
    fn search_defaults_and_errors() {
        let r = search_request(pq::SearchRequest::default()).unwrap();
        assert_eq!((r.page, r.size, r.sort, r.cursor), (1, 20, Sort::NewestFirst, None));
        let e = search_request(pq::SearchRequest { size: 1001, ..Default::default() }).unwrap_err();
        assert_eq!(e.to_string(), "size must be between 1 and 1000, got 1001");
        let e = search_request(pq::SearchRequest { sort: 9, ..Default::default() }).unwrap_err();
        assert_eq!(e.field(), Some("sort"));
        let a = anomalies_request(pq::GetAnomaliesRequest::default()).unwrap();
        assert_eq!((a.sort, a.filter.anomaly), (Sort::Severity, Some(true)));
    }

    #[test]
    fn ledger_totals_add_up() {
        use loglens_core::ledger::PartitionLedger;
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
        let r = ledger_response(vec![p(0, 10, 11, 15), p(1, 5, 6, 6)]);
        assert_eq!(
            (r.mode.as_str(), r.received, r.indexed, r.dead_lettered, r.lag),
            ("kafka", 17, 15, 2, 4)
        );
        assert_eq!(r.partitions[0].lag, 4);
    }

    #[test]
    fn stats_interval_zero_means_none() {
        assert_eq!(
            stats_request(ps::GetStatsRequest::default()).unwrap().histogram_interval_ms,
            None
        );
        let e =
            stats_request(ps::GetStatsRequest { histogram_interval_ms: -5, ..Default::default() })
                .unwrap_err();
        assert_eq!(e.field(), Some("interval"));
    }
}
