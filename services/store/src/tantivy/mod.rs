//! The embedded backend: a Tantivy index on local disk behind a write-ahead
//! log.
//!
//! Layout under the store directory: `index/` (Tantivy) and `wal/`, the
//! write-ahead log: segment files of length-prefixed frames, each
//! checksummed with xxh3 and holding one batch as JSON. A directory with a
//! `layout` file is a hybrid store's (`crate::hybrid`) and is refused.
//!
//! # Durability
//!
//! `index()` hands its batch to the WAL writer thread, which appends every
//! batch queued at that moment (group commit: concurrent batches share one
//! fsync), fsyncs, passes them to the indexer thread and only then
//! acknowledges. Every record gets the next store-wide sequence number.
//! The indexer upserts records into the `IndexWriter` (delete the id when
//! it may be in the index already, see `seen.rs`; add the document) and
//! commits when something was added and either `refresh_interval_ms` has
//! passed since the last commit (so at once after a quiet spell) or the
//! oldest waiting record would otherwise miss its deadline: the commit
//! starts `refresh_interval_ms` minus the slowest recent commit's duration
//! (and some room) after that record was acknowledged. Under steady load
//! that is a commit a little more often than once per interval. Never sooner
//! than half an interval after the previous commit ended, though: when
//! indexing falls behind, a storm of tiny commits would only fall further
//! behind.
//!
//! The interval in force adapts to the load (issue 13):
//! `min_refresh_interval_ms` while commits carry few records (at that
//! interval a commit would hold at most 2,500: cheap, and the interval is
//! most of the time-to-search), `refresh_interval_ms` once they would hold
//! 5,000 or more (small segments then cost ingest CPU, see
//! docs/storage.md), unchanged in between so that it does not flap. Each
//! commit picks the next interval from the records it carried over the time
//! since the previous one (`shared::refresh::adapt_interval`). Under heavy load
//! nothing changes, and the deadline above never exceeds
//! `refresh_interval_ms`.
//!
//! The WAL-to-indexer queue is short (2 groups of at most 4,000 records), so
//! few acknowledged records wait to be indexed. The commit payload is the
//! last sequence number applied. After each commit it reloads the reader
//! (`ReloadPolicy::Manual`), broadcasts the committed records to
//! [`LogStore::subscribe`]rs and deletes the WAL segments the commit covers.
//! (Records are kept for the broadcast only while someone subscribes, so a
//! new subscriber sees batches from the first commit after it subscribed,
//! possibly not all of that first batch.)
//!
//! On open, WAL records with a sequence number above the last commit's
//! payload are replayed and committed. A torn tail of the newest segment (a
//! write cut short by a crash, never acknowledged) is cut off with a warning.
//! So nothing acknowledged is lost to `kill -9`, and an acknowledged record
//! is searchable within about one `refresh_interval_ms`, or as soon as
//! `refresh()` returns.
//!
//! An error from `index()` does not prove the batch was not stored (for
//! example when the indexer died after the WAL write); retrying is safe, as
//! records are upserted by id.
//!
//! # Backpressure
//!
//! The queue into the WAL writer and the queue from it to the indexer are
//! bounded, so when indexing falls behind, `index()` waits instead of memory
//! growing.
//!
//! # Tenants
//!
//! Every document carries its record's tenant as a keyword (the default
//! tenant's too); a filter with a tenant adds that term to the one query
//! every search, cursor page and stats request runs, so no read path can
//! reach another tenant's records. An index written before tenants has no
//! such field and is refused at open (schema mismatch) with advice.
//!
//! # Search
//!
//! Sorting is by a tuple of fast fields, so it is exact: newest/oldest first
//! is `(timestamp, seq)`, severity is `(severity_score, timestamp, seq)`,
//! descending. The sequence number is unique per store, so no two records
//! tie. A cursor holds the sort, a fingerprint of the filter and the last
//! record's key; the next page adds "key beyond this one" to the query, so
//! it neither skips nor repeats records and has no result window limit. A
//! record upserted while a client pages gets a new sequence number and may
//! show up again (or not at all, if its key moved behind the cursor).
//!
//! # Retention
//!
//! With `retention_days` set, whole UTC days are removed once they ended at
//! least that many days ago; a tenant with an override in
//! `tenant_retention` keeps its own number of days instead (read afresh by
//! every pass, so a reloaded key file takes effect at the next one). Passes
//! run at open (after the WAL replay, so a replayed record from an expired
//! day is deleted again rather than resurrected) and then hourly on the
//! indexer thread. A pass is a range delete on the timestamp column per
//! window (one per overriding tenant, intersected with its term, and one
//! for every other tenant) plus one commit: fully deleted segments are
//! dropped with their files at that commit, segments left mostly deleted
//! are rewritten by background merges. Ingest waits only for that one commit. Records that
//! arrive for an already expired day are acknowledged and indexed like any
//! other, and removed by the next pass (within the hour).
//! [`TantivyStore::apply_retention`] runs a pass at a given clock.
//!
//! # Stats
//!
//! Tantivy aggregations on fast fields, no documents loaded: terms on
//! service (at most 10,000 services) and level, sums of 0/1 fields for the
//! anomaly and error counts, a `date_histogram` with a fixed interval
//! (buckets aligned to multiples of it; buckets without records are
//! omitted), and percentiles per service (DDSketch, about 1% relative
//! error).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use loglens_core::{LogRecord, SearchRequest, SearchResult, Stats, StatsRequest};
use tantivy::directory::MmapDirectory;
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, TantivyError};
use tokio::sync::{broadcast, mpsc};
use tracing::debug;

