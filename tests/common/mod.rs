//! Helpers for the end-to-end tests: run the real `loglens` binary on
//! 127.0.0.1:0 with a fresh data directory, wait for it to serve, talk to it
//! through real gRPC and HTTP clients, and stop it (gracefully or by SIGKILL).

#![allow(dead_code)]

pub mod broker;
pub mod sse;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use loglens_proto::ingest::ingest_service_client::IngestServiceClient;
use loglens_proto::query::query_service_client::QueryServiceClient;
use loglens_proto::stats::stats_service_client::StatsServiceClient;
use tonic::transport::Channel;

/// The binary under test.
pub fn loglens_bin() -> &'static str {
    env!("CARGO_BIN_EXE_loglens")
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// A running `loglens <role>` started with `--ready-file`; the ready file's
/// JSON (bound addresses) is in `ready`.
pub struct Role {
    child: Option<Child>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    ready_path: PathBuf,
    /// Where stderr goes (appended across restarts); inherited when `None`.
    log_path: Option<PathBuf>,
    /// The ready file's content.
    pub ready: serde_json::Value,
}

impl Role {
    /// Starts `loglens ARGS --ready-file DIR/NAME.json` and waits for it.
    pub fn start(dir: &Path, name: &str, args: &[&str]) -> Role {
        Role::start_env(dir, name, args, &[])
    }

    /// [`Role::start`] with extra environment variables (e.g. `OTEL_*`).
    pub fn start_env(dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Role {
        let mut r = Role {
            child: None,
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ready_path: dir.join(format!("{name}.ready.json")),
            log_path: None,
            ready: serde_json::Value::Null,
        };
        r.spawn();
        r
    }

    /// [`Role::start_env`] with stderr appended to `DIR/NAME.log` (see
    /// [`Role::log`]).
    pub fn start_logged(dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Role {
        let mut r = Role {
            child: None,
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ready_path: dir.join(format!("{name}.ready.json")),
            log_path: Some(dir.join(format!("{name}.log"))),
            ready: serde_json::Value::Null,
        };
        r.spawn();
        r
    }

    /// What the role wrote to stderr so far (with [`Role::start_logged`]).
    pub fn log(&self) -> String {
        self.log_path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let _ = std::fs::remove_file(&self.ready_path);
        let stderr = match &self.log_path {
            Some(p) => Stdio::from(
                std::fs::OpenOptions::new().create(true).append(true).open(p).expect("log file"),
            ),
            None => Stdio::inherit(),
        };
        let child = Command::new(loglens_bin())
            .args(&self.args)
            .arg("--ready-file")
            .arg(&self.ready_path)
            .env_remove("API_PORT")
            .env_remove("KAFKA_BOOTSTRAP_SERVERS")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("OTEL_SERVICE_NAME")
            // Parallel tests cannot share the default metrics port.
            .env("LOGLENS_METRICS_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", std::env::var("LOGLENS_TEST_LOG").unwrap_or_else(|_| "warn".into()))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn loglens");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&self.ready_path) {
                self.ready = serde_json::from_str(&text).expect("ready file is JSON");
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().expect("try_wait"))
            {
                panic!("loglens {:?} exited before it was ready: {status}", self.args);
            }
            assert!(Instant::now() < deadline, "loglens {:?} was not ready in 60 s", self.args);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id, e.g. to read `/proc/<pid>/status`.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The gRPC address from the ready file.
    pub fn grpc(&self) -> String {
        self.ready["grpc"].as_str().expect("grpc address in the ready file").to_owned()
    }

    /// `http://HOST:PORT/metrics` of the role, from the ready file.
    pub fn metrics_url(&self) -> String {
        format!(
            "http://{}/metrics",
            self.ready["metrics"].as_str().expect("metrics address in the ready file")
        )
    }

    /// A gRPC channel to the role.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.grpc()))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect gRPC")
    }

    /// SIGTERM, then waits (30 s at most) for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .expect("kill -TERM");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = child.try_wait().expect("try_wait") {
                    assert!(
                        status.success(),
                        "loglens {:?} exited with {status} after SIGTERM",
                        self.args
                    );
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "loglens {:?} did not stop within 30 s",
                    self.args
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// SIGKILL.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("wait");
        }
    }

    /// Starts again with the same arguments.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill before restarting");
        self.spawn();
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A running `loglens standalone` on free ports.
pub struct Standalone {
    role: Role,
    /// Its data directory (kept across restarts).
    pub data_dir: PathBuf,
    /// gRPC address, HOST:PORT.
    pub grpc: String,
    /// REST address, HOST:PORT.
    pub http: String,
}

