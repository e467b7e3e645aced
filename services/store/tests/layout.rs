//! The Tantivy backend's on-disk layout: an index written by an earlier
//! layout (before issue 13, before tenants, with whole-id terms) is refused
//! with advice, ids are found through their hash columns, an upsert
//! replaces only its own id, and an idle store keeps no write-ahead log its
//! commits cover.

use std::path::Path;
use std::time::{Duration, Instant};

use loglens_core::record::normalize;
use loglens_core::{Filter, LogRecord, RawLog, RuleSet, SearchRequest, Sort, TimestampInput};
use loglens_store::tantivy::TantivyStore;
use loglens_store::{Error, LogStore, StoreOptions};

const T0: i64 = 1_767_225_600_000;

fn records(n: usize) -> Vec<LogRecord> {
    (0..n)
        .map(|i| {
            let raw = RawLog {
                timestamp: Some(TimestampInput::Int(T0 + i as i64)),
                service_name: Some("api-gateway".into()),
                level: Some("INFO".into()),
                message: Some(format!("request {i} served")),
                request_id: Some(format!("{:032x}", i * 7919)),
                trace_id: Some(format!("{:032x}", i * 104_729)),
                ..RawLog::default()
            };
            normalize(raw, T0, &RuleSet::default()).expect("test record is valid")
        })
        .collect()
}

fn options() -> StoreOptions {
    StoreOptions { indexing_threads: 1, indexing_memory_bytes: 32 << 20, ..StoreOptions::default() }
}

fn wal_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "wal"))
        // A segment the writer trims between the listing and this is gone.
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum()
}

/// Creates an index of `schema` in `dir` and checks the store refuses it
/// with the advice to move it away.
/// Today's schema without the fields `drop` names, to add an older
/// layout's fields to.
fn today_without(drop: impl Fn(&str) -> bool) -> tantivy::schema::SchemaBuilder {
    let (today, _) = loglens_store::tantivy::schema::Fields::build();
    let mut b = tantivy::schema::Schema::builder();
    for (_, entry) in today.fields().filter(|(_, e)| !drop(e.name())) {
        b.add_field(entry.clone());
    }
    b
}

async fn refused_with_advice(dir: &Path, schema: tantivy::schema::Schema) {
    std::fs::create_dir_all(dir.join("index")).unwrap();
    tantivy::Index::create_in_dir(dir.join("index"), schema).unwrap();
    let err = TantivyStore::open(dir, options()).await.unwrap_err();
    let Error::Config(msg) = err else { panic!("want a config error, got {err:?}") };
    assert!(msg.contains("incompatible") && msg.contains("move it away"), "{msg}");
}

#[tokio::test]
async fn an_index_of_the_earlier_layout_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    // The layout before issue 13: request and trace ids as keyword text.
    let mut b = tantivy::schema::Schema::builder();
    b.add_text_field("request_id", tantivy::schema::STRING);
    b.add_text_field("trace_id", tantivy::schema::STRING);
    refused_with_advice(dir.path(), b.build()).await;
}

#[tokio::test]
async fn an_index_from_before_tenants_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    // Today's layout without the tenant field: its documents belong to
    // nobody, so no tenant's filter would find them.
    let (today, _) = loglens_store::tantivy::schema::Fields::build();
    assert!(today.get_field("tenant").is_ok());
    refused_with_advice(dir.path(), today_without(|name| name == "tenant").build()).await;
    // The directory is left as it was, for the operator to move.
    assert!(dir.path().join("index").join("meta.json").exists());
}

#[tokio::test]
async fn ids_are_found_exactly_through_their_hash_columns() {
    let dir = tempfile::tempdir().unwrap();
    let store = TantivyStore::open(dir.path(), options()).await.unwrap();
    let recs = records(2000);
    let (want_req, want_trace) = (recs[1234].request_id.clone(), recs[777].trace_id.clone());
    store.index(recs).await.unwrap();
    store.refresh().await.unwrap();
    for (filter, want) in [
        (Filter { request_id: want_req.clone(), ..Filter::default() }, "request 1234 served"),
        (Filter { trace_id: want_trace, ..Filter::default() }, "request 777 served"),
    ] {
        let req = SearchRequest::new(filter, Sort::NewestFirst, None, Some(10), None).unwrap();
        let got = store.search(&req).await.unwrap();
        assert_eq!(got.total, 1);
        assert_eq!(got.logs[0].message, want);
    }
    let none = Filter { request_id: Some("no-such-id".into()), ..Filter::default() };
    let req = SearchRequest::new(none, Sort::NewestFirst, None, Some(10), None).unwrap();
    assert_eq!(store.search(&req).await.unwrap().total, 0);
    // With another filter the hash column is intersected, not scanned alone.
    let both = Filter {
        request_id: want_req,
        query: Some("served".into()),
        service_name: Some("api-gateway".into()),
        ..Filter::default()
    };
    let req = SearchRequest::new(both, Sort::NewestFirst, None, Some(10), None).unwrap();
    assert_eq!(store.search(&req).await.unwrap().total, 1);
    store.close().await.unwrap();
}

