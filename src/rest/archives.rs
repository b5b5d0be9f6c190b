//! Archives and media (`/{patients,studies,series}/{id}/{archive,media}`,
//! `/tools/create-archive`, `/tools/create-media[-extended]`) and bulk operations
//! (`/tools/bulk-delete`, `/tools/bulk-content`).
//!
//! Synchronous archives are streamed: a blocking task writes the ZIP into a bounded channel
//! that feeds the HTTP body, so the server holds one DICOM file and a few chunks at a time.
//! Asynchronous ones are jobs writing a temporary file, served by `/jobs/{id}/archive`.

use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use stowage_core::ResourceType;
use tokio::sync::mpsc;

use super::answer::{Ctx, Routes};
use super::error::{ApiError, ApiResult, ErrorCode};
use super::json::Json;
use crate::app::App;
use crate::services::archive::{self, write_archive, ArchiveError};
use crate::services::bulk;
use crate::services::context::Context;
use crate::services::jobs::JobSpec;

pub fn routes() -> Routes {
    let mut router = Router::new();
    for level in [
        ResourceType::Patient,
        ResourceType::Study,
        ResourceType::Series,
    ] {
        let base = format!("/{}/{{id}}", level.collection());
        for media in [false, true] {
            let name = if media { "media" } else { "archive" };
            router = router.route(
                &format!("{base}/{name}"),
                get(move |ctx, id| archive_get(ctx, id, level, media))
                    .post(move |ctx, id, body| archive_post(ctx, id, body, level, media)),
            );
        }
    }
    router
        .route(
            "/tools/create-archive",
            post(|c, b| create(c, b, false, false)),
        )
        .route(
            "/tools/create-media",
            post(|c, b| create(c, b, true, false)),
        )
        .route(
            "/tools/create-media-extended",
            post(|c, b| create(c, b, true, true)),
        )
        .route("/tools/bulk-delete", post(bulk_delete))
        .route("/tools/bulk-content", post(bulk_content))
}

// ---------------------------------------------------------------------------
// Streaming bodies
// ---------------------------------------------------------------------------

type Chunk = Result<Bytes, std::io::Error>;

struct ChannelStream(mpsc::Receiver<Chunk>);

impl futures_core::Stream for ChannelStream {
    type Item = Chunk;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Chunk>> {
        self.0.poll_recv(cx)
    }
}

/// A blocking `Write` into the body channel, in chunks of [`CHUNK`] bytes.
pub struct ChannelWriter {
    tx: mpsc::Sender<Chunk>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 * 1024;

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }

    /// Aborts the body (the client sees a truncated transfer).
    fn fail(&self, message: String) {
        let _ = self.tx.blocking_send(Err(std::io::Error::other(message)));
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// A streamed answer fed by `produce`, run on a blocking thread.
pub fn streamed(
    ctx: &Arc<Context>,
    mime: &'static str,
    filename: Option<String>,
    produce: impl FnOnce(&Context, &mut ChannelWriter) -> ApiResult<()> + Send + 'static,
) -> Response {
    let (tx, rx) = mpsc::channel::<Chunk>(4);
    let c = ctx.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        let result = produce(&c, &mut w).and_then(|_| {
            w.flush()
                .map_err(|e| ApiError::with_details(ErrorCode::CannotWriteFile, e.to_string()))
        });
        if let Err(e) = result {
            tracing::warn!("streamed answer aborted: {e:?}");
            w.fail(format!("{e:?}"));
        }
    });
    let mut r = Body::from_stream(ChannelStream(rx)).into_response();
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Some(f) = filename {
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{f}\"")) {
            r.headers_mut().insert(CONTENT_DISPOSITION, v);
        }
    }
    r
}

/// Streams a ZIP file (a job's output).
pub fn stream_file(ctx: &Arc<Context>, mut file: std::fs::File, name: String) -> Response {
    streamed(ctx, "application/zip", Some(name), move |_, w| {
        std::io::copy(&mut file, w)
            .map_err(|e| ApiError::with_details(ErrorCode::CannotWriteFile, e.to_string()))?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Archives
// ---------------------------------------------------------------------------

/// Parses an optional JSON object body.
fn parse_body(body: &Bytes) -> ApiResult<Map<String, Value>> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request("The body must be a JSON object")),
        Err(_) => Err(ApiError::new(ErrorCode::BadJson)),
    }
}

fn flag(body: &Map<String, Value>, key: &str) -> ApiResult<Option<bool>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::bad_request(format!(
            "Field \"{key}\" must be a Boolean"
        ))),
    }
}

