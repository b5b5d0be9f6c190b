//! Conformance checks for [`StorageArea`] implementations (see the [module](super) docs).
//!
//! Every function expects a fresh, empty storage area and panics, naming the operation at
//! fault, when the area departs from the trait's contract.

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{FileContentType, StorageArea, StorageError};

/// Unwraps a storage result, panicking with the operation's name and the error.
#[track_caller]
fn ok<T>(result: Result<T, StorageError>, what: impl Display) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e:?}"),
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A fresh version-4-shaped uuid, unique across threads, processes and runs (areas backed by a
/// shared bucket may see several test runs).
pub fn new_uuid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let a = splitmix(nanos ^ (u64::from(std::process::id()) << 32) ^ n.rotate_left(40));
    let b = splitmix(a ^ n);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// Deterministic pseudo-random bytes (every byte value occurs, zeros included).
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut state = splitmix(seed);
    while out.len() < len {
        state = splitmix(state);
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Compares bytes without dumping megabytes into the panic message.
#[track_caller]
fn assert_bytes(got: &[u8], want: &[u8], what: impl Display) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} bytes, expected {} (first difference at {:?})",
            got.len(),
            want.len(),
            first.or(Some(got.len().min(want.len())))
        );
    }
}

const USER: FileContentType = FileContentType(FileContentType::START_USER);

#[track_caller]
fn create(area: &dyn StorageArea, uuid: &str, content_type: FileContentType, data: &[u8]) {
    ok(
        area.create(uuid, content_type, data),
        format_args!("create({uuid}, {} bytes)", data.len()),
    )
}

#[track_caller]
fn read(area: &dyn StorageArea, uuid: &str, content_type: FileContentType) -> Vec<u8> {
    ok(area.read(uuid, content_type), format_args!("read({uuid})"))
}

#[track_caller]
fn read_range(area: &dyn StorageArea, uuid: &str, start: u64, end: u64) -> Vec<u8> {
    ok(
        area.read_range(uuid, FileContentType::DICOM, start, end),
        format_args!("read_range({uuid}, {start}..{end})"),
    )
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StorageError>, what: impl Display) {
    match result {
        Err(StorageError::NotFound(_)) => {}
        other => panic!("{what}: expected StorageError::NotFound, got {other:?}"),
    }
}

/// Files read back exactly as written, each under its own uuid and content type.
pub fn create_then_read(area: &dyn StorageArea) {
    let (a, b, c) = (new_uuid(), new_uuid(), new_uuid());
    let data_a = pattern(1000, 1);
    let data_c: Vec<u8> = (0..=255u8).rev().chain(0..=255u8).collect();
    create(area, &a, FileContentType::DICOM, &data_a);
    create(area, &b, USER, b"hello");
    create(area, &c, FileContentType::DICOM_AS_JSON, &data_c);
    assert_bytes(&read(area, &a, FileContentType::DICOM), &data_a, "read(a)");
    assert_bytes(&read(area, &b, USER), b"hello", "read(b)");
    assert_bytes(
        &read(area, &c, FileContentType::DICOM_AS_JSON),
        &data_c,
        "read(c), every byte value",
    );
    // Reading twice gives the same bytes.
    assert_bytes(
        &read(area, &a, FileContentType::DICOM),
        &data_a,
        "second read(a)",
    );
}

/// `create_new` and `create_new_meanwhile` choose a new uuid per file; the latter runs its
/// work exactly once, and the file is complete when it returns.
pub fn create_new_runs_work_once(area: &dyn StorageArea) {
    let data = pattern(200_000, 7);
    let mut uuids = std::collections::HashSet::new();
    for i in 0..5 {
        let mut runs = 0;
        let uuid = area
            .create_new_meanwhile(FileContentType::DICOM, &data, &mut || runs += 1)
            .unwrap_or_else(|e| panic!("create_new_meanwhile #{i}: {e}"));
        assert_eq!(runs, 1, "work run {runs} times for file #{i}");
        assert_bytes(
            &read(area, &uuid, FileContentType::DICOM),
            &data,
            "file read back",
        );
        assert!(uuids.insert(uuid), "a uuid given twice");
    }
    let uuid = area
        .create_new(FileContentType::DICOM, b"small")
        .unwrap_or_else(|e| panic!("create_new: {e}"));
    assert_bytes(
        &read(area, &uuid, FileContentType::DICOM),
        b"small",
        "small file",
    );
    assert!(uuids.insert(uuid), "a uuid given twice");
}

