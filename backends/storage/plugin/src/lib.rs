//! Plugin storage area: a storage area whose operations are callbacks registered by a plugin,
//! as with Orthanc's `OrthancPluginRegisterStorageArea(create, read, remove)` (and
//! `OrthancPluginRegisterStorageArea2`, which adds `readRange`).
//!
//! The Rust API keeps the shape of Orthanc's C callbacks, so that a C ABI can later be put in
//! front of it one to one:
//!
//! | Orthanc C callback                                   | Rust                                 |
//! |------------------------------------------------------|--------------------------------------|
//! | `OrthancPluginStorageCreate(uuid, content, size, type)` | [`StoragePlugin::create`]          |
//! | `OrthancPluginStorageReadWhole(target, uuid, type)`  | [`StoragePlugin::read`]              |
//! | `OrthancPluginStorageReadRange(target, uuid, type, start)` | [`StoragePlugin::read_range`] (optional) |
//! | `OrthancPluginStorageRemove(uuid, type)`             | [`StoragePlugin::remove`]            |
//! | returned `OrthancPluginErrorCode`                    | `Result<_, `[`PluginError`]`>`       |
//!
//! A plugin either implements [`StoragePlugin`] or fills a [`CallbackTable`] (the
//! function-pointer triple of the C API, here any closures), and the server wraps it in a
//! [`PluginStorage`], which implements [`StorageArea`]:
//!
//! * a plugin's [`PluginError::NotFound`] (or the codes `InexistentFile`, `InexistentItem`,
//!   `UnknownResource`) becomes [`StorageError::NotFound`]; removing a missing file succeeds,
//!   as the [`StorageArea`] contract says;
//! * any other error becomes [`StorageError::Other`], naming the plugin, the operation, the
//!   uuid, the Orthanc error code and the plugin's message;
//! * a panicking callback is caught and reported the same way (it does not take the calling
//!   thread down);
//! * without `read_range`, a range is served by reading the whole file and slicing it;
//! * `list_uuids` is optional too (Orthanc's API has no listing): without it the area cannot
//!   list, and orphan reclaiming is skipped.

use std::panic::{catch_unwind, AssertUnwindSafe};

use stowage_core::{FileContentType, StorageArea, StorageError};

/// A few of Orthanc's `OrthancPluginErrorCode` values, as plugins return them.
pub mod error_codes {
    pub const SUCCESS: i32 = 0;
    pub const INTERNAL_ERROR: i32 = -1;
    pub const PLUGIN: i32 = 1;
    pub const NOT_IMPLEMENTED: i32 = 2;
    pub const PARAMETER_OUT_OF_RANGE: i32 = 3;
    pub const INEXISTENT_ITEM: i32 = 7;
    pub const INEXISTENT_FILE: i32 = 13;
    pub const CANNOT_WRITE_FILE: i32 = 14;
    pub const BAD_FILE_FORMAT: i32 = 15;
    pub const UNKNOWN_RESOURCE: i32 = 17;
    pub const STORAGE_AREA_PLUGIN: i32 = 36;
}

/// What a plugin callback reports instead of success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The file does not exist (Orthanc: `InexistentFile`, `InexistentItem`, `UnknownResource`).
    #[error("no such file")]
    NotFound,
    /// Any other failure: an `OrthancPluginErrorCode` and a message for the log.
    #[error("error code {code}: {message}")]
    Failed { code: i32, message: String },
}

impl PluginError {
    /// A failure with Orthanc's generic `Plugin` error code.
    pub fn failed(message: impl Into<String>) -> Self {
        PluginError::Failed {
            code: error_codes::PLUGIN,
            message: message.into(),
        }
    }

    /// The error for an `OrthancPluginErrorCode` returned by a C callback (`None` for success).
    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            error_codes::SUCCESS => None,
            error_codes::INEXISTENT_FILE
            | error_codes::INEXISTENT_ITEM
            | error_codes::UNKNOWN_RESOURCE => Some(PluginError::NotFound),
            code => Some(PluginError::Failed {
                code,
                message: format!("the storage plugin returned error code {code}"),
            }),
        }
    }

    /// The `OrthancPluginErrorCode` of this error.
    pub fn code(&self) -> i32 {
        match self {
            PluginError::NotFound => error_codes::INEXISTENT_FILE,
            PluginError::Failed { code, .. } => *code,
        }
    }
}

