//! The HTTP front: routes, access control, Orthanc error bodies, answer compression.
//! Handlers parse the request, call one service (`crate::services`) and render its answer;
//! nothing here opens an index transaction, touches the storage area or knows SQL.

mod answer;
mod archives;
mod attachments;
mod changes;
pub mod error;
mod etag;
mod find;
mod instances;
mod jobs;
mod json;
mod labels;
mod metadata;
mod middleware;
mod query;
mod resources;
mod slices;
mod system;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;

use crate::app::App;
use error::{ApiError, ErrorCode};

pub use system::ORTHANC_API_VERSION;

pub fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .merge(system::routes())
        .merge(instances::routes())
        .merge(resources::routes())
        .merge(metadata::routes())
        .merge(attachments::routes())
        .merge(find::routes())
        .merge(changes::routes())
        .merge(labels::routes())
        .merge(jobs::routes())
        .merge(archives::routes())
        .merge(slices::routes())
        .fallback(|| async { ApiError::new(ErrorCode::UnknownResource) })
        .layer(body_limit(app.ctx.config.maximum_upload_size))
        .with_state(app.clone());
    // The middlewares wrap the whole API as one service, so that they also see the answers
    // axum makes itself (405 with `Allow`).
    Router::new()
        .fallback_service(api)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            middleware::compress_answer,
        ))
        .layer(axum::middleware::from_fn(middleware::render_errors))
        .layer(axum::middleware::from_fn_with_state(
            app,
            middleware::access_control,
        ))
}

/// Request bodies are unlimited unless `MaximumUploadSize` (MB, Stowage's option) is set; axum
/// then stops reading a larger body and answers 413, rendered as Orthanc's error JSON.
fn body_limit(maximum: u64) -> DefaultBodyLimit {
    match usize::try_from(maximum) {
        Ok(0) | Err(_) => DefaultBodyLimit::disable(),
        Ok(bytes) => DefaultBodyLimit::max(bytes),
    }
}
