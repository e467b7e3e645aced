//! The processor's per-partition and per-tenant counters, shown by
//! `GetLedger` and `GET /ledger`.

use std::collections::{BTreeMap, HashMap};

use loglens_core::ledger::{LedgerView, PartitionLedger, TenantLedger};
use parking_lot::Mutex;

use crate::ownership::Partition;

/// Per-partition and per-tenant counters since the process started; see
/// [`PartitionLedger`] and [`TenantLedger`]. Updated by the processor, read
/// through [`LedgerView`].
#[derive(Debug, Default)]
pub struct Ledger {
    partitions: Mutex<BTreeMap<(String, i32), PartitionLedger>>,
    /// Updated once per batch (see [`Ledger::count_tenants`]).
    tenants: Mutex<BTreeMap<String, TenantLedger>>,
}

/// Which counter of a [`TenantLedger`] to add to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TenantCount {
    /// Records read whose tenant is known.
    Received,
    /// Records durably indexed.
    Indexed,
    /// Records delivered to the dead-letter topic.
    DeadLettered,
}

impl Ledger {
    /// Adds one to `count` of the tenant of each item of `tenants` (one per
    /// message or record of a batch), taking the lock once.
    pub(crate) fn count_tenants<'a>(
        &self,
        count: TenantCount,
        tenants: impl IntoIterator<Item = &'a str>,
    ) {
        let mut sums: HashMap<&str, u64> = HashMap::new();
        for t in tenants {
            *sums.entry(t).or_default() += 1;
        }
        if sums.is_empty() {
            return;
        }
        let mut map = self.tenants.lock();
        for (tenant, n) in sums {
            // Looked up by `&str` first: no allocation for a known tenant.
            if !map.contains_key(tenant) {
                let fresh = TenantLedger { tenant: tenant.to_owned(), ..TenantLedger::default() };
                map.insert(tenant.to_owned(), fresh);
            }
            let Some(entry) = map.get_mut(tenant) else { continue };
            let counter = match count {
                TenantCount::Received => &mut entry.received,
                TenantCount::Indexed => &mut entry.indexed,
                TenantCount::DeadLettered => &mut entry.dead_lettered,
            };
            *counter += n;
        }
    }

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

    /// `n` records of one message read.
    pub(crate) fn received(&self, topic: &str, partition: i32, n: u64) {
        self.update(topic, partition, |l| l.received += n);
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

    fn tenants(&self) -> Vec<TenantLedger> {
        self.tenants.lock().values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_tracks_assignment() {
        let l = Ledger::default();
        l.received("t", 1, 1);
        l.received("t", 1, 1);
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

    #[test]
    fn counts_per_tenant() {
        let l = Ledger::default();
        assert!(l.tenants().is_empty());
        l.count_tenants(TenantCount::Received, ["b", "a", "b", "default"]);
        l.count_tenants(TenantCount::Indexed, ["b", "b"]);
        l.count_tenants(TenantCount::DeadLettered, ["a"]);
        l.count_tenants(TenantCount::Received, ["a"]);
        l.count_tenants(TenantCount::Indexed, std::iter::empty());
        let tenants = l.tenants();
        let t: Vec<(&str, u64, u64, u64)> = tenants
            .iter()
            .map(|t| (t.tenant.as_str(), t.received, t.indexed, t.dead_lettered))
            .collect();
        assert_eq!(t, [("a", 2, 0, 1), ("b", 2, 2, 0), ("default", 1, 0, 0)]);
        assert!(l.snapshot().is_empty(), "partitions are counted apart");
    }
}
