//! The storage area trait: where attachment bytes live (filesystem, object storage, plugins),
//! modelled on Orthanc's `OrthancPluginStorageCreate/Read/Remove` callbacks.

use crate::FileContentType;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("no file {0} in the storage area")]
    NotFound(String),
    #[error("invalid file identifier: {0}")]
    InvalidUuid(String),
    #[error("storage I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("storage error: {0}")]
    Other(String),
}

/// A new random (version 4) uuid, in its usual text form.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A place where files are kept, each under a uuid. Calls may block: the server invokes them
/// from blocking threads.
pub trait StorageArea: Send + Sync + 'static {
    /// Stores a new file; when this returns, the file is durable (unless the area is configured
    /// otherwise) and complete: a reader never sees a partial file.
    fn create(
        &self,
        uuid: &str,
        content_type: FileContentType,
        data: &[u8],
    ) -> Result<(), StorageError>;
    /// Stores a new file under a uuid the area chooses, and returns it; the same guarantees
    /// as [`StorageArea::create`]. An area may prepare names ahead of need, to take work off
    /// the writer's path.
    fn create_new(
        &self,
        content_type: FileContentType,
        data: &[u8],
    ) -> Result<String, StorageError> {
        let uuid = new_uuid();
        self.create(&uuid, content_type, data)?;
        Ok(uuid)
    }
    /// As [`StorageArea::create_new`], running `meanwhile` while the file is being made
    /// durable where the area can (a local disk flushing it), else after it is stored: work
    /// that must be done anyway (hashing the file...) then overlaps the wait for the disk,
    /// on the same thread.
    fn create_new_meanwhile(
        &self,
        content_type: FileContentType,
        data: &[u8],
        meanwhile: &mut dyn FnMut(),
    ) -> Result<String, StorageError> {
        let uuid = self.create_new(content_type, data)?;
        meanwhile();
        Ok(uuid)
    }
    fn read(&self, uuid: &str, content_type: FileContentType) -> Result<Vec<u8>, StorageError>;
    /// Reads bytes `start..end` of a file (clamped to its size).
    fn read_range(
        &self,
        uuid: &str,
        content_type: FileContentType,
        start: u64,
        end: u64,
    ) -> Result<Vec<u8>, StorageError> {
        let all = self.read(uuid, content_type)?;
        let len = all.len() as u64;
        let (s, e) = (start.min(len) as usize, end.min(len) as usize);
        Ok(all[s..e.max(s)].to_vec())
    }
    /// Removes a file; removing a missing file is not an error.
    fn remove(&self, uuid: &str, content_type: FileContentType) -> Result<(), StorageError>;
    /// Every uuid in the area, for reclaiming orphan files; `None` when the area cannot list.
    fn list_uuids(&self) -> Result<Option<Vec<String>>, StorageError> {
        Ok(None)
    }

    /// When a file was last written, if the area knows (used to spare files of stores in
    /// progress when reclaiming orphans).
    fn modified(&self, _uuid: &str) -> Option<std::time::SystemTime> {
        None
    }

    /// Whether `create` is a local write that takes milliseconds at most (a disk), rather
    /// than a request to a remote service that may take seconds. The ingest pipeline overlaps
    /// the index work with such writes, holding the index's write transaction open meanwhile;
    /// a slow remote write must not hold it.
    fn writes_locally(&self) -> bool {
        false
    }
}
