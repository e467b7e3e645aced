//! The hybrid backend (issue 13), being built: records kept in columnar
//! blocks cut in arrival order, beside a Tantivy index of only message
//! postings and a `seq` locator. A posting's `seq` finds its block by the
//! blocks' first sequence numbers and its row by subtraction; every other
//! field is read from the block's columns, and exact-match lookups skip
//! blocks by their bloom filters. The spikes behind it are in
//! docs/storage.md ("Spike: columnar blocks", "Spike: blocks plus message
//! postings").
//!
//! This is the first slice: the block codec ([`block`]), records to bytes
//! and back, with the header a query reads before any column and the
//! filter of exact values ([`bloom`]). No store uses it yet.

pub mod block;
pub mod bloom;
mod columns;

pub use block::{Block, BlockError, BlockWriter, Column, Extent, Header, MAX_ROWS, encode};
pub use bloom::Field;
