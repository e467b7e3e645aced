//! The W3C trace context (`traceparent`, `tracestate`) in and out of HTTP
//! headers, gRPC metadata (also HTTP headers) and Kafka record headers.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Header (and Kafka header) carrying the W3C trace parent.
pub const TRACEPARENT: &str = "traceparent";

struct HeaderReader<'a>(&'a http::HeaderMap);

impl Extractor for HeaderReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct HeaderWriter<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderWriter<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::try_from(key), http::HeaderValue::try_from(value))
        {
            self.0.insert(name, value);
        }
    }
}

struct One<'a>(Option<&'a str>);

impl Extractor for One<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if key == TRACEPARENT { self.0 } else { None }
    }
    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}

/// The remote parent named by `traceparent`/`tracestate` in `headers`; an
/// empty context when there is none or it does not parse.
pub fn extract(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderReader(headers))
}

/// Makes `span` a child of the trace context in `headers`, if any. Call it
/// right after creating the span, before it is entered.
pub fn set_parent_from_headers(span: &tracing::Span, headers: &http::HeaderMap) {
    let cx = extract(headers);
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// Writes `span`'s trace context into `headers` (gRPC metadata is headers).
pub fn inject(span: &tracing::Span, headers: &mut http::HeaderMap) {
    TraceContextPropagator::new().inject_context(&span.context(), &mut HeaderWriter(headers));
}

/// `span`'s context as a `traceparent` value; `None` when the span has no
/// valid context (tracing disabled for it).
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| format_traceparent(&sc))
}

/// `00-<trace id>-<span id>-<flags>`.
pub fn format_traceparent(sc: &SpanContext) -> String {
    format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8())
}

/// The span context a `traceparent` value names (marked remote); `None`
/// when it does not parse.
pub fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let cx = TraceContextPropagator::new().extract(&One(Some(value)));
    let sc = cx.span().span_context().clone();
    sc.is_valid().then_some(sc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let sc = parse_traceparent(tp).unwrap();
        assert!(sc.is_remote() && sc.is_sampled());
        assert_eq!(format_traceparent(&sc), tp);
        assert!(parse_traceparent("00-zz-00f067aa0ba902b7-01").is_none());
        assert!(
            parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none()
        );
    }

    #[test]
    fn extracts_from_headers() {
        let mut h = http::HeaderMap::new();
        assert!(!extract(&h).span().span_context().is_valid());
        h.insert(
            TRACEPARENT,
            http::HeaderValue::from_static(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            ),
        );
        let cx = extract(&h);
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(!cx.span().span_context().is_sampled());
    }
}
