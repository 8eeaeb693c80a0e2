//! HTTP routes, one module per resource.

use actix_web::web;

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
