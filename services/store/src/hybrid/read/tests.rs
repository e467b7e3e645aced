//! The read path against two references on the same records: the filter's
//! own semantics (`Filter::matches`, sorted by (severity,) timestamp, seq)
//! and the Tantivy store's search and stats over an index of the same
//! records with the same seqs. Varied records in blocks of 64 (so there
//! are many), some deleted (one block wholly), some in the open block,
//! timestamps out of arrival order and often equal.

use std::collections::{BTreeMap, HashSet};

use loglens_core::tenant::DEFAULT_TENANT;
use loglens_core::{
    AttrValue, Attributes, Filter, Level, LogRecord, SearchRequest, SearchResult, Sort,
    StatsRequest, StatusCode,
};
use roaring::RoaringTreemap;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, Searcher};

use super::super::postings::message_analyzer;
use super::super::snapshot::{Snapshot, in_memory};
use super::select::postings_decide;
use super::{search, stats};
use crate::Error;
use crate::tantivy::schema::{Fields, id_key};
use crate::tantivy::stats::StatsCache;

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;
const FIRST_SEQ: u64 = 1_000;
const RECORDS: usize = 3_000;
const BLOCK_ROWS: usize = 64;
const OPEN_ROWS: usize = 70;

/// A small deterministic generator (xorshift*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize].clone()
    }
}

/// Record `i`: arrival about 250 ms after the previous one but its
/// timestamp up to 20 s off and cut to whole seconds, so timestamps go
/// back and forth and many are equal; few severities, so they tie too.
fn record(g: &mut Rng, i: usize) -> LogRecord {
    let at = T0 + i as i64 * 250 + g.below(20_000) as i64;
    let timestamp = at - at % 1000;
    let words = ["timeout", "user", "payment", "declined", "Retry", "ok", "Ünïcode"];
    let mut r = LogRecord {
        id: format!("client-{i}"),
        timestamp,
        service_name: g.pick(&["api-gateway", "auth", "billing", "search", "サービス"]).to_owned(),
        level: g.pick(&Level::ALL),
        message: format!(
            "{} {} {} #{i}",
            g.pick(&words),
            g.pick(&words).to_uppercase(),
            g.pick(&words)
        ),
        status_code: g.chance(70).then(|| StatusCode::new(g.pick(&[200, 201, 404, 503])).unwrap()),
        request_id: g.chance(80).then(|| match g.below(5) {
            0 => format!("req-{}", g.below(200)),
            1 => {
                let h = format!("{:016x}{:016x}", g.next(), g.next());
                format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
            }
            2 => format!("{:016X}{:016X}", g.next(), g.next()),
            _ => format!("{:016x}{:016x}", g.next(), g.next()),
        }),
        user_id: g.chance(60).then(|| format!("u-{}", g.below(50))),
        response_time_ms: match g.below(6) {
            0 => None,
            1 => Some(0.0),
            2 => Some(g.below(5_000) as f64),
            _ => Some(g.below(10_000_000) as f64 / 1000.0),
        },
        error_code: g.chance(20).then(|| g.pick(&["E_TIMEOUT", "PAYMENT_DECLINED"]).to_owned()),
        tags: (0..g.below(4)).map(|_| g.pick(&["web", "beta", "ß-tag", "db"]).to_owned()).collect(),
        host: g.chance(90).then(|| format!("node-{}", g.below(12))),
        trace_id: g.chance(50).then(|| match g.below(3) {
            0 => format!("trace-{}", g.below(100)),
            _ => format!("{:016x}{:016x}", g.next(), g.next()),
        }),
        span_id: g.chance(40).then(|| format!("{:016x}", g.next())),
        anomaly: false,
        severity_score: 0,
        anomaly_reasons: Vec::new(),
        attributes: Attributes::new(),
        ingested_at: at + 5_000,
        tenant: match g.below(4) {
            0 => "acme".to_owned(),
            1 => "globex".to_owned(),
            _ => DEFAULT_TENANT.to_owned(),
        },
    };
    // Four blocks of one tenant and one service, which their headers
    // decide, and four of two.
    if (16 * BLOCK_ROWS..20 * BLOCK_ROWS).contains(&i) {
        r.tenant = "acme".to_owned();
        r.service_name = "auth".to_owned();
    }
    if (24 * BLOCK_ROWS..28 * BLOCK_ROWS).contains(&i) {
        r.tenant = g.pick(&["acme", "globex"]).to_owned();
        r.service_name = g.pick(&["auth", "billing"]).to_owned();
    }
    if g.chance(15) {
        r.anomaly = true;
        r.severity_score = g.pick(&[30, 60, 90, 100]);
        r.anomaly_reasons =
            (0..1 + g.below(2)).map(|_| g.pick(&["slow", "error_burst"]).to_owned()).collect();
    }
    for _ in 0..g.below(4) {
        let (k, v) = match g.below(5) {
            0 => ("k8s.pod", AttrValue::Str(format!("pod-{}", g.below(8)))),
            1 => ("retries", AttrValue::Int(g.pick(&[0, 3, -7]))),
            2 => ("ratio", AttrValue::Float(g.pick(&[0.25, 3.0, -1.5]))),
            3 => ("cached", AttrValue::Bool(g.chance(50))),
            _ => (
                "mixed",
                g.pick(&[AttrValue::Int(1), AttrValue::Str("1".into()), AttrValue::Bool(true)]),
            ),
        };
        r.attributes.insert(k.to_owned(), v);
    }
    r
}

struct Fixture {
    records: Vec<LogRecord>,
    deleted: RoaringTreemap,
    snap: Snapshot,
    analyzer: TextAnalyzer,
    /// The Tantivy store's index of the live records, same seqs.
    tantivy: Searcher,
    fields: Fields,
    tantivy_analyzer: TextAnalyzer,
}

fn fixture() -> Fixture {
    let mut g = Rng(0x5eed_1234_abcd_0001);
    let records: Vec<LogRecord> = (0..RECORDS).map(|i| record(&mut g, i)).collect();
    let seq = |i: usize| FIRST_SEQ + i as u64;
    // Blocks from 2,000 on have none but the open block's.
    let mut deleted: RoaringTreemap = (0..2_000).filter(|i| i % 13 == 5).map(seq).collect();
    // Block 5 wholly, and some open rows.
    deleted.extend((5 * BLOCK_ROWS..6 * BLOCK_ROWS).map(seq));
    deleted.extend([RECORDS - 1, RECORDS - 10, RECORDS - OPEN_ROWS].map(seq));
    let snap = in_memory(&records, FIRST_SEQ, BLOCK_ROWS, OPEN_ROWS, deleted.clone());
    let analyzer = message_analyzer();

    let (schema, fields) = Fields::build();
    let index = Index::create_in_ram(schema);
    let mut w: tantivy::IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
    for (i, r) in records.iter().enumerate() {
        if !deleted.contains(seq(i)) {
            w.add_document(fields.document(r, seq(i), id_key(&r.id))).unwrap();
        }
        if i % 700 == 699 {
            w.commit().unwrap();
        }
    }
    w.commit().unwrap();
    let tantivy = index.reader().unwrap().searcher();
    let tantivy_analyzer = index.tokenizer_for_field(fields.message).unwrap();
    Fixture { records, deleted, snap, analyzer, tantivy, fields, tantivy_analyzer }
}

