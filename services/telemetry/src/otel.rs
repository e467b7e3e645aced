//! The tracing subscriber: human logs on stderr filtered by `--log`, and an
//! OpenTelemetry layer that exports spans over OTLP/gRPC when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! The OpenTelemetry layer is installed even when nothing is exported, so
//! spans always have W3C ids and the trace context still flows from the
//! caller into Kafka headers. It has its own filter (loglens spans at INFO),
//! independent of `--log`: `RUST_LOG=warn` quiets the logs, not the traces.
//!
//! Exporting never blocks a request: spans go to the SDK's batch processor,
//! which drops them when its queue is full, and a down collector only costs
//! failed exports on the processor's own thread. Call
//! [`Telemetry::shutdown`] at exit so the last batch is sent.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::{Error, Result};

/// The standard variable naming the OTLP collector; unset or empty: no export.
pub const ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The traces-only override of [`ENDPOINT_ENV`].
pub const TRACES_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// The standard variable naming this service in traces.
pub const SERVICE_NAME_ENV: &str = "OTEL_SERVICE_NAME";

/// Installed telemetry; keep it until exit and then call [`Telemetry::shutdown`].
pub struct Telemetry {
    provider: SdkTracerProvider,
    exporting: bool,
}

impl Telemetry {
    /// Whether spans are exported over OTLP.
    pub fn exporting(&self) -> bool {
        self.exporting
    }

    /// Sends the spans still queued and stops the exporter. Runs the blocking
    /// shutdown off the async threads (on a current-thread runtime it would
    /// otherwise deadlock).
    pub async fn shutdown(self) {
        let provider = self.provider;
        let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "flushing traces at shutdown"),
            Err(e) => tracing::warn!(error = %e, "flushing traces at shutdown"),
        }
    }
}

/// Whether the environment asks for OTLP export.
pub fn export_configured() -> bool {
    [ENDPOINT_ENV, TRACES_ENDPOINT_ENV]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| !v.trim().is_empty()))
}

/// Installs the global subscriber: stderr logs filtered by `log_filter`
/// (an `EnvFilter` directive such as `info`), plus the OpenTelemetry layer.
/// `default_service` names the service unless `OTEL_SERVICE_NAME` is set.
/// Must run inside a Tokio runtime (the OTLP channel is created on it).
pub fn init(log_filter: &str, default_service: &str) -> Result<Telemetry> {
    let env_filter = EnvFilter::try_new(log_filter).map_err(|e| Error::LogFilter(e.to_string()))?;
    let exporting = export_configured();
    let mut resource = Resource::builder();
    if std::env::var(SERVICE_NAME_ENV).is_ok_and(|v| !v.trim().is_empty()) {
        // The builder's environment detector has already read it.
    } else {
        resource = resource.with_service_name(default_service.to_owned());
    }
    let mut builder = SdkTracerProvider::builder().with_resource(resource.build());
    if exporting {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .map_err(|e| Error::Exporter(e.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer("loglens");
    let traces = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(Targets::new().with_target("loglens", LevelFilter::INFO));
    let logs =
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(env_filter);
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .map_err(|e| Error::AlreadyInstalled(e.to_string()))?;
    Ok(Telemetry { provider, exporting })
}
