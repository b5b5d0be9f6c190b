//! A stored file leaves no pages in the page cache once it is flushed (Linux).

#![cfg(target_os = "linux")]

use std::os::unix::io::AsRawFd;

use stowage_core::{FileContentType, StorageArea};
use stowage_storage_fs::FilesystemStorage;

/// How many of a file's pages are in the page cache (`mincore` on a mapping never touched).
fn cached_pages(path: &std::path::Path) -> usize {
    let f = std::fs::File::open(path).unwrap();
    let len = f.metadata().unwrap().len() as usize;
    let page = 4096;
    let pages = len.div_ceil(page);
    let mut resident = vec![0u8; pages];
    // SAFETY: a read-only shared mapping of an open file of `len` bytes, never dereferenced;
    // `resident` has one byte per page of it; the mapping is removed before returning.
    unsafe {
        let addr = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        );
        assert_ne!(addr, libc::MAP_FAILED);
        assert_eq!(libc::mincore(addr, len, resident.as_mut_ptr()), 0);
        libc::munmap(addr, len);
    }
    resident.iter().filter(|b| **b & 1 == 1).count()
}

#[test]
fn a_flushed_file_leaves_no_cached_pages() {
    // Under the build folder: on a disk filesystem, where pages can be dropped (not tmpfs).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();

    let synced = FilesystemStorage::open(dir.path().join("synced"), true).unwrap();
    let uuid = synced.create_new(FileContentType::DICOM, &data).unwrap();
    let path = synced.path_of(&uuid).unwrap();
    assert_eq!(
        cached_pages(&path),
        0,
        "pages of a flushed file stay cached"
    );
    assert_eq!(synced.read(&uuid, FileContentType::DICOM).unwrap(), data);

    // Without flushes (SyncStorageArea false) the pages are dirty, and stay until written back.
    let unsynced = FilesystemStorage::open(dir.path().join("unsynced"), false).unwrap();
    let uuid = unsynced.create_new(FileContentType::DICOM, &data).unwrap();
    let path = unsynced.path_of(&uuid).unwrap();
    assert!(cached_pages(&path) > 0);
}
