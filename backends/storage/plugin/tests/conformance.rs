//! A test plugin that keeps files XOR-obfuscated in a folder under its own naming
//! (`<uuid>.xor`, a 4-byte header holding the content type, then the obfuscated bytes), run
//! through the storage conformance suite in both
//! registration forms (the `StoragePlugin` trait with `read_range`, the C-style
//! `CallbackTable` without), plus the mapping of plugin errors to `StorageError`.

use std::fs;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use stowage_core::conformance::Guarded;
use stowage_core::{FileContentType, StorageArea, StorageError};
use stowage_storage_plugin::{
    error_codes, CallbackTable, PluginError, PluginStorage, StoragePlugin,
};
use tempfile::TempDir;

/// The obfuscation: byte `i` of a file is stored XORed with `key(i)`.
fn key(i: u64) -> u8 {
    0xA5 ^ (i % 251) as u8
}

fn xor(data: &mut [u8], offset: u64) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= key(offset + i as u64);
    }
}

/// The header: the content type given at creation, checked by reads.
const HEADER: u64 = 4;

fn check_header(f: &mut fs::File, content_type: i32) -> Result<(), PluginError> {
    let mut header = [0u8; HEADER as usize];
    f.read_exact(&mut header)?;
    let stored = i32::from_le_bytes(header);
    if stored != content_type {
        return Err(PluginError::Failed {
            code: error_codes::BAD_FILE_FORMAT,
            message: format!("stored as content type {stored}, read as {content_type}"),
        });
    }
    Ok(())
}

struct XorFolder {
    dir: PathBuf,
    tmp_counter: AtomicU64,
    ranged_reads: AtomicU64,
}

impl XorFolder {
    fn new(dir: &Path) -> Self {
        fs::create_dir_all(dir).unwrap();
        XorFolder {
            dir: dir.to_owned(),
            tmp_counter: AtomicU64::new(0),
            ranged_reads: AtomicU64::new(0),
        }
    }

    fn path(&self, uuid: &str) -> Result<PathBuf, PluginError> {
        if uuid.is_empty() || !uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(PluginError::Failed {
                code: error_codes::PARAMETER_OUT_OF_RANGE,
                message: format!("bad uuid {uuid:?}"),
            });
        }
        Ok(self.dir.join(format!("{uuid}.xor")))
    }
}

impl StoragePlugin for XorFolder {
    fn create(&self, uuid: &str, content_type: i32, data: &[u8]) -> Result<(), PluginError> {
        let path = self.path(uuid)?;
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(format!(".{uuid}.{n}.tmp"));
        let mut obfuscated = data.to_vec();
        xor(&mut obfuscated, 0);
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&content_type.to_le_bytes())?;
        f.write_all(&obfuscated)?;
        drop(f);
        fs::rename(&tmp, &path)?;
        Ok(())
    }

    fn read(&self, uuid: &str, content_type: i32) -> Result<Vec<u8>, PluginError> {
        let mut f = fs::File::open(self.path(uuid)?)?;
        check_header(&mut f, content_type)?;
        let mut data = Vec::new();
        f.read_to_end(&mut data)?;
        xor(&mut data, 0);
        Ok(data)
    }

    fn read_range(
        &self,
        uuid: &str,
        content_type: i32,
        start: u64,
        end: u64,
    ) -> Option<Result<Vec<u8>, PluginError>> {
        self.ranged_reads.fetch_add(1, Ordering::Relaxed);
        let read = || -> Result<Vec<u8>, PluginError> {
            let mut f = fs::File::open(self.path(uuid)?)?;
            check_header(&mut f, content_type)?;
            let len = f.metadata()?.len() - HEADER;
            let (s, e) = (start.min(len), end.min(len).max(start.min(len)));
            f.seek(SeekFrom::Start(HEADER + s))?;
            let mut buf = Vec::new();
            f.take(e - s).read_to_end(&mut buf)?;
            xor(&mut buf, s);
            Ok(buf)
        };
        Some(read())
    }

    fn remove(&self, uuid: &str, content_type: i32) -> Result<(), PluginError> {
        // Reports a missing file as NotFound: the area turns that into success.
        let _ = content_type;
        fs::remove_file(self.path(uuid)?)?;
        Ok(())
    }

    fn list_uuids(&self) -> Option<Result<Vec<String>, PluginError>> {
        let list = || -> Result<Vec<String>, PluginError> {
            let mut out = Vec::new();
            for entry in fs::read_dir(&self.dir)? {
                let name = entry?.file_name().to_string_lossy().into_owned();
                if let Some(uuid) = name.strip_suffix(".xor") {
                    out.push(uuid.to_owned());
                }
            }
            Ok(out)
        };
        Some(list())
    }
}

