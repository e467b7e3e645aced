//! `loglens processor`: consumes the raw topic and indexes it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::args::{AuthArgs, ConsumeArgs, KafkaArgs, RuleArgs, StoreArgs, TlsArgs};
use crate::node::NodeConfig;

/// Arguments of `loglens processor`.
#[derive(Args, Debug)]
pub struct ProcessorArgs {
    /// Kafka brokers, HOST:PORT[,HOST:PORT...].
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    kafka: String,
    #[command(flatten)]
    kafka_args: KafkaArgs,
    #[command(flatten)]
    consume: ConsumeArgs,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    rules: RuleArgs,
    /// Also serve gRPC query, stats and the ledger over this processor's index
    /// (the embedded store can only be opened by one process).
    #[arg(long, env = "LOGLENS_SERVE")]
    serve: bool,
    /// gRPC address with --serve (port 0 picks a free port).
    #[arg(long, env = "LOGLENS_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    grpc_addr: SocketAddr,
    /// Write {"grpc": "HOST:PORT"} (with --serve) here once consuming.
    #[arg(long, env = "LOGLENS_READY_FILE")]
    ready_file: Option<PathBuf>,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    tls: TlsArgs,
}

impl ProcessorArgs {
    /// The processor over the store; query services only with --serve.
    pub fn into_config(self) -> anyhow::Result<NodeConfig> {
        let rules = self.rules.load()?;
        let kafka = self.kafka_args.options(&self.kafka);
        Ok(NodeConfig {
            role: "processor",
            processor: Some(self.consume.config(kafka, rules.clone())?),
            rules,
            store: Some(self.store.config()?),
            grpc_addr: self.serve.then_some(self.grpc_addr),
            ingest: None,
            query: self.serve,
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
