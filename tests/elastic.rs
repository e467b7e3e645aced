//! `loglens standalone --store http://…`: the real binary on the
//! Elasticsearch backend, against the fake cluster of the store's tests
//! (never a live cluster; see the README). Checks the command-line wiring,
//! that REST ingest and search go through the cluster, and that a record the
//! cluster refuses comes back as a rejection with the cluster's reason while
//! the others are stored.

mod common;

#[path = "../services/store/tests/fake_es/mod.rs"]
mod fake_es;

use common::{Standalone, eventually};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_on_elasticsearch_ingests_searches_and_reports_refusals() {
    let es = fake_es::FakeEs::start().await;
    let refusal = json!({ "type": "document_parsing_exception",
        "reason": "[1:40] failed to parse field [message] of type [text] in document with id 'x'" });
    es.fail_matching("message", json!("refuse me"), 400, refusal);
    let dir = tempfile::tempdir().unwrap();
    let url = es.url();
    let server =
        Standalone::start_with(dir.path(), &["--store", &url, "--elastic-index-name", "e2e"]);
    let http = reqwest::Client::new();

    let health: Value = http.get(server.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["store"], "healthy", "{health}");

    let ndjson = [
        json!({"timestamp": "2024-05-01T12:00:00Z", "service_name": "checkout", "level": "ERROR", "message": "payment timeout", "request_id": "e-1", "status_code": 504}),
        json!({"timestamp": "2024-05-01T12:00:01Z", "service_name": "checkout", "message": "refuse me", "request_id": "e-2"}),
        json!({"timestamp": "2024-05-02T08:00:00Z", "service_name": "search", "message": "ok", "request_id": "e-3"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let reply: Value =
        http.post(server.url("/logs")).body(ndjson).send().await.unwrap().json().await.unwrap();
    assert_eq!(reply["accepted"], 2, "{reply}");
    let rejected = &reply["rejected"][0];
    assert_eq!(
        (rejected["index"].as_u64(), rejected["field"].as_str()),
        (Some(1), Some("message")),
        "{reply}"
    );
    let reason = rejected["reason"].as_str().unwrap();
    assert!(
        reason.contains("the store refused the record: 400 document_parsing_exception"),
        "{reason}"
    );

    // Stored in day indices under the chosen prefix, found through the gateway.
    assert_eq!(es.indices(), ["e2e-2024.05.01", "e2e-2024.05.02"]);
    assert!(es.template("e2e").is_some());
    let got: Value = eventually(10, "records searchable", || async {
        let v: Value = http
            .get(server.url("/logs?service_name=checkout"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (v["total"] == 1).then_some(v)
    })
    .await;
    assert_eq!(got["logs"][0]["request_id"], "e-1");
    let stats: Value =
        http.get(server.url("/logs/stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["total_logs"], 2, "{stats}");
    let searches = es.log().into_iter().filter(|r| r.path == "/e2e-*/_search").count();
    assert!(searches >= 2, "reads go through the e2e-* pattern");
}
