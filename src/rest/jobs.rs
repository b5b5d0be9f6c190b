//! `/jobs`: the jobs engine's registry (list, details, pause/resume/cancel/resubmit, outputs).

use axum::extract::{Path, RawQuery};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::answer::{Ctx, Routes};
use super::archives::stream_file;
use super::error::{ApiError, ApiResult, ErrorCode};
use super::json::Json;
use super::query::QueryArgs;
use crate::services::jobs::JobsError;

pub fn routes() -> Routes {
    Router::new()
        .route("/jobs", get(list))
        .route("/jobs/{id}", get(get_one))
        .route("/jobs/{id}/{key}", get(output).post(action))
}

async fn list(app: Ctx, RawQuery(q): RawQuery) -> Json {
    let expand = QueryArgs::parse(q.as_deref()).flag("expand");
    let ids = app.jobs.list();
    if !expand {
        return Json(json!(ids));
    }
    Json(Value::Array(
        ids.iter().filter_map(|id| app.jobs.info(id)).collect(),
    ))
}

async fn get_one(app: Ctx, Path(id): Path<String>) -> ApiResult<Json> {
    Ok(app.jobs.info(&id).map(Json).ok_or(JobsError::UnknownJob)?)
}

async fn action(app: Ctx, Path((id, key)): Path<(String, String)>) -> ApiResult<Json> {
    let jobs = &app.jobs;
    match key.as_str() {
        "pause" => jobs.pause(&id)?,
        "resume" => jobs.resume(&id)?,
        "cancel" => jobs.cancel(&id)?,
        "resubmit" => jobs.resubmit(&id)?,
        _ => return Err(ApiError::new(ErrorCode::UnknownResource)),
    }
    Ok(Json(json!({})))
}

async fn output(app: Ctx, Path((id, key)): Path<(String, String)>) -> ApiResult<Response> {
    let file = app.jobs.open_output(&id, &key)?;
    Ok(stream_file(&app.ctx, file, format!("{id}.zip")))
}
