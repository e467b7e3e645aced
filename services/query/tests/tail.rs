//! `Tail` over a real Tantivy store: ingest never waits for a stalled tail,
//! and a tail that was left behind says so instead of skipping.

use std::sync::Arc;
use std::time::Duration;

use loglens_core::{LogRecord, RawLog, RuleSet};
use loglens_proto::query::query_service_server::QueryService;
use loglens_proto::query::{LogFilter, TailRequest};
use loglens_query::{QueryApi, TailConfig};
use loglens_store::{LogStore, StoreOptions};
use tokio_stream::StreamExt as _;

fn record(n: usize, level: &str) -> LogRecord {
    let raw = RawLog {
        service_name: Some("svc".into()),
        level: Some(level.into()),
        message: Some(format!("message {n}")),
        request_id: Some(format!("r{n}")),
        ..RawLog::default()
    };
    loglens_core::record::normalize(raw, 1_700_000_000_000 + n as i64, &RuleSet::default()).unwrap()
}

async fn open(dir: &std::path::Path) -> Arc<dyn LogStore> {
    let options = StoreOptions { refresh_interval_ms: 20, ..StoreOptions::default() };
    loglens_store::open(dir.to_str().unwrap(), options).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_never_waits_for_a_stalled_tail_which_then_learns_it_fell_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let api = QueryApi::new(store.clone())
        .with_tail_config(TailConfig { max_records: 500, max_bytes: 64 << 20 });
    let tail = |resume_after: String| {
        let filter = LogFilter { level: Some("ERROR".into()), ..LogFilter::default() };
        api.tail(tonic::Request::new(TailRequest { filter: Some(filter), resume_after }))
    };
    // A prompt tail that reads one record, then the stalled one, which
    // never reads until ingest is over.
    let mut prompt = tail(String::new()).await.unwrap().into_inner();
    let mut stalled = tail(String::new()).await.unwrap().into_inner();
    store.index(vec![record(0, "ERROR")]).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(30), prompt.next())
        .await
        .expect("no hang")
        .unwrap()
        .unwrap();
    assert_eq!(first.request_id.as_deref(), Some("r0"));
    drop(prompt);

    // 100 batches, 10 000 records: twenty times what the ring keeps. Every
    // index call completes (the guard only turns a hang into a failure).
    let ingest = async {
        for b in 0..100 {
            let batch = (1..=100).map(|i| record(b * 100 + i, "ERROR")).collect();
            assert!(store.index(batch).await.unwrap().is_empty());
            // Let commits (and so ring batches) happen along the way.
            if b % 10 == 9 {
                store.refresh().await.unwrap();
            }
        }
        store.refresh().await.unwrap();
    };
    tokio::time::timeout(Duration::from_secs(120), ingest).await.expect("ingest never blocked");

    // The stalled tail did not get a silent gap: its stream fails at once,
    // without a position (it delivered nothing).
    let e = tokio::time::timeout(Duration::from_secs(30), stalled.next())
        .await
        .expect("no hang")
        .expect("an item")
        .expect_err("the stalled tail fell behind");
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    assert!(e.metadata().get(loglens_query::tail::POSITION_METADATA_KEY).is_none());
    // The first record's position is too old now.
    let e = tail(first.tail_position.clone()).await.err().expect("gone");
    assert_eq!(e.code(), tonic::Code::OutOfRange, "{e:?}");
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_tail_continues_without_gap_or_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let api = QueryApi::new(store.clone());
    let tail = |resume_after: String| {
        let filter = LogFilter { level: Some("ERROR".into()), ..LogFilter::default() };
        api.tail(tonic::Request::new(TailRequest { filter: Some(filter), resume_after }))
    };
    let mut first = tail(String::new()).await.unwrap().into_inner();
    let mut want = Vec::new();
    for b in 0..6 {
        let batch: Vec<LogRecord> =
            (0..5).map(|i| record(b * 5 + i, if i % 2 == 0 { "ERROR" } else { "INFO" })).collect();
        want.extend(batch.iter().filter(|r| r.level.as_str() == "ERROR").map(|r| r.id.clone()));
        store.index(batch).await.unwrap();
        store.refresh().await.unwrap();
    }
    let mut got = Vec::new();
    let mut last = String::new();
    while got.len() < 4 {
        let e = first.next().await.unwrap().unwrap();
        last = e.tail_position.clone();
        got.push(e.id);
    }
    drop(first);
    let mut resumed = tail(last).await.unwrap().into_inner();
    while got.len() < want.len() {
        let next =
            tokio::time::timeout(Duration::from_secs(30), resumed.next()).await.expect("no hang");
        got.push(next.unwrap().unwrap().id);
    }
    assert_eq!(got, want);
    store.close().await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(30), resumed.next()).await.expect("no hang");
    assert!(end.is_none(), "closing the store ends the tail");
}
