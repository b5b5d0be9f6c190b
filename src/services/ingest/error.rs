//! Why a store failed.

use stowage_dicom::{DicomError, Tag};

use crate::services::error::{
    dicom_verdict, tx_plumbing, ErrorCode, FileError, ServiceError, TxError, Verdict,
};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The body is empty (Orthanc: "Received an empty DICOM file").
    #[error("Received an empty DICOM file")]
    Empty,
    #[error(transparent)]
    BadFile(#[from] DicomError),
    #[error("Missing mandatory tag {name} ({tag})")]
    MissingIdentifier { name: &'static str, tag: Tag },
    #[error("Cannot read the ZIP archive: {0}")]
    BadZip(String),
    /// The limits of `MaximumPatientCount` / `MaximumStorageSize` cannot be met.
    #[error("the storage is full")]
    FullStorage(Option<&'static str>),
    #[error(transparent)]
    File(#[from] FileError),
    /// The index writer thread is gone (the server is stopping).
    #[error("{0}")]
    Stopping(&'static str),
    /// The file of a store could not be written (the cause is reported by its own store).
    #[error("the DICOM file could not be stored")]
    FileNotStored,
    #[error(transparent)]
    Tx(TxError),
}

tx_plumbing!(IngestError);

impl IngestError {
    /// A file that is not DICOM (skipped inside a ZIP archive).
    pub fn is_bad_file(&self) -> bool {
        matches!(
            self.verdict(),
            Verdict::Error {
                code: ErrorCode::BadFileFormat,
                ..
            }
        )
    }
}

impl ServiceError for IngestError {
    fn verdict(&self) -> Verdict {
        match self {
            IngestError::Empty | IngestError::MissingIdentifier { .. } | IngestError::BadZip(_) => {
                Verdict::detailed(ErrorCode::BadFileFormat, self.to_string())
            }
            IngestError::BadFile(e) => dicom_verdict(e),
            IngestError::FullStorage(None) => Verdict::error(ErrorCode::FullStorage),
            IngestError::FullStorage(Some(d)) => Verdict::detailed(ErrorCode::FullStorage, *d),
            IngestError::File(e) => e.verdict(),
            IngestError::Stopping(_) | IngestError::FileNotStored => {
                Verdict::detailed(ErrorCode::InternalError, self.to_string())
            }
            IngestError::Tx(e) => e.verdict(),
        }
    }
    fn tx_error(&self) -> Option<&TxError> {
        match self {
            IngestError::Tx(e) => Some(e),
            _ => None,
        }
    }
}
