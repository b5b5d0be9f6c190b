//! The index part of a store: an instance's rows, inside the writer's transaction.

use stowage_core::{
    ChangeType, DeletedResources, IndexTransaction, InstanceHashes, InternalId, MetadataType,
    NewChange, ResourceMainDicomTag, ResourceMetadataValue, ResourceRef, ResourceType,
    ResourcesContent,
};
use stowage_dicom::DicomFile;

use super::error::IngestError;
use super::origin::Origin;
use super::recycling;
use crate::config::Config;
use crate::support::clock::now_iso;

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

/// What recording one instance did.
pub struct Recorded {
    pub status: StoreStatus,
    /// What was deleted on the way (an overwritten instance, recycled patients).
    pub obsolete: DeletedResources,
    /// The new instance, whose file is still to be attached (`None` if already stored).
    pub instance: Option<InternalId>,
}

/// What is recorded of one instance.
pub struct InstanceToRecord<'a> {
    pub file: &'a DicomFile,
    pub ids: &'a InstanceHashes,
    /// Size of the file in the storage area (for the recycling limits).
    pub stored_size: u64,
    pub origin: &'a Origin,
}

fn tags_of(file: &DicomFile, levels: &[ResourceType], id: i64, content: &mut ResourcesContent) {
    for level in levels {
        for (tag, value) in file.main_dicom_tags(*level) {
            content.main_tags.push(ResourceMainDicomTag {
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
    store: &InstanceToRecord,
    deferred: &mut Vec<(InternalId, MetadataType, String)>,
) -> Result<Recorded, IngestError> {
    let InstanceToRecord {
        file,
        ids,
        stored_size,
        origin,
    } = store;
    let mut obsolete = DeletedResources::default();
    if let Some(ResourceRef { id: old, .. }) = tx.lookup_resource(&ids.instance)? {
        if !config.overwrite_instances {
            return Ok(Recorded {
                status: StoreStatus::AlreadyStored,
                obsolete,
                instance: None,
            });
        }
        let deleted = tx.delete_resource(old)?;
        obsolete.files.extend(deleted.files);
        obsolete.resources.extend(deleted.resources);
    }

    let patient_exists = tx.lookup_resource(&ids.patient)?.is_some();
    recycling::make_room(
        config,
        tx,
        *stored_size,
        !patient_exists,
        &ids.patient,
        &mut obsolete,
    )?;

    let created = tx.create_instance(ids)?;
    if !created.is_new_instance {
        return Ok(Recorded {
            status: StoreStatus::AlreadyStored,
            obsolete,
            instance: None,
        });
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
        content.metadata.push(ResourceMetadataValue {
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
    Ok(Recorded {
        status: StoreStatus::Success,
        obsolete,
        instance: Some(created.instance_id),
    })
}

/// Writes the parents' metadata collected by [`record_instance`] for a whole transaction: each
/// key once (the last value wins), in key order. Rows shared by concurrent writers (a study's
/// `LastUpdate`...) are thus locked last and in the same order by every writer, so writers
/// sharing an index queue on them instead of deadlocking.
pub fn write_parent_metadata(
    tx: &mut dyn IndexTransaction,
    mut deferred: Vec<(InternalId, MetadataType, String)>,
) -> Result<(), IngestError> {
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
            .map(|(resource, kind, value)| ResourceMetadataValue {
                resource,
                kind,
                value,
            })
            .collect(),
    })?;
    Ok(())
}
