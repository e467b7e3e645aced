//! End to end: `GET /logs/tail` (Server-Sent Events over the gRPC `Tail`) on
//! a real standalone server, read by a real HTTP client: filters, resume with
//! `Last-Event-ID`, bad parameters, disconnect cleanup and a slow client.

mod common;

use std::time::Duration;

use common::sse::SseReader;
use common::{Standalone, eventually};
use serde_json::{Value, json};

async fn post(server: &Standalone, records: &[Value]) {
    let body = records.iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    let r = reqwest::Client::new().post(server.url("/logs")).body(body).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

fn rec(level: &str, request_id: &str) -> Value {
    json!({"service_name": "tailed", "level": level, "message": format!("message {request_id}"), "request_id": request_id})
}

async fn metric(server: &Standalone, name: &str) -> Option<f64> {
    let text = reqwest::get(server.metrics_url()).await.unwrap().text().await.unwrap();
    text.lines()
        .find(|l| l.split([' ', '{']).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn tail_streams_matching_records_and_resumes_without_gap_or_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let url = server.url("/logs/tail?level=ERROR");
    let mut first = SseReader::open(&url, None).await;
    post(
        &server,
        &[
            rec("INFO", "i-1"),
            rec("ERROR", "e-1"),
            rec("WARN", "w-1"),
            rec("error", "e-2"),
            rec("DEBUG", "d-1"),
            rec("ERROR", "e-3"),
            rec("ERROR", "e-4"),
        ],
    )
    .await;
    let mut seen = Vec::new();
    for want in ["e-1", "e-2", "e-3"] {
        let e = first.next().await;
        assert_eq!(e.request_id(), want, "only ERROR records, in order");
        let data = e.json();
        assert_eq!(data["level"], "ERROR");
        assert_eq!(data["service_name"], "tailed");
        assert!(data.get("tail_position").is_none(), "the position is the event id: {data}");
        assert!(!e.id.as_deref().unwrap_or_default().is_empty(), "{e:?}");
        seen.push(e);
    }
    drop(first);
    post(&server, &[rec("ERROR", "e-5"), rec("INFO", "i-2"), rec("ERROR", "e-6")]).await;

    // Reconnect after e-3: e-4 (sent while connected, never read), then
    // what came while away, then live; nothing twice.
    let last = seen[2].id.clone().unwrap();
    let mut second = SseReader::open(&url, Some(&last)).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let e = second.next().await;
        ids.push((e.request_id(), e.id.unwrap()));
    }
    assert_eq!(ids.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(), ["e-4", "e-5", "e-6"]);
    post(&server, &[rec("ERROR", "e-7")]).await;
    assert_eq!(second.next().await.request_id(), "e-7", "live after the replay, no repeat");

    // `last_event_id` in the query does the same for curl users.
    let resume = format!("{url}&last_event_id={}", ids[1].1);
    let mut third = SseReader::open(&resume, None).await;
    assert_eq!(third.next().await.request_id(), "e-6");
    assert_eq!(third.next().await.request_id(), "e-7");

    // Other filters of /logs hold too.
    let mut by_request =
        SseReader::open(&server.url("/logs/tail?request_id=only-me&q=needle"), None).await;
    post(
        &server,
        &[
            json!({"service_name": "tailed", "message": "no needle", "request_id": "other"}),
            json!({"service_name": "tailed", "message": "a needle here", "request_id": "only-me"}),
        ],
    )
    .await;
    assert_eq!(by_request.next().await.request_id(), "only-me");
}

#[tokio::test]
async fn bad_parameters_are_400_and_a_lost_resume_point_is_a_gap_event() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let http = reqwest::Client::new();
    for (query, field) in [
        ("page=2", "page"),
        ("size=10", "size"),
        ("cursor=abc", "cursor"),
        ("sort=oldest", "sort"),
        ("from_timestamp=1", "from_timestamp"),
        ("to_timestamp=1", "to_timestamp"),
        ("level=loud", "level"),
        ("last_event_id=nonsense", "last_event_id"),
    ] {
        let r = http.get(server.url(&format!("/logs/tail?{query}"))).send().await.unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_argument", "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
        assert!(body["message"].as_str().unwrap().contains(field), "{query}: {body}");
    }

    let r = http
        .get(server.url("/logs/tail"))
        .header("Last-Event-ID", "nonsense")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["field"], "Last-Event-ID", "{body}");
    assert!(body["message"].as_str().unwrap().contains("Last-Event-ID"), "{body}");

    // An id from another run of the server: a gap event, then live.
    let mut tail =
        SseReader::open(&server.url("/logs/tail?service_name=gap"), Some("00000000000000ff-3-0"))
            .await;
    let gap = tail.next().await;
    assert_eq!(gap.event, "gap", "{gap:?}");
    let data = gap.json();
    assert!(data["reason"].as_str().unwrap().contains("gone"), "{data}");
    assert_eq!(data["after"], "00000000000000ff-3-0");
    post(
        &server,
        &[json!({"service_name": "gap", "message": "after the gap", "request_id": "g-1"})],
    )
    .await;
    assert_eq!(tail.next().await.request_id(), "g-1");

    let doc: Value =
        http.get(server.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let op = &doc["paths"]["/logs/tail"]["get"];
    assert!(op["responses"]["200"]["content"]["text/event-stream"].is_object(), "{op}");
}

