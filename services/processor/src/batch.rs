//! The batch accumulator: consumed messages wait here until their batch
//! closes, at `bulk_size` messages or `bulk_timeout` after its first one.

use std::time::{Duration, Instant};

use loglens_kafka::wire;

use crate::ownership::Partition;

/// A consumed record waiting for its batch, copied out of the consumer: a
/// whole message of one record, or one line of a message of several
/// ([`wire::Format::Records`]), which shares the message's offset and
/// headers. A message's records go into one batch together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
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
    /// The record's bytes: the message's (empty when the message had none),
    /// or its line's.
    pub(crate) payload: Vec<u8>,
    /// The record's line in its message (from 0) when the message holds
    /// several.
    pub(crate) line: Option<u32>,
    /// Why the message's format header is refused, if it is (then
    /// `payload` is the whole message).
    pub(crate) bad_format: Option<String>,
    /// The producer's `traceparent` header.
    pub(crate) traceparent: Option<Vec<u8>>,
    /// The raw value of the [`TENANT`](loglens_kafka::wire::TENANT) header;
    /// `None` when the message has none (read as the default tenant), empty
    /// when it has one with no value.
    pub(crate) tenant: Option<Vec<u8>>,
}

impl Pending {
    /// Its tenant, from its tenant header: see [`wire::tenant`].
    pub(crate) fn tenant(&self) -> loglens_core::Result<&str> {
        wire::tenant(self.tenant.as_deref())
    }

    /// Whether it comes from one of `partitions`.
    pub(crate) fn is_in(&self, partitions: &[Partition]) -> bool {
        partitions.iter().any(|p| p.is(&self.topic, self.partition))
    }
}

/// The open batch.
#[derive(Debug)]
pub(crate) struct Accumulator {
    messages: Vec<Pending>,
    /// When the first message of the open batch arrived.
    opened: Option<Instant>,
    size: usize,
    timeout: Duration,
}

impl Accumulator {
    /// An empty batch that closes at `size` messages or `timeout` after its
    /// first one.
    pub(crate) fn new(size: usize, timeout: Duration) -> Accumulator {
        Accumulator { messages: Vec::new(), opened: None, size, timeout }
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
        self.messages.extend(records);
    }

    /// Records in the open batch.
    pub(crate) fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether the batch is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Whether the batch is closed at `now`: full, or its first message has
    /// waited `timeout`.
    pub(crate) fn is_due(&self, now: Instant) -> bool {
        self.messages.len() >= self.size
            || self.opened.is_some_and(|t| now.saturating_duration_since(t) >= self.timeout)
    }

    /// Takes the batch out, leaving an empty one.
    pub(crate) fn take(&mut self) -> Vec<Pending> {
        self.opened = None;
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

    /// A message of partition `partition` of topic `t`.
    pub(crate) fn message(partition: i32, offset: i64) -> Pending {
        Pending {
            topic: "t".into(),
            partition,
            offset,
            epoch: 1,
            key: None,
            payload: b"{}".to_vec(),
            line: None,
            bad_format: None,
            traceparent: None,
            tenant: None,
        }
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
    fn revoke_drops_and_counts_only_revoked_partitions() {
        let t0 = Instant::now();
        let mut a = Accumulator::new(100, Duration::from_millis(500));
        for (p, o) in [(0, 0), (1, 0), (0, 1), (2, 0)] {
            a.push(message(p, o), t0);
        }
        let revoked = [Partition::new("t", 0), Partition::new("other", 1)];
        assert_eq!(a.revoke(&revoked), 2);
        let left: Vec<i32> = a.take().iter().map(|m| m.partition).collect();
        assert_eq!(left, [1, 2]);

        a.push(message(0, 5), t0);
        assert_eq!(a.revoke(&revoked), 1);
        assert!(a.is_empty());
        assert!(!a.is_due(t0 + Duration::from_secs(5)), "emptied by a revoke: no clock left");
    }
}
