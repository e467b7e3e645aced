//! The `LogStore` contract, written once: each behaviour is a generic async
//! function over a [`Backend`] (a store location that can be opened,
//! reopened and crashed), run per backend by the `contract!` macro.
//! Backend-specific checks sit at the end.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use loglens_core::query::HistogramBucket;
use loglens_core::record::normalize;
use loglens_core::{
    Filter, Level, LogRecord, RawLog, RuleSet, SearchRequest, SearchResult, Sort, StatsRequest,
    TimestampInput,
};
use loglens_store::{Error, LogStore, StoreOptions};

/// 2024-05-01T00:00:00Z.
const T0: i64 = 1_714_521_600_000;

/// One store location under test.
#[async_trait]
trait Backend: Send + Sync {
    /// Opens the store at this location: the same data every time.
    async fn open_with(&self, options: StoreOptions) -> Arc<dyn LogStore>;

    /// Ends `store` as `kill -9` would: no further commit or flush.
    async fn crash(&self, store: Arc<dyn LogStore>);

    /// Opens with test-sized options.
    async fn open(&self) -> Arc<dyn LogStore> {
        self.open_with(options()).await
    }
}

fn options() -> StoreOptions {
    StoreOptions { indexing_threads: 1, indexing_memory_bytes: 32 << 20, ..StoreOptions::default() }
}

/// Options under which nothing is committed in the background for an hour.
fn no_background_commits() -> StoreOptions {
    StoreOptions { refresh_interval_ms: 3_600_000, min_refresh_interval_ms: 0, ..options() }
}

// ---------------------------------------------------------------- helpers

fn raw(service: &str, message: &str, at: i64) -> RawLog {
    RawLog {
        timestamp: Some(TimestampInput::Int(at)),
        service_name: Some(service.into()),
        message: Some(message.into()),
        ..RawLog::default()
    }
}

fn norm(raw: RawLog) -> LogRecord {
    normalize(raw, T0 + 86_400_000, &RuleSet::default()).expect("test record is valid")
}

/// `n` plain records of `service`, one second apart from `start`.
fn plain(service: &str, n: usize, start: i64) -> Vec<LogRecord> {
    (0..n)
        .map(|i| norm(raw(service, &format!("plain record {i}"), start + i as i64 * 1000)))
        .collect()
}

/// 120 records varying every filterable field; distinct timestamps.
fn varied() -> Vec<LogRecord> {
    let services = ["api-gateway", "auth-service", "payment-service"];
    let levels = ["DEBUG", "INFO", "WARN", "ERROR"];
    let words = ["timeout", "connected", "user", "payment", "declined", "retry"];
    let statuses = [None, Some(200), Some(404), Some(503), Some(201)];
    (0..120usize)
        .map(|i| {
            norm(RawLog {
                level: Some(levels[i % 4].into()),
                status_code: statuses[i % 5],
                request_id: Some(format!("req-{}", i % 10)),
                trace_id: (i % 7 == 0).then(|| format!("trace-{}", i % 3)),
                response_time_ms: Some((i * 37 % 5000) as f64 + 0.1),
                error_code: (i % 11 == 0).then(|| "E_PAY".into()),
                host: Some(format!("host-{}", i % 4)),
                user_id: (i % 3 == 1).then(|| format!("user-{}", i % 5)),
                tags: Some(vec!["eu".into(), format!("shard-{}", i % 2)]),
                ..raw(
                    services[i % 3],
                    &format!("{} {} number {i}", words[i % 6], words[(i / 6) % 6].to_uppercase()),
                    T0 + i as i64 * 1000,
                )
            })
        })
        .collect()
}

async fn index(store: &dyn LogStore, records: &[LogRecord]) {
    let refused = store.index(records.to_vec()).await.expect("index");
    assert!(refused.is_empty(), "valid records refused: {refused:?}");
}

async fn indexed(store: &dyn LogStore, records: &[LogRecord]) {
    index(store, records).await;
    store.refresh().await.expect("refresh");
}

async fn try_search(
    store: &dyn LogStore,
    filter: Filter,
    sort: Sort,
    page: Option<u32>,
    size: u32,
    cursor: Option<String>,
) -> Result<SearchResult, Error> {
    let req = SearchRequest::new(filter, sort, page, Some(size), cursor).expect("valid request");
    store.search(&req).await
}

async fn search(store: &dyn LogStore, filter: Filter, sort: Sort, size: u32) -> SearchResult {
    try_search(store, filter, sort, None, size, None).await.expect("search")
}

fn ids(records: &[LogRecord]) -> Vec<String> {
    records.iter().map(|r| r.id.clone()).collect()
}

/// `records` in `sort` order; ties (only in tests that allow them) keep input order.
fn sorted(mut records: Vec<LogRecord>, sort: Sort) -> Vec<LogRecord> {
    match sort {
        Sort::NewestFirst => records.sort_by_key(|r| std::cmp::Reverse(r.timestamp)),
        Sort::OldestFirst => records.sort_by_key(|r| r.timestamp),
        Sort::Severity => {
            records.sort_by_key(|r| std::cmp::Reverse((r.severity_score, r.timestamp)))
        }
    }
    records
}

/// Walks every page with the cursor; returns the records in order.
async fn walk(store: &dyn LogStore, filter: &Filter, sort: Sort, size: u32) -> Vec<LogRecord> {
    let mut all = Vec::new();
    let mut cursor = None;
    for _ in 0..10_000 {
        let page =
            try_search(store, filter.clone(), sort, None, size, cursor.take()).await.expect("page");
        assert!(page.logs.len() <= size as usize);
        all.extend(page.logs);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return all,
        }
    }
    panic!("cursor walk does not end");
}

// ---------------------------------------------------------------- cases

async fn search_returns_exact_records(b: &dyn Backend) {
    let store = b.open().await;
    let records = varied();
    indexed(&*store, &records).await;
    let got = search(&*store, Filter::default(), Sort::OldestFirst, 1000).await;
    assert_eq!(got.total, records.len() as u64);
    assert_eq!(got.logs, records, "stored records come back unchanged");
    store.close().await.unwrap();
}

async fn each_filter_selects_its_records(b: &dyn Backend) {
    let store = b.open().await;
    let records = varied();
    indexed(&*store, &records).await;
    let mid = T0 + 50_000;
    let filters = [
        Filter { service_name: Some("auth-service".into()), ..Filter::default() },
        Filter { service_name: Some("auth".into()), ..Filter::default() },
        Filter { level: Some(Level::Warn), ..Filter::default() },
        Filter { status_code: loglens_core::StatusCode::new(404).ok(), ..Filter::default() },
        Filter { anomaly: Some(true), ..Filter::default() },
        Filter { anomaly: Some(false), ..Filter::default() },
        Filter { from_timestamp: Some(mid), ..Filter::default() },
        Filter { to_timestamp: Some(mid), ..Filter::default() },
        Filter { from_timestamp: Some(mid), to_timestamp: Some(mid), ..Filter::default() },
        Filter {
            from_timestamp: Some(mid + 1),
            to_timestamp: Some(mid + 999),
            ..Filter::default()
        },
        Filter { trace_id: Some("trace-1".into()), ..Filter::default() },
        Filter { request_id: Some("req-3".into()), ..Filter::default() },
        Filter { host: Some("host-2".into()), ..Filter::default() },
        Filter { host: Some("host".into()), ..Filter::default() },
        Filter { user_id: Some("user-4".into()), ..Filter::default() },
        Filter { error_code: Some("E_PAY".into()), ..Filter::default() },
        Filter { tag: Some("shard-1".into()), ..Filter::default() },
        Filter { tag: Some("shard".into()), ..Filter::default() },
        Filter { anomaly_reason: Some("slow_response".into()), ..Filter::default() },
        Filter {
            anomaly_reason: Some("error_level".into()),
            level: Some(Level::Error),
            ..Filter::default()
        },
        Filter {
            tag: Some("eu".into()),
            host: Some("host-1".into()),
            error_code: Some("E_PAY".into()),
            ..Filter::default()
        },
        Filter { query: Some("payment".into()), ..Filter::default() },
        Filter {
            service_name: Some("payment-service".into()),
            level: Some(Level::Error),
            from_timestamp: Some(T0 + 10_000),
            to_timestamp: Some(T0 + 100_000),
            ..Filter::default()
        },
    ];
    for filter in filters {
        let want = sorted(
            records.iter().filter(|r| filter.matches(r)).cloned().collect(),
            Sort::NewestFirst,
        );
        let got = search(&*store, filter.clone(), Sort::NewestFirst, 1000).await;
        assert_eq!(ids(&got.logs), ids(&want), "{filter:?}");
        assert_eq!(got.total, want.len() as u64, "{filter:?}");
    }
    store.close().await.unwrap();
}

