//! Routes shared by the four levels: lists, one resource, parents and children, deletion,
//! statistics, shared tags, modules, protection.

use std::sync::Arc;

use axum::extract::{Path, RawQuery};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use stowage_core::{IndexTransaction, InternalId, ResourceType};
use stowage_dicom::TagsFormat;

use super::query::QueryArgs;
use super::{text, Ctx};
use crate::context::ServerContext;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::files::read_dicom;
use crate::json::Json;
use crate::resources::{
    ancestor_at, descendants_at, format_main_tags, lookup_at_level, resource_json,
};

pub fn routes() -> Router<Arc<ServerContext>> {
    let mut router = Router::new();
    for level in ResourceType::ALL {
        let base = format!("/{}", level.collection());
        router = router
            .route(&base, get(move |ctx, q| list(ctx, q, level)))
            .route(
                &format!("{base}/{{id}}"),
                get(move |ctx, id, q| get_one(ctx, id, q, level))
                    .delete(move |ctx, id| delete(ctx, id, level)),
            )
            .route(
                &format!("{base}/{{id}}/statistics"),
                get(move |ctx, id| statistics(ctx, id, level)),
            );
        // Parents and children.
        for other in ResourceType::ALL {
            if other == level {
                continue;
            }
            let name = if other.code() < level.code() {
                other.name().to_lowercase()
            } else {
                other.collection().to_owned()
            };
            router = router.route(
                &format!("{base}/{{id}}/{name}"),
                get(move |ctx, id, q| related(ctx, id, q, level, other)),
            );
        }
        if level != ResourceType::Instance {
            router = router
                .route(
                    &format!("{base}/{{id}}/shared-tags"),
                    get(move |ctx, id, q| shared_tags(ctx, id, q, level)),
                )
                .route(
                    &format!("{base}/{{id}}/instances-tags"),
                    get(move |ctx, id, q| instances_tags(ctx, id, q, level)),
                );
        }
        router = router.route(
            &format!("{base}/{{id}}/module"),
            get(move |ctx, id, q| module(ctx, id, q, level, level)),
        );
        if level == ResourceType::Study {
            router = router.route(
                &format!("{base}/{{id}}/module-patient"),
                get(move |ctx, id, q| module(ctx, id, q, level, ResourceType::Patient)),
            );
        }
    }
    router.route(
        "/patients/{id}/protected",
        get(get_protected).put(put_protected),
    )
}

fn tags_format(args: &QueryArgs) -> TagsFormat {
    if args.flag("simplify") {
        TagsFormat::Simplify
    } else if args.flag("short") {
        TagsFormat::Short
    } else {
        TagsFormat::Full
    }
}

/// The main-tags format a request asks for (`?full`, `?short`; names by default).
pub fn main_tags_format(args: &QueryArgs) -> TagsFormat {
    if args.flag("full") {
        TagsFormat::Full
    } else if args.flag("short") {
        TagsFormat::Short
    } else {
        TagsFormat::Simplify
    }
}

async fn list(ctx: Ctx, RawQuery(q): RawQuery, level: ResourceType) -> ApiResult<Json> {
    let args = QueryArgs::parse(q.as_deref());
    let expand = args.flag("expand");
    let format = main_tags_format(&args);
    let (since, limit) = match (args.get("since"), args.get("limit")) {
        (None, None) => (0, None),
        (None, Some(_)) | (Some(_), None) => {
            let missing = if args.get("since").is_none() {
                "since"
            } else {
                "limit"
            };
            return Err(ApiError::bad_request(format!(
                "Missing \"{missing}\" argument for GET request against: /{}/",
                level.collection()
            )));
        }
        (Some(_), Some(_)) => (args.number("since")?.unwrap_or(0), args.number("limit")?),
    };
    let ctx2 = ctx.0.clone();
    ctx.read(move |tx| {
        let ids = tx.get_all_public_ids(level, since, limit)?;
        if !expand {
            return Ok(Json(json!(ids)));
        }
        let mut out = Vec::with_capacity(ids.len());
        for public_id in ids {
            if let Some(stowage_core::ResourceRef { id, .. }) = tx.lookup_resource(&public_id)? {
                let mut v = resource_json(&ctx2, tx, id, level, &public_id)?;
                format_main_tags(&mut v, format);
                out.push(v);
            }
        }
        Ok(Json(Value::Array(out)))
    })
    .await
}

async fn get_one(
    ctx: Ctx,
    Path(public_id): Path<String>,
    RawQuery(q): RawQuery,
    level: ResourceType,
) -> ApiResult<Json> {
    let format = main_tags_format(&QueryArgs::parse(q.as_deref()));
    let ctx2 = ctx.0.clone();
    ctx.read(move |tx| {
        let id = lookup_at_level(tx, &public_id, level)?;
        let mut v = resource_json(&ctx2, tx, id, level, &public_id)?;
        format_main_tags(&mut v, format);
        Ok(Json(v))
    })
    .await
}

async fn delete(ctx: Ctx, Path(public_id): Path<String>, level: ResourceType) -> ApiResult<Json> {
    let c = ctx.0.clone();
    ctx.blocking(move || crate::delete::delete_resource(&c, &public_id, level))
        .await
        .map(Json)
}