impl From<std::io::Error> for PluginError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => PluginError::NotFound,
            _ => PluginError::Failed {
                code: error_codes::STORAGE_AREA_PLUGIN,
                message: e.to_string(),
            },
        }
    }
}

/// A storage area implemented by a plugin. `content_type` is the raw `OrthancPluginContentType`
/// (1 DICOM, 2 DICOM-as-JSON, 3 DICOM until pixel data, 1024.. user-defined). Calls come from
/// several threads at once.
pub trait StoragePlugin: Send + Sync + 'static {
    /// Stores a new file. When this returns `Ok`, the file must be complete and readable.
    fn create(&self, uuid: &str, content_type: i32, data: &[u8]) -> Result<(), PluginError>;

    /// Reads a whole file.
    fn read(&self, uuid: &str, content_type: i32) -> Result<Vec<u8>, PluginError>;

    /// Reads bytes `start..end` of a file, clamped to its size (`end` may be `u64::MAX`; a
    /// range past the end is empty). `None`: not supported, the area reads the whole file and
    /// slices it.
    fn read_range(
        &self,
        _uuid: &str,
        _content_type: i32,
        _start: u64,
        _end: u64,
    ) -> Option<Result<Vec<u8>, PluginError>> {
        None
    }

    /// Removes a file. Removing a missing file may return `Ok` or `NotFound`: both succeed.
    fn remove(&self, uuid: &str, content_type: i32) -> Result<(), PluginError>;

    /// Every uuid stored (a Stowage extension: Orthanc's API cannot list). `None`: not supported.
    fn list_uuids(&self) -> Option<Result<Vec<String>, PluginError>> {
        None
    }
}

pub type CreateCallback = Box<dyn Fn(&str, i32, &[u8]) -> Result<(), PluginError> + Send + Sync>;
pub type ReadCallback = Box<dyn Fn(&str, i32) -> Result<Vec<u8>, PluginError> + Send + Sync>;
pub type ReadRangeCallback =
    Box<dyn Fn(&str, i32, u64, u64) -> Result<Vec<u8>, PluginError> + Send + Sync>;
pub type RemoveCallback = Box<dyn Fn(&str, i32) -> Result<(), PluginError> + Send + Sync>;

/// The registration form of `OrthancPluginRegisterStorageArea`: three callbacks (any closures
/// or `fn` items), plus an optional `read_range` (`OrthancPluginRegisterStorageArea2`).
pub struct CallbackTable {
    pub create: CreateCallback,
    pub read: ReadCallback,
    pub remove: RemoveCallback,
    pub read_range: Option<ReadRangeCallback>,
}

impl CallbackTable {
    pub fn new(
        create: impl Fn(&str, i32, &[u8]) -> Result<(), PluginError> + Send + Sync + 'static,
        read: impl Fn(&str, i32) -> Result<Vec<u8>, PluginError> + Send + Sync + 'static,
        remove: impl Fn(&str, i32) -> Result<(), PluginError> + Send + Sync + 'static,
    ) -> Self {
        CallbackTable {
            create: Box::new(create),
            read: Box::new(read),
            remove: Box::new(remove),
            read_range: None,
        }
    }

    pub fn with_read_range(
        mut self,
        read_range: impl Fn(&str, i32, u64, u64) -> Result<Vec<u8>, PluginError> + Send + Sync + 'static,
    ) -> Self {
        self.read_range = Some(Box::new(read_range));
        self
    }
}

impl StoragePlugin for CallbackTable {
    fn create(&self, uuid: &str, content_type: i32, data: &[u8]) -> Result<(), PluginError> {
        (self.create)(uuid, content_type, data)
    }

    fn read(&self, uuid: &str, content_type: i32) -> Result<Vec<u8>, PluginError> {
        (self.read)(uuid, content_type)
    }

    fn read_range(
        &self,
        uuid: &str,
        content_type: i32,
        start: u64,
        end: u64,
    ) -> Option<Result<Vec<u8>, PluginError>> {
        self.read_range
            .as_ref()
            .map(|f| f(uuid, content_type, start, end))
    }

    fn remove(&self, uuid: &str, content_type: i32) -> Result<(), PluginError> {
        (self.remove)(uuid, content_type)
    }
}

/// The [`StorageArea`] backed by a [`StoragePlugin`].
pub struct PluginStorage {
    plugin: Box<dyn StoragePlugin>,
    name: String,
}

