//! The two background threads: the WAL writer (group commit) and the
//! indexer (Tantivy writes, commits, reader reloads, tail broadcast), and
//! the [`Handle`] a store holds them by. The hybrid store runs its own
//! indexer behind the same WAL writer and handle.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use loglens_core::LogRecord;
use parking_lot::Mutex;
use tantivy::index::SegmentMeta;
use tantivy::{FutureResult, IndexReader, IndexWriter};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, error, info, warn};

use super::retention::{self, RetentionReport};
use super::schema::{Fields, id_key};
use super::seen::SeenIds;
use super::wal::{self, Wal};
use super::{backend, blocking};
use crate::shared::closed::ClosedFlag;
use crate::shared::refresh::RefreshClock;
use crate::shared::tail::{Publisher, Tail};
use crate::tenants::Windows;
use crate::{Committed, Error, Health, Result, TenantRetention};

/// Most records the WAL writer puts into one group (one fsync, one message
/// to the indexer). With the indexer queue this bounds how many
/// acknowledged records can wait to be indexed: at most a few tenths of a
/// second of indexing, so time-to-search stays within the refresh interval
/// when ingest offers more than indexing takes (issue 6, figure 5; 20,000
/// let it reach 4 s).
const MAX_GROUP_RECORDS: usize = 4_000;
/// Records replayed from the WAL between two commits, so that a crash
/// during a long replay does not start it over.
const REPLAY_CHECKPOINT_RECORDS: usize = 200_000;

/// State both threads and the store see.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    failure: Mutex<Option<String>>,
}

impl Shared {
    /// Records the first fatal failure of a background thread.
    pub fn fail(&self, what: String) {
        error!(failure = %what, "store background work stopped");
        self.failure.lock().get_or_insert(what);
    }

    /// The fatal failure, if any.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().clone()
    }

    /// The error for a caller whose request the pipeline dropped: the failure
    /// if there was one, else the store was closed.
    pub fn stopped(&self) -> Error {
        match self.failure() {
            Some(f) => Error::Backend(f),
            None => Error::Closed,
        }
    }
}

/// Answer to a caller waiting on the pipeline.
pub(crate) type Ack = oneshot::Sender<Result<()>>;

/// A background merge started by a retention pass.
pub(crate) type Merge = FutureResult<Option<SegmentMeta>>;

/// What a retention pass did, and the merges it left running.
pub(crate) struct RetentionDone {
    pub report: RetentionReport,
    pub merges: Vec<Merge>,
}

/// Answer to a retention request: `None` when no retention is set.
pub(crate) type RetentionAck = oneshot::Sender<Result<Option<RetentionDone>>>;

/// Requests to the WAL writer, handled in arrival order.
pub(crate) enum WalMsg {
    /// Make a batch durable, then acknowledge. `derived`: every record's id
    /// is its content's (`LogStore::index_normalized`).
    Append { records: Vec<LogRecord>, derived: bool, ack: Ack },
    /// Commit everything before this message and make it searchable.
    Flush { ack: Ack },
    /// Stop both threads, committing first unless simulating a crash.
    Stop { commit: bool, ack: Ack },
    /// Run a retention pass as if the clock read `now_ms`, after everything
    /// before this message.
    Retention { now_ms: i64, ack: RetentionAck },
    /// The index committed everything up to `committed`: drop the log it
    /// covers (the indexer's note after each commit).
    Trim { committed: u64 },
}

/// Requests to the indexer.
pub(crate) enum IndexMsg {
    /// `acked`: when the callers were told the batch is durable; its
    /// searchability deadline counts from then.
    Batch {
        first_seq: u64,
        records: Vec<LogRecord>,
        /// Per record, whether its id is its content's as given
        /// (`WalMsg::Append`); false where not known.
        derived: Vec<bool>,
        acked: Instant,
    },
    Flush(Ack),
    Stop {
        commit: bool,
        ack: Option<Ack>,
    },
    Retention {
        now_ms: i64,
        ack: RetentionAck,
    },
}

