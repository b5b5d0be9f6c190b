//! Server-wide facts: the counts and sizes of `/statistics`, and new DICOM UIDs.

use std::sync::Arc;

use stowage_core::ResourceType;

use super::context::Context;
use super::error::TxError;

/// What the server runs on (reported by `/system`).
pub struct Backends {
    pub index_name: &'static str,
    pub index_schema_version: u32,
    pub storage_name: &'static str,
}

pub fn backends(ctx: &Context) -> Backends {
    let info = ctx.index.info();
    Backends {
        index_name: info.name,
        index_schema_version: info.schema_version,
        storage_name: ctx.storage_name,
    }
}

/// What `/statistics` reports.
pub struct Statistics {
    /// Patients, studies, series, instances.
    pub counts: [u64; 4],
    pub disk_size: u64,
    pub uncompressed_size: u64,
}

pub async fn statistics(ctx: &Arc<Context>) -> Result<Statistics, TxError> {
    ctx.read(|tx| {
        let mut counts = [0; 4];
        for (n, level) in ResourceType::ALL.into_iter().enumerate() {
            counts[n] = tx.get_resources_count(level)?;
        }
        Ok(Statistics {
            counts,
            disk_size: tx.get_total_compressed_size()?,
            uncompressed_size: tx.get_total_uncompressed_size()?,
        })
    })
    .await
}

/// A new DICOM UID under Stowage's root (2.25 + a random 128-bit number, per PS3.5 B.2).
pub fn new_dicom_uid() -> String {
    format!("2.25.{}", uuid::Uuid::new_v4().as_u128())
}
