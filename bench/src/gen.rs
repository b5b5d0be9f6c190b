//! Synthetic CT/MR instances built with `stowage_dicom::writer::DicomBuilder`.
//!
//! Layout: patients -> studies -> series -> instances. Every UID carries a run
//! id (time-based unless given) so repeated runs never collide, and PatientIDs
//! carry a short run tag for the same reason.

use stowage_dicom::writer::{DicomBuilder, TransferSyntax};
use stowage_dicom::Tag;

const ROOT: &str = "1.2.826.0.1.3680043.8.498";
const CT_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
const MR_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.4";

const LAST: &[&str] = &[
    "SMITH",
    "JOHNSON",
    "WILLIAMS",
    "BROWN",
    "JONES",
    "GARCIA",
    "MILLER",
    "DAVIS",
    "RODRIGUEZ",
    "MARTINEZ",
    "HERNANDEZ",
    "LOPEZ",
    "GONZALEZ",
    "WILSON",
    "ANDERSON",
    "THOMAS",
    "TAYLOR",
    "MOORE",
    "JACKSON",
    "MARTIN",
    "LEE",
    "PEREZ",
    "THOMPSON",
    "WHITE",
    "HARRIS",
    "SANCHEZ",
    "CLARK",
    "RAMIREZ",
    "LEWIS",
    "ROBINSON",
    "WALKER",
    "YOUNG",
    "ALLEN",
    "KING",
    "WRIGHT",
    "SCOTT",
    "TORRES",
    "NGUYEN",
    "HILL",
    "FLORES",
    "DUBOIS",
    "LAMBERT",
    "PEETERS",
    "JANSSENS",
    "MAES",
    "JACOBS",
    "MERTENS",
    "WILLEMS",
    "CLAES",
    "GOOSSENS",
];
const FIRST: &[&str] = &[
    "JAMES",
    "MARY",
    "ROBERT",
    "PATRICIA",
    "JOHN",
    "JENNIFER",
    "MICHAEL",
    "LINDA",
    "DAVID",
    "ELIZABETH",
    "WILLIAM",
    "BARBARA",
    "RICHARD",
    "SUSAN",
    "JOSEPH",
    "JESSICA",
    "THOMAS",
    "SARAH",
    "CHARLES",
    "KAREN",
    "LUC",
    "MARIE",
    "SOPHIE",
    "PIERRE",
    "ANNA",
    "PETER",
];
const CT_DESC: &[&str] = &[
    "CT CHEST W CONTRAST",
    "CT ABDOMEN PELVIS",
    "CT HEAD WO CONTRAST",
    "CT ANGIO CHEST",
    "CT SPINE LUMBAR",
];
const MR_DESC: &[&str] = &[
    "MR BRAIN W WO CONTRAST",
    "MR KNEE LEFT",
    "MR LUMBAR SPINE",
    "MR PROSTATE",
];
const BODY: &[&str] = &["CHEST", "ABDOMEN", "HEAD", "SPINE", "KNEE", "PELVIS"];

/// SplitMix64: deterministic pseudo-random numbers from a seed.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub struct Layout {
    pub run_id: u64,
    pub instances: usize,
    pub studies_per_patient: usize,
    pub series_per_study: usize,
    pub instances_per_series: usize,
    pub target_bytes: usize,
    /// Per-instance CT-like phantom pixels (`--pixels phantom`) instead of one
    /// shared gradient buffer stamped with the index (`--pixels gradient`).
    pub phantom: bool,
}

impl Layout {
    pub fn per_patient(&self) -> usize {
        self.studies_per_patient * self.series_per_study * self.instances_per_series
    }
    pub fn patients(&self) -> usize {
        self.instances.div_ceil(self.per_patient().max(1))
    }
    fn run_tag(&self) -> String {
        // Base-36 of the low bits of the run id: short and unique enough per run.
        let mut n = self.run_id % 36u64.pow(6);
        let mut s = Vec::new();
        for _ in 0..6 {
            let d = (n % 36) as u8;
            s.push(if d < 10 { b'0' + d } else { b'A' + d - 10 });
            n /= 36;
        }
        s.reverse();
        String::from_utf8(s).unwrap_or_default()
    }
}

/// Default run id: milliseconds since the Unix epoch.
pub fn default_run_id() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(1)
}

fn pick<'a>(list: &[&'a str], seed: u64) -> &'a str {
    list[(mix(seed) % list.len() as u64) as usize]
}

fn t(g: u16, e: u16) -> Tag {
    Tag::new(g, e)
}

