//! The fake gRPC backend the gateway's tests drive `app()` against, on
//! 127.0.0.1:0: it records what it receives and answers canned data or
//! errors.
//!
//! The fake picks its answer from the request: `service_name` (or the first
//! record's `service_name` for Ingest) `bad` -> INVALID_ARGUMENT with field
//! metadata, `busy` -> RESOURCE_EXHAUSTED with `retry-after: 7`,
//! `busy-nohint` -> the same without metadata, `down` -> UNAVAILABLE, `boom`
//! -> INTERNAL, `slow` -> answers after 10 s. Ingest rejects records whose
//! message is `reject-me`.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use loglens_gateway::{GatewayConfig, app};
use loglens_proto::ingest::ingest_service_server::{IngestService, IngestServiceServer};
use loglens_proto::ingest::{IngestRequest, IngestResponse, Rejection};
use loglens_proto::query::query_service_server::{QueryService, QueryServiceServer};
use loglens_proto::query::{
    GetAnomaliesRequest, LogEntry, SearchRequest, SearchResponse, TailRequest,
};
use loglens_proto::stats::stats_service_server::{StatsService, StatsServiceServer};
use loglens_proto::stats::{
    GetLedgerRequest, GetLedgerResponse, GetStatsRequest, GetStatsResponse, HistogramBucket,
    Percentiles,
};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::Status;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::ServiceExt;

/// What the fake backend received.
#[derive(Default)]
pub struct Recorded {
    pub search: Vec<SearchRequest>,
    pub anomalies: Vec<GetAnomaliesRequest>,
    pub stats: Vec<GetStatsRequest>,
    pub ingest: Vec<IngestRequest>,
}

impl Recorded {
    pub fn calls(&self) -> usize {
        self.search.len() + self.anomalies.len() + self.stats.len() + self.ingest.len()
    }
}

#[derive(Clone, Default)]
pub struct Fake(Arc<Mutex<Recorded>>);

async fn canned_error(service_name: Option<&str>) -> Result<(), Status> {
    let mut status = match service_name {
        Some("bad") => Status::invalid_argument("page is too deep; use cursor"),
        Some("busy") => Status::resource_exhausted("too many queries"),
        Some("busy-nohint") => Status::resource_exhausted("too many queries"),
        Some("down") => Status::unavailable("store is down"),
        Some("boom") => Status::internal("bug"),
        Some("slow") => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            return Ok(());
        }
        _ => return Ok(()),
    };
    match service_name {
        Some("bad") => {
            status.metadata_mut().insert("loglens-field", "page".parse().unwrap());
        }
        Some("busy") => {
            status.metadata_mut().insert("retry-after", "7".parse().unwrap());
        }
        _ => {}
    }
    Err(status)
}

pub fn entry() -> LogEntry {
    LogEntry {
        id: "0123456789abcdef0123456789abcdef".into(),
        timestamp: 1_714_564_800_000,
        service_name: "auth-service".into(),
        level: "ERROR".into(),
        message: "connection refused".into(),
        status_code: Some(503),
        request_id: Some("req-1".into()),
        response_time_ms: Some(1234.5),
        tags: vec!["eu".into()],
        anomaly: true,
        severity_score: 80,
        anomaly_reasons: vec!["error_level".into(), "http_status".into()],
        ingested_at: 1_714_564_800_100,
        ..LogEntry::default()
    }
}

fn page(total: u64, page: u32, size: u32, cursor: &str) -> SearchResponse {
    SearchResponse {
        total,
        page,
        size,
        logs: vec![entry()],
        next_cursor: if cursor.is_empty() { "cursor-2".into() } else { String::new() },
    }
}

#[tonic::async_trait]
impl QueryService for Fake {
    async fn search(
        &self,
        r: tonic::Request<SearchRequest>,
    ) -> Result<tonic::Response<SearchResponse>, Status> {
        let r = r.into_inner();
        self.0.lock().unwrap().search.push(r.clone());
        canned_error(r.filter.as_ref().and_then(|f| f.service_name.as_deref())).await?;
        Ok(tonic::Response::new(page(42, r.page, r.size, &r.cursor)))
    }

    async fn get_anomalies(
        &self,
        r: tonic::Request<GetAnomaliesRequest>,
    ) -> Result<tonic::Response<SearchResponse>, Status> {
        let r = r.into_inner();
        self.0.lock().unwrap().anomalies.push(r.clone());
        canned_error(r.filter.as_ref().and_then(|f| f.service_name.as_deref())).await?;
        Ok(tonic::Response::new(page(7, r.page, r.size, &r.cursor)))
    }

    type TailStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<LogEntry, Status>> + Send>>;

