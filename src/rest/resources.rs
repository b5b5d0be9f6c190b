//! Routes shared by the four levels: lists, one resource, parents and children, deletion,
//! statistics, shared tags, modules, protection.

use axum::extract::{Path, RawQuery};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use stowage_core::ResourceType;
use stowage_dicom::TagsFormat;

use super::answer::{text, Ctx, Routes};
use super::error::{ApiError, ApiResult, ErrorCode};
use super::json::Json;
use super::query::QueryArgs;
use super::system::size_statistics;
use crate::services::{delete as deletion, resources};

pub fn routes() -> Routes {
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

async fn list(app: Ctx, RawQuery(q): RawQuery, level: ResourceType) -> ApiResult<Json> {
    let args = QueryArgs::parse(q.as_deref());
    let expand = args.flag("expand").then(|| main_tags_format(&args));
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
    Ok(Json(
        resources::list(&app.ctx, level, since, limit, expand).await?,
    ))
}

async fn get_one(
    app: Ctx,
    Path(public_id): Path<String>,
    RawQuery(q): RawQuery,
    level: ResourceType,
) -> ApiResult<Json> {
    let format = main_tags_format(&QueryArgs::parse(q.as_deref()));
    Ok(Json(
        resources::get(&app.ctx, public_id, level, format).await?,
    ))
}

async fn delete(app: Ctx, Path(public_id): Path<String>, level: ResourceType) -> ApiResult<Json> {
    let deleted = deletion::delete(&app.ctx, public_id, level).await?;
    let remaining = deleted.remaining_ancestor.map(|r| {
        json!({
            "ID": r.public_id,
            "Path": format!("/{}/{}", r.level.collection(), r.public_id),
            "Type": r.level.name(),
        })
    });
    Ok(Json(json!({ "RemainingAncestor": remaining })))
}

/// `/studies/{id}/series`, `/instances/{id}/patient`, ...: children at any depth, or the parent.
async fn related(
    app: Ctx,
    Path(public_id): Path<String>,
    RawQuery(q): RawQuery,
    level: ResourceType,
    other: ResourceType,
) -> ApiResult<Json> {
    // Children come expanded unless `?expand=false`.
    let args = QueryArgs::parse(q.as_deref());
    let expand = args.get("expand") != Some("false");
    let format = main_tags_format(&args);
    Ok(Json(
        resources::related(&app.ctx, public_id, level, other, expand, format).await?,
    ))
}

async fn statistics(
    app: Ctx,
    Path(public_id): Path<String>,
    level: ResourceType,
) -> ApiResult<Json> {
    let stats = resources::statistics(&app.ctx, public_id, level).await?;
    let mut m = size_statistics(&stats.size);
    for (l, count) in stats.counts {
        let key = match l {
            ResourceType::Study => "CountStudies",
            ResourceType::Series => "CountSeries",
            _ => "CountInstances",
        };
        m.insert(key.into(), json!(count));
    }
    Ok(Json(Value::Object(m)))
}

async fn shared_tags(
    app: Ctx,
    Path(public_id): Path<String>,
    RawQuery(q): RawQuery,
    level: ResourceType,
) -> ApiResult<Json> {
    let format = if QueryArgs::parse(q.as_deref()).flag("simplify") {
        TagsFormat::Simplify
    } else {
        TagsFormat::Full
    };
    Ok(Json(
        resources::shared_tags(&app.ctx, public_id, level, format).await?,
    ))
}

async fn instances_tags(
    app: Ctx,
    Path(public_id): Path<String>,
    RawQuery(q): RawQuery,
    level: ResourceType,
) -> ApiResult<Json> {
    let format = tags_format(&QueryArgs::parse(q.as_deref()));
    Ok(Json(
        resources::instances_tags(&app.ctx, public_id, level, format).await?,
    ))
}

async fn module(
    app: Ctx,
    Path(public_id): Path<String>,
    RawQuery(q): RawQuery,
    level: ResourceType,
    module_level: ResourceType,
) -> ApiResult<Json> {
    let format = tags_format(&QueryArgs::parse(q.as_deref()));
    Ok(Json(
        resources::module(&app.ctx, public_id, level, module_level, format).await?,
    ))
}

async fn get_protected(app: Ctx, Path(public_id): Path<String>) -> ApiResult<Response> {
    let protected = resources::is_protected(&app.ctx, public_id).await?;
    Ok(text(if protected { "1" } else { "0" }))
}

async fn put_protected(
    app: Ctx,
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
    resources::set_protected(&app.ctx, public_id, protected).await?;
    Ok(().into_response())
}
