//! Columnar spike (issue 13): would a columnar block layout, the way
//! VictoriaLogs keeps logs, reach its disk and ingest CPU on our records?
//!
//! In one run, on the same records: writes them into blocks per stream
//! (service, or service + host) of N records, each field a zstd-compressed
//! column, plus per-block bloom filters of message tokens and of exact
//! values, for several block sizes and zstd levels; reports bytes per record
//! by part and records per CPU-second (single thread). Then times a few
//! queries on one layout with a naive scan, and indexes the same records into
//! the real Tantivy store for its records per CPU-second and disk.
//!
//! `cargo run --release -p loglens-bench --example columnar_spike -- FILE.ndjson [N]`;
//! without a file, N generated records (default 1,000,000). Env:
//! `COLUMNAR_BLOCKS` (default `4096,16384,65536`), `COLUMNAR_LEVELS` (`1,3`),
//! `COLUMNAR_BLOOM_BITS` (bits per distinct item, default 10),
//! `COLUMNAR_QUERY` (the layout queried, default `service,16384,1`),
//! `COLUMNAR_TANTIVY=0` skips the Tantivy store.
//!
//! `COLUMNAR_MODE=hybrid` measures the hybrid instead (see the `hybrid`
//! module): blocks cut in arrival order without token blooms, beside a
//! Tantivy index of only the message postings and a sequence-number
//! locator, beside the real store; `HYBRID_ROUNDS` (default 2),
//! `HYBRID_BLOCK` (records per block, default 16,384).
//!
//! It is a spike: no WAL, no merges, no concurrency; a block is cut when a
//! stream has N records buffered (in a real system a WAL and in-memory
//! buffer would hold them, or small blocks would be merged later).
#![allow(missing_docs)]

use loglens_bench::own_cpu_seconds;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use fastbloom::BloomFilter;
use futures::{StreamExt, stream};
use loglens_core::record::{RawLog, content_id, normalize};
use loglens_core::{AttrValue, Attributes, Level, LogRecord, RuleSet, StatusCode};
use loglens_generator::Generator;
use loglens_store::tantivy::TantivyStore;
use loglens_store::{LogStore, StoreOptions};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DAY_START_MS: i64 = 1_767_225_600_000;
const DAY_MS: i64 = 86_400_000;
/// `ingested_at` of the file's records: a minute after the comparison
/// data's last timestamp (its meta file's `end_ms`).
const FILE_RECEIVED_MS: i64 = 1_796_160_600_000;
/// Tantivy's default tokenizer drops tokens of 40 bytes or more.
const MAX_TOKEN: usize = 40;
/// Dictionary-encode a string column while it has at most this many values.
const MAX_DICT: usize = 255;

// ---------------------------------------------------------------- measuring

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        total += if m.is_dir() { dir_bytes(&e.path()) } else { m.len() };
    }
    total
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

// ---------------------------------------------------------------- records

struct Input {
    records: Vec<LogRecord>,
    raw_bytes: u64,
    source: String,
}

fn load() -> Input {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rules = RuleSet::default();
    match args.first().filter(|a| a.parse::<usize>().is_err()) {
        Some(path) => {
            let n = args.get(1).map_or(usize::MAX, |a| a.parse().unwrap());
            let text = std::fs::read_to_string(path).unwrap();
            let mut raw_bytes = 0;
            let records = text
                .lines()
                .take(n)
                .map(|l| {
                    raw_bytes += l.len() as u64 + 1;
                    let raw = RawLog::from_json(l.as_bytes()).unwrap();
                    normalize(raw, FILE_RECEIVED_MS, &rules).unwrap()
                })
                .collect();
            Input { records, raw_bytes, source: path.clone() }
        }
        None => {
            let n: usize = args.first().map_or(1_000_000, |a| a.parse().unwrap());
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
            Input { records, raw_bytes, source: format!("generator, seed 42, {n} records") }
        }
    }
}

/// Tantivy's default tokenizer: split on non-alphanumeric characters, drop
/// tokens of 40 bytes or more, lowercase.
fn tokens(text: &str, mut f: impl FnMut(&str)) {
    for t in text.split(|c: char| !c.is_alphanumeric()) {
        if t.is_empty() || t.len() >= MAX_TOKEN {
            continue;
        }
        if t.bytes().any(|b| b.is_ascii_uppercase()) || !t.is_ascii() {
            f(&t.to_lowercase());
        } else {
            f(t);
        }
    }
}

/// The exact-value bloom's key: the value hashed with its field's hash as
/// seed, so `user_id=x` and `host=x` differ.
fn value_hash(field: &str, value: &str) -> u64 {
    xxh3_64_with_seed(value.as_bytes(), xxh3_64(field.as_bytes()))
}

fn attr_text(v: &AttrValue) -> std::borrow::Cow<'_, str> {
    match v {
        AttrValue::Str(s) => s.as_str().into(),
        other => other.to_string().into(),
    }
}

// ---------------------------------------------------------------- encoding

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// A string column: a dictionary and one code per row (0 = none) while it
/// has at most [`MAX_DICT`] values, else every row's length + 1 (0 = none)
/// followed by the bytes.
fn encode_strings(out: &mut Vec<u8>, values: &[Option<&str>], allow_dict: bool) {
    if allow_dict {
        let mut dict: HashMap<&str, u8> = HashMap::new();
        let mut order: Vec<&str> = Vec::new();
        let mut codes = Vec::with_capacity(values.len());
        let fits = values.iter().all(|v| match v {
            None => {
                codes.push(0);
                true
            }
            Some(s) => {
                let next = order.len();
                let code = *dict.entry(s).or_insert_with(|| {
                    order.push(s);
                    (next + 1).min(255) as u8
                });
                codes.push(code);
                order.len() <= MAX_DICT
            }
        });
        if fits {
            out.push(1);
            varint(out, order.len() as u64);
            for s in order {
                varint(out, s.len() as u64);
                out.extend_from_slice(s.as_bytes());
            }
            out.extend_from_slice(&codes);
            return;
        }
    }
    out.push(0);
    for v in values {
        varint(out, v.map_or(0, |s| s.len() as u64 + 1));
    }
    for s in values.iter().flatten() {
        out.extend_from_slice(s.as_bytes());
    }
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) || !b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let digit = |c: u8| if c <= b'9' { c - b'0' } else { c - b'a' + 10 };
    Some(b.chunks(2).map(|p| digit(p[0]) << 4 | digit(p[1])).collect())
}

/// Id kinds: 0 none, 1 lowercase UUID (16 bytes), 2 lowercase hex of 32
/// digits (16 bytes), 3 of 16 digits (8 bytes), 4 anything else (length +
/// bytes).
fn id_form(s: &str) -> (u8, Vec<u8>) {
    let b = s.as_bytes();
    if b.len() == 36 && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-') {
        let digits: String = s.chars().filter(|&c| c != '-').collect();
        if let Some(v) = hex_bytes(&digits).filter(|v| v.len() == 16) {
            return (1, v);
        }
    }
    match hex_bytes(s) {
        Some(v) if v.len() == 16 => (2, v),
        Some(v) if v.len() == 8 => (3, v),
        _ => (4, s.as_bytes().to_vec()),
    }
}

/// An id column: every row's kind, then the payloads.
fn encode_ids(out: &mut Vec<u8>, values: &[Option<&str>]) {
    let forms: Vec<(u8, Vec<u8>)> =
        values.iter().map(|v| v.map_or((0, Vec::new()), id_form)).collect();
    out.extend(forms.iter().map(|(k, _)| *k));
    for (kind, bytes) in &forms {
        if *kind == 4 {
            varint(out, bytes.len() as u64);
        }
        out.extend_from_slice(bytes);
    }
}

