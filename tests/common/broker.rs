//! A real Kafka-protocol broker (nisshi) for the end-to-end tests: one process
//! per test on a free 127.0.0.1 port, with in-memory or SQLite storage, that
//! can be stopped, SIGKILLed and restarted on the same port and storage.
//!
//! The binary comes from `LOGLENS_NISSHI` (set by `scripts/test`, which
//! installs it), else `nisshi` on PATH. Tests never skip: without the binary
//! they panic. The broker's stdout/stderr go to a log file, shown (its tail)
//! when the broker fails to start.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long `start`/`restart` wait for the broker to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `stop` waits after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The line nisshi prints on stdout once its listener is bound.
const READY_LINE: &str = "ready in ";

/// Where the broker keeps its data.
#[derive(Clone, Debug)]
pub enum Storage {
    /// `memory://`: fast, lost when the process ends. Its high watermark from
    /// ListOffsets is wrong (see shared notes): measure lag with `Sqlite`.
    Memory,
    /// `sqlite://`: `broker.db` inside this directory (created if missing);
    /// survives stop, SIGKILL and restart.
    Sqlite(PathBuf),
}

/// A running nisshi broker; killed when dropped.
pub struct Broker {
    child: Option<Child>,
    port: u16,
    storage: Storage,
    /// Holds the log file and the working directory of a memory broker.
    scratch: tempfile::TempDir,
    log: PathBuf,
}

/// The nisshi binary: `$LOGLENS_NISSHI`, else `nisshi` on PATH.
pub fn nisshi_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("LOGLENS_NISSHI").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "LOGLENS_NISSHI={} is not a file: rerun scripts/test, which installs nisshi",
            path.display()
        );
        return path;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("nisshi"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("nisshi not found: run the suite through scripts/test, which installs it")
        })
}

impl Broker {
    /// Starts a broker on a free 127.0.0.1 port and waits until it accepts
    /// connections; panics with the broker's log tail if it does not.
    pub fn start(storage: Storage) -> Broker {
        let scratch =
            tempfile::Builder::new().prefix("nisshi-").tempdir().expect("temp dir for nisshi");
        let log = scratch.path().join("broker.log");
        let mut broker = Broker { child: None, port: 0, storage, scratch, log };
        // The port is free when we pick it but another test can grab it before
        // nisshi binds it: retry with a fresh port in that case.
        for attempt in 1.. {
            broker.port = free_port();
            match broker.spawn() {
                Ok(()) => return broker,
                Err(tail) if attempt < 5 && tail.contains("AddrInUse") => continue,
                Err(tail) => panic!("nisshi broker did not start on port {}:\n{tail}", broker.port),
            }
        }
        unreachable!()
    }

    /// The Kafka bootstrap address, `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The Kafka port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's combined stdout/stderr (all runs of this `Broker`).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last lines of the broker's log, for assertion messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log, 0)
    }

    /// Graceful stop: SIGTERM, then SIGKILL if still running after 10 s.
    /// nisshi gives in-flight work up to 5 s and exits 0. No-op if stopped.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if child.try_wait().expect("try_wait nisshi").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGKILL: no chance to flush anything. No-op if stopped.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port and storage (stopping it
    /// gracefully first if it is still running) and waits until it is ready.
    pub fn restart(&mut self) {
        self.stop();
        // After SIGKILL the port can take a moment to be free again.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(tail) if tail.contains("AddrInUse") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200))
                }
                Err(tail) => panic!("nisshi broker did not restart on port {}:\n{tail}", self.port),
            }
        }
    }

    /// Launches nisshi on `self.port` and waits for it; on failure returns the
    /// log tail of this run (the child is killed).
    fn spawn(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "nisshi already running");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        // nisshi resolves a sqlite URL's path against its working directory
        // (even `sqlite:///abs/path` becomes `$PWD/abs/path`), so run it in the
        // storage directory and name the file relative to it.
        let (workdir, engine) = match &self.storage {
            Storage::Memory => (self.scratch.path().to_path_buf(), "memory://nisshi/".to_owned()),
            Storage::Sqlite(dir) => {
                std::fs::create_dir_all(dir)
                    .unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
                (dir.clone(), "sqlite:///broker.db".to_owned())
            }
        };
        let mut out =
            OpenOptions::new().create(true).append(true).open(&self.log).expect("open nisshi log");
        let offset = out.seek(SeekFrom::End(0)).expect("seek nisshi log");
        let err = out.try_clone().expect("clone nisshi log");
        let mut child = Command::new(nisshi_bin())
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", &engine])
            .current_dir(&workdir)
            // Flags win over these, but keep stray settings (also from a
            // `.env`, which nisshi loads) out of the test broker.
            .env_remove("SCHEMA_REGISTRY")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("CLUSTER_ID")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", nisshi_bin().display()));

        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait nisshi") {
                return Err(format!(
                    "nisshi exited with {status}; log tail:\n{}",
                    tail(&self.log, offset)
                ));
            }
            // The ready line is printed right after the listener is bound.
            if log_since(&self.log, offset).contains(READY_LINE)
                && TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
            {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "nisshi not ready after {} s; log tail:\n{}",
                    READY_TIMEOUT.as_secs(),
                    tail(&self.log, offset)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// The log's text from byte `offset` on (lossy).
fn log_since(log: &Path, offset: u64) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut f) = File::open(log) {
        let _ = f.seek(SeekFrom::Start(offset));
        let _ = f.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The last 40 lines of the log from byte `offset` on.
fn tail(log: &Path, offset: u64) -> String {
    let text = log_since(log, offset);
    let lines: Vec<&str> = text.lines().collect();
    let body = lines[lines.len().saturating_sub(40)..].join("\n");
    format!("--- {} ---\n{body}", log.display())
}