impl Fixture {
    /// The live records `filter` selects, in `sort` order.
    fn expected(&self, filter: &Filter, sort: Sort) -> Vec<LogRecord> {
        let mut hits: Vec<(u64, &LogRecord)> = (0..RECORDS)
            .map(|i| (FIRST_SEQ + i as u64, &self.records[i]))
            .filter(|(seq, r)| !self.deleted.contains(*seq) && filter.matches(r))
            .collect();
        match sort {
            Sort::NewestFirst => hits.sort_by_key(|(s, r)| std::cmp::Reverse((r.timestamp, *s))),
            Sort::OldestFirst => hits.sort_by_key(|(s, r)| (r.timestamp, *s)),
            Sort::Severity => {
                hits.sort_by_key(|(s, r)| std::cmp::Reverse((r.severity_score, r.timestamp, *s)))
            }
        }
        hits.into_iter().map(|(_, r)| r.clone()).collect()
    }

    fn hybrid(&self, req: &SearchRequest) -> crate::Result<SearchResult> {
        search(&self.snap, &mut self.analyzer.clone(), req)
    }

    fn tantivy(&self, req: &SearchRequest) -> crate::Result<SearchResult> {
        crate::tantivy::query::search(
            &self.tantivy,
            &self.fields,
            self.tantivy_analyzer.clone(),
            req,
        )
    }
}

fn request(
    filter: &Filter,
    sort: Sort,
    page: u32,
    size: u32,
    cursor: Option<String>,
) -> SearchRequest {
    SearchRequest::new(filter.clone(), sort, Some(page), Some(size), cursor).expect("valid request")
}

/// Every page through the cursor: the records and each page's total.
fn walk(
    run: impl Fn(&SearchRequest) -> crate::Result<SearchResult>,
    filter: &Filter,
    sort: Sort,
    size: u32,
) -> (Vec<LogRecord>, Vec<u64>) {
    let (mut all, mut totals, mut cursor) = (Vec::new(), Vec::new(), None);
    loop {
        let page = run(&request(filter, sort, 1, size, cursor)).expect("search");
        assert!(page.logs.len() <= size as usize);
        totals.push(page.total);
        all.extend(page.logs);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return (all, totals),
        }
        let pages = totals[0].div_ceil(u64::from(size));
        assert!(totals.len() as u64 <= pages, "the cursor goes round in circles");
    }
}

fn filters(records: &[LogRecord]) -> Vec<(&'static str, Filter)> {
    let f = Filter::default;
    let some = |s: &str| Some(s.to_owned());
    let with = |pick: &dyn Fn(&LogRecord) -> Option<String>| {
        records[RECORDS / 2..].iter().find_map(pick).expect("some record has one")
    };
    let trace = with(&|r| r.trace_id.clone().filter(|t| t.len() == 32));
    let request = with(&|r| r.request_id.clone());
    let uuid = with(&|r| r.request_id.clone().filter(|t| t.len() == 36));
    let upper = with(&|r| r.request_id.clone().filter(|t| t.len() == 32 && t != &t.to_lowercase()));
    let lower = with(&|r| r.request_id.clone().filter(|t| t.len() == 32 && t == &t.to_lowercase()));
    let short_trace = with(&|r| r.trace_id.clone().filter(|t| t.starts_with("trace-")));
    let mid = T0 + RECORDS as i64 * 125;
    // A block's earliest and latest timestamps, for ranges on its edges.
    let edge = |block: usize, latest: bool| {
        let times =
            records[block * BLOCK_ROWS..(block + 1) * BLOCK_ROWS].iter().map(|r| r.timestamp);
        if latest { times.max() } else { times.min() }.unwrap()
    };
    vec![
        ("everything", f()),
        ("service", Filter { service_name: some("auth"), ..f() }),
        ("unicode service", Filter { service_name: some("サービス"), ..f() }),
        ("absent service", Filter { service_name: some("nope"), ..f() }),
        ("level", Filter { level: Some(Level::Error), ..f() }),
        ("status", Filter { status_code: StatusCode::new(503).ok(), ..f() }),
        ("absent status", Filter { status_code: StatusCode::new(500).ok(), ..f() }),
        ("anomalous", Filter { anomaly: Some(true), ..f() }),
        ("not anomalous", Filter { anomaly: Some(false), ..f() }),
        ("from", Filter { from_timestamp: Some(mid), ..f() }),
        ("to", Filter { to_timestamp: Some(mid), ..f() }),
        ("range", Filter { from_timestamp: Some(mid), to_timestamp: Some(mid + 30_000), ..f() }),
        ("one second", Filter { from_timestamp: Some(mid), to_timestamp: Some(mid), ..f() }),
        (
            "empty range",
            Filter { from_timestamp: Some(T0 - 10), to_timestamp: Some(T0 - 1), ..f() },
        ),
        (
            "a block's range",
            Filter {
                from_timestamp: Some(edge(12, false)),
                to_timestamp: Some(edge(12, true)),
                ..f()
            },
        ),
        (
            "just inside blocks' edges",
            Filter {
                from_timestamp: Some(edge(10, false) + 1),
                to_timestamp: Some(edge(40, true) - 1),
                ..f()
            },
        ),
        ("word", Filter { query: some("timeout"), ..f() }),
        ("words any case", Filter { query: some("tImEoUt, user!"), ..f() }),
        ("unicode word", Filter { query: some("ünïcode"), ..f() }),
        ("rare word", Filter { query: some("#1234"), ..f() }),
        ("absent word", Filter { query: some("zzz"), ..f() }),
        ("no word", Filter { query: some("!!!"), ..f() }),
        ("trace id", Filter { trace_id: Some(trace), ..f() }),
        ("short trace id", Filter { trace_id: Some(short_trace), ..f() }),
        ("request id", Filter { request_id: Some(request), ..f() }),
        ("uuid request id", Filter { request_id: Some(uuid.clone()), ..f() }),
        ("uuid in capitals", Filter { request_id: Some(uuid.to_uppercase()), ..f() }),
        ("hex request id in capitals", Filter { request_id: Some(upper.clone()), ..f() }),
        ("that in small letters", Filter { request_id: Some(upper.to_lowercase()), ..f() }),
        ("hex request id", Filter { request_id: Some(lower.clone()), ..f() }),
        ("that in capitals", Filter { request_id: Some(lower.to_uppercase()), ..f() }),
        ("absent request id", Filter { request_id: some("req-999"), ..f() }),
        ("host", Filter { host: some("node-3"), ..f() }),
        ("user", Filter { user_id: some("u-7"), ..f() }),
        ("error code", Filter { error_code: some("E_TIMEOUT"), ..f() }),
        ("tag", Filter { tag: some("ß-tag"), ..f() }),
        ("absent tag", Filter { tag: some("ß"), ..f() }),
        ("reason", Filter { anomaly_reason: some("slow"), ..f() }),
        ("attribute", Filter { attributes: vec![("k8s.pod".into(), "pod-3".into())], ..f() }),
        ("attribute as text", Filter { attributes: vec![("mixed".into(), "1".into())], ..f() }),
        ("float attribute", Filter { attributes: vec![("ratio".into(), "3.0".into())], ..f() }),
        (
            "two attributes",
            Filter {
                attributes: vec![("cached".into(), "true".into()), ("retries".into(), "3".into())],
                ..f()
            },
        ),
        ("absent attribute", Filter { attributes: vec![("nope".into(), "1".into())], ..f() }),
        ("tenant", Filter { tenant: some("acme"), ..f() }),
        (
            "tenant and service",
            Filter { tenant: some("globex"), service_name: some("auth"), ..f() },
        ),
        ("absent tenant", Filter { tenant: some("nobody"), ..f() }),
        (
            "service, level, range",
            Filter {
                service_name: some("billing"),
                level: Some(Level::Info),
                from_timestamp: Some(T0 + 100_000),
                to_timestamp: Some(mid),
                ..f()
            },
        ),
        (
            "words, tenant, range",
            Filter {
                query: some("payment declined"),
                tenant: some("globex"),
                to_timestamp: Some(mid),
                ..f()
            },
        ),
        (
            "tag, host, status",
            Filter {
                tag: some("web"),
                host: some("node-5"),
                status_code: StatusCode::new(200).ok(),
                ..f()
            },
        ),
        ("host and tag", Filter { host: some("node-3"), tag: some("web"), ..f() }),
        ("service and words", Filter { service_name: some("auth"), query: some("timeout"), ..f() }),
        (
            "service, host, tag, words",
            Filter {
                service_name: some("billing"),
                host: some("node-1"),
                tag: some("db"),
                query: some("payment"),
                ..f()
            },
        ),
        (
            "anomalies of a tenant",
            Filter { anomaly: Some(true), tenant: some(DEFAULT_TENANT), ..f() },
        ),
        (
            "word, user, attribute",
            Filter {
                query: some("retry"),
                user_id: some("u-1"),
                attributes: vec![("k8s.pod".into(), "pod-1".into())],
                ..f()
            },
        ),
    ]
}

