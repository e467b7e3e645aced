//! The hybrid store's write path: [`Engine`] takes batches, makes them
//! durable, cuts blocks, keeps the postings and publishes the [`Snapshot`]
//! reads use. The directory's layout is in `layout`.
//!
//! # Durability
//!
//! As in the Tantivy store (whose WAL thread this is): `index()` returns
//! once its batch is fsynced in the write-ahead log, which numbers every
//! record with the next sequence number. The indexer thread (`indexer`)
//! then appends each record to the open block in memory and adds its
//! postings document. At [`BLOCK_ROWS`] records the open block is encoded
//! and written (temporary file, fsync, rename, fsync of the directory);
//! cuts fall every [`BLOCK_ROWS`] sequence numbers, and the WAL starts a
//! segment where a group reaches into the next block, so that the segments
//! wholly below a sealed block can be deleted.
//!
//! A refresh (while records wait, on the Tantivy store's schedule:
//! every `min_refresh_interval_ms` at light load, `refresh_interval_ms` at
//! heavy load, see `shared::refresh`; on [`Engine::refresh`] and on
//! [`Engine::close`]) appends the rows deleted
//! since the last one to `deleted` (fsync), commits the postings with the
//! last sequence number added as payload, publishes a snapshot (the sealed
//! blocks, the open block's records, the reloaded postings, the deleted
//! rows) and deletes the WAL segments wholly below both the open block and
//! the commit.
//!
//! # Upsert
//!
//! By [`LogRecord::id`] through its [`IdKey`](crate::tantivy::schema::IdKey),
//! as in the Tantivy store (76 bits of the id; two ids that agree on them
//! are taken for one). An id the bloom of seen ids has never had is new;
//! otherwise its newest row is looked up in a map of the open block's and
//! the uncommitted records' ids, else in the committed postings (for a
//! whole batch at once: one pass per segment over the ids' buckets and the
//! `seq` column). That row is marked deleted and its postings document
//! deleted (one query per batch); within a batch, the later record wins and
//! the earlier ones get no document.
//!
//! # Recovery
//!
//! At open every block file is mapped and its header parsed and checked
//! (the process keeps headers and filters; the kernel's page cache keeps
//! the columns that are read). A damaged or misplaced block file whose
//! records the WAL still holds is removed, with every later one, and
//! rebuilt by the replay; one the WAL no longer holds is an error naming
//! the file. Then the deleted rows are loaded, the postings opened (their
//! commit payload is the last sequence number they hold) and the WAL
//! replayed: records from the open block's first on rebuild the open block
//! (cutting blocks again as it fills), records past the commit get their
//! postings again with the upsert. Everything acknowledged before a crash
//! is then in [`Engine::snapshot`]. A gap in the WAL's numbering (a
//! segment set aside as corrupt) is an error: blocks cannot have holes.
//!
//! # Retention
//!
//! As on the Tantivy store: whole UTC days past `retention_days` (or a
//! tenant's override, read afresh by each pass) are removed by a pass at
//! open, after the replay, and then hourly on the indexer thread;
//! [`Engine::apply_retention`] runs one at a given clock. The blocks from
//! the oldest on whose rows are all gone are dropped whole (file and
//! postings), leaving the store's *floor* (`layout`) at the first row it
//! still holds; in the other blocks and the open block the expired rows
//! are marked deleted, as an upsert marks replaced rows. The indexer's
//! `retain` gives the order of writes that makes a crash at any point
//! safe; open finishes what a crash left (`layout::load_blocks`,
//! `Indexer::reconcile`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use loglens_core::{LogRecord, Normalized};
use parking_lot::RwLock;
use tantivy::directory::MmapDirectory;
use tantivy::{Index, TantivyError};
use tokio::sync::{broadcast, mpsc};

use super::deleted::DeletedLog;
use super::frames::FrameCache;
pub use super::indexer::BLOCK_ROWS;
use super::indexer::{Indexer, IndexerEnv, Recovered};
use super::layout;
use super::postings::{ID_LOW32, PostingsFields};
use super::snapshot::Snapshot;
use crate::shared::tail::Tail;
use crate::tantivy::pipeline::{self, Shared, WalMsg};
use crate::tantivy::retention::{RetentionReport, now_ms};
use crate::tantivy::seen::SeenIds;
use crate::tantivy::wal::{self, Wal};
use crate::tantivy::{backend, blocking, dir_size, open_writer};
use crate::{Committed, Error, Health, Result, StoreOptions, Usage};

/// `index()` calls queued for the WAL writer before callers wait.
const WAL_QUEUE: usize = 32;
/// Groups queued between the WAL writer and the indexer.
const INDEX_QUEUE: usize = 2;
/// Committed batches a slow `subscribe()`r may fall behind before it lags.
const TAIL_CAPACITY: usize = 1024;