    /// Without `resume_after`: three copies of [`entry`] 200 ms apart, at
    /// positions `fake-0-0..2`, then RESOURCE_EXHAUSTED (the client was too
    /// slow). With it: OUT_OF_RANGE (the position is gone).
    async fn tail(
        &self,
        r: tonic::Request<TailRequest>,
    ) -> Result<tonic::Response<Self::TailStream>, Status> {
        let r = r.into_inner();
        canned_error(r.filter.as_ref().and_then(|f| f.service_name.as_deref())).await?;
        if !r.resume_after.is_empty() {
            return Err(Status::out_of_range(format!("resume point {} is gone", r.resume_after)));
        }
        let entries =
            (0..3).map(|i| Ok(LogEntry { tail_position: format!("fake-0-{i}"), ..entry() }));
        let end = std::iter::once(Err(Status::resource_exhausted("tail client too slow")));
        let stream =
            futures::StreamExt::then(futures::stream::iter(entries.chain(end)), |x| async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                x
            });
        Ok(tonic::Response::new(Box::pin(stream)))
    }
}

#[tonic::async_trait]
impl StatsService for Fake {
    async fn get_stats(
        &self,
        r: tonic::Request<GetStatsRequest>,
    ) -> Result<tonic::Response<GetStatsResponse>, Status> {
        let r = r.into_inner();
        self.0.lock().unwrap().stats.push(r.clone());
        let service = r.filter.as_ref().and_then(|f| f.service_name.as_deref());
        canned_error(r.service_name.as_deref().or(service)).await?;
        // Always filled in: the gateway must drop what was not asked for.
        Ok(tonic::Response::new(GetStatsResponse {
            total_logs: 10,
            services: [("auth-service".to_owned(), 6), ("api".to_owned(), 4)].into(),
            levels: [("INFO".to_owned(), 8), ("ERROR".to_owned(), 2)].into(),
            anomaly_count: 3,
            error_count: 2,
            histogram: vec![HistogramBucket {
                start: 1_714_564_800_000,
                count: 10,
                anomaly_count: 3,
                error_count: 2,
                levels: [("INFO".to_owned(), 8), ("ERROR".to_owned(), 2)].into(),
            }],
            response_time_percentiles: [(
                "api".to_owned(),
                Percentiles { p50: 10.0, p95: 95.5, p99: 120.0, count: 4 },
            )]
            .into(),
        }))
    }

    async fn get_ledger(
        &self,
        _: tonic::Request<GetLedgerRequest>,
    ) -> Result<tonic::Response<GetLedgerResponse>, Status> {
        Ok(tonic::Response::new(GetLedgerResponse {
            mode: "kafka".into(),
            received: 3,
            indexed: 2,
            dead_lettered: 1,
            ..Default::default()
        }))
    }
}

#[tonic::async_trait]
impl IngestService for Fake {
    async fn ingest(
        &self,
        r: tonic::Request<IngestRequest>,
    ) -> Result<tonic::Response<IngestResponse>, Status> {
        let r = r.into_inner();
        self.0.lock().unwrap().ingest.push(r.clone());
        canned_error(r.records.first().map(|x| x.service_name.as_str())).await?;
        let rejected: Vec<Rejection> = r
            .records
            .iter()
            .enumerate()
            .filter(|(_, x)| x.message == "reject-me")
            .map(|(i, _)| Rejection {
                index: i as u32,
                field: "message".into(),
                reason: "message is rejected".into(),
            })
            .collect();
        Ok(tonic::Response::new(IngestResponse {
            accepted: (r.records.len() - rejected.len()) as u32,
            rejected,
        }))
    }

    async fn ingest_stream(
        &self,
        _: tonic::Request<tonic::Streaming<IngestRequest>>,
    ) -> Result<tonic::Response<IngestResponse>, Status> {
        Err(Status::unimplemented("not used by the gateway"))
    }
}

/// A running fake backend; stopped on drop through its shutdown channel.
pub struct Backend {
    pub fake: Fake,
    pub health: HealthReporter,
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl Backend {
    pub async fn start() -> Backend {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = Fake::default();
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_service_status("loglens.store", ServingStatus::Serving).await;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(QueryServiceServer::new(fake.clone()))
            .add_service(StatsServiceServer::new(fake.clone()))
            .add_service(IngestServiceServer::new(fake.clone()))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                stopped.await.ok();
            });
        tokio::spawn(server);
        Backend { fake, health, addr, _stop: stop }
    }

    pub fn app(&self) -> Router {
        self.app_with(|_| {})
    }

    pub fn app_with(&self, edit: impl FnOnce(&mut GatewayConfig)) -> Router {
        let mut cfg = GatewayConfig {
            grpc_endpoint: format!("http://{}", self.addr),
            ..GatewayConfig::default()
        };
        edit(&mut cfg);
        app(&cfg).unwrap()
    }

    pub fn recorded(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.fake.0.lock().unwrap()
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: header::HeaderName) -> &str {
        self.headers.get(&name).map_or("", |v| v.to_str().unwrap())
    }
}

pub async fn send(app: &Router, req: Request<Body>) -> Reply {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Reply { status, headers, body }
}
