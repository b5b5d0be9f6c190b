//! The change log (`/changes`) and the export log (`/exports`).

use crate::ResourceType;

macro_rules! change_types {
    ($($variant:ident = $code:expr;)*) => {
        /// Kinds of change events, numbered as in Orthanc (`ChangeType`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ChangeType { $($variant,)* }

        impl ChangeType {
            pub fn code(self) -> i32 { match self { $(ChangeType::$variant => $code,)* } }
            pub fn from_code(code: i32) -> Option<Self> {
                match code { $($code => Some(ChangeType::$variant),)* _ => None }
            }
            /// The name shown in `/changes` (`"NewInstance"`, ...).
            pub fn name(self) -> &'static str { match self { $(ChangeType::$variant => stringify!($variant),)* } }
        }
    };
}

change_types! {
    CompletedSeries = 1;
    Deleted = 2;
    NewChildInstance = 3;
    NewInstance = 4;
    NewPatient = 5;
    NewSeries = 6;
    NewStudy = 7;
    StablePatient = 8;
    StableSeries = 9;
    StableStudy = 10;
    OrthancStarted = 11;
    OrthancStopped = 12;
    UpdatedAttachment = 13;
    UpdatedMetadata = 14;
    UpdatedPeers = 15;
    UpdatedModalities = 16;
    JobSubmitted = 17;
    JobSuccess = 18;
    JobFailure = 19;
}

/// A change about to be logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    pub change_type: ChangeType,
    pub resource_type: ResourceType,
    pub public_id: String,
    /// `YYYYMMDDTHHMMSS`, as Orthanc writes it.
    pub date: String,
}

/// A logged change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub change_type: ChangeType,
    pub resource_type: ResourceType,
    pub public_id: String,
    pub date: String,
}

/// A logged export (a resource sent to a modality or peer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedResource {
    pub seq: i64,
    pub resource_type: ResourceType,
    pub public_id: String,
    pub remote_modality: String,
    pub date: String,
    pub patient_id: String,
    pub study_instance_uid: String,
    pub series_instance_uid: String,
    pub sop_instance_uid: String,
}

/// One page of the change log (`get_changes`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangesPage {
    /// The changes, in `seq` order.
    pub changes: Vec<Change>,
    /// True when no change follows the last one returned (the log is exhausted).
    pub done: bool,
}

/// One page of the export log (`get_exported_resources`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportsPage {
    /// The exports, in `seq` order.
    pub exports: Vec<ExportedResource>,
    /// True when no export follows the last one returned (the log is exhausted).
    pub done: bool,
}
