//! `/{level}/{id}/attachments[/{name}[/...]]`: the DICOM file and user attachments, with
//! revisions.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::header::CONTENT_DISPOSITION;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use stowage_core::{
    ChangeType, CompressionType, FileContentType, FileInfo, IndexTransaction, InternalId,
    Precondition, ResourceType,
};

use super::query::QueryArgs;
use super::revision::{self, Etag};
use super::{binary, text, Ctx};
use crate::config::Config;
use crate::context::ServerContext;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::files::read_attachment;
use crate::ingest::{remove_files, write_attachment};
use crate::json::Json;
use crate::resources::{log_change, lookup_at_level};

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

pub fn routes() -> Router<Arc<ServerContext>> {
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

/// An attachment kind from its REST name: built-in name, `UserContentType` name, or number.
pub fn content_type(config: &Config, name: &str) -> Option<FileContentType> {
    match name {
        "dicom" => Some(FileContentType::DICOM),
        "dicom-as-json" => Some(FileContentType::DICOM_AS_JSON),
        "dicom-until-pixel-data" => Some(FileContentType::DICOM_UNTIL_PIXEL_DATA),
        _ => config
            .user_content_type
            .get(name)
            .map(|(c, _)| FileContentType(*c))
            .or_else(|| name.parse::<u16>().ok().map(|n| FileContentType(n.into()))),
    }
}

fn content_type_name(config: &Config, ct: FileContentType) -> String {
    if let Some(n) = ct.builtin_name() {
        return n.to_owned();
    }
    config
        .user_content_type
        .iter()
        .find(|(_, (c, _))| *c == ct.0)
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| ct.0.to_string())
}

fn mime_of(config: &Config, ct: FileContentType) -> String {
    if ct == FileContentType::DICOM {
        return "application/dicom".into();
    }
    config
        .user_content_type
        .values()
        .find(|(c, _)| *c == ct.0)
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| "application/octet-stream".into())
}

fn resolve(config: &Config, name: &str) -> ApiResult<FileContentType> {
    content_type(config, name).ok_or_else(|| ApiError::new(ErrorCode::InexistentItem))
}

fn etag_of(f: &FileInfo, revision: i64) -> Etag {
    Etag {
        revision,
        md5: f.uncompressed_md5.clone(),
    }
}

fn lookup(
    tx: &mut dyn IndexTransaction,
    public_id: &str,
    level: ResourceType,
    ct: FileContentType,
) -> ApiResult<(InternalId, Option<(FileInfo, i64)>)> {
    let id = lookup_at_level(tx, public_id, level)?;
    Ok((
        id,
        tx.lookup_attachment(id, ct)?.map(|a| (a.file, a.revision)),
    ))
}

async fn fetch(
    ctx: &Arc<ServerContext>,
    public_id: String,
    level: ResourceType,
    ct: FileContentType,
) -> ApiResult<(FileInfo, Etag)> {
    let (_, found) = ctx
        .read(move |tx| lookup(tx, &public_id, level, ct))
        .await?;
    let (f, rev) = found.ok_or_else(|| ApiError::new(ErrorCode::UnknownResource))?;
    let etag = etag_of(&f, rev);
    Ok((f, etag))
}

async fn list(
    ctx: Ctx,
    Path(public_id): Path<String>,
    RawQuery(q): RawQuery,
    level: ResourceType,
) -> ApiResult<Json> {
    let full = QueryArgs::parse(q.as_deref()).flag("full");
    let c = ctx.0.clone();
    ctx.read(move |tx| {
        let id = lookup_at_level(tx, &public_id, level)?;
        let kinds = tx.list_available_attachments(id)?;
        if full {
            let mut m = Map::new();
            for k in kinds {
                m.insert(content_type_name(&c.config, k), json!(k.0));
            }
            Ok(Json(Value::Object(m)))
        } else {
            Ok(Json(json!(kinds
                .iter()
                .map(|k| content_type_name(&c.config, *k))
                .collect::<Vec<_>>())))
        }
    })
    .await
}

async fn operations(
    ctx: Ctx,
    Path((public_id, name)): Path<(String, String)>,
    _headers: HeaderMap,
    level: ResourceType,
) -> ApiResult<Response> {
    let ct = resolve(&ctx.config, &name)?;
    let (_, etag) = fetch(&ctx, public_id, level, ct).await?;
    Ok(revision::with_etag(
        Json(json!(OPERATIONS)).into_response(),
        &etag,
    ))
}

