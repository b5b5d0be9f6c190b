//! Opening the backends, the start-up sweep, the background tasks and the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use stowage_core::{ChangeType, NewChange};
use stowage_core::{IndexBackend, StorageArea};
use stowage_index_postgres::PostgresIndex;
use stowage_index_sqlite::{Durability, SqliteIndex};
use stowage_storage_fs::FilesystemStorage;
use stowage_storage_s3::{S3Config, S3Storage};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::context::ServerContext;
use crate::group_commit::GroupCommitter;
use crate::stable::StableTracker;

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

/// Opens the index and the storage area. Blocking: call it outside the async runtime (the
/// PostgreSQL backend drives its own).
pub fn open_context(config: Config) -> Result<Arc<ServerContext>, StartError> {
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
    let jobs = crate::jobs::JobsEngine::new(&config);
    Ok(Arc::new_cyclic(|weak| ServerContext {
        config,
        index,
        storage,
        storage_name,
        stable,
        committer: GroupCommitter::start(weak.clone()),
        jobs,
    }))
}

/// Removes files that no index row references (left by a crash between the file write and
/// the index commit). Files younger than a minute are kept: they may belong to a store in
/// progress in another process sharing the storage.
pub fn sweep_orphans(ctx: &ServerContext) -> Result<usize, crate::error::ApiError> {
    let Some(uuids) = ctx.storage.list_uuids()? else {
        return Ok(0);
    };
    let referenced = ctx.read_blocking(|tx| {
        let mut set = std::collections::HashSet::new();
        for public in tx.get_all_public_ids(stowage_core::ResourceType::Instance, 0, None)? {
            if let Some(stowage_core::ResourceRef { id, .. }) = tx.lookup_resource(&public)? {
                for ct in tx.list_available_attachments(id)? {
                    if let Some(a) = tx.lookup_attachment(id, ct)? {
                        set.insert(a.file.uuid);
                    }
                }
            }
        }
        Ok(set)
    })?;
    let mut removed = 0;
    for uuid in uuids {
        if referenced.contains(&uuid) {
            continue;
        }
        let young = ctx
            .storage
            .modified(&uuid)
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age < Duration::from_secs(60));
        if young {
            continue;
        }
        if ctx
            .storage
            .remove(&uuid, stowage_core::FileContentType::DICOM)
            .is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Logs `Stable*` changes for resources whose countdown expired.
async fn stability_loop(ctx: Arc<ServerContext>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let expired = ctx.stable.take_expired();
        if expired.is_empty() {
            continue;
        }
        let c = ctx.clone();
        let result = ctx
            .write(move |tx| {
                let date = crate::clock::now_iso();
                for (level, id) in &expired {
                    if tx.lookup_resource(id)?.is_none() {
                        continue;
                    }
                    let change_type = match level {
                        stowage_core::ResourceType::Patient => ChangeType::StablePatient,
                        stowage_core::ResourceType::Study => ChangeType::StableStudy,
                        _ => ChangeType::StableSeries,
                    };
                    tx.log_change(&NewChange {
                        change_type,
                        resource_type: *level,
                        public_id: id.clone(),
                        date: date.clone(),
                    })?;
                }
                let _ = &c;
                Ok(())
            })
            .await;
        if let Err(e) = result {
            tracing::warn!("cannot log stable resources: {e:?}");
        }
    }
}

pub async fn run(ctx: Arc<ServerContext>) -> Result<(), StartError> {
    let port = ctx.config.http_port;
    // Like Orthanc, listen on every interface; `RemoteAccessAllowed` is enforced per request.
    let bind = SocketAddr::from(([0, 0, 0, 0], port));
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|source| StartError::Listen { port, source })?;
    {
        let c = ctx.clone();
        match ctx.blocking(move || sweep_orphans(&c)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("removed {n} orphan files from the storage area"),
            Err(e) => tracing::warn!("orphan sweep failed: {e:?}"),
        }
    }
    tokio::spawn(stability_loop(ctx.clone()));
    {
        let c = ctx.clone();
        let _ = tokio::task::spawn_blocking(move || c.jobs.start(&c)).await;
    }
    let app = crate::rest::router(ctx.clone());
    tracing::info!("HTTP server listening on port {port}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(StartError::Serve)?;
    {
        let c = ctx.clone();
        let _ = tokio::task::spawn_blocking(move || c.jobs.stop()).await;
    }
    ctx.committer.close();
    tracing::info!("Stowage has stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM. In-flight requests then run to completion: a store either
/// commits or rolls back, never half-written.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in progress");
}
