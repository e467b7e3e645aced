//! The ingest rate limit per tenant: a token bucket per tenant that the key
//! file gives an `ingest_rate`, read from the [`Authenticator`]'s current
//! file at every charge, so a reload changes limits without a restart.
//!
//! The bucket holds up to `ingest_burst` records and refills at
//! `ingest_rate` records per second. A batch is admitted whenever the
//! bucket is not in debt (more than zero records left), even a batch larger
//! than what is left: it then drives the bucket negative, and every batch
//! is refused until the refill brings it above zero again. So one batch
//! bigger than the burst passes (and is paid for afterwards) instead of
//! being refused forever.
//!
//! Not `governor`: its `check_n` refuses a batch larger than the burst
//! every time, and it has no notion of debt, which is the rule above.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::Authenticator;

/// Counter: ingest requests refused by a tenant's `ingest_rate`, by
/// `tenant`. Tenants are only those the key file names, so the label's
/// values are bounded.
pub const INGEST_LIMITED: &str = "loglens_tenant_ingest_limited_total";

/// Tokens are counted in billionths of a record, so refilling
/// `rate` records per second for `n` nanoseconds adds exactly `n * rate`.
const NANO: i128 = 1_000_000_000;

/// One tenant's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Records left, in billionths; negative is debt.
    tokens: i128,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl Bucket {
    /// A full bucket of `burst` records.
    fn full(burst: u64, at: Instant) -> Bucket {
        Bucket { tokens: i128::from(burst) * NANO, at }
    }

    /// Refills for the time since the last update at `rate` records per
    /// second, up to `burst` records. A `now` earlier than the last update
    /// (a caller that read the clock before another) adds nothing.
    fn refill(&mut self, rate: u64, burst: u64, now: Instant) {
        let elapsed =
            i128::try_from(now.saturating_duration_since(self.at).as_nanos()).unwrap_or(i128::MAX);
        let cap = i128::from(burst) * NANO;
        self.tokens = self.tokens.saturating_add(elapsed.saturating_mul(i128::from(rate))).min(cap);
        self.at = self.at.max(now);
    }

    /// Charges `records` when not in debt, else says how long until the
    /// bucket holds more than zero records at `rate`.
    fn charge(&mut self, records: u64, rate: u64) -> Result<(), Duration> {
        if self.tokens > 0 {
            self.tokens -= i128::from(records) * NANO;
            return Ok(());
        }
        // Smallest whole number of nanoseconds after which tokens > 0.
        let nanos = (-self.tokens) / i128::from(rate) + 1;
        Err(Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)))
    }
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<String, Bucket>,
    /// The [`Authenticator::generation`] the buckets were last pruned at.
    generation: u64,
}

/// Limits ingest per tenant by the key file's `ingest_rate` and
/// `ingest_burst`; see the [module](self) for the rule. Tenants the file
/// gives no `ingest_rate` are never limited, and only they hold a bucket,
/// so memory is bounded by the file whatever tenants requests name.
#[derive(Debug)]
pub struct IngestLimiter {
    auth: Arc<Authenticator>,
    state: Mutex<State>,
}

impl IngestLimiter {
    /// A limiter reading its limits from `auth`'s current key file.
    pub fn new(auth: Arc<Authenticator>) -> IngestLimiter {
        IngestLimiter { auth, state: Mutex::new(State::default()) }
    }

    /// Charges `records` to `tenant` now: `Err` holds how long to wait
    /// before any batch of `tenant` can be admitted (exact; rounding up to
    /// whole seconds for `Retry-After` is the caller's business). Refusals
    /// are counted in [`INGEST_LIMITED`].
    pub fn charge(&self, tenant: &str, records: u64) -> Result<(), Duration> {
        self.charge_at(tenant, records, Instant::now())
    }

    /// [`IngestLimiter::charge`] at `now`, a reading of the monotonic clock.
    pub fn charge_at(&self, tenant: &str, records: u64, now: Instant) -> Result<(), Duration> {
        let limits = self.auth.tenant_limits(tenant);
        let (Some(rate), Some(burst)) =
            (limits.and_then(|l| l.ingest_rate), limits.and_then(|l| l.burst()))
        else {
            return Ok(());
        };
        if records == 0 {
            return Ok(());
        }
        let result = {
            let mut state = self.state.lock();
            self.prune(&mut state);
            let bucket =
                state.buckets.entry(tenant.to_owned()).or_insert_with(|| Bucket::full(burst, now));
            // The rate and burst in force now apply to the bucket as it is:
            // a reload changes them without losing the debt.
            bucket.refill(rate, burst, now);
            bucket.charge(records, rate)
        };
        if result.is_err() {
            metrics::counter!(INGEST_LIMITED, "tenant" => tenant.to_owned()).increment(1);
        }
        result
    }

    /// Tenants holding a bucket now.
    pub fn tracked(&self) -> usize {
        let mut state = self.state.lock();
        self.prune(&mut state);
        state.buckets.len()
    }

