//! Part 10 parsing: preamble, meta group, and the dataset in any transfer syntax.

use crate::charset::Charset;
use crate::error::DicomError;
use crate::tag::Tag;
use crate::vr::Vr;
use std::io::Read;
use std::ops::Range;

/// Nesting depth above which a file is rejected (protects the stack).
const MAX_DEPTH: usize = 64;
/// Upper bound on the size of an inflated (deflated transfer syntax) dataset.
const MAX_INFLATED: u64 = 1 << 30;
/// Upper bound on the number of elements, items and fragments of a file (a
/// parsed tree of some 200 MiB at most). A plain file needs at least 8 bytes
/// per element, so only a file of more than 32 MiB of empty elements reaches
/// it (real files have at most a few hundred thousand); what it stops is a
/// small deflated file inflating to a hundred million empty elements (a 1 MiB
/// upload would otherwise build a tree of several GiB).
const MAX_ELEMENTS: usize = 1 << 22;
const UNDEFINED: u32 = 0xffff_ffff;

/// Deflated Explicit VR Little Endian.
pub const DEFLATED_TS: &str = "1.2.840.10008.1.2.1.99";
/// Implicit VR Little Endian.
pub const IMPLICIT_TS: &str = "1.2.840.10008.1.2";
/// Explicit VR Big Endian (retired).
pub const BIG_ENDIAN_TS: &str = "1.2.840.10008.1.2.2";

/// The value of a parsed element; byte ranges point into the buffer that holds
/// the dataset (the file itself, or the inflated dataset for deflated files).
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A leaf value.
    Bytes(Range<usize>),
    /// A sequence: one dataset per item.
    Sequence(Vec<Dataset>),
    /// Encapsulated pixel data: item 0 is the Basic Offset Table.
    Fragments(Vec<Range<usize>>),
}

/// One parsed data element.
#[derive(Debug, Clone)]
pub(crate) struct Element {
    pub tag: Tag,
    pub vr: Vr,
    pub value: Value,
}

/// A dataset, sorted by tag.
pub(crate) type Dataset = Vec<Element>;

/// Finds an element in a dataset sorted by tag.
pub(crate) fn find(ds: &[Element], tag: Tag) -> Option<&Element> {
    ds.binary_search_by(|e| e.tag.cmp(&tag))
        .ok()
        .map(|i| &ds[i])
}

/// A parsed DICOM Part 10 file. It owns one copy of the file bytes; elements
/// keep offsets into it.
#[derive(Debug, Clone)]
pub struct DicomFile {
    pub(crate) file: Vec<u8>,
    pub(crate) inflated: Option<Vec<u8>>,
    pub(crate) meta: Dataset,
    pub(crate) dataset: Dataset,
    pub(crate) transfer_syntax: String,
    pub(crate) big_endian: bool,
    pub(crate) charset: Charset,
    pub(crate) pixel_data_offset: Option<u64>,
}

/// Parses a DICOM Part 10 file (128-byte preamble, `DICM`, meta group, dataset).
/// The bytes are copied once into the returned [`DicomFile`].
pub fn parse(bytes: &[u8]) -> Result<DicomFile, DicomError> {
    parse_vec(bytes.to_vec())
}

/// Like [`parse`], taking ownership of the buffer (no copy at all).
pub fn parse_vec(bytes: Vec<u8>) -> Result<DicomFile, DicomError> {
    let parsed = parse_parts(&bytes)?;
    let (meta, dataset, inflated, transfer_syntax, big, pixel_data_offset) = parsed;
    let mut file = DicomFile {
        file: bytes,
        inflated,
        meta,
        dataset,
        transfer_syntax,
        big_endian: big,
        charset: Charset::Ascii,
        pixel_data_offset,
    };
    if let Some(cs) = file.raw_string(Tag::SPECIFIC_CHARACTER_SET) {
        file.charset = Charset::from_specific_character_set(&cs);
    }
    Ok(file)
}

type Parts = (Dataset, Dataset, Option<Vec<u8>>, String, bool, Option<u64>);

/// Resource limits of one parse.
#[derive(Clone, Copy)]
struct Limits {
    /// Most elements, items and fragments.
    elements: usize,
    /// Largest inflated dataset (deflated transfer syntax), in bytes.
    inflated: u64,
}

const LIMITS: Limits = Limits {
    elements: MAX_ELEMENTS,
    inflated: MAX_INFLATED,
};

fn parse_parts(bytes: &[u8]) -> Result<Parts, DicomError> {
    parse_parts_limited(bytes, LIMITS)
}

