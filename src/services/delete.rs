//! The delete service: index rows first (one transaction), then the files.

use std::sync::Arc;

use stowage_core::{PublicResource, ResourceType};

use super::context::{blocking, Context};
use super::error::TxError;
use super::files::remove_files;
use super::resources::lookup_at_level;

/// What remains above a deleted resource (`RemainingAncestor`), if anything.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub remaining_ancestor: Option<PublicResource>,
}

/// Deletes a resource at `level` and everything below it. Blocking.
pub fn delete_resource(
    ctx: &Context,
    public_id: &str,
    level: ResourceType,
) -> Result<Deleted, TxError> {
    let deleted = ctx.write_blocking(|tx| {
        let id = lookup_at_level(tx, public_id, level)?;
        Ok::<_, TxError>(tx.delete_resource(id)?)
    })?;
    remove_files(ctx, &deleted.files);
    for r in &deleted.resources {
        ctx.stable.forget(&r.public_id);
    }
    Ok(Deleted {
        remaining_ancestor: deleted.remaining_ancestor,
    })
}

/// [`delete_resource`] from an async front.
pub async fn delete(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
) -> Result<Deleted, TxError> {
    let c = ctx.clone();
    blocking(move || delete_resource(&c, &public_id, level)).await
}

/// Deletes a resource whatever its level; `false` if there is none. Blocking.
pub fn delete_any(ctx: &Context, public_id: &str) -> Result<bool, TxError> {
    let level =
        ctx.read_blocking(|tx| Ok::<_, TxError>(tx.lookup_resource(public_id)?.map(|r| r.level)))?;
    let Some(level) = level else {
        tracing::warn!("bulk delete: unknown resource {public_id}");
        return Ok(false);
    };
    match delete_resource(ctx, public_id, level) {
        Ok(_) => Ok(true),
        Err(TxError::Index(stowage_core::IndexError::UnknownResource)) => Ok(false),
        Err(e) => Err(e),
    }
}
