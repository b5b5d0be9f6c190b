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
use std::task::{Context, Poll};

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

use super::Ctx;
use crate::context::ServerContext;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::jobs::JobSpec;
use crate::json::Json;
use crate::resources::{ancestor_at, descendants_at, lookup_at_level, resource_json};

pub fn routes() -> Router<Arc<ServerContext>> {
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
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Chunk>> {
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
    ctx: &Arc<ServerContext>,
    mime: &'static str,
    filename: Option<String>,
    produce: impl FnOnce(&ServerContext, &mut ChannelWriter) -> ApiResult<()> + Send + 'static,
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

/// Streams a file (a job's output).
pub fn stream_file(ctx: &Arc<ServerContext>, path: std::path::PathBuf, name: String) -> Response {
    streamed(ctx, "application/zip", Some(name), move |_, w| {
        let mut f = std::fs::File::open(&path)
            .map_err(|e| ApiError::with_details(ErrorCode::InexistentFile, e.to_string()))?;
        std::io::copy(&mut f, w)
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
    ctx: &Arc<ServerContext>,
    resources: Vec<String>,
    media: bool,
    filename: String,
) -> ApiResult<Response> {
    let plan = ctx
        .read(move |tx| {
            let resolved = crate::archive::resolve_resources(tx, &resources)?;
            crate::archive::plan(tx, &resolved, media)
        })
        .await?;
    Ok(streamed(
        ctx,
        "application/zip",
        Some(filename),
        move |c, w| {
            crate::archive::write_archive(c, &plan, media, w, |_, _| Ok::<(), ApiError>(()))?;
            Ok(())
        },
    ))
}

async fn check_level(ctx: &Arc<ServerContext>, id: &str, level: ResourceType) -> ApiResult<()> {
    let id = id.to_owned();
    ctx.read(move |tx| lookup_at_level(tx, &id, level).map(|_| ()))
        .await
}

async fn archive_get(
    ctx: Ctx,
    Path(id): Path<String>,
    level: ResourceType,
    media: bool,
) -> ApiResult<Response> {
    check_level(&ctx, &id, level).await?;
    let name = format!("{id}.zip");
    sync_archive(&ctx, vec![id], media, name).await
}

async fn archive_post(
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
    level: ResourceType,
    media: bool,
) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    check_level(&ctx, &id, level).await?;
    let extended = flag(&body, "Extended")?.unwrap_or(false);
    run_archive(
        &ctx,
        &body,
        vec![id.clone()],
        media,
        extended,
        format!("{id}.zip"),
    )
    .await
}

async fn run_archive(
    ctx: &Arc<ServerContext>,
    body: &Map<String, Value>,
    resources: Vec<String>,
    media: bool,
    extended: bool,
    filename: String,
) -> ApiResult<Response> {
    if asynchronous(body)? {
        let priority = priority(body)?;
        // Unknown resources are refused now rather than by a failing job.
        let r = resources.clone();
        ctx.read(move |tx| crate::archive::resolve_resources(tx, &r).map(|_| ()))
            .await?;
        let id = ctx.jobs.submit(
            JobSpec::Archive {
                resources,
                media,
                extended,
            },
            priority,
        );
        return Ok(job_answer(&id).into_response());
    }
    sync_archive(ctx, resources, media, filename).await
}

async fn create(ctx: Ctx, body: Bytes, media: bool, extended: bool) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    let resources = resources_field(&body)?;
    let extended = extended || flag(&body, "Extended")?.unwrap_or(false);
    let name = if media { "Media.zip" } else { "Archive.zip" };
    run_archive(&ctx, &body, resources, media, extended, name.into()).await
}

// ---------------------------------------------------------------------------
// Bulk operations
// ---------------------------------------------------------------------------

async fn bulk_delete(ctx: Ctx, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    let resources = resources_field(&body)?;
    if asynchronous(&body)? {
        let id = ctx
            .jobs
            .submit(JobSpec::BulkDelete { resources }, priority(&body)?);
        return Ok(job_answer(&id).into_response());
    }
    let c = ctx.0.clone();
    ctx.blocking(move || {
        for id in &resources {
            crate::jobs::delete_any(&c, id)?;
        }
        Ok(())
    })
    .await?;
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
async fn bulk_content(ctx: Ctx, body: Bytes) -> ApiResult<Json> {
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
    let c = ctx.0.clone();
    ctx.read(move |tx| {
        let mut targets: Vec<(stowage_core::InternalId, ResourceType)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for id in &resources {
            let Some(stowage_core::ResourceRef {
                id: internal,
                level: at,
            }) = tx.lookup_resource(id)?
            else {
                continue;
            };
            let found = match level {
                None => vec![internal],
                Some(l) if l.code() < at.code() => vec![ancestor_at(tx, internal, at, l)?],
                Some(l) => descendants_at(tx, internal, at, l)?,
            };
            let l = level.unwrap_or(at);
            for f in found {
                if seen.insert(f) {
                    targets.push((f, l));
                }
            }
        }
        let mut out = Vec::with_capacity(targets.len());
        for (internal, l) in targets {
            let public = tx.get_public_id(internal)?;
            let mut v = resource_json(&c, tx, internal, l, &public)?;
            if with_metadata {
                let mut m = Map::new();
                for entry in tx.get_all_metadata(internal)? {
                    m.insert(
                        super::metadata::metadata_name(&c.config, entry.kind),
                        json!(entry.value),
                    );
                }
                v["Metadata"] = Value::Object(m);
            }
            out.push(v);
        }
        Ok(Json(Value::Array(out)))
    })
    .await
}
