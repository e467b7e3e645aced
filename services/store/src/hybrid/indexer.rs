//! The hybrid store's indexer thread, behind the Tantivy store's WAL thread
//! (`tantivy::pipeline::run_wal`, which numbers, fsyncs and acknowledges
//! batches and hands them over in order).
//!
//! Each record goes to the open block (in memory) and its postings document
//! to the Tantivy index, upserting by id; at [`BLOCK_ROWS`] the open block
//! is sealed into a block file. A commit (when [`RefreshClock`] says so
//! while something waits, on `refresh`, on `close`) persists the rows deleted
//! since the last one, commits the postings with the last sequence number
//! added as payload, publishes a [`Snapshot`] and trims the write-ahead log
//! below what both the blocks and the committed postings hold.
//!
//! Retention ([`Indexer::retain`]) runs at open, after the replay, and then
//! hourly, as on the Tantivy store; its order of writes is documented there.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use foldhash::fast::RandomState as FastHash;
use loglens_core::LogRecord;
use parking_lot::RwLock;
use roaring::RoaringTreemap;
use tantivy::collector::Count;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{IndexReader, IndexWriter};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::block::{Block, BlockWriter};
use super::deleted::DeletedLog;
use super::frames::FrameCache;
use super::layout;
use super::postings::{ID_LOW32, PostingsFields, id_part, id_word_keys, message_analyzer};
use super::retention::{Cutoffs, SeqQuery};
use super::snapshot::{OpenRows, Snapshot, sealed_row};
use crate::shared::refresh::RefreshClock;
use crate::shared::tail::Publisher;
use crate::tantivy::backend;
use crate::tantivy::id_query::IdsQuery;
use crate::tantivy::pipeline::{self, IndexMsg, RetentionDone, Shared, WalMsg, reply};
use crate::tantivy::retention::{PASS_EVERY, RetentionReport, now_ms};
use crate::tantivy::schema::{IdKey, SEQ, id_key};
use crate::tantivy::seen::SeenIds;
use crate::tantivy::wal;
use crate::tenants::Windows;
use crate::{Error, Result, TenantRetention};

/// Records in a sealed block. Blocks are only ever cut at this size, so
/// block boundaries fall every `BLOCK_ROWS` sequence numbers.
pub const BLOCK_ROWS: usize = 4096;

/// Ids of the newest rows kept in the indexer's `recent` map after the
/// committed postings could find them (up to 13 MB): a record sent again
/// moments after it was stored, as a client retrying after a timeout sends
/// it, is upserted without a postings lookup and a read of its stored
/// record's block to compare ids.
const RECENT_ROWS: u64 = 1 << 18;

/// Records replayed from the WAL between two commits, so that a long
/// replay does not hold every id in memory (nor start over after a crash).
const REPLAY_CHECKPOINT_RECORDS: u64 = 200_000;

/// What the indexer works with besides the index and the blocks.
pub(crate) struct IndexerEnv {
    /// The store's directory, where retention writes the floor marker.
    pub dir: PathBuf,
    /// The write-ahead log's directory, to delete covered segments.
    pub wal_dir: PathBuf,
    /// Where sealed blocks are written.
    pub blocks_dir: PathBuf,
    /// Where sealed blocks keep their decompressed frames.
    pub frames: Arc<FrameCache>,
    /// Longest time between an add and its commit.
    pub interval: Duration,
    /// The interval while the load is light
    /// ([`RefreshClock`]); zero or at least `interval` keeps `interval`.
    pub min_interval: Duration,
    /// Where committed records go.
    pub tail: Publisher,
    /// Where a fatal failure is recorded.
    pub shared: Arc<Shared>,
    /// Whole UTC days to keep; `None` keeps everything.
    pub retention_days: Option<u32>,
    /// Per-tenant overrides of `retention_days`, read at each pass.
    pub tenant_retention: TenantRetention,
    /// The WAL writer's queue, for [`WalMsg::Trim`]; weak, so the writer
    /// still stops once the engine drops its sender.
    pub wal: mpsc::WeakSender<WalMsg>,
}

