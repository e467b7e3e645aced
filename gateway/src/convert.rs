//! Proto <-> REST shaping, pure: query structs into gRPC requests, the REST
//! reply types, the `POST /logs` body split into records, and the health
//! verdict.

use std::collections::BTreeMap;

use loglens_core::record::RawLog;
use loglens_core::status::StatusCode;
use loglens_core::{Error, Filter, Result};
use loglens_proto::ingest::{IngestResponse, Rejection};
use loglens_proto::query::{
    GetAnomaliesRequest, LogEntry, LogFilter, SearchRequest, SearchResponse, SortOrder,
};
use loglens_proto::stats::{GetStatsRequest, GetStatsResponse, HistogramBucket, Percentiles};
use serde::Serialize;
use serde_json::value::RawValue;
use tonic_health::pb::health_check_response::ServingStatus;
use utoipa::ToSchema;

use crate::params::{AnomaliesQuery, EpochMs, LogsQuery, SortParam, StatsQuery};

/// `GET /logs`: filters, sort (newest first when absent) and paging.
impl TryFrom<LogsQuery> for SearchRequest {
    type Error = Error;
    fn try_from(q: LogsQuery) -> Result<SearchRequest> {
        let (from_timestamp, to_timestamp) = time_range(q.from_timestamp, q.to_timestamp)?;
        let filter = LogFilter {
            service_name: q.service_name,
            level: q.level.map(|l| l.0.as_str().to_owned()),
            status_code: q.status_code.map(|s| s.0.into()),
            anomaly: q.anomaly,
            from_timestamp,
            to_timestamp,
            query: q.q,
            trace_id: q.trace_id,
            request_id: q.request_id,
            host: q.host,
            user_id: q.user_id,
            error_code: q.error_code,
            tag: q.tag,
            anomaly_reason: q.anomaly_reason,
            attributes: q.attr.map(|a| a.0.into_iter().collect()).unwrap_or_default(),
            tenant: q.tenant,
        };
        Ok(SearchRequest {
            filter: Some(filter),
            sort: SortOrder::from(q.sort.unwrap_or(SortParam::Newest)) as i32,
            page: q.page.unwrap_or_default().0,
            size: q.size.unwrap_or_default().0,
            cursor: q.cursor.unwrap_or_default(),
        })
    }
}

/// `GET /logs/anomalies`: like `GET /logs`, `anomaly` always sent as `true`.
impl TryFrom<AnomaliesQuery> for GetAnomaliesRequest {
    type Error = Error;
    fn try_from(q: AnomaliesQuery) -> Result<GetAnomaliesRequest> {
        let AnomaliesQuery {
            service_name,
            level,
            status_code,
            anomaly: _, // only `true` parses
            from_timestamp,
            to_timestamp,
            q,
            trace_id,
            request_id,
            host,
            user_id,
            error_code,
            tag,
            anomaly_reason,
            attr,
            tenant,
            page,
            size,
            cursor,
        } = q;
        let search = SearchRequest::try_from(LogsQuery {
            service_name,
            level,
            status_code,
            anomaly: Some(true),
            from_timestamp,
            to_timestamp,
            q,
            trace_id,
            request_id,
            host,
            user_id,
            error_code,
            tag,
            anomaly_reason,
            attr,
            tenant,
            page,
            size,
            cursor,
            sort: None,
        })?;
        Ok(GetAnomaliesRequest {
            filter: search.filter,
            page: search.page,
            size: search.size,
            cursor: search.cursor,
        })
    }
}

/// `GET /stats`: the filters of `GET /logs`, all sent in `filter` (the
/// request's older top-level range and service stay unset), optional
/// histogram and percentiles.
impl TryFrom<StatsQuery> for GetStatsRequest {
    type Error = Error;
    fn try_from(q: StatsQuery) -> Result<GetStatsRequest> {
        let StatsQuery {
            service_name,
            level,
            status_code,
            anomaly,
            from_timestamp,
            to_timestamp,
            q,
            trace_id,
            request_id,
            host,
            user_id,
            error_code,
            tag,
            anomaly_reason,
            attr,
            tenant,
            interval,
            percentiles,
        } = q;
        let search = SearchRequest::try_from(LogsQuery {
            service_name,
            level,
            status_code,
            anomaly,
            from_timestamp,
            to_timestamp,
            q,
            trace_id,
            request_id,
            host,
            user_id,
            error_code,
            tag,
            anomaly_reason,
            attr,
            tenant,
            ..LogsQuery::default()
        })?;
        Ok(GetStatsRequest {
            filter: search.filter,
            histogram_interval_ms: interval.map_or(0, |i| i.0),
            include_percentiles: percentiles.unwrap_or(false),
            ..GetStatsRequest::default()
        })
    }
}