async fn full_text_needs_every_word(b: &dyn Backend) {
    let store = b.open().await;
    let records = vec![
        norm(raw("s", "Payment TIMEOUT from upstream", T0)),
        norm(raw("s", "payment accepted", T0 + 1)),
        norm(raw("s", "timeout while connecting", T0 + 2)),
        norm(raw("s", "user_id=42 logged-in", T0 + 3)),
    ];
    indexed(&*store, &records).await;
    for (query, want) in [
        ("timeout payment", vec![0]),
        ("TIMEOUT", vec![2, 0]),
        ("payment, timeout!", vec![0]),
        ("pay", vec![]),
        ("timeout missing", vec![]),
        ("id 42", vec![3]),
        ("logged in", vec![3]),
    ] {
        let got = search(
            &*store,
            Filter { query: Some(query.into()), ..Filter::default() },
            Sort::NewestFirst,
            10,
        )
        .await;
        let want: Vec<String> = want.iter().map(|i: &usize| records[*i].id.clone()).collect();
        assert_eq!(ids(&got.logs), want, "query {query:?}");
    }
    store.close().await.unwrap();
}

async fn sort_orders(b: &dyn Backend) {
    let store = b.open().await;
    let records = varied();
    indexed(&*store, &records).await;
    for sort in [Sort::NewestFirst, Sort::OldestFirst, Sort::Severity] {
        let got = search(&*store, Filter::default(), sort, 1000).await;
        assert_eq!(ids(&got.logs), ids(&sorted(records.clone(), sort)), "{sort:?}");
    }
    store.close().await.unwrap();
}

async fn total_counts_all_matches_not_the_page(b: &dyn Backend) {
    let store = b.open().await;
    indexed(&*store, &plain("a", 50, T0)).await;
    indexed(&*store, &plain("b", 7, T0)).await;
    let got = search(
        &*store,
        Filter { service_name: Some("a".into()), ..Filter::default() },
        Sort::NewestFirst,
        10,
    )
    .await;
    assert_eq!((got.total, got.logs.len()), (50, 10));
    assert!(got.next_cursor.is_some());
    store.close().await.unwrap();
}

async fn pages_by_offset(b: &dyn Backend) {
    let store = b.open().await;
    let records = plain("a", 25, T0);
    indexed(&*store, &records).await;
    let want = ids(&sorted(records, Sort::NewestFirst));
    let mut got = Vec::new();
    for page in 1..=4 {
        let r = try_search(&*store, Filter::default(), Sort::NewestFirst, Some(page), 10, None)
            .await
            .unwrap();
        assert_eq!((r.page, r.size, r.total), (page, 10, 25));
        assert_eq!(r.logs.len(), [10, 10, 5, 0][page as usize - 1], "page {page}");
        assert_eq!(r.next_cursor.is_some(), page < 3, "page {page}");
        got.extend(ids(&r.logs));
    }
    assert_eq!(got, want);
    store.close().await.unwrap();
}

async fn cursor_walk_visits_each_record_once_in_order(b: &dyn Backend) {
    let store = b.open().await;
    // 2,500 records: 1,200 share one timestamp, the rest spread around it;
    // every tenth is an ERROR, so severities tie too.
    let shared_ts = T0 + 600_000;
    let records: Vec<LogRecord> = (0..2500usize)
        .map(|i| {
            let at = if i % 2 == 0 && i < 2400 { shared_ts } else { T0 + i as i64 * 500 };
            let level = if i % 10 == 0 { "ERROR" } else { "INFO" };
            norm(RawLog { level: Some(level.into()), ..raw("walker", &format!("walk {i}"), at) })
        })
        .collect();
    for chunk in records.chunks(500) {
        index(&*store, chunk).await;
    }
    store.refresh().await.unwrap();
    let all_ids: HashSet<String> = ids(&records).into_iter().collect();
    for sort in [Sort::NewestFirst, Sort::OldestFirst, Sort::Severity] {
        let got = walk(&*store, &Filter::default(), sort, 97).await;
        assert_eq!(got.len(), records.len(), "{sort:?}: every record once");
        let seen: HashSet<String> = ids(&got).into_iter().collect();
        assert_eq!(seen, all_ids, "{sort:?}: no duplicates, none missing");
        let keys: Vec<(u8, i64)> = got.iter().map(|r| (r.severity_score, r.timestamp)).collect();
        let in_order = keys.windows(2).all(|w| match sort {
            Sort::NewestFirst => w[0].1 >= w[1].1,
            Sort::OldestFirst => w[0].1 <= w[1].1,
            Sort::Severity => w[0] >= w[1],
        });
        assert!(in_order, "{sort:?}: pages follow the sort order");
    }
    // With a filter, and a cursor walk through the anomalies only.
    let errors = walk(
        &*store,
        &Filter { level: Some(Level::Error), ..Filter::default() },
        Sort::Severity,
        33,
    )
    .await;
    assert_eq!(errors.len(), 250);
    store.close().await.unwrap();
}

async fn time_pages_over_an_uneven_spread(b: &dyn Backend) {
    let store = b.open().await;
    // 40 records a day apart, 200 packed into one second a year later, 5
    // more a month apart after that: pages in time order must cross wide
    // gaps and dense runs alike. Timestamps are distinct, so the order is
    // exact.
    const DAY: i64 = 86_400_000;
    let mut records: Vec<LogRecord> = Vec::new();
    records.extend((0..40).map(|i| norm(raw("spread", &format!("daily {i}"), T0 + i * DAY))));
    records.extend(
        (0..200).map(|i| norm(raw("spread", &format!("dense {i}"), T0 + 365 * DAY + i * 5))),
    );
    records.extend(
        (0..5).map(|i| norm(raw("spread", &format!("late {i}"), T0 + (400 + 30 * i) * DAY))),
    );
    for chunk in records.chunks(60) {
        index(&*store, chunk).await;
    }
    store.refresh().await.unwrap();
    for sort in [Sort::NewestFirst, Sort::OldestFirst] {
        let want = ids(&sorted(records.clone(), sort));
        assert_eq!(ids(&walk(&*store, &Filter::default(), sort, 9).await), want, "{sort:?} walk");
        assert_eq!(
            ids(&search(&*store, Filter::default(), sort, 3).await.logs),
            want[..3],
            "{sort:?} first page"
        );
        // A time range cutting through the daily run and the dense run.
        let range = Filter {
            from_timestamp: Some(T0 + 30 * DAY),
            to_timestamp: Some(T0 + 365 * DAY + 499),
            ..Filter::default()
        };
        let inside: Vec<LogRecord> = records
            .iter()
            .filter(|r| (T0 + 30 * DAY..=T0 + 365 * DAY + 499).contains(&r.timestamp))
            .cloned()
            .collect();
        assert_eq!(inside.len(), 110);
        assert_eq!(
            ids(&walk(&*store, &range, sort, 7).await),
            ids(&sorted(inside, sort)),
            "{sort:?} range walk"
        );
        let page = search(&*store, range, sort, 1000).await;
        assert_eq!(
            (page.total, page.logs.len(), page.next_cursor),
            (110, 110, None),
            "{sort:?} one big page"
        );
    }
    store.close().await.unwrap();
}

