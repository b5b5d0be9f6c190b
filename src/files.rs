//! Reading attachments back from the storage area (decompressing as needed).

use std::io::Read;

use stowage_core::{CompressionType, FileContentType, FileInfo, InternalId};
use stowage_dicom::DicomFile;

use crate::context::ServerContext;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::ingest::dicom_error;

/// Inflates a file stored with Orthanc's zlib layout (u64 size, then a zlib stream).
pub fn decompress(stored: &[u8]) -> ApiResult<Vec<u8>> {
    let corrupted =
        || ApiError::with_details(ErrorCode::CorruptedFile, "Corrupted compressed attachment");
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
pub fn read_attachment(ctx: &ServerContext, info: &FileInfo) -> ApiResult<Vec<u8>> {
    let stored = ctx.storage.read(&info.uuid, info.content_type)?;
    match info.compression {
        CompressionType::None => Ok(stored),
        CompressionType::ZlibWithSize => decompress(&stored),
    }
}

/// The stored DICOM file of an instance. Blocking.
pub fn read_dicom_bytes(
    ctx: &ServerContext,
    instance: InternalId,
) -> ApiResult<(FileInfo, Vec<u8>)> {
    let info = ctx
        .read_blocking(|tx| Ok(tx.lookup_attachment(instance, FileContentType::DICOM)?))?
        .map(|a| a.file)
        .ok_or_else(ApiError::not_found)?;
    let bytes = read_attachment(ctx, &info)?;
    Ok((info, bytes))
}

/// The parsed DICOM file of an instance. Blocking.
pub fn read_dicom(ctx: &ServerContext, instance: InternalId) -> ApiResult<DicomFile> {
    let (_, bytes) = read_dicom_bytes(ctx, instance)?;
    stowage_dicom::parse(&bytes).map_err(dicom_error)
}

/// The tags of an instance as `/tags` shows them, reading only the bytes before the pixel data
/// when the index knows where they start (metadata `PixelDataOffset`, uncompressed file): on
/// object storage, reading tags does not download the pixels. Blocking.
pub fn tags_json(
    ctx: &ServerContext,
    instance: InternalId,
    format: stowage_dicom::TagsFormat,
) -> ApiResult<serde_json::Value> {
    let (info, offset) = ctx.read_blocking(|tx| {
        let info = tx
            .lookup_attachment(instance, FileContentType::DICOM)?
            .map(|a| a.file)
            .ok_or_else(ApiError::not_found)?;
        let offset = tx
            .lookup_metadata(instance, stowage_core::MetadataType::PIXEL_DATA_OFFSET)?
            .and_then(|m| m.value.parse::<u64>().ok());
        Ok((info, offset))
    })?;
    if let (CompressionType::None, Some(offset)) = (info.compression, offset) {
        let head = ctx
            .storage
            .read_range(&info.uuid, info.content_type, 0, offset)?;
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
