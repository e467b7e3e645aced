//! Drop-in ingest routes: the wire formats that log shippers already send
//! (OTLP/HTTP, Elasticsearch `_bulk`, Loki push, Splunk HEC), on their
//! standard paths. Each decodes with `loglens-receivers` and sends the
//! records through the same ingest port as `POST /logs`, so validation,
//! scoring and the sink (store or Kafka) are the same for every door.

use axum::http::{HeaderMap, StatusCode};
use loglens_core::RawLog;
use loglens_core::record::MAX_BATCH;
use loglens_receivers::{Decoded, metrics};

use crate::error::ApiError;
use crate::handlers::AppState;

pub(crate) mod doc;
pub(crate) mod es;
pub(crate) mod hec;
pub(crate) mod loki;
pub(crate) mod otlp;

/// Every drop-in route, merged into the gateway's router.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .merge(otlp::routes())
        .merge(es::routes())
        .merge(loki::routes())
        .merge(hec::routes())
}

/// The caller's W3C `traceparent`, if any.
pub(crate) fn traceparent(headers: &HeaderMap) -> Option<&str> {
    headers.get("traceparent").and_then(|v| v.to_str().ok())
}

/// What became of a decoded body: how many positions it had, how many
/// records were stored, and why each other position was not, by position.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Positions in the body (records read plus records not read).
    pub(crate) total: usize,
    /// Records stored.
    pub(crate) accepted: usize,
    /// Bad positions, ascending, with the reason.
    pub(crate) bad: Vec<(usize, String)>,
}

impl Outcome {
    /// `"2 of 5 entries rejected (3 stored): entry 1: ...; entry 4: ..."`,
    /// naming at most `named` of them.
    pub(crate) fn describe(&self, noun: &str, named: usize) -> String {
        let list: Vec<String> =
            self.bad.iter().take(named).map(|(p, why)| format!("{noun} {p}: {why}")).collect();
        let more = self.bad.len().saturating_sub(named);
        format!(
            "{} of {} {noun}s rejected ({} stored): {}{}",
            self.bad.len(),
            self.total,
            self.accepted,
            list.join("; "),
            if more > 0 { format!("; and {more} more") } else { String::new() }
        )
    }
}

/// The one path of every drop-in route: sends the readable records of
/// `decoded` through the ingest port in batches of at most [`MAX_BATCH`], and merges
/// the decoder's errors with the ingest service's rejections, mapped back to
/// body positions. Counts the `protocol`'s receiver metrics: received,
/// `undecodable` (the decoder's errors), `invalid_argument` (records the
/// proto cannot carry or ingest refused), accepted, and the failure's class
/// for the records not sent. `Err` only when an `Ingest` call failed: the
/// batches before it are stored, the rest are not.
pub(crate) async fn send(
    state: &AppState,
    protocol: &'static str,
    decoded: Decoded,
    traceparent: Option<&str>,
) -> Result<Outcome, ApiError> {
    let Decoded { records, errors } = decoded;
    let total = records.len() + errors.len();
    metrics::received(protocol, total);
    metrics::rejected(protocol, "undecodable", errors.len());
    let mut bad: Vec<(usize, String)> = errors.into_iter().map(|(p, e)| (p, reason(&e))).collect();
    let mut invalid = 0;
    let mut accepted = 0;
    let mut failed = None;
    let mut pending = records.into_iter().peekable();
    while pending.peek().is_some() {
        let (positions, batch): (Vec<usize>, Vec<RawLog>) =
            pending.by_ref().take(MAX_BATCH).unzip();
        match state.ingest.ingest(batch, traceparent).await {
            Ok(reply) => {
                accepted += reply.accepted as usize;
                invalid += reply.rejected.len();
                bad.extend(reply.rejected.into_iter().map(|r| {
                    let i = r.index as usize;
                    (positions.get(i).copied().unwrap_or(i), r.reason)
                }));
            }
            Err(e) => {
                failed = Some((e, positions.len() + pending.len()));
                break;
            }
        }
    }
    metrics::accepted(protocol, accepted);
    metrics::rejected(protocol, "invalid_argument", invalid);
    if let Some((e, unsent)) = failed {
        let why = match e.status {
            StatusCode::TOO_MANY_REQUESTS => "resource_exhausted",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            s if s.is_client_error() => "invalid_argument",
            _ => "internal",
        };
        metrics::rejected(protocol, why, unsent);
        return Err(e);
    }
    bad.sort_by_key(|(p, _)| *p);
    Ok(Outcome { total, accepted, bad })
}

/// A decoder or conversion error as a rejection reason, naming the field
/// when the message does not.
fn reason(e: &loglens_core::Error) -> String {
    match e.field() {
        Some(f) if !f.is_empty() && !e.to_string().contains(f) => format!("{f}: {e}"),
        _ => e.to_string(),
    }
}
