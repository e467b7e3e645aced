//! The hybrid backend (issue 13), being built: records kept in columnar
//! blocks cut in arrival order, beside a Tantivy index of only message
//! postings (but the id-like words, which each block's filter holds), the
//! service, host and tags as exact terms, and a `seq` locator. A posting's `seq` finds its block by the
//! blocks' first sequence numbers and its row by subtraction; every other
//! field is read from the block's columns, and exact-match lookups skip
//! blocks by their bloom filters. The spikes behind it are in
//! docs/storage.md ("Spike: columnar blocks", "Spike: blocks plus message
//! postings").
//!
//! Built so far: the block codec ([`block`]), records to bytes and back,
//! with the header a query reads before any column and the filter of exact
//! values ([`bloom`]); the postings schema ([`postings`]); the read view
//! the write path hands the read path ([`snapshot`]); and the write path
//! ([`engine`]): WAL, block cuts, upserts, refresh and crash recovery; the
//! read path ([`read`]): search and stats over a snapshot; and
//! [`HybridStore`], the `LogStore` of the two (`hybrid:///dir`), with the
//! Tantivy store's retention (whole blocks dropped, expired rows of the
//! others marked deleted: `retention`). docs/storage.md ("Design: the
//! hybrid backend") has what is left.

pub mod block;
pub mod bloom;
mod columns;
mod deleted;
pub mod engine;
mod frames;
mod indexer;
pub(crate) mod layout;
pub mod postings;
pub mod read;
mod retention;
pub mod snapshot;
mod store;
#[cfg(test)]
pub(crate) mod testing;

pub use block::{Block, BlockError, BlockWriter, Column, Extent, Group, Header, MAX_ROWS, encode};
pub use bloom::Field;
pub use engine::{BLOCK_ROWS, Engine};
pub use postings::PostingsFields;
pub use snapshot::{OpenRows, Place, Snapshot};
pub use store::HybridStore;
