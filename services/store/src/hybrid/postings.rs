//! The hybrid backend's Tantivy index: only what a block cannot answer
//! cheaply. `message` words (the same tokenizer and options as the Tantivy
//! store, so a word means the same on both), the record's `seq` (which
//! finds its block and row) and its id's [`IdKey`] (the upsert's lookup of
//! the record an id replaces). Nothing is stored: the blocks hold the
//! records.

use tantivy::query::{BooleanQuery, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{TantivyDocument, Term};

use crate::tantivy::schema::{ID_BUCKET, ID_LOW, IdKey, SEQ};

/// The postings schema's field handles.
#[derive(Debug, Clone, Copy)]
pub struct PostingsFields {
    /// Words, for full-text search; not stored, no positions or norms.
    pub message: Field,
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
        let fields = PostingsFields {
            message: b
                .add_text_field("message", TextOptions::default().set_indexing_options(words)),
            seq: b.add_u64_field(SEQ, NumericOptions::default().set_fast()),
            id_bucket: b.add_u64_field(ID_BUCKET, NumericOptions::default().set_indexed()),
            id_low: b.add_u64_field(ID_LOW, NumericOptions::default().set_fast()),
        };
        (b.build(), fields)
    }

    /// The document of a record with `message`, sequence number `seq` and id
    /// key `key` (`id_key(&record.id)`).
    pub fn document(&self, message: &str, seq: u64, key: IdKey) -> TantivyDocument {
        let mut d = TantivyDocument::new();
        d.add_text(self.message, message);
        d.add_u64(self.seq, seq);
        d.add_u64(self.id_bucket, key.bucket);
        d.add_u64(self.id_low, key.low);
        d
    }

    /// The records whose message holds every word of `q`, as `analyzer`
    /// (the index's `default` tokenizer) splits it; `None` when `q` has no
    /// word, which filters nothing (as on the Tantivy store).
    pub fn words_query(&self, analyzer: &mut TextAnalyzer, q: &str) -> Option<Box<dyn Query>> {
        let mut must: Vec<Box<dyn Query>> = Vec::new();
        let mut stream = analyzer.token_stream(q);
        while let Some(token) = stream.next() {
            let term = Term::from_field_text(self.message, &token.text);
            must.push(Box::new(TermQuery::new(term, IndexRecordOption::Basic)));
        }
        match must.len() {
            0 => None,
            1 => must.pop(),
            _ => Some(Box::new(BooleanQuery::intersection(must))),
        }
    }

    /// The documents of record id `key`, for the upsert: the bucket's
    /// postings checked against the `id_low` column.
    pub fn id_query(&self, key: IdKey) -> Box<dyn Query> {
        Box::new(crate::tantivy::id_query::IdQuery { bucket_field: self.id_bucket, key })
    }
}