async fn bad_cursor_is_rejected(b: &dyn Backend) {
    let store = b.open().await;
    indexed(&*store, &plain("a", 5, T0)).await;
    let first = search(&*store, Filter::default(), Sort::NewestFirst, 2).await;
    let cursor = first.next_cursor.expect("more pages");
    for (sort, cursor) in
        [(Sort::NewestFirst, "not a cursor".to_owned()), (Sort::OldestFirst, cursor.clone())]
    {
        let e =
            try_search(&*store, Filter::default(), sort, None, 2, Some(cursor)).await.unwrap_err();
        match e {
            Error::Invalid(e) => {
                assert_eq!(e.field(), Some("cursor"));
                assert!(e.to_string().starts_with("cursor is not valid for this query"), "{e}");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
    let next = try_search(&*store, Filter::default(), Sort::NewestFirst, None, 2, Some(cursor))
        .await
        .unwrap();
    assert_eq!(next.logs.len(), 2);
    store.close().await.unwrap();
}

async fn upsert_by_id(b: &dyn Backend) {
    let store = b.open().await;
    let r = norm(raw("a", "same record", T0));
    indexed(&*store, std::slice::from_ref(&r)).await;
    indexed(&*store, std::slice::from_ref(&r)).await;
    indexed(&*store, &[r.clone(), r.clone()]).await;
    let got = search(&*store, Filter::default(), Sort::NewestFirst, 10).await;
    assert_eq!((got.total, got.logs.len()), (1, 1));
    // The later record with an id wins, also within one batch.
    let mut v2 = r.clone();
    v2.message = "second version".into();
    let mut v3 = r.clone();
    v3.message = "third version".into();
    indexed(&*store, &[v2, v3.clone()]).await;
    let got = search(&*store, Filter::default(), Sort::NewestFirst, 10).await;
    assert_eq!(got.logs, vec![v3.clone()]);
    store.close().await.unwrap();
    // After a restart the store still knows the id is there (Tantivy seeds
    // its filter of seen ids from the index).
    let store = b.open().await;
    let mut v4 = v3;
    v4.message = "fourth version".into();
    indexed(&*store, std::slice::from_ref(&v4)).await;
    let got = search(&*store, Filter::default(), Sort::NewestFirst, 10).await;
    assert_eq!(got.logs, vec![v4]);
    store.close().await.unwrap();
}

async fn anomalies_by_severity(b: &dyn Backend) {
    let store = b.open().await;
    let records = varied();
    indexed(&*store, &records).await;
    let req = SearchRequest::anomalies(Filter::default(), None, Some(1000), None).unwrap();
    let got = store.search(&req).await.unwrap();
    let want = sorted(records.iter().filter(|r| r.anomaly).cloned().collect(), Sort::Severity);
    assert!(!want.is_empty() && want.len() < records.len());
    assert_eq!(got.total, want.len() as u64);
    assert_eq!(ids(&got.logs), ids(&want));
    store.close().await.unwrap();
}

/// Stats computed from the records themselves.
fn expected_stats(records: &[LogRecord], req: &StatsRequest) -> loglens_core::Stats {
    let f = &req.filter;
    let mut s = loglens_core::Stats::default();
    for r in records.iter().filter(|r| f.matches(r)) {
        s.total_logs += 1;
        *s.services.entry(r.service_name.clone()).or_default() += 1;
        *s.levels.entry(r.level.as_str().to_owned()).or_default() += 1;
        s.anomaly_count += u64::from(r.anomaly);
        s.error_count += u64::from(r.level == Level::Error);
    }
    s
}

async fn stats_counts(b: &dyn Backend) {
    let store = b.open().await;
    let records = varied();
    indexed(&*store, &records).await;
    let filters = [
        Filter::default(),
        Filter {
            from_timestamp: Some(T0 + 30_000),
            to_timestamp: Some(T0 + 80_000),
            ..Filter::default()
        },
        Filter { service_name: Some("payment-service".into()), ..Filter::default() },
        Filter {
            from_timestamp: Some(T0 + 30_000),
            service_name: Some("api-gateway".into()),
            ..Filter::default()
        },
        Filter { service_name: Some("nope".into()), ..Filter::default() },
    ];
    for filter in filters {
        let req = StatsRequest { filter, ..StatsRequest::default() };
        let got = store.stats(&req.clone().validated().unwrap()).await.unwrap();
        let want = expected_stats(&records, &req);
        assert_eq!(got.total_logs, want.total_logs, "{req:?}");
        assert_eq!(got.services, want.services, "{req:?}");
        assert_eq!(got.levels, want.levels, "{req:?}");
        assert_eq!(
            (got.anomaly_count, got.error_count),
            (want.anomaly_count, want.error_count),
            "{req:?}"
        );
        assert!(got.histogram.is_empty() && got.response_time_percentiles.is_empty());
    }
    store.close().await.unwrap();
}

async fn histogram_buckets(b: &dyn Backend) {
    let store = b.open().await;
    let minute = 60_000;
    let at = |m: i64, s: i64| T0 + m * minute + s * 1000;
    let mut records = Vec::new();
    for s in 0..5 {
        records.push(norm(raw("a", &format!("m0 {s}"), at(0, s * 10))));
    }
    records.push(norm(RawLog { level: Some("ERROR".into()), ..raw("a", "m0 error", at(0, 59)) }));
    records.push(norm(RawLog { status_code: Some(503), ..raw("a", "m2 unavailable", at(2, 0)) }));
    records.push(norm(raw("a", "m2 ok", at(2, 30))));
    records.push(norm(raw("b", "m3 other service", at(3, 1))));
    indexed(&*store, &records).await;
    let req = StatsRequest { histogram_interval_ms: Some(minute), ..StatsRequest::default() }
        .validated()
        .unwrap();
    let got = store.stats(&req).await.unwrap();
    let bucket =
        |m: i64, count, anomaly_count, error_count, levels: &[(&str, u64)]| HistogramBucket {
            start: at(m, 0),
            count,
            anomaly_count,
            error_count,
            levels: levels.iter().map(|(l, n)| (l.to_string(), *n)).collect(),
        };
    let m0 = bucket(0, 6, 1, 1, &[("INFO", 5), ("ERROR", 1)]);
    let m2 = bucket(2, 2, 1, 0, &[("INFO", 2)]);
    let non_empty: Vec<_> = got.histogram.iter().filter(|b| b.count > 0).cloned().collect();
    assert_eq!(non_empty, [m0.clone(), m2.clone(), bucket(3, 1, 0, 0, &[("INFO", 1)])]);
    assert!(got.histogram.windows(2).all(|w| w[0].start < w[1].start), "oldest first");
    assert!(got.histogram.iter().all(|b| b.start % minute == 0), "aligned to the interval");
    let req = StatsRequest {
        filter: Filter { service_name: Some("a".into()), ..Filter::default() },
        histogram_interval_ms: Some(minute),
        ..StatsRequest::default()
    };
    let got = store.stats(&req.validated().unwrap()).await.unwrap();
    let non_empty: Vec<_> = got.histogram.iter().filter(|b| b.count > 0).cloned().collect();
    assert_eq!(non_empty, [m0, m2]);
    store.close().await.unwrap();
}

/// `varied()` with attributes: `region` cycles eu/us/ap, `canary` on every
/// fourth record.
fn varied_with_attributes() -> Vec<LogRecord> {
    varied()
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            let region = ["eu", "us", "ap"][i % 3];
            r.attributes.insert("region".into(), loglens_core::AttrValue::Str(region.into()));
            r.attributes.insert("canary".into(), loglens_core::AttrValue::Bool(i % 4 == 0));
            r
        })
        .collect()
}

/// Stats over `filter` with a one-minute histogram, checked against the
/// records themselves and against a search with the same filter.
async fn check_filtered_stats(store: &dyn LogStore, records: &[LogRecord], filter: Filter) {
    let req = StatsRequest {
        filter: filter.clone(),
        histogram_interval_ms: Some(60_000),
        ..StatsRequest::default()
    }
    .validated()
    .unwrap();
    let got = store.stats(&req).await.unwrap();
    let want = expected_stats(records, &req);
    assert!(want.total_logs > 0 && want.total_logs < records.len() as u64, "{filter:?}");
    assert_eq!(got.total_logs, want.total_logs, "{filter:?}");
    assert_eq!(got.services, want.services, "{filter:?}");
    assert_eq!(got.levels, want.levels, "{filter:?}");
    assert_eq!(
        (got.anomaly_count, got.error_count),
        (want.anomaly_count, want.error_count),
        "{filter:?}"
    );
    let mut by_minute: BTreeMap<i64, BTreeMap<String, u64>> = BTreeMap::new();
    for r in records.iter().filter(|r| req.filter.matches(r)) {
        let start = r.timestamp.div_euclid(60_000) * 60_000;
        *by_minute.entry(start).or_default().entry(r.level.as_str().to_owned()).or_default() += 1;
    }
    let got_levels: BTreeMap<i64, BTreeMap<String, u64>> =
        got.histogram.iter().map(|b| (b.start, b.levels.clone())).collect();
    assert_eq!(got_levels, by_minute, "per-level histogram counts of {filter:?}");
    let searched = search(store, filter.clone(), Sort::NewestFirst, 1).await.total;
    assert_eq!(got.total_logs, searched, "stats and search select alike: {filter:?}");
}

/// Stats select records with a search's full text.
async fn stats_with_full_text(b: &dyn Backend) {
    let store = b.open().await;
    let records = varied_with_attributes();
    indexed(&*store, &records).await;
    for q in ["timeout", "TIMEOUT payment", "number 7"] {
        let filter = Filter { query: Some(q.into()), ..Filter::default() };
        check_filtered_stats(&*store, &records, filter).await;
    }
    store.close().await.unwrap();
}

/// Stats select records by level, status, anomaly and ids like a search.
async fn stats_with_a_level_filter(b: &dyn Backend) {
    let store = b.open().await;
    let records = varied_with_attributes();
    indexed(&*store, &records).await;
    let filters = [
        Filter { level: Some(Level::Error), ..Filter::default() },
        Filter {
            level: Some(Level::Warn),
            service_name: Some("auth-service".into()),
            ..Filter::default()
        },
        Filter { status_code: loglens_core::StatusCode::new(503).ok(), ..Filter::default() },
        Filter { anomaly: Some(true), ..Filter::default() },
        Filter { request_id: Some("req-3".into()), ..Filter::default() },
        Filter { trace_id: Some("trace-1".into()), ..Filter::default() },
    ];
    for filter in filters {
        check_filtered_stats(&*store, &records, filter).await;
    }
    store.close().await.unwrap();
}

/// Stats select records by attribute like a search, with other conditions.
async fn stats_with_an_attribute_filter(b: &dyn Backend) {
    let store = b.open().await;
    let records = varied_with_attributes();
    indexed(&*store, &records).await;
    let attr = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let filters = [
        Filter { attributes: attr(&[("region", "eu")]), ..Filter::default() },
        Filter { attributes: attr(&[("region", "us"), ("canary", "true")]), ..Filter::default() },
        Filter {
            attributes: attr(&[("region", "ap")]),
            level: Some(Level::Info),
            query: Some("user".into()),
            from_timestamp: Some(T0 + 10_000),
            ..Filter::default()
        },
    ];
    for filter in filters {
        check_filtered_stats(&*store, &records, filter).await;
    }
    store.close().await.unwrap();
}

/// Each histogram bucket's per-level counts add up to its count, agree with
/// its error count, and the buckets' levels add up to the totals per level.
async fn histogram_levels_sum_to_the_bucket_count(b: &dyn Backend) {
    let store = b.open().await;
    let records = varied();
    indexed(&*store, &records).await;
    let req = StatsRequest { histogram_interval_ms: Some(30_000), ..StatsRequest::default() }
        .validated()
        .unwrap();
    let got = store.stats(&req).await.unwrap();
    assert_eq!(got.histogram.len(), 4, "120 records one second apart");
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for b in &got.histogram {
        assert_eq!(b.levels.values().sum::<u64>(), b.count, "{b:?}");
        assert!(b.levels.values().all(|n| *n > 0), "only levels with records: {b:?}");
        assert_eq!(b.levels.get("ERROR").copied().unwrap_or(0), b.error_count, "{b:?}");
        for (l, n) in &b.levels {
            *totals.entry(l.clone()).or_default() += n;
        }
    }
    assert_eq!(totals, got.levels);
    assert_eq!(
        totals,
        BTreeMap::from([
            ("DEBUG".to_owned(), 30),
            ("INFO".to_owned(), 30),
            ("WARN".to_owned(), 30),
            ("ERROR".to_owned(), 30)
        ])
    );
    store.close().await.unwrap();
}

async fn percentiles_on_a_known_distribution(b: &dyn Backend) {
    let store = b.open().await;
    let mut records: Vec<LogRecord> = (1..=100)
        .map(|ms| {
            norm(RawLog {
                response_time_ms: Some(f64::from(ms)),
                ..raw("timed", &format!("rt {ms}"), T0 + i64::from(ms))
            })
        })
        .collect();
    records.extend(plain("untimed", 10, T0));
    indexed(&*store, &records).await;
    let req =
        StatsRequest { include_percentiles: true, ..StatsRequest::default() }.validated().unwrap();
    let got = store.stats(&req).await.unwrap();
    let p = &got.response_time_percentiles["timed"];
    assert_eq!(p.count, 100);
    for (name, value, want) in [("p50", p.p50, 50.0), ("p95", p.p95, 95.0), ("p99", p.p99, 99.0)] {
        assert!((value - want).abs() <= 2.0, "{name} = {value}, want about {want}");
    }
    assert!(got.response_time_percentiles.get("untimed").is_none_or(|p| p.count == 0));
    store.close().await.unwrap();
}

async fn subscribers_receive_committed_records(b: &dyn Backend) {
    let store = b.open().await;
    let mut rx = store.subscribe();
    let records = plain("tail", 3, T0);
    indexed(&*store, &records).await;
    let mut seen = Vec::new();
    while seen.len() < records.len() {
        let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a batch")
            .expect("not closed");
        seen.extend(ids(&batch));
    }
    assert_eq!(seen, ids(&records), "in commit order");
    store.close().await.unwrap();
}

async fn searchable_without_refresh(b: &dyn Backend) {
    let store = b.open().await;
    let records = plain("soon", 4, T0);
    index(&*store, &records).await;
    // Not a speed check: the records must show up without `refresh`.
    for _ in 0..60 {
        if search(&*store, Filter::default(), Sort::NewestFirst, 10).await.total == 4 {
            return store.close().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("records not searchable 3 s after index() without refresh");
}

async fn concurrent_batches_all_land(b: &dyn Backend) {
    let store = b.open().await;
    let tasks: Vec<_> = (0..20)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move { store.index(plain(&format!("svc-{t}"), 50, T0)).await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_empty());
    }
    store.refresh().await.unwrap();
    assert_eq!(search(&*store, Filter::default(), Sort::NewestFirst, 1).await.total, 1000);
    store.close().await.unwrap();
}

async fn restart_keeps_data(b: &dyn Backend) {
    let store = b.open().await;
    let records = varied();
    index(&*store, &records).await;
    store.close().await.unwrap();
    let store = b.open().await;
    let got = search(&*store, Filter::default(), Sort::OldestFirst, 1000).await;
    assert_eq!(got.logs, records);
    // New records after a restart sort and page correctly with the old ones.
    let more = plain("later", 30, T0);
    indexed(&*store, &more).await;
    let all = walk(&*store, &Filter::default(), Sort::NewestFirst, 7).await;
    assert_eq!(all.len(), records.len() + more.len());
    store.close().await.unwrap();
}

async fn acknowledged_records_survive_a_crash(b: &dyn Backend) {
    let store = b.open_with(no_background_commits()).await;
    let committed = plain("before", 20, T0);
    indexed(&*store, &committed).await;
    let acknowledged = plain("after", 30, T0 + 100_000);
    index(&*store, &acknowledged[..10]).await;
    index(&*store, &acknowledged[10..]).await;
    b.crash(store).await;
    let store = b.open().await;
    let got = walk(&*store, &Filter::default(), Sort::OldestFirst, 16).await;
    let want = sorted([committed, acknowledged].concat(), Sort::OldestFirst);
    assert_eq!(ids(&got), ids(&want), "every acknowledged record once");
    store.close().await.unwrap();
}

async fn closed_store_refuses_calls(b: &dyn Backend) {
    let store = b.open().await;
    let health = store.health().await;
    assert!(health.healthy, "{health:?}");
    assert!(!health.detail.is_empty());
    let mut rx = store.subscribe();
    store.close().await.unwrap();
    let end =
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("the stream ends");
    assert!(matches!(end, Err(tokio::sync::broadcast::error::RecvError::Closed)), "{end:?}");
    assert!(matches!(store.index(plain("a", 1, T0)).await, Err(Error::Closed)));
    let req = SearchRequest::new(Filter::default(), Sort::default(), None, None, None).unwrap();
    assert!(matches!(store.search(&req).await, Err(Error::Closed)));
    assert!(matches!(store.stats(&StatsRequest::default()).await, Err(Error::Closed)));
    assert!(matches!(store.refresh().await, Err(Error::Closed)));
    assert!(matches!(store.close().await, Err(Error::Closed)));
    assert!(!store.health().await.healthy);
}

/// Attributes come back as sent (types kept) and filter by exact value as
/// text, ANDed, on dotted keys, numbers and booleans included.
/// Request and trace ids in every form a sender uses filter exactly and
/// come back exactly: lowercase and capital UUIDs, 32-digit hex in either
/// case, free text, and ids that share their low 64 bits (UUIDs of version
/// 1 from one host share clock sequence and node).
async fn ids_of_every_form_filter_exactly(b: &dyn Backend) {
    let store = b.open().await;
    let request_ids = [
        "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
        "6BA7B812-9DAD-11D1-80B4-00C04FD430C8",
        "req-42",
        "0af7651916cd43dd8448eb211c80319c",
        "0AF7651916CD43DD8448EB211C80319D",
    ];
    let trace_ids = [
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "5bf92f3577b34da6a3ce929d0e0e4736",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "8fadc1a6-06cb-4fb3-9a1d-e644815ef6d1",
        "trace-x",
        "4bf92f3577b34da6a3ce929d0e0e4737",
    ];
    let records: Vec<LogRecord> = (0..6)
        .map(|i| {
            norm(RawLog {
                request_id: Some(request_ids[i].into()),
                trace_id: Some(trace_ids[i].into()),
                span_id: Some(format!("00f067aa0ba902b{i}")),
                ..raw("ids", &format!("id form {i}"), T0 + i as i64 * 1000)
            })
        })
        .collect();
    indexed(store.as_ref(), &records).await;
    let got = search(store.as_ref(), Filter::default(), Sort::OldestFirst, 100).await;
    assert_eq!(got.logs, records, "ids come back exactly");
    for (i, id) in request_ids.iter().enumerate() {
        let f = Filter { request_id: Some((*id).into()), ..Filter::default() };
        let got = search(store.as_ref(), f, Sort::OldestFirst, 100).await;
        assert_eq!(got.logs, [records[i].clone()], "request_id {id}");
    }
    for id in trace_ids {
        let f = Filter { trace_id: Some(id.into()), ..Filter::default() };
        let got = search(store.as_ref(), f, Sort::OldestFirst, 100).await;
        let want: Vec<_> =
            records.iter().filter(|r| r.trace_id.as_deref() == Some(id)).cloned().collect();
        assert_eq!(got.logs, want, "trace_id {id}");
    }
    store.close().await.unwrap();
}

async fn attributes_round_trip_and_filter(b: &dyn Backend) {
    let store = b.open().await;
    let attrs = |ns: &str, pod: &str, retries: i64, canary: bool| {
        serde_json::json!({"k8s": {"namespace": ns, "pod": {"name": pod}}, "retries": retries,
            "canary": canary, "ratio": 0.25, "log.file.path": "/var/log/app.log"})
        .as_object()
        .cloned()
        .unwrap()
    };
    let records: Vec<LogRecord> = (0..12)
        .map(|i| {
            norm(RawLog {
                attributes: Some(attrs(
                    ["prod", "staging"][i % 2],
                    &format!("api-{}", i % 3),
                    (i % 4) as i64,
                    i % 5 == 0,
                )),
                ..raw("attrs", &format!("with attributes {i}"), T0 + i as i64 * 1000)
            })
        })
        .collect();
    indexed(store.as_ref(), &records).await;
    let got = search(store.as_ref(), Filter::default(), Sort::OldestFirst, 100).await;
    assert_eq!(got.logs, records, "attributes come back exactly, typed");
    assert_eq!(got.logs[3].attributes["retries"], loglens_core::AttrValue::Int(3));
    let check = |pairs: &[(&str, &str)]| {
        let f = Filter {
            attributes: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Filter::default()
        };
        let want: Vec<String> =
            records.iter().filter(|r| f.matches(r)).map(|r| r.id.clone()).collect();
        (f, want)
    };
    for pairs in [
        &[("k8s.namespace", "prod")][..],
        &[("k8s.pod.name", "api-1")],
        &[("k8s.namespace", "staging"), ("k8s.pod.name", "api-2")],
        &[("retries", "3")],
        &[("canary", "true")],
        &[("ratio", "0.25"), ("retries", "0")],
        &[("log.file.path", "/var/log/app.log")],
        &[("k8s.namespace", "PROD")],
        &[("missing", "x")],
    ] {
        let (f, want) = check(pairs);
        let got = search(store.as_ref(), f, Sort::OldestFirst, 100).await;
        assert_eq!(ids(&got.logs), want, "{pairs:?}");
    }
    let (_, prod) = check(&[("k8s.namespace", "prod")]);
    assert_eq!(prod.len(), 6, "the filter oracle itself selects");
}

/// Ten thousand distinct attribute keys in one batch are all taken and each
/// is searchable: no per-key mapping to run out of.
async fn many_distinct_attribute_keys_are_taken(b: &dyn Backend) {
    let store = b.open().await;
    let records: Vec<LogRecord> = (0..100)
        .map(|i| {
            let map: serde_json::Map<String, serde_json::Value> =
                (0..100).map(|j| (format!("key.{i}.{j}"), serde_json::json!(j))).collect();
            norm(RawLog { attributes: Some(map), ..raw("wide", "wide", T0 + i * 1000) })
        })
        .collect();
    indexed(store.as_ref(), &records).await;
    let got = search(store.as_ref(), Filter::default(), Sort::OldestFirst, 100).await;
    assert_eq!(got.total, 100);
    let f = Filter { attributes: vec![("key.42.7".into(), "7".into())], ..Filter::default() };
    let got = search(store.as_ref(), f, Sort::OldestFirst, 100).await;
    assert_eq!(ids(&got.logs), vec![records[42].id.clone()]);
}

// ---------------------------------------------------------------- tenants

/// Records of tenants "a" and "b" (`varied_with_attributes()`, three in a
/// row to one tenant, then three to the other, so each has every service
/// and level), a few of the default tenant, a "timed" service whose
/// response times differ by tenant, and one record whose content both "a"
/// and "b" sent (two ids, two records).
fn two_tenants() -> Vec<LogRecord> {
    let mut records: Vec<LogRecord> = varied_with_attributes()
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            r.assign_tenant(if (i / 3) % 2 == 0 { "a" } else { "b" });
            r
        })
        .collect();
    for (tenant, base) in [("a", 1.0), ("b", 1000.0)] {
        for ms in 0..20 {
            let mut r = norm(RawLog {
                response_time_ms: Some(base + f64::from(ms)),
                ..raw("timed", &format!("timed {tenant} {ms}"), T0 + 200_000 + i64::from(ms))
            });
            r.assign_tenant(tenant);
            records.push(r);
        }
    }
    records.extend(plain("nobody", 3, T0 + 300_000));
    let same = norm(RawLog {
        level: Some("ERROR".into()),
        status_code: Some(503),
        ..raw("payment-service", "shared timeout payment", T0 + 60_500)
    });
    for tenant in ["a", "b"] {
        let mut r = same.clone();
        r.assign_tenant(tenant);
        records.push(r);
    }
    records
}

