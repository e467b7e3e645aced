//! Where log records live: one [`LogStore`] trait, one backend per cargo
//! feature, picked by URL with [`open`].
//!
//! - `tantivy:///path/to/dir` or a plain path: the embedded Tantivy index on
//!   local disk (feature `tantivy`, on by default).
//! - `http(s)://host:9200`: an Elasticsearch 8.x/9.x (or OpenSearch 2.x)
//!   cluster (feature `elasticsearch`, on by default).
//! - `hybrid:///path/to/dir`: records in columnar blocks beside a Tantivy
//!   index of message words (feature `tantivy`); being built for issue 13.

use std::sync::Arc;

use async_trait::async_trait;
use loglens_core::{LogRecord, Normalized, SearchRequest, SearchResult, Stats, StatsRequest};
use tokio::sync::broadcast;

#[cfg(feature = "elasticsearch")]
pub mod elastic;
pub mod error;
#[cfg(feature = "tantivy")]
pub mod hybrid;
mod location;
#[cfg(any(feature = "tantivy", feature = "elasticsearch"))]
mod shared;
#[cfg(feature = "tantivy")]
pub mod tantivy;
mod tenants;

pub use error::{Error, Result};
use location::Location;
pub use tenants::TenantRetention;

/// A batch of records that just became searchable, for `Tail`.
pub type Committed = Arc<Vec<LogRecord>>;

/// A record of a batch the store refused for good (retrying cannot help,
/// e.g. the cluster's mapping rejects a field). Callers dead-letter it.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    /// Position of the record in the batch given to [`LogStore::index`].
    pub position: usize,
    /// The field at fault, when the backend names one.
    pub field: Option<String>,
    /// The backend's reason, verbatim.
    pub reason: String,
    /// The record itself, handed back.
    pub record: LogRecord,
}

/// Whether the store can serve, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// True when reads and writes work.
    pub healthy: bool,
    /// Short human-readable detail, e.g. "1204 documents" or the failure.
    pub detail: String,
}

/// Size of a store, for the `loglens_store_*` gauges; `None` where the
/// backend cannot tell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Searchable documents.
    pub documents: Option<u64>,
    /// Bytes on disk (index plus write-ahead log).
    pub disk_bytes: Option<u64>,
}

/// The storage contract every backend meets; written once as the generic
/// suite in `tests/contract.rs`.
///
/// Invariants:
/// - `index` returns only once the batch is durable: a crash (even `kill -9`)
///   after it returns loses none of it. Every record is then either stored or
///   listed as [`Refused`]; nothing is dropped silently.
/// - Records are upserted by `LogRecord::id`: indexing the same id twice
///   leaves one record (the later one).
/// - A record is searchable at most about one second after `index` returned
///   (immediately after `refresh`).
#[async_trait]
pub trait LogStore: Send + Sync + 'static {
    /// Durably stores a batch (upsert by id). Returns the records the backend
    /// refused for good (empty for the embedded store); an `Err` means none of
    /// the batch can be counted as stored and the caller should retry.
    async fn index(&self, records: Vec<LogRecord>) -> Result<Vec<Refused>>;

    /// [`LogStore::index`] of records fresh from normalisation, whose ids
    /// are their content's ([`Normalized`]): a backend that would check
    /// that (the hybrid, to keep such ids out of its blocks) may take it as
    /// given. The default indexes them as any records.
    async fn index_normalized(&self, batch: Normalized) -> Result<Vec<Refused>> {
        self.index(batch.into_records()).await
    }

    /// One page of matching records, in the requested order. `total` counts
    /// every match. `next_cursor` continues after the page's last record
    /// with no result window limit.
    async fn search(&self, request: &SearchRequest) -> Result<SearchResult>;

    /// Aggregates over the records matching the request's range and service.
    async fn stats(&self, request: &StatsRequest) -> Result<Stats>;

    /// Batches of records as they become searchable, in commit order. A
    /// slow receiver may see `RecvError::Lagged` and miss batches; after
    /// `close` receivers see `RecvError::Closed`.
    fn subscribe(&self) -> broadcast::Receiver<Committed>;

    /// Whether the store can serve.
    async fn health(&self) -> Health;

    /// Makes everything indexed so far searchable now.
    async fn refresh(&self) -> Result<()>;

    /// Makes everything durable in the index itself and stops background
    /// work; later calls fail with `Error::Closed`.
    async fn close(&self) -> Result<()>;

    /// The backend's name in traces and metrics (`db.system.name`), e.g.
    /// `tantivy`, `elasticsearch`.
    fn backend(&self) -> &'static str {
        "unknown"
    }

    /// How big the store is; cheap enough to call every few seconds.
    async fn usage(&self) -> Usage {
        Usage::default()
    }
}

