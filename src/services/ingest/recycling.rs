//! `MaximumStorageSize` / `MaximumPatientCount`: before a new instance is recorded, make room
//! by deleting the least recently updated unprotected patients (Recycle mode), or refuse the
//! instance (Reject mode).

use stowage_core::{DeletedResources, IndexTransaction, ResourceType};

use super::error::IngestError;
use crate::config::Config;

fn over_limits(
    config: &Config,
    tx: &mut dyn IndexTransaction,
    incoming_size: u64,
    new_patient: bool,
) -> Result<bool, IngestError> {
    let c = config;
    if c.maximum_patient_count > 0 && new_patient {
        let patients = tx.get_resources_count(ResourceType::Patient)?;
        if patients + 1 > c.maximum_patient_count {
            return Ok(true);
        }
    }
    if c.maximum_storage_size > 0
        && tx.is_disk_size_above(c.maximum_storage_size.saturating_sub(incoming_size))?
    {
        return Ok(true);
    }
    Ok(false)
}

pub fn make_room(
    config: &Config,
    tx: &mut dyn IndexTransaction,
    incoming_size: u64,
    new_patient: bool,
    incoming_patient: &str,
    deleted: &mut DeletedResources,
) -> Result<(), IngestError> {
    if config.maximum_patient_count == 0 && config.maximum_storage_size == 0 {
        return Ok(());
    }
    // Writers sharing the index decide one after the other (see `lock_recycling`).
    tx.lock_recycling()?;
    let avoid = tx.lookup_resource(incoming_patient)?.map(|r| r.id);
    while over_limits(config, tx, incoming_size, new_patient)? {
        if config.maximum_storage_mode_reject {
            return Err(IngestError::FullStorage(None));
        }
        let Some(victim) = tx.select_patient_to_recycle(avoid)? else {
            return Err(IngestError::FullStorage(Some(
                "Cannot recycle more patients (all are protected)",
            )));
        };
        tracing::info!("recycling patient {}", tx.get_public_id(victim)?);
        let d = tx.delete_resource(victim)?;
        deleted.files.extend(d.files);
        deleted.resources.extend(d.resources);
    }
    Ok(())
}
