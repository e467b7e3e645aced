//! The hybrid backend's Tantivy index: only what a block cannot answer
//! cheaply. `message` words (the same tokenizer and options as the Tantivy
//! store, so a word means the same on both), the exact values of the
//! record's service, host and tags (terms: a value found in every block,
//! which no block's filter or header can rule out, is intersected with the
//! other conditions here instead of read from every block's column), the
//! record's `seq` (which finds its block and row) and its id's [`IdKey`]
//! (the upsert's lookup of the record an id replaces). Nothing is stored:
//! the blocks hold the records.

use loglens_core::LogRecord;
use tantivy::query::{BooleanQuery, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{TantivyDocument, Term};

use crate::tantivy::schema::{ID_BUCKET, ID_LOW, IdKey, SEQ};

/// The postings' field names beside `message` and the shared ones.
pub(crate) const SERVICE: &str = "service_name";
pub(crate) const HOST: &str = "host";
pub(crate) const TAGS: &str = "tags";

/// The longest exact value kept as a term: Tantivy drops a token longer
/// than `u16::MAX - 5` bytes (record validation keeps these fields far
/// shorter; a longer filter value is checked on the column).
pub const MAX_TERM_BYTES: usize = 60 * 1024;

/// The postings schema's field handles.
#[derive(Debug, Clone, Copy)]
pub struct PostingsFields {
    /// Words, for full-text search; not stored, no positions or norms.
    pub message: Field,
    /// The service name, one raw term (exact match), no norms.
    pub service: Field,
    /// The host, one raw term when the record has one.
    pub host: Field,
    /// The tags, one raw term each.
    pub tags: Field,
    /// The record's sequence number, fast: the locator of its row.
    pub seq: Field,
    /// The top 12 bits of the record id ([`IdKey::bucket`]), indexed.
    pub id_bucket: Field,
    /// The low 64 bits of the record id ([`IdKey::low`]), fast only.
    pub id_low: Field,
}

impl PostingsFields {
    /// The schema and its field handles.
    pub fn build() -> (Schema, PostingsFields) {
        let mut b = Schema::builder();
        let words = TextFieldIndexing::default()
            .set_tokenizer("default")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false);
        let raw = TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false);
        let keyword = TextOptions::default().set_indexing_options(raw);
        let fields = PostingsFields {
            message: b
                .add_text_field("message", TextOptions::default().set_indexing_options(words)),
            service: b.add_text_field(SERVICE, keyword.clone()),
            host: b.add_text_field(HOST, keyword.clone()),
            tags: b.add_text_field(TAGS, keyword),
            seq: b.add_u64_field(SEQ, NumericOptions::default().set_fast()),
            id_bucket: b.add_u64_field(ID_BUCKET, NumericOptions::default().set_indexed()),
            id_low: b.add_u64_field(ID_LOW, NumericOptions::default().set_fast()),
        };
        (b.build(), fields)
    }

    /// The document of `record`, sequence number `seq` and id key `key`
    /// (`id_key(&record.id)`).
    pub fn document(&self, record: &LogRecord, seq: u64, key: IdKey) -> TantivyDocument {
        let mut d = TantivyDocument::new();
        d.add_text(self.message, &record.message);
        d.add_text(self.service, &record.service_name);
        if let Some(host) = &record.host {
            d.add_text(self.host, host);
        }
        for tag in &record.tags {
            d.add_text(self.tags, tag);
        }
        d.add_u64(self.seq, seq);
        d.add_u64(self.id_bucket, key.bucket);
        d.add_u64(self.id_low, key.low);
        d
    }

    /// The terms of the words of `q`, as `analyzer` (the index's `default`
    /// tokenizer) splits it; none when `q` has no word, which filters
    /// nothing (as on the Tantivy store).
    pub fn words(&self, analyzer: &mut TextAnalyzer, q: &str) -> Vec<Term> {
        let mut out = Vec::new();
        let mut stream = analyzer.token_stream(q);
        while let Some(token) = stream.next() {
            out.push(Term::from_field_text(self.message, &token.text));
        }
        out
    }

    /// The records holding every term of `terms` (words from
    /// [`PostingsFields::words`], exact values from [`PostingsFields::term`]);
    /// `None` for no term, which is no condition.
    pub fn all_of(terms: Vec<Term>) -> Option<Box<dyn Query>> {
        let mut must: Vec<Box<dyn Query>> = terms
            .into_iter()
            .map(|t| Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Box<dyn Query>)
            .collect();
        match must.len() {
            0 => None,
            1 => must.pop(),
            _ => Some(Box::new(BooleanQuery::intersection(must))),
        }
    }

    /// The term of exact value `value` of `field` (one of `service`, `host`
    /// and `tags`), as [`PostingsFields::document`] indexed it; `None` for
    /// a value too long to be a term (Tantivy leaves such a token out), so
    /// that a column decides it instead.
    pub fn term(field: Field, value: &str) -> Option<Term> {
        (value.len() <= MAX_TERM_BYTES).then(|| Term::from_field_text(field, value))
    }

    /// The documents of record id `key`, for the upsert: the bucket's
    /// postings checked against the `id_low` column.
    pub fn id_query(&self, key: IdKey) -> Box<dyn Query> {
        Box::new(crate::tantivy::id_query::IdQuery { bucket_field: self.id_bucket, key })
    }
}
