//! Value representations.

use std::fmt;

/// A two-letter DICOM value representation.
#[derive(Copy, Clone, Eq, PartialEq, Hash)]
pub struct Vr(pub [u8; 2]);

const fn two(s: &str) -> [u8; 2] {
    let b = s.as_bytes();
    [b[0], b[1]]
}

macro_rules! vrs {
    ($($name:ident),*) => {
        impl Vr { $(
            #[allow(missing_docs)]
            pub const $name: Vr = Vr(two(stringify!($name)));
        )* }
    };
}
vrs!(
    AE, AS, AT, CS, DA, DS, DT, FL, FD, IS, LO, LT, OB, OD, OF, OL, OV, OW, PN, SH, SL, SQ, SS, ST,
    SV, TM, UC, UI, UL, UN, UR, US, UT, UV
);

impl Vr {
    /// The two letters.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// Parses a two-letter VR (`"PN"`).
    pub fn parse(s: &str) -> Option<Vr> {
        let b = s.as_bytes();
        (b.len() == 2 && b.iter().all(u8::is_ascii_uppercase)).then(|| Vr([b[0], b[1]]))
    }

    /// Explicit VR encodings that use a 2-byte reserved field and 4-byte length.
    pub fn has_long_length(self) -> bool {
        matches!(
            self,
            Vr::OB
                | Vr::OD
                | Vr::OF
                | Vr::OL
                | Vr::OV
                | Vr::OW
                | Vr::SQ
                | Vr::UC
                | Vr::UN
                | Vr::UR
                | Vr::UT
                | Vr::SV
                | Vr::UV
        )
    }

    /// Character-string VRs.
    pub fn is_string(self) -> bool {
        matches!(
            self,
            Vr::AE
                | Vr::AS
                | Vr::CS
                | Vr::DA
                | Vr::DS
                | Vr::DT
                | Vr::IS
                | Vr::LO
                | Vr::LT
                | Vr::PN
                | Vr::SH
                | Vr::ST
                | Vr::TM
                | Vr::UC
                | Vr::UI
                | Vr::UR
                | Vr::UT
        )
    }

    /// String VRs whose values are affected by SpecificCharacterSet.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            Vr::LO | Vr::LT | Vr::PN | Vr::SH | Vr::ST | Vr::UC | Vr::UT
        )
    }

    /// Size in bytes of one binary number for numeric VRs.
    pub fn number_size(self) -> Option<usize> {
        match self {
            Vr::US | Vr::SS => Some(2),
            Vr::UL | Vr::SL | Vr::FL => Some(4),
            Vr::FD | Vr::UV | Vr::SV => Some(8),
            _ => None,
        }
    }

    /// Size of the unit to byte-swap when reading big endian values.
    pub fn swap_size(self) -> usize {
        match self {
            Vr::OW | Vr::AT => 2,
            Vr::OF | Vr::OL => 4,
            Vr::OD | Vr::OV => 8,
            _ => self.number_size().unwrap_or(1),
        }
    }
}

impl fmt::Debug for Vr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Vr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
