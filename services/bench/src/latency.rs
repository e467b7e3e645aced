//! Figure 5: time-to-search. Records are offered to a fresh store at a
//! steady rate (batches every 10 ms, 8 in flight at most, as a few ingest
//! clients would), each batch's acknowledgement (`index()` returned: durable
//! in the WAL) is timed, and so is the moment its last record became
//! searchable: the store's commit broadcast, sent right after the reader
//! reload that makes a commit visible to searches. The figure is p50/p99 of
//! (searchable - acknowledged) over the batches.
//!
//! Every record offered is generated and normalised before the clock
//! starts, so the measured process does only what a store behind ingest
//! clients would: near capacity, generating in the loop took the CPU the
//! store needed and the offer was not kept.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use futures::FutureExt as _;
use futures::stream::{FuturesUnordered, StreamExt};
use loglens_core::record::normalize;
use loglens_core::{Filter, LogRecord, RawLog, RuleSet, SearchRequest, Sort};
use loglens_generator::Generator;
use loglens_store::StoreOptions;
use parking_lot::Mutex;
use tokio::sync::broadcast::error::RecvError;

use crate::{StoreKind, bar, percentile};

/// Time between two batches.
const TICK: Duration = Duration::from_millis(10);
/// Most `index()` calls in flight; past that the offered rate is not kept.
const MAX_IN_FLIGHT: usize = 8;
/// How long the last batches may take to become searchable.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
/// Most records generated ahead of a run (about 2 KB each in memory with
/// the id map: 1 GB peak RSS for 527k); a longer run at its rate is
/// shortened to offer this many.
pub(crate) const MAX_OFFERED_RECORDS: usize = 1_500_000;

/// What figure 5 measured.
pub(crate) struct LatencyRun {
    /// Records acknowledged.
    pub records: usize,
    /// Acknowledged records per second over the run.
    pub achieved: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub batches: usize,
    /// How long the records were offered: the requested duration, or less
    /// when [`MAX_OFFERED_RECORDS`] capped the run.
    pub seconds: f64,
    /// Whether [`MAX_OFFERED_RECORDS`] shortened the run.
    pub capped: bool,
    /// CPU time of the whole process from opening the store to closing it
    /// (generating the records, done before, not included).
    pub cpu: Option<Duration>,
}

impl LatencyRun {
    /// Acknowledged records per second of [`Self::cpu`].
    pub fn records_per_cpu_s(&self) -> Option<f64> {
        self.cpu.map(|c| self.records as f64 / c.as_secs_f64().max(1e-9))
    }
}

#[derive(Default)]
struct Batch {
    remaining: usize,
    acked: Option<Instant>,
    searchable: Option<Instant>,
}

#[derive(Default)]
struct State {
    /// Record id -> its place in the offer.
    position: HashMap<String, usize>,
    /// Where each batch starts in the offer, in order.
    starts: Vec<usize>,
    batches: Vec<Batch>,
}

/// `n` distinct records (no two with the same content id, which would be
/// an upsert), timestamped `rate` per second from now, and the place of
/// each id.
fn offer(
    seed: u64,
    rate: u64,
    n: usize,
    rules: &RuleSet,
) -> Result<(Vec<LogRecord>, HashMap<String, usize>)> {
    let pb = bar(n, "5 generate the offer");
    let mut generator = Generator::new(Some(seed));
    let start_ms = i64::try_from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis(),
    )?;
    let mut records = Vec::with_capacity(n);
    let mut position = HashMap::with_capacity(n);
    while records.len() < n {
        let at_ms = start_ms + (records.len() as u64 * 1000 / rate) as i64;
        let json = serde_json::to_vec(&generator.next(at_ms))?;
        let record = normalize(RawLog::from_json(&json)?, at_ms, rules)?;
        if let Entry::Vacant(e) = position.entry(record.id.clone()) {
            e.insert(records.len());
            records.push(record);
            if records.len() % 4096 == 0 {
                pb.set_position(records.len() as u64);
            }
        }
    }
    pb.finish_and_clear();
    Ok((records, position))
}