/// The hybrid store's write path and the source of its read snapshots.
/// Open with [`Engine::open`]; see the module documentation for the
/// guarantees.
pub struct Engine {
    dir: PathBuf,
    /// The latest snapshot, replaced by the indexer at each commit.
    published: Arc<RwLock<Snapshot>>,
    pipeline: pipeline::Handle,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens the hybrid store in `dir`, creating it if missing, recovers
    /// from a crash (see the module docs) and starts the WAL and indexer
    /// threads. Blocks while it reads the blocks and replays the log: call
    /// it off the async runtime's workers. A Tantivy store's directory, a
    /// directory another store holds and out-of-range options are an
    /// `Error::Config`.
    pub fn open(dir: &Path, options: &StoreOptions) -> Result<Engine> {
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
        layout::claim(dir)?;
        let (wal_dir, postings_dir, blocks_dir) =
            (dir.join("wal"), dir.join("postings"), dir.join("blocks"));
        for d in [&wal_dir, &postings_dir, &blocks_dir] {
            std::fs::create_dir_all(d)?;
        }

        let (schema, fields) = PostingsFields::build();
        let mmap = MmapDirectory::open(&postings_dir)
            .map_err(|e| Error::Backend(format!("{}: {e}", postings_dir.display())))?;
        let mut index = Index::open_or_create(mmap, schema).map_err(|e| match e {
            // Since 2026-12-03 the postings hold service, host and tag
            // terms the planner trusts: postings without them would
            // answer those filters wrongly, so they are never opened.
            TantivyError::SchemaError(_) => Error::Config(format!(
                "the postings in {} were written by an incompatible version (schema differs): \
                 open {} with the version that wrote it, or move it away and ingest its records again",
                postings_dir.display(),
                dir.display()
            )),
            other => backend(other),
        })?;
        // Stats count blocks on the postings' search threads, one per core.
        index.set_default_multithread_executor().map_err(backend)?;
        let (writer, reader, committed) = open_writer(&index, dir, options, "postings")?;

        let floor = layout::read_floor(dir)?;
        let frames = Arc::new(FrameCache::new(options.block_cache_bytes));
        let blocks = layout::load_blocks(&blocks_dir, floor, wal::oldest(&wal_dir)?, &frames)?;
        let (mut deleted_log, mut deleted) = DeletedLog::open(&dir.join("deleted"))?;
        deleted_log.forget_below(&mut deleted, floor)?;
        let seen = SeenIds::from_index(&reader.searcher(), ID_LOW32)?;
        let shared = Arc::new(Shared::default());
        let (wal_tx, wal_rx) = mpsc::channel(WAL_QUEUE);
        let (tail, publisher) = Tail::new(TAIL_CAPACITY);
        let env = IndexerEnv {
            dir: dir.to_owned(),
            wal_dir: wal_dir.clone(),
            blocks_dir,
            frames,
            interval: Duration::from_millis(options.refresh_interval_ms),
            min_interval: Duration::from_millis(options.min_refresh_interval_ms),
            tail: publisher,
            shared: shared.clone(),
            retention_days: options.retention_days,
            tenant_retention: options.tenant_retention.clone(),
            wal: wal_tx.downgrade(),
        };
        let recovered = Recovered { floor, blocks, deleted, deleted_log, committed };
        let mut indexer = Indexer::new(writer, reader, fields, seen, recovered, env);
        let wal_end = wal::replay(&wal_dir, |seq, records| {
            indexer.add(seq, records, &[])?;
            indexer.replay_checkpoint()
        })?;
        let end = indexer.end_seq();
        if wal_end > end {
            return Err(Error::Backend(format!(
                "the write-ahead log numbers records up to {} but holds them only up to {}",
                wal_end - 1,
                end - 1
            )));
        }
        if indexer.committed() >= end {
            return Err(Error::Backend(format!(
                "the postings hold records up to {} but the blocks and the write-ahead log only up to {}",
                indexer.committed(),
                end - 1
            )));
        }
        indexer.reconcile()?;
        indexer.commit()?;
        indexer.publish();
        let wal = Wal::create(&wal_dir, end, wal::SEGMENT_BYTES)?
            .roll_at_blocks(indexer.open_first(), BLOCK_ROWS as u64);
        indexer.trim_wal();
        // After the replay, so that a replayed record of an expired day is
        // removed again rather than brought back.
        indexer.retain(now_ms())?;
        let published = indexer.published();

        let (index_tx, index_rx) = pipeline::index_queue(INDEX_QUEUE);
        let s = shared.clone();
        let threads = vec![
            pipeline::spawn("loglens-hwal", &shared, move || {
                pipeline::run_wal(wal, wal_rx, index_tx, s)
            })?,
            pipeline::spawn("loglens-hindex", &shared, move || indexer.run(index_rx))?,
        ];
        let pipeline = pipeline::Handle::new(wal_tx, shared, threads, tail);
        Ok(Engine { dir: dir.to_owned(), published, pipeline })
    }

    /// Durably stores a batch, upserting by id: returns once it is in the
    /// write-ahead log (a crash after that loses none of it). It is in
    /// [`Engine::snapshot`] after the next refresh. An error does not prove
    /// the batch was not stored; retrying is safe.
    pub async fn index(&self, records: Vec<LogRecord>) -> Result<()> {
        self.append(records, false).await
    }

    /// [`Engine::index`] of records whose ids are their content's, which
    /// the seal then takes as given ([`Normalized`]).
    pub async fn index_normalized(&self, batch: Normalized) -> Result<()> {
        self.append(batch.into_records(), true).await
    }

    /// Hands `records` to the WAL writer; `derived`: every id is its
    /// record's content's.
    async fn append(&self, records: Vec<LogRecord>, derived: bool) -> Result<()> {
        self.pipeline.check()?;
        if records.is_empty() {
            return Ok(());
        }
        self.pipeline.control(|ack| WalMsg::Append { records, derived, ack }).await
    }

    /// Runs a retention pass now, as if the wall clock read `now_ms` (ms
    /// since the epoch), after every `index()` that already returned (see
    /// the indexer's `retain` for what it removes and in which order).
    /// `None` when neither `retention_days` nor any tenant override is set.
    pub async fn apply_retention(&self, now_ms: i64) -> Result<Option<RetentionReport>> {
        let done = self.pipeline.retention(now_ms).await?;
        Ok(done.map(|done| done.report))
    }

    /// Makes everything indexed so far part of the snapshot now.
    pub async fn refresh(&self) -> Result<()> {
        self.pipeline.check()?;
        self.pipeline.control(|ack| WalMsg::Flush { ack }).await
    }

    /// The latest published snapshot: cheap (a few reference counts).
    pub fn snapshot(&self) -> Snapshot {
        self.published.read().clone()
    }

    /// Batches of records as they become part of the snapshot, in commit
    /// order (as the Tantivy store's tail).
    pub fn subscribe(&self) -> broadcast::Receiver<Committed> {
        self.pipeline.subscribe()
    }

    /// Commits what was indexed (the open block stays open: the
    /// write-ahead log keeps its records) and stops the threads; later
    /// calls fail with `Error::Closed`.
    pub async fn close(&self) -> Result<()> {
        self.pipeline.stop(true).await
    }

    /// Simulates a crash (`kill -9`) for tests: stops the threads without
    /// committing or writing the deleted rows, so what was acknowledged
    /// since the last refresh is only in the write-ahead log (and in any
    /// block file cut since), for the next `open` to recover. Releases the
    /// directory; later calls fail with `Error::Closed`.
    pub async fn abort(&self) -> Result<()> {
        self.pipeline.stop(false).await
    }

    /// Live records (postings documents) and bytes on disk.
    pub async fn usage(&self) -> Usage {
        let documents = self.snapshot().postings.num_docs();
        let dir = self.dir.clone();
        let disk_bytes = blocking(move || Ok(dir_size(&dir))).await.ok();
        Usage { documents: Some(documents), disk_bytes }
    }

