//! Load shedding for ingest: a byte budget for the requests a process holds
//! at once. A request takes its size from the budget before it is decoded
//! and gives it back when answered; one that does not fit right away is
//! refused with [`Error::ResourceExhausted`] (HTTP 429 / gRPC
//! `RESOURCE_EXHAUSTED`, retry after [`RETRY_AFTER_SECS`]) instead of
//! queueing, so memory stays bounded under overload.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::Error;

/// Default budget: 16 MiB of ingest requests in flight per process. A
/// request's body costs about six times its size in memory while it is
/// parsed, logged and indexed; 12 senders of 10,000-record batches (5 MB
/// each) into `standalone` peaked at 726 MB with 64 MiB (nothing was shed),
/// 562 MB with 24 MiB and 471 MB with 16 MiB, at the same accepted rate
/// when the senders honour `Retry-After` (issue 13; BENCHMARKS.md).
pub const DEFAULT_MAX_INFLIGHT_BYTES: usize = 16 * 1024 * 1024;
/// Seconds a refused sender is told to wait (`Retry-After`).
pub const RETRY_AFTER_SECS: u64 = 1;

/// Bytes of ingest requests in flight, up to a limit; shared by every
/// ingest door of a process.
#[derive(Debug)]
pub struct ByteBudget {
    limit: usize,
    used: AtomicUsize,
}

impl ByteBudget {
    /// A budget of `limit` bytes (at least 1).
    pub fn new(limit: usize) -> Arc<ByteBudget> {
        Arc::new(ByteBudget { limit: limit.max(1), used: AtomicUsize::new(0) })
    }

    /// The limit, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes taken now.
    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `bytes` if they fit now, without waiting. A request larger than
    /// the whole budget takes all of it, so it passes when nothing else is
    /// in flight. The error says how much is in flight, for the sender.
    pub fn try_take(self: &Arc<Self>, bytes: usize) -> Result<BudgetPermit, Error> {
        let want = bytes.clamp(1, self.limit);
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            if used + want > self.limit {
                return Err(Error::ResourceExhausted(format!(
                    "ingest is overloaded ({used} of {} bytes of requests in flight); \
                     retry after {RETRY_AFTER_SECS}s",
                    self.limit
                )));
            }
            match self.used.compare_exchange_weak(
                used,
                used + want,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(BudgetPermit { budget: self.clone(), bytes: want }),
                Err(now) => used = now,
            }
        }
    }
}

/// Bytes taken from a [`ByteBudget`], given back on drop.
#[derive(Debug)]
pub struct BudgetPermit {
    budget: Arc<ByteBudget>,
    bytes: usize,
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn takes_what_fits_refuses_the_rest_and_gives_back_on_drop() {
        let b = ByteBudget::new(100);
        let first = b.try_take(60).unwrap();
        let e = b.try_take(50).unwrap_err();
        assert_eq!(e.code(), ErrorCode::ResourceExhausted);
        assert!(e.to_string().contains("60 of 100 bytes"), "{e}");
        let second = b.try_take(40).unwrap();
        assert_eq!(b.in_use(), 100);
        drop(first);
        assert_eq!(b.in_use(), 40);
        drop(second);
        let whole = b.try_take(1_000).expect("a request over the limit passes alone");
        assert_eq!(b.in_use(), 100);
        assert!(b.try_take(1).is_err());
        drop(whole);
        assert_eq!(b.in_use(), 0);
    }
}
