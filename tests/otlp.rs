//! OTLP logs end to end: the real OpenTelemetry Python SDK exports to a real
//! `loglens standalone` over OTLP/gRPC and OTLP/HTTP (protobuf), and the
//! records are read back through `GET /logs`; hostile OTLP/HTTP bodies are
//! refused with 400/415 while the server keeps serving.

mod common;

use std::process::Command;

use common::{Standalone, eventually, repo_root};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{Value, json};

fn python() -> String {
    std::env::var("LOGLENS_PYTHON").unwrap_or_else(|_| {
        panic!("LOGLENS_PYTHON is not set: run the suite through scripts/test, which installs the client and sets it")
    })
}

/// Runs tests/otlp_client.py; panics unless every export succeeded.
fn export_with_python_sdk(protocol: &str, endpoint: &str, service: &str) {
    let out = Command::new(python())
        .arg(repo_root().join("tests/otlp_client.py"))
        .args(["--protocol", protocol, "--endpoint", endpoint, "--service", service])
        .output()
        .expect("run the OpenTelemetry Python client");
    assert!(
        out.status.success(),
        "python OTLP {protocol} export failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn get(url: &str) -> Value {
    let r = reqwest::get(url).await.expect("GET");
    assert_eq!(r.status(), 200, "{url}");
    r.json().await.expect("JSON")
}

/// The records of `service`, oldest first, once there are `n`.
async fn records_of(server: &Standalone, service: &str, n: usize) -> Vec<Value> {
    let url = server.url(&format!("/logs?service_name={service}&sort=oldest&size=100"));
    eventually(20, &format!("{n} records of {service}"), || {
        let url = url.clone();
        async move {
            let body = get(&url).await;
            let logs = body["logs"].as_array().cloned().unwrap_or_default();
            (logs.len() == n).then_some(logs)
        }
    })
    .await
}

fn by_message<'a>(logs: &'a [Value], prefix: &str) -> &'a Value {
    logs.iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
        .unwrap_or_else(|| panic!("no record with message {prefix:?} in {logs:#?}"))
}

fn check_sdk_records(logs: &[Value], protocol: &str) {
    let warn = by_message(logs, "payment retried");
    assert_eq!(warn["message"], format!("payment retried over {protocol}"));
    assert_eq!(warn["level"], "WARN");
    assert_eq!(warn["timestamp"], 1_714_564_800_123_i64);
    assert_eq!(warn["status_code"], 503);
    assert_eq!(warn["trace_id"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(warn["span_id"], "eee19b7ec3c1b174");
    let a = &warn["attributes"];
    assert_eq!(a["user.id"], "u-42", "{warn}");
    assert_eq!(a["retry"], 2, "{warn}");
    assert_eq!(a["deployment.environment"], "e2e", "resource attribute: {warn}");
    assert_eq!(a["telemetry.sdk.language"], "python", "resource attribute: {warn}");
    assert_eq!(a["otel.scope.name"], "checkout.payments", "{warn}");
    assert_eq!(a["otel.scope.version"], "2.1.0", "{warn}");
    assert!(a.get("service.name").is_none(), "service.name is the service: {warn}");
    assert!(a.get("http.response.status_code").is_none(), "mapped to status_code: {warn}");

    let fatal = by_message(logs, "{");
    assert_eq!(fatal["level"], "ERROR", "FATAL is ERROR");
    assert_eq!(fatal["timestamp"], 1_714_564_801_000_i64);
    let body: Value = serde_json::from_str(fatal["message"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"error": "card declined", "code": 51}), "map body as JSON text");
    assert_eq!(fatal["attributes"]["payment.amount"], 12.5);

    let debug = by_message(logs, "cache miss");
    assert_eq!(debug["message"], "cache miss for sku-1");
    assert_eq!(debug["level"], "DEBUG");
    assert!(debug["timestamp"].as_i64().unwrap() > 1_700_000_000_000, "{debug}");
}

#[tokio::test]
async fn python_sdk_exports_over_otlp_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let endpoint = format!("http://{}", server.grpc);
    tokio::task::spawn_blocking(move || export_with_python_sdk("grpc", &endpoint, "otlp-grpc-svc"))
        .await
        .unwrap();
    // The record with no body and no event name was rejected (partial success).
    let logs = records_of(&server, "otlp-grpc-svc", 3).await;
    check_sdk_records(&logs, "grpc");
}

