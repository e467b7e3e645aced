//! The Kafka path end to end, on a real broker (nisshi) and real `loglens`
//! processes: ingest -> logs_raw -> processor consumer group -> store.

mod common;
#[path = "../services/store/tests/fake_es/mod.rs"]
mod fake_es;

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use common::broker::{Broker, Storage};
use common::{Role, Standalone, all_request_ids, eventually, loglens_bin, record};
use loglens_proto::ingest::IngestRequest;
use loglens_proto::ingest::ingest_service_client::IngestServiceClient;
use loglens_proto::query::SearchRequest;
use loglens_proto::query::query_service_client::QueryServiceClient;
use loglens_proto::stats::stats_service_client::StatsServiceClient;
use loglens_proto::stats::{GetLedgerRequest, GetLedgerResponse};
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tonic::transport::Channel;

/// A consumer group no other test uses (nisshi groups can get stuck between tests).
fn group(name: &str) -> String {
    format!(
        "{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    )
}

fn generate(bootstrap: &str, count: u64, seed: u64) {
    let out = Command::new(loglens_bin())
        .args(["generate", "--target", &format!("kafka://{bootstrap}/logs_raw")])
        .args([
            "--count",
            &count.to_string(),
            "--rate",
            "0",
            "--batch-size",
            "2000",
            "--seed",
            &seed.to_string(),
            "--no-progress",
        ])
        .output()
        .expect("run loglens generate");
    assert!(out.status.success(), "generate failed: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("generate prints a JSON report");
    assert_eq!(report["accepted"], count, "{report}");
}

async fn ledger(channel: &Channel) -> GetLedgerResponse {
    StatsServiceClient::new(channel.clone())
        .get_ledger(GetLedgerRequest {})
        .await
        .expect("GetLedger")
        .into_inner()
}

async fn total(channel: &Channel) -> u64 {
    QueryServiceClient::new(channel.clone())
        .search(SearchRequest { size: 1, ..Default::default() })
        .await
        .expect("search")
        .into_inner()
        .total
}

fn processor_args<'a>(bootstrap: &'a str, group: &'a str, data: &'a str) -> Vec<&'a str> {
    vec![
        "processor",
        "--kafka",
        bootstrap,
        "--consumer-group",
        group,
        "--data-dir",
        data,
        "--serve",
        "--grpc-addr",
        "127.0.0.1:0",
    ]
}