async fn read_op(
    ctx: Ctx,
    Path((public_id, name, op)): Path<(String, String, String)>,
    headers: HeaderMap,
    level: ResourceType,
) -> ApiResult<Response> {
    let ct = resolve(&ctx.config, &name)?;
    let (f, etag) = fetch(&ctx, public_id, level, ct).await?;
    let response = match op.as_str() {
        "data" | "compressed-data" => {
            if revision::not_modified(&headers, &etag) {
                return Ok(revision::not_modified_response(&etag));
            }
            let c = ctx.0.clone();
            let info = f.clone();
            let raw = op == "compressed-data";
            let bytes = ctx
                .blocking(move || {
                    if raw {
                        Ok(c.storage.read(&info.uuid, info.content_type)?)
                    } else {
                        read_attachment(&c, &info)
                    }
                })
                .await?;
            let mime = if raw {
                "application/octet-stream".to_owned()
            } else {
                mime_of(&ctx.config, ct)
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
    Ok(revision::with_etag(response, &etag))
}

async fn verify_md5(
    ctx: Ctx,
    Path((public_id, name)): Path<(String, String)>,
    level: ResourceType,
) -> ApiResult<Json> {
    let ct = resolve(&ctx.config, &name)?;
    let (f, _) = fetch(&ctx, public_id, level, ct).await?;
    let c = ctx.0.clone();
    ctx.blocking(move || {
        let stored = c.storage.read(&f.uuid, f.content_type)?;
        let data = read_attachment(&c, &f)?;
        if revision::md5_hex(&stored) != f.compressed_md5
            || revision::md5_hex(&data) != f.uncompressed_md5
        {
            return Err(ApiError::new(ErrorCode::CorruptedFile));
        }
        Ok(Json(json!({})))
    })
    .await
}

/// Re-stores an attachment compressed or not. The content, hence its MD5 and revision, stays.
async fn set_compression(
    ctx: Ctx,
    Path((public_id, name)): Path<(String, String)>,
    level: ResourceType,
    compressed: bool,
) -> ApiResult<Response> {
    let ct = resolve(&ctx.config, &name)?;
    let c = ctx.0.clone();
    ctx.blocking(move || {
        let (_, found) = c.read_blocking(|tx| lookup(tx, &public_id, level, ct))?;
        let (old, old_revision) = found.ok_or_else(|| ApiError::new(ErrorCode::UnknownResource))?;
        if (old.compression != CompressionType::None) == compressed {
            return Ok(());
        }
        let data = read_attachment(&c, &old)?;
        let info = write_attachment(c.storage.as_ref(), &data, ct, compressed)?;
        // The same content, hence the same MD5, at the next revision (as Orthanc does); a
        // version replaced meanwhile stays (a revision error).
        let precondition = Precondition::Matches {
            revision: old_revision,
            md5: old.uncompressed_md5.clone(),
        };
        let result = c.write_blocking(|tx| {
            let id = lookup_at_level(tx, &public_id, level)?;
            Ok(tx.add_attachment(id, &info, &precondition)?)
        });
        match result {
            Ok(added) => {
                if let Some(replaced) = added.replaced {
                    remove_files(&c, &[replaced]);
                }
                Ok(())
            }
            Err(e) => {
                if !e.commit_outcome_unknown() {
                    remove_files(&c, &[info]);
                }
                Err(e)
            }
        }
    })
    .await?;
    Ok(text(""))
}

fn log_update(
    tx: &mut dyn IndexTransaction,
    level: ResourceType,
    public_id: &str,
) -> ApiResult<()> {
    log_change(tx, ChangeType::UpdatedAttachment, level, public_id)
}

async fn put(
    ctx: Ctx,
    Path((public_id, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
    level: ResourceType,
) -> ApiResult<Response> {
    let ct = resolve(&ctx.config, &name)?;
    if !ct.is_user_defined() {
        return Err(ApiError::forbidden());
    }
    let precondition =
        revision::write_precondition(revision::if_match(&headers)?, ctx.config.check_revisions);
    let c = ctx.0.clone();
    let (etag, replaced) = ctx
        .blocking(move || {
            // Fail early on an unknown resource, before writing any file.
            c.read_blocking(|tx| lookup_at_level(tx, &public_id, level))?;
            let info =
                write_attachment(c.storage.as_ref(), &body, ct, c.config.storage_compression)?;
            let result = c.write_blocking(|tx| {
                let id = lookup_at_level(tx, &public_id, level)?;
                let added = tx.add_attachment(id, &info, &precondition)?;
                log_update(tx, level, &public_id)?;
                Ok((etag_of(&info, added.revision), added.replaced))
            });
            if result.as_ref().is_err_and(|e| !e.commit_outcome_unknown()) {
                remove_files(&c, std::slice::from_ref(&info));
            }
            result
        })
        .await?;
    if let Some(old) = replaced {
        let c = ctx.0.clone();
        ctx.blocking(move || {
            remove_files(&c, &[old]);
            Ok(())
        })
        .await?;
    }
    let mut r = Json(json!({})).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(revision::with_etag(r, &etag))
}

async fn delete(
    ctx: Ctx,
    Path((public_id, name)): Path<(String, String)>,
    headers: HeaderMap,
    level: ResourceType,
) -> ApiResult<Response> {
    let ct = resolve(&ctx.config, &name)?;
    if ct == FileContentType::DICOM {
        return Err(ApiError::forbidden());
    }
    let expected = revision::if_match(&headers)?;
    let check = ctx.config.check_revisions;
    let removed = ctx
        .write(move |tx| {
            let id = lookup_at_level(tx, &public_id, level)?;
            let precondition = revision::delete_precondition(expected.clone(), check)?;
            let Some(removed) = tx.delete_attachment(id, ct, &precondition)? else {
                return Err(ApiError::new(ErrorCode::UnknownResource));
            };
            log_update(tx, level, &public_id)?;
            Ok(removed.file)
        })
        .await?;
    let c = ctx.0.clone();
    ctx.blocking(move || {
        remove_files(&c, &[removed]);
        Ok(())
    })
    .await?;
    Ok(text(""))
}
