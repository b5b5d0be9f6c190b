//! `/{level}/{id}/metadata[/{name}]`, with revisions.

use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use stowage_core::ResourceType;

use super::answer::{text, Ctx, Routes};
use super::error::ApiResult;
use super::etag;
use super::json::Json;
use super::query::QueryArgs;
use crate::services::metadata::{self, resolve};

pub fn routes() -> Routes {
    let mut router = Router::new();
    for level in ResourceType::ALL {
        let base = format!("/{}/{{id}}/metadata", level.collection());
        router = router
            .route(&base, get(move |ctx, id, q| list(ctx, id, q, level)))
            .route(
                &format!("{base}/{{name}}"),
                get(move |ctx, p, h| get_one(ctx, p, h, level))
                    .put(move |ctx, p, h, body| put(ctx, p, h, body, level))
                    .delete(move |ctx, p, h| delete(ctx, p, h, level)),
            );
    }
    router
}

async fn list(
    app: Ctx,
    Path(public_id): Path<String>,
    RawQuery(q): RawQuery,
    level: ResourceType,
) -> ApiResult<Json> {
    let expand = QueryArgs::parse(q.as_deref()).flag("expand");
    let all = metadata::list(&app.ctx, public_id, level).await?;
    if expand {
        let mut m = Map::new();
        for (name, value) in all {
            m.insert(name, json!(value));
        }
        Ok(Json(Value::Object(m)))
    } else {
        Ok(Json(json!(all
            .into_iter()
            .map(|(name, _)| name)
            .collect::<Vec<_>>())))
    }
}

async fn get_one(
    app: Ctx,
    Path((public_id, name)): Path<(String, String)>,
    headers: HeaderMap,
    level: ResourceType,
) -> ApiResult<Response> {
    let kind = resolve(&app.ctx.config, &name)?;
    let (value, etag) = metadata::get(&app.ctx, public_id, level, kind).await?;
    if etag::not_modified(&headers, &etag) {
        return Ok(etag::not_modified_response(&etag));
    }
    Ok(etag::with_etag(text(value), &etag))
}

async fn put(
    app: Ctx,
    Path((public_id, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
    level: ResourceType,
) -> ApiResult<Response> {
    let kind = resolve(&app.ctx.config, &name)?;
    let expected = etag::if_match(&headers)?;
    let etag = metadata::put(&app.ctx, public_id, level, kind, body, expected).await?;
    Ok(etag::with_etag(text(""), &etag))
}

async fn delete(
    app: Ctx,
    Path((public_id, name)): Path<(String, String)>,
    headers: HeaderMap,
    level: ResourceType,
) -> ApiResult<Response> {
    let kind = resolve(&app.ctx.config, &name)?;
    let expected = etag::if_match(&headers)?;
    metadata::delete(&app.ctx, public_id, level, kind, expected).await?;
    Ok(text(""))
}
