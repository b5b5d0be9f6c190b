//! `/changes` and `/exports`.

use std::sync::Arc;

use axum::extract::RawQuery;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::query::QueryArgs;
use super::Ctx;
use crate::context::ServerContext;
use crate::error::ApiResult;
use crate::json::Json;

const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 10_000;

pub fn routes() -> Router<Arc<ServerContext>> {
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

async fn changes(ctx: Ctx, RawQuery(q): RawQuery) -> ApiResult<Json> {
    let (args, since, limit) = paging(q.as_deref())?;
    let last_only = args.get("last").is_some();
    ctx.read(move |tx| {
        let (list, done) = if last_only {
            (tx.get_last_change()?.into_iter().collect(), true)
        } else {
            let page = tx.get_changes(since, limit)?;
            (page.changes, page.done)
        };
        let last = match list.last() {
            Some(c) => c.seq,
            None if last_only => 0,
            None => since.max(if since == 0 {
                tx.get_last_change_index()?
            } else {
                since
            }),
        };
        Ok(Json(json!({
            "Changes": list.iter().map(change_json).collect::<Vec<_>>(),
            "Done": done,
            "Last": last,
        })))
    })
    .await
}

async fn clear_changes(ctx: Ctx) -> ApiResult<Json> {
    ctx.write(|tx| Ok(tx.clear_changes()?)).await?;
    Ok(Json(json!({})))
}

async fn exports(ctx: Ctx, RawQuery(q): RawQuery) -> ApiResult<Json> {
    let (args, since, limit) = paging(q.as_deref())?;
    let last_only = args.get("last").is_some();
    ctx.read(move |tx| {
        let (list, done) = if last_only {
            (tx.get_last_exported_resource()?.into_iter().collect(), true)
        } else {
            let page = tx.get_exported_resources(since, limit)?;
            (page.exports, page.done)
        };
        let last = list.last().map(|e| e.seq).unwrap_or(since);
        let items: Vec<Value> = list
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
            json!({ "Exports": items, "Done": done, "Last": last }),
        ))
    })
    .await
}

async fn clear_exports(ctx: Ctx) -> ApiResult<Json> {
    ctx.write(|tx| Ok(tx.clear_exported_resources()?)).await?;
    Ok(Json(json!({})))
}
