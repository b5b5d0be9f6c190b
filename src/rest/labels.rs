//! Labels (`/{level}/{id}/labels[/{label}]`, `/tools/labels`), as in Orthanc ≥ 1.12.

use std::sync::Arc;

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use stowage_core::ResourceType;

use super::Ctx;
use crate::context::ServerContext;
use crate::error::{ApiError, ApiResult};
use crate::json::Json;
use crate::resources::lookup_at_level;

/// Longest label Orthanc accepts.
const MAX_LABEL_LENGTH: usize = 64;

pub fn routes() -> Router<Arc<ServerContext>> {
    let mut router = Router::new().route("/tools/labels", get(all_labels));
    for level in ResourceType::ALL {
        let base = format!("/{}/{{id}}/labels", level.collection());
        router = router
            .route(&base, get(move |ctx, id| list(ctx, id, level)))
            .route(
                &format!("{base}/{{label}}"),
                get(move |ctx, p| has_label(ctx, p, level))
                    .put(move |ctx, p| set_label(ctx, p, level, true))
                    .delete(move |ctx, p| set_label(ctx, p, level, false)),
            );
    }
    router
}

/// A label is 1 to 64 ASCII letters, digits, `_` or `-` (Orthanc's rule).
pub fn check_label(label: &str) -> ApiResult<()> {
    let valid = !label.is_empty()
        && label.len() <= MAX_LABEL_LENGTH
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "A label must be 1 to {MAX_LABEL_LENGTH} characters among letters, digits, '_' and '-': \"{label}\""
        )))
    }
}

async fn all_labels(ctx: Ctx) -> ApiResult<Json> {
    ctx.read(|tx| Ok(Json(json!(tx.list_labels(None)?)))).await
}

async fn list(ctx: Ctx, Path(public_id): Path<String>, level: ResourceType) -> ApiResult<Json> {
    ctx.read(move |tx| {
        let id = lookup_at_level(tx, &public_id, level)?;
        Ok(Json(json!(tx.list_labels(Some(id))?)))
    })
    .await
}

async fn has_label(
    ctx: Ctx,
    Path((public_id, label)): Path<(String, String)>,
    level: ResourceType,
) -> ApiResult<Response> {
    check_label(&label)?;
    let present = ctx
        .read(move |tx| {
            let id = lookup_at_level(tx, &public_id, level)?;
            Ok(tx.list_labels(Some(id))?.contains(&label))
        })
        .await?;
    if present {
        Ok(super::text("").into_response())
    } else {
        Err(ApiError::not_found())
    }
}

/// Adds (`PUT`) or removes (`DELETE`) one label of a resource.
async fn set_label(
    ctx: Ctx,
    Path((public_id, label)): Path<(String, String)>,
    level: ResourceType,
    present: bool,
) -> ApiResult<Response> {
    check_label(&label)?;
    ctx.write(move |tx| {
        let id = lookup_at_level(tx, &public_id, level)?;
        if present {
            tx.add_label(id, &label)?;
        } else {
            tx.remove_label(id, &label)?;
        }
        Ok(())
    })
    .await?;
    Ok(super::text(""))
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_rule() {
        assert!(super::check_label("Research_2024-a").is_ok());
        for bad in ["", "with space", "é", &"x".repeat(65), "a/b"] {
            assert!(super::check_label(bad).is_err(), "{bad}");
        }
    }
}