/// A number column: varints of value + 1 (0 = none) when every value is a
/// whole number below 2^53, else f64 bits (all ones = none).
fn encode_numbers(out: &mut Vec<u8>, values: &[Option<f64>]) {
    let whole = values.iter().flatten().all(|v| v.fract() == 0.0 && *v >= 0.0 && *v < 9e15);
    out.push(u8::from(whole));
    for v in values {
        if whole {
            varint(out, v.map_or(0, |v| v as u64 + 1));
        } else {
            out.extend_from_slice(&v.map_or(u64::MAX, f64::to_bits).to_le_bytes());
        }
    }
}

/// An attribute key's column: every row's kind (0 absent, 1 string, 2 int,
/// 3 float, 4 true, 5 false), then the strings as a string column, then the
/// ints as zigzag varints, then the floats' bits.
fn encode_attr(out: &mut Vec<u8>, values: &[Option<&AttrValue>]) {
    let mut strings = Vec::with_capacity(values.len());
    let (mut ints, mut floats) = (Vec::new(), Vec::new());
    for v in values {
        out.push(match v {
            None => 0,
            Some(AttrValue::Str(_)) => 1,
            Some(AttrValue::Int(_)) => 2,
            Some(AttrValue::Float(_)) => 3,
            Some(AttrValue::Bool(true)) => 4,
            Some(AttrValue::Bool(false)) => 5,
        });
        match v {
            Some(AttrValue::Str(s)) => strings.push(Some(s.as_str())),
            Some(AttrValue::Int(i)) => ints.push(*i),
            Some(AttrValue::Float(f)) => floats.push(*f),
            _ => {}
        }
    }
    encode_strings(out, &strings, true);
    for i in ints {
        varint(out, zigzag(i));
    }
    for f in floats {
        out.extend_from_slice(&f.to_bits().to_le_bytes());
    }
}

// ---------------------------------------------------------------- decoding

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }
    fn u8(&mut self) -> u8 {
        self.pos += 1;
        self.b[self.pos - 1]
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        self.pos += n;
        &self.b[self.pos - n..self.pos]
    }
    fn varint(&mut self) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let b = self.u8();
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }
    fn str(&mut self, n: usize) -> &'a str {
        std::str::from_utf8(self.bytes(n)).unwrap()
    }
}

fn decode_strings<'a>(r: &mut Reader<'a>, rows: usize) -> Vec<Option<&'a str>> {
    decode_strings_at(r, rows, None)
}

/// As [`decode_strings`], but rows not `wanted` are skipped (read as
/// `None`, their bytes neither checked nor copied).
fn decode_strings_at<'a>(
    r: &mut Reader<'a>,
    rows: usize,
    wanted: Option<&[bool]>,
) -> Vec<Option<&'a str>> {
    let want = |i: usize| wanted.is_none_or(|w| w[i]);
    if r.u8() == 1 {
        let n = r.varint() as usize;
        let dict: Vec<&str> = (0..n)
            .map(|_| {
                let len = r.varint() as usize;
                r.str(len)
            })
            .collect();
        let codes = r.bytes(rows);
        return codes
            .iter()
            .enumerate()
            .map(|(i, &c)| (c > 0 && want(i)).then(|| dict[c as usize - 1]))
            .collect();
    }
    let lens: Vec<u64> = (0..rows).map(|_| r.varint()).collect();
    lens.into_iter()
        .enumerate()
        .map(|(i, l)| match l {
            0 => None,
            l if want(i) => Some(r.str(l as usize - 1)),
            l => {
                r.pos += l as usize - 1;
                None
            }
        })
        .collect()
}

/// Id rows as (kind, payload), still in the encoded form.
fn decode_ids<'a>(r: &mut Reader<'a>, rows: usize) -> Vec<(u8, &'a [u8])> {
    let kinds = r.bytes(rows);
    kinds
        .iter()
        .map(|&k| {
            let payload = match k {
                0 => &[][..],
                1 | 2 => r.bytes(16),
                3 => r.bytes(8),
                _ => {
                    let n = r.varint() as usize;
                    r.bytes(n)
                }
            };
            (k, payload)
        })
        .collect()
}

fn id_text(kind: u8, b: &[u8]) -> Option<String> {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    match kind {
        0 => None,
        1 => {
            let h = hex(b);
            Some(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
        }
        2 | 3 => Some(hex(b)),
        _ => Some(String::from_utf8(b.to_vec()).unwrap()),
    }
}

fn decode_numbers(r: &mut Reader<'_>, rows: usize) -> Vec<Option<f64>> {
    let whole = r.u8() == 1;
    (0..rows)
        .map(|_| {
            if whole {
                let v = r.varint();
                (v > 0).then(|| (v - 1) as f64)
            } else {
                let bits = u64::from_le_bytes(r.bytes(8).try_into().unwrap());
                (bits != u64::MAX).then(|| f64::from_bits(bits))
            }
        })
        .collect()
}

/// An attribute column: the `wanted` rows that have a value, with it.
fn decode_attr(r: &mut Reader<'_>, rows: usize, wanted: &[bool]) -> Vec<(usize, AttrValue)> {
    let kinds = r.bytes(rows).to_vec();
    let str_wanted: Vec<bool> =
        kinds.iter().zip(wanted).filter(|(k, _)| **k == 1).map(|(_, w)| *w).collect();
    let mut strings = decode_strings_at(r, str_wanted.len(), Some(&str_wanted)).into_iter();
    let n_int = kinds.iter().filter(|&&k| k == 2).count();
    let mut ints: std::vec::IntoIter<i64> =
        (0..n_int).map(|_| unzigzag(r.varint())).collect::<Vec<_>>().into_iter();
    let mut out = Vec::new();
    for (row, (k, &w)) in kinds.iter().zip(wanted).enumerate() {
        let v = match k {
            0 => None,
            1 => strings.next().unwrap().map(|s| AttrValue::Str(s.to_owned())),
            2 => Some(AttrValue::Int(ints.next().unwrap())),
            3 => Some(AttrValue::Float(f64::from_bits(u64::from_le_bytes(
                r.bytes(8).try_into().unwrap(),
            )))),
            4 => Some(AttrValue::Bool(true)),
            _ => Some(AttrValue::Bool(false)),
        };
        if let Some(v) = v.filter(|_| w) {
            out.push((row, v));
        }
    }
    out
}

fn decode_varints(buf: &[u8], rows: usize) -> Vec<u64> {
    let mut r = Reader::new(buf);
    (0..rows).map(|_| r.varint()).collect()
}

/// Deltas back to values.
fn undelta(buf: &[u8], rows: usize) -> Vec<i64> {
    let mut prev = 0;
    decode_varints(buf, rows)
        .into_iter()
        .map(|d| {
            prev += unzigzag(d);
            prev
        })
        .collect()
}

// ---------------------------------------------------------------- the layout

/// How records are grouped into blocks.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stream {
    /// A stream per service.
    Service,
    /// A stream per service + host.
    ServiceHost,
    /// One stream, blocks cut in arrival order (the hybrid's): a block is
    /// a contiguous range of sequence numbers, rows kept in that order, and
    /// the service is a column.
    Arrival,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Config {
    stream: Stream,
    block: usize,
    level: i32,
    /// A bloom of message tokens per block; the hybrid has none (message
    /// postings replace it) and, unless blocks are in arrival order, a
    /// `seq` column instead, so a posting's locator finds its row.
    token_bloom: bool,
}

impl Config {
    fn name(&self) -> String {
        let stream = match self.stream {
            Stream::Service => "service",
            Stream::ServiceHost => "service+host",
            Stream::Arrival => "arrival",
        };
        let postings = if self.token_bloom { "" } else { ",postings" };
        format!("{stream},{},{}{postings}", self.block, self.level)
    }
    fn parse(s: &str) -> Config {
        let p: Vec<&str> = s.split(',').collect();
        Config {
            stream: match p[0] {
                "service+host" => Stream::ServiceHost,
                "arrival" => Stream::Arrival,
                _ => Stream::Service,
            },
            block: p[1].parse().unwrap(),
            level: p[2].parse().unwrap(),
            token_bloom: p.get(3) != Some(&"postings"),
        }
    }
    fn by_host(&self) -> bool {
        self.stream == Stream::ServiceHost
    }
}

#[derive(Clone, Copy)]
struct Extent {
    offset: usize,
    len: usize,
    raw_len: usize,
}

struct Block {
    service: String,
    /// The stream's host when streams are service + host.
    host: Option<String>,
    rows: usize,
    min_ts: i64,
    max_ts: i64,
    columns: BTreeMap<String, Extent>,
    /// `None` in the hybrid's layouts.
    tokens: Option<BloomFilter>,
    values: BloomFilter,
    /// The sequence number (input index) of the first row; in arrival
    /// order the block holds `first_seq..first_seq + rows`.
    first_seq: u32,
    /// The record each row is (an index into the input), for the check.
    source: Vec<u32>,
}

struct Layout {
    cfg: Config,
    blocks: Vec<Block>,
    /// The column file, read back from disk.
    data: Vec<u8>,
    /// Compressed bytes by part.
    parts: BTreeMap<String, u64>,
    /// Bloom items and filter bits, tokens then values.
    bloom_items: [u64; 2],
    bloom_bits: [u64; 2],
    /// Wall seconds by build phase (summed over blocks).
    phases: BTreeMap<&'static str, f64>,
}

struct Writer<'r> {
    records: &'r [LogRecord],
    cfg: Config,
    bits_per_item: usize,
    hashes: u32,
    zstd: zstd::bulk::Compressor<'static>,
    data: std::io::BufWriter<std::fs::File>,
    blooms: std::io::BufWriter<std::fs::File>,
    index: Vec<u8>,
    offset: usize,
    layout: Layout,
}

