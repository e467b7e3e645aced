//! Drives `app()` with `oneshot` against the fake gRPC backend of
//! [`common`], which records what it receives and answers canned data or
//! errors picked by `service_name`.

mod common;

use std::io::Write;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{Backend, Reply, send};
use loglens_gateway::{GatewayConfig, app};
use loglens_proto::ingest::LogRecord;
use loglens_proto::query::{GetAnomaliesRequest, LogFilter, SearchRequest, SortOrder};
use loglens_proto::stats::GetStatsRequest;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tonic_health::ServingStatus;

async fn get(app: &Router, uri: &str) -> Reply {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(app: &Router, body: impl Into<Body>) -> Reply {
    send(app, Request::post("/logs").body(body.into()).unwrap()).await
}

fn error(field: Option<&str>, error: &str, message: &str) -> Value {
    let mut v = json!({"error": error, "message": message});
    if let Some(f) = field {
        v["field"] = json!(f);
    }
    v
}

fn filter(f: impl FnOnce(&mut LogFilter)) -> Option<LogFilter> {
    let mut filter = LogFilter::default();
    f(&mut filter);
    Some(filter)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// An address nothing listens on.
async fn dead_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

// ---------------------------------------------------------------- health

#[tokio::test]
async fn ledger_is_transcoded_and_takes_no_parameters() {
    let b = Backend::start().await;
    let r = get(&b.app(), "/ledger").await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(
        (v["mode"].as_str(), v["received"].as_u64(), v["indexed"].as_u64()),
        (Some("kafka"), Some(3), Some(2))
    );
    assert_eq!(v["dead_lettered"], 1);
    let r = get(&b.app(), "/ledger?partition=1").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["field"], "partition");
}

#[tokio::test]
async fn health_is_200_when_the_store_is_serving() {
    let b = Backend::start().await;
    let before = now_ms();
    let r = get(&b.app(), "/health").await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v.as_object().unwrap().len(), 3, "{v}");
    assert_eq!((v["status"].as_str(), v["store"].as_str()), (Some("healthy"), Some("healthy")));
    let ts = v["timestamp"].as_i64().unwrap();
    assert!(ts >= before && ts <= now_ms(), "{ts}");
}

#[tokio::test]
async fn health_is_503_when_the_store_is_not_serving_or_unknown() {
    let mut b = Backend::start().await;
    b.health.set_service_status("loglens.store", ServingStatus::NotServing).await;
    let r = get(&b.app(), "/health").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let v = r.json();
    assert_eq!((v["status"].as_str(), v["store"].as_str()), (Some("unhealthy"), Some("unhealthy")));
    assert_eq!(v["error"], "store reports NOT_SERVING");

    b.health.clear_service_status("loglens.store").await;
    let r = get(&b.app(), "/health").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let v = r.json();
    assert_eq!((v["status"].as_str(), v["store"].as_str()), (Some("unhealthy"), Some("unhealthy")));
    assert!(v["error"].as_str().unwrap().contains("loglens.store"), "{v}");
}

