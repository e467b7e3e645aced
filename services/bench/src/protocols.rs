//! Figure 9: each drop-in protocol's ingest rate beside native `POST /logs`,
//! on the same records. The generator's records (same seed, timestamps over
//! the same day as the dataset) are encoded once per protocol, in batches of
//! [`BATCH`], before anything is timed: a JSON array for `POST /logs`, an
//! OTLP protobuf `ExportLogsServiceRequest` for `POST /v1/logs`, `_bulk`
//! NDJSON with ECS documents, a snappy-compressed Loki `PushRequest`, Splunk
//! HEC concatenated events, and RFC 5424 lines for syslog over TCP.
//!
//! Each protocol gets a `loglens standalone` of its own (a fresh data
//! directory, started untimed). [`CLIENTS`] keep-alive clients send the
//! batches; the time runs from the first send to the last reply, and only
//! the records the replies count as accepted are counted (429 and 503 are
//! retried, within the time). Syslog has no reply: its time runs until
//! `GET /stats` counts every record, so it includes up to one refresh
//! interval that the HTTP protocols do not wait for. Each run also reads the
//! standalone's CPU time (user + system, `/proc/<pid>/stat`) before and
//! after, for records per server CPU-second.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use futures::stream::{self, StreamExt};
use loglens_generator::{GeneratedLog, Generator};
use loglens_receivers::loki::proto as loki;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;

use crate::{bar, rss, timestamp};

/// Records per request (per TCP write for syslog).
pub(crate) const BATCH: usize = 2000;
/// Concurrent keep-alive clients (TCP connections for syslog).
pub(crate) const CLIENTS: usize = 4;
/// How long syslog records may take to become searchable after the last write.
const SEARCHABLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The protocols, in table order: JSON key, table label.
pub(crate) const PROTOCOLS: [(&str, &str); 6] = [
    ("native", "POST /logs (JSON)"),
    ("otlp_http", "OTLP/HTTP POST /v1/logs"),
    ("es_bulk", "ES POST /_bulk"),
    ("loki", "Loki push (snappy proto)"),
    ("hec", "Splunk HEC /event"),
    ("syslog_tcp", "syslog TCP, until searchable"),
];

/// What one protocol measured.
pub(crate) struct ProtocolRun {
    pub key: &'static str,
    pub label: &'static str,
    /// Records accepted (syslog: found by `GET /stats`).
    pub accepted: u64,
    /// Bytes of the bodies sent.
    pub body_bytes: usize,
    pub took: Duration,
    /// CPU time (user + system) the standalone spent while the records were
    /// sent; `None` where `/proc` is not readable.
    pub server_cpu: Option<Duration>,
}

impl ProtocolRun {
    pub fn records_per_s(&self) -> f64 {
        self.accepted as f64 / self.took.as_secs_f64().max(1e-9)
    }

    pub fn mb_per_s(&self) -> f64 {
        self.body_bytes as f64 / 1e6 / self.took.as_secs_f64().max(1e-9)
    }

    /// Records accepted per second of the server's CPU time.
    pub fn records_per_cpu_s(&self) -> Option<f64> {
        self.server_cpu.map(|c| self.accepted as f64 / c.as_secs_f64().max(1e-9))
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`sysconf(_SC_CLK_TCK)`,
/// 100 on every Linux this runs on; libc is not a dependency).
const CLK_TCK: f64 = 100.0;

/// This process's CPU time (user + system) from the moment it is taken.
pub(crate) struct OwnCpu(Option<Duration>);

impl OwnCpu {
    pub(crate) fn start() -> OwnCpu {
        OwnCpu(cpu_time(std::process::id()))
    }

    /// CPU time spent since [`OwnCpu::start`]; `None` without `/proc`.
    pub(crate) fn elapsed(&self) -> Option<Duration> {
        self.0.zip(cpu_time(std::process::id())).map(|(before, now)| now - before)
    }
}

/// CPU time (utime + stime) process `pid` has used, from `/proc/<pid>/stat`.
pub(crate) fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after `)`.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / CLK_TCK))
}

/// One generated record and its timestamp in ms.
struct Rec {
    ms: i64,
    log: GeneratedLog,
}

