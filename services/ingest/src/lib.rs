//! The ingest role: `logs.ingest.v1.IngestService` over a [`RecordSink`].
//!
//! Each record is validated, normalised and scored by `loglens-core`; valid
//! ones go to the sink in one call per request message, and the reply is sent
//! only after the sink accepted them (for the store sink: once they are
//! durable; for the Kafka sink: once the broker acknowledged every record).
//! Invalid ones are listed with their index and reason.
//!
//! Every record is the caller's tenant's: the tenant of the API key in the
//! request's extensions (put there by the key check), or
//! [`loglens_core::tenant::DEFAULT_TENANT`] when keys are not checked.
//! A tenant over its ingest rate ([`TenantLimit`]) is answered
//! `RESOURCE_EXHAUSTED` with `retry-after`, the batch untouched.

use std::sync::Arc;

use async_trait::async_trait;
use loglens_core::budget::{BudgetPermit, ByteBudget};
use loglens_core::{LogRecord, Normalized, RawLog, Rejection, RuleSet};
use loglens_proto::ingest::ingest_service_server::IngestService;
use loglens_proto::ingest::{IngestRequest, IngestResponse};
use loglens_proto::status::to_status;
use loglens_store::{LogStore, Refused};
use prost::Message as _;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

pub mod kafka;
pub mod metrics;
pub mod otlp;

pub use kafka::KafkaSink;

pub use loglens_core::record::MAX_BATCH;

/// Where accepted records go: the store directly ([`StoreSink`], standalone)
/// or the raw Kafka topic ([`KafkaSink`]).
#[async_trait]
pub trait RecordSink: Send + Sync + 'static {
    /// Hands over a batch; returns once the sink has durably taken it, with
    /// the records it refused for good (their positions in `records`).
    /// `traceparent` is the caller's W3C trace context, passed on where the
    /// sink can carry it (a Kafka header).
    async fn send(
        &self,
        records: Vec<LogRecord>,
        traceparent: Option<&str>,
    ) -> loglens_core::Result<Vec<Refused>>;

    /// [`RecordSink::send`] of records fresh from normalisation, whose ids
    /// a sink may take as their content's ([`Normalized`]): what the
    /// ingest service sends. No default, so that a sink wrapping another
    /// cannot lose the promise by forgetting to pass this on (the node's
    /// intake gate did, until 2026-12-04); a sink with no use for it sends
    /// `batch.into_records()`.
    async fn send_normalized(
        &self,
        batch: Normalized,
        traceparent: Option<&str>,
    ) -> loglens_core::Result<Vec<Refused>>;

    /// The sink's name in metrics (`sink` label).
    fn name(&self) -> &'static str {
        "other"
    }
}

/// Sends records straight into a [`LogStore`].
pub struct StoreSink(pub Arc<dyn LogStore>);

#[async_trait]
impl RecordSink for StoreSink {
    async fn send(
        &self,
        records: Vec<LogRecord>,
        _traceparent: Option<&str>,
    ) -> loglens_core::Result<Vec<Refused>> {
        let counts = loglens_telemetry::metrics::ServiceCounts::of(&records);
        let refused = self.0.index(records).await?;
        counts.record_less(refused.iter().map(|r| &r.record));
        Ok(refused)
    }

    async fn send_normalized(
        &self,
        batch: Normalized,
        _traceparent: Option<&str>,
    ) -> loglens_core::Result<Vec<Refused>> {
        let counts = loglens_telemetry::metrics::ServiceCounts::of(batch.records());
        let refused = self.0.index_normalized(batch).await?;
        counts.record_less(refused.iter().map(|r| &r.record));
        Ok(refused)
    }

    fn name(&self) -> &'static str {
        "store"
    }
}

/// A per-tenant ingest rate: charges `records` to `tenant`, or says how
/// long to wait.
pub trait TenantLimit: Send + Sync + 'static {
    /// `Ok` admits the records; `Err` is the time until the tenant may send
    /// again.
    fn charge(&self, tenant: &str, records: u64) -> Result<(), std::time::Duration>;
}

/// The key file's per-tenant ingest rates.
impl TenantLimit for loglens_auth::IngestLimiter {
    fn charge(&self, tenant: &str, records: u64) -> Result<(), std::time::Duration> {
        loglens_auth::IngestLimiter::charge(self, tenant, records)
    }
}

/// The tenant records sent by `caller` belong to: its key's, or the
/// default tenant when keys are not checked.
pub fn caller_tenant(caller: Option<&loglens_auth::Principal>) -> String {
    caller.map_or_else(|| loglens_core::tenant::DEFAULT_TENANT.to_owned(), |p| p.tenant.clone())
}

/// The tenant a gRPC call's records belong to ([`caller_tenant`] of the key
/// the auth layer put in its extensions).
pub fn tenant_of<T>(request: &Request<T>) -> String {
    caller_tenant(request.extensions().get::<loglens_auth::Principal>())
}

