//! The scale-out backend: an Elasticsearch 8.x/9.x cluster (OpenSearch 2.x
//! where the API is the same) through the official `elasticsearch` crate.
//!
//! Layout: one index per UTC day of record time, `{prefix}-YYYY.MM.DD`,
//! created from a composable index template installed at open; reads go
//! through `{prefix}-*`, so Kibana's `logs-*` data view sees the same data.
//!
//! Writes: `_bulk` with the record's deterministic id as `_id`, so Kafka
//! re-delivery and client retries overwrite instead of duplicating. A 200
//! answer with `"errors": true` is read item by item: items the cluster was
//! too busy for (429, `es_rejected_execution_exception`, 5xx) are sent again
//! with backoff; items refused for good (mapping and other 4xx) are returned
//! as [`Refused`] for the dead-letter path. `index` returns only once every
//! item is stored or refused. A whole request that fails (connection, 429,
//! 5xx) is retried with capped backoff for up to [`ElasticConfig::retry_for`]
//! and then reported, so the processor pauses its partitions (backpressure).
//!
//! Durability: a bulk item is acknowledged by Elasticsearch after its
//! translog is fsynced (the default `index.translog.durability: request`), so
//! a returned `index` survives a node crash. Visibility follows the
//! template's `index.refresh_interval` (the store's refresh interval).
//!
//! Tenants: one `tenant` keyword field in the same day indices (not an
//! index per tenant: that would multiply shards by tenants), written on
//! every document, the default tenant's included. A filter with a tenant
//! adds its `term` to the one query every search, cursor page and stats
//! request sends; documents written before tenants existed have no
//! `tenant` and count as the default tenant's. At open the field is added
//! to the mapping of existing indices, which the strict mapping of an
//! earlier template would otherwise make refuse every document.
//!
//! Retention: an ILM policy deletes a day's index `retention_days` full days
//! after the day ended (each index's ILM age counts from its day, set through
//! `index.lifecycle.origination_date`). An index holds every tenant's records
//! of its day, so with tenant overrides the policy waits for the longest
//! window, and an hourly pass starts a `_delete_by_query` for each shorter
//! one (a tenant's records, or every tenant without an override, before
//! that window's cutoff). Without `retention_days` no policy deletes indices
//! (tenants without an override keep everything) and overriding tenants are
//! only deleted by query. Clusters without ILM (OpenSearch) get a warning at
//! open, and the passes delete by query for every window.
//!
//! `subscribe` (for `Tail`) sees each batch once the bulk request is
//! acknowledged, which may be up to one refresh interval before a search
//! finds it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use chrono::Utc;
use elasticsearch::Elasticsearch;
use elasticsearch::auth::Credentials;
use elasticsearch::http::headers::{CONTENT_TYPE, HeaderMap, HeaderValue};
use elasticsearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use elasticsearch::http::{Method, StatusCode, Url};
use loglens_core::{LogRecord, SearchRequest, SearchResult, Stats, StatsRequest};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;
use tracing::{debug, info, warn};

use crate::shared::aggs;
use crate::shared::closed::ClosedFlag;
use crate::shared::tail::Tail;
use crate::tenants::Windows;
use crate::{
    Committed, Error, Health, LogStore, Refused, Result, StoreOptions, TenantRetention, Usage,
};

pub mod dsl;

use dsl::ItemOutcome;

/// How the backend talks to the cluster.
#[derive(Debug, Clone)]
pub struct ElasticConfig {
    /// Time limit of one HTTP request.
    pub request_timeout: Duration,
    /// How long a write keeps retrying a busy or unreachable cluster before
    /// it reports failure (the caller then backs off and tries again).
    pub retry_for: Duration,
    /// First retry delay; doubles up to `max_backoff`.
    pub first_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// How long `open` waits for the cluster to answer at all.
    pub connect_for: Duration,
}

impl Default for ElasticConfig {
    fn default() -> Self {
        ElasticConfig {
            request_timeout: Duration::from_secs(30),
            retry_for: Duration::from_secs(30),
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            connect_for: Duration::from_secs(60),
        }
    }
}

/// A [`LogStore`] on an Elasticsearch cluster.
pub struct ElasticStore {
    conn: Conn,
    prefix: String,
    /// Whether day indices are under the lifecycle policy (their ILM age
    /// then counts from their day).
    lifecycle: bool,
    /// Retention passes, shared with the task that runs them hourly.
    retention: Arc<RetentionJob>,
    retention_task: AbortHandle,
    /// Days (ms / 86,400,000) whose index is known to exist.
    known: Mutex<HashSet<i64>>,
    tail: Tail,
    closed: ClosedFlag,
}

