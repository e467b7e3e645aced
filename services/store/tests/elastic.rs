//! The Elasticsearch backend's side of the wire: the exact requests it
//! sends, and how it reads real response bodies (fixtures/elasticsearch,
//! shapes from Elastic's reference pages), including partial bulk failures,
//! 429s, mapping errors, empty and missing indices and cluster health.
//! The generic behaviour runs in `contract.rs` against the same fake cluster.

mod fake_es;

use std::time::Duration;

use fake_es::FakeEs;
use loglens_core::query::{HistogramBucket, Percentiles};
use loglens_core::record::normalize;
use loglens_core::{
    Filter, Level, LogRecord, RawLog, RuleSet, SearchRequest, Sort, StatsRequest, TimestampInput,
};
use loglens_store::elastic::{ElasticConfig, ElasticStore};
use loglens_store::{Error, LogStore, StoreOptions, TenantRetention};
use serde_json::{Value, json};

/// 2024-05-01T00:00:00Z.
const T0: i64 = 1_714_521_600_000;
const DAY: i64 = 86_400_000;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/elasticsearch/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn config() -> ElasticConfig {
    ElasticConfig {
        request_timeout: Duration::from_secs(10),
        retry_for: Duration::from_secs(2),
        first_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        connect_for: Duration::from_secs(1),
    }
}

async fn open(es: &FakeEs, options: StoreOptions) -> ElasticStore {
    ElasticStore::open_with(&es.url(), options, config()).await.expect("open")
}

fn record(service: &str, message: &str, at: i64) -> LogRecord {
    let raw = RawLog {
        timestamp: Some(TimestampInput::Int(at)),
        service_name: Some(service.into()),
        message: Some(message.into()),
        ..RawLog::default()
    };
    normalize(raw, T0 + 10 * DAY, &RuleSet::default()).unwrap()
}

/// The request bodies sent to paths ending with `suffix`.
fn bodies(es: &FakeEs, suffix: &str) -> Vec<Vec<Value>> {
    es.log().into_iter().filter(|r| r.path.ends_with(suffix)).map(|r| r.body).collect()
}

fn bulk_lines(records: &[&LogRecord]) -> Vec<Value> {
    records
        .iter()
        .flat_map(|r| {
            let day = chrono_day(r.timestamp);
            [json!({ "index": { "_index": format!("logs-{day}"), "_id": r.id } }), document(r)]
        })
        .collect()
}

/// The document of `r`: the record's JSON with its tenant always named.
fn document(r: &LogRecord) -> Value {
    let mut doc = serde_json::to_value(r).unwrap();
    doc["tenant"] = json!(r.tenant);
    doc
}

fn chrono_day(ms: i64) -> &'static str {
    match (ms - T0).div_euclid(DAY) {
        0 => "2024.05.01",
        1 => "2024.05.02",
        _ => panic!("test records are on 1 or 2 May 2024"),
    }
}

#[tokio::test]
async fn open_installs_the_lifecycle_policy_and_the_template() {
    let es = FakeEs::start().await;
    let options = StoreOptions {
        retention_days: Some(7),
        refresh_interval_ms: 1000,
        ..StoreOptions::default()
    };
    let store = open(&es, options).await;
    let log = es.log();
    let calls: Vec<(String, String)> =
        log.iter().map(|r| (r.method.clone(), r.path.clone())).collect();
    assert_eq!(
        calls,
        [
            ("GET".to_owned(), "/".to_owned()),
            ("PUT".to_owned(), "/_ilm/policy/logs-retention".to_owned()),
            ("PUT".to_owned(), "/_index_template/logs".to_owned()),
            ("PUT".to_owned(), "/logs-*/_mapping".to_owned()),
        ]
    );
    assert_eq!(
        log[1].body[0],
        json!({ "policy": {
            "_meta": { "managed_by": "loglens" },
            "phases": {
                "hot": { "min_age": "0ms", "actions": {} },
                "delete": { "min_age": "8d", "actions": { "delete": {} } }
            }
        } })
    );
    let template = &log[2].body[0];
    assert_eq!(template["index_patterns"], json!(["logs-*"]));
    assert_eq!(template["priority"], json!(200));
    assert_eq!(
        template["template"]["settings"],
        json!({
            "index.refresh_interval": "1000ms",
            "index.max_result_window": 1_001_000,
            "index.lifecycle.name": "logs-retention",
            "analysis": {
                "tokenizer": { "loglens_words": { "type": "pattern", "pattern": "[^\\p{L}\\p{N}]+" } },
                "filter": { "loglens_short": { "type": "length", "max": 39 } },
                "analyzer": { "loglens_words": {
                    "type": "custom", "tokenizer": "loglens_words", "filter": ["lowercase", "loglens_short"]
                } }
            }
        })
    );
    let k = json!({ "type": "keyword" });
    let date = json!({ "type": "date", "format": "epoch_millis" });
    assert_eq!(
        template["template"]["mappings"],
        json!({ "dynamic": "strict", "properties": {
            "id": k, "tenant": k, "timestamp": date, "ingested_at": date,
            "service_name": k, "level": k,
            "message": { "type": "text", "analyzer": "loglens_words",
                         "fields": { "keyword": { "type": "keyword", "ignore_above": 256 } } },
            "status_code": { "type": "short" }, "request_id": k, "user_id": k,
            "response_time_ms": { "type": "double" }, "error_code": k, "tags": k, "host": k,
            "trace_id": k, "span_id": k, "anomaly": { "type": "boolean" },
            "severity_score": { "type": "short" }, "anomaly_reasons": k,
            "attributes": { "type": "flattened", "ignore_above": 8191 }
        } })
    );
    // Opening again repeats the same idempotent PUTs.
    store.close().await.unwrap();
    es.clear_log();
    let again =
        open(&es, StoreOptions { retention_days: Some(7), ..StoreOptions::default() }).await;
    assert_eq!(es.log()[2].body[0], *template);
    again.close().await.unwrap();
}

