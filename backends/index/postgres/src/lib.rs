//! The PostgreSQL index backend: several Stowage processes share one index, all writing at once.
//!
//! The [`IndexBackend`] traits are synchronous (the server calls them from blocking threads);
//! the backend owns a small tokio runtime driving `tokio-postgres` connections from a
//! `deadpool-postgres` pool and bridges each statement with `block_on`.
//!
//! Concurrency design:
//! - write transactions run at READ COMMITTED. Get-or-create of the hierarchy uses
//!   `INSERT ... ON CONFLICT DO NOTHING` followed by a re-select (in one server-side function,
//!   `StowageCreateInstance`, so `create_instance` is a single round trip); deletions lock the
//!   subtree and each ancestor `FOR UPDATE` before deciding what to remove, which waits for any
//!   writer adding a child (its foreign-key check holds a `KEY SHARE` lock on the parent).
//! - read-only transactions run at REPEATABLE READ, READ ONLY: a stable snapshot that never
//!   waits for writers.
//! - SQLSTATEs are mapped to [`IndexError`] in one place ([`pg_error`]): serialization failures,
//!   deadlocks, unique and foreign-key violations (a row created or deleted concurrently) are
//!   [`IndexError::Conflict`], which the server answers by replaying the transaction.
//! - the change log is one ordered log for the cluster: changes are inserted unpublished and
//!   numbered at commit under the single row lock of `ChangesCounter`, held until COMMIT, so
//!   that a visible seq implies every smaller one is visible (`schema/postgres/002_*.sql`).
//! - the schema (`schema/postgres/NNN_*.sql`) is migrated at open under an advisory lock, so
//!   that when several processes start on an empty or old database exactly one migrates.
//! - `lock: true` holds a session-level advisory lock for the life of the backend, so that a
//!   second process fails to open the same index.

mod find;
mod schema;
mod transaction;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use stowage_core::{BackendInfo, IndexBackend, IndexError, IndexTransaction, TxMode};
use tokio::runtime::Runtime;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

pub use schema::SCHEMA_VERSION;
use transaction::PgTransaction;

/// First key of every advisory lock Stowage takes ("STOW"); the second one says which.
pub(crate) const LOCK_CLASS: i32 = 0x5354_4f57;
/// Held for the life of a backend opened with `lock: true`.
pub(crate) const LOCK_EXCLUSIVE: i32 = 1;
/// Held while checking and upgrading the schema.
pub(crate) const LOCK_MIGRATION: i32 = 2;
/// Held by a write transaction from its recycling checks to its end.
pub(crate) const LOCK_RECYCLING: i32 = 3;

/// How to reach the PostgreSQL index (Orthanc's `"PostgreSQL"` configuration section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub username: String,
    pub password: String,
    /// A libpq-style URI or key/value string (`postgresql://user:pass@host:port/db`); when set,
    /// it replaces host, port, database, username and password (Orthanc's `ConnectionUri`).
    pub connection_uri: Option<String>,
    /// Size of the connection pool (Orthanc's `IndexConnectionsCount`).
    pub connections: usize,
    /// Take an exclusive advisory lock so that no other process opens this index (Orthanc's
    /// `Lock`, true by default). Set false to let several Stowage processes share it.
    pub lock: bool,
    /// How many times opening retries to connect before giving up (`MaximumConnectionRetries`).
    pub max_connection_retries: u32,
    /// Seconds between two attempts to connect (`ConnectionRetryInterval`).
    pub connection_retry_interval_secs: u64,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            host: "localhost".to_owned(),
            port: 5432,
            database: "orthanc".to_owned(),
            username: "orthanc".to_owned(),
            password: String::new(),
            connection_uri: None,
            connections: 50,
            lock: true,
            max_connection_retries: 10,
            connection_retry_interval_secs: 5,
        }
    }
}

impl PostgresConfig {
    fn pg_config(&self) -> Result<tokio_postgres::Config, IndexError> {
        let mut config = match &self.connection_uri {
            Some(uri) => tokio_postgres::Config::from_str(uri).map_err(|e| {
                IndexError::Backend(format!("invalid PostgreSQL ConnectionUri: {e}"))
            })?,
            None => {
                let mut c = tokio_postgres::Config::new();
                c.host(&self.host)
                    .port(self.port)
                    .dbname(&self.database)
                    .user(&self.username);
                if !self.password.is_empty() {
                    c.password(&self.password);
                }
                c
            }
        };
        if config.get_application_name().is_none() {
            config.application_name("Stowage");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        Ok(config)
    }
}

/// The text of a PostgreSQL error for [`IndexError`]: the server's message with its SQLSTATE
/// (and detail and hint when given), or for a client-side failure the driver's message with its
/// causes (the driver's own `Display` says only "db error", or "error communicating with the
/// server" without saying what happened).
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            text.push_str("; ");
            text.push_str(detail);
        }
        if let Some(hint) = db.hint() {
            text.push_str("; hint: ");
            text.push_str(hint);
        }
        return text;
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Maps a PostgreSQL error to the index's error kinds. The only place SQLSTATEs are looked at.
pub(crate) fn pg_error(e: tokio_postgres::Error) -> IndexError {
    let text = describe(&e);
    if let Some(code) = e.code() {
        let conflict = [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::UNIQUE_VIOLATION,
            SqlState::FOREIGN_KEY_VIOLATION,
        ];
        if conflict.contains(code) {
            return IndexError::Conflict(text);
        }
        let unavailable = [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
        ];
        if unavailable.contains(code) || code.code().starts_with("08") {
            return IndexError::Unavailable(text);
        }
        return IndexError::Backend(text);
    }
    // No SQLSTATE: the connection broke (closed, I/O error, timeout) or a value did not convert.
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    if e.is_closed() || io || text.contains("timeout") {
        IndexError::Unavailable(text)
    } else {
        IndexError::Backend(text)
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> IndexError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_error(e),
        other => IndexError::Unavailable(format!("PostgreSQL connection pool: {other}")),
    }
}

