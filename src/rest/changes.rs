//! `/changes` and `/exports`.

use axum::extract::RawQuery;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::answer::{Ctx, Routes};
use super::error::ApiResult;
use super::json::Json;
use super::query::QueryArgs;
use crate::services::changes;

const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 10_000;

pub fn routes() -> Routes {
    Router::new()
        .route("/changes", get(changes).delete(clear_changes))
        .route("/exports", get(exports).delete(clear_exports))
}

fn change_json(c: &stowage_core::Change) -> Value {
    json!({
        "ChangeType": c.change_type.name(),
        "Date": c.date,
        "ID": c.public_id,
        "Path": format!("/{}/{}", c.resource_type.collection(), c.public_id),
        "ResourceType": c.resource_type.name(),
        "Seq": c.seq,
    })
}

fn paging(q: Option<&str>) -> ApiResult<(QueryArgs, i64, u64)> {
    let args = QueryArgs::parse(q);
    let since = args.number("since")?.unwrap_or(0).min(i64::MAX as u64) as i64;
    let limit = args
        .number("limit")?
        .unwrap_or(DEFAULT_LIMIT)
        .min(MAX_LIMIT);
    Ok((args, since, limit))
}

async fn changes(app: Ctx, RawQuery(q): RawQuery) -> ApiResult<Json> {
    let (args, since, limit) = paging(q.as_deref())?;
    let last_only = args.get("last").is_some();
    let page = changes::changes(&app.ctx, since, limit, last_only).await?;
    Ok(Json(json!({
        "Changes": page.items.iter().map(change_json).collect::<Vec<_>>(),
        "Done": page.done,
        "Last": page.last,
    })))
}

async fn clear_changes(app: Ctx) -> ApiResult<Json> {
    changes::clear_changes(&app.ctx).await?;
    Ok(Json(json!({})))
}

async fn exports(app: Ctx, RawQuery(q): RawQuery) -> ApiResult<Json> {
    let (args, since, limit) = paging(q.as_deref())?;
    let last_only = args.get("last").is_some();
    let page = changes::exports(&app.ctx, since, limit, last_only).await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|e| {
            json!({
                "Seq": e.seq,
                "ResourceType": e.resource_type.name(),
                "ID": e.public_id,
                "Path": format!("/{}/{}", e.resource_type.collection(), e.public_id),
                "RemoteModality": e.remote_modality,
                "Date": e.date,
                "PatientID": e.patient_id,
                "StudyInstanceUID": e.study_instance_uid,
                "SeriesInstanceUID": e.series_instance_uid,
                "SOPInstanceUID": e.sop_instance_uid,
            })
        })
        .collect();
    Ok(Json(
        json!({ "Exports": items, "Done": page.done, "Last": page.last }),
    ))
}

async fn clear_exports(app: Ctx) -> ApiResult<Json> {
    changes::clear_exports(&app.ctx).await?;
    Ok(Json(json!({})))
}
