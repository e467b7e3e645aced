//! `loglens standalone`: every component in one process.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use loglens_gateway::GatewayConfig;

use super::args::{
    AuthArgs, ConsumeArgs, IngestLimitArgs, KafkaArgs, RuleArgs, StoreArgs, TlsArgs, with_port,
};
use crate::node::{GatewayComponent, IngestTo, NodeConfig};

/// Arguments of `loglens standalone`.
#[derive(Args, Debug)]
pub struct StandaloneArgs {
    /// gRPC address (port 0 picks a free port).
    #[arg(long, env = "LOGLENS_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    grpc_addr: SocketAddr,
    /// REST gateway address (port 0 picks a free port).
    #[arg(long, env = "LOGLENS_HTTP_ADDR", default_value = "127.0.0.1:8000")]
    http_addr: SocketAddr,
    /// Overrides the port of --http-addr (the seed's variable name).
    #[arg(long, env = "API_PORT")]
    api_port: Option<u16>,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    rules: RuleArgs,
    /// Run the Kafka path in-process: ingest produces to these brokers
    /// (HOST:PORT) and a processor indexes from them. Without it, ingest
    /// writes straight into the store.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    kafka: Option<String>,
    #[command(flatten)]
    kafka_args: KafkaArgs,
    #[command(flatten)]
    consume: ConsumeArgs,
    /// Also run the generator in-process, so there is live data to look at.
    #[arg(long, env = "LOGLENS_DEMO")]
    demo: bool,
    /// Records per second the demo generator sends.
    #[arg(long, env = "LOGLENS_DEMO_RATE", default_value_t = 200)]
    demo_rate: u64,
    /// Receive syslog (RFC 5424 and RFC 3164) over UDP and TCP on this
    /// address, HOST:PORT (port 0 picks a free port); off unless given.
    #[arg(long, env = "LOGLENS_SYSLOG_ADDR")]
    syslog_addr: Option<SocketAddr>,
    #[command(flatten)]
    ingest_limit: IngestLimitArgs,
    /// Jaeger's UI, http(s)://HOST:PORT: the web UI links each trace_id there.
    #[arg(long, env = "LOGLENS_JAEGER_URL")]
    jaeger_url: Option<String>,
    /// Write {"grpc": "HOST:PORT", "http": "HOST:PORT"} here once serving (and "syslog" with --syslog-addr).
    #[arg(long, env = "LOGLENS_READY_FILE")]
    ready_file: Option<PathBuf>,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    tls: TlsArgs,
}

impl StandaloneArgs {
    /// All components: gRPC ingest/query, the gateway, the store, and with
    /// --kafka the Kafka sink plus an in-process processor.
    pub fn into_config(self) -> anyhow::Result<NodeConfig> {
        let rules = self.rules.load()?;
        let (ingest, processor) = match &self.kafka {
            Some(bootstrap) => {
                let kafka = self.kafka_args.options(bootstrap);
                let processor = self.consume.config(kafka.clone(), rules.clone())?;
                (IngestTo::Kafka(kafka), Some(processor))
            }
            None => (IngestTo::Store, None),
        };
        Ok(NodeConfig {
            role: "standalone",
            rules,
            store: Some(self.store.config()?),
            grpc_addr: Some(self.grpc_addr),
            ingest: Some(ingest),
            query: true,
            processor,
            gateway: Some(GatewayComponent {
                addr: with_port(self.http_addr, self.api_port),
                config: GatewayConfig { jaeger_url: self.jaeger_url, ..GatewayConfig::default() },
                grpc_endpoint: None,
            }),
            syslog: self.syslog_addr,
            demo_rate: self.demo.then_some(self.demo_rate),
            banner: true,
            ready_file: self.ready_file,
            auth: self.auth.settings(),
            tls: self.tls.files()?,
            max_inflight_ingest_bytes: self.ingest_limit.bytes(),
        })
    }
}