/// Offers `rate` records/s for `duration` to a fresh store in `dir`.
pub(crate) async fn run(
    dir: &Path,
    kind: StoreKind,
    options: &StoreOptions,
    seed: u64,
    rate: u64,
    duration: Duration,
    rules: &RuleSet,
) -> Result<LatencyRun> {
    ensure!(rate >= 1, "--rate must be >= 1, got 0");
    let wanted = (rate as f64 * duration.as_secs_f64()).ceil() as usize;
    let n = wanted.clamp(1, MAX_OFFERED_RECORDS);
    let capped = n < wanted;
    let duration = if capped { Duration::from_secs_f64(n as f64 / rate as f64) } else { duration };
    let (records, position) = offer(seed, rate, n, rules)?;
    let mut records = records.into_iter();

    let cpu = crate::protocols::OwnCpu::start();
    let store = kind.open(dir, options).await?;
    let state = Arc::new(Mutex::new(State { position, ..State::default() }));
    let mut tail = store.subscribe();
    let watcher = {
        let state = state.clone();
        tokio::spawn(async move {
            loop {
                match tail.recv().await {
                    Ok(committed) => {
                        let now = Instant::now();
                        let mut s = state.lock();
                        let s = &mut *s;
                        for r in committed.iter() {
                            if let Some(&i) = s.position.get(&r.id) {
                                let b = s.starts.partition_point(|&start| start <= i) - 1;
                                let batch = &mut s.batches[b];
                                batch.remaining = batch.remaining.saturating_sub(1);
                                if batch.remaining == 0 {
                                    batch.searchable.get_or_insert(now);
                                }
                            }
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        anyhow::bail!("the commit broadcast dropped {n} batches")
                    }
                    Err(RecvError::Closed) => return Ok(()),
                }
            }
        })
    };

    let per_tick = ((rate as f64 * TICK.as_secs_f64()).round() as usize).max(1);
    let pb = bar(n, "5 time-to-search");
    let started = Instant::now();
    let end = started + duration;
    let mut next_tick = started;
    let mut sent = 0usize;
    let mut acked_records = 0usize;
    let mut last_ack = started;
    let mut in_flight = FuturesUnordered::new();
    while Instant::now() < end {
        tokio::time::sleep_until(next_tick.into()).await;
        next_tick += TICK;
        // Collect what finished, then wait while too much is in flight.
        while let Some(Some(done)) = in_flight.next().now_or_never() {
            let (n, at) = acked(&state, done)?;
            acked_records += n;
            last_ack = last_ack.max(at);
            pb.inc(n as u64);
        }
        while in_flight.len() >= MAX_IN_FLIGHT {
            if let Some(done) = in_flight.next().await {
                let (n, at) = acked(&state, done)?;
                acked_records += n;
                last_ack = last_ack.max(at);
                pb.inc(n as u64);
            }
        }
        let due = ((started.elapsed().as_secs_f64() * rate as f64) as usize).max(sent + 1);
        let k = (due - sent).min(per_tick * 4);
        let batch: Vec<LogRecord> = records.by_ref().take(k).collect();
        if batch.is_empty() {
            break;
        }
        let b = {
            let mut s = state.lock();
            let b = s.batches.len();
            s.starts.push(sent);
            s.batches.push(Batch { remaining: batch.len(), ..Batch::default() });
            b
        };
        sent += batch.len();
        let store = store.clone();
        let n = batch.len();
        // Spawned, so the call runs (and its acknowledgement is timed)
        // while this loop sleeps.
        in_flight.push(tokio::spawn(async move {
            let r = store.index(batch).await;
            (b, n, r.map(|_| Instant::now()))
        }));
    }
    while let Some(done) = in_flight.next().await {
        let (n, at) = acked(&state, done)?;
        acked_records += n;
        last_ack = last_ack.max(at);
        pb.inc(n as u64);
    }
    let achieved = acked_records as f64 / last_ack.duration_since(started).as_secs_f64().max(1e-9);
    store.refresh().await?;
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        let waiting = {
            let s = state.lock();
            s.batches.iter().filter(|b| b.searchable.is_none() && b.remaining > 0).count()
        };
        if waiting == 0 {
            break;
        }
        if watcher.is_finished() {
            watcher.await??;
            anyhow::bail!("the commit broadcast ended with {waiting} batches not searchable");
        }
        ensure!(
            Instant::now() < deadline,
            "{waiting} batches not searchable 60 s after the last acknowledgement"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    watcher.abort();
    pb.finish_and_clear();
    // Cross-check with a real search: every acknowledged record is found.
    let everything = SearchRequest::new(Filter::default(), Sort::NewestFirst, None, Some(1), None)?;
    let total = store.search(&everything).await?.total as usize;
    ensure!(
        total == acked_records,
        "a search found {total} records, {acked_records} were acknowledged"
    );
    store.close().await?;
    let cpu = cpu.elapsed();

    let s = state.lock();
    let mut waits: Vec<Duration> = s
        .batches
        .iter()
        .filter_map(|b| Some(b.searchable?.saturating_duration_since(b.acked?)))
        .collect();
    ensure!(!waits.is_empty(), "no batch was timed");
    waits.sort();

    Ok(LatencyRun {
        records: acked_records,
        achieved,
        p50: percentile(&waits, 50),
        p99: percentile(&waits, 99),
        max: waits[waits.len() - 1],
        batches: waits.len(),
        seconds: duration.as_secs_f64(),
        capped,
        cpu,
    })
}

/// A finished `index()` task: its batch, records and acknowledgement time.
type Done = Result<(usize, usize, loglens_store::Result<Instant>), tokio::task::JoinError>;

/// Records a batch's acknowledgement; returns its size and when it came.
fn acked(state: &Mutex<State>, done: Done) -> Result<(usize, Instant)> {
    let (b, n, r) = done.context("an index() task panicked")?;
    let at = r.context("the store did not acknowledge a batch")?;
    let mut s = state.lock();
    s.batches[b].acked = Some(at);
    Ok((n, at))
}
