//! Where the hybrid postings' message bytes go (issue 13, disk): N
//! generated records (as `store_spike` makes them) indexed with the hybrid's
//! postings schema into one merged segment, the message terms counted by
//! document frequency and token shape (with their exact postings bytes),
//! then indexed again without the tokens each candidate "id-like" rule
//! takes out, to measure what the term dictionary and postings would save,
//! beside the per-block token blooms (4,096 rows, 10 bits a distinct token)
//! that would replace them. `cargo run --release --example message_terms -- 1000000`.
#![allow(missing_docs)]

use std::collections::{BTreeMap, HashSet};

use loglens_core::LogRecord;
use loglens_core::RuleSet;
use loglens_core::record::{RawLog, normalize};
use loglens_generator::Generator;
use loglens_store::hybrid::PostingsFields;
use loglens_store::tantivy::schema::id_key;
use tantivy::Index;
use tantivy::tokenizer::TextAnalyzer;

const DAY_START_MS: i64 = 1_767_225_600_000;
const DAY_MS: i64 = 86_400_000;

fn shape(t: &str) -> &'static str {
    let digits = t.bytes().filter(u8::is_ascii_digit).count();
    if digits == 0 {
        "no digit"
    } else if digits == t.len() {
        "digits"
    } else if t.bytes().all(|b| b.is_ascii_hexdigit()) {
        "hex"
    } else {
        "digit+other"
    }
}

type Rule = (&'static str, fn(&str) -> bool);

const RULES: [Rule; 4] = [
    ("digit, len>=8", |t| t.len() >= 8 && t.bytes().any(|b| b.is_ascii_digit())),
    ("digit, len>=6", |t| t.len() >= 6 && t.bytes().any(|b| b.is_ascii_digit())),
    ("digit, len>=4", |t| t.len() >= 4 && t.bytes().any(|b| b.is_ascii_digit())),
    ("any digit", |t| t.bytes().any(|b| b.is_ascii_digit())),
];

fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut s = analyzer.token_stream(text);
    while let Some(t) = s.next() {
        out.push(t.text.clone());
    }
    out
}

/// Message termdict and postings bytes of `records` indexed with the
/// postings schema, message tokens for which `drop` holds left out.
fn build(records: &[LogRecord], drop: Option<fn(&str) -> bool>, census: bool) -> (u64, u64) {
    let (schema, fields) = PostingsFields::build();
    let dir = tempfile::tempdir().unwrap();
    let index = Index::create_in_dir(dir.path(), schema).unwrap();
    let mut analyzer = index.tokenizers().get("default").unwrap();
    let mut w = index.writer_with_num_threads(1, 256 << 20).unwrap();
    for (i, r) in records.iter().enumerate() {
        // Every word of the message as the field's tokenizer cuts it (the
        // postings' own document leaves the id-like ones out), less `drop`'s.
        let message = match drop {
            Some(drop) => {
                let kept: Vec<String> =
                    tokens(&mut analyzer, &r.message).into_iter().filter(|t| !drop(t)).collect();
                kept.join(" ")
            }
            None => r.message.clone(),
        };
        let bare = LogRecord { message: String::new(), ..r.clone() };
        let mut doc =
            fields.document(&bare, i as u64, id_key(&r.id), &mut analyzer, &mut Vec::new());
        doc.add_text(fields.message, &message);
        w.add_document(doc).unwrap();
    }
    w.commit().unwrap();
    let ids = index.searchable_segment_ids().unwrap();
    if ids.len() > 1 {
        w.merge(&ids).wait().unwrap();
    }
    w.wait_merging_threads().unwrap();
    let reader = index.reader().unwrap();
    let searcher = reader.searcher();
    let usage = searcher.space_usage().unwrap();
    let (mut td, mut po) = (0, 0);
    for seg in usage.segments() {
        td += seg
            .termdict()
            .fields()
            .find(|f| f.field_name() == "message")
            .map_or(0, |f| f.total().get_bytes());
        po += seg
            .postings()
            .fields()
            .find(|f| f.field_name() == "message")
            .map_or(0, |f| f.total().get_bytes());
    }
    if census {
        // (shape, df bucket) -> (terms, term bytes, postings bytes)
        let mut by: BTreeMap<(&str, &str), (u64, u64, u64)> = BTreeMap::new();
        for seg in searcher.segment_readers() {
            let inv = seg.inverted_index(fields.message).unwrap();
            let mut s = inv.terms().stream().unwrap();
            while s.advance() {
                let key = std::str::from_utf8(s.key()).unwrap();
                let info = s.value();
                let df = match info.doc_freq {
                    1 => "df 1",
                    2 => "df 2",
                    3..=10 => "df 3-10",
                    _ => "df >10",
                };
                let e = by.entry((shape(key), df)).or_default();
                e.0 += 1;
                e.1 += key.len() as u64;
                e.2 += info.postings_range.len() as u64;
            }
        }
        println!("message terms by shape and document frequency (one merged segment):");
        println!(
            "{:<12} {:<8} {:>9} {:>11} {:>13}",
            "shape", "df", "terms", "term bytes", "postings B"
        );
        for ((sh, df), (n, tb, pb)) in by {
            println!("{sh:<12} {df:<8} {n:>9} {tb:>11} {pb:>13}");
        }
    }
    (td, po)
}

fn main() {
    let n: usize = std::env::args().nth(1).map_or(300_000, |a| a.parse().unwrap());
    let rules = RuleSet::default();
    let mut g = Generator::new(Some(42));
    let records: Vec<LogRecord> = (0..n)
        .map(|i| {
            let ts = DAY_START_MS + (i as i128 * DAY_MS as i128 / n as i128) as i64;
            let json = serde_json::to_vec(&g.next(ts)).unwrap();
            normalize(RawLog::from_json(&json).unwrap(), DAY_START_MS + DAY_MS, &rules).unwrap()
        })
        .collect();
    let mb = |b: u64| b as f64 / 1e6;
    let (td0, po0) = build(&records, None, true);
    println!("all tokens: message termdict {:.2} MB, postings {:.2} MB", mb(td0), mb(po0));
    let mut analyzer =
        Index::create_in_ram(PostingsFields::build().0).tokenizers().get("default").unwrap();
    for (name, rule) in RULES {
        let mut bloom_bytes = 0u64;
        let mut taken = 0u64;
        for chunk in records.chunks(4096) {
            let mut set = HashSet::new();
            for r in chunk {
                for t in tokens(&mut analyzer, &r.message) {
                    if rule(&t) {
                        taken += 1;
                        set.insert(t);
                    }
                }
            }
            bloom_bytes += ((set.len() * 10).next_multiple_of(64) / 8) as u64;
        }
        let (td, po) = build(&records, Some(rule), false);
        let saved = (td0 + po0) - (td + po);
        println!(
            "{name:<14}: termdict {:.2} MB, postings {:.2} MB; saves {:.2} MB; blooms {:.2} MB ({taken} tokens); net {:.2} MB",
            mb(td),
            mb(po),
            mb(saved),
            mb(bloom_bytes),
            mb(saved) - mb(bloom_bytes)
        );
    }
}
