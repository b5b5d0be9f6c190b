//! The ingest pipeline: parse, identify, write the file, then record it in the index.
//!
//! Order of operations (durability): the file reaches the storage area first; the index rows
//! are committed afterwards in one transaction. If the transaction fails, the file is removed.
//! A crash between the two leaves only an orphan file, reclaimed by the start-up sweep.

use stowage_core::{
    ChangeType, CompressionType, DeletedResources, FileContentType, FileInfo, IndexTransaction,
    InstanceHashes, InternalId, MetadataType, NewChange, ResourceType, ResourcesContent,
    StorageArea, StorageError,
};
use stowage_dicom::{DicomError, DicomFile, Tag};

use crate::clock::now_iso;
use crate::config::Config;
use crate::context::ServerContext;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::group_commit::{FileSlot, PendingStore, SlotFiller};
use crate::hashing::{md5_hex, HashBatcher};
use crate::ids::instance_hashes;
use std::sync::Arc;

const PATIENT_ID: Tag = Tag::new(0x0010, 0x0020);
const STUDY_INSTANCE_UID: Tag = Tag::new(0x0020, 0x000d);
const SERIES_INSTANCE_UID: Tag = Tag::new(0x0020, 0x000e);
const SOP_INSTANCE_UID: Tag = Tag::new(0x0008, 0x0018);

