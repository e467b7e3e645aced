//! `loglens ingest`: the Kafka path's front door.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::args::{KafkaArgs, RuleArgs};
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
    /// Write {"grpc": "HOST:PORT"} here once serving.
    #[arg(long, env = "LOGLENS_READY_FILE")]
    ready_file: Option<PathBuf>,
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
            demo_rate: None,
            banner: false,
            ready_file: self.ready_file,
        })
    }
}
