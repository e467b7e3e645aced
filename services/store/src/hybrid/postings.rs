//! The hybrid backend's Tantivy index: only what a block cannot answer
//! cheaply. `message` words (cut by the Tantivy store's tokenizer,
//! [`message_analyzer`], so a word means the same on both) but the id-like ones
//! ([`is_id_word`]: a digit and [`ID_WORD_MIN_BYTES`] or more, nearly all
//! in one record only), which the blocks' filters hold instead; the exact values of the
//! record's service, host and tags (terms: a value found in every block,
//! which no block's filter or header can rule out, is intersected with the
//! other conditions here instead of read from every block's column), the
//! record's `seq` (which finds its block and row) and part of its id's
//! [`IdKey`] (the bucket and [`id_part`]: the upsert's lookup of the
//! record an id replaces). Nothing is stored: the blocks hold the records.

use loglens_core::LogRecord;
use tantivy::query::{BooleanQuery, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{TextAnalyzer, Token, TokenizerManager};
use tantivy::{TantivyDocument, Term};

use super::bloom;
use crate::tantivy::schema::{ID_BUCKET, IdKey, SEQ};

/// The postings' field names beside `message` and the shared ones.
pub(crate) const SERVICE: &str = "service_name";
pub(crate) const HOST: &str = "host";
pub(crate) const TAGS: &str = "tags";
/// The fast column of [`id_part`]. Until 2026-12-03 the postings kept the
/// whole low 64 bits (`id_low`), 8 of the postings' 90-odd bytes a record;
/// postings with that column are refused at open (schema differs).
pub(crate) const ID_LOW32: &str = "id_low32";

/// The longest exact value kept as a term: Tantivy drops a token longer
/// than `u16::MAX - 5` bytes (record validation keeps these fields far
/// shorter; a longer filter value is checked on the column).
pub const MAX_TERM_BYTES: usize = 60 * 1024;

/// The shortest message word [`is_id_word`] takes.
pub const ID_WORD_MIN_BYTES: usize = 8;

/// The postings' tokenizer of `message`: Tantivy's `whitespace`, over the
/// words [`message_analyzer`] cut (see [`PostingsFields::build`]).
const WORDS_TOKENIZER: &str = "whitespace";

/// Whether a message word (as the `default` tokenizer gives it) is left
/// out of the postings and kept in its block's filter instead
/// ([`super::bloom::Field::Word`]): it has an ASCII digit and
/// [`ID_WORD_MIN_BYTES`] or more. Ids, hex, long numbers and UUID parts
/// are; at 1M generated records nearly all such words are in one record
/// only, and they were most of the postings' term dictionary (2026-12-03,
/// docs/storage.md "Id-like words in the blocks' filters"). Words of this
/// shape found in many records are found all the same, by reading the
/// message column of every block whose filter may hold them.
pub fn is_id_word(word: &str) -> bool {
    word.len() >= ID_WORD_MIN_BYTES && word.bytes().any(|b| b.is_ascii_digit())
}

/// The `default` tokenizer (Tantivy's: words split at non-alphanumeric
/// characters, those of 40 bytes or more dropped, lower-cased): what the
/// postings' message words, the blocks' word filters and a query's words
/// are all cut with.
pub fn message_analyzer() -> TextAnalyzer {
    // Tantivy registers "default" in every manager.
    TokenizerManager::default().get("default").expect("tantivy's default tokenizer")
}

/// Walks the words of `text` once, as `analyzer` ([`message_analyzer`])
/// cuts it, and hands each to `term` when the postings hold it or to `id`
/// when it is id-like ([`is_id_word`]) and a block's filter holds it
/// instead. The postings' documents, the blocks' filters and a query's
/// words all split a message here, so they agree on every word.
pub fn split_words(
    analyzer: &mut TextAnalyzer,
    text: &str,
    mut term: impl FnMut(&Token),
    mut id: impl FnMut(&Token),
) {
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        if is_id_word(&token.text) { id(token) } else { term(token) }
    }
}

/// Pushes onto `keys` the block filter's keys ([`bloom::Field::Word`]) of
/// the id-like words of `message`, as [`split_words`] finds them.
pub fn id_word_keys(analyzer: &mut TextAnalyzer, message: &str, keys: &mut Vec<u64>) {
    split_words(analyzer, message, |_| {}, |w| keys.push(id_word_key(&w.text)));
}

/// The block filter's key of id-like word `word`.
pub fn id_word_key(word: &str) -> u64 {
    bloom::key(bloom::Field::Word.seed(), word)
}

/// A query's message words: the terms the postings hold and the id-like
/// words ([`is_id_word`]) the blocks' filters hold instead.
#[derive(Debug, Default)]
pub struct Words {
    /// Terms of the postings' `message` field.
    pub terms: Vec<Term>,
    /// Id-like words, deduplicated.
    pub ids: Vec<String>,
}

/// The part of a record id's key the postings keep beside its bucket: 32
/// of the low 64 bits. Bucket and part (44 bits) pick the candidates of
/// an id, about one in 2^32 of a bucket's documents besides its own
/// record; the upsert then reads each candidate's record from its block
/// and compares the whole key (`Indexer::committed_rows`), so no record is
/// ever taken for another.
pub fn id_part(key: IdKey) -> u64 {
    key.low >> 32
}

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
    /// [`id_part`] of the record id, fast only.
    pub id_low32: Field,
}

