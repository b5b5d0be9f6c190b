//! Filesystem storage area, with Orthanc's layout: the file `uuid` lives at
//! `ROOT/uu/uu/uuid` (the first two pairs of hex digits of the uuid), so an existing
//! Orthanc storage folder can be read and written as is.
//!
//! Files are written to a temporary name in the same folder, flushed to disk (unless
//! `sync` is off) and renamed into place, so a reader never sees a partial file. The folder
//! entry itself is not fsynced: the index commit that follows every write forces the
//! filesystem journal (ext4, xfs) to disk, which carries the rename with it.

use std::fs;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use stowage_core::{FileContentType, StorageArea, StorageError};

pub struct FilesystemStorage {
    root: PathBuf,
    sync: bool,
}

impl FilesystemStorage {
    /// Opens (and creates if needed) a storage folder. `sync`: fsync every file written
    /// (Orthanc's `SyncStorageArea`).
    pub fn open(root: impl Into<PathBuf>, sync: bool) -> Result<Self, StorageError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| io_error(&root, e))?;
        Ok(FilesystemStorage { root, sync })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of a file, after checking that the uuid cannot escape the root.
    pub fn path_of(&self, uuid: &str) -> Result<PathBuf, StorageError> {
        let valid = uuid.len() >= 4
            && uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
            && uuid.as_bytes()[..4].iter().all(u8::is_ascii_hexdigit);
        if !valid {
            return Err(StorageError::InvalidUuid(uuid.to_owned()));
        }
        Ok(self.root.join(&uuid[0..2]).join(&uuid[2..4]).join(uuid))
    }
}

fn io_error(path: &Path, source: std::io::Error) -> StorageError {
    StorageError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl StorageArea for FilesystemStorage {
    fn create(
        &self,
        uuid: &str,
        _content_type: FileContentType,
        data: &[u8],
    ) -> Result<(), StorageError> {
        let path = self.path_of(uuid)?;
        let dir = path.parent().unwrap_or(&self.root);
        let tmp = dir.join(format!(".{uuid}.tmp"));
        let write = || -> std::io::Result<()> {
            // Most folders exist already: create them only when the file cannot be. A
            // concurrent `remove` may tidy an emptied folder away between our `create_dir_all`
            // and the file's creation, so retry a few times.
            let mut attempt = 0;
            let mut f = loop {
                match fs::File::create(&tmp) {
                    Err(e) if e.kind() == ErrorKind::NotFound && attempt < 10 => {
                        attempt += 1;
                        // The same race can hit `create_dir_all` itself: a folder removed under
                        // it (NotFound), or created then removed again before it checks
                        // (AlreadyExists). Both are retried.
                        match fs::create_dir_all(dir) {
                            Err(e)
                                if !matches!(
                                    e.kind(),
                                    ErrorKind::NotFound | ErrorKind::AlreadyExists
                                ) =>
                            {
                                return Err(e)
                            }
                            _ => {}
                        }
                    }
                    other => break other?,
                }
            };
            f.write_all(data)?;
            if self.sync {
                f.sync_data()?;
            }
            fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_error(&path, e)
        })
    }

    fn read(&self, uuid: &str, _content_type: FileContentType) -> Result<Vec<u8>, StorageError> {
        let path = self.path_of(uuid)?;
        fs::read(&path).map_err(|e| match e.kind() {
            ErrorKind::NotFound => StorageError::NotFound(uuid.to_owned()),
            _ => io_error(&path, e),
        })
    }

    fn read_range(
        &self,
        uuid: &str,
        _content_type: FileContentType,
        start: u64,
        end: u64,
    ) -> Result<Vec<u8>, StorageError> {
        let path = self.path_of(uuid)?;
        let read = || -> std::io::Result<Vec<u8>> {
            let mut f = fs::File::open(&path)?;
            let len = f.metadata()?.len();
            let (start, end) = (start.min(len), end.min(len).max(start.min(len)));
            f.seek(SeekFrom::Start(start))?;
            let mut buf = Vec::with_capacity((end - start) as usize);
            f.take(end - start).read_to_end(&mut buf)?;
            Ok(buf)
        };
        read().map_err(|e| match e.kind() {
            ErrorKind::NotFound => StorageError::NotFound(uuid.to_owned()),
            _ => io_error(&path, e),
        })
    }

    fn remove(&self, uuid: &str, _content_type: FileContentType) -> Result<(), StorageError> {
        let path = self.path_of(uuid)?;
        match fs::remove_file(&path) {
            Ok(()) => {
                // Tidy up the two-level folders when they become empty, as Orthanc does.
                if let Some(dir) = path.parent() {
                    if fs::remove_dir(dir).is_ok() {
                        if let Some(up) = dir.parent() {
                            let _ = fs::remove_dir(up);
                        }
                    }
                }
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&path, e)),
        }
    }

    fn modified(&self, uuid: &str) -> Option<std::time::SystemTime> {
        fs::metadata(self.path_of(uuid).ok()?).ok()?.modified().ok()
    }

    fn list_uuids(&self) -> Result<Option<Vec<String>>, StorageError> {
        let mut out = Vec::new();
        let level = |dir: &Path| -> Result<Vec<PathBuf>, StorageError> {
            let mut v = Vec::new();
            let rd = match fs::read_dir(dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(v),
                Err(e) => return Err(io_error(dir, e)),
            };
            for entry in rd {
                let entry = entry.map_err(|e| io_error(dir, e))?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                    v.push(entry.path());
                }
            }
            Ok(v)
        };
        for first in level(&self.root)? {
            for second in level(&first)? {
                let rd = fs::read_dir(&second).map_err(|e| io_error(&second, e))?;
                for entry in rd {
                    let entry = entry.map_err(|e| io_error(&second, e))?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if !name.starts_with('.') && self.path_of(&name).is_ok() {
                        out.push(name);
                    }
                }
            }
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_uuid() -> String {
        uuid::Uuid::new_v4().to_string()
    }

    #[test]
    fn create_read_range_remove() {
        let dir = tempfile::tempdir().unwrap();
        let area = FilesystemStorage::open(dir.path(), true).unwrap();
        let id = new_uuid();
        area.create(&id, FileContentType::DICOM, b"hello world")
            .unwrap();
        let path = area.path_of(&id).unwrap();
        assert_eq!(
            path,
            dir.path().join(&id[0..2]).join(&id[2..4]).join(&id),
            "Orthanc's layout"
        );
        assert_eq!(
            area.read(&id, FileContentType::DICOM).unwrap(),
            b"hello world"
        );
        assert_eq!(
            area.read_range(&id, FileContentType::DICOM, 6, 100)
                .unwrap(),
            b"world"
        );
        assert_eq!(area.list_uuids().unwrap().unwrap(), vec![id.clone()]);
        area.remove(&id, FileContentType::DICOM).unwrap();
        assert!(matches!(
            area.read(&id, FileContentType::DICOM),
            Err(StorageError::NotFound(_))
        ));
        area.remove(&id, FileContentType::DICOM).unwrap();
        assert!(
            !dir.path().join(&id[0..2]).exists(),
            "empty folders removed"
        );
    }

    #[test]
    fn rejects_uuids_that_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let area = FilesystemStorage::open(dir.path(), false).unwrap();
        for bad in ["../../etc/passwd", "ab", "abcd/../x", ""] {
            assert!(matches!(
                area.create(bad, FileContentType::DICOM, b"x"),
                Err(StorageError::InvalidUuid(_))
            ));
        }
    }
}
