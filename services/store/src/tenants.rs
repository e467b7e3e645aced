//! Per-tenant retention: the days each tenant's records are kept, where
//! they differ from the store-wide `retention_days`.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use tracing::warn;

/// Retention overrides by tenant, shared between whoever loads them (the
/// node, from its key file) and the store's retention passes, which read
/// them afresh each time. Clones share the same overrides.
///
/// A tenant with an override keeps whole UTC days for that many days (the
/// rule of [`crate::StoreOptions::retention_days`], with its own number);
/// every other tenant follows `retention_days`. An override of 0 days is
/// read as 1 (a pass never removes today or yesterday).
#[derive(Clone, Debug, Default)]
pub struct TenantRetention(Arc<RwLock<BTreeMap<String, u32>>>);

impl TenantRetention {
    /// Overrides from the start, e.g. for tests and one-off runs.
    pub fn new(days_by_tenant: BTreeMap<String, u32>) -> TenantRetention {
        let r = TenantRetention::default();
        r.set(days_by_tenant);
        r
    }

    /// Replaces every override; the next retention pass uses these.
    pub fn set(&self, mut days_by_tenant: BTreeMap<String, u32>) {
        for (tenant, days) in &mut days_by_tenant {
            if *days == 0 {
                warn!(%tenant, "tenant retention of 0 days is read as 1 day");
                *days = 1;
            }
        }
        *self.0.write() = days_by_tenant;
    }

    /// The overrides as they stand now.
    pub fn get(&self) -> BTreeMap<String, u32> {
        self.0.read().clone()
    }
}

/// What one retention pass applies: the store-wide window and the tenants'
/// own windows, read once at the start of the pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Windows {
    /// Days kept for tenants without an override; `None`: forever.
    pub global: Option<u32>,
    /// Days kept per tenant with an override.
    pub tenants: BTreeMap<String, u32>,
}

impl Windows {
    /// The windows in force now.
    pub fn now(global: Option<u32>, tenants: &TenantRetention) -> Windows {
        Windows { global, tenants: tenants.get() }
    }

    /// Whether a pass has anything to apply.
    pub fn any(&self) -> bool {
        self.global.is_some() || !self.tenants.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_overrides_and_zero_reads_as_one_day() {
        let r = TenantRetention::default();
        let seen_by_store = r.clone();
        assert!(seen_by_store.get().is_empty());
        r.set(BTreeMap::from([("a".to_owned(), 3), ("b".to_owned(), 0)]));
        assert_eq!(seen_by_store.get(), BTreeMap::from([("a".to_owned(), 3), ("b".to_owned(), 1)]));
        assert!(Windows::now(None, &seen_by_store).any());
        assert!(!Windows::now(None, &TenantRetention::default()).any());
        assert!(Windows::now(Some(7), &TenantRetention::default()).any());
    }
}
