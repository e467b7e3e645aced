//! A reader of Server-Sent Events (`GET /logs/tail`) for the tests.

#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value;

/// One Server-Sent Event.
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {:?}", self.data))
    }

    pub fn request_id(&self) -> String {
        assert_eq!(self.event, "log", "{self:?}");
        self.json()["request_id"].as_str().expect("request_id").to_owned()
    }
}

/// Reads events from a streaming response.
pub struct SseReader {
    response: reqwest::Response,
    buf: String,
}

impl SseReader {
    /// Opens `GET url` with an optional `Last-Event-ID`; panics unless it is
    /// a 200 event stream.
    pub async fn open(url: &str, last_event_id: Option<&str>) -> SseReader {
        let mut request = reqwest::Client::new().get(url);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        SseReader::send(request, url).await
    }

    /// Sends `request` (a `GET /logs/tail` with whatever headers it needs);
    /// panics unless the answer is a 200 event stream.
    pub async fn send(request: reqwest::RequestBuilder, url: &str) -> SseReader {
        let response = request.send().await.expect("GET /logs/tail");
        assert_eq!(response.status(), 200, "{url}");
        let kind = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        SseReader { response, buf: String::new() }
    }

    /// The next event (keep-alive comments skipped); panics after 30 s
    /// without one, so a hang fails the test.
    pub async fn next(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut event = SseEvent { event: "message".into(), ..SseEvent::default() };
                let mut any = false;
                for line in block.lines() {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "id" => event.id = Some(value.to_owned()),
                        "event" => event.event = value.to_owned(),
                        "data" => {
                            if !event.data.is_empty() {
                                event.data.push('\n');
                            }
                            event.data.push_str(value);
                        }
                        _ => continue, // a comment
                    }
                    any = true;
                }
                if any {
                    return event;
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(30), self.response.chunk())
                .await
                .expect("an event within 30 s")
                .expect("stream readable")
                .expect("stream still open");
            self.buf.push_str(std::str::from_utf8(&chunk).expect("UTF-8 events"));
        }
    }
}
