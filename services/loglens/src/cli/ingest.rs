//! `loglens ingest`: the Kafka path's front door.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::args::{AuthArgs, IngestLimitArgs, KafkaArgs, RuleArgs, TlsArgs};
use crate::node::{IngestTo, NodeConfig};

/// Arguments of `loglens ingest`.
#[derive(Args, Debug)]
pub struct IngestArgs {
    /// gRPC address (port 0 picks a free port).
    #[arg(long, env = "LOGLENS_GRPC_ADDR", default_value = "127.0.0.1:50052")]
    grpc_addr: SocketAddr,
    /// Kafka brokers, HOST:PORT[,HOST:PORT...].
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    kafka: String,
    #[command(flatten)]
    kafka_args: KafkaArgs,
    #[command(flatten)]
    rules: RuleArgs,
    /// Receive syslog (RFC 5424 and RFC 3164) over UDP and TCP on this
    /// address, HOST:PORT (port 0 picks a free port); off unless given.
    #[arg(long, env = "LOGLENS_SYSLOG_ADDR")]
    syslog_addr: Option<SocketAddr>,
    #[command(flatten)]
    ingest_limit: IngestLimitArgs,
    /// Write {"grpc": "HOST:PORT"} here once serving (and "syslog" with --syslog-addr).
    #[arg(long, env = "LOGLENS_READY_FILE")]
    ready_file: Option<PathBuf>,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    tls: TlsArgs,
}

impl IngestArgs {
    /// gRPC ingest into the raw topic; no store.
    pub fn into_config(self) -> anyhow::Result<NodeConfig> {
        Ok(NodeConfig {
            role: "ingest",
            rules: self.rules.load()?,
            store: None,
            grpc_addr: Some(self.grpc_addr),
            ingest: Some(IngestTo::Kafka(self.kafka_args.options(&self.kafka))),
            query: false,
            processor: None,
            gateway: None,
            syslog: self.syslog_addr,
            demo_rate: None,
            banner: false,
            ready_file: self.ready_file,
            auth: self.auth.settings(),
            tls: self.tls.files()?,
            max_inflight_ingest_bytes: self.ingest_limit.bytes(),
        })
    }
}
