//! `Tail` with resume: a replay ring of the records the store committed
//! lately, read by every tail at its own pace.
//!
//! One task numbers each batch of [`LogStore::subscribe`] with a sequence
//! number and keeps the newest batches in the [`Ring`], bounded by a record
//! count and an estimate of their bytes. A tail is a cursor into the ring
//! (batch sequence number, index in the batch), so it needs no buffer of its
//! own: ingest never waits for a tail, and a tail never skips records
//! silently. A record's position is `<boot>-<seq>-<index>`; `boot` is random
//! per process start, so positions from before a restart are recognised as
//! foreign.
//!
//! - A new tail starts at the ring's end; one resuming after a position the
//!   ring still holds replays from right after it, then continues live.
//! - A position the ring no longer holds: `OUT_OF_RANGE` at once.
//! - A tail so slow that the next batch it needs left the ring: the stream
//!   ends with `RESOURCE_EXHAUSTED` naming the last record it delivered
//!   (message and [`POSITION_METADATA_KEY`]); records after it are gone.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use loglens_core::{Filter, LogRecord};
use loglens_proto::query::LogEntry;
use loglens_store::{Committed, LogStore};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use tokio_stream::Stream;
use tonic::Status;

/// Default of [`TailConfig::max_records`].
pub const DEFAULT_MAX_RECORDS: usize = 10_000;
/// Default of [`TailConfig::max_bytes`].
pub const DEFAULT_MAX_BYTES: usize = 64 << 20;
/// Trailer metadata of a `RESOURCE_EXHAUSTED` tail: the position of the last
/// record the tail delivered (absent when it delivered none).
pub const POSITION_METADATA_KEY: &str = "loglens-tail-position";

/// How much the replay ring keeps. The newest batch is always kept, even
/// when it alone is over both bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailConfig {
    /// Records kept for replay and for slow tails.
    pub max_records: usize,
    /// Estimated bytes of the records kept (see [`record_bytes`]).
    pub max_bytes: usize,
}

impl Default for TailConfig {
    fn default() -> TailConfig {
        TailConfig { max_records: DEFAULT_MAX_RECORDS, max_bytes: DEFAULT_MAX_BYTES }
    }
}

/// A record's place in the ring: the batch's sequence number and the
/// record's index in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    seq: u64,
    index: usize,
}

/// A position as text, `<boot as 16 hex digits>-<seq>-<index>`.
struct Text {
    boot: u64,
    at: Position,
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}-{}-{}", self.boot, self.at.seq, self.at.index)
    }
}

/// Reads a position's text back: `(boot, position)`.
fn parse(text: &str) -> Option<(u64, Position)> {
    let mut parts = text.split('-');
    let boot = parts.next().filter(|b| b.len() == 16)?;
    let boot = u64::from_str_radix(boot, 16).ok()?;
    let seq = parts.next()?.parse().ok()?;
    let index = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((boot, Position { seq, index }))
}

/// A rough size of a record in memory, for [`TailConfig::max_bytes`].
pub fn record_bytes(r: &LogRecord) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let list = |l: &[String]| l.iter().map(|s| s.len() + size_of::<String>()).sum::<usize>();
    size_of::<LogRecord>()
        + r.id.len()
        + r.service_name.len()
        + r.message.len()
        + opt(&r.request_id)
        + opt(&r.user_id)
        + opt(&r.error_code)
        + opt(&r.host)
        + opt(&r.trace_id)
        + opt(&r.span_id)
        + list(&r.tags)
        + list(&r.anomaly_reasons)
        + r.attributes
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    loglens_core::attributes::AttrValue::Str(s) => s.len(),
                    _ => 0,
                };
                // Key, value and the B-tree's share per entry.
                k.len() + text + 64
            })
            .sum::<usize>()
}

struct Kept {
    batch: Committed,
    bytes: usize,
}