/// What the engine read back from disk at open.
pub(crate) struct Recovered {
    /// The first sequence number the store holds (`layout::read_floor`).
    pub floor: u64,
    /// The sealed blocks, contiguous from `floor`, oldest first.
    pub blocks: Vec<Arc<Block>>,
    /// The deleted rows (none below `floor`) and their log.
    pub deleted: RoaringTreemap,
    pub deleted_log: DeletedLog,
    /// The postings commit's payload: the last sequence number it holds.
    pub committed: u64,
}

/// Owns the open block, the postings writer and the deleted rows; see the
/// module docs.
pub(crate) struct Indexer {
    postings: IndexWriter,
    reader: IndexReader,
    fields: PostingsFields,
    env: IndexerEnv,
    /// Ids that may be in the postings: only those need a lookup.
    seen: SeenIds,
    block_writer: BlockWriter,
    /// Cuts messages into the postings' words and the id-like ones.
    analyzer: TextAnalyzer,
    /// The first sequence number held: retention dropped every row below.
    floor: u64,
    blocks: Vec<Arc<Block>>,
    /// The sequence number of `open[0]`: where the last block ends.
    open_first: u64,
    open: Vec<LogRecord>,
    /// The block filter's keys of the id-like message words of `open`
    /// (`postings::id_word_keys`), gathered as each record is applied, in
    /// the pass that writes its postings document when it gets one, so that
    /// sealing does not cut the messages into words again.
    open_id_words: Vec<u64>,
    /// Per record of `open`, whether its id was given as its content's
    /// (`IndexMsg::Batch::derived`), so that the seal need not hash it.
    open_derived: Vec<bool>,
    /// The newest sequence number of each id whose record is in the open
    /// block, not in the committed postings yet (there the lookup could
    /// not find it), or among the newest [`RECENT_ROWS`]. Older entries are
    /// dropped after each cut and commit.
    recent: RecentIds,
    /// Every deleted row; shared with the published snapshot until the next
    /// delete copies it.
    deleted: Arc<RoaringTreemap>,
    /// Rows deleted since the last commit, not yet in the log.
    unsaved: Vec<u64>,
    deleted_log: DeletedLog,
    /// The last sequence number in the postings commit.
    committed: u64,
    /// The last sequence number whose postings document was added.
    added: u64,
    /// When the next commit is due.
    clock: RefreshClock,
    /// Added records for the next tail broadcast, kept only while someone
    /// subscribes.
    pending: Vec<LogRecord>,
    published: Arc<RwLock<Snapshot>>,
    /// When the next periodic retention pass is due (hourly even with
    /// retention off: tenant overrides may be set meanwhile).
    next_retention: Instant,
}

impl Indexer {
    /// An indexer over what open found on disk; its first snapshot is
    /// published (see [`Indexer::published`]) at once.
    pub fn new(
        postings: IndexWriter,
        reader: IndexReader,
        fields: PostingsFields,
        seen: SeenIds,
        recovered: Recovered,
        env: IndexerEnv,
    ) -> Indexer {
        let Recovered { floor, blocks, deleted, deleted_log, committed } = recovered;
        // Sequence numbers start at 1 (the WAL's numbering in a new store)
        // or where retention left the store.
        let open_first = blocks.last().map_or(floor, |b| b.header().seqs().end);
        let deleted = Arc::new(deleted);
        let open = Arc::new(OpenRows { first_seq: open_first, records: Vec::new() });
        let first = Snapshot {
            blocks: blocks.as_slice().into(),
            open,
            postings: reader.searcher(),
            deleted: Arc::clone(&deleted),
        };
        let clock = RefreshClock::new(env.min_interval, env.interval);
        Indexer {
            clock,
            postings,
            reader,
            fields,
            env,
            seen,
            block_writer: BlockWriter::new(),
            analyzer: message_analyzer(),
            floor,
            blocks,
            open_first,
            open: Vec::with_capacity(BLOCK_ROWS),
            open_id_words: Vec::new(),
            open_derived: Vec::new(),
            recent: RecentIds::default(),
            deleted,
            unsaved: Vec::new(),
            deleted_log,
            committed,
            added: committed,
            pending: Vec::new(),
            published: Arc::new(RwLock::new(first)),
            next_retention: Instant::now() + PASS_EVERY,
        }
    }

