//! The REST gateway of a real `loglens standalone`, over HTTP.

mod common;

use common::{Standalone, eventually};
use serde_json::{Value, json};

async fn get(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.expect("GET");
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON body"))
}

#[tokio::test]
async fn post_then_read_through_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let http = reqwest::Client::new();

    let (status, health) = get(&server.url("/health")).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["store"], "healthy");
    assert!(health["timestamp"].as_i64().unwrap() > 1_700_000_000_000);

    let ndjson = [
        json!({"timestamp": "2024-05-01T12:00:00Z", "service_name": "checkout", "level": "ERROR", "message": "payment provider timeout", "status_code": 504, "response_time_ms": 9000.0, "request_id": "h-1", "error_code": "TIMEOUT"}),
        json!({"timestamp": 1714564801, "service_name": "checkout", "level": "info", "message": "order placed", "status_code": 201, "response_time_ms": 80.0, "request_id": "h-2", "host": "web-2", "user_id": "u-9", "tags": ["canary", "eu"]}),
        json!({"timestamp": 1714564802000i64, "service_name": "search", "level": "WARNING", "message": "slow query", "status_code": 200, "response_time_ms": 4000.0, "request_id": "h-3"}),
        json!({"service_name": "search", "message": "bad code", "status_code": "two hundred"}),
        json!({"timestamp": "2024-05-01T12:00:03.5+02:00", "service_name": "search", "level": "DEBUG", "message": "cache hit", "request_id": "h-5"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let r = http.post(server.url("/logs")).body(ndjson).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let reply: Value = r.json().await.unwrap();
    assert_eq!(reply["accepted"], 4, "{reply}");
    assert_eq!(reply["rejected"][0]["index"], 3);
    assert_eq!(reply["rejected"][0]["field"], "status_code");

    let array = json!([{"service_name": "search", "message": "array form", "request_id": "h-6", "timestamp": "2024-05-01T11:00:00Z", "attributes": {"region": "eu"}}]);
    let reply: Value =
        http.post(server.url("/logs")).json(&array).send().await.unwrap().json().await.unwrap();
    assert_eq!(reply["accepted"], 1, "{reply}");

    let body = eventually(10, "5 records via GET /logs", || {
        let url = server.url("/logs");
        async move {
            let (_, body) = get(&url).await;
            (body["total"] == 5).then_some(body)
        }
    })
    .await;
    assert_eq!((body["page"].as_u64(), body["size"].as_u64()), (Some(1), Some(20)));
    let ids: Vec<&str> = body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["h-3", "h-2", "h-1", "h-6", "h-5"], "newest first");
    let times: Vec<i64> =
        body["logs"].as_array().unwrap().iter().map(|l| l["timestamp"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    assert!(body["next_cursor"].is_null());

    let (_, b) = get(&server.url("/logs?service_name=checkout&level=error")).await;
    assert_eq!(b["total"], 1);
    assert_eq!(b["logs"][0]["request_id"], "h-1");
    assert_eq!(b["logs"][0]["anomaly"], true);
    assert_eq!(
        b["logs"][0]["anomaly_reasons"],
        json!(["error_level", "http_status", "slow_response", "error_code"])
    );
    let (_, b) = get(&server.url("/logs?status_code=201")).await;
    assert_eq!(b["logs"][0]["request_id"], "h-2");
    let (_, b) = get(&server.url("/logs?anomaly=false")).await;
    assert_eq!(b["total"], 3, "{b}");
    let (_, b) =
        get(&server.url("/logs?from_timestamp=1714564801000&to_timestamp=1714564802000")).await;
    assert_eq!(b["total"], 2);
    let (_, b) = get(&server.url("/logs?q=provider%20TIMEOUT")).await;
    assert_eq!(b["total"], 1);
    for (filter, want) in [
        ("host=web-2", &["h-2"][..]),
        ("tag=canary&user_id=u-9", &["h-2"]),
        ("tag=can", &[]),
        ("error_code=TIMEOUT", &["h-1"]),
        ("anomaly_reason=slow_response", &["h-3", "h-1"]),
    ] {
        let (status, b) = get(&server.url(&format!("/logs?{filter}"))).await;
        assert_eq!(status, 200, "{filter}: {b}");
        let got: Vec<&str> = b["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["request_id"].as_str().unwrap())
            .collect();
        assert_eq!(got, want, "{filter}");
    }
    let (_, b) = get(&server.url("/logs?request_id=h-5")).await;
    assert_eq!(b["logs"][0]["timestamp"], 1_714_557_603_500i64, "+02:00 normalised to UTC");
    let (_, b) = get(&server.url("/logs?size=2")).await;
    let cursor = b["next_cursor"].as_str().expect("a next cursor").to_owned();
    let (_, b2) = get(&server.url(&format!("/logs?size=2&cursor={cursor}"))).await;
    assert_eq!(b2["logs"].as_array().unwrap().len(), 2);
    assert_ne!(b2["logs"][0]["id"], b["logs"][0]["id"]);
    let (_, p2) = get(&server.url("/logs?size=2&page=2")).await;
    assert_eq!(p2["logs"], b2["logs"], "page 2 and the cursor agree");

    let (_, a) = get(&server.url("/logs/anomalies")).await;
    let scores: Vec<u64> = a["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["severity_score"].as_u64().unwrap())
        .collect();
    assert_eq!(a["total"], 2, "{a}");
    assert!(scores[0] > scores[1]);

    for path in ["/logs/stats", "/stats"] {
        let (status, s) = get(&server.url(path)).await;
        assert_eq!(status, 200);
        let keys: Vec<&String> = s.as_object().unwrap().keys().collect();
        let mut keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(
            keys,
            ["anomaly_count", "error_count", "levels", "services", "total_logs"],
            "exactly the documented keys"
        );
        assert_eq!(s["total_logs"], 5);
        assert_eq!(s["services"], json!({"checkout": 2, "search": 3}));
        assert_eq!(s["levels"]["WARN"], 1);
        assert_eq!((s["anomaly_count"].as_u64(), s["error_count"].as_u64()), (Some(2), Some(1)));
    }
    let (_, s) =
        get(&server.url("/logs/stats?interval=1h&percentiles=true&service_name=checkout")).await;
    assert_eq!(s["total_logs"], 2);
    assert!(s["histogram"].as_array().is_some_and(|h| !h.is_empty()), "{s}");
    assert_eq!(s["response_time_percentiles"]["checkout"]["count"], 2);

    // Stats take the filters of GET /logs and count what a search finds.
    for (filter, total, levels) in [
        ("q=provider%20TIMEOUT", 1, json!({"ERROR": 1})),
        ("level=warning", 1, json!({"WARN": 1})),
        ("attr.region=eu", 1, json!({"INFO": 1})),
        ("tag=eu", 1, json!({"INFO": 1})),
        ("anomaly_reason=slow_response", 2, json!({"ERROR": 1, "WARN": 1})),
        ("anomaly=false&service_name=search", 2, json!({"DEBUG": 1, "INFO": 1})),
    ] {
        let (status, s) = get(&server.url(&format!("/stats?{filter}&interval=1h"))).await;
        assert_eq!(status, 200, "{filter}: {s}");
        let (_, found) = get(&server.url(&format!("/logs?{filter}"))).await;
        assert_eq!((&s["total_logs"], &found["total"]), (&json!(total), &json!(total)), "{filter}");
        assert_eq!(s["levels"], levels, "{filter}: {s}");
    }
    let (_, s) = get(&server.url("/logs/stats?interval=1h")).await;
    let buckets = s["histogram"].as_array().expect("a histogram");
    let mut levels = serde_json::Map::new();
    for b in buckets {
        let per_level = b["levels"].as_object().expect("levels per bucket");
        let sum: u64 = per_level.values().map(|n| n.as_u64().unwrap()).sum();
        assert_eq!(Some(sum), b["count"].as_u64(), "{b}");
        for (l, n) in per_level {
            let before = levels.get(l).and_then(Value::as_u64).unwrap_or(0);
            levels.insert(l.clone(), json!(before + n.as_u64().unwrap()));
        }
    }
    assert_eq!(Value::Object(levels), s["levels"], "the buckets' levels add up to the totals");
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let cases = [
        ("/logs?size=5000", "size", "size must be between 1 and 1000"),
        ("/logs?size=0", "size", "size must be between 1 and 1000"),
        ("/logs?page=abc", "page", "page"),
        ("/logs?level=loud", "level", "DEBUG, INFO, WARN"),
        ("/logs?anomaly=maybe", "anomaly", "true or false"),
        ("/logs?status_code=42", "status_code", "between 100 and 599"),
        (
            "/logs?from_timestamp=10&to_timestamp=5",
            "from_timestamp",
            "from_timestamp must be <= to_timestamp",
        ),
        ("/logs?cursor=nonsense", "cursor", "cursor"),
        ("/logs?sevice_name=x", "sevice_name", "unknown parameter"),
        ("/logs/anomalies?size=-1", "size", "size"),
        ("/logs/stats?interval=10", "interval", "interval"),
        ("/stats?percentiles=often", "percentiles", "true or false"),
        ("/stats?level=loud", "level", "DEBUG, INFO, WARN"),
        ("/logs/stats?status_code=42", "status_code", "between 100 and 599"),
    ];
    for (path, field, text) in cases {
        let (status, body) = get(&server.url(path)).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"], "invalid_argument", "{path}: {body}");
        assert_eq!(body["field"], field, "{path}: {body}");
        assert!(body["message"].as_str().unwrap().contains(text), "{path}: {body}");
    }
    let r = reqwest::Client::new()
        .post(server.url("/logs"))
        .body("this is not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn docs_and_openapi_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let (status, spec) = get(&server.url("/openapi.json")).await;
    assert_eq!(status, 200);
    for path in ["/health", "/logs", "/logs/stats", "/stats", "/logs/anomalies"] {
        assert!(spec["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    for path in ["/docs/", "/redoc"] {
        let r = reqwest::get(server.url(path)).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.text().await.unwrap().contains("<html"), "{path}");
    }
}

/// The value of the series `series` (a name, or a name with its labels in
/// the exporter's order) in a Prometheus text page; `None` when absent.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn post_logs_in_standalone_calls_ingest_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let http = reqwest::Client::new();
    let body = [
        json!({"service_name": "in-process", "message": "kept", "trace_id": "local-trace-1", "span_id": "s-1"}),
        json!({"service_name": "in-process", "message": "bad status", "status_code": 700}),
        json!({"service_name": "in-process", "message": "bad type", "status_code": "two hundred"}),
        json!({"service_name": "in-process", "message": "", "trace_id": "local-trace-1"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let r = http
        .post(server.url("/logs"))
        .header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let reply: Value = r.json().await.unwrap();
    assert_eq!(
        reply,
        json!({"accepted": 1, "rejected": [
            {"index": 1, "field": "status_code", "reason": "status_code must be between 100 and 599, got 700"},
            {"index": 2, "field": "status_code", "reason": "status_code must be an integer, got string \"two hundred\""},
            {"index": 3, "field": "message", "reason": "message is required and must not be empty"},
        ]})
    );
    let found = eventually(10, "the record by its trace id", || {
        let url = server.url("/logs?trace_id=local-trace-1");
        async move {
            let (_, body) = get(&url).await;
            (body["total"] == 1).then_some(body)
        }
    })
    .await;
    assert_eq!(found["logs"][0]["message"], "kept");
    assert_eq!(found["logs"][0]["span_id"], "s-1");

    // Ingest counted the records it validated, and no gRPC Ingest call was made.
    let text = reqwest::get(server.metrics_url()).await.unwrap().text().await.unwrap();
    assert_eq!(sample(&text, "loglens_ingest_records_received_total"), Some(3.0), "{text}");
    assert_eq!(sample(&text, "loglens_ingest_records_accepted_total"), Some(1.0), "{text}");
    assert!(!text.contains("logs.ingest.v1.IngestService/Ingest"), "{text}");
}
