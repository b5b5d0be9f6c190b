//! `POST /instances` and the routes that read an instance's DICOM file.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Extension, Path, RawQuery};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use stowage_dicom::{Content, TagsFormat};

use super::answer::{binary, Ctx, HttpUser, Routes};
use super::error::{ApiError, ApiResult, ErrorCode};
use super::json::Json;
use super::query::QueryArgs;
use crate::app::App;
use crate::services::context::{blocking, blocking_in_place};
use crate::services::error::dicom_verdict;
use crate::services::ingest::{Origin, StoreOutcome, UploadOutcome};
use crate::services::resources;

pub fn routes() -> Routes {
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

async fn upload(
    app: Ctx,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Extension(HttpUser(user)): Extension<HttpUser>,
    body: Bytes,
) -> ApiResult<Json> {
    let origin = Origin::RestApi {
        remote_ip: remote.ip().to_string(),
        username: user,
    };
    let a = app.0.clone();
    // Without a copy when the body is the sole owner of its buffer.
    let outcome =
        blocking_in_place(move || a.ingest.store_upload(Vec::from(body), &origin)).await?;
    Ok(Json(match outcome {
        UploadOutcome::One(o) => outcome_json(&o),
        UploadOutcome::Archive(stored) => Value::Array(stored.iter().map(outcome_json).collect()),
    }))
}

async fn with_dicom<R: Send + 'static>(
    app: &App,
    public_id: String,
    f: impl FnOnce(stowage_dicom::DicomFile) -> ApiResult<R> + Send + 'static,
) -> ApiResult<R> {
    let file = resources::instance_dicom(&app.ctx, public_id).await?;
    blocking(move || f(file)).await
}

async fn file(app: Ctx, Path(public_id): Path<String>) -> ApiResult<Response> {
    let (info, bytes) = resources::instance_file(&app.ctx, public_id).await?;
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

async fn tags(app: Ctx, Path(id): Path<String>, RawQuery(q): RawQuery) -> ApiResult<Json> {
    let format = format_of(q.as_deref());
    Ok(Json(resources::instance_tags(&app.ctx, id, format).await?))
}

async fn simplified_tags(app: Ctx, Path(id): Path<String>) -> ApiResult<Json> {
    Ok(Json(
        resources::instance_tags(&app.ctx, id, TagsFormat::Simplify).await?,
    ))
}

async fn header(app: Ctx, Path(id): Path<String>, RawQuery(q): RawQuery) -> ApiResult<Json> {
    let format = format_of(q.as_deref());
    with_dicom(&app, id, move |f| Ok(Json(f.header_json(format)))).await
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
        other => dicom_verdict(&other).into(),
    }
}

async fn content_root(app: Ctx, Path(id): Path<String>) -> ApiResult<Response> {
    with_dicom(&app, id, |f| {
        f.content(&[]).map(content_answer).map_err(content_error)
    })
    .await
}

async fn content(app: Ctx, Path((id, path)): Path<(String, String)>) -> ApiResult<Response> {
    with_dicom(&app, id, move |f| {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        f.content(&parts).map(content_answer).map_err(content_error)
    })
    .await
}

async fn frames(app: Ctx, Path(id): Path<String>) -> ApiResult<Json> {
    with_dicom(&app, id, |f| {
        Ok(Json(json!((0..f.frame_count()).collect::<Vec<_>>())))
    })
    .await
}

async fn raw_frame(app: Ctx, Path((id, frame)): Path<(String, String)>) -> ApiResult<Response> {
    let index: usize = frame
        .parse()
        .map_err(|_| ApiError::new(ErrorCode::ParameterOutOfRange))?;
    with_dicom(&app, id, move |f| {
        let frame = f.raw_frame(index).map_err(|e| match e {
            stowage_dicom::DicomError::OutOfRange => ApiError::new(ErrorCode::ParameterOutOfRange),
            other => dicom_verdict(&other).into(),
        })?;
        let mut r = binary(frame.bytes, frame.mime);
        if frame.mime.is_empty() {
            r.headers_mut().remove(CONTENT_TYPE);
        }
        Ok(r)
    })
    .await
}