/// The bounds, refused unless `from <= to` (checked by [`Filter`]).
fn time_range(from: Option<EpochMs>, to: Option<EpochMs>) -> Result<(Option<i64>, Option<i64>)> {
    let f = Filter {
        from_timestamp: from.map(|t| t.0),
        to_timestamp: to.map(|t| t.0),
        ..Filter::default()
    }
    .validated()?;
    Ok((f.from_timestamp, f.to_timestamp))
}

/// Reply of `GET /logs` and `GET /logs/anomalies`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LogsPage {
    /// Records matching the filter, over all pages.
    pub total: u64,
    /// 1-based page number of this reply.
    pub page: u32,
    /// Page size used.
    pub size: u32,
    /// The records of this page.
    pub logs: Vec<LogEntry>,
    /// Pass as `cursor` to get the next page; null when there is none.
    pub next_cursor: Option<String>,
}

impl From<SearchResponse> for LogsPage {
    fn from(r: SearchResponse) -> LogsPage {
        LogsPage {
            total: r.total,
            page: r.page,
            size: r.size,
            logs: r.logs,
            next_cursor: Some(r.next_cursor).filter(|c| !c.is_empty()),
        }
    }
}

/// Reply of `GET /stats` and `GET /logs/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StatsReply {
    /// Records matching the filters.
    pub total_logs: u64,
    /// Record count per service.
    pub services: BTreeMap<String, u64>,
    /// Record count per level.
    pub levels: BTreeMap<String, u64>,
    /// Records flagged as anomalies.
    pub anomaly_count: u64,
    /// Records with level ERROR.
    pub error_count: u64,
    /// Time buckets of `interval` width, oldest first, each with `levels`
    /// (records per level, only levels with records); present only when
    /// `interval` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Vec<HistogramBucket>>,
    /// Response-time percentiles per service; present only with `percentiles=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_time_percentiles: Option<BTreeMap<String, Percentiles>>,
}

impl StatsReply {
    /// Shapes `r`, the answer to `req`: `histogram` and
    /// `response_time_percentiles` appear only when `req` asked for them.
    pub fn new(r: GetStatsResponse, req: &GetStatsRequest) -> StatsReply {
        StatsReply {
            total_logs: r.total_logs,
            services: r.services.into_iter().collect(),
            levels: r.levels.into_iter().collect(),
            anomaly_count: r.anomaly_count,
            error_count: r.error_count,
            histogram: (req.histogram_interval_ms > 0).then_some(r.histogram),
            response_time_percentiles: req
                .include_percentiles
                .then(|| r.response_time_percentiles.into_iter().collect()),
        }
    }
}

/// Reply of `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HealthReply {
    /// `healthy` or `unhealthy`.
    pub status: &'static str,
    /// The store as the gRPC side reports it: `healthy`, `unhealthy`, or
    /// `unreachable` when the health call itself failed.
    pub store: &'static str,
    /// When the check ran, ms since the epoch.
    pub timestamp: i64,
    /// Why it is not healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the gRPC health check of the store returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheck {
    /// The health service answered with this status.
    Status(ServingStatus),
    /// The health service has no status for the name asked for.
    UnknownService(String),
    /// The call failed or timed out: the gRPC side is unreachable.
    Failed(String),
}

impl HealthReply {
    /// The verdict for `check` at `now_ms`; `healthy` only for SERVING.
    pub fn new(check: HealthCheck, now_ms: i64) -> HealthReply {
        let (store, error) = match check {
            HealthCheck::Status(ServingStatus::Serving) => ("healthy", None),
            HealthCheck::Status(s) => {
                ("unhealthy", Some(format!("store reports {}", s.as_str_name())))
            }
            HealthCheck::UnknownService(name) => {
                ("unhealthy", Some(format!("the grpc health service has no status for {name:?}")))
            }
            HealthCheck::Failed(e) => ("unreachable", Some(e)),
        };
        let status = if error.is_none() { "healthy" } else { "unhealthy" };
        HealthReply { status, store, timestamp: now_ms, error }
    }

