//! `/{level}/{id}/metadata[/{name}]`, with revisions.

use std::sync::Arc;

use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use stowage_core::{ChangeType, IndexTransaction, InternalId, MetadataType, ResourceType};

use super::query::QueryArgs;
use super::revision::{self, md5_hex, Etag};
use super::{text, Ctx};
use crate::config::Config;
use crate::context::ServerContext;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::json::Json;
use crate::resources::{log_change, lookup_at_level};

pub fn routes() -> Router<Arc<ServerContext>> {
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

/// A metadata key from its REST name: a core name, a `UserMetadata` name, or a number.
pub fn metadata_type(config: &Config, name: &str) -> Option<MetadataType> {
    MetadataType::from_core_name(name)
        .or_else(|| config.user_metadata.get(name).map(|c| MetadataType(*c)))
        .or_else(|| name.parse::<u16>().ok().map(|n| MetadataType(n.into())))
}

pub fn metadata_name(config: &Config, kind: MetadataType) -> String {
    if let Some(n) = kind.core_name() {
        return n.to_owned();
    }
    config
        .user_metadata
        .iter()
        .find(|(_, c)| **c == kind.0)
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| kind.0.to_string())
}

pub(crate) fn resolve(config: &Config, name: &str) -> ApiResult<MetadataType> {
    metadata_type(config, name).ok_or_else(|| {
        ApiError::with_details(
            ErrorCode::InexistentItem,
            format!("Unknown metadata: {name}"),
        )
    })
}

async fn list(
    ctx: Ctx,
    Path(public_id): Path<String>,
    RawQuery(q): RawQuery,
    level: ResourceType,
) -> ApiResult<Json> {
    let expand = QueryArgs::parse(q.as_deref()).flag("expand");
    let c = ctx.0.clone();
    ctx.read(move |tx| {
        let id = lookup_at_level(tx, &public_id, level)?;
        let all = tx.get_all_metadata(id)?;
        if expand {
            let mut m = Map::new();
            for entry in all {
                m.insert(metadata_name(&c.config, entry.kind), json!(entry.value));
            }
            Ok(Json(Value::Object(m)))
        } else {
            Ok(Json(json!(all
                .iter()
                .map(|entry| metadata_name(&c.config, entry.kind))
                .collect::<Vec<_>>())))
        }
    })
    .await
}

fn current(
    tx: &mut dyn IndexTransaction,
    id: InternalId,
    kind: MetadataType,
) -> ApiResult<Option<(String, Etag)>> {
    Ok(tx.lookup_metadata(id, kind)?.map(|m| {
        let md5 = md5_hex(m.value.as_bytes());
        let revision = m.revision;
        (m.value, Etag { revision, md5 })
    }))
}

async fn get_one(
    ctx: Ctx,
    Path((public_id, name)): Path<(String, String)>,
    headers: HeaderMap,
    level: ResourceType,
) -> ApiResult<Response> {
    let kind = resolve(&ctx.config, &name)?;
    let (value, etag) = ctx
        .read(move |tx| {
            let id = lookup_at_level(tx, &public_id, level)?;
            current(tx, id, kind)?.ok_or_else(ApiError::not_found)
        })
        .await?;
    if revision::not_modified(&headers, &etag) {
        return Ok(revision::not_modified_response(&etag));
    }
    Ok(revision::with_etag(text(value), &etag))
}

fn log_update(
    tx: &mut dyn IndexTransaction,
    level: ResourceType,
    public_id: &str,
) -> ApiResult<()> {
    log_change(tx, ChangeType::UpdatedMetadata, level, public_id)
}

async fn put(
    ctx: Ctx,
    Path((public_id, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
    level: ResourceType,
) -> ApiResult<Response> {
    let kind = resolve(&ctx.config, &name)?;
    if !kind.is_user_defined() {
        return Err(ApiError::forbidden());
    }
    let precondition =
        revision::write_precondition(revision::if_match(&headers)?, ctx.config.check_revisions);
    let md5 = md5_hex(body.as_bytes());
    let value = body.clone();
    let revision = ctx
        .write(move |tx| {
            let id = lookup_at_level(tx, &public_id, level)?;
            let rev = tx.set_metadata(id, kind, &value, &precondition)?;
            log_update(tx, level, &public_id)?;
            Ok(rev)
        })
        .await?;
    Ok(revision::with_etag(text(""), &Etag { revision, md5 }))
}

async fn delete(
    ctx: Ctx,
    Path((public_id, name)): Path<(String, String)>,
    headers: HeaderMap,
    level: ResourceType,
) -> ApiResult<Response> {
    let kind = resolve(&ctx.config, &name)?;
    if !kind.is_user_defined() {
        return Err(ApiError::forbidden());
    }
    let expected = revision::if_match(&headers)?;
    let check = ctx.config.check_revisions;
    ctx.write(move |tx| {
        let id = lookup_at_level(tx, &public_id, level)?;
        let precondition = revision::delete_precondition(expected.clone(), check)?;
        if tx.delete_metadata(id, kind, &precondition)?.is_none() {
            return Err(ApiError::new(ErrorCode::UnknownResource));
        }
        log_update(tx, level, &public_id)
    })
    .await?;
    Ok(text(""))
}
