//! Several Stowage processes sharing one PostgreSQL index and one storage folder: concurrent
//! uploads into the same studies and series, duplicates sent through two processes at once,
//! a process killed with SIGKILL in the middle of a burst, and a study deleted by one process
//! while another adds instances to it, and recycling (`MaximumPatientCount`) with three writers.
//!
//! These tests always run on PostgreSQL (they create and drop their own databases, see
//! `TestDatabase::create`), whatever `STOWAGE_TEST_INDEX` says.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Starts `n` processes at once on `db` and `storage` (so that they also race to migrate the
/// schema of the empty database).
fn start_cluster(n: usize, db: &TestDatabase, storage: &Path) -> Vec<Server> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                scope.spawn(|| {
                    Server::start_shared(json!({}), storage, shared_postgres_section(&db.url))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// The whole change log, page by page.
fn all_changes(srv: &Server) -> Vec<Value> {
    let mut out = Vec::new();
    let mut since = 0;
    loop {
        let page = srv.get_json(&format!("/changes?since={since}&limit=500"));
        out.extend(page["Changes"].as_array().unwrap().iter().cloned());
        since = page["Last"].as_i64().unwrap();
        if page["Done"] == json!(true) {
            return out;
        }
    }
}

fn is_new_change(c: &Value) -> bool {
    matches!(
        c["ChangeType"].as_str(),
        Some("NewPatient" | "NewStudy" | "NewSeries" | "NewInstance")
    )
}

/// `{ID: sorted children}` of a level, from `/{level}?expand`.
fn children_map(srv: &Server, level: &str, field: &str) -> BTreeMap<String, Vec<String>> {
    srv.get_json(&format!("/{level}?expand"))
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut kids = strings(&r[field]);
            kids.sort();
            (r["ID"].as_str().unwrap().to_owned(), kids)
        })
        .collect()
}

/// The hierarchy a set of samples must produce, computed from the samples alone.
struct Tree {
    patients: BTreeMap<String, Vec<String>>,
    studies: BTreeMap<String, Vec<String>>,
    series: BTreeMap<String, Vec<String>>,
    instances: BTreeSet<String>,
}

fn tree_of(samples: &[&Sample]) -> Tree {
    let mut t = Tree {
        patients: BTreeMap::new(),
        studies: BTreeMap::new(),
        series: BTreeMap::new(),
        instances: BTreeSet::new(),
    };
    fn add(m: &mut BTreeMap<String, Vec<String>>, k: String, v: String) {
        let e = m.entry(k).or_default();
        if !e.contains(&v) {
            e.push(v);
            e.sort();
        }
    }
    for s in samples {
        add(&mut t.patients, s.patient_id(), s.study_id());
        add(&mut t.studies, s.study_id(), s.series_id());
        add(&mut t.series, s.series_id(), s.instance_id());
        assert!(t.instances.insert(s.instance_id()), "duplicate sample");
    }
    t
}

/// No ID twice in a list answer, and the set it forms.
fn unique_list(srv: &Server, level: &str) -> BTreeSet<String> {
    let list = strings(&srv.get_json(&format!("/{level}")));
    let set: BTreeSet<String> = list.iter().cloned().collect();
    assert_eq!(
        set.len(),
        list.len(),
        "/{level} lists an ID twice: {list:?}"
    );
    set
}

