//! Prometheus metrics: the recorder (every histogram with explicit buckets,
//! never a summary), the `/metrics` endpoint, the names shared across
//! crates, and the per-service record counters.
//!
//! Metric names carry their unit (`_seconds`, `_bytes`) and counters end in
//! `_total`. Each crate records its own metrics and describes them in a
//! `describe()` function the binary calls once.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use loglens_core::LogRecord;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use parking_lot::Mutex;

use crate::{Error, Result};

/// Counter: gRPC calls served, by `rpc` (`package.Service/Method`) and `code`.
pub const GRPC_REQUESTS: &str = "loglens_grpc_server_requests_total";
/// Histogram: gRPC call latency to the response headers, by `rpc`.
pub const GRPC_REQUEST_DURATION: &str = "loglens_grpc_server_request_duration_seconds";
/// Counter: REST requests served by the gateway, by `method`, `route`, `status`.
pub const HTTP_REQUESTS: &str = "loglens_http_server_requests_total";
/// Histogram: REST request latency, by `method` and `route`.
pub const HTTP_REQUEST_DURATION: &str = "loglens_http_server_request_duration_seconds";
/// Gauge: `GET /logs/tail` streams the gateway has open.
pub const GATEWAY_TAIL_STREAMS: &str = "loglens_gateway_tail_streams";
/// Counter: records durably indexed, by `service_name`.
pub const RECORDS_INDEXED: &str = "loglens_records_indexed_total";
/// Counter: anomalous records durably indexed, by `service_name`.
pub const RECORDS_ANOMALOUS: &str = "loglens_records_anomalous_total";
/// Gauge: documents in the store, by `backend`.
pub const STORE_DOCUMENTS: &str = "loglens_store_documents";
/// Gauge: bytes the store occupies on disk, by `backend`.
pub const STORE_DISK_BYTES: &str = "loglens_store_disk_bytes";

/// Counter: ingest requests refused for want of the process's ingest byte
/// budget (answered 429 / RESOURCE_EXHAUSTED with a retry-after), by `door`
/// (`rest`, `grpc`, or the drop-in protocol).
pub const INGEST_REQUESTS_SHED: &str = "loglens_ingest_requests_shed_total";

/// Counts one ingest request of `door` shed by the byte budget.
pub fn ingest_shed(door: &'static str) {
    metrics::counter!(INGEST_REQUESTS_SHED, "door" => door).increment(1);
}

/// Buckets of request and operation latencies, seconds (0.5 ms to 60 s).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];
/// Buckets of record ages (timestamp to searchable), seconds (10 ms to 1 h).
pub const AGE_BUCKETS: &[f64] =
    &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0];
/// Buckets of batch sizes, records.
pub const SIZE_BUCKETS: &[f64] =
    &[1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10_000.0, 50_000.0, 100_000.0];

/// Most distinct `service_name` label values; records of services beyond
/// are counted under [`OTHER_SERVICE`] so a client cannot explode the series.
pub const MAX_SERVICE_LABELS: usize = 1000;
/// The `service_name` label of services past [`MAX_SERVICE_LABELS`].
pub const OTHER_SERVICE: &str = "_other";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global Prometheus recorder. `histograms` maps histogram
/// names to their buckets; any other histogram gets [`LATENCY_BUCKETS`].
/// Must run inside a Tokio runtime (it starts the upkeep task).
pub fn install(histograms: &[(&str, &[f64])]) -> Result<()> {
    let mut builder = PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)
        .map_err(|e| Error::Metrics(e.to_string()))?;
    for (name, buckets) in histograms {
        builder = builder
            .set_buckets_for_metric(Matcher::Full((*name).to_owned()), buckets)
            .map_err(|e| Error::Metrics(e.to_string()))?;
    }
    let handle = builder.install_recorder().map_err(|e| Error::AlreadyInstalled(e.to_string()))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    let _ = HANDLE.set(handle);
    describe();
    Ok(())
}

