//! The index schema: which record field is indexed how, and the document
//! built from a [`LogRecord`].
//!
//! `id` is indexed as the 16 bytes its 32 hex digits stand for (half the
//! term dictionary of the hex text, which for random ids is costly to build:
//! issue 6's profile). `span_id` is not indexed: no filter uses it, and its
//! random values cost indexing time; it is in `source`.
//! `tenant` is a keyword on every document (the default tenant's name
//! included), so a tenant's reads and retention are one term away.
//! Keywords use the raw tokenizer with no fieldnorms (exact match only);
//! `message` uses the default tokenizer without positions or fieldnorms
//! (word search, no phrases, no scoring). The whole record is stored as JSON
//! in `source` (zstd doc store), so search returns exactly what was indexed.

use loglens_core::{Level, LogRecord};
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
/// New in the layout of tenants: an index without it is refused as a
/// schema mismatch (records of such an index would read as nobody's).
const TENANT: &str = "tenant";
/// Named apart from the text fields they replace, so an index of the
/// earlier layout is refused as a schema mismatch instead of misread.
const REQUEST_ID_HASH: &str = "request_id_xxh3";
const TRACE_ID_HASH: &str = "trace_id_xxh3";

/// Handles of every schema field, resolved once at open.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// The record id as [`id_key`] bytes, indexed for the upsert's delete.
    pub id: Field,
    /// Record time, ms precision; fast, for ranges, sorting and histograms.
    pub timestamp: Field,
    /// The store-wide sequence number (the WAL's): a unique tie-breaker
    /// for sorting and cursors.
    pub seq: Field,
    /// Keyword, fast (terms aggregation).
    pub service_name: Field,
    /// The record's tenant, keyword, on every document: every read of a
    /// tenant's records intersects its term. Not stored (`source` has it).
    pub tenant: Field,
    /// Keyword, fast (terms aggregation).
    pub level: Field,
    /// Words, for full-text search.
    pub message: Field,
    /// Indexed and fast.
    pub status_code: Field,
    /// 64-bit hash of the request id, fast only ([`id_hash`]).
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
    /// 64-bit hash of the trace id, fast only ([`id_hash`]).
    pub trace_id: Field,
    /// 0 or 1, so `sum` aggregations count anomalies.
    pub anomaly: Field,
    /// 0 or 1 (level is ERROR), so `sum` aggregations count errors.
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
    /// The record as JSON.
    pub source: Field,
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
            id: b.add_bytes_field("id", BytesOptions::default().set_indexed()),
            timestamp: b.add_date_field(TIMESTAMP, date.clone()),
            seq: b.add_u64_field(SEQ, fast.clone()),
            service_name: b.add_text_field(SERVICE, fast_keyword.clone()),
            tenant: b.add_text_field(TENANT, keyword.clone()),
            level: b.add_text_field(LEVEL, fast_keyword),
            message: b
                .add_text_field("message", TextOptions::default().set_indexing_options(words)),
            status_code: b.add_u64_field("status_code", filterable.clone()),
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
            ingested_at: b.add_date_field("ingested_at", date),
            attributes: b.add_json_field("attributes", attributes),
            source: b.add_bytes_field("source", BytesOptions::default().set_stored()),
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

    /// The term of record id `id`, for the upsert's delete.
    pub fn id_term(&self, id: &str) -> Term {
        Term::from_field_bytes(self.id, &id_key(id))
    }

    /// The document for `r`, which got sequence number `seq`.
    pub fn document(&self, r: &LogRecord, seq: u64) -> serde_json::Result<TantivyDocument> {
        let mut d = TantivyDocument::new();
        d.add_bytes(self.id, &id_key(&r.id));
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
        for (field, value) in [(self.request_id, &r.request_id), (self.trace_id, &r.trace_id)] {
            if let Some(v) = value {
                d.add_u64(field, id_hash(v));
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
            let object: Vec<(String, OwnedValue)> = r
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), OwnedValue::Str(v.to_string())))
                .collect();
            d.add_object(self.attributes, object.into_iter().collect());
        }
        d.add_bytes(self.source, &serde_json::to_vec(r)?);
        Ok(d)
    }
}

/// How `request_id` and `trace_id` values are kept and looked up.
pub fn id_hash(value: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(value.as_bytes())
}

/// How a record id is indexed: the 16 bytes of a 32-hex-digit content id
/// (`core::record::content_id`, which every record gets), else the id's own
/// bytes.
pub fn id_key(id: &str) -> Vec<u8> {
    match u128::from_str_radix(id, 16) {
        Ok(v) if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) => {
            v.to_be_bytes().to_vec()
        }
        _ => id.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ids_index_as_their_16_bytes() {
        let id = "00ff10a0000000000000000000000001";
        let mut want = vec![0x00, 0xff, 0x10, 0xa0];
        want.extend([0; 11]);
        want.push(1);
        assert_eq!(id_key(id), want);
        assert_eq!(id_key("not-a-content-id"), b"not-a-content-id".to_vec());
        assert_eq!(
            id_key("+0ff10a0000000000000000000000001"),
            b"+0ff10a0000000000000000000000001".to_vec()
        );
    }
}
