//! `GET /logs/tail`: the gRPC `Tail` as Server-Sent Events.
//!
//! Each record is one event, `id: <tail_position>`, `event: log`, and as
//! `data` the JSON object `GET /logs` returns per record; a comment every
//! [`KEEP_ALIVE`] keeps proxies from closing an idle stream. A client that
//! reconnects with `Last-Event-ID` (or `?last_event_id=`) continues right
//! after that event, with no gap and no repeat while the server still holds
//! it. Otherwise (too old, or the server restarted) the stream starts with
//! `event: gap`, data `{"reason", "after"}`, and continues live; `Search`
//! over the time range from `after` on fills the gap. When the gRPC tail
//! drops this stream for being slow, it is re-opened after the last event
//! sent, so the client sees either nothing or a `gap` event.
//!
//! The route sits outside the router's request timeout and compression
//! (see [`crate::app_with`]): both would break a stream that never ends.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use loglens_core::{Error, Result};
use loglens_proto::query::query_service_client::QueryServiceClient;
use loglens_proto::query::{LogEntry, LogFilter, TailRequest};
use loglens_telemetry::metrics::GATEWAY_TAIL_STREAMS;
use serde::Serialize;
use tonic::Streaming;
use tonic::transport::Channel;

use crate::error::{ApiError, ErrorBody};
use crate::handlers::AppState;
use crate::params::{Params, TailQuery};
use crate::telemetry::{call, rpc};

/// How often an idle stream gets a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Re-opens in a row that delivered nothing before the stream gives up.
const MAX_REOPENS: u32 = 3;

/// The route, with its state; merged outside the timeout and compression.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/logs/tail", get(tail))
}

/// `GET /logs/tail`: the filters as a gRPC request, time bounds unset.
impl From<TailQuery> for TailRequest {
    fn from(q: TailQuery) -> TailRequest {
        TailRequest {
            filter: Some(LogFilter {
                service_name: q.service_name,
                level: q.level.map(|l| l.0.as_str().to_owned()),
                status_code: q.status_code.map(|s| s.0.into()),
                anomaly: q.anomaly,
                from_timestamp: None,
                to_timestamp: None,
                query: q.q,
                trace_id: q.trace_id,
                request_id: q.request_id,
                host: q.host,
                user_id: q.user_id,
                error_code: q.error_code,
                tag: q.tag,
                anomaly_reason: q.anomaly_reason,
                attributes: q.attr.map(|a| a.0.into_iter().collect()).unwrap_or_default(),
                tenant: q.tenant,
            }),
            resume_after: q.last_event_id.unwrap_or_default(),
        }
    }
}

/// The `data` of an `event: gap`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Gap {
    /// Why records may be missing.
    reason: String,
    /// The last event id the client had, if any: records after it and
    /// before the next event may be missing.
    after: Option<String>,
}

/// Follow new log records live (Server-Sent Events).
///
/// The filters of `GET /logs` (without time bounds, paging or sort). Each
/// matching record is an event `id: <position>`, `event: log`, `data: <the record
/// as GET /logs returns it>`; a comment every 15 s keeps the connection alive.
/// Reconnect with `Last-Event-ID` (or `last_event_id`) to continue without gap
/// or repeat; when that is no longer possible the stream starts with
/// `event: gap`, data `{"reason": "...", "after": "<id>"}`, then continues live
/// (`GET /logs` over the time range fills the gap). Try
/// `curl -N 'http://127.0.0.1:8000/logs/tail?level=ERROR'`.
#[utoipa::path(get, path = "/logs/tail", tag = "logs",
    params(
        TailQuery,
        ("Last-Event-ID" = Option<String>, Header,
            description = "Resume right after this event id (sent by EventSource on reconnect)"),
    ),
    responses(
        (status = 200, description = "An endless stream of events", content_type = "text/event-stream",
            body = String, example = json!("id: 3c9f0a1b2c3d4e5f-42-0\nevent: log\ndata: {\"id\":\"…\",\"level\":\"ERROR\",…}\n\n")),
        (status = 400, description = "A parameter is invalid or unknown", body = ErrorBody),
        (status = 503, description = "The query service is unavailable", body = ErrorBody),
    ))]