use self::pipeline::{Indexer, IndexerEnv, Shared, WalMsg};
pub use self::retention::RetentionReport;
use self::schema::Fields;
use self::wal::Wal;
use crate::shared::tail::Tail;
use crate::{Committed, Error, Health, LogStore, Refused, Result, StoreOptions};

pub(crate) mod id_query;
pub(crate) mod pipeline;
pub(crate) mod query;
pub(crate) mod retention;
/// The index schema, public only so `loglens-bench` can build the same
/// index without the store (its raw-Tantivy ceiling); not a stable API.
#[doc(hidden)]
pub mod schema;
pub(crate) mod seen;
pub(crate) mod stats;
pub mod stored;
pub(crate) mod wal;

/// `index()` calls queued for the WAL writer before callers wait.
const WAL_QUEUE: usize = 32;
/// Groups queued between the WAL writer and the indexer.
const INDEX_QUEUE: usize = 2;
/// Committed batches a slow `subscribe()`r may fall behind before it lags.
const TAIL_CAPACITY: usize = 1024;
/// Doc store block size: larger blocks compress better (see the notes).
const DOCSTORE_BLOCK: usize = 64 * 1024;

/// The Tantivy store. Open with [`TantivyStore::open`]; see the module
/// documentation for the guarantees.
pub struct TantivyStore {
    dir: PathBuf,
    fields: Fields,
    reader: IndexReader,
    /// The `message` field's tokenizer, so queries split words exactly as
    /// indexing did.
    analyzer: TextAnalyzer,
    pipeline: pipeline::Handle,
    /// Per-segment partial stats for requests of a shape seen before.
    stats_cache: Arc<stats::StatsCache>,
}

impl std::fmt::Debug for TantivyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TantivyStore").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// A Tantivy error as a store error.
pub(crate) fn backend(e: TantivyError) -> Error {
    Error::Backend(e.to_string())
}

/// The writer (holding the directory's lock), a manually reloaded reader and
/// the last sequence number committed (the commit payload; 0 for a new
/// index) of a store's Tantivy `index` in `dir`; `what` names the index in
/// errors.
pub(crate) fn open_writer(
    index: &Index,
    dir: &Path,
    options: &StoreOptions,
    what: &str,
) -> Result<(IndexWriter, IndexReader, u64)> {
    let writer = index
        .writer_with_num_threads(options.indexing_threads, options.indexing_memory_bytes)
        .map_err(|e| match e {
            TantivyError::LockFailure(..) => Error::Config(format!(
                "store {} is already open in another store or process",
                dir.display()
            )),
            TantivyError::InvalidArgument(m) => Error::Config(format!("store options: {m}")),
            other => backend(other),
        })?;
    let reader =
        index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(backend)?;
    let committed = match index.load_metas().map_err(backend)?.payload {
        None => 0,
        Some(p) => p.parse::<u64>().map_err(|_| {
            Error::Backend(format!("{what} commit payload {p:?} is not a sequence number"))
        })?,
    };
    Ok((writer, reader, committed))
}

