//! `/jobs`: the jobs engine's registry (list, details, pause/resume/cancel/resubmit, outputs).

use std::sync::Arc;

use axum::extract::{Path, RawQuery};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::archives::stream_file;
use super::query::QueryArgs;
use super::Ctx;
use crate::context::ServerContext;
use crate::error::{ApiError, ApiResult};
use crate::jobs::unknown_job;
use crate::json::Json;

pub fn routes() -> Router<Arc<ServerContext>> {
    Router::new()
        .route("/jobs", get(list))
        .route("/jobs/{id}", get(get_one))
        .route("/jobs/{id}/{key}", get(output).post(action))
}

async fn list(ctx: Ctx, RawQuery(q): RawQuery) -> Json {
    let expand = QueryArgs::parse(q.as_deref()).flag("expand");
    let ids = ctx.jobs.list();
    if !expand {
        return Json(json!(ids));
    }
    Json(Value::Array(
        ids.iter().filter_map(|id| ctx.jobs.info(id)).collect(),
    ))
}

async fn get_one(ctx: Ctx, Path(id): Path<String>) -> ApiResult<Json> {
    ctx.jobs.info(&id).map(Json).ok_or_else(unknown_job)
}

async fn action(ctx: Ctx, Path((id, key)): Path<(String, String)>) -> ApiResult<Json> {
    let jobs = &ctx.jobs;
    match key.as_str() {
        "pause" => jobs.pause(&id)?,
        "resume" => jobs.resume(&id)?,
        "cancel" => jobs.cancel(&id)?,
        "resubmit" => jobs.resubmit(&id)?,
        _ => return Err(ApiError::new(crate::error::ErrorCode::UnknownResource)),
    }
    Ok(Json(json!({})))
}

async fn output(ctx: Ctx, Path((id, key)): Path<(String, String)>) -> ApiResult<Response> {
    let path = ctx.jobs.output(&id, &key)?;
    if !path.exists() {
        return Err(ApiError::with_details(
            crate::error::ErrorCode::InexistentFile,
            "The output of the job is no longer available",
        ));
    }
    Ok(stream_file(&ctx, path, format!("{id}.zip")).into_response())
}
