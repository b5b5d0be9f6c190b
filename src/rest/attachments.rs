//! `/{level}/{id}/attachments[/{name}[/...]]`: the DICOM file and user attachments, with
//! revisions.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use stowage_core::{CompressionType, FileContentType, ResourceType};

use super::answer::{binary, text, Ctx, Routes};
use super::error::{ApiError, ApiResult, ErrorCode};
use super::etag;
use super::json::Json;
use super::query::QueryArgs;
use crate::services::attachments::{self, content_type_name, mime_of, resolve};

const OPERATIONS: [&str; 12] = [
    "compress",
    "compressed-data",
    "compressed-md5",
    "compressed-size",
    "data",
    "info",
    "is-compressed",
    "md5",
    "size",
    "uncompress",
    "verify-md5",
    "uuid",
];

pub fn routes() -> Routes {
    let mut router = Router::new();
    for level in ResourceType::ALL {
        let base = format!("/{}/{{id}}/attachments", level.collection());
        router = router
            .route(&base, get(move |ctx, id, q| list(ctx, id, q, level)))
            .route(
                &format!("{base}/{{name}}"),
                get(move |ctx, p, h| operations(ctx, p, h, level))
                    .put(move |ctx, p, h, body| put(ctx, p, h, body, level))
                    .delete(move |ctx, p, h| delete(ctx, p, h, level)),
            )
            .route(
                &format!("{base}/{{name}}/{{op}}"),
                get(move |ctx, p, h| read_op(ctx, p, h, level)),
            )
            .route(
                &format!("{base}/{{name}}/verify-md5"),
                post(move |ctx, p| verify_md5(ctx, p, level)),
            )
            .route(
                &format!("{base}/{{name}}/compress"),
                post(move |ctx, p| set_compression(ctx, p, level, true)),
            )
            .route(
                &format!("{base}/{{name}}/uncompress"),
                post(move |ctx, p| set_compression(ctx, p, level, false)),
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
    let full = QueryArgs::parse(q.as_deref()).flag("full");
    let kinds = attachments::list(&app.ctx, public_id, level).await?;
    let config = &app.ctx.config;
    if full {
        let mut m = Map::new();
        for k in kinds {
            m.insert(content_type_name(config, k), json!(k.0));
        }
        Ok(Json(Value::Object(m)))
    } else {
        Ok(Json(json!(kinds
            .iter()
            .map(|k| content_type_name(config, *k))
            .collect::<Vec<_>>())))
    }
}

async fn operations(
    app: Ctx,
    Path((public_id, name)): Path<(String, String)>,
    _headers: HeaderMap,
    level: ResourceType,
) -> ApiResult<Response> {
    let ct = resolve(&app.ctx.config, &name)?;
    let (_, etag) = attachments::fetch(&app.ctx, public_id, level, ct).await?;
    Ok(etag::with_etag(
        Json(json!(OPERATIONS)).into_response(),
        &etag,
    ))
}

async fn read_op(
    app: Ctx,
    Path((public_id, name, op)): Path<(String, String, String)>,
    headers: HeaderMap,
    level: ResourceType,
) -> ApiResult<Response> {
    let ct = resolve(&app.ctx.config, &name)?;
    let (f, etag) = attachments::fetch(&app.ctx, public_id, level, ct).await?;
    let response = match op.as_str() {
        "data" | "compressed-data" => {
            if etag::not_modified(&headers, &etag) {
                return Ok(etag::not_modified_response(&etag));
            }
            let raw = op == "compressed-data";
            let bytes = attachments::read_data(&app.ctx, f.clone(), raw).await?;
            let mime = if raw {
                "application/octet-stream".to_owned()
            } else {
                mime_of(&app.ctx.config, ct)
            };
            let mut r = binary(bytes, &mime);
            if ct == FileContentType::DICOM && !raw {
                if let Ok(v) = HeaderValue::from_str(&format!("filename=\"{}.dcm\"", f.uuid)) {
                    r.headers_mut().insert(CONTENT_DISPOSITION, v);
                }
            }
            r
        }
        "size" => text(f.uncompressed_size.to_string()),
        "md5" => text(f.uncompressed_md5.clone()),
        "compressed-size" => text(f.compressed_size.to_string()),
        "compressed-md5" => text(f.compressed_md5.clone()),
        "is-compressed" => text(if f.compression == CompressionType::None {
            "0"
        } else {
            "1"
        }),
        "info" => Json(json!({
            "CompressedMD5": f.compressed_md5,
            "CompressedSize": f.compressed_size,
            "ContentType": f.content_type.0,
            "UncompressedMD5": f.uncompressed_md5,
            "UncompressedSize": f.uncompressed_size,
            "Uuid": f.uuid,
        }))
        .into_response(),
        _ => return Err(ApiError::new(ErrorCode::UnknownResource)),
    };
    Ok(etag::with_etag(response, &etag))
}

async fn verify_md5(
    app: Ctx,
    Path((public_id, name)): Path<(String, String)>,
    level: ResourceType,
) -> ApiResult<Json> {
    let ct = resolve(&app.ctx.config, &name)?;
    attachments::verify_md5(&app.ctx, public_id, level, ct).await?;
    Ok(Json(json!({})))
}

/// Re-stores an attachment compressed or not.
async fn set_compression(
    app: Ctx,
    Path((public_id, name)): Path<(String, String)>,
    level: ResourceType,
    compressed: bool,
) -> ApiResult<Response> {
    let ct = resolve(&app.ctx.config, &name)?;
    attachments::set_compression(&app.ctx, public_id, level, ct, compressed).await?;
    Ok(text(""))
}

async fn put(
    app: Ctx,
    Path((public_id, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
    level: ResourceType,
) -> ApiResult<Response> {
    let ct = resolve(&app.ctx.config, &name)?;
    let expected = etag::if_match(&headers)?;
    let etag = attachments::put(&app.ctx, public_id, level, ct, Vec::from(body), expected).await?;
    let mut r = Json(json!({})).into_response();
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(etag::with_etag(r, &etag))
}

async fn delete(
    app: Ctx,
    Path((public_id, name)): Path<(String, String)>,
    headers: HeaderMap,
    level: ResourceType,
) -> ApiResult<Response> {
    let ct = resolve(&app.ctx.config, &name)?;
    let expected = etag::if_match(&headers)?;
    attachments::delete(&app.ctx, public_id, level, ct, expected).await?;
    Ok(text(""))
}
