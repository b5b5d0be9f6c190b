//! `POST /instances` and the routes that read an instance's DICOM file.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Extension, Path, RawQuery};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use stowage_core::ResourceType;
use stowage_dicom::{Content, TagsFormat};

use super::query::QueryArgs;
use super::{binary, Ctx, HttpUser};
use crate::context::ServerContext;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::files::{read_dicom, read_dicom_bytes};
use crate::ingest::{self, dicom_error, Origin, StoreOutcome};
use crate::json::Json;
use crate::resources::lookup_at_level;

pub fn routes() -> Router<Arc<ServerContext>> {
    Router::new()
        .route("/instances", post(upload))
        .route("/instances/{id}/file", get(file))
        .route("/instances/{id}/tags", get(tags))
        .route("/instances/{id}/simplified-tags", get(simplified_tags))
        .route("/instances/{id}/header", get(header))
        .route("/instances/{id}/content", get(content_root))
        .route("/instances/{id}/content/{*path}", get(content))
        .route("/instances/{id}/frames", get(frames))
        .route("/instances/{id}/frames/{frame}/raw", get(raw_frame))
}

fn outcome_json(o: &StoreOutcome) -> Value {
    json!({
        "ID": o.ids.instance,
        "ParentPatient": o.ids.patient,
        "ParentStudy": o.ids.study,
        "ParentSeries": o.ids.series,
        "Path": format!("/instances/{}", o.ids.instance),
        "Status": o.status.name(),
    })
}

fn is_zip(body: &[u8]) -> bool {
    body.starts_with(b"PK\x03\x04")
}

/// Entries of a ZIP archive that are files.
fn zip_entries(body: &[u8]) -> ApiResult<Vec<Vec<u8>>> {
    use std::io::Read;
    let bad = |e: zip::result::ZipError| {
        ApiError::with_details(
            ErrorCode::BadFileFormat,
            format!("Cannot read the ZIP archive: {e}"),
        )
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(body)).map_err(bad)?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(bad)?;
        if entry.is_dir() {
            continue;
        }
        let mut data = Vec::with_capacity(entry.size().min(1 << 30) as usize);
        entry.read_to_end(&mut data).map_err(|e| {
            ApiError::with_details(
                ErrorCode::BadFileFormat,
                format!("Cannot read the ZIP archive: {e}"),
            )
        })?;
        out.push(data);
    }
    Ok(out)
}

