//! The DICOM files of an uploaded ZIP archive.

use super::error::IngestError;

pub fn is_zip(body: &[u8]) -> bool {
    body.starts_with(b"PK\x03\x04")
}

/// Entries of a ZIP archive that are files.
pub fn entries(body: &[u8]) -> Result<Vec<Vec<u8>>, IngestError> {
    use std::io::Read;
    let bad = |e: zip::result::ZipError| IngestError::BadZip(e.to_string());
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(body)).map_err(bad)?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(bad)?;
        if entry.is_dir() {
            continue;
        }
        let mut data = Vec::with_capacity(entry.size().min(1 << 30) as usize);
        entry
            .read_to_end(&mut data)
            .map_err(|e| IngestError::BadZip(e.to_string()))?;
        out.push(data);
    }
    Ok(out)
}
