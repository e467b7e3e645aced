//! Syslog into a real `loglens standalone --syslog-addr 127.0.0.1:0`, sent
//! by util-linux `logger` (scripts/test installs it) over UDP and TCP (both
//! framings), and by hand over TCP with garbage between good messages;
//! read back through `GET /logs`.

mod common;

use std::io::Write;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Standalone, eventually};
use serde_json::Value;

fn logger_bin() -> String {
    std::env::var("LOGLENS_LOGGER").unwrap_or_else(|_| "/usr/bin/logger".into())
}

/// Runs `logger --server 127.0.0.1 --port PORT ARGS`, in UTC so RFC 3164's
/// zoneless timestamps read as sent.
fn logger(port: u16, args: &[&str]) {
    let bin = logger_bin();
    let out = Command::new(&bin)
        .args(["--server", "127.0.0.1", "--port", &port.to_string()])
        .args(args)
        .env("TZ", "UTC")
        .output()
        .unwrap_or_else(|e| {
            panic!("running {bin} (util-linux logger; scripts/test installs it): {e}")
        });
    assert!(out.status.success(), "logger {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn hostname() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    h.trim().split('.').next().unwrap_or_default().to_owned()
}

/// The one record of `service`, once it is searchable.
async fn the_record(server: &Standalone, service: &str) -> Value {
    let url = server.url(&format!("/logs?service_name={service}"));
    eventually(20, &format!("a record of {service}"), || {
        let url = url.clone();
        async move {
            let body: Value = reqwest::get(&url).await.ok()?.json().await.ok()?;
            let logs = body["logs"].as_array()?;
            (!logs.is_empty()).then(|| {
                assert_eq!(logs.len(), 1, "{body}");
                logs[0].clone()
            })
        }
    })
    .await
}

fn assert_recent(record: &Value, sent_at: i64) {
    let ts = record["timestamp"].as_i64().expect("timestamp");
    assert!((ts - sent_at).abs() < 5_000, "timestamp {ts} should be close to {sent_at}: {record}");
}

#[tokio::test]
async fn logger_over_udp_and_tcp_then_garbage_does_not_stop_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start_with(dir.path(), &["--syslog-addr", "127.0.0.1:0"]);
    let ready: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("standalone.ready.json")).unwrap(),
    )
    .unwrap();
    let addr: std::net::SocketAddr =
        ready["syslog"].as_str().expect("syslog address in the ready file").parse().unwrap();
    let port = addr.port();
    let host = hostname();

    // RFC 5424 over UDP, with structured data and a MSGID.
    let sent = now_ms();
    logger(
        port,
        &[
            "--udp",
            "--rfc5424",
            "-t",
            "udp-app",
            "-p",
            "local0.err",
            "--msgid",
            "M1",
            "--sd-id",
            "ex@32473",
            "--sd-param",
            r#"user="alice \"a\"""#,
            "over udp 5424",
        ],
    );
    let r = the_record(&server, "udp-app").await;
    assert_eq!(r["level"], "ERROR", "{r}");
    assert_eq!(r["message"], "over udp 5424", "{r}");
    assert_eq!(r["host"].as_str().unwrap_or_default().split('.').next(), Some(host.as_str()));
    assert_recent(&r, sent);
    let a = &r["attributes"];
    assert_eq!(a["syslog.facility"], "local0", "{r}");
    assert_eq!(a["syslog.severity"], "err", "{r}");
    assert_eq!(a["syslog.msgid"], "M1", "{r}");
    assert_eq!(a["ex@32473.user"], r#"alice "a""#, "{r}");

    // RFC 3164 over UDP, with the PID.
    let sent = now_ms();
    logger(
        port,
        &["--udp", "--rfc3164", "-i", "-t", "bsd-app", "-p", "daemon.warning", "over udp 3164"],
    );
    let r = the_record(&server, "bsd-app").await;
    assert_eq!(r["level"], "WARN", "{r}");
    assert_eq!(r["message"], "over udp 3164", "{r}");
    assert_eq!(r["host"].as_str(), Some(host.as_str()), "{r}");
    // Whole seconds in RFC 3164.
    assert_recent(&r, sent);
    assert_eq!(r["attributes"]["syslog.facility"], "daemon", "{r}");
    assert!(
        r["attributes"]["syslog.procid"].as_str().is_some_and(|p| p.parse::<u32>().is_ok()),
        "{r}"
    );

    // RFC 5424 over TCP, newline framing and octet counting.
    let sent = now_ms();
    logger(port, &["--tcp", "--rfc5424", "-t", "tcp-app", "-p", "user.debug", "over tcp lines"]);
    let r = the_record(&server, "tcp-app").await;
    assert_eq!(
        (r["level"].as_str(), r["message"].as_str()),
        (Some("DEBUG"), Some("over tcp lines"))
    );
    assert_recent(&r, sent);
    logger(
        port,
        &[
            "--tcp",
            "--octet-count",
            "--rfc5424",
            "-t",
            "octet-app",
            "-p",
            "local7.info",
            "over tcp octets",
        ],
    );
    let r = the_record(&server, "octet-app").await;
    assert_eq!(
        (r["level"].as_str(), r["message"].as_str()),
        (Some("INFO"), Some("over tcp octets"))
    );
    assert_eq!(r["attributes"]["syslog.facility"], "local7", "{r}");
    logger(port, &["--tcp", "--rfc3164", "-t", "tcp-bsd", "-p", "local1.notice", "bsd over tcp"]);
    let r = the_record(&server, "tcp-bsd").await;
    assert_eq!((r["level"].as_str(), r["message"].as_str()), (Some("INFO"), Some("bsd over tcp")));

    // By hand: garbage, an over-long line and an octet-counted frame between
    // good messages on one connection.
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    let good = "<11>1 2024-05-01T12:00:00.250Z web-1 hand-app 42 - - after garbage";
    let mut wire = Vec::new();
    wire.extend_from_slice(b"this is no syslog\n");
    wire.extend_from_slice(&vec![b'x'; 70 * 1024]);
    wire.extend_from_slice(b"\n<13>1 - - - - - [unclosed\n");
    wire.extend_from_slice(format!("{}\n", good).as_bytes());
    let counted = "<12>Apr 30 23:59:59 web-2 hand-counted[7]: counted";
    wire.extend_from_slice(format!("{} {}", counted.len(), counted).as_bytes());
    tcp.write_all(&wire).unwrap();
    tcp.flush().unwrap();
    let r = the_record(&server, "hand-app").await;
    assert_eq!(r["message"], "after garbage", "{r}");
    assert_eq!(r["level"], "ERROR", "{r}");
    assert_eq!(r["host"], "web-1", "{r}");
    assert_eq!(r["timestamp"], 1_714_564_800_250i64, "{r}");
    assert_eq!(r["attributes"]["syslog.procid"], "42", "{r}");
    let r = the_record(&server, "hand-counted").await;
    assert_eq!((r["message"].as_str(), r["level"].as_str()), (Some("counted"), Some("WARN")));
    assert_eq!(r["host"], "web-2", "{r}");
    drop(tcp);
}
