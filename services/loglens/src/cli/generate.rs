//! `loglens generate`: simulated traffic to a target (a client, not a node).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use loglens_generator::RunConfig;

fn defaults() -> RunConfig {
    RunConfig::default()
}

/// Arguments of `loglens generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Where to send: grpc://HOST:PORT, grpcs://HOST:PORT (TLS; see --ca)
    /// or kafka://HOST:PORT/TOPIC.
    #[arg(long, env = "LOGLENS_TARGET", default_value = "grpc://127.0.0.1:50051")]
    target: String,
    /// Records per second; 0 sends as fast as the target accepts.
    #[arg(long, env = "LOG_RATE", default_value_t = defaults().rate)]
    rate: u64,
    /// Stop after this many records.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this long, e.g. 30s, 5m.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Records per request (1-10000).
    #[arg(long, env = "LOG_BATCH_SIZE", default_value_t = defaults().batch_size as u64,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    batch_size: u64,
    /// Send a partial batch after this many ms.
    #[arg(long, env = "LOG_FLUSH_INTERVAL_MS",
          default_value_t = defaults().flush_interval.as_millis() as u64)]
    flush_interval_ms: u64,
    /// Seed for reproducible records.
    #[arg(long)]
    seed: Option<u64>,
    /// Requests in flight at once (1-64).
    #[arg(long, default_value_t = defaults().concurrency as u64,
          value_parser = clap::value_parser!(u64).range(1..=64))]
    concurrency: u64,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
    /// PEM CA certificates to trust for a grpcs:// target instead of the
    /// system's roots (a private CA).
    #[arg(long, env = "LOGLENS_GRPC_CA")]
    ca: Option<PathBuf>,
    /// PEM client certificate for a grpcs:// target that asks for one
    /// (--tls-client-ca); needs --client-key.
    #[arg(long, env = "LOGLENS_GRPC_CLIENT_CERT")]
    client_cert: Option<PathBuf>,
    /// The PEM private key of --client-cert.
    #[arg(long, env = "LOGLENS_GRPC_CLIENT_KEY")]
    client_key: Option<PathBuf>,
}

impl GenerateArgs {
    /// Sends until --count, --duration or `stop`, then prints a JSON report.
    pub async fn run(self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let tls = loglens_tls::ClientTlsFiles {
            ca: self.ca,
            cert: self.client_cert,
            key: self.client_key,
        };
        let target = loglens_generator::Target::parse_with(&self.target, &tls)?;
        let cfg = RunConfig {
            rate: self.rate,
            count: self.count,
            duration: self.duration,
            batch_size: self.batch_size as usize,
            flush_interval: Duration::from_millis(self.flush_interval_ms),
            seed: self.seed,
            concurrency: self.concurrency as usize,
            progress: !self.no_progress,
        };
        if cfg.count.is_none() && cfg.duration.is_none() {
            eprintln!("generating until interrupted (Ctrl-C); --count or --duration stop earlier");
        }
        let report = loglens_generator::run(cfg, target, stop).await?;
        println!(
            "{}",
            serde_json::json!({
                "sent": report.sent,
                "accepted": report.accepted,
                "rejected": report.rejected,
                "elapsed_s": report.elapsed.as_secs_f64(),
                "records_per_s": report.rate().round(),
            })
        );
        Ok(())
    }
}
