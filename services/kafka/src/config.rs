//! Client settings, built once from [`KafkaOptions`].

use std::str::FromStr;

use rdkafka::ClientConfig;

/// Producer compression codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Snappy: cheap, the default.
    #[default]
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard: smallest, slowest.
    Zstd,
    /// No compression.
    None,
}

impl Compression {
    /// librdkafka's `compression.type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "snappy" => Ok(Compression::Snappy),
            "lz4" => Ok(Compression::Lz4),
            "zstd" => Ok(Compression::Zstd),
            "none" => Ok(Compression::None),
            other => {
                Err(format!("compression must be one of snappy, lz4, zstd, none, got {other:?}"))
            }
        }
    }
}

/// Most bytes one Fetch of the consumer asks for (librdkafka's
/// `fetch.max.bytes`; at least its `message.max.bytes` of 1,000,000).
pub const FETCH_MAX_BYTES: usize = 1 << 20;

/// Everything the roles need to reach Kafka. Field docs name the
/// environment variables the binary reads them from.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// `KAFKA_BOOTSTRAP_SERVERS`, e.g. `localhost:9092`.
    pub bootstrap: String,
    /// `KAFKA_TOPIC`: raw records, default `logs_raw`.
    pub raw_topic: String,
    /// `KAFKA_DLQ_TOPIC`: dead letters, default `logs_dlq`.
    pub dlq_topic: String,
    /// `KAFKA_PARTITIONS`: partitions of topics created at start, default 3.
    pub partitions: i32,
    /// `KAFKA_COMPRESSION`, default snappy.
    pub compression: Compression,
    /// `KAFKA_LOG_BATCH_SIZE`: most messages in one produce request.
    pub batch_size: usize,
    /// `KAFKA_LOG_FLUSH_INTERVAL_MS`: how long the producer waits to fill a batch.
    pub flush_interval_ms: u64,
    /// `KAFKA_QUEUE_MAX_MESSAGES`: records the ingest role may hold unacknowledged;
    /// past that, ingest answers RESOURCE_EXHAUSTED.
    pub queue_max_messages: usize,
}

impl KafkaOptions {
    /// Options for `bootstrap` with every other setting at its default.
    pub fn new(bootstrap: impl Into<String>) -> KafkaOptions {
        KafkaOptions {
            bootstrap: bootstrap.into(),
            raw_topic: "logs_raw".into(),
            dlq_topic: "logs_dlq".into(),
            partitions: 3,
            compression: Compression::default(),
            batch_size: 10_000,
            flush_interval_ms: 5,
            queue_max_messages: 100_000,
        }
    }

    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap).set("client.id", "loglens");
        c
    }

    /// A durable, idempotent producer: `acks=all`, retries, ordering kept
    /// per partition.
    pub fn producer_config(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("acks", "all")
            .set("enable.idempotence", "true")
            .set("compression.type", self.compression.as_str())
            .set("linger.ms", self.flush_interval_ms.to_string())
            .set("batch.num.messages", self.batch_size.max(1).to_string())
            .set("queue.buffering.max.messages", self.queue_max_messages.max(1).to_string())
            .set("message.timeout.ms", "30000");
        c
    }

    /// A consumer in `group` that commits offsets only when told to and
    /// starts from the beginning when the group has no offsets yet.
    pub fn consumer_config(&self, group: &str) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            // librdkafka's default of 1 s stalls consumption (see shared/notes/kafka.md).
            .set("fetch.queue.backoff.ms", "10")
            // A Fetch answered at 1 MiB, not librdkafka's 50 MiB: a nisshi
            // Fetch reads on while data keeps coming until this many bytes,
            // so with messages of many records the processor got its first
            // records about when the producer stopped (BENCHMARKS.md,
            // 2026-12-04, Kafka messages of many records).
            .set("fetch.max.bytes", FETCH_MAX_BYTES.to_string());
        c
    }

    /// Admin and metadata clients.
    pub fn admin_config(&self) -> ClientConfig {
        self.base()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_parses_and_names_accepted_values() {
        assert_eq!("ZSTD".parse::<Compression>().unwrap(), Compression::Zstd);
        assert_eq!(" none ".parse::<Compression>().unwrap(), Compression::None);
        let e = "gzip2".parse::<Compression>().unwrap_err();
        assert_eq!(e, "compression must be one of snappy, lz4, zstd, none, got \"gzip2\"");
    }

    #[test]
    fn producer_is_durable_and_idempotent() {
        let mut o = KafkaOptions::new("h:1");
        o.compression = Compression::Lz4;
        let c = o.producer_config();
        assert_eq!(c.get("acks"), Some("all"));
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("compression.type"), Some("lz4"));
        let c = o.consumer_config("g");
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        assert_eq!(c.get("fetch.max.bytes"), Some("1048576"), "a Fetch answers at 1 MiB");
        assert_eq!(c.get("group.id"), Some("g"));
    }
}
