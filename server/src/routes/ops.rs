//! Operations: Prometheus metrics and the OpenAPI document.

use actix_web::{HttpResponse, get, web};

use crate::state::AppState;

/// The API description, kept true by the e2e test that calls every route in it.
pub const OPENAPI: &str = include_str!("../../openapi.json");

#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.metrics.queue_depth.set(state.queue_depth() as i64);
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}

#[get("/api/v1/openapi.json")]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(OPENAPI)
}
