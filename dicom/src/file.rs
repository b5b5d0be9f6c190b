//! Accessors of a parsed [`DicomFile`].

use crate::charset::Charset;
use crate::json::{dataset_json, header_json, TagsFormat};
use crate::main_tags;
use crate::parser::{find, DicomFile};
use crate::tag::Tag;
use crate::value::Ctx;
use stowage_core::ResourceType;

/// The file's bytes, as stored.
impl AsRef<[u8]> for DicomFile {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

impl DicomFile {
    pub(crate) fn ctx(&self) -> Ctx<'_> {
        Ctx {
            buf: self.dataset_buf(),
            big: self.big_endian,
            charset: self.charset,
        }
    }

    fn meta_ctx(&self) -> Ctx<'_> {
        Ctx {
            buf: &self.file,
            big: false,
            charset: Charset::Ascii,
        }
    }

    /// The buffer the dataset's offsets point into (inflated for deflated files).
    pub(crate) fn dataset_buf(&self) -> &[u8] {
        self.inflated.as_deref().unwrap_or(&self.file)
    }

    /// The whole file as received.
    pub fn bytes(&self) -> &[u8] {
        &self.file
    }

    /// The TransferSyntaxUID (0002,0010), without padding.
    pub fn transfer_syntax_uid(&self) -> &str {
        &self.transfer_syntax
    }

    /// The SOP Class UID (0008,0016), or the MediaStorageSOPClassUID of the meta group.
    pub fn sop_class_uid(&self) -> Option<String> {
        self.string(Tag::new(0x0008, 0x0016))
            .or_else(|| self.header_string(Tag::new(0x0002, 0x0002)))
    }

    /// A top-level dataset value as UTF-8 (decoded with SpecificCharacterSet,
    /// trailing padding removed, multiple values joined with `\`). Binary
    /// numbers are rendered as decimal text. `None` if absent, binary or a sequence.
    pub fn string(&self, tag: Tag) -> Option<String> {
        let el = find(&self.dataset, tag)?;
        self.ctx().text(el, false)
    }

    /// Like [`DicomFile::string`] without charset decoding (ASCII/UTF-8 lossy).
    pub(crate) fn raw_string(&self, tag: Tag) -> Option<String> {
        let el = find(&self.dataset, tag)?;
        Ctx {
            charset: Charset::Ascii,
            ..self.ctx()
        }
        .text(el, false)
    }

    /// A value of the meta group (0002,xxxx).
    pub fn header_string(&self, tag: Tag) -> Option<String> {
        let el = find(&self.meta, tag)?;
        self.meta_ctx().text(el, false)
    }

    /// True if the top-level dataset contains `tag`.
    pub fn has_tag(&self, tag: Tag) -> bool {
        find(&self.dataset, tag).is_some()
    }

    /// Byte offset of the (7FE0,0010) element header in the file; `None` for
    /// deflated files and files without pixel data.
    pub fn pixel_data_offset(&self) -> Option<u64> {
        self.pixel_data_offset
    }

    /// The main DICOM tags Orthanc 1.10.1 stores at `level`, in list order, only
    /// those present in the file (empty values kept; sequences skipped).
    pub fn main_dicom_tags(&self, level: ResourceType) -> Vec<(Tag, String)> {
        main_tags::main_dicom_tags(level)
            .iter()
            .filter_map(|&t| self.string(t).map(|v| (t, v)))
            .collect()
    }

    /// The dataset (without the meta group) as `/tags` JSON.
    pub fn tags_json(&self, format: TagsFormat) -> serde_json::Value {
        dataset_json(&self.ctx(), &self.dataset, format, None)
    }

    /// Like [`DicomFile::tags_json`], restricted to the listed top-level tags.
    pub fn tags_json_filtered(&self, format: TagsFormat, tags: &[Tag]) -> serde_json::Value {
        dataset_json(&self.ctx(), &self.dataset, format, Some(tags))
    }

    /// The `/module` answer: the tags of the DICOM module of `level`
    /// (patient, general study, general series or SOP common module).
    pub fn module_json(&self, level: ResourceType, format: TagsFormat) -> serde_json::Value {
        self.tags_json_filtered(format, main_tags::module_tags(level))
    }

    /// The meta group (0002,xxxx) as `/header` JSON.
    pub fn header_json(&self, format: TagsFormat) -> serde_json::Value {
        header_json(&self.meta_ctx(), &self.meta, format)
    }
}
