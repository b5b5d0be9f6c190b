//! Writing files to the storage area: compressed as asked, their MD5 computed beside the
//! write (see [`PreparedAttachment::write`]).

use std::sync::Arc;

use stowage_core::{CompressionType, FileContentType, FileInfo, StorageArea, StorageError};

use crate::support::hashing::{md5_hex, HashBatcher, SharedBytes};

/// zlib with the uncompressed size first (little-endian u64), as Orthanc stores compressed files.
pub fn compress(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity(data.len() / 2 + 16);
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    let mut enc = flate2::write::ZlibEncoder::new(out, flate2::Compression::new(6));
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// An attachment ready to be written: its bytes (compressed if asked, which
/// happens here). Its stored size is thus known before the write.
pub struct PreparedAttachment<'a> {
    content_type: FileContentType,
    data: &'a [u8],
    compressed: Option<Vec<u8>>,
    /// Owns `data`, if shared: its hash can then be computed on another thread.
    owner: Option<SharedBytes>,
    /// Other stores are in progress (see [`PreparedAttachment::write`]).
    others_in_progress: bool,
}

/// Where concurrent stores hash their files together.
static HASHER: HashBatcher = HashBatcher::new();

/// The MD5 of `data`, computed on another thread while `work` runs. On the runtime's pool of
/// blocking threads when there is one (`owner` given), rather than on a thread started for
/// each file.
///
/// The pool is shared with the stores themselves: should every pooled thread be a store
/// waiting for its hash, the queued hashing could never start. So whichever comes first
/// claims the hash: the pooled task, or this thread once `work` is done.
fn md5_meanwhile<R>(
    data: &[u8],
    owner: Option<&SharedBytes>,
    work: impl FnOnce() -> R,
) -> (String, R) {
    use std::sync::atomic::{AtomicBool, Ordering};

    let runtime = tokio::runtime::Handle::try_current();
    if let (Some(owner), Ok(runtime)) = (owner, runtime) {
        let claimed = Arc::new(AtomicBool::new(false));
        let (send, receive) = std::sync::mpsc::sync_channel(1);
        let (owner, by_task) = (owner.clone(), claimed.clone());
        runtime.spawn_blocking(move || {
            if !by_task.swap(true, Ordering::AcqRel) {
                let _ = send.send(md5_hex((*owner).as_ref()));
            }
        });
        let out = work();
        let md5 = if claimed.swap(true, Ordering::AcqRel) {
            // The task is hashing; should it fail, hash here.
            receive.recv().unwrap_or_else(|_| md5_hex(data))
        } else {
            md5_hex(data)
        };
        return (md5, out);
    }
    std::thread::scope(|scope| {
        let hashing = scope.spawn(|| md5_hex(data));
        let out = work();
        // The hash cannot panic; should the thread fail anyway, hash here.
        let md5 = hashing.join().unwrap_or_else(|_| md5_hex(data));
        (md5, out)
    })
}

impl<'a> PreparedAttachment<'a> {
    pub fn new(data: &'a [u8], content_type: FileContentType, compress_it: bool) -> Self {
        PreparedAttachment {
            content_type,
            data,
            compressed: compress_it.then(|| compress(data)),
            owner: None,
            others_in_progress: false,
        }
    }

    /// Other stores are in progress: the processor's cores are busy with them.
    pub fn among_other_stores(mut self, others: bool) -> Self {
        self.others_in_progress = others;
        self
    }

    /// `data` is owned by `owner`, which other threads may then hash (see
    /// [`PreparedAttachment::write`]).
    pub fn owned_by(mut self, owner: SharedBytes) -> Self {
        self.owner = Some(owner);
        self
    }

    /// Size of the file in the storage area.
    pub fn stored_size(&self) -> u64 {
        self.compressed.as_ref().map_or(self.data.len(), Vec::len) as u64
    }

