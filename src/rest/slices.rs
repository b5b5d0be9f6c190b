//! `GET /series/{id}/ordered-slices`.

use axum::extract::Path;
use axum::routing::get;
use axum::Router;

use super::answer::{Ctx, Routes};
use super::error::ApiResult;
use super::json::Json;
use crate::services::slices;

pub fn routes() -> Routes {
    Router::new().route("/series/{id}/ordered-slices", get(ordered_slices))
}

async fn ordered_slices(app: Ctx, Path(public_id): Path<String>) -> ApiResult<Json> {
    Ok(Json(slices::ordered_slices(&app.ctx, public_id).await?))
}