struct State {
    /// Contiguous batches, oldest first; `kept[0]` is `first_seq`.
    kept: VecDeque<Kept>,
    first_seq: u64,
    /// The number the next batch gets.
    next_seq: u64,
    records: usize,
    bytes: usize,
    /// `(seq, len)` of the batch dropped last: a position at its last
    /// record still resumes (with the batch after it).
    dropped: Option<(u64, usize)>,
    /// The store's tail ended: no batch will follow.
    closed: bool,
}

/// What a tail finds at a sequence number.
enum Slot {
    Batch(Committed),
    /// Not committed yet.
    Wait,
    /// Not committed and never will be.
    Closed,
    /// Dropped from the ring (or never held).
    Gone,
}

/// The replay ring; see the module documentation.
pub(crate) struct Ring {
    boot: u64,
    config: TailConfig,
    state: Mutex<State>,
    /// Bumped after every change of `state`.
    changed: watch::Sender<()>,
}

impl Ring {
    /// A ring fed from `committed` by a task of its own, which ends when
    /// the store's tail closes or the ring is dropped.
    pub(crate) fn start(
        committed: broadcast::Receiver<Committed>,
        config: TailConfig,
    ) -> Arc<Ring> {
        let ring = Arc::new(Ring {
            boot: rand::random(),
            config,
            state: Mutex::new(State {
                kept: VecDeque::new(),
                first_seq: 0,
                next_seq: 0,
                records: 0,
                bytes: 0,
                dropped: None,
                closed: false,
            }),
            changed: watch::Sender::new(()),
        });
        tokio::spawn(feed(Arc::downgrade(&ring), committed));
        ring
    }

    /// A ring over `store`'s committed batches.
    pub(crate) fn over(store: &dyn LogStore, config: TailConfig) -> Arc<Ring> {
        Ring::start(store.subscribe(), config)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every unlock: a panic elsewhere
        // does not make it unusable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn text(&self, at: Position) -> String {
        Text { boot: self.boot, at }.to_string()
    }

    /// Appends a committed batch and drops the oldest ones beyond the bounds.
    fn push(&self, batch: Committed) {
        let bytes = batch.iter().map(record_bytes).sum();
        {
            let mut s = self.lock();
            s.records += batch.len();
            s.bytes += bytes;
            s.kept.push_back(Kept { batch, bytes });
            s.next_seq += 1;
            while (s.records > self.config.max_records || s.bytes > self.config.max_bytes)
                && s.kept.len() > 1
            {
                let Some(old) = s.kept.pop_front() else { break };
                s.records -= old.batch.len();
                s.bytes -= old.bytes;
                s.dropped = Some((s.first_seq, old.batch.len()));
                s.first_seq += 1;
            }
        }
        self.changed.send_replace(());
    }

    /// The ring missed batches of the store: forgets everything and skips a
    /// sequence number, so every tail and position across the hole is gone.
    fn lose(&self) {
        {
            let mut s = self.lock();
            s.kept.clear();
            s.records = 0;
            s.bytes = 0;
            s.dropped = None;
            s.next_seq += 1;
            s.first_seq = s.next_seq;
        }
        self.changed.send_replace(());
    }

    fn close(&self) {
        self.lock().closed = true;
        self.changed.send_replace(());
    }

    fn slot(&self, seq: u64) -> Slot {
        let s = self.lock();
        if seq < s.first_seq {
            Slot::Gone
        } else if seq < s.next_seq {
            let i = usize::try_from(seq - s.first_seq).unwrap_or(usize::MAX);
            s.kept.get(i).map_or(Slot::Gone, |k| Slot::Batch(k.batch.clone()))
        } else if s.closed {
            Slot::Closed
        } else {
            Slot::Wait
        }
    }

