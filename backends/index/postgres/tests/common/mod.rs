//! Throw-away databases on a real PostgreSQL server for the tests.
//!
//! The server is `STOWAGE_TEST_POSTGRES_URL` (default
//! `postgresql://postgres@127.0.0.1:5432/postgres`, a maintenance database the user may
//! `CREATE DATABASE` from). Every test gets its own database, named after the process, a
//! counter and a random part, dropped (`WITH (FORCE)`) when its guard is dropped.

#![allow(dead_code)]

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stowage_core::conformance::Guarded;
use stowage_core::IndexError;
use stowage_index_postgres::{PostgresConfig, PostgresIndex};
use tokio_postgres::config::Host;
use tokio_postgres::NoTls;

pub const DEFAULT_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";

pub fn server_url() -> String {
    std::env::var("STOWAGE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

fn maintenance(sql: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&server_url(), NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot connect to {} ({e}); set STOWAGE_TEST_POSTGRES_URL",
                    server_url()
                )
            });
        let driver = tokio::spawn(connection);
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        drop(client);
        let _ = driver.await;
    });
}

/// A database that exists until this guard is dropped.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub fn create() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let random = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(nanos);
            h.finish() & 0xffff_ffff
        };
        let name = format!(
            "stowage_test_{}_{}_{random:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        maintenance(&format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
        ));
        TestDb { name }
    }

    /// A backend configuration pointing at this database.
    pub fn config(&self, lock: bool, connections: usize) -> PostgresConfig {
        let url = tokio_postgres::Config::from_str(&server_url()).expect("valid test URL");
        let host = match url.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_owned(),
        };
        PostgresConfig {
            host,
            port: url.get_ports().first().copied().unwrap_or(5432),
            database: self.name.clone(),
            username: url.get_user().unwrap_or("postgres").to_owned(),
            password: url
                .get_password()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default(),
            connection_uri: None,
            connections,
            lock,
            max_connection_retries: 0,
            connection_retry_interval_secs: 1,
        }
    }

    pub fn open(&self, lock: bool, connections: usize) -> Result<PostgresIndex, IndexError> {
        PostgresIndex::open(&self.config(lock, connections))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        maintenance(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// A fresh backend on a fresh database (the conformance suite's factory).
pub fn fresh_index() -> Guarded<PostgresIndex, TestDb> {
    let db = TestDb::create();
    let index = db.open(true, 8).expect("open a fresh PostgreSQL index");
    Guarded::new(index, db)
}

/// How many transactions were replayed after a `Conflict` (the tests print it).
pub static REPLAYS: AtomicUsize = AtomicUsize::new(0);

/// Replays a transaction on `Conflict`, with bounded backoff, as the server does.
pub fn with_retries<T>(mut run: impl FnMut() -> Result<T, IndexError>) -> T {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match run() {
            Ok(v) => return v,
            Err(IndexError::Conflict(e)) if attempt < 100 => {
                REPLAYS.fetch_add(1, Ordering::Relaxed);
                let backoff = Duration::from_millis(u64::from(attempt.min(20)) * 2);
                if attempt > 10 {
                    eprintln!("conflict #{attempt}: {e}");
                }
                std::thread::sleep(backoff);
            }
            Err(e) => panic!("transaction failed after {attempt} attempts: {e:?}"),
        }
    }
}

impl TestDb {
    /// Runs a query returning one `bigint` on this database, outside any backend.
    pub fn query_i64(&self, sql: &str) -> i64 {
        let mut config = tokio_postgres::Config::from_str(&server_url()).unwrap();
        config.dbname(&self.name);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, connection) = config.connect(NoTls).await.unwrap();
            let driver = tokio::spawn(connection);
            let v: i64 = client
                .query_one(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .get(0);
            drop(client);
            let _ = driver.await;
            v
        })
    }
}

impl TestDb {
    /// Runs SQL statements on this database, outside any backend.
    pub fn execute(&self, sql: &str) {
        let mut config = tokio_postgres::Config::from_str(&server_url()).unwrap();
        config.dbname(&self.name);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, connection) = config.connect(NoTls).await.unwrap();
            let driver = tokio::spawn(connection);
            client
                .batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            drop(client);
            let _ = driver.await;
        });
    }
}
