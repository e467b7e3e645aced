//! The index schema: which record field is indexed how, and the document
//! built from a [`LogRecord`].
//!
//! The record id is kept as 76 of its 128 bits ([`IdKey`]): the top 12 as
//! an indexed `id_bucket12` (at most 4,096 terms, so the term dictionary
//! stays tiny) and the low 64 as the fast column `id_low`. The upsert's
//! delete reads the bucket's postings and checks each in the column
//! ([`super::id_query`]). Indexing all 16 bytes as one term made the id most of every term
//! dictionary, about 35 bytes a record, costly to build at every flush and
//! merge (issue 13). `span_id` is not indexed: no filter uses it, and its
//! random values cost indexing time; it is in `record`.
//! `tenant` is a keyword on every document (the default tenant's name
//! included), so a tenant's reads and retention are one term away.
//! Keywords use the raw tokenizer with no fieldnorms (exact match only);
//! `message` uses the default tokenizer without positions or fieldnorms
//! (word search, no phrases, no scoring). The whole record is stored in
//! `record` (zstd doc store, in the positional form of [`super::stored`]),
//! so search returns exactly what was indexed.

use loglens_core::{AttrValue, Level, LogRecord};
use tantivy::query::Query;
use tantivy::schema::{
    BytesOptions, DateOptions, DateTimePrecision, Field, IndexRecordOption, JsonObjectOptions,
    NumericOptions, OwnedValue, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{DateTime, TantivyDocument, Term};

/// Fast field names, referenced by string in sort and aggregation requests.
pub(crate) const TIMESTAMP: &str = "timestamp";
pub(crate) const SEQ: &str = "seq";
pub(crate) const SEVERITY: &str = "severity_score";
pub(crate) const SERVICE: &str = "service_name";
pub(crate) const LEVEL: &str = "level";
pub(crate) const ANOMALY: &str = "anomaly";
pub(crate) const IS_ERROR: &str = "is_error";
pub(crate) const RESPONSE_TIME: &str = "response_time_ms";
pub(crate) const STATUS_CODE: &str = "status_code";
pub(crate) const INGESTED_AT: &str = "ingested_at";
/// New in the layout of tenants: an index without it is refused as a
/// schema mismatch (records of such an index would read as nobody's).
const TENANT: &str = "tenant";
/// Named apart from the text fields and the xxh3-only columns (before
/// 2026-12-02) they replace, so an index of an earlier layout is refused as
/// a schema mismatch instead of misread.
pub(crate) const REQUEST_ID_HASH: &str = "request_id_key";
/// The record id's parts ([`IdKey`]); an index with a whole-id `id` term
/// field, or with 16-bit buckets in `id_bucket` (both before 2026-12-02),
/// is refused as a schema mismatch.
pub(crate) const ID_BUCKET: &str = "id_bucket12";
pub(crate) const ID_LOW: &str = "id_low";
pub(crate) const TRACE_ID_HASH: &str = "trace_id_key";
/// The stored record ([`super::stored`]); an index that kept it as JSON in
/// `source` (before 2026-12-02) is refused as a schema mismatch.
const RECORD: &str = "record";

/// Handles of every schema field, resolved once at open.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// The top 12 bits of the record id ([`IdKey::bucket`]), indexed.
    pub id_bucket: Field,
    /// The low 64 bits of the record id ([`IdKey::low`]), fast only.
    pub id_low: Field,
    /// Record time, ms precision; fast, for ranges, sorting and histograms.
    pub timestamp: Field,
    /// The store-wide sequence number (the WAL's): a unique tie-breaker
    /// for sorting and cursors.
    pub seq: Field,
    /// Keyword, fast (terms aggregation).
    pub service_name: Field,
    /// The record's tenant, keyword, on every document: every read of a
    /// tenant's records intersects its term. Not stored (`record` has it).
    pub tenant: Field,
    /// Keyword, fast (terms aggregation).
    pub level: Field,
    /// Words, for full-text search.
    pub message: Field,
    /// Indexed and fast.
    pub status_code: Field,
    /// The request id's low half or hash, fast only ([`id_hash`]).
    pub request_id: Field,
    /// Keyword.
    pub user_id: Field,
    /// Fast, for percentiles.
    pub response_time_ms: Field,
    /// Keyword.
    pub error_code: Field,
    /// Keyword, one value per tag.
    pub tags: Field,
    /// Keyword.
    pub host: Field,
    /// The trace id's low half or hash, fast only ([`id_hash`]).
    pub trace_id: Field,
    /// 0 or 1, so `sum` aggregations count anomalies.
    pub anomaly: Field,
    /// 0 or 1 (level is ERROR). The stats collector counts ERROR records
    /// from `level` and no longer reads it; kept so the layout stays one.
    pub is_error: Field,
    /// Fast, for the severity sort.
    pub severity_score: Field,
    /// Keyword, one value per reason.
    pub anomaly_reasons: Field,
    /// Fast date.
    pub ingested_at: Field,
    /// Attributes: a JSON object of key -> value as text, keys split on dots,
    /// raw tokenizer (exact match on each value).
    pub attributes: Field,
    /// The whole record, in the stored form of [`super::stored`].
    pub record: Field,
}