impl Writer<'_> {
    fn column(&mut self, name: String, raw: &[u8]) -> (String, Extent) {
        let packed = self.zstd.compress(raw).unwrap();
        self.data.write_all(&packed).unwrap();
        let e = Extent { offset: self.offset, len: packed.len(), raw_len: raw.len() };
        self.offset += packed.len();
        let part =
            if name.starts_with("attr.") { "attributes (all keys)".into() } else { name.clone() };
        *self.layout.parts.entry(part).or_default() += packed.len() as u64;
        (name, e)
    }

    fn bloom(&mut self, which: usize, mut hashes: Vec<u64>) -> BloomFilter {
        hashes.sort_unstable();
        hashes.dedup();
        let bits = (hashes.len() * self.bits_per_item).max(512).next_multiple_of(512);
        let mut f = BloomFilter::with_num_bits(bits).hashes(self.hashes);
        for &h in &hashes {
            f.insert_hash(h);
        }
        for w in f.as_slice() {
            self.blooms.write_all(&w.to_le_bytes()).unwrap();
        }
        let name = ["bloom: message tokens", "bloom: exact values"][which];
        *self.layout.parts.entry(name.into()).or_default() += bits as u64 / 8;
        self.layout.bloom_items[which] += hashes.len() as u64;
        self.layout.bloom_bits[which] += bits as u64;
        f
    }

    fn phase(&mut self, name: &'static str, since: &mut Instant) {
        *self.layout.phases.entry(name).or_default() += since.elapsed().as_secs_f64();
        *since = Instant::now();
    }

    fn block(&mut self, mut rows: Vec<u32>) {
        let records = self.records;
        let mut t = Instant::now();
        if self.cfg.stream != Stream::Arrival {
            rows.sort_by_key(|&i| (records[i as usize].timestamp, i));
        }
        let rs: Vec<&LogRecord> = rows.iter().map(|&i| &records[i as usize]).collect();
        let n = rs.len();
        let mut raw: Vec<(String, Vec<u8>)> = Vec::new();
        let mut put = |name: &str, f: &mut dyn FnMut(&mut Vec<u8>)| {
            let mut b = Vec::new();
            f(&mut b);
            raw.push((name.to_owned(), b));
        };
        put("timestamp", &mut |b| {
            let mut prev = 0;
            for r in &rs {
                varint(b, zigzag(r.timestamp - prev));
                prev = r.timestamp;
            }
        });
        if self.cfg.stream == Stream::Arrival {
            put("service", &mut |b| {
                let v: Vec<Option<&str>> =
                    rs.iter().map(|r| Some(r.service_name.as_str())).collect();
                encode_strings(b, &v, true);
            });
        } else if !self.cfg.token_bloom {
            put("seq", &mut |b| {
                let mut prev = 0;
                for &i in &rows {
                    varint(b, zigzag(i64::from(i) - prev));
                    prev = i64::from(i);
                }
            });
        }
        put("ingested_at", &mut |b| {
            let mut prev = 0;
            for r in &rs {
                varint(b, zigzag(r.ingested_at - prev));
                prev = r.ingested_at;
            }
        });
        put("level", &mut |b| b.extend(rs.iter().map(|r| r.level as u8)));
        put("status_code", &mut |b| {
            for r in &rs {
                b.extend_from_slice(&r.status_code.map_or(0, StatusCode::get).to_le_bytes());
            }
        });
        put("response_time_ms", &mut |b| {
            let v: Vec<Option<f64>> = rs.iter().map(|r| r.response_time_ms).collect();
            encode_numbers(b, &v);
        });
        put("severity+anomaly", &mut |b| {
            b.extend(rs.iter().map(|r| r.severity_score));
            b.extend(rs.iter().map(|r| u8::from(r.anomaly)));
        });
        let opt = |f: fn(&LogRecord) -> &Option<String>| -> Vec<Option<&str>> {
            rs.iter().map(|r| f(r).as_deref()).collect()
        };
        if !self.cfg.by_host() {
            put("host", &mut |b| encode_strings(b, &opt(|r| &r.host), true));
        }
        put("user_id", &mut |b| encode_strings(b, &opt(|r| &r.user_id), true));
        put("error_code", &mut |b| encode_strings(b, &opt(|r| &r.error_code), true));
        put("request_id", &mut |b| encode_ids(b, &opt(|r| &r.request_id)));
        put("trace_id", &mut |b| encode_ids(b, &opt(|r| &r.trace_id)));
        put("span_id", &mut |b| encode_ids(b, &opt(|r| &r.span_id)));
        let lists: Vec<(String, String)> =
            rs.iter().map(|r| (r.tags.join("\u{1f}"), r.anomaly_reasons.join("\u{1f}"))).collect();
        put("tags+anomaly_reasons", &mut |b| {
            let tags: Vec<Option<&str>> =
                lists.iter().map(|(t, _)| Some(t.as_str()).filter(|s| !s.is_empty())).collect();
            let reasons: Vec<Option<&str>> =
                lists.iter().map(|(_, a)| Some(a.as_str()).filter(|s| !s.is_empty())).collect();
            encode_strings(b, &tags, true);
            encode_strings(b, &reasons, true);
        });
        put("message", &mut |b| {
            let v: Vec<Option<&str>> = rs.iter().map(|r| Some(r.message.as_str())).collect();
            encode_strings(b, &v, false);
        });
        let mut keys: BTreeMap<&str, Vec<Option<&AttrValue>>> = BTreeMap::new();
        for (row, r) in rs.iter().enumerate() {
            for (k, v) in &r.attributes {
                keys.entry(k).or_insert_with(|| vec![None; n])[row] = Some(v);
            }
        }
        for (k, v) in &keys {
            put(&format!("attr.{k}"), &mut |b| encode_attr(b, v));
        }
        self.phase("encode columns", &mut t);
        let columns: BTreeMap<String, Extent> =
            raw.iter().map(|(name, b)| self.column(name.clone(), b)).collect();
        self.phase("zstd", &mut t);
        let tokens = self.cfg.token_bloom.then(|| {
            let mut toks = Vec::new();
            for r in &rs {
                tokens(&r.message, |s| toks.push(xxh3_64(s.as_bytes())));
            }
            self.bloom(0, toks)
        });
        self.phase("bloom: message tokens", &mut t);
        let mut vals = Vec::new();
        for r in &rs {
            vals.push(value_hash("id", &r.id));
            let fields = [
                ("request_id", &r.request_id),
                ("trace_id", &r.trace_id),
                ("span_id", &r.span_id),
                ("user_id", &r.user_id),
                ("error_code", &r.error_code),
                ("host", &r.host),
            ];
            for (f, v) in fields {
                if let Some(v) = v {
                    vals.push(value_hash(f, v));
                }
            }
            for t in &r.tags {
                vals.push(value_hash("tags", t));
            }
            for (k, v) in &r.attributes {
                vals.push(value_hash(k, &attr_text(v)));
            }
        }
        let values = self.bloom(1, vals);
        self.phase("bloom: exact values", &mut t);
        let first = rs[0];
        let arrival = self.cfg.stream == Stream::Arrival;
        let block = Block {
            service: if arrival { String::new() } else { first.service_name.clone() },
            host: if self.cfg.by_host() { first.host.clone() } else { None },
            rows: n,
            // Arrival order need not be time order.
            min_ts: rs.iter().map(|r| r.timestamp).min().unwrap(),
            max_ts: rs.iter().map(|r| r.timestamp).max().unwrap(),
            columns,
            tokens,
            values,
            first_seq: rows[0],
            source: rows,
        };
        // The block's header in the index file.
        let ix = &mut self.index;
        for s in [Some(&block.service), block.host.as_ref()] {
            let s = s.map_or("", |s| s.as_str());
            varint(ix, s.len() as u64);
            ix.extend_from_slice(s.as_bytes());
        }
        for v in [n as u64, zigzag(block.min_ts), zigzag(block.max_ts - block.min_ts)] {
            varint(ix, v);
        }
        varint(ix, block.columns.len() as u64);
        for (name, e) in &block.columns {
            varint(ix, name.len() as u64);
            ix.extend_from_slice(name.as_bytes());
            for v in [e.offset, e.len, e.raw_len] {
                varint(ix, v as u64);
            }
        }
        for f in [block.tokens.as_ref(), Some(&block.values)] {
            varint(ix, f.map_or(0, |f| f.num_bits() as u64));
        }
        self.layout.blocks.push(block);
        self.phase("block index", &mut t);
    }
}

