//! Round trips through the writer and the parser, JSON rendering, content,
//! frames, and robustness against truncated input.

use serde_json::json;
use stowage_core::ResourceType;
use stowage_dicom::writer::{DatasetBuilder, DicomBuilder, TransferSyntax};
use stowage_dicom::*;

const ALL_TS: [TransferSyntax; 5] = [
    TransferSyntax::ImplicitVrLittleEndian,
    TransferSyntax::ExplicitVrLittleEndian,
    TransferSyntax::ExplicitVrBigEndian,
    TransferSyntax::DeflatedExplicitVrLittleEndian,
    TransferSyntax::Encapsulated("1.2.840.10008.1.2.5"),
];

fn t(g: u16, e: u16) -> Tag {
    Tag::new(g, e)
}

fn sample(ts: TransferSyntax, undefined: bool) -> Vec<u8> {
    let item = |uid: &str| {
        DatasetBuilder::new()
            .string(t(0x0008, 0x1150), "UI", "1.2.840.10008.3.1.2.3.1")
            .string(t(0x0008, 0x1155), "UI", uid)
    };
    let nested = DatasetBuilder::new()
        .string(t(0x0040, 0x0009), "SH", "SPS-1")
        .sequence(
            t(0x0040, 0x0008),
            vec![DatasetBuilder::new().string(t(0x0008, 0x0100), "SH", "PROT-1")],
        );
    let b = DicomBuilder::new(ts)
        .undefined_lengths(undefined)
        .sop("1.2.840.10008.5.1.4.1.1.7", "1.2.3.4.5")
        .string(t(0x0008, 0x0005), "CS", "ISO_IR 100")
        .raw(t(0x0010, 0x0010), "PN", b"M\xfcller^J\xfcrgen")
        .string(t(0x0010, 0x0020), "LO", "PAT1")
        .string(t(0x0010, 0x0040), "CS", "")
        .string(t(0x0020, 0x000d), "UI", "1.2.3")
        .string(t(0x0020, 0x000e), "UI", "1.2.3.4")
        .string(t(0x0028, 0x0034), "IS", "1\\1")
        .string(t(0x0010, 0x21b0), "LT", &"x".repeat(300))
        .f64(t(0x0018, 0x9087), 1000.0)
        .raw(t(0x0028, 0x0009), "AT", &[0x18, 0x00, 0x63, 0x10])
        .string(t(0x0009, 0x0010), "LO", "MY_CREATOR")
        .string(t(0x0009, 0x1001), "LO", "private text")
        .u16(t(0x0009, 0x1002), 42)
        .sequence(t(0x0008, 0x1110), vec![item("1.2.9.1"), item("1.2.9.2")])
        .sequence(t(0x0008, 0x1120), vec![])
        .sequence(t(0x0040, 0x0275), vec![nested]);
    let b = match ts {
        TransferSyntax::Encapsulated(_) => {
            b.pixel_data_encapsulated(vec![vec![1, 2, 3], vec![4, 5, 6, 7]])
        }
        _ => b.pixel_data_native(2, 2, 16, 1, 2, (0u8..16).collect()),
    };
    b.build()
}

