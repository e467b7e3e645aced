//! Decompressed column frames of sealed blocks, kept for the next read.
//!
//! A block keeps each column as a zstd frame, and a read needs the whole
//! frame even for one row: a page of 20 records that lie in 20 blocks
//! decompresses every column of each (about 1 MB of frames a block), and a
//! filter on a host, tag or attribute decompresses that column of every
//! block the headers and blooms cannot rule out. Sealed blocks never
//! change, so a frame, once decompressed, is kept under its block's first
//! sequence number and checksum and its place in the block, within a byte
//! bound (`StoreOptions::block_cache_bytes`), least recently used first
//! out. It is what the page cache does for the Tantivy store's postings,
//! which are read where they lie; the blocks' page cache keeps the frames
//! compressed.

use std::sync::Arc;

use crate::shared::bounded::BoundedLru;

/// A frame's place: its block (first sequence number, checksum) and its
/// offset in the block's bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FrameKey {
    pub first_seq: u64,
    pub checksum: u64,
    pub offset: usize,
}

/// Frames as decompressed, bounded by their bytes.
pub(crate) struct FrameCache(BoundedLru<FrameKey, Arc<Vec<u8>>>);

impl std::fmt::Debug for FrameCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (hits, misses) = self.counts();
        f.debug_struct("FrameCache").field("hits", &hits).field("misses", &misses).finish()
    }
}

impl FrameCache {
    /// A cache of at most `max_bytes` of frames; 0 keeps none.
    pub(crate) fn new(max_bytes: usize) -> FrameCache {
        FrameCache(BoundedLru::new(max_bytes))
    }

    /// The frame at `key`, when kept.
    pub(crate) fn get(&self, key: &FrameKey) -> Option<Arc<Vec<u8>>> {
        self.0.get(key)
    }

    /// Keeps a frame just decompressed.
    pub(crate) fn put(&self, key: FrameKey, frame: Arc<Vec<u8>>) {
        let bytes = frame.len();
        self.0.put(key, frame, bytes);
    }

    /// Frames found kept and frames decompressed, so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.0.hits(), self.0.misses())
    }
}