#[tokio::test]
async fn grpc_ingest_through_kafka_is_searchable_through_the_gateway() {
    let broker = Broker::start(Storage::Memory);
    let dir = tempfile::tempdir().unwrap();
    let g = group("standalone");
    // A batch timeout far past every wait below: a batch must close once
    // the processor has read all there is, not at its timeout.
    let server = Standalone::start_with(
        dir.path(),
        &["--kafka", &broker.bootstrap(), "--consumer-group", &g, "--bulk-timeout-s", "600"],
    );
    let mut ingest = server.ingest().await;
    let mut bad = record("kafka-e2e", "INFO", "bad", "kx");
    bad.status_code = Some(42);
    let reply = ingest
        .ingest(IngestRequest {
            records: vec![
                record("kafka-e2e", "ERROR", "one", "k1"),
                bad,
                record("kafka-e2e", "INFO", "two", "k2"),
                record("kafka-e2e", "WARN", "three", "k3"),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.accepted, 3, "acknowledged by Kafka");
    assert_eq!(reply.rejected[0].index, 1);
    let body = eventually(60, "3 records via GET /logs", || {
        let url = server.url("/logs?service_name=kafka-e2e");
        async move {
            let body: serde_json::Value = reqwest::get(url).await.ok()?.json().await.ok()?;
            (body["total"] == 3).then_some(body)
        }
    })
    .await;
    assert_eq!(body["logs"][0]["request_id"], "k3", "newest first");
    // The caller's W3C trace context rides along as a Kafka header.
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = reqwest::Client::new()
        .post(server.url("/logs"))
        .header("traceparent", tp)
        .body(r#"{"service_name":"traced","message":"with context","request_id":"tp-1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", group("raw-reader"))
        .set("auto.offset.reset", "earliest")
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .unwrap();
    consumer.subscribe(&["logs_raw"]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut seen = None;
    while seen.is_none() && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200))
            && m.payload().is_some_and(|p| String::from_utf8_lossy(p).contains("tp-1"))
        {
            seen = Some(m.headers().and_then(|h| {
                h.iter().find(|h| h.key == "traceparent").and_then(|h| h.value.map(<[u8]>::to_vec))
            }));
        }
    }
    let header = seen.expect("the traced record in logs_raw").expect("a traceparent header");
    let header = String::from_utf8(header).expect("UTF-8 traceparent");
    // The producer span's context: the caller's trace id, a span of ours.
    assert_eq!(header.len(), tp.len(), "{header}");
    assert_eq!(header[..36], tp[..36], "same trace: {header}");
    assert_ne!(header, tp, "the parent is the producer span, not the caller's");
    let ledger = eventually(30, "4 indexed in the ledger", || {
        let url = server.url("/ledger");
        async move {
            let l: serde_json::Value = reqwest::get(url).await.ok()?.json().await.ok()?;
            (l["indexed"] == 4).then_some(l)
        }
    })
    .await;
    assert_eq!(ledger["mode"], "kafka");
    assert_eq!(
        ledger["partitions"].as_array().unwrap().len(),
        3,
        "3 partitions by default: {ledger}"
    );
}

#[tokio::test]
async fn processor_killed_repeatedly_loses_and_duplicates_nothing() {
    let broker = Broker::start(Storage::Memory);
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let g = group("kill9");
    let mut processor = Role::start(
        dir.path(),
        "processor",
        &processor_args(&bootstrap, &g, data.to_str().unwrap()),
    );
    let producer = {
        let b = bootstrap.clone();
        std::thread::spawn(move || generate(&b, 100_000, 11))
    };
    let mut kills = 0;
    let mut seed = std::process::id() as u64;
    while kills < 3 {
        let channel = processor.channel().await;
        let start = total(&channel).await;
        // Kill while it is working: after it indexed something since (re)starting.
        eventually(90, "the processor to index after a restart", || {
            let c = channel.clone();
            async move { (ledger(&c).await.indexed > 0 || total(&c).await > start).then_some(()) }
        })
        .await;
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        tokio::time::sleep(Duration::from_millis(seed >> 54)).await; // 0-1023 ms
        if total(&channel).await >= 100_000 {
            break;
        }
        processor.kill9();
        kills += 1;
        processor.restart();
    }
    producer.join().expect("generator thread");
    let channel = processor.channel().await;
    eventually(180, "all 100000 records indexed", || {
        let c = channel.clone();
        async move { (total(&c).await == 100_000).then_some(()) }
    })
    .await;
    assert!(kills >= 3, "the processor finished before it could be killed three times ({kills})");
    let ids = all_request_ids(&mut QueryServiceClient::new(channel.clone())).await;
    assert_eq!(ids.len(), 100_000);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 100_000, "every request_id exactly once");
    processor.stop();
}

#[tokio::test]
async fn two_processors_share_partitions_and_hand_over_without_loss_or_duplicate() {
    let broker = Broker::start(Storage::Memory);
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let g = group("pair");
    let (d1, d2) = (dir.path().join("p1"), dir.path().join("p2"));
    let mut p1 =
        Role::start(dir.path(), "p1", &processor_args(&bootstrap, &g, d1.to_str().unwrap()));
    let mut p2 =
        Role::start(dir.path(), "p2", &processor_args(&bootstrap, &g, d2.to_str().unwrap()));
    let (c1, c2) = (p1.channel().await, p2.channel().await);
    let owned = |l: &GetLedgerResponse| l.partitions.iter().filter(|p| p.assigned).count();
    eventually(90, "both processors to own partitions", || {
        let (c1, c2) = (c1.clone(), c2.clone());
        async move {
            let (a, b) = (owned(&ledger(&c1).await), owned(&ledger(&c2).await));
            (a > 0 && b > 0 && a + b == 3).then_some(())
        }
    })
    .await;
    generate(&bootstrap, 20_000, 21);
    eventually(90, "the first 20000 split between the two", || {
        let (c1, c2) = (c1.clone(), c2.clone());
        async move { (total(&c1).await + total(&c2).await == 20_000).then_some(()) }
    })
    .await;
    assert!(total(&c1).await > 0 && total(&c2).await > 0, "both processors indexed a share");
    // Produce while the first one leaves: its partitions move to the second.
    let producer = {
        let b = bootstrap.clone();
        std::thread::spawn(move || generate(&b, 20_000, 22))
    };
    p1.stop();
    producer.join().unwrap();
    eventually(90, "the second to own every partition", || {
        let c2 = c2.clone();
        async move { (owned(&ledger(&c2).await) == 3).then_some(()) }
    })
    .await;
    // The stopped processor's index, read back through the query role.
    let q1 = Role::start(
        dir.path(),
        "q1",
        &["query", "--data-dir", d1.to_str().unwrap(), "--grpc-addr", "127.0.0.1:0"],
    );
    let c1 = q1.channel().await;
    let first = total(&c1).await;
    eventually(90, "all 40000 across both indexes", || {
        let c2 = c2.clone();
        async move { (first + total(&c2).await == 40_000).then_some(()) }
    })
    .await;
    let mut ids = all_request_ids(&mut QueryServiceClient::new(c1)).await;
    ids.extend(all_request_ids(&mut QueryServiceClient::new(c2)).await);
    assert_eq!(ids.len(), 40_000);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 40_000, "no record in both indexes");
    p2.stop();
}

