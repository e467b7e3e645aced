//! A fake Elasticsearch cluster on a local port, for the contract suite.
//!
//! It is not Elasticsearch: it evaluates the subset of the REST API and query
//! DSL loglens sends (index template with a strict mapping, `_bulk` index
//! actions, `_mapping` PUTs, `_delete_by_query`,
//! `bool` (`filter`/`must`/`must_not`/`should`)/`term`/`range`/`exists`/`match` queries, sorts with `search_after`,
//! `from`/`size`, and `terms`/`filter`/`date_histogram`/`percentiles`/
//! `value_count` aggregations) and answers in the shapes of Elastic's
//! documented response examples (see fixtures/elasticsearch/README.md).
//! Every request is recorded, so tests can compare the exact JSON sent, and
//! faults can be injected: whole-request errors and per-item bulk errors.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use parking_lot::{Mutex, MutexGuard};
use serde_json::{Value, json};

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The body: one JSON value, or one per line for `_bulk`.
    pub body: Vec<Value>,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct State {
    /// index -> id -> source
    indices: BTreeMap<String, BTreeMap<String, Value>>,
    /// index -> settings given at creation
    settings: BTreeMap<String, Value>,
    /// index -> mapped properties (the template's at creation, plus any
    /// `_mapping` PUT since)
    mappings: BTreeMap<String, Value>,
    templates: BTreeMap<String, Value>,
    policies: BTreeMap<String, Value>,
    log: Vec<Recorded>,
    /// Scripted answers to the next requests whose path ends with the key.
    scripted: Vec<(String, VecDeque<(u16, Value)>)>,
    /// Bulk item faults by document id: (status, error, permanent).
    item_faults: HashMap<String, (u16, Value, bool)>,
    /// Permanent item faults for documents whose field has a value.
    field_faults: Vec<(String, Value, u16, Value)>,
    health: String,
    seq: u64,
}

/// The fake cluster; clones share it.
#[derive(Clone)]
pub struct FakeEs {
    state: Arc<Mutex<State>>,
    pub addr: SocketAddr,
}

