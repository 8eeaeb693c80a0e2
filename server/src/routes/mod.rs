//! HTTP routes, one module per resource.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use tracing_actix_web::RequestId;

use crate::error::ApiError;

pub mod auth;
pub mod exhibits;
pub mod health;
pub mod me;
pub mod museums;
pub mod ops;
pub mod recognize;
pub mod session;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Malformed query strings and JSON bodies get the API's own error, not actix's plain text.
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| ApiError::InvalidParameter { name: "query", reason: e.to_string() }.into()),
    )
    .app_data(
        web::JsonConfig::default()
            .limit(64 * 1024)
            .error_handler(|e, _| ApiError::InvalidParameter { name: "body", reason: e.to_string() }.into()),
    )
    .service(health::health)
    .service(health::ready)
    .service(recognize::recognize)
    .service(exhibits::get_exhibit)
    .service(museums::list_museums)
    .service(museums::list_exhibits)
    .service(session::login)
    .service(session::logout)
    .service(me::list)
    .service(me::add)
    .service(me::remove)
    .service(ops::metrics)
    .service(ops::openapi)
    .configure(crate::admin::routes::configure)
    .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::RouteNotFound) }));
}

/// Adds `x-request-id` to every response and `request_id` to JSON error
/// bodies, so a visitor's bug report can be matched with the server's logs.
pub async fn attach_request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let mut res = next.call(req).await?.map_into_boxed_body();
    let Some(id) = request_id else { return Ok(res) };
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HeaderName::from_static("x-request-id"), value);
    }
    let is_json = res.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !res.status().is_client_error() && !res.status().is_server_error() || !is_json {
        return Ok(res);
    }
    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
    let patched = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert("request_id".into(), serde_json::Value::String(id));
            serde_json::to_vec(&map).unwrap_or_else(|_| bytes.to_vec())
        }
        _ => bytes.to_vec(),
    };
    Ok(ServiceResponse::new(req, head.set_body(BoxBody::new(patched))))
}