/// Every server shows exactly `samples`: statistics, lists, hierarchy, files, change log.
fn check_exact_state(servers: &[&Server], samples: &[&Sample]) {
    let tree = tree_of(samples);
    let size: u64 = samples.iter().map(|s| s.bytes.len() as u64).sum();
    let mut logs = Vec::new();
    for (n, srv) in servers.iter().enumerate() {
        let stats = srv.get_json("/statistics");
        assert_eq!(
            stats["CountPatients"],
            json!(tree.patients.len()),
            "#{n} {stats}"
        );
        assert_eq!(
            stats["CountStudies"],
            json!(tree.studies.len()),
            "#{n} {stats}"
        );
        assert_eq!(
            stats["CountSeries"],
            json!(tree.series.len()),
            "#{n} {stats}"
        );
        assert_eq!(
            stats["CountInstances"],
            json!(samples.len()),
            "#{n} {stats}"
        );
        assert_eq!(size_field(&stats["TotalDiskSize"]), size, "#{n} {stats}");
        assert_eq!(
            size_field(&stats["TotalUncompressedSize"]),
            size,
            "#{n} {stats}"
        );

        let keys = |m: &BTreeMap<String, Vec<String>>| m.keys().cloned().collect::<BTreeSet<_>>();
        assert_eq!(unique_list(srv, "patients"), keys(&tree.patients), "#{n}");
        assert_eq!(unique_list(srv, "studies"), keys(&tree.studies), "#{n}");
        assert_eq!(unique_list(srv, "series"), keys(&tree.series), "#{n}");
        assert_eq!(unique_list(srv, "instances"), tree.instances, "#{n}");
        assert_eq!(
            children_map(srv, "patients", "Studies"),
            tree.patients,
            "#{n}"
        );
        assert_eq!(children_map(srv, "studies", "Series"), tree.studies, "#{n}");
        assert_eq!(
            children_map(srv, "series", "Instances"),
            tree.series,
            "#{n}"
        );
        for s in samples {
            let f = srv.get(&format!("/instances/{}/file", s.instance_id()));
            assert_eq!(f.status, 200, "#{n}: file of {}", s.instance_id());
            assert!(
                f.body == s.bytes,
                "#{n}: file of {} differs",
                s.instance_id()
            );
        }
        logs.push(all_changes(srv));
    }

    // One change log, the same everywhere (Stable* changes keep coming in from each
    // process's own timers: the New* ones are compared).
    let news: Vec<Vec<Value>> = logs
        .iter()
        .map(|l| l.iter().filter(|c| is_new_change(c)).cloned().collect())
        .collect();
    for (n, l) in news.iter().enumerate().skip(1) {
        assert!(l == &news[0], "process #{n} sees another change log");
    }
    for log in &logs {
        let seqs: Vec<i64> = log.iter().map(|c| c["Seq"].as_i64().unwrap()).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "Seq not strictly increasing: {seqs:?}"
        );
    }
    let mut per_type: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for c in &news[0] {
        per_type
            .entry(c["ChangeType"].as_str().unwrap())
            .or_default()
            .push(c["ID"].as_str().unwrap().to_owned());
    }
    let check = |t: &str, want: BTreeSet<String>| {
        let got = per_type.get(t).cloned().unwrap_or_default();
        let set: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(set.len(), got.len(), "a resource has two {t} changes");
        assert_eq!(set, want, "{t} changes");
    };
    check("NewPatient", tree.patients.keys().cloned().collect());
    check("NewStudy", tree.studies.keys().cloned().collect());
    check("NewSeries", tree.series.keys().cloned().collect());
    check("NewInstance", tree.instances.clone());
    // Stable* changes name existing resources.
    let all: BTreeSet<&String> = tree
        .patients
        .keys()
        .chain(tree.studies.keys())
        .chain(tree.series.keys())
        .collect();
    for c in logs.iter().flatten().filter(|c| !is_new_change(c)) {
        let id = c["ID"].as_str().unwrap().to_owned();
        assert!(all.contains(&id), "change about an unknown resource: {c}");
    }
}

/// Storage files named by UUID (temporary files of writes in progress excluded).
fn stored_uuids(storage: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.insert(p.file_name().unwrap().to_str().unwrap().to_owned());
            }
        }
    }
    walk(storage, &mut out);
    out
}

