//! The command line: one module per subcommand, each turning its arguments
//! into a [`crate::node::NodeConfig`] (or its own run) once.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};

pub mod args;
pub mod gateway;
pub mod generate;
pub mod ingest;
pub mod keys;
pub mod processor;
pub mod query;
pub mod standalone;

/// Real-time log analytics: ingest structured JSON logs, score anomalies,
/// search and aggregate them over gRPC and REST.
///
/// Start with `loglens standalone --demo`: everything in one process, with
/// simulated traffic, REST on http://127.0.0.1:8000 (docs at /docs) and gRPC
/// on 127.0.0.1:50051.
#[derive(Parser, Debug)]
#[command(version, propagate_version = true)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
    /// Log filter, e.g. `info`, `loglens=debug,tower_http=debug`.
    #[arg(long, global = true, env = "RUST_LOG", default_value = "info")]
    pub log: String,
    /// Where serving roles answer `GET /metrics` (Prometheus text); port 0
    /// picks a free port.
    #[arg(long, global = true, env = "LOGLENS_METRICS_ADDR", default_value = "127.0.0.1:9464")]
    pub metrics_addr: SocketAddr,
}

/// The roles. Every serving role is a preset of one composed node.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Everything in one process: ingest, index, query, stats and the REST
    /// gateway over one store (the embedded store in --data-dir by default,
    /// or Elasticsearch with --store). With --kafka, ingest goes through
    /// Kafka and an in-process processor indexes it.
    Standalone(standalone::StandaloneArgs),
    /// The gRPC query role: search, anomalies, tail and stats over the store.
    /// With --ingest it also takes records straight into the store
    /// (bypassing Kafka and its dead-letter topic).
    Query(query::QueryArgs),
    /// The REST gateway: transcodes the JSON routes to a gRPC endpoint.
    Gateway(gateway::GatewayArgs),
    /// Simulated microservice logs, sent to a target at a set rate.
    Generate(generate::GenerateArgs),
    /// The Kafka path's front door: the gRPC IngestService validates records
    /// and produces them to the raw topic, answering once Kafka acknowledged.
    Ingest(ingest::IngestArgs),
    /// Consumes the raw topic in a consumer group, indexes into the store,
    /// dead-letters bad records, commits offsets after indexing. With
    /// --serve it also answers queries over the same index.
    Processor(processor::ProcessorArgs),
    /// Benchmarks each speed figure beside a ceiling measured in the same
    /// run (parse, raw Tantivy vs the store, Kafka end to end vs raw
    /// rdkafka, time-to-search, queries, standalone peak RSS, index size,
    /// drop-in protocols beside native POST /logs) and prints a table and a
    /// JSON line. About 4.5 minutes with the defaults on 2 cores; see
    /// BENCHMARKS.md.
    Bench(loglens_bench::BenchArgs),
    /// API keys in the key file (--auth-file): create (prints the secret
    /// once), list, revoke. A running loglens reloads the file by itself.
    Keys(keys::KeysArgs),
}

impl Command {
    /// The role's name, for telemetry (`loglens-<role>`).
    pub fn role(&self) -> &'static str {
        match self {
            Command::Standalone(_) => "standalone",
            Command::Query(_) => "query",
            Command::Gateway(_) => "gateway",
            Command::Generate(_) => "generator",
            Command::Ingest(_) => "ingest",
            Command::Processor(_) => "processor",
            Command::Bench(_) => "bench",
            Command::Keys(_) => "keys",
        }
    }
}