    /// Whether this is a 200 (else 503).
    pub fn is_healthy(&self) -> bool {
        self.error.is_none()
    }
}

/// What was expected, for body-level errors.
const BODY_FORMS: &str = "a JSON array of records, a JSON object, or NDJSON (one object per line)";

/// A `POST /logs` body split into records: those to send to ingest, with
/// their position in the body, and those already rejected here.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IngestBatch {
    /// Records to ingest, in body order.
    pub records: Vec<RawLog>,
    /// `positions[i]` is the body index of `records[i]`.
    pub positions: Vec<u32>,
    /// Records that failed to parse here, with their body index.
    pub rejected: Vec<Rejection>,
}

impl IngestBatch {
    /// Splits `body` into records. The first non-whitespace byte decides the
    /// form: `[` is a JSON array; otherwise the body is a sequence of JSON
    /// objects, one per line (NDJSON) or pretty-printed or concatenated
    /// (`curl -d @file` drops newlines). Indices count records, so blank lines
    /// do not count. Errors only when the body as a whole is unreadable.
    pub fn parse(body: &[u8]) -> Result<IngestBatch> {
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        let body = body.trim_ascii();
        if body.is_empty() {
            return Err(Error::invalid("", format!("request body is empty; send {BODY_FORMS}")));
        }
        if body[0] == b'{'
            && let Some(records) = ndjson_records(body)
        {
            let positions = (0..records.len()).map(|i| u32::try_from(i).unwrap_or(u32::MAX));
            return Ok(IngestBatch {
                positions: positions.collect(),
                records,
                rejected: Vec::new(),
            });
        }
        IngestBatch::split(body)
    }

    /// [`IngestBatch::parse`] for any form of non-empty trimmed `body`.
    fn split(body: &[u8]) -> Result<IngestBatch> {
        let items: Vec<&[u8]> = if body[0] == b'[' {
            let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| {
                Error::invalid("", format!("request body is not a valid JSON array: {e}"))
            })?;
            items.into_iter().map(|v| v.get().as_bytes()).collect()
        } else if let Ok(one) = serde_json::from_slice::<&RawValue>(body) {
            if !one.get().starts_with('{') {
                return Err(Error::invalid("", format!("request body must be {BODY_FORMS}")));
            }
            vec![body]
        } else {
            json_sequence(body)?
        };
        let mut batch = IngestBatch::default();
        for (i, item) in items.into_iter().enumerate() {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            match parse_record(item) {
                Ok(record) => {
                    batch.records.push(record);
                    batch.positions.push(index);
                }
                Err(e) => batch.rejected.push(loglens_core::Rejection::new(index, &e).into()),
            }
        }
        Ok(batch)
    }

    /// The records to ingest and what is needed to answer once that returns.
    pub fn into_parts(self) -> (Vec<RawLog>, PendingReply) {
        (self.records, PendingReply { positions: self.positions, rejected: self.rejected })
    }
}

/// The local part of an ingest reply, waiting for the ingest service's answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PendingReply {
    positions: Vec<u32>,
    rejected: Vec<Rejection>,
}

impl PendingReply {
    /// Whether there is nothing to send (every record rejected locally, or none).
    pub fn nothing_sent(&self) -> bool {
        self.positions.is_empty()
    }

    /// The reply: `r.accepted`, and the local rejections merged with those of
    /// `r`, whose batch indices are mapped back to body indices, by index.
    pub fn finish(self, r: IngestResponse) -> IngestResponse {
        map_back(r, &self.positions, self.rejected)
    }
}

