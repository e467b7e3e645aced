//! A block: up to [`MAX_ROWS`] consecutive records in arrival order, with
//! sequence numbers `first_seq .. first_seq + rows`, each field a column of
//! its own zstd frame, so a query decompresses only the columns it reads.
//!
//! ```text
//! magic      "LLBK"                                          4 bytes
//! version    5                                               1 byte
//! checksum   xxh3-64 of every byte after it, LE              8 bytes
//! header     its length (u32 LE), then varints: first_seq, rows, min and
//!            max timestamp and ingested_at (zigzag), the tenants and the
//!            services (dictionaries), the groups (rows, anomalies and
//!            time range per tenant, service and level, see [`Group`]),
//!            every fixed column's compressed and
//!            raw size in `Column` order, each attribute key with its
//!            column's sizes (keys sorted), the group times' sizes, the
//!            filter's probes and words
//! columns    one zstd frame (level 1) each, in header order; a column
//!            whose raw form is empty has no frame; then the group times'
//!            frame: each group's response times counted per sketch bin
//!            (see [`Block::group_times`])
//! filter     the bloom filter's words, u64 LE each
//! ```
//!
//! Column encodings (see `columns`): times as zigzag varint deltas;
//! tenant and service as codes into the header's dictionaries (none when
//! the block has one value, else a byte or two a row); level one byte;
//! status code two bytes (0 = none); severity bytes then anomaly bytes;
//! response times as varints when whole, else as tenths when a tenth of
//! a millisecond gives them exactly, else their f64 bits; ids a kind
//! byte a row with canonical lowercase UUIDs and hex as raw bytes and any
//! other text as it is; host, user id and error code a dictionary while
//! values repeat, else lengths then bytes; tags and reasons a count a row
//! and their items as such a column; message lengths then bytes; an
//! attribute a column per key with a kind byte a row.
//!
//! The record id is not kept when the record's content gives it (as the
//! Tantivy doc store does, `tantivy::stored`): it is computed again on
//! read. Every record reads back exactly as written, f64 bits included.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use fastbloom::BloomFilter;
use foldhash::fast::RandomState as FastHash;
use loglens_core::record::content_id;
use loglens_core::tenant::scoped_id;
use loglens_core::{AttrValue, Attributes, Level, LogRecord, StatusCode};
use tantivy::directory::OwnedBytes;
use tantivy::tokenizer::TextAnalyzer;
use xxhash_rust::xxh3::xxh3_64;

use super::bloom::{self, Field};
use super::columns::{
    self, AttrCell, IdCell, IdColumn, Lists, Malformed, Reader, put_attribute, put_lists,
    put_number, put_strings, put_text, put_varint, unzigzag, zigzag,
};
use super::frames::{FrameCache, FrameKey};
use super::postings::{id_word_keys, message_analyzer};
use crate::tantivy::stats::times::{Keys, Times};

/// Most records in one block.
pub const MAX_ROWS: usize = u16::MAX as usize;

const MAGIC: [u8; 4] = *b"LLBK";
/// 2 added the header's [`Group`]s; 3 the id-like message words to the
/// filter (the postings no longer hold them, so a block without them
/// would hide their records); 4 numbers as tenths (`columns::put_number`:
/// a number's first varint means another thing); 5 each group's response
/// times per sketch bin ([`Block::group_times`]). The hybrid backend is experimental and
/// unreleased: blocks of another version are refused
/// ([`BlockError::Version`]), never converted.
pub(crate) const VERSION: u8 = 5;
/// Magic, version, checksum, header length.
const PREFIX: usize = 4 + 1 + 8 + 4;
const ZSTD_LEVEL: i32 = 1;

/// Why a block could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// A block holds 1 to [`MAX_ROWS`] records.
    #[error("a block holds 1 to {MAX_ROWS} records, got {0}")]
    Rows(usize),
    /// The sequence numbers would pass `u64::MAX`.
    #[error("sequence numbers from {first_seq} for {rows} records overflow")]
    SeqOverflow {
        /// The first record's sequence number.
        first_seq: u64,
        /// Records in the block.
        rows: usize,
    },
    /// zstd failed to compress a column (out of memory).
    #[error("compressing column {column}: {detail}")]
    Compress {
        /// The column's name.
        column: String,
        /// zstd's message.
        detail: String,
    },
    /// The header (mostly attribute keys and dictionaries) would pass the
    /// 4 GiB its length can say; fewer records a block avoid it.
    #[error("block header of {0} bytes is over 4 GiB; write fewer records a block")]
    HeaderTooLarge(usize),
    /// Fewer bytes than the block's own lengths say.
    #[error("block truncated: {len} bytes, {expected} expected")]
    Truncated {
        /// Bytes given.
        len: usize,
        /// Bytes the block needs (at least).
        expected: usize,
    },
    /// More bytes than the block's own lengths say.
    #[error("block of {len} bytes has {extra} bytes after its end")]
    TrailingBytes {
        /// Bytes given.
        len: usize,
        /// Bytes after the block's end.
        extra: usize,
    },
    /// Not a block.
    #[error("not a block: magic {0:02x?}, expected \"LLBK\"")]
    Magic([u8; 4]),
    /// A block of another format version.
    #[error("block format version {0}, this build reads {VERSION}")]
    Version(u8),
    /// The bytes changed since they were written.
    #[error("block checksum mismatch: stored {stored:016x}, computed {computed:016x}")]
    Checksum {
        /// The checksum the block carries.
        stored: u64,
        /// The checksum of its bytes.
        computed: u64,
    },
    /// A part of the block does not decode (a bug, or damage the checksum
    /// did not catch).
    #[error("block {part} is malformed: {detail}")]
    Malformed {
        /// The header, or a column's name.
        part: String,
        /// What is wrong.
        detail: String,
    },
    /// A row past the block's end.
    #[error("row {row} is past the block's {rows} rows")]
    Row {
        /// The row asked for.
        row: usize,
        /// Rows in the block.
        rows: usize,
    },
    /// A reader asked for a column of another kind.
    #[error("column {column} is not {wanted}")]
    Kind {
        /// The column asked for.
        column: &'static str,
        /// What the reader reads.
        wanted: &'static str,
    },
}

/// A fixed column of every block, in block order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Column {
    /// `timestamp`.
    Timestamp,
    /// `ingested_at`.
    IngestedAt,
    /// `tenant`, codes into [`Header::tenants`].
    Tenant,
    /// `service_name`, codes into [`Header::services`].
    Service,
    /// `level`.
    Level,
    /// `status_code`.
    StatusCode,
    /// `severity_score` and `anomaly`.
    Anomaly,
    /// `response_time_ms`.
    ResponseTime,
    /// The record id, left out where the content gives it.
    Id,
    /// `request_id`.
    RequestId,
    /// `trace_id`.
    TraceId,
    /// `span_id`.
    SpanId,
    /// `host`.
    Host,
    /// `user_id`.
    UserId,
    /// `error_code`.
    ErrorCode,
    /// `tags`.
    Tags,
    /// `anomaly_reasons`.
    AnomalyReasons,
    /// `message`.
    Message,
}

impl Column {
    /// Every fixed column, in block order.
    pub const ALL: [Column; 18] = [
        Column::Timestamp,
        Column::IngestedAt,
        Column::Tenant,
        Column::Service,
        Column::Level,
        Column::StatusCode,
        Column::Anomaly,
        Column::ResponseTime,
        Column::Id,
        Column::RequestId,
        Column::TraceId,
        Column::SpanId,
        Column::Host,
        Column::UserId,
        Column::ErrorCode,
        Column::Tags,
        Column::AnomalyReasons,
        Column::Message,
    ];

    /// The column's name: its record field's.
    pub fn name(self) -> &'static str {
        match self {
            Column::Timestamp => "timestamp",
            Column::IngestedAt => "ingested_at",
            Column::Tenant => "tenant",
            Column::Service => "service_name",
            Column::Level => "level",
            Column::StatusCode => "status_code",
            Column::Anomaly => "severity_score+anomaly",
            Column::ResponseTime => "response_time_ms",
            Column::Id => "id",
            Column::RequestId => "request_id",
            Column::TraceId => "trace_id",
            Column::SpanId => "span_id",
            Column::Host => "host",
            Column::UserId => "user_id",
            Column::ErrorCode => "error_code",
            Column::Tags => "tags",
            Column::AnomalyReasons => "anomaly_reasons",
            Column::Message => "message",
        }
    }
}

/// Where a column's frame is in the block, and its sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Extent {
    /// Offset of the frame from the block's first byte.
    pub offset: usize,
    /// Bytes of the frame (0 for an empty column).
    pub compressed: usize,
    /// Bytes once decompressed.
    pub raw: usize,
}

/// What a block says about itself before any column is decompressed.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The first record's sequence number; row `i` is `first_seq + i`.
    pub first_seq: u64,
    /// Records in the block, 1 to [`MAX_ROWS`].
    pub rows: usize,
    /// Earliest `timestamp`.
    pub min_timestamp: i64,
    /// Latest `timestamp`.
    pub max_timestamp: i64,
    /// Earliest `ingested_at`.
    pub min_ingested_at: i64,
    /// Latest `ingested_at`.
    pub max_ingested_at: i64,
    /// The block's tenants, in order of first appearance.
    pub tenants: Vec<String>,
    /// The block's services, in order of first appearance.
    pub services: Vec<String>,
    /// The rows of each (tenant, service, level) the block holds, in that
    /// order: what a count decided by the header alone adds up.
    pub groups: Vec<Group>,
    /// The fixed columns, in [`Column::ALL`] order.
    pub columns: [Extent; Column::ALL.len()],
    /// One column per attribute key, sorted by key.
    pub attributes: Vec<(String, Extent)>,
    /// Each group's response times counted per sketch bin
    /// ([`Block::group_times`]).
    pub group_times: Extent,
    /// The bloom filter's words (offset and size; `raw` is `compressed`).
    pub filter: Extent,
    /// The bloom filter's probes per item.
    pub filter_hashes: u32,
}

/// The rows of one tenant, service and level in a block, counted when it
/// was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// Code into [`Header::tenants`].
    pub tenant: u16,
    /// Code into [`Header::services`].
    pub service: u16,
    /// The rows' level.
    pub level: Level,
    /// Rows, at least one.
    pub rows: u32,
    /// Of which anomalous.
    pub anomalies: u32,
    /// Earliest `timestamp` of the rows.
    pub min_timestamp: i64,
    /// Latest `timestamp` of the rows.
    pub max_timestamp: i64,
}

impl Header {
    /// The extent of a fixed column.
    pub fn column(&self, column: Column) -> Extent {
        self.columns[column as usize]
    }

    /// The sequence numbers of the block's records.
    pub fn seqs(&self) -> std::ops::Range<u64> {
        self.first_seq..self.first_seq + self.rows as u64
    }

    /// The extent of an attribute key's column, if any record of the block
    /// has the key.
    pub fn attribute(&self, key: &str) -> Option<Extent> {
        let i = self.attributes.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok()?;
        Some(self.attributes[i].1)
    }
}