const SORTS: [Sort; 3] = [Sort::NewestFirst, Sort::OldestFirst, Sort::Severity];

#[test]
fn search_pages_through_exactly_the_matches_in_order() {
    let fx = fixture();
    let mut nonempty = 0;
    for (name, filter) in filters(&fx.records) {
        let filter = filter.validated().unwrap();
        for sort in SORTS {
            let want = fx.expected(&filter, sort);
            nonempty += usize::from(!want.is_empty());
            let (got, totals) = walk(|r| fx.hybrid(r), &filter, sort, 97);
            assert_eq!(got.len(), want.len(), "{name}, {sort:?}: records");
            assert!(got == want, "{name}, {sort:?}: records or their order differ");
            assert!(totals.iter().all(|t| *t == want.len() as u64), "{name}, {sort:?}: {totals:?}");
            let (theirs, their_totals) = walk(|r| fx.tantivy(r), &filter, sort, 97);
            assert!(theirs == got, "{name}, {sort:?}: the Tantivy store differs");
            assert_eq!(their_totals, totals, "{name}, {sort:?}");

            // A numbered page, then the cursor it hands out.
            let page = fx.hybrid(&request(&filter, sort, 3, 41, None)).unwrap();
            let window = want.iter().skip(82).take(41).cloned().collect::<Vec<_>>();
            assert!(page.logs == window, "{name}, {sort:?}: page 3");
            assert_eq!(page.total, want.len() as u64);
            assert_eq!(page.next_cursor.is_some(), want.len() > 123, "{name}, {sort:?}");
            if let Some(c) = page.next_cursor {
                let next = fx.hybrid(&request(&filter, sort, 1, 41, Some(c))).unwrap();
                let window = want.iter().skip(123).take(41).cloned().collect::<Vec<_>>();
                assert!(next.logs == window, "{name}, {sort:?}: after page 3");
            }
        }
    }
    assert!(nonempty > 80, "most filters select something: {nonempty}");
}

#[test]
fn deleted_and_open_records_are_where_they_belong() {
    let fx = fixture();
    let all = walk(|r| fx.hybrid(r), &Filter::default(), Sort::OldestFirst, 1000).0;
    assert_eq!(all.len(), RECORDS - fx.deleted.len() as usize);
    let ids: HashSet<&str> = all.iter().map(|r| r.id.as_str()).collect();
    for (i, r) in fx.records.iter().enumerate() {
        let live = !fx.deleted.contains(FIRST_SEQ + i as u64);
        assert_eq!(ids.contains(r.id.as_str()), live, "record {i}");
    }
    // An open record is found by its word, and a deleted one is not.
    for (i, found) in [(RECORDS - 2, true), (RECORDS - 1, false), (RECORDS - 199, true)] {
        let filter = Filter { query: Some(format!("#{i}")), ..Filter::default() };
        let got = fx.hybrid(&request(&filter, Sort::NewestFirst, 1, 10, None)).unwrap();
        assert_eq!(got.total, u64::from(found), "record {i}");
    }
}

#[test]
fn a_bad_cursor_is_the_tantivy_stores_client_error() {
    let fx = fixture();
    let filter = Filter { service_name: Some("auth".into()), ..Filter::default() };
    let first = fx.hybrid(&request(&filter, Sort::NewestFirst, 1, 10, None)).unwrap();
    let ours = first.next_cursor.unwrap();
    let theirs = fx.tantivy(&request(&filter, Sort::NewestFirst, 1, 10, None)).unwrap();
    let theirs = theirs.next_cursor.unwrap();
    let other = Filter { service_name: Some("billing".into()), ..Filter::default() };
    for (why, filter, sort, ours, theirs) in [
        ("garbled", &filter, Sort::NewestFirst, "garbage!".to_owned(), "garbage!".to_owned()),
        ("truncated", &filter, Sort::NewestFirst, ours[..10].to_owned(), theirs[..10].to_owned()),
        ("other sort", &filter, Sort::OldestFirst, ours.clone(), theirs.clone()),
        ("other filter", &other, Sort::NewestFirst, ours.clone(), theirs.clone()),
    ] {
        let e = fx.hybrid(&request(filter, sort, 1, 10, Some(ours))).unwrap_err();
        let want = fx.tantivy(&request(filter, sort, 1, 10, Some(theirs))).unwrap_err();
        assert_eq!(e.to_string(), want.to_string(), "{why}");
        assert!(matches!(e, Error::Invalid(ref c) if c.field() == Some("cursor")), "{why}: {e:?}");
    }
    // A cursor of the Tantivy store is not one of ours.
    let e = fx.hybrid(&request(&filter, Sort::NewestFirst, 1, 10, Some(theirs))).unwrap_err();
    assert!(e.to_string().contains("not a cursor returned by a search"), "{e}");
    // The tenant is not part of the binding (as on the Tantivy store).
    let of_tenant = Filter { tenant: Some("acme".into()), ..filter.clone() };
    fx.hybrid(&request(&of_tenant, Sort::NewestFirst, 1, 10, Some(ours))).unwrap();
}