fn of(tenant: &str) -> Filter {
    Filter { tenant: Some(tenant.into()), ..Filter::default() }
}

/// Search, full text, field filters and anomalies with a tenant return that
/// tenant's records only; without a tenant, everybody's.
async fn tenants_never_see_each_others_records(b: &dyn Backend) {
    let store = b.open().await;
    let records = two_tenants();
    indexed(&*store, &records).await;
    let same: Vec<&LogRecord> =
        records.iter().filter(|r| r.message == "shared timeout payment").collect();
    assert_eq!(same.len(), 2);
    assert_ne!(same[0].id, same[1].id, "one content, two tenants, two ids");

    let everybody = search(&*store, Filter::default(), Sort::OldestFirst, 1000).await;
    assert_eq!(everybody.total, records.len() as u64, "no tenant: every tenant's records");
    assert_eq!(
        ids(&everybody.logs).into_iter().collect::<HashSet<_>>(),
        ids(&records).into_iter().collect::<HashSet<_>>()
    );

    let attr = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
    for tenant in ["a", "b", "default"] {
        let filters = [
            of(tenant),
            Filter { query: Some("timeout".into()), ..of(tenant) },
            Filter { query: Some("shared payment".into()), ..of(tenant) },
            Filter { service_name: Some("payment-service".into()), ..of(tenant) },
            Filter { level: Some(Level::Error), ..of(tenant) },
            Filter { status_code: loglens_core::StatusCode::new(503).ok(), ..of(tenant) },
            Filter { request_id: Some("req-3".into()), ..of(tenant) },
            Filter { trace_id: Some("trace-1".into()), ..of(tenant) },
            Filter { attributes: attr("region", "eu"), ..of(tenant) },
            Filter { anomaly: Some(true), ..of(tenant) },
            Filter {
                from_timestamp: Some(T0 + 30_000),
                to_timestamp: Some(T0 + 90_000),
                ..of(tenant)
            },
        ];
        for filter in filters {
            let want = sorted(
                records.iter().filter(|r| filter.matches(r)).cloned().collect(),
                Sort::NewestFirst,
            );
            let got = search(&*store, filter.clone(), Sort::NewestFirst, 1000).await;
            assert!(got.logs.iter().all(|r| r.tenant == tenant), "{filter:?}: {:?}", got.logs);
            assert_eq!(ids(&got.logs), ids(&want), "{filter:?}");
            assert_eq!(got.total, want.len() as u64, "{filter:?}");
        }
        // The anomalies view: by severity, anomalies only.
        let req = SearchRequest::anomalies(of(tenant), None, Some(1000), None).unwrap();
        let got = store.search(&req).await.unwrap();
        let want = sorted(
            records.iter().filter(|r| r.anomaly && r.tenant == tenant).cloned().collect(),
            Sort::Severity,
        );
        assert_eq!(ids(&got.logs), ids(&want), "anomalies of {tenant}");
        assert_eq!(got.total, want.len() as u64, "anomalies of {tenant}");
    }
    // The record both sent: each sees its own copy.
    let a = search(&*store, Filter { query: Some("shared".into()), ..of("a") }, Sort::Severity, 10)
        .await;
    assert_eq!(a.logs.len(), 1);
    assert_eq!((a.logs[0].tenant.as_str(), &a.logs[0].message), ("a", &same[0].message));
    let unknown = search(&*store, of("c"), Sort::NewestFirst, 10).await;
    assert_eq!((unknown.total, unknown.logs.len()), (0, 0), "a tenant with no records sees none");
    store.close().await.unwrap();
}