/// `reply` with its rejections, whose indices count the records sent,
/// mapped back through `positions` to body indices and merged with
/// `rejected` (those refused before sending), by index.
pub(crate) fn map_back(
    reply: IngestResponse,
    positions: &[u32],
    mut rejected: Vec<Rejection>,
) -> IngestResponse {
    for mut rej in reply.rejected {
        match positions.get(rej.index as usize) {
            Some(&pos) => {
                rej.index = pos;
                rejected.push(rej);
            }
            None => tracing::warn!(
                index = rej.index,
                "ingest rejection index outside the batch dropped"
            ),
        }
    }
    rejected.sort_by_key(|r| r.index);
    IngestResponse { accepted: reply.accepted, rejected }
}

/// The body's records when every non-blank line is one record that parses:
/// what agents send, read in one pass (the general reading below parses
/// each record twice, to find where it ends and then as a record). `None`
/// for any other body, which the general reading then splits and explains:
/// a pretty-printed object, objects without newlines, a bad record.
fn ndjson_records(body: &[u8]) -> Option<Vec<RawLog>> {
    // Sized once: growing a vector of records by doubling copied them over
    // and over into fresh pages (most of an HTTP ingest's page faults). At
    // most one record per 256 bytes is reserved, so a body of blank lines
    // cannot make it reserve many times its own size.
    let lines = loglens_core::record::lines(body).count();
    let mut records = Vec::with_capacity(lines.min(body.len() / 256 + 1));
    for line in loglens_core::record::lines(body) {
        let line = line.trim_ascii();
        if !line.is_empty() {
            records.push(parse_record(line).ok()?);
        }
    }
    Some(records)
}

/// Splits a sequence of JSON values. A value that does not parse is kept (to
/// be rejected with its index) up to the end of its line, and reading goes on
/// from the next line. Fails when nothing in `body` parses.
fn json_sequence(body: &[u8]) -> Result<Vec<&[u8]>> {
    let mut items = Vec::new();
    let mut first_error = None;
    let mut any_valid = false;
    let mut rest = body.trim_ascii_start();
    while !rest.is_empty() {
        let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<&RawValue>();
        let end = match values.next() {
            Some(Ok(v)) => {
                any_valid = true;
                items.push(v.get().as_bytes());
                values.byte_offset()
            }
            Some(Err(e)) => {
                let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
                items.push(rest[..end].trim_ascii());
                first_error.get_or_insert(e);
                end
            }
            None => rest.len(),
        };
        rest = rest[end..].trim_ascii_start();
    }
    match first_error {
        Some(e) if !any_valid => {
            Err(Error::invalid("", format!("request body is not JSON ({e}); send {BODY_FORMS}")))
        }
        _ => Ok(items),
    }
}

