//! `loglens`: real-time log analytics, one binary whose serving roles are
//! presets of one composed node ([`node`]); the arguments of each
//! subcommand live in [`cli`].

use anyhow::Context;
use clap::Parser;

mod cli;
mod grpc;
mod grpc_auth;
mod node;
mod obs;
mod syslog;

use cli::{Cli, Command};

/// mimalloc instead of glibc malloc: allocation and freeing were about a
/// fifth of the CPU of indexing a record (issue 13's profile); mimalloc's
/// per-thread free lists cut that (figures in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Turns transparent huge pages off for this process. mimalloc asks for
/// them on its arenas, and the kernel then zeroes 2 MiB for a page the
/// allocator touches again after giving it back: about 15% of the
/// server's CPU samples during an HTTP ingest (perf: `clear_page_erms`
/// under mimalloc's page faults). With 4 KiB pages the same ingest took
/// 5-8% less CPU per record and a 12% lower peak RSS (BENCHMARKS.md).
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        // Only costs CPU: say so and go on.
        eprintln!("loglens: cannot turn transparent huge pages off ({e}); going on with them");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    no_huge_pages();
    let cli = Cli::parse();
    let role = cli.command.role();
    // The benchmark's own roles would log over its progress bars (and
    // `keys` prints for people): warnings only, unless asked.
    let log = if matches!(role, "bench" | "keys")
        && std::env::var_os("RUST_LOG").is_none()
        && cli.log == "info"
    {
        "warn".to_owned()
    } else {
        cli.log.clone()
    };
    let telemetry =
        loglens_telemetry::init(&log, &format!("loglens-{role}")).context("--log / RUST_LOG")?;
    let result = match cli.command {
        Command::Generate(a) => a.run(shutdown_signal()).await,
        Command::Bench(a) => loglens_bench::run(a).await,
        Command::Keys(a) => a.run(),
        serving => {
            let config = match serving {
                Command::Standalone(a) => a.into_config(),
                Command::Query(a) => a.into_config(),
                Command::Gateway(a) => a.into_config(),
                Command::Ingest(a) => a.into_config(),
                Command::Processor(a) => a.into_config(),
                Command::Generate(_) | Command::Bench(_) | Command::Keys(_) => {
                    unreachable!("matched above")
                }
            };
            match config {
                Ok(config) => match obs::start_metrics(cli.metrics_addr).await {
                    Ok(_) => node::run(config, shutdown_signal()).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        }
    };
    // Send the last spans; on error too.
    telemetry.shutdown().await;
    result
}