/// Sends a result to a waiter that may have gone away.
fn answer(ack: Ack, result: Result<()>) {
    let _ = ack.send(result);
}

/// Sends `result` to a waiter that may have gone away (a failure as its
/// message) and returns it, for the indexer to stop on a failure.
pub(crate) fn reply<T>(ack: oneshot::Sender<Result<T>>, result: Result<T>) -> Result<()> {
    match result {
        Ok(value) => {
            let _ = ack.send(Ok(value));
            Ok(())
        }
        Err(e) => {
            let _ = ack.send(Err(Error::Backend(e.to_string())));
            Err(e)
        }
    }
}

/// The end of an indexer thread that is not simulating a crash: the last
/// commit's `result` (a failure is recorded in `shared`), then the wait for
/// `writer`'s merges, which releases the index lock.
pub(crate) fn finish(result: Result<()>, shared: &Shared, writer: IndexWriter) -> Result<()> {
    if let Err(e) = &result {
        shared.fail(format!("final commit failed: {e}"));
    }
    let waited = writer.wait_merging_threads().map_err(backend);
    result.and(waited)
}

/// Starts a background thread; a panic in it (in Tantivy, say) leaves the
/// store reporting which thread failed.
pub(crate) fn spawn(
    name: &str,
    shared: &Arc<Shared>,
    f: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>> {
    let (shared, thread) = (Arc::clone(shared), name.to_owned());
    let guarded = move || {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
            shared.fail(format!("{thread} thread panicked"));
        }
    };
    std::thread::Builder::new().name(name.into()).spawn(guarded).map_err(Error::Io)
}

/// A store's hold on its pipeline: the WAL writer's queue, the state both
/// threads share, the threads, the tail and the closed flag. The Tantivy
/// store and the hybrid's engine each own one.
pub(crate) struct Handle {
    wal_tx: mpsc::Sender<WalMsg>,
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Closed once the indexer stopped, so subscribers see the end of the
    /// stream.
    tail: Tail,
    closed: ClosedFlag,
}

impl Handle {
    /// The handle of running `threads`, fed through `wal_tx`.
    pub fn new(
        wal_tx: mpsc::Sender<WalMsg>,
        shared: Arc<Shared>,
        threads: Vec<JoinHandle<()>>,
        tail: Tail,
    ) -> Handle {
        Handle { wal_tx, shared, threads: Mutex::new(threads), tail, closed: ClosedFlag::default() }
    }

    /// `Err(Error::Closed)` once the store is closed.
    pub fn check(&self) -> Result<()> {
        self.closed.check()
    }

    /// Batches as they become searchable.
    pub fn subscribe(&self) -> broadcast::Receiver<Committed> {
        self.tail.subscribe()
    }

    /// Sends a message down the pipeline and waits for its answer.
    pub async fn control(&self, msg: impl FnOnce(Ack) -> WalMsg) -> Result<()> {
        let (ack, done) = oneshot::channel();
        self.wal_tx.send(msg(ack)).await.map_err(|_| self.shared.stopped())?;
        done.await.unwrap_or_else(|_| Err(self.shared.stopped()))
    }

    /// Runs a retention pass as if the clock read `now_ms`, after every
    /// message sent before; `None` when no retention is set.
    pub async fn retention(&self, now_ms: i64) -> Result<Option<RetentionDone>> {
        self.check()?;
        let (ack, done) = oneshot::channel();
        self.wal_tx
            .send(WalMsg::Retention { now_ms, ack })
            .await
            .map_err(|_| self.shared.stopped())?;
        done.await.unwrap_or_else(|_| Err(self.shared.stopped()))
    }

    /// Closes the store and stops both threads, committing first unless
    /// simulating a crash (`commit` false), then closes the tail. Only the
    /// first call does it; later ones fail with `Error::Closed`.
    pub async fn stop(&self, commit: bool) -> Result<()> {
        self.closed.close()?;
        let result = self.control(|ack| WalMsg::Stop { commit, ack }).await;
        let threads = std::mem::take(&mut *self.threads.lock());
        let joined = blocking(move || {
            for t in threads {
                let _ = t.join();
            }
            Ok(())
        })
        .await;
        self.tail.close();
        result.and(joined)
    }