#[tokio::test]
async fn without_retention_no_policy_is_installed() {
    let es = FakeEs::start().await;
    let options = StoreOptions { index_prefix: "applogs".into(), ..StoreOptions::default() };
    let store = open(&es, options).await;
    let paths: Vec<String> = es.log().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/", "/_index_template/applogs", "/applogs-*/_mapping"]);
    assert!(
        es.template("applogs").unwrap()["template"]["settings"]
            .get("index.lifecycle.name")
            .is_none()
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_bad_prefix_or_url_is_a_config_error() {
    for prefix in ["Logs", "_logs", "", "logs/x", "lo gs"] {
        let options = StoreOptions { index_prefix: prefix.into(), ..StoreOptions::default() };
        let e =
            ElasticStore::open_with("http://127.0.0.1:9", options, config()).await.err().unwrap();
        assert!(matches!(e, Error::Config(ref m) if m.contains("index prefix")), "{prefix:?}: {e}");
    }
    let e =
        ElasticStore::open_with("http://", StoreOptions::default(), config()).await.err().unwrap();
    assert!(matches!(e, Error::Config(_)), "{e}");
}

#[tokio::test]
async fn an_unreachable_cluster_fails_open_after_the_connect_wait() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = ElasticStore::open_with(
        &format!("http://127.0.0.1:{port}"),
        StoreOptions::default(),
        config(),
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(e, Error::Backend(ref m) if m.contains("did not answer within")), "{e}");
}

#[tokio::test]
async fn index_creates_day_indices_then_sends_one_bulk_upsert_per_batch() {
    let es = FakeEs::start().await;
    let store =
        open(&es, StoreOptions { retention_days: Some(3), ..StoreOptions::default() }).await;
    es.clear_log();
    let a = record("api", "first day", T0 + 5_000);
    let b = record("api", "second day", T0 + DAY + 5_000);
    let c = record("db", "first day again", T0 + 9_000);
    assert!(store.index(vec![a.clone(), b.clone(), c.clone()]).await.unwrap().is_empty());
    let log = es.log();
    let calls: Vec<(&str, &str)> =
        log.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
    assert_eq!(
        calls,
        [("PUT", "/logs-2024.05.01"), ("PUT", "/logs-2024.05.02"), ("POST", "/_bulk")]
    );
    // ILM age of a day's index counts from the day it holds.
    assert_eq!(log[0].body, [json!({ "settings": { "index.lifecycle.origination_date": T0 } })]);
    assert_eq!(
        log[1].body,
        [json!({ "settings": { "index.lifecycle.origination_date": T0 + DAY } })]
    );
    assert_eq!(log[2].body, bulk_lines(&[&a, &b, &c]));
    assert_eq!(log[2].content_type.as_deref(), Some("application/x-ndjson"));
    assert_eq!(log[0].content_type.as_deref(), Some("application/json"));
    // Known indices are not created again; the same ids overwrite.
    es.clear_log();
    assert!(store.index(vec![a.clone(), c.clone()]).await.unwrap().is_empty());
    assert_eq!(es.log().iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/_bulk"]);
    assert_eq!(es.doc_count(), 3);
    store.close().await.unwrap();
}

#[tokio::test]
async fn an_index_created_meanwhile_by_another_process_is_fine() {
    let es = FakeEs::start().await;
    let first = open(&es, StoreOptions::default()).await;
    let second = open(&es, StoreOptions::default()).await;
    first.index(vec![record("a", "one", T0)]).await.unwrap();
    // The second process does not know the index exists; the cluster says so.
    second.index(vec![record("a", "two", T0 + 1)]).await.unwrap();
    let creates =
        es.log().into_iter().filter(|r| r.method == "PUT" && r.path == "/logs-2024.05.01").count();
    assert_eq!(creates, 2);
    assert_eq!(es.doc_count(), 2);
}

#[tokio::test]
async fn a_partial_bulk_failure_retries_busy_items_and_refuses_bad_ones() {
    let es = FakeEs::start().await;
    let store = open(&es, StoreOptions::default()).await;
    let records: Vec<LogRecord> =
        (0..3).map(|i| record("pay", &format!("payment {i}"), T0 + i)).collect();
    store.index(vec![records[0].clone()]).await.unwrap(); // the day index exists
    es.clear_log();
    // The documented answer: item 0 created, item 1 rejected (429, write
    // queue full), item 2 refused by the mapping.
    es.script("/_bulk", 200, fixture("bulk_partial_failure.json"));
    let refused = store.index(records.clone()).await.unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].position, 2);
    assert_eq!(refused[0].record, records[2]);
    assert_eq!(refused[0].field.as_deref(), Some("status_code"));
    assert!(
        refused[0].reason.starts_with(
            "400 document_parsing_exception: [1:98] failed to parse field [status_code]"
        )
    );
    assert!(refused[0].reason.contains("out of range for a short"), "{}", refused[0].reason);
    // Only the rejected item was sent again.
    let bulks = bodies(&es, "/_bulk");
    assert_eq!(bulks.len(), 2);
    assert_eq!(bulks[0], bulk_lines(&records.iter().collect::<Vec<_>>()));
    assert_eq!(bulks[1], bulk_lines(&[&records[1]]));
    store.close().await.unwrap();
}

