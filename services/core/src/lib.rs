//! The loglens domain, free of any transport or storage concern.
//!
//! - [`record`]: the [`LogRecord`] and how raw input becomes one
//!   (parsing, validation, normalisation).
//! - [`timestamp`]: every accepted timestamp form, normalised to UTC epoch ms.
//! - [`rules`]: anomaly rules and the severity score.
//! - [`query`]: the backend-neutral search and stats model.
//! - [`error`]: the one error table shared by gRPC and HTTP.
//! - [`budget`]: the byte budget that sheds ingest load.
//! - [`tenant`]: whose a record is.

pub mod attributes;
pub mod budget;
pub mod error;
pub mod ledger;
pub mod level;
pub mod query;
pub mod record;
pub mod rules;
pub mod status;
pub mod tenant;
pub mod timestamp;

pub use attributes::{AttrValue, Attributes};
pub use error::{Error, ErrorCode, Result};
pub use level::Level;
pub use query::{Filter, SearchRequest, SearchResult, Sort, Stats, StatsRequest};
pub use record::{LogRecord, Normalized, RawLog, Rejection};
pub use rules::RuleSet;
pub use status::StatusCode;
pub use timestamp::TimestampInput;
