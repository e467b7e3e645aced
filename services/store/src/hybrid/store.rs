//! The hybrid backend as a [`LogStore`]: the write path's [`Engine`] and
//! the read path's [`read::search`] and [`read::stats`] over the engine's
//! latest [`Snapshot`](super::Snapshot). `hybrid:///dir` opens one.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use loglens_core::{LogRecord, Normalized, SearchRequest, SearchResult, Stats, StatsRequest};
use tantivy::tokenizer::TextAnalyzer;
use tokio::sync::broadcast;

use super::engine::Engine;
use super::postings::message_analyzer;
use super::read;
use crate::shared::closed::ClosedFlag;
use crate::tantivy::stats::StatsCache;
use crate::tantivy::{RetentionReport, blocking};
use crate::{Committed, Health, LogStore, Refused, Result, StoreOptions, Usage};

/// Records in columnar blocks beside a Tantivy index of message words
/// (docs/storage.md, "Design: the hybrid backend").
pub struct HybridStore {
    engine: Engine,
    /// How a query's words are cut ([`message_analyzer`]), as the
    /// postings' words were.
    analyzer: TextAnalyzer,
    /// Blocks' partial stats, bounded by `StoreOptions::stats_cache_bytes`.
    stats_cache: Arc<StatsCache>,
    closed: ClosedFlag,
}

impl std::fmt::Debug for HybridStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HybridStore").field("dir", &self.engine.dir()).finish_non_exhaustive()
    }
}

impl HybridStore {
    /// Opens the store in `dir`, creating it if missing, replays the
    /// write-ahead log and runs a retention pass (when a window is set).
    pub async fn open(dir: &Path, options: StoreOptions) -> Result<HybridStore> {
        let stats_cache = Arc::new(StatsCache::new(options.stats_cache_bytes));
        let dir = dir.to_owned();
        let engine = blocking(move || Engine::open(&dir, &options)).await?;
        let analyzer = message_analyzer();
        Ok(HybridStore { engine, analyzer, stats_cache, closed: ClosedFlag::default() })
    }

    /// Runs a retention pass now, as if the wall clock read `now_ms` (ms
    /// since the epoch), after every `index()` that already returned; the
    /// rows it removes are gone from answers when it returns. `None` when
    /// neither `retention_days` nor any tenant override is set. The report
    /// never counts merged segments: blocks are dropped or marked, not
    /// rewritten.
    pub async fn apply_retention(&self, now_ms: i64) -> Result<Option<RetentionReport>> {
        self.closed.check()?;
        self.engine.apply_retention(now_ms).await
    }

    /// Simulates a crash (`kill -9`) for tests: stops background work
    /// without committing; later calls fail with `Error::Closed`.
    pub async fn abort(&self) -> Result<()> {
        self.closed.close()?;
        self.engine.abort().await
    }
}

#[async_trait]
impl LogStore for HybridStore {
    async fn index(&self, records: Vec<LogRecord>) -> Result<Vec<Refused>> {
        self.closed.check()?;
        self.engine.index(records).await.map(|()| Vec::new())
    }

    async fn index_normalized(&self, batch: Normalized) -> Result<Vec<Refused>> {
        self.closed.check()?;
        self.engine.index_normalized(batch).await.map(|()| Vec::new())
    }

    async fn search(&self, request: &SearchRequest) -> Result<SearchResult> {
        self.closed.check()?;
        let (snap, mut analyzer, request) =
            (self.engine.snapshot(), self.analyzer.clone(), request.clone());
        blocking(move || read::search(&snap, &mut analyzer, &request)).await
    }

    async fn stats(&self, request: &StatsRequest) -> Result<Stats> {
        self.closed.check()?;
        let (snap, request) = (self.engine.snapshot(), request.clone());
        let cache = Arc::clone(&self.stats_cache);
        blocking(move || read::stats(&snap, &request, &cache)).await
    }

    fn subscribe(&self) -> broadcast::Receiver<Committed> {
        self.engine.subscribe()
    }

    async fn health(&self) -> Health {
        if self.closed.is_set() {
            return ClosedFlag::health();
        }
        self.engine.health().await
    }

    async fn refresh(&self) -> Result<()> {
        self.closed.check()?;
        self.engine.refresh().await
    }

    async fn close(&self) -> Result<()> {
        self.closed.close()?;
        self.engine.close().await
    }

    fn backend(&self) -> &'static str {
        "hybrid"
    }

    async fn usage(&self) -> Usage {
        self.engine.usage().await
    }
}