#[tokio::test]
async fn refused_records_are_not_published_to_tail() {
    let es = FakeEs::start().await;
    let store = open(&es, StoreOptions::default()).await;
    let mut rx = store.subscribe();
    let records: Vec<LogRecord> =
        (0..4).map(|i| record("pay", &format!("tail {i}"), T0 + i)).collect();
    let error = json!({ "type": "strict_dynamic_mapping_exception",
        "reason": "[1:230] mapping set to strict, dynamic introduction of [extra] within [_doc] is not allowed" });
    es.fail_item(&records[1].id, 400, error, true);
    let refused = store.index(records.clone()).await.unwrap();
    assert_eq!((refused[0].position, refused[0].field.as_deref()), (1, Some("extra")));
    assert_eq!(refused[0].record, records[1], "the refused record is handed back");
    let got = rx.recv().await.unwrap();
    let want: Vec<&str> = [0, 2, 3].iter().map(|&i| records[i].id.as_str()).collect();
    assert_eq!(got.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), want);
    assert_eq!(es.doc_count(), 3);
}

#[tokio::test]
async fn busy_items_are_retried_until_stored() {
    let es = FakeEs::start().await;
    let store = open(&es, StoreOptions::default()).await;
    let records: Vec<LogRecord> =
        (0..5).map(|i| record("busy", &format!("b {i}"), T0 + i)).collect();
    let busy = json!({ "type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating operation" });
    es.fail_item(&records[3].id, 429, busy.clone(), false);
    es.fail_item(
        &records[4].id,
        503,
        json!({ "type": "unavailable_shards_exception", "reason": "primary shard is not active" }),
        false,
    );
    assert!(store.index(records.clone()).await.unwrap().is_empty());
    assert_eq!(es.doc_count(), 5);
    let bulks = bodies(&es, "/_bulk");
    assert_eq!(bulks.last().unwrap(), &bulk_lines(&[&records[3], &records[4]]));
}

#[tokio::test]
async fn a_rejected_bulk_request_is_retried_then_reported() {
    let es = FakeEs::start().await;
    let store = open(&es, StoreOptions::default()).await;
    let records = vec![record("r", "one", T0), record("r", "two", T0 + 1)];
    // Two whole-request 429s, then the cluster takes it.
    es.script("/_bulk", 429, fixture("rejected_execution_429.json"));
    es.script("/_bulk", 429, fixture("rejected_execution_429.json"));
    assert!(store.index(records.clone()).await.unwrap().is_empty());
    assert_eq!(bodies(&es, "/_bulk").len(), 3);
    assert_eq!(es.doc_count(), 2);
    // A cluster that stays overloaded: after `retry_for` the caller hears so
    // (the processor then pauses its partitions and tries again).
    for _ in 0..1000 {
        es.script("/_bulk", 503, json!({ "error": "service unavailable", "status": 503 }));
    }
    let e = store.index(records).await.unwrap_err();
    assert!(
        matches!(e, Error::Backend(ref m) if m.contains("still failing") && m.contains("HTTP 503")),
        "{e}"
    );
}

#[tokio::test]
async fn a_batch_that_stays_rejected_item_by_item_is_an_error() {
    let es = FakeEs::start().await;
    let store = open(&es, StoreOptions::default()).await;
    let r = record("r", "stuck", T0);
    let busy = json!({ "type": "es_rejected_execution_exception", "reason": "queue full" });
    es.fail_item(&r.id, 429, busy, true);
    let e = store.index(vec![r]).await.unwrap_err();
    assert!(
        matches!(e, Error::Backend(ref m) if m.contains("still rejected") && m.contains("queue full")),
        "{e}"
    );
}

