//! The index conformance suite (`stowage_core::conformance::index`) against SQLite, each test on
//! a fresh database in its own temporary folder.

use stowage_core::conformance::Guarded;
use stowage_index_sqlite::{Durability, SqliteIndex};
use tempfile::TempDir;

fn fresh_index() -> Guarded<SqliteIndex, TempDir> {
    let dir = tempfile::tempdir().expect("temporary folder");
    let index = SqliteIndex::open(dir.path().join("index.sqlite"), Durability::Full)
        .expect("open a fresh SQLite index");
    Guarded::new(index, dir)
}

stowage_core::index_conformance_tests!(fresh_index());
