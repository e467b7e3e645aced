//! `loglens bench`: issue 6's benchmark. Generates a reproducible dataset
//! (the generator with a fixed seed, timestamps spread evenly over one fixed
//! day) and measures, in one run, each figure beside its ceiling:
//!
//! 1. parse + validate + normalise + score (`RawLog::from_json` +
//!    `record::normalize`), one thread;
//! 2. the raw Tantivy ceiling: the same records, built as documents with the
//!    store's own schema, added straight to a fresh index with the store's
//!    writer settings and a commit 1 s after the previous one ended;
//! 3. the loglens store (`loglens_store::open`, default options but the
//!    refresh intervals, `--refresh-interval-ms`, `--min-refresh-interval-ms`): `index()`
//!    in batches of 1000, 4 in flight, then `refresh()`; ratio to (2);
//! 4. end to end through Kafka (a nisshi broker it starts) beside raw
//!    rdkafka on the same broker ([`kafka`]);
//! 5. time-to-search at a steady offered rate ([`latency`]), and at half
//!    that rate (diagnostic: inside capacity when the full rate is not);
//! 6. queries, p50/p99 over 200 warm runs, on the store of (3) or on one of
//!    `--query-records` built by streaming the generator into it (repeated
//!    stats are answered from the store's per-segment stats cache; one row
//!    asks a new shape every run, so the cache never helps it);
//! 7. peak RSS of `loglens standalone` fed by the generator ([`rss`]);
//! 8. index size on disk as a fraction of the raw JSON;
//! 9. each drop-in protocol's ingest rate (OTLP/HTTP, Elasticsearch
//!    `_bulk`, Loki push, Splunk HEC, syslog TCP) beside native
//!    `POST /logs`, on the same records, each into a standalone of its own
//!    ([`protocols`]).
//!
//! Prints a table and, last on stdout, one JSON line (with `--json` the
//! table goes to stderr so stdout holds only the JSON line). MB = 10^6 bytes
//! of the records' raw JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod kafka;
mod latency;
mod protocols;
mod rss;

use anyhow::{Context, Result};
use futures::stream::{self, FuturesUnordered, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use loglens_core::record::normalize;
use loglens_core::{Filter, Level, LogRecord, RawLog, RuleSet, SearchRequest, Sort, StatsRequest};
use loglens_generator::Generator;
use loglens_store::tantivy::schema::{Fields, id_key};
use loglens_store::{LogStore, StoreOptions};
use serde_json::{Value, json};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{Index, IndexSettings, IndexWriter};

/// Start of the simulated day, 2026-01-01T00:00:00Z, so runs are comparable.
const DAY_START_MS: i64 = 1_767_225_600_000;
const DAY_MS: i64 = 86_400_000;
/// `received_at` of the dataset's records: the end of the simulated day.
const RECEIVED_AT_MS: i64 = DAY_START_MS + DAY_MS;
/// Records per `index()` call and calls in flight.
pub(crate) const BATCH: usize = 1000;
pub(crate) const IN_FLIGHT: usize = 4;
/// The store's doc store block size (`tantivy/mod.rs`, `DOCSTORE_BLOCK`).
const DOCSTORE_BLOCK: usize = 64 * 1024;
/// Commit cadence of the raw ceiling: the store's default refresh interval.
const COMMIT_EVERY: Duration = Duration::from_secs(1);
const WARMUP_RUNS: usize = 20;
const QUERY_RUNS: usize = 200;
/// How deep the cursor walk goes before the timed page.
const DEEP_PAGE: usize = 10_000;

// Issue 6's targets and the peers' published per-core figures.
const TARGET_STORE_RATIO: f64 = 0.85;
const TARGET_SEARCH_P99_MS: f64 = 50.0;
const TARGET_STATS_P99_MS: f64 = 150.0;
/// Issue 14: the server time of what one web UI view asks (its histogram
/// and first page, asked together as the page does).
const TARGET_UI_VIEW_P99_MS: f64 = 300.0;
/// Records on the web UI's first page, and histogram bars it aims for.
const UI_PAGE_SIZE: u32 = 50;
const UI_BUCKETS: i64 = 80;
const TARGET_KAFKA_RATIO: f64 = 0.7;
const TARGET_TIME_TO_SEARCH_P99_S: f64 = 1.0;
const TARGET_PEAK_RSS_MB: f64 = 512.0;
/// Issue 12: each drop-in protocol's records/s over native `POST /logs`.
const TARGET_PROTOCOL_RATIO: f64 = 0.8;
const QUICKWIT_MB_PER_CORE: f64 = 7.5;
const ELASTIC_MB_PER_VCPU: f64 = 7.0 * 1.048_576;

/// Measures every benchmark figure in one run and prints a table plus one
/// JSON line. Needs a nisshi broker binary for figure 4 (`--nisshi`).
/// Takes about 4.5 minutes with the defaults on 2 cores, 9-11 with
/// `--query-records 10000000`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Records in the dataset (figures 1-3 and 8; 4 unless --kafka-records).
    #[arg(long, env = "LOGLENS_BENCH_RECORDS", default_value_t = 1_000_000)]
    pub records: usize,
    /// Generator seed: the same seed gives the same dataset.
    #[arg(long, env = "LOGLENS_BENCH_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Records in the store the queries run on (built by streaming, so 10M
    /// fits in memory); default: the store of figure 3.
    #[arg(long, env = "LOGLENS_BENCH_QUERY_RECORDS")]
    pub query_records: Option<usize>,
    /// Records sent through Kafka (figure 4); default: --records.
    #[arg(long, env = "LOGLENS_BENCH_KAFKA_RECORDS")]
    pub kafka_records: Option<usize>,
    /// Producer compression on the Kafka run (figure 4, ceiling and loglens
    /// alike): snappy, lz4, zstd or none; default: loglens's (snappy).
    #[arg(long, env = "LOGLENS_BENCH_KAFKA_COMPRESSION", default_value = "snappy")]
    pub kafka_compression: loglens_kafka::Compression,
    /// Offered records/s for time-to-search (5) and peak RSS (7).
    #[arg(long, env = "LOGLENS_BENCH_RATE", default_value_t = 50_000)]
    pub rate: u64,
    /// Seconds of steady load for time-to-search (figure 5), 1..=3600.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub latency_seconds: u64,
    /// Seconds of load on standalone for peak RSS (figure 7), 1..=3600.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub rss_seconds: u64,
    /// Records sent through each ingest protocol (figure 9: native
    /// `POST /logs`, OTLP/HTTP, ES `_bulk`, Loki, Splunk HEC, syslog TCP),
    /// each into a fresh standalone.
    #[arg(long, env = "LOGLENS_BENCH_PROTOCOL_RECORDS", default_value_t = 100_000)]
    pub protocol_records: usize,
    /// Run only figure 9 (drop-in protocols, with the server's CPU per
    /// record) and print its rows; no broker needed.
    #[arg(long)]
    pub only_protocols: bool,
    /// The nisshi broker binary (figure 4); `scripts/test` installs it.
    #[arg(long, env = "LOGLENS_NISSHI", default_value = "nisshi")]
    pub nisshi: PathBuf,
    /// Only the JSON line on stdout (the table goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Directory for the indexes (a fresh temporary directory inside it).
    #[arg(long, env = "LOGLENS_BENCH_DIR")]
    pub dir: Option<PathBuf>,
    /// The store's refresh interval under load, ms (figures 3, 5 and 6).
    #[arg(long, default_value_t = StoreOptions::default().refresh_interval_ms,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub refresh_interval_ms: u64,
    /// The store's refresh interval at light load, ms (figures 3, 5 and 6);
    /// 0 or at least --refresh-interval-ms keeps the interval fixed.
    #[arg(long, default_value_t = StoreOptions::default().min_refresh_interval_ms)]
    pub min_refresh_interval_ms: u64,
    /// The store's per-segment stats cache, MiB (figure 6); 0 turns it off.
    #[arg(long, default_value_t = (StoreOptions::default().stats_cache_bytes >> 20) as u64)]
    pub stats_cache_mb: u64,
    /// The hybrid store's cache of decompressed column frames, MiB
    /// (figures 3, 5 and 6); 0 turns it off. The Tantivy store ignores it.
    #[arg(long, default_value_t = (StoreOptions::default().block_cache_bytes >> 20) as u64)]
    pub block_cache_mb: u64,
    /// Run only figure 3 (store ingest, with the process's CPU time per
    /// record, merges included) and figure 5 at --rate and at 80% of
    /// figure 3's rate, and print their rows: to compare refresh settings.
    #[arg(long, conflicts_with = "only_protocols")]
    pub only_refresh: bool,
    /// Run only figure 3 (the store path) and figure 4 (Kafka end to end
    /// and the raw rdkafka ceiling) on --kafka-records (default --records),
    /// with --kafka-compression; prints both, their ratio and the CPU time
    /// each took (figure 4's split into this process and the broker), then
    /// the processor alone draining the same records produced beforehand
    /// (no producer in its time) and the CPU time of parsing them.
    #[arg(long, conflicts_with_all = ["only_protocols", "only_refresh"])]
    pub only_kafka: bool,
    /// Run only figure 6 (the queries) on --query-records (default
    /// --records): with the stats cache as --stats-cache-mb sets it and,
    /// when that is on, again with it off on the same index; prints both.
    #[arg(long, conflicts_with_all = ["only_protocols", "only_refresh", "only_kafka"])]
    pub only_queries: bool,
    /// The embedded store every figure but 1, 2 and 9 runs on: hybrid (the
    /// default: columnar blocks beside message postings; README "The
    /// embedded store") or tantivy (the store before it).
    #[arg(long, env = "LOGLENS_BENCH_STORE", value_enum, default_value_t = StoreKind::Hybrid)]
    pub store: StoreKind,
}