fn generate(n: usize, seed: u64) -> Vec<Rec> {
    let mut g = Generator::new(Some(seed));
    (0..n)
        .map(|i| {
            let ms = timestamp(i, n);
            Rec { ms, log: g.next(ms) }
        })
        .collect()
}

/// `POST /logs`: a JSON array of the records as the generator writes them.
fn native(batch: &[Rec]) -> Result<Vec<u8>> {
    let logs: Vec<&GeneratedLog> = batch.iter().map(|r| &r.log).collect();
    Ok(serde_json::to_vec(&logs)?)
}

fn kv(key: &str, value: Any) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    kv(key, Any::StringValue(value.to_owned()))
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()).collect()
}

/// `severity_number` of a level: the first number of its OTLP range.
fn severity_number(level: &str) -> i32 {
    match level {
        "DEBUG" => 5,
        "WARN" => 13,
        "ERROR" => 17,
        _ => 9,
    }
}

/// OTLP: one `ResourceLogs` per service (`service.name` on the resource),
/// the rest on each log record by the semantic conventions.
fn otlp(batch: &[Rec]) -> Vec<u8> {
    let mut by_service: BTreeMap<&str, Vec<LogRecord>> = BTreeMap::new();
    for r in batch {
        let l = &r.log;
        let mut attributes = vec![
            kv("http.response.status_code", Any::IntValue(i64::from(l.status_code))),
            text("host.name", &l.host),
            text("request_id", &l.request_id),
            text("user_id", &l.user_id),
            kv("response_time_ms", Any::DoubleValue(l.response_time_ms)),
            text("tags", &l.tags.join(",")),
        ];
        if let Some(code) = &l.error_code {
            attributes.push(text("error_code", code));
        }
        attributes.extend(l.attributes.iter().map(|(k, v)| text(k, v)));
        let nanos = r.ms as u64 * 1_000_000;
        by_service.entry(&l.service_name).or_default().push(LogRecord {
            time_unix_nano: nanos,
            observed_time_unix_nano: nanos,
            severity_number: severity_number(l.level),
            severity_text: l.level.to_owned(),
            body: Some(AnyValue { value: Some(Any::StringValue(l.message.clone())) }),
            attributes,
            trace_id: hex(&l.trace_id),
            span_id: hex(&l.span_id),
            ..Default::default()
        });
    }
    let resource_logs = by_service
        .into_iter()
        .map(|(service, log_records)| ResourceLogs {
            resource: Some(Resource {
                attributes: vec![text("service.name", service)],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs { log_records, ..Default::default() }],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }.encode_to_vec()
}

/// `_bulk`: a `create` action and an ECS document per record.
fn es_bulk(batch: &[Rec]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(batch.len() * 700);
    for r in batch {
        let l = &r.log;
        out.extend_from_slice(b"{\"create\":{\"_index\":\"logs-bench\"}}\n");
        let mut doc = json!({
            "@timestamp": l.timestamp,
            "message": l.message,
            "log": {"level": l.level},
            "service": {"name": l.service_name},
            "host": {"name": l.host},
            "http": {"response": {"status_code": l.status_code}, "request": {"id": l.request_id}},
            "user": {"id": l.user_id},
            "trace": {"id": l.trace_id},
            "span": {"id": l.span_id},
            "event": {"duration": (l.response_time_ms * 1e6) as u64},
            "tags": l.tags,
        });
        if let Some(code) = &l.error_code {
            doc["error"] = json!({"code": code});
        }
        for (k, v) in &l.attributes {
            doc[*k] = Value::from(v.as_str());
        }
        serde_json::to_writer(&mut out, &doc)?;
        out.push(b'\n');
    }
    Ok(out)
}

/// Loki: one stream per (service, level), the other fields as structured
/// metadata; protobuf, snappy block compressed.
fn loki(batch: &[Rec]) -> Result<Vec<u8>> {
    let pair = |k: &str, v: &str| loki::LabelPairAdapter {
        name: k.as_bytes().to_vec(),
        value: v.as_bytes().to_vec(),
    };
    let mut streams: BTreeMap<(&str, &str), Vec<loki::EntryAdapter>> = BTreeMap::new();
    for r in batch {
        let l = &r.log;
        let mut meta = vec![
            pair("host", &l.host),
            pair("trace_id", &l.trace_id),
            pair("span_id", &l.span_id),
            pair("status_code", &l.status_code.to_string()),
            pair("request_id", &l.request_id),
            pair("user_id", &l.user_id),
            pair("response_time_ms", &l.response_time_ms.to_string()),
            pair("tags", &l.tags.join(",")),
        ];
        if let Some(code) = &l.error_code {
            meta.push(pair("error_code", code));
        }
        meta.extend(l.attributes.iter().map(|(k, v)| pair(k, v)));
        streams.entry((&l.service_name, l.level)).or_default().push(loki::EntryAdapter {
            timestamp: Some(loki::Timestamp {
                seconds: r.ms.div_euclid(1000),
                nanos: (r.ms.rem_euclid(1000) * 1_000_000) as i32,
            }),
            line: l.message.as_bytes().to_vec(),
            structured_metadata: meta,
        });
    }
    let push = loki::PushRequest {
        streams: streams
            .into_iter()
            .map(|((service, level), entries)| loki::StreamAdapter {
                labels: format!("{{service_name=\"{service}\", level=\"{level}\"}}").into_bytes(),
                entries,
                hash: 0,
            })
            .collect(),
    };
    Ok(snap::raw::Encoder::new().compress_vec(&push.encode_to_vec())?)
}

/// HEC: concatenated events, the record's fields in the event object.
fn hec(batch: &[Rec]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(batch.len() * 700);
    for r in batch {
        let l = &r.log;
        let mut event = Map::new();
        event.insert("message".into(), l.message.clone().into());
        event.insert("level".into(), l.level.into());
        event.insert("status_code".into(), l.status_code.into());
        event.insert("request_id".into(), l.request_id.clone().into());
        event.insert("user_id".into(), l.user_id.clone().into());
        event.insert("response_time_ms".into(), l.response_time_ms.into());
        event.insert("trace_id".into(), l.trace_id.clone().into());
        event.insert("span_id".into(), l.span_id.clone().into());
        event.insert("tags".into(), l.tags.join(",").into());
        if let Some(code) = &l.error_code {
            event.insert("error_code".into(), code.clone().into());
        }
        for (k, v) in &l.attributes {
            event.insert((*k).into(), v.clone().into());
        }
        serde_json::to_writer(
            &mut out,
            &json!({
                "time": r.ms as f64 / 1e3,
                "host": l.host,
                "sourcetype": "_json",
                "fields": {"service_name": l.service_name},
                "event": event,
            }),
        )?;
    }
    Ok(out)
}

/// Syslog: RFC 5424 lines, facility local0, the other fields as structured
/// data, newline framed.
fn syslog(batch: &[Rec]) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(batch.len() * 600);
    for r in batch {
        let l = &r.log;
        let severity = match l.level {
            "DEBUG" => 7,
            "WARN" => 4,
            "ERROR" => 3,
            _ => 6,
        };
        let _ = write!(
            out,
            "<{}>1 {} {} {} - - [meta status_code=\"{}\" request_id=\"{}\" user_id=\"{}\" \
             response_time_ms=\"{}\" trace_id=\"{}\" span_id=\"{}\" tags=\"{}\"",
            16 * 8 + severity,
            l.timestamp,
            l.host,
            l.service_name,
            l.status_code,
            l.request_id,
            l.user_id,
            l.response_time_ms,
            l.trace_id,
            l.span_id,
            l.tags.join(","),
        );
        if let Some(code) = &l.error_code {
            let _ = write!(out, " error_code=\"{code}\"");
        }
        for (k, v) in &l.attributes {
            let _ = write!(out, " {k}=\"{v}\"");
        }
        let _ = writeln!(out, "] {}", l.message);
    }
    out.into_bytes()
}

/// The bodies of protocol `key`, one per batch, with their record counts.
fn encode(key: &str, records: &[Rec]) -> Result<Vec<(usize, Vec<u8>)>> {
    records
        .chunks(BATCH)
        .map(|b| {
            let body = match key {
                "native" => native(b)?,
                "otlp_http" => otlp(b),
                "es_bulk" => es_bulk(b)?,
                "loki" => loki(b)?,
                "hec" => hec(b)?,
                "syslog_tcp" => syslog(b),
                other => bail!("no encoder for protocol {other}"),
            };
            Ok((b.len(), body))
        })
        .collect()
}

/// Path and content type of protocol `key`'s requests.
fn route(key: &str) -> (&'static str, &'static str) {
    match key {
        "otlp_http" => ("/v1/logs", "application/x-protobuf"),
        "es_bulk" => ("/_bulk", "application/x-ndjson"),
        "loki" => ("/loki/api/v1/push", "application/x-protobuf"),
        "hec" => ("/services/collector/event", "application/json"),
        _ => ("/logs", "application/json"),
    }
}

/// Records a reply accepts out of the `sent` of its request.
fn accepted(key: &str, sent: usize, status: reqwest::StatusCode, body: &[u8]) -> Result<u64> {
    let shown = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    ensure!(status.is_success(), "{key}: HTTP {status}: {}", shown());
    Ok(match key {
        "otlp_http" => {
            let reply = ExportLogsServiceResponse::decode(body)
                .with_context(|| format!("{key}: reply is not an ExportLogsServiceResponse"))?;
            let rejected = reply.partial_success.map_or(0, |p| p.rejected_log_records);
            (sent as i64 - rejected).max(0) as u64
        }
        "es_bulk" => {
            let reply: Value = serde_json::from_slice(body)?;
            let items = reply["items"].as_array().context("es_bulk: no items in the reply")?;
            items
                .iter()
                .filter(|i| i["create"]["status"].as_u64().is_some_and(|s| (200..300).contains(&s)))
                .count() as u64
        }
        // Both answer success only when every record was stored.
        "loki" | "hec" => sent as u64,
        _ => {
            let reply: Value = serde_json::from_slice(body)?;
            reply["accepted"].as_u64().with_context(|| format!("no accepted count: {}", shown()))?
        }
    })
}

/// Sends the bodies over HTTP, `CLIENTS` at once; returns records accepted.
async fn send_http(key: &'static str, base: &str, bodies: Vec<(usize, Vec<u8>)>) -> Result<u64> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build()?;
    let (path, content_type) = route(key);
    let url = Arc::new(format!("http://{base}{path}"));
    let pb = bar(bodies.iter().map(|b| b.0).sum(), &format!("9 {key}"));
    let mut replies = stream::iter(bodies)
        .map(|(n, body)| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                loop {
                    let reply = client
                        .post(url.as_str())
                        .header("content-type", content_type)
                        .body(body.clone())
                        .send()
                        .await?;
                    let status = reply.status();
                    let bytes = reply.bytes().await?;
                    if status == reqwest::StatusCode::TOO_MANY_REQUESTS
                        || status == reqwest::StatusCode::SERVICE_UNAVAILABLE
                    {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    return accepted(key, n, status, &bytes);
                }
            }
        })
        .buffer_unordered(CLIENTS);
    let mut total = 0;
    while let Some(n) = replies.next().await {
        let n = n?;
        pb.inc(n);
        total += n;
    }
    pb.finish_and_clear();
    Ok(total)
}