fn resources_field(body: &Map<String, Value>) -> ApiResult<Vec<String>> {
    let bad = || ApiError::bad_request("Field \"Resources\" must be an array of strings");
    body.get("Resources")
        .and_then(Value::as_array)
        .ok_or_else(bad)?
        .iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
        .collect()
}

/// Whether the request asks for a job (`Asynchronous: true` or `Synchronous: false`).
fn asynchronous(body: &Map<String, Value>) -> ApiResult<bool> {
    Ok(flag(body, "Asynchronous")? == Some(true) || flag(body, "Synchronous")? == Some(false))
}

fn priority(body: &Map<String, Value>) -> ApiResult<i64> {
    match body.get("Priority") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| ApiError::bad_request("Field \"Priority\" must be an integer")),
    }
}

fn job_answer(id: &str) -> Json {
    Json(json!({ "ID": id, "Path": format!("/jobs/{id}") }))
}

/// Plans then streams an archive of `resources` (checked to exist first).
async fn sync_archive(
    ctx: &Arc<Context>,
    resources: Vec<String>,
    media: bool,
    filename: String,
) -> ApiResult<Response> {
    let plan = archive::plan_of(ctx, resources, media).await?;
    Ok(streamed(
        ctx,
        "application/zip",
        Some(filename),
        move |c, w| {
            write_archive(c, &plan, media, w, |_, _| Ok::<(), ArchiveError>(()))?;
            Ok(())
        },
    ))
}

async fn archive_get(
    app: Ctx,
    Path(id): Path<String>,
    level: ResourceType,
    media: bool,
) -> ApiResult<Response> {
    archive::check_level(&app.ctx, id.clone(), level).await?;
    let name = format!("{id}.zip");
    sync_archive(&app.ctx, vec![id], media, name).await
}

async fn archive_post(
    app: Ctx,
    Path(id): Path<String>,
    body: Bytes,
    level: ResourceType,
    media: bool,
) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    archive::check_level(&app.ctx, id.clone(), level).await?;
    let extended = flag(&body, "Extended")?.unwrap_or(false);
    run_archive(
        &app,
        &body,
        vec![id.clone()],
        media,
        extended,
        format!("{id}.zip"),
    )
    .await
}

async fn run_archive(
    app: &App,
    body: &Map<String, Value>,
    resources: Vec<String>,
    media: bool,
    extended: bool,
    filename: String,
) -> ApiResult<Response> {
    if asynchronous(body)? {
        let priority = priority(body)?;
        // Unknown resources are refused now rather than by a failing job.
        archive::check_resources(&app.ctx, resources.clone()).await?;
        let id = app.jobs.submit(
            JobSpec::Archive {
                resources,
                media,
                extended,
            },
            priority,
        );
        return Ok(job_answer(&id).into_response());
    }
    sync_archive(&app.ctx, resources, media, filename).await
}

async fn create(app: Ctx, body: Bytes, media: bool, extended: bool) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    let resources = resources_field(&body)?;
    let extended = extended || flag(&body, "Extended")?.unwrap_or(false);
    let name = if media { "Media.zip" } else { "Archive.zip" };
    run_archive(&app, &body, resources, media, extended, name.into()).await
}

// ---------------------------------------------------------------------------
// Bulk operations
// ---------------------------------------------------------------------------

async fn bulk_delete(app: Ctx, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    let resources = resources_field(&body)?;
    if asynchronous(&body)? {
        let id = app
            .jobs
            .submit(JobSpec::BulkDelete { resources }, priority(&body)?);
        return Ok(job_answer(&id).into_response());
    }
    bulk::delete_all(&app.ctx, resources).await?;
    Ok(Json(json!({})).into_response())
}

fn parse_level(name: &str) -> Option<ResourceType> {
    ResourceType::ALL
        .into_iter()
        .find(|l| l.name().eq_ignore_ascii_case(name))
}

/// `{"Resources": [...], "Level"?, "Metadata"? (default true)}`: the JSON of each resource
/// (as `GET /{level}/{id}`), with its metadata; with `Level`, the resources at that level
/// above or below the listed ones (each once). Unknown IDs are skipped.
async fn bulk_content(app: Ctx, body: Bytes) -> ApiResult<Json> {
    let body = parse_body(&body)?;
    let resources = resources_field(&body)?;
    let level = match body.get("Level") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            parse_level(s)
                .ok_or_else(|| ApiError::bad_request(format!("Unknown resource level: {s}")))?,
        ),
        Some(_) => return Err(ApiError::bad_request("Field \"Level\" must be a string")),
    };
    let with_metadata = flag(&body, "Metadata")?.unwrap_or(true);
    Ok(Json(
        bulk::content(&app.ctx, resources, level, with_metadata).await?,
    ))
}