    /// Where the indexer publishes its snapshots.
    pub fn published(&self) -> Arc<RwLock<Snapshot>> {
        Arc::clone(&self.published)
    }

    /// The sequence number of the open block's first record.
    pub fn open_first(&self) -> u64 {
        self.open_first
    }

    /// One past the newest record applied.
    pub fn end_seq(&self) -> u64 {
        self.open_first + self.open.len() as u64
    }

    /// The last sequence number in the postings commit.
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// Applies `records`, numbered from `first_seq`. Live batches follow
    /// one another; a replay also passes records the blocks or the postings
    /// already hold, and only the missing part of each is applied.
    /// `derived` says of each record whether its id is its content's as
    /// given (empty: of none).
    pub fn add(&mut self, first_seq: u64, records: Vec<LogRecord>, derived: &[bool]) -> Result<()> {
        let keys: Vec<IdKey> = records.iter().map(|r| id_key(&r.id)).collect();
        let documented = self.upsert(first_seq, &keys)?;
        let derived = derived.iter().copied().chain(std::iter::repeat(false));
        for ((((seq, record), key), documented), derived) in
            (first_seq..).zip(records).zip(keys).zip(documented).zip(derived)
        {
            self.apply(seq, record, key, documented, derived)?;
        }
        Ok(())
    }

    /// Applies record `seq` (id `key`), adding its postings document when
    /// `documented` (the upsert left it live).
    fn apply(
        &mut self,
        seq: u64,
        record: LogRecord,
        key: IdKey,
        documented: bool,
        derived: bool,
    ) -> Result<()> {
        if seq < self.floor {
            // Replayed, of a block retention dropped: gone for good.
            return Ok(());
        }
        let end = self.end_seq();
        if seq > end {
            return Err(Error::Backend(format!(
                "records {end} to {} are missing: the write-ahead log skips from {} to {seq}",
                seq - 1,
                end.saturating_sub(1)
            )));
        }
        // Below `end` the record is in a block already (a replay).
        let opens = seq == end;
        let index = seq > self.added;
        let held = self.open_id_words.len();
        if index {
            if documented {
                let words = &mut self.open_id_words;
                let doc = self.fields.document(&record, seq, key, &mut self.analyzer, words);
                self.postings.add_document(doc).map_err(backend)?;
            } else if opens {
                // Replaced by a later record of the batch: no document, but
                // the block holds its row and so its words.
                id_word_keys(&mut self.analyzer, &record.message, &mut self.open_id_words);
            }
            self.added = seq;
        } else if opens {
            // Replayed, with its upsert and postings committed already:
            // only the lookup of its id and its block's filter need it.
            self.recent.insert(key, seq);
            id_word_keys(&mut self.analyzer, &record.message, &mut self.open_id_words);
        }
        if !opens {
            // Replayed, of a sealed block: its words are in that filter.
            self.open_id_words.truncate(held);
        }
        if opens {
            self.open_derived.push(derived);
        }
        match (opens, index && self.env.tail.has_subscribers()) {
            (true, true) => {
                self.pending.push(record.clone());
                self.open.push(record);
            }
            (true, false) => self.open.push(record),
            (false, true) => self.pending.push(record),
            (false, false) => {}
        }
        if self.open.len() >= BLOCK_ROWS {
            self.cut()?;
        }
        Ok(())
    }

