//! Store errors.

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request was invalid (bad cursor, too many buckets, ...).
    #[error(transparent)]
    Invalid(#[from] loglens_core::Error),
    /// The store's configuration or URL is wrong.
    #[error("{0}")]
    Config(String),
    /// Disk I/O failed.
    #[error("store i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The backend failed.
    #[error("store backend: {0}")]
    Backend(String),
    /// The store was closed.
    #[error("store is closed")]
    Closed,
}

/// Result with the store [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for loglens_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(e) => e,
            Error::Config(m) => loglens_core::Error::Internal(m),
            Error::Io(e) => loglens_core::Error::Unavailable(format!("store i/o: {e}")),
            Error::Backend(m) => loglens_core::Error::Unavailable(format!("store backend: {m}")),
            Error::Closed => loglens_core::Error::Unavailable("store is closed".into()),
        }
    }
}
