//! Figure 7: peak memory of `loglens standalone` while the generator sends
//! it records over gRPC at a steady rate (batches of 1,000, 4 in flight).
//! The standalone process is this same binary, started on free ports with a
//! data directory of its own; its peak resident set is the kernel's
//! high-water mark (`VmHWM`), read just before it is stopped. The generator
//! runs in the benchmark's process, on the same cores.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use loglens_generator::{GrpcTarget, RunConfig};

use crate::{StoreKind, bar};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// What figure 7 measured.
pub(crate) struct RssRun {
    /// `VmHWM` of standalone at the end, bytes.
    pub peak_bytes: u64,
    /// Anonymous and file-backed parts of the resident set at the end.
    pub anon_bytes: u64,
    pub file_bytes: u64,
    /// Records standalone accepted, and per second.
    pub accepted: u64,
    pub achieved: f64,
}

/// A field of `/proc/PID/status` in bytes (the kernel writes kB).
fn status_bytes(pid: u32, field: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status (figure 7 needs Linux)"))?;
    let kb = text
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    Ok(kb * 1024)
}

/// Kills the child unless it was stopped cleanly.
pub(crate) struct Standalone(Child);

impl Standalone {
    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts this binary's `standalone` on free ports with `extra` arguments and
/// its data in `dir/data`; returns it once its ready file is written, with
/// the ready file's addresses (`grpc`, `http`, `syslog`).
pub(crate) async fn start(dir: &Path, extra: &[&str]) -> Result<(Standalone, serde_json::Value)> {
    std::fs::create_dir_all(dir)?;
    // LOGLENS_BENCH_SERVER_BIN runs another build's standalone (before/after).
    let exe = match std::env::var_os("LOGLENS_BENCH_SERVER_BIN") {
        Some(bin) => std::path::PathBuf::from(bin),
        None => std::env::current_exe().context("where is the loglens binary?")?,
    };
    let ready = dir.join("ready.json");
    let log = File::create(dir.join("standalone.log"))?;
    let data = dir.join("data");
    let child = Command::new(&exe)
        .args([
            "standalone",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data)
        .arg("--ready-file")
        .arg(&ready)
        .args(extra)
        .env("LOGLENS_METRICS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("LOGLENS_STORE")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {} standalone", exe.display()))?;
    let mut child = Standalone(child);
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(text) = std::fs::read_to_string(&ready)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && v["grpc"].is_string()
        {
            return Ok((child, v));
        }
        if let Some(status) = child.0.try_wait()? {
            bail!(
                "standalone exited ({status}) before it was ready; see {}",
                dir.join("standalone.log").display()
            );
        }
        ensure!(Instant::now() < deadline, "standalone was not ready in 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A clean stop: SIGTERM, then wait for the final commit.
pub(crate) async fn stop(mut child: Standalone) -> Result<()> {
    let pid = child.0.id();
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let deadline = Instant::now() + STOP_TIMEOUT;
    while child.0.try_wait()?.is_none() {
        ensure!(Instant::now() < deadline, "standalone did not stop within 60 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Starts standalone in `dir`, drives it at `rate` for `duration`.
pub(crate) async fn run(
    dir: &Path,
    kind: StoreKind,
    seed: u64,
    rate: u64,
    duration: Duration,
) -> Result<RssRun> {
    let store = kind.url(&dir.join("data"))?;
    let (child, ready) = start(dir, &["--store", &store]).await?;
    let pid = child.0.id();
    let grpc = ready["grpc"].as_str().context("no grpc address in the ready file")?.to_owned();

    let pb = bar(duration.as_secs() as usize, "7 standalone peak RSS");
    let ticker = {
        let pb = pb.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                pb.inc(1);
            }
        })
    };
    let cfg = RunConfig {
        rate,
        count: None,
        duration: Some(duration),
        batch_size: 1000,
        flush_interval: Duration::from_millis(200),
        seed: Some(seed),
        concurrency: 4,
        progress: false,
    };
    let report = loglens_generator::run(
        cfg,
        GrpcTarget::new(&format!("grpc://{grpc}"))?,
        std::future::pending(),
    )
    .await;
    ticker.abort();
    pb.finish_and_clear();
    let report = report.context("the generator could not feed standalone")?;
    let run = RssRun {
        peak_bytes: status_bytes(pid, "VmHWM")?,
        anon_bytes: status_bytes(pid, "RssAnon")?,
        file_bytes: status_bytes(pid, "RssFile")?,
        accepted: report.accepted,
        achieved: report.rate(),
    };
    ensure!(report.rejected == 0, "standalone rejected {} generated records", report.rejected);
    stop(child).await?;
    Ok(run)
}