/// The gRPC `IngestService`.
#[derive(Clone)]
pub struct IngestApi {
    sink: Arc<dyn RecordSink>,
    rules: Arc<RuleSet>,
    budget: Option<Arc<ByteBudget>>,
    limit: Option<Arc<dyn TenantLimit>>,
}

impl IngestApi {
    /// A service that scores with `rules` and delivers to `sink`.
    pub fn new(sink: Arc<dyn RecordSink>, rules: Arc<RuleSet>) -> IngestApi {
        IngestApi { sink, rules, budget: None, limit: None }
    }

    /// Holds each tenant to its ingest rate.
    pub fn with_tenant_limit(mut self, limit: Arc<dyn TenantLimit>) -> IngestApi {
        self.limit = Some(limit);
        self
    }

    /// Sheds gRPC requests (`Ingest`, each `IngestStream` message, OTLP
    /// `Export`) that do not fit `budget` now: RESOURCE_EXHAUSTED with
    /// `retry-after`, counted as shed. The in-process door is not charged:
    /// its caller holds the budget for the request body.
    pub fn with_budget(mut self, budget: Arc<ByteBudget>) -> IngestApi {
        self.budget = Some(budget);
        self
    }

    /// Takes `bytes` (an encoded request's size) from the budget, if any.
    pub(crate) fn admit(&self, bytes: usize) -> Result<Option<BudgetPermit>, Status> {
        match &self.budget {
            None => Ok(None),
            Some(b) => match b.try_take(bytes) {
                Ok(p) => Ok(Some(p)),
                Err(e) => {
                    loglens_telemetry::metrics::ingest_shed("grpc");
                    Err(to_status(&e))
                }
            },
        }
    }

    /// Validates one request message, whose first record has stream index
    /// `first`, and sends the valid records. Returns (accepted, rejections).
    async fn ingest_batch(
        &self,
        request: IngestRequest,
        first: u32,
        traceparent: Option<&str>,
        tenant: &str,
    ) -> Result<(u32, Vec<Rejection>), Status> {
        let records = request.records.into_iter().map(RawLog::from).collect();
        self.deliver(records, first, traceparent, tenant).await.map_err(|e| to_status(&e))
    }

    /// The in-process door, for a REST gateway in the same process: the same
    /// validation, scoring, metrics, sink and reply as `Ingest`, without the
    /// proto round trip. Rejections are indexed by position in `records`;
    /// an error is what `Ingest` would answer as a status. The records are
    /// `tenant`'s.
    #[tracing::instrument(name = "ingest", skip_all, fields(records = records.len()))]
    pub async fn ingest_local(
        &self,
        records: Vec<RawLog>,
        traceparent: Option<&str>,
        tenant: &str,
    ) -> loglens_core::Result<(u32, Vec<Rejection>)> {
        self.deliver(records, 0, traceparent, tenant).await
    }

    /// Validates `records`, the first with stream index `first`, and sends
    /// the valid ones. Returns (accepted, rejections).
    async fn deliver(
        &self,
        records: Vec<RawLog>,
        first: u32,
        traceparent: Option<&str>,
        tenant: &str,
    ) -> loglens_core::Result<(u32, Vec<Rejection>)> {
        if records.len() > MAX_BATCH {
            return Err(loglens_core::Error::invalid(
                "records",
                format!("a request may carry at most {MAX_BATCH} records, got {}", records.len()),
            ));
        }
        let received = records.len();
        let n = received as u32;
        let (mut records, mut rejected) = Normalized::of(records, first, now_ms(), &self.rules);
        metrics::validated(received, &rejected);
        if let (Some(limit), false) = (&self.limit, records.is_empty())
            && let Err(wait) = limit.charge(tenant, records.len() as u64)
        {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(loglens_core::Error::RateLimited {
                message: format!(
                    "tenant {tenant:?} is over its ingest rate; retry in {} s",
                    secs.max(1)
                ),
                retry_after_secs: secs.max(1),
            });
        }
        if !loglens_core::tenant::is_default(tenant) {
            records.assign_tenant(tenant);
        }
        let mut accepted = records.len() as u32;
        if !records.is_empty() {
            let started = std::time::Instant::now();
            let result = self.sink.send_normalized(records, traceparent).await;
            let refused = result.as_ref().map_or(0, Vec::len);
            metrics::delivered(
                self.sink.name(),
                accepted as usize - refused,
                started.elapsed(),
                result.as_ref().err(),
            );
            let refused = result?;
            if !refused.is_empty() {
                // Stream index of each record that was sent, in order.
                let invalid: std::collections::HashSet<u32> =
                    rejected.iter().map(|r| r.index).collect();
                let sent: Vec<u32> = (first..first + n).filter(|i| !invalid.contains(i)).collect();
                accepted -= refused.len() as u32;
                let refused: Vec<Rejection> = refused
                    .into_iter()
                    .map(|r| Rejection {
                        index: sent[r.position],
                        field: r.field.unwrap_or_default(),
                        reason: format!("the store refused the record: {}", r.reason),
                    })
                    .collect();
                metrics::refused(&refused);
                rejected.extend(refused);
                rejected.sort_by_key(|r| r.index);
            }
        }
        Ok((accepted, rejected))
    }
}