/// `total_logs` of `GET /stats` on standalone at `base`.
async fn stored(client: &reqwest::Client, base: &str) -> Result<u64> {
    let reply: Value = client.get(format!("http://{base}/stats")).send().await?.json().await?;
    reply["total_logs"].as_u64().with_context(|| format!("no total_logs in {reply}"))
}

/// Writes the lines over `CLIENTS` TCP connections, then waits until
/// `GET /stats` counts all `n` records; returns the count found.
async fn send_syslog(
    addr: &str,
    base: &str,
    n: usize,
    bodies: Vec<(usize, Vec<u8>)>,
) -> Result<u64> {
    let pb = bar(n, "9 syslog_tcp");
    let mut lanes: Vec<Vec<Vec<u8>>> = vec![Vec::new(); CLIENTS];
    for (i, (_, body)) in bodies.into_iter().enumerate() {
        lanes[i % CLIENTS].push(body);
    }
    let writers = lanes.into_iter().map(|lane| {
        let (addr, pb) = (addr.to_owned(), pb.clone());
        tokio::spawn(async move {
            let mut tcp = tokio::net::TcpStream::connect(&addr).await?;
            for body in lane {
                tcp.write_all(&body).await?;
                pb.inc(body.iter().filter(|b| **b == b'\n').count() as u64);
            }
            tcp.shutdown().await?;
            anyhow::Ok(())
        })
    });
    for w in futures::future::join_all(writers).await {
        w??;
    }
    let client = reqwest::Client::new();
    let deadline = Instant::now() + SEARCHABLE_TIMEOUT;
    loop {
        let found = stored(&client, base).await?;
        if found >= n as u64 {
            pb.finish_and_clear();
            return Ok(found);
        }
        ensure!(
            Instant::now() < deadline,
            "syslog: {found} of {n} records searchable {SEARCHABLE_TIMEOUT:?} after the last write"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs every protocol on `n` records of seed `seed`, each on a standalone
/// of its own under `dir`.
pub(crate) async fn run(dir: &Path, n: usize, seed: u64) -> Result<Vec<ProtocolRun>> {
    let records = generate(n, seed);
    let mut out = Vec::with_capacity(PROTOCOLS.len());
    for (key, label) in PROTOCOLS {
        let bodies = encode(key, &records)?;
        let body_bytes = bodies.iter().map(|b| b.1.len()).sum();
        let sub = dir.join(key);
        let syslog = key == "syslog_tcp";
        let extra: &[&str] = if syslog { &["--syslog-addr", "127.0.0.1:0"] } else { &[] };
        let (child, ready) = rss::start(&sub, extra).await?;
        let http = ready["http"].as_str().context("no http address in the ready file")?.to_owned();
        let cpu_before = cpu_time(child.pid());
        let started = Instant::now();
        let accepted = if syslog {
            let addr = ready["syslog"].as_str().context("no syslog address in the ready file")?;
            send_syslog(addr, &http, n, bodies).await
        } else {
            send_http(key, &http, bodies).await
        }
        .with_context(|| {
            format!("figure 9 ({key}); see {}", sub.join("standalone.log").display())
        })?;
        let took = started.elapsed();
        let server_cpu = cpu_before.zip(cpu_time(child.pid())).map(|(a, b)| b.saturating_sub(a));
        rss::stop(child).await?;
        std::fs::remove_dir_all(&sub)?;
        ensure!(accepted == n as u64, "{key}: {accepted} of {n} records accepted");
        out.push(ProtocolRun { key, label, accepted, body_bytes, took, server_cpu });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use loglens_receivers::{es_bulk, hec, loki, otlp, syslog};

    use super::*;

    /// Every encoding decodes, by the receivers' own decoders, into as many
    /// records as it was built from, with the same services.
    #[test]
    fn every_body_decodes_to_the_same_records() {
        let records = generate(50, 3);
        let services: Vec<String> = {
            let mut s: Vec<String> = records.iter().map(|r| r.log.service_name.clone()).collect();
            s.sort();
            s
        };
        let check = |mut got: Vec<String>| {
            got.sort();
            assert_eq!(got, services);
        };
        let names = |d: loglens_receivers::Decoded| {
            assert!(d.errors.is_empty(), "{:?}", d.errors);
            d.records.into_iter().map(|(_, r)| r.service_name.unwrap()).collect::<Vec<_>>()
        };
        let o = otlp::decode(otlp::decode_protobuf(&otlp(&records)).unwrap());
        check(names(o));
        let b = es_bulk::decode(&es_bulk(&records).unwrap(), None).unwrap();
        check(names(b.decoded));
        let l = loki::decode(loki::Format::Protobuf, &loki(&records).unwrap()).unwrap();
        check(names(l));
        let h = hec::decode_events(&hec(&records).unwrap(), &hec::Defaults::default());
        check(names(h));
        let s = syslog(&records);
        let lines: Vec<String> = s
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| syslog::decode(l, 0).unwrap().service_name.unwrap())
            .collect();
        check(lines);
        let native: Vec<Value> = serde_json::from_slice(&native(&records).unwrap()).unwrap();
        assert_eq!(native.len(), 50);
    }
}
