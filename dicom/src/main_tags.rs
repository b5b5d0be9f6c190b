//! The per-level "main DICOM tags" of Orthanc 1.10.1 (what the index stores and
//! `/tools/find` can match without reading files), the identifier tags, and the
//! DICOM modules used by `/module`.

use crate::tag::Tag;
use stowage_core::ResourceType;

const fn t(g: u16, e: u16) -> Tag {
    Tag::new(g, e)
}

/// Patient level: PatientName, PatientID, PatientBirthDate, PatientSex, OtherPatientIDs.
pub const PATIENT: &[Tag] = &[
    t(0x0010, 0x0010),
    t(0x0010, 0x0020),
    t(0x0010, 0x0030),
    t(0x0010, 0x0040),
    t(0x0010, 0x1000),
];

/// Study level.
pub const STUDY: &[Tag] = &[
    t(0x0008, 0x0020), // StudyDate
    t(0x0008, 0x0030), // StudyTime
    t(0x0020, 0x0010), // StudyID
    t(0x0008, 0x1030), // StudyDescription
    t(0x0008, 0x0050), // AccessionNumber
    t(0x0020, 0x000d), // StudyInstanceUID
    t(0x0032, 0x1060), // RequestedProcedureDescription
    t(0x0008, 0x0080), // InstitutionName
    t(0x0032, 0x1032), // RequestingPhysician
    t(0x0008, 0x0090), // ReferringPhysicianName
];

/// Series level.
pub const SERIES: &[Tag] = &[
    t(0x0008, 0x0021), // SeriesDate
    t(0x0008, 0x0031), // SeriesTime
    t(0x0008, 0x0060), // Modality
    t(0x0008, 0x0070), // Manufacturer
    t(0x0008, 0x1010), // StationName
    t(0x0008, 0x103e), // SeriesDescription
    t(0x0018, 0x0015), // BodyPartExamined
    t(0x0018, 0x0024), // SequenceName
    t(0x0018, 0x1030), // ProtocolName
    t(0x0020, 0x0011), // SeriesNumber
    t(0x0018, 0x1090), // CardiacNumberOfImages
    t(0x0020, 0x1002), // ImagesInAcquisition
    t(0x0020, 0x0105), // NumberOfTemporalPositions
    t(0x0054, 0x0081), // NumberOfSlices
    t(0x0054, 0x0101), // NumberOfTimeSlices
    t(0x0020, 0x000e), // SeriesInstanceUID
    t(0x0020, 0x0037), // ImageOrientationPatient
    t(0x0054, 0x1000), // SeriesType
    t(0x0008, 0x1070), // OperatorsName
    t(0x0040, 0x0254), // PerformedProcedureStepDescription
    t(0x0018, 0x1400), // AcquisitionDeviceProcessingDescription
    t(0x0018, 0x0010), // ContrastBolusAgent
];

/// Instance level.
pub const INSTANCE: &[Tag] = &[
    t(0x0008, 0x0012), // InstanceCreationDate
    t(0x0008, 0x0013), // InstanceCreationTime
    t(0x0020, 0x0012), // AcquisitionNumber
    t(0x0054, 0x1330), // ImageIndex
    t(0x0020, 0x0013), // InstanceNumber
    t(0x0028, 0x0008), // NumberOfFrames
    t(0x0020, 0x0100), // TemporalPositionIdentifier
    t(0x0008, 0x0018), // SOPInstanceUID
    t(0x0020, 0x0032), // ImagePositionPatient
    t(0x0020, 0x0037), // ImageOrientationPatient
];

/// The main DICOM tags stored at `level`.
pub fn main_dicom_tags(level: ResourceType) -> &'static [Tag] {
    match level {
        ResourceType::Patient => PATIENT,
        ResourceType::Study => STUDY,
        ResourceType::Series => SERIES,
        ResourceType::Instance => INSTANCE,
    }
}

const PATIENT_IDS: &[Tag] = &[t(0x0010, 0x0020)];
const STUDY_IDS: &[Tag] = &[t(0x0020, 0x000d), t(0x0008, 0x0050)];
const SERIES_IDS: &[Tag] = &[t(0x0020, 0x000e)];
const INSTANCE_IDS: &[Tag] = &[t(0x0008, 0x0018)];

/// The identifier tags of each level (indexed for exact look-ups by
/// `/tools/lookup` and `/tools/find`).
pub fn identifier_tags(level: ResourceType) -> &'static [Tag] {
    match level {
        ResourceType::Patient => PATIENT_IDS,
        ResourceType::Study => STUDY_IDS,
        ResourceType::Series => SERIES_IDS,
        ResourceType::Instance => INSTANCE_IDS,
    }
}

