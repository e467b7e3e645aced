//! Data survives a clean restart and a `kill -9` right after an acknowledged ingest.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Standalone, all_request_ids, count_request_id, eventually, record};
use loglens_proto::ingest::IngestRequest;
use loglens_proto::ingest::ingest_service_client::IngestServiceClient;
use loglens_proto::query::SearchRequest;

#[tokio::test]
async fn clean_restart_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Standalone::start(dir.path());
    let records =
        (0..500).map(|i| record("restart", "INFO", "before restart", &format!("rs-{i}"))).collect();
    let reply = server.ingest().await.ingest(IngestRequest { records }).await.unwrap().into_inner();
    assert_eq!(reply.accepted, 500);
    server.stop();
    server.restart();
    let mut query = server.query().await;
    let total = query.search(SearchRequest::default()).await.unwrap().into_inner().total;
    assert_eq!(total, 500, "everything is there right after restart");
    assert_eq!(count_request_id(&mut query, "rs-499").await, 1);
}

/// A `--data-dir` made by the Tantivy store (the default before the hybrid)
/// opens as that store, records and all, and says so; a new one is a
/// hybrid store.
#[tokio::test]
async fn a_data_dir_of_the_tantivy_store_still_opens_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tantivy = format!("tantivy://{}", data.to_str().unwrap());
    let mut server = Standalone::start_with(dir.path(), &["--store", &tantivy]);
    let records = (0..300)
        .map(|i| record("upgrade", "INFO", "before the switch", &format!("up-{i}")))
        .collect();
    let reply = server.ingest().await.ingest(IngestRequest { records }).await.unwrap().into_inner();
    assert_eq!(reply.accepted, 300);
    server.stop();
    assert!(data.join("index").is_dir(), "a Tantivy store's index");

    let mut server = Standalone::start_logged(dir.path(), &[]);
    let mut query = server.query().await;
    let total = query.search(SearchRequest::default()).await.unwrap().into_inner().total;
    assert_eq!(total, 300, "the records of the Tantivy store");
    server.stop();
    let store_line = |log: &str| log.lines().find(|l| l.starts_with("  store ")).map(str::to_owned);
    let line = store_line(&server.log()).expect("a store line in the banner");
    assert!(line.ends_with("(tantivy)"), "{line}");
    assert!(!data.join("layout").exists(), "not made a hybrid store");

    let fresh = tempfile::tempdir().unwrap();
    let mut server = Standalone::start_logged(fresh.path(), &[]);
    server.stop();
    let line = store_line(&server.log()).expect("a store line in the banner");
    assert!(line.ends_with("(hybrid)"), "{line}");
    assert!(fresh.path().join("data/layout").exists(), "a hybrid store");
}

#[tokio::test]
async fn acknowledged_ingest_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    // A long refresh interval: the index is not committed before the kill, so
    // only the write-ahead log holds the records.
    let mut server = Standalone::start_with(
        dir.path(),
        &["--refresh-interval-ms", "60000", "--min-refresh-interval-ms", "0"],
    );
    let mut ingest = server.ingest().await;
    for batch in 0..5 {
        let records = (0..1000)
            .map(|i| {
                record("kill9", "ERROR", "acknowledged then killed", &format!("k-{batch}-{i}"))
            })
            .collect();
        assert_eq!(
            ingest.ingest(IngestRequest { records }).await.unwrap().into_inner().accepted,
            1000
        );
    }
    server.kill9();
    server.restart();
    let mut query = server.query().await;
    let total = eventually(10, "5000 records after kill -9", || {
        let mut q = query.clone();
        async move {
            let t = q.search(SearchRequest::default()).await.unwrap().into_inner().total;
            (t == 5000).then_some(t)
        }
    })
    .await;
    assert_eq!(total, 5000);
    assert_eq!(count_request_id(&mut query, "k-4-999").await, 1);
    assert_eq!(count_request_id(&mut query, "k-0-0").await, 1);
    // Replaying the log twice (kill again before any new commit) must not duplicate.
    server.kill9();
    server.restart();
    let mut query = server.query().await;
    let t = query.search(SearchRequest::default()).await.unwrap().into_inner().total;
    assert_eq!(t, 5000, "replay is idempotent");
}

