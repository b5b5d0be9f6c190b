//! `write_pending` moves a transaction's changed pages to the write-ahead log before the
//! commit, so that the commit itself writes little.

use stowage_core::{IndexBackend, TxMode};
use stowage_index_sqlite::{Durability, SqliteIndex};

/// Frames in the log: (size - 32-byte header) / (24-byte frame header + page).
fn frames(wal: &std::path::Path, page: u64) -> u64 {
    let len = std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
    len.saturating_sub(32) / (24 + page)
}

#[test]
fn pages_reach_the_log_before_the_commit() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("index.sqlite");
    let index = SqliteIndex::open(&path, Durability::Normal).expect("open");
    let wal = dir.path().join("index.sqlite-wal");
    let page = 4096;
    let value = "x".repeat(3000);

    let mut tx = index.begin(TxMode::ReadWrite).expect("begin");
    for i in 0..20 {
        tx.set_global_property(&format!("k{i}"), 20_000 + i, &value)
            .expect("write");
    }
    let before = frames(&wal, page);
    tx.write_pending().expect("write_pending");
    let pending = frames(&wal, page);
    assert!(
        pending >= before + 10,
        "20 rows of 3 KB: {before} frames before, {pending} after"
    );
    tx.set_global_property("last", 20_100, "y").expect("write");
    tx.commit().expect("commit");
    let committed = frames(&wal, page);
    assert!(
        committed - pending < 5,
        "the commit wrote {} more frames",
        committed - pending
    );
    let mut tx = index.begin(TxMode::ReadOnly).expect("begin");
    assert_eq!(
        tx.lookup_global_property("k19", 20_019).expect("read"),
        Some(value)
    );
}
