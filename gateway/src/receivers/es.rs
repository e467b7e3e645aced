//! Elasticsearch drop-in: `POST|PUT /_bulk` and `/{index}/_bulk` with the
//! real `_bulk` reply (per-item `status` and `error`), plus the handshake
//! that shippers make before sending (checked in their sources):
//!
//! - `GET|HEAD /`: cluster info with `version.number` 8.19.0. Filebeat and
//!   Logstash read it on connect (Beats refuse a server older than themselves
//!   unless `allow_older_versions`), Vector's `api_version: auto` too,
//!   Logstash's health check is `HEAD /`. Answered only when the request does
//!   not look like a browser's (`Accept` without `text/html`); browsers get
//!   the gateway's 404, so a web UI can take `/` later.
//! - `GET /_license`, `GET /_xpack`: Logstash's license checker and its ILM
//!   check; Beats read the license too. A basic, active license.
//! - `/_ilm/policy/{name}`, `/_index_template/{name}`, `/_template/{name}`,
//!   `/_ingest/pipeline/{name}`: what Beats and Logstash install at start.
//!   GET/HEAD answer "exists" and PUT is acknowledged; all are ignored
//!   (loglens has no mappings, lifecycle or ingest pipelines).
//! - `GET /_cluster/health` (Vector's health check), `GET
//!   /_cluster/state/version` (older Vector's version probe), `GET /_nodes`
//!   and `/_nodes/...` (sniffing clients).
//!
//! Every reply of these routes carries `X-Elastic-Product: Elasticsearch`
//! (the official 8.x clients refuse a server without it) and errors have
//! Elasticsearch's shape, `{"error":{"type","reason"},"status"}`. Fluent Bit's
//! `es` output makes no handshake: it only posts `_bulk`.

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use loglens_receivers::es_bulk::{self, ItemErrorKind, Op, PROTOCOL};
use loglens_receivers::{Decoded, metrics};
use serde::Serialize;
use serde_json::json;

use super::{send, traceparent};
use crate::error::ApiError;
use crate::handlers::{AppState, read_body};

/// The Elasticsearch version loglens claims: the last 8.x minor, so Beats
/// and Logstash 8.x, Vector, Fluent Bit and the 8.x clients all accept it.
pub(crate) const ES_VERSION: &str = "8.19.0";
const CLUSTER_NAME: &str = "loglens";
const CLUSTER_UUID: &str = "bG9nbGVucy1jbHVzdGVy";

/// The routes of this protocol.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/", get(info))
        .route("/_bulk", post(bulk_all).put(bulk_all))
        .route("/{index}/_bulk", post(bulk_index).put(bulk_index))
        .route("/_license", get(license))
        .route("/_xpack", get(xpack))
        .route("/_ilm/policy", get(|| async { es_json(StatusCode::OK, json!({})) }))
        .route("/_ilm/policy/{name}", get(ilm_policy).put(acknowledged))
        .route("/_index_template/{name}", get(index_template).put(acknowledged))
        .route("/_template/{name}", get(legacy_template).put(acknowledged))
        .route("/_ingest/pipeline/{name}", get(pipeline).put(acknowledged))
        .route("/_cluster/health", get(cluster_health))
        .route("/_cluster/state/version", get(cluster_state_version))
        .route("/_nodes", get(nodes))
        .route("/_nodes/{*rest}", get(nodes))
}

/// A JSON reply with the product header.
fn es_json(status: StatusCode, body: impl Serialize) -> Response {
    let mut res = (status, Json(body)).into_response();
    res.headers_mut().insert("x-elastic-product", HeaderValue::from_static("Elasticsearch"));
    res
}