/// Runs blocking work (Tantivy, disk) off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(Error::Backend(format!("store task failed: {e}"))))
}

impl TantivyStore {
    /// Opens the store in `dir`, creating it if missing, and replays the
    /// write-ahead log. Fails with `Error::Config` if another store holds
    /// the directory or the options are out of range.
    pub async fn open(dir: &Path, options: StoreOptions) -> Result<TantivyStore> {
        let dir = dir.to_owned();
        blocking(move || TantivyStore::open_blocking(dir, options)).await
    }

    fn open_blocking(dir: PathBuf, options: StoreOptions) -> Result<TantivyStore> {
        if options.refresh_interval_ms == 0 || options.indexing_threads == 0 {
            return Err(Error::Config(format!(
                "store options: refresh_interval_ms and indexing_threads must be >= 1, got {} and {}",
                options.refresh_interval_ms, options.indexing_threads
            )));
        }
        if options.retention_days == Some(0) {
            let msg = "store options: retention_days must be >= 1 (or unset to keep everything)";
            return Err(Error::Config(msg.into()));
        }
        crate::hybrid::layout::refuse_in_tantivy(&dir)?;
        let (index_dir, wal_dir) = (dir.join("index"), dir.join("wal"));
        std::fs::create_dir_all(&index_dir)?;
        std::fs::create_dir_all(&wal_dir)?;
        let (schema, fields) = Fields::build();
        let settings = IndexSettings {
            docstore_compression: Compressor::Zstd(ZstdCompressor::default()),
            docstore_blocksize: DOCSTORE_BLOCK,
            ..IndexSettings::default()
        };
        let mmap = MmapDirectory::open(&index_dir)
            .map_err(|e| Error::Backend(format!("{}: {e}", index_dir.display())))?;
        let mut index = Index::builder().schema(schema).settings(settings).open_or_create(mmap).map_err(|e| match e {
            TantivyError::SchemaError(_) => Error::Config(format!(
                "the index in {} was written by an incompatible version (schema differs); move it away to start afresh",
                index_dir.display()
            )),
            other => backend(other),
        })?;
        // Searches and stats visit segments on one thread per core (at 10M
        // records a single thread made stats with a histogram 4x too slow).
        index.set_default_multithread_executor().map_err(backend)?;
        let (writer, reader, committed) = open_writer(&index, &dir, &options, "index")?;
        let analyzer = index.tokenizer_for_field(fields.message).map_err(backend)?;

        let shared = Arc::new(Shared::default());
        let (wal_tx, wal_rx) = mpsc::channel(WAL_QUEUE);
        let (tail, publisher) = Tail::new(TAIL_CAPACITY);
        let env = IndexerEnv {
            wal_dir: wal_dir.clone(),
            interval: Duration::from_millis(options.refresh_interval_ms),
            min_interval: Duration::from_millis(options.min_refresh_interval_ms),
            tail: publisher,
            shared: shared.clone(),
            retention_days: options.retention_days,
            tenant_retention: options.tenant_retention.clone(),
            wal: wal_tx.downgrade(),
        };
        let seen = seen::SeenIds::from_index(&reader.searcher(), schema::ID_LOW)?;
        let mut indexer = Indexer::new(writer, reader.clone(), fields, committed, seen, env);
        let wal_next = wal::replay(&wal_dir, |seq, records| {
            indexer.add(seq, records, std::time::Instant::now())?;
            indexer.replay_checkpoint()
        })?;
        indexer.commit()?;
        let next_seq = wal_next.max(indexer.committed_seq() + 1);
        let wal = Wal::create(&wal_dir, next_seq, wal::SEGMENT_BYTES)?;
        wal::remove_covered(&wal_dir, indexer.committed_seq())?;
        if let Some(done) = indexer.retain(retention::now_ms())? {
            indexer.finish_in_background(done.merges);
        }

        let (index_tx, index_rx) = pipeline::index_queue(INDEX_QUEUE);
        let s = shared.clone();
        let threads = vec![
            pipeline::spawn("loglens-wal", &shared, move || {
                pipeline::run_wal(wal, wal_rx, index_tx, s)
            })?,
            pipeline::spawn("loglens-indexer", &shared, move || indexer.run(index_rx))?,
        ];
        Ok(TantivyStore {
            dir,
            fields,
            reader,
            analyzer,
            pipeline: pipeline::Handle::new(wal_tx, shared, threads, tail),
            stats_cache: Arc::new(stats::StatsCache::new(options.stats_cache_bytes)),
        })
    }

