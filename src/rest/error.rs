//! Errors answered in Orthanc's JSON format (`HttpError`, `HttpStatus`, `Message`, `Method`,
//! `OrthancError`, `OrthancStatus`, `Uri`, optional `Details`).
//!
//! Handlers return an [`ApiError`]: their own (a malformed request), or a service's error,
//! turned into one here, in one place, from its [`Verdict`]. It becomes a response carrying the
//! error as an extension, and the error-rendering middleware writes the body once the request
//! method and URI are known.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub use crate::services::error::ErrorCode;
use crate::services::error::{ServiceError, Verdict, WorkerFailed};

/// The HTTP status Orthanc answers with for each of its error codes.
pub fn http_status(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        InternalError | Database | CannotWriteFile | CorruptedFile | UnknownDicomTag
        | CannotOrderSlices | StorageAreaPlugin | CanceledJob => StatusCode::INTERNAL_SERVER_ERROR,
        NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ParameterOutOfRange | BadParameterType | BadSequenceOfCalls | BadRequest | UriSyntax
        | BadFileFormat | BadJson => StatusCode::BAD_REQUEST,
        InexistentItem | InexistentFile | UnknownResource | InexistentTag => StatusCode::NOT_FOUND,
        FullStorage => StatusCode::INSUFFICIENT_STORAGE,
        Unauthorized => StatusCode::UNAUTHORIZED,
        DatabaseUnavailable | DatabaseUnavailableUncommitted => StatusCode::SERVICE_UNAVAILABLE,
        Revision => StatusCode::CONFLICT,
        ForbiddenAccess => StatusCode::FORBIDDEN,
        BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
    }
}

/// An error answer: either Orthanc's JSON error body, or a bare status with an empty body
/// (Orthanc answers some errors, such as an unknown ID under a known route, that way).
#[derive(Debug, Clone)]
pub enum ApiError {
    Json {
        code: ErrorCode,
        details: Option<String>,
    },
    Bare(StatusCode),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        ApiError::Json {
            code,
            details: None,
        }
    }

    pub fn with_details(code: ErrorCode, details: impl Into<String>) -> Self {
        ApiError::Json {
            code,
            details: Some(details.into()),
        }
    }

    pub fn bad_request(details: impl Into<String>) -> Self {
        Self::with_details(ErrorCode::BadRequest, details)
    }

    /// 404 with an empty body (unknown resource ID, absent metadata...).
    pub fn not_found() -> Self {
        ApiError::Bare(StatusCode::NOT_FOUND)
    }

    pub fn forbidden() -> Self {
        ApiError::Bare(StatusCode::FORBIDDEN)
    }

    pub fn internal(details: impl Into<String>) -> Self {
        Self::with_details(ErrorCode::InternalError, details)
    }
}

/// Marker placed in the extensions of an error response; the middleware renders it.
#[derive(Debug, Clone)]
pub struct PendingError {
    pub code: ErrorCode,
    pub details: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Bare(status) => status.into_response(),
            ApiError::Json { code, details } => {
                let mut response = http_status(code).into_response();
                response
                    .extensions_mut()
                    .insert(PendingError { code, details });
                response
            }
        }
    }
}

/// Renders Orthanc's error body (tab-indented, no Content-Type, trailing newline).
pub fn render_error_body(err: &PendingError, method: &str, uri: &str) -> String {
    let status = http_status(err.code);
    let reason = status.canonical_reason().unwrap_or("Error");
    let mut fields: Vec<(&str, serde_json::Value)> = vec![
        ("HttpError", reason.into()),
        ("HttpStatus", status.as_u16().into()),
        ("Message", err.code.message().into()),
        ("Method", method.into()),
        ("OrthancError", err.code.message().into()),
        ("OrthancStatus", err.code.status().into()),
        ("Uri", uri.into()),
    ];
    if let Some(d) = &err.details {
        fields.push(("Details", d.as_str().into()));
    }
    fields.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::from("{\n");
    for (i, (k, v)) in fields.iter().enumerate() {
        let comma = if i + 1 < fields.len() { "," } else { "" };
        out.push_str(&format!(
            "\t\"{k}\" : {}{comma}\n",
            super::json::to_ascii_json(v)
        ));
    }
    out.push_str("}\n");
    out
}

/// Blocking work of a handler that failed (it panicked).
impl From<WorkerFailed> for ApiError {
    fn from(e: WorkerFailed) -> Self {
        ApiError::internal(e.to_string())
    }
}

impl From<Verdict> for ApiError {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::NoSuchResource => ApiError::not_found(),
            Verdict::Forbidden => ApiError::forbidden(),
            Verdict::Error { code, details } => ApiError::Json { code, details },
        }
    }
}

/// Any service's error, as Orthanc answers it.
impl<E: ServiceError> From<E> for ApiError {
    fn from(e: E) -> Self {
        let verdict = e.verdict();
        if let Verdict::Error { code, .. } = &verdict {
            if http_status(*code).is_server_error() {
                tracing::error!("{e}");
            }
        }
        verdict.into()
    }
}