/// One record. JSON arrays are refused here: serde would read `[..]` as the
/// struct's fields by position. A status the proto cannot carry is refused
/// here too, so a local and a remote ingest answer alike.
fn parse_record(item: &[u8]) -> Result<RawLog> {
    if item.starts_with(b"[") {
        return Err(Error::invalid("", "record must be a JSON object"));
    }
    let raw = RawLog::from_json(item)?;
    if let Some(s) = raw.status_code
        && i32::try_from(s).is_err()
    {
        return Err(StatusCode::out_of_range(s));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> IngestBatch {
        IngestBatch::parse(body.as_bytes()).unwrap()
    }

    fn services(b: &IngestBatch) -> Vec<&str> {
        b.records.iter().map(|r| r.service_name.as_deref().unwrap_or_default()).collect()
    }

    #[test]
    fn array_object_and_ndjson_bodies() {
        let b =
            parse(r#" [{"service_name":"a","message":"m"},{"service_name":"b","message":"m"}] "#);
        assert_eq!((services(&b), b.positions.clone()), (vec!["a", "b"], vec![0, 1]));
        let b = parse("{\n  \"service_name\": \"pretty\",\n  \"message\": \"m\"\n}\n");
        assert_eq!(services(&b), vec!["pretty"]);
        let b = parse(
            "{\"service_name\":\"a\",\"message\":\"m\"}\r\n\n  \n{\"service_name\":\"b\",\"message\":\"m\"}",
        );
        assert_eq!((services(&b), b.positions.clone()), (vec!["a", "b"], vec![0, 1]));
        assert!(b.rejected.is_empty());
        assert_eq!(parse("[]"), IngestBatch::default());
        let b = parse(
            "{\"service_name\":\"a\",\"message\":\"m\"}{\"service_name\":\"b\",\"message\":\"m\"}",
        );
        assert_eq!(services(&b), vec!["a", "b"], "curl -d @file drops newlines");
        let b = parse(
            "{\n \"service_name\": \"a\", \"message\": \"m\"\n}\n{\n \"service_name\": \"b\"\n}",
        );
        assert_eq!(services(&b), vec!["a", "b"], "several pretty-printed objects");
    }

    #[test]
    fn one_record_per_line_reads_as_the_general_reading_does() {
        let bodies = [
            "{\"service_name\":\"a\",\"message\":\"m\"}",
            "{\"service_name\":\"a\",\"message\":\"m \\u00e9\\n\"}\r\n\n \t \n{\"service_name\":\"b\",\"status_code\":503,\"k8s.pod\":\"p\",\"n\":[1,{\"x\":null}]}\n",
            "{}\n{\"service_name\":\"c\",\"tags\":[\"x\"],\"timestamp\":1714564800123}",
        ];
        for body in bodies {
            assert!(ndjson_records(body.as_bytes()).is_some(), "{body}");
            assert_eq!(parse(body), IngestBatch::split(body.trim().as_bytes()).unwrap(), "{body}");
        }
        let b = parse(bodies[1]);
        assert_eq!((services(&b), b.positions.clone()), (vec!["a", "b"], vec![0, 1]));
        assert_eq!(b.records[0].message.as_deref(), Some("m \u{e9}\n"));
        // Anything else is left to the general reading.
        for body in ["{\n\"service_name\":\"a\"}", "{}{}", "{}\n[1]", "{}\n{\"status_code\":\"x\"}"]
        {
            assert!(ndjson_records(body.as_bytes()).is_none(), "{body}");
        }
    }

    #[test]
    fn bad_records_are_rejected_with_their_index_and_the_rest_kept() {
        let b = parse(
            "{\"service_name\":\"a\",\"message\":\"m\"}\n{not json\n{\"service_name\":\"c\",\"status_code\":\"200\"}\n\
             {\"service_name\":\"d\",\"status_code\":9999999999}\n[1]\n{\"service_name\":\"f\"}",
        );
        assert_eq!((services(&b), b.positions.clone()), (vec!["a", "f"], vec![0, 5]));
        let r: Vec<(u32, &str)> = b.rejected.iter().map(|r| (r.index, r.field.as_str())).collect();
        assert_eq!(r, vec![(1, ""), (2, "status_code"), (3, "status_code"), (4, "")]);
        assert_eq!(b.rejected[1].reason, "status_code must be an integer, got string \"200\"");
        assert_eq!(b.rejected[2].reason, "status_code must be between 100 and 599, got 9999999999");
        assert_eq!(b.rejected[3].reason, "record must be a JSON object");
        let b = parse(r#"[{"service_name":"a"}, 5, {"message":"m","tags":"x"}]"#);
        assert_eq!(b.positions, vec![0]);
        assert_eq!(b.rejected.iter().map(|r| r.index).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn unreadable_bodies_are_errors() {
        for body in ["", "  \n ", "hello world", "[{\"a\":1}", "42", "\"text\"", "{\"a\":"] {
            let e = IngestBatch::parse(body.as_bytes()).unwrap_err();
            assert_eq!(e.field(), Some(""), "{body:?}");
            assert!(e.to_string().contains("JSON"), "{body:?}: {e}");
        }
    }

    #[test]
    fn records_become_protos_with_timestamps_as_text() {
        use loglens_proto::ingest::LogRecord;
        let raw =
            |t: &str| RawLog::from_json(format!(r#"{{"timestamp":{t}}}"#).as_bytes()).unwrap();
        assert_eq!(
            LogRecord::try_from(raw("\"2024-05-01T12:00:00Z\"")).unwrap().timestamp,
            "2024-05-01T12:00:00Z"
        );
        assert_eq!(LogRecord::try_from(raw("1714564800123")).unwrap().timestamp, "1714564800123");
        assert_eq!(LogRecord::try_from(raw("1714564800.5")).unwrap().timestamp, "1714564800.5");
        assert_eq!(LogRecord::try_from(raw("null")).unwrap().timestamp, "");
        let full = RawLog::from_json(
            br#"{"service_name":"s","level":"warn","message":"m","status_code":502,"request_id":"r",
                "user_id":"u","response_time_ms":1.5,"error_code":"E","tags":["a"],"host":"h",
                "trace_id":"t","span_id":"p"}"#,
        )
        .unwrap();
        let p = LogRecord::try_from(full).unwrap();
        assert_eq!(
            p,
            LogRecord {
                timestamp: String::new(),
                service_name: "s".into(),
                level: "warn".into(),
                message: "m".into(),
                status_code: Some(502),
                request_id: "r".into(),
                user_id: "u".into(),
                response_time_ms: Some(1.5),
                error_code: Some("E".into()),
                tags: vec!["a".into()],
                host: "h".into(),
                trace_id: Some("t".into()),
                span_id: Some("p".into()),
                attributes: Default::default(),
            }
        );
    }

    #[test]
    fn grpc_rejections_map_back_to_body_positions() {
        let b = parse(
            "{\"service_name\":\"a\"}\n[1]\n{\"service_name\":\"b\"}\n{\"service_name\":\"c\"}",
        );
        let (records, pending) = b.into_parts();
        assert_eq!(records.len(), 3);
        let reply = pending.finish(IngestResponse {
            accepted: 1,
            rejected: vec![
                Rejection { index: 2, field: "message".into(), reason: "r2".into() },
                Rejection { index: 0, field: "message".into(), reason: "r0".into() },
                Rejection { index: 9, field: String::new(), reason: "bogus".into() },
            ],
        });
        assert_eq!(reply.accepted, 1);
        let r: Vec<(u32, &str)> =
            reply.rejected.iter().map(|r| (r.index, r.reason.as_str())).collect();
        assert_eq!(r, vec![(0, "r0"), (1, "record must be a JSON object"), (3, "r2")]);
    }

    #[test]
    fn stats_include_histogram_and_percentiles_only_when_asked() {
        let resp = GetStatsResponse {
            total_logs: 3,
            histogram: vec![HistogramBucket {
                start: 0,
                count: 3,
                anomaly_count: 1,
                error_count: 1,
                levels: [("ERROR".to_owned(), 1), ("INFO".to_owned(), 2)].into(),
            }],
            response_time_percentiles: [(
                "api".to_owned(),
                Percentiles { p50: 1.0, p95: 2.0, p99: 3.0, count: 3 },
            )]
            .into(),
            ..GetStatsResponse::default()
        };
        let plain =
            serde_json::to_value(StatsReply::new(resp.clone(), &GetStatsRequest::default()))
                .unwrap();
        let keys: Vec<&String> = plain.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["anomaly_count", "error_count", "levels", "services", "total_logs"]);
        let req = GetStatsRequest {
            histogram_interval_ms: 60_000,
            include_percentiles: true,
            ..Default::default()
        };
        let full = serde_json::to_value(StatsReply::new(resp, &req)).unwrap();
        assert_eq!(full["histogram"][0]["count"], 3);
        assert_eq!(full["histogram"][0]["levels"], serde_json::json!({"ERROR": 1, "INFO": 2}));
        assert_eq!(full["response_time_percentiles"]["api"]["p95"], 2.0);
    }

    #[test]
    fn empty_cursor_is_null_and_health_verdicts() {
        let page =
            LogsPage::from(SearchResponse { total: 1, page: 1, size: 20, ..Default::default() });
        assert_eq!(page.next_cursor, None);
        let h = HealthReply::new(HealthCheck::Status(ServingStatus::Serving), 5);
        assert_eq!(
            (h.status, h.store, h.timestamp, h.is_healthy()),
            ("healthy", "healthy", 5, true)
        );
        let h = HealthReply::new(HealthCheck::Status(ServingStatus::NotServing), 5);
        assert_eq!(
            (h.status, h.store, h.error.as_deref()),
            ("unhealthy", "unhealthy", Some("store reports NOT_SERVING"))
        );
        let h = HealthReply::new(HealthCheck::Failed("connection refused".into()), 5);
        assert_eq!((h.status, h.store, h.is_healthy()), ("unhealthy", "unreachable", false));
        let h = HealthReply::new(HealthCheck::UnknownService("loglens.store".into()), 5);
        assert_eq!(h.store, "unhealthy");
    }
}
