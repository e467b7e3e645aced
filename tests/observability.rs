//! Traces and metrics end to end: real `loglens` roles export spans over
//! OTLP to a receiver in this test and serve `/metrics`; the Prometheus
//! config, alert rules and the Grafana dashboard are checked against them.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::broker::{Broker, Storage};
use common::{Role, eventually, record, repo_root};
use loglens_proto::ingest::IngestRequest;
use loglens_proto::ingest::ingest_service_client::IngestServiceClient;
use loglens_proto::query::query_service_client::QueryServiceClient;
use loglens_proto::query::{LogFilter, SearchRequest};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use rdkafka::producer::{FutureProducer, FutureRecord};

/// One received span, flattened.
#[derive(Clone, Debug)]
struct Span {
    service: String,
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    kind: SpanKind,
    attrs: HashMap<String, String>,
    /// (trace id, span id) of each link.
    links: Vec<(String, String)>,
}

impl Span {
    fn attr(&self, key: &str) -> &str {
        self.attrs.get(key).map(String::as_str).unwrap_or_else(|| {
            panic!("span {:?} lacks attribute {key}: {:?}", self.name, self.attrs)
        })
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn value(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// An OTLP/gRPC trace receiver on 127.0.0.1:0 keeping every span.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .map(|kv| value(&kv.value))
                .unwrap_or_default();
            for s in rs.scope_spans.into_iter().flat_map(|ss| ss.spans) {
                spans.push(Span {
                    service: service.clone(),
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent: hex(&s.parent_span_id),
                    kind: SpanKind::try_from(s.kind).unwrap_or(SpanKind::Unspecified),
                    attrs: s
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), value(&kv.value)))
                        .collect(),
                    links: s.links.iter().map(|l| (hex(&l.trace_id), hex(&l.span_id))).collect(),
                    name: s.name,
                });
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Receiver {
    /// Starts serving; returns the endpoint URL for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let svc = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        format!("http://{addr}")
    }

    fn spans(&self) -> Vec<Span> {
        self.0.lock().unwrap().clone()
    }
}

fn otel_env<'a>(endpoint: &'a str, service: &'a str) -> Vec<(&'a str, &'a str)> {
    // The default 5 s batch delay is kept on purpose: the spans arrive only
    // because each role flushes its exporter at shutdown.
    vec![("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint), ("OTEL_SERVICE_NAME", service)]
}

/// The one span matching `pred`, with a readable failure.
fn one<'a>(spans: &'a [Span], what: &str, pred: impl Fn(&Span) -> bool) -> &'a Span {
    let found: Vec<&Span> = spans.iter().filter(|s| pred(s)).collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {what}, got {}: {found:#?}\nall spans: {spans:#?}",
        found.len()
    );
    found[0]
}

