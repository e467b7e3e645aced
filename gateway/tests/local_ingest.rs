//! The in-process ingest port: the same bodies through a gateway whose
//! ingest is a [`LocalIngest`] and through one calling the fake gRPC backend
//! of [`common`] get the same replies, and the local one makes no gRPC call.
//! The local fake answers like the gRPC one: records whose message is
//! `reject-me` are rejected, a first record of service `busy` is
//! RESOURCE_EXHAUSTED and `down` UNAVAILABLE.

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Backend, Reply, send};
use loglens_core::budget::ByteBudget;
use loglens_core::{Error, RawLog, Rejection};
use loglens_gateway::{GatewayConfig, InProcess, LocalIngest, app_with};

/// What the local fake received: the records' messages and the traceparent.
#[derive(Default)]
struct FakeLocal(Mutex<Vec<(Vec<String>, Option<String>)>>);

#[async_trait]
impl LocalIngest for FakeLocal {
    async fn ingest(
        &self,
        records: Vec<RawLog>,
        traceparent: Option<&str>,
    ) -> loglens_core::Result<(u32, Vec<Rejection>)> {
        let messages: Vec<String> =
            records.iter().map(|r| r.message.clone().unwrap_or_default()).collect();
        self.0.lock().unwrap().push((messages.clone(), traceparent.map(str::to_owned)));
        match records.first().and_then(|r| r.service_name.as_deref()) {
            Some("busy") => return Err(Error::ResourceExhausted("too many queries".into())),
            Some("down") => return Err(Error::Unavailable("store is down".into())),
            _ => {}
        }
        let rejected: Vec<Rejection> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| *m == "reject-me")
            .map(|(i, _)| Rejection {
                index: i as u32,
                field: "message".into(),
                reason: "message is rejected".into(),
            })
            .collect();
        Ok(((records.len() - rejected.len()) as u32, rejected))
    }
}

/// The fake gRPC backend (for query routes, and the remote gateway) and a
/// gateway on it whose ingest is local.
async fn start() -> (Backend, Arc<FakeLocal>, Router) {
    let b = Backend::start().await;
    let local = Arc::new(FakeLocal::default());
    let cfg = GatewayConfig { grpc_endpoint: format!("http://{}", b.addr), ..Default::default() };
    let app = app_with(
        &cfg,
        InProcess {
            ingest: Some(local.clone() as Arc<dyn LocalIngest>),
            budget: None,
            grpc: None,
            auth: None,
        },
    )
    .unwrap();
    (b, local, app)
}

async fn post(app: &Router, uri: &str, body: &str, content_type: &str) -> Reply {
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, content_type)
        .header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        .body(Body::from(body.to_owned()))
        .unwrap();
    send(app, req).await
}

#[tokio::test]
async fn post_logs_through_the_local_port_answers_like_the_grpc_one() {
    let (b, local, local_app) = start().await;
    let remote_app = b.app();
    let body = r#"[
        {"service_name":"a","message":"ok-0"},
        {"service_name":"a","message":"m","status_code":"200"},
        {"service_name":"a","message":"reject-me"},
        17,
        {"service_name":"a","message":"m","status_code":99999999999},
        {"service_name":"a","message":"ok-5","trace_id":"app-trace"},
        {"service_name":"a","message":"reject-me"}
    ]"#;
    let l = post(&local_app, "/logs", body, "application/json").await;
    let r = post(&remote_app, "/logs", body, "application/json").await;
    assert_eq!(l.status, StatusCode::OK, "{}", l.text());
    assert_eq!(l.json(), r.json());
    assert_eq!(l.json()["accepted"], 2);
    let calls = local.0.lock().unwrap().clone();
    assert_eq!(
        calls,
        [(
            vec!["ok-0".into(), "reject-me".into(), "ok-5".into(), "reject-me".into()],
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into())
        )],
        "only locally valid records are sent, with the caller's traceparent"
    );
    assert_eq!(b.recorded().ingest.len(), 1, "only the remote gateway called gRPC Ingest");

    for (service, status, retry_after) in [("busy", 429, "1"), ("down", 503, "")] {
        let body = format!(r#"{{"service_name":"{service}","message":"m"}}"#);
        let l = post(&local_app, "/logs", &body, "application/json").await;
        assert_eq!((l.status.as_u16(), l.header(header::RETRY_AFTER)), (status, retry_after));
        assert_eq!(
            l.json()["error"],
            if status == 429 { "resource_exhausted" } else { "unavailable" }
        );
    }
}