impl FakeEs {
    /// Starts a cluster with no data, health `yellow` (one node).
    pub async fn start() -> FakeEs {
        let state = Arc::new(Mutex::new(State { health: "yellow".into(), ..State::default() }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = state.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                async move { handle(&state, method, uri, &headers, body) }
            },
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeEs { state, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Recorded> {
        self.lock().log.clone()
    }

    /// Forgets the request log.
    pub fn clear_log(&self) {
        self.lock().log.clear();
    }

    /// The next request whose path ends with `suffix` gets this answer instead.
    pub fn script(&self, suffix: &str, status: u16, body: Value) {
        let mut s = self.lock();
        match s.scripted.iter_mut().find(|(k, _)| k == suffix) {
            Some((_, q)) => q.push_back((status, body)),
            None => s.scripted.push((suffix.to_owned(), VecDeque::from([(status, body)]))),
        }
    }

    /// The bulk item with this id fails with `status`/`error`: once, or on
    /// every attempt when `permanent`.
    pub fn fail_item(&self, id: &str, status: u16, error: Value, permanent: bool) {
        self.lock().item_faults.insert(id.to_owned(), (status, error, permanent));
    }

    /// Every bulk item whose document has `field == value` fails with
    /// `status`/`error`.
    pub fn fail_matching(&self, field: &str, value: Value, status: u16, error: Value) {
        self.lock().field_faults.push((field.to_owned(), value, status, error));
    }

    pub fn set_health(&self, status: &str) {
        self.lock().health = status.to_owned();
    }

    /// Names of the indices that exist.
    pub fn indices(&self) -> Vec<String> {
        self.lock().indices.keys().cloned().collect()
    }

    /// Settings an index was created with.
    pub fn index_settings(&self, index: &str) -> Option<Value> {
        self.lock().settings.get(index).cloned()
    }

    pub fn template(&self, name: &str) -> Option<Value> {
        self.lock().templates.get(name).cloned()
    }

    pub fn policy(&self, name: &str) -> Option<Value> {
        self.lock().policies.get(name).cloned()
    }

    /// Creates an index directly with these mapped properties, as an
    /// earlier version (another template) would have.
    pub fn create_index(&self, index: &str, properties: Value) {
        let mut s = self.lock();
        s.indices.insert(index.to_owned(), BTreeMap::new());
        s.mappings.insert(index.to_owned(), properties);
    }

    /// Stores a document as is, as an earlier version would have.
    pub fn put_doc(&self, index: &str, id: &str, doc: Value) {
        self.lock().indices.entry(index.to_owned()).or_default().insert(id.to_owned(), doc);
    }

    /// The mapped properties of an index.
    pub fn mapping(&self, index: &str) -> Option<Value> {
        self.lock().mappings.get(index).cloned()
    }

    /// Every stored document, over every index.
    pub fn docs(&self) -> Vec<Value> {
        self.lock().indices.values().flat_map(|d| d.values().cloned()).collect()
    }

    /// Documents stored, over every index.
    pub fn doc_count(&self) -> usize {
        self.lock().indices.values().map(BTreeMap::len).sum()
    }
}

fn reply(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn error_body(status: u16, kind: &str, reason: &str) -> Value {
    json!({
        "error": { "root_cause": [{ "type": kind, "reason": reason }], "type": kind, "reason": reason },
        "status": status
    })
}

fn handle(
    state: &Mutex<State>,
    method: Method,
    uri: Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut s = state.lock();
    let path = uri.path().to_owned();
    let bulk = path.ends_with("/_bulk");
    let parsed: Vec<Value> = if bulk {
        body.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap_or(Value::Null))
            .collect()
    } else if body.is_empty() {
        Vec::new()
    } else {
        vec![serde_json::from_slice(&body).unwrap_or(Value::Null)]
    };
    s.log.push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: uri.query().unwrap_or_default().to_owned(),
        body: parsed.clone(),
        content_type: header("content-type"),
        authorization: header("authorization"),
    });
    if let Some((_, queue)) =
        s.scripted.iter_mut().find(|(k, q)| path.ends_with(k.as_str()) && !q.is_empty())
    {
        let (status, body) = queue.pop_front().unwrap();
        return reply(status, body);
    }
    let segments: Vec<&str> =
        path.trim_start_matches('/').split('/').filter(|p| !p.is_empty()).collect();
    let body = parsed.first().cloned().unwrap_or(Value::Null);
    match (method.as_str(), segments.as_slice()) {
        ("GET", []) => reply(
            200,
            json!({
                "name": "fake-node-1",
                "cluster_name": "loglens-test",
                "cluster_uuid": "Yb2hyKtVQuyRvDP9cgsV6g",
                "version": { "number": "8.15.0", "build_flavor": "default", "lucene_version": "9.11.1" },
                "tagline": "You Know, for Search"
            }),
        ),
        ("GET", ["_cluster", "health"]) => {
            let status = s.health.clone();
            let code = if status == "red" { 503 } else { 200 };
            reply(
                code,
                json!({
                    "cluster_name": "loglens-test", "status": status, "timed_out": false,
                    "number_of_nodes": 1, "number_of_data_nodes": 1,
                    "active_primary_shards": s.indices.len(), "active_shards": s.indices.len(),
                    "relocating_shards": 0, "initializing_shards": 0,
                    "unassigned_shards": if status == "green" { 0 } else { s.indices.len() },
                    "delayed_unassigned_shards": 0, "number_of_pending_tasks": 0,
                    "number_of_in_flight_fetch": 0, "task_max_waiting_in_queue_millis": 0,
                    "active_shards_percent_as_number": 50.0
                }),
            )
        }
        ("PUT", ["_ilm", "policy", name]) => {
            s.policies.insert((*name).to_owned(), body);
            reply(200, json!({ "acknowledged": true }))
        }
        ("PUT", ["_index_template", name]) => {
            s.templates.insert((*name).to_owned(), body);
            reply(200, json!({ "acknowledged": true }))
        }
        ("PUT", [index]) => {
            if s.indices.contains_key(*index) {
                let reason = format!("index [{index}/3mqqCMDNSpKKDMz1cKMUdQ] already exists");
                let mut e = error_body(400, "resource_already_exists_exception", &reason);
                e["error"]["index"] = json!(index);
                return reply(400, e);
            }
            s.indices.insert((*index).to_owned(), BTreeMap::new());
            s.settings.insert((*index).to_owned(), body);
            if let Some(t) = template_for(&s, index) {
                let props = t["template"]["mappings"]["properties"].clone();
                s.mappings.insert((*index).to_owned(), props);
            }
            reply(200, json!({ "acknowledged": true, "shards_acknowledged": true, "index": index }))
        }
        ("PUT", [pattern, "_mapping"]) => {
            let names: Vec<String> =
                matching(&s, pattern).into_iter().map(|(n, _)| n.clone()).collect();
            if names.is_empty() {
                // What a cluster answers without allow_no_indices; the
                // store must cope with either answer.
                let mut e = error_body(
                    404,
                    "index_not_found_exception",
                    &format!("no such index [{pattern}]"),
                );
                e["error"]["index"] = json!(pattern);
                return reply(404, e);
            }
            for name in names {
                let props = s.mappings.entry(name).or_insert_with(|| json!({}));
                for (k, v) in body["properties"].as_object().into_iter().flatten() {
                    props[k] = v.clone();
                }
            }
            reply(200, json!({ "acknowledged": true }))
        }
        ("POST", [pattern, "_delete_by_query"]) => {
            let query = body["query"].clone();
            let mut deleted = 0;
            for (name, docs) in s.indices.iter_mut() {
                if pattern.split(',').any(|p| wildcard(p, name)) {
                    let before = docs.len();
                    docs.retain(|_, d| !eval(&query, d));
                    deleted += before - docs.len();
                }
            }
            if uri.query().unwrap_or_default().contains("wait_for_completion=false") {
                s.seq += 1;
                return reply(200, json!({ "task": format!("oTUltX4IQMOUUVeiohTt8A:{}", s.seq) }));
            }
            reply(
                200,
                json!({ "took": 5, "timed_out": false, "total": deleted, "deleted": deleted,
                "batches": 1, "version_conflicts": 0, "noops": 0, "failures": [] }),
            )
        }
        ("POST", ["_bulk"]) => bulk_op(&mut s, &parsed),
        ("POST", [pattern, "_refresh"]) => {
            let n = matching(&s, pattern).len();
            reply(200, json!({ "_shards": { "total": n * 2, "successful": n, "failed": 0 } }))
        }
        ("POST", [pattern, "_search"]) => search(&s, pattern, &body),
        _ => reply(
            400,
            error_body(
                400,
                "illegal_argument_exception",
                &format!("no handler found for uri [{path}] and method [{method}]"),
            ),
        ),
    }
}

/// Checks a document against the strict mapping of the template covering
/// `index`; returns the mapping error, if any.
fn mapping_error(s: &State, index: &str, doc: &Value) -> Option<(String, String)> {
    let props = match s.mappings.get(index) {
        Some(p) => p,
        None => &template_for(s, index)?["template"]["mappings"]["properties"],
    };
    for (field, value) in doc.as_object()? {
        let Some(kind) = props[field]["type"].as_str() else {
            return Some((
                "strict_dynamic_mapping_exception".into(),
                format!(
                    "[1:2] mapping set to strict, dynamic introduction of [{field}] within [_doc] is not allowed"
                ),
            ));
        };
        let ok = match (kind, value) {
            (_, Value::Null) => true,
            ("keyword" | "text", Value::String(_)) => true,
            ("keyword", Value::Array(a)) => a.iter().all(Value::is_string),
            ("short" | "long" | "date", Value::Number(n)) => n.is_i64() || n.is_u64(),
            ("flattened", Value::Object(_)) => true,
            ("double", Value::Number(_)) => true,
            ("boolean", Value::Bool(_)) => true,
            _ => false,
        };
        if !ok {
            return Some((
                "document_parsing_exception".into(),
                format!(
                    "[1:2] failed to parse field [{field}] of type [{kind}] in document. Preview of field's value: '{value}'"
                ),
            ));
        }
    }
    None
}

/// The template whose patterns cover `index`.
fn template_for<'a>(s: &'a State, index: &str) -> Option<&'a Value> {
    s.templates.values().find(|t| {
        t["index_patterns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|p| wildcard(p, index))
    })
}

