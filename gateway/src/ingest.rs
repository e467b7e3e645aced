//! The gateway's ingest port: where `POST /logs` and the drop-in routes send
//! their records. Over gRPC (`IngestService/Ingest`) when ingest runs in
//! another process; called directly when it runs in this one (`loglens
//! standalone`), which saves the proto conversions and the HTTP/2 round
//! trip. Both give the same reply: the accepted count and one rejection per
//! refused record, by position in the records sent, or the error `Ingest`
//! would have answered.

use std::sync::Arc;

use async_trait::async_trait;
use loglens_core::RawLog;
use loglens_proto::ingest::ingest_service_client::IngestServiceClient;
use loglens_proto::ingest::{IngestRequest, IngestResponse, LogRecord};
use tonic::transport::Channel;

use crate::error::ApiError;
use crate::telemetry::{call, rpc};

/// The ingest service of this process, as the gateway calls it.
#[async_trait]
pub trait LocalIngest: Send + Sync + 'static {
    /// Validates, scores and delivers `records` exactly as
    /// `IngestService/Ingest` does (at most [`loglens_core::record::MAX_BATCH`]
    /// of them); returns (accepted, rejections by position in `records`).
    /// `traceparent` is the caller's W3C trace context, for sinks that carry
    /// it on when tracing is off.
    async fn ingest(
        &self,
        records: Vec<RawLog>,
        traceparent: Option<&str>,
    ) -> loglens_core::Result<(u32, Vec<loglens_core::Rejection>)>;
}

/// Where the gateway sends records to ingest.
#[derive(Clone)]
pub(crate) enum IngestPort {
    /// `IngestService/Ingest` in another process.
    Remote(IngestServiceClient<Channel>),
    /// The ingest service of this process.
    Local(Arc<dyn LocalIngest>),
}

impl IngestPort {
    /// Ingests `records` with the caller's `traceparent`; rejections are
    /// indexed by position in `records`, sorted.
    pub(crate) async fn ingest(
        &self,
        records: Vec<RawLog>,
        traceparent: Option<&str>,
    ) -> Result<IngestResponse, ApiError> {
        if records.is_empty() {
            return Ok(IngestResponse::default());
        }
        match self {
            IngestPort::Local(local) => {
                let (accepted, rejected) =
                    local.ingest(records, traceparent).await.map_err(|e| {
                        if e.code().http_status() >= 500 {
                            tracing::warn!(code = e.code().as_str(), error = %e, "ingest failed");
                        }
                        ApiError::from(e)
                    })?;
                Ok(IngestResponse {
                    accepted,
                    rejected: rejected.into_iter().map(Into::into).collect(),
                })
            }
            IngestPort::Remote(client) => remote(client.clone(), records, traceparent).await,
        }
    }
}

/// One `Ingest` call; records the proto cannot carry are rejected here.
async fn remote(
    mut client: IngestServiceClient<Channel>,
    records: Vec<RawLog>,
    traceparent: Option<&str>,
) -> Result<IngestResponse, ApiError> {
    let mut sent = Vec::with_capacity(records.len());
    let mut positions = Vec::with_capacity(records.len());
    let mut rejected = Vec::new();
    for (i, raw) in records.into_iter().enumerate() {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        match LogRecord::try_from(raw) {
            Ok(r) => {
                sent.push(r);
                positions.push(index);
            }
            Err(e) => rejected.push(loglens_core::Rejection::new(index, &e).into()),
        }
    }
    if sent.is_empty() {
        return Ok(IngestResponse { accepted: 0, rejected });
    }
    let mut request = tonic::Request::new(IngestRequest { records: sent });
    // The caller's W3C trace context travels on to ingest (and into Kafka):
    // as the gRPC client span's context, or as is when tracing is off.
    if let Some(tp) = traceparent
        && let Ok(v) = tonic::metadata::MetadataValue::try_from(tp)
    {
        request.metadata_mut().insert("traceparent", v);
    }
    let reply = call(rpc::INGEST, request, move |r| async move { client.ingest(r).await })
        .await?
        .into_inner();
    Ok(crate::convert::map_back(reply, &positions, rejected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use loglens_proto::ingest::Rejection;

    #[test]
    fn rejections_of_the_records_sent_map_back_to_their_positions() {
        let reply = IngestResponse {
            accepted: 1,
            rejected: vec![
                Rejection { index: 1, field: "message".into(), reason: "r1".into() },
                Rejection { index: 7, field: String::new(), reason: "bogus".into() },
            ],
        };
        let local = vec![Rejection { index: 1, field: "status_code".into(), reason: "big".into() }];
        let merged = crate::convert::map_back(reply, &[0, 2], local);
        let got: Vec<(u32, &str)> =
            merged.rejected.iter().map(|r| (r.index, r.reason.as_str())).collect();
        assert_eq!((merged.accepted, got), (1, vec![(1, "big"), (2, "r1")]));
    }
}