fn children<'a>(spans: &'a [Span], parent: &Span) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.parent == parent.span_id && s.trace_id == parent.trace_id).collect()
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// Checks the tree of one `GET /logs` below `root` (the gateway's server
/// span): exactly gateway server -> gRPC client -> query server -> store.
fn assert_query_tree(spans: &[Span], root: &Span, hits: u64) {
    assert_eq!((root.service.as_str(), root.kind), ("loglens-gateway", SpanKind::Server));
    assert_eq!(root.attr("http.request.method"), "GET");
    assert_eq!(root.attr("http.route"), "/logs");
    assert_eq!(root.attr("http.response.status_code"), "200");
    let trace: Vec<&Span> = spans.iter().filter(|s| s.trace_id == root.trace_id).collect();
    assert_eq!(trace.len(), 4, "gateway, client, server, store and nothing else: {trace:#?}");

    let client = children(spans, root);
    assert_eq!(client.len(), 1, "{client:#?}");
    let client = client[0];
    assert_eq!((client.service.as_str(), client.kind), ("loglens-gateway", SpanKind::Client));
    assert_eq!(client.name, "logs.query.v1.QueryService/Search");
    assert_eq!(client.attr("rpc.system"), "grpc");
    assert_eq!(client.attr("rpc.service"), "logs.query.v1.QueryService");
    assert_eq!(client.attr("rpc.method"), "Search");
    assert_eq!(client.attr("rpc.grpc.status_code"), "0");

    let server = children(spans, client);
    assert_eq!(server.len(), 1, "{server:#?}");
    let server = server[0];
    assert_eq!((server.service.as_str(), server.kind), ("loglens-query", SpanKind::Server));
    assert_eq!(server.name, "logs.query.v1.QueryService/Search");
    assert_eq!(server.attr("rpc.system"), "grpc");
    assert_eq!(server.attr("rpc.grpc.status_code"), "0");

    let store = children(spans, server);
    assert_eq!(store.len(), 1, "{store:#?}");
    let store = store[0];
    assert_eq!(
        (store.service.as_str(), store.kind, store.name.as_str()),
        ("loglens-query", SpanKind::Client, "search hybrid")
    );
    assert_eq!(store.attr("db.system.name"), "hybrid");
    assert_eq!(store.attr("db.operation.name"), "search");
    assert!(
        store.attr("db.query.text").contains(r#""service_name":"traced-query""#),
        "{}",
        store.attr("db.query.text")
    );
    assert_eq!(store.attr("loglens.store.hits"), hits.to_string());
    assert!(children(spans, store).is_empty());
}

// Multi-threaded: the receiver must keep serving while the test blocks
// in `Role::stop`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_query_is_one_trace_from_gateway_to_store() {
    let receiver = Receiver::default();
    let endpoint = receiver.start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let mut query = Role::start_env(
        dir.path(),
        "query",
        &["query", "--ingest", "--grpc-addr", "127.0.0.1:0", "--data-dir", data],
        &otel_env(&endpoint, "loglens-query"),
    );
    let mut ingest = IngestServiceClient::new(query.channel().await);
    let records =
        (0..3).map(|i| record("traced-query", "INFO", "hello", &format!("q{i}"))).collect();
    ingest.ingest(IngestRequest { records }).await.unwrap();
    let grpc_endpoint = format!("http://{}", query.grpc());
    let mut gateway = Role::start_env(
        dir.path(),
        "gateway",
        &["gateway", "--http-addr", "127.0.0.1:0", "--grpc-endpoint", &grpc_endpoint],
        &otel_env(&endpoint, "loglens-gateway"),
    );
    let url = format!(
        "http://{}/logs?service_name=traced-query",
        gateway.ready["http"].as_str().unwrap()
    );
    eventually(10, "3 records searchable", || {
        let url = url.clone();
        async move {
            let body: serde_json::Value = reqwest::get(&url).await.ok()?.json().await.ok()?;
            (body["total"] == 3).then_some(())
        }
    })
    .await;
    let http = reqwest::Client::new();
    let traced = http
        .get(&url)
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(traced.status(), 200);
    let untraced = http.get(&url).send().await.unwrap();
    assert_eq!(untraced.status(), 200);
    // Export happens at shutdown (the batch delay has not passed): this also
    // proves the last batch is flushed.
    gateway.stop();
    query.stop();
    let spans = receiver.spans();

    let with_parent = one(&spans, "gateway span under the caller's", |s| s.parent == CALLER_SPAN);
    assert_eq!(with_parent.trace_id, CALLER_TRACE, "the caller's trace continues");
    assert_eq!(with_parent.name, "GET /logs");
    assert_query_tree(&spans, with_parent, 3);

    // Without a traceparent the gateway starts the trace. The earlier polls
    // made such traces too: take the last one.
    let roots: Vec<&Span> =
        spans.iter().filter(|s| s.name == "GET /logs" && s.parent.is_empty()).collect();
    assert!(!roots.is_empty(), "{spans:#?}");
    let full: Vec<&&Span> = roots
        .iter()
        .filter(|r| {
            spans.iter().any(|s| {
                s.trace_id == r.trace_id
                    && s.attrs.get("loglens.store.hits").is_some_and(|h| h == "3")
            })
        })
        .collect();
    let root = full.last().expect("a root trace whose search found 3");
    assert_ne!(root.trace_id, CALLER_TRACE);
    assert_query_tree(&spans, root, 3);
}