/// Writes `records` into blocks in `dir`.
fn build(records: &[LogRecord], cfg: Config, bits_per_item: usize, dir: &Path) -> Layout {
    std::fs::create_dir_all(dir).unwrap();
    let file = |name: &str| std::io::BufWriter::new(std::fs::File::create(dir.join(name)).unwrap());
    let mut w = Writer {
        records,
        cfg,
        bits_per_item,
        hashes: ((bits_per_item as f64) * std::f64::consts::LN_2).round() as u32,
        zstd: zstd::bulk::Compressor::new(cfg.level).unwrap(),
        data: file("columns.bin"),
        blooms: file("blooms.bin"),
        index: Vec::new(),
        offset: 0,
        layout: Layout {
            cfg,
            blocks: Vec::new(),
            data: Vec::new(),
            parts: BTreeMap::new(),
            bloom_items: [0; 2],
            bloom_bits: [0; 2],
            phases: BTreeMap::new(),
        },
    };
    let mut open: HashMap<(&str, Option<&str>), Vec<u32>> = HashMap::new();
    let mut t = Instant::now();
    for (i, r) in records.iter().enumerate() {
        let key = match cfg.stream {
            Stream::Service => (r.service_name.as_str(), None),
            Stream::ServiceHost => (r.service_name.as_str(), r.host.as_deref()),
            Stream::Arrival => ("", None),
        };
        let rows = open.entry(key).or_default();
        rows.push(i as u32);
        if rows.len() == cfg.block {
            let rows = std::mem::take(rows);
            w.phase("group by stream", &mut t);
            w.block(rows);
            t = Instant::now();
        }
    }
    let mut rest: Vec<_> = open.into_iter().filter(|(_, rows)| !rows.is_empty()).collect();
    rest.sort_by_key(|(k, _)| *k);
    w.phase("group by stream", &mut t);
    for (_, rows) in rest {
        w.block(rows);
    }
    w.data.flush().unwrap();
    w.blooms.flush().unwrap();
    let index = zstd::bulk::compress(&w.index, cfg.level).unwrap();
    std::fs::write(dir.join("index.bin"), &index).unwrap();
    w.layout.parts.insert("block index".into(), index.len() as u64);
    w.layout
}

impl Layout {
    fn column(&self, b: &Block, name: &str) -> Option<Vec<u8>> {
        thread_local! {
            /// One decompression context per thread, not one per column.
            static ZSTD: std::cell::RefCell<zstd::bulk::Decompressor<'static>> =
                std::cell::RefCell::new(zstd::bulk::Decompressor::new().unwrap());
        }
        let e = b.columns.get(name)?;
        let packed = &self.data[e.offset..e.offset + e.len];
        Some(ZSTD.with(|z| z.borrow_mut().decompress(packed, e.raw_len).unwrap()))
    }

    /// Every record of the block, in block order, ids restored.
    fn decode(&self, b: &Block) -> Vec<LogRecord> {
        self.decode_rows(b, &(0..b.rows).collect::<Vec<_>>())
    }

    /// The records at `rows` (distinct) of the block, in that order: every
    /// column is decompressed, only those rows are built.
    fn decode_rows(&self, b: &Block, rows: &[usize]) -> Vec<LogRecord> {
        let n = b.rows;
        let mut wanted = vec![false; n];
        for &row in rows {
            wanted[row] = true;
        }
        let want = Some(wanted.as_slice());
        let col = |name: &str| self.column(b, name).unwrap();
        let ts = undelta(&col("timestamp"), n);
        let ingested = undelta(&col("ingested_at"), n);
        let level = col("level");
        let status = col("status_code");
        let rt = col("response_time_ms");
        let rt = decode_numbers(&mut Reader::new(&rt), n);
        let sev = col("severity+anomaly");
        let host_buf = self.column(b, "host");
        let hosts: Vec<Option<&str>> = match &host_buf {
            Some(buf) => decode_strings_at(&mut Reader::new(buf), n, want),
            None => vec![b.host.as_deref(); n],
        };
        let (users, errors) = (col("user_id"), col("error_code"));
        let users = decode_strings_at(&mut Reader::new(&users), n, want);
        let errors = decode_strings_at(&mut Reader::new(&errors), n, want);
        let ids: Vec<Vec<u8>> = ["request_id", "trace_id", "span_id"].map(col).into();
        let ids: Vec<Vec<(u8, &[u8])>> =
            ids.iter().map(|buf| decode_ids(&mut Reader::new(buf), n)).collect();
        let lists = col("tags+anomaly_reasons");
        let mut lr = Reader::new(&lists);
        let tags = decode_strings_at(&mut lr, n, want);
        let reasons = decode_strings_at(&mut lr, n, want);
        let msg = col("message");
        let msgs = decode_strings_at(&mut Reader::new(&msg), n, want);
        let service_buf = self.column(b, "service");
        let services: Vec<Option<&str>> = match &service_buf {
            Some(buf) => decode_strings_at(&mut Reader::new(buf), n, want),
            None => vec![Some(b.service.as_str()); n],
        };
        let mut attrs: HashMap<usize, Attributes> = HashMap::new();
        for name in b.columns.keys().filter(|k| k.starts_with("attr.")) {
            let buf = col(name);
            for (row, v) in decode_attr(&mut Reader::new(&buf), n, &wanted) {
                attrs.entry(row).or_default().insert(name["attr.".len()..].to_owned(), v);
            }
        }
        let split = |s: Option<&str>| -> Vec<String> {
            s.map_or_else(Vec::new, |s| s.split('\u{1f}').map(str::to_owned).collect())
        };
        rows.iter()
            .map(|&i| {
                let code = u16::from_le_bytes([status[2 * i], status[2 * i + 1]]);
                let mut r = LogRecord {
                    id: String::new(),
                    timestamp: ts[i],
                    service_name: services[i].unwrap().to_owned(),
                    level: Level::ALL[level[i] as usize],
                    message: msgs[i].unwrap().to_owned(),
                    status_code: (code > 0).then(|| StatusCode::new(code.into()).unwrap()),
                    request_id: id_text(ids[0][i].0, ids[0][i].1),
                    user_id: users[i].map(str::to_owned),
                    response_time_ms: rt[i],
                    error_code: errors[i].map(str::to_owned),
                    tags: split(tags[i]),
                    host: hosts[i].map(str::to_owned),
                    trace_id: id_text(ids[1][i].0, ids[1][i].1),
                    span_id: id_text(ids[2][i].0, ids[2][i].1),
                    anomaly: sev[n + i] == 1,
                    severity_score: sev[i],
                    anomaly_reasons: split(reasons[i]),
                    attributes: attrs.remove(&i).unwrap_or_default(),
                    ingested_at: ingested[i],
                    tenant: loglens_core::tenant::default_name(),
                };
                r.id = content_id(&r);
                r
            })
            .collect()
    }
}

