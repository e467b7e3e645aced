//! API keys end to end: keys made with the real `loglens keys` CLI, a real
//! `loglens standalone --auth-file`, and every REST route and every RPC
//! tried with no key, a bad key, a revoked key, the wrong scope and the
//! right one; keys created or revoked while running take effect without a
//! restart; repeated failures from one address are rate-limited.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Standalone, eventually, keys_cli, record};
use loglens_proto::ingest::IngestRequest;
use loglens_proto::ingest::ingest_service_client::IngestServiceClient;
use loglens_proto::query::query_service_client::QueryServiceClient;
use loglens_proto::query::{GetAnomaliesRequest, SearchRequest, TailRequest};
use loglens_proto::stats::stats_service_client::StatsServiceClient;
use loglens_proto::stats::{GetLedgerRequest, GetStatsRequest};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use serde_json::Value;
use tonic::transport::Channel;

fn create(file: &Path, name: &str, scopes: &str) -> String {
    let secret =
        keys_cli(file, &["create", "--name", name, "--tenant", "payments", "--scope", scopes]);
    assert!(secret.starts_with("llk_"), "{secret}");
    secret
}

/// The keys of the tests.
struct Keys {
    ingest: String,
    query: String,
    admin: String,
    revoked: String,
}

const BAD_KEY: &str =
    "llk_00000000_0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Need {
    Open,
    Ingest,
    Query,
    Admin,
}

/// How a client sends its key.
#[derive(Clone, Copy, Debug)]
enum Style {
    Bearer,
    /// Elasticsearch clients: Basic with the key as password.
    Basic,
    /// Splunk HEC.
    Splunk,
}

fn header(style: Style, key: &str) -> String {
    use base64::Engine as _;
    match style {
        Style::Bearer => format!("Bearer {key}"),
        Style::Basic => format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("elastic:{key}"))
        ),
        Style::Splunk => format!("Splunk {key}"),
    }
}

struct Route {
    method: &'static str,
    path: &'static str,
    body: Option<(&'static str, &'static str)>,
    accept: Option<&'static str>,
    need: Need,
    style: Style,
}

fn r(method: &'static str, path: &'static str, need: Need, style: Style) -> Route {
    Route { method, path, body: None, accept: None, need, style }
}

