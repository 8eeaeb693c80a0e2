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

/// Ready: a bundle is loaded, so recognition can answer; 503 while
/// draining after SIGTERM, so the load balancer sends no new requests.
#[get("/ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(ApiError::NotReady);
    }
    let catalog = state.ready_catalog()?;
    let cache = state.store.ping().await;
    let museums: Vec<_> = catalog
        .iter()
        .map(|(id, b)| json!({ "id": id, "bundle_version": b.version(), "exhibits": b.manifest.counts.exhibits }))
        .collect();
    Ok(ok(json!({
        "ready": true,
        "museums": museums,
        "exhibits": catalog.iter().map(|(_, b)| b.manifest.counts.exhibits).sum::<usize>(),
        "model": state.model.id,
        "cache": if cache { "up" } else { "down" },
    })))
}
