//! The committer thread: commits the offsets the worker asks for, so a slow
//! or timed-out commit holds up neither fetching nor indexing (requests that
//! pile up meanwhile go out as one commit).
//!
//! Each commit is synchronous and runs under the [`Handoff::gate`], from the
//! ownership check until the broker's answer; a revocation forgets its
//! partitions only under that gate. (rdkafka 0.39 never reports the answer
//! to an asynchronous manual commit, fede1024/rust-rdkafka#856, and the
//! ledger shows only answered commits.)

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Instant;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{debug, warn};

use crate::backoff;
use crate::consumer::Context;
use crate::handoff::Handoff;
use crate::ledger::Ledger;
use crate::metrics::{self, Metrics};
use crate::offsets::{self, Mark};

/// Tries of a failed commit once the worker has ended.
const FINAL_ATTEMPTS: u32 = 3;

/// The committer and what it needs.
pub(crate) struct Committer {
    /// The consumer, shared with the poll thread (librdkafka's commit is
    /// thread-safe).
    pub(crate) consumer: Arc<BaseConsumer<Context>>,
    /// Offsets to commit, from the worker.
    pub(crate) requests: Receiver<Vec<Mark>>,
    /// State shared with the poll thread and the worker.
    pub(crate) handoff: Arc<Handoff>,
    /// Per-partition counters.
    pub(crate) ledger: Arc<Ledger>,
    /// Metric handles.
    pub(crate) metrics: Metrics,
}

impl Committer {
    /// Commits until the worker has ended and every request is done. A
    /// failed commit is tried again (with backoff, merged with any newer
    /// request) so that offsets reach the broker once it answers again, even
    /// when no more records arrive; at the end a failed commit gets
    /// [`FINAL_ATTEMPTS`] more tries, then re-delivery (which upserts) is
    /// left to the next owner.
    pub(crate) fn run(self) {
        let mut failed: Vec<Mark> = Vec::new();
        let mut delays = backoff::backoff();
        let mut final_attempts = 0;
        loop {
            let first = if failed.is_empty() {
                match self.requests.recv() {
                    Ok(m) => Some(m),
                    Err(_) => break,
                }
            } else {
                let wait = delays.next().unwrap_or(backoff::MAX);
                match self.requests.recv_timeout(wait) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => {
                        final_attempts += 1;
                        if final_attempts > FINAL_ATTEMPTS {
                            warn!(
                                "offset commit still failing at shutdown; the next owner re-reads those records"
                            );
                            break;
                        }
                        None
                    }
                }
            };
            let mut marks = std::mem::take(&mut failed);
            let mut requests = 0;
            if let Some(first) = first {
                marks.extend(first);
                requests += 1;
            }
            while let Ok(more) = self.requests.try_recv() {
                marks.extend(more);
                requests += 1;
            }
            let marks = offsets::merge(marks);
            if self.commit(marks.clone()) {
                delays = backoff::backoff();
            } else {
                failed = marks;
            }
            if requests > 0 {
                self.handoff.commits_done(requests);
            }
        }
        debug!("processor committer done");
    }

    /// Commits the marks of partitions still ours under the assignment they
    /// were read under; false when the broker refused or did not answer (the
    /// caller tries again; until then a crash only means re-delivery, which
    /// upserts).
    fn commit(&self, marks: Vec<Mark>) -> bool {
        let _gate = self.handoff.gate.lock();
        let marks = offsets::committable(marks, &self.handoff.ownership.lock());
        if marks.is_empty() {
            return true;
        }
        let mut tpl = TopicPartitionList::new();
        for k in &marks {
            if let Err(e) =
                tpl.add_partition_offset(&k.topic, k.partition, Offset::Offset(k.next_offset))
            {
                warn!(partition = k.partition, offset = k.next_offset, error = %e, "building the commit");
            }
        }
        let started = Instant::now();
        let committed = self.consumer.commit(&tpl, CommitMode::Sync);
        self.metrics.commit.record(started.elapsed().as_secs_f64());
        match committed {
            Ok(()) => {
                for k in &marks {
                    let lag = self.ledger.committed(&k.topic, k.partition, k.next_offset);
                    metrics::lag(&k.topic, k.partition, lag);
                }
                true
            }
            Err(e) => {
                warn!(error = %e, "offset commit failed; trying again");
                false
            }
        }
    }
}