fn level_code(l: Level) -> u8 {
    match l {
        Level::Debug => 0,
        Level::Info => 1,
        Level::Warn => 2,
        Level::Error => 3,
    }
}

fn level_of(code: u8) -> Result<Level, Malformed> {
    Ok(match code {
        0 => Level::Debug,
        1 => Level::Info,
        2 => Level::Warn,
        3 => Level::Error,
        c => return Err(format!("level {c}")),
    })
}

/// Bytes a dictionary code takes with `entries` entries: none for one.
fn code_width(entries: usize) -> usize {
    match entries {
        0 | 1 => 0,
        2..=256 => 1,
        _ => 2,
    }
}

/// A dictionary of the distinct values of one field, in order of first
/// appearance, with a code per row.
fn dictionary<'a>(values: impl Iterator<Item = &'a str>) -> (Vec<&'a str>, Vec<u16>) {
    let mut seen: HashMap<&str, u16, FastHash> = HashMap::default();
    let mut entries = Vec::new();
    let codes = values
        .map(|v| {
            *seen.entry(v).or_insert_with(|| {
                entries.push(v);
                // At most MAX_ROWS values, so every code fits.
                (entries.len() - 1) as u16
            })
        })
        .collect();
    (entries, codes)
}

fn put_codes(out: &mut Vec<u8>, entries: usize, codes: &[u16]) {
    match code_width(entries) {
        0 => {}
        1 => out.extend(codes.iter().map(|&c| c as u8)),
        _ => out.extend(codes.iter().flat_map(|c| c.to_le_bytes())),
    }
}

/// The rows of each (tenant, service, level) of `records`, sorted by those
/// codes.
fn groups(records: &[LogRecord], tenants: &[u16], services: &[u16]) -> Vec<Group> {
    let mut by: BTreeMap<(u16, u16, u8), Group> = BTreeMap::new();
    for ((r, &tenant), &service) in records.iter().zip(tenants).zip(services) {
        let g = by.entry((tenant, service, level_code(r.level))).or_insert(Group {
            tenant,
            service,
            level: r.level,
            rows: 0,
            anomalies: 0,
            min_timestamp: r.timestamp,
            max_timestamp: r.timestamp,
        });
        // At most MAX_ROWS rows, so the counts fit.
        g.rows += 1;
        g.anomalies += u32::from(r.anomaly);
        g.min_timestamp = g.min_timestamp.min(r.timestamp);
        g.max_timestamp = g.max_timestamp.max(r.timestamp);
    }
    by.into_values().collect()
}

/// Appends each group's response times (in `groups`' order), counted per
/// sketch bin as the stats collectors count them ([`Times`]): the nonzero
/// bins (their count, then the first key zigzagged and each next key as
/// its distance from the one before, each with its count), the least and
/// greatest of those values, then the values the sketch does not bin
/// (zero, negative), each as a number. So a stats request that takes a
/// group whole reads no response time ([`Block::group_times`]).
fn put_group_times(
    out: &mut Vec<u8>,
    records: &[LogRecord],
    (tenants, services): (&[u16], &[u16]),
    groups: &[Group],
) {
    let group: HashMap<(u16, u16, u8), usize, FastHash> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| ((g.tenant, g.service, level_code(g.level)), i))
        .collect();
    let mut keys = Keys::new();
    let mut times: Vec<(Times, Vec<f64>)> = vec![(Times::new(), Vec::new()); groups.len()];
    for ((r, &tenant), &service) in records.iter().zip(tenants).zip(services) {
        let Some(v) = r.response_time_ms else { continue };
        let (binned, unbinned) = &mut times[group[&(tenant, service, level_code(r.level))]];
        if keys.binned(v) {
            binned.add(&mut keys, v);
        } else {
            unbinned.push(v);
        }
    }
    for (binned, unbinned) in &times {
        match binned.binned() {
            None => put_varint(out, 0),
            Some((base, bins, min, max)) => {
                put_varint(out, bins.iter().filter(|&&n| n > 0).count() as u64);
                let mut last = None;
                for (key, &n) in (base..).zip(bins).filter(|(_, n)| **n > 0) {
                    match last {
                        None => put_varint(out, zigzag(i64::from(key))),
                        Some(last) => put_varint(out, (key - last) as u64),
                    }
                    put_varint(out, n);
                    last = Some(key);
                }
                put_number(out, Some(min));
                put_number(out, Some(max));
            }
        }
        put_varint(out, unbinned.len() as u64);
        for &v in unbinned {
            put_number(out, Some(v));
        }
    }
}

/// Reads what [`put_group_times`] wrote for the `groups`: no group counts
/// more values than it has rows, keys ascend and are sketch keys (`i32`).
fn group_times(r: &mut Reader<'_>, groups: &[Group]) -> Result<Vec<Times>, Malformed> {
    let mut keys = Keys::new();
    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        // A bin takes at least two bytes (its key and count).
        let nonzero = r.count(2)?;
        let mut times = match nonzero {
            0 => Times::new(),
            _ => {
                let key = |v: i64| i32::try_from(v).map_err(|_| format!("sketch key {v}"));
                let first = key(unzigzag(r.varint()?))?;
                let mut bins = vec![r.varint()?];
                let mut last = first;
                for _ in 1..nonzero {
                    let step = r.varint()?;
                    // The sketch's keys of every f64 span about 37,000.
                    if step == 0 || bins.len() as u64 + step > 1 << 16 {
                        return Err(format!("sketch keys {step} apart"));
                    }
                    last = key(i64::from(last) + step as i64)?;
                    bins.resize(bins.len() + step as usize - 1, 0);
                    bins.push(r.varint()?);
                }
                let min = columns::number(r)?.ok_or("no least response time")?;
                let max = columns::number(r)?.ok_or("no greatest response time")?;
                Times::from_bins(first, bins, min, max)
            }
        };
        let unbinned = r.count(1)?;
        for _ in 0..unbinned {
            let v = columns::number(r)?.ok_or("an absent response time")?;
            if keys.binned(v) {
                return Err(format!("response time {v} among the unbinned"));
            }
            times.add(&mut keys, v);
        }
        if times.count > u64::from(g.rows) {
            return Err(format!("{} response times in a group of {} rows", times.count, g.rows));
        }
        out.push(times);
    }
    Ok(out)
}

/// Writes blocks, reusing its zstd context and buffers from one block to
/// the next.
pub struct BlockWriter {
    zstd: zstd::bulk::Compressor<'static>,
    raw: Vec<u8>,
    ids: IdColumn,
    keys: Vec<u64>,
    text: String,
    /// Cuts messages into words for the filter's id-like ones.
    analyzer: TextAnalyzer,
}

impl Default for BlockWriter {
    fn default() -> BlockWriter {
        BlockWriter::new()
    }
}

impl BlockWriter {
    /// A writer with its own zstd context.
    pub fn new() -> BlockWriter {
        BlockWriter {
            // Creating a context fails only when memory does.
            zstd: zstd::bulk::Compressor::new(ZSTD_LEVEL).expect("a zstd context"),
            raw: Vec::new(),
            ids: IdColumn::default(),
            keys: Vec::new(),
            text: String::new(),
            analyzer: message_analyzer(),
        }
    }

    /// `records`, 1 to [`MAX_ROWS`] of them, as a block whose first record
    /// has sequence number `first_seq`.
    pub fn encode(&mut self, first_seq: u64, records: &[LogRecord]) -> Result<Vec<u8>, BlockError> {
        self.encode_with(first_seq, records, None, &[])
    }

    /// As [`BlockWriter::encode`], with the filter keys of the id-like
    /// words of `records`' messages given: `id_words` holds what
    /// [`id_word_keys`] pushes for each of them (in any order), as the
    /// indexer gathers them while it writes the postings, so that a message
    /// is cut into words once. `derived` vouches, per record (all of them,
    /// or none when empty), that its id is the one its content gives
    /// (`scoped_id(tenant, content_id)`), which is then not hashed again:
    /// the indexer knows it of records that came through
    /// `LogStore::index_normalized`. A `true` for any other record would
    /// make the block give that record another id. The block is the same
    /// as `encode` writes.
    pub fn encode_with_id_words(
        &mut self,
        first_seq: u64,
        records: &[LogRecord],
        id_words: &[u64],
        derived: &[bool],
    ) -> Result<Vec<u8>, BlockError> {
        self.encode_with(first_seq, records, Some(id_words), derived)
    }

