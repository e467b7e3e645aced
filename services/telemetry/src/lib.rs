//! What every loglens role shares to be observable: tracing that exports
//! over OTLP and carries the W3C trace context across gRPC, HTTP and Kafka
//! ([`otel`], [`propagation`], [`grpc`]), and Prometheus metrics with real
//! histogram buckets served at `/metrics` ([`metrics`]).
//!
//! Configuration is the standard OpenTelemetry environment:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (unset: nothing is exported),
//! `OTEL_SERVICE_NAME` (default per role, e.g. `loglens-gateway`),
//! `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.

pub mod grpc;
pub mod metrics;
pub mod otel;
pub mod propagation;

pub use otel::{Telemetry, init};

/// What can go wrong setting telemetry up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The log filter (`--log` / `RUST_LOG`) does not parse.
    #[error("invalid log filter: {0}")]
    LogFilter(String),
    /// The OTLP exporter could not be built (e.g. a malformed endpoint).
    #[error("OTLP exporter: {0}")]
    Exporter(String),
    /// A global subscriber or metrics recorder was already installed.
    #[error("telemetry already initialised: {0}")]
    AlreadyInstalled(String),
    /// The metrics exporter refused its configuration.
    #[error("metrics exporter: {0}")]
    Metrics(String),
}

/// Result with the telemetry [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