#[tokio::test]
async fn unreachable_backend_gives_503_everywhere_and_app_still_builds() {
    let cfg = GatewayConfig { grpc_endpoint: dead_endpoint().await, ..GatewayConfig::default() };
    let app = app(&cfg).unwrap();
    let r = get(&app, "/health").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let v = r.json();
    assert_eq!(
        (v["status"].as_str(), v["store"].as_str()),
        (Some("unhealthy"), Some("unreachable"))
    );
    assert!(
        v["error"].as_str().unwrap().starts_with("grpc health check failed (Unavailable)"),
        "{v}"
    );
    for r in [
        get(&app, "/logs").await,
        get(&app, "/logs/anomalies").await,
        get(&app, "/stats").await,
        post(&app, r#"{"service_name":"a","message":"m"}"#).await,
    ] {
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.json()["error"], "unavailable");
    }
    // Client mistakes are still 400 without a backend.
    assert_eq!(get(&app, "/logs?size=0").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bad_config_is_an_error() {
    for cfg in [
        GatewayConfig { grpc_endpoint: "127.0.0.1:50051".into(), ..GatewayConfig::default() },
        GatewayConfig { grpc_endpoint: "ftp://x:1".into(), ..GatewayConfig::default() },
        GatewayConfig { max_body_bytes: 0, ..GatewayConfig::default() },
        GatewayConfig { request_timeout: Duration::ZERO, ..GatewayConfig::default() },
    ] {
        assert!(app(&cfg).is_err(), "{cfg:?}");
    }
}

// ---------------------------------------------------------------- GET /logs

#[tokio::test]
async fn search_forwards_every_filter_and_shapes_the_reply() {
    let b = Backend::start().await;
    let r = get(
        &b.app(),
        "/logs?service_name=auth-service&level=warning&status_code=503&anomaly=true&from_timestamp=1000\
         &to_timestamp=2000&q=connection%20refused&trace_id=t-1&request_id=req-1&page=2&size=50&sort=severity\
         &attr.k8s.pod.name=api-1&attr.retries=3",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        b.recorded().search,
        vec![SearchRequest {
            filter: filter(|f| {
                f.service_name = Some("auth-service".into());
                f.level = Some("WARN".into());
                f.status_code = Some(503);
                f.anomaly = Some(true);
                f.from_timestamp = Some(1000);
                f.to_timestamp = Some(2000);
                f.query = Some("connection refused".into());
                f.trace_id = Some("t-1".into());
                f.request_id = Some("req-1".into());
                f.attributes = [
                    ("k8s.pod.name".to_owned(), "api-1".to_owned()),
                    ("retries".to_owned(), "3".to_owned()),
                ]
                .into();
            }),
            sort: SortOrder::Severity as i32,
            page: 2,
            size: 50,
            cursor: String::new(),
        }]
    );
    assert_eq!(
        r.json(),
        json!({
            "total": 42, "page": 2, "size": 50, "next_cursor": "cursor-2",
            "logs": [{
                "id": "0123456789abcdef0123456789abcdef", "timestamp": 1_714_564_800_000_i64,
                "service_name": "auth-service", "level": "ERROR", "message": "connection refused",
                "status_code": 503, "request_id": "req-1", "user_id": null, "response_time_ms": 1234.5,
                "error_code": null, "tags": ["eu"], "host": null, "trace_id": null, "span_id": null,
                "anomaly": true, "severity_score": 80, "anomaly_reasons": ["error_level", "http_status"],
                "ingested_at": 1_714_564_800_100_i64, "attributes": {}, "tenant": ""
            }]
        })
    );
}

#[tokio::test]
async fn search_defaults_and_cursor() {
    let b = Backend::start().await;
    let app = b.app();
    let r = get(&app, "/logs").await;
    assert_eq!(r.status, StatusCode::OK);
    let r2 = get(&app, "/logs?cursor=cursor-2&sort=oldest").await;
    assert_eq!(r2.json()["next_cursor"], Value::Null, "an empty cursor is null");
    let rec = b.recorded();
    assert_eq!(
        rec.search[0],
        SearchRequest {
            filter: Some(LogFilter::default()),
            sort: SortOrder::NewestFirst as i32,
            page: 1,
            size: 20,
            cursor: String::new()
        }
    );
    assert_eq!(
        (rec.search[1].cursor.as_str(), rec.search[1].sort),
        ("cursor-2", SortOrder::OldestFirst as i32)
    );
}

#[tokio::test]
async fn every_parameter_error_is_400_naming_the_field_and_nothing_is_forwarded() {
    let b = Backend::start().await;
    let app = b.app();
    let cases: &[(&str, &str, &str)] = &[
        ("/logs?size=5000", "size", "size must be between 1 and 1000, got 5000"),
        ("/logs?size=0", "size", "size must be between 1 and 1000, got 0"),
        ("/logs?size=abc", "size", "size must be an integer between 1 and 1000, got \"abc\""),
        ("/logs?page=abc", "page", "page must be an integer >= 1, got \"abc\""),
        ("/logs?page=0", "page", "page must be an integer between 1 and 4294967295, got 0"),
        ("/logs?anomaly=yes", "anomaly", "anomaly must be true or false, got \"yes\""),
        (
            "/logs?status_code=700",
            "status_code",
            "status_code must be between 100 and 599, got 700",
        ),
        (
            "/logs?status_code=5xx",
            "status_code",
            "status_code must be an integer between 100 and 599, got \"5xx\"",
        ),
        (
            "/logs?from_timestamp=2024-01-01",
            "from_timestamp",
            "from_timestamp must be an integer number of milliseconds since the epoch, got \"2024-01-01\"",
        ),
        (
            "/logs?to_timestamp=now",
            "to_timestamp",
            "to_timestamp must be an integer number of milliseconds since the epoch, got \"now\"",
        ),
        (
            "/logs?from_timestamp=9&to_timestamp=1",
            "from_timestamp",
            "from_timestamp must be <= to_timestamp, got 9 > 1",
        ),
        (
            "/logs?level=fatal",
            "level",
            "level must be one of DEBUG, INFO, WARN (or WARNING), ERROR (case-insensitive), got \"fatal\"",
        ),
        (
            "/logs?sort=random",
            "sort",
            "sort must be one of newest, oldest, severity, got \"random\"",
        ),
        (
            "/logs?sevice_name=auth",
            "sevice_name",
            "unknown parameter \"sevice_name\"; accepted: service_name, level, status_code, anomaly, \
             from_timestamp, to_timestamp, q, trace_id, request_id, host, user_id, error_code, tag, anomaly_reason, attr.<key>, tenant, page, size, cursor, sort",
        ),
        ("/logs?size=1&size=2", "size", "parameter \"size\" must be given at most once"),
        ("/logs/anomalies?size=1001", "size", "size must be between 1 and 1000, got 1001"),
        (
            "/logs/anomalies?anomaly=false",
            "anomaly",
            "anomaly must be true on /logs/anomalies (it lists anomalous records only), got \"false\"",
        ),
        (
            "/logs/anomalies?sort=newest",
            "sort",
            "unknown parameter \"sort\"; accepted: service_name, level, status_code, anomaly, from_timestamp, \
             to_timestamp, q, trace_id, request_id, host, user_id, error_code, tag, anomaly_reason, attr.<key>, tenant, page, size, cursor",
        ),
        (
            "/stats?interval=5x",
            "interval",
            "interval must be a whole number of milliseconds or a duration like 30s, 5m, 1h, 1d, got \"5x\"",
        ),
        ("/stats?interval=10", "interval", "interval must be at least 1s (1000 ms), got 10 ms"),
        (
            "/logs/stats?percentiles=maybe",
            "percentiles",
            "percentiles must be true or false, got \"maybe\"",
        ),
        (
            "/stats?from_timestamp=x",
            "from_timestamp",
            "from_timestamp must be an integer number of milliseconds since the epoch, got \"x\"",
        ),
        (
            "/logs/stats?size=10",
            "size",
            "unknown parameter \"size\"; accepted: service_name, level, status_code, anomaly, from_timestamp, \
             to_timestamp, q, trace_id, request_id, host, user_id, error_code, tag, anomaly_reason, attr.<key>, tenant, interval, percentiles",
        ),
        (
            "/stats?level=fatal",
            "level",
            "level must be one of DEBUG, INFO, WARN (or WARNING), ERROR (case-insensitive), got \"fatal\"",
        ),
        (
            "/logs/stats?status_code=99",
            "status_code",
            "status_code must be between 100 and 599, got 99",
        ),
        ("/stats?anomaly=yes", "anomaly", "anomaly must be true or false, got \"yes\""),
        (
            "/stats?attr.=x",
            "attr.",
            "attribute filters are written attr.<key>=<value>; the key is empty",
        ),
    ];
    for (uri, field, message) in cases {
        let r = get(&app, uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(r.json(), error(Some(field), "invalid_argument", message), "{uri}");
    }
    assert_eq!(b.recorded().calls(), 0, "bad parameters never reach the backend");
}

#[tokio::test]
async fn grpc_statuses_map_through_the_error_table() {
    let b = Backend::start().await;
    let app = b.app();

    let r = get(&app, "/logs?service_name=bad&page=900").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json(), error(Some("page"), "invalid_argument", "page is too deep; use cursor"));

    let r = get(&app, "/logs?service_name=busy").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header(header::RETRY_AFTER), "7");
    assert_eq!(r.json(), error(None, "resource_exhausted", "too many queries"));

    let r = get(&app, "/logs/anomalies?service_name=busy-nohint").await;
    assert_eq!((r.status, r.header(header::RETRY_AFTER)), (StatusCode::TOO_MANY_REQUESTS, "1"));

    let r = get(&app, "/stats?service_name=down").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json(), error(None, "unavailable", "store is down"));
    assert_eq!(r.header(header::RETRY_AFTER), "");

    let r = get(&app, "/logs?service_name=boom").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.json(), error(None, "internal", "bug"));

    let r = post(&app, r#"{"service_name":"busy","message":"m"}"#).await;
    assert_eq!((r.status, r.header(header::RETRY_AFTER)), (StatusCode::TOO_MANY_REQUESTS, "7"));
}

