//! `MaximumStorageSize` / `MaximumPatientCount` with `MaximumStorageMode` Recycle and Reject.
//! Runs on both index backends (`STOWAGE_TEST_INDEX`).

mod common;

use common::{big_compressible, extra_instance, Server};
use serde_json::json;

const PATIENTS: [&str; 5] = ["RECY1", "RECY2", "RECY3", "RECY4", "RECY5"];

#[test]
fn storage_size_limit_recycles_oldest_unprotected() {
    // Each file is ~33 KB (128x128x16 bits): a 1 MB limit holds about 31 of them.
    let srv = Server::start(json!({ "MaximumStorageSize": 1 }));
    let files: Vec<_> = (0..40)
        .map(|i| big_compressible(Box::leak(format!("SIZE{i:02}").into_boxed_str())))
        .collect();
    let size = files[0].bytes.len() as u64;
    let capacity = (1024 * 1024) / size;
    // Protect the very first patient: it must survive every recycling.
    srv.upload(&files[0].bytes);
    let first = files[0].patient_id();
    assert_eq!(
        srv.request("PUT", &format!("/patients/{first}/protected"), Some(b"1"))
            .status,
        200
    );
    for f in &files[1..] {
        assert_eq!(srv.post("/instances", &f.bytes).status, 200);
    }
    let stats = srv.get_json("/statistics");
    let disk: u64 = stats["TotalDiskSize"].as_str().unwrap().parse().unwrap();
    assert!(disk <= 1024 * 1024, "the limit holds: {disk}");
    assert_eq!(stats["CountPatients"], json!(capacity), "{stats}");
    let kept = common::set_of(&srv.get_json("/patients"));
    assert!(kept.contains(&first), "the protected patient survives");
    // The most recent patients are the ones kept.
    for f in files.iter().rev().take(capacity as usize - 1) {
        assert!(
            kept.contains(&f.patient_id()),
            "recent patient {} kept",
            f.pid()
        );
    }
    assert_eq!(
        srv.storage_files().len() as u64,
        capacity,
        "recycled files are removed"
    );
}

#[test]
fn patient_count_reject_mode() {
    let srv = Server::start(json!({ "MaximumPatientCount": 2, "MaximumStorageMode": "Reject" }));
    srv.upload(&extra_instance(PATIENTS[0], "1", "1", "1").bytes);
    srv.upload(&extra_instance(PATIENTS[1], "1", "1", "1").bytes);
    let refused = srv.post(
        "/instances",
        &extra_instance(PATIENTS[2], "1", "1", "1").bytes,
    );
    assert_eq!(refused.status, 507, "{}", refused.text());
    assert_eq!(
        refused.json()["OrthancStatus"],
        json!(19),
        "FullStorage: {}",
        refused.text()
    );
    // Existing patients still receive instances.
    let more = srv.post(
        "/instances",
        &extra_instance(PATIENTS[0], "1", "1", "2").bytes,
    );
    assert_eq!(more.status, 200, "{}", more.text());
    let stats = srv.get_json("/statistics");
    assert_eq!(
        (
            stats["CountPatients"].clone(),
            stats["CountInstances"].clone()
        ),
        (json!(2), json!(3))
    );
    assert_eq!(srv.storage_files().len(), 3, "the refused file is not kept");
}

#[test]
fn patient_count_recycle_mode_follows_recency() {
    let srv = Server::start(json!({ "MaximumPatientCount": 3 }));
    for p in &PATIENTS[..3] {
        srv.upload(&extra_instance(p, "1", "1", "1").bytes);
    }
    // A new instance makes RECY1 the most recent: RECY2 is now the oldest.
    srv.upload(&extra_instance(PATIENTS[0], "1", "1", "2").bytes);
    srv.upload(&extra_instance(PATIENTS[3], "1", "1", "1").bytes);
    let ids = |names: &[&str]| -> std::collections::BTreeSet<String> {
        names.iter().map(|n| common::orthanc_id(&[n])).collect()
    };
    assert_eq!(
        common::set_of(&srv.get_json("/patients")),
        ids(&[PATIENTS[0], PATIENTS[2], PATIENTS[3]])
    );
}