/// Which embedded store `loglens bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// `tantivy:///DIR`, the store before the hybrid.
    Tantivy,
    /// `hybrid:///DIR`, the default store.
    Hybrid,
}

impl StoreKind {
    /// The store URL of a store of this kind in `dir`.
    pub(crate) fn url(self, dir: &Path) -> Result<String> {
        let dir = dir.to_str().context("non-UTF-8 bench directory")?;
        Ok(match self {
            StoreKind::Tantivy => format!("tantivy://{dir}"),
            StoreKind::Hybrid => format!("hybrid://{dir}"),
        })
    }

    /// Opens a store of this kind in `dir` with `options`, and checks the
    /// store that opened is the one asked for.
    pub(crate) async fn open(
        self,
        dir: &Path,
        options: &StoreOptions,
    ) -> Result<Arc<dyn LogStore>> {
        let store = loglens_store::open(&self.url(dir)?, options.clone()).await?;
        anyhow::ensure!(
            store.backend() == self.name(),
            "asked for the {} store, {} opened",
            self.name(),
            store.backend()
        );
        Ok(store)
    }

    /// Its name in the table and the JSON line.
    fn name(self) -> &'static str {
        match self {
            StoreKind::Tantivy => "tantivy",
            StoreKind::Hybrid => "hybrid",
        }
    }
}

impl BenchArgs {
    /// The store options of figures 3, 5 and 6.
    fn store_options(&self) -> StoreOptions {
        StoreOptions {
            refresh_interval_ms: self.refresh_interval_ms,
            min_refresh_interval_ms: self.min_refresh_interval_ms,
            stats_cache_bytes: (self.stats_cache_mb as usize) << 20,
            block_cache_bytes: (self.block_cache_mb as usize) << 20,
            ..StoreOptions::default()
        }
    }
}

/// The raw JSON of every record, back to back.
struct Dataset {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Dataset {
    fn generate(n: usize, seed: u64, pb: &ProgressBar) -> Result<Dataset> {
        let mut g = Generator::new(Some(seed));
        let mut bytes = Vec::with_capacity(n * 420);
        let mut ends = Vec::with_capacity(n);
        for i in 0..n {
            serde_json::to_writer(&mut bytes, &g.next(timestamp(i, n)))?;
            ends.push(bytes.len());
            if i % 4096 == 0 {
                pb.set_position(i as u64);
            }
        }
        Ok(Dataset { bytes, ends })
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(|(s, e)| &self.bytes[s..e])
    }
}

/// The timestamp of record `i` of `n`: spread evenly over the day.
fn timestamp(i: usize, n: usize) -> i64 {
    DAY_START_MS + (i as i128 * DAY_MS as i128 / n.max(1) as i128) as i64
}

/// Throughput of one phase.
#[derive(Debug, Clone, Copy)]
struct Rate {
    records_per_s: f64,
    mb_per_s: f64,
}

impl Rate {
    fn new(records: usize, bytes: usize, took: Duration) -> Rate {
        let s = took.as_secs_f64().max(1e-9);
        Rate { records_per_s: records as f64 / s, mb_per_s: bytes as f64 / 1e6 / s }
    }

    fn json(&self) -> Value {
        json!({ "records_per_s": self.records_per_s, "mb_per_s": self.mb_per_s })
    }
}

pub(crate) fn bar(len: usize, msg: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:<28} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.set_message(msg.to_owned());
    pb
}

/// One dataset record's JSON as the ingest path turns it into a record.
fn parse_record(json: &[u8], rules: &RuleSet) -> Result<LogRecord> {
    Ok(normalize(RawLog::from_json(json)?, RECEIVED_AT_MS, rules)?)
}

/// The value at percentile `pct` (0-100) of `sorted`, which is not empty.
pub(crate) fn percentile<T: Copy>(sorted: &[T], pct: usize) -> T {
    sorted[(sorted.len() * pct / 100).min(sorted.len() - 1)]
}

/// Phase 1: parse + validate + normalise + score, one thread.
fn parse_all(data: &Dataset, rules: &RuleSet) -> Result<(Vec<LogRecord>, Duration)> {
    let pb = bar(data.ends.len(), "1 parse+normalise");
    let mut records = Vec::with_capacity(data.ends.len());
    let started = Instant::now();
    for (i, json) in data.iter().enumerate() {
        records.push(parse_record(json, rules)?);
        if i % 4096 == 0 {
            pb.set_position(i as u64);
        }
    }
    let took = started.elapsed();
    pb.finish_and_clear();
    Ok((records, took))
}

