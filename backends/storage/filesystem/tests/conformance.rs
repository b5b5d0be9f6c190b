//! The storage conformance suite (`stowage_core::conformance::storage`) against the filesystem
//! storage area, each test in its own temporary folder (with and without fsync).

use stowage_core::conformance::Guarded;
use stowage_storage_fs::FilesystemStorage;
use tempfile::TempDir;

fn fresh_area(sync: bool) -> Guarded<FilesystemStorage, TempDir> {
    let dir = tempfile::tempdir().expect("temporary folder");
    let area = FilesystemStorage::open(dir.path().join("storage"), sync)
        .expect("open a fresh storage folder");
    Guarded::new(area, dir)
}

mod synced {
    stowage_core::storage_conformance_tests!(super::fresh_area(true));
}

mod unsynced {
    stowage_core::storage_conformance_tests!(super::fresh_area(false));
}
