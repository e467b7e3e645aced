//! Every gRPC RPC of a real `loglens standalone`, through tonic clients.

mod common;

use common::{Standalone, eventually, record};
use loglens_proto::ingest::IngestRequest;
use loglens_proto::query::{GetAnomaliesRequest, LogFilter, SearchRequest, SortOrder, TailRequest};
use loglens_proto::stats::GetStatsRequest;
use tokio_stream::StreamExt;

#[tokio::test]
async fn ingest_reports_accepted_and_each_rejection_with_index_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let mut ingest = server.ingest().await;
    let mut bad_status = record("svc", "INFO", "bad status", "r-2");
    bad_status.status_code = Some(700);
    let mut bad_time = record("svc", "INFO", "bad time", "r-3");
    bad_time.timestamp = "next tuesday".into();
    let reply = ingest
        .ingest(IngestRequest {
            records: vec![
                record("svc", "info", "fine", "r-0"),
                record("", "INFO", "no service", "r-1"),
                bad_status,
                bad_time,
                record("svc", "LOUD", "bad level", "r-4"),
                record("svc", "warning", "also fine", "r-5"),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.accepted, 2);
    let got: Vec<(u32, &str)> =
        reply.rejected.iter().map(|r| (r.index, r.field.as_str())).collect();
    assert_eq!(got, vec![(1, "service_name"), (2, "status_code"), (3, "timestamp"), (4, "level")]);
    assert_eq!(reply.rejected[1].reason, "status_code must be between 100 and 599, got 700");
    assert!(reply.rejected[3].reason.contains("DEBUG, INFO, WARN"), "{}", reply.rejected[3].reason);

    let mut query = server.query().await;
    let found = eventually(10, "both accepted records", || {
        let mut q = query.clone();
        async move {
            let r = q
                .search(SearchRequest {
                    filter: Some(LogFilter {
                        service_name: Some("svc".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            (r.total == 2).then_some(r)
        }
    })
    .await;
    let levels: Vec<&str> = found.logs.iter().map(|l| l.level.as_str()).collect();
    assert!(levels.contains(&"WARN") && levels.contains(&"INFO"), "{levels:?}");
    // A bad search argument is INVALID_ARGUMENT naming the field.
    let e = query.search(SearchRequest { size: 5000, ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert_eq!(e.message(), "size must be between 1 and 1000, got 5000");
    assert_eq!(e.metadata().get("loglens-field").unwrap(), "size");
}

#[tokio::test]
async fn ingest_stream_counts_across_the_whole_stream() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let mut ingest = server.ingest().await;
    let batches = vec![
        IngestRequest {
            records: vec![
                record("stream", "INFO", "a", "s-0"),
                record("stream", "INFO", "b", "s-1"),
            ],
        },
        IngestRequest { records: vec![record("", "INFO", "c", "s-2")] },
        IngestRequest {
            records: vec![
                record("stream", "ERROR", "d", "s-3"),
                record("stream", "nope", "e", "s-4"),
            ],
        },
    ];
    let reply = ingest.ingest_stream(tokio_stream::iter(batches)).await.unwrap().into_inner();
    assert_eq!(reply.accepted, 3);
    let got: Vec<u32> = reply.rejected.iter().map(|r| r.index).collect();
    assert_eq!(got, vec![2, 4], "indices count across the stream");
    let mut query = server.query().await;
    eventually(10, "3 streamed records", || {
        let mut q = query.clone();
        async move { (common::count_request_id(&mut q, "s-3").await == 1).then_some(()) }
    })
    .await;
    let total = query
        .search(SearchRequest {
            filter: Some(LogFilter { service_name: Some("stream".into()), ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .total;
    assert_eq!(total, 3);
}

#[tokio::test]
async fn search_filters_sorts_pages_and_cursors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let mut ingest = server.ingest().await;
    let base = 1_714_564_800_000i64;
    let records = (0..120)
        .map(|i| {
            let mut r = record(
                if i % 2 == 0 { "even" } else { "odd" },
                if i % 10 == 0 { "ERROR" } else { "INFO" },
                &format!("request number {i} done"),
                &format!("q-{i}"),
            );
            r.timestamp = (base + i * 1000).to_string();
            r.status_code = Some(if i % 5 == 0 { 503 } else { 200 });
            r.trace_id = Some(format!("trace-{}", i % 3));
            r
        })
        .collect();
    assert_eq!(ingest.ingest(IngestRequest { records }).await.unwrap().into_inner().accepted, 120);
    let mut query = server.query().await;
    let search = |filter: LogFilter, sort: SortOrder, page: u32, size: u32, cursor: String| {
        SearchRequest { filter: Some(filter), sort: sort as i32, page, size, cursor }
    };
    eventually(10, "120 records", || {
        let mut q = query.clone();
        async move {
            (q.search(SearchRequest::default()).await.unwrap().into_inner().total == 120)
                .then_some(())
        }
    })
    .await;

    let r = query
        .search(search(LogFilter::default(), SortOrder::Unspecified, 1, 5, String::new()))
        .await
        .unwrap()
        .into_inner();
    let ts: Vec<i64> = r.logs.iter().map(|l| l.timestamp).collect();
    assert_eq!(
        ts,
        (115..120).rev().map(|i| base + i * 1000).collect::<Vec<_>>(),
        "newest first by default"
    );
    let r = query
        .search(search(LogFilter::default(), SortOrder::OldestFirst, 2, 5, String::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.logs[0].timestamp, base + 5000, "page 2 of oldest-first starts at the 6th");
    assert_eq!((r.page, r.size, r.total), (2, 5, 120));

    let f = LogFilter {
        service_name: Some("even".into()),
        level: Some("error".into()),
        ..Default::default()
    };
    let r = query
        .search(search(f, SortOrder::Unspecified, 1, 100, String::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.total, 12);
    assert!(r.logs.iter().all(|l| l.service_name == "even" && l.level == "ERROR"));
    let f = LogFilter {
        status_code: Some(503),
        from_timestamp: Some(base + 50_000),
        to_timestamp: Some(base + 100_000),
        ..Default::default()
    };
    assert_eq!(
        query
            .search(search(f, SortOrder::Unspecified, 1, 100, String::new()))
            .await
            .unwrap()
            .into_inner()
            .total,
        11
    );
    let f = LogFilter { query: Some("NUMBER 42".into()), ..Default::default() };
    let r = query
        .search(search(f, SortOrder::Unspecified, 1, 100, String::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.total, 1);
    assert_eq!(r.logs[0].request_id.as_deref(), Some("q-42"));
    let f =
        LogFilter { trace_id: Some("trace-1".into()), anomaly: Some(false), ..Default::default() };
    let r = query
        .search(search(f, SortOrder::Unspecified, 1, 100, String::new()))
        .await
        .unwrap()
        .into_inner();
    assert!(
        r.total > 0
            && r.logs.iter().all(|l| l.trace_id.as_deref() == Some("trace-1") && !l.anomaly)
    );

    // Walk everything through cursors, 7 at a time: every record exactly once, in order.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = query
            .search(search(LogFilter::default(), SortOrder::Unspecified, 1, 7, cursor))
            .await
            .unwrap()
            .into_inner();
        seen.extend(r.logs.iter().map(|l| l.timestamp));
        if r.next_cursor.is_empty() {
            break;
        }
        cursor = r.next_cursor;
    }
    assert_eq!(seen, (0..120).rev().map(|i| base + i * 1000).collect::<Vec<_>>());
    let e = query
        .search(search(LogFilter::default(), SortOrder::Unspecified, 1, 7, "garbage!".into()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert_eq!(e.metadata().get("loglens-field").unwrap(), "cursor");
}

#[tokio::test]
async fn anomalies_come_highest_severity_first_and_stats_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let mut ingest = server.ingest().await;
    let mut worst = record("pay", "ERROR", "everything failed", "a-1");
    worst.status_code = Some(503);
    worst.response_time_ms = Some(12_000.0);
    worst.error_code = Some("PROVIDER_DOWN".into());
    let mut mid = record("pay", "ERROR", "failed", "a-2");
    mid.status_code = Some(502);
    let mut low = record("auth", "INFO", "not found", "a-3");
    low.status_code = Some(404);
    low.response_time_ms = Some(20.0);
    let mut fine = record("auth", "INFO", "ok", "a-4");
    fine.status_code = Some(200);
    fine.response_time_ms = Some(10.0);
    let debug = record("auth", "DEBUG", "detail", "a-5");
    let accepted = ingest
        .ingest(IngestRequest { records: vec![low, fine, worst, debug, mid] })
        .await
        .unwrap()
        .into_inner()
        .accepted;
    assert_eq!(accepted, 5);
    let mut query = server.query().await;
    let r = eventually(10, "3 anomalies", || {
        let mut q = query.clone();
        async move {
            let r = q.get_anomalies(GetAnomaliesRequest::default()).await.unwrap().into_inner();
            (r.total == 3).then_some(r)
        }
    })
    .await;
    let ids: Vec<&str> = r.logs.iter().map(|l| l.request_id.as_deref().unwrap()).collect();
    assert_eq!(ids, ["a-1", "a-2", "a-3"]);
    // 35 (ERROR) + 25.15 (503) + 14.03 (12 s, 4x the threshold) + 15 (error code).
    assert_eq!(r.logs[0].severity_score, 89);
    assert_eq!(
        r.logs[0].anomaly_reasons,
        ["error_level", "http_status", "slow_response", "error_code"]
    );
    assert!(r.logs[1].severity_score > r.logs[2].severity_score);
    let only_auth = query
        .get_anomalies(GetAnomaliesRequest {
            filter: Some(LogFilter { service_name: Some("auth".into()), ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(only_auth.total, 1);

    let mut stats = server.stats().await;
    let s = stats.get_stats(GetStatsRequest::default()).await.unwrap().into_inner();
    assert_eq!(s.total_logs, 5);
    assert_eq!(s.services.get("pay"), Some(&2));
    assert_eq!(s.services.get("auth"), Some(&3));
    assert_eq!(s.levels.get("ERROR"), Some(&2));
    assert_eq!(s.levels.get("DEBUG"), Some(&1));
    assert_eq!((s.anomaly_count, s.error_count), (3, 2));
    assert!(
        s.histogram.is_empty() && s.response_time_percentiles.is_empty(),
        "extras only when asked"
    );
    let s = stats
        .get_stats(GetStatsRequest {
            service_name: Some("auth".into()),
            histogram_interval_ms: 60_000,
            include_percentiles: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.total_logs, 3);
    assert_eq!(s.histogram.iter().map(|b| b.count).sum::<u64>(), 3);
    assert!(s.histogram.iter().all(|b| b.start % 60_000 == 0));
    let p = &s.response_time_percentiles["auth"];
    assert_eq!(p.count, 2);
    assert!(p.p50 >= 10.0 && p.p99 <= 20.0 + 1e-6, "{p:?}");
    let e = stats
        .get_stats(GetStatsRequest { histogram_interval_ms: 10, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn tail_streams_only_new_matching_records() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let mut ingest = server.ingest().await;
    ingest
        .ingest(IngestRequest { records: vec![record("tailed", "ERROR", "old", "t-old")] })
        .await
        .unwrap();
    let mut query = server.query().await;
    eventually(10, "old record searchable", || {
        let mut q = query.clone();
        async move { (common::count_request_id(&mut q, "t-old").await == 1).then_some(()) }
    })
    .await;
    let filter = LogFilter {
        service_name: Some("tailed".into()),
        level: Some("ERROR".into()),
        ..Default::default()
    };
    let mut stream = query
        .tail(TailRequest { filter: Some(filter), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    ingest
        .ingest(IngestRequest {
            records: vec![
                record("tailed", "INFO", "wrong level", "t-1"),
                record("other", "ERROR", "wrong service", "t-2"),
                record("tailed", "ERROR", "wanted one", "t-3"),
            ],
        })
        .await
        .unwrap();
    ingest
        .ingest(IngestRequest { records: vec![record("tailed", "error", "wanted two", "t-4")] })
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("tail delivered within 10 s");
        got.push(next.expect("stream open").expect("entry").request_id.unwrap());
    }
    assert_eq!(got, ["t-3", "t-4"], "only new, matching records, in order");
}