    /// Writes the file (under a uuid the storage area chooses) and returns its index record.
    /// Without compression, the MD5 is computed:
    /// - for a lone store, on a pooled thread (another core) during the whole write and flush,
    ///   so that it adds nothing to the store's time;
    /// - with other stores in progress (the cores are busy anyway), together with their files
    ///   once this one is flushed (see [`crate::hashing`]): measured at eight concurrent
    ///   uploads, 0.42 ms of CPU per store instead of 0.55, and 11 % more stores per second;
    /// - without an owner of the bytes to share, on this thread while the disk writes them.
    pub fn write(&self, storage: &dyn StorageArea) -> Result<FileInfo, StorageError> {
        let (content_type, data) = (self.content_type, self.data);
        if let Some(stored) = &self.compressed {
            let (md5, compressed_md5) = (md5_hex(data), md5_hex(stored));
            let uuid = storage.create_new(content_type, stored)?;
            return Ok(FileInfo {
                uuid,
                content_type,
                uncompressed_size: data.len() as u64,
                uncompressed_md5: md5,
                compression: CompressionType::ZlibWithSize,
                compressed_size: stored.len() as u64,
                compressed_md5,
            });
        }
        let (md5, uuid) = match &self.owner {
            Some(owner) if !self.others_in_progress => {
                let (md5, written) =
                    md5_meanwhile(data, Some(owner), || storage.create_new(content_type, data));
                (md5, written?)
            }
            // Hashed with other stores' files, once this one is flushed (see `hashing`).
            Some(owner) => {
                let ticket = HASHER.submit(owner.clone());
                let uuid = storage.create_new(content_type, data)?;
                (ticket.digest(), uuid)
            }
            None => {
                let mut md5 = None;
                let uuid = storage.create_new_meanwhile(content_type, data, &mut || {
                    md5 = Some(md5_hex(data));
                })?;
                (md5.unwrap_or_else(|| md5_hex(data)), uuid)
            }
        };
        Ok(FileInfo {
            uuid,
            content_type,
            uncompressed_size: data.len() as u64,
            uncompressed_md5: md5.clone(),
            compression: CompressionType::None,
            compressed_size: data.len() as u64,
            compressed_md5: md5,
        })
    }
}

/// Writes a new attachment to the storage area (compressed if asked) and returns its index
/// record.
pub fn write_attachment(
    storage: &dyn StorageArea,
    data: &[u8],
    content_type: FileContentType,
    compressed: bool,
) -> Result<FileInfo, StorageError> {
    PreparedAttachment::new(data, content_type, compressed).write(storage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn bytes() -> Vec<u8> {
        (0..200_000u32).map(|i| (i % 241) as u8).collect()
    }

    /// Alone or among other stores (hashed on a pooled thread, or on the writing thread while
    /// the disk writes), with or without an owner: the same record, and the file is stored.
    #[test]
    fn every_way_of_hashing_gives_the_same_record() {
        let dir = tempfile::tempdir().unwrap();
        let storage = stowage_storage_fs::FilesystemStorage::open(dir.path(), true).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let data: SharedBytes = Arc::new(bytes());
        let expected = md5_hex((*data).as_ref());
        for (owned, others) in [(true, false), (true, true), (false, false), (false, true)] {
            let data = data.clone();
            let storage = &storage;
            let info = runtime.block_on(async move {
                tokio::task::block_in_place(|| {
                    let bytes: &[u8] = (*data).as_ref();
                    let mut prepared =
                        PreparedAttachment::new(bytes, FileContentType::DICOM, false)
                            .among_other_stores(others);
                    if owned {
                        prepared = prepared.owned_by(data.clone());
                    }
                    prepared.write(storage).unwrap()
                })
            });
            let case = format!("owned {owned}, among others {others}");
            assert_eq!(info.uncompressed_md5, expected, "{case}");
            assert_eq!(info.compressed_md5, expected, "{case}");
            assert_eq!(info.uncompressed_size, 200_000, "{case}");
            let back = storage.read(&info.uuid, FileContentType::DICOM).unwrap();
            assert!(back == *bytes(), "{case}: file read back");
        }
    }

    #[test]
    fn md5_beside_work_without_a_runtime() {
        let data = bytes();
        let (md5, out) = md5_meanwhile(&data, None, || 7);
        assert_eq!((md5, out), (md5_hex(&data), 7));
    }

    /// With the runtime's only blocking thread taken by the caller itself, the queued hashing
    /// cannot start: the caller must hash, not wait for it forever.
    #[test]
    fn md5_when_the_blocking_pool_is_full() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let data: SharedBytes = Arc::new(bytes());
        let expected = md5_hex((*data).as_ref());
        let (done, result) = std::sync::mpsc::channel();
        let task = runtime.spawn_blocking(move || {
            let bytes: &[u8] = (*data).as_ref();
            let (md5, ()) = md5_meanwhile(bytes, Some(&data), || {
                std::thread::sleep(Duration::from_millis(50));
            });
            let _ = done.send(md5);
        });
        let md5 = result
            .recv_timeout(Duration::from_secs(20))
            .expect("the hash never came: the caller waited for a task that could not start");
        assert_eq!(md5, expected);
        drop(task);
        runtime.shutdown_timeout(Duration::from_secs(1));
    }
}
