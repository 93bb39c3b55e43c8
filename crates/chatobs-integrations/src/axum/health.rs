//! The `/health` and `/health/ready` routes (the checks are in [`crate::health`]).

use crate::health::{self, HealthConfig};
use axum::http::StatusCode;
use axum::Router;
use std::sync::Arc;

/// `/health` (liveness) and `/health/ready` (readiness), see [`crate::health`].
pub fn health_router<S: Clone + Send + Sync + 'static>(cfg: HealthConfig) -> Router<S> {
    let cfg = Arc::new(cfg);
    Router::new()
        .route(
            "/health",
            axum::routing::get(|| async { axum::Json(health::liveness_json()) }),
        )
        .route(
            "/health/ready",
            axum::routing::get(move || {
                let cfg = cfg.clone();
                async move {
                    let r = health::readiness(&cfg);
                    let code = StatusCode::from_u16(r.status_code())
                        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                    (code, axum::Json(r.to_json()))
                }
            }),
        )
}
