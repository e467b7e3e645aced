//! Tenants end to end: keys of two tenants made with the real `loglens keys`
//! CLI, a real `loglens standalone --auth-file`, and every way to read
//! records tried across tenants: search, full text, field filters,
//! anomalies, stats totals and histogram, the live tail, a cursor taken from
//! the other tenant, and the ledger. Run on the embedded store, through
//! Kafka (a real nisshi broker) and on Elasticsearch (the fake cluster of the
//! contract suite, which evaluates the query DSL loglens sends). Per-tenant
//! ingest rates answer 429 with Retry-After.

mod common;

#[path = "../services/store/tests/fake_es/mod.rs"]
mod fake_es;

use std::path::Path;

use common::broker::{Broker, Storage};
use common::sse::SseReader;
use common::{Standalone, eventually, keys_cli, record};
use loglens_proto::ingest::IngestRequest;
use loglens_proto::ingest::ingest_service_client::IngestServiceClient;
use loglens_proto::query::SearchRequest;
use loglens_proto::query::query_service_client::QueryServiceClient;
use serde_json::{Value, json};
use tonic::transport::Channel;

/// A key of `tenant` with `scopes`.
fn key(file: &Path, name: &str, tenant: &str, scopes: &str) -> String {
    keys_cli(file, &["create", "--name", name, "--tenant", tenant, "--scope", scopes])
}

/// The keys of a test: tenants `alpha` and `beta` (ingest and query each),
/// and an admin of tenant `ops`.
struct Keys {
    alpha: String,
    beta: String,
    admin: String,
}

fn keys(file: &Path) -> Keys {
    Keys {
        alpha: key(file, "alpha-app", "alpha", "ingest,query"),
        beta: key(file, "beta-app", "beta", "ingest,query"),
        admin: key(file, "ops", "ops", "admin"),
    }
}

/// What each tenant sends: one record of the same content as the other's
/// (`identical`), one anomaly each, and words only its own records carry.
fn records_of(tenant: &str) -> Vec<Value> {
    let t = "2024-05-01T12:00:00Z";
    vec![
        json!({"timestamp": t, "service_name": "common", "message": "identical record", "request_id": "same"}),
        json!({"timestamp": "2024-05-01T12:00:01Z", "service_name": "shop", "level": "ERROR",
               "message": format!("card declined {tenant}word"), "status_code": 502,
               "request_id": format!("{tenant}-err"), "region": tenant}),
        json!({"timestamp": "2024-05-01T12:01:00Z", "service_name": format!("{tenant}-only"),
               "message": format!("hello from {tenant}"), "request_id": format!("{tenant}-1")}),
    ]
}

async fn post(server: &Standalone, key: &str, records: &[Value]) -> reqwest::Response {
    let body = records.iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    reqwest::Client::new()
        .post(server.url("/logs"))
        .bearer_auth(key)
        .body(body)
        .send()
        .await
        .expect("POST /logs")
}

