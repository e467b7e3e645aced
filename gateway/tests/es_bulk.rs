//! The Elasticsearch drop-in routes, driven with `oneshot` against the fake
//! gRPC backend of [`common`], which records what it receives, rejects
//! records whose message is `reject-me` and fails the whole call with
//! UNAVAILABLE when the first record's service is `down`.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, Method, Request, StatusCode, header};
use common::{Backend, Reply};
use serde_json::json;

/// The header every reply of these routes carries.
const PRODUCT: HeaderName = HeaderName::from_static("x-elastic-product");

/// The fake backend and a gateway on it taking bodies of up to
/// `max_body_bytes`.
async fn start(max_body_bytes: usize) -> (Backend, Router) {
    let b = Backend::start().await;
    let app = b.app_with(|c| c.max_body_bytes = max_body_bytes);
    (b, app)
}

async fn send(app: &Router, method: Method, uri: &str, accept: &str, body: Vec<u8>) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::ACCEPT, accept)
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from(body))
        .unwrap();
    common::send(app, req).await
}

async fn bulk(app: &Router, uri: &str, body: &str) -> Reply {
    send(app, Method::POST, uri, "application/json", body.as_bytes().to_vec()).await
}

#[tokio::test]
async fn bulk_reply_has_one_item_per_action_with_status_and_error() {
    let (b, app) = start(16 * 1024 * 1024).await;
    let body = concat!(
        "{\"create\":{\"_index\":\"logs-app\"}}\n",
        "{\"@timestamp\":\"2024-05-01T12:00:00Z\",\"message\":\"first\",\"service\":{\"name\":\"api\"},\"log\":{\"level\":\"error\"},\"k8s\":{\"pod\":\"p-1\"}}\n",
        "{\"index\":{\"_id\":\"given\"}}\n",
        "{\"message\":\"reject-me\"}\n",
        "{\"delete\":{\"_id\":\"x\"}}\n",
        "{\"create\":{}}\n",
        "{\"message\":\"trunc\n",
        "{\"update\":{\"_id\":\"y\"}}\n",
        "{\"doc\":{}}\n",
        "{\"create\":{}}\n",
        "{\"message\":\"last\",\"http\":{\"response\":{\"status_code\":9999999999}}}\n",
        "{\"create\":{}}\n",
        "{\"message\":\"kept\",\"event\":{\"duration\":2500000}}\n",
    );
    let r = bulk(&app, "/checkout/_bulk", body).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header(PRODUCT), "Elasticsearch");
    let v = r.json();
    assert_eq!(v["errors"], true);
    assert!(v["took"].is_u64());
    let items = v["items"].as_array().unwrap();
    let summary: Vec<(String, u64, String)> = items
        .iter()
        .map(|i| {
            let (op, body) = i.as_object().unwrap().iter().next().unwrap();
            (
                op.clone(),
                body["status"].as_u64().unwrap(),
                body["error"]["type"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let want = [
        ("create", 201, ""),
        ("index", 400, "document_parsing_exception"),
        ("delete", 400, "illegal_argument_exception"),
        ("create", 400, "document_parsing_exception"),
        ("update", 400, "illegal_argument_exception"),
        ("create", 400, "document_parsing_exception"),
        ("create", 201, ""),
    ];
    assert_eq!(
        summary,
        want.iter().map(|(o, s, t)| (o.to_string(), *s, t.to_string())).collect::<Vec<_>>()
    );
    assert_eq!(items[0]["create"]["_index"], "logs-app");
    assert_eq!(items[0]["create"]["result"], "created");
    assert_eq!(items[1]["index"]["_id"], "given");
    assert_eq!(items[1]["index"]["_index"], "checkout");
    assert_eq!(items[1]["index"]["error"]["reason"], "message is rejected");
    assert!(items[3]["create"]["error"]["reason"].as_str().unwrap().contains("EOF"));
    assert!(items[5]["create"]["error"]["reason"].as_str().unwrap().contains("status_code"));

    let sent = b.recorded();
    assert_eq!(sent.ingest.len(), 1);
    let recs = &sent.ingest[0].records;
    assert_eq!(recs.len(), 3, "decoded and valid-for-the-wire records only");
    assert_eq!(recs[0].service_name, "api");
    assert_eq!(recs[0].level, "error");
    assert_eq!(recs[0].timestamp, "2024-05-01T12:00:00Z");
    assert!(recs[0].attributes.contains_key("k8s.pod"));
    assert_eq!(recs[1].service_name, "checkout", "the path index names the service");
    assert_eq!(recs[2].response_time_ms, Some(2.5));
}

#[tokio::test]
async fn a_bulk_larger_than_one_ingest_batch_is_split_and_rejections_keep_their_items() {
    let (b, app) = start(16 * 1024 * 1024).await;
    let mut body = String::new();
    for i in 0..10_002 {
        let message = if i == 1 || i == 10_001 { "reject-me".to_owned() } else { format!("m{i}") };
        body.push_str(&format!("{{\"create\":{{}}}}\n{{\"message\":\"{message}\"}}\n"));
    }
    let r = bulk(&app, "/svc/_bulk", &body).await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 10_002);
    let failed: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, i)| i["create"]["status"] != 201)
        .map(|(n, _)| n)
        .collect();
    assert_eq!(failed, [1, 10_001]);
    assert_eq!(items[10_001]["create"]["error"]["reason"], "message is rejected");
    let sizes: Vec<usize> = b.recorded().ingest.iter().map(|r| r.records.len()).collect();
    assert_eq!(sizes, [10_000, 2], "at most the ingest service's batch limit per call");
}

