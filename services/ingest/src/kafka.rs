//! [`KafkaSink`]: accepted records go to the raw topic, and a request is
//! answered only once Kafka acknowledged every one of its records
//! (`acks=all`, idempotent producer; see [`KafkaOptions::producer_config`]).
//!
//! A request's records go as messages of several records each, one per line
//! in the `logs_raw` wire format ([`loglens_kafka::wire::encode_batches`]),
//! one service and tenant per message, keyed by the `service_name`, so one
//! service's records land in one partition and keep their order there.
//! Its headers: the records' tenant ([`wire::TENANT`], on every message, the
//! default tenant's too), the format ([`wire::FORMAT`]) and the producer's
//! `traceparent`.
//!
//! Back-pressure: when the records waiting for their acknowledgement and the
//! request's would be more than [`KafkaOptions::queue_max_messages`], the
//! request fails with `RESOURCE_EXHAUSTED` and the client retries (a request
//! larger than the whole queue is told to send smaller requests).
//!
//! Call [`KafkaSink::flush`] at shutdown: dropping the last handle purges
//! records not yet acknowledged (their requests were not answered OK, so
//! clients resend them, but flushing avoids that).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use loglens_core::{LogRecord, Normalized};
use loglens_kafka::{KafkaOptions, wire};
use loglens_store::Refused;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::RecordSink;

/// A [`RecordSink`] producing to the raw topic.
#[derive(Clone)]
pub struct KafkaSink {
    producer: FutureProducer,
    topic: String,
    /// The producer queue's capacity, in records.
    queue_max: usize,
    /// Records enqueued by requests still waiting for their acknowledgement
    /// (the queue depth gauge). Not librdkafka's `in_flight_count`: that
    /// also counts delivery reports not yet released, so it read 5 with
    /// every record of the only request already acknowledged.
    waiting: Arc<AtomicI64>,
}

/// One request's share of [`KafkaSink::waiting`], given back when the
/// request ends, however it ends.
struct Waiting<'a> {
    total: &'a AtomicI64,
    mine: i64,
}

impl Waiting<'_> {
    fn add(&mut self, n: i64) {
        self.mine += n;
        let now = self.total.fetch_add(n, Ordering::Relaxed) + n;
        metrics::gauge!(crate::metrics::QUEUE_DEPTH).set(now as f64);
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mine = self.mine;
        self.add(-mine);
    }
}

impl KafkaSink {
    /// A sink producing to `options.raw_topic` with the durable producer
    /// settings. Does not contact the broker yet.
    pub fn new(options: &KafkaOptions) -> Result<KafkaSink, loglens_kafka::Error> {
        let producer: FutureProducer = options.producer_config().create()?;
        Ok(KafkaSink {
            producer,
            topic: options.raw_topic.clone(),
            queue_max: options.queue_max_messages,
            waiting: Arc::default(),
        })
    }

    /// The producer, for a caller that must send something of its own
    /// first: `loglens bench` warms it up before its clock starts (an
    /// idempotent producer's first acknowledgement waits 0.5-1 s for its
    /// producer id; BENCHMARKS.md, figure 4).
    pub fn producer(&self) -> &FutureProducer {
        &self.producer
    }

    /// Waits up to `timeout` for every enqueued record to be acknowledged;
    /// call at shutdown. Blocks the calling thread.
    pub fn flush(&self, timeout: Duration) -> Result<(), loglens_kafka::Error> {
        Ok(self.producer.flush(timeout)?)
    }
}

#[async_trait]
impl RecordSink for KafkaSink {
    async fn send_normalized(
        &self,
        batch: Normalized,
        traceparent: Option<&str>,
    ) -> loglens_core::Result<Vec<Refused>> {
        // The processor derives the ids again from the messages.
        self.send(batch.into_records(), traceparent).await
    }