impl PluginStorage {
    pub fn new(plugin: Box<dyn StoragePlugin>) -> Self {
        PluginStorage {
            plugin,
            name: "storage plugin".to_owned(),
        }
    }

    /// The C-style registration: three callbacks (and maybe `read_range`).
    pub fn from_callbacks(table: CallbackTable) -> Self {
        Self::new(Box::new(table))
    }

    /// Names the plugin in error messages (default "storage plugin").
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn plugin(&self) -> &dyn StoragePlugin {
        self.plugin.as_ref()
    }

    /// Runs a callback, turning a panic into an error.
    fn call<T>(
        &self,
        op: &str,
        uuid: &str,
        f: impl FnOnce() -> Result<T, PluginError>,
    ) -> Result<T, StorageError> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(PluginError::NotFound)) => Err(StorageError::NotFound(uuid.to_owned())),
            Ok(Err(PluginError::Failed { code, message })) => Err(StorageError::Other(format!(
                "{}: {op} of {uuid} failed (error code {code}): {message}",
                self.name
            ))),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_owned());
                Err(StorageError::Other(format!(
                    "{}: {op} of {uuid} panicked: {what}",
                    self.name
                )))
            }
        }
    }
}

fn clamp(len: usize, start: u64, end: u64) -> std::ops::Range<usize> {
    let len = len as u64;
    let s = start.min(len);
    let e = end.min(len).max(s);
    s as usize..e as usize
}

impl StorageArea for PluginStorage {
    fn create(
        &self,
        uuid: &str,
        content_type: FileContentType,
        data: &[u8],
    ) -> Result<(), StorageError> {
        self.call("create", uuid, || {
            self.plugin.create(uuid, content_type.0, data)
        })
        .map_err(|e| match e {
            // "Not found" makes no sense for a create: report it as a failure.
            StorageError::NotFound(_) => StorageError::Other(format!(
                "{}: create of {uuid} failed: the plugin answered \"no such file\"",
                self.name
            )),
            e => e,
        })
    }

    fn read(&self, uuid: &str, content_type: FileContentType) -> Result<Vec<u8>, StorageError> {
        self.call("read", uuid, || self.plugin.read(uuid, content_type.0))
    }

    fn read_range(
        &self,
        uuid: &str,
        content_type: FileContentType,
        start: u64,
        end: u64,
    ) -> Result<Vec<u8>, StorageError> {
        let ranged = self.call("read_range", uuid, || {
            self.plugin
                .read_range(uuid, content_type.0, start, end)
                .transpose()
        })?;
        match ranged {
            Some(mut bytes) => {
                // Hold the plugin to the contract: never more than was asked for.
                let want = end.saturating_sub(start);
                if bytes.len() as u64 > want {
                    bytes.truncate(want as usize);
                }
                Ok(bytes)
            }
            None => {
                let all = self.read(uuid, content_type)?;
                let r = clamp(all.len(), start, end);
                if r.start == 0 && r.end == all.len() {
                    Ok(all)
                } else {
                    Ok(all[r].to_vec())
                }
            }
        }
    }

    fn remove(&self, uuid: &str, content_type: FileContentType) -> Result<(), StorageError> {
        match self.call("remove", uuid, || self.plugin.remove(uuid, content_type.0)) {
            Err(StorageError::NotFound(_)) => Ok(()),
            other => other,
        }
    }

    fn list_uuids(&self) -> Result<Option<Vec<String>>, StorageError> {
        self.call("list", "the storage area", || {
            self.plugin.list_uuids().transpose()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map() {
        assert_eq!(PluginError::from_code(0), None);
        assert_eq!(PluginError::from_code(13), Some(PluginError::NotFound));
        assert_eq!(PluginError::from_code(17), Some(PluginError::NotFound));
        assert_eq!(PluginError::from_code(14).map(|e| e.code()), Some(14));
        assert_eq!(PluginError::NotFound.code(), error_codes::INEXISTENT_FILE);
    }

    #[test]
    fn clamping() {
        assert_eq!(clamp(10, 2, 5), 2..5);
        assert_eq!(clamp(10, 8, 50), 8..10);
        assert_eq!(clamp(10, 12, 50), 10..10);
        assert_eq!(clamp(10, 6, 4), 6..6);
        assert_eq!(clamp(0, 0, u64::MAX), 0..0);
    }
}
