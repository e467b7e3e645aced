//! The hybrid store's directory: which files say what, and reading back the
//! sealed blocks at open.
//!
//! ```text
//! layout      "hybrid 1\n": this directory is a hybrid store
//! wal/        the write-ahead log (the Tantivy store's format, `tantivy::wal`)
//! postings/   the Tantivy index of `super::postings`
//! blocks/     one file per sealed block, `{first_seq:020}.block`
//! deleted     sequence numbers of deleted rows (`super::deleted`)
//! floor       "{seq}\n": the first sequence number the store still holds;
//!             blocks wholly below it were dropped by retention (absent: 1)
//! ```
//!
//! The Tantivy store keeps its index in `index/` and writes no `layout`, so
//! each backend can tell the other's directory and refuse it.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tantivy::Directory;
use tantivy::directory::{MmapDirectory, OwnedBytes};
use tracing::warn;

use super::block::{Block, BlockError};
use super::frames::FrameCache;
use crate::tantivy::wal::sync_dir;
use crate::{Error, Result};

/// The file naming a directory's layout; only the hybrid store writes one.
pub(crate) const LAYOUT: &str = "layout";
/// What [`LAYOUT`] holds for this version of the hybrid store.
const HYBRID: &str = "hybrid 1\n";
const BLOCK_EXTENSION: &str = "block";

/// The URL to open `dir` with, for error messages.
fn url(scheme: &str, dir: &Path) -> String {
    format!("{scheme}://{}", dir.display())
}

/// The Tantivy store's refusal of a hybrid store directory.
pub(crate) fn refuse_in_tantivy(dir: &Path) -> Result<()> {
    if dir.join(LAYOUT).exists() {
        return Err(Error::Config(format!(
            "store {} is a hybrid store, not a tantivy one; open it as {}",
            dir.display(),
            url("hybrid", dir)
        )));
    }
    Ok(())
}