/// Opens the store a URL names: `http(s)://[user:password@]host:port`
/// (Elasticsearch), `tantivy:///dir`, `hybrid:///dir`, or a plain directory
/// path: a hybrid store, unless the directory already holds a Tantivy
/// store's index (made before the hybrid became the default), which is
/// opened as such. A URL that does not parse is an `Error::Config` saying
/// why.
pub async fn open(url: &str, options: StoreOptions) -> Result<Arc<dyn LogStore>> {
    let location = match Location::parse(url)? {
        Location::Plain(dir) => Location::embedded(dir),
        other => other,
    };
    match location {
        #[cfg(feature = "elasticsearch")]
        Location::Elastic(url) => Ok(Arc::new(elastic::ElasticStore::open(&url, options).await?)),
        #[cfg(not(feature = "elasticsearch"))]
        Location::Elastic(_) => {
            let _ = options;
            Err(Error::Config(format!("store {url}: built without the elasticsearch feature")))
        }
        #[cfg(feature = "tantivy")]
        Location::Tantivy(dir) => Ok(Arc::new(tantivy::TantivyStore::open(&dir, options).await?)),
        #[cfg(not(feature = "tantivy"))]
        Location::Tantivy(_) => {
            let _ = options;
            Err(Error::Config(format!("store {url}: built without the tantivy feature")))
        }
        #[cfg(feature = "tantivy")]
        Location::Hybrid(dir) => Ok(Arc::new(hybrid::HybridStore::open(&dir, options).await?)),
        #[cfg(not(feature = "tantivy"))]
        Location::Hybrid(_) => {
            let _ = options;
            Err(Error::Config(format!("store {url}: built without the tantivy feature")))
        }
        Location::Plain(_) => unreachable!("a plain path is resolved above"),
    }
}

/// Tuning shared by backends.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How often new records are made searchable (Tantivy commit + reload), ms.
    /// On the embedded stores the longest interval, used once the load is
    /// heavy.
    pub refresh_interval_ms: u64,
    /// Embedded stores (Tantivy, hybrid): the refresh interval while the
    /// load is light (few records per commit), ms; 0, or at least `refresh_interval_ms`, keeps the
    /// interval fixed at `refresh_interval_ms`. Elasticsearch ignores it.
    pub min_refresh_interval_ms: u64,
    /// Indexing threads (Tantivy writer threads).
    pub indexing_threads: usize,
    /// Indexing memory budget, bytes, shared by the threads.
    pub indexing_memory_bytes: usize,
    /// Keep whole UTC days for this long: a day is removed once it ended at
    /// least this many days ago. `None` keeps everything forever. Applies
    /// to every tenant without an override in `tenant_retention`.
    pub retention_days: Option<u32>,
    /// Per-tenant retention overrides, read afresh by every retention pass
    /// (the node updates them when its key file reloads). Passes run while
    /// either this or `retention_days` is set.
    pub tenant_retention: TenantRetention,
    /// Elasticsearch: indices are `{index_prefix}-YYYY.MM.DD`, read through
    /// `{index_prefix}-*`.
    pub index_prefix: String,
    /// Tantivy: bound of the per-segment stats cache (estimated heap bytes
    /// of the partial results it keeps); 0 turns it off. Elasticsearch
    /// ignores it (its shard request cache does this job).
    pub stats_cache_bytes: usize,
    /// Hybrid: bound of the cache of decompressed column frames of sealed
    /// blocks, bytes; 0 turns it off. The Tantivy store reads its postings
    /// where they lie (the page cache keeps them), and Elasticsearch
    /// ignores it.
    pub block_cache_bytes: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            refresh_interval_ms: 1000,
            min_refresh_interval_ms: 400,
            indexing_threads: 2,
            indexing_memory_bytes: 256 << 20,
            retention_days: None,
            tenant_retention: TenantRetention::default(),
            index_prefix: "logs".to_owned(),
            stats_cache_bytes: 64 << 20,
            block_cache_bytes: 64 << 20,
        }
    }
}
