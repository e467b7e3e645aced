//! What the poll thread, the worker and the committer share besides the
//! channels between them (closed batches to the worker, offsets to commit
//! to the committer).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::Thread;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::ownership::Ownership;

/// Shared state of the poll thread, the worker and the committer.
#[derive(Default)]
pub(crate) struct Handoff {
    /// The assignment and the worker's batch in hand.
    pub(crate) ownership: Mutex<Ownership>,
    /// Held by the committer from its ownership check until its commit is
    /// answered, and by a revocation while it forgets the partitions.
    pub(crate) gate: Mutex<()>,
    /// Commit requests the worker has sent.
    commits_asked: AtomicU64,
    /// Commit requests the committer has finished (committed or skipped).
    commits_done: AtomicU64,
    /// The worker is retrying (the store or the dead-letter topic fails):
    /// the poll thread pauses fetching and keeps polling.
    stalled: AtomicBool,
    /// Wakes the worker out of a retry delay when partitions are revoked.
    revoked: Notify,
    /// The poll thread, woken when the worker takes a batch or its state
    /// changes.
    poller: OnceLock<Thread>,
}

impl Handoff {
    /// Called once by the poll thread.
    pub(crate) fn set_poller(&self) {
        let _ = self.poller.set(std::thread::current());
    }

    /// Wakes the poll thread if it is waiting for the worker.
    pub(crate) fn wake_poller(&self) {
        if let Some(t) = self.poller.get() {
            t.unpark();
        }
    }

    /// The worker is about to send a commit request.
    pub(crate) fn commit_asked(&self) {
        self.commits_asked.fetch_add(1, Ordering::SeqCst);
    }

    /// The committer has finished `n` requests.
    pub(crate) fn commits_done(&self, n: u64) {
        self.commits_done.fetch_add(n, Ordering::SeqCst);
    }

    /// Commit requests sent so far.
    pub(crate) fn asked(&self) -> u64 {
        self.commits_asked.load(Ordering::SeqCst)
    }

    /// Commit requests finished so far.
    pub(crate) fn done(&self) -> u64 {
        self.commits_done.load(Ordering::SeqCst)
    }

    /// Whether the worker is retrying.
    pub(crate) fn stalled(&self) -> bool {
        self.stalled.load(Ordering::SeqCst)
    }

    /// The worker starts or stops retrying.
    pub(crate) fn set_stalled(&self, stalled: bool) {
        if self.stalled.swap(stalled, Ordering::SeqCst) != stalled {
            self.wake_poller();
        }
    }

    /// Partitions are being revoked: a worker waiting to retry gives theirs
    /// up now rather than after its delay.
    pub(crate) fn notify_revoked(&self) {
        // One stored permit: a worker not yet waiting does not miss it.
        self.revoked.notify_one();
    }

    /// Waits `delay`, or less when partitions are revoked meanwhile.
    pub(crate) async fn retry_delay(&self, delay: Duration) {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = self.revoked.notified() => {}
        }
    }
}
