//! A small builder of DICOM Part 10 files, used by tests and load generators.
//!
//! ```
//! use stowage_dicom::{writer::{DicomBuilder, TransferSyntax}, Tag};
//! let bytes = DicomBuilder::new(TransferSyntax::ExplicitVrLittleEndian)
//!     .sop("1.2.840.10008.5.1.4.1.1.7", "1.2.3.4")
//!     .string(Tag::new(0x0010, 0x0010), "PN", "Doe^John")
//!     .build();
//! let file = stowage_dicom::parse(&bytes).unwrap();
//! assert_eq!(file.string(Tag::new(0x0010, 0x0010)).as_deref(), Some("Doe^John"));
//! ```

use crate::tag::Tag;
use crate::vr::Vr;
use std::collections::BTreeMap;
use std::io::Write;

/// Transfer syntaxes the writer can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferSyntax {
    /// 1.2.840.10008.1.2
    ImplicitVrLittleEndian,
    /// 1.2.840.10008.1.2.1
    ExplicitVrLittleEndian,
    /// 1.2.840.10008.1.2.2 (retired)
    ExplicitVrBigEndian,
    /// 1.2.840.10008.1.2.1.99
    DeflatedExplicitVrLittleEndian,
    /// Any encapsulated (compressed) syntax, written as Explicit VR LE with the given UID.
    Encapsulated(&'static str),
}

impl TransferSyntax {
    /// The transfer syntax UID.
    pub fn uid(self) -> &'static str {
        match self {
            TransferSyntax::ImplicitVrLittleEndian => "1.2.840.10008.1.2",
            TransferSyntax::ExplicitVrLittleEndian => "1.2.840.10008.1.2.1",
            TransferSyntax::ExplicitVrBigEndian => "1.2.840.10008.1.2.2",
            TransferSyntax::DeflatedExplicitVrLittleEndian => "1.2.840.10008.1.2.1.99",
            TransferSyntax::Encapsulated(uid) => uid,
        }
    }
}

#[derive(Clone, Debug)]
enum WValue {
    Bytes(Vec<u8>),
    Items(Vec<DatasetBuilder>),
    Fragments(Vec<Vec<u8>>),
}

/// A dataset under construction (also used for sequence items). Elements are
/// kept sorted by tag; setting a tag twice replaces the value.
#[derive(Clone, Debug, Default)]
pub struct DatasetBuilder {
    elements: BTreeMap<Tag, (Vr, WValue)>,
}

fn vr_of(vr: &str) -> Vr {
    Vr::parse(vr).unwrap_or(Vr::UN)
}

impl DatasetBuilder {
    /// An empty dataset.
    pub fn new() -> Self {
        Self::default()
    }

    /// A string value (multiple values separated by `\`), padded to even length
    /// with a space (NUL for UI). The text is written as UTF-8 bytes.
    pub fn string(mut self, tag: Tag, vr: &str, value: &str) -> Self {
        let vr = vr_of(vr);
        let mut b = value.as_bytes().to_vec();
        if b.len() % 2 == 1 {
            b.push(if vr == Vr::UI { 0 } else { b' ' });
        }
        self.elements.insert(tag, (vr, WValue::Bytes(b)));
        self
    }

    /// A raw value (little endian for binary numbers and OW), padded to even
    /// length with a NUL (or a space for string VRs).
    pub fn raw(mut self, tag: Tag, vr: &str, bytes: &[u8]) -> Self {
        let vr = vr_of(vr);
        let mut b = bytes.to_vec();
        if b.len() % 2 == 1 {
            b.push(if vr.is_string() && vr != Vr::UI {
                b' '
            } else {
                0
            });
        }
        self.elements.insert(tag, (vr, WValue::Bytes(b)));
        self
    }

    /// A US value.
    pub fn u16(self, tag: Tag, v: u16) -> Self {
        self.raw(tag, "US", &v.to_le_bytes())
    }

    /// A UL value.
    pub fn u32(self, tag: Tag, v: u32) -> Self {
        self.raw(tag, "UL", &v.to_le_bytes())
    }

    /// An FD value.
    pub fn f64(self, tag: Tag, v: f64) -> Self {
        self.raw(tag, "FD", &v.to_le_bytes())
    }

    /// A sequence (possibly empty).
    pub fn sequence(mut self, tag: Tag, items: Vec<DatasetBuilder>) -> Self {
        self.elements.insert(tag, (Vr::SQ, WValue::Items(items)));
        self
    }

