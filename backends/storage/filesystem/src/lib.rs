//! Filesystem storage area, with Orthanc's layout: the file `uuid` lives at
//! `ROOT/uu/uu/uuid` (the first two pairs of hex digits of the uuid), so an existing
//! Orthanc storage folder can be read and written as is.
//!
//! A file appears complete or not at all: on Linux it is written as an unnamed file of its
//! folder (`O_TMPFILE`) and given its name once complete; elsewhere it is written under a
//! temporary name and renamed. Unless `sync` is off, it is then flushed to disk, the new
//! folder entry included, before `create` returns, and its pages leave the page cache (see
//! [`drop_cached_pages`]).
//!
//! On Linux, the folders and unnamed files of the next few new files are prepared ahead by a
//! background thread (see [`ahead`]): `create_new` then only writes, names and flushes.

mod ahead;

use std::fs;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use stowage_core::{FileContentType, StorageArea, StorageError};

pub struct FilesystemStorage {
    root: PathBuf,
    sync: bool,
    ahead: Option<ahead::Ahead>,
}

impl FilesystemStorage {
    /// Opens (and creates if needed) a storage folder. `sync`: fsync every file written
    /// (Orthanc's `SyncStorageArea`).
    pub fn open(root: impl Into<PathBuf>, sync: bool) -> Result<Self, StorageError> {
        Self::open_preparing(root, sync, cfg!(target_os = "linux"))
    }

    /// `prepare_ahead`: start the thread preparing new files ahead of need (Linux).
    fn open_preparing(
        root: impl Into<PathBuf>,
        sync: bool,
        prepare_ahead: bool,
    ) -> Result<Self, StorageError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| io_error(&root, e))?;
        let ahead = prepare_ahead
            .then(|| {
                ahead::Ahead::start(
                    &root,
                    sync,
                    folder_of,
                    Self::open_unnamed,
                    unnamed_files_unsupported,
                )
            })
            .flatten();
        Ok(FilesystemStorage { root, sync, ahead })
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
        Ok(folder_of(&self.root, uuid).join(uuid))
    }
}

/// The folder of a file: `ROOT/uu/uu` (`uuid` has at least four characters).
fn folder_of(root: &Path, uuid: &str) -> PathBuf {
    root.join(&uuid[0..2]).join(&uuid[2..4])
}

