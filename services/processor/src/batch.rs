//! The batch accumulator: consumed messages wait here until their batch
//! closes, at `bulk_size` records, `bulk_timeout` after its first one, or
//! once the consumer has nothing more to give.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use loglens_kafka::wire;

use crate::ownership::Partition;

/// A consumed message, copied out of the consumer once; the records of a
/// message of several ([`wire::Format::Records`]) share it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Message {
    /// Source topic.
    pub(crate) topic: String,
    /// Source partition.
    pub(crate) partition: i32,
    /// Offset in the partition.
    pub(crate) offset: i64,
    /// The assignment of the partition it was read under (see
    /// [`Ownership`](crate::ownership::Ownership)); 0 when none was known.
    pub(crate) epoch: u64,
    /// Message key.
    pub(crate) key: Option<Vec<u8>>,
    /// The message's bytes (empty when it had none).
    pub(crate) payload: Vec<u8>,
    /// Why the message's format header is refused, if it is (then its one
    /// record is the whole message).
    pub(crate) bad_format: Option<String>,
    /// The producer's `traceparent` header.
    pub(crate) traceparent: Option<Vec<u8>>,
    /// The raw value of the [`TENANT`](loglens_kafka::wire::TENANT) header;
    /// `None` when the message has none (read as the default tenant), empty
    /// when it has one with no value.
    pub(crate) tenant: Option<Vec<u8>>,
}

impl Message {
    /// Its records: one per line when it holds several (`lines`; see
    /// [`wire::lines`]), else itself as one. A message of several with no
    /// line is one record too (dead-lettered as not JSON, so its offset is
    /// committed like any other's), as is one of an unknown format
    /// (dead-lettered whole).
    pub(crate) fn records(self: Arc<Self>, lines: bool) -> Vec<Pending> {
        let mut records = Vec::new();
        if lines {
            let start = self.payload.as_ptr() as usize;
            for (line, bytes) in wire::lines(&self.payload).enumerate() {
                let at = bytes.as_ptr() as usize - start;
                records.push(Pending {
                    message: Arc::clone(&self),
                    bytes: at..at + bytes.len(),
                    line: Some(u32::try_from(line).unwrap_or(u32::MAX)),
                });
            }
        }
        if records.is_empty() {
            records.push(Pending::whole(self));
        }
        records
    }
}

/// A consumed record waiting for its batch: a whole message of one record,
/// or one line of a message of several, which shares the message (its
/// offset and headers). A message's records go into one batch together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    /// The message it came in.
    pub(crate) message: Arc<Message>,
    /// The record's bytes in the message's payload.
    pub(crate) bytes: Range<usize>,
    /// The record's line in its message (from 0) when the message holds
    /// several.
    pub(crate) line: Option<u32>,
}

impl Pending {
    /// The one record that is the whole of `message`.
    pub(crate) fn whole(message: Arc<Message>) -> Pending {
        Pending { bytes: 0..message.payload.len(), message, line: None }
    }

    /// The record's bytes: its message's, or its line's.
    pub(crate) fn payload(&self) -> &[u8] {
        &self.message.payload[self.bytes.clone()]
    }

    /// Its tenant, from its message's tenant header: see [`wire::tenant`].
    pub(crate) fn tenant(&self) -> loglens_core::Result<&str> {
        wire::tenant(self.message.tenant.as_deref())
    }

    /// Whether it comes from one of `partitions`.
    pub(crate) fn is_in(&self, partitions: &[Partition]) -> bool {
        partitions.iter().any(|p| p.is(&self.message.topic, self.message.partition))
    }
}

/// The open batch.
#[derive(Debug)]
pub(crate) struct Accumulator {
    messages: Vec<Pending>,
    /// When the first message of the open batch arrived.
    opened: Option<Instant>,
    /// Whether the consumer had nothing more to give since the last push.
    idle: bool,
    size: usize,
    timeout: Duration,
}

impl Accumulator {
    /// An empty batch that closes at `size` records, `timeout` after its
    /// first one, or when the consumer goes [`idle`](Self::idle).
    pub(crate) fn new(size: usize, timeout: Duration) -> Accumulator {
        Accumulator { messages: Vec::new(), opened: None, idle: false, size, timeout }
    }

    /// Adds a message received at `now`.
    #[cfg(test)]
    pub(crate) fn push(&mut self, message: Pending, now: Instant) {
        self.push_all(std::iter::once(message), now);
    }

    /// Adds the records of one message received at `now` (so they close in
    /// one batch).
    pub(crate) fn push_all(&mut self, records: impl IntoIterator<Item = Pending>, now: Instant) {
        self.opened.get_or_insert(now);
        self.idle = false;
        self.messages.extend(records);
    }

    /// Marks that the consumer had nothing more to give (a poll found no
    /// message): the open batch closes now instead of at its timeout, so a
    /// burst's last records, or a trickle, wait one poll, not
    /// `bulk_timeout`. While records keep coming, batches fill.
    pub(crate) fn idle(&mut self) {
        self.idle = true;
    }

    /// Records in the open batch.
    pub(crate) fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether the batch is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Whether the batch is closed at `now`: full, its first message has
    /// waited `timeout`, or the consumer went [`idle`](Self::idle) after
    /// its last message.
    pub(crate) fn is_due(&self, now: Instant) -> bool {
        self.messages.len() >= self.size
            || (self.idle && !self.messages.is_empty())
            || self.opened.is_some_and(|t| now.saturating_duration_since(t) >= self.timeout)
    }