    /// The upsert of a batch of records with ids `keys`, numbered from
    /// `first_seq`, before any is applied: the older rows of each id (in
    /// `recent`, else in the committed postings, all looked up at once)
    /// are marked deleted and their documents deleted by one query; an id
    /// twice in the batch keeps its last record, the earlier ones are
    /// marked deleted and get no document. Records the postings already
    /// hold (a replay) are left alone. Says, per record, whether it gets a
    /// postings document.
    fn upsert(&mut self, first_seq: u64, keys: &[IdKey]) -> Result<Vec<bool>> {
        let from = (self.added + 1).max(self.floor);
        let mut last: HashMap<IdKey, u64, FastHash> =
            HashMap::with_capacity_and_hasher(keys.len(), FastHash::default());
        for (seq, key) in (first_seq..).zip(keys) {
            if seq >= from {
                last.insert(*key, seq);
            }
        }
        let (mut old, mut replaced, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
        for key in last.keys() {
            if !self.seen.may_contain(id_part(*key)) {
                self.seen.insert(id_part(*key));
            } else if let Some(&seq) = self.recent.get(key) {
                old.push(seq);
                replaced.push(*key);
            } else {
                unknown.push(*key);
            }
        }
        if !unknown.is_empty() {
            let committed = self.committed_rows(&unknown)?;
            replaced.extend(committed.iter().map(|(key, _)| *key));
            old.extend(committed.into_iter().map(|(_, seq)| seq));
        }
        if !replaced.is_empty() {
            // Deletes the documents of those rows, committed or not (the
            // ids' candidates narrowed to the rows found).
            let ids = replaced.iter().map(|k| (k.bucket, id_part(*k)));
            let query = IdsQuery::new(self.fields.id_bucket, ID_LOW32, ids)
                .of_seqs(old.iter().copied().collect());
            self.postings.delete_query(Box::new(query)).map_err(backend)?;
        }
        for seq in old {
            self.mark_deleted(seq);
        }
        let mut documented = Vec::with_capacity(keys.len());
        for (seq, key) in (first_seq..).zip(keys) {
            let live = seq >= from && last.get(key) == Some(&seq);
            if seq >= from && !live {
                self.mark_deleted(seq);
            }
            if live {
                self.recent.insert(*key, seq);
            }
            documented.push(live);
        }
        Ok(documented)
    }

    /// The rows of ids `keys` in the committed postings, each with its id.
    /// The postings give the rows whose id has the same bucket and
    /// [`id_part`] (44 bits); each such row's record is read (from its
    /// block, or the open one) and kept only when its whole key is one of
    /// `keys`, so a row of another id sharing those bits is never replaced.
    fn committed_rows(&self, keys: &[IdKey]) -> Result<Vec<(IdKey, u64)>> {
        let searcher = self.reader.searcher();
        let query = IdsQuery::new(
            self.fields.id_bucket,
            ID_LOW32,
            keys.iter().map(|k| (k.bucket, id_part(*k))),
        );
        let mut candidates = Vec::new();
        for segment in searcher.segment_readers() {
            let column = segment.fast_fields().u64(SEQ).map_err(backend)?;
            query
                .each(segment, |doc, _, _| candidates.extend(column.first(doc)))
                .map_err(backend)?;
        }
        let wanted: HashSet<IdKey, FastHash> = keys.iter().copied().collect();
        let mut rows = Vec::new();
        self.each_id(&mut candidates, |seq, key| {
            if wanted.contains(&key) {
                rows.push((key, seq));
            }
        })?;
        Ok(rows)
    }

    /// Calls `found` with each row of `seqs` (sorted here) and its record's
    /// id key, reading each sealed block once; a row no longer held
    /// (retention) is skipped.
    fn each_id(&self, seqs: &mut [u64], mut found: impl FnMut(u64, IdKey)) -> Result<()> {
        seqs.sort_unstable();
        let mut at = 0;
        while at < seqs.len() {
            let seq = seqs[at];
            if seq >= self.open_first {
                if let Some(r) = self.open.get((seq - self.open_first) as usize) {
                    found(seq, id_key(&r.id));
                }
                at += 1;
                continue;
            }
            let Some((block, _)) = sealed_row(&self.blocks, seq) else {
                at += 1;
                continue;
            };
            let range = block.header().seqs();
            let n = seqs[at..].partition_point(|s| *s < range.end);
            let rows: Vec<usize> =
                seqs[at..at + n].iter().map(|s| (s - range.start) as usize).collect();
            let records = block.records(&rows).map_err(|e| {
                Error::Backend(format!("reading block {} for an upsert: {e}", range.start))
            })?;
            for (seq, r) in seqs[at..at + n].iter().zip(&records) {
                found(*seq, id_key(&r.id));
            }
            at += n;
        }
        Ok(())
    }

    /// Marks row `seq` deleted (below the floor there is no row to mark).
    fn mark_deleted(&mut self, seq: u64) {
        if seq >= self.floor && Arc::make_mut(&mut self.deleted).insert(seq) {
            self.unsaved.push(seq);
        }
    }

    /// Seals the open block: encodes it, writes its file durably and maps
    /// it ([`layout::map_block`]).
    fn cut(&mut self) -> Result<()> {
        let started = Instant::now();
        let first = self.open_first;
        let sealing = |e: super::BlockError| Error::Backend(format!("sealing block {first}: {e}"));
        let bytes = self
            .block_writer
            .encode_with_id_words(first, &self.open, &self.open_id_words, &self.open_derived)
            .map_err(sealing)?;
        let path = layout::write_block(&self.env.blocks_dir, first, &bytes)?;
        let size = bytes.len();
        let block = Block::parse_copy(layout::map_block(&path)?, &bytes)
            .map_err(sealing)?
            .with_frames(Arc::clone(&self.env.frames));
        self.open_first = block.header().seqs().end;
        self.blocks.push(Arc::new(block));
        self.open.clear();
        self.open_id_words.clear();
        self.open_derived.clear();
        self.prune_recent();
        debug!(first, rows = BLOCK_ROWS, bytes = size, took = ?started.elapsed(), "block sealed");
        Ok(())
    }

    /// Forgets the ids whose newest record the committed postings find,
    /// but for the newest [`RECENT_ROWS`].
    fn prune_recent(&mut self) {
        let newest = self.end_seq().saturating_sub(RECENT_ROWS);
        self.recent.forget_below(self.open_first.min(self.committed + 1).min(newest));
    }

    /// During replay: commits once many records wait, leaving the WAL
    /// alone (replay is still reading it).
    pub fn replay_checkpoint(&mut self) -> Result<()> {
        if self.added - self.committed >= REPLAY_CHECKPOINT_RECORDS {
            self.commit_inner(false, false)
        } else {
            Ok(())
        }
    }

    /// Persists the deleted rows, commits the postings, publishes a
    /// snapshot, sends the new records to the tail and trims the
    /// write-ahead log. Does nothing when nothing was added.
    pub fn commit(&mut self) -> Result<()> {
        self.commit_inner(true, false)?;
        self.drop_replaced_blocks()
    }

    /// Drops the oldest sealed blocks while every row of theirs is deleted,
    /// as a client's retries leave them (each copy sent again replaces the
    /// one before), so that a storm of the same records does not keep
    /// every copy until its days expire. The floor is raised past them as
    /// a retention pass raises it (see [`Indexer::retain`]): their rows'
    /// postings documents were deleted when the rows were marked, and that
    /// is committed, so only the floor, the deleted-rows log, the snapshot
    /// and the files change.
    fn drop_replaced_blocks(&mut self) -> Result<()> {
        let replaced =
            self.blocks.iter().take_while(|b| self.live_rows(b.header().seqs()) == 0).count();
        if replaced == 0 {
            return Ok(());
        }
        let gone = self.raise_floor(replaced)?;
        self.publish();
        layout::remove_blocks(&self.env.blocks_dir, &gone)?;
        debug!(
            blocks = gone.len(),
            floor = self.floor,
            "dropped blocks whose rows were all replaced"
        );
        Ok(())
    }

    /// The rows of `seqs` (a block's) not deleted.
    fn live_rows(&self, seqs: std::ops::Range<u64>) -> u64 {
        seqs.end - seqs.start - self.deleted.range_cardinality(seqs)
    }

    /// Takes the `n` oldest sealed blocks out of the store: the new floor
    /// (the first block left, else the open block) written durably, the
    /// deleted-rows log and the recent ids without the rows below it. The
    /// first seqs of the blocks taken out, whose files are left to remove
    /// once no answer needs them.
    fn raise_floor(&mut self, n: usize) -> Result<Vec<u64>> {
        let gone: Vec<u64> = self.blocks.drain(..n).map(|b| b.header().first_seq).collect();
        let floor = self.blocks.first().map_or(self.open_first, |b| b.header().first_seq);
        layout::write_floor(&self.env.dir, floor)?;
        self.floor = floor;
        self.deleted_log.forget_below(Arc::make_mut(&mut self.deleted), floor)?;
        self.recent.forget_all_below(floor);
        Ok(gone)
    }

    /// Commits; with `force` also when nothing was added or marked (a
    /// delete of the postings alone).
    fn commit_inner(&mut self, trim_wal: bool, force: bool) -> Result<()> {
        let (started, span) = self.clock.start();
        if !force && self.added == self.committed && self.unsaved.is_empty() {
            return Ok(());
        }
        // Before the commit that deletes their documents: see `deleted`.
        self.deleted_log.append(&self.unsaved)?;
        let deleted = std::mem::take(&mut self.unsaved).len();
        let mut prepared = self.postings.prepare_commit().map_err(backend)?;
        prepared.set_payload(&self.added.to_string());
        prepared.commit().map_err(backend)?;
        let records = self.added - self.committed;
        self.committed = self.added;
        self.reader.reload().map_err(backend)?;
        self.publish();
        let took = self.clock.done(started, span, records as usize);
        self.env.tail.publish(std::mem::take(&mut self.pending));
        self.prune_recent();
        if trim_wal {
            self.trim_wal();
        }
        debug!(records, deleted, seq = self.committed, ?took, "committed");
        Ok(())
    }

    /// Makes the current state the one reads see. Between commits the
    /// state holds postings documents no searcher sees yet, so only a
    /// commit (and open) publishes.
    pub fn publish(&self) {
        let snapshot = Snapshot {
            blocks: self.blocks.as_slice().into(),
            open: Arc::new(OpenRows { first_seq: self.open_first, records: self.open.clone() }),
            postings: self.reader.searcher(),
            deleted: Arc::clone(&self.deleted),
        };
        *self.published.write() = snapshot;
    }

    /// Drops the write-ahead log below the open block and the commit: those
    /// records are in block files and in the committed postings.
    pub fn trim_wal(&self) {
        let covered = self.open_first.min(self.committed + 1) - 1;
        if let Err(e) = wal::remove_covered(&self.env.wal_dir, covered) {
            warn!(error = %e, "cannot delete covered write-ahead log segments");
        }
        if let Some(tx) = self.env.wal.upgrade() {
            let _ = tx.try_send(WalMsg::Trim { committed: covered });
        }
    }

    /// Removes every row past its tenant's retention window at `now_ms`
    /// (each tenant's override, else `retention_days`): sealed blocks from
    /// the oldest on whose rows are all gone (expired or deleted before)
    /// are dropped whole; in every other block and in the open block the
    /// expired rows are marked deleted, like an upsert's old rows. `None`
    /// when no window is set.
    ///
    /// Everything added is committed first. Then, in this order, so that a
    /// crash at any point neither brings an expired row back into an answer
    /// nor loses a live one:
    ///
    /// 1. The new floor (the end of the last dropped block) is written
    ///    durably. From then on open ignores and removes the blocks below
    ///    it, skips their records in the WAL replay and deletes any
    ///    postings document below it ([`Indexer::reconcile`]).
    /// 2. The marked rows are appended to the deleted-rows log (fsync), in
    ///    the commit, before the postings (as for upserts; open deletes the
    ///    documents of logged rows a crash left behind).
    /// 3. The postings of the dropped blocks (a `seq` range) and of the
    ///    marked rows are deleted and committed, and the snapshot without
    ///    them is published: the first answer without the rows.
    /// 4. The dropped blocks' files are removed.
    pub fn retain(&mut self, now_ms: i64) -> Result<Option<RetentionReport>> {
        let started = Instant::now();
        self.next_retention = started + PASS_EVERY;
        let windows = Windows::now(self.env.retention_days, &self.env.tenant_retention);
        if !windows.any() {
            return Ok(None);
        }
        let (cutoffs, mut report) = Cutoffs::new(&windows, now_ms);
        self.commit()?;
        // Blocks dropped whole, counted from the oldest.
        let mut dropped = 0;
        let mut marked: Vec<u64> = Vec::new();
        for (i, block) in self.blocks.iter().enumerate() {
            let seqs = block.header().seqs();
            let rows = cutoffs.expired_rows(block).map_err(|e| {
                Error::Backend(format!("retention scan of block {}: {e}", seqs.start))
            })?;
            let expired: Vec<u64> = rows
                .into_iter()
                .map(|row| seqs.start + row as u64)
                .filter(|seq| !self.deleted.contains(*seq))
                .collect();
            report.removed += expired.len() as u64;
            let whole = dropped == i && self.live_rows(seqs) == expired.len() as u64;
            if whole {
                dropped += 1;
            } else {
                marked.extend(expired);
            }
        }
        let open_expired = (self.open_first..)
            .zip(&self.open)
            .filter(|(seq, r)| cutoffs.expired(r) && !self.deleted.contains(*seq))
            .map(|(seq, _)| seq);
        let before = marked.len();
        marked.extend(open_expired);
        report.removed += (marked.len() - before) as u64;
        if dropped == 0 && marked.is_empty() {
            return Ok(Some(report));
        }

        let gone = match dropped {
            0 => Vec::new(),
            n => self.raise_floor(n)?,
        };
        for seq in &marked {
            self.mark_deleted(*seq);
        }
        let rows = Arc::new(marked.into_iter().collect::<RoaringTreemap>());
        let query = SeqQuery { below: self.floor, rows };
        self.postings.delete_query(Box::new(query)).map_err(backend)?;
        self.commit_inner(true, true)?;
        layout::remove_blocks(&self.env.blocks_dir, &gone)?;
        let (removed, blocks) = (report.removed, gone.len());
        info!(cutoff_ms = ?report.cutoff_ms, tenants = report.tenant_cutoffs.len(), removed, blocks, took = ?started.elapsed(), "retention pass");
        Ok(Some(report))
    }

    /// At open: deletes the postings documents of rows below the floor and
    /// of deleted rows, which a crash between a retention pass's steps can
    /// leave (see [`Indexer::retain`]). One scan of the `seq` column when
    /// there is none.
    pub fn reconcile(&mut self) -> Result<()> {
        if self.floor <= 1 && self.deleted.is_empty() {
            return Ok(());
        }
        let query = SeqQuery { below: self.floor, rows: Arc::clone(&self.deleted) };
        let stale = self.reader.searcher().search(&query, &Count).map_err(backend)?;
        if stale > 0 {
            warn!(
                documents = stale,
                "postings of removed rows left by an interrupted retention pass, deleting them"
            );
            self.postings.delete_query(Box::new(query)).map_err(backend)?;
            self.commit_inner(false, true)?;
        }
        Ok(())
    }

    /// When the next commit is due ([`RefreshClock::deadline`]), once
    /// something waits.
    fn due(&self) -> Option<Instant> {
        if self.added > self.committed { self.clock.deadline() } else { None }
    }

    /// Runs what is due: the periodic retention pass, then a commit.
    fn tick(&mut self) -> Result<()> {
        if Instant::now() >= self.next_retention {
            self.retain(now_ms())?;
        }
        if self.due().is_some_and(|at| Instant::now() >= at) { self.commit() } else { Ok(()) }
    }

    /// The thread's loop, until `Stop` or a failure (recorded in
    /// [`Shared`]).
    pub fn run(mut self, rx: Receiver<IndexMsg>) {
        let stop = || IndexMsg::Stop { commit: true, ack: None };
        loop {
            let wake = self.due().map_or(self.next_retention, |at| at.min(self.next_retention));
            let msg = match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => Some(stop()),
            };
            let step = match msg {
                None => self.tick(),
                Some(IndexMsg::Batch { first_seq, records, derived, acked }) => {
                    self.clock.waiting(acked);
                    self.add(first_seq, records, &derived).and_then(|()| self.tick())
                }
                Some(IndexMsg::Flush(ack)) => reply(ack, self.commit()),
                Some(IndexMsg::Retention { now_ms, ack }) => {
                    let done = self.retain(now_ms).map(|report| {
                        report.map(|report| RetentionDone { report, merges: Vec::new() })
                    });
                    reply(ack, done)
                }
                Some(IndexMsg::Stop { commit, ack }) => {
                    let result = self.stop(commit);
                    if let Some(ack) = ack {
                        let _ = ack.send(result);
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

    /// Commits (unless simulating a crash) and releases the postings index.
    /// The open block stays open: the write-ahead log keeps its records.
    fn stop(mut self, commit: bool) -> Result<()> {
        if !commit {
            return Ok(());
        }
        let committed = self.commit();
        pipeline::finish(committed, &self.env.shared, self.postings)
    }
}

/// The indexer's recent ids: the newest sequence number of each, in maps
/// of [`RECENT_GENERATION_ROWS`] sequence numbers each, oldest first, so
/// that forgetting the ids below a sequence number drops whole maps. Until
/// 2026-12-04 one map was swept entry by entry at every cut and commit (up
/// to [`RECENT_ROWS`] entries, about 13 MB, every 4,096 records): about 2%
/// of an HTTP ingest's CPU. The price: up to one map's ids are kept a
/// little longer than asked, which an upsert does not mind (it replaces a
/// row that is still the id's newest, or one below the floor, which is no
/// row at all).
#[derive(Default)]
struct RecentIds {
    /// (greatest seq held, id -> newest seq), oldest first; a map takes the
    /// seqs from its first to [`RECENT_GENERATION_ROWS`] past it.
    generations: VecDeque<(u64, HashMap<IdKey, u64, FastHash>)>,
    /// The first seq of the newest map.
    newest_from: u64,
}

/// Sequence numbers per map of [`RecentIds`].
const RECENT_GENERATION_ROWS: u64 = 1 << 16;

impl RecentIds {
    /// Records `seq` as id `key`'s newest row. Numbers arrive ascending.
    fn insert(&mut self, key: IdKey, seq: u64) {
        if self.generations.is_empty() || seq >= self.newest_from + RECENT_GENERATION_ROWS {
            self.generations.push_back((seq, HashMap::default()));
            self.newest_from = seq;
        }
        let (greatest, map) = self.generations.back_mut().expect("a map was just pushed");
        *greatest = (*greatest).max(seq);
        map.insert(key, seq);
    }

    /// The newest row of id `key`, if recent: the newest map's that holds it.
    fn get(&self, key: &IdKey) -> Option<&u64> {
        self.generations.iter().rev().find_map(|(_, map)| map.get(key))
    }

    /// Forgets the maps whose every seq is below `seq`.
    fn forget_below(&mut self, seq: u64) {
        while self.generations.front().is_some_and(|(greatest, _)| *greatest < seq) {
            self.generations.pop_front();
        }
    }

    /// Forgets every id whose newest row is below `seq`, exactly (the
    /// retention's floor: below it there are no rows).
    fn forget_all_below(&mut self, seq: u64) {
        self.forget_below(seq);
        if let Some((_, map)) = self.generations.front_mut() {
            map.retain(|_, s| *s >= seq);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.generations.iter().map(|(_, map)| map.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> IdKey {
        id_key(&format!("{n:032x}"))
    }

    #[test]
    fn recent_ids_forget_whole_maps_below_and_keep_an_ids_newest_row() {
        let g = RECENT_GENERATION_ROWS;
        let mut recent = RecentIds::default();
        // Two maps: seqs 1..=g and g+1..=g+10; ids repeat every 4 rows.
        for seq in (1..=10).chain(g - 3..=g + 10) {
            recent.insert(key(seq % 4), seq);
        }
        assert_eq!(recent.generations.len(), 2);
        assert_eq!(recent.get(&key(1)), Some(&(g + 9)), "the newest map answers first");
        // The first map holds seqs below g + 1 only; nothing of it is
        // forgotten before every one of its seqs is below.
        recent.forget_below(g);
        assert_eq!(recent.generations.len(), 2);
        recent.forget_below(g + 1);
        assert_eq!(recent.generations.len(), 1);
        assert_eq!(recent.len(), 4);
        // Exactly below a floor: within the map too.
        recent.forget_all_below(g + 8);
        assert_eq!(recent.len(), 3);
        assert_eq!(recent.get(&key((g + 7) % 4)), None, "its newest row, g + 7, is below");
        assert_eq!(recent.get(&key((g + 8) % 4)), Some(&(g + 8)));
        recent.forget_below(g + 11);
        assert_eq!(recent.len(), 0);
    }
}
