//! Labels (`/{level}/{id}/labels[/{label}]`, `/tools/labels`), as in Orthanc ≥ 1.12.

use axum::extract::Path;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;
use stowage_core::ResourceType;

use super::answer::{text, Ctx, Routes};
use super::error::ApiResult;
use super::json::Json;
use crate::services::labels;

pub fn routes() -> Routes {
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

async fn all_labels(app: Ctx) -> ApiResult<Json> {
    Ok(Json(json!(labels::all_labels(&app.ctx).await?)))
}

async fn list(app: Ctx, Path(public_id): Path<String>, level: ResourceType) -> ApiResult<Json> {
    Ok(Json(json!(
        labels::labels_of(&app.ctx, public_id, level).await?
    )))
}

async fn has_label(
    app: Ctx,
    Path((public_id, label)): Path<(String, String)>,
    level: ResourceType,
) -> ApiResult<Response> {
    labels::has_label(&app.ctx, public_id, level, label).await?;
    Ok(text(""))
}

/// Adds (`PUT`) or removes (`DELETE`) one label of a resource.
async fn set_label(
    app: Ctx,
    Path((public_id, label)): Path<(String, String)>,
    level: ResourceType,
    present: bool,
) -> ApiResult<Response> {
    labels::set_label(&app.ctx, public_id, level, label, present).await?;
    Ok(text(""))
}