#[tokio::test]
async fn all_good_bulk_says_no_errors_and_put_works_too() {
    let (b, app) = start(16 * 1024 * 1024).await;
    let body = "{\"index\":{\"_index\":\"svc\"}}\n{\"message\":\"a\"}\n";
    let r = send(&app, Method::PUT, "/_bulk", "*/*", body.as_bytes().to_vec()).await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["errors"], false);
    assert_eq!(v["items"][0]["index"]["status"], 201);
    assert_eq!(b.recorded().ingest[0].records[0].service_name, "svc");
}

#[tokio::test]
async fn unreadable_bodies_are_es_shaped_4xx_and_the_server_keeps_serving() {
    let (b, app) = start(1024).await;
    for (body, status, want) in [
        (b"".to_vec(), 400, "request body is empty"),
        (b"{\"create\":{\"_ind".to_vec(), 400, "has no line that is a JSON object"),
        (vec![0xff, 0xfe, 0xfd, b'\n', 0x80], 400, "is not valid UTF-8"),
        (vec![b'x'; 4096], 413, "request body must be at most 1024 bytes"),
    ] {
        let r = send(&app, Method::POST, "/_bulk", "application/json", body).await;
        assert_eq!(r.status.as_u16(), status, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header(PRODUCT), "Elasticsearch");
        let v = r.json();
        assert_eq!(v["status"], status);
        assert!(v["error"]["reason"].as_str().unwrap().contains(want), "{v}");
        assert!(v["error"]["type"].is_string());
    }
    let r = bulk(&app, "/_bulk", "{\"create\":{\"_index\":\"s\"}}\n{\"message\":\"fine\"}\n").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(b.recorded().ingest.len(), 1, "nothing sent for the refused bodies");
}

#[tokio::test]
async fn an_ingest_outage_is_a_whole_request_503_for_the_shipper_to_retry() {
    let (_backend, app) = start(16 * 1024 * 1024).await;
    let r = bulk(&app, "/_bulk", "{\"create\":{\"_index\":\"down\"}}\n{\"message\":\"x\"}\n").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.header(PRODUCT), "Elasticsearch");
    assert_eq!(r.json()["error"]["type"], "unavailable");
}

#[tokio::test]
async fn handshake_endpoints_answer_like_an_8x_cluster() {
    let (_backend, app) = start(16 * 1024 * 1024).await;
    let r = send(&app, Method::GET, "/", "application/json", vec![]).await;
    assert_eq!((r.status, r.header(PRODUCT)), (StatusCode::OK, "Elasticsearch"));
    let v = r.json();
    assert!(v["version"]["number"].as_str().unwrap().starts_with("8."));
    assert_eq!(v["version"]["build_flavor"], "default");
    let r = send(&app, Method::HEAD, "/", "*/*", vec![]).await;
    assert_eq!((r.status, r.header(PRODUCT)), (StatusCode::OK, "Elasticsearch"));
    // A browser asking for a page gets the web UI, not cluster info.
    let r = send(&app, Method::GET, "/", "text/html,application/xhtml+xml", vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header(header::CONTENT_TYPE).starts_with("text/html"));
    assert_eq!(r.header(PRODUCT), "");

    for (method, uri, key) in [
        (Method::GET, "/_license", "/license/status"),
        (Method::GET, "/_xpack", "/features/ilm/available"),
        (Method::GET, "/_ilm/policy/filebeat", "/filebeat/policy"),
        (Method::PUT, "/_ilm/policy/filebeat", "/acknowledged"),
        (Method::GET, "/_index_template/filebeat-8.19.0", "/index_templates/0/name"),
        (Method::PUT, "/_index_template/filebeat-8.19.0", "/acknowledged"),
        (Method::GET, "/_template/logstash", "/logstash/index_patterns"),
        (Method::GET, "/_ingest/pipeline/p1", "/p1/processors"),
        (Method::PUT, "/_ingest/pipeline/p1", "/acknowledged"),
        (Method::GET, "/_nodes", "/_nodes/total"),
        (Method::GET, "/_nodes/http", "/cluster_name"),
        (Method::GET, "/_cluster/health", "/status"),
        (Method::GET, "/_cluster/state/version", "/version"),
    ] {
        let r = send(&app, method.clone(), uri, "application/json", b"{}".to_vec()).await;
        assert_eq!(r.status, StatusCode::OK, "{method} {uri}");
        assert_eq!(r.header(PRODUCT), "Elasticsearch", "{method} {uri}");
        assert!(r.json().pointer(key).is_some(), "{method} {uri}: {}", r.json());
    }
    for uri in ["/_index_template/x", "/_ilm/policy/x"] {
        let r = send(&app, Method::HEAD, uri, "*/*", vec![]).await;
        assert_eq!((r.status, r.header(PRODUCT)), (StatusCode::OK, "Elasticsearch"), "{uri}");
    }
    assert_eq!(
        send(&app, Method::GET, "/_license", "*/*", vec![]).await.json()["license"]["status"],
        json!("active")
    );
}
