//! Clusters: several processes on one PostgreSQL database and one storage folder
//! (`tests/cluster.rs`, `tests/postgres_outage.rs`; their corpus is
//! [`cluster_corpus`](super::corpus::cluster_corpus)).

use std::path::Path;

use serde_json::{json, Value};

use super::server::{free_port, Server};

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