impl Standalone {
    /// Starts standalone on free ports with a data dir inside `dir`.
    pub fn start(dir: &Path) -> Standalone {
        Standalone::start_with(dir, &[])
    }

    /// Starts standalone with extra command-line arguments.
    pub fn start_with(dir: &Path, extra: &[&str]) -> Standalone {
        Standalone::start_role(dir, extra, false)
    }

    /// [`Standalone::start_with`], logging at info level to a file read by
    /// [`Standalone::log`].
    pub fn start_logged(dir: &Path, extra: &[&str]) -> Standalone {
        Standalone::start_role(dir, extra, true)
    }

    fn start_role(dir: &Path, extra: &[&str], logged: bool) -> Standalone {
        let data_dir = dir.join("data");
        let data = data_dir.to_str().expect("UTF-8 temp dir");
        let mut args = vec![
            "standalone",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--data-dir",
            data,
        ];
        args.extend_from_slice(extra);
        let role = if logged {
            Role::start_logged(dir, "standalone", &args, &[("RUST_LOG", "info")])
        } else {
            Role::start(dir, "standalone", &args)
        };
        let mut s = Standalone { role, data_dir, grpc: String::new(), http: String::new() };
        s.read_addresses();
        s
    }

    fn read_addresses(&mut self) {
        self.grpc = self.role.grpc();
        self.http =
            self.role.ready["http"].as_str().expect("http address in the ready file").to_owned();
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(&mut self) {
        self.role.stop();
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        self.role.kill9();
    }

    /// Its stderr so far, when started with [`Standalone::start_logged`].
    pub fn log(&self) -> String {
        self.role.log()
    }

    /// Starts again on the same data directory (new ports).
    pub fn restart(&mut self) {
        self.role.restart();
        self.read_addresses();
    }

    /// A gRPC channel to the server.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.grpc))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect gRPC")
    }

    /// IngestService client.
    pub async fn ingest(&self) -> IngestServiceClient<Channel> {
        IngestServiceClient::new(self.channel().await)
    }

    /// QueryService client.
    pub async fn query(&self) -> QueryServiceClient<Channel> {
        QueryServiceClient::new(self.channel().await)
    }

    /// StatsService client.
    pub async fn stats(&self) -> StatsServiceClient<Channel> {
        StatsServiceClient::new(self.channel().await)
    }

    /// `http://HOST:PORT/metrics` of the process.
    pub fn metrics_url(&self) -> String {
        self.role.metrics_url()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.role.pid()
    }

    /// `http://HOST:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }
}

/// A proto record with the fields most tests need.
pub fn record(
    service: &str,
    level: &str,
    message: &str,
    request_id: &str,
) -> loglens_proto::ingest::LogRecord {
    loglens_proto::ingest::LogRecord {
        service_name: service.into(),
        level: level.into(),
        message: message.into(),
        request_id: request_id.into(),
        ..Default::default()
    }
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Number of records whose request_id is `id`, through gRPC Search.
pub async fn count_request_id(client: &mut QueryServiceClient<Channel>, id: &str) -> u64 {
    let req = loglens_proto::query::SearchRequest {
        filter: Some(loglens_proto::query::LogFilter {
            request_id: Some(id.into()),
            ..Default::default()
        }),
        size: 1,
        ..Default::default()
    };
    client.search(req).await.expect("search").into_inner().total
}

/// Every request_id in the store behind `client`, walked with cursors.
pub async fn all_request_ids(client: &mut QueryServiceClient<Channel>) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = client
            .search(loglens_proto::query::SearchRequest {
                size: 1000,
                cursor,
                ..Default::default()
            })
            .await
            .expect("search")
            .into_inner();
        ids.extend(r.logs.into_iter().filter_map(|l| l.request_id));
        if r.next_cursor.is_empty() {
            return ids;
        }
        cursor = r.next_cursor;
    }
}

/// Runs `loglens keys ARGS --auth-file FILE`; returns stdout.
pub fn keys_cli(file: &Path, args: &[&str]) -> String {
    let out = Command::new(loglens_bin())
        .arg("keys")
        .args(args)
        .arg("--auth-file")
        .arg(file)
        .output()
        .expect("run loglens keys");
    assert!(
        out.status.success(),
        "loglens keys {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
