//! The hybrid backend's block codec (issue 13): N generated records (seed
//! 42, with attributes, normalised before any timing) encoded in blocks of
//! 4,096 and 16,384 records cut in arrival order, as the hybrid spike's
//! arrival blocks were (`columnar_spike`, `COLUMNAR_MODE=hybrid`). Reports
//! bytes per record, in all and per column, as a share of the raw NDJSON;
//! the process's CPU per record to encode and to decode every record back
//! (each block parsed, checksum included); and checks every record reads
//! back equal.
//!
//! `cargo run --release -p loglens-bench --example block_codec -- [N]`
//! (default 1,000,000). Env: `BLOCK_SIZES` (default `4096,16384`),
//! `BLOCK_ROUNDS` (default 2).
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::time::Instant;

use loglens_bench::own_cpu_seconds;
use loglens_core::LogRecord;
use loglens_core::RuleSet;
use loglens_core::record::{RawLog, normalize};
use loglens_generator::Generator;
use loglens_store::hybrid::{Block, BlockWriter, Column};
use tantivy::directory::OwnedBytes;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DAY_START_MS: i64 = 1_767_225_600_000;
const DAY_MS: i64 = 86_400_000;

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `n` generated records spread over a day, as `columnar_spike` makes
/// them, and their NDJSON bytes.
fn generate(n: usize) -> (Vec<LogRecord>, u64) {
    let rules = RuleSet::default();
    let mut g = Generator::new(Some(42));
    let mut raw_bytes = 0;
    let records = (0..n)
        .map(|i| {
            let ts = DAY_START_MS + (i as i128 * DAY_MS as i128 / n as i128) as i64;
            let json = serde_json::to_vec(&g.next(ts)).unwrap();
            raw_bytes += json.len() as u64 + 1;
            let raw = RawLog::from_json(&json).unwrap();
            normalize(raw, DAY_START_MS + DAY_MS, &rules).unwrap()
        })
        .collect();
    (records, raw_bytes)
}

fn main() {
    let n: usize = std::env::args().nth(1).map_or(1_000_000, |a| a.parse().unwrap());
    let sizes: Vec<usize> = std::env::var("BLOCK_SIZES")
        .unwrap_or_else(|_| "4096,16384".into())
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let rounds: usize = std::env::var("BLOCK_ROUNDS").map_or(2, |v| v.parse().unwrap());
    let (records, raw) = generate(n);
    println!(
        "generator, seed 42, {n} records, {:.1} B/record of NDJSON | load {}",
        raw as f64 / n as f64,
        load_average()
    );
    let per = |b: u64| b as f64 / n as f64;
    let pct = |b: u64| b as f64 * 100.0 / raw as f64;
    for &size in &sizes {
        for round in 0..rounds {
            let load = load_average();
            let mut w = BlockWriter::new();
            let (c0, t0) = (own_cpu_seconds(), Instant::now());
            let blocks: Vec<OwnedBytes> = records
                .chunks(size)
                .enumerate()
                .map(|(i, chunk)| OwnedBytes::new(w.encode((i * size) as u64, chunk).unwrap()))
                .collect();
            let (encode_cpu, encode_wall) = (own_cpu_seconds() - c0, t0.elapsed().as_secs_f64());

            let (c0, t0) = (own_cpu_seconds(), Instant::now());
            let decoded: Vec<Vec<LogRecord>> = blocks
                .iter()
                .map(|b| Block::parse(b.clone()).unwrap().all_records().unwrap())
                .collect();
            let (decode_cpu, decode_wall) = (own_cpu_seconds() - c0, t0.elapsed().as_secs_f64());
            for (back, want) in decoded.iter().zip(records.chunks(size)) {
                assert!(back == want, "a block read back different records");
            }
            drop(decoded);

            let total: u64 = blocks.iter().map(|b| b.len() as u64).sum();
            println!(
                "\n{size}-record blocks, round {round}: {} blocks, {:.1} B/record = {:.1}% of raw | encode {:.2} µs/record CPU ({:.2} wall) | decode all {:.2} µs/record CPU ({:.2} wall) | load {load} -> {}",
                blocks.len(),
                per(total),
                pct(total),
                encode_cpu * 1e6 / n as f64,
                encode_wall * 1e6 / n as f64,
                decode_cpu * 1e6 / n as f64,
                decode_wall * 1e6 / n as f64,
                load_average(),
            );
            if round > 0 {
                continue;
            }
            let mut parts: BTreeMap<&str, u64> = BTreeMap::new();
            let mut raw_parts: BTreeMap<&str, u64> = BTreeMap::new();
            let mut columns = 0;
            for b in &blocks {
                let block = Block::parse(b.clone()).unwrap();
                let h = block.header();
                for c in Column::ALL {
                    *parts.entry(c.name()).or_default() += h.column(c).compressed as u64;
                    *raw_parts.entry(c.name()).or_default() += h.column(c).raw as u64;
                }
                for (_, e) in &h.attributes {
                    *parts.entry("attributes (all keys)").or_default() += e.compressed as u64;
                    *raw_parts.entry("attributes (all keys)").or_default() += e.raw as u64;
                }
                *parts.entry("bloom: exact values").or_default() += h.filter.compressed as u64;
                columns += h.columns.len() + h.attributes.len();
            }
            let listed: u64 = parts.values().sum();
            parts.insert("prefix + header", total - listed);
            let mut rows: Vec<(&str, u64)> = parts.into_iter().collect();
            rows.sort_by_key(|(_, b)| std::cmp::Reverse(*b));
            println!("| part | B/record | raw B/record |\n|---|---|---|");
            for (name, bytes) in rows {
                let raw = raw_parts.get(name).map_or(String::new(), |r| format!("{:.2}", per(*r)));
                println!("| {name} | {:.2} | {raw} |", per(bytes));
            }
            println!("| **total** | **{:.2}** | {columns} column slots |", per(total));
        }
    }
}
