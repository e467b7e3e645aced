//! The live tail behind [`LogStore::subscribe`](crate::LogStore::subscribe):
//! one broadcast channel of [`Committed`] batches per store, closed with it.

use std::sync::Arc;

use loglens_core::LogRecord;
use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::Committed;

/// The sending side of the tail, for whoever learns that records became
/// searchable (the store itself, or a background thread).
#[derive(Debug, Clone)]
pub(crate) struct Publisher(broadcast::Sender<Committed>);

impl Publisher {
    /// Whether anyone listens: a producer may skip keeping records otherwise.
    #[cfg_attr(not(feature = "tantivy"), allow(dead_code))]
    pub fn has_subscribers(&self) -> bool {
        self.0.receiver_count() > 0
    }

    /// Sends one batch to every subscriber; an empty batch is not sent, and
    /// a batch nobody listens for is dropped.
    pub fn publish(&self, records: Vec<LogRecord>) {
        if !records.is_empty() {
            let _ = self.0.send(Arc::new(records));
        }
    }
}

/// The store's handle on its tail. Subscribers see `RecvError::Closed` once
/// the store closed it and every [`Publisher`] clone is gone.
#[derive(Debug)]
pub(crate) struct Tail {
    /// `None` once closed.
    publisher: Mutex<Option<Publisher>>,
}

impl Tail {
    /// A tail keeping up to `capacity` batches for a slow subscriber (it
    /// lags beyond that), and a publisher for it.
    pub fn new(capacity: usize) -> (Tail, Publisher) {
        let publisher = Publisher(broadcast::channel(capacity).0);
        (Tail { publisher: Mutex::new(Some(publisher.clone())) }, publisher)
    }

    /// A receiver of the batches published from now on; after
    /// [`Tail::close`], one that is closed already.
    pub fn subscribe(&self) -> broadcast::Receiver<Committed> {
        match &*self.publisher.lock() {
            Some(p) => p.0.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// Publishes a batch, unless the tail is closed.
    #[cfg_attr(not(feature = "elasticsearch"), allow(dead_code))]
    pub fn publish(&self, records: Vec<LogRecord>) {
        if let Some(p) = &*self.publisher.lock() {
            p.publish(records);
        }
    }

    /// Drops the store's publisher: subscribers see the end of the stream
    /// once the other publishers are gone too.
    pub fn close(&self) {
        self.publisher.lock().take();
    }
}

#[cfg(test)]
mod tests {
    use broadcast::error::{RecvError, TryRecvError};

    use super::*;

    fn record(id: &str) -> LogRecord {
        let raw = loglens_core::RawLog {
            service_name: Some("svc".into()),
            message: Some(id.into()),
            ..loglens_core::RawLog::default()
        };
        loglens_core::record::normalize(raw, 1_700_000_000_000, &loglens_core::RuleSet::default())
            .unwrap()
    }

    #[tokio::test]
    async fn subscribers_get_non_empty_batches_until_closed() {
        let (tail, publisher) = Tail::new(4);
        assert!(!publisher.has_subscribers());
        let mut rx = tail.subscribe();
        assert!(publisher.has_subscribers());
        tail.publish(Vec::new());
        tail.publish(vec![record("a")]);
        publisher.publish(vec![record("b"), record("c")]);
        assert_eq!(rx.recv().await.unwrap().len(), 1);
        assert_eq!(rx.recv().await.unwrap().len(), 2);
        tail.close();
        tail.publish(vec![record("dropped")]);
        assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty, "a publisher is left");
        drop(publisher);
        assert_eq!(rx.recv().await.unwrap_err(), RecvError::Closed);
        assert_eq!(tail.subscribe().recv().await.unwrap_err(), RecvError::Closed);
    }
}