fn bulk_op(s: &mut State, lines: &[Value]) -> Response {
    let mut items = Vec::new();
    let mut errors = false;
    for pair in lines.chunks(2) {
        let [action, doc] = pair else {
            return reply(400, error_body(400, "illegal_argument_exception", "odd bulk body"));
        };
        let meta = &action["index"];
        let (Some(index), Some(id)) = (meta["_index"].as_str(), meta["_id"].as_str()) else {
            return reply(
                400,
                error_body(
                    400,
                    "action_request_validation_exception",
                    "index action without _index/_id",
                ),
            );
        };
        if let Some((status, error, permanent)) = s.item_faults.get(id).cloned() {
            if !permanent {
                s.item_faults.remove(id);
            }
            errors = true;
            items.push(json!({ "index": { "_index": index, "_id": id, "status": status, "error": error } }));
            continue;
        }
        if let Some((_, _, status, error)) =
            s.field_faults.iter().find(|(f, v, _, _)| doc[f.as_str()] == *v)
        {
            errors = true;
            items.push(json!({ "index": { "_index": index, "_id": id, "status": status, "error": error } }));
            continue;
        }
        if let Some((kind, reason)) = mapping_error(s, index, doc) {
            errors = true;
            items.push(json!({ "index": { "_index": index, "_id": id, "status": 400,
                "error": { "type": kind, "reason": reason } } }));
            continue;
        }
        s.seq += 1;
        let seq = s.seq;
        let docs = s.indices.entry(index.to_owned()).or_default();
        let created = docs.insert(id.to_owned(), doc.clone()).is_none();
        items.push(json!({ "index": {
            "_index": index, "_id": id, "_version": 1,
            "result": if created { "created" } else { "updated" },
            "_shards": { "total": 2, "successful": 1, "failed": 0 },
            "_seq_no": seq, "_primary_term": 1,
            "status": if created { 201 } else { 200 }
        } }));
    }
    reply(200, json!({ "took": 3, "errors": errors, "items": items }))
}