#[tokio::test]
async fn drop_in_routes_use_the_local_port_too() {
    let (b, local, local_app) = start().await;
    let remote_app = b.app();
    let push = r#"{"streams":[{"stream":{"service_name":"loki-svc"},
        "values":[["1714564800000000000","fine"],["1714564800000000001","reject-me"]]}]}"#;
    let l = post(&local_app, "/loki/api/v1/push", push, "application/json").await;
    let r = post(&remote_app, "/loki/api/v1/push", push, "application/json").await;
    assert_eq!(l.status, StatusCode::BAD_REQUEST, "{}", l.text());
    assert_eq!((l.status, l.json()), (r.status, r.json()));
    let bulk = "{\"create\":{\"_index\":\"svc\"}}\n{\"message\":\"one\"}\n";
    let l = post(&local_app, "/_bulk", bulk, "application/x-ndjson").await;
    assert_eq!(l.status, StatusCode::OK, "{}", l.text());
    assert_eq!(l.json()["errors"], false);
    let sent: Vec<Vec<String>> = local.0.lock().unwrap().iter().map(|c| c.0.clone()).collect();
    assert_eq!(sent, [vec!["fine".to_owned(), "reject-me".to_owned()], vec!["one".to_owned()]]);
    assert_eq!(b.recorded().ingest.len(), 1, "only the remote gateway called gRPC Ingest");
}

#[tokio::test]
async fn a_full_ingest_budget_sheds_with_429_and_retry_after_and_keeps_what_was_taken() {
    let b = Backend::start().await;
    let local = Arc::new(FakeLocal::default());
    let budget = ByteBudget::new(4096);
    let cfg = GatewayConfig { grpc_endpoint: format!("http://{}", b.addr), ..Default::default() };
    let shared = InProcess {
        ingest: Some(local.clone() as Arc<dyn LocalIngest>),
        budget: Some(budget.clone()),
        grpc: None,
        auth: None,
    };
    let app = app_with(&cfg, shared).unwrap();
    let record = |i: usize| format!(r#"{{"service_name":"a","message":"m-{i}"}}"#);
    for i in 0..3 {
        let r = post(&app, "/logs", &record(i), "application/json").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    assert_eq!(budget.in_use(), 0, "answered requests give their bytes back");

    // Another request holds the whole budget: every ingest door sheds.
    let held = budget.try_take(4096).unwrap();
    let r = post(&app, "/logs", &record(3), "application/json").await;
    assert_eq!((r.status, r.header(header::RETRY_AFTER)), (StatusCode::TOO_MANY_REQUESTS, "1"));
    assert_eq!(r.json()["error"], "resource_exhausted");
    let push = r#"{"streams":[{"stream":{"job":"j"},"values":[["1714564800000000000","x"]]}]}"#;
    let r = post(&app, "/loki/api/v1/push", push, "application/json").await;
    assert_eq!((r.status, r.header(header::RETRY_AFTER)), (StatusCode::TOO_MANY_REQUESTS, "1"));
    let r = post(&app, "/services/collector/event", r#"{"event":"x"}"#, "application/json").await;
    assert_eq!((r.status, r.header(header::RETRY_AFTER)), (StatusCode::TOO_MANY_REQUESTS, "1"));
    assert_eq!(r.json()["code"], 9, "HEC's server-is-busy code");
    let bulk = "{\"create\":{\"_index\":\"svc\"}}\n{\"message\":\"one\"}\n";
    let r = post(&app, "/_bulk", bulk, "application/x-ndjson").await;
    assert_eq!((r.status, r.header(header::RETRY_AFTER)), (StatusCode::TOO_MANY_REQUESTS, "1"));
    let r = post(&app, "/v1/logs", "{}", "application/json").await;
    assert_eq!((r.status, r.header(header::RETRY_AFTER)), (StatusCode::TOO_MANY_REQUESTS, "1"));
    drop(held);

    let r = post(&app, "/logs", &record(4), "application/json").await;
    assert_eq!(r.status, StatusCode::OK, "the retry is taken once the budget is free");
    let sent: Vec<String> = local.0.lock().unwrap().iter().flat_map(|c| c.0.clone()).collect();
    assert_eq!(sent, ["m-0", "m-1", "m-2", "m-4"], "everything answered 200 was ingested, no more");
}