#[tokio::test]
async fn python_sdk_exports_over_otlp_http_protobuf() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let endpoint = server.url("/v1/logs");
    tokio::task::spawn_blocking(move || export_with_python_sdk("http", &endpoint, "otlp-http-svc"))
        .await
        .unwrap();
    let logs = records_of(&server, "otlp-http-svc", 3).await;
    check_sdk_records(&logs, "http");
}

fn request(service: &str, bodies: &[&str]) -> ExportLogsServiceRequest {
    let string = |s: &str| AnyValue { value: Some(any_value::Value::StringValue(s.into())) };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(string(service)),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: bodies
                    .iter()
                    .map(|b| LogRecord {
                        time_unix_nano: 1_714_564_800_000_000_000,
                        severity_number: 9,
                        body: (!b.is_empty()).then(|| string(b)),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::test]
async fn hostile_otlp_http_bodies_are_refused_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let http = reqwest::Client::new();
    let url = server.url("/v1/logs");
    let post = |ct: &'static str, body: Vec<u8>| {
        http.post(&url).header("content-type", ct).body(body).send()
    };

    let good = request("otlp-hostile", &["first", "", "third"]).encode_to_vec();
    let r = post("application/x-protobuf", good[..good.len() - 4].to_vec()).await.unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["message"].as_str().unwrap().contains("not a protobuf ExportLogsServiceRequest"),
        "{e}"
    );

    let r = post("text/plain", good.clone()).await.unwrap();
    assert_eq!(r.status(), 415);
    let e: Value = r.json().await.unwrap();
    assert!(e["message"].as_str().unwrap().contains("application/x-protobuf"), "{e}");
    assert!(e["message"].as_str().unwrap().contains("application/json"), "{e}");

    let r = post("application/json", b"{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":{\"stringValue\":\"\xff\"}}]}]}]}".to_vec()).await.unwrap();
    assert_eq!(r.status(), 400, "invalid UTF-8 in JSON");
    let r = post(
        "application/json",
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":true}]}]}]}"#.to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400, "wrong type in JSON");

    // Still serving: a protobuf export with one bad record is a partial success.
    let r = post("application/x-protobuf", good).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-protobuf");
    let reply = opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse::decode(
        r.bytes().await.unwrap(),
    )
    .unwrap();
    let partial = reply.partial_success.expect("partial success");
    assert_eq!(partial.rejected_log_records, 1);
    assert!(partial.error_message.contains("log record 1"), "{}", partial.error_message);

    // And OTLP/JSON, answered in JSON.
    let json_body = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "otlp-hostile"}}]},
        "scopeLogs": [{"logRecords": [{"timeUnixNano": "1714564805000000000", "severityNumber": 17,
            "body": {"stringValue": "from json"}, "traceId": "5B8EFFF798038103D269B633813FC60C"}]}]}]});
    let r = http.post(&url).json(&json_body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let reply: Value = r.json().await.unwrap();
    assert_eq!(reply, json!({}), "no partial success when all were stored");

    let logs = records_of(&server, "otlp-hostile", 3).await;
    let from_json = by_message(&logs, "from json");
    assert_eq!(from_json["level"], "ERROR");
    assert_eq!(from_json["timestamp"], 1_714_564_805_000_i64);
    assert_eq!(from_json["trace_id"], "5b8efff798038103d269b633813fc60c");
    let health = get(&server.url("/health")).await;
    assert!(health.is_object());
}