#[test]
fn stats_are_the_tantivy_stores() {
    let fx = fixture();
    let shapes =
        [(None, false), (Some(60_000), true), (Some(3_600_000), false), (Some(7_001), true)];
    let cache = StatsCache::new(64 << 20);
    for (name, filter) in filters(&fx.records) {
        let filter = filter.validated().unwrap();
        let matching = fx.expected(&filter, Sort::OldestFirst);
        for (interval, percentiles) in shapes {
            let req = StatsRequest {
                filter: filter.clone(),
                histogram_interval_ms: interval,
                include_percentiles: percentiles,
            };
            let got = stats(&fx.snap, &req, &cache).unwrap();
            // Again, blocks the filter's range covers from the cache.
            assert_eq!(stats(&fx.snap, &req, &cache).unwrap(), got, "{name}: from the cache");
            let want = crate::tantivy::stats::stats(
                &fx.tantivy,
                &fx.fields,
                fx.tantivy_analyzer.clone(),
                &req,
                &StatsCache::new(0),
            )
            .unwrap();
            assert_eq!(got, want, "{name}, {interval:?}, {percentiles}");
            // And, without Tantivy, from the records themselves.
            assert_eq!(got.total_logs, matching.len() as u64, "{name}");
            let mut services = BTreeMap::new();
            for r in &matching {
                *services.entry(r.service_name.clone()).or_insert(0) += 1;
            }
            assert_eq!(got.services, services, "{name}");
            let bucketed: u64 = got.histogram.iter().map(|b| b.count).sum();
            assert_eq!(bucketed, if interval.is_some() { got.total_logs } else { 0 }, "{name}");
        }
    }
}

#[test]
fn too_many_buckets_is_the_tantivy_stores_client_error() {
    // A record a second: a bucket and a level a record at 1 s.
    let mut g = Rng(7);
    let records: Vec<LogRecord> = (0..50_001)
        .map(|i| LogRecord { timestamp: T0 + i as i64 * 1000, ..record(&mut g, i) })
        .collect();
    let snap = in_memory(&records, FIRST_SEQ, 4_096, 100, RoaringTreemap::new());
    let (schema, fields) = Fields::build();
    let index = Index::create_in_ram(schema);
    let mut w: tantivy::IndexWriter = index.writer_with_num_threads(1, 50_000_000).unwrap();
    for (i, r) in records.iter().enumerate() {
        w.add_document(fields.document(r, FIRST_SEQ + i as u64, id_key(&r.id))).unwrap();
    }
    w.commit().unwrap();
    let searcher = index.reader().unwrap().searcher();
    let analyzer = index.tokenizer_for_field(fields.message).unwrap();
    let tantivy = |req: &StatsRequest| {
        crate::tantivy::stats::stats(&searcher, &fields, analyzer.clone(), req, &StatsCache::new(0))
    };
    let req = StatsRequest { histogram_interval_ms: Some(1000), ..StatsRequest::default() };
    let e = stats(&snap, &req, &StatsCache::new(0)).unwrap_err();
    assert_eq!(e.to_string(), tantivy(&req).unwrap_err().to_string());
    assert!(matches!(e, Error::Invalid(ref c) if c.field() == Some("interval")), "{e:?}");
    // Fewer records, or wider buckets, are fine.
    let filter = Filter { to_timestamp: Some(T0 + 40_000_000), ..Filter::default() };
    for req in [
        StatsRequest { filter, histogram_interval_ms: Some(1000), ..StatsRequest::default() },
        StatsRequest { histogram_interval_ms: Some(2000), ..StatsRequest::default() },
    ] {
        assert_eq!(stats(&snap, &req, &StatsCache::new(0)).unwrap(), tantivy(&req).unwrap());
    }
}

/// Test-sized engine options; only the tests refresh.
fn engine_options() -> crate::StoreOptions {
    crate::StoreOptions {
        refresh_interval_ms: 3_600_000,
        min_refresh_interval_ms: 0,
        indexing_threads: 1,
        indexing_memory_bytes: 20 << 20,
        ..crate::StoreOptions::default()
    }
}

/// The write path's snapshots read as the model: 10,000 records through
/// the engine (two sealed blocks of 4,096 and an open block), 400 of them
/// sent again changed (an upsert deletes the older row, sealed or open),
/// then every filter and sort paged through, and stats counted.
#[tokio::test]
async fn the_engines_snapshots_read_as_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let engine = super::super::Engine::open(dir.path(), &engine_options()).unwrap();
    let mut g = Rng(99);
    let first: Vec<LogRecord> = (0..10_000).map(|i| record(&mut g, i)).collect();
    let again: Vec<LogRecord> = (0..400)
        .map(|i| {
            let mut r = first[(i * 25 + 3) % first.len()].clone();
            r.message = format!("changed timeout {i}");
            r.level = Level::Warn;
            r
        })
        .collect();
    // Arrival order is seq order; the later of two records of an id holds.
    let mut sent: Vec<LogRecord> = Vec::new();
    for batch in first.chunks(900).chain(again.chunks(150)) {
        engine.index(batch.to_vec()).await.unwrap();
        sent.extend_from_slice(batch);
    }
    engine.refresh().await.unwrap();
    let snap = engine.snapshot();
    assert!(snap.blocks.len() >= 2 && !snap.open.records.is_empty());
    assert_eq!(snap.deleted.len() as usize, again.len());
    let mut latest: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, r) in sent.iter().enumerate() {
        latest.insert(&r.id, i);
    }
    let live: Vec<(usize, &LogRecord)> = latest.values().map(|&i| (i, &sent[i])).collect();
    let analyzer = message_analyzer();
    for (name, filter) in filters(&first) {
        let filter = filter.validated().unwrap();
        for sort in SORTS {
            let mut want: Vec<(usize, &LogRecord)> =
                live.iter().filter(|(_, r)| filter.matches(r)).copied().collect();
            match sort {
                Sort::NewestFirst => {
                    want.sort_by_key(|(s, r)| std::cmp::Reverse((r.timestamp, *s)))
                }
                Sort::OldestFirst => want.sort_by_key(|(s, r)| (r.timestamp, *s)),
                Sort::Severity => want
                    .sort_by_key(|(s, r)| std::cmp::Reverse((r.severity_score, r.timestamp, *s))),
            }
            let want: Vec<LogRecord> = want.into_iter().map(|(_, r)| r.clone()).collect();
            let (got, totals) =
                walk(|req| search(&snap, &mut analyzer.clone(), req), &filter, sort, 499);
            assert!(got == want, "{name}, {sort:?}: {} records, {} wanted", got.len(), want.len());
            assert!(totals.iter().all(|t| *t == want.len() as u64), "{name}, {sort:?}");
        }
        let req = StatsRequest {
            filter: filter.clone(),
            histogram_interval_ms: Some(60_000),
            include_percentiles: true,
        };
        let got = stats(&snap, &req, &StatsCache::new(1 << 20)).unwrap();
        let matching: Vec<&LogRecord> =
            live.iter().map(|(_, r)| *r).filter(|r| filter.matches(r)).collect();
        assert_eq!(got.total_logs, matching.len() as u64, "{name}");
        let mut levels = BTreeMap::new();
        for r in &matching {
            *levels.entry(r.level.as_str().to_owned()).or_insert(0) += 1;
        }
        assert_eq!(got.levels, levels, "{name}");
        let anomalies = matching.iter().filter(|r| r.anomaly).count() as u64;
        assert_eq!(got.anomaly_count, anomalies, "{name}");
    }
    engine.close().await.unwrap();
}