/// The trait form, with `read_range` and `list_uuids`.
fn fresh_trait_area() -> Guarded<PluginStorage, TempDir> {
    let dir = tempfile::tempdir().expect("temporary folder");
    let plugin = XorFolder::new(&dir.path().join("xor"));
    Guarded::new(PluginStorage::new(Box::new(plugin)), dir)
}

/// The C-style form: three callbacks sharing the plugin's state, no range, no listing.
fn fresh_callback_area() -> Guarded<PluginStorage, TempDir> {
    let dir = tempfile::tempdir().expect("temporary folder");
    let plugin = Arc::new(XorFolder::new(&dir.path().join("xor")));
    let (p1, p2, p3) = (plugin.clone(), plugin.clone(), plugin);
    let table = CallbackTable::new(
        move |uuid, ct, data| p1.create(uuid, ct, data),
        move |uuid, ct| p2.read(uuid, ct),
        move |uuid, ct| p3.remove(uuid, ct),
    );
    Guarded::new(PluginStorage::from_callbacks(table), dir)
}

mod trait_form {
    stowage_core::storage_conformance_tests!(super::fresh_trait_area());
}

mod callback_form {
    stowage_core::storage_conformance_tests!(super::fresh_callback_area());
}

#[test]
fn files_are_obfuscated_on_disk_under_the_plugins_naming() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("xor");
    let area = PluginStorage::new(Box::new(XorFolder::new(&folder)));
    let uuid = stowage_core::conformance::storage::new_uuid();
    let data = b"DICM and some plain text that must not be visible".to_vec();
    area.create(&uuid, FileContentType::DICOM_AS_JSON, &data)
        .unwrap();
    let on_disk = fs::read(folder.join(format!("{uuid}.xor"))).unwrap();
    assert_eq!(on_disk.len(), data.len() + 4);
    assert_eq!(
        on_disk[..4],
        2i32.to_le_bytes(),
        "the content type reached the plugin"
    );
    assert_ne!(on_disk[4..], data[..]);
    assert_eq!(
        area.read(&uuid, FileContentType::DICOM_AS_JSON).unwrap(),
        data
    );
    // The plugin's own error for a read under another content type.
    match area.read(&uuid, FileContentType::DICOM) {
        Err(StorageError::Other(msg)) => assert!(msg.contains("content type 2"), "{msg}"),
        other => panic!("expected StorageError::Other, got {other:?}"),
    }
}

#[test]
fn read_range_uses_the_plugins_range_callback_when_there_is_one() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = Arc::new(XorFolder::new(&dir.path().join("xor")));
    let shared = plugin.clone();
    struct Shared(Arc<XorFolder>);
    impl StoragePlugin for Shared {
        fn create(&self, u: &str, c: i32, d: &[u8]) -> Result<(), PluginError> {
            self.0.create(u, c, d)
        }
        fn read(&self, _: &str, _: i32) -> Result<Vec<u8>, PluginError> {
            Err(PluginError::failed("whole reads are not expected here"))
        }
        fn read_range(
            &self,
            u: &str,
            c: i32,
            s: u64,
            e: u64,
        ) -> Option<Result<Vec<u8>, PluginError>> {
            self.0.read_range(u, c, s, e)
        }
        fn remove(&self, u: &str, c: i32) -> Result<(), PluginError> {
            self.0.remove(u, c)
        }
    }
    let area = PluginStorage::new(Box::new(Shared(shared)));
    let uuid = stowage_core::conformance::storage::new_uuid();
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    area.create(&uuid, FileContentType::DICOM, &data).unwrap();
    for (s, e) in [(0u64, 10u64), (100, 4000), (4990, 6000), (7000, 8000)] {
        let want =
            &data[(s as usize).min(5000)..(e as usize).min(5000).max((s as usize).min(5000))];
        assert_eq!(
            area.read_range(&uuid, FileContentType::DICOM, s, e)
                .unwrap(),
            want,
            "{s}..{e}"
        );
    }
    assert_eq!(plugin.ranged_reads.load(Ordering::Relaxed), 4);
}