/// An error in Elasticsearch's shape, its `type` the gateway's error class.
fn es_error(e: ApiError) -> Response {
    let cause = json!({"type": e.body.error, "reason": e.body.message});
    let mut res = es_json(
        e.status,
        json!({"error": {"root_cause": [cause.clone()], "type": cause["type"], "reason": cause["reason"]},
               "status": e.status.as_u16()}),
    );
    if let Some(secs) = e.retry_after {
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

/// `GET|HEAD /`: cluster info for ES clients, the web UI for browsers.
async fn info(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let browser = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if browser {
        return crate::ui::page(&state.ui_index);
    }
    es_json(
        StatusCode::OK,
        json!({
            "name": "loglens",
            "cluster_name": CLUSTER_NAME,
            "cluster_uuid": CLUSTER_UUID,
            "version": {
                "number": ES_VERSION,
                "build_flavor": "default",
                "build_type": "docker",
                "build_hash": "loglens",
                "build_date": "2025-01-01T00:00:00.000Z",
                "build_snapshot": false,
                "lucene_version": "9.12.0",
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0"
            },
            "tagline": "You Know, for Search"
        }),
    )
}

async fn license() -> Response {
    es_json(
        StatusCode::OK,
        json!({"license": {
            "status": "active",
            "uid": "00000000-0000-4000-8000-6c6f676c656e",
            "type": "basic",
            "issue_date": "2025-01-01T00:00:00.000Z",
            "issue_date_in_millis": 1_735_689_600_000_i64,
            "max_nodes": 1000,
            "max_resource_units": null,
            "issued_to": CLUSTER_NAME,
            "issuer": "elasticsearch",
            "start_date_in_millis": -1
        }}),
    )
}

async fn xpack() -> Response {
    let on = json!({"available": true, "enabled": true});
    let off = json!({"available": true, "enabled": false});
    es_json(
        StatusCode::OK,
        json!({
            "build": {"hash": "loglens", "date": "2025-01-01T00:00:00.000Z"},
            "license": {"uid": "00000000-0000-4000-8000-6c6f676c656e", "type": "basic",
                        "mode": "basic", "status": "active"},
            "features": {"ilm": on, "security": off, "monitoring": off, "ml": off, "slm": on}
        }),
    )
}

async fn acknowledged() -> Response {
    es_json(StatusCode::OK, json!({"acknowledged": true}))
}

async fn ilm_policy(Path(name): Path<String>) -> Response {
    es_json(
        StatusCode::OK,
        json!({ name: {"version": 1, "modified_date": "2025-01-01T00:00:00.000Z",
                       "policy": {"phases": {"hot": {"min_age": "0ms", "actions": {}}}}} }),
    )
}

async fn index_template(Path(name): Path<String>) -> Response {
    let pattern = format!("{name}*");
    es_json(
        StatusCode::OK,
        json!({"index_templates": [{"name": name, "index_template": {
            "index_patterns": [pattern], "composed_of": [], "template": {}, "data_stream": {}
        }}]}),
    )
}

async fn legacy_template(Path(name): Path<String>) -> Response {
    let pattern = format!("{name}*");
    es_json(
        StatusCode::OK,
        json!({ name: {"order": 0, "index_patterns": [pattern], "settings": {}, "mappings": {}, "aliases": {}} }),
    )
}

async fn pipeline(Path(name): Path<String>) -> Response {
    es_json(
        StatusCode::OK,
        json!({ name: {"description": "accepted and ignored by loglens", "processors": []} }),
    )
}

async fn cluster_health() -> Response {
    es_json(
        StatusCode::OK,
        json!({
            "cluster_name": CLUSTER_NAME, "status": "green", "timed_out": false,
            "number_of_nodes": 1, "number_of_data_nodes": 1,
            "active_primary_shards": 1, "active_shards": 1, "relocating_shards": 0,
            "initializing_shards": 0, "unassigned_shards": 0, "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0, "active_shards_percent_as_number": 100.0
        }),
    )
}

/// Older Vector reads `version` here as the major API version.
async fn cluster_state_version() -> Response {
    es_json(
        StatusCode::OK,
        json!({"cluster_name": CLUSTER_NAME, "cluster_uuid": CLUSTER_UUID, "version": 8,
               "state_uuid": CLUSTER_UUID}),
    )
}

async fn nodes(headers: HeaderMap) -> Response {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1:8000");
    es_json(
        StatusCode::OK,
        json!({
            "_nodes": {"total": 1, "successful": 1, "failed": 0},
            "cluster_name": CLUSTER_NAME,
            "nodes": {"bG9nbGVucy1ub2RlMA": {
                "name": "loglens", "host": host, "version": ES_VERSION,
                "roles": ["data", "ingest", "master"],
                "http": {"bound_address": [host], "publish_address": host}
            }}
        }),
    )
}

async fn bulk_all(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    bulk(&s, None, &headers, body).await
}

async fn bulk_index(
    State(s): State<AppState>,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    bulk(&s, Some(&index), &headers, body).await
}

/// Decodes, ingests what could be read, and answers one item per action.
async fn bulk(s: &AppState, path_index: Option<&str>, headers: &HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let bytes = match read_body(body, s, PROTOCOL).await {
        Ok(b) => b,
        Err(e) => return es_error(e),
    };
    let decoded = match es_bulk::decode(&bytes, path_index) {
        Ok(b) => b,
        Err(e) => return es_error(e.into()),
    };
    let es_bulk::Bulk { items, decoded } = decoded;
    // update and delete are counted apart from what could not be read
    let (unsupported, errors): (Vec<_>, Vec<_>) = decoded
        .errors
        .into_iter()
        .partition(|(pos, _)| matches!(items[*pos].op, Op::Update | Op::Delete));
    metrics::received(PROTOCOL, unsupported.len());
    metrics::rejected(PROTOCOL, "unsupported", unsupported.len());
    let decoded = Decoded { records: decoded.records, errors };
    let outcome = match send(s, PROTOCOL, decoded, traceparent(headers)).await {
        Ok(o) => o,
        Err(e) => return es_error(e),
    };
    let mut failures: Vec<Option<(&'static str, String)>> = vec![None; items.len()];
    let refused = unsupported.into_iter().map(|(pos, e)| (pos, e.to_string()));
    for (pos, reason) in refused.chain(outcome.bad) {
        if let Some(failure) = failures.get_mut(pos) {
            let kind = items[pos].error.unwrap_or(ItemErrorKind::DocumentParsing).as_str();
            *failure = Some((kind, reason));
        }
    }
    es_json(StatusCode::OK, bulk_reply(&items, failures, started))
}

/// The `_bulk` reply body: `took`, `errors` and one item per action.
/// Written straight from these structs (no `Value` tree per item); their
/// fields are in the order a `serde_json::Map` sorts keys, so the bytes are
/// the ones a `json!` object would give.
#[derive(Serialize)]
struct BulkReply<'a> {
    errors: bool,
    items: Vec<ReplyItem<'a>>,
    took: u64,
}

/// One item: `{"<op>": {...}}`.
struct ReplyItem<'a> {
    op: Op,
    body: ItemBody<'a>,
}

impl Serialize for ReplyItem<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.op.as_str(), &self.body)?;
        map.end()
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum ItemBody<'a> {
    Created {
        #[serde(rename = "_id")]
        id: &'a str,
        #[serde(rename = "_index")]
        index: &'a str,
        #[serde(rename = "_primary_term")]
        primary_term: u8,
        #[serde(rename = "_seq_no")]
        seq_no: usize,
        #[serde(rename = "_shards")]
        shards: Shards,
        #[serde(rename = "_version")]
        version: u8,
        result: &'static str,
        status: u16,
    },
    Failed {
        #[serde(rename = "_id")]
        id: &'a str,
        #[serde(rename = "_index")]
        index: &'a str,
        error: ItemError<'a>,
        status: u16,
    },
}

