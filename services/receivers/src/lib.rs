//! Drop-in ingest: what common log shippers send, decoded into
//! [`loglens_core::RawLog`]s that then take the same path as `POST /logs`
//! (validation, normalisation, anomaly scoring, the same sink).
//!
//! Pure decoders, one module per protocol; transports (HTTP routes in the
//! gateway, the OTLP gRPC service, the syslog listener) live with their
//! servers. A decoder never fails a whole body for one bad record: it
//! returns the records it could read and a reason for each it could not.

pub mod es_bulk;
pub mod hec;
pub mod loki;
pub mod metrics;
pub mod otlp;
pub mod syslog;

use std::borrow::Cow;

use loglens_core::{Error, RawLog};
use serde::{Deserialize, Deserializer, de};

/// What a decoder read from one body: records by position, and a reason for
/// every position it could not read. Positions count the body's records
/// (or lines, events, items) from 0, in order.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Records read, with their position in the body.
    pub records: Vec<(usize, RawLog)>,
    /// Positions that could not be read, and why.
    pub errors: Vec<(usize, Error)>,
}

/// A JSON object key, borrowed from the input unless it has escapes: lets a
/// visitor match keys without allocating one `String` per key.
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}