/// Stats with a tenant count that tenant's records only: totals, counts per
/// service and level, histogram buckets and their levels, percentiles.
async fn tenant_stats_count_only_the_tenants_records(b: &dyn Backend) {
    let store = b.open().await;
    let records = two_tenants();
    indexed(&*store, &records).await;
    for tenant in ["a", "b"] {
        for filter in [
            of(tenant),
            Filter { query: Some("timeout".into()), ..of(tenant) },
            Filter { service_name: Some("auth-service".into()), ..of(tenant) },
            Filter { level: Some(Level::Error), ..of(tenant) },
            Filter { attributes: vec![("region".into(), "us".into())], ..of(tenant) },
        ] {
            check_filtered_stats(&*store, &records, filter).await;
        }
    }
    check_filtered_stats(&*store, &records, of("default")).await;
    let req = StatsRequest { include_percentiles: true, ..StatsRequest::default() };
    let everybody = store.stats(&req.clone().validated().unwrap()).await.unwrap();
    assert_eq!(everybody.response_time_percentiles["timed"].count, 40);
    for (tenant, lo, hi) in [("a", 1.0, 20.0), ("b", 1000.0, 1019.0)] {
        let req = StatsRequest { filter: of(tenant), ..req.clone() }.validated().unwrap();
        let got = store.stats(&req).await.unwrap();
        let p = &got.response_time_percentiles["timed"];
        assert_eq!(p.count, 20, "{tenant}");
        for v in [p.p50, p.p95, p.p99] {
            assert!(v >= lo * 0.98 && v <= hi * 1.02, "{tenant}: {v} outside {lo}..{hi}");
        }
        let want = expected_stats(&records, &req);
        assert_eq!(got.total_logs, want.total_logs, "{tenant}");
        assert_eq!(got.services, want.services, "{tenant}");
        for (service, p) in &got.response_time_percentiles {
            let timed = records
                .iter()
                .filter(|r| {
                    r.tenant == tenant && &r.service_name == service && r.response_time_ms.is_some()
                })
                .count() as u64;
            assert_eq!(p.count, timed, "{tenant}: {service}");
        }
    }
    store.close().await.unwrap();
}

