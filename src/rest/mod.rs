//! The HTTP front: routes, access control, Orthanc error bodies, answer compression.
//! Handlers stay thin and call the services (ingest, resources, find); nothing here knows SQL.

mod archives;
mod attachments;
mod changes;
mod find;
mod instances;
mod jobs;
mod labels;
mod metadata;
mod query;
mod resources;
mod revision;
mod slices;
pub mod system;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::header::{
    ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE,
    WWW_AUTHENTICATE,
};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;

use crate::context::ServerContext;
use crate::error::{render_error_body, ApiError, ErrorCode, PendingError};

pub type Ctx = State<Arc<ServerContext>>;
pub use system::ORTHANC_API_VERSION;

/// The authenticated user of a request, if any (recorded as `HttpUsername`).
#[derive(Debug, Clone)]
pub struct HttpUser(pub Option<String>);

pub fn router(ctx: Arc<ServerContext>) -> Router {
    let api = Router::new()
        .merge(system::routes())
        .merge(instances::routes())
        .merge(resources::routes())
        .merge(metadata::routes())
        .merge(attachments::routes())
        .merge(find::routes())
        .merge(changes::routes())
        .merge(labels::routes())
        .merge(jobs::routes())
        .merge(archives::routes())
        .merge(slices::routes())
        .fallback(|| async { ApiError::new(ErrorCode::UnknownResource) })
        .layer(body_limit(ctx.config.maximum_upload_size))
        .with_state(ctx.clone());
    // The middlewares wrap the whole API as one service, so that they also see the answers
    // axum makes itself (405 with `Allow`).
    Router::new()
        .fallback_service(api)
        .layer(middleware::from_fn_with_state(ctx.clone(), compress_answer))
        .layer(middleware::from_fn(render_errors))
        .layer(middleware::from_fn_with_state(ctx, access_control))
}

/// Request bodies are unlimited unless `MaximumUploadSize` (MB, Stowage's option) is set; axum
/// then stops reading a larger body and answers 413, rendered as Orthanc's error JSON.
fn body_limit(maximum: u64) -> DefaultBodyLimit {
    match usize::try_from(maximum) {
        Ok(0) | Err(_) => DefaultBodyLimit::disable(),
        Ok(bytes) => DefaultBodyLimit::max(bytes),
    }
}

/// `RemoteAccessAllowed` and HTTP Basic authentication against `RegisteredUsers`.
async fn access_control(State(ctx): Ctx, mut req: Request, next: Next) -> Response {
    let remote = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if !ctx.config.remote_access_allowed && remote.is_some_and(|ip| !ip.is_loopback()) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let mut user = None;
    if ctx.config.authentication_enabled {
        let credentials = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .and_then(|b| String::from_utf8(b).ok());
        let valid = credentials
            .as_deref()
            .and_then(|c| c.split_once(':'))
            .filter(|(u, p)| {
                ctx.config
                    .registered_users
                    .get(*u)
                    .is_some_and(|expected| expected == p)
            });
        match valid {
            Some((u, _)) => user = Some(u.to_owned()),
            None => {
                let mut r = StatusCode::UNAUTHORIZED.into_response();
                r.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"Stowage\""),
                );
                return r;
            }
        }
    }
    req.extensions_mut().insert(HttpUser(user));
    next.run(req).await
}

/// Writes Orthanc's JSON error body for responses that carry a [`PendingError`].
async fn render_errors(req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let uri = req.uri().path().to_owned();
    let mut response = next.run(req).await;
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        orthanc_allow_header(&mut response);
    }
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE
        && response.extensions().get::<PendingError>().is_none()
    {
        response.extensions_mut().insert(PendingError {
            code: ErrorCode::BodyTooLarge,
            details: Some("The body of the request exceeds \"MaximumUploadSize\"".to_owned()),
        });
    }
    if let Some(err) = response.extensions_mut().remove::<PendingError>() {
        if response.status().is_server_error() {
            tracing::warn!("{method} {uri}: {:?} {:?}", err.code, err.details);
        }
        let body = render_error_body(&err, &method, &uri);
        let (mut parts, _) = response.into_parts();
        parts.headers.remove(CONTENT_TYPE);
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        response = Response::from_parts(parts, Body::from(body));
    }
    response
}

/// Orthanc lists the allowed methods as `GET,POST,PUT,DELETE` (that order, no HEAD).
fn orthanc_allow_header(response: &mut Response) {
    let Some(allow) = response.headers().get(ALLOW).and_then(|v| v.to_str().ok()) else {
        return;
    };
    let listed: Vec<String> = allow
        .split(',')
        .map(|m| m.trim().to_ascii_uppercase())
        .collect();
    let methods: Vec<&str> = ["GET", "POST", "PUT", "DELETE"]
        .into_iter()
        .filter(|m| listed.iter().any(|l| l == m))
        .collect();
    if let Ok(v) = HeaderValue::from_str(&methods.join(",")) {
        response.headers_mut().insert(ALLOW, v);
    }
}

/// gzip/deflate for JSON answers when the client accepts it (`HttpCompressionEnabled`).
async fn compress_answer(State(ctx): Ctx, req: Request, next: Next) -> Response {
    let accepted = req
        .headers()
        .get(ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let response = next.run(req).await;
    if !ctx.config.http_compression_enabled {
        return response;
    }
    let encoding = if accepted.split(',').any(|e| e.trim().starts_with("gzip")) {
        "gzip"
    } else if accepted.split(',').any(|e| e.trim().starts_with("deflate")) {
        "deflate"
    } else {
        return response;
    };
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    use std::io::Write;
    let compressed = if encoding == "gzip" {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        let _ = e.write_all(&bytes);
        e.finish()
    } else {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
        let _ = e.write_all(&bytes);
        e.finish()
    };
    let Ok(compressed) = compressed else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    parts
        .headers
        .insert(CONTENT_ENCODING, HeaderValue::from_static(encoding));
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(compressed.len()));
    Response::from_parts(parts, Body::from(compressed))
}

/// A `text/plain` answer.
pub fn text(body: impl Into<String>) -> Response {
    let mut r = body.into().into_response();
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

/// A binary answer with a MIME type.
pub fn binary(body: Vec<u8>, mime: &str) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_str(mime).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    r
}