#[tokio::test]
async fn broker_restart_with_sqlite_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(Storage::Sqlite(dir.path().join("broker")));
    let bootstrap = broker.bootstrap();
    let ingest = Role::start(
        dir.path(),
        "ingest",
        &["ingest", "--kafka", &bootstrap, "--grpc-addr", "127.0.0.1:0"],
    );
    let mut client = IngestServiceClient::new(ingest.channel().await);
    let batch = |from: usize| IngestRequest {
        records: (from..from + 500)
            .map(|i| record("durable", "INFO", "acknowledged", &format!("d-{i}")))
            .collect(),
    };
    assert_eq!(client.ingest(batch(0)).await.unwrap().into_inner().accepted, 500);
    assert_eq!(client.ingest(batch(500)).await.unwrap().into_inner().accepted, 500);
    // Nothing has consumed them yet: only the broker holds them.
    broker.kill9();
    broker.restart();
    let accepted = eventually(60, "ingest to work again after the broker restart", || {
        let mut c = client.clone();
        async move { c.ingest(batch(1000)).await.ok().map(|r| r.into_inner().accepted) }
    })
    .await;
    assert_eq!(accepted, 500);
    let g = group("sqlite");
    let data = dir.path().join("data");
    let processor = Role::start(
        dir.path(),
        "processor",
        &processor_args(&bootstrap, &g, data.to_str().unwrap()),
    );
    let channel = processor.channel().await;
    eventually(90, "all 1500 acknowledged records", || {
        let c = channel.clone();
        async move { (total(&c).await == 1500).then_some(()) }
    })
    .await;
    let ids: HashSet<String> =
        all_request_ids(&mut QueryServiceClient::new(channel.clone())).await.into_iter().collect();
    assert!((0..1500).all(|i| ids.contains(&format!("d-{i}"))));
    // SQLite storage reports real end offsets, so the lag is measurable: 0 once done.
    let l = eventually(30, "lag 0", || {
        let c = channel.clone();
        async move {
            let l = ledger(&c).await;
            (l.lag == 0 && l.partitions.iter().all(|p| p.high_watermark >= 0)).then_some(l)
        }
    })
    .await;
    assert_eq!(l.indexed, 1500);
}