fn wildcard(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

fn matching<'a>(s: &'a State, pattern: &str) -> Vec<(&'a String, &'a BTreeMap<String, Value>)> {
    s.indices.iter().filter(|(name, _)| pattern.split(',').any(|p| wildcard(p, name))).collect()
}

// ---------------------------------------------------------------- queries

fn values(doc: &Value, field: &str) -> Vec<Value> {
    // A `flattened` field: every leaf is a keyword, queried by its dotted
    // path under the field, numbers and booleans by their JSON text.
    if let Some(key) = field.strip_prefix("attributes.") {
        return match &doc["attributes"][key] {
            Value::Null => Vec::new(),
            Value::String(s) => vec![Value::String(s.clone())],
            v => vec![Value::String(v.to_string())],
        };
    }
    match &doc[field] {
        Value::Null => Vec::new(),
        Value::Array(a) => a.clone(),
        v => vec![v.clone()],
    }
}

fn eval(query: &Value, doc: &Value) -> bool {
    let (kind, body) = query.as_object().and_then(|o| o.iter().next()).expect("a query");
    match kind.as_str() {
        "match_all" => true,
        "bool" => {
            let all = |k: &str| body[k].as_array().into_iter().flatten().all(|q| eval(q, doc));
            let none = body["must_not"].as_array().into_iter().flatten().all(|q| !eval(q, doc));
            let should: Vec<&Value> = body["should"].as_array().into_iter().flatten().collect();
            // Without minimum_should_match, one must match only when
            // nothing else is required.
            let alone = body.get("filter").is_none() && body.get("must").is_none();
            let default = usize::from(!should.is_empty() && alone);
            let at_least = body["minimum_should_match"].as_u64().map_or(default, |n| n as usize);
            let some = should.iter().filter(|q| eval(q, doc)).count() >= at_least;
            all("filter") && all("must") && none && some
        }
        "exists" => !values(doc, body["field"].as_str().unwrap()).is_empty(),
        "term" => {
            let (field, want) = body.as_object().unwrap().iter().next().unwrap();
            let want = want.get("value").unwrap_or(want);
            values(doc, field).iter().any(|v| v == want)
        }
        "range" => {
            let (field, r) = body.as_object().unwrap().iter().next().unwrap();
            let Some(v) = doc[field].as_f64() else { return false };
            r["gte"].as_f64().is_none_or(|g| v >= g)
                && r["lte"].as_f64().is_none_or(|l| v <= l)
                && r["gt"].as_f64().is_none_or(|g| v > g)
                && r["lt"].as_f64().is_none_or(|l| v < l)
        }
        "match" => {
            let (field, m) = body.as_object().unwrap().iter().next().unwrap();
            assert_eq!(m["operator"], "and", "loglens matches every word");
            let text = doc[field].as_str().unwrap_or_default();
            let words: Vec<String> = loglens_core::query::tokenize(text).collect();
            let wanted: Vec<String> =
                loglens_core::query::tokenize(m["query"].as_str().unwrap()).collect();
            if wanted.is_empty() {
                return m["zero_terms_query"] == "all";
            }
            wanted.iter().all(|w| words.contains(w))
        }
        other => panic!("the fake cluster does not know the {other} query"),
    }
}