// ---------------------------------------------------------------- queries

fn count_level(l: &Layout, service: &str, level: Level) -> u64 {
    let code = level as u8;
    l.blocks
        .iter()
        .filter(|b| b.service == service)
        .map(|b| l.column(b, "level").unwrap().iter().filter(|&&c| c == code).count() as u64)
        .sum()
}

/// The newest 20 of a service at a level, decoded whole: blocks newest
/// first, stopping at one older than the 20th hit.
fn newest(l: &Layout, service: &str, level: Level, size: usize) -> Vec<LogRecord> {
    let mut blocks: Vec<usize> =
        (0..l.blocks.len()).filter(|&i| l.blocks[i].service == service).collect();
    blocks.sort_by_key(|&i| std::cmp::Reverse(l.blocks[i].max_ts));
    let mut hits: Vec<(i64, usize, usize)> = Vec::new();
    for bi in blocks {
        let b = &l.blocks[bi];
        if hits.len() >= size && b.max_ts < hits[size - 1].0 {
            break;
        }
        let levels = l.column(b, "level").unwrap();
        let ts = undelta(&l.column(b, "timestamp").unwrap(), b.rows);
        for row in (0..b.rows).filter(|&r| levels[r] == level as u8) {
            hits.push((ts[row], bi, row));
        }
        hits.sort_by_key(|h| std::cmp::Reverse(h.0));
        hits.truncate(size);
    }
    let mut by_block: BTreeMap<usize, Vec<LogRecord>> = BTreeMap::new();
    for &(_, bi, _) in &hits {
        by_block.entry(bi).or_insert_with(|| l.decode(&l.blocks[bi]));
    }
    hits.iter().map(|&(_, bi, row)| by_block[&bi][row].clone()).collect()
}

/// Records whose message has `word` (lowercase ASCII) as a token; (hits,
/// blocks read). Blocks the bloom lets through are searched whole: the
/// column's text lowercased (ASCII) and searched for the word, then each
/// message with an occurrence tokenized to confirm.
fn full_text(l: &Layout, word: &str) -> (u64, u64) {
    let h = xxh3_64(word.as_bytes());
    let (mut hits, mut read) = (0, 0);
    for b in l.blocks.iter().filter(|b| b.tokens.as_ref().is_some_and(|t| t.contains_hash(h))) {
        read += 1;
        let buf = l.column(b, "message").unwrap();
        let mut r = Reader::new(&buf);
        assert_eq!(r.u8(), 0, "the message column is plain");
        let mut starts = Vec::with_capacity(b.rows + 1);
        let mut end = 0;
        for _ in 0..b.rows {
            starts.push(end);
            end += r.varint() as usize - 1;
        }
        starts.push(end);
        let text = &buf[r.pos..];
        let lower = std::str::from_utf8(&text.to_ascii_lowercase()).unwrap().to_owned();
        let mut last = usize::MAX;
        for (at, _) in lower.match_indices(word) {
            let row = starts.partition_point(|&s| s <= at) - 1;
            if row == last {
                continue;
            }
            let m = std::str::from_utf8(&text[starts[row]..starts[row + 1]]).unwrap();
            let mut found = false;
            tokens(m, |t| found |= t == word);
            hits += u64::from(found);
            last = row;
        }
    }
    (hits, read)
}

/// Records whose `field` (an id column) is `value`; (hits, blocks read).
fn id_lookup(l: &Layout, field: &str, value: &str) -> (u64, u64) {
    let h = value_hash(field, value);
    let (kind, bytes) = id_form(value);
    let (mut hits, mut read) = (0, 0);
    for b in l.blocks.iter().filter(|b| b.values.contains_hash(h)) {
        read += 1;
        let buf = l.column(b, field).unwrap();
        hits += decode_ids(&mut Reader::new(&buf), b.rows)
            .into_iter()
            .filter(|&(k, v)| k == kind && v == bytes.as_slice())
            .count() as u64;
    }
    (hits, read)
}

fn per_level(l: &Layout) -> [u64; 4] {
    let mut counts = [0; 4];
    for b in &l.blocks {
        for c in l.column(b, "level").unwrap() {
            counts[c as usize] += 1;
        }
    }
    counts
}

fn histogram(l: &Layout, interval_ms: i64) -> Vec<u64> {
    let lo = l.blocks.iter().map(|b| b.min_ts).min().unwrap().div_euclid(interval_ms);
    let hi = l.blocks.iter().map(|b| b.max_ts).max().unwrap().div_euclid(interval_ms);
    let mut buckets = vec![0u64; (hi - lo + 1) as usize];
    for b in &l.blocks {
        for t in undelta(&l.column(b, "timestamp").unwrap(), b.rows) {
            buckets[(t.div_euclid(interval_ms) - lo) as usize] += 1;
        }
    }
    buckets
}

/// p50 in ms over 21 runs, after one warm-up.
fn p50<T>(f: impl FnMut() -> T) -> (f64, T) {
    p50_of(21, f)
}

fn p50_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut out = f();
    let mut v: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            out = f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], out)
}

// ---------------------------------------------------------------- main

fn report(l: &Layout, n: usize, raw: u64, cpu: f64, wall: f64, disk: u64) {
    let per = |b: u64| b as f64 / n as f64;
    println!(
        "\n== {}: {} blocks | {:.1} B/record on disk = {:.1}% of raw | build {:.2} CPU-s ({:.0} rec/CPU-s), {:.2} s wall | load {}",
        l.cfg.name(),
        l.blocks.len(),
        per(disk),
        disk as f64 * 100.0 / raw as f64,
        cpu,
        n as f64 / cpu,
        wall,
        load_average()
    );
    let mut parts: Vec<_> = l.parts.iter().collect();
    parts.sort_by_key(|(_, b)| std::cmp::Reverse(**b));
    let list: Vec<String> = parts.iter().map(|(k, b)| format!("{k} {:.2}", per(**b))).collect();
    println!("   B/record by part: {}", list.join(", "));
    let phases: Vec<String> =
        l.phases.iter().map(|(k, s)| format!("{k} {:.2}", s * 1e6 / n as f64)).collect();
    println!("   build µs/record by phase (wall): {}", phases.join(", "));
    println!(
        "   bloom items/record: tokens {:.1}, values {:.1} (distinct per block)",
        per(l.bloom_items[0]),
        per(l.bloom_items[1])
    );
}

