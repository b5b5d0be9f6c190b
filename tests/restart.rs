//! Persistence: a graceful restart keeps everything; a SIGKILL during a burst of uploads
//! loses no acknowledged instance and leaves a consistent index.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Everything observable that must survive a restart.
fn snapshot(srv: &Server, corpus: &[Sample]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for level in ["patients", "studies", "series", "instances"] {
        let path = format!("/{level}?expand");
        let mut v = srv.get_json(&path);
        for o in v.as_array_mut().unwrap() {
            // Resources are stable before and after the restart; keep the field out anyway
            // since Orthanc recomputes it at start-up.
            o.as_object_mut().unwrap().remove("IsStable");
        }
        out.push((path, v));
    }
    out.push(("/statistics".into(), srv.get_json("/statistics")));
    out.push((
        "/changes".into(),
        srv.get_json("/changes?since=0&limit=1000"),
    ));
    for s in corpus {
        let id = s.instance_id();
        for p in ["tags", "metadata?expand", "frames", "statistics"] {
            let path = format!("/instances/{id}/{p}");
            out.push((path.clone(), srv.get_json(&path)));
        }
    }
    out
}

#[test]
fn graceful_restart_keeps_everything() {
    let corpus = corpus();
    let mut srv = Server::start(json!({}));
    srv.upload_all(&corpus);
    srv.wait_stable(Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(300));
    let before = snapshot(&srv, &corpus);
    let last_seq = srv.get_json("/changes?last")["Last"].as_i64().unwrap();
    let files_before = srv.storage_files();

    srv.stop();
    srv.restart();

    let after = snapshot(&srv, &corpus);
    assert_eq!(before.len(), after.len());
    for ((path, b), (_, a)) in before.iter().zip(&after) {
        assert_eq!(a, b, "{path} changed across a restart");
    }
    for s in &corpus {
        let f = srv.get(&format!("/instances/{}/file", s.instance_id()));
        assert!(f.body == s.bytes, "{}", s.name);
    }
    assert_eq!(srv.storage_files(), files_before);
    // Resources of the previous run are stable.
    for o in srv.get_json("/series?expand").as_array().unwrap() {
        assert_eq!(o["IsStable"], json!(true));
    }
    // Already stored after the restart; new uploads continue the change numbering.
    assert_eq!(srv.upload(&corpus[0].bytes)["Status"], "AlreadyStored");
    let extra = extra_instance("PAT-RESTART", "70.1", "1", "1");
    assert_eq!(srv.upload(&extra.bytes)["Status"], "Success");
    let changes = srv.get_json(&format!("/changes?since={last_seq}&limit=100"));
    let first = &changes["Changes"][0];
    assert_eq!(first["ChangeType"], json!("NewInstance"), "{changes}");
    assert_eq!(first["ID"], json!(extra.instance_id()));
    assert!(first["Seq"].as_i64().unwrap() > last_seq);

    // A second restart with the extra instance.
    srv.stop();
    srv.restart();
    assert_eq!(
        srv.get_json("/statistics")["CountInstances"],
        json!(corpus.len() + 1)
    );
}

#[test]
fn sigkill_during_uploads_loses_no_acknowledged_instance() {
    const N: usize = 400;
    let samples: Vec<Sample> = (0..N).map(burst_instance).collect();
    let mut srv = Server::start(json!({}));
    let acked: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());
    let next = AtomicUsize::new(0);
    let pid = srv.pid();
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= N {
                    return;
                }
                match srv.try_post("/instances", &samples[i].bytes) {
                    Some(r) if r.status == 200 => {
                        assert_eq!(r.json()["ID"], samples[i].instance_id());
                        acked.lock().unwrap().insert(i);
                    }
                    Some(r) => panic!("upload {i}: {} {}", r.status, r.text()),
                    None => return, // the server is gone
                }
            });
        }
        // Kill once a fair number of uploads were acknowledged.
        let deadline = Instant::now() + Duration::from_secs(30);
        while acked.lock().unwrap().len() < 40 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status();
    });
    srv.kill(); // reap
    let acked = acked.into_inner().unwrap();
    assert!(
        acked.len() >= 40,
        "only {} uploads acknowledged",
        acked.len()
    );

    srv.restart();
    let indexed: BTreeSet<String> = set_of(&srv.get_json("/instances"));
    eprintln!(
        "acknowledged {}, indexed {} of {N}",
        acked.len(),
        indexed.len()
    );
    assert!(acked.len() < N, "the kill came after the whole burst");
    let sent: BTreeSet<String> = samples.iter().map(|s| s.instance_id()).collect();
    assert!(indexed.is_subset(&sent), "unknown instances in the index");
    for &i in &acked {
        assert!(
            indexed.contains(&samples[i].instance_id()),
            "acknowledged upload {i} lost after SIGKILL"
        );
    }
    // Every indexed instance is readable and byte-identical.
    let mut total = 0u64;
    let mut patients = BTreeSet::new();
    let mut studies = BTreeSet::new();
    let mut series = BTreeSet::new();
    for s in samples
        .iter()
        .filter(|s| indexed.contains(&s.instance_id()))
    {
        let f = srv.get(&format!("/instances/{}/file", s.instance_id()));
        assert_eq!(f.status, 200, "indexed instance without its file");
        assert!(f.body == s.bytes, "file of an indexed instance differs");
        total += s.bytes.len() as u64;
        patients.insert(s.patient_id());
        studies.insert(s.study_id());
        series.insert(s.series_id());
    }
    let stats = srv.get_json("/statistics");
    assert_eq!(stats["CountInstances"], json!(indexed.len()), "{stats}");
    assert_eq!(stats["CountSeries"], json!(series.len()), "{stats}");
    assert_eq!(stats["CountStudies"], json!(studies.len()), "{stats}");
    assert_eq!(stats["CountPatients"], json!(patients.len()), "{stats}");
    assert_eq!(stats["TotalDiskSize"], json!(total.to_string()), "{stats}");
    assert_eq!(set_of(&srv.get_json("/series")), series);
    // Each indexed instance has its NewInstance change.
    let changes = srv.get_json("/changes?since=0&limit=10000");
    let logged: BTreeSet<String> = changes["Changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ChangeType"] == json!("NewInstance"))
        .map(|c| c["ID"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(logged, indexed);
    // The server still works: the rest of the burst can be stored.
    for s in &samples {
        let r = srv.upload(&s.bytes);
        let want = if indexed.contains(&s.instance_id()) {
            "AlreadyStored"
        } else {
            "Success"
        };
        assert_eq!(r["Status"], want);
    }
    assert_eq!(srv.get_json("/statistics")["CountInstances"], json!(N));
}
