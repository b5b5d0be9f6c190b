use crate::context::ServerContext;
use axum::Router;
use std::sync::Arc;
pub fn routes() -> Router<Arc<ServerContext>> {
    Router::new()
}
