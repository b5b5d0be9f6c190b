//! Small helpers with no knowledge of the index, the storage area or any front: clocks,
//! Orthanc's identifiers, MD5.

pub mod clock;
pub mod hashing;
pub mod ids;