#[tokio::test]
async fn search_sends_the_filter_as_query_dsl() {
    let es = FakeEs::start().await;
    let store = open(&es, StoreOptions::default()).await;
    es.clear_log();
    let filter = Filter {
        service_name: Some("payment-service".into()),
        level: Some(Level::Error),
        status_code: loglens_core::StatusCode::new(503).ok(),
        anomaly: Some(true),
        from_timestamp: Some(T0),
        to_timestamp: Some(T0 + DAY),
        query: Some("card \"declined\" OR *:*".into()),
        trace_id: Some("t-1".into()),
        request_id: Some("r-1".into()),
        host: Some("web-3".into()),
        user_id: Some("u-1".into()),
        error_code: Some("E_PAY".into()),
        tag: Some("canary".into()),
        anomaly_reason: Some("slow_response".into()),
        attributes: vec![("k8s.pod.name".into(), "api-1".into())],
        tenant: None,
    };
    let req = SearchRequest::new(filter, Sort::Severity, Some(3), Some(25), None).unwrap();
    let got = store.search(&req).await.unwrap();
    assert_eq!((got.total, got.logs.len(), got.next_cursor), (0, 0, None));
    let log = es.log();
    assert_eq!((log[0].method.as_str(), log[0].path.as_str()), ("POST", "/logs-*/_search"));
    assert_eq!(log[0].query, "ignore_unavailable=true&allow_no_indices=true");
    assert_eq!(
        log[0].body[0],
        json!({
            "query": { "bool": { "filter": [
                { "term": { "service_name": "payment-service" } },
                { "term": { "trace_id": "t-1" } },
                { "term": { "request_id": "r-1" } },
                { "term": { "host": "web-3" } },
                { "term": { "user_id": "u-1" } },
                { "term": { "error_code": "E_PAY" } },
                { "term": { "tags": "canary" } },
                { "term": { "anomaly_reasons": "slow_response" } },
                { "term": { "level": "ERROR" } },
                { "term": { "status_code": 503 } },
                { "term": { "anomaly": true } },
                { "term": { "attributes.k8s.pod.name": "api-1" } },
                { "range": { "timestamp": { "format": "epoch_millis", "gte": T0, "lte": T0 + DAY } } },
                // User text stays a JSON value: no query-string syntax applies.
                { "match": { "message": { "query": "card \"declined\" OR *:*", "operator": "and", "zero_terms_query": "all" } } }
            ] } },
            "sort": [{ "severity_score": "desc" }, { "timestamp": "desc" }, { "id": "asc" }],
            "size": 26,
            "from": 50,
            "track_total_hits": true
        })
    );
}

#[tokio::test]
async fn cursors_continue_with_search_after_the_last_sort_values() {
    let es = FakeEs::start().await;
    let store = open(&es, StoreOptions::default()).await;
    let records: Vec<LogRecord> =
        (0..5).map(|i| record("c", &format!("c {i}"), T0 + i * 1000)).collect();
    store.index(records.clone()).await.unwrap();
    let first =
        SearchRequest::new(Filter::default(), Sort::NewestFirst, None, Some(2), None).unwrap();
    let page = store.search(&first).await.unwrap();
    assert_eq!(page.logs, [records[4].clone(), records[3].clone()]);
    es.clear_log();
    let next =
        SearchRequest::new(Filter::default(), Sort::NewestFirst, None, Some(2), page.next_cursor)
            .unwrap();
    let page = store.search(&next).await.unwrap();
    assert_eq!(page.logs, [records[2].clone(), records[1].clone()]);
    assert_eq!(
        es.log()[0].body[0],
        json!({
            "query": { "match_all": {} },
            "sort": [{ "timestamp": "desc" }, { "id": "asc" }],
            "size": 3,
            "track_total_hits": true,
            "search_after": [T0 + 3000, records[3].id]
        })
    );
    // A cursor is bound to its filter and sort.
    let other = Filter { service_name: Some("c".into()), ..Filter::default() };
    let wrong =
        SearchRequest::new(other, Sort::NewestFirst, None, Some(2), page.next_cursor.clone())
            .unwrap();
    let e = store.search(&wrong).await.unwrap_err();
    assert!(matches!(e, Error::Invalid(ref c) if c.field() == Some("cursor")), "{e}");
    let wrong =
        SearchRequest::new(Filter::default(), Sort::Severity, None, Some(2), page.next_cursor)
            .unwrap();
    assert!(store.search(&wrong).await.is_err());
}