    /// Where a tail resuming after `resume_after` starts (the ring's end
    /// when empty): the record right after it.
    fn start_after(&self, resume_after: &str) -> Result<(Position, Option<Position>), Status> {
        if resume_after.is_empty() {
            return Ok((Position { seq: self.lock().next_seq, index: 0 }, None));
        }
        let Some((boot, at)) = parse(resume_after) else {
            return Err(loglens_proto::status::to_status(&loglens_core::Error::invalid(
                "resume_after",
                format!(
                    "resume_after must be the tail_position of a record a Tail streamed \
                     (<boot>-<seq>-<index>), got {resume_after:?}"
                ),
            )));
        };
        let gone = |why: &str| {
            Status::out_of_range(format!(
                "resume point {resume_after} is gone: {why}; records after it cannot be \
                 replayed, Search over the time range from that record on fills the gap"
            ))
        };
        if boot != self.boot {
            return Err(gone("it comes from another run of the server (restarted?)"));
        }
        let s = self.lock();
        if at.seq >= s.first_seq && at.seq < s.next_seq {
            let i = usize::try_from(at.seq - s.first_seq).unwrap_or(usize::MAX);
            let len = s.kept.get(i).map_or(0, |k| k.batch.len());
            if at.index >= len {
                return Err(gone("this server never gave that position"));
            }
            return Ok((Position { seq: at.seq, index: at.index + 1 }, Some(at)));
        }
        if s.dropped == Some((at.seq, at.index + 1)) {
            return Ok((Position { seq: at.seq + 1, index: 0 }, Some(at)));
        }
        if at.seq >= s.next_seq {
            return Err(gone("this server never gave that position"));
        }
        Err(gone(&format!(
            "it is older than the {} records the server keeps for replay",
            self.config.max_records
        )))
    }
}

/// Feeds the ring from the store's tail; see [`Ring::start`].
async fn feed(ring: Weak<Ring>, mut committed: broadcast::Receiver<Committed>) {
    loop {
        let next = committed.recv().await;
        let Some(ring) = ring.upgrade() else { return };
        match next {
            Ok(batch) => ring.push(batch),
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed_batches = n, "tail replay ring fell behind the store");
                ring.lose();
            }
            Err(RecvError::Closed) => {
                ring.close();
                return;
            }
        }
    }
}

/// One tail's cursor into the ring.
struct Follower {
    ring: Arc<Ring>,
    changed: watch::Receiver<()>,
    filter: Filter,
    /// The next record to look at.
    next: Position,
    /// The batch of `next.seq`, once fetched.
    batch: Option<Committed>,
    /// The last record delivered, or the resume point.
    last: Option<Position>,
    done: bool,
}

impl Follower {
    async fn next(&mut self) -> Option<Result<LogEntry, Status>> {
        if self.done {
            return None;
        }
        loop {
            if let Some(batch) = &self.batch {
                while self.next.index < batch.len() {
                    let at = self.next;
                    self.next.index += 1;
                    let r = &batch[at.index];
                    if self.filter.matches(r) {
                        self.last = Some(at);
                        let mut entry = LogEntry::from(r.clone());
                        entry.tail_position = self.ring.text(at);
                        return Some(Ok(entry));
                    }
                }
                self.batch = None;
                self.next = Position { seq: self.next.seq + 1, index: 0 };
            }
            self.changed.borrow_and_update();
            match self.ring.slot(self.next.seq) {
                Slot::Batch(b) => self.batch = Some(b),
                Slot::Wait => {
                    // The ring holds the sender: this only fails once the
                    // ring is gone, which it cannot be while we hold it.
                    if self.changed.changed().await.is_err() {
                        self.done = true;
                        return None;
                    }
                }
                Slot::Closed => {
                    self.done = true;
                    return None;
                }
                Slot::Gone => {
                    self.done = true;
                    return Some(Err(self.fell_behind()));
                }
            }
        }
    }

    fn fell_behind(&self) -> Status {
        let last = self.last.map(|at| self.ring.text(at));
        let after = match &last {
            Some(p) => format!("after position {p}"),
            None => "since this tail started".to_owned(),
        };
        tracing::info!(last = ?last, "tail client too slow, ending its stream");
        let mut status = Status::resource_exhausted(format!(
            "tail client too slow: the records {after} left the server's replay buffer \
             (the newest {} records) before this client read them; Search over the time \
             range from that record on fills the gap",
            self.ring.config.max_records
        ));
        if let Some(v) = last.and_then(|p| p.parse().ok()) {
            status.metadata_mut().insert(POSITION_METADATA_KEY, v);
        }
        status
    }
}

