//! The syslog listener: UDP and TCP on one port, messages decoded by
//! [`loglens_receivers::syslog`], normalised and scored like any other
//! record, and handed to the node's ingest sink in batches (up to
//! [`BATCH_MAX`] records or [`BATCH_WAIT`] after the first).
//!
//! TCP framing (RFC 6587) is detected per message: octet counting when a
//! frame starts with a digit, otherwise one message per line. A frame
//! longer than [`syslog::MAX_MESSAGE_BYTES`] is counted as rejected and
//! skipped; the connection goes on with the next frame. Nothing a sender
//! does is fatal: bad messages are counted (metrics with protocol
//! `syslog_udp` / `syslog_tcp`) and logged at most every few seconds.
//!
//! Stopping (step 1 of the node's shutdown order): the sockets close, and
//! the batch held is handed to the sink before intake closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use loglens_core::{LogRecord, RuleSet};
use loglens_ingest::RecordSink;
use loglens_receivers::metrics;
use loglens_receivers::syslog::{self, Frame, Framer};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

/// Most records in one batch to the sink.
pub const BATCH_MAX: usize = 500;
/// Longest a record waits for its batch to fill.
pub const BATCH_WAIT: Duration = Duration::from_millis(200);
/// Most TCP connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 1024;
/// Records decoded but not yet in a batch; a full queue slows TCP readers
/// and drops UDP datagrams (counted).
const QUEUE: usize = 10_000;
/// At most one warning per this long about bad input.
const WARN_EVERY: Duration = Duration::from_secs(10);

const UDP: &str = "syslog_udp";
const TCP: &str = "syslog_tcp";

/// The bound sockets, UDP and TCP on the same port.
pub struct Sockets {
    udp: UdpSocket,
    tcp: TcpListener,
}

impl Sockets {
    /// Binds TCP and UDP on `addr`; with port 0, both on the one free port.
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<Sockets> {
        let mut attempts = 0;
        loop {
            let tcp = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the syslog TCP address {addr}"))?;
            let bound = tcp.local_addr()?;
            match UdpSocket::bind(bound).await {
                Ok(udp) => return Ok(Sockets { udp, tcp }),
                // The free TCP port may be taken for UDP: try another.
                Err(_) if addr.port() == 0 && attempts < 20 => attempts += 1,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("binding the syslog UDP address {bound}"));
                }
            }
        }
    }

    /// The bound address (both protocols).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.tcp.local_addr()?)
    }
}

/// Serves `sockets` until `stop` is cancelled, then hands the last batch to
/// `sink` and returns.
pub fn spawn(
    sockets: Sockets,
    sink: Arc<dyn RecordSink>,
    rules: Arc<RuleSet>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let warn = Arc::new(Throttle::default());
    let udp =
        tokio::spawn(serve_udp(sockets.udp, tx.clone(), rules.clone(), warn.clone(), stop.clone()));
    let tcp = tokio::spawn(serve_tcp(sockets.tcp, tx, rules, warn, stop));
    let batches = tokio::spawn(batch(rx, sink));
    tokio::spawn(async move {
        let _ = udp.await;
        let _ = tcp.await;
        // Every sender is gone: the batcher flushes and ends.
        let _ = batches.await;
    })
}

type Queued = (&'static str, LogRecord);

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Decodes and normalises one message; counts and logs what is wrong.
fn read(
    protocol: &'static str,
    bytes: &[u8],
    rules: &RuleSet,
    warn: &Throttle,
) -> Option<LogRecord> {
    metrics::received(protocol, 1);
    let now = now_ms();
    let (reason, error) = match syslog::decode(bytes, now) {
        Err(e) => ("undecodable", e),
        Ok(raw) => match loglens_core::record::normalize(raw, now, rules) {
            Ok(record) => return Some(record),
            Err(e) => (reason(&e), e),
        },
    };
    metrics::rejected(protocol, reason, 1);
    warn.warn(|suppressed| {
        tracing::warn!(protocol, reason, suppressed, error = %error, "syslog message rejected")
    });
    None
}

fn reason(e: &loglens_core::Error) -> &'static str {
    e.code().as_str()
}

async fn serve_udp(
    socket: UdpSocket,
    tx: mpsc::Sender<Queued>,
    rules: Arc<RuleSet>,
    warn: Arc<Throttle>,
    stop: CancellationToken,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let n = tokio::select! {
            _ = stop.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, _)) => n,
                Err(e) => {
                    // ICMP errors and the like; the socket stays usable.
                    tracing::debug!(error = %e, "syslog UDP receive failed");
                    continue;
                }
            },
        };
        if let Some(record) = read(UDP, &buf[..n], &rules, &warn)
            && tx.try_send((UDP, record)).is_err()
        {
            metrics::rejected(UDP, "resource_exhausted", 1);
            warn.warn(|suppressed| {
                tracing::warn!(suppressed, "syslog queue full; UDP messages dropped")
            });
        }
    }
}

