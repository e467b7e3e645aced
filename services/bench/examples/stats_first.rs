//! Issue 13: the first stats request of a new shape, as figure 6 of
//! `loglens bench` sends it ("stats + histogram + pctl, new shape"), on a
//! store of N generated records kept in DIR (built once, the same records
//! `loglens bench --query-records N` streams), reopened and asked RUNS
//! times. Prints p50/p99 ms with the stats cache on and off.
//! `SPIKE_STORE=hybrid`: a hybrid store (else the Tantivy store).
//! `cargo run --release --example stats_first -- DIR N [RUNS]`.
#![allow(missing_docs)]

use loglens_bench::own_cpu_seconds;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use futures::stream::{FuturesUnordered, StreamExt};
use loglens_core::query::{Filter, StatsRequest};
use loglens_core::record::{RawLog, normalize};
use loglens_core::{LogRecord, RuleSet};
use loglens_generator::Generator;
use loglens_store::{LogStore, StoreOptions};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DAY_START_MS: i64 = 1_767_225_600_000;
const DAY_MS: i64 = 86_400_000;

fn timestamp(i: usize, n: usize) -> i64 {
    DAY_START_MS + (i as i128 * DAY_MS as i128 / n.max(1) as i128) as i64
}

/// The store under test in `dir`: `SPIKE_STORE=hybrid` for the hybrid
/// backend, else the Tantivy store.
fn store_url(dir: &Path) -> String {
    let scheme = std::env::var("SPIKE_STORE").unwrap_or_else(|_| "tantivy".into());
    format!("{scheme}://{}", dir.display())
}

async fn build(dir: &Path, n: usize) {
    let store = loglens_store::open(&store_url(dir), StoreOptions::default()).await.unwrap();
    let rules = RuleSet::default();
    let mut g = Generator::new(Some(42));
    let mut acks: FuturesUnordered<tokio::task::JoinHandle<loglens_store::Result<()>>> =
        FuturesUnordered::new();
    let mut json = Vec::with_capacity(1024);
    let mut i = 0;
    let started = Instant::now();
    while i < n {
        let k = 1000.min(n - i);
        let mut batch: Vec<LogRecord> = Vec::with_capacity(k);
        for j in i..i + k {
            json.clear();
            serde_json::to_writer(&mut json, &g.next(timestamp(j, n))).unwrap();
            let raw = RawLog::from_json(&json).unwrap();
            batch.push(normalize(raw, DAY_START_MS + DAY_MS, &rules).unwrap());
        }
        i += k;
        while acks.len() >= 4 {
            acks.next().await.unwrap().unwrap().unwrap();
        }
        let store = store.clone();
        acks.push(tokio::spawn(async move { store.index(batch).await.map(drop) }));
        if i % 1_000_000 == 0 {
            eprintln!("{i} records, {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    while let Some(done) = acks.next().await {
        done.unwrap().unwrap();
    }
    store.refresh().await.unwrap();
    store.close().await.unwrap();
}

async fn time(store: &Arc<dyn LogStore>, base: &StatsRequest, runs: usize, from: i64) -> Vec<f64> {
    let mut ms = Vec::with_capacity(runs);
    for run in 0..runs as i64 {
        let req = StatsRequest {
            histogram_interval_ms: base.histogram_interval_ms.map(|iv| iv + from + run),
            ..base.clone()
        };
        let t = Instant::now();
        std::hint::black_box(store.stats(&req).await.unwrap());
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    ms
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split(' ')
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn pct(sorted: &[f64], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(&args[1]);
    let n: usize = args.get(2).map_or(10_000_000, |a| a.parse().unwrap());
    let runs: usize = args.get(3).map_or(60, |a| a.parse().unwrap());
    // The Tantivy store keeps `index/`, the hybrid a `layout` file.
    if !dir.join("index").exists() && !dir.join("layout").exists() {
        build(dir, n).await;
    }
    let req = StatsRequest {
        filter: Filter {
            from_timestamp: Some(DAY_START_MS),
            to_timestamp: Some(DAY_START_MS + DAY_MS - 1),
            ..Filter::default()
        },
        histogram_interval_ms: Some(60_000),
        include_percentiles: true,
    }
    .validated()
    .unwrap();
    for cache in [StoreOptions::default().stats_cache_bytes, 0] {
        let options = StoreOptions { stats_cache_bytes: cache, ..StoreOptions::default() };
        let store = loglens_store::open(&store_url(dir), options).await.unwrap();
        // Warm-up runs as figure 6 has them, of shapes of their own.
        time(&store, &req, 20, 0).await;
        let cpu = own_cpu_seconds();
        let ms = time(&store, &req, runs, 20).await;
        let cpu_ms = (own_cpu_seconds() - cpu) * 1e3 / runs as f64;
        println!(
            "cache {:>4} MiB: new shape p50 {:7.1} p99 {:7.1} min {:7.1} max {:7.1} ms, CPU {cpu_ms:6.1} ms/request ({runs} runs, load {})",
            cache >> 20,
            pct(&ms, 50),
            pct(&ms, 99),
            ms[0],
            ms[ms.len() - 1],
            load()
        );
        store.close().await.unwrap();
    }
}