/// What the raw Tantivy ceiling measured.
struct RawRun {
    took: Duration,
    commits: u64,
    index_bytes: u64,
}

/// Phase 2: the records straight into a fresh Tantivy index with the store's
/// schema, doc store settings and writer settings, committing every second.
/// With `upsert`, each add is preceded by a delete of its id, as the store
/// does: a diagnostic, to split what separates the store from the ceiling.
fn raw_tantivy(
    records: &[LogRecord],
    dir: &Path,
    options: &StoreOptions,
    upsert: bool,
) -> Result<RawRun> {
    let pb = bar(
        records.len(),
        if upsert { "2b raw tantivy + upsert" } else { "2 raw tantivy ceiling" },
    );
    let (schema, fields) = Fields::build();
    let settings = IndexSettings {
        docstore_compression: Compressor::Zstd(ZstdCompressor::default()),
        docstore_blocksize: DOCSTORE_BLOCK,
        ..IndexSettings::default()
    };
    std::fs::create_dir_all(dir)?;
    let index = Index::builder().schema(schema).settings(settings).create_in_dir(dir)?;
    let mut writer: IndexWriter =
        index.writer_with_num_threads(options.indexing_threads, options.indexing_memory_bytes)?;
    let started = Instant::now();
    let mut last_commit = started;
    let mut commits = 0;
    for (i, r) in records.iter().enumerate() {
        let key = id_key(&r.id);
        if upsert {
            writer.delete_query(fields.id_query(key))?;
        }
        writer.add_document(fields.document(r, i as u64 + 1, key))?;
        if i % 256 == 0 {
            pb.set_position(i as u64);
            if last_commit.elapsed() >= COMMIT_EVERY {
                writer.commit()?;
                commits += 1;
                last_commit = Instant::now();
            }
        }
    }
    writer.commit()?;
    commits += 1;
    let took = started.elapsed();
    pb.finish_and_clear();
    // Untimed: let merges finish so they neither overlap phase 3 nor
    // leave the size half-merged.
    writer.wait_merging_threads()?;
    Ok(RawRun { took, commits, index_bytes: dir_size(dir)? })
}

/// `records` cut into batches of `BATCH`, in order.
pub(crate) fn batches(records: Vec<LogRecord>) -> Vec<Vec<LogRecord>> {
    let mut out = Vec::with_capacity(records.len() / BATCH + 1);
    let mut it = records.into_iter().peekable();
    while it.peek().is_some() {
        out.push(it.by_ref().take(BATCH).collect());
    }
    out
}

/// Phase 3: the store's `index()` in batches, `IN_FLIGHT` at once, then
/// `refresh()`. Consumes the records (`index` takes them by value).
async fn store_ingest(store: &Arc<dyn LogStore>, records: Vec<LogRecord>) -> Result<Duration> {
    let pb = bar(records.len(), "3 loglens store ingest");
    let batches = batches(records);
    let started = Instant::now();
    let mut acks = stream::iter(batches)
        .map(|b| {
            let store = store.clone();
            async move {
                let n = b.len();
                store.index(b).await.map(|_| n)
            }
        })
        .buffer_unordered(IN_FLIGHT);
    while let Some(n) = acks.next().await {
        pb.inc(n? as u64);
    }
    store.refresh().await?;
    let took = started.elapsed();
    pb.finish_and_clear();
    Ok(took)
}

/// Figure 6 at scale: streams `n` generated records (same seed and
/// timestamps as the dataset would have) into `store` without holding them,
/// then refreshes.
async fn build_query_store(
    store: &Arc<dyn LogStore>,
    n: usize,
    seed: u64,
    rules: &RuleSet,
) -> Result<()> {
    let pb = bar(n, "6 build query store");
    let mut g = Generator::new(Some(seed));
    let mut acks = FuturesUnordered::new();
    let mut json = Vec::with_capacity(1024);
    let mut i = 0;
    while i < n {
        let k = BATCH.min(n - i);
        let mut batch = Vec::with_capacity(k);
        for j in i..i + k {
            json.clear();
            serde_json::to_writer(&mut json, &g.next(timestamp(j, n)))?;
            batch.push(parse_record(&json, rules)?);
        }
        i += k;
        while acks.len() >= IN_FLIGHT {
            if let Some(done) = acks.next().await {
                pb.inc(done??);
            }
        }
        let store = store.clone();
        acks.push(tokio::spawn(async move { store.index(batch).await.map(|_| k as u64) }));
    }
    while let Some(done) = acks.next().await {
        pb.inc(done??);
    }
    store.refresh().await?;
    pb.finish_and_clear();
    Ok(())
}