#[tokio::test]
async fn an_idle_store_keeps_no_log_its_commits_cover() {
    let dir = tempfile::tempdir().unwrap();
    let store = TantivyStore::open(dir.path(), options()).await.unwrap();
    let empty = wal_bytes(dir.path());
    store.index(records(3000)).await.unwrap();
    assert!(wal_bytes(dir.path()) > empty + 100_000, "the batch is in the log first");
    store.refresh().await.unwrap();
    // The WAL writer trims after the indexer's note of the commit.
    let deadline = Instant::now() + Duration::from_secs(10);
    while wal_bytes(dir.path()) > empty && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(wal_bytes(dir.path()), empty, "only an empty segment stays");
    // Nothing was lost by trimming, and numbering goes on after a reopen.
    store.index(records(10)).await.unwrap();
    store.abort().await.unwrap();
    let store = TantivyStore::open(dir.path(), options()).await.unwrap();
    let req =
        SearchRequest::new(Filter::default(), Sort::NewestFirst, None, Some(1), None).unwrap();
    assert_eq!(store.search(&req).await.unwrap().total, 3000, "ids repeat: upserted, not added");
    store.close().await.unwrap();
}

#[tokio::test]
async fn an_index_with_whole_id_terms_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    // The layout before 2026-12-02: the record id as one 16-byte term.
    let mut b = today_without(|name| name.starts_with("id_"));
    b.add_bytes_field("id", tantivy::schema::BytesOptions::default().set_indexed());
    refused_with_advice(dir.path(), b.build()).await;
    // And the layout of the first half of that day: 16-bit buckets.
    let dir = tempfile::tempdir().unwrap();
    let mut b = today_without(|name| name == "id_bucket12");
    b.add_u64_field("id_bucket", tantivy::schema::NumericOptions::default().set_indexed());
    refused_with_advice(dir.path(), b.build()).await;
}

#[tokio::test]
async fn an_index_with_json_sources_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    // The layout before 2026-12-02 (second change): the record as JSON in `source`.
    let mut b = today_without(|name| name == "record");
    b.add_bytes_field("source", tantivy::schema::BytesOptions::default().set_stored());
    refused_with_advice(dir.path(), b.build()).await;
}

#[tokio::test]
async fn an_index_with_hashed_id_columns_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    // The layout before 2026-12-02 (third change): request and trace id
    // columns held a hash of the whole id, now a key the doc store's half
    // of the id needs; read as keys they would give wrong ids.
    let mut b = today_without(|name| name.ends_with("_id_key"));
    let fast = tantivy::schema::NumericOptions::default().set_fast();
    b.add_u64_field("request_id_xxh3", fast.clone());
    b.add_u64_field("trace_id_xxh3", fast);
    refused_with_advice(dir.path(), b.build()).await;
}

/// The upsert's delete matches the whole kept id (bucket and low bits), not
/// a record that shares either part.
#[tokio::test]
async fn an_upsert_replaces_only_its_own_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = TantivyStore::open(dir.path(), options()).await.unwrap();
    let mut recs = records(3);
    // Same bucket (top 12 bits) as the first, other low bits; then other
    // bucket, same low bits.
    recs[0].id = "abcd0000000000000000000000000001".into();
    recs[1].id = "abcd0000000000000000000000000002".into();
    recs[2].id = "abd00000000000000000000000000001".into();
    store.index(recs.clone()).await.unwrap();
    store.refresh().await.unwrap();
    let all = |filter: Filter| SearchRequest::new(filter, Sort::NewestFirst, None, Some(10), None);
    assert_eq!(store.search(&all(Filter::default()).unwrap()).await.unwrap().total, 3);
    // The first again, changed: it replaces itself and nothing else.
    let mut again = recs[0].clone();
    again.message = "request 0 served again".into();
    store.index(vec![again]).await.unwrap();
    store.refresh().await.unwrap();
    let got = store.search(&all(Filter::default()).unwrap()).await.unwrap();
    let mut messages: Vec<&str> = got.logs.iter().map(|r| r.message.as_str()).collect();
    messages.sort_unstable();
    assert_eq!(messages, ["request 0 served again", "request 1 served", "request 2 served"]);
    store.close().await.unwrap();
}