fn io_error(path: &Path, source: std::io::Error) -> StorageError {
    StorageError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl FilesystemStorage {
    /// Runs `create` (a file in `dir`), creating the folders first when they are missing. A
    /// concurrent `remove` may tidy an emptied folder away between our `create_dir_all` and
    /// the file's creation, so this is retried a few times.
    fn in_folder<T>(dir: &Path, create: impl Fn() -> std::io::Result<T>) -> std::io::Result<T> {
        let mut attempt = 0;
        loop {
            match create() {
                Err(e) if e.kind() == ErrorKind::NotFound && attempt < 10 => {
                    attempt += 1;
                    // The same race can hit `create_dir_all` itself: a folder removed under it
                    // (NotFound), or created then removed again before it checks
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
                other => return other,
            }
        }
    }

    /// Opens an unnamed file (`O_TMPFILE`) in `dir`, which must exist.
    #[cfg(target_os = "linux")]
    fn open_unnamed(dir: &Path) -> std::io::Result<fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .write(true)
            .mode(0o644)
            .custom_flags(libc::O_TMPFILE)
            .open(dir)
    }

    #[cfg(not(target_os = "linux"))]
    fn open_unnamed(_: &Path) -> std::io::Result<fs::File> {
        Err(std::io::Error::from(ErrorKind::Unsupported))
    }

    /// Linux: the file is written as an unnamed inode of `dir` (`O_TMPFILE`; `prepared` if
    /// given, else opened now), given its name (`linkat`) once complete, then flushed. Readers
    /// never see a partial file, and the one flush makes the data and the new name durable
    /// together (the folder entry is flushed with the file, on journaled and unjournaled
    /// filesystems alike). A crash before the flush leaves at most an orphan, which nothing in
    /// the index refers to yet.
    #[cfg(target_os = "linux")]
    fn create_unnamed_then_link(
        &self,
        dir: &Path,
        path: &Path,
        data: &[u8],
        mut prepared: Option<fs::File>,
        meanwhile: &mut dyn FnMut(),
    ) -> std::io::Result<()> {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::io::AsRawFd;

        let name = CString::new(path.as_os_str().as_bytes())?;
        let mut attempt = 0;
        let f = loop {
            let mut f = match prepared.take() {
                Some(f) => f,
                None => Self::in_folder(dir, || Self::open_unnamed(dir))?,
            };
            f.write_all(data)?;
            let unnamed = CString::new(format!("/proc/self/fd/{}", f.as_raw_fd()))?;
            // SAFETY: both arguments are valid NUL-terminated strings that outlive the call,
            // and `f` (whose descriptor `unnamed` names) is open.
            let linked = unsafe {
                libc::linkat(
                    libc::AT_FDCWD,
                    unnamed.as_ptr(),
                    libc::AT_FDCWD,
                    name.as_ptr(),
                    libc::AT_SYMLINK_FOLLOW,
                )
            };
            if linked == 0 {
                break f;
            }
            let e = std::io::Error::last_os_error();
            // The folder was removed by a concurrent `remove` after the unnamed file was
            // opened in it (an unnamed file does not keep it from being empty): the link
            // fails (ENOENT, or EPERM as the file belongs to a dead folder). Start again, in
            // the folder as it is now.
            let folder_gone = matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied);
            if !folder_gone || attempt >= 3 {
                return Err(e);
            }
            attempt += 1;
        };
        if self.sync {
            // The data starts on its way to the disk while `meanwhile` runs; the flush then
            // waits for it, and writes the file's size and name.
            // SAFETY: `f` is open; the call takes no pointers.
            unsafe {
                libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
            }
            meanwhile();
            if let Err(e) = f.sync_data() {
                let _ = fs::remove_file(path);
                return Err(e);
            }
            drop_cached_pages(&f);
        } else {
            meanwhile();
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn create_unnamed_then_link(
        &self,
        _: &Path,
        _: &Path,
        _: &[u8],
        _: Option<fs::File>,
        _: &mut dyn FnMut(),
    ) -> std::io::Result<()> {
        Err(std::io::Error::from(ErrorKind::Unsupported))
    }

    /// Writes a new file at `path`: unnamed then linked where supported (starting from
    /// `prepared` if given), else under a temporary name then renamed.
    fn write_new(
        &self,
        path: &Path,
        data: &[u8],
        prepared: Option<fs::File>,
        meanwhile: &mut dyn FnMut(),
    ) -> Result<(), StorageError> {
        let dir = path.parent().unwrap_or(&self.root);
        // Run once at most, whichever way the file is written.
        let mut pending = Some(meanwhile);
        let mut once = || {
            if let Some(f) = pending.take() {
                f()
            }
        };
        let result = match self.create_unnamed_then_link(dir, path, data, prepared, &mut once) {
            // Unsupported here; or refused, or raced by `remove`s emptying the folder (an
            // unnamed file does not keep its folder from being removed, a temporary name does).
            Err(e)
                if unnamed_files_unsupported(&e)
                    || matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::NotFound) =>
            {
                self.create_temporary_then_rename(dir, path, data)
            }
            other => other,
        };
        once();
        result.map_err(|e| io_error(path, e))
    }

    /// Elsewhere (or where `O_TMPFILE` is not supported): a temporary name in the same folder,
    /// flushed, then renamed into place.
    fn create_temporary_then_rename(
        &self,
        dir: &Path,
        path: &Path,
        data: &[u8],
    ) -> std::io::Result<()> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut f = Self::in_folder(dir, || fs::File::create(&tmp))?;
            f.write_all(data)?;
            if self.sync {
                f.sync_data()?;
                drop_cached_pages(&f);
            }
            fs::rename(&tmp, path)
        };
        write().inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }
}

