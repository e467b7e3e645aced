//! OTLP/gRPC logs: `opentelemetry.proto.collector.logs.v1.LogsService`, so
//! OpenTelemetry SDKs and Collectors can export logs straight to loglens.
//!
//! Records are mapped by `loglens_receivers::otlp`, then validated, scored
//! and delivered exactly like `IngestService.Ingest` (same rules, metrics and
//! sink). The reply comes once the sink took the accepted records; rejected
//! ones are counted in `partial_success` with their reasons. A sink that is
//! down answers `UNAVAILABLE`, which OTLP exporters retry.

use async_trait::async_trait;
use loglens_proto::ingest::{IngestRequest, LogRecord};
use loglens_receivers::metrics as receiver_metrics;
use loglens_receivers::otlp as decoder;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::LogsService;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use prost::Message as _;
use tonic::{Request, Response, Status};

use crate::{IngestApi, MAX_BATCH, traceparent};

/// The `protocol` label of this door in the receiver metrics.
const PROTOCOL: &str = "otlp_grpc";

/// The OTLP/gRPC `LogsService` over an [`IngestApi`].
pub struct OtlpLogsApi {
    ingest: IngestApi,
}

impl OtlpLogsApi {
    /// A service that validates and delivers through `ingest`.
    pub fn new(ingest: IngestApi) -> OtlpLogsApi {
        OtlpLogsApi { ingest }
    }
}

#[async_trait]
impl LogsService for OtlpLogsApi {
    #[tracing::instrument(skip_all, fields(records = decoder::count(request.get_ref())))]
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let _permit = self.ingest.admit(request.get_ref().encoded_len())?;
        let traceparent = traceparent(request.metadata());
        let tenant = crate::tenant_of(&request);
        let request = request.into_inner();
        receiver_metrics::received(PROTOCOL, decoder::count(&request));
        let decoded = decoder::decode(request);
        let mut rejected: Vec<(usize, String)> =
            decoded.errors.into_iter().map(|(i, e)| (i, e.to_string())).collect();
        receiver_metrics::rejected(PROTOCOL, "undecodable", rejected.len());
        let mut records: Vec<(usize, LogRecord)> = Vec::with_capacity(decoded.records.len());
        let mut unconvertible = 0;
        for (i, raw) in decoded.records {
            match LogRecord::try_from(raw) {
                Ok(r) => records.push((i, r)),
                Err(e) => {
                    unconvertible += 1;
                    rejected.push((i, e.to_string()));
                }
            }
        }
        receiver_metrics::rejected(PROTOCOL, "invalid_argument", unconvertible);
        let mut accepted = 0;
        let mut invalid = 0;
        while !records.is_empty() {
            let rest = records.split_off(records.len().min(MAX_BATCH));
            let (positions, batch): (Vec<usize>, Vec<LogRecord>) =
                std::mem::replace(&mut records, rest).into_iter().unzip();
            let result = self
                .ingest
                .ingest_batch(IngestRequest { records: batch }, 0, traceparent.as_deref(), &tenant)
                .await;
            let (a, r) = match result {
                Ok(v) => v,
                Err(status) => {
                    receiver_metrics::accepted(PROTOCOL, accepted);
                    receiver_metrics::rejected(PROTOCOL, "invalid_argument", invalid);
                    receiver_metrics::rejected(PROTOCOL, "unavailable", positions.len());
                    return Err(status);
                }
            };
            accepted += a as usize;
            invalid += r.len();
            rejected.extend(r.into_iter().map(|r| (positions[r.index as usize], r.reason)));
        }
        receiver_metrics::accepted(PROTOCOL, accepted);
        receiver_metrics::rejected(PROTOCOL, "invalid_argument", invalid);
        rejected.sort_by_key(|(i, _)| *i);
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: decoder::partial_success(&rejected),
        }))
    }
}