    /// After a reload, drops the buckets of tenants that lost their rate.
    fn prune(&self, state: &mut State) {
        let generation = self.auth.generation();
        if state.generation != generation {
            state.generation = generation;
            state
                .buckets
                .retain(|t, _| self.auth.tenant_limits(t).and_then(|l| l.ingest_rate).is_some());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::{KeyFile, Limits, TenantLimits};

    fn write(path: &Path, tenants: &[(&str, TenantLimits)]) {
        let file = KeyFile {
            keys: Vec::new(),
            tenants: tenants.iter().map(|(t, l)| ((*t).to_owned(), *l)).collect(),
        };
        file.save(path).unwrap();
    }

    fn rate(rate: u64, burst: Option<u64>) -> TenantLimits {
        TenantLimits { ingest_rate: Some(rate), ingest_burst: burst, retention_days: None }
    }

    fn limiter(tenants: &[(&str, TenantLimits)]) -> (tempfile::TempDir, PathBuf, IngestLimiter) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        write(&path, tenants);
        let auth = Authenticator::load(&path, Limits::default()).unwrap();
        (dir, path, IngestLimiter::new(auth))
    }

    const MS: Duration = Duration::from_millis(1);
    const NS: Duration = Duration::from_nanos(1);

    #[test]
    fn a_steady_rate_within_the_limit_is_always_admitted() {
        let (_dir, _, l) = limiter(&[("payments", rate(100, Some(10)))]);
        let t0 = Instant::now();
        // 10 records every 100 ms is exactly 100/s, for a minute.
        for i in 0..600u32 {
            assert_eq!(l.charge_at("payments", 10, t0 + 100 * MS * i), Ok(()), "batch {i}");
        }
    }

    #[test]
    fn a_burst_is_admitted_then_refused_until_the_bucket_refills() {
        let (_dir, _, l) = limiter(&[("payments", rate(10, Some(20)))]);
        let t0 = Instant::now();
        assert_eq!(l.charge_at("payments", 15, t0), Ok(()));
        assert_eq!(l.charge_at("payments", 5, t0), Ok(()));
        // Empty (not in debt, but nothing left): refused until a refill.
        assert_eq!(l.charge_at("payments", 1, t0), Err(NS));
        // 250 ms later 2.5 records came back.
        assert_eq!(l.charge_at("payments", 2, t0 + 250 * MS), Ok(()));
        assert_eq!(l.charge_at("payments", 1, t0 + 250 * MS), Ok(()));
        // 0.5 records of debt: 50 ms at 10/s, then one nanosecond more.
        assert_eq!(l.charge_at("payments", 1, t0 + 250 * MS), Err(50 * MS + NS));
        assert_eq!(l.charge_at("payments", 1, t0 + 300 * MS), Err(NS));
        assert_eq!(l.charge_at("payments", 1, t0 + 300 * MS + NS), Ok(()));
        // Other tenants are not charged for it.
        assert_eq!(l.charge_at("other", 1_000_000, t0), Ok(()));
    }

    #[test]
    fn a_batch_bigger_than_the_burst_passes_once_then_is_paid_for() {
        let (_dir, _, l) = limiter(&[("payments", rate(10, Some(20)))]);
        let t0 = Instant::now();
        // 20 in the bucket, 50 sent: admitted, 30 records of debt.
        assert_eq!(l.charge_at("payments", 50, t0), Ok(()));
        assert_eq!(l.charge_at("payments", 1, t0), Err(Duration::from_secs(3) + NS));
        assert_eq!(
            l.charge_at("payments", 1, t0 + Duration::from_secs(1)),
            Err(Duration::from_secs(2) + NS)
        );
        // Out of debt: the same oversized batch passes again.
        assert_eq!(l.charge_at("payments", 50, t0 + Duration::from_secs(3) + NS), Ok(()));
        // A refused charge costs nothing: retrying often does not deepen the debt.
        for _ in 0..100 {
            assert!(l.charge_at("payments", 1000, t0 + Duration::from_secs(4)).is_err());
        }
        // 40 records of debt at 10/s.
        assert_eq!(
            l.charge_at("payments", 1, t0 + Duration::from_secs(4)),
            Err(Duration::from_secs(4) + NS)
        );
    }

    #[test]
    fn the_default_burst_is_the_rate_or_ten_thousand() {
        assert_eq!(rate(10, None).burst(), Some(10_000));
        assert_eq!(rate(50_000, None).burst(), Some(50_000));
        assert_eq!(rate(10, Some(5)).burst(), Some(5));
        assert_eq!(TenantLimits::default().burst(), None);
        let (_dir, _, l) = limiter(&[("payments", rate(10, None))]);
        let t0 = Instant::now();
        assert_eq!(l.charge_at("payments", 10_000, t0), Ok(()));
        assert_eq!(l.charge_at("payments", 1, t0), Err(NS));
    }

    #[test]
    fn tenants_without_a_rate_are_never_limited_and_hold_no_bucket() {
        let retention_only = TenantLimits { retention_days: Some(7), ..TenantLimits::default() };
        let (_dir, _, l) = limiter(&[("payments", rate(1, Some(1))), ("audit", retention_only)]);
        let t0 = Instant::now();
        for tenant in ["audit", "unlisted", "default"] {
            for _ in 0..10 {
                assert_eq!(l.charge_at(tenant, u64::MAX / 2, t0), Ok(()), "{tenant}");
            }
        }
        assert_eq!(l.tracked(), 0);
        assert_eq!(l.charge_at("payments", 1, t0), Ok(()));
        assert_eq!(l.tracked(), 1);
    }

    #[test]
    fn a_reload_changes_the_rate_of_the_existing_bucket_and_can_lift_it() {
        let (_dir, path, l) = limiter(&[("payments", rate(10, Some(10)))]);
        let t0 = Instant::now();
        assert_eq!(l.charge_at("payments", 20, t0), Ok(()));
        assert_eq!(l.charge_at("payments", 1, t0), Err(Duration::from_secs(1) + NS));

        // Ten times the rate: the same debt is repaid ten times sooner.
        write(&path, &[("payments", rate(100, Some(10)))]);
        assert!(l.auth.reload());
        assert_eq!(l.charge_at("payments", 1, t0), Err(100 * MS + NS));

        // No rate any more: unlimited, and the bucket is dropped.
        write(&path, &[]);
        assert!(l.auth.reload());
        assert_eq!(l.charge_at("payments", 1_000, t0), Ok(()));
        assert_eq!(l.tracked(), 0);
    }
}