async fn upload(
    ctx: Ctx,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Extension(HttpUser(user)): Extension<HttpUser>,
    body: Bytes,
) -> ApiResult<Json> {
    if body.is_empty() {
        return Err(ApiError::with_details(
            ErrorCode::BadFileFormat,
            "Received an empty DICOM file",
        ));
    }
    let origin = Origin::RestApi {
        remote_ip: remote.ip().to_string(),
        username: user,
    };
    let c = ctx.0.clone();
    ctx.blocking_in_place(move || {
        if !is_zip(&body) {
            // Without a copy when the body is the sole owner of its buffer.
            let data = Vec::from(body);
            return Ok(Json(outcome_json(&ingest::store(&c, data, &origin)?)));
        }
        // A ZIP archive: every DICOM file inside is stored; others are skipped.
        let mut answers = Vec::new();
        for entry in zip_entries(&body)? {
            match ingest::store(&c, entry, &origin) {
                Ok(o) => answers.push(outcome_json(&o)),
                Err(ApiError::Json {
                    code: ErrorCode::BadFileFormat,
                    details,
                }) => {
                    tracing::info!("skipping a file of the ZIP archive: {details:?}");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Json(Value::Array(answers)))
    })
    .await
}

async fn instance_id(ctx: &Arc<ServerContext>, public_id: String) -> ApiResult<i64> {
    ctx.read(move |tx| lookup_at_level(tx, &public_id, ResourceType::Instance))
        .await
}

async fn with_dicom<R: Send + 'static>(
    ctx: &Arc<ServerContext>,
    public_id: String,
    f: impl FnOnce(stowage_dicom::DicomFile) -> ApiResult<R> + Send + 'static,
) -> ApiResult<R> {
    let id = instance_id(ctx, public_id).await?;
    let c = ctx.clone();
    ctx.blocking(move || f(read_dicom(&c, id)?)).await
}

async fn file(ctx: Ctx, Path(public_id): Path<String>) -> ApiResult<Response> {
    let id = instance_id(&ctx, public_id).await?;
    let c = ctx.0.clone();
    let (info, bytes) = ctx.blocking(move || read_dicom_bytes(&c, id)).await?;
    let mut r = binary(bytes, "application/dicom");
    if let Ok(v) = HeaderValue::from_str(&format!("filename=\"{}.dcm\"", info.uuid)) {
        r.headers_mut().insert(CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

fn format_of(q: Option<&str>) -> TagsFormat {
    let args = QueryArgs::parse(q);
    if args.flag("simplify") {
        TagsFormat::Simplify
    } else if args.flag("short") {
        TagsFormat::Short
    } else {
        TagsFormat::Full
    }
}

async fn tags(ctx: Ctx, Path(id): Path<String>, RawQuery(q): RawQuery) -> ApiResult<Json> {
    let format = format_of(q.as_deref());
    tags_answer(&ctx, id, format).await
}

async fn simplified_tags(ctx: Ctx, Path(id): Path<String>) -> ApiResult<Json> {
    tags_answer(&ctx, id, TagsFormat::Simplify).await
}

async fn tags_answer(
    ctx: &Arc<ServerContext>,
    public_id: String,
    format: TagsFormat,
) -> ApiResult<Json> {
    let id = instance_id(ctx, public_id).await?;
    let c = ctx.clone();
    ctx.blocking(move || Ok(Json(crate::files::tags_json(&c, id, format)?)))
        .await
}

async fn header(ctx: Ctx, Path(id): Path<String>, RawQuery(q): RawQuery) -> ApiResult<Json> {
    let format = format_of(q.as_deref());
    with_dicom(&ctx, id, move |f| Ok(Json(f.header_json(format)))).await
}

fn content_answer(c: Content) -> Response {
    match c {
        Content::Children(items) => axum::response::IntoResponse::into_response(Json(json!(items))),
        Content::Bytes(b) => binary(b, "application/octet-stream"),
    }
}

fn content_error(e: stowage_dicom::DicomError) -> ApiError {
    match e {
        // Orthanc answers a malformed tag in the path with a 500 "Unknown DICOM tag".
        stowage_dicom::DicomError::UnknownTag(ref s) if stowage_dicom::Tag::parse(s).is_none() => {
            ApiError::Json {
                code: ErrorCode::UnknownDicomTag,
                details: None,
            }
        }
        other => dicom_error(other),
    }
}

async fn content_root(ctx: Ctx, Path(id): Path<String>) -> ApiResult<Response> {
    with_dicom(&ctx, id, |f| {
        f.content(&[]).map(content_answer).map_err(content_error)
    })
    .await
}

async fn content(ctx: Ctx, Path((id, path)): Path<(String, String)>) -> ApiResult<Response> {
    with_dicom(&ctx, id, move |f| {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        f.content(&parts).map(content_answer).map_err(content_error)
    })
    .await
}

async fn frames(ctx: Ctx, Path(id): Path<String>) -> ApiResult<Json> {
    with_dicom(&ctx, id, |f| {
        Ok(Json(json!((0..f.frame_count()).collect::<Vec<_>>())))
    })
    .await
}

async fn raw_frame(ctx: Ctx, Path((id, frame)): Path<(String, String)>) -> ApiResult<Response> {
    let index: usize = frame
        .parse()
        .map_err(|_| ApiError::new(ErrorCode::ParameterOutOfRange))?;
    with_dicom(&ctx, id, move |f| {
        let frame = f.raw_frame(index).map_err(|e| match e {
            stowage_dicom::DicomError::OutOfRange => ApiError::new(ErrorCode::ParameterOutOfRange),
            other => dicom_error(other),
        })?;
        let mut r = binary(frame.bytes, frame.mime);
        if frame.mime.is_empty() {
            r.headers_mut().remove(CONTENT_TYPE);
        }
        Ok(r)
    })
    .await
}