/// A `Tail` stream.
pub type TailStream = Pin<Box<dyn Stream<Item = Result<LogEntry, Status>> + Send>>;

/// The records matching `filter` (time bounds ignored) from right after
/// `resume_after` (empty: from now), then live; see the module documentation.
pub(crate) fn follow(
    ring: Arc<Ring>,
    filter: Filter,
    resume_after: &str,
) -> Result<TailStream, Status> {
    let filter = Filter { from_timestamp: None, to_timestamp: None, ..filter };
    let changed = ring.changed.subscribe();
    let (next, last) = ring.start_after(resume_after)?;
    let follower = Follower { ring, changed, filter, next, batch: None, last, done: false };
    Ok(Box::pin(futures::stream::unfold(follower, |mut f| async move {
        let item = f.next().await?;
        Some((item, f))
    })))
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt as _;

    use super::*;

    fn record(n: usize, level: &str) -> LogRecord {
        let raw = loglens_core::RawLog {
            service_name: Some("svc".into()),
            level: Some(level.into()),
            message: Some(format!("m{n}")),
            request_id: Some(format!("r{n}")),
            ..loglens_core::RawLog::default()
        };
        loglens_core::record::normalize(raw, 1_700_000_000_000, &loglens_core::RuleSet::default())
            .unwrap()
    }

    /// Batches of the given sizes, records numbered from 0 across them;
    /// every third record is an ERROR, the rest INFO.
    fn batches(sizes: &[usize]) -> Vec<Committed> {
        batches_from(0, sizes)
    }

    /// [`batches`] numbered from `first`.
    fn batches_from(first: usize, sizes: &[usize]) -> Vec<Committed> {
        let mut n = first;
        sizes
            .iter()
            .map(|&size| {
                Arc::new(
                    (0..size)
                        .map(|_| {
                            n += 1;
                            record(n - 1, if (n - 1).is_multiple_of(3) { "ERROR" } else { "INFO" })
                        })
                        .collect(),
                )
            })
            .collect()
    }

    fn ring(max_records: usize) -> (broadcast::Sender<Committed>, Arc<Ring>) {
        let (tx, rx) = broadcast::channel(64);
        let ring = Ring::start(rx, TailConfig { max_records, max_bytes: usize::MAX });
        (tx, ring)
    }

    /// Sends `batches` and waits until the ring holds them all.
    async fn publish(tx: &broadcast::Sender<Committed>, ring: &Ring, batches: Vec<Committed>) {
        let want = ring.lock().next_seq + batches.len() as u64;
        let mut changed = ring.changed.subscribe();
        for b in batches {
            tx.send(b).unwrap();
        }
        while ring.lock().next_seq < want {
            changed.changed().await.unwrap();
        }
    }

    async fn take(stream: &mut TailStream, n: usize) -> Vec<LogEntry> {
        let mut got = Vec::new();
        while got.len() < n {
            let next = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
                .await
                .expect("a record within 10 s (a hang otherwise)");
            got.push(next.expect("stream open").expect("a record"));
        }
        got
    }

    fn ids(entries: &[LogEntry]) -> Vec<String> {
        entries.iter().map(|e| e.request_id.clone().unwrap()).collect()
    }

    fn errors() -> Filter {
        Filter { level: Some(loglens_core::Level::Error), ..Filter::default() }
    }

    #[test]
    fn positions_round_trip_and_malformed_ones_are_refused() {
        let at = Position { seq: 42, index: 7 };
        let text = Text { boot: 0xabc, at }.to_string();
        assert_eq!(text, "0000000000000abc-42-7");
        assert_eq!(parse(&text), Some((0xabc, at)));
        for bad in ["", "abc-1-2", "0000000000000abc-1", "0000000000000abc-1-2-3", "x-y-z"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn live_tail_streams_matching_records_with_positions() {
        let (tx, ring) = ring(1000);
        publish(&tx, &ring, batches(&[3])).await;
        let mut stream = follow(ring.clone(), errors(), "").unwrap();
        publish(&tx, &ring, batches_from(3, &[6, 4])).await;
        let got = take(&mut stream, 3).await;
        assert_eq!(ids(&got), ["r3", "r6", "r9"], "only new ERROR records, in order");
        let boot = format!("{:016x}", ring.boot);
        assert_eq!(got[0].tail_position, format!("{boot}-1-0"));
        assert_eq!(got[2].tail_position, format!("{boot}-2-0"));
    }

    #[tokio::test]
    async fn resume_replays_exactly_the_records_after_the_position_across_batches() {
        let (tx, ring) = ring(1000);
        let all = batches(&[4, 1, 5, 3, 7]);
        let every: Vec<String> =
            all.iter().flat_map(|b| b.iter().map(|r| r.request_id.clone().unwrap())).collect();
        let mut first = follow(ring.clone(), Filter::default(), "").unwrap();
        publish(&tx, &ring, all[..3].to_vec()).await;
        // Leave after 6 records: mid-batch (the third batch starts at r5).
        let seen = take(&mut first, 6).await;
        drop(first);
        publish(&tx, &ring, all[3..].to_vec()).await;
        let last = &seen.last().unwrap().tail_position;
        let mut resumed = follow(ring.clone(), Filter::default(), last).unwrap();
        let rest = take(&mut resumed, every.len() - 6).await;
        let mut joined = ids(&seen);
        joined.extend(ids(&rest));
        assert_eq!(joined, every, "no gap, no repeat");
        // Live after the replay, without repeats.
        publish(&tx, &ring, batches_from(20, &[1])).await;
        let live = take(&mut resumed, 1).await;
        assert_eq!(ids(&live), ["r20"]);

        // Resuming at a batch's last record starts with the next batch;
        // with a filter, replay skips what does not match.
        let end_of_second = format!("{:016x}-1-0", ring.boot);
        let mut filtered = follow(ring.clone(), errors(), &end_of_second).unwrap();
        let got = take(&mut filtered, 4).await;
        assert_eq!(ids(&got), ["r6", "r9", "r12", "r15"]);
    }

    #[tokio::test]
    async fn foreign_too_old_and_unknown_positions_are_out_of_range() {
        let (tx, ring) = ring(5);
        publish(&tx, &ring, batches(&[3, 3, 3])).await;
        let boot = format!("{:016x}", ring.boot);
        let foreign = format!("{:016x}-1-0", ring.boot.wrapping_add(1));
        for (position, says) in [
            (foreign.as_str(), "another run of the server"),
            (&format!("{boot}-0-1"), "older than the 5 records"),
            (&format!("{boot}-9-0"), "never gave"),
            (&format!("{boot}-2-3"), "never gave"),
        ] {
            let e = follow(ring.clone(), Filter::default(), position).err().unwrap();
            assert_eq!(e.code(), tonic::Code::OutOfRange, "{position}: {e:?}");
            assert!(e.message().contains(says), "{position}: {}", e.message());
            assert!(e.message().contains("Search over the time range"), "{}", e.message());
        }
        // The last record of the batch dropped last still resumes: nothing
        // after it was dropped.
        let mut s = follow(ring.clone(), Filter::default(), &format!("{boot}-1-2")).unwrap();
        assert_eq!(ids(&take(&mut s, 3).await), ["r6", "r7", "r8"]);
        let e = follow(ring.clone(), Filter::default(), "nonsense").err().unwrap();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains("resume_after"), "{}", e.message());
    }

    #[tokio::test]
    async fn a_tail_left_behind_ends_resource_exhausted_with_its_last_position() {
        let (tx, ring) = ring(6);
        let mut slow = follow(ring.clone(), Filter::default(), "").unwrap();
        let all = batches(&[2, 2, 2, 2, 2, 2]);
        publish(&tx, &ring, all[..1].to_vec()).await;
        let first = take(&mut slow, 1).await;
        // Five more batches: the ring keeps three, the slow tail's next
        // batch (seq 1) is dropped while it holds only batch 0.
        publish(&tx, &ring, all[1..].to_vec()).await;
        assert_eq!(ids(&take(&mut slow, 1).await), ["r1"], "the batch it holds is still served");
        let e = tokio::time::timeout(std::time::Duration::from_secs(10), slow.next())
            .await
            .unwrap()
            .expect("an item")
            .expect_err("the stream fails");
        assert_eq!(e.code(), tonic::Code::ResourceExhausted);
        let last = format!("{:016x}-0-1", ring.boot);
        assert_eq!(first[0].tail_position, format!("{:016x}-0-0", ring.boot));
        assert!(e.message().contains(&last), "{}", e.message());
        assert_eq!(e.metadata().get(POSITION_METADATA_KEY).unwrap(), last.as_str());
        assert!(slow.next().await.is_none(), "the stream ends after the error");
        // A prompt tail was not affected.
        let mut prompt =
            follow(ring.clone(), Filter::default(), &format!("{:016x}-3-1", ring.boot)).unwrap();
        assert_eq!(ids(&take(&mut prompt, 4).await), ["r8", "r9", "r10", "r11"]);
    }

    #[tokio::test]
    async fn the_ring_is_bounded_by_records_and_bytes_but_keeps_the_newest_batch() {
        let (tx, rx) = broadcast::channel(64);
        let one = record_bytes(&record(0, "INFO"));
        let ring = Ring::start(rx, TailConfig { max_records: 100, max_bytes: one * 10 });
        publish(&tx, &ring, batches(&[4, 4, 4, 4])).await;
        {
            let s = ring.lock();
            assert!(s.bytes <= one * 10 + 16, "{} > {}", s.bytes, one * 10);
            assert_eq!((s.first_seq, s.next_seq, s.records), (2, 4, 8));
        }
        publish(&tx, &ring, batches(&[50])).await;
        let s = ring.lock();
        assert_eq!((s.first_seq, s.next_seq, s.records), (4, 5, 50), "the newest batch stays");
    }

    #[tokio::test]
    async fn a_ring_that_missed_batches_fails_tails_across_the_hole() {
        let (tx, rx) = broadcast::channel(2);
        let all = batches(&[1, 1, 1, 1, 1, 1]);
        tx.send(all[0].clone()).unwrap();
        let ring = Ring::start(rx, TailConfig::default());
        let mut changed = ring.changed.subscribe();
        while ring.lock().next_seq < 1 {
            changed.changed().await.unwrap();
        }
        let mut live = follow(ring.clone(), Filter::default(), "").unwrap();
        let before = format!("{:016x}-0-0", ring.boot);
        // The feed task cannot run in between on this single-threaded
        // runtime: three sends into a channel of two make it lag.
        for b in &all[1..4] {
            tx.send(b.clone()).unwrap();
        }
        let e = take_err(&mut live).await;
        assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
        let e = follow(ring.clone(), Filter::default(), &before).err().unwrap();
        assert_eq!(e.code(), tonic::Code::OutOfRange);
    }

    async fn take_err(stream: &mut TailStream) -> Status {
        tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("no hang")
            .expect("an item")
            .expect_err("an error")
    }

    #[tokio::test]
    async fn a_closed_store_ends_the_stream() {
        let (tx, ring) = ring(100);
        let mut s = follow(ring.clone(), Filter::default(), "").unwrap();
        publish(&tx, &ring, batches(&[2])).await;
        drop(tx);
        assert_eq!(ids(&take(&mut s, 2).await), ["r0", "r1"]);
        let end = tokio::time::timeout(std::time::Duration::from_secs(10), s.next()).await;
        assert!(end.expect("no hang").is_none());
    }
}