/// Measured false-positive rate of each bloom: 64 random absent hashes
/// per block.
fn false_positives(l: &Layout) -> [f64; 2] {
    let (mut hit, mut tried) = ([0u64; 2], 0u64);
    for (bi, b) in l.blocks.iter().enumerate() {
        for i in 0..64u64 {
            let h = xxh3_64(format!("absent {bi} {i}").as_bytes());
            hit[0] += u64::from(b.tokens.as_ref().is_some_and(|t| t.contains_hash(h)));
            hit[1] += u64::from(b.values.contains_hash(h));
            tried += 1;
        }
    }
    hit.map(|h| h as f64 / tried as f64)
}

/// A word in about `fraction` of the records (a sample's document
/// frequency).
fn word_near(records: &[LogRecord], fraction: f64) -> String {
    let mut df: HashMap<String, u32> = HashMap::new();
    let sample: Vec<&LogRecord> = records.iter().step_by(10).collect();
    for r in &sample {
        let mut seen = Vec::new();
        tokens(&r.message, |t| {
            if !seen.iter().any(|s: &String| s == t) {
                seen.push(t.to_owned());
            }
        });
        for t in seen {
            *df.entry(t).or_default() += 1;
        }
    }
    let target = sample.len() as f64 * fraction;
    df.into_iter()
        .filter(|(t, _)| t.len() > 3 && t.chars().all(|c| c.is_ascii_alphabetic()))
        .min_by(|a, b| {
            let d = |x: &(String, u32)| (f64::from(x.1) - target).abs();
            d(a).total_cmp(&d(b)).then(a.0.cmp(&b.0))
        })
        .map(|(t, _)| t)
        .unwrap()
}

fn main() {
    let t = Instant::now();
    let Input { records, raw_bytes, source } = load();
    let n = records.len();
    println!(
        "{source}: {n} records, {:.1} MB NDJSON ({:.0} B/record), loaded in {:.1} s | load {}",
        raw_bytes as f64 / 1e6,
        raw_bytes as f64 / n as f64,
        t.elapsed().as_secs_f64(),
        load_average()
    );
    let bits: usize = std::env::var("COLUMNAR_BLOOM_BITS").map_or(10, |v| v.parse().unwrap());
    if std::env::var("COLUMNAR_MODE").as_deref() == Ok("hybrid") {
        hybrid::run(records, raw_bytes, bits);
        return;
    }
    let query_cfg =
        Config::parse(&std::env::var("COLUMNAR_QUERY").unwrap_or("service,16384,1".into()));
    let tmp = tempfile::tempdir().unwrap();
    let mut queried = None;
    for stream in [Stream::Service, Stream::ServiceHost] {
        for block in env_list("COLUMNAR_BLOCKS", "4096,16384,65536") {
            for level in env_list("COLUMNAR_LEVELS", "1,3") {
                let cfg = Config {
                    stream,
                    block: block.parse().unwrap(),
                    level: level.parse().unwrap(),
                    token_bloom: true,
                };
                let dir = tmp.path().join(cfg.name());
                let (c0, t0) = (own_cpu_seconds(), Instant::now());
                let layout = build(&records, cfg, bits, &dir);
                let (cpu, wall) = (own_cpu_seconds() - c0, t0.elapsed().as_secs_f64());
                report(&layout, n, raw_bytes, cpu, wall, dir_bytes(&dir));
                if cfg == query_cfg {
                    let mut layout = layout;
                    layout.data = std::fs::read(dir.join("columns.bin")).unwrap();
                    queried = Some(layout);
                } else {
                    std::fs::remove_dir_all(&dir).unwrap();
                }
            }
        }
    }
    let l = queried.expect("COLUMNAR_QUERY names a layout that was built");
    println!(
        "\n== queries on {} (single thread, p50 of 21 runs, column file in memory)",
        l.cfg.name()
    );
    let fp = false_positives(&l);
    println!(
        "bloom: {bits} bits per distinct item, {} hashes; measured false positives: tokens {:.2}%, values {:.2}%",
        ((bits as f64) * std::f64::consts::LN_2).round(),
        fp[0] * 100.0,
        fp[1] * 100.0
    );
    // The layout gives back every record as it was.
    let t = Instant::now();
    let mut checked = 0;
    for b in &l.blocks {
        for (r, &i) in l.decode(b).iter().zip(&b.source) {
            assert_eq!(r, &records[i as usize], "round trip");
            checked += 1;
        }
    }
    assert_eq!(checked, n);
    println!(
        "round trip: all {n} records decoded equal (decode + compare {:.2} s)",
        t.elapsed().as_secs_f64()
    );
    let (ms, bytes) = p50_of(5, || {
        let all = l.blocks.iter().flat_map(|b| b.columns.keys().map(move |c| (b, c)));
        all.map(|(b, c)| l.column(b, c).unwrap().len()).sum::<usize>()
    });
    println!(
        "{:<34} p50 {ms:8.2} ms  (of 5 runs; {:.0} MB)",
        "decompress every column",
        bytes as f64 / 1e6
    );
    let probe = records[n / 2..].iter().find(|r| r.request_id.is_some()).unwrap_or(&records[n / 2]);
    let svc = probe.service_name.clone();
    let (ms, c) = p50(|| count_level(&l, &svc, Level::Error));
    println!("{:<34} p50 {ms:8.2} ms  (count {c}, service {svc})", "count ERROR one service");
    let (ms, v) = p50(|| newest(&l, &svc, probe.level, 20));
    println!(
        "{:<34} p50 {ms:8.2} ms  ({} records, {})",
        "newest 20 service+level",
        v.len(),
        probe.level.as_str()
    );
    for (name, fraction) in [("full text word ~1%", 0.01), ("full text rare word", 0.0001)] {
        let word = word_near(&records, fraction);
        let (ms, (hits, read)) = p50(|| full_text(&l, &word));
        println!(
            "{name:<34} p50 {ms:8.2} ms  ('{word}': {hits} hits = {:.3}%, {read} of {} blocks read)",
            hits as f64 * 100.0 / n as f64,
            l.blocks.len()
        );
    }
    if let Some(id) = &probe.request_id {
        let (ms, (hits, read)) = p50(|| id_lookup(&l, "request_id", id));
        println!(
            "{:<34} p50 {ms:8.2} ms  ({hits} hits, {read} of {} blocks read)",
            "request_id exact",
            l.blocks.len()
        );
    }
    if let Some(id) = &probe.trace_id {
        let (ms, (hits, read)) = p50(|| id_lookup(&l, "trace_id", id));
        println!(
            "{:<34} p50 {ms:8.2} ms  ({hits} hits, {read} of {} blocks read)",
            "trace_id exact",
            l.blocks.len()
        );
    }
    let (ms, c) = p50(|| per_level(&l));
    println!("{:<34} p50 {ms:8.2} ms  ({c:?})", "counts per level");
    let (ms, h) = p50(|| histogram(&l, 60_000));
    println!("{:<34} p50 {ms:8.2} ms  ({} buckets)", "per-minute histogram, whole range", h.len());
    println!("load {}", load_average());
    drop(l);

    if std::env::var("COLUMNAR_TANTIVY").as_deref() == Ok("0") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tmp.path().join("tantivy");
    let (cpu, wall) = store_build(&rt, records, &dir);
    let disk = dir_bytes(&dir);
    println!(
        "\n== Tantivy store: {:.2} CPU-s ({:.0} rec/CPU-s incl. close + merges), {:.1} s wall | {:.1} B/record on disk = {:.1}% of raw | load {}",
        cpu,
        n as f64 / cpu,
        wall,
        disk as f64 / n as f64,
        disk as f64 * 100.0 / raw_bytes as f64,
        load_average()
    );
}

