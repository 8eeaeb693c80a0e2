//! Liveness and readiness.

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::error::{ApiError, ok};
use crate::state::AppState;

/// Live: the process answers.
#[get("/health")]
pub async fn health() -> HttpResponse {
    ok(json!({ "status": "ok" }))
}

/// Ready: a bundle is loaded, so recognition can answer.
#[get("/ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let bundle = state.bundle().ok_or(ApiError::NotReady)?;
    let cache = state.store.ping().await;
    Ok(ok(json!({
        "ready": true,
        "bundle_version": bundle.version(),
        "exhibits": bundle.manifest.counts.exhibits,
        "model": bundle.manifest.model.id,
        "cache": if cache { "up" } else { "down" },
    })))
}