#[tokio::test]
async fn clients_that_leave_are_cleaned_up_and_a_slow_one_never_holds_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let server = Standalone::start(dir.path());
    let gauge = "loglens_gateway_tail_streams";

    let a = SseReader::open(&server.url("/logs/tail"), None).await;
    let b = SseReader::open(&server.url("/logs/tail?level=ERROR"), None).await;
    assert_eq!(metric(&server, gauge).await, Some(2.0));
    drop((a, b));
    // Records give the server something to write, so it notices at once.
    post(&server, &[rec("ERROR", "wake-1")]).await;
    eventually(40, "the tail gauge back at 0", || async {
        (metric(&server, gauge).await == Some(0.0)).then_some(())
    })
    .await;

    // A client that opens the stream and does not read while many
    // thousands of records are posted.
    let mut slow = SseReader::open(&server.url("/logs/tail"), None).await;
    let before = rss_kib(server.pid());
    let batches = 60;
    let per_batch = 500;
    let padding = "x".repeat(300);
    for b in 0..batches {
        let records: Vec<Value> = (0..per_batch)
            .map(|i| {
                json!({"service_name": "flood", "level": "INFO", "message": format!("flood {b} {i} {padding}"), "request_id": format!("f-{b}-{i}")})
            })
            .collect();
        // Every POST completes: ingest never waits for the tail.
        tokio::time::timeout(Duration::from_secs(60), post(&server, &records))
            .await
            .unwrap_or_else(|_| panic!("POST {b} did not complete"));
    }
    let after = rss_kib(server.pid());
    assert!(
        after < before + 200 * 1024,
        "RSS grew from {before} KiB to {after} KiB with a stalled tail client"
    );

    // Reading later: records in order, then (the server no longer holds
    // what followed) a gap event; never a hang.
    let total = batches * per_batch;
    let mut read = 0;
    let mut last_request = String::new();
    let gap = loop {
        let e = slow.next().await;
        match e.event.as_str() {
            // "wake-1" may become searchable after this stream opened.
            "log" if !e.request_id().starts_with("f-") => {}
            "log" => {
                last_request = e.request_id();
                read += 1;
                if read == total {
                    break None;
                }
            }
            "gap" => break Some(e.json()),
            other => panic!("unexpected event {other}: {e:?}"),
        }
    };
    eprintln!(
        "slow client: read {read} of {total} records, then {gap:?}; RSS {before} -> {after} KiB"
    );
    match gap {
        Some(gap) => {
            assert!(read < total, "{read}");
            assert!(gap["reason"].as_str().unwrap().contains("too slow"), "{gap}");
            assert!(gap["after"].is_string() || read == 0, "{gap}");
        }
        None => assert_eq!(last_request, format!("f-{}-{}", batches - 1, per_batch - 1)),
    }
    // Live again afterwards.
    post(&server, &[rec("ERROR", "after-slow")]).await;
    loop {
        let e = slow.next().await;
        if e.event == "log" && e.request_id() == "after-slow" {
            break;
        }
    }
    drop(slow);
    eventually(40, "the tail gauge back at 0", || async {
        (metric(&server, gauge).await == Some(0.0)).then_some(())
    })
    .await;
}