/// The client and its settings: what every request needs.
#[derive(Clone)]
struct Conn {
    client: Elasticsearch,
    config: ElasticConfig,
}

/// What a retention pass did on the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPass {
    /// Days after which the lifecycle policy deletes a day's index (the
    /// longest window); `None` when no policy deletes indices (no
    /// store-wide `retention_days`, or a cluster without ILM).
    pub policy_days: Option<u32>,
    /// Tenants whose expired records a `_delete_by_query` was started for
    /// (their window is shorter than the policy's).
    pub tenants: Vec<String>,
    /// Whether one was started for every tenant without an override.
    pub others: bool,
}

/// Retention passes: the windows, and the days of the policy installed.
struct RetentionJob {
    conn: Conn,
    prefix: String,
    global: Option<u32>,
    tenants: TenantRetention,
    /// The installed policy's delete age; `None`: no policy deletes indices.
    policy_days: Mutex<Option<u32>>,
}

/// A response: status and body bytes.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

impl Answer {
    fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// Whether retrying the same request later can help.
    fn transient(&self) -> bool {
        matches!(self.status.as_u16(), 429 | 502 | 503 | 504)
    }

    /// The cluster's own description of a failure.
    fn describe(&self) -> String {
        match dsl::parse_error(&self.body) {
            Some(e) => format!("HTTP {}: {}", self.status.as_u16(), e.describe()),
            None => format!(
                "HTTP {}: {}",
                self.status.as_u16(),
                String::from_utf8_lossy(&self.body).chars().take(300).collect::<String>()
            ),
        }
    }

    fn error_type(&self) -> Option<String> {
        dsl::parse_error(&self.body).map(|e| e.kind)
    }
}

/// Batches a slow `subscribe()`r may fall behind before it lags.
const TAIL_CAPACITY: usize = 64;

/// The waits between retries: `first_backoff`, doubling up to `max_backoff`,
/// without end and without jitter.
fn backoff(config: &ElasticConfig) -> ExponentialBackoff {
    ExponentialBuilder::new()
        .with_min_delay(config.first_backoff)
        .with_factor(2.0)
        .with_max_delay(config.max_backoff)
        .without_max_times()
        .build()
}

/// The retries of one operation: [`backoff`]'s waits until a wall-clock
/// budget (counted from the first attempt, requests included) is spent.
struct Retries {
    delays: ExponentialBackoff,
    deadline: Instant,
    max: Duration,
}

impl Retries {
    fn new(config: &ElasticConfig, budget: Duration) -> Retries {
        let deadline = Instant::now() + budget;
        Retries { delays: backoff(config), deadline, max: config.max_backoff }
    }

    /// Whether the budget is spent: the caller then reports the last failure.
    fn spent(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Waits before the next attempt.
    async fn wait(&mut self) {
        tokio::time::sleep(self.delays.next().unwrap_or(self.max)).await;
    }
}

impl ElasticStore {
    /// Connects to the cluster at `url` (`http(s)://[user:password@]host:port`),
    /// installs the index template (and the ILM policy with retention).
    pub async fn open(url: &str, options: StoreOptions) -> Result<ElasticStore> {
        ElasticStore::open_with(url, options, ElasticConfig::default()).await
    }