/// The current metrics in the Prometheus text format; `None` when no
/// recorder is installed.
pub fn render() -> Option<String> {
    HANDLE.get().map(PrometheusHandle::render)
}

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An axum handler answering [`render`].
pub async fn metrics_handler() -> axum::response::Response {
    use axum::response::IntoResponse;
    match render() {
        Some(text) => ([(http::header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        None => (http::StatusCode::NOT_FOUND, "metrics are not enabled in this process\n")
            .into_response(),
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route("/metrics", axum::routing::get(metrics_handler));
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(GRPC_REQUESTS, "gRPC calls served, by rpc and status code");
    describe_histogram!(
        GRPC_REQUEST_DURATION,
        Unit::Seconds,
        "gRPC call latency to the response headers, by rpc"
    );
    describe_counter!(
        HTTP_REQUESTS,
        "REST requests served by the gateway, by method, route and status"
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "REST request latency, by method and route"
    );
    describe_gauge!(GATEWAY_TAIL_STREAMS, "GET /logs/tail streams the gateway has open");
    describe_counter!(RECORDS_INDEXED, "records durably indexed, by service_name");
    describe_counter!(RECORDS_ANOMALOUS, "anomalous records durably indexed, by service_name");
    describe_gauge!(STORE_DOCUMENTS, "documents in the store");
    describe_gauge!(STORE_DISK_BYTES, Unit::Bytes, "bytes the store occupies on disk");
}

/// Counts a durably indexed batch in [`RECORDS_INDEXED`] and
/// [`RECORDS_ANOMALOUS`]: one counter update per service in the batch, not
/// per record.
pub fn count_indexed<'a>(records: impl IntoIterator<Item = &'a LogRecord>) {
    ServiceCounts::of(records).record();
}

/// Indexed and anomalous records per service of one batch, counted before
/// the batch is handed over and recorded once it is durable.
#[derive(Debug, Default)]
pub struct ServiceCounts(HashMap<String, (u64, u64)>);

impl ServiceCounts {
    /// Counts `records` by service.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a LogRecord>) -> ServiceCounts {
        let mut by_service: HashMap<&str, (u64, u64)> = HashMap::new();
        for r in records {
            let e = by_service.entry(r.service_name.as_str()).or_default();
            e.0 += 1;
            e.1 += u64::from(r.anomaly);
        }
        ServiceCounts(by_service.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// Takes one record of `service` back out (the store refused it).
    pub fn remove(&mut self, service: &str, anomaly: bool) {
        if let Some(e) = self.0.get_mut(service) {
            e.0 = e.0.saturating_sub(1);
            e.1 = e.1.saturating_sub(u64::from(anomaly));
        }
    }

    /// [`ServiceCounts::remove`] of each of `refused` (records the store
    /// refused), then [`ServiceCounts::record`].
    pub fn record_less<'a>(mut self, refused: impl IntoIterator<Item = &'a LogRecord>) {
        for r in refused {
            self.remove(&r.service_name, r.anomaly);
        }
        self.record();
    }

    /// Adds the counts to [`RECORDS_INDEXED`] and [`RECORDS_ANOMALOUS`].
    pub fn record(self) {
        for (service, (indexed, anomalous)) in self.0 {
            let label = service_label(service);
            metrics::counter!(RECORDS_INDEXED, "service_name" => label.clone()).increment(indexed);
            // Registered even at 0, so every service has an anomaly rate.
            metrics::counter!(RECORDS_ANOMALOUS, "service_name" => label).increment(anomalous);
        }
    }
}

/// The `service_name` label value for `service`: itself for the first
/// [`MAX_SERVICE_LABELS`] services seen, then [`OTHER_SERVICE`].
fn service_label(service: String) -> String {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let mut seen = SEEN.get_or_init(Default::default).lock();
    if seen.contains(&service) {
        return service;
    }
    if seen.len() < MAX_SERVICE_LABELS {
        seen.insert(service.clone());
        return service;
    }
    OTHER_SERVICE.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(service: &str, anomaly: bool) -> LogRecord {
        let raw = loglens_core::RawLog {
            service_name: Some(service.into()),
            message: Some("m".into()),
            level: Some(if anomaly { "ERROR" } else { "INFO" }.into()),
            ..Default::default()
        };
        let r = loglens_core::record::normalize(
            raw,
            1_714_564_800_000,
            &loglens_core::RuleSet::default(),
        )
        .unwrap();
        assert_eq!(r.anomaly, anomaly);
        r
    }

    #[test]
    fn counts_per_service_once_per_batch() {
        let batch = [rec("a", true), rec("b", false), rec("a", false), rec("a", true)];
        let ServiceCounts(counts) = ServiceCounts::of(&batch);
        assert_eq!(counts.len(), 2);
        assert_eq!(counts["a"], (3, 2));
        assert_eq!(counts["b"], (1, 0));
    }

    #[test]
    fn service_labels_are_capped() {
        for i in 0..MAX_SERVICE_LABELS {
            service_label(format!("cap-{i}"));
        }
        assert_eq!(service_label("cap-0".into()), "cap-0", "a known service keeps its label");
        assert_eq!(service_label("one-too-many".into()), OTHER_SERVICE);
    }
}