#[test]
fn plugin_errors_surface_as_storage_errors() {
    let failing = CallbackTable::new(
        |_, _, _| {
            Err(PluginError::Failed {
                code: error_codes::CANNOT_WRITE_FILE,
                message: "disk full".to_owned(),
            })
        },
        |_, _| Err(PluginError::from_code(error_codes::BAD_FILE_FORMAT).unwrap()),
        |_, _| Err(PluginError::failed("remove refused")),
    );
    let area = PluginStorage::from_callbacks(failing).with_name("failing plugin");
    let uuid = "0123abcd-0000-4000-8000-000000000000";

    match area.create(uuid, FileContentType::DICOM, b"x") {
        Err(StorageError::Other(msg)) => {
            assert!(msg.contains("failing plugin"), "{msg}");
            assert!(msg.contains("create"), "{msg}");
            assert!(msg.contains(uuid), "{msg}");
            assert!(msg.contains("14") && msg.contains("disk full"), "{msg}");
        }
        other => panic!("expected StorageError::Other, got {other:?}"),
    }
    match area.read(uuid, FileContentType::DICOM) {
        Err(StorageError::Other(msg)) => assert!(msg.contains("15"), "{msg}"),
        other => panic!("expected StorageError::Other, got {other:?}"),
    }
    // Without a range callback, a range read goes through `read` and fails the same way.
    match area.read_range(uuid, FileContentType::DICOM, 0, 10) {
        Err(StorageError::Other(msg)) => assert!(msg.contains("15"), "{msg}"),
        other => panic!("expected StorageError::Other, got {other:?}"),
    }
    match area.remove(uuid, FileContentType::DICOM) {
        Err(StorageError::Other(msg)) => assert!(msg.contains("remove refused"), "{msg}"),
        other => panic!("expected StorageError::Other, got {other:?}"),
    }
    assert!(
        area.list_uuids().unwrap().is_none(),
        "a callback table cannot list"
    );
}

#[test]
fn not_found_codes_and_panics() {
    let table = CallbackTable::new(
        |_, _, _| Err(PluginError::NotFound),
        |_, _| Err(PluginError::from_code(error_codes::UNKNOWN_RESOURCE).unwrap()),
        |_, _| Err(PluginError::from_code(error_codes::INEXISTENT_FILE).unwrap()),
    )
    .with_read_range(|_, _, _, _| panic!("range callback exploded"));
    let area = PluginStorage::from_callbacks(table);
    let uuid = "0123abcd-0000-4000-8000-000000000001";
    assert!(matches!(
        area.read(uuid, FileContentType::DICOM),
        Err(StorageError::NotFound(ref u)) if u == uuid
    ));
    // Removing a missing file is not an error.
    area.remove(uuid, FileContentType::DICOM).unwrap();
    // "No such file" from create is a failure, not NotFound.
    assert!(matches!(
        area.create(uuid, FileContentType::DICOM, b"x"),
        Err(StorageError::Other(_))
    ));
    // A panicking callback is reported, and the thread lives on.
    match area.read_range(uuid, FileContentType::DICOM, 0, 4) {
        Err(StorageError::Other(msg)) => {
            assert!(
                msg.contains("panicked") && msg.contains("exploded"),
                "{msg}"
            )
        }
        other => panic!("expected StorageError::Other, got {other:?}"),
    }
}

#[test]
fn io_errors_convert() {
    let e: PluginError = std::io::Error::new(ErrorKind::NotFound, "gone").into();
    assert_eq!(e, PluginError::NotFound);
    let e: PluginError = std::io::Error::new(ErrorKind::PermissionDenied, "no").into();
    assert_eq!(e.code(), error_codes::STORAGE_AREA_PLUGIN);
}