pub(crate) async fn tail(
    State(s): State<AppState>,
    headers: HeaderMap,
    Params(q): Params<TailQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let mut request = TailRequest::from(q);
    let mut resume_param = "last_event_id";
    if let Some(v) = headers.get("last-event-id") {
        let id = v.to_str().map_err(|_| {
            Error::invalid("Last-Event-ID", "Last-Event-ID must be an event id this stream sent")
        })?;
        if !id.trim().is_empty() {
            request.resume_after = id.trim().to_owned();
            resume_param = "Last-Event-ID";
        }
    }
    let resume = Some(request.resume_after.clone()).filter(|r| !r.is_empty());
    let mut tailer = Tailer {
        client: s.query.clone(),
        filter: request.filter.clone().unwrap_or_default(),
        grpc: None,
        resume: resume.clone(),
        pending: None,
        reopens: 0,
        dropped: None,
        done: false,
        forward: crate::auth::forwarded(),
        _open: OpenTail::new(),
    };
    // The first call answers before the response starts: a bad request or
    // an unreachable server is an HTTP error, not an event.
    match tailer.open(resume).await {
        Ok(stream) => tailer.grpc = Some(stream),
        Err(status) if status.code() == tonic::Code::OutOfRange => {
            tailer.pending = Some(tailer.gap(status.message()));
        }
        Err(status) => {
            // The gRPC field is `resume_after`; name what this client sent.
            let mut e = ApiError::from(status);
            if e.body.field.as_deref() == Some("resume_after") {
                e.body.field = Some(resume_param.to_owned());
                e.body.message = e.body.message.replace("resume_after", resume_param);
            }
            return Err(e);
        }
    }
    let events = futures::stream::unfold(tailer, |mut t| async move {
        let event = t.next().await?;
        Some((Ok::<_, Infallible>(event), t))
    });
    Ok((
        // Tells proxies such as nginx not to buffer the stream.
        [(HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no"))],
        Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)),
    ))
}

/// Counts itself in [`GATEWAY_TAIL_STREAMS`] while alive: the stream's state
/// is dropped when the client leaves.
struct OpenTail;

impl OpenTail {
    fn new() -> OpenTail {
        metrics::gauge!(GATEWAY_TAIL_STREAMS).increment(1.0);
        OpenTail
    }
}

impl Drop for OpenTail {
    fn drop(&mut self) {
        metrics::gauge!(GATEWAY_TAIL_STREAMS).decrement(1.0);
    }
}

/// One client's stream: the gRPC tail, re-opened where it left off.
struct Tailer {
    client: QueryServiceClient<Channel>,
    filter: LogFilter,
    grpc: Option<Streaming<LogEntry>>,
    /// The last event id sent (or the one the client resumed from).
    resume: Option<String>,
    /// An event to send before reading on.
    pending: Option<Event>,
    /// Re-opens since the last record sent.
    reopens: u32,
    /// Why the gRPC tail dropped this stream for being slow, until resumed.
    dropped: Option<String>,
    /// An error event was sent: the stream ends.
    done: bool,
    /// The caller's key, forwarded on every (re-)open.
    forward: Option<HeaderValue>,
    _open: OpenTail,
}

impl Tailer {
    async fn open(
        &self,
        resume_after: Option<String>,
    ) -> Result<Streaming<LogEntry>, tonic::Status> {
        let request = TailRequest {
            filter: Some(self.filter.clone()),
            resume_after: resume_after.unwrap_or_default(),
        };
        let mut client = self.client.clone();
        let reply =
            crate::auth::with_forwarded(
                self.forward.clone(),
                call(rpc::TAIL, tonic::Request::new(request), move |r| async move {
                    client.tail(r).await
                }),
            )
            .await?;
        Ok(reply.into_inner())
    }

    /// An `event: gap` after the last id sent; reading goes on live.
    fn gap(&mut self, reason: &str) -> Event {
        let gap = Gap { reason: reason.to_owned(), after: self.resume.take() };
        Event::default()
            .event("gap")
            .json_data(&gap)
            .unwrap_or_else(|_| Event::default().event("gap"))
    }