/// Bytes of every file under `dir`.
fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { dir_size(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}

/// p50 and p99 of one query, ms.
#[derive(Debug, Clone, Copy)]
struct Latency {
    p50: f64,
    p99: f64,
}

enum Query {
    Search(SearchRequest),
    Stats(StatsRequest),
    /// Stats whose histogram interval grows by 1 ms on every run: a shape
    /// no earlier request had, so the store's per-segment stats cache never
    /// answers it (the cost of a first look).
    NewShape(StatsRequest, std::sync::atomic::AtomicI64),
    /// A web UI view: its histogram and first page at once.
    View(Box<(StatsRequest, SearchRequest)>),
}

impl Query {
    async fn run(&self, store: &dyn LogStore) -> Result<()> {
        match self {
            Query::Search(r) => drop(store.search(r).await?),
            Query::Stats(r) => drop(store.stats(r).await?),
            Query::NewShape(r, runs) => {
                let run = runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let interval = r.histogram_interval_ms.map(|ms| ms + run);
                drop(
                    store
                        .stats(&StatsRequest { histogram_interval_ms: interval, ..r.clone() })
                        .await?,
                );
            }
            Query::View(view) => {
                let (stats, page) = tokio::join!(store.stats(&view.0), store.search(&view.1));
                drop((stats?, page?));
            }
        }
        Ok(())
    }

    async fn time(&self, store: &dyn LogStore, pb: &ProgressBar) -> Result<Latency> {
        for _ in 0..WARMUP_RUNS {
            self.run(store).await?;
        }
        let mut ms = Vec::with_capacity(QUERY_RUNS);
        for _ in 0..QUERY_RUNS {
            let t = Instant::now();
            self.run(store).await?;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            pb.inc(1);
        }
        ms.sort_by(f64::total_cmp);
        Ok(Latency { p50: percentile(&ms, 50), p99: percentile(&ms, 99) })
    }
}

/// The histogram interval the web UI picks for a range (ui/src/state.ts
/// `pickInterval`): the first step giving at most [`UI_BUCKETS`] bars.
fn ui_interval_ms(span_ms: i64) -> i64 {
    const STEPS_S: [i64; 13] =
        [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400];
    STEPS_S.iter().map(|s| s * 1000).find(|s| span_ms / s <= UI_BUCKETS).unwrap_or(86_400_000)
}

/// Phase 6: each query 20 times unmeasured, then 200 timed runs; each with
/// its p99 target in ms.
async fn queries(
    store: &dyn LogStore,
    total: usize,
) -> Result<(Vec<(&'static str, f64, Latency)>, usize)> {
    let newest = |filter: Filter, cursor: Option<String>, size: u32| {
        SearchRequest::new(filter, Sort::NewestFirst, None, Some(size), cursor)
    };
    // Walk about 10k records deep by cursor, then time the next page.
    let want = DEEP_PAGE.min(total / 2).max(1);
    let (mut depth, mut cursor) = (0, None);
    while depth < want {
        let page = store
            .search(&newest(Filter::default(), cursor.clone(), (want - depth).min(1000) as u32)?)
            .await?;
        depth += page.logs.len();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let all_day = StatsRequest {
        filter: Filter {
            from_timestamp: Some(DAY_START_MS),
            to_timestamp: Some(DAY_START_MS + DAY_MS - 1),
            ..Filter::default()
        },
        histogram_interval_ms: Some(60_000),
        include_percentiles: true,
    };
    let service_level = Filter {
        service_name: Some("api-gateway".into()),
        level: Some(Level::Error),
        ..Filter::default()
    };
    let text = Filter {
        service_name: Some("payment-service".into()),
        query: Some("failed".into()),
        ..Filter::default()
    };
    // What the web UI's explore view asks for the whole day: a histogram of
    // about 80 bars (its interval choice) and the newest page.
    let view = |filter: Filter| -> Result<Query> {
        let filter = Filter {
            from_timestamp: Some(DAY_START_MS),
            to_timestamp: Some(DAY_START_MS + DAY_MS - 1),
            ..filter
        };
        let stats = StatsRequest {
            filter: filter.clone(),
            histogram_interval_ms: Some(ui_interval_ms(DAY_MS)),
            include_percentiles: false,
        };
        Ok(Query::View(Box::new((stats.validated()?, newest(filter, None, UI_PAGE_SIZE)?))))
    };
    let ui_text = Filter { query: Some("failed".into()), ..Filter::default() };
    // Keyword fields: one of 4 hosts of a service, and the 10% canary tag.
    let host_tag = Filter {
        host: Some("payment-service-1".into()),
        tag: Some("canary".into()),
        ..Filter::default()
    };
    let (search, stats, ui) = (TARGET_SEARCH_P99_MS, TARGET_STATS_P99_MS, TARGET_UI_VIEW_P99_MS);
    let list: Vec<(&'static str, f64, Query)> = vec![
        ("service+level newest 20", search, Query::Search(newest(service_level, None, 20)?)),
        ("deep page via cursor", search, Query::Search(newest(Filter::default(), cursor, 20)?)),
        (
            "anomalies top 20",
            search,
            Query::Search(SearchRequest::anomalies(Filter::default(), None, Some(20), None)?),
        ),
        ("full text + service", search, Query::Search(newest(text, None, 20)?)),
        ("host + tag newest 20", search, Query::Search(newest(host_tag, None, 20)?)),
        ("stats", stats, Query::Stats(StatsRequest::default().validated()?)),
        ("stats + histogram + pctl", stats, Query::Stats(all_day.clone().validated()?)),
        (
            "stats + histogram + pctl, new shape",
            stats,
            Query::NewShape(all_day.validated()?, 0.into()),
        ),
        ("UI view: histogram + page", ui, view(Filter::default())?),
        ("UI view, full text", ui, view(ui_text)?),
    ];
    let pb = bar(list.len() * QUERY_RUNS, "6 queries");
    let mut out = Vec::with_capacity(list.len());
    for (name, target, q) in &list {
        out.push((*name, *target, q.time(store, &pb).await?));
    }
    pb.finish_and_clear();
    Ok((out, depth))
}

/// nproc, CPU model and RAM, from /proc.
fn hardware() -> (usize, String, f64) {
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let ram_kb = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    (nproc, cpu, ram_kb / 1024.0 / 1024.0)
}

/// Table rows: figure, value, ceiling or ratio, target.
struct Table(Vec<[String; 4]>);

impl Table {
    fn row(&mut self, figure: &str, value: String, vs: String, target: String) {
        self.0.push([figure.to_owned(), value, vs, target]);
    }

    fn render(&self) -> String {
        let head = ["figure", "value", "ceiling / ratio", "target"];
        let mut w = head.map(str::len);
        for r in &self.0 {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |r: [&str; 4]| {
            format!(
                "| {:<a$} | {:>b$} | {:<c$} | {:<d$} |\n",
                r[0],
                r[1],
                r[2],
                r[3],
                a = w[0],
                b = w[1],
                c = w[2],
                d = w[3]
            )
        };
        let mut s = line(head);
        s += &format!(
            "|{}|{}|{}|{}|\n",
            "-".repeat(w[0] + 2),
            "-".repeat(w[1] + 2),
            "-".repeat(w[2] + 2),
            "-".repeat(w[3] + 2)
        );
        for r in &self.0 {
            s += &line([&r[0], &r[1], &r[2], &r[3]]);
        }
        s
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Runs every phase and prints the table and the JSON line.
pub async fn run(args: BenchArgs) -> Result<()> {
    anyhow::ensure!(args.records >= 1, "--records must be >= 1, got 0");
    anyhow::ensure!(args.query_records != Some(0), "--query-records must be >= 1, got 0");
    anyhow::ensure!(args.kafka_records != Some(0), "--kafka-records must be >= 1, got 0");
    anyhow::ensure!(args.protocol_records >= 1, "--protocol-records must be >= 1, got 0");
    anyhow::ensure!(args.rate >= 1, "--rate must be >= 1 records/s, got 0");
    let (nproc, cpu, ram_gb) = hardware();
    let hw_line =
        format!("{nproc} cores (nproc), {cpu}, {ram_gb:.1} GiB RAM; store: {}", args.store.name());
    let work = match &args.dir {
        Some(d) => tempfile::Builder::new().prefix("loglens-bench-").tempdir_in(d)?,
        None => tempfile::Builder::new().prefix("loglens-bench-").tempdir()?,
    };
    if args.only_protocols {
        let protos =
            protocols::run(&work.path().join("protocols"), args.protocol_records, args.seed)
                .await
                .context("figure 9 (drop-in protocols)")?;
        eprintln!("{hw_line}");
        let mut rows = Vec::new();
        for p in &protos {
            let per_cpu = p.records_per_cpu_s();
            eprintln!(
                "9 {:<32} {:>9.0} rec/s {:>6.1} MB/s  server CPU {:>7}  {:>9} rec per server CPU-s",
                p.label,
                p.records_per_s(),
                p.mb_per_s(),
                p.server_cpu.map_or("?".into(), |c| format!("{:.2}s", c.as_secs_f64())),
                per_cpu.map_or("?".into(), |r| format!("{r:.0}")),
            );
            rows.push(json!({"protocol": p.key, "records": p.accepted,
                "records_per_s": p.records_per_s(), "server_cpu_s": p.server_cpu.map(|c| c.as_secs_f64()),
                "records_per_server_cpu_s": per_cpu}));
        }
        println!("{}", json!({ "protocols": rows }));
        return Ok(());
    }
    let options = args.store_options();
    let rules = RuleSet::default();
    if args.only_refresh {
        return only_refresh(&args, &options, &rules, work.path(), &hw_line).await;
    }
    if args.only_kafka {
        return only_kafka(&args, &options, &rules, work.path(), &hw_line).await;
    }
    if args.only_queries {
        return only_queries(&args, &options, &rules, work.path(), &hw_line).await;
    }

    let pb = bar(args.records, "generate dataset");
    let data = Dataset::generate(args.records, args.seed, &pb)?;
    pb.finish_and_clear();
    let raw_bytes = data.bytes.len();
    let n = args.records;

    // 1. parse + validate + normalise + score.
    let (records, parse_took) = parse_all(&data, &rules)?;
    let parse = Rate::new(n, raw_bytes, parse_took);

    // 2. raw Tantivy ceiling.
    let raw_run = raw_tantivy(&records, &work.path().join("raw"), &options, false)?;
    let raw = Rate::new(n, raw_bytes, raw_run.took);
    std::fs::remove_dir_all(work.path().join("raw"))?;
    // 2b. the same with the store's upsert deletes (diagnostic).
    let upsert_run = raw_tantivy(&records, &work.path().join("raw-upsert"), &options, true)?;
    let upsert = Rate::new(n, raw_bytes, upsert_run.took);
    std::fs::remove_dir_all(work.path().join("raw-upsert"))?;

    // 3. the store.
    let store_dir = work.path().join("store");
    let store = args.store.open(&store_dir, &options).await?;
    let store_took = store_ingest(&store, records).await?;
    let ingest = Rate::new(n, raw_bytes, store_took);
    let ratio = ingest.records_per_s / raw.records_per_s;
    let per_core = ingest.mb_per_s / nproc as f64;

    // 6. queries: on the phase 3 store, or a streamed one of --query-records.
    let query_records = args.query_records.unwrap_or(n);
    let on_phase3 = if query_records == n { Some(queries(store.as_ref(), n).await?) } else { None };
    store.close().await?;
    // Everything but the write-ahead log: the Tantivy store's index, or the
    // hybrid's blocks, postings and deleted rows.
    let store_bytes = dir_size(&store_dir)?;
    let index_bytes = store_bytes - dir_size(&store_dir.join("wal"))?;
    drop(store);
    std::fs::remove_dir_all(&store_dir)?;
    let (query_results, depth) = match on_phase3 {
        Some(results) => results,
        None => {
            let q_dir = work.path().join("query-store");
            let q_store = args.store.open(&q_dir, &options).await?;
            build_query_store(&q_store, query_records, args.seed, &rules).await?;
            let results = queries(q_store.as_ref(), query_records).await?;
            q_store.close().await?;
            drop(q_store);
            std::fs::remove_dir_all(&q_dir)?;
            results
        }
    };

    // 4. Kafka: the dataset's first --kafka-records records, parsed again (untimed).
    let kafka_n = args.kafka_records.unwrap_or(n).min(n);
    let payloads: Vec<&[u8]> = data.iter().take(kafka_n).collect();
    let kafka_records = payloads
        .iter()
        .map(|json| parse_record(json, &rules))
        .collect::<Result<Vec<LogRecord>>>()?;
    let (k, kafka_ceiling, kafka_e2e) =
        kafka_figure(&args, &work.path().join("kafka"), &payloads, kafka_records, &rules).await?;
    drop(payloads);
    drop(data);
    std::fs::remove_dir_all(work.path().join("kafka"))?;
    let kafka_ratio = kafka_e2e.records_per_s / kafka_ceiling.records_per_s;

    // 5. time-to-search at a steady offered rate, then at half of it.
    let mut lats = Vec::with_capacity(2);
    for rate in [args.rate, (args.rate / 2).max(1)] {
        let dir = work.path().join(format!("latency-{rate}"));
        let l = latency::run(
            &dir,
            args.store,
            &options,
            args.seed,
            rate,
            Duration::from_secs(args.latency_seconds),
            &rules,
        )
        .await
        .with_context(|| format!("figure 5 (time-to-search at {rate} records/s)"))?;
        std::fs::remove_dir_all(dir)?;
        lats.push((rate, l));
    }

    // 7. peak RSS of standalone.
    let mem = rss::run(
        &work.path().join("rss"),
        args.store,
        args.seed,
        args.rate,
        Duration::from_secs(args.rss_seconds),
    )
    .await
    .context("figure 7 (standalone peak RSS)")?;

    // 9. drop-in protocols beside native POST /logs.
    let protos = protocols::run(&work.path().join("protocols"), args.protocol_records, args.seed)
        .await
        .context("figure 9 (drop-in protocols)")?;
    let native_rps = protos[0].records_per_s();

    // 8. size.
    let size_fraction = index_bytes as f64 / raw_bytes as f64;
    let raw_size_fraction = raw_run.index_bytes as f64 / raw_bytes as f64;

    let rate_cell = |r: &Rate| format!("{:.0} rec/s, {:.1} MB/s", r.records_per_s, r.mb_per_s);
    let mut t = Table(Vec::new());
    t.row(
        "dataset",
        format!("{n} records, {:.1} MB", raw_bytes as f64 / 1e6),
        format!("{:.0} B/record, seed {}", raw_bytes as f64 / n as f64, args.seed),
        String::new(),
    );
    t.row(
        "1 parse+normalise+score",
        rate_cell(&parse),
        "1 thread, no ceiling defined".into(),
        String::new(),
    );
    t.row(
        "2 raw tantivy ceiling",
        rate_cell(&raw),
        format!(
            "{} threads, {} MB heap, {} commits",
            options.indexing_threads,
            options.indexing_memory_bytes >> 20,
            raw_run.commits
        ),
        "notes: 112-154k rec/s".into(),
    );
    t.row(
        "2b raw tantivy + upserts",
        rate_cell(&upsert),
        format!(
            "{:.2} of raw tantivy, {} commits",
            upsert.records_per_s / raw.records_per_s,
            upsert_run.commits
        ),
        "diagnostic, no target".into(),
    );
    t.row(
        "3 loglens store ingest",
        rate_cell(&ingest),
        format!("{ratio:.2} of raw tantivy"),
        format!(">= {TARGET_STORE_RATIO}: {}", met(ratio >= TARGET_STORE_RATIO)),
    );
    t.row(
        "3 per core",
        format!("{per_core:.1} MB/s/core"),
        format!(
            "{:.2}x Quickwit, {:.2}x ES",
            per_core / QUICKWIT_MB_PER_CORE,
            per_core / ELASTIC_MB_PER_VCPU
        ),
        format!("> 7.5 / 7.3: {}", met(per_core > QUICKWIT_MB_PER_CORE.max(ELASTIC_MB_PER_VCPU))),
    );
    t.row(
        "4 raw rdkafka ceiling",
        rate_cell(&kafka_ceiling),
        format!(
            "produce alone {:.0} rec/s, {kafka_n} records, {} compression",
            kafka_n as f64 / k.ceiling_produce.as_secs_f64(),
            args.kafka_compression.as_str()
        ),
        "notes: 0.5-1.0M rec/s produce".into(),
    );
    t.row(
        "4 kafka end to end",
        rate_cell(&kafka_e2e),
        format!(
            "{kafka_ratio:.2} of raw rdkafka, {:.2} of store (3)",
            kafka_e2e.records_per_s / ingest.records_per_s
        ),
        format!(">= {TARGET_KAFKA_RATIO}: {}", met(kafka_ratio >= TARGET_KAFKA_RATIO)),
    );
    for (i, (rate, lat)) in lats.iter().enumerate() {
        t.row(
            if i == 0 { "5 time-to-search" } else { "5b time-to-search, half rate" },
            format!("p50 {:.2} / p99 {:.2} s", lat.p50.as_secs_f64(), lat.p99.as_secs_f64()),
            format!(
                "{:.0} of {rate} rec/s offered kept, max {:.2} s{}",
                lat.achieved,
                lat.max.as_secs_f64(),
                capped_note(lat)
            ),
            if i == 0 {
                format!(
                    "p99 <= {TARGET_TIME_TO_SEARCH_P99_S} s: {}",
                    met(lat.p99.as_secs_f64() <= TARGET_TIME_TO_SEARCH_P99_S)
                )
            } else {
                "diagnostic, no target".into()
            },
        );
    }
    for (name, target, l) in &query_results {
        let target = *target;
        t.row(
            &format!("6 {name}"),
            format!("p50 {:.2} / p99 {:.2} ms", l.p50, l.p99),
            format!(
                "{query_records} records{}",
                if *name == "deep page via cursor" {
                    format!(", {depth} deep")
                } else {
                    String::new()
                }
            ),
            format!("p99 <= {target} ms: {}", met(l.p99 <= target)),
        );
    }
    let peak_mb = mb(mem.peak_bytes);
    t.row(
        "7 standalone peak RSS",
        format!("{peak_mb:.0} MB"),
        format!(
            "{:.0} of {} rec/s kept; at the end {:.0} MB anon + {:.0} MB file",
            mem.achieved,
            args.rate,
            mb(mem.anon_bytes),
            mb(mem.file_bytes)
        ),
        format!("<= {TARGET_PEAK_RSS_MB} MB: {}", met(peak_mb <= TARGET_PEAK_RSS_MB)),
    );
    t.row(
        "8 index size / raw JSON",
        format!("{:.1}% ({:.1} MB)", size_fraction * 100.0, index_bytes as f64 / 1e6),
        format!(
            "raw tantivy {:.1}%, ratio {:.2}",
            raw_size_fraction * 100.0,
            size_fraction / raw_size_fraction
        ),
        "no target (notes: 49-66%)".into(),
    );
    for p in &protos {
        let ratio = p.records_per_s() / native_rps;
        let native = p.key == "native";
        t.row(
            &format!("9 {}", p.label),
            format!("{:.0} rec/s, {:.1} MB/s", p.records_per_s(), p.mb_per_s()),
            if native {
                format!(
                    "{} records, batches of {}, {} clients; {} records per server CPU-s",
                    p.accepted,
                    protocols::BATCH,
                    protocols::CLIENTS,
                    p.records_per_cpu_s().map_or("?".into(), |r| format!("{r:.0}")),
                )
            } else {
                format!("{ratio:.2} of native")
            },
            if native {
                "baseline".into()
            } else {
                format!(">= {TARGET_PROTOCOL_RATIO}: {}", met(ratio >= TARGET_PROTOCOL_RATIO))
            },
        );
    }
    let table = format!("{hw_line}\n\n{}", t.render());
    if args.json {
        eprint!("{table}");
    } else {
        print!("{table}");
    }

    let mut q = BTreeMap::new();
    for (name, _, l) in &query_results {
        let key = name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>();
        q.insert(key.join("_"), json!({ "p50_ms": l.p50, "p99_ms": l.p99 }));
    }
    let mut proto_json = serde_json::Map::new();
    proto_json.insert("records".into(), args.protocol_records.into());
    proto_json.insert("batch".into(), protocols::BATCH.into());
    proto_json.insert("clients".into(), protocols::CLIENTS.into());
    for p in &protos {
        proto_json.insert(
            p.key.into(),
            json!({
                "records_per_s": p.records_per_s(), "mb_per_s": p.mb_per_s(),
                "accepted": p.accepted, "body_bytes": p.body_bytes, "seconds": p.took.as_secs_f64(),
                "ratio_to_native": p.records_per_s() / native_rps,
                "records_per_server_cpu_s": p.records_per_cpu_s(),
            }),
        );
    }
    let report = json!({
        "records": n,
        "seed": args.seed,
        "raw_json_bytes": raw_bytes,
        "hardware": { "nproc": nproc, "cpu": cpu, "ram_gib": ram_gb },
        "store": args.store.name(),
        "parse": parse.json(),
        "raw_tantivy": {
            "records_per_s": raw.records_per_s, "mb_per_s": raw.mb_per_s,
            "commits": raw_run.commits, "index_bytes": raw_run.index_bytes, "index_fraction": raw_size_fraction,
        },
        "raw_tantivy_upsert": {
            "records_per_s": upsert.records_per_s, "mb_per_s": upsert.mb_per_s,
            "ratio_to_raw": upsert.records_per_s / raw.records_per_s, "commits": upsert_run.commits,
        },
        "store_ingest": {
            "records_per_s": ingest.records_per_s, "mb_per_s": ingest.mb_per_s,
            "ratio_to_raw": ratio, "mb_per_s_per_core": per_core,
        },
        "kafka": {
            "records": kafka_n, "distinct_records": k.distinct,
            "compression": args.kafka_compression.as_str(),
            "raw_rdkafka": kafka_ceiling.json(),
            "raw_produce_records_per_s": kafka_n as f64 / k.ceiling_produce.as_secs_f64(),
            "end_to_end": kafka_e2e.json(),
            "loglens_produce_records_per_s": kafka_n as f64 / k.produce.as_secs_f64(),
            "ratio_to_raw": kafka_ratio,
            "ratio_to_store": kafka_e2e.records_per_s / ingest.records_per_s,
        },
        "time_to_search": lats.iter().map(|(rate, lat)| json!({
            "offered_records_per_s": rate, "achieved_records_per_s": lat.achieved,
            "records": lat.records, "batches": lat.batches, "seconds": lat.seconds,
            "p50_s": lat.p50.as_secs_f64(), "p99_s": lat.p99.as_secs_f64(), "max_s": lat.max.as_secs_f64(),
        })).collect::<Vec<_>>(),
        "index_size": {
            "index_bytes": index_bytes, "store_bytes": store_bytes,
            "fraction_of_raw_json": size_fraction, "ratio_to_raw_tantivy": size_fraction / raw_size_fraction,
        },
        "queries": { "records": query_records, "deep_page_depth": depth, "latency": q },
        "standalone_rss": {
            "offered_records_per_s": args.rate, "achieved_records_per_s": mem.achieved,
            "accepted": mem.accepted, "seconds": args.rss_seconds,
            "peak_bytes": mem.peak_bytes, "anon_bytes": mem.anon_bytes, "file_bytes": mem.file_bytes,
        },
        "protocols": proto_json,
    });
    println!("{report}");
    Ok(())
}

/// `--only-kafka`: figure 3 (the store path) and figure 4 (Kafka end to
/// end beside raw rdkafka) on the same records, with the ratio issue 13
/// asks for (Kafka end to end >= 0.85 of the store path), then the
/// processor alone draining the same records produced beforehand, and the
/// CPU time of parsing and normalising them (which the store path skips).
async fn only_kafka(
    args: &BenchArgs,
    options: &StoreOptions,
    rules: &RuleSet,
    work: &Path,
    hw_line: &str,
) -> Result<()> {
    let n = args.kafka_records.unwrap_or(args.records).min(args.records);
    let pb = bar(n, "generate dataset");
    let data = Dataset::generate(n, args.seed, &pb)?;
    pb.finish_and_clear();
    let raw_bytes = data.bytes.len();
    let cpu = protocols::OwnCpu::start();
    let (records, _) = parse_all(&data, rules)?;
    let parse_cpu = cpu.elapsed();
    let store_dir = work.join("store");
    let store = args.store.open(&store_dir, options).await?;
    let cpu = protocols::OwnCpu::start();
    let store_took = store_ingest(&store, records.clone()).await?;
    let store_cpu = cpu.elapsed();
    store.close().await?;
    drop(store);
    std::fs::remove_dir_all(&store_dir)?;
    let ingest = Rate::new(n, raw_bytes, store_took);
    let payloads: Vec<&[u8]> = data.iter().collect();
    let (k, ceiling, e2e) =
        kafka_figure(args, &work.join("kafka"), &payloads, records.clone(), rules).await?;
    let to_store = e2e.records_per_s / ingest.records_per_s;
    let d = kafka::drain(
        &args.nisshi,
        &work.join("drain"),
        args.store,
        records,
        Arc::new(rules.clone()),
        args.kafka_compression,
    )
    .await
    .context("figure 4, the processor draining")?;
    let drain = Rate::new(n, raw_bytes, d.took);
    let secs = |c: Option<Duration>| c.map(|c| c.as_secs_f64());
    let shown = |c: Option<Duration>| c.map_or("?".into(), |c| format!("{:.2}s", c.as_secs_f64()));
    let out = format!(
        "{hw_line}\n{n} records, {} compression\n3 store path      {:>9.0} rec/s  CPU {}\n\
         4 raw rdkafka     {:>9.0} rec/s\n4 kafka end to end {:>8.0} rec/s  {:.2} of raw, \
         {to_store:.2} of store (target {TARGET_KAFKA_TO_STORE})  CPU {} + broker {}, \
         produced in {:.2}s\n4 processor drain  {:>9.0} rec/s  {:.2} of store  CPU {} + broker {} \
         (parse and normalise, one thread: CPU {})\n",
        args.kafka_compression.as_str(),
        ingest.records_per_s,
        shown(store_cpu),
        ceiling.records_per_s,
        e2e.records_per_s,
        e2e.records_per_s / ceiling.records_per_s,
        shown(k.cpu),
        shown(k.broker_cpu),
        k.produce.as_secs_f64(),
        drain.records_per_s,
        drain.records_per_s / ingest.records_per_s,
        shown(d.cpu),
        shown(d.broker_cpu),
        shown(parse_cpu),
    );
    let report = json!({
        "store": args.store.name(),
        "records": n, "compression": args.kafka_compression.as_str(),
        "store_path": ingest.json(), "raw_rdkafka": ceiling.json(), "end_to_end": e2e.json(),
        "ratio_to_store": to_store,
        "store_path_cpu_s": secs(store_cpu), "end_to_end_cpu_s": secs(k.cpu),
        "end_to_end_broker_cpu_s": secs(k.broker_cpu),
        "end_to_end_produce_s": k.produce.as_secs_f64(),
        "processor_drain": drain.json(), "drain_ratio_to_store": drain.records_per_s / ingest.records_per_s,
        "processor_drain_cpu_s": secs(d.cpu), "processor_drain_broker_cpu_s": secs(d.broker_cpu),
        "parse_cpu_s": secs(parse_cpu),
    });
    print_partial(args, &out, &report);
    Ok(())
}

/// Figure 4 on `payloads` (and `records`, the same parsed) with the
/// broker and compression of `args`: the run, and the raw rdkafka ceiling
/// and loglens end to end as rates.
async fn kafka_figure(
    args: &BenchArgs,
    dir: &Path,
    payloads: &[&[u8]],
    records: Vec<LogRecord>,
    rules: &RuleSet,
) -> Result<(kafka::KafkaRun, Rate, Rate)> {
    let (n, bytes) = (payloads.len(), payloads.iter().map(|p| p.len()).sum());
    let rules = Arc::new(rules.clone());
    let k =
        kafka::run(&args.nisshi, dir, args.store, payloads, records, rules, args.kafka_compression)
            .await
            .context("figure 4 (Kafka)")?;
    let (ceiling, e2e) = (Rate::new(n, bytes, k.ceiling), Rate::new(n, bytes, k.end_to_end));
    Ok((k, ceiling, e2e))
}

/// A partial run's output: its table (on stderr with `--json`), then its
/// JSON line on stdout.
fn print_partial(args: &BenchArgs, table: &str, report: &Value) {
    if args.json {
        eprint!("{table}");
    } else {
        print!("{table}");
    }
    println!("{report}");
}

/// Said after a time-to-search figure whose run the offer's size shortened.
fn capped_note(l: &latency::LatencyRun) -> String {
    if l.capped {
        format!(
            " ({:.1} s: at most {} records are generated ahead)",
            l.seconds,
            latency::MAX_OFFERED_RECORDS
        )
    } else {
        String::new()
    }
}

/// Issue 13's target for Kafka end to end, as a share of the store path.
const TARGET_KAFKA_TO_STORE: f64 = 0.85;

/// Share of figure 3's ingest rate that `--only-refresh` offers in its
/// second time-to-search run (issue 13: at most 1 s at 80% of capacity).
const NEAR_CAPACITY: f64 = 0.8;

/// `--only-refresh`: figure 3 with the process's CPU time (ingest, the
/// final refresh and the close that waits for merges), then figure 5 at
/// `--rate` and at [`NEAR_CAPACITY`] of figure 3's rate.
async fn only_refresh(
    args: &BenchArgs,
    options: &StoreOptions,
    rules: &RuleSet,
    work: &Path,
    hw_line: &str,
) -> Result<()> {
    let pb = bar(args.records, "generate dataset");
    let data = Dataset::generate(args.records, args.seed, &pb)?;
    pb.finish_and_clear();
    let (raw_bytes, n) = (data.bytes.len(), args.records);
    let (records, _) = parse_all(&data, rules)?;
    drop(data);
    let store_dir = work.join("store");
    let store = args.store.open(&store_dir, options).await?;
    let cpu = protocols::OwnCpu::start();
    let took = store_ingest(&store, records).await?;
    store.close().await?;
    let cpu = cpu.elapsed();
    drop(store);
    std::fs::remove_dir_all(&store_dir)?;
    let ingest = Rate::new(n, raw_bytes, took);
    let per_cpu = cpu.map(|c| n as f64 / c.as_secs_f64().max(1e-9));
    let near = ((ingest.records_per_s * NEAR_CAPACITY) as u64).max(1);
    let mut lats = Vec::with_capacity(2);
    for rate in [args.rate, near] {
        let dir = work.join(format!("latency-{rate}"));
        let l = latency::run(
            &dir,
            args.store,
            options,
            args.seed,
            rate,
            Duration::from_secs(args.latency_seconds),
            rules,
        )
        .await
        .with_context(|| format!("figure 5 (time-to-search at {rate} records/s)"))?;
        std::fs::remove_dir_all(dir)?;
        lats.push((rate, l));
    }
    let settings = format!(
        "refresh {} ms, min {} ms",
        options.refresh_interval_ms, options.min_refresh_interval_ms
    );
    let mut out = format!("{hw_line}\n{settings}\n");
    out += &format!(
        "3 store ingest   {:>9.0} rec/s  CPU {:>7}  {:>9} rec per CPU-s  ({n} records)\n",
        ingest.records_per_s,
        cpu.map_or("?".into(), |c| format!("{:.2}s", c.as_secs_f64())),
        per_cpu.map_or("?".into(), |r| format!("{r:.0}")),
    );
    for (rate, l) in &lats {
        out += &format!(
            "5 at {rate:>6} rec/s  p50 {:.3} / p99 {:.3} / max {:.3} s  kept {:.0} rec/s, {} rec per CPU-s{}\n",
            l.p50.as_secs_f64(),
            l.p99.as_secs_f64(),
            l.max.as_secs_f64(),
            l.achieved,
            l.records_per_cpu_s().map_or("?".into(), |r| format!("{r:.0}")),
            capped_note(l),
        );
    }
    let report = json!({
        "store": args.store.name(),
        "records": n,
        "refresh_interval_ms": options.refresh_interval_ms,
        "min_refresh_interval_ms": options.min_refresh_interval_ms,
        "store_ingest": {
            "records_per_s": ingest.records_per_s, "mb_per_s": ingest.mb_per_s,
            "cpu_s": cpu.map(|c| c.as_secs_f64()), "records_per_cpu_s": per_cpu,
        },
        "time_to_search": lats.iter().map(|(rate, lat)| json!({
            "offered_records_per_s": rate, "achieved_records_per_s": lat.achieved,
            "records": lat.records, "batches": lat.batches, "seconds": lat.seconds,
            "p50_s": lat.p50.as_secs_f64(), "p99_s": lat.p99.as_secs_f64(), "max_s": lat.max.as_secs_f64(),
            "cpu_s": lat.cpu.map(|c| c.as_secs_f64()), "records_per_cpu_s": lat.records_per_cpu_s(),
        })).collect::<Vec<_>>(),
    });
    print_partial(args, &out, &report);
    Ok(())
}

/// `--only-queries`: figure 6 on one index, with the caches (stats, and
/// the hybrid's decompressed frames) as configured and (when either is on)
/// without them, the store reopened before each.
async fn only_queries(
    args: &BenchArgs,
    options: &StoreOptions,
    rules: &RuleSet,
    work: &Path,
    hw_line: &str,
) -> Result<()> {
    let n = args.query_records.unwrap_or(args.records);
    let dir = work.join("query-store");
    let store = args.store.open(&dir, options).await?;
    build_query_store(&store, n, args.seed, rules).await?;
    // Closing waits for the merges, so both runs query the same segments
    // with nothing merging beside them.
    store.close().await?;
    drop(store);
    let mut passes = vec![options.clone()];
    if options.stats_cache_bytes > 0 || options.block_cache_bytes > 0 {
        passes.push(StoreOptions { stats_cache_bytes: 0, block_cache_bytes: 0, ..options.clone() });
    }
    let mut runs = Vec::new();
    let mut opens = Vec::new();
    for pass in passes {
        let started = Instant::now();
        let store = args.store.open(&dir, &pass).await?;
        opens.push(started.elapsed().as_secs_f64());
        runs.push((
            pass.stats_cache_bytes,
            pass.block_cache_bytes,
            queries(store.as_ref(), n).await?.0,
        ));
        store.close().await?;
        drop(store);
    }
    std::fs::remove_dir_all(&dir)?;
    let mut out = format!(
        "{hw_line}\n6 queries on {n} records, p50 / p99 ms (caches: stats / block frames, MiB)\n"
    );
    for (i, (name, target, _)) in runs[0].2.iter().enumerate() {
        out += &format!("{name:<36}");
        for (stats, frames, rows) in &runs {
            let l = rows[i].2;
            out += &format!(
                "  caches {:>3}/{:>3}: {:>8.1} / {:>8.1}",
                stats >> 20,
                frames >> 20,
                l.p50,
                l.p99
            );
        }
        out += &format!("  (target p99 {target} ms)\n");
    }
    let opened: Vec<String> = opens.iter().map(|s| format!("{s:.2} s")).collect();
    out += &format!("store reopened for each pass in {}\n", opened.join(", "));
    let report = json!({
        "store": args.store.name(),
        "records": n,
        "runs": runs.iter().zip(&opens).map(|((stats, frames, rows), open)| json!({
            "open_s": open,
            "stats_cache_bytes": stats,
            "block_cache_bytes": frames,
            "latency": rows.iter().map(|(name, target, l)| json!({
                "query": name, "target_p99_ms": target, "p50_ms": l.p50, "p99_ms": l.p99,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    print_partial(args, &out, &report);
    Ok(())
}

/// This process's CPU time (user + system) so far, in seconds, from
/// `/proc/self/stat`: what the examples (`store_spike`, `stats_first`, ...)
/// measure with. Panics where there is no `/proc`.
pub fn own_cpu_seconds() -> f64 {
    protocols::cpu_time(std::process::id()).expect("/proc/self/stat is readable").as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ui_interval_gives_at_most_80_bars_with_the_pages_steps() {
        assert_eq!(ui_interval_ms(15 * 60_000), 30_000);
        assert_eq!(ui_interval_ms(3_600_000), 60_000);
        assert_eq!(ui_interval_ms(DAY_MS), 1_800_000);
        assert_eq!(ui_interval_ms(7 * DAY_MS), 3 * 3_600_000);
        assert_eq!(ui_interval_ms(1000 * DAY_MS), 86_400_000);
    }
}