/// A cursor made while paging tenant "b", given with tenant "a", continues
/// "a"'s records from that position and shows none of "b"'s.
async fn a_cursor_continues_only_the_callers_tenant(b: &dyn Backend) {
    let store = b.open().await;
    let records = two_tenants();
    indexed(&*store, &records).await;
    for sort in [Sort::NewestFirst, Sort::OldestFirst, Sort::Severity] {
        let first = search(&*store, of("b"), sort, 5).await;
        assert!(first.logs.iter().all(|r| r.tenant == "b"));
        let last = first.logs.last().expect("b has records").clone();
        let mut cursor = first.next_cursor;
        let mut got = Vec::new();
        while let Some(c) = cursor.take() {
            let page = try_search(&*store, of("a"), sort, None, 7, Some(c)).await.expect("page");
            got.extend(page.logs);
            cursor = page.next_cursor;
        }
        assert!(got.iter().all(|r| r.tenant == "a"), "{sort:?}: only a's records");
        // Where b's last record sat in the order; a record of a's with the
        // same sort values may fall either side of it (the tie-breaker).
        let key = |r: &LogRecord| match sort {
            Sort::NewestFirst => (0, -r.timestamp),
            Sort::OldestFirst => (0, r.timestamp),
            Sort::Severity => (-i64::from(r.severity_score), -r.timestamp),
        };
        let want: HashSet<String> = records
            .iter()
            .filter(|r| r.tenant == "a" && key(r) > key(&last))
            .map(|r| r.id.clone())
            .collect();
        assert!(!want.is_empty(), "{sort:?}");
        assert!(got.iter().all(|r| key(r) >= key(&last)), "{sort:?}: nothing before the position");
        let past: HashSet<String> =
            got.iter().filter(|r| key(r) > key(&last)).map(|r| r.id.clone()).collect();
        assert_eq!(past, want, "{sort:?}: a's records after b's position, each once");
        assert_eq!(got.len(), ids(&got).into_iter().collect::<HashSet<_>>().len(), "{sort:?}");
    }
    store.close().await.unwrap();
}