    /// Why the store cannot serve, if the pipeline tells: closed, failed,
    /// or a thread stopped.
    pub fn trouble(&self) -> Option<Health> {
        let unhealthy = |detail: String| Health { healthy: false, detail };
        if self.closed.is_set() {
            Some(ClosedFlag::health())
        } else if let Some(f) = self.shared.failure() {
            Some(unhealthy(f))
        } else if self.threads.lock().iter().any(JoinHandle::is_finished) {
            Some(unhealthy("store background threads stopped".into()))
        } else {
            None
        }
    }
}

/// The WAL writer thread: takes whatever `Append`s are queued, writes them
/// with one fsync, hands them to the indexer and only then acknowledges.
/// Blocking on the bounded indexer queue is the backpressure that slows
/// `index()` when indexing falls behind.
pub(crate) fn run_wal(
    mut wal: Wal,
    mut rx: mpsc::Receiver<WalMsg>,
    indexer: SyncSender<IndexMsg>,
    shared: Arc<Shared>,
) {
    let mut next = None;
    loop {
        let Some(msg) = next.take().or_else(|| rx.blocking_recv()) else { break };
        match msg {
            WalMsg::Append { records, derived, ack } => {
                let mut count = records.len();
                let mut group = vec![(records, derived, ack)];
                while count < MAX_GROUP_RECORDS {
                    match rx.try_recv() {
                        Ok(WalMsg::Append { records, derived, ack }) => {
                            count += records.len();
                            group.push((records, derived, ack));
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                write_group(&mut wal, group, count, &indexer, &shared);
            }
            WalMsg::Flush { ack } => {
                if let Err(std::sync::mpsc::SendError(IndexMsg::Flush(ack))) =
                    indexer.send(IndexMsg::Flush(ack))
                {
                    answer(ack, Err(shared.stopped()));
                }
            }
            WalMsg::Retention { now_ms, ack } => {
                if let Err(std::sync::mpsc::SendError(IndexMsg::Retention { ack, .. })) =
                    indexer.send(IndexMsg::Retention { now_ms, ack })
                {
                    let _ = ack.send(Err(shared.stopped()));
                }
            }
            WalMsg::Trim { committed } => match wal.trim(committed) {
                Ok(rolled) => debug!(committed, rolled, "write-ahead log trimmed"),
                Err(e) => warn!(error = %e, "cannot trim the write-ahead log"),
            },
            WalMsg::Stop { commit, ack } => {
                if let Err(std::sync::mpsc::SendError(IndexMsg::Stop { ack: Some(ack), .. })) =
                    indexer.send(IndexMsg::Stop { commit, ack: Some(ack) })
                {
                    answer(ack, Err(shared.stopped()));
                }
                return;
            }
        }
    }
    // The store was dropped without `close`: let the indexer commit and stop.
    let _ = indexer.send(IndexMsg::Stop { commit: true, ack: None });
}

fn write_group(
    wal: &mut Wal,
    group: Vec<(Vec<LogRecord>, bool, Ack)>,
    count: usize,
    indexer: &SyncSender<IndexMsg>,
    shared: &Shared,
) {
    if let Some(f) = shared.failure() {
        for (_, _, ack) in group {
            answer(ack, Err(Error::Backend(f.clone())));
        }
        return;
    }
    let first_seq = match wal.append(group.iter().map(|(r, _, _)| r.as_slice())) {
        Ok(seq) => seq,
        Err(e) => {
            if wal.is_poisoned() {
                shared.fail(format!("write-ahead log failed: {e}"));
            }
            for (_, _, ack) in group {
                answer(ack, Err(Error::Io(std::io::Error::new(e.kind(), e.to_string()))));
            }
            return;
        }
    };
    let mut records = Vec::with_capacity(count);
    let mut derived = Vec::with_capacity(count);
    let mut acks = Vec::with_capacity(group.len());
    for (r, d, ack) in group {
        derived.resize(derived.len() + r.len(), d);
        records.extend(r);
        acks.push(ack);
    }
    // Durable now. Acknowledge only once queued for the indexer, so a
    // `Flush` sent after this `index()` returned is queued behind it.
    let queued = indexer
        .send(IndexMsg::Batch { first_seq, records, derived, acked: Instant::now() })
        .is_ok();
    for ack in acks {
        answer(ack, if queued { Ok(()) } else { Err(shared.stopped()) });
    }
}

/// Creates the bounded queue from the WAL writer to the indexer.
pub(crate) fn index_queue(capacity: usize) -> (SyncSender<IndexMsg>, Receiver<IndexMsg>) {
    std::sync::mpsc::sync_channel(capacity)
}

/// Owns the `IndexWriter`: adds batches, commits with the last applied
/// sequence number as payload, reloads the reader, broadcasts what became
/// searchable, then drops WAL segments the commit covers.
pub(crate) struct Indexer {
    writer: IndexWriter,
    reader: IndexReader,
    fields: Fields,
    env: IndexerEnv,
    /// Ids that may be in the index: only those need an upsert's delete.
    seen: SeenIds,
    committed_seq: u64,
    /// Last sequence number added but not yet committed.
    uncommitted: Option<u64>,
    /// Records added since the last commit.
    uncommitted_records: usize,
    /// When the next commit is due.
    clock: RefreshClock,
    /// Added records for the next tail broadcast, kept only while someone
    /// subscribes.
    pending: Vec<LogRecord>,
    /// When the next periodic retention pass is due (hourly even with
    /// retention off: tenant overrides may be set meanwhile).
    next_retention: Option<Instant>,
}

/// What the indexer works with besides the index itself.
pub(crate) struct IndexerEnv {
    /// The WAL directory, to delete covered segments.
    pub wal_dir: PathBuf,
    /// Longest time between an add and its commit.
    pub interval: Duration,
    /// The interval used while the load is light (see
    /// [`adapt_interval`](crate::shared::refresh::adapt_interval));
    /// zero or at least `interval` turns adaptation off.
    pub min_interval: Duration,
    /// Where committed batches go.
    pub tail: Publisher,
    /// Where a fatal failure is recorded.
    pub shared: Arc<Shared>,
    /// Whole UTC days to keep; `None` keeps everything.
    pub retention_days: Option<u32>,
    /// Per-tenant overrides of `retention_days`, read at each pass.
    pub tenant_retention: TenantRetention,
    /// The WAL writer's queue, for [`WalMsg::Trim`] after a commit. Weak,
    /// so the writer still stops once the store drops its sender.
    pub wal: mpsc::WeakSender<WalMsg>,
}

impl Indexer {
    /// An indexer whose index is committed up to `committed_seq`.
    pub fn new(
        writer: IndexWriter,
        reader: IndexReader,
        fields: Fields,
        committed_seq: u64,
        seen: SeenIds,
        env: IndexerEnv,
    ) -> Indexer {
        let next_retention = Some(Instant::now() + retention::PASS_EVERY);
        Indexer {
            clock: RefreshClock::new(env.min_interval, env.interval),
            writer,
            reader,
            fields,
            env,
            seen,
            committed_seq,
            uncommitted: None,
            uncommitted_records: 0,
            pending: Vec::new(),
            next_retention,
        }
    }

    /// The last sequence number in the index's commit.
    pub fn committed_seq(&self) -> u64 {
        self.committed_seq
    }

    /// Upserts `records`, numbered from `first_seq`, skipping those with
    /// sequence numbers at most `committed_seq` (already in the index).
    /// `acked`: when they were acknowledged, which starts the clock of
    /// their commit deadline.
    pub fn add(
        &mut self,
        first_seq: u64,
        mut records: Vec<LogRecord>,
        acked: Instant,
    ) -> Result<()> {
        let skip = self
            .committed_seq
            .saturating_add(1)
            .saturating_sub(first_seq)
            .min(records.len() as u64);
        if skip == records.len() as u64 {
            return Ok(());
        }
        let first_seq = first_seq + skip;
        records.drain(..skip as usize);
        // Upsert: a delete removes the documents added before it, so a
        // later record with the same id (in this batch or another) wins.
        // Ids never seen cannot be in the index: no delete needed.
        for (i, r) in records.iter().enumerate() {
            let key = id_key(&r.id);
            let doc = self.fields.document(r, first_seq + i as u64, key);
            if self.seen.may_contain(key.low) {
                self.writer.delete_query(self.fields.id_query(key)).map_err(backend)?;
            } else {
                self.seen.insert(key.low);
            }
            self.writer.add_document(doc).map_err(backend)?;
        }
        self.uncommitted = Some(first_seq + records.len() as u64 - 1);
        self.clock.waiting(acked);
        self.uncommitted_records += records.len();
        if self.env.tail.has_subscribers() {
            self.pending.extend(records);
        }
        Ok(())
    }

    /// Commits what was added, reloads the reader, broadcasts the new
    /// records and deletes the WAL segments now covered. Does nothing when
    /// nothing was added.
    pub fn commit(&mut self) -> Result<()> {
        self.commit_inner(true, false)
    }

    /// During replay: commits once many records wait, leaving the WAL
    /// alone (replay is still reading it).
    pub fn replay_checkpoint(&mut self) -> Result<()> {
        if self.uncommitted_records >= REPLAY_CHECKPOINT_RECORDS {
            self.commit_inner(false, false)
        } else {
            Ok(())
        }
    }

    /// Commits; with `force` also when nothing was added (deletes only).
    fn commit_inner(&mut self, trim_wal: bool, force: bool) -> Result<()> {
        let (started, span) = self.clock.start();
        let seq = match self.uncommitted.take() {
            Some(seq) => seq,
            None if force => self.committed_seq,
            None => return Ok(()),
        };
        let records = std::mem::take(&mut self.uncommitted_records);
        let mut prepared = self.writer.prepare_commit().map_err(backend)?;
        let prepared_at = started.elapsed();
        prepared.set_payload(&seq.to_string());
        prepared.commit().map_err(backend)?;
        let committed_at = started.elapsed();
        self.reader.reload().map_err(backend)?;
        let cost = self.clock.done(started, span, records);
        tracing::debug!(
            records,
            seq,
            ?cost,
            prepare = ?prepared_at,
            commit = ?(committed_at - prepared_at),
            reload = ?(cost - committed_at),
            ?span,
            "committed"
        );
        self.committed_seq = seq;
        self.env.tail.publish(std::mem::take(&mut self.pending));
        if !trim_wal {
            return Ok(());
        }
        if let Err(e) = wal::remove_covered(&self.env.wal_dir, seq) {
            warn!(error = %e, "cannot delete committed write-ahead log segments");
        }
        // The segment being written goes too once nothing in it awaits a
        // commit; that is the WAL writer's to do. A full queue only delays
        // it to the next commit.
        if let Some(tx) = self.env.wal.upgrade() {
            let _ = tx.try_send(WalMsg::Trim { committed: seq });
        }
        Ok(())
    }

    /// Removes every record of the whole UTC days past the retention
    /// windows at `now_ms` (each tenant's override, else `retention_days`),
    /// including records added but not yet committed, and commits. Segments
    /// left mostly deleted are merged in the background; the merges are
    /// returned so a caller can wait for the space to be freed. Cheap when
    /// nothing expired: a count per window. `None` when no window is set.
    pub fn retain(&mut self, now_ms: i64) -> Result<Option<RetentionDone>> {
        let started = Instant::now();
        self.next_retention = Some(started + retention::PASS_EVERY);
        let windows = Windows::now(self.env.retention_days, &self.env.tenant_retention);
        if !windows.any() {
            return Ok(None);
        }
        let (queries, mut report) = retention::expired(&self.fields, &windows, now_ms);
        let removed = retention::count(&self.reader.searcher(), &queries)?;
        report.removed = removed;
        if removed == 0 && self.uncommitted.is_none() {
            return Ok(Some(RetentionDone { report, merges: Vec::new() }));
        }
        // Deletes apply to every document added before them, committed or
        // not, so records replayed from the WAL or arriving late for an
        // expired day go too.
        for q in queries {
            self.writer.delete_query(q).map_err(backend)?;
        }
        self.commit_inner(true, true)?;
        let merges: Vec<Merge> = retention::mostly_deleted(&self.reader.searcher())
            .into_iter()
            .map(|id| self.writer.merge(&[id]))
            .collect();
        report.merged_segments = merges.len();
        let (cutoff_ms, tenants) = (report.cutoff_ms, report.tenant_cutoffs.len());
        info!(?cutoff_ms, tenants, removed, merged_segments = merges.len(), took = ?started.elapsed(), "retention pass");
        Ok(Some(RetentionDone { report, merges }))
    }

    /// Waits on a thread of its own for `merges`, then reloads the reader
    /// so the merged-away segments' files are released.
    pub fn finish_in_background(&self, merges: Vec<Merge>) {
        if merges.is_empty() {
            return;
        }
        let reader = self.reader.clone();
        let spawned =
            std::thread::Builder::new().name("loglens-retention".into()).spawn(move || {
                wait_merges(merges);
                if let Err(e) = reader.reload() {
                    warn!(error = %e, "cannot reload the index reader after retention merges");
                }
            });
        if let Err(e) = spawned {
            warn!(error = %e, "cannot start the retention merge waiter");
        }
    }

    /// Runs what is due: the periodic retention pass, then a commit.
    fn tick(&mut self) -> Result<()> {
        if self.next_retention.is_some_and(|t| Instant::now() >= t)
            && let Some(done) = self.retain(retention::now_ms())?
        {
            self.finish_in_background(done.merges);
        }
        if self.clock.deadline().is_some_and(|d| Instant::now() >= d) {
            self.commit()
        } else {
            Ok(())
        }
    }

    /// When the indexer must wake up without a message: the commit deadline
    /// while something waits to be committed, or the next retention pass.
    fn next_wakeup(&self) -> Option<Instant> {
        let commit = if self.uncommitted.is_some() { self.clock.deadline() } else { None };
        match (commit, self.next_retention) {
            (Some(c), Some(r)) => Some(c.min(r)),
            (c, r) => c.or(r),
        }
    }

    /// The indexer thread's loop. Commits when [`RefreshClock::deadline`]
    /// passes with something added, on `Flush`, and on `Stop`.
    pub fn run(mut self, rx: Receiver<IndexMsg>) {
        let stop = || IndexMsg::Stop { commit: true, ack: None };
        loop {
            let msg = match self.next_wakeup() {
                Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(msg) => Some(msg),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => Some(stop()),
                },
                None => Some(rx.recv().unwrap_or_else(|_| stop())),
            };
            let step = match msg {
                None => self.tick(),
                Some(IndexMsg::Batch { first_seq, records, acked, derived: _ }) => {
                    self.add(first_seq, records, acked).and_then(|()| self.tick())
                }
                Some(IndexMsg::Retention { now_ms, ack }) => reply(ack, self.retain(now_ms)),
                Some(IndexMsg::Flush(ack)) => reply(ack, self.commit()),
                Some(IndexMsg::Stop { commit, ack }) => {
                    let r = self.stop(commit);
                    if let Some(ack) = ack {
                        let _ = ack.send(r);
                    }
                    return;
                }
            };
            if let Err(e) = step {
                self.env.shared.fail(format!("indexing failed: {e}"));
                return;
            }
        }
    }

    /// Commits (unless simulating a crash) and releases the index lock.
    fn stop(mut self, commit: bool) -> Result<()> {
        if !commit {
            return Ok(());
        }
        let committed = self.commit();
        finish(committed, &self.env.shared, self.writer)
    }
}

/// Waits for retention merges. A merge that cannot run (say, its segment is
/// already in a merge the merge policy started, which expunges the deleted
/// documents too) is harmless: the space is freed either way.
pub(crate) fn wait_merges(merges: Vec<Merge>) {
    for merge in merges {
        if let Err(e) = merge.wait() {
            debug!(error = %e, "retention merge did not run");
        }
    }
}
