//! The seed corpus of the fuzz target (`dicom/fuzz/seeds/parse`): files made
//! by the crate's writer in every transfer syntax, plus a few hand-made
//! shapes (UN sequences, encapsulated frames with an offset table, nesting at
//! the depth limit). This test checks that the committed seeds are the ones
//! the writer makes and that they all parse; run it with
//! `STOWAGE_WRITE_FUZZ_SEEDS=1` to (re)write them after changing the writer.

use std::path::PathBuf;
use stowage_dicom::writer::{DatasetBuilder, DicomBuilder, TransferSyntax};
use stowage_dicom::{parse, Tag};

fn t(g: u16, e: u16) -> Tag {
    Tag::new(g, e)
}

fn seeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/parse")
}

fn base(ts: TransferSyntax) -> DicomBuilder {
    let reference = DatasetBuilder::new()
        .string(t(0x0008, 0x1150), "UI", "1.2.840.10008.3.1.2.3.1")
        .string(t(0x0008, 0x1155), "UI", "1.2.9.1");
    let code = DatasetBuilder::new()
        .string(t(0x0008, 0x0100), "SH", "CODE")
        .sequence(
            t(0x0040, 0xa043),
            vec![DatasetBuilder::new().string(t(0x0008, 0x0104), "LO", "nested")],
        );
    DicomBuilder::new(ts)
        .sop("1.2.840.10008.5.1.4.1.1.7", "1.2.3.4.5.6")
        .string(t(0x0008, 0x0005), "CS", "ISO_IR 100")
        .string(t(0x0008, 0x0060), "CS", "OT")
        .raw(t(0x0010, 0x0010), "PN", b"M\xfcller^J")
        .string(t(0x0010, 0x0020), "LO", "PAT1")
        .string(t(0x0020, 0x000d), "UI", "1.2.3")
        .string(t(0x0020, 0x000e), "UI", "1.2.3.4")
        .string(t(0x0020, 0x0013), "IS", "7")
        .f64(t(0x0018, 0x0050), 1.25)
        .raw(t(0x0028, 0x0009), "AT", &[0x18, 0x00, 0x63, 0x10])
        .string(t(0x0009, 0x0010), "LO", "CREATOR")
        .string(t(0x0009, 0x1001), "LO", "private")
        .sequence(t(0x0008, 0x1110), vec![reference])
        .sequence(t(0x0008, 0x1120), vec![])
        .sequence(t(0x0040, 0x0260), vec![code])
}

