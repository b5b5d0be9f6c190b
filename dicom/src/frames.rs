//! Frame access (`/frames`, `/frames/N/raw`) without decoding images.

use crate::error::DicomError;
use crate::parser::{find, DicomFile, Value};
use crate::tag::Tag;
use crate::vr::Vr;

/// One raw frame and the MIME type Orthanc serves it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The frame bytes (native slice in little endian, or the compressed bitstream).
    pub bytes: Vec<u8>,
    /// `image/jpeg`, `image/jp2` or `application/octet-stream`.
    pub mime: &'static str,
}

/// MIME type of raw frames for a transfer syntax.
pub fn frame_mime(transfer_syntax: &str) -> &'static str {
    match transfer_syntax {
        "1.2.840.10008.1.2.4.50"
        | "1.2.840.10008.1.2.4.51"
        | "1.2.840.10008.1.2.4.57"
        | "1.2.840.10008.1.2.4.70" => "image/jpeg",
        "1.2.840.10008.1.2.4.90" | "1.2.840.10008.1.2.4.91" => "image/jp2",
        _ => "application/octet-stream",
    }
}

impl DicomFile {
    fn int_tag(&self, tag: Tag) -> Option<usize> {
        self.string(tag)?
            .split('\\')
            .next()?
            .trim()
            .parse::<usize>()
            .ok()
    }

    /// Number of frames: NumberOfFrames, or 1 (also for files without pixels,
    /// as Orthanc reports).
    pub fn frame_count(&self) -> usize {
        match self.int_tag(Tag::new(0x0028, 0x0008)) {
            Some(n) if n > 0 => n,
            _ => 1,
        }
    }

    /// The raw bytes of frame `index`.
    pub fn raw_frame(&self, index: usize) -> Result<Frame, DicomError> {
        let count = self.frame_count();
        if index >= count {
            return Err(DicomError::OutOfRange);
        }
        let el = find(&self.dataset, Tag::PIXEL_DATA).ok_or(DicomError::NoPixelData)?;
        let buf = self.dataset_buf();
        let mime = frame_mime(&self.transfer_syntax);
        match &el.value {
            Value::Bytes(r) => {
                let data = buf.get(r.clone()).ok_or(DicomError::NoPixelData)?;
                let rows = self.int_tag(Tag::new(0x0028, 0x0010)).unwrap_or(0);
                let cols = self.int_tag(Tag::new(0x0028, 0x0011)).unwrap_or(0);
                let samples = self.int_tag(Tag::new(0x0028, 0x0002)).unwrap_or(1);
                let bits = self.int_tag(Tag::new(0x0028, 0x0100)).unwrap_or(8);
                let size = rows
                    .checked_mul(cols)
                    .and_then(|p| p.checked_mul(samples))
                    .and_then(|p| p.checked_mul(bits))
                    .map(|b| b.div_ceil(8))
                    .filter(|&s| s > 0)
                    .ok_or(DicomError::NoPixelData)?;
                let start = index.checked_mul(size).ok_or(DicomError::OutOfRange)?;
                let end = start.checked_add(size).ok_or(DicomError::OutOfRange)?;
                let mut bytes = data.get(start..end).ok_or(DicomError::OutOfRange)?.to_vec();
                if self.big_endian && (el.vr == Vr::OW || bits == 16) {
                    bytes.chunks_exact_mut(2).for_each(|c| c.swap(0, 1));
                }
                Ok(Frame { bytes, mime })
            }
            Value::Fragments(all) => {
                let Some((bot, frags)) = all.split_first() else {
                    return Err(DicomError::NoPixelData);
                };
                let get = |r: &std::ops::Range<usize>| buf.get(r.clone()).unwrap_or_default();
                let bytes = if frags.len() == count {
                    get(&frags[index]).to_vec()
                } else if count == 1 {
                    frags.iter().flat_map(|f| get(f).iter().copied()).collect()
                } else {
                    let bot = get(bot);
                    let offsets: Vec<u64> = bot
                        .chunks_exact(4)
                        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as u64)
                        .collect();
                    if offsets.len() != count {
                        return Err(DicomError::NoPixelData);
                    }
                    let lo = offsets[index];
                    let hi = offsets.get(index + 1).copied().unwrap_or(u64::MAX);
                    let mut pos = 0u64;
                    let mut out = Vec::new();
                    for f in frags {
                        if pos >= lo && pos < hi {
                            out.extend_from_slice(get(f));
                        }
                        pos += 8 + f.len() as u64;
                    }
                    out
                };
                Ok(Frame { bytes, mime })
            }
            Value::Sequence(_) => Err(DicomError::NoPixelData),
        }
    }
}