fn indexed_uuids(db: &TestDatabase) -> BTreeSet<String> {
    db.query("SELECT uuid FROM AttachedFiles")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Rows that must never exist: a child without its parent, a parent without children, an
/// instance without its file.
fn check_no_dangling_rows(db: &TestDatabase) {
    let q = |sql: &str| db.query(sql);
    assert_eq!(
        q(
            "SELECT count(*) FROM Resources c WHERE c.resourceType > 0 AND \
           (c.parentId IS NULL OR NOT EXISTS \
            (SELECT 1 FROM Resources p WHERE p.internalId = c.parentId \
             AND p.resourceType = c.resourceType - 1))"
        ),
        "0",
        "resources without their parent"
    );
    assert_eq!(
        q(
            "SELECT count(*) FROM Resources p WHERE p.resourceType < 3 AND NOT EXISTS \
           (SELECT 1 FROM Resources c WHERE c.parentId = p.internalId)"
        ),
        "0",
        "patients, studies or series without children"
    );
    assert_eq!(
        q(
            "SELECT count(*) FROM Resources r WHERE r.resourceType = 3 AND NOT EXISTS \
           (SELECT 1 FROM AttachedFiles f WHERE f.id = r.internalId)"
        ),
        "0",
        "instances without their file"
    );
}

/// What a concurrent burst observed.
struct Burst {
    /// Statuses of the two simultaneous uploads of each instance sent twice.
    dup_status: BTreeMap<usize, Vec<String>>,
    /// Changes read by a client following `/changes?since=` during the burst.
    followed: Vec<Value>,
    /// Uploads that did not answer 200: (instance, answer).
    failed: Vec<(usize, String)>,
}

/// Uploads `k`; an answer other than 200 is recorded in `failed` (a panic in a client
/// thread would leave the others waiting at their barrier).
fn upload_or_record(
    srv: &Server,
    corpus: &[Sample],
    k: usize,
    failed: &Mutex<Vec<(usize, String)>>,
) -> Option<String> {
    let r = srv.post("/instances", &corpus[k].bytes);
    if r.status != 200 {
        failed
            .lock()
            .unwrap()
            .push((k, format!("{} {}", r.status, r.text())));
        return None;
    }
    let a = r.json();
    assert_eq!(a["ID"], json!(corpus[k].instance_id()));
    Some(a["Status"].as_str().unwrap().to_owned())
}

/// Uploads `corpus` through the three `servers` at once. Every 9th instance is sent twice at
/// the same moment through two processes; the others once, instance k through process k % 3,
/// two client threads per process: consecutive instances of a series are stored by the three
/// processes at once. With `follow`, one more client follows `/changes` on that process.
fn concurrent_burst(servers: &[Server], corpus: &[Sample], follow: Option<&Server>) -> Burst {
    let is_dup = |k: usize| k % 9 == 4;
    let queues: Vec<Vec<usize>> = (0..3)
        .map(|p| {
            (0..corpus.len())
                .filter(|&k| k % 3 == p && !is_dup(k))
                .collect()
        })
        .collect();
    let dups: Vec<usize> = (0..corpus.len()).filter(|&k| is_dup(k)).collect();
    let cursors: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
    let dup_status: Mutex<BTreeMap<usize, Vec<String>>> = Mutex::new(BTreeMap::new());
    let barrier = Barrier::new(2);
    let burst_done = AtomicBool::new(false);
    let followed: Mutex<Vec<Value>> = Mutex::new(Vec::new());
    let failed: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());

    let burst = Instant::now();
    std::thread::scope(|scope| {
        let mut workers = Vec::new();
        for p in 0..3 {
            for _ in 0..2 {
                let (srv, queue, cursor, failed) = (&servers[p], &queues[p], &cursors[p], &failed);
                workers.push(scope.spawn(move || loop {
                    let i = cursor.fetch_add(1, Ordering::SeqCst);
                    let Some(&k) = queue.get(i) else { return };
                    if let Some(status) = upload_or_record(srv, corpus, k, failed) {
                        assert_eq!(status, "Success", "instance {k}");
                    }
                }));
            }
        }
        for side in 0..2 {
            let (dups, barrier, dup_status, failed) = (&dups, &barrier, &dup_status, &failed);
            workers.push(scope.spawn(move || {
                for &k in dups {
                    barrier.wait();
                    let status = upload_or_record(&servers[(k + side) % 3], corpus, k, failed);
                    dup_status
                        .lock()
                        .unwrap()
                        .entry(k)
                        .or_default()
                        .push(status.unwrap_or_else(|| "failed".to_owned()));
                }
            }));
        }
        if let Some(follower) = follow {
            let (followed, burst_done) = (&followed, &burst_done);
            scope.spawn(move || {
                let mut since = 0;
                loop {
                    let finished = burst_done.load(Ordering::SeqCst);
                    let page = follower.get_json(&format!("/changes?since={since}&limit=100"));
                    followed
                        .lock()
                        .unwrap()
                        .extend(page["Changes"].as_array().unwrap().iter().cloned());
                    since = page["Last"].as_i64().unwrap();
                    if finished && page["Done"] == json!(true) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
        }
        // Stop the follower even if a worker failed, then report the failure.
        let results: Vec<_> = workers.into_iter().map(|w| w.join()).collect();
        burst_done.store(true, Ordering::SeqCst);
        for r in results {
            if let Err(panic) = r {
                std::panic::resume_unwind(panic);
            }
        }
    });
    eprintln!(
        "{} instances ({} sent twice) stored through 3 processes in {:?}",
        corpus.len(),
        dups.len(),
        burst.elapsed()
    );
    Burst {
        dup_status: dup_status.into_inner().unwrap(),
        followed: followed.into_inner().unwrap(),
        failed: failed.into_inner().unwrap(),
    }
}

#[test]
fn three_processes_share_one_index_and_storage() {
    let t0 = Instant::now();
    let db = TestDatabase::create();
    let storage = tempfile::tempdir().unwrap();
    let servers = start_cluster(3, &db, storage.path());
    let corpus = cluster_corpus(1, 20);
    assert!(corpus.len() >= 200, "{}", corpus.len());
    assert!(expected(&corpus).studies.len() >= 50);

    let burst = concurrent_burst(&servers, &corpus, None);
    // Failed uploads are reported last; send them again (sequentially) to check the rest.
    for (k, _) in &burst.failed {
        servers[0].upload(&corpus[*k].bytes);
    }

    // Of two simultaneous uploads of one instance, exactly one stored it.
    assert!(!burst.dup_status.is_empty());
    for (k, statuses) in &burst.dup_status {
        let mut s = statuses.clone();
        s.sort();
        if !s.contains(&"failed".to_owned()) {
            assert_eq!(s, ["AlreadyStored", "Success"], "instance {k}");
        }
    }

    let all: Vec<&Sample> = corpus.iter().collect();
    let refs: Vec<&Server> = servers.iter().collect();
    check_exact_state(&refs, &all);
    check_no_dangling_rows(&db);
    // One file per instance: the losers of the duplicate races removed theirs.
    assert_eq!(stored_uuids(storage.path()), indexed_uuids(&db));
    assert_eq!(stored_uuids(storage.path()).len(), corpus.len());
    assert!(
        burst.failed.is_empty(),
        "{} of {} concurrent uploads failed: {:?}",
        burst.failed.len(),
        corpus.len(),
        burst.failed
    );
    eprintln!(
        "three_processes_share_one_index_and_storage: {:?}",
        t0.elapsed()
    );
}

/// A client following `/changes?since=<Last>` while three processes write sees every change
/// of the final log, in order: the log only grows at its end.
#[test]
fn changes_followed_during_concurrent_writes_miss_nothing() {
    let db = TestDatabase::create();
    let storage = tempfile::tempdir().unwrap();
    let servers = start_cluster(3, &db, storage.path());
    let corpus = cluster_corpus(4, 8);
    let burst = concurrent_burst(&servers, &corpus, Some(&servers[2]));
    assert!(burst.failed.is_empty(), "{:?}", burst.failed);

    let final_news: Vec<Value> = all_changes(&servers[0])
        .into_iter()
        .filter(is_new_change)
        .collect();
    let followed_news: Vec<Value> = burst.followed.into_iter().filter(is_new_change).collect();
    let seen: BTreeSet<i64> = followed_news
        .iter()
        .map(|c| c["Seq"].as_i64().unwrap())
        .collect();
    let missed: Vec<String> = final_news
        .iter()
        .filter(|c| !seen.contains(&c["Seq"].as_i64().unwrap()))
        .map(|c| format!("{} {} {}", c["Seq"], c["ChangeType"], c["ID"]))
        .collect();
    assert!(
        missed.is_empty(),
        "a client following /changes?since= during the burst missed {} of {} changes: a \
         change committed after another one with a higher Seq was already listed: {:?}",
        missed.len(),
        final_news.len(),
        missed.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(followed_news, final_news);
}

#[test]
fn sigkill_of_one_process_during_a_burst() {
    let t0 = Instant::now();
    let db = TestDatabase::create();
    let storage = tempfile::tempdir().unwrap();
    let mut servers = start_cluster(3, &db, storage.path());
    let corpus = cluster_corpus(2, 20);
    let victim_pid = servers[0].pid();

    let acked: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());
    let victim_acked = AtomicUsize::new(0);
    // Answers other than 200 (reported last).
    let failed: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let cursors: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
    let queues: Vec<Vec<usize>> = (0..3)
        .map(|p| (0..corpus.len()).filter(|&k| k % 3 == p).collect())
        .collect();
    std::thread::scope(|scope| {
        for p in 0..3 {
            for _ in 0..2 {
                let (srv, queue, cursor) = (&servers[p], &queues[p], &cursors[p]);
                let (corpus, acked, victim_acked, failed) =
                    (&corpus, &acked, &victim_acked, &failed);
                scope.spawn(move || loop {
                    let i = cursor.fetch_add(1, Ordering::SeqCst);
                    let Some(&k) = queue.get(i) else { return };
                    match srv.try_post("/instances", &corpus[k].bytes) {
                        Some(r) if r.status == 200 => {
                            let a = r.json();
                            assert_eq!(a["ID"], json!(corpus[k].instance_id()));
                            assert_eq!(a["Status"], json!("Success"));
                            acked.lock().unwrap().insert(k);
                            if p == 0 {
                                victim_acked.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Some(r) => failed.lock().unwrap().push(format!(
                            "process #{p}, instance {k}: {} {}",
                            r.status,
                            r.text()
                        )),
                        None if p == 0 => return, // killed
                        None => panic!("survivor #{p} is unreachable"),
                    }
                });
            }
        }
        // Kill process #0 in the middle of the burst.
        let deadline = Instant::now() + Duration::from_secs(30);
        while (victim_acked.load(Ordering::SeqCst) < 15 || acked.lock().unwrap().len() < 60)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(victim_pid.to_string())
            .status();
    });
    servers[0].kill(); // reap
    let acked = acked.into_inner().unwrap();
    let victim_queue: BTreeSet<usize> = queues[0].iter().copied().collect();
    let victim_done = acked.intersection(&victim_queue).count();
    eprintln!(
        "acknowledged {} of {} ({} by the killed process, of its {})",
        acked.len(),
        corpus.len(),
        victim_done,
        queues[0].len()
    );
    assert!(
        victim_done >= 15 && victim_done < queues[0].len(),
        "the kill did not come in the middle of the burst"
    );

    let survivors: Vec<&Server> = servers[1..].iter().collect();
    // What was indexed: everything acknowledged, maybe some unacknowledged stores of the
    // killed process, nothing else.
    let indexed = unique_list(survivors[0], "instances");
    let sent: BTreeSet<String> = corpus.iter().map(Sample::instance_id).collect();
    assert!(indexed.is_subset(&sent), "unknown instances in the index");
    for &k in &acked {
        assert!(
            indexed.contains(&corpus[k].instance_id()),
            "acknowledged instance {k} lost"
        );
    }
    eprintln!(
        "{} indexed without acknowledgement",
        indexed.len() - acked.len()
    );
    // Nothing half-written: the indexed instances form a complete, exact state on both
    // survivors (parents, files, counts, change log).
    let present: Vec<&Sample> = corpus
        .iter()
        .filter(|s| indexed.contains(&s.instance_id()))
        .collect();
    check_exact_state(&survivors, &present);
    check_no_dangling_rows(&db);
    // The storage holds every indexed file, plus at most the files of the killed process's
    // stores in flight (two client threads), not yet indexed: orphans for the start-up sweep.
    let stored = stored_uuids(storage.path());
    let referenced = indexed_uuids(&db);
    assert!(referenced.is_subset(&stored), "indexed files missing");
    let orphans = stored.difference(&referenced).count();
    assert!(orphans <= 2, "{orphans} orphan files");

    // The survivors keep working: they store the rest of the corpus.
    for (k, s) in corpus.iter().enumerate() {
        let a = survivors[k % 2].upload(&s.bytes);
        let want = if indexed.contains(&s.instance_id()) {
            "AlreadyStored"
        } else {
            "Success"
        };
        assert_eq!(a["Status"], json!(want), "instance {k}");
    }
    let all: Vec<&Sample> = corpus.iter().collect();
    check_exact_state(&survivors, &all);

    // The killed process comes back on the same index and sees the same state.
    servers[0].restart();
    let refs: Vec<&Server> = servers.iter().collect();
    check_exact_state(&refs, &all);
    check_no_dangling_rows(&db);
    let failed = failed.into_inner().unwrap();
    assert!(failed.is_empty(), "uploads failed: {failed:#?}");
    eprintln!("sigkill_of_one_process_during_a_burst: {:?}", t0.elapsed());
}

/// The `i`-th instance of the deletion race of round `round` (all in one study, two series).
fn race_instance(round: usize, i: usize) -> Sample {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut one = extra_instance(
        leak(format!("RACE{round}")),
        leak(format!("3.{round}")),
        leak(format!("{}", i % 2 + 1)),
        leak(format!("{}", i + 1)),
    );
    one.name = "race";
    one
}

#[test]
fn study_deleted_by_one_process_while_another_adds_to_it() {
    let t0 = Instant::now();
    let db = TestDatabase::create();
    let storage = tempfile::tempdir().unwrap();
    let servers = start_cluster(3, &db, storage.path());
    const ROUNDS: usize = 6;
    const BASE: usize = 4;
    const ADDED: usize = 16;

    let mut sent: Vec<Sample> = Vec::new();
    // Requests that failed: checked last, once the state left by the races is checked.
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    // Instances whose upload started after the deletion had answered: they must survive.
    let mut must_exist: BTreeSet<String> = BTreeSet::new();
    for round in 0..ROUNDS {
        let samples: Vec<Sample> = (0..BASE + ADDED).map(|i| race_instance(round, i)).collect();
        for s in &samples[..BASE] {
            servers[0].upload(&s.bytes);
        }
        let study = samples[0].study_id();
        let deleted_at: Mutex<Option<Instant>> = Mutex::new(None);
        let started: Mutex<Vec<(usize, Instant, bool)>> = Mutex::new(Vec::new());
        let acked_adds = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            // Processes #1 and #2 add instances to the study...
            for (p, srv) in servers.iter().enumerate().skip(1) {
                let (samples, started, acked_adds, failures) =
                    (&samples, &started, &acked_adds, &failures);
                scope.spawn(move || {
                    for i in (BASE + p - 1..BASE + ADDED).step_by(2) {
                        let at = Instant::now();
                        let r = srv.post("/instances", &samples[i].bytes);
                        let ok = r.status == 200;
                        if ok {
                            assert_eq!(r.json()["Status"], json!("Success"), "round {round}, {i}");
                        } else {
                            failures.lock().unwrap().push(format!(
                                "round {round}: upload {i} to process #{p}: {} {}",
                                r.status,
                                r.text()
                            ));
                        }
                        started.lock().unwrap().push((i, at, ok));
                        acked_adds.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
            // ... while process #0 deletes it (after a round-dependent number of additions).
            let (srv, deleted_at, acked_adds, study, failures) =
                (&servers[0], &deleted_at, &acked_adds, &study, &failures);
            scope.spawn(move || {
                while acked_adds.load(Ordering::SeqCst) < round {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let r = srv.delete(&format!("/studies/{study}"));
                if r.status != 200 {
                    failures.lock().unwrap().push(format!(
                        "round {round}: DELETE /studies/{study}: {} {}",
                        r.status,
                        r.text()
                    ));
                }
                *deleted_at.lock().unwrap() = Some(Instant::now());
            });
        });
        let deleted_at = deleted_at.into_inner().unwrap().unwrap();
        for (i, at, ok) in started.into_inner().unwrap() {
            if ok && at > deleted_at {
                must_exist.insert(samples[i].instance_id());
            }
        }
        sent.extend(samples);
    }

    // Each instance sent is either there with its ancestors and its file, or gone with its
    // file; seen the same way by every process.
    let mut present: Vec<&Sample> = Vec::new();
    for s in &sent {
        let id = s.instance_id();
        let answers: Vec<u16> = servers
            .iter()
            .map(|srv| srv.get(&format!("/instances/{id}")).status)
            .collect();
        assert!(
            answers.iter().all(|&a| a == answers[0]),
            "processes disagree about {id}: {answers:?}"
        );
        match answers[0] {
            200 => {
                let inst = servers[1].get_json(&format!("/instances/{id}"));
                assert_eq!(inst["ParentSeries"], json!(s.series_id()));
                let series = servers[2].get_json(&format!("/series/{}", s.series_id()));
                assert_eq!(series["ParentStudy"], json!(s.study_id()));
                let study = servers[0].get_json(&format!("/studies/{}", s.study_id()));
                assert_eq!(study["ParentPatient"], json!(s.patient_id()));
                servers[1].get_json(&format!("/patients/{}", s.patient_id()));
                present.push(s);
            }
            404 => assert!(
                !must_exist.contains(&id),
                "instance {id}, uploaded after the deletion, is gone"
            ),
            other => panic!("GET /instances/{id}: {other}"),
        }
    }
    eprintln!(
        "{} of {} instances survived {ROUNDS} deletion races ({} sent after the deletion)",
        present.len(),
        sent.len(),
        must_exist.len()
    );
    // Exact state for what is present; no dangling rows; exactly the files of the present
    // instances in the storage.
    let refs: Vec<&Server> = servers.iter().collect();
    check_exact_state(&refs, &present);
    check_no_dangling_rows(&db);
    assert_eq!(stored_uuids(storage.path()), indexed_uuids(&db));
    assert_eq!(stored_uuids(storage.path()).len(), present.len());
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} requests failed during the races:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "study_deleted_by_one_process_while_another_adds_to_it: {:?}",
        t0.elapsed()
    );
}

/// `MaximumPatientCount` with three processes writing at once: the limit is never exceeded
/// (a client polling the count during the burst never sees more), every upload succeeds by
/// recycling, the patients written last survive, and index and storage agree at the end (no
/// patient deleted twice or half-deleted).
#[test]
fn recycling_with_three_writers_keeps_the_limit() {
    const MAX: u64 = 5;
    let db = TestDatabase::create();
    let storage = tempfile::tempdir().unwrap();
    let servers: Vec<Server> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    Server::start_shared(
                        json!({"MaximumPatientCount": MAX}),
                        storage.path(),
                        shared_postgres_section(&db.url),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Mostly one instance per patient, so that new patients (and recycling) are constant and
    // the processes often decide at the same moment; a few patients get several instances.
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let corpus: Vec<Sample> = (0..90)
        .flat_map(|p| {
            let (pid, study) = (leak(format!("RECYCLE-{p}")), leak(format!("77.{p}")));
            (0..1 + usize::from(p % 10 == 0) * 3).map(move |i| sized_instance(pid, study, i, 8))
        })
        .collect();
    let patients_in_corpus: BTreeSet<String> = corpus.iter().map(|s| s.patient_id()).collect();
    assert!(patients_in_corpus.len() as u64 > 2 * MAX);

    // Six clients (two per process) take the instances in order from one queue, so that the
    // instances of a patient go through several processes at once.
    let cursor = AtomicUsize::new(0);
    let failed: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    let done = AtomicBool::new(false);
    let most_seen = std::thread::scope(|scope| {
        let monitor = scope.spawn(|| {
            let mut most = 0;
            while !done.load(Ordering::SeqCst) {
                let count = servers[0].get_json("/statistics")["CountPatients"]
                    .as_u64()
                    .unwrap();
                most = most.max(count);
            }
            most
        });
        let workers: Vec<_> = (0..6)
            .map(|w| {
                let (srv, cursor, failed, corpus) = (&servers[w % 3], &cursor, &failed, &corpus);
                scope.spawn(move || loop {
                    let k = cursor.fetch_add(1, Ordering::SeqCst);
                    if k >= corpus.len() {
                        return;
                    }
                    if let Some(status) = upload_or_record(srv, corpus, k, failed) {
                        if status != "Success" {
                            failed.lock().unwrap().push((k, status));
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
        monitor.join().unwrap()
    });
    let failed = failed.into_inner().unwrap();
    assert!(failed.is_empty(), "uploads that failed: {failed:?}");
    assert!(
        most_seen <= MAX,
        "{most_seen} patients seen at once, limit {MAX}"
    );

    // Two more patients, written after the burst through two processes: they are the most
    // recent, so they survive, with all their instances.
    let late = cluster_corpus(10, 2);
    for (k, s) in late.iter().enumerate() {
        let r = servers[k % 2].post("/instances", &s.bytes);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    for srv in &servers {
        let patients = unique_list(srv, "patients");
        assert_eq!(patients.len() as u64, MAX, "{patients:?}");
        for s in &late {
            assert!(patients.contains(&s.patient_id()));
        }
        let instances = unique_list(srv, "instances");
        for s in &late {
            assert!(instances.contains(&s.instance_id()), "{}", s.instance_id());
        }
        // Every instance left belongs to a surviving patient and is one that was sent.
        let sent: BTreeMap<String, String> = corpus
            .iter()
            .chain(late.iter())
            .map(|s| (s.instance_id(), s.patient_id()))
            .collect();
        for id in &instances {
            let patient = sent.get(id).expect("an instance nobody sent");
            assert!(patients.contains(patient));
        }
    }
    check_no_dangling_rows(&db);
    assert_eq!(stored_uuids(storage.path()), indexed_uuids(&db));
}
