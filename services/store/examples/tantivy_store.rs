//! Opens a Tantivy store in a temporary directory, indexes generated
//! records from a few concurrent writers (their batches share fsyncs), then
//! pages through everything with a cursor and prints stats.
//!
//! `cargo run -p loglens-store --release --example tantivy_store -- [RECORDS] [WRITERS]`

use std::sync::Arc;
use std::time::Instant;

use loglens_core::record::normalize;
use loglens_core::{
    Filter, LogRecord, RawLog, RuleSet, SearchRequest, Sort, StatsRequest, TimestampInput,
};
use loglens_store::tantivy::TantivyStore;
use loglens_store::{LogStore, StoreOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(20_000), |a| a.parse())?;
    let writers: usize = args.next().map_or(Ok(4), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let store = Arc::new(TantivyStore::open(dir.path(), StoreOptions::default()).await?);

    let services = ["api-gateway", "auth-service", "payment-service"];
    let records = (0..n)
        .map(|i| {
            let raw = RawLog {
                timestamp: Some(TimestampInput::Int(1_714_521_600_000 + (i as i64 / 10) * 1000)),
                service_name: Some(services[i % 3].into()),
                level: Some(["INFO", "WARN", "ERROR"][i % 7 % 3].into()),
                message: Some(format!("request {i} handled")),
                status_code: Some([200, 404, 503][i % 11 % 3]),
                response_time_ms: Some((i % 4000) as f64),
                ..RawLog::default()
            };
            normalize(raw, 1_714_521_600_000, &RuleSet::default())
        })
        .collect::<Result<Vec<LogRecord>, _>>()?;
    let batches: Vec<Vec<LogRecord>> = records.chunks(1000).map(<[LogRecord]>::to_vec).collect();

    let start = Instant::now();
    let per_writer = batches.len().div_ceil(writers.max(1)).max(1);
    let mut tasks = Vec::new();
    for part in batches.chunks(per_writer) {
        let (part, store) = (part.to_vec(), store.clone());
        tasks.push(tokio::spawn(async move {
            for batch in part {
                store.index(batch).await?;
            }
            Ok::<_, loglens_store::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let acked = start.elapsed();
    store.refresh().await?;
    println!("indexed {n} records: acknowledged in {acked:?}, searchable in {:?}", start.elapsed());

    let start = Instant::now();
    let (mut pages, mut seen, mut cursor) = (0, 0, None);
    loop {
        let req = SearchRequest::new(
            Filter::default(),
            Sort::NewestFirst,
            None,
            Some(1000),
            cursor.take(),
        )?;
        let page = store.search(&req).await?;
        pages += 1;
        seen += page.logs.len();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    println!("cursor walk: {seen} records in {pages} pages, {:?}", start.elapsed());

    let start = Instant::now();
    let req = StatsRequest {
        histogram_interval_ms: Some(60_000),
        include_percentiles: true,
        ..StatsRequest::default()
    };
    let stats = store.stats(&req.validated()?).await?;
    println!(
        "stats in {:?}: {} total, {} anomalies, {} errors, {} buckets",
        start.elapsed(),
        stats.total_logs,
        stats.anomaly_count,
        stats.error_count,
        stats.histogram.len()
    );
    store.close().await?;
    Ok(())
}