/// `read_range` returns `start..end` clamped to the file's size, empty when out of range.
pub fn read_range_clamps(area: &dyn StorageArea) {
    let uuid = new_uuid();
    let data = pattern(100, 2);
    create(area, &uuid, FileContentType::DICOM, &data);
    for (start, end, want) in [
        (0, 100, &data[..]),
        (10, 20, &data[10..20]),
        (0, 1, &data[..1]),
        (99, 100, &data[99..]),
        (90, 1000, &data[90..]),
        (0, u64::MAX, &data[..]),
        (100, 200, &[][..]),
        (150, 300, &[][..]),
        (50, 50, &[][..]),
        (60, 40, &[][..]),
        (0, 0, &[][..]),
    ] {
        assert_bytes(
            &read_range(area, &uuid, start, end),
            want,
            format_args!("read_range({start}..{end}) of a 100-byte file"),
        );
    }
}

/// An empty file is a file: it reads back empty and is listed.
pub fn empty_file(area: &dyn StorageArea) {
    let uuid = new_uuid();
    create(area, &uuid, FileContentType::DICOM, b"");
    assert_eq!(
        read(area, &uuid, FileContentType::DICOM),
        Vec::<u8>::new(),
        "read of an empty file"
    );
    assert_eq!(
        read_range(area, &uuid, 0, 10),
        Vec::<u8>::new(),
        "read_range of an empty file"
    );
    if let Some(list) = ok(area.list_uuids(), "list_uuids") {
        assert_eq!(list, vec![uuid], "list_uuids with one empty file");
    }
}

/// Reading a file that does not exist fails with `NotFound`.
pub fn missing_file_not_found(area: &dyn StorageArea) {
    let uuid = new_uuid();
    assert_not_found(
        area.read(&uuid, FileContentType::DICOM),
        "read of a missing file",
    );
    assert_not_found(
        area.read_range(&uuid, FileContentType::DICOM, 0, 10),
        "read_range of a missing file",
    );
    create(area, &new_uuid(), FileContentType::DICOM, b"other");
    assert_not_found(
        area.read(&uuid, FileContentType::DICOM),
        "read of a missing file among others",
    );
}

/// `remove` deletes one file; removing it again, or a file that never existed, succeeds.
pub fn remove_is_idempotent(area: &dyn StorageArea) {
    let (gone, kept) = (new_uuid(), new_uuid());
    create(area, &gone, FileContentType::DICOM, b"to be removed");
    create(area, &kept, FileContentType::DICOM, b"to be kept");
    ok(area.remove(&gone, FileContentType::DICOM), "remove");
    assert_not_found(
        area.read(&gone, FileContentType::DICOM),
        "read after remove",
    );
    assert_not_found(
        area.read_range(&gone, FileContentType::DICOM, 0, 5),
        "read_range after remove",
    );
    ok(
        area.remove(&gone, FileContentType::DICOM),
        "remove of an already removed file",
    );
    ok(
        area.remove(&new_uuid(), FileContentType::DICOM),
        "remove of a file that never existed",
    );
    assert_bytes(
        &read(area, &kept, FileContentType::DICOM),
        b"to be kept",
        "a sibling after remove",
    );
    // The uuid can be used again.
    create(area, &gone, FileContentType::DICOM, b"again");
    assert_bytes(
        &read(area, &gone, FileContentType::DICOM),
        b"again",
        "re-created file",
    );
}

/// A 20 MiB file (plus an odd tail) round-trips, whole and by ranges.
pub fn large_file_round_trip(area: &dyn StorageArea) {
    let uuid = new_uuid();
    let len = 20 * 1024 * 1024 + 7;
    let data = pattern(len, 3);
    create(area, &uuid, FileContentType::DICOM, &data);
    assert_bytes(
        &read(area, &uuid, FileContentType::DICOM),
        &data,
        "read of a 20 MiB file",
    );
    let mib = 1024 * 1024;
    for (start, end) in [
        (0, 1000),
        (8 * mib - 3, 8 * mib + 5),
        (len - 1000, len),
        (len - 10, len + 10),
    ] {
        assert_bytes(
            &read_range(area, &uuid, start as u64, end as u64),
            &data[start..end.min(len)],
            format_args!("read_range({start}..{end}) of a 20 MiB file"),
        );
    }
}

