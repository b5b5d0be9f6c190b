//! The metadata service: `/{level}/{id}/metadata[/{name}]` values, with revisions, and the
//! names of metadata kinds (core names, `UserMetadata`, numbers).

use std::sync::Arc;

use stowage_core::{ChangeType, IndexTransaction, InternalId, MetadataType, ResourceType};

use super::context::Context;
use super::error::{tx_plumbing, ErrorCode, ServiceError, TxError, Verdict};
use super::resources::{log_change, lookup_at_level};
use super::revision::{self, Etag, RevisionError};
use crate::config::Config;
use crate::support::hashing::md5_hex;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    #[error("Unknown metadata: {0}")]
    UnknownName(String),
    /// Core metadata cannot be written or deleted by a client.
    #[error("core metadata cannot be changed")]
    Forbidden,
    /// The resource has no such metadata.
    #[error("no such metadata")]
    Absent,
    /// The metadata to delete does not exist.
    #[error("no such metadata to delete")]
    NothingToDelete,
    #[error(transparent)]
    Revision(#[from] RevisionError),
    #[error(transparent)]
    Tx(TxError),
}

tx_plumbing!(MetadataError);

impl ServiceError for MetadataError {
    fn verdict(&self) -> Verdict {
        match self {
            MetadataError::UnknownName(_) => {
                Verdict::detailed(ErrorCode::InexistentItem, self.to_string())
            }
            MetadataError::Forbidden => Verdict::Forbidden,
            MetadataError::Absent => Verdict::NoSuchResource,
            MetadataError::NothingToDelete => Verdict::error(ErrorCode::UnknownResource),
            MetadataError::Revision(e) => e.verdict(),
            MetadataError::Tx(e) => e.verdict(),
        }
    }
    fn tx_error(&self) -> Option<&TxError> {
        match self {
            MetadataError::Tx(e) => Some(e),
            _ => None,
        }
    }
}

/// A metadata key from its REST name: a core name, a `UserMetadata` name, or a number.
pub fn metadata_type(config: &Config, name: &str) -> Option<MetadataType> {
    MetadataType::from_core_name(name)
        .or_else(|| config.user_metadata.get(name).map(|c| MetadataType(*c)))
        .or_else(|| name.parse::<u16>().ok().map(|n| MetadataType(n.into())))
}

/// The REST name of a metadata key.
pub fn metadata_name(config: &Config, kind: MetadataType) -> String {
    if let Some(n) = kind.core_name() {
        return n.to_owned();
    }
    config
        .user_metadata
        .iter()
        .find(|(_, c)| **c == kind.0)
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| kind.0.to_string())
}

/// [`metadata_type`], or [`MetadataError::UnknownName`].
pub fn resolve(config: &Config, name: &str) -> Result<MetadataType, MetadataError> {
    metadata_type(config, name).ok_or_else(|| MetadataError::UnknownName(name.to_owned()))
}

/// Every metadata value of a resource, by REST name (in key order).
pub async fn list(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
) -> Result<Vec<(String, String)>, TxError> {
    let c = ctx.clone();
    ctx.read(move |tx| {
        let id = lookup_at_level(tx, &public_id, level)?;
        let all = tx.get_all_metadata(id)?;
        Ok(all
            .into_iter()
            .map(|entry| (metadata_name(&c.config, entry.kind), entry.value))
            .collect())
    })
    .await
}

fn current(
    tx: &mut dyn IndexTransaction,
    id: InternalId,
    kind: MetadataType,
) -> Result<Option<(String, Etag)>, MetadataError> {
    Ok(tx.lookup_metadata(id, kind)?.map(|m| {
        let md5 = md5_hex(m.value.as_bytes());
        (
            m.value,
            Etag {
                revision: m.revision,
                md5,
            },
        )
    }))
}

/// One metadata value and its ETag.
pub async fn get(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
    kind: MetadataType,
) -> Result<(String, Etag), MetadataError> {
    ctx.read(move |tx| {
        let id = lookup_at_level(tx, &public_id, level)?;
        current(tx, id, kind)?.ok_or(MetadataError::Absent)
    })
    .await
}

fn log_update(
    tx: &mut dyn IndexTransaction,
    level: ResourceType,
    public_id: &str,
) -> Result<(), MetadataError> {
    Ok(log_change(
        tx,
        ChangeType::UpdatedMetadata,
        level,
        public_id,
    )?)
}

/// Writes a user metadata value, as the revision rules allow (checked by the index); answers
/// its ETag.
pub async fn put(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
    kind: MetadataType,
    value: String,
    expected: Option<Etag>,
) -> Result<Etag, MetadataError> {
    if !kind.is_user_defined() {
        return Err(MetadataError::Forbidden);
    }
    let precondition = revision::write_precondition(expected, ctx.config.check_revisions);
    let md5 = md5_hex(value.as_bytes());
    let revision = ctx
        .write(move |tx| -> Result<i64, MetadataError> {
            let id = lookup_at_level(tx, &public_id, level)?;
            let rev = tx.set_metadata(id, kind, &value, &precondition)?;
            log_update(tx, level, &public_id)?;
            Ok(rev)
        })
        .await?;
    Ok(Etag { revision, md5 })
}

/// Deletes a user metadata value, as the revision rules allow (checked by the index).
pub async fn delete(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
    kind: MetadataType,
    expected: Option<Etag>,
) -> Result<(), MetadataError> {
    if !kind.is_user_defined() {
        return Err(MetadataError::Forbidden);
    }
    let check = ctx.config.check_revisions;
    ctx.write(move |tx| {
        let id = lookup_at_level(tx, &public_id, level)?;
        let precondition = revision::delete_precondition(expected.clone(), check)?;
        if tx.delete_metadata(id, kind, &precondition)?.is_none() {
            return Err(MetadataError::NothingToDelete);
        }
        log_update(tx, level, &public_id)
    })
    .await
}