impl Fields {
    /// The schema and its field handles.
    pub fn build() -> (Schema, Fields) {
        let mut b = Schema::builder();
        let raw = TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false);
        let keyword = TextOptions::default().set_indexing_options(raw.clone());
        let attributes =
            JsonObjectOptions::default().set_indexing_options(raw).set_expand_dots_enabled();
        let fast_keyword = keyword.clone().set_fast("raw");
        let words = TextFieldIndexing::default()
            .set_tokenizer("default")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false);
        let fast = NumericOptions::default().set_fast();
        let filterable = NumericOptions::default().set_indexed().set_fast();
        let date = DateOptions::default().set_fast().set_precision(DateTimePrecision::Milliseconds);

        let fields = Fields {
            id_bucket: b.add_u64_field(ID_BUCKET, NumericOptions::default().set_indexed()),
            id_low: b.add_u64_field(ID_LOW, fast.clone()),
            timestamp: b.add_date_field(TIMESTAMP, date.clone()),
            seq: b.add_u64_field(SEQ, fast.clone()),
            service_name: b.add_text_field(SERVICE, fast_keyword.clone()),
            tenant: b.add_text_field(TENANT, keyword.clone()),
            level: b.add_text_field(LEVEL, fast_keyword),
            message: b
                .add_text_field("message", TextOptions::default().set_indexing_options(words)),
            status_code: b.add_u64_field(STATUS_CODE, filterable.clone()),
            request_id: b.add_u64_field(REQUEST_ID_HASH, fast.clone()),
            user_id: b.add_text_field("user_id", keyword.clone()),
            response_time_ms: b.add_f64_field(RESPONSE_TIME, fast.clone()),
            error_code: b.add_text_field("error_code", keyword.clone()),
            tags: b.add_text_field("tags", keyword.clone()),
            host: b.add_text_field("host", keyword.clone()),
            trace_id: b.add_u64_field(TRACE_ID_HASH, fast.clone()),
            anomaly: b.add_u64_field(ANOMALY, filterable),
            is_error: b.add_u64_field(IS_ERROR, fast.clone()),
            severity_score: b.add_u64_field(SEVERITY, fast),
            anomaly_reasons: b.add_text_field("anomaly_reasons", keyword),
            ingested_at: b.add_date_field(INGESTED_AT, date),
            attributes: b.add_json_field("attributes", attributes),
            record: b.add_bytes_field(RECORD, BytesOptions::default().set_stored()),
        };
        (b.build(), fields)
    }

    /// The term matching records whose attribute `key` is `value` (as text).
    pub fn attribute_term(&self, key: &str, value: &str) -> Term {
        // The path splits on dots (as the documents' keys were); a backslash
        // in a key is taken literally.
        let path = key.replace('\\', "\\\\");
        let mut t = Term::from_field_json_path(self.attributes, &path, true);
        t.append_type_and_str(value);
        t
    }

    /// The term of `tenant`'s records.
    pub fn tenant_term(&self, tenant: &str) -> Term {
        Term::from_field_text(self.tenant, tenant)
    }

    /// The documents of record id `key`, for the upsert's delete: the
    /// bucket's postings (one record in 4,096 of the segment's) checked
    /// against the `id_low` column, a point lookup per posting.
    pub fn id_query(&self, key: IdKey) -> Box<dyn Query> {
        Box::new(super::id_query::IdQuery { bucket_field: self.id_bucket, key })
    }

    /// The document for `r`, which got sequence number `seq` and whose id
    /// has key `key` (`id_key(&r.id)`, which the caller needs too).
    pub fn document(&self, r: &LogRecord, seq: u64, key: IdKey) -> TantivyDocument {
        let mut d = TantivyDocument::new();
        d.add_u64(self.id_bucket, key.bucket);
        d.add_u64(self.id_low, key.low);
        d.add_date(self.timestamp, DateTime::from_timestamp_millis(r.timestamp));
        d.add_u64(self.seq, seq);
        d.add_text(self.service_name, &r.service_name);
        d.add_text(self.tenant, &r.tenant);
        d.add_text(self.level, r.level.as_str());
        d.add_text(self.message, &r.message);
        if let Some(s) = r.status_code {
            d.add_u64(self.status_code, u64::from(s));
        }
        for (field, value) in
            [(self.user_id, &r.user_id), (self.error_code, &r.error_code), (self.host, &r.host)]
        {
            if let Some(v) = value {
                d.add_text(field, v);
            }
        }
        let (record, keys) = super::stored::encode_for_index(r);
        for (field, key) in [self.request_id, self.trace_id].into_iter().zip(keys) {
            if let Some(key) = key {
                d.add_u64(field, key);
            }
        }
        if let Some(t) = r.response_time_ms {
            d.add_f64(self.response_time_ms, t);
        }
        for t in &r.tags {
            d.add_text(self.tags, t);
        }
        for reason in &r.anomaly_reasons {
            d.add_text(self.anomaly_reasons, reason);
        }
        d.add_u64(self.anomaly, u64::from(r.anomaly));
        d.add_u64(self.is_error, u64::from(r.level == Level::Error));
        d.add_u64(self.severity_score, u64::from(r.severity_score));
        d.add_date(self.ingested_at, DateTime::from_timestamp_millis(r.ingested_at));
        if !r.attributes.is_empty() {
            // Values as the text filters compare: 3, 0.5, true, "a b".
            // The pairs in key order, as `add_object` would make them from a map.
            let object = r
                .attributes
                .iter()
                .map(|(k, v)| {
                    let text = match v {
                        AttrValue::Str(s) => s.clone(),
                        v => v.to_string(),
                    };
                    (k.clone(), OwnedValue::Str(text))
                })
                .collect();
            d.add_field_value(self.attributes, &OwnedValue::Object(object));
        }
        d.add_bytes(self.record, &record);
        d
    }
}

