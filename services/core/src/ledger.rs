//! The pipeline ledger: what the processor received, indexed and
//! dead-lettered per partition (and per tenant), and what is still pending,
//! so a user can see that nothing vanished.

use serde::{Deserialize, Serialize};

/// Counters of one source partition, since the process started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionLedger {
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// Whether this process currently owns the partition.
    pub assigned: bool,
    /// Records read (each record of a message of several counts; a message
    /// re-read after a crash counts again).
    pub received: u64,
    /// Records durably indexed.
    pub indexed: u64,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Next offset the group will read from; -1 before the first commit.
    pub committed_offset: i64,
    /// The partition's end offset when last asked; -1 when unknown.
    pub high_watermark: i64,
}

impl PartitionLedger {
    /// Messages (offsets, not records) not yet processed and committed
    /// (consumer lag); 0 when unknown.
    pub fn lag(&self) -> i64 {
        if self.high_watermark < 0 {
            return 0;
        }
        (self.high_watermark - self.committed_offset.max(0)).max(0)
    }
}

/// Counters of one tenant's records on the Kafka path, since the process
/// started. A message whose tenant header is not a valid tenant name belongs
/// to no tenant: it is counted only by its partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantLedger {
    /// The tenant (see [`crate::tenant`]).
    pub tenant: String,
    /// Records of the tenant read (a message re-read after a crash counts again).
    pub received: u64,
    /// Records of the tenant durably indexed.
    pub indexed: u64,
    /// Records of the tenant sent to the dead-letter topic.
    pub dead_lettered: u64,
}

/// Something that can show the ledger (the processor).
pub trait LedgerView: Send + Sync + 'static {
    /// The current counters, by partition.
    fn snapshot(&self) -> Vec<PartitionLedger>;

    /// The current counters, by tenant, sorted by tenant; empty when the
    /// view does not count per tenant.
    fn tenants(&self) -> Vec<TenantLedger> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_end_minus_committed() {
        let p = PartitionLedger { committed_offset: 40, high_watermark: 100, ..Default::default() };
        assert_eq!(p.lag(), 60);
        let p = PartitionLedger { committed_offset: -1, high_watermark: 100, ..Default::default() };
        assert_eq!(p.lag(), 100);
        let p = PartitionLedger { committed_offset: 5, high_watermark: -1, ..Default::default() };
        assert_eq!(p.lag(), 0);
    }
}
