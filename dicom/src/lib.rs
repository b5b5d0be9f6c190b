//! DICOM parsing for Stowage (work in progress).