/// Eight blocks of 64 plain records and 70 open ones: a timestamp a second
/// in arrival order, three services, the four levels in turn, every
/// seventh anomalous, a quarter of tenant "acme"; row 10 of block 2 is
/// deleted.
fn plain_snapshot() -> (Vec<LogRecord>, Snapshot) {
    let mut g = Rng(3);
    let records: Vec<LogRecord> = (0..8 * BLOCK_ROWS + OPEN_ROWS)
        .map(|i| {
            let mut r = record(&mut g, i);
            r.timestamp = T0 + i as i64 * 1000;
            r.service_name = ["api", "auth", "billing"][i % 3].to_owned();
            r.level = Level::ALL[i % 4];
            r.anomaly = i % 7 == 0;
            r.tenant = if i % 4 == 1 { "acme" } else { DEFAULT_TENANT }.to_owned();
            r
        })
        .collect();
    let deleted = RoaringTreemap::from_iter([FIRST_SEQ + (2 * BLOCK_ROWS + 10) as u64]);
    let snap = in_memory(&records, FIRST_SEQ, BLOCK_ROWS, OPEN_ROWS, deleted);
    (records, snap)
}

/// `snap` with every column of the blocks not in `intact` made unreadable
/// (each frame's zstd magic broken, the checksum rewritten to match), so
/// that any read of them is an error while their headers still parse.
fn unreadable_but(snap: &Snapshot, intact: &[usize]) -> Snapshot {
    use tantivy::directory::OwnedBytes;

    use super::super::block::{Block, Column};
    let blocks: Vec<std::sync::Arc<Block>> = snap
        .blocks
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if intact.contains(&i) {
                return b.clone();
            }
            let h = b.header();
            let mut bytes = b.bytes().to_vec();
            let frames = Column::ALL.iter().map(|c| h.column(*c));
            for e in frames.chain(h.attributes.iter().map(|(_, e)| *e)) {
                if e.compressed > 0 {
                    bytes[e.offset] ^= 0xff;
                }
            }
            let sum = xxhash_rust::xxh3::xxh3_64(&bytes[13..]);
            bytes[5..13].copy_from_slice(&sum.to_le_bytes());
            std::sync::Arc::new(Block::parse(OwnedBytes::new(bytes)).unwrap())
        })
        .collect();
    Snapshot { blocks: blocks.into(), ..snap.clone() }
}

/// The live records of `records` (numbered from [`FIRST_SEQ`]) that
/// `filter` selects.
fn live_matches<'r>(
    records: &'r [LogRecord],
    snap: &Snapshot,
    filter: &Filter,
) -> Vec<&'r LogRecord> {
    (0..records.len())
        .filter(|&i| !snap.deleted.contains(FIRST_SEQ + i as u64) && filter.matches(&records[i]))
        .map(|i| &records[i])
        .collect()
}

#[test]
fn blocks_the_groups_decide_are_counted_without_reading_a_column() {
    let (records, snap) = plain_snapshot();
    // Block 2 has a deleted row: it is read from its columns.
    let blind = unreadable_but(&snap, &[2]);
    let analyzer = || message_analyzer();
    let block_time =
        |b: usize, last: bool| T0 + (b * BLOCK_ROWS) as i64 * 1000 + if last { 63_000 } else { 0 };
    let f = Filter::default;
    let some = |s: &str| Some(s.to_owned());
    let filters = [
        ("everything", f()),
        ("service", Filter { service_name: some("auth"), ..f() }),
        (
            "service and level",
            Filter { service_name: some("auth"), level: Some(Level::Warn), ..f() },
        ),
        ("anomalies", Filter { anomaly: Some(true), ..f() }),
        (
            "no anomalies of a level",
            Filter { anomaly: Some(false), level: Some(Level::Error), ..f() },
        ),
        ("tenant", Filter { tenant: some("acme"), ..f() }),
        (
            "tenant and service",
            Filter { tenant: some("acme"), service_name: some("billing"), ..f() },
        ),
        ("absent tenant", Filter { tenant: some("nobody"), ..f() }),
        (
            "blocks 3 to 5 whole",
            Filter {
                from_timestamp: Some(block_time(3, false)),
                to_timestamp: Some(block_time(5, true)),
                ..f()
            },
        ),
        ("a word-less query", Filter { query: some("!!!"), ..f() }),
    ];
    let mut searched = 0;
    for (name, filter) in filters {
        let filter = filter.validated().unwrap();
        let want = live_matches(&records, &snap, &filter);
        // Counts per level, service and anomaly: the header's groups.
        let req = StatsRequest { filter: filter.clone(), ..StatsRequest::default() };
        let got = stats(&blind, &req, &StatsCache::new(0)).unwrap();
        assert_eq!(got, stats(&snap, &req, &StatsCache::new(0)).unwrap(), "{name}");
        assert_eq!(got.total_logs, want.len() as u64, "{name}");
        assert_eq!(got.anomaly_count, want.iter().filter(|r| r.anomaly).count() as u64, "{name}");
        // When the open block has the page (and the one past it), the
        // sealed blocks give only the total, from their headers.
        let open = want.iter().filter(|r| r.timestamp >= T0 + 8 * BLOCK_ROWS as i64 * 1000);
        if open.count() >= 2 {
            let req = request(&filter, Sort::NewestFirst, 1, 1, None);
            let page = search(&blind, &mut analyzer(), &req).unwrap();
            assert_eq!(page.total, want.len() as u64, "{name}");
            searched += 1;
        }
    }
    assert_eq!(searched, 8);
    // Percentiles: each group's response times, kept apart from the
    // columns.
    for filter in [f(), Filter { service_name: some("auth"), level: Some(Level::Warn), ..f() }] {
        let req = StatsRequest { filter, include_percentiles: true, ..StatsRequest::default() };
        let got = stats(&blind, &req, &StatsCache::new(0)).unwrap();
        assert_eq!(got, stats(&snap, &req, &StatsCache::new(0)).unwrap());
        assert!(!got.response_time_percentiles.is_empty());
    }
    // What the groups cannot say needs the columns, which cannot be read:
    // a histogram whose buckets split a group, percentiles of only the
    // anomalous rows of groups.
    let service = Filter { service_name: some("auth"), ..f() };
    let histogram = StatsRequest { histogram_interval_ms: Some(60_000), ..StatsRequest::default() };
    let status = Filter { status_code: StatusCode::new(200).ok(), ..f() };
    let straddling = Filter { from_timestamp: Some(block_time(3, false) + 1), ..f() };
    for (why, e) in [
        ("histogram", stats(&blind, &histogram, &StatsCache::new(0)).unwrap_err()),
        (
            "percentiles of anomalies",
            stats(
                &blind,
                &StatsRequest {
                    filter: Filter { anomaly: Some(true), ..f() },
                    include_percentiles: true,
                    ..StatsRequest::default()
                },
                &StatsCache::new(0),
            )
            .unwrap_err(),
        ),
        (
            "status",
            stats(
                &blind,
                &StatsRequest { filter: status, ..StatsRequest::default() },
                &StatsCache::new(0),
            )
            .unwrap_err(),
        ),
        (
            "straddling",
            stats(
                &blind,
                &StatsRequest { filter: straddling, ..StatsRequest::default() },
                &StatsCache::new(0),
            )
            .unwrap_err(),
        ),
        (
            "oldest page",
            search(&blind, &mut analyzer(), &request(&service, Sort::OldestFirst, 1, 1, None))
                .unwrap_err(),
        ),
    ] {
        assert!(e.to_string().contains("not a zstd frame"), "{why}: {e}");
    }
}

