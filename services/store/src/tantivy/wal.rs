//! The write-ahead log: acknowledged batches not yet committed to the index.
//!
//! The log is a directory of segment files named by the first sequence
//! number they may hold (`00000000000000000042.wal`, 20 digits so names sort
//! by number). A segment is the 8-byte magic [`MAGIC`] followed by frames:
//!
//! ```text
//! u32 LE  payload length
//! u64 LE  xxh3-64 of the payload
//! payload: u64 LE sequence number of the first record, then per record
//!          a u32 LE length and the record in the doc store's form
//!          (`super::stored`)
//! ```
//!
//! Segments of the first format (`LLWAL01`, the records as a JSON array)
//! are still read, so an upgrade replays what an older version
//! acknowledged; new segments are always written in the second.
//!
//! Records get consecutive sequence numbers across frames and segments.
//! Appends go to the newest segment; a segment is closed once it reaches the
//! configured size and a new one starts. A segment can be deleted once the
//! index commit covers every record in it, i.e. once the next segment's first
//! sequence number is at most the committed one plus one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use loglens_core::LogRecord;
use tracing::{error, warn};
use xxhash_rust::xxh3::xxh3_64;

/// First bytes of every segment: format name and version.
pub(crate) const MAGIC: &[u8; 8] = b"LLWAL02\n";
/// The first format's header: records as a JSON array (read, not written).
const MAGIC_JSON: &[u8; 8] = b"LLWAL01\n";
/// Segment size after which appends move to a new segment. Under steady
/// load no segment is ever fully committed while being written, so this is
/// about the most log kept beyond what the commit does not cover yet.
pub(crate) const SEGMENT_BYTES: u64 = 16 << 20;
/// Bytes before a frame's payload: length and checksum.
const FRAME_HEADER: usize = 12;
const EXTENSION: &str = "wal";

/// The open log, appending to its newest segment.
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    file: File,
    /// Bytes in the current segment, all of them durable.
    len: u64,
    segment_bytes: u64,
    next_seq: u64,
    /// Blocks of the hybrid store, `(base, rows)`: see
    /// [`Wal::roll_at_blocks`]; `None` for the Tantivy store.
    blocks: Option<(u64, u64)>,
    /// Set when an fsync failed: what reached the disk is unknown, so the
    /// log takes no more appends.
    poisoned: bool,
    buf: Vec<u8>,
}

impl Wal {
    /// Starts a new segment whose first record will get `next_seq`.
    pub fn create(dir: &Path, next_seq: u64, segment_bytes: u64) -> io::Result<Wal> {
        let file = new_segment(dir, next_seq)?;
        Ok(Wal {
            dir: dir.to_owned(),
            file,
            len: MAGIC.len() as u64,
            segment_bytes,
            next_seq,
            blocks: None,
            poisoned: false,
            buf: Vec::new(),
        })
    }

    /// Also rolls to a new segment before an append whose last record falls
    /// in another block than the segment's newest record, blocks being
    /// `rows` records each from sequence number `base` (the hybrid store's
    /// block cuts). Every group appended to a segment then ends in one
    /// block, so once a block is sealed and committed, the segments left
    /// after [`remove_covered`] hold no group entirely below it.
    pub fn roll_at_blocks(mut self, base: u64, rows: u64) -> Wal {
        self.blocks = Some((base, rows.max(1)));
        self
    }

    /// Whether an fsync failed, so no more appends are possible.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Once the index commit covers every record appended (`committed` is
    /// the last one), starts a new, empty segment and deletes the covered
    /// ones, so an idle store keeps no log it no longer needs (the open
    /// segment used to stay until it filled: 46 MB after 1M records).
    /// Returns whether it rolled.
    pub fn trim(&mut self, committed: u64) -> io::Result<bool> {
        if self.poisoned || self.len <= MAGIC.len() as u64 || self.next_seq > committed + 1 {
            return Ok(false);
        }
        self.file = new_segment(&self.dir, self.next_seq)?;
        self.len = MAGIC.len() as u64;
        remove_covered(&self.dir, committed)?;
        Ok(true)
    }