    /// Native pixel data (`data` in little endian) and the Image Pixel module
    /// tags (MONOCHROME2 or RGB, unsigned, NumberOfFrames when `frames > 1`).
    pub fn pixel_data_native(
        self,
        rows: u16,
        cols: u16,
        bits_allocated: u16,
        samples: u16,
        frames: u32,
        data: Vec<u8>,
    ) -> Self {
        let mut s = self
            .u16(Tag::new(0x0028, 0x0002), samples)
            .string(
                Tag::new(0x0028, 0x0004),
                "CS",
                if samples == 3 { "RGB" } else { "MONOCHROME2" },
            )
            .u16(Tag::new(0x0028, 0x0010), rows)
            .u16(Tag::new(0x0028, 0x0011), cols)
            .u16(Tag::new(0x0028, 0x0100), bits_allocated)
            .u16(Tag::new(0x0028, 0x0101), bits_allocated)
            .u16(Tag::new(0x0028, 0x0102), bits_allocated.saturating_sub(1))
            .u16(Tag::new(0x0028, 0x0103), 0);
        if samples > 1 {
            s = s.u16(Tag::new(0x0028, 0x0006), 0);
        }
        if frames > 1 {
            s = s.string(Tag::new(0x0028, 0x0008), "IS", &frames.to_string());
        }
        s.raw(
            Tag::PIXEL_DATA,
            if bits_allocated > 8 { "OW" } else { "OB" },
            &data,
        )
    }

    /// Encapsulated pixel data: an empty Basic Offset Table then one fragment
    /// per entry (one frame per fragment; NumberOfFrames set when > 1).
    pub fn pixel_data_encapsulated(mut self, fragments: Vec<Vec<u8>>) -> Self {
        if fragments.len() > 1 {
            self = self.string(Tag::new(0x0028, 0x0008), "IS", &fragments.len().to_string());
        }
        self.elements
            .insert(Tag::PIXEL_DATA, (Vr::OB, WValue::Fragments(fragments)));
        self
    }
}

/// Encoding options of the dataset.
#[derive(Clone, Copy)]
struct Enc {
    explicit: bool,
    big: bool,
    undefined: bool,
}

impl Enc {
    fn u16(&self, out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }
    fn u32(&self, out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }
    fn tag(&self, out: &mut Vec<u8>, t: Tag) {
        self.u16(out, t.group);
        self.u16(out, t.element);
    }
    fn header(&self, out: &mut Vec<u8>, tag: Tag, vr: Vr, len: u32) {
        self.tag(out, tag);
        if self.explicit {
            out.extend_from_slice(&vr.0);
            if vr.has_long_length() {
                out.extend_from_slice(&[0, 0]);
                self.u32(out, len);
            } else {
                self.u16(out, len as u16);
            }
        } else {
            self.u32(out, len);
        }
    }

    fn dataset(&self, out: &mut Vec<u8>, ds: &DatasetBuilder) {
        for (&tag, (vr, value)) in &ds.elements {
            match value {
                WValue::Bytes(b) => {
                    self.header(out, tag, *vr, b.len() as u32);
                    let unit = vr.swap_size();
                    if self.big && unit > 1 {
                        for c in b.chunks(unit) {
                            out.extend(c.iter().rev());
                        }
                    } else {
                        out.extend_from_slice(b);
                    }
                }
                WValue::Items(items) => {
                    if self.undefined {
                        self.header(out, tag, *vr, u32::MAX);
                        for it in items {
                            self.tag(out, Tag::ITEM);
                            self.u32(out, u32::MAX);
                            self.dataset(out, it);
                            self.tag(out, Tag::ITEM_DELIMITATION);
                            self.u32(out, 0);
                        }
                        self.tag(out, Tag::SEQUENCE_DELIMITATION);
                        self.u32(out, 0);
                    } else {
                        let mut body = Vec::new();
                        for it in items {
                            let mut item = Vec::new();
                            self.dataset(&mut item, it);
                            self.tag(&mut body, Tag::ITEM);
                            self.u32(&mut body, item.len() as u32);
                            body.extend_from_slice(&item);
                        }
                        self.header(out, tag, *vr, body.len() as u32);
                        out.extend_from_slice(&body);
                    }
                }
                WValue::Fragments(frags) => {
                    self.header(out, tag, *vr, u32::MAX);
                    self.tag(out, Tag::ITEM);
                    self.u32(out, 0);
                    for f in frags {
                        self.tag(out, Tag::ITEM);
                        self.u32(out, (f.len() + f.len() % 2) as u32);
                        out.extend_from_slice(f);
                        if f.len() % 2 == 1 {
                            out.push(0);
                        }
                    }
                    self.tag(out, Tag::SEQUENCE_DELIMITATION);
                    self.u32(out, 0);
                }
            }
        }
    }
}

