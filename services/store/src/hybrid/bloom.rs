//! A block's bloom filter of exact values: which request and trace ids,
//! users, error codes, hosts, tags, reasons, attribute values and id-like
//! message words may be in the block, so an exact-match lookup skips most
//! blocks without decompressing a column.
//!
//! The filter is fed our own hashes (xxh3-64 of the value, seeded with a
//! hash of the field), never a process-seeded hasher, so bits written by
//! one process are read by another. About [`BITS_PER_ITEM`] bits per
//! distinct item and [`HASHES`] probes: about 0.8% false positives.

use fastbloom::BloomFilter;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// Bits per distinct item.
pub const BITS_PER_ITEM: usize = 10;
/// Probes per item (about `BITS_PER_ITEM * ln 2`).
pub const HASHES: u32 = 7;
/// Most probes a stored filter may name.
pub(super) const MAX_HASHES: u32 = 32;

/// A field whose exact values a block's filter holds.
///
/// Only fields a query filters on: the record id and `span_id` are not
/// here (no filter names them; an upsert finds an id in the postings), and
/// were about 2.5 bytes a record of filter (2026-12-03).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field<'a> {
    /// `request_id`.
    RequestId,
    /// `trace_id`.
    TraceId,
    /// `user_id`.
    UserId,
    /// `error_code`.
    ErrorCode,
    /// `host`.
    Host,
    /// One of `tags`.
    Tag,
    /// One of `anomaly_reasons`.
    AnomalyReason,
    /// An id-like word of `message` (`postings::is_id_word`), as the
    /// tokenizer gives it (lower-cased): the postings do not hold these.
    Word,
    /// The attribute of this key; its value as filters compare it
    /// (`AttrValue`'s `Display`: strings as they are, numbers and booleans
    /// as JSON writes them).
    Attribute(&'a str),
}

impl Field<'_> {
    /// The seed a value of this field is hashed with.
    pub(super) fn seed(self) -> u64 {
        let name: &[u8] = match self {
            Field::RequestId => b"request_id",
            Field::TraceId => b"trace_id",
            Field::UserId => b"user_id",
            Field::ErrorCode => b"error_code",
            Field::Host => b"host",
            Field::Tag => b"tags",
            Field::AnomalyReason => b"anomaly_reasons",
            Field::Word => b"message",
            Field::Attribute(key) => {
                return xxh3_64_with_seed(key.as_bytes(), xxh3_64(b"attributes"));
            }
        };
        xxh3_64(name)
    }
}

/// The filter's key of `value` in the field of seed `seed` ([`Field::seed`]).
pub(super) fn key(seed: u64, value: &str) -> u64 {
    xxh3_64_with_seed(value.as_bytes(), seed)
}

/// The words of a filter holding `keys` (sorted and deduplicated here);
/// none when there are no keys.
pub(super) fn build(keys: &mut Vec<u64>) -> Vec<u64> {
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Vec::new();
    }
    let bits = (keys.len() * BITS_PER_ITEM).next_multiple_of(64);
    let mut f = BloomFilter::with_num_bits(bits).hashes(HASHES);
    for &k in keys.iter() {
        f.insert_hash(k);
    }
    f.as_slice().to_vec()
}

/// A filter from its stored words; `None` holds nothing.
pub(super) fn from_words(words: Vec<u64>, hashes: u32) -> Option<BloomFilter> {
    (!words.is_empty()).then(|| BloomFilter::from_vec(words).hashes(hashes))
}
