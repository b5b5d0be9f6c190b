//! Bulk operations: deleting a list of resources, and the content of a list of resources
//! (`/tools/bulk-delete`, `/tools/bulk-content`).

use std::sync::Arc;

use serde_json::{json, Map, Value};
use stowage_core::{InternalId, ResourceRef, ResourceType};

use super::context::{blocking, Context};
use super::delete::delete_any;
use super::error::TxError;
use super::metadata::metadata_name;
use super::resources::{ancestor_at, descendants_at, resource_json};

/// Deletes each resource (any level); unknown ones are skipped.
pub async fn delete_all(ctx: &Arc<Context>, resources: Vec<String>) -> Result<(), TxError> {
    let c = ctx.clone();
    blocking(move || {
        for id in &resources {
            delete_any(&c, id)?;
        }
        Ok(())
    })
    .await
}

/// The JSON of each resource (as `GET /{level}/{id}`), with its metadata if asked; with
/// `level`, the resources at that level above or below the listed ones (each once). Unknown
/// IDs are skipped.
pub async fn content(
    ctx: &Arc<Context>,
    resources: Vec<String>,
    level: Option<ResourceType>,
    with_metadata: bool,
) -> Result<Value, TxError> {
    let c = ctx.clone();
    ctx.read(move |tx| {
        let mut targets: Vec<(InternalId, ResourceType)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for id in &resources {
            let Some(ResourceRef {
                id: internal,
                level: at,
            }) = tx.lookup_resource(id)?
            else {
                continue;
            };
            let found = match level {
                None => vec![internal],
                Some(l) if l.code() < at.code() => vec![ancestor_at(tx, internal, at, l)?],
                Some(l) => descendants_at(tx, internal, at, l)?,
            };
            let l = level.unwrap_or(at);
            for f in found {
                if seen.insert(f) {
                    targets.push((f, l));
                }
            }
        }
        let mut out = Vec::with_capacity(targets.len());
        for (internal, l) in targets {
            let public = tx.get_public_id(internal)?;
            let mut v = resource_json(&c, tx, internal, l, &public)?;
            if with_metadata {
                let mut m = Map::new();
                for entry in tx.get_all_metadata(internal)? {
                    m.insert(metadata_name(&c.config, entry.kind), json!(entry.value));
                }
                v["Metadata"] = Value::Object(m);
            }
            out.push(v);
        }
        Ok(Value::Array(out))
    })
    .await
}