/// SIGTERM while four clients keep ingesting: the node stops intake, drains
/// the gRPC calls in flight, then closes the store. Every record a client saw
/// acknowledged is there after a restart, and the shutdown steps ran in the
/// documented order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_ingest_keeps_every_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    // No commit before the shutdown: only the WAL and the closing commit hold
    // the records.
    let mut server = Standalone::start_logged(
        dir.path(),
        &["--refresh-interval-ms", "60000", "--min-refresh-interval-ms", "0"],
    );
    let acked = Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let batches = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for task in 0..4 {
        let channel = server.channel().await;
        let (acked, batches) = (acked.clone(), batches.clone());
        senders.push(tokio::spawn(async move {
            let mut client = IngestServiceClient::new(channel);
            for batch in 0.. {
                let ids: Vec<String> = (0..200).map(|i| format!("t{task}-b{batch}-{i}")).collect();
                let records =
                    ids.iter().map(|id| record("sigterm", "INFO", "in flight", id)).collect();
                match client.ingest(IngestRequest { records }).await {
                    Ok(r) => {
                        assert_eq!(r.into_inner().accepted, 200);
                        acked.lock().extend(ids);
                        batches.fetch_add(1, Ordering::SeqCst);
                    }
                    // Refused (shutting down) or the connection closed: stop.
                    Err(_) => return,
                }
            }
        }));
    }
    eventually(60, "40 batches acknowledged", || {
        let n = batches.load(Ordering::SeqCst);
        async move { (n >= 40).then_some(()) }
    })
    .await;
    // SIGTERM mid-stream; `stop` asserts a clean exit.
    let server = tokio::task::spawn_blocking(move || {
        server.stop();
        server
    })
    .await
    .unwrap();
    for s in senders {
        s.await.unwrap();
    }
    let log = server.log();
    let order = ["shutting down", "grpc server drained", "store closed", "stopped"];
    let mut at = 0;
    for step in order {
        let found = log[at..].find(step);
        assert!(found.is_some(), "{step:?} missing or out of order in:\n{log}");
        at += found.unwrap();
    }
    let mut server = server;
    server.restart();
    let acked = acked.lock().clone();
    assert!(acked.len() >= 8000, "{} acknowledged", acked.len());
    let stored: HashSet<String> =
        all_request_ids(&mut server.query().await).await.into_iter().collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged records lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
}

/// With the demo generator sending, SIGTERM stops the generator while
/// ingest still takes its last batch, so the node exits at once instead of
/// the generator retrying a closed intake (`stop` fails after 30 s), and
/// everything the generator saw accepted is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_the_demo_generator_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Standalone::start_logged(dir.path(), &["--demo", "--demo-rate", "2000"]);
    let mut query = server.query().await;
    eventually(30, "demo records searchable", || {
        let mut q = query.clone();
        async move {
            let t = q.search(SearchRequest::default()).await.ok()?.into_inner().total;
            (t > 0).then_some(())
        }
    })
    .await;
    let server = tokio::task::spawn_blocking(move || {
        server.stop();
        server
    })
    .await
    .unwrap();
    let log = server.log();
    let accepted: u64 = log
        .lines()
        .find(|l| l.contains("demo generator stopped"))
        .map(without_colours)
        .and_then(|l| l.split("accepted=").nth(1).map(str::to_owned))
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or_else(|| panic!("no generator report in:\n{log}"));
    assert!(!log.contains("demo generator failed"), "{log}");
    let mut server = server;
    server.restart();
    query = server.query().await;
    let total = query.search(SearchRequest::default()).await.unwrap().into_inner().total;
    assert_eq!(total, accepted, "every record the generator saw accepted is stored");
}

/// `line` without ANSI colour codes (`ESC [ ... m`), as tracing may write them.
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
