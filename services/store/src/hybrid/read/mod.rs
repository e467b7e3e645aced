//! The hybrid store's reads over one [`Snapshot`](super::Snapshot): search
//! and stats with the Tantivy store's answers (the same matches, order,
//! totals, cursors' behaviour and stats, limits and errors).
//!
//! A filter splits in two ([`select`]): message words go to the postings,
//! which give the sealed rows holding every word; every other condition is
//! checked on block headers first (time range, tenant and service
//! dictionaries, attribute keys), then the blocks' filters of exact values,
//! then the few columns the filter names. The open block's records are
//! checked with `Filter::matches`. Deleted rows never count.
//!
//! Search ([`search()`]) counts every candidate block's matches for the
//! total (from the header's groups, or the postings for words alone, where
//! they decide it) and reads sort keys (timestamp, and severity for the
//! severity sort) only from blocks whose header range can still reach the
//! page; only the page's records are built. Stats ([`stats()`]) count each
//! block's matches into the Tantivy store's per-segment partial, kept in
//! its stats cache for blocks the time range covers, and merge them the
//! same way.

mod search;
mod select;
mod stats;
#[cfg(test)]
mod tests;
mod text;

pub use search::search;
pub(crate) use stats::stats;