    /// Takes the batch out, leaving an empty one.
    pub(crate) fn take(&mut self) -> Vec<Pending> {
        self.opened = None;
        self.idle = false;
        std::mem::take(&mut self.messages)
    }

    /// Drops the messages of `revoked` partitions and returns how many went.
    /// The batch's clock restarts only when nothing is left.
    pub(crate) fn revoke(&mut self, revoked: &[Partition]) -> usize {
        let before = self.messages.len();
        self.messages.retain(|m| !m.is_in(revoked));
        if self.messages.is_empty() {
            self.opened = None;
        }
        before - self.messages.len()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A message of partition `partition` of topic `t`, holding `{}`.
    pub(crate) fn source(partition: i32, offset: i64) -> Message {
        Message {
            topic: "t".into(),
            partition,
            offset,
            epoch: 1,
            key: None,
            payload: b"{}".to_vec(),
            bad_format: None,
            traceparent: None,
            tenant: None,
        }
    }

    /// The record that is the whole of [`source`]`(partition, offset)`.
    pub(crate) fn message(partition: i32, offset: i64) -> Pending {
        Pending::whole(Arc::new(source(partition, offset)))
    }

    #[test]
    fn a_message_of_several_records_is_shared_by_its_lines() {
        let m =
            Arc::new(Message { payload: b"{\"a\":1}\r\n\n{\"b\":2}\n".to_vec(), ..source(3, 7) });
        let records = Arc::clone(&m).records(true);
        let got: Vec<(&[u8], Option<u32>)> =
            records.iter().map(|r| (r.payload(), r.line)).collect();
        assert_eq!(got, [(&br#"{"a":1}"#[..], Some(0)), (&br#"{"b":2}"#[..], Some(1))]);
        assert!(records.iter().all(|r| Arc::ptr_eq(&r.message, &m)), "one copy of the message");
        let whole = Arc::clone(&m).records(false);
        assert_eq!((whole.len(), whole[0].payload(), whole[0].line), (1, &m.payload[..], None));
        let empty = Arc::new(Message { payload: b"\n\r\n".to_vec(), ..source(3, 8) });
        let none = empty.records(true);
        assert_eq!((none.len(), none[0].payload(), none[0].line), (1, &b"\n\r\n"[..], None));
    }

    #[test]
    fn closes_at_size() {
        let t0 = Instant::now();
        let mut a = Accumulator::new(3, Duration::from_secs(60));
        assert!(!a.is_due(t0), "an empty batch is never due");
        a.push(message(0, 0), t0);
        a.push(message(0, 1), t0);
        assert!(!a.is_due(t0));
        a.push(message(1, 0), t0);
        assert!(a.is_due(t0));
        assert_eq!(a.take().len(), 3);
        assert!(a.is_empty() && !a.is_due(t0));
    }

    #[test]
    fn closes_at_timeout_after_the_first_message() {
        let t0 = Instant::now();
        let timeout = Duration::from_millis(500);
        let mut a = Accumulator::new(100, timeout);
        assert!(!a.is_due(t0 + timeout * 10), "no clock before the first message");
        a.push(message(0, 0), t0);
        a.push(message(0, 1), t0 + Duration::from_millis(400));
        assert!(!a.is_due(t0 + Duration::from_millis(499)));
        assert!(a.is_due(t0 + timeout), "timed from the first message, not the last");
        a.take();
        a.push(message(0, 2), t0 + Duration::from_secs(2));
        assert!(!a.is_due(t0 + Duration::from_millis(2100)), "a new batch has a new clock");
    }

    #[test]
    fn closes_once_the_consumer_has_nothing_more() {
        let t0 = Instant::now();
        let mut a = Accumulator::new(100, Duration::from_secs(60));
        a.idle();
        assert!(!a.is_due(t0), "an empty batch is never due");
        a.push(message(0, 0), t0);
        assert!(!a.is_due(t0), "a message came after the idle poll");
        a.push(message(0, 1), t0);
        a.idle();
        assert!(a.is_due(t0), "nothing more to wait for");
        assert_eq!(a.take().len(), 2);
        a.push(message(0, 2), t0);
        assert!(!a.is_due(t0), "the next batch waits for the next idle poll");
    }

    #[test]
    fn revoke_drops_and_counts_only_revoked_partitions() {
        let t0 = Instant::now();
        let mut a = Accumulator::new(100, Duration::from_millis(500));
        for (p, o) in [(0, 0), (1, 0), (0, 1), (2, 0)] {
            a.push(message(p, o), t0);
        }
        let revoked = [Partition::new("t", 0), Partition::new("other", 1)];
        assert_eq!(a.revoke(&revoked), 2);
        let left: Vec<i32> = a.take().iter().map(|m| m.message.partition).collect();
        assert_eq!(left, [1, 2]);

        a.push(message(0, 5), t0);
        assert_eq!(a.revoke(&revoked), 1);
        assert!(a.is_empty());
        assert!(!a.is_due(t0 + Duration::from_secs(5)), "emptied by a revoke: no clock left");
    }
}
