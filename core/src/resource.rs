//! The four levels of the DICOM model of the real world, as Orthanc names them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A level of the patient/study/series/instance hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ResourceType {
    Patient,
    Study,
    Series,
    Instance,
}

impl ResourceType {
    pub const ALL: [ResourceType; 4] = [
        ResourceType::Patient,
        ResourceType::Study,
        ResourceType::Series,
        ResourceType::Instance,
    ];

    /// The integer Orthanc's database SDK uses for this level (0 = patient .. 3 = instance).
    pub fn code(self) -> i64 {
        match self {
            ResourceType::Patient => 0,
            ResourceType::Study => 1,
            ResourceType::Series => 2,
            ResourceType::Instance => 3,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.get(usize::try_from(code).ok()?).copied()
    }

    /// `"Patient"`, `"Study"`, ... as in Orthanc's JSON (`Type`, `ResourceType`).
    pub fn name(self) -> &'static str {
        match self {
            ResourceType::Patient => "Patient",
            ResourceType::Study => "Study",
            ResourceType::Series => "Series",
            ResourceType::Instance => "Instance",
        }
    }

    /// The REST collection: `"patients"`, `"studies"`, `"series"`, `"instances"`.
    pub fn collection(self) -> &'static str {
        match self {
            ResourceType::Patient => "patients",
            ResourceType::Study => "studies",
            ResourceType::Series => "series",
            ResourceType::Instance => "instances",
        }
    }

    pub fn parent(self) -> Option<ResourceType> {
        match self {
            ResourceType::Patient => None,
            ResourceType::Study => Some(ResourceType::Patient),
            ResourceType::Series => Some(ResourceType::Study),
            ResourceType::Instance => Some(ResourceType::Series),
        }
    }

    pub fn child(self) -> Option<ResourceType> {
        match self {
            ResourceType::Patient => Some(ResourceType::Study),
            ResourceType::Study => Some(ResourceType::Series),
            ResourceType::Series => Some(ResourceType::Instance),
            ResourceType::Instance => None,
        }
    }

    pub fn from_collection(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.collection() == s)
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses a level as Orthanc does in `/tools/find` (`"Patient"`, `"study"`, `"SERIES"`, ...).
impl FromStr for ResourceType {
    type Err = UnknownResourceType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownResourceType(s.to_owned()))
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown resource level: {0}")]
pub struct UnknownResourceType(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for t in ResourceType::ALL {
            assert_eq!(ResourceType::from_code(t.code()), Some(t));
            assert_eq!(ResourceType::from_collection(t.collection()), Some(t));
            assert_eq!(t.name().to_lowercase().parse::<ResourceType>().unwrap(), t);
        }
        assert_eq!(ResourceType::from_code(4), None);
        assert!("Foo".parse::<ResourceType>().is_err());
    }
}
