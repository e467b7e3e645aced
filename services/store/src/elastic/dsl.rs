//! What the Elasticsearch backend says and hears, as pure functions: the
//! index template and lifecycle policy, the query DSL for a search or stats
//! request, the bulk body, and the parsers of the cluster's answers. Nothing
//! here does I/O, so every request body is pinned by a test.
//!
//! User text only ever travels as a JSON value (`term`, `match`), never
//! spliced into a query string, so it needs no escaping.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use loglens_core::query::HistogramBucket;
use loglens_core::{
    Filter, Level, LogRecord, SearchRequest, SearchResult, Sort, Stats, StatsRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use crate::shared::DAY_MS;
pub use crate::shared::aggs::MAX_SERVICES;
use crate::shared::aggs::{self, Counters};
use crate::shared::cursor::{self, CursorError};
use crate::tenants::Windows;
use crate::{Error, Result};

/// Deepest `from + size` a page may reach (the core allows page * size up to
/// one million); set as the indices' `max_result_window`.
pub const MAX_RESULT_WINDOW: u64 = 1_001_000;
/// Bumped whenever the template below changes shape (2: `tenant`).
pub const TEMPLATE_VERSION: u64 = 2;

/// The index that holds a record of `timestamp_ms`: one per UTC day.
pub fn index_for(prefix: &str, timestamp_ms: i64) -> String {
    let day = DateTime::<Utc>::from_timestamp_millis(timestamp_ms)
        .map_or_else(|| Utc::now().date_naive(), |t| t.date_naive());
    format!("{prefix}-{:04}.{:02}.{:02}", day.year(), day.month(), day.day())
}

/// Start of the UTC day an index of [`index_for`] holds, ms.
pub fn day_start_ms(index: &str) -> Option<i64> {
    let (_, day) = index.rsplit_once('-')?;
    let day = NaiveDate::parse_from_str(day, "%Y.%m.%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// The pattern reads go through.
pub fn read_pattern(prefix: &str) -> String {
    format!("{prefix}-*")
}

/// Name of the lifecycle policy.
pub fn policy_name(prefix: &str) -> String {
    format!("{prefix}-retention")
}

/// Checks an index prefix against Elasticsearch's index naming rules.
pub fn check_prefix(prefix: &str) -> Result<()> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 200
        && !prefix.starts_with(['-', '_', '+', '.'])
        && prefix.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "index prefix {prefix:?}: use 1-200 lower-case letters, digits, '-', '_' or '.', not starting with '-', '_', '+' or '.'"
        )))
    }
}

// ---------------------------------------------------------------- setup

/// The composable index template for `{prefix}-*`. Field types follow the
/// record; `message` uses an analyzer that splits words exactly as the core's
/// `tokenize` does (runs of letters and digits, lower-cased), so full text
/// means the same on both backends.
pub fn index_template(prefix: &str, refresh_interval_ms: u64, retention: bool) -> Value {
    let keyword = json!({ "type": "keyword" });
    let date = json!({ "type": "date", "format": "epoch_millis" });
    let mut settings = json!({
        "index.refresh_interval": format!("{refresh_interval_ms}ms"),
        "index.max_result_window": MAX_RESULT_WINDOW,
        "analysis": {
            "tokenizer": { "loglens_words": { "type": "pattern", "pattern": "[^\\p{L}\\p{N}]+" } },
            "filter": { "loglens_short": { "type": "length", "max": 39 } },
            "analyzer": {
                "loglens_words": { "type": "custom", "tokenizer": "loglens_words", "filter": ["lowercase", "loglens_short"] }
            }
        }
    });
    if retention {
        settings["index.lifecycle.name"] = json!(policy_name(prefix));
    }
    json!({
        "index_patterns": [read_pattern(prefix)],
        "priority": 200,
        "version": TEMPLATE_VERSION,
        "_meta": { "managed_by": "loglens" },
        "template": {
            "settings": settings,
            "mappings": {
                "dynamic": "strict",
                "properties": {
                    "id": keyword,
                    "tenant": keyword,
                    "timestamp": date,
                    "ingested_at": date,
                    "service_name": keyword,
                    "level": keyword,
                    "message": {
                        "type": "text",
                        "analyzer": "loglens_words",
                        "fields": { "keyword": { "type": "keyword", "ignore_above": 256 } }
                    },
                    "status_code": { "type": "short" },
                    "request_id": keyword,
                    "user_id": keyword,
                    "response_time_ms": { "type": "double" },
                    "error_code": keyword,
                    "tags": keyword,
                    "host": keyword,
                    "trace_id": keyword,
                    "span_id": keyword,
                    "anomaly": { "type": "boolean" },
                    "severity_score": { "type": "short" },
                    "anomaly_reasons": keyword,
                    // One field however many distinct keys arrive: no
                    // mapping explosion. Values longer than 8191 characters
                    // are kept in _source but not searchable (Lucene's
                    // 32 KiB term limit).
                    "attributes": { "type": "flattened", "ignore_above": 8191 }
                }
            }
        }
    })
}