    /// Simulates a crash (`kill -9`) for tests: stops background work
    /// without committing, so acknowledged records not yet committed are
    /// only in the WAL, to be replayed by the next `open`. Releases the
    /// directory; later calls fail with `Error::Closed`.
    pub async fn abort(&self) -> Result<()> {
        self.pipeline.stop(false).await
    }

    /// Runs a retention pass now, as if the wall clock read `now_ms` (ms
    /// since the epoch), after every `index()` that already returned; waits
    /// for the merges it starts, so the space is free when it returns.
    /// `None` when neither `retention_days` nor any tenant override is set.
    pub async fn apply_retention(&self, now_ms: i64) -> Result<Option<RetentionReport>> {
        self.pipeline.check()?;
        let Some(done) = self.pipeline.retention(now_ms).await? else {
            return Ok(None);
        };
        for merge in done.merges {
            if let Err(e) = merge.await {
                debug!(error = %e, "retention merge did not run");
            }
        }
        let reader = self.reader.clone();
        blocking(move || reader.reload().map_err(backend)).await?;
        Ok(Some(done.report))
    }

    /// Segments whose stats were answered from the per-segment cache since
    /// the store opened (each stats request counts every segment it reused).
    pub fn stats_cache_hits(&self) -> u64 {
        self.stats_cache.hits()
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl LogStore for TantivyStore {
    async fn index(&self, records: Vec<LogRecord>) -> Result<Vec<Refused>> {
        self.pipeline.check()?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        self.pipeline.control(|ack| WalMsg::Append { records, derived: false, ack }).await?;
        Ok(Vec::new())
    }

    async fn search(&self, request: &SearchRequest) -> Result<SearchResult> {
        self.pipeline.check()?;
        let (searcher, fields, analyzer, request) =
            (self.reader.searcher(), self.fields, self.analyzer.clone(), request.clone());
        blocking(move || query::search(&searcher, &fields, analyzer, &request)).await
    }

    async fn stats(&self, request: &StatsRequest) -> Result<Stats> {
        self.pipeline.check()?;
        let (searcher, fields, analyzer, request) =
            (self.reader.searcher(), self.fields, self.analyzer.clone(), request.clone());
        let cache = Arc::clone(&self.stats_cache);
        blocking(move || stats::stats(&searcher, &fields, analyzer, &request, &cache)).await
    }

    fn subscribe(&self) -> broadcast::Receiver<Committed> {
        self.pipeline.subscribe()
    }

    async fn health(&self) -> Health {
        if let Some(trouble) = self.pipeline.trouble() {
            return trouble;
        }
        let probe = self.dir.join("wal").join(".health-probe");
        let writable = blocking(move || {
            std::fs::write(&probe, b"ok")?;
            std::fs::remove_file(&probe)?;
            Ok(())
        })
        .await;
        if let Err(e) = writable {
            let detail = format!("store directory {} is not writable: {e}", self.dir.display());
            return Health { healthy: false, detail };
        }
        Health { healthy: true, detail: format!("{} documents", self.reader.searcher().num_docs()) }
    }

    async fn refresh(&self) -> Result<()> {
        self.pipeline.check()?;
        self.pipeline.control(|ack| WalMsg::Flush { ack }).await
    }

    async fn close(&self) -> Result<()> {
        self.pipeline.stop(true).await
    }

    fn backend(&self) -> &'static str {
        "tantivy"
    }

    async fn usage(&self) -> crate::Usage {
        let documents = self.reader.searcher().num_docs();
        let dir = self.dir.clone();
        let disk_bytes = blocking(move || Ok(dir_size(&dir))).await.ok();
        crate::Usage { documents: Some(documents), disk_bytes }
    }
}

/// Bytes of the files under `dir`, recursively; unreadable entries count 0
/// (files come and go while segments merge).
pub(crate) fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