/// Splits a request into normalised records and rejections; pure.
pub fn validate_batch(
    request: IngestRequest,
    first: u32,
    now: i64,
    rules: &RuleSet,
) -> (Vec<LogRecord>, Vec<Rejection>) {
    validate_records(request.records.into_iter().map(RawLog::from).collect(), first, now, rules)
}

/// Splits raw records into normalised records and rejections, the first
/// with index `first`; pure.
pub fn validate_records(
    raws: Vec<RawLog>,
    first: u32,
    now: i64,
    rules: &RuleSet,
) -> (Vec<LogRecord>, Vec<Rejection>) {
    let (records, rejected) = Normalized::of(raws, first, now, rules);
    (records.into_records(), rejected)
}

/// The caller's W3C `traceparent`, from gRPC metadata.
fn traceparent(metadata: &tonic::metadata::MetadataMap) -> Option<String> {
    metadata.get("traceparent").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn reply(accepted: u32, rejected: Vec<Rejection>) -> IngestResponse {
    IngestResponse { accepted, rejected: rejected.into_iter().map(Into::into).collect() }
}

#[async_trait]
impl IngestService for IngestApi {
    #[tracing::instrument(skip_all, fields(records = request.get_ref().records.len()))]
    async fn ingest(
        &self,
        request: Request<IngestRequest>,
    ) -> Result<Response<IngestResponse>, Status> {
        let _permit = self.admit(request.get_ref().encoded_len())?;
        let traceparent = traceparent(request.metadata());
        let tenant = tenant_of(&request);
        let (accepted, rejected) =
            self.ingest_batch(request.into_inner(), 0, traceparent.as_deref(), &tenant).await?;
        Ok(Response::new(reply(accepted, rejected)))
    }

    #[tracing::instrument(skip_all)]
    async fn ingest_stream(
        &self,
        request: Request<Streaming<IngestRequest>>,
    ) -> Result<Response<IngestResponse>, Status> {
        let traceparent = traceparent(request.metadata());
        let tenant = tenant_of(&request);
        let mut stream = request.into_inner();
        let (mut accepted, mut rejected, mut seen) = (0u32, Vec::new(), 0u32);
        while let Some(message) = stream.next().await {
            let message = message?;
            let _permit = self.admit(message.encoded_len())?;
            let n = message.records.len() as u32;
            let (a, mut r) =
                self.ingest_batch(message, seen, traceparent.as_deref(), &tenant).await?;
            accepted += a;
            rejected.append(&mut r);
            seen += n;
        }
        Ok(Response::new(reply(accepted, rejected)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loglens_core::RuleSet;
    use loglens_proto::ingest;

    fn proto(service: &str, ts: &str, status: Option<i32>) -> ingest::LogRecord {
        ingest::LogRecord {
            timestamp: ts.into(),
            service_name: service.into(),
            level: "warning".into(),
            message: "hello".into(),
            status_code: status,
            ..Default::default()
        }
    }

    /// Takes every batch, refusing nothing; counts the records.
    #[derive(Default)]
    struct Counting(std::sync::atomic::AtomicUsize);

    /// Keeps every batch, refusing nothing.
    #[derive(Default)]
    struct Keeping(parking_lot::Mutex<Vec<LogRecord>>);

    #[async_trait]
    impl RecordSink for Keeping {
        async fn send(
            &self,
            records: Vec<LogRecord>,
            _traceparent: Option<&str>,
        ) -> loglens_core::Result<Vec<Refused>> {
            self.0.lock().extend(records);
            Ok(Vec::new())
        }

        async fn send_normalized(
            &self,
            batch: Normalized,
            traceparent: Option<&str>,
        ) -> loglens_core::Result<Vec<Refused>> {
            self.send(batch.into_records(), traceparent).await
        }
    }

    /// Admits `beta` always and `alpha` never, for 3.5 s.
    struct OnlyBeta;

    impl TenantLimit for OnlyBeta {
        fn charge(&self, tenant: &str, _records: u64) -> Result<(), std::time::Duration> {
            if tenant == "alpha" { Err(std::time::Duration::from_millis(3500)) } else { Ok(()) }
        }
    }

    fn as_key_of(tenant: &str, mut request: Request<IngestRequest>) -> Request<IngestRequest> {
        request.extensions_mut().insert(loglens_auth::Principal {
            name: format!("{tenant}-key"),
            tenant: tenant.into(),
            scopes: vec![loglens_auth::Scope::Ingest],
        });
        request
    }

    #[tokio::test]
    async fn records_are_the_key_tenants_and_a_tenant_over_its_rate_is_refused_with_its_wait() {
        let sink = Arc::new(Keeping::default());
        let api = IngestApi::new(sink.clone(), Arc::new(RuleSet::default()))
            .with_tenant_limit(Arc::new(OnlyBeta));
        // A fixed timestamp: without one each ingest stamps its own "now",
        // and two ingests a millisecond apart would be different records.
        let ts = "2026-12-01T10:00:00.000Z";
        let request = || Request::new(IngestRequest { records: vec![proto("a", ts, None)] });
        // No key: the default tenant, whose ids are the content ids.
        api.ingest(request()).await.unwrap();
        let beta = api.ingest(as_key_of("beta", request())).await.unwrap().into_inner();
        assert_eq!(beta.accepted, 1);
        let status = api.ingest(as_key_of("alpha", request())).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains("\"alpha\""), "{}", status.message());
        assert_eq!(
            status.metadata().get(loglens_core::error::RETRY_AFTER_METADATA_KEY).unwrap(),
            "4",
            "3.5 s rounds up"
        );
        let kept = sink.0.lock().clone();
        assert_eq!(kept.len(), 2, "nothing of alpha's refused batch");
        assert_eq!(kept[0].tenant, "default");
        assert_eq!(kept[0].id, loglens_core::record::content_id(&kept[0]));
        assert_eq!(kept[1].tenant, "beta");
        assert_ne!(kept[1].id, kept[0].id, "the same content is another record in another tenant");
        // The in-process door takes the tenant from its caller.
        let raw = RawLog::from(proto("a", ts, None));
        let err = api.ingest_local(vec![raw.clone()], None, "alpha").await.unwrap_err();
        assert_eq!(err.retry_after_secs(), Some(4));
        api.ingest_local(vec![raw], None, "beta").await.unwrap();
        assert_eq!(sink.0.lock()[2].id, kept[1].id);
    }

    #[async_trait]
    impl RecordSink for Counting {
        async fn send(
            &self,
            records: Vec<LogRecord>,
            _traceparent: Option<&str>,
        ) -> loglens_core::Result<Vec<Refused>> {
            self.0.fetch_add(records.len(), std::sync::atomic::Ordering::SeqCst);
            Ok(Vec::new())
        }

        async fn send_normalized(
            &self,
            batch: Normalized,
            traceparent: Option<&str>,
        ) -> loglens_core::Result<Vec<Refused>> {
            self.send(batch.into_records(), traceparent).await
        }
    }

    #[tokio::test]
    async fn ingest_sheds_with_resource_exhausted_and_retry_after_when_the_budget_is_full() {
        let sink = Arc::new(Counting::default());
        let budget = ByteBudget::new(1 << 20);
        let api =
            IngestApi::new(sink.clone(), Arc::new(RuleSet::default())).with_budget(budget.clone());
        let request = || Request::new(IngestRequest { records: vec![proto("a", "", None)] });
        assert_eq!(api.ingest(request()).await.unwrap().into_inner().accepted, 1);
        let held = budget.try_take(1 << 20).unwrap();
        let status = api.ingest(request()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(
            status.metadata().get(loglens_core::error::RETRY_AFTER_METADATA_KEY).unwrap(),
            "1"
        );
        // The in-process door is charged by its caller, not here.
        let raw = RawLog::from(proto("a", "", None));
        assert_eq!(api.ingest_local(vec![raw], None, "default").await.unwrap().0, 1);
        drop(held);
        assert_eq!(api.ingest(request()).await.unwrap().into_inner().accepted, 1);
        assert_eq!(sink.0.load(std::sync::atomic::Ordering::SeqCst), 3, "no shed record stored");
    }

    #[test]
    fn batch_splits_valid_and_rejected_with_indices() {
        let req = IngestRequest {
            records: vec![
                proto("a", "", Some(200)),
                proto("", "", None),
                proto("b", "not a time", None),
                proto("c", "1714564800", Some(700)),
                proto("d", "2024-05-01T12:00:00Z", Some(503)),
            ],
        };
        let (ok, bad) = validate_batch(req, 10, 1_000, &RuleSet::default());
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].timestamp, 1_000, "empty timestamp is the receive time");
        assert_eq!(ok[1].timestamp, 1_714_564_800_000);
        assert!(ok[1].anomaly);
        let got: Vec<(u32, &str)> = bad.iter().map(|r| (r.index, r.field.as_str())).collect();
        assert_eq!(got, vec![(11, "service_name"), (12, "timestamp"), (13, "status_code")]);
    }
}
