//! Running the application: the start-up sweep, the background tasks, the HTTP front, and a
//! clean stop on SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::app::{App, StartError};
use crate::services::context::blocking;
use crate::services::maintenance::{log_stable_resources, sweep_orphans, MaintenanceError};

/// Logs `Stable*` changes for resources whose countdown expired.
async fn stability_loop(app: Arc<App>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        if let Err(e) = log_stable_resources(&app.ctx).await {
            tracing::warn!("cannot log stable resources: {e}");
        }
    }
}

pub async fn run(app: Arc<App>) -> Result<(), StartError> {
    let port = app.ctx.config.http_port;
    // Like Orthanc, listen on every interface; `RemoteAccessAllowed` is enforced per request.
    let bind = SocketAddr::from(([0, 0, 0, 0], port));
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|source| StartError::Listen { port, source })?;
    {
        let c = app.ctx.clone();
        match blocking(move || sweep_orphans(&c)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("removed {n} orphan files from the storage area"),
            Err::<_, MaintenanceError>(e) => tracing::warn!("orphan sweep failed: {e}"),
        }
    }
    tokio::spawn(stability_loop(app.clone()));
    {
        let a = app.clone();
        let _ = tokio::task::spawn_blocking(move || a.jobs.start(&a.ctx)).await;
    }
    let router = crate::rest::router(app.clone());
    tracing::info!("HTTP server listening on port {port}");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(StartError::Serve)?;
    {
        let a = app.clone();
        let _ = tokio::task::spawn_blocking(move || a.jobs.stop()).await;
    }
    app.ingest.close();
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
