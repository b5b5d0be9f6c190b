//! The server process: a running `stowage` on a temporary folder (killed on drop), started on
//! the index backend and storage area the test mode asks for (SQLite or PostgreSQL, filesystem
//! or S3), and what the tests read of it besides HTTP: its log, its stored files, stability.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http::{agent, base64};
use super::postgres::TestDatabase;
use super::s3::TestS3;

/// A running `stowage` process on a temporary folder; killed on drop.
pub struct Server {
    pub(super) child: Option<Child>,
    pub port: u16,
    pub base: String,
    pub storage_dir: PathBuf,
    pub index_dir: PathBuf,
    pub(super) config_path: PathBuf,
    pub(super) log_path: PathBuf,
    pub(super) auth: Option<String>,
    /// The throw-away PostgreSQL database of this server, in PostgreSQL mode.
    pub(super) postgres: Option<TestDatabase>,
    /// The S3 area of this server, in S3 mode.
    pub(super) s3: Option<TestS3>,
    // Last so that the folder is removed after the process is gone.
    pub(super) _tmp: tempfile::TempDir,
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

    pub(super) fn spawn(&mut self) {
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

    /// Starts the process again on the same folders and port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill first");
        self.spawn();
    }

    /// Whether this server keeps its files in `storage_dir` (not on S3).
    pub fn on_filesystem(&self) -> bool {
        self.s3.is_none()
    }

    /// The stored files: paths under the storage folder (recursively, SQLite files excluded), or
    /// in S3 mode the object names (uuids) under the server's root path.
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

/// A suffix that keeps the throw-away resources of each server apart (databases, S3 roots).
pub(super) fn uuid_like_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}_{nanos}", COUNTER.fetch_add(1, Ordering::Relaxed))
}