#[tokio::test]
async fn request_timeout_is_a_503_json_reply() {
    let b = Backend::start().await;
    let app = b.app_with(|c| c.request_timeout = Duration::from_millis(300));
    let r = get(&app, "/logs?service_name=slow").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json(), error(None, "unavailable", "request did not complete within 300ms"));
}

#[tokio::test]
async fn tail_streams_events_past_the_request_timeout_uncompressed_and_resumes() {
    let b = Backend::start().await;
    let app = b.app_with(|c| c.request_timeout = Duration::from_millis(300));
    let req = Request::get("/logs/tail?level=error")
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(app.clone(), req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/event-stream"));
    assert!(res.headers().get(header::CONTENT_ENCODING).is_none(), "not compressed");
    let mut body = res.into_body();
    let mut text = String::new();
    // Three records (600 ms, past the 300 ms timeout), then the fake ends
    // the tail as too slow; resuming fails, so a gap event, then live again.
    while text.matches("event: log").count() < 4 {
        let frame = tokio::time::timeout(
            Duration::from_secs(10),
            http_body_util::BodyExt::frame(&mut body),
        )
        .await
        .expect("an event within 10 s")
        .expect("stream open")
        .unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    let log = serde_json::to_string(&common::entry()).unwrap();
    assert_eq!(events[0], format!("id: fake-0-0\nevent: log\ndata: {log}"), "{text}");
    assert_eq!(events[2], format!("id: fake-0-2\nevent: log\ndata: {log}"), "{text}");
    assert_eq!(
        events[3],
        r#"event: gap
data: {"reason":"tail client too slow","after":"fake-0-2"}"#,
        "{text}"
    );
    assert!(events[4].starts_with("id: fake-0-0\nevent: log\n"), "{text}");
}

// ---------------------------------------------------------------- anomalies, stats

#[tokio::test]
async fn anomalies_force_anomaly_and_forward_filters_and_paging() {
    let b = Backend::start().await;
    let r =
        get(&b.app(), "/logs/anomalies?service_name=api&level=ERROR&q=timeout&size=5&cursor=abc")
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        b.recorded().anomalies,
        vec![GetAnomaliesRequest {
            filter: filter(|f| {
                f.service_name = Some("api".into());
                f.level = Some("ERROR".into());
                f.query = Some("timeout".into());
                f.anomaly = Some(true);
            }),
            page: 1,
            size: 5,
            cursor: "abc".into(),
        }]
    );
    let v = r.json();
    assert_eq!(
        (v["total"].as_u64(), v["page"].as_u64(), v["size"].as_u64()),
        (Some(7), Some(1), Some(5))
    );
    assert_eq!(v["next_cursor"], Value::Null);
    assert_eq!(v["logs"][0]["severity_score"], 80);
    assert!(b.recorded().search.is_empty());
}

#[tokio::test]
async fn stats_has_histogram_and_percentiles_only_when_asked() {
    let b = Backend::start().await;
    let app = b.app();
    let r = get(&app, "/stats").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json(),
        json!({"total_logs": 10, "services": {"auth-service": 6, "api": 4}, "levels": {"INFO": 8, "ERROR": 2},
               "anomaly_count": 3, "error_count": 2})
    );
    let r = get(
        &app,
        "/logs/stats?from_timestamp=1&to_timestamp=2&service_name=api&interval=5m&percentiles=true",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(
        v["histogram"],
        json!([{"start": 1_714_564_800_000_i64, "count": 10, "anomaly_count": 3, "error_count": 2,
                 "levels": {"INFO": 8, "ERROR": 2}}])
    );
    assert_eq!(
        v["response_time_percentiles"],
        json!({"api": {"p50": 10.0, "p95": 95.5, "p99": 120.0, "count": 4}})
    );
    let r = get(&app, "/stats?interval=60000").await;
    assert!(
        r.json().get("histogram").is_some() && r.json().get("response_time_percentiles").is_none()
    );
    let r = get(&app, "/stats?percentiles=true").await;
    assert!(
        r.json().get("histogram").is_none() && r.json().get("response_time_percentiles").is_some()
    );
    let no_filter = || filter(|_| ());
    assert_eq!(
        b.recorded().stats,
        vec![
            GetStatsRequest { filter: no_filter(), ..GetStatsRequest::default() },
            GetStatsRequest {
                filter: filter(|f| {
                    f.from_timestamp = Some(1);
                    f.to_timestamp = Some(2);
                    f.service_name = Some("api".into());
                }),
                histogram_interval_ms: 300_000,
                include_percentiles: true,
                ..GetStatsRequest::default()
            },
            GetStatsRequest {
                filter: no_filter(),
                histogram_interval_ms: 60_000,
                ..GetStatsRequest::default()
            },
            GetStatsRequest {
                filter: no_filter(),
                include_percentiles: true,
                ..GetStatsRequest::default()
            },
        ]
    );
}

#[tokio::test]
async fn stats_take_the_filters_of_logs() {
    let b = Backend::start().await;
    let app = b.app();
    let query = "service_name=api&level=error&status_code=503&anomaly=true&q=timeout&trace_id=t-1\
                 &request_id=r-1&attr.k8s.namespace=prod&from_timestamp=1&to_timestamp=2";
    for path in ["/stats", "/logs/stats"] {
        let r = get(&app, &format!("{path}?{query}&interval=1m")).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        assert_eq!(r.json()["histogram"][0]["levels"], json!({"INFO": 8, "ERROR": 2}));
        let r = get(&app, &format!("/logs?{query}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let want = filter(|f| {
        f.service_name = Some("api".into());
        f.level = Some("ERROR".into());
        f.status_code = Some(503);
        f.anomaly = Some(true);
        f.query = Some("timeout".into());
        f.trace_id = Some("t-1".into());
        f.request_id = Some("r-1".into());
        f.attributes = [("k8s.namespace".to_owned(), "prod".to_owned())].into();
        f.from_timestamp = Some(1);
        f.to_timestamp = Some(2);
    });
    let recorded = b.recorded();
    assert_eq!(recorded.stats.len(), 2);
    for s in &recorded.stats {
        assert_eq!(s.filter, want);
        assert_eq!((s.histogram_interval_ms, &s.service_name), (60_000, &None));
    }
    assert!(recorded.search.iter().all(|s| s.filter == want), "the same filter as GET /logs");
}

// ---------------------------------------------------------------- POST /logs

fn record(service: &str, message: &str) -> LogRecord {
    LogRecord { service_name: service.into(), message: message.into(), ..LogRecord::default() }
}

#[tokio::test]
async fn ingest_a_json_array_converting_every_field() {
    let b = Backend::start().await;
    let body = r#"[
        {"timestamp":"2024-05-01T12:00:00Z","service_name":"payment-service","level":"warning",
         "message":"card declined","status_code":402,"request_id":"req-1","user_id":"u-9",
         "response_time_ms":120.5,"error_code":"CARD_DECLINED","tags":["eu","beta"],"host":"pay-1",
         "trace_id":"abc","span_id":"def","extra":{"ignored":true}},
        {"timestamp":1714564800123,"service_name":"api","message":"ok"},
        {"timestamp":1714564800.5,"service_name":"api","message":"ok"}
    ]"#;
    let r = post(&b.app(), body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), json!({"accepted": 3, "rejected": []}));
    let sent = &b.recorded().ingest;
    assert_eq!(sent.len(), 1, "one Ingest call per body");
    assert_eq!(
        sent[0].records,
        vec![
            LogRecord {
                timestamp: "2024-05-01T12:00:00Z".into(),
                service_name: "payment-service".into(),
                level: "warning".into(),
                message: "card declined".into(),
                status_code: Some(402),
                request_id: "req-1".into(),
                user_id: "u-9".into(),
                response_time_ms: Some(120.5),
                error_code: Some("CARD_DECLINED".into()),
                tags: vec!["eu".into(), "beta".into()],
                host: "pay-1".into(),
                trace_id: Some("abc".into()),
                span_id: Some("def".into()),
                // Unknown fields are kept as attributes, flattened.
                attributes: [(
                    "extra.ignored".to_owned(),
                    loglens_proto::ingest::AttributeValue {
                        value: Some(
                            loglens_proto::ingest::attribute_value::Value::BoolValue(true,)
                        ),
                    },
                )]
                .into(),
            },
            LogRecord { timestamp: "1714564800123".into(), ..record("api", "ok") },
            LogRecord { timestamp: "1714564800.5".into(), ..record("api", "ok") },
        ]
    );
}