    /// An `event: error` (the stream ends after it; an EventSource
    /// reconnects with `Last-Event-ID`).
    fn error(status: &tonic::Status) -> Event {
        let body = ApiError::from(status.clone()).body;
        Event::default()
            .event("error")
            .json_data(&body)
            .unwrap_or_else(|_| Event::default().event("error"))
    }

    async fn next(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        loop {
            if let Some(event) = self.pending.take() {
                return Some(event);
            }
            let Some(grpc) = &mut self.grpc else {
                if self.reopens >= MAX_REOPENS {
                    let status = tonic::Status::unavailable(
                        "the tail kept failing to resume; reconnect with Last-Event-ID",
                    );
                    return self.finish(&status);
                }
                self.reopens += 1;
                match self.open(self.resume.clone()).await {
                    Ok(stream) => {
                        self.grpc = Some(stream);
                        self.dropped = None;
                    }
                    Err(status) if status.code() == tonic::Code::OutOfRange => {
                        let reason = self.dropped.take();
                        let reason = reason.as_deref().unwrap_or(status.message());
                        self.pending = Some(self.gap(reason));
                    }
                    Err(status) => return self.finish(&status),
                }
                continue;
            };
            match grpc.message().await {
                Ok(Some(mut entry)) => {
                    let id = std::mem::take(&mut entry.tail_position);
                    self.reopens = 0;
                    let mut event = Event::default();
                    if !id.is_empty() {
                        event = event.id(id.clone());
                    }
                    let event = match event.event("log").json_data(&entry) {
                        Ok(e) => e,
                        Err(e) => {
                            tracing::warn!(error = %e, "tail record does not encode");
                            continue;
                        }
                    };
                    if !id.is_empty() {
                        self.resume = Some(id);
                    }
                    return Some(event);
                }
                // The server ended the tail (it is shutting down).
                Ok(None) => return None,
                Err(status) => match status.code() {
                    // Too slow: continue after the last event sent, or
                    // learn that it is gone.
                    tonic::Code::ResourceExhausted => {
                        tracing::debug!(message = status.message(), "tail dropped, resuming");
                        self.grpc = None;
                        if self.resume.is_none() {
                            self.pending = Some(self.gap(status.message()));
                        } else {
                            self.dropped = Some(status.message().to_owned());
                        }
                    }
                    tonic::Code::OutOfRange => {
                        self.grpc = None;
                        self.pending = Some(self.gap(status.message()));
                    }
                    _ => return self.finish(&status),
                },
            }
        }
    }

    /// Sends an `event: error`, then ends the stream.
    fn finish(&mut self, status: &tonic::Status) -> Option<Event> {
        tracing::debug!(code = ?status.code(), message = status.message(), "tail stream ends");
        self.grpc = None;
        self.done = true;
        Some(Tailer::error(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parse;

    #[test]
    fn filters_become_a_tail_request_without_time_bounds() {
        let q: TailQuery =
            parse(Some("level=error&service_name=api&attr.region=eu&last_event_id=x-1-2")).unwrap();
        let r = TailRequest::from(q);
        let f = r.filter.unwrap();
        assert_eq!(f.level.as_deref(), Some("ERROR"));
        assert_eq!(f.service_name.as_deref(), Some("api"));
        assert_eq!(f.attributes.get("region").map(String::as_str), Some("eu"));
        assert_eq!((f.from_timestamp, f.to_timestamp), (None, None));
        assert_eq!(r.resume_after, "x-1-2");
    }

    #[test]
    fn paging_sort_and_time_bounds_are_refused_by_name() {
        for p in ["page", "size", "cursor", "sort", "from_timestamp", "to_timestamp"] {
            let e = parse::<TailQuery>(Some(&format!("{p}=1"))).unwrap_err();
            assert_eq!(e.field(), Some(p), "{e}");
            assert!(e.to_string().contains(p), "{e}");
        }
        let e = parse::<TailQuery>(Some("level=loud")).unwrap_err();
        assert_eq!(e.field(), Some("level"));
    }
}