#[test]
fn a_range_straddling_blocks_reads_only_their_columns() {
    let (records, snap) = plain_snapshot();
    // From the middle of block 3 to the middle of block 6: only those two
    // are read; 4 and 5 are counted by their headers, the rest left out.
    let from = T0 + (3 * BLOCK_ROWS + 20) as i64 * 1000;
    let to = T0 + (6 * BLOCK_ROWS + 40) as i64 * 1000;
    let blind = unreadable_but(&snap, &[3, 6]);
    let mut analyzer = message_analyzer();
    for level in [None, Some(Level::Info)] {
        let filter = Filter {
            from_timestamp: Some(from),
            to_timestamp: Some(to),
            level,
            ..Filter::default()
        };
        let want = live_matches(&records, &snap, &filter);
        let req = StatsRequest { filter: filter.clone(), ..StatsRequest::default() };
        let got = stats(&blind, &req, &StatsCache::new(0)).unwrap();
        assert_eq!(got, stats(&snap, &req, &StatsCache::new(0)).unwrap(), "{level:?}");
        assert_eq!(got.total_logs, want.len() as u64, "{level:?}");
        for sort in [Sort::NewestFirst, Sort::OldestFirst] {
            let page = search(&blind, &mut analyzer, &request(&filter, sort, 1, 5, None)).unwrap();
            assert_eq!(page.total, want.len() as u64, "{level:?}, {sort:?}");
            let ends: Vec<&LogRecord> = match sort {
                Sort::NewestFirst => want.iter().rev().take(5).copied().collect(),
                _ => want.iter().take(5).copied().collect(),
            };
            assert!(page.logs.iter().eq(ends), "{level:?}, {sort:?}");
        }
    }
}

#[test]
fn cached_partials_serve_covered_blocks_until_rows_of_theirs_are_deleted() {
    let (records, snap) = plain_snapshot();
    let cache = StatsCache::new(1 << 20);
    // A histogram: counted from columns, so the cache is what saves work.
    let req = |from: Option<i64>, interval: i64| StatsRequest {
        filter: Filter { from_timestamp: from, ..Filter::default() },
        histogram_interval_ms: Some(interval),
        include_percentiles: true,
    };
    let answer = |snap: &Snapshot, from: Option<i64>, interval: i64| {
        let req = req(from, interval);
        let got = stats(snap, &req, &cache).unwrap();
        assert_eq!(got, stats(snap, &req, &StatsCache::new(0)).unwrap(), "{from:?}");
        let want = live_matches(&records, snap, &req.filter).len() as u64;
        assert_eq!(got.total_logs, want, "{from:?}");
        got
    };
    let first = answer(&snap, None, 10_000);
    assert_eq!(cache.hits(), 0);
    assert_eq!(answer(&snap, None, 10_000), first);
    assert_eq!(cache.hits(), 8, "every sealed block, the open one never");

    // A row of block 4 is deleted: its partial is counted again, the
    // other seven come from the cache.
    let mut deleted = (*snap.deleted).clone();
    deleted.insert(FIRST_SEQ + (4 * BLOCK_ROWS + 3) as u64);
    let fewer = Snapshot { deleted: std::sync::Arc::new(deleted), ..snap.clone() };
    let after = answer(&fewer, None, 10_000);
    assert_eq!(after.total_logs, first.total_logs - 1);
    assert_eq!(cache.hits(), 15);

    // Requests of another shape, from inside block 3: blocks 4 to 7 are
    // covered and kept; block 3 is not, and is not kept either, so a range
    // covering it whole later finds no partial of it.
    let inside = T0 + (3 * BLOCK_ROWS + 5) as i64 * 1000;
    answer(&fewer, Some(inside), 20_000);
    assert_eq!(cache.hits(), 15);
    let from3 = T0 + (3 * BLOCK_ROWS) as i64 * 1000;
    answer(&fewer, Some(from3), 20_000);
    assert_eq!(cache.hits(), 19);
    answer(&fewer, Some(from3), 20_000);
    assert_eq!(cache.hits(), 24);
}

#[test]
fn words_alone_are_counted_by_the_postings_and_paged_from_the_best_blocks() {
    let (records, snap) = plain_snapshot();
    let mut analyzer = message_analyzer();
    let words = |q: &str| Filter { query: Some(q.to_owned()), ..Filter::default() };
    // A common word: the open block has the newest page, so no block's
    // columns are read, and the total (deleted rows left out) is the
    // postings' count.
    let blind = unreadable_but(&snap, &[]);
    for q in ["timeout", "payment declined"] {
        let want = live_matches(&records, &snap, &words(q));
        let page =
            search(&blind, &mut analyzer, &request(&words(q), Sort::NewestFirst, 1, 5, None));
        let page = page.unwrap();
        assert_eq!(page.total, want.len() as u64, "{q}");
        assert!(page.logs.iter().eq(want.iter().rev().take(5).copied()), "{q}");
        // The oldest page is in block 0, whose columns cannot be read.
        let oldest =
            search(&blind, &mut analyzer, &request(&words(q), Sort::OldestFirst, 1, 5, None));
        assert!(oldest.unwrap_err().to_string().contains("not a zstd frame"), "{q}");
    }
    // With a tenant: counted by the postings when every block holds that
    // tenant alone, else by the blocks; the same answers either way.
    let one_tenant: Vec<LogRecord> = records
        .iter()
        .cloned()
        .map(|r| LogRecord { tenant: DEFAULT_TENANT.to_owned(), ..r })
        .collect();
    let single = in_memory(&one_tenant, FIRST_SEQ, BLOCK_ROWS, OPEN_ROWS, (*snap.deleted).clone());
    let of = |q: &str, t: &str| Filter { tenant: Some(t.to_owned()), ..words(q) };
    for (recs, s) in [(&records, &snap), (&one_tenant, &single)] {
        for (q, t) in [("timeout", DEFAULT_TENANT), ("timeout", "acme"), ("#200", DEFAULT_TENANT)] {
            assert_eq!(
                postings_decide(s, &of(q, t)),
                std::ptr::eq(s, &single) && t == DEFAULT_TENANT
            );
            let want = live_matches(recs, s, &of(q, t));
            for sort in SORTS {
                let page = search(s, &mut analyzer, &request(&of(q, t), sort, 1, 5, None));
                let page = page.unwrap();
                assert_eq!(page.total, want.len() as u64, "{q} {t} {sort:?}");
                let mut want = want.clone();
                match sort {
                    Sort::NewestFirst => want.reverse(),
                    Sort::OldestFirst => {}
                    Sort::Severity => continue,
                }
                assert!(page.logs.iter().eq(want.into_iter().take(5)), "{q} {t} {sort:?}");
            }
        }
    }
    // A word only record 200 has (block 3): the postings are asked for the
    // newest blocks' rows first, which have none, then for every block's.
    let rare = words("#200");
    let only3 = unreadable_but(&snap, &[3]);
    for sort in SORTS {
        let page = search(&only3, &mut analyzer, &request(&rare, sort, 1, 5, None)).unwrap();
        assert_eq!(page.total, 1, "{sort:?}");
        assert_eq!(page.logs, [records[200].clone()], "{sort:?}");
    }
}

