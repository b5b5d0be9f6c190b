//! Files written by other DICOM tools: dcmtk (img2dcm, dcmconv, dcmcjpeg,
//! dcmcrle, dcmodify, dcmj2pnm) and gdcm (gdcmconv, gdcmanon) make files from
//! a small image made here, in every transfer syntax they offer; each file is
//! parsed by stowage-dicom and compared with what dcmtk's `dcmdump` reports
//! (identifiers, image size, transfer syntax, pixel data length or fragments).
//!
//! The tools come from Debian (`apt-get install dcmtk libgdcm-tools`;
//! `scripts/test-all.sh` installs them when missing). A missing tool fails the
//! test with a message saying so: these tests never skip silently.

use std::path::{Path, PathBuf};
use std::process::Command;
use stowage_dicom::{parse, Content, DicomFile, Tag, TagsFormat};

const INSTALL_HINT: &str = "install Debian's dcmtk and libgdcm-tools \
     (apt-get install -y dcmtk libgdcm-tools; scripts/test-all.sh does it when they are missing)";

/// The absolute path of `name` on PATH; panics (test failure) when absent.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not on PATH: {INSTALL_HINT}"))
}

/// Runs a tool; panics with its output if it fails.
fn run(name: &str, args: &[&str]) -> String {
    let out = Command::new(tool(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn p(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// A 24-bit BMP of `w` x `h` pixels with a colour gradient (rows padded to 4
/// bytes, stored bottom-up as BMP does).
fn bmp(w: u32, h: u32) -> Vec<u8> {
    let row = (w * 3).div_ceil(4) * 4;
    let mut pixels = Vec::new();
    for y in 0..h {
        let start = pixels.len();
        for x in 0..w {
            pixels.extend_from_slice(&[(x * 16) as u8, (y * 20) as u8, ((x + y) * 8) as u8]);
        }
        pixels.resize(start + row as usize, 0);
    }
    let mut out = b"BM".to_vec();
    out.extend_from_slice(&(54 + pixels.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&54u32.to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
    out.extend_from_slice(&(w as i32).to_le_bytes());
    out.extend_from_slice(&(h as i32).to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // planes
    out.extend_from_slice(&24u16.to_le_bytes()); // bits per pixel
    out.extend_from_slice(&0u32.to_le_bytes()); // no compression
    out.extend_from_slice(&(pixels.len() as u32).to_le_bytes());
    out.extend_from_slice(&2835i32.to_le_bytes());
    out.extend_from_slice(&2835i32.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&pixels);
    out
}

/// What `dcmdump` says about a file.
#[derive(Debug, Default)]
struct Dump {
    /// Top-level elements of the meta group and the dataset: tag -> value
    /// (strings without brackets, numbers as printed, "" when empty).
    values: Vec<(Tag, String)>,
    /// Declared length of native (7FE0,0010).
    pixel_length: Option<usize>,
    /// Lengths of the items of encapsulated (7FE0,0010), offset table first.
    fragments: Option<Vec<usize>>,
}

impl Dump {
    fn get(&self, tag: Tag) -> Option<&str> {
        self.values
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_str())
    }
}

/// One dcmdump line: indentation, tag, VR, value text, declared length.
fn dump_line(line: &str) -> Option<(usize, Tag, String, String, Option<usize>)> {
    let indent = line.len() - line.trim_start().len();
    let l = line.trim_start();
    if !l.starts_with('(') || l.len() < 14 {
        return None;
    }
    let tag = Tag::parse(&l[1..10])?;
    let vr = l[12..14].to_string();
    let rest = &l[15..];
    let hash = rest.rfind(" #")?;
    let value = rest[..hash].trim_end();
    let value = if let Some(v) = value.strip_prefix('[') {
        v.strip_suffix(']').unwrap_or(v).to_string()
    } else if value.starts_with("(no value") {
        String::new()
    } else {
        value.to_string()
    };
    let len = rest[hash + 2..].trim_start().split(',').next()?.trim();
    Some((indent, tag, vr, value, len.parse().ok()))
}

fn dcmdump(path: &Path) -> Dump {
    // +U8: text as UTF-8 (decoded with SpecificCharacterSet), as stowage gives it.
    let text = run("dcmdump", &["+L", "-Un", "+U8", "-q", p(path)]);
    let mut d = Dump::default();
    let mut in_pixels = false;
    for line in text.lines() {
        let Some((indent, tag, _vr, value, len)) = dump_line(line) else {
            continue;
        };
        if in_pixels && indent > 0 && tag == Tag::ITEM {
            if let Some(f) = d.fragments.as_mut() {
                f.push(len.unwrap_or(0));
            }
            continue;
        }
        if indent > 0 {
            continue;
        }
        in_pixels = false;
        if tag == Tag::PIXEL_DATA {
            if value.starts_with("(PixelSequence") {
                in_pixels = true;
                d.fragments = Some(Vec::new());
            } else {
                d.pixel_length = len;
            }
            continue;
        }
        d.values.push((tag, value));
    }
    d
}

const PATIENT_NAME: Tag = Tag::new(0x0010, 0x0010);
const STUDY_UID: Tag = Tag::new(0x0020, 0x000d);
const SERIES_UID: Tag = Tag::new(0x0020, 0x000e);
const SOP_UID: Tag = Tag::new(0x0008, 0x0018);
const ROWS: Tag = Tag::new(0x0028, 0x0010);
const COLUMNS: Tag = Tag::new(0x0028, 0x0011);
const TS_UID: Tag = Tag::new(0x0002, 0x0010);

/// Parses `path` with stowage-dicom and checks it against dcmdump; returns
/// the parsed file for further checks.
fn check(path: &Path, expected_ts: &str) -> DicomFile {
    let bytes = std::fs::read(path).expect("reading a tool's output");
    let f = parse(&bytes).unwrap_or_else(|e| {
        let reason = match &e {
            stowage_dicom::DicomError::Invalid { reason, .. } => reason.clone(),
            _ => String::new(),
        };
        panic!("{}: {e} ({reason})", path.display())
    });
    let dump = dcmdump(path);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    assert_eq!(dump.get(TS_UID), Some(expected_ts), "{name}: dcmdump's TS");
    assert_eq!(f.transfer_syntax_uid(), expected_ts, "{name}");
    assert_eq!(
        f.header_string(TS_UID).as_deref(),
        Some(expected_ts),
        "{name}"
    );
    for tag in [PATIENT_NAME, STUDY_UID, SERIES_UID, SOP_UID, ROWS, COLUMNS] {
        let want = dump
            .get(tag)
            .unwrap_or_else(|| panic!("{name}: dcmdump shows no {tag}"));
        assert_eq!(f.string(tag).as_deref(), Some(want), "{name}: {tag}");
    }
    match (&dump.fragments, dump.pixel_length) {
        (Some(frags), _) => {
            assert!(frags.len() >= 2, "{name}: {frags:?}");
            let Ok(Content::Children(items)) = f.content(&["7fe0-0010"]) else {
                panic!("{name}: pixel data is not encapsulated for stowage");
            };
            assert_eq!(items.len(), frags.len(), "{name}: fragment count");
            for (i, &len) in frags.iter().enumerate() {
                let Ok(Content::Bytes(b)) = f.content(&["7fe0-0010", &i.to_string()]) else {
                    panic!("{name}: fragment {i}");
                };
                assert_eq!(b.len(), len, "{name}: fragment {i} length");
            }
        }
        (None, Some(len)) => {
            let Ok(Content::Bytes(b)) = f.content(&["7fe0-0010", "0"]) else {
                panic!("{name}: native pixel data");
            };
            assert_eq!(b.len(), len, "{name}: pixel data length");
        }
        (None, None) => panic!("{name}: dcmdump shows no pixel data"),
    }
    // Whatever the API would do with it must work.
    let _ = f.tags_json(TagsFormat::Full);
    let _ = f.header_json(TagsFormat::Full);
    f
}

struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Self {
        Work {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The uncompressed explicit VR little endian RGB file all others derive
    /// from: img2dcm from a BMP, then identifiers set with dcmodify.
    fn source(&self) -> PathBuf {
        let bmp_path = self.path("image.bmp");
        std::fs::write(&bmp_path, bmp(16, 12)).expect("writing the BMP");
        let out = self.path("source.dcm");
        run("img2dcm", &["-q", "-i", "BMP", p(&bmp_path), p(&out)]);
        run(
            "dcmodify",
            &[
                "-nb",
                "-i",
                "(0010,0010)=Doe^John",
                "-i",
                "(0010,0020)=PAT-42",
                "-i",
                "(0008,0060)=OT",
                "-i",
                "(0020,0013)=3",
                p(&out),
            ],
        );
        out
    }
}

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
const JPEG_LOSSLESS: &str = "1.2.840.10008.1.2.4.57";
const JPEG_LOSSLESS_SV1: &str = "1.2.840.10008.1.2.4.70";
const JPEG_LS_LOSSLESS: &str = "1.2.840.10008.1.2.4.80";
const J2K_LOSSLESS: &str = "1.2.840.10008.1.2.4.90";
const RLE: &str = "1.2.840.10008.1.2.5";

#[test]
fn dcmtk_img2dcm_from_bmp() {
    let w = Work::new();
    let f = check(&w.source(), EXPLICIT_LE);
    assert_eq!(f.string(PATIENT_NAME).as_deref(), Some("Doe^John"));
    assert_eq!(
        f.string(Tag::new(0x0010, 0x0020)).as_deref(),
        Some("PAT-42")
    );
    assert_eq!(f.string(ROWS).as_deref(), Some("12"));
    assert_eq!(f.string(COLUMNS).as_deref(), Some("16"));
    assert_eq!(f.raw_frame(0).expect("frame 0").bytes.len(), 16 * 12 * 3);
    assert!(f.pixel_data_offset().is_some());
}

#[test]
fn dcmtk_dcmconv_every_uncompressed_transfer_syntax() {
    let w = Work::new();
    let src = w.source();
    let reference = check(&src, EXPLICIT_LE).raw_frame(0).expect("frame 0");
    // A sequence of two items, to see how each encoding writes them.
    run(
        "dcmodify",
        &[
            "-nb",
            "-i",
            "(0008,1110)[0].(0008,1150)=1.2.840.10008.3.1.2.3.1",
            "-i",
            "(0008,1110)[0].(0008,1155)=1.2.3.4.5",
            "-i",
            "(0008,1110)[1].(0008,1155)=1.2.3.4.6",
            p(&src),
        ],
    );
    for (flag, ts) in [
        ("+te", EXPLICIT_LE),
        ("+ti", IMPLICIT_LE),
        ("+tb", EXPLICIT_BE),
        ("+td", DEFLATED),
    ] {
        // Default encoding; undefined lengths in sequences and items (-e);
        // group length elements everywhere (+g); dataset trailing padding
        // (FFFC,FFFC) and item padding (+p).
        let variants: [&[&str]; 4] = [&[], &["-e"], &["+g"], &["-e", "+g", "+p", "256", "16"]];
        for extra in variants {
            let out = w.path(&format!("dcmconv{flag}{}.dcm", extra.join("")));
            let mut args = vec![flag];
            args.extend_from_slice(extra);
            args.extend_from_slice(&[p(&src), p(&out)]);
            run("dcmconv", &args);
            let f = check(&out, ts);
            // The same pixels whatever the byte order (8-bit samples in OW words).
            let frame = f.raw_frame(0).expect("frame 0");
            assert_eq!(frame, reference, "{flag} {extra:?}");
            let tags = f.tags_json(TagsFormat::Short);
            assert_eq!(
                tags["0008,1110"][0]["0008,1155"], "1.2.3.4.5",
                "{flag} {extra:?}"
            );
            assert_eq!(
                tags["0008,1110"][1]["0008,1155"], "1.2.3.4.6",
                "{flag} {extra:?}"
            );
        }
    }
}

#[test]
fn dcmtk_dcmcjpeg_baseline_and_lossless() {
    let w = Work::new();
    let src = w.source();
    for (flag, ts) in [
        ("+eb", JPEG_BASELINE),
        ("+el", JPEG_LOSSLESS),
        ("+e1", JPEG_LOSSLESS_SV1),
    ] {
        let out = w.path(&format!("dcmcjpeg{flag}.dcm"));
        run("dcmcjpeg", &[flag, p(&src), p(&out)]);
        let f = check(&out, ts);
        let frame = f.raw_frame(0).expect("frame 0");
        assert_eq!(frame.mime, "image/jpeg", "{flag}");
        assert_eq!(&frame.bytes[..2], b"\xff\xd8", "{flag}: JPEG SOI");
        // The JPEG stream ends with EOI (possibly followed by one pad byte).
        let end = frame.bytes.len() - usize::from(frame.bytes.last() == Some(&0));
        assert_eq!(&frame.bytes[end - 2..end], b"\xff\xd9", "{flag}: JPEG EOI");
    }
}

#[test]
fn dcmtk_dcmcrle() {
    let w = Work::new();
    let src = w.source();
    let out = w.path("rle.dcm");
    run("dcmcrle", &[p(&src), p(&out)]);
    let f = check(&out, RLE);
    // An RLE frame starts with its 64-byte header: segment count (3 for RGB).
    let frame = f.raw_frame(0).expect("frame 0");
    assert_eq!(&frame.bytes[..4], &3u32.to_le_bytes());
}

#[test]
fn dcmtk_img2dcm_from_jpeg() {
    // A JPEG made by dcmtk itself (dcmj2pnm), wrapped without recompression.
    let w = Work::new();
    let src = w.source();
    let jpg = w.path("image.jpg");
    run("dcmj2pnm", &["+oj", p(&src), p(&jpg)]);
    let jpeg_bytes = std::fs::read(&jpg).expect("reading the JPEG");
    let out = w.path("from-jpeg.dcm");
    run("img2dcm", &["-q", p(&jpg), p(&out)]);
    run("dcmodify", &["-nb", "-i", "(0010,0010)=Roe^Jane", p(&out)]);
    let f = check(&out, JPEG_BASELINE);
    assert_eq!(f.string(PATIENT_NAME).as_deref(), Some("Roe^Jane"));
    // img2dcm drops the JFIF APP0 segment: after SOI, the frame is the tail of
    // the JPEG file (plus one pad byte to even length).
    let frame = f.raw_frame(0).expect("frame 0").bytes;
    let frame = frame.strip_suffix(b"\0").unwrap_or(&frame);
    assert_eq!(&frame[..2], b"\xff\xd8");
    assert!(
        jpeg_bytes.ends_with(&frame[2..]),
        "frame is not the JPEG's data"
    );
}

#[test]
fn dcmtk_dcmodify_sets_tags_and_character_set() {
    let w = Work::new();
    let src = w.source();
    // ISO_IR 100 (Latin-1) text, a private block (one dcmtk's private
    // dictionary knows, or dcmodify cannot tell the VR), a nested sequence,
    // numbers.
    let latin1_name: Vec<u8> = b"M\xfcller^J\xfcrgen".to_vec();
    let mut arg = b"(0010,0010)=".to_vec();
    arg.extend_from_slice(&latin1_name);
    let arg = {
        use std::os::unix::ffi::OsStringExt;
        std::ffi::OsString::from_vec(arg)
    };
    let status = Command::new(tool("dcmodify"))
        .args(["-nb", "-i", "(0008,0005)=ISO_IR 100", "-m"])
        .arg(arg)
        .args([
            "-i",
            "(0008,1030)=Study \"quoted\" & more",
            "-i",
            "(0009,0010)=GEMS_IDEN_01",
            "-i",
            "(0009,1001)=private value",
            "-i",
            "(0040,0275)[0].(0040,0008)[0].(0008,0100)=CODE-1",
            "-i",
            "(0018,0050)=1.25",
            "-i",
            "(0020,0037)=1\\0\\0\\0\\1\\0",
        ])
        .arg(&src)
        .status()
        .expect("running dcmodify");
    assert!(status.success());
    for (flag, ts) in [
        ("+te", EXPLICIT_LE),
        ("+ti", IMPLICIT_LE),
        ("+tb", EXPLICIT_BE),
    ] {
        let out = w.path(&format!("modified{flag}.dcm"));
        run("dcmconv", &[flag, p(&src), p(&out)]);
        let f = check(&out, ts);
        assert_eq!(f.string(PATIENT_NAME).as_deref(), Some("Müller^Jürgen"));
        let utf8 = run("dcmdump", &["+U8", "+P", "0010,0010", "-q", p(&out)]);
        let dumped = dump_line(utf8.lines().next().unwrap_or_default()).map(|l| l.3);
        assert_eq!(dumped.as_deref(), Some("Müller^Jürgen"));
        let tags = f.tags_json(TagsFormat::Short);
        assert_eq!(tags["0008,1030"], "Study \"quoted\" & more", "{flag}");
        // In implicit VR a private element's VR is unknown (UN, binary, JSON
        // null) without a private dictionary; its bytes are there all the same.
        if ts == IMPLICIT_LE {
            assert_eq!(tags["0009,1001"], serde_json::Value::Null);
        } else {
            assert_eq!(tags["0009,1001"], "private value", "{flag}");
        }
        assert_eq!(
            f.content(&["0009-1001"]).ok(),
            Some(Content::Bytes(b"private value ".to_vec()))
        );
        assert_eq!(
            tags["0040,0275"][0]["0040,0008"][0]["0008,0100"], "CODE-1",
            "{flag}"
        );
        assert_eq!(tags["0018,0050"], "1.25", "{flag}");
        assert_eq!(tags["0020,0037"], "1\\0\\0\\0\\1\\0", "{flag}");
        let full = f.tags_json(TagsFormat::Full);
        assert_eq!(
            full["0009,1001"]["PrivateCreator"], "GEMS_IDEN_01",
            "{flag}"
        );
    }
}

#[test]
fn gdcm_gdcmconv_transfer_syntaxes() {
    let w = Work::new();
    let src = w.source();
    let reference = check(&src, EXPLICIT_LE).raw_frame(0).expect("frame 0");
    let convert = |name: &str, args: &[&str], input: &Path, ts: &str| {
        let out = w.path(name);
        let mut all = args.to_vec();
        all.extend_from_slice(&["-i", p(input), "-o", p(&out)]);
        run("gdcmconv", &all);
        (check(&out, ts), out)
    };
    let (j2k, j2k_path) = convert("j2k.dcm", &["--j2k"], &src, J2K_LOSSLESS);
    assert_eq!(j2k.raw_frame(0).expect("frame 0").mime, "image/jp2");
    let (jpeg, _) = convert("jpeg.dcm", &["--jpeg"], &src, JPEG_LOSSLESS_SV1);
    assert_eq!(&jpeg.raw_frame(0).expect("frame 0").bytes[..2], b"\xff\xd8");
    convert("jpegls.dcm", &["--jpegls"], &src, JPEG_LS_LOSSLESS);
    convert("rle.dcm", &["--rle"], &src, RLE);
    // Back to native from JPEG 2000: the lossless round trip gives the pixels back.
    let (raw, _) = convert("raw.dcm", &["--raw"], &j2k_path, EXPLICIT_LE);
    assert_eq!(raw.raw_frame(0).expect("frame 0"), reference);
    let (implicit, _) = convert("implicit.dcm", &["--implicit"], &src, IMPLICIT_LE);
    assert_eq!(implicit.raw_frame(0).expect("frame 0"), reference);
    convert("deflated.dcm", &["--deflated"], &src, DEFLATED);
    // Several fragments for one frame (--split of a compressed file).
    let (split, _) = convert("split.dcm", &["--split", "64"], &j2k_path, J2K_LOSSLESS);
    let Ok(Content::Children(items)) = split.content(&["7fe0-0010"]) else {
        panic!("split pixel data");
    };
    assert!(items.len() > 2, "{items:?}");
    let whole = split.raw_frame(0).expect("frame 0").bytes;
    assert_eq!(&whole[..4], b"\xff\x4f\xff\x51", "J2K codestream start");
}

#[test]
fn gdcm_gdcmanon() {
    let w = Work::new();
    let src = w.source();
    let out = w.path("anon.dcm");
    run(
        "gdcmanon",
        &[
            "--dumb",
            "--replace",
            "10,10=Anonymous",
            "--empty",
            "10,20",
            "--remove",
            "8,60",
            "-i",
            p(&src),
            "-o",
            p(&out),
        ],
    );
    let f = check(&out, EXPLICIT_LE);
    assert_eq!(f.string(PATIENT_NAME).as_deref(), Some("Anonymous"));
    assert_eq!(f.string(Tag::new(0x0010, 0x0020)).as_deref(), Some(""));
    assert!(!f.has_tag(Tag::new(0x0008, 0x0060)));
}

#[test]
fn multi_frame_files_compressed_by_dcmtk_and_gdcm() {
    // Three 32x32 8-bit frames (gdcmconv --j2k crashes on images of 8x8 and
    // smaller) written by stowage's writer, compressed by the tools
    // (one fragment per frame, dcmtk with a Basic Offset Table).
    use stowage_dicom::writer::{DicomBuilder, TransferSyntax};
    let w = Work::new();
    let frames = 3usize;
    let pixels: Vec<u8> = (0..frames * 32 * 32).map(|i| (i * 3 % 251) as u8).collect();
    let src = w.path("multi.dcm");
    let bytes = DicomBuilder::new(TransferSyntax::ExplicitVrLittleEndian)
        .sop("1.2.840.10008.5.1.4.1.1.7.2", "1.2.3.4.5.6.7")
        .string(PATIENT_NAME, "PN", "Multi^Frame")
        .string(STUDY_UID, "UI", "1.2.3.4")
        .string(SERIES_UID, "UI", "1.2.3.4.5")
        .string(Tag::new(0x0008, 0x0060), "CS", "OT")
        .pixel_data_native(32, 32, 8, 1, frames as u32, pixels)
        .build();
    std::fs::write(&src, bytes).expect("writing the source");
    let native = check(&src, EXPLICIT_LE);
    assert_eq!(native.frame_count(), frames);
    let tools: [(&str, &[&str], &str, &str); 5] = [
        ("dcmcjpeg", &["+eb"], JPEG_BASELINE, "image/jpeg"),
        ("dcmcjpeg", &["+e1"], JPEG_LOSSLESS_SV1, "image/jpeg"),
        ("dcmcrle", &[], RLE, "application/octet-stream"),
        ("gdcmconv", &["--j2k"], J2K_LOSSLESS, "image/jp2"),
        (
            "gdcmconv",
            &["--jpegls"],
            JPEG_LS_LOSSLESS,
            "application/octet-stream",
        ),
    ];
    for (i, (name, flags, ts, mime)) in tools.into_iter().enumerate() {
        let out = w.path(&format!("multi-{i}.dcm"));
        let mut args = flags.to_vec();
        if name == "gdcmconv" {
            args.extend_from_slice(&["-i", p(&src), "-o", p(&out)]);
        } else {
            args.extend_from_slice(&[p(&src), p(&out)]);
        }
        run(name, &args);
        let f = check(&out, ts);
        assert_eq!(f.frame_count(), frames, "{name} {flags:?}");
        let Ok(Content::Children(items)) = f.content(&["7fe0-0010"]) else {
            panic!("{name} {flags:?}: not encapsulated");
        };
        assert_eq!(
            items.len(),
            frames + 1,
            "{name} {flags:?}: offset table + frames"
        );
        for n in 0..frames {
            let frame = f.raw_frame(n).expect("frame");
            assert_eq!(frame.mime, mime);
            let Ok(Content::Bytes(fragment)) = f.content(&["7fe0-0010", &(n + 1).to_string()])
            else {
                panic!("fragment {n}");
            };
            assert_eq!(frame.bytes, fragment, "{name} {flags:?}: frame {n}");
        }
        assert!(f.raw_frame(frames).is_err());
    }
}

#[test]
fn sixteen_bit_pixels_through_dcmconv_and_dcmcjpeg() {
    // 16-bit samples: dcmtk swaps the OW words for big endian; raw frames come
    // back in little endian whatever the file's byte order.
    use stowage_dicom::writer::{DicomBuilder, TransferSyntax};
    let w = Work::new();
    let pixels: Vec<u8> = (0..2 * 16 * 16u32)
        .flat_map(|i| ((i * 397) as u16 & 0x0fff).to_le_bytes())
        .collect();
    let src = w.path("sixteen.dcm");
    let bytes = DicomBuilder::new(TransferSyntax::ExplicitVrLittleEndian)
        .sop("1.2.840.10008.5.1.4.1.1.7.3", "1.2.3.4.5.16")
        .string(PATIENT_NAME, "PN", "Sixteen^Bits")
        .string(STUDY_UID, "UI", "1.2.3.16")
        .string(SERIES_UID, "UI", "1.2.3.16.1")
        .pixel_data_native(16, 16, 16, 1, 2, pixels.clone())
        .build();
    std::fs::write(&src, bytes).expect("writing the source");
    for (flag, ts) in [
        ("+ti", IMPLICIT_LE),
        ("+tb", EXPLICIT_BE),
        ("+td", DEFLATED),
    ] {
        let out = w.path(&format!("sixteen{flag}.dcm"));
        run("dcmconv", &[flag, p(&src), p(&out)]);
        let f = check(&out, ts);
        for n in 0..2 {
            let frame = f.raw_frame(n).expect("frame");
            assert_eq!(
                frame.bytes,
                &pixels[n * 512..(n + 1) * 512],
                "{flag} frame {n}"
            );
        }
    }
    // Lossless JPEG of 16-bit samples, two frames.
    let out = w.path("sixteen-jpeg.dcm");
    run("dcmcjpeg", &["+el", p(&src), p(&out)]);
    let f = check(&out, JPEG_LOSSLESS);
    assert_eq!(f.frame_count(), 2);
    assert_eq!(&f.raw_frame(1).expect("frame 1").bytes[..2], b"\xff\xd8");
}