/// The level whose main DICOM tags contain `tag` (patient first; the
/// ImageOrientationPatient of both series and instance gives Series).
pub fn level_of(tag: Tag) -> Option<ResourceType> {
    ResourceType::ALL
        .into_iter()
        .find(|&l| main_dicom_tags(l).contains(&tag))
}

/// Patient Module (PS3.3 C.7.1.1).
pub const PATIENT_MODULE: &[Tag] = &[
    t(0x0008, 0x1120),
    t(0x0010, 0x0010),
    t(0x0010, 0x0020),
    t(0x0010, 0x0021),
    t(0x0010, 0x0022),
    t(0x0010, 0x0024),
    t(0x0010, 0x0030),
    t(0x0010, 0x0032),
    t(0x0010, 0x0040),
    t(0x0010, 0x1000),
    t(0x0010, 0x1001),
    t(0x0010, 0x1002),
    t(0x0010, 0x2160),
    t(0x0010, 0x2201),
    t(0x0010, 0x2202),
    t(0x0010, 0x2292),
    t(0x0010, 0x2293),
    t(0x0010, 0x2294),
    t(0x0010, 0x2295),
    t(0x0010, 0x2296),
    t(0x0010, 0x2297),
    t(0x0010, 0x2298),
    t(0x0010, 0x2299),
    t(0x0010, 0x4000),
    t(0x0012, 0x0062),
    t(0x0012, 0x0063),
    t(0x0012, 0x0064),
];

/// General Study Module (PS3.3 C.7.2.1).
pub const STUDY_MODULE: &[Tag] = &[
    t(0x0008, 0x0020),
    t(0x0008, 0x0030),
    t(0x0008, 0x0050),
    t(0x0008, 0x0051),
    t(0x0008, 0x0090),
    t(0x0008, 0x0096),
    t(0x0008, 0x1030),
    t(0x0008, 0x1032),
    t(0x0008, 0x1048),
    t(0x0008, 0x1049),
    t(0x0008, 0x1060),
    t(0x0008, 0x1062),
    t(0x0008, 0x1110),
    t(0x0020, 0x000d),
    t(0x0020, 0x0010),
    t(0x0032, 0x1034),
    t(0x0040, 0x1012),
];

/// General Series Module (PS3.3 C.7.3.1).
pub const SERIES_MODULE: &[Tag] = &[
    t(0x0008, 0x0021),
    t(0x0008, 0x0031),
    t(0x0008, 0x0060),
    t(0x0008, 0x103e),
    t(0x0008, 0x103f),
    t(0x0008, 0x1050),
    t(0x0008, 0x1052),
    t(0x0008, 0x1070),
    t(0x0008, 0x1072),
    t(0x0008, 0x1111),
    t(0x0008, 0x1250),
    t(0x0010, 0x2210),
    t(0x0018, 0x0015),
    t(0x0018, 0x1030),
    t(0x0018, 0x5100),
    t(0x0020, 0x000e),
    t(0x0020, 0x0011),
    t(0x0020, 0x0060),
    t(0x0028, 0x0108),
    t(0x0028, 0x0109),
    t(0x0040, 0x0244),
    t(0x0040, 0x0245),
    t(0x0040, 0x0253),
    t(0x0040, 0x0254),
    t(0x0040, 0x0260),
    t(0x0040, 0x0275),
    t(0x0040, 0x0280),
];

/// SOP Common Module (PS3.3 C.12.1) plus InstanceNumber.
pub const INSTANCE_MODULE: &[Tag] = &[
    t(0x0008, 0x0005),
    t(0x0008, 0x0012),
    t(0x0008, 0x0013),
    t(0x0008, 0x0014),
    t(0x0008, 0x0016),
    t(0x0008, 0x0018),
    t(0x0008, 0x001a),
    t(0x0008, 0x001b),
    t(0x0008, 0x0110),
    t(0x0008, 0x0201),
    t(0x0018, 0xa001),
    t(0x0020, 0x0013),
    t(0x0100, 0x0410),
    t(0x0100, 0x0414),
    t(0x0100, 0x0420),
    t(0x0100, 0x0426),
    t(0x0400, 0x0500),
    t(0x0400, 0x0561),
];

/// The DICOM module `/module` shows at `level`.
pub fn module_tags(level: ResourceType) -> &'static [Tag] {
    match level {
        ResourceType::Patient => PATIENT_MODULE,
        ResourceType::Study => STUDY_MODULE,
        ResourceType::Series => SERIES_MODULE,
        ResourceType::Instance => INSTANCE_MODULE,
    }
}