#[tokio::test]
async fn bad_records_go_to_the_dead_letter_topic_with_reasons() {
    let broker = Broker::start(Storage::Memory);
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let g = group("dlq");
    let data = dir.path().join("data");
    let processor = Role::start(
        dir.path(),
        "processor",
        &processor_args(&bootstrap, &g, data.to_str().unwrap()),
    );
    let producer: FutureProducer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", &bootstrap).create().unwrap();
    let huge = format!(r#"{{"service_name":"dlq","message":"{}"}}"#, "x".repeat(300_000));
    let messages: Vec<Vec<u8>> = vec![
        br#"{"service_name":"dlq","message":"good one","request_id":"g1"}"#.to_vec(),
        b"this is not json".to_vec(),
        br#"{"service_name":"dlq","message":"bad status","status_code":42}"#.to_vec(),
        huge.into_bytes(),
        br#"{"service_name":"dlq","message":"good two","request_id":"g2"}"#.to_vec(),
    ];
    // One key: one partition, so the good records sit around the bad ones.
    for m in &messages {
        producer
            .send(FutureRecord::to("logs_raw").key("dlq").payload(m), Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    // A message of several records, one of them bad, and one of a format
    // the processor does not know.
    let lines = [
        &br#"{"service_name":"dlq","message":"good three","request_id":"g3"}"#[..],
        br#"{"service_name":"dlq","message":"bad status","status_code":7}"#,
        br#"{"service_name":"dlq","message":"good four","request_id":"g4"}"#,
    ];
    let several = lines.join(&b'\n');
    let unknown = br#"{"service_name":"dlq","message":"avro?","request_id":"g5"}"#;
    for (payload, format) in [(&several[..], "ndjson"), (&unknown[..], "avro")] {
        let headers = rdkafka::message::OwnedHeaders::new()
            .insert(rdkafka::message::Header { key: "loglens.format", value: Some(format) });
        producer
            .send(
                FutureRecord::to("logs_raw").key("dlq").payload(payload).headers(headers),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    let channel = processor.channel().await;
    eventually(60, "the four good records", || {
        let c = channel.clone();
        async move { (total(&c).await == 4).then_some(()) }
    })
    .await;
    let l = eventually(30, "5 dead letters in the ledger", || {
        let c = channel.clone();
        async move {
            let l = ledger(&c).await;
            (l.dead_lettered == 5).then_some(l)
        }
    })
    .await;
    assert_eq!((l.indexed, l.received), (4, 9), "the ledger counts records");

    let mut letters = read_dead_letters(&bootstrap, 5);
    assert_eq!(letters.len(), 5, "five dead letters within 60 s");
    letters.sort_by_key(|l| (l.offset.parse::<i64>().unwrap(), l.line.clone()));
    assert_eq!(letters[3].payload, lines[1], "a bad line goes alone");
    assert_eq!((letters[3].field.as_str(), letters[3].line.as_str()), ("status_code", "1"));
    assert_eq!(letters[4].payload, unknown, "an unknown format goes whole");
    assert_eq!((letters[4].field.as_str(), letters[4].line.as_str()), ("format", ""));
    assert_eq!(
        letters[4].reason,
        r#"the loglens.format header must be ndjson or absent, got "avro""#
    );
    let letters = &letters[..3];
    assert_eq!(letters[0].payload, messages[1], "original bytes kept");
    assert!(letters[0].reason.starts_with("record is not valid JSON"), "{}", letters[0].reason);
    assert_eq!(letters[1].field, "status_code");
    assert_eq!(letters[1].reason, "status_code must be between 100 and 599, got 42");
    assert!(letters[2].reason.contains("at most 262144"), "{}", letters[2].reason);
    let offsets: Vec<i64> = letters.iter().map(|l| l.offset.parse().unwrap()).collect();
    assert_eq!(offsets[1] - offsets[0], 1, "source offsets recorded: {offsets:?}");
    assert!(letters.iter().all(|l| l.partition.parse::<i32>().is_ok()));
}

/// One message of the dead-letter topic.
struct DeadLetter {
    payload: Vec<u8>,
    reason: String,
    field: String,
    offset: String,
    partition: String,
    /// The record's line in a message of several; empty otherwise.
    line: String,
}

/// Reads up to `n` dead letters, within 60 s.
fn read_dead_letters(bootstrap: &str, n: usize) -> Vec<DeadLetter> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group("dlq-reader"))
        .set("auto.offset.reset", "earliest")
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .unwrap();
    consumer.subscribe(&["logs_dlq"]).unwrap();
    let mut letters = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while letters.len() < n && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let headers = m.headers().expect("dead letters carry headers");
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|h| h.key == name)
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default()
            };
            letters.push(DeadLetter {
                payload: m.payload().unwrap_or_default().to_vec(),
                reason: header("loglens.dlq.reason"),
                field: header("loglens.dlq.field"),
                offset: header("loglens.dlq.source.offset"),
                partition: header("loglens.dlq.source.partition"),
                line: header("loglens.dlq.source.line"),
            });
        }
    }
    letters
}