#[tokio::test]
async fn ingest_ndjson_and_a_single_object_without_content_type() {
    let b = Backend::start().await;
    let app = b.app();
    let r =
        post(&app, "{\"service_name\":\"a\",\"message\":\"one\"}\n\n{\"service_name\":\"b\",\"message\":\"two\"}\n")
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), json!({"accepted": 2, "rejected": []}));
    let r = post(&app, "{\n  \"service_name\": \"c\",\n  \"message\": \"pretty\"\n}").await;
    assert_eq!(r.json(), json!({"accepted": 1, "rejected": []}));
    let sent = &b.recorded().ingest;
    assert_eq!(sent[0].records, vec![record("a", "one"), record("b", "two")]);
    assert_eq!(sent[1].records, vec![record("c", "pretty")]);
}

#[tokio::test]
async fn ingest_maps_local_and_grpc_rejections_to_body_positions() {
    let b = Backend::start().await;
    let body = r#"[
        {"service_name":"a","message":"ok-0"},
        {"service_name":"a","message":"m","status_code":"200"},
        {"service_name":"a","message":"reject-me"},
        17,
        {"service_name":"a","message":"m","status_code":99999999999},
        {"service_name":"a","message":"ok-5"},
        {"service_name":"a","message":"reject-me"}
    ]"#;
    let r = post(&b.app(), body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"accepted": 2, "rejected": [
            {"index": 1, "field": "status_code", "reason": "status_code must be an integer, got string \"200\""},
            {"index": 2, "field": "message", "reason": "message is rejected"},
            {"index": 3, "field": "", "reason": "record must be a JSON object"},
            {"index": 4, "field": "status_code", "reason": "status_code must be between 100 and 599, got 99999999999"},
            {"index": 6, "field": "message", "reason": "message is rejected"},
        ]})
    );
    let messages: Vec<String> =
        b.recorded().ingest[0].records.iter().map(|r| r.message.clone()).collect();
    assert_eq!(
        messages,
        ["ok-0", "reject-me", "ok-5", "reject-me"],
        "only locally valid records are sent"
    );

    // NDJSON indices count records, blank lines skipped.
    let r = post(
        &b.app(),
        "{\"service_name\":\"a\",\"message\":\"ok\"}\n\n{broken\n{\"service_name\":\"a\",\"message\":\"reject-me\"}",
    )
    .await;
    let v = r.json();
    assert_eq!(v["accepted"], 1);
    let rejected: Vec<(u64, &str)> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["index"].as_u64().unwrap(), x["field"].as_str().unwrap()))
        .collect();
    assert_eq!(rejected, [(1, ""), (2, "message")]);
}