/// Indexes `records` into the real store in `dir` as store_spike.rs does:
/// 5,000-record batches, four in flight, then a refresh and a close (its
/// merges finish). CPU seconds and wall seconds of all of it.
fn store_build(rt: &tokio::runtime::Runtime, records: Vec<LogRecord>, dir: &Path) -> (f64, f64) {
    rt.block_on(async {
        let store: Arc<dyn LogStore> =
            Arc::new(TantivyStore::open(dir, StoreOptions::default()).await.unwrap());
        let mut it = records.into_iter();
        let batches: Vec<Vec<LogRecord>> = std::iter::from_fn(|| {
            let b: Vec<LogRecord> = it.by_ref().take(5000).collect();
            (!b.is_empty()).then_some(b)
        })
        .collect();
        let (c0, t0) = (own_cpu_seconds(), Instant::now());
        let mut acks = stream::iter(batches)
            .map(|b| {
                let s = store.clone();
                async move { s.index(b).await.unwrap() }
            })
            .buffer_unordered(4);
        while acks.next().await.is_some() {}
        store.refresh().await.unwrap();
        store.close().await.unwrap();
        (own_cpu_seconds() - c0, t0.elapsed().as_secs_f64())
    })
}

// ---------------------------------------------------------------- hybrid

/// `COLUMNAR_MODE=hybrid`: blocks hold every column; Tantivy keeps only
/// the message postings and a locator (the record's sequence number). In
/// rounds (`HYBRID_ROUNDS`, default 2), alternating the order, it builds
/// the postings index, the blocks (arrival order; service streams beside
/// them) and the real store from the same records, then answers full-text
/// searches from postings + blocks and from the store, and checks both
/// give the same records.
mod hybrid {
    use super::*;
    use tantivy::query::{EnableScoring, Query, TermQuery};
    use tantivy::schema::{
        Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
    };
    use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

    use loglens_core::query::{Filter, SearchRequest, Sort};

    /// The product's writer: 2 indexing threads, 256 MB (`StoreOptions`).
    const THREADS: usize = 2;
    const MEMORY: usize = 256 << 20;
    /// What 1 s refreshes commit at about 30k records a second.
    const COMMIT_EVERY: usize = 30_000;

    /// The postings index: `message` indexed as the product indexes it, and
    /// `seq`, a fast u64, the locator.
    pub struct Postings {
        reader: IndexReader,
        message: Field,
    }

