//! The upsert's delete: the documents of one record id ([`IdKey`]), or of
//! a batch's ids at once ([`IdsQuery`]).
//!
//! Per segment, the id bucket's postings (on average one in 4,096 of its documents) are
//! read and each is kept when its `id_low` value matches. A stock term query
//! on the fast-only `id_low` column would not do: Tantivy scans the column
//! from the first document to position its docset, a whole-column scan per
//! delete and segment (figure 2b fell to 0.05 of raw Tantivy with it).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, Term};

use super::schema::{ID_LOW, IdKey, SEQ};

/// Matches the documents whose id is `key`; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct IdQuery {
    pub bucket_field: Field,
    pub key: IdKey,
}

impl Query for IdQuery {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl IdQuery {
    fn docs(&self, reader: &SegmentReader) -> tantivy::Result<Vec<DocId>> {
        let term = Term::from_field_u64(self.bucket_field, self.key.bucket);
        let index = reader.inverted_index(self.bucket_field)?;
        let Some(mut postings) = index.read_postings(&term, IndexRecordOption::Basic)? else {
            return Ok(Vec::new());
        };
        let low = reader.fast_fields().u64(ID_LOW)?;
        let mut docs = Vec::new();
        let mut doc = postings.doc();
        while doc != TERMINATED {
            if low.values_for_doc(doc).any(|v| v == self.key.low) {
                docs.push(doc);
            }
            doc = postings.advance();
        }
        Ok(docs)
    }
}

/// Matches the documents of every id in a set: per segment, each bucket's
/// postings are read once and checked against the bucket's ids' values in
/// a fast column (the hybrid backend's `id_low32`: a 32-bit part of the
/// id, so a match is a candidate its caller checks, see
/// `hybrid::postings::id_part`).
#[derive(Debug, Clone)]
pub(crate) struct IdsQuery {
    bucket_field: Field,
    /// The fast column of each document's id value.
    column: &'static str,
    /// The ids' values by bucket.
    by_bucket: Arc<BTreeMap<u64, Vec<u64>>>,
    /// When set, only the documents whose `seq` is one of these.
    seqs: Option<Arc<HashSet<u64>>>,
}

impl IdsQuery {
    /// The documents of `ids` (each a bucket, indexed in `bucket_field`,
    /// and a value of the fast column `column`).
    pub(crate) fn new(
        bucket_field: Field,
        column: &'static str,
        ids: impl IntoIterator<Item = (u64, u64)>,
    ) -> IdsQuery {
        let mut by_bucket: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for (bucket, value) in ids {
            by_bucket.entry(bucket).or_default().push(value);
        }
        IdsQuery { bucket_field, column, by_bucket: Arc::new(by_bucket), seqs: None }
    }

    /// Only the documents, of those, whose `seq` is in `seqs`: what makes
    /// a delete exact when the column holds only part of the id.
    pub(crate) fn of_seqs(mut self, seqs: HashSet<u64>) -> IdsQuery {
        self.seqs = Some(Arc::new(seqs));
        self
    }

    /// Calls `found` with each live document of the set's ids in `reader`,
    /// its bucket and its value, bucket by bucket.
    pub(crate) fn each(
        &self,
        reader: &SegmentReader,
        mut found: impl FnMut(DocId, u64, u64),
    ) -> tantivy::Result<()> {
        let index = reader.inverted_index(self.bucket_field)?;
        let values = reader.fast_fields().u64(self.column)?;
        let seqs = match &self.seqs {
            Some(wanted) => Some((reader.fast_fields().u64(SEQ)?, wanted)),
            None => None,
        };
        let alive = reader.alive_bitset();
        for (&bucket, wanted) in self.by_bucket.iter() {
            let term = Term::from_field_u64(self.bucket_field, bucket);
            let Some(mut postings) = index.read_postings(&term, IndexRecordOption::Basic)? else {
                continue;
            };
            let mut doc = postings.doc();
            while doc != TERMINATED {
                let kept = alive.is_none_or(|a| a.is_alive(doc))
                    && seqs.as_ref().is_none_or(|(column, wanted)| {
                        column.first(doc).is_some_and(|seq| wanted.contains(&seq))
                    });
                if kept {
                    for value in values.values_for_doc(doc).filter(|v| wanted.contains(v)) {
                        found(doc, bucket, value);
                    }
                }
                doc = postings.advance();
            }
        }
        Ok(())
    }

    fn docs(&self, reader: &SegmentReader) -> tantivy::Result<Vec<DocId>> {
        let mut docs = Vec::new();
        self.each(reader, |doc, _, _| docs.push(doc))?;
        docs.sort_unstable();
        docs.dedup();
        Ok(docs)
    }
}

impl Query for IdsQuery {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for IdsQuery {
    fn scorer(&self, reader: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(Docs::new(self.docs(reader)?)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if self.docs(reader)?.contains(&doc) {
            Ok(Explanation::new("record ids", 1.0))
        } else {
            Err(tantivy::TantivyError::InvalidArgument(format!("document {doc} has another id")))
        }
    }
}

/// A few documents, in order (Tantivy's own `VecDocSet` is test-only).
pub(crate) struct Docs {
    docs: Vec<DocId>,
    at: usize,
}

impl Docs {
    /// A docset of `docs`, ascending.
    pub(crate) fn new(docs: Vec<DocId>) -> Docs {
        Docs { docs, at: 0 }
    }
}

impl DocSet for Docs {
    fn advance(&mut self) -> DocId {
        self.at += 1;
        self.doc()
    }

    fn doc(&self) -> DocId {
        self.docs.get(self.at).copied().unwrap_or(TERMINATED)
    }

    fn size_hint(&self) -> u32 {
        self.docs.len() as u32
    }
}

impl Scorer for Docs {
    fn score(&mut self) -> Score {
        1.0
    }
}

impl Weight for IdQuery {
    fn scorer(&self, reader: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(Docs::new(self.docs(reader)?)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if self.docs(reader)?.contains(&doc) {
            Ok(Explanation::new("record id", 1.0))
        } else {
            Err(tantivy::TantivyError::InvalidArgument(format!("document {doc} has another id")))
        }
    }
}
