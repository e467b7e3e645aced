//! Generated protobuf types, clients and servers for the loglens gRPC API.
//!
//! Modules mirror the proto packages (`logs.ingest.v1` is [`logs::ingest::v1`]).
//! The message types also derive serde and `utoipa::ToSchema`, so the REST
//! gateway speaks the same shapes as gRPC.

#![allow(clippy::all, missing_docs)]

/// The `logs.*` proto packages.
#[allow(unused_qualifications)]
pub mod logs {
    /// `logs.ingest.*`
    pub mod ingest {
        /// `logs.ingest.v1`
        pub mod v1 {
            tonic::include_proto!("logs.ingest.v1");
        }
    }
    /// `logs.query.*`
    pub mod query {
        /// `logs.query.v1`
        pub mod v1 {
            tonic::include_proto!("logs.query.v1");
        }
    }
    /// `logs.stats.*`
    pub mod stats {
        /// `logs.stats.v1`
        pub mod v1 {
            tonic::include_proto!("logs.stats.v1");
        }
    }
}

pub use logs::ingest::v1 as ingest;
pub use logs::query::v1 as query;
pub use logs::stats::v1 as stats;

/// Encoded `FileDescriptorSet` of every loglens proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("loglens_descriptor");

pub mod convert;
pub mod status;