fn cmp_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64().unwrap().total_cmp(&y.as_f64().unwrap()),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => panic!("cannot compare {a} and {b}"),
    }
}

/// (field, descending) of each sort clause.
fn sort_spec(sort: &Value) -> Vec<(String, bool)> {
    sort.as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let (field, order) = c.as_object().unwrap().iter().next().unwrap();
            let order = order.get("order").unwrap_or(order);
            (field.clone(), order == "desc")
        })
        .collect()
}

fn sort_key(spec: &[(String, bool)], doc: &Value) -> Vec<Value> {
    spec.iter().map(|(f, _)| doc[f].clone()).collect()
}

fn cmp_keys(spec: &[(String, bool)], a: &[Value], b: &[Value]) -> std::cmp::Ordering {
    for (i, (_, desc)) in spec.iter().enumerate() {
        let o = cmp_values(&a[i], &b[i]);
        let o = if *desc { o.reverse() } else { o };
        if o.is_ne() {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

fn search(s: &State, pattern: &str, body: &Value) -> Response {
    let indices = matching(s, pattern);
    let mut hits: Vec<(&String, &String, &Value)> = indices
        .iter()
        .flat_map(|(index, docs)| docs.iter().map(move |(id, doc)| (*index, id, doc)))
        .filter(|(_, _, doc)| eval(&body["query"], doc))
        .collect();
    let total = hits.len();
    let spec = sort_spec(&body["sort"]);
    hits.sort_by(|a, b| cmp_keys(&spec, &sort_key(&spec, a.2), &sort_key(&spec, b.2)));
    if let Some(after) = body["search_after"].as_array() {
        hits.retain(|h| cmp_keys(&spec, &sort_key(&spec, h.2), after).is_gt());
    }
    let from = body["from"].as_u64().unwrap_or(0) as usize;
    let size = body["size"].as_u64().unwrap_or(10) as usize;
    let page: Vec<Value> = hits
        .iter()
        .skip(from)
        .take(size)
        .map(|(index, id, doc)| {
            json!({ "_index": index, "_id": id, "_score": null, "_source": doc, "sort": sort_key(&spec, doc) })
        })
        .collect();
    let mut response = json!({
        "took": 2, "timed_out": false,
        "_shards": { "total": indices.len(), "successful": indices.len(), "skipped": 0, "failed": 0 },
        "hits": { "total": { "value": total, "relation": "eq" }, "max_score": null, "hits": page }
    });
    if let Some(aggs) = body["aggs"].as_object() {
        let docs: Vec<&Value> = hits.iter().map(|h| h.2).collect();
        response["aggregations"] = aggregate(aggs, &docs);
    }
    reply(200, response)
}

fn aggregate(aggs: &serde_json::Map<String, Value>, docs: &[&Value]) -> Value {
    let mut out = serde_json::Map::new();
    for (name, agg) in aggs {
        let sub = agg["aggs"].as_object();
        let with_sub = |mut bucket: Value, docs: &[&Value]| {
            if let Some(sub) = sub {
                for (k, v) in aggregate(sub, docs).as_object().unwrap() {
                    bucket[k] = v.clone();
                }
            }
            bucket
        };
        let result = if let Some(t) = agg.get("terms") {
            let field = t["field"].as_str().unwrap();
            let mut groups: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
            for d in docs {
                for v in values(d, field) {
                    groups
                        .entry(v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        .or_default()
                        .push(d);
                }
            }
            let mut groups: Vec<_> = groups.into_iter().collect();
            groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
            let size = t["size"].as_u64().unwrap_or(10) as usize;
            let other: usize = groups.iter().skip(size).map(|g| g.1.len()).sum();
            let buckets: Vec<Value> = groups
                .into_iter()
                .take(size)
                .map(|(key, ds)| with_sub(json!({ "key": key, "doc_count": ds.len() }), &ds))
                .collect();
            json!({ "doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": buckets })
        } else if let Some(f) = agg.get("filter") {
            let ds: Vec<&Value> = docs.iter().copied().filter(|d| eval(f, d)).collect();
            with_sub(json!({ "doc_count": ds.len() }), &ds)
        } else if let Some(h) = agg.get("date_histogram") {
            let field = h["field"].as_str().unwrap();
            let interval: i64 =
                h["fixed_interval"].as_str().unwrap().strip_suffix("ms").unwrap().parse().unwrap();
            let mut groups: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
            for d in docs {
                if let Some(t) = d[field].as_i64() {
                    groups.entry(t.div_euclid(interval) * interval).or_default().push(d);
                }
            }
            let buckets: Vec<Value> = groups
                .into_iter()
                .map(|(key, ds)| with_sub(json!({ "key_as_string": key.to_string(), "key": key, "doc_count": ds.len() }), &ds))
                .collect();
            json!({ "buckets": buckets })
        } else if let Some(p) = agg.get("percentiles") {
            let field = p["field"].as_str().unwrap();
            let mut xs: Vec<f64> = docs.iter().filter_map(|d| d[field].as_f64()).collect();
            xs.sort_by(f64::total_cmp);
            let entries: Vec<Value> = p["percents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| {
                    let q = q.as_f64().unwrap();
                    let value = if xs.is_empty() {
                        Value::Null
                    } else {
                        let rank = q / 100.0 * (xs.len() - 1) as f64;
                        let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
                        json!(xs[lo] + (xs[hi] - xs[lo]) * (rank - lo as f64))
                    };
                    json!({ "key": q, "value": value })
                })
                .collect();
            json!({ "values": entries })
        } else if let Some(c) = agg.get("value_count") {
            let field = c["field"].as_str().unwrap();
            json!({ "value": docs.iter().map(|d| values(d, field).len()).sum::<usize>() })
        } else {
            panic!("the fake cluster does not know aggregation {agg}");
        };
        out.insert(name.clone(), result);
    }
    Value::Object(out)
}
