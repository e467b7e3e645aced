//! What loglens's own code costs per record on the way in, stage by
//! stage, on one thread: splitting a `POST /logs` body into records
//! (`IngestBatch::parse`), normalising them, the write-ahead log's form
//! (`stored::encode_for_log`) and the Tantivy document (`Fields::document`, which
//! includes the doc store's form). Tantivy's own indexing is not in it.
//! Each stage runs `--rounds` times and the least CPU time is kept, so the
//! figures hold on a busy machine better than a whole-server run does.
//! `cargo run --release -p loglens-bench --example ingest_stages --
//! FILE.ndjson [N]`; without a file, N generated records (default 300k).
#![allow(missing_docs)]

use loglens_bench::own_cpu_seconds;
use loglens_core::record::{RawLog, normalize};
use loglens_core::{LogRecord, RuleSet};
use loglens_gateway::convert::IngestBatch;
use loglens_generator::Generator;
use loglens_store::tantivy::schema::{Fields, id_key};
use loglens_store::tantivy::stored;

/// As the `loglens` binary allocates.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOW_MS: i64 = 1_767_225_600_000;
const BODY_RECORDS: usize = 5_000;
const ROUNDS: usize = 5;

/// The least CPU time of `ROUNDS` runs of `f`, per record, in µs.
fn least<T>(records: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..ROUNDS)
        .map(|_| {
            let start = own_cpu_seconds();
            std::hint::black_box(f());
            (own_cpu_seconds() - start) * 1e6 / records as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lines: Vec<String> = match args.first().filter(|a| a.parse::<usize>().is_err()) {
        Some(path) => {
            let n = args.get(1).map_or(usize::MAX, |a| a.parse().unwrap());
            std::fs::read_to_string(path).unwrap().lines().take(n).map(str::to_owned).collect()
        }
        None => {
            let n = args.first().map_or(300_000, |a| a.parse().unwrap());
            let mut g = Generator::new(Some(42));
            (0..n)
                .map(|i| serde_json::to_string(&g.next(NOW_MS - 86_400_000 + i as i64)).unwrap())
                .collect()
        }
    };
    let n = lines.len();
    let bodies: Vec<String> = lines.chunks(BODY_RECORDS).map(|c| c.join("\n")).collect();
    let rules = RuleSet::default();
    let raws = || -> Vec<RawLog> {
        bodies.iter().flat_map(|b| IngestBatch::parse(b.as_bytes()).unwrap().records).collect()
    };
    let parse = least(n, raws);
    let raw = raws();
    let mut copies: Vec<Vec<RawLog>> = (0..ROUNDS).map(|_| raw.clone()).collect();
    let normalize_us = least(n, || {
        let copy = copies.pop().unwrap();
        copy.into_iter().map(|r| normalize(r, NOW_MS, &rules).unwrap()).collect::<Vec<_>>()
    });
    let records: Vec<LogRecord> =
        raw.into_iter().map(|r| normalize(r, NOW_MS, &rules).unwrap()).collect();
    let mut log = Vec::new();
    let wal = least(n, || {
        log.clear();
        records.iter().for_each(|r| stored::encode_for_log(r, &mut log));
        log.len()
    });
    let (_, fields) = Fields::build();
    let document = least(n, || {
        records
            .iter()
            .enumerate()
            .map(|(i, r)| fields.document(r, i as u64, id_key(&r.id)).field_values().count())
            .sum::<usize>()
    });
    println!("{n} records, least CPU of {ROUNDS} rounds, µs per record:");
    println!("  body -> records (IngestBatch::parse) {parse:8.3}");
    println!("  normalize                            {normalize_us:8.3}");
    println!("  write-ahead log form                 {wal:8.3}");
    println!("  Tantivy document + doc store form    {document:8.3}");
    println!(
        "  sum                                  {:8.3}",
        parse + normalize_us + wal + document
    );
}