async fn get(server: &Standalone, key: &str, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(server.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// `GET path` as `key`, which must succeed.
async fn ok(server: &Standalone, key: &str, path: &str) -> Value {
    let (status, body) = get(server, key, path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// The `tenant` of every record of a `/logs` reply.
fn tenants_in(body: &Value) -> Vec<String> {
    body["logs"]
        .as_array()
        .unwrap_or_else(|| panic!("no logs in {body}"))
        .iter()
        .map(|r| r["tenant"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Both tenants ingest; then every read path, as each tenant, sees its own
/// records only; the admin sees both, or the one it names.
async fn isolation(server: &Standalone, keys: &Keys) {
    for (tenant, key) in [("alpha", &keys.alpha), ("beta", &keys.beta)] {
        let r = post(server, key, &records_of(tenant)).await;
        assert_eq!(r.status(), 200, "{tenant}: {}", r.text().await.unwrap());
    }
    eventually(60, "all six records searchable", || async {
        (ok(server, &keys.admin, "/logs?size=100").await["total"] == 6).then_some(())
    })
    .await;

    for (me, other, key) in [("alpha", "beta", &keys.alpha), ("beta", "alpha", &keys.beta)] {
        // Search: only my three records, each marked mine.
        let all = ok(server, key, "/logs?size=100").await;
        assert_eq!(all["total"], 3, "{me}: {all}");
        assert!(tenants_in(&all).iter().all(|t| t == me), "{me}: {all}");
        // Asking for my own tenant by name is fine.
        assert_eq!(ok(server, key, &format!("/logs?tenant={me}")).await["total"], 3);
        // Full text: the other's words find nothing, mine find mine.
        let theirs = ok(server, key, &format!("/logs?q={other}word")).await;
        assert_eq!(theirs["total"], 0, "{me} searched {other}'s words: {theirs}");
        assert_eq!(ok(server, key, &format!("/logs?q={me}word")).await["total"], 1);
        assert_eq!(ok(server, key, "/logs?q=card%20declined").await["total"], 1);
        // Field filters, including the values both tenants sent.
        assert_eq!(ok(server, key, "/logs?request_id=same").await["total"], 1);
        assert_eq!(ok(server, key, "/logs?service_name=shop").await["total"], 1);
        assert_eq!(ok(server, key, &format!("/logs?service_name={other}-only")).await["total"], 0);
        assert_eq!(ok(server, key, &format!("/logs?attr.region={other}")).await["total"], 0);
        assert_eq!(ok(server, key, "/logs?level=ERROR&status_code=502").await["total"], 1);
        // Anomalies.
        let anomalies = ok(server, key, "/logs/anomalies").await;
        assert_eq!(anomalies["total"], 1, "{me}: {anomalies}");
        assert_eq!(anomalies["logs"][0]["request_id"], format!("{me}-err"));
        // Stats totals and the histogram.
        let stats = ok(
            server,
            key,
            "/logs/stats?from_timestamp=1714521600000&to_timestamp=1714608000000&interval=1m",
        )
        .await;
        assert_eq!(stats["total_logs"], 3, "{me}: {stats}");
        let services = stats["services"].as_object().expect("services");
        assert!(!services.contains_key(&format!("{other}-only")), "{me}: {stats}");
        let in_buckets: u64 = stats["histogram"]
            .as_array()
            .unwrap_or_else(|| panic!("histogram in {stats}"))
            .iter()
            .map(|b| b["count"].as_u64().unwrap())
            .sum();
        assert_eq!(in_buckets, 3, "{me}: {stats}");
        // Naming the other tenant is refused, on every read route.
        for path in [
            format!("/logs?tenant={other}"),
            format!("/logs/anomalies?tenant={other}"),
            format!("/logs/stats?tenant={other}"),
            format!("/logs/tail?tenant={other}"),
        ] {
            let (status, body) = get(server, key, &path).await;
            assert_eq!(status, 403, "{me} GET {path}: {body}");
            assert!(body["message"].as_str().unwrap().contains("admin"), "{body}");
        }
    }

    // A cursor taken from beta's results, used by alpha, goes on through
    // alpha's records only.
    let beta_page = ok(server, &keys.beta, "/logs?size=1").await;
    let cursor = beta_page["next_cursor"].as_str().expect("a cursor").to_owned();
    let mut seen = Vec::new();
    let mut next = Some(cursor);
    while let Some(c) = next.take() {
        let page = ok(server, &keys.alpha, &format!("/logs?size=1&cursor={c}")).await;
        seen.extend(tenants_in(&page));
        next = page["next_cursor"].as_str().filter(|c| !c.is_empty()).map(str::to_owned);
    }
    assert!(seen.iter().all(|t| t == "alpha"), "alpha continued beta's cursor: {seen:?}");

    // The same record content from two tenants is two records.
    let same = ok(server, &keys.admin, "/logs?request_id=same").await;
    assert_eq!(same["total"], 2, "{same}");
    assert_ne!(same["logs"][0]["id"], same["logs"][1]["id"]);
    let mut owners = tenants_in(&same);
    owners.sort();
    assert_eq!(owners, ["alpha", "beta"]);
    // The admin names a tenant, or sees all.
    assert_eq!(ok(server, &keys.admin, "/logs?tenant=beta").await["total"], 3);
    assert_eq!(ok(server, &keys.admin, "/logs/stats").await["total_logs"], 6);
    assert_eq!(ok(server, &keys.admin, "/logs/stats?tenant=alpha").await["total_logs"], 3);

    // gRPC, with the key as metadata: the same view.
    let channel = server.channel().await;
    let alpha = search_as(&channel, &keys.alpha, SearchRequest { size: 100, ..Default::default() })
        .await
        .expect("alpha searches over gRPC");
    assert_eq!(alpha.total, 3);
    assert!(alpha.logs.iter().all(|r| r.tenant == "alpha"));
    let err = search_as(
        &channel,
        &keys.alpha,
        SearchRequest {
            filter: Some(loglens_proto::query::LogFilter {
                tenant: Some("beta".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");

    // Ingest over gRPC is the key's tenant's too.
    let mut ingest = IngestServiceClient::new(channel.clone());
    let mut request = tonic::Request::new(IngestRequest {
        records: vec![record("grpc-beta", "INFO", "sent over grpc", "g-1")],
    });
    request.metadata_mut().insert("authorization", bearer(&keys.beta));
    assert_eq!(ingest.ingest(request).await.unwrap().into_inner().accepted, 1);
    eventually(30, "beta's gRPC record", || async {
        let b = ok(server, &keys.beta, "/logs?request_id=g-1").await;
        (b["total"] == 1).then_some(())
    })
    .await;
    assert_eq!(ok(server, &keys.alpha, "/logs?request_id=g-1").await["total"], 0);

    tail_isolation(server, keys).await;
}

fn bearer(key: &str) -> tonic::metadata::MetadataValue<tonic::metadata::Ascii> {
    format!("Bearer {key}").parse().unwrap()
}

async fn search_as(
    channel: &Channel,
    key: &str,
    search: SearchRequest,
) -> Result<loglens_proto::query::SearchResponse, tonic::Status> {
    let mut request = tonic::Request::new(search);
    request.metadata_mut().insert("authorization", bearer(key));
    QueryServiceClient::new(channel.clone()).search(request).await.map(tonic::Response::into_inner)
}

/// Alpha tails; beta, then alpha, send a record: alpha's stream carries only
/// alpha's.
async fn tail_isolation(server: &Standalone, keys: &Keys) {
    let url = server.url("/logs/tail");
    let mut alpha =
        SseReader::send(reqwest::Client::new().get(&url).bearer_auth(&keys.alpha), &url).await;
    // The stream is open once its first keep-alive or event could arrive;
    // records sent before the subscription would be missed, so send until
    // alpha's own marker shows up, and check nothing of beta's came first.
    let mut round = 0;
    loop {
        round += 1;
        assert!(round < 20, "alpha's tail never showed alpha's record");
        let b = post(server, &keys.beta, &[json!({"service_name": "tail", "message": "beta live", "request_id": format!("beta-live-{round}")})]).await;
        assert_eq!(b.status(), 200);
        let a = post(server, &keys.alpha, &[json!({"service_name": "tail", "message": "alpha live", "request_id": format!("alpha-live-{round}")})]).await;
        assert_eq!(a.status(), 200);
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), alpha.next()).await;
        let Ok(event) = event else { continue };
        if event.event != "log" {
            continue;
        }
        let record = event.json();
        assert_eq!(record["tenant"], "alpha", "alpha's tail carried {record}");
        assert!(record["request_id"].as_str().unwrap().starts_with("alpha-live-"), "{record}");
        break;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_see_each_other_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.toml");
    let keys = keys(&file);
    let server = Standalone::start_with(dir.path(), &["--auth-file", file.to_str().unwrap()]);
    isolation(&server, &keys).await;
    // The ledger of a node without Kafka has no tenant rows; a tenant's key
    // reads it, and sees no other tenant.
    let ledger = ok(&server, &keys.alpha, "/ledger").await;
    assert!(ledger_tenants(&ledger).iter().all(|t| t == "alpha"), "{ledger}");
}

fn ledger_tenants(ledger: &Value) -> Vec<String> {
    ledger["tenants"]
        .as_array()
        .map(|a| a.iter().map(|t| t["tenant"].as_str().unwrap_or("").to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_see_each_other_through_kafka() {
    let broker = Broker::start(Storage::Memory);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.toml");
    let keys = keys(&file);
    let group = format!("tenants-{}", std::process::id());
    let server = Standalone::start_with(
        dir.path(),
        &[
            "--auth-file",
            file.to_str().unwrap(),
            "--kafka",
            &broker.bootstrap(),
            "--consumer-group",
            &group,
        ],
    );
    isolation(&server, &keys).await;
    // The ledger: each tenant sees only its own row, the admin sees both.
    let mine = ok(&server, &keys.alpha, "/ledger").await;
    assert_eq!(ledger_tenants(&mine), ["alpha"], "{mine}");
    let stored = ok(&server, &keys.alpha, "/logs?size=1").await["total"].clone();
    assert_eq!(mine["tenants"][0]["indexed"], stored, "{mine}");
    assert_eq!(mine["indexed"], stored, "the totals are alpha's: {mine}");
    assert!(mine["partitions"].as_array().is_none_or(Vec::is_empty), "{mine}");
    let all = ok(&server, &keys.admin, "/ledger").await;
    let mut both = ledger_tenants(&all);
    both.sort();
    assert_eq!(both, ["alpha", "beta"], "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_see_each_other_on_elasticsearch() {
    let es = fake_es::FakeEs::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.toml");
    let keys = keys(&file);
    let server = Standalone::start_with(
        dir.path(),
        &[
            "--auth-file",
            file.to_str().unwrap(),
            "--store",
            &es.url(),
            "--elastic-index-name",
            "tn",
        ],
    );
    isolation(&server, &keys).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_its_ingest_rate_gets_429_with_retry_after_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.toml");
    let keys = keys(&file);
    keys_cli(&file, &["limits", "--tenant", "alpha", "--ingest-rate", "1", "--ingest-burst", "5"]);
    let server = Standalone::start_with(dir.path(), &["--auth-file", file.to_str().unwrap()]);
    let batch = |n: usize, who: &str| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"service_name": "rate", "message": format!("{who} {i}"), "request_id": format!("{who}-{i}")}))
            .collect()
    };
    // The burst (even a batch larger than what is left) is admitted once...
    let first = post(&server, &keys.alpha, &batch(8, "a1")).await;
    assert_eq!(first.status(), 200, "{}", first.text().await.unwrap());
    // ...then the tenant is in debt: refused with a reason and Retry-After.
    let second = post(&server, &keys.alpha, &batch(1, "a2")).await;
    assert_eq!(second.status(), 429);
    let retry: u64 = second.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "Retry-After {retry}");
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["error"], "resource_exhausted", "{body}");
    assert!(body["message"].as_str().unwrap().contains("alpha"), "{body}");
    // Another tenant is not held back.
    let beta = post(&server, &keys.beta, &batch(50, "b")).await;
    assert_eq!(beta.status(), 200);
    // gRPC callers get RESOURCE_EXHAUSTED with retry-after metadata.
    let mut ingest = IngestServiceClient::new(server.channel().await);
    let mut request = tonic::Request::new(IngestRequest {
        records: vec![record("rate", "INFO", "grpc", "a-grpc")],
    });
    request.metadata_mut().insert("authorization", bearer(&keys.alpha));
    let err = ingest.ingest(request).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert!(err.metadata().get("retry-after").is_some(), "{err:?}");
    eventually(30, "beta's 50 records", || async {
        (ok(&server, &keys.beta, "/logs?service_name=rate").await["total"] == 50).then_some(())
    })
    .await;
    let alpha = ok(&server, &keys.alpha, "/logs?service_name=rate").await;
    assert_eq!(alpha["total"], 8, "only the admitted batch is stored: {alpha}");
    // After the wait, alpha sends again.
    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    eventually(20, "alpha admitted again", || async {
        (post(&server, &keys.alpha, &batch(1, "a3")).await.status() == 200).then_some(())
    })
    .await;
}
