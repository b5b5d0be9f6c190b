//! DICOM support for Stowage: Part 10 parsing (all common transfer syntaxes),
//! Orthanc 1.10.1-compatible JSON rendering (`/tags`, `/header`, `/content`,
//! `/frames`, main DICOM tags, modules) and a small writer to synthesize files.

#![warn(missing_docs)]

mod charset;
mod content;
pub mod dictionary;
mod error;
mod file;
mod frames;
mod json;
pub mod main_tags;
mod parser;
pub mod tag;
mod value;
pub mod vr;
pub mod writer;

pub use charset::Charset;
pub use content::Content;
pub use dictionary::{tag_by_name, tag_name};
pub use error::DicomError;
pub use frames::{frame_mime, Frame};
pub use json::{TagsFormat, MAX_STRING_LENGTH, UNKNOWN_TAG_NAME};
pub use parser::{parse, parse_vec, DicomFile};
pub use tag::Tag;
pub use vr::Vr;