    /// [`BlockWriter::encode`], the id-like words' keys computed here when
    /// `id_words` does not give them.
    fn encode_with(
        &mut self,
        first_seq: u64,
        records: &[LogRecord],
        id_words: Option<&[u64]>,
        derived: &[bool],
    ) -> Result<Vec<u8>, BlockError> {
        let rows = records.len();
        debug_assert!(derived.is_empty() || derived.len() == rows, "a flag per record or none");
        if !(1..=MAX_ROWS).contains(&rows) {
            return Err(BlockError::Rows(rows));
        }
        if first_seq.checked_add(rows as u64).is_none() {
            return Err(BlockError::SeqOverflow { first_seq, rows });
        }
        let (tenants, tenant_codes) = dictionary(records.iter().map(|r| r.tenant.as_str()));
        let (services, service_codes) = dictionary(records.iter().map(|r| r.service_name.as_str()));
        let (mut min_ts, mut max_ts) = (i64::MAX, i64::MIN);
        let (mut min_in, mut max_in) = (i64::MAX, i64::MIN);
        for r in records {
            (min_ts, max_ts) = (min_ts.min(r.timestamp), max_ts.max(r.timestamp));
            (min_in, max_in) = (min_in.min(r.ingested_at), max_in.max(r.ingested_at));
        }
        let groups = groups(records, &tenant_codes, &service_codes);

        let mut body = Vec::new();
        let mut sizes = Vec::with_capacity(Column::ALL.len());
        for column in Column::ALL {
            self.fill(
                column,
                records,
                derived,
                (min_ts, min_in),
                (&tenants, &tenant_codes),
                (&services, &service_codes),
            );
            sizes.push(self.compress(column.name(), &mut body)?);
        }
        // Rows that have each key (a record has few of the block's keys).
        let mut by_key: BTreeMap<&str, Vec<(usize, &AttrValue)>> = BTreeMap::new();
        for (row, r) in records.iter().enumerate() {
            for (k, v) in &r.attributes {
                by_key.entry(k).or_default().push((row, v));
            }
        }
        let mut attributes = Vec::with_capacity(by_key.len());
        for (key, values) in &by_key {
            self.raw.clear();
            put_attribute(&mut self.raw, rows, values);
            attributes.push((*key, self.compress(key, &mut body)?));
            let seed = Field::Attribute(key).seed();
            for (_, v) in values {
                self.keys.push(match v {
                    AttrValue::Str(s) => bloom::key(seed, s),
                    other => {
                        self.text.clear();
                        // Writing to a String cannot fail.
                        let _ = write!(self.text, "{other}");
                        bloom::key(seed, &self.text)
                    }
                });
            }
        }
        self.raw.clear();
        put_group_times(&mut self.raw, records, (&tenant_codes, &service_codes), &groups);
        let group_times = self.compress("group_times", &mut body)?;
        self.value_keys(records, id_words);
        let filter = bloom::build(&mut self.keys);
        self.keys.clear();

        let mut header = Vec::new();
        put_varint(&mut header, first_seq);
        put_varint(&mut header, rows as u64);
        for v in [min_ts, max_ts, min_in, max_in] {
            put_varint(&mut header, zigzag(v));
        }
        for dict in [&tenants, &services] {
            put_varint(&mut header, dict.len() as u64);
            for e in dict.iter() {
                put_text(&mut header, e);
            }
        }
        put_varint(&mut header, groups.len() as u64);
        for g in &groups {
            put_varint(&mut header, u64::from(g.tenant));
            put_varint(&mut header, u64::from(g.service));
            header.push(level_code(g.level));
            put_varint(&mut header, u64::from(g.rows));
            put_varint(&mut header, u64::from(g.anomalies));
            // From the block's earliest: small and never negative.
            put_varint(&mut header, g.min_timestamp.wrapping_sub(min_ts) as u64);
            put_varint(&mut header, g.max_timestamp.wrapping_sub(g.min_timestamp) as u64);
        }
        for (compressed, raw) in &sizes {
            put_varint(&mut header, *compressed as u64);
            put_varint(&mut header, *raw as u64);
        }
        put_varint(&mut header, attributes.len() as u64);
        for (key, (compressed, raw)) in &attributes {
            put_text(&mut header, key);
            put_varint(&mut header, *compressed as u64);
            put_varint(&mut header, *raw as u64);
        }
        put_varint(&mut header, group_times.0 as u64);
        put_varint(&mut header, group_times.1 as u64);
        header.push(bloom::HASHES as u8);
        put_varint(&mut header, filter.len() as u64);

        let mut out = Vec::with_capacity(PREFIX + header.len() + body.len() + filter.len() * 8);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&[0; 8]);
        let header_len =
            u32::try_from(header.len()).map_err(|_| BlockError::HeaderTooLarge(header.len()))?;
        out.extend_from_slice(&header_len.to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&body);
        for w in &filter {
            out.extend_from_slice(&w.to_le_bytes());
        }
        let sum = xxh3_64(&out[13..]);
        out[5..13].copy_from_slice(&sum.to_le_bytes());
        Ok(out)
    }

    /// Compresses `self.raw` onto `body`: (compressed, raw) bytes.
    fn compress(&mut self, column: &str, body: &mut Vec<u8>) -> Result<(usize, usize), BlockError> {
        if self.raw.is_empty() {
            return Ok((0, 0));
        }
        let frame = self.zstd.compress(&self.raw).map_err(|e| BlockError::Compress {
            column: column.to_owned(),
            detail: e.to_string(),
        })?;
        body.extend_from_slice(&frame);
        Ok((frame.len(), self.raw.len()))
    }

    /// The raw form of a fixed column into `self.raw`.
    fn fill(
        &mut self,
        column: Column,
        records: &[LogRecord],
        derived: &[bool],
        (min_ts, min_in): (i64, i64),
        tenants: (&[&str], &[u16]),
        services: (&[&str], &[u16]),
    ) {
        let out = &mut self.raw;
        out.clear();
        let opt = |f: fn(&LogRecord) -> Option<&str>| records.iter().map(f).collect::<Vec<_>>();
        match column {
            Column::Timestamp | Column::IngestedAt => {
                let (mut prev, time): (i64, fn(&LogRecord) -> i64) = match column {
                    Column::Timestamp => (min_ts, |r| r.timestamp),
                    _ => (min_in, |r| r.ingested_at),
                };
                for r in records {
                    put_varint(out, zigzag(time(r).wrapping_sub(prev)));
                    prev = time(r);
                }
            }
            Column::Tenant => put_codes(out, tenants.0.len(), tenants.1),
            Column::Service => put_codes(out, services.0.len(), services.1),
            Column::Level => out.extend(records.iter().map(|r| level_code(r.level))),
            Column::StatusCode => {
                for r in records {
                    out.extend_from_slice(&r.status_code.map_or(0, u16::from).to_le_bytes());
                }
            }
            Column::Anomaly => {
                out.extend(records.iter().map(|r| r.severity_score));
                out.extend(records.iter().map(|r| u8::from(r.anomaly)));
            }
            Column::ResponseTime => {
                for r in records {
                    put_number(out, r.response_time_ms);
                }
            }
            Column::Id => {
                let vouched = derived.iter().copied().chain(std::iter::repeat(false));
                for (r, vouched) in records.iter().zip(vouched) {
                    if vouched || r.id.len() == 32 && r.id == scoped_id(&r.tenant, &content_id(r)) {
                        self.ids.push_derived();
                    } else {
                        self.ids.push(Some(&r.id));
                    }
                }
                self.ids.write_to(out);
            }
            Column::RequestId | Column::TraceId | Column::SpanId => {
                let id: fn(&LogRecord) -> Option<&str> = match column {
                    Column::RequestId => |r| r.request_id.as_deref(),
                    Column::TraceId => |r| r.trace_id.as_deref(),
                    _ => |r| r.span_id.as_deref(),
                };
                for r in records {
                    self.ids.push(id(r));
                }
                self.ids.write_to(out);
            }
            Column::Host => put_strings(out, &opt(|r| r.host.as_deref()), true),
            Column::UserId => put_strings(out, &opt(|r| r.user_id.as_deref()), true),
            Column::ErrorCode => put_strings(out, &opt(|r| r.error_code.as_deref()), true),
            Column::Tags => {
                put_lists(out, &records.iter().map(|r| r.tags.as_slice()).collect::<Vec<_>>());
            }
            Column::AnomalyReasons => put_lists(
                out,
                &records.iter().map(|r| r.anomaly_reasons.as_slice()).collect::<Vec<_>>(),
            ),
            Column::Message => {
                put_strings(out, &opt(|r| Some(r.message.as_str())), false);
            }
        }
    }

    /// The filter keys of every exact value but the attributes', and of the
    /// id-like message words the postings leave out (`id_words` when given).
    fn value_keys(&mut self, records: &[LogRecord], id_words: Option<&[u64]>) {
        let seeds = [
            Field::RequestId,
            Field::TraceId,
            Field::UserId,
            Field::ErrorCode,
            Field::Host,
            Field::Tag,
            Field::AnomalyReason,
        ]
        .map(Field::seed);
        let [request, trace, user, error, host, tag, reason] = seeds;
        for r in records {
            for (seed, v) in [
                (request, &r.request_id),
                (trace, &r.trace_id),
                (user, &r.user_id),
                (error, &r.error_code),
                (host, &r.host),
            ] {
                if let Some(v) = v {
                    self.keys.push(bloom::key(seed, v));
                }
            }
            self.keys.extend(r.tags.iter().map(|t| bloom::key(tag, t)));
            self.keys.extend(r.anomaly_reasons.iter().map(|t| bloom::key(reason, t)));
            if id_words.is_none() {
                id_word_keys(&mut self.analyzer, &r.message, &mut self.keys);
            }
        }
        if let Some(keys) = id_words {
            self.keys.extend_from_slice(keys);
        }
    }
}

/// `records` as one block (see [`BlockWriter::encode`]; a writer reuses
/// its buffers between blocks).
pub fn encode(first_seq: u64, records: &[LogRecord]) -> Result<Vec<u8>, BlockError> {
    BlockWriter::new().encode(first_seq, records)
}

/// A block read from its bytes: the header parsed and the checksum
/// checked; columns are decompressed when read. The bytes are a sealed
/// block's file mapped into memory (see `layout::map_block`), so the
/// kernel's page cache holds what is read and can evict it, or a buffer
/// in tests.
#[derive(Debug, Clone)]
pub struct Block {
    bytes: OwnedBytes,
    header: Header,
    filter: Option<BloomFilter>,
    /// Where decompressed frames are kept, when the store keeps them.
    frames: Option<Arc<FrameCache>>,
    /// The least and greatest `severity_score` of its records, once known
    /// ([`Block::severities`]): the header does not say, and a page by
    /// severity bounds a block by it.
    severities: OnceLock<(u8, u8)>,
}

/// The least and greatest of `severities` (`(u8::MAX, 0)` for none).
fn severity_range(severities: impl Iterator<Item = u8>) -> (u8, u8) {
    severities.fold((u8::MAX, 0), |(lo, hi), s| (lo.min(s), hi.max(s)))
}

fn malformed(part: &str) -> impl FnOnce(Malformed) -> BlockError + '_ {
    move |detail| BlockError::Malformed { part: part.to_owned(), detail }
}

thread_local! {
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// Decompresses a column's frame of `raw` bytes.
fn inflate(frame: &[u8], raw: usize) -> Result<Vec<u8>, Malformed> {
    if raw == 0 {
        return Ok(Vec::new());
    }
    // The frame says its size: check it before allocating for it.
    match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) if n == raw as u64 => {}
        Ok(n) => return Err(format!("frame of {n:?} bytes, the header says {raw}")),
        Err(_) => return Err("not a zstd frame".into()),
    }
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?);
        }
        let d = d.as_mut().ok_or("no zstd context")?;
        let out = d.decompress(frame, raw).map_err(|e| format!("zstd: {e}"))?;
        if out.len() != raw {
            return Err(format!("{} bytes decompressed, the header says {raw}", out.len()));
        }
        Ok(out)
    })
}

/// The header and filter of a block's bytes, checked (magic, version,
/// length, checksum): [`Block::parse`].
fn parse_parts(bytes: &[u8]) -> Result<(Header, Option<BloomFilter>), BlockError> {
    let len = bytes.len();
    if len < PREFIX {
        return Err(BlockError::Truncated { len, expected: PREFIX });
    }
    let magic: [u8; 4] = [bytes[0], bytes[1], bytes[2], bytes[3]];
    if magic != MAGIC {
        return Err(BlockError::Magic(magic));
    }
    if bytes[4] != VERSION {
        return Err(BlockError::Version(bytes[4]));
    }
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[5..13]);
    let stored = u64::from_le_bytes(word);
    let header_len = u32::from_le_bytes([bytes[13], bytes[14], bytes[15], bytes[16]]) as usize;
    let expected = PREFIX.saturating_add(header_len);
    if len < expected {
        return Err(BlockError::Truncated { len, expected });
    }
    let parsed = parse_header(&mut Reader::new(&bytes[PREFIX..expected]), header_len);
    // An intact header says how long the block is: name a truncation
    // as such rather than as a checksum mismatch.
    if let Ok((_, end)) = &parsed {
        if len < *end {
            return Err(BlockError::Truncated { len, expected: *end });
        }
        if len > *end {
            return Err(BlockError::TrailingBytes { len, extra: len - end });
        }
    }
    let computed = xxh3_64(&bytes[13..]);
    if computed != stored {
        return Err(BlockError::Checksum { stored, computed });
    }
    let (header, _) = parsed.map_err(malformed("header"))?;
    let words: Vec<u64> = bytes[header.filter.offset..][..header.filter.compressed]
        .chunks_exact(8)
        .map(|w| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]))
        .collect();
    let filter = bloom::from_words(words, header.filter_hashes);
    Ok((header, filter))
}

