//! Reading files back from the storage area (decompressing as needed), parsing stored DICOM
//! files, and removing files whose index records are gone.

use std::io::Read;

use stowage_core::{CompressionType, FileContentType, FileInfo, InternalId};
use stowage_dicom::{DicomError, DicomFile};

use super::context::Context;
use super::error::{dicom_verdict, tx_plumbing, FileError, ServiceError, TxError, Verdict};

/// Why a stored file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilesError {
    /// The resource has no such attachment (Orthanc: an empty 404).
    #[error("no such attachment")]
    NoAttachment,
    #[error(transparent)]
    File(#[from] FileError),
    /// The stored DICOM file cannot be parsed.
    #[error(transparent)]
    Dicom(#[from] DicomError),
    #[error(transparent)]
    Tx(TxError),
}

tx_plumbing!(FilesError);

impl ServiceError for FilesError {
    fn verdict(&self) -> Verdict {
        match self {
            FilesError::NoAttachment => Verdict::NoSuchResource,
            FilesError::File(e) => e.verdict(),
            FilesError::Dicom(e) => dicom_verdict(e),
            FilesError::Tx(e) => e.verdict(),
        }
    }
    fn tx_error(&self) -> Option<&TxError> {
        match self {
            FilesError::Tx(e) => Some(e),
            _ => None,
        }
    }
}

/// Inflates a file stored with Orthanc's zlib layout (u64 size, then a zlib stream).
pub fn decompress(stored: &[u8]) -> Result<Vec<u8>, FileError> {
    let corrupted = || FileError::Corrupted("Corrupted compressed attachment");
    if stored.is_empty() {
        return Ok(Vec::new());
    }
    let size_bytes: [u8; 8] = stored
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(corrupted)?;
    let size = u64::from_le_bytes(size_bytes);
    let mut out = Vec::with_capacity(size.min(1 << 30) as usize);
    flate2::read::ZlibDecoder::new(&stored[8..])
        .read_to_end(&mut out)
        .map_err(|_| corrupted())?;
    if out.len() as u64 != size {
        return Err(corrupted());
    }
    Ok(out)
}

/// The content of an attachment, uncompressed. Blocking.
pub fn read_attachment(ctx: &Context, info: &FileInfo) -> Result<Vec<u8>, FileError> {
    let stored = ctx
        .storage
        .read(&info.uuid, info.content_type)
        .map_err(FileError::Read)?;
    match info.compression {
        CompressionType::None => Ok(stored),
        CompressionType::ZlibWithSize => decompress(&stored),
    }
}

/// The stored DICOM file of an instance. Blocking.
pub fn read_dicom_bytes(
    ctx: &Context,
    instance: InternalId,
) -> Result<(FileInfo, Vec<u8>), FilesError> {
    let info = ctx
        .read_blocking(|tx| {
            Ok::<_, FilesError>(tx.lookup_attachment(instance, FileContentType::DICOM)?)
        })?
        .map(|a| a.file)
        .ok_or(FilesError::NoAttachment)?;
    let bytes = read_attachment(ctx, &info)?;
    Ok((info, bytes))
}

/// The parsed DICOM file of an instance. Blocking.
pub fn read_dicom(ctx: &Context, instance: InternalId) -> Result<DicomFile, FilesError> {
    let (_, bytes) = read_dicom_bytes(ctx, instance)?;
    Ok(stowage_dicom::parse(&bytes)?)
}

/// The tags of an instance as `/tags` shows them, reading only the bytes before the pixel data
/// when the index knows where they start (metadata `PixelDataOffset`, uncompressed file): on
/// object storage, reading tags does not download the pixels. Blocking.
pub fn tags_json(
    ctx: &Context,
    instance: InternalId,
    format: stowage_dicom::TagsFormat,
) -> Result<serde_json::Value, FilesError> {
    let (info, offset) = ctx.read_blocking(|tx| -> Result<_, FilesError> {
        let info = tx
            .lookup_attachment(instance, FileContentType::DICOM)?
            .map(|a| a.file)
            .ok_or(FilesError::NoAttachment)?;
        let offset = tx
            .lookup_metadata(instance, stowage_core::MetadataType::PIXEL_DATA_OFFSET)?
            .and_then(|m| m.value.parse::<u64>().ok());
        Ok((info, offset))
    })?;
    if let (CompressionType::None, Some(offset)) = (info.compression, offset) {
        let head = ctx
            .storage
            .read_range(&info.uuid, info.content_type, 0, offset)
            .map_err(FileError::Read)?;
        if let Ok(file) = stowage_dicom::parse_vec(head) {
            let mut json = file.tags_json(format);
            // The pixel data itself is never shown: only its entry.
            use stowage_dicom::TagsFormat;
            if let serde_json::Value::Object(map) = &mut json {
                let (key, value) = match format {
                    TagsFormat::Full => (
                        "7fe0,0010",
                        serde_json::json!({"Name": "PixelData", "Type": "Null", "Value": null}),
                    ),
                    TagsFormat::Simplify => ("PixelData", serde_json::Value::Null),
                    TagsFormat::Short => ("7fe0,0010", serde_json::Value::Null),
                };
                map.insert(key.to_owned(), value);
            }
            return Ok(json);
        }
    }
    Ok(read_dicom(ctx, instance)?.tags_json(format))
}

/// Removes files whose index records are gone; failures only leave orphans (reclaimed by the
/// start-up sweep), so they are logged.
pub fn remove_files(ctx: &Context, files: &[FileInfo]) {
    if files.is_empty() {
        return;
    }
    // The deletion that released these files must be durable before they go.
    if let Err(e) = ctx.index.flush_to_disk() {
        tracing::warn!("keeping {} files: {e}", files.len());
        return;
    }
    for f in files {
        if let Err(e) = ctx.storage.remove(&f.uuid, f.content_type) {
            tracing::warn!("cannot remove file {}: {e}", f.uuid);
        }
    }
}
