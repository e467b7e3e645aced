//! The hybrid store's deleted rows: the sequence numbers of records an
//! upsert replaced or retention removed from a block it kept, in an
//! append-only file beside the blocks (blocks never change once written).
//! Rows below the store's floor (blocks retention dropped whole) are
//! ignored at open, and the file is written afresh without them
//! ([`DeletedLog::rewrite`]) at open and whenever retention raises the
//! floor, so it holds the rows of kept blocks only.
//!
//! ```text
//! magic   "LLDEL01\n"
//! frames  u32 LE count, u64 LE xxh3-64 of the payload, payload: count
//!         sequence numbers, u64 LE each
//! ```
//!
//! The indexer appends a frame (and fsyncs) before the postings commit that
//! deletes the same rows' documents, so a crash between the two leaves rows
//! marked whose documents are still there, and the WAL replay deletes those
//! again; never the other way round. A damaged tail (a write cut short) is
//! cut off at open: its commit cannot have happened.
//!
//! In memory the rows are a compressed bitmap ([`RoaringTreemap`]): about a
//! bit per row where deletions are dense (a retry storm re-sending the same
//! records replaces every earlier copy), where a hash set took about 18
//! bytes per row and a copy of itself whenever a published snapshot still
//! shared it.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use roaring::RoaringTreemap;
use tracing::warn;
use xxhash_rust::xxh3::xxh3_64;

use crate::tantivy::wal::sync_dir;

const MAGIC: &[u8; 8] = b"LLDEL01\n";
const FRAME_HEADER: usize = 12;
/// Rows per frame of a rewritten log (8 MiB of payload).
const REWRITE_FRAME_ROWS: usize = 1 << 20;

/// The open log, appending.
#[derive(Debug)]
pub(crate) struct DeletedLog {
    path: PathBuf,
    file: File,
    /// Bytes written and synced.
    len: u64,
}

impl DeletedLog {
    /// Opens the log at `path` (creating it) and reads every sequence number
    /// in it.
    pub fn open(path: &Path) -> io::Result<(DeletedLog, RoaringTreemap)> {
        let data = match std::fs::read(path) {
            Ok(data) => data,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut file = OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
        if data.len() < MAGIC.len() {
            // New, or torn before its header was synced.
            file.set_len(0)?;
            file.write_all(MAGIC)?;
            file.sync_all()?;
            if let Some(dir) = path.parent() {
                sync_dir(dir)?;
            }
            let log = DeletedLog { path: path.to_owned(), file, len: MAGIC.len() as u64 };
            return Ok((log, RoaringTreemap::new()));
        }
        if &data[..MAGIC.len()] != MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a deleted-rows log", path.display()),
            ));
        }
        let (seqs, good) = read_frames(&data);
        if good < data.len() {
            warn!(file = %path.display(), offset = good, dropped = data.len() - good, "deleted-rows log ends in a torn write, cutting it off");
            file.set_len(good as u64)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::Start(good as u64))?;
        let log = DeletedLog { path: path.to_owned(), file, len: good as u64 };
        Ok((log, seqs))
    }

    /// Appends `seqs` as one frame and makes it durable. On a write error
    /// the file is cut back, so no partial frame stays.
    pub fn append(&mut self, seqs: &[u64]) -> io::Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        if u32::try_from(seqs.len()).is_err() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "too many deleted rows"));
        }
        let frame = frame(seqs);
        let written = self.file.write_all(&frame).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            self.file.set_len(self.len)?;
            self.file.seek(SeekFrom::Start(self.len))?;
            return Err(e);
        }
        self.len += frame.len() as u64;
        Ok(())
    }
}

impl DeletedLog {
    /// Replaces the file with one holding only `live`: written beside it,
    /// synced, then renamed over it, so a crash leaves the old file or the
    /// new one, never a mix (the old one holds every row of the new one).
    pub fn rewrite(&mut self, live: &RoaringTreemap) -> io::Result<()> {
        let tmp = self.path.with_extension("rewrite");
        let mut out = io::BufWriter::new(File::create(&tmp)?);
        out.write_all(MAGIC)?;
        let mut len = MAGIC.len() as u64;
        let mut seqs = live.iter();
        loop {
            let chunk: Vec<u64> = seqs.by_ref().take(REWRITE_FRAME_ROWS).collect();
            if chunk.is_empty() {
                break;
            }
            let frame = frame(&chunk);
            out.write_all(&frame)?;
            len += frame.len() as u64;
        }
        let mut out = out.into_inner().map_err(|e| e.into_error())?;
        out.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            sync_dir(dir)?;
        }
        out.seek(SeekFrom::Start(len))?;
        self.file = out;
        self.len = len;
        Ok(())
    }

    /// Forgets the rows of `rows` below `floor` (retention dropped their
    /// blocks, and the floor is durable) and, when there were any, writes
    /// the log afresh without them ([`DeletedLog::rewrite`]).
    pub fn forget_below(&mut self, rows: &mut RoaringTreemap, floor: u64) -> io::Result<()> {
        if rows.remove_range(..floor) > 0 {
            self.rewrite(rows)?;
        }
        Ok(())
    }
}

/// The rows of `rows` within `range`, ascending.
pub(crate) fn rows_in(rows: &RoaringTreemap, range: Range<u64>) -> impl Iterator<Item = u64> + '_ {
    let mut iter = rows.iter();
    iter.advance_to(range.start);
    iter.take_while(move |seq| *seq < range.end)
}

