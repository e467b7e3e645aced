//! OpenAPI entries of the drop-in routes served by the sibling modules
//! (their handlers take raw bodies in foreign formats, so each route is
//! described here once, for the document only).
#![allow(dead_code)] // Declared for the OpenAPI document; served by es, loki and hec.

/// Elasticsearch `_bulk`: NDJSON `create`/`index` actions (ECS fields mapped,
/// the rest kept as attributes); the reply is Elasticsearch's `_bulk` shape
/// with a per-item status. Also `POST /{index}/_bulk`.
#[utoipa::path(post, path = "/_bulk", tag = "ingest (drop-in)",
    request_body(description = "NDJSON action and document lines", content_type = "application/x-ndjson", content = String),
    responses(
        (status = 200, description = "Per-item results: `errors` and `items[].create|index.status`", body = Object,
            example = json!({"took": 3, "errors": true, "items": [
                {"create": {"_index": "checkout", "_id": "a1", "status": 201, "result": "created"}},
                {"create": {"_index": "checkout", "status": 400, "error": {"type": "document_parsing_exception",
                    "reason": "status_code must be between 100 and 599, got 700"}}}]})),
        (status = 400, description = "No line of the body is a JSON object", body = Object),
        (status = 413, description = "The body is larger than the configured limit", body = Object),
    ))]
pub(crate) async fn bulk() {}

/// Elasticsearch cluster info for clients' version check (only for
/// non-browser clients: a browser's `GET /` stays the web UI's).
#[utoipa::path(get, path = "/", tag = "ingest (drop-in)",
    responses((status = 200, description = "Cluster info with `version.number` 8.19.0 and the `X-Elastic-Product: Elasticsearch` header", body = Object)))]
pub(crate) async fn info() {}

/// Loki push: protobuf + snappy (`application/x-protobuf`, as Alloy and
/// Promtail send) or JSON (gzip accepted). Labels and structured metadata
/// become attributes.
#[utoipa::path(post, path = "/loki/api/v1/push", tag = "ingest (drop-in)",
    request_body(description = "logproto.PushRequest, snappy-compressed, or Loki's JSON push body", content(
        (Object = "application/x-protobuf"), (Object = "application/json"))),
    responses(
        (status = 204, description = "Every entry stored"),
        (status = 400, description = "Unreadable body, or some entries rejected (the others stored); the message names them", body = Object),
        (status = 415, description = "Content type other than protobuf or JSON", body = Object),
    ))]
pub(crate) async fn loki_push() {}

/// Splunk HEC events: concatenated JSON objects (`time`, `host`, `source`,
/// `sourcetype`, `index`, `event`, `fields`). Also `/services/collector` and
/// `/services/collector/event/1.0`.
#[utoipa::path(post, path = "/services/collector/event", tag = "ingest (drop-in)",
    request_body(description = "Concatenated HEC event objects", content_type = "application/json", content = String),
    responses(
        (status = 200, description = "Stored", body = Object, example = json!({"text": "Success", "code": 0})),
        (status = 400, description = "No data (code 5) or an invalid event (code 6, `invalid-event-number`); valid events are stored", body = Object),
    ))]
pub(crate) async fn hec_event() {}

/// Splunk HEC raw: each line an event; `host`, `source`, `sourcetype` and
/// `index` from the query string.
#[utoipa::path(post, path = "/services/collector/raw", tag = "ingest (drop-in)",
    request_body(description = "Lines of text", content_type = "text/plain", content = String),
    responses(
        (status = 200, description = "Stored", body = Object, example = json!({"text": "Success", "code": 0})),
        (status = 400, description = "No data (code 5)", body = Object),
    ))]
pub(crate) async fn hec_raw() {}
