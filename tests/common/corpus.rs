//! The synthetic DICOM corpus, built with `stowage_dicom::writer`: samples and what the tests
//! know about them, Orthanc's identifiers, and generated instances (bursts, clusters, sizes).

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use stowage_dicom::writer::{DatasetBuilder, DicomBuilder, TransferSyntax};
use stowage_dicom::Tag;

// ---------------------------------------------------------------------------
// Identifiers
// ---------------------------------------------------------------------------

/// Orthanc's public ID: SHA-1 of the parts joined with `|`, 5 groups of 8 hex digits.
pub fn orthanc_id(parts: &[&str]) -> String {
    let digest = Sha1::digest(parts.join("|").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let groups: Vec<&str> = (0..5).map(|i| &hex[i * 8..i * 8 + 8]).collect();
    groups.join("-")
}

pub const EMPTY_PATIENT_ID: &str = "da39a3ee-5e6b4b0d-3255bfef-95601890-afd80709";

// ---------------------------------------------------------------------------
// Corpus
// ---------------------------------------------------------------------------

pub const UID_ROOT: &str = "1.2.826.0.1.3680043.8.498.99";
pub const CT_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
pub const MR_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.4";
pub const CR_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.1";
pub const SC_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.7";
pub const MF_BYTE_SC: &str = "1.2.840.10008.5.1.4.1.1.7.2";
pub const PDF_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.104.1";
pub const BASIC_TEXT_SR: &str = "1.2.840.10008.5.1.4.1.1.88.11";
pub const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";

pub fn t(group: u16, element: u16) -> Tag {
    Tag::new(group, element)
}

/// One synthetic DICOM file and what the test knows about it.
#[derive(Clone, Debug)]
pub struct Sample {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    /// `None` when the PatientID element is absent.
    pub patient_id: Option<String>,
    pub patient_name: String,
    pub patient_birth_date: String,
    pub patient_sex: String,
    pub study_uid: String,
    pub study_date: String,
    pub study_time: String,
    pub study_description: String,
    pub accession: String,
    pub institution: String,
    pub referring: String,
    pub series_uid: String,
    pub modality: String,
    pub series_description: String,
    pub series_number: String,
    pub sop_class: String,
    pub sop_uid: String,
    pub instance_number: String,
    pub transfer_syntax: &'static str,
    pub frames: u32,
    pub has_pixels: bool,
    pub charset: Option<&'static str>,
}

impl Sample {
    pub fn pid(&self) -> &str {
        self.patient_id.as_deref().unwrap_or("")
    }
    pub fn patient_id(&self) -> String {
        orthanc_id(&[self.pid()])
    }
    pub fn study_id(&self) -> String {
        orthanc_id(&[self.pid(), &self.study_uid])
    }
    pub fn series_id(&self) -> String {
        orthanc_id(&[self.pid(), &self.study_uid, &self.series_uid])
    }
    pub fn instance_id(&self) -> String {
        orthanc_id(&[self.pid(), &self.study_uid, &self.series_uid, &self.sop_uid])
    }

    pub fn patient_main_tags(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("PatientName".into(), json!(self.patient_name));
        if let Some(p) = &self.patient_id {
            m.insert("PatientID".into(), json!(p));
        }
        m.insert("PatientBirthDate".into(), json!(self.patient_birth_date));
        m.insert("PatientSex".into(), json!(self.patient_sex));
        Value::Object(m)
    }

    pub fn study_main_tags(&self) -> Value {
        json!({
            "StudyInstanceUID": self.study_uid,
            "StudyDate": self.study_date,
            "StudyTime": self.study_time,
            "StudyDescription": self.study_description,
            "AccessionNumber": self.accession,
            "StudyID": "1",
            "InstitutionName": self.institution,
            "ReferringPhysicianName": self.referring,
        })
    }

    pub fn series_main_tags(&self) -> Value {
        json!({
            "SeriesInstanceUID": self.series_uid,
            "Modality": self.modality,
            "SeriesDescription": self.series_description,
            "SeriesNumber": self.series_number,
            "Manufacturer": "ACME Synthetic",
            "SeriesDate": self.study_date,
            "SeriesTime": self.study_time,
        })
    }

    pub fn instance_main_tags(&self) -> Value {
        let mut v = json!({
            "SOPInstanceUID": self.sop_uid,
            "InstanceNumber": self.instance_number,
        });
        if self.frames > 1 {
            v["NumberOfFrames"] = json!(self.frames.to_string());
        }
        v
    }
}

/// The parameters of a sample before its file is built.
struct Spec {
    name: &'static str,
    ts: TransferSyntax,
    patient_id: Option<&'static str>,
    patient_name: &'static str,
    /// Raw bytes of the patient name when not UTF-8 (Latin-1).
    patient_name_raw: Option<Vec<u8>>,
    birth: &'static str,
    sex: &'static str,
    study: &'static str,
    study_date: &'static str,
    study_desc: &'static str,
    study_desc_raw: Option<Vec<u8>>,
    accession: &'static str,
    institution: &'static str,
    institution_raw: Option<Vec<u8>>,
    referring: &'static str,
    series: &'static str,
    modality: &'static str,
    series_desc: &'static str,
    series_number: &'static str,
    sop_class: &'static str,
    instance: &'static str,
    charset: Option<&'static str>,
}

impl Spec {
    fn new(name: &'static str, pid: &'static str, study: &'static str) -> Spec {
        Spec {
            name,
            ts: TransferSyntax::ExplicitVrLittleEndian,
            patient_id: Some(pid),
            patient_name: "Doe^John",
            patient_name_raw: None,
            birth: "19700101",
            sex: "M",
            study,
            study_date: "20200315",
            study_desc: "CT Chest",
            study_desc_raw: None,
            accession: "ACC001",
            institution: "Test Hospital",
            institution_raw: None,
            referring: "House^Gregory",
            series: "1",
            modality: "CT",
            series_desc: "Axial 5mm",
            series_number: "1",
            sop_class: CT_IMAGE,
            instance: "1",
            charset: None,
        }
    }

    fn study_uid(&self) -> String {
        format!("{UID_ROOT}.{}", self.study)
    }
    fn series_uid(&self) -> String {
        format!("{UID_ROOT}.{}.{}", self.study, self.series)
    }
    fn sop_uid(&self) -> String {
        format!(
            "{UID_ROOT}.{}.{}.{}",
            self.study, self.series, self.instance
        )
    }

    /// The common tags of every file.
    fn builder(&self) -> DicomBuilder {
        let mut b = DicomBuilder::new(self.ts).sop(self.sop_class, &self.sop_uid());
        if let Some(cs) = self.charset {
            b = b.string(t(0x0008, 0x0005), "CS", cs);
        }
        b = b
            .string(t(0x0008, 0x0020), "DA", self.study_date)
            .string(t(0x0008, 0x0021), "DA", self.study_date)
            .string(t(0x0008, 0x0030), "TM", "101500")
            .string(t(0x0008, 0x0031), "TM", "101500")
            .string(t(0x0008, 0x0050), "SH", self.accession)
            .string(t(0x0008, 0x0060), "CS", self.modality)
            .string(t(0x0008, 0x0070), "LO", "ACME Synthetic")
            .string(t(0x0008, 0x0090), "PN", self.referring)
            .string(t(0x0008, 0x103e), "LO", self.series_desc)
            .string(t(0x0010, 0x0030), "DA", self.birth)
            .string(t(0x0010, 0x0040), "CS", self.sex)
            .string(t(0x0020, 0x000d), "UI", &self.study_uid())
            .string(t(0x0020, 0x000e), "UI", &self.series_uid())
            .string(t(0x0020, 0x0010), "SH", "1")
            .string(t(0x0020, 0x0011), "IS", self.series_number)
            .string(t(0x0020, 0x0013), "IS", self.instance);
        b = match &self.patient_name_raw {
            Some(raw) => b.raw(t(0x0010, 0x0010), "PN", raw),
            None => b.string(t(0x0010, 0x0010), "PN", self.patient_name),
        };
        b = match &self.study_desc_raw {
            Some(raw) => b.raw(t(0x0008, 0x1030), "LO", raw),
            None => b.string(t(0x0008, 0x1030), "LO", self.study_desc),
        };
        b = match &self.institution_raw {
            Some(raw) => b.raw(t(0x0008, 0x0080), "LO", raw),
            None => b.string(t(0x0008, 0x0080), "LO", self.institution),
        };
        if let Some(pid) = self.patient_id {
            b = b.string(t(0x0010, 0x0020), "LO", pid);
        }
        b
    }

    fn finish(self, bytes: Vec<u8>, frames: u32, has_pixels: bool) -> Sample {
        Sample {
            name: self.name,
            bytes,
            patient_id: self.patient_id.map(str::to_owned),
            patient_name: self.patient_name.to_owned(),
            patient_birth_date: self.birth.to_owned(),
            patient_sex: self.sex.to_owned(),
            study_uid: self.study_uid(),
            study_date: self.study_date.to_owned(),
            study_time: "101500".to_owned(),
            study_description: self.study_desc.to_owned(),
            accession: self.accession.to_owned(),
            institution: self.institution.to_owned(),
            referring: self.referring.to_owned(),
            series_uid: self.series_uid(),
            modality: self.modality.to_owned(),
            series_description: self.series_desc.to_owned(),
            series_number: self.series_number.to_owned(),
            sop_class: self.sop_class.to_owned(),
            sop_uid: self.sop_uid(),
            instance_number: self.instance.to_owned(),
            transfer_syntax: self.ts.uid(),
            frames,
            has_pixels,
            charset: self.charset,
        }
    }

    /// A 16-bit grayscale image of `n` x `n` pixels with a pattern depending on `seed`.
    fn image16(self, n: u16, seed: u16) -> Sample {
        let data: Vec<u8> = (0..n as u32 * n as u32)
            .flat_map(|i| ((i as u16).wrapping_mul(7).wrapping_add(seed)).to_le_bytes())
            .collect();
        let bytes = self
            .builder()
            .string(t(0x0028, 0x1050), "DS", "40")
            .string(t(0x0028, 0x1051), "DS", "400")
            .pixel_data_native(n, n, 16, 1, 1, data)
            .build();
        self.finish(bytes, 1, true)
    }
}

/// 16-bit pixel words of the 16x16 image of [`corpus`]'s CT #1.
pub fn ct1_pixels() -> Vec<u8> {
    (0..16u32 * 16)
        .flat_map(|i| ((i as u16).wrapping_mul(7).wrapping_add(1)).to_le_bytes())
        .collect()
}

/// A fake JPEG bitstream (SOI ... EOI); never decoded by the tests.
pub fn fake_jpeg() -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    v.extend_from_slice(b"JFIF\0");
    v.extend((0..101u32).map(|i| (i * 13 % 251) as u8));
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

pub const LT_300: usize = 300;

pub fn long_text() -> String {
    (0..LT_300)
        .map(|i| char::from(b'0' + (i % 10) as u8))
        .collect()
}

pub const PDF_BYTES: &[u8] =
    b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

/// The synthetic corpus, in upload order. 8 patients, 10 studies, 15 series, 19 instances.
pub fn corpus() -> Vec<Sample> {
    let mut out = Vec::new();

    // PAT001, study 1: a CT series of 3 instances (Explicit VR LE).
    for i in 1..=3u16 {
        let mut s = Spec::new(["ct1", "ct2", "ct3"][i as usize - 1], "PAT001", "1.1");
        s.instance = ["1", "2", "3"][i as usize - 1];
        out.push(s.image16(16, i));
    }
    // PAT001, study 2: an MR series of 2 instances.
    for i in 1..=2u16 {
        let mut s = Spec::new(["mr1", "mr2"][i as usize - 1], "PAT001", "1.2");
        s.study_date = "20210620";
        s.study_desc = "MR Brain";
        s.accession = "ACC002";
        s.modality = "MR";
        s.series_desc = "T1 axial";
        s.sop_class = MR_IMAGE;
        s.instance = ["1", "2"][i as usize - 1];
        out.push(s.image16(8, 100 + i));
    }
    // PAT002: a CR study of 2 instances.
    for i in 1..=2u16 {
        let mut s = Spec::new(["cr1", "cr2"][i as usize - 1], "PAT002", "2.1");
        s.patient_name = "Smith^Jane";
        s.birth = "19851224";
        s.sex = "F";
        s.study_date = "20200901";
        s.study_desc = "CR Thorax";
        s.accession = "ACC003";
        s.modality = "CR";
        s.series_desc = "PA view";
        s.sop_class = CR_IMAGE;
        s.referring = "Wilson^James";
        s.instance = ["1", "2"][i as usize - 1];
        out.push(s.image16(8, 200 + i));
    }
    // PAT-FMT: one study, one series per encoding.
    let fmt = |name, series, modality, ts| {
        let mut s = Spec::new(name, "PAT-FMT", "3.1");
        s.patient_name = "Formats^Test";
        s.birth = "19900202";
        s.sex = "O";
        s.study_date = "20190101";
        s.study_desc = "Encoding zoo";
        s.accession = "ACC004";
        s.series = series;
        s.series_number = series;
        s.modality = modality;
        s.series_desc = name;
        s.sop_class = SC_IMAGE;
        s.ts = ts;
        s
    };
    out.push(
        fmt(
            "implicit",
            "1",
            "CT",
            TransferSyntax::ImplicitVrLittleEndian,
        )
        .image16(8, 301),
    );
    out.push(fmt("bigendian", "2", "MR", TransferSyntax::ExplicitVrBigEndian).image16(8, 302));
    out.push(
        fmt(
            "deflated",
            "3",
            "OT",
            TransferSyntax::DeflatedExplicitVrLittleEndian,
        )
        .image16(32, 303),
    );
    {
        let s = fmt(
            "jpeg",
            "4",
            "XC",
            TransferSyntax::Encapsulated(JPEG_BASELINE),
        );
        let bytes = s
            .builder()
            .u16(t(0x0028, 0x0002), 3)
            .string(t(0x0028, 0x0004), "CS", "YBR_FULL_422")
            .u16(t(0x0028, 0x0006), 0)
            .u16(t(0x0028, 0x0010), 8)
            .u16(t(0x0028, 0x0011), 8)
            .u16(t(0x0028, 0x0100), 8)
            .u16(t(0x0028, 0x0101), 8)
            .u16(t(0x0028, 0x0102), 7)
            .u16(t(0x0028, 0x0103), 0)
            .pixel_data_encapsulated(vec![fake_jpeg()])
            .build();
        out.push(s.finish(bytes, 1, true));
    }
    {
        let mut s = fmt(
            "multiframe",
            "5",
            "OT",
            TransferSyntax::ExplicitVrLittleEndian,
        );
        s.sop_class = MF_BYTE_SC;
        let data: Vec<u8> = (0..4 * 4 * 4u32).map(|i| (i * 3) as u8).collect();
        let bytes = s.builder().pixel_data_native(4, 4, 8, 1, 4, data).build();
        out.push(s.finish(bytes, 4, true));
    }
    // PAT-LATIN1: ISO_IR 100 written as Latin-1 bytes.
    {
        let mut s = Spec::new("latin1", "PAT-LATIN1", "4.1");
        s.patient_name = "Müller^Jürgen";
        s.patient_name_raw = Some(latin1("Müller^Jürgen"));
        s.birth = "19600606";
        s.study_date = "20190505";
        s.study_desc = "Schädel nativ";
        s.study_desc_raw = Some(latin1("Schädel nativ"));
        s.institution = "Klinik Göttingen";
        s.institution_raw = Some(latin1("Klinik Göttingen"));
        s.accession = "ACC005";
        s.charset = Some("ISO_IR 100");
        out.push(s.image16(4, 401));
    }
    // PAT-UTF8: ISO_IR 192.
    {
        let mut s = Spec::new("utf8", "PAT-UTF8", "5.1");
        s.patient_name = "Yamada^Tarou=山田^太郎=やまだ^たろう";
        s.birth = "19750707";
        s.study_date = "20220202";
        s.study_desc = "Μελέτη εγκεφάλου";
        s.accession = "ACC006";
        s.modality = "MR";
        s.series_desc = "山田 series";
        s.sop_class = MR_IMAGE;
        s.charset = Some("ISO_IR 192");
        out.push(s.image16(4, 501));
    }
    // PAT-SEQ: sequences (undefined lengths), private tags, a 300-char LT.
    {
        let mut s = Spec::new("sequences", "PAT-SEQ", "6.1");
        s.patient_name = "Sequence^Private";
        s.birth = "19800808";
        s.sex = "F";
        s.study_date = "20200707";
        s.study_desc = "Sequences and private tags";
        s.accession = "ACC007";
        s.modality = "OT";
        s.series_desc = "Nested sequences";
        s.sop_class = SC_IMAGE;
        let item = |uid: &str| {
            DatasetBuilder::new()
                .string(t(0x0008, 0x1150), "UI", "1.2.840.10008.3.1.2.3.1")
                .string(t(0x0008, 0x1155), "UI", uid)
        };
        let deepest = DatasetBuilder::new()
            .string(t(0x0040, 0xa040), "CS", "TEXT")
            .string(t(0x0040, 0xa160), "UT", "deepest level");
        let code = DatasetBuilder::new()
            .string(t(0x0008, 0x0100), "SH", "PROT-1")
            .string(t(0x0008, 0x0102), "SH", "99ACME")
            .string(t(0x0008, 0x0104), "LO", "Synthetic protocol")
            .sequence(t(0x0040, 0x0440), vec![deepest]);
        let request = DatasetBuilder::new()
            .sequence(t(0x0040, 0x0008), vec![code])
            .string(t(0x0040, 0x0009), "SH", "SPS-1")
            .string(t(0x0040, 0x1001), "SH", "RP-1");
        let bytes = s
            .builder()
            .undefined_lengths(true)
            .sequence(
                t(0x0008, 0x1110),
                vec![
                    item(&format!("{UID_ROOT}.6.9.1")),
                    item(&format!("{UID_ROOT}.6.9.2")),
                ],
            )
            .sequence(t(0x0008, 0x1120), vec![])
            .string(t(0x0009, 0x0010), "LO", "STOWAGE_TEST")
            .string(t(0x0009, 0x1001), "LO", "private text value")
            .u16(t(0x0009, 0x1002), 42)
            .string(t(0x0010, 0x21b0), "LT", &long_text())
            .sequence(t(0x0040, 0x0275), vec![request])
            .pixel_data_native(4, 4, 8, 1, 1, (0..16u8).collect())
            .build();
        out.push(s.finish(bytes, 1, true));
    }
    // PAT-DOC: an encapsulated PDF and a Basic Text SR, without pixel data.
    {
        let mut s = Spec::new("pdf", "PAT-DOC", "7.1");
        s.patient_name = "Document^NoPixel";
        s.birth = "19950909";
        s.sex = "F";
        s.study_date = "20211111";
        s.study_desc = "Documents";
        s.accession = "ACC008";
        s.modality = "DOC";
        s.series_desc = "PDF";
        s.sop_class = PDF_STORAGE;
        let bytes = s
            .builder()
            .string(t(0x0042, 0x0012), "LO", "application/pdf")
            .raw(t(0x0042, 0x0011), "OB", PDF_BYTES)
            .build();
        out.push(s.finish(bytes, 1, false));
    }
    {
        let mut s = Spec::new("sr", "PAT-DOC", "7.1");
        s.patient_name = "Document^NoPixel";
        s.birth = "19950909";
        s.sex = "F";
        s.study_date = "20211111";
        s.study_desc = "Documents";
        s.accession = "ACC008";
        s.modality = "SR";
        s.series = "2";
        s.series_number = "2";
        s.series_desc = "Report";
        s.sop_class = BASIC_TEXT_SR;
        let bytes = s
            .builder()
            .string(t(0x0040, 0xa040), "CS", "CONTAINER")
            .build();
        out.push(s.finish(bytes, 1, false));
    }
    // No PatientID: empty, then absent (same patient "").
    {
        let mut s = Spec::new("noid-empty", "", "8.1");
        s.patient_name = "NoPatientId^Empty";
        s.birth = "20000101";
        s.study_date = "20000101";
        s.study_desc = "No id empty";
        s.accession = "ACC009";
        s.modality = "OT";
        out.push(s.image16(2, 801));
    }
    {
        let mut s = Spec::new("noid-absent", "", "9.1");
        s.patient_id = None;
        s.patient_name = "NoPatientId^Absent";
        s.birth = "20000102";
        s.study_date = "20000102";
        s.study_desc = "No id absent";
        s.accession = "ACC010";
        s.modality = "OT";
        out.push(s.image16(2, 901));
    }
    out
}

pub fn latin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(c as u32).expect("latin-1"))
        .collect()
}