/// [`parse_parts`] within given limits (tests use small ones).
fn parse_parts_limited(bytes: &[u8], limits: Limits) -> Result<Parts, DicomError> {
    let max_elements = limits.elements;
    if bytes.is_empty() {
        return Err(DicomError::Empty);
    }
    let invalid = |reason: String| DicomError::Invalid {
        size: bytes.len(),
        reason,
    };
    if bytes.len() < 132 || &bytes[128..132] != b"DICM" {
        return Err(invalid("missing DICM prefix".into()));
    }
    let mut meta_reader = Reader::new(bytes, 132, true, false, max_elements);
    let meta = meta_reader.read_meta().map_err(invalid)?;
    let ts_el = find(&meta, Tag::new(0x0002, 0x0010))
        .ok_or_else(|| invalid("no transfer syntax".into()))?;
    let transfer_syntax = match &ts_el.value {
        Value::Bytes(r) => trim_padding(&String::from_utf8_lossy(&bytes[r.clone()])).to_string(),
        _ => return Err(invalid("bad transfer syntax".into())),
    };
    let start = meta_reader.pos;
    let explicit = transfer_syntax != IMPLICIT_TS;
    let big = transfer_syntax == BIG_ENDIAN_TS;

    let (dataset, inflated, pixel_data_offset) = if transfer_syntax == DEFLATED_TS {
        let mut out = Vec::new();
        // One byte more than allowed tells a dataset at the limit from a larger one.
        flate2::read::DeflateDecoder::new(&bytes[start..])
            .take(limits.inflated.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| invalid(format!("inflate: {e}")))?;
        if out.len() as u64 > limits.inflated {
            return Err(invalid(format!(
                "the inflated dataset exceeds {} bytes",
                limits.inflated
            )));
        }
        let mut r = Reader::new(&out, 0, true, false, max_elements);
        let ds = r.read_dataset(None, false, 0).map_err(invalid)?;
        (ds, Some(out), None)
    } else {
        let mut r = Reader::new(bytes, start, explicit, big, max_elements);
        let ds = r.read_dataset(None, false, 0).map_err(invalid)?;
        (ds, None, r.pixel_offset)
    };

    Ok((
        meta,
        dataset,
        inflated,
        transfer_syntax,
        big,
        pixel_data_offset,
    ))
}

/// Removes the trailing DICOM padding (spaces and NULs) of a string value.
pub(crate) fn trim_padding(s: &str) -> &str {
    s.trim_end_matches([' ', '\0'])
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    explicit: bool,
    big: bool,
    pixel_offset: Option<u64>,
    /// How many more elements and items may be read.
    elements_left: usize,
}

