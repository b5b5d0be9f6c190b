//! What every service's error has in common: Orthanc's vocabulary of failures ([`ErrorCode`]),
//! the index failures of a transaction ([`TxError`]), and the [`ServiceError`] trait through
//! which the transaction runner replays conflicts and the fronts (REST, jobs) render a failure.
//!
//! Each service has its own error enum, with the cases of its domain; the REST front turns any
//! of them into Orthanc's JSON error answer in one place (`rest::error`).

use stowage_core::{IndexError, StorageError};

/// Blocking work that panicked or could not be run.
#[derive(Debug, thiserror::Error)]
#[error("worker failed: {0}")]
pub struct WorkerFailed(pub String);

/// Orthanc's error codes (`OrthancStatus`) used by Stowage, with Orthanc's message for each.
/// The table is Orthanc's; some codes are raised only by features still to come.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InternalError,
    NotImplemented,
    ParameterOutOfRange,
    BadParameterType,
    BadSequenceOfCalls,
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
    StorageAreaPlugin,
    DatabaseUnavailable,
    /// Answered as `DatabaseUnavailable`, when the index could not be reached before the
    /// transaction's commit was sent: nothing was committed.
    DatabaseUnavailableUncommitted,
    CanceledJob,
    Revision,
    ForbiddenAccess,
    /// A body larger than `MaximumUploadSize` (Stowage's option): Orthanc's "Bad request" code,
    /// answered with 413.
    BodyTooLarge,
}

impl ErrorCode {
    /// Orthanc's number for the code (`OrthancStatus`).
    pub fn status(self) -> i32 {
        use ErrorCode::*;
        match self {
            InternalError => -1,
            NotImplemented => 2,
            ParameterOutOfRange => 3,
            BadParameterType => 5,
            BadSequenceOfCalls => 6,
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
            StorageAreaPlugin => 32,
            DatabaseUnavailable | DatabaseUnavailableUncommitted => 36,
            CanceledJob => 37,
            Revision => 43,
            ForbiddenAccess => 45,
            BodyTooLarge => 8,
        }
    }

    /// Orthanc's description of the code (`OrthancError`).
    pub fn message(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InternalError => "Internal error",
            NotImplemented => "Not implemented yet",
            ParameterOutOfRange => "Parameter out of range",
            BadParameterType => "Bad type for a parameter",
            BadSequenceOfCalls => "Bad sequence of calls",
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
            StorageAreaPlugin => "Error in the plugin implementing a custom storage area",
            DatabaseUnavailable | DatabaseUnavailableUncommitted => {
                "The database is currently not available (probably a transient situation)"
            }
            CanceledJob => "This job was canceled",
            Revision => {
                "A bad revision number was provided, which might indicate conflict between multiple writers"
            }
            ForbiddenAccess => "Access to a resource is forbidden",
            BodyTooLarge => "Bad request",
        }
    }
}

/// How a front should report a service failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The resource named by the request does not exist (Orthanc: an empty 404).
    NoSuchResource,
    /// The operation is not allowed on this item (Orthanc: an empty 403).
    Forbidden,
    /// An Orthanc error, with optional details.
    Error {
        code: ErrorCode,
        details: Option<String>,
    },
}

impl Verdict {
    pub fn error(code: ErrorCode) -> Self {
        Verdict::Error {
            code,
            details: None,
        }
    }

    pub fn detailed(code: ErrorCode, details: impl Into<String>) -> Self {
        Verdict::Error {
            code,
            details: Some(details.into()),
        }
    }

    /// The Orthanc code and details (an absent resource is `UnknownResource`, a forbidden
    /// operation `ForbiddenAccess`), for fronts that always carry a code (jobs, DIMSE, Lua).
    pub fn code_and_details(self) -> (ErrorCode, Option<String>) {
        match self {
            Verdict::NoSuchResource => (ErrorCode::UnknownResource, None),
            Verdict::Forbidden => (ErrorCode::ForbiddenAccess, None),
            Verdict::Error { code, details } => (code, details),
        }
    }
}

/// A failure met while a service ran a transaction: the index's, or that of the blocking
/// worker that ran it.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// From BEGIN or a statement: nothing was committed.
    #[error("index: {0}")]
    Index(IndexError),
    /// From COMMIT. If the index became unreachable meanwhile, the outcome is unknown: the
    /// transaction may have committed without its answer arriving.
    #[error("index (commit): {0}")]
    Commit(IndexError),
    /// The blocking worker running the work failed (it panicked).
    #[error(transparent)]
    Worker(#[from] WorkerFailed),
}

impl TxError {
    /// The conflict's description, if concurrent transactions collided (to be replayed).
    pub fn conflict(&self) -> Option<&str> {
        match self {
            TxError::Index(IndexError::Conflict(d)) | TxError::Commit(IndexError::Conflict(d)) => {
                Some(d)
            }
            _ => None,
        }
    }

    /// True when the index could not be reached while a commit was under way: a file written
    /// for the transaction must then not be removed (if nothing references it, the sweep
    /// reclaims it).
    pub fn commit_outcome_unknown(&self) -> bool {
        matches!(self, TxError::Commit(IndexError::Unavailable(_)))
    }

