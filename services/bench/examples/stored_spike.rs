//! Stored-record spike: what each part of a record costs in the doc store.
//! Encodes records in the doc store's form ([`stored`]), packs them into
//! 64 KB blocks and compresses each block with zstd level 3, as Tantivy's
//! doc store does, once per variant (the record with some fields blanked),
//! and prints bytes per record. `cargo run --release --example stored_spike
//! -- FILE.ndjson [N]`; without a file, N generated records.
#![allow(missing_docs)]

use loglens_core::record::{RawLog, normalize};
use loglens_core::{Level, LogRecord, RuleSet};
use loglens_generator::Generator;
use loglens_store::tantivy::stored;

const BLOCK: usize = 64 * 1024;
const NOW_MS: i64 = 1_767_225_600_000;

fn compressed(records: &[LogRecord], encode: impl Fn(&LogRecord) -> Vec<u8>) -> (usize, usize) {
    let (mut raw, mut packed) = (0, 0);
    let mut block = Vec::with_capacity(2 * BLOCK);
    let mut flush = |block: &mut Vec<u8>| {
        packed += zstd::bulk::compress(block, 3).unwrap().len();
        block.clear();
    };
    for r in records {
        let bytes = encode(r);
        raw += bytes.len();
        block.extend_from_slice(&(bytes.len() as u32).to_le_bytes()[..2]);
        block.extend_from_slice(&bytes);
        if block.len() >= BLOCK {
            flush(&mut block);
        }
    }
    if !block.is_empty() {
        flush(&mut block);
    }
    (raw, packed)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rules = RuleSet::default();
    let records: Vec<LogRecord> = match args.first().filter(|a| a.parse::<usize>().is_err()) {
        Some(path) => {
            let n = args.get(1).map_or(usize::MAX, |a| a.parse().unwrap());
            std::fs::read_to_string(path)
                .unwrap()
                .lines()
                .take(n)
                .map(|l| {
                    normalize(RawLog::from_json(l.as_bytes()).unwrap(), NOW_MS, &rules).unwrap()
                })
                .collect()
        }
        None => {
            let n = args.first().map_or(300_000, |a| a.parse().unwrap());
            let mut g = Generator::new(Some(42));
            (0..n)
                .map(|i| {
                    let json = serde_json::to_vec(&g.next(NOW_MS - 86_400_000 + i as i64)).unwrap();
                    normalize(RawLog::from_json(&json).unwrap(), NOW_MS, &rules).unwrap()
                })
                .collect()
        }
    };
    let n = records.len() as f64;
    type Blank = fn(&mut LogRecord);
    let variants: [(&str, Blank); 8] = [
        ("as stored", |_| {}),
        ("without request, trace and span ids", |r| {
            (r.request_id, r.trace_id, r.span_id) = (None, None, None);
        }),
        ("without timestamp and ingested_at", |r| (r.timestamp, r.ingested_at) = (0, 0)),
        ("without service, level, status, response time, severity, anomaly", |r| {
            r.service_name.clear();
            r.level = Level::Info;
            (r.status_code, r.response_time_ms, r.severity_score, r.anomaly) =
                (None, None, 0, false);
        }),
        ("without host and user", |r| (r.host, r.user_id) = (None, None)),
        ("without attributes", |r| r.attributes.clear()),
        ("without message", |r| r.message.clear()),
        ("message only", |r| {
            (r.request_id, r.trace_id, r.span_id, r.host, r.user_id) =
                (None, None, None, None, None);
            (r.timestamp, r.ingested_at) = (0, 0);
            r.service_name.clear();
            (r.status_code, r.response_time_ms, r.severity_score, r.anomaly) =
                (None, None, 0, false);
            r.attributes.clear();
            r.tags.clear();
            r.anomaly_reasons.clear();
        }),
    ];
    let (json_raw, json_packed) = compressed(&records, |r| serde_json::to_vec(r).unwrap());
    println!(
        "{:<70} {:>7.1} B raw {:>6.1} B packed per record",
        "JSON (before)",
        json_raw as f64 / n,
        json_packed as f64 / n
    );
    for (name, blank) in variants {
        let (raw, packed) = compressed(&records, |r| {
            let mut r = r.clone();
            blank(&mut r);
            // The id stays the one the content gives, as it was.
            r.id = loglens_core::record::content_id(&r);
            stored::encode(&r)
        });
        println!(
            "{name:<70} {:>7.1} B raw {:>6.1} B packed per record",
            raw as f64 / n,
            packed as f64 / n
        );
    }
}
