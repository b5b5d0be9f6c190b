//! Deleting a resource: index rows first (one transaction), then the files.

use serde_json::{json, Value};
use stowage_core::ResourceType;

use crate::context::ServerContext;
use crate::error::ApiResult;
use crate::ingest::remove_files;
use crate::resources::lookup_at_level;

/// Deletes a resource and answers Orthanc's `{"RemainingAncestor": ...}`. Blocking.
pub fn delete_resource(
    ctx: &ServerContext,
    public_id: &str,
    level: ResourceType,
) -> ApiResult<Value> {
    let deleted = ctx.write_blocking(|tx| {
        let id = lookup_at_level(tx, public_id, level)?;
        Ok(tx.delete_resource(id)?)
    })?;
    remove_files(ctx, &deleted.files);
    for r in &deleted.resources {
        ctx.stable.forget(&r.public_id);
    }
    let remaining = deleted.remaining_ancestor.map(|r| {
        let (t, id) = (r.level, r.public_id);
        json!({
            "ID": id,
            "Path": format!("/{}/{}", t.collection(), id),
            "Type": t.name(),
        })
    });
    Ok(json!({ "RemainingAncestor": remaining }))
}