    /// The producer span: its context (child of the caller's) goes into each
    /// record's `traceparent` header, so the processor can link to it; the
    /// caller's `traceparent` is the fallback when tracing is off.
    #[tracing::instrument(skip_all, fields(
        otel.name = %format_args!("send {}", self.topic),
        otel.kind = "producer",
        messaging.system = "kafka",
        messaging.operation.name = "send",
        messaging.destination.name = %self.topic,
        messaging.batch.message_count = records.len(),
    ))]
    async fn send(
        &self,
        records: Vec<LogRecord>,
        traceparent: Option<&str>,
    ) -> loglens_core::Result<Vec<Refused>> {
        let own = loglens_telemetry::propagation::traceparent(&tracing::Span::current());
        let traceparent = own.as_deref().or(traceparent);
        let total = records.len();
        let held = self.waiting.load(Ordering::Relaxed).max(0) as usize;
        if total > self.queue_max {
            return Err(loglens_core::Error::ResourceExhausted(format!(
                "a request of {total} records is more than the Kafka producer queue holds \
                 ({} records, --kafka-queue-max-messages): send smaller requests",
                self.queue_max
            )));
        }
        if held + total > self.queue_max {
            return Err(loglens_core::Error::ResourceExhausted(format!(
                "the Kafka producer queue is full ({held} of {} records waiting): retry shortly",
                self.queue_max
            )));
        }
        let batches = wire::encode_batches(&records);
        let mut deliveries = Vec::with_capacity(batches.len());
        let mut waiting = Waiting { total: &self.waiting, mine: 0 };
        for batch in &batches {
            let message = FutureRecord::to(&self.topic)
                .key(&batch.key)
                .payload(&batch.payload)
                .headers(headers(&batch.tenant, traceparent));
            match self.producer.send_result(message) {
                Ok(delivery) => deliveries.push(delivery),
                // Messages enqueued before this one are still delivered. That is
                // harmless: record ids are content hashes and the store upserts,
                // so the client's retry of the whole batch adds no duplicates.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    return Err(loglens_core::Error::ResourceExhausted(format!(
                        "the Kafka producer queue is full ({} messages waiting): retry shortly",
                        self.queue_max
                    )));
                }
                Err((e, _)) => {
                    return Err(loglens_core::Error::Unavailable(format!(
                        "kafka did not take the record: {e}"
                    )));
                }
            }
        }
        waiting.add(total as i64);
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    return Err(loglens_core::Error::Unavailable(format!(
                        "kafka did not acknowledge a record: {e}"
                    )));
                }
                Err(_cancelled) => {
                    return Err(loglens_core::Error::Unavailable(
                        "kafka did not acknowledge a record: the producer shut down".into(),
                    ));
                }
            }
        }
        Ok(Vec::new())
    }

    fn name(&self) -> &'static str {
        "kafka"
    }
}

/// The headers of one message of records: their tenant, always, their
/// format ([`wire::NDJSON`]) and the producer's trace context when there is
/// one.
fn headers(tenant: &str, traceparent: Option<&str>) -> OwnedHeaders {
    let headers = OwnedHeaders::new_with_capacity(3)
        .insert(Header { key: wire::TENANT, value: Some(tenant) })
        .insert(Header { key: wire::FORMAT, value: Some(wire::NDJSON) });
    match traceparent {
        Some(tp) => headers.insert(Header { key: wire::TRACEPARENT, value: Some(tp) }),
        None => headers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(service: &str) -> LogRecord {
        let raw = loglens_core::RawLog {
            timestamp: Some(loglens_core::TimestampInput::Int(1_714_564_800_000)),
            service_name: Some(service.into()),
            message: Some("ok".into()),
            level: Some("info".into()),
            ..loglens_core::RawLog::default()
        };
        loglens_core::record::normalize(raw, 1_714_564_800_000, &loglens_core::RuleSet::default())
            .unwrap()
    }

    /// No broker needed: nothing can leave a producer with no reachable
    /// broker, so a request's records wait for their acknowledgement until
    /// it is dropped.
    #[tokio::test]
    async fn full_producer_queue_is_resource_exhausted() {
        let mut options = KafkaOptions::new("127.0.0.1:9");
        options.queue_max_messages = 3;
        options.batch_size = 1;
        let sink = KafkaSink::new(&options).unwrap();
        let five = (0..5).map(|i| record(&format!("s{i}"))).collect();
        match sink.send(five, None).await.unwrap_err() {
            loglens_core::Error::ResourceExhausted(m) => assert_eq!(
                m,
                "a request of 5 records is more than the Kafka producer queue holds \
                 (3 records, --kafka-queue-max-messages): send smaller requests"
            ),
            other => panic!("expected RESOURCE_EXHAUSTED, got {other:?}"),
        }
        let waiting = {
            let sink = sink.clone();
            tokio::spawn(async move { sink.send(vec![record("a"), record("b")], None).await })
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.waiting.load(Ordering::Relaxed) < 2 {
            assert!(std::time::Instant::now() < deadline, "the first request never waited");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        match sink.send(vec![record("c"), record("d")], None).await.unwrap_err() {
            loglens_core::Error::ResourceExhausted(m) => assert_eq!(
                m,
                "the Kafka producer queue is full (2 of 3 records waiting): retry shortly"
            ),
            other => panic!("expected RESOURCE_EXHAUSTED, got {other:?}"),
        }
        waiting.abort();
        let _ = waiting.await;
        assert_eq!(
            sink.waiting.load(Ordering::Relaxed),
            0,
            "a dropped request gives its share back"
        );
    }

    fn header<'a>(h: &'a OwnedHeaders, key: &str) -> Option<&'a [u8]> {
        use rdkafka::message::Headers as _;
        h.iter().find(|h| h.key == key).and_then(|h| h.value)
    }

    #[test]
    fn every_message_names_its_tenant() {
        let h = headers("default", None);
        assert_eq!(header(&h, wire::TENANT), Some(&b"default"[..]), "the default tenant too");
        assert_eq!(header(&h, wire::TRACEPARENT), None);
        assert_eq!(header(&h, wire::FORMAT), Some(wire::NDJSON.as_bytes()));
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let h = headers("acme", Some(tp));
        assert_eq!(header(&h, wire::TENANT), Some(&b"acme"[..]));
        assert_eq!(header(&h, wire::TRACEPARENT), Some(tp.as_bytes()));
        assert_eq!(
            wire::tenant(header(&h, wire::TENANT)).unwrap(),
            "acme",
            "the processor reads it back"
        );
    }
}