/// The mapping added to indices that exist already at open (made by an
/// earlier template without `tenant`), so their strict mapping takes the
/// field that every document now carries. Adding a field is allowed on a
/// live index; repeating it is harmless.
pub fn tenant_mapping() -> Value {
    json!({ "properties": { "tenant": { "type": "keyword" } } })
}

/// The lifecycle policy: an index (one UTC day, its origination date set to
/// the day's start) is deleted once it is `retention_days` whole days old
/// after the day ended, so `retention_days` full days are always kept.
pub fn lifecycle_policy(retention_days: u32) -> Value {
    json!({
        "policy": {
            "_meta": { "managed_by": "loglens" },
            "phases": {
                "hot": { "min_age": "0ms", "actions": {} },
                "delete": { "min_age": format!("{}d", u64::from(retention_days) + 1), "actions": { "delete": {} } }
            }
        }
    })
}

/// Body that creates one day's index; with retention its ILM age counts from
/// the day it holds, not from when it was created.
pub fn create_index_body(index: &str, retention: bool) -> Value {
    match (retention, day_start_ms(index)) {
        (true, Some(start)) => json!({ "settings": { "index.lifecycle.origination_date": start } }),
        _ => json!({}),
    }
}

// ---------------------------------------------------------------- bulk

/// The newline-delimited bulk body: one `index` action (upsert by the
/// record's deterministic id) and the record per line pair. Every document
/// has its `tenant`, the default tenant's included.
pub fn bulk_body(prefix: &str, records: &[&LogRecord]) -> Result<Vec<u8>> {
    let mut body = Vec::with_capacity(records.len() * 512);
    // Index name of the last day seen: batches are mostly one day.
    let mut day: Option<(i64, String)> = None;
    for r in records {
        let d = r.timestamp.div_euclid(DAY_MS);
        if day.as_ref().is_none_or(|(known, _)| *known != d) {
            day = Some((d, index_for(prefix, r.timestamp)));
        }
        let index = day.as_ref().map_or("", |(_, name)| name.as_str());
        let action = json!({ "index": { "_index": index, "_id": r.id } });
        serde_json::to_writer(&mut body, &action).map_err(encode_error)?;
        body.push(b'\n');
        serde_json::to_writer(&mut body, r).map_err(encode_error)?;
        if loglens_core::tenant::is_default(&r.tenant) {
            // The record leaves the default tenant out of its JSON; the
            // document names it, so a `term` finds it like any other.
            if body.last() == Some(&b'}') {
                body.pop();
                body.extend_from_slice(b",\"tenant\":");
                serde_json::to_writer(&mut body, &r.tenant).map_err(encode_error)?;
                body.push(b'}');
            }
        }
        body.push(b'\n');
    }
    Ok(body)
}

fn encode_error(e: serde_json::Error) -> Error {
    Error::Backend(format!("encoding a bulk request: {e}"))
}

/// What became of one bulk item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Stored.
    Done,
    /// The cluster was too busy (429, `es_rejected_execution_exception`) or a
    /// shard was briefly unavailable: send it again.
    Retry(String),
    /// Refused for good (mapping, parsing, other 4xx): dead-letter it.
    Refused {
        /// The field the cluster's reason names, if any.
        field: Option<String>,
        /// HTTP status and the cluster's reason.
        reason: String,
    },
}