type R<T> = Result<T, String>;

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], pos: usize, explicit: bool, big: bool, max_elements: usize) -> Self {
        Reader {
            buf,
            pos,
            explicit,
            big,
            pixel_offset: None,
            elements_left: max_elements,
        }
    }

    /// Counts one more element or item against [`MAX_ELEMENTS`].
    fn count_element(&mut self) -> R<()> {
        self.elements_left = self
            .elements_left
            .checked_sub(1)
            .ok_or("too many elements")?;
        Ok(())
    }
    fn take(&mut self, n: usize) -> R<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| {
                format!(
                    "unexpected end of data at offset {} (needed {n} bytes)",
                    self.pos
                )
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u16(&mut self) -> R<u16> {
        let big = self.big;
        let b = self.take(2)?;
        let a = [b[0], b[1]];
        Ok(if big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        })
    }

    fn u32(&mut self) -> R<u32> {
        let big = self.big;
        let b = self.take(4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Ok(if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }

    fn tag(&mut self) -> R<Tag> {
        Ok(Tag::new(self.u16()?, self.u16()?))
    }

    fn range(&mut self, len: u32) -> R<Range<usize>> {
        let start = self.pos;
        self.take(len as usize)?;
        Ok(start..self.pos)
    }

    fn read_meta(&mut self) -> R<Dataset> {
        let mut out = Vec::new();
        loop {
            if self.pos + 2 > self.buf.len() {
                break;
            }
            let group = u16::from_le_bytes([self.buf[self.pos], self.buf[self.pos + 1]]);
            if group != 0x0002 {
                break;
            }
            let el = self.read_element(0)?.ok_or("delimiter in meta header")?;
            out.push(el);
        }
        sort(&mut out);
        Ok(out)
    }

    /// Reads elements until `end`, the end of the buffer, or (for an item of
    /// undefined length) an item delimitation.
    fn read_dataset(
        &mut self,
        end: Option<usize>,
        undefined_item: bool,
        depth: usize,
    ) -> R<Dataset> {
        if depth > MAX_DEPTH {
            return Err("sequences nested too deeply".into());
        }
        let mut out = Vec::new();
        loop {
            match end {
                Some(e) if self.pos >= e => {
                    if self.pos > e {
                        return Err("item overruns its length".into());
                    }
                    break;
                }
                None if !undefined_item && self.pos == self.buf.len() => break,
                _ => {}
            }
            match self.read_element(depth)? {
                Some(el) => out.push(el),
                None => {
                    if undefined_item {
                        break;
                    }
                    // A stray item delimitation outside an item: ignore it.
                }
            }
        }
        sort(&mut out);
        Ok(out)
    }

    /// Reads one element; `None` for an item delimitation item.
    fn read_element(&mut self, depth: usize) -> R<Option<Element>> {
        self.count_element()?;
        let header_start = self.pos;
        let tag = self.tag()?;
        if tag == Tag::ITEM_DELIMITATION {
            self.u32()?;
            return Ok(None);
        }
        if tag.group == 0xfffe {
            return Err(format!(
                "unexpected item tag {tag} at offset {header_start}"
            ));
        }
        let (vr, len) = if self.explicit {
            let b = self.take(2)?;
            let vr = Vr([b[0], b[1]]);
            if !vr.0.iter().all(u8::is_ascii_uppercase) {
                return Err(format!("invalid VR for {tag} at offset {header_start}"));
            }
            if vr.has_long_length() {
                self.take(2)?;
                (vr, self.u32()?)
            } else {
                (vr, self.u16()? as u32)
            }
        } else {
            (crate::dictionary::implicit_vr(tag), self.u32()?)
        };

        if tag == Tag::PIXEL_DATA && depth == 0 {
            self.pixel_offset = Some(header_start as u64);
        }

        let value = if vr == Vr::SQ || (len == UNDEFINED && tag != Tag::PIXEL_DATA) {
            let saved = self.explicit;
            if vr == Vr::UN && len == UNDEFINED {
                // UN of undefined length: a sequence encoded in implicit VR LE.
                self.explicit = false;
            }
            let items = self.read_sequence(len, depth + 1);
            self.explicit = saved;
            return Ok(Some(Element {
                tag,
                vr: Vr::SQ,
                value: Value::Sequence(items?),
            }));
        } else if len == UNDEFINED {
            Value::Fragments(self.read_fragments()?)
        } else {
            Value::Bytes(self.range(len)?)
        };
        Ok(Some(Element { tag, vr, value }))
    }

    fn read_sequence(&mut self, len: u32, depth: usize) -> R<Vec<Dataset>> {
        let end = if len == UNDEFINED {
            None
        } else {
            let e = self
                .pos
                .checked_add(len as usize)
                .filter(|&e| e <= self.buf.len());
            Some(e.ok_or("sequence overruns the file")?)
        };
        let mut items = Vec::new();
        loop {
            if let Some(e) = end {
                if self.pos >= e {
                    if self.pos > e {
                        return Err("sequence overruns its length".into());
                    }
                    break;
                }
            }
            let tag = self.tag()?;
            let ilen = self.u32()?;
            if tag == Tag::SEQUENCE_DELIMITATION {
                break;
            }
            if tag != Tag::ITEM {
                return Err(format!("expected an item, found {tag}"));
            }
            self.count_element()?;
            let item = if ilen == UNDEFINED {
                self.read_dataset(None, true, depth)?
            } else {
                let e = self
                    .pos
                    .checked_add(ilen as usize)
                    .filter(|&e| e <= self.buf.len());
                let e = e.ok_or("item overruns the file")?;
                self.read_dataset(Some(e), false, depth)?
            };
            items.push(item);
        }
        Ok(items)
    }

    fn read_fragments(&mut self) -> R<Vec<Range<usize>>> {
        let mut out = Vec::new();
        loop {
            let tag = self.tag()?;
            let len = self.u32()?;
            if tag == Tag::SEQUENCE_DELIMITATION {
                return Ok(out);
            }
            if tag != Tag::ITEM || len == UNDEFINED {
                return Err(format!("bad fragment item {tag}"));
            }
            self.count_element()?;
            out.push(self.range(len)?);
        }
    }
}

fn sort(ds: &mut Dataset) {
    if !ds.windows(2).all(|w| w[0].tag < w[1].tag) {
        ds.sort_by_key(|e| e.tag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with_dataset(ds: &[u8]) -> Vec<u8> {
        let ts = b"1.2.840.10008.1.2.1\0";
        let mut out = vec![0u8; 128];
        out.extend_from_slice(b"DICM");
        out.extend_from_slice(&[0x02, 0, 0x10, 0, b'U', b'I', ts.len() as u8, 0]);
        out.extend_from_slice(ts);
        out.extend_from_slice(ds);
        out
    }

    #[test]
    fn un_of_undefined_length_is_an_implicit_sequence() {
        let mut ds = vec![
            0x09, 0, 0x10, 0x10, b'U', b'N', 0, 0, 0xff, 0xff, 0xff, 0xff,
        ];
        ds.extend_from_slice(&[0xfe, 0xff, 0, 0xe0, 0xff, 0xff, 0xff, 0xff]); // item, undefined
        ds.extend_from_slice(&[0x08, 0, 0x00, 0x01, 4, 0, 0, 0]); // (0008,0100) implicit, len 4
        ds.extend_from_slice(b"ABCD");
        ds.extend_from_slice(&[0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0]);
        ds.extend_from_slice(&[0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
        let f = parse(&file_with_dataset(&ds)).unwrap();
        let short = f.tags_json(crate::TagsFormat::Short);
        assert_eq!(short["0009,1010"][0]["0008,0100"], "ABCD");
    }

    fn deflated_file(ds: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let ts = b"1.2.840.10008.1.2.1.99\0";
        let mut out = vec![0u8; 128];
        out.extend_from_slice(b"DICM");
        out.extend_from_slice(&[0x02, 0, 0x10, 0, b'U', b'I', ts.len() as u8, 0]);
        out.extend_from_slice(ts);
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(ds).unwrap();
        out.extend_from_slice(&e.finish().unwrap());
        out
    }

    fn reason(r: Result<Parts, DicomError>) -> String {
        match r {
            Err(DicomError::Invalid { reason, .. }) => reason,
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("parsed"),
        }
    }

    /// (0009,1001) LO, empty: the smallest element there is.
    const EMPTY: [u8; 8] = [0x09, 0x00, 0x01, 0x10, b'L', b'O', 0, 0];

    #[test]
    fn element_budget_stops_a_deflated_flood_of_empty_elements() {
        // Regression: a deflated file compresses ~1000:1, so a 1 MiB upload of
        // empty elements built a tree of several GiB. Elements, items and
        // fragments all count against the budget.
        let limits = Limits {
            elements: 1000,
            inflated: MAX_INFLATED,
        };
        let ds = EMPTY.repeat(999);
        assert!(parse_parts_limited(&deflated_file(&ds), limits).is_ok());
        assert!(parse_parts_limited(&file_with_dataset(&ds), limits).is_ok());
        let ds = EMPTY.repeat(1001);
        assert_eq!(
            reason(parse_parts_limited(&deflated_file(&ds), limits)),
            "too many elements"
        );
        assert_eq!(
            reason(parse_parts_limited(&file_with_dataset(&ds), limits)),
            "too many elements"
        );
        // Items of a sequence: (0008,1115) SQ with 1000 empty items.
        let mut ds = vec![
            0x08, 0, 0x15, 0x11, b'S', b'Q', 0, 0, 0xff, 0xff, 0xff, 0xff,
        ];
        ds.extend_from_slice(&[0xfe, 0xff, 0, 0xe0, 0, 0, 0, 0].repeat(1000));
        ds.extend_from_slice(&[0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
        assert_eq!(
            reason(parse_parts_limited(&file_with_dataset(&ds), limits)),
            "too many elements"
        );
        // Fragments of encapsulated pixel data.
        let mut ds = vec![
            0xe0, 0x7f, 0x10, 0, b'O', b'B', 0, 0, 0xff, 0xff, 0xff, 0xff,
        ];
        ds.extend_from_slice(&[0xfe, 0xff, 0, 0xe0, 0, 0, 0, 0].repeat(1000));
        ds.extend_from_slice(&[0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
        assert_eq!(
            reason(parse_parts_limited(&file_with_dataset(&ds), limits)),
            "too many elements"
        );
    }

    #[test]
    fn inflated_dataset_beyond_the_limit_is_refused_not_truncated() {
        // Regression: the inflater stopped silently at the limit, and a dataset
        // cut at an element boundary parsed as if complete.
        let ds = EMPTY.repeat(100); // 800 bytes
        let at = |inflated| Limits {
            elements: MAX_ELEMENTS,
            inflated,
        };
        let parts = parse_parts_limited(&deflated_file(&ds), at(800)).unwrap();
        assert_eq!(parts.1.len(), 100);
        assert_eq!(
            reason(parse_parts_limited(&deflated_file(&ds), at(400))),
            "the inflated dataset exceeds 400 bytes"
        );
    }

    #[test]
    fn value_overrunning_the_file_is_invalid() {
        let ds = [0x10, 0, 0x10, 0, b'P', b'N', 8, 0, b'D', b'o'];
        assert!(matches!(
            parse(&file_with_dataset(&ds)),
            Err(DicomError::Invalid { .. })
        ));
    }
}
