//! Figure 4: end to end through Kafka beside raw rdkafka on the same broker.
//!
//! A nisshi broker (memory storage) is started for the run. The ceiling is
//! plain rdkafka with loglens's own client settings: the raw JSON of every
//! record produced to a fresh 3-partition topic while one consumer, already
//! holding its partitions, reads it back; the time runs from the first send
//! to the last message consumed. The loglens run is the ingest path's
//! `KafkaSink` (batches of 1,000, 4 in flight) into `logs_raw`, a
//! `Processor` with the binary's defaults (bulk 1,000, 0.5 s) indexing into
//! a fresh store, and the time runs from the first send until a search
//! counts every record. The CPU time of this process and of the broker over
//! that time is measured too (from `/proc`). [`drain`] times the processor
//! alone on a topic filled beforehand. Both producers are made and
//! warmed up (one acknowledged message to a topic of their own) before their
//! clock starts, as a long-running ingest role's producer is.

use std::collections::HashSet;
use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use futures::stream::{self, StreamExt};
use loglens_core::{Filter, LogRecord, RuleSet, SearchRequest, Sort};
use loglens_ingest::RecordSink;
use loglens_ingest::kafka::KafkaSink;
use loglens_kafka::{Compression, KafkaOptions};
use loglens_processor::{Processor, ProcessorConfig};
use loglens_store::StoreOptions;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::{IN_FLIGHT, StoreKind, bar};

/// How long the broker and group joins may take.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the end-to-end run may take beyond the produce side.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(600);

