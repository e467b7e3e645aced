//! Store spike: N generated records (with attributes) into a fresh Tantivy
//! store (`SPIKE_STORE=hybrid`: a hybrid store), then the issue-13 query
//! kinds. Prints CPU per record, disk by
//! file kind and query p50/p99. `cargo run --release --example store_spike -- 300000`;
//! `-- --inspect DIR` prints only the per-field bytes of the store in DIR.
#![allow(missing_docs)]

use loglens_bench::own_cpu_seconds;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use loglens_core::query::{Filter, SearchRequest, Sort, StatsRequest};
use loglens_core::record::{RawLog, normalize};
use loglens_core::{Level, LogRecord, RuleSet};
use loglens_generator::Generator;
use loglens_store::StoreOptions;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DAY_START_MS: i64 = 1_767_225_600_000;
const DAY_MS: i64 = 86_400_000;

fn sizes(dir: &Path, out: &mut BTreeMap<String, u64>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sizes(&p, out);
        } else {
            let kind = if p.to_string_lossy().contains("/wal/") {
                "wal".to_owned()
            } else {
                p.extension().map_or("other".into(), |x| x.to_string_lossy().into_owned())
            };
            *out.entry(kind).or_default() += e.metadata().map_or(0, |m| m.len());
        }
    }
}

/// Bytes per field of the term dictionaries, postings and fast columns,
/// over all segments (the largest first), from Tantivy's space usage.
fn per_field(index: &Path) {
    let index = tantivy::Index::open_in_dir(index).unwrap();
    let searcher = index.reader().unwrap().searcher();
    let usage = searcher.space_usage().unwrap();
    let mut kinds: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
    for seg in usage.segments() {
        for (kind, per) in [
            ("termdict", seg.termdict()),
            ("postings", seg.postings()),
            ("fast", seg.fast_fields()),
        ] {
            for f in per.fields() {
                *kinds.entry(kind).or_default().entry(f.field_name().to_owned()).or_default() +=
                    f.total().get_bytes();
            }
        }
    }
    for (kind, fields) in kinds {
        let mut v: Vec<_> = fields.into_iter().filter(|(_, b)| *b > 0).collect();
        v.sort_by_key(|(_, b)| std::cmp::Reverse(*b));
        let list: Vec<String> =
            v.iter().map(|(f, b)| format!("{f} {:.2}", *b as f64 / 1e6)).collect();
        println!("{kind} MB by field: {}", list.join(", "));
    }
}

async fn timed<F: Future<Output = u64>>(f: impl Fn() -> F) -> (f64, f64, u64) {
    let mut v = Vec::new();
    let mut n = 0;
    for i in 0..60 {
        let t = Instant::now();
        n = f().await;
        if i >= 10 {
            v.push(t.elapsed());
        }
    }
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(v[v.len() / 2]), ms(v[v.len() * 99 / 100]), n)
}

/// The store under test in `dir`: `SPIKE_STORE=hybrid` for the hybrid
/// backend, else the Tantivy store.
fn store_url(dir: &Path) -> String {
    let scheme = std::env::var("SPIKE_STORE").unwrap_or_else(|_| "tantivy".into());
    format!("{scheme}://{}", dir.display())
}

fn opts() -> StoreOptions {
    let mut o = StoreOptions::default();
    if let Some(ms) = std::env::var("SPIKE_REFRESH").ok().and_then(|v| v.parse().ok()) {
        o.refresh_interval_ms = ms;
    }
    if let Some(ms) = std::env::var("SPIKE_MIN_REFRESH").ok().and_then(|v| v.parse().ok()) {
        o.min_refresh_interval_ms = ms;
    }
    o
}

