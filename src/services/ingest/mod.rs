//! The ingest service: parse, identify, write the file, then record it in the index.
//!
//! Order of operations (durability): the file reaches the storage area first; the index rows
//! are committed afterwards in one transaction. If the transaction fails, the file is removed.
//! A crash between the two leaves only an orphan file, reclaimed by the sweep.
//!
//! - [`group_commit`]: the writer thread that records concurrent stores in one transaction;
//! - [`record`]: an instance's rows; [`recycling`]: room made under the configured limits;
//! - [`zip_upload`]: the DICOM files of a ZIP archive, one after the other.

mod error;
mod group_commit;
mod origin;
mod record;
mod recycling;
mod zip_upload;

use std::sync::Arc;

use stowage_core::{FileContentType, InstanceHashes, ResourceType};
use stowage_dicom::{DicomFile, Tag};

use super::context::Context;
use super::error::{FileError, ServiceError};
use super::file_writer::PreparedAttachment;
use super::files::remove_files;
use crate::support::ids::instance_hashes;
use group_commit::{GroupCommitter, PendingStore, SlotFiller};

pub use error::IngestError;
pub use origin::Origin;
pub use record::StoreStatus;

const PATIENT_ID: Tag = Tag::new(0x0010, 0x0020);
const STUDY_INSTANCE_UID: Tag = Tag::new(0x0020, 0x000d);
const SERIES_INSTANCE_UID: Tag = Tag::new(0x0020, 0x000e);
const SOP_INSTANCE_UID: Tag = Tag::new(0x0008, 0x0018);

/// What a store did.
#[derive(Debug, Clone)]
pub struct StoreOutcome {
    pub status: StoreStatus,
    pub ids: InstanceHashes,
}

fn required_identifier(
    file: &DicomFile,
    tag: Tag,
    name: &'static str,
) -> Result<String, IngestError> {
    match file.string(tag) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(IngestError::MissingIdentifier { name, tag }),
    }
}

/// The ingest service: every front stores instances through it.
pub struct Ingest {
    ctx: Arc<Context>,
    committer: GroupCommitter,
}

impl Ingest {
    /// Starts the index writer thread (see [`group_commit`]).
    pub fn start(ctx: Arc<Context>) -> Ingest {
        let committer = GroupCommitter::start(Arc::downgrade(&ctx));
        Ingest { ctx, committer }
    }

    /// Stops accepting stores; the writer thread ends once those submitted are done.
    pub fn close(&self) {
        self.committer.close();
    }

    /// Stores an uploaded body: one DICOM file, or a ZIP archive of them (whose files that
    /// are not DICOM are skipped). Blocking.
    pub fn store_upload(
        &self,
        body: Vec<u8>,
        origin: &Origin,
    ) -> Result<UploadOutcome, IngestError> {
        if body.is_empty() {
            return Err(IngestError::Empty);
        }
        if !zip_upload::is_zip(&body) {
            return Ok(UploadOutcome::One(self.store(body, origin)?));
        }
        let mut stored = Vec::new();
        for entry in zip_upload::entries(&body)? {
            match self.store(entry, origin) {
                Ok(o) => stored.push(o),
                Err(e) if e.is_bad_file() => {
                    tracing::info!("skipping a file of the ZIP archive: {e}");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(UploadOutcome::Archive(stored))
    }

    /// Stores one DICOM file. Blocking.
    pub fn store(&self, data: Vec<u8>, origin: &Origin) -> Result<StoreOutcome, IngestError> {
        store(&self.ctx, &self.committer, data, origin)
    }
}

/// What an upload stored.
#[derive(Debug, Clone)]
pub enum UploadOutcome {
    One(StoreOutcome),
    /// The DICOM files of a ZIP archive.
    Archive(Vec<StoreOutcome>),
}

/// Stores one DICOM file, taking its buffer (the parsed file keeps it: the bytes are held in
/// memory once). Runs on a blocking thread.
fn store(
    ctx: &Context,
    committer: &GroupCommitter,
    data: Vec<u8>,
    origin: &Origin,
) -> Result<StoreOutcome, IngestError> {
    let in_progress = committer.store_started();
    let file = stowage_dicom::parse_vec(data)?;
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
        let exists = ctx.read_blocking(|tx| {
            Ok::<_, IngestError>(tx.lookup_resource(&ids.instance)?.is_some())
        })?;
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
    let slot = committer.new_slot();
    let filler = SlotFiller::new(slot.clone());
    let written_first = if ctx.storage.writes_locally() {
        None
    } else {
        Some(
            prepared
                .write(ctx.storage.as_ref())
                .map_err(FileError::Write)?,
        )
    };
    let pending = committer.submit(PendingStore {
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
            return Err(FileError::Write(e).into());
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