/// Builds a complete Part 10 file (preamble, meta group, dataset).
#[derive(Clone, Debug)]
pub struct DicomBuilder {
    ts: TransferSyntax,
    sop: Option<(String, String)>,
    undefined_lengths: bool,
    dataset: DatasetBuilder,
}

macro_rules! forward {
    ($($(#[$m:meta])* fn $name:ident($($arg:ident : $ty:ty),*);)*) => {
        impl DicomBuilder { $(
            $(#[$m])*
            pub fn $name(mut self, $($arg: $ty),*) -> Self {
                self.dataset = self.dataset.$name($($arg),*);
                self
            }
        )* }
    };
}

forward! {
    /// See [`DatasetBuilder::string`].
    fn string(tag: Tag, vr: &str, value: &str);
    /// See [`DatasetBuilder::raw`].
    fn raw(tag: Tag, vr: &str, bytes: &[u8]);
    /// See [`DatasetBuilder::u16`].
    fn u16(tag: Tag, v: u16);
    /// See [`DatasetBuilder::u32`].
    fn u32(tag: Tag, v: u32);
    /// See [`DatasetBuilder::f64`].
    fn f64(tag: Tag, v: f64);
    /// See [`DatasetBuilder::sequence`].
    fn sequence(tag: Tag, items: Vec<DatasetBuilder>);
    /// See [`DatasetBuilder::pixel_data_native`].
    fn pixel_data_native(rows: u16, cols: u16, bits_allocated: u16, samples: u16, frames: u32, data: Vec<u8>);
    /// See [`DatasetBuilder::pixel_data_encapsulated`].
    fn pixel_data_encapsulated(fragments: Vec<Vec<u8>>);
}

impl DicomBuilder {
    /// A new file in the given transfer syntax.
    pub fn new(ts: TransferSyntax) -> Self {
        DicomBuilder {
            ts,
            sop: None,
            undefined_lengths: false,
            dataset: DatasetBuilder::new(),
        }
    }

    /// Sets SOPClassUID / SOPInstanceUID and the matching meta group values.
    pub fn sop(mut self, sop_class_uid: &str, sop_instance_uid: &str) -> Self {
        self.sop = Some((sop_class_uid.to_string(), sop_instance_uid.to_string()));
        self.string(Tag::new(0x0008, 0x0016), "UI", sop_class_uid)
            .string(Tag::new(0x0008, 0x0018), "UI", sop_instance_uid)
    }

    /// Writes sequences and items with undefined lengths and delimiters.
    pub fn undefined_lengths(mut self, yes: bool) -> Self {
        self.undefined_lengths = yes;
        self
    }

    /// Uses a prepared dataset (replaces what was set before, except the SOP UIDs).
    pub fn dataset(mut self, ds: DatasetBuilder) -> Self {
        let sop = self.sop.clone();
        self.dataset = ds;
        if let Some((c, i)) = sop {
            self = self.sop(&c, &i);
        }
        self
    }

    /// Encodes the file.
    pub fn build(&self) -> Vec<u8> {
        let (class, instance) = self.sop.clone().unwrap_or_default();
        let meta = DatasetBuilder::new()
            .raw(Tag::new(0x0002, 0x0001), "OB", &[0, 1])
            .string(Tag::new(0x0002, 0x0002), "UI", &class)
            .string(Tag::new(0x0002, 0x0003), "UI", &instance)
            .string(Tag::new(0x0002, 0x0010), "UI", self.ts.uid())
            .string(
                Tag::new(0x0002, 0x0012),
                "UI",
                "1.2.826.0.1.3680043.8.498.1",
            )
            .string(Tag::new(0x0002, 0x0013), "SH", "STOWAGE");
        let le = Enc {
            explicit: true,
            big: false,
            undefined: false,
        };
        let mut meta_bytes = Vec::new();
        le.dataset(&mut meta_bytes, &meta);

        let mut out = vec![0u8; 128];
        out.extend_from_slice(b"DICM");
        le.header(&mut out, Tag::new(0x0002, 0x0000), Vr::UL, 4);
        out.extend_from_slice(&(meta_bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&meta_bytes);

        let enc = Enc {
            explicit: self.ts != TransferSyntax::ImplicitVrLittleEndian,
            big: self.ts == TransferSyntax::ExplicitVrBigEndian,
            undefined: self.undefined_lengths,
        };
        let mut ds = Vec::new();
        enc.dataset(&mut ds, &self.dataset);
        if self.ts == TransferSyntax::DeflatedExplicitVrLittleEndian {
            let mut e =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            // Writing into a Vec cannot fail.
            let _ = e.write_all(&ds);
            ds = e.finish().unwrap_or_default();
        }
        out.extend_from_slice(&ds);
        out
    }
}