/// Drops a file's pages from the page cache once it is on disk (Linux; elsewhere nothing).
///
/// A stored file is seldom read again soon, and its cached pages would only push others out.
/// Freeing them at once also makes the next file's pages cheap: the kernel hands the pages just
/// freed to the next write, where a page never used before (or given back to the hypervisor,
/// as virtual machines do with free memory) costs a fault on the host when it is first written.
/// Measured on this project's 2-core virtual machine, eight writers of 131 KiB files: 105–115 µs
/// of CPU per file instead of 310–390 µs (see bench/RESULTS.md). Dirty pages are never dropped,
/// which is why this follows the flush.
fn drop_cached_pages(f: &fs::File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: `f` is open; the call takes no pointers. Failing only keeps the pages cached.
        unsafe {
            libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = f;
}

/// Errors by which a filesystem (or a sandbox without `/proc`) says it cannot do
/// `O_TMPFILE` + `linkat`.
fn unnamed_files_unsupported(e: &std::io::Error) -> bool {
    if e.kind() == ErrorKind::Unsupported {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        matches!(
            e.raw_os_error(),
            Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL | libc::EXDEV)
        ) || (e.kind() == ErrorKind::NotFound && !Path::new("/proc/self/fd").exists())
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

impl StorageArea for FilesystemStorage {
    fn create(
        &self,
        uuid: &str,
        _content_type: FileContentType,
        data: &[u8],
    ) -> Result<(), StorageError> {
        self.write_new(&self.path_of(uuid)?, data, None, &mut || {})
    }

    /// A file prepared ahead, if one is ready; else as `create` with a new uuid.
    fn create_new(
        &self,
        content_type: FileContentType,
        data: &[u8],
    ) -> Result<String, StorageError> {
        self.create_new_meanwhile(content_type, data, &mut || {})
    }

    /// `meanwhile` runs once the data is written and on its way to the disk, before the flush
    /// waits for it.
    fn create_new_meanwhile(
        &self,
        _content_type: FileContentType,
        data: &[u8],
        meanwhile: &mut dyn FnMut(),
    ) -> Result<String, StorageError> {
        let (uuid, prepared) = match self.ahead.as_ref().and_then(ahead::Ahead::take) {
            Some(prepared) => (prepared.uuid, Some(prepared.file)),
            None => (stowage_core::new_uuid(), None),
        };
        self.write_new(&self.path_of(&uuid)?, data, prepared, meanwhile)?;
        Ok(uuid)
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

    fn writes_locally(&self) -> bool {
        true
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
        // Without files prepared ahead, whose folders would share first levels by chance.
        let area = FilesystemStorage::open_preparing(dir.path(), true, false).unwrap();
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

    /// Both ways of writing give a complete file at its name, and nothing else in the folder.
    #[test]
    fn unnamed_and_renamed_writes() {
        let dir = tempfile::tempdir().unwrap();
        let area = FilesystemStorage::open(dir.path(), true).unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let write_unnamed = |p: &Path| {
            let d = p.parent().unwrap();
            match area.create_unnamed_then_link(d, p, &data, None, &mut || {}) {
                Err(e) if unnamed_files_unsupported(&e) => {
                    eprintln!("O_TMPFILE unsupported here: {e}");
                    area.create_temporary_then_rename(d, p, &data)
                }
                other => other,
            }
        };
        let write_renamed =
            |p: &Path| area.create_temporary_then_rename(p.parent().unwrap(), p, &data);
        for write in [
            &write_unnamed as &dyn Fn(&Path) -> std::io::Result<()>,
            &write_renamed,
        ] {
            let id = new_uuid();
            let path = area.path_of(&id).unwrap();
            write(&path).unwrap();
            assert_eq!(fs::read(&path).unwrap(), data);
            let names: Vec<String> = fs::read_dir(path.parent().unwrap())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(names, vec![id.clone()], "only the file itself");
        }
        // Linking never replaces an existing file (unlike a rename): the name is taken.
        let id = new_uuid();
        let path = area.path_of(&id).unwrap();
        write_unnamed(&path).unwrap();
        let again = area.create_unnamed_then_link(
            path.parent().unwrap(),
            &path,
            b"other",
            None,
            &mut || {},
        );
        assert!(again.is_err(), "an existing file was replaced");
        assert_eq!(fs::read(&path).unwrap(), data);
    }

    /// `create_new` names complete files, prepared ahead or not; what was prepared and not
    /// used leaves nothing behind once the area is dropped.
    #[test]
    fn create_new_with_files_prepared_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let area = FilesystemStorage::open(dir.path(), true).unwrap();
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
        let mut stored = Vec::new();
        #[cfg(target_os = "linux")]
        {
            let ahead = area
                .ahead
                .as_ref()
                .expect("files are prepared ahead on Linux");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while ahead.ready_uuids().len() < ahead::AHEAD && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let ready = ahead.ready_uuids();
            assert_eq!(ready.len(), ahead::AHEAD, "prepared files: {ready:?}");
            let uuid = area.create_new(FileContentType::DICOM, &data).unwrap();
            assert!(ready.contains(&uuid), "{uuid} was not prepared ahead");
            assert_eq!(area.read(&uuid, FileContentType::DICOM).unwrap(), data);
            stored.push(uuid);
        }
        // More than are kept ready: the stock is refilled once it runs low.
        for _ in 0..2 * ahead::AHEAD {
            let uuid = area.create_new(FileContentType::DICOM, &data).unwrap();
            assert_eq!(area.read(&uuid, FileContentType::DICOM).unwrap(), data);
            stored.push(uuid);
        }
        #[cfg(target_os = "linux")]
        {
            let ahead = area.ahead.as_ref().unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            // Without refills, the stock would be empty by now.
            while ahead.ready_uuids().len() <= ahead::REFILL_AT
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let ready = ahead.ready_uuids().len();
            assert!(
                ready > ahead::REFILL_AT,
                "the stock is refilled: {ready} ready"
            );
        }
        stored.sort();
        let mut listed = area.list_uuids().unwrap().unwrap();
        listed.sort();
        assert_eq!(listed, stored, "only the stored files are visible");
        drop(area);
        // Every folder left holds a stored file.
        for first in fs::read_dir(dir.path()).unwrap().flatten() {
            for second in fs::read_dir(first.path()).unwrap().flatten() {
                let files = fs::read_dir(second.path()).unwrap().count();
                assert!(files > 0, "empty folder left: {}", second.path().display());
            }
        }
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