/// A processor on the Elasticsearch backend (the fake cluster of the store's
/// tests): records the cluster refuses for good go to the dead-letter topic
/// with the cluster's reason, the rest are stored, and the offsets move on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_the_cluster_refuses_are_dead_lettered() {
    let es = fake_es::FakeEs::start().await;
    let refusal = serde_json::json!({ "type": "document_parsing_exception",
        "reason": "[1:40] failed to parse field [message] of type [text] in document with id 'x'" });
    es.fail_matching("message", serde_json::json!("refuse me"), 400, refusal);
    // The first two bulk requests fail whole (a 500 the store does not
    // retry itself): the processor retries the batch, decoding its
    // messages again, and must end where a first success would.
    let broken = serde_json::json!({ "error": { "type": "exception", "reason": "node failure" } });
    es.script("_bulk", 500, broken.clone());
    es.script("_bulk", 500, broken);
    let broker = Broker::start(Storage::Memory);
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let g = group("es-dlq");
    let url = es.url();
    let processor = Role::start(
        dir.path(),
        "processor",
        &[
            "processor",
            "--kafka",
            &bootstrap,
            "--consumer-group",
            &g,
            "--store",
            &url,
            "--serve",
            "--grpc-addr",
            "127.0.0.1:0",
        ],
    );
    let producer: FutureProducer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", &bootstrap).create().unwrap();
    let messages: Vec<&[u8]> = vec![
        br#"{"service_name":"es","message":"first","request_id":"s1"}"#,
        br#"{"service_name":"es","message":"refuse me","request_id":"s2"}"#,
        br#"{"service_name":"es","message":"third","request_id":"s3"}"#,
    ];
    for m in &messages {
        producer
            .send(FutureRecord::to("logs_raw").key("es").payload(*m), Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    let channel = processor.channel().await;
    let l = eventually(60, "2 indexed and 1 dead-lettered in the ledger", || {
        let c = channel.clone();
        async move {
            let l = ledger(&c).await;
            (l.indexed == 2 && l.dead_lettered == 1).then_some(l)
        }
    })
    .await;
    assert_eq!(l.received, 3);
    assert_eq!(es.doc_count(), 2);
    let bulks: Vec<usize> =
        es.log().iter().filter(|r| r.path.ends_with("_bulk")).map(|r| r.body.len()).collect();
    assert!(bulks.len() >= 3, "two failed bulk requests, then the one taken: {bulks:?}");
    assert_eq!(total(&channel).await, 2, "the processor serves queries from the cluster");
    let letters =
        tokio::task::spawn_blocking(move || read_dead_letters(&bootstrap, 1)).await.unwrap();
    assert_eq!(letters.len(), 1, "one dead letter within 60 s");
    assert_eq!(letters[0].payload, messages[1], "original bytes kept");
    assert_eq!(letters[0].field, "message");
    assert!(
        letters[0].reason.starts_with("store refused: 400 document_parsing_exception"),
        "{}",
        letters[0].reason
    );
}

#[tokio::test]
async fn full_producer_queue_is_resource_exhausted_and_429() {
    let mut broker = Broker::start(Storage::Memory);
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = broker.bootstrap();
    let ingest = Role::start(
        dir.path(),
        "ingest",
        &[
            "ingest",
            "--kafka",
            &bootstrap,
            "--grpc-addr",
            "127.0.0.1:0",
            "--kafka-queue-max-messages",
            "5",
        ],
    );
    let endpoint = format!("http://{}", ingest.grpc());
    let gateway = Role::start(
        dir.path(),
        "gateway",
        &["gateway", "--http-addr", "127.0.0.1:0", "--grpc-endpoint", &endpoint],
    );
    // With the broker gone nothing is acknowledged, so the queue fills.
    broker.kill9();
    let mut client = IngestServiceClient::new(ingest.channel().await);
    let records = (0..20).map(|i| record("full", "INFO", "queued", &format!("f-{i}"))).collect();
    let e = client.ingest(IngestRequest { records }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("send smaller requests"), "more than the queue: {}", e.message());
    // Four records wait for an acknowledgement that never comes...
    let mut first = client.clone();
    let waiting = tokio::spawn(async move {
        let records = (0..4).map(|i| record("full", "INFO", "held", &format!("h-{i}"))).collect();
        first.ingest(IngestRequest { records }).await
    });
    // ...so the next four do not fit in a queue of five.
    let e = eventually(30, "the queue full", || {
        let mut c = client.clone();
        async move {
            let records =
                (0..4).map(|i| record("full", "INFO", "queued", &format!("q-{i}"))).collect();
            // A request taken before the first one waited would wait too.
            let answer =
                tokio::time::timeout(Duration::from_secs(2), c.ingest(IngestRequest { records }));
            answer.await.ok().and_then(Result::err)
        }
    })
    .await;
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("queue is full"), "{}", e.message());
    let body: String =
        (0..4).map(|i| format!("{{\"service_name\":\"full\",\"message\":\"m{i}\"}}\n")).collect();
    let r = reqwest::Client::new()
        .post(format!("http://{}/logs", gateway.ready["http"].as_str().unwrap()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"], "resource_exhausted");
    assert!(v["message"].as_str().unwrap().contains("queue is full"), "{v}");
    waiting.abort();
}
