//! `loglens query`: the gRPC query role over a store.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::args::{AuthArgs, RuleArgs, StoreArgs, TlsArgs};
use crate::node::{IngestTo, NodeConfig};

/// Arguments of `loglens query`.
#[derive(Args, Debug)]
pub struct QueryArgs {
    /// gRPC address (port 0 picks a free port).
    #[arg(long, env = "LOGLENS_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    grpc_addr: SocketAddr,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    rules: RuleArgs,
    /// Also serve IngestService straight into the store. Off by default: on
    /// the Kafka path records go through `loglens ingest`, so that bad ones
    /// reach the dead-letter topic.
    #[arg(long, env = "LOGLENS_QUERY_INGEST")]
    ingest: bool,
    /// Write {"grpc": "HOST:PORT"} here once serving.
    #[arg(long, env = "LOGLENS_READY_FILE")]
    ready_file: Option<PathBuf>,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    tls: TlsArgs,
}

impl QueryArgs {
    /// Query and stats over the store; direct ingest only with --ingest.
    pub fn into_config(self) -> anyhow::Result<NodeConfig> {
        Ok(NodeConfig {
            role: "query",
            rules: self.rules.load()?,
            store: Some(self.store.config()?),
            grpc_addr: Some(self.grpc_addr),
            ingest: self.ingest.then_some(IngestTo::Store),
            query: true,
            processor: None,
            gateway: None,
            syslog: None,
            demo_rate: None,
            banner: false,
            ready_file: self.ready_file,
            auth: self.auth.settings(),
            tls: self.tls.files()?,
            max_inflight_ingest_bytes: loglens_core::budget::DEFAULT_MAX_INFLIGHT_BYTES,
        })
    }
}
