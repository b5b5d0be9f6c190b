//! The checkpoint thread keeps the write-ahead log from growing without end under a steady
//! stream of commits (SQLite starts the log over only when a write transaction begins with
//! every frame copied into the database, which a checkpoint running beside the writes never
//! achieves on its own).

use std::time::{Duration, Instant};

use stowage_core::{IndexBackend, TxMode};
use stowage_index_sqlite::{Durability, SqliteIndex};

#[test]
fn the_log_starts_over_under_steady_writes() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("index.sqlite");
    let index = SqliteIndex::open(&path, Durability::Normal).expect("open");
    let wal = dir.path().join("index.sqlite-wal");
    let value = "x".repeat(3000);

    // Commits back to back for two seconds, each adding a row of about a page.
    let (start, mut commits) = (Instant::now(), 0u64);
    while start.elapsed() < Duration::from_secs(2) {
        let mut tx = index.begin(TxMode::ReadWrite).expect("begin");
        tx.set_global_property(
            &format!("k{commits}"),
            10_000 + (commits % 1000) as i32,
            &value,
        )
        .expect("write");
        tx.commit().expect("commit");
        commits += 1;
    }
    assert!(commits > 200, "only {commits} commits in two seconds");

    // The log's header counts how many times the log was started over (its "checkpoint
    // sequence number", bytes 12..16, big-endian). Checkpoints are due every 250 ms under load.
    let header = std::fs::read(&wal).expect("read the log");
    let restarts = u32::from_be_bytes(header[12..16].try_into().expect("a log header"));
    assert!(
        restarts >= 2,
        "the log was started over {restarts} times in two seconds of {commits} commits"
    );
}
