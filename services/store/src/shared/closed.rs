//! Whether a store was closed: after [`LogStore::close`](crate::LogStore::close)
//! every call fails with [`Error::Closed`] and health says so.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Error, Health, Result};

/// Set once, by the first `close`.
#[derive(Debug, Default)]
pub(crate) struct ClosedFlag(AtomicBool);

impl ClosedFlag {
    /// `Err(Error::Closed)` once the store is closed.
    pub fn check(&self) -> Result<()> {
        if self.is_set() { Err(Error::Closed) } else { Ok(()) }
    }

    /// Whether the store is closed.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Marks the store closed. Only the first call succeeds, so only one
    /// caller goes on to stop the backend; later ones get `Error::Closed`.
    pub fn close(&self) -> Result<()> {
        if self.0.swap(true, Ordering::AcqRel) { Err(Error::Closed) } else { Ok(()) }
    }

    /// The health of a closed store.
    pub fn health() -> Health {
        Health { healthy: false, detail: Error::Closed.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_once() {
        let flag = ClosedFlag::default();
        assert!(!flag.is_set() && flag.check().is_ok());
        assert!(flag.close().is_ok());
        assert!(flag.is_set());
        assert!(matches!(flag.check(), Err(Error::Closed)));
        assert!(matches!(flag.close(), Err(Error::Closed)));
        assert_eq!(ClosedFlag::health().detail, "store is closed");
    }
}
