//! Background upkeep: the sweep of orphan files, and the `Stable*` changes of resources whose
//! countdown expired.

use std::sync::Arc;
use std::time::Duration;

use stowage_core::{ChangeType, NewChange, ResourceRef, ResourceType};

use super::context::Context;
use super::error::{tx_plumbing, FileError, ServiceError, TxError, Verdict};
use crate::support::clock::now_iso;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MaintenanceError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Tx(TxError),
}

tx_plumbing!(MaintenanceError);

impl ServiceError for MaintenanceError {
    fn verdict(&self) -> Verdict {
        match self {
            MaintenanceError::File(e) => e.verdict(),
            MaintenanceError::Tx(e) => e.verdict(),
        }
    }
    fn tx_error(&self) -> Option<&TxError> {
        match self {
            MaintenanceError::Tx(e) => Some(e),
            MaintenanceError::File(_) => None,
        }
    }
}

/// Removes files that no index row references (left by a crash between the file write and
/// the index commit). Files younger than a minute are kept: they may belong to a store in
/// progress in another process sharing the storage.
pub fn sweep_orphans(ctx: &Context) -> Result<usize, MaintenanceError> {
    let Some(uuids) = ctx.storage.list_uuids().map_err(FileError::Read)? else {
        return Ok(0);
    };
    let referenced = ctx.read_blocking(|tx| -> Result<_, MaintenanceError> {
        let mut set = std::collections::HashSet::new();
        for public in tx.get_all_public_ids(stowage_core::ResourceType::Instance, 0, None)? {
            if let Some(ResourceRef { id, .. }) = tx.lookup_resource(&public)? {
                for ct in tx.list_available_attachments(id)? {
                    if let Some(a) = tx.lookup_attachment(id, ct)? {
                        set.insert(a.file.uuid);
                    }
                }
            }
        }
        Ok(set)
    })?;
    let mut removed = 0;
    for uuid in uuids {
        if referenced.contains(&uuid) {
            continue;
        }
        let young = ctx
            .storage
            .modified(&uuid)
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age < Duration::from_secs(60));
        if young {
            continue;
        }
        if ctx
            .storage
            .remove(&uuid, stowage_core::FileContentType::DICOM)
            .is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Logs the `Stable*` changes of the resources whose countdown expired (still present).
pub async fn log_stable_resources(ctx: &Arc<Context>) -> Result<(), TxError> {
    let expired = ctx.stable.take_expired();
    if expired.is_empty() {
        return Ok(());
    }
    ctx.write(move |tx| {
        let date = now_iso();
        for (level, id) in &expired {
            if tx.lookup_resource(id)?.is_none() {
                continue;
            }
            let change_type = match level {
                ResourceType::Patient => ChangeType::StablePatient,
                ResourceType::Study => ChangeType::StableStudy,
                _ => ChangeType::StableSeries,
            };
            tx.log_change(&NewChange {
                change_type,
                resource_type: *level,
                public_id: id.clone(),
                date: date.clone(),
            })?;
        }
        Ok(())
    })
    .await
}