/// Runs every contract case against each backend, each case on a fresh
/// location: one test module per backend.
macro_rules! contract {
    ([$($module:ident => $backend:expr),* $(,)?], $cases:tt) => {
        $( contract!(@one $module, $backend, $cases); )*
    };
    (@one $module:ident, $backend:expr, [$($case:ident),* $(,)?]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = $backend;
                    super::$case(&backend).await;
                }
            )*
        }
    };
}

contract!(
    [
        tantivy_contract => super::TantivyBackend::new(),
        hybrid_contract => super::HybridBackend::new(),
        elastic_contract => super::ElasticBackend::start().await,
    ],
    [
        search_returns_exact_records,
        each_filter_selects_its_records,
        full_text_needs_every_word,
        sort_orders,
        total_counts_all_matches_not_the_page,
        pages_by_offset,
        cursor_walk_visits_each_record_once_in_order,
        time_pages_over_an_uneven_spread,
        bad_cursor_is_rejected,
        upsert_by_id,
        anomalies_by_severity,
        stats_counts,
        histogram_buckets,
        stats_with_full_text,
        stats_with_a_level_filter,
        stats_with_an_attribute_filter,
        histogram_levels_sum_to_the_bucket_count,
        percentiles_on_a_known_distribution,
        subscribers_receive_committed_records,
        searchable_without_refresh,
        concurrent_batches_all_land,
        restart_keeps_data,
        acknowledged_records_survive_a_crash,
        closed_store_refuses_calls,
        attributes_round_trip_and_filter,
        ids_of_every_form_filter_exactly,
        many_distinct_attribute_keys_are_taken,
        tenants_never_see_each_others_records,
        tenant_stats_count_only_the_tenants_records,
        a_cursor_continues_only_the_callers_tenant,
    ]
);

// ---------------------------------------------------------------- Elasticsearch

mod fake_es;

use loglens_store::elastic::{ElasticConfig, ElasticStore};

/// An index prefix on the fake cluster of `fake_es`: the same backend code
/// and HTTP client as against a real cluster, the cluster's side simulated.
struct ElasticBackend {
    es: fake_es::FakeEs,
}

impl ElasticBackend {
    async fn start() -> ElasticBackend {
        ElasticBackend { es: fake_es::FakeEs::start().await }
    }
}

/// Client settings with test-sized waits.
fn fast() -> ElasticConfig {
    ElasticConfig {
        request_timeout: Duration::from_secs(10),
        retry_for: Duration::from_secs(2),
        first_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        connect_for: Duration::from_secs(2),
    }
}

#[async_trait]
impl Backend for ElasticBackend {
    async fn open_with(&self, options: StoreOptions) -> Arc<dyn LogStore> {
        Arc::new(ElasticStore::open_with(&self.es.url(), options, fast()).await.expect("open"))
    }

    /// The cluster keeps what it acknowledged; the client holds nothing back.
    async fn crash(&self, store: Arc<dyn LogStore>) {
        drop(store);
    }
}

// ---------------------------------------------------------------- embedded

use loglens_store::hybrid::HybridStore;
use loglens_store::tantivy::TantivyStore;

/// A store kept in a local directory: opened there, and stopped as a
/// crash would leave it.
#[async_trait]
trait Embedded: LogStore + Sized + 'static {
    async fn open_in(dir: &std::path::Path, options: StoreOptions) -> Self;
    async fn stop_as_a_crash(&self);
}

#[async_trait]
impl Embedded for TantivyStore {
    async fn open_in(dir: &std::path::Path, options: StoreOptions) -> Self {
        TantivyStore::open(dir, options).await.expect("open")
    }

    async fn stop_as_a_crash(&self) {
        self.abort().await.expect("abort");
    }
}

#[async_trait]
impl Embedded for HybridStore {
    async fn open_in(dir: &std::path::Path, options: StoreOptions) -> Self {
        HybridStore::open(dir, options).await.expect("open")
    }

    async fn stop_as_a_crash(&self) {
        self.abort().await.expect("abort");
    }
}

/// An embedded store of type `S` in a temporary directory.
struct EmbeddedBackend<S> {
    dir: tempfile::TempDir,
    /// The stores opened here, so `crash` can reach the concrete type.
    open: Mutex<Vec<Arc<S>>>,
}

impl<S> EmbeddedBackend<S> {
    fn new() -> EmbeddedBackend<S> {
        EmbeddedBackend { dir: tempfile::tempdir().unwrap(), open: Mutex::new(Vec::new()) }
    }
}