fn routes() -> Vec<Route> {
    use Need::*;
    use Style::*;
    let json = "application/json";
    vec![
        r("GET", "/health", Open, Bearer),
        r("GET", "/openapi.json", Open, Bearer),
        r("GET", "/docs/", Open, Bearer),
        r("GET", "/redoc", Open, Bearer),
        Route { accept: Some("text/html"), ..r("GET", "/", Open, Bearer) },
        r("GET", "/logs?size=1", Query, Bearer),
        r("GET", "/logs/anomalies?size=1", Query, Bearer),
        r("GET", "/logs/stats", Query, Bearer),
        r("GET", "/stats", Query, Bearer),
        r("GET", "/logs/tail", Query, Bearer),
        r("GET", "/ledger", Query, Bearer),
        r("GET", "/metrics", Admin, Bearer),
        Route {
            body: Some((json, r#"[{"service_name":"auth-e2e","message":"hello"}]"#)),
            ..r("POST", "/logs", Ingest, Bearer)
        },
        Route {
            body: Some((json, r#"{"resourceLogs":[]}"#)),
            ..r("POST", "/v1/logs", Ingest, Bearer)
        },
        Route {
            body: Some((
                json,
                r#"{"streams":[{"stream":{"service_name":"loki-e2e"},"values":[["1714564800000000000","hi"]]}]}"#,
            )),
            ..r("POST", "/loki/api/v1/push", Ingest, Bearer)
        },
        Route {
            body: Some((json, r#"{"event":"hello","sourcetype":"e2e"}"#)),
            ..r("POST", "/services/collector/event", Ingest, Splunk)
        },
        Route {
            body: Some(("text/plain", "hello raw")),
            ..r("POST", "/services/collector/raw", Ingest, Splunk)
        },
        r("GET", "/services/collector/health", Open, Splunk),
        Route { accept: Some(json), ..r("GET", "/", Ingest, Basic) },
        r("GET", "/redoc/redoc.standalone.js", Open, Bearer),
        r("GET", "/_license", Ingest, Basic),
        r("GET", "/_xpack", Ingest, Basic),
        r("GET", "/_cluster/health", Ingest, Basic),
        r("GET", "/_cluster/state/version", Ingest, Basic),
        r("GET", "/_nodes", Ingest, Basic),
        r("GET", "/_nodes/_local/http", Ingest, Basic),
        r("GET", "/_ilm/policy", Ingest, Basic),
        r("GET", "/_ilm/policy/logs", Ingest, Basic),
        Route { body: Some((json, "{}")), ..r("PUT", "/_ilm/policy/logs", Ingest, Basic) },
        r("GET", "/_index_template/logs", Ingest, Basic),
        Route { body: Some((json, "{}")), ..r("PUT", "/_index_template/logs", Ingest, Basic) },
        r("GET", "/_template/logs", Ingest, Basic),
        Route { body: Some((json, "{}")), ..r("PUT", "/_template/logs", Ingest, Basic) },
        r("GET", "/_ingest/pipeline/logs", Ingest, Basic),
        Route { body: Some((json, "{}")), ..r("PUT", "/_ingest/pipeline/logs", Ingest, Basic) },
        Route {
            body: Some((json, r#"{"event":"hello"}"#)),
            ..r("POST", "/services/collector", Ingest, Splunk)
        },
        Route {
            body: Some((json, r#"{"event":"hello"}"#)),
            ..r("POST", "/services/collector/event/1.0", Ingest, Splunk)
        },
        Route {
            body: Some(("text/plain", "hello raw")),
            ..r("POST", "/services/collector/raw/1.0", Ingest, Splunk)
        },
        r("GET", "/services/collector/health/1.0", Open, Splunk),
        Route {
            body: Some((
                "application/x-ndjson",
                "{\"index\":{}}\n{\"message\":\"es\",\"service\":{\"name\":\"es-e2e\"}}\n",
            )),
            ..r("POST", "/_bulk", Ingest, Basic)
        },
        Route {
            body: Some((
                "application/x-ndjson",
                "{\"create\":{}}\n{\"message\":\"es\",\"service\":{\"name\":\"es-e2e\"}}\n",
            )),
            ..r("POST", "/logs-e2e/_bulk", Ingest, Basic)
        },
    ]
}

/// One request; returns the status, the `WWW-Authenticate` values and the body.
async fn send(
    http: &reqwest::Client,
    base: &str,
    route: &Route,
    auth: Option<String>,
) -> (u16, Vec<String>, String) {
    let url = format!("http://{base}{}", route.path);
    let mut req = match route.method {
        "POST" => http.post(&url),
        "PUT" => http.put(&url),
        _ => http.get(&url),
    };
    if let Some((ct, body)) = route.body {
        req = req.header("content-type", ct).body(body);
    }
    if let Some(a) = route.accept {
        req = req.header("accept", a);
    }
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("{} {}: {e}", route.method, route.path));
    let status = res.status().as_u16();
    let challenges = res
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    // The tail never ends: read its body only when it is an error.
    let body = if route.path == "/logs/tail" && status == 200 {
        String::new()
    } else {
        res.text().await.unwrap_or_default()
    };
    (status, challenges, body)
}

/// Every key lacking the scope `need`.
fn wrong_keys(keys: &Keys, need: Need) -> Vec<&str> {
    match need {
        Need::Ingest => vec![&keys.query],
        Need::Query => vec![&keys.ingest],
        Need::Admin => vec![&keys.ingest, &keys.query],
        Need::Open => vec![],
    }
}

fn right_key(keys: &Keys, need: Need) -> &str {
    match need {
        Need::Ingest => &keys.ingest,
        Need::Query => &keys.query,
        Need::Admin | Need::Open => &keys.admin,
    }
}

fn error_class(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("<not the JSON error body: {body}>"))
}

/// Makes the key file with the CLI and starts standalone on it; the
/// `revoked` key works at first, then is revoked with the CLI.
async fn start(dir: &Path, max_failures: &str) -> (Standalone, Keys, std::path::PathBuf) {
    let file = dir.join("keys.toml");
    let keys = Keys {
        ingest: create(&file, "shipper", "ingest"),
        query: create(&file, "dashboards", "query"),
        admin: create(&file, "ops", "admin"),
        revoked: create(&file, "leaked", "admin"),
    };
    let listed = keys_cli(&file, &["list"]);
    assert!(listed.contains("shipper") && listed.contains("ingest"), "{listed}");
    assert!(
        !listed.contains("sha256") && !listed.contains(&keys.admin),
        "list shows secrets: {listed}"
    );
    let server = Standalone::start_with(
        dir,
        &["--auth-file", file.to_str().unwrap(), "--auth-max-failures", max_failures],
    );
    (server, keys, file)
}

async fn revoke_and_wait(server: &Standalone, file: &Path, keys: &Keys) {
    let http = reqwest::Client::new();
    let probe = |key: String| {
        let http = http.clone();
        let url = server.url("/stats");
        async move { http.get(url).bearer_auth(key).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(probe(keys.revoked.clone()).await, 200);
    keys_cli(file, &["revoke", "--name", "leaked"]);
    eventually(10, "the revoked key to be refused", || {
        let p = probe(keys.revoked.clone());
        async move { (p.await == 401).then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn every_rest_route_checks_keys_and_scopes() {
    let dir = tempfile::tempdir().unwrap();
    let (server, keys, file) = start(dir.path(), "100000").await;
    revoke_and_wait(&server, &file, &keys).await;
    let http = reqwest::Client::new();
    let base = server.http.clone();
    for route in routes() {
        let what = format!("{} {}", route.method, route.path);
        if route.need == Need::Open {
            let (status, _, body) = send(&http, &base, &route, None).await;
            assert!((200..300).contains(&status), "{what} is open: {status} {body}");
            continue;
        }
        let (status, challenges, body) = send(&http, &base, &route, None).await;
        assert_eq!(
            (status, error_class(&body).as_str()),
            (401, "unauthenticated"),
            "{what} no key"
        );
        assert!(challenges.iter().any(|c| c.starts_with("Bearer")), "{what}: {challenges:?}");
        if matches!(route.style, Style::Basic) {
            assert!(challenges.iter().any(|c| c.starts_with("Basic")), "{what}: {challenges:?}");
        }
        for (label, key) in [("bad", BAD_KEY), ("revoked", keys.revoked.as_str())] {
            let (status, _, body) =
                send(&http, &base, &route, Some(header(route.style, key))).await;
            assert_eq!(status, 401, "{what} with a {label} key: {body}");
            assert!(body.contains("the API key is not valid"), "{what} {label}: {body}");
        }
        for wrong in wrong_keys(&keys, route.need) {
            let (status, _, body) =
                send(&http, &base, &route, Some(header(route.style, wrong))).await;
            assert_eq!(
                (status, error_class(&body).as_str()),
                (403, "permission_denied"),
                "{what} wrong scope"
            );
        }
        let (status, _, body) =
            send(&http, &base, &route, Some(header(route.style, right_key(&keys, route.need))))
                .await;
        assert!((200..300).contains(&status), "{what} with the right key: {status} {body}");
        // admin implies every scope.
        let (status, _, body) =
            send(&http, &base, &route, Some(header(route.style, &keys.admin))).await;
        assert!((200..300).contains(&status), "{what} with an admin key: {status} {body}");
    }
    // The web UI's cookie is a credential too (EventSource cannot set headers).
    let res = http
        .get(server.url("/logs/stats"))
        .header("cookie", format!("loglens_key={}", keys.query))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    // Refusals are counted by reason.
    let metrics = http.get(server.url("/metrics")).bearer_auth(&keys.admin).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    for reason in ["missing", "invalid", "forbidden"] {
        assert!(
            text.contains(&format!("loglens_auth_failures_total{{reason=\"{reason}\"}}")),
            "{reason} not counted"
        );
    }
}

/// A gRPC call with the given `authorization` value (none when `None`).
type Call =
    fn(Channel, Option<String>) -> futures::future::BoxFuture<'static, Result<(), tonic::Status>>;

fn req<T>(msg: T, auth: &Option<String>) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    if let Some(a) = auth {
        r.metadata_mut().insert("authorization", a.parse().unwrap());
    }
    r
}

fn rpcs() -> Vec<(&'static str, Need, Call)> {
    use futures::FutureExt as _;
    vec![
        ("IngestService/Ingest", Need::Ingest, |c, a| {
            async move {
                let body = IngestRequest { records: vec![record("grpc-auth", "INFO", "m", "g-1")] };
                IngestServiceClient::new(c).ingest(req(body, &a)).await.map(drop)
            }
            .boxed()
        }),
        ("IngestService/IngestStream", Need::Ingest, |c, a| {
            async move {
                let batches = tokio_stream::iter(vec![IngestRequest {
                    records: vec![record("grpc-auth", "INFO", "m", "g-2")],
                }]);
                IngestServiceClient::new(c).ingest_stream(req(batches, &a)).await.map(drop)
            }
            .boxed()
        }),
        ("LogsService/Export (OTLP)", Need::Ingest, |c, a| {
            async move {
                LogsServiceClient::new(c)
                    .export(req(ExportLogsServiceRequest::default(), &a))
                    .await
                    .map(drop)
            }
            .boxed()
        }),
        ("QueryService/Search", Need::Query, |c, a| {
            async move {
                let body = SearchRequest { size: 1, ..Default::default() };
                QueryServiceClient::new(c).search(req(body, &a)).await.map(drop)
            }
            .boxed()
        }),
        ("QueryService/GetAnomalies", Need::Query, |c, a| {
            async move {
                let body = GetAnomaliesRequest { size: 1, ..Default::default() };
                QueryServiceClient::new(c).get_anomalies(req(body, &a)).await.map(drop)
            }
            .boxed()
        }),
        ("QueryService/Tail", Need::Query, |c, a| {
            async move {
                QueryServiceClient::new(c).tail(req(TailRequest::default(), &a)).await.map(drop)
            }
            .boxed()
        }),
        ("StatsService/GetStats", Need::Query, |c, a| {
            async move {
                StatsServiceClient::new(c)
                    .get_stats(req(GetStatsRequest::default(), &a))
                    .await
                    .map(drop)
            }
            .boxed()
        }),
        ("StatsService/GetLedger", Need::Query, |c, a| {
            async move {
                StatsServiceClient::new(c)
                    .get_ledger(req(GetLedgerRequest::default(), &a))
                    .await
                    .map(drop)
            }
            .boxed()
        }),
        ("ServerReflection (v1)", Need::Open, |c, a| {
            // Reflection needs any valid key: checked apart below.
            async move { reflection(c, a).await }.boxed()
        }),
        ("Health/Check", Need::Open, |c, a| {
            async move {
                tonic_health::pb::health_client::HealthClient::new(c)
                    .check(req(tonic_health::pb::HealthCheckRequest::default(), &a))
                    .await
                    .map(drop)
            }
            .boxed()
        }),
    ]
}

async fn reflection(c: Channel, a: Option<String>) -> Result<(), tonic::Status> {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::{ServerReflectionRequest, server_reflection_response};
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = ServerReflectionClient::new(c)
        .server_reflection_info(req(tokio_stream::iter(vec![request]), &a))
        .await?
        .into_inner();
    let reply = stream.message().await?.expect("a reflection reply");
    match reply.message_response {
        Some(server_reflection_response::MessageResponse::ListServicesResponse(l)) => {
            assert!(l.service.iter().any(|s| s.name == "logs.query.v1.QueryService"));
            Ok(())
        }
        other => panic!("unexpected reflection reply {other:?}"),
    }
}

#[tokio::test]
async fn every_rpc_checks_keys_and_scopes() {
    let dir = tempfile::tempdir().unwrap();
    let (server, keys, file) = start(dir.path(), "100000").await;
    revoke_and_wait(&server, &file, &keys).await;
    let channel = server.channel().await;
    let bearer = |k: &str| Some(format!("Bearer {k}"));
    for (name, need, call) in rpcs() {
        if name.starts_with("ServerReflection") {
            let e = call(channel.clone(), None).await.unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unauthenticated, "{name}");
            let e = call(channel.clone(), bearer(BAD_KEY)).await.unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unauthenticated, "{name}");
            let e = call(channel.clone(), bearer(&keys.revoked)).await.unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unauthenticated, "{name}");
            // Any valid key lists the services, whatever its scope.
            for k in [&keys.ingest, &keys.query, &keys.admin] {
                call(channel.clone(), bearer(k)).await.unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            continue;
        }
        if need == Need::Open {
            call(channel.clone(), None).await.unwrap_or_else(|e| panic!("{name} is open: {e}"));
            continue;
        }
        let e = call(channel.clone(), None).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated, "{name} no key: {e}");
        assert!(e.message().contains("API key is required"), "{name}: {}", e.message());
        for (label, key) in [("bad", BAD_KEY), ("revoked", keys.revoked.as_str())] {
            let e = call(channel.clone(), bearer(key)).await.unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unauthenticated, "{name} {label} key: {e}");
            assert_eq!(e.message(), "the API key is not valid", "{name} {label}");
        }
        for wrong in wrong_keys(&keys, need) {
            let e = call(channel.clone(), bearer(wrong)).await.unwrap_err();
            assert_eq!(e.code(), tonic::Code::PermissionDenied, "{name} wrong scope: {e}");
        }
        call(channel.clone(), bearer(right_key(&keys, need)))
            .await
            .unwrap_or_else(|e| panic!("{name} with the right key: {e}"));
        call(channel.clone(), bearer(&keys.admin))
            .await
            .unwrap_or_else(|e| panic!("{name} with an admin key: {e}"));
    }
}

#[tokio::test]
async fn a_key_created_while_running_works_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _keys, file) = start(dir.path(), "100000").await;
    let late = create(&file, "late", "query");
    let http = reqwest::Client::new();
    eventually(10, "the new key to be accepted", || {
        let r = http.get(server.url("/stats")).bearer_auth(&late).send();
        async move { (r.await.unwrap().status().as_u16() == 200).then_some(()) }
    })
    .await;
    let mut q = server.query().await;
    let ok = q
        .search(req(
            SearchRequest { size: 1, ..Default::default() },
            &Some(format!("Bearer {late}")),
        ))
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let (server, keys, _file) = start(dir.path(), "5").await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = http.get(server.url("/stats")).bearer_auth(BAD_KEY).send().await.unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [429; 3], "{statuses:?}");
    // While limited, even a good key from this address waits.
    let r = http.get(server.url("/stats")).bearer_auth(&keys.query).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let e = server
        .query()
        .await
        .search(req(SearchRequest::default(), &Some(format!("Bearer {}", keys.query))))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e}");
    // /health stays open.
    let r = http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn grpc_web_calls_are_checked_too() {
    let dir = tempfile::tempdir().unwrap();
    let (server, keys, _file) = start(dir.path(), "100000").await;
    let http = reqwest::Client::new();
    // One gRPC-web frame holding an empty SearchRequest.
    let call = |auth: Option<&str>| {
        let mut r = http
            .post(format!("http://{}/logs.query.v1.QueryService/Search", server.grpc))
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .body(vec![0u8, 0, 0, 0, 0]);
        if let Some(a) = auth {
            r = r.header("authorization", a.to_owned());
        }
        async move {
            let res = r.send().await.unwrap();
            res.headers().get("grpc-status").map(|v| v.to_str().unwrap().to_owned())
        }
    };
    assert_eq!(call(None).await.as_deref(), Some("16"), "UNAUTHENTICATED");
    assert_eq!(call(Some(&format!("Bearer {}", keys.ingest))).await.as_deref(), Some("7"));
    // Allowed: the status of a successful call travels in the body's trailers.
    let ok = call(Some(&format!("Bearer {}", keys.query))).await;
    assert!(ok.is_none() || ok.as_deref() == Some("0"), "{ok:?}");
}

#[tokio::test]
async fn sighup_reloads_a_change_the_file_watcher_cannot_see() {
    let dir = tempfile::tempdir().unwrap();
    let (server, keys, file) = start(dir.path(), "100000").await;
    let probe = || async {
        reqwest::Client::new()
            .get(server.url("/stats"))
            .bearer_auth(&keys.query)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(probe().await, 200);
    // Revoke the query key in place, keeping the file's length, inode and
    // modification time: the watcher compares exactly those, so only a
    // SIGHUP can make loglens read the change.
    let before = std::fs::metadata(&file).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let at = text.find("name = \"dashboards\"").expect("the query key's entry");
    let flag = at + text[at..].find("revoked = false").expect("its revoked flag");
    let mut edited = text.clone();
    edited.replace_range(flag..flag + "revoked = false".len(), "revoked = true ");
    assert_eq!(edited.len(), text.len());
    {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.write_all(edited.as_bytes()).unwrap();
        f.set_modified(before.modified().unwrap()).unwrap();
    }
    let after = std::fs::metadata(&file).unwrap();
    assert_eq!(
        (after.len(), after.modified().unwrap()),
        (before.len(), before.modified().unwrap())
    );
    // Two watch periods later the old key still works: the change is unseen.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(probe().await, 200, "the watcher saw a change it should not see");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    eventually(10, "SIGHUP to reload the key file", || async {
        (probe().await == 401).then_some(())
    })
    .await;
    // The other keys are untouched.
    let r = reqwest::Client::new()
        .get(server.url("/ledger"))
        .bearer_auth(&keys.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
