//! A tower layer for the gRPC server: one server span per call, child of the
//! caller's `traceparent`, with the OpenTelemetry RPC attributes, and the
//! per-RPC request counter and latency histogram.
//!
//! The status comes from the `grpc-status` response header: tonic answers an
//! error as a trailers-only response, so the header is there for every
//! failed unary call; an OK status travels in the trailers, so no header
//! means OK. (A streaming call that fails after its first message counts as
//! OK; its duration is the time to the response headers.)

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tracing::Instrument as _;

use crate::metrics::{GRPC_REQUEST_DURATION, GRPC_REQUESTS};
use crate::propagation;

/// Wraps a gRPC server's routes; see the module documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerLayer;

impl<S> tower::Layer<S> for ServerLayer {
    type Service = Server<S>;
    fn layer(&self, inner: S) -> Server<S> {
        Server { inner }
    }
}

/// The service [`ServerLayer`] makes.
#[derive(Clone, Debug)]
pub struct Server<S> {
    inner: S,
}

impl<S, B, R> tower::Service<http::Request<B>> for Server<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let rpc = request.uri().path().trim_start_matches('/').to_owned();
        let (service, method) = rpc.split_once('/').unwrap_or((rpc.as_str(), ""));
        let span = tracing::info_span!(
            "grpc.server",
            otel.name = %rpc,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
        );
        propagation::set_parent_from_headers(&span, request.headers());
        let started = Instant::now();
        let future = self.inner.call(request).instrument(span.clone());
        Box::pin(async move {
            let result = future.await;
            let code = match &result {
                Ok(response) => grpc_status(response.headers()),
                Err(_) => 2, // UNKNOWN: the transport failed the call
            };
            span.record("rpc.grpc.status_code", code);
            if is_server_error(code) {
                span.record("otel.status_code", "ERROR");
            }
            // Unknown paths would let any client mint label values.
            let rpc = if code == 12 { "unknown".to_owned() } else { rpc };
            let name = code_name(code);
            ::metrics::counter!(GRPC_REQUESTS, "rpc" => rpc.clone(), "code" => name).increment(1);
            ::metrics::histogram!(GRPC_REQUEST_DURATION, "rpc" => rpc)
                .record(started.elapsed().as_secs_f64());
            result
        })
    }
}

/// The `grpc-status` of a response's headers; 0 (OK) when absent.
pub fn grpc_status(headers: &http::HeaderMap) -> i32 {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Whether a server span with this status is an error (OpenTelemetry RPC
/// conventions: client mistakes are not server errors).
pub fn is_server_error(code: i32) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

/// The canonical name of a gRPC status code: `tonic::Code`'s `Debug`
/// (`InvalidArgument`), `Unknown` for numbers outside the table.
pub fn code_name(code: i32) -> String {
    format!("{:?}", tonic::Code::from_i32(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_from_headers() {
        let mut h = http::HeaderMap::new();
        assert_eq!(grpc_status(&h), 0);
        h.insert("grpc-status", http::HeaderValue::from_static("3"));
        assert_eq!(code_name(grpc_status(&h)), "InvalidArgument");
        assert!(!is_server_error(3) && is_server_error(14));
    }
}