#[derive(Deserialize)]
struct BulkResponse {
    #[serde(default)]
    errors: bool,
    items: Vec<BTreeMap<String, BulkItem>>,
}

#[derive(Deserialize)]
struct BulkItem {
    status: u16,
    #[serde(default)]
    error: Option<EsError>,
}

/// An error object of an Elasticsearch response.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EsError {
    /// e.g. `document_parsing_exception`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Human-readable reason.
    #[serde(default)]
    pub reason: Option<String>,
    /// The underlying error.
    #[serde(default)]
    pub caused_by: Option<Box<EsError>>,
}

impl EsError {
    /// `type: reason (caused by type: reason)`.
    pub fn describe(&self) -> String {
        let mut s = match &self.reason {
            Some(r) => format!("{}: {r}", self.kind),
            None => self.kind.clone(),
        };
        if let Some(c) = &self.caused_by {
            s.push_str(&format!(" (caused by {})", c.describe()));
        }
        s
    }

    /// The field the reason names, e.g. `failed to parse field [status_code]`
    /// or `dynamic introduction of [foo]`.
    pub fn field(&self) -> Option<String> {
        let reason = self.reason.as_deref()?;
        let start = ["field [", "introduction of ["]
            .iter()
            .find_map(|m| reason.find(m).map(|i| i + m.len()))?;
        let end = reason[start..].find(']')?;
        Some(reason[start..start + end].to_owned())
    }
}

/// Parses a bulk response into one outcome per item, in request order.
pub fn parse_bulk(body: &[u8], expected: usize) -> Result<Vec<ItemOutcome>> {
    let response: BulkResponse = serde_json::from_slice(body)
        .map_err(|e| Error::Backend(format!("unreadable bulk response: {e}")))?;
    if response.items.len() != expected {
        return Err(Error::Backend(format!(
            "bulk response has {} items for {expected} operations",
            response.items.len()
        )));
    }
    let outcomes: Vec<ItemOutcome> = response
        .items
        .into_iter()
        .map(|item| {
            let Some(item) = item.into_values().next() else {
                return ItemOutcome::Retry("empty bulk item".into());
            };
            let error = item.error.unwrap_or_default();
            match item.status {
                200..=299 => ItemOutcome::Done,
                429 => ItemOutcome::Retry(error.describe()),
                _ if error.kind == "es_rejected_execution_exception" => {
                    ItemOutcome::Retry(error.describe())
                }
                500..=599 => ItemOutcome::Retry(error.describe()),
                // 409 cannot happen with `index` (no version checks); a missing
                // or closed index, a mapping conflict: retrying changes nothing.
                _ => ItemOutcome::Refused {
                    field: error.field(),
                    reason: format!("{} {}", item.status, error.describe()),
                },
            }
        })
        .collect();
    if !response.errors && outcomes.iter().any(|o| *o != ItemOutcome::Done) {
        return Err(Error::Backend("bulk response says no errors but an item failed".into()));
    }
    Ok(outcomes)
}

/// The error object of a failed (non-2xx) response, if it has one.
pub fn parse_error(body: &[u8]) -> Option<EsError> {
    #[derive(Deserialize)]
    struct Envelope {
        error: Value,
    }
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    match envelope.error {
        Value::String(reason) => {
            Some(EsError { kind: "error".into(), reason: Some(reason), caused_by: None })
        }
        other => serde_json::from_value(other).ok(),
    }
}

// ---------------------------------------------------------------- search

