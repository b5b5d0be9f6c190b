//! The middlewares around every route: access control, Orthanc's error bodies and `Allow`
//! header, answer compression.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{
    ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE,
    WWW_AUTHENTICATE,
};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::answer::{Ctx, HttpUser};
use super::error::{render_error_body, ErrorCode, PendingError};

/// `RemoteAccessAllowed` and HTTP Basic authentication against `RegisteredUsers`.
pub async fn access_control(State(app): Ctx, mut req: Request, next: Next) -> Response {
    let remote = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if !app.ctx.config.remote_access_allowed && remote.is_some_and(|ip| !ip.is_loopback()) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let mut user = None;
    if app.ctx.config.authentication_enabled {
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
                app.ctx
                    .config
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
pub async fn render_errors(req: Request, next: Next) -> Response {
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
pub async fn compress_answer(State(app): Ctx, req: Request, next: Next) -> Response {
    let accepted = req
        .headers()
        .get(ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let response = next.run(req).await;
    if !app.ctx.config.http_compression_enabled {
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