/// The header from `r` (the bytes after the header length), and the
/// block's length it implies given that the header is `header_len` bytes.
fn parse_header(r: &mut Reader<'_>, header_len: usize) -> Result<(Header, usize), Malformed> {
    let first_seq = r.varint()?;
    let rows = r.varint()?;
    let rows = match usize::try_from(rows) {
        Ok(n) if (1..=MAX_ROWS).contains(&n) => n,
        _ => return Err(format!("{rows} rows, a block holds 1 to {MAX_ROWS}")),
    };
    if first_seq.checked_add(rows as u64).is_none() {
        return Err(format!("sequence numbers from {first_seq} for {rows} records overflow"));
    }
    let mut times = [0i64; 4];
    for t in &mut times {
        *t = unzigzag(r.varint()?);
    }
    let [min_timestamp, max_timestamp, min_ingested_at, max_ingested_at] = times;
    if min_timestamp > max_timestamp || min_ingested_at > max_ingested_at {
        return Err("a minimum time above its maximum".into());
    }
    let mut dicts = [Vec::new(), Vec::new()];
    for (dict, name) in dicts.iter_mut().zip(["tenants", "services"]) {
        let n = r.count(1)?;
        if !(1..=rows).contains(&n) {
            return Err(format!("{n} {name} for {rows} rows"));
        }
        for _ in 0..n {
            dict.push(r.text()?.to_owned());
        }
    }
    let [tenants, services] = dicts;
    let groups =
        parse_groups(r, rows, (tenants.len(), services.len()), (min_timestamp, max_timestamp))?;
    let mut offset = PREFIX + header_len;
    let mut extent = |r: &mut Reader<'_>| -> Result<Extent, Malformed> {
        let compressed = usize::try_from(r.varint()?).map_err(|e| e.to_string())?;
        let raw = usize::try_from(r.varint()?).map_err(|e| e.to_string())?;
        if (compressed == 0) != (raw == 0) {
            return Err(format!("a column of {compressed} bytes compressed, {raw} raw"));
        }
        let e = Extent { offset, compressed, raw };
        offset = offset.checked_add(compressed).ok_or("column sizes overflow")?;
        Ok(e)
    };
    let mut columns = [Extent::default(); Column::ALL.len()];
    for c in &mut columns {
        *c = extent(r)?;
    }
    // A key takes at least two bytes (its length and a byte).
    let n = r.count(2)?;
    let mut attributes: Vec<(String, Extent)> = Vec::with_capacity(n);
    for _ in 0..n {
        let key = r.text()?;
        if attributes.last().is_some_and(|(last, _)| last.as_str() >= key) {
            return Err(format!("attribute key {key:?} out of order"));
        }
        attributes.push((key.to_owned(), extent(r)?));
    }
    let group_times = extent(r)?;
    let filter_hashes = u32::from(r.u8()?);
    if !(1..=bloom::MAX_HASHES).contains(&filter_hashes) {
        return Err(format!("a filter of {filter_hashes} probes"));
    }
    let words = usize::try_from(r.varint()?).map_err(|e| e.to_string())?;
    let filter_bytes = words.checked_mul(8).ok_or("filter size overflows")?;
    let filter = Extent { offset, compressed: filter_bytes, raw: filter_bytes };
    let end = offset.checked_add(filter_bytes).ok_or("filter size overflows")?;
    r.finish()?;
    let header = Header {
        first_seq,
        rows,
        min_timestamp,
        max_timestamp,
        min_ingested_at,
        max_ingested_at,
        tenants,
        services,
        groups,
        columns,
        attributes,
        group_times,
        filter,
        filter_hashes,
    };
    Ok((header, end))
}

/// The header's groups: each with codes inside the dictionaries (of
/// `dicts` entries), in strictly ascending (tenant, service, level) order,
/// a time range inside the block's `span`, and all of them `rows` rows.
fn parse_groups(
    r: &mut Reader<'_>,
    rows: usize,
    dicts: (usize, usize),
    span: (i64, i64),
) -> Result<Vec<Group>, Malformed> {
    // A group takes at least seven bytes.
    let n = r.count(7)?;
    let mut groups: Vec<Group> = Vec::with_capacity(n);
    let mut counted = 0usize;
    for _ in 0..n {
        let code = |v: u64, entries: usize, name: &str| match u16::try_from(v) {
            Ok(c) if usize::from(c) < entries => Ok(c),
            _ => Err(format!("group {name} code {v} of a {entries}-entry dictionary")),
        };
        let tenant = code(r.varint()?, dicts.0, "tenant")?;
        let service = code(r.varint()?, dicts.1, "service")?;
        let level = level_of(r.u8()?)?;
        let (g_rows, anomalies) = (r.varint()?, r.varint()?);
        if g_rows == 0 || g_rows > rows as u64 || anomalies > g_rows {
            return Err(format!("a group of {g_rows} rows, {anomalies} anomalous, in {rows}"));
        }
        let min_timestamp = span.0.wrapping_add(r.varint()? as i64);
        let max_timestamp = min_timestamp.wrapping_add(r.varint()? as i64);
        if !(span.0 <= min_timestamp && min_timestamp <= max_timestamp && max_timestamp <= span.1) {
            return Err("a group's time range outside the block's".into());
        }
        let key = (tenant, service, level_code(level));
        if groups.last().is_some_and(|g| (g.tenant, g.service, level_code(g.level)) >= key) {
            return Err(format!("group {key:?} out of order"));
        }
        counted += g_rows as usize;
        groups.push(Group {
            tenant,
            service,
            level,
            rows: g_rows as u32,
            anomalies: anomalies as u32,
            min_timestamp,
            max_timestamp,
        });
    }
    if counted != rows {
        return Err(format!("groups of {counted} rows in a block of {rows}"));
    }
    Ok(groups)
}