/// The filter as a `bool` query in filter context (no scoring).
pub fn filter_query(filter: &Filter) -> Value {
    // Destructured so that a new filter field does not go unnoticed here.
    let Filter {
        service_name,
        level,
        status_code,
        anomaly,
        from_timestamp,
        to_timestamp,
        query,
        trace_id,
        request_id,
        host,
        user_id,
        error_code,
        tag,
        anomaly_reason,
        attributes,
        tenant,
    } = filter;
    let mut must: Vec<Value> = Vec::new();
    // Every read (search, cursor pages, stats) goes through here: one
    // tenant never sees another's records.
    if let Some(t) = tenant {
        must.push(tenant_query(t));
    }
    for (field, value) in [
        ("service_name", service_name),
        ("trace_id", trace_id),
        ("request_id", request_id),
        ("host", host),
        ("user_id", user_id),
        ("error_code", error_code),
        ("tags", tag),
        ("anomaly_reasons", anomaly_reason),
    ] {
        if let Some(v) = value {
            must.push(json!({ "term": { field: v } }));
        }
    }
    if let Some(l) = level {
        must.push(json!({ "term": { "level": l.as_str() } }));
    }
    if let Some(s) = status_code {
        must.push(json!({ "term": { "status_code": s } }));
    }
    if let Some(a) = anomaly {
        must.push(json!({ "term": { "anomaly": a } }));
    }
    for (k, v) in attributes {
        must.push(json!({ "term": { format!("attributes.{k}"): v } }));
    }
    if from_timestamp.is_some() || to_timestamp.is_some() {
        let mut range = json!({ "format": "epoch_millis" });
        if let Some(f) = from_timestamp {
            range["gte"] = json!(f);
        }
        if let Some(t) = to_timestamp {
            range["lte"] = json!(t);
        }
        must.push(json!({ "range": { "timestamp": range } }));
    }
    if let Some(q) = query {
        must.push(json!({ "match": { "message": { "query": q, "operator": "and", "zero_terms_query": "all" } } }));
    }
    if must.is_empty() { json!({ "match_all": {} }) } else { json!({ "bool": { "filter": must } }) }
}

/// The records of `tenant`. Documents indexed before tenants existed have
/// no `tenant` field: they are the default tenant's.
pub fn tenant_query(tenant: &str) -> Value {
    let named = json!({ "term": { "tenant": tenant } });
    if loglens_core::tenant::is_default(tenant) {
        json!({ "bool": {
            "should": [named, { "bool": { "must_not": [{ "exists": { "field": "tenant" } }] } }],
            "minimum_should_match": 1
        } })
    } else {
        named
    }
}

/// The sort clauses of `sort`; the record id breaks ties so the order, and
/// so `search_after`, is total.
pub fn sort_clauses(sort: Sort) -> Value {
    match sort {
        Sort::NewestFirst => json!([{ "timestamp": "desc" }, { "id": "asc" }]),
        Sort::OldestFirst => json!([{ "timestamp": "asc" }, { "id": "asc" }]),
        Sort::Severity => {
            json!([{ "severity_score": "desc" }, { "timestamp": "desc" }, { "id": "asc" }])
        }
    }
}

/// What a cursor carries: the sort values of the last record returned.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    /// Fingerprint of the filter and sort the cursor was made for.
    f: u64,
    /// `search_after` values.
    a: Vec<Value>,
}

/// The tenant is left out ([`cursor::tenant_neutral`]).
fn fingerprint(filter: &Filter, sort: Sort) -> u64 {
    cursor::fingerprint(&(cursor::tenant_neutral(filter), sort))
}

fn encode_cursor(filter: &Filter, sort: Sort, after: Vec<Value>) -> String {
    let c = Cursor { f: fingerprint(filter, sort), a: after };
    cursor::encode(&serde_json::to_vec(&c).unwrap_or_default())
}

fn decode_cursor(text: &str, filter: &Filter, sort: Sort) -> Result<Vec<Value>, CursorError> {
    let c: Cursor =
        serde_json::from_slice(&cursor::decode(text)?).map_err(|_| CursorError::Unreadable)?;
    let arity = sort_clauses(sort).as_array().map_or(0, Vec::len);
    if c.a.len() != arity {
        return Err(CursorError::Unreadable);
    }
    if c.f != fingerprint(filter, sort) {
        return Err(CursorError::OtherQuery);
    }
    Ok(c.a)
}

/// The `_search` body of a page. One record more than the page is asked
/// for, to know whether a next page exists.
pub fn search_body(req: &SearchRequest) -> Result<Value> {
    let mut body = json!({
        "query": filter_query(&req.filter),
        "sort": sort_clauses(req.sort),
        "size": req.size + 1,
        "track_total_hits": true,
    });
    match &req.cursor {
        Some(c) => body["search_after"] = Value::Array(decode_cursor(c, &req.filter, req.sort)?),
        None if req.offset() > 0 => body["from"] = json!(req.offset()),
        None => {}
    }
    Ok(body)
}

