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
use std::sync::mpsc::Receiver;
use std::time::Instant;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{debug, warn};

use crate::consumer::Context;
use crate::handoff::Handoff;
use crate::ledger::Ledger;
use crate::metrics::{self, Metrics};
use crate::offsets::{self, Mark};

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
    /// Commits until the worker has ended and every request is done.
    pub(crate) fn run(self) {
        while let Ok(first) = self.requests.recv() {
            let mut marks = first;
            let mut requests = 1;
            while let Ok(more) = self.requests.try_recv() {
                marks.extend(more);
                requests += 1;
            }
            self.commit(offsets::merge(marks));
            self.handoff.commits_done(requests);
        }
        debug!("processor committer done");
    }

    /// Commits the marks of partitions still ours under the assignment they
    /// were read under. A failed commit only means re-delivery, which upserts.
    fn commit(&self, marks: Vec<Mark>) {
        let _gate = self.handoff.gate.lock();
        let marks = offsets::committable(marks, &self.handoff.ownership.lock());
        if marks.is_empty() {
            return;
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
            }
            Err(e) => {
                warn!(error = %e, "offset commit failed; the batch will be re-delivered and upserted")
            }
        }
    }
}