#[test]
fn round_trip_every_transfer_syntax() {
    for ts in ALL_TS {
        for undefined in [false, true] {
            let bytes = sample(ts, undefined);
            let f = parse(&bytes).unwrap_or_else(|e| panic!("{ts:?}: {e}"));
            assert_eq!(f.transfer_syntax_uid(), ts.uid());
            assert_eq!(
                f.string(t(0x0010, 0x0010)).as_deref(),
                Some("Müller^Jürgen"),
                "{ts:?}"
            );
            assert_eq!(f.string(t(0x0008, 0x0018)).as_deref(), Some("1.2.3.4.5"));
            assert_eq!(f.string(t(0x0028, 0x0034)).as_deref(), Some("1\\1"));
            let tags = f.tags_json(TagsFormat::Full);
            assert_eq!(
                tags["0010,21b0"],
                json!({"Name": "AdditionalPatientHistory", "Type": "TooLong", "Value": null})
            );
            assert_eq!(tags["0018,9087"]["Value"], "1000");
            assert_eq!(tags["0028,0009"]["Value"], "0018,1063", "{ts:?}");
            assert_eq!(tags["0010,0040"]["Value"], "");
            assert_eq!(
                tags["0008,1120"],
                json!({"Name": "ReferencedPatientSequence", "Type": "Sequence", "Value": []})
            );
            assert_eq!(
                tags["7fe0,0010"],
                json!({"Name": "PixelData", "Type": "Null", "Value": null})
            );
            let short = f.tags_json(TagsFormat::Short);
            assert_eq!(short["0040,0275"][0]["0040,0008"][0]["0008,0100"], "PROT-1");
            assert_eq!(short["0008,1110"][1]["0008,1155"], "1.2.9.2");
            let simple = f.tags_json(TagsFormat::Simplify);
            assert_eq!(
                simple["RequestAttributesSequence"][0]["ScheduledProtocolCodeSequence"][0]
                    ["CodeValue"],
                "PROT-1"
            );
            assert_eq!(simple["AdditionalPatientHistory"], serde_json::Value::Null);
            assert_eq!(simple["PrivateCreator"], "MY_CREATOR");
            if ts != TransferSyntax::ImplicitVrLittleEndian {
                // Implicit VR cannot carry the VR of unknown private tags.
                assert_eq!(
                    tags["0009,1002"],
                    json!({"Name": "Unknown Tag & Data", "PrivateCreator": "MY_CREATOR", "Type": "String", "Value": "42"})
                );
            }
            assert_eq!(tags["0009,1001"]["PrivateCreator"], "MY_CREATOR");
            assert_eq!(
                f.content(&["0040-0275", "0", "0040-0008", "0", "0008-0100"])
                    .unwrap(),
                Content::Bytes(b"PROT-1".to_vec())
            );
            assert_eq!(
                f.content(&["0010,0010"]).unwrap(),
                Content::Bytes(b"M\xfcller^J\xfcrgen ".to_vec())
            );
            assert_eq!(
                f.content(&["0008-1110"]).unwrap(),
                Content::Children(vec!["0".into(), "1".into()])
            );
            assert!(matches!(
                f.content(&["0008-1110", "2"]),
                Err(DicomError::OutOfRange)
            ));
            assert!(matches!(
                f.content(&["0011-0010"]),
                Err(DicomError::UnknownTag(_))
            ));
            assert_eq!(f.frame_count(), 2);
            assert!(matches!(f.raw_frame(2), Err(DicomError::OutOfRange)));
            match ts {
                TransferSyntax::Encapsulated(_) => {
                    assert_eq!(
                        f.content(&["7fe0-0010"]).unwrap(),
                        Content::Children(vec!["0".into(), "1".into(), "2".into()])
                    );
                    assert_eq!(f.raw_frame(1).unwrap().bytes, vec![4, 5, 6, 7]);
                    assert_eq!(f.raw_frame(0).unwrap().bytes, vec![1, 2, 3, 0]);
                }
                _ => {
                    assert_eq!(
                        f.content(&["7fe0-0010"]).unwrap(),
                        Content::Children(vec!["0".into()])
                    );
                    let fr = f.raw_frame(1).unwrap();
                    assert_eq!(fr.bytes, (8u8..16).collect::<Vec<_>>(), "{ts:?}");
                    assert_eq!(fr.mime, "application/octet-stream");
                }
            }
            let offset = f.pixel_data_offset();
            if ts == TransferSyntax::DeflatedExplicitVrLittleEndian {
                assert_eq!(offset, None);
            } else {
                let o = offset.expect("pixel data offset") as usize;
                let expected: &[u8] = if ts == TransferSyntax::ExplicitVrBigEndian {
                    &[0x7f, 0xe0, 0, 0x10]
                } else {
                    &[0xe0, 0x7f, 0x10, 0]
                };
                assert_eq!(&bytes[o..o + 4], expected);
            }
            let header = f.header_json(TagsFormat::Simplify);
            assert_eq!(header["TransferSyntaxUID"], ts.uid());
            assert!(header.get("FileMetaInformationVersion").is_none());
        }
    }
}