/// The PostgreSQL index. Dropping it closes its connections (and releases the `lock`).
pub struct PostgresIndex {
    pool: Pool,
    /// The connection holding the exclusive advisory lock (`lock: true`).
    lock_client: Option<tokio_postgres::Client>,
    /// Dropped last, in `Drop`, without blocking.
    runtime: Option<Arc<Runtime>>,
}

impl PostgresIndex {
    /// Connects (retrying as configured), takes the exclusive lock if asked to, and brings the
    /// schema up to date.
    pub fn open(config: &PostgresConfig) -> Result<Self, IndexError> {
        let pg_config = config.pg_config()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("stowage-postgres")
            .enable_all()
            .build()
            .map_err(|e| {
                IndexError::Backend(format!("cannot start the PostgreSQL runtime: {e}"))
            })?;
        let runtime = Arc::new(runtime);
        let manager = Manager::from_config(
            pg_config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.connections.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| IndexError::Backend(format!("cannot build the connection pool: {e}")))?;
        let mut index = PostgresIndex {
            pool,
            lock_client: None,
            runtime: Some(runtime),
        };

        // Wait for the server to accept connections.
        let retries = config.max_connection_retries;
        let mut attempt = 0;
        let mut client = loop {
            match index.block_on(index.pool.get()) {
                Ok(c) => break c,
                Err(e) => {
                    let e = pool_error(e);
                    if attempt >= retries || !matches!(e, IndexError::Unavailable(_)) {
                        return Err(e);
                    }
                    attempt += 1;
                    tracing::warn!(
                        "cannot connect to PostgreSQL ({e}), retry {attempt}/{retries} in {}s",
                        config.connection_retry_interval_secs
                    );
                    std::thread::sleep(Duration::from_secs(config.connection_retry_interval_secs));
                }
            }
        };

        if config.lock {
            let lock_client = index.block_on(async {
                let (client, connection) = pg_config.connect(NoTls).await?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::error!("PostgreSQL index lock connection lost: {e}");
                    }
                });
                Ok::<_, tokio_postgres::Error>(client)
            });
            let lock_client = lock_client.map_err(pg_error)?;
            let locked: bool = index
                .block_on(lock_client.query_one(
                    "SELECT pg_try_advisory_lock($1, $2)",
                    &[&LOCK_CLASS, &LOCK_EXCLUSIVE],
                ))
                .map_err(pg_error)?
                .get(0);
            if !locked {
                return Err(IndexError::Backend(
                    "the PostgreSQL index is locked by another Stowage process; stop it, or set \
                     \"Lock\": false in the \"PostgreSQL\" section of every process sharing \
                     this database"
                        .to_owned(),
                ));
            }
            index.lock_client = Some(lock_client);
        }

        let runtime = index.runtime.clone().expect("runtime present until drop");
        runtime.block_on(schema::migrate(&mut client))?;
        drop(client);
        Ok(index)
    }

    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("runtime present until drop")
            .block_on(f)
    }

    pub(crate) fn runtime(&self) -> &Runtime {
        self.runtime.as_ref().expect("runtime present until drop")
    }
}

impl Drop for PostgresIndex {
    fn drop(&mut self) {
        self.pool.close();
        self.lock_client = None;
        if let Some(rt) = self.runtime.take() {
            if let Ok(rt) = Arc::try_unwrap(rt) {
                // Never blocks, so dropping is fine even from within another runtime.
                rt.shutdown_background();
            }
        }
    }
}

impl IndexBackend for PostgresIndex {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: "PostgreSQL",
            schema_version: SCHEMA_VERSION,
            supports_revisions: true,
            supports_labels: true,
        }
    }

    fn begin(&self, mode: TxMode) -> Result<Box<dyn IndexTransaction + '_>, IndexError> {
        let client = self.block_on(self.pool.get()).map_err(pool_error)?;
        let begin = match mode {
            TxMode::ReadWrite => "BEGIN ISOLATION LEVEL READ COMMITTED",
            TxMode::ReadOnly => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        Ok(Box::new(PgTransaction::new(
            self.runtime(),
            client,
            begin,
            mode == TxMode::ReadWrite,
        )))
    }
}