/// Builds instance number `index` (0-based) of the layout.
pub fn instance(l: &Layout, index: usize, pixel_cols: u16, pixels: &[u8]) -> Vec<u8> {
    let ips = l.instances_per_series;
    let per_study = ips * l.series_per_study;
    let per_patient = per_study * l.studies_per_patient;
    let p = index / per_patient + 1;
    let s = (index % per_patient) / per_study + 1;
    let se = (index % per_study) / ips + 1;
    let i = index % ips + 1;
    let run = l.run_id;
    let pseed = run.wrapping_mul(1_000_003).wrapping_add(p as u64);
    let sseed = mix(pseed).wrapping_add(s as u64);

    let patient_id = format!("{}-{:05}", l.run_tag(), p);
    let patient_name = format!("{}^{}", pick(LAST, pseed), pick(FIRST, pseed ^ 0x55));
    let birth_year = 1930 + mix(pseed ^ 7) % 80;
    let birth = format!(
        "{birth_year}{:02}{:02}",
        1 + mix(pseed ^ 8) % 12,
        1 + mix(pseed ^ 9) % 28
    );
    let sex = if mix(pseed ^ 3).is_multiple_of(2) {
        "M"
    } else {
        "F"
    };

    let mr = mix(sseed ^ 11) % 10 < 3;
    let modality = if mr { "MR" } else { "CT" };
    let year = 2000 + mix(sseed ^ 12) % 25;
    let study_date = format!(
        "{year}{:02}{:02}",
        1 + mix(sseed ^ 13) % 12,
        1 + mix(sseed ^ 14) % 28
    );
    let study_time = format!(
        "{:02}{:02}{:02}",
        7 + mix(sseed ^ 15) % 12,
        mix(sseed ^ 16) % 60,
        mix(sseed ^ 17) % 60
    );
    let study_desc = pick(if mr { MR_DESC } else { CT_DESC }, sseed ^ 18);
    let accession = format!("A{}{:03}{:02}", run % 100_000, p % 1000, s);

    let study_uid = format!("{ROOT}.{run}.1.{p}.{s}");
    let series_uid = format!("{ROOT}.{run}.2.{p}.{s}.{se}");
    let sop_uid = format!("{ROOT}.{run}.3.{p}.{s}.{se}.{i}");
    let frame_uid = format!("{ROOT}.{run}.4.{p}.{s}.{se}");

    let px = if l.phantom {
        let rows = 512usize;
        let cols = (pixels.len() / 2 / rows).max(1);
        let slice = i as f64 / ips.max(1) as f64;
        phantom(
            rows,
            cols,
            slice,
            mix(run ^ (index as u64).wrapping_mul(0x9E37)),
        )
    } else {
        // Make each pixel buffer distinct (its first bytes carry the index).
        let mut px = pixels.to_vec();
        let stamp = (index as u64 ^ run).to_le_bytes();
        let n = stamp.len().min(px.len());
        px[..n].copy_from_slice(&stamp[..n]);
        px
    };

    DicomBuilder::new(TransferSyntax::ExplicitVrLittleEndian)
        .sop(if mr { MR_IMAGE } else { CT_IMAGE }, &sop_uid)
        .string(t(0x0008, 0x0005), "CS", "ISO_IR 100")
        .string(t(0x0008, 0x0008), "CS", "ORIGINAL\\PRIMARY\\AXIAL")
        .string(t(0x0008, 0x0020), "DA", &study_date)
        .string(t(0x0008, 0x0021), "DA", &study_date)
        .string(t(0x0008, 0x0023), "DA", &study_date)
        .string(t(0x0008, 0x0030), "TM", &study_time)
        .string(t(0x0008, 0x0031), "TM", &study_time)
        .string(t(0x0008, 0x0033), "TM", &study_time)
        .string(t(0x0008, 0x0050), "SH", &accession)
        .string(t(0x0008, 0x0060), "CS", modality)
        .string(t(0x0008, 0x0070), "LO", "STOWAGE BENCH")
        .string(t(0x0008, 0x0080), "LO", "GENERAL HOSPITAL")
        .string(t(0x0008, 0x0090), "PN", "HOUSE^GREGORY")
        .string(t(0x0008, 0x1030), "LO", study_desc)
        .string(t(0x0008, 0x103e), "LO", &format!("SERIES {se} {modality}"))
        .string(t(0x0010, 0x0010), "PN", &patient_name)
        .string(t(0x0010, 0x0020), "LO", &patient_id)
        .string(t(0x0010, 0x0030), "DA", &birth)
        .string(t(0x0010, 0x0040), "CS", sex)
        .string(t(0x0018, 0x0015), "CS", pick(BODY, sseed ^ 19))
        .string(t(0x0018, 0x0050), "DS", "1.25")
        .string(t(0x0018, 0x0060), "DS", if mr { "" } else { "120" })
        .string(t(0x0020, 0x000d), "UI", &study_uid)
        .string(t(0x0020, 0x000e), "UI", &series_uid)
        .string(t(0x0020, 0x0010), "SH", &format!("{s}"))
        .string(t(0x0020, 0x0011), "IS", &format!("{se}"))
        .string(t(0x0020, 0x0013), "IS", &format!("{i}"))
        .string(
            t(0x0020, 0x0032),
            "DS",
            &format!("-250\\-250\\{:.2}", i as f64 * 1.25),
        )
        .string(t(0x0020, 0x0037), "DS", "1\\0\\0\\0\\1\\0")
        .string(t(0x0020, 0x0052), "UI", &frame_uid)
        .string(t(0x0028, 0x0030), "DS", "0.7\\0.7")
        .string(t(0x0028, 0x1050), "DS", "40")
        .string(t(0x0028, 0x1051), "DS", "400")
        .string(t(0x0028, 0x1052), "DS", "-1024")
        .string(t(0x0028, 0x1053), "DS", "1")
        .pixel_data_native(512, pixel_cols, 16, 1, 1, px)
        .build()
}