/// Where an instance came from (recorded in its metadata).
#[derive(Debug, Clone)]
pub enum Origin {
    RestApi {
        remote_ip: String,
        username: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreStatus {
    Success,
    AlreadyStored,
}

impl StoreStatus {
    pub fn name(self) -> &'static str {
        match self {
            StoreStatus::Success => "Success",
            StoreStatus::AlreadyStored => "AlreadyStored",
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoreOutcome {
    pub status: StoreStatus,
    pub ids: InstanceHashes,
}

pub fn dicom_error(e: DicomError) -> ApiError {
    match e {
        DicomError::Empty | DicomError::Invalid { .. } => {
            ApiError::with_details(ErrorCode::BadFileFormat, e.to_string())
        }
        DicomError::UnknownTag(_) => ApiError::not_found(),
        DicomError::OutOfRange => ApiError::new(ErrorCode::ParameterOutOfRange),
        DicomError::NoPixelData => ApiError::with_details(ErrorCode::BadFileFormat, e.to_string()),
    }
}

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

/// Bytes shared with other threads (a parsed DICOM file, which holds its buffer).
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

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

fn required_identifier(file: &DicomFile, tag: Tag, name: &str) -> ApiResult<String> {
    match file.string(tag) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::with_details(
            ErrorCode::BadFileFormat,
            format!("Missing mandatory tag {name} ({tag})"),
        )),
    }
}

/// Stores one DICOM file, taking its buffer (the parsed file keeps it: the bytes are held in
/// memory once). Runs on a blocking thread.
pub fn store(ctx: &ServerContext, data: Vec<u8>, origin: &Origin) -> ApiResult<StoreOutcome> {
    let in_progress = ctx.committer.store_started();
    let file = stowage_dicom::parse_vec(data).map_err(dicom_error)?;
    let patient_id = file.string(PATIENT_ID).unwrap_or_default();
    let study = required_identifier(&file, STUDY_INSTANCE_UID, "StudyInstanceUID")?;
    let series = required_identifier(&file, SERIES_INSTANCE_UID, "SeriesInstanceUID")?;
    let sop = required_identifier(&file, SOP_INSTANCE_UID, "SOPInstanceUID")?;
    let ids = instance_hashes(&patient_id, &study, &series, &sop);
    let overwrite = ctx.config.overwrite_instances;

    // An instance already stored is detected when its rows are recorded, and the file just
    // written is then removed (as Orthanc 1.10 does). Checking first would cost every store a
    // read transaction; it pays only where a write is slow: a remote area.
    if !overwrite && !ctx.storage.writes_locally() {
        let exists = ctx.read_blocking(|tx| Ok(tx.lookup_resource(&ids.instance)?.is_some()))?;
        if exists {
            return Ok(StoreOutcome {
                status: StoreStatus::AlreadyStored,
                ids,
            });
        }
    }

    // The index work starts now, while the file is written: the writer thread records the
    // instance and waits for the file to be durable (`FileSlot`) before it commits.
    let file = Arc::new(file);
    let prepared = PreparedAttachment::new(
        file.bytes(),
        FileContentType::DICOM,
        ctx.config.storage_compression,
    )
    .owned_by(file.clone())
    .among_other_stores(in_progress.others() > 0);
    // A remote area (S3...) is written first instead: the writer thread must not hold the
    // index's write transaction open while a slow request completes.
    let slot = ctx.committer.new_slot();
    let filler = SlotFiller::new(slot.clone());
    let written_first = if ctx.storage.writes_locally() {
        None
    } else {
        Some(prepared.write(ctx.storage.as_ref())?)
    };
    let pending = ctx.committer.submit(PendingStore {
        file: file.clone(),
        ids: ids.clone(),
        stored_size: prepared.stored_size(),
        slot,
        origin: origin.clone(),
    });
    let written = match written_first {
        Some(info) => Ok(info),
        None => prepared.write(ctx.storage.as_ref()),
    };
    filler.fill(written.as_ref().ok().cloned());
    let result = pending.and_then(|p| p.wait());
    let info = match written {
        Ok(info) => info,
        Err(e) => {
            // The writer fails this store (its slot is empty); the storage error is the cause.
            if let Err(index_error) = &result {
                tracing::debug!("store refused after its file failed: {index_error:?}");
            }
            return Err(e.into());
        }
    };
    match result {
        Ok((status, obsolete)) => {
            if status == StoreStatus::AlreadyStored {
                remove_files(ctx, std::slice::from_ref(&info));
            } else {
                ctx.stable.touch(&[
                    (ResourceType::Patient, &ids.patient),
                    (ResourceType::Study, &ids.study),
                    (ResourceType::Series, &ids.series),
                ]);
            }
            remove_files(ctx, &obsolete.files);
            for r in &obsolete.resources {
                let id = &r.public_id;
                if *id != ids.patient && *id != ids.study && *id != ids.series {
                    ctx.stable.forget(id);
                }
            }
            Ok(StoreOutcome { status, ids })
        }
        Err(e) => {
            if !e.commit_outcome_unknown() {
                remove_files(ctx, std::slice::from_ref(&info));
            }
            Err(e)
        }
    }
}

/// Removes files whose index records are gone; failures only leave orphans (reclaimed by the
/// start-up sweep), so they are logged.
pub fn remove_files(ctx: &ServerContext, files: &[FileInfo]) {
    if files.is_empty() {
        return;
    }
    // The deletion that released these files must be durable before they go.
    if let Err(e) = ctx.index.flush_to_disk() {
        tracing::warn!("keeping {} files: {e}", files.len());
        return;
    }
    for f in files {
        if let Err(e) = ctx.storage.remove(&f.uuid, f.content_type) {
            tracing::warn!("cannot remove file {}: {e}", f.uuid);
        }
    }
}

fn tags_of(file: &DicomFile, levels: &[ResourceType], id: i64, content: &mut ResourcesContent) {
    for level in levels {
        for (tag, value) in file.main_dicom_tags(*level) {
            content.main_tags.push(stowage_core::ResourceMainDicomTag {
                resource: id,
                group: tag.group,
                element: tag.element,
                value,
            });
        }
    }
}

/// The index part of a store, inside one read-write transaction. Returns the status and what
/// was deleted on the way (an overwritten instance, recycled patients).
pub fn record_instance(
    config: &Config,
    tx: &mut dyn IndexTransaction,
    store: &PendingStore,
    deferred: &mut Vec<(InternalId, MetadataType, String)>,
    attachments: &mut Vec<(InternalId, Arc<FileSlot>)>,
) -> ApiResult<(StoreStatus, DeletedResources)> {
    let PendingStore {
        file,
        ids,
        stored_size,
        origin,
        ..
    } = store;
    let mut obsolete = DeletedResources::default();
    if let Some(stowage_core::ResourceRef { id: old, .. }) = tx.lookup_resource(&ids.instance)? {
        if !config.overwrite_instances {
            return Ok((StoreStatus::AlreadyStored, obsolete));
        }
        let deleted = tx.delete_resource(old)?;
        obsolete.files.extend(deleted.files);
        obsolete.resources.extend(deleted.resources);
    }

    let patient_exists = tx.lookup_resource(&ids.patient)?.is_some();
    crate::recycling::make_room(
        config,
        tx,
        *stored_size,
        !patient_exists,
        &ids.patient,
        &mut obsolete,
    )?;

    let created = tx.create_instance(ids)?;
    if !created.is_new_instance {
        return Ok((StoreStatus::AlreadyStored, obsolete));
    }
    let mut content = ResourcesContent::default();
    if created.is_new_patient {
        tags_of(
            file,
            &[ResourceType::Patient],
            created.patient_id,
            &mut content,
        );
    }
    if created.is_new_study {
        // As Orthanc, a study keeps the patient tags of its first instance too.
        tags_of(
            file,
            &[ResourceType::Patient, ResourceType::Study],
            created.study_id,
            &mut content,
        );
    }
    if created.is_new_series {
        tags_of(
            file,
            &[ResourceType::Series],
            created.series_id,
            &mut content,
        );
    }
    tags_of(
        file,
        &[ResourceType::Instance],
        created.instance_id,
        &mut content,
    );

    let now = now_iso();
    let index_in_series = tx.count_children(created.series_id)?;
    let mut meta = |kind: MetadataType, value: String| {
        content.metadata.push(stowage_core::ResourceMetadataValue {
            resource: created.instance_id,
            kind,
            value,
        });
    };
    meta(MetadataType::INDEX_IN_SERIES, index_in_series.to_string());
    meta(MetadataType::RECEPTION_DATE, now.clone());
    meta(
        MetadataType::TRANSFER_SYNTAX,
        file.transfer_syntax_uid().to_owned(),
    );
    if let Some(sop_class) = file.sop_class_uid() {
        meta(MetadataType::SOP_CLASS_UID, sop_class);
    }
    if let Some(offset) = file.pixel_data_offset() {
        meta(MetadataType::PIXEL_DATA_OFFSET, offset.to_string());
    }
    let remote_aet = match origin {
        Origin::RestApi {
            remote_ip,
            username,
        } => {
            meta(MetadataType::ORIGIN, "RestApi".into());
            meta(MetadataType::REMOTE_IP, remote_ip.clone());
            meta(
                MetadataType::HTTP_USERNAME,
                username.clone().unwrap_or_default(),
            );
            meta(MetadataType::REMOTE_AET, String::new());
            String::new()
        }
    };
    // Metadata of the (possibly shared) parents is written last, by the caller, for the whole
    // transaction at once and in key order: see `write_parent_metadata`.
    deferred.push((created.series_id, MetadataType::REMOTE_AET, remote_aet));
    for id in [created.series_id, created.study_id, created.patient_id] {
        deferred.push((id, MetadataType::LAST_UPDATE, now.clone()));
    }
    tx.set_resources_content(&content)?;
    attachments.push((created.instance_id, store.slot.clone()));

    let mut log = |change_type: ChangeType, level: ResourceType, public_id: &str| {
        tx.log_change(&NewChange {
            change_type,
            resource_type: level,
            public_id: public_id.to_owned(),
            date: now.clone(),
        })
    };
    log(
        ChangeType::NewInstance,
        ResourceType::Instance,
        &ids.instance,
    )?;
    if created.is_new_series {
        log(ChangeType::NewSeries, ResourceType::Series, &ids.series)?;
    }
    if created.is_new_study {
        log(ChangeType::NewStudy, ResourceType::Study, &ids.study)?;
    }
    if created.is_new_patient {
        log(ChangeType::NewPatient, ResourceType::Patient, &ids.patient)?;
    }
    Ok((StoreStatus::Success, obsolete))
}

/// Adds the files of the instances recorded by [`record_instance`], once each is durable in
/// the storage area: the last step before the commit, so that the index work overlaps the
/// writing of the files. A file that could not be written fails the transaction.
pub fn attach_files(
    tx: &mut dyn IndexTransaction,
    attachments: Vec<(InternalId, Arc<FileSlot>)>,
) -> ApiResult<()> {
    for (instance, slot) in attachments {
        let info = slot
            .wait()
            .ok_or_else(|| ApiError::internal("the DICOM file could not be stored"))?;
        tx.add_attachment(instance, &info, &stowage_core::Precondition::Any)?;
    }
    Ok(())
}

/// Writes the parents' metadata collected by [`record_instance`] for a whole transaction: each
/// key once (the last value wins), in key order. Rows shared by concurrent writers (a study's
/// `LastUpdate`...) are thus locked last and in the same order by every writer, so writers
/// sharing an index queue on them instead of deadlocking.
pub fn write_parent_metadata(
    tx: &mut dyn IndexTransaction,
    mut deferred: Vec<(InternalId, MetadataType, String)>,
) -> ApiResult<()> {
    if deferred.is_empty() {
        return Ok(());
    }
    // Stable sort: for equal keys the order of recording is kept, then the last one is kept.
    deferred.sort_by_key(|(id, kind, _)| (*id, *kind));
    let mut metadata: Vec<(InternalId, MetadataType, String)> = Vec::with_capacity(deferred.len());
    for item in deferred {
        match metadata.last_mut() {
            Some(last) if (last.0, last.1) == (item.0, item.1) => *last = item,
            _ => metadata.push(item),
        }
    }
    tx.set_resources_content(&ResourcesContent {
        main_tags: Vec::new(),
        metadata: metadata
            .into_iter()
            .map(
                |(resource, kind, value)| stowage_core::ResourceMetadataValue {
                    resource,
                    kind,
                    value,
                },
            )
            .collect(),
    })?;
    Ok(())
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
