//! A least-recently-used map bounded by the bytes its values are said to
//! take, shared by the caches of both embedded stores: the stats cache
//! (partial counts per segment or block) and the hybrid store's cache of
//! decompressed column frames.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};

/// Values under keys, dropped least recently used first once their bytes
/// pass the bound. A value over a quarter of the bound is never kept, so
/// one large value cannot empty the cache; a bound of 0 keeps nothing.
pub(crate) struct BoundedLru<K: Hash + Eq, V: Clone> {
    entries: parking_lot::Mutex<Entries<K, V>>,
    max_bytes: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

struct Entries<K: Hash + Eq, V> {
    lru: lru::LruCache<K, (V, usize)>,
    bytes: usize,
}

impl<K: Hash + Eq, V: Clone> BoundedLru<K, V> {
    pub(crate) fn new(max_bytes: usize) -> BoundedLru<K, V> {
        BoundedLru {
            entries: parking_lot::Mutex::new(Entries { lru: lru::LruCache::unbounded(), bytes: 0 }),
            max_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Lookups answered so far.
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups not answered so far (none while the cache is off).
    pub(crate) fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Whether values are kept at all (a bound of 0 turns the cache off).
    pub(crate) fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    /// The value under `key`, now the most recently used.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        if !self.enabled() {
            return None;
        }
        let hit = self.entries.lock().lru.get(key).map(|(v, _)| v.clone());
        let counter = if hit.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// Keeps `value`, said to take `bytes`, dropping the least recently
    /// used values beyond the bound.
    pub(crate) fn put(&self, key: K, value: V, bytes: usize) {
        if bytes > self.max_bytes / 4 {
            return;
        }
        let mut e = self.entries.lock();
        e.bytes += bytes;
        if let Some((_, old)) = e.lru.put(key, (value, bytes)) {
            e.bytes -= old;
        }
        while e.bytes > self.max_bytes {
            let Some((_, (_, old))) = e.lru.pop_lru() else { break };
            e.bytes -= old;
        }
    }

    /// Bytes and values kept.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> (usize, usize) {
        let e = self.entries.lock();
        (e.bytes, e.lru.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_keeps_within_its_bound_dropping_the_least_recently_used() {
        let cache = BoundedLru::<u32, u32>::new(10_000);
        for k in 0..3 {
            cache.put(k, k, 2_500);
        }
        assert_eq!(cache.get(&0), Some(0), "the first is used again");
        cache.put(3, 3, 2_500);
        cache.put(4, 4, 2_500);
        assert_eq!(cache.get(&0), Some(0));
        assert_eq!(cache.get(&1), None, "the least recently used went first");
        assert_eq!(cache.kept(), (10_000, 4));
        // Replacing a value counts its new size only.
        cache.put(4, 40, 1_000);
        assert_eq!(cache.kept(), (8_500, 4));
        // More than a quarter of the bound is not kept at all.
        cache.put(9, 9, 2_501);
        assert_eq!(cache.kept(), (8_500, 4));
        assert_eq!((cache.hits(), cache.misses()), (2, 1));
        // Off: nothing is kept and nothing counts.
        let off = BoundedLru::<u32, u32>::new(0);
        off.put(0, 0, 1);
        assert_eq!(off.get(&0), None);
        assert_eq!((off.hits(), off.misses()), (0, 0));
    }
}
