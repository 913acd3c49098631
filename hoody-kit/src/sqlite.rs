//! The sqlite service (reference §3).

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;

use crate::Context;

/// The sqlite service's routes.
pub fn router(ctx: Arc<Context>) -> Router {
    Router::new().route(
        "/api/v1/sqlite/health",
        get(move |h: HeaderMap| async move { axum::Json(crate::health::body(&ctx, "sqlite", &h)) }),
    )
}