    /// [`ElasticStore::open`] with explicit client settings.
    pub async fn open_with(
        url: &str,
        options: StoreOptions,
        config: ElasticConfig,
    ) -> Result<ElasticStore> {
        dsl::check_prefix(&options.index_prefix)?;
        let mut url =
            Url::parse(url).map_err(|e| Error::Config(format!("store {url}: not a URL: {e}")))?;
        let credentials = (!url.username().is_empty()).then(|| {
            let user = percent_decode(url.username());
            let password = url.password().map(percent_decode).unwrap_or_default();
            Credentials::Basic(user, password)
        });
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let shown = url.to_string();
        let mut builder = TransportBuilder::new(SingleNodeConnectionPool::new(url))
            .timeout(config.request_timeout)
            .disable_proxy();
        if let Some(c) = credentials {
            builder = builder.auth(c);
        }
        let transport =
            builder.build().map_err(|e| Error::Config(format!("store {shown}: {e}")))?;
        let (tail, _) = Tail::new(TAIL_CAPACITY);
        let conn = Conn { client: Elasticsearch::new(transport), config };
        let retention = Arc::new(RetentionJob {
            conn: conn.clone(),
            prefix: options.index_prefix.clone(),
            global: options.retention_days,
            tenants: options.tenant_retention.clone(),
            policy_days: Mutex::new(None),
        });
        let job = retention.clone();
        // The first pass an hour after open: ILM covers the longest window
        // meanwhile, and open stays quick.
        let retention_task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(RETENTION_EVERY).await;
                if let Err(e) = job.pass(now_ms()).await {
                    warn!(error = %e, "retention pass failed; trying again in an hour");
                }
            }
        })
        .abort_handle();
        let mut store = ElasticStore {
            conn,
            prefix: options.index_prefix.clone(),
            lifecycle: false,
            retention,
            retention_task,
            known: Mutex::new(HashSet::new()),
            tail,
            closed: ClosedFlag::default(),
        };
        store.wait_for_cluster(&shown).await?;
        store.install(&options).await?;
        info!(cluster = %shown, prefix = %store.prefix, "elasticsearch store ready");
        Ok(store)
    }

    /// Waits until the cluster answers, up to `connect_for`.
    async fn wait_for_cluster(&self, shown: &str) -> Result<()> {
        let mut retries = Retries::new(&self.conn.config, self.conn.config.connect_for);
        loop {
            match self.conn.call(Method::Get, "/", None, None).await {
                Ok(a) if a.ok() => return Ok(()),
                Ok(a) if !a.transient() => {
                    return Err(Error::Config(format!(
                        "elasticsearch at {shown} refused the client: {}",
                        a.describe()
                    )));
                }
                outcome => {
                    let why = match outcome {
                        Ok(a) => a.describe(),
                        Err(e) => e.to_string(),
                    };
                    if retries.spent() {
                        return Err(Error::Backend(format!(
                            "elasticsearch at {shown} did not answer within {:?}: {why}",
                            self.conn.config.connect_for
                        )));
                    }
                    warn!(cluster = %shown, %why, "waiting for elasticsearch");
                    retries.wait().await;
                }
            }
        }
    }

    /// Installs the lifecycle policy (with a store-wide retention), the
    /// index template and the `tenant` field on indices made before it;
    /// all are PUTs of the full definition, so repeating them is harmless.
    async fn install(&mut self, options: &StoreOptions) -> Result<()> {
        let mut retention = false;
        let windows = Windows::now(options.retention_days, &options.tenant_retention);
        if let Some(days) = dsl::policy_days(&windows) {
            let path = format!("/_ilm/policy/{}", dsl::policy_name(&self.prefix));
            let a = self
                .conn
                .call_retrying(Method::Put, &path, Some(&dsl::lifecycle_policy(days)))
                .await?;
            if a.ok() {
                retention = true;
                *self.retention.policy_days.lock() = Some(days);
            } else {
                warn!(
                    error = %a.describe(),
                    "the cluster did not take the ILM policy (OpenSearch has no ILM); retention is not enforced"
                );
            }
        }
        let template = dsl::index_template(&self.prefix, options.refresh_interval_ms, retention);
        let path = format!("/_index_template/{}", self.prefix);
        let a = self.conn.call_retrying(Method::Put, &path, Some(&template)).await?;
        if !a.ok() {
            return Err(Error::Backend(format!(
                "installing index template {}: {}",
                self.prefix,
                a.describe()
            )));
        }
        self.lifecycle = retention;
        // Indices made by a template without `tenant` would refuse every
        // document now (strict mapping): add the field to them. None may
        // exist yet.
        let path = format!("/{}/_mapping", dsl::read_pattern(&self.prefix));
        let a = self
            .conn
            .call_bytes_retrying(
                Method::Put,
                &path,
                Some(READ_PARAMS),
                Some(serde_json::to_vec(&dsl::tenant_mapping()).unwrap_or_default()),
            )
            .await?;
        let no_index = a.error_type().as_deref() == Some("index_not_found_exception");
        if !a.ok() && !no_index {
            return Err(Error::Backend(format!(
                "adding the tenant field to indices {}: {}",
                dsl::read_pattern(&self.prefix),
                a.describe()
            )));
        }
        Ok(())
    }

    /// Runs a retention pass now, as if the wall clock read `now_ms` (ms
    /// since the epoch): keeps the lifecycle policy's delete age at the
    /// longest window and starts a `_delete_by_query` for each shorter
    /// window. `None` when neither `retention_days` nor any tenant override
    /// is set. The store runs one every hour by itself.
    pub async fn apply_retention(&self, now_ms: i64) -> Result<Option<RetentionPass>> {
        self.closed.check()?;
        self.retention.pass(now_ms).await
    }

    /// Creates the day indices of `records` not seen yet (with retention the
    /// index's ILM age is set to count from its day).
    async fn ensure_indices(&self, records: &[LogRecord]) -> Result<()> {
        let missing: Vec<i64> = {
            let known = self.known.lock();
            let mut days: Vec<i64> = records
                .iter()
                .map(|r| r.timestamp.div_euclid(dsl::DAY_MS))
                .filter(|d| !known.contains(d))
                .collect();
            days.sort_unstable();
            days.dedup();
            days
        };
        for day in missing {
            let index = dsl::index_for(&self.prefix, day * dsl::DAY_MS);
            let body = dsl::create_index_body(&index, self.lifecycle);
            let a = self.conn.call_retrying(Method::Put, &format!("/{index}"), Some(&body)).await?;
            let exists = a.error_type().as_deref() == Some("resource_already_exists_exception");
            if !a.ok() && !exists {
                return Err(Error::Backend(format!("creating index {index}: {}", a.describe())));
            }
            self.known.lock().insert(day);
        }
        Ok(())
    }
}

