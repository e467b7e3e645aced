//! Real third-party clients against a real `loglens standalone`: Python
//! grpcio through server reflection (as grpcurl does), headless Chromium on
//! the Swagger UI and ReDoc with no network, a gRPC-web call over HTTP/1.1,
//! and the `generate` and `--help` command lines.

mod common;

use std::process::Command;

use common::{Standalone, eventually, loglens_bin, repo_root};
use loglens_proto::stats::GetStatsRequest;
use prost::Message;

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite through scripts/test, which installs the client and sets it")
    })
}

#[tokio::test]
async fn python_grpcio_client_discovers_and_calls_through_reflection() {
    let python = required_env("LOGLENS_PYTHON");
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let out = Command::new(python)
        .arg(repo_root().join("tests/grpc_reflection_client.py"))
        .args(["--addr", &server.grpc, "--request-id", "py-reflect-1"])
        .output()
        .expect("run the Python reflection client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap()).expect("JSON summary");
    let services = summary.to_string();
    for s in [
        "logs.ingest.v1.IngestService",
        "logs.query.v1.QueryService",
        "logs.stats.v1.StatsService",
        "grpc.health.v1.Health",
    ] {
        assert!(services.contains(s), "{s} not listed: {summary}");
    }
    assert!(services.contains("py-reflect-1"), "{summary}");
}

fn chromium_dom(url: &str) -> String {
    let chromium = required_env("LOGLENS_CHROMIUM");
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            // No network at all but the server under test.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn swagger_ui_and_redoc_render_offline_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let url = server.url("/docs/");
    let dom = tokio::task::spawn_blocking(move || chromium_dom(&url)).await.unwrap();
    // Rendered by Swagger UI's JavaScript from /openapi.json, not in the served HTML.
    assert!(
        dom.contains("opblock"),
        "Swagger UI did not render operations:\n{}",
        &dom[..dom.len().min(2000)]
    );
    for path in ["/logs/anomalies", "/logs/stats", "/health"] {
        assert!(dom.contains(path), "Swagger UI does not show {path}");
    }
    let url = server.url("/redoc");
    let dom = tokio::task::spawn_blocking(move || chromium_dom(&url)).await.unwrap();
    assert!(
        dom.contains("/logs/anomalies"),
        "ReDoc did not render the API:\n{}",
        &dom[..dom.len().min(2000)]
    );
}

#[tokio::test]
async fn grpc_web_over_http1_with_cors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let url = format!("http://{}/logs.stats.v1.StatsService/GetStats", server.grpc);
    let client = reqwest::Client::builder().http1_only().build().unwrap();
    let preflight = client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "http://viewer.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,x-grpc-web")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "http://viewer.example");

    let msg = GetStatsRequest::default().encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    frame.extend_from_slice(&msg);
    let r = client
        .post(&url)
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("origin", "http://viewer.example")
        .body(frame)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "http://viewer.example");
    let body = r.bytes().await.unwrap();
    // Data frame (flag 0) with the message, then a trailers frame (flag 0x80).
    assert_eq!(body[0], 0);
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    let reply = loglens_proto::stats::GetStatsResponse::decode(&body[5..5 + len]).unwrap();
    assert_eq!(reply.total_logs, 0);
    let trailers = String::from_utf8_lossy(&body[5 + len + 5..]);
    assert_eq!(body[5 + len], 0x80);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
}

#[tokio::test]
async fn generate_sends_reproducible_records_into_standalone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let out = Command::new(loglens_bin())
        .args(["generate", "--target", &format!("grpc://{}", server.grpc)])
        .args([
            "--count",
            "3000",
            "--rate",
            "0",
            "--batch-size",
            "250",
            "--seed",
            "42",
            "--no-progress",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["sent"], 3000);
    assert_eq!(report["accepted"], 3000);
    assert_eq!(report["rejected"], 0);
    let mut stats = server.stats().await;
    let s = eventually(10, "3000 generated records", || {
        let mut c = stats.clone();
        async move {
            let s = c.get_stats(GetStatsRequest::default()).await.unwrap().into_inner();
            (s.total_logs == 3000).then_some(s)
        }
    })
    .await;
    assert_eq!(s.services.len(), 5, "{:?}", s.services);
    let info = s.levels.get("INFO").copied().unwrap_or(0);
    assert!(info > 2000, "mostly INFO: {:?}", s.levels);
    assert!(s.anomaly_count > 0 && s.anomaly_count < 1000, "{}", s.anomaly_count);
    let _ = &mut stats;
}

#[test]
fn help_explains_and_bad_flags_are_clear() {
    let out = Command::new(loglens_bin()).args(["standalone", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for s in [
        "--data-dir",
        "LOGLENS_DATA_DIR",
        "--demo",
        "--grpc-addr",
        "--http-addr",
        "API_PORT",
        "--rules",
    ] {
        assert!(help.contains(s), "help lacks {s}:\n{help}");
    }
    let out = Command::new(loglens_bin())
        .args(["standalone", "--refresh-interval-ms", "5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--refresh-interval-ms") && err.contains("100..=60000"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[http_status]\nmin_status = 900\n").unwrap();
    let out = Command::new(loglens_bin())
        .env("LOGLENS_METRICS_ADDR", "127.0.0.1:0")
        .args(["standalone", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--rules"])
        .arg(&rules)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("min_status must be between 100 and 599, got 900"), "{err}");
}
