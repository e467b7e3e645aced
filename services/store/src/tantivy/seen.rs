//! Which record ids may already be in the index.
//!
//! The store upserts by id, and a Tantivy delete is not cheap: every
//! `delete_term` is resolved against every segment when the writer flushes,
//! so at 1 s commits (many small segments) deleting each id before adding
//! it cost up to half of the indexing rate (issue 6's benchmark, row 2b).
//! Almost every record is new, so the indexer keeps Bloom filters of the ids
//! it has indexed (seeded from the index's `id_low` column at open, the low
//! 64 bits of each id, which is what it keeps; the hybrid backend's from
//! its `id_low32`) and deletes
//! only when the id may be there. No false negatives, so no duplicate gets
//! past; a false positive (about 1%) costs the delete the store always
//! used to issue.
//!
//! A Bloom filter has a fixed size, so this is a list of them, each twice
//! the capacity of the previous one: about 10 bits per id in total, 12 MB
//! for 10 million ids. Ids removed by retention stay in the filters (their
//! only cost is an occasional needless delete) until the next open.

use fastbloom::BloomFilter;
use tantivy::Searcher;

use super::backend;
use crate::Result;

/// Capacity of the first filter.
const FIRST_CAPACITY: usize = 1 << 20;
/// False positive rate of each filter at its capacity.
const FALSE_POSITIVES: f64 = 0.01;

struct Filter {
    bloom: BloomFilter,
    capacity: usize,
    len: usize,
}

impl Filter {
    fn new(capacity: usize) -> Filter {
        Filter {
            bloom: BloomFilter::with_false_pos(FALSE_POSITIVES).expected_items(capacity),
            capacity,
            len: 0,
        }
    }
}

/// Ids that may be in the index; see the module docs.
pub(crate) struct SeenIds {
    filters: Vec<Filter>,
}

impl SeenIds {
    /// Every id in the index `searcher` sees, as the fast column `column`
    /// holds it (`id_low`, or the hybrid's `id_low32`); deleted documents'
    /// ids too: harmless.
    pub fn from_index(searcher: &Searcher, column: &str) -> Result<SeenIds> {
        let docs = searcher.segment_readers().iter().map(|s| s.max_doc() as usize).sum::<usize>();
        let mut seen =
            SeenIds { filters: vec![Filter::new(FIRST_CAPACITY.max(docs.saturating_mul(2)))] };
        for segment in searcher.segment_readers() {
            let ids = segment.fast_fields().u64(column).map_err(backend)?;
            for doc in 0..segment.max_doc() {
                for id in ids.values_for_doc(doc) {
                    seen.insert(id);
                }
            }
        }
        Ok(seen)
    }

    /// Whether the id `id` (as its column holds it) may have been
    /// inserted; `false` is certain.
    pub fn may_contain(&self, id: u64) -> bool {
        self.filters.iter().any(|f| f.bloom.contains(&id))
    }

    /// Remembers the id `id`.
    pub fn insert(&mut self, id: u64) {
        let last = self.filters.last().expect("at least one filter");
        if last.len >= last.capacity {
            let capacity = last.capacity.saturating_mul(2);
            self.filters.push(Filter::new(capacity));
        }
        let last = self.filters.last_mut().expect("at least one filter");
        last.bloom.insert(&id);
        last.len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty(capacity: usize) -> SeenIds {
        SeenIds { filters: vec![Filter::new(capacity)] }
    }

    #[test]
    fn never_forgets_an_id_even_past_capacity() {
        let mut seen = empty(1000);
        let ids: Vec<u64> = (0..10_000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).collect();
        for &id in &ids {
            seen.insert(id);
        }
        assert!(seen.filters.len() >= 4, "grew by doubling: {} filters", seen.filters.len());
        assert!(ids.iter().all(|&id| seen.may_contain(id)));
    }

    #[test]
    fn unknown_ids_are_mostly_reported_absent() {
        let mut seen = empty(10_000);
        for i in 0..10_000u64 {
            seen.insert(i);
        }
        let false_positives = (10_000..20_000u64).filter(|&i| seen.may_contain(i)).count();
        assert!(false_positives < 300, "{false_positives} of 10000 unknown ids reported present");
    }
}