/// The plain snapshot with the deleted row (block 2) given host `node-3`
/// and tag `web`, so that exact filters on those would count it if the
/// deletion were missed.
fn tagged_snapshot() -> (Vec<LogRecord>, Snapshot) {
    let (mut records, snap) = plain_snapshot();
    let deleted = 2 * BLOCK_ROWS + 10;
    records[deleted].host = Some("node-3".into());
    records[deleted].tags = vec!["web".into()];
    let snap = in_memory(&records, FIRST_SEQ, BLOCK_ROWS, OPEN_ROWS, (*snap.deleted).clone());
    (records, snap)
}

/// The blocks a page of `size` under `sort` (newest or oldest first) may
/// read: from the block of the last record that can be on it (the page and
/// one more) to the page's end of the store. Timestamps follow arrival in
/// the plain snapshot, so no other block can reach the page.
fn page_blocks(
    matches: &[&LogRecord],
    records: &[LogRecord],
    sort: Sort,
    size: usize,
) -> Vec<usize> {
    let sealed = (records.len() - OPEN_ROWS) / BLOCK_ROWS;
    let block = |r: &LogRecord| records.iter().position(|x| x.id == r.id).unwrap() / BLOCK_ROWS;
    match sort {
        Sort::NewestFirst => {
            let last = matches.iter().rev().nth(size).map_or(0, |r| block(r));
            (last..sealed).collect()
        }
        _ => {
            let last = matches.get(size).map_or(sealed, |r| block(r) + 1);
            (0..last.min(sealed)).collect()
        }
    }
}

#[test]
fn exact_values_are_counted_by_the_postings_and_paged_from_the_page_blocks() {
    let (records, snap) = tagged_snapshot();
    let mut analyzer = message_analyzer();
    let f = Filter::default;
    let some = |s: &str| Some(s.to_owned());
    let filters = [
        ("host", Filter { host: some("node-3"), ..f() }),
        ("tag", Filter { tag: some("web"), ..f() }),
        ("host and tag", Filter { host: some("node-3"), tag: some("web"), ..f() }),
        ("service and word", Filter { service_name: some("auth"), query: some("timeout"), ..f() }),
        (
            "service, host, word",
            Filter {
                service_name: some("billing"),
                host: some("node-1"),
                query: some("payment"),
                ..f()
            },
        ),
        ("service and tag", Filter { service_name: some("api"), tag: some("db"), ..f() }),
        ("absent host", Filter { host: some("node-99"), ..f() }),
        ("absent service, tag", Filter { service_name: some("nope"), tag: some("web"), ..f() }),
    ];
    for (name, filter) in &filters {
        assert!(postings_decide(&snap, filter), "{name}");
        let want = live_matches(&records, &snap, filter);
        for sort in [Sort::NewestFirst, Sort::OldestFirst] {
            // Every other block's columns unreadable: the total is the
            // postings' count, only the page's blocks are read.
            let intact = page_blocks(&want, &records, sort, 5);
            let blind = unreadable_but(&snap, &intact);
            let page = search(&blind, &mut analyzer, &request(filter, sort, 1, 5, None));
            let page = page.unwrap_or_else(|e| panic!("{name} {sort:?} ({intact:?}): {e}"));
            assert_eq!(page.total, want.len() as u64, "{name} {sort:?}");
            let mut want = want.clone();
            if sort == Sort::NewestFirst {
                want.reverse();
            }
            assert!(page.logs.iter().eq(want.iter().take(5).copied()), "{name} {sort:?}");
            // And every page of the whole store as the model has it.
            let (all, totals) =
                walk(|req| search(&snap, &mut analyzer.clone(), req), filter, sort, 7);
            assert!(all.iter().eq(want.iter().copied()), "{name} {sort:?}");
            assert!(totals.iter().all(|t| *t == want.len() as u64), "{name} {sort:?}");
        }
    }
    // With a condition the postings cannot decide (level, a time range, a
    // tenant the blocks share with others), they still narrow the rows and
    // the columns decide the rest: the same answers as the model.
    let more = [
        Filter { level: Some(Level::Error), ..filters[0].1.clone() },
        Filter { from_timestamp: Some(T0 + 100_000), ..filters[2].1.clone() },
        Filter { tenant: some("acme"), ..filters[1].1.clone() },
        Filter { tenant: some(DEFAULT_TENANT), ..filters[3].1.clone() },
    ];
    for filter in &more {
        assert!(!postings_decide(&snap, filter), "{filter:?}");
        let want = live_matches(&records, &snap, filter);
        for sort in SORTS {
            let (all, totals) =
                walk(|req| search(&snap, &mut analyzer.clone(), req), filter, sort, 7);
            assert_eq!(all.len(), want.len(), "{filter:?} {sort:?}");
            assert!(totals.iter().all(|t| *t == want.len() as u64), "{filter:?} {sort:?}");
        }
        let got = stats(
            &snap,
            &StatsRequest { filter: filter.clone(), ..Default::default() },
            &StatsCache::new(0),
        );
        assert_eq!(got.unwrap().total_logs, want.len() as u64, "{filter:?}");
    }
}

/// Through the engine: an upsert that changes a record's host and tags
/// moves it between the postings' terms (the old row's document deleted
/// with it), sealed or open; totals and pages follow the latest records.
#[tokio::test]
async fn exact_value_filters_follow_upserts_through_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let engine = super::super::Engine::open(dir.path(), &engine_options()).unwrap();
    let mut g = Rng(5);
    let first: Vec<LogRecord> = (0..9_000).map(|i| record(&mut g, i)).collect();
    // Every 20th record again, moved to host node-3 with tag "moved", and
    // every 50th of those again, back to no host.
    let again: Vec<LogRecord> = (0..first.len())
        .step_by(20)
        .map(|i| LogRecord {
            host: Some("node-3".into()),
            tags: vec!["moved".into(), "web".into()],
            ..first[i].clone()
        })
        .collect();
    let back: Vec<LogRecord> =
        again.iter().step_by(50).map(|r| LogRecord { host: None, ..r.clone() }).collect();
    let mut sent: Vec<LogRecord> = Vec::new();
    for batch in first.chunks(1000).chain(again.chunks(100)).chain(back.chunks(3)) {
        engine.index(batch.to_vec()).await.unwrap();
        sent.extend_from_slice(batch);
    }
    engine.refresh().await.unwrap();
    let snap = engine.snapshot();
    assert!(snap.blocks.len() >= 2 && !snap.open.records.is_empty());
    assert_eq!(snap.deleted.len() as usize, again.len() + back.len());
    let mut latest: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, r) in sent.iter().enumerate() {
        latest.insert(&r.id, i);
    }
    let live: Vec<&LogRecord> = latest.values().map(|&i| &sent[i]).collect();
    let analyzer = message_analyzer();
    let f = Filter::default;
    let some = |s: &str| Some(s.to_owned());
    for filter in [
        Filter { host: some("node-3"), ..f() },
        Filter { tag: some("moved"), ..f() },
        Filter { host: some("node-3"), tag: some("moved"), ..f() },
        Filter { host: some("node-3"), tag: some("web"), query: some("timeout"), ..f() },
        Filter { service_name: some("auth"), tag: some("moved"), ..f() },
        Filter { service_name: some("billing"), query: some("payment"), ..f() },
        Filter { tag: some("moved"), level: Some(Level::Warn), ..f() },
    ] {
        let want = live.iter().filter(|r| filter.matches(r)).count() as u64;
        assert!(want > 0, "{filter:?}");
        let (got, totals) =
            walk(|req| search(&snap, &mut analyzer.clone(), req), &filter, Sort::NewestFirst, 250);
        assert_eq!(got.len() as u64, want, "{filter:?}");
        assert!(got.iter().all(|r| filter.matches(r)), "{filter:?}");
        assert!(totals.iter().all(|t| *t == want), "{filter:?}");
    }
    engine.close().await.unwrap();
}