/// Chooses the pixel columns (rows are 512, 16 bits) so that a file is about
/// `target_bytes`, and returns them with a base pixel buffer.
pub fn pixels_for(l: &Layout) -> (u16, Vec<u8>) {
    let probe = instance(l, 0, 1, &[0u8; 1024]);
    let header = probe.len() - 1024;
    let cols = (l.target_bytes.saturating_sub(header) / 1024).clamp(1, 4096) as u16;
    let n = 512 * cols as usize * 2;
    let mut px = vec![0u8; n];
    for (k, c) in px.chunks_mut(2).enumerate() {
        // A smooth gradient with some noise, values below 4096 (12 bits used).
        let v = ((k % 512) as u64 * 4 + (mix(k as u64) % 64)) as u16 & 0x0fff;
        c.copy_from_slice(&v.to_le_bytes());
    }
    (cols, px)
}

/// A CT-like axial slice, 12 bits stored as u16 (value = HU + 1024): air around
/// an elliptic body (size varying with `slice` in 0..1) made of a fat rim, soft
/// tissue with a slow density variation, two lungs and a vertebra, plus white
/// noise (sigma ~12 HU inside the body, ~4 outside), different for every `seed`.
pub fn phantom(rows: usize, cols: usize, slice: f64, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows * cols * 2);
    let mut state = seed | 1;
    let mut noise = || {
        // xorshift64; the sum of four bytes is roughly Gaussian (sigma ~148).
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let b = state.to_le_bytes();
        (b[0] as i32 + b[1] as i32 + b[2] as i32 + b[3] as i32 - 510) as f64 / 148.0
    };
    let body_v = 0.72 + 0.12 * (slice * std::f64::consts::PI).sin();
    let body_u = 0.92;
    for y in 0..rows {
        let v = (y as f64 + 0.5) / rows as f64 * 2.0 - 1.0;
        for x in 0..cols {
            let u = (x as f64 + 0.5) / cols as f64 * 2.0 - 1.0;
            let r = (u / body_u).powi(2) + (v / body_v).powi(2);
            let hu = if r >= 1.0 {
                -1000.0 + 4.0 * noise()
            } else {
                let lung = ((u.abs() - 0.45) / 0.3).powi(2) + ((v + 0.1) / (0.45 * body_v)).powi(2);
                let spine = (u / 0.12).powi(2) + ((v - 0.55 * body_v) / 0.1).powi(2);
                let base = if r > 0.85 {
                    -100.0
                } else if spine < 1.0 {
                    400.0 + 300.0 * (1.0 - spine)
                } else if lung < 1.0 {
                    -850.0 + 60.0 * lung
                } else {
                    40.0 + 15.0 * (3.0 * u + 2.0 * v + 5.0 * slice).sin()
                };
                base + 12.0 * noise()
            };
            let val = (hu + 1024.0).round().clamp(0.0, 4095.0) as u16;
            out.extend_from_slice(&val.to_le_bytes());
        }
    }
    out
}