/// Makes `dir` a hybrid store directory, or checks that it is one. Refuses
/// a Tantivy store's directory (one with `index/`) and a layout this
/// version does not know.
pub(crate) fn claim(dir: &Path) -> Result<()> {
    if dir.join("index").exists() {
        return Err(Error::Config(format!(
            "store {} holds a tantivy store's index, not a hybrid store; open it as {}",
            dir.display(),
            url("tantivy", dir)
        )));
    }
    let path = dir.join(LAYOUT);
    match fs::read_to_string(&path) {
        Ok(text) if text == HYBRID => Ok(()),
        Ok(text) => Err(Error::Config(format!(
            "store {}: layout {:?} is not one this version reads (want {:?})",
            dir.display(),
            text.trim_end(),
            HYBRID.trim_end()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir)?;
            write_durably(dir, &path, HYBRID.as_bytes())?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes `bytes` to `path` in `dir` so that a crash leaves either the whole
/// file or none: a temporary file, fsync, rename, fsync of the directory.
fn write_durably(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// The floor marker's file name (see the module docs).
const FLOOR: &str = "floor";

/// The first sequence number the store in `dir` holds: what retention
/// left, 1 when it never dropped a block.
pub(crate) fn read_floor(dir: &Path) -> Result<u64> {
    let path = dir.join(FLOOR);
    match fs::read_to_string(&path) {
        Ok(text) => text.trim_end().parse().map_err(|_| {
            Error::Backend(format!(
                "{} should hold a sequence number, holds {:?}",
                path.display(),
                text.trim_end()
            ))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(1),
        Err(e) => Err(e.into()),
    }
}

/// Records durably that the store in `dir` holds nothing below `floor`:
/// from then on the blocks below it are gone, whatever is still on disk.
pub(crate) fn write_floor(dir: &Path, floor: u64) -> io::Result<()> {
    write_durably(dir, &dir.join(FLOOR), format!("{floor}\n").as_bytes())
}

/// Removes the files of the blocks starting at `firsts` (dropped by
/// retention, below the floor already written), then syncs the directory.
pub(crate) fn remove_blocks(blocks: &Path, firsts: &[u64]) -> io::Result<()> {
    for first in firsts {
        match fs::remove_file(block_path(blocks, *first)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    sync_dir(blocks)
}

/// The file of the block whose first record is `first_seq`.
pub(crate) fn block_path(blocks: &Path, first_seq: u64) -> PathBuf {
    blocks.join(format!("{first_seq:020}.{BLOCK_EXTENSION}"))
}

/// Writes a sealed block's bytes durably (see [`write_durably`]) and
/// says where: the file to map ([`map_block`]).
pub(crate) fn write_block(blocks: &Path, first_seq: u64, bytes: &[u8]) -> io::Result<PathBuf> {
    let path = block_path(blocks, first_seq);
    write_durably(blocks, &path, bytes)?;
    Ok(path)
}

/// The bytes of block file `path`, mapped into memory rather than read
/// into the heap: the kernel's page cache keeps the blocks that are read
/// and can evict them, so the process holds only the blocks' headers and
/// filters. The mapping is Tantivy's (its `MmapDirectory`, with no cache
/// shared between files); a block file is never written again once it has
/// its name (a torn one is removed first and written anew), and one
/// removed while mapped stays readable until it is dropped.
pub(crate) fn map_block(path: &Path) -> io::Result<OwnedBytes> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::other(format!("{} is not a block file", path.display())));
    };
    let dir = MmapDirectory::open(dir).map_err(io::Error::other)?;
    dir.open_read(Path::new(name)).map_err(io::Error::other)?.read_bytes()
}

/// Block files in `blocks`, by first sequence number. Removes temporary
/// files a crash left behind.
fn block_files(blocks: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(blocks)? {
        let path = entry?.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("tmp") => fs::remove_file(&path)?,
            Some(BLOCK_EXTENSION) => {
                let seq = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse().ok());
                if let Some(seq) = seq {
                    found.push((seq, path));
                }
            }
            _ => {}
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// Reads every sealed block from `floor` on, oldest first, each mapped
/// ([`map_block`]). Files of blocks below `floor` are what a retention pass had not
/// removed yet when it stopped: they are removed now. The others must
/// follow one another with no gap, from `floor`. The first file that does not parse, is
/// misnamed or leaves a gap is removed, with every later one, when the
/// write-ahead log still holds their records (`wal_oldest` is the first
/// sequence number it holds), so that the replay writes them again; when it
/// does not, that is an error naming the file. The blocks keep their
/// decompressed frames in `frames`.
pub(crate) fn load_blocks(
    blocks: &Path,
    floor: u64,
    wal_oldest: Option<u64>,
    frames: &Arc<FrameCache>,
) -> Result<Vec<Arc<Block>>> {
    let mut files = block_files(blocks)?;
    let below = files.partition_point(|(first, _)| *first < floor);
    if below > 0 {
        let firsts: Vec<u64> = files.drain(..below).map(|(first, _)| first).collect();
        remove_blocks(blocks, &firsts)?;
    }
    let mut loaded: Vec<Arc<Block>> = Vec::with_capacity(files.len());
    for (i, (first, path)) in files.iter().enumerate() {
        let end = loaded.last().map_or(floor, |b| b.header().seqs().end);
        // Checked on a copy read into the heap, then dropped: through the
        // mapping the check would map every block whole (`Block::parse_copy`).
        let problem = match map_block(path).and_then(|bytes| Ok((bytes, fs::read(path)?))) {
            Err(e) => e.to_string(),
            Ok((bytes, copy)) => match Block::parse_copy(bytes, &copy) {
                Err(e @ BlockError::Version(_)) => return Err(other_format(blocks, path, &e)),
                Err(e) => e.to_string(),
                Ok(b) if b.header().first_seq != *first => {
                    format!("it holds records from {}", b.header().first_seq)
                }
                Ok(_) if end != *first && loaded.is_empty() => {
                    format!("the store holds records from {floor}")
                }
                Ok(_) if end != *first => format!("the block before it ends at {end}"),
                Ok(b) => {
                    loaded.push(Arc::new(b.with_frames(Arc::clone(frames))));
                    continue;
                }
            },
        };
        let from = end.min(*first);
        if wal_oldest.is_none_or(|oldest| oldest > from) {
            return Err(Error::Backend(format!(
                "block file {} is unusable ({problem}) and the write-ahead log no longer holds its records",
                path.display()
            )));
        }
        for (_, later) in &files[i..] {
            warn!(file = %later.display(), reason = %problem, "block file set aside, rebuilding it from the write-ahead log");
            fs::remove_file(later)?;
        }
        sync_dir(blocks)?;
        break;
    }
    Ok(loaded)
}

/// The refusal of a block file of another format version `e`: not
/// damage to rebuild from the write-ahead log (which holds only the newest
/// records), but a store written by another version, whose every block
/// would be read wrongly (since version 3 the postings leave id-like
/// message words to the blocks' filters; since 4 a number's first varint
/// means another thing).
fn other_format(blocks: &Path, path: &Path, e: &BlockError) -> Error {
    let store = blocks.parent().unwrap_or(blocks);
    Error::Config(format!(
        "the blocks in {} were written by an incompatible version ({e}; file {}): \
         open {} with the version that wrote it, or move it away and ingest its records again",
        blocks.display(),
        path.display(),
        store.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_claimed_once_and_a_tantivy_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        claim(&store).unwrap();
        claim(&store).unwrap();
        assert_eq!(fs::read_to_string(store.join(LAYOUT)).unwrap(), HYBRID);
        let Err(Error::Config(msg)) = refuse_in_tantivy(&store) else { panic!("not refused") };
        assert!(msg.contains("hybrid://"), "{msg}");

        let tantivy = dir.path().join("tantivy");
        fs::create_dir_all(tantivy.join("index")).unwrap();
        refuse_in_tantivy(&tantivy).unwrap();
        let Err(Error::Config(msg)) = claim(&tantivy) else { panic!("not refused") };
        assert!(msg.contains(&format!("tantivy://{}", tantivy.display())), "{msg}");

        fs::write(store.join(LAYOUT), "hybrid 9\n").unwrap();
        let Err(Error::Config(msg)) = claim(&store) else { panic!("not refused") };
        assert!(msg.contains("hybrid 9"), "{msg}");
    }

    #[test]
    fn a_mapped_block_reads_its_file_and_outlives_its_removal() {
        let dir = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let path = write_block(dir.path(), 7, &bytes).unwrap();
        assert_eq!(path, block_path(dir.path(), 7));
        let mapped = map_block(&path).unwrap();
        assert_eq!(mapped.as_slice(), &bytes[..]);
        // Retention removes the files of blocks a snapshot may still hold.
        remove_blocks(dir.path(), &[7]).unwrap();
        assert!(!path.exists());
        assert_eq!(mapped.as_slice(), &bytes[..]);
        let err = map_block(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        // An empty file (a crash before its bytes reached the disk) maps
        // to nothing, which the block parser refuses as truncated.
        fs::write(&path, b"").unwrap();
        assert!(map_block(&path).unwrap().is_empty());
    }
}
