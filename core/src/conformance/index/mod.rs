//! Conformance checks for [`IndexBackend`](crate::IndexBackend) implementations (see the
//! [module](super) docs), one module per group of checks.
//!
//! Every check is a public function taking a fresh, empty backend; it panics, naming the
//! operation at fault, when the backend departs from the trait's contract or from Orthanc's
//! semantics. Fixtures and helpers shared by the groups live in the private `helpers` module.
//! A new check goes into its group's module and into the group's list in
//! [`index_conformance_tests!`](crate::index_conformance_tests).

mod helpers;

pub mod attachments;
pub mod backend;
pub mod deletes;
pub mod find;
pub mod labels;
pub mod logs;
pub mod metadata;
pub mod properties;
pub mod recycling;
pub mod resources;
pub mod revisions;
pub mod tags;
pub mod transactions;
