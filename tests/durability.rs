//! Data survives a clean restart and a `kill -9` right after an acknowledged ingest.

mod common;

use common::{Standalone, count_request_id, eventually, record};
use loglens_proto::ingest::IngestRequest;
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

#[tokio::test]
async fn acknowledged_ingest_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    // A long refresh interval: the index is not committed before the kill, so
    // only the write-ahead log holds the records.
    let mut server = Standalone::start_with(dir.path(), &["--refresh-interval-ms", "60000"]);
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