/// `seqs` as one frame: count, checksum, payload.
fn frame(seqs: &[u64]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(FRAME_HEADER + seqs.len() * 8);
    buf.extend_from_slice(&(seqs.len() as u32).to_le_bytes());
    buf.extend_from_slice(&[0; 8]);
    for seq in seqs {
        buf.extend_from_slice(&seq.to_le_bytes());
    }
    let sum = xxh3_64(&buf[FRAME_HEADER..]);
    buf[4..FRAME_HEADER].copy_from_slice(&sum.to_le_bytes());
    buf
}

/// The sequence numbers of every whole frame after the magic, and where the
/// last whole frame ends.
fn read_frames(data: &[u8]) -> (RoaringTreemap, usize) {
    let mut seqs = RoaringTreemap::new();
    let mut pos = MAGIC.len();
    while let Some(header) = data.get(pos..pos + FRAME_HEADER) {
        let count = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let mut sum = [0u8; 8];
        sum.copy_from_slice(&header[4..]);
        let start = pos + FRAME_HEADER;
        let Some(payload) = data.get(start..start.saturating_add(count.saturating_mul(8))) else {
            break;
        };
        if xxh3_64(payload) != u64::from_le_bytes(sum) {
            break;
        }
        for word in payload.chunks_exact(8) {
            let mut seq = [0u8; 8];
            seq.copy_from_slice(word);
            seqs.insert(u64::from_le_bytes(seq));
        }
        pos = start + payload.len();
    }
    (seqs, pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set<const N: usize>(seqs: [u64; N]) -> RoaringTreemap {
        seqs.into_iter().collect()
    }

    #[test]
    fn appended_rows_read_back_and_a_torn_frame_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deleted");
        let (mut log, seqs) = DeletedLog::open(&path).unwrap();
        assert!(seqs.is_empty());
        log.append(&[3, 9]).unwrap();
        log.append(&[]).unwrap();
        log.append(&[12]).unwrap();
        drop(log);
        let good = std::fs::metadata(&path).unwrap().len();
        let (mut log, seqs) = DeletedLog::open(&path).unwrap();
        assert_eq!(seqs, set([3, 9, 12]));
        log.append(&[40, 41]).unwrap();
        drop(log);
        // The last frame torn: one byte short.
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(good + 12 + 15).unwrap();
        drop(file);
        let (mut log, seqs) = DeletedLog::open(&path).unwrap();
        assert_eq!(seqs, set([3, 9, 12]));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good, "cut back");
        log.append(&[7]).unwrap();
        drop(log);
        assert_eq!(DeletedLog::open(&path).unwrap().1, set([3, 9, 12, 7]));
    }

    #[test]
    fn a_rewrite_keeps_only_the_live_rows_and_appends_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deleted");
        let (mut log, _) = DeletedLog::open(&path).unwrap();
        log.append(&(1..=1000).collect::<Vec<u64>>()).unwrap();
        log.append(&[2000, 2001]).unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        log.rewrite(&set([2000, 2001])).unwrap();
        log.append(&[3000]).unwrap();
        drop(log);
        assert!(std::fs::metadata(&path).unwrap().len() < before / 10);
        assert_eq!(DeletedLog::open(&path).unwrap().1, set([2000, 2001, 3000]));
        // A rewrite cut short before its rename leaves the old file whole.
        std::fs::write(path.with_extension("rewrite"), b"LLDEL01\n\x05").unwrap();
        assert_eq!(DeletedLog::open(&path).unwrap().1, set([2000, 2001, 3000]));
        let (mut log, _) = DeletedLog::open(&path).unwrap();
        log.rewrite(&RoaringTreemap::new()).unwrap();
        drop(log);
        assert!(DeletedLog::open(&path).unwrap().1.is_empty());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), MAGIC.len() as u64, "the magic alone");
    }

    #[test]
    fn a_rewrite_of_more_rows_than_a_frame_holds_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deleted");
        let (mut log, _) = DeletedLog::open(&path).unwrap();
        let live: RoaringTreemap =
            (10..10 + REWRITE_FRAME_ROWS as u64 + 3).chain([1 << 40]).collect();
        log.rewrite(&live).unwrap();
        log.append(&[5]).unwrap();
        drop(log);
        let (_, back) = DeletedLog::open(&path).unwrap();
        assert_eq!(back.len(), live.len() + 1);
        assert!(back.contains(5) && back.contains(1 << 40) && back.contains(10));
        assert!(!back.contains(9) && !back.contains(10 + REWRITE_FRAME_ROWS as u64 + 3));
    }

    #[test]
    fn rows_in_gives_a_ranges_rows_in_order_across_the_32_bit_boundary() {
        let high = 1u64 << 32;
        let rows: RoaringTreemap =
            [3, 7, 4095, 4096, high - 1, high, high + 9].into_iter().collect();
        assert_eq!(rows_in(&rows, 0..4096).collect::<Vec<_>>(), [3, 7, 4095]);
        assert_eq!(rows_in(&rows, 4096..8192).collect::<Vec<_>>(), [4096]);
        assert_eq!(rows_in(&rows, 8..4095).count(), 0);
        assert_eq!(
            rows_in(&rows, high - 4..high + 10).collect::<Vec<_>>(),
            [high - 1, high, high + 9]
        );
        assert_eq!(rows.range_cardinality(high - 4..high + 9), 2, "the end is not in the range");
    }

    #[test]
    fn another_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deleted");
        std::fs::write(&path, b"something else entirely").unwrap();
        let err = DeletedLog::open(&path).unwrap_err();
        assert!(err.to_string().contains("not a deleted-rows log"), "{err}");
    }
}
