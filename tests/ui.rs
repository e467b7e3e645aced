//! The built-in web UI in headless Chromium against a real `loglens
//! standalone`: `ui/e2e/ui.mjs` (playwright-core driving Debian's chromium,
//! axe-core on every view) explores, zooms, pages, tails and shares views over
//! records posted here. Also checks the committed `ui/dist` is what
//! `npm run build` makes of `ui/`.
//!
//! Needs `ui/node_modules` (`npm ci` in ui/, which scripts/test runs) and
//! `LOGLENS_CHROMIUM`; Node is `LOGLENS_NODE` or `node` on the PATH.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Standalone, eventually, repo_root};
use serde_json::{Value, json};

fn node() -> String {
    std::env::var("LOGLENS_NODE").unwrap_or_else(|_| "node".into())
}

/// `ui/`, with its npm dependencies installed.
fn ui_dir() -> PathBuf {
    let ui = repo_root().join("ui");
    assert!(
        ui.join("node_modules/.bin/vite").exists(),
        "{}/node_modules is missing: run scripts/test (or `npm ci` in ui/)",
        ui.display()
    );
    ui
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The records ui/e2e/ui.mjs expects: 120 checkout fillers, 3 payment
/// anomalies ("zanzibar"), 2 cache warnings ("quokka", the newest), spread
/// over the last 21 minutes.
fn records(now: i64) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..2 {
        out.push(json!({
            "timestamp": now - 5_000 - i * 1_000,
            "service_name": "cache", "level": "WARN",
            "message": format!("cache miss quokka {i}"),
            "status_code": 200, "response_time_ms": 12.5 + i as f64,
            "request_id": format!("ui-quokka-{i}"),
        }));
    }
    for i in 0..3 {
        out.push(json!({
            "timestamp": now - 60_000 - i * 30_000,
            "service_name": "payments", "level": "ERROR",
            "message": format!("payment zanzibar timeout {i}"),
            "status_code": 504, "response_time_ms": 2500.0, "error_code": "UPSTREAM_TIMEOUT",
            "request_id": format!("ui-zanzibar-{i}"),
            "trace_id": format!("4bf92f3577b34da6a3ce929d0e0e47{i:02}"),
            "span_id": "00f067aa0ba902b7",
            "tags": ["edge", format!("zanzibar-{i}")],
            "attributes": {"team": "payments-core", "k8s.namespace": "shop-ui"},
        }));
    }
    for i in 0..120 {
        out.push(json!({
            "timestamp": now - 10_000 - i * 10_000,
            "service_name": "checkout", "level": "INFO",
            "message": format!("order placed filler {i}"),
            "status_code": 201, "response_time_ms": 40.0 + (i % 17) as f64,
            "request_id": format!("ui-filler-{i}"),
            "attributes": {"k8s.namespace": "shop-ui"},
        }));
    }
    out
}

fn artifact_dir() -> PathBuf {
    let dir = repo_root().join("target/ui-artifacts");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    dir
}

#[tokio::test]
async fn web_ui_end_to_end_in_headless_chromium() {
    let chromium = std::env::var("LOGLENS_CHROMIUM").unwrap_or_else(|_| {
        panic!("LOGLENS_CHROMIUM is not set: run the suite through scripts/test, which installs chromium and sets it")
    });
    let ui = ui_dir();
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start_with(dir.path(), &["--jaeger-url", "http://jaeger.test:16686"]);
    let http = reqwest::Client::new();
    let batch = records(now_ms());
    let n = batch.len();
    let r = http.post(server.url("/logs")).json(&batch).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    eventually(15, "the posted records to be searchable", || {
        let (http, url) = (http.clone(), server.url("/logs?size=1"));
        async move {
            let v: Value = http.get(url).send().await.ok()?.json().await.ok()?;
            (v["total"].as_u64() == Some(n as u64)).then_some(())
        }
    })
    .await;

    let base = format!("http://{}", server.http);
    let artifacts = artifact_dir();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(node())
            .arg(ui.join("e2e/ui.mjs"))
            .arg(&base)
            .arg(&artifacts)
            .env("LOGLENS_CHROMIUM", chromium)
            .output()
            .expect("run node ui/e2e/ui.mjs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "ui/e2e/ui.mjs failed ({}); screenshots in target/ui-artifacts\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file under `dir`, relative path -> bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn committed_ui_dist_matches_a_fresh_build() {
    let ui = ui_dir();
    let fresh = tempfile::tempdir().unwrap();
    let out = Command::new(node())
        .arg(ui.join("node_modules/vite/bin/vite.js"))
        .args(["build", "--logLevel", "warn", "--emptyOutDir", "--outDir"])
        .arg(fresh.path())
        .current_dir(&ui)
        .output()
        .expect("run vite build");
    assert!(out.status.success(), "vite build failed: {}", String::from_utf8_lossy(&out.stderr));
    let (want, have) = (files(fresh.path()), files(&ui.join("dist")));
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert!(
        want == have,
        "ui/dist is not what ui/ builds to: run `npm run build` in ui/ and commit ui/dist\n\
         fresh build: {:?}\ncommitted:   {:?}",
        names(&want),
        names(&have)
    );
}