impl Conn {
    /// One request; transport failures (refused connection, timeout) are errors.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: Option<&[(&str, &str)]>,
        body: Option<Vec<u8>>,
    ) -> Result<Answer> {
        let mut headers = HeaderMap::new();
        if path.ends_with("/_bulk") {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
        }
        let response = self
            .client
            .send(method, path, headers, query, body, None)
            .await
            .map_err(|e| Error::Backend(format!("elasticsearch {path}: {e}")))?;
        let status = response.status_code();
        let body = response
            .bytes()
            .await
            .map_err(|e| Error::Backend(format!("elasticsearch {path}: {e}")))?
            .to_vec();
        Ok(Answer { status, body })
    }

    /// A JSON request, retried while the failure is transient, up to `retry_for`.
    async fn call_retrying(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer> {
        let body = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        self.call_bytes_retrying(method, path, None, body).await
    }

    async fn call_bytes_retrying(
        &self,
        method: Method,
        path: &str,
        query: Option<&[(&str, &str)]>,
        body: Option<Vec<u8>>,
    ) -> Result<Answer> {
        let mut retries = Retries::new(&self.config, self.config.retry_for);
        loop {
            let why = match self.call(method, path, query, body.clone()).await {
                Ok(a) if !a.transient() => return Ok(a),
                Ok(a) => a.describe(),
                Err(e) => e.to_string(),
            };
            if retries.spent() {
                return Err(Error::Backend(format!(
                    "{path}: still failing after {:?}: {why}",
                    self.config.retry_for
                )));
            }
            debug!(%path, %why, "retrying");
            retries.wait().await;
        }
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Query string of reads over the day indices: a pattern matching nothing
/// (a fresh cluster) is an empty result, not an error.
const READ_PARAMS: &[(&str, &str)] =
    &[("ignore_unavailable", "true"), ("allow_no_indices", "true")];

#[async_trait]
impl LogStore for ElasticStore {
    async fn index(&self, records: Vec<LogRecord>) -> Result<Vec<Refused>> {
        self.closed.check()?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        self.ensure_indices(&records).await?;
        // (position, field, reason) of the items refused for good.
        let mut refusals: Vec<(usize, Option<String>, String)> = Vec::new();
        let mut pending: Vec<usize> = (0..records.len()).collect();
        let mut retries = Retries::new(&self.conn.config, self.conn.config.retry_for);
        while !pending.is_empty() {
            let batch: Vec<&LogRecord> = pending.iter().map(|&i| &records[i]).collect();
            let body = dsl::bulk_body(&self.prefix, &batch)?;
            let a = self.conn.call_bytes_retrying(Method::Post, "/_bulk", None, Some(body)).await?;
            if !a.ok() {
                return Err(Error::Backend(format!("bulk request refused: {}", a.describe())));
            }
            let outcomes = dsl::parse_bulk(&a.body, pending.len())?;
            let mut again = Vec::new();
            let mut last_why = String::new();
            for (&position, outcome) in pending.iter().zip(outcomes) {
                match outcome {
                    ItemOutcome::Done => {}
                    ItemOutcome::Retry(why) => {
                        again.push(position);
                        last_why = why;
                    }
                    ItemOutcome::Refused { field, reason } => {
                        refusals.push((position, field, reason))
                    }
                }
            }
            if !again.is_empty() {
                if retries.spent() {
                    return Err(Error::Backend(format!(
                        "{} of {} records still rejected by the cluster after {:?}: {last_why}",
                        again.len(),
                        records.len(),
                        self.conn.config.retry_for
                    )));
                }
                debug!(items = again.len(), why = %last_why, "bulk items rejected, retrying");
                retries.wait().await;
            }
            pending = again;
        }
        refusals.sort_by_key(|r| r.0);
        if let Some((_, _, first)) = refusals.first() {
            warn!(refused = refusals.len(), %first, "elasticsearch refused records");
        }
        // Hand the refused records back to the caller; publish the rest.
        let mut refused = Vec::with_capacity(refusals.len());
        let mut stored = Vec::with_capacity(records.len() - refusals.len());
        let mut next = refusals.into_iter().peekable();
        for (position, record) in records.into_iter().enumerate() {
            match next.next_if(|r| r.0 == position) {
                Some((_, field, reason)) => {
                    refused.push(Refused { position, field, reason, record })
                }
                None => stored.push(record),
            }
        }
        self.tail.publish(stored);
        Ok(refused)
    }

    async fn search(&self, request: &SearchRequest) -> Result<SearchResult> {
        self.closed.check()?;
        let body = serde_json::to_vec(&dsl::search_body(request)?).unwrap_or_default();
        let path = format!("/{}/_search", dsl::read_pattern(&self.prefix));
        let a = self.conn.call(Method::Post, &path, Some(READ_PARAMS), Some(body)).await?;
        match a.status.as_u16() {
            200 => dsl::parse_search(&a.body, request),
            404 if a.error_type().as_deref() == Some("index_not_found_exception") => {
                Ok(dsl::empty_search(request))
            }
            _ => Err(Error::Backend(format!("search: {}", a.describe()))),
        }
    }

    async fn stats(&self, request: &StatsRequest) -> Result<Stats> {
        self.closed.check()?;
        let body = serde_json::to_vec(&dsl::stats_body(request)).unwrap_or_default();
        let path = format!("/{}/_search", dsl::read_pattern(&self.prefix));
        let a = self.conn.call(Method::Post, &path, Some(READ_PARAMS), Some(body)).await?;
        match a.status.as_u16() {
            200 => dsl::parse_stats(&a.body),
            404 if a.error_type().as_deref() == Some("index_not_found_exception") => {
                Ok(Stats::default())
            }
            400 if a.error_type().as_deref() == Some("too_many_buckets_exception")
                || a.describe().contains("too_many_buckets") =>
            {
                Err(aggs::too_big("stats would have too many buckets"))
            }
            _ => Err(Error::Backend(format!("stats: {}", a.describe()))),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Committed> {
        self.tail.subscribe()
    }

    async fn health(&self) -> Health {
        if self.closed.is_set() {
            return ClosedFlag::health();
        }
        match self.conn.call(Method::Get, "/_cluster/health", None, None).await {
            Ok(a) if a.ok() => match dsl::parse_health(&a.body) {
                Ok((healthy, detail)) => Health { healthy, detail },
                Err(e) => Health { healthy: false, detail: e.to_string() },
            },
            // 408: the health call's own timeout; the body still says red.
            Ok(a) => match dsl::parse_health(&a.body) {
                Ok((_, detail)) => Health { healthy: false, detail },
                Err(_) => {
                    Health { healthy: false, detail: format!("cluster health: {}", a.describe()) }
                }
            },
            Err(e) => Health { healthy: false, detail: e.to_string() },
        }
    }

    async fn refresh(&self) -> Result<()> {
        self.closed.check()?;
        let path = format!("/{}/_refresh", dsl::read_pattern(&self.prefix));
        let a = self.conn.call(Method::Post, &path, Some(READ_PARAMS), None).await?;
        if a.ok() { Ok(()) } else { Err(Error::Backend(format!("refresh: {}", a.describe()))) }
    }

    fn backend(&self) -> &'static str {
        "elasticsearch"
    }

    /// Primary documents and store size of the day indices (`_stats`).
    async fn usage(&self) -> Usage {
        if self.closed.is_set() {
            return Usage::default();
        }
        let path = format!("/{}/_stats/docs,store", dsl::read_pattern(&self.prefix));
        match self.conn.call(Method::Get, &path, Some(READ_PARAMS), None).await {
            Ok(a) if a.ok() => dsl::parse_usage(&a.body),
            _ => Usage::default(),
        }
    }

    async fn close(&self) -> Result<()> {
        self.closed.close()?;
        self.retention_task.abort();
        self.tail.close();
        Ok(())
    }
}

impl Drop for ElasticStore {
    fn drop(&mut self) {
        self.retention_task.abort();
    }
}

/// How often the store runs a retention pass.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// Query string of a retention `_delete_by_query`: over whatever day
/// indices exist, version conflicts (a record upserted meanwhile) skipped,
/// run as a task so a long delete outlasts no request timeout.
const DELETE_PARAMS: &[(&str, &str)] = &[
    ("ignore_unavailable", "true"),
    ("allow_no_indices", "true"),
    ("conflicts", "proceed"),
    ("wait_for_completion", "false"),
];

/// The wall clock, ms since the epoch.
fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl RetentionJob {
    /// One pass at `now_ms`; see [`ElasticStore::apply_retention`].
    async fn pass(&self, now_ms: i64) -> Result<Option<RetentionPass>> {
        let windows = Windows::now(self.global, &self.tenants);
        if !windows.any() {
            return Ok(None);
        }
        let mut policy_days = *self.policy_days.lock();
        // A policy is in force: its delete age follows the longest window,
        // which moves as tenant overrides change.
        if let (Some(installed), Some(want)) = (policy_days, dsl::policy_days(&windows))
            && installed != want
        {
            let path = format!("/_ilm/policy/{}", dsl::policy_name(&self.prefix));
            let a = self
                .conn
                .call_retrying(Method::Put, &path, Some(&dsl::lifecycle_policy(want)))
                .await?;
            if a.ok() {
                info!(days = want, "lifecycle policy now deletes indices after the longest window");
                policy_days = Some(want);
                *self.policy_days.lock() = policy_days;
            } else {
                warn!(error = %a.describe(), days = want, "cannot update the lifecycle policy");
            }
        }
        let mut pass = RetentionPass { policy_days, tenants: Vec::new(), others: false };
        let path = format!("/{}/_delete_by_query", dsl::read_pattern(&self.prefix));
        for delete in dsl::retention_deletes(&windows, policy_days, now_ms) {
            let body = serde_json::to_vec(&delete.body).unwrap_or_default();
            let a = self
                .conn
                .call_bytes_retrying(Method::Post, &path, Some(DELETE_PARAMS), Some(body))
                .await?;
            let no_index = a.error_type().as_deref() == Some("index_not_found_exception");
            if !a.ok() && !no_index {
                return Err(Error::Backend(format!("retention delete: {}", a.describe())));
            }
            debug!(tenant = ?delete.tenant, cutoff_ms = delete.cutoff_ms, "retention delete started");
            match delete.tenant {
                Some(t) => pass.tenants.push(t),
                None => pass.others = true,
            }
        }
        Ok(Some(pass))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schedule written out by hand before `backon` computed it.
    fn doubling(config: &ElasticConfig, n: usize) -> Vec<Duration> {
        let mut next = config.first_backoff;
        (0..n)
            .map(|_| {
                let wait = next;
                next = (next * 2).min(config.max_backoff);
                wait
            })
            .collect()
    }

    #[test]
    fn backoff_doubles_from_the_first_wait_up_to_the_cap_without_end() {
        for (first, max) in [(100, 5_000), (10, 50), (10, 100), (300, 200), (0, 10)] {
            let config = ElasticConfig {
                first_backoff: Duration::from_millis(first),
                max_backoff: Duration::from_millis(max),
                ..ElasticConfig::default()
            };
            let got: Vec<Duration> = backoff(&config).take(40).collect();
            let want = doubling(&config, 40);
            assert_eq!(got[0], want[0], "the first wait is exact");
            for (g, w) in got.iter().zip(&want) {
                // backon doubles in f32: a few ns off, far below tokio's 1 ms timer.
                assert!(g.abs_diff(*w) < Duration::from_micros(1), "{first}/{max}: {g:?} vs {w:?}");
            }
            assert_eq!(got.last(), want.last(), "the cap is exact, and holds");
        }
    }
}
