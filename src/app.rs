//! The application: the services' context (configuration, index, storage area), the ingest
//! service with its index writer, and the jobs engine. Every front (REST today) is given it.

use std::sync::Arc;
use std::time::Duration;

use stowage_core::{IndexBackend, StorageArea};
use stowage_index_postgres::PostgresIndex;
use stowage_index_sqlite::{Durability, SqliteIndex};
use stowage_storage_fs::FilesystemStorage;
use stowage_storage_s3::{S3Config, S3Storage};

use crate::config::Config;
use crate::services::context::Context;
use crate::services::ingest::Ingest;
use crate::services::jobs::JobsEngine;
use crate::services::stable::StableTracker;

pub struct App {
    pub ctx: Arc<Context>,
    pub ingest: Ingest,
    pub jobs: Arc<JobsEngine>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the index: {0}")]
    Index(#[from] stowage_core::IndexError),
    #[error("cannot open the storage area: {0}")]
    Storage(#[from] stowage_core::StorageError),
    #[error("cannot listen on port {port}: {source}")]
    Listen {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// Name of the SQLite index file inside `IndexDirectory`.
const INDEX_FILE: &str = "index.sqlite";

/// Opens the index and the storage area, and starts the index writer. Blocking: call it
/// outside the async runtime (the PostgreSQL backend drives its own).
pub fn open(config: Config) -> Result<Arc<App>, StartError> {
    // Orthanc's S3 plugin section selects object storage; otherwise the storage folder.
    let s3 = S3Config::from_orthanc_json(&serde_json::Value::Object(config.raw.clone()))?;
    let (storage, storage_name): (Arc<dyn StorageArea>, &'static str) = match s3 {
        Some(s3) => (Arc::new(S3Storage::open(&s3)?), "S3"),
        None => (
            Arc::new(FilesystemStorage::open(
                &config.storage_directory,
                config.sync_storage_area,
            )?),
            "Filesystem",
        ),
    };
    tracing::info!("storage area: {storage_name}");
    // As Orthanc, the index commits with `synchronous=NORMAL` (each stored file is flushed to
    // disk before its index rows commit, per `SyncStorageArea`); Stowage's own option
    // `"SqliteSynchronous": "FULL"` flushes every commit too.
    let durability = match config.raw.get("SqliteSynchronous").and_then(|v| v.as_str()) {
        Some(v) if v.eq_ignore_ascii_case("FULL") => Durability::Full,
        _ => Durability::Normal,
    };
    let index: Arc<dyn IndexBackend> = match &config.postgres_index {
        Some(pg) => Arc::new(PostgresIndex::open(pg)?),
        None => Arc::new(SqliteIndex::open(
            config.index_directory.join(INDEX_FILE),
            durability,
        )?),
    };
    tracing::info!("index: {}", index.info().name);
    let stable = StableTracker::new(Duration::from_secs(config.stable_age));
    let jobs = JobsEngine::new(&config);
    let ctx = Arc::new(Context {
        config,
        index,
        storage,
        storage_name,
        stable,
    });
    Ok(Arc::new(App {
        ingest: Ingest::start(ctx.clone()),
        ctx,
        jobs,
    }))
}