/// A message holding id-like words (`postings::is_id_word`, which the
/// postings leave to the blocks' filters) and others: a UUID, hex in
/// capitals, an id a hundred records share (so in several blocks), a
/// non-ASCII message whose words are ASCII ('K', the Kelvin sign, lower-
/// cases to 'k') or not, a long number, and a message with none.
fn id_message(g: &mut Rng, i: usize) -> String {
    let h = format!("{:016x}{:016x}", g.next(), g.next());
    match i % 6 {
        0 => {
            let uuid =
                format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]);
            format!("payment failed request {uuid}")
        }
        1 => format!("order {} shipped", h[..12].to_uppercase()),
        2 => format!("batch BATCH{:08} took {}ms", i / 100, g.below(1000)),
        3 => format!("Ünïcode \u{212A}{} straße{i}", &h[..9]),
        4 => format!("user-{i} at {}", T0 + i as i64),
        _ => format!("timeout after {}ms #{i}", g.below(10_000)),
    }
}

/// The id-like words of the messages of `records`, lower-cased as the
/// tokenizer gives them.
fn id_words<'r>(records: impl Iterator<Item = &'r LogRecord>) -> Vec<String> {
    let mut words: Vec<String> = records
        .flat_map(|r| loglens_core::query::tokenize(&r.message).collect::<Vec<_>>())
        .filter(|w| super::super::postings::is_id_word(w))
        .collect();
    words.sort();
    words.dedup();
    words
}

/// Every filter of an id-like word `word` (as given, in capitals, beside a
/// common word, a host or a time range) searched and counted on `snap` as
/// the model counts the live records of `sent` (the later of two records
/// of an id holds); returns how many found any.
fn check_words(snap: &Snapshot, sent: &[LogRecord], words: &[String]) -> usize {
    let mut latest: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, r) in sent.iter().enumerate() {
        latest.insert(&r.id, i);
    }
    let live: Vec<&LogRecord> = latest.values().map(|&i| &sent[i]).collect();
    let analyzer = message_analyzer();
    let mut found = 0;
    for (n, word) in words.iter().enumerate() {
        let some = |s: String| Some(s);
        let f = || Filter { query: some(word.clone()), ..Filter::default() };
        let filters = [
            f(),
            Filter { query: some(word.to_uppercase()), ..f() },
            Filter { query: some(format!("payment {word}")), ..f() },
            Filter { host: some(format!("node-{}", n % 12)), ..f() },
            Filter { from_timestamp: Some(T0 + 1_000_000), ..f() },
        ];
        for filter in filters {
            let want: Vec<&LogRecord> =
                live.iter().copied().filter(|r| filter.matches(r)).collect();
            let (got, totals) = walk(
                |req| search(snap, &mut analyzer.clone(), req),
                &filter,
                Sort::OldestFirst,
                50,
            );
            let mut want_sorted: Vec<(i64, &str)> =
                want.iter().map(|r| (r.timestamp, r.id.as_str())).collect();
            want_sorted.sort();
            let mut got_sorted: Vec<(i64, &str)> =
                got.iter().map(|r| (r.timestamp, r.id.as_str())).collect();
            got_sorted.sort();
            assert_eq!(got_sorted, want_sorted, "{filter:?}");
            assert!(totals.iter().all(|t| *t == want.len() as u64), "{filter:?}");
            if n % 5 == 0 {
                let req = StatsRequest { filter: filter.clone(), ..StatsRequest::default() };
                let counted = stats(snap, &req, &StatsCache::new(1 << 20)).unwrap().total_logs;
                assert_eq!(counted, want.len() as u64, "stats {filter:?}");
            }
            found += usize::from(!want.is_empty());
        }
    }
    found
}

/// Id-like message words are found wherever the model finds them: 10,000
/// records through the engine (two sealed blocks and an open one), 400 of
/// them sent again with other ids in their messages (the older rows
/// deleted), searched and counted, then again after a reopen and after
/// upserts on the reopened store.
#[tokio::test]
async fn id_like_message_words_are_found_through_upserts_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = Rng(0x1d_1d_1d);
    let first: Vec<LogRecord> = (0..10_000)
        .map(|i| LogRecord { message: id_message(&mut g, i), ..record(&mut g, i) })
        .collect();
    let again: Vec<LogRecord> = (0..400)
        .map(|i| {
            let mut r = first[(i * 25 + 3) % first.len()].clone();
            r.message = id_message(&mut g, i + 7);
            r
        })
        .collect();
    let mut sent: Vec<LogRecord> = Vec::new();
    let engine = super::super::Engine::open(dir.path(), &engine_options()).unwrap();
    for batch in first.chunks(900).chain(again.chunks(150)) {
        engine.index(batch.to_vec()).await.unwrap();
        sent.extend_from_slice(batch);
    }
    engine.refresh().await.unwrap();
    // Words of every 1,499th record and of every 50th replaced one, old
    // and new (the old ones only in deleted rows), and words no record has.
    let sample = |rs: &[LogRecord], every: usize| {
        id_words(rs.iter().enumerate().filter(|(i, _)| i % every == 0).map(|(_, r)| r))
    };
    let mut words = sample(&first, 1_499);
    words.extend(sample(&again, 50));
    words.extend(id_words((0..400).step_by(50).map(|i| &first[(i * 25 + 3) % first.len()])));
    words.extend(["deadbeef00000000", "batch99999999", "k000000000"].map(String::from));
    let snap = engine.snapshot();
    assert!(snap.blocks.len() >= 2 && !snap.open.records.is_empty());
    assert_eq!(snap.deleted.len() as usize, again.len());
    let found = check_words(&snap, &sent, &words);
    assert!(found > words.len(), "{found} filters found records");
    engine.close().await.unwrap();
    drop(snap);

    let engine = super::super::Engine::open(dir.path(), &engine_options()).unwrap();
    check_words(&engine.snapshot(), &sent, &words);
    let later: Vec<LogRecord> = (0..300)
        .map(|i| {
            let mut r = first[(i * 31 + 11) % first.len()].clone();
            r.message = id_message(&mut g, i + 1);
            r
        })
        .collect();
    engine.index(later.clone()).await.unwrap();
    sent.extend(later.iter().cloned());
    engine.refresh().await.unwrap();
    words.extend(id_words(later.iter().step_by(50)));
    check_words(&engine.snapshot(), &sent, &words);
    engine.close().await.unwrap();
}