    fn schema() -> (Schema, Field, Field) {
        let mut b = Schema::builder();
        // As services/store/src/tantivy/schema.rs: the default tokenizer,
        // no positions, no fieldnorms, not stored.
        let words = TextFieldIndexing::default()
            .set_tokenizer("default")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false);
        let message =
            b.add_text_field("message", TextOptions::default().set_indexing_options(words));
        let seq = b.add_u64_field("seq", NumericOptions::default().set_fast());
        (b.build(), message, seq)
    }

    /// Indexes every record's message with its sequence number (its index
    /// in `records`), committing every [`COMMIT_EVERY`] records and
    /// reloading the reader as the product's indexer does, then the final
    /// commit and the merges. CPU and wall seconds of all of it.
    fn build(records: &[LogRecord], dir: &Path) -> (Postings, f64, f64) {
        std::fs::create_dir_all(dir).unwrap();
        let (schema, message, seq) = schema();
        let (c0, t0) = (own_cpu_seconds(), Instant::now());
        let index = Index::create_in_dir(dir, schema).unwrap();
        let mut writer: IndexWriter = index.writer_with_num_threads(THREADS, MEMORY).unwrap();
        let reader: IndexReader =
            index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().unwrap();
        for (i, r) in records.iter().enumerate() {
            let mut d = TantivyDocument::new();
            d.add_text(message, &r.message);
            d.add_u64(seq, i as u64);
            writer.add_document(d).unwrap();
            if (i + 1) % COMMIT_EVERY == 0 {
                writer.commit().unwrap();
                reader.reload().unwrap();
            }
        }
        writer.commit().unwrap();
        reader.reload().unwrap();
        writer.wait_merging_threads().unwrap();
        reader.reload().unwrap();
        let (cpu, wall) = (own_cpu_seconds() - c0, t0.elapsed().as_secs_f64());
        (Postings { reader, message }, cpu, wall)
    }

    impl Postings {
        /// The sequence numbers of the records whose message has `word`
        /// (one token, as the analyzer gives it), ascending.
        fn seqs(&self, word: &str) -> Vec<u64> {
            let searcher = self.reader.searcher();
            let q =
                TermQuery::new(Term::from_field_text(self.message, word), IndexRecordOption::Basic);
            let w = q.weight(EnableScoring::disabled_from_searcher(&searcher)).unwrap();
            let mut out = Vec::new();
            for seg in searcher.segment_readers() {
                let col = seg.fast_fields().u64("seq").unwrap();
                let alive = seg.alive_bitset();
                w.for_each_no_score(seg, &mut |docs| {
                    for &d in docs {
                        if alive.is_none_or(|a| a.is_alive(d)) {
                            out.push(col.first(d).unwrap());
                        }
                    }
                })
                .unwrap();
            }
            out.sort_unstable();
            out
        }
    }

    /// Records whose message has `word` (and, with `filter`, of that
    /// service and level): the total, and the newest `size` (ties: higher
    /// sequence number first). Postings give sequence numbers; in arrival
    /// order a block is a sequence range, so a hit is (block, row) by a
    /// binary search. Service and level are checked in their columns; the
    /// timestamp column is read only in blocks that may still hold one of
    /// the newest; only those rows are built into records.
    fn search(
        p: &Postings,
        l: &Layout,
        word: &str,
        filter: Option<(&str, Level)>,
        size: usize,
    ) -> (u64, Vec<LogRecord>) {
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for s in p.seqs(word) {
            let bi = l.blocks.partition_point(|b| u64::from(b.first_seq) <= s) - 1;
            let row = (s - u64::from(l.blocks[bi].first_seq)) as usize;
            match groups.last_mut() {
                Some((b, rows)) if *b == bi => rows.push(row),
                _ => groups.push((bi, vec![row])),
            }
        }
        if let Some((service, level)) = filter {
            for (bi, rows) in &mut groups {
                let b = &l.blocks[*bi];
                let levels = l.column(b, "level").unwrap();
                rows.retain(|&r| levels[r] == level as u8);
                if rows.is_empty() {
                    continue;
                }
                let buf = l.column(b, "service").unwrap();
                let services = decode_strings(&mut Reader::new(&buf), b.rows);
                rows.retain(|&r| services[r] == Some(service));
            }
            groups.retain(|(_, rows)| !rows.is_empty());
        }
        let total = groups.iter().map(|(_, rows)| rows.len() as u64).sum();
        groups.sort_by_key(|(bi, _)| std::cmp::Reverse(l.blocks[*bi].max_ts));
        // (timestamp, seq, block, row), newest first.
        let mut top: Vec<(i64, u64, usize, usize)> = Vec::new();
        for (bi, rows) in &groups {
            let b = &l.blocks[*bi];
            if top.len() >= size && b.max_ts < top[size - 1].0 {
                break;
            }
            let ts = undelta(&l.column(b, "timestamp").unwrap(), b.rows);
            for &r in rows {
                top.push((ts[r], u64::from(b.first_seq) + r as u64, *bi, r));
            }
            top.sort_by_key(|h| std::cmp::Reverse((h.0, h.1)));
            top.truncate(size);
        }
        let mut need: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &(_, _, bi, row) in &top {
            need.entry(bi).or_default().push(row);
        }
        let mut built: HashMap<(usize, usize), LogRecord> = HashMap::new();
        for (bi, rows) in need {
            for (r, row) in l.decode_rows(&l.blocks[bi], &rows).into_iter().zip(rows) {
                built.insert((bi, row), r);
            }
        }
        (total, top.iter().map(|&(_, _, bi, row)| built.remove(&(bi, row)).unwrap()).collect())
    }

    /// A search's service and level, if any.
    type Filters<'a> = Option<(&'a str, Level)>;

    /// p50 and p99 wall ms of `runs` runs after one warm-up, the mean CPU
    /// ms of the process per run (on a busy box wall time includes waiting
    /// for a core; CPU time does not), and the last result.
    fn timed<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, f64, f64, T) {
        let mut out = f();
        let c0 = own_cpu_seconds();
        let mut v: Vec<f64> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                out = f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        let cpu = (own_cpu_seconds() - c0) * 1e3 / runs as f64;
        v.sort_by(f64::total_cmp);
        let p99 = v[((v.len() as f64 * 0.99).ceil() as usize).min(v.len()) - 1];
        (v[v.len() / 2], p99, cpu, out)
    }

    /// Bytes by file extension under `dir`.
    fn by_extension(dir: &Path) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let path = e.path();
            let ext = path.extension().map_or("other".into(), |x| x.to_string_lossy().into_owned());
            *out.entry(ext).or_default() += e.metadata().unwrap().len();
        }
        out
    }

    pub fn run(records: Vec<LogRecord>, raw: u64, bits: usize) {
        let n = records.len();
        let rounds: usize = std::env::var("HYBRID_ROUNDS").map_or(2, |v| v.parse().unwrap());
        let block: usize = std::env::var("HYBRID_BLOCK").map_or(16_384, |v| v.parse().unwrap());
        let arrival = Config { stream: Stream::Arrival, block, level: 1, token_bloom: false };
        let service = Config { stream: Stream::Service, block, level: 1, token_bloom: false };
        let rt = tokio::runtime::Runtime::new().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let pct = |b: u64| b as f64 * 100.0 / raw as f64;
        let per = |b: u64| b as f64 / n as f64;
        let mut kept: Option<(Postings, Layout)> = None;
        for round in 0..rounds {
            let store_dir = tmp.path().join(format!("store{round}"));
            let postings_dir = tmp.path().join(format!("postings{round}"));
            // Odd rounds run the parts in reverse order.
            let mut steps = ["postings", "blocks", "store"];
            if round % 2 == 1 {
                steps.reverse();
            }
            let mut built_postings = None;
            let mut built_blocks = None;
            for step in steps {
                match step {
                    "postings" => {
                        let load = load_average();
                        let (p, cpu, wall) = build(&records, &postings_dir);
                        let disk = dir_bytes(&postings_dir);
                        let parts: Vec<String> = by_extension(&postings_dir)
                            .iter()
                            .map(|(k, v)| format!("{k} {:.2}", per(*v)))
                            .collect();
                        println!(
                            "round {round} | postings (message + seq): {cpu:.2} CPU-s = {:.0} rec/CPU-s = {:.2} µs/rec, {wall:.1} s wall | {:.1} B/rec = {:.1}% of raw ({}) | load {load} -> {}",
                            n as f64 / cpu,
                            cpu * 1e6 / n as f64,
                            per(disk),
                            pct(disk),
                            parts.join(", "),
                            load_average()
                        );
                        built_postings = Some(p);
                    }
                    "blocks" => {
                        for cfg in [arrival, service] {
                            let dir = tmp.path().join(format!("{}-{round}", cfg.name()));
                            let load = load_average();
                            let (c0, t0) = (own_cpu_seconds(), Instant::now());
                            let mut layout = super::build(&records, cfg, bits, &dir);
                            let (cpu, wall) = (own_cpu_seconds() - c0, t0.elapsed().as_secs_f64());
                            let disk = dir_bytes(&dir);
                            println!(
                                "round {round} | blocks {}: {} blocks, {cpu:.2} CPU-s = {:.0} rec/CPU-s = {:.2} µs/rec, {wall:.1} s wall | {:.1} B/rec = {:.1}% of raw | load {load} -> {}",
                                cfg.name(),
                                layout.blocks.len(),
                                n as f64 / cpu,
                                cpu * 1e6 / n as f64,
                                per(disk),
                                pct(disk),
                                load_average()
                            );
                            let mut parts: Vec<_> = layout.parts.iter().collect();
                            parts.sort_by_key(|(_, b)| std::cmp::Reverse(**b));
                            let list: Vec<String> =
                                parts.iter().map(|(k, b)| format!("{k} {:.2}", per(**b))).collect();
                            println!("   B/record by part: {}", list.join(", "));
                            if cfg == arrival {
                                layout.data = std::fs::read(dir.join("columns.bin")).unwrap();
                                built_blocks = Some(layout);
                            }
                        }
                    }
                    _ => {
                        let copy = records.clone();
                        let load = load_average();
                        let (cpu, wall) = store_build(&rt, copy, &store_dir);
                        let disk = dir_bytes(&store_dir);
                        println!(
                            "round {round} | Tantivy store: {cpu:.2} CPU-s = {:.0} rec/CPU-s = {:.2} µs/rec incl. close + merges, {wall:.1} s wall | {:.1} B/rec = {:.1}% of raw | load {load} -> {}",
                            n as f64 / cpu,
                            cpu * 1e6 / n as f64,
                            per(disk),
                            pct(disk),
                            load_average()
                        );
                    }
                }
            }
            if round + 1 == rounds {
                kept = Some((built_postings.unwrap(), built_blocks.unwrap()));
            } else {
                std::fs::remove_dir_all(&store_dir).unwrap();
            }
        }
        let (p, l) = kept.unwrap();
        let store_dir = tmp.path().join(format!("store{}", rounds - 1));

        // The blocks give back every record as it was.
        for b in &l.blocks {
            for (r, &i) in l.decode(b).iter().zip(&b.source) {
                assert_eq!(r, &records[i as usize], "round trip");
            }
        }
        println!("round trip: all {n} records decoded equal from the arrival blocks");

        let common = word_near(&records, 0.01);
        let rare = word_near(&records, 0.0001);
        // A service and level that the common word's newest record has.
        let probe = records
            .iter()
            .rev()
            .find(|r| {
                let mut found = false;
                tokens(&r.message, |t| found |= t == common);
                found && r.level != Level::Info
            })
            .unwrap();
        let (svc, level) = (probe.service_name.clone(), probe.level);
        let store: Arc<dyn LogStore> = rt.block_on(async {
            Arc::new(TantivyStore::open(&store_dir, StoreOptions::default()).await.unwrap())
        });
        let runs = 21;
        println!(
            "\n== queries at {n} records, {runs} runs after a warm-up, single thread for the hybrid (column file in memory), the store as it searches | load {}",
            load_average()
        );
        // (name, word, service and level)
        let cases: Vec<(String, String, Filters<'_>)> = vec![
            (format!("word ~1% ('{common}')"), common.clone(), None),
            (
                format!("'{common}' AND {svc} AND {}", level.as_str()),
                common.clone(),
                Some((svc.as_str(), level)),
            ),
            (format!("rare word ('{rare}')"), rare.clone(), None),
        ];
        for (name, word, filter) in cases {
            let (hp50, hp99, hcpu, (htotal, hlogs)) =
                timed(runs, || search(&p, &l, &word, filter, 20));
            let f = Filter {
                query: Some(word.clone()),
                service_name: filter.map(|(s, _)| s.to_owned()),
                level: filter.map(|(_, l)| l),
                ..Filter::default()
            };
            let req = SearchRequest::new(f, Sort::NewestFirst, None, Some(20), None).unwrap();
            let (sp50, sp99, scpu, res) = timed(runs, || rt.block_on(store.search(&req)).unwrap());
            let same_ids = hlogs.iter().map(|r| &r.id).eq(res.logs.iter().map(|r| &r.id));
            let same_records = hlogs == res.logs;
            println!(
                "{name:<40} hybrid p50 {hp50:6.2} / p99 {hp99:6.2} ms, CPU {hcpu:5.2} ms (total {htotal}) | store p50 {sp50:6.2} / p99 {sp99:6.2} ms, CPU {scpu:5.2} ms (total {}) | same total {}, same newest 20 ids {}, records equal {}",
                res.total,
                htotal == res.total,
                same_ids,
                same_records
            );
            assert_eq!(htotal, res.total, "{name}: totals differ");
            assert!(same_ids, "{name}: newest 20 differ");
        }
        println!("load {}", load_average());
        rt.block_on(store.close()).unwrap();
    }
}