/// A nisshi broker with memory storage on a free port, killed on drop.
pub(crate) struct Broker {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Broker {
    /// Starts `bin broker` in `dir` and waits until it accepts connections.
    pub fn start(bin: &Path, dir: &Path) -> Result<Broker> {
        std::fs::create_dir_all(dir)?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = dir.join("nisshi.log");
        let out = File::create(&log)?;
        let child = Command::new(bin)
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://nisshi/"])
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .env_remove("CLUSTER_ID")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start the Kafka broker {} (set --nisshi or LOGLENS_NISSHI; scripts/test installs it)",
                    bin.display()
                )
            })?;
        let mut broker = Broker { child, port, log };
        let deadline = Instant::now() + READY_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = broker.child.try_wait()? {
                bail!(
                    "the Kafka broker exited ({status}) before it was ready:\n{}",
                    broker.log_tail()
                );
            }
            ensure!(
                Instant::now() < deadline,
                "the Kafka broker was not ready in 60 s:\n{}",
                broker.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(broker)
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// CPU time the broker has used so far; `None` without `/proc`.
    fn cpu(&self) -> Option<Duration> {
        crate::protocols::cpu_time(self.child.id())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What figure 4 measured.
pub(crate) struct KafkaRun {
    /// Raw rdkafka: first send to the last message consumed.
    pub ceiling: Duration,
    /// Raw rdkafka: first send to the last delivery acknowledged.
    pub ceiling_produce: Duration,
    /// loglens: first send to every record searchable.
    pub end_to_end: Duration,
    /// loglens: first send to every batch acknowledged by the broker.
    pub produce: Duration,
    /// Distinct records searched for at the end.
    pub distinct: usize,
    /// loglens: CPU time of this process over `end_to_end` (producer,
    /// processor, store and the search that watches); `None` without `/proc`.
    pub cpu: Option<Duration>,
    /// loglens: CPU time of the broker over `end_to_end`.
    pub broker_cpu: Option<Duration>,
}

/// Runs both halves of figure 4 on a broker of its own.
pub(crate) async fn run(
    nisshi: &Path,
    dir: &Path,
    kind: StoreKind,
    payloads: &[&[u8]],
    records: Vec<LogRecord>,
    rules: Arc<RuleSet>,
    compression: Compression,
) -> Result<KafkaRun> {
    let broker = Broker::start(nisshi, &dir.join("broker"))?;
    let bootstrap = broker.bootstrap();
    let (ceiling, ceiling_produce) = raw_rdkafka(&bootstrap, payloads, compression).await?;
    let run = loglens(&broker, kind, &dir.join("store"), records, rules, compression).await?;
    drop(broker);
    Ok(KafkaRun {
        ceiling,
        ceiling_produce,
        end_to_end: run.searchable,
        produce: run.produced,
        distinct: run.distinct,
        cpu: run.cpu,
        broker_cpu: run.broker_cpu,
    })
}

/// Options for a topic of this run; the producer and consumer settings are
/// loglens's own.
fn options(bootstrap: &str, topic: &str, compression: Compression) -> KafkaOptions {
    let mut o = KafkaOptions::new(bootstrap);
    o.compression = compression;
    o.raw_topic = topic.to_owned();
    o.dlq_topic = format!("{topic}_dlq");
    o
}

/// Sends one empty message through `producer` to a topic of its own and
/// waits for its acknowledgement, so that the clock never counts the
/// producer's start: an idempotent producer's first acknowledgement waits
/// for its producer id, which librdkafka asks for again every 500 ms until
/// a broker connection is up (0.5-1 s after the producer is made; a
/// long-running ingest role pays that once, at start).
async fn warm_up(
    producer: &FutureProducer,
    bootstrap: &str,
    compression: Compression,
) -> Result<()> {
    let o = options(bootstrap, WARM_UP_TOPIC, compression);
    loglens_kafka::topics::ensure_topics(&o).await?;
    let delivery = producer
        .send_result(FutureRecord::<(), [u8]>::to(WARM_UP_TOPIC).payload(&[]))
        .map_err(|(e, _)| e)
        .context("warming the producer up")?;
    delivery.await.context("warm-up producer dropped")?.map_err(|(e, _)| e).context("warm-up")?;
    Ok(())
}

/// The topic [`warm_up`] writes to; no one reads it.
const WARM_UP_TOPIC: &str = "bench_warm_up";

/// Waits until `consumer` holds at least one partition, polling it (the
/// group join happens inside poll).
fn join_group<C: rdkafka::consumer::ConsumerContext>(consumer: &BaseConsumer<C>) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    while consumer.assignment().map(|a| a.count()).unwrap_or(0) == 0 {
        ensure!(Instant::now() < deadline, "the benchmark consumer got no partitions in 60 s");
        if let Some(r) = consumer.poll(Duration::from_millis(100)) {
            r.context("consumer poll while joining")?;
            bail!("a message arrived on a topic that should be empty");
        }
    }
    Ok(())
}

/// The ceiling: raw payloads through rdkafka, produced and consumed at once.
async fn raw_rdkafka(
    bootstrap: &str,
    payloads: &[&[u8]],
    compression: Compression,
) -> Result<(Duration, Duration)> {
    let o = options(bootstrap, "bench_raw", compression);
    loglens_kafka::topics::ensure_topics(&o).await?;
    let consumer: BaseConsumer = o.consumer_config("bench-raw").create()?;
    consumer.subscribe(&[&o.raw_topic])?;
    let consumer =
        tokio::task::spawn_blocking(move || join_group(&consumer).map(|()| consumer)).await??;
    let producer: FutureProducer = o.producer_config().create()?;
    warm_up(&producer, bootstrap, compression).await?;
    let n = payloads.len();
    let pb = bar(n, "4 raw rdkafka ceiling");
    let started = Instant::now();
    let reader = tokio::task::spawn_blocking(move || -> Result<Duration> {
        let mut seen = 0;
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while seen < n {
            ensure!(Instant::now() < deadline, "raw consumer read {seen} of {n} messages in 600 s");
            if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                m.context("raw consumer")?;
                seen += 1;
            }
        }
        Ok(started.elapsed())
    });
    let mut deliveries = Vec::with_capacity(n);
    for (i, p) in payloads.iter().enumerate() {
        loop {
            match producer.send_result(FutureRecord::<(), [u8]>::to(&o.raw_topic).payload(p)) {
                Ok(d) => {
                    deliveries.push(d);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((e, _)) => bail!("raw producer: {e}"),
            }
        }
        if i % 4096 == 0 {
            pb.set_position(i as u64);
        }
    }
    for d in deliveries {
        d.await.context("raw producer dropped")?.map_err(|(e, _)| e).context("raw delivery")?;
    }
    let produced = started.elapsed();
    let consumed = reader.await??;
    pb.finish_and_clear();
    Ok((consumed, produced))
}

/// What the loglens half of figure 4 measured.
struct LoglensRun {
    /// First send to every record searchable.
    searchable: Duration,
    /// First send to every batch acknowledged.
    produced: Duration,
    /// Distinct records searched for.
    distinct: usize,
    /// This process's CPU time over `searchable`.
    cpu: Option<Duration>,
    /// The broker's CPU time over `searchable`.
    broker_cpu: Option<Duration>,
}

/// loglens: ingest's Kafka sink -> broker -> processor -> searchable.
async fn loglens(
    broker: &Broker,
    kind: StoreKind,
    store_dir: &Path,
    records: Vec<LogRecord>,
    rules: Arc<RuleSet>,
    compression: Compression,
) -> Result<LoglensRun> {
    let o = options(&broker.bootstrap(), "logs_raw", compression);
    let distinct = distinct(&records);
    let store = kind.open(store_dir, &StoreOptions::default()).await?;
    let processor = processor(&o, store.clone(), rules).await?;
    let sink = KafkaSink::new(&o)?;
    warm_up(sink.producer(), &broker.bootstrap(), compression).await?;
    let pb = bar(records.len(), "4 loglens through kafka");
    let batches = crate::batches(records);
    let (own_cpu, broker_cpu) = (crate::protocols::OwnCpu::start(), broker.cpu());
    let started = Instant::now();
    let watcher = tokio::spawn(searchable(store.clone(), distinct, started, pb.clone()));
    produce(&sink, batches).await?;
    let produced = started.elapsed();
    let searchable = watcher.await??;
    let cpu = own_cpu.elapsed();
    let broker_cpu = broker_cpu.zip(broker.cpu()).map(|(before, now)| now - before);
    pb.finish_and_clear();
    processor.stop().await?;
    store.close().await?;
    Ok(LoglensRun { searchable, produced, distinct, cpu, broker_cpu })
}

/// What [`drain`] measured.
pub(crate) struct DrainRun {
    /// The processor holding its partitions to every record searchable.
    pub took: Duration,
    /// This process's CPU time over `took` (the processor, the store and
    /// the search that watches).
    pub cpu: Option<Duration>,
    /// The broker's CPU time over `took`.
    pub broker_cpu: Option<Duration>,
}

/// Figure 4's processor alone: `records` produced through the ingest
/// side's sink into `logs_raw` on a broker of its own first, then a
/// processor started; the time runs from the processor holding its
/// partitions until a search counts every record. The producer's work is
/// outside the time, so this compares with the store path plus parsing
/// and normalising.
pub(crate) async fn drain(
    nisshi: &Path,
    dir: &Path,
    kind: StoreKind,
    records: Vec<LogRecord>,
    rules: Arc<RuleSet>,
    compression: Compression,
) -> Result<DrainRun> {
    let broker = Broker::start(nisshi, &dir.join("broker"))?;
    let o = options(&broker.bootstrap(), "logs_raw", compression);
    loglens_kafka::topics::ensure_topics(&o).await?;
    let (n, distinct) = (records.len(), distinct(&records));
    let sink = KafkaSink::new(&o)?;
    produce(&sink, crate::batches(records)).await?;
    let pb = bar(n, "4 processor draining");
    let store = kind.open(&dir.join("store"), &StoreOptions::default()).await?;
    let processor = processor(&o, store.clone(), rules).await?;
    let (own_cpu, broker_cpu) = (crate::protocols::OwnCpu::start(), broker.cpu());
    let started = Instant::now();
    let took = searchable(store.clone(), distinct, started, pb.clone()).await?;
    let cpu = own_cpu.elapsed();
    let broker_cpu = broker_cpu.zip(broker.cpu()).map(|(before, now)| now - before);
    pb.finish_and_clear();
    processor.stop().await?;
    store.close().await?;
    Ok(DrainRun { took, cpu, broker_cpu })
}

/// How many distinct records (by id) `records` holds: what a search counts
/// once all are stored.
fn distinct(records: &[LogRecord]) -> usize {
    records.iter().map(|r| r.id.as_str()).collect::<HashSet<_>>().len()
}

/// The processor the `loglens` binary runs by default, on `o`'s raw topic.
fn processor_config(o: &KafkaOptions, rules: Arc<RuleSet>) -> ProcessorConfig {
    ProcessorConfig {
        kafka: o.clone(),
        group: "bench-processor".into(),
        bulk_size: 1000,
        bulk_timeout: Duration::from_millis(500),
        rules,
    }
}

/// A [`Processor`] on `o` into `store`, once it holds its partitions
/// (polled every 2 ms: it reads from the moment it holds them).
async fn processor(
    o: &KafkaOptions,
    store: Arc<dyn loglens_store::LogStore>,
    rules: Arc<RuleSet>,
) -> Result<Processor> {
    let processor = Processor::start(processor_config(o, rules), store).await?;
    let ledger = processor.ledger();
    let deadline = Instant::now() + READY_TIMEOUT;
    while !loglens_core::ledger::LedgerView::snapshot(ledger.as_ref()).iter().any(|p| p.assigned) {
        ensure!(Instant::now() < deadline, "the processor got no partitions in 60 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(processor)
}

/// `batches` through `sink`, [`IN_FLIGHT`] at once, until every one is
/// acknowledged.
async fn produce(sink: &KafkaSink, batches: Vec<Vec<LogRecord>>) -> Result<()> {
    let mut acks = stream::iter(batches).map(|b| sink.send(b, None)).buffer_unordered(IN_FLIGHT);
    while let Some(r) = acks.next().await {
        let refused = r.context("producing through the ingest Kafka sink")?;
        ensure!(refused.is_empty(), "the Kafka sink refused {} records", refused.len());
    }
    Ok(())
}

/// Searches `store` every 20 ms until it counts `distinct` records; how
/// long that took since `started`.
async fn searchable(
    store: Arc<dyn loglens_store::LogStore>,
    distinct: usize,
    started: Instant,
    pb: indicatif::ProgressBar,
) -> Result<Duration> {
    let everything = SearchRequest::new(Filter::default(), Sort::NewestFirst, None, Some(1), None)?;
    let deadline = started + DRAIN_TIMEOUT;
    loop {
        let total = store.search(&everything).await?.total as usize;
        pb.set_position(total as u64);
        if total >= distinct {
            return Ok(started.elapsed());
        }
        ensure!(Instant::now() < deadline, "{total} of {distinct} records searchable after 600 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
