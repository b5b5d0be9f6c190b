//! PostgreSQL going away under a running Stowage process: a TCP proxy between the process and
//! the real PostgreSQL cuts every connection and refuses new ones, then accepts again.
//! Requests must fail fast with Orthanc's 503 "DatabaseUnavailable" error, the process must
//! recover on its own, and nothing acknowledged may be lost.
//!
//! Always runs on PostgreSQL (its own throw-away database), whatever `STOWAGE_TEST_INDEX` says.

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Longest acceptable answer while the database is down.
const FAIL_FAST: Duration = Duration::from_secs(5);
/// Longest acceptable time to recover once the database is back.
const RECOVERY: Duration = Duration::from_secs(10);

const UNAVAILABLE: &str =
    "The database is currently not available (probably a transient situation)";

// ---------------------------------------------------------------------------
// A TCP proxy that can "take PostgreSQL down"
// ---------------------------------------------------------------------------

struct ProxyState {
    up: bool,
    /// Both sockets of every proxied connection, to cut them.
    conns: Vec<TcpStream>,
}

struct Proxy {
    port: u16,
    state: Arc<Mutex<ProxyState>>,
    /// Connections accepted and forwarded so far.
    forwarded: Arc<AtomicUsize>,
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// `host:port` of the PostgreSQL server of the tests.
fn postgres_address() -> String {
    let url = postgres_admin_url();
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(&url);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    }
}

impl Proxy {
    fn start() -> Proxy {
        let target = postgres_address();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(ProxyState {
            up: true,
            conns: Vec::new(),
        }));
        let forwarded = Arc::new(AtomicUsize::new(0));
        let (st, fw) = (state.clone(), forwarded.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let mut s = st.lock().unwrap();
                if !s.up {
                    // Refused: closed at once.
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                s.conns.push(client.try_clone().unwrap());
                s.conns.push(server.try_clone().unwrap());
                fw.fetch_add(1, Ordering::SeqCst);
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pipe(client, server));
                std::thread::spawn(move || pipe(s2, c2));
            }
        });
        Proxy {
            port,
            state,
            forwarded,
        }
    }

    /// Cuts every proxied connection and refuses new ones.
    fn down(&self) {
        let mut s = self.state.lock().unwrap();
        s.up = false;
        for c in s.conns.drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// Accepts connections again.
    fn up(&self) {
        self.state.lock().unwrap().up = true;
    }
}

// ---------------------------------------------------------------------------
// HTTP with a bound on the wait
// ---------------------------------------------------------------------------