/// Every column of a block decoded, borrowing the decompressed bytes:
/// what building records needs.
struct Decoded<'a> {
    header: &'a Header,
    timestamps: Vec<i64>,
    ingested_at: Vec<i64>,
    tenants: Vec<u16>,
    services: Vec<u16>,
    levels: Vec<Level>,
    status_codes: Vec<Option<StatusCode>>,
    anomalies: Vec<(bool, u8)>,
    response_times: Vec<Option<f64>>,
    ids: [Vec<IdCell<'a>>; 4],
    texts: [Vec<Option<&'a str>>; 4],
    lists: [Lists<'a>; 2],
    attributes: Vec<(&'a str, Vec<Option<AttrCell<'a>>>)>,
}

impl Decoded<'_> {
    fn record(&self, row: usize) -> Result<LogRecord, BlockError> {
        let h = self.header;
        let [id, request_id, trace_id, span_id] = &self.ids;
        let [host, user_id, error_code, message] = &self.texts;
        let [tags, reasons] = &self.lists;
        let owned = |s: Option<&str>| s.map(str::to_owned);
        let mut attributes = Attributes::new();
        for (key, values) in &self.attributes {
            if let Some(v) = values[row] {
                attributes.insert((*key).to_owned(), v.value());
            }
        }
        let (anomaly, severity_score) = self.anomalies[row];
        let mut r = LogRecord {
            id: String::new(),
            timestamp: self.timestamps[row],
            // Codes were checked against the dictionaries when read.
            service_name: h.services[usize::from(self.services[row])].clone(),
            level: self.levels[row],
            message: message[row]
                .ok_or_else(|| malformed(Column::Message.name())("an absent message".into()))?
                .to_owned(),
            status_code: self.status_codes[row],
            request_id: request_id[row].text(),
            user_id: owned(user_id[row]),
            response_time_ms: self.response_times[row],
            error_code: owned(error_code[row]),
            tags: tags.row(row).iter().map(|s| (*s).to_owned()).collect(),
            host: owned(host[row]),
            trace_id: trace_id[row].text(),
            span_id: span_id[row].text(),
            anomaly,
            severity_score,
            anomaly_reasons: reasons.row(row).iter().map(|s| (*s).to_owned()).collect(),
            attributes,
            ingested_at: self.ingested_at[row],
            tenant: h.tenants[usize::from(self.tenants[row])].clone(),
        };
        r.id = match id[row] {
            IdCell::Derived => scoped_id(&r.tenant, &content_id(&r)),
            cell => cell.text().ok_or_else(|| malformed("id")("an absent record id".into()))?,
        };
        Ok(r)
    }
}

impl Block {
    /// Reads a block: checks its magic, version, checksum and lengths and
    /// parses its header. Damaged or truncated bytes are an error naming
    /// what is wrong.
    pub fn parse(bytes: OwnedBytes) -> Result<Block, BlockError> {
        Block::parse_with(bytes, None)
    }

    /// [`Block::parse`] of a block file's mapping `bytes` given `copy`,
    /// the same bytes in the heap (what the seal wrote, or the file read
    /// at open): the header, checksum and filter are read from `copy`, and
    /// not one page of `bytes` is touched. A touch would map more than its
    /// page: on a kernel whose page cache keeps a file in large folios
    /// (ext4 on Linux 6.18 here), one fault maps the whole folio, and
    /// reading the header, filter and checksum through the mapping put
    /// every block whole into the process's RSS.
    pub fn parse_copy(bytes: OwnedBytes, copy: &[u8]) -> Result<Block, BlockError> {
        if copy.len() != bytes.len() {
            return Err(BlockError::Truncated { len: bytes.len(), expected: copy.len() });
        }
        Block::parse_with(bytes, Some(copy))
    }

    fn parse_with(bytes: OwnedBytes, copy: Option<&[u8]>) -> Result<Block, BlockError> {
        let (header, filter) = parse_parts(copy.unwrap_or(bytes.as_slice()))?;
        let block = Block { bytes, header, filter, frames: None, severities: OnceLock::new() };
        if let Some(copy) = copy {
            block.learn_severities(copy);
        }
        Ok(block)
    }

    /// Learns the block's severities from `bytes`, its bytes in the heap
    /// (so that no page of the mapping is touched): about 10 µs a block,
    /// at the seal or at open. A damaged anomaly column leaves them
    /// unknown; its first read says what is wrong.
    fn learn_severities(&self, bytes: &[u8]) {
        let e = self.header.column(Column::Anomaly);
        let Ok(raw) = inflate(&bytes[e.offset..][..e.compressed], e.raw) else { return };
        if let Ok(read) = self.decode(Column::Anomaly, &raw, anomalies) {
            self.severities.get_or_init(|| severity_range(read.iter().map(|(_, s)| *s)));
        }
    }

    /// The block's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The block's bytes, as parsed.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The checksum of the block's bytes (checked when parsed): with
    /// `first_seq`, what tells this block from any other.
    pub fn checksum(&self) -> u64 {
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.bytes[5..13]);
        u64::from_le_bytes(word)
    }

    /// Records in the block.
    pub fn rows(&self) -> usize {
        self.header.rows
    }

    /// Whether a record of the block may have `value` in `field`: `false`
    /// means none has; `true` may be a false positive (about 1%).
    pub fn may_contain(&self, field: Field<'_>, value: &str) -> bool {
        self.filter.as_ref().is_some_and(|f| f.contains_hash(bloom::key(field.seed(), value)))
    }

    /// Keeps this block's decompressed frames in `frames` and reads them
    /// from there ([`FrameCache`]).
    pub(crate) fn with_frames(self, frames: Arc<FrameCache>) -> Block {
        Block { frames: Some(frames), ..self }
    }

    /// A column's frame, decompressed (or as kept in the frame cache).
    fn inflate(&self, part: &str, e: Extent) -> Result<Arc<Vec<u8>>, BlockError> {
        let cache = self.frames.as_deref().filter(|_| e.raw > 0);
        let key = FrameKey {
            first_seq: self.header.first_seq,
            checksum: self.checksum(),
            offset: e.offset,
        };
        if let Some(hit) = cache.and_then(|c| c.get(&key)) {
            return Ok(hit);
        }
        let frame = Arc::new(
            inflate(&self.bytes[e.offset..][..e.compressed], e.raw).map_err(malformed(part))?,
        );
        if let Some(c) = cache {
            c.put(key, Arc::clone(&frame));
        }
        Ok(frame)
    }

    /// A fixed column's bytes, decompressed (or as kept in the frame
    /// cache), for readers of their own (`read::text`).
    pub(crate) fn frame(&self, column: Column) -> Result<Arc<Vec<u8>>, BlockError> {
        self.inflate(column.name(), self.header.column(column))
    }

    /// Decompresses a fixed column and decodes it with `decode`, which
    /// must read it to its end.
    fn read<T>(
        &self,
        column: Column,
        decode: impl FnOnce(&mut Reader<'_>, usize) -> Result<T, Malformed>,
    ) -> Result<T, BlockError> {
        let raw = self.inflate(column.name(), self.header.column(column))?;
        self.decode(column, &raw, decode)
    }

    fn decode<'a, T>(
        &self,
        column: Column,
        raw: &'a [u8],
        decode: impl FnOnce(&mut Reader<'a>, usize) -> Result<T, Malformed>,
    ) -> Result<T, BlockError> {
        let mut r = Reader::new(raw);
        let v = decode(&mut r, self.header.rows).map_err(malformed(column.name()))?;
        r.finish().map_err(malformed(column.name()))?;
        Ok(v)
    }

    /// Every record's `timestamp`.
    pub fn timestamps(&self) -> Result<Vec<i64>, BlockError> {
        let min = self.header.min_timestamp;
        self.read(Column::Timestamp, |r, rows| deltas(r, rows, min))
    }

    /// Every record's `ingested_at`.
    pub fn ingested_at(&self) -> Result<Vec<i64>, BlockError> {
        let min = self.header.min_ingested_at;
        self.read(Column::IngestedAt, |r, rows| deltas(r, rows, min))
    }

    /// Every record's code of [`Column::Tenant`] or [`Column::Service`]:
    /// an index into [`Header::tenants`] or [`Header::services`].
    pub fn codes(&self, column: Column) -> Result<Vec<u16>, BlockError> {
        let entries = match column {
            Column::Tenant => self.header.tenants.len(),
            Column::Service => self.header.services.len(),
            other => return Err(BlockError::Kind { column: other.name(), wanted: "a dictionary" }),
        };
        self.read(column, |r, rows| codes(r, rows, entries))
    }

    /// Every record's `level`.
    pub fn levels(&self) -> Result<Vec<Level>, BlockError> {
        self.read(Column::Level, levels)
    }

    /// Every record's `status_code`.
    pub fn status_codes(&self) -> Result<Vec<Option<StatusCode>>, BlockError> {
        self.read(Column::StatusCode, status_codes)
    }

    /// Every record's `anomaly` and `severity_score`.
    pub fn anomalies(&self) -> Result<Vec<(bool, u8)>, BlockError> {
        let read = self.read(Column::Anomaly, anomalies)?;
        self.severities.get_or_init(|| severity_range(read.iter().map(|(_, s)| *s)));
        Ok(read)
    }

    /// The least and greatest `severity_score` of the block's records,
    /// when known: [`Block::parse_copy`] (the seal, the store's open) or
    /// an earlier [`Block::anomalies`] learned them.
    pub(crate) fn severities(&self) -> Option<(u8, u8)> {
        self.severities.get().copied()
    }

    /// Every record's `response_time_ms`.
    pub fn response_times(&self) -> Result<Vec<Option<f64>>, BlockError> {
        self.read(Column::ResponseTime, |r, rows| each(rows, || columns::number(r)))
    }

    /// Each of the header's groups' response times, in its order, counted
    /// per sketch bin as the stats collectors count them: what a stats
    /// request with percentiles adds for a group it takes whole.
    pub(crate) fn group_times(&self) -> Result<Vec<Times>, BlockError> {
        let raw = self.inflate("group_times", self.header.group_times)?;
        let mut r = Reader::new(&raw);
        let times = group_times(&mut r, &self.header.groups).map_err(malformed("group_times"))?;
        r.finish().map_err(malformed("group_times"))?;
        Ok(times)
    }

    /// Every record's value of a text column: tenant, service, the ids,
    /// host, user id, error code or message (always `Some`). Record ids
    /// left out of the block are computed from their records, which reads
    /// every column.
    pub fn texts(&self, column: Column) -> Result<Vec<Option<String>>, BlockError> {
        let dict = |d: &[String], codes: Vec<u16>| -> Vec<Option<String>> {
            codes.into_iter().map(|c| Some(d[usize::from(c)].clone())).collect()
        };
        match column {
            Column::Tenant => Ok(dict(&self.header.tenants, self.codes(column)?)),
            Column::Service => Ok(dict(&self.header.services, self.codes(column)?)),
            Column::Id => {
                let cells = self.read(column, |r, rows| {
                    let cells = columns::ids(r, rows)?;
                    Ok(cells
                        .into_iter()
                        .map(|c| (c == IdCell::Derived, c.text()))
                        .collect::<Vec<_>>())
                })?;
                if cells.iter().any(|(derived, _)| *derived) {
                    return Ok(self.all_records()?.into_iter().map(|r| Some(r.id)).collect());
                }
                Ok(cells.into_iter().map(|(_, text)| text).collect())
            }
            Column::RequestId | Column::TraceId | Column::SpanId => self.read(column, |r, rows| {
                Ok(columns::ids(r, rows)?.into_iter().map(IdCell::text).collect())
            }),
            Column::Host | Column::UserId | Column::ErrorCode | Column::Message => {
                self.read(column, |r, rows| {
                    Ok(columns::strings(r, rows)?
                        .into_iter()
                        .map(|s| s.map(str::to_owned))
                        .collect())
                })
            }
            other => Err(BlockError::Kind { column: other.name(), wanted: "text" }),
        }
    }

    /// Every record's `tags` ([`Column::Tags`]) or `anomaly_reasons`
    /// ([`Column::AnomalyReasons`]).
    pub fn lists(&self, column: Column) -> Result<Vec<Vec<String>>, BlockError> {
        if !matches!(column, Column::Tags | Column::AnomalyReasons) {
            return Err(BlockError::Kind { column: column.name(), wanted: "a list" });
        }
        self.read(column, |r, rows| {
            let lists = columns::lists(r, rows)?;
            Ok((0..rows).map(|i| lists.row(i).iter().map(|s| (*s).to_owned()).collect()).collect())
        })
    }

    /// Every record's value of the attribute `key` (all `None` when no
    /// record of the block has it).
    pub fn attribute(&self, key: &str) -> Result<Vec<Option<AttrValue>>, BlockError> {
        let Some(e) = self.header.attribute(key) else {
            return Ok(vec![None; self.header.rows]);
        };
        let raw = self.inflate(key, e)?;
        let mut r = Reader::new(&raw);
        let cells = columns::attribute(&mut r, self.header.rows).map_err(malformed(key))?;
        r.finish().map_err(malformed(key))?;
        Ok(cells.into_iter().map(|c| c.map(AttrCell::value)).collect())
    }

    /// Whether each record's value of the attribute `key` reads as `want`
    /// (all `false` when no record of the block has it); see
    /// [`columns::attribute_equal`].
    pub fn attribute_is(&self, key: &str, want: &str) -> Result<Vec<bool>, BlockError> {
        let Some(e) = self.header.attribute(key) else {
            return Ok(vec![false; self.header.rows]);
        };
        let raw = self.inflate(key, e)?;
        let mut r = Reader::new(&raw);
        let equal =
            columns::attribute_equal(&mut r, self.header.rows, want).map_err(malformed(key))?;
        r.finish().map_err(malformed(key))?;
        Ok(equal)
    }

    /// The record at `row`.
    pub fn record(&self, row: usize) -> Result<LogRecord, BlockError> {
        let mut v = self.records(&[row])?;
        v.pop().ok_or(BlockError::Row { row, rows: self.header.rows })
    }

    /// The records at `rows`, in that order; every column is decompressed
    /// once for the call.
    pub fn records(&self, rows: &[usize]) -> Result<Vec<LogRecord>, BlockError> {
        if let Some(&row) = rows.iter().find(|&&r| r >= self.header.rows) {
            return Err(BlockError::Row { row, rows: self.header.rows });
        }
        let mut raws = Vec::with_capacity(Column::ALL.len());
        for c in Column::ALL {
            raws.push(self.inflate(c.name(), self.header.column(c))?);
        }
        let mut attribute_raws = Vec::with_capacity(self.header.attributes.len());
        for (key, e) in &self.header.attributes {
            attribute_raws.push(self.inflate(key, *e)?);
        }
        let d = self.decoded(&raws, &attribute_raws)?;
        rows.iter().map(|&row| d.record(row)).collect()
    }

    /// Every record of the block, in order.
    pub fn all_records(&self) -> Result<Vec<LogRecord>, BlockError> {
        self.records(&(0..self.header.rows).collect::<Vec<_>>())
    }

    fn decoded<'a>(
        &'a self,
        raws: &'a [Arc<Vec<u8>>],
        attribute_raws: &'a [Arc<Vec<u8>>],
    ) -> Result<Decoded<'a>, BlockError> {
        let h = &self.header;
        let raw = |c: Column| raws[c as usize].as_slice();
        let (min_ts, min_in) = (h.min_timestamp, h.min_ingested_at);
        let id = |c: Column| self.decode(c, raw(c), columns::ids);
        let text = |c: Column| self.decode(c, raw(c), columns::strings);
        let list = |c: Column| self.decode(c, raw(c), columns::lists);
        let mut attributes = Vec::with_capacity(h.attributes.len());
        for ((key, _), raw) in h.attributes.iter().zip(attribute_raws) {
            let mut r = Reader::new(raw);
            let cells = columns::attribute(&mut r, h.rows).map_err(malformed(key))?;
            r.finish().map_err(malformed(key))?;
            attributes.push((key.as_str(), cells));
        }
        Ok(Decoded {
            header: h,
            timestamps: self
                .decode(Column::Timestamp, raw(Column::Timestamp), |r, n| deltas(r, n, min_ts))?,
            ingested_at: self
                .decode(Column::IngestedAt, raw(Column::IngestedAt), |r, n| deltas(r, n, min_in))?,
            tenants: self
                .decode(Column::Tenant, raw(Column::Tenant), |r, n| codes(r, n, h.tenants.len()))?,
            services: self.decode(Column::Service, raw(Column::Service), |r, n| {
                codes(r, n, h.services.len())
            })?,
            levels: self.decode(Column::Level, raw(Column::Level), levels)?,
            status_codes: self.decode(Column::StatusCode, raw(Column::StatusCode), status_codes)?,
            anomalies: self.decode(Column::Anomaly, raw(Column::Anomaly), anomalies)?,
            response_times: self.decode(
                Column::ResponseTime,
                raw(Column::ResponseTime),
                |r, n| each(n, || columns::number(r)),
            )?,
            ids: [
                id(Column::Id)?,
                id(Column::RequestId)?,
                id(Column::TraceId)?,
                id(Column::SpanId)?,
            ],
            texts: [
                text(Column::Host)?,
                text(Column::UserId)?,
                text(Column::ErrorCode)?,
                text(Column::Message)?,
            ],
            lists: [list(Column::Tags)?, list(Column::AnomalyReasons)?],
            attributes,
        })
    }
}

