//! What one read of the hybrid store sees, as of one refresh: the sealed
//! blocks, the open block's records (still in memory), the postings and the
//! rows deleted since their block was written. The write path makes one at
//! every refresh; the read path ([`super`]'s search and stats) only reads
//! it. A snapshot is cheap to clone and never changes.

use std::sync::Arc;

use loglens_core::LogRecord;
use roaring::RoaringTreemap;
use tantivy::Searcher;

use super::block::Block;

/// The open block: the newest records, not yet written as a block.
#[derive(Debug, Default)]
pub struct OpenRows {
    /// The sequence number of `records[0]` (one past the last sealed
    /// block's last row).
    pub first_seq: u64,
    /// In sequence order, `first_seq` upwards.
    pub records: Vec<LogRecord>,
}

/// Where a record lives.
#[derive(Debug, Clone, Copy)]
pub enum Place<'a> {
    /// Row `row` of a sealed block.
    Block(&'a Arc<Block>, usize),
    /// A record of the open block.
    Open(&'a LogRecord),
}

/// A consistent view for one read.
///
/// Invariants the write path keeps: `blocks` are in ascending sequence
/// order with no gap among those held (each starts where the previous one
/// ends) and `open` starts where the last block ends; the first block need
/// not start at 1, since retention drops blocks from the oldest, and a
/// sequence number before it is held nowhere ([`Snapshot::locate`] gives
/// `None`). `postings` holds a document for every live record of the
/// snapshot and none before the first block or beyond
/// [`Snapshot::end_seq`]; `deleted` names rows replaced by an upsert or
/// removed by retention (none before the first block), whose postings are
/// already deleted too, so only column scans need to consult it.
#[derive(Clone)]
pub struct Snapshot {
    /// Sealed blocks, oldest first.
    pub blocks: Arc<[Arc<Block>]>,
    /// The open block.
    pub open: Arc<OpenRows>,
    /// Message words, service, host and tag terms, `seq` and id keys
    /// (`super::postings`).
    pub postings: Searcher,
    /// Sequence numbers of rows that no longer count.
    pub deleted: Arc<RoaringTreemap>,
}

impl Snapshot {
    /// One past the newest sequence number the snapshot holds.
    pub fn end_seq(&self) -> u64 {
        self.open.first_seq + self.open.records.len() as u64
    }

    /// The block or open record holding `seq`, whether or not it is deleted;
    /// `None` for a sequence number the snapshot does not hold (before the
    /// oldest block, which retention removed, or not yet written).
    pub fn locate(&self, seq: u64) -> Option<Place<'_>> {
        if seq >= self.open.first_seq {
            let i = usize::try_from(seq - self.open.first_seq).ok()?;
            return self.open.records.get(i).map(Place::Open);
        }
        let (block, row) = sealed_row(&self.blocks, seq)?;
        Some(Place::Block(block, row))
    }

    /// Whether `seq` is a record the snapshot holds and has not deleted.
    pub fn is_live(&self, seq: u64) -> bool {
        !self.deleted.contains(seq) && self.locate(seq).is_some()
    }
}

/// The block of `blocks` (in seq order) holding sealed record `seq`, and
/// its row there.
pub fn sealed_row(blocks: &[Arc<Block>], seq: u64) -> Option<(&Arc<Block>, usize)> {
    let after = blocks.partition_point(|b| b.header().first_seq <= seq);
    let block = blocks.get(after.checked_sub(1)?)?;
    let row = usize::try_from(seq - block.header().first_seq).ok()?;
    (row < block.rows()).then_some((block, row))
}

/// A snapshot held in memory, for tests of the read path: `records`
/// numbered from `first_seq`, sealed into blocks of `block_rows` but for
/// the last `open_rows`, which stay open; `deleted` as given.
#[cfg(test)]
pub(crate) fn in_memory(
    records: &[LogRecord],
    first_seq: u64,
    block_rows: usize,
    open_rows: usize,
    deleted: RoaringTreemap,
) -> Snapshot {
    use tantivy::directory::OwnedBytes;

    use super::postings::{PostingsFields, message_analyzer};
    use crate::tantivy::schema::id_key;

    let (schema, fields) = PostingsFields::build();
    let index = tantivy::Index::create_in_ram(schema);
    let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 15 << 20).unwrap();
    let mut analyzer = message_analyzer();
    for (i, r) in records.iter().enumerate() {
        let seq = first_seq + i as u64;
        if !deleted.contains(seq) {
            let doc = fields.document(r, seq, id_key(&r.id), &mut analyzer, &mut Vec::new());
            writer.add_document(doc).unwrap();
        }
    }
    writer.commit().unwrap();
    let sealed = records.len() - open_rows.min(records.len());
    let blocks: Vec<Arc<Block>> = records[..sealed]
        .chunks(block_rows.max(1))
        .enumerate()
        .map(|(i, chunk)| {
            let bytes = super::block::encode(first_seq + (i * block_rows) as u64, chunk).unwrap();
            Arc::new(Block::parse(OwnedBytes::new(bytes)).unwrap())
        })
        .collect();
    Snapshot {
        blocks: blocks.into(),
        open: Arc::new(OpenRows {
            first_seq: first_seq + sealed as u64,
            records: records[sealed..].to_vec(),
        }),
        postings: index.reader().unwrap().searcher(),
        deleted: Arc::new(deleted),
    }
}

#[cfg(test)]
mod tests {
    use loglens_core::LogRecord;

    use super::*;
    use crate::hybrid::testing::bare;

    fn record(i: usize) -> LogRecord {
        let timestamp = 1_767_225_600_000 + i as i64;
        let tenant = loglens_core::tenant::default_name();
        LogRecord {
            ingested_at: 1_767_225_600_000,
            ..bare(format!("client-{i}"), timestamp, format!("record number {i}"), &tenant)
        }
    }

    #[test]
    fn every_seq_finds_its_own_record_and_no_other() {
        let records: Vec<LogRecord> = (0..25).map(record).collect();
        let snap = in_memory(&records, 100, 10, 5, RoaringTreemap::from_iter([103, 121]));
        assert_eq!(snap.blocks.len(), 2);
        assert_eq!(snap.end_seq(), 125);
        for (i, want) in records.iter().enumerate() {
            let seq = 100 + i as u64;
            let got = match snap.locate(seq).unwrap() {
                Place::Block(b, row) => b.record(row).unwrap(),
                Place::Open(r) => r.clone(),
            };
            assert_eq!(&got, want, "seq {seq}");
            assert_eq!(snap.is_live(seq), seq != 103 && seq != 121, "seq {seq}");
        }
        for seq in [0, 99, 125, u64::MAX] {
            assert!(snap.locate(seq).is_none(), "seq {seq}");
            assert!(!snap.is_live(seq), "seq {seq}");
        }
        // Deleted rows have no postings.
        assert_eq!(snap.postings.num_docs(), 23);
    }
}