    /// Appends one frame per batch and makes them durable with one fsync.
    /// Returns the sequence number of the first record. On a write error the
    /// segment is cut back to its previous length, so a failed append leaves
    /// no partial frame behind.
    pub fn append<'a>(
        &mut self,
        batches: impl IntoIterator<Item = &'a [LogRecord]>,
    ) -> io::Result<u64> {
        if self.poisoned {
            return Err(io::Error::other(
                "write-ahead log is unusable after an earlier fsync failure",
            ));
        }
        if self.len >= self.segment_bytes && self.len > MAGIC.len() as u64 {
            self.file = new_segment(&self.dir, self.next_seq)?;
            self.len = MAGIC.len() as u64;
        }
        let first = self.next_seq;
        let mut seq = first;
        self.buf.clear();
        for records in batches {
            encode_frame(&mut self.buf, seq, records)?;
            seq += records.len() as u64;
        }
        if let Some((base, rows)) = self.blocks
            && self.len > MAGIC.len() as u64
            && seq > first
        {
            let block = |s: u64| s.saturating_sub(base) / rows;
            if block(first.saturating_sub(1)) != block(seq - 1) {
                self.file = new_segment(&self.dir, first)?;
                self.len = MAGIC.len() as u64;
            }
        }
        if let Err(e) = self.file.write_all(&self.buf) {
            let cut = self
                .file
                .set_len(self.len)
                .and_then(|()| self.file.seek(SeekFrom::Start(self.len)));
            if let Err(cut) = cut {
                error!(error = %cut, "cannot cut back the write-ahead log after a failed write");
                self.poisoned = true;
            }
            return Err(e);
        }
        if let Err(e) = self.file.sync_data() {
            self.poisoned = true;
            return Err(e);
        }
        self.len += self.buf.len() as u64;
        self.next_seq = seq;
        // Kept for the next append up to 16 MiB: a group of a few
        // 5,000-record bodies takes several MiB, and growing the buffer
        // again for each group cost about a fifth of this thread's CPU
        // (reallocations and fresh pages, perf during an HTTP ingest).
        if self.buf.capacity() > 16 << 20 {
            self.buf = Vec::new();
        }
        Ok(first)
    }
}

/// Appends one frame holding `records`, numbered from `first_seq`.
fn encode_frame(buf: &mut Vec<u8>, first_seq: u64, records: &[LogRecord]) -> io::Result<()> {
    let start = buf.len();
    buf.extend_from_slice(&[0; FRAME_HEADER]);
    buf.extend_from_slice(&first_seq.to_le_bytes());
    for r in records {
        let at = buf.len();
        buf.extend_from_slice(&[0; 4]);
        super::stored::encode_for_log(r, buf);
        let len = u32::try_from(buf.len() - at - 4).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "record is larger than 4 GiB")
        })?;
        buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
    let payload = &buf[start + FRAME_HEADER..];
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "batch is larger than 4 GiB"))?;
    let sum = xxh3_64(payload);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + FRAME_HEADER].copy_from_slice(&sum.to_le_bytes());
    Ok(())
}

fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.{EXTENSION}"))
}

fn new_segment(dir: &Path, first_seq: u64) -> io::Result<File> {
    let path = segment_path(dir, first_seq);
    let mut file = OpenOptions::new().create(true).write(true).truncate(true).open(&path)?;
    file.write_all(MAGIC)?;
    file.sync_data()?;
    sync_dir(dir)?;
    Ok(file)
}