/// `list_uuids`, when the area supports it, lists exactly the files present.
pub fn list_uuids_tracks_files(area: &dyn StorageArea) {
    let Some(initial) = ok(area.list_uuids(), "list_uuids") else {
        eprintln!("list_uuids not supported by this storage area, check skipped");
        return;
    };
    assert!(initial.is_empty(), "a fresh storage area lists {initial:?}");
    let mut uuids: Vec<String> = (0..3).map(|_| new_uuid()).collect();
    for (i, u) in uuids.iter().enumerate() {
        let ct = if i == 1 { USER } else { FileContentType::DICOM };
        create(area, u, ct, &pattern(10 + i, i as u64));
    }
    uuids.sort();
    let mut listed =
        ok(area.list_uuids(), "list_uuids").expect("list_uuids stopped being supported");
    listed.sort();
    assert_eq!(listed, uuids, "list_uuids after three creates");

    let removed = uuids.remove(1);
    ok(area.remove(&removed, USER), "remove");
    let mut listed =
        ok(area.list_uuids(), "list_uuids").expect("list_uuids stopped being supported");
    listed.sort();
    assert_eq!(listed, uuids, "list_uuids after a remove");
}

/// Several threads create distinct files at once; every file reads back intact.
pub fn concurrent_creates(area: &dyn StorageArea) {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 12;
    let created: Vec<Vec<(String, Vec<u8>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    (0..PER_THREAD)
                        .map(|k| {
                            let uuid = new_uuid();
                            let data = pattern(k * 997 + t, (t * 100 + k) as u64);
                            create(area, &uuid, FileContentType::DICOM, &data);
                            (uuid, data)
                        })
                        .collect::<Vec<(String, Vec<u8>)>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a creating thread panicked"))
            .collect()
    });
    let mut all: Vec<String> = Vec::new();
    for (uuid, data) in created.iter().flatten() {
        assert_bytes(
            &read(area, uuid, FileContentType::DICOM),
            data,
            format_args!("read({uuid}) after concurrent creates"),
        );
        all.push(uuid.clone());
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), THREADS * PER_THREAD, "uuids must be distinct");
    if let Some(mut listed) = ok(area.list_uuids(), "list_uuids") {
        listed.sort();
        assert_eq!(listed, all, "list_uuids after concurrent creates");
    }
}

/// Creates and removes racing on files whose uuids share a prefix (hence, in Orthanc's
/// filesystem layout, a folder that a remove may tidy away while a create fills it): every
/// create must succeed and read back.
pub fn concurrent_create_and_remove_same_prefix(area: &dyn StorageArea) {
    const THREADS: usize = 3;
    const ROUNDS: usize = 400;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                for k in 0..ROUNDS {
                    let uuid = format!("abcd{}", &new_uuid()[4..]);
                    let data = pattern(k % 50 + 1, (t * ROUNDS + k) as u64);
                    create(area, &uuid, FileContentType::DICOM, &data);
                    assert_bytes(
                        &read(area, &uuid, FileContentType::DICOM),
                        &data,
                        format_args!("read({uuid}) right after create"),
                    );
                    ok(
                        area.remove(&uuid, FileContentType::DICOM),
                        format_args!("remove({uuid})"),
                    );
                }
            });
        }
    });
    if let Some(listed) = ok(area.list_uuids(), "list_uuids") {
        assert!(
            listed.is_empty(),
            "files left after every one was removed: {listed:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_distinct_and_well_formed() {
        let mut v: Vec<String> = (0..1000).map(|_| new_uuid()).collect();
        for u in &v {
            assert_eq!(u.len(), 36, "{u}");
            assert!(u.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'), "{u}");
        }
        v.sort();
        v.dedup();
        assert_eq!(v.len(), 1000);
    }
}