pub fn by_name<'a>(corpus: &'a [Sample], name: &str) -> &'a Sample {
    corpus
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no sample {name}"))
}

/// Distinct IDs at each level, in order of first appearance.
pub struct Expected {
    pub patients: Vec<String>,
    pub studies: Vec<String>,
    pub series: Vec<String>,
    pub instances: Vec<String>,
}

pub fn expected(corpus: &[Sample]) -> Expected {
    fn push(v: &mut Vec<String>, id: String) {
        if !v.contains(&id) {
            v.push(id);
        }
    }
    let mut e = Expected {
        patients: vec![],
        studies: vec![],
        series: vec![],
        instances: vec![],
    };
    for s in corpus {
        push(&mut e.patients, s.patient_id());
        push(&mut e.studies, s.study_id());
        push(&mut e.series, s.series_id());
        push(&mut e.instances, s.instance_id());
    }
    e
}

pub fn total_size(corpus: &[Sample]) -> u64 {
    corpus.iter().map(|s| s.bytes.len() as u64).sum()
}

/// Groups samples by a key (e.g. the study ID).
pub fn group_by<F: Fn(&Sample) -> String>(
    corpus: &[Sample],
    f: F,
) -> BTreeMap<String, Vec<&Sample>> {
    let mut m: BTreeMap<String, Vec<&Sample>> = BTreeMap::new();
    for s in corpus {
        m.entry(f(s)).or_default().push(s);
    }
    m
}