impl PostingsFields {
    /// The schema and its field handles.
    pub fn build() -> (Schema, PostingsFields) {
        let mut b = Schema::builder();
        // The indexer cuts the message (`split_words`) and hands the
        // postings its words joined by spaces, which Tantivy's `whitespace`
        // tokenizer (registered in every index) splits again: a
        // pre-tokenized string would cross to Tantivy's indexing threads
        // as JSON, which cost about 8% of the server's ingest CPU
        // (2026-12-03). The words hold no ASCII whitespace.
        let words = TextFieldIndexing::default()
            .set_tokenizer(WORDS_TOKENIZER)
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
            id_low32: b.add_u64_field(ID_LOW32, NumericOptions::default().set_fast()),
        };
        (b.build(), fields)
    }

    /// The document of `record`, sequence number `seq` and id key `key`
    /// (`id_key(&record.id)`); `analyzer` is [`message_analyzer`], whose
    /// words but the id-like ones are the message's terms. The same pass
    /// pushes the filter keys of the id-like ones onto `id_words` (what
    /// [`id_word_keys`] gives), for the block the record goes to.
    pub fn document(
        &self,
        record: &LogRecord,
        seq: u64,
        key: IdKey,
        analyzer: &mut TextAnalyzer,
        id_words: &mut Vec<u64>,
    ) -> TantivyDocument {
        let mut d = TantivyDocument::new();
        let mut words = String::with_capacity(record.message.len());
        split_words(
            analyzer,
            &record.message,
            |t| {
                if !words.is_empty() {
                    words.push(' ');
                }
                words.push_str(&t.text);
            },
            |w| id_words.push(id_word_key(&w.text)),
        );
        d.add_text(self.message, words);
        d.add_text(self.service, &record.service_name);
        if let Some(host) = &record.host {
            d.add_text(self.host, host);
        }
        for tag in &record.tags {
            d.add_text(self.tags, tag);
        }
        d.add_u64(self.seq, seq);
        d.add_u64(self.id_bucket, key.bucket);
        d.add_u64(self.id_low32, id_part(key));
        d
    }

    /// The words of `q`, as `analyzer` (the index's `default` tokenizer)
    /// splits it: terms, and the id-like words the postings do not hold;
    /// none when `q` has no word, which filters nothing (as on the Tantivy
    /// store).
    pub fn words(&self, analyzer: &mut TextAnalyzer, q: &str) -> Words {
        let mut out = Words::default();
        split_words(
            analyzer,
            q,
            |t| out.terms.push(Term::from_field_text(self.message, &t.text)),
            |w| {
                if !out.ids.contains(&w.text) {
                    out.ids.push(w.text.clone());
                }
            },
        );
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hybrid::testing::bare;
    use crate::tantivy::schema::id_key;

    #[test]
    fn id_like_words_are_those_with_a_digit_and_eight_bytes_or_more() {
        for id in ["0a1b2c3d", "deadbeef0", "20260101", "batch00000042", "straße12", "k00000000"] {
            assert!(is_id_word(id), "{id}");
        }
        for word in ["timeout", "deadbeef", "1234567", "404", "user42", "payments", "ß12345"] {
            assert!(!is_id_word(word), "{word}");
        }
    }

    #[test]
    fn the_postings_hold_a_messages_words_but_the_id_like_ones() {
        let (schema, fields) = PostingsFields::build();
        let index = tantivy::Index::create_in_ram(schema);
        let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 15 << 20).unwrap();
        // Lower-casing gives `İ` a combining dot and more bytes: the word
        // must reach the postings as the query's word, in one piece.
        let message = "Order 0A1B2C3D4E5F shipped to user42 after 20260101 retries in İstanbul";
        let r = bare("r1".into(), 0, message.into(), "t");
        let mut id_words = Vec::new();
        let doc = fields.document(&r, 1, id_key(&r.id), &mut message_analyzer(), &mut id_words);
        writer.add_document(doc).unwrap();
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let words = fields.words(&mut message_analyzer(), message);
        assert_eq!(words.ids, ["0a1b2c3d4e5f", "20260101"]);
        let keys: Vec<u64> =
            words.ids.iter().map(|w| bloom::key(bloom::Field::Word.seed(), w)).collect();
        assert_eq!(id_words, keys, "the document's pass gives the id-like words' filter keys");
        let mut alone = Vec::new();
        id_word_keys(&mut message_analyzer(), message, &mut alone);
        assert_eq!(alone, keys);
        assert_eq!(words.terms.len(), 8);
        for term in &words.terms {
            assert_eq!(searcher.doc_freq(term).unwrap(), 1, "{term:?}");
        }
        for id in &words.ids {
            let term = Term::from_field_text(fields.message, id);
            assert_eq!(searcher.doc_freq(&term).unwrap(), 0, "{id}");
        }
        // Those words and no others (no piece of one).
        let index = searcher.segment_reader(0).inverted_index(fields.message).unwrap();
        assert_eq!(index.terms().num_terms(), words.terms.len());
    }
}