#[derive(Deserialize)]
struct SearchResponse {
    hits: Hits,
    #[serde(default)]
    aggregations: Option<Value>,
}

#[derive(Deserialize)]
struct Hits {
    total: Option<Total>,
    #[serde(default)]
    hits: Vec<Hit>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Total {
    Object { value: u64 },
    Number(u64),
}

#[derive(Deserialize)]
struct Hit {
    #[serde(rename = "_source")]
    source: LogRecord,
    #[serde(default)]
    sort: Vec<Value>,
}

fn read_search(body: &[u8]) -> Result<SearchResponse> {
    serde_json::from_slice(body)
        .map_err(|e| Error::Backend(format!("unreadable search response: {e}")))
}

fn total_of(hits: &Hits) -> u64 {
    match hits.total {
        Some(Total::Object { value } | Total::Number(value)) => value,
        None => hits.hits.len() as u64,
    }
}

/// Reads a `_search` response for `req` (made by [`search_body`]).
pub fn parse_search(body: &[u8], req: &SearchRequest) -> Result<SearchResult> {
    let response = read_search(body)?;
    let total = total_of(&response.hits);
    let size = req.size as usize;
    let more = response.hits.hits.len() > size;
    let mut hits = response.hits.hits;
    hits.truncate(size);
    let next_cursor = match hits.last() {
        Some(last) if more => Some(encode_cursor(&req.filter, req.sort, last.sort.clone())),
        _ => None,
    };
    Ok(SearchResult {
        total,
        page: req.page,
        size: req.size,
        logs: hits.into_iter().map(|h| h.source).collect(),
        next_cursor,
    })
}

/// The empty result of a search over no index at all.
pub fn empty_search(req: &SearchRequest) -> SearchResult {
    SearchResult { total: 0, page: req.page, size: req.size, logs: Vec::new(), next_cursor: None }
}

// ---------------------------------------------------------------- stats

/// The `_search` body of a stats request: only aggregations, no hits, over
/// the records the request's filter selects (the query a search sends).
/// Records of a kind are counted with `filter` aggregations.
pub fn stats_body(req: &StatsRequest) -> Value {
    let counters = Counters {
        anomalies: json!({ "filter": { "term": { "anomaly": true } } }),
        errors: json!({ "filter": { "term": { "level": Level::Error.as_str() } } }),
    };
    let aggs = aggs::aggregations(req, &counters);
    json!({ "size": 0, "track_total_hits": true, "query": filter_query(&req.filter), "aggs": aggs })
}

/// Reads the response to [`stats_body`].
pub fn parse_stats(body: &[u8]) -> Result<Stats> {
    let response = read_search(body)?;
    let mut stats = Stats { total_logs: total_of(&response.hits), ..Stats::default() };
    let Some(aggs) = response.aggregations else { return Ok(stats) };
    for b in buckets(&aggs[aggs::SERVICES]) {
        let service = key_string(&b["key"]);
        let with_time = count(&b[aggs::RESPONSE_TIME_COUNT]["value"]);
        if let Some(p) = aggs::percentiles(with_time, &b[aggs::RESPONSE_TIMES]["values"]) {
            stats.response_time_percentiles.insert(service.clone(), p);
        }
        stats.services.insert(service, count(&b["doc_count"]));
    }
    stats.levels = level_counts(&aggs[aggs::LEVELS]);
    stats.error_count = stats.levels.get(Level::Error.as_str()).copied().unwrap_or(0);
    stats.anomaly_count = count(&aggs[aggs::ANOMALIES]["doc_count"]);
    stats.histogram = buckets(&aggs[aggs::HISTOGRAM])
        .map(|b| HistogramBucket {
            start: b["key"].as_i64().or_else(|| b["key"].as_f64().map(|f| f as i64)).unwrap_or(0),
            count: count(&b["doc_count"]),
            anomaly_count: count(&b[aggs::ANOMALIES]["doc_count"]),
            error_count: count(&b[aggs::ERRORS]["doc_count"]),
            levels: level_counts(&b[aggs::BUCKET_LEVELS]),
        })
        .filter(|b| b.count > 0)
        .collect();
    stats.histogram.sort_by_key(|b| b.start);
    Ok(stats)
}

/// Records per level of a terms aggregation on `level`; levels without
/// records are left out.
fn level_counts(agg: &Value) -> BTreeMap<String, u64> {
    buckets(agg)
        .map(|b| (key_string(&b["key"]), count(&b["doc_count"])))
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn buckets(agg: &Value) -> impl Iterator<Item = &Value> {
    agg["buckets"].as_array().map(|v| v.as_slice()).unwrap_or_default().iter()
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn key_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------- retention

/// Days after which the lifecycle policy deletes a day's index: the
/// longest window in force, since a whole index holds every tenant's
/// records of its day. `None` (no deleting policy) without a store-wide
/// window: tenants without an override keep their records forever, so no
/// index may go.
pub(crate) fn policy_days(windows: &Windows) -> Option<u32> {
    windows.global.map(|g| windows.tenants.values().copied().fold(g, u32::max))
}

/// One `_delete_by_query` of a retention pass.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RetentionDelete {
    /// The tenant whose records it removes; `None`: every tenant without an
    /// override.
    pub tenant: Option<String>,
    /// Its records before this UTC midnight (ms) are removed.
    pub cutoff_ms: i64,
    /// The request body.
    pub body: Value,
}

/// The deletes of a pass at `now_ms` when the lifecycle policy deletes
/// indices after `policy_days` (`None`: it deletes none): one per window
/// shorter than that, for a tenant with an override (its records before its
/// cutoff) or for everybody else (the store-wide window, without the
/// overriding tenants' records).
pub(crate) fn retention_deletes(
    windows: &Windows,
    policy_days: Option<u32>,
    now_ms: i64,
) -> Vec<RetentionDelete> {
    let shorter = |days: u32| policy_days.is_none_or(|p| days < p);
    let delete = |tenant: Option<&str>, days: u32| {
        let cutoff_ms = crate::shared::cutoff_ms(now_ms, days);
        let expired =
            json!({ "range": { "timestamp": { "format": "epoch_millis", "lt": cutoff_ms } } });
        let query = match tenant {
            Some(t) => json!({ "bool": { "filter": [tenant_query(t), expired] } }),
            None => {
                let others: Vec<Value> = windows.tenants.keys().map(|t| tenant_query(t)).collect();
                json!({ "bool": { "filter": [expired], "must_not": others } })
            }
        };
        RetentionDelete {
            tenant: tenant.map(str::to_owned),
            cutoff_ms,
            body: json!({ "query": query }),
        }
    };
    let mut deletes: Vec<RetentionDelete> = windows
        .tenants
        .iter()
        .filter(|(_, days)| shorter(**days))
        .map(|(t, days)| delete(Some(t), *days))
        .collect();
    if let Some(g) = windows.global.filter(|g| shorter(*g)) {
        deletes.push(delete(None, g));
    }
    deletes
}

// ---------------------------------------------------------------- health

/// Reads `_cluster/health`: green and yellow serve (yellow is normal on one
/// node: replicas have nowhere to go), red does not.
pub fn parse_health(body: &[u8]) -> Result<(bool, String)> {
    #[derive(Deserialize)]
    struct ClusterHealth {
        cluster_name: String,
        status: String,
        number_of_nodes: u64,
        #[serde(default)]
        unassigned_shards: u64,
    }
    let h: ClusterHealth = serde_json::from_slice(body)
        .map_err(|e| Error::Backend(format!("unreadable cluster health: {e}")))?;
    let healthy = matches!(h.status.as_str(), "green" | "yellow");
    let nodes = if h.number_of_nodes == 1 {
        "1 node".to_owned()
    } else {
        format!("{} nodes", h.number_of_nodes)
    };
    let mut detail = format!("elasticsearch cluster {}: {}, {nodes}", h.cluster_name, h.status);
    if h.unassigned_shards > 0 {
        detail.push_str(&format!(", {} unassigned shards", h.unassigned_shards));
    }
    Ok((healthy, detail))
}

/// Reads index `_stats` (docs, store): primary documents and the bytes of
/// every copy on disk.
pub fn parse_usage(body: &[u8]) -> crate::Usage {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let all = &v["_all"];
    crate::Usage {
        documents: all["primaries"]["docs"]["count"].as_u64(),
        disk_bytes: all["total"]["store"]["size_in_bytes"].as_u64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_tenant_includes_documents_without_one() {
        assert_eq!(tenant_query("a"), json!({ "term": { "tenant": "a" } }));
        assert_eq!(
            tenant_query("default"),
            json!({ "bool": {
                "should": [
                    { "term": { "tenant": "default" } },
                    { "bool": { "must_not": [{ "exists": { "field": "tenant" } }] } }
                ],
                "minimum_should_match": 1
            } })
        );
        let filter = Filter { tenant: Some("a".into()), ..Filter::default() };
        assert_eq!(
            filter_query(&filter),
            json!({ "bool": { "filter": [{ "term": { "tenant": "a" } }] } })
        );
    }

    #[test]
    fn a_tenant_cursor_is_the_same_for_every_tenant() {
        let a = Filter { tenant: Some("a".into()), ..Filter::default() };
        let b = Filter { tenant: Some("b".into()), ..Filter::default() };
        let text = encode_cursor(&b, Sort::NewestFirst, vec![json!(1), json!("id")]);
        assert_eq!(decode_cursor(&text, &a, Sort::NewestFirst), Ok(vec![json!(1), json!("id")]));
    }

    #[test]
    fn retention_deletes_only_what_the_policy_keeps_too_long() {
        let tenants: BTreeMap<String, u32> =
            [("a".to_owned(), 3), ("b".to_owned(), 10), ("default".to_owned(), 5)].into();
        let windows = |global| Windows { global, tenants: tenants.clone() };
        assert_eq!(policy_days(&windows(Some(7))), Some(10));
        assert_eq!(policy_days(&windows(Some(30))), Some(30));
        assert_eq!(policy_days(&windows(None)), None, "no store-wide window: keep indices");
        let now = 100 * DAY_MS + 5;
        let who = |d: &[RetentionDelete]| -> Vec<Option<String>> {
            d.iter().map(|d| d.tenant.clone()).collect()
        };
        // Policy at 10 days: a (3), default (5) and the rest (7) by query.
        let d = retention_deletes(&windows(Some(7)), Some(10), now);
        assert_eq!(who(&d), [Some("a".into()), Some("default".into()), None]);
        assert_eq!(d[0].cutoff_ms, 97 * DAY_MS);
        assert_eq!(d[2].cutoff_ms, 93 * DAY_MS);
        // The default tenant's delete covers documents without a tenant;
        // everybody else's excludes every overriding tenant (and those).
        assert_eq!(d[1].body["query"]["bool"]["filter"][0], tenant_query("default"));
        assert_eq!(
            d[2].body["query"]["bool"]["must_not"],
            json!([tenant_query("a"), tenant_query("b"), tenant_query("default")])
        );
        // No policy deletes anything (none set, or no ILM): every window.
        let d = retention_deletes(&windows(Some(7)), None, now);
        assert_eq!(who(&d), [Some("a".into()), Some("b".into()), Some("default".into()), None]);
        let d = retention_deletes(&windows(None), None, now);
        assert_eq!(who(&d).len(), 3, "without a global window the rest is kept");
    }

    #[test]
    fn a_cursor_continues_its_own_query_only() {
        let filter = Filter { service_name: Some("api".into()), ..Filter::default() };
        let after = vec![json!(1_714_521_600_000i64), json!("id-1")];
        let text = encode_cursor(&filter, Sort::NewestFirst, after.clone());
        assert_eq!(decode_cursor(&text, &filter, Sort::NewestFirst), Ok(after));
        assert_eq!(
            decode_cursor(&text, &Filter::default(), Sort::NewestFirst),
            Err(CursorError::OtherQuery)
        );
        // Severity sorts on three values: the arity alone gives it away.
        assert_eq!(decode_cursor(&text, &filter, Sort::Severity), Err(CursorError::Unreadable));
        assert_eq!(decode_cursor(&text, &filter, Sort::OldestFirst), Err(CursorError::OtherQuery));
        for bad in ["not a cursor", &cursor::encode(b"{\"f\": 1}"), &cursor::encode(b"[]")] {
            assert_eq!(
                decode_cursor(bad, &filter, Sort::NewestFirst),
                Err(CursorError::Unreadable),
                "{bad}"
            );
        }
    }
}