async fn serve_tcp(
    listener: TcpListener,
    tx: mpsc::Sender<Queued>,
    rules: Arc<RuleSet>,
    warn: Arc<Throttle>,
    stop: CancellationToken,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) if connections.len() < MAX_CONNECTIONS => {
                let _ = stream.set_nodelay(true);
                connections.spawn(serve_connection(
                    stream,
                    peer,
                    tx.clone(),
                    rules.clone(),
                    warn.clone(),
                    stop.clone(),
                ));
            }
            Ok((_, peer)) => {
                warn.warn(|suppressed| {
                    tracing::warn!(%peer, suppressed, "too many syslog TCP connections; closing")
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accepting a syslog TCP connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    tx: mpsc::Sender<Queued>,
    rules: Arc<RuleSet>,
    warn: Arc<Throttle>,
    stop: CancellationToken,
) {
    let mut framer = Framer::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            _ = stop.cancelled() => return,
            r = stream.read(&mut buf) => match r {
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "syslog TCP connection failed");
                    0
                }
            },
        };
        if n == 0 {
            if let Some(frame) = framer.finish() {
                let _ = take(frame, &tx, &rules, &warn).await;
            }
            return;
        }
        framer.push(&buf[..n]);
        while let Some(frame) = framer.next_frame() {
            if !take(frame, &tx, &rules, &warn).await {
                return;
            }
        }
    }
}

/// Handles one TCP frame; false when the node is stopping.
async fn take(frame: Frame, tx: &mpsc::Sender<Queued>, rules: &RuleSet, warn: &Throttle) -> bool {
    match frame {
        Frame::Message(bytes) => match read(TCP, &bytes, rules, warn) {
            Some(record) => tx.send((TCP, record)).await.is_ok(),
            None => true,
        },
        Frame::TooLong | Frame::Truncated => {
            metrics::received(TCP, 1);
            let reason = if frame == Frame::TooLong { "too_long" } else { "truncated" };
            metrics::rejected(TCP, reason, 1);
            warn.warn(|suppressed| {
                tracing::warn!(
                    reason,
                    suppressed,
                    max_bytes = syslog::MAX_MESSAGE_BYTES,
                    "syslog TCP frame rejected"
                )
            });
            true
        }
    }
}

/// Collects records into batches for the sink until every sender is gone.
async fn batch(mut rx: mpsc::Receiver<Queued>, sink: Arc<dyn RecordSink>) {
    let mut batch: Vec<Queued> = Vec::with_capacity(BATCH_MAX);
    loop {
        let Some(first) = rx.recv().await else { break };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + BATCH_WAIT;
        while batch.len() < BATCH_MAX {
            tokio::select! {
                r = rx.recv() => match r {
                    Some(q) => batch.push(q),
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        deliver(std::mem::take(&mut batch), sink.as_ref()).await;
    }
}

async fn deliver(batch: Vec<Queued>, sink: &dyn RecordSink) {
    let protocols: Vec<&'static str> = batch.iter().map(|(p, _)| *p).collect();
    let records: Vec<LogRecord> = batch.into_iter().map(|(_, r)| r).collect();
    match sink.send(records, None).await {
        Ok(refused) => {
            let mut ok = vec![true; protocols.len()];
            for r in &refused {
                if let Some(slot) = ok.get_mut(r.position) {
                    *slot = false;
                }
                tracing::warn!(reason = %r.reason, "the store refused a syslog record");
            }
            for protocol in [UDP, TCP] {
                let of = |want: bool| {
                    protocols
                        .iter()
                        .zip(&ok)
                        .filter(|(p, o)| **p == protocol && **o == want)
                        .count()
                };
                metrics::accepted(protocol, of(true));
                metrics::rejected(protocol, "store_refused", of(false));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, records = protocols.len(), "syslog batch not delivered");
            for protocol in [UDP, TCP] {
                let n = protocols.iter().filter(|p| **p == protocol).count();
                metrics::rejected(protocol, reason(&e), n);
            }
        }
    }
}

/// Lets one warning through every [`WARN_EVERY`], counting the rest.
#[derive(Default)]
struct Throttle {
    /// Milliseconds since `epoch` of the last warning, plus one (0: never).
    last: AtomicU64,
    suppressed: AtomicU64,
    epoch: std::sync::OnceLock<Instant>,
}

impl Throttle {
    fn warn(&self, log: impl FnOnce(u64)) {
        let epoch = *self.epoch.get_or_init(Instant::now);
        let now = epoch.elapsed().as_millis() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= WARN_EVERY.as_millis() as u64;
        if due
            && self.last.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            log(self.suppressed.swap(0, Ordering::Relaxed));
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}