    /// Whether the engine can serve, and why not.
    pub async fn health(&self) -> Health {
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
            let dir = self.dir.display();
            let detail = format!("store directory {dir} is not writable: {e}");
            return Health { healthy: false, detail };
        }
        let documents = self.snapshot().postings.num_docs();
        Health { healthy: true, detail: format!("{documents} documents") }
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use loglens_core::{Filter, LogRecord, Normalized, RawLog, RuleSet, SearchRequest, Sort};
    use roaring::RoaringTreemap;

    use super::*;
    use crate::hybrid::postings::{id_part, is_id_word, message_analyzer};
    use crate::hybrid::snapshot::Place;
    use crate::hybrid::testing::bare;
    use crate::hybrid::{Field, encode, read};
    use crate::tantivy::id_query::IdsQuery;
    use crate::tantivy::schema::{IdKey, SEQ, id_key};

    const T0: i64 = 1_767_225_600_000;

    fn record(id: &str, i: usize, version: &str) -> LogRecord {
        let message = format!("request {i} served {version}");
        let tenant = loglens_core::tenant::default_name();
        LogRecord {
            service_name: format!("svc-{}", i % 3),
            user_id: Some(format!("user-{}", i % 17)),
            response_time_ms: Some(i as f64 / 4.0),
            tags: vec!["edge".into()],
            ingested_at: T0,
            ..bare(id.to_owned(), T0 + i as i64, message, &tenant)
        }
    }

    /// Records `client-{i}` for `i` in `range`, all of `version`.
    fn clients(range: std::ops::Range<usize>, version: &str) -> Vec<LogRecord> {
        range.map(|i| record(&format!("client-{i}"), i, version)).collect()
    }

    fn options() -> StoreOptions {
        StoreOptions {
            // Only the tests refresh.
            refresh_interval_ms: 3_600_000,
            min_refresh_interval_ms: 0,
            indexing_threads: 1,
            indexing_memory_bytes: 20 << 20,
            ..StoreOptions::default()
        }
    }

    /// Indexes `records` in batches of `batch`, remembering them in `sent`
    /// (whose position + 1 is each one's sequence number).
    async fn send(
        engine: &Engine,
        sent: &mut Vec<LogRecord>,
        records: Vec<LogRecord>,
        batch: usize,
    ) {
        for chunk in records.chunks(batch) {
            engine.index(chunk.to_vec()).await.unwrap();
            sent.extend_from_slice(chunk);
        }
    }

    /// Every live record of `snap` by sequence number, found through
    /// `locate` (each block decoded once).
    fn live(snap: &Snapshot) -> BTreeMap<u64, LogRecord> {
        let decoded: Vec<Vec<LogRecord>> =
            snap.blocks.iter().map(|b| b.all_records().unwrap()).collect();
        let first = snap.blocks.first().map_or(snap.open.first_seq, |b| b.header().first_seq);
        (first..snap.end_seq())
            .filter(|seq| !snap.deleted.contains(*seq))
            .map(|seq| match snap.locate(seq).expect("every seq in range is held") {
                Place::Block(b, row) => {
                    let i = snap.blocks.iter().position(|x| Arc::ptr_eq(x, b)).unwrap();
                    (seq, decoded[i][row].clone())
                }
                Place::Open(r) => (seq, r.clone()),
            })
            .collect()
    }

    /// The `seq` of every live postings document, sorted.
    fn postings_seqs(snap: &Snapshot) -> Vec<u64> {
        let mut seqs = Vec::new();
        for segment in snap.postings.segment_readers() {
            let column = segment.fast_fields().u64(SEQ).unwrap();
            for doc in 0..segment.max_doc() {
                if segment.alive_bitset().is_none_or(|a| a.is_alive(doc)) {
                    seqs.extend(column.first(doc));
                }
            }
        }
        seqs.sort_unstable();
        seqs
    }

    /// Checks that `snap` holds exactly what `sent` leaves after upserts
    /// (`sent[i]` has sequence number `i + 1`): each id's last record live,
    /// every earlier one deleted, and postings for the live ones only.
    fn check(snap: &Snapshot, sent: &[LogRecord]) {
        check_retained(snap, sent, |_, _| false);
    }

    /// Each id's last record in `sent` with its sequence number.
    fn newest(sent: &[LogRecord]) -> BTreeMap<u64, &LogRecord> {
        let mut newest: HashMap<&str, u64> = HashMap::new();
        for (i, r) in sent.iter().enumerate() {
            newest.insert(&r.id, i as u64 + 1);
        }
        newest.into_values().map(|seq| (seq, &sent[seq as usize - 1])).collect()
    }

    /// As [`check`], but the records `gone` names (by sequence number and
    /// record) were removed by retention: an id whose last record is gone
    /// has no live row, and no row below the first block is held.
    fn check_retained(snap: &Snapshot, sent: &[LogRecord], gone: impl Fn(u64, &LogRecord) -> bool) {
        let want_live: BTreeMap<u64, LogRecord> = newest(sent)
            .into_iter()
            .filter(|(seq, r)| !gone(*seq, r))
            .map(|(seq, r)| (seq, r.clone()))
            .collect();
        let floor = snap.blocks.first().map_or(snap.open.first_seq, |b| b.header().first_seq);
        let want_deleted: RoaringTreemap =
            (floor..=sent.len() as u64).filter(|seq| !want_live.contains_key(seq)).collect();
        assert_eq!(snap.end_seq(), sent.len() as u64 + 1, "every record sent is held");
        assert_eq!(*snap.deleted, want_deleted, "deleted rows");
        let got = live(snap);
        assert_eq!(got.len(), want_live.len(), "live records");
        for (seq, want) in &want_live {
            assert_eq!(got.get(seq), Some(want), "seq {seq}");
        }
        assert_eq!(postings_seqs(snap), want_live.keys().copied().collect::<Vec<_>>());
        for b in snap.blocks.iter() {
            assert_eq!(b.rows(), BLOCK_ROWS, "block from {}", b.header().first_seq);
        }
        assert!(snap.open.records.len() < BLOCK_ROWS);
    }

