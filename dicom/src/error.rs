//! Errors of the DICOM crate.

/// Everything that can go wrong while parsing or querying a DICOM file.
#[derive(Debug, thiserror::Error)]
pub enum DicomError {
    /// The input is empty (Orthanc: "Received an empty DICOM file").
    #[error("Received an empty DICOM file")]
    Empty,
    /// The input is not a (complete) DICOM Part 10 file.
    #[error("Cannot parse an invalid DICOM file (size: {size} bytes)")]
    Invalid {
        /// Size of the input in bytes.
        size: usize,
        /// Why parsing failed (for logs).
        reason: String,
    },
    /// A path component that is not a tag, or a tag absent from the dataset.
    #[error("Unknown DICOM tag: {0}")]
    UnknownTag(String),
    /// An index (sequence item, fragment, frame) out of range.
    #[error("Parameter out of range")]
    OutOfRange,
    /// The file has no pixel data, or pixel data that cannot be split into frames.
    #[error("No pixel data or unsupported pixel data layout")]
    NoPixelData,
}