/// Explicit VR little endian meta + `ds` (for hand-made datasets).
fn raw_file(ts: &str, ds: &[u8]) -> Vec<u8> {
    let mut ts = ts.as_bytes().to_vec();
    if ts.len() % 2 == 1 {
        ts.push(0);
    }
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    out.extend_from_slice(&[0x02, 0, 0x10, 0, b'U', b'I', ts.len() as u8, 0]);
    out.extend_from_slice(&ts);
    out.extend_from_slice(ds);
    out
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let all = [
        ("implicit-le", TransferSyntax::ImplicitVrLittleEndian),
        ("explicit-le", TransferSyntax::ExplicitVrLittleEndian),
        ("explicit-be", TransferSyntax::ExplicitVrBigEndian),
        ("deflated", TransferSyntax::DeflatedExplicitVrLittleEndian),
    ];
    for (name, ts) in all {
        for undefined in [false, true] {
            let b = base(ts).undefined_lengths(undefined).pixel_data_native(
                4,
                4,
                16,
                1,
                2,
                (0u8..64).collect(),
            );
            let suffix = if undefined { "-undefined" } else { "" };
            out.push((format!("{name}{suffix}.dcm"), b.build()));
        }
    }
    let jpeg = TransferSyntax::Encapsulated("1.2.840.10008.1.2.4.50");
    out.push((
        "jpeg-two-frames.dcm".into(),
        base(jpeg)
            .pixel_data_encapsulated(vec![vec![0xff, 0xd8, 0xff, 0xd9], vec![0xff, 0xd8, 1]])
            .build(),
    ));
    out.push((
        "rgb-8bit.dcm".into(),
        base(TransferSyntax::ExplicitVrLittleEndian)
            .pixel_data_native(2, 2, 8, 3, 1, (0u8..12).collect())
            .build(),
    ));
    // Nesting at the parser's depth limit (64 levels).
    let mut nested = DatasetBuilder::new().string(t(0x0008, 0x0100), "SH", "leaf");
    for _ in 0..64 {
        nested = DatasetBuilder::new().sequence(t(0x0040, 0x0275), vec![nested]);
    }
    out.push((
        "nested-64.dcm".into(),
        DicomBuilder::new(TransferSyntax::ExplicitVrLittleEndian)
            .undefined_lengths(true)
            .dataset(nested)
            .build(),
    ));
    // A private UN element of undefined length (an implicit VR sequence).
    let mut ds = vec![
        0x09, 0, 0x10, 0x10, b'U', b'N', 0, 0, 0xff, 0xff, 0xff, 0xff,
    ];
    ds.extend_from_slice(&[0xfe, 0xff, 0, 0xe0, 0xff, 0xff, 0xff, 0xff]);
    ds.extend_from_slice(&[0x08, 0, 0x00, 0x01, 4, 0, 0, 0]);
    ds.extend_from_slice(b"ABCD");
    ds.extend_from_slice(&[0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0]);
    ds.extend_from_slice(&[0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
    out.push((
        "un-sequence.dcm".into(),
        raw_file("1.2.840.10008.1.2.1", &ds),
    ));
    // Encapsulated pixel data with a Basic Offset Table and 2 frames in 3 fragments.
    let mut ds = b"\x28\x00\x08\x00IS\x02\x002 ".to_vec();
    ds.extend_from_slice(&[
        0xe0, 0x7f, 0x10, 0, b'O', b'B', 0, 0, 0xff, 0xff, 0xff, 0xff,
    ]);
    ds.extend_from_slice(&[0xfe, 0xff, 0, 0xe0, 8, 0, 0, 0, 0, 0, 0, 0, 24, 0, 0, 0]);
    for frag in [&b"\xff\xd8ab"[..], b"cd\xff\xd9", b"\xff\xd8\xff\xd9"] {
        ds.extend_from_slice(&[0xfe, 0xff, 0, 0xe0, 4, 0, 0, 0]);
        ds.extend_from_slice(frag);
    }
    ds.extend_from_slice(&[0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
    out.push((
        "jpeg-offset-table.dcm".into(),
        raw_file("1.2.840.10008.1.2.4.50", &ds),
    ));
    out
}

#[test]
fn seed_corpus_is_current_and_parses() {
    let dir = seeds_dir();
    let seeds = seeds();
    if std::env::var_os("STOWAGE_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).expect("creating the seed directory");
        for (name, bytes) in &seeds {
            std::fs::write(dir.join(name), bytes).expect("writing a seed");
        }
    }
    let mut total = 0;
    for (name, bytes) in &seeds {
        let path = dir.join(name);
        let stored = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with STOWAGE_WRITE_FUZZ_SEEDS=1 to write the seeds)",
                path.display()
            )
        });
        assert!(
            stored == *bytes,
            "{name} differs from what the writer makes: rerun with STOWAGE_WRITE_FUZZ_SEEDS=1"
        );
        let f = parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        if name == "jpeg-offset-table.dcm" {
            assert_eq!(f.frame_count(), 2);
            assert_eq!(f.raw_frame(0).unwrap().bytes, b"\xff\xd8abcd\xff\xd9");
            assert_eq!(f.raw_frame(1).unwrap().bytes, b"\xff\xd8\xff\xd9");
        }
        total += bytes.len();
    }
    let on_disk = std::fs::read_dir(&dir).expect("listing the seeds").count();
    assert_eq!(on_disk, seeds.len(), "stray files in {}", dir.display());
    assert!(total < 200 * 1024, "seed corpus of {total} bytes");
}