/// A well-formed sample that is not part of [`corpus`], for ad-hoc tests.
pub fn extra_instance(
    pid: &'static str,
    study: &'static str,
    series: &'static str,
    instance: &'static str,
) -> Sample {
    let mut s = Spec::new("extra", pid, study);
    s.series = series;
    s.instance = instance;
    s.image16(8, 7)
}

/// The `i`-th instance of a burst: 4 patients, 1 study each, 2 series each.
pub fn burst_instance(i: usize) -> Sample {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut s = Spec::new(
        "burst",
        leak(format!("BURST{}", i % 4)),
        leak(format!("90.{}", i % 4)),
    );
    s.series = leak(format!("{}", i % 2 + 1));
    s.instance = leak(format!("{}", i + 1));
    s.image16(8, i as u16)
}

/// An extra instance with a large, compressible pixel area.
pub fn big_compressible(pid: &'static str) -> Sample {
    let mut s = Spec::new("big", pid, "77.1");
    s.instance = "1";
    let data = vec![0u8; 128 * 128 * 2];
    let bytes = s
        .builder()
        .pixel_data_native(128, 128, 16, 1, 1, data)
        .build();
    s.finish(bytes, 1, true)
}

/// A corpus for clusters: `patients` patients, 2 or 3 studies each, 2 series per study,
/// 2 or 3 instances per series, 8x8 images. `run` keeps the UIDs of two corpora apart.
/// Ordered patient by patient, study by study, series by series.
pub fn cluster_corpus(run: u32, patients: usize) -> Vec<Sample> {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut out = Vec::new();
    for p in 0..patients {
        for st in 0..2 + p % 2 {
            for se in 0..2usize {
                for i in 0..2 + (p + st + se) % 2 {
                    let mut s = Spec::new(
                        "cluster",
                        leak(format!("CLUSTER{run}-{p}")),
                        leak(format!("{run}.{p}.{st}")),
                    );
                    s.patient_name = leak(format!("Cluster^P{p}"));
                    s.series = leak(format!("{}", se + 1));
                    s.series_number = s.series;
                    s.instance = leak(format!("{}", i + 1));
                    let seed = (p * 1000 + st * 100 + se * 10 + i) as u16;
                    out.push(s.image16(8, seed));
                }
            }
        }
    }
    out
}

/// The `i`-th instance of a generated study (patient `pid`, study `90.<study>`, one series)
/// with a `side`x`side` 16-bit image (archives, jobs).
pub fn sized_instance(pid: &'static str, study: &'static str, i: usize, side: u16) -> Sample {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut s = Spec::new("sized", pid, study);
    s.instance = leak(format!("{}", i + 1));
    s.image16(side, i as u16)
}