    pub fn verdict(&self) -> Verdict {
        let (TxError::Index(e) | TxError::Commit(e)) = self else {
            return Verdict::detailed(ErrorCode::InternalError, self.to_string());
        };
        match e {
            IndexError::UnknownResource => Verdict::NoSuchResource,
            IndexError::RevisionMismatch => Verdict::error(ErrorCode::Revision),
            IndexError::Unavailable(d) => {
                let code = if self.commit_outcome_unknown() {
                    ErrorCode::DatabaseUnavailable
                } else {
                    ErrorCode::DatabaseUnavailableUncommitted
                };
                Verdict::detailed(code, d.clone())
            }
            IndexError::Conflict(d) => Verdict::detailed(ErrorCode::Database, d.clone()),
            IndexError::Schema(d) | IndexError::Backend(d) => {
                Verdict::detailed(ErrorCode::Database, d.clone())
            }
        }
    }
}

impl From<IndexError> for TxError {
    fn from(e: IndexError) -> Self {
        TxError::Index(e)
    }
}

/// A failure of the storage area, on a read or on a write (reported differently).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read a stored file: {0}")]
    Read(StorageError),
    #[error("cannot write a file to the storage area: {0}")]
    Write(StorageError),
    /// A stored file whose content is not what the index says (bad compression, size).
    #[error("{0}")]
    Corrupted(&'static str),
}

impl FileError {
    pub fn verdict(&self) -> Verdict {
        match self {
            FileError::Read(StorageError::NotFound(_)) => {
                Verdict::detailed(ErrorCode::InexistentFile, self.to_string())
            }
            FileError::Read(_) => Verdict::detailed(ErrorCode::InternalError, self.to_string()),
            FileError::Write(_) => Verdict::detailed(ErrorCode::CannotWriteFile, self.to_string()),
            FileError::Corrupted(what) => Verdict::detailed(ErrorCode::CorruptedFile, *what),
        }
    }
}

/// Implemented by the error enum of every service.
pub trait ServiceError:
    std::error::Error + From<TxError> + From<IndexError> + From<WorkerFailed>
{
    /// How a front reports this failure.
    fn verdict(&self) -> Verdict;
    /// The index failure inside, if this is one (replayed by the runner on a conflict).
    fn tx_error(&self) -> Option<&TxError>;
    /// True when a file written for the failed transaction must be kept (see
    /// [`TxError::commit_outcome_unknown`]).
    fn commit_outcome_unknown(&self) -> bool {
        self.tx_error().is_some_and(TxError::commit_outcome_unknown)
    }
}

/// Implements the plumbing of a service error enum that has a `Tx(TxError)` case: conversions
/// from [`IndexError`] and [`TxError`], and [`ServiceError::tx_error`].
macro_rules! tx_plumbing {
    ($t:ty) => {
        impl From<stowage_core::IndexError> for $t {
            fn from(e: stowage_core::IndexError) -> Self {
                Self::Tx($crate::services::error::TxError::Index(e))
            }
        }
        impl From<$crate::services::error::TxError> for $t {
            fn from(e: $crate::services::error::TxError) -> Self {
                Self::Tx(e)
            }
        }
        impl From<$crate::services::error::WorkerFailed> for $t {
            fn from(e: $crate::services::error::WorkerFailed) -> Self {
                Self::Tx($crate::services::error::TxError::Worker(e))
            }
        }
    };
}
pub(crate) use tx_plumbing;

/// How a DICOM parsing failure is reported.
pub fn dicom_verdict(e: &stowage_dicom::DicomError) -> Verdict {
    use stowage_dicom::DicomError;
    match e {
        DicomError::Empty | DicomError::Invalid { .. } | DicomError::NoPixelData => {
            Verdict::detailed(ErrorCode::BadFileFormat, e.to_string())
        }
        DicomError::UnknownTag(_) => Verdict::NoSuchResource,
        DicomError::OutOfRange => Verdict::error(ErrorCode::ParameterOutOfRange),
    }
}

/// Services whose only failures are the index's return [`TxError`] itself.
impl ServiceError for TxError {
    fn verdict(&self) -> Verdict {
        TxError::verdict(self)
    }
    fn tx_error(&self) -> Option<&TxError> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed read is not reported as a failed write, and a missing file is a 404's code.
    #[test]
    fn storage_reads_and_writes_are_told_apart() {
        let io = || StorageError::Io {
            path: "ab/cd/x".into(),
            source: std::io::Error::other("disk on fire"),
        };
        let code = |e: FileError| e.verdict().code_and_details().0;
        assert_eq!(code(FileError::Read(io())), ErrorCode::InternalError);
        assert_eq!(code(FileError::Write(io())), ErrorCode::CannotWriteFile);
        assert_eq!(
            code(FileError::Read(StorageError::NotFound("x".into()))),
            ErrorCode::InexistentFile
        );
    }

    /// An index unreachable at COMMIT leaves an unknown outcome; before it, a known one.
    #[test]
    fn commit_outcome() {
        let unavailable = || IndexError::Unavailable("gone".into());
        assert!(TxError::Commit(unavailable()).commit_outcome_unknown());
        assert!(!TxError::Index(unavailable()).commit_outcome_unknown());
        assert_eq!(
            TxError::Index(unavailable()).verdict().code_and_details().0,
            ErrorCode::DatabaseUnavailableUncommitted
        );
        assert_eq!(
            TxError::Index(IndexError::UnknownResource).verdict(),
            Verdict::NoSuchResource
        );
    }
}