// Multi-threaded: the receiver must keep serving while the test blocks
// in `Role::stop`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_through_kafka_links_the_processor_batch_to_the_producer() {
    let receiver = Receiver::default();
    let endpoint = receiver.start().await;
    let broker = Broker::start(Storage::Memory);
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let group = format!("obs-{}", std::process::id());
    let mut ingest = Role::start_env(
        dir.path(),
        "ingest",
        &["ingest", "--kafka", &bootstrap, "--grpc-addr", "127.0.0.1:0"],
        &otel_env(&endpoint, "loglens-ingest"),
    );
    let mut processor = Role::start_env(
        dir.path(),
        "processor",
        &[
            "processor",
            "--kafka",
            &bootstrap,
            "--consumer-group",
            &group,
            "--data-dir",
            data,
            "--serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--bulk-timeout-s",
            "0.2",
        ],
        &otel_env(&endpoint, "loglens-processor"),
    );
    let ingest_endpoint = format!("http://{}", ingest.grpc());
    let query_endpoint = format!("http://{}", processor.grpc());
    let mut gateway = Role::start_env(
        dir.path(),
        "gateway",
        &[
            "gateway",
            "--http-addr",
            "127.0.0.1:0",
            "--grpc-endpoint",
            &query_endpoint,
            "--ingest-endpoint",
            &ingest_endpoint,
        ],
        &otel_env(&endpoint, "loglens-gateway"),
    );
    let body = r#"[{"service_name":"traced-kafka","message":"one","trace_id":"app-trace-1","span_id":"app-span-1"},
                   {"service_name":"traced-kafka","message":"two","trace_id":"app-trace-1","span_id":"app-span-2"}]"#;
    let r = reqwest::Client::new()
        .post(format!("http://{}/logs", gateway.ready["http"].as_str().unwrap()))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut q = QueryServiceClient::new(processor.channel().await);
    let found = eventually(60, "both records indexed", || {
        let mut q = q.clone();
        async move {
            let req = SearchRequest {
                filter: Some(LogFilter {
                    service_name: Some("traced-kafka".into()),
                    ..Default::default()
                }),
                size: 10,
                ..Default::default()
            };
            let r = q.search(req).await.ok()?.into_inner();
            (r.total == 2).then_some(r)
        }
    })
    .await;
    // The records' own trace fields are the application's, untouched.
    let mut own: Vec<(String, String)> = found
        .logs
        .iter()
        .map(|l| (l.trace_id.clone().unwrap_or_default(), l.span_id.clone().unwrap_or_default()))
        .collect();
    own.sort();
    assert_eq!(
        own,
        [
            ("app-trace-1".to_owned(), "app-span-1".to_owned()),
            ("app-trace-1".to_owned(), "app-span-2".to_owned())
        ]
    );
    let _ = &mut q;
    gateway.stop();
    ingest.stop();
    processor.stop();
    let spans = receiver.spans();

    let root = one(&spans, "POST /logs under the caller's span", |s| s.parent == CALLER_SPAN);
    assert_eq!(
        (root.service.as_str(), root.name.as_str(), root.trace_id.as_str()),
        ("loglens-gateway", "POST /logs", CALLER_TRACE)
    );
    let client = one(&spans, "ingest client span", |s| s.parent == root.span_id);
    assert_eq!(
        (client.kind, client.name.as_str()),
        (SpanKind::Client, "logs.ingest.v1.IngestService/Ingest")
    );
    let server = one(&spans, "ingest server span", |s| s.parent == client.span_id);
    assert_eq!((server.service.as_str(), server.kind), ("loglens-ingest", SpanKind::Server));
    let producer = one(&spans, "producer span", |s| {
        s.kind == SpanKind::Producer && s.trace_id == CALLER_TRACE
    });
    assert_eq!(producer.name, "send logs_raw");
    assert_eq!(producer.service, "loglens-ingest");
    assert_eq!(producer.attr("messaging.system"), "kafka");
    assert_eq!(producer.attr("messaging.destination.name"), "logs_raw");
    // The producer sits under the ingest server span (through the handler's span).
    let mut up = producer;
    while up.span_id != server.span_id {
        up = one(&spans, "an ancestor of the producer span", |s| {
            s.span_id == up.parent && s.trace_id == CALLER_TRACE
        });
        assert_eq!(up.service, "loglens-ingest");
    }

    // The processor's batch span(s) holding our records: linked to the
    // producer's context and, as its only producer, its child.
    let batches: Vec<&Span> = spans
        .iter()
        .filter(|s| {
            s.service == "loglens-processor"
                && s.kind == SpanKind::Consumer
                && s.links.iter().any(|l| l.1 == producer.span_id)
        })
        .collect();
    assert!(!batches.is_empty(), "no processor batch links the producer: {spans:#?}");
    for batch in batches {
        assert_eq!(batch.name, "process logs_raw");
        assert_eq!(batch.links, [(CALLER_TRACE.to_owned(), producer.span_id.clone())]);
        assert_eq!(
            (batch.trace_id.as_str(), batch.parent.as_str()),
            (CALLER_TRACE, producer.span_id.as_str())
        );
        assert_eq!(batch.attr("messaging.system"), "kafka");
        let index: Vec<&Span> =
            children(&spans, batch).into_iter().filter(|s| s.name == "index hybrid").collect();
        assert_eq!(
            index.len(),
            1,
            "one index span under the batch: {:#?}",
            children(&spans, batch)
        );
        assert_eq!(index[0].attr("db.system.name"), "hybrid");
        assert_eq!(index[0].attr("db.operation.name"), "index");
    }
}