/// Makes file creations, renames and deletions in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Segments in `dir`, oldest first, with their first sequence numbers.
fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(EXTENSION) {
            continue;
        }
        if let Some(seq) =
            path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse::<u64>().ok())
        {
            found.push((seq, path));
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// The first sequence number of the oldest segment, from which on the log
/// holds every record it was given (unless a segment was set aside as
/// corrupt); `None` for a log without segments.
pub(crate) fn oldest(dir: &Path) -> io::Result<Option<u64>> {
    Ok(segments(dir)?.first().map(|(seq, _)| *seq))
}

/// Deletes every segment whose records all have sequence numbers at most
/// `committed`. The newest segment is never deleted: it may be in use.
pub(crate) fn remove_covered(dir: &Path, committed: u64) -> io::Result<usize> {
    let segs = segments(dir)?;
    let mut removed = 0;
    for pair in segs.windows(2) {
        let ((_, path), (next_first, _)) = (&pair[0], &pair[1]);
        if *next_first > committed.saturating_add(1) {
            break;
        }
        fs::remove_file(path)?;
        removed += 1;
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Where reading a segment stopped early.
#[derive(Debug)]
struct Damage {
    /// End of the last good frame.
    good_len: u64,
    why: String,
}

/// Reads every segment oldest first and calls `apply(first_seq, records)`
/// for each frame. Returns the first sequence number not used by any frame
/// or segment name.
///
/// A damaged tail of the newest segment (a write torn by a crash: it was
/// never acknowledged) ends the replay there; the segment is cut back to its
/// last good frame and a warning logged. Damage in an older segment (which
/// should not happen) is logged as an error; the rest of that segment is
/// skipped, the file renamed to `*.corrupt` for inspection, and replay goes
/// on with the next segment.
pub(crate) fn replay<E>(
    dir: &Path,
    mut apply: impl FnMut(u64, Vec<LogRecord>) -> Result<(), E>,
) -> Result<u64, E>
where
    E: From<io::Error>,
{
    let segs = segments(dir)?;
    let mut next_seq = 0u64;
    for (i, (first, path)) in segs.iter().enumerate() {
        next_seq = next_seq.max(*first);
        let data = fs::read(path)?;
        let damage = read_frames(&data, |seq, records| {
            next_seq = next_seq.max(seq.saturating_add(records.len() as u64));
            apply(seq, records)
        })?;
        let Some(damage) = damage else { continue };
        if i + 1 == segs.len() {
            warn!(
                segment = %path.display(), offset = damage.good_len, reason = %damage.why,
                "write-ahead log ends in a torn write, cutting it off"
            );
            let file = OpenOptions::new().write(true).open(path)?;
            file.set_len(damage.good_len)?;
            file.sync_all()?;
        } else {
            error!(
                segment = %path.display(), offset = damage.good_len, reason = %damage.why,
                "write-ahead log segment is corrupt, skipping the rest of it"
            );
            fs::rename(path, path.with_extension("corrupt"))?;
            sync_dir(dir)?;
        }
    }
    Ok(next_seq)
}

/// The records of a frame's body: each a u32 LE length and its bytes.
fn decode_records(mut body: &[u8]) -> Result<Vec<LogRecord>, String> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let Some((len, rest)) = body.split_first_chunk::<4>() else {
            return Err("truncated record length".into());
        };
        let len = u32::from_le_bytes(*len) as usize;
        let Some((record, rest)) = rest.split_at_checked(len) else {
            return Err(format!("record of {len} bytes runs past the frame"));
        };
        out.push(super::stored::decode(record)?);
        body = rest;
    }
    Ok(out)
}

/// Decodes the frames of one segment until its end or the first damage.
fn read_frames<E>(
    data: &[u8],
    mut apply: impl FnMut(u64, Vec<LogRecord>) -> Result<(), E>,
) -> Result<Option<Damage>, E> {
    let damaged =
        |good_len: usize, why: String| Ok(Some(Damage { good_len: good_len as u64, why }));
    let json = match data.get(..MAGIC.len()) {
        Some(m) if m == MAGIC => false,
        Some(m) if m == MAGIC_JSON => true,
        _ => return damaged(0, "missing segment header".into()),
    };
    let mut pos = MAGIC.len();
    while pos < data.len() {
        let Some(header) = data.get(pos..pos + FRAME_HEADER) else {
            return damaged(pos, "truncated frame header".into());
        };
        let (len, sum) = header.split_at(4);
        let len = u32::from_le_bytes(len.try_into().unwrap_or_default()) as usize;
        let sum = u64::from_le_bytes(sum.try_into().unwrap_or_default());
        let start = pos + FRAME_HEADER;
        let Some(payload) = data.get(start..start.saturating_add(len)) else {
            return damaged(pos, format!("frame of {len} bytes runs past the end of the segment"));
        };
        if xxh3_64(payload) != sum {
            return damaged(pos, "checksum mismatch".into());
        }
        let Some((seq, body)) = payload.split_first_chunk::<8>() else {
            return damaged(pos, "frame too short".into());
        };
        let decoded = if json {
            serde_json::from_slice::<Vec<LogRecord>>(body).map_err(|e| e.to_string())
        } else {
            decode_records(body)
        };
        let records = match decoded {
            Ok(r) => r,
            Err(e) => return damaged(pos, format!("records do not decode: {e}")),
        };
        apply(u64::from_le_bytes(*seq), records)?;
        pos = start + len;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use loglens_core::RuleSet;
    use loglens_core::record::{RawLog, normalize};

    use super::*;

    fn records(n: usize, tag: &str) -> Vec<LogRecord> {
        (0..n)
            .map(|i| {
                let raw = RawLog {
                    service_name: Some("svc".into()),
                    message: Some(format!("{tag} {i}")),
                    ..RawLog::default()
                };
                normalize(raw, 1_700_000_000_000 + i as i64, &RuleSet::default()).unwrap()
            })
            .collect()
    }

    fn read_all(dir: &Path) -> (Vec<(u64, Vec<LogRecord>)>, u64) {
        let mut got = Vec::new();
        let next = replay::<io::Error>(dir, |seq, r| {
            got.push((seq, r));
            Ok(())
        })
        .unwrap();
        (got, next)
    }

    #[test]
    fn appends_replay_in_order_with_consecutive_seqs() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(dir.path(), 10, SEGMENT_BYTES).unwrap();
        let (a, b) = (records(3, "a"), records(2, "b"));
        assert_eq!(wal.append([a.as_slice(), b.as_slice()]).unwrap(), 10);
        assert_eq!(wal.append([records(1, "c").as_slice()]).unwrap(), 15);
        assert_eq!(wal.next_seq, 16);
        let (got, next) = read_all(dir.path());
        assert_eq!(
            got.iter().map(|(s, r)| (*s, r.len())).collect::<Vec<_>>(),
            [(10, 3), (13, 2), (15, 1)]
        );
        assert_eq!(got[0].1, a);
        assert_eq!(next, 16);
    }

    /// A segment an earlier version wrote (records as a JSON array) is
    /// replayed as it was, beside a segment of today's format.
    #[test]
    fn segments_of_the_json_format_still_replay() {
        let dir = tempfile::tempdir().unwrap();
        let old = records(3, "old");
        let mut data = MAGIC_JSON.to_vec();
        let payload: Vec<u8> =
            7u64.to_le_bytes().into_iter().chain(serde_json::to_vec(&old).unwrap()).collect();
        data.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        data.extend_from_slice(&xxh3_64(&payload).to_le_bytes());
        data.extend_from_slice(&payload);
        fs::write(segment_path(dir.path(), 7), data).unwrap();
        let new = records(2, "new");
        Wal::create(dir.path(), 10, SEGMENT_BYTES).unwrap().append([new.as_slice()]).unwrap();
        let (got, next) = read_all(dir.path());
        assert_eq!(got, [(7, old), (10, new)]);
        assert_eq!(next, 12);
    }

    /// A frame whose checksum holds but whose records do not decode (a bug,
    /// not a torn write) ends replay of that segment at the frame.
    #[test]
    fn a_frame_of_undecodable_records_is_damage() {
        let mut buf = MAGIC.to_vec();
        encode_frame(&mut buf, 1, &records(2, "a")).unwrap();
        let good = buf.len();
        let mut bad = Vec::new();
        encode_frame(&mut bad, 3, &records(1, "b")).unwrap();
        // Claim one byte more for the record than the frame holds, and
        // checksum the result so only the decoding can object.
        let at = FRAME_HEADER + 8;
        let len = u32::from_le_bytes(bad[at..at + 4].try_into().unwrap()) + 1;
        bad[at..at + 4].copy_from_slice(&len.to_le_bytes());
        let sum = xxh3_64(&bad[FRAME_HEADER..]);
        bad[4..FRAME_HEADER].copy_from_slice(&sum.to_le_bytes());
        buf.extend_from_slice(&bad);
        let mut seqs = Vec::new();
        let damage = read_frames::<io::Error>(&buf, |seq, _| {
            seqs.push(seq);
            Ok(())
        })
        .unwrap()
        .expect("damage");
        assert_eq!(seqs, [1]);
        assert_eq!(damage.good_len, good as u64);
        assert!(damage.why.contains("runs past the frame"), "{}", damage.why);
    }

    #[test]
    fn empty_log_reports_segment_start() {
        let dir = tempfile::tempdir().unwrap();
        Wal::create(dir.path(), 42, SEGMENT_BYTES).unwrap();
        let (got, next) = read_all(dir.path());
        assert!(got.is_empty());
        assert_eq!(next, 42);
    }

    #[test]
    fn torn_tail_is_cut_off_and_good_frames_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(dir.path(), 1, SEGMENT_BYTES).unwrap();
        wal.append([records(2, "a").as_slice()]).unwrap();
        let path = segment_path(dir.path(), 1);
        let good = fs::metadata(&path).unwrap().len();
        for garbage in
            [&b"\x05\x00"[..], &[0xff; 40][..], &[9, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1][..]]
        {
            let mut f = OpenOptions::new().append(true).open(&path).unwrap();
            f.write_all(garbage).unwrap();
            drop(f);
            let (got, next) = read_all(dir.path());
            assert_eq!(got.len(), 1);
            assert_eq!(next, 3);
            assert_eq!(fs::metadata(&path).unwrap().len(), good, "tail cut back");
        }
    }

    #[test]
    fn corrupt_older_segment_is_set_aside_and_replay_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(dir.path(), 1, 1).unwrap();
        wal.append([records(2, "a").as_slice()]).unwrap();
        wal.append([records(2, "b").as_slice()]).unwrap();
        let first = segment_path(dir.path(), 1);
        let mut bytes = fs::read(&first).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x55;
        fs::write(&first, bytes).unwrap();
        let (got, next) = read_all(dir.path());
        assert_eq!(got.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [3]);
        assert_eq!(next, 5);
        assert!(first.with_extension("corrupt").exists());
    }

    #[test]
    fn segments_roll_and_covered_ones_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(dir.path(), 1, 30).unwrap();
        for i in 0..4 {
            wal.append([records(1, &format!("r{i}")).as_slice()]).unwrap();
        }
        let names =
            || segments(dir.path()).unwrap().into_iter().map(|(s, _)| s).collect::<Vec<_>>();
        assert_eq!(names(), [1, 2, 3, 4], "each frame exceeds the tiny segment size");
        assert_eq!(remove_covered(dir.path(), 0).unwrap(), 0);
        assert_eq!(remove_covered(dir.path(), 2).unwrap(), 2);
        assert_eq!(names(), [3, 4]);
        assert_eq!(remove_covered(dir.path(), 100).unwrap(), 1);
        assert_eq!(names(), [4], "the newest segment stays");
        let (got, _) = read_all(dir.path());
        assert_eq!(got.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [4]);
    }

    /// Blocks of 10 from seq 1: a group reaching into the next block starts
    /// a segment, so trimming below a block boundary leaves no frame
    /// wholly below it.
    #[test]
    fn with_blocks_a_segment_starts_where_a_group_reaches_into_another_block() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(dir.path(), 1, SEGMENT_BYTES).unwrap().roll_at_blocks(1, 10);
        for n in [4, 4, 4, 4, 4, 12] {
            wal.append([records(n, "r").as_slice()]).unwrap();
        }
        let names =
            || segments(dir.path()).unwrap().into_iter().map(|(s, _)| s).collect::<Vec<_>>();
        assert_eq!(names(), [1, 9, 21], "9-12 reaches into block 11-20, 21-32 past it");
        assert_eq!(oldest(dir.path()).unwrap(), Some(1));
        // Block 1-10 sealed and committed: frames from 9 on stay.
        remove_covered(dir.path(), 10).unwrap();
        let (got, _) = read_all(dir.path());
        assert_eq!(got.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [9, 13, 17, 21]);
        remove_covered(dir.path(), 20).unwrap();
        assert_eq!(names(), [21]);
    }

    #[test]
    fn a_fully_committed_log_is_trimmed_to_an_empty_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(dir.path(), 1, SEGMENT_BYTES).unwrap();
        wal.append([records(3, "a").as_slice()]).unwrap();
        assert!(!wal.trim(2).unwrap(), "record 3 is not committed yet: the log stays");
        assert_eq!(read_all(dir.path()).0.len(), 1);
        assert!(wal.trim(3).unwrap());
        assert!(!wal.trim(3).unwrap(), "nothing left to trim");
        let (got, next) = read_all(dir.path());
        assert!(got.is_empty());
        assert_eq!(next, 4, "numbering goes on after the trim");
        assert_eq!(segments(dir.path()).unwrap().len(), 1);
        assert_eq!(wal.append([records(1, "b").as_slice()]).unwrap(), 4);
        assert_eq!(read_all(dir.path()).0.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [4]);
    }
}