#[tokio::main]
async fn main() {
    // `store_spike --inspect DIR`: the per-field bytes of a store's index
    // (DIR is the store directory, the one holding `index/`), nothing else.
    if std::env::args().nth(1).as_deref() == Some("--inspect") {
        let dir = std::env::args().nth(2).expect("--inspect needs a store directory");
        let index = Path::new(&dir).join("index");
        let segments = tantivy::Index::open_in_dir(&index).unwrap().searchable_segment_ids();
        println!("{} segments", segments.unwrap().len());
        per_field(&index);
        return;
    }
    let n: usize = std::env::args().nth(1).map_or(300_000, |a| a.parse().unwrap());
    let rules = RuleSet::default();
    let mut g = Generator::new(Some(42));
    let mut raw = 0usize;
    let mut records: Vec<LogRecord> = Vec::with_capacity(n);
    for i in 0..n {
        let ts = DAY_START_MS + (i as i128 * DAY_MS as i128 / n as i128) as i64;
        let json = serde_json::to_vec(&g.next(ts)).unwrap();
        raw += json.len();
        records.push(
            normalize(RawLog::from_json(&json).unwrap(), DAY_START_MS + DAY_MS, &rules).unwrap(),
        );
    }
    let probe = records[n / 2].clone();
    let word = probe
        .message
        .split_whitespace()
        .find(|w| w.len() > 5 && w.chars().all(char::is_alphabetic))
        .unwrap_or("timeout")
        .to_owned();
    // An id-like word (a digit and 8 bytes or more: an id, hex, a UUID's
    // part) of a message from the middle on, in one record or a few.
    let id_word = records[n / 2..]
        .iter()
        .flat_map(|r| r.message.split(|c: char| !c.is_alphanumeric()))
        .find(|w| w.len() >= 8 && w.bytes().any(|b| b.is_ascii_digit()))
        .unwrap_or("0000000000")
        .to_lowercase();
    let tmp = tempfile::tempdir().unwrap();
    let url = store_url(tmp.path());
    let store = loglens_store::open(&url, opts()).await.unwrap();
    let batches: Vec<Vec<LogRecord>> = records.chunks(5000).map(<[LogRecord]>::to_vec).collect();
    // Sent again after the reopen: every record an upsert of a stored id
    // (a client's retries, a replay).
    let replay: Vec<Vec<LogRecord>> = batches.iter().take(10).cloned().collect();
    drop(records);
    let (c0, t0) = (own_cpu_seconds(), Instant::now());
    {
        let mut acks = stream::iter(batches)
            .map(|b| {
                let s = store.clone();
                async move { s.index(b).await.unwrap() }
            })
            .buffer_unordered(4);
        while acks.next().await.is_some() {}
    }
    store.refresh().await.unwrap();
    let ingest_wall = t0.elapsed().as_secs_f64();
    let ingest_cpu = own_cpu_seconds() - c0;
    store.close().await.unwrap();
    let total_cpu = own_cpu_seconds() - c0;
    let mut by = BTreeMap::new();
    sizes(tmp.path(), &mut by);
    let disk: u64 = by.values().sum();
    println!(
        "records {n} raw {:.1} MB | ingest {:.0} rec/s wall, {:.0} rec/cpu-s (to refresh), {:.0} rec/cpu-s incl. close+merges",
        raw as f64 / 1e6,
        n as f64 / ingest_wall,
        n as f64 / ingest_cpu,
        n as f64 / total_cpu
    );
    println!(
        "disk {:.1} MB = {:.1}% of raw: {}",
        disk as f64 / 1e6,
        disk as f64 * 100.0 / raw as f64,
        by.iter()
            .map(|(k, v)| format!("{k} {:.1}", *v as f64 / 1e6))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // The Tantivy store's index, or the hybrid's postings.
    for index in ["index", "postings"].map(|d| tmp.path().join(d)) {
        if index.exists() {
            per_field(&index);
        }
    }
    drop(store);
    let store = loglens_store::open(&url, StoreOptions::default()).await.unwrap();
    let replayed: usize = replay.iter().map(Vec::len).sum();
    let (c0, t0) = (own_cpu_seconds(), Instant::now());
    for b in replay {
        store.index(b).await.unwrap();
    }
    store.refresh().await.unwrap();
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), own_cpu_seconds() - c0);
    let all =
        SearchRequest::new(Filter::default(), Sort::NewestFirst, None, Some(1), None).unwrap();
    let total = store.search(&all).await.unwrap().total;
    assert_eq!(total, n as u64, "a replay replaces, never adds");
    println!(
        "replay of {replayed} stored records (each an upsert): {:.0} rec/s wall, {:.0} rec/cpu-s",
        replayed as f64 / wall,
        replayed as f64 / cpu
    );
    let search = |f: Filter, size: u32| {
        let s = store.clone();
        async move {
            s.search(&SearchRequest::new(f, Sort::NewestFirst, None, Some(size), None).unwrap())
                .await
                .unwrap()
                .total
        }
    };
    let svc = probe.service_name.clone();
    let kinds: Vec<(&str, Filter, u32)> = vec![
        (
            "count ERROR one service",
            Filter {
                service_name: Some(svc.clone()),
                level: Some(Level::Error),
                ..Filter::default()
            },
            1,
        ),
        (
            "newest 20 service+level",
            Filter {
                service_name: Some(svc.clone()),
                level: Some(probe.level),
                ..Filter::default()
            },
            20,
        ),
        ("full text word", Filter { query: Some(word.clone()), ..Filter::default() }, 20),
        (
            "full text id-like word",
            Filter { query: Some(id_word.clone()), ..Filter::default() },
            20,
        ),
        ("newest 20, no filter", Filter::default(), 20),
        (
            "request_id exact",
            Filter { request_id: probe.request_id.clone(), ..Filter::default() },
            20,
        ),
        ("trace_id exact", Filter { trace_id: probe.trace_id.clone(), ..Filter::default() }, 20),
        (
            "attribute exact",
            Filter {
                attributes: probe
                    .attributes
                    .iter()
                    .take(1)
                    .map(|(k, v)| (k.clone(), v.to_string()))
                    .collect(),
                ..Filter::default()
            },
            20,
        ),
    ];
    println!("full text: word {word:?}, id-like word {id_word:?}");
    for (name, f, size) in kinds {
        let (p50, p99, total) = timed(|| search(f.clone(), size)).await;
        println!("{name:<28} p50 {p50:7.2} / p99 {p99:7.2} ms  (total {total})");
    }
    let stats = |r: StatsRequest| {
        let s = store.clone();
        async move { s.stats(&r).await.unwrap().total_logs }
    };
    let (p50, p99, _) = timed(|| stats(StatsRequest::default())).await;
    println!("{:<28} p50 {p50:7.2} / p99 {p99:7.2} ms", "counts per level (stats)");
    let h = StatsRequest { histogram_interval_ms: Some(60_000), ..StatsRequest::default() };
    let (p50, p99, _) = timed(|| stats(h.clone())).await;
    println!("{:<28} p50 {p50:7.2} / p99 {p99:7.2} ms", "per-minute histogram 24h");
    let hp = StatsRequest {
        histogram_interval_ms: Some(60_000),
        include_percentiles: true,
        ..StatsRequest::default()
    };
    let (p50, p99, _) = timed(|| stats(hp.clone())).await;
    println!("{:<28} p50 {p50:7.2} / p99 {p99:7.2} ms", "stats+histogram+pctl");
    store.close().await.unwrap();
}