#[tokio::test]
async fn ingest_with_every_record_bad_locally_makes_no_grpc_call() {
    let b = Backend::start().await;
    let r = post(&b.app(), r#"[1, {"service_name": 5}]"#).await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["accepted"], 0);
    assert_eq!(
        v["rejected"][1],
        json!({"index": 1, "field": "service_name", "reason": "service_name must be a string, got number 5"})
    );
    let r = post(&b.app(), "[]").await;
    assert_eq!(r.json(), json!({"accepted": 0, "rejected": []}));
    assert_eq!(b.recorded().calls(), 0);
}

#[tokio::test]
async fn unreadable_ingest_bodies_are_400() {
    let b = Backend::start().await;
    let app = b.app();
    for body in ["", "   \n", "hello world", "[{\"service_name\":\"a\"", "42"] {
        let r = post(&app, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}");
        let v = r.json();
        assert_eq!(v["error"], "invalid_argument", "{body:?}");
        assert!(v.get("field").is_none(), "{v}");
        assert!(v["message"].as_str().unwrap().contains("JSON"), "{v}");
    }
    assert_eq!(b.recorded().calls(), 0);
}

#[tokio::test]
async fn oversized_bodies_are_413_json_with_or_without_content_length() {
    let b = Backend::start().await;
    let app = b.app_with(|c| c.max_body_bytes = 64);
    let big = format!("[{}]", [r#"{"service_name":"a","message":"m"}"#; 10].join(","));
    let expected = error(None, "payload_too_large", "request body must be at most 64 bytes");
    let with_length = Request::post("/logs")
        .header(header::CONTENT_LENGTH, big.len())
        .body(Body::from(big.clone()))
        .unwrap();
    let r = send(&app, with_length).await;
    assert_eq!((r.status, r.json()), (StatusCode::PAYLOAD_TOO_LARGE, expected.clone()));
    let stream =
        Body::from_stream(tokio_stream::iter(vec![Ok::<_, std::io::Error>(big.into_bytes())]));
    let r = send(&app, Request::post("/logs").body(stream).unwrap()).await;
    assert_eq!((r.status, r.json()), (StatusCode::PAYLOAD_TOO_LARGE, expected));
    assert_eq!(b.recorded().calls(), 0);
}

#[tokio::test]
async fn gzip_request_bodies_are_decompressed() {
    let b = Backend::start().await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(br#"{"service_name":"zipped","message":"m"}"#).unwrap();
    let req = Request::post("/logs")
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from(gz.finish().unwrap()))
        .unwrap();
    let r = send(&b.app(), req).await;
    assert_eq!((r.status, r.json()), (StatusCode::OK, json!({"accepted": 1, "rejected": []})));
    assert_eq!(b.recorded().ingest[0].records, vec![record("zipped", "m")]);

    let req = Request::post("/logs")
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from("not gzip"))
        .unwrap();
    let r = send(&b.app(), req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"], "invalid_argument");
}

// ---------------------------------------------------------------- docs

#[tokio::test]
async fn openapi_document_lists_every_route_with_parameter_ranges() {
    let b = Backend::start().await;
    let r = get(&b.app(), "/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header(header::CONTENT_TYPE).starts_with("application/json"));
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut listed: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(p, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), p.clone())))
        .collect();
    listed.sort();
    let expected: Vec<(String, String)> = [
        ("get", "/"),
        ("get", "/docs"),
        ("get", "/health"),
        ("get", "/ledger"),
        ("get", "/logs"),
        ("get", "/logs/anomalies"),
        ("get", "/logs/stats"),
        ("get", "/logs/tail"),
        ("get", "/openapi.json"),
        ("get", "/redoc"),
        ("get", "/redoc/redoc.standalone.js"),
        ("get", "/stats"),
        ("post", "/_bulk"),
        ("post", "/logs"),
        ("post", "/loki/api/v1/push"),
        ("post", "/services/collector/event"),
        ("post", "/services/collector/raw"),
        ("post", "/v1/logs"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(listed, expected);

    let params = paths["/logs"]["get"]["parameters"].as_array().unwrap();
    let size = params.iter().find(|p| p["name"] == "size").unwrap();
    assert_eq!((size["in"].as_str(), size["required"].as_bool()), (Some("query"), Some(false)));
    let schema = &size["schema"];
    assert_eq!(
        (schema["minimum"].as_i64(), schema["maximum"].as_i64()),
        (Some(1), Some(1000)),
        "{size}"
    );
    assert_eq!(schema["default"], 20);
    let status_code = params.iter().find(|p| p["name"] == "status_code").unwrap();
    assert_eq!(status_code["schema"]["maximum"], 599);
    let stats_params: Vec<&str> = paths["/stats"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        stats_params,
        [
            "service_name",
            "level",
            "status_code",
            "anomaly",
            "from_timestamp",
            "to_timestamp",
            "q",
            "trace_id",
            "request_id",
            "host",
            "user_id",
            "error_code",
            "tag",
            "anomaly_reason",
            "attr.<key>",
            "tenant",
            "interval",
            "percentiles"
        ]
    );
    let bucket = &doc["components"]["schemas"]["HistogramBucket"]["properties"];
    assert_eq!(bucket["levels"]["type"], "object", "{bucket}");
    for (path, method, status, schema) in [
        ("/logs", "get", "200", "LogsPage"),
        ("/logs", "get", "400", "ErrorBody"),
        ("/logs", "post", "200", "IngestResponse"),
        ("/stats", "get", "200", "StatsReply"),
        ("/health", "get", "503", "HealthReply"),
    ] {
        let s = &paths[path][method]["responses"][status]["content"]["application/json"]["schema"]
            ["$ref"];
        assert_eq!(
            s.as_str(),
            Some(format!("#/components/schemas/{schema}").as_str()),
            "{method} {path} {status}"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in [
        "LogEntry",
        "LogsPage",
        "StatsReply",
        "HistogramBucket",
        "Percentiles",
        "IngestResponse",
        "Rejection",
        "LogRecord",
    ] {
        assert!(schemas.contains_key(s), "schema {s} missing");
    }
}

#[tokio::test]
async fn swagger_ui_is_served_offline() {
    let b = Backend::start().await;
    let app = b.app();
    let r = get(&app, "/docs").await;
    assert!(r.status.is_redirection(), "{}", r.status);
    assert_eq!(r.header(header::LOCATION), "/docs/");
    let r = get(&app, "/docs/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header(header::CONTENT_TYPE).starts_with("text/html"));
    assert!(r.text().contains("swagger-ui"), "{}", r.text());
    let r = get(&app, "/docs/swagger-initializer.js").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("/openapi.json"));
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"] {
        let r = get(&app, asset).await;
        assert_eq!(r.status, StatusCode::OK, "{asset}");
        assert!(r.body.len() > 10_000, "{asset} is vendored, not a stub");
    }
}

#[tokio::test]
async fn redoc_page_and_bundle_are_served() {
    let b = Backend::start().await;
    let app = b.app();
    let r = get(&app, "/redoc").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header(header::CONTENT_TYPE).starts_with("text/html"));
    assert!(r.text().contains("/redoc/redoc.standalone.js") && r.text().contains("/openapi.json"));
    let r = get(&app, "/redoc/redoc.standalone.js").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header(header::CONTENT_TYPE), "application/javascript; charset=utf-8");
    assert!(r.header(header::CACHE_CONTROL).contains("max-age=31536000"));
    assert_eq!(
        r.body,
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/redoc.standalone.js")).unwrap()
    );
}

// ---------------------------------------------------------------- HTTP plumbing

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let b = Backend::start().await;
    let app = b.app();
    let r = get(&app, "/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json(), error(None, "not_found", "no route for /nope; see /docs for the API"));
    let r = send(&app, Request::delete("/logs").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json()["error"], "method_not_allowed");
    assert!(r.header(header::ALLOW).contains("POST"), "Allow header kept");
}

#[tokio::test]
async fn cors_and_response_compression() {
    let b = Backend::start().await;
    let app = b.app();
    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri("/logs")
        .header(header::ORIGIN, "http://viewer.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .body(Body::empty())
        .unwrap();
    let r = send(&app, preflight).await;
    assert!(r.status.is_success(), "{}", r.status);
    assert_eq!(r.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    assert!(r.header(header::ACCESS_CONTROL_ALLOW_METHODS).contains("POST"));

    let req = Request::get("/redoc/redoc.standalone.js")
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .unwrap();
    let r = send(&app, req).await;
    assert_eq!(r.header(header::CONTENT_ENCODING), "gzip");
    assert!(r.body.len() < 1_000_000, "compressed: {}", r.body.len());
}

#[tokio::test]
async fn serve_answers_over_tcp_and_stops_on_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let b = Backend::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg =
        GatewayConfig { grpc_endpoint: format!("http://{}", b.addr), ..GatewayConfig::default() };
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(loglens_gateway::serve(listener, cfg, async {
        stopped.await.ok();
    }));
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: loglens\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains(r#""status":"healthy""#), "{reply}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
