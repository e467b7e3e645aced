//! Loki push and Splunk HEC against a real `loglens standalone`, with the
//! bodies those shippers send: Loki protobuf + snappy (as Promtail and
//! Grafana Alloy's `loki.write` send it, built here from Loki's own push
//! proto), Loki JSON plain and gzip'd, HEC concatenated events and raw
//! lines. Hostile bodies get a 4xx, their valid neighbours are stored and
//! the server keeps serving.

mod common;

use std::io::Write;

use common::{Standalone, eventually};
use prost::Message;
use serde_json::{Value, json};

/// Loki's `pkg/push/push.proto` (package `logproto`), as clients encode it.
#[derive(Clone, PartialEq, Message)]
struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    streams: Vec<StreamAdapter>,
}

#[derive(Clone, PartialEq, Message)]
struct StreamAdapter {
    #[prost(string, tag = "1")]
    labels: String,
    #[prost(message, repeated, tag = "2")]
    entries: Vec<EntryAdapter>,
    #[prost(uint64, tag = "3")]
    hash: u64,
}

#[derive(Clone, PartialEq, Message)]
struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    line: String,
    #[prost(message, repeated, tag = "3")]
    structured_metadata: Vec<LabelPairAdapter>,
}

#[derive(Clone, PartialEq, Message)]
struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, Copy, PartialEq, Message)]
struct Timestamp {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

const T0_S: i64 = 1_714_564_800; // 2024-05-01T12:00:00Z

fn entry(offset_ms: i64, line: &str, metadata: &[(&str, &str)]) -> EntryAdapter {
    EntryAdapter {
        timestamp: Some(Timestamp {
            seconds: T0_S + offset_ms / 1000,
            nanos: i32::try_from((offset_ms % 1000) * 1_000_000 + 456).unwrap(),
        }),
        line: line.into(),
        structured_metadata: metadata
            .iter()
            .map(|(k, v)| LabelPairAdapter { name: (*k).into(), value: (*v).into() })
            .collect(),
    }
}

fn snappy(bytes: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(bytes).unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String) {
    let mut req = http.post(url).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("send");
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The logs of `service`, oldest first, once there are `n`.
async fn logs(server: &Standalone, service: &str, n: usize) -> Vec<Value> {
    let url = server.url(&format!("/logs?service_name={service}&sort=oldest&size=100"));
    eventually(15, &format!("{n} records of {service}"), || {
        let url = url.clone();
        async move {
            let body: Value = reqwest::get(&url).await.ok()?.json().await.ok()?;
            let logs = body["logs"].as_array()?.clone();
            (logs.len() >= n).then_some(logs)
        }
    })
    .await
}

#[tokio::test]
async fn loki_push_protobuf_snappy_json_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let http = reqwest::Client::new();
    let push_url = server.url("/loki/api/v1/push");
    let proto = [("content-type", "application/x-protobuf")];

    // Protobuf + snappy, as Promtail and Alloy send it.
    let push = PushRequest {
        streams: vec![
            StreamAdapter {
                labels:
                    r#"{service_name="loki-pb", level="warn", namespace="shop", quote="a \"b\""}"#
                        .into(),
                entries: vec![
                    entry(0, "cache miss", &[("trace_id", "t-1"), ("pod", "web-7")]),
                    entry(1500, "cache slow", &[]),
                ],
                hash: 0,
            },
            StreamAdapter {
                labels: r#"{job="loki-job", detected_level="fatal"}"#.into(),
                entries: vec![entry(2000, "disk full", &[])],
                hash: 0,
            },
        ],
    };
    let (status, body) = post(&http, &push_url, &proto, snappy(&push.encode_to_vec())).await;
    assert_eq!(status, 204, "{body}");
    let got = logs(&server, "loki-pb", 2).await;
    assert_eq!(got[0]["message"], "cache miss");
    assert_eq!(got[0]["level"], "WARN");
    assert_eq!(got[0]["timestamp"], T0_S * 1000);
    assert_eq!(got[0]["trace_id"], "t-1");
    assert_eq!(got[0]["attributes"]["namespace"], "shop");
    assert_eq!(got[0]["attributes"]["quote"], "a \"b\"");
    assert_eq!(got[0]["attributes"]["pod"], "web-7");
    assert_eq!(got[1]["timestamp"], T0_S * 1000 + 1500);
    let job = logs(&server, "loki-job", 1).await;
    assert_eq!(
        (job[0]["level"].as_str(), job[0]["message"].as_str()),
        (Some("ERROR"), Some("disk full"))
    );

    // JSON, plain and gzip'd.
    let ns = |ms: i64| ((T0_S * 1000 + ms) * 1_000_000).to_string();
    let json_push = json!({"streams": [{
        "stream": {"app": "loki-json", "level": "error", "env": "prod"},
        "values": [[ns(10), "json line", {"order_id": "o-9"}], [ns(20), "second"]],
    }]});
    let json_ct = [("content-type", "application/json")];
    let (status, body) =
        post(&http, &push_url, &json_ct, serde_json::to_vec(&json_push).unwrap()).await;
    assert_eq!(status, 204, "{body}");
    let got = logs(&server, "loki-json", 2).await;
    assert_eq!(got[0]["level"], "ERROR");
    assert_eq!(got[0]["timestamp"], T0_S * 1000 + 10);
    assert_eq!(got[0]["attributes"]["order_id"], "o-9");
    assert_eq!(got[0]["attributes"]["env"], "prod");
    let gz = json!({"streams": [{"stream": {"app": "loki-gzip"}, "values": [[ns(30), "zipped"]]}]});
    let (status, body) = post(
        &http,
        &push_url,
        &[("content-type", "application/json"), ("content-encoding", "gzip")],
        gzip(&serde_json::to_vec(&gz).unwrap()),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(logs(&server, "loki-gzip", 1).await[0]["message"], "zipped");

    // Hostile: bad snappy, truncated protobuf, wrong content type.
    let (status, body) = post(&http, &push_url, &proto, b"\xff\xff\xff\xff garbage".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("snappy"), "{body}");
    let bytes = push.encode_to_vec();
    let (status, body) = post(&http, &push_url, &proto, snappy(&bytes[..bytes.len() - 4])).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("PushRequest"), "{body}");
    let (status, body) =
        post(&http, &push_url, &[("content-type", "text/plain")], b"x".to_vec()).await;
    assert_eq!(status, 415, "{body}");

    // Bad entries (an empty line, a bad timestamp) among good ones: 400
    // naming them, the good ones stored.
    let mixed = json!({"streams": [{"stream": {"app": "loki-mixed"}, "values": [
        [ns(40), "good one"], [ns(41), ""], ["tomorrow", "bad ts"], [ns(42), "good two"],
    ]}]});
    let (status, body) =
        post(&http, &push_url, &json_ct, serde_json::to_vec(&mixed).unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("entry 1") && body.contains("entry 2"), "{body}");
    let got = logs(&server, "loki-mixed", 2).await;
    let messages: Vec<_> = got.iter().map(|l| l["message"].as_str().unwrap()).collect();
    assert_eq!(messages, ["good one", "good two"]);

    // Still serving.
    let health = reqwest::get(server.url("/health")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test]
async fn splunk_hec_events_and_raw() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let http = reqwest::Client::new();
    let auth = [("authorization", "Splunk 00000000-0000-0000-0000-000000000000")];

    let events = concat!(
        r#"{"time":1714564800.125,"host":"web-1","source":"/var/log/app.log","sourcetype":"hec-st","index":"main","event":"order placed","fields":{"region":"eu"}}"#,
        "\n",
        r#"{"time":1714564801,"event":{"msg":"payment failed","level":"error","amount":12.5},"fields":{"service_name":"hec-fields"}}"#,
        r#"{"time":"1714564802","event":{"k":"v"},"sourcetype":"hec-st"}"#,
    );
    for path in
        ["/services/collector/event", "/services/collector", "/services/collector/event/1.0"]
    {
        let (status, body) = post(&http, &server.url(path), &auth, events.into()).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({"text":"Success","code":0})
        );
    }
    // The same events three times are the same records (content ids).
    let got = logs(&server, "hec-st", 2).await;
    assert_eq!(got[0]["message"], "order placed");
    assert_eq!(got[0]["timestamp"], 1_714_564_800_125_i64);
    assert_eq!(got[0]["host"], "web-1");
    assert_eq!(got[0]["attributes"]["region"], "eu");
    assert_eq!(got[0]["attributes"]["source"], "/var/log/app.log");
    assert_eq!(got[0]["attributes"]["index"], "main");
    assert!(got.iter().any(|l| l["message"] == r#"{"k":"v"}"#), "{got:?}");
    let f = logs(&server, "hec-fields", 1).await;
    assert_eq!(
        (f[0]["level"].as_str(), f[0]["message"].as_str()),
        (Some("ERROR"), Some("payment failed"))
    );
    assert_eq!(f[0]["attributes"]["amount"], 12.5);

    // Raw: one event per line, metadata from the query string.
    let raw_url = server.url("/services/collector/raw?host=h-raw&sourcetype=hec-raw&source=syslog");
    let (status, body) = post(&http, &raw_url, &[], b"line one\r\nline two\n\n".to_vec()).await;
    assert_eq!(status, 200, "{body}");
    let raw = logs(&server, "hec-raw", 2).await;
    let mut messages: Vec<_> = raw.iter().map(|l| l["message"].as_str().unwrap()).collect();
    messages.sort_unstable();
    assert_eq!(messages, ["line one", "line two"]);
    assert_eq!(raw[0]["host"], "h-raw");
    assert_eq!(raw[0]["attributes"]["source"], "syslog");

    // No data, invalid events (valid neighbours kept), broken JSON.
    let event_url = server.url("/services/collector/event");
    let (status, body) = post(&http, &event_url, &auth, b"  ".to_vec()).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (400, json!({"text":"No data","code":5}))
    );
    let mixed = r#"{"event":"kept 1","sourcetype":"hec-mixed"}{"sourcetype":"hec-mixed"}{"event":"kept 2","sourcetype":"hec-mixed"}"#;
    let (status, body) = post(&http, &event_url, &auth, mixed.into()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"text":"Invalid data format","code":6,"invalid-event-number":1})
    );
    assert_eq!(logs(&server, "hec-mixed", 2).await.len(), 2);
    let (status, body) = post(&http, &event_url, &auth, b"{\"event\": \xff nope".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["invalid-event-number"], 0);

    let health = http.get(server.url("/services/collector/health/1.0")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(reqwest::get(server.url("/health")).await.unwrap().status().as_u16(), 200);
}