/// Times written as zigzag deltas from `min`, then from the previous row.
fn deltas(r: &mut Reader<'_>, rows: usize, min: i64) -> Result<Vec<i64>, Malformed> {
    let mut prev = min;
    each(rows, || {
        prev = prev.wrapping_add(unzigzag(r.varint()?));
        Ok(prev)
    })
}

/// `rows` values read by `next`, into one allocation: collecting
/// `Result`s into a `Vec` cannot know the length and grows it step by step.
fn each<T>(
    rows: usize,
    mut next: impl FnMut() -> Result<T, Malformed>,
) -> Result<Vec<T>, Malformed> {
    let mut out = Vec::with_capacity(rows);
    for _ in 0..rows {
        out.push(next()?);
    }
    Ok(out)
}

/// Dictionary codes of a dictionary of `entries` entries.
fn codes(r: &mut Reader<'_>, rows: usize, entries: usize) -> Result<Vec<u16>, Malformed> {
    let codes: Vec<u16> = match code_width(entries) {
        0 => vec![0; rows],
        1 => r.bytes(rows)?.iter().map(|&c| u16::from(c)).collect(),
        _ => r.bytes(rows * 2)?.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect(),
    };
    match codes.iter().find(|&&c| usize::from(c) >= entries) {
        Some(c) => Err(format!("code {c} of a {entries}-entry dictionary")),
        None => Ok(codes),
    }
}

fn levels(r: &mut Reader<'_>, rows: usize) -> Result<Vec<Level>, Malformed> {
    let mut out = Vec::with_capacity(rows);
    for &c in r.bytes(rows)? {
        out.push(level_of(c)?);
    }
    Ok(out)
}

fn status_codes(r: &mut Reader<'_>, rows: usize) -> Result<Vec<Option<StatusCode>>, Malformed> {
    r.bytes(rows * 2)?
        .chunks_exact(2)
        .map(|c| match u16::from_le_bytes([c[0], c[1]]) {
            0 => Ok(None),
            c => StatusCode::new(i64::from(c)).map(Some).map_err(|e| e.to_string()),
        })
        .collect()
}

