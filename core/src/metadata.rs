//! Metadata kinds, numbered as in Orthanc (`MetadataType`).

/// A metadata key: a core kind (< 1024) or a user-defined one (1024..=65535).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetadataType(pub i32);

macro_rules! core_metadata {
    ($($konst:ident = $code:expr, $name:expr;)*) => {
        impl MetadataType {
            $(pub const $konst: MetadataType = MetadataType($code);)*

            /// Name of a core metadata kind as it appears in the REST API.
            pub fn core_name(self) -> Option<&'static str> {
                match self.0 { $($code => Some($name),)* _ => None }
            }

            /// Looks a core metadata kind up by its REST name.
            pub fn from_core_name(name: &str) -> Option<MetadataType> {
                match name { $($name => Some(MetadataType($code)),)* _ => None }
            }
        }
    };
}

core_metadata! {
    INDEX_IN_SERIES = 1, "IndexInSeries";
    RECEPTION_DATE = 2, "ReceptionDate";
    REMOTE_AET = 3, "RemoteAET";
    EXPECTED_NUMBER_OF_INSTANCES = 4, "ExpectedNumberOfInstances";
    MODIFIED_FROM = 5, "ModifiedFrom";
    ANONYMIZED_FROM = 6, "AnonymizedFrom";
    LAST_UPDATE = 7, "LastUpdate";
    ORIGIN = 8, "Origin";
    TRANSFER_SYNTAX = 9, "TransferSyntax";
    SOP_CLASS_UID = 10, "SopClassUid";
    REMOTE_IP = 11, "RemoteIP";
    CALLED_AET = 12, "CalledAET";
    HTTP_USERNAME = 13, "HttpUsername";
    PIXEL_DATA_OFFSET = 14, "PixelDataOffset";
}

impl MetadataType {
    pub const START_USER: i32 = 1024;
    pub const END_USER: i32 = 65535;

    pub fn is_user_defined(self) -> bool {
        (Self::START_USER..=Self::END_USER).contains(&self.0)
    }
}

/// A metadata value with its revision (`lookup_metadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataValue {
    /// The value.
    pub value: String,
    /// Its revision: 0 when first written, one more at each overwrite.
    pub revision: i64,
}

/// One metadata value of a resource, with its kind and revision (`get_all_metadata`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetadataEntry {
    /// Which metadata.
    pub kind: MetadataType,
    /// The value.
    pub value: String,
    /// Its revision: 0 when first written, one more at each overwrite.
    pub revision: i64,
}
