//! The jobs engine: asynchronous archive jobs, pause/resume/cancel/resubmit, unknown jobs,
//! persistence across a restart, history size.

mod common;

use std::collections::BTreeSet;
use std::io::{Cursor, Read};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn wait_state(srv: &Server, job: &str, wanted: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let j = srv.get_json(&format!("/jobs/{job}"));
        if wanted.iter().any(|w| j["State"] == *w) {
            return j;
        }
        assert!(
            Instant::now() < deadline,
            "job never reached {wanted:?}: {j}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn zip_entries(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).expect("valid ZIP");
    let mut out = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        out.push(data);
    }
    out.sort();
    out
}

fn submit(srv: &Server, path: &str, body: Value) -> String {
    let r = srv.post_json(path, &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let a = r.json();
    let id = a["ID"].as_str().expect("job ID").to_owned();
    assert_eq!(a["Path"], json!(format!("/jobs/{id}")));
    id
}

/// A study of `n` instances big enough for a job to take a little while.
fn upload_study(
    srv: &Server,
    pid: &'static str,
    study: &'static str,
    n: usize,
) -> (String, Vec<Sample>) {
    let samples: Vec<Sample> = (0..n).map(|i| sized_instance(pid, study, i, 64)).collect();
    for s in &samples {
        srv.upload(&s.bytes);
    }
    (samples[0].study_id(), samples)
}

#[test]
fn asynchronous_archive_job_lifecycle() {
    let srv = Server::start(json!({}));
    let corpus = corpus();
    srv.upload_all(&corpus);
    let (study, samples) = group_by(&corpus, |s| s.study_id())
        .into_iter()
        .max_by_key(|(_, v)| v.len())
        .unwrap();

    let job = submit(
        &srv,
        &format!("/studies/{study}/archive"),
        json!({"Asynchronous": true}),
    );
    // Only Pending, Running, then Success.
    let deadline = Instant::now() + Duration::from_secs(60);
    let info = loop {
        let j = srv.get_json(&format!("/jobs/{job}"));
        let state = j["State"].as_str().unwrap().to_owned();
        assert!(
            ["Pending", "Running", "Success"].contains(&state.as_str()),
            "{j}"
        );
        if state == "Success" {
            break j;
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(info["ID"], json!(job));
    assert_eq!(info["Type"], "Archive");
    assert_eq!(info["Progress"], 100);
    assert_eq!(info["ErrorCode"], 0);
    assert_eq!(info["ErrorDescription"], "Success");
    assert_eq!(info["Priority"], 0);
    assert_eq!(info["Content"]["InstancesCount"], json!(samples.len()));
    for key in ["CreationTime", "CompletionTime", "Timestamp"] {
        let v = info[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key}: {info}"));
        assert_eq!(&v[8..9], "T", "{key}: {v}");
    }
    assert!(info["EffectiveRuntime"].is_number());

    assert!(set_of(&srv.get_json("/jobs")).contains(&job));
    let expanded = srv.get_json("/jobs?expand");
    assert!(expanded
        .as_array()
        .unwrap()
        .iter()
        .any(|j| j["ID"] == json!(job) && j["State"] == "Success"));

    let r = srv.get(&format!("/jobs/{job}/archive"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/zip"));
    let mut want: Vec<Vec<u8>> = samples.iter().map(|s| s.bytes.clone()).collect();
    want.sort();
    assert_eq!(zip_entries(&r.body), want);

    // Media through /tools/create-media, asynchronously.
    let job = submit(
        &srv,
        "/tools/create-media",
        json!({"Resources": [study], "Asynchronous": true, "Priority": 3}),
    );
    let info = wait_state(&srv, &job, &["Success", "Failure"]);
    assert_eq!(info["State"], "Success", "{info}");
    assert_eq!(info["Type"], "Media");
    assert_eq!(info["Priority"], 3);
    let r = srv.get(&format!("/jobs/{job}/archive"));
    assert_eq!(r.status, 200);
    assert_eq!(zip_entries(&r.body).len(), samples.len() + 1);
    // Unknown output.
    assert_eq!(srv.get(&format!("/jobs/{job}/nope")).status, 404);
}

#[test]
fn pause_resume_cancel_resubmit() {
    let srv = Server::start(json!({"ConcurrentJobs": 1}));
    let (study, samples) = upload_study(&srv, "JOBS", "5151", 300);

    // Pause right away: the job stops between two files (or never starts).
    let job = submit(
        &srv,
        &format!("/studies/{study}/archive"),
        json!({"Asynchronous": true}),
    );
    let r = srv.post(&format!("/jobs/{job}/pause"), b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({}));
    let info = wait_state(&srv, &job, &["Paused", "Success"]);
    assert_eq!(
        info["State"], "Paused",
        "the job finished before it could be paused"
    );
    assert!(info["Progress"].as_u64().unwrap() < 100);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(srv.get_json(&format!("/jobs/{job}"))["State"], "Paused");
    assert_eq!(srv.get(&format!("/jobs/{job}/archive")).status, 404);

    assert_eq!(srv.post(&format!("/jobs/{job}/resume"), b"").status, 200);
    let info = wait_state(&srv, &job, &["Success", "Failure"]);
    assert_eq!(info["State"], "Success", "{info}");
    let r = srv.get(&format!("/jobs/{job}/archive"));
    assert_eq!(zip_entries(&r.body).len(), samples.len());
    // A finished job cannot be paused nor resumed.
    assert_eq!(srv.post(&format!("/jobs/{job}/pause"), b"").status, 400);
    assert_eq!(srv.post(&format!("/jobs/{job}/resubmit"), b"").status, 400);

    // Cancel: Failure with Orthanc's CanceledJob error.
    let job = submit(
        &srv,
        &format!("/studies/{study}/archive"),
        json!({"Asynchronous": true}),
    );
    assert_eq!(srv.post(&format!("/jobs/{job}/cancel"), b"").status, 200);
    let info = wait_state(&srv, &job, &["Failure", "Success"]);
    assert_eq!(info["State"], "Failure", "{info}");
    assert_eq!(info["ErrorCode"], 37);
    assert!(info["CompletionTime"].is_string());
    assert_eq!(srv.get(&format!("/jobs/{job}/archive")).status, 404);

    // Resubmit: runs again to the end.
    assert_eq!(srv.post(&format!("/jobs/{job}/resubmit"), b"").status, 200);
    let info = wait_state(&srv, &job, &["Success", "Failure"]);
    assert_eq!(info["State"], "Success", "{info}");
    assert_eq!(info["ErrorCode"], 0);
    assert_eq!(info["Progress"], 100);
    let r = srv.get(&format!("/jobs/{job}/archive"));
    assert_eq!(zip_entries(&r.body).len(), samples.len());
}

#[test]
fn unknown_jobs_are_404() {
    let srv = Server::start(json!({}));
    let r = srv.get("/jobs/nope");
    r.assert_orthanc_error(404, 17, "Unknown resource", "GET", "/jobs/nope");
    for action in ["pause", "resume", "cancel", "resubmit"] {
        let r = srv.post(&format!("/jobs/nope/{action}"), b"");
        assert_eq!(r.status, 404, "{action}");
        assert_eq!(r.json()["OrthancStatus"], 17);
    }
    assert_eq!(srv.get("/jobs/nope/archive").status, 404);
    assert_eq!(srv.get_json("/jobs"), json!([]));
    assert_eq!(srv.get_json("/jobs?expand"), json!([]));
    // An asynchronous archive of an unknown resource is refused up front.
    let r = srv.post_json(
        "/tools/create-archive",
        &json!({"Resources": ["nope"], "Asynchronous": true}),
    );
    assert_eq!(r.status, 404);
}

#[test]
fn jobs_survive_a_restart() {
    let mut srv = Server::start(json!({"ConcurrentJobs": 1}));
    let corpus = corpus();
    srv.upload_all(&corpus);
    let study = corpus[0].study_id();
    let n = corpus.iter().filter(|s| s.study_id() == study).count();

    let done = submit(
        &srv,
        &format!("/studies/{study}/archive"),
        json!({"Asynchronous": true}),
    );
    let before = wait_state(&srv, &done, &["Success", "Failure"]);
    assert_eq!(before["State"], "Success");
    // A paused job (paused before it could run: the only worker is busy with a long one).
    let (big, _) = upload_study(&srv, "RESTART", "6161", 150);
    let busy = submit(
        &srv,
        &format!("/studies/{big}/archive"),
        json!({"Asynchronous": true}),
    );
    let paused = submit(
        &srv,
        &format!("/studies/{study}/media"),
        json!({"Asynchronous": true}),
    );
    assert_eq!(srv.post(&format!("/jobs/{paused}/pause"), b"").status, 200);
    wait_state(&srv, &paused, &["Paused"]);

    srv.stop();
    srv.restart();

    let ids = set_of(&srv.get_json("/jobs"));
    assert_eq!(
        ids,
        BTreeSet::from([done.clone(), busy.clone(), paused.clone()])
    );
    let after = srv.get_json(&format!("/jobs/{done}"));
    for key in [
        "State",
        "Type",
        "Progress",
        "CreationTime",
        "CompletionTime",
        "Content",
        "ErrorCode",
    ] {
        assert_eq!(after[key], before[key], "{key}");
    }
    let r = srv.get(&format!("/jobs/{done}/archive"));
    assert_eq!(r.status, 200);
    assert_eq!(zip_entries(&r.body).len(), n);
    assert_eq!(srv.get_json(&format!("/jobs/{paused}"))["State"], "Paused");
    // The interrupted job runs again.
    let info = wait_state(&srv, &busy, &["Success", "Failure"]);
    assert_eq!(info["State"], "Success", "{info}");
    assert_eq!(srv.post(&format!("/jobs/{paused}/resume"), b"").status, 200);
    let info = wait_state(&srv, &paused, &["Success", "Failure"]);
    assert_eq!(info["State"], "Success", "{info}");
    assert_eq!(info["Type"], "Media");
}

#[test]
fn history_keeps_jobs_history_size_finished_jobs() {
    let srv = Server::start(json!({"JobsHistorySize": 2, "SaveJobs": false}));
    let mut ids = Vec::new();
    for _ in 0..4 {
        let job = submit(
            &srv,
            "/tools/bulk-delete",
            json!({"Resources": ["unknown"], "Asynchronous": true}),
        );
        wait_state(&srv, &job, &["Success"]);
        ids.push(job);
    }
    let listed = set_of(&srv.get_json("/jobs"));
    assert_eq!(listed, BTreeSet::from([ids[2].clone(), ids[3].clone()]));
}