#[tokio::test]
async fn search_reads_the_documented_response() {
    let es = FakeEs::start().await;
    let store = open(&es, StoreOptions::default()).await;
    es.script("/_search", 200, fixture("search_hits.json"));
    let req =
        SearchRequest::new(Filter::default(), Sort::NewestFirst, None, Some(1), None).unwrap();
    let got = store.search(&req).await.unwrap();
    assert_eq!(got.total, 3);
    assert_eq!(got.logs.len(), 1, "the extra hit only says a next page exists");
    let r = &got.logs[0];
    assert_eq!(
        (r.service_name.as_str(), r.level, r.status_code.map(u16::from)),
        ("payment-service", Level::Error, Some(503))
    );
    assert_eq!((r.response_time_ms, r.severity_score, r.anomaly), (Some(3120.5), 77, true));
    assert_eq!(r.tags, ["eu", "card"]);
    assert_eq!(r.trace_id.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    // The cursor carries the last returned hit's sort values.
    es.clear_log();
    let next =
        SearchRequest::new(Filter::default(), Sort::NewestFirst, None, Some(1), got.next_cursor)
            .unwrap();
    store.search(&next).await.unwrap();
    assert_eq!(
        es.log()[0].body[0]["search_after"],
        json!([1714521660000i64, "9f2c6b0e4d1a7c3b5e8f0a2d4c6b8e1f"])
    );
    // Null optional fields read back as absent.
    es.script("/_search", 200, fixture("search_hits.json"));
    let req =
        SearchRequest::new(Filter::default(), Sort::NewestFirst, None, Some(5), None).unwrap();
    let got = store.search(&req).await.unwrap();
    assert_eq!(
        (got.logs[1].request_id.clone(), got.logs[1].tags.len(), got.next_cursor),
        (None, 0, None)
    );
}

#[tokio::test]
async fn an_empty_or_missing_index_reads_as_no_records() {
    let es = FakeEs::start().await;
    let store = open(&es, StoreOptions::default()).await;
    let req = SearchRequest::new(Filter::default(), Sort::NewestFirst, None, None, None).unwrap();
    es.script("/_search", 200, fixture("search_empty.json"));
    let got = store.search(&req).await.unwrap();
    assert_eq!((got.total, got.logs.len(), got.next_cursor), (0, 0, None));
    es.script("/_search", 404, fixture("index_not_found_404.json"));
    assert_eq!(store.search(&req).await.unwrap().total, 0);
    es.script("/_search", 404, fixture("index_not_found_404.json"));
    assert_eq!(
        store.stats(&StatsRequest::default()).await.unwrap(),
        loglens_core::Stats::default()
    );
    es.script("/_search", 200, fixture("search_empty.json"));
    assert_eq!(
        store.stats(&StatsRequest::default()).await.unwrap(),
        loglens_core::Stats::default()
    );
    // Other failures are errors, with the cluster's reason.
    es.script("/_search", 429, fixture("rejected_execution_429.json"));
    let e = store.search(&req).await.unwrap_err();
    assert!(
        matches!(e, Error::Backend(ref m) if m.contains("HTTP 429: es_rejected_execution_exception")),
        "{e}"
    );
}

#[tokio::test]
async fn stats_send_aggregations_and_read_the_documented_response() {
    let es = FakeEs::start().await;
    let store = open(&es, StoreOptions::default()).await;
    es.clear_log();
    es.script("/_search", 200, fixture("search_aggregations.json"));
    let req = StatsRequest {
        filter: Filter {
            from_timestamp: Some(T0),
            service_name: Some("api-gateway".into()),
            ..Filter::default()
        },
        histogram_interval_ms: Some(60_000),
        include_percentiles: true,
    }
    .validated()
    .unwrap();
    let got = store.stats(&req).await.unwrap();
    let anomalous = json!({ "filter": { "term": { "anomaly": true } } });
    assert_eq!(
        es.log()[0].body[0],
        json!({
            "size": 0,
            "track_total_hits": true,
            "query": { "bool": { "filter": [
                { "term": { "service_name": "api-gateway" } },
                { "range": { "timestamp": { "format": "epoch_millis", "gte": T0 } } }
            ] } },
            "aggs": {
                "services": {
                    "terms": { "field": "service_name", "size": 10_000 },
                    "aggs": {
                        "rt": { "percentiles": { "field": "response_time_ms", "percents": [50.0, 95.0, 99.0], "keyed": false } },
                        "rt_count": { "value_count": { "field": "response_time_ms" } }
                    }
                },
                "levels": { "terms": { "field": "level", "size": 16 } },
                "anomalies": anomalous,
                "histogram": {
                    "date_histogram": { "field": "timestamp", "fixed_interval": "60000ms", "min_doc_count": 1 },
                    "aggs": {
                        "anomalies": anomalous,
                        "errors": { "filter": { "term": { "level": "ERROR" } } },
                        "levels": { "terms": { "field": "level", "size": 16 } }
                    }
                }
            }
        })
    );
    assert_eq!(got.total_logs, 10);
    assert_eq!(
        got.services,
        [("api-gateway".to_owned(), 7), ("auth-service".to_owned(), 3)].into()
    );
    assert_eq!(
        got.levels,
        [("INFO".to_owned(), 6), ("ERROR".to_owned(), 3), ("WARN".to_owned(), 1)].into()
    );
    assert_eq!((got.anomaly_count, got.error_count), (3, 3));
    let levels = |l: &[(&str, u64)]| l.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    assert_eq!(
        got.histogram,
        [
            HistogramBucket {
                start: T0,
                count: 8,
                anomaly_count: 2,
                error_count: 2,
                levels: levels(&[("INFO", 5), ("ERROR", 2), ("WARN", 1)]),
            },
            HistogramBucket {
                start: T0 + 60_000,
                count: 2,
                anomaly_count: 1,
                error_count: 1,
                levels: levels(&[("ERROR", 1), ("INFO", 1)]),
            },
        ]
    );
    assert_eq!(
        got.response_time_percentiles,
        [("api-gateway".to_owned(), Percentiles { p50: 21.0, p95: 180.25, p99: 204.05, count: 7 })]
            .into(),
        "a service without response times has no percentiles"
    );
}

#[tokio::test]
async fn stats_send_the_whole_filter_as_a_search_does() {
    let es = FakeEs::start().await;
    let store = open(&es, StoreOptions::default()).await;
    let filter = Filter {
        level: Some(Level::Warn),
        status_code: loglens_core::StatusCode::new(503).ok(),
        anomaly: Some(false),
        query: Some("card declined".into()),
        trace_id: Some("t-1".into()),
        request_id: Some("r-1".into()),
        attributes: vec![("region".into(), "eu".into())],
        ..Filter::default()
    };
    es.clear_log();
    let search = SearchRequest::new(filter.clone(), Sort::NewestFirst, None, None, None).unwrap();
    store.search(&search).await.unwrap();
    let req = StatsRequest { filter, ..StatsRequest::default() }.validated().unwrap();
    store.stats(&req).await.unwrap();
    let log = es.log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].body[0]["query"], log[0].body[0]["query"]);
    assert_eq!(log[1].body[0]["query"]["bool"]["filter"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn health_follows_cluster_status() {
    let es = FakeEs::start().await;
    let store = open(&es, StoreOptions::default()).await;
    es.script("/_cluster/health", 200, fixture("cluster_health_yellow.json"));
    let h = store.health().await;
    assert!(h.healthy, "yellow serves on one node: {h:?}");
    assert_eq!(
        h.detail,
        "elasticsearch cluster docker-cluster: yellow, 1 node, 7 unassigned shards"
    );
    es.script("/_cluster/health", 200, fixture("cluster_health_red.json"));
    let h = store.health().await;
    assert!(!h.healthy);
    assert!(h.detail.contains(": red,"), "{h:?}");
    es.set_health("green");
    assert!(store.health().await.healthy);
    es.script("/_cluster/health", 401, json!({ "error": { "type": "security_exception", "reason": "missing authentication credentials" }, "status": 401 }));
    let h = store.health().await;
    assert!(!h.healthy && h.detail.contains("security_exception"), "{h:?}");
}

#[tokio::test]
async fn credentials_in_the_url_become_basic_auth() {
    let es = FakeEs::start().await;
    let url = format!("http://elastic:s%3Acret@{}", es.addr);
    let store = ElasticStore::open_with(&url, StoreOptions::default(), config()).await.unwrap();
    assert!(store.health().await.healthy);
    // base64("elastic:s:cret"), the password percent-decoded.
    assert!(
        es.log().iter().all(|r| r.authorization.as_deref() == Some("Basic ZWxhc3RpYzpzOmNyZXQ=")),
        "{:?}",
        es.log()
    );
}

#[tokio::test]
async fn usage_reads_index_stats() {
    let es = FakeEs::start().await;
    let store = open(&es, StoreOptions::default()).await;
    assert_eq!(store.backend(), "elasticsearch");
    es.clear_log();
    es.script("/_stats/docs,store", 200, fixture("index_stats.json"));
    let usage = store.usage().await;
    assert_eq!((usage.documents, usage.disk_bytes), (Some(1204), Some(402_112)));
    assert_eq!(es.log()[0].path, "/logs-*/_stats/docs,store");
    // A failed call reports nothing rather than zero.
    es.script("/_stats/docs,store", 503, json!({ "error": "unavailable", "status": 503 }));
    assert_eq!(store.usage().await, loglens_store::Usage::default());
}

// ---------------------------------------------------------------- tenants

fn of_tenant(tenant: &str, service: &str, message: &str, at: i64) -> LogRecord {
    let mut r = record(service, message, at);
    r.assign_tenant(tenant);
    r
}

#[tokio::test]
async fn open_adds_the_tenant_field_to_indices_made_before_it() {
    let es = FakeEs::start().await;
    // On a cluster with no index yet the mapping PUT finds none: fine.
    let fresh = open(&es, StoreOptions::default()).await;
    let put = es.log().into_iter().find(|r| r.path == "/logs-*/_mapping").expect("mapping PUT");
    assert_eq!(put.method, "PUT");
    assert_eq!(put.query, "ignore_unavailable=true&allow_no_indices=true");
    assert_eq!(put.body, [json!({ "properties": { "tenant": { "type": "keyword" } } })]);
    fresh.close().await.unwrap();

    // A day index made by the template before tenants: strict, no tenant.
    let es = FakeEs::start().await;
    let mut before = loglens_store::elastic::dsl::index_template("logs", 1000, false)["template"]
        ["mappings"]["properties"]
        .clone();
    before.as_object_mut().unwrap().remove("tenant");
    es.create_index("logs-2024.05.01", before);
    let store = open(&es, StoreOptions::default()).await;
    assert_eq!(es.mapping("logs-2024.05.01").unwrap()["tenant"], json!({ "type": "keyword" }));
    // So it takes documents, which all carry a tenant now.
    let r = record("api", "into an old index", T0 + 1_000);
    let a = of_tenant("a", "api", "into an old index", T0 + 2_000);
    let refused = store.index(vec![r.clone(), a.clone()]).await.unwrap();
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(es.doc_count(), 2);
    store.close().await.unwrap();
}

#[tokio::test]
async fn every_document_names_its_tenant() {
    let es = FakeEs::start().await;
    let store = open(&es, StoreOptions::default()).await;
    es.clear_log();
    let plain = record("api", "same content", T0);
    let a = of_tenant("a", "api", "same content", T0);
    assert_ne!(plain.id, a.id);
    store.index(vec![plain.clone(), a.clone()]).await.unwrap();
    let bulk = bodies(&es, "/_bulk").pop().unwrap();
    assert_eq!(bulk[1]["tenant"], "default", "the default tenant is written too");
    assert_eq!(bulk[3]["tenant"], "a");
    assert_eq!(bulk, bulk_lines(&[&plain, &a]));
    let mut tenants: Vec<String> =
        es.docs().iter().map(|d| d["tenant"].as_str().unwrap().to_owned()).collect();
    tenants.sort();
    assert_eq!(tenants, ["a", "default"]);
    // Both come back as they were sent.
    let req =
        SearchRequest::new(Filter::default(), Sort::OldestFirst, None, Some(10), None).unwrap();
    let mut got = store.search(&req).await.unwrap().logs;
    got.sort_by(|x, y| x.tenant.cmp(&y.tenant));
    assert_eq!(got, [a, plain]);
    store.close().await.unwrap();
}

#[tokio::test]
async fn the_default_tenant_also_sees_documents_written_before_tenants() {
    let es = FakeEs::start().await;
    let store = open(&es, StoreOptions::default()).await;
    let new = record("api", "written with a tenant", T0 + 1);
    let a = of_tenant("a", "api", "tenant a", T0 + 2);
    store.index(vec![new.clone(), a.clone()]).await.unwrap();
    // A document from before tenants: the record's JSON, no tenant field.
    let old = record("api", "written before tenants", T0 + 3);
    let old_doc = serde_json::to_value(&old).unwrap();
    assert!(old_doc.get("tenant").is_none());
    es.put_doc("logs-2024.05.01", &old.id, old_doc);
    es.clear_log();

    let search = |tenant: &str| {
        let filter = Filter { tenant: Some(tenant.into()), ..Filter::default() };
        SearchRequest::new(filter, Sort::OldestFirst, None, Some(10), None).unwrap()
    };
    let got = store.search(&search("default")).await.unwrap();
    assert_eq!(got.logs, [new, old]);
    let got = store.search(&search("a")).await.unwrap();
    assert_eq!(got.logs, [a]);
    let sent = bodies(&es, "/_search");
    assert_eq!(
        sent[0][0]["query"],
        json!({ "bool": { "filter": [{ "bool": {
            "should": [
                { "term": { "tenant": "default" } },
                { "bool": { "must_not": [{ "exists": { "field": "tenant" } }] } }
            ],
            "minimum_should_match": 1
        } }] } })
    );
    assert_eq!(
        sent[1][0]["query"],
        json!({ "bool": { "filter": [{ "term": { "tenant": "a" } }] } })
    );
    // Stats send the same query.
    let stats = StatsRequest {
        filter: Filter { tenant: Some("a".into()), ..Filter::default() },
        ..StatsRequest::default()
    };
    assert_eq!(store.stats(&stats.validated().unwrap()).await.unwrap().total_logs, 1);
    assert_eq!(bodies(&es, "/_search")[2][0]["query"], sent[1][0]["query"]);
    store.close().await.unwrap();
}

/// The `_delete_by_query` requests sent: (query string, body).
fn deletes(es: &FakeEs) -> Vec<(String, Value)> {
    es.log()
        .into_iter()
        .filter(|r| r.path == "/logs-*/_delete_by_query")
        .map(|r| (r.query, r.body[0].clone()))
        .collect()
}

fn expired_before(cutoff: i64) -> Value {
    json!({ "range": { "timestamp": { "format": "epoch_millis", "lt": cutoff } } })
}

#[tokio::test]
async fn retention_deletes_by_query_what_the_policy_keeps_too_long() {
    let es = FakeEs::start().await;
    let tenants = TenantRetention::new(
        [("short".to_owned(), 1), ("long".to_owned(), 60)].into_iter().collect(),
    );
    let options = StoreOptions {
        retention_days: Some(30),
        tenant_retention: tenants.clone(),
        ..StoreOptions::default()
    };
    let store = open(&es, options).await;
    // An index holds every tenant's day: the policy waits for the longest.
    let policy = es.policy("logs-retention").unwrap();
    assert_eq!(policy["policy"]["phases"]["delete"]["min_age"], "61d");

    let day0 = T0 + DAY / 2;
    let recent = T0 + 37 * DAY;
    let mut records = Vec::new();
    for t in ["short", "long", "other"] {
        records.push(of_tenant(t, "api", &format!("{t} day 0"), day0));
        records.push(of_tenant(t, "api", &format!("{t} recent"), recent));
    }
    records.push(record("api", "default day 0", day0));
    store.index(records).await.unwrap();
    let old = record("api", "from before tenants", day0 + 1);
    es.put_doc("logs-2024.05.01", &old.id, serde_json::to_value(&old).unwrap());
    es.clear_log();

    let now = T0 + 40 * DAY + DAY / 2;
    let pass = store.apply_retention(now).await.unwrap().expect("retention is set");
    assert_eq!(pass.policy_days, Some(60));
    assert_eq!((pass.tenants.as_slice(), pass.others), (&["short".to_owned()][..], true));
    let sent = deletes(&es);
    assert_eq!(sent.len(), 2, "{sent:?}");
    let params =
        "ignore_unavailable=true&allow_no_indices=true&conflicts=proceed&wait_for_completion=false";
    assert!(sent.iter().all(|(q, _)| q == params), "{sent:?}");
    assert_eq!(
        sent[0].1,
        json!({ "query": { "bool": { "filter": [
            { "term": { "tenant": "short" } }, expired_before(T0 + 39 * DAY)
        ] } } })
    );
    assert_eq!(
        sent[1].1,
        json!({ "query": { "bool": {
            "filter": [expired_before(T0 + 10 * DAY)],
            "must_not": [{ "term": { "tenant": "long" } }, { "term": { "tenant": "short" } }]
        } } })
    );
    let mut left: Vec<String> =
        es.docs().iter().map(|d| d["message"].as_str().unwrap().to_owned()).collect();
    left.sort();
    assert_eq!(left, ["long day 0", "long recent", "other recent"]);

    // The key file reloads: the longest window is now the global one.
    tenants.set([("short".to_owned(), 1)].into_iter().collect());
    es.clear_log();
    let pass = store.apply_retention(now).await.unwrap().unwrap();
    assert_eq!(pass.policy_days, Some(30));
    assert_eq!((pass.tenants.as_slice(), pass.others), (&["short".to_owned()][..], false));
    let policy = es.policy("logs-retention").unwrap();
    assert_eq!(policy["policy"]["phases"]["delete"]["min_age"], "31d");
    assert_eq!(deletes(&es).len(), 1);
    store.close().await.unwrap();
}

#[tokio::test]
async fn without_a_store_wide_window_no_policy_deletes_indices() {
    let es = FakeEs::start().await;
    let tenants = TenantRetention::default();
    let options = StoreOptions { tenant_retention: tenants.clone(), ..StoreOptions::default() };
    let store = open(&es, options).await;
    es.clear_log();
    assert!(store.apply_retention(T0).await.unwrap().is_none(), "nothing set");
    assert!(es.log().is_empty());

    // An override alone: the tenant's records go by query; no policy, so
    // nobody else's day index is ever deleted.
    tenants.set([("a".to_owned(), 7)].into_iter().collect());
    store.index(vec![of_tenant("a", "api", "a", T0), record("api", "default", T0)]).await.unwrap();
    es.clear_log();
    let pass = store.apply_retention(T0 + 10 * DAY).await.unwrap().unwrap();
    assert_eq!(pass.policy_days, None);
    assert_eq!((pass.tenants.as_slice(), pass.others), (&["a".to_owned()][..], false));
    assert!(es.policy("logs-retention").is_none());
    assert!(
        es.template("logs").unwrap()["template"]["settings"].get("index.lifecycle.name").is_none()
    );
    let sent = deletes(&es);
    assert_eq!(
        sent.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>(),
        [json!({ "query": { "bool": { "filter": [
            { "term": { "tenant": "a" } }, expired_before(T0 + 3 * DAY)
        ] } } })]
    );
    assert_eq!(es.docs().len(), 1);
    assert_eq!(es.docs()[0]["tenant"], "default");
    store.close().await.unwrap();
}
