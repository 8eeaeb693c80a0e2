//! Operations: Prometheus metrics and the OpenAPI document.

use std::sync::LazyLock;

use actix_web::{HttpRequest, HttpResponse, get, web};

use crate::error::ApiError;
use crate::state::AppState;

/// The API description, kept true by the e2e test that calls every route in it
/// and by the contract check (`scripts/contract.sh`).
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// The document's paths as (segments, methods), `{param}` segments matching any one segment.
static ROUTES: LazyLock<Vec<(Vec<String>, Vec<String>)>> = LazyLock::new(|| {
    let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap_or_default();
    const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
    let Some(paths) = doc["paths"].as_object() else { return Vec::new() };
    paths
        .iter()
        .map(|(path, item)| {
            let segments = path.split('/').map(str::to_owned).collect();
            let methods = METHODS.iter().filter(|m| item.get(**m).is_some()).map(|m| m.to_ascii_uppercase()).collect();
            (segments, methods)
        })
        .collect()
});

/// The methods the document declares for the route `path` falls under, or
/// `None` when no documented route has that shape.
pub fn documented_methods(path: &str) -> Option<&'static [String]> {
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES
        .iter()
        .find(|(template, _)| {
            template.len() == segments.len()
                && template
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| if t.starts_with('{') && t.ends_with('}') { !s.is_empty() } else { t == s })
        })
        .map(|(_, methods)| methods.as_slice())
}

/// What no route answered: 405 (with `Allow`) for a documented route called
/// with a method it does not take, else 404.
pub async fn unrouted(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    match documented_methods(req.path()) {
        Some(methods) if !methods.iter().any(|m| m == req.method().as_str()) => {
            Err(ApiError::MethodNotAllowed { allow: methods.join(", ") })
        }
        _ => Err(ApiError::RouteNotFound),
    }
}

#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.metrics.queue_depth.set(state.queue_depth() as i64);
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}

#[get("/api/v1/openapi.json")]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(OPENAPI)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_routes_are_matched_by_shape() {
        assert_eq!(documented_methods("/api/v1/session").unwrap(), ["POST", "DELETE"]);
        assert_eq!(documented_methods("/api/v1/me/history/pd-001").unwrap(), ["DELETE"]);
        assert_eq!(documented_methods("/api/v1/admin/museums/m/exhibits/x").unwrap(), ["GET", "PUT", "DELETE"]);
        assert!(documented_methods("/api/v1/nothing").is_none());
        assert!(documented_methods("/api/v1/exhibits/").is_none(), "a parameter is never empty");
    }
}
