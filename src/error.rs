//! Errors answered in Orthanc's JSON format (`HttpError`, `HttpStatus`, `Message`, `Method`,
//! `OrthancError`, `OrthancStatus`, `Uri`, optional `Details`).
//!
//! Handlers return an [`ApiError`]; it becomes a response carrying the error as an extension,
//! and the error-rendering middleware writes the body once the request method and URI are known.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use stowage_core::{IndexError, StorageError};

/// Orthanc's error codes used by Stowage (`OrthancStatus`), with their message and HTTP status.
/// The table is Orthanc's; some codes are raised only by features still to come.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InternalError,
    NotImplemented,
    ParameterOutOfRange,
    BadParameterType,
    InexistentItem,
    BadRequest,
    Database,
    UriSyntax,
    InexistentFile,
    CannotWriteFile,
    BadFileFormat,
    CannotOrderSlices,
    UnknownResource,
    FullStorage,
    CorruptedFile,
    InexistentTag,
    UnknownDicomTag,
    BadJson,
    Unauthorized,
    DatabaseUnavailable,
    /// Answered as `DatabaseUnavailable`, when the index could not be reached before the
    /// transaction's commit was sent: nothing was committed.
    DatabaseUnavailableUncommitted,
    Revision,
    ForbiddenAccess,
    /// A body larger than `MaximumUploadSize` (Stowage's option): Orthanc's "Bad request" code,
    /// answered with 413.
    BodyTooLarge,
}

impl ErrorCode {
    pub fn status(self) -> i32 {
        use ErrorCode::*;
        match self {
            InternalError => -1,
            NotImplemented => 2,
            ParameterOutOfRange => 3,
            BadParameterType => 5,
            InexistentItem => 7,
            BadRequest => 8,
            Database => 11,
            UriSyntax => 12,
            InexistentFile => 13,
            CannotWriteFile => 14,
            CannotOrderSlices => 2040,
            BadFileFormat => 15,
            UnknownResource => 17,
            FullStorage => 19,
            CorruptedFile => 20,
            InexistentTag => 21,
            UnknownDicomTag => 27,
            BadJson => 28,
            Unauthorized => 29,
            DatabaseUnavailable | DatabaseUnavailableUncommitted => 36,
            Revision => 43,
            ForbiddenAccess => 45,
            BodyTooLarge => 8,
        }
    }

    pub fn message(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InternalError => "Internal error",
            NotImplemented => "Not implemented yet",
            ParameterOutOfRange => "Parameter out of range",
            BadParameterType => "Bad type for a parameter",
            InexistentItem => "Accessing an inexistent item",
            BadRequest => "Bad request",
            Database => "Error with the database engine",
            UriSyntax => "Badly formatted URI",
            InexistentFile => "Inexistent file",
            CannotWriteFile => "Cannot write to file",
            CannotOrderSlices => "Unable to order the slices of the series",
            BadFileFormat => "Bad file format",
            UnknownResource => "Unknown resource",
            FullStorage => "The file storage is full",
            CorruptedFile => "Corrupted file (e.g. inconsistent MD5 hash)",
            InexistentTag => "Inexistent tag",
            UnknownDicomTag => "Unknown DICOM tag",
            BadJson => "Cannot parse a JSON document",
            Unauthorized => "Bad credentials were provided to an HTTP request",
            DatabaseUnavailable | DatabaseUnavailableUncommitted => {
                "The database is currently not available (probably a transient situation)"
            }
            Revision => {
                "A bad revision number was provided, which might indicate conflict between multiple writers"
            }
            ForbiddenAccess => "Access to a resource is forbidden",
            BodyTooLarge => "Bad request",
        }
    }

    pub fn http_status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            InternalError | Database | CannotWriteFile | CorruptedFile | UnknownDicomTag
            | CannotOrderSlices => StatusCode::INTERNAL_SERVER_ERROR,
            NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ParameterOutOfRange | BadParameterType | BadRequest | UriSyntax | BadFileFormat
            | BadJson => StatusCode::BAD_REQUEST,
            InexistentItem | InexistentFile | UnknownResource | InexistentTag => {
                StatusCode::NOT_FOUND
            }
            FullStorage => StatusCode::INSUFFICIENT_STORAGE,
            Unauthorized => StatusCode::UNAUTHORIZED,
            DatabaseUnavailable | DatabaseUnavailableUncommitted => StatusCode::SERVICE_UNAVAILABLE,
            Revision => StatusCode::CONFLICT,
            ForbiddenAccess => StatusCode::FORBIDDEN,
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
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
    /// Concurrent transactions collided; the transaction is replayed. Answered as a database
    /// error only if replays keep failing.
    Conflict(String),
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

    /// True when the index could not be reached while a commit was under way: the transaction
    /// may then have committed without its answer arriving, so a file written for it must not
    /// be removed (if nothing references it, the start-up sweep reclaims it). Unreachable
    /// before the commit (`DatabaseUnavailableUncommitted`), nothing was committed.
    pub fn commit_outcome_unknown(&self) -> bool {
        matches!(
            self,
            ApiError::Json {
                code: ErrorCode::DatabaseUnavailable,
                ..
            }
        )
    }

    /// This error, arisen before any commit was sent: the outcome is known (nothing committed).
    pub fn before_commit(self) -> Self {
        match self {
            ApiError::Json {
                code: ErrorCode::DatabaseUnavailable,
                details,
            } => ApiError::Json {
                code: ErrorCode::DatabaseUnavailableUncommitted,
                details,
            },
            other => other,
        }
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
            ApiError::Conflict(details) => {
                ApiError::with_details(ErrorCode::Database, details).into_response()
            }
            ApiError::Json { code, details } => {
                let mut response = code.http_status().into_response();
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
    let status = err.code.http_status();
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
            crate::json::to_ascii_json(v)
        ));
    }
    out.push_str("}\n");
    out
}

impl From<IndexError> for ApiError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::UnknownResource => ApiError::not_found(),
            IndexError::RevisionMismatch => ApiError::new(ErrorCode::Revision),
            IndexError::Unavailable(d) => ApiError::with_details(ErrorCode::DatabaseUnavailable, d),
            IndexError::Conflict(d) => ApiError::Conflict(d),
            IndexError::Schema(d) | IndexError::Backend(d) => {
                tracing::error!("index error: {d}");
                ApiError::with_details(ErrorCode::Database, d)
            }
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        tracing::error!("storage error: {e}");
        match e {
            StorageError::NotFound(_) => {
                ApiError::with_details(ErrorCode::InexistentFile, e.to_string())
            }
            _ => ApiError::with_details(ErrorCode::CannotWriteFile, e.to_string()),
        }
    }
}
