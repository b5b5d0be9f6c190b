//! Shared helpers of the integration tests, by job:
//! - [`server`]: the `stowage` process guard, its log, stored files and stability;
//! - [`http`]: the HTTP client, the requests of a server, the answers and their JSON;
//! - [`corpus`]: Orthanc identifiers and the synthetic DICOM corpus (`stowage_dicom::writer`);
//! - [`postgres`]: throw-away PostgreSQL databases (PostgreSQL mode, clusters);
//! - [`s3`]: a fresh S3 area per server (S3 mode);
//! - [`cluster`]: several servers on one PostgreSQL index and one storage folder.
//!
//! Everything is re-exported here: a test file says `mod common; use common::*;`.
#![allow(dead_code)]

pub mod cluster;
pub mod corpus;
pub mod http;
pub mod postgres;
pub mod s3;
pub mod server;

// Each test binary compiles this module and uses a part of it: neither unused helpers nor
// unused re-exports are worth a warning.
#[allow(unused_imports)]
pub use self::{cluster::*, corpus::*, http::*, postgres::*, s3::*, server::*};
