//! The processor's per-partition counters, shown by `GetLedger` and
//! `GET /ledger`.

use std::collections::BTreeMap;

use loglens_core::ledger::{LedgerView, PartitionLedger};
use parking_lot::Mutex;

use crate::ownership::Partition;

/// Per-partition counters since the process started; see [`PartitionLedger`].
/// Updated by the processor, read through [`LedgerView`].
#[derive(Debug, Default)]
pub struct Ledger {
    partitions: Mutex<BTreeMap<(String, i32), PartitionLedger>>,
}

impl Ledger {
    /// Updates one partition's counters, creating them when first seen.
    fn update<T>(
        &self,
        topic: &str,
        partition: i32,
        f: impl FnOnce(&mut PartitionLedger) -> T,
    ) -> T {
        let mut map = self.partitions.lock();
        let entry = map.entry((topic.to_owned(), partition)).or_insert_with(|| PartitionLedger {
            topic: topic.to_owned(),
            partition,
            committed_offset: -1,
            high_watermark: -1,
            ..PartitionLedger::default()
        });
        f(entry)
    }

    /// One message read.
    pub(crate) fn received(&self, topic: &str, partition: i32) {
        self.update(topic, partition, |l| l.received += 1);
    }

    /// `n` records durably indexed.
    pub(crate) fn indexed(&self, topic: &str, partition: i32, n: u64) {
        self.update(topic, partition, |l| l.indexed += n);
    }

    /// One message delivered to the dead-letter topic.
    pub(crate) fn dead_lettered(&self, topic: &str, partition: i32) {
        self.update(topic, partition, |l| l.dead_lettered += 1);
    }

    /// The group committed `next_offset` (never moves back); returns the lag.
    pub(crate) fn committed(&self, topic: &str, partition: i32, next_offset: i64) -> i64 {
        self.update(topic, partition, |l| {
            l.committed_offset = l.committed_offset.max(next_offset);
            l.lag()
        })
    }

    /// The partition's end offset was `high`; returns the lag.
    pub(crate) fn high_watermark(&self, topic: &str, partition: i32, high: i64) -> i64 {
        self.update(topic, partition, |l| {
            l.high_watermark = high;
            l.lag()
        })
    }

    /// Exactly `assignment` is ours now.
    pub(crate) fn assigned(&self, assignment: &[Partition]) {
        for p in assignment {
            self.update(&p.topic, p.partition, |_| {});
        }
        for (key, entry) in self.partitions.lock().iter_mut() {
            entry.assigned = assignment.iter().any(|p| p.is(&key.0, key.1));
        }
    }

    /// `revoked` are no longer ours.
    pub(crate) fn revoked(&self, revoked: &[Partition]) {
        for (key, entry) in self.partitions.lock().iter_mut() {
            if revoked.iter().any(|p| p.is(&key.0, key.1)) {
                entry.assigned = false;
            }
        }
    }
}

impl LedgerView for Ledger {
    fn snapshot(&self) -> Vec<PartitionLedger> {
        self.partitions.lock().values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_tracks_assignment() {
        let l = Ledger::default();
        l.received("t", 1);
        l.received("t", 1);
        l.assigned(&[Partition::new("t", 0)]);
        let s = l.snapshot();
        assert_eq!(s.len(), 2);
        assert!(s[0].assigned && !s[1].assigned);
        assert_eq!((s[1].received, s[1].committed_offset), (2, -1));
        l.assigned(&[Partition::new("t", 0), Partition::new("t", 1)]);
        l.revoked(&[Partition::new("t", 0)]);
        let s = l.snapshot();
        assert!(!s[0].assigned && s[1].assigned);
    }

    #[test]
    fn counts_and_lag() {
        let l = Ledger::default();
        l.indexed("t", 0, 3);
        l.dead_lettered("t", 0);
        assert_eq!(l.high_watermark("t", 0, 10), 10, "nothing committed yet");
        assert_eq!(l.committed("t", 0, 4), 6);
        assert_eq!(
            l.committed("t", 0, 2),
            6,
            "a late answer to an older commit moves nothing back"
        );
        let s = &l.snapshot()[0];
        assert_eq!(
            (s.indexed, s.dead_lettered, s.committed_offset, s.high_watermark),
            (3, 1, 4, 10)
        );
    }
}