#[async_trait]
impl<S: Embedded> Backend for EmbeddedBackend<S> {
    async fn open_with(&self, options: StoreOptions) -> Arc<dyn LogStore> {
        let store = Arc::new(S::open_in(self.dir.path(), options).await);
        self.open.lock().unwrap().push(store.clone());
        store
    }

    async fn crash(&self, store: Arc<dyn LogStore>) {
        drop(store);
        let store = self.open.lock().unwrap().pop().expect("an open store");
        store.stop_as_a_crash().await;
    }
}

type HybridBackend = EmbeddedBackend<HybridStore>;
type TantivyBackend = EmbeddedBackend<TantivyStore>;

impl TantivyBackend {
    fn wal_files(&self) -> Vec<std::path::PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path().join("wal"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "wal"))
            .collect();
        files.sort();
        files
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tantivy_uncommitted_records_come_back_from_the_wal() {
    let b = TantivyBackend::new();
    let store = b.open_with(no_background_commits()).await;
    let records = plain("wal", 10, T0);
    index(&*store, &records).await;
    let before = search(&*store, Filter::default(), Sort::OldestFirst, 100).await;
    assert_eq!(before.total, 0, "not committed: the records are only in the WAL");
    b.crash(store).await;
    let store = b.open().await;
    let after = search(&*store, Filter::default(), Sort::OldestFirst, 100).await;
    assert_eq!(after.logs, records);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tantivy_torn_wal_tail_keeps_good_records() {
    let b = TantivyBackend::new();
    let store = b.open_with(no_background_commits()).await;
    let records = plain("torn", 40, T0);
    index(&*store, &records).await;
    b.crash(store).await;
    let last = b.wal_files().pop().expect("a wal segment");
    let good_len = std::fs::metadata(&last).unwrap().len();
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(&[0x20, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, b'[', b'{']);
    std::fs::write(&last, bytes).unwrap();
    let store = b.open().await;
    let got = search(&*store, Filter::default(), Sort::OldestFirst, 100).await;
    assert_eq!(got.logs, records);
    assert!(
        std::fs::metadata(&last).map_or(true, |m| m.len() <= good_len),
        "torn tail cut off or segment removed"
    );
    index(&*store, &plain("after", 5, T0)).await;
    store.close().await.unwrap();
    let store = b.open().await;
    assert_eq!(search(&*store, Filter::default(), Sort::OldestFirst, 1).await.total, 45);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tantivy_commits_trim_the_wal_and_health_counts_documents() {
    let b = TantivyBackend::new();
    let store = b.open().await;
    indexed(&*store, &plain("a", 3, T0)).await;
    store.close().await.unwrap();
    let store = b.open().await;
    assert_eq!(b.wal_files().len(), 1, "covered segments are deleted, the active one stays");
    let health = store.health().await;
    assert_eq!((health.healthy, health.detail.as_str()), (true, "3 documents"));
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tantivy_second_open_of_a_directory_is_refused() {
    let b = TantivyBackend::new();
    let store = b.open().await;
    let e = TantivyStore::open(b.dir.path(), options()).await.unwrap_err();
    assert!(matches!(e, Error::Config(ref m) if m.contains("already open")), "{e:?}");
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tantivy_index_of_another_schema_is_refused_with_advice() {
    // Before 2026-11-26 `id` was a text field: such an index must not be
    // opened (and written to) with today's schema.
    let b = TantivyBackend::new();
    let index_dir = b.dir.path().join("index");
    std::fs::create_dir_all(&index_dir).unwrap();
    let mut old = tantivy::schema::Schema::builder();
    old.add_text_field("id", tantivy::schema::STRING);
    tantivy::Index::create_in_dir(&index_dir, old.build()).unwrap();
    let e = TantivyStore::open(b.dir.path(), options()).await.unwrap_err();
    assert!(
        matches!(e, Error::Config(ref m) if m.contains("schema differs") && m.contains("move it away")),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tantivy_open_by_url() {
    let b = TantivyBackend::new();
    let url = format!("tantivy://{}", b.dir.path().display());
    let store = loglens_store::open(&url, options()).await.unwrap();
    indexed(&*store, &plain("url", 2, T0)).await;
    assert_eq!(search(&*store, Filter::default(), Sort::NewestFirst, 10).await.total, 2);
    store.close().await.unwrap();
    // A plain path opens a new directory as a hybrid store, but one that
    // already holds a Tantivy store's index (made before the hybrid became
    // the default) as the Tantivy store it is, records and all.
    let store = loglens_store::open(b.dir.path().to_str().unwrap(), options()).await.unwrap();
    assert_eq!(store.backend(), "tantivy");
    assert_eq!(search(&*store, Filter::default(), Sort::NewestFirst, 10).await.total, 2);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tantivy_stats_state_empty_buckets_are_omitted() {
    let b = TantivyBackend::new();
    let store = b.open().await;
    indexed(&*store, &[norm(raw("a", "one", T0)), norm(raw("a", "two", T0 + 10 * 60_000))]).await;
    let req = StatsRequest { histogram_interval_ms: Some(60_000), ..StatsRequest::default() }
        .validated()
        .unwrap();
    let got = store.stats(&req).await.unwrap();
    assert_eq!(
        got.histogram.iter().map(|b| (b.start, b.count)).collect::<Vec<_>>(),
        [(T0, 1), (T0 + 600_000, 1)]
    );
    let by_level: BTreeMap<String, u64> = got.levels;
    assert_eq!(by_level, BTreeMap::from([("INFO".to_owned(), 2)]));
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_store_refuses_blocks_of_an_older_format() {
    let b = HybridBackend::new();
    let store = b.open_with(options()).await;
    // One block of 4,096 sealed, then a few open records in a later
    // segment of the log, which is trimmed of the block's.
    let records = plain("old", 4_106, T0);
    indexed(&*store, &records[..4_096]).await;
    indexed(&*store, &records[4_096..]).await;
    store.close().await.unwrap();
    let blocks: Vec<std::path::PathBuf> = std::fs::read_dir(b.dir.path().join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "block"))
        .collect();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    // Version 1 wrote no per-group counts; the version byte is outside the
    // checksum.
    let mut bytes = std::fs::read(&blocks[0]).unwrap();
    bytes[4] = 1;
    std::fs::write(&blocks[0], bytes).unwrap();
    let e = HybridStore::open(b.dir.path(), options()).await.unwrap_err();
    assert!(e.to_string().contains("block format version 1, this build reads 5"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_open_by_url() {
    let b = HybridBackend::new();
    let url = format!("hybrid://{}", b.dir.path().display());
    let store = loglens_store::open(&url, options()).await.expect("open");
    assert_eq!(store.backend(), "hybrid");
    let records = plain("url", 3, T0);
    indexed(&*store, &records).await;
    assert_eq!(search(&*store, Filter::default(), Sort::OldestFirst, 10).await.total, 3);
    store.close().await.unwrap();
    // A plain path opens it as the hybrid store it is (the default)...
    let dir = b.dir.path().to_str().unwrap();
    let store = loglens_store::open(dir, options()).await.expect("open as a plain path");
    assert_eq!(store.backend(), "hybrid");
    assert_eq!(search(&*store, Filter::default(), Sort::OldestFirst, 10).await.total, 3);
    store.close().await.unwrap();
    // ...and the Tantivy store refuses it, naming the URL to use.
    let Err(e) = loglens_store::open(&format!("tantivy://{dir}"), options()).await else {
        panic!("the Tantivy store opened a hybrid store's directory");
    };
    assert!(e.to_string().contains("hybrid://"), "{e}");
}
