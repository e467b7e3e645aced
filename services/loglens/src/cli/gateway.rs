//! `loglens gateway`: the REST gateway alone.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use loglens_core::RuleSet;
use loglens_gateway::GatewayConfig;

use super::args::{AuthArgs, GrpcClientTlsArgs, IngestLimitArgs, TlsArgs, with_port};
use crate::node::{GatewayComponent, NodeConfig};

fn defaults() -> GatewayConfig {
    GatewayConfig::default()
}

/// Arguments of `loglens gateway`.
#[derive(Args, Debug)]
pub struct GatewayArgs {
    /// REST address (port 0 picks a free port).
    #[arg(long, env = "LOGLENS_HTTP_ADDR", default_value = "127.0.0.1:8000")]
    http_addr: SocketAddr,
    /// Overrides the port of --http-addr (the seed's variable name).
    #[arg(long, env = "API_PORT")]
    api_port: Option<u16>,
    /// The gRPC services to transcode to, http://HOST:PORT or
    /// https://HOST:PORT (see --grpc-ca).
    #[arg(long, env = "LOGLENS_GRPC_ENDPOINT", default_value_t = defaults().grpc_endpoint)]
    grpc_endpoint: String,
    /// Where POST /logs goes when `loglens ingest` runs apart; default: --grpc-endpoint.
    #[arg(long, env = "LOGLENS_INGEST_ENDPOINT")]
    ingest_endpoint: Option<String>,
    /// Largest accepted request body, bytes.
    #[arg(long, env = "LOGLENS_MAX_BODY_BYTES", default_value_t = defaults().max_body_bytes)]
    max_body_bytes: usize,
    #[command(flatten)]
    ingest_limit: IngestLimitArgs,
    /// Jaeger's UI, http(s)://HOST:PORT: the web UI links each trace_id there.
    #[arg(long, env = "LOGLENS_JAEGER_URL")]
    jaeger_url: Option<String>,
    /// Write {"http": "HOST:PORT"} here once serving.
    #[arg(long, env = "LOGLENS_READY_FILE")]
    ready_file: Option<PathBuf>,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    grpc_tls: GrpcClientTlsArgs,
}

impl GatewayArgs {
    /// Only the gateway, transcoding to --grpc-endpoint.
    pub fn into_config(self) -> anyhow::Result<NodeConfig> {
        Ok(NodeConfig {
            role: "gateway",
            rules: std::sync::Arc::new(RuleSet::default()),
            store: None,
            grpc_addr: None,
            ingest: None,
            query: false,
            processor: None,
            gateway: Some(GatewayComponent {
                addr: with_port(self.http_addr, self.api_port),
                config: GatewayConfig {
                    ingest_endpoint: self.ingest_endpoint,
                    grpc_tls: self.grpc_tls.files(),
                    max_body_bytes: self.max_body_bytes,
                    jaeger_url: self.jaeger_url,
                    ..GatewayConfig::default()
                },
                grpc_endpoint: Some(self.grpc_endpoint),
            }),
            syslog: None,
            demo_rate: None,
            banner: false,
            ready_file: self.ready_file,
            auth: self.auth.settings(),
            tls: self.tls.files()?,
            max_inflight_ingest_bytes: self.ingest_limit.bytes(),
        })
    }
}
