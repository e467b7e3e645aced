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
//! Memory is bounded by the node's ingest byte budget (shared with every
//! other ingest door): each decoded message holds its raw size from the
//! budget until its batch is delivered. When the budget is spent, UDP
//! messages are dropped (counted as `resource_exhausted`) and TCP readers
//! wait, which slows the sender through TCP flow control.
//!
//! Stopping (step 1 of the node's shutdown order): the sockets close, and
//! the batch held is handed to the sink before intake closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use loglens_core::budget::{BudgetPermit, ByteBudget};
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
/// How long a TCP reader waits before asking the spent budget again.
const BUDGET_RETRY: Duration = Duration::from_millis(20);
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
    budget: Arc<ByteBudget>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let intake = Intake { tx, rules, budget, warn: Arc::new(Throttle::default()) };
    let udp = tokio::spawn(serve_udp(sockets.udp, intake.clone(), stop.clone()));
    let tcp = tokio::spawn(serve_tcp(sockets.tcp, intake, stop));
    let batches = tokio::spawn(batch(rx, sink));
    tokio::spawn(async move {
        let _ = udp.await;
        let _ = tcp.await;
        // Every sender is gone: the batcher flushes and ends.
        let _ = batches.await;
    })
}

/// A decoded record on its way to a batch, holding its bytes of the budget.
struct Queued {
    protocol: &'static str,
    record: LogRecord,
    permit: BudgetPermit,
}

/// What every reader shares: the queue to the batcher, the rules, the
/// budget and the warning throttle.
#[derive(Clone)]
struct Intake {
    tx: mpsc::Sender<Queued>,
    rules: Arc<RuleSet>,
    budget: Arc<ByteBudget>,
    warn: Arc<Throttle>,
}

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

async fn serve_udp(socket: UdpSocket, intake: Intake, stop: CancellationToken) {
    let Intake { tx, rules, budget, warn } = intake;
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
        let Some(record) = read(UDP, &buf[..n], &rules, &warn) else { continue };
        let queued = budget.try_take(n).ok().map(|permit| Queued { protocol: UDP, record, permit });
        if queued.is_none_or(|q| tx.try_send(q).is_err()) {
            metrics::rejected(UDP, "resource_exhausted", 1);
            warn.warn(|suppressed| {
                tracing::warn!(suppressed, "syslog ingest overloaded; UDP messages dropped")
            });
        }
    }
}

async fn serve_tcp(listener: TcpListener, intake: Intake, stop: CancellationToken) {
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
                connections.spawn(serve_connection(stream, peer, intake.clone(), stop.clone()));
            }
            Ok((_, peer)) => {
                intake.warn.warn(|suppressed| {
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
    intake: Intake,
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
                let _ = take(frame, &intake, &stop).await;
            }
            return;
        }
        framer.push(&buf[..n]);
        while let Some(frame) = framer.next_frame() {
            if !take(frame, &intake, &stop).await {
                return;
            }
        }
    }
}