#[test]
fn utf8_and_no_pixel_data() {
    let bytes = DicomBuilder::new(TransferSyntax::ExplicitVrLittleEndian)
        .sop("1.2.840.10008.5.1.4.1.1.104.1", "1.2.3")
        .string(t(0x0008, 0x0005), "CS", "ISO_IR 192")
        .string(t(0x0010, 0x0010), "PN", "Yamada^Tarou=山田^太郎")
        .raw(t(0x0042, 0x0011), "OB", b"%PDF-1.4")
        .build();
    let f = parse(&bytes).unwrap();
    assert_eq!(
        f.string(t(0x0010, 0x0010)).as_deref(),
        Some("Yamada^Tarou=山田^太郎")
    );
    assert_eq!(f.pixel_data_offset(), None);
    assert_eq!(f.frame_count(), 1);
    assert!(matches!(f.raw_frame(0), Err(DicomError::NoPixelData)));
    assert_eq!(f.tags_json(TagsFormat::Full)["0042,0011"]["Type"], "Null");
    assert_eq!(
        f.content(&["0042-0011"]).unwrap(),
        Content::Bytes(b"%PDF-1.4".to_vec())
    );
}

#[test]
fn main_tags_and_modules() {
    let bytes = DicomBuilder::new(TransferSyntax::ExplicitVrLittleEndian)
        .sop("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4.5")
        .string(t(0x0008, 0x0020), "DA", "20200315")
        .string(t(0x0008, 0x0060), "CS", "CT")
        .string(t(0x0008, 0x0070), "LO", "ACME")
        .string(t(0x0010, 0x0010), "PN", "Doe^John")
        .string(t(0x0010, 0x0040), "CS", "")
        .string(t(0x0020, 0x000d), "UI", "1.2.3")
        .string(t(0x0020, 0x0013), "IS", "1")
        .build();
    let f = parse(&bytes).unwrap();
    let names = |l| {
        f.main_dicom_tags(l)
            .into_iter()
            .map(|(t, v)| (tag_name(t).unwrap(), v))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(ResourceType::Patient),
        vec![
            ("PatientName", "Doe^John".into()),
            ("PatientSex", "".into())
        ]
    );
    assert_eq!(
        names(ResourceType::Study),
        vec![
            ("StudyDate", "20200315".into()),
            ("StudyInstanceUID", "1.2.3".into())
        ]
    );
    assert_eq!(
        names(ResourceType::Series),
        vec![("Modality", "CT".into()), ("Manufacturer", "ACME".into())]
    );
    assert_eq!(
        names(ResourceType::Instance),
        vec![
            ("InstanceNumber", "1".into()),
            ("SOPInstanceUID", "1.2.3.4.5".into())
        ]
    );
    assert_eq!(
        f.module_json(ResourceType::Instance, TagsFormat::Simplify),
        json!({"InstanceNumber": "1", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.2", "SOPInstanceUID": "1.2.3.4.5"})
    );
    assert_eq!(
        f.module_json(ResourceType::Series, TagsFormat::Short),
        json!({"0008,0060": "CT"})
    );
    assert_eq!(
        main_tags::level_of(t(0x0008, 0x0060)),
        Some(ResourceType::Series)
    );
}

#[test]
fn invalid_inputs() {
    assert!(matches!(parse(&[]), Err(DicomError::Empty)));
    assert!(matches!(
        parse(b"hello world"),
        Err(DicomError::Invalid { size: 11, .. })
    ));
    assert!(matches!(
        parse(&[0u8; 300]),
        Err(DicomError::Invalid { .. })
    ));
    let e = parse(b"not dicom").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Cannot parse an invalid DICOM file (size: 9 bytes)"
    );
}

#[test]
fn every_prefix_parses_or_fails_cleanly() {
    for ts in ALL_TS {
        let bytes = sample(ts, ts == TransferSyntax::ExplicitVrLittleEndian);
        let mut parsed = 0;
        for n in 0..bytes.len() {
            if let Ok(f) = parse(&bytes[..n]) {
                parsed += 1;
                // Whatever parsed must be usable without panicking.
                let _ = f.tags_json(TagsFormat::Full);
                let _ = f.raw_frame(0);
                let _ = f.content(&["7fe0-0010", "0"]);
            }
        }
        // Cutting inside the pixel data (the last element) must be an error.
        assert!(parse(&bytes[..bytes.len() - 1]).is_err(), "{ts:?}");
        assert!(parsed < bytes.len());
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    let bytes = sample(TransferSyntax::ExplicitVrLittleEndian, true);
    for i in 132..bytes.len() {
        for v in [0x00, 0xff, 0x53] {
            let mut b = bytes.clone();
            b[i] = v;
            if let Ok(f) = parse(&b) {
                let _ = f.tags_json(TagsFormat::Simplify);
                let _ = f.raw_frame(1);
            }
        }
    }
}