/// `/studies/{id}/series`, `/instances/{id}/patient`, ...: children at any depth, or the parent.
async fn related(
    ctx: Ctx,
    Path(public_id): Path<String>,
    RawQuery(q): RawQuery,
    level: ResourceType,
    other: ResourceType,
) -> ApiResult<Json> {
    // Children come expanded unless `?expand=false`.
    let args = QueryArgs::parse(q.as_deref());
    let expand = args.get("expand") != Some("false");
    let format = main_tags_format(&args);
    let ctx2 = ctx.0.clone();
    ctx.read(move |tx| {
        let id = lookup_at_level(tx, &public_id, level)?;
        if other.code() < level.code() {
            let parent = ancestor_at(tx, id, level, other)?;
            let pid = tx.get_public_id(parent)?;
            let mut v = resource_json(&ctx2, tx, parent, other, &pid)?;
            format_main_tags(&mut v, format);
            return Ok(Json(v));
        }
        let mut out = Vec::new();
        for child in descendants_at(tx, id, level, other)? {
            let pid = tx.get_public_id(child)?;
            out.push(if expand {
                let mut v = resource_json(&ctx2, tx, child, other, &pid)?;
                format_main_tags(&mut v, format);
                v
            } else {
                json!(pid)
            });
        }
        Ok(Json(Value::Array(out)))
    })
    .await
}

async fn statistics(
    ctx: Ctx,
    Path(public_id): Path<String>,
    level: ResourceType,
) -> ApiResult<Json> {
    ctx.read(move |tx| {
        let id = lookup_at_level(tx, &public_id, level)?;
        let size = tx.get_resource_size(id)?;
        let mut m = crate::rest::system::size_statistics(&size);
        let mut below = level.child();
        while let Some(l) = below {
            let key = match l {
                ResourceType::Study => "CountStudies",
                ResourceType::Series => "CountSeries",
                _ => "CountInstances",
            };
            m.insert(key.into(), json!(descendants_at(tx, id, level, l)?.len()));
            below = l.child();
        }
        Ok(Json(Value::Object(m)))
    })
    .await
}

/// Instances below a resource, with their public IDs.
fn instances_of(
    tx: &mut dyn IndexTransaction,
    public_id: &str,
    level: ResourceType,
) -> ApiResult<Vec<(InternalId, String)>> {
    let id = lookup_at_level(tx, public_id, level)?;
    let mut out = Vec::new();
    for i in descendants_at(tx, id, level, ResourceType::Instance)? {
        out.push((i, tx.get_public_id(i)?));
    }
    Ok(out)
}

async fn shared_tags(
    ctx: Ctx,
    Path(public_id): Path<String>,
    RawQuery(q): RawQuery,
    level: ResourceType,
) -> ApiResult<Json> {
    let format = if QueryArgs::parse(q.as_deref()).flag("simplify") {
        TagsFormat::Simplify
    } else {
        TagsFormat::Full
    };
    let c = ctx.0.clone();
    ctx.blocking(move || {
        let instances = c.read_blocking(|tx| instances_of(tx, &public_id, level))?;
        let mut shared: Option<Map<String, Value>> = None;
        for (id, _) in instances {
            let Value::Object(tags) = read_dicom(&c, id)?.tags_json(format) else {
                continue;
            };
            // Only plain string values can be shared (no sequences, binary or too long values).
            let is_string =
                |v: &Value| v.is_string() || v.get("Type").is_some_and(|t| t == "String");
            shared = Some(match shared {
                None => tags.into_iter().filter(|(_, v)| is_string(v)).collect(),
                Some(prev) => prev
                    .into_iter()
                    .filter(|(k, v)| tags.get(k) == Some(v))
                    .collect(),
            });
        }
        Ok(Json(Value::Object(shared.unwrap_or_default())))
    })
    .await
}

async fn instances_tags(
    ctx: Ctx,
    Path(public_id): Path<String>,
    RawQuery(q): RawQuery,
    level: ResourceType,
) -> ApiResult<Json> {
    let format = tags_format(&QueryArgs::parse(q.as_deref()));
    let c = ctx.0.clone();
    ctx.blocking(move || {
        let instances = c.read_blocking(|tx| instances_of(tx, &public_id, level))?;
        let mut out = Map::new();
        for (id, pid) in instances {
            out.insert(pid, read_dicom(&c, id)?.tags_json(format));
        }
        Ok(Json(Value::Object(out)))
    })
    .await
}

async fn module(
    ctx: Ctx,
    Path(public_id): Path<String>,
    RawQuery(q): RawQuery,
    level: ResourceType,
    module_level: ResourceType,
) -> ApiResult<Json> {
    let format = tags_format(&QueryArgs::parse(q.as_deref()));
    let c = ctx.0.clone();
    ctx.blocking(move || {
        let first = c
            .read_blocking(|tx| instances_of(tx, &public_id, level))?
            .into_iter()
            .next()
            .ok_or_else(ApiError::not_found)?;
        Ok(Json(
            read_dicom(&c, first.0)?.module_json(module_level, format),
        ))
    })
    .await
}

async fn get_protected(ctx: Ctx, Path(public_id): Path<String>) -> ApiResult<Response> {
    ctx.read(move |tx| {
        let id = lookup_at_level(tx, &public_id, ResourceType::Patient)?;
        Ok(text(if tx.is_protected_patient(id)? {
            "1"
        } else {
            "0"
        }))
    })
    .await
}

async fn put_protected(
    ctx: Ctx,
    Path(public_id): Path<String>,
    body: String,
) -> ApiResult<Response> {
    let protected = match body.trim() {
        "1" | "true" => true,
        "0" | "false" => false,
        _ => {
            return Err(ApiError::with_details(
                ErrorCode::BadFileFormat,
                "Boolean value expected",
            ))
        }
    };
    ctx.write(move |tx| {
        let id = lookup_at_level(tx, &public_id, ResourceType::Patient)?;
        tx.set_protected_patient(id, protected)?;
        Ok(())
    })
    .await?;
    Ok(().into_response())
}