struct Answer {
    /// `None`: no HTTP answer at all (transport error or timeout).
    status: Option<u16>,
    body: Vec<u8>,
    elapsed: Duration,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

fn call(srv: &Server, method: &str, path: &str, body: Option<&[u8]>) -> Answer {
    let agent = ureq::AgentBuilder::new()
        .max_idle_connections(0)
        .timeout(Duration::from_secs(30))
        .build();
    let start = Instant::now();
    let req = agent.request(method, &srv.url(path));
    let r = match body {
        Some(b) => req.send_bytes(b),
        None => req.call(),
    };
    let resp = match r {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(_) => {
            return Answer {
                status: None,
                body: Vec::new(),
                elapsed: start.elapsed(),
            }
        }
    };
    let status = resp.status();
    let mut body = Vec::new();
    let _ = resp.into_reader().read_to_end(&mut body);
    Answer {
        status: Some(status),
        body,
        elapsed: start.elapsed(),
    }
}

/// The request fails fast with Orthanc's "DatabaseUnavailable" error.
fn assert_unavailable(srv: &Server, method: &str, path: &str, body: Option<&[u8]>) {
    let a = call(srv, method, path, body);
    assert_eq!(
        a.status,
        Some(503),
        "{method} {path} with PostgreSQL down, after {:?}: {}",
        a.elapsed,
        String::from_utf8_lossy(&a.body)
    );
    assert!(
        a.elapsed < FAIL_FAST,
        "{method} {path} took {:?} to fail",
        a.elapsed
    );
    let j = a.json();
    assert_eq!(j["HttpStatus"], json!(503), "{j}");
    assert_eq!(j["HttpError"], json!("Service Unavailable"), "{j}");
    assert_eq!(j["OrthancStatus"], json!(36), "{j}");
    assert_eq!(j["Message"], json!(UNAVAILABLE), "{j}");
    assert_eq!(j["OrthancError"], json!(UNAVAILABLE), "{j}");
    assert_eq!(j["Method"], json!(method), "{j}");
    let uri = path.split('?').next().unwrap();
    assert_eq!(j["Uri"], json!(uri), "{j}");
}

fn outage_section(url: &str) -> Value {
    json!({
        "EnableIndex": true,
        "ConnectionUri": url,
        "Lock": false,
        "IndexConnectionsCount": 4,
        "MaximumConnectionRetries": 10,
        "ConnectionRetryInterval": 1,
    })
}

fn stored_files(storage: &Path) -> BTreeSet<String> {
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
    let mut out = BTreeSet::new();
    walk(storage, &mut out);
    out
}

/// Waits until the process answers `/statistics` again.
fn wait_recovered(srv: &Server) -> Duration {
    let start = Instant::now();
    loop {
        let a = call(srv, "GET", "/statistics", None);
        if a.status == Some(200) {
            return start.elapsed();
        }
        assert!(
            a.status == Some(503),
            "while recovering: {:?} {}",
            a.status,
            String::from_utf8_lossy(&a.body)
        );
        assert!(
            start.elapsed() < RECOVERY,
            "the process did not recover within {RECOVERY:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn connection_loss_answers_503_then_recovers_without_restart() {
    let t0 = Instant::now();
    let db = TestDatabase::create();
    let proxy = Proxy::start();
    let storage = tempfile::tempdir().unwrap();
    let srv = Server::start_shared(
        json!({}),
        storage.path(),
        outage_section(&db.url_via("127.0.0.1", proxy.port)),
    );
    let corpus = cluster_corpus(5, 4);
    let (first, rest) = corpus.split_at(corpus.len() / 3);
    srv.upload_all(first);
    assert!(proxy.forwarded.load(Ordering::SeqCst) > 0, "not proxied");
    let probe = first[0].instance_id();

    // A client keeps uploading the rest while the database goes down and comes back.
    let stop = AtomicBool::new(false);
    // (upload number, status if any, time taken, body)
    type Answer = (usize, Option<u16>, Duration, String);
    let answers: Mutex<Vec<Answer>> = Mutex::new(Vec::new());
    let new_sample = extra_instance("OUTAGE-NEW", "66.1", "1", "1");
    std::thread::scope(|scope| {
        let (srv, stop, answers) = (&srv, &stop, &answers);
        scope.spawn(move || {
            let mut k = 0;
            while !stop.load(Ordering::SeqCst) {
                let a = call(srv, "POST", "/instances", Some(&rest[k % rest.len()].bytes));
                let text = String::from_utf8_lossy(&a.body).into_owned();
                answers
                    .lock()
                    .unwrap()
                    .push((k % rest.len(), a.status, a.elapsed, text));
                k += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        std::thread::sleep(Duration::from_millis(300));

        // PostgreSQL goes away: every request touching the index answers 503, fast, twice
        // in a row (the first finds the dead pooled connections, the second cannot connect).
        proxy.down();
        for _ in 0..2 {
            assert_unavailable(srv, "GET", "/statistics", None);
            assert_unavailable(srv, "GET", "/instances", None);
            assert_unavailable(srv, "GET", "/patients?expand", None);
            assert_unavailable(srv, "GET", &format!("/instances/{probe}"), None);
            assert_unavailable(srv, "GET", &format!("/instances/{probe}/file"), None);
            assert_unavailable(srv, "GET", "/changes?since=0", None);
            assert_unavailable(
                srv,
                "POST",
                "/tools/find",
                Some(br#"{"Level":"Study","Query":{}}"#),
            );
            assert_unavailable(srv, "POST", "/instances", Some(&new_sample.bytes));
            assert_unavailable(srv, "DELETE", &format!("/instances/{probe}"), None);
        }
        std::thread::sleep(Duration::from_millis(500));

        // It comes back: the same process recovers on its own.
        proxy.up();
        let took = wait_recovered(srv);
        eprintln!("recovered {took:?} after PostgreSQL came back");
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::SeqCst);
    });

    // The uploads in flight during the outage either succeeded or failed with a 503, in
    // bounded time.
    let answers = answers.into_inner().unwrap();
    let mut acked: BTreeSet<String> = first.iter().map(Sample::instance_id).collect();
    let mut unavailable = 0;
    for (k, status, elapsed, text) in &answers {
        assert!(
            *elapsed < FAIL_FAST,
            "an upload took {elapsed:?} ({status:?})"
        );
        match status {
            Some(200) => {
                acked.insert(rest[*k].instance_id());
            }
            Some(503) => {
                unavailable += 1;
                let j: Value = serde_json::from_str(text).unwrap();
                assert_eq!(j["OrthancStatus"], json!(36), "{j}");
            }
            other => panic!("upload during the outage: {other:?} {text}"),
        }
    }
    eprintln!(
        "{} uploads during the outage window: {unavailable} answered 503",
        answers.len()
    );
    assert!(unavailable > 0, "no upload hit the outage");

    // Nothing acknowledged is lost, nothing refused is half there, every indexed instance
    // has its file.
    let indexed = set_of(&srv.get_json("/instances"));
    assert!(acked.is_subset(&indexed), "acknowledged instances lost");
    assert!(!indexed.contains(&new_sample.instance_id()));
    let by_id = |id: &str| corpus.iter().find(|s| s.instance_id() == id).unwrap();
    for id in &indexed {
        let f = srv.get(&format!("/instances/{id}/file"));
        assert_eq!(f.status, 200, "indexed instance {id} without its file");
        assert!(f.body == by_id(id).bytes, "file of {id} differs");
    }
    let referenced: BTreeSet<String> = db
        .query("SELECT uuid FROM AttachedFiles")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(referenced.len(), indexed.len());
    // Every referenced file is there. A refused upload whose commit outcome was unknown (the
    // connection dropped during COMMIT) keeps its file, since the commit may have succeeded;
    // unreferenced ones are orphans for the start-up sweep. There are at most as many as 503s.
    let stored = stored_files(storage.path());
    assert!(referenced.is_subset(&stored), "files missing");
    let orphans = stored.difference(&referenced).count();
    assert!(
        orphans <= unavailable,
        "{orphans} orphan files for {unavailable} refused uploads"
    );
    let stats = srv.get_json("/statistics");
    assert_eq!(stats["CountInstances"], json!(indexed.len()), "{stats}");

    // New uploads succeed; the refused one can be sent again.
    assert_eq!(srv.upload(&new_sample.bytes)["Status"], json!("Success"));
    for s in &corpus {
        let want = if indexed.contains(&s.instance_id()) {
            "AlreadyStored"
        } else {
            "Success"
        };
        assert_eq!(srv.upload(&s.bytes)["Status"], json!(want));
    }
    let stats = srv.get_json("/statistics");
    assert_eq!(stats["CountInstances"], json!(corpus.len() + 1), "{stats}");
    let e = expected(&corpus);
    assert_eq!(stats["CountSeries"], json!(e.series.len() + 1), "{stats}");

    // A second outage, and back again.
    proxy.down();
    assert_unavailable(&srv, "GET", "/instances", None);
    proxy.up();
    wait_recovered(&srv);
    assert_eq!(set_of(&srv.get_json("/instances")).len(), corpus.len() + 1);
    eprintln!("connection loss test: {:?}", t0.elapsed());
}

#[test]
fn start_waits_for_postgresql_then_gives_up() {
    let db = TestDatabase::create();
    let proxy = Proxy::start();
    let storage = tempfile::tempdir().unwrap();
    let url = db.url_via("127.0.0.1", proxy.port);

    // Down at start-up: the process retries (every ConnectionRetryInterval) and starts once
    // PostgreSQL is back.
    proxy.down();
    let srv = std::thread::scope(|scope| {
        let starting =
            scope.spawn(|| Server::start_shared(json!({}), storage.path(), outage_section(&url)));
        std::thread::sleep(Duration::from_millis(1500));
        proxy.up();
        starting.join().unwrap()
    });
    let s = extra_instance("OUTAGE-START", "67.1", "1", "1");
    assert_eq!(srv.upload(&s.bytes)["Status"], json!("Success"));
    drop(srv);

    // Down for longer than MaximumConnectionRetries x ConnectionRetryInterval: the process
    // exits with an error instead of waiting forever.
    proxy.down();
    let tmp = tempfile::tempdir().unwrap();
    let mut section = outage_section(&url);
    section["MaximumConnectionRetries"] = json!(2);
    let config = json!({
        "HttpPort": free_port(),
        "DicomServerEnabled": false,
        "StorageDirectory": storage.path(),
        "IndexDirectory": tmp.path(),
        "PostgreSQL": section,
    });
    let config_path = tmp.path().join("config.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let start = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stowage"))
        .arg(&config_path)
        .output()
        .unwrap();
    let took = start.elapsed();
    assert!(!out.status.success(), "started without PostgreSQL");
    assert!(took < Duration::from_secs(10), "gave up after {took:?}");
    eprintln!(
        "gave up after {took:?}: {}",
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("")
    );
}
