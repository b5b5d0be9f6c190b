//! Shared helpers of the integration tests: a server process guard, a tiny HTTP client,
//! Orthanc identifiers and a synthetic DICOM corpus built with `stowage_dicom::writer`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use stowage_dicom::writer::{DatasetBuilder, DicomBuilder, TransferSyntax};
use stowage_dicom::Tag;

// ---------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------

/// A running `stowage` process on a temporary folder; killed on drop.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub base: String,
    pub storage_dir: PathBuf,
    pub index_dir: PathBuf,
    config_path: PathBuf,
    log_path: PathBuf,
    auth: Option<String>,
    /// The throw-away PostgreSQL database of this server, in PostgreSQL mode.
    postgres: Option<TestDatabase>,
    /// The S3 area of this server, in S3 mode.
    s3: Option<TestS3>,
    // Last so that the folder is removed after the process is gone.
    _tmp: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap().port()
}

impl Server {
    /// Starts a server with the default test configuration plus `extra` keys.
    pub fn start(extra: Value) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let storage_dir = tmp.path().join("storage");
        let index_dir = tmp.path().join("index");
        std::fs::create_dir_all(&storage_dir).unwrap();
        std::fs::create_dir_all(&index_dir).unwrap();
        let port = free_port();
        let mut config = json!({
            "Name": "StowageTest",
            "HttpPort": port,
            "DicomServerEnabled": false,
            "StorageDirectory": storage_dir,
            "IndexDirectory": index_dir,
            "StableAge": 1,
            "RemoteAccessAllowed": true,
            "AuthenticationEnabled": false,
            "OverwriteInstances": false,
            "StorageCompression": false,
        });
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                config[k] = v;
            }
        }
        let s3 = TestS3::from_env_if_requested();
        if let Some(s3) = &s3 {
            config["AwsS3Storage"] = s3.section();
        }
        let postgres = TestDatabase::create_if_requested();
        if let Some(db) = &postgres {
            config["PostgreSQL"] = json!({
                "EnableIndex": true,
                "ConnectionUri": db.url,
                "Lock": false,
                "IndexConnectionsCount": 4,
            });
        }
        let config_path = tmp.path().join("config.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let log_path = tmp.path().join("server.log");
        let mut s = Server {
            child: None,
            port,
            base: format!("http://127.0.0.1:{port}"),
            storage_dir,
            index_dir,
            config_path,
            log_path,
            auth: None,
            postgres,
            s3,
            _tmp: tmp,
        };
        s.spawn();
        s.check_backends(&config);
        s
    }

    /// Checks that the server runs on the index backend and storage area the test mode asks for.
    fn check_backends(&self, config: &Value) {
        let mut req = agent().get(&self.url("/system"));
        if let Some((user, password)) = config["RegisteredUsers"]
            .as_object()
            .and_then(|users| users.iter().next())
        {
            let credentials = format!("{user}:{}", password.as_str().unwrap_or(""));
            req = req.set(
                "Authorization",
                &format!("Basic {}", base64(credentials.as_bytes())),
            );
        }
        let body = req
            .call()
            .expect("GET /system")
            .into_string()
            .expect("/system answers");
        let system: Value = serde_json::from_str(&body).expect("/system is JSON");
        let expected_backend = if self.postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        };
        assert_eq!(
            system["StowageIndexBackend"],
            json!(expected_backend),
            "index backend"
        );
        let expected_area = if self.s3.is_some() {
            "S3"
        } else {
            "Filesystem"
        };
        assert_eq!(
            system["StowageStorageArea"],
            json!(expected_area),
            "storage area"
        );
    }

    /// Credentials sent with every request of the helpers (HTTP Basic).
    pub fn set_auth(&mut self, user: &str, password: &str) {
        self.auth = Some(format!(
            "Basic {}",
            base64(format!("{user}:{password}").as_bytes())
        ));
    }

    pub fn clear_auth(&mut self) {
        self.auth = None;
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_stowage"))
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn stowage");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("stowage exited early ({status}); log:\n{}", self.log());
                }
            }
            let mut req = agent().get(&format!("{}/system", self.base));
            if let Some(a) = &self.auth {
                req = req.set("Authorization", a);
            }
            match req.call() {
                Ok(_) | Err(ureq::Error::Status(_, _)) => return,
                Err(_) => {}
            }
            if Instant::now() > deadline {
                panic!("stowage did not answer /system; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGTERM, then wait for the exit (SIGKILL after 15 s).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    panic!("stowage did not stop on SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The process ID of the running server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// POST that returns `None` on a transport error (server gone).
    pub fn try_post(&self, path: &str, body: &[u8]) -> Option<Resp> {
        let mut req = agent().post(&self.url(path));
        if let Some(a) = &self.auth {
            req = req.set("Authorization", a);
        }
        match req.send_bytes(body) {
            Ok(r) => Some(Resp::from_ureq("POST", path, Ok(r))),
            Err(ureq::Error::Status(c, r)) => Some(Resp::from_ureq(
                "POST",
                path,
                Err(ureq::Error::Status(c, r)),
            )),
            Err(_) => None,
        }
    }

    /// Starts the process again on the same folders and port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill first");
        self.spawn();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> Resp {
        self.request_with(method, path, body, &[])
    }

    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Resp {
        // ureq's error type is large; it is only passed along once here.
        #[allow(clippy::result_large_err)]
        let send = || {
            let mut req = agent().request(method, &self.url(path));
            if let Some(a) = &self.auth {
                req = req.set("Authorization", a);
            }
            for (k, v) in headers {
                req = req.set(k, v);
            }
            match body {
                Some(b) => req.send_bytes(b),
                None => req.call(),
            }
        };
        let mut r = send();
        // A connection closed before any answer (seen once in CI on a loaded machine) is retried
        // once, if the server is still running: every request of these tests may be repeated.
        // A crashed server still fails the test (the retry cannot connect).
        if matches!(&r, Err(ureq::Error::Transport(t)) if t.kind() == ureq::ErrorKind::Io) {
            eprintln!("{method} {path}: connection closed without an answer, retrying once");
            r = send();
        }
        Resp::from_ureq(method, path, r)
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, None)
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.request("DELETE", path, None)
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Resp {
        self.request("POST", path, Some(body))
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Resp {
        self.request_with(
            "POST",
            path,
            Some(body.to_string().as_bytes()),
            &[("Content-Type", "application/json")],
        )
    }

    /// GET that must answer 200 with JSON.
    pub fn get_json(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.json()
    }

    /// Uploads a DICOM file, expects 200 and returns the answer.
    pub fn upload(&self, bytes: &[u8]) -> Value {
        let r = self.post("/instances", bytes);
        assert_eq!(r.status, 200, "upload: {}", r.text());
        r.json()
    }

    pub fn upload_all(&self, corpus: &[Sample]) {
        for s in corpus {
            let a = self.upload(&s.bytes);
            assert_eq!(a["ID"], s.instance_id(), "{}", s.name);
            assert_eq!(a["Status"], "Success", "{}", s.name);
        }
    }

    /// The stored files: paths under the storage folder (recursively, SQLite files excluded), or
    /// in S3 mode the object names (uuids) under the server's root path.
    /// Whether this server keeps its files in `storage_dir` (not on S3).
    pub fn on_filesystem(&self) -> bool {
        self.s3.is_none()
    }

    pub fn storage_files(&self) -> Vec<PathBuf> {
        if let Some(s3) = &self.s3 {
            let mut out: Vec<PathBuf> = s3.list().into_iter().map(PathBuf::from).collect();
            out.sort();
            return out;
        }
        let mut out = Vec::new();
        walk(&self.storage_dir, &mut out);
        out.retain(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("index.sqlite"))
        });
        out.sort();
        out
    }

    /// The bytes of a stored file (one of `storage_files()`).
    pub fn read_stored(&self, file: &Path) -> Vec<u8> {
        match &self.s3 {
            Some(s3) => s3.read(file),
            None => std::fs::read(file).expect("read stored file"),
        }
    }

    /// Replaces the bytes of a stored file behind the server's back.
    pub fn write_stored(&self, file: &Path, bytes: &[u8]) {
        match &self.s3 {
            Some(s3) => s3.write(file, bytes),
            None => std::fs::write(file, bytes).expect("write stored file"),
        }
    }

    /// Waits until every patient, study and series is stable, and its `Stable*` change is
    /// logged (a resource turns stable a moment before its change is committed).
    pub fn wait_stable(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let mut all = true;
            let mut ids = Vec::new();
            for level in ["patients", "studies", "series"] {
                for r in self
                    .get_json(&format!("/{level}?expand"))
                    .as_array()
                    .unwrap()
                {
                    all &= r["IsStable"] == json!(true);
                    ids.push(r["ID"].as_str().unwrap().to_string());
                }
            }
            if all {
                let logged = self.stable_changes_logged();
                if ids.iter().all(|id| logged.contains(id)) {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!("resources did not become stable");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The resources whose `Stable*` change is in the log.
    fn stable_changes_logged(&self) -> std::collections::HashSet<String> {
        let mut ids = std::collections::HashSet::new();
        let mut since = 0;
        loop {
            let page = self.get_json(&format!("/changes?since={since}&limit=1000"));
            for c in page["Changes"].as_array().unwrap() {
                if c["ChangeType"].as_str().unwrap().starts_with("Stable") {
                    ids.insert(c["ID"].as_str().unwrap().to_string());
                }
            }
            since = page["Last"].as_i64().unwrap();
            if page["Done"] == json!(true) {
                return ids;
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        self.postgres.take();
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL mode: `STOWAGE_TEST_INDEX=postgres` runs every server of the suite on a fresh
// PostgreSQL database (server from `STOWAGE_TEST_POSTGRES_URL`, by default the local one).
// ---------------------------------------------------------------------------

pub struct TestDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

fn psql(url: &str, sql: &str) -> std::process::Output {
    Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("psql (PostgreSQL client) is needed in PostgreSQL mode")
}

impl TestDatabase {
    fn create_if_requested() -> Option<TestDatabase> {
        if !std::env::var("STOWAGE_TEST_INDEX")
            .ok()?
            .eq_ignore_ascii_case("postgres")
        {
            return None;
        }
        let admin_url = std::env::var("STOWAGE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("stowage_rest_{}_{}", std::process::id(), uuid_like_suffix());
        let out = psql(&admin_url, &format!("CREATE DATABASE {name}"));
        assert!(
            out.status.success(),
            "CREATE DATABASE failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let scheme_end = admin_url.find("://").map(|i| i + 3).unwrap_or(0);
        let path_start = admin_url[scheme_end..]
            .find('/')
            .map(|i| i + scheme_end)
            .unwrap_or(admin_url.len());
        let url = format!("{}/{name}", &admin_url[..path_start]);
        Some(TestDatabase {
            admin_url,
            name,
            url,
        })
    }
}

fn uuid_like_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}_{nanos}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .max_idle_connections(0)
        .timeout(Duration::from_secs(60))
        .build()
}

// ---------------------------------------------------------------------------
// HTTP answers
// ---------------------------------------------------------------------------

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    fn from_ureq(method: &str, path: &str, r: Result<ureq::Response, ureq::Error>) -> Resp {
        let resp = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: transport error {e}"),
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .into_iter()
            .map(|n| {
                let v = resp.header(&n).unwrap_or("").to_owned();
                (n, v)
            })
            .collect();
        let mut body = Vec::new();
        resp.into_reader()
            .read_to_end(&mut body)
            .expect("read body");
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    /// Checks Orthanc's JSON error body.
    pub fn assert_orthanc_error(
        &self,
        http: u16,
        orthanc_status: i64,
        message: &str,
        method: &str,
        uri: &str,
    ) {
        assert_eq!(self.status, http, "body: {}", self.text());
        let j = self.json();
        assert_eq!(j["HttpStatus"], json!(http), "{j}");
        assert_eq!(j["OrthancStatus"], json!(orthanc_status), "{j}");
        assert_eq!(j["Message"], json!(message), "{j}");
        assert_eq!(j["OrthancError"], json!(message), "{j}");
        assert_eq!(j["Method"], json!(method), "{j}");
        assert_eq!(j["Uri"], json!(uri), "{j}");
        assert!(j["HttpError"].is_string(), "{j}");
    }
}

pub fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in input.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

// ---------------------------------------------------------------------------
// Identifiers
// ---------------------------------------------------------------------------

/// Orthanc's public ID: SHA-1 of the parts joined with `|`, 5 groups of 8 hex digits.
pub fn orthanc_id(parts: &[&str]) -> String {
    let digest = Sha1::digest(parts.join("|").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let groups: Vec<&str> = (0..5).map(|i| &hex[i * 8..i * 8 + 8]).collect();
    groups.join("-")
}

pub const EMPTY_PATIENT_ID: &str = "da39a3ee-5e6b4b0d-3255bfef-95601890-afd80709";

// ---------------------------------------------------------------------------
// Corpus
// ---------------------------------------------------------------------------

pub const UID_ROOT: &str = "1.2.826.0.1.3680043.8.498.99";
pub const CT_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
pub const MR_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.4";
pub const CR_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.1";
pub const SC_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.7";
pub const MF_BYTE_SC: &str = "1.2.840.10008.5.1.4.1.1.7.2";
pub const PDF_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.104.1";
pub const BASIC_TEXT_SR: &str = "1.2.840.10008.5.1.4.1.1.88.11";
pub const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";

pub fn t(group: u16, element: u16) -> Tag {
    Tag::new(group, element)
}

/// One synthetic DICOM file and what the test knows about it.
#[derive(Clone, Debug)]
pub struct Sample {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    /// `None` when the PatientID element is absent.
    pub patient_id: Option<String>,
    pub patient_name: String,
    pub patient_birth_date: String,
    pub patient_sex: String,
    pub study_uid: String,
    pub study_date: String,
    pub study_time: String,
    pub study_description: String,
    pub accession: String,
    pub institution: String,
    pub referring: String,
    pub series_uid: String,
    pub modality: String,
    pub series_description: String,
    pub series_number: String,
    pub sop_class: String,
    pub sop_uid: String,
    pub instance_number: String,
    pub transfer_syntax: &'static str,
    pub frames: u32,
    pub has_pixels: bool,
    pub charset: Option<&'static str>,
}

impl Sample {
    pub fn pid(&self) -> &str {
        self.patient_id.as_deref().unwrap_or("")
    }
    pub fn patient_id(&self) -> String {
        orthanc_id(&[self.pid()])
    }
    pub fn study_id(&self) -> String {
        orthanc_id(&[self.pid(), &self.study_uid])
    }
    pub fn series_id(&self) -> String {
        orthanc_id(&[self.pid(), &self.study_uid, &self.series_uid])
    }
    pub fn instance_id(&self) -> String {
        orthanc_id(&[self.pid(), &self.study_uid, &self.series_uid, &self.sop_uid])
    }

    pub fn patient_main_tags(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("PatientName".into(), json!(self.patient_name));
        if let Some(p) = &self.patient_id {
            m.insert("PatientID".into(), json!(p));
        }
        m.insert("PatientBirthDate".into(), json!(self.patient_birth_date));
        m.insert("PatientSex".into(), json!(self.patient_sex));
        Value::Object(m)
    }

    pub fn study_main_tags(&self) -> Value {
        json!({
            "StudyInstanceUID": self.study_uid,
            "StudyDate": self.study_date,
            "StudyTime": self.study_time,
            "StudyDescription": self.study_description,
            "AccessionNumber": self.accession,
            "StudyID": "1",
            "InstitutionName": self.institution,
            "ReferringPhysicianName": self.referring,
        })
    }

    pub fn series_main_tags(&self) -> Value {
        json!({
            "SeriesInstanceUID": self.series_uid,
            "Modality": self.modality,
            "SeriesDescription": self.series_description,
            "SeriesNumber": self.series_number,
            "Manufacturer": "ACME Synthetic",
            "SeriesDate": self.study_date,
            "SeriesTime": self.study_time,
        })
    }

    pub fn instance_main_tags(&self) -> Value {
        let mut v = json!({
            "SOPInstanceUID": self.sop_uid,
            "InstanceNumber": self.instance_number,
        });
        if self.frames > 1 {
            v["NumberOfFrames"] = json!(self.frames.to_string());
        }
        v
    }
}

/// The parameters of a sample before its file is built.
struct Spec {
    name: &'static str,
    ts: TransferSyntax,
    patient_id: Option<&'static str>,
    patient_name: &'static str,
    /// Raw bytes of the patient name when not UTF-8 (Latin-1).
    patient_name_raw: Option<Vec<u8>>,
    birth: &'static str,
    sex: &'static str,
    study: &'static str,
    study_date: &'static str,
    study_desc: &'static str,
    study_desc_raw: Option<Vec<u8>>,
    accession: &'static str,
    institution: &'static str,
    institution_raw: Option<Vec<u8>>,
    referring: &'static str,
    series: &'static str,
    modality: &'static str,
    series_desc: &'static str,
    series_number: &'static str,
    sop_class: &'static str,
    instance: &'static str,
    charset: Option<&'static str>,
}

impl Spec {
    fn new(name: &'static str, pid: &'static str, study: &'static str) -> Spec {
        Spec {
            name,
            ts: TransferSyntax::ExplicitVrLittleEndian,
            patient_id: Some(pid),
            patient_name: "Doe^John",
            patient_name_raw: None,
            birth: "19700101",
            sex: "M",
            study,
            study_date: "20200315",
            study_desc: "CT Chest",
            study_desc_raw: None,
            accession: "ACC001",
            institution: "Test Hospital",
            institution_raw: None,
            referring: "House^Gregory",
            series: "1",
            modality: "CT",
            series_desc: "Axial 5mm",
            series_number: "1",
            sop_class: CT_IMAGE,
            instance: "1",
            charset: None,
        }
    }

    fn study_uid(&self) -> String {
        format!("{UID_ROOT}.{}", self.study)
    }
    fn series_uid(&self) -> String {
        format!("{UID_ROOT}.{}.{}", self.study, self.series)
    }
    fn sop_uid(&self) -> String {
        format!(
            "{UID_ROOT}.{}.{}.{}",
            self.study, self.series, self.instance
        )
    }

    /// The common tags of every file.
    fn builder(&self) -> DicomBuilder {
        let mut b = DicomBuilder::new(self.ts).sop(self.sop_class, &self.sop_uid());
        if let Some(cs) = self.charset {
            b = b.string(t(0x0008, 0x0005), "CS", cs);
        }
        b = b
            .string(t(0x0008, 0x0020), "DA", self.study_date)
            .string(t(0x0008, 0x0021), "DA", self.study_date)
            .string(t(0x0008, 0x0030), "TM", "101500")
            .string(t(0x0008, 0x0031), "TM", "101500")
            .string(t(0x0008, 0x0050), "SH", self.accession)
            .string(t(0x0008, 0x0060), "CS", self.modality)
            .string(t(0x0008, 0x0070), "LO", "ACME Synthetic")
            .string(t(0x0008, 0x0090), "PN", self.referring)
            .string(t(0x0008, 0x103e), "LO", self.series_desc)
            .string(t(0x0010, 0x0030), "DA", self.birth)
            .string(t(0x0010, 0x0040), "CS", self.sex)
            .string(t(0x0020, 0x000d), "UI", &self.study_uid())
            .string(t(0x0020, 0x000e), "UI", &self.series_uid())
            .string(t(0x0020, 0x0010), "SH", "1")
            .string(t(0x0020, 0x0011), "IS", self.series_number)
            .string(t(0x0020, 0x0013), "IS", self.instance);
        b = match &self.patient_name_raw {
            Some(raw) => b.raw(t(0x0010, 0x0010), "PN", raw),
            None => b.string(t(0x0010, 0x0010), "PN", self.patient_name),
        };
        b = match &self.study_desc_raw {
            Some(raw) => b.raw(t(0x0008, 0x1030), "LO", raw),
            None => b.string(t(0x0008, 0x1030), "LO", self.study_desc),
        };
        b = match &self.institution_raw {
            Some(raw) => b.raw(t(0x0008, 0x0080), "LO", raw),
            None => b.string(t(0x0008, 0x0080), "LO", self.institution),
        };
        if let Some(pid) = self.patient_id {
            b = b.string(t(0x0010, 0x0020), "LO", pid);
        }
        b
    }

    fn finish(self, bytes: Vec<u8>, frames: u32, has_pixels: bool) -> Sample {
        Sample {
            name: self.name,
            bytes,
            patient_id: self.patient_id.map(str::to_owned),
            patient_name: self.patient_name.to_owned(),
            patient_birth_date: self.birth.to_owned(),
            patient_sex: self.sex.to_owned(),
            study_uid: self.study_uid(),
            study_date: self.study_date.to_owned(),
            study_time: "101500".to_owned(),
            study_description: self.study_desc.to_owned(),
            accession: self.accession.to_owned(),
            institution: self.institution.to_owned(),
            referring: self.referring.to_owned(),
            series_uid: self.series_uid(),
            modality: self.modality.to_owned(),
            series_description: self.series_desc.to_owned(),
            series_number: self.series_number.to_owned(),
            sop_class: self.sop_class.to_owned(),
            sop_uid: self.sop_uid(),
            instance_number: self.instance.to_owned(),
            transfer_syntax: self.ts.uid(),
            frames,
            has_pixels,
            charset: self.charset,
        }
    }

    /// A 16-bit grayscale image of `n` x `n` pixels with a pattern depending on `seed`.
    fn image16(self, n: u16, seed: u16) -> Sample {
        let data: Vec<u8> = (0..n as u32 * n as u32)
            .flat_map(|i| ((i as u16).wrapping_mul(7).wrapping_add(seed)).to_le_bytes())
            .collect();
        let bytes = self
            .builder()
            .string(t(0x0028, 0x1050), "DS", "40")
            .string(t(0x0028, 0x1051), "DS", "400")
            .pixel_data_native(n, n, 16, 1, 1, data)
            .build();
        self.finish(bytes, 1, true)
    }
}

/// 16-bit pixel words of the 16x16 image of [`corpus`]'s CT #1.
pub fn ct1_pixels() -> Vec<u8> {
    (0..16u32 * 16)
        .flat_map(|i| ((i as u16).wrapping_mul(7).wrapping_add(1)).to_le_bytes())
        .collect()
}

/// A fake JPEG bitstream (SOI ... EOI); never decoded by the tests.
pub fn fake_jpeg() -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    v.extend_from_slice(b"JFIF\0");
    v.extend((0..101u32).map(|i| (i * 13 % 251) as u8));
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

pub const LT_300: usize = 300;

pub fn long_text() -> String {
    (0..LT_300)
        .map(|i| char::from(b'0' + (i % 10) as u8))
        .collect()
}

pub const PDF_BYTES: &[u8] =
    b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

/// The synthetic corpus, in upload order. 8 patients, 10 studies, 15 series, 19 instances.
pub fn corpus() -> Vec<Sample> {
    let mut out = Vec::new();

    // PAT001, study 1: a CT series of 3 instances (Explicit VR LE).
    for i in 1..=3u16 {
        let mut s = Spec::new(["ct1", "ct2", "ct3"][i as usize - 1], "PAT001", "1.1");
        s.instance = ["1", "2", "3"][i as usize - 1];
        out.push(s.image16(16, i));
    }
    // PAT001, study 2: an MR series of 2 instances.
    for i in 1..=2u16 {
        let mut s = Spec::new(["mr1", "mr2"][i as usize - 1], "PAT001", "1.2");
        s.study_date = "20210620";
        s.study_desc = "MR Brain";
        s.accession = "ACC002";
        s.modality = "MR";
        s.series_desc = "T1 axial";
        s.sop_class = MR_IMAGE;
        s.instance = ["1", "2"][i as usize - 1];
        out.push(s.image16(8, 100 + i));
    }
    // PAT002: a CR study of 2 instances.
    for i in 1..=2u16 {
        let mut s = Spec::new(["cr1", "cr2"][i as usize - 1], "PAT002", "2.1");
        s.patient_name = "Smith^Jane";
        s.birth = "19851224";
        s.sex = "F";
        s.study_date = "20200901";
        s.study_desc = "CR Thorax";
        s.accession = "ACC003";
        s.modality = "CR";
        s.series_desc = "PA view";
        s.sop_class = CR_IMAGE;
        s.referring = "Wilson^James";
        s.instance = ["1", "2"][i as usize - 1];
        out.push(s.image16(8, 200 + i));
    }
    // PAT-FMT: one study, one series per encoding.
    let fmt = |name, series, modality, ts| {
        let mut s = Spec::new(name, "PAT-FMT", "3.1");
        s.patient_name = "Formats^Test";
        s.birth = "19900202";
        s.sex = "O";
        s.study_date = "20190101";
        s.study_desc = "Encoding zoo";
        s.accession = "ACC004";
        s.series = series;
        s.series_number = series;
        s.modality = modality;
        s.series_desc = name;
        s.sop_class = SC_IMAGE;
        s.ts = ts;
        s
    };
    out.push(
        fmt(
            "implicit",
            "1",
            "CT",
            TransferSyntax::ImplicitVrLittleEndian,
        )
        .image16(8, 301),
    );
    out.push(fmt("bigendian", "2", "MR", TransferSyntax::ExplicitVrBigEndian).image16(8, 302));
    out.push(
        fmt(
            "deflated",
            "3",
            "OT",
            TransferSyntax::DeflatedExplicitVrLittleEndian,
        )
        .image16(32, 303),
    );
    {
        let s = fmt(
            "jpeg",
            "4",
            "XC",
            TransferSyntax::Encapsulated(JPEG_BASELINE),
        );
        let bytes = s
            .builder()
            .u16(t(0x0028, 0x0002), 3)
            .string(t(0x0028, 0x0004), "CS", "YBR_FULL_422")
            .u16(t(0x0028, 0x0006), 0)
            .u16(t(0x0028, 0x0010), 8)
            .u16(t(0x0028, 0x0011), 8)
            .u16(t(0x0028, 0x0100), 8)
            .u16(t(0x0028, 0x0101), 8)
            .u16(t(0x0028, 0x0102), 7)
            .u16(t(0x0028, 0x0103), 0)
            .pixel_data_encapsulated(vec![fake_jpeg()])
            .build();
        out.push(s.finish(bytes, 1, true));
    }
    {
        let mut s = fmt(
            "multiframe",
            "5",
            "OT",
            TransferSyntax::ExplicitVrLittleEndian,
        );
        s.sop_class = MF_BYTE_SC;
        let data: Vec<u8> = (0..4 * 4 * 4u32).map(|i| (i * 3) as u8).collect();
        let bytes = s.builder().pixel_data_native(4, 4, 8, 1, 4, data).build();
        out.push(s.finish(bytes, 4, true));
    }
    // PAT-LATIN1: ISO_IR 100 written as Latin-1 bytes.
    {
        let mut s = Spec::new("latin1", "PAT-LATIN1", "4.1");
        s.patient_name = "Müller^Jürgen";
        s.patient_name_raw = Some(latin1("Müller^Jürgen"));
        s.birth = "19600606";
        s.study_date = "20190505";
        s.study_desc = "Schädel nativ";
        s.study_desc_raw = Some(latin1("Schädel nativ"));
        s.institution = "Klinik Göttingen";
        s.institution_raw = Some(latin1("Klinik Göttingen"));
        s.accession = "ACC005";
        s.charset = Some("ISO_IR 100");
        out.push(s.image16(4, 401));
    }
    // PAT-UTF8: ISO_IR 192.
    {
        let mut s = Spec::new("utf8", "PAT-UTF8", "5.1");
        s.patient_name = "Yamada^Tarou=山田^太郎=やまだ^たろう";
        s.birth = "19750707";
        s.study_date = "20220202";
        s.study_desc = "Μελέτη εγκεφάλου";
        s.accession = "ACC006";
        s.modality = "MR";
        s.series_desc = "山田 series";
        s.sop_class = MR_IMAGE;
        s.charset = Some("ISO_IR 192");
        out.push(s.image16(4, 501));
    }
    // PAT-SEQ: sequences (undefined lengths), private tags, a 300-char LT.
    {
        let mut s = Spec::new("sequences", "PAT-SEQ", "6.1");
        s.patient_name = "Sequence^Private";
        s.birth = "19800808";
        s.sex = "F";
        s.study_date = "20200707";
        s.study_desc = "Sequences and private tags";
        s.accession = "ACC007";
        s.modality = "OT";
        s.series_desc = "Nested sequences";
        s.sop_class = SC_IMAGE;
        let item = |uid: &str| {
            DatasetBuilder::new()
                .string(t(0x0008, 0x1150), "UI", "1.2.840.10008.3.1.2.3.1")
                .string(t(0x0008, 0x1155), "UI", uid)
        };
        let deepest = DatasetBuilder::new()
            .string(t(0x0040, 0xa040), "CS", "TEXT")
            .string(t(0x0040, 0xa160), "UT", "deepest level");
        let code = DatasetBuilder::new()
            .string(t(0x0008, 0x0100), "SH", "PROT-1")
            .string(t(0x0008, 0x0102), "SH", "99ACME")
            .string(t(0x0008, 0x0104), "LO", "Synthetic protocol")
            .sequence(t(0x0040, 0x0440), vec![deepest]);
        let request = DatasetBuilder::new()
            .sequence(t(0x0040, 0x0008), vec![code])
            .string(t(0x0040, 0x0009), "SH", "SPS-1")
            .string(t(0x0040, 0x1001), "SH", "RP-1");
        let bytes = s
            .builder()
            .undefined_lengths(true)
            .sequence(
                t(0x0008, 0x1110),
                vec![
                    item(&format!("{UID_ROOT}.6.9.1")),
                    item(&format!("{UID_ROOT}.6.9.2")),
                ],
            )
            .sequence(t(0x0008, 0x1120), vec![])
            .string(t(0x0009, 0x0010), "LO", "STOWAGE_TEST")
            .string(t(0x0009, 0x1001), "LO", "private text value")
            .u16(t(0x0009, 0x1002), 42)
            .string(t(0x0010, 0x21b0), "LT", &long_text())
            .sequence(t(0x0040, 0x0275), vec![request])
            .pixel_data_native(4, 4, 8, 1, 1, (0..16u8).collect())
            .build();
        out.push(s.finish(bytes, 1, true));
    }
    // PAT-DOC: an encapsulated PDF and a Basic Text SR, without pixel data.
    {
        let mut s = Spec::new("pdf", "PAT-DOC", "7.1");
        s.patient_name = "Document^NoPixel";
        s.birth = "19950909";
        s.sex = "F";
        s.study_date = "20211111";
        s.study_desc = "Documents";
        s.accession = "ACC008";
        s.modality = "DOC";
        s.series_desc = "PDF";
        s.sop_class = PDF_STORAGE;
        let bytes = s
            .builder()
            .string(t(0x0042, 0x0012), "LO", "application/pdf")
            .raw(t(0x0042, 0x0011), "OB", PDF_BYTES)
            .build();
        out.push(s.finish(bytes, 1, false));
    }
    {
        let mut s = Spec::new("sr", "PAT-DOC", "7.1");
        s.patient_name = "Document^NoPixel";
        s.birth = "19950909";
        s.sex = "F";
        s.study_date = "20211111";
        s.study_desc = "Documents";
        s.accession = "ACC008";
        s.modality = "SR";
        s.series = "2";
        s.series_number = "2";
        s.series_desc = "Report";
        s.sop_class = BASIC_TEXT_SR;
        let bytes = s
            .builder()
            .string(t(0x0040, 0xa040), "CS", "CONTAINER")
            .build();
        out.push(s.finish(bytes, 1, false));
    }
    // No PatientID: empty, then absent (same patient "").
    {
        let mut s = Spec::new("noid-empty", "", "8.1");
        s.patient_name = "NoPatientId^Empty";
        s.birth = "20000101";
        s.study_date = "20000101";
        s.study_desc = "No id empty";
        s.accession = "ACC009";
        s.modality = "OT";
        out.push(s.image16(2, 801));
    }
    {
        let mut s = Spec::new("noid-absent", "", "9.1");
        s.patient_id = None;
        s.patient_name = "NoPatientId^Absent";
        s.birth = "20000102";
        s.study_date = "20000102";
        s.study_desc = "No id absent";
        s.accession = "ACC010";
        s.modality = "OT";
        out.push(s.image16(2, 901));
    }
    out
}

pub fn latin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(c as u32).expect("latin-1"))
        .collect()
}

pub fn by_name<'a>(corpus: &'a [Sample], name: &str) -> &'a Sample {
    corpus
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no sample {name}"))
}

/// Distinct IDs at each level, in order of first appearance.
pub struct Expected {
    pub patients: Vec<String>,
    pub studies: Vec<String>,
    pub series: Vec<String>,
    pub instances: Vec<String>,
}

pub fn expected(corpus: &[Sample]) -> Expected {
    fn push(v: &mut Vec<String>, id: String) {
        if !v.contains(&id) {
            v.push(id);
        }
    }
    let mut e = Expected {
        patients: vec![],
        studies: vec![],
        series: vec![],
        instances: vec![],
    };
    for s in corpus {
        push(&mut e.patients, s.patient_id());
        push(&mut e.studies, s.study_id());
        push(&mut e.series, s.series_id());
        push(&mut e.instances, s.instance_id());
    }
    e
}

pub fn total_size(corpus: &[Sample]) -> u64 {
    corpus.iter().map(|s| s.bytes.len() as u64).sum()
}

pub fn set_of(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

pub fn to_set<I: IntoIterator<Item = String>>(i: I) -> BTreeSet<String> {
    i.into_iter().collect()
}

/// Groups samples by a key (e.g. the study ID).
pub fn group_by<F: Fn(&Sample) -> String>(
    corpus: &[Sample],
    f: F,
) -> BTreeMap<String, Vec<&Sample>> {
    let mut m: BTreeMap<String, Vec<&Sample>> = BTreeMap::new();
    for s in corpus {
        m.entry(f(s)).or_default().push(s);
    }
    m
}

/// A well-formed sample that is not part of [`corpus`], for ad-hoc tests.
pub fn extra_instance(
    pid: &'static str,
    study: &'static str,
    series: &'static str,
    instance: &'static str,
) -> Sample {
    let mut s = Spec::new("extra", pid, study);
    s.series = series;
    s.instance = instance;
    s.image16(8, 7)
}

/// The `i`-th instance of a burst: 4 patients, 1 study each, 2 series each.
pub fn burst_instance(i: usize) -> Sample {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut s = Spec::new(
        "burst",
        leak(format!("BURST{}", i % 4)),
        leak(format!("90.{}", i % 4)),
    );
    s.series = leak(format!("{}", i % 2 + 1));
    s.instance = leak(format!("{}", i + 1));
    s.image16(8, i as u16)
}

/// An extra instance with a large, compressible pixel area.
pub fn big_compressible(pid: &'static str) -> Sample {
    let mut s = Spec::new("big", pid, "77.1");
    s.instance = "1";
    let data = vec![0u8; 128 * 128 * 2];
    let bytes = s
        .builder()
        .pixel_data_native(128, 128, 16, 1, 1, data)
        .build();
    s.finish(bytes, 1, true)
}

/// Stats JSON numbers come as strings ("123") for sizes.
pub fn size_field(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        Value::Number(n) => n.as_u64().unwrap(),
        other => panic!("bad size field {other}"),
    }
}

// ---------------------------------------------------------------------------
// Clusters: several processes on one PostgreSQL database and one storage folder
// (`tests/cluster.rs`, `tests/postgres_outage.rs`).
// ---------------------------------------------------------------------------

/// The administration URL of the test PostgreSQL server (`STOWAGE_TEST_POSTGRES_URL`).
pub fn postgres_admin_url() -> String {
    std::env::var("STOWAGE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".to_owned())
}

impl TestDatabase {
    /// A fresh throw-away database, whatever `STOWAGE_TEST_INDEX` says; dropped on drop.
    pub fn create() -> TestDatabase {
        let admin_url = postgres_admin_url();
        let name = format!(
            "stowage_cluster_{}_{}",
            std::process::id(),
            uuid_like_suffix()
        );
        let out = psql(&admin_url, &format!("CREATE DATABASE {name}"));
        assert!(
            out.status.success(),
            "CREATE DATABASE failed (is PostgreSQL running on {admin_url}?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = database_url(&admin_url, &name);
        TestDatabase {
            admin_url,
            name,
            url,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of this database on another host and port (e.g. a proxy in front of it).
    pub fn url_via(&self, host: &str, port: u16) -> String {
        let scheme_end = self.url.find("://").map(|i| i + 3).unwrap_or(0);
        let rest = &self.url[scheme_end..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let user = authority.rfind('@').map(|i| &authority[..=i]).unwrap_or("");
        format!(
            "{}{user}{host}:{port}{}",
            &self.url[..scheme_end],
            &rest[authority_end..]
        )
    }

    /// Runs SQL on this database with `psql -At` and returns its standard output.
    pub fn query(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args([
                self.url.as_str(),
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-At",
                "-c",
                sql,
            ])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

fn database_url(admin_url: &str, name: &str) -> String {
    let scheme_end = admin_url.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = admin_url[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(admin_url.len());
    format!("{}/{name}", &admin_url[..path_start])
}

/// Orthanc's `"PostgreSQL"` section for a process sharing the index at `url`.
pub fn shared_postgres_section(url: &str) -> Value {
    json!({
        "EnableIndex": true,
        "ConnectionUri": url,
        "Lock": false,
        "IndexConnectionsCount": 4,
    })
}

impl Server {
    /// Starts a server on the PostgreSQL index described by `postgres` (a `"PostgreSQL"`
    /// section, see [`shared_postgres_section`]) and on the storage folder `storage_dir`,
    /// which several servers may share. The database and the folder belong to the caller.
    pub fn start_shared(extra: Value, storage_dir: &Path, postgres: Value) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let index_dir = tmp.path().join("index");
        std::fs::create_dir_all(storage_dir).unwrap();
        std::fs::create_dir_all(&index_dir).unwrap();
        let port = free_port();
        let mut config = json!({
            "Name": "StowageTest",
            "HttpPort": port,
            "DicomServerEnabled": false,
            "StorageDirectory": storage_dir,
            "IndexDirectory": index_dir,
            "StableAge": 1,
            "RemoteAccessAllowed": true,
            "AuthenticationEnabled": false,
            "OverwriteInstances": false,
            "StorageCompression": false,
        });
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                config[k] = v;
            }
        }
        config["PostgreSQL"] = postgres;
        let config_path = tmp.path().join("config.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let log_path = tmp.path().join("server.log");
        let mut s = Server {
            child: None,
            port,
            base: format!("http://127.0.0.1:{port}"),
            storage_dir: storage_dir.to_owned(),
            index_dir,
            config_path,
            log_path,
            auth: None,
            postgres: None,
            s3: None,
            _tmp: tmp,
        };
        s.spawn();
        assert_eq!(
            s.get_json("/system")["StowageIndexBackend"],
            json!("PostgreSQL"),
            "the server runs on the shared PostgreSQL index"
        );
        s
    }

    /// Whether the process has exited (it is reaped then).
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(Some(_))),
            None => true,
        }
    }
}

/// A corpus for clusters: `patients` patients, 2 or 3 studies each, 2 series per study,
/// 2 or 3 instances per series, 8x8 images. `run` keeps the UIDs of two corpora apart.
/// Ordered patient by patient, study by study, series by series.
pub fn cluster_corpus(run: u32, patients: usize) -> Vec<Sample> {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut out = Vec::new();
    for p in 0..patients {
        for st in 0..2 + p % 2 {
            for se in 0..2usize {
                for i in 0..2 + (p + st + se) % 2 {
                    let mut s = Spec::new(
                        "cluster",
                        leak(format!("CLUSTER{run}-{p}")),
                        leak(format!("{run}.{p}.{st}")),
                    );
                    s.patient_name = leak(format!("Cluster^P{p}"));
                    s.series = leak(format!("{}", se + 1));
                    s.series_number = s.series;
                    s.instance = leak(format!("{}", i + 1));
                    let seed = (p * 1000 + st * 100 + se * 10 + i) as u16;
                    out.push(s.image16(8, seed));
                }
            }
        }
    }
    out
}

/// The `i`-th instance of a generated study (patient `pid`, study `90.<study>`, one series)
/// with a `side`x`side` 16-bit image (archives, jobs).
pub fn sized_instance(pid: &'static str, study: &'static str, i: usize, side: u16) -> Sample {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut s = Spec::new("sized", pid, study);
    s.instance = leak(format!("{}", i + 1));
    s.image16(side, i as u16)
}

// ---------------------------------------------------------------------------
// S3 mode: `STOWAGE_TEST_STORAGE=s3` runs every server of the suite on S3 object storage, on
// the server named by the `STOWAGE_TEST_S3_*` variables (`eval "$(scripts/garage.sh)"`, as
// scripts/test-all.sh does), each server under a fresh root path.
// ---------------------------------------------------------------------------

pub struct TestS3 {
    config: stowage_storage_s3::S3Config,
    area: stowage_storage_s3::S3Storage,
}

impl TestS3 {
    fn from_env_if_requested() -> Option<TestS3> {
        if !std::env::var("STOWAGE_TEST_STORAGE")
            .ok()?
            .eq_ignore_ascii_case("s3")
        {
            return None;
        }
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("S3 mode needs {name}: run `eval \"$(scripts/garage.sh)\"` first")
            })
        };
        let mut config = stowage_storage_s3::S3Config::new(
            var("STOWAGE_TEST_S3_BUCKET"),
            var("STOWAGE_TEST_S3_REGION"),
        );
        config.access_key = var("STOWAGE_TEST_S3_ACCESS_KEY");
        config.secret_key = var("STOWAGE_TEST_S3_SECRET_KEY");
        config.endpoint = Some(var("STOWAGE_TEST_S3_ENDPOINT"));
        config.virtual_addressing = false;
        config.root_path = Some(format!("rest-tests/{}", uuid_like_suffix()));
        let area = stowage_storage_s3::S3Storage::open(&config).expect("open the test S3 area");
        Some(TestS3 { config, area })
    }

    fn section(&self) -> Value {
        let c = &self.config;
        json!({
            "BucketName": c.bucket_name,
            "Region": c.region,
            "AccessKey": c.access_key,
            "SecretKey": c.secret_key,
            "Endpoint": c.endpoint,
            "VirtualAddressing": false,
            "RootPath": c.root_path,
        })
    }

    fn list(&self) -> Vec<String> {
        use stowage_core::StorageArea;
        self.area.list_uuids().expect("list S3").unwrap_or_default()
    }

    fn read(&self, file: &Path) -> Vec<u8> {
        use stowage_core::StorageArea;
        let uuid = file.to_string_lossy();
        self.area
            .read(&uuid, stowage_core::FileContentType::DICOM)
            .expect("read S3 object")
    }

    fn write(&self, file: &Path, bytes: &[u8]) {
        use stowage_core::StorageArea;
        let uuid = file.to_string_lossy();
        self.area
            .create(&uuid, stowage_core::FileContentType::DICOM, bytes)
            .expect("write S3 object")
    }
}

impl Drop for TestS3 {
    fn drop(&mut self) {
        use stowage_core::StorageArea;
        for uuid in self.list() {
            let _ = self
                .area
                .remove(&uuid, stowage_core::FileContentType::DICOM);
        }
    }
}