#[derive(Serialize)]
struct Shards {
    failed: u8,
    successful: u8,
    total: u8,
}

#[derive(Serialize)]
struct ItemError<'a> {
    index: &'a str,
    reason: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

fn bulk_reply<'a>(
    items: &'a [es_bulk::Item],
    failures: Vec<Option<(&'static str, String)>>,
    started: Instant,
) -> BulkReply<'a> {
    let errors = failures.iter().any(Option::is_some);
    let items = items
        .iter()
        .zip(failures)
        .enumerate()
        .map(|(seq, (item, failure))| {
            let body = match failure {
                None => ItemBody::Created {
                    id: &item.id,
                    index: &item.index,
                    primary_term: 1,
                    seq_no: seq,
                    shards: Shards { failed: 0, successful: 1, total: 1 },
                    version: 1,
                    result: "created",
                    status: 201,
                },
                Some((kind, reason)) => ItemBody::Failed {
                    id: &item.id,
                    index: &item.index,
                    error: ItemError { index: &item.index, reason, kind },
                    status: 400,
                },
            };
            ReplyItem { op: item.op, body }
        })
        .collect();
    BulkReply { errors, items, took: started.elapsed().as_millis() as u64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(op: Op, id: &str) -> es_bulk::Item {
        es_bulk::Item { op, index: "logs-a".into(), id: id.into(), error: None }
    }

    /// The typed reply writes the same bytes as the `json!` objects it
    /// replaced (keys sorted, as a `serde_json::Map` keeps them).
    #[test]
    fn bulk_reply_bytes_are_those_of_sorted_json_objects() {
        let items = [item(Op::Create, "a1"), item(Op::Index, "b\"2"), item(Op::Delete, "c")];
        let failures = vec![
            None,
            Some(("document_parsing_exception", "message: \"bad\"".to_owned())),
            Some(("illegal_argument_exception", "delete is not supported".to_owned())),
        ];
        let mut reply = bulk_reply(&items, failures, Instant::now());
        reply.took = 7;
        let expected = json!({"took": 7, "errors": true, "items": [
            {"create": {"_index": "logs-a", "_id": "a1", "_version": 1, "result": "created",
                "_shards": {"total": 1, "successful": 1, "failed": 0},
                "_seq_no": 0, "_primary_term": 1, "status": 201}},
            {"index": {"_index": "logs-a", "_id": "b\"2", "status": 400, "error": {
                "type": "document_parsing_exception", "reason": "message: \"bad\"",
                "index": "logs-a"}}},
            {"delete": {"_index": "logs-a", "_id": "c", "status": 400, "error": {
                "type": "illegal_argument_exception", "reason": "delete is not supported",
                "index": "logs-a"}}},
        ]});
        assert_eq!(serde_json::to_string(&reply).unwrap(), expected.to_string());
        let ok = bulk_reply(&items[..1], vec![None], Instant::now());
        assert!(!serde_json::to_value(&ok).unwrap()["errors"].as_bool().unwrap());
    }
}
