//! The Elasticsearch `_bulk` drop-in against a real `loglens standalone`:
//! the official Python `elasticsearch` 8.x client (which refuses a server
//! without `X-Elastic-Product`) sends through `helpers.bulk`, the records
//! are read back through `GET /logs`, and hostile bodies get a 4xx naming
//! what is wrong while the server keeps serving.

mod common;

use std::process::Command;

use common::{Standalone, eventually, repo_root};
use serde_json::Value;

async fn logs(server: &Standalone, query: &str) -> Value {
    reqwest::get(server.url(&format!("/logs?{query}"))).await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn python_elasticsearch_client_bulk_lands_in_loglens() {
    let python = std::env::var("LOGLENS_PYTHON").unwrap_or_else(|_| {
        panic!("LOGLENS_PYTHON is not set: run the suite through scripts/test, which installs the client and sets it")
    });
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let run = "es-bulk-run-1";
    let out = Command::new(python)
        .arg(repo_root().join("tests/es_bulk_client.py"))
        .args(["--url", &server.url(""), "--run-id", run])
        .output()
        .expect("run the Python elasticsearch client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value =
        serde_json::from_str(stdout.lines().last().unwrap()).expect("JSON summary");
    assert!(summary["version"].as_str().unwrap().starts_with("8."), "{summary}");
    assert_eq!(summary["ok"], 2, "{summary}");
    let errors = summary["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{summary}");
    assert_eq!(errors[0]["create"]["status"], 400);
    let reason = errors[0]["create"]["error"]["reason"].as_str().unwrap();
    assert!(reason.contains("level"), "{reason}");

    let found = eventually(20, "bulk records searchable", || async {
        let v = logs(&server, &format!("trace_id={run}&sort=oldest")).await;
        (v["total"].as_u64() == Some(2)).then_some(v)
    })
    .await;
    let pay = &found["logs"][0];
    let stock = &found["logs"][1];
    assert_eq!(pay["service_name"], "payment-service");
    assert_eq!(pay["level"], "ERROR");
    assert_eq!(pay["message"], format!("payment declined {run}"));
    assert_eq!(pay["timestamp"], 1_714_564_800_250_i64);
    assert_eq!(pay["host"], "web-1");
    assert_eq!(pay["response_time_ms"], 12.5);
    assert_eq!(pay["attributes"]["kubernetes.pod.name"], "pay-7d9");
    assert_eq!(pay["attributes"]["log.file.path"], "/var/log/pay.log");
    assert_eq!(stock["service_name"], "inventory", "the index names a service-less document");
    assert_eq!(stock["level"], "WARN");
    assert_eq!(stock["timestamp"], 1_714_564_801_000_i64);
}

#[tokio::test]
async fn hostile_bulk_bodies_get_a_4xx_naming_the_problem_and_serving_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let http = reqwest::Client::new();
    let mut huge = b"{\"create\":{}}\n{\"message\":\"".to_vec();
    huge.resize(huge.len() + 20 * 1024 * 1024, b'a');
    huge.extend_from_slice(b"\"}\n");
    for (body, status, want) in [
        (b"{\"create\":{\"_index\":\"x\"}}\n{\"mess".to_vec(), 200, "EOF"),
        (b"{\"create\":{\"_ind".to_vec(), 400, "no line that is a JSON object"),
        (vec![0xc3, 0x28, 0xff, b'\n', 0xfe], 400, "not valid UTF-8"),
        (huge, 413, "request body must be at most"),
    ] {
        let sent = http
            .post(server.url("/_bulk"))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await;
        // The 413 comes before the upload ends, so the server may close the
        // connection while the client still writes (a broken pipe); the
        // request after the loop shows the server kept serving.
        let r = match sent {
            Ok(r) => r,
            Err(e) => {
                assert_eq!(status, 413, "no reply to a body that fits: {e}");
                continue;
            }
        };
        assert_eq!(r.status().as_u16(), status);
        // Likewise the reply's body may be cut: checked when it could be read.
        match r.text().await {
            Ok(text) => assert!(text.contains(want), "{status}: {text}"),
            Err(e) => assert_eq!(status, 413, "reply to a readable body lost: {e}"),
        }
    }
    let r = http
        .post(server.url("/svc/_bulk"))
        .body("{\"index\":{}}\n{\"message\":\"still serving\"}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"], false, "{v}");
    eventually(20, "record after hostile bodies", || async {
        let v = logs(&server, "q=still+serving").await;
        (v["total"].as_u64() == Some(1)).then_some(())
    })
    .await;
}