    fn block_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("blocks"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "block"))
            .collect();
        files.sort();
        files
    }

    #[tokio::test]
    async fn every_record_is_held_once_in_blocks_of_4096() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), &options()).unwrap();
        let mut tail = engine.subscribe();
        let mut sent = Vec::new();
        send(&engine, &mut sent, clients(0..10_000, "v1"), 700).await;
        assert_eq!(engine.snapshot().end_seq(), 1, "nothing published before a refresh");
        engine.refresh().await.unwrap();
        let snap = engine.snapshot();
        check(&snap, &sent);
        assert_eq!(snap.blocks.len(), 2);
        assert_eq!(snap.blocks[0].header().first_seq, 1);
        assert_eq!(snap.open.first_seq, 1 + 2 * BLOCK_ROWS as u64);
        assert_eq!(snap.open.records.len(), 10_000 - 2 * BLOCK_ROWS);
        assert_eq!(snap.postings.num_docs(), 10_000);
        assert!(snap.deleted.is_empty());
        assert_eq!(block_files(dir.path()).len(), 2);
        let mut tailed = 0;
        while let Ok(batch) = tail.try_recv() {
            tailed += batch.len();
        }
        assert_eq!(tailed, 10_000, "the tail saw every record once");
        assert_eq!(engine.usage().await.documents, Some(10_000));
        assert!(engine.health().await.healthy);
        engine.close().await.unwrap();
        assert!(matches!(engine.index(clients(0..1, "v2")).await, Err(Error::Closed)));
        assert!(matches!(engine.close().await, Err(Error::Closed)));

        let engine = Engine::open(dir.path(), &options()).unwrap();
        check(&engine.snapshot(), &sent);
        engine.close().await.unwrap();
    }

    #[tokio::test]
    async fn an_upsert_leaves_one_live_row_the_later() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), &options()).unwrap();
        let mut sent = Vec::new();
        send(&engine, &mut sent, clients(0..10_000, "v1"), 1000).await;
        engine.refresh().await.unwrap();
        // Old rows in both sealed blocks (committed) and the open block,
        // one id twice in the batch, a new id twice in the batch.
        let mut again: Vec<LogRecord> = [5, 6, 4100, 8191, 8192, 9000, 9999]
            .into_iter()
            .map(|i| record(&format!("client-{i}"), i, "v2"))
            .collect();
        again.push(record("client-42", 42, "v2"));
        again.push(record("fresh", 1, "a"));
        again.push(record("client-42", 42, "v3"));
        again.push(record("fresh", 2, "b"));
        send(&engine, &mut sent, again, 100).await;
        // Before a refresh: the old rows are not in the committed postings.
        let twice = vec![record("client-5", 5, "v3"), record("client-9999", 9999, "v3")];
        send(&engine, &mut sent, twice, 100).await;
        // Enough to seal a block holding some of the upserts' old rows.
        send(&engine, &mut sent, clients(20_000..22_300, "v1"), 1000).await;
        send(&engine, &mut sent, vec![record("client-9000", 9000, "v3")], 1).await;
        engine.refresh().await.unwrap();
        let snap = engine.snapshot();
        check(&snap, &sent);
        assert_eq!(snap.deleted.len(), 13);
        assert_eq!(snap.blocks.len(), 3);
        // The postings find each upserted id once, at its live row.
        let searcher = &snap.postings;
        let fields = PostingsFields::build().1;
        for id in ["client-5", "client-42", "client-9000", "client-9999", "fresh"] {
            let key = id_key(id);
            let query = IdsQuery::new(fields.id_bucket, ID_LOW32, [(key.bucket, id_part(key))]);
            let count = searcher.search(&query, &tantivy::collector::Count).unwrap();
            assert_eq!(count, 1, "{id}");
        }
        engine.close().await.unwrap();

        let engine = Engine::open(dir.path(), &options()).unwrap();
        check(&engine.snapshot(), &sent);
        engine.close().await.unwrap();
    }

    #[tokio::test]
    async fn ids_the_postings_cannot_tell_apart_are_upserted_apart() {
        // Three ids of one bucket and one `id_part`: the postings give each
        // the others' rows as candidates, and only their records tell them
        // apart.
        let ids = ["00f00000000000a1aaaaaaaa00000001", "00f00000000000a2aaaaaaaa00000002"];
        let twin = "00f00000000000a3aaaaaaaa00000003";
        let keys: Vec<IdKey> = ids.iter().chain([&twin]).map(|id| id_key(id)).collect();
        assert!(keys.iter().all(|k| k.bucket == keys[0].bucket && id_part(*k) == id_part(keys[0])));
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), &options()).unwrap();
        let mut sent = Vec::new();
        let first: Vec<LogRecord> =
            ids.iter().enumerate().map(|(i, id)| record(id, i, "v1")).collect();
        send(&engine, &mut sent, first, 10).await;
        // One sealed block behind them, then reopened: the lookup goes to
        // the committed postings and to the block, not to recent ids.
        send(&engine, &mut sent, clients(0..BLOCK_ROWS, "v1"), 1000).await;
        engine.close().await.unwrap();
        let engine = Engine::open(dir.path(), &options()).unwrap();
        assert_eq!(engine.snapshot().blocks.len(), 1);
        // A new id sharing their 44 bits replaces neither; an upsert of the
        // second replaces it alone.
        send(&engine, &mut sent, vec![record(twin, 7, "v1")], 1).await;
        send(&engine, &mut sent, vec![record(ids[1], 8, "v2")], 1).await;
        engine.refresh().await.unwrap();
        check(&engine.snapshot(), &sent);
        assert_eq!(*engine.snapshot().deleted, RoaringTreemap::from_iter([2]));
        engine.close().await.unwrap();
        let engine = Engine::open(dir.path(), &options()).unwrap();
        check(&engine.snapshot(), &sent);
        engine.close().await.unwrap();
    }

    #[tokio::test]
    async fn normalized_batches_keep_their_ids_through_the_seal_and_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), &options()).unwrap();
        let mut sent = Vec::new();
        for part in 0..5 {
            let raws = (0..1000)
                .map(|i| {
                    let json = format!(
                        r#"{{"timestamp":{},"service_name":"svc-{}","message":"normal {part} {i}"}}"#,
                        T0 + i,
                        i % 3
                    );
                    RawLog::from_json(json.as_bytes()).unwrap()
                })
                .collect();
            let (mut batch, rejected) = Normalized::of(raws, 0, T0, &RuleSet::default());
            assert!(rejected.is_empty());
            if part % 2 == 1 {
                batch.assign_tenant("acme");
            }
            sent.extend_from_slice(batch.records());
            engine.index_normalized(batch).await.unwrap();
            // Between them, records whose ids are a sender's own.
            send(&engine, &mut sent, clients(part * 100..part * 100 + 100, "v1"), 30).await;
        }
        engine.refresh().await.unwrap();
        assert!(!engine.snapshot().blocks.is_empty(), "a block was sealed");
        check(&engine.snapshot(), &sent);
        engine.close().await.unwrap();
        let engine = Engine::open(dir.path(), &options()).unwrap();
        check(&engine.snapshot(), &sent);
        engine.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_crash_loses_and_duplicates_nothing_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), &options()).unwrap();
        let mut sent = Vec::new();
        send(&engine, &mut sent, clients(0..6_000, "v1"), 1000).await;
        engine.refresh().await.unwrap();
        send(&engine, &mut sent, clients(6_000..9_000, "v1"), 1000).await;
        // Upserts of committed and of uncommitted rows, never refreshed.
        let again = [10, 5000, 5001, 7000, 8500]
            .into_iter()
            .map(|i| record(&format!("client-{i}"), i, "v2"))
            .collect();
        send(&engine, &mut sent, again, 2).await;
        engine.abort().await.unwrap();

        let engine = Engine::open(dir.path(), &options()).unwrap();
        check(&engine.snapshot(), &sent);
        // Numbering goes on where it stopped.
        send(&engine, &mut sent, clients(9_000..9_100, "v1"), 50).await;
        send(&engine, &mut sent, vec![record("client-7000", 7000, "v3")], 1).await;
        engine.refresh().await.unwrap();
        check(&engine.snapshot(), &sent);
        engine.abort().await.unwrap();

        let engine = Engine::open(dir.path(), &options()).unwrap();
        check(&engine.snapshot(), &sent);
        engine.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_torn_block_file_is_rebuilt_while_the_log_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), &options()).unwrap();
        let mut sent = Vec::new();
        send(&engine, &mut sent, clients(0..5_000, "v1"), 1000).await;
        engine.refresh().await.unwrap();
        send(&engine, &mut sent, clients(5_000..10_000, "v1"), 1000).await;
        engine.abort().await.unwrap();
        let files = block_files(dir.path());
        assert_eq!(files.len(), 2);
        let whole = std::fs::read(&files[1]).unwrap();
        std::fs::write(&files[1], &whole[..whole.len() / 2]).unwrap();

        let engine = Engine::open(dir.path(), &options()).unwrap();
        check(&engine.snapshot(), &sent);
        assert_eq!(std::fs::read(&files[1]).unwrap(), whole, "written again, the same");
        engine.refresh().await.unwrap();
        engine.close().await.unwrap();

        // The first block's records are no longer in the log.
        let whole = std::fs::read(&files[0]).unwrap();
        std::fs::write(&files[0], &whole[..whole.len() - 1]).unwrap();
        let err = Engine::open(dir.path(), &options()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&files[0].display().to_string()), "{msg}");
        assert!(msg.contains("no longer holds"), "{msg}");
    }

    /// The id-like word [`referenced`] puts in the message of record `i`
    /// of `version`.
    fn reference(i: usize, version: &str) -> String {
        format!("ref{version}x{i:08}")
    }

    /// As [`record`], with an id-like word ([`reference`]) in its message,
    /// which its block's filter holds instead of the postings.
    fn referenced(id: &str, i: usize, version: &str) -> LogRecord {
        let r = record(id, i, version);
        LogRecord { message: format!("{} {}", r.message, reference(i, version)), ..r }
    }

    /// The ids of the records a search for `word` finds in `snap`.
    fn found(snap: &Snapshot, word: &str) -> Vec<String> {
        let filter = Filter { query: Some(word.to_owned()), ..Filter::default() };
        let req =
            SearchRequest { filter, sort: Sort::NewestFirst, page: 1, size: 100, cursor: None };
        let result = read::search(snap, &mut message_analyzer(), &req).unwrap();
        result.logs.into_iter().map(|r| r.id).collect()
    }

    /// Checks that each sealed block of `snap` is what `encode` writes of
    /// its records in `sent` (`sent[i]` has sequence number `i + 1`), so
    /// its filter holds the id-like words of every row, live or not.
    fn check_sealed(snap: &Snapshot, sent: &[LogRecord]) {
        for b in snap.blocks.iter() {
            let first = b.header().first_seq;
            let rows = &sent[first as usize - 1..][..b.rows()];
            assert!(b.bytes() == encode(first, rows).unwrap(), "block {first}");
            for word in rows.iter().flat_map(|r| r.message.split(' ')).filter(|w| is_id_word(w)) {
                assert!(b.may_contain(Field::Word, word), "{word} in block {first}");
            }
        }
    }

    #[tokio::test]
    async fn replayed_and_replaced_records_keep_their_id_like_words_in_the_filters() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), &options()).unwrap();
        let mut sent = Vec::new();
        let v1 = |range: std::ops::Range<usize>| -> Vec<LogRecord> {
            range.map(|i| referenced(&format!("client-{i}"), i, "v1")).collect()
        };
        send(&engine, &mut sent, v1(0..3_000), 1000).await;
        // The postings committed, the open block not sealed yet: after the
        // crash these are replayed into the open block with no document.
        engine.refresh().await.unwrap();
        // Ids twice in one batch: the earlier record gets no document.
        let twice = vec![
            referenced("client-10", 10, "v2"),
            referenced("client-10", 10, "v3"),
            referenced("fresh", 1, "a"),
            referenced("fresh", 2, "b"),
        ];
        send(&engine, &mut sent, twice, 100).await;
        engine.abort().await.unwrap();

        let engine = Engine::open(dir.path(), &options()).unwrap();
        check(&engine.snapshot(), &sent);
        // Ids twice in one batch again, live, and enough to seal the block.
        let twice = vec![referenced("client-20", 20, "v2"), referenced("client-20", 20, "v3")];
        send(&engine, &mut sent, twice, 100).await;
        send(&engine, &mut sent, v1(3_000..5_000), 1000).await;
        engine.refresh().await.unwrap();
        let snap = engine.snapshot();
        check(&snap, &sent);
        assert_eq!(snap.blocks.len(), 1);
        check_sealed(&snap, &sent);
        // Replayed from the log, in the sealed block.
        assert_eq!(found(&snap, &reference(7, "v1")), ["client-7"]);
        assert_eq!(found(&snap, &reference(2_999, "v1")), ["client-2999"]);
        assert_eq!(found(&snap, &reference(10, "v3")), ["client-10"]);
        assert_eq!(found(&snap, &reference(20, "v3")), ["client-20"]);
        assert_eq!(found(&snap, &reference(2, "b")), ["fresh"]);
        assert!(found(&snap, &reference(10, "v1")).is_empty(), "replaced");
        // A block sealed whose records the postings do not hold yet: after
        // the crash they are replayed into the postings alone, and the
        // next block's filter gets none of their words.
        send(&engine, &mut sent, v1(5_000..9_000), 1000).await;
        engine.abort().await.unwrap();

        let engine = Engine::open(dir.path(), &options()).unwrap();
        send(&engine, &mut sent, v1(9_000..12_500), 1000).await;
        engine.refresh().await.unwrap();
        let snap = engine.snapshot();
        check(&snap, &sent);
        assert_eq!(snap.blocks.len(), 3);
        check_sealed(&snap, &sent);
        assert_eq!(found(&snap, &reference(7_000, "v1")), ["client-7000"]);
        assert_eq!(found(&snap, &reference(8_500, "v1")), ["client-8500"]);
        engine.close().await.unwrap();

        let engine = Engine::open(dir.path(), &options()).unwrap();
        let snap = engine.snapshot();
        check(&snap, &sent);
        check_sealed(&snap, &sent);
        assert_eq!(found(&snap, &reference(7, "v1")), ["client-7"]);
        engine.close().await.unwrap();
    }

    #[tokio::test]
    async fn records_are_published_at_the_refresh_interval_without_a_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions { refresh_interval_ms: 50, ..options() };
        let engine = Engine::open(dir.path(), &options).unwrap();
        let mut sent = Vec::new();
        send(&engine, &mut sent, clients(0..5_000, "v1"), 500).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while engine.snapshot().end_seq() <= sent.len() as u64 {
            assert!(std::time::Instant::now() < deadline, "never published");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        check(&engine.snapshot(), &sent);
        engine.close().await.unwrap();
    }

    #[tokio::test]
    async fn each_backend_refuses_the_others_directory() {
        let dir = tempfile::tempdir().unwrap();
        let tantivy_dir = dir.path().join("tantivy");
        let store = crate::tantivy::TantivyStore::open(&tantivy_dir, options()).await.unwrap();
        crate::LogStore::close(&store).await.unwrap();
        let err = Engine::open(&tantivy_dir, &options()).unwrap_err();
        let Error::Config(msg) = err else { panic!("want a config error, got {err:?}") };
        assert!(msg.contains(&format!("open it as tantivy://{}", tantivy_dir.display())), "{msg}");
        assert!(!tantivy_dir.join(layout::LAYOUT).exists(), "left as it was");

        let hybrid_dir = dir.path().join("hybrid");
        Engine::open(&hybrid_dir, &options()).unwrap().close().await.unwrap();
        let err = crate::tantivy::TantivyStore::open(&hybrid_dir, options()).await.unwrap_err();
        let Error::Config(msg) = err else { panic!("want a config error, got {err:?}") };
        assert!(msg.contains(&format!("open it as hybrid://{}", hybrid_dir.display())), "{msg}");
        assert!(!hybrid_dir.join("index").exists(), "left as it was");
    }

    #[tokio::test]
    async fn postings_of_another_schema_are_refused_with_advice() {
        // Postings as written before 2026-12-03 (no service, host or tag
        // terms): filters on those would miss every record.
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), &options()).unwrap();
        engine.index(clients(0..BLOCK_ROWS + 10, "v1")).await.unwrap();
        engine.close().await.unwrap();
        let postings = dir.path().join("postings");
        std::fs::remove_dir_all(&postings).unwrap();
        std::fs::create_dir_all(&postings).unwrap();
        let mut old = tantivy::schema::Schema::builder();
        old.add_text_field("message", tantivy::schema::TEXT);
        old.add_u64_field("seq", tantivy::schema::FAST);
        old.add_u64_field("id_bucket", tantivy::schema::INDEXED);
        old.add_u64_field("id_low", tantivy::schema::FAST);
        let old = old.build();
        Index::create_in_dir(&postings, old.clone()).unwrap();
        let blocks = std::fs::read_dir(dir.path().join("blocks")).unwrap().count();

        let err = Engine::open(dir.path(), &options()).unwrap_err();
        let Error::Config(msg) = err else { panic!("want a config error, got {err:?}") };
        assert!(msg.contains(&postings.display().to_string()), "{msg}");
        assert!(msg.contains("schema differs") && msg.contains("move it away"), "{msg}");
        // Left as it was, and refused again on the next open.
        let index = Index::open_in_dir(&postings).unwrap();
        assert_eq!(index.schema(), old);
        assert_eq!(std::fs::read_dir(dir.path().join("blocks")).unwrap().count(), blocks);
        assert!(matches!(Engine::open(dir.path(), &options()), Err(Error::Config(_))));
    }

    #[tokio::test]
    async fn blocks_of_an_earlier_format_are_refused_with_advice() {
        // Blocks as written before version 4 read numbers another way (and
        // before version 3 have no id-like message words in their
        // filters, which the postings no longer hold). The write-ahead
        // log still holds them here, but the block is not rebuilt from it:
        // the whole store is of the earlier version.
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), &options()).unwrap();
        engine.index(clients(0..BLOCK_ROWS + 10, "v1")).await.unwrap();
        engine.close().await.unwrap();
        let blocks = dir.path().join("blocks");
        let files: Vec<PathBuf> =
            std::fs::read_dir(&blocks).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1);
        let mut bytes = std::fs::read(&files[0]).unwrap();
        bytes[4] = 3;
        std::fs::write(&files[0], &bytes).unwrap();

        let err = Engine::open(dir.path(), &options()).unwrap_err();
        let Error::Config(msg) = err else { panic!("want a config error, got {err:?}") };
        assert!(msg.contains(&blocks.display().to_string()), "{msg}");
        assert!(msg.contains(&format!("open {} with", dir.path().display())), "{msg}");
        assert!(msg.contains("version 3") && msg.contains("move it away"), "{msg}");
        // Left as it was, and refused again on the next open.
        assert_eq!(std::fs::read(&files[0]).unwrap(), bytes);
        assert!(matches!(Engine::open(dir.path(), &options()), Err(Error::Config(_))));
    }

    const DAY: i64 = crate::shared::DAY_MS;
    /// Noon of the tenth day after T0: with 3 days kept, day 0 is expired
    /// and day 10 is not.
    const NOW: i64 = T0 + 10 * DAY + DAY / 2;

    /// Record `client-{i}` of `tenant`, stamped on day `day` after T0.
    fn dated(i: usize, tenant: &str, day: i64) -> LogRecord {
        let mut r = record(&format!("client-{i}"), i, "v1");
        r.timestamp = T0 + day * DAY + i as i64;
        r.tenant = tenant.into();
        r
    }

    /// Record `i` of four sealed blocks and 1,000 open records of tenants
    /// "a" and "b", old (day 0) or new (day 10): block 0 all "a" and old,
    /// block 1 old of both tenants, block 2 all "a" and old, block 3 "a"
    /// with a third old, the open records of both with a fifth old.
    fn aging(i: usize) -> LogRecord {
        let either = if i.is_multiple_of(2) { "a" } else { "b" };
        let (tenant, old) = match i / BLOCK_ROWS {
            0 | 2 => ("a", true),
            1 => (either, true),
            3 => ("a", i.is_multiple_of(3)),
            _ => (either, i.is_multiple_of(5)),
        };
        dated(i, tenant, if old { 0 } else { 10 })
    }

    const AGING: usize = 4 * BLOCK_ROWS + 1000;

    /// Whether `r` is before day 5 and of a tenant in `tenants`.
    fn old_of(tenants: &[&str], r: &LogRecord) -> bool {
        r.timestamp < T0 + 5 * DAY && tenants.contains(&r.tenant.as_str())
    }

    /// Options whose retention is `tenants`' overrides only (none at open,
    /// so that no pass runs on the real clock).
    fn retaining(tenants: &crate::TenantRetention) -> StoreOptions {
        StoreOptions { tenant_retention: tenants.clone(), ..options() }
    }

    fn keep(tenants: &crate::TenantRetention, days: &[(&str, u32)]) {
        tenants.set(days.iter().map(|(t, d)| (t.to_string(), *d)).collect());
    }

    #[tokio::test]
    async fn retention_drops_whole_blocks_from_the_oldest_and_marks_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let tenants = crate::TenantRetention::default();
        let engine = Engine::open(dir.path(), &retaining(&tenants)).unwrap();
        let mut sent = Vec::new();
        send(&engine, &mut sent, (0..AGING).map(aging).collect(), 1000).await;
        engine.refresh().await.unwrap();
        assert!(engine.apply_retention(NOW).await.unwrap().is_none(), "no window is set");

        // "a" keeps 3 days, "b" 30: only "a"'s day 0 goes. Block 0 is
        // dropped; block 2, as old, is only marked: block 1 before it
        // keeps "b"'s rows.
        keep(&tenants, &[("a", 3), ("b", 30)]);
        let report = engine.apply_retention(NOW).await.unwrap().unwrap();
        let a_old = |_: u64, r: &LogRecord| old_of(&["a"], r);
        assert_eq!(report.removed, sent.iter().filter(|r| a_old(0, r)).count() as u64);
        assert_eq!(report.tenant_cutoffs["a"], T0 + 7 * DAY);
        assert_eq!((report.cutoff_ms, report.merged_segments), (None, 0));
        let snap = engine.snapshot();
        check_retained(&snap, &sent, a_old);
        assert_eq!(snap.blocks.len(), 3);
        assert_eq!(snap.blocks[0].header().first_seq, 1 + BLOCK_ROWS as u64);
        assert_eq!(block_files(dir.path()).len(), 3, "block 0's file is removed");
        let again = engine.apply_retention(NOW).await.unwrap().unwrap();
        assert_eq!(again.removed, 0, "nothing is left to remove");

        // Expired records sent again: one of the dropped block and one of
        // the marked block, now new, stay; one of the open block, still
        // old, is kept until the next pass.
        let upserts =
            vec![dated(5, "a", 10), dated(2 * BLOCK_ROWS + 7, "a", 10), dated(AGING - 10, "a", 0)];
        send(&engine, &mut sent, upserts, 10).await;
        engine.refresh().await.unwrap();
        let late = sent.len() as u64;
        check_retained(&engine.snapshot(), &sent, |seq, r| seq != late && a_old(seq, r));
        let report = engine.apply_retention(NOW).await.unwrap().unwrap();
        assert_eq!(report.removed, 1, "the late record");
        check_retained(&engine.snapshot(), &sent, a_old);

        // "b" down to 3 days: block 1 is all gone now, and block 2 was all
        // marked before: both are dropped; block 3 keeps new rows.
        keep(&tenants, &[("a", 3), ("b", 3)]);
        let b_live_old = newest(&sent).into_iter().filter(|(_, r)| old_of(&["b"], r)).count();
        let report = engine.apply_retention(NOW).await.unwrap().unwrap();
        assert_eq!(report.removed, b_live_old as u64);
        let both_old = |_: u64, r: &LogRecord| old_of(&["a", "b"], r);
        let snap = engine.snapshot();
        check_retained(&snap, &sent, both_old);
        assert_eq!(snap.blocks.len(), 1);
        assert_eq!(snap.blocks[0].header().first_seq, 1 + 3 * BLOCK_ROWS as u64);
        assert_eq!(block_files(dir.path()).len(), 1);
        engine.close().await.unwrap();

        // Reopened without any window: nothing comes back.
        let engine = Engine::open(dir.path(), &options()).unwrap();
        check_retained(&engine.snapshot(), &sent, both_old);
        // And numbering goes on past the dropped blocks.
        send(&engine, &mut sent, vec![dated(7, "a", 10)], 1).await;
        engine.abort().await.unwrap();
        let engine = Engine::open(dir.path(), &options()).unwrap();
        check_retained(&engine.snapshot(), &sent, both_old);
        engine.close().await.unwrap();
    }

    /// A retry storm: the same records sent three times. Each commit drops
    /// the oldest blocks whose every row a later copy replaced, so the
    /// store keeps about one copy's blocks, not three; reopened, it holds
    /// the same.
    #[tokio::test]
    async fn blocks_whose_rows_were_all_sent_again_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), &options()).unwrap();
        let n = 2 * BLOCK_ROWS + 100;
        let copy = |v: &str| (0..n).map(|i| record(&format!("client-{i}"), i, v)).collect();
        let mut sent = Vec::new();
        send(&engine, &mut sent, copy("v1"), 1000).await;
        engine.refresh().await.unwrap();
        assert_eq!(block_files(dir.path()).len(), 2);
        check(&engine.snapshot(), &sent);
        // The second copy replaces blocks 0 and 1 whole, and 100 rows of
        // the block after them (sealed with 3,996 of the second copy).
        send(&engine, &mut sent, copy("v2"), 1000).await;
        engine.refresh().await.unwrap();
        let snap = engine.snapshot();
        assert_eq!(snap.blocks[0].header().first_seq, 1 + 2 * BLOCK_ROWS as u64);
        assert_eq!(block_files(dir.path()).len(), 2, "blocks 0 and 1 are gone");
        check(&snap, &sent);
        // The third copy replaces blocks 2 and 3 whole (block 4 holds 200
        // rows of the second copy and 3,896 of the third).
        send(&engine, &mut sent, copy("v3"), 1000).await;
        engine.refresh().await.unwrap();
        let snap = engine.snapshot();
        assert_eq!(snap.blocks[0].header().first_seq, 1 + 4 * BLOCK_ROWS as u64);
        check(&snap, &sent);
        assert_eq!(snap.postings.num_docs(), n as u64, "a document per live row");
        let held = block_files(dir.path());
        engine.close().await.unwrap();

        let engine = Engine::open(dir.path(), &options()).unwrap();
        assert_eq!(block_files(dir.path()), held);
        check(&engine.snapshot(), &sent);
        // An id of a dropped block, sent again, is upserted as ever.
        send(&engine, &mut sent, vec![record("client-7", 7, "v4")], 1).await;
        engine.refresh().await.unwrap();
        check(&engine.snapshot(), &sent);
        engine.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_store_whose_blocks_all_expired_goes_on_from_its_open_block() {
        let dir = tempfile::tempdir().unwrap();
        let tenants = crate::TenantRetention::default();
        let engine = Engine::open(dir.path(), &retaining(&tenants)).unwrap();
        let mut sent = Vec::new();
        let old: Vec<LogRecord> = (0..2 * BLOCK_ROWS + 10).map(|i| dated(i, "a", 0)).collect();
        send(&engine, &mut sent, old, 1000).await;
        engine.refresh().await.unwrap();
        keep(&tenants, &[("a", 3)]);
        let report = engine.apply_retention(NOW).await.unwrap().unwrap();
        assert_eq!(report.removed, sent.len() as u64);
        let snap = engine.snapshot();
        assert!(snap.blocks.is_empty());
        assert_eq!(snap.open.first_seq, 1 + 2 * BLOCK_ROWS as u64, "the open block stays");
        check_retained(&snap, &sent, |_, r| old_of(&["a"], r));
        assert_eq!(snap.postings.num_docs(), 0);
        engine.close().await.unwrap();

        let engine = Engine::open(dir.path(), &options()).unwrap();
        check_retained(&engine.snapshot(), &sent, |_, r| old_of(&["a"], r));
        send(&engine, &mut sent, (5_000..9_100).map(|i| dated(i, "a", 10)).collect(), 1000).await;
        engine.refresh().await.unwrap();
        let snap = engine.snapshot();
        assert_eq!(snap.blocks[0].header().first_seq, 1 + 2 * BLOCK_ROWS as u64);
        check_retained(&snap, &sent, |_, r| old_of(&["a"], r));
        engine.close().await.unwrap();
    }

    /// Copies the directory tree `from` to `to`.
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }

    /// A crash between any two of a retention pass's writes (the indexer's
    /// `retain`: floor, deleted-rows log, postings commit, block files),
    /// made by putting together the store's files from before the pass and
    /// from after it: reopened, no live row is lost, the dropped blocks
    /// never come back once the floor is written, the marked rows never
    /// once the log is, and the postings agree with the blocks.
    #[tokio::test]
    async fn a_crash_at_any_step_of_a_retention_pass_is_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let (before, after) = (dir.path().join("before"), dir.path().join("after"));
        let tenants = crate::TenantRetention::default();
        let engine = Engine::open(&before, &retaining(&tenants)).unwrap();
        let mut sent = Vec::new();
        send(&engine, &mut sent, (0..AGING).map(aging).collect(), 1000).await;
        engine.close().await.unwrap();
        copy_dir(&before, &after);
        let engine = Engine::open(&after, &retaining(&tenants)).unwrap();
        keep(&tenants, &[("a", 3), ("b", 30)]);
        engine.apply_retention(NOW).await.unwrap().unwrap();
        engine.close().await.unwrap();

        // The pass's files in the order it writes them.
        let steps = ["floor", "deleted", "postings", "blocks"];
        for done in 0..=steps.len() {
            let crashed = dir.path().join(format!("crashed-after-{done}"));
            copy_dir(&before, &crashed);
            for (i, step) in steps.iter().enumerate().take(done) {
                let (from, to) = (after.join(step), crashed.join(step));
                if i == 0 {
                    std::fs::copy(&from, &to).unwrap();
                } else {
                    std::fs::remove_dir_all(&to).or_else(|_| std::fs::remove_file(&to)).unwrap();
                    if from.is_dir() {
                        copy_dir(&from, &to);
                    } else {
                        std::fs::copy(&from, &to).unwrap();
                    }
                }
            }
            let engine = Engine::open(&crashed, &options()).unwrap();
            let snap = engine.snapshot();
            let floor = 1 + BLOCK_ROWS as u64;
            match done {
                0 => check(&snap, &sent),
                1 => check_retained(&snap, &sent, |seq, _| seq < floor),
                _ => check_retained(&snap, &sent, |_, r| old_of(&["a"], r)),
            }
            let files = block_files(&crashed).len();
            assert_eq!(files, if done == 0 { 4 } else { 3 }, "after step {done}");
            engine.close().await.unwrap();
        }
    }

    #[tokio::test]
    async fn the_log_keeps_nothing_wholly_below_the_open_block() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), &options()).unwrap();
        let mut sent = Vec::new();
        send(&engine, &mut sent, clients(0..10_000, "v1"), 1000).await;
        engine.refresh().await.unwrap();
        let open_first = engine.snapshot().open.first_seq;
        engine.close().await.unwrap();
        let mut frames = Vec::new();
        wal::replay::<Error>(&dir.path().join("wal"), |seq, records| {
            frames.push((seq, records.len() as u64));
            Ok(())
        })
        .unwrap();
        assert!(!frames.is_empty());
        for &(seq, len) in &frames {
            assert!(seq + len > open_first, "frame {seq}+{len} is below {open_first}");
        }
        // And it still holds every record of the open block.
        let (first, _) = frames[0];
        assert!(first <= open_first);
        let end = frames.iter().map(|(s, l)| s + l).max().unwrap();
        assert_eq!(end, sent.len() as u64 + 1);
    }
}
