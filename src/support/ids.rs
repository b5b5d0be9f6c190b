//! Orthanc's public identifiers: SHA-1 of the DICOM identifiers joined with `|`, written as
//! five groups of eight lowercase hex digits.

use sha1::{Digest, Sha1};
use stowage_core::InstanceHashes;

fn hash(parts: &[&str]) -> String {
    let digest = Sha1::digest(parts.join("|").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..16],
        &hex[16..24],
        &hex[24..32],
        &hex[32..40]
    )
}

/// The four IDs of an instance from its (trimmed) DICOM identifiers.
pub fn instance_hashes(patient_id: &str, study: &str, series: &str, sop: &str) -> InstanceHashes {
    InstanceHashes {
        patient: hash(&[patient_id]),
        study: hash(&[patient_id, study]),
        series: hash(&[patient_id, study, series]),
        instance: hash(&[patient_id, study, series, sop]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_orthanc() {
        // Facts recorded from Orthanc 1.10.1: an empty PatientID hashes as sha1("").
        let h = instance_hashes("", "1.2", "1.2.3", "1.2.3.4");
        assert_eq!(h.patient, "da39a3ee-5e6b4b0d-3255bfef-95601890-afd80709");
        let h = instance_hashes(
            "PAT001",
            "1.2.826.0.1.3680043.8.498.77001.1.1",
            "1.2.826.0.1.3680043.8.498.77001.1.1.1",
            "1.2.826.0.1.3680043.8.498.77001.1.1.1.1",
        );
        assert_eq!(h.patient, "fbac6349-6dfbb3d4-713f5301-f07de821-04ec891e");
        assert_eq!(h.study, "514c0b4e-37f889c3-6f501bf3-fb5210a5-5b183b83");
        assert_eq!(h.series, "204f0552-f9588edf-9acc7cca-9302d756-6209330e");
        assert_eq!(h.instance, "0d7a179e-9bbfb5cf-ba8528ea-165815d9-6a2a1d9e");
    }
}
