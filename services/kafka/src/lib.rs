//! Kafka plumbing shared by the roles around the `logs_raw` topic:
//! [`config`] (client settings from one options struct), [`topics`]
//! (created at start when missing) and [`wire`] (what a record and a
//! dead-lettered message look like on the wire).

pub mod config;
pub mod topics;
pub mod wire;

pub use config::{Compression, KafkaOptions};

/// What can go wrong talking to Kafka.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A client call failed.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A setting is wrong.
    #[error("{0}")]
    Config(String),
}

/// Result with the Kafka [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for loglens_core::Error {
    fn from(e: Error) -> Self {
        use rdkafka::error::{KafkaError, RDKafkaErrorCode};
        match e {
            Error::Kafka(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)) => {
                loglens_core::Error::ResourceExhausted(
                    "the producer queue is full: retry shortly".into(),
                )
            }
            Error::Kafka(k) => loglens_core::Error::Unavailable(format!("kafka: {k}")),
            Error::Config(m) => loglens_core::Error::Internal(m),
        }
    }
}