/// Handles one TCP frame, waiting while the budget is spent; false when
/// the node is stopping.
async fn take(frame: Frame, intake: &Intake, stop: &CancellationToken) -> bool {
    let warn = &intake.warn;
    match frame {
        Frame::Message(bytes) => {
            let Some(record) = read(TCP, &bytes, &intake.rules, warn) else { return true };
            let permit = loop {
                match intake.budget.try_take(bytes.len()) {
                    Ok(permit) => break permit,
                    Err(_) => tokio::select! {
                        _ = stop.cancelled() => return false,
                        _ = tokio::time::sleep(BUDGET_RETRY) => {}
                    },
                }
            };
            intake.tx.send(Queued { protocol: TCP, record, permit }).await.is_ok()
        }
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
/// Takes whatever the queue holds at each wake-up (not one record per
/// wake-up), and sets the batch's deadline once, when its first record
/// comes.
async fn batch(mut rx: mpsc::Receiver<Queued>, sink: Arc<dyn RecordSink>) {
    let mut batch: Vec<Queued> = Vec::with_capacity(BATCH_MAX);
    loop {
        if rx.recv_many(&mut batch, BATCH_MAX).await == 0 {
            break;
        }
        let deadline = tokio::time::sleep(BATCH_WAIT);
        tokio::pin!(deadline);
        while batch.len() < BATCH_MAX {
            let room = BATCH_MAX - batch.len();
            tokio::select! {
                n = rx.recv_many(&mut batch, room) => if n == 0 {
                    break;
                },
                () = &mut deadline => break,
            }
        }
        deliver(std::mem::replace(&mut batch, Vec::with_capacity(BATCH_MAX)), sink.as_ref()).await;
    }
}

/// Hands `batch` to the sink; its budget is given back when this returns.
async fn deliver(batch: Vec<Queued>, sink: &dyn RecordSink) {
    let protocols: Vec<&'static str> = batch.iter().map(|q| q.protocol).collect();
    let mut permits = Vec::with_capacity(batch.len());
    let records: Vec<LogRecord> = batch
        .into_iter()
        .map(|q| {
            permits.push(q.permit);
            q.record
        })
        .collect();
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
    // The records are the sink's now: their bytes go back to the budget.
    drop(permits);
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

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use async_trait::async_trait;
    use loglens_store::Refused;
    use parking_lot::Mutex;
    use tokio::io::AsyncWriteExt;
    use tokio::sync::watch;

    use super::*;

    /// Keeps what it is sent (and the size of each batch), but only once
    /// the gate is open.
    struct Gated {
        open: watch::Receiver<bool>,
        got: Mutex<Vec<String>>,
        sizes: Mutex<Vec<usize>>,
    }

    impl Gated {
        fn new(open: watch::Receiver<bool>) -> Arc<Gated> {
            Arc::new(Gated { open, got: Mutex::default(), sizes: Mutex::default() })
        }
    }

    #[async_trait]
    impl RecordSink for Gated {
        async fn send(
            &self,
            records: Vec<LogRecord>,
            _: Option<&str>,
        ) -> loglens_core::Result<Vec<Refused>> {
            let mut open = self.open.clone();
            let _ = open.wait_for(|o| *o).await;
            self.sizes.lock().push(records.len());
            self.got.lock().extend(records.into_iter().map(|r| r.message));
            Ok(Vec::new())
        }

        async fn send_normalized(
            &self,
            batch: loglens_core::Normalized,
            traceparent: Option<&str>,
        ) -> loglens_core::Result<Vec<Refused>> {
            self.send(batch.into_records(), traceparent).await
        }
    }

    fn line(i: usize) -> String {
        format!(
            "<13>1 2026-12-01T10:00:00Z host app - - - message number {i:03} {}",
            "x".repeat(60)
        )
    }

    async fn received(sink: &Gated, n: usize) -> Vec<String> {
        for _ in 0..500 {
            if sink.got.lock().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        sink.got.lock().clone()
    }

    /// Every queued record reaches the sink, in batches of at most
    /// `BATCH_MAX`; a batch that does not fill goes out at its deadline.
    #[tokio::test]
    async fn the_batcher_delivers_everything_in_bounded_batches() {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (_open, gate) = watch::channel(true);
        let sink = Gated::new(gate);
        let task = tokio::spawn(batch(rx, sink.clone()));
        let budget = ByteBudget::new(1 << 30);
        let queued = |i: usize| {
            let bytes = line(i);
            let record = read(TCP, bytes.as_bytes(), &RuleSet::default(), &Throttle::default());
            let permit = budget.try_take(bytes.len()).unwrap();
            Queued { protocol: TCP, record: record.unwrap(), permit }
        };
        let n = 2 * BATCH_MAX + 7;
        for i in 0..n {
            tx.send(queued(i)).await.unwrap();
        }
        let delivered = || sink.sizes.lock().iter().sum::<usize>();
        for _ in 0..500 {
            if delivered() == n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(delivered(), n, "the last, partial batch goes out at its deadline");
        let sizes = sink.sizes.lock().clone();
        assert!(sizes.iter().all(|s| (1..=BATCH_MAX).contains(s)), "{sizes:?}");

        tx.send(queued(n)).await.unwrap();
        drop(tx);
        task.await.unwrap();
        assert_eq!(delivered(), n + 1, "closing the queue flushes what it held");
        assert_eq!(budget.in_use(), 0, "every byte is given back");
    }

    /// A budget of about three messages, a sink that takes nothing yet:
    /// UDP beyond the budget is dropped, TCP waits and loses nothing.
    #[tokio::test]
    async fn a_spent_budget_drops_udp_and_holds_tcp_back() {
        let budget = ByteBudget::new(3 * line(0).len());
        let (open, gate) = watch::channel(false);
        let sink = Gated::new(gate);
        let sockets = Sockets::bind((Ipv4Addr::LOCALHOST, 0).into()).await.unwrap();
        let addr = sockets.local_addr().unwrap();
        let stop = CancellationToken::new();
        let task = spawn(
            sockets,
            sink.clone(),
            Arc::new(RuleSet::default()),
            budget.clone(),
            stop.clone(),
        );

        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        for i in 0..20 {
            udp.send_to(line(i).as_bytes(), addr).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(budget.in_use() > 0, "held records keep their bytes");
        open.send(true).unwrap();
        let udp_got = received(&sink, 3).await;
        assert!(
            (1..=3).contains(&udp_got.len()),
            "only what fits the budget is kept, got {}",
            udp_got.len()
        );

        open.send(false).unwrap();
        sink.got.lock().clear();
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let lines: String = (100..130).map(|i| line(i) + "\n").collect();
        let writer = tokio::spawn(async move {
            tcp.write_all(lines.as_bytes()).await.unwrap();
            tcp.shutdown().await.unwrap();
            tcp
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(sink.got.lock().is_empty());
        open.send(true).unwrap();
        let tcp_got = received(&sink, 30).await;
        let want: Vec<usize> = (100..130).collect();
        let mut numbers: Vec<usize> =
            tcp_got.iter().map(|m| m.split(' ').nth(2).unwrap().parse().unwrap()).collect();
        numbers.sort_unstable();
        assert_eq!(numbers, want, "TCP waits for the budget and loses nothing");
        drop(writer.await.unwrap());

        stop.cancel();
        task.await.unwrap();
        assert_eq!(budget.in_use(), 0, "every byte is given back");
    }
}