/// How `request_id` and `trace_id` values are kept in their columns and
/// looked up: for a lowercase UUID or 32-digit lowercase hex id, its key
/// ([`super::stored::split_id`]: the low half mixed with a hash of the high
/// half, which the doc store keeps), else the xxh3-64 hash of the text. Two
/// different ids get one value with odds of about 2^-64 per pair, whatever
/// their structure; a filter on one would then return both.
pub fn id_hash(value: &str) -> u64 {
    super::stored::column_key(value, super::stored::split_id(value))
}

/// A record id as the index keeps it: 76 of its 128 bits. Two ids that
/// agree on those 76 bits would be taken for one by the upsert's delete
/// (the older record replaced); among a billion records the chance that any
/// two do is about 7 in a million, and it only matters if one of them is
/// sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdKey {
    /// The top 12 bits.
    pub bucket: u64,
    /// The low 64 bits.
    pub low: u64,
}

/// The [`IdKey`] of record id `id`: its bits when it is a 32-hex-digit
/// content id (`core::record::content_id`, which every record gets), else
/// the 128-bit xxh3 hash of its bytes.
pub fn id_key(id: &str) -> IdKey {
    let bits = hex128(id.as_bytes()).unwrap_or_else(|| xxhash_rust::xxh3::xxh3_128(id.as_bytes()));
    IdKey { bucket: (bits >> 116) as u64, low: bits as u64 }
}

/// The value of exactly 32 hex digits (either case). Hand-rolled: the
/// standard parser was 1.3% of ingest's CPU (it is called per record).
fn hex128(id: &[u8]) -> Option<u128> {
    if id.len() != 32 {
        return None;
    }
    id.iter().try_fold(0u128, |v, &c| Some(v << 4 | u128::from(char::from(c).to_digit(16)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ids_key_by_their_top_12_and_low_64_bits() {
        let key = id_key("00ff10a000000000000000000000beef");
        assert_eq!(key, IdKey { bucket: 0x00f, low: 0xbeef });
        // Bits 64-115 are not kept.
        assert_eq!(id_key("00f0ffffffffffff000000000000beef"), key);
        assert_ne!(id_key("00ef10a000000000000000000000beef"), key);
        assert_ne!(id_key("00ff10a000000000000000000000beee"), key);
        // Anything else is hashed, never parsed.
        let odd = id_key("+0ff10a000000000000000000000beef");
        assert_eq!(odd, id_key("+0ff10a000000000000000000000beef"));
        assert_ne!(odd, key);
        assert_ne!(id_key("not-a-content-id"), id_key("not-a-content-id2"));
        // Capitals parse as their value; 31 or 33 digits are hashed.
        assert_eq!(id_key("00FF10A000000000000000000000BEEF"), key);
        let short = "0ff10a000000000000000000000beef";
        assert_eq!(
            id_key(short),
            IdKey {
                bucket: (xxhash_rust::xxh3::xxh3_128(short.as_bytes()) >> 116) as u64,
                low: xxhash_rust::xxh3::xxh3_128(short.as_bytes()) as u64,
            }
        );
        assert_ne!(id_key("00ff10a000000000000000000000beef0"), key);
    }
}
