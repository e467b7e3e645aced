//! Wiring of telemetry into the binary: the Prometheus recorder and the
//! `/metrics` endpoint every serving role runs on `--metrics-addr`, and the
//! store gauges.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use loglens_store::LogStore;
use loglens_telemetry::metrics::{STORE_DISK_BYTES, STORE_DOCUMENTS};

/// How often the store gauges are refreshed.
const STORE_USAGE_EVERY: Duration = Duration::from_secs(2);

static METRICS_ADDR: OnceLock<SocketAddr> = OnceLock::new();

/// Installs the recorder and serves `GET /metrics` on `addr` (port 0 picks
/// one) for the rest of the process. Returns the bound address.
pub async fn start_metrics(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let buckets: Vec<(&str, &[f64])> = loglens_processor::metrics::HISTOGRAM_BUCKETS.to_vec();
    loglens_telemetry::metrics::install(&buckets).context("installing the metrics recorder")?;
    loglens_ingest::metrics::describe();
    loglens_processor::metrics::describe();
    loglens_receivers::metrics::describe();
    loglens_auth::describe();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics address {addr} (--metrics-addr)"))?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = loglens_telemetry::metrics::serve(listener, std::future::pending()).await {
            tracing::error!(error = %e, "metrics endpoint stopped");
        }
    });
    let _ = METRICS_ADDR.set(bound);
    Ok(bound)
}

/// The bound metrics address, once [`start_metrics`] ran.
pub fn metrics_addr() -> Option<SocketAddr> {
    METRICS_ADDR.get().copied()
}

/// Keeps `loglens_store_documents` and `loglens_store_disk_bytes` current
/// for as long as the process runs.
pub fn watch_store(store: &Arc<dyn LogStore>) {
    let store = store.clone();
    tokio::spawn(async move {
        let backend = store.backend();
        loop {
            let usage = store.usage().await;
            if let Some(n) = usage.documents {
                metrics::gauge!(STORE_DOCUMENTS, "backend" => backend).set(n as f64);
            }
            if let Some(b) = usage.disk_bytes {
                metrics::gauge!(STORE_DISK_BYTES, "backend" => backend).set(b as f64);
            }
            tokio::time::sleep(STORE_USAGE_EVERY).await;
        }
    });
}
