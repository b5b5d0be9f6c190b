//! The index conformance suite (`stowage_core::conformance::index`) against PostgreSQL, each
//! test on a fresh database (see `common`), dropped afterwards.

mod common;

stowage_core::index_conformance_tests!(common::fresh_index());