#[tokio::test]
async fn a_down_collector_fails_no_request() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Role::start_env(
        dir.path(),
        "standalone",
        &[
            "standalone",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_BSP_SCHEDULE_DELAY", "50")],
    );
    let base = format!("http://{}", server.ready["http"].as_str().unwrap());
    let http = reqwest::Client::new();
    for i in 0..20 {
        let r = http
            .post(format!("{base}/logs"))
            .body(format!(r#"{{"service_name":"down","message":"m{i}"}}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = http.get(format!("{base}/logs?service_name=down")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    // Exits cleanly (Role::stop asserts success within 30 s) with the collector down.
    server.stop();
}

/// The metrics text of a role.
async fn scrape(url: &str) -> String {
    let r = reqwest::get(url).await.expect("scrape /metrics");
    assert_eq!(r.status(), 200, "{url}");
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain"), "{ct}");
    r.text().await.unwrap()
}

/// The value of the series `name{labels}` (labels in the exporter's order,
/// e.g. `name{a="1",b="2"}`, or a bare name); `None` when absent.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

fn must(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
}

#[tokio::test]
async fn metrics_of_every_role_move_by_the_right_amounts() {
    let broker = Broker::start(Storage::Memory);
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let pdata = dir.path().join("pdata");
    let qdata = dir.path().join("qdata");
    let group = format!("obs-metrics-{}", std::process::id());
    let ingest = Role::start(
        dir.path(),
        "ingest",
        &["ingest", "--kafka", &bootstrap, "--grpc-addr", "127.0.0.1:0"],
    );
    let processor = Role::start(
        dir.path(),
        "processor",
        &[
            "processor",
            "--kafka",
            &bootstrap,
            "--consumer-group",
            &group,
            "--data-dir",
            pdata.to_str().unwrap(),
            "--serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--bulk-timeout-s",
            "0.2",
        ],
    );
    let query = Role::start(
        dir.path(),
        "query",
        &["query", "--grpc-addr", "127.0.0.1:0", "--data-dir", qdata.to_str().unwrap()],
    );
    let (ingest_ep, query_ep) =
        (format!("http://{}", ingest.grpc()), format!("http://{}", processor.grpc()));
    let gateway = Role::start(
        dir.path(),
        "gateway",
        &[
            "gateway",
            "--http-addr",
            "127.0.0.1:0",
            "--grpc-endpoint",
            &query_ep,
            "--ingest-endpoint",
            &ingest_ep,
        ],
    );
    let base = format!("http://{}", gateway.ready["http"].as_str().unwrap());
    let http = reqwest::Client::new();

    // 5 valid records (2 ERROR, so anomalous), 2 invalid: through the gateway to ingest.
    let body = r#"{"service_name":"metered","message":"a","level":"ERROR"}
{"service_name":"metered","message":"b"}
{"service_name":"metered","message":"c","level":"ERROR"}
{"service_name":"metered","message":"d"}
{"service_name":"metered","message":"e"}
{"service_name":"metered","message":"bad","status_code":42}
{"service_name":"metered","message":"bad too","status_code":1000}"#;
    let r: serde_json::Value =
        http.post(format!("{base}/logs")).body(body).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["accepted"], 5, "{r}");
    // 3 messages only the processor can reject: dead-lettered.
    let producer: FutureProducer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", &bootstrap).create().unwrap();
    for i in 0..3 {
        let payload = format!("not json {i}");
        producer
            .send(FutureRecord::<(), _>::to("logs_raw").payload(&payload), Duration::from_secs(10))
            .await
            .unwrap();
    }
    let pm = processor.metrics_url();
    let ptext = eventually(60, "8 consumed, 5 indexed, 3 dead-lettered, lag published", || {
        let pm = pm.clone();
        async move {
            let t = scrape(&pm).await;
            // Lag comes from librdkafka's statistics, published every 2 s: wait for it too.
            (sample(&t, "loglens_processor_records_indexed_total") == Some(5.0)
                && sample(&t, "loglens_processor_records_dead_lettered_total") == Some(3.0)
                && t.contains("loglens_processor_consumer_lag{topic=\"logs_raw\",partition=\""))
            .then_some(t)
        }
    })
    .await;
    let consumed = must(&ptext, "loglens_processor_records_consumed_total");
    let dropped = must(&ptext, "loglens_processor_records_dropped_total");
    assert_eq!(consumed, 8.0);
    assert_eq!(consumed, 5.0 + 3.0 + dropped, "consumed == indexed + dead-lettered + dropped");
    assert_eq!(must(&ptext, r#"loglens_records_indexed_total{service_name="metered"}"#), 5.0);
    assert_eq!(must(&ptext, r#"loglens_records_anomalous_total{service_name="metered"}"#), 2.0);
    assert!(must(&ptext, "loglens_processor_batch_size_count") >= 1.0);
    assert!(ptext.contains(r#"loglens_processor_batch_size_bucket{le="+Inf"}"#), "{ptext}");
    assert!(
        ptext.contains("loglens_processor_consumer_lag{topic=\"logs_raw\",partition=\""),
        "{ptext}"
    );
    assert!(must(&ptext, "loglens_processor_indexing_delay_seconds_count") >= 5.0);
    assert!(must(&ptext, "loglens_processor_commit_duration_seconds_count") >= 1.0);

    let itext = scrape(&ingest.metrics_url()).await;
    assert_eq!(must(&itext, "loglens_ingest_records_received_total"), 7.0);
    assert_eq!(must(&itext, "loglens_ingest_records_accepted_total"), 5.0);
    assert_eq!(
        must(
            &itext,
            r#"loglens_ingest_records_rejected_total{reason="invalid_argument",field="status_code"}"#
        ),
        2.0
    );
    assert_eq!(must(&itext, r#"loglens_ingest_produce_duration_seconds_count{sink="kafka"}"#), 1.0);
    assert_eq!(must(&itext, "loglens_ingest_queue_depth"), 0.0);
    assert_eq!(
        must(
            &itext,
            r#"loglens_grpc_server_requests_total{rpc="logs.ingest.v1.IngestService/Ingest",code="Ok"}"#
        ),
        1.0
    );

    // Queries: 2 good, 1 refused by the gateway itself (no gRPC call).
    for _ in 0..2 {
        assert_eq!(
            http.get(format!("{base}/logs?service_name=metered")).send().await.unwrap().status(),
            200
        );
    }
    assert_eq!(http.get(format!("{base}/logs?size=5000")).send().await.unwrap().status(), 400);
    let gtext = scrape(&gateway.metrics_url()).await;
    assert_eq!(
        must(
            &gtext,
            r#"loglens_http_server_requests_total{method="GET",route="/logs",status="200"}"#
        ),
        2.0
    );
    assert_eq!(
        must(
            &gtext,
            r#"loglens_http_server_requests_total{method="GET",route="/logs",status="400"}"#
        ),
        1.0
    );
    assert_eq!(
        must(
            &gtext,
            r#"loglens_http_server_requests_total{method="POST",route="/logs",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        must(
            &gtext,
            r#"loglens_http_server_request_duration_seconds_count{method="GET",route="/logs"}"#
        ),
        3.0
    );
    // The gateway's main port serves the same registry.
    let main_port = scrape(&format!("{base}/metrics")).await;
    assert!(main_port.contains("loglens_http_server_requests_total"), "{main_port}");
    let ptext = scrape(&pm).await;
    assert_eq!(
        must(
            &ptext,
            r#"loglens_grpc_server_requests_total{rpc="logs.query.v1.QueryService/Search",code="Ok"}"#
        ),
        2.0
    );
    assert_eq!(
        must(
            &ptext,
            r#"loglens_grpc_server_request_duration_seconds_count{rpc="logs.query.v1.QueryService/Search"}"#
        ),
        2.0
    );
    let ptext = eventually(10, "store gauges of the processor", || {
        let pm = pm.clone();
        async move {
            let t = scrape(&pm).await;
            (sample(&t, r#"loglens_store_documents{backend="hybrid"}"#) == Some(5.0)).then_some(t)
        }
    })
    .await;
    assert!(must(&ptext, r#"loglens_store_disk_bytes{backend="hybrid"}"#) > 0.0);

    // The query role: a bad request counts under its error code.
    let mut q = QueryServiceClient::new(query.channel().await);
    let e = q.search(SearchRequest { size: 5000, ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    q.search(SearchRequest { size: 1, ..Default::default() }).await.unwrap();
    let qtext = scrape(&query.metrics_url()).await;
    assert_eq!(
        must(
            &qtext,
            r#"loglens_grpc_server_requests_total{rpc="logs.query.v1.QueryService/Search",code="InvalidArgument"}"#
        ),
        1.0
    );
    assert_eq!(
        must(
            &qtext,
            r#"loglens_grpc_server_requests_total{rpc="logs.query.v1.QueryService/Search",code="Ok"}"#
        ),
        1.0
    );
    assert!(qtext.contains("loglens_store_documents"), "{qtext}");

    // Real histograms, never summaries.
    for t in [&ptext, &itext, &gtext, &qtext] {
        assert!(!t.contains("quantile="), "a summary was rendered:\n{t}");
    }
    let all = [ptext, itext, gtext, qtext].join("\n");
    dashboard_metrics_exist(&all);
}

/// Every metric the Grafana dashboard and the alert rules query shows up
/// in a scrape of the roles.
fn dashboard_metrics_exist(scrapes: &str) {
    let root = repo_root().join("observability");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("grafana/dashboards/loglens.json")).unwrap(),
    )
    .expect("dashboard JSON parses");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut needed = BTreeSet::new();
    let mut titles = Vec::new();
    for p in panels {
        titles.push(p["title"].as_str().unwrap_or_default().to_owned());
        if p["type"] == "row" {
            continue;
        }
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("panel {} has no targets", p["title"]));
        assert!(!targets.is_empty(), "panel {} has no targets", p["title"]);
        for t in targets {
            let expr = t["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("panel {} target without expr", p["title"]));
            let names = metric_names(expr);
            assert!(!names.is_empty(), "panel {} queries no loglens metric: {expr}", p["title"]);
            needed.extend(names);
        }
    }
    for want in [
        "Ingest rate",
        "Consumer lag",
        "Indexing latency",
        "Query latency",
        "Anomaly rate by service",
        "DLQ rate",
    ] {
        assert!(titles.iter().any(|t| t.starts_with(want)), "no panel titled {want}: {titles:?}");
    }
    let rules = std::fs::read_to_string(root.join("prometheus/alerts.yml")).unwrap();
    needed.extend(metric_names(&rules));
    let present: BTreeSet<&str> = scrapes
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let missing: Vec<&String> = needed.iter().filter(|n| !present.contains(n.as_str())).collect();
    assert!(missing.is_empty(), "queried but never scraped: {missing:?}\nscraped: {present:?}");
}

/// The `loglens_*` series names in a PromQL text.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("loglens_") {
        let tail = &rest[i..];
        let end =
            tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        out.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

/// `promtool`: `$LOGLENS_PROMTOOL` (set by scripts/test, which installs it).
fn promtool() -> String {
    let tool = std::env::var("LOGLENS_PROMTOOL").unwrap_or_else(|_| {
        panic!("LOGLENS_PROMTOOL is not set: run the suite through scripts/test, which installs Debian's prometheus (promtool)")
    });
    assert!(
        std::path::Path::new(&tool).is_file(),
        "LOGLENS_PROMTOOL={tool} is not a file: rerun scripts/test"
    );
    tool
}

#[test]
fn promtool_accepts_the_prometheus_config_and_alert_rules() {
    let dir = repo_root().join("observability/prometheus");
    for args in [vec!["check", "config", "prometheus.yml"], vec!["check", "rules", "alerts.yml"]] {
        let out =
            Command::new(promtool()).args(&args).current_dir(&dir).output().expect("run promtool");
        assert!(
            out.status.success(),
            "promtool {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let config = std::fs::read_to_string(dir.join("prometheus.yml")).unwrap();
    for target in
        ["ingest:9464", "processor-1:9464", "processor-2:9464", "query:9464", "gateway:9464"]
    {
        assert!(config.contains(target), "prometheus.yml does not scrape {target}");
    }
    let rules = std::fs::read_to_string(dir.join("alerts.yml")).unwrap();
    for alert in ["ConsumerLagGrowing", "DeadLetterRate", "AnomalyRateSpike"] {
        assert!(rules.contains(&format!("alert: {alert}")), "alerts.yml lacks {alert}");
    }
}
