//! Files attached to resources (the DICOM file itself, and user attachments).

/// The kind of an attached file, as Orthanc numbers them (`FileContentType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileContentType(pub i32);

impl FileContentType {
    pub const DICOM: FileContentType = FileContentType(1);
    pub const DICOM_AS_JSON: FileContentType = FileContentType(2);
    pub const DICOM_UNTIL_PIXEL_DATA: FileContentType = FileContentType(3);
    /// First content type available to users.
    pub const START_USER: i32 = 1024;
    pub const END_USER: i32 = 65535;

    pub fn is_user_defined(self) -> bool {
        (Self::START_USER..=Self::END_USER).contains(&self.0)
    }

    /// The name used in REST routes (`dicom`, `dicom-as-json`, ... or the number for user types).
    pub fn builtin_name(self) -> Option<&'static str> {
        match self.0 {
            1 => Some("dicom"),
            2 => Some("dicom-as-json"),
            3 => Some("dicom-until-pixel-data"),
            _ => None,
        }
    }
}

/// How the bytes of an attachment are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressionType {
    None,
    /// zlib stream preceded by the uncompressed size as a little-endian u64 (Orthanc's layout).
    ZlibWithSize,
}

impl CompressionType {
    pub fn code(self) -> i32 {
        match self {
            CompressionType::None => 1,
            CompressionType::ZlibWithSize => 2,
        }
    }

    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            1 => Some(CompressionType::None),
            2 => Some(CompressionType::ZlibWithSize),
            _ => None,
        }
    }
}

/// Everything the index records about one stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub uuid: String,
    pub content_type: FileContentType,
    pub uncompressed_size: u64,
    pub uncompressed_md5: String,
    pub compression: CompressionType,
    pub compressed_size: u64,
    pub compressed_md5: String,
}

/// What `add_attachment` recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedAttachment {
    /// The revision recorded: 0 for a new attachment, the replaced one's + 1 otherwise.
    pub revision: i64,
    /// The attachment replaced, whose file is the caller's to remove once the transaction
    /// committed; `None` when there was none.
    pub replaced: Option<FileInfo>,
}

/// An attachment record with its revision (`lookup_attachment`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttachment {
    /// The stored file.
    pub file: FileInfo,
    /// Its revision: 0 when first attached, one more at each replacement.
    pub revision: i64,
}