fn anomalies(r: &mut Reader<'_>, rows: usize) -> Result<Vec<(bool, u8)>, Malformed> {
    let severity = r.bytes(rows)?;
    let flags = r.bytes(rows)?;
    let mut out = Vec::with_capacity(rows);
    for (&f, &s) in flags.iter().zip(severity) {
        match f {
            0 | 1 => out.push((f == 1, s)),
            f => return Err(format!("anomaly flag {f}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use loglens_core::tenant::DEFAULT_TENANT;

    use super::*;
    use crate::hybrid::postings::PostingsFields;
    use crate::tantivy::schema::id_key;

    /// A small deterministic generator (xorshift64*).
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
        fn hex(&mut self, digits: usize) -> String {
            let mut s = format!("{:016x}{:016x}", self.next(), self.next());
            s.truncate(digits);
            s
        }
        fn uuid(&mut self) -> String {
            let h = self.hex(32);
            format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
        }
    }

    /// An id of one of the forms senders use, canonical or not.
    fn some_id(g: &mut Rng) -> String {
        match g.below(8) {
            0 | 1 => g.uuid(),
            2 => g.uuid().to_uppercase(),
            3 | 4 => g.hex(32),
            5 => g.hex(32).to_uppercase(),
            6 => format!("req-{}", g.below(1_000_000)),
            _ => g.pick(&["", "ü-ñ", "abc", "0123456789abcdeF"]).to_owned(),
        }
    }

    /// A record with every field varied: absent optional fields, empty and
    /// unicode text, every attribute kind, odd numbers, ids of every form,
    /// two tenants, ids derived from the content and given by clients.
    fn record(g: &mut Rng, i: i64) -> LogRecord {
        let timestamp = 1_767_225_600_000 + i * 37 + g.below(5_000) as i64 - 2_500;
        let mut r = LogRecord {
            id: String::new(),
            timestamp,
            service_name: g.pick(&["api-gateway", "billing", "auth", "サービス", ""]).to_owned(),
            level: g.pick(&[Level::Debug, Level::Info, Level::Warn, Level::Error]),
            message: match g.below(6) {
                0 => String::new(),
                1 => "héllo wörld ✓ — 日本語".to_owned(),
                _ => format!("GET /api/v1/items/{} took {} ms", g.below(10_000), g.below(900)),
            },
            status_code: g
                .chance(70)
                .then(|| StatusCode::new(g.pick(&[200, 201, 404, 500, 503, 100, 599])).unwrap()),
            request_id: g.chance(80).then(|| some_id(g)),
            user_id: g.chance(60).then(|| match g.below(10) {
                0 => String::new(),
                _ => format!("u-{}", g.below(300)),
            }),
            response_time_ms: match g.below(10) {
                0 => None,
                1 => Some(g.pick(&[
                    -0.0,
                    0.0,
                    1e300,
                    9_007_199_254_740_994.0,
                    f64::MIN_POSITIVE,
                    f64::NAN,
                    4.5e15,
                ])),
                2..=5 => Some(g.below(5_000) as f64),
                _ => Some(g.below(10_000_000) as f64 / 1000.0),
            },
            error_code: g
                .chance(20)
                .then(|| g.pick(&["E_TIMEOUT", "PAYMENT_DECLINED", ""]).to_owned()),
            tags: (0..g.below(4))
                .map(|_| g.pick(&["web", "", "beta", "ß-tag", "db"]).to_owned())
                .collect(),
            host: g.chance(90).then(|| format!("node-{}", g.below(40))),
            trace_id: g.chance(70).then(|| match g.below(4) {
                0 => g.hex(16),
                1 => g.hex(32).to_uppercase(),
                _ => g.hex(32),
            }),
            span_id: g.chance(60).then(|| match g.below(5) {
                0 => "not hex".to_owned(),
                _ => g.hex(16),
            }),
            anomaly: false,
            severity_score: 0,
            anomaly_reasons: Vec::new(),
            attributes: Attributes::new(),
            ingested_at: match g.below(200) {
                0 => i64::MIN,
                1 => i64::MAX,
                _ => timestamp + g.below(3_000) as i64,
            },
            tenant: if g.chance(25) { "acme".to_owned() } else { DEFAULT_TENANT.to_owned() },
        };
        if g.chance(10) {
            r.anomaly = true;
            r.severity_score = g.below(101) as u8;
            r.anomaly_reasons = (0..1 + g.below(2))
                .map(|_| g.pick(&["slow", "error_burst", ""]).to_owned())
                .collect();
        }
        for _ in 0..g.below(5) {
            let (k, v) = match g.below(6) {
                0 => ("k8s.pod", AttrValue::Str(format!("pod-{}", g.below(50)))),
                1 => ("retries", AttrValue::Int(g.pick(&[0, 3, -7, i64::MIN, i64::MAX]))),
                2 => ("ratio", AttrValue::Float(g.pick(&[0.25, -0.0, 1e-300, -1.5, 3.0]))),
                3 => ("cached", AttrValue::Bool(g.chance(50))),
                4 => ("ключ.ü", AttrValue::Str(g.pick(&["", "значение", "[1,2]"]).to_owned())),
                _ => (
                    "mixed",
                    g.pick(&[AttrValue::Int(1), AttrValue::Str("1".into()), AttrValue::Bool(true)]),
                ),
            };
            r.attributes.insert(k.to_owned(), v);
        }
        r.id = if g.chance(80) { scoped_id(&r.tenant, &content_id(&r)) } else { some_id(g) };
        r
    }

    fn records(seed: u64, n: usize) -> Vec<LogRecord> {
        let mut g = Rng(seed | 1);
        (0..n as i64).map(|i| record(&mut g, i)).collect()
    }

    fn block(records: &[LogRecord]) -> Block {
        Block::parse(OwnedBytes::new(encode(1_000, records).unwrap())).unwrap()
    }

    #[test]
    fn a_blocks_severities_are_known_from_its_heap_copy_or_its_first_read() {
        let recs = records(17, 300);
        let lo = recs.iter().map(|r| r.severity_score).min().unwrap();
        let hi = recs.iter().map(|r| r.severity_score).max().unwrap();
        assert!(lo < hi, "the sample has severities to bound");
        let read = block(&recs);
        assert_eq!(read.severities(), None, "the header does not say");
        read.anomalies().unwrap();
        assert_eq!(read.severities(), Some((lo, hi)));
        let bytes = encode(1_000, &recs).unwrap();
        let copied = Block::parse_copy(OwnedBytes::new(bytes.clone()), &bytes).unwrap();
        assert_eq!(copied.severities(), Some((lo, hi)));
    }

    /// `back` is `want` exactly: equal, and every f64 the same bits
    /// (`==` has -0.0 equal to 0.0 and NaN unequal to itself).
    fn assert_same(back: &[LogRecord], want: &[LogRecord]) {
        assert_eq!(back.len(), want.len());
        for (b, w) in back.iter().zip(want) {
            let bits = |r: &LogRecord| {
                let attrs: Vec<u64> = r
                    .attributes
                    .values()
                    .filter_map(|v| match v {
                        AttrValue::Float(f) => Some(f.to_bits()),
                        _ => None,
                    })
                    .collect();
                (r.response_time_ms.map(f64::to_bits), attrs)
            };
            assert_eq!(bits(b), bits(w), "{w:?}");
            let nan_free = |r: &LogRecord| {
                let mut r = r.clone();
                r.response_time_ms = r.response_time_ms.filter(|t| !t.is_nan());
                r
            };
            assert_eq!(nan_free(b), nan_free(w));
        }
    }

    #[test]
    fn every_record_reads_back_exactly() {
        for (seed, n) in [(1, 1), (2, 2), (3, 100), (4, 3_000), (5, 4_096)] {
            let rs = records(seed, n);
            let b = block(&rs);
            assert_same(&b.all_records().unwrap(), &rs);
            let h = b.header();
            assert_eq!((h.first_seq, h.rows, h.seqs()), (1_000, n, 1_000..1_000 + n as u64));
            assert_eq!(h.min_timestamp, rs.iter().map(|r| r.timestamp).min().unwrap());
            assert_eq!(h.max_timestamp, rs.iter().map(|r| r.timestamp).max().unwrap());
            assert_eq!(h.min_ingested_at, rs.iter().map(|r| r.ingested_at).min().unwrap());
            assert_eq!(h.max_ingested_at, rs.iter().map(|r| r.ingested_at).max().unwrap());
            let mut tenants: Vec<&str> = rs.iter().map(|r| r.tenant.as_str()).collect();
            tenants.sort_unstable();
            tenants.dedup();
            let mut listed: Vec<&str> = h.tenants.iter().map(String::as_str).collect();
            listed.sort_unstable();
            assert_eq!(listed, tenants);
            // Rows asked for, in any order.
            let rows: Vec<usize> = (0..n).rev().step_by(7).collect();
            let want: Vec<LogRecord> = rows.iter().map(|&i| rs[i].clone()).collect();
            assert_same(&b.records(&rows).unwrap(), &want);
            assert_same(&[b.record(n - 1).unwrap()], &rs[n - 1..]);
            assert_eq!(b.record(n).unwrap_err(), BlockError::Row { row: n, rows: n });
        }
        assert!(records(4, 3_000).iter().any(|r| r.tenant == "acme"));
    }

    /// Rows, anomalies and time range per (tenant, service, level code).
    type Groups<'a> = BTreeMap<(&'a str, &'a str, u8), (u32, u32, i64, i64)>;

    #[test]
    fn the_header_counts_each_tenant_service_and_level() {
        for (seed, n) in [(1, 1), (3, 100), (4, 3_000), (6, MAX_ROWS)] {
            let rs = records(seed, n);
            let h = block(&rs).header().clone();
            let mut want = Groups::new();
            for r in &rs {
                let key = (r.tenant.as_str(), r.service_name.as_str(), level_code(r.level));
                let e = want.entry(key).or_insert((0, 0, r.timestamp, r.timestamp));
                e.0 += 1;
                e.1 += u32::from(r.anomaly);
                e.2 = e.2.min(r.timestamp);
                e.3 = e.3.max(r.timestamp);
            }
            let got: Groups<'_> = h
                .groups
                .iter()
                .map(|g| {
                    let key = (
                        h.tenants[usize::from(g.tenant)].as_str(),
                        h.services[usize::from(g.service)].as_str(),
                        level_code(g.level),
                    );
                    (key, (g.rows, g.anomalies, g.min_timestamp, g.max_timestamp))
                })
                .collect();
            assert_eq!(got, want, "{n} records");
            assert_eq!(got.len(), h.groups.len(), "one group per tenant, service and level");
        }
    }

    #[test]
    fn frames_kept_in_the_cache_read_back_the_same() {
        let frames = Arc::new(FrameCache::new(64 << 20));
        // Two blocks from the same sequence number and of the same layout,
        // as after a torn block is rebuilt: the checksum keeps their frames
        // apart.
        // The blocks differ in one record's status code (in no dictionary
        // or filter, so the frames before it lie where they lie in the
        // other block).
        let mut a = records(21, 300);
        a[0].status_code = Some(StatusCode::new(500).unwrap());
        let mut b = a.clone();
        b[0].status_code = Some(StatusCode::new(503).unwrap());
        let blocks =
            [block(&a).with_frames(Arc::clone(&frames)), block(&b).with_frames(frames.clone())];
        let status = |blk: &Block| blk.header().column(Column::StatusCode).offset;
        assert_eq!(status(&blocks[0]), status(&blocks[1]), "the frames lie at the same offset");
        for round in 0..2 {
            for (blk, want) in blocks.iter().zip([&a, &b]) {
                assert_same(&blk.all_records().unwrap(), want);
                assert_eq!(blk.records(&[0]).unwrap()[0], want[0]);
                assert_eq!(blk.levels().unwrap(), want.iter().map(|r| r.level).collect::<Vec<_>>());
            }
            let (hits, misses) = frames.counts();
            if round == 0 {
                assert!(misses > 0 && hits > 0, "the second read of a block hits: {hits} {misses}");
            } else {
                assert!(
                    hits > misses,
                    "every frame is kept after the first round: {hits} {misses}"
                );
            }
        }
        // Off: every read decompresses and nothing is counted.
        let off = Arc::new(FrameCache::new(0));
        let blk = block(&a).with_frames(Arc::clone(&off));
        assert_same(&blk.all_records().unwrap(), &a);
        assert_eq!(off.counts(), (0, 0));
    }

    #[test]
    fn a_full_block_reads_back_exactly() {
        let rs = records(6, MAX_ROWS);
        let b = block(&rs);
        assert_same(&b.all_records().unwrap(), &rs);
        assert_eq!(b.header().seqs().end, 1_000 + MAX_ROWS as u64);
    }

    #[test]
    fn derived_record_ids_are_not_kept() {
        let mut rs = records(7, 500);
        for r in &mut rs {
            r.id = scoped_id(&r.tenant, &content_id(r));
        }
        let derived = block(&rs);
        // One kind byte a row, no payload.
        assert_eq!(derived.header().column(Column::Id).raw, rs.len());
        assert_same(&derived.all_records().unwrap(), &rs);
        // A client's own id in canonical hex: a kind byte and 16 bytes.
        let mut own = rs.clone();
        own[0].id = "0123456789abcdef0123456789abcdef".to_owned();
        assert_eq!(block(&own).header().column(Column::Id).raw, rs.len() + 16);
        // An id that is a hash of other content is kept, not recomputed.
        let mut moved = rs.clone();
        moved[1].id = rs[2].id.clone();
        let b = block(&moved);
        assert_eq!(b.header().column(Column::Id).raw, rs.len() + 16);
        assert_same(&b.all_records().unwrap(), &moved);
    }

    #[test]
    fn column_readers_agree_with_the_records() {
        let rs = records(8, 3_000);
        let b = block(&rs);
        let h = b.header();
        let col = |f: fn(&LogRecord) -> Option<String>| rs.iter().map(f).collect::<Vec<_>>();
        assert_eq!(b.timestamps().unwrap(), rs.iter().map(|r| r.timestamp).collect::<Vec<_>>());
        assert_eq!(b.ingested_at().unwrap(), rs.iter().map(|r| r.ingested_at).collect::<Vec<_>>());
        let services: Vec<&str> = b
            .codes(Column::Service)
            .unwrap()
            .iter()
            .map(|&c| h.services[usize::from(c)].as_str())
            .collect();
        assert_eq!(services, rs.iter().map(|r| r.service_name.as_str()).collect::<Vec<_>>());
        let tenants: Vec<&str> = b
            .codes(Column::Tenant)
            .unwrap()
            .iter()
            .map(|&c| h.tenants[usize::from(c)].as_str())
            .collect();
        assert_eq!(tenants, rs.iter().map(|r| r.tenant.as_str()).collect::<Vec<_>>());
        assert_eq!(b.levels().unwrap(), rs.iter().map(|r| r.level).collect::<Vec<_>>());
        assert_eq!(b.status_codes().unwrap(), rs.iter().map(|r| r.status_code).collect::<Vec<_>>());
        assert_eq!(
            b.anomalies().unwrap(),
            rs.iter().map(|r| (r.anomaly, r.severity_score)).collect::<Vec<_>>()
        );
        let bits =
            |v: Vec<Option<f64>>| v.into_iter().map(|t| t.map(f64::to_bits)).collect::<Vec<_>>();
        assert_eq!(
            bits(b.response_times().unwrap()),
            bits(rs.iter().map(|r| r.response_time_ms).collect())
        );
        assert_eq!(b.texts(Column::Id).unwrap(), col(|r| Some(r.id.clone())));
        assert_eq!(b.texts(Column::RequestId).unwrap(), col(|r| r.request_id.clone()));
        assert_eq!(b.texts(Column::TraceId).unwrap(), col(|r| r.trace_id.clone()));
        assert_eq!(b.texts(Column::SpanId).unwrap(), col(|r| r.span_id.clone()));
        assert_eq!(b.texts(Column::Host).unwrap(), col(|r| r.host.clone()));
        assert_eq!(b.texts(Column::UserId).unwrap(), col(|r| r.user_id.clone()));
        assert_eq!(b.texts(Column::ErrorCode).unwrap(), col(|r| r.error_code.clone()));
        assert_eq!(b.texts(Column::Message).unwrap(), col(|r| Some(r.message.clone())));
        assert_eq!(b.texts(Column::Service).unwrap(), col(|r| Some(r.service_name.clone())));
        assert_eq!(b.texts(Column::Tenant).unwrap(), col(|r| Some(r.tenant.clone())));
        assert_eq!(
            b.lists(Column::Tags).unwrap(),
            rs.iter().map(|r| r.tags.clone()).collect::<Vec<_>>()
        );
        assert_eq!(
            b.lists(Column::AnomalyReasons).unwrap(),
            rs.iter().map(|r| r.anomaly_reasons.clone()).collect::<Vec<_>>()
        );
        let keys: Vec<&str> = h.attributes.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["cached", "k8s.pod", "mixed", "ratio", "retries", "ключ.ü"]);
        for key in keys.iter().chain(&["absent"]) {
            let want: Vec<Option<AttrValue>> =
                rs.iter().map(|r| r.attributes.get(*key).cloned()).collect();
            assert_eq!(b.attribute(key).unwrap(), want, "{key}");
        }
        // Readers of one kind refuse columns of another.
        assert!(matches!(b.texts(Column::Level), Err(BlockError::Kind { .. })));
        assert!(matches!(b.lists(Column::Message), Err(BlockError::Kind { .. })));
        assert!(matches!(b.codes(Column::Host), Err(BlockError::Kind { .. })));
        // The header's extents tile the block.
        let mut end = b.bytes().len() - h.filter.compressed;
        let attributes = h.attributes.iter().map(|(_, e)| e).rev();
        for e in std::iter::once(&h.group_times).chain(attributes).chain(h.columns.iter().rev()) {
            assert_eq!(e.offset + e.compressed, end);
            end = e.offset;
        }
    }

    #[test]
    fn each_groups_response_times_are_its_records() {
        let mut rs = records(31, 3_000);
        // Values the sketch does not bin, and one group with no time at all.
        for (i, r) in rs.iter_mut().enumerate() {
            match i % 17 {
                0 => r.response_time_ms = Some(0.0),
                1 => r.response_time_ms = Some(-2.5),
                2 => r.response_time_ms = Some(1.0 / 3.0),
                _ => {}
            }
            if r.service_name == "auth" && r.level == Level::Debug {
                r.response_time_ms = None;
            }
        }
        let b = block(&rs);
        let h = b.header();
        let got = b.group_times().unwrap();
        assert_eq!(got.len(), h.groups.len());
        let mut keys = Keys::new();
        let mut without = 0;
        for (g, times) in h.groups.iter().zip(got) {
            let mut want = Times::new();
            for r in &rs {
                let tenant = &h.tenants[usize::from(g.tenant)];
                let service = &h.services[usize::from(g.service)];
                if (&r.tenant, &r.service_name, r.level) == (tenant, service, g.level)
                    && let Some(v) = r.response_time_ms
                {
                    want.add(&mut keys, v);
                }
            }
            without += usize::from(want.count == 0);
            assert_eq!(times.count, want.count);
            assert_eq!(times.binned(), want.binned());
            let (got, want) = (times.into_sketch(&keys.config), want.into_sketch(&keys.config));
            assert_eq!((got.count(), got.min(), got.max()), (want.count(), want.min(), want.max()));
            for q in [0.0, 0.5, 0.9, 0.99, 1.0] {
                assert_eq!(got.quantile(q).unwrap(), want.quantile(q).unwrap(), "{q}");
            }
        }
        assert!(without > 0, "a group with no response time");
    }

    #[test]
    fn the_filter_has_every_value_and_few_others() {
        let rs = records(9, 4_096);
        let b = block(&rs);
        let mut present = 0;
        for r in &rs {
            let mut check = |field: Field<'_>, value: &str| {
                assert!(b.may_contain(field, value), "{field:?} {value:?}");
                present += 1;
            };
            let optional = [
                (Field::RequestId, &r.request_id),
                (Field::TraceId, &r.trace_id),
                (Field::UserId, &r.user_id),
                (Field::ErrorCode, &r.error_code),
                (Field::Host, &r.host),
            ];
            for (field, v) in optional {
                if let Some(v) = v {
                    check(field, v);
                }
            }
            for t in &r.tags {
                check(Field::Tag, t);
            }
            for t in &r.anomaly_reasons {
                check(Field::AnomalyReason, t);
            }
            for (k, v) in &r.attributes {
                check(Field::Attribute(k), &v.to_string());
            }
        }
        assert!(present > 4 * rs.len());
        // Absent values, and present values under another field.
        let mut g = Rng(99);
        let fields = [
            Field::RequestId,
            Field::TraceId,
            Field::UserId,
            Field::Host,
            Field::Attribute("k8s.pod"),
        ];
        let probes = 60_000;
        let hits = (0..probes)
            .filter(|i| b.may_contain(fields[i % fields.len()], &format!("absent-{}", g.next())))
            .count();
        let rate = hits as f64 / probes as f64;
        assert!(rate < 0.02, "false positives {rate}");
        let crossed = rs.iter().filter(|r| b.may_contain(Field::UserId, &r.id)).count();
        assert!((crossed as f64) < 0.02 * rs.len() as f64, "{crossed} ids found as user ids");
        // The filter's bits are the same in every process: pinned here.
        assert_eq!(Field::Host.seed(), xxh3_64(b"host"));
        assert_eq!(bloom::key(Field::Host.seed(), "node-1"), 0x1739_65cf_6777_edea);
    }

    #[test]
    fn encode_takes_one_to_max_rows_records() {
        let rs = records(10, 3);
        assert_eq!(encode(0, &[]).unwrap_err(), BlockError::Rows(0));
        let many = vec![rs[0].clone(); MAX_ROWS + 1];
        assert_eq!(encode(0, &many).unwrap_err(), BlockError::Rows(MAX_ROWS + 1));
        assert!(matches!(encode(u64::MAX - 2, &rs), Err(BlockError::SeqOverflow { .. })));
        assert!(encode(u64::MAX - 3, &rs).is_ok());
        // A writer reused between blocks writes what a fresh one does.
        let mut w = BlockWriter::new();
        let other = records(11, 50);
        assert_eq!(w.encode(5, &other).unwrap(), encode(5, &other).unwrap());
        assert_eq!(w.encode(7, &rs).unwrap(), encode(7, &rs).unwrap());
    }

    #[test]
    fn id_words_gathered_with_the_postings_give_the_block_encode_writes() {
        let mut g = Rng(13);
        let rs: Vec<LogRecord> = records(12, 300)
            .into_iter()
            .map(|r| {
                let message = format!("{} order {} ref {}", r.message, some_id(&mut g), g.hex(12));
                LogRecord { message, ..r }
            })
            .collect();
        // As the indexer gathers them: in the pass that writes each record's
        // postings document.
        let fields = PostingsFields::build().1;
        let mut analyzer = message_analyzer();
        let mut keys = Vec::new();
        for (seq, r) in (1..).zip(&rs) {
            fields.document(r, seq, id_key(&r.id), &mut analyzer, &mut keys);
        }
        assert!(keys.len() >= rs.len(), "every message has an id-like word");
        let want = encode(1, &rs).unwrap();
        let mut w = BlockWriter::new();
        assert!(w.encode_with_id_words(1, &rs, &keys, &[]).unwrap() == want);
        keys.reverse();
        assert!(w.encode_with_id_words(1, &rs, &keys, &[]).unwrap() == want, "in any order");
        // The first record's first id-like word left out: another filter.
        assert!(w.encode_with_id_words(1, &rs, &keys[..keys.len() - 1], &[]).unwrap() != want);
    }

    #[test]
    fn ids_vouched_for_as_derived_give_the_block_encode_writes() {
        // About 80% of these ids are their content's, the rest a sender's.
        let rs = records(21, 400);
        let derived: Vec<bool> =
            rs.iter().map(|r| r.id == scoped_id(&r.tenant, &content_id(r))).collect();
        assert!(derived.iter().filter(|d| **d).count() > 250, "mostly derived");
        assert!(derived.iter().filter(|d| !**d).count() > 40, "some a sender's");
        let mut keys = Vec::new();
        for r in &rs {
            id_word_keys(&mut message_analyzer(), &r.message, &mut keys);
        }
        let want = encode(1, &rs).unwrap();
        let mut w = BlockWriter::new();
        assert!(w.encode_with_id_words(1, &rs, &keys, &derived).unwrap() == want);
        // Vouched for one record out of place, the block gives it another id.
        let mut shifted = derived.clone();
        shifted.rotate_right(1);
        let bytes = w.encode_with_id_words(1, &rs, &keys, &shifted).unwrap();
        let b = Block::parse(OwnedBytes::new(bytes)).unwrap();
        assert!(b.all_records().unwrap().iter().zip(&rs).any(|(got, sent)| got.id != sent.id));
    }

    /// Rewrites the checksum of `bytes` to match them.
    fn reseal(bytes: &mut [u8]) {
        let sum = xxh3_64(&bytes[13..]);
        bytes[5..13].copy_from_slice(&sum.to_le_bytes());
    }

    /// Everything a reader can ask of a block, errors ignored: only
    /// panics matter.
    fn read_everything(b: &Block) {
        let _ = b.all_records();
        let _ = (b.timestamps(), b.ingested_at(), b.levels(), b.status_codes());
        let _ =
            (b.anomalies(), b.response_times(), b.codes(Column::Service), b.codes(Column::Tenant));
        let _ = b.group_times();
        for c in Column::ALL {
            let _ = (b.texts(c), b.lists(c));
        }
        for (k, _) in &b.header().attributes {
            let _ = b.attribute(k);
        }
        let _ = b.may_contain(Field::Host, "node-1");
    }

    #[test]
    fn a_block_parses_from_its_heap_copy_alone() {
        let rs = records(40, 12);
        let good = encode(3, &rs).unwrap();
        // What the mapping holds is not read: a block whose mapped bytes are
        // zeros parses from the copy the seal wrote, header and filter alike.
        let zeros = OwnedBytes::new(vec![0; good.len()]);
        let sealed = Block::parse_copy(zeros, &good).unwrap();
        let parsed = Block::parse(OwnedBytes::new(good.clone())).unwrap();
        assert_eq!(format!("{:?}", sealed.header()), format!("{:?}", parsed.header()));
        let hosts: Vec<&str> = rs.iter().filter_map(|r| r.host.as_deref()).collect();
        assert!(!hosts.is_empty());
        for host in hosts.iter().copied().chain(["no-such-host-anywhere"]) {
            assert_eq!(
                sealed.may_contain(Field::Host, host),
                parsed.may_contain(Field::Host, host)
            );
        }
        assert!(hosts.iter().all(|h| sealed.may_contain(Field::Host, h)));
        // The copy is still checked, and must be as long as the file.
        let mut bad = good.clone();
        bad[good.len() - 1] ^= 1;
        let err = Block::parse_copy(OwnedBytes::new(good.clone()), &bad).unwrap_err();
        assert!(matches!(err, BlockError::Checksum { .. }), "{err:?}");
        let short = OwnedBytes::new(good[..good.len() - 1].to_vec());
        assert!(matches!(Block::parse_copy(short, &good), Err(BlockError::Truncated { .. })));
    }

    #[test]
    fn damaged_blocks_are_errors_not_panics() {
        let rs = records(12, 12);
        let good = encode(3, &rs).unwrap();
        assert!(good.len() < 4_000, "{} bytes", good.len());
        for i in 0..good.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] ^= flip;
                assert!(Block::parse(OwnedBytes::new(bad)).is_err(), "byte {i} ^ {flip:#x}");
            }
        }
        for cut in 0..good.len() {
            let err = Block::parse(OwnedBytes::new(good[..cut].to_vec())).unwrap_err();
            assert!(
                matches!(err, BlockError::Truncated { .. } | BlockError::Checksum { .. }),
                "cut at {cut}: {err}"
            );
        }
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(
            Block::parse(OwnedBytes::new(longer)).unwrap_err(),
            BlockError::TrailingBytes { len: good.len() + 1, extra: 1 }
        );
        assert_eq!(
            Block::parse(OwnedBytes::new(good[..40].to_vec()))
                .unwrap_err()
                .to_string()
                .split(':')
                .next(),
            Some("block truncated")
        );
        let mut magic = good.clone();
        magic[0] = b'X';
        assert!(matches!(Block::parse(OwnedBytes::new(magic)), Err(BlockError::Magic(_))));
        // Version 1, before the header's groups, 2, before the message
        // words in the filter, 3, before numbers as tenths, 4, before the
        // groups' response times, and a future version.
        for v in [1, 2, 3, 4, 6] {
            let mut version = good.clone();
            version[4] = v;
            let err = Block::parse(OwnedBytes::new(version)).unwrap_err();
            assert_eq!(err, BlockError::Version(v));
            assert_eq!(err.to_string(), format!("block format version {v}, this build reads 5"));
        }
        // Changes the checksum does not see (it is rewritten to match):
        // each is read as a block or refused, never a panic.
        let mut parsed = 0;
        for i in 13..good.len() {
            for v in [0x00, 0x01, 0x7f, 0x80, 0xff, good[i] ^ 0x04] {
                let mut bad = good.clone();
                bad[i] = v;
                reseal(&mut bad);
                if let Ok(b) = Block::parse(OwnedBytes::new(bad)) {
                    parsed += 1;
                    read_everything(&b);
                }
            }
        }
        assert!(parsed > 0);
        Block::parse(OwnedBytes::new(good)).unwrap().all_records().unwrap();
    }
}
