//! HTTP routes, one module per resource.

use actix_web::web;

use crate::error::ApiError;

pub mod auth;
pub mod exhibits;
pub mod health;
pub mod me;
pub mod media;
pub mod museums;
pub mod ops;
pub mod page;
pub mod recognize;
pub mod session;

/// A JSON body that must be an object, read into `T`: serde alone would also
/// read a struct from an array (`["x"]` for `{"code": "x"}`), which no
/// documented body is. Taken as `Result<JsonObject<T>, _>` so the caller is
/// checked before the body.
#[derive(Debug)]
pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonObject<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let json = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = json.await?.into_inner();
            object(value).map(JsonObject).map_err(actix_web::error::ErrorBadRequest)
        })
    }
}

/// `value` read into `T` if it is a JSON object (see [`JsonObject`]).
pub fn object<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    if !value.is_object() {
        return Err("expected a JSON object".into());
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// For an optional field of a JSON body (`#[serde(default, deserialize_with =
/// "crate::routes::present")]`): absent is `None`, but an explicit `null` is
/// refused like any other value of the wrong type.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Whether the client's `If-None-Match` names `etag` (a quoted strong tag):
/// the weak comparison RFC 9110 prescribes for it, so `W/"x"` matches too.
pub fn not_modified(req: &actix_web::HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(actix_web::http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag))
}

/// Where and how large uploads may be (from the settings).
#[derive(Debug, Clone)]
pub struct Uploads {
    /// A visitor's photo form, whole.
    pub recognize: usize,
    pub admin: crate::admin::routes::UploadLimits,
    /// Where file parts are streamed while a form is read: under
    /// `admin.data_dir`, so keeping one is a rename (else the system's
    /// temporary folder, and keeping one is a copy).
    pub temp_dir: std::path::PathBuf,
}

impl Uploads {
    /// The limits the settings give, with the temporary folder created.
    pub fn new(settings: &crate::configuration::Settings) -> Self {
        let mut temp_dir = settings.admin.data_dir.join("tmp");
        if let Err(e) = std::fs::create_dir_all(&temp_dir) {
            tracing::warn!(dir = %temp_dir.display(), error = %e, "uploads are staged in the system's temporary folder");
            temp_dir = std::env::temp_dir();
        }
        Self {
            recognize: settings.server.max_upload_bytes,
            admin: crate::admin::routes::UploadLimits {
                import: settings.admin.max_import_bytes,
                change: settings.server.max_upload_bytes * 8,
            },
            temp_dir,
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig, uploads: &Uploads) {
    // Malformed query strings and JSON bodies get the API's own error, not actix's plain text.
    cfg.app_data(recognize::form_config(uploads.recognize))
        .app_data(actix_multipart::form::tempfile::TempFileConfig::default().directory(&uploads.temp_dir))
        .app_data(
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
        .service(media::media)
        .service(session::login)
        .service(session::logout)
        .service(me::list)
        .service(me::add)
        .service(me::remove)
        .service(ops::metrics)
        .service(ops::openapi)
        .service(page::index)
        .service(page::asset)
        .service(page::console)
        .service(page::console_asset)
        .configure(|cfg| crate::admin::routes::configure(cfg, uploads.admin))
        // A documented route called with another method: 405 with `Allow`; anything else: 404.
        .default_service(web::to(ops::unrouted));
}
